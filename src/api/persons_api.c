/*
 * persons_api.c — PostHog's persons REST API over the person store:
 *
 *   GET  /api/projects/:id/persons/                       list (filters, pages)
 *   GET  /api/projects/:id/persons/:uuid/                 one person
 *   POST /api/projects/:id/persons/:uuid/update_property/ {"key", "value"}   → 202
 *   POST /api/projects/:id/persons/:uuid/delete_property/ {"$unset": "key"}  → 201
 *
 * (and the same under /api/environments/:id/). Authentication is auth.c's:
 * a personal API key whose user belongs to the project's organization. A
 * person of another project is not found (404): every read is keyed by the
 * project in the path.
 *
 * Writes go through ingestion, as in PostHog (which captures a "$set" or
 * "$delete_person_property" event for them): the handler appends one event
 * record to the WAL for the person's first distinct id and answers once it
 * is durable. The ingest worker is then the only writer of persons, so the
 * identity batch, its crash protocol and the distinct-id cache need no
 * second path; the change shows up when the worker reaches the record
 * (normally well under a second).
 *
 * Answer shapes (PostHog's PersonSerializer): id (the uuid here; PostHog
 * shows the uuid in its newer API too), uuid, name (email, name or username
 * property, else the first distinct id), distinct_ids (oldest first),
 * properties, is_identified, created_at. Lists are {next, previous, count,
 * results}, newest person first, `limit` (default 100, at most 1000) and
 * `offset`; next/previous are absolute URLs built from the Host header.
 * Filters: distinct_id (exact), search (substring of the properties or of a
 * distinct id, ASCII case-insensitive), properties (a JSON array of
 * {"key","value","operator"} person filters: exact, is_not, icontains,
 * is_set, is_not_set). count is the number of results on this page (PostHog
 * omits a total too for large teams).
 *
 * Routes: /api/projects/<id>/persons... and the /api/environments/ twin
 * (one-segment wildcards in the router), so other APIs under the same
 * prefix never see these requests and vice versa.
 */
#include "api.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "http/http.h"
#include "persons/persons.h"
#include "wal/wal.h"

#define LIST_DEFAULT 100
#define BODY_MAX     (64u << 10)
#define ANSWER_MAX   ((size_t)64 << 20)
struct sn_persons_api {
	struct sn_meta *meta;
	struct sn_persons *persons;
	struct sn_wal *wal;
};

/* ---- paths ------------------------------------------------------------------------ */

enum what { W_NONE, W_LIST, W_ITEM, W_UPDATE, W_DELETE };

struct target {
	enum what what;
	int64_t team_id;
	char uuid[37];
};

static struct target parse_path(const char *path)
{
	struct target t = {0};
	const char *p = NULL;
	if (sn_str_has_prefix(path, "/api/projects/"))
		p = path + strlen("/api/projects/");
	else if (sn_str_has_prefix(path, "/api/environments/"))
		p = path + strlen("/api/environments/");
	if (!p)
		return t;
	char *end;
	long long id = strtoll(p, &end, 10);
	if (end == p || id <= 0 || !sn_str_has_prefix(end, "/persons"))
		return t;
	p = end + strlen("/persons");
	t.team_id = id;
	if (!*p || !strcmp(p, "/")) {
		t.what = W_LIST;
		return t;
	}
	if (*p++ != '/')
		return t;
	const char *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	if (n == 0 || n >= sizeof(t.uuid))
		return t;
	memcpy(t.uuid, p, n);
	t.uuid[n] = 0;
	const char *rest = slash ? slash : "";
	if (!*rest || !strcmp(rest, "/"))
		t.what = W_ITEM;
	else if (!strcmp(rest, "/update_property") || !strcmp(rest, "/update_property/"))
		t.what = W_UPDATE;
	else if (!strcmp(rest, "/delete_property") || !strcmp(rest, "/delete_property/"))
		t.what = W_DELETE;
	return t;
}

/* ---- answers -------------------------------------------------------------------------- */

static int add_did(void *ctx, const char *did)
{
	json_object_array_add(ctx, json_object_new_string(did));
	return 0;
}

