/*
 * trends.c — TrendsQuery (spec/hogql.md §9.1): per series and period one
 * HogQL statement, its rows shaped into PostHog's series objects.
 *
 *   series × {current[, previous]} ─▶ SELECT <math> AS total, <bucket> AS day_start,
 *                                      <breakdown> AS b0… FROM events WHERE … GROUP BY …
 *        rows ─▶ groups by breakdown value, zero-filled buckets
 *             ─▶ rank (total desc, value asc, null after, Other last), limit,
 *                fold the rest into "Other" by running the statement again with
 *                the breakdown mapped (so non-additive maths stay exact)
 *             ─▶ formulas (A, B, … over series, per breakdown value), cumulative,
 *                smoothing, total-value displays ─▶ JSON
 *
 * Maths: total count(); dau count(DISTINCT actor); unique_session;
 * unique_group ($group_N, empty keys dropped); avg/sum/min/max/median/pNN
 * of a property as toFloat (NULL → 0), and of $session_duration as PostHog
 * computes it: one value per session (and bucket and breakdown value),
 * then the math over those; hogql (the user's aggregate);
 * *_count_per_actor (events per actor per bucket, then aggregated);
 * first_time_for_user / first_matching_event_for_user (each actor's first
 * event, all time, counted in its bucket); weekly_active / monthly_active
 * (actor-bucket pairs, then a sliding window over buckets in C; at week
 * and month intervals they are dau, as PostHog's are). The actor is
 * person_id, or $group_N with aggregation_group_type_index.
 *
 * Rejected: computing the zero-filled arrays and the window maths in HogQL
 * with arrays and window functions as PostHog does — the executor has no
 * arrays yet, and the C loops are simpler and exact; the statements still
 * are plain HogQL that ClickHouse runs unchanged.
 */
#include "insights/insights_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES	  64
#define MAX_BREAKDOWNS	  3
#define BREAKDOWN_MAX_LEN 400
#define MAX_GROUPS	  100000
#define ROWS_MAX	  50000
#define ACTORS_MAX	  1000000 /* the largest LIMIT HogQL allows (SN_HOGQL_MAX_LIMIT) */

struct tseries {
	struct json_object *node;
	int order;
	const char *event; /* NULL = all events */
	const char *custom_name;
	const char *math; /* "total" when absent */
	const char *math_property, *math_property_type, *math_hogql;
	int math_gti; /* -1 */
	struct json_object *props;
	bool is_action;
	char *action;		 /* the action as a HogQL condition */
	const char *action_name; /* NULL with is_action: the action does not exist */
	int64_t action_id;
};

struct tq {
	struct json_object *q;
	const char *sample; /* ictx.sample */
	struct tseries series[MAX_SERIES];
	size_t nseries;
	enum interval iv;
	const char *display;
	bool total_value, cumulative;
	int smoothing;
	struct json_object *props;
	bool test_accounts;
	int agg_gti; /* aggregation_group_type_index, -1 */
	/* breakdown */
	size_t nbd;
	char *bd_expr[MAX_BREAKDOWNS]; /* HogQL of each raw breakdown value */
	bool bd_normalize[MAX_BREAKDOWNS];
	int bd_bins[MAX_BREAKDOWNS]; /* histogram bin count, 0 = none */
	bool bd_multi;		     /* breakdown_value is a list */
	int bd_limit;
	bool hide_other;
	bool compare;
	const char *compare_to;
	struct drange cur, prev;
};

/* One result object. */
struct tres {
	int series;
	bool previous;
	char **bv;    /* nbd values (NULL when no breakdown) */
	double *data; /* nbuckets of its period */
	double agg;   /* total-value displays */
	double rank;  /* ranking measure */
	bool is_formula;
	const char *label_override;
};

struct tlist {
	struct tres *v;
	size_t n, cap;
};

static int tl_push(struct ictx *x, struct tlist *l, struct tres **out)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		if (cap > MAX_GROUPS)
			return ifail(x, "query_error", "The insight has more than %d result series",
				     MAX_GROUPS);
		struct tres *nv = sn_arena_alloc(x->a, cap * sizeof(*nv));
		if (!nv)
			return SN_ERR_NOMEM;
		if (l->n)
			memcpy(nv, l->v, l->n * sizeof(*nv));
		l->v = nv;
		l->cap = cap;
	}
	*out = &l->v[l->n++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

/* ---- parsing the query node ----------------------------------------------------------- */

static bool is_total_value_display(const char *d)
{
	static const char *const tv[] = {"BoldNumber", "ActionsPie", "ActionsBarValue",
					 "ActionsTable", "WorldMap"};
	for (size_t i = 0; d && i < SN_ARRAY_LEN(tv); i++)
		if (strcmp(d, tv[i]) == 0)
			return true;
	return false;
}

static int parse_interval(struct ictx *x, const char *s, enum interval *iv)
{
	static const struct {
		const char *name;
		enum interval iv;
	} m[] = {{"minute", IV_MINUTE},
		 {"hour", IV_HOUR},
		 {"day", IV_DAY},
		 {"week", IV_WEEK},
		 {"month", IV_MONTH}};
	if (!s) {
		*iv = IV_DAY;
		return 0;
	}
	for (size_t i = 0; i < SN_ARRAY_LEN(m); i++)
		if (strcmp(s, m[i].name) == 0) {
			*iv = m[i].iv;
			return 0;
		}
	return ifail(x, "validation_error",
		     "interval must be one of minute, hour, day, week, month (got '%s')", s);
}

static int gti_of(struct ictx *x, struct json_object *o, const char *key, int *out)
{
	struct json_object *v = jget(o, key);
	*out = -1;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 0 ||
	    json_object_get_int(v) > 4)
		return ifail(x, "validation_error", "%s must be an integer from 0 to 4", key);
	*out = json_object_get_int(v);
	return 0;
}

static const char *const MATHS[] = {"total",
				    "dau",
				    "weekly_active",
				    "monthly_active",
				    "unique_session",
				    "unique_group",
				    "first_time_for_user",
				    "first_matching_event_for_user",
				    "avg",
				    "sum",
				    "min",
				    "max",
				    "median",
				    "p75",
				    "p90",
				    "p95",
				    "p99",
				    "avg_count_per_actor",
				    "min_count_per_actor",
				    "max_count_per_actor",
				    "median_count_per_actor",
				    "p75_count_per_actor",
				    "p90_count_per_actor",
				    "p95_count_per_actor",
				    "p99_count_per_actor",
				    "hogql"};

static bool is_prop_math(const char *m)
{
	static const char *const pm[] = {"avg", "sum", "min", "max", "median",
					 "p75", "p90", "p95", "p99"};
	for (size_t i = 0; i < SN_ARRAY_LEN(pm); i++)
		if (strcmp(m, pm[i]) == 0)
			return true;
	return false;
}

static int parse_series(struct ictx *x, struct tq *t)
{
	struct json_object *arr = jget(t->q, "series");
	if (!arr || !json_object_is_type(arr, json_type_array) ||
	    json_object_array_length(arr) == 0)
		return ifail(x, "validation_error",
			     "series must be a non-empty list of EventsNode or ActionsNode");
	size_t n = json_object_array_length(arr);
	if (n > MAX_SERIES)
		return ifail(x, "validation_error", "At most %d series", MAX_SERIES);
	for (size_t i = 0; i < n; i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		struct tseries *ts = &t->series[i];
		ts->node = s;
		ts->order = (int)i;
		const char *kind = jstr(s, "kind");
		if (!kind || (strcmp(kind, "EventsNode") != 0 && strcmp(kind, "ActionsNode") != 0))
			return ifail(x, "validation_error",
				     "series[%zu].kind must be EventsNode or ActionsNode", i);
		if (strcmp(kind, "ActionsNode") == 0) {
			struct sn_buf ab;
			sn_buf_init(&ab, 1 << 22);
			ts->is_action = true;
			int arc = action_expr(x, s, &ab, &ts->action_name, &ts->action_id);
			if (arc == 0 && !(ts->action = sn_arena_strndup(x->a, ab.data, ab.len)))
				arc = SN_ERR_NOMEM;
			sn_buf_release(&ab);
			if (arc && arc != SN_ERR_NOT_FOUND)
				return arc;
		}
		struct json_object *ev = jget(s, "event");
		if (ev && !json_object_is_type(ev, json_type_string))
			return ifail(x, "validation_error",
				     "series[%zu].event must be a string or null", i);
		ts->event = ev ? json_object_get_string(ev) : NULL;
		ts->custom_name = jstr(s, "custom_name");
		ts->math = jstr(s, "math");
		if (!ts->math)
			ts->math = "total";
		bool known = false;
		for (size_t k = 0; k < SN_ARRAY_LEN(MATHS) && !known; k++)
			known = strcmp(ts->math, MATHS[k]) == 0;
		if (!known)
			return ifail(x, "validation_error",
				     "series[%zu].math '%s' is not a known math", i, ts->math);
		ts->math_property = jstr(s, "math_property");
		ts->math_property_type = jstr(s, "math_property_type");
		ts->math_hogql = jstr(s, "math_hogql");
		if (gti_of(x, s, "math_group_type_index", &ts->math_gti))
			return SN_ERR_INVALID;
		if (is_prop_math(ts->math) && !ts->math_property)
			return ifail(x, "validation_error",
				     "series[%zu].math '%s' needs math_property", i, ts->math);
		if (strcmp(ts->math, "hogql") == 0 && !ts->math_hogql)
			return ifail(x, "validation_error",
				     "series[%zu].math 'hogql' needs math_hogql", i);
		if (strcmp(ts->math, "unique_group") == 0 && ts->math_gti < 0)
			return ifail(x, "validation_error",
				     "series[%zu].math 'unique_group' needs math_group_type_index",
				     i);
		ts->props = jget(s, "properties");
	}
	t->nseries = n;
	return 0;
}

