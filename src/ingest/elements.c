/*
 * elements.c — autocapture elements at ingestion: the `$elements` array an
 * older posthog-js (and many server SDK imports) sends becomes PostHog's
 * `elements_chain` string, which is what every element matcher reads
 * (insights/filters.c: tag_name, text, href and CSS selectors are regexes
 * over it).
 *
 *   $elements: [{"tag_name":"a","$el_text":"Pay","attr__href":"/pay",
 *                "attr__class":"btn big","nth_child":1,"nth_of_type":2}, …]
 *        │  one element per entry, innermost (the clicked one) first
 *        ▼
 *   a.big.btn:attr__class="btn
 * big"attr__href="/pay"href="/pay"nth-child="1"nth-of-type="2"text="Pay";… └tag└classes, sorted └
 * attributes key="value", sorted by key, `"` escaped as \"
 *
 * Per element, as PostHog's plugin server builds it (extractElements and
 * elementsToString): the tag name; "." and each class of attr__class (an
 * array, or a string split on single spaces; JavaScript's default sort, `"`
 * removed); ":"; then the attributes text ($el_text, first 400 characters,
 * when not empty), nth-child and nth-of-type (0 when absent), href
 * (attr__href, first 2048 characters, when not empty), attr_id (attr__id,
 * when not empty) and every attr__* key of the entry, each as key="value"
 * with no separator, values as JavaScript's String() renders them. Elements
 * are joined with ";". Entries that are not objects are skipped.
 *
 * Key order: the plugin server sorts attribute keys with localeCompare
 * (ICU's root collation), not by bytes: punctuation before digits before
 * letters, letters case-insensitive first (lower case first on a tie), and
 * `_` before `-`. key_cmp reproduces that order for ASCII, which is what
 * attribute names are; other bytes sort after letters by value. The
 * Django-side elements_to_string sorts by code point; the two agree on the
 * names real pages use (lower-case letters, digits, `-`, `_`).
 *
 * Both `$elements` and `$elements_chain` leave the stored properties, as
 * PostHog's ingestion deletes both (the plugin server's getElementsChain):
 * the chain lives in the elements_chain column, which is what every
 * matcher reads, and keeping either member would store each autocapture
 * event's DOM path twice. An event that brings a non-empty
 * `$elements_chain` keeps that chain (PostHog prefers it); otherwise a
 * `$elements` array is converted. Every occurrence of either key goes (a
 * duplicate's last value is the one used, as JSON.parse keeps it), each
 * with one neighbouring comma. Parts written before 2026-12-06 still hold
 * `$elements_chain` in their properties (docs/INSIGHTS.md).
 *
 * Cost: only events whose properties have one of the two keys come here (the
 * record scan notes them, with each one's member index and value: struct
 * sn_elements_hint). With the row's member lengths (posthog-js's compact
 * JSON) and each key once, the cuts are computed from the hint without
 * walking the members (cut_known: ~650 instructions an event on the
 * generator's autocapture events, against ~1,850 for a walk over their ~42
 * members), and the lengths are cut alike, so the part writer's split keeps
 * its fast path. Otherwise (no lengths, a key seen twice) the members are
 * scanned and the row's lengths, if any, dropped: the writer scans that row,
 * with the same result. `$session_id` and `$window_id`, which point into the
 * text, are moved with it so the memtable still shares their bytes. The
 * properties are copied once without the members. The `$elements` array is
 * parsed with json-c (the style's rule: JSON goes through the wrapped
 * library). Rejected: building the chain with the pull scanner to save the
 * json-c tree — autocapture arrays are a few KiB, and sorting keys needs
 * every member at hand anyway.
 *
 * Single-threaded: the buffers belong to the caller (the store sink).
 */
#include "ingest/ingest_internal.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX_CHARS 400
#define HREF_MAX_CHARS 2048
#define MAX_ATTRS      512 /* attributes kept per element; more are dropped */

/* ---- ICU root collation order for attribute keys ---------------------------- */

/* Primary weight of an ASCII byte: 0 ignorable, then whitespace, punctuation
 * and symbols in CLDR root order, digits, letters (case folded). */
static unsigned char primary[128];

