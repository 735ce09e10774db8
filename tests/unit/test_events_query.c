/*
 * test_events_query.c — EventsQuery's statement and the parts of its answer
 * the black-box test cannot see: a stub backend records the statement and
 * answers fixed rows, or fails the way the resolver does (a position in
 * the statement, in code points), and the error must point into the
 * user's own text. Also: the time window in the team's zone, DateTimes
 * printed in it, hasMore from the extra row, comments in select items.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "insights/insights.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char last_sql[1 << 16];
static size_t stub_rows; /* rows the stub answers: (event, timestamp) */
static int64_t last_max_rows;

static size_t cps(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static int stub_query(void *ctx, struct sn_arena *a, const char *hogql, size_t len,
		      int64_t max_rows, struct sn_insight_table *out, struct sn_hogql_error *err)
{
	(void)ctx;
	snprintf(last_sql, sizeof(last_sql), "%.*s", (int)len, hogql);
	last_max_rows = max_rows;
	const char *bad = strstr(last_sql, "nosuch");
	if (bad) { /* as the resolver: the field's span in code points */
		err->type = "QueryError";
		snprintf(err->msg, sizeof(err->msg), "Unable to resolve field: nosuch");
		err->start = (uint32_t)cps(last_sql, (size_t)(bad - last_sql));
		err->end = err->start + 6;
		return SN_ERR_INVALID;
	}
	out->ncols = 2;
	out->nrows = stub_rows;
	out->cells = sn_arena_alloc(a, (stub_rows ? stub_rows : 1) * 2 * sizeof(*out->cells));
	assert_non_null(out->cells);
	for (size_t i = 0; i < stub_rows; i++) {
		out->cells[2 * i] =
		    (struct sn_insight_value){.type = SN_IV_STRING, .s = "e", .slen = 1};
		/* 2024-01-10T12:00:00.123Z minus i hours */
		out->cells[2 * i + 1] = (struct sn_insight_value){
		    .type = SN_IV_DATETIME, .i = 1704888000123000LL - (int64_t)i * 3600000000LL};
	}
	return 0;
}

/* Runs the EventsQuery node json for a team in zone tz; the answer (or
 * NULL) and the error. */
static char *run(const char *json, const char *tz, struct sn_insight_error *err)
{
	struct json_object *node = json_tokener_parse(json);
	assert_non_null(node);
	struct sn_insight_opts o = {.team = {.id = 1, .timezone = tz},
				    .now_us = 1706745600000000LL, /* 2024-02-01T00:00:00Z */
				    .backend = {.query = stub_query}};
	struct sn_buf out;
	sn_buf_init(&out, 1 << 24);
	last_sql[0] = 0;
	int rc = sn_insight_run(&o, node, &out, err);
	json_object_put(node);
	char *res = rc ? NULL : strdup(out.data);
	sn_buf_release(&out);
	return res;
}

static void has(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("'%s' not in '%s'", needle, hay);
}

static void test_statement_shape(void **state)
{
	(void)state;
	struct sn_insight_error err;
	stub_rows = 0;
	char *r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\",\"count()\"],"
		      "\"where\":[\"count() > 1\",\"event != 'x'\"],\"event\":\"$pageview\"}",
		      NULL, &err);
	assert_non_null(r);
	has(last_sql, "SELECT event, count() FROM events WHERE 1 AND (event != 'x')");
	has(last_sql, " AND event = '$pageview'");
	/* before: now + 5 s; after: now - 24 h */
	has(last_sql, "timestamp < toDateTime64('2024-02-01 00:00:05.000000', 6, 'UTC')");
	has(last_sql, "timestamp > toDateTime64('2024-01-31 00:00:00.000000', 6, 'UTC')");
	has(last_sql, " GROUP BY event HAVING (count() > 1) ORDER BY count() DESC");
	has(last_sql, " LIMIT 101 OFFSET 0");
	assert_int_equal(last_max_rows, 101);
	has(r, "\"columns\":[\"event\",\"count()\"]");
	has(r, "\"results\":[],\"hasMore\":false,\"limit\":100,\"offset\":0");
	free(r);
	/* no timestamp selected, no aggregate: the first column ascending */
	r = run(
	    "{\"kind\":\"EventsQuery\",\"select\":[\"distinct_id\",\"event\"],\"after\":\"all\"}",
	    NULL, &err);
	assert_non_null(r);
	has(last_sql, " ORDER BY distinct_id ASC LIMIT");
	assert_null(strstr(last_sql, "timestamp >"));
	free(r);
	/* an orderBy of [] orders nothing */
	r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\"],\"orderBy\":[]}", NULL, &err);
	assert_non_null(r);
	assert_null(strstr(last_sql, "ORDER BY"));
	free(r);
}

