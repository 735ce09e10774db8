/*
 * schema.c — the virtual database of spec §5 as static tables.
 *
 * Users never name storage: a query sees only these tables and fields.
 * Each table is a const array of field definitions; a field is a typed
 * column, a JSON properties column (any chain below it is a property,
 * §4.2), a lazy join to another table (`events.pdi`, `events.session`), a
 * traverser that aliases a chain (`events.person` = `pdi.person`), a
 * virtual sub-table over columns of the same row (`poe`, `goe_N`), or an
 * expression over the table's other fields that the resolver puts in the
 * field's place (`sessions.$channel_type`, `persons.$virt_*`).
 * The resolver walks these to type chains like
 * `events.person.properties.email`; expanding joins into subqueries is the
 * next step and will read the same definitions.
 *
 * Rejected alternative: loading the schema from a JSON file at start-up.
 * It is part of the query language, changes only with the code, and a
 * static table cannot fail to load.
 */
#include <string.h>

#include "hogql/hogql.h"

#define COL(n, t)                                                 \
	{                                                         \
		n, SN_HQT_##t, false, SN_HQFK_COLUMN, NULL, false \
	}
#define NCOL(n, t)                                               \
	{                                                        \
		n, SN_HQT_##t, true, SN_HQFK_COLUMN, NULL, false \
	}
#define HIDDEN(n, t)                                             \
	{                                                        \
		n, SN_HQT_##t, false, SN_HQFK_COLUMN, NULL, true \
	}
#define JSONCOL(n)                                               \
	{                                                        \
		n, SN_HQT_JSON, false, SN_HQFK_JSON, NULL, false \
	}
#define LAZY(n, tbl)                                                   \
	{                                                              \
		n, SN_HQT_UNKNOWN, false, SN_HQFK_LAZY_JOIN, tbl, true \
	}
#define TRAV(n, chain)                                                   \
	{                                                                \
		n, SN_HQT_UNKNOWN, false, SN_HQFK_TRAVERSER, chain, true \
	}
#define VIRT(n, tbl)                                                 \
	{                                                            \
		n, SN_HQT_UNKNOWN, false, SN_HQFK_VIRTUAL, tbl, true \
	}

#define EXPR(n, text)                                            \
	{                                                        \
		n, SN_HQT_STRING, true, SN_HQFK_EXPR, text, true \
	}

/*
 * PostHog's default channel type rules (posthog/hogql/database/schema/
 * channel_type.py; https://posthog.com/docs/data/channel-type) over the
 * attribution values of a session's first event or a person's initial
 * ones. C, M and S are the campaign, medium and source, lower-cased with ''
 * and 'null' read as NULL; R the referring domain; G and F whether a gclid /
 * fbclid is set; A the gad_source, '' and 'null' read as NULL. The lookups
 * read PostHog's channel definition table (exec/channel.c; a dictionary on
 * ClickHouse). Custom channel rules (the customChannelTypeRules modifier)
 * are not supported.
 */
#define NN(x)	"nullIf(nullIf(" x ", ''), 'null')"
#define SHOP_RE "'^(.*(([^a-df-z]|^)shop|shopping).*)$'"
#define CHANNEL_RULES(C, M, S, R, G, F, A)                                                         \
	"multiIf(match(" C ", 'cross-network'), 'Cross Network', "                                 \
	"(" M " IN ('cpc', 'cpm', 'cpv', 'cpa', 'ppc', 'retargeting') OR startsWith(" M            \
	", 'paid') OR " G " OR " A " IS NOT NULL), "                                               \
	"coalesce(lookupPaidSourceType(" S "), if(match(" C ", " SHOP_RE "), 'Paid Shopping', "    \
	"NULL), lookupPaidMediumType(" M "), lookupPaidSourceType(" R "), multiIf(" A              \
	" = '1', 'Paid Search', match(" C ", '^(.*video.*)$'), 'Paid Video', " F                   \
	", 'Paid Social', 'Paid Unknown')), "                                                      \
	"(" R " = '$direct' AND (" M " IS NULL) AND (" S " IS NULL OR " S                          \
	" IN ('(direct)', 'direct', '$direct')) AND NOT " F "), 'Direct', "                        \
	"coalesce(lookupOrganicSourceType(" S "), if(match(" C ", " SHOP_RE                        \
	"), 'Organic Shopping', NULL), lookupOrganicMediumType(" M "), lookupOrganicSourceType(" R \
	"), multiIf(match(" C ", '^(.*video.*)$'), 'Organic Video', match(" M ", 'push$'), "       \
	"'Push', " F ", 'Organic Social', " R " = '$direct', 'Direct', " R                         \
	" IS NOT NULL, 'Referral', 'Unknown')))"
