/*
 * sqlite.c — the one place that opens SQLite databases and migrates them.
 * Metadata (meta/) and persons (persons/) each keep a SQLite file; both open
 * it the same way and run numbered, append-only migrations the same way.
 *
 * Open: through snout's VFS (sqlite_vfs.c: the default VFS, which can
 * gather a connection's WAL writes into large pwrites; registering it
 * turns SQLite's global memory statistics off first), extended result
 * codes, a busy timeout, WAL journal mode (the first statement that reads
 * the file, so a path that is not a database fails there with a clear
 * message), synchronous=NORMAL (durable at checkpoints; WAL mode keeps the
 * file consistent after a crash), optionally foreign keys.
 *
 * Migrate: schema_migrations(version, name, applied_at) records what ran.
 * Each migration runs in one BEGIN IMMEDIATE transaction together with its
 * record, and the current version is read inside that transaction, so two
 * processes opening the same file cannot both apply one. A database newer
 * than the binary is refused ("upgrade snout"); a failing migration rolls
 * back and names itself.
 *
 * Checkpointer (sn_sqlite_ckpt_*): in WAL mode the connection that commits
 * also copies the WAL back into the database once it passes 1000 pages
 * (SQLite's auto-checkpoint), fsyncs included. For the persons database that
 * connection is the ingest thread, and with identity on the copy was a
 * tenth of its time (2026-12-03 profile on the query benchmark's events).
 * A thread of its own with a second connection runs PASSIVE checkpoints
 * instead: they never wait for the writer and never block it, and copy
 * only committed frames. The writer's auto-checkpoint stays as a backstop
 * at a higher threshold: when the writer begins its next transaction
 * before the checkpointer finished (the usual case for a batch that
 * reopens at once) SQLite cannot rewind the WAL, so the writer's own
 * checkpoint, cheap by then, rewinds it when it passes the backstop.
 * When no commit came for CKPT_IDLE_MS the checkpointer runs a TRUNCATE
 * checkpoint instead, which also empties the -wal file: a writer may then
 * keep its WAL file at full size while it is busy (journal_size_limit -1),
 * and an idle database does not keep hundreds of MB of old frames.
 */
#include "base.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 5000
#define CKPT_IDLE_MS	5000 /* the checkpointer also runs this often unpoked */

int sn_sqlite_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return SN_ERR_EXISTS;
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return SN_ERR_NOT_FOUND;
		return SN_ERR_INVALID;
	case SQLITE_NOMEM: return SN_ERR_NOMEM;
	case SQLITE_IOERR:
	case SQLITE_FULL:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_PERM: return SN_ERR_IO;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: return SN_ERR_CORRUPT;
	default: return SN_ERR_INTERNAL;
	}
}

int sn_sqlite_exec(sqlite3 *db, const char *label, const char *what, const char *sql,
		   struct sn_err *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		int code = sn_sqlite_rc(sqlite3_extended_errcode(db));
		sn_err_set(err, code, "%s: %s: %s", label, what, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return code;
	}
	return 0;
}

