/*
 * migrations_sqlite.c — the schema of the SQLite metadata backend, as an
 * append-only list of numbered migrations.
 *
 * sn_meta_open (sqlite.c) runs every migration whose version is above the
 * highest one recorded in schema_migrations(version, name, applied_at), each
 * in its own transaction together with the row that records it, so a
 * database is always exactly at some version N: either all of migration N is
 * there or none of it. A binary that knows migrations 1..M upgrades any
 * database at N < M by running N+1..M, and refuses a database at N > M.
 *
 * Rules for editing this file: never change or remove a migration that has
 * shipped — add a new one at the end with the next version number. Table and
 * column names follow PostHog's Django models (posthog_team.api_token, ...)
 * so that people who know PostHog's schema can find their way, and so a
 * future PostgreSQL backend can share queries.
 *
 * Storage choices:
 *  - timestamps are INTEGER microseconds since the Unix epoch (UTC), the same
 *    unit as struct sn_team.created_at_us and sn_now_us(): no parsing on the
 *    way in or out, and they sort. Only schema_migrations.applied_at is
 *    ISO-8601 text, because only humans read it.
 *  - booleans are INTEGER 0/1;
 *  - ids are INTEGER PRIMARY KEY AUTOINCREMENT, so like PostgreSQL sequences
 *    they are never reused after a delete (a team id is stamped on every
 *    event; reusing one would hand old events to a new project);
 *  - posthog_user.password is a libsodium argon2id string ("$argon2id$...");
 *    posthog_personalapikey.secure_value is the SHA-256 hex of the key.
 *
 * Rejected: a schema created by a single CREATE TABLE IF NOT EXISTS script.
 * It cannot add a column to an existing table, and it gives no way to tell
 * which shape a database on disk has.
 */
#include "meta/meta_internal.h"

static const char m0001_initial[] =
    "CREATE TABLE posthog_organization ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " uuid TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE posthog_team ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " uuid TEXT NOT NULL UNIQUE,"
    " organization_id INTEGER NOT NULL"
    "  REFERENCES posthog_organization(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " api_token TEXT NOT NULL UNIQUE,"
    " timezone TEXT NOT NULL DEFAULT 'UTC',"
    " session_recording_opt_in INTEGER NOT NULL DEFAULT 0,"
    " autocapture_opt_out INTEGER NOT NULL DEFAULT 0,"
    " anonymize_ips INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX posthog_team_organization_id ON posthog_team(organization_id);"
    "CREATE TABLE posthog_user ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " uuid TEXT NOT NULL UNIQUE,"
    " email TEXT NOT NULL UNIQUE,"
    " password TEXT NOT NULL,"
    " first_name TEXT NOT NULL DEFAULT '',"
    " is_active INTEGER NOT NULL DEFAULT 1,"
    " is_staff INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE posthog_organizationmembership ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " organization_id INTEGER NOT NULL"
    "  REFERENCES posthog_organization(id) ON DELETE CASCADE,"
    " user_id INTEGER NOT NULL REFERENCES posthog_user(id) ON DELETE CASCADE,"
    " level INTEGER NOT NULL DEFAULT 1,"
    " created_at INTEGER NOT NULL,"
    " UNIQUE (organization_id, user_id)"
    ");"
    "CREATE INDEX posthog_organizationmembership_user_id"
    " ON posthog_organizationmembership(user_id);"
    "CREATE TABLE posthog_personalapikey ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " user_id INTEGER NOT NULL REFERENCES posthog_user(id) ON DELETE CASCADE,"
    " label TEXT NOT NULL DEFAULT '',"
    " secure_value TEXT NOT NULL UNIQUE,"
    " mask_value TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " last_used_at INTEGER"
    ");"
    "CREATE INDEX posthog_personalapikey_user_id ON posthog_personalapikey(user_id);";

/* Feature flags (PostHog's posthog_featureflag) and the activity log
 * (posthog_activitylog, scope 'FeatureFlag' for now). A flag key is unique
 * per team among flags that are not deleted: a soft-deleted flag keeps its
 * row and its key can be taken again, as in PostHog. filters is the JSON text
 * of PostHog's filters object; detail is the JSON of an activity entry. */
