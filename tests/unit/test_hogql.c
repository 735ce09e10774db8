/*
 * test_hogql.c — the HogQL lexer and parser as a user of `snout hogql parse`
 * sees them: tricky tokens decode right, operators bind as PostHog's parser
 * binds them, syntax errors say where and what, PostHog's rejections are
 * rejected, and absurd nesting is an error instead of a stack overflow.
 *
 * Exact AST JSON for hundreds of inputs is checked against PostHog's own
 * parser by tests/hogql/parse.test.mjs; here the JSON is compared without
 * positions against small expectations written by hand.
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

/* Parses text and returns the position-free JSON (static buffer), or
 * "ERR:<type>:<start>:<end>:<msg>" on failure. */
static const char *parse(const char *text, bool expr)
{
	static char out[65536];
	struct sn_arena a;
	struct sn_hogql_node *n = NULL;
	struct sn_hogql_error err;
	memset(&err, 0, sizeof(err));
	sn_arena_init(&a, 64u << 20);
	int rc = expr ? sn_hogql_parse_expr(&a, text, strlen(text), &n, &err)
		      : sn_hogql_parse_select(&a, text, strlen(text), &n, &err);
	if (rc) {
		snprintf(out, sizeof(out), "ERR:%s:%u:%u:%s", err.type, err.start, err.end,
			 err.msg);
	} else {
		struct sn_buf b;
		sn_buf_init(&b, sizeof(out) - 1);
		assert_int_equal(sn_hogql_ast_json(&b, n, NULL, 0), 0);
		memcpy(out, b.data, b.len + 1);
		sn_buf_release(&b);
	}
	sn_arena_release(&a);
	return out;
}

#define EXPECT_EXPR(text, json) assert_string_equal(parse(text, true), json)

static void test_lexer_tokens(void **state)
{
	(void)state;
	struct sn_arena a;
	struct sn_hogql_token *t;
	size_t n;
	struct sn_hogql_error err;
	sn_arena_init(&a, 1u << 20);
	const char *src = "a.$b `x``y` \"p\"\"q\" 'it''s\\n' 0x1F 0b101 1.5e3 .5 "
			  "-> :: =~* !~* ?. ?? <> -- comment\n/* block */ x";
	assert_int_equal(sn_hogql_lex(&a, src, strlen(src), &t, &n, &err), 0);
	const char *want[] = {"a",     ".",	"$b", "x`y", "p\"q", "it's\n", "0x1F",
			      "0b101", "1.5e3", ".",  "5",   "->",   "::",     "=~*",
			      "!~*",   "?.",	"??", "<>",  "x",    ""};
	assert_int_equal(n, SN_ARRAY_LEN(want));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(t[i].text, want[i]);
	assert_int_equal(t[3].kind, SN_TOK_QIDENT);
	assert_int_equal(t[5].kind, SN_TOK_STRING);
	assert_int_equal(t[6].kind, SN_TOK_HEX);
	assert_int_equal(t[8].kind, SN_TOK_FLOAT);
	assert_int_equal(t[n - 1].kind, SN_TOK_EOF);
	sn_arena_release(&a);
}

static void test_literals(void **state)
{
	(void)state;
	EXPECT_EXPR("010", "{\"node\":\"Constant\",\"value\":10}");
	EXPECT_EXPR("0x1F", "{\"node\":\"Constant\",\"value\":31}");
	EXPECT_EXPR("0b101", "{\"node\":\"Constant\",\"value\":5}");
	EXPECT_EXPR("1e3", "{\"node\":\"Constant\",\"value\":1000.0}");
	EXPECT_EXPR(".5", "{\"node\":\"Constant\",\"value\":0.5}");
	EXPECT_EXPR("- 1", "{\"node\":\"Constant\",\"value\":-1}");
	EXPECT_EXPR("-inf",
		    "{\"node\":\"Constant\",\"value\":\"-Infinity\",\"value_type\":\"number\"}");
	EXPECT_EXPR("nan", "{\"node\":\"Constant\",\"value\":\"NaN\",\"value_type\":\"number\"}");
	EXPECT_EXPR("9223372036854775808", "{\"node\":\"Constant\",\"value\":"
					   "\"9223372036854775808\",\"value_type\":\"number\"}");
	EXPECT_EXPR("-9223372036854775808",
		    "{\"node\":\"Constant\",\"value\":-9223372036854775808}");
	EXPECT_EXPR("TRUE", "{\"node\":\"Constant\",\"value\":true}");
	EXPECT_EXPR("null", "{\"node\":\"Constant\",\"value\":null}");
	/* \0 vanishes, \xHH stays undecoded, \\n is backslash + n. */
	EXPECT_EXPR("'a\\x41\\0b\\\\n'", "{\"node\":\"Constant\",\"value\":\"a\\\\x41b\\\\n\"}");
	EXPECT_EXPR("'it''s' ", "{\"node\":\"Constant\",\"value\":\"it's\"}");
	EXPECT_EXPR("`a``b`", "{\"node\":\"Field\",\"chain\":[\"a`b\"]}");
	EXPECT_EXPR("e.`$browser`.x", "{\"node\":\"Field\",\"chain\":[\"e\",\"$browser\",\"x\"]}");
}

