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

#define SN_TEAM_TEST_FILTERS_MAX 4096

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
	int week_start_day; /* 0 = Sunday (also when unset), 1 = Monday */
	char test_account_filters[SN_TEAM_TEST_FILTERS_MAX];  /* JSON array of property filters */
	char path_cleaning_filters[SN_TEAM_TEST_FILTERS_MAX]; /* JSON array of {alias, regex} */
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
/* A change to a project's settings: NULL / -1 leaves a field as it is. */
struct sn_team_patch {
	const char *name;						  /* 1..127 bytes */
	const char *timezone;						  /* an IANA zone name */
	int anonymize_ips, session_recording_opt_in, autocapture_opt_out; /* 0, 1, -1 */
	int week_start_day;		   /* 0, 1, or -1 = unchanged */
	const char *test_account_filters;  /* a JSON array of filters, or NULL = unchanged */
	const char *path_cleaning_filters; /* a JSON array of {alias, regex}, or NULL */
};
/* Validates a patch without applying it: SN_ERR_INVALID with a message
 * naming the field, as sn_meta_team_update would answer. */
int sn_meta_team_patch_check(const struct sn_team_patch *p, struct sn_err *err);
/* Applies patch to project id and returns the new row in out (may be
 * NULL). SN_ERR_INVALID with a message naming the field for a bad value,
 * SN_ERR_NOT_FOUND for an unknown project. The token cache and the flag
 * caches (a time zone changes date filters) see the change at once. */
int sn_meta_team_update(struct sn_meta *m, int64_t id, const struct sn_team_patch *patch,
			struct sn_team *out, struct sn_err *err);
/* Appends the team's remote-config fields (spec posthog-wire.md §2.5), each
 * preceded by a ',' so they can follow other fields of an object: what
 * /array/<token>/config answers and /flags?config=true flattens into its
 * answer (legacy_config adds the old `config` object /decide clients read).
 * Fails only when b reaches its maximum. */
int sn_meta_remote_config_fields(struct sn_buf *b, const struct sn_team *t, bool has_flags,
				 bool legacy_config);
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

/* Login sessions of the web UI (sessions.c). A session is a random secret
 * (the cookie, SN_SESSION_KEY_LEN characters) whose SHA-256 is stored with a
 * CSRF token (SN_SESSION_CSRF_LEN characters) and an expiry ttl_us ahead.
 * key_out and csrf_out need SN_SESSION_KEY_LEN + 1 and
 * SN_SESSION_CSRF_LEN + 1 bytes. */
#define SN_SESSION_KEY_LEN  43
#define SN_SESSION_CSRF_LEN 32
int sn_meta_session_create(struct sn_meta *m, int64_t user_id, int64_t ttl_us, char *key_out,
			   char *csrf_out, struct sn_err *err);
/* The session's user (active users only) and CSRF token; SN_ERR_AUTH for
 * an unknown, ended or expired session or an inactive user. */
int sn_meta_session_authenticate(struct sn_meta *m, const char *key, struct sn_user *user,
				 char *csrf_out, struct sn_err *err);
/* Ends the session (logout); an unknown key is not an error. */
int sn_meta_session_delete(struct sn_meta *m, const char *key, struct sn_err *err);

/* Memberships. */
int sn_meta_membership_add(struct sn_meta *m, int64_t org_id, int64_t user_id,
			   enum sn_member_level level, struct sn_err *err);
/* SN_ERR_NOT_FOUND when the user is not a member. */
int sn_meta_membership_level(struct sn_meta *m, int64_t org_id, int64_t user_id,
			     enum sn_member_level *level, struct sn_err *err);

/* The organization the user joined first, with their level there: what
 * PostHog calls the user's current organization. SN_ERR_NOT_FOUND when the
 * user belongs to none. */
