/*
 * test_fn_vector.c — the executor's vector functions (fn_vector.c) as a
 * user sees them: HogQL text in, the TSV row out. Two events are stored:
 * 'a' with numeric arrays and numbers in its properties, 'b' with none, so
 * every property reads as NULL (and JSONExtract as an empty array) there.
 *
 * Expected values were worked out from ClickHouse's definitions
 * (arrayNorm.cpp, arrayDistance.cpp, arrayDotProduct.cpp and
 * vectorFunctions.cpp; its documented examples and 0_stateless tests where
 * they exist) with an independent Python re-implementation of its
 * summation order, never with the code under test. The long-array cases
 * are chosen so that ClickHouse's order (16 interleaved partial sums for
 * norms and distances, 4 for dotProduct) gives a different last bit than a
 * left-to-right sum: they compare exactly, and pin that order. Errors must
 * be QueryErrors naming the function.
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

static const char PROPS_A[] = "{\"v\":[3,4],\"w\":[1.5,-2.5,0.5],\"n\":[1,2,3],\"x\":3,\"y\":4,"
			      "\"s\":[\"a\"],\"poly\":[[0,0],[10,0],[10,10],[0,10]]}";

static int setup(void **state)
{
	return ab_setup(state, "test_fn_vector", PROPS_A, NULL);
}

static void test_norms(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's 02283_array_norm examples */
	expect_a(f,
		 "L1Norm([1, 2, 3]), L2Norm([3., 4., 5.]), LpNorm([3., 4., 5.], 1.1), LinfNorm([0, "
		 "0, 2])",
		 "6\t7.0710678118654755\t10.882246697870885\t2");
	expect_a(f, "L2Norm([3, 4]), LinfNorm([1, -7, 3]), LpNorm([3, 4], 2), LpNorm([1, -2], 1)",
		 "5\t7\t5\t3");
	expect_a(f, "toTypeName(L1Norm([1, 2])), toTypeName(LpNorm([1.5], 3))", "Float64\tFloat64");
	/* tuples: element by element, a NULL element makes the row NULL */
	expect_a(f, "L1Norm((1, -2.5)), L2Norm((3, 4)), LinfNorm((1, -2)), LpNorm((1, -2), 2)",
		 "3.5\t5\t2\t2.23606797749979");
	expect_a(f, "L2Norm((1, NULL)), L1Norm(tuple(toFloat(properties.x), 1))", "\\N\t4");
	expect_b(f, "L1Norm(tuple(toFloat(properties.x), 1))", "\\N");
	/* arrays from properties; none on b: an empty Array(Float64), norm 0 */
	expect_a(f,
		 "L2Norm(JSONExtract(properties, 'v', 'Array(Float64)')), "
		 "L1Norm(JSONExtract(properties, 'w', 'Array(Float64)')), "
		 "LinfNorm(JSONExtract(properties, 'n', 'Array(Int64)'))",
		 "5\t4.5\t3");
	expect_b(f,
		 "L2Norm(JSONExtract(properties, 'v', 'Array(Float64)')), "
		 "L1Norm(JSONExtract(properties, 'n', 'Array(Int64)'))",
		 "0\t0");
	/* 32 elements 0.1 .. 3.2: ClickHouse's 16 partial sums give 52.8, a
	 * left-to-right sum 52.800000000000004 */
	expect_a(f, "L1Norm(arrayMap(x -> x * 0.1, range(1, 33)))", "52.8");
	/* NULL in, NULL out; p NULL too */
	expect_a(f, "L2Norm(NULL), LpNorm([1], NULL), LpNorm(NULL, 2)", "\\N\t\\N\t\\N");
	/* extremes: the largest integers are widened to Float64, an infinity
	 * and a nan pass through (Linf's fmax skips the nan) */
	expect_a(f,
		 "L1Norm([9223372036854775807, 1]) = 9223372036854775807., L2Norm([1e308, 1e308])",
		 "1\tinf");
	expect_a(f, "L1Norm([inf, 1]), LinfNorm([nan, 2]), L2Norm([nan, 2])", "inf\t2\tnan");
}

