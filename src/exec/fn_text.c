/*
 * fn_text.c — the executor's string, URL and JSON functions with ClickHouse's semantics (spec §7.3)
 * that fn_scalar.c does not carry: ascii, initcap, regexpQuoteMeta, translate, countSubstrings,
 * ngramDistance, splitByNonAlpha; cutWWW, netloc, port, cutURLParameter,
 * encode/decodeURLComponent; isValidJSON, JSONType, JSONExtractKey (JSONKey), JSONExtract,
 * JSONExtractKeysAndValues(Raw), JSON_VALUE; toJSONString.
 *
 * The table at the bottom maps names to handlers (fn_common.h's pattern);
 * eval.c asks xfn_text after xfn_scalar. Handlers follow fn_scalar.c's
 * conventions: NULL in, NULL out (out_for); a wrong argument type is a
 * QueryError naming the function and the argument; results in the batch
 * arena.
 *
 * The URL functions follow ClickHouse's hand-written parsers byte for byte
 * (src/Functions/URL: netloc's scheme skip and stop characters, cutWWW's
 * "www." right after "scheme://", port's digits after the host that
 * getURLHost finds), not an RFC 3986 parser: a URL that ClickHouse reads
 * oddly reads the same oddly here. getURLHost is repeated from fn_scalar.c
 * (its copy there is private to that file, which this one does not edit).
 *
 * The JSON functions read the text with the strict scanner of base/
 * (jsonscan.c) as fn_scalar.c's do: the document is validated once per
 * row (ClickHouse returns the default for invalid JSON), then the path is
 * followed by skipping members, without building a tree. Raw values are
 * the value's own text with the whitespace between tokens removed, as
 * JSONExtractRaw gives it here (ClickHouse re-serialises: 1.0 reads 1).
 *
 * JSONExtract and JSONExtractKeysAndValues convert values as ClickHouse's
 * JSONExtract tree does (jvalue), to a type parsed from the constant type
 * name: String, the integer widths, Float32/64 and Bool, optionally
 * Nullable or LowCardinality (and Array of those for JSONExtract); the
 * executor has one integer type a sign, so Int8..Int64 are Int64 with the
 * narrow range checked. JSONExtractKeysAndValues builds Array(Tuple(String,
 * T)): each row's (key, value) tuples are encoded with xarr_put into one
 * buffer, become one vector of tuples, and xarr_build makes the arrays
 * (array.c's encoding). JSON_VALUE evaluates the JSONPath subset of
 * members, indexes and [*] by walking the scanner's spans.
 *
 * toJSONString writes a value as ClickHouse's JSON output does (its
 * serializeTextJSON with today's defaults): strings escaped (including
 * '/' as "\/"), integers unquoted (output_format_json_quote_64bit_integers
 * is off since 2026), non-finite floats as null, dates and times quoted in
 * their zone, arrays and tuples as JSON arrays, NULL as null.
 *
 * Concurrency: nothing is shared between queries but ngramDistance's
 * CRC-32C table, filled once (pthread_once) and read-only afterwards.
 *
 * Rejected alternative: json-c for the JSON functions (a DOM and an
 * allocation per value, per row, to read a few members).
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "exec/fn_common.h"

/* ---- strings ---------------------------------------------------------------------- */

enum {
	S_INITCAP,
	S_CUT_WWW,
	S_NETLOC,
	S_ENCODE_URL,
	S_DECODE_URL,
	S_QUOTE_META,
};

