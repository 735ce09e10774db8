/*
 * test_hogql_ch.c — the HogQL → ClickHouse printer (src/hogql/clickhouse.c)
 * as `snout hogql clickhouse` users see it: where the team guard goes (joins,
 * subqueries, UNION members, inlined CTEs, lazy joins, aliases that shadow
 * table names, tricks with comments and case), NULL-safe comparisons, time
 * zones, property access, function rewrites, the differences between
 * ClickHouse 18.16 and 24.x, values as bound placeholders and their inlining,
 * and errors with positions.
 *
 * That the printed SQL runs, and returns the right rows for the right team,
 * is checked against a real ClickHouse 18.16 by tests/clickhouse/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hogql/hogql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char out[1 << 17];

/* Parses, resolves and prints text; returns the SQL with values inlined, or
 * "ERR:<type>:<start>:<end>:<msg>". raw keeps the placeholders. */
static const char *print_opts(const char *text, const struct sn_hogql_ch_opts *o, bool raw)
{
	struct sn_arena a;
	struct sn_hogql_node *n = NULL;
	struct sn_hogql_error err;
	memset(&err, 0, sizeof(err));
	sn_arena_init(&a, 64u << 20);
	struct sn_buf sql, fin;
	sn_buf_init(&sql, sizeof(out) - 1);
	sn_buf_init(&fin, sizeof(out) - 1);
	struct sn_hogql_ch_values vals = {0};
	int rc = sn_hogql_parse_select(&a, text, strlen(text), &n, &err);
	if (rc == 0)
		rc = sn_hogql_resolve(&a, n, text, strlen(text),
				      &(struct sn_hogql_resolve_opts){.team_id = o->team_id}, &err);
	if (rc == 0)
		rc = sn_hogql_print_clickhouse(&a, n, o, &sql, &vals, text, strlen(text), &err);
	if (rc == 0 && !raw)
		rc = sn_hogql_ch_inline(&fin, sql.data, sql.len, &vals);
	if (rc)
		snprintf(out, sizeof(out), "ERR:%s:%u:%u:%s", err.type, err.start, err.end,
			 err.msg);
	else
		snprintf(out, sizeof(out), "%s", raw ? sql.data : fin.data);
	sn_buf_release(&sql);
	sn_buf_release(&fin);
	sn_arena_release(&a);
	return out;
}

static const char *v18(const char *text)
{
	struct sn_hogql_ch_opts o = {
	    .team_id = 7, .timezone = "UTC", .ch_major = 18, .ch_minor = 16};
	return print_opts(text, &o, false);
}

static const char *v24(const char *text)
{
	struct sn_hogql_ch_opts o = {
	    .team_id = 7, .timezone = "UTC", .ch_major = 24, .ch_minor = 8};
	return print_opts(text, &o, false);
}

