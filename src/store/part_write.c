/*
 * part_write.c — writes sorted rows of one month as an immutable part file,
 * and flushes a memtable as one part per month.
 *
 * The file is written front to back in one pass, column after column, so a
 * column's granule blocks are contiguous and a reader fetches any granule
 * range of a column with a single pread:
 *
 *   header | uuid g0 g1 .. | team_id g0 g1 .. | ... | $window_id g0 .. | $group_0..4 |
 *          [p:@layout g0 .. | p:<key1> g0 .. | ...]  (shredded parts) | meta | trailer
 *
 * A shredded part (shred.c) stores p:@rest where `properties` would be and
 * appends the layout and one column per shredded key; columns are named in
 * the directory, so readers find them by name, never by position.
 *
 * Each block is [u8 encoding][u8 flags][null bitmap if flagged][values],
 * compressed on its own by the column's codec. The metadata (sparse index,
 * granule min/max, column directory with one entry per block: offset,
 * sizes, CRC32, codec, encoding; from format version 2 the tagged sections,
 * today the residual key set) goes last, when every offset is known, and
 * the fixed-size trailer at the very end points at it. STORAGE.md draws the
 * bytes. opts.format_version 1 writes the same file without the sections,
 * for binaries from before them.
 *
 * The residual key set (keyset.c) is collected by the granule tasks: each
 * thread adds the keys of every row's residual object (its p:@rest as just
 * split, or its properties when the part is not shredded) to its own set,
 * and the sets are merged and sorted before the metadata is written, so the
 * section too is the same whatever ran the tasks.
 *
 * Threads: the work is one task per granule (split its properties, encode
 * and compress its block of every column into the granule's buffer), run on
 * opts.pool (wpool.c) or, without one, on the calling thread; the calling
 * thread then writes the blocks column after column. A block's bytes depend
 * on its rows only, so the file is the same whatever ran the tasks. The
 * cost is memory: the compressed part is held until it is written (about
 * 70 B/row). Tasks per column were rejected (about 50 tasks of very uneven
 * size, and each needs the whole part split first: a 16-bytes-a-key-a-row
 * span array), and so were windows of block tasks (a barrier per window
 * stalls whenever another process preempts one thread).
 *
 * Locality: a task first copies its granule's row structs, and with
 * opts.gather_text (a memtable's rows, in arrival order) their properties
 * text, next to each other in part order, so that the split and the column
 * passes read dense memory in sequence (STORAGE.md "The writer's threads").
 *
 * Crash safety: everything goes to "<path>.tmp", fsync, rename to path,
 * fsync of the directory. A crash leaves either no part or a complete one
 * (plus maybe a stale .tmp that the store removes at startup); the WAL
 * checkpoint may move only after this function returned 0. A memtable
 * flush takes the same steps for all of its parts together: every temp
 * file written (its writeback started at once), then each fsynced and
 * renamed, then one directory fsync — so one month's part goes to the
 * device while the next month's is encoded.
 *
 * Rejected: one file per column (ClickHouse's wide parts). It makes a part
 * dozens of files and fsyncs, and shredded properties would make it
 * hundreds; contiguous per-column ranges inside one file give the same
 * single-read access.
 */
#include "store/shred.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum col_id {
	C_UUID,
	C_TEAM_ID,
	C_TIMESTAMP,
	C_CREATED_AT,
	C_EVENT,
	C_DISTINCT_ID,
	C_PROPERTIES,
	C_ELEMENTS_CHAIN,
	C_PERSON_ID,
	C_SESSION_ID,
	C_WINDOW_ID,
	C_GROUP_0,
	C_GROUP_4 = C_GROUP_0 + SN_STORE_GROUPS - 1,
	C_COUNT,
	C_LAYOUT = C_COUNT, /* shredded parts only */
	C_SHRED,
};

/* The base columns and their default codec. zstd(1) everywhere except where
 * lz4 measured as good (STORAGE.md, "Codec per column"): the integer and
 * id columns are tiny after encoding, so the faster decoder wins there. */
#define SHRED_NAME_MAX 256

static const struct coldef {
	const char *name;
	enum sn_col_type type;
	uint8_t flags;
	enum sn_codec codec;
	bool try_dict;
} g_cols[C_COUNT] = {
    [C_UUID] = {SN_COL_NAME_UUID, SN_COL_UUID, 0, SN_CODEC_ZSTD, false},
    [C_TEAM_ID] = {SN_COL_NAME_TEAM_ID, SN_COL_INT64, 0, SN_CODEC_LZ4, false},
    /* Read by every query (timestamp) and every person insight (person_id):
     * lz4 decodes them in half zstd's time for 8 % and 15 % more bytes
     * (STORAGE.md, "Codec per column"). */
    [C_TIMESTAMP] = {SN_COL_NAME_TIMESTAMP, SN_COL_DATETIME, 0, SN_CODEC_LZ4, false},
    [C_CREATED_AT] = {SN_COL_NAME_CREATED_AT, SN_COL_DATETIME, 0, SN_CODEC_ZSTD, false},
    [C_EVENT] = {SN_COL_NAME_EVENT, SN_COL_STRING, 0, SN_CODEC_LZ4, true},
    /* Hashed by uniq(distinct_id), joined to persons: lz4 decodes it in a
     * third of zstd's time for 1.8 times the bytes (STORAGE.md). */
    [C_DISTINCT_ID] = {SN_COL_NAME_DISTINCT_ID, SN_COL_STRING, 0, SN_CODEC_LZ4, true},
    [C_PROPERTIES] = {SN_COL_NAME_PROPERTIES, SN_COL_STRING, 0, SN_CODEC_ZSTD, false},
    [C_ELEMENTS_CHAIN] = {SN_COL_NAME_ELEMENTS_CHAIN, SN_COL_STRING, 0, SN_CODEC_ZSTD, true},
    [C_PERSON_ID] = {SN_COL_NAME_PERSON_ID, SN_COL_UUID, 0, SN_CODEC_LZ4, false},
    [C_SESSION_ID] = {SN_COL_NAME_SESSION_ID, SN_COL_STRING, SN_COLF_NULLABLE, SN_CODEC_ZSTD, true},
    [C_WINDOW_ID] = {SN_COL_NAME_WINDOW_ID, SN_COL_STRING, SN_COLF_NULLABLE, SN_CODEC_ZSTD, true},
    /* Mostly empty: a one-entry dictionary per block, lz4 decodes it fastest. */
    [C_GROUP_0] = {"$group_0", SN_COL_STRING, 0, SN_CODEC_LZ4, true},
    [C_GROUP_0 + 1] = {"$group_1", SN_COL_STRING, 0, SN_CODEC_LZ4, true},
    [C_GROUP_0 + 2] = {"$group_2", SN_COL_STRING, 0, SN_CODEC_LZ4, true},
    [C_GROUP_0 + 3] = {"$group_3", SN_COL_STRING, 0, SN_CODEC_LZ4, true},
    [C_GROUP_4] = {"$group_4", SN_COL_STRING, 0, SN_CODEC_LZ4, true},
};

