/*
 * insights_api.c — PostHog's saved insights REST API over meta's model, and
 * the result machinery dashboards share:
 *
 *   GET, POST          /api/projects/:id/insights/
 *   GET, PATCH, DELETE /api/projects/:id/insights/:insight_id/
 *   GET                /api/projects/:id/insights/:insight_id/activity/
 *
 * (and the same under /api/environments/:id/). Answers have
 * InsightSerializer's fields; a list is newest first with limit/offset,
 * ?search=, ?short_id=, ?saved=, ?favorited=, ?user=true and ?basic=true.
 *
 * Results. An insight's answer carries the result of its query, computed
 * by query.c's sn_query_api_run_node and kept in meta's result cache
 * (snout_query_cache) under a key that hashes what the result depends on:
 *
 *   key = "cache_" + sha256("snout-insight-v1", team id, time zone, week
 *         start, test-account filters, path cleaning rules,
 *         canonical JSON of the effective query)[0:32]
 *
 * where the effective query is the insight's query with a dashboard's
 * filters applied (sn_saved_query_with_filters) and canonical JSON sorts
 * object keys, so {"a":1,"b":2} and {"b":2,"a":1} share a result. A changed
 * query misses by construction; meta also drops the insight's rows when
 * its query changes. ?refresh= picks PostHog's ExecutionMode (enum
 * sn_refresh in api.h): force_cache (the default) never computes, blocking
 * computes when nothing fresh is cached, force_blocking always, async /
 * lazy_async / force_async answer what is cached and compute in the
 * background. Freshness is PostHog's is_stale: a result is stale once
 * older than the threshold of the query's interval (minute 5 min, hour 1 h,
 * day 6 h, week 1 day, month 2 days; lazy: 15 min, 2 h, 12 h, 1 day, 2
 * days; HogQL counts as minute), except that a result computed after the
 * query's absolute date_to (+10 s) never goes stale.
 *
 * Threads. A request that may compute must not hold an HTTP thread (they
 * also serve capture), so every request of this API and of
 * dashboards_api.c runs on a worker thread of its own (sn_insights_api_
 * defer: the connection is suspended meanwhile), at most WORKERS_MAX at
 * once. Background refreshes run on detached threads too, at most BG_MAX,
 * one per cache key (a second request for a key being computed only says
 * so in query_status). sn_insights_api_close waits for both. No json-c
 * object is shared between threads (their reference counts and
 * serialisation buffers are not thread-safe): a background job and each
 * dashboard tile work on deep copies of their query.
 *
 * Differences from PostHog, on purpose: DELETE soft-deletes (PostHog
 * answers 405; PATCH {"deleted": true} works too); "filters" answers as
 * stored (PostHog answers {} once a query exists); a query error on a
 * dashboard tile is reported on the tile ("error") instead of failing the
 * whole dashboard; no alerts, no InsightViewed, no CSV; is_sample false.
 */
#include "api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/rest.h"

#define WORKERS_MAX    16
#define BG_MAX	       8
#define RESPONSE_MAX   ((size_t)64 << 20)
#define KEY_MAX	       48
#define REFRESH_GAP_US ((int64_t)60 * 1000000) /* PostHog's _refresh_frequency */
#define DATE_TO_SLACK  ((int64_t)10 * 1000000)
#define MINUTE_US      ((int64_t)60 * 1000000)
#define HOUR_US	       (60 * MINUTE_US)
#define DAY_US	       (24 * HOUR_US)

struct sn_insights_api {
	struct sn_meta *meta;
	struct sn_query_api *query;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	unsigned workers;   /* request workers running (close waits for them) */
	unsigned answering; /* requests not yet answered: what WORKERS_MAX limits */
	unsigned bg;	    /* background computations running */
	bool closing;
	char inflight[BG_MAX][KEY_MAX]; /* keys computed in the background ("" = free) */
};

/* ---- request workers ----------------------------------------------------------------- */

struct work {
	struct sn_insights_api *a;
	struct sn_http_request *req;
	void (*fn)(void *ctx, struct sn_http_request *req);
	void *ctx;
};

