/*
 * test_cohort.c — the cohort compiler (src/insights/cohort.c): a PostHog
 * dynamic cohort definition in, one HogQL statement of member person ids
 * out.
 *
 * Two kinds of tests:
 *   - golden: the exact HogQL of each criterion type, of nesting and
 *     negation, of legacy groups and of windows in a time zone with DST,
 *     with "now" pinned; and the errors malformed definitions get (each
 *     must name the criterion's path and the problem);
 *   - model: a generated data set (300 persons imported into a person
 *     store, ~3,000 events over 90 days written as a part, a few events on
 *     the window boundaries) and 20 cohort definitions whose members the
 *     test computes itself with plain loops; each compiled statement runs on
 *     the embedded executor and must return exactly the model's set. Every
 *     model set is checked to be neither empty nor everyone, so a compiler
 *     that returns all or nobody fails.
 *
 * Cohort in cohort: a dynamic cohort's members written to the person store
 * from its own statement's result, a static cohort added by distinct id,
 * and definitions naming them (AND, OR, negated) run through the
 * executor's IN COHORT against the model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec/exec.h"
#include "insights/insights.h"
#include "persons/persons.h"
#include "store/store.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SEC ((int64_t)1000000)
#define DAY (86400 * SEC)

/* 2024-06-15 12:00:00 UTC */
static int64_t now_us(void)
{
	return (sn_days_from_civil(2024, 6, 15) * 86400 + 12 * 3600) * SEC;
}

/* ---- compiling ------------------------------------------------------------------------- */

static const char *ACTION_STEPS =
    "[{\"event\": \"purchase\", \"properties\": [{\"key\": \"amount\", \"value\": 50, "
    "\"operator\": \"gt\", \"type\": \"event\"}]}, {\"event\": \"signup\"}]";

static int action_cb(void *ctx, int64_t id, struct sn_arena *a, char **name,
		     struct json_object **steps)
{
	(void)ctx;
	if (id != 7)
		return SN_ERR_NOT_FOUND;
	*name = sn_arena_strdup(a, "Big purchase or signup");
	*steps = json_tokener_parse(ACTION_STEPS);
	return *name && *steps ? 0 : SN_ERR_NOMEM;
}

static struct json_object *parse(const char *s)
{
	if (!s)
		return NULL;
	struct json_tokener *tok = json_tokener_new_ex(128);
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)strlen(s));
	json_tokener_free(tok);
	if (!o)
		fail_msg("bad test JSON: %s", s);
	return o;
}

/* Compiles {"properties": props} (props NULL: no filters) and legacy
 * groups; returns the statement (malloc'd) or NULL with *err filled. */
static char *compile_tz(const char *props, const char *groups, const char *tz,
			struct sn_insight_error *err)
{
	struct sn_cohort_compile_opts o = {
	    .team = {.id = 1, .timezone = tz},
	    .now_us = now_us(),
	    .action = action_cb,
	};
	struct json_object *f = NULL;
	if (props) {
		f = json_object_new_object();
		json_object_object_add(f, "properties", parse(props));
	}
	struct json_object *g = parse(groups);
	struct sn_arena a;
	sn_arena_init(&a, 1 << 24);
	struct sn_buf out;
	sn_buf_init(&out, 1 << 24);
	int rc = sn_cohort_compile(&o, f, g, &a, &out, err);
	char *s = NULL;
	if (rc == 0) {
		assert_non_null(out.data);
		s = strdup(out.data);
	} else {
		assert_int_equal(rc, SN_ERR_INVALID);
		assert_int_equal(out.len, 0);
		assert_true(err->msg[0] != 0);
	}
	sn_buf_release(&out);
	sn_arena_release(&a);
	json_object_put(f);
	json_object_put(g);
	return s;
}

static char *compile(const char *props, const char *groups, struct sn_insight_error *err)
{
	return compile_tz(props, groups, NULL, err);
}

/* ---- golden HogQL ---------------------------------------------------------------------- */

#define SEL "SELECT id FROM persons AS person WHERE "
#define NOW "toDateTime('2024-06-15 12:00:00', 'UTC')"

static void expect_hogql(const char *props, const char *groups, const char *want)
{
	struct sn_insight_error err;
	char *got = compile(props, groups, &err);
	if (!got)
		fail_msg("compile failed: %s\n  for %s", err.msg, props ? props : groups);
	if (strcmp(got, want) != 0)
		fail_msg("HogQL differs for %s\n got: %s\nwant: %s", props ? props : groups, got,
			 want);
	free(got);
}

static void test_golden_person_and_cohort(void **state)
{
	(void)state;
	expect_hogql("{\"type\": \"AND\", \"values\": [{\"type\": \"AND\", \"values\": [{\"key\": "
		     "\"email\", \"type\": \"person\", \"value\": \"corp\", \"operator\": "
		     "\"icontains\"}, {\"key\": \"age\", \"type\": \"person\", \"value\": 30, "
		     "\"operator\": \"gte\", \"negation\": true}]}]}",
		     NULL,
		     SEL "(((toString(person.properties.email) ILIKE '%corp%') AND "
			 "not(ifNull((toFloat(person.properties.age) >= 30), 0))))");
	/* cohort in cohort, every cohort flavour, negated or not */
	expect_hogql("{\"type\": \"OR\", \"values\": [{\"type\": \"cohort\", \"key\": \"id\", "
		     "\"value\": 12}, {\"type\": \"AND\", \"values\": [{\"type\": "
		     "\"static-cohort\", \"key\": \"id\", \"value\": \"13\"}, {\"type\": "
		     "\"precalculated-cohort\", \"key\": \"id\", \"value\": 14, \"negation\": "
		     "true}]}]}",
		     NULL, SEL "(id IN COHORT 12 OR (id IN COHORT 13 AND id NOT IN COHORT 14))");
	/* a bare list of criteria is an AND */
	expect_hogql("[{\"key\": \"plan\", \"type\": \"person\", \"value\": [\"pro\", "
		     "\"enterprise\"]}, {\"key\": \"plan\", \"type\": \"person\", \"operator\": "
		     "\"is_set\"}]",
		     NULL,
		     SEL "((person.properties.plan IN ('pro', 'enterprise')) AND "
			 "isNotNull(person.properties.plan))");
}

