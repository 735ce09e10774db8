/*
 * dashboards_api.c — PostHog's dashboards REST API over meta's model:
 *
 *   GET, POST          /api/projects/:id/dashboards/
 *   GET, PATCH, DELETE /api/projects/:id/dashboards/:dashboard_id/
 *   GET                /api/projects/:id/dashboards/:dashboard_id/activity/
 *   GET, PATCH         /api/projects/:id/dashboards/:dashboard_id/sharing/
 *   POST               /api/projects/:id/dashboards/:dashboard_id/sharing/refresh/
 *   GET                /shared_dashboard/<access_token>     (no login)
 *
 * (and the same under /api/environments/:id/). A dashboard answers in
 * DashboardSerializer's shape; a list in DashboardBasicSerializer's (no
 * tiles), pinned first then by name as PostHog orders it.
 *
 * Tiles. Each tile carries its insight in InsightSerializer's shape with
 * the result of the insight's query under the dashboard's filters (or a
 * ?filters_override= object): the date range replaced and the properties
 * ANDed (sn_saved_query_with_filters), so a tile answers exactly what the
 * insight answers alone with those filters, from the same result cache
 * (the key hashes the effective query). ?refresh= picks the mode as for
 * insights (insights_api.c).
 *
 *   tiles ──prepare (cache lookups, this thread)──▶ pending tiles
 *         ──compute: N threads take the next pending tile──▶ results
 *         ──sort by the "sm" layout (y, x), then id──▶ JSON
 *
 * Refreshing runs the pending tiles on one thread per core (this worker
 * and N - 1 helpers, N ≤ the pending count), the kinds that usually cost
 * most (retention, lifecycle, paths, funnels) first, each query's scan on
 * one thread: tiles are independent, so whole queries in parallel waste
 * nothing on merging, and a dashboard is usually many small queries. A
 * single pending tile runs alone with the executor's own threads. Results
 * do not depend on the threads: the executor's parallel scans reproduce
 * one thread's answer.
 *
 * Sharing. A dashboard's secret link is its sharing configuration's
 * access token; /shared_dashboard/<token> answers the dashboard with tile
 * results (JSON) without a login while sharing is enabled, 404 otherwise.
 * Shared views never show users (created_by is null) and compute what is
 * missing or stale (refresh "blocking"; PostHog maps shared views to a
 * background refresh that its page polls, which a JSON client cannot).
 *
 * Differences from PostHog, on purpose: DELETE soft-deletes (PostHog
 * answers 405); tiles may also be given on create; a tile edit without the
 * id of a tile of this dashboard is a 400 (PostHog creates an empty tile);
 * no templates, duplication, variables, button tiles or restriction
 * levels; the shared page is JSON, not HTML.
 */
#include "api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/auth.h"
#include "api/rest.h"

#define POOL_MAX 8

struct sn_dashboards_api {
	struct sn_meta *meta;
	struct sn_insights_api *insights;
};

/* ---- tiles ---------------------------------------------------------------------------------- */

struct tile {
	int64_t id, insight_id, text_id;
	char *body, *color;
	int64_t text_created_by, text_modified_by, text_modified_at_us;
	struct json_object *layouts; /* reference */
	bool have_insight;
	struct sn_meta_insight ins;
	struct json_object *query; /* the effective query (reference) */
	struct sn_saved_result r;
};

struct tiles {
	struct tile *v;
	size_t n, cap;
};

static int collect_tile(void *arg, const struct sn_meta_tile *t)
{
	struct tiles *ts = arg;
	if (ts->n == ts->cap) {
		size_t nc = ts->cap ? ts->cap * 2 : 16;
		struct tile *nv = realloc(ts->v, nc * sizeof(*nv));
		if (!nv)
			return 1;
		ts->v = nv;
		ts->cap = nc;
	}
	struct tile *x = &ts->v[ts->n++];
	memset(x, 0, sizeof(*x));
	x->id = t->id;
	x->insight_id = t->insight_id;
	x->text_id = t->text_id;
	x->body = t->text_body ? strdup(t->text_body) : NULL;
	x->color = t->color ? strdup(t->color) : NULL;
	x->text_created_by = t->text_created_by;
	x->text_modified_by = t->text_modified_by;
	x->text_modified_at_us = t->text_modified_at_us;
	x->layouts = json_object_get(t->layouts);
	return 0;
}

