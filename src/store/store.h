/*
 * store.h — the embedded columnar event store: rows in a memtable, sealed
 * into immutable, checksummed, column-oriented part files, read back one
 * column and one granule range at a time. See docs/STORAGE.md for the file
 * format, its invariants, the crash protocol and the version rules.
 *
 * Life of an event in this increment:
 *
 *   sn_memtable_append ──▶ memtable (arena) ──sn_memtable_flush──▶ one part per month
 *                                                                   YYYYMM_<id>.snp
 *   sn_part_open ──▶ sn_part_granules_for_team / _overlaps_time ──▶ sn_part_read_column
 *                                                                   sn_part_read_property(ies)
 *
 * The parts of a directory form a part set (partset.c): file names say which
 * flushes a part covers, so merges (merge.c) and deletions (delete.c) commit
 * with one rename, and readers take reference-counted snapshots of it.
 *
 * Parts shred properties: keys common in a part become columns "p:<key>"
 * and `properties` is then absent (STORAGE.md, "Property shredding"); read
 * properties through sn_part_read_property(ies), which handle both kinds.
 * A part also records the keys its remaining JSON holds (its residual key
 * set), so a key no row of the part has reads as NULL without any I/O.
 *
 * Ownership: a memtable owns copies of every string it was given; a part
 * owns its metadata and file descriptor; column vectors read from a part
 * live in an arena the caller passes in and release with it.
 *
 * Threads: a memtable belongs to one thread. An open part is immutable and
 * may be read from several threads at once (reads use pread, no shared
 * cursor); sn_part_ref/unref are atomic.
 */
#ifndef SN_STORE_H
#define SN_STORE_H

#include "base/base.h"

/* ---- rows ------------------------------------------------------------------ */

/* A string slice. p may be NULL only when len == 0; for nullable columns a
 * NULL p means SQL NULL, a non-NULL p with len 0 the empty string. */
struct sn_str {
	const char *p;
	size_t len;
};

/* Group type indexes 0..4 (PostHog's $group_0..$group_4 columns). */
#define SN_STORE_GROUPS 5

/* One event as the store keeps it. Times are microseconds since the Unix
 * epoch, UTC. properties is the JSON object text as ingested (PostHog's
 * §4.2 semantics are applied on read, never on write). person_id may be
 * all zero (no person). session_id and window_id are NULL (p == NULL) when
 * the event had none. group[i] is the event's key for group type index i
 * ($group_i), empty (len 0, p may be NULL) when it has none. */
struct sn_event_row {
	uint8_t uuid[16];
	int64_t team_id;
	int64_t timestamp_us;
	int64_t created_at_us;
	struct sn_str event;
	struct sn_str distinct_id;
	struct sn_str properties;
	struct sn_str elements_chain;
	uint8_t person_id[16];
	struct sn_str session_id;
	struct sn_str window_id;
	struct sn_str group[SN_STORE_GROUPS];
	/* Optional: the members of `properties` as the ingest's scan found
	 * them, so the part writer's split does not scan the text again.
	 * pmembers[2j] is member j's key length with its quotes, pmembers[2j+1]
	 * its value's length; the object is compact (key, ':', value, ',' ...
	 * with nothing between), no key has an escape. NULL (npmembers 0):
	 * unknown, the writer scans. The memtable copies it with the row; the
	 * writer checks it against the text (lengths must add up to it, quotes
	 * and separators where they belong) and scans instead when it does not. */
	const uint16_t *pmembers;
	uint32_t npmembers;
};

/* Days since 1970-01-01 (UTC) of a timestamp in µs, floor division (what
 * ClickHouse's toDate does in UTC), and its month partition as YYYYMM. */
int32_t sn_store_day_of(int64_t ts_us);
int32_t sn_store_month_of(int64_t ts_us);

/* ---- memtable ------------------------------------------------------------------- */

/* Rows waiting to become parts. Appends copy the row's strings into the
 * memtable's arena; nothing is freed until release. The memtable is
 * bounded: an append that would take it past max_bytes is refused with
 * SN_ERR_TOO_BIG (the caller flushes first). */
