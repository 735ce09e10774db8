/*
 * test_http.c — unit tests of the http module's body decoders (gzip, base64,
 * lz-string, urlencoded forms, UTF-8). The server half of http/ is tested by
 * the black-box suite, which drives it over real sockets.
 *
 * lz-string vectors were produced by the reference implementation (npm
 * lz-string 1.5.0, compressToBase64) and are embedded verbatim; the expected
 * text is the UTF-8 that Node's Buffer.from(s, "utf8") gives for the same
 * string (which also maps lone surrogates to U+FFFD). gzip vectors are made
 * with zlib in the test and one fixed vector with `gzip -9 -n`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "http/http.h"

/* ---- helpers ---------------------------------------------------------------- */

/* Compresses data with zlib's gzip wrapper into a malloc'd buffer. */
static unsigned char *gzip_bytes(const void *data, size_t len, size_t *out_len)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&zs, len) + 64;
	unsigned char *buf = malloc(cap);
	assert_non_null(buf);
	zs.next_in = (unsigned char *)data;
	zs.avail_in = (unsigned)len;
	zs.next_out = buf;
	zs.avail_out = (unsigned)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = cap - zs.avail_out;
	deflateEnd(&zs);
	return buf;
}

static void assert_buf_eq(const struct sn_buf *b, const void *want, size_t len)
{
	assert_int_equal(b->len, len);
	if (len)
		assert_memory_equal(b->data, want, len);
}

/* ---- gzip ------------------------------------------------------------------- */

/* printf '{"event":"hi"}\n' | gzip -9 -n */
static const unsigned char gz_fixed[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xab, 0x56,
    0x4a, 0x2d, 0x4b, 0xcd, 0x2b, 0x51, 0xb2, 0x52, 0xca, 0xc8, 0x54, 0xaa,
    0xe5, 0x02, 0x00, 0xdd, 0xd1, 0xfd, 0xeb, 0x0f, 0x00, 0x00, 0x00,
};
static const char gz_fixed_text[] = "{\"event\":\"hi\"}\n";

/* printf 'second\n' | gzip -n */
static const unsigned char gz_second[] = {
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x2b, 0x4e, 0x4d, 0xce,
    0xcf, 0x4b, 0xe1, 0x02, 0x00, 0x7e, 0xc0, 0x0f, 0x06, 0x07, 0x00, 0x00, 0x00,
};

static void test_gunzip_fixed_vector(void **state)
{
	(void)state;
	struct sn_buf b;
	struct sn_err err = {0};
	sn_buf_init(&b, 0);
	assert_int_equal(sn_buf_appends(&b, "prefix:"), 0);
	assert_int_equal(sn_gunzip(gz_fixed, sizeof(gz_fixed), 1024, &b, &err), 0);
	assert_buf_eq(&b, "prefix:{\"event\":\"hi\"}\n", 7 + strlen(gz_fixed_text));
	assert_int_equal(b.data[b.len], 0);
	sn_buf_release(&b);
}

static void test_gunzip_roundtrip(void **state)
{
	(void)state;
	/* Sizes around the decoder's internal step and a 1 MB text body. */
	static const size_t sizes[] = {0, 1, 100, 65535, 65536, 262143, 262144, 262145, 1 << 20};
	for (size_t s = 0; s < SN_ARRAY_LEN(sizes); s++) {
		size_t n = sizes[s];
		char *plain = malloc(n + 1);
		assert_non_null(plain);
		uint32_t x = 12345;
		for (size_t i = 0; i < n; i++) {
			x = x * 1103515245u + 12345u;
			/* Mildly compressible: a small alphabet. */
			plain[i] = (char)("abcdefgh {}\":,\n"[(x >> 16) & 15]);
		}
		size_t zlen;
		unsigned char *z = gzip_bytes(plain, n, &zlen);
		struct sn_buf b;
		struct sn_err err = {0};
		sn_buf_init(&b, 0);
		assert_int_equal(sn_gunzip(z, zlen, n, &b, &err), 0);
		assert_buf_eq(&b, plain, n);
		/* One byte less allowed than the body has: too big. */
		if (n > 0) {
			sn_buf_reset(&b);
			assert_int_equal(sn_gunzip(z, zlen, n - 1, &b, &err), SN_ERR_TOO_BIG);
			assert_int_equal(err.code, SN_ERR_TOO_BIG);
			assert_int_equal(b.len, 0);
		}
		sn_buf_release(&b);
		free(z);
		free(plain);
	}
}

static void test_gunzip_concatenated_members(void **state)
{
	(void)state;
	unsigned char cat[sizeof(gz_fixed) + sizeof(gz_second)];
	memcpy(cat, gz_fixed, sizeof(gz_fixed));
	memcpy(cat + sizeof(gz_fixed), gz_second, sizeof(gz_second));
	struct sn_buf b;
	struct sn_err err = {0};
	sn_buf_init(&b, 0);
	assert_int_equal(sn_gunzip(cat, sizeof(cat), 1024, &b, &err), 0);
	assert_string_equal(b.data, "{\"event\":\"hi\"}\nsecond\n");

	/* The cap counts both members together. */
	sn_buf_reset(&b);
	assert_int_equal(sn_gunzip(cat, sizeof(cat), strlen(gz_fixed_text) + 3, &b, &err),
			 SN_ERR_TOO_BIG);
	assert_int_equal(b.len, 0);
	sn_buf_release(&b);
}

