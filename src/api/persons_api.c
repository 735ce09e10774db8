/*
 * persons_api.c — PostHog's persons REST API over the person store:
 *
 *   GET  /api/projects/:id/persons/                       list (filters, pages)
 *   GET  /api/projects/:id/persons/:uuid/                 one person
 *   PATCH|PUT /api/projects/:id/persons/:uuid/ {"properties": {...}}      → 202
 *   POST /api/projects/:id/persons/:uuid/update_property/ {"key", "value"}   → 202
 *   POST /api/projects/:id/persons/:uuid/delete_property/ {"$unset": "key"}  → 201
 *        {"success": true}
 *   DELETE /api/projects/:id/persons/:uuid/[?delete_events=true]             → 204
 *   POST /api/projects/:id/persons/bulk_delete/ {"ids"|"distinct_ids", "delete_events"} → 202
 *   POST /api/projects/:id/persons/:uuid/split/ [{"main_distinct_id"}]        → 201
 *
 * (and the same under /api/environments/:id/). Authentication is auth.c's:
 * a personal API key whose user belongs to the project's organization. A
 * person of another project is not found (404): every read is keyed by the
 * project in the path. A person id that is neither a UUID nor a number is
 * a 400 that points to ?distinct_id= (PostHog's answer; a number, its
 * legacy primary key, is never shown here, so it is a 404).
 *
 * Writes go through ingestion, as in PostHog (which captures a "$set" or
 * "$delete_person_property" event for them; PATCH and PUT are its update,
 * a "$set" of the body's properties that removes nothing): the handler
 * appends one event record to the WAL for the person's first distinct id
 * and answers once it is durable. The ingest worker is then the only writer of persons, so the
 * identity batch, its crash protocol and the distinct-id cache need no
 * second path; the change shows up when the worker reaches the record
 * (normally well under a second).
 *
 * Answer shapes (PostHog's PersonSerializer): id (the uuid here; PostHog
 * shows the uuid in its newer API too), uuid, name (PostHog's
 * get_person_name_helper: the first truthy of its display properties, else a
 * distinct id, non-anonymous ones first), distinct_ids (oldest first),
 * properties, is_identified, created_at. One person (GET .../:uuid/) lists
 * the distinct ids that do not look anonymous first, as PostHog's
 * PersonSerializer does. Lists are {next, previous, count, results}, newest
 * person first, `limit` (default 100, at most 1000) and
 * `offset`; next/previous are absolute URLs built from the Host header.
 * Filters: distinct_id (exact), search (PostHog's: the email property
 * contains it, ASCII case-insensitive; or a distinct id or, for a UUID, the
 * person's id equals it), properties (a JSON array of
 * {"key","value","operator"} person filters: exact, is_not, icontains,
 * is_set, is_not_set; a list value means any of its values). count is the number of results on this
 * page (PostHog omits a total too for large teams).
 *
 * Deletion (GDPR) is the one write that does not go through the WAL; it
 * must reach every copy of the person's data, so it runs in order:
 *
 *   1. wait until ingestion has consumed and committed every record
 *      appended before the request (WAL checkpoint >= head): events in
 *      flight would otherwise re-create the person after step 2;
 *   2. sn_persons_delete: the person store rows, in their own transaction,
 *      and the ids its events may carry (its own, merged persons', its
 *      distinct ids); the ingest cache drops the person;
 *   with delete_events:
 *   3. wait once more for the checkpoint to pass the head: events ingested
 *      between 1 and 2 were stamped with the old person and are flushed;
 *   4. sn_store_delete by those person ids or distinct ids: parts are
 *      rewritten and the old files unlinked before it returns;
 *   5. sn_wal_scrub: consumed WAL records of those distinct ids, in the
 *      segments wal_keep_size retains and in the current one, are zeroed.
 *
 * Events of the distinct ids that arrive while this runs may be deleted
 * too; those that arrive after it create a new person (PostHog does the
 * same). Deletions are serialised by a mutex; each costs two store flushes
 * (forced with sn_ingest_sync) plus a rewrite of the parts holding the
 * person's events and a read of the retained WAL.
 *
 * Routes: /api/projects/<id>/persons... and the /api/environments/ twin
 * (one-segment wildcards in the router), so other APIs under the same
 * prefix never see these requests and vice versa.
 */
