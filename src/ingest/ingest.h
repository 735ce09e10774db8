/*
 * ingest.h — the WAL consumer: reads what capture made durable, in order,
 * hands each record to an event sink (the embedded store, or ClickHouse at
 * scale), and moves the WAL checkpoint once the sink says the records are
 * durable on its side. Identity (persons/) runs inside the store sink
 * (sn_store_sink_use_persons), enrichment (GeoIP, IP anonymisation) just
 * before it (sn_store_sink_use_enrich).
 *
 *   WAL (durable) ──reader──▶ worker thread ──consume()──▶ sink (buffers)
 *                                  │  full, or oldest record older than flush_age
 *                                  └──flush()──▶ sink durable ──▶ sn_wal_checkpoint
 *
 * A sink may flush in the background (flush_start / flush_done, the store
 * sink): the worker then keeps consuming into the sink's next buffer while
 * the previous one is written, with at most one flush in flight, and moves
 * the checkpoint to the end of the records that flush held once it is done.
 *
 * Exactly-once is not promised by the WAL side: a crash between a sink
 * flush and the checkpoint replays those records, so sinks must be
 * idempotent by event uuid (the store deduplicates on merge).
 */
#ifndef SN_INGEST_H
#define SN_INGEST_H

#include "base/base.h"
#include "wal/wal.h"

/* What a sink implements. consume() is called for each record in WAL order
 * (only records already durable in the WAL); the sink copies what it needs
 * (e.data is valid only during the call). flush() makes everything consumed
 * so far durable in the sink. Both run on the ingest thread only. An error
 * from either is logged and retried after a pause: nothing is skipped. */
struct sn_ingest_sink {
	void *ctx;
	int (*consume)(void *ctx, const struct sn_wal_entry *e, struct sn_err *err);
	int (*flush)(void *ctx, struct sn_err *err);
	/* Optional: true when the sink wants a flush now (its buffer is full). */
	bool (*full)(void *ctx);
	/* Optional: at start-up, each record the sink already holds (below
	 * sn_ingest_options.resume_lsn) is offered here, in order, so the sink can
	 * rebuild side state that is committed after its data (identity); a
	 * flush follows the last one. An error fails sn_ingest_start. */
	int (*replay)(void *ctx, const struct sn_wal_entry *e, struct sn_err *err);
	/* Optional, together: background flushes. flush_start hands everything
	 * consumed so far to the sink's writer and returns 0 at once (1 when
	 * there was nothing to write and it is all durable already); it is only
	 * called with no flush in flight. flush_done waits up to timeout_ms for
	 * the flush in flight: 1 when it is durable (the checkpoint may move to
	 * the end of the records consumed before flush_start, once settle
	 * allows), 0 when it is still running, or an error (the sink keeps the
	 * data and writes it again; the worker asks again later). With no
	 * flush in flight it returns 1. flush() still works and also waits for
	 * a flush in flight. */
	int (*flush_start)(void *ctx, struct sn_err *err);
	int (*flush_done)(void *ctx, uint64_t timeout_ms, struct sn_err *err);
	/* Optional, with background flushes: a sink whose data and side state
	 * commit apart (the store sink: parts, then the persons batch) may
	 * finish a flush with its side state still open. The checkpoint then
	 * stays behind the flush until settle says the sink holds it: settle
	 * commits the side state when force is set (the worker is caught up)
	 * or when the sink's own policy says, and sets *lsn to the end of the
	 * records the side state covers. The side state must cover all records
	 * consumed when it commits (so landed flushes are held all together or
	 * not at all). 0, or an error (asked again later). Without settle a
	 * durable flush is held at once. */
	int (*settle)(void *ctx, bool force, uint64_t *lsn, struct sn_err *err);
	/* Optional, together: a stage ahead of consume on a thread of its own
	 * (readahead.c). prep_new allocates one record's prepared state (NULL:
	 * out of memory), prep_free frees it. prepare fills it from a record on
	 * the read-ahead thread, in WAL order, concurrently with consume: it may
	 * read only what the sink was configured with before sn_ingest_start,
	 * and it cannot fail (an error is kept in the state, for
	 * consume_prepared to act on). consume_prepared then does what consume
	 * does, given the record's state; after an error the same record and
	 * state are offered again. ahead (optional) is told of the prepared
	 * record `distance` places behind the one about to be consumed (1..3),
	 * to ask for memory it will need. */
	void *(*prep_new)(void *ctx);
	void (*prep_free)(void *ctx, void *prep);
	void (*prepare)(void *ctx, const struct sn_wal_entry *e, void *prep);
	int (*consume_prepared)(void *ctx, const struct sn_wal_entry *e, void *prep,
				struct sn_err *err);
	void (*ahead)(void *ctx, const void *prep, int distance);
	/* Optional: called once when the worker has been caught up, with
	 * nothing left to flush, for SN_INGEST_IDLE_MS; the sink may give back
	 * memory it keeps warm (records may come again at any time). */
	void (*idle)(void *ctx);
};

