/*
 * sqlite.c — the embedded person store: persons.h's reading functions and
 * the sn_pstore_* backend operations of persons_internal.h over one SQLite
 * file (<data dir>/persons.sqlite3) in WAL mode. The schema and its
 * migrations are in migrations_sqlite.c; the identity rules that drive the
 * writes are in identity.c.
 *
 *   struct sn_persons
 *   +-----------+      +----------------------------------------+
 *   | mu        |----->| sqlite3 *db, prepared statements st[]  |
 *   +-----------+      +----------------------------------------+
 *
 * Concurrency: one connection (SQLITE_OPEN_NOMUTEX) guarded by our mutex
 * p->mu, as in meta/sqlite.c. Public reads take mu themselves; identity.c
 * takes it once per event (sn_pstore_lock) and runs every statement of that
 * event inside BEGIN IMMEDIATE ... COMMIT, so an event's identity change is
 * atomic and two ingest threads can never both see "no person" for one
 * distinct id and create two. A separate file from meta.sqlite3 keeps
 * person writes — many per second under ingestion — from holding the
 * metadata file's single writer lock.
 *
 * Durability: journal_mode=WAL, synchronous=FULL: a commit is on disk when
 * it returns. Ingestion commits once per store flush, and the WAL behind
 * that flush is deleted right after, so a commit lost to a power cut could
 * not be replayed; one fsync per flush (about one a second) is cheap.
 *
 * Batches: the ingest worker keeps one transaction open across many events
 * (sn_persons_batch_begin ... sn_persons_batch_commit, one commit per store
 * flush). Inside it, sn_pstore_begin/commit/rollback become SAVEPOINT /
 * RELEASE / ROLLBACK TO, so each event is still all or nothing; the
 * identity rules' events (sn_pstore_begin_event) instead log an undo of
 * each common write in memory and open the savepoint only before a rare
 * write that has none ("Per-event atomicity without savepoints" below,
 * docs/PERSONS.md "Per-event atomicity"). The commit
 * also records the WAL position the batch reaches (snout_ingest_state),
 * which is what makes replay after a crash exact (docs/PERSONS.md). Any
 * other writer on this connection while a batch is open joins the batch and
 * is committed with it; today every person write comes from ingestion (the
 * API writes persons by appending events to the WAL).
 *
 * Deletions (delete.c) are the one write that does not come through
 * ingestion: they wait for the open batch to commit (p->idle, under mu)
 * and then run in their own transaction, which the next sn_persons_batch_begin
 * waits for (writers_waiting), so a steady event stream cannot starve them.
 * secure_delete is on so deleted rows are overwritten in their pages, not
 * left in free space (docs/PERSONS.md, "Deleting persons").
 *
 * Lookups by distinct id (sn_persons_get_by_distinct_id, what /flags asks
 * on every request) go through the cache of lcache.c first; every write
 * function here bumps the cache's generation of the distinct id or person
 * it changes, under mu, and rollbacks and deletions bump all of them.
 * Inside this connection's write transactions the absence filter
 * (absent.c) answers "no such distinct id, personless note or override"
 * before SQLite is asked; every insert here adds its key, and a commit by
 * another connection (data_version, looked at after each BEGIN IMMEDIATE)
 * makes it be filled again from the tables.
 *
 * Errors: SQLite result codes map to SN_ERR_* as in meta (UNIQUE →
 * SN_ERR_EXISTS, I/O and locking → SN_ERR_IO, damage → SN_ERR_CORRUPT).
 *
 * Rejected: keeping persons in meta.sqlite3. One file is simpler to back up,
 * but it puts ingestion's steady write stream behind the same write lock as
 * a person creating a project, and PostHog itself separates the two
 * (persons live in their own database at scale).
 */
#include "persons/persons_internal.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_FILE "persons.sqlite3"

#define PERSON_COLS "p.uuid, p.properties, p.is_identified, p.created_at, p.version"

enum stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_PERSON_BY_DID,
	ST_UUID_BY_DID,
	ST_PERSON_BY_UUID,
	ST_PERSON_INSERT,
	ST_PERSON_UPDATE,
	ST_PERSON_DELETE,
	ST_DID_SET,
	ST_DID_MOVE,
	ST_DID_LIST,
	ST_OVR_REPOINT,
	ST_OVR_PUT,
	ST_OVR_GET,
	ST_OVR_DEL,
	ST_OVR_LIST,
	ST_PL_ADD,
	ST_PL_GET,
	ST_PL_MERGED,
	ST_GT_GET,
	ST_GT_USED,
	ST_GT_INSERT,
	ST_GROUP_GET,
	ST_GROUP_INSERT,
	ST_GROUP_UPDATE,
	ST_DID_PRE,
	ST_DID_DEL,
	ST_DID_RESTORE,
	ST_PL_UNMERGE,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_LSN_GET,
	ST_LSN_SET,
	ST_DATA_VERSION,
	NSTMT
};

static const char *const stmt_sql[NSTMT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PERSON_BY_DID] =
	"SELECT " PERSON_COLS " FROM posthog_persondistinctid d"
	" JOIN posthog_person p ON p.team_id = d.team_id AND p.uuid = d.person_uuid"
	" WHERE d.team_id = ?1 AND d.distinct_id = ?2 AND d.is_deleted = 0",
    [ST_UUID_BY_DID] = "SELECT person_uuid FROM posthog_persondistinctid"
		       " WHERE team_id = ?1 AND distinct_id = ?2 AND is_deleted = 0",
    [ST_PERSON_BY_UUID] = "SELECT " PERSON_COLS " FROM posthog_person p"
			  " WHERE p.team_id = ?1 AND p.uuid = ?2",
    [ST_PERSON_INSERT] = "INSERT INTO posthog_person (team_id, uuid, properties, is_identified,"
			 " created_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_PERSON_UPDATE] = "UPDATE posthog_person SET properties = ?3, is_identified = ?4,"
			 " created_at = ?5, version = ?6 WHERE team_id = ?1 AND uuid = ?2",
    [ST_PERSON_DELETE] = "DELETE FROM posthog_person WHERE team_id = ?1 AND uuid = ?2",
    [ST_DID_SET] = "INSERT INTO posthog_persondistinctid (team_id, distinct_id, person_uuid)"
		   " VALUES (?1, ?2, ?3) ON CONFLICT (team_id, distinct_id) DO UPDATE SET"
		   " person_uuid = excluded.person_uuid, is_deleted = 0, version = version + 1"
		   " WHERE person_uuid <> excluded.person_uuid OR is_deleted <> 0",
    [ST_DID_MOVE] = "UPDATE posthog_persondistinctid SET person_uuid = ?3, version = version + 1"
		    " WHERE team_id = ?1 AND person_uuid = ?2 AND is_deleted = 0",
    [ST_DID_LIST] = "SELECT distinct_id FROM posthog_persondistinctid"
		    " WHERE team_id = ?1 AND person_uuid = ?2 AND is_deleted = 0 ORDER BY id",
    [ST_OVR_REPOINT] = "UPDATE posthog_personoverride SET override_person_id = ?3,"
		       " version = version + 1 WHERE team_id = ?1 AND override_person_id = ?2",
    [ST_OVR_PUT] = "INSERT INTO posthog_personoverride (team_id, old_person_id,"
		   " override_person_id, created_at) VALUES (?1, ?2, ?3, ?4)"
		   " ON CONFLICT (team_id, old_person_id) DO UPDATE SET"
		   " override_person_id = excluded.override_person_id, version = version + 1",
    [ST_OVR_GET] = "SELECT override_person_id FROM posthog_personoverride"
		   " WHERE team_id = ?1 AND old_person_id = ?2",
    [ST_OVR_DEL] = "DELETE FROM posthog_personoverride WHERE team_id = ?1 AND old_person_id = ?2",
    [ST_OVR_LIST] = "SELECT old_person_id, override_person_id FROM posthog_personoverride"
		    " WHERE team_id = ?1 ORDER BY old_person_id",
    [ST_PL_ADD] = "INSERT OR IGNORE INTO posthog_personlessdistinctid (team_id, distinct_id,"
		  " created_at) VALUES (?1, ?2, ?3)",
    [ST_PL_GET] = "SELECT is_merged FROM posthog_personlessdistinctid"
		  " WHERE team_id = ?1 AND distinct_id = ?2",
    [ST_PL_MERGED] = "UPDATE posthog_personlessdistinctid SET is_merged = 1"
		     " WHERE team_id = ?1 AND distinct_id = ?2",
    [ST_GT_GET] = "SELECT group_type_index FROM posthog_grouptypemapping"
		  " WHERE team_id = ?1 AND group_type = ?2",
    [ST_GT_USED] = "SELECT group_type_index FROM posthog_grouptypemapping WHERE team_id = ?1",
    [ST_GT_INSERT] = "INSERT INTO posthog_grouptypemapping (team_id, group_type,"
		     " group_type_index) VALUES (?1, ?2, ?3)",
    [ST_GROUP_GET] = "SELECT group_properties, created_at, version FROM posthog_group"
		     " WHERE team_id = ?1 AND group_type_index = ?2 AND group_key = ?3",
    [ST_GROUP_INSERT] = "INSERT INTO posthog_group (team_id, group_type_index, group_key,"
			" group_properties, created_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_GROUP_UPDATE] = "UPDATE posthog_group SET group_properties = ?4, created_at = ?5,"
			" version = ?6"
			" WHERE team_id = ?1 AND group_type_index = ?2 AND group_key = ?3",
    [ST_DID_PRE] = "SELECT person_uuid, is_deleted, version FROM posthog_persondistinctid"
		   " WHERE team_id = ?1 AND distinct_id = ?2",
    [ST_DID_DEL] = "DELETE FROM posthog_persondistinctid WHERE team_id = ?1 AND distinct_id = ?2",
    [ST_DID_RESTORE] = "UPDATE posthog_persondistinctid SET person_uuid = ?3, is_deleted = ?4,"
		       " version = ?5 WHERE team_id = ?1 AND distinct_id = ?2",
    [ST_PL_UNMERGE] = "UPDATE posthog_personlessdistinctid SET is_merged = 0"
		      " WHERE team_id = ?1 AND distinct_id = ?2",
    [ST_SAVEPOINT] = "SAVEPOINT ev",
    [ST_RELEASE] = "RELEASE ev",
    [ST_ROLLBACK_TO] = "ROLLBACK TO ev",
    [ST_LSN_GET] = "SELECT wal_lsn FROM snout_ingest_state WHERE id = 1",
    [ST_LSN_SET] = "UPDATE snout_ingest_state SET wal_lsn = ?1 WHERE id = 1",
    [ST_DATA_VERSION] = "PRAGMA data_version",
};