#include "api.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/auth.h"
#include "hogql/hogql.h"
#include "http/http.h"
#include "ingest/ingest.h"
#include "persons/persons.h"
#include "store/store.h"
#include "wal/evindex.h"
#include "wal/wal.h"

#define LIST_DEFAULT	100
#define BODY_MAX	(64u << 10)
#define ANSWER_MAX	((size_t)64 << 20)
#define BULK_MAX	1000  /* ids of one bulk_delete, as PostHog */
#define CONSUME_WAIT_MS 60000 /* how long a deletion waits for ingestion */
struct sn_persons_api {
	struct sn_meta *meta;
	struct sn_persons *persons;
	struct sn_wal *wal;
	char data_dir[1024];	   /* "" until sn_persons_api_use_ingest */
	struct sn_ingest *ingest;  /* NULL: wait for flush_age instead of asking */
	pthread_mutex_t delete_mu; /* one deletion at a time */
};

/* ---- paths ------------------------------------------------------------------------ */

enum what { W_NONE, W_LIST, W_ITEM, W_UPDATE, W_DELETE, W_BULK_DELETE, W_SPLIT };

struct target {
	enum what what;
	int64_t team_id;
	char uuid[37];
	bool bad_id; /* the id is not a UUID: uuid holds nothing useful */
	bool num_id; /* ... and it is a number (PostHog's primary key) */
};

/* PostHog's actions on the collection that snout does not have: not
 * person ids, so "no such endpoint" rather than a bad-id 400. */
static bool collection_action(const char *p, size_t n)
{
	static const char *const names[] = {
	    "values", "properties", "cohorts",	  "activity", "funnel",
	    "trends", "lifecycle",  "stickiness", "path",     "reset_person_distinct_id",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(names); i++)
		if (strlen(names[i]) == n && !memcmp(p, names[i], n))
			return true;
	return false;
}

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
	if (!strcmp(p, "bulk_delete") || !strcmp(p, "bulk_delete/")) {
		t.what = W_BULK_DELETE;
		return t;
	}
	const char *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	if (n == 0 || collection_action(p, n))
		return t;
	struct sn_uuid u; /* any case, as Django's UUID field reads it */
	if (sn_uuid_parse(p, n, &u) == 0) {
		sn_uuid_format(&u, t.uuid);
	} else {
		t.bad_id = true;
		t.num_id = n <= 18 && strspn(p, "0123456789") == n;
	}
	const char *rest = slash ? slash : "";
	if (!*rest || !strcmp(rest, "/"))
		t.what = W_ITEM;
	else if (!strcmp(rest, "/update_property") || !strcmp(rest, "/update_property/"))
		t.what = W_UPDATE;
	else if (!strcmp(rest, "/delete_property") || !strcmp(rest, "/delete_property/"))
		t.what = W_DELETE;
	else if (!strcmp(rest, "/split") || !strcmp(rest, "/split/"))
		t.what = W_SPLIT;
	return t;
}

/* ---- answers -------------------------------------------------------------------------- */

static int add_did(void *ctx, const char *did)
{
	json_object_array_add(ctx, json_object_new_string(did));
	return 0;
}

/* PostHog's anonymous-id test (posthog/utils.py is_anonymous_id, ANONYMOUS_REGEX
 * ^([a-z0-9]+\-){4}([a-z0-9]+)$): five runs of lower-case letters and digits
 * joined by hyphens, such as posthog-js's UUIDs. */
static bool is_anonymous_id(const char *s)
{
	int runs = 0;
	for (const char *c = s;; c++) {
		const char *start = c;
		while ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'))
			c++;
		if (c == start)
			return false;
		runs++;
		if (*c == 0)
			return runs == 5;
		if (*c != '-' || runs == 5)
			return false;
	}
}

/* Python's truthiness of a property value: a non-empty
 * string, list or object, a non-zero number, true. */
