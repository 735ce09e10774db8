/*
 * funnels.c — FunnelsQuery (spec/hogql.md §9.2): one HogQL statement reads
 * each actor's relevant events in time order with a bit per step and per
 * exclusion they match; the funnel itself is computed per actor in C, as
 * PostHog computes it in its aggregate_funnel UDF rather than in SQL.
 *
 *   SELECT actor, timestamp, <step/exclusion bits>, <breakdown> FROM events
 *   WHERE <date range, filters> [AND <any step or exclusion>]   (strict: all)
 *        ─▶ rows grouped by actor here, each actor's in time order
 *        ─▶ per actor: the furthest path (ties: the earliest start), its
 *           step times, its breakdown value (attribution), exclusions
 *        ─▶ per breakdown value: actors reaching each step, conversion
 *           times (average, median) ─▶ PostHog's step objects
 *
 * Order types. ordered: from each step-1 event, each next step is the first
 * matching event strictly later than the previous step (equal timestamps
 * do not advance) and within the window of the first step; other events in
 * between are allowed. strict: as ordered, but the step events must be
 * consecutive among all of the actor's events. unordered: from each event
 * of any step, the distinct steps done within the window.
 * Exclusions: a path with an exclusion event strictly between its
 * funnelFromStep and funnelToStep events (or after the from step, within
 * the window, when the path stops before the to step) does not count; an
 * actor whose every path is excluded leaves the funnel.
 * Breakdown attribution: first_touch / last_touch = the first / last
 * non-empty value among the actor's step events; step N = each value of
 * the actor's step-N events is its own entry (the path's step N must carry
 * it); all_events = every step event of a path carries the value. Missing
 * values are "" in funnels; values past breakdown_limit fold into "Other".
 *
 * The rows stream from the backend into arows.c (actor and breakdown value
 * interned, 32 bytes a row) and come back grouped by actor. The walk is
 * exact and cheap: a per-actor index of each step's next event (nx) makes
 * finding a step a jump, a start that has no step-2 event in its window
 * is skipped once a clean path reaches step 1, and the walk stops at the
 * first clean complete path (a later start cannot beat it). From
 * sn_insight_set_parallel's row count on, two threads walk the two halves
 * of the actors (about equal rows), each into its own groups; half 1's
 * groups are then added to half 0's in walk order, so the answer is
 * byte-identical to one thread's (the actors list is walked on one).
 *
 * Rejected: the funnel in HogQL with arrays and window functions (PostHog's
 * pre-UDF SQL) — the executor has no arrays yet, and the per-actor walk is
 * exact and simple in C. The cost is reading the matching events: at most
 * FUNNEL_ROWS_MAX rows, beyond that a clear error.
 */
#include "insights/insights_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS	 20
#define MAX_EXCL	 10
#define FUNNEL_ROWS_MAX	 8000000 /* 64 bytes a row at the peak (arows.c) */
#define FUNNEL_BD_MAX	 3
#define FUNNEL_OTHER	 "Other"
#define DEFAULT_BD_LIMIT 25

enum order_type { ORD_ORDERED, ORD_STRICT, ORD_UNORDERED };
enum attribution { ATTR_FIRST, ATTR_LAST, ATTR_ALL, ATTR_STEP };

struct fstep {
	struct json_object *node;
	const char *event; /* NULL = any event */
	const char *custom_name;
	struct json_object *props;
	int first_time; /* 1 first_time_for_user, 2 ..._with_filters */
	char *action;	/* ActionsNode: the action as a HogQL condition */
	const char *action_name;
	int64_t action_id;
	bool optional; /* optionalInFunnel: may be skipped */
};

/* Each actor's first event of a first-time step (actor → µs). */
struct ftmap {
	char **keys;
	int64_t *ts;
	size_t cap; /* power of two, or 0 */
};

struct fexcl {
	struct fstep s;
	int from, to;
};

struct fq {
	struct json_object *q;
	struct fstep steps[MAX_STEPS];
	int nsteps;
	struct fexcl excl[MAX_EXCL];
	int nexcl;
	enum order_type order;
	int64_t window_us;
	enum attribution attr;
	int attr_step;
	const char *viz;
	int from_step, to_step;	       /* time_to_convert and trends viz (0-based) */
	int bin_count;		       /* time_to_convert; 0 = automatic */
	struct ftmap first[MAX_STEPS]; /* first-time steps */
	/* Actors mode: actors whose path reached step want_step (1-based) or,
	 * negative, stopped right before step -want_step; with value want_bv. */
	struct actor_rows *collect;
	int want_step;
	const char *want_bv;
	const char *cur_actor; /* the actor compute() is walking */
	size_t cur_actor_len;
	/* The walked actor's next-event index per step (actor() fills it):
	 * nx[k * (n + 1) + i] = the first event at or after i with step k's
	 * bit, n if none; arena scratch grown to the largest actor. */
	uint32_t *nx;
	size_t nx_cap;
	int nbd;
	char *bd_expr[FUNNEL_BD_MAX];
	bool bd_list; /* breakdown_value is a list (event/person breakdowns) */
	int bd_limit;
	int agg_gti;
	const char *agg_hogql;
	struct drange r;
};

/* One actor's events. */
struct fev {
	int64_t ts;
	uint64_t mask;	/* bit k: step k; bit 32 + e: exclusion e */
	const char *bv; /* breakdown value (joined with \x1f for several), "" = none */
};

/* A path: how far it got and its step times. */
struct fpath {
	int reached;   /* steps reached, 0 = none */
	uint32_t done; /* bit k: step k is on the path (optional steps may be skipped) */
	int last;      /* the last done step */
	int64_t t[MAX_STEPS];
	int idx[MAX_STEPS]; /* event index of each step */
	bool excluded;
};

/* Per breakdown value: actors per step and conversion times. */
struct fgroup {
	const char *bv;
	int64_t count[MAX_STEPS];
	double *conv[MAX_STEPS]; /* seconds, one per actor reaching step k (k >= 1) */
	size_t nconv[MAX_STEPS], cconv[MAX_STEPS];
	int64_t *tfrom, *tto; /* trends viz: per bucket, actors reaching the from / to step */
};

struct fgroups {
	struct fgroup *v;
	size_t n, cap;
};

/* ---- parsing ------------------------------------------------------------------------- */

static int parse_step(struct ictx *x, struct json_object *n, const char *where, struct fstep *s)
{
	const char *kind = jstr(n, "kind");
	if (!kind || (strcmp(kind, "EventsNode") != 0 && strcmp(kind, "ActionsNode") != 0))
		return ifail(x, "validation_error", "%s.kind must be EventsNode or ActionsNode",
			     where);
	if (strcmp(kind, "ActionsNode") == 0) {
		struct sn_buf ab;
		sn_buf_init(&ab, 1 << 22);
		int arc = action_expr(x, n, &ab, &s->action_name, &s->action_id);
		if (arc == 0 && !(s->action = sn_arena_strndup(x->a, ab.data, ab.len)))
			arc = SN_ERR_NOMEM;
		sn_buf_release(&ab);
		if (arc == SN_ERR_NOT_FOUND)
			return ifail(x, "validation_error", "%s: action %lld does not exist", where,
				     (long long)s->action_id);
		if (arc)
			return arc;
	}
	/* Step maths other than the first-time ones do not change a funnel
	 * (PostHog ignores them). */
	const char *math = jstr(n, "math");
	if (math && strcmp(math, "first_time_for_user") == 0)
		s->first_time = 1;
	else if (math && strcmp(math, "first_time_for_user_with_filters") == 0)
		s->first_time = 2;
	s->optional = jbool(n, "optionalInFunnel");
	struct json_object *ev = jget(n, "event");
	if (ev && !json_object_is_type(ev, json_type_string))
		return ifail(x, "validation_error", "%s.event must be a string or null", where);
	s->node = n;
	s->event = ev ? json_object_get_string(ev) : NULL;
	s->custom_name = jstr(n, "custom_name");
	s->props = jget(n, "properties");
	return 0;
}

