/*
 * retention.c — RetentionQuery (spec/hogql.md §9.3): of the actors who did
 * the target event in period i, how many came back (returning event) in
 * period i + k.
 *
 * As PostHog's runner: the window is totalIntervals periods ending with the
 * one holding date_to (date_to is moved to the start of the next period and
 * is exclusive); one statement lists, per actor and period, whether it had a
 * target and a returning event there:
 *
 *   SELECT actor, <bucket(timestamp)>, max(<target>), max(<returning>)[, breakdown]
 *   FROM events WHERE <filters> AND (<target> OR <returning>) AND <window>
 *   GROUP BY actor, bucket[, breakdown]
 *
 * (rows put into actor[, breakdown], bucket order in C, actorsort.c; the
 * first-time statement's rows likewise, and the two merge by actor_cmp).
 * Per actor (and breakdown value), every target period i is a cohort entry
 * (first_time: only the period of the actor's first-ever target event, read
 * with one more statement over all time); offset 0 counts the entry, offset
 * k > 0 a returning period i + k inside the look-ahead. Cumulative: an actor
 * back at offset k counts for 1..k too. Cells are distinct actors; rows have
 * totalIntervals values, labelled "Day 0" … (the period's name).
 *
 * That grouped path serves breakdowns, aggregation properties, 24-hour
 * windows, minimum occurrences above one, windows of over 64 periods and
 * backends that cannot stream (ClickHouse). Everything else — the common
 * retention — streams the events into per-actor bit masks instead
 * (retention_stream below): same answers (the ClickHouse differential
 * compares the two paths), 10M-event weekly first-time retention 1.3 s ->
 * 0.55 s.
 */
#include "insights/insights_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RETENTION_ROWS_MAX 5000000
#define MAX_INTERVALS	   400

struct rentity {
	char *cond;	 /* HogQL condition */
	char *name_cond; /* the same without the entity's property filters */
};

/* targetEntity / returningEntity: {id, type: events|actions, properties}. */
static int entity(struct ictx *x, struct json_object *e, const char *which, struct rentity *out)
{
	struct sn_buf base, b;
	sn_buf_init(&base, 1 << 22);
	sn_buf_init(&b, 1 << 22);
	int rc = 0;
	const char *type = jstr(e, "type");
	const char *kind = jstr(e, "kind");
	bool action =
	    (type && strcmp(type, "actions") == 0) || (kind && strcmp(kind, "ActionsNode") == 0);
	struct json_object *id = jget(e, "id");
	const char *ev = id && json_object_is_type(id, json_type_string)
			     ? json_object_get_string(id)
			     : jstr(e, "event");
	if (!e) {
		rc = sn_buf_appends(&base, "event = '$pageview'");
	} else if (action) {
		const char *name;
		int64_t aid;
		int arc = action_expr(x, e, &base, &name, &aid);
		if (arc == SN_ERR_NOT_FOUND)
			rc = ifail(x, "validation_error",
				   "retentionFilter.%s: action %lld does not exist", which,
				   (long long)aid);
		else
			rc = arc;
	} else if (ev && *ev) {
		rc = sn_buf_appends(&base, "event = ");
		rc = rc ? rc : hq_str(&base, ev, strlen(ev));
	} else {
		rc = sn_buf_appends(&base, "1"); /* id null: any event */
	}
	rc = rc ? rc : sn_buf_appendf(&b, "(%s", base.data ? base.data : "1");
	struct json_object *props = jget(e, "properties");
	if (rc == 0 && props &&
	    (!json_object_is_type(props, json_type_array) || json_object_array_length(props))) {
		rc = sn_buf_appends(&b, " AND ");
		rc = rc ? rc : hq_filters(x, &b, props);
	}
	rc = rc ? rc : sn_buf_appendc(&b, ')');
	if (rc == 0 && (!(out->cond = sn_arena_strndup(x->a, b.data, b.len)) ||
			!(out->name_cond = sn_arena_strndup(x->a, base.data ? base.data : "1",
							    base.data ? base.len : 1))))
		rc = SN_ERR_NOMEM;
	sn_buf_release(&base);
	sn_buf_release(&b);
	return rc;
}

/* The query's own filters (properties, test accounts), " AND …" each. */
static int global_filters(struct ictx *x, struct json_object *q, struct sn_buf *b)
{
	int rc = 0;
	struct json_object *props[] = {jget(q, "properties"), jbool(q, "filterTestAccounts")
								  ? x->o->team.test_account_filters
								  : NULL};
	for (size_t i = 0; i < SN_ARRAY_LEN(props) && rc == 0; i++) {
		struct json_object *p = props[i];
		if (!p || (json_object_is_type(p, json_type_array) && !json_object_array_length(p)))
			continue;
		rc = sn_buf_appends(b, " AND ");
		rc = rc ? rc : hq_filters(x, b, p);
	}
	return rc;
}

struct rcell {
	const char *bv;
	int64_t *counts; /* rows * n: [start][offset] */
	int64_t size;	 /* actors over all cohorts (ranking) */
	double *sums;	 /* rows * n: aggregationProperty summed over the cell's actors */
};

static int rcell_cmp(const void *pa, const void *pb)
{
	const struct rcell *a = pa, *b = pb;
	if (a->size != b->size)
		return a->size > b->size ? -1 : 1;
	return strcmp(a->bv, b->bv);
}

struct rgroups {
	struct rcell *v;
	size_t n, cap;
};

static struct rcell *cells_of(struct ictx *x, struct rgroups *g, const char *bv, size_t rows,
			      size_t n)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->v[i].bv, bv) == 0)
			return &g->v[i];
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 8;
		struct rcell *nv = sn_arena_alloc(x->a, cap * sizeof(*nv));
		if (!nv)
			return NULL;
		if (g->n)
			memcpy(nv, g->v, g->n * sizeof(*nv));
		g->v = nv;
		g->cap = cap;
	}
	size_t cells = (rows ? rows : 1) * n;
	int64_t *c = sn_arena_alloc(x->a, cells * sizeof(int64_t));
	double *sums = sn_arena_alloc(x->a, cells * sizeof(double));
	if (!c || !sums)
		return NULL;
	memset(c, 0, cells * sizeof(int64_t));
	for (size_t i = 0; i < cells; i++)
		sums[i] = 0;
	g->v[g->n++] = (struct rcell){bv, c, 0, sums};
	return &g->v[g->n - 1];
}

/* The shape of the table: nrows cohorts (periods) of nc values each; n
 * look-ahead periods, or nb custom brackets. */
