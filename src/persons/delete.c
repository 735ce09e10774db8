/*
 * delete.c — deleting a person for good (GDPR): every row of the person
 * store that names the person or one of its distinct ids; and splitting a
 * person into one person per distinct id, which shares the concurrency
 * rules below.
 *
 *   posthog_person               the row (team, uuid)
 *   posthog_persondistinctid     its distinct ids (hard delete, not is_deleted)
 *   posthog_personoverride       old → this person: the persons merged into it
 *   posthog_featureflaghashkeyoverride   rows of this person and the merged ones
 *   posthog_personlessdistinctid rows of its distinct ids
 *
 * Groups are not keyed to persons and stay. The ids of the merged persons
 * and the distinct ids are handed back, because the caller deleting the
 * person's events needs them: an event's stored person_id is the id
 * identity gave it at ingestion, which for events sent before a merge is
 * the merged person's.
 *
 * Concurrency: this is the one person write that does not go through the
 * WAL and the ingest worker. It waits for the worker's open batch to commit
 * (sn_pstore_lock_idle) and runs in its own BEGIN IMMEDIATE transaction, so
 * it is durable when it returns and no replay after a crash can undo it:
 * replay only covers records after the last batch commit, which the caller
 * (persons_api.c) waits for before deleting. The worker's distinct-id cache
 * may still hold the person; the generation counter tells it to drop the
 * cache (ingest/identity.c).
 *
 * On disk: secure_delete (set at open) zeroes the deleted cells and freed
 * pages; the commit's pages go to SQLite's -wal file, and a TRUNCATE
 * checkpoint afterwards copies them into the database and empties the -wal
 * file, so no older page image holding the rows remains in either file.
 *
 * Split (PostHog's Person.split_person): every distinct id but the main one
 * (main_distinct_id, else the oldest) moves to a new person with empty
 * properties. Without a main_distinct_id the person keeps the oldest id but
 * its properties are emptied too, as PostHog does (nothing says which id
 * they came from). A new person's id is the distinct id's own deterministic
 * uuid, so personless events and events stamped before a merge with that
 * id belong to it again: an override from that id to the person is removed. Stored
 * events keep their person_id, as in PostHog. If that uuid is taken (it is
 * the person's own id, when the split-off id created the person), the new
 * person gets a fresh UUIDv7.
 *
 * Rejected: deleting through a WAL record the worker applies, like the
 * property writes. It would need a record type capture can never produce
 * and a second identity path in the worker, and the API would still have
 * to wait for the worker; a deletion is rare enough to wait for a commit.
 */
#include "persons/persons_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(sqlite3 *db, int rc, struct sn_err *err, const char *what)
{
	return sn_err_set(err, sn_sqlite_rc(rc), "persons database: %s: %s", what,
			  sqlite3_errmsg(db));
}

void sn_persons_deleted_release(struct sn_persons_deleted *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->ndistinct_ids; i++)
		free(d->distinct_ids[i]);
	free(d->distinct_ids);
	free(d->person_ids);
	memset(d, 0, sizeof(*d));
}

static int add_person(struct sn_persons_deleted *d, const char *id, struct sn_err *err)
{
	if (d->npersons + d->ndistinct_ids >= SN_PERSONS_DELETE_IDS_MAX)
		return sn_err_set(err, SN_ERR_TOO_BIG, "the person has more than %d ids",
				  SN_PERSONS_DELETE_IDS_MAX);
	char(*np)[37] = realloc(d->person_ids, (d->npersons + 1) * sizeof(*np));
	if (!np)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	d->person_ids = np;
	snprintf(np[d->npersons++], 37, "%s", id);
	return 0;
}

static int add_did(struct sn_persons_deleted *d, const char *did, struct sn_err *err)
{
	if (d->npersons + d->ndistinct_ids >= SN_PERSONS_DELETE_IDS_MAX)
		return sn_err_set(err, SN_ERR_TOO_BIG, "the person has more than %d ids",
				  SN_PERSONS_DELETE_IDS_MAX);
	char **nd = realloc(d->distinct_ids, (d->ndistinct_ids + 1) * sizeof(*nd));
	if (!nd)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	d->distinct_ids = nd;
	if (!(nd[d->ndistinct_ids] = strdup(did)))
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	d->ndistinct_ids++;
	return 0;
}