static int window_of(struct ictx *x, struct json_object *ff, int64_t *out)
{
	struct json_object *n = jget(ff, "funnelWindowInterval");
	int64_t count = 14;
	if (n) {
		if (!json_object_is_type(n, json_type_int) ||
		    json_object_get_int64(n) > 1000000000000LL)
			return ifail(x, "validation_error",
				     "funnelWindowInterval must be an integer (at most 10^12)");
		count = json_object_get_int64(n);
		if (count < 1)
			count = 14; /* PostHog falls back to 14 units */
	}
	const char *u = jstr(ff, "funnelWindowIntervalUnit");
	if (!u)
		u = "day";
	static const struct {
		const char *name;
		int64_t us;
	} units[] = {{"second", US_SEC}, {"minute", US_MIN},   {"hour", US_HOUR},
		     {"day", US_DAY},	 {"week", 7 * US_DAY}, {"month", 31 * US_DAY}};
	for (size_t i = 0; i < SN_ARRAY_LEN(units); i++)
		if (strcmp(u, units[i].name) == 0) {
			*out = count * units[i].us;
			return 0;
		}
	return ifail(x, "validation_error",
		     "funnelWindowIntervalUnit must be second, minute, hour, day, week or month");
}

static int bd_expr_of(struct ictx *x, const char *type, const char *prop, int gti, char **out)
{
	struct sn_buf b;
	sn_buf_init(&b, 1 << 16);
	int rc;
	if (!type || strcmp(type, "event") == 0)
		rc = hq_prop(&b, "properties", prop);
	else if (strcmp(type, "person") == 0)
		rc = hq_person_prop(&b, prop);
	else if (strcmp(type, "event_metadata") == 0)
		rc = hq_ident(&b, prop);
	else if (strcmp(type, "hogql") == 0)
		rc = sn_buf_appendf(&b, "(%s)", prop);
	else if (strcmp(type, "group") == 0 && gti >= 0) {
		char pre[32];
		snprintf(pre, sizeof(pre), "group_%d.properties", gti);
		rc = hq_prop(&b, pre, prop);
	} else if (strcmp(type, "group") == 0)
		rc = ifail(x, "validation_error",
			   "A group breakdown needs breakdown_group_type_index 0 to 4");
	else
		rc = ifail(x, "not_supported",
			   "Funnel breakdowns of type '%s' are not supported yet", type);
	if (rc == 0 && !(*out = sn_arena_strndup(x->a, b.data ? b.data : "", b.len)))
		rc = SN_ERR_NOMEM;
	sn_buf_release(&b);
	return rc;
}

static int parse_breakdown(struct ictx *x, struct fq *f)
{
	struct json_object *bf = jget(f->q, "breakdownFilter");
	f->bd_limit = DEFAULT_BD_LIMIT;
	if (!bf)
		return 0;
	struct json_object *lim = jget(bf, "breakdown_limit");
	if (lim) {
		if (!json_object_is_type(lim, json_type_int) || json_object_get_int(lim) < 1)
			return ifail(x, "validation_error",
				     "breakdown_limit must be a positive integer");
		f->bd_limit = json_object_get_int(lim);
	}
	if (jget(bf, "breakdown_histogram_bin_count"))
		return ifail(x, "not_supported",
			     "Histogram breakdowns of funnels are not supported yet");
	struct json_object *multi = jget(bf, "breakdowns");
	if (multi && json_object_is_type(multi, json_type_array) &&
	    json_object_array_length(multi)) {
		size_t n = json_object_array_length(multi);
		if (n > FUNNEL_BD_MAX)
			return ifail(x, "validation_error", "At most %d breakdowns", FUNNEL_BD_MAX);
		for (size_t i = 0; i < n; i++) {
			struct json_object *b = json_object_array_get_idx(multi, i);
			const char *prop = jstr(b, "property");
			struct json_object *gi = jget(b, "group_type_index");
			if (!prop)
				return ifail(x, "validation_error",
					     "breakdowns[%zu].property must be a string", i);
			if (bd_expr_of(x, jstr(b, "type"), prop, gi ? json_object_get_int(gi) : -1,
				       &f->bd_expr[i]))
				return SN_ERR_INVALID;
		}
		f->nbd = (int)n;
		f->bd_list = true;
		return 0;
	}
	struct json_object *bd = jget(bf, "breakdown");
	if (!bd)
		return 0;
	const char *type = jstr(bf, "breakdown_type");
	if (type && strcmp(type, "cohort") == 0)
		return ifail(x, "not_supported", "Cohort breakdowns are not supported yet");
	struct json_object *gi = jget(bf, "breakdown_group_type_index");
	int gti = gi ? json_object_get_int(gi) : -1;
	if (json_object_is_type(bd, json_type_string)) {
		if (bd_expr_of(x, type, json_object_get_string(bd), gti, &f->bd_expr[0]))
			return SN_ERR_INVALID;
		f->nbd = 1;
	} else if (json_object_is_type(bd, json_type_array) && json_object_array_length(bd) > 0 &&
		   json_object_array_length(bd) <= FUNNEL_BD_MAX) {
		/* a list of properties: one breakdown per element */
		size_t n = json_object_array_length(bd);
		for (size_t i = 0; i < n; i++) {
			struct json_object *p = json_object_array_get_idx(bd, i);
			if (!json_object_is_type(p, json_type_string))
				return ifail(x, "validation_error",
					     "breakdown must list property names");
			if (bd_expr_of(x, type, json_object_get_string(p), gti, &f->bd_expr[i]))
				return SN_ERR_INVALID;
		}
		f->nbd = (int)n;
	} else {
		return ifail(x, "validation_error",
			     "breakdownFilter.breakdown must be a property name");
	}
	/* Event and person breakdowns answer lists, group ones plain strings. */
	f->bd_list = !type || strcmp(type, "group") != 0;
	return 0;
}

static int parse(struct ictx *x, struct fq *f)
{
	struct json_object *series = jget(f->q, "series");
	if (!series || !json_object_is_type(series, json_type_array) ||
	    json_object_array_length(series) < 2)
		return ifail(x, "validation_error", "A funnel needs at least 2 steps in series");
	if (json_object_array_length(series) > MAX_STEPS)
		return ifail(x, "validation_error", "A funnel has at most %d steps", MAX_STEPS);
	f->nsteps = (int)json_object_array_length(series);
	for (int i = 0; i < f->nsteps; i++) {
		char where[32];
		snprintf(where, sizeof(where), "series[%d]", i);
		int rc = parse_step(x, json_object_array_get_idx(series, (size_t)i), where,
				    &f->steps[i]);
		if (rc)
			return rc;
	}
	struct json_object *ff = jget(f->q, "funnelsFilter");
	const char *ord = jstr(ff, "funnelOrderType");
	f->order = !ord || strcmp(ord, "ordered") == 0 ? ORD_ORDERED
		   : strcmp(ord, "strict") == 0	       ? ORD_STRICT
		   : strcmp(ord, "unordered") == 0     ? ORD_UNORDERED
						       : (enum order_type) - 1;
	if ((int)f->order < 0)
		return ifail(x, "validation_error",
			     "funnelOrderType must be ordered, strict or unordered");
	f->viz = jstr(ff, "funnelVizType");
	if (!f->viz)
		f->viz = "steps";
	if (strcmp(f->viz, "steps") != 0 && strcmp(f->viz, "time_to_convert") != 0 &&
	    strcmp(f->viz, "trends") != 0)
		return ifail(x, "validation_error",
			     "funnelVizType must be steps, time_to_convert or trends");
	struct json_object *fs = jget(ff, "funnelFromStep"), *ts = jget(ff, "funnelToStep");
	f->from_step = fs ? json_object_get_int(fs) : 0;
	f->to_step = ts ? json_object_get_int(ts) : f->nsteps - 1;
	if (f->from_step < 0 || f->to_step >= f->nsteps || f->from_step >= f->to_step) {
		if (strcmp(f->viz, "steps") != 0)
			return ifail(x, "validation_error",
				     "funnelFromStep and funnelToStep must be steps with from < to "
				     "(0 to %d)",
				     f->nsteps - 1);
		f->from_step = 0;
		f->to_step = f->nsteps - 1;
	}
	struct json_object *bc = jget(ff, "binCount");
	if (bc) {
		f->bin_count = json_object_get_int(bc);
		if (f->bin_count < 1)
			f->bin_count = 1;
		if (f->bin_count > 90)
			f->bin_count = 90;
	}
	int rc = window_of(x, ff, &f->window_us);
	if (rc)
		return rc;
	const char *attr = jstr(ff, "breakdownAttributionType");
	f->attr = !attr || strcmp(attr, "first_touch") == 0 ? ATTR_FIRST
		  : strcmp(attr, "last_touch") == 0	    ? ATTR_LAST
		  : strcmp(attr, "all_events") == 0	    ? ATTR_ALL
		  : strcmp(attr, "step") == 0		    ? ATTR_STEP
							    : (enum attribution) - 1;
	if ((int)f->attr < 0)
		return ifail(x, "validation_error",
			     "breakdownAttributionType must be first_touch, last_touch, all_events "
			     "or step");
	struct json_object *av = jget(ff, "breakdownAttributionValue");
	f->attr_step = av ? json_object_get_int(av) : 0;
	if (f->attr == ATTR_STEP && (f->attr_step < 0 || f->attr_step >= f->nsteps))
		return ifail(x, "validation_error",
			     "breakdownAttributionValue must be a step index from 0 to %d",
			     f->nsteps - 1);
	struct json_object *ex = jget(ff, "exclusions");
	if (ex && json_object_is_type(ex, json_type_array)) {
		size_t n = json_object_array_length(ex);
		if (n > MAX_EXCL)
			return ifail(x, "validation_error", "At most %d exclusions", MAX_EXCL);
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(ex, i);
			char where[48];
			snprintf(where, sizeof(where), "funnelsFilter.exclusions[%zu]", i);
			if ((rc = parse_step(x, e, where, &f->excl[i].s)))
				return rc;
			struct json_object *fr = jget(e, "funnelFromStep"),
					   *to = jget(e, "funnelToStep");
			f->excl[i].from = fr ? json_object_get_int(fr) : 0;
			f->excl[i].to = to ? json_object_get_int(to) : f->nsteps - 1;
			if (f->excl[i].from < 0 || f->excl[i].to >= f->nsteps ||
			    f->excl[i].from >= f->excl[i].to)
				return ifail(
				    x, "validation_error",
				    "%s: funnelFromStep and funnelToStep must be steps with "
				    "from < to",
				    where);
		}
		f->nexcl = (int)n;
	}
	struct json_object *gi = jget(f->q, "aggregation_group_type_index");
	f->agg_gti = gi ? json_object_get_int(gi) : -1;
	if (gi && (f->agg_gti < 0 || f->agg_gti > 4))
		return ifail(x, "validation_error", "aggregation_group_type_index must be 0 to 4");
	f->agg_hogql = jstr(ff, "funnelAggregateByHogQL");
	return parse_breakdown(x, f);
}