static void test_golden_behavioral(void **state)
{
	(void)state;
	/* performed_event, last 30 days, with event filters */
	expect_hogql(
	    "{\"type\": \"AND\", \"values\": [{\"type\": \"behavioral\", \"value\": "
	    "\"performed_event\", \"key\": \"purchase\", \"event_type\": \"events\", "
	    "\"time_value\": 30, \"time_interval\": \"day\", \"event_filters\": [{\"key\": "
	    "\"$browser\", \"value\": \"Chrome\", \"type\": \"event\", \"operator\": "
	    "\"exact\"}]}]}",
	    NULL,
	    SEL "(id IN (SELECT person_id FROM events WHERE (event = 'purchase') AND "
		"((properties.$browser = 'Chrome')) AND timestamp >= toDateTime('2024-05-16 "
		"12:00:00', 'UTC') AND timestamp <= " NOW " GROUP BY person_id))");
	/* performed_event_multiple, negated, an action, months */
	expect_hogql(
	    "{\"type\": \"AND\", \"values\": [{\"type\": \"person\", \"key\": \"plan\", "
	    "\"value\": \"pro\"}, {\"type\": \"behavioral\", \"value\": "
	    "\"performed_event_multiple\", \"key\": 7, \"event_type\": \"actions\", "
	    "\"operator\": \"gte\", \"operator_value\": 2, \"time_value\": \"1\", "
	    "\"time_interval\": \"month\", \"negation\": true}]}",
	    NULL,
	    SEL "((person.properties.plan = 'pro') AND id NOT IN (SELECT person_id FROM events "
		"WHERE (((event = 'purchase' AND ((toFloat(properties.amount) > 50))) OR (event = "
		"'signup'))) AND timestamp >= toDateTime('2024-05-15 12:00:00', 'UTC') AND "
		"timestamp <= " NOW " GROUP BY person_id HAVING count() >= 2))");
	/* first time, with an explicit date range */
	expect_hogql(
	    "{\"type\": \"OR\", \"values\": [{\"type\": \"behavioral\", \"value\": "
	    "\"performed_event_first_time\", \"key\": \"signup\", \"event_type\": \"events\", "
	    "\"explicit_datetime\": \"2024-06-01\", \"explicit_datetime_to\": \"2024-06-10\", "
	    "\"event_filters\": [{\"key\": \"$browser\", \"value\": \"Chrome\", \"type\": "
	    "\"event\"}]}]}",
	    NULL,
	    SEL "(id IN (SELECT person_id FROM events WHERE (event = 'signup') AND timestamp <= "
		"toDateTime('2024-06-10 23:59:59', 'UTC') GROUP BY person_id HAVING "
		"min(timestamp) >= toDateTime('2024-06-01 00:00:00', 'UTC') AND minIf(timestamp, "
		"((properties.$browser = 'Chrome'))) = min(timestamp)))");
	/* regularly: at least 1 a week in 2 of the last 3 weeks */
	expect_hogql(
	    "{\"type\": \"OR\", \"values\": [{\"type\": \"behavioral\", \"value\": "
	    "\"performed_event_regularly\", \"key\": \"$pageview\", \"event_type\": "
	    "\"events\", \"operator\": \"gte\", \"operator_value\": 1, \"time_value\": 1, "
	    "\"time_interval\": \"week\", \"min_periods\": 2, \"total_periods\": 3}]}",
	    NULL,
	    SEL "(id IN (SELECT person_id FROM events WHERE (event = '$pageview') AND timestamp "
		"<= " NOW " AND timestamp > toDateTime('2024-05-25 12:00:00', 'UTC') GROUP BY "
		"person_id HAVING (if(countIf(timestamp > toDateTime('2024-06-08 12:00:00', "
		"'UTC') AND timestamp <= " NOW ") >= 1, 1, 0) + if(countIf(timestamp > "
		"toDateTime('2024-06-01 12:00:00', 'UTC') AND timestamp <= "
		"toDateTime('2024-06-08 12:00:00', 'UTC')) >= 1, 1, 0) + if(countIf(timestamp > "
		"toDateTime('2024-05-25 12:00:00', 'UTC') AND timestamp <= "
		"toDateTime('2024-06-01 12:00:00', 'UTC')) >= 1, 1, 0)) >= 2))");
	/* stopped and restarted */
	expect_hogql(
	    "{\"type\": \"AND\", \"values\": [{\"type\": \"behavioral\", \"value\": "
	    "\"stopped_performing_event\", \"key\": \"purchase\", \"event_type\": \"events\", "
	    "\"time_value\": 60, \"time_interval\": \"day\", \"seq_time_value\": 2, "
	    "\"seq_time_interval\": \"week\"}, {\"type\": \"behavioral\", \"value\": "
	    "\"restarted_performing_event\", \"key\": \"signup\", \"event_type\": \"events\", "
	    "\"time_value\": 1, \"time_interval\": \"year\", \"seq_time_value\": 1, "
	    "\"seq_time_interval\": \"day\"}]}",
	    NULL,
	    SEL "(id IN (SELECT person_id FROM events WHERE (event = 'purchase') AND timestamp >= "
		"toDateTime('2024-04-16 12:00:00', 'UTC') AND timestamp <= " NOW " GROUP BY "
		"person_id HAVING countIf(timestamp >= toDateTime('2024-06-01 12:00:00', 'UTC')) "
		"= 0) AND id IN (SELECT person_id FROM events WHERE (event = 'signup') AND "
		"timestamp <= " NOW " GROUP BY person_id HAVING countIf(timestamp < "
		"toDateTime('2023-06-15 12:00:00', 'UTC')) > 0 AND countIf(timestamp >= "
		"toDateTime('2023-06-15 12:00:00', 'UTC') AND timestamp < toDateTime('2024-06-14 "
		"12:00:00', 'UTC')) = 0 AND countIf(timestamp >= toDateTime('2024-06-14 12:00:00', "
		"'UTC')) > 0))");
	/* sequence: signup, then purchase within 1 day, in the last 90 days */
	expect_hogql(
	    "{\"type\": \"AND\", \"values\": [{\"type\": \"behavioral\", \"value\": "
	    "\"performed_event_sequence\", \"key\": \"signup\", \"event_type\": \"events\", "
	    "\"time_value\": 90, \"time_interval\": \"day\", \"seq_event\": \"purchase\", "
	    "\"seq_event_type\": \"events\", \"seq_time_value\": 1, \"seq_time_interval\": "
	    "\"day\"}]}",
	    NULL,
	    SEL "(id IN (SELECT s1.person_id FROM (SELECT person_id, timestamp, uuid FROM events "
		"WHERE (event = 'signup') AND timestamp >= toDateTime('2024-03-17 12:00:00', "
		"'UTC') AND timestamp <= " NOW ") AS s1 INNER JOIN (SELECT person_id, timestamp, "
		"uuid FROM events WHERE (event = 'purchase') AND timestamp >= "
		"toDateTime('2024-03-17 12:00:00', 'UTC') AND timestamp <= " NOW ") AS s2 ON "
		"s1.person_id = s2.person_id WHERE s2.timestamp >= s1.timestamp AND s2.timestamp "
		"<= s1.timestamp + INTERVAL 86400 SECOND AND s1.uuid != s2.uuid GROUP BY "
		"s1.person_id))");
}

static void test_golden_nesting_and_legacy(void **state)
{
	(void)state;
	/* OR of ANDs, with an OR mixing a negated criterion inside an AND */
	expect_hogql("{\"type\": \"OR\", \"values\": [{\"type\": \"AND\", \"values\": [{\"type\": "
		     "\"person\", \"key\": \"a\", \"value\": \"1\"}, {\"type\": \"OR\", "
		     "\"values\": [{\"type\": \"person\", \"key\": \"b\", \"value\": \"2\", "
		     "\"negation\": true}, {\"type\": \"cohort\", \"value\": 3}]}]}, {\"type\": "
		     "\"AND\", \"values\": [{\"type\": \"person\", \"key\": \"c\", \"operator\": "
		     "\"is_not_set\"}]}]}",
		     NULL,
		     SEL "(((person.properties.a = '1') AND (not(ifNull((person.properties.b = "
			 "'2'), 0)) OR id IN COHORT 3)) OR (isNull(person.properties.c)))");
	/* legacy groups: person properties (the old "event" type), old-old
	 * {key: value}, an event with a count, an action without one */
	expect_hogql(
	    NULL,
	    "[{\"properties\": [{\"key\": \"plan\", \"value\": \"pro\", \"type\": \"event\"}, "
	    "{\"key\": \"age\", \"value\": 40, \"operator\": \"lt\"}]}, {\"properties\": "
	    "{\"email\": \"a@b.c\"}}, {\"event_id\": \"purchase\", \"days\": 14, \"count\": 3, "
	    "\"count_operator\": \"lte\"}, {\"action_id\": 7}]",
	    SEL "(((person.properties.plan = 'pro') AND (toFloat(person.properties.age) < 40)) OR "
		"((person.properties.email = 'a@b.c')) OR (id IN (SELECT person_id FROM events "
		"WHERE (event = 'purchase') AND timestamp >= toDateTime('2024-06-01 12:00:00', "
		"'UTC') AND timestamp <= " NOW " GROUP BY person_id HAVING count() <= 3)) OR (id "
		"IN (SELECT person_id FROM events WHERE (((event = 'purchase' AND "
		"((toFloat(properties.amount) > 50))) OR (event = 'signup'))) AND timestamp >= "
		"toDateTime('2023-06-16 12:00:00', 'UTC') AND timestamp <= " NOW
		" GROUP BY person_id)))");
}