/* One column of the part being written: a base column, or (in shredded
 * parts) the residual, the layout or one shredded key. */
struct wcol {
	struct coldef def;
	enum col_id id;
	size_t key;	 /* C_SHRED: index into the shred's keys */
	long derive_key; /* a column that copies a shredded property: its key, else -1 */
	bool i64_for;	 /* version 4 on: int64 blocks as SN_ENC_I64_FOR */
	char name[SHRED_NAME_MAX];
};

#define STAGE_FLUSH_BYTES (4u << 20)

struct block_entry {
	uint64_t offset;
	uint32_t csize;
	uint32_t usize;
	uint32_t crc;
	uint8_t codec;
	uint8_t enc;
	uint8_t nulls; /* SN_BNULLS_*: the block-nulls section's byte */
};

struct writer {
	int fd;
	const char *tmp_path;
	uint64_t off;	     /* file offset of stage.data[0] + stage.len */
	struct sn_buf stage; /* bytes not yet written */
	struct sn_err *err;
};

static int write_all(int fd, const char *p, size_t n, struct sn_err *err, const char *path)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return sn_err_set(err, SN_ERR_IO, "write %s: %s", path,
					  w < 0 ? strerror(errno) : "short write");
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int stage_flush(struct writer *w)
{
	int rc = write_all(w->fd, w->stage.data, w->stage.len, w->err, w->tmp_path);
	sn_buf_reset(&w->stage);
	return rc;
}

static int stage_append(struct writer *w, const void *p, size_t n)
{
	int rc = sn_buf_append(&w->stage, p, n);
	if (rc)
		return sn_err_set(w->err, rc, "part staging buffer: %s", sn_strerror(rc));
	w->off += n;
	if (w->stage.len >= STAGE_FLUSH_BYTES)
		return stage_flush(w);
	return 0;
}

static void put_str(struct sn_str *dst, struct sn_str s, uint8_t *null_out)
{
	*null_out = s.p == NULL;
	dst->p = s.p ? s.p : "";
	dst->len = s.len;
}

/* Rows sit in the memtable in arrival order and are visited in part order,
 * so nearly every row is a cache miss: fetch a few rows ahead. */
#define PREFETCH_AHEAD 8
#define PREFETCH_ROW(rows, i, n)                                          \
	do {                                                              \
		if ((i) + PREFETCH_AHEAD < (n))                           \
			__builtin_prefetch((rows)[(i) + PREFETCH_AHEAD]); \
	} while (0)

static struct sn_str row_str(enum col_id c, const struct sn_event_row *r)
{
	return c == C_SESSION_ID  ? r->session_id
	       : c == C_WINDOW_ID ? r->window_id
				  : r->elements_chain;
}

/* True when every row of the granule holds in column wc exactly what its
 * property gives (sn_derive_from_prop): the block is then stored as
 * SN_ENC_STR_FROM_PROP, and the reader takes the values from the property's
 * column. Most granules are so: the ingest fills $session_id, $window_id
 * and elements_chain from those properties. An autocapture event whose
 * chain was built from $elements, a string with escapes (stored decoded),
 * or a row the split kept whole, makes the granule store its values.
 * The memtable points such a value into the row's properties text when it
 * is the very same bytes (memtable.c), so most rows compare two pointers
 * and touch no text. */
static bool derivable(const struct wcol *wc, const struct sn_event_row *const *rows, size_t n,
		      const struct sn_shred_gran *sg)
{
	const struct sn_str *raw = &sg->vals[(size_t)wc->derive_key * n];
	for (size_t i = 0; i < n; i++) {
		struct sn_str v = row_str(wc->id, rows[i]);
		if (!v.p)
			return false; /* a NULL the property cannot give */
		struct sn_str d = sn_derive_from_prop(raw[i]);
		if (d.len != v.len || (v.len && d.p != v.p && memcmp(d.p, v.p, v.len)))
			return false;
	}
	return true;
}

