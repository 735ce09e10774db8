/*
 * test_fn_decimal.c — the executor's Decimal type (decimal.c) as a user
 * sees it: HogQL text in, the TSV row out. Two events are stored: 'a' with
 * numbers and decimal text in its properties, 'b' with none, so every
 * property reads as NULL there. Expected values were worked out by hand
 * from ClickHouse's documentation (the Decimal type's result types and
 * overflow rules, CAST(1.15 AS Decimal64(2)) = 1.14, no trailing zeros since
 * 21.9) or read off ClickHouse 18.16 where today's agrees with it; never
 * from the code under test. Errors must be QueryErrors that name the
 * problem, refusals NotImplementedErrors that say why.
 *
 * The test works in its own mkdtemp directory under $SNOUT_TEST_TMP (or
 * /tmp) and removes it at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "ab_fixture.h"

#include "exec/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char PROPS_A[] = "{\"n\":7,\"f\":2.5,\"d\":\"12.345\",\"neg\":\"-0.5\","
			      "\"bad\":\"1.2.3\",\"big\":\"99999999999999999999\"}";

static int setup(void **state)
{
	return ab_setup(state, "test_fn_decimal", PROPS_A, NULL);
}

static void test_conversions(void **state)
{
	struct fixture *f = *state;
	/* PostHog's toDecimal: accurateCastOrNull(x, 'Decimal64(S)') */
	expect_a(f, "toDecimal(1.15, 2), toDecimal('1.15', 2), toDecimal(3, 2), toDecimal(-1.5, 3)",
		 "1.14\t1.15\t3\t-1.5");
	expect_a(f, "toTypeName(toDecimal(1, 2)), toTypeName(CAST(1 AS Decimal64(2)))",
		 "Nullable(Decimal(18, 2))\tDecimal(18, 2)");
	expect_a(f, "toTypeName(CAST(1 AS Decimal32(9))), toTypeName(CAST(1 AS Decimal128(0)))",
		 "Decimal(9, 9)\tDecimal(38, 0)");
	/* text: fraction digits past the scale are cut, garbage is NULL */
	expect_a(f, "toDecimal(properties.d, 2), toDecimal(properties.neg, 0), toDecimal('abc', 2)",
		 "12.34\t0\t\\N");
	expect_a(f, "toDecimal(properties.bad, 2), toDecimal('', 1), toDecimal('1e2', 1)",
		 "\\N\t\\N\t100");
	expect_b(f, "toDecimal(properties.d, 2), toTypeName(toDecimal(properties.d, 2))",
		 "\\N\tNullable(Decimal(18, 2))");
	expect_a(f, "TRY_CAST('x' AS Decimal64(2)), TRY_CAST('1.5' AS Decimal32(1))", "\\N\t1.5");
	expect_error(f, "CAST('x' AS Decimal64(2))", "QueryError",
		     "Cannot parse string 'x' as Decimal(18, 2)");
	/* more digits than the precision */
	expect_a(f, "toDecimal(properties.big, 0), TRY_CAST('1234567890' AS Decimal32(0))",
		 "\\N\t\\N");
	expect_error(f, "CAST('1234567890' AS Decimal32(0))", "QueryError", "Too many digits");
	/* the native type's range: Decimal32 is an Int32 */
	expect_error(f, "CAST(3 AS Decimal32(9))", "QueryError", "Decimal convert overflow");
	expect_a(f, "CAST(2 AS Decimal32(9)), CAST(9.2 AS Decimal64(17))",
		 "2\t9.19999999999999872");
	expect_a(f, "toDecimal(1e300, 2), toDecimal(nan, 1), toDecimal(true, 1)", "\\N\t\\N\t1");
	/* Decimal128 lives in 64 bits here: what does not fit fails loudly */
	expect_error(f, "CAST(1e19 AS Decimal128(0))", "QueryError", "kept in 64 bits");
	expect_error(f, "CAST(1 AS Decimal64(19))", "QueryError", "the scale 0..precision");
	expect_error(f, "CAST(1 AS Decimal128(20))", "NotImplementedError", "scale above 18");
	expect_error(f, "toDecimal(1, properties.n)", "QueryError", "must be a constant integer");
	expect_error(f, "toDecimal(today(), 2)", "QueryError", "Illegal type Date");
	/* CAST and accurateCast */
	expect_a(f, "CAST(1.5 AS Decimal(10, 3)) AS x, toTypeName(x)", "1.5\tDecimal(10, 3)");
	expect_a(f, "toTypeName(CAST(1 AS Decimal)), toTypeName(CAST(1 AS Decimal64(4)))",
		 "Decimal(10, 0)\tDecimal(18, 4)");
	expect_a(f, "CAST(properties.d AS Nullable(Decimal(9, 1)))", "12.3");
	expect_b(f, "CAST(properties.d AS Nullable(Decimal(9, 1)))", "\\N");
	expect_error(f, "CAST(properties.d AS Decimal(9, 1))", "QueryError",
		     "Cannot convert NULL value");
	expect_error(f, "CAST(1 AS Decimal(40, 2))", "NotImplementedError", "Decimal256");
	expect_a(f, "accurateCast('12.5', 'Decimal32(2)') AS a, toTypeName(a)",
		 "12.5\tDecimal(9, 2)");
	expect_a(
	    f,
	    "accurateCastOrNull('x', 'Decimal64(2)'), accurateCastOrNull(1e30, 'Decimal(18, 2)')",
	    "\\N\t\\N");
	/* out of it */
	expect_a(f,
		 "toString(CAST(1.5 AS Decimal64(3))), toString(CAST(-0.05 AS Decimal64(2))), "
		 "toFloat(CAST(1.57 AS Decimal64(2))), toInt(CAST(-1.57 AS Decimal64(2)))",
		 "1.5\t-0.05\t1.57\t-1");
	expect_a(f, "toString(CAST(0 AS Decimal64(4))), toString(CAST(-123.456 AS Decimal64(3)))",
		 "0\t-123.456");
}