/* filterTestAccounts: the project's person filters join with an AND; its
 * event filters do not apply to persons. */
static void test_golden_test_accounts(void **state)
{
	(void)state;
	struct json_object *ta =
	    parse("[{\"key\": \"email\", \"type\": \"person\", \"value\": \"@posthog.com\", "
		  "\"operator\": \"not_icontains\"}, {\"key\": \"$host\", \"type\": \"event\", "
		  "\"value\": \"localhost\", \"operator\": \"is_not\"}]");
	struct sn_cohort_compile_opts o = {.team = {.id = 1, .test_account_filters = ta},
					   .now_us = now_us()};
	struct json_object *f =
	    parse("{\"filterTestAccounts\": true, \"properties\": {\"type\": "
		  "\"OR\", \"values\": [{\"type\": \"cohort\", \"value\": 4}]}}");
	struct sn_arena a;
	sn_arena_init(&a, 1 << 20);
	struct sn_buf out;
	sn_buf_init(&out, 1 << 20);
	struct sn_insight_error err;
	assert_int_equal(sn_cohort_compile(&o, f, NULL, &a, &out, &err), 0);
	assert_string_equal(out.data,
			    SEL "(id IN COHORT 4) AND ((toString(person.properties.email) "
				"NOT ILIKE '%@posthog.com%'))");
	/* without the flag, nothing is added */
	json_object_object_add(f, "filterTestAccounts", json_object_new_boolean(0));
	out.len = 0;
	assert_int_equal(sn_cohort_compile(&o, f, NULL, &a, &out, &err), 0);
	assert_string_equal(out.data, SEL "(id IN COHORT 4)");
	sn_buf_release(&out);
	sn_arena_release(&a);
	json_object_put(f);
	json_object_put(ta);
}

/* Windows are computed on the team's wall clock: 7 days back from
 * 2024-03-12 12:00 in New York crosses the DST start (2024-03-10), so it is
 * 6 days 23 hours of real time; a month back from 12:00 local. */
static void test_golden_time_zone(void **state)
{
	(void)state;
	struct sn_cohort_compile_opts o = {
	    .team = {.id = 1, .timezone = "America/New_York"},
	    .now_us = (sn_days_from_civil(2024, 3, 12) * 86400 + 16 * 3600) * SEC}; /* 12:00 EDT */
	struct json_object *f =
	    parse("{\"properties\": {\"type\": \"AND\", \"values\": [{\"type\": \"behavioral\", "
		  "\"value\": \"performed_event\", \"key\": \"x\", \"event_type\": \"events\", "
		  "\"time_value\": 7, \"time_interval\": \"day\"}, {\"type\": \"behavioral\", "
		  "\"value\": \"performed_event\", \"key\": \"y\", \"event_type\": \"events\", "
		  "\"explicit_datetime\": \"2024-03-01\"}]}}");
	struct sn_arena a;
	sn_arena_init(&a, 1 << 20);
	struct sn_buf out;
	sn_buf_init(&out, 1 << 20);
	struct sn_insight_error err;
	assert_int_equal(sn_cohort_compile(&o, f, NULL, &a, &out, &err), 0);
	const char *want =
	    SEL "(id IN (SELECT person_id FROM events WHERE (event = 'x') AND timestamp >= "
		"toDateTime('2024-03-05 17:00:00', 'UTC') AND timestamp <= toDateTime('2024-03-12 "
		"16:00:00', 'UTC') GROUP BY person_id) AND id IN (SELECT person_id FROM events "
		"WHERE (event = 'y') AND timestamp >= toDateTime('2024-03-01 05:00:00', 'UTC') AND "
		"timestamp <= toDateTime('2024-03-12 16:00:00', 'UTC') GROUP BY person_id))";
	if (strcmp(out.data, want) != 0)
		fail_msg("got:  %s\nwant: %s", out.data, want);
	sn_buf_release(&out);
	sn_arena_release(&a);
	json_object_put(f);
}

/* ---- errors ---------------------------------------------------------------------------- */

static void expect_error(const char *props, const char *groups, const char *type,
			 const char *needle1, const char *needle2)
{
	struct sn_insight_error err;
	char *got = compile(props, groups, &err);
	if (got)
		fail_msg("expected an error for %s, got %s", props ? props : groups, got);
	if (strcmp(err.type, type) != 0 || !strstr(err.msg, needle1) ||
	    (needle2 && !strstr(err.msg, needle2)))
		fail_msg("error for %s\n  is [%s] %s\n  want [%s] with '%s' and '%s'",
			 props ? props : groups, err.type, err.msg, type, needle1,
			 needle2 ? needle2 : "");
}

#define BEH(extra)                                                                            \
	"{\"type\": \"AND\", \"values\": [{\"type\": \"person\", \"key\": \"p\", \"value\": " \
	"\"v\"}, {\"type\": \"behavioral\", " extra "}]}"