int sn_meta_membership_first(struct sn_meta *m, int64_t user_id, int64_t *org_id,
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

/* ---- feature flags (flags.c) ------------------------------------------------- */

/*
 * PostHog's posthog_featureflag: a key unique per team among flags that are
 * not deleted, a name (PostHog's description text), the filters object
 * (groups, multivariate, payloads, aggregation_group_type_index, holdout,
 * super_groups, ...), active, deleted (soft delete: the row stays, the key
 * is free again), ensure_experience_continuity, creator, timestamps and a
 * version bumped by every change. Every change also writes an activity-log
 * entry (who, what, when, each changed field before and after) and bumps
 * the team's flag generation, which is what caches above meta key on.
 */
#define SN_FLAG_KEY_MAX	    400
#define SN_FLAG_FILTERS_MAX (1u << 20) /* bytes of serialised filters */

struct sn_featureflag {
	int64_t id;
	int64_t team_id;
	char key[SN_FLAG_KEY_MAX + 1];
	char *name;		     /* owned */
	struct json_object *filters; /* owned; always an object */
	bool active;
	bool deleted;
	bool ensure_experience_continuity;
	int64_t created_by; /* user id; 0 when unknown or deleted */
	int64_t created_at_us;
	int64_t updated_at_us;
	int64_t version;
};
/* Frees name and filters; the struct may be reused. NULL-safe. */
void sn_featureflag_release(struct sn_featureflag *f);

/* A validation failure names the field, as PostHog's DRF errors do:
 * {"type":"validation_error","code":code,"detail":err.msg,"attr":attr}. */
struct sn_meta_verr {
	struct sn_err err;
	char code[64]; /* "unique", "invalid_key", "invalid_input", "required" ... */
	char attr[64]; /* "key", "filters", "name" ... ("" = none) */
};

/* Fills ve (may be NULL) as a DRF validation error; returns SN_ERR_INVALID. */
int sn_meta_verr_set(struct sn_meta_verr *ve, const char *code, const char *attr, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));

/* Checks a create (partial = false) or PATCH body (partial = true) without
 * touching the database: key characters and length, filters shape (groups,
 * property operators and types, rollout 0..100, variants with unique keys
 * summing to 100, variant overrides naming a variant, payload keys,
 * aggregation_group_type_index 0..4, holdout), booleans. SN_ERR_INVALID
 * with ve filled. Costs one pass over the body. */
int sn_meta_flag_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve);

/* Creates a flag from a REST body ({"key", "name", "filters", "active",
 * "ensure_experience_continuity"}); validates first. SN_ERR_EXISTS (code
 * "unique", attr "key") when a live flag of the team has the key. out is
 * filled (release it). */
int sn_meta_flag_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			struct json_object *body, struct sn_featureflag *out,
			struct sn_meta_verr *ve);
/* One flag of the team (deleted ones too: the caller decides).
 * SN_ERR_NOT_FOUND when no flag of this team has that id. */
int sn_meta_flag_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_featureflag *out,
		     struct sn_err *err);
/* Applies a PATCH body (only the fields present; "deleted": true soft
 * deletes). version + 1, updated_at = now, activity entry "updated" (or
 * "deleted"). An empty change still bumps nothing and succeeds. */
int sn_meta_flag_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			struct json_object *body, struct sn_featureflag *out,
			struct sn_meta_verr *ve);
/* Soft delete; SN_ERR_NOT_FOUND when absent or already deleted. */
int sn_meta_flag_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			struct sn_err *err);
/* Live (not deleted) flags of a team by id, newest first as PostHog lists
 * them; *total gets the count of all live flags. fn gets each flag of the
 * page [offset, offset + limit); the flag is released after fn returns. */
int sn_meta_flag_list(struct sn_meta *m, int64_t team_id, int64_t offset, int64_t limit,
		      int64_t *total, int (*fn)(void *arg, const struct sn_featureflag *f),
		      void *arg, struct sn_err *err);

/* One activity-log entry of a flag. detail is JSON text:
 * {"name": key, "changes": [{"type","action","field","before","after"}]}. */
struct sn_meta_activity {
	int64_t id;
	int64_t user_id;      /* 0 = unknown */
	const char *activity; /* "created", "updated", "deleted" */
	const char *item_id;
	const char *detail;
	int64_t created_at_us;
	const char *scope; /* "FeatureFlag", "Annotation", "Action" */
};
/* The activity log of one object of any scope, newest first; at most limit
 * entries (≤ 1000). The strings live until fn returns. */
int sn_meta_activity_list(struct sn_meta *m, int64_t team_id, const char *scope, int64_t item_id,
			  int64_t limit, int (*fn)(void *arg, const struct sn_meta_activity *a),
			  void *arg, struct sn_err *err);
/* Newest first; at most limit entries (≤ 1000). */
int sn_meta_flag_activity(struct sn_meta *m, int64_t team_id, int64_t flag_id, int64_t limit,
			  int (*fn)(void *arg, const struct sn_meta_activity *a), void *arg,
			  struct sn_err *err);