struct sn_persons {
	pthread_mutex_t mu; /* guards db and st[] */
	sqlite3 *db;
	sqlite3_stmt *st[NSTMT];
	int code_version;
	struct sn_buf json;	     /* serialisation scratch, under mu */
	bool batch;		     /* an ingest batch transaction is open (under mu) */
	pthread_cond_t idle;	     /* signalled when a batch or a deletion ends (with mu) */
	unsigned writers_waiting;    /* deletions waiting for the batch to end (under mu) */
	_Atomic uint64_t generation; /* bumped by every deletion */
	struct sn_lcache *lcache;    /* distinct id lookups (lcache.c) */
	_Atomic uint64_t dv_next_ns; /* when to look at data_version again */
	int64_t data_version;	     /* PRAGMA data_version when last looked (under mu) */
	/* by [identify][key count], prepared on use */
	sqlite3_stmt *set_values[2][SN_PERSONS_SET_MAX + 1];
	struct sn_sqlite_ckpt *ckpt; /* background WAL checkpoints (NULL: in memory) */
	/* The event of sn_pstore_begin_event inside a batch (under mu): its
	 * writes are undone from undo[] (texts in undo_text), until one
	 * without an undo opens a savepoint (ev_sp) for the rest. */
	bool ev_lazy, ev_sp;
	struct undo *undo;
	size_t nundo, capundo;
	struct sn_buf undo_text;
	int fail_in;	  /* test hook: the fail_in-th write from now fails (0: off) */
	bool fail_sticky; /* ... and every write after it, undos included */
	int refuse_json;  /* test hook: the refuse_json-th set_values with values is refused */
	/* The open ingest batch was rolled back under the worker: batches are
	 * refused until sn_persons_batch_rollback (batch_lost). Under mu. */
	bool lost;
	/* The absence filter (absent.c) over the distinct-id, personless and
	 * override tables: trusted (absent_ok) from when it is filled until
	 * another connection commits (check_data_version) or it is full, and
	 * only inside this connection's write transaction. Under mu. */
	struct sn_absent *absent;
	bool absent_ok;
	bool absent_failed;  /* a fill failed in this transaction: not retried in it */
	size_t absent_slack; /* room for new keys a filter is made with */
	uint64_t absent_answered, absent_builds;
};

/* How to take back one write of a lazy event (see "Per-event atomicity"). */
enum undo_kind {
	U_PERSON_DELETE,  /* an inserted person: delete it */
	U_PERSON_RESTORE, /* an updated person: write back text, flag, created_at, version */
	U_DID_DELETE,	  /* an inserted distinct id: delete it */
	U_DID_RESTORE,	  /* a changed distinct id: write back text (uuid), flag, version */
	U_PL_UNMERGE,	  /* a personless id marked merged: clear the mark */
};
struct undo {
	enum undo_kind kind;
	int64_t team_id;
	size_t key, text; /* offsets of NUL-terminated strings in undo_text */
	bool flag;	  /* is_identified or is_deleted */
	int64_t created_at_us, version;
};

/* ---- small helpers --------------------------------------------------------- */

/* Sets err from the connection's last error. Caller holds p->mu. */
static int db_fail(struct sn_persons *p, int rc, struct sn_err *err, const char *what)
{
	return sn_err_set(err, sn_sqlite_rc(rc), "persons database: %s: %s", what,
			  sqlite3_errmsg(p->db));
}

static void done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* Parses a stored properties column; anything but an object is damage. */
static int col_props(struct sn_persons *p, sqlite3_stmt *s, int i, struct json_object **out,
		     struct sn_err *err)
{
	(void)p;
	const char *t = (const char *)sqlite3_column_text(s, i);
	size_t n = t ? (size_t)sqlite3_column_bytes(s, i) : 0;
	struct json_object *o = NULL;
	int ret = sn_json_parse(t ? t : "{}", t ? n : 2, &o, err);
	if (ret == 0 && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
		ret = sn_err_set(err, SN_ERR_CORRUPT, "stored properties are not a JSON object");
	}
	if (ret < 0) {
		sn_err_prefix(err, "persons database");
		return SN_ERR_CORRUPT;
	}
	*out = o;
	return 0;
}

/* Steps a statement that returns no rows. Resets it. */
static int run(struct sn_persons *p, sqlite3_stmt *s, struct sn_err *err, const char *what)
{
	int rc = sqlite3_step(s);
	int ret = rc == SQLITE_DONE ? 0 : db_fail(p, rc, err, what);
	done(s);
	return ret;
}

void sn_persons_release_memory(struct sn_persons *p)
{
	pthread_mutex_lock(&p->mu);
	sqlite3_db_release_memory(p->db);
	pthread_mutex_unlock(&p->mu);
}

void sn_pstore_lock(struct sn_persons *p)
{
	pthread_mutex_lock(&p->mu);
}

void sn_pstore_unlock(struct sn_persons *p)
{
	pthread_mutex_unlock(&p->mu);
}

void sn_pstore_lock_idle(struct sn_persons *p)
{
	pthread_mutex_lock(&p->mu);
	p->writers_waiting++;
	while (p->batch && !sqlite3_get_autocommit(p->db))
		pthread_cond_wait(&p->idle, &p->mu);
	p->writers_waiting--;
}

void sn_pstore_unlock_idle(struct sn_persons *p)
{
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->mu);
}

void sn_pstore_bump_generation(struct sn_persons *p)
{
	atomic_fetch_add(&p->generation, 1);
	sn_lcache_touch_all(p->lcache);
}

struct sn_lcache *sn_pstore_lcache(struct sn_persons *p)
{
	return p->lcache;
}

/* PRAGMA data_version moves when another connection (another process)
 * commits to the file; that write named no rows to the caches, so all of
 * them go: the lookup cache's stamps and, through the generation, the
 * ingest worker's distinct-id cache. Caller holds mu. */
static void check_data_version(struct sn_persons *p)
{
	sqlite3_stmt *s = p->st[ST_DATA_VERSION];
	if (sqlite3_step(s) == SQLITE_ROW) {
		int64_t v = sqlite3_column_int64(s, 0);
		if (v != p->data_version) {
			/* The ingest worker's cache too: a person it holds may have
			 * been merged away (`snout persons import`). */
			sn_pstore_bump_generation(p);
			p->absent_ok = false; /* rows it does not know may exist */
		}
		p->data_version = v;
	}
	done(s);
}

uint64_t sn_persons_generation(struct sn_persons *p)
{
	return atomic_load_explicit(&p->generation, memory_order_acquire);
}

/* For flagkeys.c, which keeps its statements to itself. */
sqlite3 *sn_pstore_db(struct sn_persons *p)
{
	return p->db;
}

/* ---- open, migrations, close ----------------------------------------------- */

int sn_persons_sqlite_open_with(struct sn_persons **out, const char *path,
				const struct sn_sql_migration *migs, size_t nmigs, int *applied,
				struct sn_err *err)
{
	int ret = 0;
	struct sn_persons *p = NULL;
	*out = NULL;
	if (applied)
		*applied = 0;
	if (!path || !*path)
		return sn_err_set(err, SN_ERR_INVALID, "persons database path is empty");
	for (size_t i = 0; i < nmigs; i++)
		if (migs[i].version != (int)i + 1)
			return sn_err_set(err, SN_ERR_INTERNAL,
					  "migration list is not numbered 1..%zu", nmigs);

	p = calloc(1, sizeof(*p));
	if (!p)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory opening %s", path);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->code_version = (int)nmigs;
	p->absent_slack = 65536;
	sn_buf_init(&p->json, SN_PERSON_PROPS_MAX + 1);
	sn_buf_init(&p->undo_text, 64 * (size_t)SN_PERSON_PROPS_MAX);

	if ((ret = sn_sqlite_open(&p->db, path, "persons database", false, err)))
		goto out;
	if ((ret = sn_sqlite_migrate(p->db, path, "persons", migs, nmigs, applied, err)) < 0)
		goto out;

	/* A 64 MiB page cache (SN_PERSONS_CACHE_KIB): ingestion reads persons
	 * all the time, and the default 2 MiB sends most reads to the kernel
	 * once a store has a few thousand persons. Filled only as pages are
	 * read, and given back when the server or ingestion idles
	 * (sn_persons_release_memory). Rejected (session 42): 256 MiB, which
	 * holds the 10M benchmark's whole 243 MB file: +1.4 % to +5 % events/s
	 * in four alternating pairs, for +190 MiB of peak RSS.
	 * Statement journals in memory: an ingest batch is one long
	 * transaction, so every write statement in it keeps a statement
	 * journal, which past 64 KiB spilled to a temporary file — 3 million
	 * 4 KiB writes for 1M events with 200k new users, and 89k -> 138k
	 * events/s once they stayed in memory (docs/BENCHMARKS.md).
	 * No journal_size_limit: SQLite cut the -wal file back to the limit at
	 * every rewind, and the next batch (tens of MB of pages under a backlog)
	 * grew it again, allocating its blocks afresh (the ftruncate alone was
	 * 1.3 % of the ingest thread's samples, the rest hides in the pwrites),
	 * and identity-on ingestion went 222k/226k -> 247k/238k events/s on the
	 * 10M (docs/BENCHMARKS.md, session 37). The checkpointer empties the
	 * file once ingestion idles (base/sqlite.c). */
	if (sqlite3_exec(p->db,
			 "PRAGMA synchronous=FULL; PRAGMA cache_size=-" SN_PERSONS_CACHE_KIB
			 "; PRAGMA secure_delete=ON; "
			 "PRAGMA temp_store=MEMORY; PRAGMA journal_size_limit=-1",
			 NULL, NULL, NULL) != SQLITE_OK) {
		ret = sn_err_set(err, SN_ERR_IO, "%s: cannot apply its settings: %s", path,
				 sqlite3_errmsg(p->db));
		goto out;
	}
	/* Its WAL writes in runs of up to 120 KiB (base/sqlite_vfs.c): a batch
	 * commits tens of MB of pages, two pwrites a page without it. FULL
	 * above is what the buffer requires. */
	sn_sqlite_buffer_wal(p->db);
	/* WAL checkpoints on a thread of their own (base/sqlite.c): the ingest
	 * thread commits here, and copying its batches back into the file was a
	 * tenth of that thread's time with identity on. A batch of a backlog
	 * writes tens of MB of pages, so the writer's own checkpoint (the
	 * backstop) waits for 256 MiB of WAL; the checkpointer's idle TRUNCATE
	 * gives the file back once ingestion idles. */
	if (strcmp(path, ":memory:") != 0 &&
	    (ret = sn_sqlite_ckpt_start(&p->ckpt, p->db, path, "persons database", 65536, err)))
		goto out;
	if ((ret = sn_sqlite_prepare_all(p->db, "persons database", stmt_sql, NSTMT, p->st, err))) {
		sn_err_prefix(err, "%s", path);
		goto out;
	}
	if (sn_lcache_new(&p->lcache, SN_LCACHE_ENTRIES)) {
		ret = sn_err_set(err, SN_ERR_NOMEM, "out of memory opening %s", path);
		goto out;
	}
	check_data_version(p);
	*out = p;
	p = NULL;
out:
	sn_persons_close(p);
	return ret;
}