static void test_errors(void **state)
{
	(void)state;
	expect_error(NULL, NULL, "validation_error", "no criteria", NULL);
	expect_error("{\"type\": \"AND\", \"values\": []}", NULL, "validation_error",
		     "group properties has no criteria", NULL);
	expect_error("{\"type\": \"AND\", \"values\": [{\"type\": \"OR\", \"values\": [{\"type\": "
		     "\"AND\", \"values\": []}]}]}",
		     NULL, "validation_error", "properties.values[0].values[0] has no criteria",
		     NULL);
	expect_error("{\"type\": \"AND\", \"values\": [{\"key\": \"a\", \"value\": 1}]}", NULL,
		     "validation_error", "properties.values[0]", "needs a 'type'");
	expect_error("{\"type\": \"AND\", \"values\": [{\"type\": \"lifecycle\", \"key\": "
		     "\"a\"}]}",
		     NULL, "not_supported", "properties.values[0]", "'lifecycle'");
	/* missing keys, unknown values, bad operators */
	expect_error(BEH("\"key\": \"e\", \"event_type\": \"events\", \"time_value\": 3, "
			 "\"time_interval\": \"day\""),
		     NULL, "validation_error", "properties.values[1]", "needs a 'value'");
	expect_error(BEH("\"value\": \"performed_event_weekly\", \"key\": \"e\", \"event_type\": "
			 "\"events\""),
		     NULL, "not_supported", "properties.values[1]", "performed_event_weekly");
	expect_error(BEH("\"value\": \"performed_event\", \"key\": \"e\", \"event_type\": "
			 "\"events\", \"time_interval\": \"day\""),
		     NULL, "validation_error", "behavioral performed_event",
		     "time_value is missing");
	expect_error(BEH("\"value\": \"performed_event\", \"key\": \"e\", \"event_type\": "
			 "\"events\", \"time_value\": \"abc\", \"time_interval\": \"day\""),
		     NULL, "validation_error", "properties.values[1]",
		     "time_value must be an integer, got \"abc\"");
	expect_error(BEH("\"value\": \"performed_event\", \"key\": \"e\", \"event_type\": "
			 "\"events\", \"time_value\": 0, \"time_interval\": \"day\""),
		     NULL, "validation_error", "properties.values[1]", "greater than 0");
	expect_error(BEH("\"value\": \"performed_event\", \"key\": \"e\", \"event_type\": "
			 "\"events\", \"time_value\": 3, \"time_interval\": \"fortnight\""),
		     NULL, "validation_error", "properties.values[1]", "'fortnight'");
	expect_error(BEH("\"value\": \"performed_event\", \"key\": \"e\", \"event_type\": "
			 "\"people\", \"time_value\": 3, \"time_interval\": \"day\""),
		     NULL, "validation_error", "properties.values[1]",
		     "'events' or 'actions', got 'people'");
	expect_error(BEH("\"value\": \"performed_event\", \"event_type\": \"events\", "
			 "\"time_value\": 3, \"time_interval\": \"day\""),
		     NULL, "validation_error", "properties.values[1]", "key must name the event");
	expect_error(BEH("\"value\": \"performed_event\", \"key\": 99, \"event_type\": "
			 "\"actions\", \"time_value\": 3, \"time_interval\": \"day\""),
		     NULL, "validation_error", "properties.values[1]", "action 99 does not exist");
	expect_error(BEH("\"value\": \"performed_event_multiple\", \"key\": \"e\", "
			 "\"event_type\": \"events\", \"operator\": \"about\", \"operator_value\": "
			 "2, \"time_value\": 3, \"time_interval\": \"day\""),
		     NULL, "validation_error", "behavioral performed_event_multiple",
		     "operator must be gte, lte, gt, lt or eq, got 'about'");
	expect_error(BEH("\"value\": \"performed_event_multiple\", \"key\": \"e\", "
			 "\"event_type\": \"events\", \"operator\": \"gte\", \"time_value\": 3, "
			 "\"time_interval\": \"day\""),
		     NULL, "validation_error", "properties.values[1]", "operator_value is missing");
	expect_error(
	    BEH("\"value\": \"performed_event_regularly\", \"key\": \"e\", "
		"\"event_type\": \"events\", \"operator\": \"gte\", \"operator_value\": 1, "
		"\"time_value\": 1, \"time_interval\": \"week\", \"min_periods\": 4, "
		"\"total_periods\": 3"),
	    NULL, "validation_error", "properties.values[1]",
	    "min_periods (4) cannot be greater than total_periods (3)");
	expect_error(BEH("\"value\": \"stopped_performing_event\", \"key\": \"e\", "
			 "\"event_type\": \"events\", \"time_value\": 7, \"time_interval\": "
			 "\"day\", \"seq_time_value\": 2, \"seq_time_interval\": \"week\""),
		     NULL, "validation_error", "properties.values[1]", "further back");
	expect_error(BEH("\"value\": \"performed_event_sequence\", \"key\": \"e\", "
			 "\"event_type\": \"events\", \"time_value\": 7, \"time_interval\": "
			 "\"day\", \"seq_time_value\": 2, \"seq_time_interval\": \"day\""),
		     NULL, "validation_error", "properties.values[1]", "seq_event_type is missing");
	expect_error(BEH("\"value\": \"performed_event\", \"key\": \"e\", \"event_type\": "
			 "\"events\", \"explicit_datetime\": \"yesterday-ish\""),
		     NULL, "validation_error", "properties.values[1]", NULL);
	expect_error(BEH("\"value\": \"performed_event\", \"key\": \"e\", \"event_type\": "
			 "\"events\", \"time_value\": 3, \"time_interval\": \"day\", "
			 "\"event_filters\": [{\"key\": \"x\", \"operator\": \"sounds_like\", "
			 "\"value\": 1}]"),
		     NULL, "not_supported", "properties.values[1]", "sounds_like");
	expect_error("{\"type\": \"AND\", \"values\": [{\"type\": \"person\", \"value\": 1}]}",
		     NULL, "validation_error", "properties.values[0] (person)", "'key'");
	expect_error("{\"type\": \"AND\", \"values\": [{\"type\": \"cohort\", \"value\": "
		     "\"x\"}]}",
		     NULL, "validation_error", "properties.values[0] (cohort)", "value must be");
	expect_error("{\"type\": \"AND\", \"values\": [{\"type\": \"person\", \"key\": \"a\", "
		     "\"value\": 1, \"negation\": \"yes\"}]}",
		     NULL, "validation_error", "properties.values[0]", "negation must be");
	expect_error(NULL, "[{\"days\": 3}]", "validation_error", "groups[0]",
		     "neither properties nor");
	expect_error(NULL, "[{\"event_id\": \"e\", \"days\": \"x\"}]", "validation_error",
		     "groups[0] (event_id)", "days must be an integer");
}

/* Bounds: a full output buffer and too deep a tree are errors, not crashes,
 * and leave nothing behind; a legacy action_id of 0 falls back to event_id
 * (Python's `or`). */
static void test_limits(void **state)
{
	(void)state;
	struct sn_cohort_compile_opts o = {.team = {.id = 1}, .now_us = now_us()};
	struct json_object *f = parse("{\"properties\": {\"type\": \"AND\", \"values\": "
				      "[{\"type\": \"cohort\", \"value\": 123456789}]}}");
	struct sn_arena a;
	sn_arena_init(&a, 1 << 20);
	struct sn_buf out;
	sn_buf_init(&out, 48);
	assert_int_equal(sn_buf_appends(&out, "keep"), 0);
	struct sn_insight_error err;
	int rc = sn_cohort_compile(&o, f, NULL, &a, &out, &err);
	assert_true(rc != 0 && rc != SN_ERR_INVALID);
	assert_int_equal(out.len, 4);
	assert_non_null(strstr(err.msg, "too large"));
	sn_buf_release(&out);
	sn_arena_release(&a);
	json_object_put(f);

	char deep[2048] = "";
	for (int i = 0; i < 30; i++)
		strcat(deep, "{\"type\": \"AND\", \"values\": [");
	strcat(deep, "{\"type\": \"cohort\", \"value\": 1}");
	for (int i = 0; i < 30; i++)
		strcat(deep, "]}");
	expect_error(deep, NULL, "validation_error", "nest too deeply", NULL);

	expect_hogql(NULL, "[{\"action_id\": 0, \"event_id\": \"e\", \"days\": \"2\"}]",
		     SEL
		     "((id IN (SELECT person_id FROM events WHERE (event = 'e') AND timestamp >= "
		     "toDateTime('2024-06-13 12:00:00', 'UTC') AND timestamp <= " NOW
		     " GROUP BY person_id)))");
}

