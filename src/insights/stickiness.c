/*
 * stickiness.c — StickinessQuery (spec/hogql.md §9.5): for each series, how
 * many actors were active in exactly k of the range's N intervals.
 *
 *   SELECT num_intervals, count() FROM (
 *     SELECT actor, count() AS num_intervals FROM (
 *       SELECT <actor>, <bucket(timestamp)> FROM events WHERE <series, filters, range>
 *       GROUP BY actor, bucket HAVING count() <criteria>)
 *     GROUP BY actor)
 *   GROUP BY num_intervals
 *
 * Without stickinessCriteria (an interval counts when the actor has any
 * event in it) the inner two levels are one: count(DISTINCT bucket) per
 * actor, with a group per actor instead of one per actor and bucket (a
 * 30-day stickiness on 10M events: 1.2M groups fewer, 700 → 340 ms,
 * docs/BENCHMARKS.md). count(DISTINCT) is exact on both backends.
 *
 * As PostHog's runner: the actor is the person (a group with unique_group,
 * an expression with math hogql); an interval counts when the actor has an
 * event in it, or as many as stickinessCriteria asks; N is the number of
 * buckets of the range; `cumulative` turns data into "k or more"; compare
 * adds the previous period's series after the current ones.
 */
#include "insights/insights_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 64

/* The series' actor expression (buf holds it when built here). */
static const char *actor_of(const struct series_ref *s, char *buf, size_t size)
{
	if (s->math && strcmp(s->math, "hogql") == 0 && jstr(s->node, "math_hogql"))
		return jstr(s->node, "math_hogql");
	if (s->math && strcmp(s->math, "unique_group") == 0 && s->math_gti >= 0)
		snprintf(buf, size, "$group_%d", s->math_gti);
	else
		snprintf(buf, size, "person_id");
	return buf;
}

/* One row per actor of s in r: actor, num_intervals (the intervals it was
 * active in, by stickinessCriteria when given). */
static int per_actor_stmt(struct ictx *x, struct json_object *q, const struct series_ref *s,
			  const struct drange *r, struct sn_buf *b)
{
	char actor[64];
	const char *a = actor_of(s, actor, sizeof(actor));
	const char *having = "count() > 0";
	char crit[64];
	struct json_object *c = jget(jget(q, "stickinessFilter"), "stickinessCriteria");
	if (c) {
		const char *op = jstr(c, "operator");
		struct json_object *v = jget(c, "value");
		const char *sym = !op			     ? NULL
				  : strcmp(op, "gte") == 0   ? ">="
				  : strcmp(op, "lte") == 0   ? "<="
				  : strcmp(op, "exact") == 0 ? "="
							     : NULL;
		if (!sym || !v || !json_object_is_type(v, json_type_int))
			return ifail(x, "validation_error",
				     "stickinessCriteria needs operator gte, lte or exact and an "
				     "integer value");
		snprintf(crit, sizeof(crit), "count() %s %d", sym, json_object_get_int(v));
		having = crit;
	}
	int rc;
	if (c) {
		rc = sn_buf_appendf(
		    b,
		    "SELECT actor, count() AS num_intervals FROM (SELECT toString(%s) "
		    "AS actor, ",
		    a);
		rc = rc ? rc : bucket_of(b, r->iv, x->o->team.week_start_day, "timestamp");
		rc = rc ? rc : sn_buf_appendf(b, " AS bucket FROM events AS e%s WHERE ", x->sample);
	} else {
		rc = sn_buf_appendf(b, "SELECT toString(%s) AS actor, count(DISTINCT ", a);
		rc = rc ? rc : bucket_of(b, r->iv, x->o->team.week_start_day, "timestamp");
		rc = rc ? rc
			: sn_buf_appendf(b, ") AS num_intervals FROM events AS e%s WHERE ",
					 x->sample);
	}
	rc = rc ? rc : series_where(x, b, s, q);
	if (rc == 0 && s->math && strcmp(s->math, "unique_group") == 0 && s->math_gti >= 0)
		rc = sn_buf_appendf(b, " AND $group_%d != ''", s->math_gti);
	char from[40], to[40];
	fmt_loc_dt(from, sizeof(from), r->where_from);
	fmt_loc_dt(to, sizeof(to), r->to);
	if (c)
		rc = rc ? rc
			: sn_buf_appendf(
			      b,
			      " AND timestamp >= toDateTime('%s') AND timestamp <= "
			      "toDateTime('%s') GROUP BY actor, bucket HAVING %s) GROUP BY "
			      "actor",
			      from, to, having);
	else
		rc = rc ? rc
			: sn_buf_appendf(b,
					 " AND timestamp >= toDateTime('%s') AND timestamp <= "
					 "toDateTime('%s') GROUP BY actor",
					 from, to);
	return rc;
}