static const char *person_name(const struct sn_person *p, struct json_object *dids)
{
	static const char *const keys[] = {"email", "name", "username"};
	for (size_t i = 0; i < SN_ARRAY_LEN(keys); i++) {
		const char *v = sn_json_str(sn_json_get(p->properties, keys[i]), NULL);
		if (v && *v)
			return v;
	}
	if (json_object_array_length(dids) > 0)
		return json_object_get_string(json_object_array_get_idx(dids, 0));
	return p->uuid;
}

/* The serialised person, or NULL when out of memory or the store failed. */
static struct json_object *person_json(struct sn_persons_api *api, const struct sn_person *p,
				       struct sn_err *err)
{
	struct json_object *o = json_object_new_object(), *dids = json_object_new_array();
	if (!o || !dids ||
	    sn_persons_distinct_ids(api->persons, p->team_id, p->uuid, add_did, dids, err)) {
		json_object_put(o);
		json_object_put(dids);
		return NULL;
	}
	char created[32];
	sn_time_format_rfc3339(p->created_at_us, created);
	json_object_object_add(o, "id", json_object_new_string(p->uuid));
	json_object_object_add(o, "uuid", json_object_new_string(p->uuid));
	json_object_object_add(o, "name", json_object_new_string(person_name(p, dids)));
	json_object_object_add(o, "distinct_ids", dids);
	json_object_object_add(o, "properties", json_object_get(p->properties));
	json_object_object_add(o, "is_identified", json_object_new_boolean(p->is_identified));
	json_object_object_add(o, "created_at", json_object_new_string(created));
	return o;
}

static void reply_object(struct sn_http_request *req, unsigned status, struct json_object *o)
{
	struct sn_buf b;
	sn_buf_init(&b, ANSWER_MAX);
	if (sn_json_append(&b, o))
		sn_http_reply_error(req, 500, "server_error", "too_big", "the answer is too large",
				    NULL);
	else
		sn_http_reply(req, status, "application/json", b.data, b.len);
	sn_buf_release(&b);
}

static void not_found(struct sn_http_request *req)
{
	sn_http_reply_error(req, 404, "invalid_request", "not_found", "Not found.", NULL);
}

static void store_error(struct sn_http_request *req, const struct sn_err *err)
{
	sn_log_error("persons api: %s", err->msg);
	sn_http_reply_error(req, 500, "server_error", "error", "the person store failed", NULL);
}

/* ---- GET one -------------------------------------------------------------------------- */

static void get_one(struct sn_persons_api *api, struct sn_http_request *req, const struct target *t)
{
	struct sn_person p = {0};
	struct sn_err err = {0};
	int rc = sn_persons_get(api->persons, t->team_id, t->uuid, &p, &err);
	if (rc == SN_ERR_NOT_FOUND) {
		not_found(req);
		return;
	}
	if (rc) {
		store_error(req, &err);
		return;
	}
	struct json_object *o = person_json(api, &p, &err);
	if (o)
		reply_object(req, 200, o);
	else
		store_error(req, &err);
	json_object_put(o);
	sn_person_release(&p);
}

/* ---- GET list -------------------------------------------------------------------------- */

struct list_ctx {
	struct sn_persons_api *api;
	struct json_object *results;
	int64_t limit;
	size_t n;
	bool more;
	struct sn_err *err;
};

static int list_row(void *ctx, const struct sn_person *p)
{
	struct list_ctx *lc = ctx;
	if ((int64_t)lc->n == lc->limit) {
		lc->more = true; /* the extra row that says a next page exists */
		return 0;
	}
	struct json_object *o = person_json(lc->api, p, lc->err);
	if (!o)
		return SN_ERR_IO;
	json_object_array_add(lc->results, o);
	lc->n++;
	return 0;
}

static bool parse_i64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return false;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*end || v < 0)
		return false;
	*out = v;
	return true;
}

static void append_param(struct sn_buf *b, const char *name, const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	sn_buf_appendf(b, "&%s=", name);
	for (const unsigned char *c = (const unsigned char *)value; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("-_.~", *c)) {
			sn_buf_appendc(b, (char)*c);
		} else {
			char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
			sn_buf_append(b, e, 3);
		}
	}
}