static bool is_alnum_ascii(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_alpha_ascii(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static int hexval(unsigned char ch)
{
	return ch >= '0' && ch <= '9'	? ch - '0'
	       : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
					: -1;
}

/* ClickHouse's scheme: a letter, then letters, digits, '+', '-', '.'. */
static size_t url_scheme_len(const char *s, size_t len)
{
	if (!len || !is_alpha_ascii((unsigned char)s[0]))
		return 0;
	size_t i = 1;
	while (i < len &&
	       (is_alnum_ascii((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	return i;
}

/* ExtractProtocol: the scheme when ':' follows it and 4 bytes remain. */
static size_t url_protocol_len(const char *s, size_t len)
{
	size_t sl = url_scheme_len(s, len);
	if (!sl || len - sl < 4 || s[sl] != ':')
		return 0;
	return sl;
}

static bool url_restricted(char ch)
{
	return ch && strchr(" \t<>%{}|\\^~[];=&", ch);
}

/* Skips "scheme://" or "//" as getURLHost and netloc do: the position after
 * it, data itself when there is none, NULL when a restricted byte appears
 * inside the would-be scheme. */
static const char *url_skip_scheme(const char *data, size_t size, bool netloc)
{
	const char *pos = data, *end = data + size;
	if ((netloc ? pos + 2 < end : size >= 2) && pos[0] == '/' && pos[1] == '/')
		return pos + 2;
	if (!size)
		return data;
	const char *scheme_end = data + (size < 16 ? size : 16);
	for (++pos; pos < scheme_end; ++pos) {
		if (is_alnum_ascii((unsigned char)*pos) || *pos == '.' || *pos == '-' ||
		    *pos == '+')
			continue;
		if (url_restricted(*pos))
			return NULL;
		break;
	}
	if (scheme_end - pos > 2 && pos[0] == ':' && pos[1] == '/' && pos[2] == '/')
		return pos + 3;
	return data;
}

/* netloc (ClickHouse's ExtractNetloc): user info, host and port. */
static struct sn_str url_netloc(const char *data, size_t size)
{
	struct sn_str none = {data, 0};
	const char *pos = url_skip_scheme(data, size, true), *end = data + size;
	if (!pos)
		return none;
	bool ident = false;
	const char *host_end = end, *qmark = end, *slash = end, *start = pos;
	for (; pos < end; ++pos) {
		switch (*pos) {
		case '/':
			if (ident)
				return (struct sn_str){start, (size_t)(pos - start)};
			slash = pos; /* the last one, as ClickHouse's loop keeps it */
			break;
		case '?':
			if (ident)
				return (struct sn_str){start, (size_t)(pos - start)};
			qmark = pos;
			break;
		case '#': return (struct sn_str){start, (size_t)(pos - start)};
		case '@':
			ident = true;
			host_end = end;
			break;
		case ';':
		case '=':
		case '&':
		case '~':
		case '%':
			/* sub-delimiters: allowed in user info, end the host */
			if (!ident) {
				host_end = pos;
				break;
			}
			__attribute__((fallthrough));
		case ' ':
		case '\t':
		case '<':
		case '>':
		case '{':
		case '}':
		case '|':
		case '\\':
		case '^':
		case '[':
		case ']': {
			if (pos <= start)
				return none;
			const char *e = pos < qmark ? pos : qmark;
			e = e < slash ? e : slash;
			return (struct sn_str){start, (size_t)(e - start)};
		}
		default: break;
		}
	}
	if (ident)
		return (struct sn_str){start, (size_t)(pos - start)};
	const char *e = pos < qmark ? pos : qmark;
	e = e < slash ? e : slash;
	e = e < host_end ? e : host_end;
	return (struct sn_str){start, (size_t)(e - start)};
}

/* cutWWW's span to remove: "www." when it opens the host right after
 * "scheme://" (ClickHouse's ExtractWWW); empty otherwise. */
static struct sn_str url_www(const char *data, size_t size)
{
	struct sn_str none = {data, 0};
	const char *end = data + size, *pos = memchr(data, '/', size);
	if (!pos)
		return none;
	if (pos != data && pos != data + url_protocol_len(data, size) + 1)
		return none;
	if (end - pos < 2 || pos[1] != '/')
		return none;
	const char *host = pos += 2;
	for (; pos < end; ++pos) {
		if (*pos == '@')
			host = pos + 1;
		else if (*pos == ':' || *pos == '/' || *pos == '?' || *pos == '#')
			break;
	}
	if (host + 4 < end && memcmp(host, "www.", 4) == 0)
		return (struct sn_str){host, 4};
	return none;
}

/* One string in, one string out: initcap, cutWWW, netloc, the URL
 * component codecs and regexpQuoteMeta. */
static int fn_str1(struct xctx *c, const node_t *n, int op, struct vec *out)
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
		const unsigned char *p = (const unsigned char *)s.p;
		char *o;
		size_t at = 0;
		switch (op) {
		case S_NETLOC: {
			struct sn_str h = url_netloc(s.p, s.len);
			out->s[r] = h.len ? h : (struct sn_str){"", 0};
			continue;
		}
		case S_CUT_WWW: {
			struct sn_str w = url_www(s.p, s.len);
			if (!w.len) {
				out->s[r] = s;
				continue;
			}
			if (!(o = salloc(c, s.len - 4)))
				return c->rc;
			size_t head = (size_t)(w.p - s.p);
			memcpy(o, s.p, head);
			memcpy(o + head, w.p + 4, s.len - head - 4);
			out->s[r] = (struct sn_str){o, s.len - 4};
			continue;
		}
		case S_INITCAP: {
			if (!(o = salloc(c, s.len)))
				return c->rc;
			bool prev = false;
			for (size_t i = 0; i < s.len; i++) {
				unsigned char ch = p[i];
				bool an = is_alnum_ascii(ch);
				o[i] = (char)(an && !prev	   ? toupper(ch)
					      : is_alpha_ascii(ch) ? tolower(ch)
								   : ch);
				prev = an;
			}
			at = s.len;
			break;
		}
		case S_ENCODE_URL: {
			static const char hexd[] = "0123456789ABCDEF";
			if (!(o = salloc(c, s.len * 3)))
				return c->rc;
			for (size_t i = 0; i < s.len; i++) {
				unsigned char ch = p[i];
				if (is_alnum_ascii(ch) || ch == '-' || ch == '_' || ch == '.' ||
				    ch == '~') {
					o[at++] = (char)ch;
				} else {
					o[at++] = '%';
					o[at++] = hexd[ch >> 4];
					o[at++] = hexd[ch & 15];
				}
			}
			break;
		}
		case S_DECODE_URL:
			/* A '%' without two hex digits after it stays, and the
			 * two bytes after it are not looked at again. */
			if (!(o = salloc(c, s.len)))
				return c->rc;
			for (size_t i = 0; i < s.len;) {
				if (p[i] != '%') {
					o[at++] = (char)p[i++];
					continue;
				}
				int hi = i + 2 < s.len ? hexval(p[i + 1]) : -1;
				int lo = i + 2 < s.len ? hexval(p[i + 2]) : -1;
				if (hi >= 0 && lo >= 0) {
					o[at++] = (char)(hi << 4 | lo);
					i += 3;
					continue;
				}
				size_t k = i + 3 < s.len ? 3 : s.len - i;
				memcpy(o + at, p + i, k);
				at += k;
				i += k;
			}
			break;
		case S_QUOTE_META:
			if (!(o = salloc(c, s.len * 2)))
				return c->rc;
			for (size_t i = 0; i < s.len; i++) {
				if (memchr("\\|()^$.[]?*+{:-", p[i], 15) || p[i] == 0)
					o[at++] = '\\';
				o[at++] = (char)p[i];
			}
			break;
		default: return xunsupported(c, n, n->name);
		}
		out->s[r] = (struct sn_str){o, at};
	}
	return 0;
}

/* ascii(s): the first byte, 0 for ''. Int32 in ClickHouse; Int64 here. */
static int fn_ascii(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (v.t != SN_XT_STRING && v.t != SN_XT_NULL)
		return bad_type(c, n, &v, 0);
	if (out_for(c, out, SN_XT_INT, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		struct sn_str s = str_at(&v, r);
		out->i[r] = vec_null(out, r) || !s.len ? 0 : (unsigned char)s.p[0];
	}
	return 0;
}

/* port(url[, default]): the digits after the host's ':' up to a '/' or
 * the end; default (0 without it) when there are none, when anything
 * else follows or when they pass 65535. As in ClickHouse, the digits are
 * accumulated onto the default (port('http://a.b:8', 1) is 18). */
static int fn_port(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 1, 2, v) || need_text(c, n, &v[0], 0))
		return c->rc;
	int64_t dflt = 0;
	if (n->list.n == 2) {
		const node_t *a = n->list.items[1];
		if (v[1].t == SN_XT_NULL)
			return vec_make(c, out, SN_XT_NULL, true, c->n);
		if (!is_intlike(v[1].t))
			return bad_type(c, n, &v[1], 1);
		if (a->kind != SN_HQ_CONSTANT || a->ctype != SN_HQC_INT)
			return xfail(c, a, SN_ERR_INVALID, "QueryError",
				     "Second argument for function port must be constant UInt16");
		dflt = a->ival;
		if (dflt < 0 || dflt > 65535)
			return xfail(c, a, SN_ERR_INVALID, "QueryError",
				     "Illegal type of second argument of function port: %" PRId64
				     " is not a UInt16",
				     dflt);
	}
	if (out_for(c, out, SN_XT_UINT, v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		out->i[r] = dflt;
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r);
		struct sn_str h = xurl_host(s.p, s.len);
		if (!h.len || h.len == s.len)
			continue;
		const char *p = h.p + h.len, *end = s.p + s.len;
		if (p >= end || *p++ != ':')
			continue;
		int64_t port = dflt;
		bool ok = true;
		for (; p < end && *p != '/'; p++) {
			if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535) {
				ok = false;
				break;
			}
		}
		out->i[r] = ok ? port : dflt;
	}
	return 0;
}

/* splitByNonAlpha(s[, max]): the runs of bytes that are neither ASCII
 * whitespace nor ASCII punctuation. NULL reads as '' (as splitByWhitespace). */
static bool non_alpha(unsigned char ch)
{
	return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch < 0x80 && ispunct(ch));
}

static int fn_split_non_alpha(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
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
		int64_t limit = n->list.n == 2 && !isnul(&v[1], r) && v[1].i[r] > 0 ? v[1].i[r] : 0;
		size_t i = 0;
		while (i < s.len && (!limit || (int64_t)(ps.n - ps.off[r]) < limit)) {
			if (non_alpha((unsigned char)s.p[i])) {
				i++;
				continue;
			}
			size_t at = i;
			while (i < s.len && !non_alpha((unsigned char)s.p[i]))
				i++;
			if (xparts_add(c, &ps, s.p + at, i - at))
				return c->rc;
		}
	}
	return xparts_array(c, &ps, out);
}

/* translate(s, from, to): each ASCII byte of from becomes the byte at the
 * same place in to, or is deleted when to is shorter (ClickHouse's
 * TranslateImpl: a later entry for the same byte wins); bytes above 0x7F
 * are kept. from and to are constant ASCII strings, to no longer than from. */
