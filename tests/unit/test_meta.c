/*
 * test_meta.c — the metadata module against a real SQLite file in a fresh
 * temporary directory per test: migrations and upgrades, the model's
 * create/get functions and their validation, secrets at rest (read back with
 * the sqlite3 API, not through sn_meta), and the token → team cache,
 * including concurrent lookups.
 *
 * argon2id costs ~100 ms a hash (more under ASan), so only test_users and
 * test_apikeys create users.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testutil.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta/meta.h"
#include "meta/meta_internal.h"

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX];
	struct sn_meta *m;
	int applied;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (sn_test_tmpdir(f->dir, sizeof(f->dir), "test_meta") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/meta.sqlite3", f->dir);
	struct sn_err err = {0};
	if (sn_meta_open(&f->m, f->path, &f->applied, &err) != 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sn_meta_close(f->m);
	sn_test_rm_rf(f->dir);
	free(f);
	return 0;
}

/* ---- direct SQL, bypassing sn_meta --------------------------------------- */

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -1;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void sql_text(const char *path, const char *sql, char *out, size_t n)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	out[0] = 0;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static void sql_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static bool has(const char *hay, const char *needle)
{
	if (!strstr(hay, needle)) {
		fprintf(stderr, "message \"%s\" lacks \"%s\"\n", hay, needle);
		return false;
	}
	return true;
}

/* ---- migrations ------------------------------------------------------------ */

static void test_open_migrations(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	int dbv = -1, codev = -1;
	assert_int_equal(f->applied, (int)sn_meta_sqlite_nmigrations);
	assert_int_equal(sn_meta_schema_version(f->m, &dbv, &codev), 0);
	assert_int_equal(codev, (int)sn_meta_sqlite_nmigrations);
	assert_int_equal(dbv, codev);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM schema_migrations"), codev);
	char mode[16];
	sql_text(f->path, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");

	sn_meta_close(f->m);
	f->m = NULL;
	int applied = -1;
	assert_int_equal(sn_meta_open(&f->m, f->path, &applied, &err), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(sn_meta_schema_version(f->m, &dbv, NULL), 0);
	assert_int_equal(dbv, codev);
}

/* The real migration list plus one more: what the next snout release would
 * ship. */
static struct sn_sql_migration *next_release(const char *sql, size_t *n)
{
	*n = sn_meta_sqlite_nmigrations + 1;
	struct sn_sql_migration *migs = calloc(*n, sizeof(*migs));
	memcpy(migs, sn_meta_sqlite_migrations, sn_meta_sqlite_nmigrations * sizeof(*migs));
	migs[*n - 1] = (struct sn_sql_migration){(int)*n, "test: next release", sql};
	return migs;
}

static void test_upgrade_appends(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_org org;
	struct sn_team t, got;
	assert_int_equal(sn_meta_org_create(f->m, "Acme", &org, &err), 0);
	assert_int_equal(sn_meta_team_create(f->m, org.id, "Web", NULL, NULL, &t, &err), 0);
	sn_meta_close(f->m);
	f->m = NULL;

	size_t n;
	struct sn_sql_migration *migs =
	    next_release("ALTER TABLE posthog_team ADD COLUMN test_extra TEXT NOT NULL"
			 " DEFAULT 'x'; CREATE TABLE snout_test_new (id INTEGER PRIMARY KEY)",
			 &n);
	int applied = -1, dbv = -1, codev = -1;
	assert_int_equal(sn_meta_sqlite_open_with(&f->m, f->path, migs, n, &applied, &err), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(sn_meta_schema_version(f->m, &dbv, &codev), 0);
	assert_int_equal(dbv, (int)n);
	assert_int_equal(codev, (int)n);
	/* Old data survived and the new column exists. */
	assert_int_equal(sn_meta_team_by_token(f->m, t.api_token, &got, &err), 0);
	assert_int_equal(got.id, t.id);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_team WHERE test_extra='x'"),
			 1);
	sn_meta_close(f->m);
	f->m = NULL;

	/* The older binary (the real list) now refuses the upgraded file. */
	assert_int_equal(sn_meta_open(&f->m, f->path, &applied, &err), SN_ERR_INVALID);
	assert_null(f->m);
	char want[128];
	snprintf(want, sizeof(want), "database schema version %zu is newer than this snout (%zu)",
		 n, n - 1);
	assert_true(has(err.msg, want));
	free(migs);
}

static void test_failed_migration_rolls_back(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	sn_meta_close(f->m);
	f->m = NULL;
	size_t n;
	struct sn_sql_migration *migs = next_release("CREATE TABLE half_done (id INTEGER);"
						     " INSERT INTO no_such_table VALUES (1)",
						     &n);
	int applied = -1;
	assert_int_equal(sn_meta_sqlite_open_with(&f->m, f->path, migs, n, &applied, &err),
			 SN_ERR_INTERNAL);
	assert_null(f->m);
	assert_int_equal(applied, 0);
	char want[64];
	snprintf(want, sizeof(want), "migration %zu (test: next release) failed", n);
	assert_true(has(err.msg, want));
	assert_true(has(err.msg, "no_such_table"));
	/* Nothing of the failed migration is left behind. */
	assert_int_equal(sql_int(f->path, "SELECT MAX(version) FROM schema_migrations"),
			 (int64_t)n - 1);
	assert_int_equal(
	    sql_int(f->path, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'half_done'"), 0);
	assert_int_equal(sn_meta_open(&f->m, f->path, &applied, &err), 0);
	assert_int_equal(applied, 0);
	free(migs);
}

static void test_newer_database_refused(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	sn_meta_close(f->m);
	f->m = NULL;
	sql_exec(f->path, "INSERT INTO schema_migrations (version, name, applied_at)"
			  " VALUES (999, 'from the future', '2099-01-01T00:00:00.000Z')");
	int applied = -1;
	assert_int_equal(sn_meta_open(&f->m, f->path, &applied, &err), SN_ERR_INVALID);
	assert_null(f->m);
	char want[128];
	snprintf(want, sizeof(want),
		 "database schema version 999 is newer than this snout (%zu); upgrade snout",
		 sn_meta_sqlite_nmigrations);
	assert_true(has(err.msg, want));
	assert_true(has(err.msg, f->path));
}

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_meta *m = NULL;
	char p[PATH_MAX + 32];
	snprintf(p, sizeof(p), "%s/no/such/dir/meta.sqlite3", f->dir);
	assert_int_equal(sn_meta_open(&m, p, NULL, &err), SN_ERR_IO);
	assert_null(m);
	assert_true(has(err.msg, p));
	assert_true(has(err.msg, "unable to open"));

	/* A file that is not a database is refused, not overwritten. */
	snprintf(p, sizeof(p), "%s/garbage.sqlite3", f->dir);
	FILE *fp = fopen(p, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database, it is a text file\n", fp);
	fclose(fp);
	assert_int_equal(sn_meta_open(&m, p, NULL, &err), SN_ERR_IO);
	assert_null(m);
	assert_true(has(err.msg, p));
	assert_true(has(err.msg, "not a database"));
}

/* ---- organizations and teams ---------------------------------------------- */

static void test_orgs(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_org a, b, got;
	bool empty = false;
	assert_int_equal(sn_meta_is_empty(f->m, &empty, &err), 0);
	assert_true(empty);
	assert_int_equal(sn_meta_org_first(f->m, &got, &err), SN_ERR_NOT_FOUND);

	int64_t before = sn_now_us();
	assert_int_equal(sn_meta_org_create(f->m, "Acme", &a, &err), 0);
	assert_int_equal(sn_meta_org_create(f->m, "Globex", &b, &err), 0);
	assert_true(a.id > 0 && b.id > a.id);
	assert_string_equal(a.name, "Acme");
	assert_int_equal(strlen(a.uuid), 36);
	assert_string_not_equal(a.uuid, b.uuid);
	assert_true(a.created_at_us >= before && a.created_at_us <= sn_now_us());
	assert_int_equal(sn_meta_is_empty(f->m, &empty, &err), 0);
	assert_false(empty);

	assert_int_equal(sn_meta_org_get(f->m, b.id, &got, &err), 0);
	assert_memory_equal(&got, &b, sizeof(got));
	assert_int_equal(sn_meta_org_first(f->m, &got, &err), 0);
	assert_int_equal(got.id, a.id);
	assert_int_equal(sn_meta_org_get(f->m, 424242, &got, &err), SN_ERR_NOT_FOUND);
	assert_true(has(err.msg, "424242"));

	assert_int_equal(sn_meta_org_create(f->m, "", &got, &err), SN_ERR_INVALID);
	assert_true(has(err.msg, "organization name is required"));
	char longname[200];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(sn_meta_org_create(f->m, longname, &got, &err), SN_ERR_INVALID);
	assert_true(has(err.msg, "too long"));
}

static bool is_alnum_str(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s))
			return false;
	return true;
}

static void test_teams(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_org org;
	struct sn_team t, t2, got;
	assert_int_equal(sn_meta_org_create(f->m, "Acme", &org, &err), 0);

	assert_int_equal(sn_meta_team_create(f->m, org.id, "Web", NULL, NULL, &t, &err), 0);
	assert_true(t.id > 0);
	assert_int_equal(t.organization_id, org.id);
	assert_string_equal(t.name, "Web");
	assert_string_equal(t.timezone, "UTC");
	assert_int_equal(strlen(t.api_token), 4 + 43);
	assert_true(sn_str_has_prefix(t.api_token, "phc_"));
	assert_true(is_alnum_str(t.api_token + 4));
	assert_false(t.session_recording_opt_in || t.autocapture_opt_out || t.anonymize_ips);
	assert_int_equal(sn_meta_team_get(f->m, t.id, &got, &err), 0);
	assert_memory_equal(&got, &t, sizeof(got));

	/* Caller's token and a real time zone. */
	assert_int_equal(
	    sn_meta_team_create(f->m, org.id, "App", "my-token_1", "Europe/Berlin", &t2, &err), 0);
	assert_string_equal(t2.api_token, "my-token_1");
	assert_string_equal(t2.timezone, "Europe/Berlin");
	assert_int_equal(sn_meta_team_create(f->m, org.id, "Again", "my-token_1", NULL, &got, &err),
			 SN_ERR_EXISTS);
	assert_true(has(err.msg, "already exists"));

	/* Token validation. */
	char tok65[66];
	memset(tok65, 'k', 65);
	tok65[65] = 0;
	const char *const bad_tokens[] = {"", "phx_looks_like_a_personal_key", "has space",
					  "tab\there", tok65};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad_tokens); i++) {
		err.msg[0] = 0;
		assert_int_equal(
		    sn_meta_team_create(f->m, org.id, "Bad", bad_tokens[i], NULL, &got, &err),
		    SN_ERR_INVALID);
		assert_true(has(err.msg, "project API token"));
	}
	assert_int_equal(sn_meta_team_create(f->m, org.id, "Bad", "phx_abcdef", NULL, &got, &err),
			 SN_ERR_INVALID);
	assert_true(has(err.msg, "must not start with phx_"));
	/* Exactly 64 is fine. */
	char tok64[65];
	memset(tok64, 'k', 64);
	tok64[64] = 0;
	assert_int_equal(sn_meta_team_create(f->m, org.id, "Max", tok64, NULL, &got, &err), 0);

	/* Time zone validation. */
	static const char *const good_tz[] = {"UTC", "America/New_York", "Asia/Kolkata",
					      "Etc/GMT+5"};
	for (size_t i = 0; i < SN_ARRAY_LEN(good_tz); i++) {
		char tok[32];
		snprintf(tok, sizeof(tok), "tz-ok-%zu", i);
		assert_int_equal(
		    sn_meta_team_create(f->m, org.id, "Tz", tok, good_tz[i], &got, &err), 0);
		assert_string_equal(got.timezone, good_tz[i]);
	}
	static const char *const bad_tz[] = {
	    "Mars/Olympus_Mons",
	    "../../../etc/passwd",
	    "Europe/../UTC",
	    "/etc/passwd",
	    "zone.tab",
	    "Europe",
	    "",
	    "Europe/Berlin\n",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad_tz); i++) {
		err.msg[0] = 0;
		assert_int_equal(
		    sn_meta_team_create(f->m, org.id, "Tz", NULL, bad_tz[i], &got, &err),
		    SN_ERR_INVALID);
		assert_true(has(err.msg, "IANA"));
	}

	/* Unknown organization, unknown team. */
	assert_int_equal(sn_meta_team_create(f->m, 999, "Orphan", NULL, NULL, &got, &err),
			 SN_ERR_NOT_FOUND);
	assert_true(has(err.msg, "organization 999 does not exist"));
	assert_int_equal(sn_meta_team_get(f->m, 999, &got, &err), SN_ERR_NOT_FOUND);
	/* Nothing the failures above tried was stored. */
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_team"),
			 3 + (int64_t)SN_ARRAY_LEN(good_tz));
}