static void test_gunzip_truncated(void **state)
{
	(void)state;
	struct sn_buf b;
	sn_buf_init(&b, 0);
	assert_int_equal(sn_buf_appends(&b, "keep"), 0);
	/* Every proper prefix fails, and leaves the buffer as it was. */
	for (size_t n = 0; n < sizeof(gz_fixed); n++) {
		struct sn_err err = {0};
		int rc = sn_gunzip(gz_fixed, n, 1024, &b, &err);
		assert_int_equal(rc, SN_ERR_INVALID);
		assert_int_equal(err.code, SN_ERR_INVALID);
		assert_string_equal(b.data, "keep");
		if (n >= 10)
			assert_string_equal(err.msg, "truncated gzip data");
	}
	struct sn_err err = {0};
	assert_int_equal(sn_gunzip("", 0, 1024, &b, &err), SN_ERR_INVALID);
	assert_string_equal(err.msg, "empty gzip data");
	sn_buf_release(&b);
}

static void test_gunzip_corrupt(void **state)
{
	(void)state;
	struct sn_buf b;
	struct sn_err err = {0};
	unsigned char bad[sizeof(gz_fixed)];
	sn_buf_init(&b, 0);

	/* A wrong CRC-32 in the trailer. */
	memcpy(bad, gz_fixed, sizeof(bad));
	bad[sizeof(bad) - 6] ^= 0x01;
	assert_int_equal(sn_gunzip(bad, sizeof(bad), 1024, &b, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "corrupt gzip data"));
	assert_int_equal(b.len, 0);

	/* A wrong length in the trailer. */
	memcpy(bad, gz_fixed, sizeof(bad));
	bad[sizeof(bad) - 4] ^= 0x01;
	assert_int_equal(sn_gunzip(bad, sizeof(bad), 1024, &b, &err), SN_ERR_INVALID);

	/* An unknown compression method in the header. */
	memcpy(bad, gz_fixed, sizeof(bad));
	bad[2] = 0x07;
	assert_int_equal(sn_gunzip(bad, sizeof(bad), 1024, &b, &err), SN_ERR_INVALID);

	/* A reserved block type in the deflate data (BTYPE = 11). */
	memcpy(bad, gz_fixed, sizeof(bad));
	bad[10] = 0x07;
	assert_int_equal(sn_gunzip(bad, sizeof(bad), 1024, &b, &err), SN_ERR_INVALID);
	assert_int_equal(b.len, 0);

	/* Not gzip at all: a zlib stream and plain JSON. */
	static const unsigned char zlib_stream[] = {0x78, 0x9c, 0x4b, 0x04, 0x00,
						    0x00, 0x62, 0x00, 0x62};
	assert_int_equal(sn_gunzip(zlib_stream, sizeof(zlib_stream), 1024, &b, &err),
			 SN_ERR_INVALID);
	assert_int_equal(sn_gunzip("{\"a\":1}", 7, 1024, &b, &err), SN_ERR_INVALID);

	/* Trailing bytes that are not another member. */
	unsigned char trail[sizeof(gz_fixed) + 2];
	memcpy(trail, gz_fixed, sizeof(gz_fixed));
	trail[sizeof(gz_fixed)] = 0;
	trail[sizeof(gz_fixed) + 1] = 0;
	assert_int_equal(sn_gunzip(trail, sizeof(trail), 1024, &b, &err), SN_ERR_INVALID);
	assert_non_null(strstr(err.msg, "trailing data"));
	assert_int_equal(b.len, 0);

	/* Every single-byte corruption either fails cleanly or decodes to
	 * something within the cap (a flipped header flag can be harmless). */
	for (size_t i = 0; i < sizeof(gz_fixed); i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, gz_fixed, sizeof(bad));
			bad[i] ^= (unsigned char)(1u << bit);
			sn_buf_reset(&b);
			int rc = sn_gunzip(bad, sizeof(bad), 64, &b, &err);
			assert_true(rc == 0 || rc == SN_ERR_INVALID || rc == SN_ERR_TOO_BIG);
			if (rc)
				assert_int_equal(b.len, 0);
			else
				assert_true(b.len <= 64);
		}
	}
	sn_buf_release(&b);
}

static void test_gunzip_bomb_stops_early(void **state)
{
	(void)state;
	size_t n = 10u << 20;
	char *zeros = calloc(1, n);
	assert_non_null(zeros);
	size_t zlen;
	unsigned char *z = gzip_bytes(zeros, n, &zlen);
	free(zeros);
	assert_true(zlen < 64 * 1024); /* ~10 KB of gzip for 10 MB of output */

	struct sn_buf b;
	struct sn_err err = {0};
	sn_buf_init(&b, 0);
	uint64_t t0 = sn_mono_ns();
	assert_int_equal(sn_gunzip(z, zlen, 1u << 20, &b, &err), SN_ERR_TOO_BIG);
	uint64_t dt = sn_mono_ns() - t0;
	assert_int_equal(err.code, SN_ERR_TOO_BIG);
	assert_non_null(strstr(err.msg, "larger than 1048576 bytes"));
	assert_int_equal(b.len, 0);
	/* The memory spent is bounded by the cap, not by the 10 MB body. */
	assert_true(b.cap <= (2u << 20) + 1);
	/* Generous even for ASan on a loaded machine; inflating the whole
	 * 10 MB and copying it around would not be much slower, so the real
	 * proof is the capacity bound above. */
	assert_true(dt < 2000000000ull);

	/* The buffer's own maximum is a cap too. */
	struct sn_buf small;
	sn_buf_init(&small, 1000);
	assert_int_equal(sn_gunzip(z, zlen, 1u << 30, &small, &err), SN_ERR_TOO_BIG);
	assert_int_equal(small.len, 0);
	sn_buf_release(&small);

	/* max_out 0: only an empty body passes. */
	size_t elen;
	unsigned char *e = gzip_bytes("", 0, &elen);
	assert_int_equal(sn_gunzip(e, elen, 0, &b, &err), 0);
	assert_int_equal(sn_gunzip(gz_fixed, sizeof(gz_fixed), 0, &b, &err), SN_ERR_TOO_BIG);
	free(e);
	sn_buf_release(&b);
	free(z);
}

