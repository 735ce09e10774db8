// fuzz-sources: src/base/*.c src/http/decode.c src/http/lzstring.c
// fuzz-sources: src/capture/process.c src/capture/decode.c src/capture/timestamp.c
// fuzz-sources: src/wal/evindex.c
/*
 * fuzz_jsonscan.c — differential libFuzzer target: the capture JSON scanner
 * (src/base/jsonscan.c) against json-c's strict parser (sn_json_parse).
 *
 * For any input:
 *  - if the scanner accepts, json-c accepts too, and walking the document
 *    with the cursor API gives the same values: strings decode to the same
 *    bytes, numbers to the same int64/double, containers have the same
 *    members, and every member's span re-parsed with json-c equals json-c's
 *    own value for it (the last one, for a duplicate key);
 *  - if json-c accepts and the scanner refuses, the scanner's error is at one
 *    of json-c's known leniencies, checked here independently: a raw control
 *    character, NaN or Infinity, a number token that RFC 8259's grammar
 *    refuses (-01, 1., -.5, 00), or UTF-8 that only the strict validator
 *    refuses (overlongs, encoded surrogates);
 *  - if json-c refuses, the scanner refuses.
 */
#include <stdint.h>
#include <string.h>

#include "http/http.h"

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static bool is_num_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* RFC 8259 number grammar, written independently of the scanner. */
static bool rfc_number(const char *p, size_t n)
{
	size_t i = 0;
	if (i < n && p[i] == '-')
		i++;
	if (i < n && p[i] == '0')
		i++;
	else if (i < n && p[i] >= '1' && p[i] <= '9')
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	else
		return false;
	if (i < n && p[i] == '.') {
		size_t d = ++i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return false;
	}
	return i == n;
}

/* json-c accepted, the scanner refused at off: must be a known leniency. */
static bool json_c_leniency(const char *p, size_t n, size_t off)
{
	if (off < n && ((unsigned char)p[off] < 0x20 || p[off] == 'N' || p[off] == 'I'))
		return true;
	/* json-c 0.16 takes single-quoted object keys even in strict mode. */
	if (off < n && p[off] == '\'')
		return true;
	/* json-c's UTF-8 check counts continuation bytes only (it passes
	 * overlongs and encoded surrogates); capture's decoder refuses those
	 * with the strict sn_utf8_valid before any JSON is parsed. */
	if (off < n && (unsigned char)p[off] >= 0x80 && !sn_utf8_valid(p, n))
		return true;
	/* The number token the offending byte is in, or just ends. */
	size_t at = off < n && is_num_char(p[off]) ? off : off - 1;
	if (off == 0 || at >= n || !is_num_char(p[at]))
		return false;
	size_t a = at, b = at + 1;
	while (a > 0 && is_num_char(p[a - 1]))
		a--;
	while (b < n && is_num_char(p[b]))
		b++;
	return !rfc_number(p + a, b - a);
}

static unsigned hexval(const char *p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
			     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
			     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
						    : 99;
		if (d == 99)
			return 0x10000;
		v = v << 4 | d;
	}
	return v;
}

/* json-c 0.16 decodes a surrogate pair whose code point has its low 16 bits
 * in D800..DFFF (U+1D800..U+1DFFF, U+2D800..., e.g. \ud836\ude00) to
 * U+FFFD, a json-c bug; the scanner decodes it right (unit-tested). Inputs
 * with such a pair are only checked for acceptance. */
static bool has_json_c_pair_bug(const char *p, size_t n)
{
	for (size_t i = 0; i + 12 <= n; i++) {
		if (p[i] != '\\' || p[i + 1] != 'u' || p[i + 6] != '\\' || p[i + 7] != 'u')
			continue;
		unsigned hi = hexval(p + i + 2), lo = hexval(p + i + 8);
		if (hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) {
			unsigned cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
			if ((cp & 0xf800) == 0xd800)
				return true;
		}
	}
	return false;
}

static void walk(struct sn_jscan *s, struct json_object *o, struct sn_buf *tmp);

/* A member's value: walked with the cursor, and its span re-parsed. */
static void walk_member(struct sn_jscan *s, struct json_object *o, struct sn_buf *tmp,
			bool compare_span)
{
	const char *start;
	check(sn_jscan_peek(s) > 0);
	start = s->p;
	walk(s, o, tmp);
	if (compare_span) {
		struct json_object *again;
		check(sn_json_parse(start, (size_t)(s->p - start), &again, NULL) == 0);
		check(json_object_equal(again, o));
		json_object_put(again);
	}
}

