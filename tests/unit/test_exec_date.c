/*
 * test_exec_date.c — date and time functions of the executor in time
 * zones: HogQL text in, exact values out, over ten events placed on the
 * edges that matter (a UTC evening that is the next day in Berlin, both
 * 2024 DST changes of Europe/Berlin and America/New_York, a Sunday at the
 * turn of an ISO year). Every expected value is a literal worked out by
 * hand from the calendar and the zones' rules, never computed with the
 * code under test. Also: the lock-free zone lookups of base/tz.c, NULLs,
 * errors for bad arguments and unknown zones, and the JSON rendering of
 * DateTimes in a non-UTC project.
 *
 * Cells are compared as text: Dates "YYYY-MM-DD", DateTimes as their UTC
 * instant "YYYY-MM-DD hh:mm:ss[.ffffff]Z" (so a wrong zone shows), NULL
 * as "NULL", rows joined with '|'.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEV 10

/* The events, in time order (UTC). */
static const char *const TS[NEV] = {
    "2024-01-10 12:00:00.123", /* 0: Wed; Berlin 13:00, New York 07:00 */
    "2024-01-31 23:30:00",     /* 1: Berlin 2024-02-01 00:30 */
    "2024-03-10 07:30:00",     /* 2: New York 03:30 EDT, just after its gap */
    "2024-03-31 00:30:00",     /* 3: Berlin 01:30 CET, before the gap */
    "2024-03-31 01:30:00",     /* 4: Berlin 03:30 CEST, after the gap */
    "2024-10-27 00:30:00",     /* 5: Berlin 02:30 CEST, first pass */
    "2024-10-27 01:30:00",     /* 6: Berlin 02:30 CET, second pass */
    "2024-11-03 05:30:00",     /* 7: New York 01:30 EDT, first pass */
    "2024-11-03 06:30:00",     /* 8: New York 01:30 EST, second pass */
    "2024-12-29 10:00:00",     /* 9: Sunday; ISO week 52 of 2024 */
};

static int64_t utc_us(const char *s)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
	int n = sscanf(s, "%d-%d-%d %d:%d:%d.%d", &y, &mo, &d, &h, &mi, &sec, &ms);
	assert_true(n >= 3);
	return ((sn_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
		 sec) *
		    1000 +
		ms) *
	       1000;
}

