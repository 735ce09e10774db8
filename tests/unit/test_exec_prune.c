/*
 * test_exec_prune.c — the executor's time range from WHERE: every way of
 * writing a constant instant (plain text, toDateTime with and without a
 * zone, toDateTime64, assumeNotNull, arithmetic with INTERVALs, now()
 * pinned by opts.now_us) bounds the scan to the same granules and answers
 * the same rows; a constant that does not evaluate fails the query as it
 * did before the planner looked at it.
 *
 * The part: 48 events of team 1, one an hour from 2024-12-01 00:00 UTC,
 * in granules of 4 rows (12 granules, 4 hours each).
 *
 * The event terms: event names longer than the sparse index keeps of them
 * (its entries cut at SN_GRANULE_EVENT_MAX bytes) through `=`, IN and OR,
 * where a cut entry must never prune a granule holding the name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec_fixture.h"

#define T0 1733011200LL /* 2024-12-01 00:00:00 UTC */

static void setup_part(struct xfx *f)
{
	xfx_open(f, "test_exec_prune");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	for (int i = 0; i < 48; i++)
		xfx_event(&mt, i, 1, T0 + 3600LL * i, "d", "e", "{}");
	xfx_write(f, &mt, 4);
}

/* Runs q; its TSV must be want and it must have read granules granules. */
static void check(struct xfx *f, const char *q, const char *want, uint64_t granules)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	if (sn_exec_query(&f->opts, q, strlen(q), &res, &err))
		fail_msg("query failed: %s: %s", err.msg, q);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	assert_int_equal(sn_exec_result_tsv(&b, &res), 0);
	assert_int_equal(sn_buf_appendc(&b, 0), 0);
	if (strcmp(b.data, want) != 0)
		fail_msg("%s\n got: %s\nwant: %s", q, b.data, want);
	if (res.stats.granules_read != granules)
		fail_msg("%s: read %llu granules, want %llu", q,
			 (unsigned long long)res.stats.granules_read, (unsigned long long)granules);
	sn_buf_release(&b);
	sn_exec_result_release(&res);
}

/* [06:00, 14:00) on 2024-12-01: events 6..13, granules 1..3 (hours 4-15). */
static void test_constant_instants(void **state)
{
	(void)state;
	struct xfx f;
	setup_part(&f);
	const char *want = "c\tlo\thi\n8\t2024-12-01T06:00:00Z\t2024-12-01T13:00:00Z\n";
	static const char *const forms[][2] = {
	    {"'2024-12-01 06:00:00'", "'2024-12-01 14:00:00'"},
	    {"toDateTime('2024-12-01 06:00:00')", "toDateTime('2024-12-01 14:00:00')"},
	    {"toDateTime('2024-12-01 06:00:00', 'UTC')",
	     "toDateTime('2024-12-01 14:00:00', 'UTC')"},
	    /* the same instants written in another zone */
	    {"toDateTime('2024-12-01 07:00:00', 'Europe/Berlin')",
	     "toDateTime('2024-12-01 09:00:00', 'America/New_York')"},
	    {"toDateTime64('2024-12-01 06:00:00', 6, 'UTC')",
	     "assumeNotNull(toDateTime('2024-12-01 14:00:00', 'UTC'))"},
	    {"toDateTime('2024-12-01 00:00:00', 'UTC') + INTERVAL 6 HOUR",
	     "toStartOfDay(toDateTime('2024-12-01 20:00:00', 'UTC')) + toIntervalHour(14)"},
	    /* opts.now_us is pinned below to 2024-12-01 20:00 UTC */
	    {"now() - INTERVAL 14 HOUR", "now() - INTERVAL 6 HOUR"},
	};
	f.opts.now_us = (T0 + 20 * 3600LL) * 1000000LL;
	for (size_t i = 0; i < SN_ARRAY_LEN(forms); i++) {
		char q[512];
		snprintf(
		    q, sizeof(q),
		    "SELECT count() AS c, min(timestamp) AS lo, max(timestamp) AS hi FROM events "
		    "WHERE timestamp >= %s AND timestamp < %s",
		    forms[i][0], forms[i][1]);
		check(&f, q, want, 3);
		/* and written the other way round */
		snprintf(
		    q, sizeof(q),
		    "SELECT count() AS c, min(timestamp) AS lo, max(timestamp) AS hi FROM events "
		    "WHERE %s <= timestamp AND %s > timestamp",
		    forms[i][0], forms[i][1]);
		check(&f, q, want, 3);
	}
	/* BETWEEN, inclusive: [06:00, 13:00] */
	check(&f,
	      "SELECT count() AS c, min(timestamp) AS lo, max(timestamp) AS hi FROM events WHERE "
	      "timestamp BETWEEN toDateTime('2024-12-01 06:00:00', 'UTC') AND "
	      "toDateTime('2024-12-01 13:00:00', 'UTC')",
	      want, 3);
	/* A Date bound: the day's midnight (hours 24..27: granule 6). */
	check(&f,
	      "SELECT count() AS c FROM events WHERE timestamp >= toDate('2024-12-02') + 0 AND "
	      "timestamp < toDateTime('2024-12-02 04:00:00', 'UTC')",
	      "c\n4\n", 1);
	/* An expression of a column is not a constant: every granule is read. */
	check(
	    &f,
	    "SELECT count() AS c FROM events WHERE timestamp >= toDateTime('2024-12-01 06:00:00', "
	    "'UTC') + toIntervalSecond(length(event) - 1)",
	    "c\n42\n", 12);
	xfx_close(&f);
}