int sn_persons_open(struct sn_persons **out, const char *data_dir, int *applied, struct sn_err *err)
{
	*out = NULL;
	if (!data_dir || !*data_dir)
		return sn_err_set(err, SN_ERR_INVALID, "data directory is empty");
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/" DB_FILE, data_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return sn_err_set(err, SN_ERR_INVALID, "data directory path is too long");
	return sn_persons_sqlite_open_with(out, path, sn_persons_sqlite_migrations,
					   sn_persons_sqlite_nmigrations, applied, err);
}

void sn_persons_close(struct sn_persons *p)
{
	if (!p)
		return;
	for (int i = 0; i < NSTMT; i++)
		sqlite3_finalize(p->st[i]);
	for (int i = 0; i <= SN_PERSONS_SET_MAX; i++) {
		sqlite3_finalize(p->set_values[0][i]);
		sqlite3_finalize(p->set_values[1][i]);
	}
	sn_sqlite_ckpt_stop(p->ckpt);
	if (p->db) {
		sqlite3_exec(p->db, "PRAGMA optimize", NULL, NULL, NULL);
		if (sqlite3_close(p->db) != SQLITE_OK)
			sn_log_warn("persons: closing the database failed: %s",
				    sqlite3_errmsg(p->db));
	}
	sn_buf_release(&p->json);
	sn_buf_release(&p->undo_text);
	free(p->undo);
	sn_lcache_free(p->lcache);
	sn_absent_free(p->absent);
	pthread_cond_destroy(&p->idle);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

int sn_persons_schema_version(struct sn_persons *p, int *db_version, int *code_version)
{
	int ret = 0;
	if (code_version)
		*code_version = p->code_version;
	int v = 0;
	sn_pstore_lock(p);
	ret = sn_sqlite_schema_version(p->db, &v, NULL);
	sn_pstore_unlock(p);
	if (ret == 0 && db_version)
		*db_version = v;
	return ret;
}

/* ---- transactions -------------------------------------------------------------- */

/* The open ingest batch is gone: SQLite rolled it back after an I/O
 * error (SQLITE_FULL, SQLITE_IOERR...), or an event's undo failed and the
 * batch was rolled back so that half an event is never committed. The
 * identity of every event since the last commit went with it, while their
 * rows keep the person ids it gave them; committing a later batch would
 * record a WAL position past them and lose them for good. So batches are
 * refused from here on (fail-stop: the worker logs and retries, the WAL
 * checkpoint stays put) until sn_persons_batch_rollback — the store sink
 * calls it when it closes — and the next start replays those records
 * from the WAL (docs/PERSONS.md "Batches and the crash protocol").
 * Caller holds mu. */
static void batch_lost(struct sn_persons *p, const char *why)
{
	if (!p->lost)
		sn_log_error("persons database: the ingest batch was rolled back (%s); identity "
			     "stops until snout restarts and replays it from the WAL",
			     why);
	p->lost = true;
	p->batch = false;
	sn_lcache_touch_all(p->lcache);
	pthread_cond_broadcast(&p->idle);
}

static int lost_err(struct sn_err *err)
{
	return sn_err_set(err, SN_ERR_IO,
			  "persons database: the ingest batch was rolled back after an error; "
			  "restart snout to replay it from the WAL");
}

/* An open batch whose transaction SQLite ended on its own (after an error
 * outside an event, e.g. a deferred-value write): nothing may run in it,
 * as each statement would commit by itself, past the batch's position. */
static int batch_check(struct sn_persons *p, struct sn_err *err)
{
	if (p->batch && sqlite3_get_autocommit(p->db))
		batch_lost(p, "by SQLite, after an error");
	return p->lost ? lost_err(err) : 0;
}

/* BEGIN IMMEDIATE: from here until the transaction ends no other
 * connection can commit, so once data_version has been looked at, the
 * absence filter (which it may invalidate) holds for the whole
 * transaction. */
static int begin_write(struct sn_persons *p, struct sn_err *err, const char *what)
{
	int ret = run(p, p->st[ST_BEGIN], err, what);
	if (ret == 0) {
		check_data_version(p);
		p->absent_failed = false;
	}
	return ret;
}

int sn_pstore_begin(struct sn_persons *p, struct sn_err *err)
{
	int ret = batch_check(p, err);
	if (ret < 0)
		return ret;
	if (p->batch)
		return run(p, p->st[ST_SAVEPOINT], err, "starting a savepoint");
	return begin_write(p, err, "starting a transaction");
}

int sn_pstore_begin_event(struct sn_persons *p, struct sn_err *err)
{
	int ret = batch_check(p, err);
	if (ret < 0)
		return ret;
	if (!p->batch)
		return begin_write(p, err, "starting a transaction");
	p->ev_lazy = true;
	p->ev_sp = false;
	p->nundo = 0;
	sn_buf_reset(&p->undo_text);
	return 0;
}

static void end_event(struct sn_persons *p)
{
	p->ev_lazy = p->ev_sp = false;
	p->nundo = 0;
	sn_buf_reset(&p->undo_text);
}

int sn_pstore_commit(struct sn_persons *p, struct sn_err *err)
{
	if (p->ev_lazy) {
		int ret = p->ev_sp ? run(p, p->st[ST_RELEASE], err, "releasing a savepoint") : 0;
		if (ret == 0)
			end_event(p);
		return ret;
	}
	if (p->batch)
		return run(p, p->st[ST_RELEASE], err, "releasing a savepoint");
	return run(p, p->st[ST_COMMIT], err, "committing");
}

/* ---- per-event atomicity without savepoints ------------------------------------ */

/* A savepoint copies each page an event is first to change into its
 * sub-journal (~18 pages for a new person), 13 % of the ingest thread on a
 * prefix of the benchmark where most slow events create persons. The common
 * writes instead record their inverse (enum undo_kind), with the room taken
 * before the write so the record cannot fail after it; plain_write opens the
 * savepoint for the rest of the event before a write without one. */

/* A write of a lazy event records its undo (no savepoint open yet). */
static bool undoing(const struct sn_persons *p)
{
	return p->ev_lazy && !p->ev_sp;
}

/* Test hook (sn_pstore_fail_write): counts writes down to an injected failure. */
static int injected(struct sn_persons *p, struct sn_err *err)
{
	if (p->fail_in > 0 && --p->fail_in == 0) {
		if (p->fail_sticky)
			p->fail_in = 1;
		return sn_err_set(err, SN_ERR_IO, "persons database: injected write failure");
	}
	return 0;
}

void sn_pstore_fail_write(struct sn_persons *p, int nth, bool sticky)
{
	p->fail_in = nth;
	p->fail_sticky = sticky;
}

/* Before a write that records no undo: a lazy event opens its savepoint,
 * which covers this write and every later one of the event. */
static int plain_write(struct sn_persons *p, struct sn_err *err)
{
	int ret = injected(p, err);
	if (ret == 0 && undoing(p) &&
	    (ret = run(p, p->st[ST_SAVEPOINT], err, "starting a savepoint")) == 0)
		p->ev_sp = true;
	return ret;
}

/* Room for one more undo and text_len bytes of its strings, taken before
 * the write, so recording it after the write cannot fail. */
static int undo_reserve(struct sn_persons *p, size_t text_len, struct sn_err *err)
{
	if (p->nundo == p->capundo) {
		size_t cap = p->capundo ? 2 * p->capundo : 8;
		struct undo *u = realloc(p->undo, cap * sizeof(*u));
		if (!u)
			return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		p->undo = u;
		p->capundo = cap;
	}
	if (sn_buf_reserve(&p->undo_text, text_len))
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	return 0;
}

static size_t undo_str(struct sn_persons *p, const char *s, size_t n)
{
	size_t at = p->undo_text.len;
	sn_buf_append(&p->undo_text, s, n); /* reserved: cannot fail */
	sn_buf_appendc(&p->undo_text, 0);
	return at;
}

static struct undo *undo_add(struct sn_persons *p, enum undo_kind kind, int64_t team_id,
			     const char *key)
{
	struct undo *u = &p->undo[p->nundo++];
	memset(u, 0, sizeof(*u));
	u->kind = kind;
	u->team_id = team_id;
	u->key = undo_str(p, key, strlen(key));
	return u;
}

static int undo_one(struct sn_persons *p, const struct undo *u, struct sn_err *err)
{
	int ret = injected(p, err);
	if (ret < 0)
		return ret;
	const char *key = p->undo_text.data + u->key;
	const char *text = p->undo_text.data + u->text;
	sqlite3_stmt *s;
	switch (u->kind) {
	case U_PERSON_DELETE: s = p->st[ST_PERSON_DELETE]; break;
	case U_PERSON_RESTORE:
		s = p->st[ST_PERSON_UPDATE];
		sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 4, u->flag ? 1 : 0);
		sqlite3_bind_int64(s, 5, u->created_at_us);
		sqlite3_bind_int64(s, 6, u->version);
		break;
	case U_DID_DELETE: s = p->st[ST_DID_DEL]; break;
	case U_DID_RESTORE:
		s = p->st[ST_DID_RESTORE];
		bind_text(s, 3, text);
		sqlite3_bind_int(s, 4, u->flag ? 1 : 0);
		sqlite3_bind_int64(s, 5, u->version);
		break;
	default: s = p->st[ST_PL_UNMERGE]; break;
	}
	sqlite3_bind_int64(s, 1, u->team_id);
	bind_text(s, 2, key);
	return run(p, s, err, "undoing an event's write");
}