/* Encodes column c of rows[0..n) into payload: [enc][flags][nulls][values]. */
static int encode_block(const struct wcol *wc, const struct sn_event_row *const *rows, size_t first,
			size_t n, const struct sn_shred *sh, const struct sn_shred_gran *sg,
			struct sn_buf *payload, void *scratch, uint8_t *nulls, uint8_t *enc_out,
			uint8_t *bnulls_out)
{
	const struct coldef *d = &wc->def;
	enum col_id c = wc->id;
	rows += first;
	int64_t *iv = scratch;
	struct sn_str *sv = scratch;
	uint8_t *fv = scratch;
	bool any_null = false, all_null = n > 0;
	uint8_t enc;
	int rc;

	sn_buf_reset(payload);
	/* what the block-nulls section says of a block taken from its property */
	*bnulls_out = d->flags & SN_COLF_NULLABLE ? SN_BNULLS_SOME : SN_BNULLS_NONE;
	if (wc->derive_key >= 0 && derivable(wc, rows, n, sg)) {
		uint8_t hdr[2] = {SN_ENC_STR_FROM_PROP, 0};
		*enc_out = SN_ENC_STR_FROM_PROP;
		return sn_buf_append(payload, hdr, 2);
	}
	switch (d->type) {
	case SN_COL_INT64:
	case SN_COL_DATETIME:
	case SN_COL_BOOL:
		for (size_t i = 0; i < n; i++) {
			PREFETCH_ROW(rows, i, n);
			iv[i] = c == C_TEAM_ID	   ? rows[i]->team_id
				: c == C_TIMESTAMP ? rows[i]->timestamp_us
						   : rows[i]->created_at_us;
		}
		enc = wc->i64_for ? SN_ENC_I64_FOR : SN_ENC_I64_DELTA;
		break;
	case SN_COL_UUID:
		for (size_t i = 0; i < n; i++) {
			PREFETCH_ROW(rows, i, n);
			memcpy(fv + 16 * i, c == C_UUID ? rows[i]->uuid : rows[i]->person_id, 16);
		}
		enc = SN_ENC_FIXED16;
		break;
	case SN_COL_STRING:
		for (size_t i = 0; i < n; i++) {
			const struct sn_event_row *r = rows[i];
			if (c < C_COUNT && !(c == C_PROPERTIES && sh->nkeys))
				PREFETCH_ROW(rows, i, n);
			struct sn_str s = c == C_SHRED	  ? sg->vals[wc->key * n + i]
					  : c == C_LAYOUT ? sg->layout[i]
					  : c == C_PROPERTIES && sh->nkeys ? sg->rest[i]
					  : c == C_EVENT		   ? r->event
					  : c == C_DISTINCT_ID		   ? r->distinct_id
					  : c == C_PROPERTIES		   ? r->properties
					  : c == C_ELEMENTS_CHAIN	   ? r->elements_chain
					  : c == C_SESSION_ID		   ? r->session_id
					  : c == C_WINDOW_ID		   ? r->window_id
							     : r->group[c - C_GROUP_0];
			put_str(&sv[i], s, &nulls[i]);
			if (!(d->flags & SN_COLF_NULLABLE))
				nulls[i] = 0; /* a NULL pointer is "" in a non-nullable column */
			any_null |= nulls[i];
			all_null &= nulls[i];
		}
		enc = d->try_dict ? SN_ENC_STR_DICT : SN_ENC_STR_PLAIN;
		break;
	default: return SN_ERR_INTERNAL;
	}

	*bnulls_out = !any_null ? SN_BNULLS_NONE : all_null ? SN_BNULLS_ALL : SN_BNULLS_SOME;
	uint8_t hdr[2] = {enc, any_null ? SN_BLOCK_HAS_NULLS : 0};
	if ((rc = sn_buf_append(payload, hdr, 2)))
		return rc;
	if (any_null && (rc = sn_enc_nulls(payload, nulls, n)))
		return rc;
	switch (enc) {
	case SN_ENC_I64_DELTA: rc = sn_enc_i64_delta(payload, iv, n); break;
	case SN_ENC_I64_FOR: rc = sn_enc_i64_for(payload, iv, n); break;
	case SN_ENC_FIXED16: rc = sn_enc_fixed16(payload, fv, n); break;
	case SN_ENC_STR_DICT:
		rc = sn_enc_str_dict(payload, sv, n);
		if (rc != SN_ERR_TOO_BIG)
			break;
		enc = SN_ENC_STR_PLAIN;
		payload->data[0] = (char)enc;
		__attribute__((fallthrough));
	case SN_ENC_STR_PLAIN: rc = sn_enc_str_plain(payload, sv, n); break;
	default: rc = SN_ERR_INTERNAL;
	}
	*enc_out = enc;
	return rc;
}

/* The work of the pool's threads: one task per granule, which splits the
 * granule's properties (shredded parts) and encodes and compresses the
 * granule's block of every column into gout[g], in column order. Each thread
 * has its own scratch (ws[worker]). A block's bytes depend only on its rows,
 * so whichever thread makes it, the file is the same. */
struct enc_ws {
	struct sn_buf payload; /* the encoded block */
	void *scratch;
	uint8_t *nulls;
	struct sn_shred_gran sg;
	struct sn_block_cctx *cctx;
	struct sn_keyset keys;	    /* residual keys of the granules this thread did */
	struct sn_event_row *lrows; /* the granule's rows, copied in part order */
	const struct sn_event_row **lptr;
	char *text; /* opts.gather_text: the granule's properties, next to each other */
	size_t text_cap;
};

struct enc_job {
	const struct wcol *wcols;
	size_t ncols;
	const struct sn_event_row *const *rows;
	size_t nrows, ngran;
	uint32_t grows;
	const struct sn_shred *sh;
	const struct sn_part_write_opts *o;
	bool keys;		    /* collect the residual key set (format version 2 on) */
	struct block_entry *blocks; /* offset: where in gout[g] until written */
	struct enc_ws *ws;
	unsigned nws;
	struct sn_buf *gout; /* ngran: the granule's compressed blocks */
	struct sn_err *gerr; /* ngran: why the granule failed (code 0: it did not) */
};

