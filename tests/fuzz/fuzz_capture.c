// fuzz-sources: src/base/*.c src/http/decode.c src/http/lzstring.c src/capture/process.c
// fuzz-sources: src/capture/decode.c src/capture/timestamp.c
/*
 * fuzz_capture.c — libFuzzer target for the whole capture protocol without a
 * server: the first input byte picks the path, content type and kind; the
 * rest is the body. Whatever comes in, sn_capture_process must return a
 * status and never crash, leak or read out of bounds; on success every
 * record it produced must be valid JSON.
 */
#include <stdint.h>
#include <string.h>

#include "capture/capture.h"

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
			if (sn_json_parse(b.data.data + b.off[i], b.len[i], &o, NULL))
				__builtin_trap();
			json_object_put(o);
		}
	} else if (status < 400 || status > 503) {
		__builtin_trap();
	}
	sn_capture_batch_release(&b);
	return 0;
}