static void *work_main(void *arg)
{
	struct work *w = arg;
	struct sn_insights_api *a = w->a;
	w->fn(w->ctx, w->req);
	/* Answered: a client's next request may arrive before this thread is
	 * scheduled again, and must not find this one still counted. */
	pthread_mutex_lock(&a->mu);
	a->answering--;
	pthread_mutex_unlock(&a->mu);
	sn_http_complete(w->req);
	free(w);
	pthread_mutex_lock(&a->mu);
	a->workers--;
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

int sn_insights_api_defer(struct sn_insights_api *a, struct sn_http_request *req,
			  void (*fn)(void *ctx, struct sn_http_request *req), void *ctx)
{
	pthread_mutex_lock(&a->mu);
	if (a->closing) {
		pthread_mutex_unlock(&a->mu);
		sn_http_reply_error(req, 503, "server_error", "shutting_down",
				    "the server is shutting down; retry", NULL);
		return SN_ERR_CLOSED;
	}
	if (a->answering >= WORKERS_MAX) {
		pthread_mutex_unlock(&a->mu);
		sn_http_add_header(req, "Retry-After", "1");
		sn_http_reply_error(req, 429, "throttled", "too_many_requests",
				    "too many insight and dashboard requests are running; retry "
				    "shortly",
				    NULL);
		return SN_ERR_TOO_BIG;
	}
	a->workers++;
	a->answering++;
	pthread_mutex_unlock(&a->mu);
	struct work *w = malloc(sizeof(*w));
	pthread_t t;
	pthread_attr_t attr;
	bool started = false;
	if (w) {
		*w = (struct work){a, req, fn, ctx};
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		sn_http_defer(req);
		started = pthread_create(&t, &attr, work_main, w) == 0;
		pthread_attr_destroy(&attr);
	}
	if (started)
		return 0;
	free(w);
	pthread_mutex_lock(&a->mu);
	a->workers--;
	a->answering--;
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mu);
	sn_http_reply_error(req, 503, "server_error", "unavailable", "cannot start a worker; retry",
			    NULL);
	sn_http_complete(req); /* harmless when not deferred */
	return SN_ERR_INTERNAL;
}

/* ---- refresh modes, keys, staleness ----------------------------------------------------- */