/* The team's flag generation: changes with every create/update/delete of
 * one of its flags made through this handle (in memory, lock-free read).
 * Starts at 1. Caches compare it to know they are stale. */
uint64_t sn_meta_flags_generation(struct sn_meta *m, int64_t team_id);
/* The team's not deleted flags, active or not (as PostHog's local-evaluation
 * document lists them; SDKs answer false for an inactive one), in its shape
 * (a JSON array of {"id","team_id","name","key","filters","deleted",
 * "active","ensure_experience_continuity","version",...}), in id order, and
 * the generation they were read at. The caller owns *out. */
int sn_meta_flags_definitions(struct sn_meta *m, int64_t team_id, struct json_object **out,
			      uint64_t *generation, struct sn_err *err);
/* Number of active, not deleted flags; cached per generation, so the
 * remote-config path costs a lookup, not a query. */
int sn_meta_flags_active_count(struct sn_meta *m, int64_t team_id, size_t *n, struct sn_err *err);
/* A user by id (for created_by). */
int sn_meta_user_get(struct sn_meta *m, int64_t id, struct sn_user *out, struct sn_err *err);

/* ---- annotations (annotations.c) -------------------------------------------- */

/*
 * PostHog's posthog_annotation: a note on a point in time (date_marker),
 * scoped to an insight (dashboard_item), a dashboard, the project or the
 * whole organization. An organization-scoped annotation is visible (listed,
 * fetched, changed) from every project of its organization; the others only
 * from their own project. Soft delete: "deleted": true keeps the row.
 * Create, change and delete write an activity-log entry (scope
 * "Annotation") under the annotation's own team.
 */
#define SN_ANNOTATION_CONTENT_MAX 400 /* characters, as PostHog's model */

struct sn_annotation {
	int64_t id;
	int64_t team_id;
	int64_t organization_id;
	char *content; /* owned; NULL when null */
	bool has_date_marker;
	int64_t date_marker_us;
	char creation_type[4];	/* "USR", "GIT" */
	int64_t dashboard_item; /* insight id; 0 = null */
	int64_t dashboard_id;	/* 0 = null */
	char scope[16];		/* "dashboard_item", "dashboard", "project", ... */
	int64_t created_by;	/* user id; 0 = unknown */
	int64_t created_at_us;
	int64_t updated_at_us;
	bool deleted;
};
/* Frees content; NULL-safe, the struct may be reused. */
void sn_annotation_release(struct sn_annotation *a);

/* Checks a create (partial = false) or PATCH body: content a string or null
 * of ≤ 400 characters, date_marker an ISO 8601 date-time (or null),
 * creation_type USR|GIT, scope one of dashboard_item, dashboard, project,
 * organization, recording, dashboard_item / dashboard_id positive integers
 * or null, deleted a boolean. SN_ERR_INVALID with ve naming the field. */
int sn_meta_annotation_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve);
/* Parses the date-time forms DRF accepts ("2024-05-01T10:00:00Z",
 * "...00.123+02:00", "2024-05-01 10:00", "2024-05-01") into epoch µs UTC.
 * SN_ERR_INVALID otherwise. */
int sn_meta_parse_datetime(const char *s, int64_t *us);
int sn_meta_annotation_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			      struct json_object *body, struct sn_annotation *out,
			      struct sn_meta_verr *ve);
/* An annotation visible from team_id (its own, or an organization-scoped
 * one of the same organization), deleted or not. SN_ERR_NOT_FOUND else. */
int sn_meta_annotation_get(struct sn_meta *m, int64_t team_id, int64_t id,
			   struct sn_annotation *out, struct sn_err *err);
/* Applies the fields present in body; "deleted": true soft-deletes, false
 * restores. Activity "updated" or "deleted"; no change writes nothing. */
int sn_meta_annotation_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			      struct json_object *body, struct sn_annotation *out,
			      struct sn_meta_verr *ve);
/* Soft delete; SN_ERR_NOT_FOUND when not visible or already deleted. */
int sn_meta_annotation_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			      struct sn_err *err);

/* A list request: NULL strings mean no filter. */
struct sn_meta_list_opts {
	int64_t offset, limit;
	const char *search; /* case-insensitive substring (ASCII case folding) */
	const char *scope;  /* annotations only: exact scope */
};
/* Live annotations visible from team_id, newest date_marker first (null
 * dates first, as PostgreSQL sorts them), then newest id; *total gets the
 * number matching. fn sees each of the page; it is released afterwards. */
