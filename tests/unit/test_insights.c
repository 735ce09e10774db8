/*
 * test_insights.c — insight computations that the black-box fixtures
 * cannot reach: a backend stub hands the funnel (and the lifecycle) a
 * known set of rows (in any order, as one table or streamed in batches by
 * several workers), and the answer must not depend on that order, on the
 * batches, nor on how actor ids hash (rows are grouped by a 64-bit hash of
 * the actor and must fall back to exact ids when two actors share one).
 * The string interning behind the streamed rows is checked directly: one id
 * per distinct string whichever of its two tables (UUID bits, bytes) and
 * lookups answered. The rows ordered on two threads (sn_insight_set_parallel)
 * give the same answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "insights/insights.h"
#include "insights/insights_internal.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NACTORS 60
#define NROWS	600

struct frow {
	char actor[40];
	int64_t ts;
	int64_t mask;
};

static struct frow rows[NROWS];
static bool mask_is_time; /* column 2 is a DateTime (lifecycle's created_at) */
static size_t order[NROWS];

/* The stub backend: the funnel's one statement gets the rows in `order`. */
static int stub_query(void *ctx, struct sn_arena *a, const char *hogql, size_t len,
		      int64_t max_rows, struct sn_insight_table *out, struct sn_hogql_error *err)
{
	(void)ctx;
	(void)max_rows;
	(void)err;
	assert_non_null(memmem(hogql, len, "FROM events", 11));
	out->ncols = 3;
	out->nrows = NROWS;
	out->cells = sn_arena_alloc(a, NROWS * 3 * sizeof(*out->cells));
	assert_non_null(out->cells);
	memset(out->cells, 0, NROWS * 3 * sizeof(*out->cells));
	for (size_t i = 0; i < NROWS; i++) {
		const struct frow *r = &rows[order[i]];
		struct sn_insight_value *c = &out->cells[i * 3];
		c[0] = (struct sn_insight_value){
		    .type = SN_IV_STRING, .s = r->actor, .slen = strlen(r->actor)};
		c[1] = (struct sn_insight_value){.type = SN_IV_DATETIME, .i = r->ts};
		c[2] = (struct sn_insight_value){.type = mask_is_time ? SN_IV_DATETIME : SN_IV_INT,
						 .i = r->mask};
	}
	return 0;
}

/* The same rows through the streaming interface: in `order`, cut into
 * batches of random sizes handed to random workers (as scanner threads
 * would, here one after another). */
static int stub_stream(void *ctx, const char *hogql, size_t len, int64_t max_rows,
		       int (*sink)(void *sctx, unsigned worker,
				   const struct sn_insight_value *cells, size_t nrows,
				   size_t ncols),
		       void *sctx, size_t *nrows, struct sn_hogql_error *err)
{
	struct sn_arena a;
	struct sn_insight_table t;
	sn_arena_init(&a, 0);
	int rc = stub_query(ctx, &a, hogql, len, max_rows, &t, err);
	for (size_t i = 0; rc == 0 && i < t.nrows;) {
		size_t n = 1 + (size_t)rand() % 97;
		if (n > t.nrows - i)
			n = t.nrows - i;
		rc = sink(sctx, (unsigned)rand() % 4, &t.cells[i * t.ncols], n, t.ncols);
		i += n;
	}
	*nrows = t.nrows;
	sn_arena_release(&a);
	return rc;
}

static bool use_stream;

static uint64_t collide(const void *data, size_t len)
{
	(void)data;
	return len % 2; /* every actor id here has one length: one hash for all */
}