/* A constant the planner cannot evaluate still fails the query, with the
 * error execution gives. */
static void test_bad_constant(void **state)
{
	(void)state;
	struct xfx f;
	setup_part(&f);
	struct sn_hogql_error e =
	    xfx_error(&f, "SELECT count() FROM events WHERE timestamp >= "
			  "toDateTime('2024-12-01 00:00:00', 'Mars/Olympus')");
	assert_non_null(strstr(e.msg, "Mars/Olympus"));
	/* Text that is no time is NULL (OrNull semantics): no row, no bound. */
	check(&f, "SELECT count() AS c FROM events WHERE timestamp >= toDateTime('soon', 'UTC')",
	      "c\n0\n", 12);
	xfx_close(&f);
}

/* Event names past the SN_GRANULE_EVENT_MAX bytes a sparse-index entry
 * keeps: two of 300 bytes alike in their first 299, one of exactly 256 (the
 * cut of both), one shorter, one after them; all of one team and day in
 * granules of 8, so the entries of a run of granules are all the same cut
 * name. Pruning must read a cut entry as a bound, never as the name. */
static void test_long_event_names(void **state)
{
	(void)state;
	static char names[5][301];
	static const int counts[5] = {20, 36, 44, 52, 12};
	memset(names, 0, sizeof(names));
	sn_test_long_event_names(names, SN_GRANULE_EVENT_MAX);
	names[4][0] = 'f';
	struct xfx f;
	xfx_open(&f, "test_exec_prune");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	int n = 0;
	for (int k = 0; k < 5; k++)
		for (int i = 0; i < counts[k]; i++, n++)
			xfx_event(&mt, n, 1, T0 + n, "d", names[k], "{}");
	xfx_write(&f, &mt, 8);

	/* Absent names that sort among them: their cuts equal the entries. */
	static char absent[4][301];
	memset(absent, 0, sizeof(absent));
	memset(absent[0], 'e', 299);
	absent[0][299] = '0';
	memset(absent[1], 'e', 299);
	absent[1][299] = '3';
	memset(absent[2], 'e', SN_GRANULE_EVENT_MAX + 1);
	memset(absent[3], 'e', 300);
	char q[2048], want[64];
	for (uint32_t run = 1; run <= 3; run++) {
		f.opts.run_granules = run;
		for (int k = 0; k < 5; k++) {
			snprintf(want, sizeof(want), "c\n%d\n", counts[k]);
			snprintf(q, sizeof(q), "SELECT count() AS c FROM events WHERE event = '%s'",
				 names[k]);
			xfx_check(&f, q, want);
			snprintf(q, sizeof(q),
				 "SELECT count() AS c FROM events WHERE event = '%s' AND "
				 "distinct_id = 'd'",
				 names[k]);
			xfx_check(&f, q, want);
			snprintf(q, sizeof(q),
				 "SELECT countIf(event = '%s') AS c FROM events WHERE event IN "
				 "('%s')",
				 names[k], names[k]);
			xfx_check(&f, q, want);
		}
		for (int k = 0; k < 4; k++) {
			snprintf(q, sizeof(q), "SELECT count() AS c FROM events WHERE event = '%s'",
				 absent[k]);
			xfx_check(&f, q, "c\n0\n");
		}
		snprintf(q, sizeof(q),
			 "SELECT count() AS c FROM events WHERE event IN ('%s', '%s')", names[2],
			 names[3]);
		snprintf(want, sizeof(want), "c\n%d\n", counts[2] + counts[3]);
		xfx_check(&f, q, want);
		snprintf(q, sizeof(q),
			 "SELECT count() AS c FROM events WHERE event IN ('%s', '%s')", names[1],
			 names[3]);
		snprintf(want, sizeof(want), "c\n%d\n", counts[1] + counts[3]);
		xfx_check(&f, q, want);
		snprintf(q, sizeof(q),
			 "SELECT count() AS c FROM events WHERE event = '%s' OR event = '%s'",
			 names[0], names[2]);
		snprintf(want, sizeof(want), "c\n%d\n", counts[0] + counts[2]);
		xfx_check(&f, q, want);
		snprintf(q, sizeof(q),
			 "SELECT count() AS c FROM events WHERE event IN ('%s', '%s', 'f')",
			 absent[0], absent[3]);
		snprintf(want, sizeof(want), "c\n%d\n", counts[4]);
		xfx_check(&f, q, want);
	}
	xfx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_constant_instants),
	    cmocka_unit_test(test_bad_constant),
	    cmocka_unit_test(test_long_event_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
