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
#include <string.h>

#define MAX_SERIES 64

static int series_stmt(struct ictx *x, struct json_object *q, const struct series_ref *s,
		       const struct drange *r, struct sn_buf *b)
{
	char actor[64];
	const char *a = actor;
	if (s->math && strcmp(s->math, "hogql") == 0 && jstr(s->node, "math_hogql"))
		a = jstr(s->node, "math_hogql");
	else if (s->math && strcmp(s->math, "unique_group") == 0 && s->math_gti >= 0)
		snprintf(actor, sizeof(actor), "$group_%d", s->math_gti);
	else
		snprintf(actor, sizeof(actor), "person_id");
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
		rc = sn_buf_appendf(b,
				    "SELECT num_intervals, count() AS actors FROM (SELECT actor, "
				    "count() AS num_intervals FROM (SELECT toString(%s) AS actor, ",
				    a);
		rc = rc ? rc : bucket_of(b, r->iv, x->o->team.week_start_day, "timestamp");
		rc = rc ? rc : sn_buf_appends(b, " AS bucket FROM events AS e WHERE ");
	} else {
		rc = sn_buf_appendf(b,
				    "SELECT num_intervals, count() AS actors FROM (SELECT "
				    "toString(%s) AS actor, count(DISTINCT ",
				    a);
		rc = rc ? rc : bucket_of(b, r->iv, x->o->team.week_start_day, "timestamp");
		rc = rc ? rc : sn_buf_appends(b, ") AS num_intervals FROM events AS e WHERE ");
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
			      "actor) GROUP BY num_intervals ORDER BY num_intervals LIMIT "
			      "50000",
			      from, to, having);
	else
		rc = rc ? rc
			: sn_buf_appendf(b,
					 " AND timestamp >= toDateTime('%s') AND timestamp <= "
					 "toDateTime('%s') GROUP BY actor) GROUP BY num_intervals "
					 "ORDER BY num_intervals LIMIT 50000",
					 from, to);
	return rc;
}

static int series_json(struct ictx *x, struct json_object *q, const struct series_ref *s, int order,
		       const struct drange *r, bool compare, bool previous, struct sn_buf *out,
		       bool *first)
{
	if (s->missing)
		return 0; /* an action that does not exist has no series, as in PostHog */
	struct sn_buf sql;
	sn_buf_init(&sql, 1 << 22);
	int rc = series_stmt(x, q, s, r, &sql);
	struct sn_insight_table tab;
	if (rc == 0)
		rc = run_hogql(x, sql.data, sql.len, &tab);
	sn_buf_release(&sql);
	if (rc)
		return rc;
	size_t n = r->nbuckets;
	int64_t *data = sn_arena_alloc(x->a, (n ? n : 1) * sizeof(int64_t));
	if (!data)
		return SN_ERR_NOMEM;
	memset(data, 0, (n ? n : 1) * sizeof(int64_t));
	int64_t count = 0;
	for (size_t i = 0; i < tab.nrows; i++) {
		const struct sn_insight_value *row = &tab.cells[i * tab.ncols];
		if (row[0].i >= 1 && (size_t)row[0].i <= n) {
			data[row[0].i - 1] += row[1].i;
			count += row[1].i;
		}
	}
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

int stickiness_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	struct json_object *arr = jget(q, "series");
	if (!arr || !json_object_is_type(arr, json_type_array) || !json_object_array_length(arr))
		return ifail(x, "validation_error", "series must be a non-empty list");
	size_t ns = json_object_array_length(arr);
	if (ns > MAX_SERIES)
		return ifail(x, "validation_error", "At most %d series", MAX_SERIES);
	if (jget(q, "intervalCount") && json_object_get_int(jget(q, "intervalCount")) != 1)
		return ifail(x, "not_supported", "intervalCount is not supported yet");
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
	struct drange cur, prev;
	rc = rc ? rc : interval_of(x, jstr(q, "interval"), &iv);
	rc = rc ? rc : range_of(x, q, iv, false, &cur);
	if (rc)
		return rc;
	struct json_object *cf = jget(q, "compareFilter");
	bool compare = jbool(cf, "compare") && !dr_is_all(jget(q, "dateRange"));
	if (compare && ((rc = dr_previous(x, &cur, jstr(cf, "compare_to"), &prev)) ||
			(rc = dr_buckets(x, &prev, x->o->team.week_start_day))))
		return rc;
	rc = sn_buf_appends(out, "\"results\":[");
	bool first = true;
	for (int p = 0; p <= (compare ? 1 : 0) && rc == 0; p++)
		for (size_t i = 0; i < ns && rc == 0; i++)
			rc = series_json(x, q, &s[i], (int)i, p ? &prev : &cur, compare, p == 1,
					 out, &first);
	return rc ? rc : sn_buf_appendc(out, ']');
}
