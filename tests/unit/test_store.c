/*
 * test_store.c — the event store as its users see it: every encoding gives
 * back exactly what went in (edge values, empty, huge and unicode strings,
 * NULLs) and refuses damaged input; the memtable sorts in part order; parts
 * written from random rows of several teams and months read back column by
 * column and row by row; the sparse index and min/max prune granules
 * without ever hiding a matching row; shredded and unshredded parts give
 * the same properties, byte for byte and by hogql.md §4.2 value rules, for
 * every shape a value can take; a part's residual key set holds exactly
 * the keys its residual JSON has, so a key outside it reads as NULL without
 * a block being read, and reads agree with a full scan in parts with a set,
 * past its caps and of format 1; and damaged, truncated or
 * future-version part files (residual key sections included) are refused
 * with SN_ERR_CORRUPT or a clear version error, never a crash.
 *
 * Every test that touches files works in its own mkdtemp directory under
 * $SNOUT_TEST_TMP (or /tmp) and removes it at the end. Set
 * SNOUT_STORE_WRITE_SEEDS=DIR to have test_fuzz_seeds write the fuzz seed
 * parts into DIR.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "store/shred.h"
#include "store/store_internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------------- */

static uint64_t g_rng = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: deterministic, so a failure reproduces. */
	g_rng ^= g_rng >> 12;
	g_rng ^= g_rng << 25;
	g_rng ^= g_rng >> 27;
	return g_rng * 0x2545F4914F6CDD1DULL;
}

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static bool str_eq(struct sn_str a, struct sn_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len));
}

/* ---- encodings ------------------------------------------------------------------- */

/* A coded read (store.h sn_part_read_column_coded / _property_coded) gives
 * the rows of the plain read of the same range: each needed row's entry is
 * its value, NULL rows take an entry marked NULL, and the entries fit the
 * rows (at most one more than the rows read); a row not needed has some
 * entry. Returns the entries' count. */
static size_t assert_coded_same(struct sn_part *p, const char *key, int col, size_t gb, size_t ge,
				const uint8_t *need, struct sn_arena *a)
{
	struct sn_colvec v, cv;
	struct sn_err err = {0};
	int rc = key ? sn_part_read_property_some(p, key, gb, ge, need, a, &v, &err)
		     : sn_part_read_column_some(p, (size_t)col, gb, ge, need, a, &v, &err);
	if (rc)
		fail_msg("plain read: %s", err.msg);
	rc = key ? sn_part_read_property_coded(p, key, gb, ge, need, a, &cv, &err)
		 : sn_part_read_column_coded(p, (size_t)col, gb, ge, need, a, &cv, &err);
	if (rc)
		fail_msg("coded read: %s", err.msg);
	assert_int_equal(cv.nrows, v.nrows);
	assert_null(cv.str);
	assert_non_null(cv.codes);
	assert_true(cv.ndict >= 1 && cv.ndict <= v.nrows + 1);
	size_t row = 0;
	for (size_t g = gb; g < ge; g++) {
		size_t gn = sn_part_granule(p, g)->nrows;
		for (size_t i = row; need && !need[g - gb] && i < row + gn; i++)
			assert_true(cv.codes[i] < cv.ndict); /* not read: any entry */
		for (size_t i = row; (!need || need[g - gb]) && i < row + gn; i++) {
			uint32_t k = cv.codes[i];
			assert_true(k < cv.ndict);
			bool pn = v.nulls && v.nulls[i], cn = cv.dict_nulls[k];
			if (pn != cn)
				fail_msg("%s row %zu: plain %s, coded %s", key ? key : "column", i,
					 pn ? "NULL" : "a value", cn ? "NULL" : "a value");
			if (!pn && !str_eq(v.str[i], cv.dict[k]))
				fail_msg("%s row %zu: plain '%.*s', coded '%.*s'",
					 key ? key : "column", i, (int)v.str[i].len, v.str[i].p,
					 (int)cv.dict[k].len, cv.dict[k].p);
		}
		row += gn;
	}
	return cv.ndict;
}

static void test_varint_edges(void **state)
{
	(void)state;
	const uint64_t vals[] = {0,	    1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX / 2,
				 UINT64_MAX};
	for (size_t i = 0; i < SN_ARRAY_LEN(vals); i++) {
		uint8_t b[SN_VARINT_MAX];
		size_t n = sn_varint_put(b, vals[i]);
		uint64_t v = 0;
		assert_int_equal(sn_varint_get(b, n, &v), n);
		assert_true(v == vals[i]);
		/* One byte short is incomplete, not a different value. */
		assert_int_equal(sn_varint_get(b, n - 1, &v), 0);
	}
	/* Eleven continuation bytes, and a tenth byte carrying bits past 64. */
	uint8_t bad[11];
	memset(bad, 0xff, sizeof(bad));
	uint64_t v;
	assert_int_equal(sn_varint_get(bad, sizeof(bad), &v), 0);
	bad[9] = 0x02;
	assert_int_equal(sn_varint_get(bad, 10, &v), 0);
	assert_true(sn_unzigzag(sn_zigzag(INT64_MIN)) == INT64_MIN);
	assert_true(sn_unzigzag(sn_zigzag(INT64_MAX)) == INT64_MAX);
	assert_true(sn_zigzag(-1) == 1 && sn_zigzag(1) == 2);
}

/* Both int64 encodings: varint deltas and (format 4) frame of reference. */
static void roundtrip_i64_with(const int64_t *v, size_t n, bool fr)
{
	struct sn_buf b;
	sn_buf_init(&b, 0);
	assert_int_equal(fr ? sn_enc_i64_for(&b, v, n) : sn_enc_i64_delta(&b, v, n), 0);
	int64_t *out = calloc(n + 1, sizeof(*out));
	size_t used = 0;
	int (*dec)(const uint8_t *, size_t, size_t, int64_t *, size_t *) =
	    fr ? sn_dec_i64_for : sn_dec_i64_delta;
	assert_int_equal(dec((uint8_t *)b.data, b.len, n, out, &used), 0);
	assert_int_equal(used, b.len);
	for (size_t i = 0; i < n; i++)
		assert_true(out[i] == v[i]);
	if (n) /* one byte short (for the frame of reference: a value's, or the width) */
		assert_int_equal(dec((uint8_t *)b.data, b.len - 1, n, out, &used), SN_ERR_CORRUPT);
	free(out);
	sn_buf_release(&b);
}

static void roundtrip_i64(const int64_t *v, size_t n)
{
	roundtrip_i64_with(v, n, false);
	roundtrip_i64_with(v, n, true);
}

static void test_int_delta_roundtrip(void **state)
{
	(void)state;
	const int64_t edges[] = {
	    INT64_MIN, INT64_MAX,     INT64_MIN,     0, -1, INT64_MAX, INT64_MAX,
	    1,	       INT64_MIN + 1, INT64_MAX - 1, 0};
	roundtrip_i64(edges, SN_ARRAY_LEN(edges));
	roundtrip_i64(edges, 1);
	roundtrip_i64(edges + 1, 1);
	roundtrip_i64(NULL, 0);
	size_t n = 20000;
	int64_t *v = malloc(n * sizeof(*v));
	for (int round = 0; round < 5; round++) {
		int64_t t = 1733000000000000LL;
		for (size_t i = 0; i < n; i++) {
			switch (round) {
			case 0: v[i] = (int64_t)rnd(); break;			/* anything */
			case 4: v[i] = (int64_t)(rnd() >> (rnd() % 64)); break; /* every length */
			case 1: v[i] = t += (int64_t)(rnd() % 5000000); break;	/* sorted times */
			case 2: v[i] = 42; break;				/* constant */
			default: v[i] = (int64_t)(rnd() % 3) - 1; break;	/* tiny */
			}
		}
		roundtrip_i64(v, n);
	}
	/* A varint of more than 64 bits amid short ones (the fast decoder's
	 * hand-over to the checked loop) is corrupt. */
	{
		uint8_t buf[64];
		memset(buf, 0x01, sizeof(buf));
		memset(buf + 20, 0xff, 9);
		buf[29] = 0x02;
		int64_t out[64];
		size_t used;
		assert_int_equal(sn_dec_i64_delta(buf, sizeof(buf), 40, out, &used),
				 SN_ERR_CORRUPT);
		buf[29] = 0x01; /* now exactly 64 bits: fine */
		assert_int_equal(sn_dec_i64_delta(buf, sizeof(buf), 40, out, &used), 0);
	}
	/* A sorted timestamp run must actually be compact: ≤ 4 bytes a row. */
	struct sn_buf b;
	sn_buf_init(&b, 0);
	int64_t t = 1733000000000000LL;
	for (size_t i = 0; i < n; i++)
		v[i] = t += (int64_t)(rnd() % 1000000);
	assert_int_equal(sn_enc_i64_delta(&b, v, n), 0);
	assert_true(b.len <= n * 4);
	/* The frame of reference: the fewest whole bytes for the widest offset
	 * (20,000 steps below 1 s span < 2^35 µs: 5 bytes), 0 for a constant. */
	sn_buf_reset(&b);
	assert_int_equal(sn_enc_i64_for(&b, v, n), 0);
	uint64_t z;
	size_t o = sn_varint_get((uint8_t *)b.data, b.len, &z);
	assert_true(o > 0 && sn_unzigzag(z) == v[0] && (uint8_t)b.data[o] == 5);
	assert_int_equal(b.len, o + 1 + n * 5);
	for (size_t i = 0; i < n; i++)
		v[i] = -7;
	sn_buf_reset(&b);
	assert_int_equal(sn_enc_i64_for(&b, v, n), 0);
	assert_int_equal(b.len, 2); /* zigzag(-7) = 13: one byte, then width 0 */
	/* A width above 8, and a block too short for n values, are corrupt. */
	{
		uint8_t bad[] = {0x02, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
		int64_t out[4];
		size_t used;
		assert_int_equal(sn_dec_i64_for(bad, sizeof(bad), 1, out, &used), SN_ERR_CORRUPT);
		bad[1] = 3; /* 10 bytes of offsets hold 3 values, not 4 */
		assert_int_equal(sn_dec_i64_for(bad, sizeof(bad), 4, out, &used), SN_ERR_CORRUPT);
		assert_int_equal(sn_dec_i64_for(bad, sizeof(bad), 3, out, &used), 0);
		assert_int_equal(used, 2 + 9);
		assert_true(out[0] == 1 && out[2] == 1);
	}
	sn_buf_release(&b);
	free(v);
}

static void roundtrip_plain(const struct sn_str *v, size_t n)
{
	struct sn_buf b;
	sn_buf_init(&b, 0);
	assert_int_equal(sn_enc_str_plain(&b, v, n), 0);
	struct sn_str *out = calloc(n + 1, sizeof(*out));
	size_t used = 0;
	assert_int_equal(sn_dec_str_plain((uint8_t *)b.data, b.len, n, out, &used), 0);
	assert_int_equal(used, b.len);
	for (size_t i = 0; i < n; i++)
		assert_true(str_eq(out[i], v[i]));
	if (b.len)
		assert_int_equal(sn_dec_str_plain((uint8_t *)b.data, b.len - 1, n, out, &used),
				 SN_ERR_CORRUPT);
	free(out);
	sn_buf_release(&b);
}

static void test_plain_strings(void **state)
{
	(void)state;
	size_t huge_len = (3u << 20) / 2; /* 1.5 MiB */
	char *huge = malloc(huge_len);
	for (size_t i = 0; i < huge_len; i++)
		huge[i] = (char)('a' + rnd() % 26);
	struct sn_str v[] = {
	    {"", 0},	    {"a", 1},	      {"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x90\xb7", 15},
	    {"nul\0in", 6}, {huge, huge_len}, {"", 0}};
	roundtrip_plain(v, SN_ARRAY_LEN(v));
	roundtrip_plain(v, 1);
	roundtrip_plain(v + 4, 1);
	roundtrip_plain(NULL, 0);
	/* A length that claims more bytes than there are is refused. */
	uint8_t lie[] = {0x05, 'a', 'b'};
	struct sn_str out[1];
	size_t used;
	assert_int_equal(sn_dec_str_plain(lie, sizeof(lie), 1, out, &used), SN_ERR_CORRUPT);
	uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 'x'};
	assert_int_equal(sn_dec_str_plain(big, sizeof(big), 1, out, &used), SN_ERR_CORRUPT);
	free(huge);
}

static void test_dict_strings(void **state)
{
	(void)state;
	size_t n = 8192;
	struct sn_str *v = calloc(n, sizeof(*v));
	struct sn_str *out = calloc(n, sizeof(*out));
	const char *names[] = {"$pageview", "$autocapture", "", "\xc3\xa9v\xc3\xa9nement",
			       "$identify"};
	for (size_t i = 0; i < n; i++) {
		const char *s = names[rnd() % SN_ARRAY_LEN(names)];
		v[i] = (struct sn_str){s, strlen(s)};
	}
	struct sn_buf b, plain;
	sn_buf_init(&b, 0);
	sn_buf_init(&plain, 0);
	assert_int_equal(sn_enc_str_dict(&b, v, n), 0);
	assert_int_equal(sn_enc_str_plain(&plain, v, n), 0);
	assert_true(b.len < plain.len / 4); /* the point of a dictionary */
	size_t used;
	assert_int_equal(sn_dec_str_dict((uint8_t *)b.data, b.len, n, out, &used), 0);
	assert_int_equal(used, b.len);
	for (size_t i = 0; i < n; i++)
		assert_true(str_eq(out[i], v[i]));

	/* An index past the dictionary is corruption. */
	b.data[b.len - 1] = (char)0xff;
	assert_int_equal(sn_dec_str_dict((uint8_t *)b.data, b.len, n, out, &used), SN_ERR_CORRUPT);
	assert_int_equal(sn_dec_str_dict((uint8_t *)b.data, 3, n, out, &used), SN_ERR_CORRUPT);

	/* Mostly unique values: the encoder declines and leaves the buffer as it was. */
	sn_buf_reset(&b);
	assert_int_equal(sn_buf_appends(&b, "keep"), 0);
	char(*uniq)[24] = malloc(n * 24);
	for (size_t i = 0; i < n; i++) {
		snprintf(uniq[i], 24, "user-%zu", i);
		v[i] = (struct sn_str){uniq[i], strlen(uniq[i])};
	}
	assert_int_equal(sn_enc_str_dict(&b, v, n), SN_ERR_TOO_BIG);
	assert_int_equal(b.len, 4);
	assert_string_equal(b.data, "keep");

	/* More than 256 and 65536 distinct values need wider indices. */
	size_t wide = 140000;
	struct sn_str *w = calloc(wide, sizeof(*w));
	struct sn_str *wo = calloc(wide, sizeof(*wo));
	char(*ws)[16] = malloc(70000 * 16);
	for (size_t i = 0; i < 70000; i++)
		snprintf(ws[i], 16, "%zu", i);
	for (size_t i = 0; i < wide; i++)
		w[i] = (struct sn_str){ws[i % 70000], strlen(ws[i % 70000])};
	sn_buf_reset(&b);
	assert_int_equal(sn_enc_str_dict(&b, w, wide), 0);
	assert_int_equal(sn_dec_str_dict((uint8_t *)b.data, b.len, wide, wo, &used), 0);
	for (size_t i = 0; i < wide; i++)
		assert_true(str_eq(wo[i], w[i]));
	/* A single row, and an empty column. */
	sn_buf_reset(&b);
	assert_int_equal(sn_enc_str_dict(&b, v, 1), 0);
	assert_int_equal(sn_dec_str_dict((uint8_t *)b.data, b.len, 1, out, &used), 0);
	assert_true(str_eq(out[0], v[0]));
	sn_buf_reset(&b);
	assert_int_equal(sn_enc_str_dict(&b, v, 0), 0);
	assert_int_equal(sn_dec_str_dict((uint8_t *)b.data, b.len, 0, out, &used), 0);

	free(ws);
	free(w);
	free(wo);
	free(uniq);
	free(v);
	free(out);
	sn_buf_release(&b);
	sn_buf_release(&plain);
}

static void test_fixed_and_nulls(void **state)
{
	(void)state;
	size_t n = 1001;
	uint8_t *u = malloc(n * 16), *uo = malloc(n * 16);
	for (size_t i = 0; i < n * 16; i++)
		u[i] = (uint8_t)rnd();
	struct sn_buf b;
	sn_buf_init(&b, 0);
	size_t used;
	assert_int_equal(sn_enc_fixed16(&b, u, n), 0);
	assert_int_equal(sn_dec_fixed16((uint8_t *)b.data, b.len, n, uo, &used), 0);
	assert_memory_equal(u, uo, n * 16);
	assert_int_equal(sn_dec_fixed16((uint8_t *)b.data, b.len - 1, n, uo, &used),
			 SN_ERR_CORRUPT);

	uint8_t *nulls = malloc(n), *no = malloc(n);
	for (int pattern = 0; pattern < 3; pattern++) {
		for (size_t i = 0; i < n; i++)
			nulls[i] = pattern == 0 ? 1 : pattern == 1 ? 0 : (uint8_t)(rnd() % 2);
		sn_buf_reset(&b);
		assert_int_equal(sn_enc_nulls(&b, nulls, n), 0);
		assert_int_equal(b.len, (n + 7) / 8);
		assert_int_equal(sn_dec_nulls((uint8_t *)b.data, b.len, n, no, &used), 0);
		assert_memory_equal(nulls, no, n);
	}
	/* Padding bits past the last row must be zero. */
	b.data[b.len - 1] = (char)0xff;
	assert_int_equal(sn_dec_nulls((uint8_t *)b.data, b.len, n, no, &used), SN_ERR_CORRUPT);
	assert_int_equal(sn_dec_nulls((uint8_t *)b.data, b.len - 1, n, no, &used), SN_ERR_CORRUPT);
	free(u);
	free(uo);
	free(nulls);
	free(no);
	sn_buf_release(&b);
}

static void test_block_codecs(void **state)
{
	(void)state;
	size_t n = 300000;
	char *src = malloc(n), *dst = malloc(n);
	for (size_t i = 0; i < n; i++)
		src[i] = (char)("{\"$browser\":\"Chrome\"}"[i % 21] + (rnd() % 16 == 0));
	const enum sn_codec codecs[] = {SN_CODEC_NONE, SN_CODEC_ZSTD, SN_CODEC_LZ4};
	for (size_t c = 0; c < SN_ARRAY_LEN(codecs); c++) {
		struct sn_buf b;
		struct sn_err err = {0};
		sn_buf_init(&b, 0);
		assert_int_equal(sn_block_compress(codecs[c], 1, src, n, &b, &err), 0);
		if (codecs[c] != SN_CODEC_NONE)
			assert_true(b.len < n / 2);
		assert_int_equal(sn_block_decompress(codecs[c], b.data, b.len, dst, n, &err), 0);
		assert_memory_equal(src, dst, n);
		/* Wrong promised size, truncated input and garbage are corruption. */
		assert_int_equal(sn_block_decompress(codecs[c], b.data, b.len, dst, n - 1, &err),
				 SN_ERR_CORRUPT);
		assert_int_equal(sn_block_decompress(codecs[c], b.data, b.len / 2, dst, n, &err),
				 SN_ERR_CORRUPT);
		/* A frame cut short mid-way leaves the thread's reused zstd
		 * context mid-frame: the next block still decodes. */
		assert_int_equal(sn_block_decompress(codecs[c], b.data, b.len - 1, dst, n, &err),
				 SN_ERR_CORRUPT);
		memset(dst, 0, n);
		assert_int_equal(sn_block_decompress(codecs[c], b.data, b.len, dst, n, &err), 0);
		assert_memory_equal(src, dst, n);
		memset(b.data, 0x5a, b.len / 2);
		if (codecs[c] != SN_CODEC_NONE)
			assert_int_equal(
			    sn_block_decompress(codecs[c], b.data, b.len, dst, n, &err),
			    SN_ERR_CORRUPT);
		sn_buf_release(&b);
	}
	free(src);
	free(dst);
}

/* ---- random rows ------------------------------------------------------------------- */

#define BASE_TS 1727740800000000LL /* 2024-10-01T00:00:00Z */
#define DAY_US	86400000000LL

static char *g_huge;
static size_t g_huge_len;

static void random_row(struct sn_event_row *r, char *buf, size_t bufsz, bool allow_huge)
{
	static const char *events[] = {"$pageview", "$autocapture", "signed_up",
				       "\xc3\xa9v\xc3\xa9nement \xe2\x9c\x93", "$identify"};
	static const int64_t teams[] = {1, 2, 7, 1000};
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 16; i++)
		r->uuid[i] = (uint8_t)rnd();
	r->team_id = teams[rnd() % 4];
	/* Three months, and a few rows in 1969 to exercise negative times. */
	r->timestamp_us = rnd() % 50 == 0 ? -(int64_t)(rnd() % (30 * DAY_US)) - 1
					  : BASE_TS + (int64_t)(rnd() % (92 * DAY_US));
	r->created_at_us = r->timestamp_us + (int64_t)(rnd() % 10000000);
	const char *ev = events[rnd() % 5];
	r->event = (struct sn_str){ev, strlen(ev)};
	int n = snprintf(buf, bufsz, "user-%u", (unsigned)(rnd() % 40));
	r->distinct_id = (struct sn_str){buf, (size_t)n};
	char *props = buf + 64;
	int pn = snprintf(props, bufsz - 64, "{\"$browser\":\"%s\",\"n\":%u,\"u\":\"\\u00e9\"}",
			  rnd() % 2 ? "Chrome" : "Firefox", (unsigned)(rnd() % 1000));
	r->properties = (struct sn_str){props, (size_t)pn};
	if (allow_huge && rnd() % 200 == 0)
		r->properties = (struct sn_str){g_huge, g_huge_len};
	else if (rnd() % 20 == 0)
		r->properties = (struct sn_str){"", 0};
	r->elements_chain =
	    rnd() % 4 == 0 ? (struct sn_str){"a:nth-child=\"1\"", 15} : (struct sn_str){"", 0};
	if (rnd() % 3)
		for (int i = 0; i < 16; i++)
			r->person_id[i] = (uint8_t)(i + (rnd() % 3));
	uint64_t s = rnd() % 10;
	r->session_id = s < 3	? (struct sn_str){NULL, 0}
			: s < 4 ? (struct sn_str){"", 0}
				: (struct sn_str){"0193-session", 12};
	r->window_id = rnd() % 2 ? (struct sn_str){NULL, 0} : (struct sn_str){"w-1", 3};
}

static void fill_memtable(struct sn_memtable *mt, size_t n, bool allow_huge)
{
	char buf[512];
	struct sn_err err = {0};
	for (size_t i = 0; i < n; i++) {
		struct sn_event_row r;
		random_row(&r, buf, sizeof(buf), allow_huge);
		int rc = sn_memtable_append(mt, &r, &err);
		if (rc)
			fail_msg("append: %s", err.msg);
	}
}

/* $group_0..4: written and read back by name; a part written before the
 * columns existed (a fuzz seed from that time) reads them as ''. */
