/*
 * test_fn_parse.c — accurateCast / accurateCastOrNull and the refusals
 * of the Decimal types beyond decimal.c's (fn_math.c), parseDateTime and the
 * parseDateTime64BestEffort names (fn_date.c), as a user sees them: HogQL text in, the TSV row out.
 * Event 'a' has numbers and strings in its properties, 'b' none, so every
 * property reads as NULL there.
 *
 * Expected values were worked out by hand from ClickHouse's documentation
 * and source (Functions/parseDateTime.cpp: its fixed-width fields, defaults
 * and zone handling; FunctionsConversion: accurate conversions) and the
 * zones' rules, never computed with the code under test. DateTimes are
 * compared as unix seconds (toUnixTimestamp), so a wrong zone shows. The
 * day numbers used: 2000-01-01 = 10957, 2021-01-01 = 18628, 2024-01-01 =
 * 19723, 2069-01-01 = 36160, 2106-01-01 = 49673.
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

static const char PROPS_A[] = "{\"n\":7,\"neg\":-7,\"f\":2.5,\"s\":\"123\",\"w\":\"abc\","
			      "\"d\":\"2024-03-05 07:08:09\",\"e\":\"\"}";

static int setup(void **state)
{
	return ab_setup(state, "test_fn_parse", PROPS_A, NULL);
}

static void test_accurate_cast_numbers(void **state)
{
	struct fixture *f = *state;
	/* ranges of every integer type, both ends */
	expect_a(f,
		 "accurateCast(127, 'Int8'), accurateCastOrNull(128, 'Int8'), "
		 "accurateCastOrNull(-128, 'Int8'), accurateCastOrNull(-129, 'Int8')",
		 "127\t\\N\t-128\t\\N");
	expect_a(f,
		 "accurateCastOrNull(-1, 'UInt8'), accurateCastOrNull(255, 'UInt8'), "
		 "accurateCastOrNull(256, 'UInt8'), accurateCastOrNull(65535, 'UInt16'), "
		 "accurateCastOrNull(65536, 'UInt16')",
		 "\\N\t255\t\\N\t65535\t\\N");
	expect_a(f,
		 "accurateCastOrNull(32768, 'Int16'), accurateCastOrNull(-2147483648, 'Int32'), "
		 "accurateCastOrNull(2147483648, 'Int32'), accurateCastOrNull(4294967295, "
		 "'UInt32'), accurateCastOrNull(4294967296, 'UInt32')",
		 "\\N\t-2147483648\t\\N\t4294967295\t\\N");
	expect_a(f,
		 "accurateCastOrNull(-1, 'UInt64'), accurateCastOrNull(18446744073709551615, "
		 "'UInt64'), accurateCastOrNull(18446744073709551615, 'Int64'), "
		 "accurateCastOrNull(-9223372036854775808, 'Int64')",
		 "\\N\t18446744073709551615\t\\N\t-9223372036854775808");
	/* floats: whole and in range, else nothing; NaN and infinities fail */
	expect_a(f,
		 "accurateCastOrNull(1.5, 'Int64'), accurateCastOrNull(2.0, 'Int64'), "
		 "accurateCastOrNull(-3.0, 'UInt8'), accurateCastOrNull(255.0, 'UInt8'), "
		 "accurateCastOrNull(0 / 0, 'Int64'), accurateCastOrNull(1 / 0, 'UInt64')",
		 "\\N\t2\t\\N\t255\t\\N\t\\N");
	expect_a(f,
		 "accurateCastOrNull(9223372036854775807.0, 'Int64'), "
		 "accurateCastOrNull(-9223372036854775808.0, 'Int64'), "
		 "accurateCastOrNull(18446744073709551616.0, 'UInt64')",
		 "\\N\t-9223372036854775808\t\\N");
	/* integers into Float64 must survive the round trip */
	expect_a(f,
		 "accurateCastOrNull(9007199254740993, 'Float64'), "
		 "accurateCastOrNull(9007199254740992, 'Float64'), accurateCast(-5, 'Float64')",
		 "\\N\t9007199254740992\t-5");
	/* properties, NULL and nullable in, the type out */
	expect_a(f,
		 "accurateCastOrNull(properties.n, 'UInt8'), accurateCastOrNull(properties.neg, "
		 "'UInt8'), accurateCastOrNull(properties.f, 'Int64'), accurateCast(properties.f, "
		 "'Float64')",
		 "7\t\\N\t\\N\t2.5");
	/* a NULL into a non-Nullable T is an error, as in ClickHouse's CAST */
	expect_b(f,
		 "accurateCastOrNull(properties.n, 'UInt8'), accurateCast(properties.n, "
		 "'Nullable(Int64)'), accurateCastOrNull(NULL, 'Int8')",
		 "\\N\t\\N\t\\N");
	expect_error(f, "accurateCast(NULL, 'Int8')", "QueryError",
		     "Cannot convert NULL value to non-Nullable type Int8");
	expect_error(f, "accurateCast(properties.n, 'String')", "QueryError",
		     "Cannot convert NULL value to non-Nullable type String");
	expect_a(
	    f,
	    "toTypeName(accurateCastOrNull(1, 'Int64')), toTypeName(accurateCast(1, "
	    "'Int64')), toTypeName(accurateCast(properties.n, 'Int64')), "
	    "toTypeName(accurateCastOrNull('x', 'String')), toTypeName(accurateCast(properties.s, "
	    "'String'))",
	    "Nullable(Int64)\tInt64\tInt64\tNullable(String)\tString");
	/* failures of accurateCast are errors naming the value and the type */
	expect_error(f, "accurateCast(128, 'Int8')", "QueryError",
		     "Value 128 cannot be safely converted into type Int8");
	expect_error(f, "accurateCast(1.5, 'UInt64')", "QueryError",
		     "Value 1.5 cannot be safely converted into type UInt64");
	expect_error(f, "accurateCast(-1, 'UInt32')", "QueryError",
		     "Value -1 cannot be safely converted into type UInt32");
	/* Nullable(T) holds NULL for numbers that do not fit too only with OrNull */
	expect_error(f, "accurateCast(300, 'Nullable(UInt8)')", "QueryError",
		     "cannot be safely converted into type UInt8");
	expect_a(f,
		 "accurateCast(200, 'Nullable(UInt8)'), accurateCastOrNull(300, 'Nullable(UInt8)')",
		 "200\t\\N");
}

