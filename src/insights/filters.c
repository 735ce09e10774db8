/*
 * filters.c — PostHog property filters as HogQL boolean expressions
 * (spec/hogql.md §9.0; PostHog's property_to_expr), and the quoting every
 * generated query goes through.
 *
 * A filter list is AND-ed; {"type": "AND"|"OR", "values": [...]} nests
 * groups of filters or groups. Each filter names where the value lives:
 *   event   properties.<key>           person  person.properties.<key>
 *   group   group_<i>.properties.<key> hogql   the key is an expression
 *   event_metadata  the events column <key> (distinct_id, $session_id, ...)
 *   session the lazy join session.<key>; its numbers (durations, counts)
 *           read 0 for an event without a session, as PostHog's LEFT JOIN
 *           without join_use_nulls gives them (the executor reads NULL)
 * and an operator (exact by default):
 *   exact / is_not     = / != (a list value: IN / NOT IN), values compared
 *                      as text since properties read as strings (§4.2)
 *   icontains / not_icontains  ILIKE '%v%' (NOT: NULL counts as not containing)
 *   regex / not_regex  match(toString(p), v)
 *   gt gte lt lte      toFloat(p) against the number
 *   is_set / is_not_set  isNotNull / isNull
 *   is_date_before / is_date_after / is_date_exact  toDateTime(p) against the date;
 *                      a relative one ("-30d") is now minus it, in UTC
 *   between / not_between  toFloat(p) within [min, max]
 * HogQL's NULL-safe comparisons (§4.3) make `!=` and NOT ILIKE true for a
 * missing property, as PostHog's are. Filter types snout lacks are refused
 * with an error naming them.
 *
 * Element filters (type "element"; actions.c turns an action step's
 * elements into them) are regexes over the events' elements_chain column
 * (ingest/elements.c builds it), match(elements_chain, '…') with patterns
 * PCRE2 and re2 both read, built as PostHog's element_chain_key_filter,
 * tag_name_to_expr and build_selector_regex build them, so both backends
 * get the same HogQL and the same answers as PostHog:
 *   tag_name t        (^|;)t(\.|$|;|:)             (t spliced in as is)
 *   href/text exact   (href="<re.escape(v)>")       (`"` in v as \")
 *   … icontains       (?i)(href="[^"]*<re.escape(v)>[^"]*")
 *   … is_set          (href="[^"]+")
 *   … regex           as PostHog's newest HogQL: match() on the first href
 *                     (extract()) or on any text (arrayExists over
 *                     extractAll()), unanchored; a regex spliced into
 *                     (href="<v>") had to match the whole value
 *   selector          PostHog's Selector parse: parts innermost first, each
 *                     tag, .classes, #id, [key="v"], :nth-child(n); `>`
 *                     adds `.*` after the parent part
 * Negative operators wrap the match in not(); a list of values is the OR of
 * one match each (AND for negative operators). Rejected: reading PostHog's
 * materialised elements_chain_href / _texts / _ids columns, which its
 * newest HogQL uses for href and text — snout's store and ClickHouse schema
 * have no such columns; the regexes PostHog used before them give the same
 * answer for exact and icontains on values without `"` (but for a chain
 * with several hrefs), and regex is computed from elements_chain as the
 * columns are.
 *
 * Quoting: strings become '…' with backslash escapes; identifiers that are
 * not plain become `…`, so no user text is ever spliced into a query
 * unquoted.
 */
#include "insights/insights_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hq_str(struct sn_buf *b, const char *s, size_t len)
{
	int rc = sn_buf_appendc(b, '\'');
	for (size_t i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\'' || c == '\\') {
			rc = sn_buf_appendc(b, '\\');
			rc = rc ? rc : sn_buf_appendc(b, (char)c);
		} else if (c == '\n')
			rc = sn_buf_appends(b, "\\n");
		else if (c == '\r')
			rc = sn_buf_appends(b, "\\r");
		else if (c == '\t')
			rc = sn_buf_appends(b, "\\t");
		else if (c == 0)
			rc = sn_buf_appends(b, "\\0");
		else
			rc = sn_buf_appendc(b, (char)c);
	}
	return rc ? rc : sn_buf_appendc(b, '\'');
}

static bool plain_ident(const char *s)
{
	if (!*s || isdigit((unsigned char)*s))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '$')
			return false;
	return true;
}

