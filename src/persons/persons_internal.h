/*
 * persons_internal.h — pieces shared by the files of the persons module (and
 * its unit test), not by the rest of snout: the migration list of the SQLite
 * backend, the backend operations the identity rules are written against
 * (what a PostgreSQL backend must also provide), property helpers and the
 * SHA-1 behind UUIDv5.
 *
 * Backend operations (sn_pstore_*) expect the caller to hold the store lock
 * (sn_pstore_lock) and, for writes, an open transaction (sn_pstore_begin).
 * They fill err with "persons database: ..." messages on failure.
 */
#ifndef SN_PERSONS_INTERNAL_H
#define SN_PERSONS_INTERNAL_H

#include "persons/persons.h"

/* ---- migrations (migrations_sqlite.c) ------------------------------------ */

extern const struct sn_sql_migration sn_persons_sqlite_migrations[];
extern const size_t sn_persons_sqlite_nmigrations;

/* Opens the database file at path with a caller-chosen migration list (tests
 * simulate older and newer binaries). migs[i].version must be i + 1. */
int sn_persons_sqlite_open_with(struct sn_persons **out, const char *path,
				const struct sn_sql_migration *migs, size_t nmigs, int *applied,
				struct sn_err *err);

/* ---- backend operations (sqlite.c) --------------------------------------- */

void sn_pstore_lock(struct sn_persons *p);
void sn_pstore_unlock(struct sn_persons *p);
/* The connection, for backend files other than sqlite.c (flagkeys.c). Use
 * only with the lock held. */
struct sqlite3 *sn_pstore_db(struct sn_persons *p);
/* For deletions (delete.c): takes the lock once no ingest batch is open
 * (waiting for the worker to commit it; the worker's next batch waits for
 * this writer), so the caller's own transaction commits on its own. Pair
 * with sn_pstore_unlock_idle. */
void sn_pstore_lock_idle(struct sn_persons *p);
void sn_pstore_unlock_idle(struct sn_persons *p);
/* Tells the ingest worker's cache that persons vanished (sn_persons_generation). */
void sn_pstore_bump_generation(struct sn_persons *p);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. rollback never fails (it logs).
 * Inside an ingest batch: SAVEPOINT / RELEASE / ROLLBACK TO. */
int sn_pstore_begin(struct sn_persons *p, struct sn_err *err);
/* As sn_pstore_begin for one event of the identity rules, which write only
 * through the sn_pstore_* operations below: inside a batch no savepoint is
 * opened; each write records how to take itself back (a person or distinct
 * id inserted, the previous row of one changed, a personless id marked),
 * and sn_pstore_rollback undoes them, newest first. A write with no such
 * undo (merges' moves and deletes, overrides, groups, personless notes)
 * opens the savepoint then, for itself and the rest of the event. An undo
 * that fails rolls the whole batch back (as SQLite does after SQLITE_FULL),
 * so a half event is never committed. docs/PERSONS.md "Per-event
 * atomicity". Commit and rollback are sn_pstore_commit / _rollback. */
int sn_pstore_begin_event(struct sn_persons *p, struct sn_err *err);
/* Test hook: the nth write operation from now (1: the next) fails with
 * SN_ERR_IO, before it changes anything — with sticky, every one after it
 * too, the undo of a rolled-back event included; nth 0 turns it off. */
void sn_pstore_fail_write(struct sn_persons *p, int nth, bool sticky);
int sn_pstore_commit(struct sn_persons *p, struct sn_err *err);
void sn_pstore_rollback(struct sn_persons *p);

/* Lookups fill out (releasing what it held) or return SN_ERR_NOT_FOUND. */
int sn_pstore_person_by_distinct_id(struct sn_persons *p, int64_t team_id, const char *distinct_id,
				    struct sn_person *out, struct sn_err *err);
int sn_pstore_person_by_uuid(struct sn_persons *p, int64_t team_id, const char *uuid,
			     struct sn_person *out, struct sn_err *err);
/* Only the uuid of distinct_id's person (no row read, no parse). */
int sn_pstore_uuid_by_distinct_id(struct sn_persons *p, int64_t team_id, const char *distinct_id,
				  char out[37], struct sn_err *err);
/* SN_ERR_EXISTS when the team already has a person with that uuid. Also
 * drops an override whose old id is this uuid (a re-created person is live
 * again). */
int sn_pstore_person_insert(struct sn_persons *p, const struct sn_person *person,
			    struct sn_err *err);
