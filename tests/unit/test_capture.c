/*
 * test_capture.c — the capture protocol without a server: the decoding
 * pipeline, the timestamp rules with the spec's worked examples, distinct_id
 * and token rules, and whole requests to WAL records (shapes, all-or-nothing
 * batches, statuses and messages), and the strict JSON scanner those
 * requests are parsed with (a valid/invalid corpus after JSONTestSuite,
 * string decoding, numbers, the verbatim "data" of records).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "capture/capture.h"
#include "wal/evindex.h"

#define NOW_US 1735732800000000LL /* 2025-01-01T12:00:00Z */

static int64_t ts(const char *s)
{
	int64_t us = -1;
	assert_int_equal(sn_capture_parse_timestamp(s, strlen(s), &us), 0);
	return us;
}

static void test_parse_timestamp(void **state)
{
	(void)state;
	assert_int_equal(ts("2025-01-01T12:00:00Z"), NOW_US);
	assert_int_equal(ts("2025-01-01T12:00:00.123Z"), NOW_US + 123000);
	assert_int_equal(ts("2025-01-01T12:00:00.123456789Z"), NOW_US + 123456);
	assert_int_equal(ts("2025-01-01T15:00:00+03:00"), NOW_US);
	assert_int_equal(ts("2025-01-01T15:00:00+03"), NOW_US); /* bare ±HH */
	assert_int_equal(ts("2025-01-01T09:30:00-0230"), NOW_US);
	assert_int_equal(ts("2025-01-01 12:00:00"), NOW_US); /* civil, UTC */
	assert_int_equal(ts("2025-01-01T12:00:00"), NOW_US);
	assert_int_equal(ts("2025-01-01"), NOW_US - 12LL * 3600 * 1000000);
	assert_int_equal(ts("1735732800"), NOW_US);			 /* epoch seconds */
	assert_int_equal(ts("1735732800000"), NOW_US);			 /* epoch ms */
	assert_int_equal(ts("Wed, 01 Jan 2025 13:00:00 +0100"), NOW_US); /* RFC 2822 */
	assert_int_equal(ts("2025/01/01 12:00:00"), NOW_US);
	int64_t us;
	assert_int_equal(sn_capture_parse_timestamp("yesterday", 9, &us), SN_ERR_INVALID);
	assert_int_equal(sn_capture_parse_timestamp("2025-02-30T00:00:00Z", 20, &us),
			 SN_ERR_INVALID);
	assert_int_equal(sn_capture_parse_timestamp("2025-01-01T25:00:00Z", 20, &us),
			 SN_ERR_INVALID);
	assert_int_equal(sn_capture_parse_timestamp("", 0, &us), SN_ERR_INVALID);
}

static void test_compute_timestamp(void **state)
{
	(void)state;
	/* The spec's worked example: now 12:00:00, sent_at 12:00:05,
	 * timestamp 11:59:55 → 11:59:50. */
	int64_t t = sn_capture_compute_timestamp(NOW_US, true, ts("2025-01-01T11:59:55Z"), true,
						 ts("2025-01-01T12:00:05Z"), false, 0);
	assert_int_equal(t, ts("2025-01-01T11:59:50Z"));
	/* offset 3600000 and no timestamp → 11:00:00. */
	t = sn_capture_compute_timestamp(NOW_US, false, 0, false, 0, true, 3600000);
	assert_int_equal(t, ts("2025-01-01T11:00:00Z"));
	/* offset overrides a timestamp. */
	t = sn_capture_compute_timestamp(NOW_US, true, ts("2020-01-01T00:00:00Z"), false, 0, true,
					 1000);
	assert_int_equal(t, NOW_US - 1000000);
	/* No sent_at: the timestamp as given. */
	t = sn_capture_compute_timestamp(NOW_US, true, ts("2024-06-01T00:00:00Z"), false, 0, false,
					 0);
	assert_int_equal(t, ts("2024-06-01T00:00:00Z"));
	/* More than 23 h in the future → now; 22 h is kept. */
	t = sn_capture_compute_timestamp(NOW_US, true, NOW_US + 24LL * 3600 * 1000000, false, 0,
					 false, 0);
	assert_int_equal(t, NOW_US);
	t = sn_capture_compute_timestamp(NOW_US, true, NOW_US + 22LL * 3600 * 1000000, false, 0,
					 false, 0);
	assert_int_equal(t, NOW_US + 22LL * 3600 * 1000000);
	/* Nothing → now. */
	assert_int_equal(sn_capture_compute_timestamp(NOW_US, false, 0, true, NOW_US, false, 0),
			 NOW_US);
}

static char *did_of(const char *json)
{
	static char out[1024];
	struct json_object *o;
	assert_int_equal(sn_json_parse(json, strlen(json), &o, NULL), 0);
	struct sn_buf b;
	sn_buf_init(&b, 0);
	int rc = sn_capture_distinct_id(o, &b);
	json_object_put(o);
	if (rc) {
		sn_buf_release(&b);
		return NULL;
	}
	snprintf(out, sizeof(out), "%s", b.data);
	sn_buf_release(&b);
	return out;
}