struct rshape {
	int nrows, n, nc, nb;
	const int *brackets;
	bool cumulative;
};

/* One actor (and breakdown value): ist[k] / isr[k] say whether it had a
 * target / returning event in period k; only >= 0 keeps the cohort of
 * that period alone (first-time retention). asum: the aggregation
 * property per period, or NULL; asum0 the same over the returning events
 * at or after the period's first target event (interval 0's value). */
static void count_actor(const struct rshape *sh, const unsigned char *ist, const unsigned char *isr,
			int only, const double *asum, const double *asum0, struct rcell *rcl)
{
	const int nrows = sh->nrows, n = sh->n, nc = sh->nc, nb = sh->nb;
	int64_t *cells = rcl->counts;
	for (int st = 0; st < nrows; st++) {
		if (!ist[st] || (only >= 0 && st != only))
			continue;
		int maxk = 0;
		cells[st * nc + 0]++;
		/* the property over each counted cell's period */
		for (int k = 0; asum && !nb && k < n && st + k < nrows; k++)
			if (k == 0)
				rcl->sums[st * nc] += asum0 ? asum0[st] : asum[st];
			else if (isr[st + k])
				rcl->sums[st * nc + k] += asum[st + k];
		if (nb) {
			/* bracket j: intervals bfrom..bfrom+b_j-1 */
			for (int j = 0, bfrom = 1; j < nb; bfrom += sh->brackets[j++]) {
				bool hit = false;
				for (int k = bfrom; k < bfrom + sh->brackets[j] && st + k < nrows;
				     k++)
					hit |= isr[st + k] != 0;
				if (hit && !sh->cumulative)
					cells[st * nc + j + 1]++;
				if (hit)
					maxk = j + 1;
			}
		} else {
			for (int k = 1; k < n && st + k < nrows; k++)
				if (isr[st + k]) {
					if (!sh->cumulative)
						cells[st * nc + k]++;
					maxk = k;
				}
		}
		if (sh->cumulative)
			for (int k = 1; k <= maxk; k++)
				cells[st * nc + k]++;
	}
}

/* The statement of interval 0's aggregation: per actor[, breakdown value
 * b] and period, the property summed over the returning events at or after
 * the actor's first target event of that period. Rows: actor, period[, b],
 * sum. */
static int start_period_sums(struct ictx *x, struct json_object *q, const char *actor, bool group,
			     enum interval iv, int ws, const struct rentity *target,
			     const struct rentity *back, const char *aggp, const char *bexpr,
			     const char *lo, const char *hi, struct sn_insight_table *out)
{
	struct sn_buf sql, pe;
	sn_buf_init(&sql, 1 << 23);
	sn_buf_init(&pe, 1 << 16);
	int rc = hq_prop(&pe, "properties", aggp);
	char bcol[16] = "";
	if (bexpr)
		snprintf(bcol, sizeof(bcol), ", b");
	rc = rc ? rc
		: sn_buf_appendf(&sql,
				 "SELECT e.actor AS actor, e.period AS period%s, sum(e.v) AS agg0 "
				 "FROM (",
				 bexpr ? ", e.b AS b" : "");
	/* side e: the returning events; side s: the first target time */
	for (int side = 0; side < 2 && rc == 0; side++) {
		const struct rentity *ent = side ? target : back;
		rc = sn_buf_appendf(&sql, "SELECT toString(%s) AS actor, ", actor);
		rc = rc ? rc : bucket_of(&sql, iv, ws, "timestamp");
		rc = rc ? rc : sn_buf_appends(&sql, " AS period");
		if (rc == 0 && bexpr)
			rc = sn_buf_appendf(&sql, ", ifNull(toString(%s), '') AS b", bexpr);
		if (rc == 0 && side)
			rc = sn_buf_appends(&sql, ", min(timestamp) AS t0");
		else if (rc == 0)
			rc = sn_buf_appendf(&sql, ", timestamp AS ts, ifNull(toFloat(%s), 0) AS v",
					    pe.data);
		rc = rc ? rc
			: sn_buf_appendf(&sql, " FROM events%s WHERE (%s)", x->sample, ent->cond);
		rc = rc ? rc : global_filters(x, q, &sql);
		if (rc == 0 && group)
			rc = sn_buf_appendf(&sql, " AND %s != ''", actor);
		rc = rc ? rc
			: sn_buf_appendf(&sql,
					 " AND timestamp >= toDateTime('%s') AND timestamp < "
					 "toDateTime('%s')%s%s) AS %s",
					 lo, hi, side ? " GROUP BY actor, period" : "",
					 side ? bcol : "", side ? "s" : "e");
		if (rc == 0 && !side)
			rc = sn_buf_appends(&sql, " INNER JOIN (");
	}
	rc = rc ? rc
		: sn_buf_appendf(
		      &sql,
		      " ON e.actor = s.actor AND e.period = s.period%s WHERE e.ts >= s.t0 "
		      "GROUP BY actor, period%s LIMIT %d",
		      bexpr ? " AND e.b = s.b" : "", bcol, RETENTION_ROWS_MAX);
	rc = rc ? rc : run_hogql(x, sql.data, sql.len, out);
	sn_buf_release(&sql);
	sn_buf_release(&pe);
	if (rc == 0 && out->nrows >= RETENTION_ROWS_MAX)
		rc = ifail(x, "query_error", "The retention has more than %d actor-periods",
			   RETENTION_ROWS_MAX);
	return rc;
}

/* asum0[k] for actor a (and value bv) from agg0's rows from cursor ai on
 * (both tables in rows_by_actor order); the cursor past them. */
static size_t start_sums_of(struct ictx *x, const struct sn_insight_table *agg0, size_t ai,
			    const struct sn_insight_value *a, const struct sn_insight_value *bv,
			    const int64_t *dates, int nrows, double *asum0)
{
	for (int k = 0; k <= nrows; k++)
		asum0[k] = 0;
	const size_t vcol = bv ? 3 : 2;
	for (; ai < agg0->nrows; ai++) {
		const struct sn_insight_value *r = &agg0->cells[ai * agg0->ncols];
		int c = actor_cmp(r->s, r->slen, a->s, a->slen);
		if (c == 0 && bv)
			c = insight_value_order(&r[2], bv);
		if (c > 0)
			break;
		if (c < 0)
			continue;
		int64_t loc = local_of_cell(x, &r[1]);
		for (int k = 0; k < nrows; k++)
			if (dates[k] == loc)
				asum0[k] +=
				    r[vcol].type == SN_IV_FLOAT ? r[vcol].f : (double)r[vcol].i;
	}
	return ai;
}