/* PostHog's rule: the tree may not be negated as a whole. */
static void test_negation_rule(void **state)
{
	(void)state;
	const char *P = "{\"type\": \"person\", \"key\": \"a\", \"value\": \"1\"}";
	const char *N = "{\"type\": \"person\", \"key\": \"a\", \"value\": \"1\", \"negation\": "
			"true}";
	char buf[1024];
	struct sn_insight_error err;
	/* all negated in an AND; a negated criterion alone; OR with a negated one */
	const char *bad[][2] = {{N, N}, {N, NULL}};
	for (size_t i = 0; i < 2; i++) {
		if (bad[i][1])
			snprintf(buf, sizeof(buf), "{\"type\": \"AND\", \"values\": [%s, %s]}",
				 bad[i][0], bad[i][1]);
		else
			snprintf(buf, sizeof(buf), "{\"type\": \"AND\", \"values\": [%s]}",
				 bad[i][0]);
		expect_error(buf, NULL, "validation_error", "negated as a whole", NULL);
	}
	snprintf(buf, sizeof(buf), "{\"type\": \"OR\", \"values\": [%s, %s]}", P, N);
	expect_error(buf, NULL, "validation_error", "negated as a whole", NULL);
	/* fine: AND with a positive one, and that OR inside an AND with a
	 * positive one (De Morgan: P AND NOT(NOT P2 AND N2)) */
	snprintf(buf, sizeof(buf), "{\"type\": \"AND\", \"values\": [%s, %s]}", N, P);
	char *s = compile(buf, NULL, &err);
	assert_non_null(s);
	free(s);
	snprintf(buf, sizeof(buf),
		 "{\"type\": \"AND\", \"values\": [%s, {\"type\": \"OR\", \"values\": [%s, %s]}]}",
		 P, P, N);
	s = compile(buf, NULL, &err);
	assert_non_null(s);
	free(s);
}

/* ---- the model ------------------------------------------------------------------------- */

#define NP    300
#define MAXEV 48

enum { EV_PV, EV_PURCHASE, EV_SIGNUP, EV_OTHER };
static const char *const EVN[] = {"$pageview", "purchase", "signup", "churn_click"};
static const char *const BROWSERS[] = {"Chrome", "Firefox", "Safari"};
static const char *const PLANS[] = {"free", "pro", "enterprise"};

struct mev {
	int e;
	int64_t ts;
	int browser; /* index into BROWSERS */
	int amount;
};

struct mperson {
	char uuid[37];
	int plan; /* -1: no plan property */
	int age;
	bool corp; /* email @corp.com */
	struct mev ev[MAXEV];
	int nev;
};

static struct mperson P[NP];

struct world {
	char dir[512], store[600];
	struct sn_persons *ps;
	int64_t nevents;
};

static struct world W;

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void add_ev(struct mperson *p, int e, int64_t ts)
{
	if (p->nev == MAXEV)
		return;
	struct mev *m = &p->ev[p->nev++];
	m->e = e;
	m->ts = ts;
	m->browser = (int)(rnd() % 3);
	m->amount = (int)(rnd() % 100);
}

static void gen(void)
{
	int64_t now = now_us();
	for (int i = 0; i < NP; i++) {
		struct mperson *p = &P[i];
		memset(p, 0, sizeof(*p));
		p->plan = i % 11 == 0 ? -1 : i % 3;
		p->age = 18 + (i * 7) % 60;
		p->corp = i % 4 == 0;
		if (i % 10 == 9)
			continue; /* persons without events */
		int n = (int)(rnd() % 24);
		for (int k = 0; k < n; k++) {
			uint64_t r = rnd() % 100;
			int e = r < 45	 ? EV_PV
				: r < 70 ? EV_PURCHASE
				: r < 80 ? EV_SIGNUP
					 : EV_OTHER;
			add_ev(p, e, now - (int64_t)(rnd() % (90 * 86400)) * SEC);
		}
		if (i % 7 == 0) { /* a signup with a purchase some hours later */
			int64_t t = now - (int64_t)(rnd() % (80 * 86400)) * SEC;
			add_ev(p, EV_SIGNUP, t);
			add_ev(p, EV_PURCHASE, t + (int64_t)(rnd() % 40) * 3600 * SEC);
		}
	}
	/* the window boundaries: exactly 30 days ago (in), one second earlier
	 * (out), now itself (in), one second after now (out) */
	add_ev(&P[1], EV_PURCHASE, now - 30 * DAY);
	add_ev(&P[2], EV_PURCHASE, now - 30 * DAY - SEC);
	add_ev(&P[3], EV_PURCHASE, now);
	add_ev(&P[4], EV_PURCHASE, now + SEC);
	/* a purchase exactly one day after a signup (in), and one second more */
	add_ev(&P[5], EV_SIGNUP, now - 50 * DAY);
	add_ev(&P[5], EV_PURCHASE, now - 49 * DAY);
	add_ev(&P[6], EV_SIGNUP, now - 50 * DAY);
	add_ev(&P[6], EV_PURCHASE, now - 49 * DAY + SEC);
}

