/*
 * compile.c — turns PostHog's local-evaluation definitions (spec §2.7) into
 * the immutable struct sn_flag_set that requests evaluate against.
 *
 * Everything a request would otherwise redo per flag per request is done
 * here once: operator names become enum values, keys, variants and
 * payloads get their JSON literals and the fixed parts of the /flags answer
 * (so answers are memcpy, not escaping), filter values get their
 * lowercased string forms, numbers, dates, semver bounds and PCRE2 codes,
 * variant overrides are checked against the declared variants, group type
 * indexes are mapped to names, cohort ids to compiled property groups and
 * flag-dependency keys to flag indexes. Evaluation then only reads.
 *
 * Memory: every compiled struct and string lives in the set's arena (freed
 * in one call); filter values and payload strings point into the parsed
 * document, which the set holds a reference to; PCRE2 codes are listed in
 * set->res and freed with the set.
 *
 * Leniency: a definition that does not fit the shape (a filter that is not
 * an object, a variant without a key, a rollout that is not a number) marks
 * only that flag as broken (flag->error); the set still loads. Values that
 * merely do not make sense for their operator (a regex that does not
 * compile, "abc" for gt, an unparseable date) are not errors: PostHog
 * evaluates such a filter to false, and so do we.
 *
 * Rejected: evaluating straight from json-c objects at request time. It
 * would redo the coercions and regex compilation for every request and
 * json_object_to_json_string caches into the object, which is a data race
 * when request threads share one snapshot.
 */
#include "flags/flags_internal.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SET_ARENA_MAX	 ((size_t)256 << 20)
#define SN_FLAG_TEXT_MAX ((size_t)64 << 20) /* one key, variant or payload as JSON */

struct cohort_slot {
	const char *id;
	struct json_object *def;
	const struct sn_flag_group *compiled;
	int state; /* 0 not compiled, 1 compiling, 2 done */
};

struct builder {
	struct sn_flag_set *set;
	struct cohort_slot *cohorts;
	size_t ncohorts;
	struct sn_flag_prop **deps; /* every `flag` filter, resolved at the end */
	size_t ndeps, capdeps;
	pcre2_compile_context *cctx;
};

static void *zalloc(struct builder *b, size_t n)
{
	void *p = sn_arena_alloc(&b->set->arena, n ? n : 1);
	if (p)
		memset(p, 0, n ? n : 1);
	return p;
}

static const char *lower_dup(struct builder *b, const char *s, size_t n)
{
	char *d = sn_arena_alloc(&b->set->arena, n + 1);
	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++)
		d[i] = (char)tolower((unsigned char)s[i]);
	d[n] = 0;
	return d;
}

/* String form of a stored value (spec §3.4): a string is itself, anything
 * else its compact JSON text as it arrived (json-c keeps a parsed double's
 * original text, so 30.0 stays "30.0"). */
static const char *value_text(struct json_object *v, size_t *len)
{
	if (json_object_is_type(v, json_type_string)) {
		*len = (size_t)json_object_get_string_len(v);
		return json_object_get_string(v);
	}
	size_t n = 0;
	const char *s = json_object_to_json_string_length(
	    v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	*len = n;
	return s ? s : "null";
}

static const struct {
	const char *name;
	enum sn_flag_op op;
} op_names[] = {
    {"exact", OP_EXACT},
    {"is_not", OP_IS_NOT},
    {"is_set", OP_IS_SET},
    {"is_not_set", OP_IS_NOT_SET},
    {"icontains", OP_ICONTAINS},
    {"not_icontains", OP_NOT_ICONTAINS},
    {"icontains_multi", OP_ICONTAINS_MULTI},
    {"not_icontains_multi", OP_NOT_ICONTAINS_MULTI},
    {"starts_with", OP_STARTS_WITH},
    {"not_starts_with", OP_NOT_STARTS_WITH},
    {"ends_with", OP_ENDS_WITH},
    {"not_ends_with", OP_NOT_ENDS_WITH},
    {"regex", OP_REGEX},
    {"not_regex", OP_NOT_REGEX},
    {"gt", OP_GT},
    {"gte", OP_GTE},
    {"lt", OP_LT},
    {"lte", OP_LTE},
    {"between", OP_BETWEEN},
    {"not_between", OP_NOT_BETWEEN},
    {"is_date_before", OP_DATE_BEFORE},
    {"is_date_after", OP_DATE_AFTER},
    {"is_date_exact", OP_DATE_EXACT},
    {"semver_eq", OP_SEMVER_EQ},
    {"semver_neq", OP_SEMVER_NEQ},
    {"semver_gt", OP_SEMVER_GT},
    {"semver_gte", OP_SEMVER_GTE},
    {"semver_lt", OP_SEMVER_LT},
    {"semver_lte", OP_SEMVER_LTE},
    {"semver_tilde", OP_SEMVER_TILDE},
    {"semver_caret", OP_SEMVER_CARET},
    {"semver_wildcard", OP_SEMVER_WILDCARD},
    {"in", OP_IN},
    {"not_in", OP_NOT_IN},
    {"flag_evaluates_to", OP_FLAG_EVALUATES_TO},
};

/* Strict f64 parse of a numeric string, as Rust's str::parse::<f64>: no
 * surrounding whitespace, no hex. */
static bool parse_f64(const char *s, size_t n, double *out)
{
	char buf[64];
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (isspace(c) || c == 'x' || c == 'X' || c == 'p' || c == 'P')
			return false;
	}
	char *end;
	errno = 0;
	double d = strtod(buf, &end);
	if (end != buf + n)
		return false;
	*out = d;
	return true;
}