struct sn_mt_key;
struct sn_memtable {
	struct sn_arena arena;
	struct sn_event_row *rows;
	struct sn_mt_key *keys; /* each row's sort key, made at append (memtable.c) */
	size_t nrows;
	size_t cap;
	size_t nbytes;	   /* row structs plus string bytes */
	size_t max_bytes;  /* 0 means 1 GiB */
	uint32_t *order;   /* sorted permutation of rows (after sn_memtable_sort) */
	size_t *month_end; /* after the sort: where each month's run ends, nmonths */
	bool sorted;
	/* Event names, interned: rows with one name share one copy. */
	struct sn_str *evnames;
	uint32_t nev, evcap;
	uint32_t *evslots; /* open addressing: name id + 1 */
	uint32_t evnslots;
	int32_t *months; /* the distinct months of the rows */
	unsigned nmonths, monthcap, lastmonth;
};

void sn_memtable_init(struct sn_memtable *mt, size_t max_bytes);
void sn_memtable_release(struct sn_memtable *mt);
/* Empties the memtable. keep_memory keeps its memory (string chunks, row
 * and key arrays) for the next fill, which then takes no page faults: for
 * a sink under load. Without it everything is freed. */
void sn_memtable_reset(struct sn_memtable *mt, bool keep_memory);
/* How many months the rows span (a flush writes one part per month). */
static inline unsigned sn_memtable_nmonths(const struct sn_memtable *mt)
{
	return mt->nmonths;
}
/* Copies row in. Fails with SN_ERR_TOO_BIG (full) or SN_ERR_NOMEM. O(row size). */
int sn_memtable_append(struct sn_memtable *mt, const struct sn_event_row *row, struct sn_err *err);
static inline size_t sn_memtable_nrows(const struct sn_memtable *mt)
{
	return mt->nrows;
}
static inline size_t sn_memtable_nbytes(const struct sn_memtable *mt)
{
	return mt->nbytes;
}
/* Sorts (a permutation, rows do not move) by the part order
 * (month, team_id, toDate(timestamp), event, XXH3(distinct_id), uuid), so
 * each month is a contiguous run sorted by the part's sort key.
 * O(n log n). Appending after sorting clears the sorted state. */
int sn_memtable_sort(struct sn_memtable *mt, struct sn_err *err);
/* The i-th row in sorted order (sn_memtable_sort first). */
const struct sn_event_row *sn_memtable_sorted_row(const struct sn_memtable *mt, size_t i);
/* After the sort: the end (exclusive) of the k-th month's run of sorted
 * rows, months ascending, k < sn_memtable_nmonths (from the sort keys, so
 * a flush splits the rows by month without reading them). */
static inline size_t sn_memtable_month_end(const struct sn_memtable *mt, unsigned k)
{
	return mt->month_end[k];
}
/* Compares two rows by the part sort key (team_id, day, event, hash, uuid):
 * <0, 0, >0. For callers that order rows themselves (merges). Hashes both
 * distinct ids when the first three fields tie. */
int sn_event_row_cmp(const struct sn_event_row *a, const struct sn_event_row *b);

/* ---- parts: writing ---------------------------------------------------------------- */

#define SN_PART_VERSION	       4    /* the format this binary writes */
#define SN_PART_MIN_VERSION    1    /* the oldest format it reads */
#define SN_PART_GRANULE_ROWS   8192 /* default rows per granule */
#define SN_PART_SUFFIX	       ".snp"
#define SN_PART_MAX_COLUMNS    4096
#define SN_PART_MAX_BLOCK_SIZE (1u << 30) /* largest uncompressed column block */

/* Rows per granule of the parts ingestion writes (store_sink.c); merges
 * rewrite them with the default. A writer thread encodes a granule column
 * by column, and each pass reads every row's values: 2048 rows' text and
 * row copies stay in cache across the passes where 8192 rows' (~11 MB)
 * do not, so the writer spends 11 % less CPU a row (docs/STORAGE.md,
 * "Granules"), for ~3 bytes/event more until the part is merged. */
#define SN_PART_INGEST_GRANULE_ROWS 2048

/* The writer's caps on a part's residual key set (STORAGE.md, "Residual key
 * sets"): a part whose residual objects hold more distinct keys, or more
 * bytes of key names together, records no set, and reads scan as before. */
#define SN_PART_KEYSET_MAX_KEYS	 4096
#define SN_PART_KEYSET_MAX_BYTES 65535

enum sn_codec {
	SN_CODEC_DEFAULT = 0, /* the per-column choice documented in STORAGE.md */
	SN_CODEC_NONE = 1,
	SN_CODEC_ZSTD = 2,
	SN_CODEC_LZ4 = 3,
};