static void test_group_columns(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX + 32];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	snprintf(path, sizeof(path), "%s/202410_groups.snp", dir);
	struct sn_event_row rows[3];
	char buf[3][512];
	for (int i = 0; i < 3; i++) {
		random_row(&rows[i], buf[i], sizeof(buf[i]), false);
		rows[i].team_id = 1;
		rows[i].timestamp_us = BASE_TS + i;
		rows[i].event = (struct sn_str){"e", 1};
	}
	rows[1].group[0] = (struct sn_str){"acme", 4};
	rows[2].group[4] = (struct sn_str){"org-9", 5};
	const struct sn_event_row *rp[3] = {&rows[0], &rows[1], &rows[2]};
	struct sn_part_write_opts o = {.no_fsync = true};
	struct sn_err err = {0};
	/* Sort as the writer wants (same team, day and event: by hash, uuid). */
	for (int i = 0; i < 3; i++)
		for (int j = i + 1; j < 3; j++)
			if (sn_event_row_cmp(rp[j], rp[i]) < 0) {
				const struct sn_event_row *t = rp[i];
				rp[i] = rp[j];
				rp[j] = t;
			}
	assert_int_equal(sn_part_write(path, rp, 3, &o, NULL, &err), 0);
	struct sn_part *p;
	assert_int_equal(sn_part_open(path, &p, &err), 0);
	struct sn_arena a;
	sn_arena_init(&a, 0);
	struct sn_colvec g0, g4, uuids;
	assert_int_equal(sn_part_read_named(p, "$group_0", 0, 1, &a, &g0, &err), 0);
	assert_int_equal(sn_part_read_named(p, "$group_4", 0, 1, &a, &g4, &err), 0);
	assert_int_equal(sn_part_read_named(p, "uuid", 0, 1, &a, &uuids, &err), 0);
	int found0 = 0, found4 = 0;
	for (size_t i = 0; i < 3; i++) {
		const struct sn_event_row *r = rp[i];
		assert_memory_equal(uuids.uuid[i].b, r->uuid, 16);
		assert_int_equal(g0.str[i].len, r->group[0].len);
		assert_int_equal(g4.str[i].len, r->group[4].len);
		found0 += g0.str[i].len == 4 && !memcmp(g0.str[i].p, "acme", 4);
		found4 += g4.str[i].len == 5 && !memcmp(g4.str[i].p, "org-9", 5);
	}
	assert_int_equal(found0, 1);
	assert_int_equal(found4, 1);
	assert_int_equal(sn_part_read_named(p, "nope", 0, 1, &a, &g0, &err), SN_ERR_NOT_FOUND);
	sn_part_unref(p);

	/* An older part: no $group_N columns, every row reads ''. The fuzz seed
	 * was written before the columns existed; its first byte is the fuzz
	 * target's mode, the part follows. */
	const char *data = getenv("SNOUT_TEST_DATA");
	char seed[PATH_MAX + 64], old[PATH_MAX + 32];
	snprintf(seed, sizeof(seed), "%s/../fuzz/corpus/fuzz_part/tiny-asis.snp",
		 data ? data : "tests/data");
	snprintf(old, sizeof(old), "%s/196912_old.snp", dir);
	FILE *in = fopen(seed, "rb"), *out = fopen(old, "wb");
	assert_non_null(in);
	assert_non_null(out);
	int ch = fgetc(in);
	assert_true(ch != EOF);
	while ((ch = fgetc(in)) != EOF)
		fputc(ch, out);
	fclose(in);
	fclose(out);
	assert_int_equal(sn_part_open(old, &p, &err), 0);
	assert_int_equal(sn_part_find_column(p, "$group_2"), -1);
	size_t ng = sn_part_ngranules(p);
	assert_int_equal(sn_part_read_named(p, "$group_2", 0, ng, &a, &g0, &err), 0);
	assert_int_equal(g0.type, SN_COL_STRING);
	assert_int_equal(g0.nrows, sn_part_nrows(p));
	for (size_t i = 0; i < g0.nrows; i++)
		assert_int_equal(g0.str[i].len, 0);
	assert_int_equal(sn_part_read_named(p, "$group_5", 0, ng, &a, &g0, &err), SN_ERR_NOT_FOUND);
	sn_part_unref(p);
	sn_arena_release(&a);
	sn_test_rm_rf(dir);
}

static int group_setup(void **state)
{
	(void)state;
	g_huge_len = (5u << 20) / 4; /* 1.25 MiB */
	g_huge = malloc(g_huge_len);
	for (size_t i = 0; i < g_huge_len; i++)
		g_huge[i] = (char)('!' + rnd() % 90);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(g_huge);
	return 0;
}

/* ---- memtable ------------------------------------------------------------------- */

/* The permutation sn_memtable_sort gives, checked against a reference
 * (month, then sn_event_row_cmp, then arrival) on rows shaped for each of
 * its paths: the radix sort with runs of one user's events and of users
 * whose hashes share their top 24 bits, the comparison sort for fields too
 * far apart and for few rows. */
static int cmp_u64(const void *pa, const void *pb)
{
	uint64_t a = *(const uint64_t *)pa, b = *(const uint64_t *)pb;
	return (a > b) - (a < b);
}

static const struct sn_event_row *g_ref_rows;
static int ref_cmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	const struct sn_event_row *x = &g_ref_rows[a], *y = &g_ref_rows[b];
	int32_t mx = sn_store_month_of(x->timestamp_us), my = sn_store_month_of(y->timestamp_us);
	if (mx != my)
		return mx < my ? -1 : 1;
	int c = sn_event_row_cmp(x, y);
	return c ? c : (a > b) - (a < b);
}

enum order_shape { SHAPE_NARROW, SHAPE_PREFIX_TIES, SHAPE_WIDE, SHAPE_FEW };

static void check_sort_shape(enum order_shape shape)
{
	static const char *events[] = {"b", "$pageview", "a", "\xc3\xa9"};
	size_t n = shape == SHAPE_FEW ? 3000 : 20000;
	/* Distinct ids whose hashes agree in their top 24 bits (the hash bits
	 * SHAPE_PREFIX_TIES leaves the radix key) but not in all 64. */
	char(*ids)[16] = calloc(40000, sizeof(*ids));
	size_t nids = 0;
	if (shape == SHAPE_PREFIX_TIES) {
		uint64_t *h = malloc(20000 * sizeof(*h));
		for (unsigned u = 0; u < 20000; u++) {
			char b[16];
			int l = snprintf(b, sizeof(b), "c-%u", u);
			h[u] = sn_hash64(b, (size_t)l) >> 40 << 32 | u;
		}
		qsort(h, 20000, sizeof(*h), cmp_u64);
		for (unsigned u = 1; u < 20000; u++)
			if (h[u] >> 32 == h[u - 1] >> 32) {
				snprintf(ids[nids++], 16, "c-%u",
					 (unsigned)(h[u - 1] & 0xffffffffu));
				snprintf(ids[nids++], 16, "c-%u", (unsigned)(h[u] & 0xffffffffu));
			}
		free(h);
		assert_true(nids >= 4);
	}
	struct sn_event_row *rows = calloc(n, sizeof(*rows));
	char(*dbuf)[16] = calloc(n, sizeof(*dbuf));
	for (size_t i = 0; i < n; i++) {
		struct sn_event_row *r = &rows[i];
		if (i && rnd() % 40 == 0) { /* the very same event again */
			*r = rows[i - 1];
			continue;
		}
		for (int k = 0; k < 16; k++)
			r->uuid[k] = (uint8_t)rnd();
		const char *ev = events[rnd() % 4];
		r->event = (struct sn_str){ev, strlen(ev)};
		int l = snprintf(dbuf[i], 16, "u-%u", (unsigned)(rnd() % 30));
		switch (shape) {
		case SHAPE_NARROW:
		case SHAPE_FEW:
			r->team_id = 1 + (int64_t)(rnd() % 3);
			r->timestamp_us = BASE_TS + (int64_t)(rnd() % (45 * DAY_US));
			break;
		case SHAPE_PREFIX_TIES:
			/* Teams 3e9 apart (32 bits), two months (1), 61 days (6), two
			 * names (1): 40 bits of prefix, 24 of hash. Most rows in one
			 * group, from the colliding ids. */
			r->team_id = i % 97 == 0 ? 3000000001LL : 1;
			r->timestamp_us =
			    BASE_TS + (i % 89 == 0 ? (int64_t)(rnd() % (61 * DAY_US)) : DAY_US / 2);
			r->event = i % 83 == 0 ? (struct sn_str){"b", 1} : (struct sn_str){"a", 1};
			l = snprintf(dbuf[i], 16, "%s", ids[rnd() % nids]);
			break;
		case SHAPE_WIDE:
			r->team_id = rnd() % 2 ? -(int64_t)(rnd() >> 2) : (int64_t)(rnd() >> 2);
			r->timestamp_us = rnd() % 3 ? BASE_TS + (int64_t)(rnd() % (900 * DAY_US))
						    : -(int64_t)(rnd() % (9000 * DAY_US));
			break;
		}
		r->created_at_us = r->timestamp_us;
		r->distinct_id = (struct sn_str){dbuf[i], (size_t)l};
	}
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(sn_memtable_append(&mt, &rows[i], &err), 0);
	assert_int_equal(sn_memtable_sort(&mt, &err), 0);
	uint32_t *ref = malloc(n * sizeof(*ref));
	for (uint32_t i = 0; i < n; i++)
		ref[i] = i;
	g_ref_rows = rows;
	qsort(ref, n, sizeof(*ref), ref_cmp);
	unsigned k = 0;
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(sn_memtable_sorted_row(&mt, i) - mt.rows, ref[i]);
		if (i + 1 == n || sn_store_month_of(rows[ref[i]].timestamp_us) !=
				      sn_store_month_of(rows[ref[i + 1]].timestamp_us)) {
			assert_true(k < sn_memtable_nmonths(&mt));
			assert_int_equal(sn_memtable_month_end(&mt, k), i + 1);
			k++;
		}
	}
	assert_int_equal(k, sn_memtable_nmonths(&mt));
	sn_memtable_release(&mt);
	free(ref);
	free(rows);
	free(dbuf);
	free(ids);
}

static void test_memtable_sort_order(void **state)
{
	(void)state;
	uint64_t saved = g_rng; /* the later tests' rows stay what they were */
	check_sort_shape(SHAPE_NARROW);
	check_sort_shape(SHAPE_PREFIX_TIES);
	check_sort_shape(SHAPE_WIDE);
	check_sort_shape(SHAPE_FEW);
	g_rng = saved;
}

static void test_memtable_sort(void **state)
{
	(void)state;
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	fill_memtable(&mt, 5000, false);
	assert_int_equal(sn_memtable_nrows(&mt), 5000);
	assert_true(sn_memtable_nbytes(&mt) > 5000 * sizeof(struct sn_event_row));
	assert_int_equal(sn_memtable_sort(&mt, &err), 0);
	uint8_t *seen = calloc(5000, 1);
	for (size_t i = 0; i < 5000; i++) {
		const struct sn_event_row *r = sn_memtable_sorted_row(&mt, i);
		size_t idx = (size_t)(r - mt.rows);
		assert_true(idx < 5000 && !seen[idx]);
		seen[idx] = 1;
		if (!i)
			continue;
		/* Checked field by field here rather than through sn_event_row_cmp. */
		const struct sn_event_row *p = sn_memtable_sorted_row(&mt, i - 1);
		int32_t pm = sn_store_month_of(p->timestamp_us),
			m = sn_store_month_of(r->timestamp_us);
		assert_true(pm <= m);
		if (pm != m)
			continue;
		assert_true(p->team_id <= r->team_id);
		if (p->team_id != r->team_id)
			continue;
		int64_t pd = p->timestamp_us / DAY_US - (p->timestamp_us % DAY_US < 0);
		int64_t d = r->timestamp_us / DAY_US - (r->timestamp_us % DAY_US < 0);
		assert_true(pd <= d);
		if (pd != d)
			continue;
		size_t ml = p->event.len < r->event.len ? p->event.len : r->event.len;
		int c = memcmp(p->event.p, r->event.p, ml);
		if (!c)
			c = p->event.len < r->event.len ? -1 : p->event.len > r->event.len;
		assert_true(c <= 0);
		if (c)
			continue;
		uint64_t ph = sn_hash64(p->distinct_id.p, p->distinct_id.len);
		uint64_t h = sn_hash64(r->distinct_id.p, r->distinct_id.len);
		assert_true(ph <= h);
		if (ph == h)
			assert_true(memcmp(p->uuid, r->uuid, 16) <= 0);
	}
	/* The months counted at append, and event names stored once. */
	int32_t months[64];
	unsigned nm = 0;
	for (size_t i = 0; i < 5000; i++) {
		int32_t m = sn_store_month_of(mt.rows[i].timestamp_us);
		unsigned k = 0;
		while (k < nm && months[k] != m)
			k++;
		if (k == nm) {
			assert_true(nm < 64);
			months[nm++] = m;
		}
		for (size_t j = 0; j < i && j < 200; j++)
			if (mt.rows[j].event.len == mt.rows[i].event.len &&
			    !memcmp(mt.rows[j].event.p, mt.rows[i].event.p, mt.rows[i].event.len))
				assert_ptr_equal(mt.rows[j].event.p, mt.rows[i].event.p);
	}
	assert_true(nm > 1);
	assert_int_equal(sn_memtable_nmonths(&mt), nm);
	/* A reset memtable fills and sorts again. */
	sn_memtable_reset(&mt, true);
	assert_int_equal(sn_memtable_nrows(&mt), 0);
	assert_int_equal(sn_memtable_nmonths(&mt), 0);
	fill_memtable(&mt, 300, false);
	assert_int_equal(sn_memtable_sort(&mt, &err), 0);
	for (size_t i = 1; i < 300; i++)
		assert_true(sn_event_row_cmp(sn_memtable_sorted_row(&mt, i - 1),
					     sn_memtable_sorted_row(&mt, i)) <= 0 ||
			    sn_store_month_of(sn_memtable_sorted_row(&mt, i - 1)->timestamp_us) <
				sn_store_month_of(sn_memtable_sorted_row(&mt, i)->timestamp_us));
	/* The day and month of negative times round down, like toDate. */
	assert_int_equal(sn_store_day_of(-1), -1);
	assert_int_equal(sn_store_month_of(-1), 196912);
	assert_int_equal(sn_store_month_of(BASE_TS), 202410);
	/* Strings were copied: the memtable does not point into the caller's buffer. */
	const struct sn_event_row *r0 = &mt.rows[0];
	assert_true(r0->distinct_id.len >= 6 && !memcmp(r0->distinct_id.p, "user-", 5));
	free(seen);
	sn_memtable_release(&mt);

	/* The memtable has a maximum. */
	sn_memtable_init(&mt, 1000);
	struct sn_event_row r;
	char buf[512];
	random_row(&r, buf, sizeof(buf), false);
	int rc = 0;
	for (int i = 0; i < 100 && !rc; i++)
		rc = sn_memtable_append(&mt, &r, &err);
	assert_int_equal(rc, SN_ERR_TOO_BIG);
	assert_true(sn_memtable_nbytes(&mt) <= 1000);
	sn_memtable_release(&mt);
}

/* ---- parts ------------------------------------------------------------------- */

static void assert_row_equal(const struct sn_event_row *r, struct sn_colvec *cols,
			     const struct sn_colvec *props, size_t i, int *col_of)
{
	assert_memory_equal(cols[col_of[0]].uuid[i].b, r->uuid, 16);
	assert_true(cols[col_of[1]].i64[i] == r->team_id);
	assert_true(cols[col_of[2]].i64[i] == r->timestamp_us);
	assert_true(cols[col_of[3]].i64[i] == r->created_at_us);
	assert_true(str_eq(cols[col_of[4]].str[i], r->event));
	assert_true(str_eq(cols[col_of[5]].str[i], r->distinct_id));
	assert_true(str_eq(props->str[i], r->properties));
	assert_true(str_eq(cols[col_of[7]].str[i], r->elements_chain));
	assert_memory_equal(cols[col_of[8]].uuid[i].b, r->person_id, 16);
	struct sn_colvec *s = &cols[col_of[9]], *w = &cols[col_of[10]];
	bool snull = s->nulls && s->nulls[i], wnull = w->nulls && w->nulls[i];
	assert_int_equal(snull, r->session_id.p == NULL);
	assert_int_equal(wnull, r->window_id.p == NULL);
	if (!snull)
		assert_true(str_eq(s->str[i], r->session_id));
	if (!wnull)
		assert_true(str_eq(w->str[i], r->window_id));
}

static const char *g_colnames[] = {
    SN_COL_NAME_UUID,	    SN_COL_NAME_TEAM_ID,	SN_COL_NAME_TIMESTAMP,
    SN_COL_NAME_CREATED_AT, SN_COL_NAME_EVENT,		SN_COL_NAME_DISTINCT_ID,
    SN_COL_NAME_PROPERTIES, SN_COL_NAME_ELEMENTS_CHAIN, SN_COL_NAME_PERSON_ID,
    SN_COL_NAME_SESSION_ID, SN_COL_NAME_WINDOW_ID};

/* The files in dir (dot entries aside), asserting that none is a temp file:
 * what a flush leaves behind. */
static size_t files_no_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	size_t n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		assert_null(strstr(de->d_name, ".tmp"));
		n++;
	}
	closedir(d);
	return n;
}

static void test_part_roundtrip(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	size_t nrows = 6000;
	fill_memtable(&mt, nrows, true);
	struct sn_part_written *parts = NULL;
	size_t nparts = 0;
	struct sn_part_write_opts o = {.granule_rows = 256};
	int rc = sn_memtable_flush(&mt, dir, 7, &o, &parts, &nparts, &err);
	if (rc)
		fail_msg("flush: %s", err.msg);
	assert_int_equal(nparts, 4); /* 196912, 202410, 202411, 202412 */
	assert_int_equal(parts[0].month, 196912);
	assert_int_equal(parts[3].month, 202412);

	size_t row = 0;
	for (size_t k = 0; k < nparts; k++) {
		struct sn_part *p = NULL;
		rc = sn_part_open(parts[k].path, &p, &err);
		if (rc)
			fail_msg("open: %s", err.msg);
		assert_int_equal(sn_part_version(p), SN_PART_VERSION);
		assert_int_equal(sn_part_month(p), parts[k].month);
		assert_int_equal(sn_part_nrows(p), parts[k].nrows);
		assert_int_equal(sn_part_file_bytes(p), parts[k].nbytes);
		assert_true(sn_part_ncolumns(p) >= 11);
		assert_int_equal(sn_part_ngranules(p), (parts[k].nrows + 255) / 256);
		assert_int_equal(sn_part_find_column(p, "nope"), -1);
		int col_of[11];
		struct sn_colvec cols[64], props;
		struct sn_arena arena;
		sn_arena_init(&arena, 0);
		rc = sn_part_read_properties(p, 0, sn_part_ngranules(p), &arena, &props, &err);
		if (rc)
			fail_msg("read properties: %s", err.msg);
		assert_int_equal(props.nrows, sn_part_nrows(p));
		for (int c = 0; c < 11; c++) {
			if (c == 6) {
				/* shredded: the residual replaces the properties column */
				col_of[c] = sn_part_find_column(p, "p:@rest");
				assert_int_equal(sn_part_find_column(p, g_colnames[c]), -1);
			} else {
				col_of[c] = sn_part_find_column(p, g_colnames[c]);
			}
			assert_true(col_of[c] >= 0);
			rc = sn_part_read_column(p, (size_t)col_of[c], 0, sn_part_ngranules(p),
						 &arena, &cols[col_of[c]], &err);
			if (rc)
				fail_msg("read %s: %s", g_colnames[c], err.msg);
			assert_int_equal(cols[col_of[c]].nrows, sn_part_nrows(p));
			const struct sn_part_column_info *ci = sn_part_column(p, (size_t)col_of[c]);
			if (c != 6)
				assert_string_equal(ci->name, g_colnames[c]);
			assert_true(ci->compressed_bytes > 0);
			if (ci->type == SN_COL_STRING)
				assert_coded_same(p, NULL, col_of[c], 0, sn_part_ngranules(p), NULL,
						  &arena);
		}
		assert_int_equal(sn_part_column(p, 1)->type, SN_COL_INT64);
		assert_int_equal(sn_part_column(p, 2)->type, SN_COL_DATETIME);
		assert_true(sn_part_column(p, 9)->nullable);
		for (size_t i = 0; i < sn_part_nrows(p); i++, row++)
			assert_row_equal(sn_memtable_sorted_row(&mt, row), cols, &props, i, col_of);

		/* A granule range in the middle reads the same rows. */
		size_t ng = sn_part_ngranules(p);
		if (ng >= 3) {
			struct sn_colvec mid;
			rc = sn_part_read_properties(p, 1, 3, &arena, &mid, &err);
			assert_int_equal(rc, 0);
			assert_int_equal(mid.nrows, 512);
			for (size_t i = 0; i < 512; i++)
				assert_true(str_eq(mid.str[i], props.str[256 + i]));
		}
		struct sn_colvec none;
		assert_int_equal(sn_part_read_column(p, 0, ng, ng, &arena, &none, &err), 0);
		assert_int_equal(none.nrows, 0);
		assert_int_equal(sn_part_read_column(p, 0, 0, ng + 1, &arena, &none, &err),
				 SN_ERR_INVALID);
		assert_int_equal(
		    sn_part_read_column(p, sn_part_ncolumns(p), 0, 1, &arena, &none, &err),
		    SN_ERR_INVALID);
		/* A reference keeps the part alive past the opener's unref. */
		sn_part_ref(p);
		sn_part_unref(p);
		assert_int_equal(sn_part_read_column(p, 1, 0, 1, &arena, &none, &err), 0);
		/* A small arena is a clean NOMEM, not a crash. */
		struct sn_arena tiny;
		sn_arena_init(&tiny, 4096);
		assert_int_equal(
		    sn_part_read_column(p, (size_t)col_of[6], 0, ng, &tiny, &none, &err),
		    SN_ERR_NOMEM);
		sn_arena_release(&tiny);
		sn_part_unref(p);
		sn_arena_release(&arena);
	}
	assert_int_equal(row, nrows);
	assert_int_equal(files_no_tmp(dir), nparts);
	free(parts);
	sn_memtable_release(&mt);
	sn_test_rm_rf(dir);
}

/* Writes n rows of one month (October 2024) as one part; returns its path. */
static void write_small_part(const char *dir, size_t n, uint32_t granule_rows, enum sn_codec codec,
			     char *path, size_t pathsz, struct sn_memtable *mt_out)
{
	struct sn_memtable mt;
	struct sn_err err = {0};
	char buf[512];
	sn_memtable_init(&mt, 0);
	for (size_t i = 0; i < n; i++) {
		struct sn_event_row r;
		random_row(&r, buf, sizeof(buf), false);
		r.timestamp_us = BASE_TS + (int64_t)(rnd() % (30 * DAY_US));
		assert_int_equal(sn_memtable_append(&mt, &r, &err), 0);
	}
	struct sn_part_written *parts = NULL;
	size_t nparts = 0;
	struct sn_part_write_opts o = {.granule_rows = granule_rows, .codec_override = codec};
	int rc = sn_memtable_flush(&mt, dir, 1, &o, &parts, &nparts, &err);
	if (rc)
		fail_msg("flush: %s", err.msg);
	assert_int_equal(nparts, 1);
	snprintf(path, pathsz, "%s", parts[0].path);
	free(parts);
	if (mt_out)
		*mt_out = mt;
	else
		sn_memtable_release(&mt);
}

/* ---- the writer's pool ------------------------------------------------------------ */

/* Random properties with shreddable keys (some rows without some keys),
 * rare keys, duplicates, escapes, whitespace and non-objects. */
static void random_props(char *buf, size_t bufsz, struct sn_str *out)
{
	static const char *browsers[] = {"Chrome", "Firefox", "Safari", "\\u00e9dge"};
	uint64_t shape = rnd() % 100;
	int n;
	if (shape == 0)
		n = snprintf(buf, bufsz, "{ \"$browser\": \"Chrome\" }");
	else if (shape == 1)
		n = snprintf(buf, bufsz, "{\"$browser\":\"a\",\"$browser\":\"b\"}");
	else if (shape == 2)
		n = snprintf(buf, bufsz, "[1,2,3]");
	else if (shape == 3)
		n = snprintf(buf, bufsz, "{\"\\u0024os\":\"Mac\",\"k%u\":1}",
			     (unsigned)(rnd() % 50));
	else
		n = snprintf(
		    buf, bufsz,
		    "{\"$browser\":\"%s\",\"$os\":\"os-%u\",\"$current_url\":\"https://x/%u\","
		    "\"n\":%u%s%s,\"rare%u\":true,\"obj\":{\"a\":[%u]}}",
		    browsers[rnd() % 4], (unsigned)(rnd() % 7), (unsigned)(rnd() % 5000),
		    (unsigned)rnd() % 100000, rnd() % 3 ? ",\"$lib\":\"web\"" : "",
		    rnd() % 5 ? "" : ",\"$session_id\":null", (unsigned)(rnd() % 300),
		    (unsigned)(rnd() % 9));
	*out = (struct sn_str){buf, (size_t)n};
}