static void init_primary(void)
{
	static const char order[] = "\t\n\v\f\r _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$0123456789";
	if (primary['a'])
		return;
	unsigned w = 1;
	for (const char *p = order; *p; p++)
		primary[(unsigned char)*p] = (unsigned char)w++;
	for (int c = 'a'; c <= 'z'; c++) {
		primary[c] = (unsigned char)w;
		primary[c - 'a' + 'A'] = (unsigned char)w++;
	}
}

static unsigned weight(unsigned char c)
{
	return c < 128 ? primary[c] : 128 + c; /* non-ASCII after letters */
}

/* localeCompare's order (ICU root, non-ignorable punctuation) for ASCII keys:
 * primary weights first, then case (lower before upper), then bytes. */
static int key_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (i < an && weight((unsigned char)a[i]) == 0)
			i++;
		while (j < bn && weight((unsigned char)b[j]) == 0)
			j++;
		if (i == an || j == bn)
			break;
		unsigned wa = weight((unsigned char)a[i]), wb = weight((unsigned char)b[j]);
		if (wa != wb)
			return wa < wb ? -1 : 1;
		i++, j++;
	}
	if (i < an || j < bn)
		return i < an ? 1 : -1; /* a prefix sorts first */
	for (i = 0; i < an && i < bn; i++) {
		bool ua = a[i] >= 'A' && a[i] <= 'Z', ub = b[i] >= 'A' && b[i] <= 'Z';
		if (ua != ub)
			return ua ? 1 : -1;
	}
	int c = memcmp(a, b, an < bn ? an : bn);
	return c ? c : (an < bn ? -1 : an > bn);
}

/* ---- JavaScript's String(value) ------------------------------------------------- */

static int js_number(struct sn_buf *b, double d)
{
	if (isnan(d))
		return sn_buf_appends(b, "NaN");
	if (isinf(d))
		return sn_buf_appends(b, d > 0 ? "Infinity" : "-Infinity");
	if (d == 0)
		return sn_buf_appendc(b, '0'); /* -0 too */
	if (d == floor(d) && fabs(d) < 1e21)
		return sn_buf_appendf(b, "%.0f", d);
	char t[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(t, sizeof(t), "%.*g", prec, d);
		if (strtod(t, NULL) == d)
			break;
	}
	/* C writes 1e-07 where JavaScript writes 1e-7. */
	char *e = strchr(t, 'e');
	if (e && (e[1] == '-' || e[1] == '+') && e[2] == '0' && e[3])
		memmove(e + 2, e + 3, strlen(e + 3) + 1);
	return sn_buf_appends(b, t);
}

static int js_string(struct sn_buf *b, struct json_object *v, int depth)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return depth ? 0 : sn_buf_appends(b, "null");
	case json_type_boolean:
		return sn_buf_appends(b, json_object_get_boolean(v) ? "true" : "false");
	case json_type_int: return sn_buf_appendf(b, "%lld", (long long)json_object_get_int64(v));
	case json_type_double: return js_number(b, json_object_get_double(v));
	case json_type_string:
		return sn_buf_append(b, json_object_get_string(v),
				     (size_t)json_object_get_string_len(v));
	case json_type_array: {
		int rc = 0;
		size_t n = json_object_array_length(v);
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (i)
				rc = sn_buf_appendc(b, ',');
			if (rc == 0 && depth < 32)
				rc = js_string(b, json_object_array_get_idx(v, i), depth + 1);
		}
		return rc;
	}
	case json_type_object: return sn_buf_appends(b, "[object Object]");
	}
	return 0;
}

/* The first max_chars UTF-8 characters of s (JavaScript slices UTF-16 units:
 * the same outside the astral planes). */
static size_t utf8_prefix(const char *s, size_t len, size_t max_chars)
{
	size_t i = 0, chars = 0;
	while (i < len && chars < max_chars) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80)
			i++;
		chars++;
	}
	return i;
}

/* ---- one element ------------------------------------------------------------------ */

struct attr {
	const char *key;
	size_t klen;
	size_t voff, vlen; /* the value's text in the element's value buffer */
};