/* The part writer's worker threads (wpool.c): a fixed pool that shreds a
 * part's rows and encodes and compresses its column blocks in parallel. The
 * bytes written are the same with or without a pool, whatever its size. One
 * pool may be shared by several writers (their jobs take turns). new fails
 * with SN_ERR_INVALID outside 1..SN_WRITE_POOL_MAX_THREADS threads, or
 * SN_ERR_NOMEM / SN_ERR_IO; free joins the threads (no job may be running). */
#define SN_WRITE_POOL_MAX_THREADS 64
struct sn_write_pool;
int sn_write_pool_new(struct sn_write_pool **out, unsigned nthreads, struct sn_err *err);
void sn_write_pool_free(struct sn_write_pool *p);

struct sn_part_write_opts {
	uint32_t granule_rows;	      /* 0 = SN_PART_GRANULE_ROWS */
	enum sn_codec codec_override; /* DEFAULT = per-column choice; others force one codec */
	int zstd_level;		      /* 0 = 1 */
	bool no_fsync;		      /* tests and benchmarks only: skip fsyncs */
	bool no_shred;		      /* keep properties as one JSON column */
	/* The rows are scattered over memory (a memtable's, in arrival order):
	 * each granule task first copies its rows' properties next to each
	 * other, so the split and the encoders read them in sequence. The part
	 * is the same byte for byte either way (STORAGE.md "The writer's
	 * threads"). */
	bool gather_text;
	/* 0 = SN_PART_VERSION. An older version writes that version's format,
	 * which binaries from before the next one read: 1 has no residual key
	 * sets (reads scan as they always did), 2 no blocks taken from a
	 * property (SN_ENC_STR_FROM_PROP). For a downgrade, and for the
	 * compatibility tests. Anything else is SN_ERR_INVALID. */
	uint32_t format_version;
	/* NULL: everything on the calling thread. Else the pool's threads shred and
	 * encode while the caller waits and writes; memory then holds the whole
	 * compressed part until it is written (about 70 B/row). */
	struct sn_write_pool *pool;
};

/* What one written part holds (for the caller's catalogue and stats). */
struct sn_part_written {
	char path[512];
	int32_t month; /* YYYYMM */
	uint64_t nrows;
	uint64_t nbytes; /* file size */
};

/* Writes rows (already sorted by sn_event_row_cmp, all of one month) as
 * the part file `path`. Crash-safe: the bytes go to path + ".tmp", which
 * is fsynced, renamed over path, and the directory fsynced; on failure the
 * temp file is removed and path does not exist. SN_ERR_INVALID if the rows
 * span months or are out of order by (team_id, day, event) — the prefix the
 * sparse index relies on; hash and uuid order are not re-checked — and
 * SN_ERR_IO on a system call failure. O(rows); memory: the compressed part,
 * plus a granule of scratch per writer thread. opts->pool shares the work. */
int sn_part_write(const char *path, const struct sn_event_row *const *rows, size_t nrows,
		  const struct sn_part_write_opts *opts, struct sn_part_written *out,
		  struct sn_err *err);

/* Sorts the memtable and writes one part per month present into dir, named
 * YYYYMM_<part_id as 16 hex digits>.snp. On success *out is a malloc'd
 * array of *nout descriptions (caller frees). The parts are all written to
 * their temp files (each one's writeback started) before the first is
 * fsynced and renamed, and the directory is fsynced once for all of them
 * (STORAGE.md "Crash protocol"). On failure the parts already written are
 * removed again, temp files included, so a flush is all or nothing. The
 * memtable is left as it was (the caller resets it once it recorded the
 * parts). */
int sn_memtable_flush(struct sn_memtable *mt, const char *dir, uint64_t part_id,
		      const struct sn_part_write_opts *opts, struct sn_part_written **out,
		      size_t *nout, struct sn_err *err);

/* ---- parts: reading ------------------------------------------------------------------ */

enum sn_col_type {
	SN_COL_INT64 = 1,    /* i64[] */
	SN_COL_DATETIME = 2, /* i64[] µs since epoch, UTC */
	SN_COL_STRING = 3,   /* str[] */
	SN_COL_UUID = 4,     /* uuid[] */
	SN_COL_FLOAT64 = 5,  /* f64[] (shredded numeric properties; reserved) */
	SN_COL_BOOL = 6,     /* i64[] 0/1 (shredded boolean properties; reserved) */
};

/* The column names of the events schema, in file order. Shredded property
 * columns (next increment) are named "p:<key>". */