static char *run_funnel(const char *order_type)
{
	char q[1024];
	snprintf(
	    q, sizeof(q),
	    "{\"kind\":\"FunnelsQuery\",\"series\":[{\"kind\":\"EventsNode\",\"event\":\"a\"},"
	    "{\"kind\":\"EventsNode\",\"event\":\"b\"},{\"kind\":\"EventsNode\",\"event\":\"c\"}],"
	    "\"dateRange\":{\"date_from\":\"2024-01-01\",\"date_to\":\"2024-01-31\"},"
	    "\"funnelsFilter\":{\"funnelWindowInterval\":3,\"funnelWindowIntervalUnit\":\"day\","
	    "\"funnelOrderType\":\"%s\"}}",
	    order_type);
	struct json_object *node = json_tokener_parse(q);
	assert_non_null(node);
	struct sn_insight_opts o = {.team = {.id = 1},
				    .now_us = 1706745600000000LL, /* 2024-02-01 */
				    .backend = {.ctx = NULL,
						.query = stub_query,
						.stream = use_stream ? stub_stream : NULL}};
	struct sn_buf out;
	sn_buf_init(&out, 1 << 24);
	struct sn_insight_error err;
	int rc = sn_insight_run(&o, node, &out, &err);
	if (rc)
		fail_msg("funnel failed: %s %s", err.type, err.msg);
	json_object_put(node);
	/* only the results: hogql and timings are the same text anyway */
	char *res = strdup(out.data);
	sn_buf_release(&out);
	return res;
}

static void test_funnel_independent_of_row_order_and_hash(void **state)
{
	(void)state;
	srand(11);
	for (size_t i = 0; i < NROWS; i++) {
		struct frow *r = &rows[i];
		/* ids of one length, so the colliding hash puts all in one bucket */
		snprintf(r->actor, sizeof(r->actor), "actor-%04d", rand() % NACTORS);
		/* a few equal timestamps on purpose: ties must resolve the same */
		r->ts = 1704067200000000LL + (int64_t)(rand() % 400) * 3600000000LL;
		r->mask = 1 << (rand() % 3);
		order[i] = i;
	}
	static const char *const types[] = {"ordered", "strict", "unordered"};
	for (size_t t = 0; t < SN_ARRAY_LEN(types); t++) {
		char *base = run_funnel(types[t]);
		assert_non_null(strstr(base, "\"count\":"));
		for (int round = 0; round < 3; round++) {
			for (size_t i = NROWS - 1; i > 0; i--) { /* shuffle */
				size_t j = (size_t)rand() % (i + 1), x = order[i];
				order[i] = order[j];
				order[j] = x;
			}
			char *again = run_funnel(types[t]);
			assert_string_equal(again, base);
			free(again);
			sn_funnels_actor_hash = collide;
			again = run_funnel(types[t]);
			sn_funnels_actor_hash = sn_hash64;
			assert_string_equal(again, base);
			free(again);
			/* streamed in batches over several workers: the same */
			use_stream = true;
			again = run_funnel(types[t]);
			assert_string_equal(again, base);
			free(again);
			/* and ordered on two threads (arows.c): the same */
			sn_insight_set_parallel(1);
			again = run_funnel(types[t]);
			sn_insight_set_parallel(200000);
			assert_string_equal(again, base);
			free(again);
			sn_funnels_actor_hash = collide;
			again = run_funnel(types[t]);
			sn_funnels_actor_hash = sn_hash64;
			use_stream = false;
			assert_string_equal(again, base);
			free(again);
		}
		free(base);
	}
}

static char *run_node(const char *q)
{
	struct json_object *node = json_tokener_parse(q);
	assert_non_null(node);
	struct sn_insight_opts o = {.team = {.id = 1},
				    .now_us = 1706745600000000LL,
				    .backend = {.ctx = NULL,
						.query = stub_query,
						.stream = use_stream ? stub_stream : NULL}};
	struct sn_buf out;
	sn_buf_init(&out, 1 << 24);
	struct sn_insight_error err;
	if (sn_insight_run(&o, node, &out, &err))
		fail_msg("insight failed: %s %s", err.type, err.msg);
	json_object_put(node);
	char *res = strdup(out.data);
	sn_buf_release(&out);
	return res;
}

/* Lifecycle groups its (actor, period) rows in C too (actorsort.c): the
 * same answer for any row order and with every actor on one hash. */