static void test_precedence(void **state)
{
	(void)state;
	EXPECT_EXPR("-a * b",
		    "{\"node\":\"ArithmeticOperation\",\"op\":\"*\",\"left\":{\"node\":"
		    "\"ArithmeticOperation\",\"op\":\"-\",\"left\":{\"node\":\"Constant\","
		    "\"value\":0},\"right\":{\"node\":\"Field\",\"chain\":[\"a\"]}},"
		    "\"right\":{\"node\":\"Field\",\"chain\":[\"b\"]}}");
	EXPECT_EXPR("a or b and c",
		    "{\"node\":\"Or\",\"exprs\":[{\"node\":\"Field\",\"chain\":[\"a\"]},{\"node\":"
		    "\"And\",\"exprs\":[{\"node\":\"Field\",\"chain\":[\"b\"]},{\"node\":"
		    "\"Field\",\"chain\":[\"c\"]}]}]}");
	EXPECT_EXPR("not a = 1",
		    "{\"node\":\"Not\",\"expr\":{\"node\":\"CompareOperation\",\"op\":"
		    "\"==\",\"left\":{\"node\":\"Field\",\"chain\":[\"a\"]},\"right\":{"
		    "\"node\":\"Constant\",\"value\":1}}}");
	EXPECT_EXPR("x between 1 and 2 and 3",
		    "{\"node\":\"And\",\"exprs\":[{\"node\":\"BetweenExpr\",\"expr\":{\"node\":"
		    "\"Field\",\"chain\":[\"x\"]},\"low\":{\"node\":\"Constant\",\"value\":1},"
		    "\"high\":{\"node\":\"Constant\",\"value\":2},\"negated\":false},{\"node\":"
		    "\"Constant\",\"value\":3}]}");
	EXPECT_EXPR("a ?? b ?? c",
		    "{\"node\":\"Call\",\"name\":\"ifNull\",\"args\":[{\"node\":\"Call\",\"name\":"
		    "\"ifNull\",\"args\":[{\"node\":\"Field\",\"chain\":[\"a\"]},{\"node\":"
		    "\"Field\",\"chain\":[\"b\"]}]},{\"node\":\"Field\",\"chain\":[\"c\"]}]}");
	EXPECT_EXPR(
	    "a || b || c",
	    "{\"node\":\"Call\",\"name\":\"concat\",\"args\":[{\"node\":\"Field\",\"chain\":"
	    "[\"a\"]},{\"node\":\"Field\",\"chain\":[\"b\"]},{\"node\":\"Field\",\"chain\":"
	    "[\"c\"]}]}");
	EXPECT_EXPR("a is null", "{\"node\":\"CompareOperation\",\"op\":\"==\",\"left\":{\"node\":"
				 "\"Field\",\"chain\":[\"a\"]},\"right\":{\"node\":\"Constant\","
				 "\"value\":null},\"is_null_comparison_style\":true}");
	EXPECT_EXPR("a + b as c",
		    "{\"node\":\"Alias\",\"alias\":\"c\",\"expr\":{\"node\":"
		    "\"ArithmeticOperation\",\"op\":\"+\",\"left\":{\"node\":\"Field\","
		    "\"chain\":[\"a\"]},\"right\":{\"node\":\"Field\",\"chain\":[\"b\"]}}}");
	EXPECT_EXPR("x.1.2", "{\"node\":\"TupleAccess\",\"tuple\":{\"node\":\"TupleAccess\","
			     "\"tuple\":{\"node\":\"Field\",\"chain\":[\"x\"]},\"index\":1},"
			     "\"index\":2}");
	EXPECT_EXPR("interval '3 weeks'", "{\"node\":\"Call\",\"name\":\"toIntervalWeek\",\"args\":"
					  "[{\"node\":\"Constant\",\"value\":3}]}");
}

static void test_select_shapes(void **state)
{
	(void)state;
	const char *j = parse("select a from t limit 5, 10", false);
	assert_non_null(strstr(j, "\"limit\":{\"node\":\"Constant\",\"value\":5}"));
	assert_non_null(strstr(j, "\"offset\":{\"node\":\"Constant\",\"value\":10}"));
	j = parse("select a from t asof left join u on 1", false);
	assert_non_null(strstr(j, "\"join_type\":\"LEFT ASOF JOIN\""));
	j = parse("select 1 intersect select 2 union all select 3", false);
	assert_non_null(strstr(j, "\"set_operator\":\"INTERSECT\""));
	assert_non_null(strstr(j, "\"set_operator\":\"UNION ALL\""));
	j = parse("with 1 as c select c", false);
	assert_non_null(strstr(j, "\"cte_type\":\"column\""));
}

static void expect_error(const char *text, bool expr, const char *type, unsigned start,
			 unsigned end, const char *msg_part)
{
	const char *r = parse(text, expr);
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "ERR:%s:%u:%u:", type, start, end);
	if (strncmp(r, prefix, strlen(prefix)) != 0 || !strstr(r, msg_part))
		fail_msg("%s: got %s, want %s...%s", text, r, prefix, msg_part);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("a && b", true, "SyntaxError", 2, 3, "Unexpected character '&'");
	expect_error("!!!", true, "SyntaxError", 0, 1, "Unexpected character '!'");
	expect_error("'é", true, "SyntaxError", 0, 2, "Unterminated string");
	expect_error("'\\q'", true, "SyntaxError", 1, 3, "Invalid escape");
	expect_error("1 +", true, "SyntaxError", 3, 3, "Unexpected end of query");
	expect_error("select (1", false, "SyntaxError", 9, 9, "expected ')'");
	expect_error("select 1 select 2", false, "SyntaxError", 9, 15, "'select'");
	expect_error("select a from t left array join arr", false, "SyntaxError", 32, 35,
		     "ARRAY JOIN arrays must have an alias");
	expect_error("select a as true", false, "SyntaxError", 12, 16, "reserved keyword");
	expect_error("select from events", false, "SyntaxError", 7, 18,
		     "Cannot use \"from\" before an implicit alias");
	expect_error("0o17", true, "SyntaxError", 0, 4, "0o");
	expect_error("/* open", true, "SyntaxError", 0, 7, "Unterminated /*");
}

