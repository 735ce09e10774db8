/*
 * jsonscan.c — the strict JSON pull scanner declared in base.h: validation of
 * RFC 8259 text without building anything, for the capture hot path.
 *
 * What it is for. A /batch/ body is ~100 events of ~700 bytes; capture needs
 * about ten fields of each event and forwards the event itself unchanged. So
 * the scanner validates every byte once, hands out spans into the text, and
 * the caller copies the event's bytes verbatim into its WAL record.
 *
 * Layout and invariants. The cursor is three pointers (base, p, end) and a
 * depth; nothing is allocated, ever. Every function that moves p over bytes
 * has validated them, so any span it returned is well-formed JSON whose
 * strings are valid UTF-8. sn_jscan_skip() walks nested containers without
 * recursion: a bit stack (one bit a level, 1 = object) says which closing
 * byte is due, which is why depth is bounded (SN_JSCAN_MAX_DEPTH, json-c's).
 * Strings, which are most of the bytes, are scanned sixteen bytes at a time
 * with SSE2 (eight with a SWAR test elsewhere, and for the tail): the first
 * byte that is '"', '\\', < 0x20 or >= 0x80 is found, and only those bytes
 * take the slow path (escapes, UTF-8 sequences per Unicode table 3-7).
 *
 * Rejected alternative: json-c's DOM (json_tokener_parse_ex, then
 * json_object_to_json_string_ext per event). It allocates a node, a hash
 * table and a string copy for every value, then re-serialises what it just
 * parsed. Measured on the bench bodies (100 posthog-node events of ~690
 * bytes, one core): the json-c version of sn_capture_process managed
 * ~115k events/s, with json-c's parsing, malloc/free and printbuf the top of
 * the profile; the scanner version does ~1.25M events/s (see process.c).
 * json-c stays in base/ for everything that is not the hot path.
 *
 * Grammar notes: json-c's strict mode, which capture used before, accepts
 * NaN, Infinity, -01, 1., -.5 and raw control characters; this scanner does
 * not (RFC 8259, and PostHog's serde_json, refuse them too). Lone surrogate
 * escapes (\ud800) are valid grammar and accepted; decoding turns them into
 * U+FFFD as json-c does.
 */
#include "base.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_TEXT ((size_t)INT32_MAX)

static int fail_at(struct sn_jscan *s, const char *at, const char *why)
{
	s->err_off = (size_t)(at - s->base);
	return sn_err_set(s->err, SN_ERR_INVALID, "invalid JSON at byte %zu: %s", s->err_off, why);
}

static int fail_eof(struct sn_jscan *s)
{
	s->err_off = (size_t)(s->end - s->base);
	return sn_err_set(s->err, SN_ERR_INVALID,
			  "invalid JSON: unexpected end of input at byte %zu", s->err_off);
}

static int fail_size(struct sn_jscan *s)
{
	s->err_off = 0;
	return sn_err_set(s->err, SN_ERR_TOO_BIG, "JSON text is larger than 2 GiB");
}

void sn_jscan_init(struct sn_jscan *s, const char *text, size_t len, struct sn_err *err)
{
	s->base = text;
	s->p = len > MAX_TEXT ? NULL : text;
	s->end = text + (len > MAX_TEXT ? 0 : len);
	s->depth = 0;
	s->first = false;
	s->err_off = 0;
	s->err = err;
}