static int fn_translate(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[3];
	bool done;
	const char *from = NULL, *to = NULL;
	if (eval_args(c, n, 3, 3, v) || need_text(c, n, &v[0], 0) || need_text(c, n, &v[1], 1) ||
	    need_text(c, n, &v[2], 2))
		return c->rc;
	if (v[1].t != SN_XT_NULL && v[2].t != SN_XT_NULL &&
	    (need_const_text(c, n, 1, &from) || need_const_text(c, n, 2, &to)))
		return c->rc;
	if (out_for(c, out, SN_XT_STRING, v, 3, &done) || done)
		return c->rc;
	size_t nf = strlen(from), nt = strlen(to);
	if (nf < nt)
		return xfail(
		    c, n, SN_ERR_INVALID, "QueryError",
		    "Second argument of function translate must not be shorter than the third "
		    "argument. Size of the second argument: %zu, size of the third argument: %zu",
		    nf, nt);
	int map[128];
	for (int k = 0; k < 128; k++)
		map[k] = k;
	for (size_t k = 0; k < nf; k++) {
		unsigned char a = (unsigned char)from[k], b = k < nt ? (unsigned char)to[k] : 0;
		if (a > 0x7F || b > 0x7F)
			return xfail(
			    c, n, SN_ERR_INVALID, "QueryError",
			    "Second and third arguments of function translate must be ASCII "
			    "strings");
		map[a] = k < nt ? b : -1;
	}
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v[0], r);
		char *o = salloc(c, s.len);
		if (!o)
			return c->rc;
		size_t at = 0;
		for (size_t i = 0; i < s.len; i++) {
			unsigned char ch = (unsigned char)s.p[i];
			if (ch > 0x7F)
				o[at++] = (char)ch;
			else if (map[ch] >= 0)
				o[at++] = (char)map[ch];
		}
		out->s[r] = (struct sn_str){o, at};
	}
	return 0;
}

/* countSubstrings(s, needle[, start]): the non-overlapping occurrences of
 * needle from byte start (1-based; 0 reads as 1); 0 for an empty needle or
 * a start past the end. */
static int fn_count_substrings(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[3];
	bool done;
	size_t na = n->list.n;
	if (eval_args(c, n, 2, 3, v) || need_text(c, n, &v[0], 0) || need_text(c, n, &v[1], 1) ||
	    (na == 3 && need_int(c, n, &v[2], 2)) || out_for(c, out, SN_XT_UINT, v, na, &done) ||
	    done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		out->i[r] = 0;
		if (vec_null(out, r))
			continue;
		struct sn_str h = str_at(&v[0], r), nd = str_at(&v[1], r);
		uint64_t start = na == 3 ? (uint64_t)v[2].i[r] : 0;
		if (start)
			start--;
		if (!nd.len || start > h.len)
			continue;
		const char *p = h.p + start, *e = h.p + h.len;
		while ((size_t)(e - p) >= nd.len) {
			const char *f = memmem(p, (size_t)(e - p), nd.p, nd.len);
			if (!f)
				break;
			out->i[r]++;
			p = f + nd.len;
		}
	}
	return 0;
}

/* The span cutURLParameter removes for name (ClickHouse's cutURL): the
 * first "name=" after the first '?' or '#', when a '?', '#' or '&' precedes
 * it, through its value and one '&' after it (or the '&' before it when it
 * is the last). Today's ClickHouse looks at the URL without its last byte
 * (its end pointer is one short), which this keeps. */
static struct sn_str url_param_span(struct sn_str u, struct sn_str name)
{
	struct sn_str none = {u.p, 0};
	if (!u.len)
		return none;
	const char *begin = u.p, *last = u.p + u.len - 1, *qs = begin;
	while (qs < last && *qs != '?' && *qs != '#')
		qs++;
	if (qs + 1 >= last)
		return none;
	const char *pos = NULL;
	size_t hay = (size_t)(last - qs - 1), pl = name.len + 1;
	for (const char *p = qs + 1; !pos && hay >= pl;) {
		const char *f = memmem(p, hay, name.p, name.len);
		if (!f)
			return none;
		if (f[name.len] == '=' && f + pl <= last)
			pos = f;
		else {
			hay -= (size_t)(f + 1 - p);
			p = f + 1;
		}
	}
	if (!pos || (pos[-1] != '?' && pos[-1] != '#' && pos[-1] != '&'))
		return none;
	const char *b = pos, *e = pos + pl, *end = u.p + u.len;
	while (e < end && *e != '&' && *e != '#')
		e++;
	if (e < end && *e == '&')
		e++;
	else if (b[-1] == '&')
		b--;
	return (struct sn_str){b, (size_t)(e - b)};
}

/* cutURLParameter(url, name): url without the parameter name (see
 * url_param_span); name is a constant String, or a constant Array(String)
 * whose names are cut one after the other, as ClickHouse does. */
static int fn_cut_url_param(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	bool done;
	const char *name = NULL;
	struct sn_str one, *names = &one;
	size_t nn = 1;
	if (eval_args(c, n, 2, 2, v) || need_text(c, n, &v[0], 0))
		return c->rc;
	if (v[1].t == SN_XT_ARRAY) {
		uint8_t et;
		bool en;
		const char *ect;
		if (!xconst_tree(n->list.items[1], false))
			return xunsupported(c, n->list.items[1],
					    "a non-constant argument 2 of cutURLParameter()");
		if (xarr_elem(c, v[1].ct, 0, &et, &en, &ect))
			return c->rc;
		if (et != SN_XT_STRING && et != SN_XT_NULL)
			return xfail(c, n->list.items[1], SN_ERR_INVALID, "QueryError",
				     "Second argument of function cutURLParameter must be constant "
				     "array of strings");
		struct xait it;
		struct sn_exec_value x;
		nn = c->n ? xarr_count(v[1].s[0]) : 0;
		if (!(names = xalloc(c, c->ba, (nn + 1) * sizeof(*names))))
			return c->rc;
		size_t k = 0;
		xait_init(&it, c->n ? v[1].s[0] : (struct sn_str){NULL, 0});
		while (k < nn && xait_next(&it, &x))
			if (!x.null)
				names[k++] = x.s;
		nn = k;
		if (vec_make(c, &v[1], SN_XT_STRING, false, c->n))
			return c->rc;
	} else {
		if (need_text(c, n, &v[1], 1) ||
		    (v[1].t != SN_XT_NULL && need_const_text(c, n, 1, &name)))
			return c->rc;
		if (name)
			one = (struct sn_str){name, strlen(name)};
	}
	if (out_for(c, out, SN_XT_STRING, v, 2, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str u = str_at(&v[0], r);
		char *o = NULL;
		for (size_t k = 0; k < nn; k++) {
			struct sn_str cut = url_param_span(u, names[k]);
			if (!cut.len)
				continue;
			size_t head = (size_t)(cut.p - u.p), len = u.len - cut.len;
			if (!o && !(o = salloc(c, u.len)))
				return c->rc;
			/* o may be u itself after an earlier cut: move, not copy */
			memmove(o, u.p, head);
			memmove(o + head, cut.p + cut.len, u.len - head - cut.len);
			u = (struct sn_str){o, len};
		}
		out->s[r] = u;
	}
	return 0;
}

/* ngramDistance(a, b) (ClickHouse's NgramDistanceImpl<4, UInt8, false,
 * false, true>): the byte 4-grams of both strings, each counted in a map of
 * 2^16 buckets by the low 16 bits of its CRC-32C (intHashCRC32 of the four
 * bytes as a little-endian integer), and the size of the symmetric
 * difference of the two multisets over the number of 4-grams of both; 1
 * when either string passes 32 KiB. ClickHouse's result is a Float32;
 * here it is the Float64 of its shortest text (float32_shortest). */
#define NGRAM_MAX_STRING ((size_t)1 << 15)

static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t x = i;
		for (int k = 0; k < 8; k++)
			x = x & 1 ? x >> 1 ^ 0x82F63B78u : x >> 1;
		crc32c_table[i] = x;
	}
}