int hq_ident(struct sn_buf *b, const char *s)
{
	if (plain_ident(s))
		return sn_buf_appends(b, s);
	int rc = sn_buf_appendc(b, '`');
	for (const char *p = s; *p && rc == 0; p++) {
		if (*p == '`' || *p == '\\')
			rc = sn_buf_appendc(b, '\\');
		if (rc == 0)
			rc = sn_buf_appendc(b, *p);
	}
	return rc ? rc : sn_buf_appendc(b, '`');
}

int hq_prop(struct sn_buf *b, const char *prefix, const char *key)
{
	int rc = sn_buf_appends(b, prefix);
	rc = rc ? rc : sn_buf_appendc(b, '.');
	return rc ? rc : hq_ident(b, key);
}

int hq_person_prop(struct sn_buf *b, const char *key)
{
	if (strncmp(key, "$virt_", 6) == 0)
		return hq_prop(b, "person", key);
	return hq_prop(b, "person.properties", key);
}

bool hq_session_numeric(const char *key)
{
	static const char *const num[] = {"$session_duration",	"duration",	 "$pageview_count",
					  "$autocapture_count", "$screen_count", "$num_uniq_urls"};
	for (size_t i = 0; i < SN_ARRAY_LEN(num); i++)
		if (strcmp(key, num[i]) == 0)
			return true;
	return false;
}

int hq_session(struct sn_buf *b, const char *key)
{
	bool num = hq_session_numeric(key);
	int rc = num ? sn_buf_appends(b, "ifNull(") : 0;
	rc = rc ? rc : hq_prop(b, "session", key);
	return rc || !num ? rc : sn_buf_appends(b, ", 0)");
}

/* A JSON scalar as the text PostHog compares properties with. */
static int value_text(struct ictx *x, struct json_object *v, const char **out)
{
	switch (json_object_get_type(v)) {
	case json_type_string: *out = json_object_get_string(v); return 0;
	case json_type_boolean: *out = json_object_get_boolean(v) ? "true" : "false"; return 0;
	case json_type_int:
	case json_type_double:
		*out = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
		return 0;
	default:
		return ifail(x, "validation_error",
			     "A property filter value must be a string, number or boolean");
	}
}

static int value_num(struct ictx *x, struct json_object *v, const char *key, double *out)
{
	if (json_object_get_type(v) == json_type_int ||
	    json_object_get_type(v) == json_type_double) {
		*out = json_object_get_double(v);
		return 0;
	}
	const char *s = json_object_get_string(v);
	char *end = NULL;
	double d = s ? strtod(s, &end) : NAN;
	if (!s || end == s || *end || !isfinite(d))
		return ifail(x, "validation_error",
			     "The filter on '%s' compares numbers; its value is not a number", key);
	*out = d;
	return 0;
}

/* The expression the filter reads, into b. */
static int filter_field(struct ictx *x, struct sn_buf *b, struct json_object *f, const char *type,
			const char *key)
{
	if (strcmp(type, "event") == 0)
		return hq_prop(b, "properties", key);
	if (strcmp(type, "person") == 0)
		return hq_person_prop(b, key);
	if (strcmp(type, "event_metadata") == 0)
		return hq_ident(b, key);
	if (strcmp(type, "session") == 0)
		return hq_session(b, key);
	if (strcmp(type, "group") == 0) {
		struct json_object *gi = jget(f, "group_type_index");
		int idx = gi ? json_object_get_int(gi) : -1;
		if (!gi || idx < 0 || idx > 4)
			return ifail(x, "validation_error",
				     "A group property filter needs group_type_index 0 to 4");
		char pre[32];
		snprintf(pre, sizeof(pre), "group_%d.properties", idx);
		return hq_prop(b, pre, key);
	}
	return ifail(x, "not_supported", "Property filters of type '%s' are not supported yet",
		     type);
}

/* ---- elements (autocapture): regexes over elements_chain ---------------------------- */

/* Python's re.escape: a backslash before each character it treats as special
 * (PCRE2 and re2 both read "\" + punctuation or whitespace as the character). */
static int re_escape(struct sn_buf *b, const char *s, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (strchr("()[]{}?*+-|^$\\.&~# \t\n\r\v\f", s[i]) && s[i])
			rc = sn_buf_appendc(b, '\\');
		rc = rc ? rc : sn_buf_appendc(b, s[i]);
	}
	return rc;
}