static int breakdown_expr(struct ictx *x, const char *type, const char *prop, int gti, char **out)
{
	struct sn_buf b;
	sn_buf_init(&b, 1 << 16);
	int rc = 0;
	if (!type || strcmp(type, "event") == 0)
		rc = hq_prop(&b, "properties", prop);
	else if (strcmp(type, "person") == 0)
		rc = hq_person_prop(&b, prop);
	else if (strcmp(type, "event_metadata") == 0)
		rc = hq_ident(&b, prop);
	else if (strcmp(type, "session") == 0)
		rc = hq_session(&b, prop);
	else if (strcmp(type, "hogql") == 0)
		rc = sn_buf_appendf(&b, "(%s)", prop);
	else if (strcmp(type, "group") == 0) {
		if (gti < 0)
			rc = ifail(x, "validation_error",
				   "A group breakdown needs breakdown_group_type_index 0 to 4");
		else {
			char pre[32];
			snprintf(pre, sizeof(pre), "group_%d.properties", gti);
			rc = hq_prop(&b, pre, prop);
		}
	} else {
		rc = ifail(x, "not_supported", "Breakdowns of type '%s' are not supported yet",
			   type);
	}
	if (rc == 0) {
		*out = sn_arena_strndup(x->a, b.data ? b.data : "", b.len);
		if (!*out)
			rc = SN_ERR_NOMEM;
	}
	sn_buf_release(&b);
	return rc;
}

static int bins_of(struct ictx *x, struct json_object *o, const char *key, int *out)
{
	struct json_object *v = jget(o, key);
	*out = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 1 ||
	    json_object_get_int(v) > 1000)
		return ifail(x, "validation_error", "%s must be an integer from 1 to 1000", key);
	*out = json_object_get_int(v);
	return 0;
}

static int parse_breakdown(struct ictx *x, struct tq *t)
{
	int rc;
	struct json_object *bf = jget(t->q, "breakdownFilter");
	t->bd_limit = 25;
	if (!bf)
		return 0;
	struct json_object *lim = jget(bf, "breakdown_limit");
	if (lim) {
		if (!json_object_is_type(lim, json_type_int) || json_object_get_int(lim) < 1)
			return ifail(x, "validation_error",
				     "breakdown_limit must be a positive integer");
		t->bd_limit = json_object_get_int(lim);
	}
	t->hide_other = jbool(bf, "breakdown_hide_other_aggregation");
	struct json_object *multi = jget(bf, "breakdowns");
	if (multi && json_object_is_type(multi, json_type_array) &&
	    json_object_array_length(multi)) {
		size_t n = json_object_array_length(multi);
		if (n > MAX_BREAKDOWNS)
			return ifail(x, "validation_error", "At most %d breakdowns",
				     MAX_BREAKDOWNS);
		for (size_t i = 0; i < n; i++) {
			struct json_object *b = json_object_array_get_idx(multi, i);
			const char *prop = jstr(b, "property");
			int gti;
			if (!prop)
				return ifail(x, "validation_error",
					     "breakdowns[%zu].property must be a string", i);
			if (gti_of(x, b, "group_type_index", &gti))
				return SN_ERR_INVALID;
			if ((rc = bins_of(x, b, "histogram_bin_count", &t->bd_bins[i])))
				return rc;
			if (breakdown_expr(x, jstr(b, "type"), prop, gti, &t->bd_expr[i]))
				return SN_ERR_INVALID;
			t->bd_normalize[i] = jbool(b, "normalize_url");
		}
		t->nbd = n;
		t->bd_multi = true;
		return 0;
	}
	struct json_object *bd = jget(bf, "breakdown");
	if (!bd)
		return 0;
	const char *type = jstr(bf, "breakdown_type");
	if (type && strcmp(type, "cohort") == 0)
		return ifail(x, "not_supported", "Cohort breakdowns are not supported yet");
	int gti;
	if (gti_of(x, bf, "breakdown_group_type_index", &gti))
		return SN_ERR_INVALID;
	const char *prop = NULL;
	if (json_object_is_type(bd, json_type_string))
		prop = json_object_get_string(bd);
	else if (json_object_is_type(bd, json_type_array) && json_object_array_length(bd) == 1 &&
		 json_object_is_type(json_object_array_get_idx(bd, 0), json_type_string))
		prop = json_object_get_string(json_object_array_get_idx(bd, 0));
	if (!prop)
		return ifail(x, "validation_error",
			     "breakdownFilter.breakdown must be a property name");
	if (breakdown_expr(x, type, prop, gti, &t->bd_expr[0]))
		return SN_ERR_INVALID;
	t->bd_normalize[0] = jbool(bf, "breakdown_normalize_url");
	if ((rc = bins_of(x, bf, "breakdown_histogram_bin_count", &t->bd_bins[0])))
		return rc;
	t->nbd = 1;
	return 0;
}

/* ---- statements ----------------------------------------------------------------------- */

static void bucket_expr(struct sn_buf *b, enum interval iv, int week_start, const char *col)
{
	switch (iv) {
	case IV_MINUTE: sn_buf_appendf(b, "toStartOfMinute(%s)", col); break;
	case IV_HOUR: sn_buf_appendf(b, "toStartOfHour(%s)", col); break;
	case IV_DAY: sn_buf_appendf(b, "toStartOfDay(%s)", col); break;
	case IV_WEEK:
		sn_buf_appendf(b, "toStartOfWeek(%s, %d)", col, week_start == 1 ? 3 : 0);
		break;
	case IV_MONTH: sn_buf_appendf(b, "toStartOfMonth(%s)", col); break;
	}
}

static void dt_lit(struct sn_buf *b, int64_t loc)
{
	char buf[40];
	fmt_loc_dt(buf, sizeof(buf), loc);
	sn_buf_appendf(b, "toDateTime('%s')", buf);
}

static const char *actor_of(struct ictx *x, const struct tq *t, const struct tseries *s)
{
	int g = strcmp(s->math, "unique_group") == 0 ? s->math_gti : t->agg_gti;
	if (g < 0)
		return "person_id";
	char *p = sn_arena_alloc(x->a, 16);
	if (p)
		snprintf(p, 16, "$group_%d", g);
	return p;
}

static bool has_filters(struct json_object *p)
{
	if (!p)
		return false;
	if (json_object_is_type(p, json_type_array))
		return json_object_array_length(p) > 0;
	struct json_object *v = jget(p, "values");
	return !v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) > 0;
}

/* The WHERE of a series in a range: event, filters, test accounts, time. */
static int where_of(struct ictx *x, const struct tq *t, const struct tseries *s,
		    const struct drange *r, int64_t from_loc, bool series_filters, struct sn_buf *b)
{
	int rc = 0;
	if (s->is_action) {
		rc = sn_buf_appendf(b, "%s AND ", s->action ? s->action : "0");
	} else if (s->event) {
		rc = sn_buf_appends(b, "event = ");
		rc = rc ? rc : hq_str(b, s->event, strlen(s->event));
		rc = rc ? rc : sn_buf_appends(b, " AND ");
	}
	if (rc == 0 && series_filters) {
		if (has_filters(s->props)) {
			rc = hq_filters(x, b, s->props);
			rc = rc ? rc : sn_buf_appends(b, " AND ");
		}
		if (rc == 0 && has_filters(t->props)) {
			rc = hq_filters(x, b, t->props);
			rc = rc ? rc : sn_buf_appends(b, " AND ");
		}
		if (rc == 0 && t->test_accounts && has_filters(x->o->team.test_account_filters)) {
			rc = hq_filters(x, b, x->o->team.test_account_filters);
			rc = rc ? rc : sn_buf_appends(b, " AND ");
		}
	}
	int g = strcmp(s->math, "unique_group") == 0 ? s->math_gti : t->agg_gti;
	if (rc == 0 && g >= 0)
		rc = sn_buf_appendf(b, "$group_%d != '' AND ", g);
	if (rc == 0 && r) {
		rc = sn_buf_appends(b, "timestamp >= ");
		dt_lit(b, from_loc);
		sn_buf_appends(b, " AND timestamp <= ");
		dt_lit(b, r->to);
	} else if (rc == 0) {
		rc = sn_buf_appends(b, "1");
	}
	return rc;
}

/* The aggregate a math name stands for (m: its first len bytes):
 * median → quantile(0.5), pNN → quantile(0.NN), else the name (sum, avg,
 * min, max). buf holds what is built here. */
static const char *math_agg(const char *m, size_t len, char *buf, size_t size)
{
	if (len == 6 && strncmp(m, "median", 6) == 0)
		return "quantile(0.5)";
	if (m[0] == 'p')
		snprintf(buf, size, "quantile(0.%.*s)", (int)len - 1, m + 1);
	else
		snprintf(buf, size, "%.*s", (int)len, m);
	return buf;
}