static void test_rejections(void **state)
{
	(void)state;
	expect_error("select 1 settings max_threads=1", false, "NotImplementedError", 9, 17,
		     "settingsClause");
	expect_error("select top 5 a from t", false, "NotImplementedError", 7, 12, "topClause");
	expect_error("date '2024-01-01'", true, "NotImplementedError", 0, 17, "ColumnExprDate");
	expect_error("timestamp '2024-01-01'", true, "NotImplementedError", 0, 22,
		     "ColumnExprTimestamp");
	expect_error("substring(s from 1 for 2)", true, "NotImplementedError", 0, 0,
		     "ColumnExprSubstring");
	expect_error("<Sparkline data={[1]} />", true, "NotImplementedError", 0, 1, "HogQLX");
	expect_error("select a from t group by grouping sets ((a))", false, "NotImplementedError",
		     25, 38, "GROUPING SETS");
}

static void test_deep_nesting(void **state)
{
	(void)state;
	size_t depth = 100000;
	char *s = malloc(2 * depth + 2);
	assert_non_null(s);
	memset(s, '(', depth);
	s[depth] = '1';
	memset(s + depth + 1, ')', depth);
	s[2 * depth + 1] = 0;
	assert_non_null(strstr(parse(s, true), "nested too deeply"));
	memset(s, '-', depth); /* - - - ... 1 */
	for (size_t i = 0; i < depth; i += 2)
		s[i + 1] = ' ';
	s[depth] = 'x';
	s[depth + 1] = 0;
	assert_non_null(strstr(parse(s, true), "nested too deeply"));
	memset(s, '[', depth);
	s[depth] = 0;
	assert_non_null(strstr(parse(s, true), "nested too deeply"));
	free(s);
	/* Moderate nesting is fine. */
	assert_string_equal(parse("((((((((((1))))))))))", true),
			    "{\"node\":\"Constant\",\"value\":1}");
}

static void test_positions(void **state)
{
	(void)state;
	struct sn_arena a;
	struct sn_hogql_node *n;
	struct sn_hogql_error err;
	const char *src = "(a + b) * c";
	sn_arena_init(&a, 1u << 20);
	assert_int_equal(sn_hogql_parse_expr(&a, src, strlen(src), &n, &err), 0);
	assert_true(n->has_pos);
	assert_int_equal(n->start, 0);
	assert_int_equal(n->end, 11);
	assert_int_equal(n->a->start, 1); /* the sum keeps its own span */
	assert_int_equal(n->a->end, 6);
	struct sn_buf b;
	sn_buf_init(&b, 1u << 20);
	assert_int_equal(sn_hogql_ast_json(&b, n, src, strlen(src)), 0);
	assert_non_null(strstr(b.data, "\"start\":{\"line\":1,\"column\":0,\"offset\":0}"));
	sn_buf_release(&b);
	sn_arena_release(&a);
}

static void test_arena_limit(void **state)
{
	(void)state;
	struct sn_arena a;
	struct sn_hogql_node *n;
	struct sn_hogql_error err;
	const char *src = "select a, b, c, d, e, f, g, h from t where x = 1 and y = 2";
	sn_arena_init(&a, 512);
	int rc = sn_hogql_parse_select(&a, src, strlen(src), &n, &err);
	assert_int_equal(rc, SN_ERR_NOMEM);
	sn_arena_release(&a);
}

/* ---- printer ------------------------------------------------------------------- */

/* Parses text, prints it; returns the printed text (static) or "ERR:...". */
static const char *print_text(const char *text, bool expr)
{
	static char out[65536];
	struct sn_arena a;
	struct sn_hogql_node *n = NULL;
	struct sn_hogql_error err;
	memset(&err, 0, sizeof(err));
	sn_arena_init(&a, 64u << 20);
	int rc = expr ? sn_hogql_parse_expr(&a, text, strlen(text), &n, &err)
		      : sn_hogql_parse_select(&a, text, strlen(text), &n, &err);
	if (rc) {
		snprintf(out, sizeof(out), "ERR:%s", err.msg);
	} else {
		struct sn_buf b;
		sn_buf_init(&b, sizeof(out) - 1);
		assert_true((expr ? sn_hogql_print_expr(&b, n) : sn_hogql_print(&b, n)) >= 0);
		memcpy(out, b.data, b.len + 1);
		sn_buf_release(&b);
	}
	sn_arena_release(&a);
	return out;
}

/* The round trip for one text: parse → print → parse gives the same JSON. */
static bool round_trips(const char *text, bool expr, char *why, size_t whylen)
{
	char first[65536], printed[65536];
	snprintf(first, sizeof(first), "%s", parse(text, expr));
	if (strncmp(first, "ERR:", 4) == 0)
		return true; /* nothing to print */
	snprintf(printed, sizeof(printed), "%s", print_text(text, expr));
	const char *again = parse(printed, expr);
	if (strcmp(again, first) == 0)
		return true;
	snprintf(why, whylen, "%s\n  printed: %s\n  before: %.300s\n  after:  %.300s", text,
		 printed, first, again);
	return false;
}