static int chain_match(struct sn_buf *b, const char *re, size_t n, bool negate)
{
	int rc =
	    sn_buf_appends(b, negate ? "not(match(elements_chain, " : "match(elements_chain, ");
	rc = rc ? rc : hq_str(b, re, n);
	return rc ? rc : sn_buf_appends(b, negate ? "))" : ")");
}

/* PostHog's tag_name_to_expr: the name is spliced into the regex as is. */
static int tag_name_expr(struct sn_buf *b, const char *tag, bool negate)
{
	struct sn_buf re;
	sn_buf_init(&re, 1 << 20);
	int rc = sn_buf_appendf(&re, "(^|;)%s(\\.|$|;|:)", tag);
	rc = rc ? rc : chain_match(b, re.data, re.len, negate);
	sn_buf_release(&re);
	return rc;
}

/* A CSS selector as PostHog's Selector parses it (posthog/models/event):
 * parts innermost first, each with a tag, classes and the attributes the
 * chain carries (attr_id, nth-child, [key="value"]). */
#define SEL_MAX 64

struct sel_kv {
	const char *key, *val;
};

struct sel_part {
	const char *tag; /* NULL: none */
	const char *cls[SEL_MAX];
	size_t ncls;
	struct sel_kv ch[SEL_MAX];
	size_t nch;
	bool direct; /* its child is the previous part (a ">" combinator) */
};

static void ch_set(struct sel_part *p, const char *key, const char *val)
{
	for (size_t i = 0; i < p->nch; i++)
		if (strcmp(p->ch[i].key, key) == 0) {
			p->ch[i].val = val;
			return;
		}
	if (p->nch < SEL_MAX)
		p->ch[p->nch++] = (struct sel_kv){key, val};
}

static bool quote_char(char c)
{
	return c == '\'' || c == '|' || c == '"';
}

/* SelectorPart: `tag` is an arena copy the parts may point into. */
static int sel_part(struct ictx *x, char *tag, struct sel_part *p)
{
	/* ([a-zA-Z]*)\[(.*)=['|"](.*)['|"]\] searched in tag: greedy groups,
	 * so the last `=` + quote that still leaves a closing quote + `]`. */
	char *lb = strchr(tag, '[');
	if (lb) {
		size_t len = strlen(tag), b = (size_t)(lb - tag);
		size_t g1 = b;
		while (g1 > 0 && isalpha((unsigned char)tag[g1 - 1]))
			g1--;
		size_t e = 0, q = 0;
		bool found = false;
		/* The rightmost `=` + quote first (group 2 is greedy), then the
		 * rightmost closing quote + `]` after it (so is group 3). */
		for (size_t ee = len; ee-- > b + 1 && !found;) {
			if (tag[ee] != '=' || ee + 1 >= len || !quote_char(tag[ee + 1]))
				continue;
			for (size_t qq = len - 1; qq-- > ee + 1;)
				if (qq >= ee + 2 && quote_char(tag[qq]) && tag[qq + 1] == ']') {
					e = ee;
					q = qq;
					found = true;
					break;
				}
		}
		if (found) {
			char *key = sn_arena_strndup(x->a, tag + b + 1, e - b - 1);
			char *val = sn_arena_strndup(x->a, tag + e + 2, q - e - 2);
			if (!key || !val)
				return SN_ERR_NOMEM;
			if (strstr(tag, "[id="))
				ch_set(p, "attr_id", val);
			else
				ch_set(p, key, val);
			tag[b] = '\0';
			tag += g1;
		}
	}
	char *nth = strstr(tag, ":nth-child(");
	if (nth) {
		char *v = nth + 11, *end = strstr(v, ":nth-child(");
		size_t n = end ? (size_t)(end - v) : strlen(v);
		char *val = sn_arena_alloc(x->a, n + 1);
		if (!val)
			return SN_ERR_NOMEM;
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			if (v[i] != ')')
				val[k++] = v[i];
		val[k] = '\0';
		ch_set(p, "nth-child", val);
		*nth = '\0';
	}
	/* Dots split classes, except inside [...] (Tailwind's arbitrary values):
	 * a dot is a separator unless a `]` comes before the next `[`. */
	for (char *d = tag; *d; d++) {
		if (*d != '.')
			continue;
		char *r = d + 1;
		while (*r && *r != '[' && *r != ']')
			r++;
		if (*r == ']')
			continue;
		if (p->ncls == SEL_MAX)
			return ifail(x, "validation_error", "A selector part has too many classes");
		*d = '\0';
		p->cls[p->ncls++] = d + 1;
	}
	char *hash = strchr(tag, '#');
	if (hash) {
		*hash = '\0';
		char *id = hash + 1, *next = strchr(id, '#');
		if (next) {
			char *cp = sn_arena_strndup(x->a, id, (size_t)(next - id));
			if (!cp)
				return SN_ERR_NOMEM;
			id = cp;
		}
		ch_set(p, "attr_id", id);
	}
	if (*tag)
		p->tag = tag;
	return 0;
}

