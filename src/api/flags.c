/*
 * flags.c — PostHog's feature-flag REST API over the flag model in meta:
 *
 *   GET, POST          /api/projects/:id/feature_flags/
 *   GET, PATCH, DELETE /api/projects/:id/feature_flags/:flag_id/
 *   GET                /api/projects/:id/feature_flags/:flag_id/activity/
 *   GET                /api/projects/:id/feature_flags/local_evaluation/
 *
 * (and the same under /api/environments/:id/). Authentication is auth.c's:
 * a personal API key of a member of the project's organization. Bodies and
 * answers have PostHog's field names; validation errors come from meta in
 * DRF's shape {"type":"validation_error","code","detail","attr"}.
 *
 * Routes: /api/projects/<id>/feature_flags... and the /api/environments/
 * twin (one-segment wildcards in the router), so the other APIs under
 * /api/projects/ never see these requests.
 *
 * Differences from PostHog, on purpose: DELETE soft-deletes (PostHog
 * answers 405 and wants PATCH {"deleted": true}, which works here too);
 * flags are listed newest first with limit/offset only (no search or
 * filters yet); fields snout does not model (tags, experiments, surveys,
 * dashboards...) are answered empty and ignored on input.
 */
#include "api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/rest.h"
#include "flags/flags.h"
#include "http/http.h"

#define ANSWER_MAX ((size_t)64 << 20)
#define BODY_MAX   ((size_t)2 << 20)
struct sn_flags_rest {
	struct sn_meta *meta;
	struct sn_flags_api *flags;
};

/* ---- paths -------------------------------------------------------------------------- */

enum what { W_NONE, W_LIST, W_ITEM, W_ACTIVITY, W_LOCAL_EVAL };

struct target {
	enum what what;
	int64_t team_id;
	int64_t flag_id;
};

/* Parses "/api/projects/12/feature_flags/34/activity/" and its relatives. */
static struct target parse_path(const char *path)
{
	struct target t = {W_NONE, 0, 0};
	const char *p = NULL;
	if (sn_str_has_prefix(path, "/api/projects/"))
		p = path + strlen("/api/projects/");
	else if (sn_str_has_prefix(path, "/api/environments/"))
		p = path + strlen("/api/environments/");
	if (!p)
		return t;
	char *end;
	long long team = strtoll(p, &end, 10);
	if (end == p || team <= 0 || !sn_str_has_prefix(end, "/feature_flags"))
		return t;
	p = end + strlen("/feature_flags");
	t.team_id = team;
	if (!*p || !strcmp(p, "/")) {
		t.what = W_LIST;
		return t;
	}
	if (*p != '/')
		return t;
	p++;
	if (!strcmp(p, "local_evaluation") || !strcmp(p, "local_evaluation/")) {
		t.what = W_LOCAL_EVAL;
		return t;
	}
	long long id = strtoll(p, &end, 10);
	if (end == p || id <= 0) {
		t.what = W_ITEM; /* a flag that cannot exist: 404 after auth */
		t.flag_id = -1;
		return t;
	}
	t.flag_id = id;
	if (!*end || !strcmp(end, "/"))
		t.what = W_ITEM;
	else if (!strcmp(end, "/activity") || !strcmp(end, "/activity/"))
		t.what = W_ACTIVITY;
	else
		t.flag_id = -1, t.what = W_ITEM;
	return t;
}

/* ---- JSON out ------------------------------------------------------------------------- */

/* PostHog's "simple flag": one condition, no properties, not multivariate. */
static bool is_simple(struct json_object *filters, struct json_object **rollout)
{
	struct json_object *g = sn_json_get(filters, "groups");
	struct json_object *mv = sn_json_get(filters, "multivariate");
	*rollout = NULL;
	if (!g || !json_object_is_type(g, json_type_array) || json_object_array_length(g) != 1)
		return false;
	if (mv && !json_object_is_type(mv, json_type_null))
		return false;
	struct json_object *g0 = json_object_array_get_idx(g, 0);
	struct json_object *props = sn_json_get(g0, "properties");
	if (props && json_object_is_type(props, json_type_array) &&
	    json_object_array_length(props) > 0)
		return false;
	*rollout = sn_json_get(g0, "rollout_percentage");
	return true;
}

