/*
 * test_exec_window.c — window functions as a user sees them: HogQL text in,
 * the result as TSV out, compared with values worked out by hand below.
 *
 * Most cases read a small table written as a FROM subquery (T1: two
 * partitions, tied ORDER BY keys, NULLs in the argument and in the key, a
 * non-Nullable string), so each expected row can be checked on paper; a
 * few read events from a part written with the store API (six events of
 * team 1, one of team 2 whose values would show if they leaked), over
 * plain rows and over GROUP BY results. ClickHouse 18.16, the
 * differential oracle, has no window functions, so these hand-made
 * expectations are the reference.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec_fixture.h"

#include "exec/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* p, o (key, NULL once), x (argument, NULL twice), s (never NULL). In
 * PARTITION BY p ORDER BY o (NULLs last) order, ties keeping this order:
 *   p=1: (1,10,a) (2,20,b) (2,30,c) (4,N,d) (5,50,e)
 *   p=2: (1,7,f) (3,N,h) (N,9,g) */
#define T1                                                                                       \
	"(SELECT 1 AS p, 1 AS o, 10 AS x, 'a' AS s UNION ALL SELECT 1, 2, 20, 'b' UNION ALL "    \
	"SELECT 1, 2, 30, 'c' UNION ALL SELECT 1, 4, NULL, 'd' UNION ALL SELECT 1, 5, 50, 'e' "  \
	"UNION ALL SELECT 2, 1, 7, 'f' UNION ALL SELECT 2, NULL, 9, 'g' UNION ALL SELECT 2, 3, " \
	"NULL, 'h')"

struct ev {
	int64_t team;
	const char *distinct_id, *event;
	int64_t ts_s;
	const char *props;
};

#define T0 1704067200LL /* 2024-01-01 00:00:00 UTC */

static const struct ev EVENTS[] = {
    {1, "d1", "pageview", T0 + 0 * 3600, "{\"v\":3}"},
    {1, "d1", "signup", T0 + 1 * 3600, "{\"v\":1}"},
    {1, "d2", "pageview", T0 + 2 * 3600, "{\"v\":5}"},
    {1, "d1", "pageview", T0 + 3 * 3600, "{}"},
    {1, "d2", "purchase", T0 + 4 * 3600, "{\"v\":2}"},
    {1, "d3", "pageview", T0 + 5 * 3600, "{\"v\":5}"},
    {2, "d9", "pageview", T0 + 1800, "{\"v\":1000}"},
};

static int setup(void **state)
{
	static struct xfx f;
	xfx_open(&f, "test_exec_window");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	for (size_t i = 0; i < SN_ARRAY_LEN(EVENTS); i++) {
		const struct ev *e = &EVENTS[i];
		xfx_event(&mt, (int)i, e->team, e->ts_s, e->distinct_id, e->event, e->props);
	}
	xfx_write(&f, &mt, 2);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	xfx_close(*state);
	return 0;
}

/* ---- helpers ------------------------------------------------------------------------ */

/* Runs q and compares its TSV (header line, then rows) with want. */
static void expect_tsv(struct xfx *f, const char *q, const char *want)
{
	struct sn_buf b;
	const char *got = xfx_tsv(f, q, &b);
	if (strcmp(got, want) != 0)
		fail_msg("query: %s\n--- got\n%s--- expected\n%s", q, got, want);
	sn_buf_release(&b);
}

/* Runs q and compares the result's column types, joined by commas. */
static void expect_types(struct xfx *f, const char *q, const char *want)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	if (rc)
		fail_msg("query failed: %s: %s", err.msg, q);
	char got[512] = "";
	for (size_t i = 0; i < res.ncols; i++) {
		if (i)
			strncat(got, ",", sizeof(got) - strlen(got) - 1);
		strncat(got, res.types[i], sizeof(got) - strlen(got) - 1);
	}
	if (strcmp(got, want) != 0)
		fail_msg("types %s, expected %s: %s", got, want, q);
	sn_exec_result_release(&res);
}