/* The pool changes who encodes, never what: a flush with no pool, with one
 * thread and with several writes the same bytes, and they read back as the
 * rows that went in. */
static void test_parallel_writer_bytes(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_err err = {0};
	struct sn_memtable mt;
	size_t n = 30000;
	char(*bufs)[512] = calloc(n, sizeof(*bufs));
	char(*pbufs)[512] = calloc(n, sizeof(*pbufs));
	assert_non_null(bufs);
	assert_non_null(pbufs);
	sn_memtable_init(&mt, 0);
	for (size_t i = 0; i < n; i++) {
		struct sn_event_row r;
		random_row(&r, bufs[i], sizeof(bufs[i]), false);
		random_props(pbufs[i], sizeof(pbufs[i]), &r.properties);
		if (rnd() % 10 == 0)
			r.properties = (struct sn_str){"", 0};
		assert_int_equal(sn_memtable_append(&mt, &r, &err), 0);
	}
	unsigned threads[] = {0, 1, 2, 3};
	struct sn_part_written *first[2] = {NULL, NULL};
	size_t nfirst[2] = {0, 0};
	for (size_t t = 0; t < SN_ARRAY_LEN(threads); t++) {
		for (int shred = 0; shred < 2; shred++) {
			char sub[PATH_MAX + 32];
			snprintf(sub, sizeof(sub), "%s/t%u_%d", dir, threads[t], shred);
			assert_int_equal(sn_mkdir_p(sub, &err), 0);
			struct sn_write_pool *pool = NULL;
			if (threads[t])
				assert_int_equal(sn_write_pool_new(&pool, threads[t], &err), 0);
			struct sn_part_write_opts o = {.granule_rows = 128,
						       .no_fsync = true,
						       .no_shred = !shred,
						       .pool = pool};
			struct sn_part_written *w = NULL;
			size_t nw = 0;
			int rc = sn_memtable_flush(&mt, sub, 5, &o, &w, &nw, &err);
			if (rc)
				fail_msg("flush: %s", err.msg);
			sn_write_pool_free(pool);
			assert_true(nw >= 3);
			/* Shredded or not (the residual key sets come from every
			 * thread's granules), the bytes are the same. */
			if (t == 0) {
				first[shred] = w;
				nfirst[shred] = nw;
				continue;
			}
			assert_int_equal(nw, nfirst[shred]);
			for (size_t k = 0; k < nw; k++) {
				size_t la, lb;
				char *a = read_file(first[shred][k].path, &la);
				char *b = read_file(w[k].path, &lb);
				assert_int_equal(la, lb);
				assert_memory_equal(a, b, la);
				free(a);
				free(b);
			}
			/* Round trip: every part's properties and ids read back. */
			size_t row = 0;
			for (size_t k = 0; k < nw; k++) {
				struct sn_part *p = NULL;
				struct sn_arena arena;
				struct sn_colvec props, uuids, sess;
				assert_int_equal(sn_part_open(w[k].path, &p, &err), 0);
				if (shred)
					assert_true(sn_part_find_column(p, "p:$browser") >= 0);
				sn_arena_init(&arena, 256u << 20);
				size_t ng = sn_part_ngranules(p);
				assert_int_equal(
				    sn_part_read_properties(p, 0, ng, &arena, &props, &err), 0);
				assert_int_equal(
				    sn_part_read_named(p, "uuid", 0, ng, &arena, &uuids, &err), 0);
				assert_int_equal(sn_part_read_named(p, "$session_id", 0, ng, &arena,
								    &sess, &err),
						 0);
				for (size_t i = 0; i < props.nrows; i++, row++) {
					const struct sn_event_row *r =
					    sn_memtable_sorted_row(&mt, row);
					assert_true(str_eq(props.str[i], r->properties));
					assert_memory_equal(uuids.uuid[i].b, r->uuid, 16);
					assert_int_equal(sess.nulls && sess.nulls[i],
							 r->session_id.p == NULL);
				}
				sn_arena_release(&arena);
				sn_part_unref(p);
			}
			assert_int_equal(row, n);
			free(w);
		}
	}
	free(first[0]);
	free(first[1]);
	/* Outside 1..SN_WRITE_POOL_MAX_THREADS is refused. */
	struct sn_write_pool *bad = NULL;
	assert_int_equal(sn_write_pool_new(&bad, 0, &err), SN_ERR_INVALID);
	assert_null(bad);
	sn_memtable_release(&mt);
	free(bufs);
	free(pbufs);
	sn_test_rm_rf(dir);
}

/* Flushes mt (then released) into dir/m<mode>: its parts. */
static struct sn_part_written *flush_to_sub(struct sn_memtable *mt, const char *dir, int mode,
					    uint32_t granule_rows, bool gather, size_t *nw)
{
	struct sn_err err = {0};
	char sub[PATH_MAX + 32];
	snprintf(sub, sizeof(sub), "%s/m%d", dir, mode);
	assert_int_equal(sn_mkdir_p(sub, &err), 0);
	struct sn_part_write_opts o = {
	    .granule_rows = granule_rows, .no_fsync = true, .gather_text = gather};
	struct sn_part_written *w = NULL;
	*nw = 0;
	if (sn_memtable_flush(mt, sub, 5, &o, &w, nw, &err))
		fail_msg("flush: %s", err.msg);
	sn_memtable_release(mt);
	return w;
}

/* Two flushes wrote the same files, byte for byte. */
static void assert_same_parts(const struct sn_part_written *a, size_t na,
			      const struct sn_part_written *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t k = 0; k < na; k++) {
		size_t la, lb;
		char *x = read_file(a[k].path, &la);
		char *y = read_file(b[k].path, &lb);
		assert_int_equal(la, lb);
		assert_memory_equal(x, y, la);
		free(x);
		free(y);
	}
}

/* Member lengths (struct sn_event_row's pmembers, as the ingest notes
 * them) change how the writer splits a row, never what it writes: rows
 * with true lengths, without any and with stale ones (another text's, cut
 * short, over long) write the same bytes, and so does each of them with the
 * granule tasks' copy of the text (gather_text; the lengths copied along). */
static void test_member_lengths(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_err err = {0};
	size_t n = 6000;
	char(*bufs)[512] = calloc(n, sizeof(*bufs));
	char(*pbufs)[512] = calloc(n, sizeof(*pbufs));
	uint16_t(*lens)[2 * 64] = calloc(n, sizeof(*lens));
	uint32_t *nlens = calloc(n, sizeof(*nlens));
	assert_true(bufs && pbufs && lens && nlens);
	struct sn_event_row *rows = calloc(n, sizeof(*rows));
	assert_non_null(rows);
	struct sn_shred_member m[64];
	size_t with = 0;
	for (size_t i = 0; i < n; i++) {
		random_row(&rows[i], bufs[i], sizeof(bufs[i]), false);
		random_props(pbufs[i], sizeof(pbufs[i]), &rows[i].properties);
		int nm = sn_shred_split(rows[i].properties.p, rows[i].properties.len, m, 64);
		for (int j = 0; j < nm; j++) {
			lens[i][2 * j] = (uint16_t)m[j].key.len;
			lens[i][2 * j + 1] = (uint16_t)m[j].val.len;
		}
		nlens[i] = nm < 0 ? 0 : (uint32_t)nm;
		with += nm > 0;
	}
	assert_true(with > n / 2);
	struct sn_part_written *first = NULL;
	size_t nfirst = 0;
	/* mode % 3 — 0: none; 1: true lengths; 2: stale (each row gets its own
	 * lengths damaged, or the next row's). mode >= 3: gathered. */
	for (int mode = 0; mode < 6; mode++) {
		struct sn_memtable mt;
		sn_memtable_init(&mt, 0);
		for (size_t i = 0; i < n; i++) {
			struct sn_event_row r = rows[i];
			uint16_t bad[2 * 64];
			if (mode % 3 == 1 && nlens[i]) {
				r.pmembers = lens[i];
				r.npmembers = nlens[i];
			} else if (mode % 3 == 2 && nlens[i]) {
				memcpy(bad, lens[i], sizeof(bad));
				switch (i % 4) {
				case 0: bad[1]++; break;		/* a value too long */
				case 1: bad[2 * nlens[i] - 1]--; break; /* the last too short */
				case 2: memcpy(bad, lens[(i + 1) % n], sizeof(bad)); break;
				default: bad[0] = 1; break; /* a key shorter than its quotes */
				}
				r.pmembers = bad;
				r.npmembers = i % 4 == 2 ? nlens[(i + 1) % n] : nlens[i];
				if (!r.npmembers)
					r.pmembers = NULL;
			}
			assert_int_equal(sn_memtable_append(&mt, &r, &err), 0);
		}
		size_t nw;
		struct sn_part_written *w = flush_to_sub(&mt, dir, mode, 256, mode >= 3, &nw);
		if (mode == 0) {
			first = w;
			nfirst = nw;
			continue;
		}
		assert_same_parts(first, nfirst, w, nw);
		free(w);
	}
	free(first);
	free(rows);
	free(bufs);
	free(pbufs);
	free(lens);
	free(nlens);
	sn_test_rm_rf(dir);
}

/* Opens path and reads every column: the first error, or 0. */
static int open_and_read_all(const char *path, struct sn_err *err)
{
	struct sn_part *p = NULL;
	int rc = sn_part_open(path, &p, err);
	if (rc)
		return rc;
	struct sn_arena arena;
	sn_arena_init(&arena, 64u << 20);
	for (size_t c = 0; c < sn_part_ncolumns(p) && !rc; c++) {
		struct sn_colvec v;
		rc = sn_part_read_column(p, c, 0, sn_part_ngranules(p), &arena, &v, err);
	}
	sn_arena_release(&arena);
	sn_part_unref(p);
	return rc;
}

static void test_pruning(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_memtable mt;
	struct sn_err err = {0};
	size_t n = 5000, grows = 64;
	write_small_part(dir, n, (uint32_t)grows, SN_CODEC_DEFAULT, path, sizeof(path), &mt);
	struct sn_part *p = NULL;
	assert_int_equal(sn_part_open(path, &p, &err), 0);
	size_t ng = sn_part_ngranules(p);
	assert_int_equal(ng, (n + grows - 1) / grows);

	/* Granule statistics match the rows. */
	for (size_t g = 0; g < ng; g++) {
		const struct sn_granule_info *gi = sn_part_granule(p, g);
		assert_int_equal(gi->first_row, g * grows);
		const struct sn_event_row *first = sn_memtable_sorted_row(&mt, g * grows);
		assert_true(gi->team_id == first->team_id);
		assert_int_equal(gi->day, sn_store_day_of(first->timestamp_us));
		assert_true(str_eq(gi->event, first->event));
		int64_t mn = INT64_MAX, mx = INT64_MIN;
		for (size_t i = gi->first_row; i < gi->first_row + gi->nrows; i++) {
			int64_t t = sn_memtable_sorted_row(&mt, i)->timestamp_us;
			mn = t < mn ? t : mn;
			mx = t > mx ? t : mx;
		}
		assert_true(gi->min_ts_us == mn && gi->max_ts_us == mx);
	}
	assert_null(sn_part_granule(p, ng));

	const int64_t teams[] = {1, 2, 7, 1000, 0, 5, 2000};
	int32_t d0 = sn_store_day_of(BASE_TS);
	for (int q = 0; q < 200; q++) {
		int64_t t = teams[rnd() % SN_ARRAY_LEN(teams)];
		int32_t lo = d0 + (int32_t)(rnd() % 32) - 1, hi = lo + (int32_t)(rnd() % 10);
		if (q % 10 == 0) {
			lo = INT32_MIN;
			hi = INT32_MAX;
		}
		size_t gb, ge;
		sn_part_granules_for_team(p, t, lo, hi, &gb, &ge);
		assert_true(gb <= ge && ge <= ng);
		size_t matching_granules = 0, last_g = SIZE_MAX;
		for (size_t i = 0; i < n; i++) {
			const struct sn_event_row *r = sn_memtable_sorted_row(&mt, i);
			int32_t d = sn_store_day_of(r->timestamp_us);
			if (r->team_id != t || d < lo || d > hi)
				continue;
			size_t g = i / grows;
			/* Pruning must never hide a matching row. */
			if (g < gb || g >= ge)
				fail_msg("team %" PRId64 " days [%d,%d]: row %zu in granule %zu "
					 "outside [%zu,%zu)",
					 t, lo, hi, i, g, gb, ge);
			if (g != last_g)
				matching_granules++;
			last_g = g;
		}
		/* And must actually prune: at most one extra granule at each end. */
		assert_true(ge - gb <= matching_granules + 2);
		if (!matching_granules)
			assert_true(ge - gb <= 1);
	}
	/* Time pruning by min/max. */
	for (int q = 0; q < 200; q++) {
		int64_t a = BASE_TS + (int64_t)(rnd() % (31 * DAY_US)),
			b = a + (int64_t)(rnd() % DAY_US);
		for (size_t g = 0; g < ng; g++) {
			bool any = false;
			const struct sn_granule_info *gi = sn_part_granule(p, g);
			for (size_t i = gi->first_row; i < gi->first_row + gi->nrows && !any; i++) {
				int64_t ts = sn_memtable_sorted_row(&mt, i)->timestamp_us;
				any = ts >= a && ts <= b;
			}
			if (any)
				assert_true(sn_part_granule_overlaps_time(p, g, a, b));
		}
	}
	size_t pruned = 0;
	for (size_t g = 0; g < ng; g++)
		pruned += !sn_part_granule_overlaps_time(p, g, 0, BASE_TS - 1);
	assert_int_equal(pruned, ng);
	assert_false(sn_part_granule_overlaps_time(p, ng, INT64_MIN, INT64_MAX));
	sn_part_unref(p);
	sn_memtable_release(&mt);
	sn_test_rm_rf(dir);
}

static void test_corruption_every_byte(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX], bad[PATH_MAX + 8];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	write_small_part(dir, 120, 50, SN_CODEC_DEFAULT, path, sizeof(path), NULL);
	snprintf(bad, sizeof(bad), "%s.bad", path);
	size_t len;
	char *orig = read_file(path, &len);
	struct sn_err err = {0};
	assert_int_equal(open_and_read_all(path, &err), 0);
	/* Every byte of a part is under some checksum, so every flip is caught. */
	char *copy = malloc(len);
	for (size_t i = 0; i < len; i++) {
		memcpy(copy, orig, len);
		copy[i] ^= (char)(1u << (i % 8));
		write_file(bad, copy, len);
		int rc = open_and_read_all(bad, &err);
		if (rc != SN_ERR_CORRUPT)
			fail_msg("flip at byte %zu of %zu: rc %d (%s)", i, len, rc, err.msg);
		assert_non_null(strstr(err.msg, bad));
	}
	/* Block damage names the column and granule. */
	memcpy(copy, orig, len);
	copy[SN_PART_HEADER_SIZE + 1] ^= 1;
	write_file(bad, copy, len);
	assert_int_equal(open_and_read_all(bad, &err), SN_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "column uuid granule 0"));
	/* Truncated at every length. */
	for (size_t l = 0; l < len; l++) {
		write_file(bad, orig, l);
		int rc = open_and_read_all(bad, &err);
		if (rc != SN_ERR_CORRUPT)
			fail_msg("truncated to %zu of %zu: rc %d (%s)", l, len, rc, err.msg);
	}
	/* Not a part at all, and a missing file. */
	write_file(bad, "hello", 5);
	assert_int_equal(open_and_read_all(bad, &err), SN_ERR_CORRUPT);
	memset(copy, 0, len);
	write_file(bad, copy, len);
	assert_int_equal(open_and_read_all(bad, &err), SN_ERR_CORRUPT);
	unlink(bad);
	assert_int_equal(open_and_read_all(bad, &err), SN_ERR_NOT_FOUND);
	free(copy);
	free(orig);
	sn_test_rm_rf(dir);
}

static void test_unknown_version(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	write_small_part(dir, 30, 8, SN_CODEC_DEFAULT, path, sizeof(path), NULL);
	size_t len;
	char *b = read_file(path, &len);
	uint8_t *h = (uint8_t *)b, *t = (uint8_t *)b + len - SN_PART_TRAILER_SIZE;
	assert_int_equal(sn_get_u32(h + 8), SN_PART_VERSION);
	/* A well-formed part from a future version: checksums valid, version 99. */
	sn_put_u32(h + 8, 99);
	sn_put_u32(h + 28, sn_crc32(0, h, 28));
	sn_put_u32(t + 20, 99);
	sn_put_u32(t + 28, sn_crc32(0, t, 28));
	write_file(path, b, len);
	struct sn_err err = {0};
	struct sn_part *p = NULL;
	assert_int_equal(sn_part_open(path, &p, &err), SN_ERR_INVALID);
	assert_null(p);
	assert_non_null(strstr(err.msg, "version 99"));
	char reads[64];
	snprintf(reads, sizeof(reads), "reads versions %d to %d", SN_PART_MIN_VERSION,
		 SN_PART_VERSION);
	assert_non_null(strstr(err.msg, reads));
	/* Version 0 (never written) is refused the same way. */
	sn_put_u32(h + 8, 0);
	sn_put_u32(h + 28, sn_crc32(0, h, 28));
	write_file(path, b, len);
	assert_int_equal(sn_part_open(path, &p, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "version 0"));
	free(b);
	sn_test_rm_rf(dir);
}

static void test_writer_rejects(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	snprintf(path, sizeof(path), "%s/x.snp", dir);
	struct sn_event_row a, b;
	char ba[512], bb[512];
	random_row(&a, ba, sizeof(ba), false);
	random_row(&b, bb, sizeof(bb), false);
	a.timestamp_us = b.timestamp_us = BASE_TS;
	a.team_id = 2;
	b.team_id = 1;
	const struct sn_event_row *rows[2] = {&a, &b};
	struct sn_err err = {0};
	assert_int_equal(sn_part_write(path, rows, 2, NULL, NULL, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "not sorted"));
	b.team_id = 3;
	b.timestamp_us = BASE_TS + 40 * DAY_US; /* November */
	assert_int_equal(sn_part_write(path, rows, 2, NULL, NULL, &err), SN_ERR_INVALID);
	assert_int_equal(sn_part_write(path, rows, 0, NULL, NULL, &err), SN_ERR_INVALID);
	assert_int_equal(access(path, F_OK), -1);
	/* The granule tasks check the rows: out of order where one granule
	 * meets the next, and outside the month in a later granule. */
	struct sn_event_row five[5];
	char fb[5][512];
	const struct sn_event_row *fp[5];
	for (int i = 0; i < 5; i++) {
		random_row(&five[i], fb[i], sizeof(fb[i]), false);
		five[i].timestamp_us = BASE_TS + i;
		five[i].team_id = i;
		fp[i] = &five[i];
	}
	struct sn_part_write_opts g2 = {.granule_rows = 2, .no_fsync = true};
	struct sn_part_written pw;
	assert_int_equal(sn_part_write(path, fp, 5, &g2, &pw, &err), 0);
	assert_int_equal(unlink(path), 0);
	five[2].team_id = 0; /* row 2 (the second granule's first) < row 1 */
	assert_int_equal(sn_part_write(path, fp, 5, &g2, &pw, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "not sorted or span months (row 2)"));
	five[2].team_id = 2;
	five[4].timestamp_us = BASE_TS - 1; /* September */
	assert_int_equal(sn_part_write(path, fp, 5, &g2, &pw, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "(row 4)"));
	five[4].timestamp_us = BASE_TS + 31 * DAY_US; /* November */
	assert_int_equal(sn_part_write(path, fp, 5, &g2, &pw, &err), SN_ERR_INVALID);
	five[4].timestamp_us = BASE_TS + 31 * DAY_US - 1; /* October's last µs */
	assert_int_equal(sn_part_write(path, fp, 5, &g2, &pw, &err), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(access(path, F_OK), -1);
	/* A directory that does not exist is an I/O error and leaves nothing. */
	b.timestamp_us = BASE_TS;
	snprintf(path, sizeof(path), "%s/missing/x.snp", dir);
	assert_int_equal(sn_part_write(path, rows, 2, NULL, NULL, &err), SN_ERR_IO);
	sn_test_rm_rf(dir);
}

static void test_codecs_in_parts(void **state)
{
	(void)state;
	/* Forcing each codec gives readable parts; zstd is the smallest. */
	char dir[PATH_MAX], path[PATH_MAX];
	uint64_t size[4] = {0};
	const enum sn_codec codecs[] = {SN_CODEC_NONE, SN_CODEC_ZSTD, SN_CODEC_LZ4};
	for (size_t c = 0; c < 3; c++) {
		assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
		uint64_t seed = g_rng;
		write_small_part(dir, 3000, 1024, codecs[c], path, sizeof(path), NULL);
		g_rng = seed; /* same rows for every codec */
		struct sn_err err = {0};
		assert_int_equal(open_and_read_all(path, &err), 0);
		struct stat st;
		assert_int_equal(stat(path, &st), 0);
		size[c] = (uint64_t)st.st_size;
		sn_test_rm_rf(dir);
	}
	assert_true(size[1] < size[2] && size[2] < size[0]);
}

static void test_single_row_and_flush_atomicity(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX + 16];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_err err = {0};

	/* One row makes a valid part of one granule. */
	struct sn_event_row r;
	char buf[512];
	random_row(&r, buf, sizeof(buf), false);
	r.timestamp_us = BASE_TS;
	r.session_id = (struct sn_str){NULL, 0};
	const struct sn_event_row *rows[1] = {&r};
	snprintf(path, sizeof(path), "%s/one.snp", dir);
	struct sn_part_written w;
	assert_int_equal(sn_part_write(path, rows, 1, NULL, &w, &err), 0);
	assert_int_equal(w.nrows, 1);
	assert_int_equal(w.month, 202410);
	struct sn_part *p = NULL;
	assert_int_equal(sn_part_open(path, &p, &err), 0);
	assert_int_equal(sn_part_ngranules(p), 1);
	struct sn_arena arena;
	sn_arena_init(&arena, 0);
	struct sn_colvec v;
	assert_int_equal(sn_part_read_column(p, (size_t)sn_part_find_column(p, "$session_id"), 0, 1,
					     &arena, &v, &err),
			 0);
	assert_int_equal(v.nrows, 1);
	assert_non_null(v.nulls); /* an all-NULL block */
	assert_int_equal(v.nulls[0], 1);
	assert_int_equal(sn_part_read_properties(p, 0, 1, &arena, &v, &err), 0);
	assert_true(str_eq(v.str[0], r.properties));
	sn_arena_release(&arena);
	sn_part_unref(p);
	unlink(path);

	/* A flush whose second part cannot be written leaves no part at all:
	 * a directory squats on the November part's name, so its rename fails. */
	struct sn_memtable mt;
	sn_memtable_init(&mt, 0);
	struct sn_event_row a = r, b = r;
	b.timestamp_us = BASE_TS + 40 * DAY_US;
	assert_int_equal(sn_memtable_append(&mt, &a, &err), 0);
	assert_int_equal(sn_memtable_append(&mt, &b, &err), 0);
	snprintf(path, sizeof(path), "%s/202411_%016x.snp", dir, 9);
	assert_int_equal(mkdir(path, 0755), 0);
	struct sn_part_written *parts = NULL;
	size_t nparts = 99;
	assert_int_equal(sn_memtable_flush(&mt, dir, 9, NULL, &parts, &nparts, &err), SN_ERR_IO);
	assert_null(parts);
	assert_int_equal(nparts, 0);
	snprintf(path, sizeof(path), "%s/202410_%016x.snp", dir, 9);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/202411_%016x.snp.tmp", dir, 9);
	assert_int_equal(access(path, F_OK), -1);
	/* The parts are all written before the first is renamed: a failure of
	 * the first rename, or of the second part's write, also removes the
	 * temp files of the parts written but not renamed. */
	snprintf(path, sizeof(path), "%s/202411_%016x.snp", dir, 9);
	rmdir(path);
	for (int squat = 0; squat < 2; squat++) {
		snprintf(path, sizeof(path),
			 squat ? "%s/202411_%016x.snp.tmp" : "%s/202410_%016x.snp", dir, 9);
		assert_int_equal(mkdir(path, 0755), 0);
		assert_int_not_equal(sn_memtable_flush(&mt, dir, 9, NULL, &parts, &nparts, &err),
				     0);
		assert_null(parts);
		assert_int_equal(rmdir(path), 0);
		assert_int_equal(files_no_tmp(dir), 0);
	}
	/* A flush of more months than the parts it keeps open at once (64):
	 * 70 parts, and a failure at the 67th removes the 64 renamed already. */
	{
		struct sn_memtable many;
		sn_memtable_init(&many, 0);
		for (int k = 0; k < 70; k++) {
			struct sn_event_row m = r;
			m.timestamp_us = BASE_TS + (int64_t)k * 31 * DAY_US;
			assert_int_equal(sn_memtable_append(&many, &m, &err), 0);
		}
		assert_int_equal(sn_memtable_nmonths(&many), 70);
		char sub[PATH_MAX + 8];
		snprintf(sub, sizeof(sub), "%s/many", dir);
		assert_int_equal(mkdir(sub, 0755), 0);
		int32_t m67 = sn_store_month_of(BASE_TS + (int64_t)66 * 31 * DAY_US);
		snprintf(path, sizeof(path), "%s/%06d_%016x.snp", sub, (int)m67, 9);
		assert_int_equal(mkdir(path, 0755), 0);
		assert_int_equal(sn_memtable_flush(&many, sub, 9, NULL, &parts, &nparts, &err),
				 SN_ERR_IO);
		assert_int_equal(rmdir(path), 0);
		assert_int_equal(files_no_tmp(sub), 0);
		assert_int_equal(sn_memtable_flush(&many, sub, 9, NULL, &parts, &nparts, &err), 0);
		assert_int_equal(nparts, 70);
		free(parts);
		assert_int_equal(files_no_tmp(sub), 70);
		sn_memtable_release(&many);
	}
	/* The memtable is untouched and flushes once the name is free. */
	assert_int_equal(sn_memtable_flush(&mt, dir, 9, NULL, &parts, &nparts, &err), 0);
	assert_int_equal(nparts, 2);
	free(parts);
	sn_memtable_release(&mt);
	sn_test_rm_rf(dir);
}

