/*
 * worker.c — the ingest thread: WAL → sink → checkpoint.
 *
 * One thread, so records reach the sink in WAL order (identity processing
 * will need per-distinct-id order; one consumer gives it for free and is far
 * from the bottleneck). The worker reads the segment files through a WAL
 * reader that tails the live log; a record is handed to the sink only once
 * the WAL says it is durable (a record written but not yet fsynced could
 * vanish in a crash, and its client was never told 200). Such a record is
 * copied aside and waited for; everything else goes to the sink straight
 * from the reader's buffer.
 *
 * Flush policy: when the sink reports full, when the oldest unflushed record
 * was consumed flush_age ago (default 1 s: an event is queryable about a
 * second after it was acknowledged when ingest keeps up; measured from
 * consumption, not from the record's receive time, so a backlog is written
 * in full-second batches instead of one tiny part per burst), when sn_ingest_sync asks, and on
 * stop. After a successful flush the checkpoint moves to the end of the last consumed record; WAL
 * segments behind it are deleted by the WAL.
 *
 * Background flushes (a sink with flush_start/flush_done, the store sink):
 * a flush hands the sink's buffer to its writer and the worker goes on
 * consuming into the next one. One flush is in flight at a time; its
 * records, end position and oldest receive time are kept aside (`fl`) until
 * the sink says it is durable, then the checkpoint moves to its end. The
 * worker waits for it only when the sink is full (back-pressure), when a
 * sync or stop needs everything written, or when there is nothing else to
 * do. Draining a backlog this way overlaps reading and converting records
 * with sorting, encoding and writing parts. A sink whose side state commits
 * apart from its data (settle: the store sink's persons batch) may hold a
 * durable flush back from the checkpoint: it then joins the `landed`
 * flushes, which are checkpointed together once the sink says it holds
 * them (the worker forces that when it has caught up), while the next
 * flushes go on.
 *
 * Read-ahead. A sink with a prepare stage (the store sink: its record scan)
 * gets a second thread, readahead.c, that reads the WAL and prepares records
 * ahead of this one into a ring; this thread then takes records from the
 * ring instead of the reader, in the same order, with the same durability
 * wait and retries (a refused record stays at the ring's head with its
 * prepared state). So the per-record work is split over two cores: on 10M
 * generator events with identity, the ingest thread went from 6.4-6.6 to
 * 5.0-5.2 µs of CPU an event and the rate up 9-19 % (docs/BENCHMARKS.md,
 * session 34). The store sink offers the stage only with identity on.
 *
 * Start-up: records below the sink's own durable position (resume_lsn) are
 * not consumed again, but a sink with a replay callback sees them, so it can
 * rebuild state it commits after its data (the store sink's identity: see
 * the crash protocol in store_sink.c), and is flushed once after them.
 *
 * Errors (sink or reader) are logged, counted and retried after a pause;
 * the record stays pending, so nothing is skipped. Idle, the thread wakes
 * every idle_poll_ms to look for new records (a condvar signalled by the
 * WAL would save those wake-ups; 50 cheap wake-ups a second were judged not
 * worth coupling the two modules). Once it has been idle — caught up, nothing
 * unflushed or in flight — for SN_INGEST_IDLE_MS, it calls the sink's idle
 * hook once (the store sink gives its person cache's memory back), and again
 * only after more work.
 */
#include "ingest.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/ingest_internal.h"
#include "wal/evindex.h"

struct sn_ingest {
	struct sn_wal *wal;
	struct sn_ingest_sink sink;
	struct sn_ingest_options opt;
	struct sn_wal_reader *reader;
	struct sn_readahead *ra; /* the sink prepares records: read ahead (readahead.c) */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond; /* wakes the worker (stop, sync) and sync waiters (checkpoint) */
	bool stopping;
	unsigned sync_requests;