static bool value_number(struct json_object *v, double *out)
{
	switch (json_object_get_type(v)) {
	case json_type_int:
	case json_type_double: *out = json_object_get_double(v); return true;
	case json_type_string:
		return parse_f64(json_object_get_string(v), (size_t)json_object_get_string_len(v),
				 out);
	default: return false;
	}
}

static bool truthy_literal(struct json_object *v, bool *truth)
{
	if (json_object_is_type(v, json_type_boolean)) {
		*truth = json_object_get_boolean(v);
		return true;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		size_t n = (size_t)json_object_get_string_len(v);
		if (sn_str_ieq(s, n, "true")) {
			*truth = true;
			return true;
		}
		if (sn_str_ieq(s, n, "false")) {
			*truth = false;
			return true;
		}
	}
	return false;
}

static int add_re(struct builder *b, pcre2_code *re)
{
	struct sn_flag_set *set = b->set;
	if (set->nres == set->capres) {
		size_t cap = set->capres ? set->capres * 2 : 8;
		pcre2_code **r = realloc(set->res, cap * sizeof(*r));
		if (!r)
			return SN_ERR_NOMEM;
		set->res = r;
		set->capres = cap;
	}
	set->res[set->nres++] = re;
	return 0;
}

static void compile_semver(struct sn_flag_prop *p)
{
	const char *s = p->raw;
	size_t n = p->raw_len;
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	if (p->op == OP_SEMVER_WILDCARD) {
		/* PostHog's service reads the value as a semver-crate
		 * requirement once "*" is spelt "x": trailing wildcard parts
		 * ("*", "x", "X") are free ("1.*", "1.x.x": [1.0.0, 2.0.0);
		 * "1.2.*": [1.2.0, 1.3.0); "*": any), and a value without one
		 * is a caret requirement ("2.0.0" is ^2.0.0, "1.2" ^1.2). */
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		if (n && (s[0] == 'v' || s[0] == 'V')) {
			s++;
			n--;
		}
		uint64_t num[3] = {0};
		size_t nparts = 0, nnum = 0;
		bool wild = false;
		for (size_t i = 0; i <= n && nparts <= 3;) {
			size_t st = i;
			while (i < n && s[i] != '.')
				i++;
			size_t len = i - st;
			nparts++;
			if (len == 1 && (s[st] == '*' || s[st] == 'x' || s[st] == 'X')) {
				wild = true;
			} else if (!wild && nnum < 3 && len && len <= 19 &&
				   strspn(s + st, "0123456789") == len) {
				num[nnum++] = strtoull(s + st, NULL, 10);
			} else if (wild) {
				return; /* a number after a wildcard, or junk */
			} else {
				nparts = 4; /* not a wildcard form: read as caret */
				break;
			}
			i++;
		}
		if (wild && nparts <= 3) {
			memset(&p->sv_lo, 0, sizeof(p->sv_lo));
			memset(&p->sv_hi, 0, sizeof(p->sv_hi));
			p->semver_ok = true;
			if (nnum == 0) {
				p->sv_any = true;
				return;
			}
			p->sv_lo.v[0] = p->sv_hi.v[0] = num[0];
			p->sv_lo.v[1] = p->sv_hi.v[1] = num[1];
			if (nnum == 1)
				p->sv_hi.v[0]++;
			else
				p->sv_hi.v[1]++;
			return;
		}
		if (!sn_semver_parse(s, n, &p->sv_lo))
			return;
		p->semver_ok = true;
		p->sv_hi = p->sv_lo;
		p->sv_hi.pre = NULL;
		p->sv_hi.pre_len = 0;
		/* ^M is [M.0.0, M+1); ^0.m is [0.m.0, 0.m+1); ^0.0 is
		 * [0.0.0, 0.1.0); a full version as semver_caret. */
		size_t dots = 0;
		for (size_t i = 0; i < n && s[i] != '-' && s[i] != '+'; i++)
			dots += s[i] == '.';
		if (dots == 0 || p->sv_lo.v[0] > 0) {
			p->sv_hi.v[0]++;
			p->sv_hi.v[1] = p->sv_hi.v[2] = 0;
		} else if (dots == 1 || p->sv_lo.v[1] > 0) {
			p->sv_hi.v[1]++;
			p->sv_hi.v[2] = 0;
		} else {
			p->sv_hi.v[2]++;
		}
		return;
	}
	if (n && (s[0] == '~' || s[0] == '^')) {
		s++;
		n--;
	}
	if (!sn_semver_parse(s, n, &p->sv_lo))
		return;
	p->semver_ok = true;
	p->sv_hi = p->sv_lo;
	p->sv_hi.pre = NULL;
	p->sv_hi.pre_len = 0;
	if (p->op == OP_SEMVER_TILDE) {
		p->sv_hi.v[1]++;
		p->sv_hi.v[2] = 0;
	} else if (p->op == OP_SEMVER_CARET) {
		if (p->sv_lo.v[0] > 0) {
			p->sv_hi.v[0]++;
			p->sv_hi.v[1] = p->sv_hi.v[2] = 0;
		} else if (p->sv_lo.v[1] > 0) {
			p->sv_hi.v[1]++;
			p->sv_hi.v[2] = 0;
		} else {
			p->sv_hi.v[2]++;
		}
	}
}