/* Runs sql with ?1 = team and ?2 = text; with add, collects column 0. */
static int step_all(sqlite3 *db, const char *sql, int64_t team, const char *text,
		    struct sn_persons_deleted *d,
		    int (*add)(struct sn_persons_deleted *, const char *, struct sn_err *),
		    struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL), ret = 0;
	if (rc != SQLITE_OK)
		return fail(db, rc, err, "deleting a person");
	sqlite3_bind_int64(s, 1, team);
	sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(s, 0);
		if (add && v && (ret = add(d, v, err)))
			break;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = fail(db, rc, err, "deleting a person");
	sqlite3_finalize(s);
	return ret;
}

int sn_persons_delete(struct sn_persons *p, int64_t team_id, const char *uuid,
		      struct sn_persons_deleted *out, struct sn_err *err)
{
	struct sn_persons_deleted d = {0};
	bool open = false;
	int ret, rc;
	if (!uuid || strlen(uuid) != 36)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "no such person");
	sn_pstore_lock_idle(p);
	sqlite3 *db = sn_pstore_db(p);
	if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) {
		ret = fail(db, rc, err, "starting a deletion");
		goto out;
	}
	open = true;
	if ((ret = step_all(db, "SELECT uuid FROM posthog_person WHERE team_id = ?1 AND uuid = ?2",
			    team_id, uuid, &d, add_person, err)))
		goto out;
	if (d.npersons == 0) {
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "no such person");
		goto out;
	}
	if ((ret = step_all(db,
			    "SELECT old_person_id FROM posthog_personoverride"
			    " WHERE team_id = ?1 AND override_person_id = ?2",
			    team_id, uuid, &d, add_person, err)) ||
	    (ret = step_all(db,
			    "SELECT distinct_id FROM posthog_persondistinctid"
			    " WHERE team_id = ?1 AND person_uuid = ?2 ORDER BY id",
			    team_id, uuid, &d, add_did, err)))
		goto out;
	for (size_t i = 0; i < d.npersons; i++)
		if ((ret = step_all(db,
				    "DELETE FROM posthog_featureflaghashkeyoverride"
				    " WHERE team_id = ?1 AND person_uuid = ?2",
				    team_id, d.person_ids[i], NULL, NULL, err)))
			goto out;
	for (size_t i = 0; i < d.npersons; i++)
		if ((ret = step_all(db,
				    "DELETE FROM snout_cohortpeople"
				    " WHERE team_id = ?1 AND person_uuid = ?2",
				    team_id, d.person_ids[i], NULL, NULL, err)))
			goto out;
	for (size_t i = 0; i < d.ndistinct_ids; i++)
		if ((ret = step_all(db,
				    "DELETE FROM posthog_personlessdistinctid"
				    " WHERE team_id = ?1 AND distinct_id = ?2",
				    team_id, d.distinct_ids[i], NULL, NULL, err)))
			goto out;
	if ((ret = step_all(db,
			    "DELETE FROM posthog_persondistinctid"
			    " WHERE team_id = ?1 AND person_uuid = ?2",
			    team_id, uuid, NULL, NULL, err)) ||
	    (ret = step_all(db,
			    "DELETE FROM posthog_personoverride"
			    " WHERE team_id = ?1 AND override_person_id = ?2",
			    team_id, uuid, NULL, NULL, err)) ||
	    (ret = step_all(db, "DELETE FROM posthog_person WHERE team_id = ?1 AND uuid = ?2",
			    team_id, uuid, NULL, NULL, err)))
		goto out;
	if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
		ret = fail(db, rc, err, "committing a deletion");
		goto out;
	}
	open = false;
	sn_pstore_bump_generation(p);
	/* Old page images of the rows live on in the -wal file until a
	 * checkpoint; TRUNCATE copies and empties it. The server's checkpoint
	 * thread (sn-db-ckpt, its own connection) may be running a PASSIVE one
	 * at this moment, and SQLite then answers BUSY at once: retried for up
	 * to 5 s until the -wal is empty. A reader elsewhere (snout query) can
	 * keep it partial longer, which is logged, not failed: the rows are
	 * deleted. */
	int logged = 0, ckpt = 0;
	for (int tries = 0;; tries++) {
		rc =
		    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &ckpt);
		if ((rc == SQLITE_OK && logged <= 0) || tries == 250 ||
		    (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED))
			break;
		usleep(20000);
	}
	if (rc != SQLITE_OK || logged > 0)
		sn_log_warn("persons: checkpoint after a deletion left %d pages in the WAL: %s",
			    logged, sqlite3_errmsg(db));
out:
	if (open)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sn_pstore_unlock_idle(p);
	if (ret || !out)
		sn_persons_deleted_release(&d);
	else
		*out = d;
	return ret;
}