/* The bytes of a row's properties text and, where the memtable put them
 * right after it (copy_props), its member lengths: one span to copy. */
static size_t text_span(const struct sn_event_row *r, size_t *tl)
{
	size_t len = r->properties.p ? r->properties.len : 0;
	*tl = r->pmembers ? (len + 1) & ~(size_t)1 : len; /* the lengths are u16 */
	return *tl + (r->pmembers ? 4 * (size_t)r->npmembers : 0);
}

/* s, if it lies inside [old, old + len), at the same offset of copy. */
static void rebase(struct sn_str *s, const char *old, size_t len, char *copy)
{
	if (s->p && s->p >= old && s->p < old + len)
		s->p = copy + (s->p - old);
}

/* opts.gather_text: copies the properties of the granule's rows (ws->lrows,
 * n) next to each other in ws->text, in part order, and points the rows at
 * the copy, the values the memtable shares with the text included
 * (copy_or_share in memtable.c), so pointer equality between a column's
 * value and its property still holds for `derivable`. Skipped (the rows
 * keep their pointers) when the copy would pass GATHER_MAX_BYTES or memory
 * is short: it changes no byte of the part, only where the passes below
 * read. */
#define GATHER_AHEAD	 4
#define GATHER_MAX_BYTES ((size_t)64 << 20)
static void gather_text(struct enc_ws *ws, size_t n)
{
	size_t need = 0, tl;
	for (size_t i = 0; i < n; i++)
		need += (text_span(&ws->lrows[i], &tl) + 7) & ~(size_t)7;
	if (need > GATHER_MAX_BYTES)
		return;
	if (need > ws->text_cap) {
		char *t = malloc(need + need / 4);
		if (!t)
			return;
		free(ws->text);
		ws->text = t;
		ws->text_cap = need + need / 4;
	}
	char *w = ws->text;
	for (size_t i = 0; i < n; i++) {
		if (i + GATHER_AHEAD < n) {
			const struct sn_event_row *q = &ws->lrows[i + GATHER_AHEAD];
			const char *qp = q->properties.p;
			for (size_t o = 0; qp && o < q->properties.len; o += 64)
				__builtin_prefetch(qp + o);
			for (size_t o = 0; q->pmembers && o < 4 * (size_t)q->npmembers; o += 64)
				__builtin_prefetch((const char *)q->pmembers + o);
		}
		struct sn_event_row *r = &ws->lrows[i];
		size_t span = text_span(r, &tl);
		const char *old = r->properties.p;
		size_t len = r->properties.len;
		if (!old || !len)
			continue;
		memcpy(w, old, len);
		if (r->pmembers) {
			memcpy(w + tl, r->pmembers, span - tl);
			r->pmembers = (const uint16_t *)(void *)(w + tl);
		}
		r->properties.p = w;
		/* The values the memtable shares with the text (and the only
		 * columns `derivable` compares with a property). */
		rebase(&r->elements_chain, old, len, w);
		rebase(&r->session_id, old, len, w);
		rebase(&r->window_id, old, len, w);
		w += (span + 7) & ~(size_t)7;
	}
}

static void granule_task(void *ctx, unsigned worker, size_t g)
{
	struct enc_job *job = ctx;
	struct enc_ws *ws = &job->ws[worker];
	struct sn_buf *out = &job->gout[g];
	struct sn_err *err = &job->gerr[g];
	size_t first = g * job->grows;
	size_t n = job->nrows - first < job->grows ? job->nrows - first : job->grows;
	int rc;
	/* The rows of a part are scattered over the memtable (arrival order).
	 * One pass copies the granule's row structs next to each other, with
	 * the source fetched well ahead; the passes below (the split, then one
	 * per column) then read them in sequence instead of missing the cache
	 * on every row of every column. */
	const struct sn_event_row *const *src = job->rows + first;
	for (size_t i = 0; i < n; i++) {
		if (i + 16 < n)
			__builtin_prefetch(src[i + 16]);
		if (i + 16 < n)
			__builtin_prefetch((const char *)src[i + 16] + 128);
		ws->lrows[i] = *src[i];
		ws->lptr[i] = &ws->lrows[i];
	}
	if (job->o->gather_text)
		gather_text(ws, n);
	const struct sn_event_row *const *rows = ws->lptr;
	if (job->sh->nkeys && (rc = sn_shred_rows(job->sh, rows, n, &ws->sg))) {
		sn_err_set(err, rc, "shred granule %zu: %s", g, sn_strerror(rc));
		return;
	}
	/* The residual of each row is what a read of an unshredded key scans:
	 * p:@rest as just split (the row's text when it stayed whole), or the
	 * row's properties in an unshredded part. */
	for (size_t i = 0; job->keys && !ws->keys.over && i < n; i++) {
		struct sn_str t = job->sh->nkeys ? ws->sg.rest[i] : rows[i]->properties;
		if ((rc = sn_keyset_add_object(&ws->keys, t))) {
			sn_err_set(err, rc, "residual keys of granule %zu: %s", g, sn_strerror(rc));
			return;
		}
	}
	for (size_t c = 0; c < job->ncols; c++) {
		const struct wcol *wc = &job->wcols[c];
		enum sn_codec codec =
		    job->o->codec_override ? job->o->codec_override : wc->def.codec;
		uint8_t enc, bnulls;
		rc = encode_block(wc, rows, 0, n, job->sh, &ws->sg, &ws->payload, ws->scratch,
				  ws->nulls, &enc, &bnulls);
		if (rc) {
			sn_err_set(err, rc, "encode %s granule %zu: %s", wc->name, g,
				   sn_strerror(rc));
			return;
		}
		size_t off = out->len;
		if ((rc = sn_block_compress_ctx(ws->cctx, codec, job->o->zstd_level,
						ws->payload.data, ws->payload.len, out, err))) {
			if (!err->code)
				sn_err_set(err, rc, "compress %s granule %zu: %s", wc->name, g,
					   sn_strerror(rc));
			return;
		}
		struct block_entry *b = &job->blocks[c * job->ngran + g];
		b->offset = off;
		b->csize = (uint32_t)(out->len - off);
		b->usize = (uint32_t)ws->payload.len;
		b->crc = sn_crc32(0, out->data + off, b->csize);
		b->codec = (uint8_t)codec;
		b->enc = enc;
		b->nulls = bnulls;
	}
}