static void test_print_canonical(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"1 + 2 * 3", "1 + 2 * 3"},
	    {"(1 + 2) * 3", "(1 + 2) * 3"},
	    {"a - (b - c)", "a - (b - c)"},
	    {"(a - b) - c", "a - b - c"},
	    {"a ?? b ?? c", "a ?? b ?? c"},
	    {"a ?? (b ?? c)", "a ?? (b ?? c)"},
	    {"-x", "-x"},
	    {"- 1", "-1"},
	    {"-(1)", "-(1)"},
	    {"not (a or b)", "not(a OR b)"},
	    {"NOT a AND b", "NOT a AND b"},
	    {"(a or b) and c", "(a OR b) AND c"},
	    {"a is null", "a IS NULL"},
	    {"(a = 1) is not null", "a = 1 IS NOT NULL"},
	    {"c ? a : b", "CASE WHEN c THEN a ELSE b END"},
	    {"interval 3 day", "INTERVAL (3) DAY"},
	    {"a || 'b'", "a || 'b'"},
	    {"f'x{a}y'", "'x' || a || 'y'"},
	    {"'it''s \\\\ \\n'", "'it\\'s \\\\ \\n'"},
	    {"`weird col` + `date` + e.date + \"true\"", "`weird col` + `date` + e.date + `true`"},
	    {"1.5 + 1e3 + 0x10 + inf", "1.5 + 1000.0 + 16 + inf"},
	    {"(1).1 + t.1.2", "(1).1 + t.1.2"},
	    {"properties.$browser", "properties.$browser"},
	    {"x::Int64 + cast(y as Nullable(String))", "x::int64 + CAST(y AS nullable(string))"},
	    {"(x) -> x + 1", "(x) -> x + 1"},
	    {"a as b", "a AS b"},
	    {"((select 1))", "(SELECT 1)"},
	    {"0b1000000000000000000000000000000000000000000000000000000000000000",
	     "0b1000000000000000000000000000000000000000000000000000000000000000"},
	    {"a(count := `from` as events)", "a(count := `from` AS events)"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++)
		assert_string_equal(print_text(cases[i].in, true), cases[i].want);
	assert_string_equal(
	    print_text("select a b, count(*) from events e left join persons p on e.person_id = "
		       "p.id where x group by a having count() > 1 order by b desc limit 5, 10",
		       false),
	    "SELECT a AS b, count(*) FROM events AS e LEFT JOIN persons AS p ON e.person_id = "
	    "p.id WHERE x GROUP BY a HAVING count() > 1 ORDER BY b DESC LIMIT 5 OFFSET 10");
	assert_string_equal(print_text("(select 1 union all select 2) union all select 3", false),
			    "(SELECT 1 UNION ALL SELECT 2) UNION ALL SELECT 3");
}

static void test_print_round_trip_cases(void **state)
{
	(void)state;
	static const char *const sel[] = {
	    "with 1 as c, t(a) as (select 1) select * exclude (a), t.* exclude (b), "
	    "columns('x'), #1, {p}, {'a': 1}, a?.b, a?.1, a[1:2], a[:], x is distinct from y, "
	    "x not in cohort 5, f'{concat(a,b)}x', trim(leading 'x' from y), case a when 1 then "
	    "2 end from {t} as t join u using (a, b)",
	    "select f(select 1), not -(a or b) * c, (a -> a + 1)(2), arrayMap((x, y) -> x, a, "
	    "b), quantile(0.5)(x), count(distinct x) filter (where y), row_number() over "
	    "(partition by a order by b rows between unbounded preceding and current row), "
	    "sum(x) over w, 1.5e300, -0.0, 1e-7, 99999999999999999999, -inf, nan from "
	    "numbers(10) as n final sample 1/10 offset 1/2 array join arr as x qualify x window "
	    "w as (order by a) limit 2 by a limit 10 with ties offset 3",
	    "select 1 union all (select 2 intersect select 3) except select 4",
	    "select a from (select a from t) as s(a) any left join (select 1) x on s.a = x.a",
	    "select `a``b`, 'x\\'y', \"q\"\"r\", e.`$browser`.x from events",
	    "select a, -(-5), - -x, 0 - 5, not not a, (a, b) in (select 1, 2) from t",
	    /* fuzz: a first column that starts with the word distinct */
	    "select ((distinct())), 1",
	    "select distinct(1)",
	    "select f((distinct())), count(distinct distinct)",
	    "select x::`a(b`, y::`a)b(`, cast(z as Nullable(String))",
	    /* Found by the fuzzer. */
	    "select not 6(a or b) * c, not f.g(x), `h`(1), cast(x as a - - b) from t join u using "
	    "( )",
	    "select dateTrunc('month', timestamp) as m, count := from events group by m",
	    "select 0xffffffffffffffffff, -0x1dddddddddddddddddd from t",
	    "select not no := a",
	    "select t group by (rollup(a)), b",
	};
	char why[2048];
	for (size_t i = 0; i < SN_ARRAY_LEN(sel); i++)
		if (!round_trips(sel[i], false, why, sizeof(why)))
			fail_msg("%s", why);
}

/* Every corpus line that parses must round-trip (the corpus sits next to the
 * differential test, located from this file's path). */
static void test_print_round_trip_corpus(void **state)
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
	char line[16384], why[2048];
	size_t checked = 0, failed = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		bool expr = strncmp(line, "expr:", 5) == 0;
		const char *text = expr ? line + 5 : line;
		if (strncmp(parse(text, expr), "ERR:", 4) == 0)
			continue;
		checked++;
		if (!round_trips(text, expr, why, sizeof(why))) {
			print_message("round trip failed: %s\n", why);
			failed++;
		}
	}
	fclose(f);
	assert_true(checked >= 300);
	assert_int_equal(failed, 0);
}