	/* Worker state (stats fields are read under mu). */
	struct sn_buf pending; /* a record not yet durable in the WAL */
	struct sn_wal_entry pend;
	bool have_pending;
	uint64_t durable_cache;
	uint64_t unflushed;	     /* under mu (written by the worker only) */
	int64_t oldest_unflushed_us; /* under mu: receive time of the oldest unflushed record */
	uint64_t first_consumed_ns;  /* when the oldest unflushed record was consumed */
	/* Records consumed since the last publish (worker only): the shared
	 * counters above move once per burst, not under the lock per record. */
	uint64_t pend_n, pend_lsn;
	struct sn_ingest_stats st;
	struct sn_metric_series *m_consumed, *m_flushes, *m_errors;
	/* The background flush in flight (fields under mu; written by the worker). */
	struct {
		bool on;
		uint64_t lsn;	   /* end of its last record */
		uint64_t records;  /* how many records it holds */
		int64_t oldest_us; /* receive time of its oldest record */
	} fl;
	/* Flushes the sink has made durable but whose records it does not yet
	 * hold in full (sn_ingest_sink.settle: its side state, the persons
	 * batch, is still open), merged into one: the checkpoint waits at
	 * their start (fields under mu; written by the worker). */
	struct {
		bool on;
		uint64_t lsn;	   /* end of the last one's last record */
		uint64_t records;  /* how many records they hold */
		uint64_t flushes;  /* how many flushes */
		int64_t oldest_us; /* receive time of the first one's oldest record */
	} landed;
};

int64_t sn_ingest_record_time(uint8_t type, const char *data, uint32_t len)
{
	static const char key[] = "\"now\":\"";
	if (type == SN_WAL_EVENT_IX) {
		struct sn_evix ix;
		int64_t us;
		int rc = sn_evix_open(data, len, &ix, NULL);
		if (rc == 0 && ix.len[SN_EVIX_NOW] == 26)
			return sn_time_parse_rfc3339_ms(ix.json + ix.off[SN_EVIX_NOW] + 1, 24, &us)
				   ? 0
				   : us;
		if (rc && rc != SN_ERR_INVALID)
			return 0;
		data = ix.json; /* another version: its JSON */
		len = ix.json_len;
	}
	size_t n = len < 2048 ? len : 2048, k = sizeof(key) - 1;
	for (size_t i = 0; i + k + 24 <= n; i++) {
		if (data[i] == '"' && memcmp(data + i, key, k) == 0) {
			int64_t us;
			if (sn_time_parse_rfc3339_ms(data + i + k, 24, &us) == 0)
				return us;
			return 0;
		}
	}
	return 0;
}

/* Sleeps up to ms; stop wakes it, and so does a sync request unless we are
 * backing off after an error (a waiting sync must not turn retries into a
 * busy loop). */
static void timed_wait(struct sn_ingest *in, uint64_t ms, bool backoff)
{
	struct timespec ts = sn_deadline_in_ms(ms);
	pthread_mutex_lock(&in->mu);
	if (!in->stopping && (backoff || !in->sync_requests))
		pthread_cond_timedwait(&in->cond, &in->mu, &ts);
	pthread_mutex_unlock(&in->mu);
}

/* The read-ahead's nudge: records wait while this thread may be asleep. */
static void wake(void *arg)
{
	struct sn_ingest *in = arg;
	pthread_mutex_lock(&in->mu);
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->mu);
}

static void count_error(struct sn_ingest *in, const char *what, const struct sn_err *err)
{
	sn_log_error("ingest: %s: %s (retrying)", what, err->msg);
	pthread_mutex_lock(&in->mu);
	in->st.errors++;
	pthread_mutex_unlock(&in->mu);
	sn_metric_add(in->m_errors, 1);
}

static uint64_t durable_lsn(struct sn_ingest *in)
{
	struct sn_wal_stats ws;
	sn_wal_get_stats(in->wal, &ws);
	return ws.durable_lsn;
}

/* Hands e (prepared: prep, else NULL) to the sink; 0, or an error after
 * which e must be offered again. */
