/*
 * test_fn_date.c — the date and time functions added to fn_date.c after the
 * first set (test_exec_date.c covers those): the week modes of toWeek and
 * toYearWeek at year boundaries, toLastDayOfWeek, monthName, dateName,
 * timeZoneOf, timeZoneOffset, toTime, timeSlot, timeSlots, age, the
 * millisecond unix times and current_timestamp, in time zones and across the
 * 2024 DST changes of Europe/Berlin and America/New_York. HogQL text in,
 * exact values out, over ten events on the edges that matter.
 *
 * Every expected value is a literal worked out by hand from ClickHouse's
 * documentation and source (the week modes: MySQL's WEEK() table, which
 * ClickHouse follows; its documented examples are included) and the zones'
 * rules, never computed with the code under test. Cells are compared as
 * text: Dates "YYYY-MM-DD", DateTimes as their UTC instant
 * "YYYY-MM-DD hh:mm:ss[.ffffff]Z" (so a wrong zone shows), NULL as "NULL",
 * rows joined with '|'.
 *
 * The test works in its own mkdtemp directory under $SNOUT_TEST_TMP (or
 * /tmp) and removes it at the end.
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
    "2024-03-10 06:30:00",     /* 1: Sun; New York 01:30 EST, before its gap */
    "2024-03-10 07:30:00",     /* 2: New York 03:30 EDT, after the gap */
    "2024-03-31 00:30:00",     /* 3: Sun; Berlin 01:30 CET, before its gap */
    "2024-03-31 01:30:00",     /* 4: Berlin 03:30 CEST, after the gap */
    "2024-10-27 00:30:00",     /* 5: Berlin 02:30 CEST, first pass */
    "2024-10-27 01:30:00",     /* 6: Berlin 02:30 CET, second pass */
    "2024-11-03 05:30:00",     /* 7: New York 01:30 EDT, first pass */
    "2024-11-03 06:30:00",     /* 8: New York 01:30 EST, second pass */
    "2024-12-31 23:30:00",     /* 9: Tue; Berlin Wed 2025-01-01 00:30 */
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
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_fn_date"), 0);
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	for (int i = 0; i < NEV; i++) {
		char props[128];
		/* d: a date text on events 0 and 2, garbage on 1, absent elsewhere. */
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
		int64_t day = v->i / 86400000000LL - (v->i % 86400000000LL < 0);
		int64_t rem = v->i - day * 86400000000LL, s = rem / 1000000, f = rem % 1000000;
		sn_civil_from_days(day, &y, &m, &d);
		int n = snprintf(buf, len, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d", y, m, d,
				 (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60));
		if (f)
			n += snprintf(buf + n, len - (size_t)n, ".%06d", (int)f);
		snprintf(buf + n, len - (size_t)n, "Z");
	} else if (v->type == SN_XT_STRING) {
		snprintf(buf, len, "%.*s", (int)v->s.len, v->s.p);
	} else if (v->type == SN_XT_UINT) {
		snprintf(buf, len, "%" PRIu64, (uint64_t)v->i);
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

static void expect_error(struct fixture *f, const char *q, const char *msg_part)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	if (rc == 0) {
		sn_exec_result_release(&res);
		fail_msg("query succeeded, expected an error with '%s': %s", msg_part, q);
	}
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s' (%s)", err.msg, msg_part, q);
	assert_string_equal(err.type, "QueryError");
}

#define ALL   " FROM events ORDER BY timestamp"
#define ONE   " FROM events ORDER BY timestamp LIMIT 1"
#define EV(k) " FROM events WHERE properties.n = '" #k "'"

/* ---- toWeek, toYearWeek: every mode at year boundaries ------------------------- */

/* The modes (MySQL's WEEK(), which ClickHouse follows; 8 and 9 are
 * ClickHouse's): first day of week / range / week 1 is the first week ...
 *   0 Sun 0-53 with a Sunday     1 Mon 0-53 with 4+ days    2 Sun 1-53 with a Sunday
 *   3 Mon 1-53 with 4+ days (ISO) 4 Sun 0-53 with 4+ days   5 Mon 0-53 with a Monday
 *   6 Sun 1-53 with 4+ days      7 Mon 1-53 with a Monday   8 Sun 1-53 holding Jan 1
 *   9 Mon 1-53 holding Jan 1
 * toYearWeek adds the 1-53 range to every mode. */
