/*
 * test_exec_sample.c — FROM events SAMPLE k [OFFSET o] (exec.c
 * sample_where): the rows whose distinct id's sample key (cityHash64 of
 * it, PostHog's key) lies in [o, o + k) of the 64-bit range. 400 users of 5
 * events each, over two parts; the expected counts are worked out here from
 * the hash itself, per ratio and offset. Also: a user's events are all in or
 * all out, complementary ranges add up to the table, SAMPLE composes with
 * WHERE and GROUP BY, SAMPLE in rows (a ratio of the rows the scan's
 * granules hold after pruning), and the errors (an offset without
 * sampling, tables without a sampling key, a zero denominator).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec_fixture.h"

#define T0     1733011200LL /* 2024-12-01 00:00:00 UTC */
#define NUSERS 400
#define PER    5

static char g_dids[NUSERS][8];

static void setup(struct xfx *f)
{
	xfx_open(f, "test_exec_sample");
	int i = 0;
	for (int part = 0; part < 2; part++) { /* users split over two parts */
		struct sn_memtable mt;
		sn_memtable_init(&mt, 0);
		for (int u = part; u < NUSERS; u += 2) {
			snprintf(g_dids[u], sizeof(g_dids[u]), "u%d", u);
			for (int e = 0; e < PER; e++)
				xfx_event(&mt, i++ & 0xff, 1, T0 + u * 60 + e, g_dids[u],
					  e == 0 ? "a" : "b", "{}");
		}
		/* xfx_write names every part 1: the second gets its own id */
		struct sn_err err = {0};
		struct sn_part_write_opts o = {.granule_rows = 64, .no_fsync = true};
		struct sn_part_written *w = NULL;
		size_t nw = 0;
		assert_int_equal(
		    sn_memtable_flush(&mt, f->dir, 1 + (uint64_t)part, &o, &w, &nw, &err), 0);
		free(w);
		sn_memtable_release(&mt);
	}
}

/* Users whose key is in [o, o + k) of the range (no top once past 1). */
static int users_in(double k, double o)
{
	long double lo = ldexpl((long double)o, 64), hi = ldexpl((long double)o + k, 64);
	int n = 0;
	for (int u = 0; u < NUSERS; u++) {
		long double h = (long double)sn_cityhash64(g_dids[u], strlen(g_dids[u]));
		n += h >= lo && (hi >= ldexpl(1.0L, 64) || h < hi);
	}
	return n;
}

static void test_ratios(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	static const struct {
		const char *text; /* as written after SAMPLE */
		double k, o;
	} cases[] = {
	    {"0.1", 0.1, 0},
	    {"1/10", 0.1, 0},
	    {"0.5", 0.5, 0},
	    {"0.5 OFFSET 0.5", 0.5, 0.5},
	    {"0.25 OFFSET 0.6", 0.25, 0.6},
	    {"0.3 OFFSET 0.9", 0.3, 0.9},
	    {"1/3 OFFSET 1/3", 1.0 / 3, 1.0 / 3},
	};
	int all = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = users_in(cases[i].k, cases[i].o);
		assert_true(n > 0 && n < NUSERS); /* each range holds some users, not all */
		char q[256], want[128];
		snprintf(q, sizeof(q),
			 "select count() as c, uniqExact(distinct_id) as u from events sample %s",
			 cases[i].text);
		snprintf(want, sizeof(want), "c\tu\n%d\t%d\n", n * PER, n);
		xfx_check(&f, q, want);
		if (i == 2 || i == 3)
			all += n;
	}
	assert_int_equal(all, NUSERS); /* [0, 0.5) and [0.5, 1) cover everyone */
	/* SAMPLE 1 and SAMPLE 0 are no sampling, as in ClickHouse */
	xfx_check(&f, "select count() as c from events sample 1", "c\n2000\n");
	xfx_check(&f, "select count() as c from events sample 0", "c\n2000\n");
	xfx_check(&f, "select count() as c from events sample 2/2", "c\n2000\n");
	/* an upper bound that truncates to 0 selects nothing (ClickHouse's no_data) */
	xfx_check(&f, "select count() as c from events sample 1e-30", "c\n0\n");
	xfx_close(&f);
}

