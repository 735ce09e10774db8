/*
 * reader.c — sequential reading of the log from an LSN, independent of any
 * writer: it lists the directory and opens the segment files itself.
 *
 *   segs[]:  base0      base1      base2 (last: may still grow)
 *            [cur]──cursor at offset off──▶ next record
 *
 * The reader walks segments in LSN order with the shared cursor
 * (segment.c), so it accepts exactly the records recovery accepts and skips
 * corrupt regions the same way, logging them, but never modifies a file.
 * Damage at the end of the last segment is not skipped: it may be a write
 * in progress, so the reader reports the end of the log there and looks
 * again on the next call (re-reading the file size and re-listing the
 * directory for segments created since). That makes a reader usable as a
 * tail: keep calling sn_wal_reader_next after it returned 0.
 *
 * Segments deleted under the reader (a checkpoint) are stepped over: their
 * records were consumed. Entry data points into the cursor's window and is
 * valid until the next call; no per-record allocation.
 */
#include "wal/wal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct sn_wal_reader {
	char *dir;
	uint64_t *segs; /* the directory as last listed */
	size_t nsegs;
	bool started;	   /* a segment was opened; until then from_lsn picks one */
	bool open;	   /* c is a cursor on a segment */
	bool quiet_skip;   /* from_lsn may point into a record: skipping to the next is no defect */
	uint64_t from_lsn; /* where the first segment is entered */
	uint64_t want;	   /* once started: open the first segment with base >= want */
	struct sn_wal_cursor c;
};

int sn_wal_reader_open(struct sn_wal_reader **out, const char *dir, uint64_t from_lsn,
		       struct sn_err *err)
{
	*out = NULL;
	if (!dir || !*dir)
		return sn_err_set(err, SN_ERR_INVALID, "the WAL reader needs a directory");
	struct sn_wal_reader *r = calloc(1, sizeof(*r));
	int rc = 0;
	if (!r || !(r->dir = strdup(dir))) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory opening a WAL reader");
		goto out;
	}
	r->c.fd = -1;
	r->from_lsn = from_lsn;
	rc = sn_wal_list_segments(dir, &r->segs, &r->nsegs, err);
out:
	if (rc) {
		sn_wal_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

void sn_wal_reader_close(struct sn_wal_reader *r)
{
	if (!r)
		return;
	if (r->open)
		sn_wal_cursor_release(&r->c);
	free(r->segs);
	free(r->dir);
	free(r);
}

static int relist(struct sn_wal_reader *r, struct sn_err *err)
{
	uint64_t *segs;
	size_t n;
	int rc = sn_wal_list_segments(r->dir, &segs, &n, err);
	if (rc)
		return rc;
	free(r->segs);
	r->segs = segs;
	r->nsegs = n;
	return 0;
}

/* The next segment to open from the current listing, if any. Before the
 * first one: the last segment that begins at or before from_lsn, or the
 * oldest when from_lsn precedes it (older ones were deleted). */
static bool pick_segment(struct sn_wal_reader *r, size_t *idx)
{
	size_t i = 0;
	if (!r->started) {
		if (!r->nsegs)
			return false;
		while (i + 1 < r->nsegs && r->segs[i + 1] <= r->from_lsn)
			i++;
		*idx = i;
		return true;
	}
	while (i < r->nsegs && r->segs[i] < r->want)
		i++;
	*idx = i;
	return i < r->nsegs;
}

static bool successor(struct sn_wal_reader *r, uint64_t *next)
{
	for (size_t i = 0; i < r->nsegs; i++) {
		if (r->segs[i] > r->c.base) {
			*next = r->segs[i];
			return true;
		}
	}
	return false;
}

/* Returns 1 when the picked segment vanished (deleted by a checkpoint). */
static int open_segment(struct sn_wal_reader *r, size_t i, struct sn_err *err)
{
	uint64_t base = r->segs[i];
	uint64_t cap = i + 1 < r->nsegs ? r->segs[i + 1] - base : UINT64_MAX;
	int rc = sn_wal_cursor_open(&r->c, r->dir, base, cap, O_RDONLY, err);
	if (rc) {
		sn_wal_cursor_release(&r->c);
		r->want = base + 1;
		r->started = true;
		return rc == SN_ERR_NOT_FOUND ? 1 : rc;
	}
	r->open = true;
	r->c.read_ahead = true;
	if (!r->started && r->from_lsn > base) {
		r->c.off = r->from_lsn - base;
		r->quiet_skip = true;
	}
	r->started = true;
	return 0;
}

int sn_wal_reader_next(struct sn_wal_reader *r, struct sn_wal_entry *e, struct sn_err *err)
{
	bool looked_again = false;
	int rc;
	for (;;) {
		if (!r->open) {
			size_t i;
			if (!pick_segment(r, &i)) {
				if (looked_again)
					return 0;
				looked_again = true;
				if ((rc = relist(r, err)))
					return rc;
				continue;
			}
			rc = open_segment(r, i, err);
			if (rc == 1)
				continue;
			if (rc)
				return rc;
		}
		uint64_t skipped, next;
		rc = sn_wal_cursor_next(&r->c, e, &skipped, err);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			if (skipped && !r->quiet_skip)
				sn_log_warn("wal reader: segment %016" PRIx64 ": skipped %" PRIu64
					    " corrupt bytes at offset %" PRIu64,
					    r->c.base, skipped, e->lsn - skipped - r->c.base);
			r->quiet_skip = false;
			return 1;
		}
		/* The end of this segment's valid data. While it is the last
		 * one it may be growing, or a successor may have appeared. */
		if (!successor(r, &next)) {
			if (looked_again)
				return 0;
			looked_again = true;
			if ((rc = relist(r, err)))
				return rc;
			if (successor(r, &next))
				r->c.cap_limit = next - r->c.base;
			if ((rc = sn_wal_cursor_refresh(&r->c, err)))
				return rc;
			continue;
		}
		if (r->c.cap_limit == UINT64_MAX) {
			/* It was the last when opened: look at it once more
			 * now that it is complete. */
			r->c.cap_limit = next - r->c.base;
			if ((rc = sn_wal_cursor_refresh(&r->c, err)))
				return rc;
			continue;
		}
		if (skipped && !r->quiet_skip)
			sn_log_warn("wal reader: segment %016" PRIx64 ": skipped %" PRIu64
				    " corrupt bytes at its end (offset %" PRIu64 ")",
				    r->c.base, skipped, r->c.off);
		r->want = r->c.base + 1;
		sn_wal_cursor_release(&r->c);
		r->open = false;
	}
}