static char *replace_all(struct ictx *x, const char *s, const char *from, const char *to)
{
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	size_t fl = strlen(from);
	int rc = 0;
	for (const char *p = s; *p && rc == 0;) {
		if (strncmp(p, from, fl) == 0) {
			rc = sn_buf_appends(&b, to);
			p += fl;
		} else {
			rc = sn_buf_appendc(&b, *p++);
		}
	}
	char *out = rc ? NULL : sn_arena_strndup(x->a, b.data ? b.data : "", b.len);
	sn_buf_release(&b);
	return out;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_kv(const void *a, const void *b)
{
	const struct sel_kv *p = a, *q = b;
	int c = strcmp(p->key, q->key);
	return c ? c : strcmp(p->val, q->val);
}

/* PostHog's build_selector_regex over the parsed parts. */
static int selector_regex(struct ictx *x, const char *selector, struct sn_buf *re)
{
	char *s = replace_all(x, selector, "> * > ", "");
	s = s ? replace_all(x, s, "> *", "") : NULL;
	s = s ? replace_all(x, s, "\\:", ":") : NULL;
	if (!s)
		return SN_ERR_NOMEM;
	while (*s && isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	/* Split on spaces outside [...], minding quotes. */
	char *tags[SEL_MAX];
	size_t ntags = 0;
	bool in_attr = false;
	char in_q = 0;
	char *start = s;
	for (char *c = s;; c++) {
		if (*c == '[' && !in_q)
			in_attr = true;
		if (*c == ']' && !in_q)
			in_attr = false;
		if (*c == '"' || *c == '\'') {
			if (in_q) {
				if (in_q == *c)
					in_q = 0;
			} else {
				in_q = *c;
			}
		}
		if (*c == '\0' || (*c == ' ' && !in_attr)) {
			bool end = *c == '\0';
			*c = '\0';
			if (ntags == SEL_MAX)
				return ifail(x, "validation_error",
					     "A selector has too many parts");
			tags[ntags++] = start;
			start = c + 1;
			if (end)
				break;
		}
	}
	int rc = 0;
	struct sel_part *part = sn_arena_alloc(x->a, sizeof(*part));
	if (!part)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < ntags && rc == 0; i++) {
		size_t idx = ntags - 1 - i; /* the reversed list, as PostHog walks it */
		char *tag = tags[idx];
		if (strcmp(tag, ">") == 0 || !*tag)
			continue;
		memset(part, 0, sizeof(*part));
		part->direct = i > 0 && strcmp(tags[idx + 1], ">") == 0;
		if ((rc = sel_part(x, tag, part)))
			break;
		if (part->tag && strcmp(part->tag, "*") != 0)
			rc = re_escape(re, part->tag, strlen(part->tag));
		if (rc == 0 && part->ncls) {
			qsort(part->cls, part->ncls, sizeof(part->cls[0]), cmp_str);
			rc = sn_buf_appends(re, ".*?\\.");
			for (size_t k = 0; k < part->ncls && rc == 0; k++) {
				if (k)
					rc = sn_buf_appends(re, "\\..*?");
				rc = rc ? rc : re_escape(re, part->cls[k], strlen(part->cls[k]));
			}
		}
		if (rc == 0 && part->nch) {
			qsort(part->ch, part->nch, sizeof(part->ch[0]), cmp_kv);
			rc = sn_buf_appends(re, ".*?");
			for (size_t k = 0; k < part->nch && rc == 0; k++) {
				rc = re_escape(re, part->ch[k].key, strlen(part->ch[k].key));
				rc = rc ? rc : sn_buf_appends(re, "=\"");
				rc = rc ? rc
					: re_escape(re, part->ch[k].val, strlen(part->ch[k].val));
				rc = rc ? rc : sn_buf_appends(re, "\".*?");
			}
		}
		rc = rc ? rc
			: sn_buf_appends(re, "([-_a-zA-Z0-9\\.:\"= \\[\\]\\(\\),]*?)?"
					     "($|;|:([^;^\\s]*(;|$|\\s)))");
		if (rc == 0 && part->direct)
			rc = sn_buf_appends(re, ".*");
	}
	return rc;
}

static int anchored_selector_regex(struct ictx *x, const char *selector, struct sn_buf *out)
{
	struct sn_buf re;
	sn_buf_init(&re, 1 << 20);
	int rc = selector_regex(x, selector, &re);
	if (rc == 0 && re.len) {
		rc = sn_buf_appends(out, "(^|;)");
		rc = rc ? rc : sn_buf_append(out, re.data, re.len);
	}
	sn_buf_release(&re);
	return rc;
}

static int selector_expr(struct ictx *x, struct sn_buf *b, const char *selector, bool negate)
{
	struct sn_buf re;
	sn_buf_init(&re, 1 << 20);
	int rc = anchored_selector_regex(x, selector, &re);
	rc = rc ? rc : chain_match(b, re.data ? re.data : "", re.len, negate);
	sn_buf_release(&re);
	return rc;
}

/* PostHog's property_to_expr for a regex on href or text: an unanchored
 * match against the chain's first href, or any of its texts, that a
 * missing href or text leaves false (true for not_regex on href). */
static int key_regex_expr(struct sn_buf *b, const char *key, const char *v, bool negate)
{
	bool text = strcmp(key, "text") == 0;
	const char *re = text ? HQ_CHAIN_TEXT_RE : HQ_CHAIN_HREF_RE;
	int rc = sn_buf_appends(b, text ? "arrayExists(x -> " : "");
	rc = rc ? rc : sn_buf_appends(b, negate ? "ifNull(not(match(" : "ifNull(match(");
	if (text) {
		rc = rc ? rc : sn_buf_appendc(b, 'x');
	} else {
		rc = rc ? rc : sn_buf_appends(b, "extract(elements_chain, ");
		rc = rc ? rc : hq_str(b, re, strlen(re));
		rc = rc ? rc : sn_buf_appendc(b, ')');
	}
	rc = rc ? rc : sn_buf_appends(b, ", ");
	rc = rc ? rc : hq_str(b, v, strlen(v));
	rc = rc ? rc : sn_buf_appends(b, negate ? ")), 1)" : "), 0)");
	if (text) {
		rc = rc ? rc : sn_buf_appends(b, ", extractAll(elements_chain, ");
		rc = rc ? rc : hq_str(b, re, strlen(re));
		rc = rc ? rc : sn_buf_appends(b, "))");
	}
	return rc;
}

/* PostHog's element_chain_key_filter: key="value" somewhere in the chain. */
static int key_expr(struct ictx *x, struct sn_buf *b, const char *key, const char *v,
		    const char *op)
{
	if (strcmp(op, "regex") == 0 || strcmp(op, "not_regex") == 0)
		return key_regex_expr(b, key, v, op[0] == 'n');
	struct sn_buf esc, re;
	sn_buf_init(&esc, 1 << 20);
	sn_buf_init(&re, 1 << 20);
	int rc = 0;
	for (const char *p = v; *p && rc == 0; p++)
		rc = *p == '"' ? sn_buf_appends(&esc, "\\\"") : sn_buf_appendc(&esc, *p);
	bool icontains = strcmp(op, "icontains") == 0 || strcmp(op, "not_icontains") == 0;
	bool negate = strcmp(op, "is_not_set") == 0 || strcmp(op, "not_icontains") == 0 ||
		      strcmp(op, "is_not") == 0 || strcmp(op, "not_regex") == 0;
	rc = rc ? rc : sn_buf_appendf(&re, "%s(%s=\"", icontains ? "(?i)" : "", key);
	if (rc) {
	} else if (strcmp(op, "is_set") == 0 || strcmp(op, "is_not_set") == 0) {
		rc = sn_buf_appends(&re, "[^\"]+");
	} else if (icontains) {
		rc = sn_buf_appends(&re, "[^\"]*");
		rc = rc ? rc : re_escape(&re, esc.data ? esc.data : "", esc.len);
		rc = rc ? rc : sn_buf_appends(&re, "[^\"]*");
	} else if (strcmp(op, "regex") == 0 || strcmp(op, "not_regex") == 0) {
		rc = sn_buf_append(&re, esc.data ? esc.data : "", esc.len);
	} else if (strcmp(op, "exact") == 0 || strcmp(op, "is_not") == 0) {
		rc = re_escape(&re, esc.data ? esc.data : "", esc.len);
	} else {
		rc =
		    ifail(x, "not_supported",
			  "The element filter on '%s' does not support the operator '%s'", key, op);
	}
	rc = rc ? rc : sn_buf_appends(&re, "\")");
	rc = rc ? rc : chain_match(b, re.data, re.len, negate);
	sn_buf_release(&esc);
	sn_buf_release(&re);
	return rc;
}

/* One element filter with a single value. */
static int element_one(struct ictx *x, struct sn_buf *b, const char *key, const char *op,
		       struct json_object *v)
{
	const char *t = "";
	int rc = 0;
	if (v && (rc = value_text(x, v, &t)))
		return rc;
	if (strcmp(key, "selector") == 0 || strcmp(key, "tag_name") == 0) {
		bool neg = strcmp(op, "is_not") == 0;
		if (!neg && strcmp(op, "exact") != 0)
			return ifail(
			    x, "not_supported",
			    "The element filter on '%s' supports only exact and is_not, not "
			    "'%s'",
			    key, op);
		return key[0] == 's' ? selector_expr(x, b, t, neg) : tag_name_expr(b, t, neg);
	}
	if (strcmp(key, "href") == 0 || strcmp(key, "text") == 0)
		return key_expr(x, b, key, t, op);
	return ifail(x, "not_supported", "Element filters on '%s' are not supported", key);
}

/* PostHog's element property filter: a list of values is an OR of one filter
 * each (an AND for the negative operators); one value is that filter. */
static int element_filter(struct ictx *x, struct sn_buf *b, struct json_object *f, const char *key)
{
	const char *op = jstr(f, "operator");
	if (!op)
		op = "exact";
	struct json_object *v = jget(f, "value");
	if (!v || !json_object_is_type(v, json_type_array))
		return element_one(x, b, key, op, v);
	size_t n = json_object_array_length(v);
	if (n == 1)
		return element_one(x, b, key, op, json_object_array_get_idx(v, 0));
	bool and = strcmp(op, "is_not") == 0 || strcmp(op, "not_icontains") == 0 ||
		   strcmp(op, "not_regex") == 0;
	if (n == 0)
		return sn_buf_appends(b, and? "1" : "0");
	int rc = sn_buf_appendc(b, '(');
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (i)
			rc = sn_buf_appends(b, and? " AND " : " OR ");
		rc = rc ? rc : element_one(x, b, key, op, json_object_array_get_idx(v, i));
	}
	return rc ? rc : sn_buf_appendc(b, ')');
}