static int escaped(struct sn_buf *out, const char *s, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = s[i] == '"' ? sn_buf_append(out, "\\\"", 2) : sn_buf_appendc(out, s[i]);
	return rc;
}

static const char *nonempty_str(struct json_object *el, const char *key, size_t *len)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(el, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	*len = (size_t)json_object_get_string_len(v);
	return *len ? json_object_get_string(v) : NULL;
}

struct elctx {
	struct json_object *tag; /* tag_name, or NULL */
	struct sn_buf vals;	 /* attribute values of the element being built */
	struct sn_buf split;	 /* its classes, NUL-terminated */
	struct attr attrs[MAX_ATTRS];
	size_t nattrs;
	const char *cls[MAX_ATTRS];
	size_t clen[MAX_ATTRS];
	size_t ncls;
};

static int add_attr(struct elctx *c, const char *key, const char *v, size_t vlen)
{
	if (c->nattrs == MAX_ATTRS)
		return 0;
	struct attr *a = &c->attrs[c->nattrs++];
	a->key = key;
	a->klen = strlen(key);
	a->voff = c->vals.len;
	a->vlen = vlen;
	return sn_buf_append(&c->vals, v, vlen);
}

static int add_attr_json(struct elctx *c, const char *key, struct json_object *v)
{
	if (c->nattrs == MAX_ATTRS)
		return 0;
	struct attr *a = &c->attrs[c->nattrs++];
	a->key = key;
	a->klen = strlen(key);
	a->voff = c->vals.len;
	int rc = js_string(&c->vals, v, 0);
	a->vlen = c->vals.len - a->voff;
	return rc;
}

static int attr_order(const void *x, const void *y)
{
	const struct attr *a = x, *b = y;
	return key_cmp(a->key, a->klen, b->key, b->klen);
}

static int class_order(const void *x, const void *y)
{
	/* JavaScript's default sort: by UTF-16 units, which for UTF-8 text
	 * outside the astral planes is byte order. */
	const char *const *a = x, *const *b = y;
	return strcmp(*a, *b);
}

static void add_class(struct elctx *c, const char *s, size_t n)
{
	if (c->ncls == MAX_ATTRS)
		return;
	c->cls[c->ncls] = s;
	c->clen[c->ncls++] = n;
}

/* Classes from a list (each entry's String()) or a string split on single
 * spaces, kept NUL-terminated in c->split. */
static int collect_classes(struct elctx *c, struct json_object *cl)
{
	int rc = 0;
	if (json_object_is_type(cl, json_type_array)) {
		size_t m = json_object_array_length(cl), k = 0;
		size_t offs[MAX_ATTRS];
		for (size_t i = 0; i < m && k < MAX_ATTRS && rc == 0; i++) {
			offs[k++] = c->split.len;
			rc = js_string(&c->split, json_object_array_get_idx(cl, i), 1);
			rc = rc ? rc : sn_buf_appendc(&c->split, '\0');
		}
		for (size_t i = 0; i < k && rc == 0; i++) /* split no longer moves */
			add_class(c, c->split.data + offs[i], strlen(c->split.data + offs[i]));
	} else if (json_object_is_type(cl, json_type_string) &&
		   json_object_get_string_len(cl) > 0) {
		size_t len = (size_t)json_object_get_string_len(cl);
		rc = sn_buf_append(&c->split, json_object_get_string(cl), len);
		rc = rc ? rc : sn_buf_appendc(&c->split, '\0');
		if (rc == 0) {
			char *p = c->split.data, *end = c->split.data + len;
			for (char *q = p; q <= end; q++) {
				if (q == end || *q == ' ') {
					*q = '\0';
					add_class(c, p, (size_t)(q - p));
					p = q + 1;
				}
			}
		}
	}
	return rc;
}

/* nth-child / nth-of-type: the value's String(), 0 when absent or null. */
static int add_position(struct elctx *c, struct json_object *el, const char *from, const char *key)
{
	struct json_object *v = NULL;
	if (json_object_object_get_ex(el, from, &v) && v)
		return add_attr_json(c, key, v);
	return add_attr(c, key, "0", 1);
}

