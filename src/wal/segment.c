/*
 * segment.c — the on-disk format of the WAL: record headers, segment file
 * names, the checkpoint file, and a cursor that walks one segment and
 * resynchronises after damage. Recovery (wal.c) and the reader (reader.c)
 * share the cursor, so "what counts as a valid record" is decided in one
 * place.
 *
 *   segment wal-<base>.log:
 *   +----------------+---------+----------------+---------+----
 *   | header (28 B)  | payload | header (28 B)  | payload | ...
 *   +----------------+---------+----------------+---------+----
 *   ^ offset 0 = LSN base      ^ LSN base + 28 + len
 *
 * A record is valid at offset o only if its magic, zero padding and header
 * CRC check out, its header's LSN equals base + o, it fits before the limit
 * and its payload CRC matches. The LSN check matters for resynchronisation:
 * a payload that happens to contain a copy of another record (a recording
 * upload of a WAL file, a stale page) cannot be mistaken for a record,
 * because the copy names a different position. After an invalid record the
 * cursor scans forward for the next "SNWL" whose record validates; 2^-32
 * (header CRC) times the LSN match makes false positives negligible.
 *
 * Reads go through a window (pread into a growable buffer) rather than mmap:
 * a segment truncated under a mapping would SIGBUS the reader, and "never
 * crash on a bad file" includes files that change while being read. The
 * window grows to the largest record seen, bounded by SN_WAL_RECORD_LIMIT
 * and by the file size.
 *
 * A consumer's cursor (the ingest's reader: read_ahead) also asks the kernel
 * for the next WAL_READ_AHEAD bytes of the segment whenever less than half
 * of that is left ahead of its window (POSIX_FADV_WILLNEED: the reads are
 * queued, not waited for). A backlog bigger than the page cache — after an
 * outage, or the 10M benchmark's 12 GB WAL — is then read from the device
 * while the records before it are converted, instead of a 256 KiB pread at
 * a time stalling the ingest thread (docs/BENCHMARKS.md, session 49).
 */
#include "wal/wal_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The window's usual size: small enough that what one pread copied is still
 * in the core's L2 (1 MiB on the EPYC VM) when the consumer scans it; 1 MiB
 * pushed each record out before it was read. */
#define WIN_MIN	       (256u << 10)
#define SCAN_CHUNK     (64u << 10)
#define WAL_READ_AHEAD (8u << 20) /* see the top */

static void store32(char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (char)(v >> (8 * i));
}

static void store64(char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (char)(v >> (8 * i));
}

