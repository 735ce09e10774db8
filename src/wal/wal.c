/*
 * wal.c — the WAL writer: recovery at open, group commit, durability
 * notifications, segment rollover and checkpoints.
 *
 * Group commit with two buffers:
 *
 *   appenders ──memcpy under lock──▶ fill  [fill_lsn .. head_lsn)
 *                                     │ swap (flusher, under lock)
 *   flusher   ◀── write + fdatasync ── spare (outside the lock)
 *
 * An append computes its payload CRCs before taking the lock, then, under
 * it, writes the 28-byte headers (which carry the LSN, known only there) and
 * memcpys the payloads into `fill`. One flusher thread sleeps on work_cv
 * until fill holds data, swaps the buffers, and writes and fdatasyncs the
 * full one with the lock released, so appends go on during the fsync; what
 * they add meanwhile is the next batch. That is the whole batching policy:
 * no timers, no "wait a little to gather more". After the fsync it advances
 * durable_lsn, pops every callback whose LSN is now durable from a min-heap
 * (ordered by LSN, then registration), calls them without the lock, and
 * broadcasts durable_cv for sn_wal_wait_durable.
 *
 * Appenders block only when fill cannot take their records (space_cv; the
 * swap frees it). A call whose records cannot fit in an empty buffer takes
 * the "big" path instead of failing: it reserves its LSN range, stops other
 * appends (big_active) so nothing lands after it in fill, and hands its
 * records to the flusher, which writes them straight from the caller's
 * memory after the fill data that precedes them; the caller waits until
 * they are written, because its memory must stay valid until then. The
 * alternative — growing the buffer — was rejected: the buffer is the memory
 * bound.
 *
 * Segment rollover is decided by the flusher as it writes: a record that
 * would push a non-empty segment past segment_bytes starts a new file named
 * after its LSN. The old segment is fdatasync'ed before the new one is
 * created, so only the last segment can ever have a torn tail.
 *
 * Failure: a failed write or fsync marks the log failed for good. Waiters
 * and callbacks get SN_ERR_IO, appends get SN_ERR_IO; nothing is retried,
 * because after a failed fsync the kernel may have dropped the dirty pages
 * (the "fsyncgate" lesson) and only a reopen (recovery) knows what is on disk.
 *
 * Locking: one mutex (lock) guards everything shared; the flusher alone
 * owns the open segment (seg_fd, seg_base, seg_size) once the thread runs.
 * Callbacks run without the lock and must not call back into the log.
 * Blocking calls count themselves in `users`, so close can wait for them to
 * leave before freeing.
 */
#include "wal/wal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_SEGMENT_BYTES (64ull << 20)
#define DEFAULT_BUFFER_BYTES  (16u << 20)
#define DEFAULT_MAX_RECORD    (64u << 20)
#define MIN_BUFFER_BYTES      4096
#define MAX_CALLBACKS	      (1u << 22)
#define STACK_CRCS	      128

struct callback {
	uint64_t lsn;
	uint64_t seq; /* registration order, to break LSN ties */
	sn_wal_durable_fn fn;
	void *arg;
};

/* A call too large for the buffer, written by the flusher from caller memory. */
struct big_append {
	const struct sn_wal_rec *recs;
	const uint32_t *crcs;
	size_t n;
	uint64_t lsn;
};

struct sn_wal {
	char *dir;
	uint64_t segment_bytes;
	size_t buffer_bytes;
	uint32_t max_record_bytes;
	uint64_t keep_bytes;
	int lock_fd;

	pthread_mutex_t lock;
	pthread_cond_t work_cv;	   /* flusher: data or stop */
	pthread_cond_t space_cv;   /* appenders: room in fill, big done */
	pthread_cond_t durable_cv; /* wait_durable */
	pthread_cond_t users_cv;   /* close: the last blocked caller left */
	pthread_t thread;
	bool thread_started;

	/* Guarded by lock. */
	char *fill, *spare;
	size_t fill_len;
	uint64_t fill_lsn; /* LSN of fill[0] */
	uint64_t head_lsn;
	uint64_t durable_lsn;
	uint64_t checkpoint_lsn;
	bool closing, stop, failed, paused, flusher_idle, flusher_done;
	bool big_active, big_pending, big_done;
	int big_rc;
	struct big_append big;
	struct callback *cbs; /* min-heap on (lsn, seq) */
	size_t ncbs, cbs_cap;
	uint64_t cb_seq;
	uint64_t *segs; /* bases of the segment files, ascending */
	size_t nsegs, segs_cap;
	unsigned users;
	uint64_t bytes_written, fsyncs, records_appended;
	uint64_t records_recovered, corrupt_bytes;

	/* Owned by the flusher thread. */
	int seg_fd;
	uint64_t seg_base, seg_size;
	struct callback *fire; /* callbacks popped for one round */
	size_t fire_cap;

	/* Serialises sn_wal_checkpoint calls. */
	pthread_mutex_t ckpt_lock;

