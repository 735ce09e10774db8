/*
 * lifecycle.c — LifecycleQuery (spec/hogql.md §9.4): per interval, how many
 * actors were new, returning, resurrecting or went dormant.
 *
 * One statement streams each event's actor, period and the actor's
 * created_at, scanning one interval either side of the range:
 *
 *   SELECT actor, <bucket(timestamp)>, <person|group>.created_at FROM events
 *   WHERE <series, filters, $process_person_profile != 'false', range ± 1 interval>
 *
 * and each actor keeps one bit per period of that window and its earliest
 * created_at (amask.c: a GROUP BY actor, period in C, on interned ids, with
 * no rows kept; the executor's GROUP BY of 36-byte strings cost most of
 * the time). On 10M events, 30 days, masks instead of arows' distinct rows
 * and their sort took the server's CPU time from 760-780 to 570-590 ms.
 * An event in a period outside the list, or a window of over 1,024
 * periods, sends it to the rows: arows.c keeps each distinct (actor,
 * period, created_at) once and puts them in actor, period order.
 *
 * Then, per actor, PostHog's rules in C: the first active period is `new`
 * when it is the period of created_at, else `resurrecting`; a later one is
 * `returning` when the previous period was active, else `resurrecting`;
 * the period after an active one that is not followed by activity is
 * `dormant` (counted negative). Counts are distinct actors per period and
 * status, within the range's buckets. Results in PostHog's order: new,
 * returning, resurrecting, dormant.
 */
#include "insights/insights_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIFECYCLE_ROWS_MAX   5000000   /* actor-periods */
#define LIFECYCLE_EVENTS_MAX 200000000 /* events read */

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

/* What the actors of one bar collect (lifecycle_actors): the actors whose
 * status in the bucket starting at loc is st. */
struct lcollect {
	struct ictx *x;
	int64_t loc;
	enum status st;
	struct actor_rows *rows;
};

/* The counts, or the actors of one bar when col is set. */
struct lsink {
	int64_t *counts[NSTATUS];
	struct lcollect *col;
};

static int count(const struct drange *r, struct lsink *o, enum status st, int64_t loc,
		 const char *id, size_t idlen)
{
	ssize_t k = exact_bucket(r, loc);
	if (k < 0)
		return 0;
	if (!o->col) {
		o->counts[st][k]++;
		return 0;
	}
	if (st != o->col->st || loc != o->col->loc)
		return 0;
	return actor_push(o->col->x, o->col->rows, id, idlen, 0);
}

/* One actor's periods p[0..n) (ascending, distinct, local) and created_at
 * period c; id its text (for the actors of a bar). */
static int actor(const struct drange *r, const int64_t *p, size_t n, int64_t c, const char *id,
		 size_t idlen, struct lsink *o)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		enum status st;
		if (i == 0)
			st = p[0] == c ? ST_NEW : ST_RESURRECTING;
		else
			st = add_interval(p[i - 1], r->iv, 1) == p[i] ? ST_RETURNING
								      : ST_RESURRECTING;
		rc = count(r, o, st, p[i], id, idlen);
		int64_t next = add_interval(p[i], r->iv, 1);
		if (rc == 0 && (i + 1 == n || p[i + 1] != next))
			rc = count(r, o, ST_DORMANT, next, id, idlen);
	}
	return rc;
}

/* The rows' way (arows.c): each distinct (actor, period, created_at) kept,
 * in actor and period order. */
static int lifecycle_rows(struct ictx *x, const char *sql, size_t len, const struct drange *r,
			  struct lsink *o)
{
	struct arows_spec spec = {.ncols = 3, .ts_col = 1, .v_col = 2, .distinct = true};
	struct arows rows;
	arows_init(&rows, &spec);
	size_t nread = 0;
	x->max_rows = LIFECYCLE_EVENTS_MAX;
	int rc = arows_run(x, &rows, sql, len, &nread);
	x->max_rows = 0;
	if (rc == 0 && nread >= LIFECYCLE_EVENTS_MAX)
		rc = ifail(x, "query_error",
			   "The lifecycle reads more than %d events; use a shorter range",
			   LIFECYCLE_EVENTS_MAX);
	if (rc == 0)
		rc = arows_order(x, &rows);
	if (rc == 0 && rows.n >= LIFECYCLE_ROWS_MAX)
		rc = ifail(x, "query_error",
			   "The lifecycle has more than %d actor-periods; use a longer interval or "
			   "a shorter range",
			   LIFECYCLE_ROWS_MAX);
	int64_t *periods =
	    rc ? NULL : sn_arena_alloc(x->a, (rows.n ? rows.n : 1) * sizeof(int64_t));
	if (rc == 0 && !periods)
		rc = SN_ERR_NOMEM;
	/* per actor: its distinct periods in order, created_at the earliest
	 * seen (one value per actor; NULL without a person or group row) */
	for (size_t k = 0; rc == 0 && k < rows.w[0].actors.n; k++) {
		size_t m = 0;
		int64_t created_min = INT64_MAX;
		for (size_t i = rows.start[k]; i < rows.start[k + 1]; i++) {
			const struct arow *ar = &rows.sorted[i];
			struct sn_insight_value cell = {.type = ar->ts_type, .i = ar->ts};
			int64_t loc = local_of_cell(x, &cell);
			if (m == 0 || periods[m - 1] != loc)
				periods[m++] = loc;
			if (ar->v_type == SN_IV_DATETIME && ar->v < created_min)
				created_min = ar->v;
		}
		int64_t c = created_min == INT64_MAX ? INT64_MIN
						     : align_loc(loc_of_utc(x->tz, created_min),
								 r->iv, x->o->team.week_start_day);
		rc = actor(r, periods, m, c, rows.w[0].actors.s[k], rows.w[0].actors.len[k], o);
	}
	arows_release(&rows);
	return rc;
}