void sn_pstore_rollback(struct sn_persons *p)
{
	struct sn_err e = {0};
	sn_lcache_touch_all(p->lcache); /* rows read since the writes are gone */
	if (sqlite3_get_autocommit(p->db)) {
		/* SQLite already rolled back (e.g. after SQLITE_FULL) */
		if (p->batch)
			batch_lost(p, "by SQLite, after an error");
		end_event(p);
		return;
	}
	if (p->ev_lazy) {
		/* The savepoint's part first (the later writes), then the undo
		 * log backwards. */
		bool ok = !p->ev_sp ||
			  (run(p, p->st[ST_ROLLBACK_TO], &e, "rolling back to a savepoint") == 0 &&
			   run(p, p->st[ST_RELEASE], &e, "releasing a savepoint") == 0);
		for (size_t i = p->nundo; ok && i > 0; i--)
			ok = undo_one(p, &p->undo[i - 1], &e) == 0;
		end_event(p);
		if (!ok) {
			/* Half an event must not be committed: the batch goes, as
			 * when SQLite rolls it back on its own. */
			sn_log_error("%s; rolling back the ingest batch", e.msg);
			if (run(p, p->st[ST_ROLLBACK], &e, "rolling back") < 0)
				sn_log_error("%s", e.msg);
			batch_lost(p, "an event's undo failed");
		}
		return;
	}
	if (p->batch) {
		if (run(p, p->st[ST_ROLLBACK_TO], &e, "rolling back to a savepoint") < 0 ||
		    run(p, p->st[ST_RELEASE], &e, "releasing a savepoint") < 0)
			sn_log_error("%s", e.msg);
		return;
	}
	if (run(p, p->st[ST_ROLLBACK], &e, "rolling back") < 0)
		sn_log_error("%s", e.msg);
}

/* ---- ingest batches ------------------------------------------------------------- */

int sn_persons_batch_begin(struct sn_persons *p, struct sn_err *err)
{
	int ret = 0;
	sn_pstore_lock(p);
	while (!p->batch && p->writers_waiting)
		pthread_cond_wait(&p->idle, &p->mu); /* a deletion goes first */
	if ((ret = batch_check(p, err)) == 0 && !p->batch &&
	    (ret = begin_write(p, err, "starting a batch")) == 0)
		p->batch = true;
	sn_pstore_unlock(p);
	return ret;
}

bool sn_persons_batch_is_open(struct sn_persons *p)
{
	sn_pstore_lock(p);
	bool open = p->batch && !sqlite3_get_autocommit(p->db);
	sn_pstore_unlock(p);
	return open;
}

bool sn_persons_batch_wanted(struct sn_persons *p)
{
	sn_pstore_lock(p);
	bool wanted = p->writers_waiting > 0;
	sn_pstore_unlock(p);
	return wanted;
}

int sn_persons_batch_commit(struct sn_persons *p, uint64_t wal_lsn, struct sn_err *err)
{
	int ret;
	sn_pstore_lock(p);
	if ((ret = batch_check(p, err)) < 0)
		goto out;
	if (!p->batch && (ret = begin_write(p, err, "starting a batch")) < 0)
		goto out;
	p->batch = true;
	sqlite3_stmt *s = p->st[ST_LSN_SET];
	sqlite3_bind_int64(s, 1, (int64_t)wal_lsn);
	if ((ret = run(p, s, err, "recording the ingest position")) < 0)
		goto out;
	if ((ret = run(p, p->st[ST_COMMIT], err, "committing a batch")) < 0)
		goto out;
	p->batch = false;
	sn_sqlite_ckpt_poke(p->ckpt);
	pthread_cond_broadcast(&p->idle);
out:
	if (ret < 0)
		sn_lcache_touch_all(p->lcache); /* the batch may be gone */
	sn_pstore_unlock(p);
	return ret;
}

void sn_persons_batch_rollback(struct sn_persons *p)
{
	sn_pstore_lock(p);
	if (p->batch && !sqlite3_get_autocommit(p->db)) {
		struct sn_err e = {0};
		if (run(p, p->st[ST_ROLLBACK], &e, "rolling back a batch") < 0)
			sn_log_error("%s", e.msg);
	}
	sn_lcache_touch_all(p->lcache);
	p->batch = false;
	p->lost = false; /* the caller replays from the last commit */
	pthread_cond_broadcast(&p->idle);
	sn_pstore_unlock(p);
}

int sn_persons_ingest_lsn(struct sn_persons *p, uint64_t *wal_lsn, struct sn_err *err)
{
	int ret = 0;
	sn_pstore_lock(p);
	sqlite3_stmt *s = p->st[ST_LSN_GET];
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*wal_lsn = (uint64_t)sqlite3_column_int64(s, 0);
	else
		ret = db_fail(p, rc, err, "reading the ingest position");
	done(s);
	sn_pstore_unlock(p);
	return ret;
}

/* ---- the absence filter ---------------------------------------------------------- */

/* Fills a new filter from the three tables, sized for twice their rows
 * (one scan of each; ~0.3 s for a million rows). Called inside a write
 * transaction, so no other connection's rows can appear until it ends.
 * False when it could not: lookups then go to SQLite, and it is tried
 * again in the next transaction, not at every lookup of this one. */
static bool absent_build(struct sn_persons *p)
{
	static const char *const count_sql =
	    "SELECT (SELECT count(*) FROM posthog_persondistinctid)"
	    " + (SELECT count(*) FROM posthog_personlessdistinctid)"
	    " + (SELECT count(*) FROM posthog_personoverride)";
	static const struct {
		int kind;
		const char *sql;
	} scans[] = {
	    {SN_ABSENT_DID, "SELECT team_id, distinct_id FROM posthog_persondistinctid"},
	    {SN_ABSENT_PERSONLESS, "SELECT team_id, distinct_id FROM posthog_personlessdistinctid"},
	    {SN_ABSENT_OVERRIDE, "SELECT team_id, old_person_id FROM posthog_personoverride"},
	};
	sqlite3_stmt *s = NULL;
	struct sn_absent *f = NULL;
	int64_t rows = -1;
	if (sqlite3_prepare_v2(p->db, count_sql, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		rows = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rows < 0 || sn_absent_new(&f, 2 * (size_t)rows + p->absent_slack))
		goto fail;
	for (size_t i = 0; i < SN_ARRAY_LEN(scans); i++) {
		if (sqlite3_prepare_v2(p->db, scans[i].sql, -1, &s, NULL) != SQLITE_OK)
			goto fail;
		int rc;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			const char *k = (const char *)sqlite3_column_text(s, 1);
			if (k)
				sn_absent_add(f, sqlite3_column_int64(s, 0), scans[i].kind, k,
					      (size_t)sqlite3_column_bytes(s, 1));
		}
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	sn_absent_free(p->absent);
	p->absent = f;
	p->absent_ok = true;
	p->absent_builds++;
	return true;
fail:
	sn_log_warn("persons database: cannot fill the absence filter (%s); lookups go to SQLite",
		    sqlite3_errmsg(p->db));
	sn_absent_free(f);
	p->absent_failed = true;
	return false;
}

/* True when the table of kind has no row for (team, key) — said by the
 * filter, without SQLite. Only inside this connection's write transaction
 * (begin_write); fills the filter on first use there. */
static bool known_absent(struct sn_persons *p, int64_t team_id, int kind, const char *key)
{
	if (sqlite3_get_autocommit(p->db) ||
	    (!p->absent_ok && (p->absent_failed || !absent_build(p))) ||
	    sn_absent_may_have(p->absent, team_id, kind, key, strlen(key)))
		return false;
	p->absent_answered++;
	return true;
}

/* A row of kind was written for (team, key). */
static void absent_note(struct sn_persons *p, int64_t team_id, int kind, const char *key)
{
	if (!p->absent_ok)
		return; /* filled from the tables when next trusted */
	sn_absent_add(p->absent, team_id, kind, key, strlen(key));
	if (sn_absent_full(p->absent))
		p->absent_ok = false; /* a larger one is filled at the next lookup */
}

void sn_pstore_absent_test_slack(struct sn_persons *p, size_t slack)
{
	sn_pstore_lock(p);
	p->absent_slack = slack;
	p->absent_ok = false;
	sn_pstore_unlock(p);
}

void sn_pstore_absent_stats(struct sn_persons *p, uint64_t *answered, uint64_t *builds)
{
	sn_pstore_lock(p);
	*answered = p->absent_answered;
	*builds = p->absent_builds;
	sn_pstore_unlock(p);
}

/* ---- persons ------------------------------------------------------------------- */

void sn_person_release(struct sn_person *person)
{
	if (!person)
		return;
	json_object_put(person->properties);
	person->properties = NULL;
}

static int read_person(struct sn_persons *p, sqlite3_stmt *s, int64_t team_id,
		       struct sn_person *out, struct sn_err *err)
{
	struct json_object *props = NULL;
	int ret = col_props(p, s, 1, &props, err);
	if (ret < 0)
		return ret;
	sn_person_release(out);
	out->team_id = team_id;
	sn_sqlite_column_text(s, 0, out->uuid, sizeof(out->uuid));
	out->properties = props;
	out->is_identified = sqlite3_column_int(s, 2) != 0;
	out->created_at_us = sqlite3_column_int64(s, 3);
	out->version = sqlite3_column_int64(s, 4);
	return 0;
}

/* text (may be NULL) gets a copy of the stored properties text. */
static int person_lookup(struct sn_persons *p, enum stmt which, int64_t team_id, const char *key,
			 struct sn_person *out, struct sn_buf *text, struct sn_err *err)
{
	if (which == ST_PERSON_BY_DID && known_absent(p, team_id, SN_ABSENT_DID, key))
		return sn_err_set(err, SN_ERR_NOT_FOUND, "person not found");
	sqlite3_stmt *s = p->st[which];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, key);
	int ret, rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && text) {
		const char *t = (const char *)sqlite3_column_text(s, 1);
		sn_buf_reset(text);
		if (t && sn_buf_append(text, t, (size_t)sqlite3_column_bytes(s, 1)))
			sn_buf_reset(text);
	}
	if (rc == SQLITE_ROW)
		ret = read_person(p, s, team_id, out, err);
	else if (rc == SQLITE_DONE)
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "person not found");
	else
		ret = db_fail(p, rc, err, "looking up a person");
	done(s);
	return ret;
}