static const char *tz18(const char *text, const char *tz)
{
	struct sn_hogql_ch_opts o = {.team_id = 7, .timezone = tz, .ch_major = 18, .ch_minor = 16};
	return print_opts(text, &o, false);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

#define GUARD "equals(events.team_id, 7)"
#define P18(k)                                                                                   \
	"replaceRegexpAll(nullIf(nullIf(visitParamExtractRaw(events.properties, '" k "'), ''), " \
	"'null'), '^\"|\"$', '')"
#define P24(k)                                                                             \
	"replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, '" k "'), ''), " \
	"'null'), '^\"|\"$', '')"

static void test_guard_placement(void **state)
{
	(void)state;
	assert_string_equal(v18("SELECT event FROM events"),
			    "SELECT events.event FROM events WHERE " GUARD " LIMIT 100");
	/* the user's WHERE cannot escape the guard */
	assert_string_equal(v18("SELECT event FROM events WHERE event = 'a' OR 1 = 1"),
			    "SELECT events.event FROM events WHERE and(" GUARD
			    ", or(equals(events.event, 'a'), 1)) LIMIT 100");
	/* both sides of a join, the later joined table first (§4.6) */
	assert_string_equal(
	    v18("SELECT e.event FROM events e JOIN person_distinct_id_overrides o ON e.distinct_id "
		"= o.distinct_id"),
	    "SELECT e.event FROM events AS e JOIN person_distinct_id_overrides AS o ON "
	    "equals(e.distinct_id, o.distinct_id) WHERE and(equals(o.team_id, 7), "
	    "equals(e.team_id, 7)) LIMIT 100");
	/* a subquery has its own; the outer SELECT over a subquery has none */
	assert_string_equal(v18("SELECT count() FROM (SELECT event FROM events)"),
			    "SELECT count() FROM (SELECT events.event FROM events WHERE " GUARD
			    ") LIMIT 100");
	/* each UNION member */
	assert_string_equal(
	    v18("SELECT event FROM events UNION ALL SELECT distinct_id FROM events"),
	    "SELECT events.event FROM events WHERE " GUARD
	    " LIMIT 100 UNION ALL SELECT events.distinct_id FROM events WHERE " GUARD " LIMIT 100");
	/* CTEs are inlined as guarded subqueries, at every use */
	assert_string_equal(v18("WITH s AS (SELECT event FROM events) SELECT count() FROM s"),
			    "SELECT count() FROM (SELECT events.event FROM events WHERE " GUARD
			    ") AS s LIMIT 100");
	assert_int_equal(count(v18("WITH s AS (SELECT event FROM events) SELECT count() FROM s "
				   "WHERE event IN (SELECT event FROM s)"),
			       GUARD),
			 2);
	/* a CTE named like a table shadows it; inside its own body the name is
	 * the table, guarded (and typed as the table: event is not nullable) */
	assert_string_equal(
	    v18("WITH events AS (SELECT event FROM events WHERE event = 'x') "
		"SELECT event FROM events"),
	    "SELECT events.event FROM (SELECT events.event FROM events WHERE and(" GUARD
	    ", equals(events.event, 'x'))) AS events LIMIT 100");
	/* aliases that shadow table names */
	assert_string_equal(v18("SELECT events.event FROM (SELECT event FROM events) AS events"),
			    "SELECT events.event FROM (SELECT events.event FROM events WHERE " GUARD
			    ") AS events LIMIT 100");
	assert_string_equal(
	    v18("SELECT persons.event FROM events AS persons"),
	    "SELECT persons.event FROM events AS persons WHERE equals(persons.team_id, "
	    "7) LIMIT 100");
	/* lambdas, arrayJoin, ARRAY JOIN keep the guard in the WHERE */
	assert_string_equal(
	    v18("SELECT arrayMap(x -> concat(x, event), ['a']) FROM events"),
	    "SELECT arrayMap(x -> concat(x, events.event), ['a']) FROM events WHERE " GUARD
	    " LIMIT 100");
	assert_string_equal(v18("SELECT x FROM events ARRAY JOIN [1, 2] AS x"),
			    "SELECT x FROM events ARRAY JOIN [1, 2] AS x WHERE " GUARD
			    " LIMIT 100");
	assert_string_equal(v18("SELECT arrayJoin([1, 2]) AS n FROM events"),
			    "SELECT arrayJoin([1, 2]) AS n FROM events WHERE " GUARD " LIMIT 100");
	/* comments and case do not hide anything */
	assert_string_equal(v18("SeLeCt event FrOm events /* WHERE team_id = 2 */ -- x"),
			    "SELECT events.event FROM events WHERE " GUARD " LIMIT 100");
	/* table functions are exempt */
	assert_string_equal(v18("SELECT number FROM numbers(3)"),
			    "SELECT number FROM numbers(3) LIMIT 100");
	assert_string_equal(v18("SELECT n.number FROM numbers(3) AS n"),
			    "SELECT n.number FROM numbers(3) AS n LIMIT 100");
	/* scalar subqueries in the select list and WHERE are guarded too */
	assert_int_equal(count(v18("SELECT (SELECT count() FROM events) FROM events WHERE "
				   "distinct_id IN (SELECT distinct_id FROM events)"),
			       GUARD),
			 3);
	/* another team id goes everywhere */
	struct sn_hogql_ch_opts o = {.team_id = 42, .ch_major = 18, .ch_minor = 16};
	const char *t42 = print_opts("SELECT person.properties.email FROM events", &o, false);
	assert_int_equal(count(t42, "team_id, 42)"), 4);
	assert_int_equal(count(t42, "team_id, 7)"), 0);
}

static void test_guard_virtual_tables(void **state)
{
	(void)state;
	/* persons, pdi and groups are collapsed subqueries guarded inside */
	const char *p = v18("SELECT count() FROM persons");
	assert_non_null(strstr(p, "FROM person WHERE equals(person.team_id, 7) GROUP BY "
				  "person.team_id, person.id HAVING "
				  "equals(argMax(person.is_deleted, person.version), 0)"));
	assert_int_equal(count(p, "team_id, 7)"), 1);
	p = v18("SELECT distinct_id FROM person_distinct_ids");
	assert_non_null(strstr(p, "FROM person_distinct_id2 WHERE "
				  "equals(person_distinct_id2.team_id, 7)"));
	p = v18("SELECT key FROM groups");
	assert_non_null(strstr(p, "FROM groups WHERE equals(groups.team_id, 7) GROUP BY"));
	/* raw tables are physical tables with the guard in this WHERE */
	assert_string_equal(v18("SELECT count() FROM raw_persons"),
			    "SELECT count() FROM person AS raw_persons WHERE "
			    "equals(raw_persons.team_id, 7) LIMIT 100");
	assert_string_equal(
	    v18("SELECT key FROM raw_groups AS g"),
	    "SELECT g.group_key AS key__hq FROM groups AS g WHERE equals(g.team_id, 7) "
	    "LIMIT 100");
	/* explicit join to a lazy table: guard inside the subquery, and on events */
	p = v18("SELECT e.event, p.properties.email FROM events e JOIN persons p ON e.person_id = "
		"p.id");
	assert_non_null(
	    strstr(p, "AS p ON equals(e.__person_id, p.id) WHERE equals(e.team_id, 7)"));
	assert_int_equal(count(p, "team_id, 7)"), 4); /* overrides, events, persons, outer */
	/* only virtual tables are addressable */
	assert_string_equal(v18("SELECT * FROM person"),
			    "ERR:QueryError:14:20:Unknown table `person`.");
	assert_string_equal(v18("SELECT * FROM person_distinct_id2"),
			    "ERR:QueryError:14:33:Unknown table `person_distinct_id2`.");
	assert_string_equal(v18("SELECT * FROM sharded_events"),
			    "ERR:QueryError:14:28:Unknown table `sharded_events`.");
	assert_string_equal(v18("SELECT 1 FROM events_poe"),
			    "ERR:QueryError:14:24:Unknown table `events_poe`.");
	/* sessions and cohort_people are subqueries guarded inside, the static
	 * cohort table is read directly with the guard in this WHERE */
	p = v18("SELECT count() FROM sessions");
	assert_int_equal(count(p, "team_id, 7)"), 1);
	assert_non_null(
	    strstr(p, "FROM events WHERE and(" GUARD ", notEmpty(events.`$session_id`))"));
	p = v18("SELECT count() FROM cohort_people");
	assert_int_equal(count(p, "equals(cohortpeople.team_id, 7)"), 2);
	assert_string_equal(v18("SELECT person_id FROM static_cohort_people"),
			    "SELECT static_cohort_people.person_id FROM person_static_cohort AS "
			    "static_cohort_people WHERE equals(static_cohort_people.team_id, 7) "
			    "LIMIT 100");
	assert_string_equal(v18("SELECT 1 FROM cohortpeople"),
			    "ERR:QueryError:14:26:Unknown table `cohortpeople`.");
}

#define SESS_FROM " FROM (SELECT events.`$session_id` AS session_id, events.team_id AS team_id"
#define SESS_WHERE                                                                    \
	" FROM events WHERE and(" GUARD ", notEmpty(events.`$session_id`)) GROUP BY " \
	"events.team_id, events.`$session_id`)"
#define URL18                                                                                      \
	"replaceRegexpAll(nullIf(nullIf(visitParamExtractRaw(events.properties, '$current_url'), " \
	"''), 'null'), '^\"|\"$', '')"

static void test_sessions(void **state)
{
	(void)state;
	/* one aggregate row per $session_id, only the fields read */
	assert_string_equal(
	    v18("SELECT $session_duration FROM sessions"),
	    "SELECT sessions.`$session_duration` FROM (SELECT session_id, team_id, __s43 AS "
	    "`$session_duration`" SESS_FROM ", minus(toUnixTimestamp(max(events.timestamp)), "
	    "toUnixTimestamp(min(events.timestamp))) AS __s43" SESS_WHERE
	    ") AS sessions LIMIT 100");
	const char *p = v18("SELECT id, $entry_pathname, $exit_hostname FROM sessions");
	assert_non_null(strstr(p, "SELECT session_id, team_id, session_id AS id, "));
	assert_non_null(
	    strstr(p, "nullIf(path(nullIf(argMin(" URL18 ", events.timestamp), 'null')), '')"));
	assert_non_null(
	    strstr(p, "nullIf(domain(nullIf(argMax(" URL18 ", events.timestamp), 'null')), '')"));
	assert_null(strstr(p, "countIf"));
	assert_null(strstr(p, "toUnixTimestamp"));
	/* DateTime fields in the project zone; counts; bounce from §5.5 */
	p = v18("SELECT $start_timestamp, $pageview_count, $is_bounce FROM sessions");
	assert_non_null(strstr(p, "toTimeZone(sessions.`$start_timestamp`, 'UTC') AS "
				  "`$start_timestamp__hq`"));
	assert_non_null(strstr(p, "min(events.timestamp) AS __s4"));
	assert_non_null(strstr(p,
			       "if(equals(countIf(equals(events.event, '$pageview')), 0), "
			       "NULL, not(or(greater(countIf(equals(events.event, '$pageview')), "
			       "1), greater(countIf(equals(events.event, '$autocapture')), 0), "
			       "greaterOrEquals(minus("));
	/* attribution: the first event's value, '' read as NULL */
	p = v18("SELECT $entry_utm_source, $entry_gclid, $entry_referring_domain FROM sessions");
	assert_non_null(strstr(p, "visitParamExtractRaw(events.properties, 'utm_source')"));
	assert_non_null(strstr(p, "visitParamExtractRaw(events.properties, 'gclid')"));
	assert_non_null(strstr(p, "visitParamExtractRaw(events.properties, '$referring_domain')"));
	assert_non_null(strstr(p, "nullIf(nullIf(argMin(ifNull("));
	/* SELECT * leaves out the fields that cannot be derived, and the
	 * expression fields */
	p = v18("SELECT * FROM sessions");
	assert_null(strstr(p, "channel_type"));
	assert_null(strstr(p, "channel_definition_dict"));
	assert_null(strstr(p, "event_count_map"));
	assert_non_null(strstr(p, "`$entry_sccid`"));
	assert_non_null(strstr(v24("SELECT $event_count_map FROM sessions"),
			       "sumMap(map(events.event, toUInt64(1)))"));
	assert_string_equal(
	    v18("SELECT $event_count_map FROM sessions"),
	    "ERR:NotImplementedError:7:23:sessions.$event_count_map is a Map, which "
	    "ClickHouse 18.16 does not have");
	/* $channel_type: PostHog's rules over the first event's attribution,
	 * the lookups as reads of channel_definition_dict */
	p = v24("SELECT s.$channel_type FROM sessions s");
	assert_non_null(strstr(p, "multiIf(match(lower(nullIf(nullIf(s.`$entry_utm_campaign`, ''), "
				  "'null')), 'cross-network'), 'Cross Network', "));
	assert_non_null(strstr(p, "dictGetOrNull('channel_definition_dict', 'type_if_paid', "
				  "tuple(coalesce(lower(nullIf(nullIf(s.`$entry_utm_medium`, ''), "
				  "'null')), ''), 'medium'))"));
	assert_null(strstr(p, "visitParamExtractRaw"));
	assert_non_null(strstr(p, "JSONExtractRaw(events.properties, 'gclid')"));
	p = v18("SELECT session.$channel_type FROM events");
	assert_non_null(strstr(p, "nullIf(dictGetString('channel_definition_dict', "
				  "'type_if_organic', tuple(cutToFirstSignificantSubdomain(if("));
	assert_null(strstr(p, "dictGetOrNull"));
	assert_string_equal(v18("SELECT session.$channel_type.x FROM events"),
			    "ERR:QueryError:7:30:Can not access property \"x\" on field "
			    "\"$channel_type\" of type String");
	/* events.session: one more nested level, joined on $session_id */
	p = v18("SELECT session.$session_duration FROM events");
	assert_string_equal(
	    p, "SELECT events.`__session_$session_duration` AS `$session_duration` FROM (SELECT "
	       "l.*, j.`$session_duration` AS `__session_$session_duration` FROM events AS l LEFT "
	       "JOIN (SELECT session_id, team_id, __s43 AS `$session_duration`" SESS_FROM
	       ", minus(toUnixTimestamp(max(events.timestamp)), "
	       "toUnixTimestamp(min(events.timestamp))) AS __s43" SESS_WHERE
	       ") AS j ON equals(l.`$session_id`, j.session_id) WHERE equals(l.team_id, 7)) AS "
	       "events WHERE " GUARD " LIMIT 100");
	/* with person fields: overrides, persons, then sessions; one JOIN a level */
	p = v18("SELECT person.properties.email, session.duration, session.$urls FROM events");
	assert_int_equal(count(p, " JOIN "), 3);
	assert_true(strstr(p, "equals(l.__person_id, j.id)") <
		    strstr(p, "equals(l.`$session_id`, j.session_id)"));
	assert_non_null(strstr(p, "arraySort(groupUniqArray(" URL18 "))"));
	assert_int_equal(count(p, "team_id, 7)"), 5);
	assert_string_equal(v18("SELECT session.nope FROM events"),
			    "ERR:QueryError:7:19:Field not found: nope on table sessions");
	assert_string_equal(v18("SELECT session FROM events"),
			    "ERR:QueryError:7:14:Can not select the whole table `session`; select "
			    "one of its fields");
}

static void test_cohorts(void **state)
{
	(void)state;
	/* without metadata: both tables, dynamic collapsed by sign at the
	 * cohort's latest version */
	const char *p = v18("SELECT count() FROM events WHERE person_id IN COHORT 3");
	assert_non_null(strstr(
	    p, "WHERE and(" GUARD ", ifNull(in(events.__person_id, (SELECT cohortpeople.person_id "
	       "AS person_id FROM cohortpeople WHERE and(equals(cohortpeople.team_id, 7), "
	       "equals(cohortpeople.cohort_id, 3), in(tuple(cohortpeople.cohort_id, "
	       "cohortpeople.version), (SELECT cohortpeople.cohort_id, max(cohortpeople.version) "
	       "FROM cohortpeople WHERE equals(cohortpeople.team_id, 7) GROUP BY "
	       "cohortpeople.cohort_id))) GROUP BY cohortpeople.team_id, cohortpeople.cohort_id, "
	       "cohortpeople.person_id HAVING greater(sum(cohortpeople.sign), 0) UNION ALL SELECT "
	       "person_static_cohort.person_id AS person_id FROM person_static_cohort WHERE "
	       "and(equals(person_static_cohort.team_id, 7), "
	       "equals(person_static_cohort.cohort_id, 3)))), 0)) LIMIT 100"));
	/* NOT IN: a NULL person is not in the cohort */
	p = v18("SELECT count() FROM events WHERE person_id NOT IN COHORT 3");
	assert_non_null(strstr(p, "ifNull(notIn(events.__person_id, (SELECT"));
	assert_non_null(strstr(p, "cohort_id, 3)))), 1))"));
	/* a non-nullable left side needs no ifNull */
	p = v18("SELECT count() FROM persons WHERE id IN COHORT 3");
	assert_non_null(strstr(p, "WHERE in(persons.id, (SELECT cohortpeople.person_id"));
	/* with metadata: one table, by id or name */
	static const struct sn_hogql_cohort cohorts[] = {
	    {.id = 3, .name = "Paying", .is_static = false},
	    {.id = 4, .name = "Imported", .is_static = true},
	};
	struct sn_hogql_ch_opts o = {.team_id = 7,
				     .ch_major = 18,
				     .ch_minor = 16,
				     .cohorts = cohorts,
				     .ncohorts = SN_ARRAY_LEN(cohorts)};
	p = print_opts("SELECT 1 FROM persons WHERE id IN COHORT 'Paying'", &o, false);
	assert_non_null(strstr(p, "equals(cohortpeople.cohort_id, 3)"));
	assert_null(strstr(p, "person_static_cohort"));
	p = print_opts("SELECT 1 FROM persons WHERE id IN COHORT 4", &o, false);
	assert_non_null(strstr(p, "in(persons.id, (SELECT person_static_cohort.person_id AS "
				  "person_id FROM person_static_cohort WHERE "
				  "and(equals(person_static_cohort.team_id, 7), "
				  "equals(person_static_cohort.cohort_id, 4))))"));
	assert_null(strstr(p, "cohortpeople"));
	assert_string_equal(
	    print_opts("SELECT 1 FROM persons WHERE id IN COHORT 'Nope'", &o, false),
	    "ERR:QueryError:41:47:Could not find a cohort with the name 'Nope'");
	assert_string_equal(print_opts("SELECT 1 FROM persons WHERE id IN COHORT 5", &o, false),
			    "ERR:QueryError:41:42:Could not find cohort with ID 5");
	assert_string_equal(v18("SELECT 1 FROM persons WHERE id IN COHORT 'Paying'"),
			    "ERR:QueryError:41:49:Could not find a cohort with the name 'Paying'");
	/* cohort_people.person: persons joined on person_id */
	p = v18("SELECT person.properties.email FROM cohort_people WHERE cohort_id = 3");
	assert_non_null(strstr(p, "visitParamExtractRaw(cohort_people.__person_properties, "
				  "'email')"));
	assert_non_null(strstr(p, ") AS j ON equals(l.person_id, j.id)) AS cohort_people WHERE "
				  "equals(cohort_people.cohort_id, 3)"));
}

static void test_more_lazy(void **state)
{
	(void)state;
	/* persons.pdi: every distinct_id of the person (LEFT: one row each) */
	const char *p = v18("SELECT id, pdi.distinct_id FROM persons");
	assert_non_null(strstr(p,
			       "SELECT persons.id, persons.__pdi_distinct_id AS distinct_id "
			       "FROM (SELECT l.*, j.distinct_id AS __pdi_distinct_id, j.person_id "
			       "AS __pdi_person_id FROM (SELECT id, __created_at"));
	assert_non_null(strstr(p, ") AS j ON equals(l.id, j.person_id)) AS persons LIMIT 100"));
	assert_int_equal(count(p, "team_id, 7)"), 2);
	/* person_distinct_ids.person */
	p = v18("SELECT distinct_id, person.id, person.created_at FROM person_distinct_ids");
	assert_non_null(strstr(p,
			       "person_distinct_ids.person_id AS id, "
			       "toTimeZone(person_distinct_ids.__person_created_at, 'UTC') AS "
			       "created_at FROM (SELECT l.*, j.created_at AS __person_created_at"));
	assert_non_null(strstr(p, ") AS j ON equals(l.person_id, j.id)) AS person_distinct_ids"));
	/* person.id alone needs no join */
	assert_int_equal(count(v18("SELECT person.id FROM person_distinct_ids"), " JOIN "), 0);
	assert_string_equal(v18("SELECT pdi.person.id FROM persons"),
			    "ERR:NotImplementedError:7:20:persons.pdi.person is not supported; use "
			    "persons directly");
	assert_string_equal(v18("SELECT pdi FROM persons"),
			    "ERR:QueryError:7:10:Can not select the whole table `pdi`; select one "
			    "of its fields");
}

static void test_filter_slice_using(void **state)
{
	(void)state;
	/* FILTER (WHERE c) is the -If combinator */
	assert_string_equal(
	    v18("SELECT count() FILTER (WHERE event = 'a'), count(*) FILTER (WHERE 1), "
		"sum(1) FILTER (WHERE event = 'b'), quantile(0.5)(1) FILTER (WHERE 1) FROM events"),
	    "SELECT countIf(equals(events.event, 'a')), countIf(1), sumIf(1, equals(events.event, "
	    "'b')), quantileIf(0.5)(1, 1) FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(
	    v24("SELECT count(DISTINCT event) FILTER (WHERE 1), sum(DISTINCT 1) FILTER (WHERE 1), "
		"array_agg(event) FILTER (WHERE 1) FROM events"),
	    "SELECT uniqExactIf(events.event, 1), sumDistinctIf(1, 1), groupArrayIf(events.event, "
	    "1) FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(
	    v18("SELECT sum(DISTINCT 1) FILTER (WHERE 1) FROM events"),
	    "ERR:NotImplementedError:7:39:sum(DISTINCT ...) FILTER (WHERE ...) needs "
	    "the -Distinct combinator, which ClickHouse 18.16 does not have");
	/* 18.16 refusals still apply to the combined name */
	assert_string_equal(v18("SELECT uniqOrNull(event) FILTER (WHERE 1) FROM events"),
			    "ERR:NotImplementedError:7:41:The -OrNull/-OrDefault aggregate "
			    "combinators are not available on ClickHouse 18.16");
	assert_string_equal(
	    v18("SELECT lower(event) FILTER (WHERE 1) FROM events"),
	    "ERR:QueryError:7:36:FILTER (WHERE ...) needs an aggregate function, not "
	    "lower");
	/* slices: 1-based, inclusive */
	assert_string_equal(v18("SELECT [1, 2, 3][2:3], [1, 2][:1], [1, 2][2:]"),
			    "SELECT arraySlice([1, 2, 3], 2, greatest(0, plus(minus(3, 2), 1))), "
			    "arraySlice([1, 2], 1, greatest(0, plus(minus(1, 1), 1))), "
			    "arraySlice([1, 2], 2) LIMIT 100");
	/* USING between subqueries: bare names, the merged column from the left */
	assert_string_equal(
	    v18("SELECT x FROM (SELECT 1 AS x) AS a JOIN (SELECT 1 AS x) AS b USING (x)"),
	    "SELECT a.x FROM (SELECT 1 AS x) AS a JOIN (SELECT 1 AS x) AS b USING (x) LIMIT 100");
	assert_string_equal(
	    v18("SELECT e.event FROM events e JOIN events f USING (event, distinct_id)"),
	    "SELECT e.event FROM events AS e JOIN events AS f USING (event, distinct_id) WHERE "
	    "and(equals(f.team_id, 7), equals(e.team_id, 7)) LIMIT 100");
}

static void test_lazy_joins(void **state)
{
	(void)state;
	/* person_id: the events column with overrides applied */
	const char *p = v18("SELECT person_id FROM events");
	assert_string_equal(
	    p,
	    "SELECT events.__person_id AS person_id__hq FROM (SELECT l.*, "
	    "if(notEmpty(j.distinct_id), j.person_id, l.person_id) AS __person_id FROM events AS "
	    "l LEFT JOIN (SELECT distinct_id, __person_id AS person_id, team_id FROM (SELECT "
	    "person_distinct_id_overrides.distinct_id AS distinct_id, "
	    "argMax(person_distinct_id_overrides.person_id, "
	    "person_distinct_id_overrides.version) AS __person_id, "
	    "person_distinct_id_overrides.team_id AS team_id FROM person_distinct_id_overrides "
	    "WHERE equals(person_distinct_id_overrides.team_id, 7) GROUP BY "
	    "person_distinct_id_overrides.team_id, person_distinct_id_overrides.distinct_id "
	    "HAVING equals(argMax(person_distinct_id_overrides.is_deleted, "
	    "person_distinct_id_overrides.version), 0))) AS j ON equals(l.distinct_id, "
	    "j.distinct_id) WHERE equals(l.team_id, 7)) AS events WHERE " GUARD " LIMIT 100");
	/* person properties from the persons table, joined on that person_id */
	p = v18("SELECT person.properties.email FROM events");
	assert_non_null(strstr(p, "visitParamExtractRaw(events.__person_properties, 'email')"));
	assert_non_null(strstr(p, "LEFT JOIN (SELECT id, __created_at AS created_at"));
	assert_non_null(strstr(p, "ON equals(l.__person_id, j.id)) AS events"));
	/* pdi: INNER as PostHog; ANY because 18.16 breaks ALL INNER with pruned columns */
	p = v18("SELECT e.pdi.distinct_id FROM events e");
	assert_non_null(strstr(p, "ANY INNER JOIN (SELECT distinct_id"));
	assert_non_null(strstr(p, "FROM person_distinct_id2 WHERE"));
	/* groups: one level per group index, filtered to that index */
	p = v18("SELECT group_2.properties.name FROM events");
	assert_non_null(strstr(p, "equals(groups.group_type_index, 2)"));
	assert_non_null(strstr(p, "ON equals(l.`$group_2`, j.`key`)"));
	/* one nested level per join; never a second JOIN in the user's SELECT */
	p = v18("SELECT person.properties.a, pdi.person.properties.b, group_0.key, group_4.key "
		"FROM events");
	assert_int_equal(count(p, " JOIN "), 6);
	assert_int_equal(count(p, ") AS events WHERE"), 1);
	/* virtual sub-tables read columns of the row */
	assert_string_equal(v18("SELECT poe.id, goe_1.key FROM events"),
			    "SELECT events.person_id AS id, events.`$group_1` AS `key` FROM events "
			    "WHERE " GUARD " LIMIT 100");
	assert_string_equal(v18("SELECT person"), "ERR:QueryError:7:13:Unable to resolve field: "
						  "person");
	assert_string_equal(v18("SELECT person FROM events"),
			    "ERR:QueryError:7:13:Can not select the whole table `person`; select "
			    "one of its fields");
}

static void test_null_safe(void **state)
{
	(void)state;
	/* 1. constants fold */
	assert_string_equal(v18("SELECT 1 = NULL, NULL = NULL, 1 != NULL, 1 < NULL, 2 > 1, 'a' = "
				"'b', NULL != NULL"),
			    "SELECT 0, 1, 1, 0, 1, 0, 0 LIMIT 100");
	/* 2. nothing nullable: bare */
	assert_string_equal(v18("SELECT event = 'x', event != distinct_id FROM events"),
			    "SELECT equals(events.event, 'x'), notEquals(events.event, "
			    "events.distinct_id) FROM events WHERE " GUARD " LIMIT 100");
	/* 3./4. equality with a constant, with NULL, between nullables */
	assert_string_equal(v18("SELECT properties.a = 'x', properties.a != 'x' FROM events"),
			    "SELECT ifNull(equals(" P18("a") ", 'x'), 0), ifNull(notEquals(" P18(
				"a") ", 'x'), 1) FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(v18("SELECT properties.a = NULL, properties.a != NULL FROM events"),
			    "SELECT isNull(" P18("a") "), isNotNull(" P18(
				"a") ") FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(v18("SELECT properties.a = properties.b FROM events"),
			    "SELECT ifNull(equals(" P18("a") ", " P18("b") "), and(isNull(" P18(
				"a") "), isNull(" P18("b") "))) FROM events WHERE " GUARD
							   " LIMIT 100");
	assert_string_equal(
	    v18("SELECT properties.a != properties.b FROM events"),
	    "SELECT ifNull(notEquals(" P18("a") ", " P18("b") "), or(isNotNull(" P18(
		"a") "), isNotNull(" P18("b") "))) FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(v18("SELECT properties.a LIKE 'x%', properties.a NOT LIKE 'x%' FROM "
				"events"),
			    "SELECT ifNull(like(" P18("a") ", 'x%'), 0), ifNull(notLike(" P18(
				"a") ", 'x%'), 1) FROM events WHERE " GUARD " LIMIT 100");
	/* 5. other operators: NULL → 0, else ifNull(..., 0) */
	assert_string_equal(v18("SELECT properties.a < 'x', properties.a > NULL FROM events"),
			    "SELECT ifNull(less(" P18("a") ", 'x'), 0), 0 FROM events WHERE " GUARD
							   " LIMIT 100");
	/* IN treats NULL as a value (transform_null_in=1), which 18.16 lacks */
	assert_string_equal(
	    v18("SELECT properties.a IN ('a', NULL), properties.a NOT IN ('a', "
		"'b'), NULL IN (1), NULL NOT IN (1) FROM events"),
	    "SELECT or(in(" P18("a") ", tuple('a')), isNull(" P18("a") ")), or(notIn(" P18(
		"a") ", tuple('a', 'b')), isNull(" P18("a") ")), 0, 1 FROM events WHERE " GUARD
							    " LIMIT 100");
	assert_string_equal(v18("SELECT event IN ('a', 'b') FROM events"),
			    "SELECT in(events.event, tuple('a', 'b')) FROM events WHERE " GUARD
			    " LIMIT 100");
	/* inside JOIN ON comparisons stay bare */
	const char *p =
	    v18("SELECT 1 FROM events e JOIN (SELECT properties.a AS a FROM events) s ON "
		"e.properties.a = s.a");
	assert_non_null(strstr(p, "ON equals("
				  "replaceRegexpAll(nullIf(nullIf(visitParamExtractRaw("
				  "e.properties, 'a'), ''), 'null'), '^\"|\"$', ''), s.a)"));
	/* BETWEEN and IS DISTINCT FROM */
	assert_string_equal(
	    v18("SELECT properties.a BETWEEN 'a' AND 'b' FROM events"),
	    "SELECT ifNull(and(greaterOrEquals(" P18("a") ", 'a'), lessOrEquals(" P18(
		"a") ", 'b')), 0) FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(
	    v18("SELECT event IS DISTINCT FROM NULL FROM events"),
	    "SELECT not(ifNull(equals(events.event, NULL), and(isNull(events.event), "
	    "isNull(NULL)))) FROM events WHERE " GUARD " LIMIT 100");
	/* regex operators */
	assert_string_equal(
	    v18("SELECT event =~ 'a', event !~* 'b' FROM events"),
	    "SELECT match(events.event, 'a'), not(match(events.event, concat('(?i:', "
	    "'b', ')'))) FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(
	    v24("SELECT event =~* 'b' FROM events"),
	    "SELECT match(events.event, concat('(?i)', 'b')) FROM events WHERE " GUARD
	    " LIMIT 100");
}

