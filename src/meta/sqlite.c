/*
 * sqlite.c — the embedded metadata backend: meta.h implemented over one
 * SQLite database file in WAL mode.
 *
 * What it holds: organizations, teams (projects), users, memberships and
 * personal API keys, in tables named after PostHog's (posthog_team, ...);
 * feature flags and their activity log live in flags.c, which shares this
 * connection and mutex through meta_internal.h;
 * the schema and its numbered, append-only migrations live in
 * migrations_sqlite.c, which also documents how values are stored
 * (timestamps are INTEGER microseconds since the epoch, UTC).
 *
 *   struct sn_meta
 *   +-----------+      +----------------------------------------+
 *   | mu        |----->| sqlite3 *db, prepared statements st[]  |  all SQL
 *   +-----------+      +----------------------------------------+
 *   | cache     |----->  token -> team map (cache.c), own rwlock   capture path
 *   +-----------+
 *
 * Concurrency: one connection, opened with SQLITE_OPEN_NOMUTEX and guarded by
 * our own mutex m->mu. Every statement is prepared once at open, then bound,
 * stepped and reset under mu; sqlite3_errmsg is read under mu too, since it
 * belongs to the connection. (The object files prepare theirs per call,
 * except a few hot ones kept in kept[], prepared on first use:
 * sn_meta_sqlite_kept.) Metadata writes are rare (a person creating a
 * project), and the one hot read — token → team on every capture request —
 * is served by the cache without touching mu. The slow parts of user and key
 * handling (argon2id hashing, ~50–60 ms and 64 MiB each) run outside mu so a
 * login never stalls capture misses or other logins' lookups.
 *
 * The token cache is per handle: a team created through this handle is
 * visible at once; one created by another process sharing the file is found
 * once the negative entry for its token expires (at most 5 s).
 *
 * Durability: journal_mode=WAL with synchronous=NORMAL. A power loss can drop
 * the last committed transactions but never corrupts the file; for metadata
 * that a person just typed in, that trade for much cheaper commits is the one
 * SQLite recommends. foreign_keys=ON (SQLite's default is off) so a team can
 * not point at a missing organization, and busy_timeout=5 s so a second
 * process (a CLI next to the server) waits instead of failing at once.
 *
 * Secrets: passwords go through crypto_pwhash_str (argon2id, opslimit and
 * memlimit INTERACTIVE: 2 passes over 64 MiB, about 50–60 ms on one core
 * here); a login for an unknown email verifies against a fixed dummy hash so
 * the answer takes as long as for a known one. Personal API keys are stored
 * as SHA-256 hex only: generated ones are 47 random alphanumerics (~280
 * bits), so a fast hash is enough and keeps authentication to one indexed
 * lookup. (Caller-supplied keys may be weaker; that is the caller's choice.)
 *
 * Errors: SQLite's result codes map to SN_ERR_* in db_fail(): a UNIQUE
 * violation is SN_ERR_EXISTS, a FOREIGN KEY violation SN_ERR_NOT_FOUND (the
 * row referred to is missing), I/O and locking trouble SN_ERR_IO, a damaged
 * file SN_ERR_CORRUPT. Callers replace the message with one that names the
 * problem from the user's side ("a user with this email already exists").
 *
 * Rejected: a connection per thread (or a pool). It would let reads run in
 * parallel, but the only frequent read is cached, and a pool multiplies
 * prepared statements and makes "create, then see it at once" depend on WAL
 * snapshot timing between connections.
 */
#include "meta/meta_internal.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME_MAX_BYTES	   127
#define EMAIL_MAX	   254
#define PASSWORD_MIN_CHARS 8
#define PASSWORD_MAX_BYTES 4096
#define TEAM_TOKEN_MAX	   64
#define APIKEY_MIN	   12
#define APIKEY_MAX	   128
#define APIKEY_TOUCH_US	   (60 * 1000 * 1000)
#define TEAM_LIST_MAX	   1000000
#define ZONEINFO_DIR	   "/usr/share/zoneinfo/"

/* A real argon2id hash (INTERACTIVE parameters) of a password nobody knows.
 * Logins for unknown emails verify against it, so they cost the same time as
 * logins for known ones and do not reveal which emails have accounts. */
static const char dummy_hash[crypto_pwhash_STRBYTES] =
    "$argon2id$v=19$m=65536,t=2,p=1$dAyxlRCp+jGS85Hta/dIkA$"
    "vO3qqoy8JWxAgs1813GdkQaFWGurdJRakc2cMMBJzrE";

#define TEAM_COLS                                                                          \
	"id, organization_id, uuid, name, api_token, timezone, session_recording_opt_in, " \
	"autocapture_opt_out, anonymize_ips, created_at, updated_at, "                     \
	"coalesce(week_start_day, 0), test_account_filters, path_cleaning_filters"
#define USER_COLS "id, uuid, email, first_name, is_active, is_staff, created_at"

enum stmt {
	ST_IS_EMPTY,
	ST_ORG_INSERT,
	ST_ORG_GET,
	ST_ORG_FIRST,
	ST_TEAM_INSERT,
	ST_TEAM_GET,
	ST_TEAM_UPDATE,
	ST_TEAM_BY_TOKEN,
	ST_TEAM_LIST,
	ST_USER_INSERT,
	ST_USER_BY_EMAIL,
	ST_MEMBER_INSERT,
	ST_MEMBER_LEVEL,
	ST_MEMBER_FIRST,
	ST_KEY_INSERT,
	ST_KEY_AUTH,
	ST_KEY_TOUCH,
	NSTMT
};