static inline bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const char *skip_ws(const char *p, const char *end)
{
	while (p < end && is_ws((unsigned char)*p))
		p++;
	return p;
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* ---- strings --------------------------------------------------------------------- */

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t load64(const char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* High bit set in the lane of every byte that is '"', '\\', < 0x20 or >=
 * 0x80 — and possibly in lanes above such a byte (borrows), never below, so
 * on a little-endian machine the lowest set lane is the first special byte. */
static inline uint64_t special8(uint64_t x)
{
	uint64_t q = x ^ (ONES * '"');
	uint64_t b = x ^ (ONES * '\\');
	return (((q - ONES) & ~q) | ((b - ONES) & ~b) | ((x - ONES * 0x20) & ~x) | x) & HIGHS;
}

/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80), 0 if invalid.
 * Unicode table 3-7: the lead byte fixes the length and the second byte's
 * range (which excludes overlongs, surrogates and code points past U+10FFFF). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* p is at the opening quote. Returns the byte after the closing quote, or
 * NULL with the error set. *esc tells whether a backslash was seen. */
static const char *scan_string(struct sn_jscan *s, const char *p, bool *esc)
{
	const char *end = s->end;
	p++;
	for (;;) {
#ifdef __SSE2__
		/* 16 bytes a step: x86-64's baseline, no dispatch. A signed
		 * compare with 0x20 catches the control bytes and every byte >=
		 * 0x80 (negative as int8) at once. */
		while (end - p >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
			__m128i m =
			    _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
						      _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
					 _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
			unsigned bits = (unsigned)_mm_movemask_epi8(m);
			if (bits) {
				p += __builtin_ctz(bits);
				goto special;
			}
			p += 16;
		}
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		while (end - p >= 8) {
			uint64_t m = special8(load64(p));
			if (m) {
				p += __builtin_ctzll(m) >> 3;
				goto special;
			}
			p += 8;
		}
#endif
		while (p < end) {
			unsigned char c = (unsigned char)*p;
			if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
				goto special;
			p++;
		}
		fail_eof(s);
		return NULL;
	special:;
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c == '\\') {
			*esc = true;
			if (end - p < 2)
				goto eof;
			switch (p[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't': p += 2; break;
			case 'u':
				for (int k = 2; k < 6; k++) {
					if (p + k == end)
						goto eof;
					if (!is_hex(p[k])) {
						fail_at(s, p + k, "invalid \\u escape in string");
						return NULL;
					}
				}
				p += 6;
				break;
			default: fail_at(s, p + 1, "invalid escape in string"); return NULL;
			}
			continue;
		}
		if (c < 0x20) {
			fail_at(s, p, "control character in string (escape it)");
			return NULL;
		}
		size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
		if (!n) {
			fail_at(s, p, "invalid UTF-8 in string");
			return NULL;
		}
		p += n;
	}
eof:
	fail_eof(s);
	return NULL;
}

/* ---- numbers and literals ---------------------------------------------------------- */

/* p is at '-' or a digit. Returns the byte after the number or NULL. */
static const char *scan_number(struct sn_jscan *s, const char *p, bool *is_int)
{
	const char *end = s->end;
	*is_int = true;
	if (*p == '-' && ++p == end)
		goto eof;
	if (*p == '0') {
		p++;
		if (p < end && is_digit(*p)) {
			fail_at(s, p, "invalid number (leading zero)");
			return NULL;
		}
	} else if (*p >= '1' && *p <= '9') {
		p++;
		while (p < end && is_digit(*p))
			p++;
	} else {
		fail_at(s, p, "invalid number");
		return NULL;
	}
	if (p < end && *p == '.') {
		*is_int = false;
		if (++p == end)
			goto eof;
		if (!is_digit(*p)) {
			fail_at(s, p, "invalid number (digit expected after '.')");
			return NULL;
		}
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		*is_int = false;
		if (++p == end)
			goto eof;
		if ((*p == '+' || *p == '-') && ++p == end)
			goto eof;
		if (!is_digit(*p)) {
			fail_at(s, p, "invalid number (digit expected in exponent)");
			return NULL;
		}
		while (p < end && is_digit(*p))
			p++;
	}
	return p;
eof:
	fail_eof(s);
	return NULL;
}

static const char *scan_literal(struct sn_jscan *s, const char *p, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p + i == s->end) {
			fail_eof(s);
			return NULL;
		}
		if (p[i] != lit[i]) {
			fail_at(s, p + i, "invalid literal");
			return NULL;
		}
	}
	return p + n;
}

/* ---- the cursor ---------------------------------------------------------------------- */

int sn_jscan_peek(struct sn_jscan *s)
{
	if (!s->p)
		return fail_size(s);
	s->p = skip_ws(s->p, s->end);
	if (s->p == s->end)
		return fail_eof(s);
	int t = sn_jtype_of(*s->p);
	return t != SN_JNONE ? t : fail_at(s, s->p, "unexpected character");
}