uint32_t sn_wal_load32(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;
	return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static uint64_t load64(const char *p)
{
	return (uint64_t)sn_wal_load32(p) | (uint64_t)sn_wal_load32(p + 4) << 32;
}

void sn_wal_hdr_encode(char out[SN_WAL_HDR], uint64_t lsn, uint8_t type, uint32_t len,
		       uint32_t payload_crc)
{
	memcpy(out, SN_WAL_MAGIC, 4);
	store32(out + 4, len);
	store64(out + 8, lsn);
	out[16] = (char)type;
	out[17] = out[18] = out[19] = 0;
	store32(out + 20, payload_crc);
	store32(out + 24, sn_crc32(0, out, 24));
}

bool sn_wal_hdr_decode(const char *p, struct sn_wal_hdr *h)
{
	if (memcmp(p, SN_WAL_MAGIC, 4) != 0 || p[17] || p[18] || p[19])
		return false;
	if (sn_crc32(0, p, 24) != sn_wal_load32(p + 24))
		return false;
	h->len = sn_wal_load32(p + 4);
	h->lsn = load64(p + 8);
	h->type = (uint8_t)p[16];
	h->payload_crc = sn_wal_load32(p + 20);
	return h->len <= SN_WAL_RECORD_LIMIT;
}

void sn_wal_segment_path(char *out, size_t outsz, const char *dir, uint64_t base)
{
	snprintf(out, outsz, "%s/wal-%016" PRIx64 ".log", dir, base);
}

/* Exactly "wal-" + 16 lower-case hex digits + ".log"; anything else in the
 * directory (temp files, the checkpoint, a stray editor backup) is ignored. */
static bool parse_segment_name(const char *name, uint64_t *base)
{
	if (strlen(name) != 24 || memcmp(name, "wal-", 4) != 0 || strcmp(name + 20, ".log") != 0)
		return false;
	uint64_t v = 0;
	for (int i = 4; i < 20; i++) {
		char ch = name[i];
		int d;
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*base = v;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int sn_wal_list_segments(const char *dir, uint64_t **bases, size_t *n, struct sn_err *err)
{
	uint64_t *v = NULL;
	size_t len = 0, cap = 0;
	int rc = 0;
	DIR *d = opendir(dir);
	if (!d) {
		rc = sn_err_set(err, SN_ERR_IO, "cannot open WAL directory '%s': %s", dir,
				strerror(errno));
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t base;
		if (!parse_segment_name(de->d_name, &base))
			continue;
		if (len == cap) {
			if (cap >= SN_WAL_MAX_SEGMENTS) {
				rc = sn_err_set(err, SN_ERR_TOO_BIG,
						"WAL directory '%s' holds more than %u segments",
						dir, SN_WAL_MAX_SEGMENTS);
				goto out;
			}
			size_t ncap = cap ? cap * 2 : 16;
			uint64_t *nv = realloc(v, ncap * sizeof(*v));
			if (!nv) {
				rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory listing '%s'",
						dir);
				goto out;
			}
			v = nv;
			cap = ncap;
		}
		v[len++] = base;
	}
	if (len)
		qsort(v, len, sizeof(*v), cmp_u64);
out:
	if (d)
		closedir(d);
	if (rc) {
		free(v);
		v = NULL;
		len = 0;
	}
	*bases = v;
	*n = len;
	return rc;
}

/* ---- checkpoint file ---------------------------------------------------------- */

/* "SNCK" | u32 version 1 | u64 lsn | u32 crc32(bytes 0..15) */
int sn_wal_write_checkpoint(const char *dir, uint64_t lsn, struct sn_err *err)
{
	char tmp[PATH_MAX], path[PATH_MAX], rec[SN_WAL_CKPT_BYTES];
	snprintf(tmp, sizeof(tmp), "%s/" SN_WAL_CHECKPOINT ".tmp", dir);
	snprintf(path, sizeof(path), "%s/" SN_WAL_CHECKPOINT, dir);
	memcpy(rec, "SNCK", 4);
	store32(rec + 4, 1);
	store64(rec + 8, lsn);
	store32(rec + 16, sn_crc32(0, rec, 16));

	int rc = 0;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = sn_err_set(err, SN_ERR_IO, "cannot create '%s': %s", tmp, strerror(errno));
		goto out;
	}
	ssize_t n = pwrite(fd, rec, sizeof(rec), 0);
	if (n != (ssize_t)sizeof(rec)) {
		rc = sn_err_set(err, SN_ERR_IO, "cannot write '%s': %s", tmp,
				n < 0 ? strerror(errno) : "short write");
		goto out;
	}
	if (fsync(fd)) {
		rc = sn_err_set(err, SN_ERR_IO, "fsync of '%s' failed: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path)) {
		rc = sn_err_set(err, SN_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path,
				strerror(errno));
		goto out;
	}
	rc = sn_fsync_dir(dir, err);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int sn_wal_read_checkpoint(const char *dir, uint64_t *lsn, struct sn_err *err)
{
	char path[PATH_MAX], rec[SN_WAL_CKPT_BYTES + 1];
	int rc = 0;
	*lsn = 0;
	snprintf(path, sizeof(path), "%s/" SN_WAL_CHECKPOINT, dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			rc = sn_err_set(err, SN_ERR_IO, "cannot open '%s': %s", path,
					strerror(errno));
		goto out;
	}
	ssize_t n = pread(fd, rec, sizeof(rec), 0);
	if (n < 0) {
		rc = sn_err_set(err, SN_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
		goto out;
	}
	if (n != SN_WAL_CKPT_BYTES || memcmp(rec, "SNCK", 4) != 0 || sn_wal_load32(rec + 4) != 1 ||
	    sn_crc32(0, rec, 16) != sn_wal_load32(rec + 16)) {
		rc = sn_err_set(err, SN_ERR_CORRUPT,
				"checkpoint file '%s' is damaged (%zd bytes, bad magic, version "
				"or checksum)",
				path, n);
		goto out;
	}
	*lsn = load64(rec + 8);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- cursor ----------------------------------------------------------------- */

int sn_wal_cursor_open(struct sn_wal_cursor *c, const char *dir, uint64_t base, uint64_t cap_limit,
		       int open_flags, struct sn_err *err)
{
	char path[PATH_MAX];
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->base = base;
	c->cap_limit = cap_limit;
	sn_wal_segment_path(path, sizeof(path), dir, base);
	c->fd = open(path, open_flags | O_CLOEXEC);
	if (c->fd < 0)
		return sn_err_set(err, errno == ENOENT ? SN_ERR_NOT_FOUND : SN_ERR_IO,
				  "cannot open WAL segment '%s': %s", path, strerror(errno));
	return sn_wal_cursor_refresh(c, err);
}

void sn_wal_cursor_release(struct sn_wal_cursor *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->win);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

int sn_wal_cursor_refresh(struct sn_wal_cursor *c, struct sn_err *err)
{
	struct stat st;
	if (fstat(c->fd, &st))
		return sn_err_set(err, SN_ERR_IO, "cannot stat WAL segment %016" PRIx64 ": %s",
				  c->base, strerror(errno));
	uint64_t size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	c->limit = size < c->cap_limit ? size : c->cap_limit;
	c->win_len = 0;
	return 0;
}

/* Makes [off, off + n) readable and returns it, or sets *p = NULL when the
 * range reaches past the limit (or the file shrank under us). */
static int window(struct sn_wal_cursor *c, uint64_t off, size_t n, const char **p,
		  struct sn_err *err)
{
	*p = NULL;
	if (off > c->limit || n > c->limit - off)
		return 0;
	if (off >= c->win_off && off - c->win_off + n <= c->win_len) {
		*p = c->win + (off - c->win_off);
		return 0;
	}
	size_t want = n > WIN_MIN ? n : WIN_MIN;
	if (want > c->limit - off)
		want = (size_t)(c->limit - off);
	if (want > c->win_cap) {
		size_t ncap = c->win_cap ? c->win_cap : WIN_MIN;
		while (ncap < want)
			ncap *= 2;
		char *nw = realloc(c->win, ncap);
		if (!nw) {
			/* Fall back to exactly what is needed before giving up. */
			ncap = want;
			nw = realloc(c->win, ncap);
		}
		if (!nw)
			return sn_err_set(err, SN_ERR_NOMEM,
					  "out of memory reading a %zu-byte WAL record", n);
		c->win = nw;
		c->win_cap = ncap;
	}
	if (c->read_ahead && off + want + WAL_READ_AHEAD / 2 > c->ahead_to) {
		uint64_t from = c->ahead_to > off + want ? c->ahead_to : off + want;
		if (from < c->limit) {
			uint64_t len =
			    c->limit - from < WAL_READ_AHEAD ? c->limit - from : WAL_READ_AHEAD;
			(void)posix_fadvise(c->fd, (off_t)from, (off_t)len, POSIX_FADV_WILLNEED);
			c->ahead_to = from + len;
		}
	}
	c->win_off = off;
	c->win_len = 0;
	while (c->win_len < want) {
		ssize_t r =
		    pread(c->fd, c->win + c->win_len, want - c->win_len, (off_t)(off + c->win_len));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sn_err_set(err, SN_ERR_IO,
					  "cannot read WAL segment %016" PRIx64 ": %s", c->base,
					  strerror(errno));
		if (r == 0) {
			/* The file shrank since we measured it. */
			c->limit = off + c->win_len;
			break;
		}
		c->win_len += (size_t)r;
	}
	if (c->win_len >= n)
		*p = c->win;
	return 0;
}

/* Sets *ok when a whole valid record starts at off, filling e. */
static int valid_at(struct sn_wal_cursor *c, uint64_t off, struct sn_wal_entry *e, bool *ok,
		    struct sn_err *err)
{
	const char *p;
	struct sn_wal_hdr h;
	*ok = false;
	int rc = window(c, off, SN_WAL_HDR, &p, err);
	if (rc || !p || !sn_wal_hdr_decode(p, &h) || h.lsn != c->base + off)
		return rc;
	if ((uint64_t)h.len > c->limit - off - SN_WAL_HDR)
		return 0;
	rc = window(c, off, SN_WAL_HDR + (size_t)h.len, &p, err);
	if (rc || !p || sn_crc32(0, p + SN_WAL_HDR, h.len) != h.payload_crc)
		return rc;
	e->lsn = h.lsn;
	e->end_lsn = h.lsn + SN_WAL_HDR + h.len;
	e->type = h.type;
	e->data = p + SN_WAL_HDR;
	e->len = h.len;
	*ok = true;
	return 0;
}

/* Finds the first valid record after off; *found_off = limit if none. */
static int resync(struct sn_wal_cursor *c, uint64_t off, struct sn_wal_entry *e,
		  uint64_t *found_off, struct sn_err *err)
{
	uint64_t s = off + 1;
	*found_off = c->limit;
	while (s < c->limit && c->limit - s >= SN_WAL_HDR) {
		size_t avail = c->limit - s < SCAN_CHUNK ? (size_t)(c->limit - s) : SCAN_CHUNK;
		const char *p;
		int rc = window(c, s, avail, &p, err);
		if (rc)
			return rc;
		if (!p)
			break; /* the file shrank; what is left is the tail */
		const char *hit = memmem(p, avail, SN_WAL_MAGIC, 4);
		if (!hit) {
			s += avail - 3; /* the magic may straddle the chunk boundary */
			continue;
		}
		uint64_t cand = s + (uint64_t)(hit - p);
		bool ok;
		rc = valid_at(c, cand, e, &ok, err);
		if (rc)
			return rc;
		if (ok) {
			*found_off = cand;
			return 0;
		}
		s = cand + 1;
	}
	return 0;
}

int sn_wal_cursor_next(struct sn_wal_cursor *c, struct sn_wal_entry *e, uint64_t *skipped,
		       struct sn_err *err)
{
	bool ok;
	*skipped = 0;
	if (c->off >= c->limit)
		return 0;
	int rc = valid_at(c, c->off, e, &ok, err);
	if (rc)
		return rc;
	if (!ok) {
		uint64_t found;
		rc = resync(c, c->off, e, &found, err);
		if (rc)
			return rc;
		if (found < c->limit) {
			/* A reader racing a writer can see a later page of a write
			 * before an earlier one. Re-read the damaged spot once
			 * before declaring it corrupt: a real defect stays. */
			c->win_len = 0;
			rc = valid_at(c, c->off, e, &ok, err);
			if (rc)
				return rc;
			if (!ok) {
				rc = valid_at(c, found, e, &ok, err);
				if (rc)
					return rc;
				if (!ok) /* vanished: treat as the end for now */
					found = c->limit;
			} else {
				found = c->off;
			}
		}
		if (found >= c->limit) {
			*skipped = c->limit - c->off;
			return 0;
		}
		*skipped = found - c->off;
		c->off = found;
	}
	c->off = e->end_lsn - c->base;
	return 1;
}