/* The aggregate of a simple math over events. */
static int agg_of(struct ictx *x, const struct tq *t, const struct tseries *s, struct sn_buf *b)
{
	const char *m = s->math;
	if (strcmp(m, "total") == 0)
		return sn_buf_appends(b, "count()");
	if (strcmp(m, "dau") == 0 || strcmp(m, "weekly_active") == 0 ||
	    strcmp(m, "monthly_active") == 0 || strcmp(m, "unique_group") == 0)
		return sn_buf_appendf(b, "count(DISTINCT %s)", actor_of(x, t, s));
	if (strcmp(m, "unique_session") == 0)
		return sn_buf_appends(b, "count(DISTINCT $session_id)");
	if (strcmp(m, "hogql") == 0)
		return sn_buf_appendf(b, "(%s)", s->math_hogql);
	if (is_prop_math(m)) {
		struct sn_buf p;
		sn_buf_init(&p, 1 << 16);
		int rc;
		if (strcmp(s->math_property, "$time") == 0)
			rc = sn_buf_appends(&p, "toUnixTimestamp(timestamp)");
		else if (s->math_property_type &&
			 strcmp(s->math_property_type, "person_properties") == 0)
			rc = hq_prop(&p, "person.properties", s->math_property);
		else if (s->math_property_type &&
			 strcmp(s->math_property_type, "group_properties") == 0) {
			char pre[32];
			snprintf(pre, sizeof(pre), "group_%d.properties",
				 s->math_gti < 0 ? 0 : s->math_gti);
			rc = hq_prop(&p, pre, s->math_property);
		} else
			rc = hq_prop(&p, "properties", s->math_property);
		if (rc == 0) {
			char fb[48];
			rc = sn_buf_appendf(b, "%s(toFloat(%s))",
					    math_agg(m, strlen(m), fb, sizeof(fb)), p.data);
		}
		sn_buf_release(&p);
		return rc;
	}
	return ifail(x, "not_supported", "math '%s' here", m);
}

static bool is_count_per_actor(const char *m)
{
	return strstr(m, "_count_per_actor") != NULL;
}

/* A breakdown value with NULL and '' mapped to the null label. */
static int bd_value(struct sn_buf *b, const char *e)
{
	return sn_buf_appendf(b, "if(isNull(%s) OR toString(%s) = '', '%s', toString(%s))", e, e,
			      BREAKDOWN_NULL, e);
}

/* ", <v> AS b<i>", with values outside keep[] (when given) mapped to the
 * other label. */
static int bd_fold(struct sn_buf *b, const char *v, char **const *keep, size_t nkeep, size_t i)
{
	if (!keep)
		return sn_buf_appendf(b, ", %s AS b%zu", v, i);
	int rc = sn_buf_appendf(b, ", if(%s IN (", v);
	for (size_t k = 0; k < nkeep && rc == 0; k++) {
		if (k)
			rc = sn_buf_appends(b, ", ");
		rc = rc ? rc : hq_str(b, keep[k][i], strlen(keep[k][i]));
	}
	return rc ? rc : sn_buf_appendf(b, "), %s, '%s') AS b%zu", v, BREAKDOWN_OTHER, i);
}

/* The breakdown columns b0… of a statement over events. */
static int bd_select(const struct tq *t, char **const *keep, size_t nkeep, struct sn_buf *b)
{
	int rc = 0;
	for (size_t i = 0; i < t->nbd && rc == 0; i++) {
		struct sn_buf v;
		sn_buf_init(&v, 1 << 20);
		rc = bd_value(&v, t->bd_expr[i]);
		rc = rc ? rc : bd_fold(b, v.data, keep, nkeep, i);
		sn_buf_release(&v);
	}
	return rc;
}

/* " GROUP BY day_start, b0, …" (or nothing when there is nothing to group by). */
static int group_by(struct sn_buf *q, bool ts, const struct tq *t)
{
	int rc = 0;
	if (!ts && !t->nbd)
		return 0;
	rc = sn_buf_appends(q, " GROUP BY ");
	if (ts)
		rc = rc ? rc : sn_buf_appends(q, "day_start");
	for (size_t i = 0; i < t->nbd && rc == 0; i++)
		rc = sn_buf_appendf(q, "%sb%zu", i || ts ? ", " : "", i);
	return rc;
}

static int bd_group(const struct tq *t, struct sn_buf *b)
{
	int rc = 0;
	for (size_t i = 0; i < t->nbd && rc == 0; i++)
		rc = sn_buf_appendf(b, ", b%zu", i);
	return rc;
}

/* A math over one value per group (an actor's event count, a session's
 * duration): SELECT <outer> AS total[, day_start][, b0…] FROM (SELECT
 * <inner>[, <bucket> AS day_start][, b0…] FROM events WHERE <where> GROUP
 * BY <key>[, day_start][, b0…]) GROUP BY day_start, b0…. */
static int per_group_math(const struct tq *t, int ws, bool ts, char **const *keep, size_t nkeep,
			  const char *outer, const char *inner, const char *where, const char *key,
			  struct sn_buf *q)
{
	int rc = sn_buf_appendf(q, "SELECT %s AS total%s", outer, ts ? ", day_start" : "");
	for (size_t i = 0; i < t->nbd && rc == 0; i++)
		rc = sn_buf_appendf(q, ", b%zu", i);
	sn_buf_appendf(q, " FROM (SELECT %s", inner);
	if (ts) {
		sn_buf_appends(q, ", ");
		bucket_expr(q, t->iv, ws, "timestamp");
		sn_buf_appends(q, " AS day_start");
	}
	rc = rc ? rc : bd_select(t, keep, nkeep, q);
	sn_buf_appendf(q, " FROM events%s WHERE %s GROUP BY %s", t->sample, where, key);
	if (ts)
		sn_buf_appends(q, ", day_start");
	bd_group(t, q);
	sn_buf_appendc(q, ')');
	group_by(q, ts, t);
	return rc;
}

/* The statement of a series in a range; columns: total[, day_start], b0… */
static int statement(struct ictx *x, const struct tq *t, const struct tseries *s,
		     const struct drange *r, char **const *keep, size_t nkeep, struct sn_buf *q)
{
	bool ts = !t->total_value;
	int ws = x->o->team.week_start_day;
	struct sn_buf w, a;
	sn_buf_init(&w, 1 << 22);
	sn_buf_init(&a, 1 << 20);
	int rc = 0;
	const char *m = s->math;
	if (strcmp(m, "first_time_for_user") == 0 ||
	    strcmp(m, "first_matching_event_for_user") == 0) {
		bool matching = m[6] == 'm';
		/* Each actor's first event (all time, up to the end of the range). */
		struct tseries only_event = *s;
		rc = where_of(x, t, &only_event, NULL, 0, matching, &w);
		struct sn_buf f;
		sn_buf_init(&f, 1 << 22);
		if (rc == 0 && !matching) {
			rc = sn_buf_appends(&f, "minIf(timestamp, ");
			rc = rc ? rc : hq_filters(x, &f, s->props);
			rc = rc ? rc : sn_buf_appends(&f, " AND ");
			rc = rc ? rc : hq_filters(x, &f, t->props);
			if (rc == 0 && t->test_accounts && x->o->team.test_account_filters) {
				rc = sn_buf_appends(&f, " AND ");
				rc = rc ? rc : hq_filters(x, &f, x->o->team.test_account_filters);
			}
			rc = rc ? rc : sn_buf_appends(&f, ") AS first_match");
		}
		if (rc == 0) {
			rc = sn_buf_appendf(q, "SELECT count() AS total");
			if (ts) {
				sn_buf_appends(q, ", ");
				bucket_expr(q, t->iv, ws, "first_ts");
				sn_buf_appends(q, " AS day_start");
			}
			for (size_t i = 0; i < t->nbd && rc == 0; i++) {
				char col[16];
				snprintf(col, sizeof(col), "fb%zu", i);
				rc = bd_fold(q, col, keep, nkeep, i);
			}
			sn_buf_appendf(q, " FROM (SELECT %s AS actor, min(timestamp) AS first_ts",
				       actor_of(x, t, s));
			if (!matching)
				sn_buf_appendf(q, ", %s", f.data);
			for (size_t i = 0; i < t->nbd && rc == 0; i++) {
				sn_buf_appends(q, ", argMin(");
				rc = bd_value(q, t->bd_expr[i]);
				rc = rc ? rc : sn_buf_appendf(q, ", timestamp) AS fb%zu", i);
			}
			sn_buf_appendf(q, " FROM events%s WHERE %s AND timestamp <= ", x->sample,
				       w.data);
			dt_lit(q, r->to);
			sn_buf_appends(q, " GROUP BY actor) WHERE first_ts >= ");
			dt_lit(q, r->where_from);
			sn_buf_appends(q, " AND first_ts <= ");
			dt_lit(q, r->to);
			if (!matching) /* the first event (any of a tie) matches the filters */
				sn_buf_appends(q, " AND first_match = first_ts");
			group_by(q, ts, t);
		}
		sn_buf_release(&f);
		goto out;
	}
	rc = where_of(x, t, s, r, r->where_from, true, &w);
	if (rc)
		goto out;
	if (is_count_per_actor(m)) {
		char qbuf[48], outer[64]; /* avg_count_per_actor → avg, p90_… → quantile(0.90) */
		snprintf(outer, sizeof(outer), "%s(c)",
			 math_agg(m, (size_t)(strchr(m, '_') - m), qbuf, sizeof(qbuf)));
		rc = sn_buf_appendf(&a, "count() AS c, %s AS actor", actor_of(x, t, s));
		rc = rc ? rc
			: per_group_math(t, ws, ts, keep, nkeep, outer, a.data, w.data, "actor", q);
		goto out;
	}
	if (ts && t->cumulative && (strcmp(m, "dau") == 0 || strcmp(m, "unique_group") == 0)) {
		/* Cumulative unique actors: each actor counts once, in the bucket
		 * of its first matching event (the running sum comes later). */
		rc = sn_buf_appends(q, "SELECT count() AS total, day_start");
		for (size_t i = 0; i < t->nbd && rc == 0; i++)
			rc = sn_buf_appendf(q, ", b%zu", i);
		sn_buf_appendf(q, " FROM (SELECT %s AS actor, min(", actor_of(x, t, s));
		bucket_expr(q, t->iv, ws, "timestamp");
		sn_buf_appends(q, ") AS day_start");
		rc = rc ? rc : bd_select(t, keep, nkeep, q);
		sn_buf_appendf(q, " FROM events%s WHERE %s GROUP BY actor", x->sample, w.data);
		bd_group(t, q);
		sn_buf_appendc(q, ')');
		group_by(q, ts, t);
		goto out;
	}
	if (is_prop_math(m) && strcmp(s->math_property, "$session_duration") == 0) {
		/* PostHog's session-duration maths: one value per session (and
		 * bucket and breakdown value), then the math over those. */
		char qbuf[48], outer[80];
		snprintf(outer, sizeof(outer), "%s(toFloat(session_duration))",
			 math_agg(m, strlen(m), qbuf, sizeof(qbuf)));
		rc = sn_buf_appends(&a, "any(");
		rc = rc ? rc : hq_session(&a, "$session_duration");
		rc = rc ? rc : sn_buf_appends(&a, ") AS session_duration");
		/* '' and a missing id are one session on both backends */
		rc = rc ? rc
			: per_group_math(t, ws, ts, keep, nkeep, outer, a.data, w.data,
					 "ifNull($session_id, '')", q);
		goto out;
	}
	rc = agg_of(x, t, s, &a);
	if (rc)
		goto out;
	rc = sn_buf_appendf(q, "SELECT %s AS total", a.data);
	if (ts) {
		sn_buf_appends(q, ", ");
		bucket_expr(q, t->iv, ws, "timestamp");
		sn_buf_appends(q, " AS day_start");
	}
	rc = rc ? rc : bd_select(t, keep, nkeep, q);
	rc = rc ? rc : sn_buf_appendf(q, " FROM events%s WHERE %s", x->sample, w.data);
	if (rc == 0)
		rc = group_by(q, ts, t);
out:
	sn_buf_release(&w);
	sn_buf_release(&a);
	if (rc == 0 && q->len + 1 >= q->max)
		rc = ifail(x, "validation_error", "The generated query is too long");
	return rc;
}

