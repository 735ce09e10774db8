/*
 * test_wal.c — the write-ahead log as its users see it: what was appended
 * and made durable comes back byte for byte after a reopen, concurrent
 * appenders share fsyncs, callbacks fire in LSN order, segments roll and are
 * deleted by checkpoints, and damaged files (torn tails, flipped bytes) are
 * recovered without losing a record that precedes the damage.
 *
 * Every test works in its own mkdtemp directory under $SNOUT_TEST_TMP (or
 * /tmp) and removes it at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testutil.h"

#include "wal/wal.h"
#include "wal/wal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------- */

static struct sn_wal *open_wal(const char *dir, uint64_t segment_bytes, size_t buffer_bytes,
			       uint32_t max_record)
{
	struct sn_wal_options opt = {.dir = dir,
				     .segment_bytes = segment_bytes,
				     .buffer_bytes = buffer_bytes,
				     .max_record_bytes = max_record};
	struct sn_wal *w = NULL;
	struct sn_err err = {0};
	int rc = sn_wal_open(&w, &opt, &err);
	if (rc)
		fail_msg("sn_wal_open(%s): %d %s", dir, rc, err.msg);
	return w;
}

/* Deterministic payload: a readable tag, then bytes derived from it. */
static uint32_t fill_payload(char *buf, uint32_t len, unsigned tag, unsigned i)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "t%02u-i%05u-", tag, i);
	for (uint32_t j = 0; j < len; j++)
		buf[j] = j < (uint32_t)n ? head[j] : (char)('a' + (tag * 7 + i * 13 + j) % 26);
	return len;
}

static uint64_t append1(struct sn_wal *w, uint8_t type, const void *data, uint32_t len)
{
	struct sn_wal_rec rec = {type, data, len};
	uint64_t end = 0;
	struct sn_err err = {0};
	int rc = sn_wal_append(w, &rec, 1, &end, &err);
	if (rc)
		fail_msg("append: %d %s", rc, err.msg);
	return end;
}

struct got {
	uint64_t lsn, end_lsn;
	uint8_t type;
	uint32_t len;
	char *data;
};

struct got_list {
	struct got *v;
	size_t n, cap;
};

static void got_free(struct got_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].data);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Reads everything from from_lsn with a fresh reader, copying the entries. */
static struct got_list read_all(const char *dir, uint64_t from_lsn)
{
	struct got_list l = {0};
	struct sn_wal_reader *r;
	struct sn_err err = {0};
	struct sn_wal_entry e;
	int rc = sn_wal_reader_open(&r, dir, from_lsn, &err);
	if (rc)
		fail_msg("reader_open: %d %s", rc, err.msg);
	while ((rc = sn_wal_reader_next(r, &e, &err)) == 1) {
		if (l.n == l.cap) {
			l.cap = l.cap ? l.cap * 2 : 64;
			l.v = realloc(l.v, l.cap * sizeof(*l.v));
			assert_non_null(l.v);
		}
		struct got *g = &l.v[l.n++];
		g->lsn = e.lsn;
		g->end_lsn = e.end_lsn;
		g->type = e.type;
		g->len = e.len;
		g->data = malloc(e.len + 1);
		assert_non_null(g->data);
		memcpy(g->data, e.data, e.len);
	}
	if (rc)
		fail_msg("reader_next: %d %s", rc, err.msg);
	sn_wal_reader_close(r);
	return l;
}

static void assert_contiguous(const struct got_list *l)
{
	for (size_t i = 1; i < l->n; i++)
		assert_int_equal(l->v[i].lsn, l->v[i - 1].end_lsn);
}

static uint64_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static size_t count_segments(const char *dir)
{
	uint64_t *segs;
	size_t n;
	assert_int_equal(sn_wal_list_segments(dir, &segs, &n, NULL), 0);
	free(segs);
	return n;
}

static void seg_path(char *out, const char *dir, uint64_t base)
{
	sn_wal_segment_path(out, PATH_MAX, dir, base);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 0, 0, 0);

	static const char a[] = "{\"event\":\"$pageview\"}";
	char b[5000];
	fill_payload(b, sizeof(b), 1, 2);
	struct sn_wal_rec batch[2] = {{SN_WAL_RECORDING, b, sizeof(b)}, {SN_WAL_EVENT, "", 0}};
	uint64_t end_a = append1(w, SN_WAL_EVENT, a, sizeof(a) - 1);
	uint64_t end_batch = 0;
	assert_int_equal(sn_wal_append(w, batch, 2, &end_batch, NULL), 0);
	assert_int_equal(end_a, SN_WAL_HDR + sizeof(a) - 1);
	assert_int_equal(end_batch, end_a + 2 * SN_WAL_HDR + sizeof(b));
	assert_int_equal(sn_wal_wait_durable(w, end_batch), 0);

	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.durable_lsn, end_batch);
	assert_int_equal(st.head_lsn, end_batch);
	assert_int_equal(st.records_appended, 3);
	assert_true(st.bytes_written >= end_batch);
	assert_true(st.fsyncs >= 1);
	assert_true(sn_wal_writable(w));
	sn_wal_close(w);

	w = open_wal(dir, 0, 0, 0);
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.records_recovered, 3);
	assert_int_equal(st.corrupt_bytes, 0);
	assert_int_equal(st.head_lsn, end_batch);
	sn_wal_close(w);

	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].lsn, 0);
	assert_int_equal(l.v[0].end_lsn, end_a);
	assert_int_equal(l.v[0].type, SN_WAL_EVENT);
	assert_int_equal(l.v[0].len, sizeof(a) - 1);
	assert_memory_equal(l.v[0].data, a, sizeof(a) - 1);
	assert_int_equal(l.v[1].lsn, end_a);
	assert_int_equal(l.v[1].type, SN_WAL_RECORDING);
	assert_int_equal(l.v[1].len, sizeof(b));
	assert_memory_equal(l.v[1].data, b, sizeof(b));
	assert_int_equal(l.v[2].type, SN_WAL_EVENT);
	assert_int_equal(l.v[2].len, 0);
	assert_int_equal(l.v[2].end_lsn, end_batch);
	got_free(&l);

	/* From a record boundary, and from inside a record (next one wins). */
	l = read_all(dir, end_a);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].lsn, end_a);
	got_free(&l);
	l = read_all(dir, end_a + 7);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].lsn, end_a + SN_WAL_HDR + sizeof(b));
	got_free(&l);
	l = read_all(dir, end_batch);
	assert_int_equal(l.n, 0);
	got_free(&l);

	struct sn_buf m;
	sn_buf_init(&m, 0);
	sn_metrics_render(&m);
	assert_non_null(strstr(m.data, "snout_wal_records_total"));
	assert_non_null(strstr(m.data, "snout_wal_fsync_seconds_count"));
	assert_null(strstr(m.data, "snout_wal_fsyncs_total 0\n"));
	sn_buf_release(&m);
	sn_test_rm_rf(dir);
}