/* ---- resolver ------------------------------------------------------------------ */

/* Resolves text; returns "ERR:<start>:<end>:<msg>" or the canonical text
 * followed by " ;; " and the type of the first select column (or of the
 * expression). */
static const char *resolve(const char *text, bool expr)
{
	static char out[8192];
	struct sn_arena a;
	struct sn_hogql_node *n = NULL;
	struct sn_hogql_error err;
	memset(&err, 0, sizeof(err));
	sn_arena_init(&a, 16u << 20);
	int rc = expr ? sn_hogql_parse_expr(&a, text, strlen(text), &n, &err)
		      : sn_hogql_parse_select(&a, text, strlen(text), &n, &err);
	assert_int_equal(rc, 0);
	rc = sn_hogql_resolve(&a, n, text, strlen(text), NULL, &err);
	if (rc) {
		assert_string_equal(err.type, "QueryError");
		snprintf(out, sizeof(out), "ERR:%u:%u:%s", err.start, err.end, err.msg);
	} else {
		struct sn_buf b;
		char tn[48];
		sn_buf_init(&b, sizeof(out) - 64);
		assert_true((expr ? sn_hogql_print_expr(&b, n) : sn_hogql_print(&b, n)) >= 0);
		const struct sn_hogql_node *first = expr ? n : n->sel ? n->sel->select.items[0] : n;
		snprintf(out, sizeof(out), "%s ;; %s", b.data,
			 sn_hogql_type_name(first->rtype, tn, sizeof(tn)));
		sn_buf_release(&b);
	}
	sn_arena_release(&a);
	return out;
}

static const char *type_of(const char *select_text)
{
	const char *r = resolve(select_text, false);
	const char *t = strstr(r, " ;; ");
	return t ? t + 4 : r;
}

