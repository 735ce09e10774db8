/*
 * decode.c — the byte-level body decoders every PostHog endpoint shares:
 * gzip, base64, urlencoded forms, and the UTF-8 check. lz-string lives in
 * lzstring.c because it is an algorithm of its own, not a library wrapper.
 *
 * All of these run on bytes an unauthenticated client sent, before anything
 * else has looked at them, so the rules are the same everywhere:
 *
 *   - output is appended to a caller-owned struct sn_buf, and on failure the
 *     buffer is put back to the length it had on entry (no half-decoded tail
 *     for a caller to trip over);
 *   - every decoder that can expand its input (gzip) takes a max_out and stops
 *     as soon as the output would pass it, so a 10 KB gzip bomb that inflates
 *     to 10 GB costs one max_out of memory and the CPU time to produce it;
 *   - bad input is SN_ERR_INVALID with a sentence the HTTP layer can return
 *     verbatim; nothing here asserts on input.
 *
 * gzip: zlib's inflate with windowBits 15+16 (gzip wrapper only, no zlib or
 * raw deflate). inflate writes straight into the output buffer's spare
 * capacity, in steps no larger than what is still allowed, so the cap is
 * exact: when the allowance is used up we ask inflate for one more byte into
 * a scratch byte, and if it produces one the body is too big. When a member
 * ends and input remains, the stream is reset and the next member decoded
 * (RFC 1952 §2.2 — what `gzip -d` does with `cat a.gz b.gz`); input after a
 * member that is not another gzip member is rejected rather than ignored. We
 * considered libdeflate (faster, but wants the whole output size up front, so
 * the cap would cost a max_out allocation for every request) and decided
 * zlib's streaming is worth its speed difference here.
 *
 * base64: libsodium's constant-time decoder, standard alphabet, padding
 * required and non-zero trailing bits rejected — the same strictness as the
 * Rust `base64` STANDARD engine PostHog capture uses. We check the alphabet
 * ourselves before calling it: the fuzzer found that libsodium 1.0.18 decodes
 * any byte >= 0x80 as if it were '/'. Unpadded input never
 * reaches us from the capture pipeline anyway: the sniffing rule already
 * requires a length that is a multiple of 4.
 *
 * UTF-8: a table-free validator after Unicode's Table 3-7 (well-formed byte
 * sequences), with an ASCII fast path that checks 16 bytes per step with
 * word loads. SDK payloads are JSON and overwhelmingly ASCII, so the fast
 * path is what runs; the multi-byte path only needs to be correct.
 */
#include "http.h"

#include <limits.h>
#include <string.h>

#include <sodium.h>
#include <zlib.h>

/* Puts b back to len bytes (used on failure to drop a partial append). */
static void buf_truncate(struct sn_buf *b, size_t len)
{
	b->len = len;
	if (b->data)
		b->data[len] = 0;
}

/* ---- gzip ------------------------------------------------------------------- */

/* inflate's counters are 32-bit; feed and drain in steps below that. */
#define GZ_STEP_IN  ((size_t)1 << 30)
#define GZ_STEP_OUT ((size_t)256 << 10)