static void test_distinct_id(void **state)
{
	(void)state;
	assert_string_equal(did_of("\"abc\""), "abc");
	assert_string_equal(did_of("23"), "23");
	assert_string_equal(did_of("23.4"), "23.4");
	assert_string_equal(did_of("[\"a\",\"b\"]"), "[\"a\",\"b\"]");
	assert_string_equal(did_of("{\"b\":1,\"a\":{\"d\":2,\"c\":3}}"),
			    "{\"a\":{\"c\":3,\"d\":2},\"b\":1}");
	assert_string_equal(did_of("\"a\\u0000b\""), "a\xef\xbf\xbd"
						     "b");
	assert_null(did_of("\"\""));
	/* Only white space (Unicode's, as Rust's str::trim) counts as missing;
	 * white space around an id is kept. */
	assert_null(did_of("\"   \""));
	assert_null(did_of("\"\\t\\n \\r\""));
	assert_null(did_of("\"\xc2\xa0\xe3\x80\x80\xe2\x80\xa8\""));
	assert_string_equal(did_of("\" a \""), " a ");
	assert_string_equal(did_of("\"\xc2\xa0x\""), "\xc2\xa0x");
	/* 200 scalars, not bytes: 250 × 'é' (2 bytes each) → 200 × 'é'. */
	char big[600] = "\"";
	for (int i = 0; i < 250; i++)
		strcat(big, "é");
	strcat(big, "\"");
	char *d = did_of(big);
	assert_int_equal(strlen(d), 400);
}

static void test_token_rules(void **state)
{
	(void)state;
	assert_null(sn_capture_token_invalid("phc_abc", 7));
	assert_non_null(sn_capture_token_invalid("", 0));
	assert_non_null(strstr(sn_capture_token_invalid("phx_abc", 7), "personal API key"));
	char longtok[80];
	memset(longtok, 'a', 65);
	assert_non_null(sn_capture_token_invalid(longtok, 65));
	assert_non_null(sn_capture_token_invalid("ph\xc3\xa9", 4));
}

/* ---- the JSON scanner ------------------------------------------------------------- */

static int scan(const char *text, size_t len, struct sn_err *err)
{
	return sn_jscan_document(text, len, NULL, err);
}

static char *nest(int depth)
{
	static char buf[2 * SN_JSCAN_MAX_DEPTH + 8];
	memset(buf, '[', (size_t)depth);
	memset(buf + depth, ']', (size_t)depth);
	buf[2 * depth] = 0;
	return buf;
}

static void test_jscan_valid(void **state)
{
	(void)state;
	static const char *ok[] = {
	    "0",
	    "-0",
	    "1.5e+10",
	    "1E-2",
	    "-1.0e0",
	    "0.25",
	    "123456789012345678901234567890",
	    "1e999",
	    "true",
	    "false",
	    "null",
	    "\"\"",
	    "[]",
	    "{}",
	    " \t\r\n[ 1 , 2 ]\n",
	    "{\"a\":{\"b\":[null,true,false,{}]},\"\":0}",
	    "{\"a\":1,\"a\":2}",
	    "\"\\ud800\"",	  /* a lone surrogate escape is valid grammar */
	    "\"\\udc00\\ud800\"", /* so is a reversed pair */
	    "\"\\u0000\"",
	    "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\\uABCD\"",
	    "\"\xf4\x8f\xbf\xbf\"", /* U+10FFFF */
	    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
	    "\"\x7f\"", /* DEL is not a control character for JSON */
	    "[\"a\",{\"b\":[[],[{}]]}]",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(ok); i++) {
		struct sn_err err = {0};
		if (scan(ok[i], strlen(ok[i]), &err))
			fail_msg("'%s' refused: %s", ok[i], err.msg);
	}
	/* 31 nested containers (json-c's default) pass, 32 do not. */
	assert_int_equal(scan(nest(SN_JSCAN_MAX_DEPTH), 2 * SN_JSCAN_MAX_DEPTH, NULL), 0);
	struct sn_err err;
	assert_int_equal(scan(nest(SN_JSCAN_MAX_DEPTH + 1), 2 * SN_JSCAN_MAX_DEPTH + 2, &err),
			 SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "nesting too deep"));
	/* A NUL byte inside a string is a control character; after the value,
	 * trailing data. */
	assert_int_equal(scan("\"a\0\"", 4, NULL), SN_ERR_INVALID);
	assert_int_equal(scan("1\0", 2, NULL), SN_ERR_INVALID);
}

static void test_jscan_invalid(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *msg; /* a part of the message */
	} bad[] = {
	    {"", "unexpected end of input at byte 0"},
	    {" ", "unexpected end of input at byte 1"},
	    {"[", "unexpected end of input at byte 1"},
	    {"\"abc", "unexpected end of input at byte 4"},
	    {"[1,]", "at byte 3: unexpected character"},
	    {"{\"a\":1,}", "at byte 7: expected a quoted object key"},
	    {"[,1]", "at byte 1"},
	    {"[1 2]", "at byte 3: expected ',' or ']'"},
	    {"{\"a\" 1}", "at byte 5: expected ':'"},
	    {"{1:2}", "at byte 1: expected a quoted object key"},
	    {"{\"a\":1}x", "at byte 7: unexpected data after the value"},
	    {"1 2", "at byte 2: unexpected data"},
	    {"[1]]", "at byte 3"},
	    {"01", "at byte 1: invalid number (leading zero)"},
	    {"-01", "at byte 2"},
	    {"00", "at byte 1"},
	    {"1.", "unexpected end of input"},
	    {"[1.]", "at byte 3: invalid number"},
	    {"[1.e5]", "at byte 3"},
	    {".5", "at byte 0"},
	    {"-.5", "at byte 1"},
	    {"+1", "at byte 0"},
	    {"1e", "unexpected end of input"},
	    {"[1e+]", "at byte 4"},
	    {"-", "unexpected end of input"},
	    {"[0x10]", "at byte 2"},
	    {"NaN", "at byte 0"},
	    {"Infinity", "at byte 0"},
	    {"-Infinity", "at byte 1"},
	    {"nul", "unexpected end of input"},
	    {"[nulL]", "at byte 4: invalid literal"},
	    {"True", "at byte 0"},
	    {"'a'", "at byte 0"},
	    {"\"a\x01\"", "at byte 2: control character"},
	    {"\"\t\"", "at byte 1: control character"},
	    {"\"\n\"", "at byte 1: control character"},
	    {"\"\\x\"", "at byte 2: invalid escape"},
	    {"\"\\u12\"", "at byte 5: invalid \\u escape"},
	    {"\"\\u12G4\"", "at byte 5"},
	    {"\"\\U0041\"", "at byte 2"},
	    {"\xef\xbb\xbf{}", "at byte 0"},			  /* BOM */
	    {"\"\xc0\x80\"", "at byte 1: invalid UTF-8"},	  /* overlong NUL */
	    {"\"\xe0\x80\xaf\"", "at byte 1: invalid UTF-8"},	  /* overlong '/' */
	    {"\"\xed\xa0\x80\"", "at byte 1: invalid UTF-8"},	  /* encoded surrogate */
	    {"\"\xf4\x90\x80\x80\"", "at byte 1: invalid UTF-8"}, /* past U+10FFFF */
	    {"\"\xc3\"", "at byte 1: invalid UTF-8"},		  /* cut sequence */
	    {"\"\x80\"", "at byte 1: invalid UTF-8"},		  /* lone continuation */
	    {"\xc3\xa9", "at byte 0: unexpected character"},	  /* UTF-8 outside a string */
	    {"\f1", "at byte 0"},				  /* form feed is no whitespace */
	    {"\v1", "at byte 0"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++) {
		struct sn_err err = {0};
		int rc = scan(bad[i].text, strlen(bad[i].text), &err);
		if (rc != SN_ERR_INVALID)
			fail_msg("'%s' accepted", bad[i].text);
		if (strncmp(err.msg, "invalid JSON", 12) != 0 || !strstr(err.msg, bad[i].msg))
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, err.msg, bad[i].msg);
	}
}