static void test_accurate_cast_text(void **state)
{
	struct fixture *f = *state;
	expect_a(f,
		 "accurateCastOrNull('123', 'Int8'), accurateCastOrNull('-128', 'Int8'), "
		 "accurateCastOrNull('+7', 'UInt8'), accurateCastOrNull('abc', 'Int8'), "
		 "accurateCastOrNull('', 'Int64'), accurateCastOrNull('1.5', 'Int64'), "
		 "accurateCastOrNull(' 1', 'Int64')",
		 "123\t-128\t7\t\\N\t\\N\t\\N\t\\N");
	expect_a(f,
		 "accurateCastOrNull('1.5', 'Float64'), accurateCastOrNull('1e3', 'Float64'), "
		 "accurateCastOrNull('x', 'Float64'), accurateCastOrNull(properties.s, 'UInt16'), "
		 "accurateCastOrNull(properties.w, 'UInt16'), accurateCastOrNull(properties.e, "
		 "'UInt16')",
		 "1.5\t1000\t\\N\t123\t\\N\t\\N");
	expect_b(f, "accurateCastOrNull(properties.s, 'Int64')", "\\N");
	/* an unparsable String into Nullable(T) is NULL even for accurateCast */
	expect_a(f, "accurateCast('abc', 'Nullable(Int64)'), accurateCast('42', 'Nullable(Int64)')",
		 "\\N\t42");
	expect_error(f, "accurateCast('abc', 'Int8')", "QueryError",
		     "Cannot parse string 'abc' as Int8");
	expect_error(f, "accurateCast(coalesce(properties.w, 'abc'), 'UInt64')", "QueryError",
		     "Cannot parse string 'abc' as UInt64");
	/* String, UUID, Date and DateTime targets */
	expect_a(f,
		 "accurateCast(42, 'String'), accurateCastOrNull(2.5, 'String'), "
		 "accurateCast('x', 'String'), toTypeName(accurateCast(1, 'String'))",
		 "42\t2.5\tx\tString");
	expect_a(f,
		 "accurateCastOrNull('00000000-0000-0000-0000-00000000000A', 'UUID'), "
		 "accurateCastOrNull('not a uuid', 'UUID'), "
		 "accurateCastOrNull(accurateCast('00000000-0000-0000-0000-000000000001', 'UUID'), "
		 "'UUID')",
		 "00000000-0000-0000-0000-00000000000a\t\\N\t00000000-0000-0000-0000-000000000001");
	expect_error(f, "accurateCast('nope', 'UUID')", "QueryError",
		     "Cannot parse string 'nope' as UUID");
	expect_a(f,
		 "accurateCast(toDateTime('2024-03-05 23:59:59'), 'Date'), "
		 "toUnixTimestamp(accurateCast(toDate('2024-03-05'), 'DateTime'))",
		 "2024-03-05\t1709596800");
	/* dates into integers: their day number or seconds (ClickHouse's plain
	 * conversion, wrapped to a narrow type) */
	expect_a(f,
		 "accurateCast(toDate('2024-03-05'), 'Int64'), accurateCast(toDate('2024-03-05'), "
		 "'UInt8'), accurateCast(toDateTime('2024-03-05 00:00:00'), 'UInt32')",
		 "19787\t75\t1709596800");
}

