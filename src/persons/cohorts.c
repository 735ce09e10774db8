/*
 * cohorts.c — the members of cohorts, kept next to the persons they name.
 *
 *   snout_cohortpeople (migration 4)
 *   +---------+-----------+-------------+-----------+
 *   | team_id | cohort_id | person_uuid | is_static |   PRIMARY KEY (team, cohort, person)
 *   +---------+-----------+-------------+-----------+   INDEX (team, person)
 *
 * The cohort's definition is metadata (meta/cohorts.c); who belongs to it
 * is person data, so it lives here: a GDPR delete of a person removes its
 * memberships in the same transaction (delete.c), and the query engine
 * reads cohort_people / static_cohort_people through the same store
 * handle it reads persons through.
 *
 * Dynamic cohorts: each calculation replaces the whole member set in one
 * transaction (sn_persons_cohort_replace), so a reader sees the previous
 * calculation or the new one, never a mix; PostHog's versioned
 * cohortpeople rows (collapsed by sign at the latest version) exist for
 * ClickHouse's lack of transactions and are not needed here. Static
 * cohorts: members added (by person uuid, distinct id or email, from an
 * uploaded CSV or an insight's actors) and removed one by one.
 *
 * Members are stored by the person uuid current when they were added. A
 * later merge moves a person's distinct ids to the survivor; the events'
 * person_id resolves to the survivor at query time, so a static member
 * merged away no longer matches in queries until re-added — PostHog behaves
 * the same (person_static_cohort keeps the old person id). Flags are the
 * exception: PostHog's merge moves posthog_cohortpeople rows (what its
 * flags read) to the survivor, so sn_persons_cohorts_of also answers the
 * memberships of the persons merged into the one asked about, found
 * through posthog_personoverride (kept flat, so one level), as flagkeys.c
 * finds hash keys. Rewriting the rows at merge instead was rejected: it
 * would change what queries see, where PostHog keeps the old id.
 *
 * Concurrency: every function holds the store lock; writes run in
 * sn_pstore_begin/commit (their own transaction, or a savepoint of the
 * ingest worker's open batch, as every other writer).
 */
#include "persons/persons_internal.h"

#include <sqlite3.h>
#include <string.h>

static int fail(sqlite3 *db, int rc, struct sn_err *err, const char *what)
{
	return sn_err_set(err, sn_sqlite_rc(rc), "persons database: %s: %s", what,
			  sqlite3_errmsg(db));
}

/* Runs one statement with (?1 team, ?2 cohort) to completion. */
static int exec2(sqlite3 *db, const char *sql, int64_t team_id, int64_t cohort_id,
		 struct sn_err *err, const char *what)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, cohort_id);
		rc = sqlite3_step(s);
	}
	int ret = rc == SQLITE_DONE ? 0 : fail(db, rc, err, what);
	sqlite3_finalize(s);
	return ret;
}

/* Inserts every key through sql (?1 team, ?2 cohort, ?3 key), counting
 * rows written. The caller holds the lock and an open transaction. */
static int insert_keys(sqlite3 *db, const char *sql, int64_t team_id, int64_t cohort_id,
		       const char *const *keys, size_t n, size_t *written, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return fail(db, rc, err, "writing cohort members");
	int ret = 0;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, cohort_id);
	for (size_t i = 0; i < n; i++) {
		if (!keys[i])
			continue;
		sqlite3_bind_text(s, 3, keys[i], -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
			ret = fail(db, rc, err, "writing cohort members");
			break;
		}
		*written += (size_t)sqlite3_changes(db);
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	return ret;
}

static int write_members(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			 const char *clear_sql, const char *insert_sql, const char *const *keys,
			 size_t n, size_t *written, struct sn_err *err)
{
	size_t w = 0;
	int ret;
	sn_pstore_lock(p);
	sqlite3 *db = sn_pstore_db(p);
	if ((ret = sn_pstore_begin(p, err)))
		goto out;
	if ((clear_sql &&
	     (ret = exec2(db, clear_sql, team_id, cohort_id, err, "clearing cohort members"))) ||
	    (insert_sql &&
	     (ret = insert_keys(db, insert_sql, team_id, cohort_id, keys, n, &w, err)))) {
		sn_pstore_rollback(p);
		goto out;
	}
	ret = sn_pstore_commit(p, err);
out:
	sn_pstore_unlock(p);
	if (written)
		*written = ret ? 0 : w;
	return ret;
}

int sn_persons_cohort_replace(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			      const char *const *uuids, size_t n, size_t *count, struct sn_err *err)
{
	/* Only persons of the team become members: a calculation's ids come
	 * from the team's own events, but a person deleted meanwhile must
	 * not come back as a member. */
	return write_members(p, team_id, cohort_id,
			     "DELETE FROM snout_cohortpeople WHERE team_id = ?1 AND cohort_id = ?2",
			     "INSERT OR IGNORE INTO snout_cohortpeople"
			     " (team_id, cohort_id, person_uuid, is_static)"
			     " SELECT ?1, ?2, uuid, 0 FROM posthog_person"
			     " WHERE team_id = ?1 AND uuid = ?3",
			     uuids, n, count, err);
}