/* The same with the properties as JSON object text (person->properties is
 * not read). */
int sn_pstore_person_insert_text(struct sn_persons *p, const struct sn_person *person,
				 const char *text, size_t len, struct sn_err *err);
/* Writes properties, is_identified, created_at and version of person->uuid. */
int sn_pstore_person_update(struct sn_persons *p, const struct sn_person *person,
			    struct sn_err *err);
int sn_pstore_person_delete(struct sn_persons *p, int64_t team_id, const char *uuid,
			    struct sn_err *err);
/* Points distinct_id at person_uuid (insert, or move with version + 1). */
int sn_pstore_distinct_id_set(struct sn_persons *p, int64_t team_id, const char *distinct_id,
			      const char *person_uuid, struct sn_err *err);
/* Moves every distinct id of from_uuid to to_uuid (version + 1 each). */
int sn_pstore_distinct_ids_move(struct sn_persons *p, int64_t team_id, const char *from_uuid,
				const char *to_uuid, struct sn_err *err);
/* Records old → new and repoints every override that ended at old, so the
 * table stays flat (each old id maps straight to a live person). */
int sn_pstore_override_add(struct sn_persons *p, int64_t team_id, const char *old_uuid,
			   const char *new_uuid, struct sn_err *err);
/* Notes that distinct_id was used by a personless event (idempotent). */
int sn_pstore_personless_add(struct sn_persons *p, int64_t team_id, const char *distinct_id,
			     struct sn_err *err);
/* *seen: some personless event used distinct_id. Marks the row merged. */
int sn_pstore_personless_take(struct sn_persons *p, int64_t team_id, const char *distinct_id,
			      bool *seen, struct sn_err *err);
/* Index of group_type; when absent and create is set, assigns the lowest
 * free index 0..4. SN_ERR_NOT_FOUND when absent and !create; SN_ERR_TOO_BIG
 * when the team already has SN_GROUP_TYPES_MAX types. */
int sn_pstore_group_type_index(struct sn_persons *p, int64_t team_id, const char *group_type,
			       bool create, int *index, struct sn_err *err);
/* Adds group_type at exactly index (import of another install's mapping);
 * SN_ERR_EXISTS when the index is taken. */
int sn_pstore_group_type_add(struct sn_persons *p, int64_t team_id, const char *group_type,
			     int index, struct sn_err *err);
int sn_pstore_group_get(struct sn_persons *p, int64_t team_id, int index, const char *key,
			struct sn_group *out, struct sn_err *err);
/* Inserts g (version 0) or, when it exists, writes properties and version. */
int sn_pstore_group_put(struct sn_persons *p, const struct sn_group *g, bool exists,
			struct sn_err *err);

/* ---- the lookup cache (lcache.c) ----------------------------------------- */

/* Distinct id → person answers of sn_persons_get_by_distinct_id, misses
 * included, validated by generation stripes that every store write bumps
 * (lcache.c explains the invariant). Thread-safe; bumps and stamps must be
 * taken under the store lock, lookups and fills need no lock. */
struct sn_lcache;
struct sn_lcache_stamp {
	uint32_t did, uuid, all; /* generations when the row was read */
	uint32_t did_stripe, uuid_stripe;
};
/* The persons database's SQLite page cache, in KiB (a string for the PRAGMA). */
#define SN_PERSONS_CACHE_KIB "65536"
#define SN_LCACHE_ENTRIES    (128 * 1024)
int sn_lcache_new(struct sn_lcache **out, size_t entries);
void sn_lcache_free(struct sn_lcache *c); /* NULL-safe */
/* A write changed what key (a distinct id or a person uuid) maps to. NULL-safe. */
void sn_lcache_touch(struct sn_lcache *c, int64_t team_id, const char *key);
/* A write whose rows are not named (deletion, rollback, another process). NULL-safe. */
void sn_lcache_touch_all(struct sn_lcache *c);
/* The stamps of a lookup, taken with the row it reads (under the store
 * lock): the distinct id's first, then, when a person was found, its uuid's. */
void sn_lcache_stamp_did(struct sn_lcache *c, int64_t team_id, const char *did,
			 struct sn_lcache_stamp *st);
void sn_lcache_stamp_uuid(struct sn_lcache *c, int64_t team_id, const char *uuid,
			  struct sn_lcache_stamp *st);