#define NTHREADS   8
#define PER_THREAD 2000
#define WAIT_EVERY 50

struct appender {
	struct sn_wal *w;
	unsigned tag;
	uint64_t last;
};

static void *appender_main(void *arg)
{
	struct appender *a = arg;
	char buf[400];
	for (unsigned i = 0; i < PER_THREAD; i++) {
		uint32_t len = fill_payload(buf, 40 + (i * 7 + a->tag) % 300, a->tag, i);
		struct sn_wal_rec rec = {SN_WAL_EVENT, buf, len};
		if (sn_wal_append(a->w, &rec, 1, &a->last, NULL))
			return (void *)1;
		if ((i + 1) % WAIT_EVERY == 0 && sn_wal_wait_durable(a->w, a->last))
			return (void *)1;
	}
	return NULL;
}

static void test_concurrent_appends(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 256 << 10, 64 << 10, 0);
	pthread_t th[NTHREADS];
	struct appender ap[NTHREADS];
	for (unsigned t = 0; t < NTHREADS; t++) {
		ap[t] = (struct appender){w, t, 0};
		assert_int_equal(pthread_create(&th[t], NULL, appender_main, &ap[t]), 0);
	}
	for (unsigned t = 0; t < NTHREADS; t++) {
		void *ret;
		pthread_join(th[t], &ret);
		assert_null(ret);
		assert_int_equal(sn_wal_wait_durable(w, ap[t].last), 0);
	}
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.records_appended, NTHREADS * PER_THREAD);
	/* Group commit: many appends shared each fsync. */
	assert_true(st.fsyncs < NTHREADS * PER_THREAD);
	print_message("      %u records, %" PRIu64 " fsyncs, %" PRIu64 " segments\n",
		      NTHREADS * PER_THREAD, st.fsyncs, st.segments);
	sn_wal_close(w);

	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, NTHREADS * PER_THREAD);
	assert_contiguous(&l);
	static bool seen[NTHREADS][PER_THREAD];
	memset(seen, 0, sizeof(seen));
	int next[NTHREADS] = {0};
	char want[400];
	for (size_t k = 0; k < l.n; k++) {
		unsigned t, i;
		assert_int_equal(sscanf(l.v[k].data, "t%02u-i%05u-", &t, &i), 2);
		assert_true(t < NTHREADS && i < PER_THREAD);
		assert_false(seen[t][i]);
		seen[t][i] = true;
		/* One thread's appends appear in the order it made them. */
		assert_int_equal(i, next[t]++);
		uint32_t len = fill_payload(want, 40 + (i * 7 + t) % 300, t, i);
		assert_int_equal(l.v[k].len, len);
		assert_memory_equal(l.v[k].data, want, len);
	}
	got_free(&l);
	sn_test_rm_rf(dir);
}

struct cb_log {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int order[16];
	int status[16];
	int n;
};

struct cb_arg {
	struct cb_log *log;
	int tag;
};

static void on_durable(void *arg, int status)
{
	struct cb_arg *a = arg;
	pthread_mutex_lock(&a->log->mu);
	a->log->order[a->log->n] = a->tag;
	a->log->status[a->log->n] = status;
	a->log->n++;
	pthread_cond_broadcast(&a->log->cv);
	pthread_mutex_unlock(&a->log->mu);
}

static void wait_callbacks(struct cb_log *log, int n)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	pthread_mutex_lock(&log->mu);
	while (log->n < n)
		if (pthread_cond_timedwait(&log->cv, &log->mu, &ts) == ETIMEDOUT)
			break;
	int got = log->n;
	pthread_mutex_unlock(&log->mu);
	assert_int_equal(got, n);
}

static void test_when_durable_order(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 0, 0, 0);
	struct cb_log log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	struct cb_arg args[6];
	for (int i = 0; i < 6; i++)
		args[i] = (struct cb_arg){&log, i};

	sn_wal_test_pause_flusher(w, true);
	uint64_t a = append1(w, SN_WAL_EVENT, "a", 1);
	uint64_t b = append1(w, SN_WAL_EVENT, "bb", 2);
	uint64_t c = append1(w, SN_WAL_EVENT, "ccc", 3);
	/* Registered out of order; must fire by LSN, ties in registration order. */
	assert_int_equal(sn_wal_when_durable(w, c, on_durable, &args[3]), 0);
	assert_int_equal(sn_wal_when_durable(w, a, on_durable, &args[1]), 0);
	assert_int_equal(sn_wal_when_durable(w, b, on_durable, &args[2]), 0);
	assert_int_equal(sn_wal_when_durable(w, a, on_durable, &args[4]), 0);
	assert_int_equal(sn_wal_when_durable(w, c + 1, on_durable, &args[5]), SN_ERR_INVALID);
	/* Already durable: fires at once, in this thread. */
	assert_int_equal(sn_wal_when_durable(w, 0, on_durable, &args[0]), 0);
	assert_int_equal(log.n, 1);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.durable_lsn, 0);

	sn_wal_test_pause_flusher(w, false);
	assert_int_equal(sn_wal_wait_durable(w, c), 0);
	wait_callbacks(&log, 5);
	int want[5] = {0, 1, 4, 2, 3};
	for (int i = 0; i < 5; i++) {
		assert_int_equal(log.order[i], want[i]);
		assert_int_equal(log.status[i], 0);
	}
	sn_wal_close(w);
	assert_int_equal(log.n, 5); /* exactly once each */
	sn_test_rm_rf(dir);
}