static bool same_actor_rows(const struct sn_insight_table *tab, size_t a, size_t b)
{
	const struct sn_insight_value *x = &tab->cells[a * tab->ncols],
				      *y = &tab->cells[b * tab->ncols];
	return x->slen == y->slen && (!x->slen || memcmp(x->s, y->s, x->slen) == 0);
}

/* One actor's rows (s0..i, in time order) in 24-hour windows: its cohort
 * starts at its first target event; a return at t counts in window
 * (t - start) / 24h, inside the look-ahead and before the range's end. */
/* What retention_actors collects: the actors of cohort row `row` (and
 * breakdown value bv, when not NULL). */
struct rcollect {
	int row;
	const char *bv;
	struct actor_rows *rows;
};

/* Adds actor a to col with its appearances: 0 and ks[0..nk) (later
 * intervals, brackets or windows it was counted in), as a JSON list;
 * count = their number. */
static int push_appearances(struct ictx *x, struct rcollect *col, const struct sn_insight_value *a,
			    const int *ks, int nk)
{
	struct sn_buf b;
	sn_buf_init(&b, 1 << 16);
	int rc = sn_buf_appends(&b, "[0");
	for (int i = 0; i < nk && rc == 0; i++)
		rc = sn_buf_appendf(&b, ",%d", ks[i]);
	rc = rc ? rc : sn_buf_appendc(&b, ']');
	rc = rc ? rc : actor_push(x, col->rows, a->s ? a->s : "", a->slen, nk + 1);
	if (rc == 0 && !(col->rows->v[col->rows->n - 1].extra = sn_arena_strdup(x->a, b.data)))
		rc = SN_ERR_NOMEM;
	sn_buf_release(&b);
	return rc;
}

static int window24(struct ictx *x, const struct sn_insight_table *tab, size_t s0, size_t i,
		    const int64_t *dates, int nrows, int n, enum interval iv, int ws,
		    int64_t min_occ, bool cumulative, bool by_value, int64_t end_loc,
		    struct rgroups *g, struct rcollect *col)
{
	const struct sn_insight_value *a = &tab->cells[s0 * tab->ncols];
	/* the actor's first target event over all its breakdown values (its
	 * runs are adjacent): a value's row is the actor's start, as PostHog's */
	int64_t t0 = INT64_MAX;
	size_t lo = s0, hi = i;
	while (lo > 0 && same_actor_rows(tab, lo - 1, s0))
		lo--;
	while (hi < tab->nrows && same_actor_rows(tab, hi, s0))
		hi++;
	for (size_t j = lo; j < hi; j++) {
		const struct sn_insight_value *rj = &tab->cells[j * tab->ncols];
		if (rj[2].i && rj[1].i < t0)
			t0 = rj[1].i;
	}
	if (t0 == INT64_MAX)
		return 0;
	if (by_value) { /* counted for a value only when it has a target event */
		bool any = false;
		for (size_t j = s0; j < i && !any; j++)
			any = tab->cells[j * tab->ncols + 2].i != 0;
		if (!any)
			return 0;
	}
	int64_t day = align_loc(loc_of_utc(x->tz, t0), iv, ws);
	int st = -1;
	for (int k = 0; k < nrows && st < 0; k++)
		if (dates[k] == day)
			st = k;
	if (st < 0)
		return 0;
	int64_t cnt[MAX_INTERVALS] = {0};
	int64_t end_utc = utc_of_loc(x->tz, end_loc);
	for (size_t j = s0; j < i; j++) {
		const struct sn_insight_value *rj = &tab->cells[j * tab->ncols];
		int64_t k = rj[1].i >= t0 ? (rj[1].i - t0) / US_DAY : -1;
		if (rj[3].i && k >= 0 && k < n)
			cnt[k]++;
	}
	char bvbuf[512] = "";
	if (by_value)
		snprintf(bvbuf, sizeof(bvbuf), "%.*s", (int)a[4].slen, a[4].s ? a[4].s : "");
	const char *bv = by_value ? sn_arena_strdup(x->a, bvbuf) : "";
	if (!bv)
		return SN_ERR_NOMEM;
	if (col) { /* the actors of one cohort: windows returned in */
		if (st != col->row || (col->bv && strcmp(col->bv, bv) != 0))
			return 0;
		int ks[MAX_INTERVALS], nk = 0;
		for (int k = 1; k < n && t0 + k * US_DAY < end_utc; k++)
			if (cnt[k] >= min_occ)
				ks[nk++] = k;
		return push_appearances(x, col, a, ks, nk);
	}
	struct rcell *c = cells_of(x, g, bv, (size_t)nrows, (size_t)n);
	if (!c)
		return SN_ERR_NOMEM;
	c->counts[st * n + 0]++;
	int maxk = 0;
	for (int k = 1; k < n && t0 + k * US_DAY < end_utc; k++)
		if (cnt[k] >= min_occ) {
			if (!cumulative)
				c->counts[st * n + k]++;
			maxk = k;
		}
	if (cumulative)
		for (int k = 1; k <= maxk; k++)
			c->counts[st * n + k]++;
	return 0;
}

/* The response's results: per breakdown value (ranked, the rest folded into
 * Other past breakdown_limit) and cohort, its values. */