static void week_row(struct fixture *f, const char *date, const char *weeks, const char *yws)
{
	char q[2048];
	int n = snprintf(q, sizeof(q), "SELECT ");
	for (int m = 0; m < 10; m++)
		n += snprintf(q + n, sizeof(q) - (size_t)n, "toWeek(toDate('%s'), %d), ", date, m);
	for (int m = 0; m < 10; m++)
		n += snprintf(q + n, sizeof(q) - (size_t)n, "toYearWeek(toDate('%s'), %d)%s", date,
			      m, m < 9 ? ", " : ONE);
	char want[512];
	snprintf(want, sizeof(want), "%s,%s", weeks, yws);
	check(f, NULL, q, want);
}

static void test_week_modes(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's documented example: Tuesday 2016-12-27 is week 52 in
	 * modes 0 and 1 and week 1 of 2017 in mode 9 (its week holds Jan 1). */
	check(f, NULL,
	      "SELECT toWeek(toDate('2016-12-27')), toWeek(toDate('2016-12-27'), 1), "
	      "toWeek(toDate('2016-12-27'), 9), toYearWeek(toDate('2016-12-27')), "
	      "toYearWeek(toDate('2016-12-27'), 1), toYearWeek(toDate('2016-12-27'), 9)" ONE,
	      "52,52,1,201652,201652,201701");
	/* Saturday 2022-01-01: the first Sunday and Monday are Jan 2 and 3, so
	 * week 0 in the 0-53 modes, the last week of 2021 (52) in 2, 3, 6, 7;
	 * week 1 in 8 and 9. */
	week_row(f, "2022-01-01", "0,0,52,52,0,0,52,52,1,1",
		 "202152,202152,202152,202152,202152,202152,202152,202152,202201,202201");
	/* Sunday 2023-01-01: a Sunday week starts that day (week 1 in the
	 * Sunday modes); the Monday week holding it (Dec 26..Jan 1) has one
	 * day of 2023, so it is 2022's week 52 (ISO) or week 0. */
	week_row(f, "2023-01-01", "1,0,1,52,1,0,1,52,1,1",
		 "202301,202252,202301,202252,202301,202252,202301,202252,202301,202301");
	/* Sunday 2021-01-03: ISO week 53 of 2020; 2020's last Monday-first
	 * week 1 in mode 7 began Jan 6 2020, so 2021-01-03 is its week 52; in
	 * mode 8 Jan 1 (Friday) is in week 1 (Dec 27..Jan 2), so Jan 3 is week 2. */
	week_row(f, "2021-01-03", "1,0,1,53,1,0,1,52,2,1",
		 "202101,202053,202101,202053,202101,202052,202101,202052,202102,202101");
	/* Sunday 2024-12-29: its Sunday week (Dec 29..Jan 4) has four days of
	 * 2025, week 1 of 2025 in mode 6, week 53 in mode 4 (0-53 stays in the
	 * year); it also holds Jan 1, week 1 in mode 8. */
	week_row(f, "2024-12-29", "52,52,52,52,53,52,1,52,1,52",
		 "202452,202452,202452,202452,202501,202452,202501,202452,202501,202452");
	/* Tuesday 2024-12-31 and Wednesday 2025-01-01: ISO week 1 of 2025
	 * (Monday Dec 30); the first Monday of 2025 is Jan 6, so mode 7 puts Jan 1
	 * in 2024's week 53 and mode 5 gives week 0. */
	week_row(f, "2024-12-31", "52,53,52,1,53,53,1,53,1,1",
		 "202452,202501,202452,202501,202501,202453,202501,202453,202501,202501");
	week_row(f, "2025-01-01", "0,1,52,1,1,0,1,53,1,1",
		 "202452,202501,202452,202501,202501,202453,202501,202453,202501,202501");
	/* Thursday 2020-12-31 (leap year): ISO week 53 of 2020. */
	week_row(f, "2020-12-31", "52,53,52,53,53,52,53,52,1,1",
		 "202052,202053,202052,202053,202053,202052,202053,202052,202101,202101");
	/* Monday 2019-12-30: ISO week 1 of 2020. */
	week_row(f, "2019-12-30", "52,53,52,1,53,52,1,52,1,1",
		 "201952,202001,201952,202001,202001,201952,202001,201952,202001,202001");
	/* A DateTime counts its local date: event 9 is Tuesday Dec 31 in UTC and
	 * Wednesday Jan 1 2025 in Berlin; an explicit zone wins. */
	check(f, NULL,
	      "SELECT toWeek(timestamp), toWeek(timestamp, 1), toWeek(timestamp, 3), "
	      "toYearWeek(timestamp), toYearWeek(timestamp, 5), toWeek(timestamp, 0, "
	      "'Europe/Berlin'), toYearWeek(timestamp, 5, 'Europe/Berlin')" EV(9),
	      "52,53,1,202452,202453,0,202453");
	check(f, "Europe/Berlin",
	      "SELECT toWeek(timestamp), toWeek(timestamp, 1), toWeek(timestamp, 3), "
	      "toYearWeek(timestamp), toYearWeek(timestamp, 5), toWeek(timestamp, 0, 'UTC')" EV(9),
	      "0,1,1,202452,202453,52");
	/* New York's spring-forward Sunday: the local date decides (03:30 EDT
	 * and 01:30 EST are both Sunday March 10, week 10 from Sunday). */
	check(f, "America/New_York",
	      "SELECT toWeek(timestamp), toWeek(timestamp, 3) FROM events "
	      "WHERE properties.n IN ('1', '2') ORDER BY timestamp",
	      "10,10|10,10");
	check(f, NULL, "SELECT toWeek(NULL), toYearWeek(toDate(properties.d), 3)" ALL,
	      "NULL,202422|NULL,NULL|NULL,202422|NULL,NULL|NULL,NULL|NULL,NULL|NULL,NULL|NULL,"
	      "NULL|NULL,NULL|NULL,NULL");
}