static char *unescaped(const char *json)
{
	static char out[256];
	struct sn_jspan v;
	struct sn_buf b;
	assert_int_equal(sn_jscan_document(json, strlen(json), &v, NULL), 0);
	assert_int_equal(v.type, SN_JSTRING);
	sn_buf_init(&b, 0);
	assert_int_equal(sn_jspan_unescape(&v, &b), 0);
	assert_true(b.len < sizeof(out));
	memcpy(out, b.data, b.len + 1);
	sn_buf_release(&b);
	return out;
}

static void test_jscan_strings(void **state)
{
	(void)state;
	assert_string_equal(unescaped("\"plain\""), "plain");
	assert_string_equal(unescaped("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), "\"\\/\b\f\n\r\t");
	assert_string_equal(unescaped("\"\\u00e9\\u20AC\""), "\xc3\xa9\xe2\x82\xac");
	assert_string_equal(unescaped("\"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80");
	/* json-c 0.16 turns this valid pair (U+1DA00) into U+FFFD; not us. */
	assert_string_equal(unescaped("\"\\ud836\\ude00\""), "\xf0\x9d\xa8\x80");
	/* Unpaired surrogates become U+FFFD, as json-c does. */
	assert_string_equal(unescaped("\"\\ud800x\""), "\xef\xbf\xbdx");
	assert_string_equal(unescaped("\"\\udc00\\ud800\""), "\xef\xbf\xbd\xef\xbf\xbd");
	assert_string_equal(unescaped("\"\\ud800\\u0041\""), "\xef\xbf\xbd"
							     "A");
	assert_string_equal(unescaped("\"\\ud800\\ud800\\udc00\""), "\xef\xbf\xbd\xf0\x90\x80\x80");

	struct sn_jspan v;
	const char *k = "\"\\u0065v\\u0065nt\"";
	assert_int_equal(sn_jscan_document(k, strlen(k), &v, NULL), 0);
	assert_true(v.flags & SN_JSPAN_ESCAPED);
	assert_true(sn_jspan_str_eq(&v, "event", 5));
	assert_false(sn_jspan_str_eq(&v, "even", 4));
	assert_false(sn_jspan_str_eq(&v, "events", 6));
	const char *z = "\"a\\u0000b\"";
	assert_int_equal(sn_jscan_document(z, strlen(z), &v, NULL), 0);
	assert_true(sn_jspan_str_eq(&v, "a\0b", 3));
	assert_false(sn_jspan_str_eq(&v, "a", 1));
}

/* Every length up to 48 and every position of one special byte in it:
 * the string loops (16 bytes with SSE2, 8 by SWAR, then one at a time) must
 * stop at the byte wherever it falls. */
static void test_jscan_string_positions(void **state)
{
	(void)state;
	static const struct {
		const char *x; /* the byte(s) put at position i */
		int ok;	       /* the document is valid */
		bool esc;
	} cases[] = {
	    {"", 1, false},	{"\x01", 0, false},	    {"\x1f", 0, false},
	    {"\x7f", 1, false}, {"\xff", 0, false},	    {"\xc3\xa9", 1, false},
	    {"\xc3", 0, false}, {"\xe2\x82\xac", 1, false}, {"\xed\xa0\x80", 0, false},
	    {"\\n", 1, true},	{"\\u00e9", 1, true},	    {"\\x", 0, false},
	    {"\"", 0, false},
	};
	char doc[128];
	for (size_t c = 0; c < SN_ARRAY_LEN(cases); c++) {
		size_t xl = strlen(cases[c].x);
		for (size_t n = 0; n <= 48; n++) {
			for (size_t i = 0; i <= n; i++) {
				size_t len = 0;
				doc[len++] = '"';
				memset(doc + len, 'a', i);
				len += i;
				memcpy(doc + len, cases[c].x, xl);
				len += xl;
				memset(doc + len, 'b', n - i);
				len += n - i;
				doc[len++] = '"';
				struct sn_jspan v = {0};
				int rc = sn_jscan_document(doc, len, &v, NULL);
				if (cases[c].ok) {
					assert_int_equal(rc, 0);
					assert_int_equal(v.type, SN_JSTRING);
					assert_int_equal(v.len, len);
					assert_int_equal(!!(v.flags & SN_JSPAN_ESCAPED),
							 cases[c].esc);
				} else {
					assert_int_equal(rc, SN_ERR_INVALID);
				}
			}
		}
	}
}

static void test_jscan_numbers(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int64_t v;
	} ints[] = {
	    {"0", 0},
	    {"-0", 0},
	    {"42", 42},
	    {"-17", -17},
	    {"9223372036854775807", INT64_MAX},
	    {"9223372036854775808", INT64_MAX}, /* saturates, like json-c */
	    {"123456789012345678901234567890", INT64_MAX},
	    {"-9223372036854775808", INT64_MIN},
	    {"-9223372036854775809", INT64_MIN},
	};
	struct sn_jspan v;
	for (size_t i = 0; i < SN_ARRAY_LEN(ints); i++) {
		int64_t x = 1;
		assert_int_equal(sn_jscan_document(ints[i].text, strlen(ints[i].text), &v, NULL),
				 0);
		assert_int_equal(v.type, SN_JNUMBER);
		assert_true(v.flags & SN_JSPAN_INT);
		assert_int_equal(sn_jspan_int64(&v, &x), 0);
		assert_true(x == ints[i].v);
	}
	double d;
	int64_t x;
	assert_int_equal(sn_jscan_document("-2.5e3", 6, &v, NULL), 0);
	assert_false(v.flags & SN_JSPAN_INT);
	assert_int_equal(sn_jspan_int64(&v, &x), SN_ERR_INVALID);
	assert_int_equal(sn_jspan_double(&v, &d), 0);
	assert_true(d == -2500.0);
	assert_int_equal(sn_jscan_document("\"1\"", 3, &v, NULL), 0);
	assert_int_equal(sn_jspan_int64(&v, &x), SN_ERR_INVALID);
}

static void test_jscan_cursor(void **state)
{
	(void)state;
	/* Pull API: keys, nested iteration, spans that are the bytes as sent. */
	const char *t = " { \"a\" : [ 1 , {\"x\" : \"y\"} ] , \"b\\u0021\" : \"s\\n\" } ";
	struct sn_jscan s;
	struct sn_jspan k, v;
	sn_jscan_init(&s, t, strlen(t), NULL);
	assert_int_equal(sn_jscan_peek(&s), SN_JOBJECT);
	assert_int_equal(sn_jscan_enter(&s), 0);
	assert_int_equal(sn_jscan_next_key(&s, &k), 1);
	assert_true(sn_jspan_str_eq(&k, "a", 1));
	assert_int_equal(sn_jscan_peek(&s), SN_JARRAY);
	assert_int_equal(sn_jscan_enter(&s), 0);
	assert_int_equal(sn_jscan_next_elem(&s), 1);
	assert_int_equal(sn_jscan_skip(&s, &v), 0);
	assert_int_equal(v.type, SN_JNUMBER);
	assert_int_equal(sn_jscan_next_elem(&s), 1);
	assert_int_equal(sn_jscan_skip(&s, &v), 0);
	assert_int_equal(v.type, SN_JOBJECT);
	assert_int_equal(v.len, strlen("{\"x\" : \"y\"}"));
	assert_memory_equal(v.p, "{\"x\" : \"y\"}", v.len);
	assert_int_equal(sn_jscan_next_elem(&s), 0);
	assert_int_equal(sn_jscan_next_key(&s, &k), 1);
	assert_true(sn_jspan_str_eq(&k, "b!", 2));
	assert_int_equal(sn_jscan_skip(&s, &v), 0);
	assert_true(sn_jspan_str_eq(&v, "s\n", 2));
	assert_int_equal(sn_jscan_next_key(&s, &k), 0);
	assert_int_equal(s.depth, 0);
	assert_int_equal(sn_jscan_finish(&s), 0);
	/* A missing comma between members is caught by the iteration. */
	const char *u = "{\"a\":1 \"b\":2}";
	sn_jscan_init(&s, u, strlen(u), NULL);
	assert_int_equal(sn_jscan_enter(&s), 0);
	assert_int_equal(sn_jscan_next_key(&s, &k), 1);
	assert_int_equal(sn_jscan_skip(&s, &v), 0);
	assert_int_equal(sn_jscan_next_key(&s, &k), SN_ERR_INVALID);
	assert_int_equal(s.err_off, 7);
}

/* ---- whole requests ---------------------------------------------------------------- */

static int fake_resolve(void *arg, const char *token, int64_t *team_id, struct sn_err *err)
{
	(void)arg;
	(void)err;
	if (strcmp(token, "phc_good") == 0) {
		*team_id = 7;
		return 0;
	}
	return SN_ERR_NOT_FOUND;
}

struct result {
	int rc;
	unsigned status;
	char msg[512];
	size_t n;
	struct json_object *rec[8];
};

static void run(struct result *r, const char *path, const char *ctype, const char *body, size_t len,
		enum sn_capture_kind kind)
{
	struct sn_capture_request req = {.kind = kind,
					 .path = path,
					 .content_type = ctype,
					 .body = body,
					 .body_len = len,
					 .ip = "10.1.2.3",
					 .now_us = NOW_US,
					 .limit = 1 << 20,
					 .resolve = fake_resolve};
	struct sn_capture_batch b;
	struct sn_err err = {0};
	memset(r, 0, sizeof(*r));
	sn_capture_batch_init(&b);
	r->rc = sn_capture_process(&req, &b, &r->status, &err);
	snprintf(r->msg, sizeof(r->msg), "%s", err.msg);
	r->n = b.n;
	for (size_t i = 0; i < b.n && i < 8; i++) {
		uint32_t n;
		const char *j = sn_evix_json(b.type, b.data.data + b.off[i], b.len[i], &n);
		assert_non_null(j);
		assert_int_equal(sn_json_parse(j, n, &r->rec[i], NULL), 0);
	}
	sn_capture_batch_release(&b);
}

static void done(struct result *r)
{
	for (size_t i = 0; i < r->n && i < 8; i++)
		json_object_put(r->rec[i]);
}

static const char *sget(struct json_object *o, const char *key)
{
	return json_object_get_string(json_object_object_get(o, key));
}

static void test_single_event(void **state)
{
	(void)state;
	struct result r;
	const char *body =
	    "{\"api_key\":\"phc_good\",\"event\":\"$pageview\",\"distinct_id\":\"u1\","
	    "\"uuid\":\"0193DC33-E981-7160-B398-02B517168F86\","
	    "\"properties\":{\"$browser\":\"Firefox\"},"
	    "\"timestamp\":\"2025-01-01T11:00:00Z\"}";
	run(&r, "/e/", "application/json", body, strlen(body), SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 1);
	struct json_object *e = r.rec[0];
	assert_string_equal(sget(e, "uuid"), "0193dc33-e981-7160-b398-02b517168f86");
	assert_string_equal(sget(e, "distinct_id"), "u1");
	assert_string_equal(sget(e, "event"), "$pageview");
	assert_string_equal(sget(e, "ip"), "10.1.2.3");
	assert_string_equal(sget(e, "token"), "phc_good");
	assert_int_equal(json_object_get_int64(json_object_object_get(e, "team_id")), 7);
	assert_string_equal(sget(e, "timestamp"), "2025-01-01T11:00:00.000Z");
	assert_string_equal(sget(e, "now"), "2025-01-01T12:00:00.000Z");
	assert_null(json_object_object_get(e, "sent_at"));
	struct json_object *data = json_object_object_get(e, "data");
	assert_string_equal(sget(json_object_object_get(data, "properties"), "$browser"),
			    "Firefox");
	done(&r);
}

/* Rust's Uuid::parse_str takes the braced and URN spellings too: capture
 * accepts them, and the record holds the canonical form. */
static void test_uuid_spellings(void **state)
{
	(void)state;
	static const char *const uuids[] = {
	    "{0193DC33-E981-7160-B398-02B517168F86}",
	    "urn:uuid:0193dc33-e981-7160-b398-02b517168f86",
	    "0193dc33e9817160b39802b517168f86",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(uuids); i++) {
		struct result r;
		char body[256];
		snprintf(body, sizeof(body),
			 "{\"api_key\":\"phc_good\",\"event\":\"e\",\"distinct_id\":\"u\","
			 "\"uuid\":\"%s\"}",
			 uuids[i]);
		run(&r, "/e/", "application/json", body, strlen(body), SN_CAPTURE_ANALYTICS);
		if (r.rc)
			fail_msg("%s: %s", uuids[i], r.msg);
		assert_int_equal(r.n, 1);
		assert_string_equal(sget(r.rec[0], "uuid"), "0193dc33-e981-7160-b398-02b517168f86");
		done(&r);
	}
}

static void test_batch_shapes(void **state)
{
	(void)state;
	struct result r;
	/* {batch} with sent_at: clock skew corrected; uuid generated. */
	const char *b1 =
	    "{\"api_key\":\"phc_good\",\"sent_at\":\"2025-01-01T12:00:05Z\",\"batch\":["
	    "{\"event\":\"a\",\"distinct_id\":\"x\",\"timestamp\":\"2025-01-01T11:59:55Z\"},"
	    "{\"event\":\"b\",\"distinct_id\":42,\"uuid\":\"\"}]}";
	run(&r, "/batch/", "application/json", b1, strlen(b1), SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(sget(r.rec[0], "timestamp"), "2025-01-01T11:59:50.000Z");
	assert_string_equal(sget(r.rec[0], "sent_at"), "2025-01-01T12:00:05.000Z");
	assert_string_equal(sget(r.rec[1], "distinct_id"), "42");
	assert_int_equal(sget(r.rec[1], "uuid")[14], '7'); /* v7 generated */
	done(&r);

	/* Array with the token in properties; one token for all. */
	const char *b2 = "[{\"event\":\"a\",\"properties\":{\"token\":\"phc_good\",\"distinct_id\":"
			 "\"p\"}},{\"event\":\"b\",\"$token\":\" phc_good \",\"distinct_id\":\"q\","
			 "\"properties\":{\"distinct_id\":\"ignored\"}}]";
	run(&r, "/e/", NULL, b2, strlen(b2), SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(sget(r.rec[0], "distinct_id"), "p");
	assert_string_equal(sget(r.rec[1], "distinct_id"), "q");
	done(&r);

	/* /engage without an event name becomes $identify. */
	const char *b3 = "{\"token\":\"phc_good\",\"$distinct_id\":\"e1\",\"$set\":{\"a\":1}}";
	run(&r, "/engage/", NULL, b3, strlen(b3), SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.rc, 0);
	assert_string_equal(sget(r.rec[0], "event"), "$identify");
	assert_string_equal(sget(r.rec[0], "distinct_id"), "e1");
	done(&r);
}

static void test_encodings(void **state)
{
	(void)state;
	struct result r;
	const char *json = "{\"token\":\"phc_good\",\"event\":\"enc\",\"distinct_id\":\"d\"}";
	/* gzip, no hint at all. */
	unsigned char gz[256];
	z_stream zs = {0};
	deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
	zs.next_in = (unsigned char *)json;
	zs.avail_in = (uInt)strlen(json);
	zs.next_out = gz;
	zs.avail_out = sizeof(gz);
	deflate(&zs, Z_FINISH);
	size_t gzlen = sizeof(gz) - zs.avail_out;
	deflateEnd(&zs);
	run(&r, "/e/", "text/plain", (const char *)gz, gzlen, SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.rc, 0);
	assert_string_equal(sget(r.rec[0], "event"), "enc");
	done(&r);
	/* Truncated gzip → 400. */
	run(&r, "/e/", "text/plain", (const char *)gz, gzlen - 6, SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.msg, "failed to decode request"));
	/* Base64 form (posthog-js compression=base64): data is urlencoded base64. */
	const char *form = "data=eyJ0b2tlbiI6InBoY19nb29kIiwiZXZlbnQiOiJlbmMiLCJkaXN0aW5jdF9pZCI6"
			   "ImQifQ%3D%3D&compression=base64";
	run(&r, "/e/", "application/x-www-form-urlencoded", form, strlen(form),
	    SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.rc, 0);
	assert_string_equal(sget(r.rec[0], "distinct_id"), "d");
	done(&r);
	/* Raw base64 body (optimistic unwrap). */
	const char *b64 =
	    "eyJ0b2tlbiI6InBoY19nb29kIiwiZXZlbnQiOiJlbmMiLCJkaXN0aW5jdF9pZCI6ImQifQ==";
	run(&r, "/e/", "text/plain", b64, strlen(b64), SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.rc, 0);
	done(&r);
	/* JSON sent with the form content type (curl -d) is read as JSON... */
	run(&r, "/e/", "application/x-www-form-urlencoded", json, strlen(json),
	    SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.rc, 0);
	assert_string_equal(sget(r.rec[0], "event"), "enc");
	done(&r);
	/* ...but other non-form text with that content type is refused. */
	run(&r, "/e/", "application/x-www-form-urlencoded", "hello world", 11,
	    SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.msg, "expected form data"));
	/* Invalid UTF-8 → 400. */
	run(&r, "/e/", NULL, "{\"event\":\"\xff\"}", 13, SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.status, 400);
}

static void test_errors(void **state)
{
	(void)state;
	struct result r;
#define EXPECT(body, st, needle)                                                \
	do {                                                                    \
		run(&r, "/e/", NULL, body, strlen(body), SN_CAPTURE_ANALYTICS); \
		assert_int_equal(r.status, st);                                 \
		assert_true(r.rc < 0);                                          \
		assert_int_equal(r.n, 0);                                       \
		if (!strstr(r.msg, needle))                                     \
			fail_msg("message '%s' lacks '%s'", r.msg, needle);     \
	} while (0)
	EXPECT("", 400, "empty payload");
	EXPECT("{\"event\":", 400, "failed to parse request");
	EXPECT("[]", 400, "request holds no event");
	EXPECT("{\"event\":\"a\",\"distinct_id\":\"d\"}", 401, "without an api_key");
	EXPECT("{\"token\":\"phx_secret\",\"event\":\"a\",\"distinct_id\":\"d\"}", 401,
	       "personal API key");
	EXPECT("{\"token\":\"phc_unknown\",\"event\":\"a\",\"distinct_id\":\"d\"}", 401,
	       "no project has this API key");
	EXPECT("[{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\"},"
	       "{\"token\":\"phc_other\",\"event\":\"a\",\"distinct_id\":\"d\"}]",
	       401, "inconsistent");
	EXPECT("{\"token\":\"phc_good\",\"event\":\"a\"}", 400, "without a distinct_id");
	EXPECT("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"\"}", 400,
	       "without a distinct_id");
	EXPECT("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":null}", 400,
	       "without a distinct_id");
	EXPECT("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"  \"}", 400,
	       "without a distinct_id");
	EXPECT("{\"token\":\"phc_good\",\"event\":\"a\",\"properties\":{\"distinct_id\":\"\\t\"}}",
	       400, "without a distinct_id");
	EXPECT("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\",\"uuid\":"
	       "\"{0193dc33e9817160b39802b517168f86}\"}",
	       400, "not a valid UUID");
	EXPECT("{\"token\":\"phc_good\",\"event\":\"\",\"distinct_id\":\"d\"}", 400,
	       "empty event name");
	EXPECT("{\"token\":\"phc_good\",\"distinct_id\":\"d\"}", 400, "missing field `event`");
	EXPECT("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\",\"uuid\":\"nope\"}",
	       400, "not a valid UUID");
	EXPECT("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\",\"properties\":{"
	       "\"$cookieless_mode\":\"yes\"}}",
	       400, "$cookieless_mode");
	/* One bad event among good ones: refused whole, the index named. */
	EXPECT("{\"api_key\":\"phc_good\",\"batch\":[{\"event\":\"a\",\"distinct_id\":\"d\"},"
	       "{\"event\":\"b\",\"distinct_id\":\"d\"},{\"event\":\"c\"}]}",
	       400, "event 2: event submitted without a distinct_id");
#undef EXPECT
}