static void test_normalize(void **state)
{
	struct fixture *f = *state;
	expect_a(f,
		 "L2Normalize([3, 4]), L1Normalize([1, 3]), LinfNormalize([2, -4]), "
		 "LpNormalize([3, 4], 2)",
		 "[0.6,0.8]\t[0.25,0.75]\t[0.5,-1]\t[0.6,0.8]");
	expect_a(f, "toTypeName(L2Normalize([3, 4])), toTypeName(L1Normalize((1, 3)))",
		 "Array(Float64)\tTuple(Float64, Float64)");
	expect_a(f, "L1Normalize((1, 3)), L2Normalize((3, NULL)), L2Normalize(NULL)",
		 "(0.25,0.75)\t\\N\t\\N");
	/* a zero vector: 0 / 0 */
	expect_a(f, "L2Normalize([0, 0]), L2Normalize(arrayFilter(x -> x > 9, [1.5]))",
		 "[nan,nan]\t[]");
	expect_a(f, "L2Normalize(JSONExtract(properties, 'v', 'Array(Float64)'))", "[0.6,0.8]");
	expect_b(f, "L2Normalize(JSONExtract(properties, 'v', 'Array(Float64)'))", "[]");
}

static void test_distances(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's 02282_array_distance examples */
	expect_a(f,
		 "L1Distance([0, 0, 0], [1, 2, 3]), L2Distance([1, 2, 3], [0, 0, 0]), "
		 "LpDistance([1, 2, 3], [0, 0, 0], 3.5), LinfDistance([1, 2, 3], [0, 0, 0]), "
		 "cosineDistance([1, 2, 3], [3, 5, 7])",
		 "6\t3.7416573867739413\t3.2071843327373397\t3\t0.00258509695694209");
	expect_a(f, "L2Distance([1, 2, 3], NULL), cosineDistance([1, 2, 3], [0, 0, 0])",
		 "\\N\tnan");
	/* tuples; cosine of tuples divides by |a| * |b|, so (1, 2) and (2, 4)
	 * are 2.220446049250313e-16 apart (10 / 10.000000000000002) */
	expect_a(f,
		 "L1Distance((1, 2), (4, -2)), L2Distance((1, 2), (4, 6)), LinfDistance((1, 2), "
		 "(4, -2))",
		 "7\t5\t4");
	expect_a(f, "cosineDistance((1, 2), (2, 4)), cosineDistance([1, 2], [2, 4])",
		 "2.220446049250313e-16\t0");
	expect_a(f,
		 "L2Distance(JSONExtract(properties, 'v', 'Array(Float64)'), [0, 0]), "
		 "L1Distance(JSONExtract(properties, 'n', 'Array(Int64)'), [3, 2, 1])",
		 "5\t4");
	/* 32 elements: 16 partial sums for the squares and the cosine's three sums */
	expect_a(f,
		 "L2Distance(arrayMap(x -> x * 0.1, range(1, 33)), "
		 "arrayReverse(arrayMap(x -> x * 0.3, range(1, 33)))), "
		 "cosineDistance(arrayMap(x -> x * 0.1, range(1, 33)), "
		 "arrayReverse(arrayMap(x -> x * 0.3, range(1, 33))))",
		 "28.017137612539933\t0.4769230769230768");
	expect_a(f, "L2Distance(arrayFilter(x -> x > 9, [1.5]), arrayFilter(x -> x > 9, [1.5]))",
		 "0");
}

static void test_dot_product(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's documented example (UInt16 there: integers stay integers) */
	expect_a(f,
		 "dotProduct([1, 2, 3], [4, 5, 6]), toTypeName(dotProduct([1, 2, 3], [4, 5, 6]))",
		 "32\tInt64");
	expect_a(f,
		 "dotProduct((1, 2.5), (2, 2)), dotProduct((1, 2), (3, 4)), dotProduct([1.5], [2])",
		 "7\t11\t3");
	/* integers wrap as ClickHouse's do */
	expect_a(f,
		 "dotProduct([9223372036854775807], [2]), dotProduct(arrayFilter(x -> x > 9, [1]), "
		 "arrayFilter(x -> x > 9, [1]))",
		 "-2\t0");
	/* 9 elements 0.1 .. 0.9 times 1: arrayDotProduct's 4 partial sums give
	 * 4.5, a left-to-right sum 4.500000000000001 */
	expect_a(
	    f, "dotProduct(arrayMap(x -> x * 0.1, range(1, 10)), arrayMap(x -> 1., range(1, 10)))",
	    "4.5");
	expect_b(f, "dotProduct(tuple(toFloat(properties.x), 1), (1, 1)), dotProduct(NULL, [1])",
		 "\\N\t\\N");
}