static int retention_emit(struct ictx *x, struct sn_buf *out, struct rgroups *g,
			  const struct rshape *sh, const int64_t *dates, enum interval iv,
			  bool by_value, struct json_object *bf, const char *aggt)
{
	const int nrows = sh->nrows, nc = sh->nc, nb = sh->nb;
	const int *brackets = sh->brackets;
	int rc;
	/* Breakdown values: those with a cohort, ranked by cohort size (then
	 * value); past breakdown_limit they fold into Other, as in PostHog. */
	if (by_value) {
		size_t keep = 0;
		for (size_t i = 0; i < g->n; i++) {
			int64_t size = 0;
			for (int st = 0; st < nrows; st++)
				size += g->v[i].counts[st * nc];
			if (size > 0) {
				g->v[keep] = g->v[i];
				g->v[keep].size = size;
				keep++;
			}
		}
		g->n = keep;
		qsort(g->v, g->n, sizeof(*g->v), rcell_cmp);
		struct json_object *lim = jget(bf, "breakdown_limit");
		size_t limit = lim ? (size_t)json_object_get_int(lim) : 25;
		if (limit >= 1 && g->n > limit) {
			struct rcell *other = &g->v[limit];
			for (size_t i = limit + 1; i < g->n; i++)
				for (int c = 0; c < nrows * nc; c++) {
					other->counts[c] += g->v[i].counts[c];
					other->sums[c] += g->v[i].sums[c];
				}
			other->bv = "$$_posthog_breakdown_other_$$";
			g->n = limit + 1;
		}
	}
	/* output */
	const char *pname = interval_name(iv);
	char Pname[16];
	snprintf(Pname, sizeof(Pname), "%s", pname);
	Pname[0] = (char)toupper((unsigned char)Pname[0]);
	rc = sn_buf_appends(out, "\"results\":[");
	struct rcell none = {"", NULL, 0, NULL};
	size_t ng = by_value ? g->n : 1;
	for (size_t gi2 = 0; gi2 < ng && rc == 0; gi2++) {
		const struct rcell *c = by_value ? &g->v[gi2] : (g->n ? &g->v[0] : &none);
		for (int st = 0; st < nrows && rc == 0; st++) {
			if (gi2 || st)
				sn_buf_appendc(out, ',');
			sn_buf_appends(out, "{\"values\":[");
			for (int k = 0, bfrom = 1; k < nc; k++) {
				if (aggt) { /* sum, or per actor of the cell */
					int64_t cnt = c->counts ? c->counts[st * nc + k] : 0;
					double v = c->sums ? c->sums[st * nc + k] : 0;
					if (!strcmp(aggt, "avg"))
						v = cnt ? v / (double)cnt : 0;
					sn_buf_appendf(out, "%s{\"aggregation_value\":%.17g,",
						       k ? "," : "", v);
				} else {
					sn_buf_appends(out, k ? ",{" : "{");
				}
				/* a bracket's label spans its intervals ("Day 1-4") */
				char lab[48];
				if (nb && k > 0) {
					int b = brackets[k - 1];
					if (b == 1)
						snprintf(lab, sizeof(lab), "%s %d", Pname, bfrom);
					else
						snprintf(lab, sizeof(lab), "%s %d-%d", Pname, bfrom,
							 bfrom + b - 1);
					bfrom += b;
				} else {
					snprintf(lab, sizeof(lab), "%s %d", Pname, k);
				}
				sn_buf_appendf(out, "\"count\":%lld,\"label\":\"%s\"}",
					       (long long)(c->counts ? c->counts[st * nc + k] : 0),
					       lab);
			}
			/* PostHog's JSON: the period start in the project's zone,
			 * "Z" for UTC, else the offset ("…T00:00:00-07:00") */
			char date[48];
			int64_t utc = utc_of_loc(x->tz, dates[st]);
			int32_t off = (int32_t)((dates[st] - utc) / US_SEC);
			char day[40];
			fmt_loc_dt(day, sizeof(day), dates[st]);
			day[10] = 'T';
			if (off == 0)
				snprintf(date, sizeof(date), "%sZ", day);
			else
				snprintf(date, sizeof(date), "%s%c%02d:%02d", day,
					 off < 0 ? '-' : '+', (off < 0 ? -off : off) / 3600,
					 (off < 0 ? -off : off) / 60 % 60);
			sn_buf_appendf(out, "],\"label\":\"%s %d\",\"date\":\"%s\"", Pname, st,
				       date);
			if (by_value) {
				sn_buf_appends(out, ",\"breakdown_value\":");
				sn_buf_append_json_str(out, c->bv, strlen(c->bv));
			}
			rc = sn_buf_appendc(out, '}');
		}
	}
	return rc ? rc : sn_buf_appendc(out, ']');
}

/* ---- the streamed common case ----------------------------------------
 *
 * Without breakdown, aggregation, 24-hour windows or a minimum above one
 * occurrence, and with at most 64 periods, an actor's part of the table is
 * two bit masks over the periods (target, return) and, for first-time
 * retention, the times of its first target event and first event of the
 * entity's name. One statement streams the events themselves:
 *
 *   SELECT actor, timestamp, <bucket(timestamp)>,
 *          if(target,1,0) + if(returning,2,0) + if(name,4,0) + if(window,8,0)
 *   FROM events WHERE (target OR returning [OR name]) AND <filters> [AND window]
 *
 * (first-time retention reads all time, as the grouped path's second
 * statement does, and so has no window in WHERE) and each backend worker
 * folds its rows into its own per-actor state, keyed by interned actor ids
 * (struct amask, amask.c); the workers' states merge by actor at the end. This is
 * the grouped statement's GROUP BY actor, period done in C on 32 bytes per
 * actor instead of by the executor on 36-byte strings per actor-period,
 * and the first-time statement's scan shared. */
#define RETENTION_EVENTS_MAX 200000000
/* One actor's state (struct amask): words 0, 1 the target and return
 * periods (bit k), 2, 3 the first target event and first event of the
 * name (µs, INT64_MAX = none). */
enum { RS_T, RS_R, RS_MT, RS_MN };

struct rstream {
	struct ictx *x;
	const int64_t *dates;
	int nrows;
	struct amask m;
};

/* The sink: one batch of one worker's rows (actor, timestamp, period, bits). */
static int rstream_sink(void *ctx, unsigned worker, const struct sn_insight_value *cells,
			size_t nrows, size_t ncols)
{
	struct rstream *r = ctx;
	int rc = amask_batch(&r->m, worker, cells, nrows, ncols, 4);
	if (rc)
		return rc;
	struct amask_worker *w = &r->m.w[worker];
	for (size_t i = 0; i < nrows; i++) {
		const struct sn_insight_value *row = &cells[i * ncols];
		uint64_t *a = amask_state(&r->m, worker, w->ids[i]);
		if (i + 8 < nrows)
			__builtin_prefetch(amask_state(&r->m, worker, w->ids[i + 8]));
		int64_t bits = row[3].type == SN_IV_INT ? row[3].i : 0;
		int64_t ts = row[1].type == SN_IV_DATETIME ? row[1].i : INT64_MAX;
		if ((bits & 4) && ts < (int64_t)a[RS_MN])
			a[RS_MN] = (uint64_t)ts;
		if ((bits & 1) && ts < (int64_t)a[RS_MT])
			a[RS_MT] = (uint64_t)ts;
		if (!(bits & 8) || !(bits & 3))
			continue;
		int k = amask_period(r->x, w, &row[2], r->dates, (size_t)r->nrows);
		if (k < 0)
			continue;
		uint64_t bit = (uint64_t)1 << k;
		if (bits & 1)
			a[RS_T] |= bit;
		if (bits & 2)
			a[RS_R] |= bit;
	}
	return 0;
}