/* ---- toLastDayOfWeek, monthName, dateName ----------------------------------------- */

static void test_week_ends_and_names(void **state)
{
	struct fixture *f = *state;
	/* Sunday 2024-12-29: Saturday 2025-01-04 ends its Sunday week; it ends
	 * its own Monday week. Tuesday 2024-12-31 the same two. */
	check(f, NULL,
	      "SELECT toLastDayOfWeek(toDate('2024-12-29')), toLastDayOfWeek(toDate('2024-12-29'), "
	      "1), toLastDayOfWeek(toDate('2024-12-31'), 0), toLastDayOfWeek(toDate('2024-12-31'), "
	      "3), toLastDayOfWeek(toDate('2025-01-04'), 2), toLastDayOfWeek(toDate('2024-02-26'), "
	      "1)" ONE,
	      "2025-01-04,2024-12-29,2025-01-04,2025-01-05,2025-01-04,2024-03-03");
	/* 23:30 UTC on Saturday March 9 is Sunday 00:30 in Berlin: a new Sunday
	 * week there. */
	check(f, "Europe/Berlin",
	      "SELECT toLastDayOfWeek(toDateTime('2024-03-10 00:30:00')), "
	      "toLastDayOfWeek(toDateTime('2024-03-10 00:30:00'), 1), "
	      "toLastDayOfWeek(toTimeZone(toDateTime('2024-03-10 00:30:00'), 'UTC'))" ONE,
	      "2024-03-16,2024-03-10,2024-03-09");
	check(f, NULL, "SELECT toLastDayOfWeek(NULL), toLastDayOfWeek(toDate(properties.d))" EV(1),
	      "NULL,NULL");
	/* monthName in the value's zone: event 9 is December in UTC, January
	 * in Berlin. */
	check(f, NULL,
	      "SELECT monthName(timestamp), monthName(toTimeZone(timestamp, 'Europe/Berlin')), "
	      "monthName(toDate('2024-02-29')), monthName(toDate(properties.d))" EV(9),
	      "December,January,February,NULL");
	check(f, "Europe/Berlin", "SELECT monthName(timestamp)" EV(9), "January");
	check(f, NULL, "SELECT monthName(NULL), monthName(toDate(properties.d))" EV(0), "NULL,May");
	/* dateName: ClickHouse's documented example, then zones. Numbers are
	 * not padded; 'week' is the ISO week. */
	check(f, NULL,
	      "SELECT dateName('year', toDateTime('2021-04-14 11:22:33')), dateName('quarter', "
	      "toDateTime('2021-04-14 11:22:33')), dateName('month', toDateTime('2021-04-14 "
	      "11:22:33')), dateName('dayofyear', toDateTime('2021-04-14 11:22:33')), "
	      "dateName('day', toDateTime('2021-04-14 11:22:33')), dateName('week', "
	      "toDateTime('2021-04-14 11:22:33')), dateName('weekday', toDateTime('2021-04-14 "
	      "11:22:33')), dateName('hour', toDateTime('2021-04-14 11:22:33')), "
	      "dateName('minute', toDateTime('2021-04-14 11:22:33')), dateName('second', "
	      "toDateTime('2021-04-14 11:22:33'))" ONE,
	      "2021,2,April,104,14,15,Wednesday,11,22,33");
	check(f, NULL,
	      "SELECT dateName('day', toDate('2024-02-09')), dateName('hour', "
	      "toDateTime('2024-02-09 01:02:03')), dateName('week', toDate('2024-12-30')), "
	      "dateName('weekday', timestamp), dateName('hour', toTimeZone(timestamp, "
	      "'Asia/Tokyo')), "
	      "dateName('day', toTimeZone(timestamp, 'Pacific/Honolulu'))" EV(9),
	      "9,1,1,Tuesday,8,31");
	check(f, "Europe/Berlin",
	      "SELECT dateName('weekday', timestamp), dateName('year', timestamp), "
	      "dateName('dayofyear', timestamp), dateName('minute', timestamp)" EV(9),
	      "Wednesday,2025,1,30");
	/* The repeated Berlin hour reads 02 twice. */
	check(f, "Europe/Berlin",
	      "SELECT dateName('hour', timestamp) FROM events WHERE properties.n IN ('5', '6') "
	      "ORDER BY timestamp",
	      "2|2");
	check(f, NULL,
	      "SELECT dateName('month', NULL), dateName('day', toDate(properties.d))" EV(3),
	      "NULL,NULL");
}