static void test_refusals(void **state)
{
	struct fixture *f = *state;
	/* Decimals are test_fn_decimal.c's; only their limits are refused */
	expect_error(f, "accurateCastOrNull(1, 'Decimal256(2)')", "NotImplementedError",
		     "Decimal256");
	expect_error(f, "accurateCastOrNull(1, 'Decimal(38, 20)')", "NotImplementedError",
		     "scale above 18");
	expect_error(f, "accurateCast(1, 'Decimal(3, 4)')", "QueryError", "the scale 0..precision");
	expect_error(f, "accurateCast(1, 'Float32')", "NotImplementedError",
		     "Float32 is not supported");
	expect_error(f, "accurateCastOrNull('true', 'Bool')", "NotImplementedError", "'Bool'");
	expect_error(f, "accurateCastOrNull(1, 'Int128')", "NotImplementedError", "'Int128'");
	expect_error(f, "accurateCastOrNull(1, 'Date')", "NotImplementedError", "'Date'");
	expect_error(f, "accurateCastOrNull('2024-01-01', 'DateTime')", "NotImplementedError",
		     "from a String");
	expect_error(f, "accurateCastOrNull(1, properties.w)", "NotImplementedError",
		     "non-constant argument 2");
	expect_error(f, "accurateCastOrNull([1], 'Int64')", "QueryError",
		     "Illegal type Array(Int64) of argument 1 of function accurateCastOrNull");
}

/* parseDateTime(s, fmt, 'UTC') as unix seconds. */
#define PDT(s, fmt) "toUnixTimestamp(parseDateTime('" s "', '" fmt "', 'UTC'))"

static void test_parse_datetime(void **state)
{
	struct fixture *f = *state;
	expect_a(f,
		 PDT("2021-01-04 23:00:00", "%Y-%m-%d %H:%i:%s") ", " PDT(
		     "2021-01-04 23:00:00", "%F %T") ", " PDT("2024-03-05 07:00", "%Y-%c-%d %k"),
		 "1609801200\t1609801200\t\\N");
	expect_a(f, PDT("2024-3-05 7", "%Y-%c-%d %k") ", " PDT("2024-03-05 7", "%F %l"),
		 "1709622000\t1709622000");
	/* fields not given: 1970-01-01 00:00:00, but a month or day makes the year 2000 */
	expect_a(f, PDT("12:34", "%H:%i") ", " PDT("03-15", "%m-%d") ", " PDT("", ""),
		 "45240\t953078400\t0");
	/* %y: 00-69 is 20xx, 70-99 19xx; years past 2106-02-07 wrap as UInt32 */
	expect_a(f,
		 PDT("70-01-02", "%y-%m-%d") ", " PDT("69-01-01", "%y-%m-%d") ", " PDT(
		     "2106-12-31", "%Y-%m-%d") ", " PDT("1969-12-31", "%Y-%m-%d"),
		 "86400\t3124224000\t28229504\t\\N");
	/* 12-hour clocks */
	expect_a(
	    f,
	    PDT("2024-01-01 12:05 AM", "%Y-%m-%d %h:%i %p") ", " PDT(
		"2024-01-01 12:05 PM",
		"%Y-%m-%d %I:%i %p") ", " PDT("2024-01-01 01:00 pm",
					      "%F %h:%i %p") ", " PDT("2024-01-01 11:59 PM",
								      "%F %r") ", " PDT("2024-01-"
											"01 13:00 "
											"PM",
											"%F %h:%i "
											"%p"),
	    "1704067500\t1704110700\t1704114000\t1704153540\t\\N");
	/* names, day of year, American dates, fractions, literals */
	expect_a(f,
		 PDT("March  5 2024", "%M %e %Y") ", " PDT("mar 05 2024", "%b %d %Y") ", " PDT(
		     "Marc 05 2024", "%M %d %Y") ", " PDT("03/05/24", "%D"),
		 "1709596800\t1709596800\t\\N\t1709596800");
	expect_a(f,
		 PDT("2024-060", "%Y-%j") ", " PDT("2023-366", "%Y-%j") ", " PDT(
		     "2024-01-01 00:00:00.123456",
		     "%F %T.%f") ", " PDT("2024-01-01 00:00:00.12345",
					  "%F %T.%f") ", " PDT("100% 10:20:30", "100%% %T"),
		 "1709164800\t\\N\t1704067200\t\\N\t37230");
	/* ISO week dates: the last of %m/%d, %j, %u/%V decides */
	expect_a(f,
		 PDT("2024-W01-1", "%G-W%V-%u") ", " PDT("2021-W01-1", "%Y-W%V-%u") ", " PDT(
		     "Wed 2020 53", "%a %Y %V") ", " PDT("Wednesday 2020 53", "%W %Y %V"),
		 "1704067200\t1609718400\t1609286400\t1609286400");
	/* no match: impossible dates, leftovers, short text; ClickHouse's
	 * fixed-width fields add c - '0' for any character ("0:" is 10) */
	expect_a(
	    f,
	    PDT("2024-02-30", "%Y-%m-%d") ", " PDT("2024-01-01x", "%Y-%m-%d") ", " PDT(
		"2024-1-01", "%Y-%m-%d") ", " PDT("2024-0:-01", "%Y-%m-%d") ", " PDT("202", "%Y"),
	    "\\N\t\\N\t\\N\t1727740800\t\\N");
	/* NULL and nullable in, Nullable(DateTime) out */
	expect_a(f,
		 "parseDateTime(NULL, '%Y'), toUnixTimestamp(parseDateTime(properties.d, '%F %T', "
		 "'UTC')), parseDateTime(properties.e, '%Y')",
		 "\\N\t1709622489\t\\N");
	expect_b(f, "parseDateTime(properties.d, '%F %T')", "\\N");
	expect_a(f, "parseDateTime('2024-03-05 07:08:09', '%F %T', 'UTC')", "2024-03-05T07:08:09Z");
	/* errors and refusals */
	expect_error(f, "parseDateTime('1', '%Q')", "NotImplementedError", "%Q");
	expect_error(f, "parseDateTime('1', '%E')", "QueryError", "Unknown format specifier %E");
	expect_error(f, "parseDateTime('1', '%Y%')", "QueryError", "must not be the last");
	expect_error(f, "parseDateTime('1', properties.w)", "QueryError", "constant String");
	expect_error(f, "parseDateTime(1, '%Y')", "QueryError",
		     "Illegal type Int64 of argument 1 of function parseDateTime");
	expect_error(f, "parseDateTime('1', '%Y', 'Mars/Base')", "QueryError",
		     "Unknown time zone 'Mars/Base'");
}

