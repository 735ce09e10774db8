/*
 * test_fn_maps.c — maps and the map-building aggregates as a user sees
 * them: HogQL text in, TSV rows (and for maps the JSON) out.
 *
 * Five events are stored in two parts, so that a scan may split over two
 * threads and aggregate states get merged (agg_merge):
 *
 *     uuid  distinct_id  event   properties
 *     1     a            pv      {"n": "3", "k": "x"}
 *     2     a            pv      {"n": "1", "k": "y"}
 *     3     b            click   {"n": "5", "k": "x"}     (second part from here)
 *     4     b            pv      {}
 *     5     c            click   {"n": "0", "k": "z"}
 *
 * Expected values were worked out by hand from ClickHouse's documentation
 * (map functions, sumMap/minMap/maxMap, groupBitmap) and PostHog's mapping
 * (every = toBool(min(x)), printed true/false as a select item; array_agg = groupArray,
 * countDistinctIf = count -Distinct -If), never computed with the code under test. ClickHouse
 * 18.16, the differential test's peer, has no Map type, no minMap, maxMap
 * or groupBitmap: those are checked here only.
 *
 * The test works in its own mkdtemp directory under $SNOUT_TEST_TMP (or
 * /tmp) and removes it at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec/exec.h"
#include "exec/exec_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
	char dir[512];
	struct sn_exec_opts opts;
};

static void add_event(struct sn_memtable *mt, int i, const char *did, const char *event,
		      const char *props)
{
	struct sn_err err = {0};
	struct sn_event_row er = {0};
	er.uuid[15] = (uint8_t)i;
	er.uuid[6] = 0x70;
	er.team_id = 1;
	er.timestamp_us = (sn_days_from_civil(2024, 3, 1) * 86400LL + i) * 1000000LL;
	er.created_at_us = er.timestamp_us;
	er.event = (struct sn_str){event, strlen(event)};
	er.distinct_id = (struct sn_str){did, strlen(did)};
	er.properties = (struct sn_str){props, strlen(props)};
	er.elements_chain = (struct sn_str){"", 0};
	assert_int_equal(sn_memtable_append(mt, &er, &err), 0);
}

static void flush(struct fixture *f, struct sn_memtable *mt, uint64_t seq)
{
	struct sn_err err = {0};
	struct sn_part_write_opts o = {.granule_rows = 2, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(mt, f->dir, seq, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(mt);
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_fn_maps"), 0);
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	add_event(&mt, 1, "a", "pv", "{\"n\":\"3\",\"k\":\"x\"}");
	add_event(&mt, 2, "a", "pv", "{\"n\":\"1\",\"k\":\"y\"}");
	flush(&f, &mt, 1);
	sn_memtable_init(&mt, 0);
	add_event(&mt, 3, "b", "click", "{\"n\":\"5\",\"k\":\"x\"}");
	add_event(&mt, 4, "b", "pv", "{}");
	add_event(&mt, 5, "c", "click", "{\"n\":\"0\",\"k\":\"z\"}");
	flush(&f, &mt, 2);
	f.opts.store_dir = f.dir;
	f.opts.team_id = 1;
	f.opts.threads = 2;
	f.opts.run_granules = 1;
	f.opts.merge_parallel_values = 1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sn_test_rm_rf(f->dir);
	return 0;
}

/* The TSV rows (without the header line) of `select <exprs> from events
 * <tail>`, or its JSON "results" when json. */
static void expect_q(struct fixture *f, const char *exprs, const char *tail, const char *want,
		     bool json)
{
	char q[2048];
	snprintf(q, sizeof(q), "select %s from events %s", exprs, tail);
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	if (rc)
		fail_msg("query failed: %s (%s): %s", err.msg, err.type, q);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	const char *got;
	if (json) {
		assert_int_equal(sn_exec_result_json(&b, &res), 0);
		assert_int_equal(sn_buf_appendc(&b, 0), 0);
		got = strstr(b.data, "\"results\":");
		assert_non_null(got);
		got += strlen("\"results\":");
		char *end = strstr(got, ",\"hasMore\"");
		assert_non_null(end);
		*end = 0;
	} else {
		assert_int_equal(sn_exec_result_tsv(&b, &res), 0);
		got = strchr(b.data, '\n');
		assert_non_null(got);
		got++;
	}
	if (strcmp(got, want) != 0)
		fail_msg("select %s %s\n  got:  %s\n  want: %s", exprs, tail, got, want);
	sn_buf_release(&b);
	sn_exec_result_release(&res);
}