/* ---- zones: timeZoneOf, timeZoneOffset -------------------------------------------------- */

static void test_zone_functions(void **state)
{
	struct fixture *f = *state;
	check(f, NULL,
	      "SELECT timeZoneOf(timestamp), timeZoneOf(toTimeZone(timestamp, 'Asia/Tokyo')), "
	      "timeZoneOf(now()), timeZoneOf(now('America/New_York'))" ONE,
	      "UTC,Asia/Tokyo,UTC,America/New_York");
	check(f, "Europe/Berlin",
	      "SELECT timeZoneOf(timestamp), timeZoneOf(toDateTime('2024-01-01 "
	      "00:00:00', 'Asia/Kolkata'))" ONE,
	      "Europe/Berlin,Asia/Kolkata");
	/* The zone comes from the type: a NULL row of a nullable DateTime names
	 * it too; the NULL literal gives NULL. */
	check(f, NULL, "SELECT timeZoneOf(toDateTime(properties.d)), timeZoneOf(NULL)" EV(1),
	      "UTC,NULL");
	/* Offsets on both sides of the changes: Berlin's at 01:00 UTC (March 31
	 * and October 27), New York's at 07:00 and 06:00 UTC. */
	check(f, "Europe/Berlin", "SELECT timeZoneOffset(timestamp)" ALL,
	      "3600|3600|3600|3600|7200|7200|3600|3600|3600|3600");
	check(f, "America/New_York", "SELECT timeZoneOffset(timestamp)" ALL,
	      "-18000|-18000|-14400|-14400|-14400|-14400|-14400|-14400|-18000|-18000");
	check(
	    f, NULL,
	    "SELECT timeZoneOffset(timestamp), timeZoneOffset(toTimeZone(timestamp, "
	    "'Asia/Kathmandu')), timeZoneOffset(toTimeZone(timestamp, 'Australia/Lord_Howe'))" ONE,
	    "0,20700,39600");
	check(f, NULL,
	      "SELECT timeZoneOffset(toDateTime(properties.d)), timeZoneOffset(NULL)" EV(1),
	      "NULL,NULL");
}

/* ---- toTime, timeSlot, timeSlots ------------------------------------------------------- */