/* _mm_crc32_u64(0xFFFFFFFF, x): CRC-32C of x's eight bytes, least
 * significant first, from an all-ones register, without a final xor. */
static uint16_t ngram_hash(const unsigned char *p)
{
	uint64_t x =
	    (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
	uint32_t crc = 0xFFFFFFFFu;
	for (int k = 0; k < 8; k++, x >>= 8)
		crc = crc >> 8 ^ crc32c_table[(crc ^ (uint32_t)x) & 0xFF];
	return (uint16_t)crc;
}

/* The double nearest the shortest decimal text that reads back as x, so
 * that the Float32 ClickHouse answers prints here as it prints there
 * (0.06666667, not 0.06666667014360428). */
static double float32_shortest(float x)
{
	char buf[32];
	for (int prec = 1; prec < 9; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, (double)x);
		double d = strtod(buf, NULL);
		if ((float)d == x)
			return d;
	}
	return (double)x;
}

static int fn_ngram_distance(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_text(c, n, &v[0], 0) || need_text(c, n, &v[1], 1) ||
	    out_for(c, out, SN_XT_FLOAT, v, 2, &done) || done)
		return c->rc;
	pthread_once(&crc32c_once, crc32c_init);
	int16_t *stats = xalloc(c, c->ba, 65536 * sizeof(*stats));
	if (!stats)
		return c->rc;
	memset(stats, 0, 65536 * sizeof(*stats));
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str h = str_at(&v[0], r), nd = str_at(&v[1], r);
		if (h.len > NGRAM_MAX_STRING || nd.len > NGRAM_MAX_STRING) {
			out->f[r] = 1;
			continue;
		}
		const unsigned char *hp = (const unsigned char *)h.p,
				    *np = (const unsigned char *)nd.p;
		size_t nn = nd.len >= 4 ? nd.len - 3 : 0, nh = h.len >= 4 ? h.len - 3 : 0;
		size_t dist = nn;
		for (size_t i = 0; i < nn; i++)
			stats[ngram_hash(np + i)]++;
		for (size_t i = 0; i < nh; i++) {
			uint16_t k = ngram_hash(hp + i);
			if (stats[k] > 0)
				dist--;
			else
				dist++;
			stats[k]--;
		}
		/* back to all zeros for the next row */
		for (size_t i = 0; i < nh; i++)
			stats[ngram_hash(hp + i)]++;
		for (size_t i = 0; i < nn; i++)
			stats[ngram_hash(np + i)]--;
		out->f[r] = float32_shortest((float)dist / (float)(nh + nn ? nh + nn : 1));
	}
	return 0;
}

/* ---- JSON ------------------------------------------------------------------------- */

/* Follows the path (v[1..np], row r) from row r's document v[0]: 1 with
 * *out and the last step's key (*name, zeroed when there is none) when it
 * leads to a value; 0 when not or when the JSON is invalid. */
static int jfind(const struct vec *v, size_t np, size_t r, struct sn_jspan *out,
		 struct sn_jspan *name)
{
	struct sn_str doc = str_at(&v[0], r);
	memset(name, 0, sizeof(*name));
	if (sn_jscan_document(doc.p, doc.len, out, NULL) < 0)
		return 0;
	for (size_t k = 1; k <= np; k++) {
		const struct vec *pv = &v[k];
		bool ok;
		if (pv->s) {
			struct sn_str want = str_at(pv, r);
			ok = xjson_step(out, want.p, want.len, 0, name);
		} else {
			ok = xjson_step(out, NULL, 0, pv->i[r], name);
		}
		if (!ok)
			return 0;
	}
	return 1;
}

/* Checks the path arguments v[from..to) (keys or indexes). */
static int jpath_types(struct xctx *c, const node_t *n, struct vec *v, size_t from, size_t to)
{
	for (size_t k = from; k < to; k++)
		if (!(is_text(v[k].t) || is_intlike(v[k].t) || v[k].t == SN_XT_NULL))
			return bad_type(c, n, &v[k], k);
	return 0;
}

/* The decoded text of a string span: the bytes themselves when it has no
 * escapes, else a batch copy. false when out of memory (c->rc set). */
static bool jstring(struct xctx *c, struct sn_buf *b, const struct sn_jspan *j, struct sn_str *out)
{
	if (!(j->flags & SN_JSPAN_ESCAPED)) {
		out->p = sn_jspan_raw(j, &out->len);
		return true;
	}
	sn_buf_reset(b);
	if (sn_jspan_unescape(j, b) < 0) {
		xnomem(c);
		return false;
	}
	return sstr_of_buf(c, b, out);
}

/* The value's text without the whitespace between tokens (as JSONExtractRaw
 * reads here): the span itself when it has none. */
