/*
 * sessions.c — login sessions of the web UI in the SQLite metadata backend
 * (table snout_session, migration 9).
 *
 *   login ──▶ key = 43 random alphanumerics (~256 bits), csrf = 32 more
 *             INSERT (sha256(key), csrf, user, now, now + ttl)
 *   request ─▶ cookie key ─sha256─▶ indexed SELECT ─▶ user (active) + csrf
 *   logout ──▶ DELETE by sha256(key)
 *
 * Only the key's hash is stored, as for personal API keys: a copy of the
 * metadata file does not hand out logins. The key is random and long, so
 * a fast hash is enough and a request costs one indexed lookup. The CSRF
 * token is stored plain: the page reads it from its cookie anyway, and
 * what makes it useful is that a forged request from another site cannot
 * read it. Expiry is fixed at creation (no sliding renewal, as Django's
 * default sessions); rows past it are swept whenever a session is created,
 * so the table holds about the live sessions. Deleting a user deletes its
 * sessions (ON DELETE CASCADE); a deactivated user's sessions stop
 * authenticating at once because the lookup checks is_active.
 *
 * Statements are prepared per call (flags.c's pattern): one lookup per UI
 * request is far below what would make keeping them prepared matter.
 */
#include "meta/meta_internal.h"

#include <sodium.h>
#include <sqlite3.h>
#include <string.h>

static const char bad[] = "invalid or expired session";

int sn_meta_session_create(struct sn_meta *m, int64_t user_id, int64_t ttl_us, char *key_out,
			   char *csrf_out, struct sn_err *err)
{
	char key[SN_SESSION_KEY_LEN + 1], csrf[SN_SESSION_CSRF_LEN + 1], hash[65];
	if (ttl_us <= 0)
		return sn_err_set(err, SN_ERR_INVALID, "a session needs a positive lifetime");
	sn_random_token(key, sizeof(key), "", SN_SESSION_KEY_LEN);
	sn_random_token(csrf, sizeof(csrf), "", SN_SESSION_CSRF_LEN);
	sn_sha256_hex(key, SN_SESSION_KEY_LEN, hash);
	int64_t now = sn_now_us();
	sqlite3_stmt *sweep = NULL, *ins = NULL;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret =
	    sn_meta_sql_prep(db, "DELETE FROM snout_session WHERE expires_at <= ?1", &sweep, err);
	if (ret == 0)
		ret = sn_meta_sql_prep(db,
				       "INSERT INTO snout_session (key_hash, csrf_token, user_id,"
				       " created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
				       &ins, err);
	if (ret == 0) {
		sqlite3_bind_int64(sweep, 1, now);
		int rc = sqlite3_step(sweep);
		if (rc != SQLITE_DONE) /* housekeeping: the login itself can go on */
			sn_log_warn("metadata: sweeping expired sessions failed: %s",
				    sqlite3_errmsg(db));
		sqlite3_bind_text(ins, 1, hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, csrf, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 3, user_id);
		sqlite3_bind_int64(ins, 4, now);
		sqlite3_bind_int64(ins, 5, now + ttl_us);
		rc = sqlite3_step(ins);
		if (rc != SQLITE_DONE) {
			ret = sn_meta_sql_err(db, rc, err, "creating a session");
			if (ret == SN_ERR_NOT_FOUND)
				sn_err_set(err, ret, "user %lld does not exist",
					   (long long)user_id);
		}
	}
	sqlite3_finalize(sweep);
	sqlite3_finalize(ins);
	sn_meta_sqlite_unlock(m);
	if (ret == 0) {
		memcpy(key_out, key, sizeof(key));
		memcpy(csrf_out, csrf, sizeof(csrf));
	}
	sodium_memzero(key, sizeof(key));
	return ret;
}

/* A key as a login makes it: exactly SN_SESSION_KEY_LEN alphanumerics.
 * Anything else is refused before hashing or touching the database. */
static bool key_shape(const char *key)
{
	if (!key)
		return false;
	size_t i = 0;
	for (; key[i] && i <= SN_SESSION_KEY_LEN; i++) {
		char c = key[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return i == SN_SESSION_KEY_LEN;
}

int sn_meta_session_authenticate(struct sn_meta *m, const char *key, struct sn_user *user,
				 char *csrf_out, struct sn_err *err)
{
	char hash[65];
	if (!key_shape(key))
		return sn_err_set(err, SN_ERR_AUTH, bad);
	sn_sha256_hex(key, SN_SESSION_KEY_LEN, hash);
	int64_t user_id = 0;
	sqlite3_stmt *s = NULL;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = sn_meta_sql_prep(db,
				   "SELECT user_id, csrf_token FROM snout_session"
				   " WHERE key_hash = ?1 AND expires_at > ?2",
				   &s, err);
	if (ret == 0) {
		sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, sn_now_us());
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			user_id = sqlite3_column_int64(s, 0);
			if (csrf_out)
				sn_sqlite_column_text(s, 1, csrf_out, SN_SESSION_CSRF_LEN + 1);
		} else if (rc == SQLITE_DONE) {
			ret = sn_err_set(err, SN_ERR_AUTH, bad);
		} else {
			ret = sn_meta_sql_err(db, rc, err, "looking a session up");
		}
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	if (ret)
		return ret;
	struct sn_user u;
	ret = sn_meta_user_get(m, user_id, &u, err);
	if (ret == SN_ERR_NOT_FOUND || (ret == 0 && !u.is_active))
		return sn_err_set(err, SN_ERR_AUTH, bad);
	if (ret == 0 && user)
		*user = u;
	return ret;
}

int sn_meta_session_delete(struct sn_meta *m, const char *key, struct sn_err *err)
{
	char hash[65];
	if (!key_shape(key))
		return 0;
	sn_sha256_hex(key, SN_SESSION_KEY_LEN, hash);
	sqlite3_stmt *s = NULL;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = sn_meta_sql_prep(db, "DELETE FROM snout_session WHERE key_hash = ?1", &s, err);
	if (ret == 0) {
		sqlite3_bind_text(s, 1, hash, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "ending a session");
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	return ret;
}
