/*
 * test_agg_state.c — the -State and -Merge aggregate combinators and
 * finalizeAggregation (exec/agg.c, "aggregate states as values"): a state
 * survives subqueries, CTEs, joins and UNION ALL as a value of type
 * AggregateFunction(f, T...), and fMerge over states answers exactly what f
 * answers over the rows underneath. Expected values are worked out by hand
 * (the plain aggregate's answer over the rows) or read off ClickHouse 18.16
 * (type names). Eight events, each its own event name, over four days:
 *
 *   event day did g n  f     s
 *   e1    1   u1  a 1  1.5   x
 *   e2    1   u2  a 2  -0.5  y
 *   e3    2   u1  a 4  -     x
 *   e4    2   u3  b 7  2     z
 *   e5    3   u2  b 3  -     x
 *   e6    3   u4  b -  -     y
 *   e7    3   u1  a 4  3     y
 *   e8    4   u5  b 1  -     y
 *
 * Granules of two rows: with two scanner threads the states of the inner
 * aggregates (and of the -Merge aggregates over them) merge as well.
 */
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

static int setup(void **state)
{
	static struct xfx f;
	xfx_open(&f, "test_agg_state");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	int64_t t0 = sn_days_from_civil(2024, 3, 1) * 86400LL;
	static const struct {
		int day;
		const char *did, *props;
	} ev[] = {
	    {1, "u1", "{\"g\":\"a\",\"n\":1,\"f\":1.5,\"s\":\"x\"}"},
	    {1, "u2", "{\"g\":\"a\",\"n\":2,\"f\":-0.5,\"s\":\"y\"}"},
	    {2, "u1", "{\"g\":\"a\",\"n\":4,\"s\":\"x\"}"},
	    {2, "u3", "{\"g\":\"b\",\"n\":7,\"f\":2,\"s\":\"z\"}"},
	    {3, "u2", "{\"g\":\"b\",\"n\":3,\"s\":\"x\"}"},
	    {3, "u4", "{\"g\":\"b\",\"s\":\"y\"}"},
	    {3, "u1", "{\"g\":\"a\",\"n\":4,\"f\":3,\"s\":\"y\"}"},
	    {4, "u5", "{\"g\":\"b\",\"n\":1,\"s\":\"y\"}"},
	};
	for (int i = 0; i < 8; i++) {
		char name[8];
		snprintf(name, sizeof(name), "e%d", i + 1);
		xfx_event(&mt, i + 1, 1, t0 + ev[i].day * 86400LL + i, ev[i].did, name,
			  ev[i].props);
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

/* The TSV rows (without the header line) of q. */
static void expect_q(struct xfx *f, const char *q, const char *want)
{
	struct sn_buf b;
	const char *tsv = xfx_tsv(f, q, &b);
	const char *rows = strchr(tsv, '\n');
	assert_non_null(rows);
	if (strcmp(rows + 1, want) != 0)
		fail_msg("threads %u: %s\n  got:  %s  want: %s", f->opts.threads, q, rows + 1,
			 want);
	sn_buf_release(&b);
}

/* The scan of q used as many threads as f asks for (with two, each scanner's
 * groups are merged). */
static void expect_threads(struct xfx *f, const char *q)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	if (sn_exec_query(&f->opts, q, strlen(q), &res, &err))
		fail_msg("query failed: %s: %s", err.msg, q);
	assert_int_equal(res.stats.scan_threads, f->opts.threads);
	sn_exec_result_release(&res);
}

/* q fails with an error of type holding msg_part. */
static void expect_err(struct xfx *f, const char *q, const char *type, const char *msg_part)
{
	struct sn_hogql_error err = xfx_error(f, q);
	if (!strstr(err.msg, msg_part))
		fail_msg("%s: message '%s' lacks '%s'", q, err.msg, msg_part);
	assert_string_equal(err.type, type);
}

#define N   "toInt(properties.n)"
#define F   "toFloat(properties.f)"
#define S   "properties.s"
#define DAY "toDate(timestamp)"

/* States made per day, merged over the days. */
#define PER_DAY(states) \
	"(select " DAY " as d, properties.g as g, " states " from events group by d, g)"

static void basic_checks(struct xfx *f)
{
	/* over all rows: 8 events, 7 with n (sum 22), 5 distinct ids */
	expect_q(f,
		 "select countMerge(c), countMerge(cn), sumMerge(s), avgMerge(a), uniqMerge(u), "
		 "uniqExactMerge(ue) from " PER_DAY(
		     "countState() as c, countState(" N ") as cn, sumState(" N ") as s, "
		     "avgState(" N ") as a, uniqState(distinct_id) as u, "
		     "uniqExactState(distinct_id) as ue"),
		 "8\t7\t22\t3.142857142857143\t5\t5\n");
	/* per group: a is e1 e2 e3 e7 (u1 u2; 1+2+4+4), b e4 e5 e6 e8 */
	expect_q(f,
		 "select g, countMerge(c), sumMerge(s), uniqMerge(u), avgMerge(a) from " PER_DAY(
		     "countState() as c, sumState(" N ") as s, uniqState(distinct_id) as u, "
		     "avgState(" F ") as a") " group by g order by g",
		 "a\t4\t11\t2\t1.3333333333333333\nb\t4\t11\t4\t2\n");
	/* the types ClickHouse gives them */
	expect_q(f,
		 "select toTypeName(uniqState(distinct_id)), toTypeName(countState()), "
		 "toTypeName(sumState(" N ")), toTypeName(quantileState(0.9)(" F ")), "
		 "toTypeName(medianState(" N ")), toTypeName(sumIfState(" N ", 1 = 1)), "
		 "toTypeName(sumStateIf(" N ", 1 = 1)), toTypeName(uniqState(distinct_id, event)) "
		 "from events",
		 "AggregateFunction(uniq, String)\tAggregateFunction(count)\t"
		 "AggregateFunction(sum, Nullable(Int64))\t"
		 "AggregateFunction(quantile(0.9), Nullable(Float64))\t"
		 "AggregateFunction(quantile, Nullable(Int64))\t"
		 "AggregateFunction(sumIf, Nullable(Int64), UInt8)\t"
		 "AggregateFunction(sum, Nullable(Int64))\t"
		 "AggregateFunction(uniq, String, String)\n");
	/* the merged result keeps the aggregate's type */
	expect_q(
	    f,
	    "select toTypeName(sumMerge(s)), toTypeName(uniqMerge(u)), toTypeName(avgMerge(a)) "
	    "from " PER_DAY("sumState(" N ") as s, uniqState(distinct_id) as u, avgState(" N
			    ") as a"),
	    "Nullable(Int64)\tUInt64\tNullable(Float64)\n");
}

static void test_basic(void **state)
{
	xfx_each_threads(*state, basic_checks);
}

static void kinds_checks(struct xfx *f)
{
	/* values as the scan meets them: n 1 2 4 7 3 - 4 1, s x y x z x y y y */
	expect_q(f,
		 "select minMerge(mi), maxMerge(ma), minMerge(ms), maxMerge(xs), anyMerge(an), "
		 "anyLastMerge(al), argMinMerge(am), argMaxMerge(ax) from " PER_DAY(
		     "minState(" N ") as mi, maxState(" N ") as ma, minState(" S ") as ms, "
		     "maxState(" S ") as xs, anyState(" S ") as an, anyLastState(" S ") as al, "
		     "argMinState(distinct_id, " N ") as am, argMaxState(distinct_id, " N
		     ") as ax"),
		 "1\t7\tx\tz\tx\ty\tu1\tu3\n");
	/* sorted n: 1 1 2 3 4 4 7 (ClickHouse 18.16 also says 5.200000000000001
	 * for the 0.9 quantile); quantileMerge takes its own level */
	expect_q(f,
		 "select quantileMerge(0.5)(q), quantileMerge(0.9)(q), medianMerge(q), "
		 "quantileExactMerge(0.5)(e), quantilesMerge(0.5, 0.9)(qs), "
		 "toTypeName(quantilesMerge(0.5, 0.9)(qs)) from " PER_DAY(
		     "quantileState(0.5)(" N ") as q, quantileExactState(" N ") as e, "
		     "quantilesState(0.1)(" N ") as qs"),
		 "3\t5.200000000000001\t3\t3\t[3,5.200000000000001]\tArray(Float64)\n");
	expect_q(f,
		 "select groupArrayMerge(ga), groupUniqArrayMerge(gu), topKMerge(tk), "
		 "topKMerge(1)(tk), groupArrayMovingSumMerge(ms) from " PER_DAY(
		     "groupArrayState(" N ") as ga, groupUniqArrayState(" N ") as gu, "
		     "topKState(" S ") as tk, groupArrayMovingSumState(" N ") as ms"),
		 "[1,2,4,7,3,4,1]\t[1,2,4,7,3]\t['y','x','z']\t['y']\t[1,3,7,14,17,21,22]\n");
	/* f 1.5 -0.5 2 3: mean 1.5, squares 6.5; (n, f) pairs (1,1.5) (2,-0.5)
	 * (7,2) (4,3): co-moment 5.5, n's squares 21 */
	expect_q(
	    f,
	    "select round(varPopMerge(v), 12), round(varSampMerge(vs), 12), "
	    "round(stddevPopMerge(sp), 12), round(covarPopMerge(cp), 12), "
	    "round(covarSampMerge(cs), 12), round(corrMerge(co), 12), sumMerge(sf) from " PER_DAY(
		"varPopState(" F ") as v, varSampState(" F ") as vs, stddevPopState(" F
		") as sp, covarPopState(" N ", " F ") as cp, covarSampState(" N ", " F
		") as cs, corrState(" N ", " F ") as co, sumState(" F ") as sf"),
	    "1.625\t2.166666666667\t1.274754878398\t1.375\t1.833333333333\t0.470756541762\t6\n");
	/* 1|2|4|7|3|4|1, xor 6; rises 1 2 3 1; sum(n*n) / sum(n) = 96 / 22 */
	expect_q(f,
		 "select groupBitOrMerge(bo), groupBitAndMerge(ba), groupBitXorMerge(bx), "
		 "deltaSumMerge(ds), avgWeightedMerge(aw) from " PER_DAY(
		     "groupBitOrState(" N ") as bo, groupBitAndState(" N ") as ba, "
		     "groupBitXorState(" N ") as bx, deltaSumState(" N ") as ds, "
		     "avgWeightedState(" N ", " N ") as aw"),
		 "7\t0\t6\t7\t4.363636363636363\n");
	/* e1 (day 1) then e4 86403 s later (day 2): within two days, not 100 s;
	 * the Merge call's window answers */
	expect_q(f,
		 "select windowFunnelMerge(172800)(w), windowFunnelMerge(100)(w), "
		 "any(toTypeName(w)) from " PER_DAY(
		     "windowFunnelState(172800)(timestamp, event = 'e1', event = 'e4') as w"),
		 "2\t1\tAggregateFunction(windowFunnel(172800), DateTime64(6, 'UTC'), UInt8, "
		 "UInt8)\n");
	/* x: 1 4 3, y: 2 - 4 1, z: 7, keys sorted; e6 has no n; the plain
	 * aggregates say the same */
	expect_q(f,
		 "select sumMapMerge(sm), maxMapMerge(mm), minMapMerge(mi), any(toTypeName(sm)) "
		 "from " PER_DAY("sumMapState([" S "], [" N "]) as sm, maxMapState(([" S "], [" N
				 "])) as mm, minMapState(map(event, " N ")) as mi"),
		 "(['x','y','z'],[8,7,7])\t(['x','y','z'],[4,4,7])\t{'e1':1,'e2':2,'e3':4,'e4':7,'"
		 "e5':3,'e6':NULL,'e7':4,'e8':1}\t"
		 "AggregateFunction(sumMap, Array(Nullable(String)), Array(Nullable(Int64)))\n");
	expect_q(f,
		 "select sumMap([" S "], [" N "]), maxMap(([" S "], [" N "])), minMap(map(event, " N
		 ")) from events",
		 "(['x','y','z'],[8,7,7])\t(['x','y','z'],[4,4,7])\t{'e1':1,'e2':2,'e3':4,'e4':7,'"
		 "e5':3,'e6':NULL,'e7':4,'e8':1}\n");
	/* a majority vote over x y x z x y y y ends on y */
	expect_q(f, "select anyHeavyMerge(h) from (select anyHeavyState(" S ") as h from events)",
		 "y\n");
}

static void test_kinds(void **state)
{
	xfx_each_threads(*state, kinds_checks);
}

static void comb_checks(struct xfx *f)
{
	/* -If inside the state (its name says sumIf) or outside it */
	expect_q(f,
		 "select sumIfMerge(si), sumMerge(ss), sumMergeIf(s, g = 'b'), countIfMerge(ci), "
		 "uniqIfMerge(ui), countMerge(cf) from " PER_DAY(
		     "sumIfState(" N ", properties.g = 'a') as si, sumStateIf(" N
		     ", properties.g = 'a') as ss, sumState(" N ") as s, countIfState(properties.g "
		     "= 'b') as ci, uniqIfState(distinct_id, properties.g = 'b') as ui, "
		     "countState() filter (where properties.g = 'a') as cf"),
		 "11\t11\t11\t4\t4\t4\n");
	/* sumIf states merged where g = 'b': no row of theirs is a, which is NULL as
	 * the plain sumIf over no row of a Nullable */
	expect_q(f,
		 "select sumIfMergeIf(si, g = 'a'), sumIfMergeIf(si, g = 'b'), "
		 "toTypeName(sumIfMergeIf(si, g = 'b')) from " PER_DAY(
		     "sumIfState(" N ", properties.g = 'a') as si"),
		 "11\t\\N\tNullable(Int64)\n");
	expect_q(f, "select sumIf(" N ", 1 = 0) from events", "\\N\n");
	/* -MergeState: per g, then over both; its type is the state's */
	expect_q(
	    f,
	    "select uniqMerge(m), sumMerge(t), any(tn) from (select g, uniqMergeState(u) as m, "
	    "sumMergeState(s) as t, toTypeName(uniqMergeState(u)) as tn from " PER_DAY(
		"uniqState(distinct_id) as u, sumState(" N ") as s") " group by g)",
	    "5\t22\tAggregateFunction(uniq, String)\n");
	/* a state per event row (arrayReduce), merged straight off the scan:
	 * with two scanners their groups of merged states merge too */
	expect_q(f,
		 "select uniqMerge(arrayReduce('uniqState', [distinct_id])), "
		 "sumMerge(arrayReduce('sumState', [" N "])), properties.g as g from events group "
		 "by g order by g",
		 "2\t11\ta\n4\t11\tb\n");
	expect_threads(f, "select uniqMerge(arrayReduce('uniqState', [distinct_id])), "
			  "properties.g as g from events group by g");
	/* a state per row, finalized: (d, g) groups in order */
	expect_q(f,
		 "select d, g, finalizeAggregation(u), finalizeAggregation(q), "
		 "finalizeAggregation(ga) from " PER_DAY(
		     "uniqState(distinct_id) as u, quantileState(0.9)(" N ") as q, "
		     "groupArrayState(" S ") as ga") " order by d, g",
		 "2024-03-02\ta\t2\t1.9\t['x','y']\n2024-03-03\ta\t1\t4\t['x']\n"
		 "2024-03-03\tb\t1\t7\t['z']\n2024-03-04\ta\t1\t4\t['y']\n"
		 "2024-03-04\tb\t2\t3\t['x','y']\n2024-03-05\tb\t1\t1\t['y']\n");
}

static void test_combinations(void **state)
{
	xfx_each_threads(*state, comb_checks);
}

/* States through CTEs, UNION ALL and joins, over no rows and NULLs. */
static void test_round_trips(void **state)
{
	struct xfx *f = *state;
	expect_q(f,
		 "with t as (select properties.g as g, uniqState(distinct_id) as u from events "
		 "group by g) select uniqMerge(u) from t",
		 "5\n");
	expect_q(f,
		 "select uniqMerge(u), countMerge(c) from (select uniqState(distinct_id) as u, "
		 "countState() as c from events where properties.g = 'a' union all select "
		 "uniqState(distinct_id) as u, countState() as c from events where properties.g = "
		 "'b')",
		 "5\t8\n");
	expect_q(
	    f,
	    "select a.g, uniqMerge(b.u) from (select properties.g as g from events group by g) "
	    "as a join (select properties.g as g, uniqState(distinct_id) as u from events "
	    "group by g) as b on a.g = b.g group by a.g order by a.g",
	    "a\t2\nb\t4\n");
	/* one group over no rows: empty states; no state rows at all */
	expect_q(f,
		 "select countMerge(c), sumMerge(s), uniqMerge(u), avgMerge(a), minMerge(m), "
		 "groupArrayMerge(ga) from (select countState() as c, sumState(" N ") as s, "
		 "uniqState(distinct_id) as u, avgState(" N ") as a, minState(" S ") as m, "
		 "groupArrayState(" N ") as ga from events where event = 'nope')",
		 "0\t\\N\t0\t\\N\t\\N\t[]\n");
	expect_q(
	    f,
	    "select countMerge(c), sumMerge(s) from (select properties.g as g, countState() as "
	    "c, sumState(1) as s from events group by g) where g = 'zz'",
	    "0\t0\n");
	/* sums wrap in 64 bits across states as across rows: 8 (2^63 - 1) */
	expect_q(f,
		 "select sumMerge(s), sumMerge(u) from (select event, "
		 "sumState(9223372036854775807) as s, "
		 "sumState(18446744073709551615) as u from events group by event)",
		 "-8\t18446744073709551608\n");
	/* count, any and anyLast take a state whole: 8 events, one id each */
	expect_q(
	    f,
	    "select any(n), uniqMerge(a), uniqMerge(l) from (select any(s) as a, anyLast(s) as "
	    "l, count(s) as n from (select event, uniqState(distinct_id) as s from events "
	    "group by event))",
	    "8\t1\t1\n");
	/* arrayReduce makes a state of an array's elements */
	expect_q(f,
		 "select finalizeAggregation(arrayReduce('uniqState', [1, 2, 2])), "
		 "uniqMerge(arrayReduce('uniqState', [3, 1]))",
		 "2\t2\n");
	/* a LEFT JOIN's missing state merges as an empty one */
	expect_q(f,
		 "select uniqMerge(b.u), countMerge(b.c) from (select 1 as k) as a left join "
		 "(select 2 as k, uniqState(distinct_id) as u, countState() as c from events) as "
		 "b on a.k = b.k",
		 "0\t0\n");
	/* states as GROUP BY keys' companions: the outer groups merge theirs */
	expect_q(f,
		 "select toDayOfWeek(d) > 0 as k, uniqMerge(u) from " PER_DAY(
		     "uniqState(distinct_id) as u") " group by k",
		 "1\t5\n");
}

static void test_errors(void **state)
{
	struct xfx *f = *state;
	/* a state is no result: ClickHouse would send its bytes */
	expect_err(f, "select uniqState(distinct_id) as s from events", "QueryError",
		   "aggregate function state (AggregateFunction(uniq, String))");
	/* -Merge takes the state of its own aggregate */
	expect_err(f, "select uniqMerge(distinct_id) from events", "QueryError",
		   "Illegal type String of argument for aggregate function uniqMerge");
	expect_err(f, "select uniqMerge('abc') from events", "QueryError", "Illegal type String");
	expect_err(f, "select sumMerge(s) from (select uniqState(distinct_id) as s from events)",
		   "QueryError", "Illegal type AggregateFunction(uniq, String)");
	expect_err(f,
		   "select uniqMerge(s) from (select uniqExactState(distinct_id) as s from events)",
		   "QueryError", "AggregateFunction(uniqExact, String)");
	expect_err(f, "select finalizeAggregation(distinct_id) from events", "QueryError",
		   "finalizeAggregation");
	expect_err(f, "select everyState(1 = 1) from events", "NotImplementedError", "every");
	expect_err(f, "select sumStateState(1) from events", "NotImplementedError", "twice");
	expect_err(f, "select sumIfStateIf(1, 1 = 1, 1 = 1) from events", "NotImplementedError",
		   "two -If");
	expect_err(f, "select countDistinctIfState(event, 1 = 1) from events",
		   "NotImplementedError", "countDistinctIf");
	/* a state read by anything but -Merge, finalizeAggregation, toTypeName:
	 * refused before a row is read (functions take their own types) */
#define ONE_STATE "(select event, uniqState(distinct_id) as s from events group by event)"
	expect_err(f, "select toString(s) from " ONE_STATE, "QueryError",
		   "s is an aggregate function state (AggregateFunction(uniq, String))");
	expect_err(f, "select concat(s, 'x') from " ONE_STATE, "QueryError",
		   "only its -Merge aggregate");
	expect_err(f, "select uniqMerge(s) from " ONE_STATE " where toString(s) != ''",
		   "QueryError", "only its -Merge aggregate");
	expect_err(f, "select sum(length(toString(s))) from " ONE_STATE, "QueryError",
		   "only its -Merge aggregate");
	expect_err(f, "select toString(uniqState(distinct_id)) from events", "QueryError",
		   "only its -Merge aggregate");
	expect_err(f, "select min(s) from " ONE_STATE, "QueryError",
		   "Illegal type AggregateFunction(uniq, String) of argument for aggregate "
		   "function min");
	expect_err(f, "select anyState(s) from " ONE_STATE, "QueryError",
		   "of argument for aggregate function anyState");
	expect_err(f,
		   "select uniqMerge(s) from (select uniqState(distinct_id) as s from events "
		   "union all select uniqExactState(distinct_id) as s from events)",
		   "QueryError", "no common type");
}

/* Decimal arguments: sum and avg keep a 128-bit sum, var/stddev exact power
 * sums (agg.c AGG_*_DEC), min/max/uniq/argMax the value; per-day states
 * merged over the days equal the aggregates over the rows (f: 1.5, -0.5, 2,
 * 3 and NULLs: sum 6, mean 1.5, varPop 6.5 / 4 = 1.625). */
#define D "toDecimal(" F ", 2)"
static void decimals(struct xfx *f)
{
	expect_q(f,
		 "select sumMerge(a), toTypeName(sumMerge(a)), minMerge(b), maxMerge(c), "
		 "avgMerge(av), varPopMerge(e), uniqMerge(u), argMaxMerge(m) from " PER_DAY(
		     "sumState(" D ") as a, minState(" D ") as b, maxState(" D ") as c, avgState(" D
		     ") as av, varPopState(" D ") as e, uniqState(" D
		     ") as u, argMaxState(distinct_id, " D ") as m"),
		 "6\tNullable(Decimal(38, 2))\t-0.5\t3\t1.5\t1.625\t4\tu1\n");
	expect_q(f,
		 "select sum(" D "), varPop(" D "), finalizeAggregation(sumState(" D
		 ")), finalizeAggregation(varPopState(" D ")) from events",
		 "6\t1.625\t6\t1.625\n");
}

static void test_decimals(void **state)
{
	xfx_each_threads(*state, decimals);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),	 cmocka_unit_test(test_kinds),
	    cmocka_unit_test(test_combinations), cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_errors),	 cmocka_unit_test(test_decimals),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