static const struct sn_flag_group *compile_cohort(struct builder *b, const char *id, int depth);

/* The slot of a person property key in set->pkeys (added when new); -1
 * past SN_FLAG_PKEYS_MAX (then the filter looks the key up itself), -2 out
 * of memory. A linear search: it runs once per filter at compile time. */
static int person_key_slot(struct sn_flag_set *set, const char *key)
{
	for (size_t i = 0; i < set->npkeys; i++)
		if (!strcmp(set->pkeys[i], key))
			return (int)i;
	if (set->npkeys == SN_FLAG_PKEYS_MAX)
		return -1;
	if (!set->pkeys && !(set->pkeys = malloc(SN_FLAG_PKEYS_MAX * sizeof(*set->pkeys))))
		return -2;
	set->pkeys[set->npkeys] = key;
	return (int)set->npkeys++;
}

static int compile_prop(struct builder *b, struct json_object *f, struct sn_flag_prop *p, int depth,
			const char **msg)
{
	if (!json_object_is_type(f, json_type_object)) {
		*msg = "a property filter is not an object";
		return SN_ERR_INVALID;
	}
	p->group_type_index = -1;
	p->dep_idx = -1;
	p->key_slot = -1;
	struct json_object *k = sn_json_get(f, "key");
	if (k && json_object_is_type(k, json_type_string))
		p->key = json_object_get_string(k);
	else if (k && (json_object_is_type(k, json_type_int)))
		p->key = sn_arena_strdup(&b->set->arena, json_object_get_string(k));
	else
		p->key = "";
	if (!p->key)
		return SN_ERR_NOMEM;

	const char *type = sn_json_str(sn_json_get(f, "type"), NULL);
	if (!type || !strcmp(type, "person"))
		p->type = PT_PERSON;
	else if (!strcmp(type, "group"))
		p->type = PT_GROUP;
	else if (!strcmp(type, "cohort"))
		p->type = PT_COHORT;
	else if (!strcmp(type, "flag"))
		p->type = PT_FLAG;
	else
		p->type = PT_UNSUPPORTED; /* person_metadata, event, element ...: no match */
	if (p->type == PT_PERSON && (p->key_slot = person_key_slot(b->set, p->key)) == -2)
		return SN_ERR_NOMEM;

	const char *op = sn_json_str(sn_json_get(f, "operator"), NULL);
	p->op = op ? OP_UNKNOWN : OP_EXACT;
	for (size_t i = 0; op && i < SN_ARRAY_LEN(op_names); i++)
		if (!strcmp(op, op_names[i].name))
			p->op = op_names[i].op;

	struct json_object *gti = sn_json_get(f, "group_type_index");
	if (gti && json_object_is_type(gti, json_type_int)) {
		int64_t g = json_object_get_int64(gti);
		p->group_type_index = g >= 0 && g < 5 ? (int)g : 99;
	}
	struct json_object *neg = sn_json_get(f, "negation");
	p->negation = neg && json_object_get_boolean(neg);

	struct json_object *v = sn_json_get(f, "value");
	p->value = v;
	p->raw = value_text(v, &p->raw_len);
	if (!(p->str = lower_dup(b, p->raw, p->raw_len)))
		return SN_ERR_NOMEM;
	p->str_len = p->raw_len;

	if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		p->is_array = true;
		p->nelems = n;
		p->elems = zalloc(b, n * sizeof(*p->elems));
		p->elem_lens = zalloc(b, n * sizeof(*p->elem_lens));
		p->elem_truthy = zalloc(b, n * sizeof(*p->elem_truthy));
		if (!p->elems || !p->elem_lens || !p->elem_truthy)
			return SN_ERR_NOMEM;
		bool all_truthy = n > 0;
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			size_t len;
			const char *t = value_text(e, &len);
			if (!(p->elems[i] = lower_dup(b, t, len)))
				return SN_ERR_NOMEM;
			p->elem_lens[i] = len;
			if (!truthy_literal(e, &p->elem_truthy[i]))
				all_truthy = false;
		}
		p->truthy_mode = all_truthy;
	} else {
		p->truthy_mode = truthy_literal(v, &p->truthy);
	}

	switch (p->op) {
	case OP_REGEX:
	case OP_NOT_REGEX: {
		if (p->raw_len > SN_FLAG_RE_MAX_PATTERN)
			break; /* too long: treated like an invalid pattern */
		int ec;
		PCRE2_SIZE off;
		pcre2_code *re =
		    pcre2_compile((PCRE2_SPTR)p->raw, p->raw_len,
				  PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C,
				  &ec, &off, b->cctx);
		if (!re)
			break;
		if (add_re(b, re) < 0) {
			pcre2_code_free(re);
			return SN_ERR_NOMEM;
		}
		p->re = re;
		break;
	}
	case OP_GT:
	case OP_GTE:
	case OP_LT:
	case OP_LTE: p->num_ok = v && value_number(v, &p->num); break;
	case OP_BETWEEN:
	case OP_NOT_BETWEEN:
		if (json_object_is_type(v, json_type_array) && json_object_array_length(v) == 2)
			p->num_ok = value_number(json_object_array_get_idx(v, 0), &p->num) &&
				    value_number(json_object_array_get_idx(v, 1), &p->num2) &&
				    !isnan(p->num) && !isnan(p->num2) && p->num <= p->num2;
		break;
	case OP_DATE_BEFORE:
	case OP_DATE_AFTER:
	case OP_DATE_EXACT:
		if (json_object_is_type(v, json_type_string)) {
			if (sn_flag_parse_rel_date(p->raw, p->raw_len, &p->date.amount,
						   &p->date.unit)) {
				p->date.ok = p->date.relative = true;
			} else if (sn_flag_parse_abs_date(p->raw, p->raw_len, 0, &p->date.abs_us)) {
				/* parsed in UTC here; naive values shift by the team
				 * offset at evaluation (see match.c) */
				p->date.ok = true;
			}
		}
		break;
	case OP_SEMVER_EQ:
	case OP_SEMVER_NEQ:
	case OP_SEMVER_GT:
	case OP_SEMVER_GTE:
	case OP_SEMVER_LT:
	case OP_SEMVER_LTE:
	case OP_SEMVER_TILDE:
	case OP_SEMVER_CARET:
	case OP_SEMVER_WILDCARD:
		if (json_object_is_type(v, json_type_string))
			compile_semver(p);
		break;
	default: break;
	}

	if (p->type == PT_COHORT) {
		if (p->op == OP_EXACT)
			p->op = OP_IN; /* older data */
		size_t idn;
		const char *id = value_text(v, &idn);
		p->cohort = compile_cohort(b, id, depth + 1);
		p->cohort_id = id ? strtoll(id, NULL, 10) : 0;
		if (!p->cohort)
			b->set->needs_members = true;
	} else if (p->type == PT_FLAG) {
		struct json_object *chain = sn_json_get(f, "dependency_chain");
		p->dep_cycle = chain && json_object_is_type(chain, json_type_array) &&
			       json_object_array_length(chain) == 0;
		if (b->ndeps == b->capdeps) {
			size_t cap = b->capdeps ? b->capdeps * 2 : 8;
			struct sn_flag_prop **d = realloc(b->deps, cap * sizeof(*d));
			if (!d)
				return SN_ERR_NOMEM;
			b->deps = d;
			b->capdeps = cap;
		}
		b->deps[b->ndeps++] = p;
	}
	return 0;
}