static void test_time_of_day(void **state)
{
	struct fixture *f = *state;
	/* toTime: the wall-clock time on 1970-01-02 in the value's zone (whole
	 * seconds). In UTC 12:00:00.123 becomes 1970-01-02 12:00:00. */
	check(f, NULL, "SELECT toTime(timestamp), toUnixTimestamp(toTime(timestamp))" ONE,
	      "1970-01-02 12:00:00Z,129600");
	/* New York read 1970 in EST (-5): 01:30 (EST or EDT alike, both passes
	 * of the repeated hour) is 06:30 UTC; 03:30 after the gap 08:30. */
	check(f, "America/New_York",
	      "SELECT toTime(timestamp) FROM events WHERE properties.n IN "
	      "('0', '1', '2', '7', '8') ORDER BY timestamp",
	      "1970-01-02 12:00:00Z|1970-01-02 06:30:00Z|1970-01-02 08:30:00Z|1970-01-02 "
	      "06:30:00Z|1970-01-02 06:30:00Z");
	/* Berlin read 1970 in CET (+1): 01:30 → 00:30 UTC, 03:30 → 02:30, 02:30
	 * twice → 01:30, and event 9's 00:30 → 23:30 UTC on January 1. */
	check(f, "Europe/Berlin",
	      "SELECT toTime(timestamp) FROM events WHERE properties.n IN "
	      "('3', '4', '5', '6', '9') ORDER BY timestamp",
	      "1970-01-02 00:30:00Z|1970-01-02 02:30:00Z|1970-01-02 01:30:00Z|1970-01-02 "
	      "01:30:00Z|1970-01-01 23:30:00Z");
	/* London kept +1 all through 1970 (British Standard Time): 12:34:56
	 * BST reads 12:34:56 on 1970-01-02, 11:34:56 UTC. The zone stays. */
	check(f, NULL,
	      "SELECT toTime(toDateTime('2024-07-01 12:34:56', 'Europe/London')), "
	      "toString(toTime(toDateTime('2024-07-01 12:34:56', 'Europe/London'))), "
	      "timeZoneOf(toTime(toTimeZone(timestamp, 'Europe/London')))" ONE,
	      "1970-01-02 11:34:56Z,1970-01-02 12:34:56.000000,Europe/London");
	/* timeSlot: half hours of UTC in any zone; Kolkata (+5:30) reads them as
	 * :00 and :30 too, Kathmandu (+5:45) as :15 and :45. */
	check(f, NULL, "SELECT timeSlot(timestamp)" ALL,
	      "2024-01-10 12:00:00Z|2024-03-10 06:30:00Z|2024-03-10 07:30:00Z|2024-03-31 "
	      "00:30:00Z|2024-03-31 01:30:00Z|2024-10-27 00:30:00Z|2024-10-27 01:30:00Z|2024-11-03 "
	      "05:30:00Z|2024-11-03 06:30:00Z|2024-12-31 23:30:00Z");
	check(f, "Asia/Kolkata",
	      "SELECT timeSlot(toDateTime('2024-01-10 12:44:59')), "
	      "toString(timeSlot(toDateTime('2024-01-10 12:44:59'))), "
	      "toString(timeSlot(toDateTime('2024-01-10 12:44:59', 'Asia/Kathmandu')))" ONE,
	      "2024-01-10 07:00:00Z,2024-01-10 12:30:00.000000,2024-01-10 12:15:00.000000");
	check(f, NULL, "SELECT timeSlot(toDateTime('1969-12-31 23:59:59')), timeSlot(NULL)" ONE,
	      "1969-12-31 23:30:00Z,NULL");
	/* timeSlots: ClickHouse's documented examples, then a DateTime64 start
	 * (event 0, 12:00:00.123 + 3600 s reaches the 13:00 slot). */
	check(f, NULL,
	      "SELECT length(timeSlots(toDateTime('2012-01-01 12:20:00'), 600)), "
	      "timeSlots(toDateTime('2012-01-01 12:20:00'), 600)[1], "
	      "timeSlots(toDateTime('2012-01-01 12:20:00'), 600)[2], "
	      "length(timeSlots(toDateTime('1980-12-12 21:01:02'), 600, 20)), "
	      "timeSlots(toDateTime('1980-12-12 21:01:02'), 600, 20)[1], "
	      "timeSlots(toDateTime('1980-12-12 21:01:02'), 600, 20)[31]" ONE,
	      "2,2012-01-01 12:00:00Z,2012-01-01 12:30:00Z,31,1980-12-12 21:01:00Z,1980-12-12 "
	      "21:11:00Z");
	check(f, NULL,
	      "SELECT length(timeSlots(timestamp, 3600)), timeSlots(timestamp, 3600)[3], "
	      "length(timeSlots(timestamp, 0)), timeSlots(timestamp, 0)[1]" ONE,
	      "3,2024-01-10 13:00:00Z,1,2024-01-10 12:00:00Z");
	/* A NULL row gives an empty array (ClickHouse fills NULL rows of a
	 * result that cannot be Nullable with the default). */
	check(f, NULL,
	      "SELECT length(timeSlots(toDateTime(properties.d), 600)) FROM events WHERE "
	      "properties.n < '3' ORDER BY timestamp",
	      "1|0|1");
}

/* ---- age -------------------------------------------------------------------------------- */

