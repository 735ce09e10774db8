/*
 * test_exec_untuple.c — untuple(t) as a column of the outermost SELECT
 * (exec.c untuple_flag / untuple_expand, array.c fn_untuple): one column per
 * element, named as today's ClickHouse names them (`alias.k` under an alias,
 * else `tupleElement(<argument>, k)`, its 02890_untuple_column_names test),
 * typed by the tuple's element types, NULL elements and a NULL tuple, next to
 * other columns, over grouped rows, ORDER BY the tuple's alias; and the
 * refusals: not a tuple, inside a subquery, a UNION ALL or an expression, or
 * with DISTINCT.
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
	xfx_open(f, "test_exec_untuple");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	xfx_event(&mt, 1, 1, T0, "u1", "pv", "{\"plan\":\"pro\",\"n\":3}");
	xfx_event(&mt, 2, 1, T0 + 60, "u2", "pv", "{\"n\":5}");
	xfx_event(&mt, 3, 1, T0 + 120, "u1", "signup", "{\"plan\":\"free\"}");
	xfx_write(f, &mt, 64);
}

static void test_columns(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	xfx_check(&f, "select untuple(tuple(1, 'a', [2, 3]))",
		  "tupleElement(tuple(1, 'a', [2, 3]), 1)\ttupleElement(tuple(1, 'a', [2, 3]), "
		  "2)\ttupleElement(tuple(1, 'a', [2, 3]), 3)\n1\ta\t[2,3]\n");
	xfx_check(&f, "select 0 as z, untuple((1, 'x')) as u, 5 as five",
		  "z\tu.1\tu.2\tfive\n0\t1\tx\t5\n");
	xfx_check(&f, "select untuple(tuple(NULL, 2.5, toDate('2024-01-02'))) as u",
		  "u.1\tu.2\tu.3\n\\N\t2.5\t2024-01-02\n");
	/* over rows, a property element NULL where the event has none */
	xfx_check(&f,
		  "select untuple(tuple(event, properties.plan, toInt(properties.n))) as t from "
		  "events order by timestamp",
		  "t.1\tt.2\tt.3\npv\tpro\t3\npv\t\\N\t5\nsignup\tfree\t\\N\n");
	/* grouped, ordered by the tuple */
	xfx_check(&f,
		  "select untuple(tuple(distinct_id, count())) as g from events group by "
		  "distinct_id order by g desc",
		  "g.1\tg.2\nu2\t1\nu1\t2\n");
	xfx_close(&f);
}

/* The API's types and the JSON shape come from the same columns. */
static void test_types(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	const char *q = "select untuple(tuple(1, 'a', toNullable(2.5), [1])) as u, 7 as seven";
	assert_int_equal(sn_exec_query(&f.opts, q, strlen(q), &res, &err), 0);
	assert_int_equal(res.ncols, 5);
	static const char *const names[] = {"u.1", "u.2", "u.3", "u.4", "seven"};
	static const char *const types[] = {"Int64", "String", "Nullable(Float64)", "Array(Int64)",
					    "Int64"};
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(res.names[i], names[i]);
		assert_string_equal(res.types[i], types[i]);
	}
	assert_int_equal(res.nrows, 1);
	sn_exec_result_release(&res);
	xfx_close(&f);
}

static void test_errors(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	struct sn_hogql_error e = xfx_error(&f, "select untuple(1)");
	assert_string_equal(e.type, "QueryError");
	assert_non_null(strstr(e.msg, "Illegal type Int64 of argument of function untuple"));
	static const char *const refused[] = {
	    "select count() from (select untuple((1, 2)))",
	    "select 1 union all select untuple((1, 2))",
	    "select length(toString(untuple((1, 2))))",
	    "select 1 from events where untuple((1, 2)) = (1, 2)",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		e = xfx_error(&f, refused[i]);
		assert_string_equal(e.type, "NotImplementedError");
		assert_non_null(strstr(e.msg, "untuple() other than as a column"));
	}
	e = xfx_error(&f, "select untuple(distinct (1, 2))");
	assert_string_equal(e.type, "NotImplementedError");
	xfx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_columns),
	    cmocka_unit_test(test_types),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