static void test_is_gzip(void **state)
{
	(void)state;
	assert_true(sn_is_gzip(gz_fixed, sizeof(gz_fixed)));
	assert_true(sn_is_gzip("\x1f\x8b", 2));
	assert_false(sn_is_gzip("\x1f", 1));
	assert_false(sn_is_gzip("", 0));
	assert_false(sn_is_gzip("\x8b\x1f", 2));
	assert_false(sn_is_gzip("{\"a\":1}", 7));
}

/* ---- base64 ----------------------------------------------------------------- */

static void test_base64_decode(void **state)
{
	(void)state;
	struct sn_buf b;
	struct sn_err err = {0};
	sn_buf_init(&b, 0);

	assert_int_equal(sn_base64_decode("aGVsbG8=", 8, &b, &err), 0);
	assert_buf_eq(&b, "hello", 5);
	assert_int_equal(sn_base64_decode("IQ==", 4, &b, &err), 0);
	assert_buf_eq(&b, "hello!", 6); /* appends */
	sn_buf_reset(&b);
	assert_int_equal(sn_base64_decode("AP8+/w==", 8, &b, &err), 0);
	assert_buf_eq(&b, "\x00\xff\x3e\xff", 4);
	sn_buf_reset(&b);
	assert_int_equal(sn_base64_decode("", 0, &b, &err), 0);
	assert_int_equal(b.len, 0);

	/* Failures leave the buffer as it was. */
	assert_int_equal(sn_buf_appends(&b, "keep"), 0);
	static const char *const bad[] = {
	    "aGVsbG8",	  /* missing padding */
	    "aGVsbG",	  /* missing padding, two short */
	    "aGVsbG8==",  /* too much padding */
	    "aGV$bG8=",	  /* not in the alphabet */
	    "aGVs bG8=",  /* whitespace is not ignored */
	    "aGVs\nbG8=", /* neither are newlines */
	    "aGVsbG-_",	  /* URL-safe alphabet */
	    "QR==",	  /* non-zero trailing bits */
	    "QQ==QQ==",	  /* padding in the middle */
	    "====",	  /* padding only */
	    "Q===",	  /* a single base64 digit */
	    "aGk\x80",	  /* non-ASCII (libsodium 1.0.18 reads it as a slash) */
	    "\xff\xff\xff\xff",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++) {
		err.code = 0;
		assert_int_equal(sn_base64_decode(bad[i], strlen(bad[i]), &b, &err),
				 SN_ERR_INVALID);
		assert_int_equal(err.code, SN_ERR_INVALID);
		assert_buf_eq(&b, "keep", 4);
	}
	assert_int_equal(sn_base64_decode("aGV$bG8=", 8, &b, &err), SN_ERR_INVALID);
	assert_string_equal(err.msg, "invalid base64 character at byte 3");

	/* A NUL inside the input is just an invalid character. */
	assert_int_equal(sn_base64_decode("aG\0sbG8=", 8, &b, &err), SN_ERR_INVALID);

	/* The buffer maximum applies. */
	struct sn_buf small;
	sn_buf_init(&small, 4);
	assert_int_equal(sn_base64_decode("aGVsbG8=", 8, &small, &err), SN_ERR_TOO_BIG);
	assert_int_equal(small.len, 0);
	sn_buf_release(&small);
	sn_buf_release(&b);
}

static void test_base64_roundtrip_all_bytes(void **state)
{
	(void)state;
	/* Encode every length 0..300 of a 0..255 ramp with libsodium-free
	 * reference code and decode it back. */
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char raw[300];
	char enc[404];
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(raw); n++) {
		size_t o = 0;
		for (size_t i = 0; i < n; i += 3) {
			uint32_t v = (uint32_t)raw[i] << 16;
			if (i + 1 < n)
				v |= (uint32_t)raw[i + 1] << 8;
			if (i + 2 < n)
				v |= raw[i + 2];
			enc[o++] = alpha[v >> 18 & 63];
			enc[o++] = alpha[v >> 12 & 63];
			enc[o++] = i + 1 < n ? alpha[v >> 6 & 63] : '=';
			enc[o++] = i + 2 < n ? alpha[v & 63] : '=';
		}
		struct sn_buf b;
		sn_buf_init(&b, 0);
		assert_int_equal(sn_base64_decode(enc, o, &b, NULL), 0);
		assert_buf_eq(&b, raw, n);
		sn_buf_release(&b);
	}
}

static void test_looks_like_base64(void **state)
{
	(void)state;
	assert_true(sn_looks_like_base64("aGVsbG8=", 8, false));
	assert_true(sn_looks_like_base64("ab+/", 4, false));
	assert_false(sn_looks_like_base64("aGVsbG8", 7, false)); /* length */
	assert_false(sn_looks_like_base64("", 0, false));
	assert_false(sn_looks_like_base64("{\"event\":\"x\"}...", 16, false));
	assert_false(sn_looks_like_base64("ab-_", 4, false)); /* URL alphabet */
	/* Spaces: only the loose variant (form data where '+' became ' '). */
	assert_false(sn_looks_like_base64("aGk gaGk", 8, false));
	assert_true(sn_looks_like_base64("aGk gaGk", 8, true));
	assert_false(sn_looks_like_base64("aGk\tgaGk", 8, true));

	/* Only the first 128 bytes are sniffed; the length counts in full. */
	char s[140];
	memset(s, 'A', sizeof(s));
	memcpy(s + 128, "!!!!", 4);
	assert_true(sn_looks_like_base64(s, 132, false));
	assert_false(sn_looks_like_base64(s, 133, false));
	s[127] = '!';
	assert_false(sn_looks_like_base64(s, 132, false));
}

/* ---- forms and url decoding -------------------------------------------------- */