/* The query fails with a message holding msg_part and a position when
 * with_pos is set. */
static void expect_error(struct xfx *f, const char *q, const char *msg_part, bool with_pos)
{
	struct sn_hogql_error err = xfx_error(f, q);
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s': %s", err.msg, msg_part, q);
	if (with_pos && err.end <= err.start)
		fail_msg("message '%s' has no position: %s", err.msg, q);
}

/* ---- ranking ------------------------------------------------------------------------ */

static void test_ranking(void **state)
{
	struct xfx *f = *state;
	/* ties: row_number counts on in the inner order, rank skips, dense_rank does not;
	 * the NULL key sorts last */
	expect_tsv(f,
		   "SELECT p, o, s, row_number() OVER w AS rn, rank() OVER w AS rk, "
		   "dense_rank() OVER w AS dr FROM " T1
		   " WINDOW w AS (PARTITION BY p ORDER BY o) ORDER BY p, o, s",
		   "p\to\ts\trn\trk\tdr\n"
		   "1\t1\ta\t1\t1\t1\n"
		   "1\t2\tb\t2\t2\t2\n"
		   "1\t2\tc\t3\t2\t2\n"
		   "1\t4\td\t4\t4\t3\n"
		   "1\t5\te\t5\t5\t4\n"
		   "2\t1\tf\t1\t1\t1\n"
		   "2\t3\th\t2\t2\t2\n"
		   "2\t\\N\tg\t3\t3\t3\n");
	/* NULLS FIRST and DESC inside OVER; without ORDER BY every row is a peer */
	expect_tsv(f,
		   "SELECT s, row_number() OVER (ORDER BY o NULLS FIRST) AS a, "
		   "rank() OVER (ORDER BY o DESC) AS b, rank() OVER () AS c, "
		   "dense_rank() OVER (PARTITION BY p) AS d FROM " T1 " ORDER BY s",
		   "s\ta\tb\tc\td\n"
		   "a\t2\t6\t1\t1\n"
		   "b\t4\t4\t1\t1\n"
		   "c\t5\t4\t1\t1\n"
		   "d\t7\t2\t1\t1\n"
		   "e\t8\t1\t1\t1\n"
		   "f\t3\t6\t1\t1\n"
		   "g\t1\t8\t1\t1\n"
		   "h\t6\t3\t1\t1\n");
	expect_types(f,
		     "SELECT row_number() OVER (), rank() OVER (), dense_rank() OVER () FROM " T1,
		     "UInt64,UInt64,UInt64");
}

/* ---- aggregates over frames ---------------------------------------------------------- */

static void test_running_and_peers(void **state)
{
	struct xfx *f = *state;
	/* the default frame with ORDER BY is RANGE UNBOUNDED PRECEDING .. CURRENT ROW:
	 * peers (o = 2, and the NULL keys) are in each other's frame; ROWS is not */
	expect_tsv(f,
		   "SELECT s, sum(x) OVER (PARTITION BY p ORDER BY o) AS r, "
		   "sum(x) OVER (PARTITION BY p ORDER BY o ROWS UNBOUNDED PRECEDING) AS w, "
		   "count() OVER (PARTITION BY p ORDER BY o) AS n, "
		   "sum(x) OVER (PARTITION BY p) AS t, sum(x) OVER () AS a FROM " T1 " ORDER BY s",
		   "s\tr\tw\tn\tt\ta\n"
		   "a\t10\t10\t1\t110\t126\n"
		   "b\t60\t30\t3\t110\t126\n"
		   "c\t60\t60\t3\t110\t126\n"
		   "d\t60\t60\t4\t110\t126\n"
		   "e\t110\t110\t5\t110\t126\n"
		   "f\t7\t7\t1\t16\t126\n"
		   "g\t16\t16\t3\t16\t126\n"
		   "h\t7\t7\t2\t16\t126\n");
	expect_types(
	    f, "SELECT sum(x) OVER (), sum(p) OVER (), avg(p) OVER (), count(x) OVER () FROM " T1,
	    "Nullable(Int64),Int64,Float64,UInt64");
}

