/*
 * fn_scalar.c — the executor's string, regex, URL, math, conversion, JSON
 * and hashing functions, with ClickHouse's semantics (spec §7.3).
 *
 * Every function is one row of the table at the bottom: a name, a handler
 * and a small integer that selects the variant (substring / substringUTF8,
 * trimLeft / trimRight, ...). xfn_scalar looks the call's name up there;
 * eval.c calls it for every function it does not evaluate itself. A handler
 * evaluates its arguments as whole vectors (constants arrive broadcast to the
 * batch), checks their types once, then loops over the rows. Conventions
 * shared by all handlers:
 *
 *  - NULL in, NULL out: an argument that is the NULL literal makes the
 *    result the NULL type (Nullable(Nothing)); a nullable argument makes
 *    the result nullable and NULL in the rows where it is (out_for). The
 *    exceptions say so: nullIf, assumeNotNull, greatest/least (they skip
 *    NULLs, as ClickHouse does since 24.12), toTypeName.
 *  - A wrong argument type is a QueryError naming the function and the
 *    argument ("Illegal type Int64 of argument 1 of function substring").
 *  - Result strings are allocated in the batch arena (c->ba) or point into
 *    an argument's bytes, which live at least as long as the batch.
 *  - The byte functions (substring, reverse, position, leftPad, ...) work on
 *    bytes as ClickHouse's do; their UTF8 forms step over code points the
 *    way ClickHouse does (by the lead byte's sequence length, no
 *    validation).
 *
 * Regular expressions are PCRE2 (ClickHouse uses RE2; the common syntax is
 * the same), compiled as ClickHouse configures RE2: UTF-8, `.` matching
 * newlines too, `$` only at the very end; invalid UTF-8 subjects are
 * allowed, and match, depth and heap limits are set, so a pathological
 * pattern fails the query instead of hanging it. Patterns must be constant;
 * each is compiled once per query and kept, with its match data, in the
 * query arena (struct xscalar hangs off c->q): PCRE2's allocations go to the
 * arena through a general context, so the memory budget covers them. Each
 * pattern is also JIT-compiled when PCRE2 can (paths' URL clean-up on 10M
 * events spent 40 % of its time in the interpreter); the JIT code and the
 * JIT stack (1 MiB, the match limit still applies) are outside the arena
 * and are freed by xscalar_release when the statement's context ends.
 *
 * JSON functions read the raw JSON text with the strict scanner of base/
 * (jsonscan.c): the document is validated once per row (ClickHouse returns
 * the default for invalid JSON), then the path is followed by skipping
 * members without building a tree.
 *
 * Functions returning arrays build them with xarr_build (array.c): here
 * JSONExtractArrayRaw, JSONExtractKeys, splitByWhitespace, alphaTokens,
 * splitByRegexp, extractAll, extractURLParameters/Names, URLHierarchy and
 * URLPathHierarchy, extractAllGroupsHorizontal/Vertical (arrays of arrays);
 * splitByChar/splitByString are in array.c. multiSearch* and multiMatch*
 * take an Array(String) of needles or patterns per row (flattened once a
 * batch; patterns through the same per-query cache). sipHash64 and cityHash64
 * (base/cityhash.c: CityHash v1.0.2, ClickHouse's) take one String: other
 * types hash ClickHouse's exact binary type, which widened types lose.
 *
 * Concurrency: nothing is shared between queries but the C.UTF-8 locale
 * object of lowerUTF8/upperUTF8, created once and read-only afterwards.
 *
 * Rejected alternatives: one handler per name (most families differ in a
 * flag or two: left/right, byte/UTF-8, case-insensitive; a selector keeps
 * each family's loop in one place); json-c for the JSON functions (a DOM,
 * with an allocation per value, for every row, to read one value).
 */
#include <ctype.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wctype.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <openssl/evp.h>
#include <pcre2.h>
#include <sodium.h>

#include "exec/fn_common.h"

#define RE_MAX_PATTERN	 4096
#define RE_MATCH_LIMIT	 1000000
#define RE_DEPTH_LIMIT	 10000
#define RE_HEAP_LIMIT_KB 8192
#define MAX_REPEAT_BYTES ((size_t)1 << 30) /* ClickHouse's limit on one string */

/* The C.UTF-8 locale for towlower_l/towupper_l: created once, never freed,
 * read-only afterwards (no global setlocale). */
static locale_t utf8_loc;
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;

static void utf8_loc_init(void)
{
	utf8_loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* ---- strings ------------------------------------------------------------------------ */

/* concat(a, b, ...) (op 0) and concatWithSeparator(sep, a, ...) (op 1):
 * non-String arguments are converted as toString does. */
static int fn_concat(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec *v;
	bool done;
	if (eval_all(c, n, 1, &v))
		return c->rc;
	size_t na = n->list.n;
	for (size_t k = 0; k < na; k++)
		if (as_text(c, n->list.items[k], &v[k]) || need_text(c, n, &v[k], k))
			return c->rc;
	if (out_for(c, out, SN_XT_STRING, v, na, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		size_t len = 0;
		for (size_t k = op; k < na; k++)
			len += str_at(&v[k], r).len + (op && k > 1 ? str_at(&v[0], r).len : 0);
		char *p = salloc(c, len);
		if (!p)
			return c->rc;
		size_t at = 0;
		for (size_t k = op; k < na; k++) {
			if (op && k > 1) {
				memcpy(p + at, str_at(&v[0], r).p, str_at(&v[0], r).len);
				at += str_at(&v[0], r).len;
			}
			if (str_at(&v[k], r).len)
				memcpy(p + at, str_at(&v[k], r).p, str_at(&v[k], r).len);
			at += str_at(&v[k], r).len;
		}
		out->s[r] = (struct sn_str){p, len};
	}
	return 0;
}

/* Appends format's output for one row to b: `{}` takes the next argument,
 * `{N}` argument N (0-based), `{{` and `}}` are braces. 0, or -1 with a
 * message in why for a malformed pattern. */
static int format_row(struct sn_buf *b, struct sn_str pat, const struct vec *v, size_t nv, size_t r,
		      const char **why)
{
	size_t next = 0;
	for (size_t i = 0; i < pat.len; i++) {
		char ch = pat.p[i];
		if ((ch == '{' || ch == '}') && i + 1 < pat.len && pat.p[i + 1] == ch) {
			i++;
		} else if (ch == '}') {
			*why = "unbalanced '}'";
			return -1;
		} else if (ch == '{') {
			size_t j = i + 1, k = 0;
			bool digits = false;
			while (j < pat.len && pat.p[j] >= '0' && pat.p[j] <= '9' && k < 1000000) {
				k = k * 10 + (size_t)(pat.p[j++] - '0');
				digits = true;
			}
			if (j >= pat.len || pat.p[j] != '}') {
				*why = "'{' without a matching '}'";
				return -1;
			}
			if (!digits)
				k = next++;
			if (k >= nv) {
				*why = "a field index past the last argument";
				return -1;
			}
			if (sn_buf_append(b, str_at(&v[k], r).p, str_at(&v[k], r).len))
				return -2;
			i = j;
			continue;
		}
		if (sn_buf_appendc(b, ch))
			return -2;
	}
	return 0;
}

/* format(pattern, a, ...): arguments are converted as toString does. */
static int fn_format(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec *v;
	bool done;
	if (eval_all(c, n, 1, &v) || need_text(c, n, &v[0], 0))
		return c->rc;
	size_t na = n->list.n;
	for (size_t k = 1; k < na; k++)
		if (as_text(c, n->list.items[k], &v[k]) || need_text(c, n, &v[k], k))
			return c->rc;
	if (out_for(c, out, SN_XT_STRING, v, na, &done) || done)
		return c->rc;
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	for (size_t r = 0; r < c->n && !c->rc; r++) {
		if (vec_null(out, r))
			continue;
		const char *why = NULL;
		sn_buf_reset(&b);
		int rc = format_row(&b, str_at(&v[0], r), v + 1, na - 1, r, &why);
		if (rc == -2) {
			xnomem(c);
			break;
		}
		if (rc < 0) {
			xfail(c, n, SN_ERR_INVALID, "QueryError",
			      "Invalid format string for function %s: %s", n->name, why);
			break;
		}
		if (!sstr_of_buf(c, &b, &out->s[r]))
			break;
	}
	sn_buf_release(&b);
	return c->rc;
}

/* The [start, end) slice ClickHouse's substring takes of a string of len
 * units: 1-based offset, negative from the end, 0 = nothing; a negative
 * length stops that many units before the end. */
static void slice(int64_t len, int64_t off, bool has_len, int64_t cnt, int64_t *s, int64_t *e)
{
	*s = *e = 0;
	if (off == 0)
		return;
	/* A negative offset past the start leaves st negative: the window then
	 * starts before the string and a length counts from there. */
	int64_t st = off > 0 ? off - 1 : len + off;
	int64_t en = len;
	if (has_len)
		en = cnt < 0 ? len + cnt : st > 0 && cnt > INT64_MAX - st ? INT64_MAX : st + cnt;
	if (st < 0)
		st = 0;
	if (en > len)
		en = len;
	if (st >= en)
		return;
	*s = st;
	*e = en;
}

/* substring(s, off[, len]) (op 0 bytes, 1 code points). */
static int fn_substring(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[3];
	bool done;
	if (eval_args(c, n, 2, 3, v) || need_text(c, n, &v[0], 0) || need_int(c, n, &v[1], 1) ||
	    (n->list.n == 3 && need_int(c, n, &v[2], 2)) ||
	    out_for(c, out, SN_XT_STRING, v, n->list.n, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r);
		int64_t len = op ? (int64_t)utf8_points(s.p, s.len) : (int64_t)s.len, a, b;
		slice(len, v[1].i[r], n->list.n == 3, n->list.n == 3 ? v[2].i[r] : 0, &a, &b);
		if (op) {
			size_t ba = utf8_off(s.p, s.len, (size_t)a);
			size_t bb = utf8_off(s.p, s.len, (size_t)b);
			out->s[r] = (struct sn_str){s.p + ba, bb - ba};
		} else {
			out->s[r] = (struct sn_str){s.p + a, (size_t)(b - a)};
		}
	}
	return 0;
}

/* left(s, n) (op 0), right(s, n) (op 1); +2 for the UTF8 forms. A negative
 * n keeps all but |n| units from the other side. */
static int fn_leftright(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_text(c, n, &v[0], 0) || need_int(c, n, &v[1], 1) ||
	    out_for(c, out, SN_XT_STRING, v, 2, &done) || done)
		return c->rc;
	bool utf = op & 2, right = op & 1;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r);
		int64_t len = utf ? (int64_t)utf8_points(s.p, s.len) : (int64_t)s.len;
		int64_t k = v[1].i[r], a, b;
		if (k < -len)
			k = -len;
		if (k > len)
			k = len;
		if (!right) {
			a = 0;
			b = k >= 0 ? k : len + k;
		} else {
			a = k >= 0 ? len - k : -k;
			b = len;
		}
		size_t ba = utf ? utf8_off(s.p, s.len, (size_t)a) : (size_t)a;
		size_t bb = utf ? utf8_off(s.p, s.len, (size_t)b) : (size_t)b;
		out->s[r] = (struct sn_str){s.p + ba, bb - ba};
	}
	return 0;
}

static int fn_length_utf8(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_UINT, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		if (!vec_null(out, r))
			out->i[r] = (int64_t)utf8_count(str_at(&v, r).p, str_at(&v, r).len);
	return 0;
}

/* lowerUTF8 (op 0), upperUTF8 (op 1): per code point, invalid bytes kept. */
static int fn_case_utf8(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_STRING, &v, 1, &done) || done)
		return c->rc;
	pthread_once(&utf8_once, utf8_loc_init);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		const unsigned char *s = (const unsigned char *)str_at(&v, r).p;
		size_t len = str_at(&v, r).len, at = 0;
		char *p = salloc(c, len * 2 + 4);
		if (!p)
			return c->rc;
		for (size_t i = 0; i < len;) {
			uint32_t cp;
			size_t l = sn_utf8_decode(s + i, len - i, &cp);
			if (!l) {
				p[at++] = (char)s[i++];
				continue;
			}
			wint_t m = cp;
			if (cp < 0x80)
				m = op ? (wint_t)toupper((int)cp) : (wint_t)tolower((int)cp);
			else if (utf8_loc)
				m = op ? towupper_l(cp, utf8_loc) : towlower_l(cp, utf8_loc);
			size_t ml = utf8_encode((uint32_t)m, p + at);
			if (ml > l * 2) { /* cannot happen for Unicode's simple mappings */
				ml = l;
				memcpy(p + at, s + i, l);
			}
			at += ml;
			i += l;
		}
		out->s[r] = (struct sn_str){p, at};
	}
	return 0;
}

/* trimLeft (op 1), trimRight (op 2), trim/trimBoth (op 3); the optional
 * second argument is the set of bytes to remove (default: space only). */
static int fn_trim(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 1, 2, v) || need_text(c, n, &v[0], 0) ||
	    (n->list.n == 2 && need_text(c, n, &v[1], 1)) ||
	    out_for(c, out, SN_XT_STRING, v, n->list.n, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r);
		struct sn_str set = n->list.n == 2 ? str_at(&v[1], r) : (struct sn_str){" ", 1};
		size_t a = 0, b = s.len;
		if (op & 1)
			while (a < b && set.len && memchr(set.p, s.p[a], set.len))
				a++;
		if (op & 2)
			while (b > a && set.len && memchr(set.p, s.p[b - 1], set.len))
				b--;
		out->s[r] = (struct sn_str){s.p + a, b - a};
	}
	return 0;
}

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn, bool ci)
{
	if (nn == 0)
		return h;
	if (!ci)
		return memmem(h, hn, nd, nn);
	for (size_t i = 0; i + nn <= hn; i++)
		if (strncasecmp(h + i, nd, nn) == 0)
			return h + i;
	return NULL;
}

/* position(haystack, needle[, start]): op bit 0 = case-insensitive (ASCII
 * letters only, also in positionCaseInsensitiveUTF8),
 * bit 1 = code points (positionUTF8), bit 2 = locate(needle, haystack). */
static int fn_position(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[3];
	bool done;
	if (eval_args(c, n, 2, 3, v))
		return c->rc;
	size_t hi = op & 4 ? 1 : 0, ni = op & 4 ? 0 : 1;
	if (need_text(c, n, &v[hi], hi) || need_text(c, n, &v[ni], ni) ||
	    (n->list.n == 3 && need_int(c, n, &v[2], 2)) ||
	    out_for(c, out, SN_XT_UINT, v, n->list.n, &done) || done)
		return c->rc;
	bool utf = op & 2;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str h = str_at(&v[hi], r), nd = str_at(&v[ni], r);
		int64_t start = n->list.n == 3 ? v[2].i[r] : 1;
		size_t hlen = utf ? utf8_points(h.p, h.len) : h.len;
		if (start < 1)
			start = 1;
		if ((uint64_t)start > hlen + 1) {
			out->i[r] = 0;
			continue;
		}
		size_t from = utf ? utf8_off(h.p, h.len, (size_t)start - 1) : (size_t)start - 1;
		const char *f = find_bytes(h.p + from, h.len - from, nd.p, nd.len, op & 1);
		if (!f)
			out->i[r] = 0;
		else
			out->i[r] = utf ? (int64_t)utf8_points(h.p, (size_t)(f - h.p)) + 1
					: (int64_t)(f - h.p) + 1;
	}
	return 0;
}

