/*
 * part_read.c — opens part files and reads column blocks back, trusting
 * nothing in the file.
 *
 * Open reads the fixed header and trailer, then the metadata they point
 * at, and checks every number before it is used: magic, version, CRC32 of
 * header, trailer and metadata, counts against the bytes that would hold
 * them, granule sizes against the granule size, the sparse index's sort
 * order, and that the column blocks tile the bytes between header and
 * metadata exactly (each column's blocks back to back, columns back to
 * back). After open, a block's offset and size are known to lie inside the
 * file, so a read can only meet bad bytes *inside* a block, which its CRC32
 * and the bounded decompressor and decoders catch. Version-2 metadata ends
 * with tagged sections: each must lie inside the metadata, unknown tags are
 * skipped, and the residual key set must be strictly sorted (its lookups
 * binary-search it where it lies in the metadata).
 *
 *   struct sn_part ── meta (malloc'd copy of the metadata bytes)
 *                  ├─ gran[ngran]        sparse index + min/max (events point into meta)
 *                  ├─ cols[ncols] ─ blocks[ngran]  offset, sizes, crc, codec, encoding
 *                  └─ rkeys[nrkeys]      residual key set, when known (names point into meta)
 *
 * Every block read is counted (relaxed atomics, sn_part_get_read_stats), so
 * tests can tell a read that touched nothing from one that scanned.
 *
 * Reads use pread on a descriptor held open for the part's lifetime, so
 * any number of threads can read one part; the part is reference-counted
 * so a merge can drop it from the catalogue while queries still hold it.
 *
 * Rejected: mmap of the whole file. It is zero-copy for uncompressed data,
 * but every block here is compressed and checksummed, so the bytes are
 * copied once anyway, and a file truncated under a mapping turns a read
 * into SIGBUS, which "never crash on a bad file" rules out.
 */
#include "store/shred.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct blk {
	uint64_t offset;
	uint32_t csize;
	uint32_t usize;
	uint32_t crc;
	uint8_t codec;
	uint8_t enc;
};

struct col {
	struct sn_part_column_info info;
	struct blk *blocks;
	long derive_src; /* the "p:" column its SN_ENC_STR_FROM_PROP blocks come from, or -1 */
};

struct sn_part {
	atomic_int refs;
	int fd;
	char path[512];
	uint32_t version;
	uint64_t file_bytes;
	uint64_t nrows;
	uint32_t ngran;
	uint32_t ncols;
	uint32_t granule_rows;
	int32_t month;
	uint8_t *meta;
	char *names;
	struct sn_granule_info *gran;
	struct col *cols;
	/* The residual key set (version 2 on): names point into meta. */
	bool has_rkeys;
	size_t nrkeys;
	struct sn_str *rkeys;
	/* The block-nulls section: ncols × ngran SN_BNULLS_* bytes, column-major,
	 * pointing into meta; NULL when the part has none. */
	const uint8_t *bnulls;
	bool decode_all; /* verify: decode blocks the section says are all NULL */
	_Atomic uint64_t blocks_read, compressed_read;
};

/* A bounds-checked cursor over the metadata: reading past the end sets bad
 * and yields zeros, so parsing code checks once per section. */
struct cur {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	if (c->bad || n > c->len - c->off) {
		c->bad = true;
		return NULL;
	}
	const uint8_t *r = c->p + c->off;
	c->off += n;
	return r;
}
static uint8_t get_u8(struct cur *c)
{
	const uint8_t *p = take(c, 1);
	return p ? p[0] : 0;
}
static uint16_t get_u16(struct cur *c)
{
	const uint8_t *p = take(c, 2);
	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}
