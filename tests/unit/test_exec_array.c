/*
 * test_exec_array.c — arrays and tuples in the executor (exec/array.c):
 * literals, subscripts, the array functions and lambdas, groupArray and
 * groupUniqArray, arrayJoin() and ARRAY JOIN, with expected values worked
 * out from ClickHouse's documented semantics; four events:
 *   a pv     tags "x,y,z"  n 1
 *   b pv     tags "y"      n 2
 *   c signup tags ""       n 3
 *   d signup (no tags)     n 4
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec_fixture.h"

#include "exec/exec.h"
#include "exec/exec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
	static struct xfx f;
	xfx_open(&f, "test_exec_array");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	int64_t t0 = sn_days_from_civil(2024, 3, 1) * 86400LL;
	xfx_event(&mt, 1, 1, t0 + 1, "a", "pv", "{\"tags\":\"x,y,z\",\"n\":1}");
	xfx_event(&mt, 2, 1, t0 + 2, "b", "pv", "{\"tags\":\"y\",\"n\":2}");
	xfx_event(&mt, 3, 1, t0 + 3, "c", "signup", "{\"tags\":\"\",\"n\":3}");
	xfx_event(&mt, 4, 1, t0 + 4, "d", "signup", "{\"n\":4}");
	xfx_write(&f, &mt, 4);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	xfx_close(*state);
	return 0;
}

/* The TSV rows (without the header line) of `select <exprs> from events
 * <tail>`. */
static void expect_rows(struct xfx *f, const char *exprs, const char *tail, const char *want)
{
	char q[2048];
	snprintf(q, sizeof(q), "select %s from events %s", exprs, tail);
	struct sn_buf b;
	const char *rows = strchr(xfx_tsv(f, q, &b), '\n');
	assert_non_null(rows);
	if (strcmp(rows + 1, want) != 0)
		fail_msg("select %s\n  got:  %s  want: %s", exprs, rows + 1, want);
	sn_buf_release(&b);
}

/* `select <exprs> from events` fails with type (unless NULL) and a message
 * holding msg_part. */
static void expect_error(struct xfx *f, const char *exprs, const char *type, const char *msg_part)
{
	char q[1024];
	snprintf(q, sizeof(q), "select %s from events", exprs);
	struct sn_hogql_error err = xfx_error(f, q);
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
	if (type)
		assert_string_equal(err.type, type);
}

static void expect_rows_error(struct xfx *f, const char *q, const char *msg_part)
{
	struct sn_hogql_error err = xfx_error(f, q);
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
}

static void test_literals_and_subscripts(void **state)
{
	struct xfx *f = *state;
	const char *one = "where distinct_id = 'a'";
	expect_rows(f, "[1, 2, 3] as a, a[2], a[-1], a[9], a[0], length(a)", one,
		    "[1,2,3]\t2\t3\t0\t0\t3\n");
	expect_rows(f, "['a'][2], [NULL, 1][1], [[1], [2, 3]][2][1], [[1]][5]", one,
		    "\t\\N\t2\t[]\n");
	expect_rows(
	    f,
	    "toTypeName([1, NULL]), toTypeName(['a']), toTypeName([]), "
	    "toTypeName([[1.5]])",
	    one, "Array(Nullable(Int64))\tArray(String)\tArray(Nothing)\tArray(Array(Float64))\n");
	expect_rows(f,
		    "tuple(1, 'a') as t, t.1, t.2, tupleElement(t, 2), toTypeName(t), (2, 'b').1",
		    one, "(1,'a')\t1\ta\ta\tTuple(Int64, String)\t2\n");
	expect_rows(f,
		    "[1, 2.5], ['it''s', 'a\\\\b'], [toDate('2024-01-02')], empty([]), "
		    "notEmpty([1])",
		    one, "[1,2.5]\t['it\\\\'s','a\\\\\\\\b']\t['2024-01-02']\t1\t1\n");
	expect_error(f, "[1, 'a']", "QueryError", "no supertype");
	expect_error(f, "(1, 'a').3", "QueryError", "out of range");
	expect_error(f, "[1][toString(1)]", "QueryError", "integers");
}