static void meta_u8(struct sn_buf *m, uint8_t v, int *rc)
{
	if (!*rc)
		*rc = sn_buf_append(m, &v, 1);
}
static void meta_u16(struct sn_buf *m, uint16_t v, int *rc)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	if (!*rc)
		*rc = sn_buf_append(m, b, 2);
}
static void meta_u32(struct sn_buf *m, uint32_t v, int *rc)
{
	uint8_t b[4];
	sn_put_u32(b, v);
	if (!*rc)
		*rc = sn_buf_append(m, b, 4);
}
static void meta_u64(struct sn_buf *m, uint64_t v, int *rc)
{
	uint8_t b[8];
	sn_put_u64(b, v);
	if (!*rc)
		*rc = sn_buf_append(m, b, 8);
}
static void meta_bytes(struct sn_buf *m, const void *p, size_t n, int *rc)
{
	if (!*rc && n)
		*rc = sn_buf_append(m, p, n);
}

/* The part of the sort key the sparse index relies on: (team_id, day,
 * event). Checking only this prefix keeps the guard cheap (no hashing);
 * the rest of the order is the memtable's business and affects only
 * compression, never correctness of pruning. */
static int index_key_cmp(const struct sn_event_row *a, const struct sn_event_row *b)
{
	if (a->team_id != b->team_id)
		return a->team_id < b->team_id ? -1 : 1;
	int32_t da = sn_store_day_of(a->timestamp_us), db = sn_store_day_of(b->timestamp_us);
	if (da != db)
		return da < db ? -1 : 1;
	if (a->event.p == b->event.p && a->event.len == b->event.len)
		return 0; /* the memtable interns names: one copy per name */
	size_t n = a->event.len < b->event.len ? a->event.len : b->event.len;
	int c = n ? memcmp(a->event.p, b->event.p, n) : 0;
	if (c)
		return c;
	return a->event.len < b->event.len ? -1 : a->event.len > b->event.len;
}

static int fsync_parent(const char *path, struct sn_err *err)
{
	char dir[1024];
	snprintf(dir, sizeof(dir), "%s", path);
	return sn_fsync_dir(dirname(dir), err);
}

/* A part written to its temp file, not yet fsynced nor renamed (a flush's
 * parts, finished together by sn_memtable_flush): fd is open on tmp. */
struct part_pending {
	int fd;
	char tmp[1040];
	char path[512];
};

/* Writes the part to its temp file and stops once it holds every byte: the
 * file is left in *pend, open, for part_finish (fsync, rename) and the
 * caller's fsync of the directory — at once (sn_part_write) or with the
 * other parts of a flush (sn_memtable_flush). */
static int part_write(const char *path, const struct sn_event_row *const *rows, size_t nrows,
		      const struct sn_part_write_opts *opts, struct sn_part_written *out,
		      struct part_pending *pend, struct sn_err *err)
{
	struct sn_part_write_opts o = opts ? *opts : (struct sn_part_write_opts){0};
	uint32_t grows = o.granule_rows ? o.granule_rows : SN_PART_GRANULE_ROWS;
	uint32_t version = o.format_version ? o.format_version : SN_PART_VERSION;
	char tmp[1040];
	struct writer w = {.fd = -1, .tmp_path = tmp, .err = err};
	struct sn_buf meta;
	struct block_entry *blocks = NULL;
	struct enc_job job = {0};
	size_t ngran = 0, ncols = 0;
	struct sn_shred sh = {0};
	struct wcol *wcols = NULL;
	bool created = false;
	int rc;