struct list_acc {
	int64_t ids[16];
	int n;
	int stop_after;
};

static int collect(void *arg, const struct sn_team *t)
{
	struct list_acc *a = arg;
	a->ids[a->n++] = t->id;
	return a->n == a->stop_after;
}

static void test_team_list(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_org org;
	struct sn_team t[4];
	struct list_acc acc = {0};
	assert_int_equal(sn_meta_team_list(f->m, collect, &acc, &err), 0);
	assert_int_equal(acc.n, 0);
	assert_int_equal(sn_meta_org_create(f->m, "Acme", &org, &err), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(sn_meta_team_create(f->m, org.id, "T", NULL, NULL, &t[i], &err),
				 0);
	assert_int_equal(sn_meta_team_list(f->m, collect, &acc, &err), 0);
	assert_int_equal(acc.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(acc.ids[i], t[i].id);
	struct list_acc early = {.stop_after = 2};
	assert_int_equal(sn_meta_team_list(f->m, collect, &early, &err), 0);
	assert_int_equal(early.n, 2);
}

/* ---- users, memberships, keys ------------------------------------------------ */

static void test_users(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_user u, got;
	assert_int_equal(sn_meta_user_create(f->m, "Ada.Lovelace@Example.COM", "correct horse",
					     "Ada", true, &u, &err),
			 0);
	assert_string_equal(u.email, "ada.lovelace@example.com");
	assert_string_equal(u.first_name, "Ada");
	assert_true(u.is_active);
	assert_true(u.is_staff);
	assert_int_equal(strlen(u.uuid), 36);

	/* The password is stored as an argon2id string, not as itself. */
	char stored[256];
	sql_text(f->path, "SELECT password FROM posthog_user", stored, sizeof(stored));
	assert_true(sn_str_has_prefix(stored, "$argon2id$"));
	assert_null(strstr(stored, "correct horse"));

	assert_int_equal(sn_meta_user_by_email(f->m, "ADA.lovelace@example.com", &got, &err), 0);
	assert_memory_equal(&got, &u, sizeof(got));
	assert_int_equal(sn_meta_user_by_email(f->m, "bob@example.com", &got, &err),
			 SN_ERR_NOT_FOUND);

	/* Duplicate email, whatever its case. */
	assert_int_equal(sn_meta_user_create(f->m, "ada.lovelace@EXAMPLE.com", "another password",
					     NULL, false, &got, &err),
			 SN_ERR_EXISTS);
	assert_true(has(err.msg, "already exists"));

	/* Validation, before any hashing. */
	static const char *const bad_emails[] = {
	    "",
	    "no-at-sign",
	    "two@@example.com",
	    "a@b@c",
	    "@example.com",
	    "ada@",
	    "ada lovelace@example.com",
	    "ada@exa\tmple.com",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad_emails); i++) {
		err.msg[0] = 0;
		assert_int_equal(sn_meta_user_create(f->m, bad_emails[i], "long enough", NULL,
						     false, &got, &err),
				 SN_ERR_INVALID);
		assert_true(has(err.msg, "email"));
	}
	char longmail[300];
	memset(longmail, 'a', sizeof(longmail));
	memcpy(longmail + 250, "@x.io", 6);
	assert_int_equal(
	    sn_meta_user_create(f->m, longmail, "long enough", NULL, false, &got, &err),
	    SN_ERR_INVALID);
	assert_true(has(err.msg, "too long"));
	assert_int_equal(
	    sn_meta_user_create(f->m, "bob@example.com", "short", NULL, false, &got, &err),
	    SN_ERR_INVALID);
	assert_true(has(err.msg, "password is too short"));
	/* Length counts characters, not bytes: seven "ä" are 14 bytes but too short. */
	assert_int_equal(sn_meta_user_create(f->m, "bob@example.com",
					     "\xc3\xa4\xc3\xa4\xc3\xa4"
					     "\xc3\xa4\xc3\xa4\xc3\xa4"
					     "\xc3\xa4",
					     NULL, false, &got, &err),
			 SN_ERR_INVALID);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_user"), 1);

	/* Password checks: right, wrong, unknown email — the last two alike. */
	assert_int_equal(sn_meta_user_check_password(f->m, "ADA.LOVELACE@example.com",
						     "correct horse", &got, &err),
			 0);
	assert_int_equal(got.id, u.id);
	char wrong_msg[512];
	assert_int_equal(sn_meta_user_check_password(f->m, "ada.lovelace@example.com",
						     "correct horsE", &got, &err),
			 SN_ERR_AUTH);
	snprintf(wrong_msg, sizeof(wrong_msg), "%s", err.msg);
	assert_int_equal(
	    sn_meta_user_check_password(f->m, "nobody@example.com", "correct horse", &got, &err),
	    SN_ERR_AUTH);
	assert_string_equal(err.msg, wrong_msg);
	assert_int_equal(sn_meta_user_check_password(f->m, "not an email", "x", &got, &err),
			 SN_ERR_AUTH);
}

static void test_memberships(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_org org, other;
	enum sn_member_level level = 0;
	assert_int_equal(sn_meta_org_create(f->m, "Acme", &org, &err), 0);
	assert_int_equal(sn_meta_org_create(f->m, "Other", &other, &err), 0);
	/* A user row without an argon2 hash: memberships do not care. */
	sql_exec(f->path, "INSERT INTO posthog_user (uuid, email, password, created_at)"
			  " VALUES ('u1', 'm@example.com', 'x', 0)");
	int64_t uid = sql_int(f->path, "SELECT id FROM posthog_user");

	assert_int_equal(sn_meta_membership_add(f->m, org.id, uid, SN_LEVEL_OWNER, &err), 0);
	assert_int_equal(sn_meta_membership_level(f->m, org.id, uid, &level, &err), 0);
	assert_int_equal(level, SN_LEVEL_OWNER);
	assert_int_equal(sn_meta_membership_add(f->m, org.id, uid, SN_LEVEL_MEMBER, &err),
			 SN_ERR_EXISTS);
	assert_true(has(err.msg, "already a member"));
	assert_int_equal(sn_meta_membership_level(f->m, other.id, uid, &level, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_membership_add(f->m, other.id, uid, (enum sn_member_level)3, &err),
			 SN_ERR_INVALID);
	assert_int_equal(sn_meta_membership_add(f->m, other.id, uid + 100, SN_LEVEL_ADMIN, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_membership_add(f->m, other.id, uid, SN_LEVEL_ADMIN, &err), 0);
	assert_int_equal(sn_meta_membership_level(f->m, other.id, uid, &level, &err), 0);
	assert_int_equal(level, SN_LEVEL_ADMIN);
}

/* Login sessions: the key's SHA-256 at rest (never the key), the user and
 * CSRF token back, expiry, logout, deactivated users, the sweep of expired
 * rows at the next creation, and keys of the wrong shape refused. */
static void test_sessions(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_user u, who;
	char key[SN_SESSION_KEY_LEN + 1], csrf[SN_SESSION_CSRF_LEN + 1],
	    got[SN_SESSION_CSRF_LEN + 1];
	char key2[SN_SESSION_KEY_LEN + 1], csrf2[SN_SESSION_CSRF_LEN + 1], sql[256], hex[65];
	assert_int_equal(
	    sn_meta_user_create(f->m, "s@example.com", "password1", NULL, false, &u, &err), 0);
	assert_int_equal(sn_meta_session_create(f->m, u.id, 3600000000LL, key, csrf, &err), 0);
	assert_int_equal(strlen(key), SN_SESSION_KEY_LEN);
	assert_int_equal(strlen(csrf), SN_SESSION_CSRF_LEN);
	assert_true(is_alnum_str(key) && is_alnum_str(csrf));
	sn_sha256_hex(key, strlen(key), hex);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM snout_session WHERE key_hash = '%s'", hex);
	assert_int_equal(sql_int(f->path, sql), 1);
	snprintf(sql, sizeof(sql),
		 "SELECT COUNT(*) FROM snout_session WHERE key_hash = '%s' OR csrf_token = '%s'",
		 key, key);
	assert_int_equal(sql_int(f->path, sql), 0);

	assert_int_equal(sn_meta_session_authenticate(f->m, key, &who, got, &err), 0);
	assert_int_equal(who.id, u.id);
	assert_string_equal(who.email, "s@example.com");
	assert_string_equal(got, csrf);
	char saved = key[5];
	key[5] = saved == 'a' ? 'b' : 'a';
	assert_int_equal(sn_meta_session_authenticate(f->m, key, &who, got, &err), SN_ERR_AUTH);
	key[5] = saved;
	const char *shapes[] = {"", "abc", "A' OR '1'='1", NULL};
	for (size_t i = 0; i < SN_ARRAY_LEN(shapes); i++)
		assert_int_equal(sn_meta_session_authenticate(f->m, shapes[i], &who, got, &err),
				 SN_ERR_AUTH);

	/* A second session; logout ends only the first. */
	assert_int_equal(sn_meta_session_create(f->m, u.id, 3600000000LL, key2, csrf2, &err), 0);
	assert_string_not_equal(key, key2);
	assert_string_not_equal(csrf, csrf2);
	assert_int_equal(sn_meta_session_delete(f->m, key, &err), 0);
	assert_int_equal(sn_meta_session_authenticate(f->m, key, &who, got, &err), SN_ERR_AUTH);
	assert_int_equal(sn_meta_session_authenticate(f->m, key2, &who, got, &err), 0);
	assert_int_equal(sn_meta_session_delete(f->m, key, &err), 0); /* again: no error */

	/* A deactivated user's session stops at once. */
	snprintf(sql, sizeof(sql), "UPDATE posthog_user SET is_active = 0 WHERE id = %lld",
		 (long long)u.id);
	sql_exec(f->path, sql);
	assert_int_equal(sn_meta_session_authenticate(f->m, key2, &who, got, &err), SN_ERR_AUTH);
	snprintf(sql, sizeof(sql), "UPDATE posthog_user SET is_active = 1 WHERE id = %lld",
		 (long long)u.id);
	sql_exec(f->path, sql);

	/* Expiry: a session of 1 µs is over by the time it is asked about, and
	 * the next creation sweeps it (and key2 stays). */
	assert_int_equal(sn_meta_session_create(f->m, u.id, 1, key, csrf, &err), 0);
	usleep(1000);
	assert_int_equal(sn_meta_session_authenticate(f->m, key, &who, got, &err), SN_ERR_AUTH);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM snout_session"), 2);
	assert_int_equal(sn_meta_session_create(f->m, u.id, 3600000000LL, key, csrf, &err), 0);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM snout_session"), 2);
	assert_int_equal(sn_meta_session_authenticate(f->m, key2, &who, got, &err), 0);

	/* Errors: no lifetime, no such user. */
	assert_int_equal(sn_meta_session_create(f->m, u.id, 0, key, csrf, &err), SN_ERR_INVALID);
	assert_int_equal(sn_meta_session_create(f->m, 987654, 3600000000LL, key, csrf, &err),
			 SN_ERR_NOT_FOUND);
}

static void test_apikeys(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_user u, who;
	struct sn_apikey k, k2, got;
	char key[136], key2[136], sql[256], stored[128], hex[65];
	assert_int_equal(
	    sn_meta_user_create(f->m, "k@example.com", "password1", NULL, false, &u, &err), 0);

	assert_int_equal(sn_meta_apikey_create(f->m, u.id, "ci", NULL, key, sizeof(key), &k, &err),
			 0);
	assert_int_equal(strlen(key), 4 + 47);
	assert_true(sn_str_has_prefix(key, "phx_"));
	assert_true(is_alnum_str(key + 4));
	char mask[16];
	snprintf(mask, sizeof(mask), "phx_...%s", key + strlen(key) - 4);
	assert_string_equal(k.mask, mask);
	assert_string_equal(k.label, "ci");
	assert_int_equal(k.user_id, u.id);
	assert_int_equal(k.last_used_at_us, 0);

	/* At rest: SHA-256 hex of the key, and the key itself nowhere. */
	snprintf(sql, sizeof(sql),
		 "SELECT secure_value FROM posthog_personalapikey WHERE id = %lld",
		 (long long)k.id);
	sql_text(f->path, sql, stored, sizeof(stored));
	sn_sha256_hex(key, strlen(key), hex);
	assert_string_equal(stored, hex);
	snprintf(sql, sizeof(sql),
		 "SELECT COUNT(*) FROM posthog_personalapikey WHERE secure_value = '%s'"
		 " OR mask_value = '%s' OR label = '%s'",
		 key, key, key);
	assert_int_equal(sql_int(f->path, sql), 0);

	/* Authenticate: right key, then wrong ones. */
	int64_t before = sn_now_us();
	assert_int_equal(sn_meta_apikey_authenticate(f->m, key, &who, &got, &err), 0);
	assert_int_equal(who.id, u.id);
	assert_string_equal(who.email, "k@example.com");
	assert_int_equal(got.id, k.id);
	assert_true(got.last_used_at_us >= before);
	char bad[136];
	snprintf(bad, sizeof(bad), "%s", key);
	bad[10] = bad[10] == 'A' ? 'B' : 'A';
	static const char *const wrong[] = {"", "phx_", "phc_notakey", NULL};
	assert_int_equal(sn_meta_apikey_authenticate(f->m, bad, &who, &got, &err), SN_ERR_AUTH);
	assert_string_equal(err.msg, "invalid personal API key");
	for (size_t i = 0; i < SN_ARRAY_LEN(wrong); i++) {
		err.msg[0] = 0;
		assert_int_equal(sn_meta_apikey_authenticate(f->m, wrong[i], &who, &got, &err),
				 SN_ERR_AUTH);
		assert_string_equal(err.msg, "invalid personal API key");
	}

	/* last_used_at moves at most once a minute. */
	snprintf(sql, sizeof(sql),
		 "SELECT last_used_at FROM posthog_personalapikey WHERE id = %lld",
		 (long long)k.id);
	int64_t first_use = sql_int(f->path, sql);
	assert_true(first_use >= before);
	assert_int_equal(sn_meta_apikey_authenticate(f->m, key, &who, &got, &err), 0);
	assert_int_equal(sql_int(f->path, sql), first_use);
	assert_int_equal(got.last_used_at_us, first_use);
	char upd[256];
	snprintf(upd, sizeof(upd),
		 "UPDATE posthog_personalapikey SET last_used_at = last_used_at - 61000000"
		 " WHERE id = %lld",
		 (long long)k.id);
	sql_exec(f->path, upd);
	assert_int_equal(sn_meta_apikey_authenticate(f->m, key, &who, &got, &err), 0);
	assert_true(sql_int(f->path, sql) >= first_use);
	assert_int_equal(got.last_used_at_us, sql_int(f->path, sql));

	/* Caller-supplied keys. */
	assert_int_equal(sn_meta_apikey_create(f->m, u.id, NULL, "phx_my_own_key", key2,
					       sizeof(key2), &k2, &err),
			 0);
	assert_string_equal(key2, "phx_my_own_key");
	assert_string_equal(k2.mask, "phx_..._key");
	assert_int_equal(sn_meta_apikey_authenticate(f->m, "phx_my_own_key", &who, NULL, &err), 0);
	assert_int_equal(sn_meta_apikey_create(f->m, u.id, NULL, "phx_my_own_key", key2,
					       sizeof(key2), &k2, &err),
			 SN_ERR_EXISTS);
	assert_int_equal(
	    sn_meta_apikey_create(f->m, u.id, NULL, "phx_short", key2, sizeof(key2), &k2, &err),
	    SN_ERR_INVALID);
	assert_true(has(err.msg, "12 to 128"));
	assert_int_equal(sn_meta_apikey_create(f->m, u.id, NULL, "phc_not_personal_key", key2,
					       sizeof(key2), &k2, &err),
			 SN_ERR_INVALID);
	assert_true(has(err.msg, "must start with phx_"));
	assert_int_equal(
	    sn_meta_apikey_create(f->m, u.id + 50, NULL, NULL, key2, sizeof(key2), &k2, &err),
	    SN_ERR_NOT_FOUND);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_personalapikey"), 2);

	/* A deactivated user's key stops working. */
	sql_exec(f->path, "UPDATE posthog_user SET is_active = 0");
	assert_int_equal(sn_meta_apikey_authenticate(f->m, key, &who, &got, &err), SN_ERR_AUTH);
}

/* ---- token cache ------------------------------------------------------------ */

static void test_token_lookup(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_org org;
	struct sn_team t, got;
	assert_int_equal(sn_meta_org_create(f->m, "Acme", &org, &err), 0);
	assert_int_equal(sn_meta_team_create(f->m, org.id, "Web", NULL, "Asia/Tokyo", &t, &err), 0);
	assert_int_equal(sn_meta_team_by_token(f->m, t.api_token, &got, &err), 0);
	assert_memory_equal(&got, &t, sizeof(got));

	assert_int_equal(sn_meta_team_by_token(f->m, "phc_unknown", &got, &err), SN_ERR_NOT_FOUND);
	assert_true(has(err.msg, "invalid"));
	assert_int_equal(sn_meta_team_by_token(f->m, "", &got, &err), SN_ERR_INVALID);
	assert_int_equal(sn_meta_team_by_token(f->m, NULL, &got, &err), SN_ERR_INVALID);
	char huge[300];
	memset(huge, 'z', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = 0;
	assert_int_equal(sn_meta_team_by_token(f->m, huge, &got, &err), SN_ERR_NOT_FOUND);

	/* An unknown token reaches SQLite once, then the negative cache answers. */
	uint64_t q0 = sn_meta_sqlite_token_queries(f->m);
	for (int i = 0; i < 50; i++)
		assert_int_equal(sn_meta_team_by_token(f->m, "phc_flood", &got, &err),
				 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_sqlite_token_queries(f->m) - q0, 1);
	/* A known token is answered from memory too. */
	for (int i = 0; i < 50; i++)
		assert_int_equal(sn_meta_team_by_token(f->m, t.api_token, &got, &err), 0);
	assert_int_equal(sn_meta_sqlite_token_queries(f->m) - q0, 1);

	/* Creating a project whose token was just cached as unknown makes it
	 * visible at once. */
	struct sn_team late;
	assert_int_equal(sn_meta_team_create(f->m, org.id, "Late", "phc_flood", NULL, &late, &err),
			 0);
	assert_int_equal(sn_meta_team_by_token(f->m, "phc_flood", &got, &err), 0);
	assert_int_equal(got.id, late.id);

	/* A fresh handle fills its cache from the database. */
	sn_meta_close(f->m);
	f->m = NULL;
	assert_int_equal(sn_meta_open(&f->m, f->path, NULL, &err), 0);
	q0 = sn_meta_sqlite_token_queries(f->m);
	assert_int_equal(sn_meta_team_by_token(f->m, t.api_token, &got, &err), 0);
	assert_memory_equal(&got, &t, sizeof(got));
	assert_int_equal(sn_meta_team_by_token(f->m, t.api_token, &got, &err), 0);
	assert_int_equal(sn_meta_sqlite_token_queries(f->m) - q0, 1);
}

static void test_cache_negative_ttl_and_bound(void **state)
{
	(void)state;
	struct sn_meta_cache *c = sn_meta_cache_new();
	struct sn_team t = {.id = 7}, got;
	int64_t now = 1700000000000000;
	assert_non_null(c);
	snprintf(t.api_token, sizeof(t.api_token), "tok");

	assert_int_equal(sn_meta_cache_get(c, "nope", 4, now, &got), SN_META_CACHE_MISS);
	sn_meta_cache_put_negative(c, "nope", 4, now);
	assert_int_equal(sn_meta_cache_get(c, "nope", 4, now + 1, &got), SN_META_CACHE_NEGATIVE);
	assert_int_equal(sn_meta_cache_get(c, "nope", 4, now + SN_META_NEG_TTL_US - 1, &got),
			 SN_META_CACHE_NEGATIVE);
	assert_int_equal(sn_meta_cache_get(c, "nope", 4, now + SN_META_NEG_TTL_US, &got),
			 SN_META_CACHE_MISS);

	/* A stale miss never hides a team that was put meanwhile... */
	sn_meta_cache_put(c, &t);
	sn_meta_cache_put_negative(c, "tok", 3, now);
	assert_int_equal(sn_meta_cache_get(c, "tok", 3, now, &got), SN_META_CACHE_HIT);
	assert_int_equal(got.id, 7);
	/* ...and a put replaces a negative entry. */
	snprintf(t.api_token, sizeof(t.api_token), "nope");
	t.id = 8;
	sn_meta_cache_put(c, &t);
	assert_int_equal(sn_meta_cache_get(c, "nope", 4, now + 1, &got), SN_META_CACHE_HIT);
	assert_int_equal(got.id, 8);
	assert_int_equal(sn_meta_cache_negative_count(c), 0);

	/* A flood of distinct unknown tokens stays bounded; teams survive it. */
	char tok[32];
	for (int i = 0; i < SN_META_NEG_MAX * 2 + 17; i++) {
		int n = snprintf(tok, sizeof(tok), "flood-%d", i);
		sn_meta_cache_put_negative(c, tok, (size_t)n, now + i);
		assert_true(sn_meta_cache_negative_count(c) <= SN_META_NEG_MAX);
	}
	assert_true(sn_meta_cache_negative_count(c) > 0);
	assert_int_equal(sn_meta_cache_get(c, "tok", 3, now, &got), SN_META_CACHE_HIT);
	assert_int_equal(sn_meta_cache_get(c, "nope", 4, now, &got), SN_META_CACHE_HIT);
	sn_meta_cache_free(c);
}

#define NTHREADS	   8
#define NKNOWN		   16
#define NLATE		   8
#define LOOKUPS_PER_THREAD 4000

struct conc {
	struct sn_meta *m;
	struct sn_team known[NKNOWN];
	int failures;
	int late_seen;
};

static void *lookup_worker(void *arg)
{
	struct conc *c = arg;
	struct sn_team got;
	struct sn_err err;
	char tok[32];
	for (int i = 0; i < LOOKUPS_PER_THREAD; i++) {
		const struct sn_team *want = &c->known[i % NKNOWN];
		if (sn_meta_team_by_token(c->m, want->api_token, &got, &err) != 0 ||
		    memcmp(&got, want, sizeof(got)) != 0)
			__atomic_fetch_add(&c->failures, 1, __ATOMIC_RELAXED);
		snprintf(tok, sizeof(tok), "unknown-%d", i % 97);
		if (sn_meta_team_by_token(c->m, tok, &got, &err) != SN_ERR_NOT_FOUND)
			__atomic_fetch_add(&c->failures, 1, __ATOMIC_RELAXED);
		/* Teams being created meanwhile: either not there yet or right. */
		snprintf(tok, sizeof(tok), "late-%d", i % NLATE);
		int r = sn_meta_team_by_token(c->m, tok, &got, &err);
		if (r == 0 && strcmp(got.api_token, tok) != 0)
			__atomic_fetch_add(&c->failures, 1, __ATOMIC_RELAXED);
		else if (r == 0)
			__atomic_fetch_add(&c->late_seen, 1, __ATOMIC_RELAXED);
		else if (r != SN_ERR_NOT_FOUND)
			__atomic_fetch_add(&c->failures, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void test_concurrent_lookups(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_org org;
	struct conc c = {.m = f->m};
	assert_int_equal(sn_meta_org_create(f->m, "Acme", &org, &err), 0);
	for (int i = 0; i < NKNOWN; i++)
		assert_int_equal(
		    sn_meta_team_create(f->m, org.id, "T", NULL, NULL, &c.known[i], &err), 0);

	pthread_t th[NTHREADS];
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, lookup_worker, &c), 0);
	struct sn_team late[NLATE];
	for (int i = 0; i < NLATE; i++) {
		char tok[32];
		snprintf(tok, sizeof(tok), "late-%d", i);
		assert_int_equal(sn_meta_team_create(f->m, org.id, "L", tok, NULL, &late[i], &err),
				 0);
		usleep(1000);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(c.failures, 0);

	/* Every late team is visible right away despite the negative cache. */
	struct sn_team got;
	for (int i = 0; i < NLATE; i++) {
		assert_int_equal(sn_meta_team_by_token(f->m, late[i].api_token, &got, &err), 0);
		assert_int_equal(got.id, late[i].id);
	}
}

/* ---- cohorts -------------------------------------------------------------------- */

static struct json_object *jparse(const char *s)
{
	struct json_object *o = NULL;
	struct sn_err err = {0};
	assert_int_equal(sn_json_parse(s, strlen(s), &o, &err), 0);
	return o;
}

#define PRO_FILTERS                                                                            \
	"{\"properties\":{\"type\":\"AND\",\"values\":[{\"type\":\"person\",\"key\":\"plan\"," \
	"\"value\":\"pro\"}]}}"

static int count_cohort(void *arg, const struct sn_cohort *c)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

/* A database made before cohorts (migrations 1..5) upgrades with its data;
 * then the cohort model: validation naming the field, create, list and
 * search, a definition change making the cohort due, is_static fixed,
 * the calculation state, soft delete, team isolation, the activity log. */
static void test_cohorts(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/old.sqlite3", f->dir);
	struct sn_meta *m = NULL;
	struct sn_err err = {0};
	int applied = 0;
	assert_int_equal(
	    sn_meta_sqlite_open_with(&m, path, sn_meta_sqlite_migrations, 5, &applied, &err), 0);
	struct sn_org o;
	struct sn_team t, t2;
	assert_int_equal(sn_meta_org_create(m, "old", &o, &err), 0);
	assert_int_equal(sn_meta_team_create(m, o.id, "old team", NULL, NULL, &t, &err), 0);
	sn_meta_close(m);
	assert_int_equal(sn_meta_open(&m, path, &applied, &err), 0);
	assert_int_equal(applied, (int)sn_meta_sqlite_nmigrations - 5);
	assert_int_equal(sn_meta_team_create(m, o.id, "other", NULL, NULL, &t2, &err), 0);

	struct sn_meta_verr ve;
	struct sn_cohort c, c2;
	struct json_object *b = jparse("{\"filters\":" PRO_FILTERS "}");
	assert_int_equal(sn_meta_cohort_create(m, t.id, 0, b, &c, &ve), SN_ERR_INVALID);
	assert_string_equal(ve.attr, "name");
	json_object_put(b);
	b = jparse(
	    "{\"name\":\"x\",\"filters\":{\"properties\":{\"type\":\"XOR\",\"values\":[]}}}");
	assert_int_equal(sn_meta_cohort_create(m, t.id, 0, b, &c, &ve), SN_ERR_INVALID);
	assert_string_equal(ve.attr, "filters");
	json_object_put(b);
	b = jparse("{\"name\":\"x\",\"groups\":[1]}");
	assert_int_equal(sn_meta_cohort_create(m, t.id, 0, b, &c, &ve), SN_ERR_INVALID);
	assert_string_equal(ve.attr, "groups");
	json_object_put(b);

	b = jparse("{\"name\":\"Pro\",\"description\":\"paying\",\"filters\":" PRO_FILTERS "}");
	assert_int_equal(sn_meta_cohort_create(m, t.id, 0, b, &c, &ve), 0);
	json_object_put(b);
	const int64_t pro = c.id;
	assert_false(c.is_static);
	assert_int_equal(c.last_calculation_us, -1);
	assert_int_equal(c.count, -1);
	b = jparse("{\"name\":\"Static\",\"is_static\":true}");
	assert_int_equal(sn_meta_cohort_create(m, t.id, 0, b, &c2, &ve), 0);
	json_object_put(b);

	/* due: only the dynamic one, until it is calculated */
	struct sn_meta_cohort_ref due[8];
	size_t n = 0;
	assert_int_equal(sn_meta_cohort_due(m, sn_now_us(), 8, due, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(due[0].id, c.id);
	int64_t version = 0;
	assert_int_equal(sn_meta_cohort_calc_begin(m, t.id, c.id, &version, &err), 0);
	assert_int_equal(version, 1);
	assert_int_equal(sn_meta_cohort_due(m, sn_now_us(), 8, due, &n, &err), 0);
	assert_int_equal(n, 0); /* calculating */
	assert_int_equal(sn_meta_cohort_calc_end(m, t.id, c.id, version, 42, NULL, &err), 0);
	sn_cohort_release(&c);
	assert_int_equal(sn_meta_cohort_get(m, t.id, due[0].id, &c, &err), 0);
	assert_int_equal(c.count, 42);
	assert_int_equal(c.version, 1);
	assert_false(c.is_calculating);
	assert_true(c.last_calculation_us > 0);
	assert_int_equal(sn_meta_cohort_due(m, c.last_calculation_us, 8, due, &n, &err), 0);
	assert_int_equal(n, 0);
	/* a failure is recorded and the previous members' version kept */
	assert_int_equal(sn_meta_cohort_calc_begin(m, t.id, c.id, &version, &err), 0);
	assert_int_equal(sn_meta_cohort_calc_end(m, t.id, c.id, version, 0, "boom", &err), 0);
	sn_cohort_release(&c);
	assert_int_equal(sn_meta_cohort_get(m, t.id, pro, &c, &err), 0);
	assert_int_equal(c.errors_calculating, 1);
	assert_string_equal(c.last_error, "boom");
	assert_int_equal(c.version, 1);
	assert_int_equal(c.count, 42);

	/* a changed definition is due again; a rename is not */
	b = jparse("{\"name\":\"Pro users\"}");
	sn_cohort_release(&c);
	assert_int_equal(sn_meta_cohort_update(m, t.id, pro, 0, b, &c, &ve), 0);
	json_object_put(b);
	assert_true(c.last_calculation_us > 0);
	b = jparse("{\"filters\":{\"properties\":{\"type\":\"OR\",\"values\":[]}}}");
	sn_cohort_release(&c);
	assert_int_equal(sn_meta_cohort_update(m, t.id, pro, 0, b, &c, &ve), 0);
	json_object_put(b);
	assert_int_equal(c.last_calculation_us, -1);
	b = jparse("{\"is_static\":true}");
	struct sn_cohort c3;
	assert_int_equal(sn_meta_cohort_update(m, t.id, c.id, 0, b, &c3, &ve), SN_ERR_INVALID);
	assert_string_equal(ve.attr, "is_static");
	json_object_put(b);

	/* list and search; the other team sees nothing */
	struct sn_meta_list_opts lo = {.limit = 10, .search = "PRO"};
	int64_t total = 0;
	int count = 0;
	assert_int_equal(sn_meta_cohort_list(m, t.id, &lo, &total, count_cohort, &count, &err), 0);
	assert_int_equal(total, 1);
	assert_int_equal(count, 1);
	lo.search = NULL;
	assert_int_equal(sn_meta_cohort_list(m, t2.id, &lo, &total, count_cohort, &count, &err), 0);
	assert_int_equal(total, 0);
	assert_int_equal(sn_meta_cohort_get(m, t2.id, c.id, &c3, &err), SN_ERR_NOT_FOUND);

	/* soft delete: gone from lists and names, kept for the activity log */
	assert_int_equal(sn_meta_cohort_delete(m, t.id, c2.id, 0, &err), 0);
	assert_int_equal(sn_meta_cohort_delete(m, t.id, c2.id, 0, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_cohort_list(m, t.id, &lo, &total, count_cohort, &count, &err), 0);
	assert_int_equal(total, 1);
	sn_cohort_release(&c);
	assert_int_equal(sn_meta_cohort_get(m, t.id, c2.id, &c, &err), 0);
	assert_true(c.deleted);
	sn_cohort_release(&c);
	sn_cohort_release(&c2);
	sn_meta_close(m);
}

/* ---- property definitions ---------------------------------------------------- */

static struct sn_propdef pdef(int64_t team, int kind, int gti, const char *name, int type)
{
	struct sn_propdef d = {
	    .team_id = team, .kind = kind, .group_type_index = gti, .property_type = type};
	snprintf(d.name, sizeof(d.name), "%s", name);
	return d;
}

static int ptype(struct sn_meta *m, int64_t team, int kind, int gti, const char *name)
{
	int t = -1;
	struct sn_err err = {0};
	assert_int_equal(sn_meta_propdef_type(m, team, kind, gti, name, &t, &err), 0);
	return t;
}

struct pd_seen {
	int n;
	char names[16][64];
	int64_t ids[16];
};

static int pd_collect(void *arg, const struct sn_propdef *d)
{
	struct pd_seen *s = arg;
	if (s->n < 16) {
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", d->name);
		s->ids[s->n] = d->id;
	}
	s->n++;
	return 0;
}

/* Lists with o and returns the total; the page's names go to seen. */
static int64_t pd_list(struct sn_meta *m, int64_t team, struct sn_propdef_list_opts o,
		       struct pd_seen *seen)
{
	struct sn_err err = {0};
	int64_t total = -1;
	memset(seen, 0, sizeof(*seen));
	if (!o.limit)
		o.limit = 100;
	assert_int_equal(sn_meta_propdef_list(m, team, &o, &total, pd_collect, seen, &err), 0);
	return total;
}

static void test_propdefs_names(void **state)
{
	(void)state;
	assert_string_equal(sn_prop_type_name(SN_PROP_NUMERIC), "Numeric");
	assert_string_equal(sn_prop_type_name(SN_PROP_DATETIME), "DateTime");
	assert_null(sn_prop_type_name(SN_PROP_NONE));
	assert_null(sn_prop_type_name(99));
	for (int t = SN_PROP_STRING; t <= SN_PROP_DURATION; t++)
		assert_int_equal(sn_prop_type_parse(sn_prop_type_name(t)), t);
	assert_int_equal(sn_prop_type_parse("numeric"), -1); /* exact spelling only */
	assert_int_equal(sn_prop_type_parse(NULL), -1);
	for (int k = SN_PROPDEF_EVENT; k <= SN_PROPDEF_SESSION; k++)
		assert_int_equal(sn_propdef_kind_parse(sn_propdef_kind_name(k)), k);
	assert_string_equal(sn_propdef_kind_name(SN_PROPDEF_GROUP), "group");
	assert_null(sn_propdef_kind_name(0));
	assert_int_equal(sn_propdef_kind_parse("events"), -1);
}

static void test_propdefs_record(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_org org;
	struct sn_team t, t2;
	assert_int_equal(sn_meta_org_create(f->m, "Acme", &org, &err), 0);
	assert_int_equal(sn_meta_team_create(f->m, org.id, "Web", NULL, NULL, &t, &err), 0);
	assert_int_equal(sn_meta_team_create(f->m, org.id, "App", NULL, NULL, &t2, &err), 0);
	assert_int_equal(sn_meta_propdefs_record(f->m, NULL, 0, &err), 0);

	/* One batch: duplicates (the first typed one wins, even after an untyped
	 * one), the same name as another kind and group index, a name too long,
	 * a team that does not exist, a kind out of range. */
	struct sn_propdef b1[10] = {
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "plan", SN_PROP_NONE),
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "plan", SN_PROP_STRING),
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "plan", SN_PROP_NUMERIC),
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "price", SN_PROP_NUMERIC),
	    pdef(t.id, SN_PROPDEF_PERSON, 7, "plan", SN_PROP_BOOLEAN), /* index ignored */
	    pdef(t.id, SN_PROPDEF_GROUP, 2, "plan", SN_PROP_DATETIME),
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "", SN_PROP_NONE),
	    pdef(999999, SN_PROPDEF_EVENT, -1, "ghost", SN_PROP_STRING),
	    pdef(t.id, 9, -1, "badkind", SN_PROP_STRING),
	    pdef(t.id, SN_PROPDEF_GROUP, 5, "badgroup", SN_PROP_STRING),
	};
	struct sn_propdef longname = pdef(t.id, SN_PROPDEF_EVENT, -1, "", SN_PROP_STRING);
	memset(longname.name, 'x', sizeof(longname.name)); /* 201 bytes, no terminator */
	assert_int_equal(sn_meta_propdefs_record(f->m, b1, 10, &err), 0);
	assert_int_equal(sn_meta_propdefs_record(f->m, &longname, 1, &err), 0);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_propertydefinition"), 5);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_propertydefinition"
					  " WHERE name = 'ghost' OR length(name) > 200 OR"
					  " name LIKE 'bad%'"),
			 0);
	char txt[64];
	sql_text(f->path,
		 "SELECT property_type || is_numerical FROM posthog_propertydefinition"
		 " WHERE type = 1 AND name = 'plan'",
		 txt, sizeof(txt));
	assert_string_equal(txt, "String0");
	sql_text(f->path,
		 "SELECT property_type || is_numerical FROM posthog_propertydefinition"
		 " WHERE name = 'price'",
		 txt, sizeof(txt));
	assert_string_equal(txt, "Numeric1");
	assert_int_equal(sql_int(f->path, "SELECT group_type_index FROM posthog_propertydefinition"
					  " WHERE type = 2"),
			 -1);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_propertydefinition"
					  " WHERE name = '' AND property_type IS NULL"),
			 1);

	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, "plan"), SN_PROP_STRING);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, 3, "plan"), SN_PROP_STRING);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, "price"), SN_PROP_NUMERIC);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_PERSON, -1, "plan"), SN_PROP_BOOLEAN);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_GROUP, 2, "plan"), SN_PROP_DATETIME);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_GROUP, 1, "plan"), SN_PROP_NONE);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_GROUP, 9, "plan"), SN_PROP_NONE);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_SESSION, -1, "plan"), SN_PROP_NONE);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, "Plan"), SN_PROP_NONE);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, ""), SN_PROP_NONE);
	assert_int_equal(ptype(f->m, t2.id, SN_PROPDEF_EVENT, -1, "plan"), SN_PROP_NONE);
	assert_int_equal(ptype(f->m, t.id, 0, -1, "plan"), SN_PROP_NONE);
	char big[300];
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, big), SN_PROP_NONE);

	/* A later batch: a known type stays; an untyped one takes its first type. */
	struct sn_propdef b2[3] = {
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "price", SN_PROP_STRING),
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "", SN_PROP_BOOLEAN),
	    pdef(t2.id, SN_PROPDEF_EVENT, -1, "price", SN_PROP_STRING),
	};
	assert_int_equal(sn_meta_propdefs_record(f->m, b2, 3, &err), 0);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, "price"), SN_PROP_NUMERIC);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, ""), SN_PROP_BOOLEAN);
	assert_int_equal(ptype(f->m, t2.id, SN_PROPDEF_EVENT, -1, "price"), SN_PROP_STRING);
	assert_int_equal(sql_int(f->path, "SELECT is_numerical FROM posthog_propertydefinition"
					  " WHERE name = 'price' AND type = 1 AND team_id = 1"),
			 1);

	/* Deleting the team takes its definitions along (the foreign key). */
	sql_exec(f->path, "PRAGMA foreign_keys = ON; DELETE FROM posthog_team WHERE id = 2");
	assert_int_equal(
	    sql_int(f->path, "SELECT COUNT(*) FROM posthog_propertydefinition WHERE team_id = 2"),
	    0);
	assert_int_equal(sn_meta_propdefs_record(f->m, b2, 3, &err), 0); /* t2 row skipped */
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_propertydefinition"), 5);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, "price"), SN_PROP_NUMERIC);
}

