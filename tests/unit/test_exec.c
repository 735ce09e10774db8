/*
 * test_exec.c — the query engine as a user sees it: HogQL text in, exact
 * results out, over parts written with the store API from known rows
 * (three months, two teams, one shredded and one unshredded part set,
 * missing and JSON-null properties). Expected answers are computed in the
 * test from the same rows, so a wrong executor fails; pruning is checked
 * through the scan statistics; unsupported constructs and budgets must
 * fail with errors and positions. Persons: events run through the real
 * identity rules into a person store (a merge, a personless event, a
 * group), then person_id with overrides, the person/pdi/group joins and
 * the person-store tables are queried. Top-N: ORDER BY … LIMIT over
 * random rows with ties and NULLs must equal a stable sort of all rows.
 *
 * Every test works in its own mkdtemp directory under $SNOUT_TEST_TMP (or
 * /tmp) and removes it at the end.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec/exec.h"
#include "persons/persons.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_exec"), 0);
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
	sn_test_rm_rf(f->dir);
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
	/* the sketches count as uniq (ClickHouse's estimates are exact this small) */
	assert_int_equal(scalar_int(f, "select uniqHLL12(distinct_id) from events"), ids);
	assert_int_equal(scalar_int(f, "select uniqTheta(distinct_id) from events"), ids);
	assert_int_equal(
	    scalar_int(f, "select uniqThetaIf(distinct_id, event = 'nope') from events"), 0);
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

static void expect_error(struct fixture *f, const char *q, const char *type, const char *at,
			 const char *msg_part);

static int cmp_did_n_desc(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	int d = strcmp(x->distinct_id, y->distinct_id);
	return d ? d : (x->n < y->n) - (x->n > y->n);
}

/* LIMIT n OFFSET m BY: per key, the (m+1)-th to (m+n)-th rows in ORDER BY
 * order, then the statement's OFFSET and LIMIT; on one and two scanners. */
