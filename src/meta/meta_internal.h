/*
 * meta_internal.h — pieces shared by the files of the meta module (and its
 * unit test), not by the rest of snout: the migration list of the SQLite
 * backend, the token → team cache, and hooks that let tests drive the
 * migration runner with their own list and count the SQL lookups behind the
 * cache.
 */
#ifndef SN_META_INTERNAL_H
#define SN_META_INTERNAL_H

#include "meta/meta.h"

/* ---- migrations (migrations_sqlite.c) ------------------------------------- */

/* One numbered schema change. Versions start at 1 and are consecutive; a
 * released migration is never edited or removed, only followed by new ones. */
extern const struct sn_sql_migration sn_meta_sqlite_migrations[];
extern const size_t sn_meta_sqlite_nmigrations;

/* sn_meta_open with a caller-chosen migration list (tests simulate an older
 * or newer binary with it). migs[i].version must be i + 1. */
int sn_meta_sqlite_open_with(struct sn_meta **out, const char *path,
			     const struct sn_sql_migration *migs, size_t nmigs, int *applied,
			     struct sn_err *err);

/* How many times sn_meta_team_by_token went to SQLite (cache misses). */
uint64_t sn_meta_sqlite_token_queries(struct sn_meta *m);

/* The connection, for the other files of the backend (flags.c): taken with
 * the handle's mutex held; every statement is finalized or reset before
 * sn_meta_sqlite_unlock. */
sqlite3 *sn_meta_sqlite_lock(struct sn_meta *m);
void sn_meta_sqlite_unlock(struct sn_meta *m);
/* Statements the object files keep prepared for the life of the handle:
 * the hot ones, run often enough that preparing them per call would cost
 * more than the lookup itself (propdefs.c). */
enum sn_meta_kept_stmt {
	SN_META_ST_PROPDEF_TYPE,   /* HogQL's type lookup, once per property read */
	SN_META_ST_PROPDEF_RECORD, /* ingestion's upsert, once per definition seen */
	SN_META_NKEPT
};
/* *s = the statement which, prepared from sql on first use (the same sql
 * at every call). Caller holds the lock and resets the statement
 * (sqlite3_reset and sqlite3_clear_bindings) before unlocking; it is
 * finalized by sn_meta_close, never by the caller. Fails (err set) only when
 * it cannot be prepared. */
int sn_meta_sqlite_kept(struct sn_meta *m, enum sn_meta_kept_stmt which, const char *sql,
			sqlite3_stmt **s, struct sn_err *err);

/* ---- shared by the object files (activity.c) -------------------------------- */

/* err = "metadata database: <what>: <sqlite message>" with the SN_ERR_*
 * code of rc; returns that code. */
int sn_meta_sql_err(sqlite3 *db, int rc, struct sn_err *err, const char *what);
/* Prepares sql (caller holds the lock); on failure err is set. */
int sn_meta_sql_prep(sqlite3 *db, const char *sql, sqlite3_stmt **s, struct sn_err *err);
/* BEGIN IMMEDIATE, and COMMIT when ret == 0 (else ROLLBACK); returns ret or
 * the commit's error. */
void sn_meta_tx_begin(sqlite3 *db);
int sn_meta_tx_end(sqlite3 *db, int ret, struct sn_err *err);
/* One page of a REST list: count_sql counts the matches, page_sql selects
 * them with LIMIT ?limit_param OFFSET ?limit_param+1; bind binds the
 * filters to both. Rows (row_size bytes each, read by read; a row it
 * fails is skipped) are copied out under the lock into a calloc'd array
 * (*rows_out, free it after releasing each of the *n_out rows), so the
 * caller hands them on after the lock is released. o->limit is capped at
 * max; a limit of 0 only counts. */
struct sn_meta_page {
	const char *count_sql, *page_sql;
	int limit_param;
	int64_t max;
	void (*bind)(sqlite3_stmt *s, const void *ctx);
	const void *bind_ctx;
	size_t row_size;
	int (*read)(sqlite3_stmt *s, void *row);
	const char *what; /* "counting cohorts", for errors */
};
int sn_meta_list_page(struct sn_meta *m, const struct sn_meta_page *pg,
		      const struct sn_meta_list_opts *o, int64_t *total, void *rows_out,
		      size_t *n_out, struct sn_err *err);
/* The usual filters: ?1 the team, ?2 a search text or NULL. */
struct sn_meta_team_search {
	int64_t team_id;
	const char *search;
};
void sn_meta_list_page_bind_team_search(sqlite3_stmt *s, const void *ctx);
/* o as compact JSON text, owned by o. */
const char *sn_meta_json_text(struct json_object *o);
/* Appends {"type": scope, "action", "field", "before", "after"} to changes;
 * takes ownership of before and after (either may be NULL). */