static bool py_truthy(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_string: return json_object_get_string_len(v) > 0;
	case json_type_boolean: return json_object_get_boolean(v);
	case json_type_int: return json_object_get_int64(v) != 0;
	case json_type_double: return json_object_get_double(v) != 0;
	case json_type_array: return json_object_array_length(v) > 0;
	case json_type_object: return json_object_object_length(v) > 0;
	default: return false;
	}
}

/* PostHog's get_person_name_helper: the first truthy display property as it
 * is (a number stays a number), else the first distinct id that is not an
 * anonymous one, else the first distinct id, else the person's uuid. */
static struct json_object *person_name(const struct sn_person *p, struct json_object *dids)
{
	static const char *const keys[] = {SN_PERSON_DISPLAY_NAME_KEYS};
	for (size_t i = 0; i < SN_ARRAY_LEN(keys); i++) {
		struct json_object *v = sn_json_get(p->properties, keys[i]);
		if (py_truthy(v))
			return json_object_get(v);
	}
	size_t n = json_object_array_length(dids);
	for (size_t i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(dids, i);
		if (!is_anonymous_id(json_object_get_string(d)))
			return json_object_get(d);
	}
	if (n > 0)
		return json_object_get(json_object_array_get_idx(dids, 0));
	return json_object_new_string(p->uuid);
}

struct json_object *sn_api_person_json(struct sn_persons *ps, const struct sn_person *p,
				       struct sn_err *err)
{
	struct json_object *o = json_object_new_object(), *dids = json_object_new_array();
	if (!o || !dids || sn_persons_distinct_ids(ps, p->team_id, p->uuid, add_did, dids, err)) {
		json_object_put(o);
		json_object_put(dids);
		return NULL;
	}
	char created[32];
	sn_time_format_rfc3339(p->created_at_us, created);
	json_object_object_add(o, "id", json_object_new_string(p->uuid));
	json_object_object_add(o, "uuid", json_object_new_string(p->uuid));
	json_object_object_add(o, "name", person_name(p, dids));
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

/* PostHog's PersonSerializer sorts one person's distinct ids by
 * is_anonymous_id, a stable sort: ids that do not look anonymous first,
 * each group in its own (oldest first) order. */
static void anonymous_ids_last(struct json_object *o)
{
	struct json_object *dids = sn_json_get(o, "distinct_ids");
	struct json_object *sorted = json_object_new_array();
	size_t n = json_object_array_length(dids);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			struct json_object *d = json_object_array_get_idx(dids, i);
			if (is_anonymous_id(json_object_get_string(d)) == (pass == 1))
				json_object_array_add(sorted, json_object_get(d));
		}
	json_object_object_add(o, "distinct_ids", sorted);
}

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
	struct json_object *o = sn_api_person_json(api->persons, &p, &err);
	if (o) {
		anonymous_ids_last(o);
		reply_object(req, 200, o);
	} else {
		store_error(req, &err);
	}
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
	struct json_object *o = sn_api_person_json(lc->api->persons, p, lc->err);
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
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (*end || v < 0 || errno == ERANGE)
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

/* The text a filter compares a value as: a string's own text, anything else
 * as JSON (owned by the parsed filters). */
static const char *filter_value_text(struct json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "";
}

/* ?properties=[{"key":"email","value":"a@b","operator":"exact","type":"person"}].
 * A list value means any of its values (PostHog's property_to_expr): *vals
 * (freed by the caller) holds every filter's value texts. */
