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

static void each_threads(struct xfx *f, void (*fn)(struct xfx *f))
{
	for (uint32_t th = 1; th <= 2; th++) {
		f->opts.threads = th;
		f->opts.run_granules = 1;
		fn(f);
	}
	f->opts.threads = 0;
	f->opts.run_granules = 0;
}

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
	each_threads(*state, basic_checks);
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
	expect_err(f, "select windowFunnelState(10)(timestamp, 1 = 1) from events",
		   "NotImplementedError", "windowFunnel");
	expect_err(f, "select sumStateState(1) from events", "NotImplementedError", "twice");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