static struct json_object *page_url(struct sn_http_request *req, int64_t limit, int64_t offset)
{
	const char *host = sn_http_header(req, "Host");
	struct sn_buf b;
	sn_buf_init(&b, 64 * 1024);
	sn_buf_appendf(&b, "http://%s%s?limit=%lld&offset=%lld", host ? host : "localhost",
		       sn_http_path(req), (long long)limit, (long long)offset);
	static const char *const keep[] = {"distinct_id", "search", "properties"};
	for (size_t i = 0; i < SN_ARRAY_LEN(keep); i++) {
		const char *v = sn_http_query(req, keep[i]);
		if (v)
			append_param(&b, keep[i], v);
	}
	struct json_object *s = json_object_new_string_len(b.data ? b.data : "", (int)b.len);
	sn_buf_release(&b);
	return s;
}

/* ?properties=[{"key":"email","value":"a@b","operator":"exact","type":"person"}]. */
static int parse_prop_filters(const char *text, struct json_object **owner,
			      struct sn_persons_prop_filter *out, size_t max, size_t *n,
			      struct sn_err *err)
{
	*n = 0;
	if (!text || !*text)
		return 0;
	if (sn_json_parse(text, strlen(text), owner, err) ||
	    !json_object_is_type(*owner, json_type_array))
		return sn_err_set(err, SN_ERR_INVALID,
				  "properties must be a JSON array of filters");
	size_t len = json_object_array_length(*owner);
	if (len > max)
		return sn_err_set(err, SN_ERR_INVALID, "at most %zu property filters", max);
	for (size_t i = 0; i < len; i++) {
		struct json_object *f = json_object_array_get_idx(*owner, i);
		const char *key = sn_json_str(sn_json_get(f, "key"), NULL);
		const char *op = sn_json_str(sn_json_get(f, "operator"), NULL);
		const char *type = sn_json_str(sn_json_get(f, "type"), NULL);
		struct json_object *v = sn_json_get(f, "value");
		if (!key || !*key)
			return sn_err_set(err, SN_ERR_INVALID, "property filter %zu has no key", i);
		if (type && strcmp(type, "person") != 0)
			return sn_err_set(err, SN_ERR_INVALID,
					  "property filter %zu: only person filters are supported",
					  i);
		struct sn_persons_prop_filter *pf = &out[(*n)++];
		pf->key = key;
		if (!op || !strcmp(op, "exact"))
			pf->op = SN_PPF_EXACT;
		else if (!strcmp(op, "is_not"))
			pf->op = SN_PPF_IS_NOT;
		else if (!strcmp(op, "icontains"))
			pf->op = SN_PPF_ICONTAINS;
		else if (!strcmp(op, "is_set"))
			pf->op = SN_PPF_IS_SET;
		else if (!strcmp(op, "is_not_set"))
			pf->op = SN_PPF_IS_NOT_SET;
		else
			return sn_err_set(err, SN_ERR_INVALID,
					  "property filter %zu: unsupported operator %s", i, op);
		if (json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0)
			v = json_object_array_get_idx(v, 0); /* PostHog sends ["a@b"] too */
		if (json_object_is_type(v, json_type_string))
			pf->value = json_object_get_string(v);
		else if (v)
			pf->value = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		else
			pf->value = "";
	}
	return 0;
}

static void list(struct sn_persons_api *api, struct sn_http_request *req, const struct target *t)
{
	struct sn_err err = {0};
	int64_t limit = LIST_DEFAULT, offset = 0;
	const char *ls = sn_http_query(req, "limit"), *os = sn_http_query(req, "offset");
	if ((ls && (!parse_i64(ls, &limit) || limit < 1 || limit > SN_PERSONS_LIST_MAX - 1)) ||
	    (os && !parse_i64(os, &offset))) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "limit must be 1..999 and offset a non-negative integer", NULL);
		return;
	}
	struct json_object *owner = NULL;
	struct sn_persons_prop_filter pf[16];
	size_t npf = 0;
	if (parse_prop_filters(sn_http_query(req, "properties"), &owner, pf, SN_ARRAY_LEN(pf), &npf,
			       &err)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input", err.msg,
				    "properties");
		json_object_put(owner);
		return;
	}
	struct sn_persons_filter f = {.distinct_id = sn_http_query(req, "distinct_id"),
				      .search = sn_http_query(req, "search"),
				      .props = pf,
				      .nprops = npf,
				      .limit = limit + 1,
				      .offset = offset};
	struct list_ctx lc = {
	    .api = api, .results = json_object_new_array(), .limit = limit, .err = &err};
	int rc = sn_persons_list(api->persons, t->team_id, &f, list_row, &lc, &err);
	if (rc) {
		store_error(req, &err);
	} else {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "next",
				       lc.more ? page_url(req, limit, offset + limit) : NULL);
		json_object_object_add(
		    o, "previous",
		    offset > 0 ? page_url(req, limit, offset > limit ? offset - limit : 0) : NULL);
		json_object_object_add(o, "count", json_object_new_int64((int64_t)lc.n));
		json_object_object_add(o, "results", json_object_get(lc.results));
		reply_object(req, 200, o);
		json_object_put(o);
	}
	json_object_put(lc.results);
	json_object_put(owner);
}