static void test_close_fires_pending(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 0, 0, 0);
	struct cb_log log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	struct cb_arg arg = {&log, 7};
	sn_wal_test_pause_flusher(w, true);
	uint64_t end = append1(w, SN_WAL_EVENT, "x", 1);
	assert_int_equal(sn_wal_when_durable(w, end, on_durable, &arg), 0);
	assert_int_equal(log.n, 0);
	sn_wal_close(w); /* drains despite the pause */
	assert_int_equal(log.n, 1);
	assert_int_equal(log.status[0], 0);
	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, 1);
	got_free(&l);
	sn_test_rm_rf(dir);
}

#define ROLL_SEG  4096
#define ROLL_LEN  300
#define ROLL_RECS 100
#define PER_SEG	  (ROLL_SEG / (SN_WAL_HDR + ROLL_LEN))

/* Appends ROLL_RECS records of ROLL_LEN bytes in batches of 7. */
static void append_rolling(struct sn_wal *w, uint64_t *ends)
{
	char buf[7][ROLL_LEN];
	for (unsigned i = 0; i < ROLL_RECS; i += 7) {
		struct sn_wal_rec recs[7];
		size_t n = 0;
		for (unsigned k = i; k < i + 7 && k < ROLL_RECS; k++, n++) {
			fill_payload(buf[n], ROLL_LEN, 5, k);
			recs[n] = (struct sn_wal_rec){SN_WAL_EVENT, buf[n], ROLL_LEN};
		}
		uint64_t end;
		assert_int_equal(sn_wal_append(w, recs, n, &end, NULL), 0);
		for (size_t k = 0; k < n; k++)
			ends[i + k] = end - (n - 1 - k) * (SN_WAL_HDR + ROLL_LEN);
	}
	assert_int_equal(sn_wal_wait_durable(w, ends[ROLL_RECS - 1]), 0);
}

static void check_rolling_record(const struct got *g, unsigned k)
{
	char want[ROLL_LEN];
	fill_payload(want, ROLL_LEN, 5, k);
	assert_int_equal(g->lsn, (uint64_t)k * (SN_WAL_HDR + ROLL_LEN));
	assert_int_equal(g->len, ROLL_LEN);
	assert_memory_equal(g->data, want, ROLL_LEN);
}

static void test_rollover(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	uint64_t ends[ROLL_RECS];
	struct sn_wal *w = open_wal(dir, ROLL_SEG, 0, 0);
	append_rolling(w, ends);
	size_t nseg = (ROLL_RECS + PER_SEG - 1) / PER_SEG;
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.segments, nseg);
	sn_wal_close(w);

	assert_int_equal(count_segments(dir), nseg);
	for (size_t s = 0; s < nseg; s++) {
		seg_path(path, dir, s * PER_SEG * (SN_WAL_HDR + ROLL_LEN));
		uint64_t size = file_size(path);
		assert_true(size <= ROLL_SEG);
		assert_true(size > 0);
	}
	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, ROLL_RECS);
	for (unsigned k = 0; k < ROLL_RECS; k++)
		check_rolling_record(&l.v[k], k);
	got_free(&l);

	/* From the middle of the third segment. */
	l = read_all(dir, ends[2 * PER_SEG + 2]);
	assert_int_equal(l.n, ROLL_RECS - (2 * PER_SEG + 3));
	check_rolling_record(&l.v[0], 2 * PER_SEG + 3);
	got_free(&l);

	w = open_wal(dir, ROLL_SEG, 0, 0);
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.records_recovered, ROLL_RECS);
	assert_int_equal(st.segments, nseg);
	assert_int_equal(st.head_lsn, ends[ROLL_RECS - 1]);
	sn_wal_close(w);
	sn_test_rm_rf(dir);
}

/* wal_keep_size: consumed segments stay, up to keep_bytes, and stay readable. */
static void test_checkpoint_keep(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	uint64_t ends[ROLL_RECS];
	struct sn_wal_options opt = {
	    .dir = dir, .segment_bytes = ROLL_SEG, .keep_bytes = 3 * ROLL_SEG};
	struct sn_wal *w = NULL;
	assert_int_equal(sn_wal_open(&w, &opt, NULL), 0);
	append_rolling(w, ends);
	size_t nseg = (ROLL_RECS + PER_SEG - 1) / PER_SEG;
	assert_int_equal(sn_wal_checkpoint(w, ends[ROLL_RECS - 1], NULL), 0);
	/* All but the last segment are consumed; at most 3 segments' worth stay. */
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_true(nseg > 5);
	assert_int_equal(st.segments, 4); /* 3 kept + the live one */
	sn_wal_removals_wait(w);	  /* deleted by the reaper thread */
	assert_int_equal(count_segments(dir), 4);
	sn_wal_close(w);
	/* Reopen: the kept ones survive recovery and a reader still sees them. */
	assert_int_equal(sn_wal_open(&w, &opt, NULL), 0);
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.segments, 4);
	assert_int_equal(st.records_recovered, 0);
	struct sn_wal_reader *r;
	assert_int_equal(sn_wal_reader_open(&r, dir, 0, NULL), 0);
	struct sn_wal_entry e;
	size_t n = 0;
	while (sn_wal_reader_next(r, &e, NULL) == 1)
		n++;
	sn_wal_reader_close(r);
	assert_true(n >= 3 * PER_SEG && n < ROLL_RECS);
	sn_wal_close(w);
	sn_test_rm_rf(dir);
}

