/*
 * store_internal.h — what the files of store/ share and the unit tests
 * reach into: the column encodings, the block codecs and the on-disk
 * constants of the part format. Not for other modules (they use store.h).
 *
 * Encoders append to an sn_buf and fail only when the buffer's maximum is
 * hit. Decoders take (bytes, length, row count), never read outside
 * [p, p + len), write exactly n values, report how many bytes they used in
 * *used, and return SN_ERR_CORRUPT (no message: the caller knows which
 * column and granule) for anything malformed. String views a decoder
 * returns point into its input bytes.
 */
#ifndef SN_STORE_INTERNAL_H
#define SN_STORE_INTERNAL_H

#include "store/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* Value encodings, one byte at the head of every block. */
enum sn_enc {
	SN_ENC_I64_DELTA = 1, /* first value then deltas, zigzag, LEB128 varint */
	SN_ENC_STR_PLAIN = 2, /* n varint lengths, then the bytes back to back */
	SN_ENC_STR_DICT = 3,  /* dictionary (plain layout) + fixed-width indices */
	SN_ENC_FIXED16 = 4,   /* n × 16 raw bytes */
	/* Version 3 on: nothing; the block's values are those of the same
	 * granule of the column's property, "p:<name>" (sn_derived_prop). */
	SN_ENC_STR_FROM_PROP = 5,
	/* Version 4 on, team_id and the times: min + fixed-width offsets. */
	SN_ENC_I64_FOR = 6,
};

/* The columns that copy a property (the ingest fills them from it) and can
 * be stored as SN_ENC_STR_FROM_PROP: "$session_id" from "p:$session_id",
 * "$window_id" and "elements_chain" from "p:$elements_chain". NULL for the
 * other columns. */
const char *sn_derived_prop(const char *column);
/* A column value from its property's raw JSON value (p == NULL: absent):
 * a string gives its text between the quotes (a pointer into raw, escapes
 * as they are), anything else "". The writer derives a granule only when
 * this gives every row's value byte for byte, so for a string with escapes
 * (the ingest stored it decoded: shorter) it never does. */
struct sn_str sn_derive_from_prop(struct sn_str raw);

/* ---- varint + zigzag + delta (enc_int.c) ---- */
#define SN_VARINT_MAX 10
size_t sn_varint_put(uint8_t out[SN_VARINT_MAX], uint64_t v);
/* Returns bytes used, 0 if p[0..len) does not start with a complete varint
 * of at most 10 bytes whose value fits in 64 bits. */
size_t sn_varint_get(const uint8_t *p, size_t len, uint64_t *v);
static inline uint64_t sn_zigzag(int64_t v)
{
	uint64_t u = (uint64_t)v;
	return (u << 1) ^ (0 - (u >> 63));
}
static inline int64_t sn_unzigzag(uint64_t z)
{
	return (int64_t)((z >> 1) ^ (0 - (z & 1)));
}
int sn_enc_i64_delta(struct sn_buf *out, const int64_t *v, size_t n);
int sn_dec_i64_delta(const uint8_t *p, size_t len, size_t n, int64_t *out, size_t *used);
/* SN_ENC_I64_FOR (enc_int.c): min, then each value's offset from it in the
 * fewest whole bytes that hold the largest. */
int sn_enc_i64_for(struct sn_buf *out, const int64_t *v, size_t n);
int sn_dec_i64_for(const uint8_t *p, size_t len, size_t n, int64_t *out, size_t *used);

/* ---- plain strings (enc_plain.c) ---- */
int sn_enc_str_plain(struct sn_buf *out, const struct sn_str *v, size_t n);
int sn_dec_str_plain(const uint8_t *p, size_t len, size_t n, struct sn_str *out, size_t *used);

/* ---- dictionary strings (enc_dict.c) ---- */
/* A dictionary is used when it has at most max(n / 2, 1) entries and at
 * most SN_DICT_MAX_BYTES of distinct values; otherwise the encoder returns
 * SN_ERR_TOO_BIG with out unchanged and the caller writes plain. */
#define SN_DICT_MAX_BYTES (1u << 20)
int sn_enc_str_dict(struct sn_buf *out, const struct sn_str *v, size_t n);
int sn_dec_str_dict(const uint8_t *p, size_t len, size_t n, struct sn_str *out, size_t *used);
/* The same block as codes: its entries (at most n, more is corrupt) go to
 * dict (room for n), their count to *ndict, and row i's to codes[i] as
 * base + its index. */