static int compile_props(struct builder *b, struct json_object *arr, struct sn_flag_prop **out,
			 size_t *n, int depth, const char **msg)
{
	*out = NULL;
	*n = 0;
	if (!arr || json_object_is_type(arr, json_type_null))
		return 0;
	if (!json_object_is_type(arr, json_type_array)) {
		*msg = "properties is not an array";
		return SN_ERR_INVALID;
	}
	size_t cnt = json_object_array_length(arr);
	struct sn_flag_prop *props = zalloc(b, cnt * sizeof(*props));
	if (!props)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < cnt; i++) {
		int rc = compile_prop(b, json_object_array_get_idx(arr, i), &props[i], depth, msg);
		if (rc < 0)
			return rc;
	}
	*out = props;
	*n = cnt;
	return 0;
}

/* A cohort property group {"type": "AND"|"OR", "values": [...]}; values are
 * groups or filters. NULL on anything malformed (the cohort never matches). */
static const struct sn_flag_group *compile_group(struct builder *b, struct json_object *g,
						 int depth)
{
	if (depth > SN_FLAG_MAX_NESTING || !json_object_is_type(g, json_type_object))
		return NULL;
	struct sn_flag_group *out = zalloc(b, sizeof(*out));
	if (!out)
		return NULL;
	const char *type = sn_json_str(sn_json_get(g, "type"), NULL);
	out->is_or = type && !strcmp(type, "OR");
	struct json_object *vals = sn_json_get(g, "values");
	if (!vals || !json_object_is_type(vals, json_type_array))
		return out; /* {} matches everyone */
	size_t n = json_object_array_length(vals);
	out->items = zalloc(b, n * sizeof(*out->items));
	if (!out->items)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(vals, i);
		struct json_object *inner = sn_json_get(e, "values");
		const char *t = sn_json_str(sn_json_get(e, "type"), NULL);
		if (inner && t && (!strcmp(t, "AND") || !strcmp(t, "OR"))) {
			if (!(out->items[i].group = compile_group(b, e, depth + 1)))
				return NULL;
		} else {
			struct sn_flag_prop *p = zalloc(b, sizeof(*p));
			const char *msg = NULL;
			if (!p || compile_prop(b, e, p, depth, &msg) < 0)
				return NULL;
			out->items[i].prop = p;
		}
	}
	out->n = n;
	return out;
}

static const struct sn_flag_group *compile_cohort(struct builder *b, const char *id, int depth)
{
	for (size_t i = 0; i < b->ncohorts; i++) {
		struct cohort_slot *c = &b->cohorts[i];
		if (strcmp(c->id, id))
			continue;
		if (c->state == 2)
			return c->compiled;
		if (c->state == 1 || depth > SN_FLAG_MAX_NESTING)
			return NULL; /* a cohort that contains itself never matches */
		c->state = 1;
		c->compiled = compile_group(b, c->def, depth);
		c->state = 2;
		return c->compiled;
	}
	return NULL; /* static or unknown cohort: not evaluable here yet */
}

static int number_field(struct json_object *o, const char *name, bool *has, double *out,
			const char **msg)
{
	struct json_object *v = sn_json_get(o, name);
	*has = false;
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	if (!value_number(v, out) || isnan(*out)) {
		*msg = name;
		return SN_ERR_INVALID;
	}
	*has = true;
	return 0;
}