/* Properties whose $browser takes every shape §4.2 distinguishes, with the
 * value HogQL must return for properties.$browser (NULL: "\x01"). */
static const struct {
	const char *json;
	const char *browser;
} g_prop_cases[] = {
    {"{\"$browser\":\"Chrome\",\"$os\":\"Mac\",\"n\":1}", "Chrome"},
    {"{\"n\":2,\"$browser\":\"Firefox\"}", "Firefox"},
    {"{\"$browser\":5,\"n\":3}", "5"},
    {"{\"$browser\":null,\"$os\":\"Linux\"}", "\x01"},
    {"{\"$browser\":{\"a\":[1,\"x\"]},\"n\":4}", "{\"a\":[1,\"x\"]}"},
    {"{\"$browser\":true}", "true"},
    {"{\"$browser\":\"a\\\"b\\u00e9\",\"n\":5}", "a\\\"b\\u00e9"},
    {"{\"$browser\":\"\",\"n\":6}", ""},
    {"{\"n\":7,\"$os\":\"Windows\"}", "\x01"},
    {"{ \"$browser\" : \"spaced\" , \"n\" : 8 }", "spaced"},
    {"{ \"$browser\":\"lead\",\"n\":10}", "lead"},
    {"{\"n\":11, \"$browser\":\"after comma\"}", "after comma"},
    {"{\"$browser\":\"trail\" }", "trail"},
    {"{\"$browser\":\"broken\",\"n\":", "\x01"},
    {"", "\x01"},
    {"[1,2]", "\x01"},
    {"{}", "\x01"},
    {"{\"$browser\":\"first\",\"$browser\":\"second\"}", "first"},
    {"{\"\\u0024browser\":\"escaped key\",\"n\":9}", "escaped key"},
    {"{\"@rest\":1,\"@layout\":\"x\",\"$browser\":\"Safari\"}", "Safari"},
    {"{\"a\":12,\"$browser\":\"Opera\"}", "Opera"}, /* "a" where others have "n" */
    {"{\"$browser\":\"Chrome\",\"rare\":1}", "Chrome"},
};

static void test_shredding(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_err err = {0};
	size_t n = 3000, ncases = SN_ARRAY_LEN(g_prop_cases);
	struct sn_event_row *rows = calloc(n, sizeof(*rows));
	const struct sn_event_row **ptrs = calloc(n, sizeof(*ptrs));
	size_t *which = calloc(n, sizeof(*which));
	char buf[512];
	for (size_t i = 0; i < n; i++) {
		random_row(&rows[i], buf, sizeof(buf), false);
		rows[i].team_id = 1;
		rows[i].timestamp_us = BASE_TS;
		rows[i].event = (struct sn_str){"e", 1};
		rows[i].distinct_id = (struct sn_str){"d", 1};
		memset(rows[i].uuid, 0, 16);
		rows[i].uuid[14] = (uint8_t)(i >> 8);
		rows[i].uuid[15] = (uint8_t)i;
		/* Mostly the common shapes, every case present, "rare" under 1 %. */
		size_t c = i < ncases - 1 ? i : rnd() % 3 ? rnd() % 3 : rnd() % (ncases - 1);
		if (i == ncases - 1)
			c = ncases - 1;
		which[i] = c;
		rows[i].properties =
		    (struct sn_str){g_prop_cases[c].json, strlen(g_prop_cases[c].json)};
		ptrs[i] = &rows[i];
	}
	char shredded[PATH_MAX + 16], whole[PATH_MAX + 16];
	snprintf(shredded, sizeof(shredded), "%s/s.snp", dir);
	snprintf(whole, sizeof(whole), "%s/w.snp", dir);
	struct sn_part_write_opts so = {.granule_rows = 512},
				  wo = {.granule_rows = 512, .no_shred = true};
	struct sn_part_written ws, ww;
	assert_int_equal(sn_part_write(shredded, ptrs, n, &so, &ws, &err), 0);
	assert_int_equal(sn_part_write(whole, ptrs, n, &wo, &ww, &err), 0);
	struct sn_part *ps = NULL, *pw = NULL;
	assert_int_equal(sn_part_open(shredded, &ps, &err), 0);
	assert_int_equal(sn_part_open(whole, &pw, &err), 0);
	/* The layout: common keys became columns, the rare one and the '@' ones did not. */
	assert_true(sn_part_find_column(ps, "p:$browser") >= 0);
	assert_true(sn_part_find_column(ps, "p:n") >= 0);
	assert_true(sn_part_find_column(ps, "p:$os") >= 0);
	assert_true(sn_part_find_column(ps, "p:@rest") >= 0);
	assert_true(sn_part_find_column(ps, "p:@layout") >= 0);
	assert_int_equal(sn_part_find_column(ps, "p:rare"), -1);
	assert_int_equal(sn_part_find_column(ps, "properties"), -1);
	assert_true(sn_part_find_column(pw, "properties") >= 0);
	assert_int_equal(sn_part_find_column(pw, "p:$browser"), -1);

	struct sn_arena arena;
	sn_arena_init(&arena, 0);
	size_t ng = sn_part_ngranules(ps);
	/* Whole objects read back byte for byte from both. */
	struct sn_colvec as, aw;
	assert_int_equal(sn_part_read_properties(ps, 0, ng, &arena, &as, &err), 0);
	assert_int_equal(sn_part_read_properties(pw, 0, ng, &arena, &aw, &err), 0);
	for (size_t i = 0; i < n; i++) {
		assert_true(str_eq(as.str[i], rows[i].properties));
		assert_true(str_eq(aw.str[i], rows[i].properties));
	}
	/* properties.$browser is what §4.2 says, shredded or not. */
	struct sn_colvec bs, bw;
	assert_int_equal(sn_part_read_property(ps, "$browser", 0, ng, &arena, &bs, &err), 0);
	assert_int_equal(sn_part_read_property(pw, "$browser", 0, ng, &arena, &bw, &err), 0);
	for (size_t i = 0; i < n; i++) {
		const char *want = g_prop_cases[which[i]].browser;
		for (int k = 0; k < 2; k++) {
			const struct sn_colvec *v = k ? &bw : &bs;
			if (want[0] == '\x01') {
				if (!v->nulls[i])
					fail_msg("row %zu (%s): want NULL, got '%.*s'", i,
						 g_prop_cases[which[i]].json, (int)v->str[i].len,
						 v->str[i].p);
			} else if (v->nulls[i] ||
				   !str_eq(v->str[i], (struct sn_str){want, strlen(want)})) {
				fail_msg("row %zu (%s): want '%s', got %s'%.*s'", i,
					 g_prop_cases[which[i]].json, want,
					 v->nulls[i] ? "NULL " : "", (int)v->str[i].len,
					 v->str[i].p);
			}
		}
	}
	/* Other keys agree between the two parts, granule range included. */
	const char *keys[] = {"n", "$os", "rare", "missing", "@rest", "@layout", "", "a"};
	for (size_t k = 0; k < SN_ARRAY_LEN(keys); k++) {
		struct sn_colvec x, y;
		assert_int_equal(sn_part_read_property(ps, keys[k], 1, ng, &arena, &x, &err), 0);
		assert_int_equal(sn_part_read_property(pw, keys[k], 1, ng, &arena, &y, &err), 0);
		assert_int_equal(x.nrows, y.nrows);
		for (size_t i = 0; i < x.nrows; i++) {
			assert_int_equal(x.nulls[i], y.nulls[i]);
			assert_true(str_eq(x.str[i], y.str[i]));
		}
	}
	/* Coded reads give the same rows: every key, both parts, all granules,
	 * a range, and every other granule. */
	uint8_t *odd = calloc(ng, 1);
	for (size_t g = 0; g < ng; g++)
		odd[g] = g % 2;
	for (size_t k = 0; k <= SN_ARRAY_LEN(keys); k++) {
		const char *key = k < SN_ARRAY_LEN(keys) ? keys[k] : "$browser";
		for (int w = 0; w < 2; w++) {
			struct sn_part *p = w ? pw : ps;
			assert_coded_same(p, key, -1, 0, ng, NULL, &arena);
			assert_coded_same(p, key, -1, 1, ng, NULL, &arena);
			assert_coded_same(p, key, -1, 0, ng, odd, &arena);
		}
	}
	free(odd);
	struct sn_colvec rare;
	assert_int_equal(sn_part_read_property(ps, "rare", 0, ng, &arena, &rare, &err), 0);
	assert_int_equal(rare.nulls[ncases - 1], 0);
	assert_true(str_eq(rare.str[ncases - 1], (struct sn_str){"1", 1}));
	/* Pieces that do not fit together are corruption, not a crash. */
	struct sn_buf b;
	sn_buf_init(&b, 0);
	const char *kn[] = {"a"};
	size_t kl[] = {1};
	struct sn_str one = {"1", 1}, none = {NULL, 0};
	struct sn_str rest = {"{\"x\":2}", 7};
	assert_int_equal(sn_shred_join(rest, (struct sn_str){"\x01\x00", 2}, &one, kn, kl, 1, &b),
			 0);
	assert_string_equal(b.data, "{\"a\":1,\"x\":2}");
	sn_buf_reset(&b);
	assert_int_equal(sn_shred_join(rest, (struct sn_str){"\x01", 1}, &one, kn, kl, 1, &b),
			 SN_ERR_CORRUPT); /* rest member left over */
	assert_int_equal(sn_shred_join(rest, (struct sn_str){"\x00\x00", 2}, &one, kn, kl, 1, &b),
			 SN_ERR_CORRUPT); /* more members than rest has */
	assert_int_equal(sn_shred_join(rest, (struct sn_str){"\x02\x00", 2}, &one, kn, kl, 1, &b),
			 SN_ERR_CORRUPT); /* no such key */
	assert_int_equal(sn_shred_join(rest, (struct sn_str){"\x01\x00", 2}, &none, kn, kl, 1, &b),
			 SN_ERR_CORRUPT); /* key without a value */
	assert_int_equal(
	    sn_shred_join((struct sn_str){"{ }", 3}, (struct sn_str){"", 0}, &one, kn, kl, 1, &b),
	    SN_ERR_CORRUPT); /* rest not compact */
	sn_buf_release(&b);
	sn_arena_release(&arena);
	sn_part_unref(ps);
	sn_part_unref(pw);
	free(rows);
	free(ptrs);
	free(which);
	sn_test_rm_rf(dir);
}

/* ---- residual key sets -------------------------------------------------------------- */

/* n rows of team 1, one day, one event (so the writer's order holds) with
 * distinct uuids; the caller sets their properties. */
static void plain_rows(struct sn_event_row *rows, const struct sn_event_row **ptrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		memset(&rows[i], 0, sizeof(rows[i]));
		rows[i].team_id = 1;
		rows[i].timestamp_us = BASE_TS;
		rows[i].created_at_us = BASE_TS;
		rows[i].event = (struct sn_str){"e", 1};
		rows[i].distinct_id = (struct sn_str){"d", 1};
		for (int b = 0; b < 4; b++)
			rows[i].uuid[12 + b] = (uint8_t)(i >> (8 * (3 - b)));
		ptrs[i] = &rows[i];
	}
}

static struct sn_part *write_and_open(const char *dir, const char *name,
				      const struct sn_event_row *const *rows, size_t n,
				      const struct sn_part_write_opts *o)
{
	char path[PATH_MAX + 64];
	struct sn_err err = {0};
	struct sn_part *p = NULL;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (sn_part_write(path, rows, n, o, NULL, &err))
		fail_msg("write %s: %s", name, err.msg);
	if (sn_part_open(path, &p, &err))
		fail_msg("open %s: %s", name, err.msg);
	return p;
}

/* Reads properties.key of p over granules [gb, ge) and checks every row against
 * a full scan of the row's own text (§4.2), and that a part saying it cannot
 * have the key has no row with it. */
static void assert_reads_as_scan(struct sn_part *p, const char *key,
				 const struct sn_event_row *const *rows, size_t gb, size_t ge,
				 struct sn_arena *a)
{
	struct sn_colvec v;
	struct sn_err err = {0};
	if (sn_part_read_property(p, key, gb, ge, a, &v, &err))
		fail_msg("read %s: %s", key, err.msg);
	size_t first = gb < ge ? sn_part_granule(p, gb)->first_row : 0, n = 0;
	for (size_t g = gb; g < ge; g++)
		n += sn_part_granule(p, g)->nrows;
	assert_int_equal(v.type, SN_COL_STRING);
	assert_int_equal(v.nrows, n);
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		struct sn_str want;
		struct sn_str raw =
		    sn_prop_extract_raw(rows[first + i]->properties, key, strlen(key));
		bool has = sn_prop_value(raw, &want);
		any |= has;
		if (has != !v.nulls[i] || (has && !str_eq(v.str[i], want)))
			fail_msg("key '%s' row %zu (%.*s): want %s'%.*s', got %s'%.*s'", key,
				 first + i, (int)rows[first + i]->properties.len,
				 rows[first + i]->properties.p, has ? "" : "NULL ", (int)want.len,
				 want.p, v.nulls[i] ? "NULL " : "", (int)v.str[i].len, v.str[i].p);
	}
	if (any)
		assert_true(sn_part_may_have_property(p, key));
	assert_coded_same(p, key, -1, gb, ge, NULL, a);
}

static uint64_t blocks_read(const struct sn_part *p)
{
	struct sn_part_read_stats st;
	sn_part_get_read_stats(p, &st);
	return st.blocks_read;
}

/* The part's residual key set is exactly want[0..n) (in on-disk order). */
static void assert_keyset(const struct sn_part *p, const struct sn_str *want, size_t n)
{
	const struct sn_str *keys;
	size_t nkeys;
	assert_true(sn_part_residual_keys(p, &keys, &nkeys));
	if (nkeys != n)
		fail_msg("residual key set has %zu keys, want %zu", nkeys, n);
	for (size_t i = 0; i < n; i++) {
		if (!str_eq(keys[i], want[i]))
			fail_msg("residual key %zu is '%.*s', want '%.*s'", i, (int)keys[i].len,
				 keys[i].p, (int)want[i].len, want[i].p);
	}
}

#define S(lit) ((struct sn_str){lit, sizeof(lit) - 1})

/* Every shape a residual key can take, in shredded and unshredded parts of
 * format 2 and of format 1 (no set): reads agree with a full scan, the set
 * holds exactly the decoded keys of the residual objects, and a key outside
 * it reads as NULL without a single block being read. */
/* $session_id, $window_id and elements_chain copy their properties: a
 * version-3 granule whose rows all hold what the property gives stores
 * nothing for the column (SN_ENC_STR_FROM_PROP), and every read gives the
 * rows' values back, granules that could not be derived included. */
static void test_derived_columns(void **state)
{
	(void)state;
	enum { N = 1024 }; /* 4 granules of 256 */
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_event_row *rows = calloc(N, sizeof(*rows));
	const struct sn_event_row **ptrs = calloc(N, sizeof(*ptrs));
	char(*props)[160] = calloc(N, 160);
	char(*sess)[24] = calloc(N, 24);
	char(*win)[24] = calloc(N, 24);
	plain_rows(rows, ptrs, N);
	for (size_t i = 0; i < N; i++) {
		snprintf(sess[i], 24, "s-%zu", i / 7);
		snprintf(win[i], 24, "w-%zu", i / 3);
		snprintf(props[i], 160,
			 "{\"$session_id\":\"%s\",\"$window_id\":\"%s\",\"$elements_chain\":"
			 "\"a.b\",\"n\":%zu}",
			 sess[i], win[i], i);
		rows[i].session_id = (struct sn_str){sess[i], strlen(sess[i])};
		rows[i].window_id = (struct sn_str){win[i], strlen(win[i])};
		rows[i].elements_chain = (struct sn_str){"a.b", 3};
	}
	/* Granule 1: a session id sent with an escape (stored decoded). */
	snprintf(props[300], 160,
		 "{\"$session_id\":\"s\\u002d42\",\"$window_id\":\"%s\","
		 "\"$elements_chain\":\"a.b\",\"n\":1}",
		 win[300]);
	rows[300].session_id = (struct sn_str){"s-42", 4};
	/* Granule 2: no session property (""), and a number (""): derivable. */
	snprintf(props[600], 160, "{\"$window_id\":\"%s\",\"$elements_chain\":\"a.b\"}", win[600]);
	rows[600].session_id = (struct sn_str){"", 0};
	snprintf(props[601], 160,
		 "{\"$session_id\":5,\"$window_id\":\"%s\","
		 "\"$elements_chain\":\"a.b\"}",
		 win[601]);
	rows[601].session_id = (struct sn_str){"", 0};
	/* Granule 3: a chain built from $elements (no property), a NULL window. */
	snprintf(props[800], 160, "{\"$session_id\":\"%s\",\"$window_id\":\"%s\"}", sess[800],
		 win[800]);
	rows[800].elements_chain = (struct sn_str){"built", 5};
	rows[900].window_id = (struct sn_str){NULL, 0};
	for (size_t i = 0; i < N; i++)
		rows[i].properties = (struct sn_str){props[i], strlen(props[i])};

	struct sn_part_write_opts o3 = {.granule_rows = 256, .no_fsync = true, .format_version = 3};
	struct sn_part_write_opts o2 = {.granule_rows = 256, .no_fsync = true, .format_version = 2};
	struct sn_part *p3 = write_and_open(dir, "v3.snp", ptrs, N, &o3);
	struct sn_part *p2 = write_and_open(dir, "v2.snp", ptrs, N, &o2);
	assert_int_equal(sn_part_version(p3), 3);
	assert_true(sn_part_find_column(p3, "p:$session_id") >= 0);
	const char *cols[] = {SN_COL_NAME_SESSION_ID, SN_COL_NAME_WINDOW_ID,
			      SN_COL_NAME_ELEMENTS_CHAIN};
	struct sn_arena a;
	sn_arena_init(&a, 0);
	struct sn_err err = {0};
	for (int c = 0; c < 3; c++) {
		int ci3 = sn_part_find_column(p3, cols[c]), ci2 = sn_part_find_column(p2, cols[c]);
		assert_true(ci3 >= 0 && ci2 >= 0);
		/* Derived granules store two bytes: the column is far smaller (the
		 * constant chain is one dictionary entry either way). */
		uint64_t b3 = sn_part_column(p3, (size_t)ci3)->compressed_bytes,
			 b2 = sn_part_column(p2, (size_t)ci2)->compressed_bytes;
		assert_true(c == 2 ? b3 <= b2 : b3 < b2 / 2);
		for (int v = 0; v < 2; v++) {
			struct sn_part *p = v ? p2 : p3;
			int ci = v ? ci2 : ci3;
			struct sn_colvec cv;
			/* All granules, and one at a time. */
			for (size_t gb = 0; gb <= 4; gb++) {
				size_t g0 = gb == 4 ? 0 : gb, g1 = gb == 4 ? 4 : gb + 1;
				if (sn_part_read_column(p, (size_t)ci, g0, g1, &a, &cv, &err))
					fail_msg("read %s: %s", cols[c], err.msg);
				assert_coded_same(p, NULL, ci, g0, g1, NULL, &a);
				for (size_t i = 0; i < cv.nrows; i++) {
					const struct sn_event_row *r = &rows[g0 * 256 + i];
					struct sn_str want = c == 0   ? r->session_id
							     : c == 1 ? r->window_id
								      : r->elements_chain;
					bool null = cv.nulls && cv.nulls[i];
					assert_int_equal(null, want.p == NULL);
					if (null)
						continue;
					assert_int_equal(cv.str[i].len, want.len);
					assert_memory_equal(cv.str[i].p, want.p, want.len);
				}
			}
		}
	}
	/* store verify's checks pass on the derived part. */
	sn_arena_release(&a);
	sn_part_unref(p3);
	sn_part_unref(p2);
	free(rows);
	free(ptrs);
	free(props);
	free(sess);
	free(win);
	sn_test_rm_rf(dir);
}

/* The memtable points a row's $session_id, $window_id and elements_chain
 * into its own copy of the properties when the row's values lie inside the
 * row's properties text (the ingest's, read in place), and copies them
 * otherwise; the parts are byte for byte the same either way, derived
 * granules included, and with the writer's copy of the text (gather_text). */