#define LOWER_NN(x) "lower(" NN(x) ")"
/* persons: from the $initial_* person properties. */
#define PI(k) "toString(properties.$initial_" k ")"
#define PERSON_CHANNEL                                                          \
	CHANNEL_RULES(LOWER_NN(PI("utm_campaign")), LOWER_NN(PI("utm_medium")), \
		      LOWER_NN(PI("utm_source")), PI("referring_domain"),       \
		      "isNotNull(" NN("properties.$initial_gclid") ")",         \
		      "isNotNull(" NN("properties.$initial_fbclid") ")", NN(PI("gad_source")))
/* sessions: from the $entry_* fields (the session's first event). An event
 * without a session (events.session.$channel_type, a LEFT join miss) has no
 * channel type, as in PostHog, which computes the field inside the joined
 * subquery: NULL, not 'Unknown'. */
#define SESSION_CHANNEL                                                                          \
	"if(notEmpty(session_id), " CHANNEL_RULES(                                               \
	    LOWER_NN("$entry_utm_campaign"), LOWER_NN("$entry_utm_medium"),                      \
	    LOWER_NN("$entry_utm_source"), "$entry_referring_domain", "isNotNull($entry_gclid)", \
	    "isNotNull($entry_fbclid)", NN("$entry_gad_source")) ", NULL)"

static const struct sn_hogql_field_def events[] = {
    COL("uuid", UUID),
    COL("event", STRING),
    JSONCOL("properties"),
    COL("timestamp", DATETIME),
    COL("team_id", INT),
    COL("distinct_id", STRING),
    COL("elements_chain", STRING),
    HIDDEN("elements_chain_href", STRING),
    HIDDEN("elements_chain_texts", ARRAY),
    HIDDEN("elements_chain_ids", ARRAY),
    HIDDEN("elements_chain_elements", ARRAY),
    COL("created_at", DATETIME),
    COL("$session_id", STRING),
    HIDDEN("$session_id_uuid", UUID),
    COL("$window_id", STRING),
    COL("person_mode", STRING),
    LAZY("pdi", "person_distinct_ids"),
    TRAV("person", "pdi.person"),
    TRAV("person_id", "pdi.person_id"),
    VIRT("poe", "events_poe"),
    COL("$group_0", STRING),
    COL("$group_1", STRING),
    COL("$group_2", STRING),
    COL("$group_3", STRING),
    COL("$group_4", STRING),
    LAZY("group_0", "groups"),
    LAZY("group_1", "groups"),
    LAZY("group_2", "groups"),
    LAZY("group_3", "groups"),
    LAZY("group_4", "groups"),
    VIRT("goe_0", "events_goe"),
    VIRT("goe_1", "events_goe"),
    VIRT("goe_2", "events_goe"),
    VIRT("goe_3", "events_goe"),
    VIRT("goe_4", "events_goe"),
    LAZY("session", "sessions"),
};

/* events.poe: person columns stored on the event row (person-on-events). */
static const struct sn_hogql_field_def events_poe[] = {
    COL("id", UUID),
    COL("created_at", DATETIME),
    JSONCOL("properties"),
};

static const struct sn_hogql_field_def events_goe[] = {
    COL("key", STRING),
    COL("created_at", DATETIME),
    JSONCOL("properties"),
};

static const struct sn_hogql_field_def persons[] = {
    COL("id", UUID),
    COL("created_at", DATETIME),
    COL("team_id", INT),
    JSONCOL("properties"),
    COL("is_identified", BOOL),
    LAZY("pdi", "person_distinct_ids"),
    EXPR("$virt_initial_channel_type", PERSON_CHANNEL),
    EXPR("$virt_initial_referring_domain_type",
	 "if(" PI("referring_domain") " = '$direct', '$direct', lookupDomainType(" PI(
	     "referring_domain") "))"),
};

static const struct sn_hogql_field_def raw_persons[] = {
    COL("id", UUID),	   COL("created_at", DATETIME), COL("team_id", INT),
    JSONCOL("properties"), COL("is_identified", BOOL),	COL("is_deleted", BOOL),
    COL("version", INT),
};

static const struct sn_hogql_field_def pdi[] = {
    COL("team_id", INT),
    COL("distinct_id", STRING),
    COL("person_id", UUID),
    LAZY("person", "persons"),
};

static const struct sn_hogql_field_def raw_pdi[] = {
    COL("team_id", INT),     COL("distinct_id", STRING), COL("person_id", UUID),
    COL("is_deleted", BOOL), COL("version", INT),
};

static const struct sn_hogql_field_def groups[] = {
    COL("index", INT),		 COL("team_id", INT),	      COL("key", STRING),
    COL("created_at", DATETIME), COL("updated_at", DATETIME), JSONCOL("properties"),
};