static void tiles_release(struct tiles *ts)
{
	for (size_t i = 0; i < ts->n; i++) {
		struct tile *x = &ts->v[i];
		free(x->body);
		free(x->color);
		json_object_put(x->layouts);
		json_object_put(x->query);
		if (x->have_insight)
			sn_meta_insight_release(&x->ins);
		sn_saved_result_release(&x->r);
	}
	free(ts->v);
	memset(ts, 0, sizeof(*ts));
}

/* PostHog's sort_tiles_by_layout("sm"): by the small layout's y, then x;
 * tiles without one after, then by id. */
static int64_t layout_num(const struct tile *t, const char *k)
{
	struct json_object *sm = json_object_object_get(t->layouts, "sm");
	struct json_object *v = sn_json_get(sm, k);
	return v && (json_object_is_type(v, json_type_int) ||
		     json_object_is_type(v, json_type_double))
		   ? json_object_get_int64(v)
		   : INT64_MAX;
}

static int tile_cmp(const void *x, const void *y)
{
	const struct tile *a = x, *b = y;
	int64_t ay = layout_num(a, "y"), by = layout_num(b, "y");
	if (ay != by)
		return ay < by ? -1 : 1;
	int64_t ax = layout_num(a, "x"), bx = layout_num(b, "x");
	if (ax != bx)
		return ax < bx ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

struct pool {
	struct sn_insights_api *ins;
	const struct sn_team *team;
	struct tile **pending;
	size_t n;
	size_t next; /* atomic */
	unsigned threads;
};

static void *pool_main(void *arg)
{
	struct pool *p = arg;
	for (;;) {
		size_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
		if (i >= p->n)
			break;
		sn_saved_result_compute(p->ins, p->team, &p->pending[i]->r, p->threads);
	}
	return NULL;
}

/* A guess at a tile's cost, so the threads start the slow ones first and a
 * slow tile taken last does not run alone at the end (longest first). */
static int cost_guess(const struct tile *t)
{
	struct json_object *q = t->r.query;
	const char *kind = sn_json_str(sn_json_get(q, "kind"), NULL);
	if (kind && (!strcmp(kind, "InsightVizNode") || !strcmp(kind, "DataTableNode") ||
		     !strcmp(kind, "DataVisualizationNode"))) {
		q = sn_json_get(q, "source");
		kind = sn_json_str(sn_json_get(q, "kind"), NULL);
	}
	static const struct {
		const char *kind;
		int cost;
	} costs[] = {{"RetentionQuery", 5},
		     {"LifecycleQuery", 4},
		     {"PathsQuery", 4},
		     {"FunnelsQuery", 3},
		     {"StickinessQuery", 2}};
	for (size_t i = 0; kind && i < SN_ARRAY_LEN(costs); i++)
		if (!strcmp(kind, costs[i].kind))
			return costs[i].cost;
	return sn_json_get(q, "breakdownFilter") ? 2 : 1;
}

static int cost_cmp(const void *x, const void *y)
{
	const struct tile *a = *(const struct tile *const *)x, *b = *(const struct tile *const *)y;
	int ca = cost_guess(a), cb = cost_guess(b);
	if (ca != cb)
		return cb - ca;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Computes the pending tiles: one at a time with the executor's threads
 * when there is one, else on up to one thread per core, slowest kinds
 * first. */
static void compute_tiles(struct sn_dashboards_api *a, const struct sn_team *team, struct tiles *ts)
{
	struct tile **pending = calloc(ts->n ? ts->n : 1, sizeof(*pending));
	size_t n = 0;
	if (!pending)
		return;
	for (size_t i = 0; i < ts->n; i++)
		if (ts->v[i].r.pending)
			pending[n++] = &ts->v[i];
	if (n > 1)
		qsort(pending, n, sizeof(*pending), cost_cmp);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nthreads = cores < 1 ? 1 : (size_t)cores;
	if (nthreads > POOL_MAX)
		nthreads = POOL_MAX;
	if (nthreads > n)
		nthreads = n;
	struct pool p = {a->insights, team, pending, n, 0, nthreads > 1 ? 1 : 0};
	pthread_t helpers[POOL_MAX];
	size_t started = 0;
	for (size_t i = 1; i < nthreads; i++)
		if (pthread_create(&helpers[started], NULL, pool_main, &p) == 0)
			started++;
	pool_main(&p);
	for (size_t i = 0; i < started; i++)
		pthread_join(helpers[i], NULL);
	free(pending);
}

/* ---- JSON ------------------------------------------------------------------------------------ */

static void append_str_or_null(struct sn_buf *b, const char *s)
{
	if (s)
		sn_buf_append_json_str(b, s, strlen(s));
	else
		sn_buf_appends(b, "null");
}

static void append_time_or_null(struct sn_buf *b, int64_t us)
{
	if (us)
		sn_rest_append_time(b, us);
	else
		sn_buf_appends(b, "null");
}

static void append_user(struct sn_dashboards_api *a, struct sn_buf *b, int64_t id, bool public_view)
{
	if (public_view)
		sn_buf_appends(b, "null");
	else
		sn_rest_append_user(a->meta, b, id);
}

/* The fields of DashboardBasicSerializer, without the closing brace. */
static void append_basic(struct sn_dashboards_api *a, struct sn_buf *b,
			 const struct sn_meta_dashboard *d, int64_t last_refresh_us,
			 bool public_view)
{
	sn_buf_appendf(b, "{\"id\":%lld,\"name\":", (long long)d->id);
	append_str_or_null(b, d->name);
	sn_buf_appends(b, ",\"description\":");
	append_str_or_null(b, d->description);
	sn_buf_appendf(b, ",\"pinned\":%s,\"created_at\":", d->pinned ? "true" : "false");
	sn_rest_append_time(b, d->created_at_us);
	sn_buf_appends(b, ",\"created_by\":");
	append_user(a, b, d->created_by, public_view);
	sn_buf_appends(b, ",\"last_accessed_at\":");
	append_time_or_null(b, d->last_accessed_at_us);
	sn_buf_appendf(b,
		       ",\"last_viewed_at\":null,\"is_shared\":%s,\"deleted\":%s,"
		       "\"creation_mode\":\"default\",\"tags\":",
		       d->is_shared ? "true" : "false", d->deleted ? "true" : "false");
	sn_json_append(b, d->tags);
	sn_buf_appendf(b,
		       ",\"restriction_level\":21,\"effective_restriction_level\":21,"
		       "\"effective_privilege_level\":%d,\"user_access_level\":\"%s\","
		       "\"access_control_version\":\"v2\",\"last_refresh\":",
		       public_view ? 21 : 37, public_view ? "viewer" : "editor");
	append_time_or_null(b, last_refresh_us);
	sn_buf_appendf(b, ",\"team_id\":%lld", (long long)d->team_id);
}

static void append_tile(struct sn_dashboards_api *a, struct sn_buf *b, const struct tile *t,
			size_t order, const struct sn_team *team, bool public_view)
{
	sn_buf_appendf(b, "{\"id\":%lld,\"layouts\":", (long long)t->id);
	sn_json_append(b, t->layouts);
	sn_buf_appends(b, ",\"color\":");
	append_str_or_null(b, t->color);
	sn_buf_appends(b, ",\"insight\":");
	if (t->have_insight)
		sn_saved_insight_append(a->insights, b, &t->ins, t->query, &t->r, team,
					public_view);
	else
		sn_buf_appends(b, "null");
	sn_buf_appends(b, ",\"text\":");
	if (t->text_id > 0) {
		sn_buf_appendf(b, "{\"id\":%lld,\"body\":", (long long)t->text_id);
		append_str_or_null(b, t->body);
		sn_buf_appends(b, ",\"created_by\":");
		append_user(a, b, t->text_created_by, public_view);
		sn_buf_appends(b, ",\"last_modified_by\":");
		append_user(a, b, t->text_modified_by, public_view);
		sn_buf_appends(b, ",\"last_modified_at\":");
		append_time_or_null(b, t->text_modified_at_us);
		sn_buf_appendf(b, ",\"team\":%lld}", (long long)team->id);
	} else {
		sn_buf_appends(b, "null");
	}
	sn_buf_appendf(b,
		       ",\"button_tile\":null,\"show_description\":null,"
		       "\"transparent_background\":null,\"filters_overrides\":null,\"order\":%zu,"
		       "\"last_refresh\":",
		       order);
	append_time_or_null(b, t->have_insight ? t->r.last_refresh_us : 0);
	sn_buf_appendf(b, ",\"is_cached\":%s",
		       t->have_insight && t->r.is_cached ? "true" : "false");
	if (t->have_insight && t->r.error_status) {
		sn_buf_appends(b, ",\"error\":{\"type\":\"query_error\",\"message\":");
		append_str_or_null(b, t->r.error);
		sn_buf_appendc(b, '}');
	}
	sn_buf_appendc(b, '}');
}

/* The whole dashboard (DashboardSerializer) with tile results under mode
 * and filters (the dashboard's, or an override). */
static void append_dashboard(struct sn_dashboards_api *a, struct sn_buf *b,
			     const struct sn_team *team, const struct sn_meta_dashboard *d,
			     struct json_object *filters, enum sn_refresh mode, bool public_view)
{
	struct tiles ts = {0};
	struct sn_err err = {0};
	if (!d->deleted)
		sn_meta_dashboard_tiles(a->meta, team->id, d->id, collect_tile, &ts, &err);
	for (size_t i = 0; i < ts.n; i++) {
		struct tile *t = &ts.v[i];
		if (t->insight_id <= 0 ||
		    sn_meta_insight_get(a->meta, team->id, t->insight_id, &t->ins, &err))
			continue;
		t->have_insight = true;
		t->query = sn_saved_query_with_filters(t->ins.query, filters);
		sn_saved_result_prepare(a->insights, team, t->ins.id, d->id, t->query, mode, &t->r);
	}
	compute_tiles(a, team, &ts);
	if (ts.n)
		qsort(ts.v, ts.n, sizeof(*ts.v), tile_cmp);
	int64_t last = 0;
	for (size_t i = 0; i < ts.n; i++)
		if (ts.v[i].have_insight && ts.v[i].r.last_refresh_us > last)
			last = ts.v[i].r.last_refresh_us;
	append_basic(a, b, d, last, public_view);
	sn_buf_appends(b, ",\"filters\":");
	sn_json_append(b, filters);
	sn_buf_appends(b, ",\"variables\":{},\"breakdown_colors\":[],\"data_color_theme_id\":null,"
			  "\"persisted_filters\":");
	if (d->filters && json_object_object_length(d->filters) > 0)
		sn_json_append(b, d->filters);
	else
		sn_buf_appends(b, "null");
	sn_buf_appends(b, ",\"persisted_variables\":null,\"quick_filter_ids\":[],\"tiles\":[");
	for (size_t i = 0; i < ts.n; i++) {
		if (i)
			sn_buf_appendc(b, ',');
		append_tile(a, b, &ts.v[i], i, team, public_view);
	}
	sn_buf_appends(b, "]}");
	tiles_release(&ts);
}

static void reply_dashboard(struct sn_dashboards_api *a, struct sn_http_request *req,
			    unsigned status, const struct sn_team *team,
			    const struct sn_meta_dashboard *d, struct json_object *filters,
			    enum sn_refresh mode, bool public_view)
{
	struct sn_buf b;
	sn_buf_init(&b, SN_REST_ANSWER_MAX);
	append_dashboard(a, &b, team, d, filters ? filters : d->filters, mode, public_view);
	sn_rest_reply_buf(req, status, &b);
	sn_buf_release(&b);
}

/* ---- handlers ---------------------------------------------------------------------------------
 */

struct list_ctx {
	struct sn_dashboards_api *a;
	struct sn_buf *b;
	size_t n;
};

static int list_one(void *arg, const struct sn_meta_dashboard *d)
{
	struct list_ctx *lc = arg;
	if (lc->n++)
		sn_buf_appendc(lc->b, ',');
	append_basic(lc->a, lc->b, d, 0, false);
	sn_buf_appendc(lc->b, '}');
	return 0;
}

static void list(struct sn_dashboards_api *a, struct sn_http_request *req, int64_t team_id)
{
	struct sn_meta_list_opts o = {.search = sn_http_query(req, "search")};
	sn_rest_page(req, &o.limit, &o.offset);
	struct sn_buf items;
	sn_buf_init(&items, SN_REST_ANSWER_MAX);
	struct list_ctx lc = {a, &items, 0};
	int64_t total = 0;
	struct sn_err err = {0};
	static const char *const keep[] = {"search", NULL};
	if (sn_meta_dashboard_list(a->meta, team_id, &o, &total, list_one, &lc, &err))
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	else
		sn_rest_reply_list(req, total, o.limit, o.offset, &items, keep);
	sn_buf_release(&items);
}

static void reply_sharing(struct sn_http_request *req, const struct sn_meta_sharing *s)
{
	struct sn_buf b;
	sn_buf_init(&b, 4096);
	sn_buf_appends(&b, "{\"created_at\":");
	sn_rest_append_time(&b, s->created_at_us);
	sn_buf_appendf(&b, ",\"enabled\":%s,\"access_token\":", s->enabled ? "true" : "false");
	append_str_or_null(&b, s->access_token);
	sn_buf_appends(&b,
		       ",\"settings\":null,\"password_required\":false,\"share_passwords\":[]}");
	sn_rest_reply_buf(req, 200, &b);
	sn_buf_release(&b);
}

enum sharing_op { SHARING_NONE, SHARING, SHARING_REFRESH };

/* ".../dashboards/<id>/sharing[/refresh]/": the operation and the id. */
static enum sharing_op sharing_path(const char *path, int64_t *id)
{
	const char *p = strstr(path, "/dashboards/");
	if (!p)
		return SHARING_NONE;
	p += strlen("/dashboards/");
	char *end;
	long long v = strtoll(p, &end, 10);
	if (end == p || v <= 0)
		return SHARING_NONE;
	*id = v;
	if (!strcmp(end, "/sharing") || !strcmp(end, "/sharing/"))
		return SHARING;
	if (!strcmp(end, "/sharing/refresh") || !strcmp(end, "/sharing/refresh/"))
		return SHARING_REFRESH;
	return SHARING_NONE;
}

static void handle_sharing(struct sn_dashboards_api *a, struct sn_http_request *req,
			   const struct sn_user *user, int64_t team_id, enum sharing_op op,
			   int64_t id)
{
	enum sn_http_method method = sn_http_method(req);
	struct sn_meta_sharing s;
	struct sn_err err = {0};
	int rc;
	if (op == SHARING_REFRESH) {
		if (method != SN_POST) {
			sn_rest_not_allowed(req);
			return;
		}
		rc = sn_meta_sharing_update(a->meta, team_id, id, user->id, -1, true, &s, &err);
	} else if (method == SN_GET) {
		rc = sn_meta_sharing_get(a->meta, team_id, id, &s, &err);
	} else if (method == SN_PATCH || method == SN_PUT) {
		struct json_object *body = sn_rest_parse_body(req);
		if (!body)
			return;
		struct json_object *en;
		int enabled = -1;
		if (json_object_object_get_ex(body, "enabled", &en)) {
			if (!json_object_is_type(en, json_type_boolean)) {
				json_object_put(body);
				sn_http_reply_error(req, 400, "validation_error", "invalid",
						    "Must be a valid boolean.", "enabled");
				return;
			}
			enabled = json_object_get_boolean(en);
		}
		json_object_put(body);
		rc = sn_meta_sharing_update(a->meta, team_id, id, user->id, enabled, false, &s,
					    &err);
	} else {
		sn_rest_not_allowed(req);
		return;
	}
	if (rc == SN_ERR_NOT_FOUND)
		sn_rest_not_found(req);
	else if (rc)
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	else
		reply_sharing(req, &s);
}

static void handle(void *ctx, struct sn_http_request *req)
{
	struct sn_dashboards_api *a = ctx;
	const char *path = sn_http_path(req);
	struct sn_rest_target t = sn_rest_parse_path(path, "dashboards");
	enum sn_http_method method = sn_http_method(req);
	struct sn_user user;
	struct sn_team team;
	if (sn_api_auth_team(a->meta, req, t.team_id, &user, &team))
		return;
	int64_t sid = 0;
	enum sharing_op op = sharing_path(path, &sid);
	if (op != SHARING_NONE) {
		handle_sharing(a, req, &user, team.id, op, sid);
		return;
	}
	enum sn_refresh mode;
	if (sn_refresh_parse(sn_http_query(req, "refresh"), &mode)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_choice",
				    "refresh must be one of force_cache, blocking, force_blocking, "
				    "async, lazy_async, force_async, async_except_on_cache_miss, "
				    "true, false",
				    "refresh");
		return;
	}
	struct json_object *override = NULL, *body = NULL;
	const char *fo = sn_http_query(req, "filters_override");
	if (fo && *fo &&
	    (sn_json_parse(fo, strlen(fo), &override, NULL) ||
	     !json_object_is_type(override, json_type_object))) {
		json_object_put(override);
		sn_http_reply_error(req, 400, "validation_error", "invalid",
				    "filters_override must be a JSON object {\"date_from\", "
				    "\"date_to\", \"properties\"}",
				    "filters_override");
		return;
	}
	struct sn_meta_dashboard d;
	struct sn_meta_verr ve;
	struct sn_err err = {0};
	memset(&ve, 0, sizeof(ve));
	if (t.what == SN_REST_LIST && method == SN_GET) {
		list(a, req, team.id);
	} else if (t.what == SN_REST_LIST && method == SN_POST) {
		if (!(body = sn_rest_parse_body(req)))
			goto out;
		if (sn_meta_dashboard_create(a->meta, team.id, user.id, body, &d, &ve)) {
			sn_rest_reply_verr(req, &ve);
		} else {
			reply_dashboard(a, req, 201, &team, &d, override, mode, false);
			sn_meta_dashboard_release(&d);
		}
	} else if (t.what == SN_REST_LIST) {
		sn_rest_not_allowed(req);
	} else if (t.id <= 0) {
		sn_rest_not_found(req);
	} else if (t.what == SN_REST_ACTIVITY) {
		if (method != SN_GET) {
			sn_rest_not_allowed(req);
		} else if (sn_meta_dashboard_get(a->meta, team.id, t.id, &d, &err)) {
			sn_rest_not_found(req);
		} else {
			sn_rest_reply_activity(a->meta, req, team.id, "Dashboard", d.id);
			sn_meta_dashboard_release(&d);
		}
	} else if (method == SN_GET) {
		int rc = sn_meta_dashboard_get(a->meta, team.id, t.id, &d, &err);
		if (rc || d.deleted) {
			if (rc == 0)
				sn_meta_dashboard_release(&d);
			sn_rest_not_found(req);
		} else {
			sn_meta_dashboard_touch(a->meta, team.id, d.id, NULL);
			d.last_accessed_at_us = sn_now_us();
			reply_dashboard(a, req, 200, &team, &d, override, mode, false);
			sn_meta_dashboard_release(&d);
		}
	} else if (method == SN_PATCH || method == SN_PUT) {
		if (!(body = sn_rest_parse_body(req)))
			goto out;
		if (sn_meta_dashboard_update(a->meta, team.id, t.id, user.id, body, &d, &ve)) {
			sn_rest_reply_verr(req, &ve);
		} else {
			reply_dashboard(a, req, 200, &team, &d, override, mode, false);
			sn_meta_dashboard_release(&d);
		}
	} else if (method == SN_DELETE) {
		if (sn_meta_dashboard_delete(a->meta, team.id, t.id, user.id, &err))
			sn_rest_not_found(req);
		else
			sn_http_reply(req, 204, NULL, NULL, 0);
	} else {
		sn_rest_not_allowed(req);
	}
out:
	json_object_put(body);
	json_object_put(override);
}

/* GET /shared_dashboard/<token>: the dashboard behind an enabled secret
 * link, read-only, without a login. */
static void handle_shared(void *ctx, struct sn_http_request *req)
{
	struct sn_dashboards_api *a = ctx;
	const char *tok = sn_http_path(req) + strlen("/shared_dashboard/");
	char token[64];
	size_t n = strcspn(tok, "/");
	struct sn_meta_sharing s;
	struct sn_meta_dashboard d;
	struct sn_team team;
	struct sn_err err = {0};
	if (n == 0 || n >= sizeof(token) || (tok[n] && strcmp(tok + n, "/"))) {
		sn_rest_not_found(req);
		return;
	}
	memcpy(token, tok, n);
	token[n] = 0;
	if (sn_meta_sharing_by_token(a->meta, token, &s, &err) ||
	    sn_meta_team_get(a->meta, s.team_id, &team, &err)) {
		sn_rest_not_found(req);
		return;
	}
	if (sn_meta_dashboard_get(a->meta, s.team_id, s.dashboard_id, &d, &err)) {
		sn_rest_not_found(req);
		return;
	}
	enum sn_refresh mode = SN_REFRESH_BLOCKING, asked;
	if (sn_refresh_parse(sn_http_query(req, "refresh"), &asked) == 0 &&
	    (asked == SN_REFRESH_ASYNC || asked == SN_REFRESH_LAZY_ASYNC))
		mode = asked;
	reply_dashboard(a, req, 200, &team, &d, NULL, mode, true);
	sn_meta_dashboard_release(&d);
}

static void route_handler(struct sn_http_request *req, void *ctx)
{
	struct sn_dashboards_api *a = ctx;
	sn_http_cors(req, "GET, POST, PATCH, DELETE, OPTIONS");
	if (sn_http_method(req) == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	struct sn_rest_target t = sn_rest_parse_path(sn_http_path(req), "dashboards");
	if (t.what == SN_REST_NONE) {
		sn_rest_not_found(req);
		return;
	}
	sn_insights_api_defer(a->insights, req, handle, a);
}

static void shared_handler(struct sn_http_request *req, void *ctx)
{
	struct sn_dashboards_api *a = ctx;
	sn_http_cors(req, "GET, OPTIONS");
	if (sn_http_method(req) == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	sn_insights_api_defer(a->insights, req, handle_shared, a);
}

int sn_dashboards_api_new(struct sn_dashboards_api **out, struct sn_meta *meta,
			  struct sn_insights_api *insights, struct sn_err *err)
{
	struct sn_dashboards_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	a->insights = insights;
	*out = a;
	return 0;
}

void sn_dashboards_api_free(struct sn_dashboards_api *a)
{
	free(a);
}

size_t sn_dashboards_api_routes(struct sn_dashboards_api *a, struct sn_http_route *routes,
				size_t max)
{
	const unsigned m = SN_GET | SN_POST | SN_PATCH | SN_PUT | SN_DELETE | SN_OPTIONS;
	const struct sn_http_route all[] = {
	    {"dashboards", m, "/api/projects/*/dashboards*", SN_REST_BODY_MAX, route_handler, a},
	    {"dashboards", m, "/api/environments/*/dashboards*", SN_REST_BODY_MAX, route_handler,
	     a},
	    {"shared_dashboard", SN_GET | SN_OPTIONS, "/shared_dashboard/*", 0, shared_handler, a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