int sn_sqlite_open(sqlite3 **out, const char *path, const char *label, bool foreign_keys,
		   struct sn_err *err)
{
	sqlite3 *db = NULL;
	int ret = 0;
	*out = NULL;
	int rc = sqlite3_open_v2(path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 sn_sqlite_vfs());
	if (rc != SQLITE_OK) {
		ret = sn_err_set(err, SN_ERR_IO, "cannot open %s %s: %s", label, path,
				 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	sqlite3_stmt *s = NULL;
	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	char mode[16] = "";
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		snprintf(mode, sizeof(mode), "%s", t ? (const char *)t : "");
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		ret = sn_err_set(err, SN_ERR_IO, "cannot open %s %s: %s", label, path,
				 sqlite3_errmsg(db));
		goto out;
	}
	if (strcmp(mode, "wal") != 0 &&
	    !(strcmp(mode, "memory") == 0 && strcmp(path, ":memory:") == 0)) {
		ret = sn_err_set(err, SN_ERR_IO,
				 "cannot open %s %s: WAL mode refused (journal mode is %s)", label,
				 path, mode);
		goto out;
	}
	if (sn_sqlite_exec(db, label, "settings",
			   foreign_keys ? "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON"
					: "PRAGMA synchronous=NORMAL",
			   NULL) < 0) {
		ret = sn_err_set(err, SN_ERR_IO, "cannot open %s %s: %s", label, path,
				 sqlite3_errmsg(db));
		goto out;
	}
	*out = db;
	db = NULL;
out:
	sqlite3_close(db);
	return ret;
}

int sn_sqlite_prepare_all(sqlite3 *db, const char *label, const char *const *sql, size_t n,
			  sqlite3_stmt **out, struct sn_err *err)
{
	for (size_t i = 0; i < n; i++) {
		int rc =
		    sqlite3_prepare_v3(db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &out[i], NULL);
		if (rc != SQLITE_OK)
			return sn_err_set(err, sn_sqlite_rc(sqlite3_extended_errcode(db)),
					  "%s: preparing a statement: %s", label,
					  sqlite3_errmsg(db));
	}
	return 0;
}

void sn_sqlite_column_text(sqlite3_stmt *s, int i, char *dst, size_t n)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	size_t len = t ? (size_t)sqlite3_column_bytes(s, i) : 0;
	if (len >= n)
		len = n - 1;
	if (len)
		memcpy(dst, t, len);
	dst[len] = 0;
}

int sn_sqlite_schema_version(sqlite3 *db, int *version, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations",
				    -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		int code = sn_sqlite_rc(sqlite3_extended_errcode(db));
		sn_err_set(err, code, "reading schema version: %s", sqlite3_errmsg(db));
		sqlite3_finalize(s);
		return code;
	}
	sqlite3_int64 v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	*version = v > 1000000 ? 1000000 : (int)v;
	return 0;
}

/* Applies the next pending migration: 1 when it applied one, 0 when up to
 * date, or an error. */
static int migrate_one(sqlite3 *db, const char *path, const char *label,
		       const struct sn_sql_migration *migs, size_t nmigs, struct sn_err *err)
{
	int cur = 0, ret;
	bool in_tx = false;
	char *q = NULL;
	if ((ret = sn_sqlite_exec(db, label, "starting a migration", "BEGIN IMMEDIATE", err)) < 0)
		goto out;
	in_tx = true;
	if ((ret = sn_sqlite_schema_version(db, &cur, err)) < 0)
		goto out;
	if (cur > (int)nmigs) {
		ret = sn_err_set(err, SN_ERR_INVALID,
				 "%s: database schema version %d is newer than this snout (%d); "
				 "upgrade snout",
				 path, cur, (int)nmigs);
		goto out;
	}
	if (cur == (int)nmigs)
		goto out; /* up to date; the rollback below just ends the transaction */
	const struct sn_sql_migration *mg = &migs[cur];
	if ((ret = sn_sqlite_exec(db, label, "migration", mg->sql, err)) < 0) {
		sn_err_prefix(err, "%s: migration %d (%s) failed", path, mg->version, mg->name);
		goto out;
	}
	char when[32];
	sn_time_format_rfc3339(sn_now_us(), when);
	q = sqlite3_mprintf("INSERT INTO schema_migrations (version, name, applied_at)"
			    " VALUES (%d, %Q, %Q)",
			    mg->version, mg->name, when);
	if (!q) {
		ret = sn_err_set(err, SN_ERR_NOMEM, "out of memory recording a migration");
		goto out;
	}
	if ((ret = sn_sqlite_exec(db, label, "recording a migration", q, err)) < 0)
		goto out;
	if ((ret = sn_sqlite_exec(db, label, "committing a migration", "COMMIT", err)) < 0)
		goto out;
	in_tx = false;
	sn_log_info("%s: applied migration %d (%s) to %s", label, mg->version, mg->name, path);
	ret = 1;
out:
	sqlite3_free(q);
	if (in_tx)
		sn_sqlite_exec(db, label, "rollback", "ROLLBACK", NULL);
	return ret;
}

