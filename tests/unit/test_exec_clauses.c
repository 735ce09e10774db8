/*
 * test_exec_clauses.c — clauses beyond the plain SELECT: PREWHERE (exec.c
 * prewhere_into_where: one more WHERE term), LIMIT n WITH TIES (the rows
 * equal to the n-th on the ORDER BY keys come too), and the set operations
 * other than UNION ALL, QUALIFY (window.c: the outer statement's WHERE,
 * after windows, GROUP BY and HAVING), and the set operations
 * (subquery.c: UNION DISTINCT, INTERSECT [DISTINCT],
 * EXCEPT with ClickHouse's precedence — INTERSECT first, then UNION and
 * EXCEPT left to right — and its ALL semantics: the left rows filtered by
 * membership, every copy kept). Expected rows worked out by hand from the
 * six events below. ClickHouse 18.16 has none of the set operators, so they
 * are not in the differential test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec_fixture.h"

#define T0 1733011200LL /* 2024-12-01 00:00:00 UTC */

static void setup(struct xfx *f)
{
	xfx_open(f, "test_exec_clauses");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	/* events: pv x3 (u1, u2, u3), signup x2 (u1, u2), buy x1 (u1) */
	xfx_event(&mt, 1, 1, T0, "u1", "pv", "{\"n\":1}");
	xfx_event(&mt, 2, 1, T0 + 60, "u2", "pv", "{\"n\":2}");
	xfx_event(&mt, 3, 1, T0 + 120, "u3", "pv", "{\"n\":2}");
	xfx_event(&mt, 4, 1, T0 + 180, "u1", "signup", "{\"n\":3}");
	xfx_event(&mt, 5, 1, T0 + 240, "u2", "signup", "{}");
	xfx_event(&mt, 6, 1, T0 + 300, "u1", "buy", "{\"n\":5}");
	xfx_write(f, &mt, 64);
}

static void test_prewhere(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	xfx_check(&f, "select count() as c from events prewhere event = 'pv'", "c\n3\n");
	xfx_check(&f,
		  "select distinct_id from events prewhere event = 'pv' where "
		  "toInt(properties.n) = 2 order by distinct_id",
		  "distinct_id\nu2\nu3\n");
	xfx_check(&f,
		  "select event, count() as c from events prewhere distinct_id != 'u3' group by "
		  "event order by event",
		  "event\tc\nbuy\t1\npv\t2\nsignup\t2\n");
	struct sn_hogql_error e = xfx_error(&f, "select count() from events prewhere count() > 1");
	assert_non_null(strstr(e.msg, "not allowed here"));
	xfx_close(&f);
}

static void test_with_ties(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	/* counts: pv 3, signup 2, buy 1; u1 3, u2 2, u3 1 */
	xfx_check(&f,
		  "select toInt(properties.n) as n from events where n is not null order by n "
		  "limit 2 with ties",
		  "n\n1\n2\n2\n");
	xfx_check(&f,
		  "select toInt(properties.n) as n from events where n is not null order by n "
		  "limit 1 with ties",
		  "n\n1\n");
	xfx_check(&f,
		  "select toInt(properties.n) as n, distinct_id from events where n is not null "
		  "order by n desc limit 3 with ties",
		  "n\tdistinct_id\n5\tu1\n3\tu1\n2\tu2\n2\tu3\n");
	/* ties are on every ORDER BY key */
	xfx_check(&f,
		  "select toInt(properties.n) as n, distinct_id as d from events where n is not "
		  "null order by n, d limit 2 with ties",
		  "n\td\n1\tu1\n2\tu2\n");
	/* with OFFSET: the window starts later, ties extend its end */
	xfx_check(&f,
		  "select toInt(properties.n) as n from events where n is not null order by n "
		  "limit 1 offset 1 with ties",
		  "n\n2\n2\n");
	xfx_check(&f,
		  "select event, count() as c from events group by event order by c desc limit 1 "
		  "with ties",
		  "event\tc\npv\t3\n");
	struct sn_hogql_error e = xfx_error(&f, "select event from events limit 1 with ties");
	assert_string_equal(e.msg, "Can not use WITH TIES without ORDER BY");
	xfx_close(&f);
}