/* The distinct id's own person id, or a fresh one when a person has it. */
static int new_person_id(sqlite3 *db, int64_t team_id, const char *did, char out[37],
			 struct sn_err *err)
{
	struct sn_persons_deleted taken = {0};
	sn_persons_uuid_for(team_id, did, strlen(did), out);
	int ret = step_all(db, "SELECT uuid FROM posthog_person WHERE team_id = ?1 AND uuid = ?2",
			   team_id, out, &taken, add_person, err);
	if (!ret && taken.npersons) {
		struct sn_uuid u;
		sn_uuid_v7(&u, sn_now_us());
		sn_uuid_format(&u, out);
	}
	sn_persons_deleted_release(&taken);
	return ret;
}

int sn_persons_split(struct sn_persons *p, int64_t team_id, const char *uuid,
		     const char *main_distinct_id, size_t *nsplit, struct sn_err *err)
{
	struct sn_persons_deleted d = {0};
	bool open = false;
	int ret, rc;
	size_t n = 0;
	if (!uuid || strlen(uuid) != 36)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "no such person");
	sn_pstore_lock_idle(p);
	sqlite3 *db = sn_pstore_db(p);
	if ((rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) {
		ret = fail(db, rc, err, "starting a split");
		goto out;
	}
	open = true;
	if ((ret = step_all(db, "SELECT uuid FROM posthog_person WHERE team_id = ?1 AND uuid = ?2",
			    team_id, uuid, &d, add_person, err)))
		goto out;
	if (d.npersons == 0) {
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "no such person");
		goto out;
	}
	if ((ret = step_all(db,
			    "SELECT distinct_id FROM posthog_persondistinctid"
			    " WHERE team_id = ?1 AND person_uuid = ?2 ORDER BY id",
			    team_id, uuid, &d, add_did, err)))
		goto out;
	const char *keep = d.ndistinct_ids ? d.distinct_ids[0] : NULL;
	if (main_distinct_id && *main_distinct_id) {
		keep = NULL;
		for (size_t i = 0; i < d.ndistinct_ids && !keep; i++)
			if (!strcmp(d.distinct_ids[i], main_distinct_id))
				keep = d.distinct_ids[i];
		if (!keep) {
			ret = sn_err_set(err, SN_ERR_INVALID,
					 "main_distinct_id is not a distinct id of the person");
			goto out;
		}
	} else if ((ret = step_all(
			db,
			"UPDATE posthog_person SET properties = '{}', version = version + 1"
			" WHERE team_id = ?1 AND uuid = ?2",
			team_id, uuid, NULL, NULL, err))) {
		goto out; /* no main id: PostHog empties the person's properties too */
	}
	for (size_t i = 0; i < d.ndistinct_ids; i++) {
		const char *did = d.distinct_ids[i];
		char nu[37];
		sqlite3_stmt *s = NULL;
		if (did == keep)
			continue;
		if ((ret = new_person_id(db, team_id, did, nu, err)))
			goto out;
		rc = sqlite3_prepare_v2(db,
					"INSERT INTO posthog_person (team_id, uuid, properties,"
					" is_identified, created_at, version)"
					" VALUES (?1, ?2, '{}', 0, ?3, 0)",
					-1, &s, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(s, 1, team_id);
			sqlite3_bind_text(s, 2, nu, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 3, sn_now_us());
			rc = sqlite3_step(s);
		}
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			ret = fail(db, rc, err, "creating a person for a split");
			goto out;
		}
		s = NULL;
		rc = sqlite3_prepare_v2(
		    db,
		    "UPDATE posthog_persondistinctid SET person_uuid = ?3,"
		    " version = version + 1 WHERE team_id = ?1 AND distinct_id = ?2",
		    -1, &s, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(s, 1, team_id);
			sqlite3_bind_text(s, 2, did, -1, SQLITE_STATIC);
			sqlite3_bind_text(s, 3, nu, -1, SQLITE_STATIC);
			rc = sqlite3_step(s);
		}
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			ret = fail(db, rc, err, "moving a distinct id");
			goto out;
		}
		if ((ret = step_all(db,
				    "DELETE FROM posthog_personoverride"
				    " WHERE team_id = ?1 AND old_person_id = ?2",
				    team_id, nu, NULL, NULL, err)))
			goto out;
		n++;
	}
	if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
		ret = fail(db, rc, err, "committing a split");
		goto out;
	}
	open = false;
	sn_pstore_bump_generation(p);
out:
	if (open)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sn_pstore_unlock_idle(p);
	sn_persons_deleted_release(&d);
	if (nsplit)
		*nsplit = ret ? 0 : n;
	return ret;
}