static void test_resolve_types(void **state)
{
	(void)state;
	static const struct {
		const char *q, *type;
	} cases[] = {
	    {"select event from events", "String"},
	    {"select timestamp from events", "DateTime"},
	    {"select uuid from events", "UUID"},
	    {"select properties.$browser from events", "Nullable(String)"},
	    {"select properties['a']['b'] from events", "Nullable(String)"},
	    {"select e.properties.$current_url from events e", "Nullable(String)"},
	    {"select person.properties.email from events", "Nullable(String)"},
	    {"select person.id from events", "Nullable(UUID)"},
	    {"select pdi.distinct_id from events", "Nullable(String)"},
	    {"select session.$session_duration from events", "Nullable(Int64)"},
	    {"select $session_id from events", "String"},
	    {"select $group_2 from events", "String"},
	    {"select elements_chain from events", "String"},
	    {"select is_identified from persons", "Bool"},
	    {"select person_id from person_distinct_ids", "UUID"},
	    {"select key from groups", "String"},
	    {"select $is_bounce from sessions", "Nullable(Bool)"},
	    {"select number from numbers(10)", "Int64"},
	    {"select count() from events", "Int64"},
	    {"select avg(1) from events", "Float64"},
	    {"select 1 + 2", "Int64"},
	    {"select 1 + 2.5", "Float64"},
	    {"select 4 / 2", "Float64"},
	    {"select timestamp + interval 1 day from events", "DateTime"},
	    {"select event = 'x' from events", "Bool"},
	    {"select properties.a = NULL from events", "Bool"},
	    {"select toInt('1')", "Nullable(Int64)"},
	    {"select toStartOfDay(timestamp) from events", "DateTime"},
	    {"select lower(event) from events", "String"},
	    {"select ifNull(properties.x, 'none') from events", "String"},
	    {"select x from (select event as x from events)", "String"},
	    {"with t as (select timestamp ts from events) select ts from t", "DateTime"},
	    {"select e.event as n from events e order by n", "String"},
	    {"select arrayMap(x -> x + 1, [1, 2])", "Array"},
	    {"select NULL", "Nothing"},
	    {"select cast(event as Nullable(Float64)) from events", "Nullable(Float64)"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++) {
		const char *got = type_of(cases[i].q);
		if (strcmp(got, cases[i].type) != 0)
			fail_msg("%s: want %s, got %s", cases[i].q, cases[i].type, got);
	}
}

static void test_resolve_errors(void **state)
{
	(void)state;
	static const struct {
		const char *q, *want;
	} cases[] = {
	    {"select foo from events", "ERR:7:10:Unable to resolve field: foo"},
	    {"select e.foo from events e", "ERR:7:12:Unable to resolve field: foo"},
	    {"select x.event from events e", "ERR:7:14:Unable to resolve field: x"},
	    {"select person.foo from events", "ERR:7:17:Field not found: foo on table persons"},
	    {"select event.x from events",
	     "ERR:7:14:Can not access property \"x\" on field \"event\" of type String"},
	    {"select 1 from evnts", "ERR:14:19:Unknown table `evnts`."},
	    {"select 1 from person", "ERR:14:20:Unknown table `person`."},
	    {"select 1 from sharded_events", "ERR:14:28:Unknown table `sharded_events`."},
	    {"select cuont() from events",
	     "ERR:7:14:Unsupported function call 'cuont(...)'. Perhaps you meant 'count'?"},
	    {"select xyzzyplugh(1)", "ERR:7:20:Unsupported function call 'xyzzyplugh(...)'"},
	    {"select lower()", "ERR:7:14:Function 'lower' expects 1 argument, found 0"},
	    {"select concat('a')",
	     "ERR:7:18:Function 'concat' expects at least 2 arguments, found 1"},
	    {"select toStartOfDay(1, 2, 3)",
	     "ERR:7:28:Function 'toStartOfDay' expects at most 2 arguments, found 3"},
	    {"select quantile(0.5, 0.9)(x) from numbers(1)",
	     "ERR:7:28:Function 'quantile' expects at most 1 parameter, found 2"},
	    {"select sum(count()) from events",
	     "ERR:11:18:Aggregation 'count' cannot be nested inside another aggregation 'sum'."},
	    {"select distinct_id from events, persons p, person_distinct_ids",
	     "ERR:7:18:Ambiguous query. Found multiple sources for field: distinct_id"},
	    {"select 1 from events e, persons e",
	     "ERR:24:33:Table alias with the same name as another table: e"},
	    {"select 1 from numbers",
	     "ERR:14:21:Table function 'numbers' needs arguments: numbers(...)"},
	    {"select 1 where {x}", "ERR:15:18:Unresolved placeholder {x}; pass a value for it"},
	    {"select *", "ERR:7:8:Cannot select * without a FROM clause"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++)
		assert_string_equal(resolve(cases[i].q, false), cases[i].want);
	/* Positions are characters, not bytes. */
	assert_string_equal(resolve("select 'é', nope from events", false),
			    "ERR:12:16:Unable to resolve field: nope");
}

static void test_resolve_scopes(void **state)
{
	(void)state;
	/* A lambda argument shadows nothing and needs no table. */
	assert_null(strstr(resolve("select arrayFilter(x -> x > 1, [1, 2])", false), "ERR"));
	/* Correlated subquery sees the outer table; the inner alias does not leak. */
	assert_null(strstr(resolve("select event, (select count() from persons where "
				   "persons.id = e.uuid) from events e",
				   false),
			   "ERR"));
	assert_non_null(strstr(resolve("select p.id, (select 1 from persons p) from events", false),
			       "Unable to resolve field: p"));
	/* ARRAY JOIN aliases and SELECT aliases are names. */
	assert_null(strstr(resolve("select a, length(event) as c from events array join [1] as a "
				   "where c > 1",
				   false),
			   "ERR"));
	assert_non_null(strstr(resolve("select b from events", false), "Unable to resolve"));
	/* Combinators of allow-listed aggregates are allowed, with If adding an argument. */
	assert_null(strstr(
	    resolve("select sumIf(1, event = 'a'), uniqOrNull(event) from events", false), "ERR"));
	assert_non_null(
	    strstr(resolve("select sumIf(1) from events", false), "expects 2 arguments, found 1"));
	/* Raw storage names are not addressable; only the virtual schema is. */
	assert_non_null(
	    strstr(resolve("select 1 from person_distinct_id2", false), "Unknown table"));
	assert_true(sn_hogql_func_count() >= 150);
	/* A USING column is one merged column, not ambiguous; other shared
	 * names still are. */
	assert_null(strstr(resolve("select x from (select 1 as x) as a join (select 1 as x, 2 "
				   "as y) as b using (x)",
				   false),
			   "ERR"));
	assert_null(strstr(resolve("select x, y from (select 1 as x, 2 as y) as a join (select 1 "
				   "as x) as b using x",
				   false),
			   "ERR"));
	assert_non_null(strstr(resolve("select y from (select 1 as x, 2 as y) as a join (select 1 "
				       "as x, 2 as y) as b using (x)",
				       false),
			       "Ambiguous query. Found multiple sources for field: y"));
	/* A CTE is not visible inside its own body: there the name is the
	 * table (typed as the table), outside it is the CTE. */
	assert_string_equal(type_of("with events as (select event from events) select event from "
				    "events"),
			    "String");
	assert_non_null(strstr(resolve("with events as (select 1 as x from events) select "
				       "event from events",
				       false),
			       "Unable to resolve field: event"));
	assert_non_null(strstr(resolve("with s as (select 1 from s) select 1 from s", false),
			       "Unknown table `s`."));
	/* sessions fields have their schema types */
	assert_string_equal(type_of("select $session_duration from sessions"), "Int64");
	assert_string_equal(type_of("select $is_bounce from sessions"), "Nullable(Bool)");
	assert_string_equal(type_of("select $entry_pathname from sessions"), "Nullable(String)");
	assert_string_equal(type_of("select $start_timestamp from sessions"), "DateTime");
	assert_string_equal(type_of("select session.$urls from events"), "Nullable(Array)");
	assert_string_equal(type_of("select pdi.distinct_id from persons"), "Nullable(String)");
	assert_string_equal(type_of("select person.properties.a from cohort_people"),
			    "Nullable(String)");
}

static void test_resolve_limits(void **state)
{
	(void)state;
	assert_non_null(strstr(resolve("select 1", false), "SELECT 1 LIMIT 100 ;;"));
	assert_non_null(strstr(resolve("select 1 limit 7", false), "SELECT 1 LIMIT 7 ;;"));
	assert_non_null(strstr(resolve("select 1 limit 1000000", false), "LIMIT 50000 ;;"));
	assert_non_null(strstr(resolve("select 1 limit 50000", false), "LIMIT 50000 ;;"));
	assert_non_null(strstr(resolve("select number from numbers(5) limit number", false),
			       "LIMIT min2(50000, number) ;;"));
	/* Each UNION member is limited; subqueries are not. */
	assert_non_null(strstr(resolve("select 1 union all select 2 limit 3", false),
			       "SELECT 1 LIMIT 100 UNION ALL SELECT 2 LIMIT 3 ;;"));
	assert_non_null(strstr(resolve("select x from (select 1 as x)", false),
			       "SELECT x FROM (SELECT 1 AS x) LIMIT 100 ;;"));
	/* Options override the defaults. */
	struct sn_arena a;
	struct sn_hogql_node *n;
	struct sn_hogql_error err;
	const char *q = "select 1 limit 900";
	struct sn_hogql_resolve_opts o = {.team_id = 1, .default_limit = 10, .max_limit = 500};
	sn_arena_init(&a, 1u << 20);
	assert_int_equal(sn_hogql_parse_select(&a, q, strlen(q), &n, &err), 0);
	assert_int_equal(sn_hogql_resolve(&a, n, q, strlen(q), &o, &err), 0);
	assert_int_equal(n->sel->limit->ival, 500);
	sn_arena_release(&a);
}

/* ---- typed properties ------------------------------------------------------------ */

/* The definitions of the test: event prop Numeric, flag Boolean, at
 * DateTime, s String; person age and prop Numeric; group 1 size Numeric. */
static int test_types(void *ctx, int src, int gi, const char *name)
{
	(*(int *)ctx)++;
	if (src == SN_HQP_EVENT && strcmp(name, "prop") == 0)
		return SN_HQPT_NUMERIC;
	if (src == SN_HQP_EVENT && strcmp(name, "flag") == 0)
		return SN_HQPT_BOOLEAN;
	if (src == SN_HQP_EVENT && strcmp(name, "at") == 0)
		return SN_HQPT_DATETIME;
	if (src == SN_HQP_EVENT && strcmp(name, "s") == 0)
		return SN_HQPT_STRING;
	if (src == SN_HQP_PERSON && gi == -1 &&
	    (strcmp(name, "age") == 0 || strcmp(name, "prop") == 0))
		return SN_HQPT_NUMERIC;
	if (src == SN_HQP_GROUP && gi == 1 && strcmp(name, "size") == 0)
		return SN_HQPT_NUMERIC;
	return SN_HQPT_NONE;
}

/* n's shape: a typed wrapper as NAME[chain], other calls as name(args),
 * fields as their chain, aliases as inner AS name; else "_". */
static void shape(struct sn_buf *b, const struct sn_hogql_node *n)
{
	if (n->typed_of) {
		sn_buf_appendf(b, "%s[", n->name);
		shape(b, n->typed_of);
		sn_buf_appends(b, "]");
		return;
	}
	switch (n->kind) {
	case SN_HQ_FIELD:
		for (size_t i = 0; i < n->strs.n; i++)
			sn_buf_appendf(b, "%s%s", i ? "." : "", n->strs.items[i]);
		break;
	case SN_HQ_ALIAS:
		shape(b, n->a);
		sn_buf_appendf(b, " AS %s", n->name);
		break;
	case SN_HQ_CALL:
		sn_buf_appendf(b, "%s(", n->name);
		for (size_t i = 0; i < n->list.n; i++) {
			if (i)
				sn_buf_appends(b, ", ");
			shape(b, n->list.items[i]);
		}
		sn_buf_appends(b, ")");
		break;
	default: sn_buf_appends(b, "_");
	}
}

/* Resolves a SELECT with the test's types; "<shape of item 0> ;; <its
 * type> ;; <HogQL text>" or "ERR:<msg>". *lookups counts the callbacks. */
static const char *typed(const char *q, int *lookups)
{
	static char out[4096];
	struct sn_arena a;
	struct sn_hogql_node *n;
	struct sn_hogql_error err = {0};
	struct sn_hogql_prop_types pt = {.lookup = test_types, .ctx = lookups};
	struct sn_hogql_resolve_opts o = {.team_id = 1, .prop_types = &pt};
	sn_arena_init(&a, 4u << 20);
	assert_int_equal(sn_hogql_parse_select(&a, q, strlen(q), &n, &err), 0);
	if (sn_hogql_resolve(&a, n, q, strlen(q), &o, &err)) {
		snprintf(out, sizeof(out), "ERR:%s", err.msg);
	} else {
		struct sn_buf b, t;
		char tn[48];
		sn_buf_init(&b, 2048);
		sn_buf_init(&t, 2048);
		const struct sn_hogql_node *it = n->sel->select.items[0];
		shape(&b, it);
		assert_true(sn_hogql_print(&t, n) >= 0);
		snprintf(out, sizeof(out), "%s ;; %s ;; %s", b.data,
			 sn_hogql_type_name(it->rtype, tn, sizeof(tn)), t.data);
		sn_buf_release(&b);
		sn_buf_release(&t);
	}
	sn_arena_release(&a);
	return out;
}

static void test_resolve_property_types(void **state)
{
	(void)state;
	int k = 0;
	/* Numeric: toFloat; the HogQL text stays what the user wrote. */
	assert_string_equal(typed("select properties.prop from events", &k),
			    "toFloat[properties.prop] AS prop ;; Nullable(Float64) ;; "
			    "SELECT properties.prop AS prop FROM events LIMIT 100");
	assert_string_equal(typed("select sum(properties.prop) from events", &k),
			    "sum(toFloat[properties.prop]) ;; Nullable(Float64) ;; "
			    "SELECT sum(properties.prop) FROM events LIMIT 100");
	/* The same name from the event and the person, both typed: one alias
	 * (ClickHouse refuses two), both columns named prop (§4.8). */
	assert_string_equal(
	    typed("select properties.prop, person.properties.prop from events", &k),
	    "toFloat[properties.prop] AS prop ;; Nullable(Float64) ;; "
	    "SELECT properties.prop AS prop, person.properties.prop FROM events LIMIT 100");
	/* Boolean: PostHog's transform of the text; DateTime: toDateTime. */
	assert_string_equal(typed("select properties.flag from events", &k),
			    "toBool[properties.flag] AS flag ;; Nullable(Bool) ;; "
			    "SELECT properties.flag AS flag FROM events LIMIT 100");
	assert_non_null(strstr(typed("select properties.at from events", &k), "toDateTime["));
	/* String, unknown, nested paths and subquery columns stay text. */
	assert_string_equal(typed("select properties.s from events", &k),
			    "properties.s ;; Nullable(String) ;; "
			    "SELECT properties.s FROM events LIMIT 100");
	assert_string_equal(typed("select properties.other from events", &k),
			    "properties.other ;; Nullable(String) ;; "
			    "SELECT properties.other FROM events LIMIT 100");
	assert_string_equal(typed("select properties.prop.x from events", &k),
			    "properties.prop.x ;; Nullable(String) ;; "
			    "SELECT properties.prop.x FROM events LIMIT 100");
	/* A typed column keeps its name for the query around it. */
	assert_string_equal(
	    typed("select prop + 1 from (select properties.prop from events)", &k),
	    "_ ;; Nullable(Float64) ;; SELECT prop + 1 FROM (SELECT properties.prop "
	    "AS prop FROM events) LIMIT 100");
	/* toFloatOrZero (and toIntOrZero) parse text: left alone. */
	assert_string_equal(typed("select toFloatOrZero(properties.prop) from events", &k),
			    "toFloatOrZero(properties.prop) ;; Float64 ;; "
			    "SELECT toFloatOrZero(properties.prop) FROM events LIMIT 100");
	/* but not deeper than the direct argument */
	assert_string_equal(
	    typed("select toFloatOrZero(toString(properties.prop)) from events", &k),
	    "toFloatOrZero(toString(toFloat[properties.prop])) ;; Float64 ;; "
	    "SELECT toFloatOrZero(toString(properties.prop)) FROM events LIMIT 100");
	/* An explicit toFloat of a Numeric property is not doubled (the shape
	 * the scans' fast paths know); of an expression over it, it is. */
	assert_string_equal(typed("select toFloat(properties.prop) from events", &k),
			    "toFloat(properties.prop) ;; Nullable(Float64) ;; "
			    "SELECT toFloat(properties.prop) FROM events LIMIT 100");
	assert_non_null(
	    strstr(typed("select toFloat(properties.prop + 1) from events", &k), "toFloat(_) ;;"));
	assert_non_null(strstr(typed("select toInt(properties.prop) from events", &k),
			       "toInt(toFloat[properties.prop]) ;;"));
	/* Person properties through the join, poe and the persons table. */
	assert_non_null(strstr(typed("select person.properties.age from events", &k),
			       "toFloat[person.properties.age] AS age"));
	assert_non_null(strstr(typed("select poe.properties.age from events", &k),
			       "toFloat[poe.properties.age] AS age"));
	assert_non_null(strstr(typed("select properties.age from persons", &k),
			       "toFloat[properties.age] AS age"));
	/* An event property of the same name is another definition. */
	assert_non_null(
	    strstr(typed("select properties.age from events", &k), "properties.age ;;"));
	/* Groups by their index; `FROM groups` has none. */
	assert_non_null(strstr(typed("select group_1.properties.size from events", &k),
			       "toFloat[group_1.properties.size] AS size"));
	assert_non_null(strstr(typed("select group_0.properties.size from events", &k),
			       "group_0.properties.size ;;"));
	assert_non_null(
	    strstr(typed("select properties.size from groups", &k), "properties.size ;;"));
	/* Typed everywhere an expression goes, once per access. */
	k = 0;
	assert_non_null(strstr(typed("select count() from events where properties.prop > 5 "
				     "and properties.flag group by properties.prop",
				     &k),
			       "SELECT count() FROM events WHERE properties.prop > 5 AND "
			       "properties.flag GROUP BY properties.prop"));
	assert_int_equal(k, 3);
	/* Without types (no callback) nothing is wrapped. */
	struct sn_arena a;
	struct sn_hogql_node *n;
	struct sn_hogql_error err = {0};
	const char *q = "select properties.prop from events";
	sn_arena_init(&a, 1u << 20);
	assert_int_equal(sn_hogql_parse_select(&a, q, strlen(q), &n, &err), 0);
	assert_int_equal(sn_hogql_resolve(&a, n, q, strlen(q), NULL, &err), 0);
	assert_int_equal(n->sel->select.items[0]->kind, SN_HQ_FIELD);
	sn_arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lexer_tokens),
	    cmocka_unit_test(test_literals),
	    cmocka_unit_test(test_precedence),
	    cmocka_unit_test(test_select_shapes),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_rejections),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_positions),
	    cmocka_unit_test(test_arena_limit),
	    cmocka_unit_test(test_print_canonical),
	    cmocka_unit_test(test_print_round_trip_cases),
	    cmocka_unit_test(test_print_round_trip_corpus),
	    cmocka_unit_test(test_resolve_types),
	    cmocka_unit_test(test_resolve_errors),
	    cmocka_unit_test(test_resolve_scopes),
	    cmocka_unit_test(test_resolve_limits),
	    cmocka_unit_test(test_resolve_property_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