int sn_refresh_parse(const char *s, enum sn_refresh *out)
{
	static const struct {
		const char *name;
		enum sn_refresh mode;
	} modes[] = {
	    {"force_cache", SN_REFRESH_FORCE_CACHE},
	    {"false", SN_REFRESH_FORCE_CACHE},
	    {"0", SN_REFRESH_FORCE_CACHE},
	    {"blocking", SN_REFRESH_BLOCKING},
	    {"force_blocking", SN_REFRESH_FORCE_BLOCKING},
	    {"true", SN_REFRESH_FORCE_BLOCKING},
	    {"1", SN_REFRESH_FORCE_BLOCKING},
	    {"async", SN_REFRESH_ASYNC},
	    {"lazy_async", SN_REFRESH_LAZY_ASYNC},
	    {"force_async", SN_REFRESH_FORCE_ASYNC},
	    {"async_except_on_cache_miss", SN_REFRESH_ASYNC_EXCEPT_ON_MISS},
	};
	*out = SN_REFRESH_FORCE_CACHE;
	if (!s || !*s)
		return 0;
	for (size_t i = 0; i < SN_ARRAY_LEN(modes); i++)
		if (!strcmp(s, modes[i].name)) {
			*out = modes[i].mode;
			return 0;
		}
	return SN_ERR_INVALID;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

static bool is_null(struct json_object *o)
{
	return !o || json_object_is_type(o, json_type_null);
}

static bool is_wrapper(const char *kind)
{
	return kind && (!strcmp(kind, "InsightVizNode") || !strcmp(kind, "DataTableNode") ||
			!strcmp(kind, "DataVisualizationNode"));
}

/* The node that runs: a wrapper's source, else q. */
static struct json_object *runnable(struct json_object *q)
{
	if (is_wrapper(sn_json_str(sn_json_get(q, "kind"), NULL)))
		return sn_json_get(q, "source");
	return q;
}

static int key_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* JSON with every object's keys sorted: the same query written in another
 * key order hashes the same. */
static void canon(struct sn_buf *b, struct json_object *o)
{
	if (json_object_is_type(o, json_type_object)) {
		size_t n = (size_t)json_object_object_length(o), i = 0;
		const char **keys = calloc(n ? n : 1, sizeof(*keys));
		if (!keys)
			return;
		json_object_object_foreach(o, k, v)
		{
			(void)v;
			keys[i++] = k;
		}
		qsort(keys, n, sizeof(*keys), key_cmp);
		sn_buf_appendc(b, '{');
		for (i = 0; i < n; i++) {
			if (i)
				sn_buf_appendc(b, ',');
			sn_buf_append_json_str(b, keys[i], strlen(keys[i]));
			sn_buf_appendc(b, ':');
			canon(b, sn_json_get(o, keys[i]));
		}
		sn_buf_appendc(b, '}');
		free(keys);
	} else if (json_object_is_type(o, json_type_array)) {
		sn_buf_appendc(b, '[');
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (i)
				sn_buf_appendc(b, ',');
			canon(b, json_object_array_get_idx(o, i));
		}
		sn_buf_appendc(b, ']');
	} else {
		sn_buf_appends(b,
			       o ? json_object_to_json_string_ext(
				       o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
				 : "null");
	}
}

static void make_key(const struct sn_team *t, struct json_object *q, char out[KEY_MAX])
{
	struct sn_buf b;
	sn_buf_init(&b, RESPONSE_MAX);
	sn_buf_appendf(&b, "snout-insight-v1\n%lld\n%s\n%d\n", (long long)t->id, t->timezone,
		       t->week_start_day);
	sn_buf_appends(&b, t->test_account_filters);
	sn_buf_appendc(&b, '\n');
	sn_buf_appends(&b, t->path_cleaning_filters);
	sn_buf_appendc(&b, '\n');
	canon(&b, q);
	char hex[65];
	sn_sha256_hex(b.data ? b.data : "", b.len, hex);
	snprintf(out, KEY_MAX, "cache_%.32s", hex);
	sn_buf_release(&b);
}

/* PostHog's interval_name of the query's date range ("minute" without one). */
static void interval_of(struct json_object *node, char out[8])
{
	static const char *const known[] = {"minute", "hour", "day", "week", "month"};
	const char *kind = sn_json_str(sn_json_get(node, "kind"), NULL);
	const char *iv = NULL;
	char low[8] = "";
	if (!kind || !strcmp(kind, "HogQLQuery") || !strcmp(kind, "ActorsQuery") ||
	    !strcmp(kind, "InsightActorsQuery")) {
		iv = "minute";
	} else if (!strcmp(kind, "RetentionQuery")) {
		const char *p =
		    sn_json_str(sn_json_get(sn_json_get(node, "retentionFilter"), "period"), NULL);
		for (size_t i = 0; p && p[i] && i < sizeof(low) - 1; i++)
			low[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
		iv = low;
	} else {
		iv = sn_json_str(sn_json_get(node, "interval"), NULL);
	}
	if (!iv || !in_list(iv, known, SN_ARRAY_LEN(known)))
		iv = "day";
	snprintf(out, 8, "%s", iv);
}

static int64_t threshold_us(const char *interval, bool lazy)
{
	if (!strcmp(interval, "minute"))
		return lazy ? 15 * MINUTE_US : 5 * MINUTE_US;
	if (!strcmp(interval, "hour"))
		return lazy ? 2 * HOUR_US : HOUR_US;
	if (!strcmp(interval, "week"))
		return DAY_US;
	if (!strcmp(interval, "month"))
		return 2 * DAY_US;
	return lazy ? 12 * HOUR_US : 6 * HOUR_US; /* day, and PostHog's None */
}

/* The query's absolute date_to in µs (a date alone: the end of that day,
 * UTC), or 0 when it is relative or absent (then "now"). */
static int64_t date_to_us(struct json_object *node)
{
	const char *kind = sn_json_str(sn_json_get(node, "kind"), NULL);
	struct json_object *dr = sn_json_get(node, "dateRange");
	if (kind && !strcmp(kind, "HogQLQuery"))
		dr = sn_json_get(sn_json_get(node, "filters"), "dateRange");
	const char *s = sn_json_str(sn_json_get(dr, "date_to"), NULL);
	int64_t us = 0;
	if (!s || sn_meta_parse_datetime(s, &us))
		return 0;
	if (strlen(s) == 10)
		us += DAY_US - 1;
	return us;
}

static bool is_stale(const struct sn_saved_result *r, bool lazy)
{
	int64_t dt = date_to_us(runnable(r->query));
	if (dt && dt < r->last_refresh_us - DATE_TO_SLACK)
		return false;
	return sn_now_us() > r->last_refresh_us + threshold_us(r->interval, lazy);
}

/* ---- dashboard filters -------------------------------------------------------------------- */

static bool nonempty(struct json_object *v)
{
	if (json_object_is_type(v, json_type_array))
		return json_object_array_length(v) > 0;
	return json_object_is_type(v, json_type_object) && json_object_object_length(v) > 0;
}

static struct json_object *and_group(struct json_object *values)
{
	struct json_object *g = json_object_new_object();
	json_object_object_add(g, "type", json_object_new_string("AND"));
	json_object_object_add(g, "values", values);
	return g;
}

/* A deep copy (NULL for NULL): the effective query shares nothing with the
 * dashboard's filters, because tiles run on several threads and json-c
 * objects must not be shared between threads. */
static struct json_object *copy_of(struct json_object *o)
{
	struct json_object *c = NULL;
	if (o && json_object_deep_copy(o, &c, NULL))
		return NULL;
	return c;
}

struct json_object *sn_saved_query_with_filters(struct json_object *query,
						struct json_object *filters)
{
	struct json_object *copy = NULL;
	if (!query || json_object_deep_copy(query, &copy, NULL))
		return NULL;
	if (!nonempty(filters))
		return copy;
	struct json_object *node = runnable(copy);
	const char *kind = sn_json_str(sn_json_get(node, "kind"), NULL);
	if (!json_object_is_type(node, json_type_object) || !kind)
		return copy;
	struct json_object *props = sn_json_get(filters, "properties");
	struct json_object *df = sn_json_get(filters, "date_from");
	struct json_object *dt = sn_json_get(filters, "date_to");
	bool dates = !is_null(df) || !is_null(dt);
	bool hogql = !strcmp(kind, "HogQLQuery");
	static const char *const filterable[] = {"TrendsQuery",	    "FunnelsQuery",
						 "StickinessQuery", "LifecycleQuery",
						 "RetentionQuery",  "PathsQuery"};
	if (!hogql && !in_list(kind, filterable, SN_ARRAY_LEN(filterable)))
		return copy;
	/* HogQLQuery keeps both in its "filters" (HogQLFilters), which apply
	 * where the text says {filters}; the insights keep them at the top. */
	struct json_object *holder = node;
	if (hogql) {
		holder = sn_json_get(node, "filters");
		if (!json_object_is_type(holder, json_type_object)) {
			holder = json_object_new_object();
			json_object_object_add(node, "filters", holder);
		}
	}
	if (nonempty(props)) {
		struct json_object *own = sn_json_get(holder, "properties");
		struct json_object *dash = copy_of(props);
		if (hogql && json_object_is_type(own, json_type_array)) {
			/* HogQLFilters.properties: the two lists concatenated */
			for (size_t i = 0; i < json_object_array_length(dash); i++)
				json_object_array_add(
				    own, json_object_get(json_object_array_get_idx(dash, i)));
			/* (dash is this call's own copy: sharing its items is fine) */
			json_object_put(dash);
		} else if (!hogql && nonempty(own)) {
			struct json_object *vals = json_object_new_array();
			json_object_array_add(vals, json_object_is_type(own, json_type_array)
							? and_group(json_object_get(own))
							: json_object_get(own));
			json_object_array_add(vals, and_group(dash));
			json_object_object_add(holder, "properties", and_group(vals));
		} else {
			json_object_object_add(holder, "properties", dash);
		}
	}
	if (dates) {
		struct json_object *dr = sn_json_get(holder, "dateRange");
		if (!json_object_is_type(dr, json_type_object)) {
			dr = json_object_new_object();
			json_object_object_add(holder, "dateRange", dr);
		}
		/* PostHog sets both, so a dashboard with only date_from also
		 * clears the insight's date_to. */
		json_object_object_add(dr, "date_from", copy_of(df));
		json_object_object_add(dr, "date_to", copy_of(dt));
	}
	return copy;
}

/* ---- results ------------------------------------------------------------------------------- */

void sn_saved_result_release(struct sn_saved_result *r)
{
	if (!r)
		return;
	json_object_put(r->response);
	json_object_put(r->query);
	memset(r, 0, sizeof(*r));
}

struct bg_job {
	struct sn_insights_api *a;
	struct sn_team team;
	struct sn_saved_result r;
	int slot;
};

static void *bg_main(void *arg)
{
	struct bg_job *j = arg;
	struct sn_insights_api *a = j->a;
	sn_saved_result_compute(a, &j->team, &j->r, 0);
	if (j->r.error_status)
		sn_log_warn("insights: background refresh of %s failed: %s", j->r.cache_key,
			    j->r.error);
	sn_saved_result_release(&j->r);
	pthread_mutex_lock(&a->mu);
	a->inflight[j->slot][0] = 0;
	a->bg--;
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mu);
	free(j);
	return NULL;
}

/* Starts computing r's query in the background unless it already is (or
 * the API closes, or BG_MAX run): r->computing says whether one runs. */
static void start_bg(struct sn_insights_api *a, const struct sn_team *team,
		     struct sn_saved_result *r)
{
	int slot = -1;
	pthread_mutex_lock(&a->mu);
	for (int i = 0; i < BG_MAX; i++) {
		if (!strcmp(a->inflight[i], r->cache_key)) {
			pthread_mutex_unlock(&a->mu);
			r->computing = true;
			return;
		}
		if (slot < 0 && !a->inflight[i][0])
			slot = i;
	}
	if (a->closing || slot < 0) {
		pthread_mutex_unlock(&a->mu);
		return;
	}
	snprintf(a->inflight[slot], KEY_MAX, "%s", r->cache_key);
	a->bg++;
	pthread_mutex_unlock(&a->mu);
	struct bg_job *j = calloc(1, sizeof(*j));
	bool started = false;
	if (j) {
		j->a = a;
		j->team = *team;
		j->slot = slot;
		snprintf(j->r.cache_key, KEY_MAX, "%s", r->cache_key);
		snprintf(j->r.interval, sizeof(j->r.interval), "%s", r->interval);
		j->r.insight_id = r->insight_id;
		j->r.dashboard_id = r->dashboard_id;
		/* Its own copy: json-c objects are not safe to share between
		 * threads (reference counts and the serialisation buffer). */
		j->r.pending = json_object_deep_copy(r->query, &j->r.query, NULL) == 0;
		pthread_t t;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		started = j->r.pending && pthread_create(&t, &attr, bg_main, j) == 0;
		pthread_attr_destroy(&attr);
	}
	if (started) {
		r->computing = true;
		return;
	}
	if (j)
		sn_saved_result_release(&j->r);
	free(j);
	pthread_mutex_lock(&a->mu);
	a->inflight[slot][0] = 0;
	a->bg--;
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mu);
}