int sn_meta_annotation_list(struct sn_meta *m, int64_t team_id, const struct sn_meta_list_opts *o,
			    int64_t *total, int (*fn)(void *arg, const struct sn_annotation *a),
			    void *arg, struct sn_err *err);

/* ---- actions (actions.c) ------------------------------------------------------ */

/*
 * PostHog's posthog_action: a named, reusable event definition made of steps
 * (ActionStepJSON: event, url + url_matching, text + text_matching, href +
 * href_matching, selector, tag_name, properties). The name is unique per
 * team among live actions. Stored and served here; matching events against
 * steps (HogQL's matchesAction) is done above meta, from
 * sn_meta_action_find.
 */
#define SN_ACTION_NAME_MAX  400
#define SN_ACTION_STEPS_MAX 100

struct sn_action {
	int64_t id;
	int64_t team_id;
	char *name;		    /* owned */
	char *description;	    /* owned */
	char *slack_message_format; /* owned */
	struct json_object *tags;   /* owned array of strings */
	struct json_object *steps;  /* owned array of normalised step objects */
	bool post_to_slack;
	bool deleted;
	int64_t created_by;
	int64_t created_at_us;
	int64_t updated_at_us;
};
void sn_action_release(struct sn_action *a);

/* name required on create (≤ 400 characters, not blank); steps an array of
 * ≤ 100 objects whose string fields are strings or null, *_matching one of
 * contains, exact, regex, a regex that PCRE2 compiles, properties an array
 * of objects; tags an array of strings; booleans booleans. */
int sn_meta_action_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve);
/* SN_ERR_EXISTS (code "unique", attr "name") for a live duplicate name. */
int sn_meta_action_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			  struct json_object *body, struct sn_action *out, struct sn_meta_verr *ve);
/* One action of the team, deleted or not. */
int sn_meta_action_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_action *out,
		       struct sn_err *err);
/* The team's live action with that id (id > 0) or else that name: what a
 * query's matchesAction(id | 'name') resolves. SN_ERR_NOT_FOUND when none. */
int sn_meta_action_find(struct sn_meta *m, int64_t team_id, int64_t id, const char *name,
			struct sn_action *out, struct sn_err *err);
int sn_meta_action_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			  struct json_object *body, struct sn_action *out, struct sn_meta_verr *ve);
int sn_meta_action_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			  struct sn_err *err);
/* Live actions of the team, newest first; o->search matches the name. */
int sn_meta_action_list(struct sn_meta *m, int64_t team_id, const struct sn_meta_list_opts *o,
			int64_t *total, int (*fn)(void *arg, const struct sn_action *a), void *arg,
			struct sn_err *err);

/* ---- cohorts (cohorts.c) ------------------------------------------------------ */

/*
 * PostHog's posthog_cohort: a named set of persons, static (members
 * uploaded or copied from an insight) or dynamic (filters.properties, an
 * AND/OR tree of person, behavioural and cohort criteria, or the legacy
 * groups array). The definition and its calculation state live here; the
 * members in the person store (persons.h, sn_persons_cohort_*).
 */
#define SN_COHORT_NAME_MAX 400

struct sn_cohort {
	int64_t id;
	int64_t team_id;
	char *name;		     /* owned */
	char *description;	     /* owned */
	struct json_object *filters; /* owned object or NULL */
	struct json_object *groups;  /* owned array (legacy definition) */
	struct json_object *query;   /* owned object or NULL */
	bool is_static;
	bool is_calculating;
	bool deleted;
	int errors_calculating;
	char *last_error;	     /* owned or NULL */
	int64_t last_calculation_us; /* -1 = never */
	int64_t last_error_at_us;    /* -1 = none */
	int64_t count;		     /* -1 = not calculated */
	int64_t version;	     /* -1 = none */
	int64_t pending_version;     /* -1 = none */
	int64_t created_by;
	int64_t created_at_us;
	int64_t updated_at_us;
};
void sn_cohort_release(struct sn_cohort *c);

/* name required on create (≤ 400 characters, not blank), description a
 * string, is_static and deleted booleans, filters null or
 * {"properties": {"type": "AND"|"OR", "values": [...]}}, groups an array
 * of objects, query an object. */
int sn_meta_cohort_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve);
int sn_meta_cohort_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			  struct json_object *body, struct sn_cohort *out, struct sn_meta_verr *ve);
/* One cohort of the team, deleted or not. */
int sn_meta_cohort_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_cohort *out,
		       struct sn_err *err);