static int consume(struct sn_ingest *in, const struct sn_wal_entry *e, void *prep)
{
	struct sn_err err = {0};
	int rc = prep ? in->sink.consume_prepared(in->sink.ctx, e, prep, &err)
		      : in->sink.consume(in->sink.ctx, e, &err);
	if (rc) {
		count_error(in, "sink refused a record", &err);
		return rc;
	}
	if (in->unflushed == 0 && in->pend_n == 0) {
		int64_t t = sn_ingest_record_time(e->type, e->data, e->len);
		pthread_mutex_lock(&in->mu);
		in->oldest_unflushed_us = t ? t : sn_now_us();
		pthread_mutex_unlock(&in->mu);
		in->first_consumed_ns = sn_mono_ns();
	}
	in->pend_n++;
	in->pend_lsn = e->end_lsn;
	return 0;
}

/* Moves the records consumed since the last call into the shared counters
 * (stats, lag, flush decisions read in->unflushed after this). */
static void publish(struct sn_ingest *in)
{
	if (!in->pend_n)
		return;
	pthread_mutex_lock(&in->mu);
	in->unflushed += in->pend_n;
	in->st.consumed_lsn = in->pend_lsn;
	in->st.records_consumed += in->pend_n;
	pthread_mutex_unlock(&in->mu);
	sn_metric_add(in->m_consumed, in->pend_n);
	in->pend_n = 0;
}

/* The sink holds the records up to lsn: the WAL checkpoint moves there,
 * and the stats count them. async: they were the landed flushes (else the
 * records consumed since the last flush). */
static int checkpoint(struct sn_ingest *in, uint64_t lsn, bool async)
{
	struct sn_err err = {0};
	int rc = sn_wal_checkpoint(in->wal, lsn, &err);
	if (rc) {
		count_error(in, "WAL checkpoint failed", &err);
		return rc;
	}
	uint64_t flushes = async ? in->landed.flushes : 1;
	pthread_mutex_lock(&in->mu);
	in->st.checkpoint_lsn = lsn;
	in->st.records_flushed += async ? in->landed.records : in->unflushed;
	in->st.flushes += flushes;
	if (async)
		in->landed.on = false;
	else
		in->unflushed = 0;
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->mu);
	sn_metric_add(in->m_flushes, flushes);
	return 0;
}

/* Moves the checkpoint over the landed flushes once the sink holds them
 * in full: it settles (force: commits its side state now; else when its
 * own policy says), and says up to where it does. 0, or an error (the
 * flushes stay landed; asked again later). */
static int advance(struct sn_ingest *in, bool force)
{
	if (!in->landed.on)
		return 0;
	uint64_t held = UINT64_MAX;
	if (in->sink.settle) {
		struct sn_err err = {0};
		int rc = in->sink.settle(in->sink.ctx, force, &held, &err);
		if (rc < 0) {
			count_error(in, "sink settle failed", &err);
			return rc;
		}
	}
	/* The sink's side state covers everything consumed when it commits,
	 * so it covers either all landed flushes or none (ingest.h). */
	return held >= in->landed.lsn ? checkpoint(in, in->landed.lsn, true) : 0;
}

/* The flush in flight is durable: it joins the landed flushes. */
static void land(struct sn_ingest *in)
{
	pthread_mutex_lock(&in->mu);
	if (!in->landed.on) {
		in->landed.on = true;
		in->landed.records = in->landed.flushes = 0;
		in->landed.oldest_us = in->fl.oldest_us;
	}
	in->landed.lsn = in->fl.lsn;
	in->landed.records += in->fl.records;
	in->landed.flushes++;
	in->fl.on = false;
	pthread_mutex_unlock(&in->mu);
}

static int flush(struct sn_ingest *in)
{
	struct sn_err err = {0};
	publish(in);
	if (in->unflushed == 0)
		return 0;
	int rc = in->sink.flush(in->sink.ctx, &err);
	if (rc) {
		count_error(in, "sink flush failed", &err);
		return rc;
	}
	return checkpoint(in, in->st.consumed_lsn /* written by this thread only */, false);
}