	sn_buf_init(&w.stage, 0);
	sn_buf_init(&meta, SN_PART_MAX_META);
	if (strlen(path) >= sizeof(out->path)) {
		rc = sn_err_set(err, SN_ERR_INVALID, "part path too long: %s", path);
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (version < SN_PART_MIN_VERSION || version > SN_PART_VERSION) {
		rc = sn_err_set(err, SN_ERR_INVALID,
				"cannot write part format version %" PRIu32
				", only versions %d to %d",
				version, SN_PART_MIN_VERSION, SN_PART_VERSION);
		goto out;
	}
	if (!nrows || grows > (1u << 20)) {
		rc = sn_err_set(err, SN_ERR_INVALID,
				"a part needs rows (got %zu, granule %" PRIu32 ")", nrows, grows);
		goto out;
	}
	int32_t month = sn_store_month_of(rows[0]->timestamp_us);
	for (size_t i = 0; i < nrows; i++) {
		if (i + 8 < nrows)
			__builtin_prefetch(rows[i + 8]);
		if (sn_store_month_of(rows[i]->timestamp_us) != month ||
		    (i && index_key_cmp(rows[i - 1], rows[i]) > 0)) {
			rc = sn_err_set(err, SN_ERR_INVALID,
					"rows for part %s are not sorted or span months (row %zu)",
					path, i);
			goto out;
		}
	}
	if (!o.no_shred && (rc = sn_shred_build(&sh, rows, nrows, err)))
		goto out;
	ncols = C_COUNT + (sh.nkeys ? 1 + sh.nkeys : 0);
	wcols = calloc(ncols, sizeof(*wcols));
	if (!wcols) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory writing part %s", path);
		goto out;
	}
	for (size_t c = 0; c < ncols; c++) {
		struct wcol *wc = &wcols[c];
		wc->derive_key = -1;
		if (c < C_COUNT) {
			wc->def = g_cols[c];
			wc->id = (enum col_id)c;
			wc->i64_for = version >= 4; /* read by int64 columns only */
			const char *prop = version >= 3 ? sn_derived_prop(g_cols[c].name) : NULL;
			for (size_t k = 0; prop && k < sh.nkeys; k++)
				if (sh.keys[k].len == strlen(prop) - 2 &&
				    !memcmp(sh.keys[k].p, prop + 2, sh.keys[k].len))
					wc->derive_key = (long)k;
			snprintf(wc->name, sizeof(wc->name), "%s",
				 c == C_PROPERTIES && sh.nkeys ? SN_COL_NAME_REST : g_cols[c].name);
			if (c == C_PROPERTIES && sh.nkeys)
				wc->def.try_dict =
				    true; /* the residual is often the same few keys */
		} else {
			wc->def = (struct coldef){NULL, SN_COL_STRING, SN_COLF_NULLABLE,
						  SN_CODEC_ZSTD, true};
			wc->id = c == C_COUNT ? C_LAYOUT : C_SHRED;
			wc->key = c - C_COUNT - 1;
			if (c == C_COUNT)
				snprintf(wc->name, sizeof(wc->name), "%s", SN_COL_NAME_LAYOUT);
			else
				snprintf(wc->name, sizeof(wc->name), "%s%.*s", SN_COL_PREFIX_PROP,
					 (int)sh.keys[wc->key].len, sh.keys[wc->key].p);
		}
		wc->def.name = wc->name;
	}
	ngran = (nrows + grows - 1) / grows;
	blocks = calloc(ngran * ncols, sizeof(*blocks));
	if (!blocks) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory writing part %s", path);
		goto out;
	}

	w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w.fd < 0) {
		rc = sn_err_set(err, SN_ERR_IO, "create %s: %s", tmp, strerror(errno));
		goto out;
	}
	created = true;

	uint8_t hdr[SN_PART_HEADER_SIZE] = {0};
	memcpy(hdr, SN_PART_MAGIC, 8);
	sn_put_u32(hdr + 8, version);
	sn_put_u32(hdr + 12, SN_PART_HEADER_SIZE);
	sn_put_u32(hdr + 28, sn_crc32(0, hdr, 28));
	if ((rc = stage_append(&w, hdr, sizeof(hdr))))
		goto out;

	/* Granules are split and encoded by the pool's threads (or this one
	 * without a pool), each into its own buffer; then this thread writes the
	 * blocks column after column. The whole compressed part is in memory until
	 * it is written: that is what lets a granule's columns be encoded together
	 * (its properties are split once, with no whole-part span array). */
	job = (struct enc_job){.wcols = wcols,
			       .ncols = ncols,
			       .rows = rows,
			       .nrows = nrows,
			       .grows = grows,
			       .ngran = ngran,
			       .sh = &sh,
			       .o = &o,
			       .keys = version >= 2,
			       .blocks = blocks};
	job.nws = sn_write_pool_threads(o.pool);
	job.ws = calloc(job.nws, sizeof(*job.ws));
	job.gout = calloc(ngran, sizeof(*job.gout));
	job.gerr = calloc(ngran, sizeof(*job.gerr));
	if (!job.ws || !job.gout || !job.gerr) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory writing part %s", path);
		goto out;
	}
	for (size_t g = 0; g < ngran; g++)
		sn_buf_init(&job.gout[g], 0);
	for (unsigned t = 0; t < job.nws; t++) {
		struct enc_ws *ws = &job.ws[t];
		sn_buf_init(&ws->payload, SN_PART_MAX_BLOCK_SIZE);
		sn_shred_gran_init(&ws->sg);
		sn_keyset_init(&ws->keys);
		ws->scratch = malloc((size_t)grows * 16);
		ws->nulls = malloc(grows);
		ws->cctx = sn_block_cctx_new();
		ws->lrows = malloc((size_t)grows * sizeof(*ws->lrows));
		ws->lptr = malloc((size_t)grows * sizeof(*ws->lptr));
		if (!ws->scratch || !ws->nulls || !ws->cctx || !ws->lrows || !ws->lptr) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory writing part %s", path);
			goto out;
		}
	}
	sn_write_pool_run(o.pool, ngran, granule_task, &job);
	for (size_t g = 0; g < ngran; g++) {
		if (job.gerr[g].code) {
			rc =
			    sn_err_set(err, job.gerr[g].code, "part %s: %s", path, job.gerr[g].msg);
			goto out;
		}
	}
	for (size_t c = 0; c < ncols; c++) {
		for (size_t g = 0; g < ngran; g++) {
			struct block_entry *b = &blocks[c * ngran + g];
			const char *src = job.gout[g].data + b->offset;
			b->offset = w.off;
			if ((rc = stage_append(&w, src, b->csize)))
				goto out;
		}
	}
	for (size_t g = 0; g < ngran; g++)
		sn_buf_release(&job.gout[g]); /* as soon as possible: the part is big */

	/* Metadata: part summary, sparse index + granule stats, column directory. */
	rc = 0;
	meta_u64(&meta, nrows, &rc);
	meta_u32(&meta, (uint32_t)ngran, &rc);
	meta_u32(&meta, (uint32_t)ncols, &rc);
	meta_u32(&meta, grows, &rc);
	meta_u32(&meta, (uint32_t)month, &rc);
	for (size_t g = 0; g < ngran && !rc; g++) {
		size_t first = g * grows, n = nrows - first < grows ? nrows - first : grows;
		int64_t gmin = INT64_MAX, gmax = INT64_MIN;
		for (size_t i = first; i < first + n; i++) {
			int64_t t = rows[i]->timestamp_us;
			gmin = t < gmin ? t : gmin;
			gmax = t > gmax ? t : gmax;
		}
		const struct sn_event_row *r = rows[first];
		size_t elen =
		    r->event.len > SN_PART_MAX_EVENT_KEY ? SN_PART_MAX_EVENT_KEY : r->event.len;
		meta_u32(&meta, (uint32_t)n, &rc);
		meta_u64(&meta, (uint64_t)r->team_id, &rc);
		meta_u32(&meta, (uint32_t)sn_store_day_of(r->timestamp_us), &rc);
		meta_u64(&meta, (uint64_t)gmin, &rc);
		meta_u64(&meta, (uint64_t)gmax, &rc);
		meta_u16(&meta, (uint16_t)elen, &rc);
		meta_bytes(&meta, r->event.p, elen, &rc);
	}
	for (size_t c = 0; c < ncols && !rc; c++) {
		size_t nlen = strlen(wcols[c].name);
		meta_u16(&meta, (uint16_t)nlen, &rc);
		meta_bytes(&meta, wcols[c].name, nlen, &rc);
		meta_u8(&meta, (uint8_t)wcols[c].def.type, &rc);
		meta_u8(&meta, wcols[c].def.flags, &rc);
		for (size_t g = 0; g < ngran; g++) {
			const struct block_entry *b = &blocks[(size_t)c * ngran + g];
			meta_u64(&meta, b->offset, &rc);
			meta_u32(&meta, b->csize, &rc);
			meta_u32(&meta, b->usize, &rc);
			meta_u32(&meta, b->crc, &rc);
			meta_u8(&meta, b->codec, &rc);
			meta_u8(&meta, b->enc, &rc);
		}
	}
	/* Version 2 on: the tagged sections. The residual key set is the union
	 * of the threads' sets, absent when it passed a cap (unknown); the
	 * block-nulls section is always written. */
	if (version >= 2 && !rc) {
		struct sn_keyset *ks = &job.ws[0].keys;
		for (unsigned t = 1; t < job.nws && !rc; t++)
			rc = sn_keyset_merge(ks, &job.ws[t].keys);
		meta_u32(&meta, ks->over ? 1 : 2, &rc);
		if (!ks->over && !rc) {
			meta_u16(&meta, SN_META_SECTION_RESIDUAL_KEYS, &rc);
			size_t at = meta.len;
			meta_u32(&meta, 0, &rc); /* the length, filled in below */
			if (!rc)
				rc = sn_keyset_encode(ks, &meta);
			if (!rc)
				sn_put_u32((uint8_t *)meta.data + at,
					   (uint32_t)(meta.len - at - 4));
		}
		/* which blocks hold NULLs: a byte per column and granule */
		meta_u16(&meta, SN_META_SECTION_BLOCK_NULLS, &rc);
		meta_u32(&meta, (uint32_t)(ncols * ngran), &rc);
		for (size_t k = 0; k < ncols * ngran && !rc; k++)
			meta_u8(&meta, blocks[k].nulls, &rc);
	}
	if (rc) {
		rc = sn_err_set(err, rc, "part metadata: %s", sn_strerror(rc));
		goto out;
	}
	uint64_t meta_off = w.off;
	uint8_t tr[SN_PART_TRAILER_SIZE] = {0};
	sn_put_u64(tr, meta_off);
	sn_put_u64(tr + 8, meta.len);
	sn_put_u32(tr + 16, sn_crc32(0, meta.data, meta.len));
	sn_put_u32(tr + 20, version);
	sn_put_u32(tr + 28, sn_crc32(0, tr, 28));
	memcpy(tr + 32, SN_PART_TAIL_MAGIC, 8);
	if ((rc = stage_append(&w, meta.data, meta.len)) ||
	    (rc = stage_append(&w, tr, sizeof(tr))) || (rc = stage_flush(&w)))
		goto out;
	if (out) {
		snprintf(out->path, sizeof(out->path), "%s", path);
		out->month = month;
		out->nrows = nrows;
		out->nbytes = w.off;
	}
	pend->fd = w.fd;
	w.fd = -1;
	snprintf(pend->tmp, sizeof(pend->tmp), "%s", tmp);
	snprintf(pend->path, sizeof(pend->path), "%s", path);
	created = false; /* the caller's now */
	rc = 0;