static int parse_prop_filters(const char *text, struct json_object **owner,
			      struct sn_persons_prop_filter *out, size_t max, size_t *n,
			      const char ***vals, struct sn_err *err)
{
	*n = 0;
	*vals = NULL;
	if (!text || !*text)
		return 0;
	if (sn_json_parse(text, strlen(text), owner, err) ||
	    !json_object_is_type(*owner, json_type_array))
		return sn_err_set(err, SN_ERR_INVALID,
				  "properties must be a JSON array of filters");
	size_t len = json_object_array_length(*owner), total = 0;
	if (len > max)
		return sn_err_set(err, SN_ERR_INVALID, "at most %zu property filters", max);
	for (size_t i = 0; i < len; i++) {
		struct json_object *v = sn_json_get(json_object_array_get_idx(*owner, i), "value");
		size_t nv =
		    json_object_is_type(v, json_type_array) ? json_object_array_length(v) : 1;
		if (nv > SN_PERSONS_FILTER_VALUES_MAX)
			return sn_err_set(err, SN_ERR_INVALID,
					  "property filter %zu: at most %d values", i,
					  SN_PERSONS_FILTER_VALUES_MAX);
		total += nv;
	}
	const char **all = calloc(total ? total : 1, sizeof(*all));
	if (!all)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory reading property filters");
	*vals = all;
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
		pf->values = all;
		if (json_object_is_type(v, json_type_array)) {
			pf->nvalues = json_object_array_length(v);
			for (size_t k = 0; k < pf->nvalues; k++)
				all[k] = filter_value_text(json_object_array_get_idx(v, k));
		} else {
			pf->nvalues = 1;
			all[0] = filter_value_text(v);
		}
		all += pf->nvalues;
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
	const char **vals = NULL;
	size_t npf = 0;
	if (parse_prop_filters(sn_http_query(req, "properties"), &owner, pf, SN_ARRAY_LEN(pf), &npf,
			       &vals, &err)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input", err.msg,
				    "properties");
		json_object_put(owner);
		free(vals);
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
	free(vals);
}

/* ---- writes: an event through the WAL ---------------------------------------------------- */

static int first_did(void *ctx, const char *did)
{
	snprintf(ctx, SN_DISTINCT_ID_MAX + 1, "%s", did);
	return 1; /* stop */
}

static void write_event(struct sn_persons_api *api, struct sn_http_request *req,
			const struct target *t, const char *event, struct json_object *props,
			unsigned status, const char *answer)
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
	sn_http_reply(req, status, "application/json", answer, strlen(answer));
out:
	sn_person_release(&p);
	sn_buf_release(&rec);
}

/* A "$set" of the given properties, as PostHog's _set_properties. */
static void set_properties(struct sn_persons_api *api, struct sn_http_request *req,
			   const struct target *t, struct json_object *set)
{
	struct json_object *props = json_object_new_object();
	json_object_object_add(props, "$set", json_object_get(set));
	write_event(api, req, t, "$set", props, 202, "{}");
	json_object_put(props);
}

/* PostHog checks value before key, and a null value is a missing one. */
static void update_property(struct sn_persons_api *api, struct sn_http_request *req,
			    const struct target *t, struct json_object *body)
{
	const char *key = sn_json_str(sn_json_get(body, "key"), NULL);
	struct json_object *value = sn_json_get(body, "value");
	if (!value || json_object_is_type(value, json_type_null) || !key || !*key) {
		bool v = !value || json_object_is_type(value, json_type_null);
		sn_http_reply_error(req, 400, "validation_error", "required",
				    v ? "value is required (null is no value)"
				      : "key is required (a non-empty string)",
				    v ? "value" : "key");
		return;
	}
	struct json_object *set = json_object_new_object();
	json_object_object_add(set, key, json_object_get(value));
	set_properties(api, req, t, set);
	json_object_put(set);
}

/* PATCH or PUT of one person: PostHog's update, a "$set" of "properties"
 * (keys not named stay; delete_property removes one). */
static void update_person(struct sn_persons_api *api, struct sn_http_request *req,
			  const struct target *t, struct json_object *body)
{
	struct json_object *set = sn_json_get(body, "properties");
	if (!set || json_object_is_type(set, json_type_null)) {
		sn_http_reply_error(req, 400, "validation_error", "required",
				    "properties is required", "properties");
		return;
	}
	if (!json_object_is_type(set, json_type_object)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "properties must be an object", "properties");
		return;
	}
	set_properties(api, req, t, set);
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
	write_event(api, req, t, "$delete_person_property", props, 201, "{\"success\":true}");
	json_object_put(props);
}

/* ---- deleting persons (GDPR): the steps in the header comment ---------------------------- */