static void test_aggregate_forms(void **state)
{
	struct xfx *f = *state;
	expect_tsv(
	    f,
	    "SELECT s, count(x) OVER w AS cx, countIf(x > 15) OVER w AS ci, avg(x) OVER w AS "
	    "av, min(s) OVER w AS mn, max(s) OVER w AS mx, minIf(x, x > 15) OVER w AS mi, "
	    "maxIf(x, x < 25) OVER w AS ma, sumIf(x, s != 'b') OVER w AS si, "
	    "avgIf(x, x > 100) OVER w AS ai, count(*) OVER w AS ca FROM " T1
	    " WINDOW w AS (PARTITION BY p) ORDER BY s",
	    "s\tcx\tci\tav\tmn\tmx\tmi\tma\tsi\tai\tca\n"
	    "a\t4\t3\t27.5\ta\te\t20\t20\t90\t\\N\t5\n"
	    "b\t4\t3\t27.5\ta\te\t20\t20\t90\t\\N\t5\n"
	    "c\t4\t3\t27.5\ta\te\t20\t20\t90\t\\N\t5\n"
	    "d\t4\t3\t27.5\ta\te\t20\t20\t90\t\\N\t5\n"
	    "e\t4\t3\t27.5\ta\te\t20\t20\t90\t\\N\t5\n"
	    "f\t2\t0\t8\tf\th\t\\N\t9\t16\t\\N\t3\n"
	    "g\t2\t0\t8\tf\th\t\\N\t9\t16\t\\N\t3\n"
	    "h\t2\t0\t8\tf\th\t\\N\t9\t16\t\\N\t3\n");
	/* empty frames: a non-Nullable argument gives the type's default, avg nan */
	expect_tsv(f,
		   "SELECT s, sum(p) OVER w AS sp, avg(p) OVER w AS ap, min(s) OVER w AS ms, "
		   "count() OVER w AS c, sum(x) OVER w AS sx FROM " T1
		   " WINDOW w AS (ORDER BY s ROWS BETWEEN 1 FOLLOWING AND 1 FOLLOWING) ORDER BY s",
		   "s\tsp\tap\tms\tc\tsx\n"
		   "a\t1\t1\tb\t1\t20\n"
		   "b\t1\t1\tc\t1\t30\n"
		   "c\t1\t1\td\t1\t\\N\n"
		   "d\t1\t1\te\t1\t50\n"
		   "e\t2\t2\tf\t1\t7\n"
		   "f\t2\t2\tg\t1\t9\n"
		   "g\t2\t2\th\t1\t\\N\n"
		   "h\t0\tnan\t\t0\t\\N\n");
}

static void test_rows_frames(void **state)
{
	struct xfx *f = *state;
	/* p=1 in order: x = 10 20 30 N 50; p=2: 7 N 9 */
	expect_tsv(
	    f,
	    "SELECT s, sum(x) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN 1 PRECEDING AND 1 "
	    "FOLLOWING) AS a, sum(x) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN 2 FOLLOWING "
	    "AND UNBOUNDED FOLLOWING) AS b, count() OVER (PARTITION BY p ORDER BY o ROWS "
	    "BETWEEN 2 PRECEDING AND 1 PRECEDING) AS c, sum(x) OVER (PARTITION BY p ORDER BY o "
	    "ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS d, max(x) OVER (PARTITION BY "
	    "p ORDER BY o ROWS 1 PRECEDING) AS e FROM " T1 " ORDER BY s",
	    "s\ta\tb\tc\td\te\n"
	    "a\t30\t80\t0\t110\t10\n"
	    "b\t60\t50\t1\t100\t20\n"
	    "c\t50\t50\t2\t80\t30\n"
	    "d\t80\t\\N\t2\t50\t30\n"
	    "e\t50\t\\N\t2\t50\t50\n"
	    "f\t7\t9\t0\t16\t7\n"
	    "g\t9\t\\N\t2\t9\t9\n"
	    "h\t16\t\\N\t1\t9\t7\n");
}

