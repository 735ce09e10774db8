/*
 * test_exec_props.c — nested property paths in the executor:
 * properties.a.b.c, properties['a']['b'] and properties.a.b[1] read the top property's
 * column (shredded or residual) and walk its JSON, with PostHog's
 * semantics for what they find: the member as raw JSON (whitespace between
 * tokens dropped, as JSONExtractRaw gives it), one pair of quotes stripped,
 * NULL for a missing key, a level that is not an object, or a JSON null.
 * Checked by row, in WHERE (the per-dictionary-entry path when the top
 * property is read as codes) and in GROUP BY, where rows with different
 * top values but one nested value must fall in one group.
 *
 * Also what reads the events table's fields by the schema rather than by
 * name: SELECT * (the printer's expansion: stored and JSON columns not
 * hidden, in schema order) and person_mode (from $process_person_profile).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec_fixture.h"

#define T0 1733011200LL /* 2024-12-01 00:00:00 UTC */

static const char *const PROPS[] = {
    "{\"nested\":{\"a\":{\"b\":\"deep\"},\"n\":5,\"s\":\"x\\\"y\",\"z\":null,"
    "\"o\":{\"k\":[1, 2]},\"e\":\"\"},\"flat\":\"v\"}",
    "{\"nested\":\"{\\\"a\\\":1}\"}", /* a string that holds JSON: nothing below it */
    "{\"nested\":{\"a\":{\"b\":7}}}",
    "{}",
    "{\"nested\":5}",
    "{\"nested\": { \"a\" : { \"b\" : \"sp\" } } }",
    "{\"nested\":{\"a\":[\"b\"]}}", /* an array: keys do not index it */
    "{\"nested\":{\"a\\u0062\":{\"b\":\"esc\"}}}",
};
#define NPROPS (sizeof(PROPS) / sizeof(PROPS[0]))

static void setup_part(struct xfx *f)
{
	xfx_open(f, "test_exec_props");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	for (size_t i = 0; i < NPROPS; i++)
		xfx_event(&mt, (int)i, 1, T0 + (int64_t)i, "d", "e", PROPS[i]);
	/* 600 rows whose top property differs, its nested.a.b does not */
	static char many[600][64];
	for (int i = 0; i < 600; i++) {
		snprintf(many[i], sizeof(many[i]), "{\"nested\":{\"a\":{\"b\":\"m\"},\"i\":%d}}",
			 i);
		xfx_event(&mt, 100 + i % 150, 1, T0 + 1000 + i, "d", "many", many[i]);
	}
	xfx_write(f, &mt, 256);
}

static void test_paths_by_row(void **state)
{
	(void)state;
	struct xfx f;
	setup_part(&f);
	const char *want = "x\ndeep\n\\N\n7\n\\N\n\\N\nsp\n\\N\n\\N\n";
	xfx_check(
	    &f,
	    "select properties.nested.a.b as x from events where event = 'e' order by timestamp",
	    want);
	/* the same through subscripts, and mixed */
	xfx_check(&f,
		  "select properties['nested']['a']['b'] as x from events where event = 'e' "
		  "order by timestamp",
		  want);
	xfx_check(&f,
		  "select properties.nested['a'].b as x from events where event = 'e' "
		  "order by timestamp",
		  want);
	/* an object or array member: its raw JSON, minified; a string: its
	 * quotes stripped, escapes kept; null and missing: NULL; "" stays ""
	 * (a comparison with NULL is 0, as PostHog's ifNull(equals(…), 0)) */
	xfx_check(&f,
		  "select properties.nested.a as a, properties.nested.s as s, properties.nested.z "
		  "as z, properties.nested.o.k as k, toInt(properties.nested.n) + 1 as n, "
		  "properties.nested.e = '' as e from events where event = 'e' order by timestamp",
		  "a\ts\tz\tk\tn\te\n"
		  "{\"b\":\"deep\"}\tx\\\\\"y\t\\N\t[1,2]\t6\t1\n"
		  "\\N\t\\N\t\\N\t\\N\t\\N\t0\n"
		  "{\"b\":7}\t\\N\t\\N\t\\N\t\\N\t0\n"
		  "\\N\t\\N\t\\N\t\\N\t\\N\t0\n"
		  "\\N\t\\N\t\\N\t\\N\t\\N\t0\n"
		  "{\"b\":\"sp\"}\t\\N\t\\N\t\\N\t\\N\t0\n"
		  "[\"b\"]\t\\N\t\\N\t\\N\t\\N\t0\n"
		  "\\N\t\\N\t\\N\t\\N\t\\N\t0\n");
	/* integer subscripts: an array's element or an object's member,
	 * 1-based, negative from the end, 0 and past the end nothing */
	xfx_check(&f,
		  "select properties.nested.o.k[2] as a, properties.nested.o.k[-2] as b, "
		  "properties.nested.o.k[0] as c, properties.nested.o.k[3] as d, "
		  "properties.nested.o[1] as e, properties['nested'][2] as f from events "
		  "where event = 'e' and properties.nested.o is not null",
		  "a\tb\tc\td\te\tf\n2\t1\t\\N\t\\N\t[1,2]\t5\n");
	/* an escaped key matches its decoded name */
	xfx_check(&f,
		  "select properties.nested.ab.b as x from events where event = 'e' "
		  "and properties.flat is null and properties.nested.ab.b is not null",
		  "x\nesc\n");
	xfx_close(&f);
}