static void test_memtable_shares_values(void **state)
{
	(void)state;
	enum { N = 600 };
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_err err = {0};
	struct sn_event_row *rows = calloc(N, sizeof(*rows));
	const struct sn_event_row **ptrs = calloc(N, sizeof(*ptrs));
	char(*props)[160] = calloc(N, 160);
	char(*sess)[24] = calloc(N, 24);
	assert_true(rows && ptrs && props && sess);
	plain_rows(rows, ptrs, N);
	for (size_t i = 0; i < N; i++) {
		snprintf(sess[i], 24, "s-%zu", i / 5);
		snprintf(props[i], 160,
			 "{\"$session_id\":\"%s\",\"$window_id\":\"w-%zu\",\"$elements_chain\":"
			 "\"a.b\",\"n\":%zu}",
			 sess[i], i / 2, i);
		rows[i].properties = (struct sn_str){props[i], strlen(props[i])};
	}
	/* Row 7's session id was sent with an escape: the ingest decoded it
	 * elsewhere, so it is not inside the text. */
	snprintf(props[7], 160,
		 "{\"$session_id\":\"s\\u002d1\",\"$window_id\":\"w-3\",\"$elements_chain\":"
		 "\"a.b\",\"n\":7}");
	rows[7].properties = (struct sn_str){props[7], strlen(props[7])};
	struct sn_part_written *first = NULL;
	size_t nfirst = 0;
	/* mode & 1 — 0: values elsewhere; 1: inside. mode >= 2: the same with the
	 * granule tasks' copy of the text (gather_text), which moves the shared
	 * values with it. */
	for (int mode = 0; mode < 4; mode++) {
		int inside_mode = mode & 1;
		struct sn_memtable mt;
		sn_memtable_init(&mt, 0);
		for (size_t i = 0; i < N; i++) {
			struct sn_event_row r = rows[i];
			const char *t = r.properties.p;
			const char *s = strstr(t, "\"$session_id\":\"") + 15;
			const char *w = strstr(t, "\"$window_id\":\"") + 14;
			const char *e = strstr(t, "\"$elements_chain\":\"") + 19;
			r.session_id = (struct sn_str){s, (size_t)(strchr(s, '"') - s)};
			r.window_id = (struct sn_str){w, (size_t)(strchr(w, '"') - w)};
			r.elements_chain = (struct sn_str){e, 3};
			if (inside_mode == 0 || i == 7) {
				r.session_id = (struct sn_str){sess[i], strlen(sess[i])};
				if (i == 7)
					r.session_id = (struct sn_str){"s-1", 3};
			}
			if (inside_mode == 0) {
				r.window_id.p = strndup(w, r.window_id.len);
				r.elements_chain = (struct sn_str){"a.b", 3};
			}
			assert_int_equal(sn_memtable_append(&mt, &r, &err), 0);
			const struct sn_event_row *m = &mt.rows[mt.nrows - 1];
			const char *mp = m->properties.p, *me = mp + m->properties.len;
			bool inside = m->session_id.p >= mp && m->session_id.p < me;
			assert_int_equal(inside, inside_mode == 1 && i != 7);
			assert_int_equal(m->window_id.p >= mp && m->window_id.p < me,
					 inside_mode == 1);
			assert_int_equal(m->elements_chain.p >= mp && m->elements_chain.p < me,
					 inside_mode == 1);
			assert_int_equal(m->session_id.len, r.session_id.len);
			assert_memory_equal(m->session_id.p, r.session_id.p, r.session_id.len);
			assert_memory_equal(m->window_id.p, r.window_id.p, r.window_id.len);
			if (inside_mode == 0)
				free((char *)r.window_id.p);
		}
		size_t nw;
		struct sn_part_written *pw = flush_to_sub(&mt, dir, mode, 128, mode >= 2, &nw);
		if (mode == 0) {
			first = pw;
			nfirst = nw;
			continue;
		}
		assert_same_parts(first, nfirst, pw, nw);
		struct sn_part *p = NULL;
		assert_int_equal(sn_part_open(pw[0].path, &p, &err), 0);
		int ci = sn_part_find_column(p, SN_COL_NAME_SESSION_ID);
		assert_true(ci >= 0);
		/* Every granule's window ids were derived (two bytes a block);
		 * the session ids of row 7's granule were stored. */
		int cw = sn_part_find_column(p, SN_COL_NAME_WINDOW_ID);
		assert_true(cw >= 0);
		uint64_t bw = sn_part_column(p, (size_t)cw)->compressed_bytes,
			 bs = sn_part_column(p, (size_t)ci)->compressed_bytes;
		assert_true(bw < 100 && bs > bw + 64);
		sn_part_unref(p);
		free(pw);
	}
	free(first);
	free(rows);
	free(ptrs);
	free(props);
	free(sess);
	sn_test_rm_rf(dir);
}

static void test_residual_keys(void **state)
{
	(void)state;
	static const char *shapes[] = {
	    "{\"$browser\":\"Chrome\",\"$os\":\"Mac\",\"n\":1}",  /* common: shredded */
	    "{\"n\":2,\"$browser\":\"Firefox\",\"rare\":\"r\"}",  /* a residual key, few rows */
	    "{ \"vonly\" : \"v\", \"$browser\" : \"S\" }",	  /* verbatim (spaces) only */
	    "{\"\\u0065sc\":\"e\",\"$os\":\"Linux\"}",		  /* escaped only: decodes to esc */
	    "{\"dupk\":1,\"dupk\":2,\"$browser\":\"D\"}",	  /* a residual key twice */
	    "{\"$browser\":\"a\",\"$browser\":\"b\",\"vdup\":1}", /* shredded twice: verbatim */
	    "{\"badk\":1,\"$browser\":",			  /* invalid: adds nothing */
	    "[{\"arrk\":1}]",					  /* not an object */
	    "",
	    "{}",
	    "{\"@rest\":1,\"\":\"empty\"}",
	    "{\"nul\\u0000x\":1}", /* decodes to 5 bytes with a NUL */
	    "\"str\"",
	};
	size_t nshapes = SN_ARRAY_LEN(shapes), n = 3000;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_event_row *rows = calloc(n, sizeof(*rows));
	const struct sn_event_row **ptrs = calloc(n, sizeof(*ptrs));
	plain_rows(rows, ptrs, n);
	for (size_t i = 0; i < n; i++) {
		/* Each special shape in a handful of rows (under the 1 % that would
		 * shred a key), "rare" in a few more. */
		size_t s = i % 250 < nshapes ? i % 250 : i % 397 == 0 ? 1 : 0;
		rows[i].properties = (struct sn_str){shapes[s], strlen(shapes[s])};
	}
	struct sn_part_write_opts o[4] = {
	    {.granule_rows = 256, .no_fsync = true},
	    {.granule_rows = 256, .no_fsync = true, .no_shred = true},
	    {.granule_rows = 256, .no_fsync = true, .format_version = 1},
	    {.granule_rows = 256, .no_fsync = true, .no_shred = true, .format_version = 1}};
	const char *names[4] = {"s2.snp", "w2.snp", "s1.snp", "w1.snp"};
	struct sn_part *p[4];
	for (int k = 0; k < 4; k++)
		p[k] = write_and_open(dir, names[k], ptrs, n, &o[k]);
	assert_true(sn_part_find_column(p[0], "p:$browser") >= 0);
	assert_true(sn_part_find_column(p[0], "p:n") >= 0);
	assert_int_equal(sn_part_find_column(p[0], "p:rare"), -1);
	assert_true(sn_part_find_column(p[1], "properties") >= 0);
	assert_int_equal(sn_part_version(p[0]), SN_PART_VERSION);
	assert_int_equal(sn_part_version(p[2]), 1);
	assert_int_equal(sn_part_version(p[3]), 1);

	/* Decoded names, '@' and empty names, one with a NUL; never a key of an
	 * invalid text or a non-object; in the shredded part, a shredded key
	 * only where a row stayed whole ($browser and $os: shapes 2, 3 and 5). */
	const struct sn_str shredded_set[] = {S(""),	 S("$browser"), S("$os"),    S("@rest"),
					      S("dupk"), S("esc"),	S("nul\0x"), S("rare"),
					      S("vdup"), S("vonly")};
	const struct sn_str whole_set[] = {S(""),     S("$browser"), S("$os"),	S("@rest"),
					   S("dupk"), S("esc"),	     S("n"),	S("nul\0x"),
					   S("rare"), S("vdup"),     S("vonly")};
	assert_keyset(p[0], shredded_set, SN_ARRAY_LEN(shredded_set));
	assert_keyset(p[1], whole_set, SN_ARRAY_LEN(whole_set));
	const struct sn_str *keys;
	size_t nkeys;
	assert_false(sn_part_residual_keys(p[2], &keys, &nkeys));
	assert_false(sn_part_residual_keys(p[3], &keys, &nkeys));
	assert_null(keys);
	assert_int_equal(nkeys, 0);

	/* Every key reads as a full scan would, in all four parts and over a
	 * granule range that leaves out both ends. */
	const char *probe[] = {"$browser",
			       "$os",
			       "n",
			       "rare",
			       "vonly",
			       "esc",
			       "\\u0065sc",
			       "dupk",
			       "vdup",
			       "badk",
			       "arrk",
			       "@rest",
			       "@layout",
			       "",
			       "nul",
			       "missing",
			       "$process_person_profile"};
	struct sn_arena arena;
	sn_arena_init(&arena, 0);
	size_t ng = sn_part_ngranules(p[0]);
	assert_true(ng > 3);
	for (int k = 0; k < 4; k++) {
		for (size_t q = 0; q < SN_ARRAY_LEN(probe); q++) {
			assert_reads_as_scan(p[k], probe[q], ptrs, 0, ng, &arena);
			assert_reads_as_scan(p[k], probe[q], ptrs, 1, ng - 1, &arena);
			assert_reads_as_scan(p[k], probe[q], ptrs, 2, 2, &arena);
		}
	}

	/* Absent keys: a format-2 part answers from the set without reading a
	 * block; a format-1 part has to scan (which is what the counter sees). */
	const char *absent[] = {"missing", "$process_person_profile", "badk", "arrk", "nul"};
	for (size_t q = 0; q < SN_ARRAY_LEN(absent); q++) {
		for (int k = 0; k < 4; k++) {
			struct sn_colvec v;
			struct sn_err err = {0};
			uint64_t before = blocks_read(p[k]);
			assert_int_equal(
			    sn_part_read_property(p[k], absent[q], 0, ng, &arena, &v, &err), 0);
			assert_int_equal(v.nrows, n);
			for (size_t i = 0; i < n; i++)
				assert_true(v.nulls[i]);
			if (k < 2) {
				assert_false(sn_part_may_have_property(p[k], absent[q]));
				assert_int_equal(blocks_read(p[k]), before);
			} else {
				assert_true(sn_part_may_have_property(p[k], absent[q]));
				assert_true(blocks_read(p[k]) >= before + ng);
			}
		}
	}
	/* A key in the set, or shredded, still reads its blocks. */
	const char *present[] = {"rare", "esc", "n", "$browser", ""};
	for (size_t q = 0; q < SN_ARRAY_LEN(present); q++) {
		for (int k = 0; k < 4; k++) {
			struct sn_colvec v;
			struct sn_err err = {0};
			uint64_t before = blocks_read(p[k]);
			assert_true(sn_part_may_have_property(p[k], present[q]));
			assert_int_equal(
			    sn_part_read_property(p[k], present[q], 0, ng, &arena, &v, &err), 0);
			assert_true(blocks_read(p[k]) > before);
		}
	}
	/* The fast path checks its granule range like a read does. */
	struct sn_colvec v;
	struct sn_err err = {0};
	assert_int_equal(sn_part_read_property(p[0], "missing", 0, ng + 1, &arena, &v, &err),
			 SN_ERR_INVALID);
	assert_int_equal(sn_part_read_property(p[0], "missing", 2, 1, &arena, &v, &err),
			 SN_ERR_INVALID);
	struct sn_arena tiny;
	sn_arena_init(&tiny, 1024);
	assert_int_equal(sn_part_read_property(p[0], "missing", 0, ng, &tiny, &v, &err),
			 SN_ERR_NOMEM);
	sn_arena_release(&tiny);
	/* Whole objects are untouched by the set. */
	for (int k = 0; k < 4; k++) {
		assert_int_equal(sn_part_read_properties(p[k], 0, ng, &arena, &v, &err), 0);
		for (size_t i = 0; i < n; i++)
			assert_true(str_eq(v.str[i], rows[i].properties));
		sn_part_unref(p[k]);
	}
	/* The writer refuses a format it does not know, and leaves no file. */
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/v3.snp", dir);
	struct sn_part_write_opts v3 = {.format_version = SN_PART_VERSION + 1};
	assert_int_equal(sn_part_write(path, ptrs, n, &v3, NULL, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "format version"));
	assert_int_equal(access(path, F_OK), -1);
	sn_arena_release(&arena);
	free(rows);
	free(ptrs);
	sn_test_rm_rf(dir);
}

/* The caps: at most SN_PART_KEYSET_MAX_KEYS keys and SN_PART_KEYSET_MAX_BYTES
 * bytes of names are recorded; one more makes the set unknown, and reads
 * then scan. Collected by two threads over many granules, the set is the
 * same as one thread's. */
static void test_residual_keys_caps(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	size_t nmax = SN_PART_KEYSET_MAX_KEYS, n = nmax + 2;
	struct sn_event_row *rows = calloc(n, sizeof(*rows));
	const struct sn_event_row **ptrs = calloc(n, sizeof(*ptrs));
	char(*buf)[32] = calloc(n, sizeof(*buf));
	plain_rows(rows, ptrs, n);
	/* Row i holds key k<i> beside a key common enough to be shredded, so the
	 * k<i> are the residual; the last row is invalid JSON with one more key. */
	for (size_t i = 0; i < n; i++) {
		int l = i + 1 < n
			    ? snprintf(buf[i], sizeof(buf[i]), "{\"c\":1,\"k%05zu\":%zu}", i, i)
			    : snprintf(buf[i], sizeof(buf[i]), "{\"c\":1,\"zz\":1,");
		rows[i].properties = (struct sn_str){buf[i], (size_t)l};
	}
	struct sn_write_pool *pool = NULL;
	struct sn_err err = {0};
	assert_int_equal(sn_write_pool_new(&pool, 2, &err), 0);
	struct sn_part_write_opts one = {.granule_rows = 64, .no_fsync = true},
				  two = {.granule_rows = 64, .no_fsync = true, .pool = pool};
	struct sn_arena arena;
	sn_arena_init(&arena, 0);

	/* nmax keys (rows 0 .. nmax-1) and the invalid row: known, exactly them. */
	const struct sn_event_row **at_cap = calloc(nmax + 1, sizeof(*at_cap));
	memcpy(at_cap, ptrs, nmax * sizeof(*ptrs));
	at_cap[nmax] = ptrs[n - 1];
	struct sn_part *a = write_and_open(dir, "cap1.snp", at_cap, nmax + 1, &one);
	struct sn_part *b = write_and_open(dir, "cap2.snp", at_cap, nmax + 1, &two);
	assert_true(sn_part_find_column(a, "p:c") >= 0);
	const struct sn_str *keys;
	size_t nkeys;
	assert_true(sn_part_residual_keys(a, &keys, &nkeys));
	assert_int_equal(nkeys, nmax);
	for (size_t i = 0; i < nmax; i++) {
		char want[16];
		snprintf(want, sizeof(want), "k%05zu", i);
		assert_true(str_eq(keys[i], (struct sn_str){want, strlen(want)}));
	}
	assert_false(sn_part_may_have_property(a, "zz"));
	assert_false(sn_part_may_have_property(a, "nope"));
	assert_true(sn_part_may_have_property(a, "k00007"));
	assert_true(sn_part_may_have_property(a, "c"));
	/* Two threads, same bytes. */
	char pa[PATH_MAX + 16], pb[PATH_MAX + 16];
	snprintf(pa, sizeof(pa), "%s/cap1.snp", dir);
	snprintf(pb, sizeof(pb), "%s/cap2.snp", dir);
	size_t la, lb;
	char *ba = read_file(pa, &la), *bb = read_file(pb, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(ba, bb, la);
	free(ba);
	free(bb);
	size_t ng = sn_part_ngranules(a);
	const char *probe[] = {"k00000", "k04095", "zz", "nope", "c"};
	for (size_t q = 0; q < SN_ARRAY_LEN(probe); q++)
		assert_reads_as_scan(a, probe[q], at_cap, 0, ng, &arena);
	sn_part_unref(a);
	sn_part_unref(b);

	/* One key more: unknown, for one thread or two, and reads scan. */
	for (int t = 0; t < 2; t++) {
		struct sn_part *p =
		    write_and_open(dir, t ? "over2.snp" : "over1.snp", ptrs, n, t ? &two : &one);
		assert_false(sn_part_residual_keys(p, &keys, &nkeys));
		assert_true(sn_part_may_have_property(p, "nope"));
		uint64_t before = blocks_read(p);
		for (size_t q = 0; q < SN_ARRAY_LEN(probe); q++)
			assert_reads_as_scan(p, probe[q], ptrs, 0, sn_part_ngranules(p), &arena);
		assert_true(blocks_read(p) > before);
		sn_part_unref(p);
	}

	/* Bytes: 15 names of 4000 bytes and one of 5535 fill the cap exactly;
	 * one byte more is unknown. Names this long are never shredded, and
	 * this part is not shredded at all. */
	size_t nl = 16;
	char **texts = calloc(nl, sizeof(*texts));
	for (int extra = 0; extra < 2; extra++) {
		size_t total = 0;
		for (size_t i = 0; i < nl; i++) {
			size_t kl = i + 1 < nl ? 4000 : 5535 + (size_t)extra;
			total += kl;
			texts[i] = malloc(kl + 16);
			memset(texts[i], 'a' + (int)i, kl + 16);
			texts[i][0] = '{';
			texts[i][1] = '"';
			memcpy(texts[i] + 2 + kl, "\":1}", 4);
			rows[i].properties = (struct sn_str){texts[i], kl + 6};
		}
		assert_int_equal(total, SN_PART_KEYSET_MAX_BYTES + (size_t)extra);
		struct sn_part_write_opts w = {.no_fsync = true, .no_shred = true};
		struct sn_part *p =
		    write_and_open(dir, extra ? "bytes2.snp" : "bytes1.snp", ptrs, nl, &w);
		assert_int_equal(sn_part_residual_keys(p, &keys, &nkeys), !extra);
		if (!extra) {
			assert_int_equal(nkeys, nl);
			assert_int_equal(keys[0].len, 4000);
			assert_int_equal(keys[nl - 1].len, 5535);
		}
		assert_reads_as_scan(p, "aaaa", ptrs, 0, 1, &arena);
		sn_part_unref(p);
		for (size_t i = 0; i < nl; i++)
			free(texts[i]);
	}
	free(texts);
	sn_write_pool_free(pool);
	sn_arena_release(&arena);
	free(at_cap);
	free(buf);
	free(rows);
	free(ptrs);
	sn_test_rm_rf(dir);
}

/* A little-endian byte string under construction. */
struct bytes {
	uint8_t b[256];
	size_t n;
};
static void put16(struct bytes *x, uint16_t v)
{
	x->b[x->n++] = (uint8_t)v;
	x->b[x->n++] = (uint8_t)(v >> 8);
}
static void put32(struct bytes *x, uint32_t v)
{
	sn_put_u32(x->b + x->n, v);
	x->n += 4;
}
static void putname(struct bytes *x, const char *s)
{
	put16(x, (uint16_t)strlen(s));
	memcpy(x->b + x->n, s, strlen(s));
	x->n += strlen(s);
}
/* A residual key section: tag, length and a body of count + names. */
static void putkeys(struct bytes *x, uint32_t count, const char *const *names, size_t n)
{
	struct bytes body = {.n = 0};
	put32(&body, count);
	for (size_t i = 0; i < n; i++)
		putname(&body, names[i]);
	put16(x, SN_META_SECTION_RESIDUAL_KEYS);
	put32(x, (uint32_t)body.n);
	memcpy(x->b + x->n, body.b, body.n);
	x->n += body.n;
}

/* Writes src to dst with the last tail_len bytes of its metadata replaced by
 * tail, and the trailer's length and checksums made to match. */
static void replace_meta_tail(const char *src, const char *dst, size_t tail_len,
			      const struct bytes *tail)
{
	size_t len;
	char *b = read_file(src, &len);
	const uint8_t *t = (const uint8_t *)b + len - SN_PART_TRAILER_SIZE;
	uint64_t off = sn_get_u64(t), mlen = sn_get_u64(t + 8);
	assert_true(mlen >= tail_len);
	size_t keep = (size_t)(off + mlen - tail_len), nmeta = (size_t)mlen - tail_len + tail->n;
	char *o = malloc(keep + tail->n + SN_PART_TRAILER_SIZE);
	memcpy(o, b, keep);
	memcpy(o + keep, tail->b, tail->n);
	uint8_t *nt = (uint8_t *)o + keep + tail->n;
	memcpy(nt, t, SN_PART_TRAILER_SIZE);
	sn_put_u64(nt + 8, nmeta);
	sn_put_u32(nt + 16, sn_crc32(0, o + off, nmeta));
	sn_put_u32(nt + 28, sn_crc32(0, nt, 28));
	write_file(dst, o, keep + tail->n + SN_PART_TRAILER_SIZE);
	free(o);
	free(b);
}

/* The residual key section on disk: its exact bytes, what the reader
 * refuses (SN_ERR_CORRUPT, with every checksum valid so only the parser can
 * object) and what it accepts; and the frame of format 1 has no room for it. */
static void test_residual_keys_format(void **state)
{
	(void)state;
	char dir[PATH_MAX], w2[PATH_MAX + 16], w1[PATH_MAX + 16], bad[PATH_MAX + 16];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	snprintf(w2, sizeof(w2), "%s/w2.snp", dir);
	snprintf(w1, sizeof(w1), "%s/w1.snp", dir);
	snprintf(bad, sizeof(bad), "%s/bad.snp", dir);
	struct sn_event_row rows[40];
	const struct sn_event_row *ptrs[40];
	plain_rows(rows, ptrs, 40);
	for (size_t i = 0; i < 40; i++)
		rows[i].properties = i % 2 ? S("{\"b\":2}") : S("{\"a\":1}");
	struct sn_err err = {0};
	/* format 3: the sections, and the int64 blocks of format 1 (4 changes them) */
	struct sn_part_write_opts
	    o2 = {.no_fsync = true, .no_shred = true, .granule_rows = 16, .format_version = 3},
	    o1 = {.no_fsync = true, .no_shred = true, .granule_rows = 16, .format_version = 1};
	assert_int_equal(sn_part_write(w2, ptrs, 40, &o2, NULL, &err), 0);
	assert_int_equal(sn_part_write(w1, ptrs, 40, &o1, NULL, &err), 0);

	/* The metadata ends with: 2 sections; tag 1, 10 bytes: 2 names, "a",
	 * "b"; tag 2, a byte per block (what the reader says of them). */
	const char *ab[] = {"a", "b"}, *ba[] = {"b", "a"}, *aa[] = {"a", "a"};
	struct bytes want = {.n = 0};
	put32(&want, 2);
	putkeys(&want, 2, ab, 2);
	assert_int_equal(want.n, 20);
	struct sn_part *wp = NULL;
	assert_int_equal(sn_part_open(w2, &wp, &err), 0);
	size_t nblk = sn_part_ncolumns(wp) * sn_part_ngranules(wp);
	assert_true(nblk < sizeof(want.b) - want.n - 6);
	put16(&want, SN_META_SECTION_BLOCK_NULLS);
	put32(&want, (uint32_t)nblk);
	for (size_t c = 0; c < sn_part_ncolumns(wp); c++)
		for (size_t g = 0; g < sn_part_ngranules(wp); g++)
			want.b[want.n++] = (uint8_t)sn_part_block_nulls(wp, c, g);
	sn_part_unref(wp);
	size_t len;
	char *file = read_file(w2, &len);
	assert_memory_equal(file + len - SN_PART_TRAILER_SIZE - want.n, want.b, want.n);
	free(file);
	/* Format 1 is the same file without the sections. */
	size_t len1;
	file = read_file(w1, &len1);
	assert_int_equal(len1, len - want.n);
	free(file);

	struct {
		const char *what;
		int rc;
	} cases[] = {
	    {"unsorted", SN_ERR_CORRUPT},
	    {"duplicate", SN_ERR_CORRUPT},
	    {"count too big", SN_ERR_CORRUPT},
	    {"count too small", SN_ERR_CORRUPT},
	    {"two sets", SN_ERR_CORRUPT},
	    {"length past the end", SN_ERR_CORRUPT},
	    {"bytes after", SN_ERR_CORRUPT},
	    {"section count", SN_ERR_CORRUPT},
	    {"no sections", 0},
	    {"unknown tag", 0},
	    {"empty set", 0},
	    {"empty name", 0},
	    {"count past the body", SN_ERR_CORRUPT},
	};
	for (size_t c = 0; c < SN_ARRAY_LEN(cases); c++) {
		struct bytes t = {.n = 0};
		const char *empty[] = {""};
		switch (c) {
		case 0:
			put32(&t, 1);
			putkeys(&t, 2, ba, 2);
			break;
		case 1:
			put32(&t, 1);
			putkeys(&t, 2, aa, 2);
			break;
		case 2:
			put32(&t, 1);
			putkeys(&t, 3, ab, 2);
			break;
		case 3:
			put32(&t, 1);
			putkeys(&t, 1, ab, 2);
			break;
		case 4:
			put32(&t, 2);
			putkeys(&t, 2, ab, 2);
			putkeys(&t, 2, ab, 2);
			break;
		case 5:
			put32(&t, 1);
			put16(&t, SN_META_SECTION_RESIDUAL_KEYS);
			put32(&t, 1000);
			put32(&t, 0);
			break;
		case 6:
			put32(&t, 1);
			putkeys(&t, 2, ab, 2);
			t.b[t.n++] = 0;
			break;
		case 7: put32(&t, UINT32_MAX); break;
		case 8: put32(&t, 0); break;
		case 9:
			put32(&t, 2);
			put16(&t, 77);
			put32(&t, 3);
			memcpy(t.b + t.n, "xyz", 3);
			t.n += 3;
			putkeys(&t, 2, ab, 2);
			break;
		case 10:
			put32(&t, 1);
			putkeys(&t, 0, NULL, 0);
			break;
		case 11:
			put32(&t, 1);
			putkeys(&t, 1, empty, 1);
			break;
		case 12:
			put32(&t, 1);
			put16(&t, SN_META_SECTION_RESIDUAL_KEYS);
			put32(&t, 4);
			put32(&t, 1u << 30);
			break;
		}
		replace_meta_tail(w2, bad, want.n, &t);
		struct sn_part *p = NULL;
		int rc = sn_part_open(bad, &p, &err);
		if (rc != cases[c].rc)
			fail_msg("%s: rc %d (%s)", cases[c].what, rc, rc ? err.msg : "");
		if (rc) {
			assert_non_null(strstr(err.msg, "corrupt metadata"));
			continue;
		}
		const struct sn_str *keys;
		size_t nkeys;
		bool known = sn_part_residual_keys(p, &keys, &nkeys);
		assert_int_equal(known, c != 8);
		assert_int_equal(nkeys, c == 8 || c == 10 ? 0 : c == 11 ? 1 : 2);
		assert_int_equal(sn_part_may_have_property(p, "a"), c != 10 && c != 11);
		assert_int_equal(sn_part_may_have_property(p, ""), c != 9 && c != 10);
		assert_true(sn_part_may_have_property(p, "zz") == (c == 8));
		sn_part_unref(p);
	}

	/* `snout store verify` finds a set that lacks a key the rows have (such a
	 * key would read as NULL), and passes the set as written. */
	char vdir[PATH_MAX + 16], vpart[PATH_MAX + 32];
	const char *only_a[] = {"a"};
	struct bytes lacking = {.n = 0};
	put32(&lacking, 1);
	putkeys(&lacking, 1, only_a, 1);
	snprintf(vdir, sizeof(vdir), "%s/v", dir);
	snprintf(vpart, sizeof(vpart), "%s/202410_0000000000000001.snp", vdir);
	assert_int_equal(sn_mkdir_p(vdir, &err), 0);
	struct sn_buf rep;
	sn_buf_init(&rep, 0);
	uint64_t vparts, vrows, problems;
	for (int k = 0; k < 2; k++) {
		if (k)
			replace_meta_tail(w2, vpart, want.n, &lacking);
		else
			replace_meta_tail(w2, vpart, want.n, &want);
		sn_buf_reset(&rep);
		assert_int_equal(sn_store_verify(vdir, &rep, &vparts, &vrows, &problems, &err), 0);
		assert_int_equal(vparts, 1);
		assert_int_equal(problems, (uint64_t)k);
		if (k)
			assert_non_null(strstr(rep.data, "residual key \"b\" is missing"));
	}
	sn_buf_release(&rep);

	/* A format-1 part has nothing after its column directory. */
	struct bytes t = {.n = 0};
	put32(&t, 0);
	replace_meta_tail(w1, bad, 0, &t);
	struct sn_part *p = NULL;
	assert_int_equal(sn_part_open(bad, &p, &err), SN_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "trailing bytes after the column directory"));
	/* And the format-1 part as written reads like the format-2 one. */
	struct sn_part *p1 = NULL, *p2 = NULL;
	assert_int_equal(sn_part_open(w1, &p1, &err), 0);
	assert_int_equal(sn_part_open(w2, &p2, &err), 0);
	struct sn_arena arena;
	sn_arena_init(&arena, 0);
	const char *probe[] = {"a", "b", "c"};
	for (size_t q = 0; q < SN_ARRAY_LEN(probe); q++) {
		assert_reads_as_scan(p1, probe[q], ptrs, 0, 3, &arena);
		assert_reads_as_scan(p2, probe[q], ptrs, 0, 3, &arena);
	}
	assert_true(sn_part_may_have_property(p1, "c"));
	assert_false(sn_part_may_have_property(p2, "c"));
	sn_arena_release(&arena);
	sn_part_unref(p1);
	sn_part_unref(p2);

	/* The oldest seed of the fuzz corpus predates the set: version 1, unknown. */
	const char *data = getenv("SNOUT_TEST_DATA");
	char seed[PATH_MAX + 64], old[PATH_MAX + 32];
	snprintf(seed, sizeof(seed), "%s/../fuzz/corpus/fuzz_part/tiny-asis.snp",
		 data ? data : "tests/data");
	snprintf(old, sizeof(old), "%s/old.snp", dir);
	char *sb = read_file(seed, &len);
	write_file(old, sb + 1, len - 1); /* byte 0 is the fuzz target's mode */
	free(sb);
	assert_int_equal(sn_part_open(old, &p, &err), 0);
	assert_int_equal(sn_part_version(p), 1);
	const struct sn_str *keys;
	size_t nkeys;
	assert_false(sn_part_residual_keys(p, &keys, &nkeys));
	assert_true(sn_part_may_have_property(p, "anything"));
	sn_part_unref(p);
	sn_test_rm_rf(dir);
}