int sn_pstore_person_by_distinct_id(struct sn_persons *p, int64_t team_id, const char *distinct_id,
				    struct sn_person *out, struct sn_err *err)
{
	return person_lookup(p, ST_PERSON_BY_DID, team_id, distinct_id, out, NULL, err);
}

int sn_pstore_person_by_uuid(struct sn_persons *p, int64_t team_id, const char *uuid,
			     struct sn_person *out, struct sn_err *err)
{
	return person_lookup(p, ST_PERSON_BY_UUID, team_id, uuid, out, NULL, err);
}

/* The row of person with properties as text (NULL: person->properties,
 * serialised here). */
static int person_write(struct sn_persons *p, enum stmt which, const struct sn_person *person,
			const char *text, size_t len, struct sn_err *err)
{
	sn_lcache_touch(p->lcache, person->team_id, person->uuid);
	if (!text) {
		int ret = sn_props_serialise(person->properties, &p->json);
		if (ret < 0)
			return sn_err_set(err, ret,
					  ret == SN_ERR_TOO_BIG
					      ? "person properties are larger than %d bytes"
					      : "out of memory serialising person properties (%d)",
					  SN_PERSON_PROPS_MAX);
		text = p->json.data;
		len = p->json.len;
	}
	int ret = injected(p, err);
	if (ret < 0)
		return ret;
	sqlite3_stmt *s = p->st[which];
	sqlite3_bind_int64(s, 1, person->team_id);
	bind_text(s, 2, person->uuid);
	sqlite3_bind_text(s, 3, text, (int)len, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, person->is_identified ? 1 : 0);
	sqlite3_bind_int64(s, 5, person->created_at_us);
	sqlite3_bind_int64(s, 6, person->version);
	return run(p, s, err,
		   which == ST_PERSON_INSERT ? "creating a person" : "updating a person");
}

/* Whether the team has an override whose old id is uuid. */
static int override_of(struct sn_persons *p, int64_t team_id, const char *uuid, bool *found,
		       struct sn_err *err)
{
	*found = false;
	if (known_absent(p, team_id, SN_ABSENT_OVERRIDE, uuid))
		return 0;
	sqlite3_stmt *s = p->st[ST_OVR_GET];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, uuid);
	int rc = sqlite3_step(s);
	*found = rc == SQLITE_ROW;
	int ret =
	    rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(p, rc, err, "reading an override");
	done(s);
	return ret;
}

int sn_pstore_person_insert(struct sn_persons *p, const struct sn_person *person,
			    struct sn_err *err)
{
	return sn_pstore_person_insert_text(p, person, NULL, 0, err);
}

int sn_pstore_person_insert_text(struct sn_persons *p, const struct sn_person *person,
				 const char *text, size_t len, struct sn_err *err)
{
	bool undo = undoing(p), ovr = false;
	int ret;
	if (undo && (ret = undo_reserve(p, sizeof(person->uuid), err)) < 0)
		return ret;
	if ((ret = person_write(p, ST_PERSON_INSERT, person, text, len, err)) < 0)
		return ret;
	if (undo)
		undo_add(p, U_PERSON_DELETE, person->team_id, person->uuid);
	/* A re-created person is live again: its override goes. Looked up
	 * first, as the delete is rare and has no undo of its own. */
	if ((ret = override_of(p, person->team_id, person->uuid, &ovr, err)) < 0 || !ovr ||
	    (ret = plain_write(p, err)) < 0)
		return ret;
	sqlite3_stmt *s = p->st[ST_OVR_DEL];
	sqlite3_bind_int64(s, 1, person->team_id);
	bind_text(s, 2, person->uuid);
	return run(p, s, err, "dropping an override");
}

int sn_pstore_person_update(struct sn_persons *p, const struct sn_person *person,
			    struct sn_err *err)
{
	if (!undoing(p))
		return person_write(p, ST_PERSON_UPDATE, person, NULL, 0, err);
	/* The row as it was, for the undo. */
	sqlite3_stmt *s = p->st[ST_PERSON_BY_UUID];
	sqlite3_bind_int64(s, 1, person->team_id);
	bind_text(s, 2, person->uuid);
	int ret = 0, rc = sqlite3_step(s);
	struct undo pre = {0};
	const char *text = NULL;
	size_t n = 0;
	if (rc == SQLITE_ROW) {
		text = (const char *)sqlite3_column_text(s, 1);
		n = text ? (size_t)sqlite3_column_bytes(s, 1) : 0;
		pre.flag = sqlite3_column_int(s, 2) != 0;
		pre.created_at_us = sqlite3_column_int64(s, 3);
		pre.version = sqlite3_column_int64(s, 4);
		if ((ret = undo_reserve(p, sizeof(person->uuid) + n + 1, err)) == 0)
			pre.text = undo_str(p, text ? text : "{}", text ? n : 2);
	} else if (rc != SQLITE_DONE) {
		ret = db_fail(p, rc, err, "reading a person");
	}
	done(s);
	if (ret < 0 || rc == SQLITE_DONE) /* no row: the update changes nothing */
		return ret < 0 ? ret : person_write(p, ST_PERSON_UPDATE, person, NULL, 0, err);
	if ((ret = person_write(p, ST_PERSON_UPDATE, person, NULL, 0, err)) < 0) {
		p->undo_text.len = pre.text; /* the pre-image's text is not needed */
		return ret;
	}
	struct undo *u = undo_add(p, U_PERSON_RESTORE, person->team_id, person->uuid);
	u->text = pre.text;
	u->flag = pre.flag;
	u->created_at_us = pre.created_at_us;
	u->version = pre.version;
	return 0;
}

int sn_pstore_person_delete(struct sn_persons *p, int64_t team_id, const char *uuid,
			    struct sn_err *err)
{
	int ret = plain_write(p, err);
	if (ret < 0)
		return ret;
	sn_lcache_touch(p->lcache, team_id, uuid);
	sqlite3_stmt *s = p->st[ST_PERSON_DELETE];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, uuid);
	return run(p, s, err, "deleting a person");
}

/* ---- distinct ids ------------------------------------------------------------------ */

int sn_pstore_distinct_id_set(struct sn_persons *p, int64_t team_id, const char *distinct_id,
			      const char *person_uuid, struct sn_err *err)
{
	int ret = injected(p, err), rc = SQLITE_DONE;
	if (ret < 0)
		return ret;
	struct undo pre = {0};
	bool undo = undoing(p);
	size_t mark = p->undo_text.len;
	if (undo) {
		/* The row as it was (deleted ones too: the upsert revives them),
		 * unless the filter knows there is none. */
		sqlite3_stmt *s = p->st[ST_DID_PRE];
		if (!known_absent(p, team_id, SN_ABSENT_DID, distinct_id)) {
			sqlite3_bind_int64(s, 1, team_id);
			bind_text(s, 2, distinct_id);
			rc = sqlite3_step(s);
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
			ret = db_fail(p, rc, err, "reading a distinct id");
		} else if ((ret = undo_reserve(p, strlen(distinct_id) + 2 * 37, err)) == 0 &&
			   rc == SQLITE_ROW) {
			const char *old = (const char *)sqlite3_column_text(s, 0);
			pre.text = undo_str(p, old ? old : "", old ? strlen(old) : 0);
			pre.flag = sqlite3_column_int(s, 1) != 0;
			pre.version = sqlite3_column_int64(s, 2);
		}
		done(s);
		if (ret < 0)
			return ret;
	}
	sn_lcache_touch(p->lcache, team_id, distinct_id);
	sqlite3_stmt *s = p->st[ST_DID_SET];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, distinct_id);
	bind_text(s, 3, person_uuid);
	if ((ret = run(p, s, err, "adding a distinct id")) < 0) {
		p->undo_text.len = mark;
		return ret;
	}
	absent_note(p, team_id, SN_ABSENT_DID, distinct_id);
	if (undo) {
		struct undo *u = undo_add(p, rc == SQLITE_ROW ? U_DID_RESTORE : U_DID_DELETE,
					  team_id, distinct_id);
		u->text = pre.text;
		u->flag = pre.flag;
		u->version = pre.version;
	}
	return 0;
}

int sn_pstore_distinct_ids_move(struct sn_persons *p, int64_t team_id, const char *from_uuid,
				const char *to_uuid, struct sn_err *err)
{
	int ret = plain_write(p, err);
	if (ret < 0)
		return ret;
	/* Entries of the moved ids carry from_uuid's stamp. */
	sn_lcache_touch(p->lcache, team_id, from_uuid);
	sqlite3_stmt *s = p->st[ST_DID_MOVE];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, from_uuid);
	bind_text(s, 3, to_uuid);
	return run(p, s, err, "moving distinct ids");
}

/* ---- overrides and personless ids ------------------------------------------------ */

int sn_pstore_override_add(struct sn_persons *p, int64_t team_id, const char *old_uuid,
			   const char *new_uuid, struct sn_err *err)
{
	if (!strcmp(old_uuid, new_uuid))
		return 0;
	int ret = plain_write(p, err);
	if (ret < 0)
		return ret;
	sqlite3_stmt *s = p->st[ST_OVR_REPOINT];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, old_uuid);
	bind_text(s, 3, new_uuid);
	if ((ret = run(p, s, err, "repointing overrides")) < 0)
		return ret;
	/* The new target is live, so nothing may still map it elsewhere. */
	s = p->st[ST_OVR_DEL];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, new_uuid);
	if ((ret = run(p, s, err, "dropping an override")) < 0)
		return ret;
	s = p->st[ST_OVR_PUT];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, old_uuid);
	bind_text(s, 3, new_uuid);
	sqlite3_bind_int64(s, 4, sn_now_us());
	if ((ret = run(p, s, err, "recording an override")) == 0)
		absent_note(p, team_id, SN_ABSENT_OVERRIDE, old_uuid);
	return ret;
}

int sn_pstore_personless_add(struct sn_persons *p, int64_t team_id, const char *distinct_id,
			     struct sn_err *err)
{
	int ret = plain_write(p, err);
	if (ret < 0)
		return ret;
	sqlite3_stmt *s = p->st[ST_PL_ADD];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, distinct_id);
	sqlite3_bind_int64(s, 3, sn_now_us());
	if ((ret = run(p, s, err, "noting a personless distinct id")) == 0)
		absent_note(p, team_id, SN_ABSENT_PERSONLESS, distinct_id);
	return ret;
}