/* ---- writes: an event through the WAL ---------------------------------------------------- */

static int first_did(void *ctx, const char *did)
{
	snprintf(ctx, SN_DISTINCT_ID_MAX + 1, "%s", did);
	return 1; /* stop */
}

static void write_event(struct sn_persons_api *api, struct sn_http_request *req,
			const struct target *t, const char *event, struct json_object *props,
			unsigned status)
{
	struct sn_err err = {0};
	struct sn_person p = {0};
	char did[SN_DISTINCT_ID_MAX + 1] = "";
	struct sn_buf rec;
	sn_buf_init(&rec, 4u << 20);
	int rc = sn_persons_get(api->persons, t->team_id, t->uuid, &p, &err);
	if (rc == SN_ERR_NOT_FOUND) {
		not_found(req);
		goto out;
	}
	if (rc || (rc = sn_persons_distinct_ids(api->persons, t->team_id, p.uuid, first_did, did,
						&err)) < 0) {
		store_error(req, &err);
		goto out;
	}
	if (!did[0]) {
		not_found(req);
		goto out;
	}
	if (!api->wal) {
		sn_http_reply_error(req, 503, "server_error", "unavailable",
				    "ingestion is not running", NULL);
		goto out;
	}
	struct sn_uuid u;
	char uuid[37], now[32];
	int64_t now_us = sn_now_us();
	sn_uuid_v7(&u, now_us);
	sn_uuid_format(&u, uuid);
	sn_time_format_rfc3339(now_us, now);
	/* The record capture would have written for this event (capture/process.c). */
	struct json_object *data = json_object_new_object();
	json_object_object_add(data, "event", json_object_new_string(event));
	json_object_object_add(data, "distinct_id", json_object_new_string(did));
	json_object_object_add(data, "properties", json_object_get(props));
	sn_buf_appendf(&rec, "{\"uuid\":\"%s\",\"distinct_id\":", uuid);
	sn_buf_append_json_str(&rec, did, strlen(did));
	sn_buf_appendf(&rec, ",\"ip\":\"\",\"team_id\":%lld,\"timestamp\":\"%s\",\"now\":\"%s\"",
		       (long long)t->team_id, now, now);
	sn_buf_appends(&rec, ",\"event\":");
	sn_buf_append_json_str(&rec, event, strlen(event));
	sn_buf_appends(&rec, ",\"data\":");
	rc = sn_json_append(&rec, data);
	json_object_put(data);
	if (rc || sn_buf_appendc(&rec, '}')) {
		sn_http_reply_error(req, 413, "validation_error", "too_big",
				    "the value is too large", NULL);
		goto out;
	}
	struct sn_wal_rec wr = {.type = SN_WAL_EVENT, .data = rec.data, .len = (uint32_t)rec.len};
	uint64_t end;
	if ((rc = sn_wal_append(api->wal, &wr, 1, &end, &err)) ||
	    (rc = sn_wal_wait_durable(api->wal, end))) {
		sn_http_reply_error(req, 503, "server_error", "transient_error",
				    "transient error, please retry", NULL);
		goto out;
	}
	sn_http_reply(req, status, "application/json", "{}", 2);
out:
	sn_person_release(&p);
	sn_buf_release(&rec);
}