/* ---- the statement ------------------------------------------------------------------- */

static int step_cond(struct ictx *x, struct sn_buf *b, const struct fstep *s)
{
	int rc = sn_buf_appendc(b, '(');
	if (s->action) {
		rc = rc ? rc : sn_buf_appends(b, s->action);
	} else if (s->event) {
		rc = rc ? rc : sn_buf_appends(b, "event = ");
		rc = rc ? rc : hq_str(b, s->event, strlen(s->event));
	} else {
		rc = rc ? rc : sn_buf_appends(b, "1");
	}
	if (rc == 0 && s->props) {
		rc = sn_buf_appends(b, " AND ");
		rc = rc ? rc : hq_filters(x, b, s->props);
	}
	return rc ? rc : sn_buf_appendc(b, ')');
}

/* What one funnel entry is: a person, a group or a HogQL expression. */
static const char *actor_expr(const struct fq *f)
{
	static const char *const groups[] = {"$group_0", "$group_1", "$group_2", "$group_3",
					     "$group_4"};
	if (f->agg_hogql && *f->agg_hogql)
		return f->agg_hogql;
	if (f->agg_gti >= 0)
		return groups[f->agg_gti];
	return "person_id";
}

static int statement(struct ictx *x, const struct fq *f, struct sn_buf *q)
{
	const char *actor = actor_expr(f);
	char gbuf[16];
	snprintf(gbuf, sizeof(gbuf), "$group_%d", f->agg_gti < 0 ? 0 : f->agg_gti);
	int rc = sn_buf_appendf(q, "SELECT toString(%s) AS actor, timestamp, ", actor);
	for (int k = 0; k < f->nsteps && rc == 0; k++) {
		rc = sn_buf_appends(q, k ? " + if(" : "if(");
		rc = rc ? rc : step_cond(x, q, &f->steps[k]);
		rc = rc ? rc : sn_buf_appendf(q, ", %lld, 0)", 1LL << k);
	}
	for (int e = 0; e < f->nexcl && rc == 0; e++) {
		rc = sn_buf_appends(q, " + if(");
		rc = rc ? rc : step_cond(x, q, &f->excl[e].s);
		rc = rc ? rc : sn_buf_appendf(q, ", %lld, 0)", 1LL << (32 + e));
	}
	rc = rc ? rc : sn_buf_appends(q, " AS m");
	for (int i = 0; i < f->nbd && rc == 0; i++)
		rc = sn_buf_appendf(q, ", ifNull(toString(%s), '') AS b%d", f->bd_expr[i], i);
	rc = rc ? rc : sn_buf_appendf(q, " FROM events%s WHERE timestamp >= ", x->sample);
	char buf[40];
	fmt_loc_dt(buf, sizeof(buf), f->r.where_from);
	rc = rc ? rc : sn_buf_appendf(q, "toDateTime('%s') AND timestamp <= ", buf);
	fmt_loc_dt(buf, sizeof(buf), f->r.to);
	rc = rc ? rc : sn_buf_appendf(q, "toDateTime('%s')", buf);
	struct json_object *props = jget(f->q, "properties");
	if (rc == 0 && props) {
		rc = sn_buf_appends(q, " AND ");
		rc = rc ? rc : hq_filters(x, q, props);
	}
	if (rc == 0 && jbool(f->q, "filterTestAccounts") && x->o->team.test_account_filters) {
		rc = sn_buf_appends(q, " AND ");
		rc = rc ? rc : hq_filters(x, q, x->o->team.test_account_filters);
	}
	if (rc == 0 && f->agg_gti >= 0 && !(f->agg_hogql && *f->agg_hogql))
		rc = sn_buf_appendf(q, " AND %s != ''", gbuf);
	if (rc == 0 && f->order != ORD_STRICT) {
		/* Only events of a step or an exclusion matter. */
		rc = sn_buf_appends(q, " AND (");
		for (int k = 0; k < f->nsteps && rc == 0; k++) {
			if (k)
				rc = sn_buf_appends(q, " OR ");
			rc = rc ? rc : step_cond(x, q, &f->steps[k]);
		}
		for (int e = 0; e < f->nexcl && rc == 0; e++) {
			rc = sn_buf_appends(q, " OR ");
			rc = rc ? rc : step_cond(x, q, &f->excl[e].s);
		}
		rc = rc ? rc : sn_buf_appendc(q, ')');
	}
	/* No ORDER BY: sorting 36-character actor ids in the engine cost more
	 * than the whole funnel; compute() groups the rows itself. */
	rc = rc ? rc : sn_buf_appendf(q, " LIMIT %d", FUNNEL_ROWS_MAX);
	return rc;
}

/* ---- per actor ------------------------------------------------------------------------ */

static bool has(uint64_t m, int k)
{
	return (m >> k) & 1;
}

/* Whether an exclusion event falls inside path p. */
static bool path_excluded(const struct fq *f, const struct fev *ev, size_t n, const struct fpath *p)
{
	for (int e = 0; e < f->nexcl; e++) {
		int from = f->excl[e].from, to = f->excl[e].to;
		if (p->reached <= from)
			continue;
		int64_t lo = p->t[from];
		int64_t hi = p->reached > to ? p->t[to] : p->t[0] + f->window_us;
		for (size_t i = 0; i < n; i++)
			if (has(ev[i].mask, 32 + e) && ev[i].ts > lo && ev[i].ts < hi)
				return true;
	}
	return false;
}

/* The rest of an ordered or strict path from step k (the previous done
 * step's event is ev[cur]); the furthest completion goes to *best (ties:
 * the first found, which takes optional steps when it can). */