/* ---- per-actor period masks -------------------------------------------
 *
 * An actor's answer needs only its distinct periods in order and its
 * earliest created_at: one bit per period of [lo, hi) and one minimum
 * (struct amask), folded from the streamed events by each worker — no rows
 * kept, no sort. An event whose period is not one of the list (which the
 * rows would keep as a period of its own) sends the insight back to the
 * rows (arows.c), as do more than LIFE_MAX_PERIODS periods. */
#define LIFE_MAX_PERIODS 1024
#define LIFE_STRAY	 1

struct lstream {
	struct ictx *x;
	const int64_t *plist; /* local period starts, ascending */
	size_t np;
	struct amask m;
	bool stray;
};

static int lstream_sink(void *ctx, unsigned worker, const struct sn_insight_value *cells,
			size_t nrows, size_t ncols)
{
	struct lstream *ls = ctx;
	int rc = amask_batch(&ls->m, worker, cells, nrows, ncols, 3);
	if (rc)
		return rc;
	struct amask_worker *w = &ls->m.w[worker];
	const size_t words = ls->m.words;
	for (size_t i = 0; i < nrows; i++) {
		const struct sn_insight_value *row = &cells[i * ncols];
		int k = amask_period(ls->x, w, &row[1], ls->plist, ls->np);
		if (k < 0) {
			ls->stray = true;
			continue;
		}
		uint64_t *a = amask_state(&ls->m, worker, w->ids[i]);
		a[k / 64] |= (uint64_t)1 << (k % 64);
		if (row[2].type == SN_IV_DATETIME && row[2].i < (int64_t)a[words])
			a[words] = (uint64_t)row[2].i;
	}
	return 0;
}

/* Runs sql into period masks and counts every actor; LIFE_STRAY when the
 * rows must decide. */
static int lifecycle_masks(struct ictx *x, const char *sql, size_t len, const struct drange *r,
			   int64_t lo, int64_t hi, struct lsink *o)
{
	enum interval iv = r->iv;
	size_t np = 0;
	for (int64_t t = lo; t < hi && np <= LIFE_MAX_PERIODS; t = add_interval(t, iv, 1))
		np++;
	if (np == 0 || np > LIFE_MAX_PERIODS)
		return LIFE_STRAY;
	int64_t *plist = sn_arena_alloc(x->a, np * sizeof(int64_t));
	int64_t *periods = sn_arena_alloc(x->a, np * sizeof(int64_t));
	struct lstream *ls = calloc(1, sizeof(*ls));
	if (!plist || !periods || !ls) {
		free(ls);
		return SN_ERR_NOMEM;
	}
	np = 0;
	for (int64_t t = lo; t < hi; t = add_interval(t, iv, 1))
		plist[np++] = t;
	ls->x = x;
	ls->plist = plist;
	ls->np = np;
	amask_init(&ls->m, (np + 63) / 64, 1);
	size_t nread = 0;
	x->max_rows = LIFECYCLE_EVENTS_MAX;
	int rc = run_hogql_stream(x, sql, len, lstream_sink, ls, &nread);
	x->max_rows = 0;
	int crc = amask_check(x, &ls->m, "lifecycle");
	rc = crc ? crc : rc;
	if (rc == 0 && nread >= LIFECYCLE_EVENTS_MAX)
		rc = ifail(x, "query_error",
			   "The lifecycle reads more than %d events; use a shorter range",
			   LIFECYCLE_EVENTS_MAX);
	if (rc == 0 && ls->stray)
		rc = LIFE_STRAY;
	rc = rc ? rc : amask_merge(&ls->m);
	const size_t words = ls->m.words;
	for (size_t j = 0; rc == 0 && j < ls->m.w[0].actors.n; j++) {
		const uint64_t *a = amask_state(&ls->m, 0, (uint32_t)j);
		size_t m = 0;
		for (size_t wi = 0; wi < words; wi++)
			for (uint64_t b = a[wi]; b; b &= b - 1)
				periods[m++] = plist[wi * 64 + (size_t)__builtin_ctzll(b)];
		int64_t cmin = (int64_t)a[words];
		int64_t c = cmin == INT64_MAX
				? INT64_MIN
				: align_loc(loc_of_utc(x->tz, cmin), iv, x->o->team.week_start_day);
		if (m)
			rc = actor(r, periods, m, c, ls->m.w[0].actors.s[j],
				   ls->m.w[0].actors.len[j], o);
	}
	amask_release(&ls->m);
	free(ls);
	return rc;
}