static void test_compare(void **state)
{
	struct fixture *f = *state;
	expect_a(f,
		 "CAST(1.5 AS Decimal64(1)) = CAST(1.50 AS Decimal64(2)), CAST(1.5 AS "
		 "Decimal64(1)) < CAST(1.51 AS "
		 "Decimal64(2)), CAST(2 AS Decimal64(1)) = 2, CAST(2.5 AS Decimal64(1)) > 2, "
		 "CAST(1.5 AS Decimal64(1)) = 1.5",
		 "1\t1\t1\t1\t1");
	expect_a(f,
		 "CAST(-1 AS Decimal64(2)) < CAST(0 AS Decimal64(0)), CAST(1.5 AS Decimal64(1)) IN "
		 "(1, 2)",
		 "1\t0");
	/* across scales past 64 bits: exact */
	expect_a(f, "CAST(92233720368547758 AS Decimal64(0)) < CAST(0.5 AS Decimal64(18))", "0");
	expect_b(f,
		 "toDecimal(properties.d, 1) = toDecimal(properties.d, 2), "
		 "toDecimal(properties.d, 1) < 1",
		 "1\t0");
	/* against text: the text read as a Decimal of its own scale, exactly */
	expect_a(f,
		 "CAST(1.25 AS Decimal64(2)) = '1.250', CAST(1.25 AS Decimal64(2)) = '1.255', "
		 "CAST(1.25 AS Decimal64(2)) < '1.3'",
		 "1\t0\t1");
	expect_error(f, "CAST(1 AS Decimal64(1)) = 'a'", "QueryError", "Cannot parse string 'a'");
	/* IN (SELECT ...): one key per value whatever the scale; as Float64 against floats */
	expect_a(
	    f,
	    "CAST(1.25 AS Decimal64(2)) IN (SELECT CAST(1.250 AS Decimal64(3))), "
	    "CAST(2 AS Decimal64(2)) IN (SELECT 2), CAST(1.25 AS Decimal64(2)) IN (SELECT 1.25), "
	    "CAST(1.25 AS Decimal64(2)) IN (SELECT CAST(1.2 AS Decimal64(1)))",
	    "1\t1\t1\t0");
	/* branches take the common type */
	expect_a(f,
		 "if(toInt(properties.n) > 5, CAST(1.5 AS Decimal64(1)), CAST(2.25 AS "
		 "Decimal32(2))) AS x, "
		 "toTypeName(x)",
		 "1.5\tDecimal(18, 2)");
	expect_b(f, "coalesce(toDecimal(properties.d, 2), 0) AS x, toTypeName(x)",
		 "0\tDecimal(18, 2)");
	expect_a(f,
		 "greatest(CAST(1.5 AS Decimal64(1)), CAST(1.55 AS Decimal64(2))), least(CAST(1.5 "
		 "AS Decimal64(1)), 1)",
		 "1.55\t1");
	expect_error(f, "if(1, CAST(1 AS Decimal64(1)), 'a')", "QueryError", "no common type");
}