static void update_property(struct sn_persons_api *api, struct sn_http_request *req,
			    const struct target *t, struct json_object *body)
{
	const char *key = sn_json_str(sn_json_get(body, "key"), NULL);
	struct json_object *value = NULL;
	if (!key || !*key || !json_object_object_get_ex(body, "value", &value)) {
		sn_http_reply_error(req, 400, "validation_error", "required",
				    "key and value are required", !key ? "key" : "value");
		return;
	}
	struct json_object *props = json_object_new_object(), *set = json_object_new_object();
	json_object_object_add(set, key, json_object_get(value));
	json_object_object_add(props, "$set", set);
	write_event(api, req, t, "$set", props, 202);
	json_object_put(props);
}

static void delete_property(struct sn_persons_api *api, struct sn_http_request *req,
			    const struct target *t, struct json_object *body)
{
	const char *key = sn_json_str(sn_json_get(body, "$unset"), NULL);
	if (!key || !*key) {
		sn_http_reply_error(req, 400, "validation_error", "required",
				    "$unset (the property key) is required", "$unset");
		return;
	}
	struct json_object *props = json_object_new_object(), *unset = json_object_new_array();
	json_object_array_add(unset, json_object_new_string(key));
	json_object_object_add(props, "$unset", unset);
	write_event(api, req, t, "$delete_person_property", props, 201);
	json_object_put(props);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static void persons_handler(struct sn_persons_api *api, struct sn_http_request *req,
			    const struct target *t)
{
	enum sn_http_method m = sn_http_method(req);
	bool post = t->what == W_UPDATE || t->what == W_DELETE;
	sn_http_cors(req, post ? "POST, OPTIONS" : "GET, OPTIONS");
	if (m == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	if ((post && m != SN_POST) || (!post && m != SN_GET && m != SN_HEAD)) {
		sn_http_reply_error(req, 405, "invalid_request", "method_not_allowed",
				    "Method not allowed on this path.", NULL);
		return;
	}
	if (sn_api_auth_team(api->meta, req, t->team_id, NULL, NULL))
		return;
	if (!api->persons) {
		sn_http_reply_error(req, 503, "server_error", "unavailable",
				    "the person store is not open", NULL);
		return;
	}
	if (t->what == W_LIST) {
		list(api, req, t);
		return;
	}
	if (t->what == W_ITEM) {
		get_one(api, req, t);
		return;
	}
	struct json_object *body = NULL;
	struct sn_err err = {0};
	const struct sn_buf *b = sn_http_body(req);
	if (sn_http_body_too_large(req)) {
		sn_http_reply_error(req, 413, "validation_error", "payload_too_large",
				    "the body is too large", NULL);
		return;
	}
	if (!b || !b->len || sn_json_parse(b->data, b->len, &body, &err) ||
	    !json_object_is_type(body, json_type_object)) {
		sn_http_reply_error(req, 400, "validation_error", "parse_error",
				    "the body must be a JSON object", NULL);
		json_object_put(body);
		return;
	}
	if (t->what == W_UPDATE)
		update_property(api, req, t, body);
	else
		delete_property(api, req, t, body);
	json_object_put(body);
}

static void route_handler(struct sn_http_request *req, void *ctx)
{
	struct target t = parse_path(sn_http_path(req));
	if (t.what == W_NONE) {
		sn_http_reply_error(req, 404, "invalid_request", "not_found", "no such endpoint",
				    NULL);
		return;
	}
	persons_handler(ctx, req, &t);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

int sn_persons_api_new(struct sn_persons_api **out, struct sn_meta *meta,
		       struct sn_persons *persons, struct sn_wal *wal, struct sn_err *err)
{
	struct sn_persons_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	a->persons = persons;
	a->wal = wal;
	*out = a;
	return 0;
}

void sn_persons_api_free(struct sn_persons_api *a)
{
	free(a);
}

size_t sn_persons_api_routes(struct sn_persons_api *a, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_HEAD | SN_POST | SN_OPTIONS;
	const struct sn_http_route all[] = {
	    {"persons", m, "/api/projects/*/persons*", BODY_MAX, route_handler, a},
	    {"persons", m, "/api/environments/*/persons*", BODY_MAX, route_handler, a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
