// fuzz-sources: src/base/*.c src/http/decode.c src/http/lzstring.c src/capture/process.c
// fuzz-sources: src/capture/decode.c src/capture/timestamp.c src/wal/evindex.c
/*
 * fuzz_capture.c — libFuzzer target for the whole capture protocol without a
 * server: the first input byte picks the path, content type and kind; the
 * rest is the body. Whatever comes in, sn_capture_process must return a
 * status and never crash, leak or read out of bounds; on success every
 * record it produced must be valid JSON, and an event record's index
 * (wal/evindex.h) must say what a scan of that JSON says: each span a
 * value of the record, each member of the table the scanner's key and value.
 */
#include <stdint.h>
#include <string.h>

#include "capture/capture.h"
#include "wal/evindex.h"

static bool span_eq(const struct sn_jspan *a, const struct sn_jspan *b)
{
	return a->p == b->p && a->len == b->len && a->type == b->type && a->flags == b->flags;
}

/* The index of one event record against a scan of its JSON. */
static void check_index(const char *rec, uint32_t len)
{
	struct sn_evix ix;
	struct sn_jscan sc;
	struct sn_jspan k, v, want[SN_EVIX_NSPANS] = {{0}}, got;
	static const char *const names[] = {"uuid",	 "distinct_id", "ip",	 "team_id",
					    "timestamp", "now",		"event", "data"};
	if (sn_evix_open(rec, len, &ix, NULL))
		__builtin_trap();
	sn_jscan_init(&sc, ix.json, ix.json_len, NULL);
	if (sn_jscan_enter(&sc))
		__builtin_trap();
	while (sn_jscan_next_key(&sc, &k) > 0) {
		if (sn_jscan_skip(&sc, &v))
			__builtin_trap();
		for (int i = 0; i < SN_EVIX_DATA + 1; i++)
			if (sn_jspan_str_eq(&k, names[i], strlen(names[i])))
				want[i] = v;
	}
	/* properties: the event's last, when it is an object. */
	sn_jscan_init(&sc, want[SN_EVIX_DATA].p, want[SN_EVIX_DATA].len, NULL);
	if (sn_jscan_enter(&sc))
		__builtin_trap();
	while (sn_jscan_next_key(&sc, &k) > 0) {
		if (sn_jscan_skip(&sc, &v))
			__builtin_trap();
		if (sn_jspan_str_eq(&k, "properties", 10))
			want[SN_EVIX_PROPERTIES] = v.type == SN_JOBJECT ? v : (struct sn_jspan){0};
	}
	for (int i = 0; i < SN_EVIX_NSPANS; i++)
		if (sn_evix_span(&ix, (enum sn_evix_span)i, &got) || !span_eq(&got, &want[i]))
			__builtin_trap();
	if (!(ix.flags & SN_EVIX_MEMBERS))
		return;
	/* The table, member for member, against the scanner. */
	struct sn_evix_walk w;
	struct sn_jspan k2, v2;
	sn_evix_walk_init(&w, &got);
	sn_jscan_init(&sc, got.p, got.len, NULL);
	if (sn_jscan_enter(&sc))
		__builtin_trap();
	for (;;) {
		int a = sn_evix_walk_next(&ix, &w, &k, &v), b = sn_jscan_next_key(&sc, &k2);
		if (a < 0 || b < 0 || a != b)
			__builtin_trap();
		if (a == 0)
			break;
		if (sn_jscan_skip(&sc, &v2) || !span_eq(&k, &k2) || !span_eq(&v, &v2))
			__builtin_trap();
	}
}

static int resolve(void *arg, const char *token, int64_t *team_id, struct sn_err *err)
{
	(void)arg;
	(void)err;
	if (token[0] == 'x')
		return SN_ERR_NOT_FOUND;
	*team_id = 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *paths[] = {"/e/", "/batch/", "/i/v0/e/", "/engage/"};
	static const char *ctypes[] = {NULL, "application/json", "text/plain",
				       "application/x-www-form-urlencoded"};
	static const char *hints[] = {NULL, "gzip", "lz64", "base64"};
	if (size < 1)
		return 0;
	uint8_t sel = data[0];
	struct sn_capture_request req = {
	    .kind = (sel & 0x40) ? SN_CAPTURE_RECORDING : SN_CAPTURE_ANALYTICS,
	    .path = paths[sel & 3],
	    .content_type = ctypes[(sel >> 2) & 3],
	    .q_compression = hints[(sel >> 4) & 3],
	    .body = (const char *)data + 1,
	    .body_len = size - 1,
	    .ip = "127.0.0.1",
	    .now_us = 1735732800000000LL,
	    .limit = 256 * 1024,
	    .resolve = resolve,
	};
	struct sn_capture_batch b;
	struct sn_err err;
	unsigned status;
	sn_capture_batch_init(&b);
	int rc = sn_capture_process(&req, &b, &status, &err);
	if (rc == 0) {
		for (size_t i = 0; i < b.n; i++) {
			struct json_object *o;
			uint32_t n;
			const char *j = sn_evix_json(b.type, b.data.data + b.off[i], b.len[i], &n);
			if (!j || sn_json_parse(j, n, &o, NULL))
				__builtin_trap();
			json_object_put(o);
			if (b.type == SN_WAL_EVENT_IX)
				check_index(b.data.data + b.off[i], b.len[i]);
		}
	} else if (status < 400 || status > 503) {
		__builtin_trap();
	}
	sn_capture_batch_release(&b);
	return 0;
}