static void expect_rows(struct fixture *f, const char *exprs, const char *tail, const char *want)
{
	expect_q(f, exprs, tail, want, false);
}

/* One row over the single event 1 (constant expressions). */
static void expect_one(struct fixture *f, const char *exprs, const char *want)
{
	char w[1024];
	snprintf(w, sizeof(w), "%s\n", want);
	expect_q(f, exprs, "where uuid = '00000000-0000-7000-0000-000000000001'", w, false);
}

static void expect_error(struct fixture *f, const char *exprs, const char *type,
			 const char *msg_part)
{
	char q[1024];
	snprintf(q, sizeof(q), "select %s from events", exprs);
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	if (rc == 0) {
		sn_exec_result_release(&res);
		fail_msg("query succeeded, wanted an error: %s", q);
	}
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s' (%s)", err.msg, msg_part, q);
	if (type)
		assert_string_equal(err.type, type);
}

/* ---- aggregates ------------------------------------------------------------------ */

static void test_count_distinct_if(void **state)
{
	struct fixture *f = *state;
	/* rows 1-4: pv, pv, click, pv */
	expect_rows(f, "countDistinctIf(event, distinct_id != 'c')", "", "2\n");
	/* a's n: 3 and 1; NULL values are skipped */
	expect_rows(f, "countDistinctIf(toInt(properties.n), distinct_id = 'a')", "", "2\n");
	expect_rows(f, "countDistinctIf(toInt(properties.n), distinct_id = 'b')", "", "1\n");
	expect_rows(f, "countDistinctIf(event, 0)", "", "0\n");
	expect_rows(f, "distinct_id, countDistinctIf(event, 1)",
		    "group by distinct_id order by distinct_id", "a\t1\nb\t2\nc\t1\n");
	expect_rows(f, "countDistinctIf(event, NULL)", "", "0\n");
	expect_error(f, "countDistinctIf(event)", "QueryError", "countDistinctIf");
}

static void test_every(void **state)
{
	struct fixture *f = *state;
	/* toBool(min(x)): a select item prints as ClickHouse's Bool (true/false) */
	expect_rows(f, "every(event != 'x')", "", "true\n");
	/* n: 3, 1, 5, NULL, 0; NULLs are skipped */
	expect_rows(f, "every(toInt(properties.n))", "", "false\n");
	expect_rows(f, "distinct_id, every(toInt(properties.n))",
		    "group by distinct_id order by distinct_id", "a\ttrue\nb\ttrue\nc\tfalse\n");
	/* NULL only: min of a Nullable over no value is NULL */
	expect_rows(f, "every(toInt(properties.n))",
		    "where distinct_id = 'b' and uuid = "
		    "'00000000-0000-7000-0000-000000000004'",
		    "\\N\n");
	/* no rows: min's default 0, false */
	expect_rows(f, "every(1)", "where event = 'none'", "false\n");
	expect_rows(f, "every(2.5), every(0.5), every(-0.0)", "", "true\ttrue\tfalse\n");
	/* inside an expression it is the UInt8 0/1 */
	expect_rows(f, "every(2.5) + 0", "", "1\n");
	expect_error(f, "every(event)", "QueryError", "Illegal type String");
}

static void test_array_agg(void **state)
{
	struct fixture *f = *state;
	expect_rows(f, "array_agg(event)", "where distinct_id = 'a'", "['pv','pv']\n");
	expect_rows(f, "array_agg(properties.k)", "where distinct_id = 'b'", "['x']\n");
	expect_rows(f, "array_agg(event)", "where event = 'none'", "[]\n");
	expect_rows(f, "toTypeName(array_agg(event))", "", "Array(String)\n");
}