bool sn_is_gzip(const void *in, size_t len)
{
	const unsigned char *p = in;
	return len >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

int sn_gunzip(const void *in, size_t len, size_t max_out, struct sn_buf *out, struct sn_err *err)
{
	const unsigned char *src = in;
	size_t start = out->len, consumed = 0;
	z_stream zs;
	int rc = 0, zrc;

	if (len == 0)
		return sn_err_set(err, SN_ERR_INVALID, "empty gzip data");
	if (!sn_is_gzip(in, len))
		return sn_err_set(err, SN_ERR_INVALID, "not gzip data (bad magic bytes)");

	/* The buffer's own maximum is a second cap; the smaller one wins. */
	size_t room = out->max > out->len ? out->max - out->len : 0;
	size_t cap = max_out < room ? max_out : room;

	memset(&zs, 0, sizeof(zs));
	zrc = inflateInit2(&zs, 15 + 16);
	if (zrc == Z_MEM_ERROR)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory starting gzip decoder");
	if (zrc != Z_OK)
		return sn_err_set(err, SN_ERR_INTERNAL, "zlib inflateInit2 failed (%d)", zrc);

	for (;;) {
		if (zs.avail_in == 0 && consumed < len) {
			size_t n = len - consumed < GZ_STEP_IN ? len - consumed : GZ_STEP_IN;
			zs.next_in = (unsigned char *)src + consumed;
			zs.avail_in = (unsigned)n;
			consumed += n;
		}

		size_t produced = out->len - start;
		unsigned char probe;
		bool probing = produced == cap;
		if (probing) {
			/* Allowance used up: one more byte of output means too big. */
			zs.next_out = &probe;
			zs.avail_out = 1;
		} else {
			size_t want = cap - produced < GZ_STEP_OUT ? cap - produced : GZ_STEP_OUT;
			rc = sn_buf_reserve(out, want);
			if (rc) {
				sn_err_set(err, rc, "out of memory decompressing gzip body");
				goto out;
			}
			zs.next_out = (unsigned char *)out->data + out->len;
			zs.avail_out = (unsigned)want;
		}
		unsigned before_out = zs.avail_out;

		zrc = inflate(&zs, Z_NO_FLUSH);
		size_t got = before_out - zs.avail_out;

		if (probing && got > 0) {
			rc = sn_err_set(err, SN_ERR_TOO_BIG,
					"decompressed body is larger than %zu bytes", cap);
			goto out;
		}
		if (!probing) {
			out->len += got;
			out->data[out->len] = 0;
		}

		switch (zrc) {
		case Z_OK: break;
		case Z_STREAM_END: {
			/* A member ended; another may follow (concatenated gzip). */
			size_t pos = consumed - zs.avail_in;
			if (pos == len)
				goto out;
			if (len - pos < 2 || src[pos] != 0x1f || src[pos + 1] != 0x8b) {
				rc = sn_err_set(err, SN_ERR_INVALID,
						"trailing data after the end of the gzip stream");
				goto out;
			}
			inflateReset(&zs);
			break;
		}
		case Z_BUF_ERROR:
			/* No progress: inflate needs more input. Output space was
			 * never zero, so that is the only reason it can give. */
			if (zs.avail_in == 0 && consumed == len) {
				rc = sn_err_set(err, SN_ERR_INVALID, "truncated gzip data");
				goto out;
			}
			if (zs.avail_in > 0) {
				rc = sn_err_set(err, SN_ERR_INTERNAL,
						"gzip decoder made no progress");
				goto out;
			}
			break;
		case Z_MEM_ERROR:
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory decompressing gzip body");
			goto out;
		case Z_NEED_DICT:
		case Z_DATA_ERROR:
		default:
			rc = sn_err_set(err, SN_ERR_INVALID, "corrupt gzip data: %s",
					zs.msg ? zs.msg : "invalid stream");
			goto out;
		}

		/* Input exhausted with the member still open and inflate idle. */
		if (zrc == Z_OK && zs.avail_in == 0 && consumed == len && zs.avail_out > 0) {
			rc = sn_err_set(err, SN_ERR_INVALID, "truncated gzip data");
			goto out;
		}
	}

out:
	inflateEnd(&zs);
	if (rc)
		buf_truncate(out, start);
	return rc;
}

/* ---- base64 ----------------------------------------------------------------- */

static bool is_b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

int sn_base64_decode(const char *in, size_t len, struct sn_buf *out, struct sn_err *err)
{
	size_t start = out->len, nbytes = 0;
	const char *end = NULL;
	int rc;

	if (len % 4 != 0)
		return sn_err_set(err, SN_ERR_INVALID,
				  "base64 length %zu is not a multiple of 4 (missing padding?)",
				  len);
	if (len == 0)
		return 0;

	/* libsodium 1.0.18 reads every byte >= 0x80 as '/' (its constant-time
	 * character mapping is only right for ASCII), so the alphabet is
	 * checked here first. */
	for (size_t i = 0; i < len; i++)
		if (!is_b64_char((unsigned char)in[i]))
			return sn_err_set(err, SN_ERR_INVALID,
					  "invalid base64 character at byte %zu", i);

	size_t maxbin = len / 4 * 3;
	rc = sn_buf_reserve(out, maxbin);
	if (rc)
		return sn_err_set(err, rc, "decoded base64 does not fit (%zu bytes)", maxbin);

	/* With b64_end set, libsodium stops at the first byte it cannot use
	 * instead of failing outright, which tells us where the problem is
	 * (misplaced padding, non-zero bits before the padding). */
	if (sodium_base642bin((unsigned char *)out->data + out->len, maxbin, in, len, NULL, &nbytes,
			      &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != in + len) {
		size_t at = end ? (size_t)(end - in) : 0;
		rc = sn_err_set(err, SN_ERR_INVALID, "malformed base64 at byte %zu", at);
		buf_truncate(out, start);
		return rc;
	}
	out->len += nbytes;
	out->data[out->len] = 0;
	return 0;
}

bool sn_looks_like_base64(const char *in, size_t len, bool loose)
{
	if (len == 0 || len % 4 != 0)
		return false;
	size_t n = len < 128 ? len : 128;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (!is_b64_char(c) && !(loose && c == ' '))
			return false;
	}
	return true;
}

/* ---- urlencoded forms ------------------------------------------------------- */

bool sn_looks_like_form(const char *in, size_t len)
{
	static const char *const keys[] = {"data=", "_=", "ip=", "compression="};
	size_t n = len < 128 ? len : 128;

	/* A key counts at the very start or right after an '&', and must fit
	 * entirely within the sniffed window. */
	for (size_t i = 0; i < n; i++) {
		if (i != 0 && in[i - 1] != '&')
			continue;
		for (size_t k = 0; k < SN_ARRAY_LEN(keys); k++) {
			size_t kl = strlen(keys[k]);
			if (kl <= n - i && memcmp(in + i, keys[k], kl) == 0)
				return true;
		}
	}
	return false;
}

/* Decodes one byte of urlencoded text at in[*i], advancing *i. Returns the
 * byte (0..255) or -1 for a bad %-escape. */
static int url_byte(const char *in, size_t len, size_t *i)
{
	unsigned char c = (unsigned char)in[*i];
	if (c == '+') {
		(*i)++;
		return ' ';
	}
	if (c != '%') {
		(*i)++;
		return c;
	}
	if (len - *i < 3)
		return -1;
	int hi = sn_hex_digit((unsigned char)in[*i + 1]),
	    lo = sn_hex_digit((unsigned char)in[*i + 2]);
	if (hi < 0 || lo < 0)
		return -1;
	*i += 3;
	return hi << 4 | lo;
}

int sn_url_decode(const char *in, size_t len, struct sn_buf *out)
{
	/* First pass: validate the escapes and size the output exactly, so
	 * the buffer maximum is checked against what will really be written
	 * and the second pass cannot fail. */
	if (len == 0)
		return sn_buf_append(out, "", 0);
	size_t nout = len;
	for (const char *p = memchr(in, '%', len); p; p = memchr(p, '%', len - (size_t)(p - in))) {
		size_t i = (size_t)(p - in);
		if (len - i < 3 || sn_hex_digit((unsigned char)p[1]) < 0 ||
		    sn_hex_digit((unsigned char)p[2]) < 0)
			return SN_ERR_INVALID;
		nout -= 2;
		p += 3;
		if (p == in + len)
			break;
	}
	int rc = sn_buf_reserve(out, nout);
	if (rc)
		return rc;

	char *o = out->data + out->len;
	size_t i = 0;
	while (i < len) {
		/* Copy runs of plain bytes in one go. */
		size_t j = i;
		while (j < len && in[j] != '%' && in[j] != '+')
			j++;
		memcpy(o, in + i, j - i);
		o += j - i;
		i = j;
		if (i < len)
			*o++ = (char)url_byte(in, len, &i);
	}
	out->len += nout;
	out->data[out->len] = 0;
	return 0;
}

/* True when the urlencoded key in[0..len) decodes to exactly name. A key with
 * a bad escape matches nothing. */
static bool key_equals(const char *in, size_t len, const char *name)
{
	size_t i = 0, k = 0;
	while (i < len) {
		int b = url_byte(in, len, &i);
		if (b < 0 || name[k] == 0 || (unsigned char)name[k] != b)
			return false;
		k++;
	}
	return name[k] == 0;
}

int sn_form_get(const char *body, size_t len, const char *name, struct sn_buf *out)
{
	size_t i = 0;
	while (i < len) {
		const char *pair = body + i;
		const char *amp = memchr(pair, '&', len - i);
		size_t plen = amp ? (size_t)(amp - pair) : len - i;
		i += plen + 1;

		const char *eq = memchr(pair, '=', plen);
		size_t klen = eq ? (size_t)(eq - pair) : plen;
		if (!key_equals(pair, klen, name))
			continue;
		/* `name` alone (no '=') is present with an empty value. */
		if (!eq)
			return sn_buf_append(out, "", 0);
		return sn_url_decode(eq + 1, plen - klen - 1, out);
	}
	return SN_ERR_NOT_FOUND;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

#define HIGH_BITS 0x8080808080808080ULL

static uint64_t load64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

bool sn_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		/* ASCII fast path: 16 bytes per step while no high bit is set. */
		while (end - p >= 16 && ((load64(p) | load64(p + 8)) & HIGH_BITS) == 0)
			p += 16;
		if (p == end)
			break;
		unsigned char c = *p;
		if (c < 0x80) {
			p++;
			continue;
		}

		/* Table 3-7: the lead byte fixes the length and the range allowed
		 * for the second byte (which is where overlongs, surrogates and
		 * code points past U+10FFFF are excluded). */
		size_t n;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			if (c == 0xe0)
				lo = 0xa0; /* overlong below U+0800 */
			else if (c == 0xed)
				hi = 0x9f; /* U+D800..U+DFFF surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			if (c == 0xf0)
				lo = 0x90; /* overlong below U+10000 */
			else if (c == 0xf4)
				hi = 0x8f; /* past U+10FFFF */
		} else {
			return false; /* continuation byte, C0/C1 overlong lead, F5..FF */
		}
		if ((size_t)(end - p) < n)
			return false;
		if (p[1] < lo || p[1] > hi)
			return false;
		for (size_t k = 2; k < n; k++)
			if ((p[k] & 0xc0) != 0x80)
				return false;
		p += n;
	}
	return true;
}