static void test_looks_like_form(void **state)
{
	(void)state;
	static const char *const yes[] = {
	    "data=eyJ9",	"_=1700000000000", "ip=1",  "compression=lz64&data=abc",
	    "ver=1.2&data=abc", "a=b&_=1",	   "x&ip=",
	};
	static const char *const no[] = {
	    "",	      "eyJldmVudCI6ImEifQ==", "{\"data=\":1}", "xdata=1", "ver=1&mydata=2", "data",
	    "DATA=1", "compression",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(yes); i++)
		assert_true(sn_looks_like_form(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < SN_ARRAY_LEN(no); i++)
		assert_false(sn_looks_like_form(no[i], strlen(no[i])));

	/* Within the first 128 bytes only. */
	char s[256];
	memset(s, 'x', sizeof(s));
	s[0] = 'v';
	s[1] = '=';
	memcpy(s + 100, "&data=1", 7);
	assert_true(sn_looks_like_form(s, 200));
	memset(s + 100, 'x', 7);
	memcpy(s + 124, "&data=1", 7); /* "data=" ends past byte 128 */
	assert_false(sn_looks_like_form(s, 200));
	memset(s + 124, 'x', 7);
	memcpy(s + 130, "&data=1", 7);
	assert_false(sn_looks_like_form(s, 200));
}

static void test_url_decode(void **state)
{
	(void)state;
	struct sn_buf b;
	sn_buf_init(&b, 0);
	assert_int_equal(sn_url_decode("%41%62+c%2b%2B%7e", 17, &b), 0);
	assert_string_equal(b.data, "Ab c++~");
	sn_buf_reset(&b);
	assert_int_equal(sn_url_decode("a%00b", 5, &b), 0);
	assert_buf_eq(&b, "a\0b", 3);
	sn_buf_reset(&b);
	assert_int_equal(sn_url_decode("caf%C3%A9", 9, &b), 0);
	assert_string_equal(b.data, "caf\xc3\xa9");
	sn_buf_reset(&b);
	assert_int_equal(sn_url_decode("", 0, &b), 0);
	assert_int_equal(b.len, 0);

	assert_int_equal(sn_buf_appends(&b, "keep"), 0);
	static const char *const bad[] = {"%", "abc%", "%4", "%g0", "%0g", "a%%20", "%+1"};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++) {
		assert_int_equal(sn_url_decode(bad[i], strlen(bad[i]), &b), SN_ERR_INVALID);
		assert_buf_eq(&b, "keep", 4);
	}
	sn_buf_release(&b);

	sn_buf_init(&b, 3);
	assert_int_equal(sn_url_decode("%41%42%43", 9, &b), 0); /* 3 bytes out fit */
	sn_buf_reset(&b);
	assert_int_equal(sn_url_decode("abcd", 4, &b), SN_ERR_TOO_BIG);
	sn_buf_release(&b);
}