static void lifecycle_case(bool in_window)
{
	srand(5);
	for (size_t i = 0; i < NROWS; i++) {
		struct frow *r = &rows[i];
		int a = rand() % NACTORS;
		snprintf(r->actor, sizeof(r->actor), "actor-%04d", a);
		/* created_at: one per actor, on days the events have too */
		r->mask = 1704067200000000LL + (int64_t)(a % 25) * 86400000000LL;
		/* the window is 2024-01-02 .. 01-28 (the range ± 1 day) */
		r->ts = 1704067200000000LL +
			(int64_t)(in_window ? 1 + rand() % 27 : rand() % 31) * 86400000000LL;
		order[i] = i;
	}
	/* half the actors created on the day of their first event (`new`) */
	for (int a = 0; a < NACTORS; a += 2) {
		int64_t first = INT64_MAX;
		char id[40];
		snprintf(id, sizeof(id), "actor-%04d", a);
		for (size_t i = 0; i < NROWS; i++)
			if (strcmp(rows[i].actor, id) == 0 && rows[i].ts < first)
				first = rows[i].ts;
		for (size_t i = 0; i < NROWS; i++)
			if (strcmp(rows[i].actor, id) == 0)
				rows[i].mask = first;
	}
	const char *q = "{\"kind\":\"LifecycleQuery\",\"series\":[{\"kind\":\"EventsNode\","
			"\"event\":\"a\"}],\"interval\":\"day\",\"dateRange\":{\"date_from\":"
			"\"2024-01-03\",\"date_to\":\"2024-01-28\"}}";
	char *base = run_node(q);
	assert_non_null(strstr(base, "\"returning\""));
	/* the rows all inside the window too: the period masks (amask.c)
	 * answer as the rows do (with rows outside, the masks give way) */
	if (in_window) {
		sn_insights_masks = false;
		char *rows_way = run_node(q);
		sn_insights_masks = true;
		assert_string_equal(rows_way, base);
		free(rows_way);
	}
	for (int round = 0; round < 3; round++) {
		for (size_t i = NROWS - 1; i > 0; i--) {
			size_t j = (size_t)rand() % (i + 1), x = order[i];
			order[i] = order[j];
			order[j] = x;
		}
		char *again = run_node(q);
		assert_string_equal(again, base);
		free(again);
		sn_funnels_actor_hash = collide;
		again = run_node(q);
		sn_funnels_actor_hash = sn_hash64;
		assert_string_equal(again, base);
		free(again);
		use_stream = true; /* in batches over several workers */
		again = run_node(q);
		assert_string_equal(again, base);
		free(again);
		sn_insight_set_parallel(1); /* ordered on two threads */
		again = run_node(q);
		sn_insight_set_parallel(200000);
		assert_string_equal(again, base);
		free(again);
		sn_funnels_actor_hash = collide;
		again = run_node(q);
		sn_funnels_actor_hash = sn_hash64;
		use_stream = false;
		assert_string_equal(again, base);
		free(again);
	}
	free(base);
}

static void test_lifecycle_independent_of_row_order_and_hash(void **state)
{
	(void)state;
	mask_is_time = true;
	lifecycle_case(false);
	lifecycle_case(true);
	mask_is_time = false;
}

/* Interned strings (actorsort.c): canonical person ids go through a table
 * keyed by their 128 bits, other strings by their bytes; any mix, in any
 * batches, and a lookup by sintern_get in between, gives one id per
 * distinct string and the string back. */