/* The number of actors per num_intervals. */
static int series_stmt(struct ictx *x, struct json_object *q, const struct series_ref *s,
		       const struct drange *r, struct sn_buf *b)
{
	int rc = sn_buf_appends(b, "SELECT num_intervals, count() AS actors FROM (");
	rc = rc ? rc : per_actor_stmt(x, q, s, r, b);
	return rc ? rc
		  : sn_buf_appends(b,
				   ") GROUP BY num_intervals ORDER BY num_intervals LIMIT 50000");
}

/* ---- the streamed common case ----------------------------------------
 *
 * Without stickinessCriteria an actor's answer is the number of the
 * range's buckets it has an event in: one bit per bucket (struct amask),
 * set from the streamed events
 *
 *   SELECT toString(<actor>), <bucket(timestamp)> FROM events WHERE <series, range>
 *
 * and counted once per actor at the end — the executor's count(DISTINCT
 * bucket) GROUP BY actor, done in C on interned actor ids. */
#define STICKINESS_EVENTS_MAX 200000000
#define STICKY_MAX_WORDS      16 /* 1,024 buckets */
#define STICKY_STRAY	      1	 /* stream_counts: use the grouped statement */

struct sstream {
	struct ictx *x;
	const struct drange *r;
	int per; /* intervalCount: buckets counted as one interval */
	struct amask m;
	bool stray; /* an event's bucket is not one of the range's */
};

static int sstream_sink(void *ctx, unsigned worker, const struct sn_insight_value *cells,
			size_t nrows, size_t ncols)
{
	struct sstream *ss = ctx;
	int rc = amask_batch(&ss->m, worker, cells, nrows, ncols, 2);
	if (rc)
		return rc;
	struct amask_worker *w = &ss->m.w[worker];
	for (size_t i = 0; i < nrows; i++) {
		int k =
		    amask_period(ss->x, w, &cells[i * ncols + 1], ss->r->buckets, ss->r->nbuckets);
		if (k < 0) {
			ss->stray = true;
			continue;
		}
		uint64_t *a = amask_state(&ss->m, worker, w->ids[i]);
		a[k / 64] |= (uint64_t)1 << (k % 64);
	}
	return 0;
}

/* The actors of one point (stickiness_actors): active in `intervals`
 * intervals, or that many or more. */
struct scollect {
	int intervals;
	bool or_more;
	struct actor_rows *rows;
};

/* STICKY_STRAY: an event fell outside the range's buckets, which the
 * grouped statement counts as an interval of its own; it answers then.
 * col: the point's actors instead of the counts. */
