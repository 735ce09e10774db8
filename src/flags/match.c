/*
 * match.c — one property filter against one request's property map, with
 * the server semantics and coercions of spec §3.4 / §3.4.1.
 *
 * The filter side was coerced at compile time (lowercased string forms,
 * numbers, semver bounds, PCRE2 code); here only the request side is: its
 * string form is the string itself, or the value's JSON text as it arrived
 * (30.0 stays "30.0", true is "true"), read in place or written into a stack
 * buffer, so matching allocates nothing except the PCRE2 match data, which
 * comes from the request arena through a PCRE2 general context.
 *
 * Case folding is ASCII only. PostHog's `exact` lowercases full Unicode;
 * the difference shows only for non-ASCII letters in different cases.
 *
 * Missing property: the negative operators (is_not, is_not_set, not_*)
 * match, every other operator does not. Values that make no sense for the
 * operator (a bad regex, "abc" for gt, an unparseable date or version) do
 * not match, and neither do their negations: PostHog reports such a filter
 * as an error, which makes the condition false.
 */
#include "flags/flags_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sn_flag_str_form(struct json_object *v, char *buf, size_t bufsz, size_t *len)
{
	switch (json_object_get_type(v)) {
	case json_type_string:
		*len = (size_t)json_object_get_string_len(v);
		return json_object_get_string(v);
	case json_type_null: *len = 4; return "null";
	case json_type_boolean:
		*len = json_object_get_boolean(v) ? 4 : 5;
		return json_object_get_boolean(v) ? "true" : "false";
	case json_type_int: {
		int n = snprintf(buf, bufsz, "%lld", (long long)json_object_get_int64(v));
		*len = (size_t)n;
		return buf;
	}
	default: {
		/* doubles (original text), objects and arrays: the request's own
		 * objects, so json-c's cached serialisation is ours to make */
		size_t n = 0;
		const char *s = json_object_to_json_string_length(
		    v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
		*len = n;
		return s ? s : "";
	}
	}
}

static bool ieq(const char *a, size_t an, const char *lower, size_t ln)
{
	if (an != ln)
		return false;
	for (size_t i = 0; i < an; i++)
		if (tolower((unsigned char)a[i]) != (unsigned char)lower[i])
			return false;
	return true;
}

static bool icontains(const char *hay, size_t hn, const char *lower, size_t ln)
{
	if (ln == 0)
		return true;
	for (size_t i = 0; i + ln <= hn; i++)
		if (ieq(hay + i, ln, lower, ln))
			return true;
	return false;
}

static bool x_truthy(struct json_object *x)
{
	if (json_object_is_type(x, json_type_boolean))
		return json_object_get_boolean(x);
	if (json_object_is_type(x, json_type_string))
		return sn_str_ieq(json_object_get_string(x), (size_t)json_object_get_string_len(x),
				  "true");
	return false;
}

static bool x_number(struct json_object *x, double *out)
{
	switch (json_object_get_type(x)) {
	case json_type_int:
	case json_type_double: *out = json_object_get_double(x); return true;
	case json_type_string: {
		const char *s = json_object_get_string(x);
		size_t n = (size_t)json_object_get_string_len(x);
		char buf[64];
		if (n == 0 || n >= sizeof(buf))
			return false;
		if (isdigit((unsigned char)s[0])) {
			/* strtod reads a string that starts with a digit as a
			 * decimal number and stops at any other character, and at a
			 * sign not after the exponent's e: such a string is no
			 * number, found without strtod (dates, versions). */
			for (size_t i = 1; i < n; i++) {
				char c = s[i];
				if (isdigit((unsigned char)c) || c == '.' || c == 'e' || c == 'E')
					continue;
				if ((c == '+' || c == '-') && (s[i - 1] == 'e' || s[i - 1] == 'E'))
					continue;
				return false;
			}
		}
		memcpy(buf, s, n);
		buf[n] = 0;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)buf[i];
			if (isspace(c) || c == 'x' || c == 'X' || c == 'p' || c == 'P')
				return false;
		}
		char *end;
		*out = strtod(buf, &end);
		return end == buf + n;
	}
	default: return false;
	}
}

static bool is_negative_op(enum sn_flag_op op)
{
	switch (op) {
	case OP_IS_NOT:
	case OP_IS_NOT_SET:
	case OP_NOT_ICONTAINS:
	case OP_NOT_ICONTAINS_MULTI:
	case OP_NOT_STARTS_WITH:
	case OP_NOT_ENDS_WITH:
	case OP_NOT_REGEX:
	case OP_NOT_BETWEEN: return true;
	default: return false;
	}
}

static void *arena_malloc(PCRE2_SIZE n, void *data)
{
	return sn_arena_alloc(data, n);
}

static void arena_free(void *p, void *data)
{
	(void)p;
	(void)data;
}