static bool async_sink(const struct sn_ingest *in)
{
	return in->sink.flush_start && in->sink.flush_done;
}

/* Collects the background flush in flight, waiting up to timeout_ms: 1 =
 * durable and landed (or none was in flight; the loop's advance moves the
 * checkpoint over it), 0 = still running, < 0 = error (it stays in flight;
 * asked again later). */
static int collect(struct sn_ingest *in, uint64_t timeout_ms)
{
	if (!in->fl.on)
		return 1;
	struct sn_err err = {0};
	int rc = in->sink.flush_done(in->sink.ctx, timeout_ms, &err);
	if (rc < 0) {
		count_error(in, "sink flush failed", &err);
		return rc;
	}
	if (rc == 0)
		return 0;
	land(in);
	return 1;
}

/* Starts a background flush of everything consumed (none may be in flight). */
static int flush_async(struct sn_ingest *in)
{
	struct sn_err err = {0};
	publish(in);
	if (in->unflushed == 0)
		return 0;
	int rc = in->sink.flush_start(in->sink.ctx, &err);
	if (rc < 0) {
		count_error(in, "sink flush failed", &err);
		return rc;
	}
	pthread_mutex_lock(&in->mu);
	in->fl.on = true;
	in->fl.lsn = in->st.consumed_lsn;
	in->fl.records = in->unflushed;
	in->fl.oldest_us = in->oldest_unflushed_us;
	in->unflushed = 0;
	pthread_mutex_unlock(&in->mu);
	if (rc == 1) { /* nothing was left to write */
		rc = collect(in, 0);
		return rc < 0 ? rc : 0;
	}
	return 0;
}

/* step() with the read-ahead: the ring's head waits there until durable. */
static int step_ahead(struct sn_ingest *in)
{
	const struct sn_wal_entry *e, *next;
	void *prep, *nprep;
	if (!sn_readahead_peek(in->ra, 0, &e, &prep)) {
		/* Empty: wait for the records the WAL holds durable, if any. */
		sn_readahead_wait(in->ra, in->durable_cache = durable_lsn(in));
		if (!sn_readahead_peek(in->ra, 0, &e, &prep)) {
			struct sn_err err = {0};
			if (sn_readahead_error(in->ra, &err)) {
				count_error(in, "reading the WAL", &err);
				return -1;
			}
			return 0;
		}
	}
	if (e->end_lsn > in->durable_cache && e->end_lsn > (in->durable_cache = durable_lsn(in)))
		return 0;
	if (in->sink.ahead)
		for (int k = 3; k >= 1; k--)
			if (sn_readahead_peek(in->ra, (size_t)k, &next, &nprep))
				in->sink.ahead(in->sink.ctx, nprep, k);
	if (consume(in, e, prep))
		return -1;
	sn_readahead_pop(in->ra);
	return 1;
}

/* One step: offer the next durable record. 1 = progressed, 0 = nothing to
 * do right now, < 0 = error (retry later). */
static int step(struct sn_ingest *in)
{
	if (in->ra)
		return step_ahead(in);
	if (in->have_pending) {
		if (in->pend.end_lsn > in->durable_cache &&
		    in->pend.end_lsn > (in->durable_cache = durable_lsn(in)))
			return 0;
		if (consume(in, &in->pend, NULL))
			return -1;
		in->have_pending = false;
		return 1;
	}
	struct sn_wal_entry e;
	struct sn_err err = {0};
	int rc = sn_wal_reader_next(in->reader, &e, &err);
	if (rc < 0) {
		count_error(in, "reading the WAL", &err);
		return -1;
	}
	if (rc == 0)
		return 0;
	if (e.end_lsn <= in->durable_cache || e.end_lsn <= (in->durable_cache = durable_lsn(in))) {
		if (consume(in, &e, NULL) == 0)
			return 1;
	}
	/* Not durable yet, or the sink refused it: keep a copy. */
	sn_buf_reset(&in->pending);
	if (sn_buf_append(&in->pending, e.data, e.len)) {
		struct sn_err e2;
		sn_err_set(&e2, SN_ERR_NOMEM, "out of memory holding a %u-byte record", e.len);
		count_error(in, "buffering", &e2);
		return -1;
	}
	in->pend = e;
	in->pend.data = in->pending.data;
	in->have_pending = true;
	return 1;
}