/* A change of filters or groups makes the cohort due for calculation;
 * is_static cannot change (400 on attr is_static). */
int sn_meta_cohort_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			  struct json_object *body, struct sn_cohort *out, struct sn_meta_verr *ve);
int sn_meta_cohort_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			  struct sn_err *err);
/* Live cohorts of the team, newest first; o->search matches the name. */
int sn_meta_cohort_list(struct sn_meta *m, int64_t team_id, const struct sn_meta_list_opts *o,
			int64_t *total, int (*fn)(void *arg, const struct sn_cohort *c), void *arg,
			struct sn_err *err);
/* id, name and kind of every live cohort of the team (what IN COHORT and
 * the ClickHouse printer need), in id order. */
int sn_meta_cohort_names(struct sn_meta *m, int64_t team_id,
			 int (*fn)(void *arg, int64_t id, const char *name, bool is_static),
			 void *arg, struct sn_err *err);

/* Calls fn for every cohort a definition (filters, groups, a flag's
 * filters: any JSON) references — {"type": "cohort" (or
 * precalculated-/static-/dynamic-cohort), "value": id} at any depth; a
 * non-zero return stops the walk and is returned. */
int sn_meta_cohort_refs(struct json_object *def, int (*fn)(void *arg, int64_t id), void *arg);

/* The calculator's side. */
struct sn_meta_cohort_ref {
	int64_t team_id, id;
};
/* Up to max live dynamic cohorts not calculating whose last calculation
 * (and last error) is older than older_than_us or absent, least recently
 * calculated first. */
int sn_meta_cohort_due(struct sn_meta *m, int64_t older_than_us, size_t max,
		       struct sn_meta_cohort_ref *out, size_t *n, struct sn_err *err);
/* Marks the cohort calculating; *version is the version the members being
 * written will have. SN_ERR_NOT_FOUND for a deleted cohort. */
int sn_meta_cohort_calc_begin(struct sn_meta *m, int64_t team_id, int64_t id, int64_t *version,
			      struct sn_err *err);
/* Records the outcome: error NULL = success (version, count, now). */
int sn_meta_cohort_calc_end(struct sn_meta *m, int64_t team_id, int64_t id, int64_t version,
			    int64_t count, const char *error, struct sn_err *err);
/* Clears is_calculating everywhere (at start: a calculation cut short by a
 * crash is not running any more). */
int sn_meta_cohort_calc_reset(struct sn_meta *m, struct sn_err *err);

/* ---- saved insights, dashboards, sharing, the result cache
 *      (insights_saved.c, dashboards.c) ------------------------------------------ */

/*
 * PostHog's saved insight (posthog_dashboarditem): a query node (or legacy
 * filters) with a name, a short id for links, tags, and the dashboards it is
 * on (one posthog_dashboardtile per dashboard). Soft delete; a deleted
 * insight keeps its row and its tiles are deleted with it. Create, change
 * and delete write an activity-log entry (scope "Insight") whose detail
 * carries the short id, as PostHog's does.
 */
#define SN_INSIGHT_NAME_MAX	400 /* characters, as PostHog's model */
#define SN_INSIGHT_SHORT_ID_LEN 8

struct sn_meta_insight {
	int64_t id;
	int64_t team_id;
	char short_id[SN_INSIGHT_SHORT_ID_LEN + 1];
	char *name;			     /* owned; NULL = null */
	char *derived_name;		     /* owned; NULL = null */
	char *description;		     /* owned; never NULL */
	struct json_object *tags;	     /* owned array of strings */
	struct json_object *query;	     /* owned; NULL = null */
	struct json_object *filters;	     /* owned object (legacy filters, as sent) */
	struct json_object *dashboard_tiles; /* owned [{id, dashboard_id, deleted}] */
	bool favorited, saved, deleted;
	int64_t created_by, last_modified_by; /* user ids; 0 = unknown */
	int64_t created_at_us, updated_at_us, last_modified_at_us;
};
void sn_meta_insight_release(struct sn_meta_insight *i);

/* The query node kinds a saved insight may hold: the insight kinds
 * (TrendsQuery, FunnelsQuery, ...), HogQLQuery, and the wrappers
 * InsightVizNode / DataTableNode / DataVisualizationNode around one of
 * them. SN_ERR_INVALID with ve naming the field ("query.source.kind"). */