static void extend(const struct fq *f, const struct fev *ev, size_t n, const char *bv,
		   const struct fpath *p, int k, size_t cur, struct fpath *best)
{
	if (k == f->nsteps) {
		if (p->reached > best->reached)
			*best = *p;
		return;
	}
	/* The step's event: the earliest matching one not yet used, no earlier
	 * than the previous done step (equal timestamps advance; one event
	 * cannot fill two steps); strict: the very next event. */
	int64_t prev = p->t[p->last];
	size_t found = n, from = cur;
	while (from > 0 && ev[from - 1].ts >= prev)
		from--;
	if (f->order == ORD_STRICT)
		from = cur + 1;
	/* Every event from `from` on is no earlier than prev (time order), so
	 * without a breakdown value to match, the step's event is the first
	 * unused one with its bit: jump there by the next-event index. */
	bool jump = f->nx && f->order != ORD_STRICT &&
		    !(bv && (f->attr == ATTR_ALL || (f->attr == ATTR_STEP && k == f->attr_step)));
	for (size_t i = jump ? f->nx[(size_t)k * (n + 1) + from] : n; jump && i < n;) {
		if (ev[i].ts > p->t[0] + f->window_us)
			break;
		bool used = false;
		for (int u = 0; u < k && !used; u++)
			used = ((p->done >> u) & 1) && p->idx[u] == (int)i;
		if (!used) {
			found = i;
			break;
		}
		i = f->nx[(size_t)k * (n + 1) + i + 1];
	}
	for (size_t i = from; !jump && i < n; i++) {
		if (ev[i].ts > p->t[0] + f->window_us)
			break;
		bool used = false;
		for (int u = 0; u < k && !used; u++)
			used = ((p->done >> u) & 1) && p->idx[u] == (int)i;
		if (used)
			continue;
		bool ok = has(ev[i].mask, k) && ev[i].ts >= prev;
		if (ok && bv && f->attr == ATTR_ALL && strcmp(ev[i].bv, bv) != 0)
			ok = false;
		if (ok && bv && f->attr == ATTR_STEP && k == f->attr_step &&
		    strcmp(ev[i].bv, bv) != 0)
			ok = false;
		if (f->order == ORD_STRICT && !ok)
			break;
		if (ok) {
			found = i;
			break;
		}
	}
	if (found < n) {
		struct fpath q = *p;
		q.t[k] = ev[found].ts;
		q.idx[k] = (int)found;
		q.reached = k + 1;
		q.done |= 1u << k;
		q.last = k;
		extend(f, ev, n, bv, &q, k + 1, found > cur || f->order == ORD_STRICT ? found : cur,
		       best);
	}
	if (f->steps[k].optional) {
		extend(f, ev, n, bv, p, k + 1, cur, best); /* skip it */
	} else if (found == n && p->reached > best->reached) {
		*best = *p;
	}
}

/* The unordered path from entry event s: the distinct steps done within
 * the window, one step per event, into *p. entry >= 0: the rotation whose
 * step 0 is series entry (the entry event counts as it), and with bv the
 * attributed series (entry + attr_step) mod steps must carry bv. */
static void unordered_from(const struct fq *f, const struct fev *ev, size_t n, const char *bv,
			   size_t s, int entry, struct fpath *p)
{
	bool done[MAX_STEPS] = {false};
	int64_t first[MAX_STEPS];
	int nd = 0;
	int ka = !bv || f->attr != ATTR_STEP ? -1
		 : entry >= 0		     ? (entry + f->attr_step) % f->nsteps
					     : f->attr_step;
	for (size_t i = s; i < n && ev[i].ts <= ev[s].ts + f->window_us; i++) {
		if (bv && f->attr == ATTR_ALL && strcmp(ev[i].bv, bv) != 0)
			continue;
		for (int k = 0; k < f->nsteps; k++) {
			if (i == s && entry >= 0)
				k = entry; /* the entry event is the rotation's step 0 */
			if (has(ev[i].mask, k) && !done[k]) {
				if (k == ka && strcmp(ev[i].bv, bv) != 0) {
					if (i == s && entry >= 0)
						break;
					continue;
				}
				done[k] = true;
				first[k] = ev[i].ts;
				nd++;
				break; /* one step per event */
			}
			if (i == s && entry >= 0)
				break;
		}
	}
	/* the path's times: first occurrences in time order */
	int m = 0;
	for (int k = 0; k < f->nsteps; k++)
		if (done[k])
			p->t[m++] = first[k];
	for (int a = 1; a < m; a++)
		for (int b2 = a; b2 > 0 && p->t[b2 - 1] > p->t[b2]; b2--) {
			int64_t tmp = p->t[b2];
			p->t[b2] = p->t[b2 - 1];
			p->t[b2 - 1] = tmp;
		}
	p->reached = nd;
	p->done = nd ? (1u << nd) - 1 : 0;
	if (ka >= 0 && !done[ka])
		p->reached = 0;
}

/* ev[0..n) sorted by time; only events whose value is bv (all_events) or,
 * for step attribution, whose step-N event has value bv, may take part
 * (bv NULL: any). The best path into *best. */
static void walk(const struct fq *f, const struct fev *ev, size_t n, const char *bv,
		 int64_t start_lo, int64_t start_hi, struct fpath *best)
{
	memset(best, 0, sizeof(*best));
	for (size_t s = 0; s < n; s++) {
		struct fpath p = {0};
		if (f->order == ORD_UNORDERED) {
			if ((ev[s].mask & ((1ULL << f->nsteps) - 1)) == 0 || ev[s].ts < start_lo ||
			    ev[s].ts >= start_hi)
				continue;
			/* PostHog runs an unordered funnel once per step as the entry
			 * (the steps rotated); step attribution N takes the value of the
			 * rotation's step N, series (entry + N) mod steps. Each series
			 * the entry event matches is a rotation; without step
			 * attribution the rotations reach as far, and one is walked. */
			bool rot = bv && f->attr == ATTR_STEP;
			for (int r = 0; r < f->nsteps; r++) {
				if (rot ? !has(ev[s].mask, r) : r > 0)
					continue;
				struct fpath q = {0};
				unordered_from(f, ev, n, bv, s, rot ? r : -1, &q);
				if (q.reached > p.reached)
					p = q;
			}
		} else {
			if (!has(ev[s].mask, 0) || ev[s].ts < start_lo || ev[s].ts >= start_hi)
				continue;
			if (bv && f->attr == ATTR_ALL && strcmp(ev[s].bv, bv) != 0)
				continue;
			if (bv && f->attr == ATTR_STEP && f->attr_step == 0 &&
			    strcmp(ev[s].bv, bv) != 0)
				continue;
			/* With a clean path reaching step 1 in hand, a start that has
			 * no step-2 event in its window cannot win: skip the walk. */
			if (best->reached >= 1 && !best->excluded && f->nsteps > 1 && f->nx &&
			    f->order == ORD_ORDERED && !f->steps[1].optional) {
				size_t from = s;
				while (from > 0 && ev[from - 1].ts >= ev[s].ts)
					from--;
				size_t i = f->nx[(size_t)(n + 1) + from];
				if (i == n || ev[i].ts > ev[s].ts + f->window_us)
					continue;
			}
			p.t[0] = ev[s].ts;
			p.idx[0] = (int)s;
			p.reached = 1;
			p.done = 1;
			p.last = 0;
			struct fpath b2 = p;
			extend(f, ev, n, bv, &p, 1, s, &b2);
			p = b2;
			if (bv && f->attr == ATTR_STEP && p.reached <= f->attr_step)
				p.reached = 0;
		}
		if (p.reached == 0)
			continue;
		p.excluded = f->nexcl && path_excluded(f, ev, n, &p);
		if (p.excluded && f->order == ORD_UNORDERED)
			continue; /* unordered: another entry may still count cleanly */
		/* The furthest path wins (ties: the earliest, but a clean path
		 * beats an excluded one of the same reach). */
		if (p.reached > best->reached ||
		    (p.reached == best->reached && best->excluded && !p.excluded))
			*best = p;
		if (best->reached == f->nsteps && !best->excluded)
			break; /* no later start can beat a clean complete path */
	}
	/* When the furthest reach is only excluded paths, the actor leaves. */
	if (best->excluded)
		best->reached = 0;
}

/* ---- groups --------------------------------------------------------------------------- */

static int group_of(struct ictx *x, struct fgroups *g, const char *bv, struct fgroup **out)
{
	for (size_t i = 0; i < g->n; i++)
		if (strcmp(g->v[i].bv, bv) == 0) {
			*out = &g->v[i];
			return 0;
		}
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		if (cap > 100000)
			return ifail(x, "query_error", "The funnel has too many breakdown values");
		struct fgroup *nv = sn_arena_alloc(x->a, cap * sizeof(*nv));
		if (!nv)
			return SN_ERR_NOMEM;
		if (g->n)
			memcpy(nv, g->v, g->n * sizeof(*nv));
		g->v = nv;
		g->cap = cap;
	}
	*out = &g->v[g->n++];
	memset(*out, 0, sizeof(**out));
	(*out)->bv = bv;
	return 0;
}

