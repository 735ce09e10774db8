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

/* Cohorts (posthog_cohort): the definition and its calculation state. The
 * members themselves live in the person store (persons/), next to the
 * persons they name, so a GDPR delete removes them with the person. */
static const char m0006_cohorts[] =
    "CREATE TABLE posthog_cohort ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id),"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " filters TEXT,"			       /* JSON {"properties": {...}} or NULL (static) */
    " groups_json TEXT NOT NULL DEFAULT '[]'," /* legacy "groups" as sent */
    " query TEXT," /* JSON query node of a static cohort made from an insight */
    " is_static INTEGER NOT NULL DEFAULT 0,"
    " is_calculating INTEGER NOT NULL DEFAULT 0,"
    " last_calculation INTEGER," /* µs */
    " errors_calculating INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT,"
    " last_error_at INTEGER,"
    " count INTEGER,"
    " version INTEGER," /* version of the members now visible */
    " pending_version INTEGER,"
    " created_by_id INTEGER,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " deleted INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX posthog_cohort_team_id ON posthog_cohort(team_id, id);";

/* Saved insights and dashboards, with PostHog's table names: an insight is
 * posthog_dashboarditem (PostHog kept the old name), a dashboard's tiles
 * posthog_dashboardtile (an insight or a posthog_text card each), a secret
 * link posthog_sharingconfiguration. short_id is unique per team; filters,
 * query, tags and layouts are JSON text. snout_query_cache is snout's own:
 * PostHog keeps computed results in Redis under a cache key, snout in this
 * table (see src/meta/insights_saved.c). */
static const char m0007_insights_dashboards[] =
    "CREATE TABLE posthog_dashboarditem ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " short_id TEXT NOT NULL,"
    " name TEXT,"
    " derived_name TEXT,"
    " description TEXT NOT NULL DEFAULT '',"
    " filters TEXT NOT NULL DEFAULT '{}',"
    " query TEXT,"
    " tags TEXT NOT NULL DEFAULT '[]',"
    " favorited INTEGER NOT NULL DEFAULT 0,"
    " saved INTEGER NOT NULL DEFAULT 0,"
    " deleted INTEGER NOT NULL DEFAULT 0,"
    " created_by_id INTEGER REFERENCES posthog_user(id) ON DELETE SET NULL,"
    " last_modified_by_id INTEGER REFERENCES posthog_user(id) ON DELETE SET NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " last_modified_at INTEGER NOT NULL,"
    " UNIQUE (team_id, short_id)"
    ");"
    "CREATE INDEX posthog_dashboarditem_team ON posthog_dashboarditem(team_id, deleted, id);"
    "CREATE TABLE posthog_dashboard ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL DEFAULT '',"
    " description TEXT NOT NULL DEFAULT '',"
    " pinned INTEGER NOT NULL DEFAULT 0,"
    " filters TEXT NOT NULL DEFAULT '{}',"
    " tags TEXT NOT NULL DEFAULT '[]',"
    " creation_mode TEXT NOT NULL DEFAULT 'default',"
    " deleted INTEGER NOT NULL DEFAULT 0,"
    " created_by_id INTEGER REFERENCES posthog_user(id) ON DELETE SET NULL,"
    " created_at INTEGER NOT NULL,"
    " updated_at INTEGER NOT NULL,"
    " last_accessed_at INTEGER"
    ");"
    "CREATE INDEX posthog_dashboard_team ON posthog_dashboard(team_id, deleted);"
    "CREATE TABLE posthog_text ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " body TEXT,"
    " created_by_id INTEGER REFERENCES posthog_user(id) ON DELETE SET NULL,"
    " last_modified_by_id INTEGER REFERENCES posthog_user(id) ON DELETE SET NULL,"
    " last_modified_at INTEGER NOT NULL"
    ");"
    "CREATE TABLE posthog_dashboardtile ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " dashboard_id INTEGER NOT NULL REFERENCES posthog_dashboard(id) ON DELETE CASCADE,"
    " insight_id INTEGER REFERENCES posthog_dashboarditem(id) ON DELETE CASCADE,"
    " text_id INTEGER REFERENCES posthog_text(id) ON DELETE CASCADE,"
    " layouts TEXT NOT NULL DEFAULT '{}',"
    " color TEXT,"
    " deleted INTEGER NOT NULL DEFAULT 0"
    ");"
    "CREATE INDEX posthog_dashboardtile_dashboard ON posthog_dashboardtile(dashboard_id, id);"
    "CREATE INDEX posthog_dashboardtile_insight ON posthog_dashboardtile(insight_id);"
    "CREATE TABLE posthog_sharingconfiguration ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " dashboard_id INTEGER REFERENCES posthog_dashboard(id) ON DELETE CASCADE,"
    " insight_id INTEGER REFERENCES posthog_dashboarditem(id) ON DELETE CASCADE,"
    " enabled INTEGER NOT NULL DEFAULT 0,"
    " access_token TEXT NOT NULL UNIQUE,"
    " created_at INTEGER NOT NULL"
    ");"
    "CREATE UNIQUE INDEX posthog_sharingconfiguration_dashboard"
    " ON posthog_sharingconfiguration(dashboard_id) WHERE dashboard_id IS NOT NULL;"
    "CREATE TABLE snout_query_cache ("
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " cache_key TEXT NOT NULL,"
    " insight_id INTEGER,"
    " dashboard_id INTEGER,"
    " response TEXT NOT NULL,"
    " last_refresh INTEGER NOT NULL,"
    " target_age INTEGER,"
    " UNIQUE (team_id, cache_key)"
    ");"
    "CREATE INDEX snout_query_cache_insight ON snout_query_cache(team_id, insight_id);"
    "CREATE INDEX snout_query_cache_age ON snout_query_cache(last_refresh);";