static const char *const stmt_sql[NSTMT] = {
    [ST_IS_EMPTY] = "SELECT NOT EXISTS (SELECT 1 FROM posthog_organization)",
    [ST_ORG_INSERT] = "INSERT INTO posthog_organization (uuid, name, created_at, updated_at)"
		      " VALUES (?1, ?2, ?3, ?3)",
    [ST_ORG_GET] = "SELECT id, uuid, name, created_at FROM posthog_organization WHERE id = ?1",
    [ST_ORG_FIRST] = "SELECT id, uuid, name, created_at FROM posthog_organization"
		     " ORDER BY id LIMIT 1",
    [ST_TEAM_INSERT] = "INSERT INTO posthog_team (organization_id, uuid, name, api_token,"
		       " timezone, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    [ST_TEAM_GET] = "SELECT " TEAM_COLS " FROM posthog_team WHERE id = ?1",
    [ST_TEAM_UPDATE] =
	"UPDATE posthog_team SET name = coalesce(?2, name),"
	" timezone = coalesce(?3, timezone),"
	" anonymize_ips = coalesce(?4, anonymize_ips),"
	" session_recording_opt_in = coalesce(?5, session_recording_opt_in),"
	" autocapture_opt_out = coalesce(?6, autocapture_opt_out),"
	" updated_at = ?7,"
	" week_start_day = coalesce(?8, week_start_day),"
	" test_account_filters = coalesce(?9, test_account_filters),"
	" path_cleaning_filters = coalesce(?10, path_cleaning_filters) WHERE id = ?1",
    [ST_TEAM_BY_TOKEN] = "SELECT " TEAM_COLS " FROM posthog_team WHERE api_token = ?1",
    [ST_TEAM_LIST] = "SELECT " TEAM_COLS " FROM posthog_team ORDER BY id",
    [ST_USER_INSERT] = "INSERT INTO posthog_user (uuid, email, password, first_name, is_active,"
		       " is_staff, created_at) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6)",
    [ST_USER_BY_EMAIL] = "SELECT " USER_COLS ", password FROM posthog_user WHERE email = ?1",
    [ST_MEMBER_INSERT] = "INSERT INTO posthog_organizationmembership (organization_id, user_id,"
			 " level, created_at) VALUES (?1, ?2, ?3, ?4)",
    [ST_MEMBER_LEVEL] = "SELECT level FROM posthog_organizationmembership"
			" WHERE organization_id = ?1 AND user_id = ?2",
    [ST_MEMBER_FIRST] = "SELECT organization_id, level FROM posthog_organizationmembership"
			" WHERE user_id = ?1 ORDER BY id LIMIT 1",
    [ST_KEY_INSERT] = "INSERT INTO posthog_personalapikey (user_id, label, secure_value,"
		      " mask_value, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_KEY_AUTH] = "SELECT k.id, k.user_id, k.label, k.mask_value, k.created_at,"
		    " k.last_used_at, u.id, u.uuid, u.email, u.first_name, u.is_active,"
		    " u.is_staff, u.created_at FROM posthog_personalapikey k"
		    " JOIN posthog_user u ON u.id = k.user_id WHERE k.secure_value = ?1",
    /* The condition makes "at most once a minute" hold across processes too. */
    [ST_KEY_TOUCH] = "UPDATE posthog_personalapikey SET last_used_at = ?2 WHERE id = ?1"
		     " AND (last_used_at IS NULL OR last_used_at <= ?2 - 60000000)",
};

struct sn_meta {
	pthread_mutex_t mu; /* guards db and st[] */
	sqlite3 *db;
	sqlite3_stmt *st[NSTMT];
	int code_version;
	struct sn_meta_cache *cache;
	uint64_t token_queries;		   /* atomic; cache misses that reached SQLite */
	struct sn_meta_flagstate *flags;   /* flags.c: per-team generations */
	sqlite3_stmt *kept[SN_META_NKEPT]; /* sn_meta_sqlite_kept: prepared on first use */
};

/* ---- small helpers --------------------------------------------------------- */

/* Sets err from the connection's last error. Caller holds m->mu. */
static int db_fail(struct sn_meta *m, int rc, struct sn_err *err, const char *what)
{
	return sn_err_set(err, sn_sqlite_rc(rc), "metadata database: %s: %s", what,
			  sqlite3_errmsg(m->db));
}

static void lock(struct sn_meta *m)
{
	pthread_mutex_lock(&m->mu);
}

static void unlock(struct sn_meta *m)
{
	pthread_mutex_unlock(&m->mu);
}

/* Leaves a statement ready for its next use; bound SQLITE_STATIC buffers may
 * go out of scope after this. */
static void done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

static void read_org(sqlite3_stmt *s, struct sn_org *o)
{
	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(s, 0);
	sn_sqlite_column_text(s, 1, o->uuid, sizeof(o->uuid));
	sn_sqlite_column_text(s, 2, o->name, sizeof(o->name));
	o->created_at_us = sqlite3_column_int64(s, 3);
}

/* Reads TEAM_COLS starting at column 0. */
static void read_team(sqlite3_stmt *s, struct sn_team *t)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(s, 0);
	t->organization_id = sqlite3_column_int64(s, 1);
	sn_sqlite_column_text(s, 2, t->uuid, sizeof(t->uuid));
	sn_sqlite_column_text(s, 3, t->name, sizeof(t->name));
	sn_sqlite_column_text(s, 4, t->api_token, sizeof(t->api_token));
	sn_sqlite_column_text(s, 5, t->timezone, sizeof(t->timezone));
	t->session_recording_opt_in = sqlite3_column_int(s, 6) != 0;
	t->autocapture_opt_out = sqlite3_column_int(s, 7) != 0;
	t->anonymize_ips = sqlite3_column_int(s, 8) != 0;
	t->created_at_us = sqlite3_column_int64(s, 9);
	t->updated_at_us = sqlite3_column_int64(s, 10);
	t->week_start_day = sqlite3_column_int(s, 11) == 1 ? 1 : 0;
	sn_sqlite_column_text(s, 12, t->test_account_filters, sizeof(t->test_account_filters));
	if (!t->test_account_filters[0])
		strcpy(t->test_account_filters, "[]");
	sn_sqlite_column_text(s, 13, t->path_cleaning_filters, sizeof(t->path_cleaning_filters));
	if (!t->path_cleaning_filters[0])
		strcpy(t->path_cleaning_filters, "[]");
}

