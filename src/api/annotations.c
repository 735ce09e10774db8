/*
 * annotations.c — PostHog's annotations REST API over meta's model:
 *
 *   GET, POST          /api/projects/:id/annotations/
 *   GET, PATCH, DELETE /api/projects/:id/annotations/:annotation_id/
 *   GET                /api/projects/:id/annotations/:annotation_id/activity/
 *
 * (and the same under /api/environments/:id/). Authentication is auth.c's;
 * answers have AnnotationSerializer's fields. A list is newest date_marker
 * first with limit/offset, ?search= (content, case-insensitive) and
 * ?scope=, and includes the organization-scoped annotations of the
 * project's organization.
 *
 * Differences from PostHog, on purpose: DELETE soft-deletes (PostHog's
 * viewset has no destroy and answers 405; PATCH {"deleted": true} works
 * in both); insights and dashboards are not modelled, so dashboard_item and
 * dashboard_id are stored as given (not checked to exist) and
 * insight_short_id, insight_name, insight_derived_name and dashboard_name
 * answer null; the date_from / date_to / is_emoji filters are not
 * implemented.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/rest.h"

struct sn_annotations_api {
	struct sn_meta *meta;
};

static void append_annotation(struct sn_meta *m, struct sn_buf *b, const struct sn_annotation *a)
{
	sn_buf_appendf(b, "{\"id\":%lld,\"content\":", (long long)a->id);
	if (a->content)
		sn_buf_append_json_str(b, a->content, strlen(a->content));
	else
		sn_buf_appends(b, "null");
	sn_buf_appends(b, ",\"date_marker\":");
	if (a->has_date_marker)
		sn_rest_append_time(b, a->date_marker_us);
	else
		sn_buf_appends(b, "null");
	sn_buf_appendf(b, ",\"creation_type\":\"%s\",\"dashboard_item\":", a->creation_type);
	if (a->dashboard_item)
		sn_buf_appendf(b, "%lld", (long long)a->dashboard_item);
	else
		sn_buf_appends(b, "null");
	sn_buf_appends(b, ",\"dashboard_id\":");
	if (a->dashboard_id)
		sn_buf_appendf(b, "%lld", (long long)a->dashboard_id);
	else
		sn_buf_appends(b, "null");
	sn_buf_appendf(b,
		       ",\"dashboard_name\":null,\"insight_short_id\":null,\"insight_name\":null,"
		       "\"insight_derived_name\":null,\"scope\":\"%s\",\"created_by\":",
		       a->scope);
	sn_rest_append_user(m, b, a->created_by);
	sn_buf_appends(b, ",\"created_at\":");
	sn_rest_append_time(b, a->created_at_us);
	sn_buf_appends(b, ",\"updated_at\":");
	sn_rest_append_time(b, a->updated_at_us);
	sn_buf_appendf(b, ",\"deleted\":%s,\"team_id\":%lld}", a->deleted ? "true" : "false",
		       (long long)a->team_id);
}

static void reply_annotation(struct sn_meta *m, struct sn_http_request *req, unsigned status,
			     const struct sn_annotation *a)
{
	struct sn_buf b;
	sn_buf_init(&b, SN_REST_ANSWER_MAX);
	append_annotation(m, &b, a);
	sn_rest_reply_buf(req, status, &b);
	sn_buf_release(&b);
}

struct list_ctx {
	struct sn_meta *meta;
	struct sn_buf *b;
	size_t n;
};

static int list_one(void *arg, const struct sn_annotation *a)
{
	struct list_ctx *lc = arg;
	if (lc->n++)
		sn_buf_appendc(lc->b, ',');
	append_annotation(lc->meta, lc->b, a);
	return 0;
}

static void list(struct sn_meta *m, struct sn_http_request *req, int64_t team_id)
{
	struct sn_meta_list_opts o = {.search = sn_http_query(req, "search"),
				      .scope = sn_http_query(req, "scope")};
	sn_rest_page(req, &o.limit, &o.offset);
	struct sn_buf items;
	sn_buf_init(&items, SN_REST_ANSWER_MAX);
	struct list_ctx lc = {m, &items, 0};
	int64_t total = 0;
	struct sn_err err = {0};
	static const char *const keep[] = {"search", "scope", NULL};
	if (sn_meta_annotation_list(m, team_id, &o, &total, list_one, &lc, &err))
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	else
		sn_rest_reply_list(req, total, o.limit, o.offset, &items, keep);
	sn_buf_release(&items);
}

static void handle(struct sn_annotations_api *api, struct sn_http_request *req,
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
	struct sn_annotation a;
	struct sn_meta_verr ve;
	struct sn_err err = {0};
	struct json_object *body = NULL;
	memset(&ve, 0, sizeof(ve));
	if (t->what == SN_REST_LIST && method == SN_GET) {
		list(m, req, t->team_id);
	} else if (t->what == SN_REST_LIST && method == SN_POST) {
		if (!(body = sn_rest_parse_body(req)))
			return;
		if (sn_meta_annotation_create(m, t->team_id, user.id, body, &a, &ve)) {
			sn_rest_reply_verr(req, &ve);
		} else {
			reply_annotation(m, req, 201, &a);
			sn_annotation_release(&a);
		}
	} else if (t->what == SN_REST_LIST) {
		sn_rest_not_allowed(req);
	} else if (t->id <= 0) {
		sn_rest_not_found(req);
	} else if (t->what == SN_REST_ACTIVITY) {
		if (method != SN_GET) {
			sn_rest_not_allowed(req);
		} else if (sn_meta_annotation_get(m, t->team_id, t->id, &a, &err)) {
			sn_rest_not_found(req);
		} else {
			/* The history lives with the annotation's own team. */
			sn_rest_reply_activity(m, req, a.team_id, "Annotation", a.id);
			sn_annotation_release(&a);
		}
	} else if (method == SN_GET) {
		if (sn_meta_annotation_get(m, t->team_id, t->id, &a, &err)) {
			sn_rest_not_found(req);
		} else {
			reply_annotation(m, req, 200, &a);
			sn_annotation_release(&a);
		}
	} else if (method == SN_PATCH || method == SN_PUT) {
		if (!(body = sn_rest_parse_body(req)))
			return;
		if (sn_meta_annotation_update(m, t->team_id, t->id, user.id, body, &a, &ve)) {
			sn_rest_reply_verr(req, &ve);
		} else {
			reply_annotation(m, req, 200, &a);
			sn_annotation_release(&a);
		}
	} else if (method == SN_DELETE) {
		if (sn_meta_annotation_delete(m, t->team_id, t->id, user.id, &err))
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
	struct sn_rest_target t = sn_rest_parse_path(sn_http_path(req), "annotations");
	if (t.what == SN_REST_NONE) {
		sn_rest_not_found(req);
		return;
	}
	handle(ctx, req, &t);
}

int sn_annotations_api_new(struct sn_annotations_api **out, struct sn_meta *meta,
			   struct sn_err *err)
{
	struct sn_annotations_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	*out = a;
	return 0;
}

void sn_annotations_api_free(struct sn_annotations_api *a)
{
	free(a);
}

size_t sn_annotations_api_routes(struct sn_annotations_api *a, struct sn_http_route *routes,
				 size_t max)
{
	const unsigned m = SN_GET | SN_POST | SN_PATCH | SN_PUT | SN_DELETE | SN_OPTIONS;
	const struct sn_http_route all[] = {
	    {"annotations", m, "/api/projects/*/annotations*", SN_REST_BODY_MAX, route_handler, a},
	    {"annotations", m, "/api/environments/*/annotations*", SN_REST_BODY_MAX, route_handler,
	     a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
