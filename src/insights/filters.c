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
 * and an operator (exact by default):
 *   exact / is_not     = / != (a list value: IN / NOT IN), values compared
 *                      as text since properties read as strings (§4.2)
 *   icontains / not_icontains  ILIKE '%v%' (NOT: NULL counts as not containing)
 *   regex / not_regex  match(toString(p), v)
 *   gt gte lt lte      toFloat(p) against the number
 *   is_set / is_not_set  isNotNull / isNull
 *   is_date_before / is_date_after / is_date_exact  toDateTime(p) against the date
 *   between / not_between  toFloat(p) within [min, max]
 * HogQL's NULL-safe comparisons (§4.3) make `!=` and NOT ILIKE true for a
 * missing property, as PostHog's are. Cohort, element, session and other
 * filter types are refused with an error naming them until they exist.
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
		return hq_prop(b, "person.properties", key);
	if (strcmp(type, "event_metadata") == 0)
		return hq_ident(b, key);
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
		if (rc == 0)
			rc = sn_buf_appendf(b, "(toDateTime(%s) %s toDateTime(", p, sym);
		rc = rc ? rc : hq_str(b, t, strlen(t));
		rc = rc ? rc : sn_buf_appends(b, "))");
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
