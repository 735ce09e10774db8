/*
 * actions.c — PostHog's actions REST API over meta's model:
 *
 *   GET, POST          /api/projects/:id/actions/
 *   GET, PATCH, DELETE /api/projects/:id/actions/:action_id/
 *   GET                /api/projects/:id/actions/:action_id/activity/
 *
 * (and the same under /api/environments/:id/). Authentication is auth.c's;
 * answers have ActionSerializer's fields, steps in ActionStepJSON's shape.
 * A list is newest first with limit/offset and ?search= on the name.
 *
 * Differences from PostHog, on purpose: DELETE soft-deletes (PostHog
 * answers 405 and wants PATCH {"deleted": true}, which works too); name is
 * required (PostHog's column is nullable); post_to_slack and
 * slack_message_format are stored but nothing is sent; no bytecode is
 * compiled (bytecode_error is null), and is_calculating is always false.
 * A deleted action answers 404, as a deleted flag does.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/rest.h"

struct sn_actions_api {
	struct sn_meta *meta;
};

static void append_str(struct sn_buf *b, const char *s)
{
	sn_buf_append_json_str(b, s ? s : "", s ? strlen(s) : 0);
}

static void append_action(struct sn_meta *m, struct sn_buf *b, const struct sn_action *a)
{
	sn_buf_appendf(b, "{\"id\":%lld,\"name\":", (long long)a->id);
	append_str(b, a->name);
	sn_buf_appends(b, ",\"description\":");
	append_str(b, a->description);
	sn_buf_appends(b, ",\"tags\":");
	sn_json_append(b, a->tags);
	sn_buf_appendf(b, ",\"post_to_slack\":%s,\"slack_message_format\":",
		       a->post_to_slack ? "true" : "false");
	append_str(b, a->slack_message_format);
	sn_buf_appends(b, ",\"steps\":");
	sn_json_append(b, a->steps);
	sn_buf_appends(b, ",\"created_at\":");
	sn_rest_append_time(b, a->created_at_us);
	sn_buf_appends(b, ",\"updated_at\":");
	sn_rest_append_time(b, a->updated_at_us);
	sn_buf_appends(b, ",\"created_by\":");
	sn_rest_append_user(m, b, a->created_by);
	sn_buf_appendf(b,
		       ",\"deleted\":%s,\"is_calculating\":false,\"last_calculated_at\":null,"
		       "\"team_id\":%lld,\"is_action\":true,\"bytecode_error\":null,"
		       "\"pinned_at\":null,\"creation_context\":null,"
		       "\"user_access_level\":\"editor\"}",
		       a->deleted ? "true" : "false", (long long)a->team_id);
}

static void reply_action(struct sn_meta *m, struct sn_http_request *req, unsigned status,
			 const struct sn_action *a)
{
	struct sn_buf b;
	sn_buf_init(&b, SN_REST_ANSWER_MAX);
	append_action(m, &b, a);
	sn_rest_reply_buf(req, status, &b);
	sn_buf_release(&b);
}

struct list_ctx {
	struct sn_meta *meta;
	struct sn_buf *b;
	size_t n;
};

static int list_one(void *arg, const struct sn_action *a)
{
	struct list_ctx *lc = arg;
	if (lc->n++)
		sn_buf_appendc(lc->b, ',');
	append_action(lc->meta, lc->b, a);
	return 0;
}

static void list(struct sn_meta *m, struct sn_http_request *req, int64_t team_id)
{
	struct sn_meta_list_opts o = {.search = sn_http_query(req, "search")};
	sn_rest_page(req, &o.limit, &o.offset);
	struct sn_buf items;
	sn_buf_init(&items, SN_REST_ANSWER_MAX);
	struct list_ctx lc = {m, &items, 0};
	int64_t total = 0;
	struct sn_err err = {0};
	static const char *const keep[] = {"search", NULL};
	if (sn_meta_action_list(m, team_id, &o, &total, list_one, &lc, &err))
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	else
		sn_rest_reply_list(req, total, o.limit, o.offset, &items, keep);
	sn_buf_release(&items);
}

static void handle(struct sn_actions_api *api, struct sn_http_request *req,
		   const struct sn_rest_target *t)
{
	sn_http_cors(req, "GET, POST, PATCH, DELETE, OPTIONS");
	enum sn_http_method method = sn_http_method(req);
	if (method == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	struct sn_meta *m = api->meta;
	struct sn_user user;
	if (sn_api_auth_team(m, req, t->team_id, &user, NULL))
		return;
	struct sn_action a;
	struct sn_meta_verr ve;
	struct sn_err err = {0};
	struct json_object *body = NULL;
	memset(&ve, 0, sizeof(ve));
	if (t->what == SN_REST_LIST && method == SN_GET) {
		list(m, req, t->team_id);
	} else if (t->what == SN_REST_LIST && method == SN_POST) {
		if (!(body = sn_rest_parse_body(req)))
			return;
		if (sn_meta_action_create(m, t->team_id, user.id, body, &a, &ve)) {
			sn_rest_reply_verr(req, &ve);
		} else {
			reply_action(m, req, 201, &a);
			sn_action_release(&a);
		}
	} else if (t->what == SN_REST_LIST) {
		sn_rest_not_allowed(req);
	} else if (t->id <= 0) {
		sn_rest_not_found(req);
	} else if (t->what == SN_REST_ACTIVITY) {
		if (method != SN_GET) {
			sn_rest_not_allowed(req);
		} else if (sn_meta_action_get(m, t->team_id, t->id, &a, &err)) {
			sn_rest_not_found(req);
		} else {
			sn_rest_reply_activity(m, req, t->team_id, "Action", a.id);
			sn_action_release(&a);
		}
	} else if (method == SN_GET) {
		if (sn_meta_action_find(m, t->team_id, t->id, NULL, &a, &err)) {
			sn_rest_not_found(req);
		} else {
			reply_action(m, req, 200, &a);
			sn_action_release(&a);
		}
	} else if (method == SN_PATCH || method == SN_PUT) {
		if (!(body = sn_rest_parse_body(req)))
			return;
		if (sn_meta_action_update(m, t->team_id, t->id, user.id, body, &a, &ve)) {
			sn_rest_reply_verr(req, &ve);
		} else {
			reply_action(m, req, 200, &a);
			sn_action_release(&a);
		}
	} else if (method == SN_DELETE) {
		if (sn_meta_action_delete(m, t->team_id, t->id, user.id, &err))
			sn_rest_not_found(req);
		else
			sn_http_reply(req, 204, NULL, NULL, 0);
	} else {
		sn_rest_not_allowed(req);
	}
	if (body)
		json_object_put(body);
}

static void route_handler(struct sn_http_request *req, void *ctx)
{
	struct sn_rest_target t = sn_rest_parse_path(sn_http_path(req), "actions");
	if (t.what == SN_REST_NONE) {
		sn_rest_not_found(req);
		return;
	}
	handle(ctx, req, &t);
}

int sn_actions_api_new(struct sn_actions_api **out, struct sn_meta *meta, struct sn_err *err)
{
	struct sn_actions_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	*out = a;
	return 0;
}

void sn_actions_api_free(struct sn_actions_api *a)
{
	free(a);
}

size_t sn_actions_api_routes(struct sn_actions_api *a, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_POST | SN_PATCH | SN_PUT | SN_DELETE | SN_OPTIONS;
	const struct sn_http_route all[] = {
	    {"actions", m, "/api/projects/*/actions*", SN_REST_BODY_MAX, route_handler, a},
	    {"actions", m, "/api/environments/*/actions*", SN_REST_BODY_MAX, route_handler, a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