static void test_checkpoint(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	uint64_t ends[ROLL_RECS], ck;
	struct sn_err err = {0};
	struct sn_wal *w = open_wal(dir, ROLL_SEG, 0, 0);
	append_rolling(w, ends);
	size_t nseg = (ROLL_RECS + PER_SEG - 1) / PER_SEG;

	assert_int_equal(sn_wal_read_checkpoint(dir, &ck, NULL), 0);
	assert_int_equal(ck, 0);
	assert_int_equal(sn_wal_checkpoint(w, ends[ROLL_RECS - 1] + 1, &err), SN_ERR_INVALID);
	assert_true(strlen(err.msg) > 0);

	/* Record 50 starts in segment 50 / PER_SEG; all before it go. */
	uint64_t at = ends[49];
	size_t gone = 50 / PER_SEG;
	assert_int_equal(sn_wal_checkpoint(w, at, &err), 0);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.checkpoint_lsn, at);
	assert_int_equal(st.segments, nseg - gone);
	sn_wal_removals_wait(w);
	assert_int_equal(count_segments(dir), nseg - gone);
	seg_path(path, dir, 0);
	assert_int_equal(access(path, F_OK), -1);
	seg_path(path, dir, gone * PER_SEG * (SN_WAL_HDR + ROLL_LEN));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(sn_wal_read_checkpoint(dir, &ck, NULL), 0);
	assert_int_equal(ck, at);

	/* Going backwards changes nothing. */
	assert_int_equal(sn_wal_checkpoint(w, ends[3], &err), 0);
	assert_int_equal(sn_wal_read_checkpoint(dir, &ck, NULL), 0);
	assert_int_equal(ck, at);
	sn_wal_close(w);

	w = open_wal(dir, ROLL_SEG, 0, 0);
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.checkpoint_lsn, at);
	assert_int_equal(st.records_recovered, ROLL_RECS - 50);
	assert_int_equal(st.segments, nseg - gone);
	sn_wal_close(w);

	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, ROLL_RECS - gone * PER_SEG);
	check_rolling_record(&l.v[0], gone * PER_SEG);
	got_free(&l);

	/* A checkpoint at the very end deletes everything but the last segment. */
	w = open_wal(dir, ROLL_SEG, 0, 0);
	assert_int_equal(sn_wal_checkpoint(w, ends[ROLL_RECS - 1], &err), 0);
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.segments, 1);
	uint64_t end = append1(w, SN_WAL_EVENT, "after", 5);
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	sn_wal_close(w);
	assert_int_equal(count_segments(dir), 1); /* close waited for the deletions */
	l = read_all(dir, ends[ROLL_RECS - 1]);
	assert_int_equal(l.n, 1);
	assert_memory_equal(l.v[0].data, "after", 5);
	got_free(&l);
	sn_test_rm_rf(dir);
}

/* Writes 20 records to a fresh log and returns their end LSNs. */
#define TORN_RECS 20
static void write_twenty(const char *dir, uint64_t *ends)
{
	struct sn_wal *w = open_wal(dir, 0, 0, 0);
	char buf[400];
	for (unsigned i = 0; i < TORN_RECS; i++) {
		uint32_t len = fill_payload(buf, 100 + i * 11, 3, i);
		ends[i] = append1(w, SN_WAL_EVENT, buf, len);
	}
	assert_int_equal(sn_wal_wait_durable(w, ends[TORN_RECS - 1]), 0);
	sn_wal_close(w);
}

static void check_twenty(const struct got_list *l, size_t n)
{
	char want[400];
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = fill_payload(want, 100 + i * 11, 3, i);
		assert_int_equal(l->v[i].len, len);
		assert_memory_equal(l->v[i].data, want, len);
	}
}

enum damage { CUT_MID_RECORD, CUT_MID_HEADER, GARBAGE, ZEROS };

static void torn_tail(enum damage d)
{
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	uint64_t ends[TORN_RECS];
	write_twenty(dir, ends);
	seg_path(path, dir, 0);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	size_t complete = TORN_RECS;
	uint64_t junk = 0;
	char bytes[777];
	switch (d) {
	case CUT_MID_RECORD:
		assert_int_equal(ftruncate(fd, (off_t)ends[TORN_RECS - 2] + 40), 0);
		complete = TORN_RECS - 1;
		junk = 40;
		break;
	case CUT_MID_HEADER:
		assert_int_equal(ftruncate(fd, (off_t)ends[TORN_RECS - 2] + 5), 0);
		complete = TORN_RECS - 1;
		junk = 5;
		break;
	case GARBAGE:
		srand(42);
		for (size_t i = 0; i < sizeof(bytes); i++)
			bytes[i] = (char)rand();
		memcpy(bytes + 100, SN_WAL_MAGIC, 4); /* a false start, too */
		assert_int_equal(pwrite(fd, bytes, sizeof(bytes), (off_t)ends[TORN_RECS - 1]),
				 sizeof(bytes));
		junk = sizeof(bytes);
		break;
	case ZEROS:
		memset(bytes, 0, sizeof(bytes));
		for (int k = 0; k < 5; k++)
			assert_int_equal(pwrite(fd, bytes, sizeof(bytes),
						(off_t)(ends[TORN_RECS - 1] + k * sizeof(bytes))),
					 sizeof(bytes));
		junk = 5 * sizeof(bytes);
		break;
	}
	close(fd);
	uint64_t good_end = ends[complete - 1];

	struct sn_wal *w = open_wal(dir, 0, 0, 0);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.records_recovered, complete);
	assert_int_equal(st.corrupt_bytes, junk);
	assert_int_equal(st.head_lsn, good_end);
	assert_int_equal(file_size(path), good_end); /* cut off */
	uint64_t end = append1(w, SN_WAL_RECORDING, "after the cut", 13);
	assert_int_equal(end, good_end + SN_WAL_HDR + 13);
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	sn_wal_close(w);

	w = open_wal(dir, 0, 0, 0);
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.records_recovered, complete + 1);
	assert_int_equal(st.corrupt_bytes, 0);
	sn_wal_close(w);
	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, complete + 1);
	assert_contiguous(&l);
	check_twenty(&l, complete);
	assert_int_equal(l.v[complete].lsn, good_end);
	assert_int_equal(l.v[complete].type, SN_WAL_RECORDING);
	assert_memory_equal(l.v[complete].data, "after the cut", 13);
	got_free(&l);
	sn_test_rm_rf(dir);
}