void sn_meta_activity_change(struct json_object *changes, const char *scope, const char *action,
			     const char *field, struct json_object *before,
			     struct json_object *after);
/* Writes one posthog_activitylog row for item_id of scope ("FeatureFlag",
 * "Annotation", "Action") inside the caller's transaction. Takes ownership
 * of changes (NULL = []). */
int sn_meta_activity_write(sqlite3 *db, int64_t team_id, int64_t user_id, const char *scope,
			   int64_t item_id, const char *activity, const char *name,
			   struct json_object *changes, int64_t now_us, struct sn_err *err);
/* The "created" entry every object writes once it has its id. */
int sn_meta_activity_created(sqlite3 *db, int64_t team_id, int64_t user_id, const char *scope,
			     int64_t item_id, const char *name, int64_t now_us, struct sn_err *err);

/* ---- feature flags (flags.c) ------------------------------------------------ */

/* Per-team change generations and cached active-flag counts. */
struct sn_meta_flagstate;
struct sn_meta_flagstate *sn_meta_flagstate_new(void);
void sn_meta_flagstate_free(struct sn_meta_flagstate *fs);
struct sn_meta_flagstate *sn_meta_sqlite_flagstate(struct sn_meta *m);

/* ---- token → team cache (cache.c) ----------------------------------------- */

/* Negative entries (token known not to exist) live this long and are at most
 * this many; see cache.c. */
#define SN_META_NEG_TTL_US (5 * 1000 * 1000)
#define SN_META_NEG_MAX	   10000
/* Longest token a lookup can match: struct sn_team.api_token holds 71. */
#define SN_META_TOKEN_MAX (sizeof(((struct sn_team *)0)->api_token) - 1)

enum sn_meta_cache_result {
	SN_META_CACHE_MISS = 0, /* ask the database */
	SN_META_CACHE_HIT,	/* *out filled */
	SN_META_CACHE_NEGATIVE, /* known unknown, not yet expired */
};

struct sn_meta_cache;

/* NULL when out of memory. */
struct sn_meta_cache *sn_meta_cache_new(void);
void sn_meta_cache_free(struct sn_meta_cache *c);
/* Lookup under a read lock; tokens longer than SN_META_TOKEN_MAX miss. */
enum sn_meta_cache_result sn_meta_cache_get(struct sn_meta_cache *c, const char *token, size_t len,
					    int64_t now_us, struct sn_team *out);
/* Inserts or replaces the positive entry for t->api_token (replacing a
 * negative one). Out of memory leaves the cache without the entry, which only
 * costs a later miss. */
void sn_meta_cache_put(struct sn_meta_cache *c, const struct sn_team *t);
/* flags.c: makes the flag caches of team_id rebuild (settings they use changed). */
void sn_meta_flags_bump_generation(struct sn_meta *m, int64_t team_id);
/* Records that token does not exist until now_us + SN_META_NEG_TTL_US. Never
 * replaces a positive entry: a concurrent create wins over a stale miss. */
void sn_meta_cache_put_negative(struct sn_meta_cache *c, const char *token, size_t len,
				int64_t now_us);
/* Number of negative entries (tests check the bound). */
size_t sn_meta_cache_negative_count(struct sn_meta_cache *c);

/* Small validation helpers the object models (flags, annotations, actions)
 * share. */
static inline bool sn_meta_json_is_null(struct json_object *o)
{
	return !o || json_object_is_type(o, json_type_null);
}

/* UTF-8 code points in s[0..n): PostHog's max_length counts characters. */
static inline size_t sn_meta_utf8_chars(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += ((unsigned char)s[i] & 0xC0) != 0x80;
	return c;
}

/* Whether s (may be NULL: false) is one of list[0..n). */
static inline bool sn_meta_in_list(const char *s, const char *const *list, size_t n)
{
	for (size_t i = 0; s && i < n; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

/* ---- saved insights and dashboards (insights_saved.c, dashboards.c) ------------ */

/* Field checks the insight and dashboard models share, in DRF's words:
 * tags an array of ≤ 100 strings (or null); a string field of at most
 * max_chars characters (0: only snout's 64 KiB bound), null allowed when
 * nullable; a boolean. Absent fields pass. SN_ERR_INVALID with ve filled. */
int sn_meta_check_tags(struct json_object *body, struct sn_meta_verr *ve);
int sn_meta_check_string(struct json_object *body, const char *name, bool nullable,
			 size_t max_chars, struct sn_meta_verr *ve);
int sn_meta_check_bool(struct json_object *body, const char *name, struct sn_meta_verr *ve);

#endif