int sn_sqlite_migrate(sqlite3 *db, const char *path, const char *label,
		      const struct sn_sql_migration *migs, size_t nmigs, int *applied,
		      struct sn_err *err)
{
	for (size_t i = 0; i < nmigs; i++)
		if (migs[i].version != (int)i + 1)
			return sn_err_set(err, SN_ERR_INTERNAL,
					  "migration list is not numbered 1..%zu", nmigs);
	int ret = sn_sqlite_exec(db, label, "creating schema_migrations",
				 "CREATE TABLE IF NOT EXISTS schema_migrations ("
				 " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
				 " applied_at TEXT NOT NULL)",
				 err);
	while (ret >= 0 && (ret = migrate_one(db, path, label, migs, nmigs, err)) == 1)
		if (applied)
			(*applied)++;
	return ret;
}

/* ---- background checkpointer ------------------------------------------------ */

struct sn_sqlite_ckpt {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool poked, stop;
	uint64_t count; /* under mu */
	char label[64];
};

static void *ckpt_main(void *arg)
{
	struct sn_sqlite_ckpt *c = arg;
	pthread_setname_np(pthread_self(), "sn-db-ckpt");
	pthread_mutex_lock(&c->mu);
	for (;;) {
		bool idle = false;
		if (!c->poked && !c->stop) {
			struct timespec ts = sn_deadline_in_ms(CKPT_IDLE_MS);
			pthread_cond_timedwait(&c->cond, &c->mu, &ts);
			idle = !c->poked;
		}
		if (c->stop)
			break;
		c->poked = false;
		pthread_mutex_unlock(&c->mu);
		/* No commit for CKPT_IDLE_MS: empty the -wal file too (TRUNCATE
		 * waits for nobody here, there is no busy handler: with a
		 * transaction open it does what PASSIVE does, and answers BUSY). */
		int rc = sqlite3_wal_checkpoint_v2(
		    c->db, NULL, idle ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE,
		    NULL, NULL);
		/* BUSY: another checkpoint (the writer's backstop) is running, or
		 * (idle) a reader or the writer is in a transaction. */
		if (rc != SQLITE_OK && rc != SQLITE_BUSY)
			sn_log_warn("%s: background checkpoint failed: %s", c->label,
				    sqlite3_errmsg(c->db));
		pthread_mutex_lock(&c->mu);
		c->count++;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int sn_sqlite_ckpt_start(struct sn_sqlite_ckpt **out, sqlite3 *writer, const char *path,
			 const char *label, int backstop_pages, struct sn_err *err)
{
	*out = NULL;
	struct sn_sqlite_ckpt *c = calloc(1, sizeof(*c));
	if (!c)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	snprintf(c->label, sizeof(c->label), "%s", label);
	int rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
				 sn_sqlite_vfs());
	if (rc != SQLITE_OK) {
		int ret = sn_err_set(err, SN_ERR_IO, "%s: cannot open a checkpoint connection: %s",
				     label, c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sqlite3_close(c->db);
		free(c);
		return ret;
	}
	/* The checkpoint connection syncs as the writer does (FULL or NORMAL:
	 * both fsync the WAL before and the database after a checkpoint). */
	sqlite3_exec(c->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cond, NULL);
	if (pthread_create(&c->thread, NULL, ckpt_main, c)) {
		sqlite3_close(c->db);
		pthread_cond_destroy(&c->cond);
		pthread_mutex_destroy(&c->mu);
		free(c);
		return sn_err_set(err, SN_ERR_INTERNAL, "%s: cannot start the checkpoint thread",
				  label);
	}
	sqlite3_wal_autocheckpoint(writer, backstop_pages);
	*out = c;
	return 0;
}

void sn_sqlite_ckpt_poke(struct sn_sqlite_ckpt *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->poked = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mu);
}

uint64_t sn_sqlite_ckpt_count(struct sn_sqlite_ckpt *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t n = c->count;
	pthread_mutex_unlock(&c->mu);
	return n;
}

void sn_sqlite_ckpt_stop(struct sn_sqlite_ckpt *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	pthread_cond_signal(&c->cond);
	pthread_mutex_unlock(&c->mu);
	pthread_join(c->thread, NULL);
	sqlite3_close(c->db);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