static int compile_cond(struct builder *b, struct sn_flag *fl, struct json_object *g,
			struct sn_flag_cond *c, const char **msg)
{
	c->variant_idx = -1;
	if (!json_object_is_type(g, json_type_object)) {
		*msg = "a condition group is not an object";
		return SN_ERR_INVALID;
	}
	int rc = compile_props(b, sn_json_get(g, "properties"), &c->props, &c->nprops, 0, msg);
	if (rc < 0)
		return rc;
	const char *m = NULL;
	if (number_field(g, "rollout_percentage", &c->has_rollout, &c->rollout, &m) < 0) {
		*msg = "rollout_percentage is not a number";
		return SN_ERR_INVALID;
	}
	const char *var = sn_json_str(sn_json_get(g, "variant"), NULL);
	c->variant_idx = -1;
	for (size_t i = 0; var && i < fl->nvariants; i++)
		if (!strcmp(fl->variants[i].key, var)) {
			c->variant = fl->variants[i].key;
			c->variant_idx = (int)i;
		}
	c->aggregation = -2;
	struct json_object *agg = sn_json_get(g, "aggregation_group_type_index");
	if (agg && json_object_is_type(agg, json_type_int)) {
		int64_t a = json_object_get_int64(agg);
		c->aggregation = a >= 0 && a < 5 ? (int)a : 99;
	}
	return 0;
}

static const char *payload_text(struct json_object *payloads, const char *key)
{
	struct json_object *v = sn_json_get(payloads, key);
	if (!v || json_object_is_type(v, json_type_null))
		return NULL;
	size_t n;
	return value_text(v, &n);
}

static int compile_flag(struct builder *b, struct json_object *def, struct sn_flag *fl,
			const char **msg)
{
	fl->aggregation = -1;
	if (!json_object_is_type(def, json_type_object)) {
		fl->key = "";
		*msg = "a flag definition is not an object";
		return SN_ERR_INVALID;
	}
	const char *key = sn_json_str(sn_json_get(def, "key"), NULL);
	fl->key = key ? key : "";
	if (!key) {
		*msg = "key is missing or not a string";
		return SN_ERR_INVALID;
	}
	struct json_object *o;
	fl->id = (o = sn_json_get(def, "id")) ? json_object_get_int64(o) : 0;
	fl->version = (o = sn_json_get(def, "version")) ? json_object_get_int64(o) : 0;
	fl->active = (o = sn_json_get(def, "active")) ? json_object_get_boolean(o) : true;
	fl->deleted = (o = sn_json_get(def, "deleted")) && json_object_get_boolean(o);
	fl->continuity =
	    (o = sn_json_get(def, "ensure_experience_continuity")) && json_object_get_boolean(o);

	struct json_object *filters = sn_json_get(def, "filters");
	if (!filters || json_object_is_type(filters, json_type_null))
		return 0; /* no conditions: false, no_condition_match */
	if (!json_object_is_type(filters, json_type_object)) {
		*msg = "filters is not an object";
		return SN_ERR_INVALID;
	}
	const char *bucket = sn_json_str(sn_json_get(def, "bucketing_identifier"), NULL);
	if (!bucket)
		bucket = sn_json_str(sn_json_get(filters, "bucketing_identifier"), NULL);
	fl->device_bucketing = bucket && !strcmp(bucket, "device_id");
	fl->early_exit = (o = sn_json_get(filters, "early_exit")) && json_object_get_boolean(o);
	o = sn_json_get(filters, "aggregation_group_type_index");
	if (o && json_object_is_type(o, json_type_int)) {
		int64_t a = json_object_get_int64(o);
		fl->aggregation = a >= 0 && a < 5 ? (int)a : 99;
	}

	struct json_object *payloads = sn_json_get(filters, "payloads");
	if (payloads && !json_object_is_type(payloads, json_type_object))
		payloads = NULL;
	fl->payload_true = payload_text(payloads, "true");

	struct json_object *mv = sn_json_get(filters, "multivariate");
	struct json_object *vars = mv ? sn_json_get(mv, "variants") : NULL;
	if (vars && json_object_is_type(vars, json_type_array)) {
		size_t n = json_object_array_length(vars);
		if (!(fl->variants = zalloc(b, n * sizeof(*fl->variants))))
			return SN_ERR_NOMEM;
		for (size_t i = 0; i < n; i++) {
			struct json_object *v = json_object_array_get_idx(vars, i);
			struct sn_flag_variant *fv = &fl->variants[i];
			fv->key = sn_json_str(sn_json_get(v, "key"), NULL);
			bool has;
			const char *m = NULL;
			if (!fv->key) {
				*msg = "a variant has no key";
				return SN_ERR_INVALID;
			}
			if (number_field(v, "rollout_percentage", &has, &fv->rollout, &m) < 0) {
				*msg = "a variant's rollout_percentage is not a number";
				return SN_ERR_INVALID;
			}
			fv->payload = payload_text(payloads, fv->key);
		}
		fl->nvariants = n;
	}

	struct json_object *groups = sn_json_get(filters, "groups");
	if (groups && json_object_is_type(groups, json_type_array)) {
		size_t n = json_object_array_length(groups);
		if (!(fl->conds = zalloc(b, n * sizeof(*fl->conds))))
			return SN_ERR_NOMEM;
		for (size_t i = 0; i < n; i++) {
			int rc = compile_cond(b, fl, json_object_array_get_idx(groups, i),
					      &fl->conds[i], msg);
			if (rc < 0)
				return rc;
		}
		fl->nconds = n;
	} else if (groups && !json_object_is_type(groups, json_type_null)) {
		*msg = "filters.groups is not an array";
		return SN_ERR_INVALID;
	}

	/* Holdout: current form {"id", "exclusion_percentage"}, or the older
	 * holdout_groups whose first group carries the holdout variant. */
	struct json_object *h = sn_json_get(filters, "holdout");
	struct json_object *hg = sn_json_get(filters, "holdout_groups");
	if (h && json_object_is_type(h, json_type_object)) {
		bool has;
		const char *m = NULL;
		if (number_field(h, "exclusion_percentage", &has, &fl->holdout_pct, &m) < 0) {
			*msg = "holdout.exclusion_percentage is not a number";
			return SN_ERR_INVALID;
		}
		struct json_object *hid = sn_json_get(h, "id");
		char buf[64];
		snprintf(buf, sizeof(buf), "holdout-%lld",
			 (long long)(hid ? json_object_get_int64(hid) : 0));
		if (!(fl->holdout_variant = sn_arena_strdup(&b->set->arena, buf)))
			return SN_ERR_NOMEM;
		fl->has_holdout = has;
	} else if (hg && json_object_is_type(hg, json_type_array) &&
		   json_object_array_length(hg) > 0) {
		struct json_object *g0 = json_object_array_get_idx(hg, 0);
		bool has;
		const char *m = NULL;
		if (number_field(g0, "rollout_percentage", &has, &fl->holdout_pct, &m) < 0) {
			*msg = "holdout_groups rollout_percentage is not a number";
			return SN_ERR_INVALID;
		}
		const char *var = sn_json_str(sn_json_get(g0, "variant"), NULL);
		fl->holdout_variant = var ? var : "holdout";
		fl->has_holdout = has;
	}

	struct json_object *sg = sn_json_get(filters, "super_groups");
	if (sg && json_object_is_type(sg, json_type_array) && json_object_array_length(sg) > 0) {
		if (!(fl->super = zalloc(b, sizeof(*fl->super))))
			return SN_ERR_NOMEM;
		int rc = compile_cond(b, fl, json_object_array_get_idx(sg, 0), fl->super, msg);
		if (rc < 0)
			return rc;
		fl->super_key = fl->super->nprops ? fl->super->props[0].key : NULL;
	}
	return 0;
}

