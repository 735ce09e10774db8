/*
 * test_ingest.c — the WAL consumer with a fake sink: order, durability before
 * consumption, flush by age and by request, checkpoints after flushes only,
 * retries after sink errors, drain on stop, restart from the checkpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/ingest.h"

struct fake {
	char **recs;
	size_t n, flushed_n;
	int fail_consume; /* refuse this many consume calls */
	int fail_flush;	  /* refuse this many flush calls */
	int flushes;
	size_t full_at; /* report full at this many unflushed records (0 = never) */
};

static int f_consume(void *ctx, const struct sn_wal_entry *e, struct sn_err *err)
{
	struct fake *f = ctx;
	if (f->fail_consume > 0) {
		f->fail_consume--;
		return sn_err_set(err, SN_ERR_IO, "injected consume failure");
	}
	f->recs = realloc(f->recs, (f->n + 1) * sizeof(*f->recs));
	f->recs[f->n] = strndup(e->data, e->len);
	f->n++;
	return 0;
}

static int f_flush(void *ctx, struct sn_err *err)
{
	struct fake *f = ctx;
	if (f->fail_flush > 0) {
		f->fail_flush--;
		return sn_err_set(err, SN_ERR_IO, "injected flush failure");
	}
	f->flushes++;
	f->flushed_n = f->n;
	return 0;
}

static bool f_full(void *ctx)
{
	struct fake *f = ctx;
	return f->full_at && f->n - f->flushed_n >= f->full_at;
}

static void fake_free(struct fake *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->recs[i]);
	free(f->recs);
	memset(f, 0, sizeof(*f));
}

static char dir[256];

static int setup(void **state)
{
	(void)state;
	const char *base = getenv("SNOUT_TEST_TMP");
	char tmpl[200];
	snprintf(tmpl, sizeof(tmpl), "%s/ingest-XXXXXX", base && *base ? base : "/tmp");
	sn_mkdir_p(base && *base ? base : "/tmp", NULL);
	assert_non_null(mkdtemp(tmpl));
	snprintf(dir, sizeof(dir), "%s", tmpl);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct sn_wal *open_wal(void)
{
	struct sn_wal *w;
	struct sn_wal_options o = {.dir = dir, .segment_bytes = 64 * 1024};
	assert_int_equal(sn_wal_open(&w, &o, NULL), 0);
	return w;
}

static uint64_t append(struct sn_wal *w, int from, int n)
{
	uint64_t end = 0;
	for (int i = from; i < from + n; i++) {
		char rec[128];
		int len = snprintf(
		    rec, sizeof(rec),
		    "{\"uuid\":\"u%d\",\"now\":\"2025-01-01T12:00:00.000Z\",\"i\":%d}", i, i);
		struct sn_wal_rec r = {SN_WAL_EVENT, rec, (uint32_t)len};
		assert_int_equal(sn_wal_append(w, &r, 1, &end, NULL), 0);
	}
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	return end;
}

static void check_order(struct fake *f, int n)
{
	assert_int_equal(f->n, n);
	for (int i = 0; i < n; i++) {
		char want[32];
		snprintf(want, sizeof(want), "\"i\":%d}", i);
		assert_non_null(strstr(f->recs[i], want));
	}
}

static void test_sync_order_checkpoint(void **state)
{
	(void)state;
	struct sn_wal *w = open_wal();
	struct fake f = {0};
	struct sn_ingest_sink sink = {&f, f_consume, f_flush, f_full};
	struct sn_ingest_options o = {.wal_dir = dir, .flush_age_ms = 60000};
	struct sn_ingest *in;
	uint64_t end = append(w, 0, 500);
	assert_int_equal(sn_ingest_start(&in, w, &o, &sink, NULL), 0);
	end = append(w, 500, 500); /* while it runs; crosses segments */
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	check_order(&f, 1000);
	struct sn_ingest_stats st;
	sn_ingest_get_stats(in, &st);
	assert_int_equal(st.checkpoint_lsn, end);
	assert_int_equal(st.records_flushed, 1000);
	assert_int_equal(st.lag_events, 0);
	struct sn_wal_stats ws;
	sn_wal_get_stats(w, &ws);
	assert_int_equal(ws.checkpoint_lsn, end); /* the WAL checkpoint moved */
	struct sn_buf m;
	sn_buf_init(&m, 0);
	sn_metrics_render(&m);
	assert_non_null(strstr(m.data, "snout_ingest_lag_events 0\n"));
	assert_non_null(strstr(m.data, "snout_ingest_lag_seconds 0.000000\n"));
	assert_non_null(strstr(m.data, "snout_ingest_records_total 1000\n"));
	sn_buf_release(&m);
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&f);

	/* Restart: nothing is consumed twice. */
	w = open_wal();
	assert_int_equal(sn_ingest_start(&in, w, &o, &sink, NULL), 0);
	append(w, 1000, 3);
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	assert_int_equal(f.n, 3);
	assert_non_null(strstr(f.recs[0], "\"i\":1000}"));
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&f);
}