static void test_group_bitmap(void **state)
{
	struct fixture *f = *state;
	/* lengths 2, 2, 5, 2, 5 */
	expect_rows(f, "groupBitmap(length(event))", "", "2\n");
	expect_rows(f, "groupBitmapIf(length(event), distinct_id = 'a')", "", "1\n");
	expect_rows(f, "groupBitmap(toInt(properties.n))", "", "4\n");
	expect_rows(f, "groupBitmap(-1)", "", "1\n");
	expect_rows(f, "groupBitmap(length(event))", "where event = 'none'", "0\n");
	expect_rows(f, "toTypeName(groupBitmap(1))", "", "UInt64\n");
	expect_error(f, "groupBitmap(event)", "QueryError",
		     "Illegal type String of argument for aggregate function groupBitmap");
	expect_error(f, "groupBitmap(1.5)", "QueryError", "Illegal type Float64");
}

static void test_sum_map(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's example: [1,2,3] three times (pv), [3,4,5] once (click),
	 * values 10 each */
	const char *ab = "where distinct_id in ('a', 'b')";
	expect_rows(f, "sumMap([[1, 2, 3], [3, 4, 5]][if(event = 'pv', 1, 2)], [10, 10, 10])", ab,
		    "([1,2,3,4,5],[30,30,40,10,10])\n");
	/* the tuple form */
	expect_rows(f, "sumMap(([[1, 2, 3], [3, 4, 5]][if(event = 'pv', 1, 2)], [10, 10, 10]))", ab,
		    "([1,2,3,4,5],[30,30,40,10,10])\n");
	/* keys come out sorted, whatever their order */
	expect_rows(f, "sumMap([3, 1, 2], [1, 2, 3])", "", "([1,2,3],[10,15,5])\n");
	/* string keys (current ClickHouse), several value arrays, floats */
	expect_rows(f, "sumMap((['y', 'x'], [1, 2], [0.5, 1.5]))", "where distinct_id = 'a'",
		    "(['x','y'],[4,2],[3,1])\n");
	/* HogQL takes at most two arguments (ClickHouse more value arrays) */
	expect_error(f, "sumMap(['y'], [1], [2])", "QueryError", "at most 2 arguments");
	/* keys whose every value sums to 0 are left out */
	expect_rows(f, "sumMap([1, 2], [[1, -1], [-1, 1]][if(distinct_id = 'a', 1, 2)])", ab,
		    "([],[])\n");
	expect_rows(f, "sumMap([1, 2], [[1, -1], [-1, 2]][if(distinct_id = 'a', 1, 2)])", ab,
		    "([2],[2])\n");
	/* NULL values skipped; a key with only NULLs gets 0 and, all 0, goes */
	expect_rows(f, "sumMap(['a', 'b'], [toInt(properties.n), 1])", "where distinct_id = 'b'",
		    "(['a','b'],[5,2])\n");
	expect_rows(f, "sumMap(['a', 'b'], [toInt(properties.n), 1])",
		    "where uuid = '00000000-0000-7000-0000-000000000004'", "(['b'],[1])\n");
	/* per group, and -If */
	expect_rows(f, "distinct_id, sumMap([event], [1])",
		    "group by distinct_id order by distinct_id",
		    "a\t(['pv'],[2])\nb\t(['click','pv'],[1,1])\nc\t(['click'],[1])\n");
	expect_rows(f, "sumMapIf([event], [1], distinct_id != 'a')", "",
		    "(['click','pv'],[2,1])\n");
	/* no rows */
	expect_rows(f, "sumMap([1], [1])", "where event = 'none'", "([],[])\n");
	/* Int64 sums wrap, as ClickHouse's do */
	expect_rows(f, "sumMap([1], [9223372036854775807])", "where distinct_id = 'a'",
		    "([1],[-2])\n");
	expect_rows(f, "toTypeName(sumMap(['a'], [1.5]))", "",
		    "Tuple(Array(String), Array(Float64))\n");
	expect_rows(f, "toTypeName(sumMap([1], [length(event)]))", "",
		    "Tuple(Array(Int64), Array(UInt64))\n");
	expect_error(f, "sumMap([1, 2], [1])", "QueryError",
		     "Sizes of keys and values arrays do not match");
	expect_error(f, "sumMap(['a'], ['x'])", "QueryError",
		     "Illegal type String of values for aggregate function sumMap");
	expect_error(f, "sumMap(map('a', 'x'))", "QueryError", "Illegal type String of values");
	expect_error(f, "sumMap(1, [1])", "QueryError", "must be an array");
	expect_error(f, "sumMap([1])", "QueryError", "tuple of arrays or a map");
}