static void test_paths_where_group(void **state)
{
	(void)state;
	struct xfx f;
	setup_part(&f);
	xfx_check(&f, "select count() as c from events where properties.nested.a.b = 'm'",
		  "c\n600\n");
	/* A UUID compared with a string reads it as ClickHouse does: any case,
	 * hyphens or not. */
	xfx_check(&f,
		  "select countIf(uuid = '00000000-0000-7000-0000-0000000000ab') as l, "
		  "countIf(uuid = '00000000-0000-7000-0000-0000000000AB') as u, "
		  "countIf(uuid IN ('000000000000700000000000000000AB')) as s, "
		  "countIf(uuid = 'not a uuid') as n from events",
		  "l\tu\ts\tn\n4\t4\t4\t0\n");
	xfx_check(&f,
		  "select count() as c from events where properties['nested']['a']['b'] = 'deep'",
		  "c\n1\n");
	xfx_check(
	    &f,
	    "select properties.nested.a.b as x, count() as c from events where event = 'many' "
	    "group by x",
	    "x\tc\nm\t600\n");
	xfx_check(&f,
		  "select count() as c from events where event = 'many' and "
		  "toInt(properties.nested.i) >= 300",
		  "c\n300\n");
	xfx_check(&f,
		  "select uniqExact(properties.nested.a.b) as u, uniqExact(properties.nested) as t "
		  "from events where event = 'many'",
		  "u\tt\n1\t600\n");
	xfx_close(&f);
}

static void test_paths_limits(void **state)
{
	(void)state;
	struct xfx f;
	setup_part(&f);
	/* 16 keys below the property are fine, 17 are refused */
	xfx_check(&f,
		  "select count() as c from events where "
		  "properties.nested.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p is null",
		  "c\n608\n");
	struct sn_hogql_error e =
	    xfx_error(&f, "select properties.nested.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q from events");
	assert_non_null(strstr(e.msg, "at most 16 keys"));
	xfx_close(&f);
}

static void test_star_and_person_mode(void **state)
{
	(void)state;
	struct xfx f;
	xfx_open(&f, "test_exec_star");
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	xfx_event(&mt, 1, 1, T0, "u1", "a", "{\"$process_person_profile\":false,\"k\":1}");
	xfx_event(&mt, 2, 1, T0 + 60, "u2", "b", "{\"$process_person_profile\":true}");
	xfx_event(&mt, 3, 1, T0 + 120, "u3", "b", "{}");
	/* a string "false" is not false: ingestion processes the person */
	xfx_event(&mt, 4, 1, T0 + 180, "u4", "c", "{\"$process_person_profile\":\"false\"}");
	xfx_write(&f, &mt, 256);
	xfx_check(&f, "select * from events order by timestamp limit 1",
		  "uuid\tevent\tproperties\ttimestamp\tteam_id\tdistinct_id\telements_chain\t"
		  "created_at\t$session_id\t$window_id\tperson_mode\t$group_0\t$group_1\t$group_2\t"
		  "$group_3\t$group_4\n"
		  "00000000-0000-7000-0000-000000000001\ta\t"
		  "{\"$process_person_profile\":false,\"k\":1}\t2024-12-01T00:00:00Z\t1\tu1\t\t"
		  "2024-12-01T00:00:00Z\t\\N\t\\N\tpropertyless\t\t\t\t\t\n");
	xfx_check(&f, "select count() as c from (select * from events where event = 'b')",
		  "c\n2\n");
	xfx_check(&f, "select e.*, 1 as one from events e where event = 'a'",
		  "uuid\tevent\tproperties\ttimestamp\tteam_id\tdistinct_id\telements_chain\t"
		  "created_at\t$session_id\t$window_id\tperson_mode\t$group_0\t$group_1\t$group_2\t"
		  "$group_3\t$group_4\tone\n"
		  "00000000-0000-7000-0000-000000000001\ta\t"
		  "{\"$process_person_profile\":false,\"k\":1}\t2024-12-01T00:00:00Z\t1\tu1\t\t"
		  "2024-12-01T00:00:00Z\t\\N\t\\N\tpropertyless\t\t\t\t\t\t1\n");
	xfx_check(&f, "select person_mode as m, count() as c from events group by m order by m",
		  "m\tc\nfull\t3\npropertyless\t1\n");
	xfx_check(&f,
		  "select distinct_id from events where person_mode = 'propertyless' or "
		  "event = 'c' order by distinct_id",
		  "distinct_id\nu1\nu4\n");
	xfx_check(&f, "select person_mode from events where event = 'c'", "person_mode\nfull\n");
	xfx_close(&f);
}