static void test_time_zones(void **state)
{
	(void)state;
	assert_string_equal(
	    tz18("SELECT toStartOfDay(timestamp) FROM events WHERE timestamp > '2024-01-01'",
		 "Europe/Berlin"),
	    "SELECT toStartOfDay(toTimeZone(events.timestamp, 'Europe/Berlin')) FROM events WHERE "
	    "and(" GUARD ", greater(toTimeZone(events.timestamp, 'Europe/Berlin'), "
	    "parseDateTimeBestEffort('2024-01-01', 'Europe/Berlin'))) LIMIT 100");
	/* 24.x compares the string in the column's zone itself */
	struct sn_hogql_ch_opts o = {.team_id = 7, .timezone = "Asia/Tokyo", .ch_major = 24};
	assert_string_equal(
	    print_opts("SELECT timestamp FROM events WHERE timestamp > '2024-01-01'", &o, false),
	    "SELECT toTimeZone(events.timestamp, 'Asia/Tokyo') AS timestamp FROM "
	    "events WHERE and(" GUARD ", greater(toTimeZone(events.timestamp, "
	    "'Asia/Tokyo'), '2024-01-01')) LIMIT 100");
	/* on 18.16 an alias must not shadow the column it is computed from */
	assert_string_equal(
	    tz18("SELECT timestamp FROM events", "UTC"),
	    "SELECT toTimeZone(events.timestamp, 'UTC') AS timestamp__hq FROM events "
	    "WHERE " GUARD " LIMIT 100");
	assert_string_equal(v18("SELECT now(), toDateTime('2024-01-01'), toDateTime(0), "
				"toTimeZone(timestamp), parseDateTimeBestEffort('x') FROM events"),
			    "SELECT toTimeZone(now(), 'UTC'), parseDateTimeBestEffortOrNull("
			    "toString('2024-01-01'), 'UTC'), toDateTime(0, 'UTC'), "
			    "toTimeZone(toTimeZone(events.timestamp, 'UTC'), 'UTC'), "
			    "parseDateTimeBestEffortOrNull('x', 'UTC') FROM events WHERE " GUARD
			    " LIMIT 100");
	assert_string_equal(
	    v24("SELECT now(), toDateTime('2024-01-01'), toDateTime('x', 'Asia/Tokyo')"),
	    "SELECT now64(6, 'UTC'), parseDateTime64BestEffortOrNull('2024-01-01', 6, "
	    "'UTC'), parseDateTime64BestEffortOrNull('x', 6, 'Asia/Tokyo') LIMIT 100");
	/* parseDateTime is PostHog's parseDateTimeOrNull, in the team's zone by default */
	assert_string_equal(
	    v24("SELECT parseDateTime('2024-01-02', '%Y-%m-%d'), parseDateTime('x', '%Y', "
		"'Asia/Tokyo')"),
	    "SELECT parseDateTimeOrNull('2024-01-02', '%Y-%m-%d', 'UTC'), parseDateTimeOrNull('x', "
	    "'%Y', 'Asia/Tokyo') LIMIT 100");
	/* sortableSemVer: PostHog's expansion */
	assert_non_null(strstr(v24("SELECT sortableSemVer('1.2.3')"),
			       "arrayMap(x -> toInt64OrNull(x), splitByChar('.', coalesce(nullIf("
			       "extract(assumeNotNull('1.2.3'), '^\\\\s*v?((0|[1-9]"));
	/* person.created_at and group timestamps are DateTime columns too */
	assert_non_null(strstr(tz18("SELECT person.created_at FROM events", "Asia/Tokyo"),
			       "SELECT toTimeZone(events.__person_created_at, 'Asia/Tokyo') AS "
			       "created_at__hq"));
	/* week start: the project's when no mode is given; 18.16 has no toStartOfWeek */
	assert_string_equal(v18("SELECT toStartOfWeek(toDate('2024-01-03')), "
				"toStartOfWeek(toDate('2024-01-03'), 1)"),
			    "SELECT subtractDays(toDate(toDateOrNull(toString('2024-01-03'))), "
			    "modulo(toDayOfWeek(toDateOrNull(toString('2024-01-03'))), 7)), "
			    "toMonday(toDateOrNull(toString('2024-01-03'))) LIMIT 100");
	o = (struct sn_hogql_ch_opts){.team_id = 7, .ch_major = 24, .week_start_monday = true};
	assert_string_equal(print_opts("SELECT toStartOfWeek(today())", &o, false),
			    "SELECT toStartOfWeek(today(), 3) LIMIT 100");
}