static void append_flag(struct sn_meta *m, struct sn_buf *b, const struct sn_featureflag *f)
{
	sn_buf_appendf(b, "{\"id\":%lld,\"name\":", (long long)f->id);
	sn_buf_append_json_str(b, f->name, strlen(f->name));
	sn_buf_appends(b, ",\"key\":");
	sn_buf_append_json_str(b, f->key, strlen(f->key));
	sn_buf_appends(b, ",\"filters\":");
	sn_json_append(b, f->filters);
	sn_buf_appendf(b, ",\"deleted\":%s,\"active\":%s,\"created_by\":",
		       f->deleted ? "true" : "false", f->active ? "true" : "false");
	sn_rest_append_user(m, b, f->created_by);
	sn_buf_appends(b, ",\"created_at\":");
	sn_rest_append_time(b, f->created_at_us);
	sn_buf_appends(b, ",\"updated_at\":");
	sn_rest_append_time(b, f->updated_at_us);
	struct json_object *rollout;
	bool simple = is_simple(f->filters, &rollout);
	sn_buf_appendf(b,
		       ",\"version\":%lld,\"ensure_experience_continuity\":%s,"
		       "\"is_simple_flag\":%s,\"rollout_percentage\":",
		       (long long)f->version, f->ensure_experience_continuity ? "true" : "false",
		       simple ? "true" : "false");
	if (simple && rollout)
		sn_json_append(b, rollout);
	else
		sn_buf_appends(b, "null");
	sn_buf_appendf(b,
		       ",\"experiment_set\":[],\"surveys\":[],\"features\":[],"
		       "\"rollback_conditions\":null,\"performed_rollback\":false,"
		       "\"can_edit\":true,\"tags\":[],\"evaluation_tags\":[],"
		       "\"evaluation_runtime\":\"all\",\"has_encrypted_payloads\":false,"
		       "\"is_remote_configuration\":false,\"usage_dashboard\":null,"
		       "\"analytics_dashboards\":[],\"has_enriched_analytics\":false,"
		       "\"user_access_level\":\"editor\",\"status\":\"%s\",\"team_id\":%lld}",
		       f->active ? "ACTIVE" : "INACTIVE", (long long)f->team_id);
}

/* ---- handlers --------------------------------------------------------------------------- */

struct list_ctx {
	struct sn_meta *meta;
	struct sn_buf *b;
	size_t n;
};

static int list_one(void *arg, const struct sn_featureflag *f)
{
	struct list_ctx *lc = arg;
	if (lc->n++)
		sn_buf_appendc(lc->b, ',');
	append_flag(lc->meta, lc->b, f);
	return 0;
}

static void list(struct sn_flags_rest *r, struct sn_http_request *req, int64_t team_id)
{
	int64_t limit, offset;
	sn_rest_page(req, &limit, &offset);
	struct sn_buf items;
	sn_buf_init(&items, SN_REST_ANSWER_MAX);
	struct list_ctx lc = {r->meta, &items, 0};
	int64_t total = 0;
	struct sn_err err = {0};
	if (sn_meta_flag_list(r->meta, team_id, offset, limit, &total, list_one, &lc, &err))
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	else
		sn_rest_reply_list(req, total, limit, offset, &items, NULL);
	sn_buf_release(&items);
}

static void reply_flag(struct sn_flags_rest *r, struct sn_http_request *req, unsigned status,
		       const struct sn_featureflag *f)
{
	struct sn_buf b;
	sn_buf_init(&b, ANSWER_MAX);
	append_flag(r->meta, &b, f);
	sn_rest_reply_buf(req, status, &b);
	sn_buf_release(&b);
}

static void activity(struct sn_flags_rest *r, struct sn_http_request *req, int64_t team_id,
		     int64_t flag_id)
{
	struct sn_featureflag f;
	struct sn_err err = {0};
	if (flag_id <= 0 || sn_meta_flag_get(r->meta, team_id, flag_id, &f, &err)) {
		sn_rest_not_found(req);
		return;
	}
	sn_featureflag_release(&f);
	sn_rest_reply_activity(r->meta, req, team_id, "FeatureFlag", flag_id);
}