/* startsWith (op 0), endsWith (op 1). */
static int fn_affix(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_text(c, n, &v[0], 0) || need_text(c, n, &v[1], 1) ||
	    out_for(c, out, SN_XT_BOOL, v, 2, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r), a = str_at(&v[1], r);
		out->i[r] = a.len <= s.len &&
			    (a.len == 0 || memcmp(op ? s.p + s.len - a.len : s.p, a.p, a.len) == 0);
	}
	return 0;
}

/* replaceAll/replace (op 0), replaceOne (op 1): an empty pattern changes nothing. */
static int fn_replace(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[3];
	bool done;
	if (eval_args(c, n, 3, 3, v) || need_text(c, n, &v[0], 0) || need_text(c, n, &v[1], 1) ||
	    need_text(c, n, &v[2], 2) || out_for(c, out, SN_XT_STRING, v, 3, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r), f = str_at(&v[1], r), t = str_at(&v[2], r);
		if (!f.len) {
			out->s[r] = s;
			continue;
		}
		size_t cnt = 0;
		for (const char *p = s.p, *e = s.p + s.len, *m;
		     (m = memmem(p, (size_t)(e - p), f.p, f.len)); p = m + f.len) {
			cnt++;
			if (op)
				break;
		}
		if (!cnt) {
			out->s[r] = s;
			continue;
		}
		size_t len = s.len - cnt * f.len + cnt * t.len, at = 0;
		char *o = salloc(c, len);
		if (!o)
			return c->rc;
		const char *p = s.p, *e = s.p + s.len;
		for (size_t k = 0; k < cnt; k++) {
			const char *m = memmem(p, (size_t)(e - p), f.p, f.len);
			memcpy(o + at, p, (size_t)(m - p));
			at += (size_t)(m - p);
			if (t.len)
				memcpy(o + at, t.p, t.len);
			at += t.len;
			p = m + f.len;
		}
		memcpy(o + at, p, (size_t)(e - p));
		out->s[r] = (struct sn_str){o, len};
	}
	return 0;
}

/* reverse (op 0 bytes), reverseUTF8 (op 1 code points). */
static int fn_reverse(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_STRING, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v, r);
		char *o = salloc(c, s.len);
		if (!o)
			return c->rc;
		for (size_t i = 0; i < s.len;) {
			size_t l = op ? seq_len((unsigned char)s.p[i]) : 1;
			if (i + l > s.len)
				l = s.len - i;
			memcpy(o + s.len - i - l, s.p + i, l);
			i += l;
		}
		out->s[r] = (struct sn_str){o, s.len};
	}
	return 0;
}

static int fn_repeat(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_text(c, n, &v[0], 0) || need_int(c, n, &v[1], 1) ||
	    out_for(c, out, SN_XT_STRING, v, 2, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r);
		int64_t k = v[1].i[r];
		if (k <= 0 || !s.len) {
			out->s[r] = (struct sn_str){"", 0};
			continue;
		}
		if ((uint64_t)k > MAX_REPEAT_BYTES / s.len)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Too large string size in function %s", n->name);
		size_t len = s.len * (size_t)k;
		char *o = salloc(c, len);
		if (!o)
			return c->rc;
		for (int64_t i = 0; i < k; i++)
			memcpy(o + (size_t)i * s.len, s.p, s.len);
		out->s[r] = (struct sn_str){o, len};
	}
	return 0;
}

/* leftPad (op 0), rightPad (op 1); +2 for the UTF8 forms. Strings longer
 * than the length are cut to it; an empty pad leaves short strings alone. */
static int fn_pad(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[3];
	bool done;
	if (eval_args(c, n, 2, 3, v) || need_text(c, n, &v[0], 0) || need_int(c, n, &v[1], 1) ||
	    (n->list.n == 3 && need_text(c, n, &v[2], 2)) ||
	    out_for(c, out, SN_XT_STRING, v, n->list.n, &done) || done)
		return c->rc;
	bool utf = op & 2, right = op & 1;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r);
		struct sn_str pad = n->list.n == 3 ? str_at(&v[2], r) : (struct sn_str){" ", 1};
		int64_t want = v[1].i[r];
		if (want < 0)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Illegal negative length in function %s", n->name);
		if ((uint64_t)want > MAX_REPEAT_BYTES)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Too large string size in function %s", n->name);
		size_t slen = utf ? utf8_points(s.p, s.len) : s.len;
		if ((size_t)want <= slen) {
			size_t cut = utf ? utf8_off(s.p, s.len, (size_t)want) : (size_t)want;
			out->s[r] = (struct sn_str){s.p, cut};
			continue;
		}
		size_t plen = utf ? utf8_points(pad.p, pad.len) : pad.len;
		if (!plen) {
			out->s[r] = s;
			continue;
		}
		size_t need = (size_t)want - slen; /* units of padding */
		size_t full = need / plen, rest = need % plen;
		size_t rest_b = utf ? utf8_off(pad.p, pad.len, rest) : rest;
		size_t len = s.len + full * pad.len + rest_b, at = 0;
		char *o = salloc(c, len);
		if (!o)
			return c->rc;
		if (right) {
			memcpy(o, s.p, s.len);
			at = s.len;
		}
		for (size_t i = 0; i < full; i++, at += pad.len)
			memcpy(o + at, pad.p, pad.len);
		memcpy(o + at, pad.p, rest_b);
		at += rest_b;
		if (!right)
			memcpy(o + at, s.p, s.len);
		out->s[r] = (struct sn_str){o, len};
	}
	return 0;
}

/* empty (op 0), notEmpty (op 1). */
static int fn_empty(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || (v.t != SN_XT_ARRAY && need_text(c, n, &v, 0)) ||
	    out_for(c, out, SN_XT_BOOL, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) /* an array: no elements */
		if (!vec_null(out, r))
			out->i[r] = (v.t == SN_XT_ARRAY ? xarr_count(v.s[r]) == 0
							: str_at(&v, r).len == 0) != op;
	return 0;
}

/* base64Encode (op 0), base64Decode (op 1: invalid input is an error),
 * tryBase64Decode (op 2: invalid input gives ""). Standard alphabet;
 * decoding accepts input with or without padding. */
static int fn_base64(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_STRING, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v, r);
		if (op == 0) {
			size_t cap =
			    sodium_base64_ENCODED_LEN(s.len, sodium_base64_VARIANT_ORIGINAL);
			char *o = salloc(c, cap);
			if (!o)
				return c->rc;
			sodium_bin2base64(o, cap, (const unsigned char *)s.p, s.len,
					  sodium_base64_VARIANT_ORIGINAL);
			out->s[r] = (struct sn_str){o, strlen(o)};
			continue;
		}
		unsigned char *o = (unsigned char *)salloc(c, s.len / 4 * 3 + 3);
		if (!o)
			return c->rc;
		size_t olen = 0;
		const char *end = NULL;
		bool ok = sodium_base642bin(o, s.len / 4 * 3 + 3, s.p, s.len, NULL, &olen, &end,
					    sodium_base64_VARIANT_ORIGINAL) == 0 &&
			  end == s.p + s.len;
		if (!ok)
			ok = sodium_base642bin(o, s.len / 4 * 3 + 3, s.p, s.len, NULL, &olen, &end,
					       sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0 &&
			     end == s.p + s.len;
		if (!ok && op == 1)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Failed to decode base64 string in function %s", n->name);
		out->s[r] = ok ? (struct sn_str){(const char *)o, olen} : (struct sn_str){"", 0};
	}
	return 0;
}

/* hex: Strings byte by byte, integers big-endian without leading zero
 * bytes, floats as their in-memory (little-endian) bytes; upper case. */
static int fn_hex(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	static const char digits[] = "0123456789ABCDEF";
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (!(v.t == SN_XT_STRING || is_numeric(v.t) || v.t == SN_XT_NULL))
		return bad_type(c, n, &v, 0);
	if (out_for(c, out, SN_XT_STRING, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		unsigned char buf[8];
		const unsigned char *b;
		size_t len;
		if (v.t == SN_XT_STRING) {
			b = (const unsigned char *)str_at(&v, r).p;
			len = str_at(&v, r).len;
		} else if (v.t == SN_XT_FLOAT) {
			memcpy(buf, &v.f[r],
			       8); /* x86-64 and arm64: little-endian, as ClickHouse */
			b = buf;
			len = 8;
		} else {
			uint64_t x = (uint64_t)v.i[r];
			len = 0;
			for (int k = 7; k >= 0; k--)
				if ((x >> (8 * k)) & 0xFF || len || k == 0)
					buf[len++] = (unsigned char)(x >> (8 * k));
			b = buf;
		}
		char *o = salloc(c, len * 2);
		if (!o)
			return c->rc;
		for (size_t i = 0; i < len; i++) {
			o[2 * i] = digits[b[i] >> 4];
			o[2 * i + 1] = digits[b[i] & 15];
		}
		out->s[r] = (struct sn_str){o, len * 2};
	}
	return 0;
}

/* unhex: pairs of hex digits to bytes; an odd count reads a leading 0;
 * a character that is no hex digit counts as 0. */
static int fn_unhex(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_STRING, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v, r);
		size_t len = (s.len + 1) / 2, i = 0, k = 0;
		char *o = salloc(c, len);
		if (!o)
			return c->rc;
		if (s.len % 2) {
			int d = sn_hex_digit((unsigned char)s.p[0]);
			o[k++] = (char)(d < 0 ? 0 : d);
			i = 1;
		}
		for (; i + 1 < s.len + 1 && i < s.len; i += 2) {
			int hi = sn_hex_digit((unsigned char)s.p[i]);
			int lo = sn_hex_digit((unsigned char)s.p[i + 1]);
			o[k++] = (char)((hi < 0 ? 0 : hi) << 4 | (lo < 0 ? 0 : lo));
		}
		out->s[r] = (struct sn_str){o, k};
	}
	return 0;
}

/* toValidUTF8 (op 0): every run of invalid bytes becomes one U+FFFD;
 * isValidUTF8 (op 1). */
static int fn_utf8_valid(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) ||
	    out_for(c, out, op ? SN_XT_BOOL : SN_XT_STRING, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		const unsigned char *s = (const unsigned char *)str_at(&v, r).p;
		size_t len = str_at(&v, r).len, at = 0;
		bool valid = true;
		char *o = op ? NULL : salloc(c, len * 3 + 1);
		if (!op && !o)
			return c->rc;
		bool in_bad = false;
		for (size_t i = 0; i < len;) {
			uint32_t cp;
			size_t l = sn_utf8_decode(s + i, len - i, &cp);
			if (!l) {
				valid = false;
				if (o && !in_bad) {
					memcpy(o + at, "\xEF\xBF\xBD", 3);
					at += 3;
				}
				in_bad = true;
				i++;
				continue;
			}
			in_bad = false;
			if (o)
				memcpy(o + at, s + i, l);
			at += l;
			i += l;
		}
		if (op)
			out->i[r] = valid;
		else
			out->s[r] = (struct sn_str){o, at};
	}
	return 0;
}

/* like/ilike/notLike/notILike as functions: the LIKE operator of eval.c. */
static int fn_like(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	static const char *const ops[] = {"like", "ilike", "not like", "not ilike"};
	if (need_args(c, n, 2, 2))
		return c->rc;
	node_t *t = mk_node(c, n, SN_HQ_COMPARE);
	if (!t)
		return c->rc;
	t->op = ops[op];
	t->a = n->list.items[0];
	t->b = n->list.items[1];
	return xeval(c, t, out);
}

/* ---- regular expressions (PCRE2) -------------------------------------------------- */

struct xregex {
	struct xregex *next;
	const char *pat; /* NUL-terminated, in the query arena */
	pcre2_code *code;
	pcre2_match_data *md;
	uint32_t ncap;
};

/* fn_scalar.c's per-query state, in the query arena (c->q->scalar). */
struct xscalar {
	pcre2_general_context *gctx;
	pcre2_compile_context *cctx;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jstack; /* NULL: no JIT (the interpreter matches) */
	struct xregex *res;
};

void xscalar_release(struct xquery *q)
{
	struct xscalar *x = q->scalar;
	if (!x)
		return;
	for (struct xregex *e = x->res; e; e = e->next)
		pcre2_code_free(e->code); /* the JIT code; the rest is arena memory */
	if (x->jstack)
		pcre2_jit_stack_free(x->jstack);
	q->scalar = NULL;
}

static void *re_malloc(PCRE2_SIZE n, void *arena)
{
	return sn_arena_alloc(arena, n ? n : 1);
}

static void re_free(void *p, void *arena)
{
	(void)p; /* the arena frees everything at the end of the query */
	(void)arena;
}

/* The compiled form of pattern, compiled on first use in the query. */
static int re_get(struct xctx *c, const node_t *n, const char *pat, struct xregex **out)
{
	struct xscalar *x = c->q->scalar;
	if (!x) {
		if (!(x = xalloc(c, c->qa, sizeof(*x))))
			return c->rc;
		memset(x, 0, sizeof(*x));
		x->gctx = pcre2_general_context_create(re_malloc, re_free, c->qa);
		x->cctx = x->gctx ? pcre2_compile_context_create(x->gctx) : NULL;
		x->mctx = x->gctx ? pcre2_match_context_create(x->gctx) : NULL;
		if (!x->cctx || !x->mctx)
			return xnomem(c);
		pcre2_set_max_pattern_length(x->cctx, RE_MAX_PATTERN);
		pcre2_set_parens_nest_limit(x->cctx, 64);
		pcre2_set_match_limit(x->mctx, RE_MATCH_LIMIT);
		pcre2_set_depth_limit(x->mctx, RE_DEPTH_LIMIT);
		pcre2_set_heap_limit(x->mctx, RE_HEAP_LIMIT_KB);
		x->jstack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
		if (x->jstack)
			pcre2_jit_stack_assign(x->mctx, NULL, x->jstack);
		c->q->scalar = x;
	}
	for (struct xregex *e = x->res; e; e = e->next)
		if (strcmp(e->pat, pat) == 0) {
			*out = e;
			return 0;
		}
	int ec;
	PCRE2_SIZE off;
	pcre2_code *code =
	    pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
			  PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C |
			      PCRE2_DOLLAR_ENDONLY | PCRE2_DOTALL,
			  &ec, &off, x->cctx);
	if (!code) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(ec, msg, sizeof(msg));
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Invalid regular expression '%s' in function %s: %s at offset %zu",
			     pat, n->name, (const char *)msg, (size_t)off);
	}
	if (x->jstack)
		pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* on failure: the interpreter */
	struct xregex *e = xalloc(c, c->qa, sizeof(*e));
	if (!e) {
		pcre2_code_free(code);
		return c->rc;
	}
	e->pat = sn_arena_strdup(c->qa, pat);
	e->code = code;
	e->md = pcre2_match_data_create_from_pattern(code, x->gctx);
	if (!e->pat || !e->md)
		return xnomem(c);
	pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &e->ncap);
	e->next = x->res;
	x->res = e;
	*out = e;
	return 0;
}