static void test_arithmetic(void **state)
{
	struct fixture *f = *state;
	expect_a(f,
		 "CAST(1.5 AS Decimal64(1)) + CAST(0.25 AS Decimal64(2)) AS x, toTypeName(x), "
		 "CAST(1.5 AS Decimal64(1)) - 2, 1 - CAST(1.5 AS Decimal64(3))",
		 "1.75\tDecimal(18, 2)\t-0.5\t-0.5");
	expect_a(f,
		 "CAST(1.5 AS Decimal32(1)) * CAST(2.25 AS Decimal32(2)) AS x, toTypeName(x), "
		 "toTypeName(CAST(1 AS Decimal32(2)) * 2), toTypeName(CAST(1 AS Decimal32(2)) + "
		 "CAST(1 AS Decimal64(3)))",
		 "3.375\tDecimal(9, 3)\tDecimal(9, 2)\tDecimal(18, 3)");
	/* ÷: the dividend's scale, cut not rounded; an integer dividend takes the divisor's */
	expect_a(f,
		 "CAST(2 AS Decimal32(4)) / 3, CAST(2 AS Decimal64(2)) / CAST(3 AS Decimal64(3)), "
		 "2 / CAST(3 AS Decimal32(2)), "
		 "toTypeName(CAST(2 AS Decimal64(2)) / CAST(3 AS Decimal64(3)))",
		 "0.6666\t0.66\t0.66\tDecimal(18, 2)");
	expect_a(f,
		 "CAST(7.5 AS Decimal64(2)) % 2, CAST(-7.5 AS Decimal64(1)) % CAST(2 AS "
		 "Decimal64(0)), -CAST(7.5 AS Decimal64(2))",
		 "1.5\t-1.5\t-7.5");
	expect_b(f, "toDecimal(properties.d, 2) + 1, toTypeName(toDecimal(properties.d, 2) * 2)",
		 "\\N\tNullable(Decimal(18, 2))");
	expect_error(f, "CAST(1 AS Decimal64(2)) / 0", "QueryError", "Division by zero");
	expect_error(f, "CAST(1 AS Decimal64(2)) % CAST(0 AS Decimal64(1))", "QueryError",
		     "Division by zero");
	/* ClickHouse's documented overflow: 6 × Decimal32(8) 4.2 */
	expect_error(f, "6 * CAST(4.2 AS Decimal32(8))", "QueryError", "Decimal math overflow");
	expect_error(f, "CAST(4.2 AS Decimal32(8)) * CAST(4.2 AS Decimal32(8))", "QueryError",
		     "Decimal math overflow");
	expect_error(f, "CAST(9 AS Decimal64(10)) * CAST(9 AS Decimal64(10))", "QueryError",
		     "Scale 20 is out of bounds");
	expect_error(f, "CAST(5e18 AS Decimal64(0)) + CAST(5e18 AS Decimal64(0))", "QueryError",
		     "Decimal math overflow");
	/* with a Float64: both as Float64 (ClickHouse since 22.1), but not % */
	expect_a(f,
		 "CAST(1.25 AS Decimal64(2)) + 1.5 AS x, toTypeName(x), CAST(1.25 AS Decimal64(2)) "
		 "/ 0.5, "
		 "greatest(CAST(1.25 AS Decimal64(2)), 1.5) AS g, toTypeName(g)",
		 "2.75\tFloat64\t2.5\t1.5\tFloat64");
	expect_error(f, "CAST(1 AS Decimal64(2)) % 1.5", "QueryError",
		     "Illegal types Decimal(18, 2) and Float64 of arguments of function modulo");
	expect_a(f,
		 "multiplyDecimal(CAST(1.5 AS Decimal64(1)), CAST(2.25 AS Decimal64(2))), "
		 "divideDecimal(CAST(1 AS Decimal64(1)), CAST(3 AS Decimal64(0)), 5), "
		 "toTypeName(divideDecimal(CAST(1 AS Decimal64(1)), CAST(3 AS Decimal64(0))))",
		 "3.3\t0.33333\tDecimal(38, 1)");
	expect_error(f, "divideDecimal(CAST(1 AS Decimal64(1)), CAST(0 AS Decimal64(0)))",
		     "QueryError", "Division by zero");
	expect_error(f, "multiplyDecimal(1, CAST(1 AS Decimal64(1)))", "QueryError",
		     "argument 1 of function multiplyDecimal");
}

