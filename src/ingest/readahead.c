/*
 * readahead.c — the ingest pipeline's first stage: a thread that reads the
 * WAL ahead of the ingest thread and has the sink prepare each record (the
 * store sink scans its JSON), so the two halves of the work per record run
 * on two cores.
 *
 *   WAL files ──reader──▶ [read-ahead thread: copy, sink.prepare] ──ring──▶ ingest thread
 *                                                                      (durable?, consume_prepared)
 *
 * The ring is single-producer, single-consumer: RING_SLOTS slots, each
 * holding one record's bytes (its own buffer, grown to the largest record
 * it held) and the sink's prepared state for it. `tail` (records published)
 * and `head` (records the consumer released) only grow; the producer
 * publishes every PUBLISH_BATCH records or when the reader runs dry, so the
 * consumer's acquire load of `tail` is one shared cache line per batch, not
 * per record. Each side keeps its last look at the other's index and reads
 * it again only when that copy says full (empty), and the fields each side
 * writes sit on cache lines of their own, apart from the mutex: a line both
 * cores write moves between them at every write. Records are handed on in
 * WAL order; a slot is the consumer's from publication until
 * sn_readahead_pop, so the record a sink refused (an error to retry) stays
 * at the head with its prepared state, and is offered again.
 *
 * Durability stays the ingest thread's business (worker.c): the reader sees
 * records in the files before the WAL has fsynced them, and the head of the
 * ring waits there until the WAL says it is durable, as before.
 *
 * Waiting: a full ring parks the producer on `space` until half of it is
 * free (the consumer signals it then, if the producer says it waits):
 * resuming at the first free slot made a thread switch per record whenever
 * the consumer is the slower side. An empty ring parks the consumer in
 * sn_readahead_wait on `ready` unless the producer is idle at the end of the
 * log with every durable record handed on (the consumer is caught up and
 * goes back to its own idle poll); the wait nudges an idle producer to look
 * again, since its idle flag may predate records written since. Every wait
 * is also bounded in time, so a wake-up lost to an ordering mistake would
 * cost latency, never a hang.
 * A reader error is kept for the consumer to report (and count) when the
 * ring runs empty, and the producer retries after a pause, as the ingest
 * thread did.
 *
 * Memory: RING_SLOTS records and prepared states (a few KB each for the
 * store sink: the row, identity's facts, member lengths) plus the record
 * bytes; 64 slots measured slower than 256 (more parking). A slot's buffer
 * past 1 MiB is freed when the consumer releases it, so one huge record
 * does not stay resident.
 */
#include "ingest/ingest_internal.h"

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define RING_SLOTS     256 /* a power of two */
#define PUBLISH_BATCH  32
#define REFILL_AT      (RING_SLOTS / 2) /* a full ring's producer resumes at this many */
#define SLOT_KEEP      (1u << 20)	/* bytes a slot's buffer may keep between records */
#define ERROR_PAUSE_MS 200

struct slot {
	struct sn_wal_entry e;
	struct sn_buf data;
	void *prep;
};

struct sn_readahead {
	struct sn_wal_reader *reader;
	struct sn_ingest_sink sink;
	uint64_t idle_poll_ms;
	void (*wake)(void *arg);
	void *wake_arg;
	struct slot *slots;
	pthread_t thread;
	bool started;

	/* Written by the producer (its own cache line: a line both threads
	 * write moves between the cores at every write). */
	alignas(64) _Atomic uint64_t tail; /* published by the producer */
	_Atomic uint64_t pub_end;	   /* WAL position past the last published record */
	_Atomic bool producer_waits;	   /* parked on `space` */
	_Atomic bool idle;		   /* the reader is at the end of the log, all published */
	uint64_t head_seen;		   /* the producer's last look at head */

	/* Written by the consumer. */
	alignas(64) _Atomic uint64_t head; /* released by the consumer */
	_Atomic bool consumer_waits;	   /* parked on `ready` */
	uint64_t tail_seen;		   /* the consumer's last look at tail */

	alignas(64) pthread_mutex_t mu;
	pthread_cond_t space, ready;
	_Atomic bool stop; /* set under mu (for the waits); read without it */
	int err_rc;	   /* under mu: a reader error not yet reported */
	struct sn_err err; /* under mu */
};

static void timed_wait(struct sn_readahead *ra, pthread_cond_t *c, uint64_t ms)
{
	struct timespec ts = sn_deadline_in_ms(ms);
	pthread_cond_timedwait(c, &ra->mu, &ts);
}

/* Looked at once a record: no lock (the mutex's line would move between
 * the cores each time; 7 % of this thread's samples when it did). */
static bool stopping(struct sn_readahead *ra)
{
	return atomic_load_explicit(&ra->stop, memory_order_relaxed);
}