/* Whether two conditions are the same text, one maybe in parentheses (an
 * entity's cond is its name_cond in parentheses when it has no filters). */
static bool same_cond(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la == lb)
		return memcmp(a, b, la) == 0;
	if (la < lb) {
		const char *t = a;
		a = b;
		b = t;
		size_t tl = la;
		la = lb;
		lb = tl;
	}
	return la == lb + 2 && a[0] == '(' && a[la - 1] == ')' && memcmp(a + 1, b, lb) == 0;
}

/* Runs the streamed statement and counts every actor into g. */
static int retention_stream(struct ictx *x, struct json_object *q, const struct rentity *target,
			    const struct rentity *back, const char *actor, bool groups,
			    bool first_time, bool first_ever, const char *lo, const char *hi,
			    const int64_t *dates, enum interval iv, const struct rshape *sh,
			    struct rgroups *g)
{
	struct sn_buf sql;
	sn_buf_init(&sql, 1 << 23);
	char window[128];
	snprintf(window, sizeof(window),
		 "timestamp >= toDateTime('%s') AND timestamp < toDateTime('%s')", lo, hi);
	/* the conditions, each once: equal ones share a term (the executor
	 * evaluates every expression it is given) */
	const char *cond[3] = {target->cond, back->cond, first_time ? target->name_cond : NULL};
	int weight[3] = {1, 2, 4};
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < i; j++)
			if (cond[i] && cond[j] && weight[j] && same_cond(cond[i], cond[j])) {
				weight[j] += weight[i];
				weight[i] = 0;
				break;
			}
	int rc = sn_buf_appendf(&sql, "SELECT toString(%s) AS actor, timestamp, ", actor);
	rc = rc ? rc : bucket_of(&sql, iv, x->o->team.week_start_day, "timestamp");
	rc = rc ? rc : sn_buf_appends(&sql, " AS period, ");
	for (int i = 0; i < 3 && rc == 0; i++)
		if (cond[i] && weight[i])
			rc = sn_buf_appendf(&sql, "if(%s, %d, 0) + ", cond[i], weight[i]);
	rc = rc		  ? rc
	     : first_time ? sn_buf_appendf(&sql, "if(%s, 8, 0)", window)
			  : sn_buf_appends(&sql, "8");
	rc = rc ? rc : sn_buf_appendf(&sql, " AS bits FROM events%s WHERE (", x->sample);
	for (int i = 0, any = 0; i < 3 && rc == 0; i++)
		if (cond[i] && weight[i])
			rc = sn_buf_appendf(&sql, "%s%s", any++ ? " OR " : "", cond[i]);
	rc = rc ? rc : sn_buf_appendc(&sql, ')');
	rc = rc ? rc : global_filters(x, q, &sql);
	if (rc == 0 && groups)
		rc = sn_buf_appendf(&sql, " AND %s != ''", actor);
	if (rc == 0 && !first_time)
		rc = sn_buf_appendf(&sql, " AND %s", window);
	rc = rc ? rc : sn_buf_appendf(&sql, " LIMIT %d", RETENTION_EVENTS_MAX);

	struct rstream *r = calloc(1, sizeof(*r));
	if (!r) {
		sn_buf_release(&sql);
		return SN_ERR_NOMEM;
	}
	r->x = x;
	r->dates = dates;
	r->nrows = sh->nrows;
	amask_init(&r->m, 2, 2);
	size_t nread = 0;
	x->max_rows = RETENTION_EVENTS_MAX;
	if (rc == 0)
		rc = run_hogql_stream(x, sql.data, sql.len, rstream_sink, r, &nread);
	x->max_rows = 0;
	sn_buf_release(&sql);
	int crc = amask_check(x, &r->m, "retention");
	rc = crc ? crc : rc;
	if (rc == 0 && nread >= RETENTION_EVENTS_MAX)
		rc = ifail(x, "query_error",
			   "The retention reads more than %d events; use a shorter range",
			   RETENTION_EVENTS_MAX);
	rc = rc ? rc : amask_merge(&r->m);
	unsigned char ist[64], isr[64];
	struct rcell *rcl = NULL;
	if (rc == 0 && !(rcl = cells_of(x, g, "", (size_t)sh->nrows, (size_t)sh->nc)))
		rc = SN_ERR_NOMEM;
	for (size_t j = 0; rc == 0 && j < r->m.w[0].actors.n; j++) {
		const uint64_t *a = amask_state(&r->m, 0, (uint32_t)j);
		if (!a[RS_T])
			continue; /* no cohort in the window */
		int only = -1;
		if (first_time) {
			/* the period of the actor's first target event, if a
			 * cohort (first_ever: that must be its name's first) */
			int64_t mt = (int64_t)a[RS_MT];
			if (mt == INT64_MAX || (first_ever && a[RS_MT] != a[RS_MN]))
				continue;
			int64_t first =
			    align_loc(loc_of_utc(x->tz, mt), iv, x->o->team.week_start_day);
			for (int k = 0; k < sh->nrows; k++)
				if (dates[k] == first && (a[RS_T] >> k & 1))
					only = k;
			if (only < 0)
				continue;
		}
		for (int k = 0; k < sh->nrows; k++) {
			ist[k] = a[RS_T] >> k & 1;
			isr[k] = a[RS_R] >> k & 1;
		}
		count_actor(sh, ist, isr, only, NULL, NULL, rcl);
	}
	amask_release(&r->m);
	free(r);
	return rc;
}

/* Adds the actor a (its periods ist / isr) to col when it is in the
 * cohort: its appearances are 0 and every later interval it is counted
 * in (a bracket's number with custom brackets). */
static int collect_actor(struct ictx *x, const struct rshape *sh, const unsigned char *ist,
			 const unsigned char *isr, int only, const struct sn_insight_value *a,
			 const char *bv, struct rcollect *col)
{
	const int st = col->row;
	if (st >= sh->nrows || !ist[st] || (only >= 0 && st != only) ||
	    (col->bv && strcmp(col->bv, bv) != 0))
		return 0;
	int ks[MAX_INTERVALS], nk = 0;
	if (sh->nb) {
		for (int j = 0, bfrom = 1; j < sh->nb; bfrom += sh->brackets[j++]) {
			bool hit = false;
			for (int k = bfrom; k < bfrom + sh->brackets[j] && st + k < sh->nrows; k++)
				hit |= isr[st + k] != 0;
			if (hit)
				ks[nk++] = j + 1;
		}
	} else {
		for (int k = 1; k < sh->n && st + k < sh->nrows; k++)
			if (isr[st + k])
				ks[nk++] = k;
	}
	return push_appearances(x, col, a, ks, nk);
}