static void test_functions(void **state)
{
	struct xfx *f = *state;
	const char *one = "where distinct_id = 'a'";
	expect_rows(f,
		    "has([1, 2], 2), has([1, NULL], NULL), has(['a'], 'b'), indexOf([3, 4, 3], 3), "
		    "indexOf([1], 9), countEqual([1, 2, 1], 1), hasAll([1, 2, 3], [3, 1]), "
		    "hasAll([1], [1, 2]), hasAny([1, 2], [5, 2]), hasAny([], [1])",
		    one, "1\t1\t0\t1\t0\t2\t1\t0\t1\t0\n");
	expect_rows(f,
		    "range(4), range(2, 9, 3), range(0), arrayConcat([1], [2, 3], []), "
		    "arrayPushBack([1], 2), arrayPushFront(['b'], 'a')",
		    one, "[0,1,2,3]\t[2,5,8]\t[]\t[1,2,3]\t[1,2]\t['a','b']\n");
	expect_rows(f,
		    "arraySlice([1, 2, 3, 4, 5], 2, 2), arraySlice([1, 2, 3, 4, 5], -2), "
		    "arraySlice([1, 2, 3, 4, 5], 2, -1), arraySlice([1, 2], 5), "
		    "arrayReverse([1, 2, 3]), arrayEnumerate(['a', 'b'])",
		    one, "[2,3]\t[4,5]\t[2,3,4]\t[]\t[3,2,1]\t[1,2]\n");
	expect_rows(f,
		    "arraySort([3, NULL, 1, 2]), arrayReverseSort([3, 1, 2]), "
		    "arraySort(x -> -x, [1, 3, 2]), arraySort(['b', 'a', 'c']), "
		    "arrayDistinct([1, 1, NULL, 2, 1]), arrayCompact([1, 1, 2, 2, 1]), "
		    "arrayUniq([1, 1, 2, NULL])",
		    one, "[1,2,3,NULL]\t[3,2,1]\t[3,2,1]\t['a','b','c']\t[1,2]\t[1,2,1]\t2\n");
	expect_rows(
	    f,
	    "arraySum([1, 2, 3]), arraySum([1.5, 2]), arrayMin([3, 1, 2]), "
	    "arrayMax(['a', 'c', 'b']), arrayAvg([1, 2]), arraySum([]), arraySum(x -> x * 2, "
	    "[1, 2])",
	    one, "6\t3.5\t1\tc\t1.5\t0\t6\n");
	expect_rows(f,
		    "arrayStringConcat(['a', 'b', 'c'], '-'), arrayStringConcat(['a', NULL, 'b']), "
		    "splitByChar(',', 'a,,b'), splitByChar(',', 'a,b,c', 2), "
		    "splitByString('::', 'x::y'), splitByString('', 'ñb')",
		    one, "a-b-c\tab\t['a','','b']\t['a','b,c']\t['x','y']\t['ñ','b']\n");
	expect_rows(f,
		    "JSONExtractArrayRaw('{\"a\": [1, \"x\", {\"b\": 2}]}', 'a'), "
		    "JSONExtractArrayRaw('[]'), JSONExtractArrayRaw('bad'), "
		    "JSONExtractArrayRaw(properties, 'n'), xor(1, 0), xor(1, 1, 1), xor(NULL, 1)",
		    one, "['1','\"x\"','{\"b\":2}']\t[]\t[]\t[]\t1\t1\t\\N\n");
	expect_error(f, "splitByChar('ab', 'x')", "QueryError", "exactly one character");
	expect_error(f, "has(1, 1)", "QueryError", "expects an array");
	expect_error(f, "has([1], 'a')", "QueryError", "not comparable");
	expect_error(f, "range(1, 5, 0)", "QueryError", "positive");
}

static void test_lambdas(void **state)
{
	struct xfx *f = *state;
	const char *one = "where distinct_id = 'a'";
	expect_rows(f,
		    "arrayMap(x -> x * 2, [1, 2, 3]), arrayFilter(x -> x != 'b', ['a', 'b', 'c']), "
		    "arrayMap((x, y) -> concat(x, y), ['a', 'b'], ['c', 'd'])",
		    one, "[2,4,6]\t['a','c']\t['ac','bd']\n");
	expect_rows(f,
		    "arrayExists(x -> x > 2, [1, 3]), arrayAll(x -> x > 2, [1, 3]), "
		    "arrayCount(x -> x > 1, [1, 2, 3]), arrayCount([1, 0, 1]), "
		    "arrayFirst(x -> x > 1, [1, 2, 3]), arrayLast(x -> x > 1, [1, 2, 3]), "
		    "arrayFirstIndex(x -> x > 1, [1, 2, 3]), arrayLastIndex(x -> x > 5, [1, 2])",
		    one, "1\t0\t2\t2\t2\t3\t2\t0\n");
	/* the body reads the row's columns and an outer lambda's parameter */
	expect_rows(f,
		    "arrayMap(x -> concat(x, distinct_id), splitByChar(',', properties.tags)), "
		    "arrayMap(x -> arrayFilter(y -> y > x, [1, 2, 3]), [0, 2])",
		    "order by distinct_id",
		    "['xa','ya','za']\t[[1,2,3],[3]]\n['yb']\t[[1,2,3],[3]]\n"
		    "['c']\t[[1,2,3],[3]]\n[]\t[[1,2,3],[3]]\n");
	expect_rows(f, "distinct_id, arrayFilter(t -> t = 'y', splitByChar(',', properties.tags))",
		    "order by distinct_id", "a\t['y']\nb\t['y']\nc\t[]\nd\t[]\n");
	expect_error(f, "arrayMap((x, y) -> x, [1], [1, 2])", "QueryError", "equal size");
	expect_error(f, "arrayMap(x -> x, [1], [2])", "QueryError", "lambda takes 1");
	expect_error(f, "arrayMap([1], [2])", "QueryError", "lambda");
}