static void test_torn_tail_cut_mid_record(void **state)
{
	(void)state;
	torn_tail(CUT_MID_RECORD);
}

static void test_torn_tail_cut_mid_header(void **state)
{
	(void)state;
	torn_tail(CUT_MID_HEADER);
}

static void test_torn_tail_garbage(void **state)
{
	(void)state;
	torn_tail(GARBAGE);
}

static void test_torn_tail_zeros(void **state)
{
	(void)state;
	torn_tail(ZEROS);
}

/* Flips one byte at ends[victim - 1] + at_in_record and checks that only
 * record `victim` is lost, by recovery and by a reader alike. */
static void corrupt_middle(unsigned victim, uint64_t at_in_record)
{
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	uint64_t ends[TORN_RECS];
	write_twenty(dir, ends);
	seg_path(path, dir, 0);
	uint64_t size = file_size(path);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	char ch;
	off_t off = (off_t)(ends[victim - 1] + at_in_record);
	assert_int_equal(pread(fd, &ch, 1, off), 1);
	ch ^= 0x5a;
	assert_int_equal(pwrite(fd, &ch, 1, off), 1);
	close(fd);

	/* The reader skips it without a writer around. */
	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, TORN_RECS - 1);
	got_free(&l);

	struct sn_wal *w = open_wal(dir, 0, 0, 0);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.records_recovered, TORN_RECS - 1);
	assert_int_equal(st.corrupt_bytes, ends[victim] - ends[victim - 1]);
	assert_int_equal(st.head_lsn, ends[TORN_RECS - 1]);
	assert_int_equal(file_size(path), size); /* nothing cut */
	uint64_t end = append1(w, SN_WAL_EVENT, "later", 5);
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	sn_wal_close(w);

	l = read_all(dir, 0);
	assert_int_equal(l.n, TORN_RECS);
	char want[400];
	for (unsigned i = 0, k = 0; i < TORN_RECS; i++) {
		if (i == victim)
			continue;
		uint32_t len = fill_payload(want, 100 + i * 11, 3, i);
		assert_int_equal(l.v[k].lsn, i ? ends[i - 1] : 0);
		assert_int_equal(l.v[k].len, len);
		assert_memory_equal(l.v[k].data, want, len);
		k++;
	}
	assert_memory_equal(l.v[TORN_RECS - 1].data, "later", 5);
	got_free(&l);
	sn_test_rm_rf(dir);
}

static void test_corrupt_payload_middle(void **state)
{
	(void)state;
	corrupt_middle(10, SN_WAL_HDR + 50);
}

static void test_corrupt_header_middle(void **state)
{
	(void)state;
	corrupt_middle(7, 5); /* the length field */
}

/* A payload that carries the image of a valid record (a recording of a WAL
 * file, say) must never surface as a record when resynchronising over it. */
static void test_resync_ignores_embedded_record(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 0, 0, 0);
	char inner[SN_WAL_HDR + 6], outer[200];
	uint64_t e0 = append1(w, SN_WAL_EVENT, "first", 5);
	/* The embedded image is valid in every way but one: it sits at
	 * e0 + 28 + 40, not at the LSN its header names. */
	sn_wal_hdr_encode(inner, 12345, SN_WAL_EVENT, 6, sn_crc32(0, "inside", 6));
	memcpy(inner + SN_WAL_HDR, "inside", 6);
	memset(outer, 'x', sizeof(outer));
	memcpy(outer + 40, inner, sizeof(inner));
	uint64_t e1 = append1(w, SN_WAL_RECORDING, outer, sizeof(outer));
	uint64_t e2 = append1(w, SN_WAL_EVENT, "last", 4);
	assert_int_equal(sn_wal_wait_durable(w, e2), 0);
	sn_wal_close(w);

	seg_path(path, dir, 0);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "XX", 2, (off_t)e0), 2); /* break the outer magic */
	close(fd);

	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, 2);
	assert_memory_equal(l.v[0].data, "first", 5);
	assert_memory_equal(l.v[1].data, "last", 4);
	got_free(&l);
	w = open_wal(dir, 0, 0, 0);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.records_recovered, 2);
	assert_int_equal(st.corrupt_bytes, e1 - e0);
	sn_wal_close(w);
	sn_test_rm_rf(dir);
}

/* The resync scan reads 64 KiB at a time; a magic split across two reads
 * must still be found. Record A is sized so that, with its magic broken,
 * B's magic starts 2 bytes before the end of the first 64 KiB scanned. */
