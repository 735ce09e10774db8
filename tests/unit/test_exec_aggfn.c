/*
 * test_exec_aggfn.c — the statistical and frequency aggregates of
 * exec/agg.c (topK, avgWeighted, skew/kurt, groupBit*, deltaSum,
 * groupArrayMoving*, simpleLinearRegression), arrayReduce, arrayFold and
 * arrayAUC (exec/array.c), and the multi-needle string functions of
 * exec/fn_scalar.c, with expected values worked out by hand from
 * ClickHouse's definitions (its formulas are quoted where a value needs
 * them). Eight events, each its own event name so that the scan reads them
 * in this order (parts sort by team, day, event):
 *
 *   event g n  f     s
 *   e1    a 1  1.5   x
 *   e2    a 2  -0.5  y
 *   e3    a 4  -     x
 *   e4    b 7  2     z
 *   e5    b 3  -     x
 *   e6    b -  -     y
 *   e7    a 4  3     y
 *   e8    b 1  -     y
 *
 * Granules of two rows, so two scanner threads each read half of them and
 * their partial states merge (checked through the query's stats).
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
	xfx_open(&f, "test_exec_aggfn");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	int64_t t0 = sn_days_from_civil(2024, 3, 1) * 86400LL;
	static const char *const props[] = {
	    "{\"g\":\"a\",\"n\":1,\"f\":1.5,\"s\":\"x\"}",
	    "{\"g\":\"a\",\"n\":2,\"f\":-0.5,\"s\":\"y\"}",
	    "{\"g\":\"a\",\"n\":4,\"s\":\"x\"}",
	    "{\"g\":\"b\",\"n\":7,\"f\":2,\"s\":\"z\"}",
	    "{\"g\":\"b\",\"n\":3,\"s\":\"x\"}",
	    "{\"g\":\"b\",\"s\":\"y\"}",
	    "{\"g\":\"a\",\"n\":4,\"f\":3,\"s\":\"y\"}",
	    "{\"g\":\"b\",\"n\":1,\"s\":\"y\"}",
	};
	for (int i = 0; i < 8; i++) {
		char ev[8];
		snprintf(ev, sizeof(ev), "e%d", i + 1);
		xfx_event(&mt, i + 1, 1, t0 + i, "u", ev, props[i]);
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

/* The TSV rows (without the header line) of `select <exprs> from events
 * <tail>`; with two threads the scan must have used both. */
static void expect_rows(struct xfx *f, const char *exprs, const char *tail, const char *want)
{
	char q[4096];
	snprintf(q, sizeof(q), "select %s from events %s", exprs, tail);
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	if (sn_exec_query(&f->opts, q, strlen(q), &res, &err))
		fail_msg("query failed: %s (%s): %s", err.msg, err.type, q);
	if (f->opts.threads == 2)
		assert_int_equal(res.stats.scan_threads, 2);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	assert_int_equal(sn_exec_result_tsv(&b, &res), 0);
	assert_int_equal(sn_buf_appendc(&b, 0), 0);
	sn_exec_result_release(&res);
	const char *rows = strchr((const char *)b.data, '\n');
	assert_non_null(rows);
	if (strcmp(rows + 1, want) != 0)
		fail_msg("threads %u: select %s %s\n  got:  %s  want: %s", f->opts.threads, exprs,
			 tail, rows + 1, want);
	sn_buf_release(&b);
}

/* `select <exprs> [from events]` fails with a QueryError holding msg_part. */
static void expect_error(struct xfx *f, const char *exprs, const char *msg_part)
{
	char q[2048];
	snprintf(q, sizeof(q), "select %s from events", exprs);
	struct sn_hogql_error err = xfx_error(f, q);
	if (!strstr(err.msg, msg_part))
		fail_msg("%s: message '%s' lacks '%s'", exprs, err.msg, msg_part);
	assert_string_equal(err.type, "QueryError");
}

#define N "toInt(properties.n)"
#define F "toFloat(properties.f)"
#define S "properties.s"

