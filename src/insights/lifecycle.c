/*
 * lifecycle.c — LifecycleQuery (spec/hogql.md §9.4): per interval, how many
 * actors were new, returning, resurrecting or went dormant.
 *
 * One statement lists each actor's active periods (with the actor's
 * created_at), scanning one interval either side of the range:
 *
 *   SELECT actor, <bucket(timestamp)>, min(<person|group>.created_at) FROM events
 *   WHERE <series, filters, $process_person_profile != 'false', range ± 1 interval>
 *   GROUP BY actor, bucket
 *
 * (rows put into actor, bucket order in C by rows_by_actor, actorsort.c),
 * then, per actor, PostHog's rules in C: the first active period is `new`
 * when it is the period of created_at, else `resurrecting`; a later one is
 * `returning` when the previous period was active, else `resurrecting`;
 * the period after an active one that is not followed by activity is
 * `dormant` (counted negative). Counts are distinct actors per period and
 * status, within the range's buckets. Results in PostHog's order: new,
 * returning, resurrecting, dormant.
 */
#include "insights/insights_internal.h"

#include <stdio.h>
#include <string.h>

#define LIFECYCLE_ROWS_MAX 5000000

enum status { ST_NEW, ST_RETURNING, ST_RESURRECTING, ST_DORMANT, NSTATUS };
static const char *const STATUS[] = {"new", "returning", "resurrecting", "dormant"};