static int world_setup(void **state)
{
	(void)state;
	struct sn_err err = {0};
	gen();
	assert_int_equal(sn_test_tmpdir(W.dir, sizeof(W.dir), "test_cohort"), 0);
	assert_int_equal(sn_persons_open(&W.ps, W.dir, NULL, &err), 0);
	snprintf(W.store, sizeof(W.store), "%s/store", W.dir);
	assert_int_equal(mkdir(W.store, 0755), 0);
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	int64_t seq = 0;
	for (int i = 0; i < NP; i++) {
		struct mperson *p = &P[i];
		char did[32], props[256];
		snprintf(did, sizeof(did), "d%d", i);
		int n = snprintf(props, sizeof(props), "{\"age\": %d, \"email\": \"p%d@%s.com\"",
				 p->age, i, p->corp ? "corp" : "mail");
		if (p->plan >= 0)
			n += snprintf(props + n, sizeof(props) - (size_t)n, ", \"plan\": \"%s\"",
				      PLANS[p->plan]);
		snprintf(props + n, sizeof(props) - (size_t)n, "}");
		struct json_object *pj = parse(props);
		const char *ids[] = {did};
		assert_int_equal(
		    sn_persons_import(W.ps, 1, ids, 1, pj, now_us() - 100 * DAY, p->uuid, &err), 0);
		json_object_put(pj);
		for (int k = 0; k < p->nev; k++) {
			const struct mev *m = &p->ev[k];
			char uuid[37], ep[128];
			snprintf(uuid, sizeof(uuid), "00000000-0000-7000-8000-%012lld",
				 (long long)++seq);
			snprintf(ep, sizeof(ep), "{\"$browser\": \"%s\", \"amount\": %d}",
				 BROWSERS[m->browser], m->amount);
			struct sn_event_row er = {0};
			struct sn_uuid u;
			assert_int_equal(sn_uuid_parse(uuid, 36, &u), 0);
			memcpy(er.uuid, &u, 16);
			assert_int_equal(sn_uuid_parse(p->uuid, 36, &u), 0);
			memcpy(er.person_id, &u, 16);
			er.team_id = 1;
			er.timestamp_us = er.created_at_us = m->ts;
			er.event = (struct sn_str){EVN[m->e], strlen(EVN[m->e])};
			er.distinct_id = (struct sn_str){did, strlen(did)};
			er.properties = (struct sn_str){ep, strlen(ep)};
			er.elements_chain = (struct sn_str){"", 0};
			assert_int_equal(sn_memtable_append(&mt, &er, &err), 0);
		}
	}
	W.nevents = seq;
	struct sn_part_write_opts o = {.granule_rows = 256, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, W.store, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
	return 0;
}

static int world_teardown(void **state)
{
	(void)state;
	sn_persons_close(W.ps);
	sn_test_rm_rf(W.dir);
	return 0;
}

/* Events of kind e (-1: any) with from <= ts <= to that pass ok (NULL: all). */
static int cnt(const struct mperson *p, int e, int64_t from, int64_t to,
	       bool (*ok)(const struct mev *))
{
	int n = 0;
	for (int k = 0; k < p->nev; k++) {
		const struct mev *m = &p->ev[k];
		if ((e < 0 || m->e == e) && m->ts >= from && m->ts <= to && (!ok || ok(m)))
			n++;
	}
	return n;
}

static int64_t ago_days(int d)
{
	return now_us() - d * DAY;
}

static bool chrome(const struct mev *m)
{
	return m->browser == 0;
}
static bool big(const struct mev *m)
{
	return m->amount > 50;
}
/* action 7: purchase with amount > 50, or signup */
static bool action7(const struct mev *m)
{
	return (m->e == EV_PURCHASE && m->amount > 50) || m->e == EV_SIGNUP;
}

static bool m_purchase_30d(const struct mperson *p)
{
	return cnt(p, EV_PURCHASE, ago_days(30), now_us(), NULL) > 0;
}
static bool m_purchase_2x_30d(const struct mperson *p)
{
	return cnt(p, EV_PURCHASE, ago_days(30), now_us(), NULL) >= 2;
}
static bool m_pv_lte3_7d(const struct mperson *p)
{
	int n = cnt(p, EV_PV, ago_days(7), now_us(), NULL);
	return n >= 1 && n <= 3;
}
static bool m_signup_eq1_90d(const struct mperson *p)
{
	return cnt(p, EV_SIGNUP, ago_days(90), now_us(), NULL) == 1;
}
static bool m_pro_no_purchase(const struct mperson *p)
{
	return p->plan == 1 && !m_purchase_30d(p);
}
static bool m_or_of_ands(const struct mperson *p)
{
	return (p->plan == 2 && cnt(p, EV_PV, ago_days(14), now_us(), NULL) > 0) ||
	       (p->age >= 50 && cnt(p, EV_PURCHASE, ago_days(60), now_us(), NULL) > 0);
}
static bool m_chrome_purchase(const struct mperson *p)
{
	return cnt(p, EV_PURCHASE, ago_days(30), now_us(), chrome) > 0;
}
static bool m_big_2x_60d(const struct mperson *p)
{
	return cnt(p, EV_PURCHASE, ago_days(60), now_us(), big) >= 2;
}
static bool m_corp_or_noplan(const struct mperson *p)
{
	return p->corp || p->plan < 0;
}
static bool m_action_30d(const struct mperson *p)
{
	int n = 0;
	for (int k = 0; k < p->nev; k++)
		n += action7(&p->ev[k]) && p->ev[k].ts >= ago_days(30) && p->ev[k].ts <= now_us();
	return n > 0;
}
static bool m_first_signup_30d(const struct mperson *p)
{
	int64_t first = INT64_MAX;
	for (int k = 0; k < p->nev; k++)
		if (p->ev[k].e == EV_SIGNUP && p->ev[k].ts <= now_us() && p->ev[k].ts < first)
			first = p->ev[k].ts;
	return first != INT64_MAX && first >= ago_days(30);
}
static bool m_regular_pv(const struct mperson *p)
{
	int periods = 0;
	for (int k = 0; k < 4; k++) {
		int n = 0;
		for (int j = 0; j < p->nev; j++)
			n += p->ev[j].e == EV_PV && p->ev[j].ts > ago_days(7 * (k + 1)) &&
			     p->ev[j].ts <= ago_days(7 * k);
		periods += n >= 2;
	}
	return periods >= 2;
}
static bool m_stopped(const struct mperson *p)
{
	return cnt(p, EV_PURCHASE, ago_days(60), now_us(), NULL) > 0 &&
	       cnt(p, EV_PURCHASE, ago_days(14), now_us(), NULL) == 0;
}
static bool m_restarted(const struct mperson *p)
{
	return cnt(p, EV_PURCHASE, INT64_MIN, ago_days(30) - 1, NULL) > 0 &&
	       cnt(p, EV_PURCHASE, ago_days(30), ago_days(14) - 1, NULL) == 0 &&
	       cnt(p, EV_PURCHASE, ago_days(14), now_us(), NULL) > 0;
}
static bool m_sequence(const struct mperson *p)
{
	int64_t from = ago_days(90), to = now_us();
	for (int a = 0; a < p->nev; a++)
		for (int b = 0; b < p->nev; b++) {
			const struct mev *x = &p->ev[a], *y = &p->ev[b];
			if (x->e == EV_SIGNUP && y->e == EV_PURCHASE && x->ts >= from &&
			    y->ts <= to && y->ts >= x->ts && y->ts <= x->ts + DAY)
				return true;
		}
	return false;
}
static bool m_explicit(const struct mperson *p)
{
	int64_t from = sn_days_from_civil(2024, 5, 20) * 86400 * SEC;
	int64_t to = (sn_days_from_civil(2024, 6, 1) * 86400 + 86399) * SEC;
	return cnt(p, EV_PURCHASE, from, to, NULL) > 0;
}
static bool m_nested(const struct mperson *p)
{
	/* AND(OR(NOT purchase 30d, plan = free), age < 40) */
	return (!m_purchase_30d(p) || p->plan == 0) && p->age < 40;
}
static bool m_legacy(const struct mperson *p)
{
	return p->plan == 1 || cnt(p, EV_PURCHASE, ago_days(30), now_us(), NULL) >= 2;
}
static bool m_pro_purchase(const struct mperson *p)
{
	return p->plan == 1 && m_purchase_30d(p);
}
static bool m_not_multiple(const struct mperson *p)
{
	return p->age >= 30 && !(cnt(p, EV_PV, ago_days(30), now_us(), NULL) >= 3);
}

#define PV_30	"\"key\": \"$pageview\", \"event_type\": \"events\""
#define PUR	"\"key\": \"purchase\", \"event_type\": \"events\""
#define DAYS(n) "\"time_value\": " #n ", \"time_interval\": \"day\""
#define AND1(x) "{\"type\": \"AND\", \"values\": [" x "]}"

struct mcase {
	const char *name, *props, *groups;
	bool (*model)(const struct mperson *);
};

static const struct mcase CASES[] = {
    {"performed_event purchase 30d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event\", " PUR ", " DAYS(30) "}"),
     NULL, m_purchase_30d},
    {"performed_event_multiple purchase gte 2 in 30d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event_multiple\", " PUR
	  ", \"operator\": \"gte\", \"operator_value\": 2, " DAYS(30) "}"),
     NULL, m_purchase_2x_30d},
    {"performed_event_multiple pageview lte 3 in 7d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event_multiple\", " PV_30
	  ", \"operator\": \"lte\", \"operator_value\": 3, " DAYS(7) "}"),
     NULL, m_pv_lte3_7d},
    {"performed_event_multiple signup eq 1 in 90d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event_multiple\", \"key\": "
	  "\"signup\", \"event_type\": \"events\", \"operator\": \"eq\", \"operator_value\": "
	  "1, " DAYS(90) "}"),
     NULL, m_signup_eq1_90d},
    {"negation: plan pro and no purchase in 30d",
     AND1("{\"type\": \"person\", \"key\": \"plan\", \"value\": \"pro\"}, {\"type\": "
	  "\"behavioral\", \"value\": \"performed_event\", " PUR ", " DAYS(30) ", \"negation\": "
									       "true}"),
     NULL, m_pro_no_purchase},
    {"negated multiple: age >= 30 and not 3+ pageviews in 30d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event_multiple\", " PV_30
	  ", \"operator\": \"gte\", \"operator_value\": 3, " DAYS(
	      30) ", \"negation\": true}, "
		  "{\"type\": \"person\", \"key\": \"age\", \"operator\": \"gte\", \"value\": 30}"),
     NULL, m_not_multiple},
    {"OR of ANDs",
     "{\"type\": \"OR\", \"values\": [" AND1(
	 "{\"type\": \"person\", \"key\": \"plan\", \"value\": \"enterprise\"}, {\"type\": "
	 "\"behavioral\", \"value\": \"performed_event\", " PV_30 ", " DAYS(
	     14) "}") ", " AND1("{\"type\": \"person\", \"key\": \"age\", \"operator\": \"gte\", "
				"\"value\": 50}, {\"type\": \"behavioral\", \"value\": "
				"\"performed_event\", " PUR ", " DAYS(60) "}") "]}",
     NULL, m_or_of_ands},
    {"event_filters: Chrome purchase in 30d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event\", " PUR ", " DAYS(
	 30) ", \"event_filters\": [{\"key\": \"$browser\", \"value\": \"Chrome\", \"type\": "
	     "\"event\", \"operator\": \"exact\"}]}"),
     NULL, m_chrome_purchase},
    {"event_filters: 2+ purchases over 50 in 60d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event_multiple\", " PUR
	  ", \"operator\": \"gte\", \"operator_value\": \"2\", " DAYS(
	      60) ", \"event_filters\": [{\"key\": \"amount\", \"value\": 50, \"type\": "
		  "\"event\", \"operator\": \"gt\"}]}"),
     NULL, m_big_2x_60d},
    {"person properties: corp email or no plan",
     "{\"type\": \"OR\", \"values\": [{\"type\": \"person\", \"key\": \"email\", "
     "\"operator\": \"icontains\", \"value\": \"@CORP.\"}, {\"type\": \"person\", \"key\": "
     "\"plan\", \"operator\": \"is_not_set\"}]}",
     NULL, m_corp_or_noplan},
    {"action 7 in 30d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event\", \"key\": \"7\", "
	  "\"event_type\": \"actions\", " DAYS(30) "}"),
     NULL, m_action_30d},
    {"first time signup in 30d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event_first_time\", \"key\": "
	  "\"signup\", \"event_type\": \"events\", " DAYS(30) "}"),
     NULL, m_first_signup_30d},
    {"regularly: 2+ pageviews a week in 2 of the last 4 weeks",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event_regularly\", " PV_30
	  ", \"operator\": \"gte\", \"operator_value\": 2, \"time_value\": 1, "
	  "\"time_interval\": \"week\", \"min_periods\": 2, \"total_periods\": 4}"),
     NULL, m_regular_pv},
    {"stopped purchasing: in 60d, not in 14d",
     AND1("{\"type\": \"behavioral\", \"value\": \"stopped_performing_event\", " PUR
	  ", " DAYS(60) ", \"seq_time_value\": 2, \"seq_time_interval\": \"week\"}"),
     NULL, m_stopped},
    {"restarted purchasing: before 30d, not 30d..14d, again in 14d",
     AND1("{\"type\": \"behavioral\", \"value\": \"restarted_performing_event\", " PUR
	  ", " DAYS(30) ", \"seq_time_value\": 14, \"seq_time_interval\": \"day\"}"),
     NULL, m_restarted},
    {"sequence: signup then purchase within a day",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event_sequence\", \"key\": "
	  "\"signup\", \"event_type\": \"events\", " DAYS(
	      90) ", \"seq_event\": \"purchase\", "
		  "\"seq_event_type\": \"events\", \"seq_time_value\": 1, \"seq_time_interval\": "
		  "\"day\"}"),
     NULL, m_sequence},
    {"explicit datetime range",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event\", " PUR
	  ", \"explicit_datetime\": \"2024-05-20\", \"explicit_datetime_to\": "
	  "\"2024-06-01\"}"),
     NULL, m_explicit},
    {"nested: AND(OR(NOT purchase, plan free), age < 40)",
     AND1("{\"type\": \"OR\", \"values\": [{\"type\": \"behavioral\", \"value\": "
	  "\"performed_event\", " PUR ", " DAYS(
	      30) ", \"negation\": true}, {\"type\": "
		  "\"person\", \"key\": \"plan\", \"value\": \"free\"}]}, {\"type\": \"person\", "
		  "\"key\": \"age\", \"operator\": \"lt\", \"value\": 40}"),
     NULL, m_nested},
    {"event_filters on a person property: pro plan purchase in 30d",
     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event\", " PUR
	  ", " DAYS(30) ", \"event_filters\": [{\"key\": \"plan\", \"value\": \"pro\", \"type\": "
			"\"person\"}]}"),
     NULL, m_pro_purchase},
    {"legacy groups", NULL,
     "[{\"properties\": [{\"key\": \"plan\", \"value\": \"pro\", \"type\": \"person\"}]}, "
     "{\"event_id\": \"purchase\", \"days\": 30, \"count\": 2, \"count_operator\": "
     "\"gte\"}]",
     m_legacy},
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct sn_hogql_cohort *COHORTS;
static size_t NCOHORTS;

