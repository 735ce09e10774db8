/*
 * flagkeys.c — what the flag server reads from and writes to the person
 * store beyond properties: the team's group types (for the definitions
 * document's group_type_mapping) and experience-continuity hash-key
 * overrides (spec posthog-wire.md §3.9).
 *
 *   posthog_featureflaghashkeyoverride (migration 3)
 *   +---------+-------------+------------------+----------+
 *   | team_id | person_uuid | feature_flag_key | hash_key |   UNIQUE (team, person, key)
 *   +---------+-------------+------------------+----------+
 *
 * PostHog keeps one row per (person, flag) and, when two persons merge,
 * copies the merged person's rows to the survivor unless it has its own
 * (ON CONFLICT DO NOTHING), then deletes the merged person with its rows.
 * snout leaves rows where they were written and follows
 * posthog_personoverride (old person → survivor, kept flat) when reading
 * and when deciding whether a person already has an override. The answer
 * is the same — the survivor's own row first, then inherited ones — and
 * identity.c's merge path needs no knowledge of flags. Two merged persons
 * that both had a row for a key: the one written first wins (PostHog: the
 * one merged first); only the order of several merges can tell them apart.
 *
 * Statements are prepared per call: they run once per /flags request of a
 * team that uses experience continuity (or once per definitions rebuild),
 * where a prepare is small next to the fsync of a write; keeping them out
 * of sqlite.c's statement table keeps this file self-contained.
 *
 * Concurrency: every function takes the store lock for its whole work. A
 * write while the ingest worker has a batch open joins that batch, like
 * every other writer on the connection (sqlite.c).
 */
#include "persons/persons_internal.h"

#include <sqlite3.h>
#include <string.h>

static int fail(sqlite3 *db, int rc, struct sn_err *err, const char *what)
{
	return sn_err_set(err, sn_sqlite_rc(rc), "persons database: %s: %s", what,
			  sqlite3_errmsg(db));
}

int sn_persons_group_types(struct sn_persons *p, int64_t team_id,
			   int (*fn)(void *ctx, int index, const char *group_type), void *ctx,
			   struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = 0, rc;
	sn_pstore_lock(p);
	sqlite3 *db = sn_pstore_db(p);
	rc = sqlite3_prepare_v2(db,
				"SELECT group_type_index, group_type FROM posthog_grouptypemapping"
				" WHERE team_id = ?1 ORDER BY group_type_index",
				-1, &s, NULL);
	if (rc != SQLITE_OK) {
		ret = fail(db, rc, err, "listing group types");
		goto out;
	}
	sqlite3_bind_int64(s, 1, team_id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 1);
		if ((ret = fn(ctx, sqlite3_column_int(s, 0), name ? name : "")))
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = fail(db, rc, err, "listing group types");
out:
	sqlite3_finalize(s);
	sn_pstore_unlock(p);
	return ret;
}

/* Binds distinct ids to ?2 and ?3 (NULL when absent: matches nothing). */
static int bind_ids(sqlite3_stmt *s, const char *const *ids, size_t n, struct sn_err *err)
{
	if (n < 1 || n > 2 || !ids[0])
		return sn_err_set(err, SN_ERR_INVALID, "one or two distinct ids are needed");
	sqlite3_bind_text(s, 2, ids[0], -1, SQLITE_STATIC);
	if (n == 2 && ids[1])
		sqlite3_bind_text(s, 3, ids[1], -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 3);
	return 0;
}