static void topk_checks(struct xfx *f)
{
	/* counts y 4, x 3, z 1 */
	expect_rows(f, "topK(" S "), toTypeName(topK(" S "))", "",
		    "['y','x','z']\tArray(String)\n");
	/* ties: the value that reached the count first comes first, as in
	 * ClickHouse's Space-Saving list (a counter moves up only past
	 * smaller counts): a is x y x y, x reaches 2 first; b is z x y y */
	expect_rows(f, "properties.g as g, topK(2)(" S ")", "group by g order by g",
		    "a\t['x','y']\nb\t['y','z']\n");
	/* 1 and 4 twice each, 4 reached 2 first (1,2,4,7,3,4,1); NULL skipped */
	expect_rows(f, "topK(" N "), topK(1)(" N "), topK(10)(" F ")", "",
		    "[4,1,2,7,3]\t[4]\t[1.5,-0.5,2,3]\n");
	expect_rows(f, "topKIf(" S ", properties.g = 'b'), topKIf(" S ", 0), topK(properties.nope)",
		    "", "['y','z','x']\t[]\t[]\n");
}

static void test_topk(void **state)
{
	struct xfx *f = *state;
	xfx_each_threads(f, topk_checks);
	expect_error(f, "topK(0)(event)", "positive integer");
	expect_error(f, "topK(16777216)(event)", "maximum is 16777215");
	expect_error(f, "topK('a')(event)", "positive integer");
}

static void moments_checks(struct xfx *f)
{
	/* sum(n * n) / sum(n) over 1,2,4,7,3,4,1 = 96 / 22; with f: rows e1,
	 * e2, e4, e7: (1.5 - 1 + 14 + 12) / 14 */
	expect_rows(f, "avgWeighted(" N ", " N "), avgWeighted(" F ", " N ")", "",
		    "4.363636363636363\t1.8928571428571428\n");
	/* no rows: 0 / 0; Nullable arguments: NULL */
	expect_rows(f,
		    "avgWeightedIf(length(event), 1, 0), avgWeightedIf(" N ", " N ", 0), "
		    "avgWeighted(1, 0)",
		    "", "nan\t\\N\tnan\n");
	/* ClickHouse's power sums, m_k = sum x^k over n values:
	 * var = (m2 - m1^2/n)/n (samp: n - 1), third moment
	 * (m3 - (3 m2 - 2 m1^2/n) m1/n)/n, skew = moment3 / var^1.5,
	 * kurt = moment4 / var^2 */
	expect_rows(f,
		    "skewPop(" N "), skewSamp(" N "), kurtPop(" N "), kurtSamp(" N "), "
		    "toTypeName(skewPop(" N "))",
		    "",
		    "0.7122556499737617\t0.5652176545048041\t2.5843141693073752\t"
		    "1.8986797978584793\tNullable(Float64)\n");
	expect_rows(f,
		    "properties.g as g, skewPop(" N "), skewSamp(" N "), kurtPop(" N
		    "), kurtSamp(" N ")",
		    "group by g order by g",
		    "a\t-0.21383343303319471\t-0.1388888888888889\t1.2798353909465021\t"
		    "0.7199074074074074\n"
		    "b\t0.3818017741606074\t0.20782656212951717\t1.5\t0.6666666666666666\n");
	/* a constant has no variance: nan; one value: samp nan; no value: nan,
	 * NULL when Nullable */
	expect_rows(f,
		    "skewPop(length(event)), kurtSamp(length(event)), "
		    "skewSampIf(length(event), event = 'e1'), kurtPopIf(length(event), 0), "
		    "skewPopIf(" N ", 0)",
		    "", "nan\tnan\tnan\tnan\t\\N\n");
}

static void test_moments(void **state)
{
	struct xfx *f = *state;
	xfx_each_threads(f, moments_checks);
	/* Int64 numerator and weights wrap as ClickHouse's Int64 sums do:
	 * 2^62 * 2 = -2^63 */
	expect_rows(f, "avgWeighted(4611686018427387904, 2)", "where event = 'e1'",
		    "-4.611686018427388e+18\n");
	expect_error(f, "avgWeighted(event, 1)", "Illegal type String");
	expect_error(f, "skewPop(event)", "Illegal type String");
	expect_error(f, "kurtSamp(" N ", 1)", "expects 1 argument");
}