/* s as a JSON literal in the set's arena; out->text stays NULL for NULL. */
static int json_lit(struct builder *b, struct sn_buf *tmp, const char *s, struct sn_flag_json *out)
{
	out->text = NULL;
	out->len = 0;
	if (!s)
		return 0;
	sn_buf_reset(tmp);
	if (sn_buf_append_json_str(tmp, s, strlen(s)) ||
	    !(out->text = sn_arena_strndup(&b->set->arena, tmp->data, tmp->len)))
		return SN_ERR_NOMEM;
	out->len = tmp->len;
	return 0;
}

/* What answers and hashes need of a flag as text, made once here: the
 * hash prefix "<key>.", the JSON pieces of the /flags answer
 * (sn_flag_set_fragments) and the variants and payloads as JSON literals.
 * Runs for broken flags too (they are answered with their key). */
static int flag_texts(struct builder *b, struct sn_flag *fl)
{
	struct sn_arena *a = &b->set->arena;
	struct sn_buf tmp;
	sn_buf_init(&tmp, SN_FLAG_TEXT_MAX);
	int rc = SN_ERR_NOMEM;
	fl->key_len = strlen(fl->key);
	char *pfx = sn_arena_alloc(a, fl->key_len + 2);
	if (!pfx)
		goto out;
	memcpy(pfx, fl->key, fl->key_len);
	memcpy(pfx + fl->key_len, ".", 2);
	fl->hash_prefix = pfx;
	if (json_lit(b, &tmp, fl->key, &fl->frag.key) ||
	    json_lit(b, &tmp, fl->payload_true, &fl->payload_true_json) ||
	    json_lit(b, &tmp, fl->holdout_variant, &fl->holdout_variant_json))
		goto out;
	for (size_t i = 0; i < fl->nvariants; i++)
		if (json_lit(b, &tmp, fl->variants[i].key, &fl->variants[i].key_json) ||
		    json_lit(b, &tmp, fl->variants[i].payload, &fl->variants[i].payload_json))
			goto out;
	sn_buf_reset(&tmp);
	sn_buf_append(&tmp, fl->frag.key.text, fl->frag.key.len);
	sn_buf_appends(&tmp, ":{\"key\":");
	sn_buf_append(&tmp, fl->frag.key.text, fl->frag.key.len);
	if (!(fl->frag.v2_head.text = sn_arena_strndup(a, tmp.data, tmp.len)))
		goto out;
	fl->frag.v2_head.len = tmp.len;
	sn_buf_reset(&tmp);
	sn_buf_appendf(&tmp,
		       "},\"metadata\":{\"id\":%lld,\"version\":%lld,\"description\":null,"
		       "\"payload\":",
		       (long long)fl->id, (long long)fl->version);
	if (!(fl->frag.v2_meta.text = sn_arena_strndup(a, tmp.data, tmp.len)))
		goto out;
	fl->frag.v2_meta.len = tmp.len;
	rc = 0;
out:
	sn_buf_release(&tmp);
	return rc;
}

/* Flag filters name their target by key (the local-evaluation feed) or by
 * id (the database form): resolve both to an index. */
