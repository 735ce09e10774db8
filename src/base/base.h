/*
 * base.h — the bottom layer every snout module uses: error codes and error
 * structs, bounded growable buffers, arenas, logging, clocks, UUIDv7,
 * metrics and the thin wrappers over the JSON and hashing libraries.
 *
 * Nothing here knows about HTTP, PostHog or storage. Every function that can
 * fail returns 0 or a negative SN_ERR_* code and, where a human needs to know
 * why, writes a sentence into a caller-provided struct sn_err.
 */
#ifndef SN_BASE_H
#define SN_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sqlite3.h>

/* ---- errors --------------------------------------------------------------- */

enum {
	SN_OK = 0,
	SN_ERR_NOMEM = -1,     /* allocation failed */
	SN_ERR_INVALID = -2,   /* bad input from outside (request, file, flag) */
	SN_ERR_TOO_BIG = -3,   /* a maximum was hit (buffer, body, decompressed size) */
	SN_ERR_NOT_FOUND = -4, /* lookup found nothing */
	SN_ERR_IO = -5,	       /* a system call on a file or socket failed */
	SN_ERR_CORRUPT = -6,   /* data on disk failed a checksum or framing check */
	SN_ERR_EXISTS = -7,    /* unique key already taken */
	SN_ERR_AUTH = -8,      /* authentication failed */
	SN_ERR_CLOSED = -9,    /* the object is shutting down */
	SN_ERR_INTERNAL = -10, /* a dependency failed in a way we did not expect */
};

/* A message for humans, filled by the function that failed. Callers may pass
 * NULL when they do not care about the text. */
struct sn_err {
	int code;
	char msg[512];
};