static int add_path(struct ictx *x, struct fgroups *g, const char *bv, const struct fpath *p)
{
	struct fgroup *gr = NULL;
	int rc = group_of(x, g, bv, &gr);
	if (rc)
		return rc;
	int prev = -1;
	for (int k = 0; k < p->reached; k++) {
		if (!((p->done >> k) & 1))
			continue; /* a skipped optional step */
		gr->count[k]++;
		int before = prev;
		prev = k;
		if (k == 0 || before < 0)
			continue;
		if (gr->nconv[k] == gr->cconv[k]) {
			size_t cap = gr->cconv[k] ? 2 * gr->cconv[k] : 16;
			double *nv = sn_arena_alloc(x->a, cap * sizeof(*nv));
			if (!nv)
				return SN_ERR_NOMEM;
			if (gr->nconv[k])
				memcpy(nv, gr->conv[k], gr->nconv[k] * sizeof(*nv));
			gr->conv[k] = nv;
			gr->cconv[k] = cap;
		}
		gr->conv[k][gr->nconv[k]++] = (double)(p->t[k] - p->t[before]) / 1e6;
	}
	return 0;
}

/* The attributed value of an actor (first/last touch): the first or last
 * non-empty value among its step events, "" when none. */
static const char *touch_value(const struct fq *f, const struct fev *ev, size_t n)
{
	uint64_t steps = (1ULL << f->nsteps) - 1;
	if (f->attr == ATTR_FIRST) {
		for (size_t i = 0; i < n; i++)
			if ((ev[i].mask & steps) && ev[i].bv[0] &&
			    strspn(ev[i].bv, "\x1f") != strlen(ev[i].bv))
				return ev[i].bv;
	} else {
		for (size_t i = n; i-- > 0;)
			if ((ev[i].mask & steps) && ev[i].bv[0] &&
			    strspn(ev[i].bv, "\x1f") != strlen(ev[i].bv))
				return ev[i].bv;
	}
	/* none: the empty value (as many empty parts as breakdowns) */
	for (size_t i = 0; i < n; i++)
		if (ev[i].mask & steps)
			return ev[i].bv;
	return "";
}

/* What one (actor, value) pair adds, per viz type. */
static int emit(struct ictx *x, const struct fq *f, struct fgroups *g, const char *bv,
		const struct fev *ev, size_t n, const char *walk_bv)
{
	struct fpath p;
	if (strcmp(f->viz, "trends") == 0) {
		/* One entry per entrance period: the best path starting in it. */
		const struct drange *r = &f->r;
		struct fgroup *gr = NULL;
		for (size_t k = 0; k < r->nbuckets; k++) {
			int64_t lo = utc_of_loc(x->tz, r->buckets[k]);
			int64_t hi = k + 1 < r->nbuckets
					 ? utc_of_loc(x->tz, r->buckets[k + 1])
					 : utc_of_loc(x->tz, add_interval(r->buckets[k], r->iv, 1));
			walk(f, ev, n, walk_bv, lo, hi, &p);
			if (p.reached <= f->from_step)
				continue;
			if (!gr) {
				int rc = group_of(x, g, bv, &gr);
				if (rc)
					return rc;
				if (!gr->tfrom) {
					gr->tfrom =
					    sn_arena_alloc(x->a, r->nbuckets * 2 * sizeof(int64_t));
					if (!gr->tfrom)
						return SN_ERR_NOMEM;
					memset(gr->tfrom, 0, r->nbuckets * 2 * sizeof(int64_t));
					gr->tto = gr->tfrom + r->nbuckets;
				}
			}
			gr->tfrom[k]++;
			if (p.reached > f->to_step)
				gr->tto[k]++;
		}
		return 0;
	}
	walk(f, ev, n, walk_bv, INT64_MIN, INT64_MAX, &p);
	if (!p.reached)
		return 0;
	if (f->collect) {
		bool in =
		    f->want_step > 0 ? p.reached >= f->want_step : p.reached == -f->want_step - 1;
		if (in && f->want_bv && strcmp(f->want_bv, bv) != 0)
			in = false;
		if (!in)
			return 0;
		int rc = actor_push(x, f->collect, f->cur_actor, f->cur_actor_len, p.reached);
		if (rc)
			return rc;
		/* the step's time (reached: step n; dropped off before n: the
		 * last step reached, n - 1) and the one before, for paths */
		int k = f->want_step > 0 ? f->want_step - 1 : -f->want_step - 2;
		struct actor_row *ar = &f->collect->v[f->collect->n - 1];
		if (k >= 0 && k < MAX_STEPS) {
			ar->t_step = p.t[k];
			ar->t_prev = k > 0 ? p.t[k - 1] : p.t[k];
		}
		return 0;
	}
	if (strcmp(f->viz, "time_to_convert") == 0) {
		if (p.reached <= f->to_step)
			return 0;
		struct fpath q = p;
		q.reached = 2;
		q.done = 3;
		q.t[0] = p.t[f->from_step];
		q.t[1] = p.t[f->to_step];
		return add_path(x, g, "", &q); /* breakdowns do not apply */
	}
	return add_path(x, g, bv, &p);
}

/* Adds one actor's funnel(s) to g. */
static int actor(struct ictx *x, const struct fq *f, const struct fev *ev, size_t n,
		 struct fgroups *g)
{
	struct fq *fm = (struct fq *)f;
	size_t need = (size_t)f->nsteps * (n + 1);
	if (n >= UINT32_MAX)
		return ifail(x, "query_error", "An actor has too many events for a funnel");
	if (need > fm->nx_cap) {
		size_t cap = need > 2 * fm->nx_cap ? need : 2 * fm->nx_cap;
		if (!(fm->nx = sn_arena_alloc(x->a, cap * sizeof(*fm->nx))))
			return SN_ERR_NOMEM;
		fm->nx_cap = cap;
	}
	for (int k = 0; k < f->nsteps; k++) {
		uint32_t *nk = fm->nx + (size_t)k * (n + 1), next = (uint32_t)n;
		nk[n] = next;
		for (size_t i = n; i-- > 0;)
			nk[i] = next = has(ev[i].mask, k) ? (uint32_t)i : next;
	}
	if (!f->nbd || strcmp(f->viz, "time_to_convert") == 0)
		return emit(x, f, g, "", ev, n, NULL);
	if (f->attr == ATTR_FIRST || f->attr == ATTR_LAST)
		return emit(x, f, g, touch_value(f, ev, n), ev, n, NULL);
	/* all_events / step: one entry per distinct value of the events that
	 * can carry it */
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		/* unordered step attribution: any series may be a rotation's step N */
		bool any = f->attr != ATTR_STEP || f->order == ORD_UNORDERED;
		uint64_t steps = (1ULL << f->nsteps) - 1;
		if (any ? !(ev[i].mask & steps) : !has(ev[i].mask, f->attr_step))
			continue;
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(ev[j].bv, ev[i].bv) == 0 &&
			       (any ? (ev[j].mask & steps) != 0 : has(ev[j].mask, f->attr_step));
		if (!seen)
			rc = emit(x, f, g, ev[i].bv, ev, n, ev[i].bv);
	}
	return rc;
}