void sn_saved_result_prepare(struct sn_insights_api *a, const struct sn_team *team,
			     int64_t insight_id, int64_t dashboard_id, struct json_object *query,
			     enum sn_refresh mode, struct sn_saved_result *out)
{
	memset(out, 0, sizeof(*out));
	out->insight_id = insight_id;
	out->dashboard_id = dashboard_id;
	if (!json_object_is_type(query, json_type_object))
		return; /* legacy filters only: nothing snout can compute */
	out->query = json_object_get(query);
	interval_of(runnable(query), out->interval);
	make_key(team, query, out->cache_key);
	if (mode == SN_REFRESH_FORCE_BLOCKING) {
		out->pending = true;
		return;
	}
	struct sn_meta_cached_result c;
	struct sn_err err = {0};
	if (sn_meta_result_cache_get(a->meta, team->id, out->cache_key, &c, &err) == 0) {
		struct json_object *resp = NULL;
		if (sn_json_parse(c.response, c.len, &resp, NULL) == 0) {
			out->response = resp;
			out->is_cached = true;
			out->last_refresh_us = c.last_refresh_us;
			out->target_age_us = c.target_age_us;
		}
		sn_meta_cached_result_release(&c);
	}
	bool hit = out->response != NULL;
	if (mode == SN_REFRESH_FORCE_ASYNC) {
		start_bg(a, team, out);
		return;
	}
	if (hit && !is_stale(out, false))
		return;
	switch (mode) {
	case SN_REFRESH_FORCE_CACHE: return;
	case SN_REFRESH_BLOCKING: out->pending = true; return;
	case SN_REFRESH_ASYNC_EXCEPT_ON_MISS:
		if (!hit)
			out->pending = true;
		else
			start_bg(a, team, out);
		return;
	case SN_REFRESH_LAZY_ASYNC:
		if (!hit || is_stale(out, true))
			start_bg(a, team, out);
		return;
	default: /* async */ start_bg(a, team, out); return;
	}
}