/* Reads USER_COLS starting at column c. */
static void read_user(sqlite3_stmt *s, int c, struct sn_user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(s, c + 0);
	sn_sqlite_column_text(s, c + 1, u->uuid, sizeof(u->uuid));
	sn_sqlite_column_text(s, c + 2, u->email, sizeof(u->email));
	sn_sqlite_column_text(s, c + 3, u->first_name, sizeof(u->first_name));
	u->is_active = sqlite3_column_int(s, c + 4) != 0;
	u->is_staff = sqlite3_column_int(s, c + 5) != 0;
	u->created_at_us = sqlite3_column_int64(s, c + 6);
}

static void new_uuid(char out[37])
{
	struct sn_uuid u;
	sn_uuid_v7(&u, sn_now_us());
	sn_uuid_format(&u, out);
}

/* Checks a display name (organization, team, label): at most 127 bytes so it
 * fits the fixed struct fields, no control characters. */
static int check_name(const char *what, const char *s, bool required, struct sn_err *err)
{
	if (!s || !*s) {
		if (required)
			return sn_err_set(err, SN_ERR_INVALID, "%s is required", what);
		return 0;
	}
	size_t n = strnlen(s, NAME_MAX_BYTES + 1);
	if (n > NAME_MAX_BYTES)
		return sn_err_set(err, SN_ERR_INVALID, "%s is too long (at most %d bytes)", what,
				  NAME_MAX_BYTES);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f)
			return sn_err_set(err, SN_ERR_INVALID,
					  "%s must not contain control characters", what);
	}
	return 0;
}

/* Lower-cases (ASCII) and validates an email address into out. */
static int normalise_email(const char *in, char out[EMAIL_MAX + 1], struct sn_err *err)
{
	if (!in || !*in)
		return sn_err_set(err, SN_ERR_INVALID, "email is required");
	size_t n = strnlen(in, EMAIL_MAX + 1);
	if (n > EMAIL_MAX)
		return sn_err_set(err, SN_ERR_INVALID, "email is too long (at most %d characters)",
				  EMAIL_MAX);
	size_t at = 0, nat = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c <= 0x20 || c == 0x7f)
			return sn_err_set(err, SN_ERR_INVALID,
					  "email must not contain spaces or control characters");
		if (c == '@') {
			at = i;
			nat++;
		}
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : (char)c;
	}
	out[n] = 0;
	if (nat != 1)
		return sn_err_set(err, SN_ERR_INVALID,
				  "email is not valid: it must contain exactly one '@'");
	if (at == 0 || at == n - 1)
		return sn_err_set(err, SN_ERR_INVALID,
				  "email is not valid: the parts before and after '@' must "
				  "not be empty");
	return 0;
}

static int check_password_rules(const char *pw, struct sn_err *err)
{
	if (!pw)
		return sn_err_set(err, SN_ERR_INVALID, "password is required");
	size_t n = strnlen(pw, PASSWORD_MAX_BYTES + 1);
	if (n > PASSWORD_MAX_BYTES)
		return sn_err_set(err, SN_ERR_INVALID, "password is too long (at most %d bytes)",
				  PASSWORD_MAX_BYTES);
	size_t chars = 0; /* UTF-8 code points: bytes that are not continuations */
	for (size_t i = 0; i < n; i++)
		chars += ((unsigned char)pw[i] & 0xC0) != 0x80;
	if (chars < PASSWORD_MIN_CHARS)
		return sn_err_set(err, SN_ERR_INVALID,
				  "password is too short (at least %d characters)",
				  PASSWORD_MIN_CHARS);
	return 0;
}

static bool all_printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

static int check_team_token(const char *tok, struct sn_err *err)
{
	size_t n = strnlen(tok, TEAM_TOKEN_MAX + 1);
	if (n == 0 || n > TEAM_TOKEN_MAX)
		return sn_err_set(err, SN_ERR_INVALID,
				  "project API token must be 1 to %d characters long",
				  TEAM_TOKEN_MAX);
	if (!all_printable(tok, n))
		return sn_err_set(err, SN_ERR_INVALID,
				  "project API token must be printable ASCII without spaces");
	if (sn_str_has_prefix(tok, "phx_"))
		return sn_err_set(err, SN_ERR_INVALID,
				  "project API token must not start with phx_ (that prefix is for "
				  "personal API keys, which are secret)");
	return 0;
}

/* An IANA name is accepted when tzdata has a compiled zone file for it. The
 * character set and the ".." ban keep the name inside ZONEINFO_DIR; the TZif
 * magic check rejects the other files that live there (zone.tab, ...). */
static int check_timezone(const char *tz, struct sn_err *err)
{
	if (strcmp(tz, "UTC") == 0)
		return 0;
	size_t n = strnlen(tz, 64);
	bool ok = n > 0 && n < 64 && tz[0] != '/' && !strstr(tz, "..");
	for (size_t i = 0; ok && i < n; i++) {
		char c = tz[i];
		ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		     c == '/' || c == '_' || c == '-' || c == '+';
	}
	if (ok) {
		char path[sizeof(ZONEINFO_DIR) + 64];
		snprintf(path, sizeof(path), ZONEINFO_DIR "%s", tz);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		char magic[4];
		ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		     read(fd, magic, 4) == 4 && memcmp(magic, "TZif", 4) == 0;
		if (fd >= 0)
			close(fd);
	}
	if (!ok)
		return sn_err_set(err, SN_ERR_INVALID,
				  "timezone is not a known IANA time zone name (like "
				  "\"Europe/Berlin\" or \"UTC\")");
	return 0;
}

/* ---- open, migrations, close ----------------------------------------------- */