/* One search from byte at: 1 match (ovector in e->md), 0 none, < 0 error. */
static int re_search(struct xctx *c, const node_t *n, struct xregex *e, struct sn_str s, size_t at,
		     uint32_t opts)
{
	int rc = pcre2_match(e->code, (PCRE2_SPTR)(s.len ? s.p : ""), s.len, at, opts, e->md,
			     ((struct xscalar *)c->q->scalar)->mctx);
	if (rc >= 0)
		return 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return 0;
	PCRE2_UCHAR msg[160];
	pcre2_get_error_message(rc, msg, sizeof(msg));
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Regular expression '%s' failed in function %s: %s", e->pat, n->name,
		     (const char *)msg);
}

/* Evaluates (subject, constant pattern[, ...]) and compiles the pattern. */
static int re_args(struct xctx *c, const node_t *n, size_t min, size_t max, struct vec *v,
		   struct xregex **e)
{
	const char *pat;
	if (need_args(c, n, min, max))
		return c->rc;
	if (n->list.items[1]->kind == SN_HQ_CONSTANT && n->list.items[1]->ctype == SN_HQC_NULL)
		return eval_args(c, n, min, max, v); /* NULL pattern: NULL result */
	if (need_const_text(c, n, 1, &pat) || re_get(c, n, pat, e) ||
	    eval_args(c, n, min, max, v) || need_text(c, n, &v[0], 0))
		return c->rc;
	return 0;
}

/* match(s, pattern): the pattern is searched for anywhere in s. */
static int fn_match(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	struct xregex *e = NULL;
	bool done;
	if (re_args(c, n, 2, 2, v, &e) || out_for(c, out, SN_XT_BOOL, v, 2, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int m = re_search(c, n, e, str_at(&v[0], r), 0, 0);
		if (m < 0)
			return c->rc;
		out->i[r] = m;
	}
	return 0;
}

/* extract(s, pattern) (op 0): the first capture group, or the whole match
 * when there is none, "" without a match. regexpExtract(s, pattern[, i])
 * (op 1): group i (default 1, 0 = whole match). countMatches (op 2). */
static int fn_extract(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[3];
	struct xregex *e = NULL;
	bool done;
	if (re_args(c, n, 2, op == 1 ? 3 : 2, v, &e) ||
	    (n->list.n == 3 && need_int(c, n, &v[2], 2)) ||
	    out_for(c, out, op == 2 ? SN_XT_UINT : SN_XT_STRING, v, n->list.n, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r);
		if (op == 2) {
			int64_t cnt = 0;
			size_t at = 0;
			while (at <= s.len) {
				int m = re_search(c, n, e, s, at, 0);
				if (m < 0)
					return c->rc;
				if (!m)
					break;
				PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
				if (ov[1] == ov[0]) { /* an empty match counts nothing */
					if (ov[1] >= s.len)
						break;
					at = ov[1] + seq_len((unsigned char)s.p[ov[1]]);
					continue;
				}
				cnt++;
				at = ov[1];
			}
			out->i[r] = cnt;
			continue;
		}
		int64_t g = op == 1 ? (n->list.n == 3 ? v[2].i[r] : 1) : (e->ncap ? 1 : 0);
		if (g < 0 || (uint64_t)g > e->ncap)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Group index %" PRId64
				     " of function %s is out of range: the pattern has %u groups",
				     g, n->name, e->ncap);
		int m = re_search(c, n, e, s, 0, 0);
		if (m < 0)
			return c->rc;
		out->s[r] = (struct sn_str){"", 0};
		if (!m)
			continue;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
		if (ov[2 * g] != PCRE2_UNSET)
			out->s[r] = (struct sn_str){s.p + ov[2 * g], ov[2 * g + 1] - ov[2 * g]};
	}
	return 0;
}

/* Appends the replacement with \0..\9 substituted (ClickHouse's syntax:
 * a backslash before any other character makes it literal) to o at `at`;
 * returns the new length. With o NULL it only measures. */
static size_t re_subst(char *o, size_t at, struct sn_str rep, struct sn_str s, const PCRE2_SIZE *ov)
{
	for (size_t i = 0; i < rep.len; i++) {
		char ch = rep.p[i];
		if (ch == '\\' && i + 1 < rep.len) {
			ch = rep.p[++i];
			if (ch >= '0' && ch <= '9') {
				uint32_t g = (uint32_t)(ch - '0');
				if (ov[2 * g] != PCRE2_UNSET) {
					size_t l = ov[2 * g + 1] - ov[2 * g];
					if (o)
						memcpy(o + at, s.p + ov[2 * g], l);
					at += l;
				}
				continue;
			}
		}
		if (o)
			o[at] = ch;
		at++;
	}
	return at;
}

/* A \N in the replacement must name a group the pattern has. */
static int re_check_subst(struct xctx *c, const node_t *n, struct sn_str rep, uint32_t ncap)
{
	for (size_t i = 0; i + 1 < rep.len; i++) {
		if (rep.p[i] != '\\')
			continue;
		char ch = rep.p[++i];
		if (ch >= '0' && ch <= '9' && (uint32_t)(ch - '0') > ncap)
			return xfail(
			    c, n, SN_ERR_INVALID, "QueryError",
			    "Substitution '\\%c' in replacement argument of function %s is "
			    "invalid, regexp has only %u capturing groups",
			    ch, n->name, ncap);
	}
	return 0;
}

/* replaceRegexpAll (op 0), replaceRegexpOne (op 1). After an empty match
 * the next character is copied and the search goes on behind it. */
static int fn_replace_re(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[3];
	struct xregex *e = NULL;
	bool done;
	if (re_args(c, n, 3, 3, v, &e) || need_text(c, n, &v[2], 2) ||
	    out_for(c, out, SN_XT_STRING, v, 3, &done) || done)
		return c->rc;
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	/* A column of few values (URLs) repeats its strings: the answer for an
	 * (input, replacement) pair is kept for the batch in a small
	 * direct-mapped memo keyed by the input's hash, whose bytes stay put
	 * for the batch (10M-event paths: the regex was ~10 % of the
	 * statement's CPU, hashing a URL costs a few ns). */
	enum { MEMO = 256 };
	struct {
		const char *p, *rp;
		size_t len, rlen;
		struct sn_str out;
	} *memo = xalloc(c, c->ba, MEMO * sizeof(*memo));
	if (!memo) {
		sn_buf_release(&b);
		return c->rc;
	}
	memset(memo, 0, MEMO * sizeof(*memo));
	for (size_t r = 0; r < c->n && !c->rc; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r), rep = str_at(&v[2], r);
		size_t slot = (size_t)sn_hash64(s.len ? s.p : "", s.len) & (MEMO - 1);
		if (memo[slot].p && memo[slot].len == s.len && memo[slot].rlen == rep.len &&
		    (memo[slot].rp == rep.p || !rep.len ||
		     memcmp(memo[slot].rp, rep.p, rep.len) == 0) &&
		    (memo[slot].p == s.p || !s.len || memcmp(memo[slot].p, s.p, s.len) == 0)) {
			out->s[r] = memo[slot].out;
			continue;
		}
		if (re_check_subst(c, n, rep, e->ncap))
			break;
		sn_buf_reset(&b);
		size_t at = 0, copied = 0;
		bool any = false;
		while (at <= s.len) {
			int m = re_search(c, n, e, s, at, 0);
			if (m <= 0)
				break;
			any = true;
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
			size_t need = re_subst(NULL, 0, rep, s, ov);
			if (sn_buf_append(&b, s.p + copied, ov[0] - copied) ||
			    sn_buf_reserve(&b, need + 1)) {
				xnomem(c);
				break;
			}
			b.len = re_subst(b.data, b.len, rep, s, ov);
			copied = ov[1];
			if (op)
				break;
			if (ov[1] == ov[0]) {
				if (ov[1] >= s.len)
					break;
				size_t l = seq_len((unsigned char)s.p[ov[1]]);
				if (ov[1] + l > s.len)
					l = s.len - ov[1];
				if (sn_buf_append(&b, s.p + ov[1], l)) {
					xnomem(c);
					break;
				}
				copied = at = ov[1] + l;
			} else {
				at = ov[1];
			}
		}
		if (c->rc)
			break;
		if (!any) {
			out->s[r] = s;
		} else {
			if (sn_buf_append(&b, s.p + copied, s.len - copied)) {
				xnomem(c);
				break;
			}
			if (!sstr_of_buf(c, &b, &out->s[r]))
				break;
		}
		memo[slot].p = s.p ? s.p : "";
		memo[slot].len = s.len;
		memo[slot].rp = rep.p;
		memo[slot].rlen = rep.len;
		memo[slot].out = out->s[r];
	}
	sn_buf_release(&b);
	return c->rc;
}

/* ---- URLs (ClickHouse's src/Functions/URL parsers) ------------------------------------ */

enum url_part {
	U_PROTOCOL,
	U_DOMAIN,
	U_DOMAIN_NO_WWW,
	U_TLD,
	U_FIRST_SIG,
	U_CUT_TO_FIRST_SIG,
	U_PATH,
	U_PATH_FULL,
	U_QUERY,
	U_FRAGMENT,
	U_QUERY_AND_FRAGMENT,
	U_CUT_QUERY,
	U_CUT_FRAGMENT,
	U_CUT_QUERY_AND_FRAGMENT,
};

static const char *find_any(const char *p, const char *e, const char *set)
{
	for (; p < e; p++)
		if (strchr(set, *p) && *p)
			return p;
	return e;
}

/* The scheme: a letter, then letters, digits, '+', '-', '.'. */
static size_t url_scheme(const char *s, size_t len)
{
	if (!len || !isalpha((unsigned char)s[0]))
		return 0;
	size_t i = 1;
	while (i < len &&
	       (isalnum((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	return i;
}

static struct sn_str host_ok(const char *pos, const char *dot, const char *start)
{
	if (!dot || start >= pos || pos - dot == 1)
		return (struct sn_str){NULL, 0};
	char after = dot[1];
	if (after == ':' || after == '/' || after == '?' || after == '#')
		return (struct sn_str){NULL, 0};
	return (struct sn_str){start, (size_t)(pos - start)};
}

/* getURLHost: the host of a URL with or without a scheme; empty when it
 * has no dot or holds characters a host cannot (fn_text.c's port() too). */
struct sn_str xurl_host(const char *data, size_t size)
{
	const char *pos = data, *end = data + size;
	if (size >= 2 && pos[0] == '/' && pos[1] == '/') {
		pos += 2;
	} else if (size) {
		const char *scheme_end = data + (size < 16 ? size : 16);
		for (++pos; pos < scheme_end; ++pos) {
			if (isalnum((unsigned char)*pos) || *pos == '.' || *pos == '-' ||
			    *pos == '+')
				continue;
			if (strchr(" \t<>%{}|\\^~[];=&", *pos) && *pos)
				return (struct sn_str){NULL, 0};
			break;
		}
		if (scheme_end - pos > 2 && pos[0] == ':' && pos[1] == '/' && pos[2] == '/')
			pos += 3;
		else
			pos = data;
	}
	const char *dot = NULL, *start = pos;
	for (; pos < end; ++pos) {
		switch (*pos) {
		case '.': dot = pos; break;
		case ':':
		case '/':
		case '?':
		case '#': return host_ok(pos, dot, start);
		case '@': start = pos + 1; break;
		case ' ':
		case '\t':
		case '<':
		case '>':
		case '%':
		case '{':
		case '}':
		case '|':
		case '\\':
		case '^':
		case '~':
		case '[':
		case ']':
		case ';':
		case '=':
		case '&': return (struct sn_str){NULL, 0};
		default: break;
		}
	}
	return host_ok(pos, dot, start);
}

/* A second-level label that makes the label before it the significant one
 * (".com" in "bbc.com.au", ".co." in "bbc.co.uk"): ClickHouse's list before
 * it read the public suffix list, and what ClickHouse 18.16 answers. */
static bool second_level(const char *dot, size_t n)
{
	static const char keys[][5] = {".com", ".net", ".org", ".biz", ".gov", ".mil", ".edu"};
	if (n == 3)
		return memcmp(dot, ".co.", 4) == 0;
	for (size_t k = 0; n == 4 && k < SN_ARRAY_LEN(keys); k++)
		if (memcmp(dot, keys[k], 4) == 0)
			return true;
	return false;
}

/* firstSignificantSubdomain ("google" of "https://www.google.com/x") and,
 * when cut, cutToFirstSignificantSubdomain ("google.com": from that label
 * to the end of the host, a trailing dot kept). The host is domain()'s
 * without a leading "www."; then the label before the last dot, or the one
 * before that when the last two labels are a second-level pair. */
static struct sn_str first_significant(struct sn_str u, bool cut)
{
	struct sn_str h = xurl_host(u.p, u.len);
	if (!h.len)
		return (struct sn_str){u.p, 0};
	if (h.len > 4 && memcmp(h.p, "www.", 4) == 0)
		h = (struct sn_str){h.p + 4, h.len - 4};
	const char *begin = h.p, *host_end = h.p + h.len;
	size_t len = h.len;
	if (begin[len - 1] == '.')
		len--;
	const char *p0 = NULL, *p1 = NULL, *p2 = NULL;
	for (size_t i = 0; i < len; i++)
		if (begin[i] == '.') {
			p2 = p1;
			p1 = p0;
			p0 = begin + i;
		}
	struct sn_str r = {begin, len};
	if (p0 && !p1) {
		r.len = (size_t)(p0 - begin);
	} else if (p0) {
		const char *from = p2 ? p2 + 1 : begin;
		if (second_level(p1, (size_t)(p0 - p1)))
			r = (struct sn_str){from, (size_t)(p1 - from)};
		else
			r = (struct sn_str){p1 + 1, (size_t)(p0 - p1 - 1)};
	}
	if (cut)
		r.len = (size_t)(host_end - r.p);
	return r;
}

/* The part of s one of the URL functions returns; for the cut* forms, the
 * span to remove. */
static struct sn_str url_part(struct sn_str u, int part)
{
	const char *p = u.p, *e = u.p + u.len, *q;
	struct sn_str none = {u.p, 0};
	switch (part) {
	case U_PROTOCOL: {
		size_t sl = url_scheme(u.p, u.len);
		if (!sl || u.len - sl < 4 || u.p[sl] != ':')
			return none;
		return (struct sn_str){u.p, sl};
	}
	case U_DOMAIN:
	case U_DOMAIN_NO_WWW: {
		struct sn_str h = xurl_host(u.p, u.len);
		if (!h.len)
			return none;
		if (part == U_DOMAIN_NO_WWW && h.len > 4 && memcmp(h.p, "www.", 4) == 0)
			h = (struct sn_str){h.p + 4, h.len - 4};
		return h;
	}
	case U_TLD: {
		struct sn_str h = xurl_host(u.p, u.len);
		if (!h.len)
			return none;
		if (h.p[h.len - 1] == '.')
			h.len--;
		const char *dot = NULL;
		for (size_t i = 0; i < h.len; i++)
			if (h.p[i] == '.')
				dot = h.p + i;
		if (!dot || dot + 1 >= h.p + h.len || dot[1] <= '9')
			return none;
		return (struct sn_str){dot + 1, (size_t)(h.p + h.len - dot - 1)};
	}
	case U_FIRST_SIG:
	case U_CUT_TO_FIRST_SIG: return first_significant(u, part == U_CUT_TO_FIRST_SIG);
	case U_PATH:
	case U_PATH_FULL:
		q = find_any(p, e, "/");
		if (q == e)
			return none;
		if (q + 1 < e && q[1] == '/') {
			q = find_any(q + 2, e, "/");
			if (q == e)
				return none;
		}
		return (struct sn_str){q,
				       (size_t)((part == U_PATH ? find_any(q, e, "?#") : e) - q)};
	case U_QUERY:
	case U_CUT_QUERY:
		q = find_any(p, e, "?");
		if (q == e)
			return none;
		if (part == U_QUERY)
			q++;
		return (struct sn_str){q, (size_t)(find_any(q, e, "#") - q)};
	case U_FRAGMENT:
	case U_CUT_FRAGMENT:
		q = find_any(p, e, "#");
		if (q == e)
			return none;
		if (part == U_FRAGMENT)
			q++;
		return (struct sn_str){q, (size_t)(e - q)};
	case U_QUERY_AND_FRAGMENT:
	case U_CUT_QUERY_AND_FRAGMENT:
		q = find_any(p, e, "?");
		if (q != e) {
			if (part == U_QUERY_AND_FRAGMENT)
				q++;
			return (struct sn_str){q, (size_t)(e - q)};
		}
		q = find_any(p, e, "#");
		if (q == e)
			return none;
		return (struct sn_str){q, (size_t)(e - q)};
	default: return none;
	}
}

static int fn_url(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_STRING, &v, 1, &done) || done)
		return c->rc;
	bool cut = op >= U_CUT_QUERY;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str u = str_at(&v, r), p = url_part(u, op);
		if (!cut) {
			out->s[r] = p.len ? p : (struct sn_str){"", 0};
			continue;
		}
		size_t head = p.len ? (size_t)(p.p - u.p) : u.len;
		size_t tail = p.len ? u.len - head - p.len : 0;
		if (!tail) {
			out->s[r] = (struct sn_str){u.p, head};
			continue;
		}
		char *o = salloc(c, head + tail);
		if (!o)
			return c->rc;
		memcpy(o, u.p, head);
		memcpy(o + head, p.p + p.len, tail);
		out->s[r] = (struct sn_str){o, head + tail};
	}
	return 0;
}

/* ---- channel definitions (PostHog's channel_definition_dict) ---------------------- */

enum { CH_DOMAIN_TYPE, CH_PAID_SOURCE, CH_PAID_MEDIUM, CH_ORGANIC_SOURCE, CH_ORGANIC_MEDIUM };

/* One lookup as PostHog prints it for ClickHouse: a medium by its exact
 * text; a source (or referring domain) by its exact text, else by the
 * host's cutToFirstSignificantSubdomain ("https://www.google.com" →
 * "google.com"). NULL when neither row has the attribute. */
static const char *channel_lookup(int op, struct sn_str k)
{
	bool medium = op == CH_PAID_MEDIUM || op == CH_ORGANIC_MEDIUM;
	enum sn_channel_kind kind = medium ? SN_CHANNEL_MEDIUM : SN_CHANNEL_SOURCE;
	for (int pass = 0; pass < (medium ? 1 : 2); pass++) {
		struct sn_str key = pass ? url_part(k, U_CUT_TO_FIRST_SIG) : k;
		const struct sn_channel_def *d = sn_channel_find(kind, key.p, key.len);
		const char *v = !d					       ? NULL
				: op == CH_DOMAIN_TYPE			       ? d->domain_type
				: op == CH_PAID_SOURCE || op == CH_PAID_MEDIUM ? d->type_if_paid
									       : d->type_if_organic;
		if (v)
			return v;
	}
	return NULL;
}

/* lookupDomainType / lookupPaidSourceType / ... (and their hogql_ names):
 * a NULL argument reads as "" (PostHog's coalesce(x, '')). */
static int fn_channel(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (need_text(c, n, &v, 0))
		return c->rc;
	if (vec_make(c, out, SN_XT_STRING, true, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		struct sn_str k =
		    v.t == SN_XT_NULL || vec_null(&v, r) ? (struct sn_str){"", 0} : str_at(&v, r);
		const char *t = channel_lookup(op, k);
		if (t)
			out->s[r] = (struct sn_str){t, strlen(t)};
		else
			out->nulls[r] = 1;
	}
	return 0;
}

/* extractURLParameter(url, name): the raw value of the first name=value
 * in the query string or fragment, "" when absent. */
static int fn_url_param(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_text(c, n, &v[0], 0) || need_text(c, n, &v[1], 1) ||
	    out_for(c, out, SN_XT_STRING, v, 2, &done) || done)
		return c->rc;
	char pat[512];
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str u = str_at(&v[0], r), name = str_at(&v[1], r);
		out->s[r] = (struct sn_str){"", 0};
		if (name.len + 1 > sizeof(pat))
			continue;
		memcpy(pat, name.p, name.len);
		pat[name.len] = '=';
		size_t plen = name.len + 1;
		const char *e = u.p + u.len, *q = find_any(u.p, e, "?#");
		if (q == e || q + 1 >= e)
			continue;
		const char *at = q + 1, *found = NULL;
		while (at < e) {
			const char *m = memmem(at, (size_t)(e - at), pat, plen);
			if (!m)
				break;
			if (m[-1] == '?' || m[-1] == '#' || m[-1] == '&') {
				found = m + plen;
				break;
			}
			at = m + plen;
		}
		if (found)
			out->s[r] =
			    (struct sn_str){found, (size_t)(find_any(found, e, "&#") - found)};
	}
	return 0;
}