static void test_aggregates(void **state)
{
	struct fixture *f = *state;
	/* 'a' has d = 12.345, 'b' none (NULL): NULLs are skipped */
	expect_rows(
	    f,
	    "sum(toDecimal(properties.d, 2)) AS s, toTypeName(s), "
	    "avg(toDecimal(properties.d, 2)) AS a, toTypeName(a), "
	    "min(toDecimal(properties.d, 2)), max(toDecimal(properties.d, 3)), "
	    "count(toDecimal(properties.d, 2)), uniq(toDecimal(properties.d, 2))",
	    "", "12.34\tNullable(Decimal(38, 2))\t12.34\tNullable(Float64)\t12.34\t12.345\t1\t1\n");
	/* 128-bit sums: past Int64 on the way, back inside at the end */
	expect_rows(f,
		    "sum(if(distinct_id = 'a', CAST(9e18 AS Decimal64(0)), CAST(-9e18 AS "
		    "Decimal64(0)))), sum(CAST(-1.5 AS Decimal32(1))), sumIf(CAST(0.25 AS "
		    "Decimal64(2)), distinct_id = 'b')",
		    "", "0\t-3\t0.25\n");
	expect_error(f, "sum(CAST(9e18 AS Decimal64(0)))", "QueryError", "the sum does not fit");
	expect_rows(f,
		    "argMax(distinct_id, CAST(if(distinct_id = 'a', 1.5, 1.25) AS Decimal64(2))), "
		    "any(CAST(1.5 AS Decimal64(1)))",
		    "", "a\t1.5\n");
	/* as GROUP BY keys, ORDER BY and DISTINCT */
	expect_rows(f, "CAST(if(distinct_id = 'a', -1.5, 0.25) AS Decimal64(2)) AS k, count()",
		    "group by k order by k", "-1.5\t1\n0.25\t1\n");
	expect_rows(f, "CAST(if(distinct_id = 'a', -1.5, 0.25) AS Decimal64(2)) AS k",
		    "order by k desc", "0.25\n-1.5\n");
	expect_rows(f, "distinct CAST(1.5 AS Decimal64(2))", "", "1.5\n");
	expect_rows(f, "(select sum(k) from (select CAST(1.25 AS Decimal64(2)) AS k from events))",
		    "limit 1", "2.5\n");
	/* var and stddev: ClickHouse's exact power sums of the scaled values,
	 * m0 = 2, m1 = 375, m2 = 78125: (m2 - m1² / m0) = 7813 (integer
	 * division) at scale 4, / m0 = 3906 → 0.3906; sample: 0.7813 → sqrt */
	expect_rows(f,
		    "varPop(CAST(if(distinct_id = 'a', 1.25, 2.5) AS Decimal64(2))) AS v, "
		    "toTypeName(v), stddevSamp(CAST(if(distinct_id = 'a', 1.25, 2.5) AS "
		    "Decimal32(2)))",
		    "", "0.3906\tFloat64\t0.883911760301898\n");
	expect_error(f, "quantile(0.5)(CAST(1 AS Decimal64(2)))", "QueryError", "Illegal type");
	expect_error(f, "covarPop(CAST(1 AS Decimal64(2)), CAST(1 AS Decimal64(2)))", "QueryError",
		     "Illegal type");
	expect_error(f, "groupArray(CAST(1 AS Decimal64(2)))", "NotImplementedError",
		     "arrays of Decimal");
	expect_error(f, "[CAST(1 AS Decimal64(2))]", "NotImplementedError", "arrays of Decimal");
	expect_error(f, "tuple(CAST(1 AS Decimal64(2)))", "NotImplementedError",
		     "tuples of Decimal");
	/* the type survives nullIf, assumeNotNull and window functions */
	expect_a(f, "nullIf(CAST(1.25 AS Decimal64(2)), 1), assumeNotNull(toDecimal(1.5, 1))",
		 "1.25\t1.5");
	expect_rows(f,
		    "CAST(if(distinct_id = 'a', 1.25, 2.5) AS Decimal64(2)) AS x, "
		    "lagInFrame(x) OVER (ORDER BY x) AS l, toTypeName(l), max(x) OVER ()",
		    "order by x", "1.25\t0\tDecimal(18, 2)\t2.5\n2.5\t1.25\tDecimal(18, 2)\t2.5\n");
	expect_rows(f,
		    "CAST(if(distinct_id = 'a', 1.25, 2.5) AS Decimal64(2)) AS x, "
		    "sum(x) OVER (ORDER BY x) AS s, toTypeName(s), avg(x) OVER ()",
		    "order by x",
		    "1.25\t1.25\tDecimal(38, 2)\t1.875\n2.5\t3.75\tDecimal(38, 2)\t1.875\n");
	expect_error(f, "sum(CAST(9e18 AS Decimal64(0))) OVER ()", "QueryError",
		     "the sum does not fit");
}