/* The series, range and statement of q, run into o (counts per status and
 * bucket of *r, or one bar's actors); *gti_out the group type of the
 * actors (-1: persons). */
static int lifecycle_compute(struct ictx *x, struct json_object *q, struct series_ref *s_out,
			     struct drange *r_out, int *gti_out, struct lcollect *col,
			     int64_t *counts_out[NSTATUS])
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
	*s_out = s;
	*r_out = r;
	*gti_out = gti;
	if (col && col->loc == INT64_MIN) /* the bar: its bucket's start */
		return 0;
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
	rc = rc ? rc
		: sn_buf_appendf(&sql, " AS period, %s AS created FROM events%s WHERE ", created,
				 x->sample);
	rc = rc ? rc : series_where(x, &sql, &s, q);
	rc = rc ? rc
		: sn_buf_appendf(
		      &sql,
		      " AND properties.$process_person_profile != 'false' AND timestamp >= "
		      "toDateTime('%s') AND timestamp < toDateTime('%s')",
		      from, to);
	if (rc == 0 && gti >= 0)
		rc = sn_buf_appendf(&sql, " AND %s != ''", actor_col);
	rc = rc ? rc : sn_buf_appendf(&sql, " LIMIT %d", LIFECYCLE_EVENTS_MAX);
	size_t nb = r.nbuckets;
	struct lsink o = {.col = col};
	for (int i = 0; i < NSTATUS && rc == 0; i++) {
		o.counts[i] = sn_arena_alloc(x->a, (nb ? nb : 1) * sizeof(int64_t));
		if (!o.counts[i])
			rc = SN_ERR_NOMEM;
		else
			memset(o.counts[i], 0, (nb ? nb : 1) * sizeof(int64_t));
		counts_out[i] = o.counts[i];
	}
	if (rc == 0) {
		rc = sn_insights_masks ? lifecycle_masks(x, sql.data, sql.len, &r, lo, hi, &o)
				       : LIFE_STRAY;
		if (rc == LIFE_STRAY) {
			for (int i = 0; i < NSTATUS; i++)
				memset(o.counts[i], 0, (nb ? nb : 1) * sizeof(int64_t));
			if (col)
				col->rows->n = 0;
			rc = lifecycle_rows(x, sql.data, sql.len, &r, &o);
		}
	}
	sn_buf_release(&sql);
	return rc;
}

int lifecycle_actors(struct ictx *x, struct json_object *q, const char *day, const char *status,
		     struct actor_rows *out, int *agg_gti)
{
	int st = 0;
	while (st < NSTATUS && !(status && strcmp(status, STATUS[st]) == 0))
		st++;
	if (st == NSTATUS)
		return ifail(x, "validation_error",
			     "status must be new, returning, resurrecting or dormant");
	struct series_ref s;
	struct drange r;
	int64_t *counts[NSTATUS];
	/* first the range alone, for the bucket of day; then the actors */
	struct lcollect col = {x, INT64_MIN, (enum status)st, out};
	int rc = lifecycle_compute(x, q, &s, &r, agg_gti, &col, counts);
	size_t k;
	rc = rc ? rc : dr_day_bucket(x, &r, day, &k);
	if (rc)
		return rc;
	col.loc = r.buckets[k];
	return lifecycle_compute(x, q, &s, &r, agg_gti, &col, counts);
}

int lifecycle_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	struct series_ref s;
	struct drange r;
	int gti;
	int64_t *counts[NSTATUS];
	int rc = lifecycle_compute(x, q, &s, &r, &gti, NULL, counts);
	if (rc)
		return rc;
	const size_t nb = r.nbuckets;
	const enum interval iv = r.iv;
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
