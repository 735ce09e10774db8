/*
 * ab_fixture.h — the fixture of the executor's function tests
 * (test_exec_scalar.c, test_fn_math.c, test_fn_text.c): one part with two
 * events, 'a' (distinct id a, event pv, the test's properties) and 'b'
 * (distinct id b, event signup, no properties, so every property reads
 * NULL), and running `select <exprs> from events …` to its TSV rows or its
 * error. Header-only (static functions), included after cmocka.h and
 * testutil.h; each test defines its properties and calls ab_setup from its
 * group setup:
 *
 *   static int setup(void **state) { return ab_setup(state, "test_x", PROPS_A, NULL); }
 *   expect_a(f, "abs(-1)", "1");  expect_b(f, "abs(properties.n)", "\\N");
 *   expect_rows(f, "…", "order by …", "row\nrow\n");  expect_error(f, "…", type, "part");
 */
#ifndef SN_TEST_AB_FIXTURE_H
#define SN_TEST_AB_FIXTURE_H

#include "exec/exec.h"

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

/* Writes the two events as part 1 in a fresh directory named after the
 * test; tz is the query zone (NULL = UTC). */
static __attribute__((unused)) int ab_setup(void **state, const char *name, const char *props_a,
					    const char *tz)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), name), 0);
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	add_event(&mt, 1, "a", "pv", props_a);
	add_event(&mt, 2, "b", "signup", "{}");
	struct sn_part_write_opts o = {.granule_rows = 4, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, f.dir, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
	f.opts.store_dir = f.dir;
	f.opts.team_id = 1;
	f.opts.timezone = tz;
	*state = &f;
	return 0;
}

static __attribute__((unused)) int teardown(void **state)
{
	struct fixture *f = *state;
	sn_test_rm_rf(f->dir);
	return 0;
}

/* The TSV rows (without the header line) of `select <exprs> from events
 * <tail>`. */
static void expect_rows(struct fixture *f, const char *exprs, const char *tail, const char *want)
{
	char q[4096];
	snprintf(q, sizeof(q), "select %s from events %s", exprs, tail);
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	if (rc)
		fail_msg("query failed: %s (%s): %s", err.msg, err.type, q);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	assert_int_equal(sn_exec_result_tsv(&b, &res), 0);
	const char *rows = strchr(b.data, '\n');
	assert_non_null(rows);
	if (strcmp(rows + 1, want) != 0)
		fail_msg("select %s\n  got:  %s  want: %s", exprs, rows + 1, want);
	sn_buf_release(&b);
	sn_exec_result_release(&res);
}

/* One row: event 'a' (every property set); want without the newline. */
static __attribute__((unused)) void expect_a(struct fixture *f, const char *exprs, const char *want)
{
	char w[4096];
	snprintf(w, sizeof(w), "%s\n", want);
	expect_rows(f, exprs, "where distinct_id = 'a'", w);
}

/* One row: event 'b' (every property NULL). */
static __attribute__((unused)) void expect_b(struct fixture *f, const char *exprs, const char *want)
{
	char w[4096];
	snprintf(w, sizeof(w), "%s\n", want);
	expect_rows(f, exprs, "where distinct_id = 'b'", w);
}

/* `select <exprs> from events` fails with type (unless NULL) and a message
 * holding msg_part. */
static __attribute__((unused)) void expect_error(struct fixture *f, const char *exprs,
						 const char *type, const char *msg_part)
{
	char q[4096];
	snprintf(q, sizeof(q), "select %s from events", exprs);
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	if (rc == 0) {
		sn_exec_result_release(&res);
		fail_msg("query succeeded, wanted an error: %s", q);
	}
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
	if (type)
		assert_string_equal(err.type, type);
}

#endif