static int stream_counts(struct ictx *x, struct json_object *q, const struct series_ref *s,
			 const char *actor, const struct drange *r, int per, int64_t *data,
			 int64_t *count, struct scollect *col)
{
	struct sn_buf sql;
	sn_buf_init(&sql, 1 << 22);
	int rc = sn_buf_appendf(&sql, "SELECT toString(%s) AS actor, ", actor);
	rc = rc ? rc : bucket_of(&sql, r->iv, x->o->team.week_start_day, "timestamp");
	rc = rc ? rc : sn_buf_appendf(&sql, " AS bucket FROM events AS e%s WHERE ", x->sample);
	rc = rc ? rc : series_where(x, &sql, s, q);
	if (rc == 0 && s->math && strcmp(s->math, "unique_group") == 0 && s->math_gti >= 0)
		rc = sn_buf_appendf(&sql, " AND $group_%d != ''", s->math_gti);
	char from[40], to[40];
	fmt_loc_dt(from, sizeof(from), r->where_from);
	fmt_loc_dt(to, sizeof(to), r->to);
	rc = rc ? rc
		: sn_buf_appendf(&sql,
				 " AND timestamp >= toDateTime('%s') AND timestamp <= "
				 "toDateTime('%s') LIMIT %d",
				 from, to, STICKINESS_EVENTS_MAX);
	struct sstream *ss = calloc(1, sizeof(*ss));
	if (!ss) {
		sn_buf_release(&sql);
		return SN_ERR_NOMEM;
	}
	ss->x = x;
	ss->r = r;
	amask_init(&ss->m, (r->nbuckets + 63) / 64, 0);
	size_t nread = 0;
	x->max_rows = STICKINESS_EVENTS_MAX;
	if (rc == 0)
		rc = run_hogql_stream(x, sql.data, sql.len, sstream_sink, ss, &nread);
	x->max_rows = 0;
	sn_buf_release(&sql);
	int crc = amask_check(x, &ss->m, "stickiness");
	rc = crc ? crc : rc;
	if (rc == 0 && nread >= STICKINESS_EVENTS_MAX)
		rc = ifail(x, "query_error",
			   "The stickiness reads more than %d events; use a shorter range",
			   STICKINESS_EVENTS_MAX);
	if (rc == 0 && ss->stray)
		rc = STICKY_STRAY;
	rc = rc ? rc : amask_merge(&ss->m);
	size_t nb = r->nbuckets, ngroups = (nb + (size_t)per - 1) / (size_t)per;
	for (size_t j = 0; rc == 0 && j < ss->m.w[0].actors.n; j++) {
		const uint64_t *a = amask_state(&ss->m, 0, (uint32_t)j);
		size_t k = 0;
		if (per == 1) {
			for (size_t i = 0; i < ss->m.words; i++)
				k += (size_t)__builtin_popcountll(a[i]);
		} else {
			/* PostHog: floor(age(interval, timestamp, date_to) / intervalCount),
			 * the groups counted back from the range's last bucket */
			uint64_t g[STICKY_MAX_WORDS] = {0};
			for (size_t b = 0; b < nb; b++)
				if (a[b / 64] >> (b % 64) & 1) {
					size_t gi = (nb - 1 - b) / (size_t)per;
					g[gi / 64] |= (uint64_t)1 << (gi % 64);
				}
			for (size_t i = 0; i < ss->m.words; i++)
				k += (size_t)__builtin_popcountll(g[i]);
		}
		if (col) {
			if (col->or_more ? k >= (size_t)col->intervals
					 : k == (size_t)col->intervals)
				rc = actor_push(x, col->rows, ss->m.w[0].actors.s[j],
						ss->m.w[0].actors.len[j], 0);
		} else if (k >= 1 && k <= ngroups) {
			data[k - 1]++;
			(*count)++;
		}
	}
	amask_release(&ss->m);
	free(ss);
	return rc;
}

/* data[k - 1] = the actors active in exactly k of r's intervals (per
 * buckets each: intervalCount; the data zeroed first); *count their sum. */
static int series_counts(struct ictx *x, struct json_object *q, const struct series_ref *s,
			 const struct drange *r, int per, int64_t *data, int64_t *count)
{
	size_t n = r->nbuckets;
	memset(data, 0, (n ? n : 1) * sizeof(int64_t));
	*count = 0;
	int rc;
	bool streams = x->o->backend.stream &&
		       !jget(jget(q, "stickinessFilter"), "stickinessCriteria") &&
		       (n + 63) / 64 <= STICKY_MAX_WORDS;
	if (per > 1 && !streams)
		return ifail(x, "not_supported",
			     "intervalCount above 1 is supported without stickinessCriteria, on "
			     "ranges of up to %d intervals",
			     STICKY_MAX_WORDS * 64);
	if (streams) {
		char actor[64];
		rc = stream_counts(x, q, s, actor_of(s, actor, sizeof(actor)), r, per, data, count,
				   NULL);
		if (rc == STICKY_STRAY && per > 1)
			return ifail(
			    x, "not_supported",
			    "intervalCount above 1 with events outside the range's intervals");
		if (rc != STICKY_STRAY)
			return rc;
		memset(data, 0, (n ? n : 1) * sizeof(int64_t));
		*count = 0;
	}
	struct sn_buf sql;
	sn_buf_init(&sql, 1 << 22);
	rc = series_stmt(x, q, s, r, &sql);
	struct sn_insight_table tab;
	if (rc == 0)
		rc = run_hogql(x, sql.data, sql.len, &tab);
	sn_buf_release(&sql);
	if (rc)
		return rc;
	for (size_t i = 0; i < tab.nrows; i++) {
		const struct sn_insight_value *row = &tab.cells[i * tab.ncols];
		if (row[0].i >= 1 && (size_t)row[0].i <= n) {
			data[row[0].i - 1] += row[1].i;
			*count += row[1].i;
		}
	}
	return 0;
}