static bool jraw(struct xctx *c, const struct sn_jspan *j, struct sn_str *out)
{
	bool in_str = false, ws = false;
	for (uint32_t i = 0; i < j->len && !ws; i++) {
		char ch = j->p[i];
		if (in_str) {
			if (ch == '\\')
				i++;
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
		} else {
			ws = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
		}
	}
	if (!ws) {
		*out = (struct sn_str){j->p, j->len};
		return true;
	}
	char *o = salloc(c, j->len);
	if (!o)
		return false;
	size_t at = 0;
	in_str = false;
	for (uint32_t i = 0; i < j->len; i++) {
		char ch = j->p[i];
		if (in_str) {
			o[at++] = ch;
			if (ch == '\\' && i + 1 < j->len)
				o[at++] = j->p[++i];
			else if (ch == '"')
				in_str = false;
		} else if (ch == '"') {
			in_str = true;
			o[at++] = ch;
		} else if (!(ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r')) {
			o[at++] = ch;
		}
	}
	*out = (struct sn_str){o, at};
	return true;
}

/* JSONType's name of a number: Int64 when it is an integer in Int64's
 * range, UInt64 above that up to 2^64 - 1, Double otherwise. */
static const char *jnumber_type(const struct sn_jspan *j)
{
	if (!(j->flags & SN_JSPAN_INT))
		return "Double";
	int64_t x;
	if (j->p[0] == '-') {
		char buf[32];
		if (j->len >= sizeof(buf))
			return "Double";
		memcpy(buf, j->p, j->len);
		buf[j->len] = 0;
		return parse_int_text(buf, j->len, &x) ? "Int64" : "Double";
	}
	/* digits only: compare with the bounds as text */
	static const char i64max[] = "9223372036854775807", u64max[] = "18446744073709551615";
	size_t len = j->len;
	if (len < 19 || (len == 19 && memcmp(j->p, i64max, 19) <= 0))
		return "Int64";
	if (len < 20 || (len == 20 && memcmp(j->p, u64max, 20) <= 0))
		return "UInt64";
	return "Double";
}

enum { J_VALID, J_TYPE, J_KEY };

/* isValidJSON(json), JSONType(json, path...), JSONExtractKey(json, path...)
 * (ClickHouse's JSONKey: the key the path's last step took; '' when there
 * is none, the path leads nowhere or the JSON is invalid). */
static int fn_json1(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec *v;
	bool done;
	if (eval_all(c, n, 1, &v) || need_text(c, n, &v[0], 0))
		return c->rc;
	size_t na = n->list.n;
	if (op == J_VALID && na != 1)
		return need_args(c, n, 1, 1);
	if (jpath_types(c, n, v, 1, na) ||
	    out_for(c, out, op == J_VALID ? SN_XT_BOOL : SN_XT_STRING, v, na, &done) || done)
		return c->rc;
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	for (size_t r = 0; r < c->n && !c->rc; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_jspan j, name;
		bool found = jfind(v, na - 1, r, &j, &name) == 1;
		if (op == J_VALID) {
			out->i[r] = found;
			continue;
		}
		if (op == J_KEY) {
			out->s[r] = (struct sn_str){"", 0};
			if (found && name.type == SN_JSTRING)
				jstring(c, &b, &name, &out->s[r]);
			continue;
		}
		const char *t = "Null";
		if (found) {
			switch (j.type) {
			case SN_JSTRING: t = "String"; break;
			case SN_JARRAY: t = "Array"; break;
			case SN_JOBJECT: t = "Object"; break;
			case SN_JTRUE:
			case SN_JFALSE: t = "Bool"; break;
			case SN_JNUMBER: t = jnumber_type(&j); break;
			default: break;
			}
		}
		out->s[r] = (struct sn_str){t, strlen(t)};
	}
	sn_buf_release(&b);
	return c->rc;
}

/* The value type of JSONExtractKeysAndValues. */
struct jtype {
	uint8_t t; /* SN_XT_STRING, INT, UINT, FLOAT or BOOL */
	bool nullable;
	int bits;	/* integers: 8, 16, 32 or 64 */
	const char *ct; /* the tuple's type name */
};

/* Parses the constant type name s into *jt; false for a type this
 * executor does not extract. */
static bool jtype_parse(const char *s, struct jtype *jt)
{
	char buf[64];
	size_t len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	while (len && isspace((unsigned char)*s))
		s++, len--;
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = 0;
	char *p = buf;
	memset(jt, 0, sizeof(*jt));
	for (int unwrap = 0; unwrap < 2; unwrap++) {
		size_t pl = strlen(p);
		if (strncmp(p, "Nullable(", 9) == 0 && p[pl - 1] == ')') {
			jt->nullable = true;
			p[pl - 1] = 0;
			p += 9;
		} else if (strncmp(p, "LowCardinality(", 15) == 0 && p[pl - 1] == ')') {
			p[pl - 1] = 0;
			p += 15;
		}
	}
	static const struct {
		const char *name;
		uint8_t t;
		int bits;
	} names[] = {
	    {"String", SN_XT_STRING, 0}, {"Int8", SN_XT_INT, 8},      {"Int16", SN_XT_INT, 16},
	    {"Int32", SN_XT_INT, 32},	 {"Int64", SN_XT_INT, 64},    {"Int", SN_XT_INT, 32},
	    {"UInt8", SN_XT_UINT, 8},	 {"UInt16", SN_XT_UINT, 16},  {"UInt32", SN_XT_UINT, 32},
	    {"UInt64", SN_XT_UINT, 64},	 {"Float32", SN_XT_FLOAT, 0}, {"Float64", SN_XT_FLOAT, 0},
	    {"Bool", SN_XT_BOOL, 0},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(names); i++)
		if (strcmp(p, names[i].name) == 0) {
			jt->t = names[i].t;
			jt->bits = names[i].bits;
			return true;
		}
	return false;
}

/* A finite double as an integer of jt's width (truncated); false when it
 * is out of range. */
static bool jint_of_double(double d, const struct jtype *jt, int64_t *out)
{
	d = trunc(d);
	if (!isfinite(d))
		return false;
	if (jt->t == SN_XT_UINT) {
		double hi = jt->bits == 64 ? 18446744073709551616.0 : ldexp(1, jt->bits);
		if (d < 0 || d >= hi)
			return false;
		*out = (int64_t)(uint64_t)d;
		return true;
	}
	double lim = ldexp(1, jt->bits - 1);
	if (d < -lim || d >= lim)
		return false;
	*out = (int64_t)d;
	return true;
}

/* Integer text x (from a JSON number or string) in jt's range. */
static bool jint_fits(bool neg, uint64_t mag, const struct jtype *jt, int64_t *out)
{
	if (jt->t == SN_XT_UINT) {
		if (neg && mag)
			return false;
		if (jt->bits < 64 && mag >> jt->bits)
			return false;
		*out = (int64_t)mag;
		return true;
	}
	uint64_t lim = (uint64_t)1 << (jt->bits - 1);
	if (neg ? mag > lim : mag >= lim)
		return false;
	*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	return true;
}

/* Decimal digits with an optional sign (ClickHouse's readIntText, whole
 * text): sign and magnitude; false when it is not one or passes 2^64. */
static bool jparse_int(const char *p, size_t len, bool *neg, uint64_t *mag)
{
	size_t i = 0;
	*neg = false;
	*mag = 0;
	if (i < len && (p[i] == '-' || p[i] == '+'))
		*neg = p[i++] == '-';
	if (i == len)
		return false;
	for (; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		uint64_t d = (uint64_t)(p[i] - '0');
		if (*mag > (UINT64_MAX - d) / 10)
			return false;
		*mag = *mag * 10 + d;
	}
	return true;
}

/* The value of one member as JSONExtract's tree does it for type jt
 * (conversions allowed): into *x; false when it cannot be (the key is
 * then dropped). A JSON null is NULL when jt is nullable, else dropped. */
static bool jvalue(struct xctx *c, struct sn_buf *b, const struct sn_jspan *j,
		   const struct jtype *jt, struct sn_exec_value *x)
{
	memset(x, 0, sizeof(*x));
	x->type = jt->t;
	if (j->type == SN_JNULL) { /* JSON functions set null_as_default off */
		x->null = true;
		return jt->nullable;
	}
	if (jt->t == SN_XT_STRING) {
		if (j->type == SN_JSTRING)
			return jstring(c, b, j, &x->s);
		return jraw(c, j, &x->s);
	}
	if (j->type == SN_JTRUE || j->type == SN_JFALSE) {
		x->i = j->type == SN_JTRUE;
		x->f = (double)x->i;
		return true;
	}
	double d;
	bool neg;
	uint64_t mag;
	const char *p = j->p;
	size_t len = j->len;
	if (j->type == SN_JSTRING) {
		if (j->flags & SN_JSPAN_ESCAPED)
			return false;
		p = sn_jspan_raw(j, &len);
	} else if (j->type != SN_JNUMBER) {
		return false;
	}
	if (jt->t == SN_XT_FLOAT) {
		if (!parse_float_text(p, len, &d))
			return false;
		x->f = d;
		return true;
	}
	int64_t iv;
	bool ok;
	if (jparse_int(p, len, &neg, &mag)) {
		struct jtype w = *jt;
		if (jt->t == SN_XT_BOOL)
			w.t = SN_XT_INT, w.bits = 64;
		ok = jint_fits(neg, mag, &w, &iv);
		if (!ok && jt->t == SN_XT_BOOL) /* any non-zero integer is true */
			ok = true, iv = 1;
	} else {
		struct jtype w = *jt;
		if (jt->t == SN_XT_BOOL)
			w.t = SN_XT_INT, w.bits = 64;
		ok = parse_float_text(p, len, &d) && jint_of_double(d, &w, &iv);
	}
	if (!ok)
		return false;
	x->i = jt->t == SN_XT_BOOL ? iv != 0 : iv;
	return true;
}

/* JSONExtractKeysAndValues(json, path..., type) (op 0): the members of the
 * object the path leads to as (key, value of type) tuples, members whose
 * value does not convert left out; JSONExtractKeysAndValuesRaw(json,
 * path...) (op 1): (key, raw value) for every member. [] when the path
 * leads to no object, the JSON is invalid, or an argument is NULL. */
static int fn_json_kv(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec *v;
	struct jtype jt = {.t = SN_XT_STRING};
	size_t na = n->list.n, npath;
	if (eval_all(c, n, op ? 1 : 2, &v) || (v[0].t != SN_XT_NULL && need_text(c, n, &v[0], 0)))
		return c->rc;
	npath = op ? na - 1 : na - 2;
	if (!op) {
		const char *tn = NULL;
		if (need_const_text(c, n, na - 1, &tn))
			return c->rc;
		if (!jtype_parse(tn, &jt)) {
			char what[160];
			snprintf(what, sizeof(what), "values of type %.64s in %s()", tn, n->name);
			return xunsupported(c, n->list.items[na - 1], what);
		}
	}
	if (jpath_types(c, n, v, 1, 1 + npath))
		return c->rc;
	char tb[48];
	const char *vt =
	    jt.t == SN_XT_BOOL ? "Bool" : sn_exec_type_name(jt.t, false, tb, sizeof(tb));
	size_t tlen = strlen(vt) + 32;
	char *ct = xalloc(c, c->qa, tlen);
	if (!ct)
		return c->rc;
	snprintf(ct, tlen, jt.nullable ? "Tuple(String, Nullable(%s))" : "Tuple(String, %s)", vt);
	uint32_t *off = xalloc(c, c->ba, (c->n + 1) * sizeof(*off));
	if (!off)
		return c->rc;
	struct sn_buf tb_all, sb;
	sn_buf_init(&tb_all, c->mem_limit);
	sn_buf_init(&sb, c->mem_limit);
	size_t m = 0, mcap = c->n + 16;
	size_t *ends = xalloc(c, c->ba, mcap * sizeof(*ends));
	if (!ends)
		goto out;
	for (size_t r = 0; r < c->n; r++) {
		off[r] = (uint32_t)m;
		bool null = false;
		for (size_t k = 0; k <= npath && !null; k++)
			null = isnul(&v[k], r);
		struct sn_jspan j, name, key, val;
		if (null || jfind(v, npath, r, &j, &name) != 1 || j.type != SN_JOBJECT)
			continue;
		struct sn_jscan sc;
		sn_jscan_init(&sc, j.p, j.len, NULL);
		if (sn_jscan_enter(&sc) < 0)
			continue;
		while (sn_jscan_next_key(&sc, &key) > 0 && sn_jscan_skip(&sc, &val) == 0) {
			struct sn_exec_value kx = {.type = SN_XT_STRING}, vx;
			if (!jstring(c, &sb, &key, &kx.s))
				goto out;
			bool ok;
			if (op) {
				vx = (struct sn_exec_value){.type = SN_XT_STRING};
				ok = jraw(c, &val, &vx.s);
				if (!ok)
					goto out;
			} else {
				ok = jvalue(c, &sb, &val, &jt, &vx);
				if (c->rc)
					goto out;
			}
			if (!ok)
				continue;
			uint32_t two = 2;
			if (sn_buf_append(&tb_all, &two, sizeof(two)) || xarr_put(&tb_all, &kx) ||
			    xarr_put(&tb_all, &vx)) {
				xnomem(c);
				goto out;
			}
			if (m == mcap) {
				size_t *ne = xalloc(c, c->ba, 2 * mcap * sizeof(*ne));
				if (!ne)
					goto out;
				memcpy(ne, ends, m * sizeof(*ne));
				ends = ne, mcap *= 2;
			}
			ends[m++] = tb_all.len;
		}
		if (m > UINT32_MAX / 2) {
			xfail(c, n, SN_ERR_TOO_BIG, "QueryError", "too many array elements");
			goto out;
		}
	}
	off[c->n] = (uint32_t)m;
	struct vec e;
	char *mem = xalloc(c, c->ba, tb_all.len + 1);
	if (!mem || vec_make(c, &e, SN_XT_TUPLE, false, m))
		goto out;
	if (tb_all.len)
		memcpy(mem, tb_all.data, tb_all.len);
	e.ct = ct;
	for (size_t k = 0; k < m; k++) {
		size_t from = k ? ends[k - 1] : 0;
		e.s[k] = (struct sn_str){mem + from, ends[k] - from};
	}
	xarr_build(c, &e, off, c->n, out);
out:
	sn_buf_release(&tb_all);
	sn_buf_release(&sb);
	return c->rc;
}

/* Stores value x (of jt's type) into row r of out; a failed conversion
 * (ok false) stores the type's default: NULL when nullable, else 0 or ''. */
static void jput(struct vec *out, size_t r, const struct jtype *jt, bool ok,
		 const struct sn_exec_value *x)
{
	if (out->nulls)
		out->nulls[r] = ok ? x->null : jt->nullable;
	if (out->s)
		out->s[r] = ok && !x->null ? x->s : (struct sn_str){"", 0};
	else if (out->f)
		out->f[r] = ok && !x->null ? x->f : 0;
	else
		out->i[r] = ok && !x->null ? x->i : 0;
}

/* JSONExtract(json, path..., type): the value the path leads to as type,
 * the type's default when there is none or it does not convert (NULL for a
 * Nullable type). Types: those of JSONExtractKeysAndValues, and Array() of
 * them, whose elements that do not convert read as the default. */
static int fn_json_extract(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec *v;
	struct jtype jt;
	bool done, arr = false;
	const char *tn = NULL;
	if (eval_all(c, n, 2, &v) || (v[0].t != SN_XT_NULL && need_text(c, n, &v[0], 0)))
		return c->rc;
	size_t na = n->list.n, npath = na - 2;
	if (need_const_text(c, n, na - 1, &tn))
		return c->rc;
	char inner[64];
	size_t tl = strlen(tn);
	if (tl > 7 && tl - 7 < sizeof(inner) && strncmp(tn, "Array(", 6) == 0 &&
	    tn[tl - 1] == ')') {
		arr = true;
		memcpy(inner, tn + 6, tl - 7);
		inner[tl - 7] = 0;
	}
	if (!jtype_parse(arr ? inner : tn, &jt)) {
		char what[160];
		snprintf(what, sizeof(what), "values of type %.64s in %s()", tn, n->name);
		return xunsupported(c, n->list.items[na - 1], what);
	}
	if (jpath_types(c, n, v, 1, 1 + npath))
		return c->rc;
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	if (!arr) {
		if (out_for(c, out, jt.t, v, na - 1, &done) || done)
			goto out;
		if (jt.nullable && !out->nulls) {
			if (!(out->nulls = xalloc(c, c->ba, c->n)))
				goto out;
			memset(out->nulls, 0, c->n);
			out->nullable = true;
		}
		for (size_t r = 0; r < c->n && !c->rc; r++) {
			if (vec_null(out, r))
				continue;
			struct sn_jspan j, name;
			struct sn_exec_value x = {0};
			bool ok = jfind(v, npath, r, &j, &name) == 1 && jvalue(c, &b, &j, &jt, &x);
			jput(out, r, &jt, ok, &x);
		}
		goto out;
	}
	uint32_t *off = xalloc(c, c->ba, (c->n + 1) * sizeof(*off));
	size_t m = 0, cap = c->n + 16;
	struct sn_exec_value *xs = xalloc(c, c->ba, cap * sizeof(*xs));
	if (!off || !xs)
		goto out;
	for (size_t r = 0; r < c->n; r++) {
		off[r] = (uint32_t)m;
		bool null = false;
		for (size_t k = 0; k <= npath && !null; k++)
			null = isnul(&v[k], r);
		struct sn_jspan j, name, e;
		if (null || jfind(v, npath, r, &j, &name) != 1 || j.type != SN_JARRAY)
			continue;
		struct sn_jscan sc;
		sn_jscan_init(&sc, j.p, j.len, NULL);
		if (sn_jscan_enter(&sc) < 0)
			continue;
		while (sn_jscan_next_elem(&sc) > 0 && sn_jscan_skip(&sc, &e) == 0) {
			if (m == cap) {
				struct sn_exec_value *nx = xalloc(c, c->ba, 2 * cap * sizeof(*nx));
				if (!nx)
					goto out;
				memcpy(nx, xs, m * sizeof(*nx));
				xs = nx, cap *= 2;
			}
			struct sn_exec_value *x = &xs[m++];
			if (!jvalue(c, &b, &e, &jt, x)) {
				if (c->rc)
					goto out;
				memset(x, 0, sizeof(*x));
				x->type = jt.t;
				x->null = jt.nullable;
				x->s = (struct sn_str){"", 0};
			}
		}
		if (m > UINT32_MAX / 2) {
			xfail(c, n, SN_ERR_TOO_BIG, "QueryError", "too many array elements");
			goto out;
		}
	}
	off[c->n] = (uint32_t)m;
	struct vec e;
	if (vec_make(c, &e, jt.t, jt.nullable, m))
		goto out;
	for (size_t k = 0; k < m; k++)
		vec_put_value(&e, k, &xs[k]);
	xarr_build(c, &e, off, c->n, out);
out:
	sn_buf_release(&b);
	return c->rc;
}

/* JSON_VALUE's path: '$' then steps, each a member (.name or ."name") or
 * an element ([n], 0-based, or [*] for every element). */
#define JPATH_MAX 32
struct jpstep {
	const char *key; /* member name, or NULL for an element */
	size_t klen;
	int64_t idx; /* element index; -1 = every element */
};

/* Parses path into steps; 1 when done, 0 for text that is no JSONPath, -1
 * for a JSONPath construct this executor does not evaluate. */
static int jpath_parse(const char *p, struct jpstep *st, size_t *n)
{
	*n = 0;
	while (*p == ' ')
		p++;
	if (*p++ != '$')
		return 0;
	while (*p) {
		if (*n == JPATH_MAX)
			return -1;
		struct jpstep *s = &st[(*n)++];
		if (*p == '.') {
			p++;
			if (*p == '"') {
				const char *e = strchr(p + 1, '"');
				if (!e)
					return 0;
				*s = (struct jpstep){p + 1, (size_t)(e - p - 1), 0};
				p = e + 1;
				continue;
			}
			if (*p == '*')
				return -1;
			size_t k = 0;
			while (p[k] && p[k] != '.' && p[k] != '[' && p[k] != ' ')
				k++;
			if (!k)
				return 0;
			*s = (struct jpstep){p, k, 0};
			p += k;
		} else if (*p == '[') {
			p++;
			while (*p == ' ')
				p++;
			if (*p == '*') {
				*s = (struct jpstep){NULL, 0, -1};
				p++;
			} else {
				if (*p < '0' || *p > '9')
					return *p == '-' || *p == '"' || *p == '\'' ? -1 : 0;
				int64_t x = 0;
				for (; *p >= '0' && *p <= '9'; p++)
					if ((x = x * 10 + (*p - '0')) > INT32_MAX)
						return 0;
				*s = (struct jpstep){NULL, 0, x};
			}
			while (*p == ' ')
				p++;
			if (*p != ']')
				return *p == ',' || *p == 't' ? -1 : 0;
			p++;
		} else if (*p == ' ') {
			p++;
			(*n)--;
		} else {
			return 0;
		}
	}
	return 1;
}

/* The first scalar (not an array or object) the steps st[k..n) lead to
 * from cur, trying every element at a [*] step in order. */
static bool jpath_first(struct sn_jspan cur, const struct jpstep *st, size_t k, size_t n,
			struct sn_jspan *out)
{
	if (k == n) {
		*out = cur;
		return cur.type != SN_JARRAY && cur.type != SN_JOBJECT;
	}
	struct sn_jspan name;
	if (st[k].key) {
		return xjson_step(&cur, st[k].key, st[k].klen, 0, &name) &&
		       jpath_first(cur, st, k + 1, n, out);
	}
	if (cur.type != SN_JARRAY)
		return false;
	if (st[k].idx >= 0)
		return xjson_step(&cur, NULL, 0, st[k].idx + 1, &name) &&
		       jpath_first(cur, st, k + 1, n, out);
	struct sn_jscan sc;
	struct sn_jspan e;
	sn_jscan_init(&sc, cur.p, cur.len, NULL);
	if (sn_jscan_enter(&sc) < 0)
		return false;
	while (sn_jscan_next_elem(&sc) > 0 && sn_jscan_skip(&sc, &e) == 0)
		if (jpath_first(e, st, k + 1, n, out))
			return true;
	return false;
}

/* JSON_VALUE(json, path): the first scalar the JSONPath leads to, as text
 * (a string decoded, anything else as its JSON text); '' when there is
 * none or the JSON is invalid. */
static int fn_json_value(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	bool done;
	const char *path = NULL;
	struct jpstep st[JPATH_MAX];
	size_t ns = 0;
	if (eval_args(c, n, 2, 2, v) || need_text(c, n, &v[0], 0) || need_text(c, n, &v[1], 1))
		return c->rc;
	if (v[1].t != SN_XT_NULL) {
		if (need_const_text(c, n, 1, &path))
			return c->rc;
		int rc = jpath_parse(path, st, &ns);
		if (rc == 0)
			return xfail(c, n->list.items[1], SN_ERR_INVALID, "QueryError",
				     "Unable to parse JSONPath '%.64s' of function JSON_VALUE",
				     path);
		if (rc < 0)
			return xunsupported(
			    c, n->list.items[1],
			    "this JSONPath (ranges, several indexes, .*) in JSON_VALUE()");
	}
	if (out_for(c, out, SN_XT_STRING, v, 2, &done) || done)
		return c->rc;
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	for (size_t r = 0; r < c->n && !c->rc; r++) {
		if (vec_null(out, r))
			continue;
		struct sn_str doc = str_at(&v[0], r);
		struct sn_jspan root, j;
		out->s[r] = (struct sn_str){"", 0};
		if (sn_jscan_document(doc.p, doc.len, &root, NULL) < 0 ||
		    !jpath_first(root, st, 0, ns, &j))
			continue;
		if (j.type == SN_JSTRING)
			jstring(c, &b, &j, &out->s[r]);
		else
			out->s[r] = (struct sn_str){j.p, j.len};
	}
	sn_buf_release(&b);
	return c->rc;
}

/* ---- toJSONString ----------------------------------------------------------------- */

/* A JSON string as ClickHouse's writeJSONString writes it by default:
 * '"', '\\' and '/' escaped, the C escapes for \b \f \n \r \t, other
 * control bytes as \u00XX, U+2028 and U+2029 escaped; other bytes as they
 * are. */
static int json_str(struct sn_buf *b, const char *s, size_t len)
{
	static const char hexd[] = "0123456789ABCDEF";
	int rc = sn_buf_appendc(b, '"');
	size_t i = 0, run = 0;
	for (; i < len && !rc; i++) {
		unsigned char ch = (unsigned char)s[i];
		char esc = 0;
		switch (ch) {
		case '"': esc = '"'; break;
		case '\\': esc = '\\'; break;
		case '/': esc = '/'; break;
		case '\b': esc = 'b'; break;
		case '\f': esc = 'f'; break;
		case '\n': esc = 'n'; break;
		case '\r': esc = 'r'; break;
		case '\t': esc = 't'; break;
		default: break;
		}
		bool sep = ch == 0xE2 && i + 2 < len && (unsigned char)s[i + 1] == 0x80 &&
			   ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9);
		if (!esc && ch >= 0x20 && !sep)
			continue;
		rc = sn_buf_append(b, s + run, i - run);
		if (rc)
			break;
		if (esc) {
			char e2[2] = {'\\', esc};
			rc = sn_buf_append(b, e2, 2);
		} else if (sep) {
			rc = sn_buf_appends(b, (unsigned char)s[i + 2] == 0xA8 ? "\\u2028"
									       : "\\u2029");
			i += 2;
		} else {
			char u[6] = {'\\', 'u', '0', '0', hexd[ch >> 4], hexd[ch & 15]};
			rc = sn_buf_append(b, u, 6);
		}
		run = i + 1;
	}
	if (!rc)
		rc = sn_buf_append(b, s + run, len - run);
	return rc ? rc : sn_buf_appendc(b, '"');
}