static void test_group_array(void **state)
{
	struct xfx *f = *state;
	for (uint32_t th = 1; th <= 2; th++) {
		f->opts.threads = th;
		f->opts.run_granules = 1;
		expect_rows(f,
			    "event, groupArray(distinct_id), groupUniqArray(event), "
			    "groupArray(properties.tags), toTypeName(groupArray(properties.tags))",
			    "group by event order by event",
			    "pv\t['b','a']\t['pv']\t['y','x,y,z']\tArray(String)\n"
			    "signup\t['d','c']\t['signup']\t['']\tArray(String)\n");
		expect_rows(f, "arraySort(groupUniqArray(splitByChar(',', properties.tags)[1]))",
			    "", "['','x','y']\n");
		expect_rows(f, "splitByChar(',', ifNull(properties.tags, '')) as t, count()",
			    "group by t order by t", "['']\t2\n['x','y','z']\t1\n['y']\t1\n");
		expect_rows(f,
			    "groupArray(properties.nope), groupArrayIf(distinct_id, event = 'pv')",
			    "", "[]\t['b','a']\n");
	}
	expect_rows(f, "event, quantiles(0, 0.5, 1)(toInt(properties.n)) as q, toTypeName(q)",
		    "group by event order by event",
		    "pv\t[1,1.5,2]\tArray(Float64)\nsignup\t[3,3.5,4]\tArray(Float64)\n");
	expect_rows(f, "quantiles(0.5)(toInt(properties.n)), quantilesIf(0.5)(1, 0)", "",
		    "[2.5]\t[nan]\n");
	expect_error(f, "quantiles(toInt(properties.n))", "QueryError", "needs its levels");
	expect_error(f, "quantiles(2)(toInt(properties.n))", "QueryError", "out of range");
	f->opts.threads = 0;
	f->opts.run_granules = 0;
}

static void test_array_join(void **state)
{
	struct xfx *f = *state;
	for (uint32_t th = 1; th <= 2; th++) {
		f->opts.threads = th;
		f->opts.run_granules = 1;
		expect_rows(f, "arrayJoin(splitByChar(',', properties.tags)) as t, count()",
			    "group by t order by t", "\t1\nx\t1\ny\t2\nz\t1\n");
		expect_rows(f, "distinct_id, t, i",
			    "array join splitByChar(',', properties.tags) as t, "
			    "arrayEnumerate(splitByChar(',', properties.tags)) as i where t != 'y' "
			    "order by distinct_id, i",
			    "a\tx\t1\na\tz\t3\nc\t\t1\n");
		expect_rows(f, "distinct_id, t",
			    "left array join range(toInt(properties.n) - 2) as t "
			    "order by distinct_id, t",
			    "a\t0\nb\t0\nc\t0\nd\t0\nd\t1\n");
		expect_rows(
		    f, "distinct_id, t",
		    "array join range(toInt(properties.n) - 2) as t order by distinct_id, t",
		    "c\t0\nd\t0\nd\t1\n");
	}
	f->opts.threads = 0;
	f->opts.run_granules = 0;
	const char *one = "where distinct_id = 'a'";
	/* two calls multiply; the same call twice is one */
	expect_rows(f, "arrayJoin([1, 2]) as a, arrayJoin(['x', 'y']) as b", one,
		    "1\tx\n1\ty\n2\tx\n2\ty\n");
	expect_rows(f, "arrayJoin([1, 2]), arrayJoin([1, 2]) + 10", one, "1\t11\n2\t12\n");
	expect_rows(f, "count()", "where arrayJoin([1, 2, 3]) > 1", "8\n");
	expect_error(f, "arrayJoin(1)", "QueryError", "needs an array");
	expect_rows_error(f, "select x from events array join [1, 2] as x, [1] as y",
			  "Sizes of ARRAY-JOIN-ed arrays do not match");
	expect_rows_error(f, "select x from events array join 1 as x", "ARRAY JOIN needs an array");
	expect_error(f, "arrayJoin(groupArray(event))", "NotImplementedError", "aggregates");
}