static void bits_checks(struct xfx *f)
{
	/* 1,2,4,7,3,4,1: and 0, or 7, xor 6; a (1,2,4,4): 0 7 3; b (7,3,1): 1 7 5 */
	expect_rows(f, "groupBitAnd(" N "), groupBitOr(" N "), groupBitXor(" N ")", "",
		    "0\t7\t6\n");
	expect_rows(f,
		    "properties.g as g, groupBitAnd(" N "), groupBitOr(" N "), groupBitXor(" N ")",
		    "group by g order by g", "a\t0\t7\t3\nb\t1\t7\t5\n");
	/* no rows: AND starts from all ones (ClickHouse), NULL when Nullable */
	expect_rows(f,
		    "groupBitAndIf(length(event), 0), groupBitOrIf(length(event), 0), "
		    "groupBitXorIf(" N
		    ", 0), groupBitAnd(-1), toTypeName(groupBitOr(length(event)))",
		    "", "18446744073709551615\t0\t\\N\t-1\tUInt64\n");
	/* deltaSum: the rises 1→2→4→7, 3→4: 7; of f 1.5,-0.5,2,3: 3.5 */
	expect_rows(f, "deltaSum(" N "), deltaSum(" F "), deltaSumIf(length(event), 0)", "",
		    "7\t3.5\t0\n");
	expect_rows(f, "properties.g as g, deltaSum(" N ")", "group by g order by g",
		    "a\t3\nb\t0\n");
	/* running sums and sums / the number of values (no window given) */
	expect_rows(f, "groupArrayMovingSum(" N "), groupArrayMovingAvg(" N ")", "",
		    "[1,3,7,14,17,21,22]\t[0.14285714285714285,0.42857142857142855,1,2,"
		    "2.4285714285714284,3,3.142857142857143]\n");
	expect_rows(f,
		    "properties.g as g, groupArrayMovingSum(" N "), groupArrayMovingAvg(" F "), "
		    "toTypeName(groupArrayMovingSum(" F "))",
		    "group by g order by g",
		    "a\t[1,3,7,11]\t[0.5,0.3333333333333333,1.3333333333333333]\tArray(Float64)\n"
		    "b\t[7,10,11]\t[2]\tArray(Float64)\n");
	expect_rows(f,
		    "groupArrayMovingSumIf(" N ", 0), groupArrayMovingAvg(toInt(properties.nope))",
		    "", "[]\t[]\n");
	/* y = 2x + 1 exactly; x constant: no slope; no rows: nan, nan */
	expect_rows(f,
		    "simpleLinearRegression(" N ", " N " * 2 + 1), "
		    "simpleLinearRegression(1, " N "), simpleLinearRegressionIf(1, 2, 0)",
		    "", "(2,1)\t(nan,nan)\t(nan,nan)\n");
}

static void test_bits_delta_moving(void **state)
{
	struct xfx *f = *state;
	xfx_each_threads(f, bits_checks);
	expect_error(f, "groupBitAnd(" F ")", "Illegal type");
	expect_error(f, "groupBitXor(event)", "Illegal type String");
	expect_error(f, "deltaSum(event)", "Illegal type String");
	expect_error(f, "groupArrayMovingSum(event)", "Illegal type String");
	expect_error(f, "simpleLinearRegression(event, 1)", "Illegal type String");
	/* integer sums wrap (Int64), as ClickHouse's */
	expect_rows(f, "groupArrayMovingSum(9223372036854775807 + length(event) - 2)",
		    "where event in ('e1', 'e2')", "[9223372036854775807,-2]\n");
}

static void reduce_grouped(struct xfx *f)
{
	/* arrayReduce of a grouped array: over every row's group */
	expect_rows(f, "properties.g as g, arrayReduce('deltaSum', groupArray(" N "))",
		    "group by g order by g", "a\t3\nb\t0\n");
}