/* 1: out is filled (properties parsed from the cached text, out released
 * first), 0: cached as "no person", -1: not cached or stale. */
int sn_lcache_get(struct sn_lcache *c, int64_t team_id, const char *did, struct sn_person *out);
/* Caches the answer read with st: person NULL for "no person", else its
 * columns and props (the stored JSON text). Silently skipped when out of
 * memory or past the properties bounds. */
void sn_lcache_put(struct sn_lcache *c, int64_t team_id, const char *did,
		   const struct sn_lcache_stamp *st, const struct sn_person *person,
		   const char *props, size_t props_len);
void sn_lcache_stats(struct sn_lcache *c, uint64_t *hits, uint64_t *misses);
/* The store's cache (sqlite.c), for the unit test. */
struct sn_lcache *sn_pstore_lcache(struct sn_persons *p);

/* ---- the absence filter (absent.c) ----------------------------------------- */

/* A blocked Bloom filter over (team, kind, key): sn_absent_may_have false
 * means the key was never added. kind is one of the SN_ABSENT_* tables.
 * Sized for capacity keys (at least 1024); sn_absent_full says when more
 * were added (the owner then builds a larger one). Not thread-safe. */
enum { SN_ABSENT_DID = 'd', SN_ABSENT_PERSONLESS = 'p', SN_ABSENT_OVERRIDE = 'o' };
struct sn_absent;
int sn_absent_new(struct sn_absent **out, size_t capacity);
void sn_absent_free(struct sn_absent *f); /* NULL-safe */
void sn_absent_add(struct sn_absent *f, int64_t team, int kind, const char *key, size_t n);
bool sn_absent_may_have(const struct sn_absent *f, int64_t team, int kind, const char *key,
			size_t n);
bool sn_absent_full(const struct sn_absent *f);
size_t sn_absent_bytes(const struct sn_absent *f); /* 0 for NULL */
/* The store's use of it (sqlite.c), for the unit test: lookups the filter
 * answered, and how many times it was filled from the tables. */
void sn_pstore_absent_stats(struct sn_persons *p, uint64_t *answered, uint64_t *builds);
/* Test hook: filters are made with room for slack new keys (65536 by
 * default; the minimum filter holds 1024), and the next lookup fills one. */
void sn_pstore_absent_test_slack(struct sn_persons *p, size_t slack);

/* ---- properties (props.c) ------------------------------------------------ */

/* $set_once keys the person lacks, then $set keys that differ, then $unset
 * (an array of key strings, or an object whose keys are removed). Non-object
 * $set/$set_once are ignored. Returns true when props changed. */
bool sn_props_apply(struct json_object *props, struct json_object *set,
		    struct json_object *set_once, struct json_object *unset);
/* An event's updates: as sn_props_apply, except that with filter (an event
 * that is not a person event) nothing is applied unless some change is more
 * than a new value of a key the person has and sn_persons_update_key_filtered
 * names — a $set_once or $set of a key it lacks, a $set of another key, an
 * $unset of a key it has. Then everything is applied, filtered keys too. */
bool sn_props_apply_event(struct json_object *props, struct json_object *set,
			  struct json_object *set_once, struct json_object *unset, bool filter);
/* spec §5.2: adds initial/UTM/campaign values of the event's properties to
 * its $set and $set_once (creating them), explicit values winning. */
int sn_props_add_initial(struct json_object *properties);
/* Serialises o into b (reset first), failing with SN_ERR_TOO_BIG past
 * SN_PERSON_PROPS_MAX. */
int sn_props_serialise(struct json_object *o, struct sn_buf *b);
/* The text new_person_props and the json-c serialiser give for an event
 * whose only $set / $set_once are extra's and its §5.2 values (which
 * sn_props_add_initial appends to them), appended to b: $set_once applied
 * first (extra's, then $initial_<key> of each non-null value, in list
 * order), then $set (extra's, then each key), then $creator_event_uuid
 * (plain: nothing to escape). values / lens as sn_identity_create_unseen. */
int sn_props_new_person_text(struct sn_buf *b, const char *event_uuid,
			     const struct sn_identity_members *extra, const char *const values[],
			     const size_t lens[]);

/* ---- UUIDv5 (uuid5.c) ------------------------------------------------------ */

/* UUIDv5 of name in namespace ns. */
void sn_persons_uuid_v5(const struct sn_uuid *ns, const void *name, size_t len,
			struct sn_uuid *out);

#endif