/* Runs the case's statement and compares with its model; the members
 * (sorted uuids, malloc'd) go to *members when it is not NULL. */
static void run_case_members(const struct mcase *mc, char ***members, size_t *nmembers)
{
	struct sn_insight_error err;
	char *q = compile(mc->props, mc->groups, &err);
	if (!q)
		fail_msg("%s: compile failed: %s", mc->name, err.msg);
	size_t qlen = strlen(q);
	char *full = malloc(qlen + 32);
	snprintf(full, qlen + 32, "%s LIMIT 100000", q);
	struct sn_exec_opts o = {.store_dir = W.store,
				 .team_id = 1,
				 .now_us = now_us(),
				 .max_limit = 1000000,
				 .persons = W.ps,
				 .cohorts = COHORTS,
				 .ncohorts = NCOHORTS};
	struct sn_exec_result res;
	struct sn_hogql_error herr;
	memset(&herr, 0, sizeof(herr));
	if (sn_exec_query(&o, full, strlen(full), &res, &herr) != 0)
		fail_msg("%s: query failed: %s (at %d)\n%s", mc->name, herr.msg, (int)herr.start,
			 full);
	assert_int_equal(res.ncols, 1);
	/* the statement's ids, sorted, each once */
	char **got = calloc(res.nrows + 1, sizeof(char *));
	for (size_t r = 0; r < res.nrows; r++)
		got[r] = strndup(res.cells[r].s.p, res.cells[r].s.len);
	qsort(got, res.nrows, sizeof(char *), cmp_str);
	for (size_t r = 1; r < res.nrows; r++)
		if (strcmp(got[r - 1], got[r]) == 0)
			fail_msg("%s: %s listed twice", mc->name, got[r]);
	char **want = calloc(NP, sizeof(char *));
	size_t nw = 0;
	for (int i = 0; i < NP; i++)
		if (mc->model(&P[i]))
			want[nw++] = P[i].uuid;
	qsort(want, nw, sizeof(char *), cmp_str);
	if (nw == 0 || nw == NP)
		fail_msg("%s: the model selects %zu of %d persons; the case proves nothing",
			 mc->name, nw, NP);
	size_t i = 0, j = 0, bad = 0;
	while (i < nw || j < res.nrows) {
		int c = i == nw ? 1 : j == res.nrows ? -1 : strcmp(want[i], got[j]);
		if (c == 0) {
			i++, j++;
			continue;
		}
		int who = -1;
		const char *id = c < 0 ? want[i] : got[j];
		for (int k = 0; k < NP; k++)
			if (strcmp(P[k].uuid, id) == 0)
				who = k;
		print_error("%s: person %d %s %s\n", mc->name, who,
			    c < 0 ? "missing" : "unexpected", id);
		bad++;
		if (c < 0)
			i++;
		else
			j++;
	}
	if (bad)
		fail_msg("%s: %zu differences (model %zu, statement %zu)\n%s", mc->name, bad, nw,
			 res.nrows, full);
	if (members) {
		*members = got;
		*nmembers = res.nrows;
	} else {
		for (size_t r = 0; r < res.nrows; r++)
			free(got[r]);
		free(got);
	}
	free(want);
	free(full);
	free(q);
	sn_exec_result_release(&res);
}