static void test_property_access(void **state)
{
	(void)state;
	assert_string_equal(v18("SELECT properties.$browser FROM events"),
			    "SELECT " P18("$browser") " AS `$browser` FROM events WHERE " GUARD
						      " LIMIT 100");
	/* nested paths: nested visitParamExtractRaw on 18.16, one JSONExtractRaw on 24 */
	assert_string_equal(v18("SELECT properties.a.b FROM events"),
			    "SELECT replaceRegexpAll(nullIf(nullIf(visitParamExtractRaw("
			    "visitParamExtractRaw(events.properties, 'a'), 'b'), ''), 'null'), "
			    "'^\"|\"$', '') AS b FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(
	    v24("SELECT properties['a']['b'] FROM events"),
	    "SELECT replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, "
	    "'a', 'b'), ''), 'null'), '^\"|\"$', '') FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(
	    v24("SELECT properties.arr[1] FROM events"),
	    "SELECT replaceRegexpAll(nullIf(nullIf(JSONExtractRaw(events.properties, "
	    "'arr', 1), ''), 'null'), '^\"|\"$', '') FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(v18("SELECT properties.arr[1] FROM events"),
			    "ERR:NotImplementedError:7:24:Array indexes in property paths need "
			    "JSONExtractRaw, which ClickHouse 18.16 does not have");
	/* keys are values, never SQL text */
	const char *raw =
	    print_opts("SELECT properties.`x') OR 1=1 --` FROM events",
		       &(struct sn_hogql_ch_opts){.team_id = 7, .ch_major = 18}, true);
	assert_int_equal(count(raw, "OR 1=1"), 1); /* only in the quoted column name */
	assert_non_null(strstr(raw, " AS `x') OR 1=1 --` FROM"));
	assert_non_null(strstr(raw, "visitParamExtractRaw(events.properties, %(hogql_val_0)s)"));
	/* JSONExtract* on 18.16 */
	assert_string_equal(
	    v18("SELECT JSONExtractString(properties, 'a', 'b'), "
		"JSONHas(properties, 'c') FROM events"),
	    "SELECT visitParamExtractString(visitParamExtractRaw(events.properties, "
	    "'a'), 'b'), visitParamHas(events.properties, 'c') FROM events WHERE " GUARD
	    " LIMIT 100");
	assert_string_equal(
	    v18("SELECT JSONExtractKeys(properties) FROM events"),
	    "ERR:NotImplementedError:7:34:Function 'JSONExtractKeys' is not available "
	    "on ClickHouse 18.16");
}

