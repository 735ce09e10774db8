/*
 * meta.h — the metadata model behind one interface: organizations, teams
 * (projects), users, memberships and personal API keys. Later issues add
 * flags, cohorts, dashboards... here, never a second way in.
 *
 * The embedded backend is SQLite in WAL mode (meta/sqlite.c); PostgreSQL
 * (meta/postgres.c) will implement the same functions. Numbered migrations
 * run at open and are recorded in a schema_migrations table.
 *
 * Thread safety: every function may be called from any thread. The hot
 * lookup (project token → team, on every capture request) is served from an
 * in-memory cache that is filled on first use and updated by the functions
 * that create or change teams.
 *
 * Secrets: passwords are stored as argon2id hashes (libsodium
 * crypto_pwhash_str); personal API keys (phx_...) only as SHA-256 hex. The
 * plain key is returned exactly once, by sn_meta_apikey_create.
 */
#ifndef SN_META_H
#define SN_META_H

#include "base/base.h"

enum sn_member_level {
	SN_LEVEL_MEMBER = 1,
	SN_LEVEL_ADMIN = 8,
	SN_LEVEL_OWNER = 15, /* PostHog's OrganizationMembership.Level values */
};

struct sn_org {
	int64_t id;
	char uuid[37];
	char name[128];
	int64_t created_at_us;
};

struct sn_team {
	int64_t id;
	int64_t organization_id;
	char uuid[37];
	char name[128];
	char api_token[72]; /* phc_..., unique */
	char timezone[64];  /* IANA name, default "UTC" */
	bool session_recording_opt_in;
	bool autocapture_opt_out;
	bool anonymize_ips;
	int64_t created_at_us;
	int64_t updated_at_us;
};

struct sn_user {
	int64_t id;
	char uuid[37];
	char email[256];
	char first_name[128];
	bool is_active;
	bool is_staff;
	int64_t created_at_us;
};

struct sn_apikey {
	int64_t id;
	int64_t user_id;
	char label[128];
	char mask[16]; /* "phx_...abcd": shown in listings instead of the key */
	int64_t created_at_us;
	int64_t last_used_at_us;
};

struct sn_meta;

/* Opens or creates the database at path (e.g. <data dir>/meta.sqlite3),
 * sets WAL mode and runs pending migrations. *applied (may be NULL) receives
 * the number of migrations this call ran. */
int sn_meta_open(struct sn_meta **out, const char *path, int *applied, struct sn_err *err);
void sn_meta_close(struct sn_meta *m);

/* Latest migration number known to this binary and the one recorded in the
 * database. */
int sn_meta_schema_version(struct sn_meta *m, int *db_version, int *code_version);

/* True when no organization exists yet (first start). */
int sn_meta_is_empty(struct sn_meta *m, bool *empty, struct sn_err *err);

/* Organizations. */
int sn_meta_org_create(struct sn_meta *m, const char *name, struct sn_org *out, struct sn_err *err);
int sn_meta_org_get(struct sn_meta *m, int64_t id, struct sn_org *out, struct sn_err *err);
/* The first organization (lowest id); SN_ERR_NOT_FOUND when none. */
int sn_meta_org_first(struct sn_meta *m, struct sn_org *out, struct sn_err *err);

/* Teams. token may be NULL (a fresh phc_ token is generated) or a caller's
 * token (validated: 1–64 printable ASCII, not starting with phx_, unique).
 * tz may be NULL ("UTC"); it is validated as an IANA name. */
int sn_meta_team_create(struct sn_meta *m, int64_t org_id, const char *name, const char *token,
			const char *tz, struct sn_team *out, struct sn_err *err);
int sn_meta_team_get(struct sn_meta *m, int64_t id, struct sn_team *out, struct sn_err *err);
/* The capture hot path: cached; SN_ERR_NOT_FOUND for an unknown token,
 * SN_ERR_INVALID for a NULL or empty one. A team created by another process
 * (the CLI) becomes visible within 5 s (the negative-cache TTL). */
int sn_meta_team_by_token(struct sn_meta *m, const char *token, struct sn_team *out,
			  struct sn_err *err);
/* Calls fn for every team in id order; stops early if fn returns non-zero. */
int sn_meta_team_list(struct sn_meta *m, int (*fn)(void *arg, const struct sn_team *t), void *arg,
		      struct sn_err *err);

/* Users. Email is normalised to lower case and must look like an email;
 * password must be at least 8 characters. */
int sn_meta_user_create(struct sn_meta *m, const char *email, const char *password,
			const char *first_name, bool is_staff, struct sn_user *out,
			struct sn_err *err);
int sn_meta_user_by_email(struct sn_meta *m, const char *email, struct sn_user *out,
			  struct sn_err *err);
/* SN_ERR_AUTH for an unknown email or a wrong password (same message). */
int sn_meta_user_check_password(struct sn_meta *m, const char *email, const char *password,
				struct sn_user *out, struct sn_err *err);

/* Memberships. */
int sn_meta_membership_add(struct sn_meta *m, int64_t org_id, int64_t user_id,
			   enum sn_member_level level, struct sn_err *err);
/* SN_ERR_NOT_FOUND when the user is not a member. */
int sn_meta_membership_level(struct sn_meta *m, int64_t org_id, int64_t user_id,
			     enum sn_member_level *level, struct sn_err *err);

/* Personal API keys. key may be NULL (a fresh phx_ key is generated) or a
 * caller's key (must start with phx_ and be 12–128 characters). The plain key
 * is written to key_out (size ≥ 136) and is not stored. */
int sn_meta_apikey_create(struct sn_meta *m, int64_t user_id, const char *label, const char *key,
			  char *key_out, size_t key_out_size, struct sn_apikey *out,
			  struct sn_err *err);
/* Authenticates a presented key: SN_ERR_AUTH when unknown. Updates
 * last_used_at at most once a minute per key. */
int sn_meta_apikey_authenticate(struct sn_meta *m, const char *key, struct sn_user *user,
				struct sn_apikey *out, struct sn_err *err);

#endif