static void test_rounding_and_json(void **state)
{
	struct fixture *f = *state;
	/* values read off ClickHouse 18.16 (it prints the zeros: 1.30) */
	expect_a(f,
		 "round(CAST(1.25 AS Decimal64(2)), 1), round(CAST(-1.25 AS Decimal64(2)), 1), "
		 "round(CAST(1.35 AS Decimal64(2))), floor(CAST(-1.25 AS Decimal64(2)), 1), "
		 "ceil(CAST(-1.25 AS Decimal64(2)), 1), ceil(CAST(1.21 AS Decimal64(2))), "
		 "trunc(CAST(-1.29 AS Decimal64(2)), 1), round(CAST(125 AS Decimal64(2)), -1)",
		 "1.3\t-1.3\t1\t-1.3\t-1.2\t2\t-1.2\t130");
	expect_a(
	    f,
	    "toTypeName(round(CAST(1.25 AS Decimal64(2)), 1)), abs(CAST(-1.5 AS Decimal32(2))) AS "
	    "a, toTypeName(a), sign(CAST(-1.5 AS Decimal64(2))), negate(CAST(1.5 AS Decimal64(1)))",
	    "Decimal(18, 2)\t1.5\tDecimal(9, 2)\t-1\t-1.5");
	expect_a(
	    f,
	    "roundBankers(CAST(2.25 AS Decimal64(2)), 1), roundBankers(CAST(2.35 AS Decimal64(2)), "
	    "1), round(CAST(1 AS Decimal64(2)), -30), round(CAST(1.5 AS Decimal64(1)), 3)",
	    "2.2\t2.4\t0\t1.5");
	expect_a(f, "round(CAST(9.9 AS Decimal32(8)))", "10");
	expect_error(f, "ceil(CAST(21.47 AS Decimal32(8)))", "QueryError", "Decimal math overflow");
	expect_error(f, "intDiv(CAST(7.5 AS Decimal64(2)), 2)", "QueryError", "intDiv");
	/* JSON: PostHog's float(Decimal) (DRF's encoder), the type ClickHouse names */
	char q[] = "select CAST('12.345' AS Decimal(10, 3)) AS x, toDecimal(NULL, 2) AS y, "
		   "CAST('0.1' AS Decimal64(18)) AS z, toDecimal('-2.50', 2) AS w";
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	assert_int_equal(sn_exec_query(&f->opts, q, strlen(q), &res, &err), 0);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	assert_int_equal(sn_exec_result_json(&b, &res), 0);
	const char *j = (const char *)b.data;
	if (!strstr(j, "\"types\":[[\"x\",\"Decimal(10, 3)\"],[\"y\",\"Nullable(Nothing)\"],"
		       "[\"z\",\"Decimal(18, 18)\"],[\"w\",\"Nullable(Decimal(18, 2))\"]]") ||
	    !strstr(j, "\"results\":[[12.345,null,0.1,-2.5]]"))
		fail_msg("json: %s", j);
	sn_buf_release(&b);
	sn_exec_result_release(&res);
}