/* Whether element k of the composite type name ct is ClickHouse's Bool
 * (written true/false) rather than UInt8: the text of the element, found
 * by counting the commas at the outermost level of ct's parentheses. */
static bool elem_is_bool(const char *ct, size_t k)
{
	const char *p = ct ? strchr(ct, '(') : NULL;
	if (!p)
		return false;
	int depth = 0;
	for (p++; *p && k; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
		else if (*p == ',' && depth == 0)
			k--;
	}
	p += strspn(p, " ");
	if (strncmp(p, "Nullable(", 9) == 0)
		p += 9;
	return strncmp(p, "Bool", 4) == 0 && (p[4] == ')' || p[4] == ',');
}

/* One value x of static type t (ct for arrays and tuples; tbool: ClickHouse's
 * Bool) as JSON. */
static int json_value(struct xctx *c, struct sn_buf *b, const struct sn_exec_value *x, uint8_t t,
		      const char *ct, bool tbool, const struct sn_tz *z)
{
	char buf[64];
	if (x->null || x->type == SN_XT_NULL)
		return sn_buf_appends(b, "null");
	switch (t) {
	case SN_XT_BOOL:
		if (tbool)
			return sn_buf_appends(b, x->i ? "true" : "false");
		return sn_buf_appendf(b, "%" PRId64, x->i);
	case SN_XT_INT: return sn_buf_appendf(b, "%" PRId64, x->i);
	case SN_XT_UINT: return sn_buf_appendf(b, "%" PRIu64, (uint64_t)x->i);
	case SN_XT_FLOAT:
		if (!isfinite(x->f))
			return sn_buf_appends(b, "null");
		fmt_float(buf, sizeof(buf), x->f);
		return sn_buf_appends(b, buf);
	case SN_XT_STRING:
	case SN_XT_UUID:
		if (x->ubin) {
			sn_uuid_format(&x->u, buf);
			return json_str(b, buf, 36);
		}
		return json_str(b, x->s.p ? x->s.p : "", x->s.len);
	case SN_XT_DATE: {
		int64_t y;
		unsigned m, d;
		sn_civil_from_days(x->i, &y, &m, &d);
		return sn_buf_appendf(b, "\"%04" PRId64 "-%02u-%02u\"", y, m, d);
	}
	case SN_XT_DATETIME:
		xfmt_datetime_local(buf, sizeof(buf), x->i, z);
		return sn_buf_appendf(b, "\"%s\"", buf);
	case SN_XT_ARRAY:
	case SN_XT_TUPLE: {
		struct xait it;
		struct sn_exec_value e;
		int rc = sn_buf_appendc(b, '[');
		xait_init(&it, x->s);
		for (size_t k = 0; !rc && xait_next(&it, &e); k++) {
			uint8_t et;
			bool en;
			const char *ect;
			if (xarr_elem(c, ct, t == SN_XT_ARRAY ? 0 : k, &et, &en, &ect))
				return c->rc;
			bool eb = et == SN_XT_BOOL && elem_is_bool(ct, t == SN_XT_ARRAY ? 0 : k);
			if (k)
				rc = sn_buf_appendc(b, ',');
			if (!rc)
				rc = json_value(c, b, &e, e.null ? SN_XT_NULL : et, ect, eb, z);
		}
		return rc ? rc : sn_buf_appendc(b, ']');
	}
	default: return sn_buf_appends(b, "null");
	}
}