static int one_filter(struct ictx *x, struct sn_buf *b, struct json_object *f)
{
	if (!json_object_is_type(f, json_type_object))
		return ifail(x, "validation_error", "A property filter must be an object");
	const char *type = jstr(f, "type");
	const char *key = jstr(f, "key");
	if (!type)
		type = "event";
	if (!key)
		return ifail(x, "validation_error", "A property filter needs a string 'key'");
	if (strcmp(type, "element") == 0)
		return element_filter(x, b, f, key);
	if (strcmp(type, "cohort") == 0 || strcmp(type, "precalculated-cohort") == 0 ||
	    strcmp(type, "static-cohort") == 0) {
		/* {"type": "cohort", "key": "id", "value": 7, "operator": "in" |
		 * "not_in"}: the event's person in the cohort's members. */
		struct json_object *cv = jget(f, "value");
		int64_t id = json_object_is_type(cv, json_type_int) ? json_object_get_int64(cv)
			     : json_object_is_type(cv, json_type_string)
				 ? strtoll(json_object_get_string(cv), NULL, 10)
				 : 0;
		const char *cop = jstr(f, "operator");
		if (id <= 0)
			return ifail(x, "validation_error",
				     "A cohort filter needs the cohort's id as its value");
		return sn_buf_appendf(b, "(person_id %s COHORT %lld)",
				      cop && strcmp(cop, "not_in") == 0 ? "NOT IN" : "IN",
				      (long long)id);
	}
	if (strcmp(type, "hogql") == 0) {
		int rc = sn_buf_appendc(b, '(');
		rc = rc ? rc : sn_buf_appends(b, key);
		return rc ? rc : sn_buf_appendc(b, ')');
	}
	const char *op = jstr(f, "operator");
	if (!op)
		op = "exact";
	struct json_object *v = jget(f, "value");
	struct sn_buf fld;
	sn_buf_init(&fld, 4096);
	int rc = filter_field(x, &fld, f, type, key);
	if (rc) {
		sn_buf_release(&fld);
		return rc;
	}
	const char *p = fld.data;
	if (strcmp(type, "session") == 0 && hq_session_numeric(key) &&
	    (strcmp(op, "exact") == 0 || strcmp(op, "is_not") == 0)) {
		/* a number compared as text, as the other properties are */
		struct sn_buf ts;
		sn_buf_init(&ts, 4096);
		rc = sn_buf_appendf(&ts, "toString(%s)", p);
		sn_buf_release(&fld);
		fld = ts;
		p = fld.data;
		if (rc) {
			sn_buf_release(&fld);
			return rc;
		}
	}
	if (strcmp(op, "is_set") == 0) {
		rc = sn_buf_appendf(b, "isNotNull(%s)", p);
	} else if (strcmp(op, "is_not_set") == 0) {
		rc = sn_buf_appendf(b, "isNull(%s)", p);
	} else if (strcmp(op, "exact") == 0 || strcmp(op, "is_not") == 0) {
		bool neg = op[0] == 'i';
		if (!v) {
			rc = ifail(x, "validation_error", "The filter on '%s' needs a value", key);
		} else if (json_object_is_type(v, json_type_array)) {
			size_t n = json_object_array_length(v);
			if (n == 0) {
				rc = sn_buf_appends(b, neg ? "1" : "0");
			} else {
				rc = sn_buf_appendf(b, "(%s %s (", p, neg ? "NOT IN" : "IN");
				for (size_t i = 0; i < n && rc == 0; i++) {
					const char *t;
					rc = value_text(x, json_object_array_get_idx(v, i), &t);
					if (rc == 0 && i)
						rc = sn_buf_appends(b, ", ");
					if (rc == 0)
						rc = hq_str(b, t, strlen(t));
				}
				rc = rc ? rc : sn_buf_appends(b, "))");
			}
		} else {
			const char *t;
			rc = value_text(x, v, &t);
			if (rc == 0)
				rc = sn_buf_appendf(b, "(%s %s ", p, neg ? "!=" : "=");
			rc = rc ? rc : hq_str(b, t, strlen(t));
			rc = rc ? rc : sn_buf_appendc(b, ')');
		}
	} else if (strcmp(op, "icontains") == 0 || strcmp(op, "not_icontains") == 0) {
		const char *t;
		rc = v ? value_text(x, v, &t)
		       : ifail(x, "validation_error", "The filter on '%s' needs a value", key);
		if (rc == 0) {
			struct sn_buf pat;
			sn_buf_init(&pat, 1 << 16);
			rc = sn_buf_appendf(&pat, "%%%s%%", t);
			if (rc == 0)
				rc = sn_buf_appendf(b, "(toString(%s) %s ", p,
						    op[0] == 'n' ? "NOT ILIKE" : "ILIKE");
			rc = rc ? rc : hq_str(b, pat.data, pat.len);
			rc = rc ? rc : sn_buf_appendc(b, ')');
			sn_buf_release(&pat);
		}
	} else if (strcmp(op, "regex") == 0 || strcmp(op, "not_regex") == 0) {
		const char *t;
		rc = v ? value_text(x, v, &t)
		       : ifail(x, "validation_error", "The filter on '%s' needs a value", key);
		if (rc == 0)
			rc = sn_buf_appendf(b, "%s(ifNull(match(toString(%s), ",
					    op[0] == 'n' ? "not" : "", p);
		rc = rc ? rc : hq_str(b, t, strlen(t));
		rc = rc ? rc : sn_buf_appends(b, op[0] == 'n' ? "), 0))" : "), 0))");
	} else if (strcmp(op, "gt") == 0 || strcmp(op, "gte") == 0 || strcmp(op, "lt") == 0 ||
		   strcmp(op, "lte") == 0) {
		double d;
		rc = v ? value_num(x, v, key, &d)
		       : ifail(x, "validation_error", "The filter on '%s' needs a value", key);
		const char *sym = strcmp(op, "gt") == 0	   ? ">"
				  : strcmp(op, "gte") == 0 ? ">="
				  : strcmp(op, "lt") == 0  ? "<"
							   : "<=";
		if (rc == 0)
			rc = sn_buf_appendf(b, "(toFloat(%s) %s %.17g)", p, sym, d);
	} else if (strcmp(op, "between") == 0 || strcmp(op, "not_between") == 0) {
		double lo, hi;
		if (!v || !json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) != 2)
			rc = ifail(x, "validation_error",
				   "The filter on '%s' needs a value [min, max]", key);
		else if ((rc = value_num(x, json_object_array_get_idx(v, 0), key, &lo)) == 0 &&
			 (rc = value_num(x, json_object_array_get_idx(v, 1), key, &hi)) == 0)
			rc = sn_buf_appendf(b, "%s(toFloat(%s) >= %.17g AND toFloat(%s) <= %.17g)",
					    op[0] == 'n' ? "NOT " : "", p, lo, p, hi);
	} else if (strcmp(op, "is_date_before") == 0 || strcmp(op, "is_date_after") == 0 ||
		   strcmp(op, "is_date_exact") == 0) {
		const char *t;
		rc = v ? value_text(x, v, &t)
		       : ifail(x, "validation_error", "The filter on '%s' needs a value", key);
		const char *sym = op[8] == 'b' ? "<" : op[8] == 'a' ? ">" : "=";
		int64_t rel;
		if (rc == 0)
			rc = sn_buf_appendf(b, "(toDateTime(%s) %s toDateTime(", p, sym);
		if (rc == 0 && dr_date_value(x, t, &rel)) {
			char when[40];
			fmt_loc_dt(when, sizeof(when), rel);
			rc = sn_buf_appendf(b, "'%s', 'UTC'))", when);
		} else {
			rc = rc ? rc : hq_str(b, t, strlen(t));
			rc = rc ? rc : sn_buf_appends(b, "))");
		}
	} else {
		rc = ifail(x, "not_supported",
			   "The property filter operator '%s' is not supported yet", op);
	}
	sn_buf_release(&fld);
	return rc;
}