/* Ends the consumer's sn_readahead_wait, if it is in one. */
static void signal_ready(struct sn_readahead *ra)
{
	if (atomic_load(&ra->consumer_waits)) {
		pthread_mutex_lock(&ra->mu);
		pthread_cond_signal(&ra->ready);
		pthread_mutex_unlock(&ra->mu);
	}
}

static void publish(struct sn_readahead *ra, uint64_t t, uint64_t end)
{
	atomic_store(&ra->pub_end, end);
	atomic_store(&ra->tail, t);
	signal_ready(ra);
}

/* Parks the producer while the ring holds more than REFILL_AT records (or
 * until stop): resuming at the first free slot would make it a thread
 * switch per record whenever the consumer is the slower side. */
static void wait_space(struct sn_readahead *ra, uint64_t t)
{
	pthread_mutex_lock(&ra->mu);
	atomic_store(&ra->producer_waits, true);
	while (!ra->stop && t - atomic_load(&ra->head) > REFILL_AT)
		timed_wait(ra, &ra->space, 100);
	atomic_store(&ra->producer_waits, false);
	pthread_mutex_unlock(&ra->mu);
}

/* Parks the producer for ms (stop wakes it). */
static void pause_ms(struct sn_readahead *ra, uint64_t ms)
{
	pthread_mutex_lock(&ra->mu);
	if (!ra->stop)
		timed_wait(ra, &ra->space, ms);
	pthread_mutex_unlock(&ra->mu);
}

/* The consumer reports it when the ring runs empty (not woken for it: its
 * retry pause after an error must stay a pause). */
static void keep_error(struct sn_readahead *ra, int rc, const struct sn_err *err)
{
	pthread_mutex_lock(&ra->mu);
	ra->err_rc = rc;
	ra->err = *err;
	pthread_cond_signal(&ra->ready);
	pthread_mutex_unlock(&ra->mu);
}

static void *producer(void *arg)
{
	struct sn_readahead *ra = arg;
	pthread_setname_np(pthread_self(), "sn-readahead");
	uint64_t t = atomic_load(&ra->tail), published = t, end = atomic_load(&ra->pub_end);
	uint64_t woken = t; /* the consumer was nudged for the records up to here */
	while (!stopping(ra)) {
		/* head only grows: a stale copy can only say the ring is
		 * fuller than it is, so it is read again only then. */
		if (t - ra->head_seen == RING_SLOTS &&
		    t - (ra->head_seen = atomic_load(&ra->head)) == RING_SLOTS) {
			if (published != t)
				publish(ra, published = t, end);
			wait_space(ra, t);
			continue;
		}
		struct sn_wal_entry e;
		struct sn_err err = {0};
		int rc = sn_wal_reader_next(ra->reader, &e, &err);
		if (rc <= 0) {
			if (published != t)
				publish(ra, published = t, end);
			if (rc < 0) {
				keep_error(ra, rc, &err);
				pause_ms(ra, ERROR_PAUSE_MS);
				continue;
			}
			/* At the end of the log: the consumer has all there is.
			 * Nudged once for records it has not taken (it may be in
			 * its idle poll), not at every look: it may be pausing
			 * after an error, or waiting for the head to be durable. */
			atomic_store(&ra->idle, true);
			signal_ready(ra);
			if (ra->wake && woken != t && atomic_load(&ra->head) != t)
				ra->wake(ra->wake_arg);
			woken = t;
			pause_ms(ra, ra->idle_poll_ms);
			continue;
		}
		atomic_store(&ra->idle, false);
		struct slot *s = &ra->slots[t & (RING_SLOTS - 1)];
		sn_buf_reset(&s->data);
		/* The entry's bytes are the reader's until its next call: a copy
		 * that fails is retried, never skipped. */
		while (sn_buf_append(&s->data, e.data, e.len)) {
			sn_err_set(&err, SN_ERR_NOMEM, "out of memory holding a %u-byte record",
				   e.len);
			keep_error(ra, SN_ERR_NOMEM, &err);
			pause_ms(ra, ERROR_PAUSE_MS);
			if (stopping(ra))
				return NULL;
		}
		s->e = e;
		s->e.data = s->data.data;
		ra->sink.prepare(ra->sink.ctx, &s->e, s->prep);
		end = e.end_lsn;
		t++;
		if (t - published >= PUBLISH_BATCH)
			publish(ra, published = t, end);
	}
	return NULL;
}