static void test_age(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's documented examples: 24 whole hours (dateDiff says 25);
	 * 3 days, 0 months, 0 years from 2021-12-29 to 2022-01-01. */
	check(f, NULL,
	      "SELECT age('hour', toDateTime('2018-01-01 22:30:00'), toDateTime('2018-01-02 "
	      "23:00:00')), dateDiff('hour', toDateTime('2018-01-01 22:30:00'), "
	      "toDateTime('2018-01-02 23:00:00')), age('day', toDate('2021-12-29'), "
	      "toDate('2022-01-01')), age('month', toDate('2021-12-29'), toDate('2022-01-01')), "
	      "age('year', toDate('2021-12-29'), toDate('2022-01-01'))" ONE,
	      "24,25,3,0,0");
	/* Whole units: Jan 31 → Feb 29 is not a month, Jan 31 → Mar 31 two;
	 * Feb 29 2020 → Feb 28 2021 not a year; mid-quarter days count. */
	check(f, NULL,
	      "SELECT age('month', toDate('2024-01-31'), toDate('2024-02-29')), age('month', "
	      "toDate('2024-01-31'), toDate('2024-03-31')), age('year', toDate('2020-02-29'), "
	      "toDate('2021-02-28')), age('quarter', toDate('2024-01-15'), toDate('2024-04-14')), "
	      "age('quarter', toDate('2024-01-15'), toDate('2024-04-15')), age('minute', "
	      "toDateTime('2024-01-01 00:00:59'), toDateTime('2024-01-01 00:01:58')), "
	      "age('second', toDateTime64('2024-01-01 00:00:00.9', 6), toDateTime64('2024-01-01 "
	      "00:00:01.8', 6))" ONE,
	      "0,2,0,0,1,0,0");
	/* Backwards: 23 hours back is 0 days, not -1; 25 hours back -1. */
	check(f, NULL,
	      "SELECT age('day', toDateTime('2024-01-02 10:00:00'), toDateTime('2024-01-01 "
	      "11:00:00')), age('day', toDateTime('2024-01-02 10:00:00'), toDateTime('2024-01-01 "
	      "09:00:00')), age('month', toDate('2024-03-31'), toDate('2024-02-29'))" ONE,
	      "0,-1,-1");
	/* Weeks compare the arguments' weekdays, then the time of day: Monday
	 * Jan 1 → Sunday Jan 14 is one whole week, Sunday → Monday none, Monday
	 * → Monday two weeks later two. ClickHouse's precedence quirk: with
	 * equal hours the minutes decide even across weekdays (Wednesday 10:30
	 * → the next week's Thursday 10:15 is 0 weeks, not 1). */
	check(f, NULL,
	      "SELECT age('week', toDate('2024-01-01'), toDate('2024-01-14')), age('week', "
	      "toDate('2024-01-07'), toDate('2024-01-08')), age('week', toDate('2024-01-01'), "
	      "toDate('2024-01-15')), age('week', toDateTime('2024-01-03 10:30:00'), "
	      "toDateTime('2024-01-11 10:15:00'))" ONE,
	      "1,0,2,0");
	/* In Berlin the spring-forward day has 23 hours: still a whole day by
	 * the wall clock; 01:30 CET → 03:30 CEST is one hour. */
	check(f, "Europe/Berlin",
	      "SELECT age('day', toDateTime('2024-03-30 12:00:00'), toDateTime('2024-03-31 "
	      "12:00:00')), age('hour', toDateTime('2024-03-31 01:30:00'), "
	      "toDateTime('2024-03-31 03:30:00')), age('hour', timestamp, toDateTime('2024-03-31 "
	      "04:29:59'))" EV(4),
	      "1,1,0");
	check(f, NULL,
	      "SELECT age('day', toDateTime(properties.d), timestamp), age('day', NULL, "
	      "timestamp)" EV(0),
	      "-141,NULL");
}

/* ---- unix milliseconds, current_timestamp --------------------------------------------- */

static void test_unix_millis(void **state)
{
	struct fixture *f = *state;
	/* Event 0: 2024-01-10 12:00:00.123 UTC = 1704888000.123 s. */
	check(f, NULL,
	      "SELECT toUnixTimestamp64Milli(timestamp), fromUnixTimestamp64Milli(1704888000123), "
	      "fromUnixTimestamp64Milli(-1), fromUnixTimestamp64Milli(0), "
	      "toUnixTimestamp64Milli(fromUnixTimestamp64Milli(-1))" ONE,
	      "1704888000123,2024-01-10 12:00:00.123000Z,1969-12-31 23:59:59.999000Z,1970-01-01 "
	      "00:00:00Z,-1");
	/* Microseconds below a millisecond are cut towards zero, as ClickHouse
	 * scales a DateTime64 down: -0.5 ms is 0. */
	check(f, NULL,
	      "SELECT toUnixTimestamp64Milli(toDateTime64('2024-01-01 00:00:00.9999', 6)), "
	      "toUnixTimestamp64Milli(toDateTime64('1969-12-31 23:59:59.9995', 6))" ONE,
	      "1704067200999,0");
	/* toUnixTimestamp of a DateTime floors to whole seconds, before 1970 too
	 * (its loop over a DateTime column skips the calendar: fn_date.c). */
	check(f, NULL,
	      "SELECT toUnixTimestamp(fromUnixTimestamp64Milli(-1)), "
	      "toUnixTimestamp(fromUnixTimestamp64Milli(1999)), "
	      "toUnixTimestamp(fromUnixTimestamp64Milli(-1000))" ONE,
	      "-1,1,-1");
	/* The zone does not change the instant; beyond any representable time
	 * is NULL (as toDateTime of such numbers); NULL stays NULL. */
	check(f, "America/New_York",
	      "SELECT toUnixTimestamp64Milli(timestamp), "
	      "toUnixTimestamp64Milli(toDateTime('2024-01-10 "
	      "07:00:00')), fromUnixTimestamp64Milli(9223372036854775807), "
	      "fromUnixTimestamp64Milli(NULL), toUnixTimestamp64Milli(NULL)" ONE,
	      "1704888000123,1704888000000,NULL,NULL,NULL");
	check(f, NULL, "SELECT toUnixTimestamp64Milli(toDateTime(properties.d))" EV(1), "NULL");
	/* current_timestamp is now(): the query's one instant. */
	check(f, "Europe/Berlin",
	      "SELECT current_timestamp(), current_timestamp() = now(), "
	      "timeZoneOf(current_timestamp())" ONE,
	      "2024-01-31 23:30:00Z,1,Europe/Berlin");
}