/* The checks of test_coded_entries_of_dropped_rows, on f's part. */
static void run_dropped(struct xfx *f)
{
	xfx_check(f,
		  "select count() as c from events where event = 'bool' and "
		  "toBool(properties.k)",
		  "c\n50\n");
	xfx_check(f,
		  "select count() as c from events where event = 'bool' and intDiv(1, "
		  "toInt(properties.d)) = 1",
		  "c\n100\n");
	xfx_check(f,
		  "select toBool(properties.k) as b, count() as c from events where event = "
		  "'bool' group by b order by b",
		  "b\tc\nfalse\t50\ntrue\t50\n");
	/* Terms run cheapest first, and what is cheapest depends on the part
	 * (shredded or not): a term that fails waits for the others to drop
	 * rows, and fails the query only when no other term is left. */
	xfx_check(f,
		  "select count() as c from events where toBool(properties.k) and "
		  "event = 'bool'",
		  "c\n50\n");
	/* a remaining row that holds the value still fails */
	struct sn_hogql_error e =
	    xfx_error(f, "select count() from events where event != 'x' and toBool(properties.k)");
	assert_non_null(strstr(e.msg, "abc"));
	/* both fail on the same rows: the first written one's error */
	e = xfx_error(f, "select count() from events where intDiv(1, toInt(properties.d)) = 1 and "
			 "toBool(properties.k)");
	assert_non_null(strstr(e.msg, "Division by zero"));
	e = xfx_error(f, "select count() from events where toBool(properties.k) and intDiv(1, "
			 "toInt(properties.d)) = 1");
	assert_non_null(strstr(e.msg, "abc"));
}

/* The rows of test_coded_entries_of_dropped_rows as one part in f's
 * directory, shredded or not. */
static void write_dropped(struct xfx *f, bool no_shred)
{
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	for (int i = 0; i < 200; i++) {
		const char *p = i % 2	? "{\"k\":\"abc\",\"d\":0}"
				: i % 4 ? "{\"k\":\"false\",\"d\":1}"
					: "{\"k\":\"true\",\"d\":1}";
		xfx_event(&mt, i, 1, T0 + i, "d", i % 2 ? "str" : "bool", p);
	}
	struct sn_err err = {0};
	struct sn_part_write_opts o = {.granule_rows = 256, .no_fsync = true, .no_shred = no_shred};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, f->dir, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
}

/* A term or expression of one property read as codes is evaluated once
 * per dictionary entry; only the entries the remaining rows name count.
 * The granule's dictionary also holds "abc" and 0, values of rows the
 * event term dropped: toBool('abc') and intDiv(1, 0) fail, and did fail
 * the query on a shredded part (its p:k blocks are dictionaries) but not
 * on an unshredded one. The same rows, both ways, answer alike. */
static void test_coded_entries_of_dropped_rows(void **state)
{
	(void)state;
	struct xfx f;
	xfx_open(&f, "test_exec_coded_dropped");
	write_dropped(&f, false);
	/* the path under test is taken: the term and the key per entry */
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	const char *q = "select count() from events where event = 'bool' and properties.k = 'true'";
	assert_int_equal(sn_exec_query(&f.opts, q, strlen(q), &res, &err), 0);
	assert_true(res.stats.coded_terms > 0);
	sn_exec_result_release(&res);
	q = "select upper(properties.k) as u, count() from events where event = 'bool' group by u";
	assert_int_equal(sn_exec_query(&f.opts, q, strlen(q), &res, &err), 0);
	assert_true(res.stats.distinct_evals > 0);
	sn_exec_result_release(&res);
	run_dropped(&f);
	xfx_each_threads(&f, run_dropped);
	xfx_close(&f);
	/* the same rows unshredded: the same answers and errors */
	xfx_open(&f, "test_exec_coded_dropped_plain");
	write_dropped(&f, true);
	run_dropped(&f);
	xfx_each_threads(&f, run_dropped);
	xfx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths_by_row),
	    cmocka_unit_test(test_paths_where_group),
	    cmocka_unit_test(test_paths_limits),
	    cmocka_unit_test(test_star_and_person_mode),
	    cmocka_unit_test(test_coded_entries_of_dropped_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