/* ---- JSON ----------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void num_json(struct sn_buf *b, double v)
{
	if (v == floor(v) && fabs(v) < 1e15)
		sn_buf_appendf(b, "%.0f", v);
	else
		sn_buf_appendf(b, "%.15g", v);
}

static void bv_json(struct sn_buf *b, const struct fq *f, const char *bv)
{
	if (!f->bd_list) {
		sn_buf_append_json_str(b, bv, strlen(bv));
		return;
	}
	sn_buf_appendc(b, '[');
	const char *p = bv;
	for (int i = 0; i < f->nbd; i++) {
		const char *e = strchr(p, '\x1f');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (i)
			sn_buf_appendc(b, ',');
		sn_buf_append_json_str(b, p, len);
		p = e ? e + 1 : p + len;
	}
	sn_buf_appendc(b, ']');
}

static void steps_json(struct sn_buf *b, const struct fq *f, struct fgroup *g)
{
	sn_buf_appendc(b, '[');
	for (int k = 0; k < f->nsteps; k++) {
		const struct fstep *s = &f->steps[k];
		if (k)
			sn_buf_appendc(b, ',');
		sn_buf_appends(b, "{\"action_id\":");
		if (s->action && f->order != ORD_UNORDERED)
			sn_buf_appendf(b, "%lld", (long long)s->action_id);
		else if (s->event && f->order != ORD_UNORDERED)
			sn_buf_append_json_str(b, s->event, strlen(s->event));
		else
			sn_buf_appends(b, "null");
		sn_buf_appends(b, ",\"name\":");
		if (!s->event && !s->action && f->order != ORD_UNORDERED) {
			sn_buf_appends(b, "null"); /* an "any event" step has no name */
			goto named;
		}
		char done[48];
		/* unordered steps have no identity: "Completed 2 steps" */
		snprintf(done, sizeof(done), "Completed %d step%s", k + 1, k ? "s" : "");
		const char *name = f->order == ORD_UNORDERED ? done
				   : s->action		     ? s->action_name
				   : s->event		     ? s->event
							     : "All events";
		sn_buf_append_json_str(b, name, strlen(name));
	named:
		sn_buf_appends(b, ",\"custom_name\":");
		if (s->custom_name && f->order != ORD_UNORDERED)
			sn_buf_append_json_str(b, s->custom_name, strlen(s->custom_name));
		else
			sn_buf_appends(b, "null");
		sn_buf_appendf(b, ",\"order\":%d,\"count\":%lld,\"type\":\"%s\"", k,
			       (long long)g->count[k], s->action ? "actions" : "events");
		if (k == 0 || g->nconv[k] == 0) {
			sn_buf_appends(
			    b, ",\"average_conversion_time\":null,\"median_conversion_time\":null");
		} else {
			size_t n = g->nconv[k];
			double sum = 0;
			for (size_t i = 0; i < n; i++)
				sum += g->conv[k][i];
			qsort(g->conv[k], n, sizeof(double), cmp_double);
			double pos = 0.5 * (double)(n - 1);
			size_t lo = (size_t)floor(pos);
			double med = g->conv[k][lo];
			if (lo + 1 < n)
				med += (pos - (double)lo) * (g->conv[k][lo + 1] - g->conv[k][lo]);
			sn_buf_appends(b, ",\"average_conversion_time\":");
			num_json(b, sum / (double)n);
			sn_buf_appends(b, ",\"median_conversion_time\":");
			num_json(b, med);
		}
		if (f->nbd) {
			sn_buf_appends(b, ",\"breakdown\":");
			bv_json(b, f, g->bv);
			sn_buf_appends(b, ",\"breakdown_value\":");
			bv_json(b, f, g->bv);
		}
		sn_buf_appendc(b, '}');
	}
	sn_buf_appendc(b, ']');
}

static int group_cmp(const void *pa, const void *pb)
{
	const struct fgroup *a = pa, *b = pb;
	bool oa = strcmp(a->bv, FUNNEL_OTHER) == 0, ob = strcmp(b->bv, FUNNEL_OTHER) == 0;
	if (oa != ob)
		return oa ? 1 : -1;
	/* PostHog's ORDER BY step_n DESC, …, step_1 DESC */
	for (int k = MAX_STEPS - 1; k >= 0; k--)
		if (a->count[k] != b->count[k])
			return a->count[k] > b->count[k] ? -1 : 1;
	return strcmp(a->bv, b->bv);
}

/* time_to_convert: PostHog's histogram of the actors' conversion times
 * between funnelFromStep and funnelToStep: bin_count bins (binCount, or
 * ceil(cbrt(actors)) clamped to 1..60) from floor(min) with width
 * ceil((ceil(max) − floor(min)) / bin_count) (60 s when 0), listed as
 * bin_count + 1 starts, the last holding the maximum. */
static int time_to_convert_json(struct ictx *x, const struct fq *f, struct fgroups *g,
				struct sn_buf *out)
{
	(void)x;
	const double *t = g->n ? g->v[0].conv[1] : NULL;
	size_t n = g->n ? g->v[0].nconv[1] : 0;
	int rc = sn_buf_appends(out, "\"results\":{\"bins\":[");
	if (n == 0)
		return rc ? rc : sn_buf_appends(out, "],\"average_conversion_time\":null}");
	double lo = INFINITY, hi = -INFINITY, sum = 0;
	for (size_t i = 0; i < n; i++) {
		lo = t[i] < lo ? t[i] : lo;
		hi = t[i] > hi ? t[i] : hi;
		sum += t[i];
	}
	lo = floor(lo);
	hi = ceil(hi);
	int bins = f->bin_count;
	if (!bins) {
		bins = (int)ceil(cbrt((double)n));
		bins = bins < 1 ? 1 : bins > 60 ? 60 : bins;
	}
	double width = ceil((hi - lo) / bins);
	if (width <= 0)
		width = 60;
	int64_t *counts = calloc((size_t)bins + 1, sizeof(int64_t));
	if (!counts)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		int64_t k = (int64_t)floor((t[i] - lo) / width);
		if (k >= 0 && k <= bins)
			counts[k]++;
	}
	for (int k = 0; k <= bins && rc == 0; k++)
		rc = sn_buf_appendf(out, "%s[%.0f,%lld]", k ? "," : "", round(lo + k * width),
				    (long long)counts[k]);
	free(counts);
	rc = rc ? rc : sn_buf_appends(out, "],\"average_conversion_time\":");
	if (rc == 0)
		num_json(out, sum / (double)n);
	return rc ? rc : sn_buf_appendc(out, '}');
}

static int trends_group_cmp(const void *pa, const void *pb, void *arg)
{
	const struct fgroup *a = pa, *b = pb;
	size_t nb = *(const size_t *)arg;
	int64_t sa = 0, sb = 0;
	for (size_t k = 0; k < nb; k++) {
		sa += a->tfrom ? a->tfrom[k] : 0;
		sb += b->tfrom ? b->tfrom[k] : 0;
	}
	if (sa != sb)
		return sa > sb ? -1 : 1;
	return -strcmp(a->bv, b->bv);
}

/* trends: per entrance period, round(100 · reached to / reached from, 2). */
static int trends_json(struct ictx *x, const struct fq *f, struct fgroups *g, struct sn_buf *out)
{
	const struct drange *r = &f->r;
	size_t nb = r->nbuckets;
	struct fgroup none = {.bv = ""};
	if (f->nbd)
		qsort_r(g->v, g->n, sizeof(*g->v), trends_group_cmp, &nb);
	size_t ng = f->nbd ? g->n : 1;
	int rc = sn_buf_appends(out, "\"results\":[");
	for (size_t gi = 0; gi < ng && rc == 0; gi++) {
		struct fgroup *gr = f->nbd ? &g->v[gi] : (g->n ? &g->v[0] : &none);
		if (gi)
			sn_buf_appendc(out, ',');
		sn_buf_appendf(out, "{\"count\":%zu,\"data\":[", nb);
		for (size_t k = 0; k < nb; k++) {
			int64_t from = gr->tfrom ? gr->tfrom[k] : 0, to = gr->tto ? gr->tto[k] : 0;
			double rate =
			    from > 0 ? round((double)to / (double)from * 100 * 100) / 100 : 0;
			if (k)
				sn_buf_appendc(out, ',');
			num_json(out, rate);
		}
		sn_buf_appends(out, "],\"days\":[");
		for (size_t k = 0; k < nb; k++) {
			char buf[48];
			fmt_day(buf, sizeof(buf), r->buckets[k], r->iv);
			sn_buf_appendf(out, "%s\"%s\"", k ? "," : "", buf);
		}
		sn_buf_appends(out, "],\"labels\":[");
		for (size_t k = 0; k < nb; k++) {
			char buf[64];
			struct drange day = *r;
			day.iv = IV_DAY; /* funnel trends label every period by its first day */
			fmt_label(buf, sizeof(buf), r->buckets[k], &day, x->o->team.week_start_day);
			if (k)
				sn_buf_appendc(out, ',');
			sn_buf_append_json_str(out, buf, strlen(buf));
		}
		sn_buf_appendc(out, ']');
		if (f->nbd) {
			sn_buf_appends(out, ",\"breakdown_value\":");
			bv_json(out, f, gr->bv);
		}
		rc = sn_buf_appendc(out, '}');
	}
	return rc ? rc : sn_buf_appendc(out, ']');
}

/* ---- first-time steps -------------------------------------------------------------- */