static void test_too_big(void **state)
{
	(void)state;
	struct sn_buf big;
	sn_buf_init(&big, 0);
	sn_buf_appends(&big, "{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\","
			     "\"properties\":{\"x\":\"");
	for (int i = 0; i < (1 << 20); i++)
		sn_buf_appendc(&big, 'a');
	sn_buf_appends(&big, "\"}}");
	struct result r;
	run(&r, "/e/", NULL, big.data, big.len, SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.msg, "maximum event size exceeded"));
	sn_buf_release(&big);
}

static void test_recordings(void **state)
{
	(void)state;
	struct result r;
	const char *body =
	    "[{\"event\":\"$snapshot\",\"properties\":{\"token\":\"phc_good\",\"distinct_id\":"
	    "\"r1\",\"$session_id\":\"sess-1\",\"$window_id\":\"win-1\",\"$snapshot_data\":["
	    "{\"type\":4,\"timestamp\":1},{\"type\":2,\"timestamp\":2}]}},"
	    "{\"event\":\"$snapshot\",\"properties\":{\"token\":\"phc_good\",\"distinct_id\":"
	    "\"r1\",\"$session_id\":\"sess-1\",\"$snapshot_data\":{\"type\":3,\"timestamp\":3}}}]";
	run(&r, "/s/", NULL, body, strlen(body), SN_CAPTURE_RECORDING);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 1);
	struct json_object *rec = r.rec[0];
	assert_string_equal(sget(rec, "session_id"), "sess-1");
	assert_string_equal(sget(rec, "window_id"), "win-1");
	assert_string_equal(sget(rec, "snapshot_source"), "web");
	struct json_object *items = json_object_object_get(rec, "snapshot_items");
	assert_int_equal(json_object_array_length(items), 3);
	assert_int_equal(json_object_get_int(
			     json_object_object_get(json_object_array_get_idx(items, 2), "type")),
			 3);
	done(&r);
	const char *nosess = "[{\"event\":\"$snapshot\",\"properties\":{\"token\":\"phc_good\","
			     "\"distinct_id\":\"r1\",\"$snapshot_data\":[]}}]";
	run(&r, "/s/", NULL, nosess, strlen(nosess), SN_CAPTURE_RECORDING);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.msg, "without session id"));
	const char *badsess =
	    "[{\"event\":\"$snapshot\",\"properties\":{\"token\":\"phc_good\","
	    "\"distinct_id\":\"r1\",\"$session_id\":\"a b\",\"$snapshot_data\":[]}}]";
	run(&r, "/s/", NULL, badsess, strlen(badsess), SN_CAPTURE_RECORDING);
	assert_int_equal(r.status, 400);
}