static void test_resync_across_scan_chunks(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 0, 0, 0);
	uint32_t alen = 65535 - SN_WAL_HDR;
	char *a = calloc(1, alen);
	assert_non_null(a);
	uint64_t e0 = append1(w, SN_WAL_EVENT, "zero", 4);
	uint64_t ea = append1(w, SN_WAL_EVENT, a, alen);
	assert_int_equal(ea - e0, 65535);
	uint64_t eb = append1(w, SN_WAL_EVENT, "bee", 3);
	assert_int_equal(sn_wal_wait_durable(w, eb), 0);
	sn_wal_close(w);
	free(a);

	seg_path(path, dir, 0);
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, (off_t)e0), 1);
	close(fd);
	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[1].lsn, ea);
	assert_memory_equal(l.v[1].data, "bee", 3);
	got_free(&l);
	sn_test_rm_rf(dir);
}

struct small_appender {
	struct sn_wal *w;
	uint64_t last;
	int rc;
};

static void *small_appender_main(void *arg)
{
	struct small_appender *a = arg;
	char buf[200];
	for (unsigned i = 0; i < 500 && !a->rc; i++) {
		uint32_t len = fill_payload(buf, 60 + i % 100, 9, i);
		struct sn_wal_rec rec = {SN_WAL_EVENT, buf, len};
		a->rc = sn_wal_append(a->w, &rec, 1, &a->last, NULL);
	}
	return NULL;
}

static void test_record_bigger_than_buffer(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	enum { BUF = 64 << 10, BIG = 1 << 20 };
	struct sn_wal *w = open_wal(dir, 0, BUF, 0);
	char *big = malloc(BIG);
	assert_non_null(big);

	/* Small appends race the big ones; order and contents must hold. */
	struct small_appender sa = {w, 0, 0};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, small_appender_main, &sa), 0);
	uint64_t big_end[3];
	for (unsigned k = 0; k < 3; k++) {
		fill_payload(big, BIG, 8, k);
		big_end[k] = append1(w, SN_WAL_RECORDING, big, BIG);
	}
	/* A batch of small records that together exceed the buffer. */
	struct sn_wal_rec many[200];
	char(*pay)[1000] = malloc(200 * 1000);
	assert_non_null(pay);
	for (unsigned k = 0; k < 200; k++) {
		fill_payload(pay[k], 1000, 7, k);
		many[k] = (struct sn_wal_rec){SN_WAL_EVENT, pay[k], 1000};
	}
	uint64_t many_end;
	assert_int_equal(sn_wal_append(w, many, 200, &many_end, NULL), 0);
	pthread_join(th, NULL);
	assert_int_equal(sa.rc, 0);
	assert_int_equal(sn_wal_wait_durable(w, many_end), 0);
	assert_int_equal(sn_wal_wait_durable(w, sa.last), 0);
	sn_wal_close(w);

	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, 3 + 200 + 500);
	assert_contiguous(&l);
	unsigned nbig = 0, nmany = 0, nsmall = 0;
	for (size_t i = 0; i < l.n; i++) {
		const struct got *g = &l.v[i];
		if (g->len == BIG) {
			fill_payload(big, BIG, 8, nbig);
			assert_memory_equal(g->data, big, BIG);
			assert_int_equal(g->end_lsn, big_end[nbig]);
			nbig++;
		} else if (g->data[1] == '0' && g->data[2] == '7') {
			assert_memory_equal(g->data, pay[nmany], 1000);
			nmany++;
		} else {
			char want[200];
			uint32_t len = fill_payload(want, 60 + nsmall % 100, 9, nsmall);
			assert_int_equal(g->len, len);
			assert_memory_equal(g->data, want, len);
			nsmall++;
		}
	}
	assert_int_equal(nbig, 3);
	assert_int_equal(nmany, 200);
	assert_int_equal(nsmall, 500);
	/* The batch is contiguous: no other append interleaved. */
	for (size_t i = 0; i < l.n; i++) {
		if (l.v[i].end_lsn == many_end) {
			assert_true(i >= 199);
			assert_int_equal(l.v[i - 199].lsn, many_end - 200 * (SN_WAL_HDR + 1000));
		}
	}
	got_free(&l);
	free(pay);
	free(big);
	sn_test_rm_rf(dir);
}

static void test_oversized_record(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 0, 0, 1000);
	static char buf[1001];
	struct sn_err err = {0};
	uint64_t end = 12345;
	struct sn_wal_rec recs[2] = {{SN_WAL_EVENT, buf, 10}, {SN_WAL_EVENT, buf, 1001}};
	assert_int_equal(sn_wal_append(w, recs, 2, &end, &err), SN_ERR_TOO_BIG);
	assert_non_null(strstr(err.msg, "1001"));
	assert_int_equal(end, 12345);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.head_lsn, 0);
	assert_int_equal(st.records_appended, 0);
	end = append1(w, SN_WAL_EVENT, buf, 1000);
	assert_int_equal(end, SN_WAL_HDR + 1000);
	sn_wal_close(w);

	struct sn_wal_options opt = {.dir = dir, .max_record_bytes = SN_WAL_RECORD_LIMIT + 1u};
	assert_int_equal(sn_wal_open(&w, &opt, &err), SN_ERR_INVALID);
	assert_null(w);
	sn_test_rm_rf(dir);
}

static void test_empty_directory(void **state)
{
	(void)state;
	char dir[PATH_MAX], sub[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct got_list l = read_all(dir, 0); /* no segments at all */
	assert_int_equal(l.n, 0);
	got_free(&l);

	snprintf(sub, sizeof(sub), "%s/a/b", dir); /* created on open */
	struct sn_wal *w = open_wal(sub, 0, 0, 0);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.head_lsn, 0);
	assert_int_equal(st.durable_lsn, 0);
	assert_int_equal(st.records_recovered, 0);
	assert_int_equal(st.corrupt_bytes, 0);
	assert_int_equal(st.segments, 1);
	assert_int_equal(sn_wal_wait_durable(w, 0), 0);
	assert_int_equal(sn_wal_wait_durable(w, 1), SN_ERR_INVALID);
	uint64_t end = 99;
	assert_int_equal(sn_wal_append(w, NULL, 0, &end, NULL), 0);
	assert_int_equal(end, 0);
	uint64_t ck = 1;
	assert_int_equal(sn_wal_read_checkpoint(sub, &ck, NULL), 0);
	assert_int_equal(ck, 0);
	l = read_all(sub, 0);
	assert_int_equal(l.n, 0);
	got_free(&l);
	sn_wal_close(w);
	sn_test_rm_rf(dir);
}