#define SQUARE "[(0, 0), (10, 0), (10, 10), (0, 10)]"
#define HOLE   "[(4, 4), (6, 4), (6, 6), (4, 6)]"
#define FAR    "[(20, 20), (30, 20), (30, 30), (20, 30)]"
/* a polygon read from the event's properties (a non-constant polygon) */
#define PPOLY                                                              \
	"arrayMap(p -> (JSONExtractFloat(p, 1), JSONExtractFloat(p, 2)), " \
	"JSONExtractArrayRaw(properties, 'poly'))"

static void test_point_in_polygon(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's documented example */
	expect_a(f,
		 "pointInPolygon((3., 3.), [(6, 0), (8, 4), (5, 8), (0, 2)]), "
		 "pointInPolygon((10., 10.), [(6, 0), (8, 4), (5, 8), (0, 2)]), "
		 "toTypeName(pointInPolygon((3., 3.), [(6, 0), (8, 4), (5, 8), (0, 2)]))",
		 "1\t0\tUInt8");
	/* holes as further arguments, and as the rings of one argument */
	expect_a(f,
		 "pointInPolygon((5, 5), " SQUARE ", " HOLE "), pointInPolygon((2, 2), " SQUARE
		 ", " HOLE ")",
		 "0\t1");
	expect_a(f,
		 "pointInPolygon((5, 5), [" SQUARE ", " HOLE "]), pointInPolygon((2, 2), [" SQUARE
		 ", " HOLE "])",
		 "0\t1");
	/* a triangular hole: (7.5, 8.5) lies above its slanted edge, outside it
	 * (ClickHouse 18.16's grid answers 0 there) */
	expect_a(f,
		 "pointInPolygon((7.5, 8.5), " SQUARE ", [(7, 7), (9, 7), (9, 9)]), "
		 "pointInPolygon((8.5, 7.5), " SQUARE ", [(7, 7), (9, 7), (9, 9)])",
		 "1\t0");
	/* multipolygons: one argument of polygons, or one polygon per argument */
	expect_a(f,
		 "pointInPolygon((25, 25), [[" SQUARE "], [" FAR "]]), "
		 "pointInPolygon((15, 15), [[" SQUARE "], [" FAR "]]), "
		 "pointInPolygon((25, 25), [" SQUARE "], [" FAR "]), "
		 "pointInPolygon((5, 5), [" SQUARE ", " HOLE "], [" FAR "])",
		 "1\t0\t1\t0");
	/* the point from properties (its coordinates may not be Nullable, as
	 * in ClickHouse); a polygon from properties */
	expect_a(f,
		 "pointInPolygon((assumeNotNull(toFloat(properties.x)), "
		 "assumeNotNull(toFloat(properties.y))), " SQUARE ")",
		 "1");
	expect_error(
	    f, "pointInPolygon((toFloat(properties.x), 1), " SQUARE ")", "QueryError",
	    "Argument 1 for function pointInPolygon must contain numeric tuple at position 1");
	expect_a(f, "pointInPolygon((3, 4), " PPOLY "), pointInPolygon((13, 4), " PPOLY ")",
		 "1\t0");
	/* an empty polygon (b has none) holds nothing */
	expect_b(f, "pointInPolygon((3, 4), " PPOLY ")", "0");
	/* the boundary: ClickHouse documents 0 or 1; the crossing rule counts
	 * the left and bottom edges in, the right and top ones out */
	expect_a(f,
		 "pointInPolygon((0, 5), " SQUARE "), pointInPolygon((10, 5), " SQUARE "), "
		 "pointInPolygon((5, 0), " SQUARE "), pointInPolygon((5, 10), " SQUARE ")",
		 "1\t0\t1\t0");
	expect_a(f, "pointInPolygon((nan, 5), " SQUARE "), pointInPolygon((inf, 5), " SQUARE ")",
		 "0\t0");
	expect_a(f, "pointInPolygon(NULL, " SQUARE "), pointInPolygon((1, 1), NULL)", "\\N\t\\N");
	expect_error(f, "pointInPolygon(1, " SQUARE ")", "QueryError",
		     "Argument 1 for function pointInPolygon must contain a tuple");
	expect_error(f, "pointInPolygon((1, 2, 3), " SQUARE ")", "QueryError",
		     "Argument 1 for function pointInPolygon must have exactly two elements");
	expect_error(
	    f, "pointInPolygon((1, 'a'), " SQUARE ")", "QueryError",
	    "Argument 1 for function pointInPolygon must contain numeric tuple at position 2");
	expect_error(f, "pointInPolygon((1, 1), [1, 2])", "QueryError",
		     "Argument 2 for function pointInPolygon must contain a tuple");
	expect_error(f, "pointInPolygon((1, 1), (1, 2))", "QueryError",
		     "Argument 2 for function pointInPolygon must contain an array of tuples");
	expect_error(f, "pointInPolygon((1, 1), [[" SQUARE "]], " SQUARE ")", "QueryError",
		     "can be used only when it is the sole polygon argument");
	expect_error(f, "pointInPolygon((1, 1), " SQUARE ", [" HOLE "])", "QueryError",
		     "Argument 3 for function pointInPolygon must be a array of tuples");
	expect_error(f, "pointInPolygon((1, 1), [" SQUARE "], " HOLE ")", "QueryError",
		     "Argument 3 for function pointInPolygon must be a array of arrays of tuples");
	expect_error(f, "pointInPolygon((1, 1), " SQUARE ", " PPOLY ")", "QueryError",
		     "Multi-argument version of function pointInPolygon works only with const");
}

