/*
 * wal.h — the write-ahead log: durable, append-only, checksummed records of
 * everything snout acknowledged (events, recording uploads).
 *
 * A request is answered 200 only after its records are durable. Appenders
 * copy their records into an in-memory buffer under a mutex and get back the
 * LSN that ends them; a single flusher thread writes the buffer and fsyncs
 * (fdatasync), so concurrent requests share one fsync (group commit), then
 * wakes every waiter whose LSN is now durable.
 *
 * LSNs are byte positions in the logical log (segment base + offset): the
 * end LSN of a record is where the next record starts. Checkpoints are LSNs
 * up to which later stages (ingest) have made everything durable elsewhere;
 * segments wholly below the checkpoint are deleted.
 *
 * On open, every segment from the checkpoint on is scanned: records are
 * verified by checksum; a torn or corrupt tail (crash during a write) is
 * reported in the log and cut off; corruption in the middle is skipped by
 * resynchronising on the next valid record header, and reported. Open never
 * crashes on a bad file and never drops a valid record before the damage.
 * See docs/WAL.md for the format.
 */
#ifndef SN_WAL_H
#define SN_WAL_H

#include "base/base.h"

/* Record types. Payload formats are owned by the producers (capture). */
enum sn_wal_type {
	SN_WAL_EVENT = 1,     /* one normalised analytics event, JSON */
	SN_WAL_RECORDING = 2, /* one session-recording upload ($snapshot_items), JSON */
	SN_WAL_SCRUBBED = 3,  /* a consumed record erased in place (sn_wal_scrub): zeros */
	SN_WAL_EVENT_IX = 4,  /* an analytics event: an index, then the JSON (wal/evindex.h) */
};

/* An analytics event record, indexed or not. */
static inline bool sn_wal_is_event(uint8_t type)
{
	return type == SN_WAL_EVENT || type == SN_WAL_EVENT_IX;
}

struct sn_wal_options {
	const char *dir;	/* directory for segments and the checkpoint file */
	uint64_t segment_bytes; /* roll to a new segment past this size (default 64 MiB) */
	size_t buffer_bytes;	/* each of the two append buffers (memory is twice this; min 4 KiB,
				   default 16 MiB); appenders wait when full */
	uint32_t max_record_bytes; /* largest payload accepted (default 64 MiB, at most 1 GiB) */
	uint64_t keep_bytes;	   /* consumed segments kept after a checkpoint, up to this many
				      bytes (default 0: deleted at once); for re-reading and support */
};

struct sn_wal_stats {
	uint64_t head_lsn;	    /* end of the last appended record */
	uint64_t durable_lsn;	    /* everything below is on disk */
	uint64_t checkpoint_lsn;    /* everything below is consumed by later stages */
	uint64_t bytes_written;	    /* since open */
	uint64_t fsyncs;	    /* since open */
	uint64_t records_appended;  /* since open */
	uint64_t records_recovered; /* valid records found after the checkpoint at open */
	uint64_t corrupt_bytes;	    /* bytes skipped or cut off at open */
	uint64_t segments;	    /* segment files currently on disk */
};

struct sn_wal;

/* One record to append. */
struct sn_wal_rec {
	uint8_t type;
	const void *data;
	uint32_t len;
};

/* Opens (creating if needed) the log in opt->dir, recovers it as described
 * above and starts the flusher thread. Fails with SN_ERR_IO when the
 * directory cannot be used. */
int sn_wal_open(struct sn_wal **out, const struct sn_wal_options *opt, struct sn_err *err);

/* Stops accepting appends, flushes and fsyncs everything appended, wakes all
 * waiters (with status 0 if their data made it, SN_ERR_IO otherwise), stops
 * the flusher and frees the log. */
void sn_wal_close(struct sn_wal *w);

/* Appends n records contiguously (no other append interleaves). Blocks only
 * while the buffer is full. *end_lsn receives the LSN after the last record:
 * wait for it to become durable before acknowledging. Fails with
 * SN_ERR_TOO_BIG (record larger than max_record_bytes), SN_ERR_CLOSED (log
 * closing) or SN_ERR_IO (an earlier write failed: the log is read-only). */