#define SN_COL_NAME_UUID	   "uuid"
#define SN_COL_NAME_TEAM_ID	   "team_id"
#define SN_COL_NAME_TIMESTAMP	   "timestamp"
#define SN_COL_NAME_CREATED_AT	   "created_at"
#define SN_COL_NAME_EVENT	   "event"
#define SN_COL_NAME_DISTINCT_ID	   "distinct_id"
#define SN_COL_NAME_PROPERTIES	   "properties"
#define SN_COL_NAME_ELEMENTS_CHAIN "elements_chain"
#define SN_COL_NAME_PERSON_ID	   "person_id"
#define SN_COL_NAME_SESSION_ID	   "$session_id"
#define SN_COL_NAME_WINDOW_ID	   "$window_id"
/* "$group_0" .. "$group_4": string columns added without a format bump
 * (STORAGE.md, version rules); parts written before them lack the columns,
 * and sn_part_read_named reads those as ''. */
#define SN_COL_NAME_GROUP_PREFIX "$group_"

/* A batch of one column's values for rows [0, nrows). Exactly one of the
 * value arrays is set, by type. nulls is NULL when the column has no null
 * in the batch, else one byte per row (1 = NULL; the value slot then holds
 * 0 or the empty string). Strings point into arena memory. */
struct sn_colvec {
	enum sn_col_type type;
	size_t nrows;
	int64_t *i64;
	double *f64;
	struct sn_str *str;
	struct sn_uuid *uuid;
	uint8_t *nulls;
	/* Coded reads (sn_part_read_column_coded, sn_part_read_property_coded)
	 * set these instead of str and nulls: row r's value is
	 * dict[codes[r]], NULL when dict_nulls[codes[r]]. */
	uint32_t *codes;
	struct sn_str *dict;
	uint8_t *dict_nulls;
	size_t ndict;
};

struct sn_part_column_info {
	const char *name;
	enum sn_col_type type;
	bool nullable;
	uint64_t compressed_bytes;   /* sum over its blocks */
	uint64_t uncompressed_bytes; /* encoded, before compression */
};

/* Event bytes a granule's index entry keeps: a longer event is cut there. */
#define SN_GRANULE_EVENT_MAX 256

/* Sparse-index entry and statistics of one granule. */
struct sn_granule_info {
	uint64_t first_row;
	uint32_t nrows;
	int64_t team_id;     /* sort key of the granule's first row */
	int32_t day;	     /* days since epoch of the first row */
	struct sn_str event; /* event of the first row (points into the part) */
	int64_t min_ts_us;   /* over all rows of the granule */
	int64_t max_ts_us;
};

struct sn_part;

/* Opens and validates a part: magic, format version (a version outside
 * [SN_PART_MIN_VERSION, SN_PART_VERSION] is SN_ERR_INVALID with both
 * versions in the message), and the checksums and internal consistency of
 * the header and metadata. Column blocks are checked when read.
 * SN_ERR_CORRUPT for a damaged or truncated file, SN_ERR_IO if it cannot be
 * read. Costs one read of the metadata (a few bytes per granule and column). */
int sn_part_open(const char *path, struct sn_part **out, struct sn_err *err);
void sn_part_ref(struct sn_part *p);
/* Drops a reference; the last one closes the file and frees the part. */
void sn_part_unref(struct sn_part *p);

uint32_t sn_part_version(const struct sn_part *p);
uint64_t sn_part_nrows(const struct sn_part *p);
int32_t sn_part_month(const struct sn_part *p);
uint64_t sn_part_file_bytes(const struct sn_part *p);
size_t sn_part_ngranules(const struct sn_part *p);
const struct sn_granule_info *sn_part_granule(const struct sn_part *p, size_t g);
size_t sn_part_ncolumns(const struct sn_part *p);
const struct sn_part_column_info *sn_part_column(const struct sn_part *p, size_t col);
/* Index of the column called name, or -1. */
int sn_part_find_column(const struct sn_part *p, const char *name);

/* Reads column col for granules [g_begin, g_end) into out; memory comes
 * from arena. Each granule's block is read with pread, its CRC32 checked,
 * decompressed (bounded by the size the directory promises) and decoded
 * with every length checked: a damaged block is SN_ERR_CORRUPT naming the
 * column and granule, never a crash. SN_ERR_NOMEM when the arena is full. */
/* sn_part_read_column / sn_part_read_property reading only the granules g
 * of [g_begin, g_end) with need[g - g_begin] set: the rows of the others
 * hold placeholders (NULL in a nullable column, else 0 or "") the caller
 * must not use. need NULL reads every granule. For a filter that has
 * already dropped most rows (the executor's WHERE term by term). */