static void test_sintern_uuid_and_other_strings(void **state)
{
	(void)state;
	enum { NSTR = 3000, NLOOK = 40000 };
	static char strs[NSTR][48];
	srand(3);
	for (size_t i = 0; i < NSTR; i++) {
		unsigned a = (unsigned)rand(), b = (unsigned)rand(), c = (unsigned)rand();
		switch (i % 6) {
		case 0: /* canonical */
		case 1:
			snprintf(strs[i], sizeof(strs[i]), "%08x-%04x-%04x-%04x-%08x%04x", a,
				 b & 0xffff, b >> 16, c & 0xffff, c, a & 0xffff);
			break;
		case 2: /* the previous one in capitals: another string */
			snprintf(strs[i], sizeof(strs[i]), "%s", strs[i - 1]);
			for (char *p = strs[i]; *p; p++)
				if (*p >= 'a' && *p <= 'f')
					*p = (char)(*p - 'a' + 'A');
			if (strcmp(strs[i], strs[i - 1]) == 0)
				strs[i][0] = 'Z'; /* all digits: make it differ anyway */
			break;
		case 3: /* 36 characters, not a UUID */
			snprintf(strs[i], sizeof(strs[i]), "%08x-%04x-%04x-%04x-%08xzzzz", a,
				 b & 0xffff, b >> 16, c & 0xffff, c);
			break;
		case 4: snprintf(strs[i], sizeof(strs[i]), "user-%u", a); break;
		default:
			strs[i][0] = '\0';
			if (i % 12 != 5)
				snprintf(strs[i], sizeof(strs[i]), "%u", b);
		}
	}
	struct sn_arena a;
	sn_arena_init(&a, 0);
	struct sintern t;
	sintern_init(&t, &a);
	static struct sn_insight_value cells[NLOOK * 2];
	static size_t which[NLOOK];
	static uint32_t ids[NLOOK];
	for (size_t i = 0; i < NLOOK; i++) {
		/* runs of one string, as rows in storage order come */
		which[i] = i && rand() % 3 == 0 ? which[i - 1] : (size_t)rand() % NSTR;
		cells[2 * i] = (struct sn_insight_value){
		    .type = SN_IV_STRING, .s = strs[which[i]], .slen = strlen(strs[which[i]])};
		cells[2 * i + 1] = (struct sn_insight_value){.type = SN_IV_INT, .i = 7};
	}
	for (size_t i = 0; i < NLOOK;) {
		size_t n = 1 + (size_t)rand() % 200;
		if (n > NLOOK - i)
			n = NLOOK - i;
		if (rand() % 5 == 0) { /* one by one, through the plain lookup */
			for (size_t j = 0; j < n; j++)
				assert_int_equal(sintern_get(&t, cells[2 * (i + j)].s,
							     cells[2 * (i + j)].slen, &ids[i + j]),
						 0);
		} else {
			assert_int_equal(sintern_get_cells(&t, &cells[2 * i], 2, n, &ids[i]), 0);
		}
		i += n;
	}
	static uint32_t id_of[NSTR];
	for (size_t i = 0; i < NSTR; i++)
		id_of[i] = UINT32_MAX;
	for (size_t i = 0; i < NLOOK; i++) {
		const char *s = strs[which[i]];
		assert_true(ids[i] < t.n);
		assert_int_equal(t.len[ids[i]], strlen(s));
		assert_memory_equal(t.s[ids[i]], s, strlen(s));
		if (id_of[which[i]] == UINT32_MAX)
			id_of[which[i]] = ids[i];
		assert_int_equal(ids[i], id_of[which[i]]);
	}
	/* distinct strings, distinct ids */
	size_t distinct = 0;
	for (size_t i = 0; i < NSTR; i++) {
		bool dup = id_of[i] == UINT32_MAX;
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(strs[i], strs[j]) == 0;
		distinct += !dup;
	}
	assert_int_equal(t.n, distinct);
	sintern_release(&t);
	/* every hex digit of a person id counts: ids one digit apart (each
	 * position, each value) are distinct strings with distinct ids */
	sintern_init(&t, &a);
	static char one[32 * 16][37];
	static struct sn_insight_value oc[32 * 16];
	static uint32_t oid[32 * 16];
	size_t no = 0;
	for (int pos = 0; pos < 32; pos++)
		for (int v = 0; v < 16; v++) {
			char *u = one[no];
			memcpy(u, "00000000-0000-0000-0000-000000000000", 37);
			int at = pos + (pos >= 8) + (pos >= 12) + (pos >= 16) + (pos >= 20);
			u[at] = "0123456789abcdef"[v];
			oc[no] =
			    (struct sn_insight_value){.type = SN_IV_STRING, .s = u, .slen = 36};
			no++;
		}
	assert_int_equal(sintern_get_cells(&t, oc, 1, no, oid), 0);
	for (size_t i = 0; i < no; i++) {
		assert_memory_equal(t.s[oid[i]], one[i], 36);
		bool zero = strcmp(one[i], "00000000-0000-0000-0000-000000000000") == 0;
		/* the all-zero id appears once per position: one id */
		if (!zero)
			for (size_t j = 0; j < i; j++)
				assert_true(oid[j] != oid[i]);
	}
	assert_int_equal(t.n, 32 * 15 + 1);
	sintern_release(&t);
	sn_arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_funnel_independent_of_row_order_and_hash),
	    cmocka_unit_test(test_lifecycle_independent_of_row_order_and_hash),
	    cmocka_unit_test(test_sintern_uuid_and_other_strings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