static void test_form_get(void **state)
{
	(void)state;
	static const char body[] = "ver=1.2&data=a%20b+c%2Bd&compression=lz64&data=second&flag&e=";
	size_t len = strlen(body);
	struct sn_buf b;
	sn_buf_init(&b, 0);

	assert_int_equal(sn_form_get(body, len, "data", &b), 0);
	assert_string_equal(b.data, "a b c+d"); /* first wins */
	sn_buf_reset(&b);
	assert_int_equal(sn_form_get(body, len, "compression", &b), 0);
	assert_string_equal(b.data, "lz64");
	sn_buf_reset(&b);
	assert_int_equal(sn_form_get(body, len, "ver", &b), 0);
	assert_string_equal(b.data, "1.2");
	sn_buf_reset(&b);
	assert_int_equal(sn_form_get(body, len, "flag", &b), 0); /* no '=': empty */
	assert_int_equal(b.len, 0);
	assert_int_equal(sn_form_get(body, len, "e", &b), 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(sn_form_get(body, len, "missing", &b), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_form_get(body, len, "dat", &b), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_form_get(body, len, "Data", &b), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_form_get("", 0, "data", &b), SN_ERR_NOT_FOUND);
	assert_int_equal(b.len, 0);

	/* Keys are url-decoded before comparing. */
	assert_int_equal(sn_form_get("d%61ta=x", 8, "data", &b), 0);
	assert_string_equal(b.data, "x");
	sn_buf_reset(&b);

	/* A bad escape in the wanted value is an error; elsewhere it is not. */
	assert_int_equal(sn_form_get("data=%zz", 8, "data", &b), SN_ERR_INVALID);
	assert_int_equal(sn_form_get("data=ab%4", 9, "data", &b), SN_ERR_INVALID);
	assert_int_equal(b.len, 0);
	assert_int_equal(sn_form_get("x=%zz&data=ok", 13, "data", &b), 0);
	assert_string_equal(b.data, "ok");
	sn_buf_reset(&b);
	assert_int_equal(sn_form_get("%zz=1&data=ok", 13, "data", &b), 0);
	assert_string_equal(b.data, "ok");
	sn_buf_reset(&b);

	/* Empty pairs and an '=' inside the value. */
	assert_int_equal(sn_form_get("&&data=a=b&", 11, "data", &b), 0);
	assert_string_equal(b.data, "a=b");
	sn_buf_reset(&b);

	/* posthog-js sends base64 in data= with '+' as-is, which decoding turns
	 * into spaces (the capture layer puts them back, spec §1.2 step 3). */
	assert_int_equal(sn_form_get("data=eyJ+Zm9v", 13, "data", &b), 0);
	assert_string_equal(b.data, "eyJ Zm9v");
	sn_buf_reset(&b);

	/* The body need not be NUL-terminated: the length bounds the search. */
	assert_int_equal(sn_form_get("data=abcdef", 7, "data", &b), 0);
	assert_string_equal(b.data, "ab");
	sn_buf_release(&b);
}

/* ---- UTF-8 ------------------------------------------------------------------ */

static void test_utf8_cases(void **state)
{
	(void)state;
	static const char *const good[] = {
	    "",
	    "plain ascii",
	    "\x7f",
	    "\xc2\x80",		/* U+0080, smallest 2-byte */
	    "\xdf\xbf",		/* U+07FF */
	    "\xe0\xa0\x80",	/* U+0800, smallest 3-byte */
	    "\xed\x9f\xbf",	/* U+D7FF, just below the surrogates */
	    "\xee\x80\x80",	/* U+E000, just above */
	    "\xef\xbf\xbf",	/* U+FFFF */
	    "\xf0\x90\x80\x80", /* U+10000, smallest 4-byte */
	    "\xf0\x9f\x98\x80", /* U+1F600 emoji */
	    "\xf4\x8f\xbf\xbf", /* U+10FFFF, the last code point */
	    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8e\x89",
	};
	static const char *const bad[] = {
	    "\x80", /* lone continuation */
	    "\xbf",
	    "\xc0\x80",			/* overlong NUL */
	    "\xc1\xbf",			/* overlong U+007F */
	    "\xe0\x80\x80",		/* overlong 3-byte */
	    "\xe0\x9f\xbf",		/* overlong U+07FF */
	    "\xf0\x80\x80\x80",		/* overlong 4-byte */
	    "\xf0\x8f\xbf\xbf",		/* overlong U+FFFF */
	    "\xed\xa0\x80",		/* U+D800 high surrogate */
	    "\xed\xbf\xbf",		/* U+DFFF low surrogate */
	    "\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 pair */
	    "\xf4\x90\x80\x80",		/* U+110000 */
	    "\xf5\x80\x80\x80",
	    "\xf8\x88\x80\x80\x80",
	    "\xff",
	    "\xfe",
	    "\xc3",	    /* truncated 2-byte */
	    "\xe2\x82",	    /* truncated 3-byte */
	    "\xf0\x9f\x98", /* truncated 4-byte */
	    "\xc3\x28",	    /* bad continuation */
	    "\xe2\x28\xa1",
	    "\xe2\x82\x28",
	    "\xf0\x9f\x28\x80",
	    "\xf0\x9f\x98\x28",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(good); i++)
		assert_true(sn_utf8_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++)
		assert_false(sn_utf8_valid(bad[i], strlen(bad[i])));
	/* NUL is a valid code point; the length is what counts. */
	assert_true(sn_utf8_valid("a\0b", 3));
	/* A truncated sequence at the end of the given length, even if the
	 * bytes after it would complete it. */
	assert_false(sn_utf8_valid("\xe2\x82\xac", 2));
}

static void test_utf8_fast_path_boundaries(void **state)
{
	(void)state;
	/* A bad byte at every position of a long ASCII run, so it falls inside
	 * a 16-byte block, at its edges, and in the tail. */
	char s[80];
	for (size_t n = 1; n <= sizeof(s); n++) {
		memset(s, 'a', sizeof(s));
		assert_true(sn_utf8_valid(s, n));
		for (size_t at = 0; at < n; at++) {
			s[at] = (char)0xff;
			assert_false(sn_utf8_valid(s, n));
			s[at] = (char)0xc3; /* truncated only at the very end */
			assert_false(sn_utf8_valid(s, n));
			if (at + 1 < n) {
				s[at + 1] = (char)0xa9;
				assert_true(sn_utf8_valid(s, n));
				s[at + 1] = 'a';
			}
			s[at] = 'a';
		}
	}
}

/* Independent reference: decode by the bit patterns, then reject overlongs,
 * surrogates and out-of-range code points. */
static bool ref_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned c = s[i];
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 2;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 3;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n;
	}
	return true;
}

static void test_utf8_exhaustive_against_reference(void **state)
{
	(void)state;
	unsigned char s[4];
	/* Every 1-, 2- and 3-byte string. */
	for (unsigned a = 0; a < 256; a++) {
		s[0] = (unsigned char)a;
		assert_int_equal(sn_utf8_valid((char *)s, 1), ref_utf8_valid(s, 1));
		for (unsigned b = 0; b < 256; b++) {
			s[1] = (unsigned char)b;
			assert_int_equal(sn_utf8_valid((char *)s, 2), ref_utf8_valid(s, 2));
			for (unsigned c = 0; c < 256; c++) {
				s[2] = (unsigned char)c;
				if (sn_utf8_valid((char *)s, 3) != ref_utf8_valid(s, 3))
					fail_msg("mismatch on %02x %02x %02x", a, b, c);
			}
		}
	}
	/* 4-byte strings with a 4-byte lead, every second and third byte, and
	 * a few last bytes. */
	static const unsigned char last[] = {0x00, 0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xff};
	for (unsigned a = 0xf0; a < 0x100; a++) {
		for (unsigned b = 0; b < 256; b++) {
			for (unsigned c = 0; c < 256; c++) {
				for (size_t d = 0; d < SN_ARRAY_LEN(last); d++) {
					s[0] = (unsigned char)a;
					s[1] = (unsigned char)b;
					s[2] = (unsigned char)c;
					s[3] = last[d];
					if (sn_utf8_valid((char *)s, 4) != ref_utf8_valid(s, 4))
						fail_msg("mismatch on %02x %02x %02x %02x", a, b, c,
							 last[d]);
				}
			}
		}
	}
}

/* ---- lz-string ------------------------------------------------------------------ */

struct lz_vector {
	const char *name;
	const char *compressed;
	const char *text; /* NULL: "abc" repeated */
	size_t text_len;
};