int sn_part_read_column_some(struct sn_part *p, size_t ci, size_t g_begin, size_t g_end,
			     const uint8_t *need, struct sn_arena *arena, struct sn_colvec *out,
			     struct sn_err *err);
int sn_part_read_property_some(struct sn_part *p, const char *key, size_t g_begin, size_t g_end,
			       const uint8_t *need, struct sn_arena *arena, struct sn_colvec *out,
			       struct sn_err *err);

int sn_part_read_column(struct sn_part *p, size_t col, size_t g_begin, size_t g_end,
			struct sn_arena *arena, struct sn_colvec *out, struct sn_err *err);

/* Reads the column called name like sn_part_read_column, except that a
 * column of the events schema a part predates (today "$group_0".."$group_4")
 * reads as its default, the empty string, for every row. Any other absent
 * name is SN_ERR_NOT_FOUND. */
int sn_part_read_named(struct sn_part *p, const char *name, size_t g_begin, size_t g_end,
		       struct sn_arena *arena, struct sn_colvec *out, struct sn_err *err);

/* Properties, whether or not the part shredded them (see STORAGE.md,
 * "Property shredding"). sn_part_read_property returns one key's values
 * with hogql.md §4.2 semantics: the raw JSON text of the value with one
 * leading and one trailing double quote removed (escapes kept), NULL (in
 * out->nulls, always set) when the key is missing, the value is JSON null
 * or the text is not a valid JSON object. It reads the key's own column
 * when the part has one. A key that is not shredded and is missing from the
 * part's residual key set (sn_part_may_have_property is false) is NULL in
 * every row, and nothing is read or decompressed: the cost is the output
 * vectors. Otherwise it scans the residual JSON (p:@rest or properties) of
 * every row. sn_part_read_properties returns every row's whole object, byte
 * for byte as written. Errors as sn_part_read_column. */
int sn_part_read_property(struct sn_part *p, const char *key, size_t g_begin, size_t g_end,
			  struct sn_arena *arena, struct sn_colvec *out, struct sn_err *err);
int sn_part_read_properties(struct sn_part *p, size_t g_begin, size_t g_end, struct sn_arena *arena,
			    struct sn_colvec *out, struct sn_err *err);

/* The same reads as codes into a dictionary (struct sn_colvec's coded
 * fields), for work that depends on a row's value alone: a filter or a
 * function of one string column is computed once per entry. A dictionary
 * block's entries are its own dictionary's (a granule's values of a
 * low-cardinality column: a handful where there are thousands of rows), a
 * plain block's one per row. Entry 0 is what rows not read (need) and NULL
 * rows hold: NULL, or '' in a column that cannot be NULL; the entries of
 * different blocks may repeat a value. A property's entries are §4.2
 * values, computed once per entry when every row of the range reads the
 * key's own column, else one entry per row. Errors as the plain reads;
 * sn_part_read_column_coded takes string columns only. */
int sn_part_read_column_coded(struct sn_part *p, size_t col, size_t g_begin, size_t g_end,
			      const uint8_t *need, struct sn_arena *arena, struct sn_colvec *out,
			      struct sn_err *err);
int sn_part_read_property_coded(struct sn_part *p, const char *key, size_t g_begin, size_t g_end,
				const uint8_t *need, struct sn_arena *arena, struct sn_colvec *out,
				struct sn_err *err);

/* Whether properties.key may be non-NULL in some row of the part. False
 * only when no row can have it: the key is not shredded in the part (no
 * p:<key> column) and the part's residual key set is known and lacks it.
 * Version-1 parts, and parts whose residual keys passed the caps, always
 * answer true. No I/O, cannot fail, O(log keys). A query may treat the
 * property as a NULL constant in such a part, or skip the part when its
 * filter needs the property non-NULL. */
bool sn_part_may_have_property(const struct sn_part *p, const char *key);

/* The part's residual key set: the distinct top-level keys (decoded names)
 * of every row's residual object, sorted by their bytes (a prefix before
 * the longer name). False when the part records none (version 1, or past
 * the caps): then nothing is known. Else *keys points into the part (valid
 * while it is open) and *nkeys counts them. */
bool sn_part_residual_keys(const struct sn_part *p, const struct sn_str **keys, size_t *nkeys);