void sn_saved_result_compute(struct sn_insights_api *a, const struct sn_team *team,
			     struct sn_saved_result *r, unsigned threads)
{
	if (!r->pending)
		return;
	r->pending = false;
	struct sn_buf b;
	sn_buf_init(&b, RESPONSE_MAX);
	struct sn_err err = {0};
	int64_t now = sn_now_us();
	int rc = sn_query_api_run_node(a->query, team, runnable(r->query), threads, &b, &err);
	struct json_object *resp = NULL;
	if (rc == 0 && sn_json_parse(b.data ? b.data : "", b.len, &resp, &err))
		rc = SN_ERR_INTERNAL;
	if (rc) {
		r->error_status = rc == SN_ERR_INVALID || rc == SN_ERR_TOO_BIG ? 400 : 500;
		snprintf(r->error, sizeof(r->error), "%s",
			 err.msg[0] ? err.msg : "the query could not be computed");
		sn_buf_release(&b);
		return;
	}
	json_object_put(r->response);
	r->response = resp;
	r->is_cached = false;
	r->last_refresh_us = now;
	r->target_age_us = now + threshold_us(r->interval, false);
	struct sn_meta_cached_result c = {.response = b.data,
					  .len = b.len,
					  .last_refresh_us = now,
					  .target_age_us = r->target_age_us};
	if (sn_meta_result_cache_put(a->meta, team->id, r->cache_key, r->insight_id,
				     r->dashboard_id, &c, &err))
		sn_log_warn("insights: cannot cache a result: %s", err.msg);
	sn_buf_release(&b);
}

/* ---- the insight's JSON --------------------------------------------------------------------- */

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

static void append_json_or_null(struct sn_buf *b, struct json_object *o)
{
	if (o)
		sn_json_append(b, o);
	else
		sn_buf_appends(b, "null");
}