/* Two scanner threads (runs of one granule) merge their sums exactly:
 * rows come sorted by distinct id, so each scanner's sum is far past
 * Int64 (one of 'a''s values, the other of 'b''s) and only their merge
 * fits. */
static void test_merge(void **state)
{
	(void)state;
	struct fixture g;
	memset(&g, 0, sizeof(g));
	assert_int_equal(sn_test_tmpdir(g.dir, sizeof(g.dir), "test_fn_decimal_merge"), 0);
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	for (int i = 0; i < 40; i++)
		add_event(&mt, i + 1, i % 2 ? "a" : "b", "pv",
			  i % 2 ? "{\"v\":\"900000000000000000\",\"c\":\"0.01\"}"
				: "{\"v\":\"-899999999999999999\",\"c\":\"0.02\"}");
	struct sn_part_write_opts o = {.granule_rows = 4, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, g.dir, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
	g.opts.store_dir = g.dir;
	g.opts.team_id = 1;
	for (uint32_t th = 1; th <= 2; th++) {
		g.opts.threads = th;
		g.opts.run_granules = 1;
		expect_rows(&g,
			    "sum(CAST(properties.v AS Decimal64(0))), sum(CAST(properties.c AS "
			    "Decimal64(2))), avg(CAST(properties.c AS Decimal64(2))), "
			    "max(CAST(properties.v AS Decimal64(0))), uniq(CAST(properties.c AS "
			    "Decimal64(2)))",
			    "", "20\t0.6\t0.015\t900000000000000000\t2\n");
		expect_rows(&g, "distinct_id, sum(CAST(properties.c AS Decimal64(2)))",
			    "group by distinct_id order by distinct_id", "a\t0.2\nb\t0.4\n");
		/* the power sums merge exactly too: m1 = 20, m2 = 20·(9e17)² +
		 * 20·(9e17 - 1)², (m2 - 400 / 40) / 40 = 8.1e35 */
		expect_rows(&g, "varPop(CAST(properties.v AS Decimal64(0)))", "", "8.1e+35\n");
		expect_error(&g, "sumIf(CAST(properties.v AS Decimal64(0)), distinct_id = 'a')",
			     "QueryError", "the sum does not fit");
	}
	sn_test_rm_rf(g.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conversions),	      cmocka_unit_test(test_compare),
	    cmocka_unit_test(test_arithmetic),	      cmocka_unit_test(test_aggregates),
	    cmocka_unit_test(test_rounding_and_json), cmocka_unit_test(test_merge),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