/* Whether block g of column col holds NULLs, from the part's block-nulls
 * section (written from this format's version 3 writers on, see
 * docs/STORAGE.md): SN_BNULLS_NONE, _SOME or _ALL (every row), or
 * SN_BNULLS_UNKNOWN when the part has no such section (then read the
 * block). _SOME also stands for "may have" (a block taken from its
 * property). No I/O; the reader checks each block it decodes against it. */
enum sn_bnulls { SN_BNULLS_NONE = 0, SN_BNULLS_SOME = 1, SN_BNULLS_ALL = 2, SN_BNULLS_UNKNOWN = 3 };
enum sn_bnulls sn_part_block_nulls(const struct sn_part *p, size_t col, size_t g);

/* About how many blocks sn_part_read_property(key) over [gb, ge) decodes:
 * 0 when no row can have the key, the key's blocks that are not all NULL
 * (and the layout's and residual's where rows were left whole) when it is
 * shredded, 4 per granule when the residual JSON must be scanned. A cost
 * for ordering work (the executor's WHERE terms), no I/O. */
size_t sn_part_property_blocks(const struct sn_part *p, const char *key, size_t gb, size_t ge);

/* What reads of a part have fetched since it was opened, over all threads:
 * column blocks (each a pread, a CRC and a decompression) and their
 * compressed bytes. For tests and profiles; relaxed atomic counters. */
struct sn_part_read_stats {
	uint64_t blocks_read;
	uint64_t compressed_bytes;
};
void sn_part_get_read_stats(const struct sn_part *p, struct sn_part_read_stats *out);

/* Granules that may hold rows of team_id with toDate(timestamp) in
 * [day_min, day_max] (pass INT32_MIN/INT32_MAX for all days): a contiguous
 * range [*g_begin, *g_end), empty when g_begin == g_end. Uses only the
 * sparse index; O(log granules). */
void sn_part_granules_for_team(const struct sn_part *p, int64_t team_id, int32_t day_min,
			       int32_t day_max, size_t *g_begin, size_t *g_end);
/* Whether granule g may hold a row with ts_min_us <= timestamp <= ts_max_us. */
bool sn_part_granule_overlaps_time(const struct sn_part *p, size_t g, int64_t ts_min_us,
				   int64_t ts_max_us);

/* ---- whole-store inspection (inspect.c) ---------------------------------------------- */

/* Appends a JSON object describing the parts in dir: counts, bytes, bytes per
 * row, per-column compressed/encoded sizes and ratios, shredded keys. An
 * absent directory is an empty store. */
int sn_store_stats_json(const char *dir, struct sn_buf *out, struct sn_err *err);
/* Reads every part and granule of dir and checks checksums, decoding, sort
 * order, the sparse index and min/max timestamps against the rows, months,
 * and leftover temporary files; one line per problem goes to report.
 * Returns 0 when it could look (problems are counted, not errors). */
int sn_store_verify(const char *dir, struct sn_buf *report, uint64_t *nparts, uint64_t *nrows,
		    uint64_t *nproblems, struct sn_err *err);

/* ---- the part set: names, snapshots, merges, deletion (partset.c, merge.c, delete.c) --- */

/* Part ids. The ingest flush names its parts by id = (end LSN << 12) | nparts:
 * every part of one flush shares the id, and the low bits say how many
 * months the flush wrote (STORAGE.md, "Snapshots and the part set"). */
#define SN_PART_ID_NPARTS_BITS 12
#define SN_PART_ID_NPARTS_MASK ((1u << SN_PART_ID_NPARTS_BITS) - 1)
#define SN_TOMBSTONE_SUFFIX    ".del"

/* What a file name in a store directory says. A flush part
 * `YYYYMM_<id>.snp` covers [id, id] at version 0; a merged or rewritten part
 * `YYYYMM_<min>_<max>_<ver>.snp` covers [min, max] (ids as 16 hex digits,
 * ver 8); a tombstone `YYYYMM_<min>_<max>_<ver>.del` is an empty file that
 * covers a range whose rows were all deleted. A name supersedes another of
 * the same month when its range contains the other's and is larger, or is
 * equal with a higher version: superseded files are dead, whatever their
 * age, which is what makes merges and rewrites atomic (one rename). */
struct sn_part_name {
	int32_t month;
	uint64_t min_id, max_id;
	uint32_t ver;
	bool tombstone;
};
/* 0, or SN_ERR_INVALID when name is not a part or tombstone name. This is
 * the one rule for which files of a store directory are ours: YYYYMM with
 * a month 01-12, then the id fields as the writers format them (lowercase
 * hex, 16 digits an id, 8 the version), then .snp or .del. Every listing
 * (snapshots, recovery, merges, deletions, stats, verify) skips any other
 * name (notapart.snp, .hidden.snp, a copy, 202413_...). */