/* ---- rows → groups -------------------------------------------------------------------- */

struct gmap {
	struct tlist *l;
	size_t *slots; /* index + 1 */
	size_t cap;
	size_t nb; /* buckets per group */
};

static char *cell_text(struct ictx *x, const struct sn_insight_value *v)
{
	char buf[64];
	switch (v->type) {
	case SN_IV_STRING: {
		size_t n = v->slen;
		if (n > BREAKDOWN_MAX_LEN) {
			n = BREAKDOWN_MAX_LEN; /* PostHog cuts values to 400 characters */
			while (n > 0 && ((unsigned char)v->s[n] & 0xC0) == 0x80)
				n--;
		}
		return sn_arena_strndup(x->a, v->s, n);
	}
	case SN_IV_INT: snprintf(buf, sizeof(buf), "%lld", (long long)v->i); break;
	case SN_IV_FLOAT: snprintf(buf, sizeof(buf), "%.17g", v->f); break;
	case SN_IV_NULL: return sn_arena_strdup(x->a, BREAKDOWN_NULL);
	default: snprintf(buf, sizeof(buf), "%lld", (long long)v->i); break;
	}
	return sn_arena_strdup(x->a, buf);
}

static uint64_t key_hash(char **bv, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ sn_hash64(bv[i], strlen(bv[i]))) * 0x100000001b3ULL;
	return h;
}

static bool key_eq(char **a, char **b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return true;
}

/* The group of breakdown key bv (created with zeroed data when new). */
static int group_of(struct ictx *x, struct gmap *g, const struct tq *t, char **bv, int series,
		    bool previous, struct tres **out)
{
	if (g->l->n * 2 >= g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 64;
		size_t *ns = sn_arena_alloc(x->a, cap * sizeof(*ns));
		if (!ns)
			return SN_ERR_NOMEM;
		memset(ns, 0, cap * sizeof(*ns));
		for (size_t i = 0; i < g->l->n; i++) {
			size_t h = key_hash(g->l->v[i].bv, t->nbd) & (cap - 1);
			while (ns[h])
				h = (h + 1) & (cap - 1);
			ns[h] = i + 1;
		}
		g->slots = ns;
		g->cap = cap;
	}
	size_t h = key_hash(bv, t->nbd) & (g->cap - 1);
	while (g->slots[h]) {
		struct tres *r = &g->l->v[g->slots[h] - 1];
		if (key_eq(r->bv, bv, t->nbd)) {
			*out = r;
			return 0;
		}
		h = (h + 1) & (g->cap - 1);
	}
	struct tres *r;
	int rc = tl_push(x, g->l, &r);
	if (rc)
		return rc;
	r->series = series;
	r->previous = previous;
	r->bv = bv;
	r->data = sn_arena_alloc(x->a, (g->nb ? g->nb : 1) * sizeof(double));
	if (!r->data)
		return SN_ERR_NOMEM;
	memset(r->data, 0, (g->nb ? g->nb : 1) * sizeof(double));
	g->slots[h] = g->l->n;
	*out = r;
	return 0;
}

static double num_of(const struct sn_insight_value *v)
{
	if (v->type == SN_IV_FLOAT)
		return isfinite(v->f) ? v->f : 0;
	if (v->type == SN_IV_NULL)
		return 0;
	if (v->type == SN_IV_STRING)
		return 0;
	return (double)v->i;
}

static int64_t loc_of_cell(struct ictx *x, const struct sn_insight_value *v)
{
	if (v->type == SN_IV_DATE)
		return v->i * US_DAY;
	if (v->type == SN_IV_DATETIME)
		return loc_of_utc(x->tz, v->i);
	return INT64_MIN;
}

static char **key_of_row(struct ictx *x, const struct tq *t, const struct sn_insight_value *row,
			 size_t first)
{
	if (!t->nbd)
		return NULL;
	char **bv = sn_arena_alloc(x->a, t->nbd * sizeof(*bv));
	if (!bv)
		return NULL;
	for (size_t i = 0; i < t->nbd; i++) {
		bv[i] = cell_text(x, &row[first + i]);
		if (!bv[i])
			return NULL;
		if (t->bd_normalize[i] && strcmp(bv[i], BREAKDOWN_NULL) != 0 &&
		    strcmp(bv[i], BREAKDOWN_OTHER) != 0) {
			/* breakdown_normalize_url: trailing '/', '?' and '#' go; "" → "/" */
			size_t n = strlen(bv[i]);
			while (n > 0 && strchr("/?#", bv[i][n - 1]))
				n--;
			if (n == 0)
				bv[i] = "/";
			else
				bv[i][n] = 0;
		}
	}
	return bv;
}

/* Runs one statement and adds its rows to the groups of g. Rows are
 * (total[, bucket], b0…), or with by_index (total, bucket index, b0…).
 * *overflow: the statement returned ROWS_MAX rows (its LIMIT), so the
 * groups may be incomplete. */
static int collect(struct ictx *x, const struct tq *t, const struct drange *r, struct gmap *g,
		   const char *sql, size_t len, int series, bool previous, bool by_index,
		   bool *overflow)
{
	struct sn_insight_table tab;
	int rc = run_hogql(x, sql, len, &tab);
	if (rc)
		return rc;
	bool ts = !t->total_value || by_index;
	size_t need = 1 + (ts ? 1 : 0) + t->nbd;
	if (tab.ncols < need)
		return ifail(x, "query_error", "internal: a trends statement returned %zu columns",
			     tab.ncols);
	if (overflow)
		*overflow = tab.nrows >= ROWS_MAX;
	for (size_t i = 0; i < tab.nrows; i++) {
		const struct sn_insight_value *row = &tab.cells[i * tab.ncols];
		char **bv = key_of_row(x, t, row, ts ? 2 : 1);
		if (t->nbd && !bv)
			return SN_ERR_NOMEM;
		struct tres *res;
		if ((rc = group_of(x, g, t, bv, series, previous, &res)))
			return rc;
		double v = num_of(&row[0]);
		if (by_index && t->total_value) {
			res->agg += v;
		} else if (by_index) {
			int64_t k = row[1].i;
			if (k >= 0 && (size_t)k < r->nbuckets)
				res->data[k] += v;
		} else if (ts) {
			ssize_t k = dr_bucket_index(r, loc_of_cell(x, &row[1]));
			if (k >= 0)
				res->data[k] += v;
		} else {
			res->agg += v;
		}
	}
	return 0;
}

/* weekly_active / monthly_active on minute, hour and day intervals: for
 * each bucket D, the distinct actors with a matching event whose bucket is
 * in (D − window, D] — one statement per bucket (UNION ALL in chunks), each
 * scanning only its window. Total-value displays take [date_to − window,
 * date_to]. */
