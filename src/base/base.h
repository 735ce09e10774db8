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

#include <json-c/json.h>

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
int sn_buf_appends(struct sn_buf *b, const char *s);
int sn_buf_appendc(struct sn_buf *b, char c);
int sn_buf_appendf(struct sn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes included, escapes as needed). */
int sn_buf_append_json_str(struct sn_buf *b, const char *s, size_t n);
/* Hands the allocation to the caller (who frees it) and resets b. */
char *sn_buf_detach(struct sn_buf *b, size_t *len);

/* ---- arena ------------------------------------------------------------------ */

/* Bump allocator for things that live as long as one request or query. Chunks
 * are malloc'd as needed; nothing is freed until sn_arena_release. A maximum
 * total size bounds a runaway request. */
struct sn_arena_chunk;
struct sn_arena {
	struct sn_arena_chunk *head;
	size_t used_total;
	size_t max_total;
};

void sn_arena_init(struct sn_arena *a, size_t max_total);
void sn_arena_release(struct sn_arena *a);
/* Returns NULL when the maximum is reached or malloc fails. 16-byte aligned. */
void *sn_arena_alloc(struct sn_arena *a, size_t n);
char *sn_arena_strndup(struct sn_arena *a, const char *s, size_t n);
char *sn_arena_strdup(struct sn_arena *a, const char *s);

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
/* Formats epoch microseconds as RFC 3339 UTC with milliseconds:
 * "2025-01-01T12:00:00.123Z". out must hold 32 bytes. */
void sn_time_format_rfc3339(int64_t us, char out[32]);
/* Parses exactly what sn_time_format_rfc3339 writes (24 characters, UTC,
 * milliseconds). SN_ERR_INVALID otherwise. */
int sn_time_parse_rfc3339_ms(const char *s, size_t len, int64_t *us);
/* Days since 1970-01-01 for a proleptic Gregorian date, and back. */
int64_t sn_days_from_civil(int64_t y, unsigned m, unsigned d);
void sn_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

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
/* Fast non-cryptographic 64-bit hash (XXH3) for tables. */
uint64_t sn_hash64(const void *data, size_t len);
/* CRC-32C-free choice: the WAL uses zlib's crc32; wrapped here to keep zlib in one place. */
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
/* Case-insensitive ASCII comparison of s[0..n) with the NUL-terminated lit. */
bool sn_str_ieq(const char *s, size_t n, const char *lit);
/* Parses a size such as "20MiB", "512k", "1048576" into bytes. */
int sn_parse_size(const char *s, uint64_t *out);
/* Parses a duration such as "1s", "250ms", "5m" into milliseconds. */
int sn_parse_duration_ms(const char *s, int64_t *out);
int sn_parse_bool(const char *s, bool *out);
/* Creates a directory and its parents (mode 0755); existing is fine. */
int sn_mkdir_p(const char *path, struct sn_err *err);
/* fsync of a directory, after a rename or create inside it. */
int sn_fsync_dir(const char *path, struct sn_err *err);

#endif