static uint32_t get_u32(struct cur *c)
{
	const uint8_t *p = take(c, 4);
	return p ? sn_get_u32(p) : 0;
}
static uint64_t get_u64(struct cur *c)
{
	const uint8_t *p = take(c, 8);
	return p ? sn_get_u64(p) : 0;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off, const char *path,
		     struct sn_err *err)
{
	char *p = buf;
	while (n) {
		ssize_t r = pread(fd, p, n, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return sn_err_set(err, SN_ERR_IO, "read %s: %s", path, strerror(errno));
		if (r == 0)
			return sn_err_set(err, SN_ERR_CORRUPT, "part %s: truncated (short read)",
					  path);
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int str_cmp(struct sn_str a, struct sn_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

static int key_cmp(const struct sn_granule_info *g, int64_t team, int32_t day)
{
	if (g->team_id != team)
		return g->team_id < team ? -1 : 1;
	return g->day < day ? -1 : g->day > day;
}

static bool type_ok(uint8_t t)
{
	return t == SN_COL_INT64 || t == SN_COL_DATETIME || t == SN_COL_STRING || t == SN_COL_UUID;
}

/* The residual key set: u32 count, then u16 length and the name's bytes
 * each, strictly ascending (sn_keyset_cmp), so lookups can binary-search.
 * The writer's caps are not checked: the bytes bound the count, and a later
 * writer may raise them. Returns why it is malformed, or NULL (rkeys NULL
 * then means out of memory). */
static const char *parse_rkeys(struct sn_part *p, const uint8_t *body, uint32_t len)
{
	struct cur k = {.p = body, .len = len};
	uint32_t n = get_u32(&k);
	if (k.bad || n > (len - 4) / 2)
		return "bad residual key count";
	p->rkeys = malloc((n ? n : 1) * sizeof(*p->rkeys));
	if (!p->rkeys)
		return NULL;
	for (uint32_t i = 0; i < n; i++) {
		uint16_t l = get_u16(&k);
		const uint8_t *name = take(&k, l);
		if (k.bad)
			return "residual key set truncated";
		p->rkeys[i] = (struct sn_str){(const char *)name, l};
		if (i && sn_keyset_cmp(p->rkeys[i - 1], p->rkeys[i]) >= 0)
			return "residual keys not sorted or not unique";
	}
	if (k.off != k.len)
		return "trailing bytes after the residual keys";
	p->has_rkeys = true;
	p->nrkeys = n;
	return NULL;
}

/* Parses and validates the metadata into p. */
/* The block-nulls section: a byte per block, none above SN_BNULLS_ALL, and
 * none but SN_BNULLS_NONE in a column that is not nullable. */
static const char *parse_bnulls(struct sn_part *p, const uint8_t *body, uint32_t len)
{
	if (p->bnulls)
		return "two block-nulls sections";
	if (len != (uint64_t)p->ncols * p->ngran)
		return "block-nulls section of the wrong size";
	for (uint32_t c = 0; c < p->ncols; c++)
		for (uint32_t g = 0; g < p->ngran; g++) {
			uint8_t b = body[(size_t)c * p->ngran + g];
			if (b > SN_BNULLS_ALL || (b != SN_BNULLS_NONE && !p->cols[c].info.nullable))
				return "bad block-nulls entry";
		}
	p->bnulls = body;
	return NULL;
}

static int parse_meta(struct sn_part *p, size_t meta_len, uint64_t meta_off, struct sn_err *err)
{
	struct cur c = {.p = p->meta, .len = meta_len};
	const char *why = NULL;

	p->nrows = get_u64(&c);
	p->ngran = get_u32(&c);
	p->ncols = get_u32(&c);
	p->granule_rows = get_u32(&c);
	p->month = (int32_t)get_u32(&c);
	/* A granule entry takes at least 38 bytes; a column at least 4 + 22 per block. */
	if (c.bad || p->ngran == 0 || p->ngran > meta_len / 38 || p->ncols == 0 ||
	    p->ncols > SN_PART_MAX_COLUMNS || p->granule_rows == 0 ||
	    p->granule_rows > (1u << 20) || p->nrows > (uint64_t)p->ngran * p->granule_rows ||
	    (uint64_t)p->ncols * (4 + 22 * (uint64_t)p->ngran) > meta_len) {
		why = "bad part summary";
		goto bad;
	}
	p->gran = calloc(p->ngran, sizeof(*p->gran));
	p->cols = calloc(p->ncols, sizeof(*p->cols));
	p->names = malloc(meta_len + p->ncols);
	if (!p->gran || !p->cols || !p->names)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory opening %s", p->path);

	uint64_t row = 0;
	for (uint32_t g = 0; g < p->ngran; g++) {
		struct sn_granule_info *gi = &p->gran[g];
		gi->first_row = row;
		gi->nrows = get_u32(&c);
		gi->team_id = (int64_t)get_u64(&c);
		gi->day = (int32_t)get_u32(&c);
		gi->min_ts_us = (int64_t)get_u64(&c);
		gi->max_ts_us = (int64_t)get_u64(&c);
		gi->event.len = get_u16(&c);
		gi->event.p = (const char *)take(&c, gi->event.len);
		if (c.bad) {
			why = "sparse index truncated";
			goto bad;
		}
		if (!gi->event.p)
			gi->event.p = "";
		bool last = g + 1 == p->ngran;
		if (gi->nrows == 0 || gi->nrows > p->granule_rows ||
		    (!last && gi->nrows != p->granule_rows) ||
		    gi->event.len > SN_PART_MAX_EVENT_KEY) {
			why = "bad granule size";
			goto bad;
		}
		if (gi->min_ts_us > gi->max_ts_us || sn_store_month_of(gi->min_ts_us) != p->month ||
		    sn_store_month_of(gi->max_ts_us) != p->month ||
		    sn_store_day_of(gi->min_ts_us) > gi->day) {
			why = "granule timestamps outside the part's month";
			goto bad;
		}
		if (g > 0) {
			const struct sn_granule_info *pg = &p->gran[g - 1];
			int k = key_cmp(pg, gi->team_id, gi->day);
			if (k > 0 || (k == 0 && str_cmp(pg->event, gi->event) > 0)) {
				why = "sparse index out of order";
				goto bad;
			}
		}
		row += gi->nrows;
	}
	if (row != p->nrows) {
		why = "granule rows do not add up";
		goto bad;
	}

	uint64_t expect_off = SN_PART_HEADER_SIZE;
	char *nm = p->names;
	for (uint32_t ci = 0; ci < p->ncols; ci++) {
		struct col *col = &p->cols[ci];
		uint16_t nlen = get_u16(&c);
		const uint8_t *name = take(&c, nlen);
		uint8_t type = get_u8(&c), flags = get_u8(&c);
		if (c.bad || nlen == 0 || memchr(name, 0, nlen) || !type_ok(type) ||
		    (flags & ~SN_COLF_NULLABLE)) {
			why = "bad column directory entry";
			goto bad;
		}
		memcpy(nm, name, nlen);
		nm[nlen] = 0;
		for (uint32_t k = 0; k < ci; k++) {
			if (!strcmp(p->cols[k].info.name, nm)) {
				why = "duplicate column name";
				goto bad;
			}
		}
		col->info.name = nm;
		nm += nlen + 1;
		col->info.type = (enum sn_col_type)type;
		col->info.nullable = flags & SN_COLF_NULLABLE;
		col->blocks = calloc(p->ngran, sizeof(*col->blocks));
		if (!col->blocks)
			return sn_err_set(err, SN_ERR_NOMEM, "out of memory opening %s", p->path);
		for (uint32_t g = 0; g < p->ngran; g++) {
			struct blk *b = &col->blocks[g];
			b->offset = get_u64(&c);
			b->csize = get_u32(&c);
			b->usize = get_u32(&c);
			b->crc = get_u32(&c);
			b->codec = get_u8(&c);
			b->enc = get_u8(&c);
			bool codec_ok = (b->codec == SN_CODEC_NONE && b->csize == b->usize) ||
					(b->codec == SN_CODEC_LZ4 &&
					 b->usize <= (uint64_t)b->csize * 256 + 64) ||
					b->codec == SN_CODEC_ZSTD;
			if (c.bad || b->offset != expect_off || b->csize == 0 || b->usize < 2 ||
			    b->usize > SN_PART_MAX_BLOCK_SIZE || !codec_ok ||
			    b->csize > meta_off - b->offset) {
				why = "bad block entry";
				goto bad;
			}
			expect_off += b->csize;
			col->info.compressed_bytes += b->csize;
			col->info.uncompressed_bytes += b->usize;
		}
	}
	if (expect_off != meta_off) {
		why = "column blocks do not fill the data region";
		goto bad;
	}
	if (p->version >= 2) {
		/* Tagged sections: u32 count, then u16 tag, u32 length, bytes each. */
		uint32_t nsec = get_u32(&c);
		if (c.bad || nsec > (c.len - c.off) / 6) {
			why = "bad section count";
			goto bad;
		}
		for (uint32_t i = 0; i < nsec; i++) {
			uint16_t tag = get_u16(&c);
			uint32_t len = get_u32(&c);
			const uint8_t *body = take(&c, len);
			if (c.bad) {
				why = "section truncated";
				goto bad;
			}
			if (tag == SN_META_SECTION_BLOCK_NULLS) {
				if ((why = parse_bnulls(p, body, len)))
					goto bad;
				continue;
			}
			if (tag != SN_META_SECTION_RESIDUAL_KEYS)
				continue; /* from a later writer, optional by the version rules */
			if (p->has_rkeys) {
				why = "two residual key sets";
				goto bad;
			}
			if ((why = parse_rkeys(p, body, len)))
				goto bad;
			if (!p->rkeys)
				return sn_err_set(err, SN_ERR_NOMEM, "out of memory opening %s",
						  p->path);
		}
	}
	if (c.off != c.len) {
		why = p->version >= 2 ? "trailing bytes after the sections"
				      : "trailing bytes after the column directory";
		goto bad;
	}
	/* Columns whose blocks may come from a property (version 3 on). */
	for (uint32_t i = 0; i < p->ncols; i++) {
		struct col *col = &p->cols[i];
		col->derive_src = -1;
		const char *prop = col->info.type == SN_COL_STRING && p->version >= 3
				       ? sn_derived_prop(col->info.name)
				       : NULL;
		for (uint32_t j = 0; prop && j < p->ncols; j++)
			if (p->cols[j].info.type == SN_COL_STRING &&
			    !strcmp(p->cols[j].info.name, prop))
				col->derive_src = j;
	}
	return 0;
bad:
	return sn_err_set(err, SN_ERR_CORRUPT, "part %s: corrupt metadata: %s", p->path, why);
}

static int check_version(uint32_t v, const char *path, struct sn_err *err)
{
	if (v >= SN_PART_MIN_VERSION && v <= SN_PART_VERSION)
		return 0;
	return sn_err_set(err, SN_ERR_INVALID,
			  "part %s has format version %" PRIu32
			  ", this build reads versions %d to %d (written by a newer snout?)",
			  path, v, SN_PART_MIN_VERSION, SN_PART_VERSION);
}

int sn_part_open(const char *path, struct sn_part **out, struct sn_err *err)
{
	struct sn_part *p = calloc(1, sizeof(*p));
	uint8_t hdr[SN_PART_HEADER_SIZE], tr[SN_PART_TRAILER_SIZE];
	struct stat st;
	int rc;

	*out = NULL;
	if (!p)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory opening %s", path);
	atomic_init(&p->refs, 1);
	snprintf(p->path, sizeof(p->path), "%s", path);
	p->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (p->fd < 0) {
		rc = sn_err_set(err, errno == ENOENT ? SN_ERR_NOT_FOUND : SN_ERR_IO, "open %s: %s",
				path, strerror(errno));
		goto out;
	}
	if (fstat(p->fd, &st)) {
		rc = sn_err_set(err, SN_ERR_IO, "stat %s: %s", path, strerror(errno));
		goto out;
	}
	p->file_bytes = (uint64_t)st.st_size;
	if (p->file_bytes < SN_PART_HEADER_SIZE + SN_PART_TRAILER_SIZE) {
		rc = sn_err_set(err, SN_ERR_CORRUPT, "part %s: truncated (%" PRIu64 " bytes)", path,
				p->file_bytes);
		goto out;
	}
	if ((rc = pread_all(p->fd, hdr, sizeof(hdr), 0, path, err)) ||
	    (rc = pread_all(p->fd, tr, sizeof(tr), p->file_bytes - sizeof(tr), path, err)))
		goto out;
	/* Magic and CRC before version: a flipped bit in the version is damage,
	 * not a newer format. Header and trailer keep this frame in every version. */
	if (memcmp(hdr, SN_PART_MAGIC, 8)) {
		rc = sn_err_set(err, SN_ERR_CORRUPT, "part %s: not a snout part (bad magic)", path);
		goto out;
	}
	if (sn_get_u32(hdr + 28) != sn_crc32(0, hdr, 28)) {
		rc = sn_err_set(err, SN_ERR_CORRUPT, "part %s: header checksum mismatch", path);
		goto out;
	}
	if ((rc = check_version(sn_get_u32(hdr + 8), path, err)))
		goto out;
	if (memcmp(tr + 32, SN_PART_TAIL_MAGIC, 8) || sn_get_u32(tr + 28) != sn_crc32(0, tr, 28)) {
		rc = sn_err_set(err, SN_ERR_CORRUPT,
				"part %s: trailer damaged or missing (truncated file?)", path);
		goto out;
	}
	p->version = sn_get_u32(tr + 20);
	if ((rc = check_version(p->version, path, err)))
		goto out;
	uint64_t meta_off = sn_get_u64(tr), meta_len = sn_get_u64(tr + 8);
	if (p->version != sn_get_u32(hdr + 8) || sn_get_u32(hdr + 12) != SN_PART_HEADER_SIZE ||
	    meta_len > SN_PART_MAX_META || meta_off < SN_PART_HEADER_SIZE ||
	    meta_off > p->file_bytes ||
	    meta_len != p->file_bytes - SN_PART_TRAILER_SIZE - meta_off) {
		rc = sn_err_set(err, SN_ERR_CORRUPT, "part %s: header and trailer disagree", path);
		goto out;
	}
	p->meta = malloc(meta_len ? meta_len : 1);
	if (!p->meta) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory opening %s", path);
		goto out;
	}
	if ((rc = pread_all(p->fd, p->meta, meta_len, meta_off, path, err)))
		goto out;
	if (sn_crc32(0, p->meta, meta_len) != sn_get_u32(tr + 16)) {
		rc = sn_err_set(err, SN_ERR_CORRUPT, "part %s: metadata checksum mismatch", path);
		goto out;
	}
	if ((rc = parse_meta(p, meta_len, meta_off, err)))
		goto out;
	*out = p;
	p = NULL;
	rc = 0;
out:
	if (p)
		sn_part_unref(p);
	return rc;
}

void sn_part_ref(struct sn_part *p)
{
	atomic_fetch_add(&p->refs, 1);
}

void sn_part_unref(struct sn_part *p)
{
	if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (p->cols) {
		for (uint32_t i = 0; i < p->ncols; i++)
			free(p->cols[i].blocks);
	}
	free(p->cols);
	free(p->gran);
	free(p->names);
	free(p->rkeys);
	free(p->meta);
	free(p);
}

uint32_t sn_part_version(const struct sn_part *p)
{
	return p->version;
}
uint64_t sn_part_nrows(const struct sn_part *p)
{
	return p->nrows;
}
int32_t sn_part_month(const struct sn_part *p)
{
	return p->month;
}
uint64_t sn_part_file_bytes(const struct sn_part *p)
{
	return p->file_bytes;
}
size_t sn_part_ngranules(const struct sn_part *p)
{
	return p->ngran;
}
const struct sn_granule_info *sn_part_granule(const struct sn_part *p, size_t g)
{
	return g < p->ngran ? &p->gran[g] : NULL;
}
size_t sn_part_ncolumns(const struct sn_part *p)
{
	return p->ncols;
}
const struct sn_part_column_info *sn_part_column(const struct sn_part *p, size_t col)
{
	return col < p->ncols ? &p->cols[col].info : NULL;
}

bool sn_part_residual_keys(const struct sn_part *p, const struct sn_str **keys, size_t *nkeys)
{
	*keys = p->has_rkeys ? p->rkeys : NULL;
	*nkeys = p->has_rkeys ? p->nrkeys : 0;
	return p->has_rkeys;
}

void sn_part_get_read_stats(const struct sn_part *p, struct sn_part_read_stats *out)
{
	out->blocks_read = atomic_load_explicit(&p->blocks_read, memory_order_relaxed);
	out->compressed_bytes = atomic_load_explicit(&p->compressed_read, memory_order_relaxed);
}

void sn_part_decode_all(struct sn_part *p)
{
	p->decode_all = true;
}

enum sn_bnulls sn_part_block_nulls(const struct sn_part *p, size_t col, size_t g)
{
	if (!p->bnulls || col >= p->ncols || g >= p->ngran)
		return SN_BNULLS_UNKNOWN;
	return (enum sn_bnulls)p->bnulls[col * p->ngran + g];
}

int sn_part_find_column(const struct sn_part *p, const char *name)
{
	for (uint32_t i = 0; i < p->ncols; i++) {
		if (!strcmp(p->cols[i].info.name, name))
			return (int)i;
	}
	return -1;
}

/* A block payload's header: its encoding and flags, checked against the
 * directory and the block-nulls section (readers skip by it, so it must
 * tell the truth), and its null bitmap into nulls (n bytes) when it has
 * one (pl[1] & SN_BLOCK_HAS_NULLS; nulls may be NULL otherwise). *off: the
 * bytes after them. */
static int block_head(const struct col *col, const struct blk *b, enum sn_bnulls bn,
		      const uint8_t *pl, size_t n, uint8_t *nulls, size_t *off)
{
	size_t k = 0;
	bool has_nulls = pl[1] & SN_BLOCK_HAS_NULLS;
	int rc;
	*off = 2;
	if (pl[0] != b->enc || (pl[1] & ~SN_BLOCK_HAS_NULLS))
		return SN_ERR_CORRUPT;
	if (bn != SN_BNULLS_UNKNOWN && (bn == SN_BNULLS_NONE) == has_nulls)
		return SN_ERR_CORRUPT;
	if (!has_nulls)
		return 0;
	if (!col->info.nullable)
		return SN_ERR_CORRUPT;
	if ((rc = sn_dec_nulls(pl + 2, b->usize - 2, n, nulls, &k)))
		return rc;
	*off += k;
	for (size_t i = 0; bn == SN_BNULLS_ALL && i < n; i++)
		if (!nulls[i])
			return SN_ERR_CORRUPT;
	return 0;
}

/* Decodes one block payload into rows [row0, row0 + n) of out. */
static int decode_block(const struct col *col, const struct blk *b, enum sn_bnulls bn,
			const uint8_t *pl, size_t n, size_t row0, struct sn_arena *arena,
			struct sn_colvec *out)
{
	size_t len = b->usize, off, k = 0;
	uint8_t enc = pl[0];
	if ((pl[1] & SN_BLOCK_HAS_NULLS) && !out->nulls) { /* all 0, made on first use */
		if (!(out->nulls = sn_arena_alloc(arena, out->nrows)))
			return SN_ERR_NOMEM;
		memset(out->nulls, 0, out->nrows);
	}
	int rc = block_head(col, b, bn, pl, n, out->nulls ? out->nulls + row0 : NULL, &off);
	if (rc)
		return rc;
	switch (col->info.type) {
	case SN_COL_INT64:
	case SN_COL_DATETIME:
		if (enc == SN_ENC_I64_DELTA)
			rc = sn_dec_i64_delta(pl + off, len - off, n, out->i64 + row0, &k);
		else if (enc == SN_ENC_I64_FOR)
			rc = sn_dec_i64_for(pl + off, len - off, n, out->i64 + row0, &k);
		else
			return SN_ERR_CORRUPT;
		break;
	case SN_COL_STRING:
		if (enc == SN_ENC_STR_PLAIN)
			rc = sn_dec_str_plain(pl + off, len - off, n, out->str + row0, &k);
		else if (enc == SN_ENC_STR_DICT)
			rc = sn_dec_str_dict(pl + off, len - off, n, out->str + row0, &k);
		else
			rc = SN_ERR_CORRUPT;
		break;
	case SN_COL_UUID:
		if (enc != SN_ENC_FIXED16)
			return SN_ERR_CORRUPT;
		rc = sn_dec_fixed16(pl + off, len - off, n, out->uuid[row0].b, &k);
		break;
	default: return SN_ERR_CORRUPT;
	}
	if (rc)
		return rc;
	return off + k == len ? 0 : SN_ERR_CORRUPT;
}

/* A block stored as SN_ENC_STR_FROM_PROP: granule g of the column's
 * property column, each raw value turned into what the ingest stored. */
static int derive_block(struct sn_part *p, const struct col *col, const struct blk *b,
			const uint8_t *pl, size_t g, size_t row0, struct sn_arena *arena,
			struct sn_colvec *out, struct sn_err *err)
{
	if (b->enc != SN_ENC_STR_FROM_PROP || b->usize != 2 || pl[1] != 0 || col->derive_src < 0)
		return sn_err_set(err, SN_ERR_CORRUPT,
				  "part %s: column %s granule %zu: malformed block", p->path,
				  col->info.name, g);
	struct sn_colvec src;
	int rc = sn_part_read_column(p, (size_t)col->derive_src, g, g + 1, arena, &src, err);
	if (rc)
		return rc;
	if (src.nrows != p->gran[g].nrows)
		return sn_err_set(err, SN_ERR_CORRUPT, "part %s: column %s granule %zu: %s",
				  p->path, col->info.name, g, "property rows differ");
	for (size_t i = 0; i < src.nrows; i++) {
		struct sn_str raw =
		    src.nulls && src.nulls[i] ? (struct sn_str){NULL, 0} : src.str[i];
		out->str[row0 + i] = sn_derive_from_prop(raw);
	}
	return 0;
}

int sn_part_read_column(struct sn_part *p, size_t ci, size_t g_begin, size_t g_end,
			struct sn_arena *arena, struct sn_colvec *out, struct sn_err *err)
{
	return sn_part_read_column_some(p, ci, g_begin, g_end, NULL, arena, out, err);
}

/* Scratch of one read: the compressed bytes of the block in hand, and the
 * decompressed bytes of a block whose values are copied out of it. */
struct rbuf {
	uint8_t *cbuf, *ubuf;
	size_t ccap, ucap;
};

static void rbuf_free(struct rbuf *rb)
{
	free(rb->cbuf);
	free(rb->ubuf);
}

static int grow(uint8_t **buf, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	free(*buf);
	*cap = 0;
	if (!(*buf = malloc(n)))
		return SN_ERR_NOMEM;
	*cap = n;
	return 0;
}

/* Reads, checks and decompresses block g of column col into *dstp: arena
 * memory for strings (values point into their block), else rb's scratch. */
static int fetch_block(struct sn_part *p, const struct col *col, size_t g, struct rbuf *rb,
		       struct sn_arena *arena, uint8_t **dstp, struct sn_err *err)
{
	const struct blk *b = &col->blocks[g];
	int rc;
	if (grow(&rb->cbuf, &rb->ccap, b->csize))
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory reading %s", p->path);
	if ((rc = pread_all(p->fd, rb->cbuf, b->csize, b->offset, p->path, err)))
		return rc;
	atomic_fetch_add_explicit(&p->blocks_read, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->compressed_read, b->csize, memory_order_relaxed);
	if (sn_crc32(0, rb->cbuf, b->csize) != b->crc)
		return sn_err_set(err, SN_ERR_CORRUPT,
				  "part %s: column %s granule %zu: checksum mismatch", p->path,
				  col->info.name, g);
	uint8_t *dst;
	if (col->info.type == SN_COL_STRING) {
		if (!(dst = sn_arena_alloc(arena, b->usize)))
			return sn_err_set(err, SN_ERR_NOMEM,
					  "part %s: query memory limit reading %s", p->path,
					  col->info.name);
	} else {
		if (grow(&rb->ubuf, &rb->ucap, b->usize))
			return sn_err_set(err, SN_ERR_NOMEM, "out of memory reading %s", p->path);
		dst = rb->ubuf;
	}
	if ((rc = sn_block_decompress((enum sn_codec)b->codec, rb->cbuf, b->csize, dst, b->usize,
				      err))) {
		sn_err_prefix(err, "part %s: column %s granule %zu", p->path, col->info.name, g);
		return rc;
	}
	*dstp = dst;
	return 0;
}

static size_t range_rows(const struct sn_part *p, size_t g_begin, size_t g_end)
{
	size_t nrows = 0;
	for (size_t g = g_begin; g < g_end; g++)
		nrows += p->gran[g].nrows;
	return nrows;
}

/* A read's column and granule range, or SN_ERR_INVALID. */
static int check_read(const struct sn_part *p, size_t ci, size_t g_begin, size_t g_end,
		      struct sn_err *err)
{
	if (ci >= p->ncols || g_begin > g_end || g_end > p->ngran)
		return sn_err_set(err, SN_ERR_INVALID,
				  "part %s: no column %zu or granules [%zu, %zu) of %" PRIu32,
				  p->path, ci, g_begin, g_end, p->ngran);
	return 0;
}

/* rc from decoding granule g of col, as the read's error. */
static int block_error(const struct sn_part *p, const struct col *col, size_t g, int rc,
		       struct sn_err *err)
{
	return sn_err_set(err, rc, "part %s: column %s granule %zu: %s", p->path, col->info.name, g,
			  rc == SN_ERR_CORRUPT ? "malformed block" : sn_strerror(rc));
}

/* out's value arrays for nrows rows of col: values (str, uuid or i64), or
 * coded (codes and a dictionary with entry 0: the rows not read, and NULL
 * rows; at most a row's worth of entries per block after it). */
static int read_setup(const struct sn_part *p, const struct col *col, size_t nrows, bool coded,
		      struct sn_arena *arena, struct sn_colvec *out, struct sn_err *err)
{
	out->type = col->info.type;
	out->nrows = nrows;
	bool ok;
	if (coded) {
		out->codes = sn_arena_alloc(arena, (nrows ? nrows : 1) * sizeof(*out->codes));
		out->dict = sn_arena_alloc(arena, (nrows + 1) * sizeof(*out->dict));
		out->dict_nulls = sn_arena_alloc(arena, nrows + 1);
		ok = out->codes && out->dict && out->dict_nulls;
		if (ok) {
			out->dict[0] = (struct sn_str){"", 0};
			out->dict_nulls[0] = col->info.nullable;
			out->ndict = 1;
		}
	} else if (col->info.type == SN_COL_STRING) {
		ok = (out->str = sn_arena_alloc(arena, (nrows ? nrows : 1) * sizeof(*out->str)));
	} else if (col->info.type == SN_COL_UUID) {
		ok = (out->uuid = sn_arena_alloc(arena, (nrows ? nrows : 1) * sizeof(*out->uuid)));
	} else {
		ok = (out->i64 = sn_arena_alloc(arena, (nrows ? nrows : 1) * sizeof(*out->i64)));
	}
	if (!ok)
		return sn_err_set(err, SN_ERR_NOMEM, "part %s: query memory limit reading %s",
				  p->path, col->info.name);
	return 0;
}

/* Rows [row0, row0 + n) not read (not needed, or every one NULL by the
 * block-nulls section): NULL where the column can be, else placeholders
 * ('' or 0); entry 0 when coded. */
static int read_skip(const struct col *col, size_t row0, size_t n, bool coded,
		     struct sn_arena *arena, struct sn_colvec *out)
{
	if (coded) {
		memset(out->codes + row0, 0, n * sizeof(*out->codes));
		return 0;
	}
	if (col->info.nullable) {
		if (!out->nulls) { /* as decode_block makes it */
			if (!(out->nulls = sn_arena_alloc(arena, out->nrows)))
				return SN_ERR_NOMEM;
			memset(out->nulls, 0, out->nrows);
		}
		memset(out->nulls + row0, 1, n);
	}
	if (out->str)
		for (size_t i = 0; i < n; i++)
			out->str[row0 + i] = (struct sn_str){"", 0};
	else if (out->uuid)
		memset(out->uuid + row0, 0, n * sizeof(*out->uuid));
	else
		memset(out->i64 + row0, 0, n * sizeof(*out->i64));
	return 0;
}

/* A string block into codes (rows [row0, row0 + n) of out, out->codes set):
 * a dictionary block appends its entries to out->dict, a plain one each
 * row's value; NULL rows take entry 0. nulls: n bytes of scratch. */
static int decode_block_coded(const struct col *col, const struct blk *b, enum sn_bnulls bn,
			      const uint8_t *pl, size_t n, size_t row0, uint8_t *nulls,
			      struct sn_colvec *out)
{
	size_t len = b->usize, off, k = 0, nd = 0;
	uint8_t enc = pl[0];
	uint32_t *codes = out->codes + row0, base = (uint32_t)out->ndict;
	bool has_nulls = pl[1] & SN_BLOCK_HAS_NULLS;
	int rc = block_head(col, b, bn, pl, n, nulls, &off);
	if (rc)
		return rc;
	if (enc == SN_ENC_STR_PLAIN) {
		if ((rc = sn_dec_str_plain(pl + off, len - off, n, out->dict + base, &k)))
			return rc;
		for (size_t i = 0; i < n; i++)
			codes[i] = base + (uint32_t)i;
		nd = n;
	} else if (enc == SN_ENC_STR_DICT) {
		if ((rc = sn_dec_str_dict_codes(pl + off, len - off, n, out->dict + base, &nd, base,
						codes, &k)))
			return rc;
	} else {
		return SN_ERR_CORRUPT;
	}
	if (off + k != len)
		return SN_ERR_CORRUPT;
	for (size_t i = 0; has_nulls && i < n; i++)
		if (nulls[i])
			codes[i] = 0;
	memset(out->dict_nulls + base, 0, nd);
	out->ndict += nd;
	return 0;
}

/* The column read of both kinds: every granule of [g_begin, g_end) that
 * need (or NULL) asks for, fetched, checked and decoded into values or
 * codes. */
static int read_column(struct sn_part *p, size_t ci, size_t g_begin, size_t g_end,
		       const uint8_t *need, bool coded, struct sn_arena *arena,
		       struct sn_colvec *out, struct sn_err *err)
{
	struct rbuf rb = {0};
	uint8_t *nulls = NULL; /* coded: a block's null bytes */
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = check_read(p, ci, g_begin, g_end, err)))
		return rc;
	const struct col *col = &p->cols[ci];
	if (coded && col->info.type != SN_COL_STRING)
		return sn_err_set(err, SN_ERR_INVALID, "part %s: column %s is not a string column",
				  p->path, col->info.name);
	if ((rc = read_setup(p, col, range_rows(p, g_begin, g_end), coded, arena, out, err)))
		goto out;
	size_t row0 = 0;
	for (size_t g = g_begin; g < g_end; row0 += p->gran[g].nrows, g++) {
		const struct blk *b = &col->blocks[g];
		size_t n = p->gran[g].nrows;
		if ((need && !need[g - g_begin]) ||
		    (!p->decode_all && sn_part_block_nulls(p, ci, g) == SN_BNULLS_ALL)) {
			if (read_skip(col, row0, n, coded, arena, out)) {
				rc = sn_err_set(err, SN_ERR_NOMEM,
						"part %s: query memory limit reading %s", p->path,
						col->info.name);
				goto out;
			}
			continue;
		}
		uint8_t *dst = NULL;
		if ((rc = fetch_block(p, col, g, &rb, arena, &dst, err)))
			goto out;
		if (dst[0] == SN_ENC_STR_FROM_PROP && !coded) {
			if ((rc = derive_block(p, col, b, dst, g, row0, arena, out, err)))
				goto out; /* err says why */
			continue;
		}
		if (dst[0] == SN_ENC_STR_FROM_PROP) {
			/* each row its own entry */
			struct sn_colvec d = {.str = out->dict + out->ndict};
			if ((rc = derive_block(p, col, b, dst, g, 0, arena, &d, err)))
				goto out;
			for (size_t i = 0; i < n; i++)
				out->codes[row0 + i] = (uint32_t)(out->ndict + i);
			memset(out->dict_nulls + out->ndict, 0, n);
			out->ndict += n;
			continue;
		}
		if (coded && !nulls &&
		    !(nulls = sn_arena_alloc(arena, p->granule_rows ? p->granule_rows : n))) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "part %s: query memory limit reading %s",
					p->path, col->info.name);
			goto out;
		}
		enum sn_bnulls bn = sn_part_block_nulls(p, ci, g);
		rc = coded ? decode_block_coded(col, b, bn, dst, n, row0, nulls, out)
			   : decode_block(col, b, bn, dst, n, row0, arena, out);
		if (rc) {
			rc = block_error(p, col, g, rc, err);
			goto out;
		}
	}
	rc = 0;