/* Property definitions (PostHog's posthog_propertydefinition): per team, each
 * property seen on events (type 1), persons (2), groups (3, with the group
 * type index 0..4; -1 for every other type, as PostHog's queries coalesce
 * NULL to) and sessions (4), with the type of its first typed value
 * (property_type NULL = not known yet). The UNIQUE constraint is also the
 * index of the two hot statements: ingestion's upsert and the point lookup
 * HogQL makes for every property it reads (src/meta/propdefs.c). */
static const char m0008_property_definitions[] =
    "CREATE TABLE posthog_propertydefinition ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " team_id INTEGER NOT NULL REFERENCES posthog_team(id) ON DELETE CASCADE,"
    " name TEXT NOT NULL,"
    " type INTEGER NOT NULL," /* 1 event, 2 person, 3 group, 4 session */
    " group_type_index INTEGER NOT NULL DEFAULT -1,"
    " property_type TEXT," /* 'String', 'Numeric', 'Boolean', 'DateTime', 'Duration' */
    " is_numerical INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL,"
    " UNIQUE (team_id, type, group_type_index, name)"
    ");";

/* Sessions of the web UI's login (src/meta/sessions.c): the cookie's
 * secret is stored as its SHA-256 only, as personal API keys are, next to
 * the CSRF token that unsafe requests must echo (readable by the page, so
 * kept plain). A session ends at expires_at or at logout; expired rows are
 * swept when new sessions are created. */
static const char m0009_sessions[] =
    "CREATE TABLE snout_session ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " key_hash TEXT NOT NULL UNIQUE,"
    " csrf_token TEXT NOT NULL,"
    " user_id INTEGER NOT NULL REFERENCES posthog_user(id) ON DELETE CASCADE,"
    " created_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL"
    ");"
    "CREATE INDEX snout_session_expires ON snout_session(expires_at);"
    "CREATE INDEX snout_session_user ON snout_session(user_id);";

const struct sn_sql_migration sn_meta_sqlite_migrations[] = {
    {1, "initial: organizations, teams, users, memberships, personal API keys", m0001_initial},
    {2, "feature flags and the activity log", m0002_feature_flags},
    {3, "annotations and actions", m0003_annotations_actions},
    {4, "project insight settings: week_start_day, test_account_filters",
     m0004_team_insight_settings},
    {5, "project path cleaning rules", m0005_team_path_cleaning},
    {6, "cohorts", m0006_cohorts},
    {7, "saved insights, dashboards, sharing, the result cache", m0007_insights_dashboards},
    {8, "property definitions", m0008_property_definitions},
    {9, "UI login sessions", m0009_sessions},
};

const size_t sn_meta_sqlite_nmigrations = SN_ARRAY_LEN(sn_meta_sqlite_migrations);
