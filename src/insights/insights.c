/*
 * insights.c — the entry point: validates the query node's kind, sets up
 * the request context (time zone, pinned or real "now", arena, the log of
 * generated HogQL) and hands the node to the kind's file (trends.c).
 *
 * Every HogQL statement an insight runs goes through run_hogql, so the
 * response's "hogql" field shows exactly what ran and a failing generated
 * query surfaces as a query error with its text instead of a bare 500.
 */
#include "insights/insights_internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOGQL_LOG_MAX ((size_t)1 << 20)

struct par2 {
	void (*fn)(void *ctx, unsigned half);
	void *ctx;
};

static void *par2_main(void *arg)
{
	struct par2 *p = arg;
	p->fn(p->ctx, 1);
	return NULL;
}

static size_t par_min_rows = 200000;

void sn_insight_set_parallel(size_t min_rows)
{
	par_min_rows = min_rows;
}

bool insight_parallel(size_t rows)
{
	return par_min_rows && rows >= par_min_rows;
}

void insight_par2(void (*fn)(void *ctx, unsigned half), void *ctx, bool parallel)
{
	struct par2 p = {fn, ctx};
	pthread_t th;
	if (!parallel || sn_thread_start_beside(&th, par2_main, &p) != 0) {
		fn(ctx, 0); /* one thread: the halves in turn, same answer */
		fn(ctx, 1);
		return;
	}
	fn(ctx, 0);
	pthread_join(th, NULL);
}

int ifail(struct ictx *x, const char *type, const char *fmt, ...)
{
	if (x->err->msg[0])
		return SN_ERR_INVALID; /* the first error wins */
	snprintf(x->err->type, sizeof(x->err->type), "%s", type);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->err->msg, sizeof(x->err->msg), fmt, ap);
	va_end(ap);
	return SN_ERR_INVALID;
}

struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;
	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return NULL;
	return v;
}

const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);
	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

bool jbool(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);
	return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

void ictx_init(struct ictx *x, const struct sn_insight_opts *o, struct sn_arena *a,
	       struct sn_insight_error *err)
{
	memset(err, 0, sizeof(*err));
	*x = (struct ictx){
	    .o = o,
	    .a = a,
	    .err = err,
	    .tz = o->team.timezone && o->team.timezone[0] ? o->team.timezone : "UTC",
	    .now_utc = o->now_us ? o->now_us : sn_now_us(),
	    .sample = "",
	};
	x->now_loc = loc_of_utc(x->tz, x->now_utc);
}

/* Adds q to the statements the response lists in "hogql" (up to a bound). */
static void log_hogql(struct ictx *x, const char *q, size_t len)
{
	if (x->hogql_log && x->hogql_log->len < HOGQL_LOG_MAX) {
		if (x->hogql_log->len)
			sn_buf_appends(x->hogql_log, "\n\n");
		sn_buf_append(x->hogql_log, q, len);
	}
}

int run_hogql(struct ictx *x, const char *q, size_t len, struct sn_insight_table *out)
{
	log_hogql(x, q, len);
	memset(out, 0, sizeof(*out));
	int rc =
	    x->o->backend.query(x->o->backend.ctx, x->a, q, len, x->max_rows, out, &x->err->hogql);
	if (rc == SN_ERR_INVALID) {
		/* The generated query is ours: a failure is a limitation (an
		 * unsupported function, a bad hogql expression from the user). */
		const char *m = x->err->hogql.msg[0] ? x->err->hogql.msg : "the query failed";
		ifail(x, "query_error", "%s", m);
	}
	return rc;
}

int run_hogql_stream(struct ictx *x, const char *q, size_t len, insight_sink_fn sink, void *sctx,
		     size_t *nrows)
{
	const struct sn_insight_backend *be = &x->o->backend;
	*nrows = 0;
	if (!be->stream) {
		struct sn_insight_table tab;
		int rc = run_hogql(x, q, len, &tab);
		if (rc == 0 && tab.nrows)
			rc = sink(sctx, 0, tab.cells, tab.nrows, tab.ncols);
		*nrows = tab.nrows;
		return rc;
	}
	log_hogql(x, q, len);
	int rc = be->stream(be->ctx, q, len, x->max_rows, sink, sctx, nrows, &x->err->hogql);
	if (rc == SN_ERR_INVALID && x->err->hogql.msg[0] && !x->err->type[0]) /* not the sink's */
		ifail(x, "query_error", "%s", x->err->hogql.msg);
	return rc;
}

/* samplingFactor (PostHog's insights, InsightActorsQuery's from its source):
 * absent, null or 1 reads every event; a number in (0, 1) puts
 * " SAMPLE <f>" on each events source (ictx.sample), as PostHog's query
 * runners set SampleExpr on the events table; anything else is refused. */
static int parse_sampling(struct ictx *x, struct json_object *q)
{
	struct json_object *v = jget(q, "samplingFactor");
	const char *kind = jstr(q, "kind");
	if (!v && kind && strcmp(kind, "InsightActorsQuery") == 0)
		v = jget(jget(q, "source"), "samplingFactor");
	if (!v)
		return 0;
	double f = json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)
		       ? json_object_get_double(v)
		       : -1;
	if (!(f > 0 && f <= 1))
		return ifail(x, "validation_error",
			     "samplingFactor must be a number greater than 0 and at most 1");
	if (f == 1)
		return 0;
	char num[40];
	snprintf(num, sizeof(num), "%.15g", f);
	if (strtod(num, NULL) != f)
		snprintf(num, sizeof(num), "%.17g", f);
	char *t = sn_arena_alloc(x->a, strlen(num) + 9);
	if (!t)
		return SN_ERR_NOMEM;
	sprintf(t, " SAMPLE %s", num);
	x->sample = t;
	return 0;
}