int sn_persons_hash_keys_add(struct sn_persons *p, int64_t team_id, const char *const *distinct_ids,
			     size_t n, const char *const *flag_keys, size_t nkeys,
			     const char *hash_key, size_t *written, struct sn_err *err)
{
	/* The keys go in as one JSON array read by json_each, so one
	 * statement covers every (person, key) pair. */
	static const char sql[] =
	    "INSERT OR IGNORE INTO posthog_featureflaghashkeyoverride"
	    " (team_id, person_uuid, feature_flag_key, hash_key)"
	    " SELECT DISTINCT ?1, d.person_uuid, k.value, ?4"
	    " FROM posthog_persondistinctid d"
	    " JOIN posthog_person p ON p.team_id = d.team_id AND p.uuid = d.person_uuid"
	    " JOIN json_each(?5) k"
	    " WHERE d.team_id = ?1 AND d.is_deleted = 0 AND d.distinct_id IN (?2, ?3)"
	    " AND NOT EXISTS (SELECT 1 FROM posthog_personoverride o"
	    "  JOIN posthog_featureflaghashkeyoverride h"
	    "   ON h.team_id = o.team_id AND h.person_uuid = o.old_person_id"
	    "  WHERE o.team_id = ?1 AND o.override_person_id = d.person_uuid"
	    "   AND h.feature_flag_key = k.value)";
	sqlite3_stmt *s = NULL;
	struct sn_buf keys;
	int ret = 0, rc;
	if (written)
		*written = 0;
	if (!hash_key || !*hash_key || strlen(hash_key) > SN_PERSONS_HASH_KEY_MAX)
		return sn_err_set(err, SN_ERR_INVALID, "a hash key is 1 to %d bytes",
				  SN_PERSONS_HASH_KEY_MAX);
	if (nkeys == 0)
		return 0;
	sn_buf_init(&keys, (size_t)16 << 20);
	int brc = sn_buf_appendc(&keys, '[');
	for (size_t i = 0; i < nkeys && !brc; i++) {
		if (i)
			brc = sn_buf_appendc(&keys, ',');
		brc = brc ? brc : sn_buf_append_json_str(&keys, flag_keys[i], strlen(flag_keys[i]));
	}
	if (brc || sn_buf_appendc(&keys, ']')) {
		sn_buf_release(&keys);
		return sn_err_set(err, SN_ERR_TOO_BIG, "too many flag keys");
	}
	sn_pstore_lock(p);
	sqlite3 *db = sn_pstore_db(p);
	if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) != SQLITE_OK) {
		ret = fail(db, rc, err, "writing hash-key overrides");
		goto out;
	}
	sqlite3_bind_int64(s, 1, team_id);
	if ((ret = bind_ids(s, distinct_ids, n, err)))
		goto out;
	sqlite3_bind_text(s, 4, hash_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, keys.data, (int)keys.len, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) != SQLITE_DONE) {
		ret = fail(db, rc, err, "writing hash-key overrides");
		goto out;
	}
	if (written)
		*written = (size_t)sqlite3_changes(db);
out:
	sqlite3_finalize(s);
	sn_pstore_unlock(p);
	sn_buf_release(&keys);
	return ret;
}

int sn_persons_hash_keys_get(struct sn_persons *p, int64_t team_id, const char *const *distinct_ids,
			     size_t n,
			     int (*fn)(void *ctx, const char *flag_key, const char *hash_key),
			     void *ctx, struct sn_err *err)
{
	/* rank: 2 × (is the person of ?2) + (own row, not inherited); rows
	 * come out by rank, then own rows in write order and inherited ones
	 * newest first, so the first-written inherited row is called last. */
	static const char sql[] =
	    "WITH t(uuid, mine) AS ("
	    " SELECT person_uuid, MAX(distinct_id = ?2) FROM posthog_persondistinctid"
	    " WHERE team_id = ?1 AND is_deleted = 0 AND distinct_id IN (?2, ?3)"
	    " GROUP BY person_uuid)"
	    " SELECT h.feature_flag_key, h.hash_key, t.mine * 2 + 1, h.rowid"
	    " FROM t JOIN posthog_featureflaghashkeyoverride h"
	    "  ON h.team_id = ?1 AND h.person_uuid = t.uuid"
	    " UNION ALL"
	    " SELECT h.feature_flag_key, h.hash_key, t.mine * 2, -h.rowid"
	    " FROM t JOIN posthog_personoverride o"
	    "  ON o.team_id = ?1 AND o.override_person_id = t.uuid"
	    " JOIN posthog_featureflaghashkeyoverride h"
	    "  ON h.team_id = ?1 AND h.person_uuid = o.old_person_id"
	    " ORDER BY 3, 4";
	sqlite3_stmt *s = NULL;
	int ret = 0, rc;
	sn_pstore_lock(p);
	sqlite3 *db = sn_pstore_db(p);
	if ((rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL)) != SQLITE_OK) {
		ret = fail(db, rc, err, "reading hash-key overrides");
		goto out;
	}
	sqlite3_bind_int64(s, 1, team_id);
	if ((ret = bind_ids(s, distinct_ids, n, err)))
		goto out;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *k = (const char *)sqlite3_column_text(s, 0);
		const char *h = (const char *)sqlite3_column_text(s, 1);
		if (k && h && (ret = fn(ctx, k, h)))
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = fail(db, rc, err, "reading hash-key overrides");
out:
	sqlite3_finalize(s);
	sn_pstore_unlock(p);
	return ret;
}
