// fuzz-sources: src/base/*.c src/hogql/*.c src/exec/*.c src/store/*.c src/persons/*.c
/*
 * fuzz_exec.c — libFuzzer target for the executor's expressions: the input
 * is the text of a SELECT, run with sn_exec_query over a store directory
 * that does not exist (no parts: FROM events has no rows, a SELECT without
 * FROM has its one implicit row). Whatever comes in, the executor must
 * return (a result or an error with a message), with no crash, sanitizer
 * report or leak; the result must render as JSON and TSV. Aimed at the
 * value code that works on bytes: arrays and tuples (array.c's encoding,
 * flattening, lambdas), string and JSON functions, window functions over
 * the one row. Small memory and time budgets keep each run short.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *q = malloc(size + 1);
	if (!q)
		return 0;
	memcpy(q, data, size);
	q[size] = 0;
	struct sn_exec_opts o = {.store_dir = "/nonexistent/snout-fuzz",
				 .team_id = 1,
				 .now_us = 1700000000000000LL,
				 .time_limit_us = 2000000,
				 .mem_limit_bytes = (size_t)64 << 20,
				 .threads = 1};
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	if (sn_exec_query(&o, q, size, &res, &err) == 0) {
		struct sn_buf b;
		sn_buf_init(&b, (size_t)256 << 20);
		if (sn_exec_result_json(&b, &res) != 0 && b.len < ((size_t)255 << 20))
			__builtin_trap();
		sn_buf_reset(&b);
		if (sn_exec_result_tsv(&b, &res) != 0 && b.len < ((size_t)255 << 20))
			__builtin_trap();
		sn_buf_release(&b);
		sn_exec_result_release(&res);
	} else if (!err.msg[0]) {
		__builtin_trap();
	}
	free(q);
	return 0;
}