#define WINDOW_CHUNK 32
static int active_window(struct ictx *x, const struct tq *t, const struct tseries *s,
			 const struct drange *r, struct gmap *g, int series, bool previous,
			 char **const *keep, size_t nkeep, bool *overflow)
{
	int64_t window = (s->math[0] == 'w' ? 7 : 30) * US_DAY;
	int64_t step = add_interval(0, r->iv, 1); /* minute, hour or day */
	struct sn_buf w, q;
	sn_buf_init(&w, 1 << 22);
	sn_buf_init(&q, 1 << 24);
	int rc = where_of(x, t, s, NULL, 0, true, &w);
	size_t n = t->total_value ? 1 : r->nbuckets;
	for (size_t k0 = 0; k0 < n && rc == 0; k0 += WINDOW_CHUNK) {
		sn_buf_reset(&q);
		for (size_t k = k0; k < n && k < k0 + WINDOW_CHUNK && rc == 0; k++) {
			int64_t lo, hi;
			if (t->total_value) {
				lo = r->to - window;
				hi = r->to + 1;
			} else {
				lo = r->buckets[k] + step - window;
				hi = r->buckets[k] + step;
				if (hi > r->to + 1)
					hi = r->to + 1;
			}
			if (k > k0)
				sn_buf_appends(&q, " UNION ALL ");
			rc = sn_buf_appendf(&q, "SELECT count(DISTINCT %s) AS total, %zu AS k",
					    actor_of(x, t, s), k);
			rc = rc ? rc : bd_select(t, keep, nkeep, &q);
			rc = rc ? rc
				: sn_buf_appendf(&q, " FROM events%s WHERE %s AND timestamp >= ",
						 x->sample, w.data);
			dt_lit(&q, lo);
			sn_buf_appends(&q, " AND timestamp < ");
			dt_lit(&q, hi);
			if (t->nbd) {
				sn_buf_appends(&q, " GROUP BY");
				for (size_t i = 0; i < t->nbd; i++)
					sn_buf_appendf(&q, "%s b%zu", i ? "," : "", i);
			}
			sn_buf_appendf(&q, " LIMIT %d", ROWS_MAX);
		}
		bool of = false;
		if (rc == 0)
			rc = collect(x, t, r, g, q.data, q.len, series, previous, true, &of);
		if (of && overflow)
			*overflow = true;
	}
	sn_buf_release(&w);
	sn_buf_release(&q);
	return rc;
}

/* ---- ranking, Other ------------------------------------------------------------------- */

/* A value with a null part ranks after the values without (PostHog). */
static bool is_null_key(const struct tres *r, size_t nbd)
{
	for (size_t i = 0; i < nbd; i++)
		if (strcmp(r->bv[i], BREAKDOWN_NULL) == 0)
			return true;
	return false;
}

static bool is_other_key(const struct tres *r, size_t nbd)
{
	for (size_t i = 0; i < nbd; i++)
		if (strcmp(r->bv[i], BREAKDOWN_OTHER) == 0)
			return true;
	return false;
}

static int rank_cmp(const void *pa, const void *pb, void *arg)
{
	const struct tres *a = pa, *b = pb;
	size_t g_nbd = *(const size_t *)arg;
	int ca = is_other_key(a, g_nbd) ? 2 : is_null_key(a, g_nbd) ? 1 : 0;
	int cb = is_other_key(b, g_nbd) ? 2 : is_null_key(b, g_nbd) ? 1 : 0;
	if (ca != cb)
		return ca - cb;
	if (a->rank != b->rank)
		return a->rank > b->rank ? -1 : 1;
	for (size_t i = 0; i < g_nbd; i++) {
		int c = strcmp(a->bv[i], b->bv[i]);
		if (c)
			return c;
	}
	return 0;
}

static void set_rank(const struct tq *t, struct tlist *l, size_t nb)
{
	for (size_t i = 0; i < l->n; i++) {
		struct tres *r = &l->v[i];
		if (t->total_value) {
			r->rank = r->agg;
		} else {
			/* The total shown: the sum, or for cumulative displays the
			 * sum of the running sums (PostHog ranks what it plots). */
			double s = 0, run = 0;
			for (size_t k = 0; k < nb; k++) {
				run += r->data[k];
				s += t->cumulative ? run : r->data[k];
			}
			r->rank = s;
		}
	}
}

/* The statement (or window statements) of series s over r into g. */
static int run_series(struct ictx *x, const struct tq *t, const struct tseries *s,
		      const struct drange *r, bool previous, bool window, char **const *keep,
		      size_t nkeep, struct gmap *g, bool *overflow)
{
	*overflow = false;
	if (window)
		return active_window(x, t, s, r, g, s->order, previous, keep, nkeep, overflow);
	struct sn_buf q;
	sn_buf_init(&q, 1 << 24);
	int rc = statement(x, t, s, r, keep, nkeep, &q);
	rc = rc ? rc : sn_buf_appendf(&q, " LIMIT %d", ROWS_MAX);
	if (rc == 0)
		rc = collect(x, t, r, g, q.data, q.len, s->order, previous, false, overflow);
	sn_buf_release(&q);
	return rc;
}

/* The top breakdown values when there are too many rows to rank in C:
 * ranked by the statement's total in HogQL (values with a null part after
 * the others, as PostHog ranks them), the first keepn kept. */
static int top_values(struct ictx *x, const struct tq *t, const struct tseries *s,
		      const struct drange *r, size_t keepn, char ****keep, size_t *nkeep)
{
	struct sn_buf inner, q;
	sn_buf_init(&inner, 1 << 24);
	sn_buf_init(&q, 1 << 24);
	int rc = statement(x, t, s, r, NULL, 0, &inner);
	rc = rc ? rc : sn_buf_appends(&q, "SELECT sum(total) AS s");
	for (size_t i = 0; i < t->nbd && rc == 0; i++)
		rc = sn_buf_appendf(&q, ", b%zu", i);
	rc = rc ? rc : sn_buf_appendf(&q, " FROM (%s) GROUP BY ", inner.data);
	for (size_t i = 0; i < t->nbd && rc == 0; i++)
		rc = sn_buf_appendf(&q, "%sb%zu", i ? ", " : "", i);
	rc = rc ? rc : sn_buf_appends(&q, " ORDER BY ");
	for (size_t i = 0; i < t->nbd && rc == 0; i++)
		rc = sn_buf_appendf(&q, "%sb%zu = '%s'", i ? " OR " : "", i, BREAKDOWN_NULL);
	rc = rc ? rc : sn_buf_appends(&q, ", s DESC");
	for (size_t i = 0; i < t->nbd && rc == 0; i++)
		rc = sn_buf_appendf(&q, ", b%zu", i);
	rc = rc ? rc : sn_buf_appendf(&q, " LIMIT %zu", keepn);
	struct sn_insight_table tab;
	if (rc == 0)
		rc = run_hogql(x, q.data, q.len, &tab);
	if (rc == 0) {
		*keep = sn_arena_alloc(x->a, (tab.nrows ? tab.nrows : 1) * sizeof(**keep));
		if (!*keep)
			rc = SN_ERR_NOMEM;
		for (size_t i = 0; i < tab.nrows && rc == 0; i++) {
			(*keep)[i] = key_of_row(x, t, &tab.cells[i * tab.ncols], 1);
			if (!(*keep)[i])
				rc = SN_ERR_NOMEM;
		}
		*nkeep = tab.nrows;
	}
	sn_buf_release(&inner);
	sn_buf_release(&q);
	return rc;
}

/* A number as a bin label shows it: "17.5", "25", "40.01". */
static void bin_num(char *buf, size_t len, double v)
{
	snprintf(buf, len, "%.15g", v);
}

/* Histogram breakdowns: N equal-width bins between the smallest and the
 * largest value of toFloat(property) among the series' events in the
 * range, the last one widened by 0.01 so the largest value falls inside
 * (PostHog's bins). The breakdown expression becomes the bin's label
 * ("[10,17.5]"); values that are not numbers stay null. */
static int histogram_exprs(struct ictx *x, struct tq *t, const struct tseries *s,
			   const struct drange *r)
{
	for (size_t i = 0; i < t->nbd; i++) {
		if (!t->bd_bins[i])
			continue;
		struct sn_buf w, q, e;
		sn_buf_init(&w, 1 << 22);
		sn_buf_init(&q, 1 << 23);
		sn_buf_init(&e, 1 << 20);
		int rc = where_of(x, t, s, r, r->where_from, true, &w);
		rc =
		    rc ? rc
		       : sn_buf_appendf(
			     &q, "SELECT min(toFloat(%s)), max(toFloat(%s)) FROM events%s WHERE %s",
			     t->bd_expr[i], t->bd_expr[i], x->sample, w.data);
		struct sn_insight_table tab;
		if (rc == 0)
			rc = run_hogql(x, q.data, q.len, &tab);
		if (rc == 0) {
			double lo = tab.nrows ? num_of(&tab.cells[0]) : 0;
			double hi = tab.nrows ? num_of(&tab.cells[1]) : 0;
			bool none = !tab.nrows || tab.cells[0].type == SN_IV_NULL;
			int n = t->bd_bins[i];
			double step = (hi - lo) / n;
			char a[40], b[40];
			if (none) {
				rc = sn_buf_appends(&e, "NULL");
			} else {
				rc = sn_buf_appendf(&e, "multiIf(isNull(toFloat(%s)), NULL",
						    t->bd_expr[i]);
				for (int k = 0; k < n && rc == 0; k++) {
					double from = lo + k * step;
					double to = k == n - 1 ? hi + 0.01 : lo + (k + 1) * step;
					bin_num(a, sizeof(a), from);
					bin_num(b, sizeof(b), to);
					if (k == n - 1)
						rc = sn_buf_appendf(&e, ", '[%s,%s]')", a, b);
					else
						rc = sn_buf_appendf(
						    &e, ", toFloat(%s) < %.17g, '[%s,%s]'",
						    t->bd_expr[i], to, a, b);
				}
			}
			if (rc == 0) {
				t->bd_expr[i] = sn_arena_strndup(x->a, e.data, e.len);
				if (!t->bd_expr[i])
					rc = SN_ERR_NOMEM;
			}
		}
		sn_buf_release(&w);
		sn_buf_release(&q);
		sn_buf_release(&e);
		if (rc)
			return rc;
	}
	return 0;
}