static ssize_t exact_bucket(const struct drange *r, int64_t loc)
{
	size_t lo = 0, hi = r->nbuckets;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (r->buckets[mid] < loc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->nbuckets && r->buckets[lo] == loc ? (ssize_t)lo : -1;
}

static void count(const struct drange *r, int64_t *counts[NSTATUS], enum status st, int64_t loc)
{
	ssize_t k = exact_bucket(r, loc);
	if (k >= 0)
		counts[st][k]++;
}

/* One actor's periods p[0..n) (ascending, distinct, local) and created_at period c. */
static void actor(const struct drange *r, const int64_t *p, size_t n, int64_t c,
		  int64_t *counts[NSTATUS])
{
	for (size_t i = 0; i < n; i++) {
		enum status st;
		if (i == 0)
			st = p[0] == c ? ST_NEW : ST_RESURRECTING;
		else
			st = add_interval(p[i - 1], r->iv, 1) == p[i] ? ST_RETURNING
								      : ST_RESURRECTING;
		count(r, counts, st, p[i]);
		int64_t next = add_interval(p[i], r->iv, 1);
		if (i + 1 == n || p[i + 1] != next)
			count(r, counts, ST_DORMANT, next);
	}
}

int lifecycle_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	struct json_object *arr = jget(q, "series");
	if (!arr || !json_object_is_type(arr, json_type_array) || !json_object_array_length(arr))
		return ifail(x, "validation_error", "LifecycleQuery needs one series");
	struct series_ref s;
	int rc = series_ref_parse(x, json_object_array_get_idx(arr, 0), "series[0]", &s);
	if (rc)
		return rc;
	if (s.missing)
		return ifail(x, "validation_error", "Action ID %lld does not exist!",
			     (long long)s.action_id);
	enum interval iv;
	struct drange r;
	rc = interval_of(x, jstr(q, "interval"), &iv);
	rc = rc ? rc : range_of(x, q, iv, jbool(jget(q, "dateRange"), "explicitDate"), &r);
	if (rc)
		return rc;
	struct json_object *gi = jget(q, "aggregation_group_type_index");
	int gti = gi ? json_object_get_int(gi) : -1;
	if (gti < -1 || gti > 4)
		return ifail(x, "validation_error", "aggregation_group_type_index must be 0 to 4");
	char actor_col[32], created[48];
	if (gti >= 0) {
		snprintf(actor_col, sizeof(actor_col), "$group_%d", gti);
		snprintf(created, sizeof(created), "group_%d.created_at", gti);
	} else {
		snprintf(actor_col, sizeof(actor_col), "person_id");
		snprintf(created, sizeof(created), "person.created_at");
	}
	int64_t start = align_loc(r.from, iv, x->o->team.week_start_day);
	int64_t lo = add_interval(start, iv, -1);
	int64_t hi = add_interval(align_loc(r.to, iv, x->o->team.week_start_day), iv, 1);
	char from[40], to[40];
	fmt_loc_dt(from, sizeof(from), lo);
	fmt_loc_dt(to, sizeof(to), hi);
	struct sn_buf sql;
	sn_buf_init(&sql, 1 << 22);
	rc = sn_buf_appendf(&sql, "SELECT toString(%s) AS actor, ", actor_col);
	rc = rc ? rc : bucket_of(&sql, iv, x->o->team.week_start_day, "timestamp");
	rc =
	    rc ? rc
	       : sn_buf_appendf(&sql, " AS period, min(%s) AS created FROM events WHERE ", created);
	rc = rc ? rc : series_where(x, &sql, &s, q);
	rc = rc ? rc
		: sn_buf_appendf(
		      &sql,
		      " AND properties.$process_person_profile != 'false' AND timestamp >= "
		      "toDateTime('%s') AND timestamp < toDateTime('%s')",
		      from, to);
	if (rc == 0 && gti >= 0)
		rc = sn_buf_appendf(&sql, " AND %s != ''", actor_col);
	rc = rc ? rc : sn_buf_appendf(&sql, " GROUP BY actor, period LIMIT %d", LIFECYCLE_ROWS_MAX);
	struct sn_insight_table tab;
	x->max_rows = LIFECYCLE_ROWS_MAX;
	if (rc == 0)
		rc = run_hogql(x, sql.data, sql.len, &tab);
	x->max_rows = 0;
	sn_buf_release(&sql);
	static const size_t by_period[] = {1};
	if (rc == 0) /* (actor, period) order, built here (actorsort.c) */
		rc = rows_by_actor(x, &tab, by_period, 1);
	if (rc)
		return rc;
	if (tab.nrows >= LIFECYCLE_ROWS_MAX)
		return ifail(
		    x, "query_error",
		    "The lifecycle has more than %d actor-periods; use a longer interval or "
		    "a shorter range",
		    LIFECYCLE_ROWS_MAX);
	size_t nb = r.nbuckets;
	int64_t *counts[NSTATUS];
	for (int i = 0; i < NSTATUS; i++) {
		counts[i] = sn_arena_alloc(x->a, (nb ? nb : 1) * sizeof(int64_t));
		if (!counts[i])
			return SN_ERR_NOMEM;
		memset(counts[i], 0, (nb ? nb : 1) * sizeof(int64_t));
	}
	int64_t *periods = sn_arena_alloc(x->a, (tab.nrows ? tab.nrows : 1) * sizeof(int64_t));
	if (!periods)
		return SN_ERR_NOMEM;
	size_t first = 0;
	int64_t created_min = INT64_MAX;
	for (size_t i = 0; i <= tab.nrows; i++) {
		const struct sn_insight_value *row =
		    i < tab.nrows ? &tab.cells[i * tab.ncols] : NULL;
		bool boundary = !row;
		if (row && i > first) {
			const struct sn_insight_value *a = &tab.cells[first * tab.ncols];
			boundary = a->slen != row->slen || memcmp(a->s, row->s, a->slen) != 0;
		}
		if (boundary && i > first) {
			int64_t c = created_min == INT64_MAX
					? INT64_MIN
					: align_loc(loc_of_utc(x->tz, created_min), iv,
						    x->o->team.week_start_day);
			actor(&r, periods + first, i - first, c, counts);
			first = i;
			created_min = INT64_MAX;
		}
		if (row) {
			periods[i] = local_of_cell(x, &row[1]);
			if (row[2].type == SN_IV_DATETIME && row[2].i < created_min)
				created_min = row[2].i;
		}
	}
	/* results */
	const char *ev = series_label(&s);
	rc = sn_buf_appends(out, "\"results\":[");
	for (int st = 0; st < NSTATUS && rc == 0; st++) {
		int64_t sign = st == ST_DORMANT ? -1 : 1, total = 0;
		sn_buf_appends(out, st ? ",{\"action\":{\"id\":" : "{\"action\":{\"id\":");
		if (s.is_action)
			sn_buf_appendf(out, "\"%lld\"", (long long)s.action_id);
		else if (s.event)
			sn_buf_append_json_str(out, s.event, strlen(s.event));
		else
			sn_buf_appends(out, "null");
		sn_buf_appends(out, ",\"name\":");
		sn_buf_append_json_str(out, ev, strlen(ev));
		sn_buf_appendf(out, ",\"type\":\"%s\",\"order\":0,\"math\":\"total\"",
			       s.is_action ? "actions" : "events");
		if (s.custom_name) {
			sn_buf_appends(out, ",\"custom_name\":");
			sn_buf_append_json_str(out, s.custom_name, strlen(s.custom_name));
		}
		sn_buf_appends(out, "},\"data\":[");
		for (size_t k = 0; k < nb; k++) {
			sn_buf_appendf(out, "%s%lld", k ? "," : "",
				       (long long)(sign * counts[st][k]));
			total += sign * counts[st][k];
		}
		sn_buf_appendf(out, "],\"count\":%lld,\"labels\":[", (long long)total);
		for (size_t k = 0; k < nb; k++) {
			char buf[64];
			fmt_label(buf, sizeof(buf), r.buckets[k], &r, x->o->team.week_start_day);
			if (k)
				sn_buf_appendc(out, ',');
			sn_buf_append_json_str(out, buf, strlen(buf));
		}
		sn_buf_appends(out, "],\"days\":[");
		for (size_t k = 0; k < nb; k++) {
			char buf[48];
			/* lifecycle prints times for hours only (PostHog) */
			fmt_day(buf, sizeof(buf), r.buckets[k], iv == IV_MINUTE ? IV_DAY : iv);
			sn_buf_appendf(out, "%s\"%s\"", k ? "," : "", buf);
		}
		sn_buf_appends(out, "],\"label\":");
		char label[600];
		snprintf(label, sizeof(label), "%s - %s", ev, STATUS[st]);
		sn_buf_append_json_str(out, label, strlen(label));
		rc = sn_buf_appendf(out, ",\"status\":\"%s\"}", STATUS[st]);
	}
	return rc ? rc : sn_buf_appendc(out, ']');
}