out:
	if (w.fd >= 0)
		close(w.fd);
	if (created)
		unlink(tmp);
	sn_buf_release(&w.stage);
	sn_buf_release(&meta);
	for (unsigned t = 0; job.ws && t < job.nws; t++) {
		sn_buf_release(&job.ws[t].payload);
		sn_shred_gran_release(&job.ws[t].sg);
		sn_keyset_release(&job.ws[t].keys);
		sn_block_cctx_free(job.ws[t].cctx);
		free(job.ws[t].scratch);
		free(job.ws[t].nulls);
		free(job.ws[t].lrows);
		free(job.ws[t].text);
		free((void *)job.ws[t].lptr);
	}
	free(job.ws);
	for (size_t g = 0; job.gout && g < ngran; g++)
		sn_buf_release(&job.gout[g]);
	free(job.gout);
	free(job.gerr);
	free(blocks);
	free(wcols);
	sn_shred_release(&sh);
	return rc;
}

/* Makes a pending part durable under its name: fsync, close, rename. The
 * directory's fsync is the caller's (once for all of a flush's parts).
 * On failure the temp file is gone. */
static int part_finish(struct part_pending *p, bool no_fsync, struct sn_err *err)
{
	int rc = 0;
	if (!no_fsync && fsync(p->fd))
		rc = sn_err_set(err, SN_ERR_IO, "fsync %s: %s", p->tmp, strerror(errno));
	if (close(p->fd) && !rc)
		rc = sn_err_set(err, SN_ERR_IO, "close %s: %s", p->tmp, strerror(errno));
	p->fd = -1;
	if (!rc && rename(p->tmp, p->path))
		rc = sn_err_set(err, SN_ERR_IO, "rename %s: %s", p->tmp, strerror(errno));
	if (rc)
		unlink(p->tmp);
	return rc;
}