static void test_flush_by_age_and_full(void **state)
{
	(void)state;
	struct sn_wal *w = open_wal();
	struct fake f = {.full_at = 100};
	struct sn_ingest_sink sink = {&f, f_consume, f_flush, f_full};
	struct sn_ingest_options o = {.wal_dir = dir, .flush_age_ms = 150, .idle_poll_ms = 5};
	struct sn_ingest *in;
	assert_int_equal(sn_ingest_start(&in, w, &o, &sink, NULL), 0);
	append(w, 0, 350);
	/* Without any sync: "full" flushes at 100, 200, 300 and age flushes
	 * the rest within about 150 ms. */
	struct sn_ingest_stats st;
	for (int i = 0; i < 400; i++) {
		sn_ingest_get_stats(in, &st);
		if (st.records_flushed == 350)
			break;
		usleep(10000);
	}
	assert_int_equal(st.records_flushed, 350);
	assert_true(f.flushes >= 4);
	check_order(&f, 350);
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&f);
}

static void test_retries(void **state)
{
	(void)state;
	struct sn_wal *w = open_wal();
	struct fake f = {.fail_consume = 3, .fail_flush = 2};
	struct sn_ingest_sink sink = {&f, f_consume, f_flush, NULL};
	struct sn_ingest_options o = {.wal_dir = dir, .flush_age_ms = 60000};
	struct sn_ingest *in;
	uint64_t end = append(w, 0, 20);
	assert_int_equal(sn_ingest_start(&in, w, &o, &sink, NULL), 0);
	assert_int_equal(sn_ingest_sync(in, 20000), 0);
	check_order(&f, 20); /* the refused record was offered again, in order */
	struct sn_ingest_stats st;
	sn_ingest_get_stats(in, &st);
	assert_int_equal(st.errors, 5);
	assert_int_equal(st.checkpoint_lsn, end);
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&f);
}

static void test_no_checkpoint_without_flush(void **state)
{
	(void)state;
	struct sn_wal *w = open_wal();
	struct fake f = {.fail_flush = 1000000};
	struct sn_ingest_sink sink = {&f, f_consume, f_flush, NULL};
	struct sn_ingest_options o = {.wal_dir = dir, .flush_age_ms = 10};
	struct sn_ingest *in;
	append(w, 0, 10);
	assert_int_equal(sn_ingest_start(&in, w, &o, &sink, NULL), 0);
	/* The sink never becomes durable: sync times out, the checkpoint stays. */
	assert_int_equal(sn_ingest_sync(in, 500), SN_ERR_TOO_BIG);
	struct sn_ingest_stats st;
	sn_ingest_get_stats(in, &st);
	assert_int_equal(st.checkpoint_lsn, 0);
	assert_int_equal(st.lag_events, 10);
	assert_true(st.lag_seconds > 0);
	sn_ingest_stop(in); /* gives up flushing after a few tries instead of hanging */
	sn_wal_close(w);
	fake_free(&f);
	/* Reopen: all ten come again (nothing was checkpointed). */
	w = open_wal();
	struct fake g = {0};
	struct sn_ingest_sink s2 = {&g, f_consume, f_flush, NULL};
	assert_int_equal(sn_ingest_start(&in, w, &o, &s2, NULL), 0);
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	check_order(&g, 10);
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&g);
}

static void test_record_time(void **state)
{
	(void)state;
	const char *r = "{\"uuid\":\"x\",\"distinct_id\":\"\\\"now\\\":\\\"\",\"now\":"
			"\"2025-01-01T12:00:00.250Z\",\"event\":\"e\"}";
	assert_int_equal(sn_ingest_record_time(r, (uint32_t)strlen(r)), 1735732800250000LL);
	assert_int_equal(sn_ingest_record_time("{\"a\":1}", 7), 0);
	int64_t us;
	assert_int_equal(sn_time_parse_rfc3339_ms("2025-01-01T12:00:00.25Z", 23, &us),
			 SN_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sync_order_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_by_age_and_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_checkpoint_without_flush, setup, teardown),
	    cmocka_unit_test(test_record_time),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