static void test_window_in_team_zone(void **state)
{
	(void)state;
	struct sn_insight_error err;
	stub_rows = 0;
	/* 2024-01-15 in Berlin (UTC+1 in winter) is 2024-01-14 23:00 UTC;
	 * -2d is two wall-clock days before now (01:00 local on 1 February) */
	char *r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\"],\"before\":\"2024-01-15\","
		      "\"after\":\"-2d\"}",
		      "Europe/Berlin", &err);
	assert_non_null(r);
	has(last_sql, "timestamp < toDateTime64('2024-01-14 23:00:00.000000', 6, 'UTC')");
	has(last_sql, "timestamp > toDateTime64('2024-01-30 00:00:00.000000', 6, 'UTC')");
	free(r);
	r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\"],\"before\":\"12\"}", NULL, &err);
	assert_null(r);
	has(err.msg, "before");
}

static void test_values_and_paging(void **state)
{
	(void)state;
	struct sn_insight_error err;
	stub_rows = 3; /* limit 2: one more than the page */
	char *r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event -- the name\",\"timestamp\"],"
		      "\"limit\":2,\"offset\":4}",
		      "Europe/Berlin", &err);
	assert_non_null(r);
	/* the comment ends with its line: the rest of the statement survives */
	has(last_sql, "SELECT event -- the name\n, timestamp FROM events");
	has(last_sql, " ORDER BY timestamp DESC LIMIT 3 OFFSET 4");
	has(r, "\"columns\":[\"event -- the name\",\"timestamp\"]");
	/* 12:00:00.123 UTC is 13:00:00.123 in Berlin */
	has(r, "\"results\":[[\"e\",\"2024-01-10T13:00:00.123000+01:00\"],"
	       "[\"e\",\"2024-01-10T12:00:00.123000+01:00\"]]");
	has(r, "\"hasMore\":true,\"limit\":2,\"offset\":4");
	has(r, "\"types\":[\"String\",\"DateTime64(6, 'Europe/Berlin')\"]");
	free(r);
	stub_rows = 1;
	r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\",\"timestamp\"],\"limit\":0}", NULL,
		&err);
	assert_non_null(r);
	has(r, "[[\"e\",\"2024-01-10T12:00:00.123000Z\"]],\"hasMore\":false,\"limit\":100");
	free(r);
}

static void test_errors_point_into_the_users_text(void **state)
{
	(void)state;
	struct sn_insight_error err;
	stub_rows = 0;
	/* multi-byte text before it: positions are code points */
	char *r = run("{\"kind\":\"EventsQuery\",\"select\":[\"'\xc3\xa9' AS x\","
		      "\"concat('\xc3\xbc', nosuch)\"]}",
		      NULL, &err);
	assert_null(r);
	assert_string_equal(err.type, "QueryError");
	assert_string_equal(err.msg, "Unable to resolve field: nosuch");
	assert_int_equal(err.hogql.start, 12); /* c o n c a t ( ' ü ' , _ n */
	assert_int_equal(err.hogql.end, 18);
	/* the same in a where item */
	r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\"],\"where\":[\"1 = nosuch\"]}",
		NULL, &err);
	assert_null(r);
	assert_int_equal(err.hogql.start, 4);
	assert_int_equal(err.hogql.end, 10);
	/* in a filter snout wrote: no position */
	r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\"],\"properties\":[{\"key\":"
		"\"nosuch\",\"value\":\"x\",\"type\":\"event\"}]}",
		NULL, &err);
	assert_null(r);
	assert_string_equal(err.msg, "Unable to resolve field: nosuch");
	assert_int_equal(err.hogql.start, 0);
	assert_int_equal(err.hogql.end, 0);
	/* a syntax error never reaches the backend: its place in the item */
	r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\",\"1 + + )\"]}", NULL, &err);
	assert_null(r);
	assert_string_equal(err.type, "SyntaxError");
	assert_true(err.hogql.start >= 4 && err.hogql.start <= 6);
	assert_null(strstr(last_sql, "1 + + )"));
	/* an orderBy item: positions past the parser's prefix are shifted back */
	r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\"],\"orderBy\":[\"event DESC )\"]}",
		NULL, &err);
	assert_null(r);
	assert_string_equal(err.type, "SyntaxError");
	assert_int_equal(err.hogql.start, 11);
	/* one expression per item */
	r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event FROM persons\"]}", NULL, &err);
	assert_null(r);
	r = run("{\"kind\":\"EventsQuery\",\"select\":[\"event\"],\"orderBy\":[\"event LIMIT 1\"]}",
		NULL, &err);
	assert_null(r);
	has(err.msg, "exactly one order expression");
	r = run("{\"kind\":\"EventsQuery\",\"select\":\"event\"}", NULL, &err);
	assert_null(r);
	assert_string_equal(err.type, "validation_error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_statement_shape),
	    cmocka_unit_test(test_window_in_team_zone),
	    cmocka_unit_test(test_values_and_paging),
	    cmocka_unit_test(test_errors_point_into_the_users_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