static void test_h3_refused(void **state)
{
	struct fixture *f = *state;
	expect_error(f, "h3IsValid(599686042433355775)", "NotImplementedError",
		     "function h3IsValid() (the H3 functions need Uber's H3 library");
	expect_error(f, "geoToH3(37.79506683, 55.71290588, 15)", "NotImplementedError",
		     "function geoToH3() (the H3 functions need Uber's H3 library");
	expect_error(f, "h3GetRes0Indexes()", "NotImplementedError", "H3 library");
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	expect_error(f, "L2Norm(1)", "QueryError",
		     "Illegal type Int64 of argument 1 of function L2Norm");
	expect_error(f, "L2Norm(['a'])", "QueryError",
		     "Illegal type Array(String) of argument 1 of function L2Norm");
	expect_error(f, "L2Norm([1, NULL])", "QueryError",
		     "Illegal type Array(Nullable(Int64)) of argument 1 of function L2Norm");
	expect_error(f, "L1Norm([])", "QueryError",
		     "Illegal type Array(Nothing) of argument 1 of function L1Norm");
	expect_error(f, "L2Norm(('a', 1))", "QueryError", "of argument 1 of function L2Norm");
	expect_error(f, "L2Distance([1, 2], [1])", "QueryError",
		     "Array arguments for function L2Distance must have equal sizes");
	expect_error(f, "L2Distance([1, 2], (1, 2))", "QueryError",
		     "Illegal type Tuple(Int64, Int64) of argument 2 of function L2Distance");
	expect_error(f, "cosineDistance((1, 2), (1, 2, 3))", "QueryError",
		     "Expected tuples of the same size as arguments of function cosineDistance");
	expect_error(
	    f, "LpNorm([1, 2], 0.5)", "QueryError",
	    "Second argument for function LpNorm must be a finite number not less than one");
	expect_error(f, "LpDistance([1], [2], inf)", "QueryError",
		     "function LpDistance must be a finite");
	expect_error(f, "LpNormalize([1], 'a')", "QueryError",
		     "Illegal type String of argument 2 of function LpNormalize");
	expect_error(f, "LpNorm([1, 2], length(event))", "QueryError",
		     "Argument p of function LpNorm must be constant");
	expect_error(f, "dotProduct([1], ['a'])", "QueryError",
		     "Illegal type Array(String) of argument 2 of function dotProduct");
	expect_error(f, "L2Norm(JSONExtract(properties, 's', 'Array(String)'))", "QueryError",
		     "Illegal type Array(String) of argument 1 of function L2Norm");
	expect_error(f, "L2Norm([1], [2])", "QueryError", "L2Norm");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_norms),
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_distances),
	    cmocka_unit_test(test_dot_product),
	    cmocka_unit_test(test_point_in_polygon),
	    cmocka_unit_test(test_h3_refused),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