static void reset(struct elctx *c, struct json_object *el)
{
	c->nattrs = c->ncls = 0;
	c->tag = NULL;
	sn_buf_reset(&c->vals);
	sn_buf_reset(&c->split);
	json_object_object_get_ex(el, "tag_name", &c->tag);
}

/* A posthog-js autocapture entry (the plugin server's extractElements). */
static int from_capture(struct elctx *c, struct json_object *el)
{
	size_t n;
	const char *s;
	int rc = 0;
	struct json_object *cl = NULL;
	reset(c, el);
	if (json_object_object_get_ex(el, "attr__class", &cl) && cl)
		rc = collect_classes(c, cl);
	if (rc == 0 && (s = nonempty_str(el, "$el_text", &n)))
		rc = add_attr(c, "text", s, utf8_prefix(s, n, TEXT_MAX_CHARS));
	rc = rc ? rc : add_position(c, el, "nth_child", "nth-child");
	rc = rc ? rc : add_position(c, el, "nth_of_type", "nth-of-type");
	if (rc == 0 && (s = nonempty_str(el, "attr__href", &n)))
		rc = add_attr(c, "href", s, utf8_prefix(s, n, HREF_MAX_CHARS));
	if (rc == 0 && (s = nonempty_str(el, "attr__id", &n)))
		rc = add_attr(c, "attr_id", s, n);
	json_object_object_foreach(el, k, v)
	{
		if (rc == 0 && strncmp(k, "attr__", 6) == 0)
			rc = add_attr_json(c, k, v);
	}
	return rc;
}

/* PostHog's Element model: text, tag_name, href, attr_class (a list),
 * attr_id, nth_child, nth_of_type, attributes (an object). */
static int from_model(struct elctx *c, struct json_object *el)
{
	size_t n;
	const char *s;
	int rc = 0;
	struct json_object *cl = NULL, *attrs = NULL;
	reset(c, el);
	if (json_object_object_get_ex(el, "attr_class", &cl) && cl)
		rc = collect_classes(c, cl);
	if (rc == 0 && (s = nonempty_str(el, "text", &n)))
		rc = add_attr(c, "text", s, n);
	rc = rc ? rc : add_position(c, el, "nth_child", "nth-child");
	rc = rc ? rc : add_position(c, el, "nth_of_type", "nth-of-type");
	if (rc == 0 && (s = nonempty_str(el, "href", &n)))
		rc = add_attr(c, "href", s, n);
	if (rc == 0 && (s = nonempty_str(el, "attr_id", &n)))
		rc = add_attr(c, "attr_id", s, n);
	if (json_object_object_get_ex(el, "attributes", &attrs) &&
	    json_object_is_type(attrs, json_type_object)) {
		json_object_object_foreach(attrs, k, v)
		{
			if (rc == 0)
				rc = add_attr_json(c, k, v);
		}
	}
	return rc;
}

/* elementsToString for the collected element. */
static int serialize(struct elctx *c, struct sn_buf *out)
{
	int rc = 0;
	struct json_object *tag = c->tag;
	/* JavaScript's truthiness: a non-empty string, a non-zero number. */
	if (json_object_is_type(tag, json_type_string))
		rc = sn_buf_append(out, json_object_get_string(tag),
				   (size_t)json_object_get_string_len(tag));
	else if ((json_object_is_type(tag, json_type_int) ||
		  json_object_is_type(tag, json_type_double)) &&
		 json_object_get_double(tag) != 0)
		rc = js_string(out, tag, 0);
	if (rc == 0 && c->ncls) {
		qsort(c->cls, c->ncls, sizeof(c->cls[0]), class_order);
		for (size_t i = 0; i < c->ncls && rc == 0; i++) {
			rc = sn_buf_appendc(out, '.');
			for (const char *p = c->cls[i]; *p && rc == 0; p++)
				if (*p != '"')
					rc = sn_buf_appendc(out, *p);
		}
	}
	if (rc == 0) {
		qsort(c->attrs, c->nattrs, sizeof(c->attrs[0]), attr_order);
		rc = sn_buf_appendc(out, ':');
		for (size_t i = 0; i < c->nattrs && rc == 0; i++) {
			const struct attr *a = &c->attrs[i];
			rc = escaped(out, a->key, a->klen);
			rc = rc ? rc : sn_buf_append(out, "=\"", 2);
			rc = rc ? rc : escaped(out, c->vals.data + a->voff, a->vlen);
			rc = rc ? rc : sn_buf_appendc(out, '"');
		}
	}
	return rc;
}