#define SN_INGEST_IDLE_MS 3000

struct sn_ingest_options {
	const char *wal_dir;
	uint64_t
	    flush_age_ms; /* flush when the oldest unflushed record is this old (default 1000) */
	uint64_t idle_poll_ms; /* how often an idle worker looks for new records (default 20) */
	uint64_t resume_lsn;   /* the sink's own durable position (0 = none): reading starts at
				  max(this, the WAL checkpoint), and the WAL checkpoint is moved
				  up to it */
};

struct sn_ingest_stats {
	uint64_t consumed_lsn;	   /* end of the last record handed to the sink */
	uint64_t checkpoint_lsn;   /* end of what the sink made durable */
	uint64_t records_consumed; /* since start */
	uint64_t records_flushed;  /* since start */
	uint64_t flushes;	   /* since start */
	uint64_t errors;	   /* sink or reader errors since start (each retried) */
	int64_t lag_events;	   /* records durable in the WAL, not yet checkpointed */
	double lag_seconds;	   /* age of the oldest record not yet checkpointed */
};

struct sn_ingest;

/* Starts the worker from the WAL's current checkpoint. The WAL and the sink
 * must outlive the ingest object. */
int sn_ingest_start(struct sn_ingest **out, struct sn_wal *wal, const struct sn_ingest_options *opt,
		    const struct sn_ingest_sink *sink, struct sn_err *err);
/* Stops the worker after consuming everything durable in the WAL, flushing
 * the sink and checkpointing (a final, orderly drain). */
void sn_ingest_stop(struct sn_ingest *in);
void sn_ingest_get_stats(struct sn_ingest *in, struct sn_ingest_stats *st);
/* Blocks until everything durable in the WAL at the time of the call is
 * checkpointed, or timeout_ms passes (SN_ERR_TOO_BIG then). For tests and
 * for `snout` commands that want a consistent store. */
int sn_ingest_sync(struct sn_ingest *in, uint64_t timeout_ms);

/* ---- the embedded store as a sink (store_sink.c) ------------------------------------ */

struct sn_store_sink;

/* Opens the store under <data_dir>/store (and <data_dir>/recordings for
 * recording uploads), recovers from a crash mid-flush, and reports in
 * *resume_lsn the WAL position up to which every record is already in the
 * store (pass it as sn_ingest_options.resume_lsn). full_bytes: memtable
 * size that triggers a flush (0 = 256 MiB). */
int sn_store_sink_open(struct sn_store_sink **out, const char *data_dir, size_t full_bytes,
		       uint64_t *resume_lsn, struct sn_err *err);
void sn_store_sink_close(struct sn_store_sink *s);
/* The part writer's threads (store.h, sn_write_pool): a flush shreds,
 * encodes and compresses on nthreads threads while the ingest thread waits;
 * 0 writes on the ingest thread. The sink starts with
 * SN_STORE_SINK_WRITER_THREADS. Call before sn_ingest_start. The parts are
 * the same bytes either way. SN_ERR_INVALID above SN_WRITE_POOL_MAX_THREADS. */