/* ---- errors ----------------------------------------------------------------------------- */

static void test_errors(void **state)
{
	struct fixture *f = *state;
	/* A Date has no time of day for these (ClickHouse refuses it too). */
	expect_error(f, "SELECT toTime(toDate('2024-01-01'))" ONE,
		     "Illegal type Date of argument 1 of function toTime");
	expect_error(f, "SELECT timeSlot(toDate('2024-01-01'))" ONE, "function timeSlot");
	expect_error(f, "SELECT timeZoneOffset(toDate('2024-01-01'))" ONE,
		     "function timeZoneOffset");
	expect_error(f, "SELECT timeZoneOf(toDate('2024-01-01'))" ONE, "function timeZoneOf");
	expect_error(f, "SELECT toUnixTimestamp64Milli(toDate('2024-01-01'))" ONE,
		     "Illegal type Date of argument 1 of function toUnixTimestamp64Milli");
	expect_error(f, "SELECT timeSlots(toDate('2024-01-01'), 600)" ONE, "function timeSlots");
	expect_error(f, "SELECT dateName('hour', toDate('2024-01-01'))" ONE, "function dateName");
	/* Wrong types and modes. */
	expect_error(f, "SELECT toWeek('2024-01-01')" ONE, "toWeek");
	expect_error(f, "SELECT toWeek(timestamp, 10)" ONE, "toWeek");
	expect_error(f, "SELECT toYearWeek(timestamp, toInt(properties.n))" ONE, "toYearWeek");
	expect_error(f, "SELECT toLastDayOfWeek(timestamp, -1)" ONE, "toLastDayOfWeek");
	expect_error(f, "SELECT monthName(event)" ONE, "monthName");
	expect_error(f, "SELECT fromUnixTimestamp64Milli(1.5)" ONE,
		     "Illegal type Float64 of argument 1 of function fromUnixTimestamp64Milli");
	expect_error(f, "SELECT fromUnixTimestamp64Milli('1704888000123')" ONE,
		     "fromUnixTimestamp64Milli");
	expect_error(f, "SELECT toUnixTimestamp64Milli(1704888000123)" ONE,
		     "toUnixTimestamp64Milli");
	expect_error(f, "SELECT dateName('fortnight', timestamp)" ONE, "fortnight");
	expect_error(f, "SELECT dateName(event, timestamp)" ONE, "part");
	expect_error(f, "SELECT age('fortnight', timestamp, timestamp)" ONE, "fortnight");
	expect_error(f, "SELECT age('day', timestamp, event)" ONE, "age");
	expect_error(f, "SELECT timeSlots(timestamp, -1)" ONE, "timeSlots");
	expect_error(f, "SELECT timeSlots(timestamp, 1.5)" ONE, "timeSlots");
	expect_error(f, "SELECT timeSlots(timestamp, 600, 0)" ONE, "timeSlots");
	expect_error(f, "SELECT timeSlots(timestamp, 4000000000, 1)" ONE, "more than 100000");
	expect_error(f, "SELECT timeZoneOffset(toTimeZone(timestamp, 'Mars/Olympus_Mons'))" ONE,
		     "Mars/Olympus_Mons");
}

/* ---- every date and time name of spec §7.3 runs --------------------------------------- */