void sn_saved_insight_append(struct sn_insights_api *a, struct sn_buf *b,
			     const struct sn_meta_insight *ins, struct json_object *query,
			     const struct sn_saved_result *r, const struct sn_team *team,
			     bool public_view)
{
	sn_buf_appendf(b, "{\"id\":%lld,\"short_id\":", (long long)ins->id);
	append_str_or_null(b, ins->short_id);
	sn_buf_appends(b, ",\"name\":");
	append_str_or_null(b, ins->name);
	sn_buf_appends(b, ",\"derived_name\":");
	append_str_or_null(b, ins->derived_name);
	sn_buf_appends(b, ",\"filters\":");
	append_json_or_null(b, ins->filters);
	sn_buf_appends(b, ",\"query\":");
	append_json_or_null(b, query);
	sn_buf_appendf(b, ",\"order\":null,\"deleted\":%s,\"dashboards\":[",
		       ins->deleted ? "true" : "false");
	size_t nt = ins->dashboard_tiles ? json_object_array_length(ins->dashboard_tiles) : 0;
	for (size_t i = 0; i < nt; i++)
		sn_buf_appendf(
		    b, "%s%lld", i ? "," : "",
		    (long long)json_object_get_int64(sn_json_get(
			json_object_array_get_idx(ins->dashboard_tiles, i), "dashboard_id")));
	sn_buf_appends(b, "],\"dashboard_tiles\":");
	append_json_or_null(b, ins->dashboard_tiles);
	if (r) {
		sn_buf_appends(b, ",\"last_refresh\":");
		append_time_or_null(b, r->last_refresh_us);
		sn_buf_appends(b, ",\"cache_target_age\":");
		append_time_or_null(b, r->last_refresh_us ? r->target_age_us : 0);
		sn_buf_appends(b, ",\"next_allowed_client_refresh\":");
		append_time_or_null(b,
				    r->last_refresh_us ? r->last_refresh_us + REFRESH_GAP_US : 0);
		static const char *const from_response[][2] = {{"result", "results"},
							       {"hasMore", "hasMore"},
							       {"columns", "columns"},
							       {"hogql", "hogql"},
							       {"types", "types"}};
		for (size_t i = 0; i < SN_ARRAY_LEN(from_response); i++) {
			sn_buf_appendf(b, ",\"%s\":", from_response[i][0]);
			append_json_or_null(b, sn_json_get(r->response, from_response[i][1]));
		}
		sn_buf_appendf(b,
			       ",\"is_cached\":%s,\"timezone\":", r->is_cached ? "true" : "false");
		append_str_or_null(b, team->timezone[0] ? team->timezone : "UTC");
		sn_buf_appends(b, ",\"query_status\":");
		if (r->computing) {
			sn_buf_appends(b, "{\"id\":");
			append_str_or_null(b, r->cache_key);
			sn_buf_appendf(b,
				       ",\"team_id\":%lld,\"query_async\":true,\"complete\":false,"
				       "\"error\":false}",
				       (long long)team->id);
		} else {
			sn_buf_appends(b, "null");
		}
		sn_buf_appends(b, ",\"filters_hash\":");
		append_str_or_null(b, r->cache_key[0] ? r->cache_key : NULL);
	}
	sn_buf_appends(b, ",\"created_at\":");
	sn_rest_append_time(b, ins->created_at_us);
	sn_buf_appends(b, ",\"created_by\":");
	if (public_view)
		sn_buf_appends(b, "null");
	else
		sn_rest_append_user(a->meta, b, ins->created_by);
	sn_buf_appends(b, ",\"description\":");
	append_str_or_null(b, ins->description ? ins->description : "");
	sn_buf_appends(b, ",\"updated_at\":");
	sn_rest_append_time(b, ins->updated_at_us);
	sn_buf_appends(b, ",\"tags\":");
	append_json_or_null(b, ins->tags);
	sn_buf_appendf(b, ",\"favorited\":%s,\"saved\":%s,\"last_modified_at\":",
		       ins->favorited ? "true" : "false", ins->saved ? "true" : "false");
	sn_rest_append_time(b, ins->last_modified_at_us);
	sn_buf_appends(b, ",\"last_modified_by\":");
	if (public_view)
		sn_buf_appends(b, "null");
	else
		sn_rest_append_user(a->meta, b, ins->last_modified_by);
	sn_buf_appendf(b,
		       ",\"is_sample\":false,\"effective_restriction_level\":21,"
		       "\"effective_privilege_level\":%d,\"user_access_level\":\"%s\"}",
		       public_view ? 21 : 37, public_view ? "viewer" : "editor");
}

/* ---- the REST API ---------------------------------------------------------------------------- */

static void reply_result_error(struct sn_http_request *req, const struct sn_saved_result *r)
{
	if (r->error_status == 400)
		sn_http_reply_error(req, 400, "validation_error", "query_error", r->error, "query");
	else
		sn_http_reply_error(req, 500, "server_error", "error", r->error, NULL);
}

struct tile_find {
	int64_t insight_id;
	struct json_object *layouts; /* a reference, or NULL */
	char color[64];
	bool has_color, found;
};

