/*
 * scrub.c — erasing consumed records from the segments still on disk, for
 * deletions that must reach every copy of a user's data (GDPR).
 *
 * Segments wholly below the checkpoint are deleted by the checkpoint itself,
 * unless wal_keep_size keeps them; the segment holding the checkpoint (often
 * the one being appended to) keeps its consumed records until it rolls
 * over. sn_wal_scrub walks every record below an LSN the consumers have
 * passed and overwrites each one a callback picks, in place:
 *
 *   before  | SNWL | len | lsn | type 1 | crc(payload) | crc(hdr) | payload ... |
 *   after   | SNWL | len | lsn | type 3 | crc(zeros)   | crc(hdr) | 0 0 0 ...   |
 *
 * Same length and position, a valid header (so recovery and readers step
 * over it as over any record: no resynchronisation, no "corruption" in the
 * log), type SN_WAL_SCRUBBED, which no consumer keeps. Then the file is
 * fdatasync'ed. LSNs and every other record are untouched.
 *
 * Concurrency: only records below the persisted checkpoint are touched.
 * The writer appends only past the durable LSN (above the checkpoint) and
 * readers start at the checkpoint, so no one reads or writes these bytes
 * meanwhile; a segment the checkpoint deletes under us is written to after
 * its unlink, harmlessly. Two scrubs of one directory at once would each
 * write the same bytes; the caller serialises them anyway.
 *
 * Rejected: rewriting segments without the records (a copy and a rename).
 * The LSNs of later records would move, and the last segment is open in the
 * writer; an in-place overwrite of a record nobody will read again needs
 * neither.
 */
#include "wal/wal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char zeros[64 * 1024];

static uint32_t zero_crc(uint32_t len)
{
	uint32_t crc = sn_crc32(0, NULL, 0);
	for (uint32_t done = 0; done < len;) {
		uint32_t n = len - done < sizeof(zeros) ? len - done : (uint32_t)sizeof(zeros);
		crc = sn_crc32(crc, zeros, n);
		done += n;
	}
	return crc;
}

static int pwrite_all(int fd, const char *p, size_t n, uint64_t off, struct sn_err *err)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0)
			return sn_err_set(err, SN_ERR_IO, "scrubbing the WAL: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* Overwrites the record e of cursor c as described above. */
static int scrub_one(struct sn_wal_cursor *c, const struct sn_wal_entry *e, struct sn_err *err)
{
	char hdr[SN_WAL_HDR];
	uint64_t off = e->lsn - c->base;
	int rc;
	sn_wal_hdr_encode(hdr, e->lsn, SN_WAL_SCRUBBED, e->len, zero_crc(e->len));
	for (uint32_t done = 0; done < e->len;) {
		uint32_t n =
		    e->len - done < sizeof(zeros) ? e->len - done : (uint32_t)sizeof(zeros);
		if ((rc = pwrite_all(c->fd, zeros, n, off + SN_WAL_HDR + done, err)))
			return rc;
		done += n;
	}
	return pwrite_all(c->fd, hdr, SN_WAL_HDR, off, err);
}

int sn_wal_scrub(const char *dir, uint64_t below_lsn,
		 bool (*match)(void *ctx, const struct sn_wal_entry *e), void *ctx,
		 uint64_t *scrubbed, struct sn_err *err)
{
	uint64_t *bases = NULL, ckpt = 0, n_scrubbed = 0;
	size_t n = 0;
	int rc;
	if ((rc = sn_wal_read_checkpoint(dir, &ckpt, err)))
		return rc;
	if (below_lsn > ckpt)
		below_lsn = ckpt; /* never a record a consumer may still read */
	if ((rc = sn_wal_list_segments(dir, &bases, &n, err)))
		return rc;
	for (size_t i = 0; i < n && bases[i] < below_lsn && !rc; i++) {
		struct sn_wal_cursor c;
		uint64_t cap = i + 1 < n ? bases[i + 1] - bases[i] : UINT64_MAX, skipped;
		rc = sn_wal_cursor_open(&c, dir, bases[i], cap, O_RDWR, err);
		if (rc == SN_ERR_NOT_FOUND) {
			rc = 0; /* deleted by a checkpoint meanwhile */
			continue;
		}
		if (rc)
			break;
		bool dirty = false;
		struct sn_wal_entry e;
		while ((rc = sn_wal_cursor_next(&c, &e, &skipped, err)) == 1 &&
		       e.end_lsn <= below_lsn) {
			if (e.type == SN_WAL_SCRUBBED || !match(ctx, &e))
				continue;
			if ((rc = scrub_one(&c, &e, err)))
				break;
			dirty = true;
			n_scrubbed++;
		}
		if (rc > 0)
			rc = 0;
		if (!rc && dirty && fdatasync(c.fd))
			rc = sn_err_set(err, SN_ERR_IO, "scrubbing the WAL: fdatasync: %s",
					strerror(errno));
		sn_wal_cursor_release(&c);
	}
	free(bases);
	if (scrubbed)
		*scrubbed = n_scrubbed;
	return rc;
}