static void walk(struct sn_jscan *s, struct json_object *o, struct sn_buf *tmp)
{
	struct sn_jspan v, k;
	int t = sn_jscan_peek(s);
	check(t > 0);
	switch (t) {
	case SN_JOBJECT: {
		check(json_object_is_type(o, json_type_object));
		check(sn_jscan_enter(s) == 0);
		int r;
		size_t nkeys = 0;
		struct sn_buf k2buf;
		sn_buf_init(&k2buf, 0);
		while ((r = sn_jscan_next_key(s, &k)) > 0) {
			sn_buf_reset(tmp);
			check(sn_jspan_unescape(&k, tmp) == 0);
			check(sn_jspan_str_eq(&k, tmp->data ? tmp->data : "", tmp->len));
			/* json-c keys are C strings: "a\u0000b" is its "a". */
			const char *key = tmp->data ? tmp->data : "";
			/* json-c keeps the last value of a duplicate key: is a later
			 * member with the same key coming? Scan ahead on a copy. */
			struct sn_jscan ahead = *s;
			struct sn_jspan v2, k2;
			bool later = false;
			check(sn_jscan_skip(&ahead, &v2) == 0);
			int r2;
			while ((r2 = sn_jscan_next_key(&ahead, &k2)) > 0) {
				sn_buf_reset(&k2buf);
				check(sn_jspan_unescape(&k2, &k2buf) == 0);
				if (strcmp(k2buf.data ? k2buf.data : "", key) == 0)
					later = true;
				check(sn_jscan_skip(&ahead, &v2) == 0);
			}
			check(r2 == 0);
			if (later) {
				check(sn_jscan_skip(s, &v) == 0);
				continue;
			}
			struct json_object *child = NULL;
			nkeys++;
			check(json_object_object_get_ex(o, key, &child));
			walk_member(s, child, tmp, true);
		}
		sn_buf_release(&k2buf);
		check(r == 0);
		check(nkeys == (size_t)json_object_object_length(o));
		return;
	}
	case SN_JARRAY: {
		check(json_object_is_type(o, json_type_array));
		check(sn_jscan_enter(s) == 0);
		size_t i = 0;
		int r;
		while ((r = sn_jscan_next_elem(s)) > 0) {
			check(i < json_object_array_length(o));
			walk_member(s, json_object_array_get_idx(o, i), tmp, true);
			i++;
		}
		check(r == 0);
		check(i == json_object_array_length(o));
		return;
	}
	default: break;
	}
	check(sn_jscan_skip(s, &v) == 0);
	check(v.type == t);
	switch (v.type) {
	case SN_JSTRING:
		check(json_object_is_type(o, json_type_string));
		sn_buf_reset(tmp);
		check(sn_jspan_unescape(&v, tmp) == 0);
		check(tmp->len == (size_t)json_object_get_string_len(o));
		check(tmp->len == 0 || memcmp(tmp->data, json_object_get_string(o), tmp->len) == 0);
		check(sn_jspan_str_eq(&v, json_object_get_string(o), tmp->len));
		break;
	case SN_JNUMBER:
		if (v.flags & SN_JSPAN_INT) {
			int64_t i;
			check(json_object_is_type(o, json_type_int));
			check(sn_jspan_int64(&v, &i) == 0);
			check(i == json_object_get_int64(o));
		} else {
			double d;
			check(json_object_is_type(o, json_type_double));
			check(sn_jspan_int64(&v, &(int64_t){0}) != 0);
			check(sn_jspan_double(&v, &d) == 0);
			double e = json_object_get_double(o);
			check(memcmp(&d, &e, sizeof(d)) == 0);
		}
		break;
	case SN_JTRUE:
	case SN_JFALSE:
		check(json_object_is_type(o, json_type_boolean));
		check(json_object_get_boolean(o) == (v.type == SN_JTRUE));
		break;
	case SN_JNULL: check(o == NULL); break;
	default: check(false);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json_object *dom = NULL;
	struct sn_err jerr, serr;
	int jrc = sn_json_parse(text, size, &dom, &jerr);

	struct sn_jscan s;
	struct sn_jspan root;
	sn_jscan_init(&s, text, size, &serr);
	int src = sn_jscan_skip(&s, &root);
	src = src ? src : sn_jscan_finish(&s);
	check(src == sn_jscan_document(text, size, NULL, NULL));

	if (src == 0) {
		check(jrc == 0);
		if (has_json_c_pair_bug(text, size))
			goto out;
		struct sn_buf tmp;
		sn_buf_init(&tmp, 0);
		sn_jscan_init(&s, text, size, NULL);
		walk(&s, dom, &tmp);
		check(sn_jscan_finish(&s) == 0);
		sn_buf_release(&tmp);
	} else {
		check(strncmp(serr.msg, "invalid JSON", 12) == 0);
		check(s.err_off <= size);
		if (jrc == 0)
			check(json_c_leniency(text, size, s.err_off));
	}
out:
	json_object_put(dom);
	return 0;
}
