// fuzz-sources: src/base/*.c src/http/decode.c src/http/lzstring.c
/*
 * fuzz_decode.c — libFuzzer target for the HTTP body decoders.
 *
 * Every input goes to every decoder, with small output caps so a bomb found
 * by the fuzzer costs kilobytes, not gigabytes. Besides "no crash, no
 * sanitizer report", it checks the promises the header makes and abort()s
 * when one breaks, so libFuzzer records the input:
 *
 *   - on failure the output buffer is back to what it held before;
 *   - output never exceeds max_out;
 *   - lz-string output is always valid UTF-8 (lone surrogates → U+FFFD);
 *   - base64 that decodes re-encodes to exactly the input (strict, canonical);
 *   - url-decoding never grows the text;
 *   - sn_utf8_valid agrees with a slow reference validator written
 *     differently (decode by bit pattern, then range checks).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "http/http.h"

#define CAP 4096

/* A broken promise: say which one, then crash so libFuzzer keeps the input. */
#define check(ok)                                                                               \
	do {                                                                                    \
		if (!(ok)) {                                                                    \
			fprintf(stderr, "fuzz_decode: check failed at line %d: %s\n", __LINE__, \
				#ok);                                                           \
			abort();                                                                \
		}                                                                               \
	} while (0)

/* Runs a decoder against a buffer holding a sentinel prefix and checks the
 * all-or-nothing rule. */
#define PREFIX "pre"

static void start(struct sn_buf *b)
{
	sn_buf_init(b, 1u << 20);
	check(sn_buf_appends(b, PREFIX) == 0);
}

static void after(struct sn_buf *b, int rc, size_t max_out)
{
	check(b->len >= strlen(PREFIX) && memcmp(b->data, PREFIX, strlen(PREFIX)) == 0);
	check(b->data[b->len] == 0);
	if (rc != 0)
		check(b->len == strlen(PREFIX));
	else
		check(b->len - strlen(PREFIX) <= max_out);
}

static bool ref_utf8_valid(const uint8_t *p, size_t len)
{
	static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t i = 0;
	while (i < len) {
		uint32_t cp = p[i];
		size_t n = cp < 0x80		 ? 1
			   : (cp & 0xe0) == 0xc0 ? 2
			   : (cp & 0xf0) == 0xe0 ? 3
			   : (cp & 0xf8) == 0xf0 ? 4
						 : 0;
		if (n == 0 || len - i < n)
			return false;
		if (n > 1) {
			cp &= 0x7fu >> n;
			for (size_t k = 1; k < n; k++) {
				if ((p[i + k] & 0xc0) != 0x80)
					return false;
				cp = cp << 6 | (p[i + k] & 0x3fu);
			}
			if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				return false;
		}
		i += n;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct sn_buf b;
	struct sn_err err;
	int rc;

	/* gzip, as-is and with the magic forced so inflate itself is reached. */
	start(&b);
	rc = sn_gunzip(data, size, CAP, &b, &err);
	after(&b, rc, CAP);
	check(rc == 0 || rc == SN_ERR_INVALID || rc == SN_ERR_TOO_BIG);
	sn_buf_release(&b);
	if (size >= 2 && !sn_is_gzip(data, size)) {
		uint8_t *g = malloc(size);
		check(g != NULL);
		memcpy(g, data, size);
		g[0] = 0x1f;
		g[1] = 0x8b;
		start(&b);
		rc = sn_gunzip(g, size, CAP, &b, &err);
		after(&b, rc, CAP);
		sn_buf_release(&b);
		free(g);
	}

	/* base64: success means the input was canonical padded base64. */
	start(&b);
	rc = sn_base64_decode(s, size, &b, &err);
	after(&b, rc, SIZE_MAX);
	if (rc == 0 && size > 0) {
		size_t n = b.len - strlen(PREFIX);
		size_t enc_len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
		char *enc = malloc(enc_len);
		check(enc != NULL);
		sodium_bin2base64(enc, enc_len, (unsigned char *)b.data + strlen(PREFIX), n,
				  sodium_base64_VARIANT_ORIGINAL);
		check(strlen(enc) == size && memcmp(enc, s, size) == 0);
		free(enc);
	}
	if (rc == 0)
		check(sn_looks_like_base64(s, size, false) || size == 0);
	sn_buf_release(&b);
	(void)sn_looks_like_base64(s, size, true);
	(void)sn_looks_like_form(s, size);

	/* lz-string. */
	start(&b);
	rc = sn_lzstring_decompress_base64(s, size, CAP, &b, &err);
	after(&b, rc, CAP);
	if (rc == 0)
		check(sn_utf8_valid(b.data + strlen(PREFIX), b.len - strlen(PREFIX)));
	sn_buf_release(&b);

	/* url-decoding and forms. */
	start(&b);
	rc = sn_url_decode(s, size, &b);
	after(&b, rc, size);
	sn_buf_release(&b);

	static const char *const fields[] = {"data", "compression", "ver", ""};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		start(&b);
		rc = sn_form_get(s, size, fields[i], &b);
		after(&b, rc, size);
		check(rc == 0 || rc == SN_ERR_NOT_FOUND || rc == SN_ERR_INVALID);
		sn_buf_release(&b);
	}

	check(sn_utf8_valid(s, size) == ref_utf8_valid(data, size));
	return 0;
}