/* ---- math ------------------------------------------------------------------------------ */

/* Rounds x to 10^-d (floats): mode 0 round (half to even, ClickHouse's
 * nearbyint), 1 floor, 2 ceil, 3 trunc. */
static double round_float(double x, int64_t d, int mode)
{
	if (!isfinite(x))
		return x;
	if (d > 300)
		return x;
	if (d < -300)
		return x == 0		      ? x
		       : (mode == 1 && x < 0) ? -INFINITY
		       : (mode == 2 && x > 0) ? INFINITY
					      : 0 * x;
	double s = pow(10.0, (double)(d < 0 ? -d : d));
	double y = d >= 0 ? x * s : x / s;
	switch (mode) {
	case 0: y = nearbyint(y); break;
	case 1: y = floor(y); break;
	case 2: y = ceil(y); break;
	default: y = trunc(y); break;
	}
	y = d >= 0 ? y / s : y * s;
	if (!isfinite(y))
		return x;
	return y;
}

/* Integers to a multiple of 10^-d (d < 0): round is half away from zero. */
static int64_t round_int(int64_t x, bool is_unsigned, int64_t d, int mode)
{
	if (d >= 0)
		return x;
	if (d < -19)
		return 0;
	uint64_t s = 1;
	for (int64_t i = 0; i < -d; i++)
		s *= 10;
	if (is_unsigned) {
		uint64_t u = (uint64_t)x, q = u / s, rem = u % s;
		if (mode == 0 && rem >= (s + 1) / 2 && s > 1)
			q++;
		else if (mode == 2 && rem)
			q++;
		return (int64_t)(q * s);
	}
	if (s > (uint64_t)INT64_MAX)
		return 0;
	int64_t si = (int64_t)s, q = x / si, rem = x % si;
	switch (mode) {
	case 0:
		if (rem >= (si + 1) / 2 && si > 1)
			q++;
		else if (rem <= -((si + 1) / 2) && si > 1)
			q--;
		break;
	case 1:
		if (rem < 0)
			q--;
		break;
	case 2:
		if (rem > 0)
			q++;
		break;
	default: break;
	}
	return (int64_t)((uint64_t)q * s);
}

/* round (op 0), floor (1), ceil (2), trunc (3), roundBankers (4, like
 * round for floats): the result has the argument's type. */
static int fn_round(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 1, 2, v))
		return c->rc;
	bool dec = v[0].t == SN_XT_DECIMAL; /* stays a Decimal (decimal.c) */
	if ((!dec && need_num(c, n, &v[0], 0)) || (n->list.n == 2 && need_int(c, n, &v[1], 1)))
		return c->rc;
	if (n->list.n == 2 && n->list.items[1]->kind != SN_HQ_CONSTANT)
		return xunsupported(c, n->list.items[1],
				    "a non-constant scale in round/floor/ceil");
	if (dec)
		return xdec_unary(c, n, op, &v[0], n->list.n == 2 ? &v[1] : NULL, out);
	uint8_t t = v[0].t == SN_XT_BOOL ? SN_XT_UINT : v[0].t;
	if (out_for(c, out, t, v, n->list.n, &done) || done)
		return c->rc;
	int mode = op == 4 ? 0 : op;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t d = n->list.n == 2 ? v[1].i[r] : 0;
		if (out->f)
			out->f[r] = round_float(v[0].f[r], d, mode);
		else
			out->i[r] = round_int(v[0].i[r], t == SN_XT_UINT, d, mode);
	}
	return 0;
}