/* Waits until ingestion has committed everything appended so far: asks the
 * worker to flush now when it can (sn_ingest_sync), then checks the WAL
 * checkpoint, which is what the later steps rely on. */
static int wait_consumed(struct sn_persons_api *api, struct sn_err *err)
{
	struct sn_wal_stats st;
	sn_wal_get_stats(api->wal, &st);
	uint64_t target = st.head_lsn;
	if (api->ingest && target > st.checkpoint_lsn)
		(void)sn_ingest_sync(api->ingest, CONSUME_WAIT_MS); /* the loop below decides */
	uint64_t deadline = sn_mono_ns() + (uint64_t)CONSUME_WAIT_MS * 1000000u;
	for (;;) {
		sn_wal_get_stats(api->wal, &st);
		if (st.checkpoint_lsn >= target)
			return 0;
		if (!sn_wal_writable(api->wal))
			return sn_err_set(err, SN_ERR_CLOSED, "the WAL is not writable");
		if (sn_mono_ns() > deadline)
			return sn_err_set(err, SN_ERR_CLOSED,
					  "ingestion did not catch up within %d s; retry",
					  CONSUME_WAIT_MS / 1000);
		usleep(10000);
	}
}

struct scrub_ctx {
	int64_t team_id;
	const struct sn_persons_deleted *d;
	bool always_parse; /* a distinct id JSON may escape: memmem cannot rule out */
	uint64_t parsed;
};