out:
	rbuf_free(&rb);
	if (rc && coded)
		memset(out, 0, sizeof(*out));
	return rc;
}

int sn_part_read_column_some(struct sn_part *p, size_t ci, size_t g_begin, size_t g_end,
			     const uint8_t *need, struct sn_arena *arena, struct sn_colvec *out,
			     struct sn_err *err)
{
	return read_column(p, ci, g_begin, g_end, need, false, arena, out, err);
}

int sn_part_read_column_coded(struct sn_part *p, size_t ci, size_t g_begin, size_t g_end,
			      const uint8_t *need, struct sn_arena *arena, struct sn_colvec *out,
			      struct sn_err *err)
{
	return read_column(p, ci, g_begin, g_end, need, true, arena, out, err);
}

void sn_part_granules_for_team(const struct sn_part *p, int64_t team_id, int32_t day_min,
			       int32_t day_max, size_t *g_begin, size_t *g_end)
{
	/* Granule g may hold keys from its first key up to the next granule's
	 * first key (inclusive: equal keys can straddle a boundary). So the
	 * answer is [L - 1, U): L = first granule starting at or after
	 * (team, day_min), U = first granule starting after (team, day_max). */
	size_t lo = 0, hi = p->ngran;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(&p->gran[mid], team_id, day_min) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t L = lo;
	lo = L;
	hi = p->ngran;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (key_cmp(&p->gran[mid], team_id, day_max) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t U = lo, B = L ? L - 1 : 0;
	if (day_min > day_max || B >= U) {
		*g_begin = *g_end = 0;
		return;
	}
	*g_begin = B;
	*g_end = U;
}

bool sn_part_granule_overlaps_time(const struct sn_part *p, size_t g, int64_t ts_min_us,
				   int64_t ts_max_us)
{
	if (g >= p->ngran)
		return false;
	return p->gran[g].min_ts_us <= ts_max_us && p->gran[g].max_ts_us >= ts_min_us;
}

/* Columns added to the events schema after the first parts were written, and
 * what a part that predates them holds in their place: the empty string. */
static bool defaults_to_empty(const char *name)
{
	size_t n = strlen(SN_COL_NAME_GROUP_PREFIX);
	return strncmp(name, SN_COL_NAME_GROUP_PREFIX, n) == 0 && name[n] >= '0' &&
	       name[n] < '0' + SN_STORE_GROUPS && name[n + 1] == 0;
}

int sn_part_read_named(struct sn_part *p, const char *name, size_t g_begin, size_t g_end,
		       struct sn_arena *arena, struct sn_colvec *out, struct sn_err *err)
{
	int ci = sn_part_find_column(p, name);
	if (ci >= 0)
		return sn_part_read_column(p, (size_t)ci, g_begin, g_end, arena, out, err);
	memset(out, 0, sizeof(*out));
	if (!defaults_to_empty(name))
		return sn_err_set(err, SN_ERR_NOT_FOUND, "part %s has no column %s", p->path, name);
	if (g_begin > g_end || g_end > p->ngran)
		return sn_err_set(err, SN_ERR_INVALID, "part %s: no granules [%zu, %zu)", p->path,
				  g_begin, g_end);
	size_t nrows = 0;
	for (size_t g = g_begin; g < g_end; g++)
		nrows += p->gran[g].nrows;
	out->type = SN_COL_STRING;
	out->nrows = nrows;
	out->str = sn_arena_alloc(arena, (nrows ? nrows : 1) * sizeof(struct sn_str));
	if (!out->str)
		return sn_err_set(err, SN_ERR_NOMEM, "part %s: query memory limit reading %s",
				  p->path, name);
	for (size_t i = 0; i < nrows; i++)
		out->str[i] = (struct sn_str){"", 0};
	return 0;
}
