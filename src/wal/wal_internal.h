/*
 * wal_internal.h — what the files of the WAL module share: the on-disk
 * record header, segment names and listing, the checkpoint file, and the
 * segment cursor that both recovery (wal.c) and the reader (reader.c) use to
 * walk a segment and resynchronise after damage. Not for other modules; the
 * test hooks at the end are for tests/unit/test_wal.c only.
 */
#ifndef SN_WAL_INTERNAL_H
#define SN_WAL_INTERNAL_H

#include "wal/wal.h"

/* Record header, little-endian, 28 bytes (see docs/WAL.md):
 *   0 magic "SNWL" | 4 u32 len | 8 u64 lsn | 16 u8 type, 3 zero bytes |
 *   20 u32 crc32(payload) | 24 u32 crc32(bytes 0..23) */
#define SN_WAL_HDR   28
#define SN_WAL_MAGIC "SNWL"
/* No record may be larger than this, whatever max_record_bytes says: it
 * bounds what a reader allocates for one record of a damaged file. */
#define SN_WAL_RECORD_LIMIT (1u << 30)
#define SN_WAL_CHECKPOINT   "checkpoint"
#define SN_WAL_CKPT_BYTES   20
#define SN_WAL_MAX_SEGMENTS (1u << 24)

struct sn_wal_hdr {
	uint32_t len;
	uint64_t lsn;
	uint8_t type;
	uint32_t payload_crc;
};

void sn_wal_hdr_encode(char out[SN_WAL_HDR], uint64_t lsn, uint8_t type, uint32_t len,
		       uint32_t payload_crc);
/* True when p holds the magic, zero padding and a matching header CRC. */
bool sn_wal_hdr_decode(const char *p, struct sn_wal_hdr *h);
uint32_t sn_wal_load32(const char *p);

/* "<dir>/wal-<16 hex>.log" into out (PATH_MAX bytes). */
void sn_wal_segment_path(char *out, size_t outsz, const char *dir, uint64_t base);
/* Sorted base LSNs of the segment files in dir; the caller frees *bases. */
int sn_wal_list_segments(const char *dir, uint64_t **bases, size_t *n, struct sn_err *err);

/* Writes the checkpoint file atomically (temp, fsync, rename, fsync dir). */
int sn_wal_write_checkpoint(const char *dir, uint64_t lsn, struct sn_err *err);

/* A cursor over one segment file. limit is the logical end: the file size,
 * capped at the next segment's base for all but the last segment. Reads go
 * through a window buffer that grows to hold the largest record seen. */
struct sn_wal_cursor {
	int fd;
	uint64_t base;	    /* LSN of offset 0 */
	uint64_t off;	    /* next offset to look at */
	uint64_t limit;	    /* bytes of the file considered */
	uint64_t cap_limit; /* next segment's base - base, or UINT64_MAX */
	char *win;
	size_t win_cap;
	uint64_t win_off;
	size_t win_len;
	bool read_ahead;   /* a consumer reading on: ask the kernel for what follows */
	uint64_t ahead_to; /* asked for up to here */
};

int sn_wal_cursor_open(struct sn_wal_cursor *c, const char *dir, uint64_t base, uint64_t cap_limit,
		       int open_flags, struct sn_err *err);
void sn_wal_cursor_release(struct sn_wal_cursor *c);
/* Re-reads the file size (for a segment still being written) and drops the
 * window, so the next read sees the file as it is now. */
int sn_wal_cursor_refresh(struct sn_wal_cursor *c, struct sn_err *err);
/* Returns 1 with the record at or after c->off in e (data points into the
 * window) and the bytes skipped to get there in *skipped; 0 when no valid
 * record remains before the limit, with *skipped = limit - c->off (c->off is
 * left at the start of the damage); or SN_ERR_IO / SN_ERR_NOMEM. */
int sn_wal_cursor_next(struct sn_wal_cursor *c, struct sn_wal_entry *e, uint64_t *skipped,
		       struct sn_err *err);

/* ---- test hooks ------------------------------------------------------------ */

/* While paused the flusher writes nothing (close still drains). Lets tests
 * register callbacks before their LSNs become durable, deterministically. */
void sn_wal_test_pause_flusher(struct sn_wal *w, bool paused);

#endif