static void test_rewrites(void **state)
{
	(void)state;
	assert_string_equal(v18("SELECT event ILIKE '%a%', event NOT ILIKE 'b' FROM events"),
			    "SELECT like(lower(events.event), lower('%a%')), notLike(lower("
			    "events.event), lower('b')) FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(v24("SELECT event ILIKE '%a%' FROM events"),
			    "SELECT ilike(events.event, '%a%') FROM events WHERE " GUARD
			    " LIMIT 100");
	/* a call over a nullable argument is nullable: NULL NOT ILIKE is true */
	assert_string_equal(
	    v18("SELECT toString(properties.a) NOT ILIKE '%x%' FROM events"),
	    "SELECT ifNull(notLike(lower(toString(replaceRegexpAll(nullIf(nullIf("
	    "visitParamExtractRaw(events.properties, 'a'), ''), 'null'), '^\"|\"$', ''))), "
	    "lower('%x%')), 1) FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(
	    v18("SELECT toInt('1'), toFloat('2'), accurateCastOrNull('3', 'UInt8')"),
	    "SELECT toInt64OrNull(toString('1')), toFloat64OrNull(toString('2')), "
	    "toUInt8OrNull(toString('3')) LIMIT 100");
	assert_string_equal(v24("SELECT toInt('1'), toFloat('2')"),
			    "SELECT accurateCastOrNull('1', 'Int64'), accurateCastOrNull('2', "
			    "'Float64') LIMIT 100");
	assert_string_equal(v18("SELECT min2(1, 2), max2(1, 2), toDate('x'), trim(' a ')"),
			    "SELECT least(1, 2), greatest(1, 2), toDateOrNull(toString('x')), "
			    "replaceRegexpAll(' a ', '^\\\\s+|\\\\s+$', '') LIMIT 100");
	assert_string_equal(
	    v18("SELECT array_agg(number), string_agg(toString(number), ','), "
		"every(number > 0) FROM numbers(3)"),
	    "SELECT groupArray(number), arrayStringConcat(groupArray(toString(number)), "
	    "','), toUInt8(min(greater(number, 0))) FROM numbers(3) LIMIT 100");
	assert_string_equal(
	    v18("SELECT CASE number WHEN 1 THEN 'a' ELSE 'b' END FROM numbers(2)"),
	    "SELECT multiIf(equals(number, 1), 'a', 'b') FROM numbers(2) LIMIT 100");
	assert_string_equal(v18("SELECT count(*), count(DISTINCT event), quantile(0.5)(1), "
				"countIf(event = 'a') FROM events"),
			    "SELECT count(), count(DISTINCT events.event), quantile(0.5)(1), "
			    "countIf(equals(events.event, 'a')) FROM events WHERE " GUARD
			    " LIMIT 100");
	assert_string_equal(
	    v18("SELECT dateTrunc('month', timestamp) FROM events"),
	    "SELECT toStartOfMonth(toTimeZone(events.timestamp, 'UTC')) FROM events "
	    "WHERE " GUARD " LIMIT 100");
	assert_string_equal(v18("SELECT '5'::int, CAST(1 AS String)"),
			    "SELECT toInt64('5'), toString(1) LIMIT 100");
	/* ClickHouse 18.16 refusals name the version and point at the node */
	assert_string_equal(v18("SELECT row_number() OVER (ORDER BY event) FROM events"),
			    "ERR:NotImplementedError:7:41:Window functions are not available on "
			    "ClickHouse 18.16");
	assert_string_equal(
	    v24("SELECT row_number() OVER (ORDER BY event) FROM events"),
	    "SELECT row_number() OVER (ORDER BY events.event ASC) FROM events WHERE " GUARD
	    " LIMIT 100");
	assert_string_equal(
	    v18("SELECT sumOrNull(1) FROM events"),
	    "ERR:NotImplementedError:7:19:The -OrNull/-OrDefault aggregate combinators "
	    "are not available on ClickHouse 18.16");
	assert_string_equal(v18("SELECT toStartOfInterval(timestamp, INTERVAL 1 DAY) FROM events"),
			    "ERR:NotImplementedError:7:51:Function 'toStartOfInterval' is not "
			    "available on ClickHouse 18.16");
	assert_string_equal(v18("SELECT 1 UNION DISTINCT SELECT 2"),
			    "ERR:NotImplementedError:24:32:UNION DISTINCT is not available on "
			    "ClickHouse 18.16 (only UNION ALL)");
	assert_string_equal(
	    v18("SELECT 1 FROM events a JOIN events b ON a.uuid = b.uuid JOIN "
		"events c ON a.uuid = c.uuid"),
	    "ERR:NotImplementedError:61:69:ClickHouse 18.16 runs one JOIN per SELECT; "
	    "nest the other joins in subqueries");
	assert_string_equal(
	    v18("SELECT event FROM events LIMIT 1 + 1"),
	    "ERR:NotImplementedError:0:0:LIMIT must be a number on ClickHouse 18.16");
	assert_string_equal(v18("SELECT matchesAction('x') FROM events"),
			    "ERR:NotImplementedError:7:25:matchesAction() is not supported by the "
			    "ClickHouse printer yet");
	assert_non_null(strstr(v18("SELECT e.event FROM events e ANY LEFT JOIN persons p ON "
				   "e.person_id = p.id"),
			       ") AS e ANY LEFT JOIN ("));
}