/* Runs series s over range r into out (one tres per breakdown value). */
static int series_period(struct ictx *x, const struct tq *t0, const struct tseries *s,
			 const struct drange *r, bool previous, struct tlist *out)
{
	if (s->is_action && !s->action_name)
		return 0; /* an unknown action has no results, as in PostHog */
	/* A copy: histogram bins depend on the series and the period. */
	struct tq *t = sn_arena_alloc(x->a, sizeof(*t));
	if (!t)
		return SN_ERR_NOMEM;
	*t = *t0;
	for (size_t i = 0; i < t->nbd; i++)
		if (t->bd_bins[i]) {
			int hrc = histogram_exprs(x, t, s, r);
			if (hrc)
				return hrc;
			break;
		}
	struct tlist l = {0};
	struct gmap g = {.l = &l, .nb = r->nbuckets};
	bool window =
	    (strcmp(s->math, "weekly_active") == 0 || strcmp(s->math, "monthly_active") == 0) &&
	    (t->total_value || t->iv == IV_DAY || t->iv == IV_HOUR || t->iv == IV_MINUTE);
	bool overflow = false;
	int rc = run_series(x, t, s, r, previous, window, NULL, 0, &g, &overflow);
	if (rc)
		return rc;
	if (overflow && !t->nbd)
		return ifail(x, "query_error",
			     "The insight has more than %d intervals; use a longer interval or a "
			     "shorter date range",
			     ROWS_MAX);
	if (!t->nbd && l.n == 0) {
		/* No rows: the series is still there, all zero. */
		struct tres *z;
		if ((rc = group_of(x, &g, t, NULL, s->order, previous, &z)))
			return rc;
	}
	set_rank(t, &l, r->nbuckets);
	if (t->nbd && l.n) /* l.v is NULL when a breakdown has no rows */
		qsort_r(l.v, l.n, sizeof(*l.v), rank_cmp, (void *)&t->nbd);
	if (t->nbd && (overflow || l.n > (size_t)t->bd_limit)) {
		/* Top values by the measure; the rest is folded into Other. */
		size_t keepn = (size_t)t->bd_limit, nkeep = keepn;
		char ***keep = NULL;
		if (overflow) {
			if ((rc = top_values(x, t, s, r, keepn, &keep, &nkeep)))
				return rc;
		} else {
			keep = sn_arena_alloc(x->a, keepn * sizeof(*keep));
			if (!keep)
				return SN_ERR_NOMEM;
			for (size_t i = 0; i < keepn; i++)
				keep[i] = l.v[i].bv;
		}
		bool exact_fold = !t->bd_multi || overflow;
		if (t->hide_other && !overflow) {
			l.n = keepn;
		} else if (exact_fold || t->hide_other) {
			/* Run again with the other values mapped to the Other label,
			 * so non-additive maths (unique users) stay exact. */
			struct tlist l2 = {0};
			struct gmap g2 = {.l = &l2, .nb = r->nbuckets};
			bool of2 = false;
			if ((rc = run_series(x, t, s, r, previous, window, keep, nkeep, &g2, &of2)))
				return rc;
			if (of2)
				return ifail(
				    x, "query_error",
				    "The insight has more than %d rows even with "
				    "breakdown_limit %d; use a longer interval or a shorter "
				    "date range",
				    ROWS_MAX, t->bd_limit);
			set_rank(t, &l2, r->nbuckets);
			qsort_r(l2.v, l2.n, sizeof(*l2.v), rank_cmp, (void *)&t->nbd);
			l = l2;
			if (t->hide_other)
				while (l.n > 0 && is_other_key(&l.v[l.n - 1], t->nbd))
					l.n--;
		} else {
			/* Several breakdowns: the Other row sums the folded ones
			 * (exact for counts and sums). */
			struct tres *other = &l.v[keepn];
			char **ov = sn_arena_alloc(x->a, t->nbd * sizeof(*ov));
			if (!ov)
				return SN_ERR_NOMEM;
			for (size_t i = 0; i < t->nbd; i++)
				ov[i] = BREAKDOWN_OTHER;
			for (size_t j = keepn + 1; j < l.n; j++) {
				for (size_t k = 0; k < r->nbuckets; k++)
					other->data[k] += l.v[j].data[k];
				other->agg += l.v[j].agg;
			}
			other->bv = ov;
			l.n = keepn + 1;
		}
	}
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		struct tres *o;
		rc = tl_push(x, out, &o);
		if (rc == 0)
			*o = l.v[i];
	}
	return rc;
}

/* ---- formulas ------------------------------------------------------------------------- */

static int formula_eval(struct ictx *x, const struct sn_hogql_node *n, double *const *series,
			size_t nseries, size_t k, double *out)
{
	switch (n->kind) {
	case SN_HQ_CONSTANT:
		if (n->ctype == SN_HQC_INT)
			*out = (double)n->ival;
		else if (n->ctype == SN_HQC_FLOAT)
			*out = n->fval;
		else
			return ifail(x, "validation_error",
				     "Formulas may only use numbers and series letters");
		return 0;
	case SN_HQ_FIELD: {
		const char *name = n->strs.n == 1 ? n->strs.items[0] : "";
		if (strlen(name) != 1 ||
		    !((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
			return ifail(
			    x, "validation_error",
			    "Formulas refer to series by one letter (A, B, ...); '%s' is not one",
			    name);
		size_t idx = (size_t)((name[0] | 0x20) - 'a');
		if (idx >= nseries)
			return ifail(x, "validation_error",
				     "The formula uses %c but there are only %zu series", name[0],
				     nseries);
		*out = series[idx][k];
		return 0;
	}
	case SN_HQ_ARITH: {
		double a, b;
		if (formula_eval(x, n->a, series, nseries, k, &a) ||
		    formula_eval(x, n->b, series, nseries, k, &b))
			return SN_ERR_INVALID;
		switch (n->op[0]) {
		case '+': *out = a + b; break;
		case '-': *out = a - b; break;
		case '*': *out = a * b; break;
		case '/': *out = b == 0 ? 0 : a / b; break;
		case '%': *out = b == 0 ? 0 : fmod(a, b); break;
		default:
			return ifail(x, "validation_error",
				     "Formula operator '%s' is not supported", n->op);
		}
		return 0;
	}
	case SN_HQ_ALIAS: return formula_eval(x, n->a, series, nseries, k, out);
	default:
		return ifail(
		    x, "validation_error",
		    "Formulas may use series letters, numbers, + - * / %% and parentheses");
	}
}

/* ---- JSON ----------------------------------------------------------------------------- */

static void num_json(struct sn_buf *b, double v)
{
	if (!isfinite(v))
		v = 0;
	if (v == floor(v) && fabs(v) < 1e15)
		sn_buf_appendf(b, "%.0f", v);
	else {
		char buf[40];
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
		sn_buf_appends(b, buf);
	}
}

static void jstr_or_null(struct sn_buf *b, const char *s)
{
	if (s)
		sn_buf_append_json_str(b, s, strlen(s));
	else
		sn_buf_appends(b, "null");
}

static void bv_json(struct sn_buf *b, const struct tq *t, const struct tres *r)
{
	if (t->bd_multi) {
		sn_buf_appendc(b, '[');
		for (size_t i = 0; i < t->nbd; i++) {
			if (i)
				sn_buf_appendc(b, ',');
			sn_buf_append_json_str(b, r->bv[i], strlen(r->bv[i]));
		}
		sn_buf_appendc(b, ']');
	} else {
		sn_buf_append_json_str(b, r->bv[0], strlen(r->bv[0]));
	}
}

static void bv_label(struct sn_buf *b, const struct tq *t, const struct tres *r)
{
	for (size_t i = 0; i < t->nbd; i++) {
		if (i)
			sn_buf_appends(b, "::");
		sn_buf_appends(b, r->bv[i]);
	}
}

static void dates_json(struct sn_buf *b, const struct drange *r, bool labels, int week_start_day)
{
	sn_buf_appendc(b, '[');
	for (size_t k = 0; k < r->nbuckets; k++) {
		char buf[48];
		if (labels)
			fmt_label(buf, sizeof(buf), r->buckets[k], r, week_start_day);
		else
			fmt_day(buf, sizeof(buf), r->buckets[k], r->iv);
		if (k)
			sn_buf_appendc(b, ',');
		sn_buf_append_json_str(b, buf, strlen(buf));
	}
	sn_buf_appendc(b, ']');
}

static int result_json(struct ictx *x, const struct tq *t, const struct tres *r, struct sn_buf *b)
{
	const struct drange *dr = r->previous ? &t->prev : &t->cur;
	const struct tseries *s = r->is_formula ? NULL : &t->series[r->series];
	size_t nb = dr->nbuckets;
	sn_buf_appendc(b, '{');
	if (t->total_value) {
		sn_buf_appends(b, "\"data\":[],\"days\":[],\"count\":0,\"aggregated_value\":");
		num_json(b, r->agg);
	} else {
		double *d = r->data;
		sn_buf_appends(b, "\"data\":[");
		for (size_t k = 0; k < nb; k++) {
			if (k)
				sn_buf_appendc(b, ',');
			num_json(b, d[k]);
		}
		sn_buf_appends(b, "],\"labels\":");
		dates_json(b, dr, true, x->o->team.week_start_day);
		sn_buf_appends(b, ",\"days\":");
		dates_json(b, dr, false, 0);
		double count = 0;
		if (t->cumulative)
			count = nb ? d[nb - 1] : 0;
		else
			for (size_t k = 0; k < nb; k++)
				count += d[k];
		sn_buf_appends(b, ",\"count\":");
		num_json(b, count);
	}
	/* label */
	sn_buf_appends(b, ",\"label\":");
	if (r->label_override) {
		jstr_or_null(b, r->label_override);
	} else {
		struct sn_buf lab;
		sn_buf_init(&lab, 1 << 16);
		const char *base = s->is_action ? s->action_name
				   : s->event	? s->event
						: "All events";
		if (t->nbd) {
			if (t->nseries > 1) {
				sn_buf_appends(&lab, base);
				sn_buf_appends(&lab, " - ");
			}
			bv_label(&lab, t, r);
		} else {
			sn_buf_appends(&lab, base);
		}
		sn_buf_append_json_str(b, lab.data ? lab.data : "", lab.len);
		sn_buf_release(&lab);
	}
	/* action */
	if (!s) {
		/* PostHog builds a formula's result from its first series' one */
		sn_buf_appends(b, ",\"action\":null,\"order\":0");
	} else {
		sn_buf_appends(b, ",\"action\":{\"id\":");
		if (s->is_action)
			sn_buf_appendf(b, "%lld", (long long)s->action_id);
		else
			jstr_or_null(b, s->event);
		sn_buf_appendf(b, ",\"type\":\"%s\",\"order\":%d,\"name\":",
			       s->is_action ? "actions" : "events", s->order);
		jstr_or_null(b, s->is_action ? s->action_name : s->event ? s->event : "All events");
		sn_buf_appends(b, ",\"custom_name\":");
		jstr_or_null(b, s->custom_name);
		sn_buf_appends(b, ",\"math\":");
		jstr_or_null(b, jstr(s->node, "math"));
		sn_buf_appends(b, ",\"math_property\":");
		jstr_or_null(b, s->math_property);
		sn_buf_appends(b, ",\"math_hogql\":");
		jstr_or_null(b, s->math_hogql);
		sn_buf_appends(b, ",\"math_group_type_index\":");
		if (s->math_gti >= 0)
			sn_buf_appendf(b, "%d", s->math_gti);
		else
			sn_buf_appends(b, "null");
		sn_buf_appends(b, ",\"properties\":{}}");
		sn_buf_appendf(b, ",\"order\":%d", s->order);
	}
	if (t->nbd) {
		sn_buf_appends(b, ",\"breakdown_value\":");
		bv_json(b, t, r);
	}
	if (t->compare)
		sn_buf_appendf(b, ",\"compare\":true,\"compare_label\":\"%s\"",
			       r->previous ? "previous" : "current");
	sn_buf_appends(b, ",\"filter\":{\"insight\":\"TRENDS\"");
	if (jstr(t->q, "interval"))
		sn_buf_appendf(b, ",\"interval\":\"%s\"", jstr(t->q, "interval"));
	if (t->display)
		sn_buf_appendf(b, ",\"display\":\"%s\"", t->display);
	sn_buf_appends(b, "}}");
	return 0;
}

/* ---- post-processing ------------------------------------------------------------------ */

static void cumulate_and_smooth(const struct tq *t, struct tlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct tres *r = &l->v[i];
		size_t nb = (r->previous ? &t->prev : &t->cur)->nbuckets;
		if (t->smoothing > 1) {
			double *sm = malloc(nb * sizeof(double));
			if (sm) {
				for (size_t k = 0; k < nb; k++) {
					double s = 0;
					size_t n = 0;
					for (size_t j = k + 1 > (size_t)t->smoothing
							    ? k + 1 - (size_t)t->smoothing
							    : 0;
					     j <= k; j++, n++)
						s += r->data[j];
					sm[k] = floor(s / (double)n);
				}
				memcpy(r->data, sm, nb * sizeof(double));
				free(sm);
			}
		}
		if (t->cumulative)
			for (size_t k = 1; k < nb; k++)
				r->data[k] += r->data[k - 1];
	}
}

/* natsort's order (case-insensitive, digit runs compared as numbers). */
static int natcmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			size_t na = strspn(a, "0123456789"), nb = strspn(b, "0123456789");
			if (na != nb)
				return na < nb ? -1 : 1;
			int c = strncmp(a, b, na);
			if (c)
				return c;
			a += na;
			b += nb;
			continue;
		}
		int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
		if (ca != cb)
			return ca < cb ? -1 : 1;
		a++;
		b++;
	}
	return *a ? 1 : *b ? -1 : 0;
}