int sn_pstore_personless_take(struct sn_persons *p, int64_t team_id, const char *distinct_id,
			      bool *seen, struct sn_err *err)
{
	*seen = false;
	if (known_absent(p, team_id, SN_ABSENT_PERSONLESS, distinct_id))
		return 0;
	sqlite3_stmt *s = p->st[ST_PL_GET];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, distinct_id);
	int rc = sqlite3_step(s);
	int ret = 0;
	bool merged = false;
	*seen = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW)
		merged = sqlite3_column_int(s, 0) != 0;
	else if (rc != SQLITE_DONE)
		ret = db_fail(p, rc, err, "looking up a personless distinct id");
	done(s);
	if (ret < 0 || !*seen || merged)
		return ret; /* (already marked: nothing to write) */
	bool undo = undoing(p);
	if ((ret = injected(p, err)) < 0 ||
	    (undo && (ret = undo_reserve(p, strlen(distinct_id) + 1, err)) < 0))
		return ret;
	s = p->st[ST_PL_MERGED];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, distinct_id);
	if ((ret = run(p, s, err, "marking a personless distinct id merged")) == 0 && undo)
		undo_add(p, U_PL_UNMERGE, team_id, distinct_id);
	return ret;
}

/* ---- groups ------------------------------------------------------------------------ */

void sn_group_release(struct sn_group *g)
{
	if (!g)
		return;
	json_object_put(g->properties);
	g->properties = NULL;
}

int sn_pstore_group_type_add(struct sn_persons *p, int64_t team_id, const char *group_type,
			     int index, struct sn_err *err)
{
	if (index < 0 || index >= SN_GROUP_TYPES_MAX)
		return sn_err_set(err, SN_ERR_INVALID, "group type index must be 0 to %d",
				  SN_GROUP_TYPES_MAX - 1);
	sqlite3_stmt *s = p->st[ST_GT_USED];
	sqlite3_bind_int64(s, 1, team_id);
	int rc, ret = 0;
	bool taken = false;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		taken = taken || sqlite3_column_int(s, 0) == index;
	ret = rc == SQLITE_DONE ? 0 : db_fail(p, rc, err, "listing group types");
	done(s);
	if (ret < 0)
		return ret;
	if (taken)
		return sn_err_set(err, SN_ERR_EXISTS, "group type index %d is taken", index);
	if ((ret = plain_write(p, err)) < 0)
		return ret;
	s = p->st[ST_GT_INSERT];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, group_type);
	sqlite3_bind_int(s, 3, index);
	return run(p, s, err, "adding a group type");
}

int sn_pstore_group_type_index(struct sn_persons *p, int64_t team_id, const char *group_type,
			       bool create, int *index, struct sn_err *err)
{
	sqlite3_stmt *s = p->st[ST_GT_GET];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, group_type);
	int ret = 0, rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*index = sqlite3_column_int(s, 0);
	else if (rc == SQLITE_DONE)
		ret = SN_ERR_NOT_FOUND;
	else
		ret = db_fail(p, rc, err, "looking up a group type");
	done(s);
	if (ret != SN_ERR_NOT_FOUND)
		return ret;
	if (!create)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "no group type named \"%.100s\"",
				  group_type);

	bool used[SN_GROUP_TYPES_MAX] = {false};
	s = p->st[ST_GT_USED];
	sqlite3_bind_int64(s, 1, team_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int i = sqlite3_column_int(s, 0);
		if (i >= 0 && i < SN_GROUP_TYPES_MAX)
			used[i] = true;
	}
	ret = rc == SQLITE_DONE ? 0 : db_fail(p, rc, err, "listing group types");
	done(s);
	if (ret < 0)
		return ret;
	int free_idx = -1;
	for (int i = 0; i < SN_GROUP_TYPES_MAX && free_idx < 0; i++)
		if (!used[i])
			free_idx = i;
	if (free_idx < 0)
		return sn_err_set(err, SN_ERR_TOO_BIG,
				  "the project already has %d group types; \"%.100s\" is ignored",
				  SN_GROUP_TYPES_MAX, group_type);
	if ((ret = plain_write(p, err)) < 0)
		return ret;
	s = p->st[ST_GT_INSERT];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, group_type);
	sqlite3_bind_int(s, 3, free_idx);
	if ((ret = run(p, s, err, "adding a group type")) < 0)
		return ret;
	*index = free_idx;
	return 0;
}

int sn_pstore_group_get(struct sn_persons *p, int64_t team_id, int index, const char *key,
			struct sn_group *out, struct sn_err *err)
{
	sqlite3_stmt *s = p->st[ST_GROUP_GET];
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int(s, 2, index);
	bind_text(s, 3, key);
	int ret = 0, rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		struct json_object *props = NULL;
		if ((ret = col_props(p, s, 0, &props, err)) == 0) {
			sn_group_release(out);
			out->team_id = team_id;
			out->group_type_index = index;
			if (out->key != key)
				snprintf(out->key, sizeof(out->key), "%s", key);
			out->properties = props;
			out->created_at_us = sqlite3_column_int64(s, 1);
			out->version = sqlite3_column_int64(s, 2);
		}
	} else if (rc == SQLITE_DONE) {
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "group not found");
	} else {
		ret = db_fail(p, rc, err, "looking up a group");
	}
	done(s);
	return ret;
}

int sn_pstore_group_put(struct sn_persons *p, const struct sn_group *g, bool exists,
			struct sn_err *err)
{
	int ret = sn_props_serialise(g->properties, &p->json);
	if (ret < 0)
		return sn_err_set(err, ret, "group properties are larger than %d bytes",
				  SN_PERSON_PROPS_MAX);
	if ((ret = plain_write(p, err)) < 0)
		return ret;
	sqlite3_stmt *s = p->st[exists ? ST_GROUP_UPDATE : ST_GROUP_INSERT];
	sqlite3_bind_int64(s, 1, g->team_id);
	sqlite3_bind_int(s, 2, g->group_type_index);
	bind_text(s, 3, g->key);
	sqlite3_bind_text(s, 4, p->json.data, (int)p->json.len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, g->created_at_us);
	sqlite3_bind_int64(s, 6, g->version);
	return run(p, s, err, "writing a group");
}

/* ---- public reads ------------------------------------------------------------------ */

int sn_persons_get_by_distinct_id(struct sn_persons *p, int64_t team_id, const char *distinct_id,
				  struct sn_person *out, struct sn_err *err)
{
	/* Another process's commits: looked for at most every 100 ms, by
	 * whichever lookup comes first after that. */
	uint64_t now = sn_mono_ns(), next = atomic_load(&p->dv_next_ns);
	if (now >= next &&
	    atomic_compare_exchange_strong(&p->dv_next_ns, &next, now + 100 * 1000 * 1000)) {
		sn_pstore_lock(p);
		check_data_version(p);
		sn_pstore_unlock(p);
	}
	int hit = sn_lcache_get(p->lcache, team_id, distinct_id, out);
	if (hit >= 0)
		return hit ? 0 : sn_err_set(err, SN_ERR_NOT_FOUND, "person not found");
	struct sn_lcache_stamp st;
	struct sn_buf text;
	sn_buf_init(&text, SN_PERSON_PROPS_MAX + 1);
	sn_pstore_lock(p);
	sn_lcache_stamp_did(p->lcache, team_id, distinct_id, &st);
	int ret = person_lookup(p, ST_PERSON_BY_DID, team_id, distinct_id, out, &text, err);
	if (ret == 0)
		sn_lcache_stamp_uuid(p->lcache, team_id, out->uuid, &st);
	sn_pstore_unlock(p);
	if (ret == 0 && text.len)
		sn_lcache_put(p->lcache, team_id, distinct_id, &st, out, text.data, text.len);
	else if (ret == SN_ERR_NOT_FOUND)
		sn_lcache_put(p->lcache, team_id, distinct_id, &st, NULL, NULL, 0);
	sn_buf_release(&text);
	return ret;
}

int sn_pstore_uuid_by_distinct_id(struct sn_persons *p, int64_t team_id, const char *distinct_id,
				  char out[37], struct sn_err *err)
{
	if (known_absent(p, team_id, SN_ABSENT_DID, distinct_id))
		return sn_err_set(err, SN_ERR_NOT_FOUND, "distinct id not found");
	sqlite3_stmt *s = p->st[ST_UUID_BY_DID];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, distinct_id);
	int ret, rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		sn_sqlite_column_text(s, 0, out, 37);
		ret = 0;
	} else if (rc == SQLITE_DONE) {
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "distinct id not found");
	} else {
		ret = db_fail(p, rc, err, "looking up a distinct id");
	}
	done(s);
	return ret;
}