int sn_meta_insight_validate_query(struct json_object *q, struct sn_meta_verr *ve);
/* name ≤ 400 characters (or null), derived_name, description strings,
 * tags an array of strings, favorited / saved / deleted booleans, query
 * (see above) or null, filters an object or null, dashboards an array of
 * positive ids. */
int sn_meta_insight_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve);
/* Creates an insight with a fresh short id; "dashboards": [ids] adds it to
 * those dashboards of the team (400 "dashboards" for one that is not a live
 * dashboard of the team). */
int sn_meta_insight_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			   struct json_object *body, struct sn_meta_insight *out,
			   struct sn_meta_verr *ve);
/* One insight of the team, deleted or not. */
int sn_meta_insight_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_meta_insight *out,
			struct sn_err *err);
/* Applies a PATCH body: the fields present; "dashboards" replaces the set
 * of dashboards; "deleted": true soft-deletes (and its tiles), false
 * restores. A deleted insight answers SN_ERR_NOT_FOUND unless the body
 * restores it. A change of query or filters drops the insight's cached
 * results in the same transaction. */
int sn_meta_insight_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			   struct json_object *body, struct sn_meta_insight *out,
			   struct sn_meta_verr *ve);
int sn_meta_insight_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			   struct sn_err *err);

struct sn_meta_insight_list_opts {
	int64_t offset, limit;
	const char *search;   /* substring of name, derived_name, description, tags */
	const char *short_id; /* exact */
	int saved;	      /* -1 any; 1 saved or on a dashboard (PostHog); 0 not saved */
	int favorited;	      /* -1 any, 0, 1 */
	int64_t created_by;   /* 0 = anyone */
};
/* Live insights of the team, newest first. */
int sn_meta_insight_list(struct sn_meta *m, int64_t team_id,
			 const struct sn_meta_insight_list_opts *o, int64_t *total,
			 int (*fn)(void *arg, const struct sn_meta_insight *i), void *arg,
			 struct sn_err *err);

/*
 * The result cache (snout_query_cache): PostHog's query cache (Redis there)
 * as a table. key is a hash of the team's settings and the effective query
 * (dashboard filters applied), computed above meta; the row keeps the whole
 * response JSON, when it was computed and until when it counts as fresh.
 * Rows older than a week are dropped when new ones are written.
 */
struct sn_meta_cached_result {
	char *response; /* owned JSON text */
	size_t len;
	int64_t last_refresh_us;
	int64_t target_age_us; /* 0 = none */
};
void sn_meta_cached_result_release(struct sn_meta_cached_result *c);
/* SN_ERR_NOT_FOUND when nothing is cached under key for the team. */
int sn_meta_result_cache_get(struct sn_meta *m, int64_t team_id, const char *key,
			     struct sn_meta_cached_result *out, struct sn_err *err);
/* Stores (replaces) key's row; insight_id / dashboard_id (0 = none) say
 * whose result it is, so a change of the insight can drop it. */
int sn_meta_result_cache_put(struct sn_meta *m, int64_t team_id, const char *key,
			     int64_t insight_id, int64_t dashboard_id,
			     const struct sn_meta_cached_result *r, struct sn_err *err);

/*
 * PostHog's dashboards (posthog_dashboard) with their tiles
 * (posthog_dashboardtile: an insight or a text card, layouts, color), text
 * cards (posthog_text) and sharing by a secret link
 * (posthog_sharingconfiguration). Soft delete keeps the tiles (readers skip
 * a deleted dashboard), so a restore shows what it had. Activity-log scope
 * "Dashboard".
 */
#define SN_DASHBOARD_NAME_MAX  400
#define SN_TEXT_BODY_MAX       4000
#define SN_DASHBOARD_TILES_MAX 200

struct sn_meta_dashboard {
	int64_t id;
	int64_t team_id;
	char *name;		     /* owned; never NULL */
	char *description;	     /* owned; never NULL */
	struct json_object *filters; /* owned object {date_from, date_to, properties} */
	struct json_object *tags;    /* owned array */
	bool pinned, deleted, is_shared;
	int64_t created_by;
	int64_t created_at_us, last_accessed_at_us; /* 0 = never */
};
void sn_meta_dashboard_release(struct sn_meta_dashboard *d);