int sn_jscan_skip(struct sn_jscan *s, struct sn_jspan *v)
{
	if (!s->p)
		return fail_size(s);
	const char *p = skip_ws(s->p, s->end), *end = s->end, *start = p;
	/* bit i: level i (from the value's own) is an object */
	uint64_t stack[(SN_JSCAN_MAX_DEPTH + 63) / 64];
	unsigned depth = 0;
#define TOP_IS_OBJ ((stack[(depth - 1) >> 6] >> ((depth - 1) & 63)) & 1)
	uint8_t flags = 0;
	bool esc, is_int;

value:
	p = skip_ws(p, end);
	if (p == end)
		return fail_eof(s);
	switch (*p) {
	case '"':
		esc = false;
		if (!(p = scan_string(s, p, &esc)))
			return SN_ERR_INVALID;
		if (esc && depth == 0)
			flags |= SN_JSPAN_ESCAPED;
		break;
	case '-':
	case '0' ... '9':
		if (!(p = scan_number(s, p, &is_int)))
			return SN_ERR_INVALID;
		if (is_int && depth == 0)
			flags |= SN_JSPAN_INT;
		break;
	case 't':
		if (!(p = scan_literal(s, p, "true", 4)))
			return SN_ERR_INVALID;
		break;
	case 'f':
		if (!(p = scan_literal(s, p, "false", 5)))
			return SN_ERR_INVALID;
		break;
	case 'n':
		if (!(p = scan_literal(s, p, "null", 4)))
			return SN_ERR_INVALID;
		break;
	case '{':
	case '[':
		if (s->depth + depth >= SN_JSCAN_MAX_DEPTH)
			return fail_at(s, p, "nesting too deep");
		depth++;
		if (*p == '{')
			stack[(depth - 1) >> 6] |= 1ull << ((depth - 1) & 63);
		else
			stack[(depth - 1) >> 6] &= ~(1ull << ((depth - 1) & 63));
		p = skip_ws(p + 1, end);
		if (p == end)
			return fail_eof(s);
		if (*p == (TOP_IS_OBJ ? '}' : ']')) {
			p++;
			depth--;
			break;
		}
		if (TOP_IS_OBJ)
			goto key;
		goto value;
	default: return fail_at(s, p, "unexpected character");
	}

	/* After a value: close containers, or go on after a comma. */
	while (depth) {
		p = skip_ws(p, end);
		if (p == end)
			return fail_eof(s);
		if (*p == ',') {
			p++;
			if (TOP_IS_OBJ) {
				p = skip_ws(p, end);
				goto key;
			}
			goto value;
		}
		if (*p != (TOP_IS_OBJ ? '}' : ']'))
			return fail_at(s, p,
				       TOP_IS_OBJ ? "expected ',' or '}'" : "expected ',' or ']'");
		p++;
		depth--;
	}
#undef TOP_IS_OBJ
	v->p = start;
	v->len = (uint32_t)(p - start);
	v->type = sn_jtype_of_valid(*start); /* validated above */
	v->flags = flags;
	s->p = p;
	return 0;

key:
	/* p is past whitespace, where an object member's key must start. */
	if (p == end)
		return fail_eof(s);
	if (*p != '"')
		return fail_at(s, p, "expected a quoted object key");
	esc = false;
	if (!(p = scan_string(s, p, &esc)))
		return SN_ERR_INVALID;
	p = skip_ws(p, end);
	if (p == end)
		return fail_eof(s);
	if (*p != ':')
		return fail_at(s, p, "expected ':' after an object key");
	p++;
	goto value;
}

int sn_jscan_enter(struct sn_jscan *s)
{
	int t = sn_jscan_peek(s);
	if (t < 0)
		return t;
	if (t != SN_JOBJECT && t != SN_JARRAY)
		return fail_at(s, s->p, "expected an object or array");
	if (s->depth >= SN_JSCAN_MAX_DEPTH)
		return fail_at(s, s->p, "nesting too deep");
	s->depth++;
	s->p++;
	s->first = true;
	return 0;
}

/* Shared by next_key and next_elem: 0 after consuming the closing byte, 1
 * when a member follows (cursor past the ',' if any), < 0 on error. */
static int next_member(struct sn_jscan *s, char close, const char *what)
{
	const char *p = skip_ws(s->p, s->end);
	if (p == s->end)
		return fail_eof(s);
	if (*p == close) {
		s->p = p + 1;
		s->depth--;
		s->first = false;
		return 0;
	}
	if (s->first) {
		s->first = false;
	} else {
		if (*p != ',')
			return fail_at(s, p, what);
		p++;
	}
	s->p = p;
	return 1;
}

int sn_jscan_next_key(struct sn_jscan *s, struct sn_jspan *key)
{
	if (!s->p)
		return fail_size(s);
	int r = next_member(s, '}', "expected ',' or '}'");
	if (r <= 0)
		return r;
	const char *p = skip_ws(s->p, s->end);
	if (p == s->end)
		return fail_eof(s);
	if (*p != '"')
		return fail_at(s, p, "expected a quoted object key");
	bool esc = false;
	const char *q = scan_string(s, p, &esc);
	if (!q)
		return SN_ERR_INVALID;
	key->p = p;
	key->len = (uint32_t)(q - p);
	key->type = SN_JSTRING;
	key->flags = esc ? SN_JSPAN_ESCAPED : 0;
	q = skip_ws(q, s->end);
	if (q == s->end)
		return fail_eof(s);
	if (*q != ':')
		return fail_at(s, q, "expected ':' after an object key");
	s->p = q + 1;
	return 1;
}

int sn_jscan_next_elem(struct sn_jscan *s)
{
	if (!s->p)
		return fail_size(s);
	return next_member(s, ']', "expected ',' or ']'");
}