/* abs: Int64 → UInt64 (abs(minimum) wraps as in ClickHouse), floats stay. */
static int fn_abs(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (v.t == SN_XT_DECIMAL)
		return xdec_unary(c, n, 5, &v, NULL, out);
	if (need_num(c, n, &v, 0) ||
	    out_for(c, out, v.t == SN_XT_FLOAT ? SN_XT_FLOAT : SN_XT_UINT, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		if (out->f)
			out->f[r] = fabs(v.f[r]);
		else
			out->i[r] = v.t == SN_XT_INT && v.i[r] < 0 ? (int64_t)(0 - (uint64_t)v.i[r])
								   : v.i[r];
	}
	return 0;
}

static int fn_sign(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (v.t == SN_XT_DECIMAL)
		return xdec_unary(c, n, 7, &v, NULL, out);
	if (need_num(c, n, &v, 0) || out_for(c, out, SN_XT_INT, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		if (v.f)
			out->i[r] = v.f[r] > 0 ? 1 : v.f[r] < 0 ? -1 : 0;
		else if (v.t == SN_XT_UINT)
			out->i[r] = v.i[r] != 0;
		else
			out->i[r] = v.i[r] > 0 ? 1 : v.i[r] < 0 ? -1 : 0;
	}
	return 0;
}

enum { M_SQRT, M_CBRT, M_EXP, M_LOG, M_LOG2, M_LOG10, M_EXP2, M_EXP10 };

/* One-argument Float64 functions. */
static int fn_math1(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_num(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_FLOAT, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		double x = num_at(&v, r);
		switch (op) {
		case M_SQRT: x = sqrt(x); break;
		case M_CBRT: {
			/* glibc's cbrt is not correctly rounded: cbrt(27) is 3.0000000000000004 */
			double y = cbrt(x), ry = nearbyint(y);
			x = ry * ry * ry == x ? ry : y;
			break;
		}
		case M_EXP: x = exp(x); break;
		case M_LOG: x = log(x); break;
		case M_LOG2: x = log2(x); break;
		case M_LOG10: x = log10(x); break;
		case M_EXP2: x = exp2(x); break;
		default: x = pow(10.0, x); break;
		}
		out->f[r] = isnan(x) ? NAN : x; /* sqrt(-1) is -nan on x86; ClickHouse prints nan */
	}
	return 0;
}

static int fn_pow(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_num(c, n, &v[0], 0) || need_num(c, n, &v[1], 1) ||
	    out_for(c, out, SN_XT_FLOAT, v, 2, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		if (!vec_null(out, r)) {
			double x = pow(num_at(&v[0], r), num_at(&v[1], r));
			out->f[r] = isnan(x) ? NAN : x;
		}
	return 0;
}

/* pi() (op 0), e() (op 1). */
static int fn_const(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	if (need_args(c, n, 0, 0) || vec_make(c, out, SN_XT_FLOAT, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		out->f[r] = op ? M_E : M_PI;
	return 0;
}

/* intDiv (op 0: division by zero is an error) and intDivOrZero (op 1: 0
 * instead): the quotient truncated toward zero; with a float argument the
 * float quotient is truncated, as ClickHouse does. */
static int fn_intdiv(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_num(c, n, &v[0], 0) || need_num(c, n, &v[1], 1))
		return c->rc;
	bool flt = v[0].t == SN_XT_FLOAT || v[1].t == SN_XT_FLOAT;
	bool uns = v[0].t != SN_XT_INT && v[1].t != SN_XT_INT && !flt;
	if (out_for(c, out, uns ? SN_XT_UINT : SN_XT_INT, v, 2, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		if (flt) {
			double a = num_at(&v[0], r), b = num_at(&v[1], r), q = trunc(a / b);
			if (b == 0 || !isfinite(q) || q >= 9223372036854775808.0 ||
			    q < -9223372036854775808.0) {
				if (op) {
					out->i[r] = 0;
					continue;
				}
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     b == 0 ? "Division by zero"
						    : "Cannot perform integer division: the result "
						      "is infinite, NaN or too large");
			}
			out->i[r] = (int64_t)q;
			continue;
		}
		int64_t a = v[0].i[r], b = v[1].i[r];
		bool ua = v[0].t == SN_XT_UINT, ub = v[1].t == SN_XT_UINT;
		if (b == 0 || (!ua && !ub && a == INT64_MIN && b == -1)) {
			if (op) {
				out->i[r] = 0;
				continue;
			}
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     b == 0 ? "Division by zero"
					    : "Division of minimal signed number by minus one");
		}
		if (ua && ub)
			out->i[r] = (int64_t)((uint64_t)a / (uint64_t)b);
		else if (ua && a < 0) /* a UInt64 above Int64's range */
			out->i[r] = b > 0 ? (int64_t)((uint64_t)a / (uint64_t)b)
					  : -(int64_t)((uint64_t)a / (uint64_t)(-b));
		else if (ub && b < 0)
			out->i[r] = 0; /* |b| > |a| */
		else
			out->i[r] = a / b;
	}
	return 0;
}

/* least (op 0), greatest (op 1) of any number of values of one kind
 * (numbers, text, dates); NULL arguments are skipped, the result is NULL
 * only when all are (ClickHouse 24.12+). */
static int fn_extreme(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec *v;
	if (eval_all(c, n, 1, &v))
		return c->rc;
	size_t na = n->list.n;
	uint8_t t;
	/* Decimals with a Float64: all as Float64 (ClickHouse since 22.1) */
	bool flt = false, dec = false;
	for (size_t k = 0; k < na; k++) {
		flt |= v[k].t == SN_XT_FLOAT;
		dec |= v[k].t == SN_XT_DECIMAL;
	}
	for (size_t k = 0; flt && dec && k < na; k++)
		if (xdec_float(c, &v[k]))
			return c->rc;
	if (unify_branches(c, n, v, na, &t))
		return c->rc;
	if (t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	bool nullable = true;
	for (size_t k = 0; k < na; k++)
		if (v[k].t != SN_XT_NULL && !v[k].nullable)
			nullable = false;
	for (size_t k = 0; k < na; k++)
		if (v[k].t != SN_XT_NULL && v[k].t != t && !(is_numeric(t) && is_numeric(v[k].t)) &&
		    !(is_text(t) && is_text(v[k].t)))
			return bad_type(c, n, &v[k], k);
	/* Mixed signed and unsigned integers compare as Int64 (unify_branches). */
	if (vec_make(c, out, t, nullable, c->n))
		return c->rc;
	out->ct = branch_ct(v, na); /* decimals: one scale now, compared by i */
	for (size_t r = 0; r < c->n; r++) {
		bool have = false;
		for (size_t k = 0; k < na; k++) {
			if (isnul(&v[k], r))
				continue;
			int d = 0;
			if (have) {
				if (out->s) {
					struct sn_str x = str_at(&v[k], r), y = out->s[r];
					size_t m = x.len < y.len ? x.len : y.len;
					d = m ? memcmp(x.p, y.p, m) : 0;
					if (!d)
						d = x.len < y.len ? -1 : x.len > y.len;
				} else if (out->f) {
					double x = num_at(&v[k], r);
					d = x < out->f[r] ? -1 : x > out->f[r];
				} else if (t == SN_XT_UINT) {
					uint64_t x = (uint64_t)v[k].i[r], y = (uint64_t)out->i[r];
					d = x < y ? -1 : x > y;
				} else {
					d = v[k].i[r] < out->i[r] ? -1 : v[k].i[r] > out->i[r];
				}
			}
			if (!have || (op ? d > 0 : d < 0)) {
				copy_cell(out, r, &v[k]);
				have = true;
			}
		}
		if (!have && out->nulls)
			out->nulls[r] = 1;
	}
	return 0;
}

/* isNaN (op 0), isFinite (op 1), isInfinite (op 2). */
static int fn_fpclass(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_num(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_BOOL, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		double x = num_at(&v, r);
		out->i[r] = op == 0 ? isnan(x) : op == 1 ? isfinite(x) : isinf(x) != 0;
	}
	return 0;
}

/* ---- conditionals and conversions ---------------------------------------------------- */

/* nullIf(a, b): NULL where a = b, else a. */
static int fn_nullif(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec a, eq;
	if (need_args(c, n, 2, 2) || xeval(c, n->list.items[0], &a))
		return c->rc;
	node_t *t = mk_node(c, n, SN_HQ_COMPARE);
	if (!t)
		return c->rc;
	t->op = "==";
	t->a = n->list.items[0];
	t->b = n->list.items[1];
	if (xeval(c, t, &eq) || vec_make(c, out, a.t, true, c->n))
		return c->rc;
	out->ct = a.ct; /* a Decimal's scale, an array's type */
	for (size_t r = 0; r < c->n; r++) {
		copy_cell(out, r, &a);
		if (vec_truth(&eq, r))
			out->nulls[r] = 1;
	}
	return 0;
}

/* assumeNotNull: NULLs read as the type's default (0, ""). */
static int fn_assume(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (v.t == SN_XT_NULL || !v.nullable) {
		*out = v;
		return 0;
	}
	if (vec_make(c, out, v.t, false, c->n))
		return c->rc;
	out->ct = v.ct;
	for (size_t r = 0; r < c->n; r++)
		if (!vec_null(&v, r))
			copy_cell(out, r, &v);
	return 0;
}

/* in(a, set) (op 0), notIn (op 1): the IN operator of eval.c; a set written
 * as tuple(...) or array(...) becomes a tuple literal. */
static int fn_in(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	if (need_args(c, n, 2, 2))
		return c->rc;
	node_t *t = mk_node(c, n, SN_HQ_COMPARE);
	if (!t)
		return c->rc;
	const node_t *set = n->list.items[1];
	if (set->kind == SN_HQ_CALL &&
	    (strcmp(set->name, "tuple") == 0 || strcmp(set->name, "array") == 0)) {
		node_t *tup = mk_node(c, set, SN_HQ_TUPLE);
		if (!tup)
			return c->rc;
		tup->list = set->list;
		tup->has_list = true;
		set = tup;
	}
	t->op = op ? "not in" : "in";
	t->a = n->list.items[0];
	t->b = (node_t *)set;
	return xeval(c, t, out);
}

/* CASE x WHEN a THEN b ... ELSE d END: multiIf(x = a, b, ..., d), as the
 * ClickHouse printer writes it. */
static int fn_case(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	size_t na = n->list.n;
	if (na < 4 || na % 2)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "CASE with an operand needs WHEN/THEN pairs and an ELSE");
	size_t nw = (na - 2) / 2;
	node_t *mi = mk_node(c, n, SN_HQ_CALL);
	node_t **items = xalloc(c, c->ba, (2 * nw + 1) * sizeof(*items));
	if (!mi || !items)
		return c->rc;
	for (size_t i = 0; i < nw; i++) {
		node_t *eq = mk_node(c, n->list.items[1 + 2 * i], SN_HQ_COMPARE);
		if (!eq)
			return c->rc;
		eq->op = "==";
		eq->a = n->list.items[0];
		eq->b = n->list.items[1 + 2 * i];
		items[2 * i] = eq;
		items[2 * i + 1] = n->list.items[2 + 2 * i];
	}
	items[2 * nw] = n->list.items[na - 1];
	mi->name = "multiIf";
	mi->list.items = items;
	mi->list.n = 2 * nw + 1;
	mi->has_list = true;
	return xeval(c, mi, out);
}

/* transform(x, [a...], [b...][, default]) with constant arrays, as
 * multiIf(x == a1, b1, ..., default); without a default, x itself. */
static int fn_transform(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	size_t na = n->list.n;
	if (na < 3 || na > 4)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'transform' expects 3 or 4 arguments, found %zu", na);
	const node_t *from = n->list.items[1], *to = n->list.items[2];
	if (from->kind != SN_HQ_ARRAY || to->kind != SN_HQ_ARRAY)
		return xfail(c, n, SN_ERR_INVALID, "NotImplementedError",
			     "not supported yet: transform() with arrays that are not literals");
	if (from->list.n != to->list.n)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Second and third arguments of function transform must have equal "
			     "length");
	size_t nw = from->list.n;
	node_t *mi = mk_node(c, n, SN_HQ_CALL);
	node_t **items = xalloc(c, c->ba, (2 * nw + 1) * sizeof(*items));
	if (!mi || !items)
		return c->rc;
	for (size_t i = 0; i < nw; i++) {
		node_t *eq = mk_node(c, from->list.items[i], SN_HQ_COMPARE);
		if (!eq)
			return c->rc;
		eq->op = "==";
		eq->a = n->list.items[0];
		eq->b = from->list.items[i];
		items[2 * i] = eq;
		items[2 * i + 1] = to->list.items[i];
	}
	items[2 * nw] = n->list.items[na == 4 ? 3 : 0];
	mi->name = "multiIf";
	mi->list.items = items;
	mi->list.n = 2 * nw + 1;
	mi->has_list = true;
	return xeval(c, mi, out);
}

static bool parse_bool_text(struct sn_str s, bool *b)
{
	static const char *const yes[] = {"true", "1", "yes", "on", "t", "y", "enable"};
	static const char *const no[] = {"false", "0", "no", "off", "f", "n", "disable"};
	for (size_t i = 0; i < SN_ARRAY_LEN(yes); i++) {
		if (s.len == strlen(yes[i]) && strncasecmp(s.p, yes[i], s.len) == 0) {
			*b = true;
			return true;
		}
		if (s.len == strlen(no[i]) && strncasecmp(s.p, no[i], s.len) == 0) {
			*b = false;
			return true;
		}
	}
	return false;
}

static int fn_tobool(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (!(is_numeric(v.t) || v.t == SN_XT_STRING || v.t == SN_XT_NULL))
		return bad_type(c, n, &v, 0);
	if (out_for(c, out, SN_XT_BOOL, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		bool b;
		if (v.t == SN_XT_STRING) {
			if (!parse_bool_text(str_at(&v, r), &b))
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Cannot parse boolean value from '%.*s'",
					     (int)(str_at(&v, r).len > 64 ? 64 : str_at(&v, r).len),
					     str_at(&v, r).p);
		} else {
			b = num_at(&v, r) != 0;
		}
		out->i[r] = b;
	}
	return 0;
}

/* Raw ClickHouse casts: op = target | mode. */
enum {
	T_INT8 = 1,
	T_INT16,
	T_INT32,
	T_INT64,
	T_UINT8,
	T_UINT16,
	T_UINT32,
	T_UINT64,
	T_FLOAT64,
	T_MASK = 15,
	T_OR_NULL = 16,
	T_OR_ZERO = 32,
};

static int64_t wrap_int(uint64_t x, int tgt)
{
	switch (tgt) {
	case T_INT8: return (int8_t)(uint8_t)x;
	case T_INT16: return (int16_t)(uint16_t)x;
	case T_INT32: return (int32_t)(uint32_t)x;
	case T_UINT8: return (uint8_t)x;
	case T_UINT16: return (uint16_t)x;
	case T_UINT32: return (uint32_t)x;
	default: return (int64_t)x;
	}
}

static const char *cast_name(int tgt)
{
	static const char *const names[] = {"",	     "Int8",   "Int16",	 "Int32",  "Int64",
					    "UInt8", "UInt16", "UInt32", "UInt64", "Float64"};
	return names[tgt];
}

/* Parses integer text as ClickHouse's readIntText: an optional sign, then
 * digits only; a '-' on an unsigned target wraps. */
static bool parse_int_any(struct sn_str s, bool uns, uint64_t *out)
{
	if (!uns) {
		int64_t x;
		if (!parse_int_text(s.p, s.len, &x))
			return false;
		*out = (uint64_t)x;
		return true;
	}
	size_t i = 0;
	bool neg = false;
	if (i < s.len && (s.p[i] == '+' || s.p[i] == '-'))
		neg = s.p[i++] == '-';
	if (i == s.len)
		return false;
	uint64_t x = 0;
	for (; i < s.len; i++) {
		if (!isdigit((unsigned char)s.p[i]))
			return false;
		uint64_t d = (uint64_t)(s.p[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*out = neg ? 0 - x : x;
	return true;
}

static int fn_cast(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	int tgt = op & T_MASK;
	bool or_null = op & T_OR_NULL, or_zero = op & T_OR_ZERO;
	bool flt = tgt == T_FLOAT64, uns = tgt >= T_UINT8 && tgt <= T_UINT64;
	if (!(is_numeric(v.t) || v.t == SN_XT_STRING || v.t == SN_XT_DATE ||
	      v.t == SN_XT_DATETIME || v.t == SN_XT_NULL))
		return bad_type(c, n, &v, 0);
	uint8_t t = flt ? SN_XT_FLOAT : uns ? SN_XT_UINT : SN_XT_INT;
	if (v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (vec_make(c, out, t, v.nullable || or_null, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(&v, r)) {
			out->nulls[r] = 1;
			continue;
		}
		if (out->nulls)
			out->nulls[r] = 0;
		if (v.t == SN_XT_STRING) {
			uint64_t x;
			double d;
			bool ok = flt ? parse_float_text(str_at(&v, r).p, str_at(&v, r).len, &d)
				      : parse_int_any(str_at(&v, r), uns, &x);
			if (!ok) {
				if (or_null) {
					out->nulls[r] = 1;
					continue;
				}
				if (!or_zero)
					return xfail(
					    c, n, SN_ERR_INVALID, "QueryError",
					    "Cannot parse string '%.*s' as %s",
					    (int)(str_at(&v, r).len > 64 ? 64 : str_at(&v, r).len),
					    str_at(&v, r).p, cast_name(tgt));
				x = 0;
				d = 0;
			}
			if (flt)
				out->f[r] = d;
			else
				out->i[r] = wrap_int(x, tgt);
			continue;
		}
		if (flt) {
			out->f[r] = v.t == SN_XT_DATETIME ? (double)floor_div(v.i[r], 1000000)
				    : v.t == SN_XT_UINT	  ? (double)(uint64_t)v.i[r]
							  : num_at(&v, r);
		} else if (v.f) {
			double x = trunc(v.f[r]);
			uint64_t u = !isfinite(x)		   ? 0
				     : x >= 18446744073709551616.0 ? UINT64_MAX
				     : x >= 0			   ? (uint64_t)x
				     : x <= -9223372036854775808.0 ? (uint64_t)INT64_MIN
								   : (uint64_t)(int64_t)x;
			out->i[r] = wrap_int(u, tgt);
		} else {
			int64_t x = v.t == SN_XT_DATETIME ? floor_div(v.i[r], 1000000) : v.i[r];
			out->i[r] = wrap_int((uint64_t)x, tgt);
		}
	}
	return 0;
}

static int fn_typename(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	if (eval_args(c, n, 1, 1, &v) || vec_make(c, out, SN_XT_STRING, false, c->n))
		return c->rc;
	char buf[64];
	const char *name = v.t == SN_XT_DECIMAL ? xtype_name(c, v.t, v.nullable, v.ct)
			   : v.ct		? v.ct
				  : sn_exec_type_name(v.t, v.nullable, buf, sizeof(buf));
	if (!name)
		return c->rc;
	char *p = sn_arena_strdup(c->ba, name);
	if (!p)
		return xnomem(c);
	for (size_t r = 0; r < c->n; r++)
		out->s[r] = (struct sn_str){p, strlen(p)};
	return 0;
}

/* toUUID (HogQL: accurateCastOrNull, op 0) and toUUIDOrNull (op 1): NULL
 * when the text is no UUID. */
static int fn_touuid(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0))
		return c->rc;
	if (v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (vec_make(c, out, SN_XT_UUID, true, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		struct sn_uuid u;
		if (vec_null(&v, r) || sn_uuid_parse(str_at(&v, r).p, str_at(&v, r).len, &u) < 0) {
			out->nulls[r] = 1;
			continue;
		}
		char *p = salloc(c, 37);
		if (!p)
			return c->rc;
		sn_uuid_format(&u, p);
		out->s[r] = (struct sn_str){p, 36};
	}
	return 0;
}

/* ---- JSON ------------------------------------------------------------------------------- */

enum { J_HAS, J_STRING, J_INT, J_UINT, J_FLOAT, J_BOOL, J_RAW, J_LENGTH, J_ARRAY_LENGTH };

/* Counts the members or elements of the container at s's cursor. */
static int json_count(struct sn_jscan *s, bool obj, int64_t *n)
{
	struct sn_jspan k, v;
	int rc;
	*n = 0;
	if (sn_jscan_enter(s) < 0)
		return -1;
	while ((rc = obj ? sn_jscan_next_key(s, &k) : sn_jscan_next_elem(s)) > 0) {
		if (sn_jscan_skip(s, &v) < 0)
			return -1;
		(*n)++;
	}
	return rc;
}

/* One step down from *cur: the member named key (klen bytes; escaped keys
 * match by their decoded name) of an object, or with key NULL the idx-th
 * (1-based, negative from the end) element of an array or member of an
 * object, as JSONExtract's path arguments. true and *cur moved when it
 * leads somewhere; *name (when given) gets the member's key, zeroed for an
 * array element. fn_text.c's JSON functions step with it too. */
bool xjson_step(struct sn_jspan *cur, const char *key, size_t klen, int64_t idx,
		struct sn_jspan *name)
{
	if (cur->type != SN_JOBJECT && cur->type != SN_JARRAY)
		return false;
	bool obj = cur->type == SN_JOBJECT;
	struct sn_jscan s;
	struct sn_jspan k = {0}, val;
	sn_jscan_init(&s, cur->p, cur->len, NULL);
	if (key) {
		if (!obj || sn_jscan_enter(&s) < 0)
			return false;
		while (sn_jscan_next_key(&s, &k) > 0) {
			if (sn_jscan_skip(&s, &val) < 0)
				return false;
			if (sn_jspan_str_eq(&k, key, klen)) {
				*cur = val;
				if (name)
					*name = k;
				return true;
			}
		}
		return false;
	}
	if (idx == 0)
		return false;
	if (idx < 0) {
		int64_t cnt;
		if (json_count(&s, obj, &cnt) < 0)
			return false;
		idx = cnt + idx + 1;
		if (idx < 1)
			return false;
		sn_jscan_init(&s, cur->p, cur->len, NULL);
	}
	if (sn_jscan_enter(&s) < 0)
		return false;
	for (int64_t i = 1;; i++) {
		memset(&k, 0, sizeof(k));
		int rc = obj ? sn_jscan_next_key(&s, &k) : sn_jscan_next_elem(&s);
		if (rc <= 0 || sn_jscan_skip(&s, &val) < 0)
			return false;
		if (i == idx) {
			*cur = val;
			if (name)
				*name = k;
			return true;
		}
	}
}

/* Follows the path (arguments 1.. of the call at row r) from the document;
 * 1 and *out when it leads to a value, 0 when not or the JSON is invalid. */
static int json_find(struct sn_str doc, const struct vec *path, size_t np, size_t r,
		     struct sn_jspan *out)
{
	struct sn_jspan cur;
	if (sn_jscan_document(doc.p, doc.len, &cur, NULL) < 0)
		return 0;
	for (size_t k = 0; k < np; k++) {
		const struct vec *pv = &path[k];
		bool ok;
		if (pv->s) {
			struct sn_str want = str_at(pv, r);
			ok = xjson_step(&cur, want.p ? want.p : "", want.len, 0, NULL);
		} else {
			ok = xjson_step(&cur, NULL, 0, pv->i[r], NULL);
		}
		if (!ok)
			return 0;
	}
	*out = cur;
	return 1;
}

/* The value's text without the whitespace between tokens. */
static struct sn_str json_minify(struct xctx *c, struct sn_jspan v)
{
	bool ws = false, in_str = false;
	for (uint32_t i = 0; i < v.len && !ws; i++) {
		char ch = v.p[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			ws = true;
		}
	}
	if (!ws)
		return (struct sn_str){v.p, v.len};
	char *o = salloc(c, v.len);
	if (!o)
		return (struct sn_str){NULL, 0};
	size_t at = 0;
	in_str = false;
	for (uint32_t i = 0; i < v.len; i++) {
		char ch = v.p[i];
		if (in_str) {
			o[at++] = ch;
			if (ch == '\\' && i + 1 < v.len)
				o[at++] = v.p[++i];
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
			o[at++] = ch;
		} else if (!(ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) {
			o[at++] = ch;
		}
	}
	return (struct sn_str){o, at};
}

int xjson_prop_path(struct xctx *c, const struct vec *in, const struct xpath_el *path, size_t np,
		    struct vec *out)
{
	size_t n = in->n;
	if (vec_make(c, out, SN_XT_STRING, true, n))
		return c->rc;
	for (size_t r = 0; r < n; r++) {
		out->nulls[r] = 1;
		/* a number, a boolean or NULL has nothing below it */
		if (in->t != SN_XT_STRING || vec_null(in, r))
			continue;
		struct sn_jspan cur;
		struct sn_str doc = in->s[r];
		if (sn_jscan_document(doc.p ? doc.p : "", doc.len, &cur, NULL) < 0)
			continue;
		bool found = true;
		for (size_t k = 0; k < np && found; k++)
			found = xjson_step(&cur, path[k].key, path[k].key ? strlen(path[k].key) : 0,
					   path[k].idx, NULL);
		if (!found || cur.type == SN_JNULL)
			continue;
		struct sn_str t = json_minify(c, cur);
		if (c->rc)
			return c->rc;
		if (t.len >= 2 && t.p[0] == '"' && t.p[t.len - 1] == '"') {
			t.p++;
			t.len -= 2;
		}
		out->s[r] = t;
		out->nulls[r] = 0;
	}
	return 0;
}

int xjson_person_mode(struct xctx *c, const struct vec *props, struct vec *out)
{
	size_t n = props->n;
	if (vec_make(c, out, SN_XT_STRING, false, n))
		return c->rc;
	for (size_t r = 0; r < n; r++) {
		bool off = false;
		if (props->t == SN_XT_STRING && !vec_null(props, r)) {
			struct sn_jspan cur;
			struct sn_str doc = props->s[r];
			off = sn_jscan_document(doc.p ? doc.p : "", doc.len, &cur, NULL) >= 0 &&
			      xjson_step(&cur, "$process_person_profile", 23, 0, NULL) &&
			      cur.type == SN_JFALSE;
		}
		out->s[r] = off ? (struct sn_str){"propertyless", 12} : (struct sn_str){"full", 4};
	}
	return 0;
}

/* A JSON number or numeric string as an integer (floats truncated when in
 * range); false when it is not one or does not fit. */
static bool json_int(struct sn_jspan v, bool uns, int64_t *out)
{
	double d;
	if (v.type == SN_JTRUE || v.type == SN_JFALSE) {
		*out = v.type == SN_JTRUE;
		return true;
	}
	if (v.type == SN_JSTRING) {
		size_t len;
		if (v.flags & SN_JSPAN_ESCAPED)
			return false;
		const char *p = sn_jspan_raw(&v, &len);
		uint64_t x;
		if (parse_int_any((struct sn_str){p, len}, uns, &x) && (uns ? p[0] != '-' : true)) {
			*out = (int64_t)x;
			return true;
		}
		if (!parse_float_text(p, len, &d))
			return false;
	} else if (v.type != SN_JNUMBER) {
		return false;
	} else if (v.flags & SN_JSPAN_INT) {
		if (uns && v.p[0] == '-')
			return false;
		if (uns) {
			uint64_t x;
			if (!parse_int_any((struct sn_str){v.p, v.len}, true, &x))
				return false;
			*out = (int64_t)x;
			return true;
		}
		int64_t x;
		if (!parse_int_text(v.p, v.len, &x))
			return false;
		*out = x;
		return true;
	} else if (sn_jspan_double(&v, &d) < 0) {
		return false;
	}
	d = trunc(d);
	if (!isfinite(d) || d >= (uns ? 18446744073709551616.0 : 9223372036854775808.0) ||
	    d < (uns ? 0 : -9223372036854775808.0))
		return false;
	*out = uns ? (int64_t)(uint64_t)d : (int64_t)d;
	return true;
}

static int fn_json(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec *v;
	bool done;
	if (eval_all(c, n, 1, &v) || need_text(c, n, &v[0], 0))
		return c->rc;
	size_t na = n->list.n;
	for (size_t k = 1; k < na; k++)
		if (!(is_text(v[k].t) || is_intlike(v[k].t) || v[k].t == SN_XT_NULL))
			return bad_type(c, n, &v[k], k);
	static const uint8_t types[] = {
	    [J_HAS] = SN_XT_BOOL,   [J_STRING] = SN_XT_STRING, [J_INT] = SN_XT_INT,
	    [J_UINT] = SN_XT_UINT,  [J_FLOAT] = SN_XT_FLOAT,   [J_BOOL] = SN_XT_BOOL,
	    [J_RAW] = SN_XT_STRING, [J_LENGTH] = SN_XT_UINT,   [J_ARRAY_LENGTH] = SN_XT_UINT,
	};
	if (out_for(c, out, types[op], v, na, &done) || done)
		return c->rc;
	if (op == J_ARRAY_LENGTH && !out->nulls) {
		if (!(out->nulls = xalloc(c, c->ba, c->n)))
			return c->rc;
		memset(out->nulls, 0, c->n);
		out->nullable = true;
	}
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	for (size_t r = 0; r < c->n && !c->rc; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_jspan j;
		bool found = json_find(str_at(&v[0], r), v + 1, na - 1, r, &j) == 1;
		switch (op) {
		case J_HAS: out->i[r] = found; break;
		case J_STRING:
			out->s[r] = (struct sn_str){"", 0};
			if (!found || j.type != SN_JSTRING)
				break;
			if (!(j.flags & SN_JSPAN_ESCAPED)) {
				size_t len;
				const char *p = sn_jspan_raw(&j, &len);
				out->s[r] = (struct sn_str){p, len};
				break;
			}
			sn_buf_reset(&b);
			if (sn_jspan_unescape(&j, &b) < 0) {
				xnomem(c);
				break;
			}
			sstr_of_buf(c, &b, &out->s[r]); /* c->rc says if it failed */
			break;
		case J_INT:
		case J_UINT:
			if (!found || !json_int(j, op == J_UINT, &out->i[r]))
				out->i[r] = 0;
			break;
		case J_FLOAT: {
			double d = 0;
			if (found && j.type == SN_JNUMBER)
				sn_jspan_double(&j, &d);
			else if (found && j.type == SN_JSTRING && !(j.flags & SN_JSPAN_ESCAPED)) {
				size_t len;
				const char *q = sn_jspan_raw(&j, &len);
				if (!parse_float_text(q, len, &d))
					d = 0;
			}
			out->f[r] = d;
			break;
		}
		case J_BOOL:
			out->i[r] = found && j.type == SN_JTRUE;
			if (found && j.type == SN_JNUMBER && (j.flags & SN_JSPAN_INT))
				for (uint32_t i = 0; i < j.len; i++)
					out->i[r] |= j.p[i] >= '1' && j.p[i] <= '9';
			break;
		case J_RAW: out->s[r] = found ? json_minify(c, j) : (struct sn_str){"", 0}; break;
		case J_LENGTH:
		case J_ARRAY_LENGTH: {
			int64_t cnt = 0;
			bool ok = found &&
				  (j.type == SN_JARRAY || (op == J_LENGTH && j.type == SN_JOBJECT));
			if (ok) {
				struct sn_jscan s;
				sn_jscan_init(&s, j.p, j.len, NULL);
				if (json_count(&s, j.type == SN_JOBJECT, &cnt) < 0)
					cnt = 0;
			}
			out->i[r] = cnt;
			if (op == J_ARRAY_LENGTH && !ok)
				out->nulls[r] = 1;
			break;
		}
		default: break;
		}
	}
	sn_buf_release(&b);
	return c->rc;
}

/* JSONExtractArrayRaw(json, path...): the elements of the array the path
 * leads to, each as its JSON text (strings keep their quotes); [] when
 * there is none, the JSON is invalid or the input is NULL. */
static int fn_json_array_raw(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec *v;
	struct xparts ps;
	if (eval_all(c, n, 1, &v) || (v[0].t != SN_XT_NULL && need_text(c, n, &v[0], 0)))
		return c->rc;
	size_t na = n->list.n;
	for (size_t k = 1; k < na; k++)
		if (!(is_text(v[k].t) || is_intlike(v[k].t) || v[k].t == SN_XT_NULL))
			return bad_type(c, n, &v[k], k);
	if (xparts_init(c, &ps))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		ps.off[r] = (uint32_t)ps.n;
		bool null = v[0].t == SN_XT_NULL;
		for (size_t k = 0; k < na && !null; k++)
			null = vec_null(&v[k], r) || v[k].t == SN_XT_NULL;
		struct sn_jspan j, x;
		if (null || json_find(str_at(&v[0], r), v + 1, na - 1, r, &j) != 1 ||
		    j.type != SN_JARRAY)
			continue;
		struct sn_jscan sc;
		sn_jscan_init(&sc, j.p, j.len, NULL);
		if (sn_jscan_enter(&sc) < 0)
			continue;
		while (sn_jscan_next_elem(&sc) > 0 && sn_jscan_skip(&sc, &x) == 0) {
			struct sn_str t = json_minify(c, x);
			if (c->rc || xparts_add(c, &ps, t.p, t.len))
				return c->rc;
		}
	}
	return xparts_array(c, &ps, out);
}

/* ---- strings to arrays ----------------------------------------------------------------- */

/* The strings of an Array(String) result, gathered row by row. */
/* The optional max_substrings argument k at row r: 0 for no limit. */
static int64_t max_parts(const node_t *n, const struct vec *v, size_t k, size_t r)
{
	return n->list.n > k && !isnul(&v[k], r) && v[k].i[r] > 0 ? v[k].i[r] : 0;
}

static bool is_space_byte(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* splitByWhitespace(s[, max]) (op 0): the runs of non-whitespace;
 * alphaTokens(s[, max]) (1): the runs of ASCII letters. NULL reads as "". */
static int fn_tokens(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	struct xparts ps;
	if (eval_args(c, n, 1, 2, v) || need_text(c, n, &v[0], 0) ||
	    (n->list.n == 2 && need_int(c, n, &v[1], 1)) || xparts_init(c, &ps))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		ps.off[r] = (uint32_t)ps.n;
		if (isnul(&v[0], r))
			continue;
		struct sn_str s = str_at(&v[0], r);
		int64_t limit = max_parts(n, v, 1, r);
		size_t i = 0;
		while (i < s.len && (!limit || (int64_t)(ps.n - ps.off[r]) < limit)) {
			unsigned char ch = (unsigned char)s.p[i];
			if (op ? !isalpha(ch) : is_space_byte(ch)) {
				i++;
				continue;
			}
			size_t at = i;
			while (i < s.len && (op ? isalpha((unsigned char)s.p[i])
						: !is_space_byte((unsigned char)s.p[i])))
				i++;
			if (xparts_add(c, &ps, s.p + at, i - at))
				return c->rc;
		}
	}
	return xparts_array(c, &ps, out);
}

/* The needles or patterns of multiSearch* / multiMatch* (argument 2): an
 * Array(String) per row, flattened (at most 255 a row, ClickHouse's limit);
 * a NULL array reads as none. */
#define MULTI_MAX_NEEDLES 255
static int multi_needles(struct xctx *c, const node_t *n, struct vec *e, uint32_t **off)
{
	struct vec a;
	if (xeval(c, n->list.items[1], &a))
		return c->rc;
	if (a.t == SN_XT_NULL) {
		if (!(*off = xalloc(c, c->ba, (c->n + 1) * sizeof(**off))))
			return c->rc;
		memset(*off, 0, (c->n + 1) * sizeof(**off));
		return vec_make(c, e, SN_XT_STRING, false, 0);
	}
	uint8_t et = SN_XT_NULL;
	bool enull = false;
	const char *ect;
	if (a.t != SN_XT_ARRAY || xarr_elem(c, a.ct, 0, &et, &enull, &ect) ||
	    (et != SN_XT_NULL && (et != SN_XT_STRING || enull))) {
		char tn[160];
		snprintf(tn, sizeof(tn), "%s", xtype_name(c, a.t, a.nullable, a.ct));
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Illegal type %s of argument 2 of function %s, must be Array(String)",
			     tn, n->name);
	}
	if (xarr_flatten(c, &a, e, NULL, off))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		if ((*off)[r + 1] - (*off)[r] > MULTI_MAX_NEEDLES)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function %s takes at most %d needles, got %u", n->name,
				     MULTI_MAX_NEEDLES, (*off)[r + 1] - (*off)[r]);
	return 0;
}

/* multiSearchAny (op 0), multiSearchFirstIndex (1), multiSearchFirstPosition
 * (2) of (haystack, [needles]): byte substrings. The leftmost offset where
 * any needle occurs; the index (from 1) of the first needle, in array order,
 * occurring there; 0 when none does. An empty needle occurs at offset 0. */
static int fn_multi_search(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec h, e;
	uint32_t *off;
	bool done;
	if (need_args(c, n, 2, 2) || xeval(c, n->list.items[0], &h) || need_text(c, n, &h, 0) ||
	    multi_needles(c, n, &e, &off) ||
	    out_for(c, out, op ? SN_XT_UINT : SN_XT_BOOL, &h, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&h, r);
		size_t best = SIZE_MAX, idx = 0;
		for (uint32_t k = off[r]; k < off[r + 1]; k++) {
			struct sn_str nd = str_at(&e, k);
			const char *p = nd.len ? memmem(s.p, s.len, nd.p, nd.len) : s.p;
			if (p && (size_t)(p - s.p) < best) {
				best = (size_t)(p - s.p);
				idx = k - off[r] + 1;
			}
		}
		out->i[r] = op == 0   ? idx > 0
			    : op == 1 ? (int64_t)idx
			    : idx     ? (int64_t)best + 1
				      : 0;
	}
	return 0;
}

/* multiMatchAny (op 0), multiMatchAnyIndex (1) of (haystack, [patterns]):
 * whether any pattern matches, and the index (from 1) of one that does.
 * ClickHouse's Hyperscan reports any matching index; here it is the
 * smallest, so the answer does not depend on the engine. Patterns go
 * through the query's compiled-regex cache (re_get). */
static int fn_multi_match(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec h, e;
	uint32_t *off;
	bool done;
	if (need_args(c, n, 2, 2) || xeval(c, n->list.items[0], &h) || need_text(c, n, &h, 0) ||
	    multi_needles(c, n, &e, &off) ||
	    out_for(c, out, op ? SN_XT_UINT : SN_XT_BOOL, &h, 1, &done) || done)
		return c->rc;
	char pat[RE_MAX_PATTERN + 1];
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t idx = 0;
		for (uint32_t k = off[r]; k < off[r + 1] && !idx; k++) {
			struct sn_str ps = str_at(&e, k);
			struct xregex *re;
			if (ps.len > RE_MAX_PATTERN || memchr(ps.p, 0, ps.len))
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Pattern %u of function %s is too long or holds a NUL",
					     k - off[r] + 1, n->name);
			memcpy(pat, ps.p, ps.len);
			pat[ps.len] = 0;
			if (re_get(c, n, pat, &re))
				return c->rc;
			int m = re_search(c, n, re, str_at(&h, r), 0, 0);
			if (m < 0)
				return c->rc;
			if (m)
				idx = k - off[r] + 1;
		}
		out->i[r] = op ? idx : idx > 0;
	}
	return 0;
}

/* extractAllGroupsHorizontal (op 0), extractAllGroupsVertical (1) of
 * (haystack, pattern): every match of the pattern, as ClickHouse walks them
 * (an empty match is kept and the search moves on by one byte; a group that
 * did not take part is ''), arranged per group (horizontal: one array of
 * every match's value a group) or per match (vertical: one array of its
 * groups a match). Array(Array(String)); NULL reads as ''. The pattern must
 * be constant and have a group. */
static int fn_extract_groups(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	struct xregex *e = NULL;
	const char *pat;
	if (need_args(c, n, 2, 2) || need_const_text(c, n, 1, &pat) || re_get(c, n, pat, &e) ||
	    eval_args(c, n, 2, 2, v) || need_text(c, n, &v[0], 0))
		return c->rc;
	if (!e->ncap)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "There are no groups in regexp '%s' of function %s", pat, n->name);
	if (vec_make(c, out, SN_XT_ARRAY, false, c->n))
		return c->rc;
	out->ct = "Array(Array(String))";
	struct sn_buf outer, inner;
	sn_buf_init(&outer, (size_t)1 << 28);
	sn_buf_init(&inner, (size_t)1 << 28);
	struct sn_str *ms = NULL; /* the matches' groups, ncap a match */
	size_t nm = 0, cap = 0;
	int rc = 0;
	for (size_t r = 0; r < c->n && !rc; r++) {
		struct sn_str s = isnul(&v[0], r) ? (struct sn_str){"", 0} : str_at(&v[0], r);
		nm = 0;
		for (size_t at = 0; at < s.len;) {
			int m = re_search(c, n, e, s, at, 0);
			if (m <= 0) {
				rc = m < 0 ? c->rc : 0;
				break;
			}
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
			if ((nm + 1) * e->ncap > cap) {
				size_t nc = cap ? cap * 2 : 16 * e->ncap;
				struct sn_str *x = xalloc(c, c->ba, nc * sizeof(*x));
				if (!x) {
					rc = c->rc;
					break;
				}
				if (nm)
					memcpy(x, ms, nm * e->ncap * sizeof(*x));
				ms = x;
				cap = nc;
			}
			for (uint32_t g = 1; g <= e->ncap; g++)
				ms[nm * e->ncap + g - 1] =
				    ov[2 * g] == PCRE2_UNSET
					? (struct sn_str){"", 0}
					: (struct sn_str){s.p + ov[2 * g],
							  ov[2 * g + 1] - ov[2 * g]};
			nm++;
			at = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
		}
		if (rc)
			break;
		size_t no = op ? nm : e->ncap, ni = op ? e->ncap : nm;
		sn_buf_reset(&outer);
		uint32_t cnt = (uint32_t)no;
		if (sn_buf_append(&outer, &cnt, 4)) {
			rc = xnomem(c);
			break;
		}
		for (size_t i = 0; i < no && !rc; i++) {
			sn_buf_reset(&inner);
			uint32_t ic = (uint32_t)ni;
			if (sn_buf_append(&inner, &ic, 4))
				rc = xnomem(c);
			for (size_t j = 0; j < ni && !rc; j++) {
				struct sn_exec_value x = {.type = SN_XT_STRING};
				x.s = op ? ms[i * e->ncap + j] : ms[j * e->ncap + i];
				if (xarr_put(&inner, &x))
					rc = xnomem(c);
			}
			struct sn_exec_value a = {.type = SN_XT_ARRAY};
			a.s = (struct sn_str){(const char *)inner.data, inner.len};
			if (!rc && xarr_put(&outer, &a))
				rc = xnomem(c);
		}
		if (!rc && !sstr_of_buf(c, &outer, &out->s[r]))
			rc = c->rc;
	}
	sn_buf_release(&outer);
	sn_buf_release(&inner);
	return rc;
}

/* splitByRegexp(pattern, s[, max]) (op 0): the pieces between matches (an
 * empty pattern splits into characters); extractAll(s, pattern) (1): every
 * match, or its first group when the pattern has one. Empty matches are
 * stepped over. NULL reads as "". */
static int fn_regexp_array(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[3];
	struct xregex *e = NULL;
	struct xparts ps;
	const char *pat;
	size_t si = op ? 0 : 1;
	if (need_args(c, n, 2, op ? 2 : 3) || need_const_text(c, n, op ? 1 : 0, &pat) ||
	    re_get(c, n, pat, &e) || eval_args(c, n, 2, op ? 2 : 3, v) ||
	    need_text(c, n, &v[si], si) || (n->list.n == 3 && need_int(c, n, &v[2], 2)) ||
	    xparts_init(c, &ps))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		ps.off[r] = (uint32_t)ps.n;
		if (isnul(&v[si], r))
			continue;
		struct sn_str s = str_at(&v[si], r);
		int64_t limit = op ? 0 : max_parts(n, v, 2, r);
		size_t at = 0, from = 0; /* from: the start of the next piece */
		while (at <= s.len) {
			if (!op && limit && (int64_t)(ps.n - ps.off[r]) + 1 >= limit)
				break;
			int m = re_search(c, n, e, s, at, 0);
			if (m < 0)
				return c->rc;
			if (!m)
				break;
			PCRE2_SIZE *ov = pcre2_get_ovector_pointer(e->md);
			if (ov[1] == ov[0]) { /* empty: a split between characters */
				if (ov[1] >= s.len)
					break;
				size_t l = seq_len((unsigned char)s.p[ov[1]]);
				if (!op && ov[0] > from &&
				    xparts_add(c, &ps, s.p + from, ov[0] - from))
					return c->rc;
				if (!op)
					from = ov[0] > from ? ov[0] : from;
				at = ov[1] + l;
				continue;
			}
			if (op) {
				size_t g = e->ncap ? 1 : 0;
				if (ov[2 * g] != PCRE2_UNSET &&
				    xparts_add(c, &ps, s.p + ov[2 * g], ov[2 * g + 1] - ov[2 * g]))
					return c->rc;
			} else {
				if (xparts_add(c, &ps, s.p + from, ov[0] - from))
					return c->rc;
				from = ov[1];
			}
			at = ov[1];
		}
		if (!op && xparts_add(c, &ps, s.p + from, s.len - from))
			return c->rc;
	}
	return xparts_array(c, &ps, out);
}