static void test_not_a_directory(void **state)
{
	(void)state;
	char dir[PATH_MAX], file[PATH_MAX], below[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	snprintf(file, sizeof(file), "%s/plain", dir);
	snprintf(below, sizeof(below), "%s/plain/wal", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("not a log", f);
	fclose(f);

	struct sn_wal *w = (struct sn_wal *)1;
	struct sn_err err = {0};
	struct sn_wal_options opt = {.dir = file};
	assert_int_equal(sn_wal_open(&w, &opt, &err), SN_ERR_IO);
	assert_null(w);
	assert_non_null(strstr(err.msg, "not a directory"));
	opt.dir = below;
	assert_int_equal(sn_wal_open(&w, &opt, &err), SN_ERR_IO);
	opt.dir = "";
	assert_int_equal(sn_wal_open(&w, &opt, &err), SN_ERR_INVALID);

	struct sn_wal_reader *r;
	assert_int_equal(sn_wal_reader_open(&r, file, 0, &err), SN_ERR_IO);
	uint64_t ck;
	assert_int_equal(sn_wal_read_checkpoint(file, &ck, &err), SN_ERR_IO);
	sn_test_rm_rf(dir);
}

static void test_corrupt_checkpoint_file(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	uint64_t ends[TORN_RECS], ck;
	write_twenty(dir, ends);
	snprintf(path, sizeof(path), "%s/checkpoint", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("SNCK garbage", f);
	fclose(f);
	assert_int_equal(sn_wal_read_checkpoint(dir, &ck, NULL), SN_ERR_CORRUPT);
	/* Open replays everything rather than refusing to start. */
	struct sn_wal *w = open_wal(dir, 0, 0, 0);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.checkpoint_lsn, 0);
	assert_int_equal(st.records_recovered, TORN_RECS);
	sn_wal_close(w);
	sn_test_rm_rf(dir);
}

static void test_second_writer_refused(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 0, 0, 0), *w2 = NULL;
	struct sn_err err = {0};
	struct sn_wal_options opt = {.dir = dir};
	assert_int_equal(sn_wal_open(&w2, &opt, &err), SN_ERR_IO);
	assert_non_null(strstr(err.msg, "in use"));
	sn_wal_close(w);
	w2 = open_wal(dir, 0, 0, 0);
	sn_wal_close(w2);
	sn_test_rm_rf(dir);
}

static void test_reader_follows_writer(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 2048, 0, 0);
	char buf[300];
	uint64_t end = 0;
	for (unsigned i = 0; i < 5; i++)
		end = append1(w, SN_WAL_EVENT, buf, fill_payload(buf, 300, 4, i));
	assert_int_equal(sn_wal_wait_durable(w, end), 0);

	struct sn_wal_reader *r;
	struct sn_wal_entry e;
	assert_int_equal(sn_wal_reader_open(&r, dir, 0, NULL), 0);
	unsigned n = 0;
	while (sn_wal_reader_next(r, &e, NULL) == 1) {
		assert_int_equal(e.len, fill_payload(buf, 300, 4, n));
		assert_memory_equal(e.data, buf, 300);
		n++;
	}
	assert_int_equal(n, 5);
	for (unsigned i = 5; i < 40; i++)
		end = append1(w, SN_WAL_EVENT, buf, fill_payload(buf, 300, 4, i));
	assert_int_equal(sn_wal_wait_durable(w, end), 0);
	uint64_t prev_end = e.end_lsn;
	while (sn_wal_reader_next(r, &e, NULL) == 1) {
		assert_int_equal(e.lsn, prev_end);
		assert_int_equal(e.len, fill_payload(buf, 300, 4, n));
		assert_memory_equal(e.data, buf, 300);
		prev_end = e.end_lsn;
		n++;
	}
	assert_int_equal(n, 40);
	assert_int_equal(prev_end, end);
	sn_wal_reader_close(r);
	sn_wal_close(w);
	sn_test_rm_rf(dir);
}

static void test_write_failure(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal *w = open_wal(dir, 0, 0, 0);
	uint64_t first = append1(w, SN_WAL_EVENT, "kept", 4);
	assert_int_equal(sn_wal_wait_durable(w, first), 0);

	/* Make the next write fail for real: the file may not grow past 64 KiB. */
	struct rlimit old, lim;
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = 64 << 10;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

	struct cb_log log = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
	struct cb_arg arg = {&log, 1}, arg2 = {&log, 2};
	char *big = calloc(1, 200 << 10);
	assert_non_null(big);
	sn_wal_test_pause_flusher(w, true);
	uint64_t end = append1(w, SN_WAL_EVENT, big, 200 << 10);
	assert_int_equal(sn_wal_when_durable(w, end, on_durable, &arg), 0);
	sn_wal_test_pause_flusher(w, false);
	assert_int_equal(sn_wal_wait_durable(w, end), SN_ERR_IO);
	wait_callbacks(&log, 1);
	assert_int_equal(log.status[0], SN_ERR_IO);
	assert_false(sn_wal_writable(w));
	struct sn_err err = {0};
	struct sn_wal_rec rec = {SN_WAL_EVENT, "x", 1};
	uint64_t e2;
	assert_int_equal(sn_wal_append(w, &rec, 1, &e2, &err), SN_ERR_IO);
	assert_int_equal(sn_wal_when_durable(w, end, on_durable, &arg2), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.status[1], SN_ERR_IO);
	assert_int_equal(sn_wal_wait_durable(w, first), 0); /* still durable */
	sn_wal_close(w);

	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, old_sig);
	free(big);

	/* What did make it is intact; the partial write is cut at reopen. */
	w = open_wal(dir, 0, 0, 0);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.records_recovered, 1);
	assert_int_equal(st.head_lsn, first);
	assert_true(sn_wal_writable(w));
	sn_wal_close(w);
	sn_test_rm_rf(dir);
}

