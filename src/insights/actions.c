/*
 * actions.c — an action (PostHog's named OR of steps) as a HogQL boolean
 * expression, for ActionsNode series of trends and steps of funnels.
 *
 *   step = event = 'e'                       (when the step names an event)
 *          AND <elements>                    ($autocapture steps: selector,
 *                                              tag_name, href, text)
 *          AND properties.$current_url …     (url: contains → LIKE '%u%',
 *                                              exact → =, regex → match())
 *          AND <the step's property filters> (filters.c)
 *   action = (step1) OR (step2) OR …         (no steps: any event, as
 *                                              PostHog's steps_to_expr)
 *
 * The action itself comes from the caller (sn_insight_opts.action, the
 * metadata store), so this module stays below meta/. A selector and a
 * tag_name become element property filters (type "element"), which
 * filters.c turns into match(elements_chain, regex) as PostHog's
 * selector_to_expr and tag_name_to_expr do. href and text are compared as
 * PostHog's steps_to_expr compares them, against what its materialised
 * columns hold, computed here from elements_chain with the same regexes:
 *   href  the first href="…" of the chain  (elements_chain_href)
 *   text  each text="…" of the chain       (elements_chain_texts)
 * with href_matching / text_matching "regex" an unanchored match(),
 * "contains" ILIKE '%v%', anything else =. As in PostHog, elements apply
 * only to steps whose event is $autocapture (elsewhere they are ignored),
 * and tag_name / href / text count when present even if empty, a selector
 * only when not empty.
 */
#include "insights/insights_internal.h"

#include <stdio.h>
#include <string.h>

static bool set(struct json_object *step, const char *key)
{
	const char *v = jstr(step, key);
	return v && *v;
}

/* The step's selector and tag_name as element property filters (filters.c
 * turns them into regexes over elements_chain). NULL: out of memory. */
static struct json_object *element_filters(struct json_object *st)
{
	static const char *const keys[] = {"selector", "tag_name"};
	struct json_object *list = json_object_new_array();
	for (size_t i = 0; list && i < SN_ARRAY_LEN(keys); i++) {
		struct json_object *v = jget(st, keys[i]);
		if (!v || (i == 0 && !set(st, keys[i]))) /* an empty selector is none */
			continue;
		const char *op = "exact";
		struct json_object *f = json_object_new_object();
		if (!f || json_object_array_add(list, f)) {
			json_object_put(f);
			json_object_put(list);
			return NULL;
		}
		json_object_object_add(f, "type", json_object_new_string("element"));
		json_object_object_add(f, "key", json_object_new_string(keys[i]));
		json_object_object_add(f, "operator", json_object_new_string(op));
		json_object_object_add(f, "value", json_object_get(v));
	}
	return list;
}

/* PostHog's "contains": op (" LIKE " or " ILIKE ") and '%v%'. */
static int like_contains(struct sn_buf *b, const char *op, const char *v)
{
	struct sn_buf pat;
	sn_buf_init(&pat, 1 << 16);
	int rc = sn_buf_appendf(&pat, "%%%s%%", v);
	rc = rc ? rc : sn_buf_appends(b, op);
	rc = rc ? rc : hq_str(b, pat.data, pat.len);
	sn_buf_release(&pat);
	return rc;
}

/* PostHog's steps_to_expr for href and text: `value` compared with the
 * first href of the chain, or with each of its texts, by `key`_matching.
 * A missing key (JSON null included) is no condition. */
static int chain_key(struct sn_buf *b, struct json_object *st, const char *key, const char **and)
{
	struct json_object *v = jget(st, key);
	if (!v || json_object_is_type(v, json_type_null))
		return 0;
	const char *val = json_object_get_string(v);
	char mk[32];
	snprintf(mk, sizeof(mk), "%s_matching", key);
	const char *m = jstr(st, mk);
	bool text = strcmp(key, "text") == 0;
	const char *re = text ? HQ_CHAIN_TEXT_RE : HQ_CHAIN_HREF_RE;
	int rc = sn_buf_appends(b, *and);
	*and = " AND ";
	rc = rc ? rc : sn_buf_appends(b, text ? "arrayExists(x -> " : "");
	const char *lhs = text ? "x" : "extract(elements_chain, ";
	if (m && strcmp(m, "regex") == 0) {
		rc = rc ? rc : sn_buf_appends(b, "match(");
		rc = rc ? rc : sn_buf_appends(b, lhs);
		if (!text) {
			rc = rc ? rc : hq_str(b, re, strlen(re));
			rc = rc ? rc : sn_buf_appendc(b, ')');
		}
		rc = rc ? rc : sn_buf_appends(b, ", ");
		rc = rc ? rc : hq_str(b, val, strlen(val));
		rc = rc ? rc : sn_buf_appendc(b, ')');
	} else {
		rc = rc ? rc : sn_buf_appends(b, lhs);
		if (!text) {
			rc = rc ? rc : hq_str(b, re, strlen(re));
			rc = rc ? rc : sn_buf_appendc(b, ')');
		}
		if (m && strcmp(m, "contains") == 0) {
			rc = rc ? rc : like_contains(b, " ILIKE ", val);
		} else {
			rc = rc ? rc : sn_buf_appends(b, " = ");
			rc = rc ? rc : hq_str(b, val, strlen(val));
		}
	}
	if (text) {
		rc = rc ? rc : sn_buf_appends(b, ", extractAll(elements_chain, ");
		rc = rc ? rc : hq_str(b, re, strlen(re));
		rc = rc ? rc : sn_buf_appends(b, "))");
	}
	return rc;
}

