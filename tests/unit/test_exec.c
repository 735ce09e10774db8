/*
 * test_exec.c — the query engine as a user sees it: HogQL text in, exact
 * results out, over parts written with the store API from known rows
 * (three months, two teams, one shredded and one unshredded part set,
 * missing and JSON-null properties). Expected answers are computed in the
 * test from the same rows, so a wrong executor fails; pruning is checked
 * through the scan statistics; unsupported constructs and budgets must
 * fail with errors and positions.
 *
 * Every test works in its own mkdtemp directory under $SNOUT_TEST_TMP (or
 * /tmp) and removes it at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "exec/exec.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NROWS 90

static const char *const EVENTS[] = {"$pageview", "signup", "purchase"};

struct row {
	int64_t team;
	int64_t ts_us;
	const char *event;
	char distinct_id[16];
	char props[128];
	int browser; /* 0 missing, 1 Chrome, 2 Firefox, 3 JSON null */
	int n;
};

static struct row ROWS[NROWS];

static void make_rows(void)
{
	for (int i = 0; i < NROWS; i++) {
		struct row *r = &ROWS[i];
		r->team = i % 5 == 4 ? 2 : 1;
		int month = i % 3;
		r->ts_us = (sn_days_from_civil(2024, (unsigned)month + 1, 3 + (unsigned)(i % 7)) *
				86400LL +
			    (i % 24) * 3600LL) *
			   1000000LL;
		r->event = EVENTS[(i / 3) % 3];
		snprintf(r->distinct_id, sizeof(r->distinct_id), "%s%d", r->team == 2 ? "t2-" : "u",
			 i % 6);
		r->browser = i % 4;
		r->n = i;
		const char *b = r->browser == 1	  ? ",\"$browser\":\"Chrome\""
				: r->browser == 2 ? ",\"$browser\":\"Firefox\""
				: r->browser == 3 ? ",\"$browser\":null"
						  : "";
		snprintf(r->props, sizeof(r->props), "{\"n\":%d%s,\"plan\":\"pro\"}", i, b);
	}
}

static void make_tmpdir(char *out, size_t outsz)
{
	const char *base = getenv("SNOUT_TEST_TMP");
	if (!base || !*base)
		base = "/tmp";
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", base);
	assert_int_equal(system(cmd), 0);
	snprintf(out, outsz, "%s/test_exec.XXXXXX", base);
	assert_non_null(mkdtemp(out));
}

static void rm_rf(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Rows [from, to) as parts of 4-row granules; shred or not. */
static void write_parts(const char *dir, int from, int to, bool shred, uint64_t part_id)
{
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	for (int i = from; i < to; i++) {
		struct row *r = &ROWS[i];
		struct sn_event_row er = {0};
		er.uuid[15] = (uint8_t)i;
		er.uuid[6] = 0x70;
		er.team_id = r->team;
		er.timestamp_us = r->ts_us;
		er.created_at_us = r->ts_us;
		er.event = (struct sn_str){r->event, strlen(r->event)};
		er.distinct_id = (struct sn_str){r->distinct_id, strlen(r->distinct_id)};
		er.properties = (struct sn_str){r->props, strlen(r->props)};
		er.elements_chain = (struct sn_str){"", 0};
		assert_int_equal(sn_memtable_append(&mt, &er, &err), 0);
	}
	struct sn_part_write_opts o = {.granule_rows = 4, .no_fsync = true, .no_shred = !shred};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, dir, part_id, &o, &w, &nw, &err), 0);
	assert_true(nw >= 3); /* one part per month */
	free(w);
	sn_memtable_release(&mt);
}

struct fixture {
	char dir[512];
	struct sn_exec_opts opts;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	make_rows();
	make_tmpdir(f.dir, sizeof(f.dir));
	write_parts(f.dir, 0, NROWS / 2, true, 1);
	write_parts(f.dir, NROWS / 2, NROWS, false, 2);
	f.opts.store_dir = f.dir;
	f.opts.team_id = 1;
	f.opts.run_granules = 2;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	rm_rf(f->dir);
	return 0;
}