static void test_set_operations(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	/* UNION DISTINCT (and bare UNION) over the whole chain so far */
	xfx_check(&f,
		  "select x from (select distinct_id as x from events union distinct select "
		  "'u9') order by x",
		  "x\nu1\nu2\nu3\nu9\n");
	xfx_check(&f, "select count() as c from (select event from events union select 'pv')",
		  "c\n3\n");
	xfx_check(&f,
		  "select count() as c from (select 1 union all select 1 union distinct select 2)",
		  "c\n2\n");
	/* INTERSECT keeps every copy of the left rows the right has */
	xfx_check(&f,
		  "select x from (select distinct_id as x from events intersect select "
		  "distinct_id from events where event = 'signup') order by x",
		  "x\nu1\nu1\nu1\nu2\nu2\n");
	xfx_check(&f,
		  "select x from (select distinct_id as x from events intersect distinct select "
		  "distinct_id from events where event = 'signup') order by x",
		  "x\nu1\nu2\n");
	/* EXCEPT likewise; ALL is the same (ClickHouse's default mode) */
	xfx_check(&f,
		  "select x from (select distinct_id as x from events except select 'u1') order by "
		  "x",
		  "x\nu2\nu2\nu3\n");
	xfx_check(&f,
		  "select x from (select distinct_id as x from events except all select 'u1') "
		  "order by x",
		  "x\nu2\nu2\nu3\n");
	xfx_check(&f,
		  "select count() as c from (select distinct_id from events intersect all select "
		  "'u2')",
		  "c\n2\n");
	/* several columns, NULL equal to NULL */
	xfx_check(&f,
		  "select e, n from (select event as e, toInt(properties.n) as n from events "
		  "except select 'pv', 2) order by e, n",
		  "e\tn\nbuy\t5\npv\t1\nsignup\t3\nsignup\t\\N\n");
	xfx_check(&f,
		  "select e, n from (select event as e, toInt(properties.n) as n from events "
		  "intersect select 'signup', NULL) order by e",
		  "e\tn\nsignup\t\\N\n");
	/* INTERSECT binds tighter: a UNION ALL (b INTERSECT c); then left to right */
	xfx_check(&f,
		  "select x from (select 5 as x union all select arrayJoin([1, 2]) intersect "
		  "select 2) order by x",
		  "x\n2\n5\n");
	xfx_check(&f,
		  "select x from (select arrayJoin([1, 2, 3]) as x except select 2 union all "
		  "select 2) order by x",
		  "x\n1\n2\n3\n");
	xfx_check(&f,
		  "select x from (select arrayJoin([1, 2, 3]) as x union all select 2 except "
		  "select 2) order by x",
		  "x\n1\n3\n");
	/* as the statement itself, and as an IN set */
	xfx_check(&f, "select 1 as x except select 1", "x\n");
	xfx_check(&f,
		  "select count() as c from events where distinct_id in (select 'u1' union "
		  "distinct select 'u3' except select 'u1')",
		  "c\n1\n");
	/* errors name the operator */
	struct sn_hogql_error e = xfx_error(&f, "select 1 except select 'a'");
	assert_non_null(strstr(e.msg, "EXCEPT members have no common type"));
	e = xfx_error(&f, "select 1, 2 intersect select 1");
	assert_non_null(strstr(e.msg, "INTERSECT members return different numbers of columns"));
	e = xfx_error(&f, "select 1, 2 union distinct select 1");
	assert_non_null(strstr(e.msg, "UNION DISTINCT members return different numbers"));
	xfx_close(&f);
}

static void test_qualify(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	/* each user's first event, by a window in QUALIFY or by its alias */
	xfx_check(&f,
		  "select distinct_id, event from events qualify row_number() over (partition by "
		  "distinct_id order by timestamp) = 1 order by distinct_id",
		  "distinct_id\tevent\nu1\tpv\nu2\tpv\nu3\tpv\n");
	xfx_check(&f,
		  "select distinct_id, event, row_number() over (partition by distinct_id order "
		  "by timestamp desc) as rn from events qualify rn = 1 order by distinct_id",
		  "distinct_id\tevent\trn\nu1\tbuy\t1\nu2\tsignup\t1\nu3\tpv\t1\n");
	/* without windows: after GROUP BY and HAVING, on the grouped rows */
	xfx_check(&f,
		  "select distinct_id, count() as c from events group by distinct_id having c < 3 "
		  "qualify c > 1",
		  "distinct_id\tc\nu2\t2\n");
	xfx_check(&f, "select event from events qualify event != 'pv' order by timestamp limit 5",
		  "event\nsignup\nsignup\nbuy\n");
	/* a window only in QUALIFY, compared with one in the select list */
	xfx_check(
	    &f,
	    "select toInt(properties.n) as n, sum(n) over () as s from events qualify n * 4 > "
	    "s order by n",
	    "n\ts\n5\t13\n");
	struct sn_hogql_error e = xfx_error(&f, "select event from events qualify count() > 1");
	assert_non_null(strstr(e.msg, "GROUP BY"));
	xfx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_prewhere),
	    cmocka_unit_test(test_with_ties),
	    cmocka_unit_test(test_set_operations),
	    cmocka_unit_test(test_qualify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