static int retention_core(struct ictx *x, struct json_object *q, struct sn_buf *out,
			  struct rcollect *col, int *agg_gti);

int retention_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	int gti;
	return retention_core(x, q, out, NULL, &gti);
}

int retention_actors(struct ictx *x, struct json_object *q, int interval, const char *bv,
		     struct actor_rows *out, int *agg_gti)
{
	struct rcollect col = {interval, bv, out};
	return retention_core(x, q, NULL, &col, agg_gti);
}

/* The retention of q into out, or (col) the actors of one cohort. */
static int retention_core(struct ictx *x, struct json_object *q, struct sn_buf *out,
			  struct rcollect *col, int *agg_gti)
{
	struct json_object *rf = jget(q, "retentionFilter");
	const char *type = jstr(rf, "retentionType");
	bool first_ever = type && strcmp(type, "retention_first_ever_occurrence") == 0;
	bool first_time = first_ever || (type && strcmp(type, "retention_first_time") == 0);
	const char *period = jstr(rf, "period");
	char pbuf[16] = "day";
	if (period) {
		snprintf(pbuf, sizeof(pbuf), "%s", period);
		for (char *c = pbuf; *c; c++)
			*c = (char)tolower((unsigned char)*c);
	}
	enum interval iv;
	int rc = interval_of(x, pbuf, &iv);
	if (rc)
		return rc;
	if (iv == IV_MINUTE)
		return ifail(x, "validation_error",
			     "retentionFilter.period must be Hour, Day, Week or Month");
	struct json_object *ti = jget(rf, "totalIntervals");
	int n = ti ? json_object_get_int(ti) : 7;
	if (n < 1 || n > MAX_INTERVALS)
		return ifail(x, "validation_error",
			     "retentionFilter.totalIntervals must be 1 to %d", MAX_INTERVALS);
	struct json_object *mo = jget(rf, "minimumOccurrences");
	int64_t min_occ = mo ? json_object_get_int64(mo) : 1;
	if (min_occ < 1)
		min_occ = 1;
	/* retentionCustomBrackets [b1, b2, ...]: the returns are counted per
	 * bracket, bracket j covering the next b_j intervals after the
	 * previous one; the row is [cohort size, one value per bracket] */
	struct json_object *cb = jget(rf, "retentionCustomBrackets");
	int brackets[MAX_INTERVALS];
	int nb = 0;
	if (cb && !json_object_is_type(cb, json_type_null)) {
		size_t len = json_object_is_type(cb, json_type_array) ? json_object_array_length(cb)
								      : SIZE_MAX;
		if (len == SIZE_MAX || len > MAX_INTERVALS)
			return ifail(x, "validation_error",
				     "retentionFilter.retentionCustomBrackets must be a list of at "
				     "most %d positive integers",
				     MAX_INTERVALS);
		for (size_t i = 0; i < len; i++) {
			struct json_object *v = json_object_array_get_idx(cb, i);
			int b = json_object_is_type(v, json_type_int) ? json_object_get_int(v) : 0;
			if (b < 1 || b > MAX_INTERVALS)
				return ifail(
				    x, "validation_error",
				    "retentionFilter.retentionCustomBrackets[%zu] must be a "
				    "positive integer",
				    i);
			brackets[nb++] = b;
		}
	}
	/* aggregationType sum|avg of aggregationProperty: each value also
	 * carries aggregation_value, the property summed over the returning
	 * events of the cell's actors in that period (avg: per actor) */
	const char *aggt = jstr(rf, "aggregationType");
	const char *aggp = jstr(rf, "aggregationProperty");
	if (aggt && !strcmp(aggt, "count"))
		aggt = NULL;
	if (aggt && strcmp(aggt, "sum") && strcmp(aggt, "avg"))
		return ifail(x, "validation_error",
			     "retentionFilter.aggregationType must be count, sum or avg");
	if (aggt && (!aggp || !*aggp))
		return ifail(x, "validation_error",
			     "retentionFilter.aggregationType %s needs an aggregationProperty",
			     aggt);
	/* timeWindowMode 24_hour_windows: each actor's cohort starts at its
	 * first target event (its row: that event's period) and interval k is
	 * [start + 24h k, start + 24h (k + 1)); read per event, not per period */
	const char *twm = jstr(rf, "timeWindowMode");
	bool w24 = twm && strcmp(twm, "24_hour_windows") == 0;
	if (w24 && (aggt || nb))
		return ifail(x, "not_supported",
			     "24-hour windows with aggregationType or retentionCustomBrackets are "
			     "not supported yet");
	struct rentity target, back;
	if ((rc = entity(x, jget(rf, "targetEntity"), "targetEntity", &target)) ||
	    (rc = entity(x, jget(rf, "returningEntity"), "returningEntity", &back)))
		return rc;
	/* The window: n periods ending with date_to's (QueryDateRangeWithIntervals). */
	struct drange r;
	if ((rc = dr_parse(x, jget(q, "dateRange"), iv == IV_HOUR ? IV_HOUR : IV_DAY, INT64_MIN,
			   false, &r)))
		return rc;
	int ws = x->o->team.week_start_day;
	int64_t end = iv == IV_HOUR ? align_loc(r.to, IV_HOUR, ws) : align_loc(r.to, IV_DAY, ws);
	end = add_interval(end, iv, 1);
	if (iv == IV_HOUR)
		end = align_loc(end, IV_HOUR, ws);
	else
		end = align_loc(end, IV_DAY, ws);
	int64_t start =
	    add_interval(iv == IV_WEEK || iv == IV_HOUR ? end : align_loc(end, IV_DAY, ws), iv, -n);
	if (iv == IV_WEEK)
		start = align_loc(start, IV_WEEK, ws);
	int64_t from = align_loc(start, iv, ws);
	/* An explicit date_from sets the first cohort (rows may then outnumber
	 * totalIntervals; each row still looks totalIntervals periods ahead). */
	const char *df = jstr(jget(q, "dateRange"), "date_from");
	bool explicit_from = df && *df && strcmp(df, "all") != 0;
	int nrows = n;
	if (explicit_from) {
		from = align_loc(r.from, iv, ws);
		int64_t last = align_loc(r.to, iv, ws);
		nrows = 0;
		for (int64_t t = from; t <= last && nrows <= 10 * MAX_INTERVALS;
		     t = add_interval(t, iv, 1))
			nrows++;
	}
	if (nrows > 10 * MAX_INTERVALS)
		return ifail(x, "validation_error", "The retention window has more than %d periods",
			     10 * MAX_INTERVALS);
	int64_t *dates = sn_arena_alloc(x->a, (size_t)(nrows ? nrows : 1) * sizeof(int64_t));
	if (!dates)
		return SN_ERR_NOMEM;
	for (int i = 0; i < nrows; i++)
		dates[i] = add_interval(from, iv, i);
	/* breakdown (one property) */
	struct json_object *bf = jget(q, "breakdownFilter");
	char *bexpr = NULL;
	struct json_object *bl = jget(bf, "breakdowns"), *b0 = NULL;
	if (bl && json_object_is_type(bl, json_type_array) && json_object_array_length(bl))
		b0 = json_object_array_get_idx(bl, 0);
	if (bf && (jget(bf, "breakdown") || b0)) {
		const char *bt = b0 ? jstr(b0, "type") : jstr(bf, "breakdown_type");
		const char *prop = b0 ? jstr(b0, "property") : jstr(bf, "breakdown");
		if (bt && strcmp(bt, "cohort") == 0)
			return ifail(x, "not_supported", "Cohort breakdowns are not supported yet");
		struct sn_buf e;
		sn_buf_init(&e, 1 << 16);
		if (!prop)
			rc = ifail(x, "validation_error",
				   "breakdownFilter.breakdown must be a property name");
		else if (!bt || strcmp(bt, "event") == 0)
			rc = hq_prop(&e, "properties", prop);
		else if (strcmp(bt, "person") == 0)
			rc = hq_person_prop(&e, prop);
		else if (strcmp(bt, "event_metadata") == 0)
			rc = hq_ident(&e, prop);
		else
			rc = ifail(x, "not_supported",
				   "Retention breakdowns of type '%s' are not supported yet", bt);
		if (rc == 0 && !(bexpr = sn_arena_strndup(x->a, e.data, e.len)))
			rc = SN_ERR_NOMEM;
		sn_buf_release(&e);
		if (rc)
			return rc;
	}
	struct json_object *gi = jget(q, "aggregation_group_type_index");
	int gti = gi ? json_object_get_int(gi) : -1;
	*agg_gti = gti;
	if (col && (col->row < 0 || col->row >= nrows))
		return ifail(x, "validation_error", "interval must be 0 to %d: a cohort's row",
			     nrows - 1);
	char actor[16];
	if (gti >= 0)
		snprintf(actor, sizeof(actor), "$group_%d", gti);
	else
		snprintf(actor, sizeof(actor), "person_id");
	char lo[40], hi[40];
	fmt_loc_dt(lo, sizeof(lo), from);
	fmt_loc_dt(hi, sizeof(hi), end);
	bool cumulative = jbool(rf, "cumulative");
	const int nc = nb ? nb + 1 : n; /* values per row */
	struct rgroups g = {0};
	const struct rshape shape = {nrows, n, nc, nb, brackets, cumulative};
	/* The common case streams events instead of grouping them (below). */
	if (x->o->backend.stream && !bexpr && !aggt && !w24 && min_occ == 1 && nrows <= 64 &&
	    !col) {
		rc = retention_stream(x, q, &target, &back, actor, gti >= 0, first_time, first_ever,
				      lo, hi, dates, iv, &shape, &g);
		return rc ? rc : retention_emit(x, out, &g, &shape, dates, iv, false, bf, aggt);
	}
	struct sn_buf sql;
	sn_buf_init(&sql, 1 << 23);
	rc = sn_buf_appendf(&sql, "SELECT toString(%s) AS actor, ", actor);
	if (w24)
		rc = rc ? rc
			: sn_buf_appendf(&sql,
					 "timestamp AS period, if(%s, 1, 0) AS is_target, "
					 "if(%s, 1, 0) AS is_return",
					 target.cond, back.cond);
	else
		rc = rc ? rc : bucket_of(&sql, iv, ws, "timestamp");
	rc =
	    rc || w24
		? rc
		: sn_buf_appendf(&sql, " AS period, max(%s) AS is_target, countIf(%s) AS is_return",
				 target.cond, back.cond);
	if (rc == 0 && bexpr)
		rc = sn_buf_appendf(&sql, ", ifNull(toString(%s), '') AS b", bexpr);
	if (rc == 0 && aggt) {
		struct sn_buf pe;
		sn_buf_init(&pe, 1 << 16);
		/* a person property counts once per actor and period */
		const char *apt = jstr(rf, "aggregationPropertyType");
		bool person = apt && !strcmp(apt, "person");
		rc = hq_prop(&pe, person ? "person.properties" : "properties", aggp);
		if (rc == 0 && person)
			rc = sn_buf_appendf(&sql, ", max(ifNull(toFloat(%s), 0)) AS agg", pe.data);
		else if (rc == 0)
			rc = sn_buf_appendf(&sql, ", sumIf(ifNull(toFloat(%s), 0), %s) AS agg",
					    pe.data, back.cond);
		sn_buf_release(&pe);
	}
	rc = rc ? rc
		: sn_buf_appendf(&sql, " FROM events%s WHERE (%s OR %s)", x->sample, target.cond,
				 back.cond);
	rc = rc ? rc : global_filters(x, q, &sql);
	if (rc == 0 && gti >= 0)
		rc = sn_buf_appendf(&sql, " AND %s != ''", actor);
	rc = rc ? rc
		: sn_buf_appendf(
		      &sql,
		      " AND timestamp >= toDateTime('%s') AND timestamp < toDateTime('%s')%s%s "
		      "LIMIT %d",
		      lo, hi, w24 ? "" : " GROUP BY actor, period", w24 || !bexpr ? "" : ", b",
		      RETENTION_ROWS_MAX);
	struct sn_insight_table tab, firsts = {0};
	x->max_rows = RETENTION_ROWS_MAX;
	if (rc == 0)
		rc = run_hogql(x, sql.data, sql.len, &tab);
	if (rc == 0 && first_time) {
		/* each actor's first-ever target event, all time */
		sn_buf_reset(&sql);
		rc = sn_buf_appendf(&sql,
				    "SELECT toString(%s) AS actor, min(timestamp), "
				    "minIf(timestamp, %s) FROM events%s "
				    "WHERE %s",
				    actor, target.cond, x->sample, target.name_cond);
		rc = rc ? rc : global_filters(x, q, &sql);
		rc = rc ? rc : sn_buf_appendf(&sql, " GROUP BY actor LIMIT %d", RETENTION_ROWS_MAX);
		rc = rc ? rc : run_hogql(x, sql.data, sql.len, &firsts);
		rc = rc ? rc : rows_by_actor(x, &firsts, NULL, 0);
	}
	/* Interval 0 of an event property aggregation counts only the returning
	 * events at or after the period's first target event (PostHog's start
	 * event): per actor[, value] and period, joined to that first time. */
	struct sn_insight_table agg0 = {0};
	const char *apt = jstr(rf, "aggregationPropertyType");
	if (rc == 0 && aggt && !(apt && !strcmp(apt, "person")))
		rc = start_period_sums(x, q, actor, gti >= 0, iv, ws, &target, &back, aggp, bexpr,
				       lo, hi, &agg0);
	/* (actor[, breakdown], period) order, built here (actorsort.c) */
	static const size_t by_period[] = {1}, by_value_period[] = {4, 1}, by_value0[] = {2, 1};
	if (rc == 0)
		rc = rows_by_actor(x, &tab, bexpr ? by_value_period : by_period, bexpr ? 2 : 1);
	if (rc == 0 && agg0.ncols)
		rc = rows_by_actor(x, &agg0, bexpr ? by_value0 : by_period, bexpr ? 2 : 1);
	x->max_rows = 0;
	sn_buf_release(&sql);
	if (rc)
		return rc;
	if (tab.nrows >= RETENTION_ROWS_MAX)
		return ifail(x, "query_error", "The retention has more than %d actor-periods",
			     RETENTION_ROWS_MAX);
	/* per (actor, value): the periods with target / return events */
	unsigned char *ist = sn_arena_alloc(x->a, (size_t)nrows + 1),
		      *isr = sn_arena_alloc(x->a, (size_t)nrows + 1);
	double *asum = sn_arena_alloc(x->a, ((size_t)nrows + 1) * sizeof(double));
	double *asum0 = sn_arena_alloc(x->a, ((size_t)nrows + 1) * sizeof(double));
	if (!ist || !isr || !asum || !asum0)
		return SN_ERR_NOMEM;
	const size_t aggcol = bexpr ? 5 : 4;
	size_t fi = 0; /* cursor into firsts (both sorted by actor) */
	size_t ai = 0; /* cursor into agg0 (sorted alike) */
	size_t s0 = 0;
	for (size_t i = 0; i <= tab.nrows; i++) {
		const struct sn_insight_value *row =
		    i < tab.nrows ? &tab.cells[i * tab.ncols] : NULL;
		bool boundary = !row;
		if (row && i > s0) {
			const struct sn_insight_value *a = &tab.cells[s0 * tab.ncols];
			boundary = a->slen != row->slen || memcmp(a->s, row->s, a->slen) != 0 ||
				   (bexpr && (a[4].slen != row[4].slen ||
					      memcmp(a[4].s, row[4].s, a[4].slen) != 0));
		}
		if (boundary && i > s0) {
			const struct sn_insight_value *a = &tab.cells[s0 * tab.ncols];
			memset(ist, 0, (size_t)nrows + 1);
			memset(isr, 0, (size_t)nrows + 1);
			for (int k = 0; k <= nrows; k++)
				asum[k] = 0;
			for (size_t j = s0; j < i; j++) {
				const struct sn_insight_value *rj = &tab.cells[j * tab.ncols];
				int64_t loc = local_of_cell(x, &rj[1]);
				for (int k = 0; k < nrows; k++)
					if (dates[k] == loc) {
						ist[k] |= rj[2].i != 0;
						isr[k] |= rj[3].i >= min_occ;
						if (aggt && tab.ncols > aggcol)
							asum[k] += rj[aggcol].type == SN_IV_FLOAT
								       ? rj[aggcol].f
								       : (double)rj[aggcol].i;
					}
			}
			if (agg0.ncols)
				ai = start_sums_of(x, &agg0, ai, a, bexpr ? &a[4] : NULL, dates,
						   nrows, asum0);
			if (w24) {
				rc = window24(x, &tab, s0, i, dates, nrows, n, iv, ws, min_occ,
					      cumulative, bexpr != NULL, end, &g, col);
				if (rc)
					return rc;
				s0 = i;
				continue;
			}
			int only = -1;
			if (first_time) {
				/* the actor's first target period, if inside the window */
				int64_t first = INT64_MIN;
				while (fi < firsts.nrows) {
					const struct sn_insight_value *f =
					    &firsts.cells[fi * firsts.ncols];
					int c = actor_cmp(f->s, f->slen, a->s, a->slen);
					if (c < 0) {
						fi++;
						continue;
					}
					/* first_time: the first event matching the entity;
					 * first_ever: the first of its name, which must match */
					if (c == 0 && f[2].type == SN_IV_DATETIME &&
					    (!first_ever || f[2].i == f[1].i))
						first =
						    align_loc(loc_of_utc(x->tz, f[2].i), iv, ws);
					break;
				}
				for (int k = 0; k < nrows; k++)
					if (dates[k] == first && ist[k])
						only = k;
				if (only < 0) {
					s0 = i;
					continue;
				}
			}
			char bvbuf[512] = "";
			if (bexpr)
				snprintf(bvbuf, sizeof(bvbuf), "%.*s", (int)a[4].slen,
					 a[4].s ? a[4].s : "");
			const char *bv = bexpr ? sn_arena_strdup(x->a, bvbuf) : "";
			if (!bv)
				return SN_ERR_NOMEM;
			if (col) {
				rc = collect_actor(x, &shape, ist, isr, only, a, bv, col);
				if (rc)
					return rc;
				s0 = i;
				continue;
			}
			struct rcell *rcl = cells_of(x, &g, bv, (size_t)nrows, (size_t)nc);
			if (!rcl)
				return SN_ERR_NOMEM;
			count_actor(&shape, ist, isr, only, aggt ? asum : NULL,
				    agg0.ncols ? asum0 : NULL, rcl);
			s0 = i;
		}
	}
	if (col)
		return 0;
	return retention_emit(x, out, &g, &shape, dates, iv, bexpr != NULL, bf, aggt);
}