static void reduce_checks(struct xfx *f)
{
	/* arrayReduce runs agg.c's aggregates over each row's elements; a row
	 * without elements gets the aggregate over nothing */
	expect_rows(
	    f,
	    "event, arrayReduce('sum', range(toInt(ifNull(properties.n, '0')))), "
	    "arrayReduce('max', splitByChar(',', " S ")), "
	    "arrayReduce('uniqExact', [1, 2, 1]), arrayReduce('avg', arrayFilter(x -> x > 5, [1]))",
	    "where event in ('e1', 'e4', 'e6') order by event",
	    "e1\t0\tx\t2\tnan\ne4\t21\tz\t2\tnan\ne6\t0\ty\t2\tnan\n");
	/* parameters in the name; -If's last array is its condition; arrays of
	 * equal sizes zip into several arguments */
	expect_rows(f,
		    "arrayReduce('quantile(0.5)', [1, 2, 3, 10]), "
		    "arrayReduce('sumIf', [1, 2, 3], [1, 0, 1]), "
		    "arrayReduce('argMax', ['a', 'b', 'c'], [3, 9, 1]), "
		    "arrayReduce('groupArrayMovingSum(2)', [1, 2, 3, 4]), "
		    "arrayReduce('topK(2)', ['a', 'b', 'b', 'c']), "
		    "arrayReduce('count', [NULL, 1, NULL]), "
		    "arrayReduce('groupArrayMovingAvg(2)', [1, 2, 4])",
		    "where event = 'e1'", "2.5\t4\tb\t[1,3,5,7]\t['b','a']\t1\t[0.5,1.5,3]\n");
	/* the result types are the aggregate's */
	expect_rows(
	    f,
	    "toTypeName(arrayReduce('max', [1, 2])), toTypeName(arrayReduce('uniq', ['a'])), "
	    "toTypeName(arrayReduce('groupArray', [1.5]))",
	    "where event = 'e1'", "Int64\tUInt64\tArray(Float64)\n");
}

static void test_array_reduce(void **state)
{
	struct xfx *f = *state;
	reduce_checks(f);
	xfx_each_threads(f, reduce_grouped);
	struct sn_hogql_error err = xfx_error(f, "select arrayReduce('nope', [1])");
	assert_non_null(strstr(err.msg, "aggregate nope()"));
	assert_string_equal(err.type, "NotImplementedError");
	expect_error(f, "arrayReduce(event, [1])", "constant string");
	expect_error(f, "arrayReduce('sum', ['a'])", "Illegal type String");
	expect_error(f, "arrayReduce('argMax', [1], [1, 2])", "equal size");
	expect_error(f, "arrayReduce('sum', [1], [1])", "expects 1 argument, found 2");
	expect_error(f, "arrayReduce('quantile(', [1])", "cannot read the aggregate");
	expect_error(f, "arrayReduce('sum', 1)", "expects an array");
}

static void test_array_fold_auc(void **state)
{
	struct xfx *f = *state;
	const char *one = "where event = 'e1'";
	/* acc starts as init and takes the body's value at each element */
	expect_rows(f,
		    "arrayFold((acc, x) -> acc + x, [1, 2, 3], 0), "
		    "arrayFold((acc, x) -> concat(acc, x), ['a', 'b'], '>'), "
		    "arrayFold((acc, x, y) -> acc + x * y, [1, 2], [10, 20], 0), "
		    "arrayFold((acc, x) -> acc + x, [], 7), "
		    "arrayFold((acc, x) -> arrayPushBack(acc, x * 2), [1, 2], [0])",
		    one, "6\t>ab\t50\t7\t[0,2,4]\n");
	/* init's type is the result's; rows of different lengths; the body
	 * reads the row's columns */
	expect_rows(f,
		    "event, arrayFold((acc, x) -> acc + x * length(event), range(toInt(ifNull("
		    "properties.n, '0'))), toFloat(0.5))",
		    "where event in ('e1', 'e3', 'e6') order by event",
		    "e1\t0.5\ne3\t12.5\ne6\t0.5\n");
	/* overflow wraps in Int64, as the + it folds */
	expect_rows(f, "arrayFold((acc, x) -> acc + x, [9223372036854775807, 1], 0)", one,
		    "-9223372036854775808\n");
	expect_error(f, "arrayFold((acc, x) -> concat(acc, 'x'), [1], 0)", "accumulator is Int64");
	expect_error(f, "arrayFold((acc, x) -> acc + x, [1], [1], 0)", "lambda takes 2");
	expect_error(f, "arrayFold((acc, x, y) -> acc, [1], [1, 2], 0)", "equal size");
	expect_error(f, "arrayFold(x -> x, [1])", "expects at least 3 arguments");
	expect_error(f, "arrayFold(1, [1], 0)", "expects a lambda");
	/* ClickHouse's example: area 0.75 over 2 positives * 2 negatives */
	expect_rows(f,
		    "arrayAUC([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), "
		    "arrayAUC([0.1, 0.4, 0.35, 0.8], [1, 1, 1, 1]), arrayAUC([], []), "
		    "arrayAUC([1, 1, 2], [1, 0, 1]), arrayAUC([0.5, 0.5], [-1, 1])",
		    one, "0.75\tnan\tnan\t0.75\t0.5\n");
	expect_error(f, "arrayAUC([0.1], [1, 0])", "equal size");
	expect_error(f, "arrayAUC(['a'], [1])", "cannot process values of type String");
}