/* 1 match, 0 no match, -1 error (limits hit, out of memory). */
static int re_search(struct sn_flag_eval *ev, const pcre2_code *re, const char *s, size_t n)
{
	if (!ev->re_match) {
		if (!ev->re_gctx)
			ev->re_gctx =
			    pcre2_general_context_create(arena_malloc, arena_free, ev->arena);
		if (!ev->re_gctx)
			return -1;
		ev->re_match = pcre2_match_data_create(1, ev->re_gctx);
		if (!ev->re_match)
			return -1;
	}
	int rc = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, ev->re_match, ev->set->mctx);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* A request-side date: a number (or a string of only a number) is Unix
 * seconds (§3.4.1), otherwise an absolute date in the team timezone. */
static bool x_date(struct json_object *x, int32_t tz, int64_t *us)
{
	double d;
	if (x_number(x, &d)) {
		if (!isfinite(d) || fabs(d) > 1e14)
			return false;
		*us = (int64_t)(d * 1e6);
		return true;
	}
	if (!json_object_is_type(x, json_type_string))
		return false;
	return sn_flag_parse_abs_date(json_object_get_string(x),
				      (size_t)json_object_get_string_len(x), tz, us);
}

static int64_t day_of(int64_t us, int32_t tz)
{
	int64_t s = us / 1000000 + tz;
	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

static int match_value(struct sn_flag_eval *ev, const struct sn_flag_prop *p, struct json_object *x)
{
	char buf[64];
	size_t xn;
	const char *xs;
	switch (p->op) {
	case OP_IS_SET: return 1;
	case OP_IS_NOT_SET: return 0;
	case OP_EXACT:
	case OP_IS_NOT: {
		bool m = false;
		if (p->truthy_mode) {
			bool xt = x_truthy(x);
			if (p->is_array) {
				for (size_t i = 0; i < p->nelems && !m; i++)
					m = p->elem_truthy[i] == xt;
			} else {
				m = p->truthy == xt;
			}
		} else {
			xs = sn_flag_str_form(x, buf, sizeof(buf), &xn);
			if (p->is_array) {
				for (size_t i = 0; i < p->nelems && !m; i++)
					m = ieq(xs, xn, p->elems[i], p->elem_lens[i]);
			} else {
				m = ieq(xs, xn, p->str, p->str_len);
			}
		}
		return p->op == OP_EXACT ? m : !m;
	}
	case OP_ICONTAINS:
	case OP_NOT_ICONTAINS: {
		xs = sn_flag_str_form(x, buf, sizeof(buf), &xn);
		bool m = icontains(xs, xn, p->str, p->str_len);
		return p->op == OP_ICONTAINS ? m : !m;
	}
	case OP_ICONTAINS_MULTI:
	case OP_NOT_ICONTAINS_MULTI: {
		xs = sn_flag_str_form(x, buf, sizeof(buf), &xn);
		bool m = false;
		if (p->is_array) {
			for (size_t i = 0; i < p->nelems && !m; i++)
				m = icontains(xs, xn, p->elems[i], p->elem_lens[i]);
		} else {
			m = icontains(xs, xn, p->str, p->str_len);
		}
		return p->op == OP_ICONTAINS_MULTI ? m : !m;
	}
	case OP_STARTS_WITH:
	case OP_NOT_STARTS_WITH: {
		xs = sn_flag_str_form(x, buf, sizeof(buf), &xn);
		bool m = xn >= p->str_len && ieq(xs, p->str_len, p->str, p->str_len);
		return p->op == OP_STARTS_WITH ? m : !m;
	}
	case OP_ENDS_WITH:
	case OP_NOT_ENDS_WITH: {
		xs = sn_flag_str_form(x, buf, sizeof(buf), &xn);
		bool m =
		    xn >= p->str_len && ieq(xs + xn - p->str_len, p->str_len, p->str, p->str_len);
		return p->op == OP_ENDS_WITH ? m : !m;
	}
	case OP_REGEX:
	case OP_NOT_REGEX: {
		if (!p->re)
			return 0; /* invalid pattern: false for both */
		xs = sn_flag_str_form(x, buf, sizeof(buf), &xn);
		int m = re_search(ev, p->re, xs, xn);
		if (m < 0)
			return 0; /* limit hit: as an invalid pattern */
		return p->op == OP_REGEX ? m : !m;
	}
	case OP_GT:
	case OP_GTE:
	case OP_LT:
	case OP_LTE: {
		double d;
		if (!p->num_ok || !x_number(x, &d))
			return 0;
		switch (p->op) {
		case OP_GT: return d > p->num;
		case OP_GTE: return d >= p->num;
		case OP_LT: return d < p->num;
		default: return d <= p->num;
		}
	}
	case OP_BETWEEN:
	case OP_NOT_BETWEEN: {
		double d;
		if (!p->num_ok || !x_number(x, &d) || isnan(d))
			return 0;
		bool m = d >= p->num && d <= p->num2;
		return p->op == OP_BETWEEN ? m : !m;
	}
	case OP_DATE_BEFORE:
	case OP_DATE_AFTER:
	case OP_DATE_EXACT: {
		const struct sn_flag_ctx *ctx = ev->ctx;
		int64_t v, xd;
		if (!p->date.ok)
			return 0;
		if (p->date.relative)
			v = sn_flag_rel_date_us(ctx->now_us, p->date.amount, p->date.unit);
		else if (!sn_flag_parse_abs_date(p->raw, p->raw_len, ctx->tz_offset_s, &v))
			return 0;
		if (!x_date(x, ctx->tz_offset_s, &xd))
			return 0;
		if (p->op == OP_DATE_BEFORE)
			return xd < v;
		if (p->op == OP_DATE_AFTER)
			return xd > v;
		return day_of(xd, ctx->tz_offset_s) == day_of(v, ctx->tz_offset_s);
	}
	case OP_SEMVER_EQ:
	case OP_SEMVER_NEQ:
	case OP_SEMVER_GT:
	case OP_SEMVER_GTE:
	case OP_SEMVER_LT:
	case OP_SEMVER_LTE:
	case OP_SEMVER_TILDE:
	case OP_SEMVER_CARET:
	case OP_SEMVER_WILDCARD: {
		struct sn_semver sv;
		if (!p->semver_ok)
			return 0;
		if (p->sv_any)
			return 1;
		xs = sn_flag_str_form(x, buf, sizeof(buf), &xn);
		if (!sn_semver_parse(xs, xn, &sv))
			return 0;
		int c = sn_semver_cmp(&sv, &p->sv_lo);
		switch (p->op) {
		case OP_SEMVER_EQ: return c == 0;
		case OP_SEMVER_NEQ: return c != 0;
		case OP_SEMVER_GT: return c > 0;
		case OP_SEMVER_GTE: return c >= 0;
		case OP_SEMVER_LT: return c < 0;
		case OP_SEMVER_LTE: return c <= 0;
		default: return c >= 0 && sn_semver_cmp(&sv, &p->sv_hi) < 0;
		}
	}
	default: return 0; /* unknown operator, or in/not_in on a non-cohort filter */
	}
}

static int match_flag_dep(struct sn_flag_eval *ev, const struct sn_flag_prop *p, int depth)
{
	if (p->op != OP_FLAG_EVALUATES_TO || p->dep_cycle || p->dep_idx < 0 || !p->value)
		return 0;
	const struct sn_flag_result *r = sn_flag_eval_dep(ev, (size_t)p->dep_idx, depth);
	if (!r)
		return 0; /* a cycle met at run time */
	if (json_object_is_type(p->value, json_type_boolean))
		return json_object_get_boolean(p->value) == r->enabled;
	if (json_object_is_type(p->value, json_type_string))
		return r->variant && !strcmp(r->variant, json_object_get_string(p->value));
	return 0;
}

int sn_flag_match_prop(struct sn_flag_eval *ev, const struct sn_flag_prop *p,
		       struct json_object *props, int depth)
{
	int m;
	if (depth > SN_FLAG_MAX_NESTING)
		return 0;
	switch (p->type) {
	case PT_FLAG: m = match_flag_dep(ev, p, depth); break;
	case PT_COHORT:
		if (p->op != OP_IN && p->op != OP_NOT_IN) {
			m = 0;
			break;
		}
		if (p->cohort) {
			m = sn_flag_match_group(ev, p->cohort, ev->ctx->person_properties,
						depth + 1);
		} else { /* static or precalculated: the person's memberships */
			m = 0;
			for (size_t i = 0; i < ev->ctx->ncohorts && !m; i++)
				m = ev->ctx->cohorts[i] == p->cohort_id;
		}
		if (p->op == OP_NOT_IN)
			m = !m;
		break;
	case PT_UNSUPPORTED: m = 0; break;
	default: {
		struct json_object *x = NULL;
		bool found;
		if (!props || !json_object_is_type(props, json_type_object)) {
			found = false;
		} else if (p->type == PT_PERSON && props == ev->ctx->person_properties &&
			   p->key_slot >= 0 && (size_t)p->key_slot < ev->set->npkeys) {
			/* Many filters read the same few keys: one hash lookup each
			 * per evaluation. */
			uint8_t *st = &ev->pstate[p->key_slot];
			if (!*st)
				*st = json_object_object_get_ex(props, p->key,
								&ev->pvals[p->key_slot])
					  ? 2
					  : 1;
			found = *st == 2;
			x = ev->pvals[p->key_slot];
		} else {
			found = json_object_object_get_ex(props, p->key, &x);
		}
		m = found ? match_value(ev, p, x) : is_negative_op(p->op);
		break;
	}
	}
	return p->negation ? !m : m;
}

int sn_flag_match_group(struct sn_flag_eval *ev, const struct sn_flag_group *g,
			struct json_object *props, int depth)
{
	if (depth > SN_FLAG_MAX_NESTING)
		return 0;
	if (g->n == 0)
		return 1;
	for (size_t i = 0; i < g->n; i++) {
		const struct sn_flag_group_item *it = &g->items[i];
		int m = it->group ? sn_flag_match_group(ev, it->group, props, depth + 1)
				  : sn_flag_match_prop(ev, it->prop, props, depth + 1);
		if (g->is_or && m)
			return 1;
		if (!g->is_or && !m)
			return 0;
	}
	return !g->is_or;
}