static int fn_to_json(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	if (eval_args(c, n, 1, 1, &v) || vec_uuid_text(c, &v) ||
	    vec_make(c, out, SN_XT_STRING, false, c->n))
		return c->rc;
	const node_t *a = n->list.items[0];
	/* ClickHouse's Bool (true/false): a boolean literal or toBool(); other
	 * UInt8 values (comparisons) are numbers. */
	bool tbool = (a->kind == SN_HQ_CONSTANT && a->ctype == SN_HQC_BOOL) ||
		     (a->kind == SN_HQ_CALL && a->name && strcmp(a->name, "toBool") == 0);
	const struct sn_tz *z = NULL;
	if (v.t == SN_XT_DATETIME && !(z = xvec_zone(c, &v, n)))
		return c->rc;
	if ((v.t == SN_XT_ARRAY || v.t == SN_XT_TUPLE) && !(z = xzone(c, n)))
		return c->rc;
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	for (size_t r = 0; r < c->n; r++) {
		struct sn_exec_value x;
		sn_buf_reset(&b);
		if (vec_value(c, &v, r, NULL, &x) ||
		    (json_value(c, &b, &x, v.t, v.ct, tbool, z) && !c->rc && xnomem(c)) || c->rc ||
		    !sstr_of_buf(c, &b, &out->s[r]))
			break;
	}
	sn_buf_release(&b);
	return c->rc;
}