/* The "data" of record i as raw bytes. */
static const char *raw_data(const char *rec, size_t len, size_t *n)
{
	const char *d = strstr(rec, ",\"data\":");
	assert_non_null(d);
	d += 8;
	*n = (size_t)(rec + len - 1 - d); /* up to the record's closing brace */
	return d;
}

static void test_verbatim_data(void **state)
{
	(void)state;
	/* Whitespace, escapes and number spellings survive byte for byte. */
	const char *ev = "{ \"event\" : \"a\\u00e9\\n\", \"distinct_id\":\"d\\/1\",\n"
			 "\t\"properties\": {\"q\": \"x\\\"y\\/z\", \"n\": 1.50, \"e\": 1E+2,"
			 " \"u\": \"\\ud800\"} }";
	char body[512];
	snprintf(body, sizeof(body), "{\"api_key\":\"phc_good\",\"batch\":[ %s ]}", ev);
	struct sn_capture_request req = {.kind = SN_CAPTURE_ANALYTICS,
					 .path = "/batch/",
					 .body = body,
					 .body_len = strlen(body),
					 .ip = "10.1.2.3",
					 .now_us = NOW_US,
					 .limit = 1 << 20,
					 .resolve = fake_resolve};
	struct sn_capture_batch b;
	struct sn_err err = {0};
	unsigned status;
	sn_capture_batch_init(&b);
	assert_int_equal(sn_capture_process(&req, &b, &status, &err), 0);
	assert_int_equal(b.n, 1);
	size_t n;
	uint32_t jn;
	const char *j = sn_evix_json(b.type, b.data.data + b.off[0], b.len[0], &jn);
	assert_non_null(j);
	const char *d = raw_data(j, jn, &n);
	assert_int_equal(n, strlen(ev));
	assert_memory_equal(d, ev, n);
	/* The record is still JSON, and capture's fields are decoded. */
	struct json_object *rec;
	assert_int_equal(sn_json_parse(j, jn, &rec, NULL), 0);
	assert_string_equal(sget(rec, "event"), "a\xc3\xa9\n");
	assert_string_equal(sget(rec, "distinct_id"), "d/1");
	json_object_put(rec);
	sn_capture_batch_release(&b);
}

