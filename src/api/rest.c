/*
 * rest.c — helpers shared by the object REST APIs (annotations.c,
 * actions.c): path parsing, bodies, DRF error answers, the list envelope,
 * user objects and activity answers. See rest.h.
 *
 * They answer exactly as api/flags.c does (same envelope, error shape and
 * user object), so every object API of snout looks alike to a client.
 * flags.c keeps its own copies for now; moving it onto these is a
 * mechanical follow-up.
 */
#include "api/rest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sn_rest_target sn_rest_parse_path(const char *path, const char *collection)
{
	struct sn_rest_target t = {SN_REST_NONE, 0, 0};
	const char *p = NULL;
	if (sn_str_has_prefix(path, "/api/projects/"))
		p = path + strlen("/api/projects/");
	else if (sn_str_has_prefix(path, "/api/environments/"))
		p = path + strlen("/api/environments/");
	if (!p)
		return t;
	char *end;
	long long team = strtoll(p, &end, 10);
	size_t cl = strlen(collection);
	if (end == p || team <= 0 || *end != '/' || strncmp(end + 1, collection, cl))
		return t;
	p = end + 1 + cl;
	t.team_id = team;
	if (!*p || !strcmp(p, "/")) {
		t.what = SN_REST_LIST;
		return t;
	}
	if (*p != '/')
		return t; /* "annotationsx": another collection */
	p++;
	t.what = SN_REST_ITEM;
	t.id = -1;
	long long id = strtoll(p, &end, 10);
	if (end == p || id <= 0)
		return t;
	if (!*end || !strcmp(end, "/")) {
		t.id = id;
	} else if (!strcmp(end, "/activity") || !strcmp(end, "/activity/")) {
		t.id = id;
		t.what = SN_REST_ACTIVITY;
	}
	return t;
}

struct json_object *sn_rest_parse_body(struct sn_http_request *req)
{
	if (sn_http_body_too_large(req)) {
		sn_http_reply_error(req, 413, "validation_error", "payload_too_large",
				    "request body too large", NULL);
		return NULL;
	}
	const struct sn_buf *body = sn_http_body(req);
	struct json_object *o = NULL;
	struct sn_err err = {0};
	if (sn_json_parse(body->data ? body->data : "", body->len, &o, &err)) {
		sn_http_reply_error(req, 400, "validation_error", "parse_error", err.msg, NULL);
		return NULL;
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		sn_http_reply_error(req, 400, "validation_error", "parse_error",
				    "the body must be a JSON object", NULL);
		return NULL;
	}
	return o;
}

void sn_rest_not_found(struct sn_http_request *req)
{
	sn_http_reply_error(req, 404, "invalid_request", "not_found", "Not found.", NULL);
}

void sn_rest_not_allowed(struct sn_http_request *req)
{
	sn_http_reply_error(req, 405, "invalid_request", "method_not_allowed",
			    "Method not allowed on this path.", NULL);
}

void sn_rest_reply_verr(struct sn_http_request *req, const struct sn_meta_verr *ve)
{
	if (ve->err.code == SN_ERR_NOT_FOUND) {
		sn_rest_not_found(req);
		return;
	}
	if (ve->err.code == SN_ERR_INVALID || ve->err.code == SN_ERR_EXISTS) {
		sn_http_reply_error(req, 400, "validation_error",
				    ve->code[0] ? ve->code : "invalid", ve->err.msg,
				    ve->attr[0] ? ve->attr : NULL); /* logs "error" too */
		return;
	}
	sn_http_reply_error(req, 500, "server_error", "error", ve->err.msg, NULL);
}

void sn_rest_reply_buf(struct sn_http_request *req, unsigned status, struct sn_buf *b)
{
	sn_http_reply(req, status, "application/json", b->data ? b->data : "", b->len);
}

int64_t sn_rest_query_int(struct sn_http_request *req, const char *name, int64_t dflt)
{
	const char *v = sn_http_query(req, name);
	if (!v || !*v)
		return dflt;
	char *end;
	long long n = strtoll(v, &end, 10);
	return *end || n < 0 ? dflt : n;
}

void sn_rest_page(struct sn_http_request *req, int64_t *limit, int64_t *offset)
{
	*limit = sn_rest_query_int(req, "limit", SN_REST_LIST_DEFAULT);
	*offset = sn_rest_query_int(req, "offset", 0);
	if (*limit <= 0)
		*limit = SN_REST_LIST_DEFAULT;
	if (*limit > SN_REST_LIST_MAX)
		*limit = SN_REST_LIST_MAX;
}

void sn_rest_append_time(struct sn_buf *b, int64_t us)
{
	char ts[32];
	sn_time_format_rfc3339(us, ts);
	sn_buf_appendf(b, "\"%s\"", ts);
}