int sn_part_name_parse(const char *name, struct sn_part_name *out);
/* Writes the name (without directory) into buf; returns its length. */
size_t sn_part_name_format(const struct sn_part_name *n, char *buf, size_t len);
/* Marks live[i] = whether names[i] is a part or tombstone name
 * (sn_part_name_parse) superseded by no other name of the list. O(n log n). */
int sn_part_names_live(char *const *names, size_t n, bool *live, struct sn_err *err);

/* Start-up recovery of a store directory, for the one process that writes
 * it (the server, before it ingests): removes temporary files, superseded
 * parts and tombstones, and the parts of a flush that a crash cut short (the
 * newest flush id has fewer live files ending at it than its nparts; its
 * records are still in the WAL). *top_id is the newest complete flush id
 * (0 for an empty store): every WAL record before top_id >> 12 is stored. */
int sn_store_recover(const char *dir, bool no_fsync, uint64_t *top_id, struct sn_err *err);

struct sn_store_opts {
	bool read_only;		   /* never write or remove a file */
	bool no_fsync;		   /* tests and benchmarks only */
	uint64_t merge_max_rows;   /* rows of one merge's output; 0 = 1M */
	uint64_t merge_mem_bytes;  /* arena of one merge or rewrite; 0 = 4 GiB */
	uint32_t merge_min_parts;  /* background merges take at least this many; 0 = 4 */
	double merge_max_mb_per_s; /* throttle of the merge thread; 0 = unlimited */
	int64_t merge_interval_ms; /* how often the thread looks; 0 = 1000 */
	int64_t retention_days;	   /* TTL applied by the merge thread; 0 = keep forever */
	/* "team:days,team:days" overrides of retention_days (days 0 = keep that
	 * team forever), at most 64; copied at open; NULL or "" = none. */
	const char *team_retention;
	struct sn_part_write_opts wopts;
};

struct sn_store;
struct sn_store_snapshot;

/* Opens the part set of dir (created unless read_only): lists it, drops
 * superseded files from view (and from disk unless read_only), opens every
 * live part. Several sn_store objects (and processes) may look at one
 * directory; writes to it (merges, deletions) serialize on a lock file
 * (<dir>/MAINT, flock). Never removes temporary files or a flush in
 * progress: that is sn_store_recover's, at start-up. */
int sn_store_open(const char *dir, const struct sn_store_opts *opts, struct sn_store **out,
		  struct sn_err *err);
/* Stops the merge thread if running and frees the store. Snapshots still
 * held stay valid (they own their parts) and must still be released. */
void sn_store_close(struct sn_store *st);
/* Re-lists the directory (parts flushed or rewritten by others since). */
int sn_store_refresh(struct sn_store *st, struct sn_err *err);

/* An immutable, reference-counted view of the live parts. A part a merge or
 * deletion replaces is removed from disk only once no snapshot holds it, so
 * a running query keeps reading what it started with. acquire is O(1) and
 * cannot fail; every acquire needs one release. */
struct sn_store_snapshot *sn_store_snapshot_acquire(struct sn_store *st);
void sn_store_snapshot_release(struct sn_store_snapshot *snap);
/* A one-off consistent snapshot of a directory no sn_store is open on in
 * this process (queries, stats): the listing is repeated until two agree,
 * so a merge or rewrite racing with it is seen either before or after. */
int sn_store_snapshot_open_dir(const char *dir, struct sn_store_snapshot **out, struct sn_err *err);
/* Parts in name order (month, then id), tombstones excluded. */
size_t sn_store_snapshot_nparts(const struct sn_store_snapshot *snap);
struct sn_part *sn_store_snapshot_part(const struct sn_store_snapshot *snap, size_t i);
const char *sn_store_snapshot_name(const struct sn_store_snapshot *snap, size_t i);
uint64_t sn_store_snapshot_nrows(const struct sn_store_snapshot *snap);

/* ---- merges (merge.c) ---- */

struct sn_store_merge_stats {
	uint64_t merges, parts_in, rows_in, rows_out, dup_rows, bytes_written;
	uint64_t tombstones_removed;
};