int sn_meta_sqlite_open_with(struct sn_meta **out, const char *path,
			     const struct sn_sql_migration *migs, size_t nmigs, int *applied,
			     struct sn_err *err)
{
	int ret = 0;
	struct sn_meta *m = NULL;
	*out = NULL;
	if (applied)
		*applied = 0;
	if (!path || !*path)
		return sn_err_set(err, SN_ERR_INVALID, "metadata database path is empty");
	for (size_t i = 0; i < nmigs; i++)
		if (migs[i].version != (int)i + 1)
			return sn_err_set(err, SN_ERR_INTERNAL,
					  "migration list is not numbered 1..%zu", nmigs);
	if (sodium_init() < 0)
		return sn_err_set(err, SN_ERR_INTERNAL, "libsodium failed to initialise");

	m = calloc(1, sizeof(*m));
	if (!m)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory opening %s", path);
	pthread_mutex_init(&m->mu, NULL);
	m->code_version = (int)nmigs;
	m->cache = sn_meta_cache_new();
	m->flags = sn_meta_flagstate_new();
	if (!m->cache || !m->flags) {
		ret = sn_err_set(err, SN_ERR_NOMEM, "out of memory opening %s", path);
		goto out;
	}

	if ((ret = sn_sqlite_open(&m->db, path, "metadata database", true, err)))
		goto out;
	if ((ret = sn_sqlite_migrate(m->db, path, "metadata", migs, nmigs, applied, err)) < 0)
		goto out;

	if ((ret =
		 sn_sqlite_prepare_all(m->db, "metadata database", stmt_sql, NSTMT, m->st, err))) {
		sn_err_prefix(err, "%s", path);
		goto out;
	}
	*out = m;
	m = NULL;
out:
	sn_meta_close(m);
	return ret;
}

int sn_meta_open(struct sn_meta **out, const char *path, int *applied, struct sn_err *err)
{
	return sn_meta_sqlite_open_with(out, path, sn_meta_sqlite_migrations,
					sn_meta_sqlite_nmigrations, applied, err);
}

void sn_meta_close(struct sn_meta *m)
{
	if (!m)
		return;
	for (int i = 0; i < NSTMT; i++)
		sqlite3_finalize(m->st[i]);
	for (int i = 0; i < SN_META_NKEPT; i++)
		sqlite3_finalize(m->kept[i]);
	if (m->db) {
		/* Lets SQLite refresh planner statistics it found stale; cheap. */
		sqlite3_exec(m->db, "PRAGMA optimize", NULL, NULL, NULL);
		if (sqlite3_close(m->db) != SQLITE_OK)
			sn_log_warn("metadata: closing the database failed: %s",
				    sqlite3_errmsg(m->db));
	}
	sn_meta_cache_free(m->cache);
	sn_meta_flagstate_free(m->flags);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

int sn_meta_schema_version(struct sn_meta *m, int *db_version, int *code_version)
{
	int ret = 0;
	if (code_version)
		*code_version = m->code_version;
	int v = 0;
	lock(m);
	ret = sn_sqlite_schema_version(m->db, &v, NULL);
	unlock(m);
	if (ret == 0 && db_version)
		*db_version = v;
	return ret;
}

uint64_t sn_meta_sqlite_token_queries(struct sn_meta *m)
{
	return __atomic_load_n(&m->token_queries, __ATOMIC_RELAXED);
}

sqlite3 *sn_meta_sqlite_lock(struct sn_meta *m)
{
	lock(m);
	return m->db;
}

void sn_meta_sqlite_unlock(struct sn_meta *m)
{
	unlock(m);
}

int sn_meta_sqlite_kept(struct sn_meta *m, enum sn_meta_kept_stmt which, const char *sql,
			sqlite3_stmt **s, struct sn_err *err)
{
	/* Prepared lazily rather than with st[] at open, so that a handle on a
	 * database some test left at an older version still opens. */
	if (!m->kept[which] && sqlite3_prepare_v3(m->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
						  &m->kept[which], NULL) != SQLITE_OK) {
		m->kept[which] = NULL;
		*s = NULL;
		return db_fail(m, sqlite3_extended_errcode(m->db), err, "preparing a statement");
	}
	*s = m->kept[which];
	return 0;
}

struct sn_meta_flagstate *sn_meta_sqlite_flagstate(struct sn_meta *m)
{
	return m->flags;
}

/* ---- organizations ---------------------------------------------------------- */

int sn_meta_is_empty(struct sn_meta *m, bool *empty, struct sn_err *err)
{
	int ret = 0;
	lock(m);
	sqlite3_stmt *s = m->st[ST_IS_EMPTY];
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*empty = sqlite3_column_int(s, 0) != 0;
	else
		ret = db_fail(m, rc, err, "counting organizations");
	done(s);
	unlock(m);
	return ret;
}

/* Steps a statement that returns at most one organization. Caller holds mu. */
static int step_org(struct sn_meta *m, sqlite3_stmt *s, struct sn_org *out, struct sn_err *err)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (out)
			read_org(s, out);
		return 0;
	}
	if (rc == SQLITE_DONE)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "organization not found");
	return db_fail(m, rc, err, "reading an organization");
}

int sn_meta_org_create(struct sn_meta *m, const char *name, struct sn_org *out, struct sn_err *err)
{
	int ret = check_name("organization name", name, true, err);
	if (ret < 0)
		return ret;
	char uuid[37];
	new_uuid(uuid);
	lock(m);
	sqlite3_stmt *s = m->st[ST_ORG_INSERT];
	bind_text(s, 1, uuid);
	bind_text(s, 2, name);
	sqlite3_bind_int64(s, 3, sn_now_us());
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = db_fail(m, rc, err, "creating an organization");
		goto out;
	}
	sqlite3_stmt *g = m->st[ST_ORG_GET];
	sqlite3_bind_int64(g, 1, sqlite3_last_insert_rowid(m->db));
	ret = step_org(m, g, out, err);
	done(g);
out:
	done(s);
	unlock(m);
	return ret;
}