static void rest_handler(struct sn_flags_rest *r, struct sn_http_request *req,
			 const struct target *t)
{
	sn_http_cors(req, "GET, POST, PATCH, DELETE, OPTIONS");
	enum sn_http_method m = sn_http_method(req);
	if (m == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	struct sn_user user;
	if (sn_api_auth_team(r->meta, req, t->team_id, &user, NULL))
		return;
	struct sn_featureflag f;
	struct sn_meta_verr ve;
	struct sn_err err = {0};
	struct json_object *body = NULL;
	memset(&ve, 0, sizeof(ve));
	switch (t->what) {
	case W_LIST:
		if (m == SN_GET) {
			list(r, req, t->team_id);
		} else if (m == SN_POST) {
			if (!(body = sn_rest_parse_body(req)))
				return;
			if (sn_meta_flag_create(r->meta, t->team_id, user.id, body, &f, &ve)) {
				sn_rest_reply_verr(req, &ve);
			} else {
				reply_flag(r, req, 201, &f);
				sn_featureflag_release(&f);
			}
		} else {
			goto not_allowed;
		}
		break;
	case W_ITEM:
		if (t->flag_id <= 0) {
			sn_rest_not_found(req);
		} else if (m == SN_GET) {
			if (sn_meta_flag_get(r->meta, t->team_id, t->flag_id, &f, &err)) {
				sn_rest_not_found(req);
			} else {
				if (f.deleted)
					sn_rest_not_found(req);
				else
					reply_flag(r, req, 200, &f);
				sn_featureflag_release(&f);
			}
		} else if (m == SN_PATCH || m == SN_PUT) {
			if (!(body = sn_rest_parse_body(req)))
				return;
			if (sn_meta_flag_update(r->meta, t->team_id, t->flag_id, user.id, body, &f,
						&ve)) {
				sn_rest_reply_verr(req, &ve);
			} else {
				reply_flag(r, req, 200, &f);
				sn_featureflag_release(&f);
			}
		} else if (m == SN_DELETE) {
			if (sn_meta_flag_delete(r->meta, t->team_id, t->flag_id, user.id, &err))
				sn_rest_not_found(req);
			else
				sn_http_reply(req, 204, NULL, NULL, 0);
		} else {
			goto not_allowed;
		}
		break;
	case W_ACTIVITY:
		if (m != SN_GET)
			goto not_allowed;
		activity(r, req, t->team_id, t->flag_id);
		break;
	case W_LOCAL_EVAL:
		if (m != SN_GET)
			goto not_allowed;
		sn_flags_definitions_reply(r->flags, req, t->team_id);
		break;
	case W_NONE: sn_rest_not_found(req); break;
	}
	if (body)
		json_object_put(body);
	return;
not_allowed:
	if (body)
		json_object_put(body);
	sn_http_reply_error(req, 405, "invalid_request", "method_not_allowed",
			    "Method not allowed on this path.", NULL);
}

static void route_handler(struct sn_http_request *req, void *ctx)
{
	struct target t = parse_path(sn_http_path(req));
	if (t.what == W_NONE) {
		sn_rest_not_found(req);
		return;
	}
	rest_handler(ctx, req, &t);
}

/* ---- lifecycle ----------------------------------------------------------------------- */

int sn_flags_rest_new(struct sn_flags_rest **out, struct sn_meta *meta, struct sn_flags_api *flags,
		      struct sn_err *err)
{
	struct sn_flags_rest *r = calloc(1, sizeof(*r));
	if (!r)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	r->meta = meta;
	r->flags = flags;
	*out = r;
	return 0;
}

void sn_flags_rest_free(struct sn_flags_rest *r)
{
	free(r);
}

size_t sn_flags_rest_routes(struct sn_flags_rest *r, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_POST | SN_PATCH | SN_PUT | SN_DELETE | SN_OPTIONS;
	const struct sn_http_route all[] = {
	    {"feature_flags", m, "/api/projects/*/feature_flags*", BODY_MAX, route_handler, r},
	    {"feature_flags", m, "/api/environments/*/feature_flags*", BODY_MAX, route_handler, r},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