static int tile_find_one(void *arg, const struct sn_meta_tile *t)
{
	struct tile_find *f = arg;
	if (t->insight_id != f->insight_id || f->found)
		return 0;
	f->found = true;
	f->layouts = json_object_get(t->layouts);
	if (t->color) {
		f->has_color = true;
		snprintf(f->color, sizeof(f->color), "%s", t->color);
	}
	return 0;
}

/* The insight with its result under mode (and a dashboard's filters when
 * from is a dashboard with a tile of it), answered with status. */
static void reply_insight(struct sn_insights_api *a, struct sn_http_request *req, unsigned status,
			  const struct sn_team *team, const struct sn_meta_insight *ins,
			  enum sn_refresh mode, int64_t from_dashboard)
{
	struct sn_meta_dashboard d = {0};
	struct json_object *filters = NULL;
	struct tile_find tf = {.insight_id = ins->id};
	bool on_dashboard = false;
	if (from_dashboard > 0 &&
	    sn_meta_dashboard_get(a->meta, team->id, from_dashboard, &d, NULL) == 0 && !d.deleted &&
	    sn_meta_dashboard_tiles(a->meta, team->id, from_dashboard, tile_find_one, &tf, NULL) ==
		0 &&
	    tf.found) {
		on_dashboard = true;
		filters = d.filters;
	}
	struct json_object *q = sn_saved_query_with_filters(ins->query, filters);
	struct sn_saved_result r;
	sn_saved_result_prepare(a, team, ins->id, on_dashboard ? from_dashboard : 0, q, mode, &r);
	sn_saved_result_compute(a, team, &r, 0);
	if (r.error_status) {
		reply_result_error(req, &r);
	} else {
		struct sn_buf b;
		sn_buf_init(&b, SN_REST_ANSWER_MAX);
		sn_saved_insight_append(a, &b, ins, q, &r, team, false);
		if (on_dashboard && b.len > 0) {
			/* PostHog adds the tile's color and layouts in a dashboard's context. */
			b.len--;
			sn_buf_appends(&b, ",\"color\":");
			append_str_or_null(&b, tf.has_color ? tf.color : NULL);
			sn_buf_appends(&b, ",\"layouts\":");
			append_json_or_null(&b, tf.layouts);
			sn_buf_appendc(&b, '}');
		}
		sn_rest_reply_buf(req, status, &b);
		sn_buf_release(&b);
	}
	sn_saved_result_release(&r);
	json_object_put(q);
	json_object_put(tf.layouts);
	sn_meta_dashboard_release(&d);
}

struct list_ctx {
	struct sn_insights_api *a;
	struct sn_buf *b;
	const struct sn_team *team;
	enum sn_refresh mode;
	bool basic;
	size_t n;
};

static int list_one(void *arg, const struct sn_meta_insight *ins)
{
	struct list_ctx *lc = arg;
	if (lc->n++)
		sn_buf_appendc(lc->b, ',');
	if (lc->basic) {
		sn_saved_insight_append(lc->a, lc->b, ins, ins->query, NULL, lc->team, false);
		return 0;
	}
	struct sn_saved_result r;
	sn_saved_result_prepare(lc->a, lc->team, ins->id, 0, ins->query, lc->mode, &r);
	sn_saved_result_compute(lc->a, lc->team, &r, 0);
	sn_saved_insight_append(lc->a, lc->b, ins, ins->query, &r, lc->team, false);
	sn_saved_result_release(&r);
	return 0;
}

/* "true"/"1" → 1, "false"/"0" → 0, absent → -1. */
static int query_bool(struct sn_http_request *req, const char *name)
{
	const char *v = sn_http_query(req, name);
	bool b;
	if (!v || !*v || sn_parse_bool(v, &b))
		return -1;
	return b;
}

static void list(struct sn_insights_api *a, struct sn_http_request *req, const struct sn_team *team,
		 const struct sn_user *user, enum sn_refresh mode)
{
	struct sn_meta_insight_list_opts o = {.search = sn_http_query(req, "search"),
					      .short_id = sn_http_query(req, "short_id"),
					      .saved = query_bool(req, "saved"),
					      .favorited = query_bool(req, "favorited"),
					      .created_by =
						  query_bool(req, "user") == 1 ? user->id : 0};
	sn_rest_page(req, &o.limit, &o.offset);
	struct sn_buf items;
	sn_buf_init(&items, SN_REST_ANSWER_MAX);
	struct list_ctx lc = {a, &items, team, mode, query_bool(req, "basic") == 1, 0};
	int64_t total = 0;
	struct sn_err err = {0};
	static const char *const keep[] = {"search", "short_id", "saved",   "favorited",
					   "user",   "basic",	 "refresh", NULL};
	if (sn_meta_insight_list(a->meta, team->id, &o, &total, list_one, &lc, &err))
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	else
		sn_rest_reply_list(req, total, o.limit, o.offset, &items, keep);
	sn_buf_release(&items);
}