static void *run(void *arg)
{
	struct sn_ingest *in = arg;
	int stop_failures = 0;
	uint64_t busy_ns = sn_mono_ns(); /* when there was last work or a flush */
	bool idled = false;		 /* sink.idle called since */
	pthread_setname_np(pthread_self(), "sn-ingest");
	for (;;) {
		int rc = 1, progressed = 0;
		/* Work in bursts between checks of the flush conditions; a full
		 * sink takes nothing more until it has flushed (a flush still in
		 * flight can keep it full for several passes). */
		for (int i = 0; i < 4096; i++) {
			if (in->sink.full && in->sink.full(in->sink.ctx))
				break;
			rc = step(in);
			if (rc <= 0)
				break;
			progressed = 1;
		}
		bool caught_up = rc == 0;
		publish(in);
		pthread_mutex_lock(&in->mu);
		bool stopping = in->stopping, syncing = in->sync_requests > 0;
		pthread_mutex_unlock(&in->mu);
		bool async = async_sink(in);
		int frc = 0;
		/* Caught up, the worker may as well wait a moment for it. */
		if (async && in->fl.on && (frc = collect(in, caught_up ? 1 : 0)) > 0)
			frc = 0;
		bool full = in->sink.full && in->sink.full(in->sink.ctx);
		bool want = in->unflushed && (full ||
					      sn_mono_ns() - in->first_consumed_ns >=
						  in->opt.flush_age_ms * 1000000 ||
					      (caught_up && (stopping || syncing)));
		if (want && async) {
			/* One flush in flight: wait for it only when we must. */
			if (in->fl.on && frc == 0 &&
			    (full || (caught_up && (stopping || syncing))) &&
			    (frc = collect(in, 200)) > 0)
				frc = 0;
			if (!in->fl.on && frc == 0)
				frc = flush_async(in);
		} else if (want) {
			frc = flush(in);
		}
		/* Landed flushes wait for the sink to hold them in full: now
		 * when caught up (a sync or stop waits for that too), else when
		 * the sink says. The one place that settles: a failed settle
		 * leaves them landed, asked again at the next pass. */
		if (in->landed.on && frc >= 0) {
			int arc = advance(in, caught_up);
			if (arc < 0)
				frc = arc;
		}
		bool settled = !in->fl.on && !in->landed.on;
		if (caught_up && in->unflushed == 0 && settled && syncing) {
			pthread_mutex_lock(&in->mu);
			pthread_cond_broadcast(&in->cond); /* sync waiters re-check */
			pthread_mutex_unlock(&in->mu);
		}
		if (stopping && caught_up && in->unflushed == 0 && settled && !in->have_pending)
			break;
		if (stopping && (rc < 0 || frc < 0) && ++stop_failures >= 3) {
			/* The records stay in the WAL and are replayed at the next start. */
			sn_log_error(
			    "ingest: stopping with %llu record(s) not flushed to the sink; "
			    "they stay in the WAL for the next start",
			    (unsigned long long)(in->unflushed + (in->fl.on ? in->fl.records : 0) +
						 (in->landed.on ? in->landed.records : 0)));
			break;
		}
		/* Idle: caught up, nothing unflushed or in flight, for a while. */
		uint64_t now = sn_mono_ns();
		if (progressed || !caught_up || in->unflushed || !settled || in->have_pending) {
			busy_ns = now;
			idled = false;
		} else if (!idled && in->sink.idle &&
			   now - busy_ns >= SN_INGEST_IDLE_MS * 1000000ull) {
			in->sink.idle(in->sink.ctx);
			idled = true;
		}
		if (rc < 0 || frc < 0)
			timed_wait(in, 200, true); /* back off after an error */
		else if (!progressed && in->fl.on)
			collect(in, in->opt.idle_poll_ms); /* wakes when it is durable */
		else if (!progressed)
			timed_wait(in, in->opt.idle_poll_ms, false);
	}
	return NULL;
}