static int one_step(struct ictx *x, struct json_object *st, struct sn_buf *b)
{
	int rc = sn_buf_appendc(b, '(');
	const char *and = "";
	if (set(st, "event")) {
		const char *e = jstr(st, "event");
		rc = rc ? rc : sn_buf_appends(b, "event = ");
		rc = rc ? rc : hq_str(b, e, strlen(e));
		and = " AND ";
		/* Elements count only on autocapture steps, as in PostHog. */
		if (strcmp(e, "$autocapture") == 0) {
			struct json_object *els = element_filters(st);
			if (!els)
				return SN_ERR_NOMEM;
			if (json_object_array_length(els) > 0) {
				rc = rc ? rc : sn_buf_appends(b, and);
				rc = rc ? rc : hq_filters(x, b, els);
			}
			json_object_put(els);
			rc = rc ? rc : chain_key(b, st, "href", &and);
			rc = rc ? rc : chain_key(b, st, "text", &and);
		}
	}
	if (set(st, "url")) {
		const char *u = jstr(st, "url"), *m = jstr(st, "url_matching");
		rc = rc ? rc : sn_buf_appends(b, and);
		if (m && strcmp(m, "exact") == 0) {
			rc = rc ? rc : sn_buf_appends(b, "properties.$current_url = ");
			rc = rc ? rc : hq_str(b, u, strlen(u));
		} else if (m && strcmp(m, "regex") == 0) {
			rc = rc ? rc
				: sn_buf_appends(
				      b, "ifNull(match(toString(properties.$current_url), ");
			rc = rc ? rc : hq_str(b, u, strlen(u));
			rc = rc ? rc : sn_buf_appends(b, "), 0)");
		} else {
			rc = rc ? rc : sn_buf_appends(b, "properties.$current_url");
			rc = rc ? rc : like_contains(b, " LIKE ", u);
		}
		and = " AND ";
	}
	struct json_object *props = jget(st, "properties");
	if (props && json_object_is_type(props, json_type_array) &&
	    json_object_array_length(props) > 0) {
		rc = rc ? rc : sn_buf_appends(b, and);
		rc = rc ? rc : hq_filters(x, b, props);
		and = " AND ";
	}
	if (!*and)
		rc = rc ? rc : sn_buf_appends(b, "1"); /* a step with no conditions: any event */
	return rc ? rc : sn_buf_appendc(b, ')');
}

int action_expr(struct ictx *x, struct json_object *node, struct sn_buf *b, const char **name,
		int64_t *id_out)
{
	struct json_object *idv = jget(node, "id");
	int64_t id = 0;
	if (idv && json_object_is_type(idv, json_type_int))
		id = json_object_get_int64(idv);
	else if (idv && json_object_is_type(idv, json_type_string))
		id = strtoll(json_object_get_string(idv), NULL, 10);
	if (id <= 0)
		return ifail(x, "validation_error", "An ActionsNode needs the action's id");
	*id_out = id;
	if (!x->o->action)
		return ifail(x, "not_supported", "Actions are not available here");
	char *nm = NULL;
	struct json_object *steps = NULL;
	int rc = x->o->action(x->o->action_ctx, id, x->a, &nm, &steps);
	if (rc == SN_ERR_NOT_FOUND) {
		*name = NULL; /* PostHog answers no results for an unknown action */
		return SN_ERR_NOT_FOUND;
	}
	if (rc)
		return ifail(x, "query_error", "The action %lld could not be read", (long long)id);
	*name = nm;
	size_t n = steps && json_object_is_type(steps, json_type_array)
		       ? json_object_array_length(steps)
		       : 0;
	rc = sn_buf_appendc(b, '(');
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (i)
			rc = sn_buf_appends(b, " OR ");
		rc = rc ? rc : one_step(x, json_object_array_get_idx(steps, i), b);
	}
	if (rc == 0 && n == 0)
		rc = sn_buf_appends(b, "1"); /* PostHog's steps_to_expr: no steps, any event */
	json_object_put(steps);
	return rc ? rc : sn_buf_appendc(b, ')');
}

int sn_insight_action_hogql(const struct sn_insight_opts *o, int64_t id, struct sn_buf *out,
			    struct sn_insight_error *err)
{
	struct sn_arena a;
	sn_arena_init(&a, (size_t)16 << 20);
	struct ictx x;
	ictx_init(&x, o, &a, err);
	struct json_object *node = json_object_new_object();
	json_object_object_add(node, "id", json_object_new_int64(id));
	const char *name = NULL;
	int64_t got = 0;
	size_t start = out->len;
	int rc = action_expr(&x, node, out, &name, &got);
	if (rc == SN_ERR_NOT_FOUND)
		ifail(&x, "validation_error", "Action %lld does not exist", (long long)id);
	if (rc)
		out->len = start;
	json_object_put(node);
	sn_arena_release(&a);
	return rc;
}