static bool plain_id(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' || *s == '/' ||
		    (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* A WAL event record of one of the deleted distinct ids (capture's record,
 * indexed or not: top-level team_id and distinct_id in its JSON). */
static bool scrub_match(void *arg, const struct sn_wal_entry *e)
{
	struct scrub_ctx *c = arg;
	uint32_t len;
	const char *json = sn_evix_json(e->type, e->data, e->len, &len);
	if (!sn_wal_is_event(e->type) || !json)
		return false;
	bool maybe = c->always_parse;
	for (size_t i = 0; i < c->d->ndistinct_ids && !maybe; i++)
		maybe =
		    memmem(json, len, c->d->distinct_ids[i], strlen(c->d->distinct_ids[i])) != NULL;
	if (!maybe)
		return false;
	struct json_object *o = NULL;
	struct sn_err err = {0};
	c->parsed++;
	if (sn_json_parse(json, len, &o, &err))
		return false;
	bool hit = false;
	struct json_object *team = sn_json_get(o, "team_id");
	const char *did = sn_json_str(sn_json_get(o, "distinct_id"), NULL);
	if (did && json_object_is_type(team, json_type_int) &&
	    json_object_get_int64(team) == c->team_id)
		for (size_t i = 0; i < c->d->ndistinct_ids && !hit; i++)
			hit = !strcmp(did, c->d->distinct_ids[i]);
	json_object_put(o);
	return hit;
}

/* Steps 3-5: the person's events in parts and in the retained WAL. */
static int delete_events(struct sn_persons_api *api, int64_t team_id,
			 const struct sn_persons_deleted *d, struct sn_err *err)
{
	char dir[1200];
	struct sn_store *st = NULL;
	struct sn_store_delete_result res = {0};
	uint8_t(*ids)[16] = calloc(d->npersons + 1, 16);
	int rc;
	if (!ids)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	size_t nids = 0;
	for (size_t i = 0; i < d->npersons; i++) {
		struct sn_uuid u;
		if (sn_uuid_parse(d->person_ids[i], 36, &u) == 0)
			memcpy(ids[nids++], u.b, 16); /* never a zero id: that is "no person" */
	}
	if ((rc = wait_consumed(api, err)))
		goto out;
	snprintf(dir, sizeof(dir), "%s/store", api->data_dir);
	struct sn_store_opts so = {.merge_min_parts = UINT32_MAX};
	struct sn_store_delete_spec spec = {.team_id = team_id,
					    .person_ids = (const uint8_t(*)[16])ids,
					    .npersons = nids,
					    .distinct_ids = (const char *const *)d->distinct_ids,
					    .ndistinct_ids = d->ndistinct_ids,
					    .after_us = INT64_MIN,
					    .before_us = INT64_MAX};
	if ((rc = sn_store_open(dir, &so, &st, err)) ||
	    (rc = sn_store_delete(st, &spec, &res, err)))
		goto out;
	struct scrub_ctx sc = {.team_id = team_id, .d = d};
	for (size_t i = 0; i < d->ndistinct_ids; i++)
		sc.always_parse = sc.always_parse || !plain_id(d->distinct_ids[i]);
	uint64_t scrubbed = 0;
	snprintf(dir, sizeof(dir), "%s/wal", api->data_dir);
	if ((rc = sn_wal_scrub(dir, UINT64_MAX, scrub_match, &sc, &scrubbed, err)))
		goto out;
	sn_log_info("persons: deleted the events of %s (team %lld): %llu row(s) from %llu "
		    "part(s), %llu WAL record(s) erased",
		    d->person_ids[0], (long long)team_id, (unsigned long long)res.rows_deleted,
		    (unsigned long long)(res.parts_rewritten + res.parts_dropped),
		    (unsigned long long)scrubbed);
out:
	sn_store_close(st);
	free(ids);
	return rc;
}

/* Deletes one person (steps 1-5). SN_ERR_NOT_FOUND when the team has none. */
static int delete_person(struct sn_persons_api *api, int64_t team_id, const char *uuid,
			 bool with_events, struct sn_err *err)
{
	struct sn_person p = {0};
	struct sn_persons_deleted d = {0};
	int rc = sn_persons_get(api->persons, team_id, uuid, &p, err);
	sn_person_release(&p);
	if (rc)
		return rc;
	if (with_events && (!api->wal || !api->data_dir[0]))
		return sn_err_set(err, SN_ERR_CLOSED, "ingestion is not running");
	pthread_mutex_lock(&api->delete_mu);
	if (api->wal && (rc = wait_consumed(api, err)))
		goto out;
	if ((rc = sn_persons_delete(api->persons, team_id, uuid, &d, err)))
		goto out;
	sn_log_info("persons: deleted person %s (team %lld) with %zu distinct id(s), %zu merged "
		    "person(s)",
		    uuid, (long long)team_id, d.ndistinct_ids, d.npersons - 1);
	if (with_events)
		rc = delete_events(api, team_id, &d, err);
out:
	pthread_mutex_unlock(&api->delete_mu);
	sn_persons_deleted_release(&d);
	return rc;
}

/* A boolean as Django REST framework's BooleanField reads it: true/false,
 * their capitalised and 1/0 spellings, or JSON's literals. Returns false
 * (and leaves *out) for anything else. */
static bool bool_text(const char *v, bool *out)
{
	static const char *const yes[] = {"true", "True", "TRUE", "1", "yes", "on"};
	static const char *const no[] = {"false", "False", "FALSE", "0", "no", "off"};
	for (size_t i = 0; i < SN_ARRAY_LEN(yes); i++) {
		if (!strcmp(v, yes[i]) || !strcmp(v, no[i])) {
			*out = !strcmp(v, yes[i]);
			return true;
		}
	}
	return false;
}

/* The delete_events flag of a deletion, from the query string (and the body,
 * for bulk_delete): absent is false, a value that is no boolean a 400. */
static bool delete_events_flag(struct sn_http_request *req, struct json_object *body, bool *out)
{
	*out = false;
	const char *q = sn_http_query(req, "delete_events");
	if (q && !bool_text(q, out))
		return false;
	struct json_object *v = sn_json_get(body, "delete_events");
	bool b = false;
	if (json_object_is_type(v, json_type_boolean))
		b = json_object_get_boolean(v);
	else if (v && !(json_object_is_type(v, json_type_string) &&
			bool_text(json_object_get_string(v), &b)))
		return false;
	*out = *out || b;
	return true;
}

static void bad_delete_events(struct sn_http_request *req)
{
	sn_http_reply_error(req, 400, "validation_error", "invalid_input",
			    "delete_events must be true or false", "delete_events");
}

static void delete_error(struct sn_http_request *req, int rc, const struct sn_err *err)
{
	if (rc == SN_ERR_NOT_FOUND)
		not_found(req);
	else if (rc == SN_ERR_CLOSED)
		sn_http_reply_error(req, 503, "server_error", "unavailable", err->msg, NULL);
	else
		store_error(req, err);
}

static void delete_one(struct sn_persons_api *api, struct sn_http_request *req,
		       const struct target *t)
{
	struct sn_err err = {0};
	bool with_events;
	if (!delete_events_flag(req, NULL, &with_events)) {
		bad_delete_events(req);
		return;
	}
	int rc = delete_person(api, t->team_id, t->uuid, with_events, &err);
	if (rc)
		delete_error(req, rc, &err);
	else
		sn_http_reply(req, 204, NULL, NULL, 0);
}

/* POST .../persons/bulk_delete/ {"ids": [uuid...]} or {"distinct_ids": [...]},
 * "delete_events" in the body or the query. Every id is checked before
 * anything is deleted (a person id must be a UUID, a distinct id a string);
 * ids of no person are skipped. */
static void bulk_delete(struct sn_persons_api *api, struct sn_http_request *req,
			const struct target *t, struct json_object *body)
{
	struct sn_err err = {0};
	struct json_object *ids = sn_json_get(body, "ids"),
			   *dids = sn_json_get(body, "distinct_ids");
	bool with_events;
	if (!delete_events_flag(req, body, &with_events)) {
		bad_delete_events(req);
		return;
	}
	size_t nids = json_object_is_type(ids, json_type_array) ? json_object_array_length(ids) : 0;
	size_t ndids =
	    json_object_is_type(dids, json_type_array) ? json_object_array_length(dids) : 0;
	if ((ids && !json_object_is_type(ids, json_type_array)) ||
	    (dids && !json_object_is_type(dids, json_type_array)) || (!nids && !ndids) ||
	    nids + ndids > BULK_MAX) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "ids or distinct_ids must be a list of 1 to 1000 ids", "ids");
		return;
	}
	for (size_t i = 0; i < nids + ndids; i++) {
		struct json_object *v =
		    json_object_array_get_idx(i < nids ? ids : dids, i < nids ? i : i - nids);
		const char *id = sn_json_str(v, NULL);
		struct sn_uuid u;
		if (!id || !*id || (i < nids && sn_uuid_parse(id, strlen(id), &u) != 0)) {
			char msg[96];
			snprintf(msg, sizeof(msg), "%s[%zu] is not %s",
				 i < nids ? "ids" : "distinct_ids", i < nids ? i : i - nids,
				 i < nids ? "a person UUID" : "a non-empty string");
			sn_http_reply_error(req, 400, "validation_error", "invalid_input", msg,
					    i < nids ? "ids" : "distinct_ids");
			return;
		}
	}
	for (size_t i = 0; i < nids + ndids; i++) {
		struct json_object *v =
		    json_object_array_get_idx(i < nids ? ids : dids, i < nids ? i : i - nids);
		const char *id = sn_json_str(v, NULL);
		char uuid[37];
		struct sn_uuid u;
		if (i < nids && sn_uuid_parse(id, strlen(id), &u) == 0)
			sn_uuid_format(&u, uuid);
		if (i >= nids) {
			struct sn_person p = {0};
			int rc =
			    sn_persons_get_by_distinct_id(api->persons, t->team_id, id, &p, &err);
			snprintf(uuid, sizeof(uuid), "%s", p.uuid);
			sn_person_release(&p);
			if (rc == SN_ERR_NOT_FOUND)
				continue;
			if (rc) {
				delete_error(req, rc, &err);
				return;
			}
		}
		int rc = delete_person(api, t->team_id, uuid, with_events, &err);
		if (rc && rc != SN_ERR_NOT_FOUND) {
			delete_error(req, rc, &err);
			return;
		}
	}
	sn_http_reply(req, 202, "application/json", "{}", 2);
}