/* With compare, PostHog orders formula results by count (descending),
 * ties in natural order of the breakdown value. */
static int formula_compare_cmp(const void *pa, const void *pb, void *arg)
{
	const struct tres *a = pa, *b = pb;
	const struct tq *t = arg;
	double ca = t->total_value ? 0 : a->rank, cb = t->total_value ? 0 : b->rank;
	if (ca != cb)
		return ca > cb ? -1 : 1;
	for (size_t i = 0; i < t->nbd; i++) {
		int c = natcmp(a->bv[i], b->bv[i]);
		if (c)
			return c;
	}
	return 0;
}

/* PostHog's order of formula results with a breakdown: plain values, then
 * the null value, then Other; within each by total, count, the data
 * themselves and the value, all descending. */
static int formula_cmp(const void *pa, const void *pb, void *arg)
{
	const struct tres *a = pa, *b = pb;
	const struct tq *t = arg;
	size_t nb = (a->previous ? &t->prev : &t->cur)->nbuckets;
	int ca = 0, cb = 0;
	if (!t->bd_multi) {
		ca = strcmp(a->bv[0], BREAKDOWN_OTHER) == 0  ? 2
		     : strcmp(a->bv[0], BREAKDOWN_NULL) == 0 ? 1
							     : 0;
		cb = strcmp(b->bv[0], BREAKDOWN_OTHER) == 0  ? 2
		     : strcmp(b->bv[0], BREAKDOWN_NULL) == 0 ? 1
							     : 0;
	}
	if (ca != cb)
		return ca - cb;
	if (a->rank != b->rank)
		return a->rank > b->rank ? -1 : 1;
	for (size_t k = 0; !t->total_value && k < nb; k++)
		if (a->data[k] != b->data[k])
			return a->data[k] > b->data[k] ? -1 : 1;
	for (size_t i = 0; i < t->nbd; i++) {
		int c = strcmp(a->bv[i], b->bv[i]);
		if (c)
			return -c;
	}
	return 0;
}

/* Results of one formula (in place of the series) for one period. */
static int apply_formula(struct ictx *x, const struct tq *t, struct json_object *fo,
			 const struct tlist *in, bool previous, struct tlist *out)
{
	size_t nb = (previous ? &t->prev : &t->cur)->nbuckets;
	{
		const char *text = json_object_is_type(fo, json_type_string)
				       ? json_object_get_string(fo)
				       : jstr(fo, "formula");
		const char *custom =
		    json_object_is_type(fo, json_type_object) ? jstr(fo, "custom_name") : NULL;
		if (!text || !*text)
			return ifail(x, "validation_error", "A formula must be a non-empty string");
		struct sn_hogql_node *ast;
		struct sn_hogql_error perr;
		if (sn_hogql_parse_expr(x->a, text, strlen(text), &ast, &perr))
			return ifail(x, "validation_error", "The formula '%s' is not valid: %s",
				     text, perr.msg);
		/* Distinct breakdown keys over all series, in first-seen order. */
		struct tlist keys = {0};
		struct gmap km = {.l = &keys, .nb = 1};
		for (size_t i = 0; i < in->n; i++) {
			if (in->v[i].previous != previous)
				continue;
			struct tres *k;
			int rc = group_of(x, &km, t, in->v[i].bv, 0, previous, &k);
			if (rc)
				return rc;
		}
		if (!t->nbd && keys.n == 0) {
			struct tres *k;
			int rc = tl_push(x, &keys, &k);
			if (rc)
				return rc;
		}
		char *label = NULL;
		if (custom)
			label = sn_arena_strdup(x->a, custom);
		else {
			size_t n = strlen(text) + 16;
			label = sn_arena_alloc(x->a, n);
			if (label)
				snprintf(label, n, "Formula (%s)", text);
		}
		if (!label)
			return SN_ERR_NOMEM;
		size_t first_out = out->n;
		for (size_t ki = 0; ki < keys.n; ki++) {
			double **sd = sn_arena_alloc(x->a, t->nseries * sizeof(*sd));
			if (!sd)
				return SN_ERR_NOMEM;
			for (size_t s = 0; s < t->nseries; s++) {
				sd[s] = NULL;
				for (size_t i = 0; i < in->n && !sd[s]; i++) {
					const struct tres *r = &in->v[i];
					if (r->series == (int)s && r->previous == previous &&
					    (!t->nbd || key_eq(r->bv, keys.v[ki].bv, t->nbd)))
						sd[s] =
						    t->total_value ? (double *)&r->agg : r->data;
				}
				if (!sd[s]) {
					sd[s] =
					    sn_arena_alloc(x->a, (nb ? nb : 1) * sizeof(double));
					if (!sd[s])
						return SN_ERR_NOMEM;
					memset(sd[s], 0, (nb ? nb : 1) * sizeof(double));
				}
			}
			struct tres *o;
			int rc = tl_push(x, out, &o);
			if (rc)
				return rc;
			o->is_formula = true;
			o->previous = previous;
			o->bv = keys.v[ki].bv;
			o->label_override = label;
			size_t n = t->total_value ? 1 : nb;
			o->data = sn_arena_alloc(x->a, (n ? n : 1) * sizeof(double));
			if (!o->data)
				return SN_ERR_NOMEM;
			for (size_t k = 0; k < n; k++)
				if ((rc = formula_eval(x, ast, sd, t->nseries, k, &o->data[k])))
					return rc;
			if (t->total_value)
				o->agg = o->data[0];
			double s = 0;
			for (size_t k = 0; k < n; k++)
				s += o->data[k];
			o->rank = t->total_value ? o->agg : s;
		}
		if (t->nbd)
			qsort_r(out->v + first_out, out->n - first_out, sizeof(*out->v),
				t->compare ? formula_compare_cmp : formula_cmp, (void *)t);
	}
	return 0;
}