static void test_propdefs_api_ops(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_org org;
	struct sn_team t, t2;
	assert_int_equal(sn_meta_org_create(f->m, "Acme", &org, &err), 0);
	assert_int_equal(sn_meta_team_create(f->m, org.id, "Web", NULL, NULL, &t, &err), 0);
	assert_int_equal(sn_meta_team_create(f->m, org.id, "App", NULL, NULL, &t2, &err), 0);
	struct sn_propdef b[9] = {
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "zeta", SN_PROP_NUMERIC),
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "Alpha", SN_PROP_STRING),
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "amount", SN_PROP_NUMERIC),
	    pdef(t.id, SN_PROPDEF_EVENT, -1, "beta", SN_PROP_NONE),
	    pdef(t.id, SN_PROPDEF_PERSON, -1, "email", SN_PROP_STRING),
	    pdef(t.id, SN_PROPDEF_GROUP, 0, "seats", SN_PROP_NUMERIC),
	    pdef(t.id, SN_PROPDEF_GROUP, 1, "seats", SN_PROP_STRING),
	    pdef(t.id, SN_PROPDEF_SESSION, -1, "$entry_pathname", SN_PROP_STRING),
	    pdef(t2.id, SN_PROPDEF_EVENT, -1, "other_team", SN_PROP_STRING),
	};
	assert_int_equal(sn_meta_propdefs_record(f->m, b, 9, &err), 0);

	/* Lists: ordered by name (bytes), filtered, paged, with the total. */
	struct pd_seen s;
	struct sn_propdef_list_opts o = {.kind = SN_PROPDEF_EVENT, .is_numerical = -1};
	assert_int_equal(pd_list(f->m, t.id, o, &s), 4);
	assert_int_equal(s.n, 4);
	assert_string_equal(s.names[0], "Alpha");
	assert_string_equal(s.names[1], "amount");
	assert_string_equal(s.names[2], "beta");
	assert_string_equal(s.names[3], "zeta");
	o.limit = 2, o.offset = 1;
	assert_int_equal(pd_list(f->m, t.id, o, &s), 4);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "amount");
	assert_string_equal(s.names[1], "beta");
	o.offset = 10;
	assert_int_equal(pd_list(f->m, t.id, o, &s), 4);
	assert_int_equal(s.n, 0);
	o.limit = 0, o.offset = 0;
	o.search = "ETA"; /* case-insensitive substring */
	assert_int_equal(pd_list(f->m, t.id, o, &s), 2);
	assert_string_equal(s.names[0], "beta");
	assert_string_equal(s.names[1], "zeta");
	o.search = "lPh";
	assert_int_equal(pd_list(f->m, t.id, o, &s), 1);
	assert_string_equal(s.names[0], "Alpha");
	o.search = NULL;
	o.is_numerical = 1;
	assert_int_equal(pd_list(f->m, t.id, o, &s), 2);
	assert_string_equal(s.names[0], "amount");
	assert_string_equal(s.names[1], "zeta");
	o.is_numerical = 0;
	assert_int_equal(pd_list(f->m, t.id, o, &s), 2);
	assert_string_equal(s.names[0], "Alpha");
	o.is_numerical = -1;
	o.kind = SN_PROPDEF_PERSON;
	assert_int_equal(pd_list(f->m, t.id, o, &s), 1);
	assert_string_equal(s.names[0], "email");
	o.kind = SN_PROPDEF_SESSION;
	assert_int_equal(pd_list(f->m, t.id, o, &s), 1);
	o.kind = SN_PROPDEF_GROUP, o.group_type_index = 1;
	assert_int_equal(pd_list(f->m, t.id, o, &s), 1);
	struct sn_propdef d;
	assert_int_equal(sn_meta_propdef_get(f->m, t.id, s.ids[0], &d, &err), 0);
	assert_int_equal(d.group_type_index, 1);
	assert_int_equal(d.property_type, SN_PROP_STRING);
	o.group_type_index = -1; /* every group */
	assert_int_equal(pd_list(f->m, t.id, o, &s), 2);
	o.group_type_index = 4;
	assert_int_equal(pd_list(f->m, t.id, o, &s), 0);
	o.kind = 0; /* every kind */
	assert_int_equal(pd_list(f->m, t.id, o, &s), 8);
	assert_int_equal(pd_list(f->m, t2.id, o, &s), 1);
	assert_string_equal(s.names[0], "other_team");

	/* get: the team's only */
	o = (struct sn_propdef_list_opts){.kind = SN_PROPDEF_EVENT, .is_numerical = -1};
	pd_list(f->m, t.id, o, &s);
	int64_t alpha = s.ids[0], amount = s.ids[1], beta = s.ids[2];
	assert_int_equal(sn_meta_propdef_get(f->m, t.id, alpha, &d, &err), 0);
	assert_string_equal(d.name, "Alpha");
	assert_int_equal(d.team_id, t.id);
	assert_int_equal(d.kind, SN_PROPDEF_EVENT);
	assert_int_equal(d.group_type_index, -1);
	assert_false(d.is_numerical);
	assert_true(d.created_at_us > 0);
	assert_int_equal(sn_meta_propdef_get(f->m, t2.id, alpha, &d, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_propdef_get(f->m, t.id, 999999, &d, &err), SN_ERR_NOT_FOUND);

	/* set_type: is_numerical follows; NONE clears; another team's is not found */
	assert_int_equal(sn_meta_propdef_set_type(f->m, t.id, beta, SN_PROP_NUMERIC, &d, &err), 0);
	assert_int_equal(d.property_type, SN_PROP_NUMERIC);
	assert_true(d.is_numerical);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, "beta"), SN_PROP_NUMERIC);
	assert_int_equal(sn_meta_propdef_set_type(f->m, t.id, amount, SN_PROP_NONE, &d, &err), 0);
	assert_int_equal(d.property_type, SN_PROP_NONE);
	assert_false(d.is_numerical);
	assert_int_equal(sql_int(f->path, "SELECT COUNT(*) FROM posthog_propertydefinition"
					  " WHERE name = 'amount' AND property_type IS NULL"),
			 1);
	assert_int_equal(sn_meta_propdef_set_type(f->m, t2.id, alpha, SN_PROP_NUMERIC, &d, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, "Alpha"), SN_PROP_STRING);
	assert_int_equal(sn_meta_propdef_set_type(f->m, t.id, alpha, 42, &d, &err), SN_ERR_INVALID);
	/* ingestion fills the cleared type again, the first typed value wins */
	struct sn_propdef again = pdef(t.id, SN_PROPDEF_EVENT, -1, "amount", SN_PROP_BOOLEAN);
	assert_int_equal(sn_meta_propdefs_record(f->m, &again, 1, &err), 0);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, "amount"), SN_PROP_BOOLEAN);

	/* declare: new, existing with a type (replaced), NONE (kept), errors */
	struct sn_propdef in = pdef(t.id, SN_PROPDEF_PERSON, -1, "age", SN_PROP_NUMERIC);
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), 0);
	assert_true(d.id > 0);
	assert_string_equal(d.name, "age");
	assert_int_equal(d.kind, SN_PROPDEF_PERSON);
	assert_true(d.is_numerical);
	int64_t age = d.id;
	in.property_type = SN_PROP_STRING;
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), 0);
	assert_int_equal(d.id, age);
	assert_int_equal(d.property_type, SN_PROP_STRING);
	assert_false(d.is_numerical);
	in.property_type = SN_PROP_NONE;
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), 0);
	assert_int_equal(d.id, age);
	assert_int_equal(d.property_type, SN_PROP_STRING);
	in = pdef(t.id, SN_PROPDEF_GROUP, 3, "arr", SN_PROP_NONE);
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), 0);
	assert_int_equal(d.group_type_index, 3);
	assert_int_equal(d.property_type, SN_PROP_NONE);
	in.group_type_index = -1;
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), SN_ERR_INVALID);
	assert_true(has(err.msg, "group_type_index"));
	in = pdef(t.id, SN_PROPDEF_EVENT, -1, "", SN_PROP_STRING);
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), SN_ERR_INVALID);
	assert_true(has(err.msg, "name"));
	memset(in.name, 'n', sizeof(in.name));
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), SN_ERR_INVALID);
	assert_true(has(err.msg, "name"));
	in = pdef(t.id, 0, -1, "k", SN_PROP_STRING);
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), SN_ERR_INVALID);
	assert_true(has(err.msg, "type"));
	in = pdef(t.id, SN_PROPDEF_EVENT, -1, "k", 17);
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), SN_ERR_INVALID);
	assert_true(has(err.msg, "property_type"));
	in = pdef(999999, SN_PROPDEF_EVENT, -1, "k", SN_PROP_STRING);
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), SN_ERR_NOT_FOUND);
	in = pdef(t.id, SN_PROPDEF_EVENT, -1, "", SN_PROP_STRING);
	memset(in.name, 'n', SN_PROPDEF_NAME_MAX); /* exactly the maximum */
	assert_int_equal(sn_meta_propdef_declare(f->m, &in, &d, &err), 0);
	assert_int_equal(strlen(d.name), SN_PROPDEF_NAME_MAX);

	/* delete: the team's only, once */
	assert_int_equal(sn_meta_propdef_delete(f->m, t2.id, alpha, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_propdef_delete(f->m, t.id, alpha, &err), 0);
	assert_int_equal(sn_meta_propdef_delete(f->m, t.id, alpha, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_propdef_get(f->m, t.id, alpha, &d, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(ptype(f->m, t.id, SN_PROPDEF_EVENT, -1, "Alpha"), SN_PROP_NONE);
	o = (struct sn_propdef_list_opts){.kind = SN_PROPDEF_EVENT, .is_numerical = -1};
	assert_int_equal(pd_list(f->m, t.id, o, &s), 4); /* amount, beta, n..n, zeta */
}

/* An older database upgraded to migration 8 gets the table, and the kept
 * statements work on it. */
static void test_propdefs_upgrade(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/old7.sqlite3", f->dir);
	struct sn_meta *m = NULL;
	struct sn_err err = {0};
	int applied = 0;
	assert_int_equal(
	    sn_meta_sqlite_open_with(&m, path, sn_meta_sqlite_migrations, 7, &applied, &err), 0);
	struct sn_org o;
	struct sn_team t;
	assert_int_equal(sn_meta_org_create(m, "old", &o, &err), 0);
	assert_int_equal(sn_meta_team_create(m, o.id, "old team", NULL, NULL, &t, &err), 0);
	int type = 0;
	assert_int_not_equal(sn_meta_propdef_type(m, t.id, SN_PROPDEF_EVENT, -1, "x", &type, &err),
			     0);
	sn_meta_close(m);
	assert_int_equal(sn_meta_open(&m, path, &applied, &err), 0);
	assert_int_equal(applied, (int)sn_meta_sqlite_nmigrations - 7);
	struct sn_propdef d = pdef(t.id, SN_PROPDEF_EVENT, -1, "x", SN_PROP_DURATION);
	assert_int_equal(sn_meta_propdefs_record(m, &d, 1, &err), 0);
	assert_int_equal(ptype(m, t.id, SN_PROPDEF_EVENT, -1, "x"), SN_PROP_DURATION);
	sn_meta_close(m);
}

int main(void)
{
	sn_log_setup(SN_LOG_WARN, false);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_migrations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade_appends, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_migration_rolls_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_database_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_orgs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_teams, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_team_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_users, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_memberships, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_apikeys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_lookup, setup, teardown),
	    cmocka_unit_test(test_cache_negative_ttl_and_bound),
	    cmocka_unit_test_setup_teardown(test_concurrent_lookups, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cohorts, setup, teardown),
	    cmocka_unit_test(test_propdefs_names),
	    cmocka_unit_test_setup_teardown(test_propdefs_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_propdefs_api_ops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_propdefs_upgrade, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