static void test_multi_search(void **state)
{
	struct xfx *f = *state;
	const char *one = "where event = 'e1'";
	/* the leftmost occurrence of any needle; its needle's index (the first
	 * in array order at that offset); 0 when none */
	expect_rows(f,
		    "multiSearchAny('hello world', ['xyz', 'wor']), "
		    "multiSearchFirstIndex('hello world', ['world', 'lo', 'l']), "
		    "multiSearchFirstPosition('hello world', ['world', 'lo']), "
		    "multiSearchFirstIndex('abc', ['x']), multiSearchFirstPosition('abc', []), "
		    "multiSearchAny('abc', ['']), multiSearchFirstPosition('', [''])",
		    one, "1\t3\t4\t0\t0\t1\t1\n");
	expect_rows(f,
		    "event, multiSearchFirstIndex(" S
		    ", ['z', 'y']), multiSearchAny(properties.nope, "
		    "['a'])",
		    "where event in ('e1', 'e2', 'e4') order by event",
		    "e1\t0\t\\N\ne2\t2\t\\N\ne4\t1\t\\N\n");
	expect_rows(f,
		    "multiMatchAny('abc123', ['^x', '\\\\d+$']), "
		    "multiMatchAnyIndex('abc123', ['^x', 'c1', '\\\\d']), "
		    "multiMatchAnyIndex('abc', ['x', 'y']), multiMatchAny('abc', [])",
		    one, "1\t2\t0\t0\n");
	expect_error(f, "multiSearchAny('a', 'a')", "must be Array(String)");
	expect_error(f, "multiSearchAny('a', [1])", "must be Array(String)");
	expect_error(f, "multiMatchAny('a', ['('])", "Invalid regular expression");
	expect_error(f, "multiSearchAny(1, ['a'])", "Illegal type Int64 of argument 1");
	/* every match's groups, per group or per match; an unmatched group is
	 * '', an empty match is kept */
	expect_rows(
	    f,
	    "extractAllGroupsHorizontal('a=1, b=2, c', '(\\\\w)=?(\\\\d)?'), "
	    "extractAllGroupsVertical('a=1, b=2', '(\\\\w)=(\\\\d)'), "
	    "extractAllGroupsVertical('abc', '(x)'), extractAllGroupsHorizontal('', '(a)'), "
	    "toTypeName(extractAllGroupsVertical('a', '(a)'))",
	    one,
	    "[['a','b','c'],['1','2','']]\t[['a','1'],['b','2']]\t[]\t[[]]\t"
	    "Array(Array(String))\n");
	/* an empty match at each offset before the end (ClickHouse stops there) */
	expect_rows(f, "extractAllGroupsVertical('ab', '(x?)')", one, "[[''],['']]\n");
	expect_error(f, "extractAllGroupsVertical('a', 'a')", "no groups");
	struct sn_hogql_error err =
	    xfx_error(f, "select extractAllGroupsVertical('a', event) from events");
	assert_non_null(strstr(err.msg, "non-constant argument 2"));
	assert_string_equal(err.type, "NotImplementedError");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_array_reduce), cmocka_unit_test(test_array_fold_auc),
	    cmocka_unit_test(test_multi_search), cmocka_unit_test(test_topk),
	    cmocka_unit_test(test_moments),	 cmocka_unit_test(test_bits_delta_moving),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