static void test_range_frames(void **state)
{
	struct xfx *f = *state;
	/* keys p=1: 1 2 2 4 5; p=2: 1 3 NULL (a NULL key's offset frame is its peers) */
	expect_tsv(
	    f,
	    "SELECT s, sum(x) OVER (PARTITION BY p ORDER BY o RANGE BETWEEN 1 PRECEDING AND "
	    "CURRENT ROW) AS a, count() OVER (PARTITION BY p ORDER BY o RANGE BETWEEN 1 "
	    "FOLLOWING AND 2 FOLLOWING) AS b, count() OVER (PARTITION BY p ORDER BY o DESC "
	    "RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) AS c, count() OVER (PARTITION BY p "
	    "ORDER BY o RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS d, count() OVER "
	    "(PARTITION BY p ORDER BY o RANGE 2 PRECEDING) AS e FROM " T1 " ORDER BY s",
	    "s\ta\tb\tc\td\te\n"
	    "a\t10\t2\t3\t5\t1\n"
	    "b\t60\t1\t2\t4\t3\n"
	    "c\t60\t1\t2\t4\t3\n"
	    "d\t\\N\t1\t2\t2\t3\n"
	    "e\t50\t0\t1\t1\t2\n"
	    "f\t7\t1\t1\t3\t1\n"
	    "g\t9\t1\t1\t1\t1\n"
	    "h\t\\N\t0\t1\t2\t2\n");
	/* a float key and a fractional offset */
	expect_tsv(f,
		   "SELECT s, count() OVER (ORDER BY o / 2 RANGE BETWEEN 0.5 PRECEDING AND 0.5 "
		   "FOLLOWING) AS c FROM " T1 " WHERE p = 1 ORDER BY s",
		   "s\tc\n"
		   "a\t3\n"
		   "b\t3\n"
		   "c\t3\n"
		   "d\t2\n"
		   "e\t2\n");
}

/* ---- offsets and values -------------------------------------------------------------- */

static void test_lag_lead(void **state)
{
	struct xfx *f = *state;
	/* with the default frame, lead finds only a peer; outside the frame the
	 * default is NULL (Nullable), '' (String) or the given one */
	expect_tsv(f,
		   "SELECT s, lagInFrame(x) OVER w AS a, leadInFrame(x) OVER w AS b, "
		   "lagInFrame(s) OVER w AS c, lagInFrame(x, 0) OVER w AS d FROM " T1
		   " WINDOW w AS (PARTITION BY p ORDER BY o) ORDER BY s",
		   "s\ta\tb\tc\td\n"
		   "a\t\\N\t\\N\t\t10\n"
		   "b\t10\t30\ta\t20\n"
		   "c\t20\t\\N\tb\t30\n"
		   "d\t30\t\\N\tc\t\\N\n"
		   "e\t\\N\t\\N\td\t50\n"
		   "f\t\\N\t\\N\t\t7\n"
		   "g\t\\N\t\\N\th\t9\n"
		   "h\t7\t\\N\tf\t\\N\n");
	expect_tsv(f,
		   "SELECT s, lag(s, 2, 'zz') OVER w AS a, leadInFrame(x, 1, -1) OVER w AS b, "
		   "leadInFrame(s) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN CURRENT ROW AND 1 "
		   "FOLLOWING) AS c, lead(p, 3) OVER w AS d FROM " T1
		   " WINDOW w AS (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND "
		   "UNBOUNDED FOLLOWING) ORDER BY s",
		   "s\ta\tb\tc\td\n"
		   "a\tzz\t20\tb\t1\n"
		   "b\tzz\t30\tc\t1\n"
		   "c\ta\t\\N\td\t0\n"
		   "d\tb\t50\te\t0\n"
		   "e\tc\t-1\t\t0\n"
		   "f\tzz\t\\N\th\t0\n"
		   "g\tf\t-1\t\t0\n"
		   "h\tzz\t9\tg\t0\n");
	expect_types(
	    f,
	    "SELECT lagInFrame(s) OVER (), lagInFrame(x) OVER (), lead(p, 1, 7) OVER () FROM " T1,
	    "String,Nullable(Int64),Int64");
}

