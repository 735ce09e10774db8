/*
 * test_exec_agg.c — the executor's aggregates and SELECT without FROM as
 * a user sees them: HogQL text in, values out, over parts written with
 * the store API from generated rows (numbers with duplicates and
 * negatives, missing properties that read as NULL, one group whose values
 * are all missing, thirty one-row groups, and a second team whose extreme
 * values would show in any result that leaked them).
 *
 * Every expected value is computed here from the generated rows, by other
 * means than the executor's (a sort and an index for quantiles, two-pass
 * sums for variances, scans for argMin/argMax and distinct tuples), so a
 * wrong aggregate fails. The memory budget is checked on a larger store
 * of its own, where collecting a quantile's values must exceed a budget
 * the same scan without quantiles fits in.
 */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NROWS	400 /* team 1 */
#define NROWS2	50  /* team 2 */
#define NSINGLE 30  /* rows NROWS - NSINGLE .. NROWS - 1 are groups of one */
#define ALLNULL 7   /* the group whose v is always missing */

static const char *const EVENTS[] = {"$pageview", "signup", "purchase"};

struct row {
	int64_t team;
	int64_t ts_us;
	const char *event;
	int k;		 /* group key */
	bool has_v;	 /* v: a decimal with duplicates and negatives */
	double v;	 /* as toFloat reads the text */
	bool has_n;	 /* n: a small integer with duplicates */
	int64_t n;	 /* */
	bool has_u;	 /* u: unique per row */
	int64_t u;	 /* */
	bool has_s;	 /* s: a string with duplicates */
	char s[8];	 /* */
	char props[160]; /* */
};

static struct row ROWS[NROWS + NROWS2];

static void make_rows(void)
{
	for (int i = 0; i < NROWS + NROWS2; i++) {
		struct row *r = &ROWS[i];
		memset(r, 0, sizeof(*r));
		bool t2 = i >= NROWS;
		r->team = t2 ? 2 : 1;
		r->ts_us = (1704067200LL + (int64_t)i * 3600 + (i * 17) % 600) * 1000000LL;
		r->event = EVENTS[i % 3];
		r->k = i < NROWS - NSINGLE ? i % 37 : 100 + i;
		if (t2)
			r->k = i % 37;
		char vtext[32] = "", ntext[32] = "", utext[32] = "", stext[16] = "";
		r->has_v = i % 11 != 5 && r->k != ALLNULL;
		if (r->has_v) {
			snprintf(vtext, sizeof(vtext), "%.1f",
				 t2 ? 1e6 : (double)((i * 7919) % 1000) / 10.0 - 20.0);
			r->v = strtod(vtext, NULL);
		}
		r->has_n = i % 13 != 7;
		r->n = t2 ? 1000000 : (i * 37) % 101;
		snprintf(ntext, sizeof(ntext), "%lld", (long long)r->n);
		r->has_u = i % 10 != 3;
		r->u = t2 ? 1000000 + i : (i * 7) % 401;
		snprintf(utext, sizeof(utext), "%lld", (long long)r->u);
		r->has_s = i % 9 != 4;
		snprintf(r->s, sizeof(r->s), t2 ? "zzz" : "s%02d", (i * 13) % 50);
		snprintf(stext, sizeof(stext), "\"%s\"", r->s);
		char *p = r->props;
		size_t left = sizeof(r->props);
		int w = snprintf(p, left, "{\"k\":%d", r->k);
		if (r->has_v)
			w += snprintf(p + w, left - (size_t)w, ",\"v\":%s", vtext);
		if (r->has_n)
			w += snprintf(p + w, left - (size_t)w, ",\"n\":%s", ntext);
		if (r->has_u)
			w += snprintf(p + w, left - (size_t)w, ",\"u\":%s", utext);
		if (r->has_s)
			w += snprintf(p + w, left - (size_t)w, ",\"s\":%s", stext);
		snprintf(p + w, left - (size_t)w, "}");
	}
}

static void write_rows(const char *dir, const struct row *rows, size_t n, uint32_t granule_rows,
		       uint64_t part_id)
{
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		struct sn_event_row er = {0};
		er.uuid[13] = (uint8_t)(i >> 16);
		er.uuid[14] = (uint8_t)(i >> 8);
		er.uuid[15] = (uint8_t)i;
		er.uuid[6] = 0x70;
		er.team_id = r->team;
		er.timestamp_us = r->ts_us;
		er.created_at_us = r->ts_us;
		er.event = (struct sn_str){r->event, strlen(r->event)};
		er.distinct_id = (struct sn_str){"d", 1};
		er.properties = (struct sn_str){r->props, strlen(r->props)};
		er.elements_chain = (struct sn_str){"", 0};
		assert_int_equal(sn_memtable_append(&mt, &er, &err), 0);
	}
	struct sn_part_write_opts o = {.granule_rows = granule_rows, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, dir, part_id, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
}

struct fixture {
	char dir[512];
	struct sn_exec_opts opts;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	make_rows();
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_exec_agg"), 0);
	write_rows(f.dir, ROWS, NROWS + NROWS2, 16, 1);
	f.opts.store_dir = f.dir;
	f.opts.team_id = 1;
	f.opts.run_granules = 2;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sn_test_rm_rf(f->dir);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

static void run_ok(struct fixture *f, const char *q, struct sn_exec_result *res)
{
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), res, &err);
	if (rc)
		fail_msg("query failed: %s (%s at %u-%u): %s", err.msg, err.type, err.start,
			 err.end, q);
}

static const struct sn_exec_value *cell(const struct sn_exec_result *r, size_t row, size_t col)
{
	assert_true(row < r->nrows && col < r->ncols);
	return &r->cells[row * r->ncols + col];
}

static void expect_error(struct fixture *f, const char *q, const char *msg_part)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	if (rc == 0) {
		sn_exec_result_release(&res);
		fail_msg("query succeeded, expected '%s': %s", msg_part, q);
	}
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
}

static void expect_type(const struct sn_exec_result *r, size_t col, const char *type)
{
	assert_true(col < r->ncols);
	if (strcmp(r->types[col], type) != 0)
		fail_msg("column %zu: type %s, expected %s", col, r->types[col], type);
}

static void expect_float(const struct sn_exec_value *v, double want)
{
	assert_false(v->null);
	assert_int_equal(v->type, SN_XT_FLOAT);
	if (isnan(want)) {
		if (!isnan(v->f))
			fail_msg("got %.17g, expected nan", v->f);
		return;
	}
	double tol = 1e-9 * fmax(1.0, fabs(want));
	if (!(fabs(v->f - want) <= tol))
		fail_msg("got %.17g, expected %.17g", v->f, want);
}

