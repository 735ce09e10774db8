/*
 * exec_fixture.h — what the executor's unit tests share: a store directory
 * with a few events written as parts, and running a query to its TSV or
 * its error. Header-only (static functions), included by test_exec_*.c
 * after cmocka.h and testutil.h.
 *
 *   struct xfx f;  xfx_open(&f, "test_name");
 *   xfx_event(&mt, i, team, ts_s, did, event, props) ... xfx_write(&f, &mt, rows)
 *   xfx_tsv(&f, q, &buf) -> the whole TSV (header line first); xfx_error(&f, q)
 *   xfx_each_threads(&f, fn) -> fn on one scanner, then on two
 */
#ifndef SN_TEST_EXEC_FIXTURE_H
#define SN_TEST_EXEC_FIXTURE_H

#include "exec/exec.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct xfx {
	char dir[512];
	struct sn_exec_opts opts;
};

/* A fresh directory for the test's parts; opts read team 1 from it. */
static inline void xfx_open(struct xfx *f, const char *name)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(sn_test_tmpdir(f->dir, sizeof(f->dir), name), 0);
	f->opts.store_dir = f->dir;
	f->opts.team_id = 1;
}

static inline void xfx_close(struct xfx *f)
{
	sn_test_rm_rf(f->dir);
}

/* Event number i (its uuid's last byte) of team at ts_s seconds. */
static inline void xfx_event(struct sn_memtable *mt, int i, int64_t team, int64_t ts_s,
			     const char *did, const char *event, const char *props)
{
	struct sn_err err = {0};
	struct sn_event_row er = {0};
	er.uuid[15] = (uint8_t)i;
	er.uuid[6] = 0x70;
	er.team_id = team;
	er.timestamp_us = ts_s * 1000000LL;
	er.created_at_us = er.timestamp_us;
	er.event = (struct sn_str){event, strlen(event)};
	er.distinct_id = (struct sn_str){did, strlen(did)};
	er.properties = (struct sn_str){props, strlen(props)};
	er.elements_chain = (struct sn_str){"", 0};
	assert_int_equal(sn_memtable_append(mt, &er, &err), 0);
}

/* Writes mt's events as a part of granules of granule_rows into f's
 * directory and releases mt. */
static inline void xfx_write(struct xfx *f, struct sn_memtable *mt, uint32_t granule_rows)
{
	struct sn_err err = {0};
	struct sn_part_write_opts o = {.granule_rows = granule_rows, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(mt, f->dir, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(mt);
}

/* Runs q (failing the test when it fails) and returns its TSV in b
 * (header line, then rows), NUL-terminated; release b. */
static inline const char *xfx_tsv(struct xfx *f, const char *q, struct sn_buf *b)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	if (sn_exec_query(&f->opts, q, strlen(q), &res, &err))
		fail_msg("query failed: %s (%s at %u-%u): %s", err.msg, err.type, err.start,
			 err.end, q);
	sn_buf_init(b, 1 << 20);
	assert_int_equal(sn_exec_result_tsv(b, &res), 0);
	assert_int_equal(sn_buf_appendc(b, 0), 0);
	sn_exec_result_release(&res);
	return (const char *)b->data;
}

/* Runs q and fails the test unless its TSV is want. */
static inline void xfx_check(struct xfx *f, const char *q, const char *want)
{
	struct sn_buf b;
	const char *got = xfx_tsv(f, q, &b);
	if (strcmp(got, want) != 0)
		fail_msg("%s\n got: %s\nwant: %s", q, got, want);
	sn_buf_release(&b);
}

/* Runs q, which must fail: its error (message, type, positions). */
static inline struct sn_hogql_error xfx_error(struct xfx *f, const char *q)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	if (sn_exec_query(&f->opts, q, strlen(q), &res, &err) == 0) {
		sn_exec_result_release(&res);
		fail_msg("query succeeded, wanted an error: %s", q);
	}
	return err;
}

/* Runs fn with one scanner, then two whose states merge (a run of one
 * granule each, so even a small part splits). */
static inline void xfx_each_threads(struct xfx *f, void (*fn)(struct xfx *f))
{
	for (uint32_t th = 1; th <= 2; th++) {
		f->opts.threads = th;
		f->opts.run_granules = 1;
		fn(f);
	}
	f->opts.threads = 0;
	f->opts.run_granules = 0;
}

#endif