/* LZString.compressToBase64(s) from npm lz-string 1.5.0. */
static const struct lz_vector lz_vectors[] = {
    {"empty", "Q===", "", 0},
    {"a", "IZA=", "a", 1},
    {"hello", "BYUwNmD2AEDukCcwBMg=", "hello world", 11},
    {"unicode", "BYS4NmD2AEDuBvAnMATaBH6hT00DTmg8qMDGGQWoZBOhkAmGIA==",
     "h\xc3\xa9llo w\xc3\xb6rld \xc3\xb1 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3"
     "\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88",
     38},
    {"emoji", "KYWw9gVglgXABIXg3AAe4Hg3CR+wwsjssL/7cAmYAdsEA===",
     "emoji: \xf0\x9f\x98\x80\xf0\x9f\x8e\x89\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd done", 28},
    {"repeat",
     "IYIwxqHpPXUNo+TUvczase33BOR+xhJ5Zlp1FNVtD9TdLjrzbnH37vXfPfkMEiBY4eNETpU2ZPky"
     "FcxSuVqlG1ZvVbdO/dsN6jB42dMWTV89cs37dx7ecOXT1x/de3Pz7+9+gQHB/qFBYSHhUZExEXHR"
     "8bEJyUmpiekpGWmZOdl5WQW5hflFpSXlxZVlVRXVdbUNNU31zY0t7W2drd0dPV29A1RAA===",
     NULL, 6000},
    {"event",
     "NobwRApgbhB2AuYBcYAkAHAhgc2gSwgHcwAaMdAJwHt0IL4CBnZcVK5lAWUwGMACAPIBlPgA1SaA"
     "EbVCjOsjABhABbUAthAmoeAVwoU48APp6ANguXx46RkgD0diAA9Ma9KYgA6HlTV3KeDx4sNgA/Dr"
     "wakaMVHo8EAC8sETMZKjK7Igozq7uXj5qWljwyrCumij+FIHB2BIAJniMDLA8xnj1CgAMAIwAHAB"
     "mAEyYAOwQALQ9PEOSE6P1AMyTAJwDXV1TQ4sALACsAGyjfSuYkjxa9fjxRh3d/cNjk9Oz80ur65s"
     "92/tHJ2cXMjwKgAazgCnQyh4RngEGawLBsG+iy0pjwkgUhAgGLSaMkRhgFEYeCosAUPU8PQOXU8X"
     "S0wTk9FunRQIKGACtFsodtg9loGBpkD1RhtRaLKds0nJGMTScz7oMRuMJphVZh5pJNRM+jxdRN6g"
     "bDUaDRIGPAPAoAArVIIhPiAFAI+ABRFxuC0AXyBeA0zVyCiGXSGOwmvRDPQAKt8kBtozTRQAtMDu"
     "gC6QA===",
     "[{\"event\":\"$pageview\",\"properties\":{\"$os\":\"Mac OS X\",\"$browser\":"
     "\"Chrome\",\"$current_url\":\"https://example.com/pricing?utm_source=news\","
     "\"$host\":\"example.com\",\"$pathname\":\"/pricing\",\"distinct_id\":\"018f2"
     "a7e-1c2b-7d3e-9f00-123456789abc\",\"$device_id\":\"018f2a7e-1c2b-7d3e-9f00-1"
     "23456789abc\",\"token\":\"phc_testtoken123\",\"$lib\":\"web\",\"$lib_version"
     "\":\"1.160.0\",\"$insert_id\":\"k2j3h4g5\",\"$time\":1700000000.123,\"$sessi"
     "on_id\":\"018f2a7e-aaaa-7bbb-8ccc-dddddddddddd\",\"title\":\"Pricing \xe2"
     "\x80\x94 Example\"},\"timestamp\":\"2024-01-01T12:00:00.000Z\"}]",
     520},
    {"nul", "IYAARkA=",
     "a\x00"
     "b",
     3},
    {"lone_high", "B6Xg2J5A", "x\xef\xbf\xbdy", 5},
    {"lone_low", "B6AD2J5A", "x\xef\xbf\xbdy", 5},
};

static void test_lzstring_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < SN_ARRAY_LEN(lz_vectors); i++) {
		const struct lz_vector *v = &lz_vectors[i];
		char *want = NULL;
		const char *text = v->text;
		if (!text) {
			want = malloc(v->text_len + 1);
			assert_non_null(want);
			for (size_t k = 0; k < v->text_len; k++)
				want[k] = "abc"[k % 3];
			text = want;
		}
		struct sn_buf b;
		struct sn_err err = {0};
		sn_buf_init(&b, 0);
		assert_int_equal(sn_buf_appends(&b, ">"), 0);
		int rc = sn_lzstring_decompress_base64(v->compressed, strlen(v->compressed),
						       v->text_len, &b, &err);
		if (rc)
			fail_msg("%s: %s", v->name, err.msg);
		assert_int_equal(b.len, v->text_len + 1);
		assert_memory_equal(b.data + 1, text, v->text_len);
		assert_true(sn_utf8_valid(b.data, b.len));

		/* One byte less allowed: too big, buffer untouched. */
		if (v->text_len > 0) {
			assert_int_equal(sn_lzstring_decompress_base64(v->compressed,
								       strlen(v->compressed),
								       v->text_len - 1, &b, &err),
					 SN_ERR_TOO_BIG);
			assert_int_equal(b.len, v->text_len + 1);
		}

		/* Every proper prefix (cut before the padding) fails cleanly or
		 * decodes to a prefix of the text: the missing bits read as
		 * zeros, so the end code can sit right at the cut. Zeros also
		 * decode as NUL literals, so a cut can run into the cap before
		 * it is found to be truncated. */
		size_t clen = strlen(v->compressed);
		while (clen > 0 && v->compressed[clen - 1] == '=')
			clen--;
		for (size_t n = 0; n < clen; n++) {
			sn_buf_reset(&b);
			rc = sn_lzstring_decompress_base64(v->compressed, n, v->text_len, &b, &err);
			if (rc == 0) {
				assert_true(b.len <= v->text_len);
				assert_memory_equal(b.data, text, b.len);
			} else {
				assert_true(rc == SN_ERR_INVALID || rc == SN_ERR_TOO_BIG);
				assert_int_equal(b.len, 0);
			}
		}
		sn_buf_release(&b);
		free(want);
	}
}