static const char m0002_feature_flags[] =
    "CREATE TABLE posthog_featureflag ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " key TEXT NOT NULL,"
    " name TEXT NOT NULL DEFAULT '',"
    " filters TEXT NOT NULL DEFAULT '{}',"
    " active INTEGER NOT NULL DEFAULT 1,"
    " deleted INTEGER NOT NULL DEFAULT 0,"
    " ensure_experience_continuity INTEGER NOT NULL DEFAULT 0,"
    " created_by_id INTEGER REFERENCES posthog_user(id) ON DELETE SET NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " version INTEGER NOT NULL DEFAULT 1"
    ");"
    "CREATE UNIQUE INDEX posthog_featureflag_team_key"
    " ON posthog_featureflag(team_id, key) WHERE deleted = 0;"
    "CREATE INDEX posthog_featureflag_team_id ON posthog_featureflag(team_id, id);"
    "CREATE TABLE posthog_activitylog ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " user_id INTEGER REFERENCES posthog_user(id) ON DELETE SET NULL,"
    " scope TEXT NOT NULL,"
    " item_id TEXT NOT NULL,"
    " activity TEXT NOT NULL,"
    " detail TEXT NOT NULL DEFAULT '{}',"
    " created_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX posthog_activitylog_item"
    " ON posthog_activitylog(team_id, scope, item_id, id);";

/* Annotations (posthog_annotation) and actions (posthog_action), with
 * PostHog's column names. An annotation belongs to the team it was created
 * in and carries that team's organization_id, so an organization-scoped one
 * can be listed in every project of the organization (the partial index).
 * dashboard_item_id and dashboard_id are plain integers: insights and
 * dashboards are not modelled yet, so they cannot be foreign keys. An
 * action's name is unique per team among actions that are not deleted, as
 * PostHog's serializer enforces; steps_json is PostHog's JSON array of
 * ActionStepJSON objects, tags a JSON array of strings. */
static const char m0003_annotations_actions[] =
    "CREATE TABLE posthog_annotation ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " organization_id INTEGER REFERENCES posthog_organization(id) ON DELETE CASCADE,"
    " content TEXT,"
    " date_marker INTEGER,"
    " creation_type TEXT NOT NULL DEFAULT 'USR',"
    " dashboard_item_id INTEGER,"
    " dashboard_id INTEGER,"
    " scope TEXT NOT NULL DEFAULT 'dashboard_item',"
    " created_by_id INTEGER REFERENCES posthog_user(id) ON DELETE SET NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX posthog_annotation_team"
    " ON posthog_annotation(team_id, deleted, date_marker);"
    "CREATE INDEX posthog_annotation_org"
    " ON posthog_annotation(organization_id, deleted, date_marker)"
    " WHERE scope = 'organization';"
    "CREATE TABLE posthog_action ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " tags TEXT NOT NULL DEFAULT '[]',"
    " steps_json TEXT NOT NULL DEFAULT '[]',"
    " post_to_slack INTEGER NOT NULL DEFAULT 0,"
    " slack_message_format TEXT NOT NULL DEFAULT '',"
    " created_by_id INTEGER REFERENCES posthog_user(id) ON DELETE SET NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE UNIQUE INDEX posthog_action_team_name"
    " ON posthog_action(team_id, name) WHERE deleted = 0;"
    "CREATE INDEX posthog_action_team_id ON posthog_action(team_id, id);";

/* Insight settings of a project: the first day of the week (NULL = PostHog's
 * default, Sunday) and the filters filterTestAccounts applies. */
static const char m0004_team_insight_settings[] =
    "ALTER TABLE posthog_team ADD COLUMN week_start_day INTEGER;"
    "ALTER TABLE posthog_team ADD COLUMN test_account_filters TEXT NOT NULL DEFAULT '[]';";

/* The project's path cleaning rules (PathsQuery with pathReplacements). */
static const char m0005_team_path_cleaning[] =
    "ALTER TABLE posthog_team ADD COLUMN path_cleaning_filters TEXT NOT NULL DEFAULT '[]';";

const struct sn_sql_migration sn_meta_sqlite_migrations[] = {
    {1, "initial: organizations, teams, users, memberships, personal API keys", m0001_initial},
    {2, "feature flags and the activity log", m0002_feature_flags},
    {3, "annotations and actions", m0003_annotations_actions},
    {4, "project insight settings: week_start_day, test_account_filters",
     m0004_team_insight_settings},
    {5, "project path cleaning rules", m0005_team_path_cleaning},
};

const size_t sn_meta_sqlite_nmigrations = SN_ARRAY_LEN(sn_meta_sqlite_migrations);