/* One live tile: an insight (insight_id > 0) or a text card (text_id > 0). */
struct sn_meta_tile {
	int64_t id;
	int64_t dashboard_id;
	int64_t insight_id;
	int64_t text_id;
	const char *text_body;	  /* text cards: the body */
	int64_t text_created_by;  /* text cards */
	int64_t text_modified_by; /* text cards; 0 = none */
	int64_t text_modified_at_us;
	struct json_object *layouts; /* object (borrowed for the callback) */
	const char *color;	     /* NULL = null */
};

/* name ≤ 400 characters, description, pinned, deleted, tags, filters
 * ({date_from, date_to: strings or null, properties: array of objects or
 * null}), tiles (an array of tile edits: {id?, text?: {body, id?}, layouts?,
 * color?, deleted?}). */
int sn_meta_dashboard_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve);
int sn_meta_dashboard_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			     struct json_object *body, struct sn_meta_dashboard *out,
			     struct sn_meta_verr *ve);
/* One dashboard of the team, deleted or not. */
int sn_meta_dashboard_get(struct sn_meta *m, int64_t team_id, int64_t id,
			  struct sn_meta_dashboard *out, struct sn_err *err);
/* The fields present; "tiles" edits tiles: a tile with "text" creates or
 * changes a text card, {id, layouts|color|deleted} changes a tile of this
 * dashboard (400 "tiles" for an unknown id). A deleted dashboard answers
 * SN_ERR_NOT_FOUND unless the body restores it. */
int sn_meta_dashboard_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			     struct json_object *body, struct sn_meta_dashboard *out,
			     struct sn_meta_verr *ve);
int sn_meta_dashboard_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			     struct sn_err *err);
/* Live dashboards of the team, pinned first, then by name (PostHog's
 * order), then id; o->search matches name and description. */
int sn_meta_dashboard_list(struct sn_meta *m, int64_t team_id, const struct sn_meta_list_opts *o,
			   int64_t *total, int (*fn)(void *arg, const struct sn_meta_dashboard *d),
			   void *arg, struct sn_err *err);
/* Live tiles of a dashboard of the team whose insight is not deleted, in
 * id order. The tile's strings and layouts live until fn returns. */
int sn_meta_dashboard_tiles(struct sn_meta *m, int64_t team_id, int64_t dashboard_id,
			    int (*fn)(void *arg, const struct sn_meta_tile *t), void *arg,
			    struct sn_err *err);
/* Records that the dashboard was opened now. */
int sn_meta_dashboard_touch(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_err *err);

struct sn_meta_sharing {
	int64_t team_id;
	int64_t dashboard_id;
	bool enabled;
	char access_token[48];
	int64_t created_at_us;
};
/* The dashboard's sharing configuration, created (disabled, with a fresh
 * token) on first use. SN_ERR_NOT_FOUND for a dashboard that is not a live
 * one of the team. */
int sn_meta_sharing_get(struct sn_meta *m, int64_t team_id, int64_t dashboard_id,
			struct sn_meta_sharing *out, struct sn_err *err);
/* enabled: 0, 1 or -1 = unchanged; rotate: a fresh token (the old link
 * stops working). Writes a "Dashboard" activity entry when it changes. */
int sn_meta_sharing_update(struct sn_meta *m, int64_t team_id, int64_t dashboard_id,
			   int64_t user_id, int enabled, bool rotate, struct sn_meta_sharing *out,
			   struct sn_err *err);
/* The secret link's lookup (no team: the token is the credential): an
 * enabled configuration of a live dashboard, else SN_ERR_NOT_FOUND. */
int sn_meta_sharing_by_token(struct sn_meta *m, const char *token, struct sn_meta_sharing *out,
			     struct sn_err *err);

/* ---- property definitions (propdefs.c) ---------------------------------------------- */

/*
 * PostHog's posthog_propertydefinition: per team, the properties seen on
 * events, persons and groups, each with the type of its first typed value
 * (docs/PROPERTIES.md). Ingestion records them (sn_meta_propdefs_record);
 * HogQL reads the type of a property it accesses (sn_meta_propdef_type) and
 * wraps the access (Numeric -> toFloat, Boolean -> toBool, DateTime ->
 * toDateTime), as PostHog's printer does; the REST API lists them and lets a
 * person change a type.
 */