static void test_lzstring_malformed(void **state)
{
	(void)state;
	struct sn_buf b;
	struct sn_err err = {0};
	sn_buf_init(&b, 0);

	assert_int_equal(sn_lzstring_decompress_base64("", 0, 100, &b, &err), SN_ERR_INVALID);
	assert_string_equal(err.msg, "empty lz-string data");

	/* Truncated: "hello world" cut in the middle. */
	assert_int_equal(sn_lzstring_decompress_base64("BYUwNmD2AE", 10, 100, &b, &err),
			 SN_ERR_INVALID);
	assert_string_equal(err.msg, "truncated lz-string data");

	/* Characters outside the alphabet, URL-safe ones included. */
	assert_int_equal(sn_lzstring_decompress_base64("BYUw!mD2AEDukCcwBMg=", 20, 100, &b, &err),
			 SN_ERR_INVALID);
	assert_string_equal(err.msg, "invalid lz-string character at byte 4");
	assert_int_equal(sn_lzstring_decompress_base64("BYUw-mD2AEDukCcwBMg=", 20, 100, &b, &err),
			 SN_ERR_INVALID);
	assert_int_equal(sn_lzstring_decompress_base64("BYUw mD2AEDukCcwBMg=", 20, 100, &b, &err),
			 SN_ERR_INVALID);
	/* '=' only as trailing padding. */
	assert_int_equal(sn_lzstring_decompress_base64("IZA=IZA=", 8, 100, &b, &err),
			 SN_ERR_INVALID);
	/* ... where it means zero bits, like 'A'; bytes after the end code
	 * are ignored, as in the JS. */
	assert_int_equal(sn_lzstring_decompress_base64("IZAA", 4, 100, &b, &err), 0);
	assert_string_equal(b.data, "a");
	sn_buf_reset(&b);
	assert_int_equal(sn_lzstring_decompress_base64("IZAAAAAAAAAA", 12, 100, &b, &err), 0);
	assert_string_equal(b.data, "a");
	sn_buf_reset(&b);

	/* First code 3 does not exist ('w' = 110000: bits 1,1). */
	assert_int_equal(sn_lzstring_decompress_base64("w===", 4, 100, &b, &err), SN_ERR_INVALID);
	/* Only padding: zero bits, a literal NUL, then no end code. */
	assert_int_equal(sn_lzstring_decompress_base64("====", 4, 100, &b, &err), SN_ERR_INVALID);
	assert_int_equal(b.len, 0);
	sn_buf_release(&b);
}

/* Writes an lz-string bit stream the way the compressor packs it: values
 * least significant bit first, six bits per base64 character. */
struct lzw {
	char *s;
	size_t n, cap;
	unsigned acc, nacc;
};

static void lzw_bits(struct lzw *w, uint32_t v, unsigned nbits)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (unsigned k = 0; k < nbits; k++) {
		w->acc = w->acc << 1 | ((v >> k) & 1);
		if (++w->nacc == 6) {
			if (w->n + 1 >= w->cap) {
				w->cap = w->cap ? w->cap * 2 : 64;
				w->s = realloc(w->s, w->cap);
				assert_non_null(w->s);
			}
			w->s[w->n++] = alpha[w->acc];
			w->acc = w->nacc = 0;
		}
	}
}

static void lzw_finish(struct lzw *w)
{
	while (w->nacc != 0)
		lzw_bits(w, 0, 1);
	lzw_bits(w, 0, 0);
	if (w->n + 1 >= w->cap) {
		w->s = realloc(w->s, w->n + 8);
		assert_non_null(w->s);
	}
	w->s[w->n] = 0;
}

/* Code width after `ndict` entries, as the decoder grows it: 3 bits until
 * the dictionary passes 8 entries... computed by replaying the countdown. */
struct lzw_width {
	size_t enlarge_in;
	unsigned nbits;
};

static void width_tick(struct lzw_width *wd)
{
	if (--wd->enlarge_in == 0) {
		wd->enlarge_in = (size_t)1 << wd->nbits;
		wd->nbits++;
	}
}