static void test_first_last_nth(void **state)
{
	struct xfx *f = *state;
	/* first_value / last_value skip NULLs (ClickHouse's any / anyLast);
	 * nth_value takes the row, NULL or not */
	expect_tsv(
	    f,
	    "SELECT s, first_value(x) OVER w AS a, last_value(x) OVER w AS b, "
	    "nth_value(x, 2) OVER v AS c, nth_value(s, 2) OVER v AS d, "
	    "last_value(s) OVER (PARTITION BY p ORDER BY o) AS e FROM " T1
	    " WINDOW w AS (PARTITION BY p ORDER BY o ROWS BETWEEN 1 PRECEDING AND 1 "
	    "FOLLOWING), v AS (PARTITION BY p ORDER BY o ROWS UNBOUNDED PRECEDING) ORDER BY s",
	    "s\ta\tb\tc\td\te\n"
	    "a\t10\t20\t\\N\t\ta\n"
	    "b\t10\t30\t20\tb\tc\n"
	    "c\t20\t30\t20\tb\tc\n"
	    "d\t30\t50\t20\tb\td\n"
	    "e\t50\t50\t20\tb\te\n"
	    "f\t7\t7\t\\N\t\tf\n"
	    "g\t9\t9\t\\N\th\tg\n"
	    "h\t7\t9\t\\N\th\th\n");
}

/* ---- the statement around windows ---------------------------------------------------- */

static void test_statement_shape(void **state)
{
	struct xfx *f = *state;
	/* ORDER BY a window alias, LIMIT and OFFSET after the window stage */
	expect_tsv(f,
		   "SELECT x, row_number() OVER (ORDER BY x DESC) AS rn FROM " T1
		   " ORDER BY rn LIMIT 2 OFFSET 1",
		   "x\trn\n30\t2\n20\t3\n");
	/* ORDER BY a window function itself, expressions over windows */
	expect_tsv(f,
		   "SELECT s, rank() OVER (ORDER BY o) * 10 + 1 AS r FROM " T1
		   " ORDER BY row_number() OVER (ORDER BY x DESC), s LIMIT 3",
		   "s\tr\ne\t71\nc\t31\nb\t31\n");
	/* DISTINCT after the window stage */
	expect_tsv(f, "SELECT DISTINCT p, sum(x) OVER (PARTITION BY p) AS t FROM " T1 " ORDER BY p",
		   "p\tt\n1\t110\n2\t16\n");
	/* WHERE before the window stage */
	expect_tsv(
	    f,
	    "SELECT s, count() OVER () AS n, row_number() OVER (ORDER BY s DESC) AS r FROM " T1
	    " WHERE x > 15 ORDER BY s",
	    "s\tn\tr\nb\t3\t3\nc\t3\t2\ne\t3\t1\n");
	/* a select item's name is its text, not the window stage's column */
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	const char *q = "SELECT row_number() OVER (ORDER BY s), s FROM " T1;
	assert_int_equal(sn_exec_query(&f->opts, q, strlen(q), &res, &err), 0);
	assert_int_equal(res.ncols, 2);
	assert_null(strstr(res.names[0], "__win"));
	assert_non_null(strstr(res.names[0], "row_number()"));
	assert_string_equal(res.names[1], "s");
	assert_int_equal(res.nrows, 8);
	sn_exec_result_release(&res);
	/* no rows */
	expect_tsv(f, "SELECT x, row_number() OVER (ORDER BY x) AS r FROM " T1 " WHERE p = 3",
		   "x\tr\n");
	expect_types(f, "SELECT x, sum(x) OVER (ORDER BY x) FROM " T1 " WHERE p = 3",
		     "Nullable(Int64),Nullable(Int64)");
	/* without FROM: one row */
	expect_tsv(f, "SELECT 5 AS v, sum(v) OVER () AS t, row_number() OVER () AS r",
		   "v\tt\tr\n5\t5\t1\n");
	/* UNION ALL members and nested statements run their own windows */
	expect_tsv(f,
		   "SELECT r FROM (SELECT row_number() OVER (ORDER BY s DESC) AS r, s FROM " T1
		   ") WHERE s = 'a' UNION ALL SELECT count() OVER () FROM " T1 " LIMIT 1",
		   "r\n8\n8\n");
}