/* Runs merges now. all = false: at most one size-tiered background merge;
 * all = true: merges every month down to as few parts as merge_max_rows
 * allows (the CLI). Inputs are read whole, sorted by the part order, rows
 * with the same (team_id, uuid) kept once (the copy from the newest part,
 * ReplacingMergeTree's "last inserted"), and properties re-shredded. The
 * output is written with a temp name, fsync, rename, directory fsync; its
 * name supersedes the inputs, which are then removed (when the last
 * snapshot drops them). Crash-safe at every point. */
int sn_store_merge(struct sn_store *st, bool all, struct sn_store_merge_stats *stats,
		   struct sn_err *err);
/* The background merge thread: one merge at a time, at low priority,
 * throttled to merge_max_mb_per_s, applying retention_days too. */
int sn_store_merger_start(struct sn_store *st, struct sn_err *err);
void sn_store_merger_stop(struct sn_store *st);
void sn_store_get_merge_stats(struct sn_store *st, struct sn_store_merge_stats *out);

/* ---- deletion and retention (delete.c) ---- */

/* Which rows to delete: always one team; then every given criterion must
 * hold (AND). before/after bound timestamp: after_us <= ts < before_us. */
struct sn_store_delete_spec {
	int64_t team_id;
	bool by_person;
	uint8_t person_id[16];
	/* A data subject (GDPR): rows whose person_id is one of person_ids or
	 * whose distinct_id is one of distinct_ids; both empty = not asked. */
	const uint8_t (*person_ids)[16];
	size_t npersons;
	const char *const *distinct_ids;
	size_t ndistinct_ids;
	const char *event; /* NULL = any */
	int64_t after_us;  /* INT64_MIN = unbounded */
	int64_t before_us; /* INT64_MAX = unbounded */
};

struct sn_store_delete_result {
	uint64_t parts_seen, parts_rewritten, parts_dropped, rows_deleted;
	uint64_t parts_damaged; /* parts that could not be read, left as they were */
};

/* Deletes the matching rows from every part: a part with none is left
 * alone, one with only matching rows is dropped, others are rewritten
 * without them (temp name, fsync, rename; the new name supersedes the old
 * file, which is then removed). When it returns, no part file holding the
 * rows remains (unless a snapshot of this sn_store still reads it; it goes
 * on release). Rows still in the WAL or a memtable are not affected. A part
 * whose blocks fail their checks is left as it was and the others are
 * still done: SN_ERR_CORRUPT then, err naming the first such part, with
 * res counting them (the rows of a damaged part cannot be told apart:
 * remove or restore the file, then run the deletion again). */
int sn_store_delete(struct sn_store *st, const struct sn_store_delete_spec *spec,
		    struct sn_store_delete_result *res, struct sn_err *err);

/* Retention: rows older than now - days are deleted; days per team from
 * team_ids/days (nteams entries), else default_days; 0 = keep forever.
 * Parts wholly expired are dropped without being read beyond their index. */
struct sn_store_ttl {
	int64_t default_days;
	size_t nteams;
	const int64_t *team_ids;
	const int64_t *days;
};
int sn_store_apply_ttl(struct sn_store *st, const struct sn_store_ttl *ttl, int64_t now_us,
		       struct sn_store_delete_result *res, struct sn_err *err);

/* The longest retention anything may ask for, in days (100 years): the
 * retention_days and team_retention settings and `snout store ttl --days`
 * all refuse more, so a typo or a "keep forever" stand-in such as 200000000
 * is an error rather than a number the cutoff arithmetic has to survive. */
#define SN_STORE_RETENTION_DAYS_MAX 36500

/* The retention cutoff for days before now_us: rows with a timestamp below
 * it expire. days <= 0 keeps forever (INT64_MIN). A cutoff that would fall
 * before the range of int64 microseconds is INT64_MIN too, so an oversized
 * days expires nothing; it never wraps around to a cutoff in the future. */
int64_t sn_store_ttl_cutoff_us(int64_t now_us, int64_t days);

/* Parses the team_retention setting ("2:30,5:365"; "" = none) into at most
 * max pairs: team_ids[i] a positive team id, days[i] 0 (keep that team
 * forever) to SN_STORE_RETENTION_DAYS_MAX. *n is the number of pairs. On
 * bad input SN_ERR_INVALID (SN_ERR_TOO_BIG past max) and a message that
 * names the setting and the offending part. */
int sn_store_parse_team_retention(const char *s, int64_t *team_ids, int64_t *days, size_t max,
				  size_t *n, struct sn_err *err);

#endif