static void resolve_deps(struct builder *b)
{
	struct sn_flag_set *set = b->set;
	for (size_t i = 0; i < b->ndeps; i++) {
		struct sn_flag_prop *p = b->deps[i];
		ssize_t idx = sn_flag_set_find(set, p->key);
		if (idx < 0) {
			char *end;
			errno = 0;
			long long id = strtoll(p->key, &end, 10);
			if (*p->key && !*end && !errno)
				for (size_t j = 0; j < set->nflags; j++)
					if (set->flags[j].id == id && !set->flags[j].error) {
						idx = (ssize_t)j;
						break;
					}
		}
		/* PostHog's /flags service loads active flags only, so a
		 * dependency on an inactive one is missing there too. */
		p->dep_idx = idx;
		p->dep_missing = idx < 0 || !set->flags[idx].active || set->flags[idx].deleted;
	}
}

static void note_cond(struct sn_flag_set *set, const struct sn_flag_cond *c)
{
	for (size_t i = 0; i < c->nprops; i++) {
		enum sn_flag_ptype t = c->props[i].type;
		set->needs_person |= t == PT_PERSON || t == PT_COHORT || t == PT_UNSUPPORTED;
		set->needs_groups |= t == PT_GROUP || t == PT_COHORT;
	}
}

/* Which stored properties an evaluation can read, so the server skips the
 * person and group lookups when no flag looks at them. */
static void note_needs(struct sn_flag_set *set)
{
	for (size_t i = 0; i < set->nflags; i++) {
		const struct sn_flag *fl = &set->flags[i];
		if (!fl->active || fl->deleted)
			continue;
		set->needs_groups |= fl->aggregation >= 0;
		for (size_t c = 0; c < fl->nconds; c++) {
			note_cond(set, &fl->conds[c]);
			set->needs_groups |= fl->conds[c].aggregation >= 0;
		}
		if (fl->super)
			note_cond(set, fl->super);
	}
}

void sn_flag_set_needs(const struct sn_flag_set *set, bool *person, bool *groups)
{
	*person = set->needs_person;
	*groups = set->needs_groups;
}

bool sn_flag_set_needs_members(const struct sn_flag_set *set)
{
	return set->needs_members;
}

int sn_flag_set_build(struct json_object *flags, struct json_object *group_type_mapping,
		      struct json_object *cohorts, struct sn_flag_set **out, struct sn_err *err)
{
	*out = NULL;
	if (!flags || !json_object_is_type(flags, json_type_array))
		return sn_err_set(err, SN_ERR_INVALID, "flag definitions: flags is not an array");
	int rc = SN_ERR_NOMEM;
	struct builder b = {0};
	struct sn_flag_set *set = calloc(1, sizeof(*set));
	if (!set)
		return sn_err_set(err, SN_ERR_NOMEM, "flag definitions: out of memory");
	atomic_init(&set->refs, 1);
	sn_arena_init(&set->arena, SET_ARENA_MAX);
	b.set = set;
	/* One document keeps every borrowed string alive. */
	if (!(set->doc = json_object_new_array()))
		goto out;
	json_object_array_add(set->doc, json_object_get(flags));
	if (group_type_mapping)
		json_object_array_add(set->doc, json_object_get(group_type_mapping));
	if (cohorts)
		json_object_array_add(set->doc, json_object_get(cohorts));

	if (group_type_mapping && json_object_is_type(group_type_mapping, json_type_object)) {
		json_object_object_foreach(group_type_mapping, k, v)
		{
			char *end;
			long idx = strtol(k, &end, 10);
			if (*k && !*end && idx >= 0 && idx < 5 &&
			    json_object_is_type(v, json_type_string))
				set->group_types[idx] = json_object_get_string(v);
		}
	}
	if (cohorts && json_object_is_type(cohorts, json_type_object)) {
		size_t n = (size_t)json_object_object_length(cohorts);
		if (!(b.cohorts = zalloc(&b, n * sizeof(*b.cohorts))))
			goto out;
		json_object_object_foreach(cohorts, k, v)
		{
			b.cohorts[b.ncohorts].id = k;
			b.cohorts[b.ncohorts].def = v;
			b.ncohorts++;
		}
	}

	if (!(set->mctx = pcre2_match_context_create(NULL)))
		goto out;
	pcre2_set_match_limit(set->mctx, SN_FLAG_RE_MATCH_LIMIT);
	pcre2_set_depth_limit(set->mctx, SN_FLAG_RE_DEPTH_LIMIT);
	pcre2_set_heap_limit(set->mctx, SN_FLAG_RE_HEAP_LIMIT_KB);
	if (!(b.cctx = pcre2_compile_context_create(NULL)))
		goto out;
	pcre2_set_max_pattern_length(b.cctx, SN_FLAG_RE_MAX_PATTERN);
	pcre2_set_parens_nest_limit(b.cctx, 64);