struct fixture {
	char dir[512];
	struct sn_exec_opts opts;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_exec_date"), 0);
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	for (int i = 0; i < NEV; i++) {
		char props[128];
		snprintf(props, sizeof(props), "{\"n\":%d%s}", i,
			 i == 0	  ? ",\"d\":\"2024-05-31 10:00:00\""
			 : i == 1 ? ",\"d\":\"garbage\""
			 : i == 2 ? ",\"d\":\"2024-05-31T10:00:00Z\""
				  : "");
		struct sn_event_row er = {0};
		er.uuid[15] = (uint8_t)i;
		er.uuid[6] = 0x70;
		er.team_id = 1;
		er.timestamp_us = utc_us(TS[i]);
		er.created_at_us = er.timestamp_us;
		er.event = (struct sn_str){"e", 1};
		er.distinct_id = (struct sn_str){"u", 1};
		er.properties = (struct sn_str){props, strlen(props)};
		er.elements_chain = (struct sn_str){"", 0};
		assert_int_equal(sn_memtable_append(&mt, &er, &err), 0);
	}
	struct sn_part_write_opts o = {.granule_rows = 4, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, f.dir, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
	f.opts.store_dir = f.dir;
	f.opts.team_id = 1;
	f.opts.now_us = utc_us("2024-01-31 23:30:00");
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sn_test_rm_rf(f->dir);
	return 0;
}

static void cell_text(const struct sn_exec_value *v, char *buf, size_t len)
{
	int64_t y;
	unsigned m, d;
	if (v->null || v->type == SN_XT_NULL) {
		snprintf(buf, len, "NULL");
	} else if (v->type == SN_XT_DATE) {
		sn_civil_from_days(v->i, &y, &m, &d);
		snprintf(buf, len, "%04" PRId64 "-%02u-%02u", y, m, d);
	} else if (v->type == SN_XT_DATETIME) {
		int64_t day = v->i >= 0 ? v->i / 86400000000LL : -1;
		int64_t rem = v->i - day * 86400000000LL, s = rem / 1000000, f = rem % 1000000;
		sn_civil_from_days(day, &y, &m, &d);
		int n = snprintf(buf, len, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d", y, m, d,
				 (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
		if (f)
			n += snprintf(buf + n, len - (size_t)n, ".%06d", (int)f);
		snprintf(buf + n, len - (size_t)n, "Z");
	} else if (v->type == SN_XT_STRING) {
		snprintf(buf, len, "%.*s", (int)v->s.len, v->s.p);
	} else if (v->type == SN_XT_FLOAT) {
		snprintf(buf, len, "%g", v->f);
	} else {
		snprintf(buf, len, "%" PRId64, v->i);
	}
}

/* Runs q (team zone tz, NULL = UTC) and compares its cells, row-major,
 * '|' between rows and ',' between columns, with want. */
static void check(struct fixture *f, const char *tz, const char *q, const char *want)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	f->opts.timezone = tz;
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	f->opts.timezone = NULL;
	if (rc)
		fail_msg("query failed: %s (%s): %s", err.msg, err.type, q);
	char got[4096] = "";
	size_t n = 0;
	for (size_t r = 0; r < res.nrows; r++)
		for (size_t c = 0; c < res.ncols; c++) {
			char buf[256];
			cell_text(&res.cells[r * res.ncols + c], buf, sizeof(buf));
			n += (size_t)snprintf(got + n, sizeof(got) - n, "%s%s",
					      r == 0 && c == 0 ? ""
					      : c == 0	       ? "|"
							       : ",",
					      buf);
		}
	sn_exec_result_release(&res);
	if (strcmp(got, want) != 0)
		fail_msg("%s [tz %s]\n  got:  %s\n  want: %s", q, tz ? tz : "UTC", got, want);
}

static void expect_error(struct fixture *f, const char *tz, const char *q, const char *msg_part)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	f->opts.timezone = tz;
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	f->opts.timezone = NULL;
	if (rc == 0) {
		sn_exec_result_release(&res);
		fail_msg("query succeeded, expected an error with '%s': %s", msg_part, q);
	}
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s' (%s)", err.msg, msg_part, q);
	assert_string_equal(err.type, "QueryError");
}

#define ALL " FROM events ORDER BY timestamp"
#define ONE " FROM events ORDER BY timestamp LIMIT 1"

/* ---- base/tz.c ------------------------------------------------------------------- */

static void test_tz_lookup(void **state)
{
	(void)state;
	assert_null(sn_tz_get("Mars/Olympus_Mons"));
	assert_null(sn_tz_get("../../etc/passwd"));
	const struct sn_tz *utc = sn_tz_get(NULL), *ber = sn_tz_get("Europe/Berlin");
	const struct sn_tz *ny = sn_tz_get("America/New_York");
	assert_non_null(utc);
	assert_non_null(ber);
	assert_non_null(ny);
	assert_true(sn_tz_is_utc(utc));
	assert_true(sn_tz_is_utc(sn_tz_get("UTC")));
	assert_false(sn_tz_is_utc(ber));
	assert_ptr_equal(ber, sn_tz_get("Europe/Berlin")); /* loaded once */
	assert_string_equal(sn_tz_name(ber), "Europe/Berlin");
	/* Offsets on both sides of the changes (01:00 UTC in Berlin, 07:00 /
	 * 06:00 UTC in New York). */
	assert_int_equal(sn_tz_offset_at(ber, utc_us("2024-03-31 00:59:59")), 3600);
	assert_int_equal(sn_tz_offset_at(ber, utc_us("2024-03-31 01:00:00")), 7200);
	assert_int_equal(sn_tz_offset_at(ber, utc_us("2024-10-27 00:59:59")), 7200);
	assert_int_equal(sn_tz_offset_at(ber, utc_us("2024-10-27 01:00:00")), 3600);
	assert_int_equal(sn_tz_offset_at(ny, utc_us("2024-03-10 07:00:00")), -4 * 3600);
	assert_int_equal(sn_tz_offset_at(ny, utc_us("2024-11-03 06:00:00")), -5 * 3600);
	assert_int_equal(sn_tz_offset_at(utc, utc_us("2024-07-01 00:00:00")), 0);
	assert_int_equal(sn_tz_offset("Europe/Berlin", utc_us("2024-07-01 00:00:00")), 7200);
	assert_int_equal(sn_tz_offset("Mars/Olympus_Mons", 0), 0);
	/* Wall time → instant. Ordinary: 12:00 CEST is 10:00 UTC. */
	int64_t wall = utc_us("2024-07-01 12:00:00"); /* read as wall time */
	assert_true(sn_tz_from_local(ber, wall, true) == utc_us("2024-07-01 10:00:00"));
	/* Skipped 02:30 (Berlin, 2024-03-31): after the gap 01:30 UTC (read
	 * with CET), before it 00:30 UTC (read with CEST). */
	wall = utc_us("2024-03-31 02:30:00");
	assert_true(sn_tz_from_local(ber, wall, true) == utc_us("2024-03-31 01:30:00"));
	assert_true(sn_tz_from_local(ber, wall, false) == utc_us("2024-03-31 00:30:00"));
	/* Repeated 02:30 (2024-10-27): the earlier pass, 00:30 UTC. */
	wall = utc_us("2024-10-27 02:30:00");
	assert_true(sn_tz_from_local(ber, wall, true) == utc_us("2024-10-27 00:30:00"));
	assert_true(sn_tz_from_local(ber, wall, false) == utc_us("2024-10-27 00:30:00"));
	/* 03:30 after the repeat is CET: 02:30 UTC. */
	wall = utc_us("2024-10-27 03:30:00");
	assert_true(sn_tz_from_local(ber, wall, true) == utc_us("2024-10-27 02:30:00"));
	/* New York: skipped 02:30 on 2024-03-10; repeated 01:30 on 2024-11-03. */
	wall = utc_us("2024-03-10 02:30:00");
	assert_true(sn_tz_from_local(ny, wall, true) == utc_us("2024-03-10 07:30:00"));
	assert_true(sn_tz_from_local(ny, wall, false) == utc_us("2024-03-10 06:30:00"));
	wall = utc_us("2024-11-03 01:30:00");
	assert_true(sn_tz_from_local(ny, wall, true) == utc_us("2024-11-03 05:30:00"));
}

/* ---- conversions and truncation in zones ----------------------------------------- */

static void test_todate_in_zones(void **state)
{
	struct fixture *f = *state;
	check(f, NULL, "SELECT toDate(timestamp)" ALL,
	      "2024-01-10|2024-01-31|2024-03-10|2024-03-31|2024-03-31|2024-10-27|2024-10-27|"
	      "2024-11-03|2024-11-03|2024-12-29");
	/* 23:30 UTC on Jan 31 is Feb 1 in Berlin. */
	check(f, "Europe/Berlin", "SELECT toDate(timestamp)" ALL,
	      "2024-01-10|2024-02-01|2024-03-10|2024-03-31|2024-03-31|2024-10-27|2024-10-27|"
	      "2024-11-03|2024-11-03|2024-12-29");
	/* A value's own zone wins over the project's (HogQL's toDate takes
	 * one argument; toTimeZone sets the zone). */
	check(f, "Europe/Berlin",
	      "SELECT toDate(toTimeZone(timestamp, 'UTC')), toDate(toTimeZone(timestamp, "
	      "'Asia/Tokyo')), toStartOfDay(timestamp, 'Asia/Tokyo') FROM events WHERE "
	      "properties.n = '1'",
	      "2024-01-31,2024-02-01,2024-01-31 15:00:00Z");
	check(f, NULL,
	      "SELECT toStartOfDay(timestamp, 'America/New_York') FROM events WHERE "
	      "properties.n = '1'",
	      "2024-01-31 05:00:00Z");
	/* Start of day in Berlin: the local midnight's instant, CET or CEST. */
	check(f, "Europe/Berlin", "SELECT toStartOfDay(timestamp)" ALL,
	      "2024-01-09 23:00:00Z|2024-01-31 23:00:00Z|2024-03-09 23:00:00Z|"
	      "2024-03-30 23:00:00Z|2024-03-30 23:00:00Z|2024-10-26 22:00:00Z|"
	      "2024-10-26 22:00:00Z|2024-11-02 23:00:00Z|2024-11-02 23:00:00Z|"
	      "2024-12-28 23:00:00Z");
	check(f, "America/New_York", "SELECT toStartOfDay(timestamp)" ALL,
	      "2024-01-10 05:00:00Z|2024-01-31 05:00:00Z|2024-03-10 05:00:00Z|"
	      "2024-03-30 04:00:00Z|2024-03-30 04:00:00Z|2024-10-26 04:00:00Z|"
	      "2024-10-26 04:00:00Z|2024-11-03 04:00:00Z|2024-11-03 04:00:00Z|"
	      "2024-12-29 05:00:00Z");
	check(f, "Europe/Berlin", "SELECT toHour(timestamp), toStartOfHour(timestamp)" ALL,
	      "13,2024-01-10 12:00:00Z|0,2024-01-31 23:00:00Z|8,2024-03-10 07:00:00Z|"
	      "1,2024-03-31 00:00:00Z|3,2024-03-31 01:00:00Z|2,2024-10-27 00:00:00Z|"
	      "2,2024-10-27 01:00:00Z|6,2024-11-03 05:00:00Z|7,2024-11-03 06:00:00Z|"
	      "11,2024-12-29 10:00:00Z");
	check(f, "America/New_York", "SELECT toHour(timestamp), toDayOfMonth(timestamp)" ALL,
	      "7,10|18,31|3,10|20,30|21,30|20,26|21,26|1,3|1,3|5,29");
	/* Half-hour zone: hours truncate in local time. */
	check(f, "Asia/Kolkata",
	      "SELECT toStartOfHour(timestamp), toStartOfFifteenMinutes(timestamp), "
	      "toMinute(timestamp)" ONE,
	      "2024-01-10 11:30:00Z,2024-01-10 12:00:00Z,30");
	check(f, NULL,
	      "SELECT toStartOfMinute(timestamp), toStartOfFiveMinutes(timestamp), "
	      "toStartOfTenMinutes(timestamp), toSecond(timestamp)" ONE,
	      "2024-01-10 12:00:00Z,2024-01-10 12:00:00Z,2024-01-10 12:00:00Z,0");
	check(f, NULL,
	      "SELECT toStartOfMinute(toDateTime('2024-01-10 12:34:56')), "
	      "toStartOfFiveMinutes(toDateTime('2024-01-10 12:34:56')), "
	      "toStartOfTenMinutes(toDateTime('2024-01-10 12:34:56')), "
	      "toStartOfFifteenMinutes(toDateTime('2024-01-10 12:34:56')), "
	      "toSecond(toDateTime('2024-01-10 12:34:56'))" ONE,
	      "2024-01-10 12:34:00Z,2024-01-10 12:30:00Z,2024-01-10 12:30:00Z,"
	      "2024-01-10 12:30:00Z,56");
	/* Month, quarter, year starts are local dates. */
	check(f, "Europe/Berlin",
	      "SELECT toStartOfMonth(timestamp), toStartOfQuarter(timestamp), "
	      "toStartOfYear(timestamp) FROM events WHERE properties.n = '1'",
	      "2024-02-01,2024-01-01,2024-01-01");
	check(f, NULL,
	      "SELECT toStartOfMonth(timestamp), toStartOfQuarter(timestamp), "
	      "toStartOfYear(timestamp), toYear(timestamp), toQuarter(timestamp), "
	      "toMonth(timestamp), toDayOfYear(timestamp) FROM events WHERE properties.n = '7'",
	      "2024-11-01,2024-10-01,2024-01-01,2024,4,11,308");
	/* toDateTime of zone-less text reads it in the zone; with Z it is fixed. */
	check(f, "Europe/Berlin",
	      "SELECT toDateTime('2024-07-01 12:00:00'), toDateTime('2024-07-01 12:00:00', "
	      "'UTC'), toDateTime('2024-07-01T12:00:00Z'), toDateTime('2024-07-01 "
	      "12:00:00+05:30'), toDateTime('2024-03-31 02:30:00')" ONE,
	      "2024-07-01 10:00:00Z,2024-07-01 12:00:00Z,2024-07-01 12:00:00Z,2024-07-01 "
	      "06:30:00Z,2024-03-31 00:30:00Z");
	check(
	    f, NULL,
	    "SELECT toDateTime(toDate('2024-07-01'), 'Europe/Berlin'), "
	    "toUnixTimestamp(toDateTime('2024-01-01 00:00:00')), fromUnixTimestamp(1704067200), "
	    "toDateTime(1704067200), toUnixTimestamp('2024-01-01 01:00:00', 'Europe/Berlin')" ONE,
	    "2024-06-30 22:00:00Z,1704067200,2024-01-01 00:00:00Z,2024-01-01 00:00:00Z,1704067200");
	check(f, NULL,
	      "SELECT parseDateTimeBestEffort('2024-02-29 10:11:12'), "
	      "parseDateTimeBestEffort('2024-02-30'), parseDateTimeBestEffort('1704067200'), "
	      "parseDateTimeBestEffort('20240229'), parseDateTimeBestEffort('2024-02-29 10:11 "
	      "-0130'), "
	      "toDateTime64('2024-01-01 00:00:00.5', 6)" ONE,
	      "2024-02-29 10:11:12Z,NULL,2024-01-01 00:00:00Z,2024-02-29 00:00:00Z,2024-02-29 "
	      "11:41:00Z,2024-01-01 00:00:00.500000Z");
	check(f, NULL,
	      "SELECT toYYYYMM(timestamp), toYYYYMMDD(timestamp), toUnixTimestamp(timestamp) "
	      "FROM events WHERE properties.n = '1'",
	      "202401,20240131,1706743800");
	check(f, "Europe/Berlin",
	      "SELECT toYYYYMM(timestamp), toYYYYMMDD(timestamp), toUnixTimestamp(timestamp) "
	      "FROM events WHERE properties.n = '1'",
	      "202402,20240201,1706743800");
}

static void test_timezone_and_text(void **state)
{
	struct fixture *f = *state;
	/* toTimeZone keeps the instant and changes how it reads. */
	check(f, "Europe/Berlin",
	      "SELECT toTimeZone(timestamp, 'America/New_York'), "
	      "toHour(toTimeZone(timestamp, 'America/New_York')), "
	      "toDate(toTimeZone(timestamp, 'America/New_York')) FROM events WHERE properties.n "
	      "= '1'",
	      "2024-01-31 23:30:00Z,18,2024-01-31");
	check(f, NULL,
	      "SELECT formatDateTime(toTimeZone(timestamp, 'Asia/Kolkata'), '%H:%i'), "
	      "toString(toTimeZone(timestamp, 'Asia/Kolkata'))" ONE,
	      "17:30,2024-01-10 17:30:00.123000");
	check(f, "Europe/Berlin", "SELECT toString(timestamp), toString(toDate(timestamp))" ONE,
	      "2024-01-10 13:00:00.123000,2024-01-10");
	check(f, "Europe/Berlin",
	      "SELECT formatDateTime(timestamp, '%F %T %j %u %V %y %e %p %I %i %Y%m%d %H:%S')" ONE,
	      "2024-01-10 13:00:00 010 3 02 24 10 PM 01 00 20240110 13:00");
	check(f, NULL,
	      "SELECT formatDateTime(timestamp, '%Y-%m-%d %H', 'America/New_York'), "
	      "formatDateTime(timestamp, '%z', 'Europe/Berlin')" ONE,
	      "2024-01-10 07,+0100");
	check(f, NULL,
	      "SELECT formatDateTime(timestamp, '%F %V %u %j') FROM events WHERE "
	      "properties.n = '9'",
	      "2024-12-29 52 7 364");
	/* Comparisons with text read the text in the value's zone. */
	check(f, "Europe/Berlin",
	      "SELECT count() FROM events WHERE toTimeZone(timestamp, 'Europe/Berlin') >= "
	      "'2024-02-01 00:00:00'",
	      "9");
	check(f, NULL,
	      "SELECT count() FROM events WHERE toTimeZone(timestamp, 'UTC') >= '2024-02-01 "
	      "00:00:00'",
	      "8");
	check(f, "Europe/Berlin",
	      "SELECT count() FROM events WHERE toDate(timestamp) = '2024-02-01'", "1");
	/* today() and yesterday() are local dates of now (23:30 UTC, Jan 31). */
	check(f, NULL, "SELECT today(), yesterday()" ONE, "2024-01-31,2024-01-30");
	check(f, "Europe/Berlin", "SELECT today(), yesterday(), now()" ONE,
	      "2024-02-01,2024-01-31,2024-01-31 23:30:00Z");
}

/* ---- weeks ---------------------------------------------------------------------------- */

static void test_weeks(void **state)
{
	struct fixture *f = *state;
	/* 2024-12-29 is a Sunday, 2024-12-31 a Tuesday. */
	check(f, NULL,
	      "SELECT toStartOfWeek(toDate('2024-12-29')), toStartOfWeek(toDate('2024-12-29'), 0), "
	      "toStartOfWeek(toDate('2024-12-29'), 1), toStartOfWeek(toDate('2024-12-29'), 3), "
	      "toMonday(toDate('2024-12-29'))" ONE,
	      "2024-12-29,2024-12-29,2024-12-23,2024-12-23,2024-12-23");
	check(f, NULL,
	      "SELECT toStartOfWeek(toDate('2024-12-31')), toStartOfWeek(toDate('2024-12-31'), 1), "
	      "toStartOfWeek(toDate('2024-12-31'), 2), toMonday(toDate('2024-12-31'))" ONE,
	      "2024-12-29,2024-12-30,2024-12-29,2024-12-30");
	check(f, NULL,
	      "SELECT toDayOfWeek(toDate('2024-12-29')), toDayOfWeek(toDate('2024-12-29'), 1), "
	      "toDayOfWeek(toDate('2024-12-29'), 2), toDayOfWeek(toDate('2024-12-29'), 3), "
	      "toDayOfWeek(toDate('2024-12-30'))" ONE,
	      "7,6,0,1,1");
	check(f, NULL,
	      "SELECT toISOWeek(toDate('2024-12-29')), toISOWeek(toDate('2024-12-30')), "
	      "toISOYear(toDate('2024-12-30')), toISOWeek(toDate('2021-01-03')), "
	      "toISOYear(toDate('2021-01-03')), toDayOfYear(toDate('2024-12-31'))" ONE,
	      "52,1,2025,53,2020,366");
	/* Event 1 is a Wednesday in UTC and a Thursday in Berlin. */
	check(f, NULL,
	      "SELECT toDayOfWeek(timestamp), toStartOfWeek(timestamp, 1) FROM events WHERE "
	      "properties.n = '1'",
	      "3,2024-01-29");
	check(f, "Europe/Berlin",
	      "SELECT toDayOfWeek(timestamp), toStartOfWeek(timestamp), toMonday(timestamp) FROM "
	      "events WHERE properties.n = '9'",
	      "7,2024-12-29,2024-12-23");
}

/* ---- arithmetic --------------------------------------------------------------------------- */

static void test_arithmetic(void **state)
{
	struct fixture *f = *state;
	/* Month arithmetic clamps the day to the month's last. */
	check(f, NULL,
	      "SELECT addMonths(toDate('2024-01-31'), 1), addMonths(toDate('2023-01-31'), 1), "
	      "toDate('2024-03-31') - INTERVAL 1 MONTH, addYears(toDate('2024-02-29'), 1), "
	      "subtractMonths(toDate('2024-05-31'), 3), addQuarters(toDate('2024-11-30'), 1), "
	      "addMonths(toDate('2024-01-15'), -13)" ONE,
	      "2024-02-29,2023-02-28,2024-02-29,2025-02-28,2024-02-29,2025-02-28,2022-12-15");
	check(f, NULL,
	      "SELECT toDateTime('2024-01-31 10:00:00') + INTERVAL 1 MONTH, "
	      "timestamp - INTERVAL 7 DAY, timestamp + INTERVAL 90 MINUTE, "
	      "INTERVAL 2 HOUR + timestamp, timestamp - INTERVAL 30 SECOND" ONE,
	      "2024-02-29 10:00:00Z,2024-01-03 12:00:00.123000Z,2024-01-10 13:30:00.123000Z,"
	      "2024-01-10 14:00:00.123000Z,2024-01-10 11:59:30.123000Z");
	/* Across Berlin's spring change a day keeps the wall clock (23 hours
	 * pass), 24 hours move the instant. */
	check(
	    f, "Europe/Berlin",
	    "SELECT toDateTime('2024-03-30 12:00:00') + INTERVAL 1 DAY, "
	    "toDateTime('2024-03-30 12:00:00') + INTERVAL 24 HOUR, "
	    "addDays(toDateTime('2024-03-30 12:00:00'), 1), "
	    "addWeeks(toDateTime('2024-10-20 12:00:00'), 1)" ONE,
	    "2024-03-31 10:00:00Z,2024-03-31 11:00:00Z,2024-03-31 10:00:00Z,2024-10-27 11:00:00Z");
	check(f, NULL,
	      "SELECT toDate('2024-01-01') + 1, toDate('2024-03-01') - toDate('2024-02-01'), "
	      "toDateTime('2024-01-02 00:00:00') - toDateTime('2024-01-01 00:00:00'), "
	      "toDateTime('2024-01-01 00:00:00') + 61, addDays(toDate('2024-02-28'), 2), "
	      "toDate('2024-01-01') + INTERVAL 3 HOUR, addHours(timestamp, -12)" ONE,
	      "2024-01-02,29,86400,2024-01-01 00:01:01Z,2024-03-01,2024-01-01 03:00:00Z,"
	      "2024-01-10 00:00:00.123000Z");
	check(f, NULL,
	      "SELECT dateAdd('day', 3, toDate('2024-02-27')), dateAdd(toDate('2024-02-27'), "
	      "INTERVAL 3 DAY), dateSub('month', 1, toDate('2024-03-31')), "
	      "date_add(toDateTime('2024-01-01 00:00:00'), INTERVAL 1 WEEK), "
	      "date_subtract(toDateTime('2024-01-01 00:00:00'), INTERVAL 1 YEAR), "
	      "subtractSeconds(toDateTime('2024-01-01 00:00:00'), 1)" ONE,
	      "2024-03-01,2024-03-01,2024-02-29,2024-01-08 00:00:00Z,2023-01-01 00:00:00Z,"
	      "2023-12-31 23:59:59Z");
	/* max - min of DateTimes: seconds (whole seconds of each side). */
	check(f, NULL, "SELECT max(timestamp) - min(timestamp) FROM events", "30578400");
}

/* ---- dateDiff, dateTrunc, toStartOfInterval ---------------------------------------------------
 */

static void test_datediff_trunc(void **state)
{
	struct fixture *f = *state;
	/* Boundary crossings, not elapsed time. */
	check(f, NULL,
	      "SELECT dateDiff('day', toDateTime('2024-01-31 23:59:59'), toDateTime('2024-02-01 "
	      "00:00:00')), dateDiff('month', toDate('2024-01-31'), toDate('2024-02-01')), "
	      "dateDiff('year', toDate('2024-12-31'), toDate('2025-01-01')), "
	      "dateDiff('week', toDate('2024-12-29'), toDate('2024-12-30')), "
	      "dateDiff('week', toDate('2024-12-30'), toDate('2025-01-05')), "
	      "dateDiff('quarter', toDate('2024-03-31'), toDate('2024-04-01')), "
	      "dateDiff('hour', toDateTime('2024-01-01 10:59:59'), toDateTime('2024-01-01 "
	      "11:00:00')), dateDiff('second', toDateTime('2024-01-01 00:00:00'), "
	      "toDateTime('2024-01-01 00:01:00')), dateDiff('minute', toDateTime('2024-01-01 "
	      "00:01:00'), toDateTime('2024-01-01 00:00:59')), date_diff('day', "
	      "toDate('2024-03-01'), toDate('2024-02-01'))" ONE,
	      "1,1,1,1,0,1,1,60,-1,-29");
	/* In Berlin the fall-back night has 25 hours; event 1 is already on Feb 1. */
	check(f, "Europe/Berlin",
	      "SELECT dateDiff('hour', toDateTime('2024-10-27 00:00:00'), toDateTime('2024-10-27 "
	      "04:00:00')), dateDiff('day', timestamp, toDateTime('2024-02-01 12:00:00')) FROM "
	      "events WHERE properties.n = '1'",
	      "5,0");
	check(f, NULL,
	      "SELECT dateDiff('day', timestamp, toDateTime('2024-02-01 12:00:00')) FROM events "
	      "WHERE properties.n = '1'",
	      "1");
	check(f, "Europe/Berlin",
	      "SELECT dateTrunc('day', timestamp), dateTrunc('hour', timestamp), dateTrunc('week', "
	      "timestamp), dateTrunc('month', timestamp), date_trunc('year', timestamp), "
	      "dateTrunc('minute', timestamp, 'UTC') FROM events WHERE properties.n = '1'",
	      "2024-01-31 23:00:00Z,2024-01-31 23:00:00Z,2024-01-29,2024-02-01,2024-01-01,"
	      "2024-01-31 23:30:00Z");
	check(f, NULL,
	      "SELECT toStartOfInterval(timestamp, INTERVAL 15 MINUTE), "
	      "toStartOfInterval(timestamp, INTERVAL 5 HOUR), "
	      "toStartOfInterval(timestamp, INTERVAL 1 DAY), "
	      "toStartOfInterval(timestamp, INTERVAL 2 WEEK), "
	      "toStartOfInterval(timestamp, INTERVAL 2 MONTH), "
	      "toStartOfInterval(timestamp, INTERVAL 1 QUARTER), "
	      "toStartOfInterval(timestamp, INTERVAL 5 YEAR) FROM events WHERE properties.n = '1'",
	      "2024-01-31 23:30:00Z,2024-01-31 20:00:00Z,2024-01-31 00:00:00Z,2024-01-22,"
	      "2024-01-01,2024-01-01,2020-01-01");
	check(f, "Europe/Berlin",
	      "SELECT toStartOfInterval(timestamp, INTERVAL 1 DAY), toStartOfInterval(timestamp, "
	      "INTERVAL 6 HOUR) FROM events WHERE properties.n = '1'",
	      "2024-01-31 23:00:00Z,2024-01-31 23:00:00Z");
}

/* ---- NULLs and errors -------------------------------------------------------------------------
 */

static void test_nulls_and_errors(void **state)
{
	struct fixture *f = *state;
	/* Text that does not parse, and missing properties, are NULL. */
	check(f, "Europe/Berlin",
	      "SELECT toDateTime(properties.d), toYear(toDateTime(properties.d)), "
	      "toDate(properties.d) FROM events WHERE properties.n < '4' ORDER BY timestamp",
	      "2024-05-31 08:00:00Z,2024,2024-05-31|NULL,NULL,NULL|2024-05-31 10:00:00Z,2024,"
	      "2024-05-31|NULL,NULL,NULL");
	check(f, NULL,
	      "SELECT toStartOfDay(toDateTime(properties.d)) + INTERVAL 1 DAY, "
	      "dateDiff('day', toDateTime(properties.d), timestamp), "
	      "formatDateTime(toDateTime(properties.d), '%F'), toYear(NULL), "
	      "addDays(toDateTime(properties.d), 1) FROM events WHERE properties.n < '2' ORDER BY "
	      "timestamp",
	      "2024-06-01 00:00:00Z,-142,2024-05-31,NULL,2024-06-01 10:00:00Z|NULL,NULL,NULL,NULL,"
	      "NULL");
	expect_error(f, NULL, "SELECT toStartOfDay(timestamp, 'Mars/Olympus_Mons')" ONE,
		     "Mars/Olympus_Mons");
	expect_error(f, "Mars/Olympus_Mons", "SELECT toDate(timestamp)" ONE, "Mars/Olympus_Mons");
	expect_error(f, NULL, "SELECT toYear('2024-01-01')" ONE, "toYear");
	expect_error(f, NULL, "SELECT toHour(event)" ONE, "toHour");
	expect_error(f, NULL, "SELECT toStartOfDay(timestamp, event)" ONE, "time zone");
	expect_error(f, NULL, "SELECT dateDiff('fortnight', timestamp, timestamp)" ONE,
		     "fortnight");
	expect_error(f, NULL, "SELECT dateTrunc(event, timestamp)" ONE, "unit");
	expect_error(f, NULL, "SELECT formatDateTime(timestamp, '%Q%K')" ONE, "%K");
	expect_error(f, NULL, "SELECT timestamp * 2" ONE, "multiply");
	expect_error(f, NULL, "SELECT timestamp + INTERVAL 100000 YEAR" ONE, "out of range");
	expect_error(f, NULL, "SELECT toDate(timestamp) - 9223372036854775807" ONE, "out of range");
	check(f, NULL,
	      "SELECT toDateTime(99999999999999), toDateTime(-1), toDate(99999999999999)" ONE,
	      "NULL,1969-12-31 23:59:59Z,NULL");
	expect_error(f, NULL, "SELECT toStartOfWeek(timestamp, 12)" ONE, "toStartOfWeek");
}

/* ---- output ------------------------------------------------------------------------------------
 */

static void json_of(struct fixture *f, const char *tz, const char *q, char *out, size_t len)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	f->opts.timezone = tz;
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	f->opts.timezone = NULL;
	if (rc)
		fail_msg("query failed: %s: %s", err.msg, q);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	assert_int_equal(sn_exec_result_json(&b, &res), 0);
	snprintf(out, len, "%s", b.data);
	sn_buf_release(&b);
	sn_exec_result_release(&res);
}