/* Parses q and computes its date ranges (shared by the insight and its
 * actors). */
static int trends_prepare(struct ictx *x, struct json_object *q, struct tq **out)
{
	struct tq *t = sn_arena_alloc(x->a, sizeof(*t));
	*out = t;
	if (!t)
		return SN_ERR_NOMEM;
	memset(t, 0, sizeof(*t));
	t->q = q;
	t->sample = x->sample;
	int rc = parse_series(x, t);
	if (rc)
		return rc;
	struct json_object *tf = jget(q, "trendsFilter");
	t->display = jstr(tf, "display");
	t->total_value = is_total_value_display(t->display);
	t->cumulative = t->display && strcmp(t->display, "ActionsLineGraphCumulative") == 0;
	struct json_object *sm = jget(tf, "smoothingIntervals");
	t->smoothing = sm && json_object_is_type(sm, json_type_int) ? json_object_get_int(sm) : 1;
	if (t->smoothing < 1 || t->smoothing > 1000)
		return ifail(x, "validation_error",
			     "trendsFilter.smoothingIntervals must be 1 to 1000");
	if ((rc = parse_interval(x, jstr(q, "interval"), &t->iv)))
		return rc;
	if (t->total_value)
		t->iv = IV_DAY; /* PostHog computes total-value ranges at day precision */
	t->props = jget(q, "properties");
	t->test_accounts = jbool(q, "filterTestAccounts");
	if ((rc = gti_of(x, q, "aggregation_group_type_index", &t->agg_gti)))
		return rc;
	if ((rc = parse_breakdown(x, t)))
		return rc;
	if (t->display && strcmp(t->display, "WorldMap") == 0)
		t->bd_limit = MAX_GROUPS; /* the map shows every country */
	struct json_object *cf = jget(q, "compareFilter");
	t->compare = jbool(cf, "compare");
	t->compare_to = jstr(cf, "compare_to");
	/* Date range; "all" needs the team's first event. */
	struct json_object *dr = jget(q, "dateRange");
	int64_t earliest = INT64_MIN;
	if (dr_is_all(dr)) {
		struct sn_insight_table tab;
		static const char sql[] = "SELECT min(timestamp) FROM events";
		if ((rc = run_hogql(x, sql, sizeof(sql) - 1, &tab)))
			return rc;
		if (tab.nrows && tab.ncols && tab.cells[0].type == SN_IV_DATETIME)
			earliest = tab.cells[0].i;
		t->compare = false; /* PostHog turns compare off for all time */
	}
	if ((rc = dr_parse(x, dr, t->iv, earliest, t->total_value, &t->cur)) ||
	    (rc = dr_buckets(x, &t->cur, x->o->team.week_start_day)))
		return rc;
	if (t->compare && ((rc = dr_previous(x, &t->cur, t->compare_to, &t->prev)) ||
			   (rc = dr_buckets(x, &t->prev, x->o->team.week_start_day))))
		return rc;
	return 0;
}

int trends_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	struct tq *t;
	int rc = trends_prepare(x, q, &t);
	if (rc)
		return rc;
	struct json_object *tf = jget(q, "trendsFilter");
	/* Every series, current then previous. */
	struct tlist res = {0};
	for (int p = 0; p <= (t->compare ? 1 : 0); p++)
		for (size_t i = 0; i < t->nseries; i++)
			if ((rc = series_period(x, t, &t->series[i], p ? &t->prev : &t->cur, p == 1,
						&res)))
				return rc;
	/* Formulas replace the series. */
	struct json_object *formulas = NULL, *one = NULL;
	struct json_object *fnodes = jget(tf, "formulaNodes"), *flist = jget(tf, "formulas");
	const char *f1 = jstr(tf, "formula");
	if (fnodes && json_object_is_type(fnodes, json_type_array) &&
	    json_object_array_length(fnodes))
		formulas = fnodes;
	else if (flist && json_object_is_type(flist, json_type_array) &&
		 json_object_array_length(flist))
		formulas = flist;
	else if (f1 && *f1) {
		one = json_object_new_array();
		json_object_array_add(one, json_object_new_string(f1));
		formulas = one;
	}
	if (formulas) {
		/* Per formula: its current results, then its previous ones. */
		struct tlist fr = {0};
		size_t nf = json_object_array_length(formulas);
		for (size_t fi = 0; fi < nf && rc == 0; fi++)
			for (int p = 0; p <= (t->compare ? 1 : 0) && rc == 0; p++)
				rc = apply_formula(x, t, json_object_array_get_idx(formulas, fi),
						   &res, p == 1, &fr);
		if (one)
			json_object_put(one);
		if (rc)
			return rc;
		res = fr;
	}
	if (!t->total_value)
		cumulate_and_smooth(t, &res);
	bool has_more = false;
	for (size_t i = 0; i < res.n; i++)
		if (t->nbd && is_other_key(&res.v[i], t->nbd))
			has_more = true;
	rc = sn_buf_appends(out, "\"results\":[");
	for (size_t i = 0; i < res.n && rc == 0; i++) {
		if (i)
			sn_buf_appendc(out, ',');
		rc = result_json(x, t, &res.v[i], out);
	}
	if (rc == 0)
		rc = sn_buf_appendf(out, "],\"hasMore\":%s", has_more ? "true" : "false");
	if (rc == SN_ERR_TOO_BIG)
		return ifail(x, "query_error",
			     "The response is larger than the maximum (%zu bytes)", out->max);
	return rc;
}

/* ---- actors --------------------------------------------------------------------------- */

/* The actors behind one point: series `series`, the bucket holding `day`
 * (every bucket for total-value displays), breakdown value `bv` (NULL =
 * any), the previous period when `previous`. One statement: the actors
 * with their matching event counts, most events first. */
int trends_actors(struct ictx *x, struct json_object *q, int series, const char *day,
		  const char *bv, bool previous, struct actor_rows *out)
{
	struct tq *t;
	int rc = trends_prepare(x, q, &t);
	if (rc)
		return rc;
	if (series < 0 || (size_t)series >= t->nseries)
		return ifail(x, "validation_error", "series must be 0 to %zu", t->nseries - 1);
	if (previous && !t->compare)
		return ifail(x, "validation_error",
			     "compare is 'previous' but the query does not compare");
	const struct tseries *s = &t->series[series];
	const struct drange *r = previous ? &t->prev : &t->cur;
	int64_t lo = r->where_from, hi = r->to + 1;
	if (day && !t->total_value) {
		size_t k;
		if ((rc = dr_day_bucket(x, r, day, &k)))
			return rc;
		lo = r->buckets[k];
		hi = (size_t)k + 1 < r->nbuckets ? r->buckets[k + 1] : r->to + 1;
		if (lo < r->where_from)
			lo = r->where_from;
		if (strcmp(s->math, "weekly_active") == 0 || strcmp(s->math, "monthly_active") == 0)
			lo = hi - (s->math[0] == 'w' ? 7 : 30) * US_DAY;
	}
	if (t->nbd > 1)
		return ifail(x, "not_supported",
			     "Actors of a multiple-breakdown trend are not supported yet");
	if (bv && (strcmp(bv, BREAKDOWN_OTHER) == 0 || (t->nbd && t->bd_bins[0])))
		return ifail(x, "not_supported",
			     "Actors of the Other or a histogram bucket are not supported yet");
	struct sn_buf w, sql;
	sn_buf_init(&w, 1 << 22);
	sn_buf_init(&sql, 1 << 22);
	bool first = strncmp(s->math, "first_", 6) == 0;
	rc = where_of(x, t, s, NULL, 0,
		      !first || strcmp(s->math, "first_matching_event_for_user") == 0, &w);
	if (rc == 0 && bv && t->nbd) {
		sn_buf_appends(&w, " AND ");
		bd_value(&w, t->bd_expr[0]);
		sn_buf_appends(&w, " = ");
		hq_str(&w, bv, strlen(bv));
	}
	if (rc == 0 && first) {
		rc = sn_buf_appendf(
		    &sql,
		    "SELECT actor, c FROM (SELECT toString(%s) AS actor, min(timestamp) AS "
		    "first_ts, count() AS c FROM events%s WHERE %s GROUP BY actor) WHERE "
		    "first_ts >= ",
		    actor_of(x, t, s), x->sample, w.data);
		dt_lit(&sql, lo);
		sn_buf_appends(&sql, " AND first_ts < ");
		dt_lit(&sql, hi);
	} else if (rc == 0) {
		rc =
		    sn_buf_appendf(&sql,
				   "SELECT toString(%s) AS actor, count() AS c FROM events%s WHERE "
				   "%s AND timestamp >= ",
				   actor_of(x, t, s), x->sample, w.data);
		dt_lit(&sql, lo);
		sn_buf_appends(&sql, " AND timestamp < ");
		dt_lit(&sql, hi);
		sn_buf_appends(&sql, " GROUP BY actor");
	}
	rc = rc ? rc : sn_buf_appendf(&sql, " ORDER BY c DESC, actor LIMIT %d", ACTORS_MAX);
	struct sn_insight_table tab;
	x->max_rows = ACTORS_MAX;
	if (rc == 0)
		rc = run_hogql(x, sql.data, sql.len, &tab);
	x->max_rows = 0;
	sn_buf_release(&w);
	sn_buf_release(&sql);
	for (size_t i = 0; rc == 0 && i < tab.nrows; i++) {
		const struct sn_insight_value *row = &tab.cells[i * tab.ncols];
		if (row[0].type != SN_IV_STRING || !row[0].slen)
			continue;
		rc = actor_push(x, out, row[0].s, row[0].slen, row[1].i);
	}
	return rc;
}