static void test_parse_datetime_zones(void **state)
{
	struct fixture *f = *state;
	/* Istanbul: +03 all year since 2016; +02 in 1970, so its midnight is
	 * before the epoch */
	expect_a(f,
		 "toUnixTimestamp(parseDateTime('2021-01-04 23:00:00', '%F %T', 'Asia/Istanbul')), "
		 "parseDateTime('1970-01-01 00:00:00', '%F %T', 'Asia/Istanbul')",
		 "1609790400\t\\N");
	/* New York's 2024-03-10 gap (07:00 UTC): ClickHouse takes the offset at
	 * the wall time read as UTC, so 02:30 and 05:30 use EST and 08:00 EDT */
	expect_a(f,
		 "toUnixTimestamp(parseDateTime('2024-03-10 02:30:00', '%F %T', "
		 "'America/New_York')), toUnixTimestamp(parseDateTime('2024-03-10 05:30:00', '%F "
		 "%T', 'America/New_York')), toUnixTimestamp(parseDateTime('2024-03-10 08:00:00', "
		 "'%F %T', 'America/New_York'))",
		 "1710055800\t1710066600\t1710072000");
	/* %z fixes the offset whatever the zone */
	expect_a(f,
		 PDT("2024-01-01 00:00:00 +0530", "%F %T %z") ", " PDT("2024-01-01 00:00:00 -0100",
								       "%F %T %z"),
		 "1704047400\t1704070800");
	/* the result reads in the given zone (as the executor's DateTime64(6):
	 * ClickHouse's DateTime has no fraction, docs/HOGQL.md) */
	expect_a(f,
		 "toString(parseDateTime('2024-03-05 07:08:09', '%F %T', 'Asia/Istanbul')), "
		 "toHour(parseDateTime('2024-03-05 07:08:09', '%F %T', 'Asia/Istanbul'))",
		 "2024-03-05 07:08:09.000000\t7");
}

static void test_best_effort_names(void **state)
{
	struct fixture *f = *state;
	expect_a(f,
		 "toUnixTimestamp(parseDateTime64BestEffort('2024-03-05 07:08:09', 'UTC')), "
		 "toUnixTimestamp(parseDateTime64BestEffortOrNull('2024-03-05T07:08:09Z')), "
		 "parseDateTime64BestEffortOrNull('garbage')",
		 "1709622489\t1709622489\t\\N");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accurate_cast_numbers),
	    cmocka_unit_test(test_accurate_cast_text),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_parse_datetime),
	    cmocka_unit_test(test_parse_datetime_zones),
	    cmocka_unit_test(test_best_effort_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