static size_t ft_slot(const struct ftmap *m, const char *key, size_t len)
{
	size_t h = sn_hash64(key, len) & (m->cap - 1);
	while (m->keys[h] && (strlen(m->keys[h]) != len || memcmp(m->keys[h], key, len) != 0))
		h = (h + 1) & (m->cap - 1);
	return h;
}

/* first_time_for_user: the actor's first-ever event of the step's name
 * (with_filters: of the name and the step's filters), up to the range's
 * end — only that event can fill the step. */
static int load_first_times(struct ictx *x, struct fq *f, int k, const char *actor)
{
	const struct fstep *s = &f->steps[k];
	struct sn_buf q;
	sn_buf_init(&q, 1 << 22);
	int rc =
	    sn_buf_appendf(&q, "SELECT toString(%s) AS actor, min(timestamp) FROM events%s WHERE ",
			   actor, x->sample);
	if (rc == 0 && s->first_time == 2) {
		rc = step_cond(x, &q, s);
	} else if (rc == 0) {
		struct fstep plain = *s;
		plain.props = NULL;
		rc = step_cond(x, &q, &plain);
	}
	char buf[40];
	fmt_loc_dt(buf, sizeof(buf), f->r.to);
	rc = rc ? rc
		: sn_buf_appendf(&q, " AND timestamp <= toDateTime('%s') GROUP BY actor LIMIT %d",
				 buf, FUNNEL_ROWS_MAX);
	struct sn_insight_table tab;
	x->max_rows = FUNNEL_ROWS_MAX;
	if (rc == 0)
		rc = run_hogql(x, q.data, q.len, &tab);
	x->max_rows = 0;
	sn_buf_release(&q);
	if (rc)
		return rc;
	struct ftmap *m = &f->first[k];
	m->cap = 16;
	while (m->cap < 2 * tab.nrows + 16)
		m->cap *= 2;
	m->keys = sn_arena_alloc(x->a, m->cap * sizeof(*m->keys));
	m->ts = sn_arena_alloc(x->a, m->cap * sizeof(*m->ts));
	if (!m->keys || !m->ts)
		return SN_ERR_NOMEM;
	memset(m->keys, 0, m->cap * sizeof(*m->keys));
	for (size_t i = 0; i < tab.nrows; i++) {
		const struct sn_insight_value *row = &tab.cells[i * tab.ncols];
		if (row[0].type != SN_IV_STRING || row[1].type != SN_IV_DATETIME)
			continue;
		size_t h = ft_slot(m, row[0].s, row[0].slen);
		if (!(m->keys[h] = sn_arena_strndup(x->a, row[0].s, row[0].slen)))
			return SN_ERR_NOMEM;
		m->ts[h] = row[1].i;
	}
	return 0;
}

/* ---- run ------------------------------------------------------------------------------ */

uint64_t (*sn_funnels_actor_hash)(const void *data, size_t len) = sn_hash64;

/* All rows into per-actor walks; values outside keep (when set) become Other. */
/* The walk of actors [k0, k1) (in actor order) into g; one actor's
 * events at a time in a buffer the size of the largest actor's (it stays
 * in cache, and no page is faulted per row). */
static int compute_range(struct ictx *x, const struct fq *f, const struct arows *rows,
			 const char *const *bval, size_t k0, size_t k1, struct fgroups *g)
{
	const struct sintern *actors = &rows->w[0].actors;
	struct fev *ev = NULL;
	size_t cap = 0;
	int rc = 0;
	for (size_t k = k0; k < k1 && rc == 0; k++) {
		uint32_t id = rows->actor_at[k];
		const char *name = actors->s[id];
		size_t nlen = actors->len[id];
		size_t s0 = rows->start[k], s1 = rows->start[k + 1];
		if (s1 - s0 > cap) {
			free(ev);
			cap = s1 - s0 > 2 * cap ? s1 - s0 : 2 * cap;
			if (!(ev = malloc(cap * sizeof(*ev)))) {
				rc = SN_ERR_NOMEM;
				break;
			}
		}
		for (size_t i = s0; i < s1; i++) {
			const struct arow *r = &rows->sorted[i];
			struct fev *e = &ev[i - s0];
			e->ts = arow_us(r);
			e->mask = (uint64_t)r->v;
			for (int st = 0; st < f->nsteps; st++) {
				/* a first-time step: only the actor's first such event */
				const struct ftmap *m = &f->first[st];
				if (!m->cap || !has(e->mask, st))
					continue;
				size_t h = ft_slot(m, name, nlen);
				if (!m->keys[h] || m->ts[h] != e->ts)
					e->mask &= ~(1ULL << st);
			}
			e->bv = f->nbd ? bval[r->s[0]] : "";
		}
		((struct fq *)f)->cur_actor = name;
		((struct fq *)f)->cur_actor_len = nlen;
		rc = actor(x, f, ev, s1 - s0, g);
	}
	free(ev);
	return rc;
}

/* The walk in two halves of the actors (about equal rows), each with its
 * own copy of the query's scratch (fq: nx, cur_actor), context (arena,
 * error) and groups. */
struct fsplit {
	const struct fq *f;
	const struct arows *rows;
	const char *const *bval;
	size_t ksplit;
	struct fq fq[2];
	struct ictx x[2];
	struct sn_arena a[2];
	struct sn_insight_error err[2];
	struct fgroups g[2];
	int rc[2];
};

static void compute_half(void *ctx, unsigned h)
{
	struct fsplit *s = ctx;
	size_t na = s->rows->w[0].actors.n;
	s->rc[h] = compute_range(&s->x[h], &s->fq[h], s->rows, s->bval, h ? s->ksplit : 0,
				 h ? na : s->ksplit, &s->g[h]);
}

/* Adds half 1's groups to half 0's (g): the walk's order is kept (half 0's
 * actors come first), so the groups, their order and every conversion
 * time list are those of one walk over all actors. */
static int merge_groups(struct ictx *x, const struct fq *f, struct fgroups *g,
			const struct fgroups *g1)
{
	for (size_t i = 0; i < g1->n; i++) {
		const struct fgroup *b = &g1->v[i];
		struct fgroup *gr = NULL;
		int rc = group_of(x, g, b->bv, &gr);
		if (rc)
			return rc;
		for (int k = 0; k < MAX_STEPS; k++) {
			gr->count[k] += b->count[k];
			if (!b->nconv[k])
				continue;
			size_t n = gr->nconv[k] + b->nconv[k];
			double *nv = sn_arena_alloc(x->a, n * sizeof(*nv));
			if (!nv)
				return SN_ERR_NOMEM;
			if (gr->nconv[k])
				memcpy(nv, gr->conv[k], gr->nconv[k] * sizeof(*nv));
			memcpy(nv + gr->nconv[k], b->conv[k], b->nconv[k] * sizeof(*nv));
			gr->conv[k] = nv;
			gr->nconv[k] = gr->cconv[k] = n;
		}
		if (b->tfrom) {
			size_t nb = f->r.nbuckets;
			if (!gr->tfrom) {
				if (!(gr->tfrom = sn_arena_alloc(x->a, nb * 2 * sizeof(int64_t))))
					return SN_ERR_NOMEM;
				memset(gr->tfrom, 0, nb * 2 * sizeof(int64_t));
				gr->tto = gr->tfrom + nb;
			}
			for (size_t k = 0; k < nb; k++) {
				gr->tfrom[k] += b->tfrom[k];
				gr->tto[k] += b->tto[k];
			}
		}
	}
	return 0;
}