/* Sets err (if not NULL) and returns code, so `return sn_err_set(...)` works. */
int sn_err_set(struct sn_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message: "ctx: old message". */
void sn_err_prefix(struct sn_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *sn_strerror(int code);

#define SN_BUG(...)                                                 \
	do {                                                        \
		sn_log_error("BUG at %s:%d: ", __FILE__, __LINE__); \
		sn_log_error(__VA_ARGS__);                          \
		abort();                                            \
	} while (0)

#define SN_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- growable buffer with a maximum (curl's dynbuf) ------------------------ */

/* A byte buffer that is always NUL-terminated (data[len] == 0 once anything
 * was appended) and never grows past max bytes: an append that would is
 * refused with SN_ERR_TOO_BIG and leaves the buffer unchanged. */
struct sn_buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void sn_buf_init(struct sn_buf *b, size_t max);
void sn_buf_release(struct sn_buf *b);
void sn_buf_reset(struct sn_buf *b); /* len = 0, keeps the allocation */
int sn_buf_reserve(struct sn_buf *b, size_t extra);
int sn_buf_append(struct sn_buf *b, const void *p, size_t n);
/* Inline so that the length of a string literal is folded at compile time
 * (answers are built from many short literals). */
static inline int sn_buf_appends(struct sn_buf *b, const char *s)
{
	return sn_buf_append(b, s, strlen(s));
}
int sn_buf_appendc(struct sn_buf *b, char c);
int sn_buf_appendf(struct sn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) as a JSON string literal (quotes included, escapes as
 * needed); each run of invalid UTF-8 becomes one U+FFFD, so the output is
 * always valid UTF-8. */
int sn_buf_append_json_str(struct sn_buf *b, const char *s, size_t n);
/* Appends s[0..n) as a field of ClickHouse's TabSeparated text: tab,
 * newline and backslash escaped (\t, \n, \\). */
int sn_buf_append_tsv(struct sn_buf *b, const char *s, size_t n);
/* Hands the allocation to the caller (who frees it) and resets b. */
char *sn_buf_detach(struct sn_buf *b, size_t *len);

/* ---- arena ------------------------------------------------------------------ */

/* Bump allocator for things that live as long as one request or query. Chunks
 * are malloc'd as needed; nothing is freed until sn_arena_release. A maximum
 * total size bounds a runaway request. sn_arena_reset forgets every
 * allocation but keeps the chunks for the next ones (a scan's per-batch
 * scratch: no malloc, no page faults after the first batch). */
struct sn_arena_chunk;
struct sn_arena {
	struct sn_arena_chunk *head;
	struct sn_arena_chunk *spare; /* emptied chunks sn_arena_reset kept */
	size_t used_total;	      /* bytes of chunks held, spare included */
	size_t max_total;
	/* The largest chunk it grows to: 1 MiB from sn_arena_init. Chunks
	 * above 1 MiB get huge pages (sn_mem_huge): an arena filled whole and
	 * read at random (a memtable's text: 32 MiB) sets more here. */
	size_t chunk_max;
};

void sn_arena_init(struct sn_arena *a, size_t max_total);
void sn_arena_release(struct sn_arena *a);
void sn_arena_reset(struct sn_arena *a);
/* Moves every chunk of src into dst (freed with dst from now on) and leaves
 * src empty: what src's allocations point to stays valid as long as dst.
 * SN_ERR_TOO_BIG, changing nothing, when dst's maximum would be passed. */
int sn_arena_adopt(struct sn_arena *dst, struct sn_arena *src);
/* Returns NULL when the maximum is reached or malloc fails. 16-byte aligned. */
void *sn_arena_alloc(struct sn_arena *a, size_t n);
/* Makes the arena own p, a malloc'd block of n bytes (counted against the
 * maximum): it is freed with the arena (or its reset). SN_ERR_TOO_BIG or
 * SN_ERR_NOMEM, p still the caller's, on failure. */
int sn_arena_own(struct sn_arena *a, void *p, size_t n);
char *sn_arena_strndup(struct sn_arena *a, const char *s, size_t n);
char *sn_arena_strdup(struct sn_arena *a, const char *s);
/* malloc for a large array that is filled soon after (tens of MB of a
 * query's rows): asks the kernel for transparent huge pages on it
 * (madvise), so filling it takes a page fault per 2 MiB instead of one per
 * 4 KiB. Only for arrays written whole: a huge page is zeroed whole on
 * first touch. Small sizes are plain malloc. Free with sn_free_big: a
 * block of 32 MiB or more then waits for the next request it fits (the
 * next query's), already faulted in; sn_mem_release gives them back. */
void *sn_malloc_big(size_t n);
void sn_free_big(void *p);
/* sn_malloc_big of n zero bytes; for a table touched all over soon. The
 * zeros are the kernel's (a fresh mapping is not written twice). */
void *sn_calloc_big(size_t n);
/* Asks for transparent huge pages on the 2 MiB-aligned inside of [p, p+n)
 * (madvise; nothing below 4 MiB). For long-lived arrays read at random
 * (a memtable's rows): with 4 KiB pages nearly every such read also
 * misses the TLB, and a page walk is dear in a VM. A refusal only costs
 * the hint. */
void sn_mem_huge(void *p, size_t n);

/* The process's malloc, tuned for a server whose queries each take and
 * give back tens of MB (an insight's rows, hash tables): blocks up to 32
 * MiB come from the heap instead of fresh mmaps, and up to 512 MiB of
 * freed heap stays mapped, so the next query reuses warm pages instead of
 * faulting new ones (a page fault is dear in a VM: a 30-day paths insight
 * on 10M events spent over a tenth of its time in them). sn_mem_release
 * gives the memory back; the server calls it once it has been idle. */
void sn_mem_tune(void);
/* Returns freed memory to the system: the big blocks kept by
 * sn_free_big, the arena chunk pool, then every malloc arena's free pages. */
void sn_mem_release(void);

/* ---- logging ------------------------------------------------------------- */

enum sn_log_level { SN_LOG_DEBUG = 0, SN_LOG_INFO, SN_LOG_WARN, SN_LOG_ERROR };

/* Log lines go to stderr, one line each: either logfmt-like text or JSON
 * ({"ts":...,"level":...,"msg":...}). Thread-safe; each line is one write(2). */
void sn_log_setup(enum sn_log_level min_level, bool json);
int sn_log_parse_level(const char *s, enum sn_log_level *out);
bool sn_log_enabled(enum sn_log_level level);
void sn_log(enum sn_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sn_logv(enum sn_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Writes a caller-built JSON object (without trailing newline) as one line,
 * regardless of the text/JSON mode. Used by the access log. */
void sn_log_raw_line(const char *line, size_t len);
#define sn_log_debug(...) sn_log(SN_LOG_DEBUG, __VA_ARGS__)
#define sn_log_info(...)  sn_log(SN_LOG_INFO, __VA_ARGS__)
#define sn_log_warn(...)  sn_log(SN_LOG_WARN, __VA_ARGS__)
#define sn_log_error(...) sn_log(SN_LOG_ERROR, __VA_ARGS__)

/* ---- time ----------------------------------------------------------------- */

/* Wall clock in microseconds since the Unix epoch. */
int64_t sn_now_us(void);
/* Monotonic clock in nanoseconds, for durations. */
uint64_t sn_mono_ns(void);
/* The CLOCK_REALTIME instant ms from now: pthread_cond_timedwait's deadline. */
struct timespec sn_deadline_in_ms(uint64_t ms);
/* Formats epoch microseconds as RFC 3339 UTC with milliseconds:
 * "2025-01-01T12:00:00.123Z". out must hold 32 bytes. */
void sn_time_format_rfc3339(int64_t us, char out[32]);
/* Parses exactly what sn_time_format_rfc3339 writes (24 characters, UTC,
 * milliseconds). SN_ERR_INVALID otherwise. */
int sn_time_parse_rfc3339_ms(const char *s, size_t len, int64_t *us);
/* Parses an RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS, an optional fraction
 * of 1 to 6 digits (to the microsecond), and Z or a numeric offset
 * (+02:00, -05:30); 't' and 'z' may be lower case. Years 0000-9999, days
 * checked against the month (leap years included), no leap second.
 * SN_ERR_INVALID for anything else: unlike the capture parser, which takes
 * whatever SDKs send, this one is for people who should learn their input
 * was not read as they meant. */
int sn_time_parse_rfc3339(const char *s, size_t len, int64_t *us);
/* Days since 1970-01-01 for a proleptic Gregorian date, and back. */
int64_t sn_days_from_civil(int64_t y, unsigned m, unsigned d);
void sn_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* Time zones (tz.c). The UTC offset in seconds in force at at_us in the
 * IANA zone tz (read from the system's tz database): 0 for UTC and for
 * zones that do not exist. Thread-safe; the first call for a zone reads its
 * file, later ones are a binary search. */
int32_t sn_tz_offset(const char *tz, int64_t at_us);

/* A loaded zone: immutable, kept for the life of the process, shared by
 * all threads. sn_tz_get returns the zone named name (NULL, "" and "UTC"
 * are UTC), or NULL when no such zone exists, so callers can report the
 * name. Lock-free once the zone is loaded; the first call for a zone reads
 * its file under a mutex. */
struct sn_tz;
const struct sn_tz *sn_tz_get(const char *name);
const char *sn_tz_name(const struct sn_tz *z);
bool sn_tz_is_utc(const struct sn_tz *z);
/* The UTC offset in seconds in force at the instant at_us. A binary search
 * over the zone's transitions; no locks, no allocation. */
int32_t sn_tz_offset_at(const struct sn_tz *z, int64_t at_us);
/* The instant (µs since the epoch) of the local wall time local_us (µs
 * since 1970-01-01 00:00 local), as ClickHouse resolves it: a wall time
 * that occurs twice is the earlier instant; one skipped by a forward change
 * is read with the offset before the change when gap_later (the instant
 * after the gap: ClickHouse's start of a day) or after it otherwise (the
 * instant before the gap: makeDateTime, addDays, addMonths). */
int64_t sn_tz_from_local(const struct sn_tz *z, int64_t local_us, bool gap_later);

/* ---- threads (thread.c) ------------------------------------------------------ */

/* pthread_create(th, NULL, fn, arg), but starting the thread on another
 * CPU than the caller's when the caller may use several (it then may move
 * as any thread). For a query's short helper threads, which Linux would
 * otherwise start on the creator's busy core. 0 or pthread_create's error. */
#include <pthread.h>
int sn_thread_start_beside(pthread_t *th, void *(*fn)(void *), void *arg);

/* ---- uuid ----------------------------------------------------------------- */

struct sn_uuid {
	uint8_t b[16];
};

/* UUIDv7 (RFC 9562): 48-bit ms timestamp, version 7, random rest. Monotonic
 * within a process for the same millisecond. */
void sn_uuid_v7(struct sn_uuid *u, int64_t now_us);
void sn_uuid_random_v4(struct sn_uuid *u);
/* Canonical lower-case 36-char text; out must hold 37 bytes. */
void sn_uuid_format(const struct sn_uuid *u, char out[37]);
/* Accepts the hyphenated form (any case) and the 32-hex simple form. */
int sn_uuid_parse(const char *s, size_t len, struct sn_uuid *u);

/* ---- random and hashing --------------------------------------------------------- */

/* Cryptographically secure random bytes (libsodium). */
void sn_random_bytes(void *p, size_t n);
/* Writes prefix + n random characters from [A-Za-z0-9] into out (NUL-terminated). */
void sn_random_token(char *out, size_t outsz, const char *prefix, size_t n);
/* SHA-256 of data as 64 lower-case hex characters (+NUL). */
void sn_sha256_hex(const void *data, size_t len, char out[65]);
/* SHA-1 (OpenSSL EVP) of the concatenation of n byte strings. Used where
 * PostHog's algorithms are defined with SHA-1 (UUIDv5 person ids, flag
 * bucketing), not for security. */
void sn_sha1_parts(const void *const *parts, const size_t *lens, size_t n, uint8_t out[20]);
void sn_sha1(const void *data, size_t len, uint8_t out[20]);
/* Fast non-cryptographic 64-bit hash (XXH3) for tables. */
uint64_t sn_hash64(const void *data, size_t len);
/* MurmurHash3's 64-bit finalizer: every bit of x moves every bit of the
 * result. For hashing integers, or spreading a combined hash, in tables. */
static inline uint64_t sn_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}
/* CityHash64 v1.0.2, the values of ClickHouse's cityHash64 (cityhash.c). */
uint64_t sn_cityhash64(const void *data, size_t len);
/* The gzip/zlib CRC-32 (same values as zlib's crc32), computed by libdeflate: the WAL's and the
 * parts' checksums. */
uint32_t sn_crc32(uint32_t crc, const void *data, size_t len);

/* ---- JSON (json-c) ------------------------------------------------------------ */

/* Deepest nesting accepted anywhere (session recordings nest DOM trees). */
#define SN_JSON_MAX_DEPTH 1000

/* Parses exactly one JSON value from text (strict mode: no trailing garbage,
 * no comments). On failure returns SN_ERR_INVALID with the byte offset and
 * json-c's reason in err. The caller owns the result (json_object_put). */
int sn_json_parse(const char *text, size_t len, struct json_object **out, struct sn_err *err);
/* Compact serialisation into b (appends). Slashes are not escaped. */
int sn_json_append(struct sn_buf *b, struct json_object *o);
/* Returns the string value if o is a JSON string, else NULL. */
const char *sn_json_str(struct json_object *o, size_t *len);
struct json_object *sn_json_get(struct json_object *obj, const char *key);

/* ---- metrics (Prometheus text exposition) --------------------------------------------- */

/* Counters and histograms identified by a family name plus a label string
 * such as `route="/e",status="200"`. Families are declared once (name, help,
 * type); series appear on first use. Updates are lock-free for existing
 * series after the first lookup through sn_metric_series(). */
enum sn_metric_type { SN_METRIC_COUNTER, SN_METRIC_GAUGE, SN_METRIC_HISTOGRAM };

struct sn_metric_series;
void sn_metrics_declare(const char *name, enum sn_metric_type type, const char *help);
/* Finds or creates the series; never returns NULL except when out of memory. */
struct sn_metric_series *sn_metric_series(const char *name, const char *labels);
void sn_metric_add(struct sn_metric_series *s, uint64_t v);
void sn_metric_set(struct sn_metric_series *s, int64_t v);
/* Histograms observe seconds; buckets are fixed (1 ms ... 10 s, log-spaced). */
void sn_metric_observe(struct sn_metric_series *s, double seconds);
/* Convenience: series lookup + add in one call (slower: a locked hash lookup). */
void sn_metric_inc(const char *name, const char *labels, uint64_t v);
/* Gauges whose value is computed at scrape time. */
typedef int64_t (*sn_metric_gauge_fn)(void *arg);
void sn_metrics_gauge_fn(const char *name, const char *labels, sn_metric_gauge_fn fn, void *arg);
typedef double (*sn_metric_gauge_dfn)(void *arg);
void sn_metrics_gauge_dfn(const char *name, const char *labels, sn_metric_gauge_dfn fn, void *arg);
/* Renders every family into b. */
int sn_metrics_render(struct sn_buf *b);
/* Drops everything (tests). */
void sn_metrics_reset(void);

/* ---- small string helpers --------------------------------------------------------- */

bool sn_str_has_prefix(const char *s, const char *prefix);
/* Value of one hex digit (either case), or -1. */
int sn_hex_digit(int c);
/* The well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, at most U+10FFFF): its length (1-4) and *cp, or 0 when p
 * starts none. len >= 1. */
size_t sn_utf8_decode(const unsigned char *p, size_t len, uint32_t *cp);
/* How many bytes of s[0..len) hold its first max characters (well-formed
 * sequences; an invalid byte counts as one): a cut that keeps whole
 * characters. */
size_t sn_utf8_prefix(const char *s, size_t len, size_t max);
/* Case-insensitive ASCII comparison of s[0..n) with the NUL-terminated lit. */
bool sn_str_ieq(const char *s, size_t n, const char *lit);
/* Parses a size such as "20MiB", "512k", "1048576" into bytes. */
int sn_parse_size(const char *s, uint64_t *out);
/* Parses a duration such as "1s", "250ms", "5m" into milliseconds. */
int sn_parse_duration_ms(const char *s, int64_t *out);
int sn_parse_bool(const char *s, bool *out);
/* Parses s[0..len) as a whole decimal integer from min to max: an optional
 * '-' and digits, nothing else (no sign '+', spaces, suffix or empty
 * string). SN_ERR_INVALID, *out unchanged, for anything else, including a
 * value outside [min, max] or outside int64. Command-line ids and counts go
 * through this: atoll would read "1abc" as 1 and "abc" as 0. */
int sn_parse_int(const char *s, size_t len, int64_t min, int64_t max, int64_t *out);
/* Creates a directory and its parents (mode 0755); existing is fine. */
int sn_mkdir_p(const char *path, struct sn_err *err);
/* fsync of a directory, after a rename or create inside it. */
int sn_fsync_dir(const char *path, struct sn_err *err);

/* ---- fixed sets of short names (str.c) ------------------------------------------------ */

/* A set of names of 3 to SN_NAMES_LEN_MAX bytes, found by length and bytes:
 * for loops that classify every JSON key of an event, where a json-c or
 * hash-table lookup per candidate name costs several times more. Each name
 * is kept as up to three 8-byte words that together cover its bytes (first
 * 8, last 8, and the middle 8 past 16 bytes; 4-byte words under 8 bytes),
 * so a candidate of the key's length costs three integer compares and no
 * pointer chase. At most SN_NAMES_MAX names. */
#define SN_NAMES_LEN_MAX 24
#define SN_NAMES_MAX	 63
struct sn_names {
	signed char by_len[SN_NAMES_LEN_MAX + 1][SN_NAMES_MAX + 1]; /* -1 terminated */
	uint64_t w[SN_NAMES_MAX][3];
};
void sn_names_init(struct sn_names *set, const char *const *names, int n);

/* The words of k[0..n), 3 <= n <= SN_NAMES_LEN_MAX, as struct sn_names keeps them. */
static inline void sn_names_words(const char *k, size_t n, uint64_t w[3])
{
	w[2] = 0;
	if (n >= 8) {
		memcpy(&w[0], k, 8);
		memcpy(&w[1], k + n - 8, 8);
		if (n > 16)
			memcpy(&w[2], k + 8, 8);
	} else if (n >= 4) {
		uint32_t a, b;
		memcpy(&a, k, 4);
		memcpy(&b, k + n - 4, 4);
		w[0] = a;
		w[1] = b;
	} else {
		w[0] = (uint64_t)(unsigned char)k[0] | (uint64_t)(unsigned char)k[1] << 8 |
		       (uint64_t)(unsigned char)k[2] << 16;
		w[1] = 0;
	}
}

/* The index of k[0..n) in the set, or -1. */
static inline int sn_names_find(const struct sn_names *set, const char *k, size_t n)
{
	if (n < 3 || n > SN_NAMES_LEN_MAX)
		return -1;
	const signed char *c = set->by_len[n];
	if (*c < 0)
		return -1;
	uint64_t w[3];
	sn_names_words(k, n, w);
	for (; *c >= 0; c++) {
		const uint64_t *x = set->w[*c];
		if (x[0] == w[0] && x[1] == w[1] && x[2] == w[2])
			return *c;
	}
	return -1;
}

/* ---- SQLite (sqlite.c) ------------------------------------------------------------ */

/* A numbered migration: versions are 1, 2, ... and never edited once shipped. */
struct sn_sql_migration {
	int version;
	const char *name;
	const char *sql; /* one or more statements, run in one transaction */
};

/* The name of the VFS every database here is opened with (sqlite_vfs.c:
 * the default VFS, with WAL writes gathered into large pwrites where
 * asked), or NULL (the default VFS) when it could not be registered. */
const char *sn_sqlite_vfs(void);
/* Gathers db's writes to its WAL file into pwrites of up to 120 KiB
 * (sqlite_vfs.c). Only for a connection with synchronous=FULL or EXTRA,
 * so a failed write fails the commit that made it. Whether it is on (off
 * when the database was not opened through sn_sqlite_vfs()). */
bool sn_sqlite_buffer_wal(sqlite3 *db);
/* SQLite extended result code → SN_ERR_* (unique violation → EXISTS, ...). */
int sn_sqlite_rc(int extended_rc);
/* Opens (creating) path in WAL mode with synchronous=NORMAL and a busy
 * timeout, foreign keys on when asked. label names the database in messages
 * ("metadata database"). SN_ERR_IO with SQLite's reason on failure. */
int sn_sqlite_open(sqlite3 **db, const char *path, const char *label, bool foreign_keys,
		   struct sn_err *err);
/* sqlite3_exec with the error in err as "<label>: <what>: <reason>". */
int sn_sqlite_exec(sqlite3 *db, const char *label, const char *what, const char *sql,
		   struct sn_err *err);
/* Prepares n persistent statements; on failure names the statement's error
 * and leaves already prepared ones for the caller to finalize. */
int sn_sqlite_prepare_all(sqlite3 *db, const char *label, const char *const *sql, size_t n,
			  sqlite3_stmt **out, struct sn_err *err);
/* Copies column i as text into dst (NUL-terminated, truncated to n - 1). */
void sn_sqlite_column_text(sqlite3_stmt *s, int i, char *dst, size_t n);
/* Highest recorded migration (0 for a new database). */
int sn_sqlite_schema_version(sqlite3 *db, int *version, struct sn_err *err);
/* Applies pending migrations, each in its own transaction with its record;
 * refuses a database newer than migs. *applied (may be NULL) counts them. */
int sn_sqlite_migrate(sqlite3 *db, const char *path, const char *label,
		      const struct sn_sql_migration *migs, size_t nmigs, int *applied,
		      struct sn_err *err);

/* A background checkpointer for a WAL database (sqlite.c): a thread with its
 * own connection that copies committed WAL frames into the database file
 * after each poke (and every few seconds), so the connection that commits
 * does not pay for the copy and its fsyncs. The committing connection keeps
 * SQLite's own auto-checkpoint as a backstop, raised to backstop_pages. */
struct sn_sqlite_ckpt;
int sn_sqlite_ckpt_start(struct sn_sqlite_ckpt **out, sqlite3 *writer, const char *path,
			 const char *label, int backstop_pages, struct sn_err *err);
/* After a commit: wakes the checkpointer. Cheap; any thread. */
void sn_sqlite_ckpt_poke(struct sn_sqlite_ckpt *c);
/* Checkpoints done so far (tests). */
uint64_t sn_sqlite_ckpt_count(struct sn_sqlite_ckpt *c);
/* Stops the thread and closes its connection; NULL is fine. */
void sn_sqlite_ckpt_stop(struct sn_sqlite_ckpt *c);

/* ---- strict JSON pull scanner (jsonscan.c) ------------------------------------ */

/*
 * the JSON scanner — a strict, validating, allocation-free JSON pull scanner over a
 * byte buffer, for the capture hot path. Internal to capture (and its tests
 * and fuzz targets); other modules use the json-c wrapper in base.h.
 *
 * The scanner never builds a tree: it hands out spans (pointer + length into
 * the caller's text) and validates every byte it moves over, so a value that
 * was skipped is known to be RFC 8259 JSON and its bytes can be forwarded
 * verbatim. Usage, for {"a":[1,2],"b":"x"}:
 *
 *	struct sn_jscan s;
 *	struct sn_jspan k, v;
 *	sn_jscan_init(&s, text, len, err);
 *	sn_jscan_enter(&s);                      // '{'
 *	while ((rc = sn_jscan_next_key(&s, &k)) > 0) {
 *		if (sn_jspan_str_eq(&k, "a", 1) && sn_jscan_peek(&s) == SN_JARRAY) {
 *			sn_jscan_enter(&s);              // '['
 *			while ((rc = sn_jscan_next_elem(&s)) > 0)
 *				rc = sn_jscan_skip(&s, &v); // each element
 *		} else {
 *			rc = sn_jscan_skip(&s, &v);      // any value
 *		}
 *	}
 *	rc = rc ? rc : sn_jscan_finish(&s);      // only whitespace may follow
 *
 * (error checks after each call elided). A caller must consume every value it
 * is positioned at (skip it or enter it and iterate to the end); that is what
 * makes the whole text validated exactly once.
 *
 * Grammar: RFC 8259 exactly — no NaN/Infinity, no leading zeros or '+', no
 * "1." or ".5", no raw control characters in strings, string contents valid
 * UTF-8 (no overlongs, no encoded surrogates), escapes \" \\ \/ \b \f \n \r \t
 * \uXXXX (lone surrogate escapes are valid grammar and accepted), whitespace
 * only space, tab, LF, CR, no BOM. At most SN_JSCAN_MAX_DEPTH containers may be
 * open at once. json-c's strict mode, which capture used before, is more
 * lenient (it accepts NaN, Infinity, -01, 1., raw control characters); the
 * differential fuzz target tests/fuzz/fuzz_jsonscan.c pins the difference to
 * exactly those cases.
 *
 * Errors: SN_ERR_INVALID, with "invalid JSON at byte N: reason" (or "invalid
 * JSON: unexpected end of input at byte N") in err, as sn_json_parse words
 * them. After an error the cursor is unusable.
 */
/* The scanner accepts the nesting json-c (sn_json_parse) accepts. */
#define SN_JSCAN_MAX_DEPTH (SN_JSON_MAX_DEPTH - 1) /* json-c's depth N allows N-1 levels */

enum sn_jtype {
	SN_JNONE = 0, /* no value (an absent field): a zeroed span */
	SN_JNULL,
	SN_JFALSE,
	SN_JTRUE,
	SN_JNUMBER,
	SN_JSTRING,
	SN_JARRAY,
	SN_JOBJECT,
};

#define SN_JSPAN_ESCAPED 1 /* a string holding at least one backslash escape */
#define SN_JSPAN_INT	 2 /* a number without fraction or exponent */

/* One value's bytes: p[0] is its first byte ('"' of a string, '{', '-', 't'...)
 * and p[len - 1] its last (the closing quote or bracket). Texts are at most
 * INT32_MAX bytes, so len fits. A zeroed span is SN_JNONE. */
struct sn_jspan {
	const char *p;
	uint32_t len;
	uint8_t type;  /* enum sn_jtype */
	uint8_t flags; /* SN_JSPAN_* */
};

/* The type of the value whose first byte is c in text known to be valid
 * JSON: whatever is not one of these is a number (one compare less than
 * sn_jtype_of's digit cases: jsonscan's skip and the writer's split run it
 * for every value). */
static inline uint8_t sn_jtype_of_valid(char c)
{
	switch (c) {
	case '"': return SN_JSTRING;
	case '{': return SN_JOBJECT;
	case '[': return SN_JARRAY;
	case 't': return SN_JTRUE;
	case 'f': return SN_JFALSE;
	case 'n': return SN_JNULL;
	default: return SN_JNUMBER;
	}
}

/* The type of the JSON value whose first byte is c; SN_JNONE when no
 * value starts so. */
static inline uint8_t sn_jtype_of(char c)
{
	uint8_t t = sn_jtype_of_valid(c);
	return t != SN_JNUMBER || c == '-' || (c >= '0' && c <= '9') ? t : SN_JNONE;
}

struct sn_jscan {
	const char *base; /* the whole text: offsets in messages are from here */
	const char *p;	  /* next unread byte */
	const char *end;
	unsigned depth; /* containers entered and not yet left */
	bool first;	/* just entered a container: no ',' before the next member */
	size_t err_off; /* byte offset of the last error */
	struct sn_err *err;
};

/* Sets up a cursor over text[0..len). Texts over INT32_MAX bytes make the
 * first call fail with SN_ERR_TOO_BIG. err may be NULL. Cannot fail itself. */
void sn_jscan_init(struct sn_jscan *s, const char *text, size_t len, struct sn_err *err);

/* Type of the next value (after whitespace), without consuming it; a
 * negative SN_ERR_* when there is none (end of input, a byte no value starts
 * with). Only the first byte is looked at. */
int sn_jscan_peek(struct sn_jscan *s);

/* Validates and consumes the next value, whatever its type, and returns its
 * span. Costs one pass over its bytes; never allocates. */
int sn_jscan_skip(struct sn_jscan *s, struct sn_jspan *v);

/* Consumes the '{' or '[' of the next value and starts iterating it with
 * next_key or next_elem. Fails past SN_JSCAN_MAX_DEPTH. */
int sn_jscan_enter(struct sn_jscan *s);

/* Inside an object: returns 1 with the member's key (a string span) and the
 * cursor at its value, which the caller must consume; 0 when the closing '}'
 * was consumed; a negative SN_ERR_* on bad input. */
int sn_jscan_next_key(struct sn_jscan *s, struct sn_jspan *key);

/* Inside an array: returns 1 with the cursor at the next element, which the
 * caller must consume; 0 when the closing ']' was consumed; < 0 on error. */
int sn_jscan_next_elem(struct sn_jscan *s);

/* After the top-level value: fails unless only whitespace remains. */
int sn_jscan_finish(struct sn_jscan *s);

/* Validates text as exactly one JSON value with optional surrounding
 * whitespace; *root (may be NULL) gets the value's span. */
int sn_jscan_document(const char *text, size_t len, struct sn_jspan *root, struct sn_err *err);

/* ---- values ---------------------------------------------------------------- */

/* Appends a (scanned) string's decoded contents to out: escapes resolved,
 * \u0000 becomes a NUL byte, a surrogate escape that is not part of a valid
 * pair becomes U+FFFD (json-c does the same). Fails only when out is full. */
int sn_jspan_unescape(const struct sn_jspan *str, struct sn_buf *out);

/* The decoded contents of a string without escapes: no copy needed. */
static inline const char *sn_jspan_raw(const struct sn_jspan *str, size_t *len)
{
	*len = str->len - 2;
	return str->p + 1;
}

/* True if v is a string whose decoded contents are exactly lit[0..n). */
bool sn_jspan_str_eq(const struct sn_jspan *v, const char *lit, size_t n);

/* An integer-form number (SN_JSPAN_INT) as int64, saturating at the int64
 * range like json-c's json_object_get_int64. SN_ERR_INVALID for anything else. */
int sn_jspan_int64(const struct sn_jspan *num, int64_t *out);
/* Any number as a double (strtod; ±HUGE_VAL when out of range). */
int sn_jspan_double(const struct sn_jspan *num, double *out);

/* ---- CSV (csv.c, libcsv) ------------------------------------------------------------- */

#define SN_CSV_MAX_FIELDS 64
/* Parses RFC 4180 CSV, calling row once per non-empty record with its
 * fields (NUL-terminated, lens[i] bytes; valid during the call only). A non-zero return from row
 * stops the parse and is returned. SN_ERR_INVALID with the line for malformed input, SN_ERR_TOO_BIG
 * for a record of more than SN_CSV_MAX_FIELDS. */
int sn_csv_parse(const char *data, size_t len,
		 int (*row)(void *ctx, const char *const *fields, const size_t *lens, size_t n),
		 void *ctx, struct sn_err *err);
/* Appends one field of a CSV record (RFC 4180; quoted only when it must be). */
int sn_csv_append_field(struct sn_buf *b, const char *s, size_t len);

/* ---- HTTP client (libcurl, httpc.c) --------------------------------------------- */

/* POSTs body (JSON) to url with `Authorization: Bearer <bearer>` when bearer
 * is non-empty; *status is the HTTP status and resp the body (up to its
 * max: a longer one is SN_ERR_TOO_BIG). SN_ERR_IO when no answer came
 * (connection refused, timeout after timeout_ms, TLS), with libcurl's reason. */
int sn_httpc_post_json(const char *url, const char *bearer, const char *body, size_t len,
		       long timeout_ms, long *status, struct sn_buf *resp, struct sn_err *err);

/* ---- GeoIP (geoip.c, libmaxminddb) ----------------------------------------------------- */

/* The place of an IP address, as the fields of PostHog's GeoIP enrichment
 * (spec posthog-wire.md §5.3). An empty string is a value the database does
 * not have; strings are UTF-8, truncated at a character boundary. */
struct sn_geoip_place {
	char city_name[128];
	char country_name[64];
	char country_code[4];
	char continent_name[32];
	char continent_code[4];
	char postal_code[32];
	char time_zone[64];
	char subdivision_1_code[16];
	char subdivision_1_name[128];
	char subdivision_2_code[16];
	char subdivision_2_name[128];
	bool has_location; /* latitude and longitude are set */
	double latitude, longitude;
	int accuracy_radius; /* km; -1 when unknown */
};

struct sn_geoip;

/* Opens a MaxMind DB file, or every *.mmdb file of a directory (DB-IP Lite
 * ships one per address family), memory-mapped. SN_ERR_NOT_FOUND when path
 * does not exist or holds no .mmdb file, SN_ERR_IO / SN_ERR_CORRUPT when a
 * file cannot be opened or is not a MaxMind DB; err says which. */
int sn_geoip_open(struct sn_geoip **out, const char *path, struct sn_err *err);
void sn_geoip_close(struct sn_geoip *g);
/* "path (database type, IPv4), ..." for the log. */
const char *sn_geoip_describe(const struct sn_geoip *g);
/* Looks up ip[0..len) (IPv4 or IPv6 text). 0 with *out filled; SN_ERR_INVALID
 * when it is not an address; SN_ERR_NOT_FOUND when the database has no
 * record for it (private ranges). Thread-safe; a few microseconds, no
 * allocation. */
int sn_geoip_lookup(const struct sn_geoip *g, const char *ip, size_t len,
		    struct sn_geoip_place *out, struct sn_err *err);
/* The same in two steps, for a cache of places: many addresses share one
 * record of the database, and reading a record's fields costs more than
 * finding it. sn_geoip_locate finds ip's record and sets *place to its id
 * (non-zero; the same record gives the same id for the handle's life),
 * with sn_geoip_lookup's errors; sn_geoip_place_of reads the record of an
 * id that sn_geoip_locate gave on this handle. */
int sn_geoip_locate(const struct sn_geoip *g, const char *ip, size_t len, uint64_t *place,
		    struct sn_err *err);
void sn_geoip_place_of(const struct sn_geoip *g, uint64_t place, struct sn_geoip_place *out);
/* Adds the place's $geoip_* properties (spec §5.3 names; the fields it has,
 * strings and numbers) to obj; returns how many, or SN_ERR_NOMEM. */
int sn_geoip_place_props(const struct sn_geoip_place *pl, struct json_object *obj);

#endif