static void run_ok(struct fixture *f, const char *q, struct sn_exec_result *res)
{
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), res, &err);
	if (rc)
		fail_msg("query failed: %s (%s at %u-%u): %s", err.msg, err.type, err.start,
			 err.end, q);
}

static const struct sn_exec_value *cell(const struct sn_exec_result *r, size_t row, size_t col)
{
	assert_true(row < r->nrows && col < r->ncols);
	return &r->cells[row * r->ncols + col];
}

static int64_t scalar_int(struct fixture *f, const char *q)
{
	struct sn_exec_result res;
	run_ok(f, q, &res);
	assert_int_equal(res.nrows, 1);
	assert_false(cell(&res, 0, 0)->null);
	int64_t v = cell(&res, 0, 0)->i;
	sn_exec_result_release(&res);
	return v;
}

static bool str_eq(const struct sn_exec_value *v, const char *s)
{
	return !v->null && v->s.len == strlen(s) && memcmp(v->s.p, s, v->s.len) == 0;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_count_per_event(void **state)
{
	struct fixture *f = *state;
	struct sn_exec_result res;
	run_ok(f, "select event, count() from events group by event order by event", &res);
	assert_int_equal(res.ncols, 2);
	assert_string_equal(res.names[0], "event");
	assert_string_equal(res.names[1], "count()");
	assert_string_equal(res.types[1], "UInt64");
	const char *sorted[] = {"$pageview", "purchase", "signup"};
	assert_int_equal(res.nrows, 3);
	for (size_t k = 0; k < 3; k++) {
		int64_t want = 0;
		for (int i = 0; i < NROWS; i++)
			want += ROWS[i].team == 1 && strcmp(ROWS[i].event, sorted[k]) == 0;
		assert_true(str_eq(cell(&res, k, 0), sorted[k]));
		assert_int_equal(cell(&res, k, 1)->i, want);
	}
	assert_false(res.has_more);
	assert_int_equal(res.limit, 100);
	sn_exec_result_release(&res);
}

static void test_where_property(void **state)
{
	struct fixture *f = *state;
	int64_t chrome = 0, not_chrome = 0, null = 0, n_gt = 0;
	for (int i = 0; i < NROWS; i++) {
		if (ROWS[i].team != 1)
			continue;
		chrome += ROWS[i].browser == 1;
		not_chrome += ROWS[i].browser != 1;
		null += ROWS[i].browser == 0 || ROWS[i].browser == 3;
		n_gt += ROWS[i].n > 40;
	}
	assert_int_equal(scalar_int(f, "select count() from events where properties.$browser = "
				       "'Chrome'"),
			 chrome);
	assert_int_equal(scalar_int(f, "select count() from events where properties['$browser'] "
				       "= 'Chrome'"),
			 chrome);
	/* §4.3: NULL != 'Chrome' is true. */
	assert_int_equal(scalar_int(f, "select count() from events where properties.$browser != "
				       "'Chrome'"),
			 not_chrome);
	assert_int_equal(
	    scalar_int(f, "select count() from events where properties.$browser is null"), null);
	assert_int_equal(scalar_int(f, "select count() from events where toInt(properties.n) > 40"),
			 n_gt);
	int64_t in_like = 0;
	for (int i = 0; i < NROWS; i++)
		in_like += ROWS[i].team == 1 && (ROWS[i].browser == 1 || ROWS[i].browser == 2) &&
			   strcmp(ROWS[i].event, "$pageview") == 0;
	assert_int_equal(
	    scalar_int(f, "select count() from events where properties.$browser in ('Chrome', "
			  "'Firefox') and event like '%view'"),
	    in_like);
}

static void test_null_semantics(void **state)
{
	struct fixture *f = *state;
	int64_t team1 = 0;
	for (int i = 0; i < NROWS; i++)
		team1 += ROWS[i].team == 1;
	assert_int_equal(scalar_int(f, "select count() from events where properties.missing = 'x'"),
			 0);
	assert_int_equal(
	    scalar_int(f, "select count() from events where properties.missing is null"), team1);
	assert_int_equal(
	    scalar_int(f, "select count() from events where properties.missing != 'x'"), team1);
	assert_int_equal(scalar_int(f, "select count() from events where properties.missing < 'x'"),
			 0);
	assert_int_equal(
	    scalar_int(f, "select count() from events where not (properties.missing = 'x')"),
	    team1);
	struct sn_exec_result res;
	run_ok(f,
	       "select toInt('abc'), toFloat('1.5'), coalesce(properties.missing, 'd'), "
	       "properties.missing from events limit 1",
	       &res);
	assert_true(cell(&res, 0, 0)->null);
	assert_true(cell(&res, 0, 1)->f == 1.5);
	assert_true(str_eq(cell(&res, 0, 2), "d"));
	assert_true(cell(&res, 0, 3)->null);
	assert_string_equal(res.types[0], "Nullable(Int64)");
	assert_string_equal(res.names[3], "missing");
	sn_exec_result_release(&res);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_group_by_day_and_uniq(void **state)
{
	struct fixture *f = *state;
	struct sn_exec_result res;
	run_ok(f,
	       "select toDate(timestamp) as d, count() as c, uniq(distinct_id), "
	       "sum(toInt(properties.n)) from events group by d order by d",
	       &res);
	assert_string_equal(res.types[0], "Date");
	int64_t days[NROWS];
	size_t nd = 0;
	for (int i = 0; i < NROWS; i++) {
		if (ROWS[i].team != 1)
			continue;
		int64_t d = sn_store_day_of(ROWS[i].ts_us);
		bool seen = false;
		for (size_t k = 0; k < nd; k++)
			seen |= days[k] == d;
		if (!seen)
			days[nd++] = d;
	}
	qsort(days, nd, sizeof(days[0]), cmp_i64);
	assert_int_equal(res.nrows, nd);
	for (size_t k = 0; k < nd; k++) {
		int64_t cnt = 0, sum = 0;
		char ids[NROWS][16];
		size_t nids = 0;
		for (int i = 0; i < NROWS; i++) {
			if (ROWS[i].team != 1 || sn_store_day_of(ROWS[i].ts_us) != days[k])
				continue;
			cnt++;
			sum += ROWS[i].n;
			bool seen = false;
			for (size_t j = 0; j < nids; j++)
				seen |= strcmp(ids[j], ROWS[i].distinct_id) == 0;
			if (!seen)
				snprintf(ids[nids++], 16, "%s", ROWS[i].distinct_id);
		}
		assert_int_equal(cell(&res, k, 0)->i, days[k]);
		assert_int_equal(cell(&res, k, 1)->i, cnt);
		assert_int_equal(cell(&res, k, 2)->i, (int64_t)nids);
		assert_int_equal(cell(&res, k, 3)->i, sum);
	}
	sn_exec_result_release(&res);

	/* uniq over everything, and HAVING. */
	int64_t ids = 0;
	for (int k = 0; k < 6; k++) {
		char want[8];
		snprintf(want, sizeof(want), "u%d", k);
		for (int i = 0; i < NROWS; i++)
			if (ROWS[i].team == 1 && strcmp(ROWS[i].distinct_id, want) == 0) {
				ids++;
				break;
			}
	}
	assert_int_equal(scalar_int(f, "select uniq(distinct_id) from events"), ids);
	assert_int_equal(scalar_int(f, "select uniqExact(distinct_id) from events"), ids);
	run_ok(f,
	       "select event, count() from events group by event having count() > 1000 order "
	       "by event",
	       &res);
	assert_int_equal(res.nrows, 0);
	sn_exec_result_release(&res);
}

static int cmp_ts_desc(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	if (x->ts_us != y->ts_us)
		return x->ts_us > y->ts_us ? -1 : 1;
	return strcmp(x->distinct_id, y->distinct_id);
}

static void test_order_limit(void **state)
{
	struct fixture *f = *state;
	const struct row *sorted[NROWS];
	size_t n = 0;
	for (int i = 0; i < NROWS; i++)
		if (ROWS[i].team == 1)
			sorted[n++] = &ROWS[i];
	qsort(sorted, n, sizeof(sorted[0]), cmp_ts_desc);
	struct sn_exec_result res;
	run_ok(f,
	       "select distinct_id, timestamp from events order by timestamp desc, distinct_id "
	       "limit 3 offset 2",
	       &res);
	assert_int_equal(res.nrows, 3);
	assert_true(res.has_more);
	for (size_t k = 0; k < 3; k++) {
		assert_true(str_eq(cell(&res, k, 0), sorted[k + 2]->distinct_id));
		assert_int_equal(cell(&res, k, 1)->i, sorted[k + 2]->ts_us);
	}
	sn_exec_result_release(&res);
	/* NULLS FIRST puts missing browsers at the top even ascending. */
	run_ok(f, "select properties.$browser b from events order by b asc nulls first limit 1",
	       &res);
	assert_true(cell(&res, 0, 0)->null);
	sn_exec_result_release(&res);
	run_ok(f, "select properties.$browser b from events order by b asc limit 1", &res);
	assert_true(str_eq(cell(&res, 0, 0), "Chrome"));
	sn_exec_result_release(&res);
	run_ok(f, "select distinct event from events order by event desc", &res);
	assert_int_equal(res.nrows, 3);
	assert_true(str_eq(cell(&res, 0, 0), "signup"));
	sn_exec_result_release(&res);
}

static void test_team_isolation(void **state)
{
	struct fixture *f = *state;
	int64_t t2 = 0;
	for (int i = 0; i < NROWS; i++)
		t2 += ROWS[i].team == 2;
	assert_true(t2 > 0);
	assert_int_equal(scalar_int(f, "select count() from events where team_id = 2"), 0);
	assert_int_equal(scalar_int(f, "select count() from events where distinct_id like 't2-%'"),
			 0);
	struct sn_exec_result res;
	run_ok(f, "select distinct distinct_id, team_id from events limit 1000", &res);
	for (size_t r = 0; r < res.nrows; r++) {
		assert_int_equal(cell(&res, r, 1)->i, 1);
		assert_memory_not_equal(cell(&res, r, 0)->s.p, "t2-", 3);
	}
	sn_exec_result_release(&res);
	f->opts.team_id = 2;
	assert_int_equal(scalar_int(f, "select count() from events"), t2);
	f->opts.team_id = 3;
	assert_int_equal(scalar_int(f, "select count() from events"), 0);
	f->opts.team_id = 1;
}

static void test_pruning(void **state)
{
	struct fixture *f = *state;
	int64_t march = 0, jan_day = 0;
	int64_t mar1 = sn_days_from_civil(2024, 3, 1) * 86400LL * 1000000;
	int64_t jan5 = sn_days_from_civil(2024, 1, 5);
	for (int i = 0; i < NROWS; i++) {
		march += ROWS[i].team == 1 && ROWS[i].ts_us >= mar1;
		jan_day += ROWS[i].team == 1 && sn_store_day_of(ROWS[i].ts_us) == jan5;
	}
	struct sn_exec_result all, res;
	run_ok(f, "select count() from events", &all);
	run_ok(f, "select count() from events where timestamp >= '2024-03-01'", &res);
	assert_int_equal(cell(&res, 0, 0)->i, march);
	assert_true(res.stats.granules_read > 0);
	assert_true(res.stats.granules_read < all.stats.granules_read);
	assert_true(all.stats.granules_read < all.stats.granules_total); /* team pruning */
	sn_exec_result_release(&res);
	run_ok(f, "select count() from events where toDate(timestamp) = '2024-01-05'", &res);
	assert_int_equal(cell(&res, 0, 0)->i, jan_day);
	assert_true(res.stats.granules_read < all.stats.granules_read / 2);
	sn_exec_result_release(&res);
	run_ok(f,
	       "select count() from events where timestamp between '2024-02-01' and "
	       "'2024-02-29 23:59:59'",
	       &res);
	assert_true(res.stats.granules_read < all.stats.granules_read);
	sn_exec_result_release(&res);
	sn_exec_result_release(&all);
}

static void expect_error(struct fixture *f, const char *q, const char *type, const char *at,
			 const char *msg_part)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	assert_true(rc < 0);
	if (!strstr(err.msg, msg_part))
		fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
	if (type)
		assert_string_equal(err.type, type);
	if (at) {
		const char *p = strstr(q, at);
		assert_non_null(p);
		assert_int_equal(err.start, (unsigned)(p - q));
		assert_true(err.end > err.start);
	}
}

static void test_unsupported(void **state)
{
	struct fixture *f = *state;
	expect_error(f, "select * from events", "NotImplementedError", "*", "not supported yet");
	expect_error(f, "select event from events where event in (select event from events)",
		     "NotImplementedError", "select event from events)", "not supported yet");
	expect_error(f, "select quantile(0.5)(toFloat(properties.n)) from events",
		     "NotImplementedError", "quantile", "not supported yet");
	expect_error(f, "select arrayMap(x -> x, [1]) from events", "NotImplementedError",
		     "arrayMap", "not supported yet");
	expect_error(f, "select person.properties.email from events", "NotImplementedError",
		     "person", "not supported yet");
	expect_error(f, "select event, count() from events", "QueryError", "event", "GROUP BY");
	expect_error(f, "select event from persons", NULL, NULL, "");
	expect_error(f, "select count() from events where event = 1", "QueryError", "event = 1",
		     "Cannot compare");
	expect_error(f, "select sum(properties.n) from events", "QueryError", "sum", "toFloat");
}

static void test_budgets(void **state)
{
	struct fixture *f = *state;
	f->opts.mem_limit_bytes = 8192;
	expect_error(f, "select distinct_id, properties.$browser from events order by timestamp",
		     "QueryError", NULL, "memory limit");
	f->opts.mem_limit_bytes = 0;
	f->opts.time_limit_us = 1;
	expect_error(f, "select count() from events", "QueryError", NULL, "time limit");
	f->opts.time_limit_us = 0;
	assert_true(scalar_int(f, "select count() from events") > 0);
}

static void test_functions_and_json(void **state)
{
	struct fixture *f = *state;
	f->opts.now_us = sn_days_from_civil(2024, 6, 1) * 86400LL * 1000000 + 123000;
	struct sn_exec_result res;
	run_ok(f,
	       "select now(), toStartOfMonth(toDate('2024-02-17')), toStartOfWeek(toDate("
	       "'2024-02-17')), toStartOfHour(toDateTime('2024-02-17 10:30:00')), "
	       "toString(1 + 2 * 3), upper('ab'), length('abc'), if(1 > 2, 'y', 'n'), 7 / 2, "
	       "lower(event) as e from events where event = 'signup' limit 1",
	       &res);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	assert_int_equal(sn_exec_result_json(&b, &res), 0);
	const char *want = "\"results\":[[\"2024-06-01T00:00:00.123Z\",\"2024-02-01\","
			   "\"2024-02-11\",\"2024-02-17T10:00:00Z\",\"7\",\"AB\",3,\"n\",3.5,"
			   "\"signup\"]]";
	if (!strstr(b.data, want))
		fail_msg("json %s lacks %s", b.data, want);
	assert_non_null(strstr(b.data, "\"columns\":[\"now()\""));
	assert_non_null(strstr(b.data, "\"hasMore\":true"));
	sn_buf_release(&b);
	sn_exec_result_release(&res);
	f->opts.now_us = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_count_per_event), cmocka_unit_test(test_where_property),
	    cmocka_unit_test(test_null_semantics),  cmocka_unit_test(test_group_by_day_and_uniq),
	    cmocka_unit_test(test_order_limit),	    cmocka_unit_test(test_team_isolation),
	    cmocka_unit_test(test_pruning),	    cmocka_unit_test(test_unsupported),
	    cmocka_unit_test(test_budgets),	    cmocka_unit_test(test_functions_and_json),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