static void test_scanned_fields(void **state)
{
	(void)state;
	struct result r;
#define OK(body)                                                                \
	do {                                                                    \
		run(&r, "/e/", NULL, body, strlen(body), SN_CAPTURE_ANALYTICS); \
		if (r.rc)                                                       \
			fail_msg("refused: %s", r.msg);                         \
	} while (0)
	/* Escaped keys are the keys they spell. */
	OK("{\"\\u0074oken\":\"phc_good\",\"ev\\u0065nt\":\"x\",\"distinct\\u005fid\":\"d\"}");
	assert_string_equal(sget(r.rec[0], "event"), "x");
	assert_string_equal(sget(r.rec[0], "distinct_id"), "d");
	done(&r);
	/* Duplicate keys: the last wins (json-c did the same). */
	OK("{\"token\":\"phc_good\",\"event\":\"a\",\"event\":\"b\",\"distinct_id\":\"d1\","
	   "\"distinct_id\":\"d2\"}");
	assert_string_equal(sget(r.rec[0], "event"), "b");
	assert_string_equal(sget(r.rec[0], "distinct_id"), "d2");
	done(&r);
	/* ...also for properties: the second one has no distinct_id. */
	run(&r, "/e/", NULL,
	    "{\"token\":\"phc_good\",\"event\":\"a\",\"properties\":{\"distinct_id\":\"p\"},"
	    "\"properties\":{}}",
	    strlen("{\"token\":\"phc_good\",\"event\":\"a\",\"properties\":{\"distinct_id\":\"p\"},"
		   "\"properties\":{}}"),
	    SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.msg, "without a distinct_id"));
	/* ...and for batch: a last "batch" that is no array makes the body one event. */
	OK("{\"token\":\"phc_good\",\"batch\":[{\"event\":\"x\"}],\"batch\":1,\"event\":\"root\","
	   "\"distinct_id\":\"r\"}");
	assert_int_equal(r.n, 1);
	assert_string_equal(sget(r.rec[0], "event"), "root");
	done(&r);
	/* Non-string distinct_ids: numbers keep their text, containers are
	 * serialised with sorted keys, escapes decoded, NUL → U+FFFD. */
	OK("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":1e2}");
	assert_string_equal(sget(r.rec[0], "distinct_id"), "1e2");
	done(&r);
	OK("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":{\"b\":1,\"a\":[2,{\"d\":1,"
	   "\"c\":"
	   "\"\\u00e9\"}]}}");
	assert_string_equal(sget(r.rec[0], "distinct_id"),
			    "{\"a\":[2,{\"c\":\"\xc3\xa9\",\"d\":1}],\"b\":1}");
	done(&r);
	OK("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"x\\u0000y\\ud800\"}");
	assert_string_equal(sget(r.rec[0], "distinct_id"), "x\xef\xbf\xbdy\xef\xbf\xbd");
	done(&r);
	OK("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":true}");
	assert_string_equal(sget(r.rec[0], "distinct_id"), "true");
	done(&r);
	/* offset: an integer, not 1.0; timestamps also as numbers. */
	OK("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\",\"offset\":1000}");
	assert_string_equal(sget(r.rec[0], "timestamp"), "2025-01-01T11:59:59.000Z");
	done(&r);
	OK("{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\",\"timestamp\":"
	   "1735732800000}");
	assert_string_equal(sget(r.rec[0], "timestamp"), "2025-01-01T12:00:00.000Z");
	done(&r);
	const char *off = "{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\","
			  "\"offset\":1.0}";
	run(&r, "/e/", NULL, off, strlen(off), SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.msg, "offset must be an integer"));
	/* Grammar json-c let through is refused, with the byte offset. */
	const char *nan = "{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\","
			  "\"properties\":{\"x\":NaN}}";
	run(&r, "/e/", NULL, nan, strlen(nan), SN_CAPTURE_ANALYTICS);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.msg, "failed to parse request: invalid JSON at byte 68"));
	/* Nesting: SN_JSCAN_MAX_DEPTH levels counted from the body's root pass,
	 * one more does not. */
	char deep[2 * SN_JSCAN_MAX_DEPTH + 128];
	const int inner = SN_JSCAN_MAX_DEPTH - 1;
	for (int extra = 0; extra < 2; extra++) {
		int k = snprintf(
		    deep, sizeof(deep),
		    "{\"token\":\"phc_good\",\"event\":\"a\",\"distinct_id\":\"d\",\"p\":");
		for (int i = 0; i < inner + extra; i++)
			deep[k++] = '[';
		for (int i = 0; i < inner + extra; i++)
			deep[k++] = ']';
		snprintf(deep + k, sizeof(deep) - (size_t)k, "}");
		run(&r, "/e/", NULL, deep, strlen(deep), SN_CAPTURE_ANALYTICS);
		if (extra) {
			assert_int_equal(r.status, 400);
			assert_non_null(strstr(r.msg, "nesting too deep"));
		} else {
			assert_int_equal(r.rc, 0);
			done(&r);
		}
	}
