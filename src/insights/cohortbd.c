/*
 * cohortbd.c — breakdowns by cohort (breakdownFilter.breakdown_type
 * "cohort") for trends, funnels and retention, the way PostHog runs them:
 * one query per cohort, the results concatenated.
 *
 *   breakdown [7, 9, "all"] ─▶ for each: the query without the breakdown,
 *                              its properties AND `person_id IN COHORT c`
 *                              ("all": no filter) ─▶ the kind's runner
 *                          ─▶ each result tagged with the cohort
 *                          ─▶ one "results" list
 *
 * A person in two cohorts counts in both, which one GROUP BY over a
 * breakdown expression could not give. Tags, as PostHog's answers have
 * them:
 *
 *   trends, funnel trends  breakdown_value = the id (a number) or "all";
 *                          trends' label is the cohort's name ("all users")
 *                          for one cohort, "<series label> - <name>" for
 *                          several (formula results keep their label)
 *   funnel steps           each step's breakdown = the name, breakdown_value
 *                          = the id; one list of steps per cohort
 *   retention              breakdown_value = the id as a string ("0" for
 *                          "all", which PostHog converts to cohort 0)
 *
 * The actors of one cohort's point run on the same per-cohort query
 * (cohort_breakdown_query), without a breakdown.
 *
 * A trends series (without a formula) that counted nothing is left out:
 * PostHog's breakdown query returns no row for it.
 *
 * Order: trends results without a formula are ranked by count, highest
 * first (stable), current period before the previous one; everything else
 * keeps the breakdown's order. The other members of the answer (columns,
 * hogql, ...) are the first cohort's; every statement run goes to the
 * answer's "hogql" log as usual.
 */
#include "insights/insights_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COHORTS 50

struct cbd {
	int64_t id; /* 0 = all users */
	char *name;
};

/* The breakdown's cohorts: ids (numbers or digit strings) and "all". */
static int parse_cohorts(struct ictx *x, struct json_object *bd, struct cbd *out, size_t *n)
{
	*n = 0;
	bool arr = json_object_is_type(bd, json_type_array);
	size_t len = arr ? json_object_array_length(bd) : 1;
	if (len == 0)
		return ifail(x, "validation_error", "A cohort breakdown needs at least one cohort");
	if (len > MAX_COHORTS)
		return ifail(x, "validation_error", "A cohort breakdown takes at most %d cohorts",
			     MAX_COHORTS);
	for (size_t i = 0; i < len; i++) {
		struct json_object *v = arr ? json_object_array_get_idx(bd, i) : bd;
		const char *s =
		    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		int64_t id = -1;
		if (json_object_is_type(v, json_type_int))
			id = json_object_get_int64(v);
		else if (s && strcmp(s, "all") == 0)
			id = 0;
		else if (s && *s && strspn(s, "0123456789") == strlen(s))
			id = strtoll(s, NULL, 10);
		if (id < 0)
			return ifail(x, "validation_error",
				     "breakdownFilter.breakdown of a cohort breakdown lists cohort "
				     "ids or \"all\"");
		out[*n].id = id;
		out[*n].name = NULL;
		if (id == 0) {
			out[*n].name = "all users";
		} else if (!x->o->cohort_name ||
			   x->o->cohort_name(x->o->cohort_ctx, id, x->a, &out[*n].name)) {
			return ifail(x, "validation_error", "Cohort with ID %lld does not exist",
				     (long long)id);
		}
		(*n)++;
	}
	return 0;
}

/* q without its breakdown, its properties ANDed with membership of c. */
static struct json_object *query_for(struct json_object *q, const struct cbd *c)
{
	struct json_object *copy = NULL;
	if (json_object_deep_copy(q, &copy, NULL) != 0)
		return NULL;
	json_object_object_del(copy, "breakdownFilter");
	if (c->id == 0)
		return copy;
	struct json_object *f = json_object_new_object();
	json_object_object_add(f, "type", json_object_new_string("cohort"));
	json_object_object_add(f, "key", json_object_new_string("id"));
	json_object_object_add(f, "value", json_object_new_int64(c->id));
	json_object_object_add(f, "operator", json_object_new_string("in"));
	struct json_object *props = jget(copy, "properties");
	if (json_object_is_type(props, json_type_array)) {
		json_object_array_add(props, f);
	} else {
		struct json_object *mine = json_object_new_array();
		json_object_array_add(mine, f);
		struct json_object *vals = json_object_new_array();
		struct json_object *g = json_object_new_object();
		json_object_object_add(g, "type", json_object_new_string("AND"));
		json_object_object_add(g, "values", mine);
		json_object_array_add(vals, g);
		if (props && json_object_is_type(props, json_type_object))
			json_object_array_add(vals, json_object_get(props));
		struct json_object *top = json_object_new_object();
		json_object_object_add(top, "type", json_object_new_string("AND"));
		json_object_object_add(top, "values", vals);
		json_object_object_add(copy, "properties", top);
	}
	return copy;
}