static int chain(struct json_object *elements, bool model, struct sn_buf *out)
{
	init_primary();
	if (!json_object_is_type(elements, json_type_array))
		return 0;
	struct elctx *c = calloc(1, sizeof(*c));
	if (!c)
		return SN_ERR_NOMEM;
	sn_buf_init(&c->vals, out->max);
	sn_buf_init(&c->split, out->max);
	size_t n = json_object_array_length(elements);
	int rc = 0;
	bool first = true;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct json_object *el = json_object_array_get_idx(elements, i);
		if (!json_object_is_type(el, json_type_object))
			continue;
		if (!first)
			rc = sn_buf_appendc(out, ';');
		first = false;
		rc = rc ? rc : model ? from_model(c, el) : from_capture(c, el);
		rc = rc ? rc : serialize(c, out);
	}
	sn_buf_release(&c->vals);
	sn_buf_release(&c->split);
	free(c);
	return rc;
}

int sn_elements_chain(struct json_object *elements, struct sn_buf *out)
{
	return chain(elements, false, out);
}

int sn_elements_chain_models(struct json_object *elements, struct sn_buf *out)
{
	return chain(elements, true, out);
}

int sn_elements_chain_text(const char *json, size_t len, struct sn_buf *out, struct sn_err *err)
{
	struct json_object *arr = NULL;
	int rc = sn_json_parse(json, len, &arr, err);
	if (rc)
		return rc;
	rc = sn_elements_chain(arr, out);
	json_object_put(arr);
	if (rc)
		return sn_err_set(err, rc, "elements chain too long");
	return 0;
}

/* ---- the sink's step ------------------------------------------------------------------ */

#define MAX_CUTS 8 /* cuts remembered; past them the lengths are dropped */

/* 1 for "$elements", 2 for "$elements_chain", else 0. Raw keys by length
 * and bytes. */
static int cut_key(const struct sn_jspan *k)
{
	if (!(k->flags & SN_JSPAN_ESCAPED)) {
		if (k->len == 11)
			return memcmp(k->p, "\"$elements\"", 11) == 0;
		return k->len == 17 && memcmp(k->p, "\"$elements_chain\"", 17) == 0 ? 2 : 0;
	}
	return sn_jspan_str_eq(k, "$elements", 9)	   ? 1
	       : sn_jspan_str_eq(k, "$elements_chain", 15) ? 2
							   : 0;
}

/* s, a string of the row that may lie inside its old properties text t,
 * moved to the same bytes of the new text (cut: the ranges removed, in
 * order). Strings elsewhere stay where they are. */
static void repoint(struct sn_str *s, const char *t, size_t len, const char *nt,
		    const size_t (*cut)[2], size_t ncut)
{
	if (!s->p || !s->len || s->p < t || s->len > len || (size_t)(s->p - t) > len - s->len)
		return;
	size_t o = (size_t)(s->p - t), shift = 0;
	for (size_t i = 0; i < ncut; i++) {
		if (cut[i][1] <= o)
			shift += cut[i][1] - cut[i][0];
		else if (cut[i][0] < o + s->len)
			return; /* inside a cut member: cannot be (a value of a kept one) */
	}
	s->p = nt + (o - shift);
}

/* The cuts of one record: byte ranges of the old text, in order (up to
 * MAX_CUTS; past them `all` is false), the cut members' indices (with
 * member lengths only), and the last $elements value. */
struct cuts {
	size_t r[MAX_CUTS][2];
	uint32_t j[MAX_CUTS];
	size_t n;
	bool all;
	struct sn_jspan els;
};

/* What follows the new text (in props): the chain from $elements unless
 * the event brought its own, the lengths without the cut members' (pm:
 * the old ones, or NULL), the strings that point into the text moved, and
 * the row pointed at it all. With more cuts than remembered there are no
 * lengths, and the strings stay in the old text, which lives as long as
 * the record: the memtable copies them. */
