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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lexer_tokens), cmocka_unit_test(test_literals),
	    cmocka_unit_test(test_precedence),	 cmocka_unit_test(test_select_shapes),
	    cmocka_unit_test(test_errors),	 cmocka_unit_test(test_rejections),
	    cmocka_unit_test(test_deep_nesting), cmocka_unit_test(test_positions),
	    cmocka_unit_test(test_arena_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