static void test_limit_by(void **state)
{
	struct fixture *f = *state;
	const struct row *sorted[NROWS];
	size_t n = 0;
	for (int i = 0; i < NROWS; i++)
		if (ROWS[i].team == 1)
			sorted[n++] = &ROWS[i];
	qsort(sorted, n, sizeof(sorted[0]), cmp_did_n_desc);
	const struct row *want[NROWS];
	size_t nw = 0, run = 0;
	for (size_t k = 0; k < n; k++) {
		run = k && strcmp(sorted[k]->distinct_id, sorted[k - 1]->distinct_id) == 0 ? run + 1
											   : 0;
		if (run >= 1 && run < 3)
			want[nw++] = sorted[k];
	}
	assert_true(nw > 6);
	for (uint32_t th = 1; th <= 2; th++) {
		f->opts.threads = th;
		f->opts.run_granules = 1;
		struct sn_exec_result res;
		run_ok(f,
		       "select distinct_id, toInt(properties.n) as n from events order by "
		       "distinct_id, n desc limit 2 offset 1 by distinct_id limit 100",
		       &res);
		assert_int_equal(res.nrows, nw);
		for (size_t k = 0; k < nw; k++) {
			assert_true(str_eq(cell(&res, k, 0), want[k]->distinct_id));
			assert_int_equal(cell(&res, k, 1)->i, want[k]->n);
		}
		sn_exec_result_release(&res);
		/* the statement's OFFSET and LIMIT count the rows LIMIT BY left */
		run_ok(f,
		       "select distinct_id, toInt(properties.n) as n from events order by "
		       "distinct_id, n desc limit 2 offset 1 by distinct_id limit 3 offset 2",
		       &res);
		assert_int_equal(res.nrows, 3);
		assert_true(res.has_more);
		for (size_t k = 0; k < 3; k++)
			assert_int_equal(cell(&res, k, 1)->i, want[k + 2]->n);
		sn_exec_result_release(&res);
		/* over groups, in a subquery, keyed by an alias */
		run_ok(
		    f,
		    "select count(), sum(c) from (select event as e, distinct_id, count() as c "
		    "from events group by e, distinct_id order by c desc, distinct_id limit 1 by "
		    "e)",
		    &res);
		assert_int_equal(cell(&res, 0, 0)->i, 3);
		sn_exec_result_release(&res);
	}
	f->opts.threads = 0;
	f->opts.run_granules = 0;
	/* the largest group of each event, worked out from the rows */
	int64_t best = 0;
	for (int e = 0; e < 3; e++) {
		int64_t cnt[6] = {0}, top = 0;
		for (int i = 0; i < NROWS; i++)
			if (ROWS[i].team == 1 && strcmp(ROWS[i].event, EVENTS[e]) == 0)
				cnt[atoi(ROWS[i].distinct_id + 1)]++;
		for (int d = 0; d < 6; d++)
			top = cnt[d] > top ? cnt[d] : top;
		best += top;
	}
	struct sn_exec_result res;
	run_ok(f,
	       "select sum(c) from (select event as e, distinct_id, count() as c from events "
	       "group by e, distinct_id order by c desc limit 1 by e)",
	       &res);
	assert_int_equal(cell(&res, 0, 0)->i, best);
	sn_exec_result_release(&res);
	run_ok(f, "select event from events limit 0 by event", &res);
	assert_int_equal(res.nrows, 0);
	sn_exec_result_release(&res);
	expect_error(f, "select event from events limit -1 by event", "NotImplementedError", "-1",
		     "LIMIT and OFFSET");
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
	expect_error(f, "select *, row_number() over () from events", "NotImplementedError", "*",
		     "not supported yet");
	expect_error(f,
		     "select count() from events e where event in (select event from events "
		     "where distinct_id = e.distinct_id)",
		     "NotImplementedError", "e.distinct_id)", "correlated");
	expect_error(f,
		     "select count() from events e where event in (select event from events "
		     "where properties.$browser = e.properties['$browser'])",
		     "NotImplementedError", "e.properties", "correlated");
	expect_error(f, "select pdi.person_id from events array join [1, 2] as x",
		     "NotImplementedError", NULL, "ARRAY JOIN");
	expect_error(f, "select uniq(event) over (order by timestamp) from events",
		     "NotImplementedError", "uniq", "not supported yet: window function uniq()");
	expect_error(f, "select x -> x from events", "QueryError", "x -> x", "lambda");
	expect_error(f, "select (s, s + 1) as s from events", "QueryError", "(s, s + 1) as s",
		     "Cyclic aliases");
	expect_error(f, "select 0.2 as s, s * s as s from events", "QueryError", "s * s as s",
		     "same alias");
	expect_error(f, "select arrayMap(x -> x, 1) from events", "QueryError", "arrayMap",
		     "expects an array");
	expect_error(f, "select poe.properties.email from events", "NotImplementedError", "poe",
		     "not supported yet");
	expect_error(f, "select 1 from events e join events p on e.distinct_id != p.distinct_id",
		     "NotImplementedError", "e.distinct_id != p.distinct_id", "equalities");
	expect_error(f,
		     "select 1 from events e join events p on e.distinct_id = p.distinct_id and "
		     "e.event = 'x'",
		     "NotImplementedError", "e.event = 'x'", "equalities");
	expect_error(f, "select 1 from events e join events p on lower(e.event) = p.event",
		     "NotImplementedError", "lower(e.event) = p.event", "expressions");
	expect_error(f, "select * from events e join events p on e.uuid = p.uuid",
		     "NotImplementedError", "*", "JOIN");
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
	const char *want = "\"results\":[[\"2024-06-01T00:00:00.123000Z\",\"2024-02-01\","
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

/* ---- persons, overrides, groups ----------------------------------------------------- */

struct pfx {
	char dir[512];
	struct sn_persons *ps;
	struct sn_memtable mt;
	int nev;
	char p_user[37], p_anon[37], p_other[37], p_nobody[37];
};

/* Runs one event through identity (as ingestion does) and stores the row
 * with the person id and group keys identity stamped. */
static void pev(struct pfx *x, const char *did, const char *event, const char *props,
		char person_out[37])
{
	struct json_object *o = NULL;
	struct sn_err err = {0};
	assert_int_equal(sn_json_parse(props, strlen(props), &o, &err), 0);
	char uuid[37];
	x->nev++;
	snprintf(uuid, sizeof(uuid), "00000000-0000-7000-8000-%012d", x->nev);
	int64_t ts = (sn_days_from_civil(2024, 5, 1) * 86400LL + x->nev * 60LL) * 1000000LL;
	struct sn_identity_event ev = {.team_id = 1,
				       .distinct_id = did,
				       .event = event,
				       .uuid = uuid,
				       .timestamp_us = ts,
				       .properties = o};
	struct sn_identity_result res;
	assert_int_equal(sn_identity_process(x->ps, &ev, &res, &err), 0);
	if (person_out)
		memcpy(person_out, res.person_uuid, 37);
	if (!res.dropped) {
		struct sn_event_row er = {0};
		struct sn_uuid u;
		assert_int_equal(sn_uuid_parse(uuid, 36, &u), 0);
		memcpy(er.uuid, &u, 16);
		assert_int_equal(sn_uuid_parse(res.person_uuid, 36, &u), 0);
		memcpy(er.person_id, &u, 16);
		er.team_id = 1;
		er.timestamp_us = er.created_at_us = ts;
		er.event = (struct sn_str){event, strlen(event)};
		er.distinct_id = (struct sn_str){did, strlen(did)};
		er.properties = (struct sn_str){props, strlen(props)};
		er.elements_chain = (struct sn_str){"", 0};
		for (int g = 0; g < SN_STORE_GROUPS; g++)
			if (res.has_group[g])
				er.group[g] =
				    (struct sn_str){res.group_key[g], strlen(res.group_key[g])};
		assert_int_equal(sn_memtable_append(&x->mt, &er, &err), 0);
	}
	sn_identity_result_release(&res);
	json_object_put(o);
}

static void persons_setup(struct pfx *x)
{
	memset(x, 0, sizeof(*x));
	struct sn_err err = {0};
	assert_int_equal(sn_test_tmpdir(x->dir, sizeof(x->dir), "test_exec"), 0);
	assert_int_equal(sn_persons_open(&x->ps, x->dir, NULL, &err), 0);
	sn_memtable_init(&x->mt, 0);
	pev(x, "anon", "$pageview", "{}", x->p_anon);
	pev(x, "anon", "$pageview", "{}", NULL);
	pev(x, "user", "$pageview", "{\"$set\":{\"email\":\"u@x.com\"}}", x->p_user);
	pev(x, "other", "$pageview",
	    "{\"$set\":{\"email\":\"o@x.com\",\"n\":7,\"addr\":{\"city\":\"Oslo\",\"zip\":[1,2]}}}",
	    x->p_other);
	pev(x, "nobody", "$pageview", "{\"$process_person_profile\":false}", x->p_nobody);
	/* the merge: anon's person is merged into user's after its events */
	pev(x, "user", "$identify", "{\"$anon_distinct_id\":\"anon\"}", NULL);
	pev(x, "user", "$groupidentify",
	    "{\"$group_type\":\"company\",\"$group_key\":\"acme\","
	    "\"$group_set\":{\"name\":\"Acme\",\"size\":10}}",
	    NULL);
	pev(x, "user", "$pageview", "{\"$groups\":{\"company\":\"acme\"}}", NULL);
	pev(x, "other", "$pageview", "{\"$groups\":{\"company\":\"nope\"}}", NULL);
	pev(x, "anon", "later", "{}", NULL);
	struct sn_part_write_opts o = {.granule_rows = 4, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	char store[600];
	snprintf(store, sizeof(store), "%s/store", x->dir);
	assert_int_equal(mkdir(store, 0755), 0);
	assert_int_equal(sn_memtable_flush(&x->mt, store, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&x->mt);
	assert_string_not_equal(x->p_anon, x->p_user);
}

static void persons_teardown(struct pfx *x)
{
	sn_persons_close(x->ps);
	sn_test_rm_rf(x->dir);
}

static void pfx_opts(struct pfx *x, struct fixture *f)
{
	static char store[600];
	snprintf(store, sizeof(store), "%s/store", x->dir);
	memset(&f->opts, 0, sizeof(f->opts));
	f->opts.store_dir = store;
	f->opts.team_id = 1;
	f->opts.persons = x->ps;
}

static void test_person_id_overrides(void **state)
{
	(void)state;
	struct pfx x;
	struct fixture f;
	persons_setup(&x);
	pfx_opts(&x, &f);
	struct sn_exec_result res;
	run_ok(&f, "select distinct_id, person_id, person.id from events order by timestamp", &res);
	assert_int_equal(res.nrows, 10);
	for (size_t r = 0; r < res.nrows; r++) {
		const struct sn_exec_value *d = cell(&res, r, 0), *p = cell(&res, r, 1);
		assert_int_equal(p->type, SN_XT_UUID);
		const char *want = str_eq(d, "other")	 ? x.p_other
				   : str_eq(d, "nobody") ? x.p_nobody
							 : x.p_user; /* anon and user: merged */
		if (!str_eq(p, want))
			fail_msg("row %zu %.*s: person %.*s, want %s", r, (int)d->s.len, d->s.p,
				 (int)p->s.len, p->s.p, want);
		assert_true(str_eq(cell(&res, r, 2), want));
	}
	assert_string_equal(res.types[1], "UUID");
	sn_exec_result_release(&res);
	/* without the person store: the ids as stamped at ingestion */
	f.opts.persons = NULL;
	run_ok(&f, "select person_id from events where distinct_id = 'anon' order by timestamp",
	       &res);
	assert_int_equal(res.nrows, 3);
	assert_true(str_eq(cell(&res, 0, 0), x.p_anon));
	sn_exec_result_release(&res);
	f.opts.persons = x.ps;
	assert_int_equal(scalar_int(&f, "select uniq(person_id) from events"), 3);
	/* the same over 2 scanner threads (runs of one granule): overrides apply */
	f.opts.run_granules = 1;
	f.opts.threads = 2;
	run_ok(&f, "select uniq(person_id), count() from events", &res);
	assert_int_equal(res.stats.scan_threads, 2);
	assert_int_equal(cell(&res, 0, 0)->i, 3);
	assert_int_equal(cell(&res, 0, 1)->i, 10);
	sn_exec_result_release(&res);
	/* uniq of person_id hashes its bits: the same counts as of its text, also
	 * where WHERE read the text first, per group and over threads */
	static const char *const uq[][2] = {
	    {"select event, count(distinct person_id), uniq(person_id) from events group by event "
	     "order by event",
	     "select event, count(distinct toString(person_id)), uniq(toString(person_id)) from "
	     "events group by event order by event"},
	    {"select count(distinct person_id), uniq(person_id) from events where "
	     "toString(person_id) != '' and distinct_id != 'x'",
	     "select count(distinct toString(person_id)), uniq(toString(person_id)) from events "
	     "where toString(person_id) != '' and distinct_id != 'x'"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(uq); i++)
		for (uint32_t t = 1; t <= 2; t++) {
			struct sn_exec_result a, b;
			f.opts.threads = t;
			run_ok(&f, uq[i][0], &a);
			run_ok(&f, uq[i][1], &b);
			assert_int_equal(a.nrows, b.nrows);
			for (size_t k = 0; k < a.nrows * a.ncols; k++)
				assert_int_equal(a.cells[k].i, b.cells[k].i);
			if (i == 1)
				assert_int_equal(a.cells[0].i, 3);
			sn_exec_result_release(&a);
			sn_exec_result_release(&b);
		}
	f.opts.run_granules = 0;
	f.opts.threads = 0;
	assert_int_equal(scalar_int(&f, "select count() from events where person_id = person.id"),
			 10);
	persons_teardown(&x);
}

static void test_person_fields(void **state)
{
	(void)state;
	struct pfx x;
	struct fixture f;
	persons_setup(&x);
	pfx_opts(&x, &f);
	struct sn_exec_result res;
	run_ok(&f, "select person.properties.email, count() from events group by 1 order by 1",
	       &res);
	assert_int_equal(res.nrows, 3);
	assert_true(str_eq(cell(&res, 0, 0), "o@x.com"));
	assert_int_equal(cell(&res, 0, 1)->i, 2);
	assert_true(str_eq(cell(&res, 1, 0), "u@x.com"));
	assert_int_equal(cell(&res, 1, 1)->i, 7); /* anon's 3 events + user's 4 */
	assert_true(cell(&res, 2, 0)->null);	  /* personless: LEFT join, NULL */
	assert_int_equal(cell(&res, 2, 1)->i, 1);
	assert_string_equal(res.names[0], "email");
	assert_string_equal(res.types[0], "Nullable(String)");
	sn_exec_result_release(&res);
	assert_int_equal(scalar_int(&f, "select count() from events where "
					"person.properties['email'] = 'u@x.com'"),
			 7);
	assert_int_equal(scalar_int(&f, "select count() from events where "
					"person.properties.n = '7' and person.is_identified = 0"),
			 2);
	assert_int_equal(scalar_int(&f, "select countIf(person.is_identified) from events"), 7);
	/* nested paths below a person property (docs/HOGQL.md) */
	assert_int_equal(scalar_int(&f, "select count() from events where "
					"person.properties.addr.city = 'Oslo'"),
			 2);
	assert_int_equal(scalar_int(&f, "select count() from events where "
					"person.properties['addr']['zip'][-1] = '2' and "
					"person.properties.addr.none is null"),
			 2);
	assert_int_equal(scalar_int(&f, "select count() from events where "
					"person.created_at is null"),
			 1);
	/* pdi: INNER join on distinct_id drops the personless distinct id */
	run_ok(&f,
	       "select distinct distinct_id, pdi.person_id, pdi.distinct_id from events "
	       "order by distinct_id",
	       &res);
	assert_int_equal(res.nrows, 3);
	assert_true(str_eq(cell(&res, 0, 0), "anon"));
	assert_true(str_eq(cell(&res, 0, 1), x.p_user));
	assert_true(str_eq(cell(&res, 0, 2), "anon"));
	assert_true(str_eq(cell(&res, 1, 1), x.p_other));
	assert_true(str_eq(cell(&res, 2, 0), "user"));
	sn_exec_result_release(&res);
	/* groups: LEFT join on $group_0; '' and unknown keys read NULL */
	run_ok(&f,
	       "select $group_0, group_0.properties.name, group_0.properties.size, "
	       "group_0.key, count() from events group by 1, 2, 3, 4 order by 1",
	       &res);
	assert_int_equal(res.nrows, 3);
	assert_true(str_eq(cell(&res, 0, 0), ""));
	assert_true(cell(&res, 0, 1)->null);
	assert_int_equal(cell(&res, 0, 4)->i, 8);
	assert_true(str_eq(cell(&res, 1, 0), "acme"));
	assert_true(str_eq(cell(&res, 1, 1), "Acme"));
	assert_true(str_eq(cell(&res, 1, 2), "10"));
	assert_true(str_eq(cell(&res, 1, 3), "acme"));
	assert_true(str_eq(cell(&res, 2, 0), "nope"));
	assert_true(cell(&res, 2, 1)->null);
	assert_true(cell(&res, 2, 3)->null);
	sn_exec_result_release(&res);
	/* another team sees none of it */
	f.opts.team_id = 2;
	assert_int_equal(scalar_int(&f, "select count() from events where "
					"person.properties.email is not null"),
			 0);
	assert_int_equal(scalar_int(&f, "select count() from persons"), 0);
	f.opts.team_id = 1;
	/* the join's build side is bounded by the memory budget (of 128 KiB, the
	 * plan and the arena's doubling chunks take most) */
	f.opts.mem_limit_bytes = 128 * 1024;
	run_ok(&f, "select count() from events where person.properties.email != ''", &res);
	sn_exec_result_release(&res);
	persons_teardown(&x);
}

static void test_person_tables(void **state)
{
	(void)state;
	struct pfx x;
	struct fixture f;
	persons_setup(&x);
	pfx_opts(&x, &f);
	struct sn_exec_result res;
	run_ok(&f,
	       "select id, properties.email, properties.n, is_identified, team_id "
	       "from persons order by properties.email",
	       &res);
	assert_int_equal(res.nrows, 2); /* anon's person was merged away */
	assert_true(str_eq(cell(&res, 0, 0), x.p_other));
	assert_true(str_eq(cell(&res, 0, 1), "o@x.com"));
	assert_true(str_eq(cell(&res, 0, 2), "7"));
	assert_int_equal(cell(&res, 0, 3)->i, 0);
	assert_true(str_eq(cell(&res, 1, 0), x.p_user));
	assert_true(cell(&res, 1, 2)->null);
	assert_int_equal(cell(&res, 1, 3)->i, 1);
	assert_int_equal(cell(&res, 1, 4)->i, 1);
	sn_exec_result_release(&res);
	run_ok(&f,
	       "select distinct_id, person_id from person_distinct_ids "
	       "where distinct_id != 'other' order by distinct_id",
	       &res);
	assert_int_equal(res.nrows, 2);
	assert_true(str_eq(cell(&res, 0, 0), "anon"));
	assert_true(str_eq(cell(&res, 0, 1), x.p_user));
	assert_true(str_eq(cell(&res, 1, 0), "user"));
	assert_true(str_eq(cell(&res, 1, 1), x.p_user));
	sn_exec_result_release(&res);
	run_ok(&f, "select index, key, properties.name, properties['size'] from groups", &res);
	assert_int_equal(res.nrows, 1);
	assert_int_equal(cell(&res, 0, 0)->i, 0);
	assert_true(str_eq(cell(&res, 0, 1), "acme"));
	assert_true(str_eq(cell(&res, 0, 2), "Acme"));
	assert_true(str_eq(cell(&res, 0, 3), "10"));
	sn_exec_result_release(&res);
	assert_int_equal(scalar_int(&f, "select count() from persons where is_identified"), 1);
	f.opts.persons = NULL;
	assert_int_equal(scalar_int(&f, "select count() from persons"), 0);
	persons_teardown(&x);
}

/* IN COHORT reads the person store's member tables: dynamic members in
 * cohort_people, static ones in static_cohort_people, by id or by name;
 * unknown cohorts are errors naming them. */
static void test_cohorts(void **state)
{
	(void)state;
	struct pfx x;
	struct fixture f;
	struct sn_err err = {0};
	persons_setup(&x);
	pfx_opts(&x, &f);
	const char *dyn[] = {x.p_user, "00000000-0000-0000-0000-00000000dead"};
	size_t n = 0;
	assert_int_equal(sn_persons_cohort_replace(x.ps, 1, 7, dyn, 2, &n, &err), 0);
	assert_int_equal(n, 1); /* the unknown person is not a member */
	const char *dids[] = {"other", "nobody-at-all"};
	assert_int_equal(
	    sn_persons_cohort_add(x.ps, 1, 9, SN_COHORT_KEY_DISTINCT_ID, dids, 2, &n, &err), 0);
	assert_int_equal(n, 1);
	const char *mails[] = {"u@x.com"};
	assert_int_equal(sn_persons_cohort_add(x.ps, 2, 9, SN_COHORT_KEY_EMAIL, mails, 1, &n, &err),
			 0);
	assert_int_equal(n, 0); /* team 2 has no such person */
	struct sn_hogql_cohort cs[] = {{7, "Users", false}, {9, "Others", true}};
	f.opts.cohorts = cs;
	f.opts.ncohorts = 2;
	/* events of user (incl. anon's, merged) are in 7; other's in 9 */
	assert_int_equal(scalar_int(&f, "select count() from events where person_id in cohort 7"),
			 7);
	assert_int_equal(
	    scalar_int(&f, "select count() from events where person_id in cohort 'Others'"), 2);
	assert_int_equal(
	    scalar_int(&f, "select count() from events where person_id not in cohort 'Users'"), 3);
	assert_int_equal(scalar_int(&f, "select count() from cohort_people"), 1);
	assert_int_equal(
	    scalar_int(&f, "select count() from static_cohort_people where cohort_id = 9"), 1);
	assert_int_equal(scalar_int(&f, "select count() from persons where id in cohort 7 or id in "
					"(select person_id from static_cohort_people)"),
			 2);
	/* a top-level `id IN (subquery)` reads persons by key: same answers */
	assert_int_equal(scalar_int(&f, "select count() from persons where id in cohort 7"), 1);
	assert_int_equal(
	    scalar_int(&f, "select count() from persons where id in (select person_id from "
			   "events) and properties.email = 'o@x.com'"),
	    1);
	assert_int_equal(
	    scalar_int(&f, "select count() from persons where id in (select person_id from "
			   "events where event = 'nothing')"),
	    0);
	assert_int_equal(scalar_int(&f, "select count() from persons where id in (select person_id "
					"from events) or 0"),
			 2);
	expect_error(&f, "select count() from events where person_id in cohort 8", "QueryError",
		     "8", "Could not find cohort with ID 8");
	expect_error(&f, "select count() from events where person_id in cohort 'x'", "QueryError",
		     "'x'", "Could not find a cohort with the name 'x'");
	/* without the cohort list an id reads both tables */
	f.opts.cohorts = NULL;
	f.opts.ncohorts = 0;
	assert_int_equal(scalar_int(&f, "select count() from events where person_id in cohort 9"),
			 2);
	/* a static member is removed one by one; a replacement empties */
	bool removed = false;
	assert_int_equal(sn_persons_cohort_remove(x.ps, 1, 9, x.p_other, &removed, &err), 0);
	assert_true(removed);
	assert_int_equal(sn_persons_cohort_replace(x.ps, 1, 7, NULL, 0, &n, &err), 0);
	int64_t cnt = -1;
	assert_int_equal(sn_persons_cohort_count(x.ps, 1, 7, &cnt, &err), 0);
	assert_int_equal(cnt, 0);
	assert_int_equal(scalar_int(&f, "select count() from events where person_id in cohort 7 or "
					"person_id in cohort 9"),
			 0);
	persons_teardown(&x);
}

/* The join's build side counts against the query's memory budget. */
static void test_person_join_budget(void **state)
{
	(void)state;
	struct pfx x;
	struct fixture f;
	memset(&x, 0, sizeof(x));
	struct sn_err err = {0};
	assert_int_equal(sn_test_tmpdir(x.dir, sizeof(x.dir), "test_exec"), 0);
	assert_int_equal(sn_persons_open(&x.ps, x.dir, NULL, &err), 0);
	sn_memtable_init(&x.mt, 0);
	static char big[16 * 1024 + 64];
	for (int i = 0; i < 64; i++) {
		char did[32];
		snprintf(did, sizeof(did), "big-%d", i);
		int n = snprintf(big, sizeof(big), "{\"$set\":{\"i\":%d,\"blob\":\"", i);
		memset(big + n, 'a' + i % 26, 16 * 1024);
		snprintf(big + n + 16 * 1024, sizeof(big) - (size_t)n - 16 * 1024, "\"}}");
		pev(&x, did, "e", big, NULL);
	}
	struct sn_part_write_opts o = {.granule_rows = 16, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	char store[600];
	snprintf(store, sizeof(store), "%s/store", x.dir);
	assert_int_equal(mkdir(store, 0755), 0);
	assert_int_equal(sn_memtable_flush(&x.mt, store, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&x.mt);
	pfx_opts(&x, &f);
	f.opts.run_granules = 1;
	assert_int_equal(scalar_int(&f, "select count() from events where "
					"toInt(person.properties.i) >= 0"),
			 64);
	/* 64 persons of 16 KB do not fit in 512 KB */
	f.opts.mem_limit_bytes = 512 * 1024;
	expect_error(&f, "select count() from events where toInt(person.properties.i) >= 0",
		     "QueryError", NULL, "Joining persons exceeded the query memory limit");
	persons_teardown(&x);
}

/* A scan that joins many persons switches from keyed reads to one read of
 * the whole team (join.c read_all_persons): the answers are the same, and
 * events whose person is not in the store still read NULL after it. */
static void test_person_join_whole_team(void **state)
{
	(void)state;
	struct pfx x;
	struct fixture f;
	memset(&x, 0, sizeof(x));
	struct sn_err err = {0};
	assert_int_equal(sn_test_tmpdir(x.dir, sizeof(x.dir), "test_exec"), 0);
	assert_int_equal(sn_persons_open(&x.ps, x.dir, NULL, &err), 0);
	sn_memtable_init(&x.mt, 0);
	enum { N = 6000 };
	long long sum = 0;
	for (int i = 0; i < N; i++) {
		char did[32], props[96];
		snprintf(did, sizeof(did), "p-%d", i);
		if (i % 1000 == 999) /* personless: no person row */
			snprintf(props, sizeof(props), "{\"$process_person_profile\":false}");
		else {
			snprintf(props, sizeof(props), "{\"$set\":{\"i\":%d}}", i);
			sum += i;
		}
		pev(&x, did, "e", props, NULL);
	}
	struct sn_part_write_opts o = {.granule_rows = 256, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	char store[600];
	snprintf(store, sizeof(store), "%s/store", x.dir);
	assert_int_equal(mkdir(store, 0755), 0);
	assert_int_equal(sn_memtable_flush(&x.mt, store, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&x.mt);
	pfx_opts(&x, &f);
	f.opts.run_granules = 1;
	f.opts.threads = 1;
	assert_int_equal(scalar_int(&f, "select sum(toInt(person.properties.i)) from events"), sum);
	assert_int_equal(
	    scalar_int(&f, "select count() from events where isNull(person.properties.i)"), 6);
	assert_int_equal(
	    scalar_int(&f, "select count() from events where isNotNull(person.created_at)"), N - 6);
	/* on two threads the whole team is read first and shared (frozen):
	 * the same answers, personless events still NULL */
	f.opts.threads = 2;
	assert_int_equal(scalar_int(&f, "select sum(toInt(person.properties.i)) from events"), sum);
	assert_int_equal(
	    scalar_int(&f, "select count() from events where isNull(person.properties.i)"), 6);
	static const char *const qs[] = {
	    "select person.properties.i, person.is_identified, count() from events group by 1, 2 "
	    "order by 1 limit 50000",
	    "select distinct_id, person.created_at, person.properties.i from events limit 50000",
	};
	for (size_t q = 0; q < SN_ARRAY_LEN(qs); q++) {
		struct sn_exec_result one, two;
		f.opts.threads = 1;
		run_ok(&f, qs[q], &one);
		f.opts.threads = 2;
		run_ok(&f, qs[q], &two);
		assert_int_equal(two.stats.scan_threads, 2);
		assert_int_equal(one.nrows, q == 0 ? N - 5 : N); /* 6 personless: one group */
		assert_int_equal(two.nrows, one.nrows);
		for (size_t r = 0; r < one.nrows; r++)
			for (size_t k = 0; k < one.ncols; k++) {
				const struct sn_exec_value *a = cell(&one, r, k),
							   *b = cell(&two, r, k);
				assert_int_equal(a->null, b->null);
				assert_int_equal(a->i, b->i);
				assert_int_equal(a->s.len, b->s.len);
				if (a->s.len)
					assert_memory_equal(a->s.p, b->s.p, a->s.len);
			}
		sn_exec_result_release(&one);
		sn_exec_result_release(&two);
	}
	persons_teardown(&x);
}

/* ---- top-N ------------------------------------------------------------------------ */

#define TN_ROWS 3000

struct tnrow {
	int seq; /* scan order */
	char uuid[37];
	bool knull;
	int k;
};

static int tn_cmp_asc(const void *a, const void *b)
{
	const struct tnrow *x = a, *y = b;
	if (x->knull != y->knull)
		return x->knull ? -1 : 1; /* NULLS FIRST */
	if (!x->knull && x->k != y->k)
		return x->k < y->k ? -1 : 1;
	return x->seq - y->seq;
}

static int tn_cmp_desc(const void *a, const void *b)
{
	const struct tnrow *x = a, *y = b;
	if (x->knull != y->knull)
		return x->knull ? 1 : -1; /* DESC, NULLS LAST (the default) */
	if (!x->knull && x->k != y->k)
		return x->k > y->k ? -1 : 1;
	return x->seq - y->seq;
}

/* Appends an event of team 1 at ts_s seconds after 1700000000 with a
 * random uuid; mt copies the strings. */
static void append_event(struct sn_memtable *mt, int64_t ts_s, const char *event,
			 const char *distinct_id, const char *props)
{
	struct sn_event_row er = {0};
	struct sn_err err = {0};
	sn_uuid_random_v4((struct sn_uuid *)er.uuid);
	er.team_id = 1;
	er.timestamp_us = ts_s * 1000000LL + 1700000000000000LL;
	er.created_at_us = er.timestamp_us;
	er.event = (struct sn_str){event, strlen(event)};
	er.distinct_id = (struct sn_str){distinct_id, strlen(distinct_id)};
	er.properties = (struct sn_str){props, strlen(props)};
	er.elements_chain = (struct sn_str){"", 0};
	assert_int_equal(sn_memtable_append(mt, &er, &err), 0);
}

/* Writes mt's rows (team 1) as a part of 64-row granules into f's
 * directory, releases mt and points f's queries at it, reading runs of
 * run_granules granules. */
static void flush_to_fixture(struct fixture *f, struct sn_memtable *mt, uint32_t run_granules)
{
	struct sn_part_write_opts o = {.granule_rows = 64, .no_fsync = true};
	struct sn_part_written *w = NULL;
	struct sn_err err = {0};
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(mt, f->dir, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(mt);
	f->opts.store_dir = f->dir;
	f->opts.team_id = 1;
	f->opts.run_granules = run_granules;
}

/* WHERE term by term (exec.c where_terms): a top-level AND answers as the
 * same conditions under if() (one expression, the old path), on one and
 * two threads; the sparse key's term goes first, and runs where it keeps
 * no row skip the other terms. */
#define WT_ROWS 3000
static void test_where_terms(void **state)
{
	(void)state;
	struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_exec"), 0);
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	srand(5);
	static const char *const evs[] = {"e0", "e1", "e2", "e3", "e4"};
	for (int i = 0; i < WT_ROWS; i++) {
		char props[48], id[16];
		int64_t ts = rand() % 86400;
		int e = rand() % 5;
		snprintf(id, sizeof(id), "u%d", rand() % 300);
		if (e == 3) /* "s" only on e3: blocks of other events have none */
			snprintf(props, sizeof(props), "{\"v\":%d,\"s\":%d}", rand() % 1000,
				 rand() % 1000);
		else
			snprintf(props, sizeof(props), "{\"v\":%d}", rand() % 1000);
		append_event(&mt, ts, evs[e], id, props);
	}
	flush_to_fixture(&f, &mt, 2);
	static const char *const conds[] = {
	    "toInt(properties.v) > 500 and toInt(properties.s) > 900",
	    "properties.s is null and toInt(properties.v) < 100",
	    "event != 'e1' and toInt(properties.s) > 990 and toInt(properties.v) % 2 = 0",
	    "toInt(properties.s) > 995 and toInt(properties.v) >= 0 and distinct_id != 'u7'",
	    "toInt(properties.s) > 2000 and toInt(properties.v) >= 0",
	};
	bool skipped = false;
	for (size_t q = 0; q < SN_ARRAY_LEN(conds); q++)
		for (uint32_t t = 1; t <= 2; t++) {
			char a[512], b[512];
			snprintf(a, sizeof(a),
				 "select event, distinct_id, toInt(properties.v), properties.s "
				 "from events "
				 "where %s order by 1, 2, 3, 4 limit 5000",
				 conds[q]);
			snprintf(b, sizeof(b),
				 "select event, distinct_id, toInt(properties.v), properties.s "
				 "from events "
				 "where if(%s, 1, 0) order by 1, 2, 3, 4 limit 5000",
				 conds[q]);
			struct sn_exec_result x, y;
			f.opts.threads = t;
			run_ok(&f, a, &x);
			run_ok(&f, b, &y);
			assert_int_equal(x.nrows, y.nrows);
			assert_int_equal(y.stats.terms_skipped, 0);
			skipped |= x.stats.terms_skipped > 0;
			if (q == 0 || q == 3)
				assert_true(x.nrows > 0 && x.nrows < 300);
			if (q == 4)
				assert_int_equal(x.nrows, 0);
			for (size_t r = 0; r < x.nrows; r++)
				for (size_t k = 0; k < x.ncols; k++) {
					const struct sn_exec_value *u = cell(&x, r, k),
								   *v = cell(&y, r, k);
					assert_int_equal(u->null, v->null);
					assert_int_equal(u->i, v->i);
					assert_int_equal(u->s.len, v->s.len);
					if (u->s.len)
						assert_memory_equal(u->s.p, v->s.p, u->s.len);
				}
			sn_exec_result_release(&x);
			sn_exec_result_release(&y);
		}
	assert_true(skipped);
}

/* Merging two scanners' groups on two threads (merge_parallel_values 1
 * forces it): every aggregate that keeps values (uniq sets, quantile lists)
 * and the others answer as on one thread, and the merge says it ran on two. */
#define PM_ROWS 4000
static void test_parallel_merge(void **state)
{
	(void)state;
	struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_exec"), 0);
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	srand(11);
	static const char *const evs[] = {"e0", "e1", "e2", "e3", "e4"};
	for (int i = 0; i < PM_ROWS; i++) {
		char props[32], id[16];
		int64_t ts = rand() % (86400 * 6);
		const char *ev = evs[rand() % 5];
		snprintf(id, sizeof(id), "u%d", rand() % 700);
		snprintf(props, sizeof(props), "{\"v\":%d}", rand() % 1000);
		append_event(&mt, ts, ev, id, props);
	}
	flush_to_fixture(&f, &mt, 1);
	static const char *const qs[] = {
	    "select event, uniq(distinct_id), count(distinct distinct_id), "
	    "uniqExact(properties.v), "
	    "median(toInt(properties.v)), quantile(0.9)(toInt(properties.v)), "
	    "medianExact(toInt(properties.v)), "
	    "min(distinct_id), max(distinct_id), count(), sum(toInt(properties.v)) "
	    "from events group by event order by event",
	    "select toStartOfDay(timestamp) as d, uniq(distinct_id), uniqIf(distinct_id, "
	    "event = 'e1') from events group by d order by d",
	};
	for (size_t q = 0; q < SN_ARRAY_LEN(qs); q++) {
		struct sn_exec_result one, two;
		f.opts.threads = 1;
		f.opts.merge_parallel_values = 0;
		run_ok(&f, qs[q], &one);
		f.opts.threads = 2;
		f.opts.merge_parallel_values = 1;
		run_ok(&f, qs[q], &two);
		assert_int_equal(two.stats.scan_threads, 2);
		assert_int_equal(two.stats.merges_parallel, 1);
		assert_int_equal(one.stats.merges_parallel, 0);
		assert_int_equal(one.nrows, q == 0 ? 5 : 7);
		assert_int_equal(two.nrows, one.nrows);
		assert_true(cell(&one, 1, 1)->i > 100); /* sets of many values */
		for (size_t r = 0; r < one.nrows; r++)
			for (size_t k = 0; k < one.ncols; k++) {
				const struct sn_exec_value *a = cell(&one, r, k),
							   *b = cell(&two, r, k);
				assert_int_equal(a->null, b->null);
				assert_int_equal(a->i, b->i);
				assert_true(a->f == b->f);
				assert_int_equal(a->s.len, b->s.len);
				if (a->s.len)
					assert_memory_equal(a->s.p, b->s.p, a->s.len);
			}
		sn_exec_result_release(&one);
		sn_exec_result_release(&two);
	}
	/* the default threshold keeps a merge this small on one thread */
	struct sn_exec_result res;
	f.opts.merge_parallel_values = 0;
	run_ok(&f, qs[0], &res);
	assert_int_equal(res.stats.merges_parallel, 0);
	sn_exec_result_release(&res);
}

static void test_topn_equals_full_sort(void **state)
{
	(void)state;
	struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_exec"), 0);
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	srand(7);
	static char props[TN_ROWS][48];
	for (int i = 0; i < TN_ROWS; i++) {
		struct sn_event_row er = {0};
		sn_uuid_random_v4((struct sn_uuid *)er.uuid);
		er.team_id = 1;
		er.timestamp_us = (int64_t)(rand() % 50) * 1000000LL + 1700000000000000LL;
		er.created_at_us = er.timestamp_us;
		er.event = (struct sn_str){"e", 1};
		er.distinct_id = (struct sn_str){"d", 1};
		int k = rand() % 12;
		if (k >= 10)
			snprintf(props[i], sizeof(props[i]), k == 10 ? "{}" : "{\"k\":null}");
		else
			snprintf(props[i], sizeof(props[i]), "{\"k\":%d}", k);
		er.properties = (struct sn_str){props[i], strlen(props[i])};
		er.elements_chain = (struct sn_str){"", 0};
		assert_int_equal(sn_memtable_append(&mt, &er, &err), 0);
	}
	flush_to_fixture(&f, &mt, 3);

	/* the oracle: every row in scan order, stably sorted here */
	static struct tnrow all[TN_ROWS];
	struct sn_exec_result res;
	run_ok(&f, "select uuid, toInt(properties.k) from events limit 10000", &res);
	assert_int_equal(res.nrows, TN_ROWS);
	for (size_t r = 0; r < res.nrows; r++) {
		all[r].seq = (int)r;
		memcpy(all[r].uuid, cell(&res, r, 0)->s.p, 36);
		all[r].uuid[36] = 0;
		all[r].knull = cell(&res, r, 1)->null;
		all[r].k = (int)cell(&res, r, 1)->i;
	}
	sn_exec_result_release(&res);
	static struct tnrow sorted[TN_ROWS];
	static const struct {
		const char *order;
		int (*cmp)(const void *, const void *);
	} orders[] = {{"toInt(properties.k) asc nulls first", tn_cmp_asc},
		      {"toInt(properties.k) desc", tn_cmp_desc}};
	static const int limits[][2] = {{3, 0}, {10, 25}, {1, 0}, {500, 2400}, {100, 2950}};
	for (size_t oi = 0; oi < SN_ARRAY_LEN(orders); oi++) {
		memcpy(sorted, all, sizeof(all));
		qsort(sorted, TN_ROWS, sizeof(*sorted), orders[oi].cmp);
		for (size_t li = 0; li < SN_ARRAY_LEN(limits); li++) {
			char q[256];
			int lim = limits[li][0], off = limits[li][1];
			snprintf(q, sizeof(q),
				 "select uuid from events order by %s limit %d offset %d",
				 orders[oi].order, lim, off);
			run_ok(&f, q, &res);
			size_t want = (size_t)(off + lim <= TN_ROWS ? lim : TN_ROWS - off);
			assert_int_equal(res.nrows, want);
			assert_int_equal(res.has_more, off + lim < TN_ROWS);
			for (size_t r = 0; r < res.nrows; r++)
				if (!str_eq(cell(&res, r, 0), sorted[off + r].uuid))
					fail_msg("%s: row %zu differs", q, r);
			sn_exec_result_release(&res);
		}
	}
	/* grouped rows go through the same heap */
	run_ok(&f,
	       "select toInt(properties.k) as k, count() as c from events group by k "
	       "order by c desc, k limit 3",
	       &res);
	assert_int_equal(res.nrows, 3);
	assert_true(cell(&res, 0, 1)->i >= cell(&res, 1, 1)->i);
	assert_true(cell(&res, 1, 1)->i >= cell(&res, 2, 1)->i);
	sn_exec_result_release(&res);
	sn_test_rm_rf(f.dir);
}

/* ---- subqueries, IN (SELECT), CTEs, UNION ALL ------------------------------------------ */

static bool is_chrome(const struct row *r)
{
	return r->browser == 1;
}

/* Events of team 1 per distinct id (u0..u5) matching pred (NULL = all). */
static void counts_by_did(int64_t counts[6], bool (*pred)(const struct row *))
{
	memset(counts, 0, 6 * sizeof(*counts));
	for (int i = 0; i < NROWS; i++)
		if (ROWS[i].team == 1 && (!pred || pred(&ROWS[i])))
			counts[atoi(ROWS[i].distinct_id + 1)]++;
}

static void test_subquery_from(void **state)
{
	struct fixture *f = *state;
	int64_t cnt[6], max = 0, nids = 0, total = 0;
	counts_by_did(cnt, is_chrome);
	for (int k = 0; k < 6; k++) {
		max = cnt[k] > max ? cnt[k] : max;
		nids += cnt[k] > 0;
		total += cnt[k];
	}
	int64_t at_max = 0;
	for (int k = 0; k < 6; k++)
		at_max += cnt[k] == max;
	assert_true(at_max > 0 && at_max < 6);
	char q[512];
	snprintf(q, sizeof(q),
		 "select count() from (select distinct_id, count() as c from events where "
		 "properties.$browser = 'Chrome' group by distinct_id) where c >= %" PRId64,
		 max);
	assert_int_equal(scalar_int(f, q), at_max);
	/* three levels: a histogram of the per-user counts, summed back */
	assert_int_equal(scalar_int(f, "select sum(n) from (select c, count() as n from (select "
				       "distinct_id, count() as c from events where "
				       "properties.$browser = 'Chrome' group by distinct_id) group "
				       "by c)"),
			 nids);
	assert_int_equal(scalar_int(f, "select sum(c * n) from (select c, count() as n from "
				       "(select distinct_id, count() as c from events where "
				       "properties.$browser = 'Chrome' group by distinct_id) as "
				       "inner group by c) as outer"),
			 total);
	/* names and types come from the inner SELECT (§4.8); order/limit outside */
	struct sn_exec_result res;
	run_ok(f,
	       "select x.distinct_id, c from (select distinct_id, count() as c from events "
	       "group by distinct_id) as x order by c desc, distinct_id limit 2",
	       &res);
	counts_by_did(cnt, NULL);
	assert_int_equal(res.nrows, 2);
	assert_string_equal(res.names[0], "distinct_id");
	assert_string_equal(res.names[1], "c");
	assert_string_equal(res.types[1], "UInt64");
	assert_true(res.has_more);
	assert_true(str_eq(cell(&res, 0, 0), "u0"));
	assert_int_equal(cell(&res, 0, 1)->i, cnt[0]);
	assert_true(str_eq(cell(&res, 1, 0), "u1"));
	assert_int_equal(cell(&res, 1, 1)->i, cnt[1]);
	sn_exec_result_release(&res);
	/* subqueries are not limited (§4.7): 2 x 72 rows > the default 100 */
	int64_t team1 = 0;
	for (int i = 0; i < NROWS; i++)
		team1 += ROWS[i].team == 1;
	assert_true(2 * team1 > 100);
	assert_int_equal(scalar_int(f, "select count() from (select uuid from events union all "
				       "select uuid from events)"),
			 2 * team1);
	/* empty inner results */
	assert_int_equal(
	    scalar_int(f, "select count() from (select event from events where event = 'nope')"),
	    0);
	run_ok(f, "select event, n from (select event, 1 as n from events where event = 'nope')",
	       &res);
	assert_int_equal(res.nrows, 0);
	assert_string_equal(res.names[1], "n");
	sn_exec_result_release(&res);
	/* SELECT * over a subquery is its columns */
	run_ok(f,
	       "select *, c + 1 from (select event, count() as c from events group by event) "
	       "order by event",
	       &res);
	assert_int_equal(res.ncols, 3);
	assert_int_equal(res.nrows, 3);
	assert_string_equal(res.names[0], "event");
	assert_string_equal(res.names[1], "c");
	assert_true(str_eq(cell(&res, 0, 0), "$pageview"));
	int64_t pv = 0;
	for (int i = 0; i < NROWS; i++)
		pv += ROWS[i].team == 1 && strcmp(ROWS[i].event, "$pageview") == 0;
	assert_int_equal(cell(&res, 0, 1)->i, pv);
	assert_int_equal(cell(&res, 0, 2)->i, pv + 1);
	sn_exec_result_release(&res);
	/* the inner SELECT's own LIMIT holds */
	assert_int_equal(scalar_int(f, "select count() from (select uuid from events limit 5)"), 5);
}

static void test_in_subquery(void **state)
{
	struct fixture *f = *state;
	/* distinct ids with a Firefox purchase, then their events */
	bool ids[6] = {false};
	for (int i = 0; i < NROWS; i++)
		if (ROWS[i].team == 1 && ROWS[i].browser == 2 &&
		    strcmp(ROWS[i].event, "purchase") == 0)
			ids[atoi(ROWS[i].distinct_id + 1)] = true;
	int64_t in = 0, team1 = 0;
	for (int i = 0; i < NROWS; i++) {
		team1 += ROWS[i].team == 1;
		in += ROWS[i].team == 1 && ids[atoi(ROWS[i].distinct_id + 1)];
	}
	assert_true(in > 0 && in < team1);
	assert_int_equal(scalar_int(f, "select count() from events where distinct_id in (select "
				       "distinct_id from events where event = 'purchase' and "
				       "properties.$browser = 'Firefox')"),
			 in);
	assert_int_equal(scalar_int(f, "select count() from events where distinct_id not in "
				       "(select distinct_id from events where event = 'purchase' "
				       "and properties.$browser = 'Firefox')"),
			 team1 - in);
	/* NULLs (§4.3, transform_null_in): NULL matches a NULL in the set; NOT
	 * IN keeps NULL rows when the set has none */
	int64_t null = 0, chrome = 0;
	for (int i = 0; i < NROWS; i++) {
		null += ROWS[i].team == 1 && (ROWS[i].browser == 0 || ROWS[i].browser == 3);
		chrome += ROWS[i].team == 1 && ROWS[i].browser == 1;
	}
	assert_int_equal(scalar_int(f, "select count() from events where properties.$browser in "
				       "(select properties.$browser from events where "
				       "properties.$browser is null)"),
			 null);
	assert_int_equal(scalar_int(f, "select count() from events where properties.$browser not "
				       "in (select properties.$browser from events where "
				       "properties.$browser = 'Chrome')"),
			 team1 - chrome);
	assert_int_equal(scalar_int(f, "select count() from events where properties.$browser not "
				       "in (select properties.$browser from events)"),
			 0);
	/* keys normalised: Int64 against Float64 */
	int64_t small = 0;
	for (int i = 0; i < NROWS; i++)
		small += ROWS[i].team == 1 && ROWS[i].n < 10;
	assert_int_equal(scalar_int(f, "select count() from events where toInt(properties.n) in "
				       "(select toFloat(properties.n) from events where "
				       "toInt(properties.n) < 10)"),
			 small);
	/* an empty set */
	assert_int_equal(scalar_int(f, "select count() from events where event in (select event "
				       "from events where event = 'nope')"),
			 0);
	assert_int_equal(scalar_int(f, "select count() from events where event not in (select "
				       "event from events where event = 'nope')"),
			 team1);
	expect_error(f,
		     "select count() from events where event in (select event, uuid from "
		     "events)",
		     "QueryError", "select event, uuid", "one column");
	expect_error(f,
		     "select count() from events where event in (select toInt(properties.n) "
		     "from events)",
		     "QueryError", NULL, "Cannot compare");
}

static void test_cte(void **state)
{
	struct fixture *f = *state;
	int64_t cnt[6], signups = 0, small = 0, team1 = 0;
	counts_by_did(cnt, is_chrome);
	int64_t max = 0, at_max = 0;
	for (int k = 0; k < 6; k++)
		max = cnt[k] > max ? cnt[k] : max;
	for (int i = 0; i < NROWS; i++) {
		team1 += ROWS[i].team == 1;
		signups += ROWS[i].team == 1 && strcmp(ROWS[i].event, "signup") == 0;
		small += ROWS[i].team == 1 && ROWS[i].n < 12;
		at_max += ROWS[i].team == 1 && ROWS[i].browser == 1 &&
			  cnt[atoi(ROWS[i].distinct_id + 1)] == max;
	}
	/* a CTE used twice (FROM and IN), materialised once: the events are
	 * scanned once */
	char q[640];
	snprintf(q, sizeof(q),
		 "with c as (select distinct_id, count() as n from events where "
		 "properties.$browser = 'Chrome' group by distinct_id) select sum(n) from c where "
		 "distinct_id in (select distinct_id from c where n >= %" PRId64 ")",
		 max);
	struct sn_exec_result res, one;
	run_ok(f, q, &res);
	assert_int_equal(cell(&res, 0, 0)->i, at_max);
	run_ok(f, "select count() from events", &one);
	assert_int_equal(res.stats.granules_read, one.stats.granules_read);
	sn_exec_result_release(&res);
	sn_exec_result_release(&one);
	/* scalar CTEs */
	assert_int_equal(
	    scalar_int(f, "with 12 as k select count() from events where toInt(properties.n) < k"),
	    small);
	run_ok(f,
	       "with (select count() from events where event = 'signup') as s select s, count() "
	       "from events",
	       &res);
	assert_int_equal(cell(&res, 0, 0)->i, signups);
	assert_int_equal(cell(&res, 0, 1)->i, team1);
	sn_exec_result_release(&res);
	/* inside its own body the name is the table again */
	assert_int_equal(scalar_int(f, "with events as (select event from events where event = "
				       "'signup') select count() from events"),
			 signups);
	/* a CTE over a CTE */
	assert_int_equal(scalar_int(f, "with a as (select event from events), b as (select event "
				       "from a where event = 'signup') select count() from b"),
			 signups);
	expect_error(f, "select count() from events where event = (select event from events)",
		     "QueryError", "select event from events", "more than one row");
}

static void test_union_all(void **state)
{
	struct fixture *f = *state;
	struct sn_exec_result res;
	/* each member is limited on its own (§4.7) */
	run_ok(f,
	       "select event from events where event = 'signup' limit 2 union all select "
	       "distinct_id from events order by distinct_id limit 3",
	       &res);
	assert_int_equal(res.nrows, 5);
	assert_true(res.has_more);
	assert_string_equal(res.names[0], "event");
	assert_true(str_eq(cell(&res, 0, 0), "signup"));
	assert_true(str_eq(cell(&res, 1, 0), "signup"));
	for (size_t r = 2; r < 5; r++)
		assert_true(str_eq(cell(&res, r, 0), "u0"));
	sn_exec_result_release(&res);
	/* without LIMIT each member gets the default 100 */
	run_ok(f, "select uuid from events union all select uuid from events", &res);
	assert_int_equal(res.nrows, 144);
	assert_false(res.has_more);
	sn_exec_result_release(&res);
	/* types are unified per column */
	run_ok(f,
	       "select 1 as x, null as y from events limit 1 union all select 2.5, 'a' from "
	       "events limit 1",
	       &res);
	assert_int_equal(res.nrows, 2);
	assert_string_equal(res.names[0], "x");
	assert_string_equal(res.types[0], "Float64");
	assert_string_equal(res.types[1], "Nullable(String)");
	assert_true(cell(&res, 0, 0)->f == 1.0 && cell(&res, 1, 0)->f == 2.5);
	assert_true(cell(&res, 0, 1)->null);
	assert_true(str_eq(cell(&res, 1, 1), "a"));
	sn_exec_result_release(&res);
	expect_error(f, "select event from events union all select event, uuid from events",
		     "QueryError", NULL, "numbers of columns");
	expect_error(f, "select event from events union all select timestamp from events",
		     "QueryError", NULL, "common type");
	expect_error(f, "select event from events union distinct select uuid, event from events",
		     "QueryError", NULL, "UNION DISTINCT members return different numbers");
}

static void test_subquery_team_guard(void **state)
{
	struct fixture *f = *state;
	int64_t t2 = 0;
	for (int i = 0; i < NROWS; i++)
		t2 += ROWS[i].team == 2;
	assert_int_equal(scalar_int(f, "select count() from (select team_id from events where "
				       "team_id = 2)"),
			 0);
	assert_int_equal(scalar_int(f, "select count() from (select team_id from events) where "
				       "team_id != 1"),
			 0);
	assert_int_equal(scalar_int(f, "select count() from events where distinct_id in (select "
				       "distinct_id from events where distinct_id like 't2-%')"),
			 0);
	assert_int_equal(scalar_int(f, "with x as (select distinct_id from events) select "
				       "count() from x where distinct_id like 't2-%'"),
			 0);
	f->opts.team_id = 2;
	assert_int_equal(scalar_int(f, "select count() from (select distinct_id from events) "
				       "where distinct_id like 't2-%'"),
			 t2);
	f->opts.team_id = 1;
}

static void test_subquery_budget(void **state)
{
	struct fixture *f = *state;
	/* the materialised rows count against the query's memory budget */
	const char *big =
	    "select count() from (select properties, distinct_id, uuid, event from "
	    "events union all select properties, distinct_id, uuid, event from events "
	    "union all select properties, distinct_id, uuid, event from events)";
	f->opts.mem_limit_bytes = 96 * 1024;
	assert_true(scalar_int(f, "select count() from events") > 0);
	expect_error(f, big, "QueryError", NULL, "memory limit");
	f->opts.mem_limit_bytes = 0;
	assert_int_equal(scalar_int(f, big), 3 * 72);
}

/* ---- explicit JOINs ----------------------------------------------------------------- */

static bool is_team1(const struct row *r)
{
	return r->team == 1;
}
static bool is_pv_not_u2(const struct row *r)
{
	return r->team == 1 && strcmp(r->event, "$pageview") == 0 &&
	       strcmp(r->distinct_id, "u2") != 0;
}
static bool is_signup_not_u1(const struct row *r)
{
	return r->team == 1 && strcmp(r->event, "signup") == 0 && strcmp(r->distinct_id, "u1") != 0;
}

/* Σ a(k)·b(k) over keys k(row) (NULL keys, k < 0, never match), plus the
 * unmatched rows of each side. */
static void join_counts(bool (*pa)(const struct row *), bool (*pb)(const struct row *),
			int (*key)(const struct row *), int64_t *inner, int64_t *a_only,
			int64_t *b_only)
{
	*inner = *a_only = *b_only = 0;
	for (int i = 0; i < NROWS; i++) {
		if (!pa(&ROWS[i]))
			continue;
		int64_t m = 0;
		for (int k = 0; k < NROWS; k++)
			m += pb(&ROWS[k]) && key(&ROWS[i]) >= 0 && key(&ROWS[i]) == key(&ROWS[k]);
		*inner += m;
		*a_only += m == 0;
	}
	for (int k = 0; k < NROWS; k++) {
		if (!pb(&ROWS[k]))
			continue;
		int64_t m = 0;
		for (int i = 0; i < NROWS; i++)
			m += pa(&ROWS[i]) && key(&ROWS[k]) >= 0 && key(&ROWS[i]) == key(&ROWS[k]);
		*b_only += m == 0;
	}
}

static int key_did(const struct row *r)
{
	return (r->team == 2 ? 100 : 0) + atoi(r->distinct_id + (r->team == 2 ? 3 : 1));
}
static int key_did_event(const struct row *r)
{
	return key_did(r) * 10 + (int)((r->n / 3) % 3);
}
static int key_browser(const struct row *r)
{
	return r->browser == 1 || r->browser == 2 ? r->browser : -1;
}
static bool is_team2(const struct row *r)
{
	return r->team == 2;
}

static bool is_signup(const struct row *r)
{
	return r->team == 1 && strcmp(r->event, "signup") == 0;
}
static bool is_team1_not_u1(const struct row *r)
{
	return r->team == 1 && strcmp(r->distinct_id, "u1") != 0;
}

/* A left side smaller than the right is the one hashed (hashjoin.c); the
 * result keeps the order of hashing the right side: left rows in order,
 * each with its right rows in order; LEFT keeps unmatched left rows in
 * place. */
static void test_join_small_left(void **state)
{
	struct fixture *f = *state;
	int64_t in, ao, bo;
	join_counts(is_signup, is_team1_not_u1, key_did, &in, &ao, &bo);
	assert_true(in > 0 && ao > 0);
	for (int left = 0; left < 2; left++) {
		char q[1024];
		snprintf(
		    q, sizeof(q),
		    "select x.ln, y.rn from (select distinct_id, toInt(properties.n) as ln from "
		    "events where event = 'signup' order by ln) as x %s join (select "
		    "distinct_id, toInt(properties.n) as rn from events where distinct_id != "
		    "'u1' order by rn) as y on x.distinct_id = y.distinct_id limit 10000",
		    left ? "left" : "inner");
		struct sn_exec_result res;
		run_ok(f, q, &res);
		assert_int_equal(res.nrows, in + (left ? ao : 0));
		int64_t nulls = 0;
		for (size_t r = 1; r < res.nrows; r++) {
			const struct sn_exec_value *l0 = cell(&res, r - 1, 0),
						   *l1 = cell(&res, r, 0);
			const struct sn_exec_value *r0 = cell(&res, r - 1, 1),
						   *r1 = cell(&res, r, 1);
			assert_true(l0->i <= l1->i);
			if (l0->i == l1->i && !r0->null && !r1->null)
				assert_true(r0->i < r1->i);
		}
		for (size_t r = 0; r < res.nrows; r++)
			nulls += cell(&res, r, 1)->null;
		assert_int_equal(nulls, left ? ao : 0);
		sn_exec_result_release(&res);
	}
}

static void test_join_kinds(void **state)
{
	struct fixture *f = *state;
	int64_t in, ao, bo;
	join_counts(is_team1, is_team1, key_did, &in, &ao, &bo);
	assert_int_equal(scalar_int(f, "select count() from events a join events b on "
				       "a.distinct_id = b.distinct_id"),
			 in);
	assert_int_equal(scalar_int(f, "select count() from events as a inner join events as b "
				       "on b.distinct_id = a.distinct_id"),
			 in);
	assert_int_equal(scalar_int(f, "select count() from events a join (select distinct_id "
				       "from events) b using (distinct_id)"),
			 in);
	/* multi-key */
	join_counts(is_team1, is_team1, key_did_event, &in, &ao, &bo);
	assert_int_equal(scalar_int(f, "select count() from events a join events b on "
				       "a.distinct_id = b.distinct_id and a.event = b.event"),
			 in);
	assert_int_equal(scalar_int(f, "select count() from events a join events b using "
				       "(distinct_id, event)"),
			 in);
	/* NULL keys (missing and JSON-null $browser) never match */
	join_counts(is_team1, is_team1, key_browser, &in, &ao, &bo);
	assert_int_equal(scalar_int(f, "select count() from events a join events b on "
				       "a.properties.$browser = b.properties['$browser']"),
			 in);
	/* outer joins: unmatched on both sides */
	join_counts(is_pv_not_u2, is_signup_not_u1, key_did, &in, &ao, &bo);
	assert_true(in > 0 && ao > 0 && bo > 0);
	const char *a = "(select distinct_id from events where event = '$pageview' and "
			"distinct_id != 'u2')";
	const char *b = "(select distinct_id, event from events where event = 'signup' and "
			"distinct_id != 'u1')";
	const char *kinds[] = {"inner", "left", "right", "full outer"};
	int64_t want[][3] = {
	    {in, 0, 0}, {in + ao, 0, ao}, {in + bo, bo, 0}, {in + ao + bo, bo, ao}};
	for (int k = 0; k < 4; k++) {
		char q[1024];
		snprintf(q, sizeof(q),
			 "select count(), countIf(isNull(x.distinct_id)), "
			 "countIf(isNull(y.distinct_id)), countIf(y.event = 'signup') from %s as x "
			 "%s join %s as y on x.distinct_id = y.distinct_id",
			 a, kinds[k], b);
		struct sn_exec_result res;
		run_ok(f, q, &res);
		assert_int_equal(res.nrows, 1);
		assert_int_equal(cell(&res, 0, 0)->i, want[k][0]);
		assert_int_equal(cell(&res, 0, 1)->i, want[k][1]);
		assert_int_equal(cell(&res, 0, 2)->i, want[k][2]);
		assert_int_equal(cell(&res, 0, 3)->i, want[k][0] - want[k][2]);
		sn_exec_result_release(&res);
	}
	/* cross */
	int64_t na = 0, nb = 0;
	for (int i = 0; i < NROWS; i++) {
		na += is_pv_not_u2(&ROWS[i]);
		nb += is_signup_not_u1(&ROWS[i]);
	}
	char q[1024];
	snprintf(q, sizeof(q), "select count() from %s as x cross join %s as y", a, b);
	assert_int_equal(scalar_int(f, q), na * nb);
	snprintf(q, sizeof(q), "select count() from %s as x, %s as y", a, b);
	assert_int_equal(scalar_int(f, q), na * nb);
	/* GROUP BY a column of one side */
	struct sn_exec_result res;
	run_ok(f,
	       "select a.event, count() from events a join events b on a.distinct_id = "
	       "b.distinct_id group by a.event order by a.event",
	       &res);
	assert_int_equal(res.nrows, 3);
	for (size_t g = 0; g < 3; g++) {
		int64_t want_g = 0;
		for (int i = 0; i < NROWS; i++)
			for (int j = 0; j < NROWS; j++)
				want_g += ROWS[i].team == 1 && ROWS[j].team == 1 &&
					  str_eq(cell(&res, g, 0), ROWS[i].event) &&
					  strcmp(ROWS[i].distinct_id, ROWS[j].distinct_id) == 0;
		assert_true(want_g > 0);
		assert_int_equal(cell(&res, g, 1)->i, want_g);
	}
	sn_exec_result_release(&res);
	/* rows: projection, WHERE and ORDER BY over both sides, a chain */
	run_ok(f,
	       "select a.distinct_id, b.c, toInt(a.properties.n) as n from events a "
	       "left join (select distinct_id, count() as c from events where event = 'signup' "
	       "group by distinct_id) b on a.distinct_id = b.distinct_id "
	       "join events c on c.uuid = a.uuid "
	       "where c.event = 'purchase' order by n",
	       &res);
	size_t k = 0;
	for (int i = 0; i < NROWS; i++) {
		const struct row *r = &ROWS[i];
		if (r->team != 1 || strcmp(r->event, "purchase") != 0)
			continue;
		int64_t signups = 0;
		for (int j = 0; j < NROWS; j++)
			signups += ROWS[j].team == 1 && strcmp(ROWS[j].event, "signup") == 0 &&
				   strcmp(ROWS[j].distinct_id, r->distinct_id) == 0;
		assert_true(k < res.nrows);
		assert_true(str_eq(cell(&res, k, 0), r->distinct_id));
		if (signups)
			assert_int_equal(cell(&res, k, 1)->i, signups);
		else
			assert_true(cell(&res, k, 1)->null);
		assert_int_equal(cell(&res, k, 2)->i, r->n);
		k++;
	}
	assert_int_equal(res.nrows, k);
	sn_exec_result_release(&res);
}

static void test_join_team_guard_and_budget(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(scalar_int(f, "select count() from events a join events b on "
				       "a.distinct_id = b.distinct_id where b.team_id = 2 or "
				       "a.team_id = 2"),
			 0);
	assert_int_equal(scalar_int(f, "select count() from events a right join (select "
				       "distinct_id from events where distinct_id like 't2-%') b "
				       "on a.distinct_id = b.distinct_id"),
			 0);
	assert_int_equal(scalar_int(f, "select count() from events a full join events b on "
				       "a.distinct_id = b.distinct_id where b.distinct_id like "
				       "'t2-%' or a.distinct_id like 't2-%'"),
			 0);
	int64_t in, ao, bo;
	join_counts(is_team2, is_team2, key_did, &in, &ao, &bo);
	f->opts.team_id = 2;
	assert_int_equal(scalar_int(f, "select count() from events a join events b on "
				       "a.distinct_id = b.distinct_id"),
			 in);
	f->opts.team_id = 1;
	expect_error(f,
		     "select count() from events a cross join events b cross join events c "
		     "cross join events d",
		     "QueryError", NULL, "CROSS JOIN");
	f->opts.mem_limit_bytes = 96 * 1024;
	assert_true(scalar_int(f, "select count() from events") > 0);
	expect_error(f,
		     "select count() from events a join events b on a.event = b.event join "
		     "events c on c.event = b.event",
		     "QueryError", NULL, "memory limit");
	f->opts.mem_limit_bytes = 0;
}

static void test_join_persons(void **state)
{
	(void)state;
	struct pfx x;
	struct fixture f;
	persons_setup(&x);
	pfx_opts(&x, &f);
	struct sn_exec_result res;
	run_ok(&f,
	       "select count(), countIf(p.properties.email = 'u@x.com'), "
	       "countIf(e.person.properties.email = p.properties.email), "
	       "countIf(p.id = e.person_id) "
	       "from events e join persons p on e.person_id = p.id",
	       &res);
	assert_int_equal(cell(&res, 0, 0)->i, 9); /* nobody's event has no person */
	assert_int_equal(cell(&res, 0, 1)->i, 7); /* anon's events follow the merge */
	assert_int_equal(cell(&res, 0, 2)->i, 9);
	assert_int_equal(cell(&res, 0, 3)->i, 9);
	sn_exec_result_release(&res);
	run_ok(&f,
	       "select d.distinct_id, p.properties.email from person_distinct_ids d "
	       "left join persons p on d.person_id = p.id order by d.distinct_id",
	       &res);
	assert_true(res.nrows >= 3);
	assert_true(str_eq(cell(&res, 0, 0), "anon"));
	assert_true(str_eq(cell(&res, 0, 1), "u@x.com"));
	sn_exec_result_release(&res);
	persons_teardown(&x);
}

/* "YYYY-MM-DD hh:mm:ss" of µs since the epoch shifted by off_s seconds. */
static void fmt_wall(int64_t us, int64_t off_s, char out[32])
{
	int64_t s = us / 1000000 + off_s, days = s / 86400, sod = s % 86400, y;
	unsigned m, d;
	sn_civil_from_days(days, &y, &m, &d);
	snprintf(out, 32, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d", y, m, d, (int)(sod / 3600),
		 (int)(sod / 60 % 60), (int)(sod % 60));
}

/* Time bounds that granules lie wholly inside are skipped (and timestamp
 * is then not read at all): every operator, both sides, toDateTime and
 * bare text, inclusive and exclusive edges at and next to row times, in
 * UTC and in a zone the text is read in — always the brute-force count,
 * and min/max(timestamp) when the query also reads the column. */
static void test_time_bound_elision(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *zone;
		int64_t off_s;
	} zones[] = {{NULL, 0}, {"Asia/Tokyo", 9 * 3600}};
	static const char *const ops[] = {">=", ">", "<=", "<"};
	for (size_t z = 0; z < SN_ARRAY_LEN(zones); z++) {
		f->opts.timezone = zones[z].zone;
		for (int i = 0; i < NROWS; i++) {
			for (int delta = -1; delta <= 1; delta++) {
				int64_t b = ROWS[i].ts_us + delta * 1000000LL;
				char wall[32];
				fmt_wall(b, zones[z].off_s, wall);
				for (size_t o = 0; o < SN_ARRAY_LEN(ops); o++) {
					int64_t want = 0, lo = INT64_MAX, hi = INT64_MIN;
					for (int k = 0; k < NROWS; k++) {
						int64_t t = ROWS[k].ts_us;
						bool ok = o == 0   ? t >= b
							  : o == 1 ? t > b
							  : o == 2 ? t <= b
								   : t < b;
						if (ROWS[k].team != 1 || !ok)
							continue;
						want++;
						lo = t < lo ? t : lo;
						hi = t > hi ? t : hi;
					}
					char q[256];
					snprintf(q, sizeof(q),
						 "select count() from events where event != 'x' "
						 "and timestamp %s '%s'",
						 ops[o], wall);
					assert_int_equal(scalar_int(f, q), want);
					/* the flipped form, through toDateTime, read after WHERE */
					static const char *const flip[] = {"<=", "<", ">=", ">"};
					snprintf(q, sizeof(q),
						 "select count(), min(timestamp), max(timestamp) "
						 "from events "
						 "where toDateTime('%s') %s timestamp",
						 wall, flip[o]);
					struct sn_exec_result res;
					run_ok(f, q, &res);
					assert_int_equal(cell(&res, 0, 0)->i, want);
					if (want) {
						assert_int_equal(cell(&res, 0, 1)->i, lo);
						assert_int_equal(cell(&res, 0, 2)->i, hi);
					}
					sn_exec_result_release(&res);
				}
			}
		}
	}
	f->opts.timezone = NULL;
}

/* `event = 'x'` answered by the sparse index (rows sort by team, day,
 * event): granules between two index entries of one day that cannot hold
 * the event are skipped, those that hold only it skip the comparison —
 * counts always equal brute force, with time bounds and other terms, for
 * events present, absent and sorting between the present ones. */
static void test_event_index_pruning(void **state)
{
	struct fixture *f = *state;
	static const char *const evs[] = {"$pageview", "signup", "purchase", "a", "q", "zzz", ""};
	uint32_t saved_run = f->opts.run_granules;
	for (uint32_t run = 1; run <= 3; run++) {
		f->opts.run_granules = run;
		for (size_t e = 0; e < SN_ARRAY_LEN(evs); e++) {
			for (int variant = 0; variant < 3; variant++) {
				int64_t b = ROWS[17].ts_us;
				int64_t want = 0;
				for (int k = 0; k < NROWS; k++) {
					const struct row *r = &ROWS[k];
					bool ok = r->team == 1 && strcmp(r->event, evs[e]) == 0;
					if (variant == 1)
						ok = ok && r->ts_us >= b;
					if (variant == 2)
						ok = ok && strcmp(r->distinct_id, "u1") != 0;
					want += ok;
				}
				char wall[32], q[256];
				fmt_wall(b, 0, wall);
				if (variant == 0)
					snprintf(q, sizeof(q),
						 "select count() from events where event = '%s'",
						 evs[e]);
				else if (variant == 1)
					snprintf(
					    q, sizeof(q),
					    "select count() from events where '%s' = event and "
					    "timestamp >= '%s'",
					    evs[e], wall);
				else
					snprintf(
					    q, sizeof(q),
					    "select count() from events where event = '%s' and "
					    "distinct_id != 'u1'",
					    evs[e]);
				assert_int_equal(scalar_int(f, q), want);
			}
		}
	}
	f->opts.run_granules = saved_run;

	/* A dense day: 64 rows each of a, b, c (two teams interleaved), in
	 * granules of 8, so index entries of one day bracket one event. */
	struct fixture d;
	memset(&d, 0, sizeof(d));
	assert_int_equal(sn_test_tmpdir(d.dir, sizeof(d.dir), "test_exec"), 0);
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	static const char *const dense[] = {"a", "b", "c"};
	for (int i = 0; i < 3 * 64 * 2; i++) {
		struct sn_event_row er = {0};
		sn_uuid_random_v4((struct sn_uuid *)er.uuid);
		er.team_id = 1 + i % 2;
		er.timestamp_us = 1700006400000000LL + (int64_t)i * 1000000LL;
		er.created_at_us = er.timestamp_us;
		er.event = (struct sn_str){dense[i / 2 % 3], 1};
		er.distinct_id = (struct sn_str){"d", 1};
		er.properties = (struct sn_str){"{}", 2};
		er.elements_chain = (struct sn_str){"", 0};
		assert_int_equal(sn_memtable_append(&mt, &er, &err), 0);
	}
	struct sn_part_write_opts o = {.granule_rows = 8, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, d.dir, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
	d.opts.store_dir = d.dir;
	d.opts.team_id = 1;
	d.opts.run_granules = 2;
	struct sn_exec_result all, one, absent;
	run_ok(&d, "select count() from events", &all);
	run_ok(&d, "select count() from events where event = 'b'", &one);
	run_ok(&d, "select count() from events where event = 'bb'", &absent);
	assert_int_equal(cell(&all, 0, 0)->i, 192);
	assert_int_equal(cell(&one, 0, 0)->i, 64);
	assert_int_equal(cell(&absent, 0, 0)->i, 0);
	/* b's granules and at most one boundary granule on each side */
	assert_true(one.stats.granules_read <= 64 / 8 + 2);
	assert_true(one.stats.granules_read < all.stats.granules_read);
	assert_true(absent.stats.granules_read <= 2);
	sn_exec_result_release(&all);
	sn_exec_result_release(&one);
	sn_exec_result_release(&absent);
	for (int team = 1; team <= 2; team++)
		for (size_t e = 0; e < 3; e++) {
			char q[128];
			d.opts.team_id = team;
			snprintf(q, sizeof(q),
				 "select count() from events where event = '%s' and timestamp >= "
				 "'2023-11-15 00:00:40'",
				 dense[e]);
			int64_t want = 0;
			for (int i = 0; i < 3 * 64 * 2; i++)
				want += 1 + i % 2 == team && i / 2 % 3 == (int)e && i >= 40;
			assert_int_equal(scalar_int(&d, q), want);
		}
	sn_test_rm_rf(d.dir);
}

/* The same aggregations on 1, 2 and 3 scanner threads: identical results
 * (groups in the same order, any/anyLast/argMin/argMax ties and
 * quantiles as one thread leaves them), and the threads really ran. */
static void test_parallel_scan_equals_serial(void **state)
{
	struct fixture *f = *state;
	static const char *const qs[] = {
	    "select event, count(), uniq(distinct_id), min(timestamp), max(timestamp), "
	    "any(distinct_id), anyLast(distinct_id), argMin(distinct_id, timestamp), "
	    "argMax(event, toDate(timestamp)), quantile(0.5)(toFloat(properties.n)), "
	    "median(toInt(properties.n)), sum(toInt(properties.n)), "
	    "avg(toInt(properties.n)), countIf(properties.$browser = 'Chrome') "
	    "from events group by event",
	    "select properties.$browser, distinct_id, count(), min(properties.n) from events "
	    "group by 1, 2",
	    "select toStartOfDay(timestamp) d, count() from events where timestamp >= '2024-01-04' "
	    "group by d order by d",
	    "select count(), uniq(distinct_id, event), any(properties.plan) from events",
	    "select count() from events where event = 'nothing'",
	    /* row reads wanting many rows split too: the shares' rows in order */
	    "select distinct_id, event, timestamp, properties.$browser, person_id from events "
	    "where event != 'signup' limit 50000",
	    "select uuid, toString(properties.n) from events limit 20000 offset 7",
	};
	uint32_t saved_run = f->opts.run_granules;
	f->opts.run_granules = 1;
	for (size_t q = 0; q < SN_ARRAY_LEN(qs); q++) {
		struct sn_exec_result one;
		f->opts.threads = 1;
		run_ok(f, qs[q], &one);
		assert_int_equal(one.stats.scan_threads, 1);
		for (uint32_t t = 2; t <= 3; t++) {
			struct sn_exec_result par;
			f->opts.threads = t;
			run_ok(f, qs[q], &par);
			assert_int_equal(par.stats.scan_threads, t);
			assert_int_equal(par.nrows, one.nrows);
			assert_int_equal(par.ncols, one.ncols);
			assert_int_equal(par.stats.rows_matched, one.stats.rows_matched);
			for (size_t r = 0; r < one.nrows; r++)
				for (size_t k = 0; k < one.ncols; k++) {
					const struct sn_exec_value *a = cell(&one, r, k),
								   *b = cell(&par, r, k);
					assert_int_equal(a->null, b->null);
					assert_int_equal(a->type, b->type);
					assert_int_equal(a->i, b->i);
					assert_true(a->f == b->f || (a->f != a->f && b->f != b->f));
					assert_int_equal(a->s.len, b->s.len);
					if (a->s.len)
						assert_memory_equal(a->s.p, b->s.p, a->s.len);
				}
			sn_exec_result_release(&par);
		}
		sn_exec_result_release(&one);
	}
	/* a small LIMIT is met by the first runs: one thread */
	struct sn_exec_result small;
	f->opts.threads = 2;
	run_ok(f, "select uuid from events limit 10", &small);
	assert_int_equal(small.stats.scan_threads, 1);
	assert_int_equal(small.nrows, 10);
	sn_exec_result_release(&small);
	f->opts.threads = 0;
	f->opts.run_granules = saved_run;
}

/* ---- row sink (sn_exec_opts.row_sink) ---------------------------------------------------- */

struct sinkrows {
	pthread_mutex_t mu;
	char **rows; /* each row as text */
	size_t n, cap;
	unsigned workers; /* bit w: worker w called */
	int fail_at;	  /* > 0: the call with this number fails */
	int calls;
};

static char *row_text(const struct sn_exec_value *v, size_t ncols)
{
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	for (size_t k = 0; k < ncols; k++)
		sn_buf_appendf(&b, "%d|%d|%" PRId64 "|%a|%.*s\x1f", v[k].type, v[k].null, v[k].i,
			       v[k].f, (int)v[k].s.len, v[k].s.len ? v[k].s.p : "");
	sn_buf_appendc(&b, '\0');
	return b.data;
}

static int sink_rows(void *ctx, unsigned worker, const struct sn_exec_value *rows, size_t nrows,
		     size_t ncols)
{
	struct sinkrows *s = ctx;
	pthread_mutex_lock(&s->mu);
	int rc = ++s->calls == s->fail_at ? SN_ERR_TOO_BIG : 0;
	s->workers |= 1u << worker;
	for (size_t r = 0; r < nrows && rc == 0; r++) {
		if (s->n == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 64;
			s->rows = realloc(s->rows, s->cap * sizeof(*s->rows));
			assert_non_null(s->rows);
		}
		s->rows[s->n++] = row_text(&rows[r * ncols], ncols);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int cmp_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sinkrows_release(struct sinkrows *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->rows[i]);
	free(s->rows);
	pthread_mutex_destroy(&s->mu);
}

/* Every statement hands the rows it would return to the sink: a plain
 * read of events streams them (from several scanner threads, in any
 * order), anything else hands the result over in order at the end; LIMIT
 * and hasMore hold; a failing sink fails the query with its code. */
static void test_row_sink(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *q;
		bool streams, ordered;
	} qs[] = {
	    {"select distinct_id, event, timestamp, properties.$browser, person_id from events "
	     "where event != 'signup' limit 50000",
	     true, false},
	    {"select toString(person_id), timestamp, if(event = 'signup', 1, 0) + "
	     "if(event = 'purchase', 2, 0) from events limit 50000",
	     true, false},
	    {"select event, count() from events group by event order by event", false, true},
	    {"select uuid from events order by timestamp, uuid limit 20", false, true},
	    {"select distinct event from events", false, true},
	    {"select event from events where event = 'signup' union all select 'x'", false, true},
	    {"select uuid from events limit 20000 offset 7", false, true},
	};
	uint32_t saved_run = f->opts.run_granules;
	f->opts.run_granules = 1;
	for (size_t q = 0; q < SN_ARRAY_LEN(qs); q++) {
		struct sn_exec_result want;
		f->opts.threads = 1;
		run_ok(f, qs[q].q, &want);
		char **wt = calloc(want.nrows + 1, sizeof(*wt));
		assert_non_null(wt);
		for (size_t r = 0; r < want.nrows; r++)
			wt[r] = row_text(&want.cells[r * want.ncols], want.ncols);
		if (!qs[q].ordered)
			qsort(wt, want.nrows, sizeof(*wt), cmp_text);
		for (uint32_t t = 1; t <= 3; t++) {
			struct sinkrows s = {.mu = PTHREAD_MUTEX_INITIALIZER};
			struct sn_exec_result got;
			f->opts.threads = t;
			f->opts.row_sink = sink_rows;
			f->opts.row_sink_ctx = &s;
			run_ok(f, qs[q].q, &got);
			f->opts.row_sink = NULL;
			assert_null(got.cells);
			assert_int_equal(got.nrows, want.nrows);
			assert_int_equal(got.ncols, want.ncols);
			assert_int_equal(got.has_more, want.has_more);
			assert_int_equal(s.n, want.nrows);
			if (!qs[q].ordered)
				qsort(s.rows, s.n, sizeof(*s.rows), cmp_text);
			for (size_t r = 0; r < s.n; r++)
				assert_string_equal(s.rows[r], wt[r]);
			if (qs[q].streams && t > 1)
				assert_int_equal(s.workers, (1u << t) - 1); /* every scanner */
			else
				assert_int_equal(s.workers, want.nrows ? 1 : 0);
			if (!qs[q].streams)
				assert_int_equal(s.calls, want.nrows ? 1 : 0);
			sinkrows_release(&s);
			sn_exec_result_release(&got);
		}
		for (size_t r = 0; r < want.nrows; r++)
			free(wt[r]);
		free(wt);
		sn_exec_result_release(&want);
	}
	f->opts.threads = 1;
	/* LIMIT cuts a stream: exactly LIMIT rows, hasMore */
	struct sinkrows s = {.mu = PTHREAD_MUTEX_INITIALIZER};
	struct sn_exec_result got;
	f->opts.row_sink = sink_rows;
	f->opts.row_sink_ctx = &s;
	run_ok(f, "select uuid from events limit 5", &got);
	assert_int_equal(got.nrows, 5);
	assert_true(got.has_more);
	assert_int_equal(s.n, 5);
	sinkrows_release(&s);
	sn_exec_result_release(&got);
	/* a failing sink stops the query with its code */
	struct sinkrows bad = {.mu = PTHREAD_MUTEX_INITIALIZER, .fail_at = 2};
	f->opts.row_sink_ctx = &bad;
	struct sn_hogql_error err = {0};
	static const char qf[] = "select uuid, event from events limit 50000";
	assert_int_equal(sn_exec_query(&f->opts, qf, strlen(qf), &got, &err), SN_ERR_TOO_BIG);
	assert_non_null(strstr(err.msg, "consumer of the rows"));
	assert_int_equal(bad.calls, 2);
	sinkrows_release(&bad);
	f->opts.row_sink = NULL;
	f->opts.row_sink_ctx = NULL;
	f->opts.threads = 0;
	f->opts.run_granules = saved_run;
}

/* Results equal cell by cell (types, NULLs, integers, floats, text). */
static void assert_same_result(const struct sn_exec_result *a, const struct sn_exec_result *b)
{
	assert_int_equal(a->nrows, b->nrows);
	assert_int_equal(a->ncols, b->ncols);
	for (size_t i = 0; i < a->nrows * a->ncols; i++) {
		const struct sn_exec_value *x = &a->cells[i], *y = &b->cells[i];
		assert_int_equal(x->type, y->type);
		assert_int_equal(x->null, y->null);
		if (x->type == SN_XT_FLOAT)
			assert_true(x->f == y->f);
		else if (x->type == SN_XT_STRING || x->type == SN_XT_UUID)
			assert_true(x->s.len == y->s.len &&
				    (!x->s.len || memcmp(x->s.p, y->s.p, x->s.len) == 0));
		else
			assert_int_equal(x->i, y->i);
	}
}

/* tmpl with its one "@" replaced by arg. */
static void fill(char *out, size_t n, const char *tmpl, const char *arg)
{
	const char *at = strchr(tmpl, '@');
	assert_non_null(at);
	snprintf(out, n, "%.*s%s%s", (int)(at - tmpl), tmpl, arg, at + 1);
}

/* The rows of test_time_buckets as one part of granule_rows-row granules:
 * 2024-03-08 .. 03-13 (US DST starts 03-10), every 5 minutes and a few µs
 * either side of each UTC midnight; three events, a property b of five
 * values (missing in 1 row of 7), 13 distinct ids, every 9th row team 2. */
static void write_bucket_rows(const char *dir, uint32_t granule_rows)
{
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	int64_t t0 = sn_days_from_civil(2024, 3, 8) * 86400LL * 1000000;
	int n = 0;
	for (int64_t t = t0; t < t0 + 5 * 86400LL * 1000000; t += 5 * 60 * 1000000LL, n++) {
		int64_t ts = t;
		if (n % 11 == 0)
			ts = (t / (86400LL * 1000000) + 1) * 86400LL * 1000000 - (n % 2 ? 1 : 0);
		struct sn_event_row er = {0};
		er.uuid[14] = (uint8_t)(n >> 8);
		er.uuid[15] = (uint8_t)n;
		er.uuid[6] = 0x70;
		er.team_id = n % 9 == 0 ? 2 : 1;
		er.timestamp_us = ts;
		er.created_at_us = ts;
		const char *ev = n % 5 == 0 ? "purchase" : n % 3 ? "$pageview" : "signup";
		char did[16];
		snprintf(did, sizeof(did), "d%d", n % 13);
		er.event = (struct sn_str){ev, strlen(ev)};
		er.distinct_id = (struct sn_str){did, strlen(did)};
		char props[32];
		if (n % 7 == 0)
			snprintf(props, sizeof(props), "{}");
		else
			snprintf(props, sizeof(props), "{\"b\":\"v%d\"}", n % 5);
		er.properties = (struct sn_str){props, strlen(props)};
		er.elements_chain = (struct sn_str){"", 0};
		assert_int_equal(sn_memtable_append(&mt, &er, &err), 0);
	}
	struct sn_part_write_opts o = {.granule_rows = granule_rows, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, dir, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
}

/* Time buckets answered per run of granules (exec.c bucket_consts) give
 * what computing them per row gives: rows around UTC and local midnights
 * and a DST change, 4-row granules, runs of 1-8 granules on 1 or 2
 * threads, several zones and bucket functions, with and without time
 * bounds cutting days. addSeconds(timestamp, 0) is not a bucket (its
 * argument is not the column), so it is computed per row. */
static void test_time_buckets(void **state)
{
	(void)state;
	struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_exec"), 0);
	write_bucket_rows(f.dir, 4);
	f.opts.store_dir = f.dir;
	f.opts.team_id = 1;

	static const char *const fns[] = {
	    "toStartOfDay(@)",	 "toDate(@)",	     "toStartOfWeek(@, 1)",
	    "toStartOfMonth(@)", "toStartOfHour(@)", "toStartOfDay(toTimeZone(@, 'Asia/Kolkata'))"};
	static const char *const zones[] = {NULL, "America/New_York", "Asia/Kolkata"};
	static const char *const shapes[] = {
	    "select @ as b, count(), uniqExact(distinct_id) from events group by b order by b",
	    "select @ as b, count() from events where event = '$pageview' and timestamp >= "
	    "'2024-03-09 05:00:00' and timestamp < '2024-03-12 00:00:00' group by b order by b",
	    "select @ as b, event from events where timestamp < '2024-03-10 12:00:00' order by "
	    "b, event, timestamp limit 100000",
	};
	static const uint32_t runs[] = {1, 3, 8};
	uint64_t bucketed = 0;
	for (size_t fi = 0; fi < SN_ARRAY_LEN(fns); fi++)
		for (size_t zi = 0; zi < SN_ARRAY_LEN(zones); zi++)
			for (size_t si = 0; si < SN_ARRAY_LEN(shapes); si++)
				for (size_t ri = 0; ri < SN_ARRAY_LEN(runs); ri++) {
					char e1[128], e2[128], q1[512], q2[512];
					fill(e1, sizeof(e1), fns[fi], "timestamp");
					fill(e2, sizeof(e2), fns[fi], "addSeconds(timestamp, 0)");
					fill(q1, sizeof(q1), shapes[si], e1);
					fill(q2, sizeof(q2), shapes[si], e2);
					f.opts.timezone = zones[zi];
					f.opts.run_granules = runs[ri];
					f.opts.threads = ri == 2 ? 2 : 1;
					struct sn_exec_result a, b;
					run_ok(&f, q1, &a);
					run_ok(&f, q2, &b);
					assert_true(a.nrows > 0);
					assert_same_result(&a, &b);
					if (si != 2) /* the third selects event: a run constant */
						assert_int_equal(b.stats.runs_bucketed, 0);
					if (fi == 0 && zi == 0 && ri > 0)
						assert_true(a.stats.runs_bucketed > 0);
					bucketed += a.stats.runs_bucketed;
					sn_exec_result_release(&a);
					sn_exec_result_release(&b);
				}
	assert_true(bucketed > 0);

	/* Expressions of event alone are one value over a run of one event,
	 * and event IN / OR terms are answered by the sparse index: the same
	 * answers as statements that must evaluate per row (team_id is read)
	 * and read every granule. */
	static const char *const ev_shapes[][2] = {
	    {"select if(event = '$pageview', 1, 0) + if(event = 'signup', 2, 0) as m, count() "
	     "from events where event in ('$pageview', 'signup') group by m order by m",
	     "select if(event = '$pageview' and team_id > 0, 1, 0) + if(event = 'signup' and "
	     "team_id > 0, 2, 0) as m, count() from events where event in ('$pageview', "
	     "'signup') or team_id < 0 group by m order by m"},
	    {"select event, upper(event) as u, count(), min(timestamp) from events where "
	     "(event = 'signup' or event = 'purchase') group by event, u order by event",
	     "select event, upper(if(team_id > 0, event, '')) as u, count(), min(timestamp) from "
	     "events where event = 'signup' or event = 'purchase' or team_id < 0 group by event, u "
	     "order by event"},
	    {"select event, timestamp from events where event in ('purchase', 'nothing') order by "
	     "timestamp, event limit 100000",
	     "select event, timestamp from events where event in ('purchase', 'nothing') or "
	     "team_id "
	     "< 0 order by timestamp, event limit 100000"},
	};
	/* Expressions of one string column evaluated once per distinct value of
	 * a batch (eval.c eval_distinct) answer as when every row is evaluated
	 * (team_id mixed in: no longer of one column). */
	static const char *const dist_shapes[][2] = {
	    {"select if(isNull(properties.b) or properties.b = '', 'none', upper(properties.b)) as "
	     "x, count(), min(timestamp) from events group by x order by x",
	     "select if(isNull(@b) or @b = '', 'none', upper(@b)) as x, count(), min(timestamp) "
	     "from events group by x order by x"},
	    {"select count(), min(timestamp), max(length(distinct_id)) from events where "
	     "lower(properties.b) in ('v1', 'v3') and concat(distinct_id, '!') != 'd3!'",
	     "select count(), min(timestamp), max(length(@d)) from events where lower(@b) in "
	     "('v1', 'v3') and concat(@d, '!') != 'd3!'"},
	    {"select if(event = 'signup', 1, 2) * length(event) as k, count() from events group by "
	     "k order by k",
	     "select if(@e = 'signup', 1, 2) * length(@e) as k, count() from events group by k "
	     "order by k"},
	};
	/* (granules of 256 rows: a batch's few dictionaries) */
	char big[600];
	snprintf(big, sizeof(big), "%s/big", f.dir);
	assert_int_equal(mkdir(big, 0755), 0);
	write_bucket_rows(big, 256);
	f.opts.store_dir = big;
	for (size_t si = 0; si < SN_ARRAY_LEN(dist_shapes); si++)
		for (uint32_t rg = 1; rg <= 8; rg *= 8) {
			f.opts.run_granules = rg;
			f.opts.threads = 1;
			struct sn_exec_result a, b;
			/* @x: the column through team_id, so no longer of one column */
			char q2[1024];
			size_t o = 0;
			for (const char *q = dist_shapes[si][1]; *q && o + 64 < sizeof(q2); q++) {
				const char *col = q[0] != '@'	? NULL
						  : q[1] == 'b' ? "properties.b"
						  : q[1] == 'd' ? "distinct_id"
								: "event";
				if (!col) {
					q2[o++] = *q;
					continue;
				}
				o += (size_t)snprintf(q2 + o, sizeof(q2) - o,
						      "if(team_id > 0, %s, NULL)", col);
				q++;
			}
			q2[o] = '\0';
			run_ok(&f, dist_shapes[si][0], &a);
			run_ok(&f, q2, &b);
			assert_true(a.nrows > 0);
			assert_same_result(&a, &b);
			assert_int_equal(b.stats.distinct_evals, 0);
			if (rg == 8)
				assert_true(a.stats.distinct_evals > 0);
			sn_exec_result_release(&a);
			sn_exec_result_release(&b);
		}
	/* WHERE terms of one string column alone read it as codes (exec.c
	 * plan_coded) and are answered once per dictionary entry: the same
	 * answers as with the column through team_id (values, row by row).
	 * coded: whether some column is read as codes. */
	static const struct {
		const char *q, *ref;
		bool coded, terms;
	} coded_shapes[] = {
	    {"select count(), min(timestamp), max(timestamp) from events where properties.b = 'v1' "
	     "and distinct_id != 'd3'",
	     "select count(), min(timestamp), max(timestamp) from events where if(team_id > 0, "
	     "properties.b, NULL) = 'v1' and if(team_id > 0, distinct_id, NULL) != 'd3'",
	     true, true},
	    {"select count() from events where properties.b in ('v1', 'v3') and "
	     "toFloatOrZero(properties.b) = 0 and upper(distinct_id) like 'D1%'",
	     "select count() from events where if(team_id > 0, properties.b, NULL) in ('v1', 'v3') "
	     "and toFloatOrZero(if(team_id > 0, properties.b, NULL)) = 0 and upper(if(team_id > 0, "
	     "distinct_id, NULL)) like 'D1%'",
	     true, true},
	    {"select count(), sum(length(event)) from events where isNull(properties.nokey) and "
	     "coalesce(properties.b, 'none') != 'v2'",
	     "select count(), sum(length(event)) from events where isNull(if(team_id > 0, "
	     "properties.nokey, NULL)) and coalesce(if(team_id > 0, properties.b, NULL), 'none') "
	     "!= 'v2'",
	     true, true},
	    {"select count() from events where lower(properties.b) = 'v4'",
	     "select count() from events where lower(if(team_id > 0, properties.b, NULL)) = 'v4'",
	     true, false},
	    {"select count() from events where properties.b = 'v1' and concat(ifNull(properties.b, "
	     "''), distinct_id) != 'v1d3'",
	     "select count() from events where if(team_id > 0, properties.b, NULL) = 'v1' and "
	     "concat(ifNull(properties.b, ''), distinct_id) != 'v1d3'",
	     false, false},
	    {"select distinct_id, count() from events where properties.b = 'v0' and event = "
	     "'purchase' group by distinct_id order by distinct_id",
	     "select distinct_id, count() from events where if(team_id > 0, properties.b, NULL) = "
	     "'v0' and event = 'purchase' group by distinct_id order by distinct_id",
	     true, true},
	};
	for (size_t si = 0; si < SN_ARRAY_LEN(coded_shapes); si++)
		for (uint32_t rg = 1; rg <= 8; rg *= 8) {
			f.opts.run_granules = rg;
			f.opts.threads = rg == 8 ? 2 : 1;
			struct sn_exec_result a, b;
			run_ok(&f, coded_shapes[si].q, &a);
			run_ok(&f, coded_shapes[si].ref, &b);
			assert_true(a.nrows > 0);
			assert_same_result(&a, &b);
			/* a GROUP BY key is read as codes too (below) */
			if (!strstr(coded_shapes[si].ref, "group by"))
				assert_int_equal(b.stats.coded_reads, 0);
			assert_int_equal(a.stats.coded_reads > 0, coded_shapes[si].coded);
			assert_int_equal(a.stats.coded_terms > 0, coded_shapes[si].terms);
			sn_exec_result_release(&a);
			sn_exec_result_release(&b);
		}
	/* A GROUP BY key outside WHERE is read as codes and grouped by code
	 * (agg.c coded_groups): the same groups, counts and order as the key
	 * read as strings (the if() keeps the reference from being coded). */
	static const char *const grouped[][2] = {
	    {"select properties.b as b, count(), uniq(distinct_id) from events group by b order by "
	     "b",
	     "select if(team_id > 0, properties.b, NULL) as b, count(), uniq(distinct_id) from "
	     "events "
	     "group by b order by b"},
	    {"select properties.b as b, event, count() from events where event != 'x' group by b, "
	     "event order by b, event",
	     "select if(team_id > 0, properties.b, NULL) as b, event, count() from events where "
	     "event != 'x' group by b, event order by b, event"},
	    {"select distinct_id, count() as c from events group by distinct_id order by c desc, "
	     "distinct_id limit 5",
	     "select concat(distinct_id, '') as d, count() as c from events group by d order by c "
	     "desc, d limit 5"},
	};
	for (size_t si = 0; si < SN_ARRAY_LEN(grouped); si++)
		for (uint32_t rg = 1; rg <= 8; rg *= 8) {
			f.opts.run_granules = rg;
			f.opts.threads = rg == 8 ? 2 : 1;
			struct sn_exec_result a, b;
			run_ok(&f, grouped[si][0], &a);
			run_ok(&f, grouped[si][1], &b);
			assert_true(a.nrows > 0);
			assert_same_result(&a, &b);
			assert_true(a.stats.coded_reads > 0);
			sn_exec_result_release(&a);
			sn_exec_result_release(&b);
		}
	/* SELECT DISTINCT in a nested statement runs as GROUP BY its items
	 * (exec.c plan.dgroups): the rows and their order (first appearance)
	 * of the top level's row-at-a-time DISTINCT, on one scanner or two. */
	static const char *const dist_nested[][2] = {
	    {"select d, e, b from (select distinct distinct_id as d, event as e, properties.b as b "
	     "from events where timestamp > '2000-01-01') limit 100000",
	     "select distinct distinct_id as d, event as e, properties.b as b from events where "
	     "timestamp > '2000-01-01' limit 100000"},
	    {"select w, n from (select distinct toStartOfWeek(timestamp) as w, 1 as n from events) "
	     "limit 100000",
	     "select distinct toStartOfWeek(timestamp) as w, 1 as n from events limit 100000"},
	};
	for (size_t si = 0; si < SN_ARRAY_LEN(dist_nested); si++)
		for (uint32_t th = 1; th <= 2; th++) {
			f.opts.run_granules = 1;
			f.opts.threads = th;
			struct sn_exec_result a, b;
			run_ok(&f, dist_nested[si][0], &a);
			run_ok(&f, dist_nested[si][1], &b);
			assert_true(a.nrows > 1);
			assert_same_result(&a, &b);
			sn_exec_result_release(&a);
			sn_exec_result_release(&b);
		}
	f.opts.store_dir = f.dir;
	/* `0 OR event = ...` (paths' statements) is an event term too */
	f.opts.run_granules = 8;
	f.opts.threads = 1;
	{
		struct sn_exec_result a, b;
		run_ok(&f, "select count() from events where (0 or event = 'purchase')", &a);
		run_ok(&f, "select count() from events where event = 'purchase'", &b);
		assert_same_result(&a, &b);
		assert_int_equal(a.stats.granules_read, b.stats.granules_read);
		sn_exec_result_release(&a);
		sn_exec_result_release(&b);
	}
	/* GROUP BY on strings read from dictionaries over big batches (agg.c's
	 * memo of key identities) as over strings made per row (concat). */
	for (uint32_t rg = 8; rg <= 1024; rg *= 4) {
		f.opts.run_granules = rg;
		f.opts.threads = 1;
		struct sn_exec_result a, b;
		run_ok(&f,
		       "select properties.b as b, event, count(), uniqExact(distinct_id), "
		       "min(timestamp) from events group by b, event order by b, event",
		       &a);
		run_ok(&f,
		       "select concat(properties.b, '') as b, concat(event, '') as e, count(), "
		       "uniqExact(distinct_id), min(timestamp) from events group by b, e order by "
		       "b, e",
		       &b);
		assert_true(a.nrows > 8);
		assert_same_result(&a, &b);
		sn_exec_result_release(&a);
		sn_exec_result_release(&b);
	}
	for (size_t si = 0; si < SN_ARRAY_LEN(ev_shapes); si++)
		for (size_t ri = 0; ri < SN_ARRAY_LEN(runs); ri++) {
			f.opts.timezone = NULL;
			f.opts.run_granules = runs[ri];
			f.opts.threads = ri == 2 ? 2 : 1;
			struct sn_exec_result a, b;
			run_ok(&f, ev_shapes[si][0], &a);
			run_ok(&f, ev_shapes[si][1], &b);
			assert_true(a.nrows > 0);
			assert_same_result(&a, &b);
			assert_true(a.stats.granules_read < b.stats.granules_read);
			if (si < 2 && ri > 0)
				assert_true(a.stats.runs_bucketed > 0);
			sn_exec_result_release(&a);
			sn_exec_result_release(&b);
		}
	sn_test_rm_rf(f.dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_count_per_event),
	    cmocka_unit_test(test_where_property),
	    cmocka_unit_test(test_null_semantics),
	    cmocka_unit_test(test_group_by_day_and_uniq),
	    cmocka_unit_test(test_parallel_merge),
	    cmocka_unit_test(test_where_terms),
	    cmocka_unit_test(test_order_limit),
	    cmocka_unit_test(test_team_isolation),
	    cmocka_unit_test(test_pruning),
	    cmocka_unit_test(test_unsupported),
	    cmocka_unit_test(test_budgets),
	    cmocka_unit_test(test_functions_and_json),
	    cmocka_unit_test(test_person_id_overrides),
	    cmocka_unit_test(test_person_fields),
	    cmocka_unit_test(test_person_tables),
	    cmocka_unit_test(test_cohorts),
	    cmocka_unit_test(test_person_join_whole_team),
	    cmocka_unit_test(test_person_join_budget),
	    cmocka_unit_test(test_topn_equals_full_sort),
	    cmocka_unit_test(test_subquery_from),
	    cmocka_unit_test(test_in_subquery),
	    cmocka_unit_test(test_cte),
	    cmocka_unit_test(test_union_all),
	    cmocka_unit_test(test_subquery_team_guard),
	    cmocka_unit_test(test_subquery_budget),
	    cmocka_unit_test(test_join_kinds),
	    cmocka_unit_test(test_join_team_guard_and_budget),
	    cmocka_unit_test(test_join_persons),
	    cmocka_unit_test(test_time_bound_elision),
	    cmocka_unit_test(test_parallel_scan_equals_serial),
	    cmocka_unit_test(test_event_index_pruning),
	    cmocka_unit_test(test_row_sink),
	    cmocka_unit_test(test_time_buckets),
	    cmocka_unit_test(test_limit_by),
	    cmocka_unit_test(test_join_small_left),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