#define SN_STORE_SINK_WRITER_THREADS 2
int sn_store_sink_use_writer_threads(struct sn_store_sink *s, unsigned nthreads,
				     struct sn_err *err);
/* Fills out with the callbacks for sn_ingest_start; call after the sink's
 * use_* configuration. With identity on (sn_store_sink_use_persons) they
 * include the prepare stage, so the worker scans records on a read-ahead
 * thread: the ingest thread is then the bound and the other core has room.
 * Without identity both cores are busy (the part writer) and the stage's
 * hand-over would only add CPU (10M generator events: 390k against 416k
 * events/s, docs/BENCHMARKS.md session 34), so records are scanned inline. */
void sn_store_sink_vtable(struct sn_store_sink *s, struct sn_ingest_sink *out);
const char *sn_store_sink_dir(const struct sn_store_sink *s);
/* Turns identity on (before sn_ingest_start): every event then goes through
 * PostHog's identity rules in WAL order (persons/), its row gets person_id
 * and $group_0..4, events the rules drop are not stored, and each flush
 * commits the person changes after the parts (docs/PERSONS.md, crash
 * protocol). cache_entries bounds the distinct-id cache (0 = 262144). The
 * person store must outlive the sink. */
struct sn_persons;
int sn_store_sink_use_persons(struct sn_store_sink *s, struct sn_persons *persons,
			      size_t cache_entries, struct sn_err *err);
/* Turns enrichment on (before sn_ingest_start): GeoIP (spec §5.3) and IP
 * anonymisation (§5.4) of every event before identity (enrich.c,
 * docs/ENRICHMENT.md). The GeoIP handle (NULL: no GeoIP) must outlive the
 * sink; team() is asked, on the ingest thread, whether a team anonymises
 * IPs (answers are cached a few seconds; NULL: none does). */
typedef int (*sn_ingest_team_fn)(void *ctx, int64_t team_id, bool *anonymize_ips);
struct sn_enrich_options {
	const struct sn_geoip *geoip;
	sn_ingest_team_fn team;
	void *team_ctx;
	size_t ip_cache_entries;    /* addresses remembered (0 = 65536, 5 MiB) */
	size_t place_cache_entries; /* database records remembered (0 = 16384, ~10 MiB) */
};
int sn_store_sink_use_enrich(struct sn_store_sink *s, const struct sn_enrich_options *o,
			     struct sn_err *err);
/* Enrichment's counters (enrich.c): events that got a place, $ip members
 * dropped, the IP cache's hits and misses, addresses the database did not
 * place, and the place cache's hits and misses (asked for each placed
 * address). All zero without enrichment; read them when the sink is idle. */
struct sn_enrich_stats {
	uint64_t enriched, ips_dropped, ip_hits, ip_misses, not_found;
	uint64_t place_hits, place_misses;
};
void sn_store_sink_enrich_stats(struct sn_store_sink *s, struct sn_enrich_stats *st);
/* Turns property definitions on (before sn_ingest_start): the properties
 * of stored events, persons and groups, each with the type of its first
 * typed value, are recorded in meta after each flush (propdefs.c,
 * docs/PROPERTIES.md). meta must outlive the sink. */
struct sn_meta;
int sn_store_sink_use_propdefs(struct sn_store_sink *s, struct sn_meta *meta, struct sn_err *err);
/* Events that took the cache's fast path, went through SQLite, and were
 * replayed read-only or at start-up; person_writes (may be NULL): persons
 * written to apply deferred §5.2 values. */
void sn_store_sink_identity_stats(struct sn_store_sink *s, uint64_t *fast, uint64_t *slow,
				  uint64_t *replayed, uint64_t *person_writes);

/* The receive time ("now") of a capture WAL record of the given type, in
 * epoch µs; 0 if the record has none. An indexed record's index says where
 * it is; otherwise only the record's first bytes are looked at, where
 * capture writes it. */
int64_t sn_ingest_record_time(uint8_t type, const char *data, uint32_t len);

#endif