static int finish(struct sn_buf *chain, const struct sn_buf *props, struct sn_buf *members,
		  struct sn_event_row *row, const uint16_t *pm, uint32_t npm, const struct cuts *c,
		  struct sn_err *err)
{
	int rc = 0;
	if (row->elements_chain.len == 0 && c->els.type == SN_JARRAY) {
		sn_buf_reset(chain);
		struct sn_err e2 = {0};
		rc = sn_elements_chain_text(c->els.p, c->els.len, chain, &e2);
		if (rc == SN_ERR_NOMEM)
			return sn_err_set(err, rc, "out of memory building an elements chain");
		if (rc == 0) {
			row->elements_chain.p = chain->data ? chain->data : "";
			row->elements_chain.len = chain->len;
		} /* else (too long, or JSON json-c refuses): stored without a chain */
	}
	sn_buf_reset(members);
	rc = 0;
	if (pm && c->all) {
		uint32_t from = 0;
		for (size_t i = 0; i <= c->n && !rc; i++) {
			uint32_t to = i < c->n ? c->j[i] : npm;
			rc = sn_buf_append(members, pm + 2 * (size_t)from, 4 * (size_t)(to - from));
			from = to + 1;
		}
		if (rc)
			return sn_err_set(err, rc, "out of memory removing $elements");
	}
	const char *t = row->properties.p;
	size_t len = row->properties.len;
	if (c->all) {
		repoint(&row->session_id, t, len, props->data, (const size_t(*)[2])c->r, c->n);
		repoint(&row->window_id, t, len, props->data, (const size_t(*)[2])c->r, c->n);
	}
	row->properties.p = props->data;
	row->properties.len = props->len;
	row->npmembers = pm && c->all ? (uint32_t)(members->len / 4) : 0;
	row->pmembers = row->npmembers ? (const uint16_t *)(const void *)members->data : NULL;
	return 0;
}

/* sn_ingest_elements by a scan of the members, for the records the
 * scan's hint does not describe (no member lengths, a key seen twice):
 * the row's lengths, if any, are dropped (the writer's split scans).
 * Returns 0, SN_ERR_NOMEM, or 1 when the text is not an object the scan
 * can read (nothing changed). */
static int cut_members(struct sn_buf *chain, struct sn_buf *props, struct sn_buf *members,
		       struct sn_event_row *row, struct sn_err *err)
{
	const char *t = row->properties.p;
	size_t len = row->properties.len;
	struct sn_jscan sc;
	struct sn_jspan k, v;
	struct cuts c = {.n = 0};
	sn_jscan_init(&sc, t, len, NULL);
	if (sn_jscan_enter(&sc))
		return 1;

	/* Streamed: the text up to each cut is copied, the cut skipped. A cut
	 * member takes one comma with it: the one before it when a kept member
	 * precedes (from the end of the previous value), else the one after it
	 * (up to the next key), so adjacent cuts never overlap. */
	sn_buf_reset(props);
	size_t copied = 0, prev_end = 1, pending = 0, nseen = 0;
	bool kept_any = false;
	int rc, wrc;
	while ((wrc = sn_jscan_next_key(&sc, &k)) > 0) {
		if (sn_jscan_skip(&sc, &v))
			return 1;
		size_t ks = (size_t)(k.p - t), ve = (size_t)(v.p - t) + v.len;
		if (pending) { /* the previous member was cut up to this key */
			if ((rc = sn_buf_append(props, t + copied, pending - 1 - copied)))
				goto nomem;
			if (c.n <= MAX_CUTS && c.n)
				c.r[c.n - 1][1] = ks;
			copied = ks;
			pending = 0;
		}
		int which = cut_key(&k);
		if (!which) {
			kept_any = true;
			prev_end = ve;
			continue;
		}
		/* JSON.parse and json-c keep the last of duplicate keys: so do we */
		if (which == 1)
			c.els = v;
		if (!kept_any) {
			pending = ks + 1; /* + 1: 0 means none; the range ends at the next key */
			if (c.n < MAX_CUTS)
				c.r[c.n][0] = ks, c.r[c.n][1] = ve;
		} else {
			if ((rc = sn_buf_append(props, t + copied, prev_end - copied)))
				goto nomem;
			if (c.n < MAX_CUTS)
				c.r[c.n][0] = prev_end, c.r[c.n][1] = ve;
			copied = ve;
		}
		c.n += c.n <= MAX_CUTS;
		nseen++;
		prev_end = ve;
	}
	if (wrc < 0)
		return 1;
	if (!nseen)
		return 0;
	/* (the last members were cut: up to the end of the last value) */
	if ((rc = sn_buf_append(props, t + copied, (pending ? pending - 1 : copied) - copied)) ||
	    (rc = sn_buf_append(props, t + (pending ? prev_end : copied),
				len - (pending ? prev_end : copied))))
		goto nomem;
	c.all = c.n <= MAX_CUTS;
	return finish(chain, props, members, row, NULL, 0, &c, err);
nomem:
	return sn_err_set(err, rc, "out of memory removing $elements");
}