int sn_meta_org_get(struct sn_meta *m, int64_t id, struct sn_org *out, struct sn_err *err)
{
	lock(m);
	sqlite3_stmt *s = m->st[ST_ORG_GET];
	sqlite3_bind_int64(s, 1, id);
	int ret = step_org(m, s, out, err);
	if (ret == SN_ERR_NOT_FOUND)
		sn_err_set(err, ret, "organization %lld does not exist", (long long)id);
	done(s);
	unlock(m);
	return ret;
}

int sn_meta_org_first(struct sn_meta *m, struct sn_org *out, struct sn_err *err)
{
	lock(m);
	sqlite3_stmt *s = m->st[ST_ORG_FIRST];
	int ret = step_org(m, s, out, err);
	if (ret == SN_ERR_NOT_FOUND)
		sn_err_set(err, ret, "no organization exists yet");
	done(s);
	unlock(m);
	return ret;
}

/* ---- teams ------------------------------------------------------------------ */

/* Steps a statement that returns at most one team. Caller holds mu. */
static int step_team(struct sn_meta *m, sqlite3_stmt *s, struct sn_team *out, struct sn_err *err)
{
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		read_team(s, out);
		return 0;
	}
	if (rc == SQLITE_DONE)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "project not found");
	return db_fail(m, rc, err, "reading a project");
}

int sn_meta_team_create(struct sn_meta *m, int64_t org_id, const char *name, const char *token,
			const char *tz_name, struct sn_team *out, struct sn_err *err)
{
	char gen[72], uuid[37];
	struct sn_team t;
	int ret = check_name("project name", name, true, err);
	if (ret < 0)
		return ret;
	if (token) {
		if ((ret = check_team_token(token, err)) < 0)
			return ret;
	} else {
		sn_random_token(gen, sizeof(gen), "phc_", 43);
		token = gen;
	}
	/* Not named timezone: that is a glibc global under _GNU_SOURCE. */
	if (!tz_name)
		tz_name = "UTC";
	if ((ret = check_timezone(tz_name, err)) < 0)
		return ret;
	new_uuid(uuid);

	lock(m);
	sqlite3_stmt *s = m->st[ST_TEAM_INSERT];
	sqlite3_bind_int64(s, 1, org_id);
	bind_text(s, 2, uuid);
	bind_text(s, 3, name);
	bind_text(s, 4, token);
	bind_text(s, 5, tz_name);
	sqlite3_bind_int64(s, 6, sn_now_us());
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = db_fail(m, rc, err, "creating a project");
		if (ret == SN_ERR_EXISTS)
			sn_err_set(err, ret, "a project with this API token already exists");
		else if (ret == SN_ERR_NOT_FOUND)
			sn_err_set(err, ret, "organization %lld does not exist", (long long)org_id);
		goto out;
	}
	sqlite3_stmt *g = m->st[ST_TEAM_GET];
	sqlite3_bind_int64(g, 1, sqlite3_last_insert_rowid(m->db));
	ret = step_team(m, g, &t, err);
	done(g);
out:
	done(s);
	unlock(m);
	if (ret == 0) {
		/* Replaces a negative entry for this token, if a capture request
		 * asked for it before the project existed. */
		sn_meta_cache_put(m->cache, &t);
		if (out)
			*out = t;
	}
	return ret;
}

static void bind_flag(sqlite3_stmt *s, int col, int v)
{
	if (v < 0)
		sqlite3_bind_null(s, col);
	else
		sqlite3_bind_int(s, col, v != 0);
}

int sn_meta_team_patch_check(const struct sn_team_patch *p, struct sn_err *err)
{
	int ret;
	if (p->name && (!p->name[0] || strlen(p->name) >= sizeof(((struct sn_team *)0)->name)))
		return sn_err_set(err, SN_ERR_INVALID, "name must be 1 to %zu characters",
				  sizeof(((struct sn_team *)0)->name) - 1);
	if (p->timezone && (ret = check_timezone(p->timezone, err)) < 0)
		return ret;
	if (p->week_start_day < -1 || p->week_start_day > 1)
		return sn_err_set(err, SN_ERR_INVALID,
				  "week_start_day must be 0 (Sunday) or 1 (Monday)");
	if (p->test_account_filters) {
		struct json_object *f = NULL;
		struct sn_err jerr = {0};
		bool ok = strlen(p->test_account_filters) < SN_TEAM_TEST_FILTERS_MAX &&
			  sn_json_parse(p->test_account_filters, strlen(p->test_account_filters),
					&f, &jerr) == 0 &&
			  json_object_is_type(f, json_type_array);
		for (size_t i = 0; ok && i < json_object_array_length(f); i++)
			ok = json_object_is_type(json_object_array_get_idx(f, i), json_type_object);
		json_object_put(f);
		if (!ok)
			return sn_err_set(err, SN_ERR_INVALID,
					  "test_account_filters must be a list of property filter "
					  "objects (at most %d bytes of JSON)",
					  SN_TEAM_TEST_FILTERS_MAX - 1);
	}
	if (p->path_cleaning_filters) {
		struct json_object *f = NULL;
		struct sn_err jerr = {0};
		bool ok = strlen(p->path_cleaning_filters) < SN_TEAM_TEST_FILTERS_MAX &&
			  sn_json_parse(p->path_cleaning_filters, strlen(p->path_cleaning_filters),
					&f, &jerr) == 0 &&
			  json_object_is_type(f, json_type_array);
		for (size_t i = 0; ok && i < json_object_array_length(f); i++) {
			struct json_object *r = json_object_array_get_idx(f, i), *a, *x;
			ok = json_object_is_type(r, json_type_object) &&
			     json_object_object_get_ex(r, "alias", &a) &&
			     json_object_is_type(a, json_type_string) &&
			     json_object_object_get_ex(r, "regex", &x) &&
			     json_object_is_type(x, json_type_string);
		}
		json_object_put(f);
		if (!ok)
			return sn_err_set(err, SN_ERR_INVALID,
					  "path_cleaning_filters must be a list of {\"alias\", "
					  "\"regex\"} objects (at most %d bytes of JSON)",
					  SN_TEAM_TEST_FILTERS_MAX - 1);
	}
	return 0;
}