void sn_rest_append_user(struct sn_meta *m, struct sn_buf *b, int64_t user_id)
{
	struct sn_user u;
	if (user_id <= 0 || sn_meta_user_get(m, user_id, &u, NULL)) {
		sn_buf_appends(b, "null");
		return;
	}
	sn_buf_appendf(b, "{\"id\":%lld,\"uuid\":\"%s\",\"distinct_id\":\"%s\",\"first_name\":",
		       (long long)u.id, u.uuid, u.uuid);
	sn_buf_append_json_str(b, u.first_name, strlen(u.first_name));
	sn_buf_appends(b, ",\"last_name\":\"\",\"email\":");
	sn_buf_append_json_str(b, u.email, strlen(u.email));
	sn_buf_appends(b, ",\"is_email_verified\":true}");
}

/* RFC 3986 unreserved characters pass, everything else is %XX. */
static void append_query_value(struct sn_buf *u, const char *v)
{
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			sn_buf_appendc(u, (char)*p);
		else
			sn_buf_appendf(u, "%%%02X", *p);
	}
}

static void page_url(struct sn_buf *b, struct sn_http_request *req, int64_t limit, int64_t offset,
		     const char *const *keep)
{
	const char *host = sn_http_header(req, "Host");
	struct sn_buf u;
	sn_buf_init(&u, 8192);
	sn_buf_appendf(&u, "http://%s%s?limit=%lld&offset=%lld", host ? host : "localhost",
		       sn_http_path(req), (long long)limit, (long long)offset);
	for (size_t i = 0; keep && keep[i]; i++) {
		const char *v = sn_http_query(req, keep[i]);
		if (!v || !*v)
			continue;
		sn_buf_appendf(&u, "&%s=", keep[i]);
		append_query_value(&u, v);
	}
	sn_buf_append_json_str(b, u.data, u.len);
	sn_buf_release(&u);
}

void sn_rest_reply_list(struct sn_http_request *req, int64_t total, int64_t limit, int64_t offset,
			const struct sn_buf *items, const char *const *keep)
{
	struct sn_buf b;
	sn_buf_init(&b, SN_REST_ANSWER_MAX);
	sn_buf_appendf(&b, "{\"count\":%lld,\"next\":", (long long)total);
	if (offset + limit < total)
		page_url(&b, req, limit, offset + limit, keep);
	else
		sn_buf_appends(&b, "null");
	sn_buf_appends(&b, ",\"previous\":");
	if (offset > 0)
		page_url(&b, req, limit, offset > limit ? offset - limit : 0, keep);
	else
		sn_buf_appends(&b, "null");
	sn_buf_appends(&b, ",\"results\":[");
	if (items->len)
		sn_buf_append(&b, items->data, items->len);
	sn_buf_appends(&b, "]}");
	sn_rest_reply_buf(req, 200, &b);
	sn_buf_release(&b);
}

struct act_ctx {
	struct sn_meta *meta;
	struct sn_buf *b;
	size_t n;
};

static int act_one(void *arg, const struct sn_meta_activity *a)
{
	struct act_ctx *ac = arg;
	if (ac->n++)
		sn_buf_appendc(ac->b, ',');
	sn_buf_appendf(ac->b, "{\"id\":%lld,\"user\":", (long long)a->id);
	sn_rest_append_user(ac->meta, ac->b, a->user_id);
	sn_buf_appends(ac->b, ",\"activity\":");
	sn_buf_append_json_str(ac->b, a->activity, strlen(a->activity));
	sn_buf_appends(ac->b, ",\"scope\":");
	sn_buf_append_json_str(ac->b, a->scope, strlen(a->scope));
	sn_buf_appends(ac->b, ",\"item_id\":");
	sn_buf_append_json_str(ac->b, a->item_id, strlen(a->item_id));
	sn_buf_appends(ac->b, ",\"detail\":");
	sn_buf_appends(ac->b, a->detail);
	sn_buf_appends(ac->b, ",\"created_at\":");
	sn_rest_append_time(ac->b, a->created_at_us);
	sn_buf_appends(ac->b, "}");
	return 0;
}

void sn_rest_reply_activity(struct sn_meta *m, struct sn_http_request *req, int64_t team_id,
			    const char *scope, int64_t item_id)
{
	struct sn_buf b;
	sn_buf_init(&b, SN_REST_ANSWER_MAX);
	struct act_ctx ac = {m, &b, 0};
	struct sn_err err = {0};
	sn_buf_appends(&b, "{\"results\":[");
	if (sn_meta_activity_list(m, team_id, scope, item_id, sn_rest_query_int(req, "limit", 100),
				  act_one, &ac, &err)) {
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	} else {
		sn_buf_appends(&b, "],\"next\":null,\"previous\":null}");
		sn_rest_reply_buf(req, 200, &b);
	}
	sn_buf_release(&b);
}