int sn_persons_uuid_of(struct sn_persons *p, int64_t team_id, const char *distinct_id, char out[37],
		       struct sn_err *err)
{
	sn_pstore_lock(p);
	int ret = sn_pstore_uuid_by_distinct_id(p, team_id, distinct_id, out, err);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_get(struct sn_persons *p, int64_t team_id, const char *uuid, struct sn_person *out,
		   struct sn_err *err)
{
	sn_pstore_lock(p);
	int ret = sn_pstore_person_by_uuid(p, team_id, uuid, out, err);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_distinct_ids(struct sn_persons *p, int64_t team_id, const char *uuid,
			    int (*fn)(void *ctx, const char *distinct_id), void *ctx,
			    struct sn_err *err)
{
	int ret = 0, rc;
	sn_pstore_lock(p);
	sqlite3_stmt *s = p->st[ST_DID_LIST];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, uuid);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(s, 0);
		if ((ret = fn(ctx, d ? d : "")) != 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(p, rc, err, "listing distinct ids");
out:
	done(s);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_resolve(struct sn_persons *p, int64_t team_id, const char *person_uuid, char out[37],
		       struct sn_err *err)
{
	int ret = 0;
	sn_pstore_lock(p);
	sqlite3_stmt *s = p->st[ST_OVR_GET];
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, person_uuid);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		sn_sqlite_column_text(s, 0, out, 37);
	else if (rc == SQLITE_DONE)
		snprintf(out, 37, "%s", person_uuid);
	else
		ret = db_fail(p, rc, err, "resolving a person override");
	done(s);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_overrides(struct sn_persons *p, int64_t team_id,
			 int (*fn)(void *ctx, const char *old_id, const char *new_id), void *ctx,
			 struct sn_err *err)
{
	int ret = 0, rc;
	sn_pstore_lock(p);
	sqlite3_stmt *s = p->st[ST_OVR_LIST];
	sqlite3_bind_int64(s, 1, team_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char a[37], b[37];
		sn_sqlite_column_text(s, 0, a, sizeof(a));
		sn_sqlite_column_text(s, 1, b, sizeof(b));
		if ((ret = fn(ctx, a, b)) != 0)
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(p, rc, err, "listing person overrides");
out:
	done(s);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_group_type_index(struct sn_persons *p, int64_t team_id, const char *group_type,
				int *index, struct sn_err *err)
{
	sn_pstore_lock(p);
	int ret = sn_pstore_group_type_index(p, team_id, group_type, false, index, err);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_group_get(struct sn_persons *p, int64_t team_id, int group_type_index,
			 const char *key, struct sn_group *out, struct sn_err *err)
{
	sn_pstore_lock(p);
	int ret = sn_pstore_group_get(p, team_id, group_type_index, key, out, err);
	sn_pstore_unlock(p);
	return ret;
}

/* ---- listing (the persons API) -------------------------------------------------------- */

/* The JSON path naming one top-level key: "$."key"" with quotes escaped,
 * so any key text is one member. */
static void bind_key_path(sqlite3_stmt *s, int arg, const char *key)
{
	struct sn_buf pb;
	sn_buf_init(&pb, 4096);
	sn_buf_appends(&pb, "$.\"");
	for (const char *c = key; *c; c++) {
		if (*c == '"' || *c == '\\')
			sn_buf_appendc(&pb, '\\');
		sn_buf_appendc(&pb, *c);
	}
	sn_buf_appendc(&pb, '"');
	sqlite3_bind_text(s, arg, pb.data ? pb.data : "$", pb.data ? (int)pb.len : 1,
			  SQLITE_TRANSIENT);
	sn_buf_release(&pb);
}

/* "?a, ?a+1, ..." for n values, or "?a LIKE ... OR" chains (like). */
static void value_list(struct sn_buf *sql, int path, int first, size_t n, bool like)
{
	for (size_t k = 0; k < n; k++) {
		if (like)
			sn_buf_appendf(sql,
				       "%sCAST(json_extract(p.properties, ?%d) AS TEXT) LIKE ?%d"
				       " ESCAPE '\\'",
				       k ? " OR " : "", path, first + (int)k);
		else
			sn_buf_appendf(sql, "%s?%d", k ? ", " : "", first + (int)k);
	}
}

int sn_persons_list(struct sn_persons *p, int64_t team_id, const struct sn_persons_filter *f,
		    int (*fn)(void *ctx, const struct sn_person *person), void *ctx,
		    struct sn_err *err)
{
	struct sn_buf sql;
	sqlite3_stmt *s = NULL;
	struct sn_person *rows = NULL;
	size_t nrows = 0;
	int ret = 0, rc, arg = 2;
	if (f->limit < 0 || f->limit > SN_PERSONS_LIST_MAX || f->offset < 0)
		return sn_err_set(err, SN_ERR_INVALID, "limit must be 0..%d and offset >= 0",
				  SN_PERSONS_LIST_MAX);
	for (size_t i = 0; i < f->nprops; i++)
		if (f->props[i].nvalues > SN_PERSONS_FILTER_VALUES_MAX)
			return sn_err_set(err, SN_ERR_INVALID,
					  "a property filter lists at most %d values",
					  SN_PERSONS_FILTER_VALUES_MAX);
	/* PostHog's search: the email contains it, a distinct id is it, or
	 * (read as a UUID) the person's id is it. */
	char search_uuid[37] = "";
	struct sn_uuid su;
	if (f->search && *f->search && sn_uuid_parse(f->search, strlen(f->search), &su) == 0)
		sn_uuid_format(&su, search_uuid);
	rows = calloc((size_t)f->limit + 1, sizeof(*rows));
	if (!rows)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory listing persons");
	sn_buf_init(&sql, 64 * 1024);
	sn_buf_appends(&sql, "SELECT " PERSON_COLS " FROM posthog_person p WHERE p.team_id = ?1");
	if (f->distinct_id)
		sn_buf_appendf(&sql,
			       " AND p.uuid IN (SELECT person_uuid FROM posthog_persondistinctid"
			       " WHERE team_id = ?1 AND distinct_id = ?%d AND is_deleted = 0)",
			       arg++);
	if (f->search && *f->search) {
		sn_buf_appendf(&sql,
			       " AND (CAST(json_extract(p.properties, '$.email') AS TEXT) LIKE ?%d"
			       " ESCAPE '\\' OR p.uuid IN (SELECT person_uuid FROM"
			       " posthog_persondistinctid WHERE team_id = ?1 AND is_deleted = 0 AND"
			       " distinct_id = ?%d)",
			       arg, arg + 1);
		arg += 2;
		if (search_uuid[0])
			sn_buf_appendf(&sql, " OR p.uuid = ?%d", arg++);
		sn_buf_appendc(&sql, ')');
	}
	for (size_t i = 0; i < f->nprops; i++) {
		const struct sn_persons_prop_filter *pf = &f->props[i];
		int path = arg++, first = arg;
		size_t nv = pf->nvalues;
		switch (pf->op) {
		case SN_PPF_EXACT:
			if (!nv)
				break;
			sn_buf_appendf(&sql,
				       " AND json_extract(p.properties, ?%d) IS NOT NULL AND"
				       " CAST(json_extract(p.properties, ?%d) AS TEXT) IN (",
				       path, path);
			value_list(&sql, path, first, nv, false);
			sn_buf_appendc(&sql, ')');
			break;
		case SN_PPF_IS_NOT:
			if (!nv)
				break;
			sn_buf_appendf(&sql,
				       " AND (json_extract(p.properties, ?%d) IS NULL OR"
				       " CAST(json_extract(p.properties, ?%d) AS TEXT) NOT IN (",
				       path, path);
			value_list(&sql, path, first, nv, false);
			sn_buf_appends(&sql, "))");
			break;
		case SN_PPF_ICONTAINS:
			if (!nv)
				break;
			sn_buf_appends(&sql, " AND (");
			value_list(&sql, path, first, nv, true);
			sn_buf_appendc(&sql, ')');
			break;
		case SN_PPF_IS_SET:
			sn_buf_appendf(&sql, " AND json_type(p.properties, ?%d) IS NOT NULL", path);
			break;
		case SN_PPF_IS_NOT_SET:
			sn_buf_appendf(&sql, " AND json_type(p.properties, ?%d) IS NULL", path);
			break;
		}
		if (pf->op != SN_PPF_IS_SET && pf->op != SN_PPF_IS_NOT_SET)
			arg += (int)nv;
	}
	if (sn_buf_appendf(&sql, " ORDER BY p.created_at DESC, p.id DESC LIMIT ?%d OFFSET ?%d", arg,
			   arg + 1)) {
		ret = sn_err_set(err, SN_ERR_TOO_BIG, "persons filter is too long");
		goto out_unlocked;
	}
	sn_pstore_lock(p);
	if ((rc = sqlite3_prepare_v2(p->db, sql.data, (int)sql.len, &s, NULL)) != SQLITE_OK) {
		ret = db_fail(p, rc, err, "listing persons");
		goto out;
	}
	sqlite3_bind_int64(s, 1, team_id);
	arg = 2;
	if (f->distinct_id)
		sqlite3_bind_text(s, arg++, f->distinct_id, -1, SQLITE_TRANSIENT);
	if (f->search && *f->search) {
		struct sn_buf like;
		sn_buf_init(&like, 4096);
		sn_buf_appendc(&like, '%');
		for (const char *c = f->search; *c; c++) {
			if (*c == '%' || *c == '_' || *c == '\\')
				sn_buf_appendc(&like, '\\');
			sn_buf_appendc(&like, *c);
		}
		sn_buf_appendc(&like, '%');
		sqlite3_bind_text(s, arg++, like.data, (int)like.len, SQLITE_TRANSIENT);
		sn_buf_release(&like);
		sqlite3_bind_text(s, arg++, f->search, -1, SQLITE_TRANSIENT);
		if (search_uuid[0])
			sqlite3_bind_text(s, arg++, search_uuid, -1, SQLITE_TRANSIENT);
	}
	for (size_t i = 0; i < f->nprops; i++) {
		const struct sn_persons_prop_filter *pf = &f->props[i];
		bind_key_path(s, arg++, pf->key);
		if (pf->op == SN_PPF_IS_SET || pf->op == SN_PPF_IS_NOT_SET)
			continue;
		for (size_t k = 0; k < pf->nvalues; k++) {
			const char *v = pf->values[k] ? pf->values[k] : "";
			if (pf->op == SN_PPF_ICONTAINS) {
				char *like = sqlite3_mprintf("%%%s%%", v);
				sqlite3_bind_text(s, arg++, like, -1, SQLITE_TRANSIENT);
				sqlite3_free(like);
			} else {
				sqlite3_bind_text(s, arg++, v, -1, SQLITE_TRANSIENT);
			}
		}
	}
	sqlite3_bind_int64(s, arg, f->limit);
	sqlite3_bind_int64(s, arg + 1, f->offset);
	while (nrows < (size_t)f->limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((ret = read_person(p, s, team_id, &rows[nrows], err)) < 0)
			goto out;
		nrows++;
	}
	if (nrows < (size_t)f->limit && rc != SQLITE_DONE)
		ret = db_fail(p, rc, err, "listing persons");
out:
	sqlite3_finalize(s);
	sn_pstore_unlock(p);
	/* fn runs without the lock, so it may read distinct ids. */
	for (size_t i = 0; ret == 0 && i < nrows; i++)
		ret = fn(ctx, &rows[i]);
out_unlocked:
	for (size_t i = 0; i < nrows; i++)
		sn_person_release(&rows[i]);
	free(rows);
	sn_buf_release(&sql);
	return ret;
}

/* ---- setting values without a JSON round trip ------------------------------------------- */

int sn_persons_set_values(struct sn_persons *p, int64_t team_id, const char *uuid,
			  const char *const *keys, const char *const *values, size_t n,
			  bool identify, bool *found, struct sn_err *err)
{
	int ret = 0, rc;
	*found = false;
	if (n == 0 && !identify)
		return 0;
	if (n > SN_PERSONS_SET_MAX)
		return sn_err_set(err, SN_ERR_INVALID, "at most %d keys", SN_PERSONS_SET_MAX);
	sn_pstore_lock(p);
	if (n && p->refuse_json > 0 && --p->refuse_json == 0) {
		sn_pstore_unlock(p);
		return sn_err_set(err, SN_ERR_INVALID, "persons database: injected JSON refusal");
	}
	sqlite3_stmt *s = p->set_values[identify][n];
	if (!s) {
		/* json_set(properties, path1, json(value1), ...): SQLite edits the
		 * stored text; json() validates each value. */
		struct sn_buf sql;
		sn_buf_init(&sql, 4096);
		sn_buf_appends(&sql, "UPDATE posthog_person SET ");
		if (n) {
			sn_buf_appends(&sql, "properties = json_set(properties");
			for (size_t i = 0; i < n; i++)
				sn_buf_appendf(&sql, ", ?%zu, json(?%zu)", 3 + 2 * i, 4 + 2 * i);
			sn_buf_appends(&sql, "), ");
		}
		if (identify)
			sn_buf_appends(&sql, "is_identified = 1, ");
		sn_buf_appends(&sql, "version = version + 1 WHERE team_id = ?1 AND uuid = ?2");
		rc = sqlite3_prepare_v3(p->db, sql.data, (int)sql.len, SQLITE_PREPARE_PERSISTENT,
					&s, NULL);
		sn_buf_release(&sql);
		if (rc != SQLITE_OK) {
			ret = db_fail(p, rc, err, "preparing a property update");
			goto out;
		}
		p->set_values[identify][n] = s;
	}
	sn_lcache_touch(p->lcache, team_id, uuid);
	sqlite3_bind_int64(s, 1, team_id);
	bind_text(s, 2, uuid);
	char path[SN_PERSONS_SET_MAX][160];
	for (size_t i = 0; i < n; i++) {
		/* A path naming one top-level member: $."key" (keys here are
		 * plain: the ingest worker's §5.2 names). */
		int len = snprintf(path[i], sizeof(path[i]), "$.\"%s\"", keys[i]);
		if (len < 0 || (size_t)len >= sizeof(path[i]) || strchr(keys[i], '"') ||
		    strchr(keys[i], '\\')) {
			done(s);
			ret = sn_err_set(err, SN_ERR_INVALID, "property key not usable in a path");
			goto out;
		}
		sqlite3_bind_text(s, (int)(3 + 2 * i), path[i], len, SQLITE_STATIC);
		sqlite3_bind_text(s, (int)(4 + 2 * i), values[i], -1, SQLITE_STATIC);
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		*found = sqlite3_changes(p->db) > 0;
	else if ((rc & 0xff) == SQLITE_ERROR) /* json(): a value that is not JSON */
		ret =
		    sn_err_set(err, SN_ERR_INVALID, "persons database: %s", sqlite3_errmsg(p->db));
	else
		ret = db_fail(p, rc, err, "updating person properties");
	done(s);
out:
	sn_pstore_unlock(p);
	return ret;
}

void sn_persons_test_refuse_json(struct sn_persons *p, int nth)
{
	sn_pstore_lock(p);
	p->refuse_json = nth;
	sn_pstore_unlock(p);
}

/* ---- bulk reads for the query engine ------------------------------------------------- */

enum bulk { BULK_PERSONS, BULK_DIDS, BULK_GROUPS };

struct bulk_cb {
	enum bulk what;
	int (*person)(void *ctx, const struct sn_person_raw *row);
	int (*did)(void *ctx, const char *distinct_id, const char *uuid);
	int (*group)(void *ctx, const struct sn_group_raw *row);
	void *ctx;
};

static int bulk_row(sqlite3_stmt *s, const struct bulk_cb *cb)
{
	const char *t0 = (const char *)sqlite3_column_text(s, 0);
	switch (cb->what) {
	case BULK_PERSONS: {
		const char *props = (const char *)sqlite3_column_text(s, 1);
		struct sn_person_raw r = {
		    .uuid = t0 ? t0 : "",
		    .properties = props ? props : "{}",
		    .properties_len = props ? (size_t)sqlite3_column_bytes(s, 1) : 2,
		    .is_identified = sqlite3_column_int(s, 2) != 0,
		    .created_at_us = sqlite3_column_int64(s, 3),
		    .version = sqlite3_column_int64(s, 4),
		};
		return cb->person(cb->ctx, &r);
	}
	case BULK_DIDS: {
		const char *u = (const char *)sqlite3_column_text(s, 1);
		return cb->did(cb->ctx, t0 ? t0 : "", u ? u : "");
	}
	default: {
		const char *props = (const char *)sqlite3_column_text(s, 2);
		struct sn_group_raw r = {
		    .group_type_index = sqlite3_column_int(s, 0),
		    .key = (const char *)sqlite3_column_text(s, 1),
		    .properties = props ? props : "{}",
		    .properties_len = props ? (size_t)sqlite3_column_bytes(s, 2) : 2,
		    .created_at_us = sqlite3_column_int64(s, 3),
		    .version = sqlite3_column_int64(s, 4),
		};
		if (!r.key)
			r.key = "";
		return cb->group(cb->ctx, &r);
	}
	}
}

/* Runs head + (" AND <keycol> IN (?,...)" per batch of keys, or nothing
 * for a scan) and hands each row to cb. A statement per batch: preparing
 * costs microseconds next to the 256 index lookups it carries. */
static int bulk_read(struct sn_persons *p, const char *head, const char *keycol, int64_t team_id,
		     int index, const char *const *keys, size_t n, const struct bulk_cb *cb,
		     struct sn_err *err)
{
	int ret = 0;
	struct sn_buf sql;
	sn_buf_init(&sql, 64 * 1024);
	sn_pstore_lock(p);
	for (size_t at = 0; ret == 0 && (keys ? at < n : at == 0);) {
		size_t k = keys ? n - at : 0;
		if (k > SN_PERSONS_READ_BATCH)
			k = SN_PERSONS_READ_BATCH;
		sn_buf_reset(&sql);
		sn_buf_appends(&sql, head);
		if (keys) {
			sn_buf_appendf(&sql, " AND %s IN (", keycol);
			for (size_t i = 0; i < k; i++)
				sn_buf_appends(&sql, i ? ",?" : "?");
			sn_buf_appendc(&sql, ')');
		}
		sqlite3_stmt *s = NULL;
		int rc = sqlite3_prepare_v2(p->db, sql.data, (int)sql.len, &s, NULL);
		if (rc != SQLITE_OK) {
			ret = db_fail(p, rc, err, "reading persons in bulk");
			break;
		}
		int arg = 1;
		sqlite3_bind_int64(s, arg++, team_id);
		if (cb->what == BULK_GROUPS && index >= 0)
			sqlite3_bind_int(s, arg++, index);
		for (size_t i = 0; i < k; i++)
			sqlite3_bind_text(s, arg++, keys[at + i], -1, SQLITE_STATIC);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			if ((ret = bulk_row(s, cb)) != 0)
				break;
		if (ret == 0 && rc != SQLITE_DONE)
			ret = db_fail(p, rc, err, "reading persons in bulk");
		sqlite3_finalize(s);
		at += keys ? k : 1;
	}
	sn_pstore_unlock(p);
	sn_buf_release(&sql);
	return ret;
}

int sn_persons_read(struct sn_persons *p, int64_t team_id, const char *const *keys, size_t n,
		    int (*fn)(void *ctx, const struct sn_person_raw *row), void *ctx,
		    struct sn_err *err)
{
	struct bulk_cb cb = {.what = BULK_PERSONS, .person = fn, .ctx = ctx};
	/* A whole team in storage order (migration 5's index), keys by uuid. */
	return bulk_read(p,
			 keys ? "SELECT uuid, properties, is_identified, created_at, version"
				" FROM posthog_person WHERE team_id = ?1"
			      : "SELECT uuid, properties, is_identified, created_at, version"
				" FROM posthog_person INDEXED BY posthog_person_team_scan"
				" WHERE team_id = ?1",
			 "uuid", team_id, -1, keys, n, &cb, err);
}

int sn_persons_count(struct sn_persons *p, int64_t team_id, int64_t *count, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = 0;
	*count = 0;
	sn_pstore_lock(p);
	int rc = sqlite3_prepare_v2(p->db,
				    "SELECT count(*) FROM posthog_person"
				    " INDEXED BY posthog_person_team_scan WHERE team_id = ?1",
				    -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, team_id);
		rc = sqlite3_step(s);
	}
	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(s, 0);
	else
		ret = db_fail(p, rc, err, "counting persons");
	sqlite3_finalize(s);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_read_distinct_ids(struct sn_persons *p, int64_t team_id, const char *const *keys,
				 size_t n,
				 int (*fn)(void *ctx, const char *distinct_id, const char *uuid),
				 void *ctx, struct sn_err *err)
{
	struct bulk_cb cb = {.what = BULK_DIDS, .did = fn, .ctx = ctx};
	return bulk_read(p,
			 keys ? "SELECT distinct_id, person_uuid FROM posthog_persondistinctid"
				" WHERE team_id = ?1 AND is_deleted = 0"
			      : "SELECT distinct_id, person_uuid FROM posthog_persondistinctid"
				" INDEXED BY posthog_persondistinctid_team_scan"
				" WHERE team_id = ?1 AND is_deleted = 0",
			 "distinct_id", team_id, -1, keys, n, &cb, err);
}

int sn_persons_read_groups(struct sn_persons *p, int64_t team_id, int group_type_index,
			   const char *const *keys, size_t n,
			   int (*fn)(void *ctx, const struct sn_group_raw *row), void *ctx,
			   struct sn_err *err)
{
	struct bulk_cb cb = {.what = BULK_GROUPS, .group = fn, .ctx = ctx};
	if (group_type_index < 0 && keys)
		return sn_err_set(err, SN_ERR_INVALID, "group keys need a group type index");
	return bulk_read(p,
			 group_type_index >= 0
			     ? "SELECT group_type_index, group_key, group_properties, created_at,"
			       " version FROM posthog_group WHERE team_id = ?1"
			       " AND group_type_index = ?2"
			     : "SELECT group_type_index, group_key, group_properties, created_at,"
			       " version FROM posthog_group WHERE team_id = ?1",
			 "group_key", team_id, group_type_index, keys, n, &cb, err);
}