int sn_meta_team_update(struct sn_meta *m, int64_t id, const struct sn_team_patch *p,
			struct sn_team *out, struct sn_err *err)
{
	int ret = sn_meta_team_patch_check(p, err);
	if (ret)
		return ret;
	struct sn_team t;
	lock(m);
	sqlite3_stmt *s = m->st[ST_TEAM_UPDATE];
	sqlite3_bind_int64(s, 1, id);
	if (p->name)
		bind_text(s, 2, p->name);
	else
		sqlite3_bind_null(s, 2);
	if (p->timezone)
		bind_text(s, 3, p->timezone);
	else
		sqlite3_bind_null(s, 3);
	bind_flag(s, 4, p->anonymize_ips);
	bind_flag(s, 5, p->session_recording_opt_in);
	bind_flag(s, 6, p->autocapture_opt_out);
	sqlite3_bind_int64(s, 7, sn_now_us());
	if (p->week_start_day >= 0)
		sqlite3_bind_int(s, 8, p->week_start_day);
	else
		sqlite3_bind_null(s, 8);
	if (p->test_account_filters)
		bind_text(s, 9, p->test_account_filters);
	else
		sqlite3_bind_null(s, 9);
	if (p->path_cleaning_filters)
		bind_text(s, 10, p->path_cleaning_filters);
	else
		sqlite3_bind_null(s, 10);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = db_fail(m, rc, err, "updating a project");
		done(s);
		unlock(m);
		return ret;
	}
	bool changed = sqlite3_changes(m->db) > 0;
	done(s);
	sqlite3_stmt *g = m->st[ST_TEAM_GET];
	sqlite3_bind_int64(g, 1, id);
	ret = changed ? step_team(m, g, &t, err) : SN_ERR_NOT_FOUND;
	done(g);
	unlock(m);
	if (ret == SN_ERR_NOT_FOUND)
		return sn_err_set(err, ret, "project %lld does not exist", (long long)id);
	if (ret)
		return ret;
	sn_meta_cache_put(m->cache, &t);
	sn_meta_flags_bump_generation(m, id);
	if (out)
		*out = t;
	return 0;
}

int sn_meta_team_get(struct sn_meta *m, int64_t id, struct sn_team *out, struct sn_err *err)
{
	lock(m);
	sqlite3_stmt *s = m->st[ST_TEAM_GET];
	sqlite3_bind_int64(s, 1, id);
	int ret = step_team(m, s, out, err);
	if (ret == SN_ERR_NOT_FOUND)
		sn_err_set(err, ret, "project %lld does not exist", (long long)id);
	done(s);
	unlock(m);
	return ret;
}

int sn_meta_team_by_token(struct sn_meta *m, const char *token, struct sn_team *out,
			  struct sn_err *err)
{
	static const char unknown[] = "project API key is invalid: no project has this token";
	if (!token || !*token)
		return sn_err_set(err, SN_ERR_INVALID, "project API key is missing");
	size_t len = strnlen(token, SN_META_TOKEN_MAX + 1);
	if (len > SN_META_TOKEN_MAX)
		return sn_err_set(err, SN_ERR_NOT_FOUND, unknown);

	int64_t now = sn_now_us();
	switch (sn_meta_cache_get(m->cache, token, len, now, out)) {
	case SN_META_CACHE_HIT: return 0;
	case SN_META_CACHE_NEGATIVE: return sn_err_set(err, SN_ERR_NOT_FOUND, unknown);
	case SN_META_CACHE_MISS: break;
	}

	__atomic_fetch_add(&m->token_queries, 1, __ATOMIC_RELAXED);
	lock(m);
	sqlite3_stmt *s = m->st[ST_TEAM_BY_TOKEN];
	sqlite3_bind_text(s, 1, token, (int)len, SQLITE_STATIC);
	int ret = step_team(m, s, out, err);
	done(s);
	unlock(m);
	if (ret == 0)
		sn_meta_cache_put(m->cache, out);
	else if (ret == SN_ERR_NOT_FOUND) {
		sn_meta_cache_put_negative(m->cache, token, len, now);
		sn_err_set(err, ret, unknown);
	}
	return ret;
}

int sn_meta_team_list(struct sn_meta *m, int (*fn)(void *arg, const struct sn_team *t), void *arg,
		      struct sn_err *err)
{
	/* Rows are copied out first and fn runs without the lock, so fn may call
	 * back into sn_meta (e.g. to look up the team's organization). */
	struct sn_team *teams = NULL;
	size_t n = 0, cap = 0;
	int ret = 0, rc;
	lock(m);
	sqlite3_stmt *s = m->st[ST_TEAM_LIST];
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct sn_team *nt;
			if (ncap > TEAM_LIST_MAX || !(nt = realloc(teams, ncap * sizeof(*nt)))) {
				ret = sn_err_set(
				    err, ncap > TEAM_LIST_MAX ? SN_ERR_TOO_BIG : SN_ERR_NOMEM,
				    "too many projects to list");
				break;
			}
			teams = nt;
			cap = ncap;
		}
		read_team(s, &teams[n++]);
	}
	if (ret == 0 && rc != SQLITE_DONE)
		ret = db_fail(m, rc, err, "listing projects");
	done(s);
	unlock(m);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (fn(arg, &teams[i]) != 0)
			break;
	free(teams);
	return ret;
}

/* ---- users ------------------------------------------------------------------ */

/* Looks a normalised email up; copies the password hash into pw (if not
 * NULL, pwsz bytes). Caller holds mu. */