/* The functions added with arrays: expected values from ClickHouse's
 * documented examples and semantics. */
static void test_more_functions(void **state)
{
	struct xfx *f = *state;
	const char *one = "where distinct_id = 'a'";
	const char *all = "order by distinct_id";
	/* arrayZip */
	expect_rows(f,
		    "arrayZip([1, 2], ['a', 'b']) as z, toTypeName(z), arrayZip([], []), "
		    "arrayZip([1], [2], [3])",
		    one, "[(1,'a'),(2,'b')]\tArray(Tuple(Int64, String))\t[]\t[(1,2,3)]\n");
	expect_error(f, "arrayZip([1], [1, 2])", "QueryError", "equal size");
	expect_error(f, "arrayZip([1], 2)", "QueryError", "expects an array as argument 2");
	/* arrayFlatten: every level */
	expect_rows(f,
		    "arrayFlatten([[1, 2], [3]]), arrayFlatten([[[1]], [[2, 3], [4]]]), "
		    "arrayFlatten([1, 2]), arrayFlatten([]), arrayFlatten(NULL), "
		    "toTypeName(arrayFlatten([[['a']]]))",
		    one, "[1,2,3]\t[1,2,3,4]\t[1,2]\t[]\t[]\tArray(String)\n");
	/* arrayCumSum, arrayDifference */
	expect_rows(f,
		    "arrayCumSum([1, 2, 3, 4]), arrayCumSum(x -> x * 2, [1, 2]), "
		    "arrayCumSum([1.5, NULL, 2]), arrayCumSum([]), arrayCumSum(NULL)",
		    one, "[1,3,6,10]\t[2,6]\t[1.5,1.5,3.5]\t[]\t[]\n");
	expect_rows(f,
		    "arrayDifference([1, 2, 3, 0]), arrayDifference([1.5, 1]), "
		    "arrayDifference([]), arrayDifference([7])",
		    one, "[0,1,1,-3]\t[0,-0.5]\t[]\t[0]\n");
	expect_rows(f, "distinct_id, arrayCumSum(arrayWithConstant(toInt(properties.n), 2))", all,
		    "a\t[2]\nb\t[2,4]\nc\t[2,4,6]\nd\t[2,4,6,8]\n");
	expect_error(f, "arrayCumSum(['a'])", "QueryError", "array of numbers");
	expect_error(f, "arrayDifference([[1]])", "QueryError", "array of numbers");
	/* arrayIntersect: distinct, in the first array's order */
	expect_rows(f,
		    "arrayIntersect([1, 2, 3], [3, 2, 5], [2, 3]), arrayIntersect([1, 2], [3]), "
		    "arrayIntersect(['a', 'a']), arrayIntersect([1, 2], NULL), "
		    "arrayIntersect([1, 2], [2.0])",
		    one, "[2,3]\t[]\t['a']\t[]\t[2]\n");
	expect_error(f, "arrayIntersect([1], ['a'])", "QueryError", "not comparable");
	/* arrayResize */
	expect_rows(f,
		    "arrayResize([1, 2, 3], 5), arrayResize([1, 2, 3], 2), arrayResize([1, 2, 3], "
		    "-2), arrayResize([1, 2], -4, 9), arrayResize(['a'], 2), "
		    "arrayResize([1, NULL], 3), arrayResize(['a'], 3, 'z'), arrayResize([1], 0), "
		    "arrayResize(NULL, 1, 'x')",
		    one,
		    "[1,2,3,0,0]\t[1,2]\t[2,3]\t[9,9,1,2]\t['a','']\t[1,NULL,NULL]\t['a','z','z']"
		    "\t[]\t['x']\n");
	expect_error(f, "arrayResize([1], 'a')", "QueryError", "integer size");
	expect_error(f, "arrayResize([1], 1, 'a')", "QueryError", "no supertype");
	/* arrayPopBack, arrayPopFront, arrayRotateLeft/Right */
	expect_rows(f,
		    "arrayPopBack([1, 2, 3]), arrayPopFront([1, 2, 3]), arrayPopBack([]), "
		    "arrayPopFront(['x']), arrayPopBack(NULL)",
		    one, "[1,2]\t[2,3]\t[]\t[]\t[]\n");
	expect_rows(f,
		    "arrayRotateLeft([1, 2, 3, 4], 1), arrayRotateRight([1, 2, 3, 4], 1), "
		    "arrayRotateLeft([1, 2, 3], -1), arrayRotateLeft([1, 2, 3], 7), "
		    "arrayRotateRight([], 2), arrayRotateRight(['a', 'b'], 0)",
		    one, "[2,3,4,1]\t[4,1,2,3]\t[3,1,2]\t[2,3,1]\t[]\t['a','b']\n");
	expect_error(f, "arrayRotateLeft([1], 'x')", "QueryError", "integer count");
	/* arrayEnumerateUniq (2..* arrays in HogQL), arrayEnumerateDense */
	expect_rows(f,
		    "arrayEnumerateUniq([10, 20, 10, 30], [1, 2, 1, 3]), "
		    "arrayEnumerateUniq([1, 1, 1], [1, 2, 1]), arrayEnumerateUniq([], []), "
		    "arrayEnumerateDense([10, 20, 10, 30, 20]), arrayEnumerateDense([]), "
		    "arrayEnumerateDense([NULL, 1, NULL])",
		    one, "[1,1,2,1]\t[1,1,2]\t[]\t[1,2,1,3,2]\t[]\t[1,2,1]\n");
	expect_error(f, "arrayEnumerateUniq([1], [1, 2])", "QueryError", "equal size");
	/* arrayWithConstant */
	expect_rows(f,
		    "arrayWithConstant(3, 'x'), arrayWithConstant(0, 1), arrayWithConstant(2, "
		    "NULL), arrayWithConstant(NULL, 1), arrayWithConstant(1, [1])",
		    one, "['x','x','x']\t[]\t[NULL,NULL]\t[]\t[[1]]\n");
	expect_rows(f, "distinct_id, arrayWithConstant(toInt(properties.n) - 1, distinct_id)", all,
		    "a\t[]\nb\t['b']\nc\t['c','c']\nd\t['d','d','d']\n");
	expect_error(f, "arrayWithConstant(-1, 1)", "QueryError", "length");
	expect_error(f, "arrayWithConstant('a', 1)", "QueryError", "integer length");
	/* arrayProduct: Float64 */
	expect_rows(f,
		    "arrayProduct([1, 2, 3, 4]) as p, toTypeName(p), arrayProduct([1.5, -2]), "
		    "arrayProduct([]), arrayProduct([2, NULL]), arrayProduct(NULL)",
		    one, "24\tFloat64\t-3\t1\t2\t1\n");
	expect_error(f, "arrayProduct(['a'])", "QueryError", "array of numbers");
	/* hasSubstr: consecutive, in order */
	expect_rows(f,
		    "hasSubstr([1, 2, 3, 4], [2, 3]), hasSubstr([1, 2, 3, 4], [3, 2]), "
		    "hasSubstr([1, 2], []), hasSubstr([], [1]), hasSubstr([1, NULL, 2], [NULL, "
		    "2]), hasSubstr([1, 2], [1, 2, 3]), hasSubstr(['a', 'b'], ['b']), "
		    "hasSubstr(NULL, [])",
		    one, "1\t0\t1\t0\t1\t0\t1\t1\n");
	expect_error(f, "hasSubstr([1], ['a'])", "QueryError", "not comparable");
	/* arrayFill, arraySplit */
	expect_rows(f,
		    "arrayFill(x -> not isNull(x), [1, NULL, 3, 11, 12, NULL, NULL, 5, 6, 14, "
		    "NULL, NULL]), arrayFill(x -> x > 1, [0, 1, 2, 0]), arrayFill(x -> 1, []), "
		    "arrayFill((x, y) -> y, ['a', 'b', 'c'], [0, 0, 1])",
		    one, "[1,1,3,11,12,12,12,5,6,14,14,14]\t[0,0,2,2]\t[]\t['a','a','c']\n");
	expect_rows(f,
		    "arraySplit((x, y) -> y, [1, 2, 3, 4, 5], [1, 0, 0, 1, 0]) as s, "
		    "toTypeName(s), arraySplit(x -> x = 3, [1, 2, 3, 4]), arraySplit(x -> 1, []), "
		    "arraySplit(x -> 1, ['a', 'b']), arraySplit(x -> 0, [1, 2])",
		    one,
		    "[[1,2,3],[4,5]]\tArray(Array(Int64))\t[[1,2],[3,4]]\t[]\t[['a'],['b']]"
		    "\t[[1,2]]\n");
	expect_error(f, "arrayFill([1], [1])", "QueryError", "expects a lambda");
	expect_error(f, "arraySplit((x, y) -> x, [1], [1, 2])", "QueryError", "equal size");
	/* strings to arrays; NULL reads as "" */
	expect_rows(f,
		    "splitByWhitespace('  1!  a,\tb.  '), splitByWhitespace(''), "
		    "splitByWhitespace('a b c', 2), splitByWhitespace(NULL), "
		    "alphaTokens('abca1abc'), alphaTokens('12'), alphaTokens('a b c', 2)",
		    one, "['1!','a,','b.']\t[]\t['a','b']\t[]\t['abca','abc']\t[]\t['a','b']\n");
	expect_rows(f,
		    "splitByRegexp('[0-9]+', 'a12bc23de345f'), splitByRegexp('', 'abc'), "
		    "splitByRegexp(',', ',a,'), splitByRegexp('x', ''), "
		    "splitByRegexp('[0-9]', 'a1b2c', 2), splitByRegexp(',', NULL)",
		    one,
		    "['a','bc','de','f']\t['a','b','c']\t['','a','']\t['']\t['a','b2c']\t[]\n");
	expect_rows(f,
		    "extractAll('a1b22c333', '[0-9]+'), extractAll('k=1, m=2', '([a-z])='), "
		    "extractAll('abc', 'z'), extractAll(NULL, 'a'), extractAll('ab', 'x*')",
		    one, "['1','22','333']\t['k','m']\t[]\t[]\t[]\n");
	expect_rows(f, "distinct_id, extractAll(properties.tags, '[a-z]')", all,
		    "a\t['x','y','z']\nb\t['y']\nc\t[]\nd\t[]\n");
	expect_error(f, "extractAll('a', distinct_id)", "NotImplementedError", "non-constant");
	expect_error(f, "splitByRegexp('(', 'a')", "QueryError", "");
	expect_error(f, "alphaTokens(1)", "QueryError", "Illegal type");
	expect_rows(f,
		    "extractURLParameters('http://x.com/p?a=1&b=2#c=3'), "
		    "extractURLParameterNames('http://x.com/p?a=1&b=2#c=3'), "
		    "extractURLParameters('http://x.com/p'), extractURLParameters('/?a&&b='), "
		    "extractURLParameterNames('/?a&&b='), extractURLParameterNames(NULL)",
		    one, "['a=1','b=2','c=3']\t['a','b','c']\t[]\t['a','b=']\t['a','b']\t[]\n");
	expect_rows(f,
		    "URLHierarchy('https://example.com/browse/CONV-6788'), "
		    "URLPathHierarchy('https://example.com/browse/CONV-6788'), "
		    "URLHierarchy('example'), URLPathHierarchy('example'), "
		    "URLHierarchy('http://a.com'), URLPathHierarchy('http://a.com/x//y?q#f'), "
		    "URLHierarchy(NULL)",
		    one,
		    "['https://example.com/','https://example.com/browse/',"
		    "'https://example.com/browse/CONV-6788']\t['/browse/','/browse/CONV-6788']"
		    "\t['example']\t[]\t['http://a.com']\t['/x/','/x//y?','/x//y?q#','/x//y?q#f']"
		    "\t[]\n");
	expect_rows(
	    f,
	    "JSONExtractKeys('{\"a\": 1, \"b\\\\u0041\": {\"c\": 2}}'), "
	    "JSONExtractKeys('{\"a\": {\"x\": 1, \"y\": 2}}', 'a'), JSONExtractKeys('[1]'), "
	    "JSONExtractKeys('{'), JSONExtractKeys(NULL), JSONExtractKeys(properties)",
	    one, "['a','bA']\t['x','y']\t[]\t[]\t[]\t['tags','n']\n");
	expect_error(f, "JSONExtractKeys(1)", "QueryError", "Illegal type");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_literals_and_subscripts),
	    cmocka_unit_test(test_functions),
	    cmocka_unit_test(test_lambdas),
	    cmocka_unit_test(test_group_array),
	    cmocka_unit_test(test_array_join),
	    cmocka_unit_test(test_more_functions),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