static void test_users_whole_and_composed(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	/* every sampled user keeps all five events */
	xfx_check(&f,
		  "select count() as users from (select distinct_id, count() as n from events "
		  "sample 0.4 group by distinct_id having n != 5)",
		  "users\n0\n");
	/* with WHERE and GROUP BY: one 'a' event per sampled user */
	int n = users_in(0.4, 0);
	char want[128];
	snprintf(want, sizeof(want), "event\tc\na\t%d\nb\t%d\n", n, n * (PER - 1));
	xfx_check(&f,
		  "select event, count() as c from events sample 0.4 group by event order by event",
		  want);
	snprintf(want, sizeof(want), "c\n%d\n", n);
	xfx_check(&f, "select count() as c from events sample 0.4 where event = 'a'", want);
	/* an alias on the table */
	snprintf(want, sizeof(want), "c\n%d\n", n * PER);
	xfx_check(&f, "select count() as c from events as e sample 0.4 where e.event != 'zz'",
		  want);
	xfx_close(&f);
}

/* SAMPLE n: n / (rows of the granules the scan reads) as a ratio, capped at
 * 1, ClickHouse's conversion of an absolute sample size; offsets alike. */
static void test_rows(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	char want[128];
	/* 2000 rows, no pruning: 500 rows is a quarter */
	snprintf(want, sizeof(want), "c\n%d\n", users_in(0.25, 0) * PER);
	xfx_check(&f, "select count() as c from events sample 500", want);
	xfx_check(&f, "select count() as c from events sample 1/4", want);
	xfx_check(&f, "select count() as c from (select distinct_id from events sample 500)", want);
	snprintf(want, sizeof(want), "c\n%d\n", users_in(0.5, 0.5) * PER);
	xfx_check(&f, "select count() as c from events sample 1000 offset 1000", want);
	xfx_check(&f, "select count() as c from events sample 0.5 offset 1000", want);
	/* more rows than there are: no sampling; an offset past the end: nothing */
	xfx_check(&f, "select count() as c from events sample 100000", "c\n2000\n");
	xfx_check(&f, "select count() as c from events sample 2000", "c\n2000\n");
	xfx_check(&f, "select count() as c from events sample 0.5 offset 5000", "c\n0\n");
	/* Pruned by event: the ratio is of the rows in the granules the scan
	 * reads (the statistics' rows_read), fewer than the table's. */
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	const char *q = "select count() from events where event = 'a'";
	assert_int_equal(sn_exec_query(&f.opts, q, strlen(q), &res, &err), 0);
	uint64_t read = res.stats.rows_read;
	sn_exec_result_release(&res);
	assert_true(read >= 400 && read < 2000);
	snprintf(want, sizeof(want), "c\n%d\n", users_in(128.0 / (double)read, 0));
	xfx_check(&f, "select count() as c from events sample 128 where event = 'a'", want);
	/* a team with no rows: nothing to sample, nothing read */
	xfx_check(&f, "select count() as c from events sample 10 where event = 'zz'", "c\n0\n");
	xfx_close(&f);
}

static void test_errors(void **state)
{
	(void)state;
	struct xfx f;
	setup(&f);
	struct sn_hogql_error e = xfx_error(&f, "select count() from events sample 1 offset 0.5");
	assert_string_equal(e.msg, "Sampling offset is incorrect because no sampling");
	/* in rows: the size covers every row read, so there is no sampling */
	e = xfx_error(&f, "select count() from events sample 5000 offset 3");
	assert_string_equal(e.msg, "Sampling offset is incorrect because no sampling");
	e = xfx_error(&f, "select count() from events sample 0 offset 0.5");
	assert_string_equal(e.msg, "Sampling offset is incorrect because no sampling");
	e = xfx_error(&f, "select count() from events sample 1/0");
	assert_string_equal(e.msg, "Division by zero in SAMPLE");
	e = xfx_error(&f, "select count() from persons sample 0.1");
	assert_string_equal(e.msg, "Illegal SAMPLE: table persons doesn't support sampling");
	e = xfx_error(&f, "select count() from (select * from events) sample 0.1");
	assert_non_null(strstr(e.msg, "SAMPLE on a subquery"));
	xfx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ratios),
	    cmocka_unit_test(test_users_whole_and_composed),
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