/* extractURLParameters(url) (op 0): the name=value pieces of the query
 * string and fragment (split at & and #, empty ones dropped);
 * extractURLParameterNames(url) (1): their names. */
static int fn_url_params(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	struct xparts ps;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) || xparts_init(c, &ps))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		ps.off[r] = (uint32_t)ps.n;
		if (isnul(&v, r))
			continue;
		struct sn_str u = str_at(&v, r);
		const char *e = u.p + u.len, *p = find_any(u.p, e, "?#");
		while (p < e) {
			p++;
			const char *end = find_any(p, e, "&#");
			const char *eq = op ? find_any(p, end, "=") : end;
			if (end > p && xparts_add(c, &ps, p, (size_t)(eq - p)))
				return c->rc;
			p = end;
		}
	}
	return xparts_array(c, &ps, out);
}

/* URLHierarchy(url) (op 0): the URL cut after the host's slash and after
 * each later run of / ? #; a URL without scheme:// is itself.
 * URLPathHierarchy(url) (1): the same of the path only (none without
 * scheme://). */
static int fn_url_hierarchy(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	struct xparts ps;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) || xparts_init(c, &ps))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		ps.off[r] = (uint32_t)ps.n;
		if (isnul(&v, r))
			continue;
		struct sn_str u = str_at(&v, r);
		const char *b = u.p, *e = u.p + u.len, *p = b;
		while (p < e && isalpha((unsigned char)*p))
			p++;
		bool url = p > b && e - p > 3 && memcmp(p, "://", 3) == 0;
		if (!url) {
			if (!op && xparts_add(c, &ps, b, u.len))
				return c->rc;
			continue;
		}
		p = find_any(p + 3, e, "/?#");
		if (op) {
			if (p == e)
				continue;
			b = p;
		} else {
			if (p < e)
				p++;
			if (xparts_add(c, &ps, b, (size_t)(p - b)))
				return c->rc;
		}
		for (;;) {
			while (p < e && (*p == '/' || *p == '?' || *p == '#'))
				p++;
			if (p == e)
				break;
			p = find_any(p, e, "/?#");
			if (p < e)
				p++;
			if (xparts_add(c, &ps, b, (size_t)(p - b)))
				return c->rc;
		}
	}
	return xparts_array(c, &ps, out);
}