/* Writes the fuzz seed parts when SNOUT_STORE_WRITE_SEEDS names a directory. */
/* The block-nulls section: what it says of each block (none, some, every
 * row NULL), the reads it spares (a key no row of the range has costs no
 * block, rows that were all shredded cost no layout block), the same values
 * as a part without shredding, UNKNOWN for format 1, and a section that
 * lies or is malformed refused. */
static void test_block_nulls(void **state)
{
	(void)state;
	enum { G = 64, N = 4 * G };
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_event_row rows[N];
	const struct sn_event_row *ptrs[N];
	plain_rows(rows, ptrs, N);
	for (size_t i = 0; i < N; i++) {
		size_t g = i / G;
		rows[i].properties = g == 0	       ? S("{\"k\":\"v\",\"p\":1}")
				     : g == 1 && i % 2 ? S("{\"k\":\"v\",\"p\":2}")
				     : g == 3 && i % 8 == 0
					 ? S("{\"k\":\"a\",\"k\":\"b\",\"p\":3}") /* stays whole */
					 : S("{\"k\":\"v\"}");
	}
	struct sn_part_write_opts os = {.granule_rows = G, .no_fsync = true},
				  ow = {.granule_rows = G, .no_fsync = true, .no_shred = true},
				  o1 = {.granule_rows = G, .no_fsync = true, .format_version = 1};
	struct sn_part *ps = write_and_open(dir, "s.snp", ptrs, N, &os);
	struct sn_part *pw = write_and_open(dir, "w.snp", ptrs, N, &ow);
	struct sn_part *p1 = write_and_open(dir, "s1.snp", ptrs, N, &o1);
	int kc = sn_part_find_column(ps, "p:p"), lc = sn_part_find_column(ps, "p:@layout");
	int tc = sn_part_find_column(ps, "timestamp");
	assert_true(kc >= 0 && lc >= 0 && tc >= 0);
	/* granule 3: p only in rows left whole, so not in p:p */
	const enum sn_bnulls key_want[4] = {SN_BNULLS_NONE, SN_BNULLS_SOME, SN_BNULLS_ALL,
					    SN_BNULLS_ALL};
	for (size_t g = 0; g < 4; g++) {
		assert_int_equal(sn_part_block_nulls(ps, (size_t)kc, g), key_want[g]);
		assert_int_equal(sn_part_block_nulls(ps, (size_t)lc, g),
				 g == 3 ? SN_BNULLS_SOME : SN_BNULLS_NONE);
		assert_int_equal(sn_part_block_nulls(ps, (size_t)tc, g), SN_BNULLS_NONE);
		assert_int_equal(sn_part_block_nulls(p1, (size_t)kc, g), SN_BNULLS_UNKNOWN);
	}
	assert_int_equal(sn_part_block_nulls(ps, (size_t)kc, 4), SN_BNULLS_UNKNOWN);

	/* Blocks read per granule range: [2,3) none, [0,2) only p:p, [3,4) the
	 * layout and the residual, [0,4) all three but p:p's all-NULL blocks
	 * (granule 3 has rows left whole); the values as the unshredded part's. */
	struct {
		size_t gb, ge;
		uint64_t blocks;
	} reads[] = {{2, 3, 0}, {0, 2, 2}, {3, 4, 2}, {0, 4, 10}};
	struct sn_arena arena;
	sn_arena_init(&arena, 0);
	for (size_t r = 0; r < SN_ARRAY_LEN(reads); r++) {
		struct sn_part_read_stats before, after;
		struct sn_colvec a, b;
		struct sn_err err = {0};
		sn_part_get_read_stats(ps, &before);
		assert_int_equal(
		    sn_part_read_property(ps, "p", reads[r].gb, reads[r].ge, &arena, &a, &err), 0);
		sn_part_get_read_stats(ps, &after);
		assert_int_equal(after.blocks_read - before.blocks_read, reads[r].blocks);
		assert_int_equal(
		    sn_part_read_property(pw, "p", reads[r].gb, reads[r].ge, &arena, &b, &err), 0);
		assert_coded_same(ps, "p", -1, reads[r].gb, reads[r].ge, NULL, &arena);
		assert_coded_same(pw, "p", -1, reads[r].gb, reads[r].ge, NULL, &arena);
		assert_int_equal(a.nrows, b.nrows);
		for (size_t i = 0; i < a.nrows; i++) {
			bool an = a.nulls && a.nulls[i], bn = b.nulls && b.nulls[i];
			assert_int_equal(an, bn);
			if (!an) {
				assert_int_equal(a.str[i].len, b.str[i].len);
				assert_memory_equal(a.str[i].p, b.str[i].p, a.str[i].len);
			}
		}
	}
	/* Only granules 0 and 3 needed: p:p's granule 0 (3 is all NULL), and the
	 * layout and residual of those two; their rows as a full read's. */
	{
		static const uint8_t need[4] = {1, 0, 0, 1};
		struct sn_part_read_stats before, after;
		struct sn_colvec a, b;
		struct sn_err err = {0};
		sn_part_get_read_stats(ps, &before);
		assert_int_equal(sn_part_read_property_some(ps, "p", 0, 4, need, &arena, &a, &err),
				 0);
		sn_part_get_read_stats(ps, &after);
		assert_int_equal(after.blocks_read - before.blocks_read, 5);
		assert_coded_same(ps, "p", -1, 0, 4, need, &arena);
		assert_coded_same(pw, "p", -1, 0, 4, need, &arena);
		/* granules 0 and 1 read k's own column: an entry per block's
		 * dictionary entry ("v"), and entry 0 */
		assert_int_equal(assert_coded_same(ps, "k", -1, 0, 2, NULL, &arena), 3);
		assert_int_equal(assert_coded_same(pw, "k", -1, 0, 2, NULL, &arena), 2 * G + 1);
		assert_int_equal(sn_part_read_property(pw, "p", 0, 4, &arena, &b, &err), 0);
		assert_int_equal(a.nrows, N);
		for (size_t i = 0; i < N; i++) {
			if (!need[i / G])
				continue;
			bool an = a.nulls && a.nulls[i], bn = b.nulls && b.nulls[i];
			assert_int_equal(an, bn);
			if (!an) {
				assert_int_equal(a.str[i].len, b.str[i].len);
				assert_memory_equal(a.str[i].p, b.str[i].p, a.str[i].len);
			}
		}
		/* and a column read: granule 1 of timestamp skipped, 0 read */
		sn_part_get_read_stats(ps, &before);
		static const uint8_t need1[2] = {1, 0};
		assert_int_equal(
		    sn_part_read_column_some(ps, (size_t)tc, 0, 2, need1, &arena, &a, &err), 0);
		sn_part_get_read_stats(ps, &after);
		assert_int_equal(after.blocks_read - before.blocks_read, 1);
		assert_null(a.nulls);
		assert_int_equal(a.i64[0], rows[0].timestamp_us);
		assert_int_equal(a.i64[G], 0);
	}
	sn_arena_release(&arena);

	/* A section that says "no NULL" of granule 1 of p:p (which has some) is
	 * caught when the block is decoded; bad sizes and entries at open. */
	char src[PATH_MAX + 16], bad[PATH_MAX + 16];
	snprintf(src, sizeof(src), "%s/s.snp", dir);
	snprintf(bad, sizeof(bad), "%s/bad.snp", dir);
	size_t nblk = sn_part_ncolumns(ps) * sn_part_ngranules(ps);
	size_t ngr = sn_part_ngranules(ps);
	uint8_t *sec = malloc(nblk);
	for (size_t c = 0; c < sn_part_ncolumns(ps); c++)
		for (size_t g = 0; g < ngr; g++)
			sec[c * ngr + g] = (uint8_t)sn_part_block_nulls(ps, c, g);
	for (int k = 0; k < 5; k++) {
		struct bytes t = {.n = 0};
		size_t len = nblk - (k == 1);
		put16(&t, SN_META_SECTION_BLOCK_NULLS);
		put32(&t, (uint32_t)len);
		assert_true(t.n + len <= sizeof(t.b));
		memcpy(t.b + t.n, sec, len);
		uint8_t *e = t.b + t.n;
		t.n += len;
		if (k == 0)
			e[(size_t)kc * ngr + 1] = SN_BNULLS_NONE; /* a lie */
		else if (k == 2)
			e[(size_t)kc * ngr + 1] = 3; /* out of range */
		else if (k == 3)
			e[(size_t)tc * ngr] = SN_BNULLS_SOME; /* NULLs in timestamp */
		else if (k == 4)
			e[(size_t)kc * ngr + 1] =
			    SN_BNULLS_ALL; /* "all NULL" of a half-full block */
		replace_meta_tail(src, bad, 6 + nblk, &t);
		struct sn_part *p = NULL;
		struct sn_err err = {0};
		int rc = sn_part_open(bad, &p, &err);
		if (k == 1 || k == 2 || k == 3) {
			assert_int_equal(rc, SN_ERR_CORRUPT);
			assert_non_null(strstr(err.msg, "block-nulls"));
			continue;
		}
		assert_int_equal(rc, 0);
		struct sn_colvec v;
		sn_arena_init(&arena, 0);
		if (k == 4) { /* a query's read trusts "all NULL"; verify's decodes */
			assert_int_equal(sn_part_read_column(p, (size_t)kc, 0, 2, &arena, &v, &err),
					 0);
			assert_true(v.nulls[G] && v.nulls[G + 1]);
			sn_part_decode_all(p);
			/* and `snout store verify` reports it */
			char vdir[PATH_MAX + 16], vpart[PATH_MAX + 32];
			snprintf(vdir, sizeof(vdir), "%s/v", dir);
			snprintf(vpart, sizeof(vpart), "%s/202410_0000000000000001.snp", vdir);
			assert_int_equal(sn_mkdir_p(vdir, &err), 0);
			replace_meta_tail(src, vpart, 6 + nblk, &t);
			struct sn_buf rep;
			sn_buf_init(&rep, 0);
			uint64_t vparts, vrows, problems;
			assert_int_equal(
			    sn_store_verify(vdir, &rep, &vparts, &vrows, &problems, &err), 0);
			assert_int_equal(problems, 1);
			assert_non_null(strstr(rep.data, "malformed block"));
			sn_buf_release(&rep);
		}
		rc = sn_part_read_column(p, (size_t)kc, 0, 2, &arena, &v, &err);
		assert_int_equal(rc, SN_ERR_CORRUPT);
		assert_non_null(strstr(err.msg, "malformed block"));
		sn_arena_release(&arena);
		sn_part_unref(p);
	}
	free(sec);
	sn_part_unref(ps);
	sn_part_unref(pw);
	sn_part_unref(p1);
}

static void test_fuzz_seeds(void **state)
{
	(void)state;
	const char *out = getenv("SNOUT_STORE_WRITE_SEEDS");
	char dir[PATH_MAX], path[PATH_MAX], dst[PATH_MAX + 32];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	const struct {
		size_t n;
		uint32_t g;
		enum sn_codec codec;
		const char *name;
	} seeds[] = {{3, 2, SN_CODEC_DEFAULT, "tiny.snp"},
		     {40, 16, SN_CODEC_LZ4, "lz4.snp"},
		     {25, 8, SN_CODEC_NONE, "plain.snp"}};
	for (size_t i = 0; i < SN_ARRAY_LEN(seeds); i++) {
		write_small_part(dir, seeds[i].n, seeds[i].g, seeds[i].codec, path, sizeof(path),
				 NULL);
		struct sn_err err = {0};
		assert_int_equal(open_and_read_all(path, &err), 0);
		if (out && *out) {
			size_t len;
			char *b = read_file(path, &len);
			snprintf(dst, sizeof(dst), "%s/%s", out, seeds[i].name);
			write_file(dst, b, len);
			free(b);
		}
		unlink(path);
	}
	/* A shredded part with a residual key set: rare, escaped and duplicate
	 * keys, whitespace and non-objects (random_props). */
	struct sn_event_row rows[48];
	const struct sn_event_row *ptrs[48];
	char bufs[48][512];
	plain_rows(rows, ptrs, 48);
	for (size_t i = 0; i < 48; i++)
		random_props(bufs[i], sizeof(bufs[i]), &rows[i].properties);
	struct sn_part_write_opts o = {.granule_rows = 16, .no_fsync = true};
	struct sn_part *p = write_and_open(dir, "keys.snp", ptrs, 48, &o);
	const struct sn_str *keys;
	size_t nkeys;
	assert_true(sn_part_residual_keys(p, &keys, &nkeys));
	assert_true(nkeys > 0);
	sn_part_unref(p);
	snprintf(path, sizeof(path), "%s/keys.snp", dir);
	struct sn_err err = {0};
	assert_int_equal(open_and_read_all(path, &err), 0);
	if (out && *out) {
		size_t len;
		char *b = read_file(path, &len);
		snprintf(dst, sizeof(dst), "%s/keys.snp", out);
		write_file(dst, b, len);
		free(b);
	}
	sn_test_rm_rf(dir);
}

/* snout store stats / verify over a directory of parts. */
static void test_inspect(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	write_small_part(dir, 3000, 512, SN_CODEC_DEFAULT, path, sizeof(path), NULL);
	struct sn_buf rep, stats;
	sn_buf_init(&rep, 0);
	sn_buf_init(&stats, 0);
	uint64_t parts, rows, problems;
	assert_int_equal(sn_store_verify(dir, &rep, &parts, &rows, &problems, NULL), 0);
	assert_int_equal(parts, 1);
	assert_int_equal(rows, 3000);
	assert_int_equal(problems, 0);
	assert_int_equal(sn_store_stats_json(dir, &stats, NULL), 0);
	struct json_object *o;
	assert_int_equal(sn_json_parse(stats.data, stats.len, &o, NULL), 0);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "rows")), 3000);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "parts")), 1);
	assert_true(json_object_array_length(json_object_object_get(o, "columns")) >= 11);
	struct json_object *ks = json_object_object_get(o, "residual_key_sets");
	assert_int_equal(json_object_get_int64(json_object_object_get(ks, "parts_known")), 1);
	assert_int_equal(json_object_get_int64(json_object_object_get(ks, "parts_unknown")), 0);
	json_object_put(o);

	/* A flipped byte in the middle of the column data is found. */
	size_t len;
	char *bytes = read_file(path, &len);
	bytes[len / 3] ^= 0x5a;
	write_file(path, bytes, len);
	free(bytes);
	sn_buf_reset(&rep);
	assert_int_equal(sn_store_verify(dir, &rep, &parts, &rows, &problems, NULL), 0);
	assert_true(problems > 0);
	assert_non_null(strstr(rep.data, SN_PART_SUFFIX));

	/* A leftover temporary file is reported. */
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s/209901_0000000000000001.snp.tmp", dir);
	write_file(tmp, "x", 1);
	sn_buf_reset(&rep);
	uint64_t before = problems;
	assert_int_equal(sn_store_verify(dir, &rep, &parts, &rows, &problems, NULL), 0);
	assert_int_equal(problems, before + 1);
	assert_non_null(strstr(rep.data, "leftover temporary file"));
	sn_buf_release(&rep);
	sn_buf_release(&stats);
	/* A missing store is an empty one. */
	char none[PATH_MAX + 8];
	snprintf(none, sizeof(none), "%s/none", dir);
	assert_int_equal(sn_store_verify(none, NULL, &parts, &rows, &problems, NULL), 0);
	assert_int_equal(parts + rows + problems, 0);
	sn_test_rm_rf(dir);
}

/* ---- part set, snapshots, merges, deletion (partset.c, merge.c, delete.c) ------------- */

#define FID(lsn, nparts) (((uint64_t)(lsn) << SN_PART_ID_NPARTS_BITS) | (nparts))

/* A row of the maintenance tests: uuid byte u (team-unique), person byte pb. */
struct trow {
	int64_t team;
	uint8_t u;
	int64_t ts;
	const char *event;
	const char *props;
	uint8_t pb;
};

static void to_event_row(const struct trow *t, struct sn_event_row *r)
{
	memset(r, 0, sizeof(*r));
	r->uuid[0] = 0x42;
	r->uuid[15] = t->u;
	r->team_id = t->team;
	r->timestamp_us = t->ts;
	r->created_at_us = t->ts;
	r->event = (struct sn_str){t->event, strlen(t->event)};
	r->distinct_id = (struct sn_str){"did", 3};
	r->properties = (struct sn_str){t->props, strlen(t->props)};
	r->elements_chain = (struct sn_str){"", 0};
	r->person_id[0] = t->pb;
	if (t->pb)
		r->session_id = (struct sn_str){"sess", 4};
}