static int user_lookup(struct sn_meta *m, const char *email, struct sn_user *out, char *pw,
		       size_t pwsz, struct sn_err *err)
{
	sqlite3_stmt *s = m->st[ST_USER_BY_EMAIL];
	bind_text(s, 1, email);
	int ret = 0, rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (out)
			read_user(s, 0, out);
		if (pw)
			sn_sqlite_column_text(s, 7, pw, pwsz);
	} else if (rc == SQLITE_DONE) {
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "no user has this email");
	} else {
		ret = db_fail(m, rc, err, "reading a user");
	}
	done(s);
	return ret;
}

int sn_meta_user_create(struct sn_meta *m, const char *email, const char *password,
			const char *first_name, bool is_staff, struct sn_user *out,
			struct sn_err *err)
{
	char norm[EMAIL_MAX + 1], hash[crypto_pwhash_STRBYTES], uuid[37];
	struct sn_user u;
	int ret;
	if ((ret = normalise_email(email, norm, err)) < 0)
		return ret;
	if ((ret = check_password_rules(password, err)) < 0)
		return ret;
	if ((ret = check_name("first name", first_name, false, err)) < 0)
		return ret;

	/* Catch the common duplicate before spending a hash on it; the UNIQUE
	 * constraint below still settles races. */
	lock(m);
	ret = user_lookup(m, norm, NULL, NULL, 0, err);
	unlock(m);
	if (ret == 0)
		return sn_err_set(err, SN_ERR_EXISTS, "a user with this email already exists");
	if (ret != SN_ERR_NOT_FOUND)
		return ret;

	if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory hashing the password");
	new_uuid(uuid);
	ret = 0;

	lock(m);
	sqlite3_stmt *s = m->st[ST_USER_INSERT];
	bind_text(s, 1, uuid);
	bind_text(s, 2, norm);
	bind_text(s, 3, hash);
	bind_text(s, 4, first_name ? first_name : "");
	sqlite3_bind_int(s, 5, is_staff);
	sqlite3_bind_int64(s, 6, sn_now_us());
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = db_fail(m, rc, err, "creating a user");
		if (ret == SN_ERR_EXISTS)
			sn_err_set(err, ret, "a user with this email already exists");
	}
	done(s);
	if (ret == 0)
		ret = user_lookup(m, norm, &u, NULL, 0, err);
	unlock(m);
	if (ret == 0 && out)
		*out = u;
	return ret;
}

int sn_meta_user_by_email(struct sn_meta *m, const char *email, struct sn_user *out,
			  struct sn_err *err)
{
	char norm[EMAIL_MAX + 1];
	if (normalise_email(email, norm, NULL) < 0)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "no user has this email");
	lock(m);
	int ret = user_lookup(m, norm, out, NULL, 0, err);
	unlock(m);
	return ret;
}

int sn_meta_user_check_password(struct sn_meta *m, const char *email, const char *password,
				struct sn_user *out, struct sn_err *err)
{
	static const char bad[] = "invalid email or password";
	char norm[EMAIL_MAX + 1], hash[crypto_pwhash_STRBYTES];
	struct sn_user u = {0};
	int ret = 0;
	if (!password || strnlen(password, PASSWORD_MAX_BYTES + 1) > PASSWORD_MAX_BYTES)
		return sn_err_set(err, SN_ERR_AUTH, bad);
	bool known = normalise_email(email, norm, NULL) == 0;
	if (known) {
		lock(m);
		ret = user_lookup(m, norm, &u, hash, sizeof(hash), err);
		unlock(m);
		if (ret < 0 && ret != SN_ERR_NOT_FOUND)
			return ret;
		known = ret == 0;
	}
	/* Unknown emails verify against a dummy hash: same cost, same answer. */
	bool match =
	    crypto_pwhash_str_verify(known ? hash : dummy_hash, password, strlen(password)) == 0;
	if (!known || !match || !u.is_active)
		return sn_err_set(err, SN_ERR_AUTH, bad);
	if (out)
		*out = u;
	return 0;
}

/* ---- memberships ------------------------------------------------------------ */

int sn_meta_membership_add(struct sn_meta *m, int64_t org_id, int64_t user_id,
			   enum sn_member_level level, struct sn_err *err)
{
	if (level != SN_LEVEL_MEMBER && level != SN_LEVEL_ADMIN && level != SN_LEVEL_OWNER)
		return sn_err_set(err, SN_ERR_INVALID,
				  "membership level %d is not one of member (1), admin (8), "
				  "owner (15)",
				  (int)level);
	int ret = 0;
	lock(m);
	sqlite3_stmt *s = m->st[ST_MEMBER_INSERT];
	sqlite3_bind_int64(s, 1, org_id);
	sqlite3_bind_int64(s, 2, user_id);
	sqlite3_bind_int(s, 3, (int)level);
	sqlite3_bind_int64(s, 4, sn_now_us());
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = db_fail(m, rc, err, "adding a membership");
		if (ret == SN_ERR_EXISTS)
			sn_err_set(err, ret, "user %lld is already a member of organization %lld",
				   (long long)user_id, (long long)org_id);
		else if (ret == SN_ERR_NOT_FOUND)
			sn_err_set(err, ret, "organization %lld or user %lld does not exist",
				   (long long)org_id, (long long)user_id);
	}
	done(s);
	unlock(m);
	return ret;
}