static void test_aliases(void **state)
{
	(void)state;
	/* an alias equal to a column it uses: the column inside, renamed on 18.16 */
	assert_string_equal(v18("SELECT lower(event) AS event FROM events WHERE event = 'x'"),
			    "SELECT lower(events.event) AS event__hq FROM events WHERE and(" GUARD
			    ", equals(event__hq, 'x')) LIMIT 100");
	assert_string_equal(v24("SELECT lower(event) AS event FROM events WHERE event = 'x'"),
			    "SELECT lower(events.event) AS event FROM events WHERE and(" GUARD
			    ", equals(event, 'x')) LIMIT 100");
	/* outer references follow the renamed column of a subquery */
	assert_string_equal(
	    v18("SELECT s.timestamp FROM (SELECT timestamp FROM events) s"),
	    "SELECT s.timestamp__hq AS timestamp FROM (SELECT toTimeZone(events.timestamp, 'UTC') "
	    "AS timestamp__hq FROM events WHERE " GUARD ") AS s LIMIT 100");
	/* two fields with the same last name: only the first gets it */
	const char *p = v18("SELECT properties.name, group_0.properties.name FROM events");
	assert_int_equal(count(p, " AS name"), 1);
	/* identifiers are quoted; placeholder-looking names are left alone */
	assert_string_equal(v18("SELECT 1 AS `%(hogql_val_0)s`, 'v' AS `a``b`"),
			    "SELECT 1 AS `%(hogql_val_0)s`, 'v' AS `a\\`b` LIMIT 100");
}