static struct json_object *id_json(const struct cbd *c)
{
	return c->id ? json_object_new_int64(c->id) : json_object_new_string("all");
}

static void tag(const char *kind, bool steps, bool several, const struct cbd *c,
		struct json_object *r)
{
	if (steps) { /* a funnel's list of steps */
		for (size_t i = 0; i < json_object_array_length(r); i++) {
			struct json_object *st = json_object_array_get_idx(r, i);
			json_object_object_add(st, "breakdown", json_object_new_string(c->name));
			json_object_object_add(st, "breakdown_value", id_json(c));
		}
		return;
	}
	if (!json_object_is_type(r, json_type_object))
		return;
	if (strcmp(kind, "RetentionQuery") == 0) {
		char id[24]; /* "all" is cohort 0, as PostHog converts it */
		snprintf(id, sizeof(id), "%lld", (long long)c->id);
		json_object_object_add(r, "breakdown_value", json_object_new_string(id));
		return;
	}
	json_object_object_add(r, "breakdown_value", id_json(c));
	if (strcmp(kind, "TrendsQuery") != 0)
		return;
	const char *label = jstr(r, "label");
	if (label && strncmp(label, "Formula (", 9) == 0)
		return;
	char buf[1024];
	if (several && label)
		snprintf(buf, sizeof(buf), "%s - %s", label, c->name);
	else
		snprintf(buf, sizeof(buf), "%s", c->name);
	json_object_object_add(r, "label", json_object_new_string(buf));
}

/* A trends result with nothing counted: PostHog's per-cohort breakdown
 * query returns no row for it, so it has no series. */
static bool is_empty_series(struct json_object *r)
{
	struct json_object *d = jget(r, "data");
	for (size_t i = 0;
	     json_object_is_type(d, json_type_array) && i < json_object_array_length(d); i++)
		if (json_object_get_double(json_object_array_get_idx(d, i)) != 0)
			return false;
	struct json_object *agg = jget(r, "aggregated_value");
	struct json_object *cnt = jget(r, "count");
	return (!agg || json_object_get_double(agg) == 0) &&
	       (!cnt || json_object_get_double(cnt) == 0);
}

static bool is_previous(struct json_object *r)
{
	const char *cl = jstr(r, "compare_label");
	return cl && strcmp(cl, "previous") == 0;
}

static double count_of(struct json_object *r)
{
	struct json_object *v = jget(r, "count");
	if (!v)
		v = jget(r, "aggregated_value");
	return v ? json_object_get_double(v) : 0;
}

struct ranked {
	struct json_object *r;
	size_t at;
};

static int rank_cmp(const void *pa, const void *pb)
{
	const struct ranked *a = pa, *b = pb;
	bool pa_ = is_previous(a->r), pb_ = is_previous(b->r);
	if (pa_ != pb_)
		return pa_ ? 1 : -1;
	double ca = count_of(a->r), cb = count_of(b->r);
	if (ca != cb)
		return ca > cb ? -1 : 1;
	return a->at < b->at ? -1 : a->at > b->at;
}