	set->nflags = json_object_array_length(flags);
	if (!(set->flags = zalloc(&b, set->nflags * sizeof(*set->flags))))
		goto out;
	for (size_t i = 0; i < set->nflags; i++) {
		const char *msg = NULL;
		struct sn_flag *fl = &set->flags[i];
		rc = compile_flag(&b, json_object_array_get_idx(flags, i), fl, &msg);
		if (rc == SN_ERR_NOMEM)
			goto out;
		if (rc < 0) {
			char buf[320];
			snprintf(buf, sizeof(buf), "flag %zu (%s): %s", i, fl->key,
				 msg ? msg : "invalid");
			if (!(fl->error = sn_arena_strdup(&set->arena, buf))) {
				rc = SN_ERR_NOMEM;
				goto out;
			}
			fl->nconds = 0;
		}
		if ((rc = flag_texts(&b, fl)) < 0)
			goto out;
	}
	resolve_deps(&b);
	for (size_t i = 0; i < set->nflags; i++) {
		struct sn_flag *fl = &set->flags[i];
		for (size_t c = 0; c < fl->nconds; c++)
			for (size_t j = 0; j < fl->conds[c].nprops; j++)
				fl->missing_dep |= fl->conds[c].props[j].type == PT_FLAG &&
						   fl->conds[c].props[j].dep_missing;
	}
	note_needs(set);
	rc = 0;
	*out = set;
out:
	free(b.deps);
	pcre2_compile_context_free(b.cctx);
	if (rc < 0) {
		sn_flag_set_unref(set);
		return sn_err_set(err, rc, "flag definitions: out of memory");
	}
	return 0;
}

int sn_flag_set_parse(const char *json, size_t len, struct sn_flag_set **out, struct sn_err *err)
{
	struct json_object *root = NULL;
	*out = NULL;
	int rc = sn_json_parse(json, len, &root, err);
	if (rc < 0) {
		sn_err_prefix(err, "flag definitions");
		return rc;
	}
	if (json_object_is_type(root, json_type_array)) {
		rc = sn_flag_set_build(root, NULL, NULL, out, err);
	} else if (json_object_is_type(root, json_type_object)) {
		rc = sn_flag_set_build(sn_json_get(root, "flags"),
				       sn_json_get(root, "group_type_mapping"),
				       sn_json_get(root, "cohorts"), out, err);
	} else {
		rc = sn_err_set(err, SN_ERR_INVALID,
				"flag definitions: expected an object with \"flags\"");
	}
	json_object_put(root);
	return rc;
}

struct sn_flag_set *sn_flag_set_ref(struct sn_flag_set *set)
{
	atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
	return set;
}

void sn_flag_set_unref(struct sn_flag_set *set)
{
	if (!set || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < set->nres; i++)
		pcre2_code_free(set->res[i]);
	free(set->res);
	free(set->pkeys);
	pcre2_match_context_free(set->mctx);
	json_object_put(set->doc);
	sn_arena_release(&set->arena);
	free(set);
}

size_t sn_flag_set_count(const struct sn_flag_set *set)
{
	return set->nflags;
}

const struct sn_flag_fragments *sn_flag_set_fragments(const struct sn_flag_set *set, size_t idx)
{
	return idx < set->nflags ? &set->flags[idx].frag : NULL;
}

const char *sn_flag_set_key(const struct sn_flag_set *set, size_t idx)
{
	return idx < set->nflags ? set->flags[idx].key : NULL;
}

int64_t sn_flag_set_id(const struct sn_flag_set *set, size_t idx)
{
	return idx < set->nflags ? set->flags[idx].id : 0;
}

int64_t sn_flag_set_version(const struct sn_flag_set *set, size_t idx)
{
	return idx < set->nflags ? set->flags[idx].version : 0;
}

ssize_t sn_flag_set_find(const struct sn_flag_set *set, const char *key)
{
	for (size_t i = 0; i < set->nflags; i++)
		if (!strcmp(set->flags[i].key, key))
			return (ssize_t)i;
	return -1;
}

const char *sn_flag_set_error(const struct sn_flag_set *set, size_t idx)
{
	return idx < set->nflags ? set->flags[idx].error : NULL;
}

bool sn_flag_set_continuity(const struct sn_flag_set *set, size_t idx, bool *hash_lookup)
{
	if (hash_lookup)
		*hash_lookup = false;
	if (idx >= set->nflags)
		return false;
	const struct sn_flag *fl = &set->flags[idx];
	if (!fl->continuity || !fl->active || fl->deleted)
		return false;
	if (!hash_lookup || fl->error || fl->aggregation >= 0 || fl->device_bucketing)
		return true;
	/* PostHog skips the lookup when the hash cannot change the answer:
	 * every condition at 100 % and at most one variant, at 100 %. */
	bool hashed = fl->nvariants > 1 || (fl->nvariants == 1 && fl->variants[0].rollout < 100.0);
	for (size_t i = 0; i < fl->nconds && !hashed; i++)
		hashed = fl->conds[i].has_rollout && fl->conds[i].rollout < 100.0;
	*hash_lookup = hashed;
	return true;
}

void sn_flag_set_add_dependencies(const struct sn_flag_set *set, uint8_t *mask)
{
	/* Marks until nothing changes; each pass marks at least one more flag or
	 * stops, so at most nflags passes over the marked flags' filters. */
	for (bool more = true; more;) {
		more = false;
		for (size_t i = 0; i < set->nflags; i++) {
			if (!mask[i])
				continue;
			const struct sn_flag *fl = &set->flags[i];
			for (size_t c = 0; c <= fl->nconds; c++) {
				const struct sn_flag_cond *cond =
				    c < fl->nconds ? &fl->conds[c] : fl->super;
				for (size_t p = 0; cond && p < cond->nprops; p++) {
					ssize_t d = cond->props[p].type == PT_FLAG
							? cond->props[p].dep_idx
							: -1;
					if (d >= 0 && (size_t)d < set->nflags && !mask[d]) {
						mask[d] = 1;
						more = true;
					}
				}
			}
		}
	}
}