int sn_meta_membership_level(struct sn_meta *m, int64_t org_id, int64_t user_id,
			     enum sn_member_level *level, struct sn_err *err)
{
	int ret = 0;
	lock(m);
	sqlite3_stmt *s = m->st[ST_MEMBER_LEVEL];
	sqlite3_bind_int64(s, 1, org_id);
	sqlite3_bind_int64(s, 2, user_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*level = (enum sn_member_level)sqlite3_column_int(s, 0);
	else if (rc == SQLITE_DONE)
		ret = sn_err_set(err, SN_ERR_NOT_FOUND,
				 "user %lld is not a member of organization %lld",
				 (long long)user_id, (long long)org_id);
	else
		ret = db_fail(m, rc, err, "reading a membership");
	done(s);
	unlock(m);
	return ret;
}

int sn_meta_membership_first(struct sn_meta *m, int64_t user_id, int64_t *org_id,
			     enum sn_member_level *level, struct sn_err *err)
{
	int ret = 0;
	lock(m);
	sqlite3_stmt *s = m->st[ST_MEMBER_FIRST];
	sqlite3_bind_int64(s, 1, user_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*org_id = sqlite3_column_int64(s, 0);
		*level = (enum sn_member_level)sqlite3_column_int(s, 1);
	} else if (rc == SQLITE_DONE) {
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "user %lld belongs to no organization",
				 (long long)user_id);
	} else {
		ret = db_fail(m, rc, err, "reading a membership");
	}
	done(s);
	unlock(m);
	return ret;
}

/* ---- personal API keys --------------------------------------------------------- */

int sn_meta_apikey_create(struct sn_meta *m, int64_t user_id, const char *label, const char *key,
			  char *key_out, size_t key_out_size, struct sn_apikey *out,
			  struct sn_err *err)
{
	char gen[64], secure[65];
	struct sn_apikey k;
	int ret = check_name("key label", label, false, err);
	if (ret < 0)
		return ret;
	if (key) {
		size_t n = strnlen(key, APIKEY_MAX + 1);
		if (!sn_str_has_prefix(key, "phx_"))
			return sn_err_set(err, SN_ERR_INVALID,
					  "personal API key must start with phx_");
		if (n < APIKEY_MIN || n > APIKEY_MAX)
			return sn_err_set(err, SN_ERR_INVALID,
					  "personal API key must be %d to %d characters long",
					  APIKEY_MIN, APIKEY_MAX);
		if (!all_printable(key, n))
			return sn_err_set(
			    err, SN_ERR_INVALID,
			    "personal API key must be printable ASCII without spaces");
	} else {
		sn_random_token(gen, sizeof(gen), "phx_", 47);
		key = gen;
	}
	size_t klen = strlen(key);
	if (!key_out || key_out_size <= klen)
		return sn_err_set(err, SN_ERR_INVALID, "no room for the key (%zu bytes needed)",
				  klen + 1);

	memset(&k, 0, sizeof(k));
	k.user_id = user_id;
	snprintf(k.label, sizeof(k.label), "%s", label ? label : "");
	snprintf(k.mask, sizeof(k.mask), "phx_...%s", key + klen - 4);
	k.created_at_us = sn_now_us();
	sn_sha256_hex(key, klen, secure);

	lock(m);
	sqlite3_stmt *s = m->st[ST_KEY_INSERT];
	sqlite3_bind_int64(s, 1, user_id);
	bind_text(s, 2, k.label);
	bind_text(s, 3, secure);
	bind_text(s, 4, k.mask);
	sqlite3_bind_int64(s, 5, k.created_at_us);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		k.id = sqlite3_last_insert_rowid(m->db);
	} else {
		ret = db_fail(m, rc, err, "creating a personal API key");
		if (ret == SN_ERR_EXISTS)
			sn_err_set(err, ret, "this personal API key is already in use");
		else if (ret == SN_ERR_NOT_FOUND)
			sn_err_set(err, ret, "user %lld does not exist", (long long)user_id);
	}
	done(s);
	unlock(m);
	if (ret == 0) {
		memcpy(key_out, key, klen + 1);
		if (out)
			*out = k;
	}
	sodium_memzero(gen, sizeof(gen));
	return ret;
}

int sn_meta_apikey_authenticate(struct sn_meta *m, const char *key, struct sn_user *user,
				struct sn_apikey *out, struct sn_err *err)
{
	static const char bad[] = "invalid personal API key";
	char secure[65];
	struct sn_apikey k = {0};
	struct sn_user u = {0};
	if (!key)
		return sn_err_set(err, SN_ERR_AUTH, bad);
	size_t n = strnlen(key, APIKEY_MAX + 1);
	if (n == 0 || n > APIKEY_MAX)
		return sn_err_set(err, SN_ERR_AUTH, bad);
	sn_sha256_hex(key, n, secure);

	int ret = 0;
	int64_t now = sn_now_us();
	lock(m);
	sqlite3_stmt *s = m->st[ST_KEY_AUTH];
	bind_text(s, 1, secure);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		memset(&k, 0, sizeof(k));
		k.id = sqlite3_column_int64(s, 0);
		k.user_id = sqlite3_column_int64(s, 1);
		sn_sqlite_column_text(s, 2, k.label, sizeof(k.label));
		sn_sqlite_column_text(s, 3, k.mask, sizeof(k.mask));
		k.created_at_us = sqlite3_column_int64(s, 4);
		k.last_used_at_us = sqlite3_column_int64(s, 5); /* NULL reads as 0 */
		read_user(s, 6, &u);
	} else if (rc == SQLITE_DONE) {
		ret = sn_err_set(err, SN_ERR_AUTH, bad);
	} else {
		ret = db_fail(m, rc, err, "authenticating a personal API key");
	}
	done(s);
	if (ret == 0 && !u.is_active)
		ret = sn_err_set(err, SN_ERR_AUTH, bad);
	if (ret == 0 && now - k.last_used_at_us >= APIKEY_TOUCH_US) {
		sqlite3_stmt *t = m->st[ST_KEY_TOUCH];
		sqlite3_bind_int64(t, 1, k.id);
		sqlite3_bind_int64(t, 2, now);
		rc = sqlite3_step(t);
		if (rc == SQLITE_DONE && sqlite3_changes(m->db) > 0)
			k.last_used_at_us = now;
		else if (rc != SQLITE_DONE) /* bookkeeping only: the key is still valid */
			sn_log_warn("metadata: recording personal API key use failed: %s",
				    sqlite3_errmsg(m->db));
		done(t);
	}
	unlock(m);
	if (ret == 0) {
		if (user)
			*user = u;
		if (out)
			*out = k;
	}
	return ret;
}