int cohort_breakdown_run(struct ictx *x, struct json_object *q, const char *kind,
			 int (*run)(struct ictx *x, struct json_object *q, struct sn_buf *out),
			 struct sn_buf *out)
{
	struct json_object *bf = jget(q, "breakdownFilter");
	struct cbd cs[MAX_COHORTS];
	size_t n;
	int rc = parse_cohorts(x, jget(bf, "breakdown"), cs, &n);
	if (rc)
		return rc;
	const char *viz = jstr(jget(q, "funnelsFilter"), "funnelVizType");
	bool steps = strcmp(kind, "FunnelsQuery") == 0 && (!viz || strcmp(viz, "steps") == 0);
	bool formula = false;
	struct json_object *tf = jget(q, "trendsFilter");
	if (tf && (jstr(tf, "formula") || jget(tf, "formulaNodes") || jget(tf, "formulas")))
		formula = true;
	bool trends = strcmp(kind, "TrendsQuery") == 0;
	struct json_object *merged = json_object_new_array(), *first = NULL;
	struct sn_buf b;
	sn_buf_init(&b, (size_t)256 << 20);
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct json_object *qc = query_for(q, &cs[i]);
		if (!qc) {
			rc = SN_ERR_NOMEM;
			break;
		}
		sn_buf_reset(&b);
		rc = sn_buf_appendc(&b, '{');
		rc = rc ? rc : run(x, qc, &b);
		rc = rc ? rc : sn_buf_appendc(&b, '}');
		json_object_put(qc);
		struct json_object *ans = NULL;
		struct sn_err e = {0};
		if (rc == 0 && sn_json_parse(b.data, b.len, &ans, &e))
			rc = ifail(x, "query_error", "cohort breakdown: %s", e.msg);
		if (rc)
			break;
		struct json_object *res = jget(ans, "results");
		if (steps) {
			tag(kind, true, n > 1, &cs[i], res);
			json_object_array_add(merged, json_object_get(res));
		} else {
			for (size_t k = 0; json_object_is_type(res, json_type_array) &&
					   k < json_object_array_length(res);
			     k++) {
				struct json_object *r = json_object_array_get_idx(res, k);
				if (trends && !formula && is_empty_series(r))
					continue;
				tag(kind, false, n > 1, &cs[i], r);
				json_object_array_add(merged, json_object_get(r));
			}
		}
		if (!first)
			first = ans;
		else
			json_object_put(ans);
	}
	sn_buf_release(&b);
	if (rc == 0 && strcmp(kind, "TrendsQuery") == 0 && !formula) {
		size_t m = json_object_array_length(merged);
		struct ranked *v = sn_arena_alloc(x->a, (m ? m : 1) * sizeof(*v));
		if (!v) {
			rc = SN_ERR_NOMEM;
		} else {
			for (size_t i = 0; i < m; i++)
				v[i] = (struct ranked){json_object_array_get_idx(merged, i), i};
			qsort(v, m, sizeof(*v), rank_cmp);
			struct json_object *sorted = json_object_new_array();
			for (size_t i = 0; i < m; i++)
				json_object_array_add(sorted, json_object_get(v[i].r));
			json_object_put(merged);
			merged = sorted;
		}
	}
	if (rc == 0) {
		/* The first cohort's members, results replaced; the object's
		 * braces are the caller's. */
		json_object_object_add(first, "results", merged);
		merged = NULL;
		struct sn_buf all;
		sn_buf_init(&all, (size_t)256 << 20);
		rc = sn_json_append(&all, first);
		if (rc == 0 && all.len >= 2)
			rc = sn_buf_append(out, all.data + 1, all.len - 2);
		sn_buf_release(&all);
	}
	if (merged)
		json_object_put(merged);
	if (first)
		json_object_put(first);
	return rc;
}

int cohort_breakdown_query(struct ictx *x, struct json_object *q, const char *bv,
			   struct json_object **out)
{
	*out = NULL;
	struct json_object *bf = jget(q, "breakdownFilter");
	struct cbd c[MAX_COHORTS];
	size_t n = 0;
	int rc = parse_cohorts(x, jget(bf, "breakdown"), c, &n);
	if (rc)
		return rc;
	if (!bv)
		return ifail(
		    x, "validation_error",
		    "The actors of a cohort breakdown need breakdown: a cohort id or \"all\"");
	int64_t id = strcmp(bv, "all") == 0 ? 0 : -1;
	if (id < 0 && *bv && strspn(bv, "0123456789") == strlen(bv))
		id = strtoll(bv, NULL, 10);
	size_t k = 0;
	while (k < n && c[k].id != id)
		k++;
	if (k == n)
		return ifail(x, "validation_error",
			     "breakdown %s is not one of the query's cohorts", bv);
	if (!(*out = query_for(q, &c[k])))
		return SN_ERR_NOMEM;
	return 0;
}

bool is_cohort_breakdown(struct json_object *q)
{
	const char *t = jstr(jget(q, "breakdownFilter"), "breakdown_type");
	return t && strcmp(t, "cohort") == 0 && jget(jget(q, "breakdownFilter"), "breakdown");
}