static void test_min_max_map(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's example: ([1, 2], [2, 2]) and ([2, 3], [1, 1]) */
	const char *ab = "where distinct_id in ('a', 'b') and event = 'pv' and "
			 "uuid != '00000000-0000-7000-0000-000000000002'";
	expect_rows(f,
		    "minMap([[1, 2], [2, 3]][if(distinct_id = 'a', 1, 2)], [[2, 2], [1, "
		    "1]][if(distinct_id = "
		    "'a', 1, 2)])",
		    ab, "([1,2,3],[2,1,1])\n");
	expect_rows(f,
		    "maxMap([[1, 2], [2, 3]][if(distinct_id = 'a', 1, 2)], [[2, 2], [1, "
		    "1]][if(distinct_id = "
		    "'a', 1, 2)])",
		    ab, "([1,2,3],[2,2,1])\n");
	/* any comparable values, zeros kept (no compaction) */
	expect_rows(f, "minMap(['k'], [event]), maxMap(['k'], [event])", "",
		    "(['k'],['click'])\t(['k'],['pv'])\n");
	expect_rows(f, "minMap(['k'], [0])", "", "(['k'],[0])\n");
	expect_rows(f, "maxMap([1], [toInt(properties.n)])", "", "([1],[5])\n");
	expect_rows(f, "minMapIf([1], [toInt(properties.n)], distinct_id = 'a')", "",
		    "([1],[1])\n");
	/* only NULLs: the value type's default */
	expect_rows(f, "maxMap([1], [toInt(properties.n)])",
		    "where uuid = '00000000-0000-7000-0000-000000000004'", "([1],[0])\n");
	expect_rows(f, "toTypeName(maxMap([1], [toInt(properties.n)]))", "",
		    "Tuple(Array(Int64), Array(Int64))\n");
	expect_error(f, "minMap([1], [NULL])", "QueryError",
		     "Illegal type Nullable(Nothing) of values for aggregate function minMap");
	expect_error(f, "maxMap(map('a', [1]))", "QueryError",
		     "Illegal type Array(Int64) of values for aggregate function maxMap");
}

/* ---- maps -------------------------------------------------------------------------- */