static int series_json(struct ictx *x, struct json_object *q, const struct series_ref *s, int order,
		       const struct drange *r, int per, bool compare, bool previous,
		       struct sn_buf *out, bool *first)
{
	if (s->missing)
		return 0; /* an action that does not exist has no series, as in PostHog */
	/* intervals: ceil(buckets / intervalCount), as PostHog's numbers() row */
	size_t n = (r->nbuckets + (size_t)per - 1) / (size_t)per;
	int64_t *data = sn_arena_alloc(x->a, (r->nbuckets ? r->nbuckets : 1) * sizeof(int64_t));
	if (!data)
		return SN_ERR_NOMEM;
	int64_t count = 0;
	int rc = series_counts(x, q, s, r, per, data, &count);
	if (rc)
		return rc;
	const char *computed = jstr(jget(q, "stickinessFilter"), "computedAs");
	bool cumulative = computed && strcmp(computed, "cumulative") == 0;
	if (cumulative)
		for (size_t k = n; k-- > 1;)
			data[k - 1] += data[k];
	sn_buf_appends(out, *first ? "{" : ",{");
	*first = false;
	sn_buf_appendf(out, "\"count\":%lld,\"data\":[", (long long)count);
	for (size_t k = 0; k < n; k++)
		sn_buf_appendf(out, "%s%lld", k ? "," : "", (long long)data[k]);
	sn_buf_appends(out, "],\"days\":[");
	for (size_t k = 0; k < n; k++)
		sn_buf_appendf(out, "%s%zu", k ? "," : "", k + 1);
	sn_buf_appends(out, "],\"labels\":[");
	for (size_t k = 0; k < n; k++)
		sn_buf_appendf(out, "%s\"%zu %s%s%s\"", k ? "," : "", k + 1, interval_name(r->iv),
			       k ? "s" : "", cumulative ? " or more" : "");
	const char *label = series_label(s);
	sn_buf_appends(out, "],\"label\":");
	sn_buf_append_json_str(out, label, strlen(label));
	sn_buf_appendf(out, ",\"action\":{\"order\":%d,\"type\":\"%s\",\"name\":", order,
		       s->is_action ? "actions" : "events");
	sn_buf_append_json_str(out, label, strlen(label));
	sn_buf_appends(out, ",\"id\":");
	if (s->is_action)
		sn_buf_appendf(out, "%lld", (long long)s->action_id);
	else if (s->event)
		sn_buf_append_json_str(out, s->event, strlen(s->event));
	else
		sn_buf_appends(out, "null");
	sn_buf_appendc(out, '}');
	if (compare)
		sn_buf_appendf(out, ",\"compare\":true,\"compare_label\":\"%s\"",
			       previous ? "previous" : "current");
	return sn_buf_appendc(out, '}');
}

/* The series, intervalCount and ranges of q (prev only with compare). */
struct sq {
	struct series_ref *s;
	size_t ns;
	int per;
	struct drange cur, prev;
	bool compare;
};

static int stickiness_prepare(struct ictx *x, struct json_object *q, struct sq *o)
{
	struct json_object *arr = jget(q, "series");
	if (!arr || !json_object_is_type(arr, json_type_array) || !json_object_array_length(arr))
		return ifail(x, "validation_error", "series must be a non-empty list");
	size_t ns = json_object_array_length(arr);
	if (ns > MAX_SERIES)
		return ifail(x, "validation_error", "At most %d series", MAX_SERIES);
	int per = 1; /* intervalCount */
	struct json_object *ic = jget(q, "intervalCount");
	if (ic && !json_object_is_type(ic, json_type_null)) {
		if (!json_object_is_type(ic, json_type_int) || json_object_get_int64(ic) < 1 ||
		    json_object_get_int64(ic) > 1000)
			return ifail(x, "validation_error",
				     "intervalCount must be an integer from 1 to 1000");
		per = (int)json_object_get_int64(ic);
	}
	struct series_ref *s = sn_arena_alloc(x->a, ns * sizeof(*s));
	if (!s)
		return SN_ERR_NOMEM;
	int rc = 0;
	for (size_t i = 0; i < ns && rc == 0; i++) {
		char where[32];
		snprintf(where, sizeof(where), "series[%zu]", i);
		rc = series_ref_parse(x, json_object_array_get_idx(arr, i), where, &s[i]);
	}
	enum interval iv;
	struct drange cur, prev = {0};
	rc = rc ? rc : interval_of(x, jstr(q, "interval"), &iv);
	rc = rc ? rc : range_of(x, q, iv, false, &cur);
	if (rc)
		return rc;
	/* PostHog groups by age(interval, timestamp, date_to) / intervalCount:
	 * whole buckets counted back from the range's end for minutes, hours
	 * and days (the end is the last second of its bucket); for weeks and
	 * months the age runs from date_to's weekday and day of month, which
	 * buckets do not keep */
	if (per > 1 && iv != IV_DAY && iv != IV_HOUR && iv != IV_MINUTE)
		return ifail(
		    x, "not_supported",
		    "intervalCount above 1 is supported for minute, hour and day intervals");
	int64_t unit = iv == IV_DAY    ? 86400LL * 1000000
		       : iv == IV_HOUR ? 3600LL * 1000000
				       : 60000000;
	if (per > 1 && (cur.to / 1000000 + 1) * 1000000 % unit != 0)
		return ifail(
		    x, "not_supported",
		    "intervalCount above 1 needs a range that ends with an interval (a date_to "
		    "date, not a time or now)");
	struct json_object *cf = jget(q, "compareFilter");
	bool compare = jbool(cf, "compare") && !dr_is_all(jget(q, "dateRange"));
	if (compare && ((rc = dr_previous(x, &cur, jstr(cf, "compare_to"), &prev)) ||
			(rc = dr_buckets(x, &prev, x->o->team.week_start_day))))
		return rc;
	*o = (struct sq){s, ns, per, cur, prev, compare};
	return 0;
}