static void test_values(void **state)
{
	(void)state;
	struct sn_hogql_ch_opts o = {.team_id = 7, .ch_major = 18, .ch_minor = 16};
	assert_string_equal(
	    print_opts("SELECT 'a', 'b', 'a' FROM events WHERE event = 'b'", &o, true),
	    "SELECT %(hogql_val_0)s, %(hogql_val_1)s, %(hogql_val_0)s FROM events "
	    "WHERE and(" GUARD ", equals(events.event, %(hogql_val_1)s)) LIMIT 100");
	/* escaping when inlined */
	assert_string_equal(v18("SELECT 'it''s', 'a\\\\b', 'nl\\n', 'x'') OR 1=1 --'"),
			    "SELECT 'it\\'s', 'a\\\\b', 'nl\\n', 'x\\') OR 1=1 --' LIMIT 100");
	struct sn_hogql_ch_values v = {0};
	const char *items[] = {"a'b", "c"};
	v.items = items;
	v.n = 2;
	struct sn_buf b;
	sn_buf_init(&b, 1 << 16);
	const char *sql = "SELECT %(hogql_val_1)s, '%(hogql_val_0)s', `%(hogql_val_0)s`, "
			  "%(hogql_val_0)s";
	assert_int_equal(sn_hogql_ch_inline(&b, sql, strlen(sql), &v), 0);
	assert_string_equal(b.data, "SELECT 'c', '%(hogql_val_0)s', `%(hogql_val_0)s`, 'a\\'b'");
	sn_buf_reset(&b);
	assert_int_equal(sn_hogql_ch_inline(&b, "SELECT %(hogql_val_2)s", 22, &v), SN_ERR_INVALID);
	sn_buf_reset(&b);
	assert_int_equal(sn_hogql_ch_quote(&b, "\0\x01\t", 3), 0);
	assert_string_equal(b.data, "'\\0\\x01\\t'");
	sn_buf_release(&b);
}

static void test_errors(void **state)
{
	(void)state;
	struct sn_arena a;
	sn_arena_init(&a, 1 << 20);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 16);
	struct sn_hogql_ch_values v = {0};
	struct sn_hogql_error err;
	struct sn_hogql_node *n = NULL;
	assert_int_equal(sn_hogql_parse_expr(&a, "1 + 1", 5, &n, &err), 0);
	assert_int_equal(sn_hogql_print_clickhouse(&a, n, NULL, &b, &v, NULL, 0, &err),
			 SN_ERR_INVALID);
	assert_string_equal(err.type, "QueryError");
	/* a buffer too small for the SQL is an error, and leaves nothing behind */
	struct sn_buf tiny;
	sn_buf_init(&tiny, 40);
	assert_int_equal(sn_hogql_parse_select(&a, "SELECT event FROM events", 24, &n, &err), 0);
	assert_int_equal(sn_hogql_resolve(&a, n, "SELECT event FROM events", 24, NULL, &err), 0);
	assert_int_equal(sn_hogql_print_clickhouse(&a, n, NULL, &tiny, &v, NULL, 0, &err),
			 SN_ERR_TOO_BIG);
	assert_int_equal(tiny.len, 0);
	sn_buf_release(&tiny);
	sn_buf_release(&b);
	sn_arena_release(&a);
	/* unsupported corners are errors with positions, never crashes */
	assert_string_equal(v18("SELECT event FROM events WHERE person_id IN COHORT 1.5"),
			    "ERR:QueryError:51:54:IN COHORT needs a cohort id or a cohort name");
	/* SAMPLE with lazy joins samples the innermost events level */
	const char *smp = v18("SELECT person.id FROM events SAMPLE 1/2 OFFSET 1/2");
	assert_non_null(strstr(smp, "FROM events AS l SAMPLE 1/2 OFFSET 1/2 LEFT JOIN ("));
	assert_int_equal(count(smp, "SAMPLE"), 1);
	assert_string_equal(v18("SELECT {'a': 1}"),
			    "ERR:NotImplementedError:7:15:Maps ({...}) are not available on "
			    "ClickHouse 18.16");
	assert_string_equal(v18("SELECT event FROM events GROUP BY ROLLUP(event)"),
			    "ERR:NotImplementedError:0:47:GROUP BY rollup is not available on "
			    "ClickHouse 18.16");
}

/* Every SELECT of the parser corpus (tests/hogql/corpus.txt, next to this
 * directory) that resolves prints for both versions or fails with a typed
 * error and a message: never a crash, an unknown code or an empty SQL. Also
 * the queries of tests/clickhouse/ for team 5: every physical table read in
 * the printed SQL is followed by its guard. */
static void test_corpus_never_crashes(void **state)
{
	(void)state;
	char path[4096];
	snprintf(path, sizeof(path), "%s", __FILE__);
	char *slash = strrchr(path, '/');
	assert_non_null(slash);
	*slash = 0;
	strncat(path, "/../hogql/corpus.txt", sizeof(path) - strlen(path) - 1);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[16384];
	size_t printed = 0, refused = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#' || strncmp(line, "expr:", 5) == 0)
			continue;
		for (int v = 0; v < 2; v++) {
			const char *r = v ? v24(line) : v18(line);
			assert_true(r[0] != 0);
			if (strncmp(r, "ERR:", 4) != 0) {
				printed++;
				assert_true(strncmp(r, "SELECT", 6) == 0 || r[0] == '(');
				continue;
			}
			refused++;
			assert_true(strncmp(r, "ERR:QueryError:", 15) == 0 ||
				    strncmp(r, "ERR:NotImplementedError:", 24) == 0 ||
				    strncmp(r, "ERR:SyntaxError:", 16) == 0);
		}
	}
	fclose(f);
	assert_true(printed >= 40);
	print_message("corpus: %zu printed, %zu refused\n", printed, refused);

	*strrchr(path, '/') = 0;
	strncat(path, "/../clickhouse/queries.hogql", sizeof(path) - strlen(path) - 1);
	f = fopen(path, "r");
	assert_non_null(f);
	struct sn_hogql_ch_opts o = {.team_id = 5, .ch_major = 18, .ch_minor = 16};
	size_t checked = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		char *q = strncmp(line, "tz:", 3) == 0 ? strchr(line, ' ') + 1 : line;
		char *arrow = strstr(q, " =>");
		if (arrow)
			*arrow = 0;
		const char *r = print_opts(q, &o, false);
		assert_true(strncmp(r, "ERR:", 4) != 0);
		static const char *const tables[] = {" FROM events",
						     " JOIN events",
						     " FROM person ",
						     " FROM person_distinct_id2 ",
						     " FROM person_distinct_id_overrides ",
						     " FROM groups ",
						     " FROM cohortpeople ",
						     " FROM person_static_cohort "};
		for (size_t t = 0; t < SN_ARRAY_LEN(tables); t++)
			for (const char *at = strstr(r, tables[t]); at;
			     at = strstr(at + 1, tables[t])) {
				/* the nearest WHERE after the table reference starts
				 * with its guard */
				const char *w = strstr(at, " WHERE ");
				assert_non_null(w);
				if (strncmp(w, " WHERE and(equals(", 18) != 0 &&
				    strncmp(w, " WHERE equals(", 14) != 0) {
					print_message("unguarded: %s\n", r);
					fail();
				}
				assert_non_null(strstr(w, "team_id, 5)"));
				checked++;
			}
		assert_int_equal(count(r, "team_id, 7)"), 0);
	}
	fclose(f);
	assert_true(checked >= 300);
}

/* ClickHouse 18.16 rewrites of what it would answer wrongly. */
/* The channel definition lookups: PostHog's dictGetOrNull reads, and on
 * 18.16 dictGetString with '' read back as NULL. */