int sn_dec_str_dict_codes(const uint8_t *p, size_t len, size_t n, struct sn_str *dict,
			  size_t *ndict, uint32_t base, uint32_t *codes, size_t *used);

/* ---- fixed 16-byte values (enc_fixed.c) ---- */
int sn_enc_fixed16(struct sn_buf *out, const uint8_t *v, size_t n);
int sn_dec_fixed16(const uint8_t *p, size_t len, size_t n, uint8_t *out, size_t *used);

/* ---- null bitmaps (enc_null.c) ---- */
/* nulls: one byte per row, nonzero = NULL. Stored as ceil(n/8) bytes, bit
 * i%8 of byte i/8; padding bits must be zero. */
int sn_enc_nulls(struct sn_buf *out, const uint8_t *nulls, size_t n);
int sn_dec_nulls(const uint8_t *p, size_t len, size_t n, uint8_t *nulls, size_t *used);

/* ---- block codecs (block.c) ---- */
/* Appends src compressed with codec (NONE, ZSTD, LZ4) to out. */
int sn_block_compress(enum sn_codec codec, int zstd_level, const void *src, size_t n,
		      struct sn_buf *out, struct sn_err *err);
/* The same with a zstd context reused from block to block (one per thread;
 * NULL: a fresh one each call). new returns NULL when out of memory. */
struct sn_block_cctx;
struct sn_block_cctx *sn_block_cctx_new(void);
void sn_block_cctx_free(struct sn_block_cctx *c);
int sn_block_compress_ctx(struct sn_block_cctx *cctx, enum sn_codec codec, int zstd_level,
			  const void *src, size_t n, struct sn_buf *out, struct sn_err *err);
/* Decompresses exactly usize bytes into dst; anything else is SN_ERR_CORRUPT. */
int sn_block_decompress(enum sn_codec codec, const void *src, size_t csize, void *dst, size_t usize,
			struct sn_err *err);

/* ---- the writer's pool (wpool.c) ---- */
/* Runs fn(ctx, worker, task) for every task in [0, ntasks) on the pool's
 * threads and returns when all have run; worker < sn_write_pool_threads(p)
 * names the thread, for per-thread scratch. p == NULL runs them in order on
 * the calling thread with worker 0. */
typedef void (*sn_write_pool_fn)(void *ctx, unsigned worker, size_t task);
void sn_write_pool_run(struct sn_write_pool *p, size_t ntasks, sn_write_pool_fn fn, void *ctx);
unsigned sn_write_pool_threads(const struct sn_write_pool *p);

/* ---- the part format (part_write.c, part_read.c; drawn in STORAGE.md) ---- */
#define SN_PART_MAGIC	      "SNOUTPRT"
#define SN_PART_TAIL_MAGIC    "SNOUTEND"
#define SN_PART_HEADER_SIZE   32
#define SN_PART_TRAILER_SIZE  40
#define SN_PART_MAX_META      (256u << 20)
#define SN_PART_MAX_EVENT_KEY SN_GRANULE_EVENT_MAX /* event bytes kept in the sparse index */
/* Block payload flags (the byte after the encoding). */
#define SN_BLOCK_HAS_NULLS 0x01
/* Column flags in the directory. */
#define SN_COLF_NULLABLE 0x01
/* Tagged sections after the column directory (version 2 on). A reader skips
 * a tag it does not know; the residual key set is tag 1, the block-nulls
 * section tag 2 (a byte per column and granule, column-major: SN_BNULLS_*). */
#define SN_META_SECTION_RESIDUAL_KEYS 1
#define SN_META_SECTION_BLOCK_NULLS   2

/* Makes every later read of p decode the blocks that the block-nulls
 * section says are all NULL (which reads otherwise fill without I/O), so
 * that `snout store verify` checks the section against them. Call before
 * reads start; not thread-safe against running reads. */
void sn_part_decode_all(struct sn_part *p);

/* Little-endian helpers. */
static inline void sn_put_u32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline void sn_put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint32_t sn_get_u32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}
static inline uint64_t sn_get_u64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}
/* Big-endian: the order of the bytes, as in a uuid's sort order. */
static inline uint64_t sn_get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* ---- the part set (partset.c; merge.c and delete.c build on it) ---- */

/* One live file of a store: a part (part != NULL) or a tombstone. Shared by
 * the snapshots that list it; the last unref closes the part and, when the
 * entry was retired (replaced by a merge or rewrite), unlinks the file. */