static void test_map_functions(void **state)
{
	struct fixture *f = *state;
	expect_one(f, "map('key1', 1, 'key2', 2)", "{'key1':1,'key2':2}");
	expect_one(f, "toTypeName(map('key1', 1, 'key2', 2))", "Map(String, Int64)");
	expect_one(f, "map()", "{}");
	/* toString prints by the type: Maps as ClickHouse's {'k':v}; the literal makes one */
	expect_one(f,
		   "toString(map('a', 1, 'b', 2)), toString([map('x', [1])]), toString((1, 'a'))",
		   "{'a':1,'b':2}\t[{'x':[1]}]\t(1,'a')");
	expect_one(f, "{'a': 1, 'b': 2}['b'], mapKeys({'k': 'v'})", "2\t['k']");
	expect_one(f, "map('a', NULL)", "{'a':NULL}");
	expect_one(f, "toTypeName(map('a', NULL, 'b', 1))", "Map(String, Nullable(Int64))");
	expect_one(f, "map(1, 'x', 2, '')", "{1:'x',2:''}");
	/* TSV escapes the backslash of the map's text, as it does an array's */
	expect_one(f, "map('', 1)[''], map('a\\'b', 1)", "1\t{'a\\\\'b':1}");
	/* duplicates stay (ClickHouse's map() keeps them); a lookup finds the first */
	expect_one(f, "map('a', 1, 'a', 2)", "{'a':1,'a':2}");
	expect_one(f, "map('a', 1, 'a', 2)['a']", "1");
	expect_one(f, "map('a', 1, 'b', 2)['b'], map('a', 1)['z'], map('a', 'x')['z']", "2\t0\t");
	expect_one(f, "map('a', 1)[NULL]", "\\N");
	expect_one(f, "mapKeys(map('a', 1, 'b', 2)), mapValues(map('a', 1, 'b', 2))",
		   "['a','b']\t[1,2]");
	expect_one(f, "mapKeys(map()), mapKeys(NULL)", "[]\t\\N");
	expect_one(f, "mapContains(map('a', 1), 'a'), mapContains(map('a', 1), 'c')", "1\t0");
	expect_one(f, "mapContains(map('a', 1), NULL)", "\\N");
	expect_one(f, "mapFromArrays(['a', 'b', 'c'], [1, 2, 3])", "{'a':1,'b':2,'c':3}");
	expect_one(f, "mapFromArrays([], [])", "{}");
	expect_one(f, "mapFilter((k, v) -> v % 2 = 0, map('k1', 1, 'k2', 2))", "{'k2':2}");
	expect_one(f, "mapApply((k, v) -> (k, v * 10), map('k1', 1, 'k2', 2))",
		   "{'k1':10,'k2':20}");
	expect_one(f, "toTypeName(mapApply((k, v) -> (v, k), map('k1', 1)))", "Map(Int64, String)");
	expect_one(f, "length(map('a', 1, 'b', 2)), empty(map())", "2\t1");
	expect_one(f, "[map('a', 1)], (map('a', 1), 2)", "[{'a':1}]\t({'a':1},2)");
	/* rows: a map per event, with the event's own values */
	expect_rows(f, "map(event, distinct_id)", "where distinct_id = 'b' order by uuid",
		    "{'click':'b'}\n{'pv':'b'}\n");
	expect_rows(f, "map('n', toInt(properties.n))", "where distinct_id = 'b' order by uuid",
		    "{'n':5}\n{'n':NULL}\n");
	expect_rows(f, "mapContains(map(event, 1), 'pv')", "order by uuid", "1\n1\n0\n1\n0\n");
	expect_error(f, "map('a')", "QueryError", "even number of arguments");
	expect_error(f, "map(NULL, 1)", "QueryError", "a map key cannot be of type");
	expect_error(f, "map([1], 1)", "QueryError", "a map key cannot be of type Array(Int64)");
	expect_error(f, "mapKeys([1])", "QueryError",
		     "Illegal type Array(Int64) of argument 1 of function mapKeys");
	expect_error(f, "mapContains(map('a', 1), 1)", "QueryError", "not comparable");
	expect_error(f, "mapFromArrays(['a'], [1, 2])", "QueryError", "equal sizes");
	expect_error(f, "mapApply((k, v) -> k, map('a', 1))", "QueryError", "(key, value) tuple");
	expect_error(f, "mapFilter(1, map('a', 1))", "QueryError", "lambda");
}

/* The fixture's aggregates run on two scanner threads whose states merge:
 * otherwise the tests above would not cover the merging of map states. */
static void test_two_scanners(void **state)
{
	struct fixture *f = *state;
	const char *q = "select sumMap(map(event, 1)), minMap([1], [length(event)]) from events";
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	assert_int_equal(sn_exec_query(&f->opts, q, strlen(q), &res, &err), 0);
	assert_int_equal(res.stats.scan_threads, 2);
	sn_exec_result_release(&res);
}