static void test_json_output(void **state)
{
	struct fixture *f = *state;
	char js[8192];
	const char *q =
	    "SELECT timestamp, toDate(timestamp) FROM events WHERE properties.n IN ('0', "
	    "'1', '4') ORDER BY timestamp";
	json_of(f, NULL, q, js, sizeof(js));
	if (!strstr(js, "\"results\":[[\"2024-01-10T12:00:00.123000Z\",\"2024-01-10\"],"
			"[\"2024-01-31T23:30:00Z\",\"2024-01-31\"],"
			"[\"2024-03-31T01:30:00Z\",\"2024-03-31\"]]"))
		fail_msg("UTC: %s", js);
	assert_non_null(strstr(js, "\"DateTime64(6, 'UTC')\""));
	json_of(f, "Europe/Berlin", q, js, sizeof(js));
	if (!strstr(js, "\"results\":[[\"2024-01-10T13:00:00.123000+01:00\",\"2024-01-10\"],"
			"[\"2024-02-01T00:30:00+01:00\",\"2024-02-01\"],"
			"[\"2024-03-31T03:30:00+02:00\",\"2024-03-31\"]]"))
		fail_msg("Berlin: %s", js);
	assert_non_null(strstr(js, "\"DateTime64(6, 'Europe/Berlin')\""));
	json_of(f, "America/New_York", "SELECT timestamp FROM events WHERE properties.n = '7'", js,
		sizeof(js));
	if (!strstr(js, "\"results\":[[\"2024-11-03T01:30:00-04:00\"]]"))
		fail_msg("New York: %s", js);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tz_lookup),	      cmocka_unit_test(test_todate_in_zones),
	    cmocka_unit_test(test_timezone_and_text), cmocka_unit_test(test_weeks),
	    cmocka_unit_test(test_arithmetic),	      cmocka_unit_test(test_datediff_trunc),
	    cmocka_unit_test(test_nulls_and_errors),  cmocka_unit_test(test_json_output),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