	/* Consumed segments waiting to be deleted by the reaper thread, under
	 * reap_lock (not `lock`: appends never wait for it). */
	pthread_mutex_t reap_lock;
	pthread_cond_t reap_cv;	     /* reaper: work or stop */
	pthread_cond_t reap_done_cv; /* sn_wal_removals_wait: queue drained */
	pthread_t reaper;
	bool reaper_started, reap_stop, reaping;
	uint64_t *reap;
	size_t nreap, reap_cap;

	struct sn_metric_series *m_bytes, *m_fsyncs, *m_fsync_seconds, *m_records;
};

/* ---- callback heap -------------------------------------------------------------- */

static bool cb_less(const struct callback *a, const struct callback *b)
{
	return a->lsn < b->lsn || (a->lsn == b->lsn && a->seq < b->seq);
}

static int cb_push(struct sn_wal *w, uint64_t lsn, sn_wal_durable_fn fn, void *arg)
{
	if (w->ncbs == w->cbs_cap) {
		if (w->cbs_cap >= MAX_CALLBACKS)
			return SN_ERR_TOO_BIG;
		size_t ncap = w->cbs_cap ? w->cbs_cap * 2 : 64;
		struct callback *n = realloc(w->cbs, ncap * sizeof(*n));
		if (!n)
			return SN_ERR_NOMEM;
		w->cbs = n;
		w->cbs_cap = ncap;
	}
	size_t i = w->ncbs++;
	struct callback c = {lsn, w->cb_seq++, fn, arg};
	while (i > 0 && cb_less(&c, &w->cbs[(i - 1) / 2])) {
		w->cbs[i] = w->cbs[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	w->cbs[i] = c;
	return 0;
}

static struct callback cb_pop(struct sn_wal *w)
{
	struct callback top = w->cbs[0];
	struct callback last = w->cbs[--w->ncbs];
	size_t i = 0;
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		const struct callback *best = &last;
		if (l < w->ncbs && cb_less(&w->cbs[l], best)) {
			m = l;
			best = &w->cbs[l];
		}
		if (l + 1 < w->ncbs && cb_less(&w->cbs[l + 1], best))
			m = l + 1;
		if (m == i)
			break;
		w->cbs[i] = w->cbs[m];
		i = m;
	}
	if (w->ncbs)
		w->cbs[i] = last;
	return top;
}

/* Moves the callbacks that can fire now (all of them when the log failed or
 * the flusher is gone) into w->fire; returns how many. Called with the lock. */
static size_t collect_callbacks(struct sn_wal *w)
{
	size_t n = 0;
	bool all = w->failed || w->flusher_done;
	while (w->ncbs && (all || w->cbs[0].lsn <= w->durable_lsn)) {
		if (n == w->fire_cap) {
			size_t ncap = w->fire_cap ? w->fire_cap * 2 : 64;
			struct callback *f = realloc(w->fire, ncap * sizeof(*f));
			if (!f)
				break; /* the rest fire next round */
			w->fire = f;
			w->fire_cap = ncap;
		}
		w->fire[n++] = cb_pop(w);
	}
	return n;
}

/* Calls what collect_callbacks gathered; drops and retakes the lock. */
static void fire_callbacks(struct sn_wal *w, size_t n)
{
	if (!n)
		return;
	uint64_t durable = w->durable_lsn;
	int fail = w->failed ? SN_ERR_IO : SN_ERR_CLOSED;
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < n; i++)
		w->fire[i].fn(w->fire[i].arg, w->fire[i].lsn <= durable ? 0 : fail);
	pthread_mutex_lock(&w->lock);
}

/* ---- segment files (flusher side) -------------------------------------------------- */