struct sn_pentry {
	_Atomic int refs;
	_Atomic bool retired;
	bool read_only;
	struct sn_part_name n;
	char name[64];
	char path[1100];
	struct sn_part *part;
	uint64_t nrows, nbytes;
	/* A read of its blocks failed their checks (SN_ERR_CORRUPT): merges
	 * leave it out from then on, so one damaged part does not stop the
	 * merges of every other (sn_pentry_mark_damaged). */
	_Atomic bool damaged;
};

/* A write's temporary file (its name ends in ".tmp"): what start-up
 * removes and `snout store verify` reports as left over. */
static inline bool sn_store_is_temp_name(const char *name)
{
	size_t len = strlen(name);
	return len > 4 && strcmp(name + len - 4, ".tmp") == 0;
}

/* Notes that reading e failed with a damaged block (err says how), logged
 * once per part: merges skip it; deletions and retention report it and go
 * on with the other parts. */
void sn_pentry_mark_damaged(struct sn_pentry *e, const struct sn_err *err);

struct sn_store_snapshot {
	_Atomic int refs;
	size_t n; /* every live file, tombstones included, in name order */
	struct sn_pentry **e;
	size_t nparts; /* the parts among them */
	struct sn_pentry **parts;
	uint64_t top_id;       /* newest id any live file ends at */
	uint64_t top_complete; /* newest id of a flush all of whose files are present */
	bool top_incomplete;   /* the newest flush is still being written (or was cut) */
};

/* A file of the snapshot that merges and rewrites must leave alone: part of
 * a flush that is not complete yet. */
static inline bool sn_pentry_frozen(const struct sn_store_snapshot *s, const struct sn_pentry *e)
{
	return s->top_incomplete && e->n.max_id == s->top_id;
}

struct sn_merger;

struct sn_store {
	char dir[1024];
	struct sn_store_opts opts;
	pthread_mutex_t mu; /* guards cur and stats */
	struct sn_store_snapshot *cur;
	pthread_mutex_t maint; /* one merge or rewrite at a time in this process */
	int lock_fd;	       /* <dir>/MAINT: the same across processes */
	struct sn_store_merge_stats mstats;
	struct sn_merger *merger;
	/* Names of files this store retired whose unlink may still wait for a
	 * snapshot: refresh must not treat them as someone else's leftovers. */
	char (*retired)[64];
	size_t nretired, retired_cap;
	/* Tests: sleep this long between a merge's or rewrite's commit (the
	 * rename) and the retirement of what it replaced, so that a kill -9
	 * lands there often ($SNOUT_STORE_TEST_PAUSE_MS). */
	int64_t test_pause_ms;
	/* opts.team_retention, parsed. */
	size_t nttl;
	int64_t ttl_team[64], ttl_days[64];
};

static inline void sn_store_test_pause(const struct sn_store *st)
{
	if (st->test_pause_ms > 0)
		usleep((useconds_t)(st->test_pause_ms * 1000));
}

/* Takes the maintenance lock (this process and others): wait = false
 * returns SN_ERR_EXISTS at once when another holder has it. */
int sn_store_lock(struct sn_store *st, bool wait, struct sn_err *err);
void sn_store_unlock(struct sn_store *st);
/* After the file new_name (a part or tombstone, durable) replaced the old
 * entries on disk: a new current snapshot without them and with it; the
 * old entries are retired. Cannot fail after the new file is durable except
 * for opening it; then the next refresh picks it up. */
int sn_store_replace(struct sn_store *st, struct sn_pentry *const *old, size_t nold,
		     const struct sn_part_name *new_name, struct sn_err *err);
/* Creates the empty tombstone file for name (fsync of the directory). */
int sn_store_write_tombstone(struct sn_store *st, const struct sn_part_name *name,
			     struct sn_err *err);
/* sn_part_open of the listed file path whose name parsed as n, checking
 * what the reader has both of: the month the part's metadata records must
 * be the one its name says, else SN_ERR_CORRUPT naming the file (a part
 * copied under another month's name would count its rows twice). */
int sn_part_open_listed(const char *path, const struct sn_part_name *n, struct sn_part **out,
			struct sn_err *err);
/* Reads every row of a part into arena memory (strings point into it). */
int sn_store_read_rows(struct sn_part *p, struct sn_arena *arena, struct sn_event_row **rows,
		       size_t *nrows, struct sn_err *err);

#endif