int sn_jscan_finish(struct sn_jscan *s)
{
	if (!s->p)
		return fail_size(s);
	const char *p = skip_ws(s->p, s->end);
	if (p != s->end)
		return fail_at(s, p, "unexpected data after the value");
	s->p = p;
	return 0;
}

int sn_jscan_document(const char *text, size_t len, struct sn_jspan *root, struct sn_err *err)
{
	struct sn_jscan s;
	struct sn_jspan v;
	sn_jscan_init(&s, text, len, err);
	int rc = sn_jscan_skip(&s, &v);
	rc = rc ? rc : sn_jscan_finish(&s);
	if (!rc && root)
		*root = v;
	return rc;
}

/* ---- values ------------------------------------------------------------------------ */

static unsigned hex4(const char *p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		v = v << 4 | (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

static size_t utf8_put(unsigned cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decodes the escape at p (just past the backslash; validated) into o.
 * Returns the bytes written and advances *pp past the escape (and past a
 * low surrogate escape that pairs with a high one). */
static size_t decode_escape(const char **pp, const char *end, char *o)
{
	const char *p = *pp;
	char c = *p++;
	size_t n = 1;
	switch (c) {
	case 'b': o[0] = '\b'; break;
	case 'f': o[0] = '\f'; break;
	case 'n': o[0] = '\n'; break;
	case 'r': o[0] = '\r'; break;
	case 't': o[0] = '\t'; break;
	case 'u': {
		unsigned cp = hex4(p);
		p += 4;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			unsigned lo;
			if (end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
			    (lo = hex4(p + 2)) >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			} else {
				cp = 0xfffd;
			}
		} else if (cp >= 0xdc00 && cp <= 0xdfff) {
			cp = 0xfffd;
		}
		n = utf8_put(cp, o);
		break;
	}
	default: o[0] = c; break; /* " \ / */
	}
	*pp = p;
	return n;
}

int sn_jspan_unescape(const struct sn_jspan *str, struct sn_buf *out)
{
	const char *p = str->p + 1, *end = str->p + str->len - 1;
	if (!(str->flags & SN_JSPAN_ESCAPED))
		return sn_buf_append(out, p, (size_t)(end - p));
	/* Decoding never lengthens: \uXXXX (6 bytes) → at most 3, a pair (12) → 4. */
	int rc = sn_buf_reserve(out, (size_t)(end - p));
	if (rc)
		return rc;
	char *o = out->data + out->len;
	while (p < end) {
		const char *q = memchr(p, '\\', (size_t)(end - p));
		if (!q) {
			memcpy(o, p, (size_t)(end - p));
			o += end - p;
			break;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		p = q + 1;
		o += decode_escape(&p, end, o);
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = 0;
	return 0;
}

bool sn_jspan_str_eq(const struct sn_jspan *v, const char *lit, size_t n)
{
	if (v->type != SN_JSTRING)
		return false;
	const char *p = v->p + 1, *end = v->p + v->len - 1;
	if (!(v->flags & SN_JSPAN_ESCAPED))
		return (size_t)(end - p) == n && memcmp(p, lit, n) == 0;
	size_t i = 0;
	while (p < end) {
		char tmp[4];
		size_t k;
		if (*p == '\\') {
			p++;
			k = decode_escape(&p, end, tmp);
		} else {
			tmp[0] = *p++;
			k = 1;
		}
		if (n - i < k || memcmp(lit + i, tmp, k) != 0)
			return false;
		i += k;
	}
	return i == n;
}

int sn_jspan_int64(const struct sn_jspan *num, int64_t *out)
{
	if (num->type != SN_JNUMBER || !(num->flags & SN_JSPAN_INT))
		return SN_ERR_INVALID;
	const char *p = num->p, *end = num->p + num->len;
	bool neg = *p == '-';
	uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	bool sat = false;
	for (p += neg; p < end; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (lim - d) / 10) {
			sat = true;
			break;
		}
		v = v * 10 + d;
	}
	if (sat || (neg && v == (uint64_t)INT64_MAX + 1))
		*out = neg ? INT64_MIN : INT64_MAX;
	else
		*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

int sn_jspan_double(const struct sn_jspan *num, double *out)
{
	if (num->type != SN_JNUMBER)
		return SN_ERR_INVALID;
	char small[64], *tmp = small;
	if (num->len >= sizeof(small) && !(tmp = malloc(num->len + 1)))
		return SN_ERR_NOMEM;
	memcpy(tmp, num->p, num->len);
	tmp[num->len] = 0;
	*out = strtod(tmp, NULL);
	if (tmp != small)
		free(tmp);
	return 0;
}