/* One ingest flush of rows as parts named by flush id `id`. */
static void flush_rows(const char *dir, uint64_t id, const struct trow *rows, size_t n, bool shred)
{
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	for (size_t i = 0; i < n; i++) {
		struct sn_event_row r;
		to_event_row(&rows[i], &r);
		assert_int_equal(sn_memtable_append(&mt, &r, &err), 0);
	}
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	struct sn_part_write_opts o = {.granule_rows = 4, .no_fsync = true, .no_shred = !shred};
	assert_int_equal(sn_memtable_flush(&mt, dir, id, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
}

/* Every row the store's current snapshot holds; props of uuid byte u of
 * team into out (when found), and the row count. */
static size_t store_rows(struct sn_store *st, int64_t team, uint8_t u, char *out, size_t outsz,
			 size_t *nfound)
{
	struct sn_store_snapshot *s = sn_store_snapshot_acquire(st);
	size_t total = 0;
	*nfound = 0;
	for (size_t i = 0; i < sn_store_snapshot_nparts(s); i++) {
		struct sn_arena a;
		sn_arena_init(&a, 1u << 28);
		struct sn_event_row *rows;
		size_t n;
		assert_int_equal(
		    sn_store_read_rows(sn_store_snapshot_part(s, i), &a, &rows, &n, NULL), 0);
		for (size_t j = 0; j < n; j++)
			if (rows[j].team_id == team && rows[j].uuid[15] == u) {
				(*nfound)++;
				if (out)
					snprintf(out, outsz, "%.*s", (int)rows[j].properties.len,
						 rows[j].properties.p);
			}
		total += n;
		sn_arena_release(&a);
	}
	sn_store_snapshot_release(s);
	return total;
}

static size_t count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;
	while (d && (de = readdir(d))) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);
		if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* Whether any file in dir contains needle (the `grep -r` of the tests). */
static bool dir_contains(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;
	while (d && (de = readdir(d)) && !found) {
		if (de->d_name[0] == '.')
			continue;
		char p[PATH_MAX];
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		struct stat sb;
		if (stat(p, &sb) || !S_ISREG(sb.st_mode) || sb.st_size == 0)
			continue;
		size_t len;
		char *b = read_file(p, &len);
		found = memmem(b, len, needle, strlen(needle)) != NULL;
		free(b);
	}
	if (d)
		closedir(d);
	return found;
}

static void verify_clean(const char *dir, uint64_t want_rows)
{
	struct sn_buf rep;
	sn_buf_init(&rep, 0);
	uint64_t parts, rows, problems;
	assert_int_equal(sn_store_verify(dir, &rep, &parts, &rows, &problems, NULL), 0);
	if (problems)
		fprintf(stderr, "%s", rep.data);
	assert_int_equal(problems, 0);
	assert_int_equal(rows, want_rows);
	sn_buf_release(&rep);
}

static void test_part_names(void **state)
{
	(void)state;
	struct sn_part_name n, m;
	char buf[64];
	assert_int_equal(sn_part_name_parse("202410_0000000000003002.snp", &n), 0);
	assert_int_equal(n.month, 202410);
	assert_int_equal(n.min_id, 0x3002);
	assert_int_equal(n.max_id, 0x3002);
	assert_int_equal(n.ver, 0);
	sn_part_name_format(&n, buf, sizeof(buf));
	assert_string_equal(buf, "202410_0000000000003002.snp");
	n = (struct sn_part_name){202411, 0x1001, 0x5001, 3, true};
	sn_part_name_format(&n, buf, sizeof(buf));
	assert_string_equal(buf, "202411_0000000000001001_0000000000005001_00000003.del");
	assert_int_equal(sn_part_name_parse(buf, &m), 0);
	assert_true(m.tombstone && m.min_id == 0x1001 && m.max_id == 0x5001 && m.ver == 3);
	/* Refused: bad hex, min > max, version 0 in the long form, other files. */
	assert_int_not_equal(sn_part_name_parse("202410_000000000000300g.snp", &n), 0);
	assert_int_not_equal(
	    sn_part_name_parse("202410_0000000000000009_0000000000000001_00000001.snp", &n), 0);
	assert_int_not_equal(
	    sn_part_name_parse("202410_0000000000000001_0000000000000009_00000000.snp", &n), 0);
	assert_int_not_equal(sn_part_name_parse("202410_0000000000003002.del", &n), 0);
	assert_int_not_equal(sn_part_name_parse("202410_0000000000003002.snp.tmp", &n), 0);
	/* Refused: a month the writer never names. */
	assert_int_not_equal(sn_part_name_parse("202413_0000000000003002.snp", &n), 0);
	assert_int_not_equal(sn_part_name_parse("202400_0000000000003002.snp", &n), 0);
	assert_int_equal(sn_part_name_parse("196912_0000000000003002.snp", &n), 0);
	assert_int_equal(sn_part_name_parse("000101_0000000000003002.snp", &n), 0);

	/* Supersession: a wider range or the same range at a higher version. */
	char *names[] = {
	    "202410_0000000000001001.snp",			     /* 0: in [1001,3001] */
	    "202410_0000000000002001.snp",			     /* 1: in [1001,3001] */
	    "202410_0000000000001001_0000000000003001_00000001.snp", /* 2: beaten by 3 */
	    "202410_0000000000001001_0000000000003001_00000002.del", /* 3: live */
	    "202410_0000000000004001.snp",			     /* 4: live */
	    "202411_0000000000002001.snp",			     /* 5: other month: live */
	    "foreign.snp",					     /* 6: not ours: dead */
	};
	bool live[7];
	assert_int_equal(sn_part_names_live(names, 7, live, NULL), 0);
	bool want[7] = {false, false, false, true, true, true, false};
	for (int i = 0; i < 7; i++)
		assert_int_equal(live[i], want[i]);
}

/* Event names longer than a sparse-index entry keeps (SN_GRANULE_EVENT_MAX
 * bytes): the entries hold the names cut, and verify takes the cut for the
 * writer's, not for damage, before and after a merge. Two names of 300
 * bytes alike in their first 299, one of exactly 256, one shorter. */
static void test_long_event_index(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	static char names[4][301];
	sn_test_long_event_names(names, SN_GRANULE_EVENT_MAX);
	struct trow rows[4 * 30];
	size_t n = 0;
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < 30; i++, n++)
			rows[n] =
			    (struct trow){1, (uint8_t)n, BASE_TS + (int64_t)n, names[k], "{}", 0};
	flush_rows(dir, FID(10, 1), rows, n / 2, false);
	flush_rows(dir, FID(20, 1), rows + n / 2, n - n / 2, true);
	verify_clean(dir, n);

	/* The entries of the long names' granules are the 256 bytes they share. */
	struct sn_store_snapshot *s;
	assert_int_equal(sn_store_snapshot_open_dir(dir, &s, NULL), 0);
	assert_int_equal(sn_store_snapshot_nparts(s), 2);
	size_t cut = 0;
	for (size_t i = 0; i < 2; i++) {
		struct sn_part *p = sn_store_snapshot_part(s, i);
		for (size_t g = 0; g < sn_part_ngranules(p); g++) {
			const struct sn_granule_info *gi = sn_part_granule(p, g);
			assert_true(gi->event.len <= SN_GRANULE_EVENT_MAX);
			if (gi->event.len == SN_GRANULE_EVENT_MAX) {
				assert_memory_equal(gi->event.p, names[1], SN_GRANULE_EVENT_MAX);
				cut++;
			}
		}
	}
	assert_true(cut >= 2 * 30 / 4);
	sn_store_snapshot_release(s);

	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	struct sn_store_merge_stats ms;
	assert_int_equal(sn_store_merge(st, true, &ms, NULL), 0);
	assert_int_equal(ms.merges, 1);
	sn_store_close(st);
	verify_clean(dir, n);
	sn_test_rm_rf(dir);
}

/* Copies src to dir/name. */
static void copy_file(const char *src, const char *dir, const char *name)
{
	char dst[PATH_MAX + 80];
	size_t len;
	char *b = read_file(src, &len);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	write_file(dst, b, len);
	free(b);
}

/* One rule decides which files of a store are parts (sn_part_name_parse):
 * copies of a part under names outside it are skipped alike by queries'
 * snapshots, the server's store, stats and verify, and left in place. A
 * copy under a valid name of another month is damage, named, everywhere. */
static void test_stray_part_names(void **state)
{
	(void)state;
	char dir[PATH_MAX], part[PATH_MAX + 80], name[64];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct trow rows[12];
	for (size_t i = 0; i < 12; i++)
		rows[i] = (struct trow){1, (uint8_t)i, BASE_TS + (int64_t)i, "e", "{}", 0};
	flush_rows(dir, FID(10, 1), rows, 12, true);
	struct sn_part_name pn = {.month = 202410, .min_id = FID(10, 1), .max_id = FID(10, 1)};
	sn_part_name_format(&pn, name, sizeof(name));
	snprintf(part, sizeof(part), "%s/%s", dir, name);
	assert_int_equal(access(part, F_OK), 0);
	char copy_of[96];
	snprintf(copy_of, sizeof(copy_of), "copy-of-%s", name);
	const char *strays[] = {
	    "notapart.snp",
	    ".hidden.snp",
	    copy_of,
	    "202413_0000000000000001.snp", /* month 13 */
	    "202400_0000000000000001.snp", /* month 0 */
	    "202413_0000000000000001_0000000000000002_00000001.snp",
	    "202410_000000000000000A.snp", /* not the writer's lowercase hex */
	    "202410_000000000000001.snp",  /* 15 digits */
	    "notes.tmpl",		   /* not a write's ".tmp": start-up keeps it */
	    "202410_0000000000000001.snp.tmp.bak",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(strays); i++) {
		struct sn_part_name x;
		assert_int_not_equal(sn_part_name_parse(strays[i], &x), 0);
		copy_file(part, dir, strays[i]);
	}
	bool live[SN_ARRAY_LEN(strays)];
	assert_int_equal(
	    sn_part_names_live((char *const *)strays, SN_ARRAY_LEN(strays), live, NULL), 0);
	for (size_t i = 0; i < SN_ARRAY_LEN(strays); i++)
		assert_false(live[i]);

	/* The reader (queries), the server's store, verify and stats: one part. */
	struct sn_store_snapshot *s;
	assert_int_equal(sn_store_snapshot_open_dir(dir, &s, NULL), 0);
	assert_int_equal(sn_store_snapshot_nparts(s), 1);
	assert_int_equal(sn_store_snapshot_nrows(s), 12);
	sn_store_snapshot_release(s);
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	s = sn_store_snapshot_acquire(st);
	assert_int_equal(sn_store_snapshot_nrows(s), 12);
	sn_store_snapshot_release(s);
	sn_store_close(st);
	verify_clean(dir, 12);
	uint64_t parts, nrows, problems;
	assert_int_equal(sn_store_verify(dir, NULL, &parts, &nrows, &problems, NULL), 0);
	assert_int_equal(parts, 1);
	struct sn_buf stats;
	sn_buf_init(&stats, 0);
	assert_int_equal(sn_store_stats_json(dir, &stats, NULL), 0);
	struct json_object *o;
	assert_int_equal(sn_json_parse(stats.data, stats.len, &o, NULL), 0);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "parts")), 1);
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "rows")), 12);
	json_object_put(o);
	/* Not ours: still there after the server's start-up cleanup. */
	assert_int_equal(count_files(dir, ".snp"), SN_ARRAY_LEN(strays) - 1);

	/* A copy under another month's valid name: the month in its metadata
	 * is not its name's. Queries, stats and verify refuse it by name. */
	pn = (struct sn_part_name){.month = 202411, .min_id = FID(20, 1), .max_id = FID(20, 1)};
	char other[64];
	sn_part_name_format(&pn, other, sizeof(other));
	copy_file(part, dir, other);
	struct sn_err err = {0};
	assert_int_equal(sn_store_snapshot_open_dir(dir, &s, &err), SN_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, other));
	assert_non_null(strstr(err.msg, "month"));
	sn_buf_reset(&stats);
	assert_int_equal(sn_store_stats_json(dir, &stats, &err), SN_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, other));
	struct sn_buf rep;
	sn_buf_init(&rep, 0);
	assert_int_equal(sn_store_verify(dir, &rep, &parts, &nrows, &problems, NULL), 0);
	assert_int_equal(parts, 2);
	assert_int_equal(problems, 1);
	assert_non_null(strstr(rep.data, other));
	sn_buf_release(&rep);
	sn_buf_release(&stats);
	sn_test_rm_rf(dir);
}

static void test_merge_dedup(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	int64_t t = BASE_TS + 3 * DAY_US;
	/* Three flushes of October; uuid 1 is in all three (the newest copy
	 * must win), uuid 2 twice in the first flush, uuid 9 in team 2 too. */
	struct trow f1[] = {{1, 1, t, "a", "{\"v\":\"old\"}", 0},
			    {1, 2, t + 1, "a", "{\"v\":\"x\"}", 0},
			    {1, 2, t + 1, "a", "{\"v\":\"x\"}", 0},
			    {1, 3, t + 2, "b", "{}", 0},
			    {1, 9, t + 3, "b", "{}", 0}};
	struct trow f2[] = {{1, 1, t + 50, "a", "{\"v\":\"mid\"}", 0},
			    {2, 9, t + 4, "b", "{}", 0},
			    {1, 4, t + 5, "c", "{}", 0}};
	struct trow f3[] = {{1, 1, t - 50, "z", "{\"v\":\"new\"}", 0},
			    {1, 5, t + DAY_US, "a", "{}", 0}};
	flush_rows(dir, FID(10, 1), f1, 5, true);
	flush_rows(dir, FID(20, 1), f2, 3, true);
	flush_rows(dir, FID(30, 1), f3, 2, true);
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	size_t nf;
	assert_int_equal(store_rows(st, 1, 1, NULL, 0, &nf), 10);
	assert_int_equal(nf, 3);
	/* A background merge needs merge_min_parts (4) parts: nothing yet. */
	struct sn_store_merge_stats ms;
	assert_int_equal(sn_store_merge(st, false, &ms, NULL), 0);
	assert_int_equal(ms.merges, 0);
	assert_int_equal(sn_store_merge(st, true, &ms, NULL), 0);
	assert_int_equal(ms.merges, 1);
	assert_int_equal(ms.parts_in, 3);
	assert_int_equal(ms.rows_in, 10);
	assert_int_equal(ms.dup_rows, 3);
	char props[256];
	assert_int_equal(store_rows(st, 1, 1, props, sizeof(props), &nf), 7);
	assert_int_equal(nf, 1);
	assert_string_equal(props, "{\"v\":\"new\"}"); /* the newest part's copy */
	assert_int_equal(store_rows(st, 1, 2, NULL, 0, &nf), 7);
	assert_int_equal(nf, 1);
	assert_int_equal(store_rows(st, 2, 9, NULL, 0, &nf), 7); /* other team: kept */
	assert_int_equal(nf, 1);
	assert_int_equal(count_files(dir, ".snp"), 1);
	char want[PATH_MAX + 80];
	snprintf(want, sizeof(want), "%s/202410_%016" PRIx64 "_%016" PRIx64 "_00000001.snp", dir,
		 FID(10, 1), FID(30, 1));
	assert_int_equal(access(want, F_OK), 0);
	verify_clean(dir, 7);
	/* The exactly-once position is unchanged by the merge. */
	uint64_t top;
	assert_int_equal(sn_store_recover(dir, true, &top, NULL), 0);
	assert_int_equal(top, FID(30, 1));
	sn_store_close(st);
	sn_test_rm_rf(dir);
}

static void test_merge_shredded_kinds(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	int64_t t = BASE_TS + DAY_US;
	/* Part 1 shreds $browser as strings, part 2 has numbers under the same
	 * key and another key, part 3 is not shredded at all, with odd rows. */
	struct trow f1[] = {{1, 1, t, "e", "{\"$browser\":\"Chrome\",\"a\":1}", 0},
			    {1, 2, t, "e", "{\"$browser\":\"Firefox\"}", 0}};
	struct trow f2[] = {{1, 3, t, "e", "{\"$browser\":5,\"k\":[1,2]}", 0},
			    {1, 4, t, "e", "{\"k\":{\"x\":null}}", 0}};
	struct trow f3[] = {{1, 5, t, "e", "{ \"spaced\" : true }", 0},
			    {1, 6, t, "e", "not json", 0},
			    {1, 7, t, "e", "{\"$browser\":null}", 0}};
	flush_rows(dir, FID(1, 1), f1, 2, true);
	flush_rows(dir, FID(2, 1), f2, 2, true);
	flush_rows(dir, FID(3, 1), f3, 3, false);
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	assert_int_equal(sn_store_merge(st, true, NULL, NULL), 0);
	const struct trow *all[] = {&f1[0], &f1[1], &f2[0], &f2[1], &f3[0], &f3[1], &f3[2]};
	for (size_t i = 0; i < SN_ARRAY_LEN(all); i++) {
		char props[256];
		size_t nf;
		assert_int_equal(store_rows(st, 1, all[i]->u, props, sizeof(props), &nf), 7);
		assert_int_equal(nf, 1);
		assert_string_equal(props, all[i]->props); /* byte for byte */
	}
	/* §4.2 reads through the merged (re-shredded) part. */
	struct sn_store_snapshot *s = sn_store_snapshot_acquire(st);
	assert_int_equal(sn_store_snapshot_nparts(s), 1);
	struct sn_arena a;
	sn_arena_init(&a, 1u << 24);
	struct sn_part *p = sn_store_snapshot_part(s, 0);
	struct sn_colvec v, u;
	assert_int_equal(
	    sn_part_read_property(p, "$browser", 0, sn_part_ngranules(p), &a, &v, NULL), 0);
	assert_int_equal(
	    sn_part_read_named(p, SN_COL_NAME_UUID, 0, sn_part_ngranules(p), &a, &u, NULL), 0);
	for (size_t i = 0; i < v.nrows; i++) {
		const char *want = u.uuid[i].b[15] == 1	  ? "Chrome"
				   : u.uuid[i].b[15] == 2 ? "Firefox"
				   : u.uuid[i].b[15] == 3 ? "5"
							  : NULL;
		if (!want)
			assert_true(v.nulls[i]);
		else
			assert_true(!v.nulls[i] && v.str[i].len == strlen(want) &&
				    !memcmp(v.str[i].p, want, v.str[i].len));
	}
	sn_arena_release(&a);
	sn_store_snapshot_release(s);
	verify_clean(dir, 7);
	sn_store_close(st);
	sn_test_rm_rf(dir);
}

static void test_snapshot_keeps_files(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	int64_t t = BASE_TS;
	struct trow f1[] = {{1, 1, t, "e", "{}", 0}}, f2[] = {{1, 2, t, "e", "{}", 0}};
	flush_rows(dir, FID(1, 1), f1, 1, true);
	flush_rows(dir, FID(2, 1), f2, 1, true);
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	struct sn_store_snapshot *q = sn_store_snapshot_acquire(st); /* a running query */
	struct sn_store_snapshot *d = NULL;
	assert_int_equal(sn_store_snapshot_open_dir(dir, &d, NULL), 0); /* another process */
	assert_int_equal(sn_store_merge(st, true, NULL, NULL), 0);
	/* The inputs are still on disk: q reads them. */
	assert_int_equal(count_files(dir, ".snp"), 3);
	assert_int_equal(sn_store_snapshot_nparts(q), 2);
	assert_int_equal(sn_store_snapshot_nrows(q), 2);
	struct sn_arena a;
	sn_arena_init(&a, 1u << 20);
	struct sn_colvec v;
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(sn_part_read_named(sn_store_snapshot_part(q, i),
						    SN_COL_NAME_TEAM_ID, 0, 1, &a, &v, NULL),
				 0);
	/* A fresh view sees only the merged part, with the same rows. */
	struct sn_store_snapshot *now = NULL;
	assert_int_equal(sn_store_snapshot_open_dir(dir, &now, NULL), 0);
	assert_int_equal(sn_store_snapshot_nparts(now), 1);
	assert_int_equal(sn_store_snapshot_nrows(now), 2);
	sn_store_snapshot_release(now);
	sn_store_snapshot_release(q); /* the last holder: the inputs go */
	assert_int_equal(count_files(dir, ".snp"), 1);
	/* A read-only snapshot of another "process" never unlinks, and its
	 * descriptors keep reading the unlinked inputs. */
	assert_int_equal(sn_store_snapshot_nparts(d), 2);
	assert_int_equal(sn_part_read_named(sn_store_snapshot_part(d, 1), SN_COL_NAME_TEAM_ID, 0, 1,
					    &a, &v, NULL),
			 0);
	assert_int_equal(v.i64[0], 1);
	sn_store_snapshot_release(d);
	sn_arena_release(&a);
	sn_store_close(st);
	sn_test_rm_rf(dir);
}

static void test_merge_crash_points(void **state)
{
	(void)state;
	char dir[PATH_MAX], save[PATH_MAX + 16], p1[PATH_MAX + 64], p2[PATH_MAX + 64];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	int64_t t = BASE_TS;
	struct trow f1[] = {{1, 1, t, "e", "{}", 0}, {1, 2, t, "e", "{}", 0}};
	struct trow f2[] = {{1, 2, t, "e", "{}", 0}, {1, 3, t + 40 * DAY_US, "e", "{}", 0}};
	flush_rows(dir, FID(1, 1), f1, 2, true);
	flush_rows(dir, FID(2, 2), f2, 2, true); /* October and November */
	snprintf(p1, sizeof(p1), "%s/202410_%016" PRIx64 ".snp", dir, FID(1, 1));
	snprintf(p2, sizeof(p2), "%s/202410_%016" PRIx64 ".snp", dir, FID(2, 2));
	snprintf(save, sizeof(save), "%s.save1", dir);
	assert_int_equal(sn_test_copy_file(p1, save), 0);
	snprintf(save, sizeof(save), "%s.save2", dir);
	assert_int_equal(sn_test_copy_file(p2, save), 0);

	/* Crash before the rename: only a temp file; recovery removes it. */
	char tmp[PATH_MAX + 80];
	snprintf(tmp, sizeof(tmp), "%s/202410_%016" PRIx64 "_%016" PRIx64 "_00000001.snp.tmp", dir,
		 FID(1, 1), FID(2, 2));
	write_file(tmp, "partial", 7);
	uint64_t top;
	assert_int_equal(sn_store_recover(dir, true, &top, NULL), 0);
	assert_int_equal(top, FID(2, 2));
	assert_int_not_equal(access(tmp, F_OK), 0);

	/* Crash after the rename, before the inputs were removed: put them back. */
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	assert_int_equal(sn_store_merge(st, true, NULL, NULL), 0);
	sn_store_close(st);
	snprintf(save, sizeof(save), "%s.save1", dir);
	assert_int_equal(sn_test_copy_file(save, p1), 0);
	snprintf(save, sizeof(save), "%s.save2", dir);
	assert_int_equal(sn_test_copy_file(save, p2), 0);
	unlink(save);
	snprintf(save, sizeof(save), "%s.save1", dir);
	unlink(save);
	assert_int_equal(count_files(dir, ".snp"), 4); /* merged + 2 inputs + November */
	/* Readers already count the merged part only. */
	struct sn_store_snapshot *s;
	assert_int_equal(sn_store_snapshot_open_dir(dir, &s, NULL), 0);
	assert_int_equal(sn_store_snapshot_nrows(s), 3); /* uuid 2 deduplicated */
	sn_store_snapshot_release(s);
	verify_clean(dir, 3);
	/* Restart: the superseded inputs go; the newest flush is still FID(2,2)
	 * (the merged part and November's part both end at it). */
	assert_int_equal(sn_store_recover(dir, true, &top, NULL), 0);
	assert_int_equal(top, FID(2, 2));
	assert_int_equal(count_files(dir, ".snp"), 2);

	/* A flush cut short (1 of its 2 parts) is removed and not counted. */
	struct trow f3[] = {{1, 7, t, "e", "{}", 0}};
	flush_rows(dir, FID(3, 2), f3, 1, true);
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	assert_int_equal(sn_store_merge(st, true, NULL, NULL), 0); /* leaves it alone */
	assert_int_equal(count_files(dir, ".snp"), 3);
	sn_store_close(st);
	assert_int_equal(sn_store_recover(dir, true, &top, NULL), 0);
	assert_int_equal(top, FID(2, 2));
	assert_int_equal(count_files(dir, ".snp"), 2);
	sn_test_rm_rf(dir);
}