/* The sink already holds everything below lsn (a crash came between its
 * flush and our checkpoint): step over those records, count them as
 * flushed, and move the WAL checkpoint up. */
static int skip_to(struct sn_ingest *in, uint64_t lsn, struct sn_err *err)
{
	struct sn_wal_entry e;
	uint64_t n = 0, end = in->st.consumed_lsn;
	int rc;
	while (end < lsn && (rc = sn_wal_reader_next(in->reader, &e, err)) == 1) {
		if (e.end_lsn <= lsn && in->sink.replay &&
		    (rc = in->sink.replay(in->sink.ctx, &e, err)))
			return rc;
		end = e.end_lsn;
		n++;
	}
	if (in->sink.replay && (rc = in->sink.flush(in->sink.ctx, err)))
		return rc;
	if (end != lsn)
		return sn_err_set(err, SN_ERR_CORRUPT,
				  "the store holds events up to WAL position %llu, but the WAL has "
				  "no record boundary there (it ends at %llu)",
				  (unsigned long long)lsn, (unsigned long long)end);
	if ((rc = sn_wal_checkpoint(in->wal, lsn, err)))
		return rc;
	in->st.consumed_lsn = in->st.checkpoint_lsn = lsn;
	in->st.records_flushed = n;
	sn_log_info("ingest: %llu record(s) were already in the store; resuming at WAL position "
		    "%llu",
		    (unsigned long long)n, (unsigned long long)lsn);
	return 0;
}

static int64_t gauge_lag_events(void *arg)
{
	struct sn_ingest_stats st;
	sn_ingest_get_stats(arg, &st);
	return st.lag_events;
}

static double gauge_lag_seconds(void *arg)
{
	struct sn_ingest_stats st;
	sn_ingest_get_stats(arg, &st);
	return st.lag_seconds;
}

int sn_ingest_start(struct sn_ingest **out, struct sn_wal *wal, const struct sn_ingest_options *opt,
		    const struct sn_ingest_sink *sink, struct sn_err *err)
{
	struct sn_ingest *in = calloc(1, sizeof(*in));
	if (!in)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	in->wal = wal;
	in->sink = *sink;
	in->opt = *opt;
	if (!in->opt.flush_age_ms)
		in->opt.flush_age_ms = 1000;
	if (!in->opt.idle_poll_ms)
		in->opt.idle_poll_ms = 20;
	sn_buf_init(&in->pending, 1u << 30);
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->cond, NULL);
	struct sn_wal_stats ws;
	sn_wal_get_stats(wal, &ws);
	in->st.checkpoint_lsn = in->st.consumed_lsn = ws.checkpoint_lsn;
	sn_metrics_declare("snout_ingest_records_total", SN_METRIC_COUNTER,
			   "WAL records handed to the event sink");
	sn_metrics_declare("snout_ingest_flushes_total", SN_METRIC_COUNTER,
			   "Sink flushes followed by a WAL checkpoint");
	sn_metrics_declare("snout_ingest_errors_total", SN_METRIC_COUNTER,
			   "Sink, reader or checkpoint errors (each retried)");
	in->m_consumed = sn_metric_series("snout_ingest_records_total", "");
	in->m_flushes = sn_metric_series("snout_ingest_flushes_total", "");
	in->m_errors = sn_metric_series("snout_ingest_errors_total", "");
	int rc = sn_wal_reader_open(&in->reader, opt->wal_dir, ws.checkpoint_lsn, err);
	if (rc)
		goto fail;
	if (opt->resume_lsn > ws.checkpoint_lsn && (rc = skip_to(in, opt->resume_lsn, err)))
		goto fail;
	if (sink->prepare && (rc = sn_readahead_start(&in->ra, in->reader, in->st.consumed_lsn,
						      sink, in->opt.idle_poll_ms, wake, in, err)))
		goto fail;
	if (pthread_create(&in->thread, NULL, run, in)) {
		rc = sn_err_set(err, SN_ERR_INTERNAL, "cannot start the ingest thread");
		goto fail;
	}
	sn_metrics_declare("snout_ingest_lag_events", SN_METRIC_GAUGE,
			   "WAL records durable but not yet checkpointed by the sink");
	sn_metrics_declare("snout_ingest_lag_seconds", SN_METRIC_GAUGE,
			   "Age of the oldest record not yet checkpointed");
	sn_metrics_gauge_fn("snout_ingest_lag_events", "", gauge_lag_events, in);
	sn_metrics_gauge_dfn("snout_ingest_lag_seconds", "", gauge_lag_seconds, in);
	*out = in;
	return 0;