/* ---- dispatch --------------------------------------------------------------------- */

static const struct scalar_def fns[] = {
    {"ascii", fn_ascii, 0, false},
    {"initcap", fn_str1, S_INITCAP, false},
    {"cutWWW", fn_str1, S_CUT_WWW, false},
    {"netloc", fn_str1, S_NETLOC, false},
    {"encodeURLComponent", fn_str1, S_ENCODE_URL, false},
    {"decodeURLComponent", fn_str1, S_DECODE_URL, false},
    {"regexpQuoteMeta", fn_str1, S_QUOTE_META, false},
    {"port", fn_port, 0, false},
    {"splitByNonAlpha", fn_split_non_alpha, 0, false},
    {"translate", fn_translate, 0, false},
    {"countSubstrings", fn_count_substrings, 0, false},
    {"cutURLParameter", fn_cut_url_param, 0, false},
    {"ngramDistance", fn_ngram_distance, 0, false},
    {"isValidJSON", fn_json1, J_VALID, false},
    {"JSONType", fn_json1, J_TYPE, false},
    {"JSONExtractKey", fn_json1, J_KEY, false},
    {"JSONExtract", fn_json_extract, 0, false},
    {"JSON_VALUE", fn_json_value, 0, false},
    {"JSONExtractKeysAndValues", fn_json_kv, 0, false},
    {"JSONExtractKeysAndValuesRaw", fn_json_kv, 1, false},
    {"toJSONString", fn_to_json, 0, false},
    {NULL, NULL, 0, false},
};

bool xfn_text(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	return scalar_dispatch(fns, SN_ARRAY_LEN(fns) - 1, c, n, out, rc);
}