static void test_lzstring_crafted_streams(void **state)
{
	(void)state;
	struct sn_buf b;
	struct sn_err err = {0};
	sn_buf_init(&b, 0);

	/* "ab" then a reference to entry 5 while only 0..4 exist. */
	{
		struct lzw w = {0};
		lzw_bits(&w, 0, 2);
		lzw_bits(&w, 'a', 8); /* dict: 3 = "a" */
		lzw_bits(&w, 7, 3);   /* 7 > next entry (4) */
		lzw_bits(&w, 2, 3);
		lzw_finish(&w);
		assert_int_equal(sn_lzstring_decompress_base64(w.s, w.n, 100, &b, &err),
				 SN_ERR_INVALID);
		assert_non_null(strstr(err.msg, "unknown entry 7"));
		free(w.s);
	}

	/* KwKwK: after "a", code 4 (the entry being defined) means "aa". */
	{
		struct lzw w = {0};
		lzw_bits(&w, 0, 2);
		lzw_bits(&w, 'a', 8);
		lzw_bits(&w, 4, 3); /* "aa"; dict 4 = "aa" */
		lzw_bits(&w, 2, 3);
		lzw_finish(&w);
		assert_int_equal(sn_lzstring_decompress_base64(w.s, w.n, 100, &b, &err), 0);
		assert_string_equal(b.data, "aaa");
		sn_buf_reset(&b);
		free(w.s);
	}

	/* A 16-bit literal that is a lone high surrogate, then the end. */
	{
		struct lzw w = {0};
		lzw_bits(&w, 1, 2);
		lzw_bits(&w, 0xd83d, 16);
		lzw_bits(&w, 2, 3);
		lzw_finish(&w);
		assert_int_equal(sn_lzstring_decompress_base64(w.s, w.n, 100, &b, &err), 0);
		assert_string_equal(b.data, "\xef\xbf\xbd");
		sn_buf_reset(&b);
		free(w.s);
	}

	/* Quadratic bomb: each code refers to the entry being defined, so the
	 * output grows by one unit more each step (1+2+3+... units for a few
	 * bits each). 3000 codes would decode to ~4.5 M units; with a 1 MB cap
	 * it must stop with TOO_BIG, not allocate the lot. */
	{
		struct lzw w = {0};
		struct lzw_width wd = {4, 3};
		lzw_bits(&w, 0, 2);
		lzw_bits(&w, 'x', 8);
		size_t ndict = 4;
		for (int i = 0; i < 3000; i++) {
			lzw_bits(&w, (uint32_t)ndict, wd.nbits);
			ndict++;
			width_tick(&wd);
		}
		lzw_bits(&w, 2, wd.nbits);
		lzw_finish(&w);
		assert_int_equal(sn_lzstring_decompress_base64(w.s, w.n, 1u << 20, &b, &err),
				 SN_ERR_TOO_BIG);
		assert_int_equal(b.len, 0);
		/* And with room for it all, it decodes to the exact count. */
		size_t units = 1;
		for (size_t k = 2; k <= 3001; k++)
			units += k;
		assert_int_equal(sn_lzstring_decompress_base64(w.s, w.n, units, &b, &err), 0);
		assert_int_equal(b.len, units);
		for (size_t k = 0; k < b.len; k++)
			if (b.data[k] != 'x')
				fail_msg("byte %zu is %02x", k, (unsigned char)b.data[k]);
		free(w.s);
	}

	/* Literal flood: many 16-bit literals, the dictionary grows by two per
	 * unit; the cap still holds. */
	{
		struct lzw w = {0};
		struct lzw_width wd = {4, 3};
		lzw_bits(&w, 1, 2);
		lzw_bits(&w, 0x4e00, 16);
		for (int i = 0; i < 5000; i++) {
			lzw_bits(&w, 1, wd.nbits);
			lzw_bits(&w, 0x4e00 + (uint32_t)i, 16);
			width_tick(&wd); /* literal entry */
			width_tick(&wd); /* w + entry[0] */
		}
		lzw_bits(&w, 2, wd.nbits);
		lzw_finish(&w);
		sn_buf_reset(&b);
		assert_int_equal(sn_lzstring_decompress_base64(w.s, w.n, 3 * 5001, &b, &err), 0);
		assert_int_equal(b.len, 3 * 5001); /* CJK: 3 bytes each */
		assert_true(sn_utf8_valid(b.data, b.len));
		sn_buf_reset(&b);
		assert_int_equal(sn_lzstring_decompress_base64(w.s, w.n, 3 * 5001 - 1, &b, &err),
				 SN_ERR_TOO_BIG);
		free(w.s);
	}
	sn_buf_release(&b);
}

static void test_route_patterns(void **state)
{
	(void)state;
	/* exact, trailing slash optional on either side */
	assert_true(sn_http_path_matches("/_health", "/_health"));
	assert_true(sn_http_path_matches("/_health", "/_health/"));
	assert_true(sn_http_path_matches("/e/", "/e"));
	assert_true(sn_http_path_matches("/", "/"));
	assert_false(sn_http_path_matches("/e/", "/e/x"));
	assert_false(sn_http_path_matches("/e", "/ee"));
	assert_false(sn_http_path_matches("/e", "/e//"));
	/* a final '*' is a prefix */
	assert_true(sn_http_path_matches("/s/*", "/s/"));
	assert_true(sn_http_path_matches("/s/*", "/s/anything/at/all"));
	assert_false(sn_http_path_matches("/s/*", "/s"));
	/* '*' inside: one non-empty segment */
	const char *q = "/api/projects/*/query/";
	assert_true(sn_http_path_matches(q, "/api/projects/12/query/"));
	assert_true(sn_http_path_matches(q, "/api/projects/12/query"));
	assert_false(sn_http_path_matches(q, "/api/projects//query/"));
	assert_false(sn_http_path_matches(q, "/api/projects/12/13/query/"));
	assert_false(sn_http_path_matches(q, "/api/projects/12/queryx"));
	const char *p = "/api/projects/*/persons*";
	assert_true(sn_http_path_matches(p, "/api/projects/1/persons/"));
	assert_true(sn_http_path_matches(p, "/api/projects/1/persons/abc/update_property/"));
	assert_false(sn_http_path_matches(p, "/api/projects/1/feature_flags/"));
	assert_true(sn_http_path_matches("/a/*/b/*", "/a/x/b/"));
	assert_true(sn_http_path_matches("/a/*/b/*", "/a/x/b/y/z"));
	assert_false(sn_http_path_matches("/a/*/b/*", "/a/x/c/y"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_patterns),
	    cmocka_unit_test(test_gunzip_fixed_vector),
	    cmocka_unit_test(test_gunzip_roundtrip),
	    cmocka_unit_test(test_gunzip_concatenated_members),
	    cmocka_unit_test(test_gunzip_truncated),
	    cmocka_unit_test(test_gunzip_corrupt),
	    cmocka_unit_test(test_gunzip_bomb_stops_early),
	    cmocka_unit_test(test_is_gzip),
	    cmocka_unit_test(test_base64_decode),
	    cmocka_unit_test(test_base64_roundtrip_all_bytes),
	    cmocka_unit_test(test_looks_like_base64),
	    cmocka_unit_test(test_looks_like_form),
	    cmocka_unit_test(test_url_decode),
	    cmocka_unit_test(test_form_get),
	    cmocka_unit_test(test_utf8_cases),
	    cmocka_unit_test(test_utf8_fast_path_boundaries),
	    cmocka_unit_test(test_utf8_exhaustive_against_reference),
	    cmocka_unit_test(test_lzstring_vectors),
	    cmocka_unit_test(test_lzstring_malformed),
	    cmocka_unit_test(test_lzstring_crafted_streams),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