/* JSONExtractKeys(json, path...): the keys of the object the path leads
 * to; [] when there is none, the JSON is invalid or the input is NULL. */
static int fn_json_keys(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec *v;
	struct xparts ps;
	if (eval_all(c, n, 1, &v) || need_text(c, n, &v[0], 0) || xparts_init(c, &ps))
		return c->rc;
	size_t na = n->list.n;
	for (size_t k = 1; k < na; k++)
		if (!(is_text(v[k].t) || is_intlike(v[k].t) || v[k].t == SN_XT_NULL))
			return bad_type(c, n, &v[k], k);
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	for (size_t r = 0; r < c->n; r++) {
		ps.off[r] = (uint32_t)ps.n;
		bool null = false;
		for (size_t k = 0; k < na && !null; k++)
			null = isnul(&v[k], r);
		struct sn_jspan j, key, val;
		if (null || json_find(str_at(&v[0], r), v + 1, na - 1, r, &j) != 1 ||
		    j.type != SN_JOBJECT)
			continue;
		struct sn_jscan sc;
		sn_jscan_init(&sc, j.p, j.len, NULL);
		if (sn_jscan_enter(&sc) < 0)
			continue;
		while (sn_jscan_next_key(&sc, &key) > 0 && sn_jscan_skip(&sc, &val) == 0) {
			struct sn_str k = {0};
			if (!(key.flags & SN_JSPAN_ESCAPED)) {
				k.p = sn_jspan_raw(&key, &k.len);
			} else {
				sn_buf_reset(&b);
				if (sn_jspan_unescape(&key, &b) < 0) {
					sn_buf_release(&b);
					return xnomem(c);
				}
				if (!sstr_of_buf(c, &b, &k)) {
					sn_buf_release(&b);
					return c->rc;
				}
			}
			if (xparts_add(c, &ps, k.p, k.len)) {
				sn_buf_release(&b);
				return c->rc;
			}
		}
	}
	sn_buf_release(&b);
	return xparts_array(c, &ps, out);
}

/* xor(a, b, ...): true when an odd number of the arguments are true; NULL
 * when one is NULL. */
static int fn_xor(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec *v;
	bool done;
	if (eval_all(c, n, 2, &v))
		return c->rc;
	for (size_t k = 0; k < n->list.n; k++)
		if (need_num(c, n, &v[k], k))
			return c->rc;
	if (out_for(c, out, SN_XT_BOOL, v, n->list.n, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		int x = 0;
		for (size_t k = 0; k < n->list.n; k++)
			x ^= vec_truth(&v[k], r);
		out->i[r] = x;
	}
	return 0;
}

/* ---- hashing ------------------------------------------------------------------------------ */

/* MD5 (op 0), SHA1 (op 1), SHA256 (op 2): the raw digest bytes (ClickHouse's
 * FixedString); md5 (op 3, HogQL) is hex(MD5(x)). */
static int fn_digest(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_text(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_STRING, &v, 1, &done) || done)
		return c->rc;
	const EVP_MD *md = op == 1 ? EVP_sha1() : op == 2 ? EVP_sha256() : EVP_md5();
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		unsigned char d[EVP_MAX_MD_SIZE];
		unsigned int len = 0;
		if (!EVP_Digest(str_at(&v, r).len ? str_at(&v, r).p : "", str_at(&v, r).len, d,
				&len, md, NULL))
			return xfail(c, n, SN_ERR_INTERNAL, "QueryError", "%s failed", n->name);
		size_t olen = op == 3 ? 2 * (size_t)len : len;
		char *o = salloc(c, olen);
		if (!o)
			return c->rc;
		if (op == 3)
			for (unsigned int i = 0; i < len; i++) {
				o[2 * i] = "0123456789ABCDEF"[d[i] >> 4];
				o[2 * i + 1] = "0123456789ABCDEF"[d[i] & 15];
			}
		else
			memcpy(o, d, len);
		out->s[r] = (struct sn_str){o, olen};
	}
	return 0;
}