int sn_wal_append(struct sn_wal *w, const struct sn_wal_rec *recs, size_t n, uint64_t *end_lsn,
		  struct sn_err *err);

/* Called once from the flusher thread (or inline, if lsn is already durable)
 * with status 0 when everything below lsn is durable, or a negative SN_ERR_*
 * when the write or fsync failed. Must not block or call back into the log. */
/* Returns SN_ERR_INVALID for an lsn beyond the head, SN_ERR_NOMEM/TOO_BIG
 * when the waiter queue (at most 4M entries) cannot grow; once the log has
 * failed, fn runs inline with SN_ERR_IO and the call returns 0. */
typedef void (*sn_wal_durable_fn)(void *arg, int status);
int sn_wal_when_durable(struct sn_wal *w, uint64_t lsn, sn_wal_durable_fn fn, void *arg);

/* Blocks until lsn is durable; returns 0 or the write/fsync error, or
 * SN_ERR_INVALID for an lsn beyond the head (which would never come). */
int sn_wal_wait_durable(struct sn_wal *w, uint64_t lsn);

/* Records that everything below lsn is consumed; persisted atomically
 * (temp file, fsync, rename, fsync dir). The segments that end at or below
 * it leave the log at once (stats, readers opened later) and are deleted
 * from disk by a background thread (an unlink can wait on the device's
 * discard); close waits for those deletions. lsn must not exceed the
 * durable LSN. */
int sn_wal_checkpoint(struct sn_wal *w, uint64_t lsn, struct sn_err *err);

/* Waits until the segments earlier checkpoints consumed are deleted. */
void sn_wal_removals_wait(struct sn_wal *w);

void sn_wal_get_stats(struct sn_wal *w, struct sn_wal_stats *st);

/* True while the log accepts appends (no I/O failure, not closing). */
bool sn_wal_writable(struct sn_wal *w);

/* ---- reading ------------------------------------------------------------- */

/* A sequential reader over the records on disk from an LSN. It is
 * independent of an open writer (opens the files itself) and sees what was
 * written to disk at the time it reads. */
struct sn_wal_reader;

struct sn_wal_entry {
	uint64_t lsn;	  /* where the record starts */
	uint64_t end_lsn; /* where the next record starts */
	uint8_t type;
	const char *data; /* valid until the next call */
	uint32_t len;
};

int sn_wal_reader_open(struct sn_wal_reader **out, const char *dir, uint64_t from_lsn,
		       struct sn_err *err);
/* Returns 1 and fills e with the next record, 0 at the end of the log, or a
 * negative SN_ERR_* (with a message) on an I/O error. Corrupt regions are
 * skipped as at open. */
int sn_wal_reader_next(struct sn_wal_reader *r, struct sn_wal_entry *e, struct sn_err *err);
void sn_wal_reader_close(struct sn_wal_reader *r);

/* ---- erasing consumed records (scrub.c) ------------------------------------ */

/* Overwrites, in place, every record below min(below_lsn, the persisted
 * checkpoint) for which match returns true with a record of the same length
 * and position of type SN_WAL_SCRUBBED whose payload is zeros, then
 * fdatasyncs each changed segment. For deletions that must also reach the
 * segments wal_keep_size retains and the consumed part of the current one.
 * Safe beside an open writer and readers (they never touch records below
 * the checkpoint). *scrubbed (may be NULL) gets the count. Reads every
 * segment below the limit: costs one sequential read of them. */
int sn_wal_scrub(const char *dir, uint64_t below_lsn,
		 bool (*match)(void *ctx, const struct sn_wal_entry *e), void *ctx,
		 uint64_t *scrubbed, struct sn_err *err);

/* Reads the persisted checkpoint of a log directory (0 if none). */
int sn_wal_read_checkpoint(const char *dir, uint64_t *lsn, struct sn_err *err);

#endif