static void run_case(const struct mcase *mc)
{
	run_case_members(mc, NULL, NULL);
}

static bool m_in_corp_and_purchase(const struct mperson *p)
{
	return m_corp_or_noplan(p) && m_purchase_30d(p);
}
static bool m_purchase_not_fives(const struct mperson *p)
{
	return m_purchase_30d(p) && (p - P) % 5 != 0;
}
static bool m_corp_or_fives(const struct mperson *p)
{
	return m_corp_or_noplan(p) || (p - P) % 5 == 0;
}

/* Cohort in cohort: cohort 5's members are written as the cohort
 * calculation would (the result of its own statement), cohort 6 is static
 * (every fifth person, added by distinct id); definitions naming them run
 * through the executor's IN COHORT. */
static void test_model_cohort_in_cohort(void **state)
{
	(void)state;
	const struct mcase *corp = NULL;
	for (size_t k = 0; k < SN_ARRAY_LEN(CASES); k++)
		if (CASES[k].model == m_corp_or_noplan)
			corp = &CASES[k];
	assert_non_null(corp);
	char **members = NULL;
	size_t n = 0, count = 0, added = 0;
	run_case_members(corp, &members, &n);
	struct sn_err err = {0};
	assert_int_equal(
	    sn_persons_cohort_replace(W.ps, 1, 5, (const char *const *)members, n, &count, &err),
	    0);
	assert_int_equal(count, n);
	char dids[NP / 5][16];
	const char *keys[NP / 5];
	for (int i = 0; i < NP / 5; i++) {
		snprintf(dids[i], sizeof(dids[i]), "d%d", i * 5);
		keys[i] = dids[i];
	}
	assert_int_equal(sn_persons_cohort_add(W.ps, 1, 6, SN_COHORT_KEY_DISTINCT_ID, keys, NP / 5,
					       &added, &err),
			 0);
	assert_int_equal(added, NP / 5);
	static const struct sn_hogql_cohort cohorts[] = {{5, "Corp", false}, {6, "Fives", true}};
	COHORTS = cohorts;
	NCOHORTS = 2;
	static const struct mcase cases[] = {
	    {"in cohort 5 and purchase in 30d",
	     AND1("{\"type\": \"cohort\", \"key\": \"id\", \"value\": 5}, {\"type\": "
		  "\"behavioral\", \"value\": \"performed_event\", " PUR ", " DAYS(30) "}"),
	     NULL, m_in_corp_and_purchase},
	    {"purchase in 30d and not in static cohort 6",
	     AND1("{\"type\": \"behavioral\", \"value\": \"performed_event\", " PUR
		  ", " DAYS(30) "}, {\"type\": \"static-cohort\", \"key\": \"id\", \"value\": 6, "
				"\"negation\": true}"),
	     NULL, m_purchase_not_fives},
	    {"in cohort 5 or cohort 6",
	     "{\"type\": \"OR\", \"values\": [{\"type\": \"cohort\", \"value\": \"5\"}, "
	     "{\"type\": \"cohort\", \"value\": 6}]}",
	     NULL, m_corp_or_fives},
	};
	for (size_t k = 0; k < SN_ARRAY_LEN(cases); k++)
		run_case(&cases[k]);
	COHORTS = NULL;
	NCOHORTS = 0;
	for (size_t i = 0; i < n; i++)
		free(members[i]);
	free(members);
}

static void test_model(void **state)
{
	(void)state;
	assert_true(W.nevents > 2000);
	for (size_t k = 0; k < SN_ARRAY_LEN(CASES); k++)
		run_case(&CASES[k]);
}

/* Every model statement must also print as ClickHouse SQL (18.16, the
 * test peer, and a current version): the same HogQL serves both backends. */
static void test_clickhouse_printable(void **state)
{
	(void)state;
	static const int versions[][2] = {{18, 16}, {24, 8}};
	for (size_t k = 0; k < SN_ARRAY_LEN(CASES); k++) {
		struct sn_insight_error ierr;
		char *q = compile(CASES[k].props, CASES[k].groups, &ierr);
		assert_non_null(q);
		for (size_t v = 0; v < SN_ARRAY_LEN(versions); v++) {
			struct sn_arena a;
			sn_arena_init(&a, 64u << 20);
			struct sn_hogql_node *n = NULL;
			struct sn_hogql_error err;
			memset(&err, 0, sizeof(err));
			struct sn_buf sql;
			sn_buf_init(&sql, 1 << 22);
			struct sn_hogql_ch_values vals = {0};
			struct sn_hogql_ch_opts o = {.team_id = 1,
						     .timezone = "UTC",
						     .ch_major = versions[v][0],
						     .ch_minor = versions[v][1]};
			int rc = sn_hogql_parse_select(&a, q, strlen(q), &n, &err);
			if (rc == 0)
				rc = sn_hogql_resolve(&a, n, q, strlen(q),
						      &(struct sn_hogql_resolve_opts){.team_id = 1},
						      &err);
			if (rc == 0)
				rc = sn_hogql_print_clickhouse(&a, n, &o, &sql, &vals, q, strlen(q),
							       &err);
			if (rc)
				fail_msg("%s: ClickHouse %d.%d: %s: %s\n%s", CASES[k].name,
					 versions[v][0], versions[v][1], err.type, err.msg, q);
			assert_non_null(strstr(sql.data, "person"));
			sn_buf_release(&sql);
			sn_arena_release(&a);
		}
		free(q);
	}
}

int main(void)
{
	const struct CMUnitTest unit[] = {
	    cmocka_unit_test(test_golden_person_and_cohort),
	    cmocka_unit_test(test_golden_behavioral),
	    cmocka_unit_test(test_golden_nesting_and_legacy),
	    cmocka_unit_test(test_golden_time_zone),
	    cmocka_unit_test(test_golden_test_accounts),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_negation_rule),
	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_clickhouse_printable),
	};
	const struct CMUnitTest model[] = {
	    cmocka_unit_test(test_model),
	    cmocka_unit_test(test_model_cohort_in_cohort),
	};
	int rc = cmocka_run_group_tests_name("cohort compiler", unit, NULL, NULL);
	rc += cmocka_run_group_tests_name("cohort model", model, world_setup, world_teardown);
	return rc;
}