#undef OK
}

static void test_recording_items_verbatim(void **state)
{
	(void)state;
	const char *body = "{\"event\":\"$snapshot\",\"properties\":{\"token\":\"phc_good\","
			   "\"distinct_id\":\"r\",\"$session_id\":\"s1\",\"$snapshot_data\":[ "
			   "{\"type\" : 4, \"d\":\"\\u00e9\"} ,\n{\"type\":2} ]}}";
	struct sn_capture_request req = {.kind = SN_CAPTURE_RECORDING,
					 .path = "/s/",
					 .body = body,
					 .body_len = strlen(body),
					 .ip = "10.1.2.3",
					 .now_us = NOW_US,
					 .limit = 1 << 20,
					 .resolve = fake_resolve};
	struct sn_capture_batch b;
	struct sn_err err = {0};
	unsigned status;
	sn_capture_batch_init(&b);
	assert_int_equal(sn_capture_process(&req, &b, &status, &err), 0);
	assert_int_equal(b.n, 1);
	assert_non_null(strstr(b.data.data, "\"snapshot_items\":[{\"type\" : 4, \"d\":\"\\u00e9\"} "
					    ",\n{\"type\":2}]}"));
	sn_capture_batch_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_timestamp),
	    cmocka_unit_test(test_compute_timestamp),
	    cmocka_unit_test(test_distinct_id),
	    cmocka_unit_test(test_token_rules),
	    cmocka_unit_test(test_single_event),
	    cmocka_unit_test(test_uuid_spellings),
	    cmocka_unit_test(test_batch_shapes),
	    cmocka_unit_test(test_encodings),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_recordings),
	    cmocka_unit_test(test_jscan_valid),
	    cmocka_unit_test(test_jscan_invalid),
	    cmocka_unit_test(test_jscan_strings),
	    cmocka_unit_test(test_jscan_string_positions),
	    cmocka_unit_test(test_jscan_numbers),
	    cmocka_unit_test(test_jscan_cursor),
	    cmocka_unit_test(test_verbatim_data),
	    cmocka_unit_test(test_scanned_fields),
	    cmocka_unit_test(test_recording_items_verbatim),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