/* ---- events, plain and grouped -------------------------------------------------------- */

static void test_events(void **state)
{
	struct xfx *f = *state;
	expect_tsv(f,
		   "SELECT distinct_id, toHour(timestamp) AS h, row_number() OVER (PARTITION BY "
		   "distinct_id ORDER BY timestamp) AS rn, lagInFrame(event) OVER (PARTITION BY "
		   "distinct_id ORDER BY timestamp) AS prev, count() OVER () AS n FROM events "
		   "ORDER BY distinct_id, timestamp",
		   "distinct_id\th\trn\tprev\tn\n"
		   "d1\t0\t1\t\t6\n"
		   "d1\t1\t2\tpageview\t6\n"
		   "d1\t3\t3\tsignup\t6\n"
		   "d2\t2\t1\t\t6\n"
		   "d2\t4\t2\tpageview\t6\n"
		   "d3\t5\t1\t\t6\n");
	/* a running total over grouped rows, ties of count() are peers */
	expect_tsv(
	    f,
	    "SELECT event, count() AS c, sum(count()) OVER (ORDER BY count() DESC) AS running, "
	    "rank() OVER (ORDER BY c DESC) AS r FROM events GROUP BY event "
	    "ORDER BY c DESC, event",
	    "event\tc\trunning\tr\n"
	    "pageview\t4\t4\t1\n"
	    "purchase\t1\t6\t2\n"
	    "signup\t1\t6\t2\n");
	expect_tsv(f,
		   "SELECT distinct_id, count() AS c, c / sum(c) OVER () AS share FROM events "
		   "GROUP BY distinct_id ORDER BY distinct_id",
		   "distinct_id\tc\tshare\n"
		   "d1\t3\t0.5\n"
		   "d2\t2\t0.3333333333333333\n"
		   "d3\t1\t0.16666666666666666\n");
	/* RANGE over DateTime counts seconds, over Date days; NULL properties */
	expect_tsv(f,
		   "SELECT toHour(timestamp) AS h, count() OVER (ORDER BY timestamp RANGE BETWEEN "
		   "3600 PRECEDING AND CURRENT ROW) AS a, count() OVER (ORDER BY toDate(timestamp) "
		   "RANGE BETWEEN 1 PRECEDING AND CURRENT ROW) AS b, sum(toInt(properties.v)) OVER "
		   "(ORDER BY timestamp ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS c, "
		   "first_value(toInt(properties.v)) OVER (ORDER BY timestamp DESC ROWS BETWEEN "
		   "CURRENT ROW AND UNBOUNDED FOLLOWING) AS d FROM events ORDER BY h",
		   "h\ta\tb\tc\td\n"
		   "0\t1\t6\t3\t3\n"
		   "1\t2\t6\t4\t1\n"
		   "2\t2\t6\t6\t5\n"
		   "3\t2\t6\t5\t5\n"
		   "4\t2\t6\t2\t2\n"
		   "5\t2\t6\t7\t5\n");
	expect_tsv(f, "SELECT event, row_number() OVER () AS r FROM events WHERE event = 'nope'",
		   "event\tr\n");
}

/* ---- errors ------------------------------------------------------------------------- */