int sn_part_write(const char *path, const struct sn_event_row *const *rows, size_t nrows,
		  const struct sn_part_write_opts *opts, struct sn_part_written *out,
		  struct sn_err *err)
{
	bool no_fsync = opts && opts->no_fsync;
	struct part_pending p;
	int rc = part_write(path, rows, nrows, opts, out, &p, err);
	if (rc || (rc = part_finish(&p, no_fsync, err)))
		return rc;
	if (!no_fsync && (rc = fsync_parent(path, err)))
		unlink(path);
	return rc;
}

/* part_finish of pend[*done .. n), *done counting the parts renamed. */
#define FLUSH_PENDING_MAX 64
static int finish_pending(struct part_pending *pend, size_t *done, size_t n, bool no_fsync,
			  struct sn_err *err)
{
	for (; *done < n; ++*done) {
		int rc = part_finish(&pend[*done], no_fsync, err);
		if (rc)
			return rc;
	}
	return 0;
}

int sn_memtable_flush(struct sn_memtable *mt, const char *dir, uint64_t part_id,
		      const struct sn_part_write_opts *opts, struct sn_part_written **out,
		      size_t *nout, struct sn_err *err)
{
	struct sn_part_written *parts = NULL;
	struct part_pending *pend = NULL;
	const struct sn_event_row **rows = NULL;
	size_t nparts = 0, nrenamed = 0;
	bool no_fsync = opts && opts->no_fsync;
	int rc;

	*out = NULL;
	*nout = 0;
	if ((rc = sn_memtable_sort(mt, err)))
		goto out;
	unsigned nmonths = sn_memtable_nmonths(mt);
	rows = malloc((mt->nrows ? mt->nrows : 1) * sizeof(*rows));
	parts = calloc(nmonths ? nmonths : 1, sizeof(*parts));
	pend = calloc(nmonths ? nmonths : 1, sizeof(*pend));
	if (!rows || !parts || !pend) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory flushing %zu rows", mt->nrows);
		goto out;
	}
	for (size_t i = 0; i < mt->nrows; i++)
		rows[i] = sn_memtable_sorted_row(mt, i);
	/* Every part is written to its temp file first, each one's writeback
	 * started as it is done, so the device writes one month's part while
	 * the next is encoded; then each is fsynced (mostly written by then)
	 * and renamed, and the directory fsynced once for all of them. A crash
	 * in between leaves temp files (removed at start-up) and some of the
	 * flush's parts, which recovery deletes and replays (store_sink.c). */
	for (size_t i = 0; i < mt->nrows && nparts < nmonths;) {
		int32_t month = sn_store_month_of(rows[i]->timestamp_us);
		size_t j = sn_memtable_month_end(mt, (unsigned)nparts);
		char path[512];
		int n = snprintf(path, sizeof(path), "%s/%06" PRId32 "_%016" PRIx64 "%s", dir,
				 month, part_id, SN_PART_SUFFIX);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			rc = sn_err_set(err, SN_ERR_INVALID, "store directory path too long: %s",
					dir);
			goto out;
		}
		pend[nparts].fd = -1;
		if ((rc = part_write(path, rows + i, j - i, opts, &parts[nparts], &pend[nparts],
				     err)))
			goto out;
		/* The device writes this part while the next one is encoded; its
		 * fsync then mostly finds it done. A refusal (no such call on this
		 * file system) only loses the head start. */
		if (!no_fsync)
			(void)sync_file_range(pend[nparts].fd, 0, 0, SYNC_FILE_RANGE_WRITE);
		nparts++;
		i = j;
		/* A pending part holds its file open: a flush of many months (an
		 * import of years of events) finishes them a batch at a time. */
		if (nparts - nrenamed == FLUSH_PENDING_MAX &&
		    (rc = finish_pending(pend, &nrenamed, nparts, no_fsync, err)))
			goto out;
	}
	if ((rc = finish_pending(pend, &nrenamed, nparts, no_fsync, err)))
		goto out;
	if (nparts && !no_fsync && (rc = sn_fsync_dir(dir, err)))
		goto out;
	rc = 0;
out:
	if (rc) {
		for (size_t k = 0; k < nparts; k++) {
			if (k < nrenamed) {
				unlink(parts[k].path);
			} else if (pend[k].fd >= 0) {
				close(pend[k].fd);
				unlink(pend[k].tmp);
			}
		}
		free(parts);
		parts = NULL;
		nparts = 0;
	}
	free(pend);
	free(rows);
	*out = parts;
	*nout = nparts;
	return rc;
}