/* sipHash64 (op 0) and cityHash64 (op 1) of one String. sipHash64:
 * SipHash-2-4 with a zero key over the bytes, read little-endian;
 * cityHash64: CityHash v1.0.2 (base/cityhash.c) — what ClickHouse computes
 * for a single String (both checked against ClickHouse). Other argument
 * types, and several arguments, hash ClickHouse's binary form of their
 * exact types, which the executor's widened types cannot reproduce, so they
 * are refused. */
static int fn_hash64(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	char what[64];
	if (n->list.n != 1) {
		snprintf(what, sizeof(what), "%s of several arguments", n->name);
		return xunsupported(c, n, what);
	}
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (!(v.t == SN_XT_STRING || v.t == SN_XT_NULL)) {
		snprintf(what, sizeof(what), "%s of a non-String argument", n->name);
		return xunsupported(c, n, what);
	}
	if (out_for(c, out, SN_XT_UINT, &v, 1, &done) || done)
		return c->rc;
	static const unsigned char key[crypto_shorthash_siphash24_KEYBYTES];
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v, r);
		if (op == 1) { /* cityHash64 */
			out->i[r] = (int64_t)sn_cityhash64(s.p, s.len);
			continue;
		}
		unsigned char h[crypto_shorthash_siphash24_BYTES];
		crypto_shorthash_siphash24(h, (const unsigned char *)s.p, s.len, key);
		uint64_t x = 0;
		for (int i = 7; i >= 0; i--)
			x = x << 8 | h[i];
		out->i[r] = (int64_t)x;
	}
	return 0;
}

/* __snout_sample_in(distinct_id, lo, hi): SAMPLE's term (exec.c
 * sample_where), true when the row's sample key — cityHash64 of the
 * distinct id, PostHog's sampling key — is >= lo and, unless hi is 0, < hi;
 * lo and hi are the
 * bits of the two Int constants. Not reachable from HogQL text (the
 * resolver knows no such function). */
static int fn_sample_in(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	/* A SAMPLE in rows that no scan resolved (exec.c sample_resolve); the
	 * type pass's empty batch comes before the scan and reads no bounds. */
	if (n->flag && c->n > 0)
		return xunsupported(c, n, "SAMPLE with a number of rows here");
	if (n->list.n != 3 || xeval(c, n->list.items[0], &v))
		return c->rc ? c->rc : xunsupported(c, n, "this SAMPLE");
	uint64_t lo = (uint64_t)n->list.items[1]->ival, hi = (uint64_t)n->list.items[2]->ival;
	if (vec_make(c, out, SN_XT_BOOL, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		struct sn_str s =
		    v.t == SN_XT_NULL || vec_null(&v, r) ? (struct sn_str){NULL, 0} : str_at(&v, r);
		uint64_t h = sn_cityhash64(s.p, s.len);
		out->i[r] = h >= lo && (hi == 0 || h < hi);
	}
	return 0;
}

/* sparkline(x): PostHog's UI tag, the tuple ('__hx_tag', 'Sparkline',
 * 'data', x) (PostHog rewrites the call into that tuple before printing). */
static int fn_sparkline(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	if (need_args(c, n, 1, 1))
		return c->rc;
	static const char *const tag[] = {"__hx_tag", "Sparkline", "data"};
	node_t *t = mk_node(c, n, SN_HQ_TUPLE);
	node_t **items = xalloc(c, c->ba, 4 * sizeof(*items));
	if (!t || !items)
		return c->rc;
	for (size_t k = 0; k < 3; k++) {
		if (!(items[k] = mk_node(c, n, SN_HQ_CONSTANT)))
			return c->rc;
		items[k]->ctype = SN_HQC_STRING;
		items[k]->sval = tag[k];
	}
	items[3] = n->list.items[0];
	t->list.items = items;
	t->list.n = 4;
	t->has_list = true;
	return xeval(c, t, out);
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static const struct scalar_def fns[] = {
    /* strings */
    {"concat", fn_concat, 0, true},
    {"concatWithSeparator", fn_concat, 1, false},
    {"format", fn_format, 0, false},
    {"substring", fn_substring, 0, true},
    {"substr", fn_substring, 0, true},
    {"mid", fn_substring, 0, true},
    {"substringUTF8", fn_substring, 1, false},
    {"left", fn_leftright, 0, true},
    {"right", fn_leftright, 1, true},
    {"leftUTF8", fn_leftright, 2, false},
    {"rightUTF8", fn_leftright, 3, false},
    {"lengthUTF8", fn_length_utf8, 0, false},
    {"char_length", fn_length_utf8, 0, true},
    {"character_length", fn_length_utf8, 0, true},
    {"lowerUTF8", fn_case_utf8, 0, false},
    {"upperUTF8", fn_case_utf8, 1, false},
    {"trimLeft", fn_trim, 1, false},
    {"ltrim", fn_trim, 1, true},
    {"trimRight", fn_trim, 2, false},
    {"rtrim", fn_trim, 2, true},
    {"trim", fn_trim, 3, true},
    {"trimBoth", fn_trim, 3, false},
    {"btrim", fn_trim, 3, true},
    {"position", fn_position, 0, true},
    {"positionCaseInsensitive", fn_position, 1, false},
    {"positionUTF8", fn_position, 2, false},
    {"positionCaseInsensitiveUTF8", fn_position, 3, false},
    {"locate", fn_position, 4, true},
    {"startsWith", fn_affix, 0, false},
    {"endsWith", fn_affix, 1, false},
    {"replaceAll", fn_replace, 0, false},
    {"replace", fn_replace, 0, true},
    {"replaceOne", fn_replace, 1, false},
    {"reverse", fn_reverse, 0, false},
    {"reverseUTF8", fn_reverse, 1, false},
    {"repeat", fn_repeat, 0, false},
    {"leftPad", fn_pad, 0, false},
    {"lpad", fn_pad, 0, true},
    {"rightPad", fn_pad, 1, false},
    {"rpad", fn_pad, 1, true},
    {"leftPadUTF8", fn_pad, 2, false},
    {"rightPadUTF8", fn_pad, 3, false},
    {"empty", fn_empty, 0, false},
    {"notEmpty", fn_empty, 1, false},
    {"base64Encode", fn_base64, 0, false},
    {"base64Decode", fn_base64, 1, false},
    {"tryBase64Decode", fn_base64, 2, false},
    {"hex", fn_hex, 0, false},
    {"unhex", fn_unhex, 0, false},
    {"toValidUTF8", fn_utf8_valid, 0, false},
    {"isValidUTF8", fn_utf8_valid, 1, false},
    {"like", fn_like, 0, false},
    {"ilike", fn_like, 1, false},
    {"notLike", fn_like, 2, false},
    {"notILike", fn_like, 3, false},
    /* regular expressions */
    {"match", fn_match, 0, false},
    {"extract", fn_extract, 0, false},
    {"regexpExtract", fn_extract, 1, false},
    {"countMatches", fn_extract, 2, false},
    {"replaceRegexpAll", fn_replace_re, 0, false},
    {"replaceRegexpOne", fn_replace_re, 1, false},
    /* URLs */
    {"protocol", fn_url, U_PROTOCOL, false},
    {"domain", fn_url, U_DOMAIN, false},
    {"domainWithoutWWW", fn_url, U_DOMAIN_NO_WWW, false},
    {"topLevelDomain", fn_url, U_TLD, false},
    {"firstSignificantSubdomain", fn_url, U_FIRST_SIG, false},
    /* channel definitions */
    {"lookupDomainType", fn_channel, CH_DOMAIN_TYPE, false},
    {"lookupPaidSourceType", fn_channel, CH_PAID_SOURCE, false},
    {"lookupPaidMediumType", fn_channel, CH_PAID_MEDIUM, false},
    {"lookupOrganicSourceType", fn_channel, CH_ORGANIC_SOURCE, false},
    {"lookupOrganicMediumType", fn_channel, CH_ORGANIC_MEDIUM, false},
    {"hogql_lookupDomainType", fn_channel, CH_DOMAIN_TYPE, false},
    {"hogql_lookupPaidSourceType", fn_channel, CH_PAID_SOURCE, false},
    {"hogql_lookupPaidMediumType", fn_channel, CH_PAID_MEDIUM, false},
    {"hogql_lookupOrganicSourceType", fn_channel, CH_ORGANIC_SOURCE, false},
    {"hogql_lookupOrganicMediumType", fn_channel, CH_ORGANIC_MEDIUM, false},
    {"cutToFirstSignificantSubdomain", fn_url, U_CUT_TO_FIRST_SIG, false},
    {"path", fn_url, U_PATH, false},
    {"pathFull", fn_url, U_PATH_FULL, false},
    {"queryString", fn_url, U_QUERY, false},
    {"fragment", fn_url, U_FRAGMENT, false},
    {"queryStringAndFragment", fn_url, U_QUERY_AND_FRAGMENT, false},
    {"cutQueryString", fn_url, U_CUT_QUERY, false},
    {"cutFragment", fn_url, U_CUT_FRAGMENT, false},
    {"cutQueryStringAndFragment", fn_url, U_CUT_QUERY_AND_FRAGMENT, false},
    {"extractURLParameter", fn_url_param, 0, false},
    /* math */
    {"round", fn_round, 0, true},
    {"floor", fn_round, 1, true},
    {"ceil", fn_round, 2, true},
    {"ceiling", fn_round, 2, true},
    {"trunc", fn_round, 3, true},
    {"truncate", fn_round, 3, true},
    {"roundBankers", fn_round, 4, false},
    {"abs", fn_abs, 0, true},
    {"sign", fn_sign, 0, true},
    {"sqrt", fn_math1, M_SQRT, true},
    {"cbrt", fn_math1, M_CBRT, false},
    {"exp", fn_math1, M_EXP, true},
    {"log", fn_math1, M_LOG, true},
    {"ln", fn_math1, M_LOG, true},
    {"log2", fn_math1, M_LOG2, true},
    {"log10", fn_math1, M_LOG10, true},
    {"exp2", fn_math1, M_EXP2, false},
    {"exp10", fn_math1, M_EXP10, false},
    {"pow", fn_pow, 0, true},
    {"power", fn_pow, 0, true},
    {"pi", fn_const, 0, true},
    {"e", fn_const, 1, false},
    {"intDiv", fn_intdiv, 0, false},
    {"intDivOrZero", fn_intdiv, 1, false},
    {"least", fn_extreme, 0, true},
    {"greatest", fn_extreme, 1, true},
    {"isNaN", fn_fpclass, 0, false},
    {"isFinite", fn_fpclass, 1, false},
    {"isInfinite", fn_fpclass, 2, false},
    /* conditionals and conversions */
    {"nullIf", fn_nullif, 0, true},
    {"assumeNotNull", fn_assume, 0, false},
    {"in", fn_in, 0, false},
    {"notIn", fn_in, 1, false},
    {"_caseWithExpression", fn_case, 0, false},
    {"toBool", fn_tobool, 0, false},
    {"transform", fn_transform, 0, false},
    {"toTypeName", fn_typename, 0, false},
    {"toUUID", fn_touuid, 0, false},
    {"toUUIDOrNull", fn_touuid, 1, false},
    {"toInt8", fn_cast, T_INT8, false},
    {"toInt16", fn_cast, T_INT16, false},
    {"toInt32", fn_cast, T_INT32, false},
    {"toInt64", fn_cast, T_INT64, false},
    {"toUInt8", fn_cast, T_UINT8, false},
    {"toUInt16", fn_cast, T_UINT16, false},
    {"toUInt32", fn_cast, T_UINT32, false},
    {"toUInt64", fn_cast, T_UINT64, false},
    {"toFloat64", fn_cast, T_FLOAT64, false},
    {"_toInt8", fn_cast, T_INT8, false},
    {"_toInt16", fn_cast, T_INT16, false},
    {"_toInt32", fn_cast, T_INT32, false},
    {"_toInt64", fn_cast, T_INT64, false},
    {"_toUInt64", fn_cast, T_UINT64, false},
    {"toInt64OrNull", fn_cast, T_INT64 | T_OR_NULL, false},
    {"toUInt64OrNull", fn_cast, T_UINT64 | T_OR_NULL, false},
    {"toUInt8OrNull", fn_cast, T_UINT8 | T_OR_NULL, false},
    {"toFloat64OrNull", fn_cast, T_FLOAT64 | T_OR_NULL, false},
    {"toInt64OrZero", fn_cast, T_INT64 | T_OR_ZERO, false},
    {"toUInt64OrZero", fn_cast, T_UINT64 | T_OR_ZERO, false},
    {"toUInt8OrZero", fn_cast, T_UINT8 | T_OR_ZERO, false},
    {"toFloat64OrZero", fn_cast, T_FLOAT64 | T_OR_ZERO, false},
    {"toFloatOrZero", fn_cast, T_FLOAT64 | T_OR_ZERO, false},
    {"toIntOrZero", fn_cast, T_INT64 | T_OR_ZERO, false},
    /* JSON */
    {"JSONHas", fn_json, J_HAS, false},
    {"JSONExtractString", fn_json, J_STRING, false},
    {"JSONExtractInt", fn_json, J_INT, false},
    {"JSONExtractUInt", fn_json, J_UINT, false},
    {"JSONExtractFloat", fn_json, J_FLOAT, false},
    {"JSONExtractBool", fn_json, J_BOOL, false},
    {"JSONExtractRaw", fn_json, J_RAW, false},
    {"JSONLength", fn_json, J_LENGTH, false},
    {"JSONArrayLength", fn_json, J_ARRAY_LENGTH, false},
    {"JSONExtractArrayRaw", fn_json_array_raw, 0, false},
    {"JSONExtractKeys", fn_json_keys, 0, false},
    {"splitByWhitespace", fn_tokens, 0, false},
    {"alphaTokens", fn_tokens, 1, false},
    {"splitByRegexp", fn_regexp_array, 0, false},
    {"extractAll", fn_regexp_array, 1, false},
    {"extractAllGroupsHorizontal", fn_extract_groups, 0, false},
    {"extractAllGroupsVertical", fn_extract_groups, 1, false},
    {"multiSearchAny", fn_multi_search, 0, false},
    {"multiSearchFirstIndex", fn_multi_search, 1, false},
    {"multiSearchFirstPosition", fn_multi_search, 2, false},
    {"multiMatchAny", fn_multi_match, 0, false},
    {"multiMatchAnyIndex", fn_multi_match, 1, false},
    {"extractURLParameters", fn_url_params, 0, false},
    {"extractURLParameterNames", fn_url_params, 1, false},
    {"URLHierarchy", fn_url_hierarchy, 0, false},
    {"URLPathHierarchy", fn_url_hierarchy, 1, false},
    {"xor", fn_xor, 0, false},
    /* hashing */
    {"MD5", fn_digest, 0, false},
    {"SHA1", fn_digest, 1, false},
    {"SHA256", fn_digest, 2, false},
    {"md5", fn_digest, 3, false},
    {"sipHash64", fn_hash64, 0, false},
    {"cityHash64", fn_hash64, 1, false},
    /* PostHog's UI tags */
    {"sparkline", fn_sparkline, 0, false},
    /* internal */
    {"__snout_sample_in", fn_sample_in, 0, false},
};

bool xfn_scalar(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	return scalar_dispatch(fns, SN_ARRAY_LEN(fns), c, n, out, rc);
}