static void test_errors(void **state)
{
	struct xfx *f = *state;
	expect_error(f, "SELECT x FROM " T1 " WHERE row_number() OVER () > 1",
		     "Window function row_number() cannot be used in WHERE", true);
	expect_error(f, "SELECT row_number() OVER () AS rn FROM " T1 " WHERE rn = 1",
		     "cannot be used in WHERE", true);
	expect_error(f, "SELECT p, count() FROM " T1 " GROUP BY p HAVING rank() OVER () = 1",
		     "cannot be used in HAVING", true);
	/* QUALIFY filters after the windows (test_exec_clauses.c); it must be a
	 * condition there too */
	expect_tsv(f,
		   "SELECT x, row_number() OVER (ORDER BY o, x) AS rn FROM " T1 " QUALIFY rn = 1",
		   "x\trn\n7\t1\n");
	expect_error(f, "SELECT count() FROM " T1 " GROUP BY row_number() OVER ()",
		     "cannot be used in GROUP BY", true);
	expect_error(f, "SELECT sum(row_number() OVER ()) FROM " T1,
		     "cannot be used inside the aggregate function sum()", true);
	expect_error(f, "SELECT sum(row_number() OVER ()) OVER () FROM " T1,
		     "inside the arguments, PARTITION BY or ORDER BY of another window", true);
	expect_error(f, "SELECT uniq(x) OVER () FROM " T1,
		     "not supported yet: window function uniq()", true);
	expect_error(f, "SELECT nosuchfn(x) OVER () FROM " T1, "nosuchfn", false);
	expect_error(f, "SELECT quantile(0.5)(x) OVER () FROM " T1,
		     "not supported yet: parameters of a window function", true);
	expect_error(f, "SELECT row_number() OVER zz FROM " T1, "Window 'zz' is not defined", true);
	expect_error(f, "SELECT sum(x) OVER (ORDER BY p, o RANGE 1 PRECEDING) FROM " T1,
		     "requires exactly one ORDER BY column, 2 given", true);
	expect_error(f, "SELECT sum(x) OVER (ORDER BY s RANGE 1 PRECEDING) FROM " T1,
		     "needs a numeric, Date or DateTime ORDER BY key, not String", true);
	expect_error(
	    f, "SELECT sum(x) OVER (ORDER BY o ROWS BETWEEN 1 FOLLOWING AND 1 PRECEDING) FROM " T1,
	    "Frame start offset 1 FOLLOWING does not precede the frame end offset 1 "
	    "PRECEDING",
	    true);
	expect_error(
	    f, "SELECT count() OVER (ROWS BETWEEN UNBOUNDED FOLLOWING AND CURRENT ROW) FROM " T1,
	    "Frame start cannot be UNBOUNDED FOLLOWING", true);
	expect_error(
	    f, "SELECT count() OVER (ROWS BETWEEN CURRENT ROW AND UNBOUNDED PRECEDING) FROM " T1,
	    "Frame end cannot be UNBOUNDED PRECEDING", true);
	expect_error(
	    f,
	    "SELECT count() OVER (ORDER BY o GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM " T1,
	    "", false);
	expect_error(f, "SELECT lagInFrame(x, -1) OVER () FROM " T1,
		     "The offset of lagInFrame() must be a non-negative integer", true);
	expect_error(f, "SELECT nth_value(x, 0) OVER () FROM " T1,
		     "The offset of nth_value() must be a positive integer", true);
	expect_error(f, "SELECT sum(s) OVER () FROM " T1, "Illegal type String", true);
	expect_error(f, "SELECT *, row_number() OVER () FROM " T1,
		     "SELECT * beside window functions", true);
	expect_error(
	    f, "SELECT event, row_number() OVER (ORDER BY timestamp) FROM events GROUP BY event",
	    "must appear in GROUP BY", true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ranking),	    cmocka_unit_test(test_running_and_peers),
	    cmocka_unit_test(test_aggregate_forms), cmocka_unit_test(test_rows_frames),
	    cmocka_unit_test(test_range_frames),    cmocka_unit_test(test_lag_lead),
	    cmocka_unit_test(test_first_last_nth),  cmocka_unit_test(test_statement_shape),
	    cmocka_unit_test(test_events),	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
