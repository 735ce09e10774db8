// fuzz-sources: src/base/*.c src/hogql/*.c
/*
 * fuzz_hogql.c — libFuzzer target for the HogQL lexer and parser.
 *
 * The first byte picks the entry point (SELECT or expression) and whether
 * positions are printed; the rest is the query text. Whatever comes in, the
 * parser must return (no crash, no sanitizer report, no unbounded recursion:
 * nesting is limited), and:
 *  - on success the AST must serialise, and the JSON must parse as JSON;
 *  - on failure the error must carry a message and start <= end.
 * A small arena maximum keeps memory bounded and exercises the NOMEM paths.
 */
#include <stdint.h>
#include <string.h>

#include "hogql/hogql.h"

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	const char *src = (const char *)data + 1;
	size_t len = size - 1;
	struct sn_arena arena;
	sn_arena_init(&arena, (size_t)8 << 20);
	struct sn_hogql_node *ast = NULL;
	struct sn_hogql_error err;
	memset(&err, 0, sizeof(err));
	int rc = (mode & 1) ? sn_hogql_parse_expr(&arena, src, len, &ast, &err)
			    : sn_hogql_parse_select(&arena, src, len, &ast, &err);
	if (rc == 0) {
		struct sn_buf b;
		sn_buf_init(&b, (size_t)64 << 20);
		rc = sn_hogql_ast_json(&b, ast, (mode & 2) ? src : NULL, len);
		check(rc == 0);
		struct json_object *o = NULL;
		struct sn_err jerr;
		check(sn_json_parse(b.data, b.len, &o, &jerr) == 0);
		json_object_put(o);
		sn_buf_release(&b);
	} else {
		check(err.msg[0] != 0);
		check(err.start <= err.end || rc == SN_ERR_NOMEM);
	}
	sn_arena_release(&arena);
	return 0;
}