static void test_channel_lookups(void **state)
{
	(void)state;
	assert_string_equal(v24("SELECT lookupPaidMediumType(event) FROM events"),
			    "SELECT dictGetOrNull('channel_definition_dict', 'type_if_paid', "
			    "tuple(coalesce(events.event, ''), 'medium')) FROM events WHERE " GUARD
			    " LIMIT 100");
	assert_string_equal(
	    v18("SELECT hogql_lookupOrganicSourceType(event) FROM events"),
	    "SELECT coalesce(nullIf(dictGetString('channel_definition_dict', 'type_if_organic', "
	    "tuple(coalesce(events.event, ''), 'source')), ''), "
	    "nullIf(dictGetString('channel_definition_dict', 'type_if_organic', "
	    "tuple(cutToFirstSignificantSubdomain(if(greater(position(coalesce(events.event, ''), "
	    "'://'), 0), coalesce(events.event, ''), concat('//', coalesce(events.event, '')))), "
	    "'source')), '')) FROM events WHERE " GUARD " LIMIT 100");
	assert_string_equal(
	    v24("SELECT lookupDomainType(distinct_id) FROM events"),
	    "SELECT coalesce(dictGetOrNull('channel_definition_dict', 'domain_type', "
	    "tuple(coalesce(events.distinct_id, ''), 'source')), "
	    "dictGetOrNull('channel_definition_dict', 'domain_type', "
	    "tuple(cutToFirstSignificantSubdomain(coalesce(events.distinct_id, '')), "
	    "'source'))) FROM events WHERE " GUARD " LIMIT 100");
	/* persons' virtual properties: the rules over the $initial_* properties */
	const char *p = v18("SELECT person.$virt_initial_channel_type FROM events");
	assert_non_null(strstr(p, "'$initial_utm_source'"));
	assert_non_null(strstr(p, "'Referral'"));
	p = v18("SELECT $virt_initial_referring_domain_type FROM persons");
	assert_non_null(strstr(p, "'domain_type'"));
	assert_non_null(strstr(p, "'$initial_referring_domain'"));
	assert_string_equal(v18("SELECT $virt_nope FROM persons"),
			    "ERR:QueryError:7:17:Unable to resolve field: $virt_nope");
}

static void test_v18_rewrites(void **state)
{
	(void)state;
	/* positional ORDER BY / GROUP BY: the select item (its alias if any) */
	assert_string_equal(
	    v18("SELECT event, count() FROM events GROUP BY 1 ORDER BY 2 DESC, 1"),
	    "SELECT events.event, count() FROM events WHERE " GUARD
	    " GROUP BY events.event ORDER BY count() DESC, events.event ASC LIMIT 100");
	assert_string_equal(
	    v18("SELECT lower(event) AS e, count() FROM events GROUP BY 1 ORDER BY 1"),
	    "SELECT lower(events.event) AS e, count() FROM events WHERE " GUARD
	    " GROUP BY e ORDER BY e ASC LIMIT 100");
	assert_string_equal(
	    v18("SELECT event FROM events ORDER BY 3"),
	    "ERR:QueryError:34:35:Positional argument 3 is out of range: the SELECT "
	    "has 1 item(s)");
	/* 24.x keeps positions */
	assert_string_equal(v24("SELECT event, count() FROM events GROUP BY 1 ORDER BY 2 DESC"),
			    "SELECT events.event, count() FROM events WHERE " GUARD
			    " GROUP BY 1 ORDER BY 2 DESC LIMIT 100");
	/* NULL members of IN: NULL IN (..., NULL) true, NOT IN false; without
	 * a NULL member NULL IN is false and NULL NOT IN true */
	assert_string_equal(
	    v18("SELECT count() FROM events WHERE properties.plan IN ('free', NULL)"),
	    "SELECT count() FROM events WHERE and(" GUARD
	    ", or(in(" P18("plan") ", "
				   "tuple('free')), isNull(" P18("plan") "))) LIMIT 100");
	assert_string_equal(
	    v18("SELECT count() FROM events WHERE properties.plan NOT IN ('free', NULL)"),
	    "SELECT count() FROM events WHERE and(" GUARD
	    ", and(notIn(" P18("plan") ", "
				       "tuple('free')), isNotNull(" P18("plan") "))) LIMIT 100");
	assert_string_equal(v18("SELECT count() FROM events WHERE properties.plan IN ('free')"),
			    "SELECT count() FROM events WHERE and(" GUARD ", and(in(" P18(
				"plan") ", "
					"tuple('free')), isNotNull(" P18("plan") "))) LIMIT 100");
	assert_string_equal(v18("SELECT count() FROM events WHERE properties.plan NOT IN ('free')"),
			    "SELECT count() FROM events WHERE and(" GUARD ", or(notIn(" P18(
				"plan") ", "
					"tuple('free')), isNull(" P18("plan") "))) LIMIT 100");
	assert_string_equal(v18("SELECT count() FROM events WHERE properties.plan IN (NULL)"),
			    "SELECT count() FROM events WHERE and(" GUARD
			    ", isNull(" P18("plan") ")) LIMIT 100");
	assert_string_equal(v18("SELECT count() FROM events WHERE event NOT IN ('a', NULL)"),
			    "SELECT count() FROM events WHERE and(" GUARD
			    ", notIn(events.event, tuple('a'))) LIMIT 100");
	/* IN (SELECT ...) with a nullable left side: a NULL x matches when the
	 * subquery has a NULL row */
#define SUBQ "(SELECT " P18("plan") " AS plan FROM events WHERE " GUARD ")"
	assert_string_equal(
	    v18("SELECT count() FROM events WHERE properties.plan IN (SELECT properties.plan FROM "
		"events)"),
	    "SELECT count() FROM events WHERE and(" GUARD
	    ", if(isNull(" P18("plan") "), in(1, "
				       "(SELECT isNull(plan) FROM " SUBQ
				       ")), in(" P18("plan") ", " SUBQ "))) LIMIT 100");
	assert_string_equal(
	    v18("SELECT count() FROM events WHERE properties.plan NOT IN (SELECT properties.plan "
		"FROM events)"),
	    "SELECT count() FROM events WHERE and(" GUARD
	    ", if(isNull(" P18("plan") "), notIn(1, "
				       "(SELECT isNull(plan) FROM " SUBQ
				       ")), notIn(" P18("plan") ", " SUBQ "))) LIMIT 100");
#undef SUBQ
	/* a UNION subquery is refused */
	assert_string_equal(
	    v18("SELECT count() FROM events WHERE properties.plan IN (SELECT properties.plan FROM "
		"events UNION ALL SELECT properties.plan FROM events)"),
	    "ERR:NotImplementedError:33:133:IN (SELECT ...) with a nullable left side is not "
	    "available on ClickHouse 18.16: it has no transform_null_in, so NULL would never "
	    "match a NULL row");
	assert_string_equal(
	    v18("SELECT count() FROM events WHERE event IN (SELECT properties.plan FROM events)"),
	    "SELECT count() FROM events WHERE and(" GUARD
	    ", in(events.event, (SELECT " P18("plan") " AS plan FROM events WHERE " GUARD
						      "))) LIMIT 100");
	/* DateTime compared with a Date: the Date side becomes a DateTime */
	assert_string_equal(
	    v18("SELECT count() FROM events WHERE timestamp >= "
		"toStartOfWeek(toDateTime('2026-11-25 "
		"00:00:00'))"),
	    "SELECT count() FROM events WHERE and(" GUARD ", ifNull(greaterOrEquals(toTimeZone("
	    "events.timestamp, 'UTC'), toDateTime(subtractDays(toDate("
	    "parseDateTimeBestEffortOrNull(toString('2026-11-25 00:00:00'), 'UTC')), modulo("
	    "toDayOfWeek(parseDateTimeBestEffortOrNull(toString('2026-11-25 00:00:00'), 'UTC')), "
	    "7)), 'UTC')), 0)) LIMIT 100");
	assert_string_equal(
	    v18("SELECT count() FROM events WHERE toDate('2026-11-25') < timestamp"),
	    "SELECT count() FROM events WHERE and(" GUARD ", ifNull(less(toDateTime(toDateOrNull("
	    "toString('2026-11-25')), 'UTC'), toTimeZone(events.timestamp, 'UTC')), 0)) LIMIT 100");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_guard_placement),
	    cmocka_unit_test(test_guard_virtual_tables),
	    cmocka_unit_test(test_lazy_joins),
	    cmocka_unit_test(test_sessions),
	    cmocka_unit_test(test_cohorts),
	    cmocka_unit_test(test_more_lazy),
	    cmocka_unit_test(test_filter_slice_using),
	    cmocka_unit_test(test_null_safe),
	    cmocka_unit_test(test_time_zones),
	    cmocka_unit_test(test_property_access),
	    cmocka_unit_test(test_rewrites),
	    cmocka_unit_test(test_aliases),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_channel_lookups),
	    cmocka_unit_test(test_v18_rewrites),
	    cmocka_unit_test(test_corpus_never_crashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