static void test_sum_map_of_maps(void **state)
{
	struct fixture *f = *state;
	/* PostHog's $event_count_map: sumMap(map(event, 1)), the -Map combinator
	 * (keys sorted, every key kept) */
	expect_rows(f, "sumMap(map(event, 1))", "", "{'click':2,'pv':3}\n");
	expect_q(f, "sumMap(map(event, 1))", "", "[[{\"click\":2,\"pv\":3}]]", true);
	expect_rows(f, "sumMap(map(event, 0))", "", "{'click':0,'pv':0}\n");
	expect_rows(f, "toTypeName(sumMap(map(event, length(event))))", "",
		    "Map(String, UInt64)\n");
	expect_rows(f, "distinct_id, sumMap(map(event, 1))",
		    "group by distinct_id order by distinct_id",
		    "a\t{'pv':2}\nb\t{'click':1,'pv':1}\nc\t{'click':1}\n");
	expect_rows(f, "maxMap(map(event, toInt(properties.n)))", "", "{'click':5,'pv':3}\n");
	expect_rows(f, "toTypeName(maxMap(map(event, toInt(properties.n))))", "",
		    "Map(String, Nullable(Int64))\n");
	expect_rows(f, "sumMap(map(distinct_id, toInt(properties.n)))",
		    "where distinct_id = 'b' and event = 'pv'", "{'b':NULL}\n");
	expect_rows(f, "minMap(map(1, event))", "", "{1:'click'}\n");
	/* JSON: maps are objects, their keys strings */
	expect_q(f, "map(1, [1, 2]), map('a', map('b', 1.5))",
		 "where uuid = '00000000-0000-7000-0000-000000000001'",
		 "[[{\"1\":[1,2]},{\"a\":{\"b\":1.5}}]]", true);
	expect_q(f, "[map('a', NULL)]", "where uuid = '00000000-0000-7000-0000-000000000001'",
		 "[[[{\"a\":null}]]]", true);
}

/* A {k: v, ...} literal evaluated by array.c directly (eval.c does not
 * route Dict nodes to it yet): the Map of its pairs, as map() makes it. */
static void expect_dict(const char *expr, const char *want_type, const char *want_text)
{
	struct sn_arena qa, ba;
	sn_arena_init(&qa, 1 << 20);
	sn_arena_init(&ba, 1 << 20);
	struct sn_hogql_error err = {0};
	struct sn_hogql_node *n = NULL;
	if (sn_hogql_parse_expr(&qa, expr, strlen(expr), &n, &err))
		fail_msg("parse failed: %s: %s", err.msg, expr);
	struct xquery q = {0};
	struct xctx c = {.q = &q,
			 .src = expr,
			 .len = strlen(expr),
			 .err = &err,
			 .qa = &qa,
			 .ba = &ba,
			 .mem_limit = 1 << 20,
			 .tz = "UTC",
			 .n = 1};
	struct vec v;
	if (xeval_array_node(&c, n, &v))
		fail_msg("%s: %s", expr, err.msg);
	assert_string_equal(v.ct, want_type);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	struct sn_exec_value x = {.type = v.t, .s = v.s[0]};
	assert_int_equal(value_text(&b, &x), 0);
	assert_int_equal(sn_buf_appendc(&b, 0), 0);
	assert_string_equal(b.data, want_text);
	sn_buf_release(&b);
	sn_arena_release(&ba);
	sn_arena_release(&qa);
}

static void test_dict_literal(void **state)
{
	(void)state;
	/* the pairs as the Map's (key, value) tuples, in order */
	expect_dict("{'a': 1, 'b': 2}", "Map(String, Int64)", "[('a',1),('b',2)]");
	expect_dict("{}", "Map(Nothing, Nothing)", "[]");
	expect_dict("{1: 'x', 2: NULL}", "Map(Int64, Nullable(String))", "[(1,'x'),(2,NULL)]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_count_distinct_if), cmocka_unit_test(test_every),
	    cmocka_unit_test(test_array_agg),	      cmocka_unit_test(test_group_bitmap),
	    cmocka_unit_test(test_sum_map),	      cmocka_unit_test(test_min_max_map),
	    cmocka_unit_test(test_map_functions),     cmocka_unit_test(test_sum_map_of_maps),
	    cmocka_unit_test(test_two_scanners),      cmocka_unit_test(test_dict_literal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
