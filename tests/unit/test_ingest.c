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

#include <dirent.h>

#include "ingest/ingest.h"
#include "store/store.h"

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

/* ---- the store sink ------------------------------------------------------------------ */

static uint64_t append_event(struct sn_wal *w, int i, const char *ts)
{
	char rec[512], now[32];
	sn_time_format_rfc3339(sn_now_us(), now); /* "now" drives the flush age */
	int len =
	    snprintf(rec, sizeof(rec),
		     "{\"uuid\":\"0193dc33-e981-7160-b398-%012d\",\"distinct_id\":\"user\\\"%d\","
		     "\"ip\":\"127.0.0.1\",\"team_id\":%d,\"token\":\"phc_x\","
		     "\"timestamp\":\"%s\",\"now\":\"%s\","
		     "\"event\":\"ev%d\",\"data\":{\"event\":\"ev%d\",\"properties\":"
		     "{\"$session_id\":\"s%d\",\"$browser\":\"Firefox\",\"i\":%d}}}",
		     i, i, 1 + i % 2, ts, now, i % 3, i % 3, i, i);
	struct sn_wal_rec r = {SN_WAL_EVENT, rec, (uint32_t)len};
	uint64_t end;
	assert_int_equal(sn_wal_append(w, &r, 1, &end, NULL), 0);
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	return end;
}

static size_t count_parts(const char *store, uint64_t *rows)
{
	DIR *d = opendir(store);
	assert_non_null(d);
	struct dirent *de;
	size_t n = 0;
	*rows = 0;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, SN_PART_SUFFIX) || strstr(de->d_name, ".tmp"))
			continue;
		char path[600];
		snprintf(path, sizeof(path), "%s/%s", store, de->d_name);
		struct sn_part *p;
		assert_int_equal(sn_part_open(path, &p, NULL), 0);
		*rows += sn_part_nrows(p);
		sn_part_unref(p);
		n++;
	}
	closedir(d);
	return n;
}