static void test_all_names(void **state)
{
	struct fixture *f = *state;
	/* Each at its arities, on event 0 in Berlin; the values are checked
	 * above and in test_exec_date.c, here only that none is refused. */
	static const char *const calls[] = {
	    "now()",
	    "now('UTC')",
	    "today()",
	    "yesterday()",
	    "toTimeZone(timestamp)",
	    "toTimeZone(timestamp, 'UTC')",
	    "timeZoneOf(timestamp)",
	    "timeZoneOffset(timestamp)",
	    "toYear(timestamp)",
	    "toQuarter(timestamp)",
	    "toMonth(timestamp)",
	    "toDayOfYear(timestamp)",
	    "toDayOfMonth(timestamp)",
	    "toDayOfWeek(timestamp)",
	    "toDayOfWeek(timestamp, 1)",
	    "toDayOfWeek(timestamp, 1, 'UTC')",
	    "toHour(timestamp)",
	    "toMinute(timestamp)",
	    "toSecond(timestamp)",
	    "toUnixTimestamp(timestamp)",
	    "toUnixTimestamp(timestamp, 'UTC')",
	    "toUnixTimestamp64Milli(timestamp)",
	    "fromUnixTimestamp(1)",
	    "fromUnixTimestamp64Milli(1)",
	    "toStartOfInterval(timestamp, INTERVAL 1 DAY)",
	    "toStartOfYear(timestamp)",
	    "toStartOfISOYear(timestamp)",
	    "toStartOfQuarter(timestamp)",
	    "toStartOfMonth(timestamp)",
	    "toLastDayOfMonth(timestamp)",
	    "toMonday(timestamp)",
	    "toStartOfWeek(timestamp)",
	    "toStartOfWeek(timestamp, 1)",
	    "toLastDayOfWeek(timestamp)",
	    "toLastDayOfWeek(timestamp, 1)",
	    "toStartOfDay(timestamp)",
	    "toStartOfDay(timestamp, 'UTC')",
	    "toStartOfHour(timestamp)",
	    "toStartOfMinute(timestamp)",
	    "toStartOfSecond(timestamp)",
	    "toStartOfFiveMinutes(timestamp)",
	    "toStartOfTenMinutes(timestamp)",
	    "toStartOfFifteenMinutes(timestamp)",
	    "toTime(timestamp)",
	    "toISOYear(timestamp)",
	    "toISOWeek(timestamp)",
	    "toWeek(timestamp)",
	    "toWeek(timestamp, 1)",
	    "toWeek(timestamp, 1, 'UTC')",
	    "toYearWeek(timestamp)",
	    "toYearWeek(timestamp, 1)",
	    "toYearWeek(timestamp, 1, 'UTC')",
	    "age('day', timestamp, now())",
	    "dateAdd('day', 1, timestamp)",
	    "dateAdd(timestamp, INTERVAL 1 DAY)",
	    "dateSub('day', 1, timestamp)",
	    "dateSub(timestamp, INTERVAL 1 DAY)",
	    "timeStampAdd(timestamp, INTERVAL 1 DAY)",
	    "timeStampSub(timestamp, INTERVAL 1 DAY)",
	    "dateDiff('day', timestamp, now())",
	    "dateTrunc('day', timestamp)",
	    "dateTrunc('day', timestamp, 'UTC')",
	    "dateName('day', timestamp)",
	    "monthName(timestamp)",
	    "formatDateTime(timestamp, '%F')",
	    "formatDateTime(timestamp, '%F', 'UTC')",
	    "toYYYYMM(timestamp)",
	    "toYYYYMMDD(timestamp)",
	    "toYYYYMMDDhhmmss(timestamp)",
	    "addYears(timestamp, 1)",
	    "addMonths(timestamp, 1)",
	    "addWeeks(timestamp, 1)",
	    "addDays(timestamp, 1)",
	    "addHours(timestamp, 1)",
	    "addMinutes(timestamp, 1)",
	    "addSeconds(timestamp, 1)",
	    "addQuarters(timestamp, 1)",
	    "subtractYears(timestamp, 1)",
	    "subtractMonths(timestamp, 1)",
	    "subtractWeeks(timestamp, 1)",
	    "subtractDays(timestamp, 1)",
	    "subtractHours(timestamp, 1)",
	    "subtractMinutes(timestamp, 1)",
	    "subtractSeconds(timestamp, 1)",
	    "subtractQuarters(timestamp, 1)",
	    "timeSlot(timestamp)",
	    "timeSlots(timestamp, 600)",
	    "timeSlots(timestamp, 600, 60)",
	    "parseDateTimeBestEffort('2024-01-01')",
	    "parseDateTimeBestEffort('2024-01-01', 'UTC')",
	    "current_timestamp()",
	};
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		char q[512];
		snprintf(q, sizeof(q), "SELECT count() FROM (SELECT %s AS x" ONE ")", calls[i]);
		check(f, "Europe/Berlin", q, "1");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_week_modes),
	    cmocka_unit_test(test_week_ends_and_names),
	    cmocka_unit_test(test_zone_functions),
	    cmocka_unit_test(test_time_of_day),
	    cmocka_unit_test(test_age),
	    cmocka_unit_test(test_unix_millis),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_all_names),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