static const struct sn_hogql_field_def sessions[] = {
    COL("id", STRING),
    COL("session_id", STRING),
    COL("team_id", INT),
    COL("distinct_id", STRING),
    COL("$start_timestamp", DATETIME),
    COL("$end_timestamp", DATETIME),
    COL("$urls", ARRAY),
    COL("$num_uniq_urls", INT),
    NCOL("$entry_current_url", STRING),
    NCOL("$entry_pathname", STRING),
    NCOL("$entry_hostname", STRING),
    NCOL("$exit_current_url", STRING),
    NCOL("$end_current_url", STRING),
    NCOL("$exit_pathname", STRING),
    NCOL("$end_pathname", STRING),
    NCOL("$exit_hostname", STRING),
    NCOL("$entry_referring_domain", STRING),
    NCOL("$entry_utm_source", STRING),
    NCOL("$entry_utm_campaign", STRING),
    NCOL("$entry_utm_medium", STRING),
    NCOL("$entry_utm_term", STRING),
    NCOL("$entry_utm_content", STRING),
    NCOL("$entry_gclid", STRING),
    NCOL("$entry_gad_source", STRING),
    NCOL("$entry_gclsrc", STRING),
    NCOL("$entry_dclid", STRING),
    NCOL("$entry_gbraid", STRING),
    NCOL("$entry_wbraid", STRING),
    NCOL("$entry_fbclid", STRING),
    NCOL("$entry_msclkid", STRING),
    NCOL("$entry_twclid", STRING),
    NCOL("$entry_li_fat_id", STRING),
    NCOL("$entry_mc_cid", STRING),
    NCOL("$entry_igshid", STRING),
    NCOL("$entry_ttclid", STRING),
    NCOL("$entry_epik", STRING),
    NCOL("$entry_qclid", STRING),
    NCOL("$entry_sccid", STRING),
    COL("$event_count_map", UNKNOWN),
    COL("$pageview_count", INT),
    COL("$autocapture_count", INT),
    COL("$screen_count", INT),
    EXPR("$channel_type", SESSION_CHANNEL),
    COL("$session_duration", INT),
    COL("duration", INT),
    NCOL("$is_bounce", BOOL),
};

static const struct sn_hogql_field_def cohort_people[] = {
    COL("person_id", UUID),
    COL("cohort_id", INT),
    COL("team_id", INT),
    LAZY("person", "persons"),
};

static const struct sn_hogql_field_def static_cohort_people[] = {
    COL("person_id", UUID),
    COL("cohort_id", INT),
    COL("team_id", INT),
};

static const struct sn_hogql_field_def numbers[] = {
    COL("number", INT),
};

#define TABLE(n, f, guard, fn)                   \
	{                                        \
		n, f, SN_ARRAY_LEN(f), guard, fn \
	}

static const struct sn_hogql_table_def tables[] = {
    TABLE("events", events, true, false),
    TABLE("events_poe", events_poe, false, false), /* internal: events.poe */
    TABLE("events_goe", events_goe, false, false), /* internal: events.goe_N */
    TABLE("persons", persons, true, false),
    TABLE("raw_persons", raw_persons, true, false),
    TABLE("person_distinct_ids", pdi, true, false),
    TABLE("raw_person_distinct_ids", raw_pdi, true, false),
    TABLE("person_distinct_id_overrides", raw_pdi, true, false),
    TABLE("groups", groups, true, false),
    TABLE("raw_groups", groups, true, false),
    TABLE("sessions", sessions, true, false),
    TABLE("raw_sessions", sessions, true, false),
    TABLE("cohort_people", cohort_people, true, false),
    TABLE("static_cohort_people", static_cohort_people, true, false),
    TABLE("numbers", numbers, false, true),
};

const struct sn_hogql_table_def *sn_hogql_table_find(const char *name)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(tables); i++)
		if (strcmp(tables[i].name, name) == 0 && strncmp(name, "events_", 7) != 0)
			return &tables[i];
	return NULL;
}

/* Internal tables (events.poe, events.goe_N) are reachable only through
 * their virtual fields. */
static const struct sn_hogql_table_def *internal_table(const char *name)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(tables); i++)
		if (strcmp(tables[i].name, name) == 0)
			return &tables[i];
	return NULL;
}

const struct sn_hogql_field_def *sn_hogql_table_field(const struct sn_hogql_table_def *t,
						      const char *name)
{
	for (size_t i = 0; i < t->nfields; i++)
		if (strcmp(t->fields[i].name, name) == 0)
			return &t->fields[i];
	return NULL;
}

const struct sn_hogql_table_def *sn_hogql_table_target(const struct sn_hogql_field_def *f)
{
	return f->target ? internal_table(f->target) : NULL;
}