static int pwrite_all(int fd, const char *p, size_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t r = pwrite(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int timed_fdatasync(struct sn_wal *w, int fd)
{
	uint64_t t0 = sn_mono_ns();
	int rc = fdatasync(fd) ? -errno : 0;
	sn_metric_observe(w->m_fsync_seconds, (double)(sn_mono_ns() - t0) / 1e9);
	sn_metric_add(w->m_fsyncs, 1);
	pthread_mutex_lock(&w->lock);
	w->fsyncs++;
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static void segs_add(struct sn_wal *w, uint64_t base)
{
	if (w->nsegs == w->segs_cap) {
		size_t ncap = w->segs_cap ? w->segs_cap * 2 : 16;
		uint64_t *n = realloc(w->segs, ncap * sizeof(*n));
		if (!n) {
			/* Only checkpoint deletion and stats use the list; a
			 * missing entry means the file lingers until reopen. */
			sn_log_warn("wal: out of memory tracking segment %016" PRIx64, base);
			return;
		}
		w->segs = n;
		w->segs_cap = ncap;
	}
	w->segs[w->nsegs++] = base;
}

/* Creates the segment starting at base; its directory entry is fsync'ed. */
static int create_segment(struct sn_wal *w, uint64_t base, int *fd_out, struct sn_err *err)
{
	char path[PATH_MAX];
	sn_wal_segment_path(path, sizeof(path), w->dir, base);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return sn_err_set(err, SN_ERR_IO, "cannot create WAL segment '%s': %s", path,
				  strerror(errno));
	int rc = sn_fsync_dir(w->dir, err);
	if (rc) {
		close(fd);
		unlink(path);
		return rc;
	}
	*fd_out = fd;
	return 0;
}

static int roll(struct sn_wal *w, uint64_t lsn, struct sn_err *err)
{
	int rc = timed_fdatasync(w, w->seg_fd);
	if (rc)
		return sn_err_set(err, SN_ERR_IO, "fdatasync of WAL segment %016" PRIx64 ": %s",
				  w->seg_base, strerror(-rc));
	int fd = -1;
	rc = create_segment(w, lsn, &fd, err);
	if (rc)
		return rc;
	close(w->seg_fd);
	w->seg_fd = fd;
	w->seg_base = lsn;
	w->seg_size = 0;
	pthread_mutex_lock(&w->lock);
	segs_add(w, lsn);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static bool must_roll(struct sn_wal *w, uint64_t pending, uint64_t rec)
{
	uint64_t size = w->seg_size + pending;
	return size > 0 && size + rec > w->segment_bytes;
}

static int write_out(struct sn_wal *w, const char *p, size_t n, struct sn_err *err)
{
	int rc = pwrite_all(w->seg_fd, p, n, w->seg_size);
	if (rc)
		return sn_err_set(err, SN_ERR_IO, "write to WAL segment %016" PRIx64 ": %s",
				  w->seg_base, strerror(-rc));
	w->seg_size += n;
	return 0;
}

/* Writes the whole records in buf (starting at LSN lsn), rolling segments
 * at record boundaries. Contiguous runs go out in one pwrite. */
static int write_buffer(struct sn_wal *w, const char *buf, size_t len, uint64_t lsn,
			struct sn_err *err)
{
	size_t start = 0, off = 0;
	int rc = 0;
	while (off < len) {
		uint64_t rec = SN_WAL_HDR + (uint64_t)sn_wal_load32(buf + off + 4);
		if (must_roll(w, off - start, rec)) {
			if ((rc = write_out(w, buf + start, off - start, err)))
				goto out;
			if ((rc = roll(w, lsn + off, err)))
				goto out;
			start = off;
		}
		off += rec;
	}
	rc = write_out(w, buf + start, off - start, err);
out:
	return rc;
}

static int write_big(struct sn_wal *w, const struct big_append *b, struct sn_err *err)
{
	uint64_t lsn = b->lsn;
	int rc = 0;
	for (size_t i = 0; i < b->n; i++) {
		char hdr[SN_WAL_HDR];
		uint64_t rec = SN_WAL_HDR + (uint64_t)b->recs[i].len;
		if (must_roll(w, 0, rec) && (rc = roll(w, lsn, err)))
			goto out;
		sn_wal_hdr_encode(hdr, lsn, b->recs[i].type, b->recs[i].len, b->crcs[i]);
		if ((rc = write_out(w, hdr, SN_WAL_HDR, err)))
			goto out;
		if ((rc = write_out(w, b->recs[i].data, b->recs[i].len, err)))
			goto out;
		lsn += rec;
	}
out:
	return rc;
}

/* ---- flusher ---------------------------------------------------------------------- */

static void *flusher_main(void *arg)
{
	struct sn_wal *w = arg;
	struct sn_err err;
	pthread_setname_np(pthread_self(), "sn-wal-sync");
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->stop && (w->paused || (w->fill_len == 0 && !w->big_pending))) {
			w->flusher_idle = true;
			pthread_cond_wait(&w->work_cv, &w->lock);
			w->flusher_idle = false;
		}
		if (w->fill_len == 0 && !w->big_pending)
			break; /* stop, and everything is written */
		if (w->failed) {
			/* Appended before the failure was noticed: never written. */
			w->fill_len = 0;
			w->fill_lsn = w->head_lsn;
			if (w->big_pending) {
				w->big_pending = false;
				w->big_done = true;
				w->big_rc = SN_ERR_IO;
			}
			pthread_cond_broadcast(&w->space_cv);
			continue;
		}
		char *buf = w->fill;
		size_t len = w->fill_len;
		uint64_t lsn = w->fill_lsn, end = w->head_lsn;
		struct big_append big = w->big;
		bool has_big = w->big_pending;
		w->big_pending = false;
		w->fill = w->spare;
		w->spare = NULL;
		w->fill_len = 0;
		w->fill_lsn = w->head_lsn;
		pthread_cond_broadcast(&w->space_cv);
		pthread_mutex_unlock(&w->lock);

		int rc = write_buffer(w, buf, len, lsn, &err);
		if (!rc && has_big)
			rc = write_big(w, &big, &err);
		if (!rc) {
			int e = timed_fdatasync(w, w->seg_fd);
			if (e)
				rc = sn_err_set(&err, SN_ERR_IO,
						"fdatasync of WAL segment %016" PRIx64 ": %s",
						w->seg_base, strerror(-e));
		}
		if (!rc)
			sn_metric_add(w->m_bytes, end - lsn);

		pthread_mutex_lock(&w->lock);
		w->spare = buf;
		if (has_big) {
			w->big_done = true;
			w->big_rc = rc ? SN_ERR_IO : 0;
		}
		if (rc) {
			sn_log_error("wal: %s; the log is now read-only (durable up to LSN %" PRIu64
				     ", %" PRIu64 " bytes lost)",
				     err.msg, w->durable_lsn, w->head_lsn - w->durable_lsn);
			w->failed = true;
		} else {
			w->durable_lsn = end;
			w->bytes_written += end - lsn;
		}
		pthread_cond_broadcast(&w->space_cv);
		pthread_cond_broadcast(&w->durable_cv);
		fire_callbacks(w, collect_callbacks(w));
	}
	w->flusher_done = true;
	pthread_cond_broadcast(&w->durable_cv);
	pthread_cond_broadcast(&w->space_cv);
	size_t n;
	while ((n = collect_callbacks(w)) > 0)
		fire_callbacks(w, n);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* ---- recovery ------------------------------------------------------------------------- */

/* Segments whose successor starts at or below ckpt hold only consumed
 * records (the last segment is the flusher's and is never one of them).
 * They are deleted oldest first until the consumed ones left span at most
 * keep_bytes; returns how many to delete. */
static size_t first_kept(const uint64_t *segs, size_t n, uint64_t ckpt, uint64_t keep_bytes)
{
	size_t k = 0, j = 0;
	while (k + 1 < n && segs[k + 1] <= ckpt)
		k++;
	while (j < k && segs[k] - segs[j] > keep_bytes)
		j++;
	return j;
}

static void remove_segment(const char *dir, uint64_t base)
{
	char path[PATH_MAX];
	sn_wal_segment_path(path, sizeof(path), dir, base);
	if (unlink(path) && errno != ENOENT)
		sn_log_warn("wal: cannot delete segment '%s': %s", path, strerror(errno));
}

/* The reaper deletes the segments a checkpoint consumed. unlink of a 64 MiB
 * file on ext4 mounted with `discard` waits for the device's discard: 14 ms
 * a segment on the benchmark VM, 6 % of the ingest thread's time when the
 * checkpoint's caller did it inline. A deletion that has not happened yet
 * is harmless: sn_wal_open deletes every consumed segment it finds, and
 * readers start at the checkpoint. Queued deletions finish before close
 * releases the directory's lock. */
static void *reaper_main(void *arg)
{
	struct sn_wal *w = arg;
	pthread_setname_np(pthread_self(), "sn-wal-reap");
	pthread_mutex_lock(&w->reap_lock);
	for (;;) {
		while (!w->nreap && !w->reap_stop)
			pthread_cond_wait(&w->reap_cv, &w->reap_lock);
		if (!w->nreap)
			break;
		uint64_t base = w->reap[0];
		memmove(w->reap, w->reap + 1, (w->nreap - 1) * sizeof(*w->reap));
		w->nreap--;
		w->reaping = true;
		pthread_mutex_unlock(&w->reap_lock);
		remove_segment(w->dir, base);
		pthread_mutex_lock(&w->reap_lock);
		w->reaping = false;
		if (!w->nreap)
			pthread_cond_broadcast(&w->reap_done_cv);
	}
	pthread_mutex_unlock(&w->reap_lock);
	return NULL;
}

/* Hands segments to the reaper; deletes them here when it cannot queue. */
static void reap_segments(struct sn_wal *w, const uint64_t *bases, size_t n)
{
	pthread_mutex_lock(&w->reap_lock);
	if (w->reaper_started && w->nreap + n > w->reap_cap) {
		size_t cap = w->reap_cap ? w->reap_cap : 16;
		while (cap < w->nreap + n)
			cap *= 2;
		uint64_t *q = realloc(w->reap, cap * sizeof(*q));
		if (q) {
			w->reap = q;
			w->reap_cap = cap;
		}
	}
	if (w->reaper_started && w->nreap + n <= w->reap_cap) {
		memcpy(w->reap + w->nreap, bases, n * sizeof(*bases));
		w->nreap += n;
		pthread_cond_signal(&w->reap_cv);
		n = 0;
	}
	pthread_mutex_unlock(&w->reap_lock);
	for (size_t i = 0; i < n; i++)
		remove_segment(w->dir, bases[i]);
}

void sn_wal_removals_wait(struct sn_wal *w)
{
	pthread_mutex_lock(&w->reap_lock);
	while (w->nreap || w->reaping)
		pthread_cond_wait(&w->reap_done_cv, &w->reap_lock);
	pthread_mutex_unlock(&w->reap_lock);
}

/* Scans segment i of w->segs; for the last one, cuts a torn tail and leaves
 * it open for appending in w->seg_fd. */
static int scan_segment(struct sn_wal *w, size_t i, uint64_t ckpt, struct sn_err *err)
{
	bool last = i + 1 == w->nsegs;
	uint64_t base = w->segs[i];
	uint64_t cap = last ? UINT64_MAX : w->segs[i + 1] - base;
	struct sn_wal_cursor c;
	struct sn_wal_entry e;
	uint64_t skipped;
	int rc = sn_wal_cursor_open(&c, w->dir, base, cap, last ? O_RDWR : O_RDONLY, err);
	if (rc)
		goto out;
	struct stat st;
	uint64_t file_size = fstat(c.fd, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
	while ((rc = sn_wal_cursor_next(&c, &e, &skipped, err)) == 1) {
		if (skipped) {
			sn_log_warn("wal: segment %016" PRIx64 ": skipped %" PRIu64
				    " corrupt bytes at offset %" PRIu64 " (LSN %" PRIu64 ")",
				    base, skipped, e.lsn - skipped - base, e.lsn - skipped);
			w->corrupt_bytes += skipped;
		}
		if (e.lsn >= ckpt)
			w->records_recovered++;
	}
	if (rc < 0)
		goto out;
	rc = 0;
	if (last) {
		if (skipped) {
			sn_log_warn("wal: segment %016" PRIx64 ": torn tail, cutting %" PRIu64
				    " bytes at offset %" PRIu64 " (file was %" PRIu64 " bytes)",
				    base, skipped, c.off, file_size);
			w->corrupt_bytes += skipped;
			if (ftruncate(c.fd, (off_t)c.off) || fsync(c.fd)) {
				rc = sn_err_set(
				    err, SN_ERR_IO,
				    "cannot cut the torn tail of WAL segment %016" PRIx64 ": %s",
				    base, strerror(errno));
				goto out;
			}
		}
		w->seg_fd = c.fd;
		c.fd = -1;
		w->seg_base = base;
		w->seg_size = c.off;
		w->head_lsn = base + c.off;
		goto out;
	}
	if (skipped) {
		sn_log_warn("wal: segment %016" PRIx64 ": skipped %" PRIu64
			    " corrupt bytes at its end (offset %" PRIu64 ")",
			    base, skipped, c.off);
		w->corrupt_bytes += skipped;
	}
	if (file_size > cap) {
		sn_log_warn("wal: segment %016" PRIx64 ": %" PRIu64
			    " bytes overlap the next segment and are ignored",
			    base, file_size - cap);
		w->corrupt_bytes += file_size - cap;
	} else if (file_size < cap) {
		sn_log_warn("wal: segment %016" PRIx64 ": %" PRIu64
			    " bytes missing before the next segment",
			    base, cap - file_size);
	}
out:
	sn_wal_cursor_release(&c);
	return rc;
}

static int recover(struct sn_wal *w, struct sn_err *err)
{
	uint64_t ckpt = 0;
	struct sn_err cerr;
	int rc = sn_wal_read_checkpoint(w->dir, &ckpt, &cerr);
	if (rc == SN_ERR_CORRUPT) {
		/* Replaying from the oldest segment is a duplicate delivery;
		 * refusing to open would be an outage. */
		sn_log_warn("wal: %s; replaying from the oldest segment", cerr.msg);
		ckpt = 0;
	} else if (rc) {
		rc = sn_err_set(err, rc, "%s", cerr.msg);
		goto out;
	}
	w->checkpoint_lsn = ckpt;
	if ((rc = sn_wal_list_segments(w->dir, &w->segs, &w->nsegs, err)))
		goto out;
	w->segs_cap = w->nsegs;

	size_t first = first_kept(w->segs, w->nsegs, ckpt, w->keep_bytes);
	if (first) {
		for (size_t i = 0; i < first; i++)
			remove_segment(w->dir, w->segs[i]);
		memmove(w->segs, w->segs + first, (w->nsegs - first) * sizeof(*w->segs));
		w->nsegs -= first;
	}

	/* Only segments holding records after the checkpoint are recovered;
	 * older ones are kept for wal_keep_size but were consumed. */
	for (size_t i = 0; i < w->nsegs; i++)
		if (!(i + 1 < w->nsegs && w->segs[i + 1] <= ckpt) &&
		    (rc = scan_segment(w, i, ckpt, err)))
			goto out;

	if (w->nsegs == 0 || w->head_lsn < ckpt) {
		if (w->nsegs)
			sn_log_warn("wal: the log ends at LSN %" PRIu64
				    " below the checkpoint %" PRIu64
				    "; continuing at the checkpoint",
				    w->head_lsn, ckpt);
		int fd = -1;
		if ((rc = create_segment(w, ckpt, &fd, err)))
			goto out;
		if (w->seg_fd >= 0) {
			close(w->seg_fd);
			remove_segment(w->dir, w->seg_base);
			w->nsegs--;
		}
		w->seg_fd = fd;
		w->seg_base = ckpt;
		w->seg_size = 0;
		w->head_lsn = ckpt;
		segs_add(w, ckpt);
		if (w->nsegs == 0) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory opening the WAL");
			goto out;
		}
	}
	w->durable_lsn = w->head_lsn;
	w->fill_lsn = w->head_lsn;
	if (w->records_recovered || w->corrupt_bytes)
		sn_log_info("wal: recovered %" PRIu64 " records after checkpoint %" PRIu64
			    " in %zu segments, log ends at LSN %" PRIu64 ", %" PRIu64
			    " corrupt bytes",
			    w->records_recovered, ckpt, w->nsegs, w->head_lsn, w->corrupt_bytes);
out:
	return rc;
}

/* ---- public API ------------------------------------------------------------------------ */

static void wal_free(struct sn_wal *w)
{
	if (w->seg_fd >= 0)
		close(w->seg_fd);
	if (w->lock_fd >= 0)
		close(w->lock_fd); /* releases the flock */
	pthread_mutex_destroy(&w->lock);
	pthread_mutex_destroy(&w->ckpt_lock);
	pthread_mutex_destroy(&w->reap_lock);
	pthread_cond_destroy(&w->reap_cv);
	pthread_cond_destroy(&w->reap_done_cv);
	free(w->reap);
	pthread_cond_destroy(&w->work_cv);
	pthread_cond_destroy(&w->space_cv);
	pthread_cond_destroy(&w->durable_cv);
	pthread_cond_destroy(&w->users_cv);
	free(w->fill);
	free(w->spare);
	free(w->cbs);
	free(w->fire);
	free(w->segs);
	free(w->dir);
	free(w);
}

static int lock_dir(struct sn_wal *w, struct sn_err *err)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/lock", w->dir);
	w->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (w->lock_fd < 0)
		return sn_err_set(err, SN_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
	if (flock(w->lock_fd, LOCK_EX | LOCK_NB))
		return sn_err_set(err, SN_ERR_IO,
				  "WAL directory '%s' is in use by another writer: %s", w->dir,
				  strerror(errno));
	return 0;
}

int sn_wal_open(struct sn_wal **out, const struct sn_wal_options *opt, struct sn_err *err)
{
	*out = NULL;
	if (!opt || !opt->dir || !*opt->dir)
		return sn_err_set(err, SN_ERR_INVALID, "the WAL needs a directory");
	if (opt->max_record_bytes > SN_WAL_RECORD_LIMIT)
		return sn_err_set(err, SN_ERR_INVALID, "max_record_bytes %u is above the limit %u",
				  opt->max_record_bytes, SN_WAL_RECORD_LIMIT);
	if (strlen(opt->dir) > PATH_MAX - 64)
		return sn_err_set(err, SN_ERR_INVALID, "WAL directory path is too long");
	struct sn_wal *w = calloc(1, sizeof(*w));
	if (!w)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory opening the WAL");
	int rc = 0;
	w->seg_fd = w->lock_fd = -1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_mutex_init(&w->ckpt_lock, NULL);
	pthread_mutex_init(&w->reap_lock, NULL);
	pthread_cond_init(&w->reap_cv, NULL);
	pthread_cond_init(&w->reap_done_cv, NULL);
	pthread_cond_init(&w->work_cv, NULL);
	pthread_cond_init(&w->space_cv, NULL);
	pthread_cond_init(&w->durable_cv, NULL);
	pthread_cond_init(&w->users_cv, NULL);
	w->segment_bytes = opt->segment_bytes ? opt->segment_bytes : DEFAULT_SEGMENT_BYTES;
	w->keep_bytes = opt->keep_bytes;
	w->buffer_bytes = opt->buffer_bytes ? opt->buffer_bytes : DEFAULT_BUFFER_BYTES;
	if (w->buffer_bytes < MIN_BUFFER_BYTES)
		w->buffer_bytes = MIN_BUFFER_BYTES;
	w->max_record_bytes = opt->max_record_bytes ? opt->max_record_bytes : DEFAULT_MAX_RECORD;
	w->dir = strdup(opt->dir);
	w->fill = malloc(w->buffer_bytes);
	w->spare = malloc(w->buffer_bytes);
	if (!w->dir || !w->fill || !w->spare) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory for the WAL buffers");
		goto out;
	}
	if ((rc = sn_mkdir_p(w->dir, err)))
		goto out;
	if ((rc = lock_dir(w, err)))
		goto out;
	if ((rc = recover(w, err)))
		goto out;

	sn_metrics_declare("snout_wal_bytes_written_total", SN_METRIC_COUNTER,
			   "Bytes written to the write-ahead log.");
	sn_metrics_declare("snout_wal_fsyncs_total", SN_METRIC_COUNTER,
			   "fdatasync calls on write-ahead log segments.");
	sn_metrics_declare("snout_wal_fsync_seconds", SN_METRIC_HISTOGRAM,
			   "Duration of write-ahead log fdatasync calls.");
	sn_metrics_declare("snout_wal_records_total", SN_METRIC_COUNTER,
			   "Records appended to the write-ahead log.");
	w->m_bytes = sn_metric_series("snout_wal_bytes_written_total", "");
	w->m_fsyncs = sn_metric_series("snout_wal_fsyncs_total", "");
	w->m_fsync_seconds = sn_metric_series("snout_wal_fsync_seconds", "");
	w->m_records = sn_metric_series("snout_wal_records_total", "");

	int e = pthread_create(&w->thread, NULL, flusher_main, w);
	if (e) {
		rc = sn_err_set(err, SN_ERR_INTERNAL, "cannot start the WAL flusher: %s",
				strerror(e));
		goto out;
	}
	w->thread_started = true;
	if ((e = pthread_create(&w->reaper, NULL, reaper_main, w)) == 0)
		w->reaper_started = true; /* else checkpoints delete inline */
out:
	if (rc) {
		if (err)
			sn_err_prefix(err, "cannot open the WAL");
		wal_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

void sn_wal_close(struct sn_wal *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->closing = true;
	w->stop = true;
	pthread_cond_signal(&w->work_cv);
	pthread_cond_broadcast(&w->space_cv);
	pthread_mutex_unlock(&w->lock);
	if (w->thread_started)
		pthread_join(w->thread, NULL);
	if (w->reaper_started) {
		pthread_mutex_lock(&w->reap_lock);
		w->reap_stop = true;
		pthread_cond_signal(&w->reap_cv);
		pthread_mutex_unlock(&w->reap_lock);
		pthread_join(w->reaper, NULL); /* after the queued deletions */
	}
	pthread_mutex_lock(&w->lock);
	while (w->users > 0)
		pthread_cond_wait(&w->users_cv, &w->lock);
	pthread_mutex_unlock(&w->lock);
	wal_free(w);
}

static void user_leave(struct sn_wal *w)
{
	if (--w->users == 0 && w->closing)
		pthread_cond_signal(&w->users_cv);
}

static int check_open(struct sn_wal *w, struct sn_err *err)
{
	if (w->failed)
		return sn_err_set(err, SN_ERR_IO,
				  "the WAL failed to write earlier and is read-only");
	if (w->closing)
		return sn_err_set(err, SN_ERR_CLOSED, "the WAL is closing");
	return 0;
}

static void copy_records(struct sn_wal *w, const struct sn_wal_rec *recs, size_t n,
			 const uint32_t *crcs)
{
	char *p = w->fill + w->fill_len;
	uint64_t lsn = w->head_lsn;
	for (size_t i = 0; i < n; i++) {
		sn_wal_hdr_encode(p, lsn, recs[i].type, recs[i].len, crcs[i]);
		if (recs[i].len)
			memcpy(p + SN_WAL_HDR, recs[i].data, recs[i].len);
		p += SN_WAL_HDR + (size_t)recs[i].len;
		lsn += SN_WAL_HDR + (uint64_t)recs[i].len;
	}
	w->fill_len = (size_t)(p - w->fill);
	w->head_lsn = lsn;
}

/* The call cannot fit in an empty buffer: the flusher writes it directly. */
static int append_big(struct sn_wal *w, const struct sn_wal_rec *recs, size_t n,
		      const uint32_t *crcs, uint64_t total, uint64_t *end_lsn, struct sn_err *err)
{
	int rc;
	while (!(rc = check_open(w, err)) && w->big_active)
		pthread_cond_wait(&w->space_cv, &w->lock);
	if (rc)
		return rc;
	w->big_active = true;
	w->big_pending = true;
	w->big_done = false;
	w->big = (struct big_append){recs, crcs, n, w->head_lsn};
	w->head_lsn += total;
	*end_lsn = w->head_lsn;
	pthread_cond_signal(&w->work_cv);
	while (!w->big_done)
		pthread_cond_wait(&w->space_cv, &w->lock);
	rc = w->big_rc;
	w->big_active = false;
	w->big_done = false;
	pthread_cond_broadcast(&w->space_cv);
	if (rc)
		return sn_err_set(err, rc, "writing a %" PRIu64 "-byte WAL append failed", total);
	return 0;
}

int sn_wal_append(struct sn_wal *w, const struct sn_wal_rec *recs, size_t n, uint64_t *end_lsn,
		  struct sn_err *err)
{
	uint32_t stack_crcs[STACK_CRCS];
	uint32_t *crcs = stack_crcs;
	uint64_t total = 0;
	int rc = 0;
	bool locked = false;
	if (!w || !end_lsn || (n && !recs))
		return sn_err_set(err, SN_ERR_INVALID, "bad arguments to sn_wal_append");
	if (n > STACK_CRCS && !(crcs = malloc(n * sizeof(*crcs)))) {
		crcs = NULL;
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory appending %zu records", n);
		goto out;
	}
	/* Checksums are position-independent: compute them before the lock. */
	for (size_t i = 0; i < n; i++) {
		if (recs[i].len > w->max_record_bytes) {
			rc = sn_err_set(err, SN_ERR_TOO_BIG,
					"record of %u bytes is larger than the WAL maximum of %u",
					recs[i].len, w->max_record_bytes);
			goto out;
		}
		if (recs[i].len && !recs[i].data) {
			rc = sn_err_set(err, SN_ERR_INVALID, "record %zu has no data", i);
			goto out;
		}
		crcs[i] = sn_crc32(0, recs[i].data, recs[i].len);
		total += SN_WAL_HDR + (uint64_t)recs[i].len;
	}

	pthread_mutex_lock(&w->lock);
	locked = true;
	w->users++;
	if ((rc = check_open(w, err)))
		goto out;
	if (total > w->buffer_bytes) {
		rc = append_big(w, recs, n, crcs, total, end_lsn, err);
	} else {
		while (!(rc = check_open(w, err)) &&
		       (w->big_active || w->fill_len + total > w->buffer_bytes))
			pthread_cond_wait(&w->space_cv, &w->lock);
		if (rc)
			goto out;
		copy_records(w, recs, n, crcs);
		if (w->flusher_idle && n)
			pthread_cond_signal(&w->work_cv);
		*end_lsn = w->head_lsn;
	}
	if (!rc)
		w->records_appended += n;
out:
	if (locked) {
		user_leave(w);
		pthread_mutex_unlock(&w->lock);
	}
	if (!rc)
		sn_metric_add(w->m_records, n);
	if (crcs != stack_crcs)
		free(crcs);
	return rc;
}

int sn_wal_when_durable(struct sn_wal *w, uint64_t lsn, sn_wal_durable_fn fn, void *arg)
{
	if (!w || !fn)
		return SN_ERR_INVALID;
	int status = 0, rc = 0;
	pthread_mutex_lock(&w->lock);
	if (lsn > w->head_lsn)
		rc = SN_ERR_INVALID; /* nothing was appended up to there */
	else if (lsn <= w->durable_lsn)
		status = 0;
	else if (w->failed)
		status = SN_ERR_IO;
	else if (w->flusher_done)
		status = SN_ERR_CLOSED;
	else if (!(rc = cb_push(w, lsn, fn, arg)))
		rc = 1;
	pthread_mutex_unlock(&w->lock);
	if (rc == 1)
		return 0; /* queued */
	if (rc == 0)
		fn(arg, status);
	return rc;
}

int sn_wal_wait_durable(struct sn_wal *w, uint64_t lsn)
{
	if (!w)
		return SN_ERR_INVALID;
	int rc;
	pthread_mutex_lock(&w->lock);
	w->users++;
	if (lsn > w->head_lsn) {
		rc = SN_ERR_INVALID;
		goto out;
	}
	while (w->durable_lsn < lsn && !w->failed && !w->flusher_done)
		pthread_cond_wait(&w->durable_cv, &w->lock);
	rc = w->durable_lsn >= lsn ? 0 : w->failed ? SN_ERR_IO : SN_ERR_CLOSED;
out:
	user_leave(w);
	pthread_mutex_unlock(&w->lock);
	return rc;
}

int sn_wal_checkpoint(struct sn_wal *w, uint64_t lsn, struct sn_err *err)
{
	uint64_t *doomed = NULL;
	size_t ndoomed = 0;
	int rc = 0;
	if (!w)
		return sn_err_set(err, SN_ERR_INVALID, "no WAL");
	pthread_mutex_lock(&w->ckpt_lock);
	pthread_mutex_lock(&w->lock);
	uint64_t durable = w->durable_lsn, current = w->checkpoint_lsn;
	pthread_mutex_unlock(&w->lock);
	if (lsn > durable) {
		rc = sn_err_set(err, SN_ERR_INVALID,
				"checkpoint %" PRIu64 " is beyond the durable LSN %" PRIu64, lsn,
				durable);
		goto out;
	}
	if (lsn <= current)
		goto out; /* checkpoints only move forward; repeating one is harmless */
	if ((rc = sn_wal_write_checkpoint(w->dir, lsn, err)))
		goto out;

	/* Segments whose successor starts at or below lsn hold only consumed
	 * records. The last segment is the flusher's and is never deleted. */
	pthread_mutex_lock(&w->lock);
	w->checkpoint_lsn = lsn;
	size_t k = first_kept(w->segs, w->nsegs, lsn, w->keep_bytes);
	if (k && (doomed = malloc(k * sizeof(*doomed)))) {
		memcpy(doomed, w->segs, k * sizeof(*doomed));
		memmove(w->segs, w->segs + k, (w->nsegs - k) * sizeof(*w->segs));
		w->nsegs -= k;
		ndoomed = k;
	}
	pthread_mutex_unlock(&w->lock);
	if (ndoomed)
		reap_segments(w, doomed, ndoomed);
out:
	pthread_mutex_unlock(&w->ckpt_lock);
	free(doomed);
	return rc;
}

void sn_wal_get_stats(struct sn_wal *w, struct sn_wal_stats *st)
{
	pthread_mutex_lock(&w->lock);
	*st = (struct sn_wal_stats){
	    .head_lsn = w->head_lsn,
	    .durable_lsn = w->durable_lsn,
	    .checkpoint_lsn = w->checkpoint_lsn,
	    .bytes_written = w->bytes_written,
	    .fsyncs = w->fsyncs,
	    .records_appended = w->records_appended,
	    .records_recovered = w->records_recovered,
	    .corrupt_bytes = w->corrupt_bytes,
	    .segments = w->nsegs,
	};
	pthread_mutex_unlock(&w->lock);
}

bool sn_wal_writable(struct sn_wal *w)
{
	pthread_mutex_lock(&w->lock);
	bool ok = !w->failed && !w->closing;
	pthread_mutex_unlock(&w->lock);
	return ok;
}

void sn_wal_test_pause_flusher(struct sn_wal *w, bool paused)
{
	pthread_mutex_lock(&w->lock);
	w->paused = paused;
	pthread_cond_signal(&w->work_cv);
	pthread_mutex_unlock(&w->lock);
}