static int compute(struct ictx *x, const struct fq *f, const struct arows *rows,
		   const char *const *keep, size_t nkeep, struct fgroups *g)
{
	/* each breakdown value as the walk sees it: itself, or Other */
	const struct sintern *actors = &rows->w[0].actors, *bvs = &rows->w[0].str[0];
	const char **bval = sn_arena_alloc(x->a, (bvs->n + 1) * sizeof(*bval));
	if (!bval)
		return SN_ERR_NOMEM;
	for (size_t b = 0; b < bvs->n; b++) {
		bval[b] = bvs->s[b];
		if (keep) {
			bool kept = false;
			for (size_t j = 0; j < nkeep && !kept; j++)
				kept = strcmp(keep[j], bval[b]) == 0;
			if (!kept)
				bval[b] = FUNNEL_OTHER;
		}
	}
	/* actors mode lists the actors in walk order: one thread */
	if (f->collect || !insight_parallel(rows->n))
		return compute_range(x, f, rows, bval, 0, actors->n, g);
	struct fsplit *s = sn_arena_alloc(x->a, sizeof(*s));
	if (!s)
		return SN_ERR_NOMEM;
	memset(s, 0, sizeof(*s));
	s->f = f;
	s->rows = rows;
	s->bval = bval;
	s->ksplit = arows_half(rows);
	for (int h = 0; h < 2; h++) {
		s->fq[h] = *f;
		s->fq[h].nx = NULL;
		s->fq[h].nx_cap = 0;
		sn_arena_init(&s->a[h], INSIGHT_MEM_LIMIT);
		s->x[h] = *x;
		s->x[h].a = &s->a[h];
		s->x[h].err = &s->err[h];
	}
	insight_par2(compute_half, s, true);
	int rc = 0;
	for (int h = 0; h < 2 && rc == 0; h++)
		if ((rc = s->rc[h]) == SN_ERR_INVALID)
			*x->err = s->err[h]; /* the half's ifail */
	for (int h = 0; h < 2; h++) {
		int arc = sn_arena_adopt(x->a, &s->a[h]);
		if (arc) /* over the request's memory: the groups are not read */
			sn_arena_release(&s->a[h]);
		rc = rc ? rc : arc;
	}
	*g = s->g[0];
	return rc ? rc : merge_groups(x, f, g, &s->g[1]);
}

/* Parses q, reads the events and computes the groups (the insight and its
 * actors share this). */
static int funnels_compute(struct ictx *x, struct json_object *q, struct fq **fout,
			   struct fgroups *gout, struct actor_rows *collect, int want_step,
			   const char *want_bv)
{
	struct fq *f = sn_arena_alloc(x->a, sizeof(*f));
	*fout = f;
	if (!f)
		return SN_ERR_NOMEM;
	memset(f, 0, sizeof(*f));
	f->q = q;
	f->collect = collect;
	f->want_step = want_step;
	f->want_bv = want_bv;
	int rc = parse(x, f);
	if (collect)
		f->viz = "steps"; /* actors are listed from the steps' walk */
	if (rc)
		return rc;
	struct json_object *dr = jget(q, "dateRange");
	int64_t earliest = INT64_MIN;
	if (dr_is_all(dr)) {
		struct sn_insight_table tab;
		static const char sql[] = "SELECT min(timestamp) FROM events";
		if ((rc = run_hogql(x, sql, sizeof(sql) - 1, &tab)))
			return rc;
		if (tab.nrows && tab.ncols && tab.cells[0].type == SN_IV_DATETIME)
			earliest = tab.cells[0].i;
	}
	enum interval iv = IV_DAY;
	const char *ivs = jstr(q, "interval");
	if (strcmp(f->viz, "trends") == 0 && ivs) {
		static const char *const names[] = {"minute", "hour", "day", "week", "month"};
		int k = -1;
		for (int i = 0; i < 5; i++)
			if (strcmp(ivs, names[i]) == 0)
				k = i;
		if (k < 0)
			return ifail(x, "validation_error",
				     "interval must be one of minute, hour, day, week, month");
		iv = (enum interval)k;
	}
	if ((rc = dr_parse(x, dr, iv, earliest, false, &f->r)) ||
	    (rc = dr_buckets(x, &f->r, x->o->team.week_start_day)))
		return rc;
	for (int k = 0; k < f->nsteps; k++)
		if (f->steps[k].first_time && (rc = load_first_times(x, f, k, actor_expr(f))))
			return rc;
	struct sn_buf sql;
	sn_buf_init(&sql, 1 << 24);
	rc = statement(x, f, &sql);
	/* actor, time, step bits, breakdown columns joined: one string */
	struct arows_spec spec = {.ncols = 3 + (size_t)f->nbd, .ts_col = 1, .v_col = 2};
	if (f->nbd) {
		spec.nstr = 1;
		spec.str[0].from = 3;
		spec.str[0].n = (size_t)f->nbd;
	}
	struct arows rows;
	arows_init(&rows, &spec);
	size_t nrows = 0;
	x->max_rows = FUNNEL_ROWS_MAX;
	if (rc == 0)
		rc = arows_run(x, &rows, sql.data, sql.len, &nrows);
	x->max_rows = 0;
	sn_buf_release(&sql);
	if (rc == 0 && nrows >= FUNNEL_ROWS_MAX)
		rc = ifail(x, "query_error",
			   "The funnel matches more than %d events; narrow the date range or the "
			   "steps",
			   FUNNEL_ROWS_MAX);
	if (rc == 0)
		rc = arows_order(x, &rows);
	struct fgroups g = {0};
	if (rc == 0)
		rc = compute(x, f, &rows, NULL, 0, &g);
	if (rc) {
		arows_release(&rows);
		return rc;
	}
	if (f->nbd && strcmp(f->viz, "steps") == 0 && g.n > (size_t)f->bd_limit && !collect) {
		/* The values with the most actors at step 1 stay; the rest is Other. */
		qsort(g.v, g.n, sizeof(*g.v), group_cmp);
		const char **keep = sn_arena_alloc(x->a, (size_t)f->bd_limit * sizeof(*keep));
		if (!keep) {
			arows_release(&rows);
			return SN_ERR_NOMEM;
		}
		for (int i = 0; i < f->bd_limit; i++)
			keep[i] = g.v[i].bv;
		struct fgroups g2 = {0};
		rc = compute(x, f, &rows, keep, (size_t)f->bd_limit, &g2);
		g = g2;
	}
	arows_release(&rows);
	*gout = g;
	return rc;
}

int funnels_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	struct fq *f;
	struct fgroups g = {0};
	int rc = funnels_compute(x, q, &f, &g, NULL, 0, NULL);
	if (rc)
		return rc;
	if (strcmp(f->viz, "time_to_convert") == 0)
		return time_to_convert_json(x, f, &g, out);
	if (strcmp(f->viz, "trends") == 0 && f->nbd) {
		/* funnel trends keep the breakdown_limit values with the most
		 * entrances and drop the rest (no Other) */
		size_t nb = f->r.nbuckets;
		qsort_r(g.v, g.n, sizeof(*g.v), trends_group_cmp, &nb);
		for (size_t i = 0; i < g.n; i++)
			if (strcmp(g.v[i].bv, FUNNEL_OTHER) == 0) {
				memmove(&g.v[i], &g.v[i + 1], (g.n - i - 1) * sizeof(*g.v));
				g.n--;
				i--;
			}
		if (g.n > (size_t)f->bd_limit)
			g.n = (size_t)f->bd_limit;
	}
	if (strcmp(f->viz, "trends") == 0)
		return trends_json(x, f, &g, out);
	if (f->nbd)
		qsort(g.v, g.n, sizeof(*g.v), group_cmp);
	rc = sn_buf_appends(out, "\"results\":");
	if (!f->nbd && (g.n == 0 || g.v[0].count[0] == 0)) {
		sn_buf_appends(out, "[]"); /* nobody entered the funnel */
	} else if (!f->nbd) {
		steps_json(out, f, &g.v[0]);
	} else {
		sn_buf_appendc(out, '[');
		for (size_t i = 0; i < g.n; i++) {
			if (i)
				sn_buf_appendc(out, ',');
			steps_json(out, f, &g.v[i]);
		}
		sn_buf_appendc(out, ']');
	}
	rc = sn_buf_appends(out, ",\"isUdf\":false");
	if (rc == SN_ERR_TOO_BIG)
		return ifail(x, "query_error", "The response is larger than the maximum");
	return rc;
}

/* ---- actors --------------------------------------------------------------------------- */

int funnels_actors(struct ictx *x, struct json_object *q, int step, const char *bv,
		   struct actor_rows *out, int *agg_gti)
{
	if (step == 0)
		return ifail(x, "validation_error",
			     "funnelStep is 1-based: n for the actors who reached step n, -n for "
			     "those who dropped off before it");
	struct fq *f;
	struct fgroups g = {0};
	int rc = funnels_compute(x, q, &f, &g, out, step, bv);
	if (rc == 0 && (step > f->nsteps || -step > f->nsteps || step == -1))
		rc = ifail(x, "validation_error", "funnelStep %d is outside the funnel's steps",
			   step);
	*agg_gti = f->agg_hogql && *f->agg_hogql ? -2 : f->agg_gti;
	return rc;
}