enum sn_propdef_kind {
	SN_PROPDEF_EVENT = 1, /* PostHog's PropertyDefinition.Type values */
	SN_PROPDEF_PERSON = 2,
	SN_PROPDEF_GROUP = 3,
	SN_PROPDEF_SESSION = 4,
};
enum sn_prop_type {
	SN_PROP_NONE = 0, /* not known (no typed value seen yet) */
	SN_PROP_STRING,
	SN_PROP_NUMERIC,
	SN_PROP_BOOLEAN,
	SN_PROP_DATETIME,
	SN_PROP_DURATION, /* exists in PostHog's enum; never inferred */
};
#define SN_PROPDEF_NAME_MAX    200 /* longer names are not recorded (as PostHog: 400 / 2) */
#define SN_PROPDEF_GROUP_TYPES 5   /* group_type_index 0..4 (PostHog's GROUP_TYPES_LIMIT) */

struct sn_propdef {
	int64_t id;
	int64_t team_id;
	int kind;	      /* enum sn_propdef_kind */
	int group_type_index; /* 0..4 for SN_PROPDEF_GROUP, else -1 */
	char name[SN_PROPDEF_NAME_MAX + 1];
	int property_type; /* enum sn_prop_type */
	bool is_numerical; /* property_type == SN_PROP_NUMERIC when inferred */
	int64_t created_at_us;
};
/* "String", "Numeric", "Boolean", "DateTime", "Duration"; NULL for none. */
const char *sn_prop_type_name(int t);
/* The enum of a type name (exact spelling as above); -1 when unknown. */
int sn_prop_type_parse(const char *s);
/* "event", "person", "group", "session"; and back (-1 when unknown). */
const char *sn_propdef_kind_name(int kind);
int sn_propdef_kind_parse(const char *s);

/* Records definitions seen at ingestion, in one transaction: a missing one
 * is inserted; an existing one keeps its type, except that one without a
 * type takes the given one (the first typed value wins, as PostHog's
 * property-defs-rs does). Names over SN_PROPDEF_NAME_MAX bytes are skipped,
 * and so are rows with a kind, group index or type out of range and rows of
 * a team that does not exist (a project deleted while its events are still
 * ingested): the rest of the batch is recorded. is_numerical is derived from
 * property_type; group_type_index is ignored except for groups. Fails (and
 * records nothing) only on a database error. */
int sn_meta_propdefs_record(struct sn_meta *m, const struct sn_propdef *defs, size_t n,
			    struct sn_err *err);
/* The type of one property of a team: *type = SN_PROP_NONE when there is
 * no definition or it has no type. group_type_index only for groups. */
int sn_meta_propdef_type(struct sn_meta *m, int64_t team_id, int kind, int group_type_index,
			 const char *name, int *type, struct sn_err *err);
/* A list request over one team's definitions. */
struct sn_propdef_list_opts {
	int kind;	      /* 0 = every kind */
	int group_type_index; /* with kind SN_PROPDEF_GROUP: -1 = every index */
	/* Words separated by spaces, each a case-insensitive substring of the
	 * name (PostHog's term search), or NULL. */
	const char *search;
	int is_numerical; /* -1 = either, 0 / 1 (1 leaves out distinct_id and timestamp) */
	/* Only these names (nnames > 0), and none of these. */
	const char *const *names;
	size_t nnames;
	const char *const *excluded;
	size_t nexcluded;
	int64_t offset, limit;
};
/* Matching definitions by name (then kind, group index); *total = how many
 * match. fn sees each of the page. Fails only on a storage error, or
 * SN_ERR_TOO_BIG when the name lists are over a megabyte. */
int sn_meta_propdef_list(struct sn_meta *m, int64_t team_id, const struct sn_propdef_list_opts *o,
			 int64_t *total, int (*fn)(void *arg, const struct sn_propdef *d),
			 void *arg, struct sn_err *err);
int sn_meta_propdef_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_propdef *out,
			struct sn_err *err);
/* Declares a definition (the API's POST): inserted, or its type set when
 * it exists. property_type SN_PROP_NONE leaves an existing type alone. */
int sn_meta_propdef_declare(struct sn_meta *m, const struct sn_propdef *d, struct sn_propdef *out,
			    struct sn_err *err);
/* Sets (or with SN_PROP_NONE clears) the type of definition id of the team;
 * is_numerical follows. SN_ERR_NOT_FOUND when it is not the team's. */
int sn_meta_propdef_set_type(struct sn_meta *m, int64_t team_id, int64_t id, int property_type,
			     struct sn_propdef *out, struct sn_err *err);
int sn_meta_propdef_delete(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_err *err);

#endif