static void handle(void *ctx, struct sn_http_request *req)
{
	struct sn_insights_api *a = ctx;
	struct sn_rest_target t = sn_rest_parse_path(sn_http_path(req), "insights");
	enum sn_http_method method = sn_http_method(req);
	struct sn_user user;
	struct sn_team team;
	if (sn_api_auth_team(a->meta, req, t.team_id, &user, &team))
		return;
	enum sn_refresh mode;
	if (sn_refresh_parse(sn_http_query(req, "refresh"), &mode)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_choice",
				    "refresh must be one of force_cache, blocking, force_blocking, "
				    "async, lazy_async, force_async, async_except_on_cache_miss, "
				    "true, false",
				    "refresh");
		return;
	}
	struct sn_meta_insight ins;
	struct sn_meta_verr ve;
	struct sn_err err = {0};
	struct json_object *body = NULL;
	memset(&ve, 0, sizeof(ve));
	if (t.what == SN_REST_LIST && method == SN_GET) {
		list(a, req, &team, &user, mode);
	} else if (t.what == SN_REST_LIST && method == SN_POST) {
		if (!(body = sn_rest_parse_body(req)))
			return;
		if (sn_meta_insight_create(a->meta, team.id, user.id, body, &ins, &ve)) {
			sn_rest_reply_verr(req, &ve);
		} else {
			reply_insight(a, req, 201, &team, &ins, mode, 0);
			sn_meta_insight_release(&ins);
		}
	} else if (t.what == SN_REST_LIST) {
		sn_rest_not_allowed(req);
	} else if (t.id <= 0) {
		sn_rest_not_found(req);
	} else if (t.what == SN_REST_ACTIVITY) {
		if (method != SN_GET) {
			sn_rest_not_allowed(req);
		} else if (sn_meta_insight_get(a->meta, team.id, t.id, &ins, &err)) {
			sn_rest_not_found(req);
		} else {
			sn_rest_reply_activity(a->meta, req, team.id, "Insight", ins.id);
			sn_meta_insight_release(&ins);
		}
	} else if (method == SN_GET) {
		int rc = sn_meta_insight_get(a->meta, team.id, t.id, &ins, &err);
		if (rc || ins.deleted) {
			if (rc == 0)
				sn_meta_insight_release(&ins);
			sn_rest_not_found(req);
		} else {
			reply_insight(a, req, 200, &team, &ins, mode,
				      sn_rest_query_int(req, "from_dashboard", 0));
			sn_meta_insight_release(&ins);
		}
	} else if (method == SN_PATCH || method == SN_PUT) {
		if (!(body = sn_rest_parse_body(req)))
			return;
		if (sn_meta_insight_update(a->meta, team.id, t.id, user.id, body, &ins, &ve)) {
			sn_rest_reply_verr(req, &ve);
		} else {
			reply_insight(a, req, 200, &team, &ins, mode, 0);
			sn_meta_insight_release(&ins);
		}
	} else if (method == SN_DELETE) {
		if (sn_meta_insight_delete(a->meta, team.id, t.id, user.id, &err))
			sn_rest_not_found(req);
		else
			sn_http_reply(req, 204, NULL, NULL, 0);
	} else {
		sn_rest_not_allowed(req);
	}
	json_object_put(body);
}

static void route_handler(struct sn_http_request *req, void *ctx)
{
	sn_http_cors(req, "GET, POST, PATCH, DELETE, OPTIONS");
	if (sn_http_method(req) == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	struct sn_rest_target t = sn_rest_parse_path(sn_http_path(req), "insights");
	if (t.what == SN_REST_NONE) {
		sn_rest_not_found(req);
		return;
	}
	sn_insights_api_defer(ctx, req, handle, ctx);
}

int sn_insights_api_new(struct sn_insights_api **out, struct sn_meta *meta,
			struct sn_query_api *query, struct sn_err *err)
{
	struct sn_insights_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	a->query = query;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->idle, NULL);
	*out = a;
	return 0;
}

void sn_insights_api_close(struct sn_insights_api *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->closing = true;
	while (a->workers > 0 || a->bg > 0)
		pthread_cond_wait(&a->idle, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

void sn_insights_api_free(struct sn_insights_api *a)
{
	if (!a)
		return;
	sn_insights_api_close(a);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->idle);
	free(a);
}

size_t sn_insights_api_routes(struct sn_insights_api *a, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_POST | SN_PATCH | SN_PUT | SN_DELETE | SN_OPTIONS;
	const struct sn_http_route all[] = {
	    {"insights", m, "/api/projects/*/insights*", SN_REST_BODY_MAX, route_handler, a},
	    {"insights", m, "/api/environments/*/insights*", SN_REST_BODY_MAX, route_handler, a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