void sn_readahead_stop(struct sn_readahead *ra)
{
	if (!ra)
		return;
	if (ra->started) {
		pthread_mutex_lock(&ra->mu);
		ra->stop = true;
		pthread_cond_broadcast(&ra->space);
		pthread_mutex_unlock(&ra->mu);
		pthread_join(ra->thread, NULL);
	}
	if (ra->slots) {
		for (size_t i = 0; i < RING_SLOTS; i++) {
			sn_buf_release(&ra->slots[i].data);
			if (ra->slots[i].prep)
				ra->sink.prep_free(ra->sink.ctx, ra->slots[i].prep);
		}
		free(ra->slots);
	}
	pthread_mutex_destroy(&ra->mu);
	pthread_cond_destroy(&ra->space);
	pthread_cond_destroy(&ra->ready);
	free(ra);
}

int sn_readahead_start(struct sn_readahead **out, struct sn_wal_reader *reader, uint64_t from_lsn,
		       const struct sn_ingest_sink *sink, uint64_t idle_poll_ms,
		       void (*wake)(void *arg), void *wake_arg, struct sn_err *err)
{
	*out = NULL;
	/* On its own lines (the field groups above are 64-byte aligned). */
	struct sn_readahead *ra = aligned_alloc(64, sizeof(*ra));
	if (!ra)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	memset(ra, 0, sizeof(*ra));
	ra->reader = reader;
	atomic_store(&ra->pub_end, from_lsn);
	ra->sink = *sink;
	ra->idle_poll_ms = idle_poll_ms ? idle_poll_ms : 20;
	ra->wake = wake;
	ra->wake_arg = wake_arg;
	pthread_mutex_init(&ra->mu, NULL);
	pthread_cond_init(&ra->space, NULL);
	pthread_cond_init(&ra->ready, NULL);
	if (!(ra->slots = calloc(RING_SLOTS, sizeof(*ra->slots))))
		goto nomem;
	for (size_t i = 0; i < RING_SLOTS; i++) {
		sn_buf_init(&ra->slots[i].data, 1u << 30);
		if (!(ra->slots[i].prep = sink->prep_new(sink->ctx)))
			goto nomem;
	}
	if (pthread_create(&ra->thread, NULL, producer, ra)) {
		sn_readahead_stop(ra);
		return sn_err_set(err, SN_ERR_INTERNAL, "cannot start the WAL read-ahead thread");
	}
	ra->started = true;
	*out = ra;
	return 0;
nomem:
	sn_readahead_stop(ra);
	return sn_err_set(err, SN_ERR_NOMEM, "out of memory for the WAL read-ahead ring");
}

int sn_readahead_peek(struct sn_readahead *ra, size_t k, const struct sn_wal_entry **e, void **prep)
{
	uint64_t h = atomic_load_explicit(&ra->head, memory_order_relaxed);
	/* tail only grows: looked at again only when the copy says empty. */
	if (h + k >= ra->tail_seen &&
	    h + k >= (ra->tail_seen = atomic_load_explicit(&ra->tail, memory_order_acquire)))
		return 0;
	struct slot *s = &ra->slots[(h + k) & (RING_SLOTS - 1)];
	*e = &s->e;
	if (prep)
		*prep = s->prep;
	return 1;
}

void sn_readahead_wait(struct sn_readahead *ra, uint64_t durable)
{
	uint64_t h = atomic_load_explicit(&ra->head, memory_order_relaxed);
	/* Unless the producer is failing, or idle with every durable record
	 * handed on (the idle flag alone may be stale: the producer sleeps
	 * between looks at the end of the log, so it is woken to look again). */
	pthread_mutex_lock(&ra->mu);
	atomic_store(&ra->consumer_waits, true);
	for (int i = 0; i < 10 && !ra->err_rc && h >= atomic_load(&ra->tail); i++) {
		if (atomic_load(&ra->idle) && atomic_load(&ra->pub_end) >= durable)
			break;
		pthread_cond_signal(&ra->space);
		timed_wait(ra, &ra->ready, 20);
	}
	atomic_store(&ra->consumer_waits, false);
	pthread_mutex_unlock(&ra->mu);
}

int sn_readahead_error(struct sn_readahead *ra, struct sn_err *err)
{
	pthread_mutex_lock(&ra->mu);
	int rc = ra->err_rc;
	if (rc) {
		*err = ra->err;
		ra->err_rc = 0;
	}
	pthread_mutex_unlock(&ra->mu);
	return rc;
}

void sn_readahead_pop(struct sn_readahead *ra)
{
	uint64_t h = atomic_load_explicit(&ra->head, memory_order_relaxed);
	struct slot *s = &ra->slots[h & (RING_SLOTS - 1)];
	if (s->data.cap > SLOT_KEEP)
		sn_buf_release(&s->data);
	atomic_store(&ra->head, h + 1);
	if (atomic_load_explicit(&ra->tail, memory_order_relaxed) - (h + 1) <= REFILL_AT &&
	    atomic_load(&ra->producer_waits)) {
		pthread_mutex_lock(&ra->mu);
		pthread_cond_signal(&ra->space);
		pthread_mutex_unlock(&ra->mu);
	}
}