/* sn_ingest_elements from what the record scan found (hint): each key at
 * most once, its member's index and value known, so the cuts are where
 * they are without a walk (compact text: a member is key ':' value, and a
 * ',' between members). The same cuts as cut_members. Returns 1 when the
 * hint does not fit the text (the scan decides then). */
static int cut_known(struct sn_buf *chain, struct sn_buf *props, struct sn_buf *members,
		     struct sn_event_row *row, const struct sn_elements_hint *h, struct sn_err *err)
{
	static const char *const keys[2] = {"\"$elements\"", "\"$elements_chain\""};
	const char *t = row->properties.p;
	size_t len = row->properties.len, ks[2], ve[2];
	uint32_t npm = row->npmembers;
	struct cuts c = {.n = 0, .all = true};
	for (int w = 0; w < 2; w++) {
		if (!h->n[w])
			continue;
		size_t kl = strlen(keys[w]);
		const struct sn_jspan *v = &h->v[w];
		if (h->n[w] > 1 || h->j[w] >= npm || !v->p || v->p < t + 1 + kl + 1 ||
		    v->p + v->len > t + len)
			return 1;
		size_t k0 = (size_t)(v->p - t) - 1 - kl;
		if (t[k0 + kl] != ':' || memcmp(t + k0, keys[w], kl))
			return 1;
		size_t i = c.n;
		if (i && h->j[w] < c.j[0]) { /* keep them in member order */
			c.j[1] = c.j[0], ks[1] = ks[0], ve[1] = ve[0];
			i = 0;
		}
		c.j[i] = h->j[w], ks[i] = k0, ve[i] = (size_t)(v->p - t) + v->len;
		c.n++;
	}
	if (!c.n || (c.n == 2 && c.j[0] == c.j[1]))
		return c.n ? 1 : 0;
	if (h->n[0])
		c.els = h->v[0];
	sn_buf_reset(props);
	size_t copied = 0;
	int rc = 0;
	for (size_t i = 0; i < c.n; i++) {
		bool kept_before = c.j[i] > i; /* i cut members precede it */
		c.r[i][0] = kept_before ? ks[i] - 1 : ks[i];
		c.r[i][1] = kept_before || c.j[i] + 1 == npm ? ve[i] : ve[i] + 1;
		if ((rc = sn_buf_append(props, t + copied, c.r[i][0] - copied)))
			return sn_err_set(err, rc, "out of memory removing $elements");
		copied = c.r[i][1];
	}
	if ((rc = sn_buf_append(props, t + copied, len - copied)))
		return sn_err_set(err, rc, "out of memory removing $elements");
	return finish(chain, props, members, row, row->pmembers, npm, &c, err);
}

int sn_ingest_elements(struct sn_buf *chain, struct sn_buf *props, struct sn_buf *members,
		       struct sn_event_row *row, const struct sn_elements_hint *hint,
		       struct sn_err *err)
{
	if (!row->properties.p)
		return 0;
	int rc = hint && row->pmembers ? cut_known(chain, props, members, row, hint, err) : 1;
	if (rc == 1)
		rc = cut_members(chain, props, members, row, err);
	return rc == 1 ? 0 : rc; /* not an object we can read: left as it is */
}