int sn_persons_cohort_add(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			  enum sn_cohort_key kind, const char *const *keys, size_t n, size_t *added,
			  struct sn_err *err)
{
	static const char *const sql[] = {
	    [SN_COHORT_KEY_UUID] = "INSERT OR IGNORE INTO snout_cohortpeople"
				   " (team_id, cohort_id, person_uuid, is_static)"
				   " SELECT ?1, ?2, uuid, 1 FROM posthog_person"
				   " WHERE team_id = ?1 AND uuid = ?3",
	    [SN_COHORT_KEY_DISTINCT_ID] =
		"INSERT OR IGNORE INTO snout_cohortpeople"
		" (team_id, cohort_id, person_uuid, is_static)"
		" SELECT ?1, ?2, person_uuid, 1 FROM posthog_persondistinctid"
		" WHERE team_id = ?1 AND distinct_id = ?3 AND is_deleted = 0",
	    [SN_COHORT_KEY_EMAIL] = "INSERT OR IGNORE INTO snout_cohortpeople"
				    " (team_id, cohort_id, person_uuid, is_static)"
				    " SELECT ?1, ?2, uuid, 1 FROM posthog_person"
				    " WHERE team_id = ?1 AND json_valid(properties)"
				    " AND json_extract(properties, '$.email') = ?3",
	};
	if ((unsigned)kind >= SN_ARRAY_LEN(sql))
		return sn_err_set(err, SN_ERR_INVALID, "unknown kind of cohort member key");
	return write_members(p, team_id, cohort_id, NULL, sql[kind], keys, n, added, err);
}

int sn_persons_cohort_remove(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			     const char *uuid, bool *removed, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = 0, rc;
	*removed = false;
	sn_pstore_lock(p);
	sqlite3 *db = sn_pstore_db(p);
	if ((ret = sn_pstore_begin(p, err)))
		goto out;
	rc = sqlite3_prepare_v2(
	    db,
	    "DELETE FROM snout_cohortpeople WHERE team_id = ?1 AND cohort_id = ?2"
	    " AND person_uuid = ?3 AND is_static = 1",
	    -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, cohort_id);
		sqlite3_bind_text(s, 3, uuid, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
	}
	if (rc != SQLITE_DONE) {
		ret = fail(db, rc, err, "removing a cohort member");
		sn_pstore_rollback(p);
		goto out;
	}
	*removed = sqlite3_changes(db) > 0;
	ret = sn_pstore_commit(p, err);
out:
	sqlite3_finalize(s);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_cohort_clear(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			    struct sn_err *err)
{
	return write_members(p, team_id, cohort_id,
			     "DELETE FROM snout_cohortpeople WHERE team_id = ?1 AND cohort_id = ?2",
			     NULL, NULL, 0, NULL, err);
}

int sn_persons_cohort_count(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			    int64_t *count, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = 0;
	*count = 0;
	sn_pstore_lock(p);
	sqlite3 *db = sn_pstore_db(p);
	int rc = sqlite3_prepare_v2(db,
				    "SELECT count(*) FROM snout_cohortpeople"
				    " WHERE team_id = ?1 AND cohort_id = ?2",
				    -1, &s, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, cohort_id);
		rc = sqlite3_step(s);
	}
	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(s, 0);
	else
		ret = fail(db, rc, err, "counting cohort members");
	sqlite3_finalize(s);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_read_cohort_people(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
				  int is_static,
				  int (*fn)(void *ctx, int64_t cohort_id, const char *uuid,
					    bool is_static),
				  void *ctx, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = 0;
	sn_pstore_lock(p);
	sqlite3 *db = sn_pstore_db(p);
	int rc =
	    sqlite3_prepare_v2(db,
			       "SELECT cohort_id, person_uuid, is_static FROM snout_cohortpeople"
			       " WHERE team_id = ?1 AND (?2 < 0 OR cohort_id = ?2)"
			       " AND (?3 < 0 OR is_static = ?3)"
			       " ORDER BY cohort_id, person_uuid",
			       -1, &s, NULL);
	if (rc != SQLITE_OK) {
		ret = fail(db, rc, err, "reading cohort members");
		goto out;
	}
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, cohort_id);
	sqlite3_bind_int(s, 3, is_static);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *u = (const char *)sqlite3_column_text(s, 1);
		if ((ret = fn(ctx, sqlite3_column_int64(s, 0), u ? u : "",
			      sqlite3_column_int(s, 2) != 0)))
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = fail(db, rc, err, "reading cohort members");
out:
	sqlite3_finalize(s);
	sn_pstore_unlock(p);
	return ret;
}

int sn_persons_cohorts_of(struct sn_persons *p, int64_t team_id, const char *uuid,
			  int (*fn)(void *ctx, int64_t cohort_id, bool is_static), void *ctx,
			  struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = 0;
	sn_pstore_lock(p);
	sqlite3 *db = sn_pstore_db(p);
	int rc = sqlite3_prepare_v2(db,
				    "SELECT DISTINCT cohort_id, is_static FROM snout_cohortpeople"
				    " WHERE team_id = ?1 AND (person_uuid = ?2 OR person_uuid IN"
				    " (SELECT old_person_id FROM posthog_personoverride"
				    "  WHERE team_id = ?1 AND override_person_id = ?2))",
				    -1, &s, NULL);
	if (rc != SQLITE_OK) {
		ret = fail(db, rc, err, "reading a person's cohorts");
		goto out;
	}
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_text(s, 2, uuid, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		if ((ret = fn(ctx, sqlite3_column_int64(s, 0), sqlite3_column_int(s, 1) != 0)))
			goto out;
	if (rc != SQLITE_DONE)
		ret = fail(db, rc, err, "reading a person's cohorts");
out:
	sqlite3_finalize(s);
	sn_pstore_unlock(p);
	return ret;
}