static void test_delete_criteria(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	int64_t t = BASE_TS + 10 * DAY_US;
	struct trow f1[] = {
	    {1, 1, t, "pageview", "{\"who\":\"SECRET-PERSON-A\"}", 0xa},
	    {1, 2, t + DAY_US, "click", "{\"who\":\"SECRET-PERSON-A\"}", 0xa},
	    {1, 3, t, "pageview", "{\"who\":\"b\"}", 0xb},
	    {1, 4, t + 2 * DAY_US, "click", "{\"who\":\"b\"}", 0xb},
	    {1, 5, t + 3 * DAY_US, "signup", "{\"who\":\"b\"}", 0xb},
	    {2, 1, t, "pageview", "{\"who\":\"SECRET-TEAM-2\"}", 0xa},
	    {2, 2, t + 40 * DAY_US, "pageview", "{\"who\":\"SECRET-TEAM-2\"}", 0xa},
	};
	flush_rows(dir, FID(5, 2), f1, 7, true);
	struct trow f2[] = {{1, 6, t, "pageview", "{\"who\":\"SECRET-PERSON-A\"}", 0xa}};
	flush_rows(dir, FID(6, 1), f2, 1, true);
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	size_t nf;
	assert_true(dir_contains(dir, "SECRET-PERSON-A"));

	/* By person (GDPR): in two parts; the second is all theirs (dropped). */
	struct sn_store_delete_spec d = {
	    .team_id = 1, .by_person = true, .after_us = INT64_MIN, .before_us = INT64_MAX};
	d.person_id[0] = 0xa;
	struct sn_store_delete_result r;
	assert_int_equal(sn_store_delete(st, &d, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 3);
	assert_int_equal(r.parts_dropped, 1);
	assert_int_equal(r.parts_rewritten, 1);
	assert_false(dir_contains(dir, "SECRET-PERSON-A"));
	assert_int_equal(store_rows(st, 2, 1, NULL, 0, &nf), 5); /* team 2's person A stays */
	assert_int_equal(nf, 1);
	verify_clean(dir, 5);
	/* The newest flush stays complete: its dropped part left a tombstone. */
	uint64_t top;
	assert_int_equal(count_files(dir, ".del"), 1);

	/* By event name. */
	d = (struct sn_store_delete_spec){
	    .team_id = 1, .event = "signup", .after_us = INT64_MIN, .before_us = INT64_MAX};
	assert_int_equal(sn_store_delete(st, &d, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 1);
	assert_int_equal(store_rows(st, 1, 5, NULL, 0, &nf), 4);
	assert_int_equal(nf, 0);
	/* By time range: after <= ts < before. */
	d = (struct sn_store_delete_spec){
	    .team_id = 1, .after_us = t + 2 * DAY_US, .before_us = t + 2 * DAY_US + 1};
	assert_int_equal(sn_store_delete(st, &d, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 1);
	assert_int_equal(store_rows(st, 1, 4, NULL, 0, &nf), 3);
	assert_int_equal(nf, 0);
	d = (struct sn_store_delete_spec){.team_id = 1, .after_us = INT64_MIN, .before_us = t};
	assert_int_equal(sn_store_delete(st, &d, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 0); /* nothing before t */
	assert_int_equal(r.parts_rewritten + r.parts_dropped, 0);
	/* A whole team, across months. */
	d = (struct sn_store_delete_spec){
	    .team_id = 2, .after_us = INT64_MIN, .before_us = INT64_MAX};
	assert_int_equal(sn_store_delete(st, &d, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 2);
	assert_false(dir_contains(dir, "SECRET-TEAM-2"));
	assert_int_equal(store_rows(st, 1, 3, NULL, 0, &nf), 1);
	assert_int_equal(nf, 1);
	verify_clean(dir, 1);
	sn_store_close(st);
	/* Recovery: tombstones keep the newest flush complete; nothing replays. */
	assert_int_equal(sn_store_recover(dir, true, &top, NULL), 0);
	assert_int_equal(top, FID(6, 1));
	/* Bad input: an empty range. */
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	d = (struct sn_store_delete_spec){.team_id = 1, .after_us = 5, .before_us = 5};
	assert_int_equal(sn_store_delete(st, &d, &r, NULL), SN_ERR_INVALID);
	/* A merge afterwards folds tombstones away. */
	struct trow f3[] = {{1, 8, t, "x", "{}", 0}};
	flush_rows(dir, FID(7, 1), f3, 1, true);
	assert_int_equal(sn_store_merge(st, true, NULL, NULL), 0);
	assert_int_equal(count_files(dir, ".snp"), 1);
	assert_int_equal(count_files(dir, ".del"), 0);
	assert_int_equal(store_rows(st, 1, 8, NULL, 0, &nf), 2);
	sn_store_close(st);
	assert_int_equal(sn_store_recover(dir, true, &top, NULL), 0);
	assert_int_equal(top, FID(7, 1));
	sn_test_rm_rf(dir);
}

static void test_delete_crash_points(void **state)
{
	(void)state;
	char dir[PATH_MAX], old[PATH_MAX + 64], save[PATH_MAX + 16];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	int64_t t = BASE_TS;
	struct trow f1[] = {{1, 1, t, "e", "{\"s\":\"GONE-AFTER-DELETE\"}", 0},
			    {1, 2, t, "e", "{}", 0}};
	flush_rows(dir, FID(1, 1), f1, 2, true);
	snprintf(old, sizeof(old), "%s/202410_%016" PRIx64 ".snp", dir, FID(1, 1));
	snprintf(save, sizeof(save), "%s.save", dir);
	assert_int_equal(sn_test_copy_file(old, save), 0);
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	struct sn_store_delete_spec d = {
	    .team_id = 1, .after_us = INT64_MIN, .before_us = INT64_MAX};
	d.event = NULL;
	struct sn_store_delete_result r;
	/* Delete uuid 1 only: by time is not selective here, use a person. */
	d.by_person = true; /* person 0 = rows without one: both rows */
	d.by_person = false;
	d.event = "nomatch";
	assert_int_equal(sn_store_delete(st, &d, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 0);
	d.event = "e";
	d.after_us = t;
	d.before_us = t + 1;
	assert_int_equal(sn_store_delete(st, &d, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 2);
	sn_store_close(st);
	assert_false(dir_contains(dir, "GONE-AFTER-DELETE"));
	/* kill -9 after the tombstone, before the old file went: it is
	 * superseded, never read, and removed on the next open. */
	assert_int_equal(sn_test_copy_file(save, old), 0);
	unlink(save);
	struct sn_store_snapshot *s;
	assert_int_equal(sn_store_snapshot_open_dir(dir, &s, NULL), 0);
	assert_int_equal(sn_store_snapshot_nrows(s), 0);
	sn_store_snapshot_release(s);
	verify_clean(dir, 0);
	uint64_t top;
	assert_int_equal(sn_store_recover(dir, true, &top, NULL), 0);
	assert_int_equal(top, FID(1, 1)); /* the tombstone keeps the flush complete */
	assert_false(dir_contains(dir, "GONE-AFTER-DELETE"));
	sn_test_rm_rf(dir);
}

static void test_ttl(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	int64_t now = BASE_TS + 100 * DAY_US; /* 2025-01-09 */
	/* October: wholly expired for a 30-day TTL. November (now - 40 days)
	 * too, December (now - 20 days) not. */
	struct trow f1[] = {{1, 1, BASE_TS, "e", "{}", 0}, {2, 1, BASE_TS + DAY_US, "e", "{}", 0}};
	struct trow f2[] = {{1, 2, now - 40 * DAY_US, "e", "{}", 0},
			    {1, 3, now - 20 * DAY_US, "e", "{}", 0},
			    {2, 2, now - 40 * DAY_US, "e", "{}", 0}};
	flush_rows(dir, FID(1, 1), f1, 2, true);
	flush_rows(dir, FID(2, 2), f2, 3, true);
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	/* Per team first: team 2 keeps 365 days, team 1 (default) 30. */
	int64_t teams[] = {2}, days[] = {365};
	struct sn_store_ttl ttl = {
	    .default_days = 30, .nteams = 1, .team_ids = teams, .days = days};
	struct sn_store_delete_result r;
	assert_int_equal(sn_store_apply_ttl(st, &ttl, now, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 2);
	size_t nf;
	assert_int_equal(store_rows(st, 1, 3, NULL, 0, &nf), 3);
	assert_int_equal(nf, 1);
	/* One TTL for all: October and November go on their index alone. */
	ttl = (struct sn_store_ttl){.default_days = 30};
	assert_int_equal(sn_store_apply_ttl(st, &ttl, now, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 2);
	assert_int_equal(r.parts_dropped, 2);
	assert_int_equal(r.parts_rewritten, 0);
	assert_int_equal(store_rows(st, 1, 3, NULL, 0, &nf), 1);
	assert_int_equal(count_files(dir, ".snp"), 1);
	/* Idempotent. */
	assert_int_equal(sn_store_apply_ttl(st, &ttl, now, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 0);
	verify_clean(dir, 1);
	sn_store_close(st);

	/* The merge thread applies the settings: retention_days for every
	 * team, team_retention overriding it (0 = forever). */
	struct trow f3[] = {{1, 7, BASE_TS, "e", "{}", 0}, {3, 7, BASE_TS, "e", "{}", 0}};
	flush_rows(dir, FID(3, 1), f3, 2, true);
	so = (struct sn_store_opts){.no_fsync = true, .team_retention = "nope"};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), SN_ERR_INVALID);
	so = (struct sn_store_opts){.no_fsync = true,
				    .retention_days = 30,
				    .team_retention = "1:0,9:5",
				    .merge_interval_ms = 5,
				    .merge_min_parts = 99};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	assert_int_equal(sn_store_merger_start(st, NULL), 0);
	for (int i = 0; i < 200 && store_rows(st, 3, 7, NULL, 0, &nf) != 2; i++)
		usleep(10000);
	sn_store_merger_stop(st);
	assert_int_equal(store_rows(st, 3, 7, NULL, 0, &nf), 2); /* team 1's two rows */
	assert_int_equal(nf, 0);
	assert_int_equal(store_rows(st, 1, 7, NULL, 0, &nf), 2);
	assert_int_equal(nf, 1);
	sn_store_close(st);
	sn_test_rm_rf(dir);
}

/* The smallest-named part file of month (YYYYMM) into path. */
static void first_part_of(const char *dir, const char *month, char *path, size_t pathsz)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	struct dirent *de;
	char best[256] = "";
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, month, 6) && strstr(de->d_name, SN_PART_SUFFIX) &&
		    !strstr(de->d_name, ".tmp") && (!best[0] || strcmp(de->d_name, best) < 0))
			snprintf(best, sizeof(best), "%s", de->d_name);
	closedir(d);
	assert_true(best[0] != 0);
	snprintf(path, pathsz, "%s/%s", dir, best);
}

/* One part with a damaged data block (its metadata intact, so the store
 * opens): merges leave it out and merge the rest, deletion and retention
 * report it and still do every other part, and the merge thread's
 * retention runs. */
static void test_damaged_part(void **state)
{
	(void)state;
	char dir[PATH_MAX], bad[PATH_MAX + 300];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	int64_t oct = BASE_TS + DAY_US, nov = BASE_TS + 35 * DAY_US;
	for (int f = 0; f < 3; f++) {
		struct trow r[] = {{1, (uint8_t)(10 * f + 1), oct, "e", "{\"k\":1}", 0},
				   {2, (uint8_t)(10 * f + 4), oct, "e", "{\"k\":4}", 0},
				   {1, (uint8_t)(10 * f + 2), nov, "e", "{\"k\":2}", 0},
				   {2, (uint8_t)(10 * f + 3), nov, "e", "{\"k\":3}", 0}};
		flush_rows(dir, FID(f + 1, 2), r, 4, true);
	}
	first_part_of(dir, "202410", bad, sizeof(bad));
	size_t len;
	char *bytes = read_file(bad, &len);
	bytes[SN_PART_HEADER_SIZE + 1] ^= 1; /* the first block of the first column */
	write_file(bad, bytes, len);
	free(bytes);
	const char *badname = strrchr(bad, '/') + 1;

	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	struct sn_err err = {0};
	/* October: the two good parts merge, the damaged one stays; November
	 * merges whole. */
	assert_int_equal(sn_store_merge(st, true, NULL, &err), 0);
	assert_int_equal(count_files(dir, ".snp"), 3);
	assert_true(access(bad, F_OK) == 0);

	/* Retention of team 1 does every part it can and names the damaged
	 * one (whose rows it would have to rewrite: both teams are in it). */
	struct sn_store_delete_result r;
	int64_t teams[] = {1}, days[] = {1};
	struct sn_store_ttl ttl = {.nteams = 1, .team_ids = teams, .days = days};
	assert_int_equal(sn_store_apply_ttl(st, &ttl, nov + 10 * DAY_US, &r, &err), SN_ERR_CORRUPT);
	assert_int_equal(r.parts_damaged, 1);
	assert_int_equal(r.rows_deleted, 5); /* of 6: one is in the damaged part */
	assert_non_null(strstr(err.msg, badname));
	/* A deletion likewise: team 2's rows in the other parts go. */
	struct sn_store_delete_spec d = {
	    .team_id = 2, .after_us = INT64_MIN, .before_us = INT64_MAX};
	assert_int_equal(sn_store_delete(st, &d, &r, &err), SN_ERR_CORRUPT);
	assert_int_equal(r.parts_damaged, 1);
	assert_int_equal(r.rows_deleted, 5);
	assert_int_equal(r.parts_dropped, 2);
	sn_store_close(st);

	/* The merge thread: retention still runs beside a month whose merge
	 * window holds the damaged part. */
	for (int f = 3; f < 6; f++) {
		struct trow r2[] = {{1, (uint8_t)(10 * f + 1), oct, "e", "{}", 0},
				    {3, (uint8_t)(10 * f + 3), nov, "e", "{}", 0}};
		flush_rows(dir, FID(f + 1, 2), r2, 2, true);
	}
	so = (struct sn_store_opts){.no_fsync = true,
				    .retention_days = 30,
				    .team_retention = "1:0",
				    .merge_interval_ms = 5,
				    .merge_min_parts = 2};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	assert_int_equal(sn_store_merger_start(st, NULL), 0);
	for (int i = 0; i < 300 && count_files(dir, ".snp") != 2; i++)
		usleep(10000);
	sn_store_merger_stop(st);
	assert_int_equal(count_files(dir, ".snp"), 2); /* the damaged part, October merged */
	assert_true(access(bad, F_OK) == 0);
	sn_store_close(st);
	sn_test_rm_rf(dir);
}

/* Metadata damage with its CRCs made right again (what a bug or a hostile
 * file could hold): whenever the rows' properties cannot be rebuilt from a
 * shredded part's columns, `snout store verify` says so, as queries and
 * merges would fail on it. */
static void test_verify_rebuilds_properties(void **state)
{
	(void)state;
	char dir[PATH_MAX], path[PATH_MAX + 300];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct trow rows[8];
	char props[8][96];
	for (int i = 0; i < 8; i++) {
		snprintf(props[i], sizeof(props[i]),
			 "{\"$lib\":\"web\",\"$lib_version\":\"1.%d\",\"plan\":\"p%d\",\"r%d\":1}",
			 i, i % 2, i);
		rows[i] = (struct trow){1, (uint8_t)(i + 1), BASE_TS + i, "e", props[i], 0};
	}
	flush_rows(dir, FID(1, 1), rows, 8, true);
	first_part_of(dir, "202410", path, sizeof(path));
	size_t len;
	char *orig = read_file(path, &len);
	uint64_t mo, ml;
	memcpy(&mo, orig + len - SN_PART_TRAILER_SIZE, 8);
	memcpy(&ml, orig + len - SN_PART_TRAILER_SIZE + 8, 8);
	assert_true(mo + ml <= len - SN_PART_TRAILER_SIZE);
	char *copy = malloc(len);
	size_t unbuildable = 0;
	for (size_t i = mo; i < mo + ml; i++) {
		memcpy(copy, orig, len);
		copy[i] ^= (char)(1u << (i % 8));
		char *t = copy + len - SN_PART_TRAILER_SIZE;
		uint32_t c = sn_crc32(0, copy + mo, ml);
		memcpy(t + 16, &c, 4);
		c = sn_crc32(0, t, 28);
		memcpy(t + 28, &c, 4);
		write_file(path, copy, len);
		struct sn_part *p;
		if (sn_part_open(path, &p, NULL))
			continue; /* refused at open: verify reports that */
		struct sn_arena a;
		sn_arena_init(&a, 1u << 26);
		struct sn_colvec v;
		int rc = sn_part_read_properties(p, 0, sn_part_ngranules(p), &a, &v, NULL);
		sn_arena_release(&a);
		sn_part_unref(p);
		if (rc != SN_ERR_CORRUPT)
			continue;
		unbuildable++;
		struct sn_buf rep;
		sn_buf_init(&rep, 0);
		uint64_t np, nr, problems;
		assert_int_equal(sn_store_verify(dir, &rep, &np, &nr, &problems, NULL), 0);
		if (problems == 0)
			fail_msg("metadata byte %zu: properties cannot be rebuilt, verify is clean",
				 i - mo);
		sn_buf_release(&rep);
	}
	assert_true(unbuildable > 0); /* the loop met such damage */
	write_file(path, orig, len);
	verify_clean(dir, 8);
	free(copy);
	free(orig);
	sn_test_rm_rf(dir);
}

/* A retention too long for int64 microseconds keeps everything: now -
 * days * DAY_US once wrapped into the future for 200000000 days and
 * expired every row (snout store ttl, and the team_retention setting). */
static void test_ttl_oversized(void **state)
{
	(void)state;
	int64_t now = BASE_TS + 100 * DAY_US;
	assert_true(sn_store_ttl_cutoff_us(now, 30) == now - 30 * DAY_US);
	assert_true(sn_store_ttl_cutoff_us(now, SN_STORE_RETENTION_DAYS_MAX) ==
		    now - SN_STORE_RETENTION_DAYS_MAX * DAY_US);
	assert_true(sn_store_ttl_cutoff_us(now, 0) == INT64_MIN);
	assert_true(sn_store_ttl_cutoff_us(now, -5) == INT64_MIN);
	assert_true(sn_store_ttl_cutoff_us(now, 106752000) == INT64_MIN);
	assert_true(sn_store_ttl_cutoff_us(now, 200000000) == INT64_MIN);
	assert_true(sn_store_ttl_cutoff_us(now, INT64_MAX) == INT64_MIN);
	assert_true(sn_store_ttl_cutoff_us(INT64_MIN + 1, 1) == INT64_MIN);
	/* Just inside the range is still a real cutoff. */
	int64_t edge = INT64_MAX / DAY_US;
	assert_true(sn_store_ttl_cutoff_us(now, edge) == now - edge * DAY_US);
	assert_true(sn_store_ttl_cutoff_us(now, edge) > INT64_MIN);
	assert_true(sn_store_ttl_cutoff_us(now, edge + 1) == INT64_MIN);

	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct trow f1[] = {{1, 1, BASE_TS, "e", "{}", 0}, {2, 1, BASE_TS + DAY_US, "e", "{}", 0}};
	flush_rows(dir, FID(1, 1), f1, 2, true);
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	struct sn_store_delete_result r;
	size_t nf;
	int64_t teams[] = {1}, huge[] = {200000000};
	/* Every team (the index-only path), then one team (the row path). */
	struct sn_store_ttl all = {.default_days = 200000000};
	assert_int_equal(sn_store_apply_ttl(st, &all, now, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 0);
	struct sn_store_ttl one = {.nteams = 1, .team_ids = teams, .days = huge};
	assert_int_equal(sn_store_apply_ttl(st, &one, now, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 0);
	all.default_days = INT64_MAX;
	assert_int_equal(sn_store_apply_ttl(st, &all, now, &r, NULL), 0);
	assert_int_equal(r.rows_deleted, 0);
	assert_int_equal(store_rows(st, 1, 1, NULL, 0, &nf), 2);
	assert_int_equal(nf, 1);
	assert_int_equal(store_rows(st, 2, 1, NULL, 0, &nf), 2);
	assert_int_equal(nf, 1);
	sn_store_close(st);

	/* The settings refuse more than SN_STORE_RETENTION_DAYS_MAX days. */
	struct sn_err err;
	so = (struct sn_store_opts){.no_fsync = true, .team_retention = "1:200000000"};
	assert_int_equal(sn_store_open(dir, &so, &st, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "team_retention"));
	so = (struct sn_store_opts){.no_fsync = true, .retention_days = 200000000};
	assert_int_equal(sn_store_open(dir, &so, &st, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "retention_days"));
	so = (struct sn_store_opts){.no_fsync = true, .retention_days = -1};
	assert_int_equal(sn_store_open(dir, &so, &st, &err), SN_ERR_INVALID);
	verify_clean(dir, 2);
	sn_test_rm_rf(dir);

	int64_t ids[4], days[4];
	size_t n = 9;
	assert_int_equal(sn_store_parse_team_retention("", ids, days, 4, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sn_store_parse_team_retention(NULL, ids, days, 4, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(sn_store_parse_team_retention("2:30,5:0,7:36500", ids, days, 4, &n, NULL),
			 0);
	assert_int_equal(n, 3);
	assert_true(ids[0] == 2 && days[0] == 30 && ids[1] == 5 && days[1] == 0 && ids[2] == 7 &&
		    days[2] == 36500);
	static const char *const bad[] = {
	    "1:36501", "1:200000000", "1:-1", "1:3x", "1x:3",	  "0:3",
	    "-1:3",    "1",	      "1:",   ":3",   "1:3,,2:3", "1:99999999999999999999"};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++)
		assert_int_equal(sn_store_parse_team_retention(bad[i], ids, days, 4, &n, &err),
				 SN_ERR_INVALID);
	assert_int_equal(
	    sn_store_parse_team_retention("1:1,2:2,3:3,4:4,5:5", ids, days, 4, &n, &err),
	    SN_ERR_TOO_BIG);
}

static void test_merger_thread(void **state)
{
	(void)state;
	char dir[PATH_MAX];
	assert_int_equal(sn_test_tmpdir(dir, sizeof(dir), "test_store"), 0);
	struct sn_store *st;
	struct sn_store_opts so = {.no_fsync = true,
				   .merge_min_parts = 2,
				   .merge_interval_ms = 5,
				   .merge_max_mb_per_s = 100};
	assert_int_equal(sn_store_open(dir, &so, &st, NULL), 0);
	assert_int_equal(sn_store_merger_start(st, NULL), 0);
	/* Flushes keep arriving while the thread merges; each row once. */
	for (uint8_t i = 1; i <= 40; i++) {
		struct trow f[] = {{1, i, BASE_TS + i, "e", "{}", 0}};
		flush_rows(dir, FID(i, 1), f, 1, true);
		usleep(2000);
	}
	for (int i = 0; i < 400; i++) {
		struct sn_store_snapshot *s;
		assert_int_equal(sn_store_snapshot_open_dir(dir, &s, NULL), 0);
		assert_int_equal(sn_store_snapshot_nrows(s), 40);
		size_t np = sn_store_snapshot_nparts(s);
		sn_store_snapshot_release(s);
		if (np <= 3)
			break;
		usleep(10000);
	}
	sn_store_merger_stop(st);
	struct sn_store_merge_stats ms;
	sn_store_get_merge_stats(st, &ms);
	assert_true(ms.merges > 0);
	assert_true(count_files(dir, ".snp") <= 3);
	verify_clean(dir, 40);
	sn_store_close(st);
	sn_test_rm_rf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_varint_edges),
	    cmocka_unit_test(test_int_delta_roundtrip),
	    cmocka_unit_test(test_plain_strings),
	    cmocka_unit_test(test_dict_strings),
	    cmocka_unit_test(test_fixed_and_nulls),
	    cmocka_unit_test(test_block_codecs),
	    cmocka_unit_test(test_memtable_sort),
	    cmocka_unit_test(test_memtable_sort_order),
	    cmocka_unit_test(test_part_roundtrip),
	    cmocka_unit_test(test_pruning),
	    cmocka_unit_test(test_corruption_every_byte),
	    cmocka_unit_test(test_unknown_version),
	    cmocka_unit_test(test_writer_rejects),
	    cmocka_unit_test(test_codecs_in_parts),
	    cmocka_unit_test(test_single_row_and_flush_atomicity),
	    cmocka_unit_test(test_shredding),
	    cmocka_unit_test(test_residual_keys),
	    cmocka_unit_test(test_derived_columns),
	    cmocka_unit_test(test_residual_keys_caps),
	    cmocka_unit_test(test_residual_keys_format),
	    cmocka_unit_test(test_block_nulls),
	    cmocka_unit_test(test_fuzz_seeds),
	    cmocka_unit_test(test_inspect),
	    cmocka_unit_test(test_group_columns),
	    cmocka_unit_test(test_part_names),
	    cmocka_unit_test(test_long_event_index),
	    cmocka_unit_test(test_stray_part_names),
	    cmocka_unit_test(test_merge_dedup),
	    cmocka_unit_test(test_merge_shredded_kinds),
	    cmocka_unit_test(test_snapshot_keeps_files),
	    cmocka_unit_test(test_merge_crash_points),
	    cmocka_unit_test(test_delete_criteria),
	    cmocka_unit_test(test_delete_crash_points),
	    cmocka_unit_test(test_ttl),
	    cmocka_unit_test(test_ttl_oversized),
	    cmocka_unit_test(test_merger_thread),
	    cmocka_unit_test(test_damaged_part),
	    cmocka_unit_test(test_verify_rebuilds_properties),
	    cmocka_unit_test(test_parallel_writer_bytes),
	    cmocka_unit_test(test_member_lengths),
	    cmocka_unit_test(test_memtable_shares_values),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