/* ---- scrub: erasing consumed records in place ------------------------------------- */

static bool has_secret(void *ctx, const struct sn_wal_entry *e)
{
	(void)ctx;
	return memmem(e->data, e->len, "SECRET", 6) != NULL;
}

static void test_scrub(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_wal"), 0);
	struct sn_wal_options opt = {.dir = dir, .segment_bytes = 4096, .keep_bytes = 1 << 20};
	struct sn_wal *w = NULL;
	assert_int_equal(sn_wal_open(&w, &opt, NULL), 0);
	uint64_t ends[60];
	char buf[256];
	for (int i = 0; i < 60; i++) {
		int n = snprintf(buf, sizeof(buf), "rec-%02d %s %0150d", i,
				 i % 3 == 0 ? "SECRET" : "public", i);
		ends[i] = append1(w, SN_WAL_EVENT, buf, (uint32_t)n);
	}
	assert_int_equal(sn_wal_wait_durable(w, ends[59]), 0);
	assert_int_equal(sn_wal_checkpoint(w, ends[39], NULL), 0);
	assert_true(count_segments(dir) >= 3); /* kept segments + the live one */

	/* Below a given LSN only, and never past the checkpoint. */
	uint64_t n = 0;
	struct sn_err err = {0};
	assert_int_equal(sn_wal_scrub(dir, ends[19], has_secret, NULL, &n, &err), 0);
	assert_int_equal(n, 7); /* 0, 3, ..., 18 */
	assert_int_equal(sn_wal_scrub(dir, UINT64_MAX, has_secret, NULL, &n, &err), 0);
	assert_int_equal(n, 7); /* 21 ... 39; 42 and later are not consumed */
	assert_int_equal(sn_wal_scrub(dir, UINT64_MAX, has_secret, NULL, &n, &err), 0);
	assert_int_equal(n, 0);

	/* The writer goes on beside it; every record keeps its place. */
	uint64_t last = append1(w, SN_WAL_EVENT, "after", 5);
	assert_int_equal(sn_wal_wait_durable(w, last), 0);
	struct got_list l = read_all(dir, 0);
	assert_int_equal(l.n, 61);
	assert_contiguous(&l);
	for (int i = 0; i < 60; i++) {
		assert_int_equal(l.v[i].end_lsn, ends[i]);
		bool erased = i % 3 == 0 && i < 40;
		assert_int_equal(l.v[i].type, erased ? SN_WAL_SCRUBBED : SN_WAL_EVENT);
		if (erased) {
			for (uint32_t j = 0; j < l.v[i].len; j++)
				assert_int_equal(l.v[i].data[j], 0);
		} else {
			assert_true(strncmp(l.v[i].data, "rec-", 4) == 0);
		}
	}
	got_free(&l);
	sn_wal_close(w);

	/* Recovery sees valid records, no damage; no file holds the secret
	 * below the checkpoint. */
	assert_int_equal(sn_wal_open(&w, &opt, NULL), 0);
	struct sn_wal_stats st;
	sn_wal_get_stats(w, &st);
	assert_int_equal(st.corrupt_bytes, 0);
	assert_int_equal(st.records_recovered, 21);
	sn_wal_close(w);
	uint64_t *bases;
	size_t nseg;
	assert_int_equal(sn_wal_list_segments(dir, &bases, &nseg, NULL), 0);
	size_t secrets = 0;
	for (size_t s = 0; s < nseg; s++) {
		char path[PATH_MAX];
		seg_path(path, dir, bases[s]);
		FILE *fp = fopen(path, "rb");
		assert_non_null(fp);
		static char data[1 << 16];
		size_t len = fread(data, 1, sizeof(data), fp);
		fclose(fp);
		for (const char *p = data; (p = memmem(p, len - (size_t)(p - data), "SECRET", 6));
		     p++)
			secrets++;
	}
	free(bases);
	assert_int_equal(secrets, 6); /* 42, 45, ..., 57: not consumed yet */
	sn_test_rm_rf(dir);
}

int main(void)
{
	sn_log_setup(SN_LOG_ERROR, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_concurrent_appends),
	    cmocka_unit_test(test_when_durable_order),
	    cmocka_unit_test(test_close_fires_pending),
	    cmocka_unit_test(test_rollover),
	    cmocka_unit_test(test_checkpoint),
	    cmocka_unit_test(test_checkpoint_keep),
	    cmocka_unit_test(test_torn_tail_cut_mid_record),
	    cmocka_unit_test(test_torn_tail_cut_mid_header),
	    cmocka_unit_test(test_torn_tail_garbage),
	    cmocka_unit_test(test_torn_tail_zeros),
	    cmocka_unit_test(test_corrupt_payload_middle),
	    cmocka_unit_test(test_corrupt_header_middle),
	    cmocka_unit_test(test_resync_ignores_embedded_record),
	    cmocka_unit_test(test_resync_across_scan_chunks),
	    cmocka_unit_test(test_record_bigger_than_buffer),
	    cmocka_unit_test(test_oversized_record),
	    cmocka_unit_test(test_empty_directory),
	    cmocka_unit_test(test_not_a_directory),
	    cmocka_unit_test(test_corrupt_checkpoint_file),
	    cmocka_unit_test(test_second_writer_refused),
	    cmocka_unit_test(test_reader_follows_writer),
	    cmocka_unit_test(test_write_failure),
	    cmocka_unit_test(test_scrub),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