static int group(struct ictx *x, struct sn_buf *b, struct json_object *g, bool is_or, int depth)
{
	if (depth > 20)
		return ifail(x, "validation_error", "Property filter groups nest too deeply");
	size_t n = json_object_array_length(g), used = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct json_object *f = json_object_array_get_idx(g, i);
		if (!f)
			continue;
		rc = sn_buf_appends(b, used ? (is_or ? " OR " : " AND ") : "(");
		used++;
		if (rc)
			break;
		const char *t = jstr(f, "type");
		struct json_object *vals = jget(f, "values");
		if (t && (strcmp(t, "AND") == 0 || strcmp(t, "OR") == 0) && vals &&
		    json_object_is_type(vals, json_type_array)) {
			if (json_object_array_length(vals) == 0)
				rc = sn_buf_appends(b, "1");
			else
				rc = group(x, b, vals, t[0] == 'O', depth + 1);
		} else {
			rc = one_filter(x, b, f);
		}
	}
	if (rc == 0)
		rc = sn_buf_appends(b, used ? ")" : "1");
	return rc;
}

int hq_filters(struct ictx *x, struct sn_buf *b, struct json_object *props)
{
	if (!props)
		return sn_buf_appends(b, "1");
	if (json_object_is_type(props, json_type_array))
		return group(x, b, props, false, 0);
	if (json_object_is_type(props, json_type_object)) {
		const char *t = jstr(props, "type");
		struct json_object *vals = jget(props, "values");
		if (!t || (strcmp(t, "AND") != 0 && strcmp(t, "OR") != 0) || !vals ||
		    !json_object_is_type(vals, json_type_array))
			return ifail(
			    x, "validation_error",
			    "properties must be a list of filters or {\"type\": \"AND\"|\"OR\", "
			    "\"values\": [...]}");
		return group(x, b, vals, t[0] == 'O', 0);
	}
	return ifail(x, "validation_error", "properties must be a list of filters");
}