static void expect_str(const struct sn_exec_value *v, const char *s)
{
	assert_false(v->null);
	if (v->s.len != strlen(s) || (v->s.len && memcmp(v->s.p, s, v->s.len) != 0))
		fail_msg("got '%.*s', expected '%s'", (int)v->s.len, v->s.p ? v->s.p : "", s);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The interpolated quantile of ClickHouse's `quantile` on small inputs:
 * the value at fractional position level * (n - 1) of the sorted data. */
static double interp(double *xs, size_t n, double level)
{
	qsort(xs, n, sizeof(*xs), cmp_d);
	double pos = level * (double)(n - 1);
	size_t lo = (size_t)floor(pos);
	if (lo + 1 >= n)
		return xs[n - 1];
	return xs[lo] + (xs[lo + 1] - xs[lo]) * (pos - (double)lo);
}

/* quantileExact: the element at floor(level * n) of the sorted data. */
static double exact(double *xs, size_t n, double level)
{
	qsort(xs, n, sizeof(*xs), cmp_d);
	size_t k = level < 1 ? (size_t)(level * (double)n) : n - 1;
	return xs[k];
}

typedef bool (*pred_fn)(const struct row *r);

static bool all(const struct row *r)
{
	(void)r;
	return true;
}

static bool is_signup(const struct row *r)
{
	return strcmp(r->event, "signup") == 0;
}

/* The team-1 values of v (or n when use_n) of rows passing p. */
static size_t collect(double *out, pred_fn p, bool use_n)
{
	size_t m = 0;
	for (int i = 0; i < NROWS; i++) {
		const struct row *r = &ROWS[i];
		if (!p(r) || !(use_n ? r->has_n : r->has_v))
			continue;
		out[m++] = use_n ? (double)r->n : r->v;
	}
	return m;
}

/* ---- quantiles ---------------------------------------------------------------------- */

static void test_quantiles(void **state)
{
	struct fixture *f = *state;
	double xs[NROWS], ns[NROWS];
	size_t nx = collect(xs, all, false), nn = collect(ns, all, true);
	assert_true(nx > 300 && nn > 300);

	struct sn_exec_result res;
	run_ok(f,
	       "select quantile(0.9)(toFloat(properties.v)), median(toFloat(properties.v)), "
	       "quantile(0)(toFloat(properties.v)), quantile(1)(toFloat(properties.v)), "
	       "medianExact(toInt(properties.n)), quantile(0.25)(toInt(properties.n)), "
	       "quantile(toFloat(properties.v)) from events",
	       &res);
	assert_int_equal(res.nrows, 1);
	for (size_t c = 0; c < 7; c++)
		expect_type(&res, c, c == 4 ? "Nullable(Int64)" : "Nullable(Float64)");
	expect_float(cell(&res, 0, 0), interp(xs, nx, 0.9));
	expect_float(cell(&res, 0, 1), interp(xs, nx, 0.5));
	expect_float(cell(&res, 0, 2), xs[0]);
	expect_float(cell(&res, 0, 3), xs[nx - 1]);
	assert_false(cell(&res, 0, 4)->null);
	assert_int_equal(cell(&res, 0, 4)->i, (int64_t)exact(ns, nn, 0.5));
	expect_float(cell(&res, 0, 5), interp(ns, nn, 0.25));
	expect_float(cell(&res, 0, 6), interp(xs, nx, 0.5)); /* default level */
	sn_exec_result_release(&res);

	/* -If forms; a condition no row meets gives NULL for a nullable argument. */
	double sx[NROWS];
	size_t ns_x = collect(sx, is_signup, false);
	run_ok(f,
	       "select quantileIf(0.75)(toFloat(properties.v), event = 'signup'), "
	       "medianIf(toFloat(properties.v), event = 'nothing'), "
	       "medianExactIf(toFloat(properties.v), event = 'signup'), "
	       "quantile(0.75)(toFloat(properties.v)) FILTER (WHERE event = 'signup'), "
	       "count() FILTER (WHERE event = 'signup') from events",
	       &res);
	expect_float(cell(&res, 0, 0), interp(sx, ns_x, 0.75));
	assert_true(cell(&res, 0, 1)->null);
	expect_float(cell(&res, 0, 2), exact(sx, ns_x, 0.5));
	expect_float(cell(&res, 0, 3), interp(sx, ns_x, 0.75));
	assert_int_equal(cell(&res, 0, 4)->i, NROWS / 3);
	sn_exec_result_release(&res);

	/* A non-nullable argument over no rows: nan for Float64, the default
	 * for quantileExact's integer result. */
	run_ok(f,
	       "select quantile(0.5)(length(event)), medianExact(length(event)), count() from "
	       "events where event = 'nothing'",
	       &res);
	expect_type(&res, 0, "Float64");
	expect_type(&res, 1, "UInt64");
	expect_float(cell(&res, 0, 0), NAN);
	assert_false(cell(&res, 0, 1)->null);
	assert_int_equal(cell(&res, 0, 1)->i, 0);
	sn_exec_result_release(&res);

	/* Times keep their type; the interpolated value is truncated to µs. */
	double ts[NROWS];
	for (int i = 0; i < NROWS; i++)
		ts[i] = (double)ROWS[i].ts_us;
	run_ok(f, "select median(timestamp), medianExact(timestamp) from events", &res);
	assert_int_equal(cell(&res, 0, 0)->type, SN_XT_DATETIME);
	assert_int_equal(cell(&res, 0, 0)->i, (int64_t)interp(ts, NROWS, 0.5));
	assert_int_equal(cell(&res, 0, 1)->i, (int64_t)exact(ts, NROWS, 0.5));
	sn_exec_result_release(&res);

	expect_error(f, "select quantile(1.5)(toFloat(properties.v)) from events", "out of range");
	expect_error(f, "select quantile(0.5)(event) from events", "Illegal type String");
	expect_error(f, "select median(toFloat(properties.v), 1) from events", "argument");
}

/* Per group: quantiles, argMax and counts of 67 groups, one of them with
 * no value and thirty with one row. */
static void test_group_by(void **state)
{
	struct fixture *f = *state;
	struct sn_exec_result res;
	run_ok(f,
	       "select toInt(properties.k) as k, quantile(0.3)(toFloat(properties.v)), "
	       "medianExact(toInt(properties.n)), argMax(properties.s, toInt(properties.u)), "
	       "varSamp(toFloat(properties.v)), count() from events group by k order by k",
	       &res);
	assert_int_equal(res.nrows, 37 + NSINGLE);
	for (size_t g = 0; g < res.nrows; g++) {
		int64_t k = cell(&res, g, 0)->i;
		double xs[NROWS], ns[NROWS];
		size_t nx = 0, nn = 0, cnt = 0;
		int64_t best_u = -1;
		const char *best_s = NULL;
		for (int i = 0; i < NROWS; i++) {
			const struct row *r = &ROWS[i];
			if (r->k != k)
				continue;
			cnt++;
			if (r->has_v)
				xs[nx++] = r->v;
			if (r->has_n)
				ns[nn++] = (double)r->n;
			if (r->has_s && r->has_u && r->u > best_u) {
				best_u = r->u;
				best_s = r->s;
			}
		}
		assert_true(cnt > 0);
		assert_int_equal(cell(&res, g, 5)->i, (int64_t)cnt);
		if (nx) {
			expect_float(cell(&res, g, 1), interp(xs, nx, 0.3));
		} else {
			assert_true(k == ALLNULL || k >= 100);
			assert_true(cell(&res, g, 1)->null);
		}
		if (nn)
			assert_int_equal(cell(&res, g, 2)->i, (int64_t)exact(ns, nn, 0.5));
		else
			assert_true(cell(&res, g, 2)->null);
		if (best_s)
			expect_str(cell(&res, g, 3), best_s);
		else
			assert_true(cell(&res, g, 3)->null);
		if (nx == 1) /* one value: no sample variance */
			expect_float(cell(&res, g, 4), NAN);
		else if (nx == 0)
			assert_true(cell(&res, g, 4)->null);
	}
	sn_exec_result_release(&res);

	/* HAVING and ORDER BY on an aggregate the SELECT list does not name. */
	size_t want = 0;
	for (int k = 0; k < 37; k++) {
		double xs[NROWS];
		size_t nx = 0;
		for (int i = 0; i < NROWS; i++)
			if (ROWS[i].k == k && ROWS[i].has_v)
				xs[nx++] = ROWS[i].v;
		want += nx && interp(xs, nx, 0.5) > 30;
	}
	assert_true(want > 3 && want < 30);
	run_ok(f,
	       "select toInt(properties.k) as k, count() from events where k < 37 group by k "
	       "having median(toFloat(properties.v)) > 30 "
	       "order by quantile(0.9)(toFloat(properties.v)) desc, k",
	       &res);
	assert_int_equal(res.nrows, want);
	sn_exec_result_release(&res);
}

/* ---- argMin / argMax ---------------------------------------------------------------- */

static void test_arg_min_max(void **state)
{
	struct fixture *f = *state;
	const struct row *first = NULL, *last = NULL, *smax = NULL, *smin_signup = NULL;
	for (int i = 0; i < NROWS; i++) {
		const struct row *r = &ROWS[i];
		if (!first || r->ts_us < first->ts_us)
			first = r;
		if (!last || r->ts_us > last->ts_us)
			last = r;
		if (r->has_s && r->has_u && (!smax || r->u > smax->u))
			smax = r;
		if (is_signup(r) && r->has_s && r->has_u && (!smin_signup || r->u < smin_signup->u))
			smin_signup = r;
	}
	struct sn_exec_result res;
	run_ok(f,
	       "select argMax(event, timestamp), argMin(event, timestamp), "
	       "argMax(properties.s, toInt(properties.u)), "
	       "argMinIf(properties.s, toInt(properties.u), event = 'signup'), "
	       "argMaxIf(properties.s, toInt(properties.u), event = 'nothing'), "
	       "argMin(toInt(properties.u), timestamp) from events",
	       &res);
	expect_type(&res, 0, "String");
	expect_type(&res, 2, "Nullable(String)");
	expect_type(&res, 5, "Nullable(Int64)");
	expect_str(cell(&res, 0, 0), last->event);
	expect_str(cell(&res, 0, 1), first->event);
	expect_str(cell(&res, 0, 2), smax->s);
	expect_str(cell(&res, 0, 3), smin_signup->s);
	assert_true(cell(&res, 0, 4)->null);
	/* rows whose u is missing are skipped, not taken as NULL */
	const struct row *fu = NULL;
	for (int i = 0; i < NROWS; i++)
		if (ROWS[i].has_u && (!fu || ROWS[i].ts_us < fu->ts_us))
			fu = &ROWS[i];
	assert_int_equal(cell(&res, 0, 5)->i, fu->u);
	sn_exec_result_release(&res);

	/* Over no rows a non-nullable arg gives its type's default. */
	run_ok(f, "select argMax(event, timestamp) from events where event = 'nothing'", &res);
	expect_str(cell(&res, 0, 0), "");
	sn_exec_result_release(&res);
	expect_error(f, "select argMax(event) from events", "argument");
}

/* ---- variances ---------------------------------------------------------------------- */

static void test_variance(void **state)
{
	struct fixture *f = *state;
	double sx = 0, sxy_x = 0, sxy_y = 0;
	size_t n = 0, m = 0;
	for (int i = 0; i < NROWS; i++) {
		if (ROWS[i].has_v) {
			sx += ROWS[i].v;
			n++;
		}
		if (ROWS[i].has_v && ROWS[i].has_n) {
			sxy_x += ROWS[i].v;
			sxy_y += (double)ROWS[i].n;
			m++;
		}
	}
	double mean = sx / (double)n, mx = sxy_x / (double)m, my = sxy_y / (double)m;
	double ss = 0, cxy = 0, cxx = 0, cyy = 0;
	for (int i = 0; i < NROWS; i++) {
		if (ROWS[i].has_v)
			ss += (ROWS[i].v - mean) * (ROWS[i].v - mean);
		if (ROWS[i].has_v && ROWS[i].has_n) {
			double dx = ROWS[i].v - mx, dy = (double)ROWS[i].n - my;
			cxy += dx * dy;
			cxx += dx * dx;
			cyy += dy * dy;
		}
	}
	struct sn_exec_result res;
	run_ok(f,
	       "select varPop(toFloat(properties.v)), varSamp(toFloat(properties.v)), "
	       "stddevPop(toFloat(properties.v)), stddevSamp(toFloat(properties.v)), "
	       "covarPop(toFloat(properties.v), toInt(properties.n)), "
	       "covarSamp(toFloat(properties.v), toInt(properties.n)), "
	       "corr(toFloat(properties.v), toInt(properties.n)), varPop(length(event)) "
	       "from events",
	       &res);
	for (size_t c = 0; c < 7; c++)
		expect_type(&res, c, "Nullable(Float64)");
	expect_type(&res, 7, "Float64");
	expect_float(cell(&res, 0, 0), ss / (double)n);
	expect_float(cell(&res, 0, 1), ss / (double)(n - 1));
	expect_float(cell(&res, 0, 2), sqrt(ss / (double)n));
	expect_float(cell(&res, 0, 3), sqrt(ss / (double)(n - 1)));
	expect_float(cell(&res, 0, 4), cxy / (double)m);
	expect_float(cell(&res, 0, 5), cxy / (double)(m - 1));
	expect_float(cell(&res, 0, 6), cxy / sqrt(cxx * cyy));
	sn_exec_result_release(&res);

	/* One value: population 0, sample nan; no value: NULL (nullable) or
	 * nan (not nullable). */
	run_ok(f,
	       "select varPop(toFloat(properties.v)), varSamp(toFloat(properties.v)), "
	       "stddevSampIf(toFloat(properties.v), 0), varPop(length(event)) from events "
	       "where toInt(properties.k) = 491",
	       &res);
	assert_true(ROWS[391].has_v && ROWS[391].k == 491);
	expect_float(cell(&res, 0, 0), 0);
	expect_float(cell(&res, 0, 1), NAN);
	assert_true(cell(&res, 0, 2)->null);
	expect_float(cell(&res, 0, 3), 0);
	sn_exec_result_release(&res);
	run_ok(f, "select varSamp(length(event)) from events where event = 'nothing'", &res);
	expect_float(cell(&res, 0, 0), NAN);
	sn_exec_result_release(&res);
	expect_error(f, "select varPop(event) from events", "Illegal type String");
}

/* ---- any, min, max ------------------------------------------------------------------ */

static void test_any_min_max(void **state)
{
	struct fixture *f = *state;
	const char *smin = NULL, *smax = NULL;
	int64_t dmax = INT64_MIN;
	for (int i = 0; i < NROWS; i++) {
		const struct row *r = &ROWS[i];
		if (r->has_s && (!smin || strcmp(r->s, smin) < 0))
			smin = r->s;
		if (r->has_s && (!smax || strcmp(r->s, smax) > 0))
			smax = r->s;
		int64_t d = r->ts_us / 86400000000LL;
		if (d > dmax)
			dmax = d;
	}
	struct sn_exec_result res;
	run_ok(f,
	       "select min(properties.s), max(properties.s), max(toDate(timestamp)), "
	       "anyLastIf(event, event = 'purchase'), "
	       "anyHeavy(if(toInt(properties.k) = 3, 'rare', 'common')), "
	       "anyHeavyIf(event, event = 'signup'), anyLast(properties.nothing), "
	       "min(DISTINCT properties.s) from events",
	       &res);
	expect_str(cell(&res, 0, 0), smin);
	expect_str(cell(&res, 0, 1), smax);
	assert_int_equal(cell(&res, 0, 2)->type, SN_XT_DATE);
	assert_int_equal(cell(&res, 0, 2)->i, dmax);
	expect_str(cell(&res, 0, 3), "purchase");
	expect_str(cell(&res, 0, 4), "common"); /* a majority is always found */
	expect_str(cell(&res, 0, 5), "signup");
	assert_true(cell(&res, 0, 6)->null);
	expect_str(cell(&res, 0, 7), smin);
	sn_exec_result_release(&res);
}

/* ---- uniq and count forms ----------------------------------------------------------- */

static size_t distinct_pairs(pred_fn p, bool with_event)
{
	char seen[NROWS][24];
	size_t m = 0;
	for (int i = 0; i < NROWS; i++) {
		const struct row *r = &ROWS[i];
		if (!p(r) || !r->has_s)
			continue;
		char key[24];
		snprintf(key, sizeof(key), "%s|%s", with_event ? r->event : "", r->s);
		bool dup = false;
		for (size_t j = 0; j < m && !dup; j++)
			dup = strcmp(seen[j], key) == 0;
		if (!dup)
			snprintf(seen[m++], sizeof(seen[0]), "%s", key);
	}
	return m;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static bool k_below_10(const struct row *r)
{
	return r->k < 10;
}

static void test_uniq_and_count_forms(void **state)
{
	struct fixture *f = *state;
	size_t signup_s = 0;
	for (int i = 0; i < NROWS; i++)
		signup_s += is_signup(&ROWS[i]) && ROWS[i].has_s;
	struct sn_exec_result res;
	run_ok(f,
	       "select uniq(event, properties.s), uniqExact(event, properties.s), "
	       "uniqIf(event, properties.s, toInt(properties.k) < 10), "
	       "uniqExact(DISTINCT event, properties.s), count(DISTINCT properties.s), "
	       "countIf(DISTINCT properties.s, event = 'signup'), "
	       "countIf(properties.s, event = 'signup'), countIf(event = 'signup'), "
	       "uniq(DISTINCT properties.s) from events",
	       &res);
	for (size_t c = 0; c < 9; c++)
		expect_type(&res, c, "UInt64");
	assert_int_equal(cell(&res, 0, 0)->i, distinct_pairs(all, true));
	assert_int_equal(cell(&res, 0, 1)->i, distinct_pairs(all, true));
	assert_int_equal(cell(&res, 0, 2)->i, distinct_pairs(k_below_10, true));
	assert_int_equal(cell(&res, 0, 3)->i, distinct_pairs(all, true));
	assert_int_equal(cell(&res, 0, 4)->i, distinct_pairs(all, false));
	assert_int_equal(cell(&res, 0, 5)->i, distinct_pairs(is_signup, false));
	assert_int_equal(cell(&res, 0, 6)->i, signup_s);
	assert_int_equal(cell(&res, 0, 7)->i, NROWS / 3);
	assert_int_equal(cell(&res, 0, 8)->i, distinct_pairs(all, false));
	sn_exec_result_release(&res);

	/* uniq keeps 32 bits of a hash (as ClickHouse's uniq), uniqExact and
	 * count(DISTINCT) 64: two strings whose hashes share their upper 32
	 * bits (found by a birthday search, ~10 pairs among 300,000) are one
	 * value to uniq and two to the others. */
	enum { NH = 300000 };
	uint64_t *hk = malloc(NH * sizeof(*hk));
	assert_non_null(hk);
	for (uint32_t i = 0; i < NH; i++) {
		char t[16];
		int len = snprintf(t, sizeof(t), "c%u", i);
		hk[i] = sn_hash64(t, (size_t)len) >> 32 << 32 | i;
	}
	qsort(hk, NH, sizeof(*hk), cmp_u64);
	size_t at = 0;
	while (at + 1 < NH && hk[at] >> 32 != hk[at + 1] >> 32)
		at++;
	assert_true(at + 1 < NH);
	char q[256];
	snprintf(q, sizeof(q),
		 "select uniq(x), uniqExact(x), count(DISTINCT x), uniqIf(x, 1) from (select "
		 "'c%u' as x union all select 'c%u' as x)",
		 (unsigned)(uint32_t)hk[at], (unsigned)(uint32_t)hk[at + 1]);
	free(hk);
	run_ok(f, q, &res);
	assert_int_equal(cell(&res, 0, 0)->i, 1);
	assert_int_equal(cell(&res, 0, 1)->i, 2);
	assert_int_equal(cell(&res, 0, 2)->i, 2);
	assert_int_equal(cell(&res, 0, 3)->i, 1);
	sn_exec_result_release(&res);

	expect_error(f, "select sum(DISTINCT toInt(properties.n)) from events", "DISTINCT");
	expect_error(f, "select arrayReduce('sumWithOverflow', [1]) from events",
		     "not supported yet: aggregate");
}

/* ---- windowFunnel ------------------------------------------------------------------- */

/* The level windowFunnel(window)(t, e = 'a', e = 'b', e = 'c') reaches over
 * rows given as "seconds:event" (one group, rows in that order). */
static int64_t funnel_level(struct fixture *f, const char *fn, const char *rows)
{
	char q[2048], *o = q;
	o += snprintf(q, sizeof(q), "select %s from (", fn);
	const char *p = rows;
	for (int i = 0; *p; i++) {
		int sec, len;
		char ev[8];
		if (sscanf(p, "%d:%7[a-z]%n", &sec, ev, &len) != 2)
			fail_msg("bad rows %s", rows);
		o += snprintf(
		    o, sizeof(q) - (size_t)(o - q),
		    "%sselect toDateTime('2024-01-01 00:00:00') + %d as t, '%s' as e, %d as n",
		    i ? " union all " : "", sec, ev, sec);
		p += len;
		p += *p == ' ';
	}
	snprintf(o, sizeof(q) - (size_t)(o - q), ")");
	struct sn_exec_result res;
	run_ok(f, q, &res);
	assert_int_equal(res.nrows, 1);
	expect_type(&res, 0, "UInt64");
	int64_t v = cell(&res, 0, 0)->i;
	sn_exec_result_release(&res);
	return v;
}

/* ClickHouse's windowFunnel: the longest chain of steps 1, 2, 3, ... in
 * time order whose steps lie within the window of the chain's first step;
 * a later step-1 event restarts a chain; a row meeting two conditions is
 * the earlier step; NULL arguments skip the row. */
static void test_window_funnel(void **state)
{
	struct fixture *f = *state;
	const char *abc = "windowFunnel(10)(t, e = 'a', e = 'b', e = 'c')";
	static const struct {
		const char *rows;
		int64_t level;
	} cases[] = {
	    {"0:a 5:b 9:c", 3},
	    {"0:a 5:b 10:c", 3},       /* the window's end is in */
	    {"0:a 5:b 11:c", 2},       /* c too late for the chain of 0 */
	    {"9:c 0:a 5:b", 3},	       /* rows out of time order are sorted */
	    {"0:b 1:a 2:c", 1},	       /* b before any a, c without b */
	    {"0:a 20:a 25:b 29:c", 3}, /* the chain restarts at 20 */
	    {"0:a 3:a 12:b 13:c", 3},  /* the latest a starts the chain */
	    {"0:a 15:b 16:c", 1},
	    {"0:x 1:y", 0}, /* no step at all */
	    {"0:c 1:b", 0},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++) {
		int64_t got = funnel_level(f, abc, cases[i].rows);
		if (got != cases[i].level)
			fail_msg("%s over %s: %" PRId64 ", want %" PRId64, abc, cases[i].rows, got,
				 cases[i].level);
	}
	/* one step: any matching row; a row that is two steps counts once */
	assert_int_equal(funnel_level(f, "windowFunnel(5)(t, e = 'a')", "0:b 3:a"), 1);
	assert_int_equal(funnel_level(f, "windowFunnel(5)(t, e = 'a', e = 'a')", "0:a"), 1);
	assert_int_equal(funnel_level(f, "windowFunnel(5)(t, e = 'a', e = 'a')", "0:a 4:a"), 2);
	/* integer timestamps in their own unit, Dates in days */
	assert_int_equal(funnel_level(f, "windowFunnel(4)(n, e = 'a', e = 'b')", "0:a 4:b"), 2);
	assert_int_equal(funnel_level(f, "windowFunnel(3)(n, e = 'a', e = 'b')", "0:a 4:b"), 1);
	assert_int_equal(
	    funnel_level(f, "windowFunnel(0)(toDate(t), e = 'a', e = 'b')", "0:a 86399:b"), 2);
	assert_int_equal(
	    funnel_level(f, "windowFunnel(0)(toDate(t), e = 'a', e = 'b')", "0:a 86400:b"), 1);
	/* a NULL condition skips its row */
	assert_int_equal(
	    funnel_level(f, "windowFunnel(10)(t, e = 'a', if(n = 5, NULL, e = 'b'))", "0:a 5:b"),
	    1);

	/* Per group over the store (several granules, two scanners), against
	 * the definition: the most steps 1, 2, ... found at later and later
	 * rows of the group, the last within the window of the first (the
	 * rows' times are distinct and rise with their index). */
	/* a group's rows are 37 hours apart and cycle through the three events */
	static const int64_t windows[] = {3600, 200000, 360000};
	for (size_t wi = 0; wi < SN_ARRAY_LEN(windows); wi++) {
		int64_t window = windows[wi];
		f->opts.threads = 2;
		char q[256];
		snprintf(q, sizeof(q),
			 "select toInt(properties.k) as k, windowFunnel(%" PRId64
			 ")(timestamp, event = '$pageview', event = 'signup', event = 'purchase') "
			 "from events group by k order by k",
			 window);
		struct sn_exec_result res;
		run_ok(f, q, &res);
		int64_t seen = 0;
		for (size_t g = 0; g < res.nrows; g++) {
			int64_t k = cell(&res, g, 0)->i, want = 0;
			for (int i = 0; i < NROWS; i++) {
				if (ROWS[i].k != k || ROWS[i].event != EVENTS[0])
					continue;
				int64_t t0 = ROWS[i].ts_us / 1000000, lv = 1;
				for (int j = i + 1; j < NROWS && lv < 3; j++)
					if (ROWS[j].k == k && ROWS[j].event == EVENTS[lv] &&
					    ROWS[j].ts_us / 1000000 - t0 <= window)
						lv++;
				want = lv > want ? lv : want;
			}
			if (cell(&res, g, 1)->i != want)
				fail_msg("window %" PRId64 " k %" PRId64 ": %" PRId64
					 ", want %" PRId64,
					 window, k, cell(&res, g, 1)->i, want);
			seen |= 1 << want;
		}
		sn_exec_result_release(&res);
		/* the deepest level is 1, 2, 3 as the window grows */
		assert_int_equal(64 - __builtin_clzll((uint64_t)seen) - 1, (int)wi + 1);
	}
	f->opts.threads = 0;

	expect_error(f, "select windowFunnel(t, e = 'a') from (select now() as t, 'a' as e)",
		     "takes one parameter");
	expect_error(f, "select windowFunnel(-1)(t, e = 'a') from (select now() as t, 'a' as e)",
		     "non-negative integer constant");
	expect_error(f, "select windowFunnel(5)(e, e = 'a') from (select now() as t, 'a' as e)",
		     "must be DateTime, Date or an unsigned integer");
	expect_error(f, "select windowFunnel(5)(t, e) from (select now() as t, 'a' as e)",
		     "must be a condition");
	expect_error(f, "select windowFunnel(5)(t) from (select now() as t, 'a' as e)",
		     "windowFunnel");
}

/* ---- SELECT without FROM ------------------------------------------------------------ */

static void test_select_without_from(void **state)
{
	struct fixture *f = *state;
	struct sn_exec_result res;
	run_ok(f, "select 1", &res);
	assert_int_equal(res.nrows, 1);
	assert_int_equal(res.ncols, 1);
	assert_int_equal(cell(&res, 0, 0)->i, 1);
	sn_exec_result_release(&res);

	run_ok(f, "select 1 + 2, 'a', 1.5 as x", &res);
	assert_int_equal(res.nrows, 1);
	assert_int_equal(cell(&res, 0, 0)->i, 3);
	expect_str(cell(&res, 0, 1), "a");
	expect_float(cell(&res, 0, 2), 1.5);
	assert_string_equal(res.names[2], "x");
	sn_exec_result_release(&res);

	/* Aggregates see the one row of system.one, or none under WHERE. */
	run_ok(f,
	       "select count(), sum(2), quantile(0.5)(3), argMax('a', 1), varSamp(1), "
	       "uniq(1, 'b')",
	       &res);
	assert_int_equal(res.nrows, 1);
	assert_int_equal(cell(&res, 0, 0)->i, 1);
	assert_int_equal(cell(&res, 0, 1)->i, 2);
	expect_float(cell(&res, 0, 2), 3);
	expect_str(cell(&res, 0, 3), "a");
	expect_float(cell(&res, 0, 4), NAN);
	assert_int_equal(cell(&res, 0, 5)->i, 1);
	sn_exec_result_release(&res);

	run_ok(f, "select count() where 1 = 0", &res);
	assert_int_equal(res.nrows, 1);
	assert_int_equal(cell(&res, 0, 0)->i, 0);
	sn_exec_result_release(&res);

	run_ok(f, "select 1 as x where 1 = 0", &res);
	assert_int_equal(res.nrows, 0);
	sn_exec_result_release(&res);

	/* Scalar subqueries, a subquery in FROM, UNION ALL. */
	run_ok(f, "select (select 1), (select count() from events)", &res);
	assert_int_equal(cell(&res, 0, 0)->i, 1);
	assert_int_equal(cell(&res, 0, 1)->i, NROWS);
	sn_exec_result_release(&res);

	run_ok(f, "select x + 1 from (select 41 as x)", &res);
	assert_int_equal(res.nrows, 1);
	assert_int_equal(cell(&res, 0, 0)->i, 42);
	sn_exec_result_release(&res);

	run_ok(f, "select 1 as x union all select 2 as x", &res);
	assert_int_equal(res.nrows, 2);
	sn_exec_result_release(&res);
}

/* ---- memory budget ------------------------------------------------------------------ */

#define NBIG 60000

static int cmp_gv(const void *a, const void *b)
{
	const int64_t *x = a, *y = b; /* g, then v */
	if (x[0] != y[0])
		return (x[0] > y[0]) - (x[0] < y[0]);
	return (x[1] > y[1]) - (x[1] < y[1]);
}

static void test_budget_and_many_groups(void **state)
{
	(void)state;
	static struct row big[NBIG];
	char dir[512];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_exec_agg_big"), 0);
	for (int i = 0; i < NBIG; i++) {
		struct row *r = &big[i];
		memset(r, 0, sizeof(*r));
		r->team = 1;
		r->ts_us = (1704067200LL + i) * 1000000LL;
		r->event = "e";
		snprintf(r->props, sizeof(r->props), "{\"v\":%d}", (i * 7919) % 100003);
	}
	write_rows(dir, big, NBIG, 1024, 1);
	struct fixture f = {0};
	f.opts.store_dir = dir;
	f.opts.team_id = 1;
	f.opts.run_granules = 1;
	f.opts.mem_limit_bytes = 512 * 1024;
	struct sn_exec_result res;
	/* The same scan without collecting values fits the budget ... */
	run_ok(&f, "select avg(toFloat(properties.v)), count() from events", &res);
	assert_int_equal(cell(&res, 0, 1)->i, NBIG);
	sn_exec_result_release(&res);
	/* ... 60000 collected doubles (and their doubling) do not. */
	expect_error(&f, "select quantile(0.5)(toFloat(properties.v)) from events", "memory limit");
	expect_error(&f, "select medianExact(toInt(properties.v)) from events", "memory limit");
	f.opts.mem_limit_bytes = 0;

	/* 1000 groups of about 60 values, each checked. */
	struct gv {
		int64_t g, v, i;
	} *pairs = calloc(NBIG, sizeof(*pairs));
	assert_non_null(pairs);
	for (int i = 0; i < NBIG; i++) {
		int64_t v = (i * 7919) % 100003;
		pairs[i] = (struct gv){v % 1000, v, i};
	}
	qsort(pairs, NBIG, sizeof(*pairs), cmp_gv);
	run_ok(&f,
	       "select toInt(properties.v) % 1000 as g, medianExact(toInt(properties.v)), "
	       "quantile(0.25)(toInt(properties.v)), argMin(toInt(properties.v), timestamp), "
	       "count() from events group by g order by g limit 2000",
	       &res);
	assert_int_equal(res.nrows, 1000);
	size_t at = 0;
	for (size_t r = 0; r < res.nrows; r++) {
		size_t end = at;
		while (end < NBIG && pairs[end].g == pairs[at].g)
			end++;
		assert_int_equal(cell(&res, r, 0)->i, pairs[at].g);
		assert_int_equal(cell(&res, r, 4)->i, end - at);
		double xs[512];
		size_t m = 0;
		int64_t first_i = INT64_MAX, first_v = 0;
		for (size_t k = at; k < end; k++) {
			assert_true(m < 512);
			xs[m++] = (double)pairs[k].v;
			if (pairs[k].i < first_i) {
				first_i = pairs[k].i;
				first_v = pairs[k].v;
			}
		}
		assert_int_equal(cell(&res, r, 1)->i, (int64_t)exact(xs, m, 0.5));
		expect_float(cell(&res, r, 2), interp(xs, m, 0.25));
		assert_int_equal(cell(&res, r, 3)->i, first_v);
		at = end;
	}
	assert_int_equal(at, NBIG);
	sn_exec_result_release(&res);
	free(pairs);
	sn_test_rm_rf(dir);
}

/* ---- GROUP BY over many groups ------------------------------------------------------ */

#define NMANY 200000

struct tagged {
	uint32_t tag;
	int64_t k;
};

static int cmp_tagged(const void *a, const void *b)
{
	const struct tagged *x = a, *y = b;
	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return (x->k > y->k) - (x->k < y->k);
}

/* Two integer keys whose hashes agree in their upper 32 bits, which the
 * table keeps in a slot next to the key's reference: the second one's
 * lookup meets the first one's slot, tag equal, and must compare the
 * keys. The key bytes are the executor's serialisation of a non-NULL
 * Int64 (type, NULL flag, 8 bytes little-endian). */
static void tag_collision(int64_t *a, int64_t *b)
{
	size_t n = 400000;
	struct tagged *t = calloc(n, sizeof(*t));
	assert_non_null(t);
	for (size_t i = 0; i < n; i++) {
		uint8_t kb[10] = {SN_XT_INT, 0};
		int64_t k = 1000000 + (int64_t)i;
		memcpy(kb + 2, &k, 8);
		t[i] = (struct tagged){(uint32_t)(sn_hash64(kb, sizeof(kb)) >> 32), k};
	}
	qsort(t, n, sizeof(*t), cmp_tagged);
	size_t i = 0;
	while (i + 1 < n && t[i].tag != t[i + 1].tag)
		i++;
	assert_true(i + 1 < n); /* about 18 such pairs are expected */
	*a = t[i].k;
	*b = t[i + 1].k;
	free(t);
}

struct many {
	int64_t k; /* INT64_MIN: no k (a NULL key) */
	int64_t v;
	char s[8];
	int f;	/* 0 none, 1 "-0", 2 "0", 3 "2.5" */
	bool g; /* g: "-0" */
};

struct mgroup {
	int64_t k;
	size_t first; /* position in scan order of its first row */
	int64_t cnt, sum, max;
	const char *min_s;
};

static int cmp_mgroup_k(const void *a, const void *b)
{
	const struct mgroup *x = a, *y = b;
	return (x->k > y->k) - (x->k < y->k);
}

static int cmp_mgroup_first(const void *a, const void *b)
{
	const struct mgroup *x = a, *y = b;
	return (x->first > y->first) - (x->first < y->first);
}

static struct mgroup *mgroup_of(struct mgroup *gs, size_t ng, int64_t k)
{
	struct mgroup key = {.k = k};
	return bsearch(&key, gs, ng, sizeof(*gs), cmp_mgroup_k);
}

/* Over a hundred thousand groups, two of them with keys whose hashes
 * share the slot tag, a NULL key, -0.0 and 0.0 keys and keys too long for
 * the batch's key buffer; on one scanner and on two (whose groups are
 * merged). The groups, their values and their order (first row in scan
 * order, as the executor has always emitted them without ORDER BY) are
 * computed here from the generated rows and the rows' scan order. */
static void test_many_groups(void **state)
{
	(void)state;
	int64_t ka, kb;
	tag_collision(&ka, &kb);
	struct many *m = calloc(NMANY, sizeof(*m));
	struct row *rows = calloc(NMANY, sizeof(*rows));
	assert_non_null(m);
	assert_non_null(rows);
	for (int i = 0; i < NMANY; i++) {
		m[i].k = (int64_t)(((uint64_t)i * 2654435761u) % 150001);
		if (i % 97 == 5)
			m[i].k = INT64_MIN;
		if (i % 50000 == 7)
			m[i].k = ka;
		if (i % 50000 == 9)
			m[i].k = kb;
		m[i].v = i % 1000 - 500;
		snprintf(m[i].s, sizeof(m[i].s), "s%05d", (i * 31) % 99991);
		/* the first day's zeros are -0.0, the later days' 0.0: the group's
		 * first row (in scan order, day by day) has -0.0; g's only value,
		 * -0.0, is in the last rows, which a second scanner reads */
		if (i % 1000 == 1 || i % 1000 == 2)
			m[i].f = i < 86400 ? 1 : 2;
		else if (i % 1000 == 3)
			m[i].f = 3;
		m[i].g = i >= 190000 && i % 1000 == 1;
		struct row *r = &rows[i];
		r->team = 1;
		r->ts_us = (1704067200LL + i) * 1000000LL;
		r->event = "e";
		int w = m[i].k == INT64_MIN
			    ? snprintf(r->props, sizeof(r->props), "{\"v\":%lld,\"s\":\"%s\"",
				       (long long)m[i].v, m[i].s)
			    : snprintf(r->props, sizeof(r->props),
				       "{\"k\":%lld,\"v\":%lld,\"s\":\"%s\"", (long long)m[i].k,
				       (long long)m[i].v, m[i].s);
		static const char *const F[] = {"", ",\"f\":\"-0\"", ",\"f\":\"0\"",
						",\"f\":\"2.5\""};
		snprintf(r->props + w, sizeof(r->props) - (size_t)w, "%s%s}", F[m[i].f],
			 m[i].g ? ",\"g\":\"-0\"" : "");
	}
	char dir[512];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_exec_agg_many"), 0);
	write_rows(dir, rows, NMANY, 1024, 1);
	free(rows);
	struct fixture f = {0};
	f.opts.store_dir = dir;
	f.opts.team_id = 1;
	f.opts.run_granules = 2;
	f.opts.max_limit = 10 * NMANY;
	struct sn_exec_result res;

	/* The reference: groups by key, then ordered by their first row in
	 * the order the scan reads rows (one thread reads them in order). */
	f.opts.threads = 1;
	run_ok(&f, "select toInt(properties.k), toFloat(properties.f) from events limit 1000000",
	       &res);
	assert_int_equal(res.nrows, NMANY);
	struct mgroup *gs = calloc(NMANY, sizeof(*gs));
	assert_non_null(gs);
	size_t ng = 0;
	for (int i = 0; i < NMANY; i++)
		gs[ng++] = (struct mgroup){.k = m[i].k, .first = SIZE_MAX};
	qsort(gs, ng, sizeof(*gs), cmp_mgroup_k);
	size_t u = 0;
	for (size_t i = 0; i < ng; i++)
		if (u == 0 || gs[u - 1].k != gs[i].k)
			gs[u++] = gs[i];
	ng = u;
	assert_true(ng > 100000);
	assert_non_null(mgroup_of(gs, ng, ka));
	assert_non_null(mgroup_of(gs, ng, kb));
	int first_zero_sign = -1; /* of the first ±0.0 f in scan order */
	for (size_t r = 0; r < res.nrows; r++) {
		const struct sn_exec_value *k = cell(&res, r, 0), *fv = cell(&res, r, 1);
		struct mgroup *g = mgroup_of(gs, ng, k->null ? INT64_MIN : k->i);
		assert_non_null(g);
		if (g->first == SIZE_MAX)
			g->first = r;
		if (first_zero_sign < 0 && !fv->null && fv->f == 0)
			first_zero_sign = signbit(fv->f) != 0;
	}
	sn_exec_result_release(&res);
	assert_int_equal(first_zero_sign, 1);
	for (int i = 0; i < NMANY; i++) {
		struct mgroup *g = mgroup_of(gs, ng, m[i].k);
		if (!g->cnt || m[i].v > g->max)
			g->max = m[i].v;
		if (!g->min_s || strcmp(m[i].s, g->min_s) < 0)
			g->min_s = m[i].s;
		g->cnt++;
		g->sum += m[i].v;
	}
	qsort(gs, ng, sizeof(*gs), cmp_mgroup_first);

	for (uint32_t threads = 1; threads <= 2; threads++) {
		f.opts.threads = threads;
		run_ok(&f,
		       "select toInt(properties.k) as k, count(), sum(toInt(properties.v)), "
		       "max(toInt(properties.v)), min(properties.s) from events group by k "
		       "limit 1000000",
		       &res);
		assert_int_equal(res.stats.scan_threads, threads);
		assert_int_equal(res.nrows, ng);
		for (size_t r = 0; r < ng; r++) {
			const struct mgroup *g = &gs[r];
			const struct sn_exec_value *k = cell(&res, r, 0);
			if (g->k == INT64_MIN)
				assert_true(k->null);
			else
				assert_int_equal(k->i, g->k);
			assert_int_equal(cell(&res, r, 1)->i, g->cnt);
			assert_int_equal(cell(&res, r, 2)->i, g->sum);
			assert_int_equal(cell(&res, r, 3)->i, g->max);
			expect_str(cell(&res, r, 4), g->min_s);
		}
		sn_exec_result_release(&res);

		/* HAVING keeps the survivors in the same order */
		run_ok(&f,
		       "select toInt(properties.k) as k, count() as c from events group by k "
		       "having c >= 2 limit 1000000",
		       &res);
		size_t at = 0;
		for (size_t r = 0; r < ng; r++) {
			if (gs[r].cnt < 2)
				continue;
			assert_true(at < res.nrows);
			assert_int_equal(cell(&res, at, 1)->i, gs[r].cnt);
			at++;
		}
		assert_int_equal(at, res.nrows);
		sn_exec_result_release(&res);

		/* -0.0 and 0.0 are one group, showing its first row's zero */
		run_ok(&f,
		       "select toFloat(properties.f) as f, count() from events group by f "
		       "order by f limit 10",
		       &res);
		assert_int_equal(res.nrows, 3); /* NULL, 0, 2.5 */
		assert_false(cell(&res, 0, 0)->null);
		assert_true(cell(&res, 0, 0)->f == 0);
		assert_int_equal(signbit(cell(&res, 0, 0)->f) != 0, first_zero_sign);
		assert_int_equal(cell(&res, 0, 1)->i, 2 * NMANY / 1000);
		assert_int_equal(cell(&res, 1, 1)->i, NMANY / 1000);
		assert_true(cell(&res, 2, 0)->null);
		sn_exec_result_release(&res);
		run_ok(
		    &f,
		    "select toFloat(properties.g) as g, count() from events group by g order by g",
		    &res);
		assert_int_equal(res.nrows, 2);
		assert_true(cell(&res, 0, 0)->f == 0 && signbit(cell(&res, 0, 0)->f));
		assert_int_equal(cell(&res, 0, 1)->i, 10);
		sn_exec_result_release(&res);

		/* keys longer than the batch's key buffer, and DISTINCT */
		run_ok(&f,
		       "select count(), sum(c) from (select concat(properties.s, repeat('x', 300)) "
		       "as long, count() as c from events group by long)",
		       &res);
		int64_t nlong = cell(&res, 0, 0)->i;
		assert_true(nlong > 50000);
		assert_int_equal(cell(&res, 0, 1)->i, NMANY);
		sn_exec_result_release(&res);
		run_ok(&f, "select count() from (select distinct properties.s from events)", &res);
		assert_int_equal(cell(&res, 0, 0)->i, nlong);
		sn_exec_result_release(&res);
	}
	free(gs);
	free(m);
	sn_test_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quantiles),
	    cmocka_unit_test(test_group_by),
	    cmocka_unit_test(test_arg_min_max),
	    cmocka_unit_test(test_variance),
	    cmocka_unit_test(test_any_min_max),
	    cmocka_unit_test(test_uniq_and_count_forms),
	    cmocka_unit_test(test_window_funnel),
	    cmocka_unit_test(test_select_without_from),
	    cmocka_unit_test(test_budget_and_many_groups),
	    cmocka_unit_test(test_many_groups),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