bool sn_insight_kind_supported(const char *kind)
{
	static const char *const kinds[] = {
	    "TrendsQuery", "FunnelsQuery", "StickinessQuery",	 "LifecycleQuery", "RetentionQuery",
	    "PathsQuery",  "ActorsQuery",  "InsightActorsQuery", "EventsQuery"};
	for (size_t i = 0; kind && i < SN_ARRAY_LEN(kinds); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

int sn_insight_run(const struct sn_insight_opts *o, struct json_object *q, struct sn_buf *out,
		   struct sn_insight_error *err)
{
	struct sn_arena a;
	/* The rows funnels, retention, lifecycle and paths reduce in C (up to
	 * millions) live here: the budget of one query, not of the answer. */
	sn_arena_init(&a, INSIGHT_MEM_LIMIT);
	struct sn_buf log;
	sn_buf_init(&log, HOGQL_LOG_MAX + 4096);
	struct ictx x;
	ictx_init(&x, o, &a, err);
	x.hogql_log = &log;
	size_t start = out->len;
	int rc = sn_buf_appendc(out, '{');
	const char *kind = jstr(q, "kind");
	if (rc)
		;
	else if (!json_object_is_type(q, json_type_object) || !kind)
		rc = ifail(&x, "validation_error", "The query needs a string 'kind'");
	else if ((rc = parse_sampling(&x, q)))
		;
	else if (is_cohort_breakdown(q) &&
		 (strcmp(kind, "TrendsQuery") == 0 || strcmp(kind, "FunnelsQuery") == 0 ||
		  strcmp(kind, "RetentionQuery") == 0))
		rc = cohort_breakdown_run(&x, q, kind,
					  kind[0] == 'T'   ? trends_run
					  : kind[0] == 'F' ? funnels_run
							   : retention_run,
					  out);
	else if (strcmp(kind, "TrendsQuery") == 0)
		rc = trends_run(&x, q, out);
	else if (strcmp(kind, "FunnelsQuery") == 0)
		rc = funnels_run(&x, q, out);
	else if (strcmp(kind, "StickinessQuery") == 0)
		rc = stickiness_run(&x, q, out);
	else if (strcmp(kind, "LifecycleQuery") == 0)
		rc = lifecycle_run(&x, q, out);
	else if (strcmp(kind, "RetentionQuery") == 0)
		rc = retention_run(&x, q, out);
	else if (strcmp(kind, "PathsQuery") == 0)
		rc = paths_run(&x, q, out);
	else if (strcmp(kind, "InsightActorsQuery") == 0 || strcmp(kind, "ActorsQuery") == 0)
		rc = actors_run(&x, q, out);
	else if (strcmp(kind, "EventsQuery") == 0)
		rc = events_query_run(&x, q, out);
	else
		rc = ifail(&x, "not_supported", "Query kind '%s' is not supported yet", kind);
	if (rc == 0) {
		/* The members every insight response has (PostHog's QueryResponse). */
		rc = sn_buf_appends(out, ",\"hogql\":");
		rc = rc ? rc : sn_buf_append_json_str(out, log.data ? log.data : "", log.len);
		rc = rc ? rc : sn_buf_appends(out, ",\"timezone\":");
		rc = rc ? rc : sn_buf_append_json_str(out, x.tz, strlen(x.tz));
		rc = rc ? rc
			: sn_buf_appends(out,
					 ",\"is_cached\":false,\"timings\":[],\"modifiers\":{}}");
	}
	if (rc == SN_ERR_NOMEM)
		rc = ifail(&x, "query_error", "The insight ran out of memory");
	if (rc)
		out->len = start; /* no half answer */
	if (out->data)
		out->data[out->len] = 0;
	sn_buf_release(&log);
	sn_arena_release(&a);
	return rc;
}

int sn_insight_hogql_filters(const struct sn_insight_opts *o, struct json_object *filters,
			     struct sn_buf *out, struct sn_insight_error *err)
{
	struct sn_arena a;
	sn_arena_init(&a, (size_t)16 << 20);
	struct ictx x;
	ictx_init(&x, o, &a, err);
	size_t start = out->len;
	struct drange r;
	int rc = dr_parse(&x, jget(filters, "dateRange"), IV_DAY, INT64_MIN, false, &r);
	char lo[40], hi[40];
	if (rc == 0) {
		fmt_loc_dt(lo, sizeof(lo), r.where_from);
		fmt_loc_dt(hi, sizeof(hi), r.to);
		rc = sn_buf_appendf(
		    out, "(timestamp >= toDateTime('%s') AND timestamp <= toDateTime('%s')", lo,
		    hi);
	}
	struct json_object *props = jget(filters, "properties");
	bool has_props = props && (!json_object_is_type(props, json_type_array) ||
				   json_object_array_length(props) > 0);
	if (rc == 0 && has_props) {
		rc = sn_buf_appends(out, " AND ");
		rc = rc ? rc : hq_filters(&x, out, props);
	}
	struct json_object *taf = o->team.test_account_filters;
	if (rc == 0 && jbool(filters, "filterTestAccounts") && taf &&
	    json_object_is_type(taf, json_type_array) && json_object_array_length(taf)) {
		rc = sn_buf_appends(out, " AND ");
		rc = rc ? rc : hq_filters(&x, out, taf);
	}
	rc = rc ? rc : sn_buf_appendc(out, ')');
	if (rc == SN_ERR_NOMEM || rc == SN_ERR_TOO_BIG)
		rc = ifail(&x, "query_error", "The filters are too large");
	if (rc)
		out->len = start;
	sn_arena_release(&a);
	return rc;
}
