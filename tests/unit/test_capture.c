/*
 * test_capture.c — the capture protocol without a server: the decoding
 * pipeline, the timestamp rules with the spec's worked examples, distinct_id
 * and token rules, and whole requests to WAL records (shapes, all-or-nothing
 * batches, statuses and messages).
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
	for (size_t i = 0; i < b.n && i < 8; i++)
		assert_int_equal(sn_json_parse(b.data.data + b.off[i], b.len[i], &r->rec[i], NULL),
				 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_timestamp), cmocka_unit_test(test_compute_timestamp),
	    cmocka_unit_test(test_distinct_id),	    cmocka_unit_test(test_token_rules),
	    cmocka_unit_test(test_single_event),    cmocka_unit_test(test_batch_shapes),
	    cmocka_unit_test(test_encodings),	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_too_big),	    cmocka_unit_test(test_recordings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