int stickiness_actors(struct ictx *x, struct json_object *q, int series, int intervals,
		      bool previous, struct actor_rows *out, int *agg_gti)
{
	struct sq p;
	int rc = stickiness_prepare(x, q, &p);
	if (rc)
		return rc;
	if (series < 0 || (size_t)series >= p.ns)
		return ifail(x, "validation_error", "series must be 0 to %zu", p.ns - 1);
	if (previous && !p.compare)
		return ifail(x, "validation_error",
			     "compare is 'previous' but the query does not compare");
	const struct series_ref *s = &p.s[series];
	const struct drange *r = previous ? &p.prev : &p.cur;
	size_t ngroups = (r->nbuckets + (size_t)p.per - 1) / (size_t)p.per;
	if (intervals < 1 || (size_t)intervals > ngroups)
		return ifail(x, "validation_error",
			     "day must be a number of intervals from 1 to %zu", ngroups);
	*agg_gti = s->math && strcmp(s->math, "unique_group") == 0 ? s->math_gti : -1;
	if (s->math && strcmp(s->math, "hogql") == 0)
		*agg_gti = -2;
	if (s->missing)
		return 0;
	const char *computed = jstr(jget(q, "stickinessFilter"), "computedAs");
	bool cumulative = computed && strcmp(computed, "cumulative") == 0;
	if (p.per > 1) {
		/* intervalCount: the streamed masks, as the insight counts them */
		if (!x->o->backend.stream ||
		    jget(jget(q, "stickinessFilter"), "stickinessCriteria") ||
		    (r->nbuckets + 63) / 64 > STICKY_MAX_WORDS)
			return ifail(
			    x, "not_supported",
			    "intervalCount above 1 is supported without stickinessCriteria, "
			    "on ranges of up to %d intervals",
			    STICKY_MAX_WORDS * 64);
		struct scollect col = {intervals, cumulative, out};
		char actor[64];
		int64_t count = 0;
		rc = stream_counts(x, q, s, actor_of(s, actor, sizeof(actor)), r, p.per, NULL,
				   &count, &col);
		return rc == STICKY_STRAY
			   ? ifail(
				 x, "not_supported",
				 "intervalCount above 1 with events outside the range's intervals")
			   : rc;
	}
	struct sn_buf sql;
	sn_buf_init(&sql, 1 << 22);
	rc = sn_buf_appends(&sql, "SELECT actor FROM (");
	rc = rc ? rc : per_actor_stmt(x, q, s, r, &sql);
	rc = rc ? rc
		: sn_buf_appendf(&sql, ") WHERE num_intervals %s %d LIMIT %d",
				 cumulative ? ">=" : "=", intervals, ACTORS_MAX);
	struct sn_insight_table tab;
	rc = rc ? rc : run_hogql(x, sql.data, sql.len, &tab);
	sn_buf_release(&sql);
	for (size_t i = 0; rc == 0 && i < tab.nrows; i++) {
		const struct sn_insight_value *row = &tab.cells[i * tab.ncols];
		rc = actor_push(x, out, row[0].s ? row[0].s : "", row[0].slen, 0);
	}
	return rc;
}

int stickiness_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	struct sq sq;
	int rc = stickiness_prepare(x, q, &sq);
	if (rc)
		return rc;
	rc = sn_buf_appends(out, "\"results\":[");
	bool first = true;
	for (int p = 0; p <= (sq.compare ? 1 : 0) && rc == 0; p++)
		for (size_t i = 0; i < sq.ns && rc == 0; i++)
			rc = series_json(x, q, &sq.s[i], (int)i, p ? &sq.prev : &sq.cur, sq.per,
					 sq.compare, p == 1, out, &first);
	return rc ? rc : sn_buf_appendc(out, ']');
}