fail:
	sn_readahead_stop(in->ra);
	sn_wal_reader_close(in->reader);
	sn_buf_release(&in->pending);
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->cond);
	free(in);
	return rc;
}

void sn_ingest_stop(struct sn_ingest *in)
{
	if (!in)
		return;
	pthread_mutex_lock(&in->mu);
	in->stopping = true;
	pthread_cond_broadcast(&in->cond);
	pthread_mutex_unlock(&in->mu);
	pthread_join(in->thread, NULL);
	sn_metrics_gauge_fn("snout_ingest_lag_events", "", NULL, NULL);
	sn_metrics_gauge_dfn("snout_ingest_lag_seconds", "", NULL, NULL);
	sn_readahead_stop(in->ra);
	sn_wal_reader_close(in->reader);
	sn_buf_release(&in->pending);
	pthread_mutex_destroy(&in->mu);
	pthread_cond_destroy(&in->cond);
	free(in);
}

void sn_ingest_get_stats(struct sn_ingest *in, struct sn_ingest_stats *st)
{
	struct sn_wal_stats ws;
	sn_wal_get_stats(in->wal, &ws);
	pthread_mutex_lock(&in->mu);
	*st = in->st;
	/* Records after the checkpoint the WAL opened with, minus those the
	 * sink made durable since (ingest starts from that same checkpoint). */
	st->lag_events =
	    (int64_t)(ws.records_recovered + ws.records_appended) - (int64_t)in->st.records_flushed;
	if (st->lag_events < 0)
		st->lag_events = 0;
	int64_t oldest = in->landed.on	 ? in->landed.oldest_us
			 : in->fl.on	 ? in->fl.oldest_us
			 : in->unflushed ? in->oldest_unflushed_us
					 : 0;
	pthread_mutex_unlock(&in->mu);
	st->lag_seconds = oldest && st->lag_events ? (double)(sn_now_us() - oldest) / 1e6 : 0;
}

int sn_ingest_sync(struct sn_ingest *in, uint64_t timeout_ms)
{
	uint64_t target = durable_lsn(in);
	uint64_t deadline = sn_mono_ns() + timeout_ms * 1000000u;
	int rc = 0;
	pthread_mutex_lock(&in->mu);
	in->sync_requests++;
	pthread_cond_broadcast(&in->cond);
	while (in->st.checkpoint_lsn < target) {
		if (sn_mono_ns() >= deadline) {
			rc = SN_ERR_TOO_BIG;
			break;
		}
		struct timespec ts = sn_deadline_in_ms(20);
		pthread_cond_timedwait(&in->cond, &in->mu, &ts);
	}
	in->sync_requests--;
	pthread_mutex_unlock(&in->mu);
	return rc;
}