/* POST .../persons/:uuid/split/ [{"main_distinct_id": "..."}]: PostHog answers
 * 201 {"success": true}. Waits for ingestion like a deletion, so events
 * already accepted are applied to the person before it is split. */
static void split(struct sn_persons_api *api, struct sn_http_request *req, const struct target *t,
		  struct json_object *body)
{
	struct sn_err err = {0};
	struct json_object *m = sn_json_get(body, "main_distinct_id");
	const char *main_did = sn_json_str(m, NULL);
	if (m && !main_did && !json_object_is_type(m, json_type_null)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "main_distinct_id must be a string", "main_distinct_id");
		return;
	}
	size_t n = 0;
	pthread_mutex_lock(&api->delete_mu);
	int rc = api->wal ? wait_consumed(api, &err) : 0;
	if (!rc)
		rc = sn_persons_split(api->persons, t->team_id, t->uuid, main_did, &n, &err);
	pthread_mutex_unlock(&api->delete_mu);
	if (rc == SN_ERR_INVALID) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input", err.msg,
				    "main_distinct_id");
		return;
	}
	if (rc) {
		delete_error(req, rc, &err);
		return;
	}
	sn_log_info("persons: split %s (team %lld) into %zu new person(s)", t->uuid,
		    (long long)t->team_id, n);
	sn_http_reply(req, 201, "application/json", "{\"success\":true}", 16);
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static void persons_handler(struct sn_persons_api *api, struct sn_http_request *req,
			    const struct target *t)
{
	enum sn_http_method m = sn_http_method(req);
	bool post = t->what == W_UPDATE || t->what == W_DELETE || t->what == W_BULK_DELETE ||
		    t->what == W_SPLIT;
	bool del = t->what == W_ITEM && m == SN_DELETE;
	bool upd = t->what == W_ITEM && (m == SN_PATCH || m == SN_PUT);
	sn_http_cors(req, post		      ? "POST, OPTIONS"
			  : t->what == W_ITEM ? "GET, PATCH, PUT, DELETE, OPTIONS"
					      : "GET, OPTIONS");
	if (m == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	if ((post && m != SN_POST) || (!post && !del && !upd && m != SN_GET && m != SN_HEAD)) {
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
	if (t->bad_id && t->num_id) {
		not_found(req); /* a primary key: snout answers with uuids only */
		return;
	}
	if (t->bad_id) {
		sn_http_reply_error(
		    req, 400, "validation_error", "invalid_input",
		    "The ID provided does not look like a personID. If you are using "
		    "a distinctId, please use /persons/?distinct_id=<it> instead.",
		    NULL);
		return;
	}
	if (del) {
		delete_one(api, req, t);
		return;
	}
	if (t->what == W_ITEM && !upd) {
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
	if (t->what == W_SPLIT && (!b || !b->len))
		body = json_object_new_object(); /* the body is optional */
	else if (!b || !b->len || sn_json_parse(b->data, b->len, &body, &err) ||
		 !json_object_is_type(body, json_type_object)) {
		sn_http_reply_error(req, 400, "validation_error", "parse_error",
				    "the body must be a JSON object", NULL);
		json_object_put(body);
		return;
	}
	if (upd)
		update_person(api, req, t, body);
	else if (t->what == W_UPDATE)
		update_property(api, req, t, body);
	else if (t->what == W_BULK_DELETE)
		bulk_delete(api, req, t, body);
	else if (t->what == W_SPLIT)
		split(api, req, t, body);
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
	pthread_mutex_init(&a->delete_mu, NULL);
	*out = a;
	return 0;
}

void sn_persons_api_use_ingest(struct sn_persons_api *a, const char *data_dir,
			       struct sn_ingest *ingest)
{
	snprintf(a->data_dir, sizeof(a->data_dir), "%s", data_dir);
	a->ingest = ingest;
}

void sn_persons_api_free(struct sn_persons_api *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->delete_mu);
	free(a);
}

size_t sn_persons_api_routes(struct sn_persons_api *a, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_HEAD | SN_POST | SN_PUT | SN_PATCH | SN_DELETE | SN_OPTIONS;
	const struct sn_http_route all[] = {
	    {"persons", m, "/api/projects/*/persons*", BODY_MAX, route_handler, a},
	    {"persons", m, "/api/environments/*/persons*", BODY_MAX, route_handler, a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