static void test_store_sink(void **state)
{
	(void)state;
	char waldir[300], store[300];
	snprintf(waldir, sizeof(waldir), "%s/wal", dir);
	snprintf(store, sizeof(store), "%s/store", dir);
	struct sn_wal *w;
	struct sn_wal_options wo = {.dir = waldir};
	assert_int_equal(sn_wal_open(&w, &wo, NULL), 0);
	struct sn_store_sink *sink;
	uint64_t resume = 99;
	assert_int_equal(sn_store_sink_open(&sink, dir, 0, &resume, NULL), 0);
	assert_int_equal(resume, 0);
	struct sn_ingest_sink vt;
	sn_store_sink_vtable(sink, &vt);
	struct sn_ingest_options o = {.wal_dir = waldir, .flush_age_ms = 60000};
	struct sn_ingest *in;
	assert_int_equal(sn_ingest_start(&in, w, &o, &vt, NULL), 0);
	for (int i = 0; i < 30; i++)
		append_event(w, i,
			     i < 10 ? "2024-11-30T23:59:59.000Z" : "2024-12-01T00:00:00.000Z");
	/* A recording upload goes to the recordings file, not the store. */
	const char *recd = "{\"uuid\":\"x\",\"session_id\":\"s\"}";
	struct sn_wal_rec r = {SN_WAL_RECORDING, recd, (uint32_t)strlen(recd)};
	uint64_t end;
	assert_int_equal(sn_wal_append(w, &r, 1, &end, NULL), 0);
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	uint64_t rows;
	assert_int_equal(count_parts(store, &rows), 2); /* November and December */
	assert_int_equal(rows, 30);

	/* The rows hold what the records said. */
	DIR *d = opendir(store);
	struct dirent *de;
	char path[600] = "";
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "202412_", 7) == 0)
			snprintf(path, sizeof(path), "%s/%s", store, de->d_name);
	closedir(d);
	struct sn_part *p;
	assert_int_equal(sn_part_open(path, &p, NULL), 0);
	assert_int_equal(sn_part_nrows(p), 20);
	struct sn_arena a;
	sn_arena_init(&a, 0);
	struct sn_colvec dids, browsers;
	int col = sn_part_find_column(p, SN_COL_NAME_DISTINCT_ID);
	assert_true(col >= 0);
	assert_int_equal(
	    sn_part_read_column(p, (size_t)col, 0, sn_part_ngranules(p), &a, &dids, NULL), 0);
	bool seen = false;
	for (size_t i = 0; i < dids.nrows; i++)
		if (dids.str[i].len == 7 && memcmp(dids.str[i].p, "user\"15", 7) == 0)
			seen = true; /* the escaped quote was decoded */
	assert_true(seen);
	assert_int_equal(
	    sn_part_read_property(p, "$browser", 0, sn_part_ngranules(p), &a, &browsers, NULL), 0);
	assert_int_equal(browsers.nrows, 20);
	assert_int_equal(browsers.str[0].len, 7);
	assert_memory_equal(browsers.str[0].p, "Firefox", 7);
	sn_arena_release(&a);
	sn_part_unref(p);
	sn_ingest_stop(in);
	sn_store_sink_close(sink);

	char recpath[400];
	snprintf(recpath, sizeof(recpath), "%s/recordings/pending.jsonl", dir);
	FILE *f = fopen(recpath, "r");
	assert_non_null(f);
	char line[200];
	assert_non_null(fgets(line, sizeof(line), f));
	assert_string_equal(line, "{\"uuid\":\"x\",\"session_id\":\"s\"}\n");
	fclose(f);

	/* A crash after the flush but before the checkpoint: reopening with the
	 * old checkpoint must not ingest anything twice. Simulate by writing
	 * more events, flushing the sink by hand, and not checkpointing. */
	struct sn_wal_stats ws;
	sn_wal_get_stats(w, &ws);
	uint64_t ckpt = ws.checkpoint_lsn;
	for (int i = 30; i < 35; i++)
		append_event(w, i, "2024-12-02T00:00:00.000Z");
	assert_int_equal(sn_store_sink_open(&sink, dir, 0, &resume, NULL), 0);
	assert_int_equal(resume, ckpt);
	sn_store_sink_vtable(sink, &vt);
	struct sn_wal_reader *rd;
	assert_int_equal(sn_wal_reader_open(&rd, waldir, ckpt, NULL), 0);
	struct sn_wal_entry e;
	while (sn_wal_reader_next(rd, &e, NULL) == 1)
		assert_int_equal(vt.consume(vt.ctx, &e, NULL), 0);
	sn_wal_reader_close(rd);
	assert_int_equal(vt.flush(vt.ctx, NULL), 0);
	sn_store_sink_close(sink);
	assert_int_equal(count_parts(store, &rows), 3);
	assert_int_equal(rows, 35);
	/* Restart: the sink reports the new position, ingest skips to it. */
	assert_int_equal(sn_store_sink_open(&sink, dir, 0, &resume, NULL), 0);
	assert_true(resume > ckpt);
	sn_store_sink_vtable(sink, &vt);
	o.resume_lsn = resume;
	assert_int_equal(sn_ingest_start(&in, w, &o, &vt, NULL), 0);
	append_event(w, 35, "2024-12-02T00:00:00.000Z");
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	sn_ingest_stop(in);
	sn_store_sink_close(sink);
	count_parts(store, &rows);
	assert_int_equal(rows, 36); /* 35 + 1, nothing twice */

	/* A flush cut short (one of its two parts missing) is undone at open. */
	for (int i = 36; i < 40; i++)
		append_event(w, i, i % 2 ? "2025-01-05T00:00:00.000Z" : "2025-02-05T00:00:00.000Z");
	assert_int_equal(sn_store_sink_open(&sink, dir, 0, &resume, NULL), 0);
	sn_store_sink_vtable(sink, &vt);
	assert_int_equal(sn_wal_reader_open(&rd, waldir, resume, NULL), 0);
	while (sn_wal_reader_next(rd, &e, NULL) == 1)
		assert_int_equal(vt.consume(vt.ctx, &e, NULL), 0);
	sn_wal_reader_close(rd);
	assert_int_equal(vt.flush(vt.ctx, NULL), 0);
	sn_store_sink_close(sink);
	d = opendir(store);
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "202502_", 7) == 0)
			snprintf(path, sizeof(path), "%s/%s", store, de->d_name);
	closedir(d);
	assert_int_equal(unlink(path), 0);
	uint64_t resume2;
	assert_int_equal(sn_store_sink_open(&sink, dir, 0, &resume2, NULL), 0);
	assert_int_equal(resume2, resume); /* back to before the broken flush */
	sn_store_sink_close(sink);
	count_parts(store, &rows);
	assert_int_equal(rows, 36); /* its January part was removed too */
	sn_wal_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sync_order_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_by_age_and_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_checkpoint_without_flush, setup, teardown),
	    cmocka_unit_test(test_record_time),
	    cmocka_unit_test_setup_teardown(test_store_sink, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
