/*
 * cohort.c — a PostHog dynamic cohort definition compiled to one HogQL
 * statement that lists its members:
 *
 *   SELECT id FROM persons AS person WHERE <the criteria as one boolean>
 *
 * The definition is a tree: groups {"type": "AND"|"OR", "values": [...]}
 * nested to any depth, with criteria at the leaves, each optionally
 * negated ("negation": true). Every leaf becomes a condition on one
 * person, so groups are plain AND / OR and negation is NOT:
 *
 *   person      <filters.c's expression of the property filter>, which reads
 *               person.properties.<key> — the alias `person` on persons makes
 *               that the person's own properties (no second property
 *               compiler); negated: not(ifNull(<expr>, 0))
 *   cohort      id [NOT] IN COHORT <id> (also precalculated-, static- and
 *               dynamic-cohort: IN COHORT reads either membership table)
 *   behavioral  id [NOT] IN (SELECT person_id FROM events WHERE <event or
 *               action> AND <event_filters> AND <window> GROUP BY person_id
 *               [HAVING <counts>]) — see the table in docs/INSIGHTS.md
 *               ("Cohorts") for each value's window and HAVING
 *
 * Each behavioural subquery runs once (the executor materialises IN
 * subqueries as a hash set of person ids, GROUP BY keeps that set one row
 * per person), and the persons scan tests every person against the sets.
 * Rejected: PostHog's set algebra (INTERSECT / EXCEPT / UNION DISTINCT of
 * one person-id SELECT per criterion): snout's executor has only UNION ALL,
 * and starting from persons makes any AND/OR/NOT tree exact without it.
 * Also rejected: PostHog's older single scan with one countIf column per
 * criterion joined to persons — a FULL OUTER JOIN the executor does not do
 * and whose NULL handling PostHog itself got wrong for OR groups.
 *
 * Negation follows PostHog's cohort query runner: a group is negated when
 * all its children are (AND), or when any is (OR, by De Morgan), and the
 * whole tree may not be negated ("a negated criterion needs a positive one
 * in an AND"). PostHog's editor is stricter (negation only inside AND groups
 * with a positive criterion); that is the editor's rule, not the query's.
 *
 * Windows are instants: "the last N days/weeks/months/years" is now minus N
 * on the team's wall clock (dateutil's relativedelta, as PostHog's
 * relative_date_parse; a year is 12 months), explicit_datetime[_to] are
 * parsed as an insight's date_from/date_to with PostHog's exact time range
 * (daterange.c). They are printed as toDateTime('<UTC>', 'UTC') to the
 * second, so the statement does not depend on the session's time zone.
 *
 * Legacy cohorts ("groups": [{properties | action_id | event_id, days,
 * count, count_operator}]) are converted as PostHog's Cohort.properties
 * does: an OR of one AND group each; property lists are person filters
 * (their old "event" type included), action/event groups are
 * performed_event (count 0) or performed_event_multiple within `days`
 * (default 365) days.
 *
 * filterTestAccounts adds the project's person test-account filters with an
 * AND, as PostHog's cohort query does (its event filters are dropped).
 *
 * Errors name the criterion by its path in the definition
 * ("properties.values[0].values[2]", "groups[1]") and what is wrong with it.
 */
#include "insights/insights_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COHORT_MAX_DEPTH   20
#define COHORT_MAX_PERIODS 1000	  /* performed_event_regularly's total_periods */
#define COHORT_MAX_TIME	   100000 /* time_value and friends */
#define PATH_MAX_LEN	   256

struct cc {
	struct ictx x;
	struct sn_insight_opts io;
};

static int cfail(struct cc *c, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfail(struct cc *c, const char *type, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ifail(&c->x, type, "%s", msg);
}

/* Prefixes the first error with the criterion it belongs to. */
static void locate(struct cc *c, const char *path, const char *what)
{
	struct sn_insight_error *e = c->x.err;
	if (!e->msg[0] || strncmp(e->msg, "Cohort criterion ", 17) == 0)
		return;
	char msg[sizeof(e->msg)];
	snprintf(msg, sizeof(msg), "Cohort criterion %s (%s): %s", path, what, e->msg);
	memcpy(e->msg, msg, sizeof(msg));
}

static const char *json_text(struct json_object *v)
{
	return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null";
}

/* PostHog's parse_and_validate_positive_integer: an integer (or its text)
 * above 0. */
static int pos_int(struct cc *c, struct json_object *f, const char *key, int64_t max, int64_t *out)
{
	struct json_object *v = jget(f, key);
	if (!v)
		return cfail(c, "validation_error", "%s is missing", key);
	int64_t n = 0;
	bool ok = false;
	if (json_object_is_type(v, json_type_int)) {
		n = json_object_get_int64(v);
		ok = true;
	} else if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		ok = d == (double)(int64_t)d;
		n = ok ? (int64_t)d : 0;
	} else if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		char *end = NULL;
		errno = 0;
		long long l = strtoll(s, &end, 10);
		while (end && isspace((unsigned char)*end))
			end++;
		ok = end != s && end && !*end && errno == 0;
		n = l;
	}
	if (!ok)
		return cfail(c, "validation_error", "%s must be an integer, got %s", key,
			     json_text(v));
	if (n <= 0)
		return cfail(c, "validation_error", "%s must be greater than 0, got %lld", key,
			     (long long)n);
	if (n > max)
		return cfail(c, "validation_error", "%s must be at most %lld, got %lld", key,
			     (long long)max, (long long)n);
	*out = n;
	return 0;
}

/* A time unit: minute hour day week month year (12 months). */
static int unit_of(struct cc *c, struct json_object *f, const char *key, enum interval *iv,
		   int *months_mult, int64_t *secs)
{
	static const struct {
		const char *name;
		enum interval iv;
		int mult;
		int64_t secs; /* PostHog's INTERVAL_TO_SECONDS */
	} units[] = {
	    {"minute", IV_MINUTE, 1, 60},    {"hour", IV_HOUR, 1, 3600},
	    {"day", IV_DAY, 1, 86400},	     {"week", IV_WEEK, 1, 604800},
	    {"month", IV_MONTH, 1, 2592000}, {"year", IV_MONTH, 12, 31536000},
	};
	const char *s = jstr(f, key);
	if (!s)
		return cfail(c, "validation_error", "%s is missing (day, week, month or year)",
			     key);
	for (size_t i = 0; i < SN_ARRAY_LEN(units); i++)
		if (strcmp(s, units[i].name) == 0) {
			*iv = units[i].iv;
			*months_mult = units[i].mult;
			if (secs)
				*secs = units[i].secs;
			return 0;
		}
	return cfail(c, "validation_error",
		     "%s must be minute, hour, day, week, month or year, got '%s'", key, s);
}

/* now minus <value_key> <unit_key> on the team's wall clock, as UTC µs. */
static int ago(struct cc *c, struct json_object *f, const char *value_key, const char *unit_key,
	       int64_t times, int64_t *out)
{
	int64_t n;
	enum interval iv;
	int mult;
	int rc = pos_int(c, f, value_key, COHORT_MAX_TIME, &n);
	rc = rc ? rc : unit_of(c, f, unit_key, &iv, &mult, NULL);
	if (rc)
		return rc;
	int64_t k = n * mult * times;
	if (k > 10 * COHORT_MAX_TIME * 12)
		return cfail(c, "validation_error", "%s %s reaches too far back", value_key,
			     unit_key);
	*out = utc_of_loc(c->x.tz, add_interval(c->x.now_loc, iv, -(int)k));
	return 0;
}

struct win {
	int64_t from, to; /* UTC µs, inclusive */
};

/* A relative date as PostHog writes them: -?N?[hdwmqysHDWMQY](Start|End)?.
 * (relative_date_parse reads anything else that is not a date as "now";
 * a cohort refuses it instead.) */
static bool relative_date(const char *s)
{
	if (*s == '-')
		s++;
	s += strspn(s, "0123456789");
	if (!*s || !strchr("hdwmqysHDWMQY", *s))
		return false;
	s++;
	return !*s || strcmp(s, "Start") == 0 || strcmp(s, "End") == 0;
}

/* The criterion's window: explicit_datetime[_to] as an insight date range
 * (exact), else the last time_value time_interval up to now. */
static int window(struct cc *c, struct json_object *f, struct win *w)
{
	const char *ex = jstr(f, "explicit_datetime");
	if (jget(f, "explicit_datetime") && !ex)
		return cfail(c, "validation_error", "explicit_datetime must be a string, got %s",
			     json_text(jget(f, "explicit_datetime")));
	if (ex && *ex) {
		const char *to = jstr(f, "explicit_datetime_to");
		if (jget(f, "explicit_datetime_to") && !to)
			return cfail(c, "validation_error",
				     "explicit_datetime_to must be a string, got %s",
				     json_text(jget(f, "explicit_datetime_to")));
		struct json_object *dr = json_object_new_object();
		if (!dr)
			return SN_ERR_NOMEM;
		json_object_object_add(dr, "date_from", json_object_new_string(ex));
		if (to && *to)
			json_object_object_add(dr, "date_to", json_object_new_string(to));
		struct drange r;
		int rc = dr_parse(&c->x, dr, IV_DAY, INT64_MIN, true, &r);
		json_object_put(dr);
		if (rc)
			return rc;
		if (r.from_relative && !relative_date(ex))
			return cfail(
			    c, "validation_error",
			    "explicit_datetime is not a date or a relative date like -30d: "
			    "'%s'",
			    ex);
		if (r.to_relative && !relative_date(to))
			return cfail(c, "validation_error",
				     "explicit_datetime_to is not a date or a relative date like "
				     "-30d: '%s'",
				     to);
		w->from = utc_of_loc(c->x.tz, r.from);
		w->to = utc_of_loc(c->x.tz, r.to);
		if (w->from > w->to)
			return cfail(c, "validation_error",
				     "explicit_datetime '%s' is after explicit_datetime_to", ex);
		return 0;
	}
	w->to = c->x.now_utc;
	return ago(c, f, "time_value", "time_interval", 1, &w->from);
}

/* toDateTime('<UTC wall clock>', 'UTC'), to the second. */
static int dt(struct sn_buf *b, int64_t utc)
{
	char buf[40];
	fmt_loc_dt(buf, sizeof(buf), utc);
	return sn_buf_appendf(b, "toDateTime('%s', 'UTC')", buf);
}

static int ts_cmp(struct sn_buf *b, const char *col, const char *op, int64_t utc)
{
	int rc = sn_buf_appendf(b, "%s %s ", col, op);
	return rc ? rc : dt(b, utc);
}

/* The event or action the criterion names (type_key: "events" |
 * "actions"; key_key: the event's name or the action's id). */
static int entity(struct cc *c, struct json_object *f, const char *type_key, const char *key_key,
		  struct sn_buf *b)
{
	const char *et = jstr(f, type_key);
	struct json_object *k = jget(f, key_key);
	if (!et)
		return cfail(c, "validation_error", "%s is missing (events or actions)", type_key);
	if (strcmp(et, "events") == 0) {
		const char *name = k && json_object_is_type(k, json_type_string)
				       ? json_object_get_string(k)
				       : NULL;
		if (!name || !*name)
			return cfail(c, "validation_error", "%s must name the event, got %s",
				     key_key, json_text(k));
		int rc = sn_buf_appends(b, "event = ");
		return rc ? rc : hq_str(b, name, strlen(name));
	}
	if (strcmp(et, "actions") == 0) {
		int64_t id = 0;
		int rc = pos_int(c, f, key_key, INT64_MAX, &id);
		if (rc)
			return rc;
		struct json_object *node = json_object_new_object();
		if (!node)
			return SN_ERR_NOMEM;
		json_object_object_add(node, "id", json_object_new_int64(id));
		const char *name = NULL;
		int64_t got = 0;
		rc = action_expr(&c->x, node, b, &name, &got);
		json_object_put(node);
		if (rc == SN_ERR_NOT_FOUND)
			return cfail(c, "validation_error", "the action %lld does not exist",
				     (long long)id);
		return rc;
	}
	return cfail(c, "validation_error", "%s must be 'events' or 'actions', got '%s'", type_key,
		     et);
}

/* " AND <event_filters>" when the criterion has any. */
static int event_filters(struct cc *c, struct json_object *f, struct sn_buf *b)
{
	struct json_object *ef = jget(f, "event_filters");
	if (!ef)
		return 0;
	struct sn_buf t;
	sn_buf_init(&t, b->max);
	int rc = hq_filters(&c->x, &t, ef);
	if (rc == 0 && !(t.len == 1 && t.data[0] == '1')) {
		rc = sn_buf_appends(b, " AND ");
		rc = rc ? rc : sn_buf_append(b, t.data, t.len);
	}
	sn_buf_release(&t);
	return rc;
}

/* PostHog's get_count_operator. */
static int count_op(struct cc *c, struct json_object *f, const char **sym)
{
	const char *op = jstr(f, "operator");
	struct json_object *v = jget(f, "operator");
	if (v && !op)
		return cfail(c, "validation_error", "operator must be a string, got %s",
			     json_text(v));
	if (!op || strcmp(op, "eq") == 0 || strcmp(op, "exact") == 0)
		*sym = "=";
	else if (strcmp(op, "gte") == 0)
		*sym = ">=";
	else if (strcmp(op, "lte") == 0)
		*sym = "<=";
	else if (strcmp(op, "gt") == 0)
		*sym = ">";
	else if (strcmp(op, "lt") == 0)
		*sym = "<";
	else
		return cfail(c, "validation_error",
			     "operator must be gte, lte, gt, lt or eq, got '%s'", op);
	return 0;
}

/* `id [NOT] IN (SELECT person_id FROM events WHERE w GROUP BY person_id
 * [HAVING h])`. */
static int in_events(struct sn_buf *b, bool neg, const struct sn_buf *w, const struct sn_buf *h)
{
	int rc = sn_buf_appends(b, neg ? "id NOT IN (SELECT person_id FROM events WHERE "
				       : "id IN (SELECT person_id FROM events WHERE ");
	rc = rc ? rc : sn_buf_append(b, w->data, w->len);
	rc = rc ? rc : sn_buf_appends(b, " GROUP BY person_id");
	if (rc == 0 && h && h->len) {
		rc = sn_buf_appends(b, " HAVING ");
		rc = rc ? rc : sn_buf_append(b, h->data, h->len);
	}
	return rc ? rc : sn_buf_appendc(b, ')');
}

/* The event, its filters and [from, to]: "(<entity>) AND <filters> AND
 * timestamp >= from AND timestamp <= to". from/to may be INT64_MIN to
 * leave that side open. */
static int base_where(struct cc *c, struct json_object *f, struct sn_buf *w, int64_t from,
		      int64_t to, bool filters)
{
	int rc = sn_buf_appendc(w, '(');
	rc = rc ? rc : entity(c, f, "event_type", "key", w);
	rc = rc ? rc : sn_buf_appendc(w, ')');
	if (rc == 0 && filters)
		rc = event_filters(c, f, w);
	if (rc == 0 && from != INT64_MIN) {
		rc = sn_buf_appends(w, " AND ");
		rc = rc ? rc : ts_cmp(w, "timestamp", ">=", from);
	}
	if (rc == 0 && to != INT64_MIN) {
		rc = sn_buf_appends(w, " AND ");
		rc = rc ? rc : ts_cmp(w, "timestamp", "<=", to);
	}
	return rc;
}

/* performed_event_sequence: the event, then seq_event within
 * seq_time_value seq_time_interval (PostHog's funnel window in seconds:
 * a month is 30 days), both inside the window; two different events. */
static int sequence(struct cc *c, struct json_object *f, struct sn_buf *b, bool neg,
		    const struct win *win)
{
	int64_t n, secs;
	enum interval iv;
	int mult;
	int rc = pos_int(c, f, "seq_time_value", COHORT_MAX_TIME, &n);
	rc = rc ? rc : unit_of(c, f, "seq_time_interval", &iv, &mult, &secs);
	if (rc)
		return rc;
	struct sn_buf w1, w2;
	sn_buf_init(&w1, b->max);
	sn_buf_init(&w2, b->max);
	rc = base_where(c, f, &w1, win->from, win->to, true);
	rc = rc ? rc : sn_buf_appendc(&w2, '(');
	rc = rc ? rc : entity(c, f, "seq_event_type", "seq_event", &w2);
	rc = rc ? rc : sn_buf_appends(&w2, ") AND ");
	rc = rc ? rc : ts_cmp(&w2, "timestamp", ">=", win->from);
	rc = rc ? rc : sn_buf_appends(&w2, " AND ");
	rc = rc ? rc : ts_cmp(&w2, "timestamp", "<=", win->to);
	rc = rc ? rc
		: sn_buf_appends(b, neg ? "id NOT IN (SELECT s1.person_id FROM (SELECT person_id, "
					  "timestamp, uuid FROM events WHERE "
					: "id IN (SELECT s1.person_id FROM (SELECT person_id, "
					  "timestamp, uuid FROM events WHERE ");
	rc = rc ? rc : sn_buf_append(b, w1.data, w1.len);
	rc = rc ? rc
		: sn_buf_appends(b, ") AS s1 INNER JOIN (SELECT person_id, timestamp, uuid FROM "
				    "events WHERE ");
	rc = rc ? rc : sn_buf_append(b, w2.data, w2.len);
	rc = rc ? rc
		: sn_buf_appendf(b,
				 ") AS s2 ON s1.person_id = s2.person_id WHERE s2.timestamp >= "
				 "s1.timestamp AND s2.timestamp <= s1.timestamp + INTERVAL %lld "
				 "SECOND AND s1.uuid != s2.uuid GROUP BY s1.person_id)",
				 (long long)(n * secs));
	sn_buf_release(&w1);
	sn_buf_release(&w2);
	return rc;
}

static int behavioral(struct cc *c, struct json_object *f, struct sn_buf *b, bool neg,
		      const char *value)
{
	struct sn_buf w, h;
	sn_buf_init(&w, b->max);
	sn_buf_init(&h, b->max);
	struct win win;
	int rc = 0;
	if (strcmp(value, "performed_event") == 0) {
		rc = window(c, f, &win);
		rc = rc ? rc : base_where(c, f, &w, win.from, win.to, true);
		rc = rc ? rc : in_events(b, neg, &w, NULL);
	} else if (strcmp(value, "performed_event_multiple") == 0) {
		const char *sym;
		int64_t n;
		rc = count_op(c, f, &sym);
		rc = rc ? rc : pos_int(c, f, "operator_value", INT64_MAX / 2, &n);
		rc = rc ? rc : window(c, f, &win);
		rc = rc ? rc : base_where(c, f, &w, win.from, win.to, true);
		rc = rc ? rc : sn_buf_appendf(&h, "count() %s %lld", sym, (long long)n);
		rc = rc ? rc : in_events(b, neg, &w, &h);
	} else if (strcmp(value, "performed_event_first_time") == 0) {
		/* The first matching event ever lies in the window; with
		 * event_filters, that first event must pass them (ties at the
		 * same instant: any of them), as trends' first_time_for_user. */
		rc = window(c, f, &win);
		rc = rc ? rc : base_where(c, f, &w, INT64_MIN, win.to, false);
		rc = rc ? rc : ts_cmp(&h, "min(timestamp)", ">=", win.from);
		if (rc == 0) {
			struct sn_buf ef;
			sn_buf_init(&ef, b->max);
			rc = event_filters(c, f, &ef);
			if (rc == 0 && ef.len) /* " AND <expr>" */
				rc = sn_buf_appendf(&h,
						    " AND minIf(timestamp, %.*s) = min(timestamp)",
						    (int)(ef.len - 5), ef.data + 5);
			sn_buf_release(&ef);
		}
		rc = rc ? rc : in_events(b, neg, &w, &h);
	} else if (strcmp(value, "performed_event_regularly") == 0) {
		/* operator operator_value times in each of total_periods periods
		 * of time_value time_interval ending now, in at least
		 * min_periods of them (period k: (now - (k+1)·T, now - k·T]). */
		const char *sym;
		int64_t v, minp, total;
		rc = count_op(c, f, &sym);
		rc = rc ? rc : pos_int(c, f, "operator_value", INT64_MAX / 2, &v);
		rc = rc ? rc : pos_int(c, f, "min_periods", COHORT_MAX_PERIODS, &minp);
		rc = rc ? rc : pos_int(c, f, "total_periods", COHORT_MAX_PERIODS, &total);
		if (rc == 0 && minp > total)
			rc = cfail(c, "validation_error",
				   "min_periods (%lld) cannot be greater than total_periods (%lld)",
				   (long long)minp, (long long)total);
		int64_t *edge = NULL;
		if (rc == 0 && !(edge = sn_arena_alloc(c->x.a, (size_t)(total + 1) * 8)))
			rc = SN_ERR_NOMEM;
		if (rc == 0)
			edge[0] = c->x.now_utc;
		for (int64_t k = 1; rc == 0 && k <= total; k++)
			rc = ago(c, f, "time_value", "time_interval", k, &edge[k]);
		rc = rc ? rc : base_where(c, f, &w, INT64_MIN, c->x.now_utc, true);
		rc = rc ? rc : sn_buf_appends(&w, " AND ");
		rc = rc ? rc : ts_cmp(&w, "timestamp", ">", edge ? edge[total] : 0);
		rc = rc ? rc : sn_buf_appendc(&h, '(');
		for (int64_t k = 0; rc == 0 && k < total; k++) {
			rc = sn_buf_appends(&h, k ? " + if(countIf(" : "if(countIf(");
			rc = rc ? rc : ts_cmp(&h, "timestamp", ">", edge[k + 1]);
			rc = rc ? rc : sn_buf_appends(&h, " AND ");
			rc = rc ? rc : ts_cmp(&h, "timestamp", "<=", edge[k]);
			rc = rc ? rc : sn_buf_appendf(&h, ") %s %lld, 1, 0)", sym, (long long)v);
		}
		rc = rc ? rc : sn_buf_appendf(&h, ") >= %lld", (long long)minp);
		rc = rc ? rc : in_events(b, neg, &w, &h);
	} else if (strcmp(value, "stopped_performing_event") == 0 ||
		   strcmp(value, "restarted_performing_event") == 0) {
		/* time_value: how far back; seq_time_value: the recent part.
		 * stopped: did it since T, not since S. restarted: did it
		 * before T, not between T and S, and again since S. */
		int64_t t_from, s_from;
		rc = ago(c, f, "time_value", "time_interval", 1, &t_from);
		rc = rc ? rc : ago(c, f, "seq_time_value", "seq_time_interval", 1, &s_from);
		if (rc == 0 && s_from < t_from)
			rc = cfail(c, "validation_error",
				   "seq_time_value seq_time_interval must not reach further back "
				   "than time_value time_interval");
		bool stopped = value[0] == 's';
		rc = rc ? rc
			: base_where(c, f, &w, stopped ? t_from : INT64_MIN, c->x.now_utc, true);
		if (rc == 0 && stopped) {
			rc = sn_buf_appends(&h, "countIf(");
			rc = rc ? rc : ts_cmp(&h, "timestamp", ">=", s_from);
			rc = rc ? rc : sn_buf_appends(&h, ") = 0");
		} else if (rc == 0) {
			rc = sn_buf_appends(&h, "countIf(");
			rc = rc ? rc : ts_cmp(&h, "timestamp", "<", t_from);
			rc = rc ? rc : sn_buf_appends(&h, ") > 0 AND countIf(");
			rc = rc ? rc : ts_cmp(&h, "timestamp", ">=", t_from);
			rc = rc ? rc : sn_buf_appends(&h, " AND ");
			rc = rc ? rc : ts_cmp(&h, "timestamp", "<", s_from);
			rc = rc ? rc : sn_buf_appends(&h, ") = 0 AND countIf(");
			rc = rc ? rc : ts_cmp(&h, "timestamp", ">=", s_from);
			rc = rc ? rc : sn_buf_appends(&h, ") > 0");
		}
		rc = rc ? rc : in_events(b, neg, &w, &h);
	} else if (strcmp(value, "performed_event_sequence") == 0) {
		rc = window(c, f, &win);
		rc = rc ? rc : sequence(c, f, b, neg, &win);
	} else {
		rc = cfail(c, "not_supported",
			   "behavioral criteria '%s' are not supported (performed_event, "
			   "performed_event_multiple, performed_event_first_time, "
			   "performed_event_regularly, performed_event_sequence, "
			   "stopped_performing_event, restarted_performing_event are)",
			   value);
	}
	sn_buf_release(&w);
	sn_buf_release(&h);
	return rc;
}

static int person(struct cc *c, struct json_object *f, struct sn_buf *b, bool neg)
{
	struct json_object *one = json_object_new_array();
	if (!one)
		return SN_ERR_NOMEM;
	json_object_array_add(one, json_object_get(f));
	struct sn_buf t;
	sn_buf_init(&t, b->max);
	int rc = hq_filters(&c->x, &t, one);
	json_object_put(one);
	/* A list of one filter comes back as "(<filter>)": the group's
	 * parentheses go, the filter's own stay. */
	const char *e = t.data;
	size_t n = t.len;
	if (rc == 0 && n >= 2 && e[0] == '(' && e[n - 1] == ')')
		e++, n -= 2;
	if (rc == 0 && neg) {
		rc = sn_buf_appends(b, "not(ifNull(");
		rc = rc ? rc : sn_buf_append(b, e, n);
		rc = rc ? rc : sn_buf_appends(b, ", 0))");
	} else if (rc == 0) {
		rc = sn_buf_append(b, e, n);
	}
	sn_buf_release(&t);
	return rc;
}

static int leaf(struct cc *c, struct json_object *f, struct sn_buf *b, const char *path, bool *neg)
{
	const char *type = jstr(f, "type");
	struct json_object *nv = jget(f, "negation");
	if (nv && !json_object_is_type(nv, json_type_boolean)) {
		cfail(c, "validation_error", "negation must be true or false, got %s",
		      json_text(nv));
		locate(c, path, type ? type : "criterion");
		return SN_ERR_INVALID;
	}
	*neg = nv && json_object_get_boolean(nv);
	int rc;
	char what[96];
	snprintf(what, sizeof(what), "%s", type ? type : "untyped");
	if (!type) {
		rc = cfail(c, "validation_error",
			   "a criterion needs a 'type' (person, behavioral or cohort)");
	} else if (strcmp(type, "person") == 0) {
		rc = person(c, f, b, *neg);
	} else if (strcmp(type, "behavioral") == 0) {
		const char *value = jstr(f, "value");
		if (value)
			snprintf(what, sizeof(what), "behavioral %s", value);
		rc = value ? behavioral(c, f, b, *neg, value)
			   : cfail(c, "validation_error",
				   "a behavioral criterion needs a 'value' such as "
				   "performed_event");
	} else if (strcmp(type, "cohort") == 0 || strcmp(type, "precalculated-cohort") == 0 ||
		   strcmp(type, "static-cohort") == 0 || strcmp(type, "dynamic-cohort") == 0) {
		int64_t id;
		rc = pos_int(c, f, "value", INT64_MAX, &id);
		rc = rc ? rc
			: sn_buf_appendf(b, "id %sIN COHORT %lld", *neg ? "NOT " : "",
					 (long long)id);
	} else {
		rc = cfail(c, "not_supported",
			   "criteria of type '%s' are not supported (person, behavioral and "
			   "cohort are)",
			   type);
	}
	if (rc == SN_ERR_INVALID)
		locate(c, path, what);
	return rc;
}

static int node(struct cc *c, struct json_object *n, struct sn_buf *b, const char *path, int depth,
		bool *neg);

/* A group: its children joined by AND / OR. Negated (for PostHog's rule)
 * when all its children are (AND) or any is (OR, De Morgan). */
static int group(struct cc *c, struct json_object *vals, bool is_or, struct sn_buf *b,
		 const char *path, int depth, bool *neg)
{
	size_t n = json_object_array_length(vals);
	if (depth > COHORT_MAX_DEPTH)
		return cfail(c, "validation_error", "Cohort criteria at %s nest too deeply", path);
	if (n == 0)
		return cfail(c, "validation_error", "Cohort group %s has no criteria", path);
	bool all_neg = true, all_pos = true;
	int rc = sn_buf_appendc(b, '(');
	for (size_t i = 0; i < n && rc == 0; i++) {
		char cp[PATH_MAX_LEN];
		snprintf(cp, sizeof(cp), "%s.values[%zu]", path, i);
		if (i)
			rc = sn_buf_appends(b, is_or ? " OR " : " AND ");
		bool cn = false;
		rc = rc ? rc : node(c, json_object_array_get_idx(vals, i), b, cp, depth + 1, &cn);
		all_neg = all_neg && cn;
		all_pos = all_pos && !cn;
	}
	*neg = is_or ? !all_pos : all_neg;
	return rc ? rc : sn_buf_appendc(b, ')');
}

static int node(struct cc *c, struct json_object *n, struct sn_buf *b, const char *path, int depth,
		bool *neg)
{
	if (!n || !json_object_is_type(n, json_type_object))
		return cfail(c, "validation_error", "Cohort criterion %s must be an object", path);
	const char *t = jstr(n, "type");
	struct json_object *vals = jget(n, "values");
	if (t && (strcmp(t, "AND") == 0 || strcmp(t, "OR") == 0)) {
		if (!vals || !json_object_is_type(vals, json_type_array))
			return cfail(c, "validation_error", "Cohort group %s needs a 'values' list",
				     path);
		return group(c, vals, t[0] == 'O', b, path, depth, neg);
	}
	return leaf(c, n, b, path, neg);
}

/* ---- legacy groups ---------------------------------------------------------------- */

/* One legacy group as a new-style AND group (a new object the caller puts),
 * or NULL with err set. */
static struct json_object *legacy_group(struct cc *c, struct json_object *g, const char *path)
{
	struct json_object *props = jget(g, "properties");
	struct json_object *out = json_object_new_object(), *vals = json_object_new_array();
	if (!out || !vals) {
		json_object_put(out);
		json_object_put(vals);
		return NULL;
	}
	json_object_object_add(out, "type", json_object_new_string("AND"));
	json_object_object_add(out, "values", vals);
	bool has_props =
	    props &&
	    ((json_object_is_type(props, json_type_array) && json_object_array_length(props) > 0) ||
	     (json_object_is_type(props, json_type_object) &&
	      json_object_object_length(props) > 0));
	struct json_object *aid = jget(g, "action_id"), *eid = jget(g, "event_id");
	bool use_action = aid && json_object_get_int64(aid) != 0; /* Python's `or` */
	if (has_props && json_object_is_type(props, json_type_array)) {
		/* PostHog's kludge: "event" (or no type) in a group means person. */
		for (size_t i = 0; i < json_object_array_length(props); i++) {
			struct json_object *p = json_object_array_get_idx(props, i);
			if (!p || !json_object_is_type(p, json_type_object)) {
				cfail(c, "validation_error",
				      "Cohort criterion %s.properties[%zu] must be an object", path,
				      i);
				json_object_put(out);
				return NULL;
			}
			struct json_object *cp = NULL;
			if (json_object_deep_copy(p, &cp, NULL) != 0) {
				json_object_put(out);
				return NULL;
			}
			const char *t = jstr(cp, "type");
			if (!t || strcmp(t, "event") == 0)
				json_object_object_add(cp, "type",
						       json_object_new_string("person"));
			json_object_array_add(vals, cp);
		}
	} else if (has_props && (jget(props, "values") || jget(props, "type"))) {
		/* a new-style group inside a legacy one */
		json_object_array_add(vals, json_object_get(props));
	} else if (has_props) {
		/* old-old {key: value}: person properties, exact */
		json_object_object_foreach(props, key, val)
		{
			struct json_object *p = json_object_new_object();
			json_object_object_add(p, "key", json_object_new_string(key));
			json_object_object_add(p, "value", json_object_get(val));
			json_object_object_add(p, "type", json_object_new_string("person"));
			json_object_array_add(vals, p);
		}
	} else if (use_action || (eid && json_object_is_type(eid, json_type_string) &&
				  *json_object_get_string(eid))) {
		struct json_object *count = jget(g, "count"), *days = jget(g, "days");
		int64_t n = 0, d;
		bool has_days = days && /* `days or 365`: 0 and "" are missing */
				!(json_object_is_type(days, json_type_int) &&
				  json_object_get_int64(days) == 0) &&
				!(json_object_is_type(days, json_type_string) &&
				  !*json_object_get_string(days));
		if (has_days && pos_int(c, g, "days", COHORT_MAX_TIME, &d)) {
			locate(c, path, eid && !use_action ? "event_id" : "action_id");
			json_object_put(out);
			return NULL;
		}
		if (count && json_object_is_type(count, json_type_string))
			n = strtoll(json_object_get_string(count), NULL, 10);
		else if (count)
			n = json_object_get_int64(count);
		if (n < 0)
			n = 0;
		struct json_object *p = json_object_new_object();
		json_object_object_add(p, "type", json_object_new_string("behavioral"));
		json_object_object_add(
		    p, "value",
		    json_object_new_string(n ? "performed_event_multiple" : "performed_event"));
		json_object_object_add(p, "event_type",
				       json_object_new_string(use_action ? "actions" : "events"));
		json_object_object_add(p, "key", json_object_get(use_action ? aid : eid));
		json_object_object_add(p, "time_interval", json_object_new_string("day"));
		json_object_object_add(p, "time_value",
				       has_days ? json_object_get(days) : json_object_new_int(365));
		struct json_object *op = jget(g, "count_operator");
		if (op)
			json_object_object_add(p, "operator", json_object_get(op));
		json_object_object_add(p, "operator_value", json_object_new_int64(n));
		json_object_array_add(vals, p);
	} else {
		cfail(c, "validation_error",
		      "Cohort group %s has neither properties nor an action_id or event_id", path);
		json_object_put(out);
		return NULL;
	}
	return out;
}

static int legacy(struct cc *c, struct json_object *groups, struct sn_buf *b, bool *neg)
{
	size_t n = json_object_array_length(groups);
	bool all_pos = true;
	int rc = sn_buf_appendc(b, '(');
	for (size_t i = 0; i < n && rc == 0; i++) {
		char path[PATH_MAX_LEN];
		snprintf(path, sizeof(path), "groups[%zu]", i);
		struct json_object *g = json_object_array_get_idx(groups, i);
		if (!g || !json_object_is_type(g, json_type_object)) {
			rc =
			    cfail(c, "validation_error", "Cohort group %s must be an object", path);
			break;
		}
		struct json_object *conv = legacy_group(c, g, path);
		if (!conv) {
			rc = c->x.err->msg[0] ? SN_ERR_INVALID : SN_ERR_NOMEM;
			break;
		}
		bool cn = false;
		if (i)
			rc = sn_buf_appends(b, " OR ");
		rc = rc ? rc : node(c, conv, b, path, 1, &cn);
		all_pos = all_pos && !cn;
		json_object_put(conv);
	}
	*neg = !all_pos;
	return rc ? rc : sn_buf_appendc(b, ')');
}

/* filterTestAccounts: " AND <the project's person test-account filters>"
 * (PostHog's cohort query keeps only the person ones: event filters have no
 * meaning for a person, and a cohort filter could name the cohort itself). */
static int test_accounts(struct cc *c, struct sn_buf *b)
{
	struct json_object *all = c->io.team.test_account_filters;
	if (!all || !json_object_is_type(all, json_type_array))
		return 0;
	struct json_object *mine = json_object_new_array();
	if (!mine)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < json_object_array_length(all); i++) {
		struct json_object *f = json_object_array_get_idx(all, i);
		const char *t = jstr(f, "type");
		if (t && strcmp(t, "person") == 0)
			json_object_array_add(mine, json_object_get(f));
	}
	int rc = 0;
	if (json_object_array_length(mine) > 0) {
		rc = sn_buf_appends(b, " AND ");
		rc = rc ? rc : hq_filters(&c->x, b, mine);
		if (rc == SN_ERR_INVALID)
			locate(c, "filterTestAccounts", "the project's test account filters");
	}
	json_object_put(mine);
	return rc;
}

int sn_cohort_compile(const struct sn_cohort_compile_opts *o, struct json_object *filters,
		      struct json_object *groups, struct sn_arena *a, struct sn_buf *out,
		      struct sn_insight_error *err)
{
	memset(err, 0, sizeof(*err));
	struct cc c;
	memset(&c, 0, sizeof(c));
	c.io.team = o->team;
	c.io.now_us = o->now_us;
	c.io.action = o->action;
	c.io.action_ctx = o->action_ctx;
	c.x.o = &c.io;
	c.x.a = a;
	c.x.err = err;
	c.x.tz = o->team.timezone && o->team.timezone[0] ? o->team.timezone : "UTC";
	c.x.now_utc = o->now_us ? o->now_us : sn_now_us();
	c.x.now_loc = loc_of_utc(c.x.tz, c.x.now_utc);

	size_t start = out->len;
	struct json_object *props = jget(filters, "properties");
	bool neg = false;
	int rc = sn_buf_appends(out, "SELECT id FROM persons AS person WHERE ");
	if (rc) {
	} else if (props && json_object_is_type(props, json_type_array)) {
		rc = group(&c, props, false, out, "properties", 0, &neg);
	} else if (props) {
		rc = node(&c, props, out, "properties", 0, &neg);
	} else if (groups && json_object_is_type(groups, json_type_array) &&
		   json_object_array_length(groups) > 0) {
		rc = legacy(&c, groups, out, &neg);
	} else if (filters && !json_object_is_type(filters, json_type_object)) {
		rc = cfail(&c, "validation_error", "A cohort's filters must be an object");
	} else {
		rc = cfail(&c, "validation_error",
			   "The cohort has no criteria: filters.properties is missing and there "
			   "are no groups");
	}
	if (rc == 0 && !neg && jbool(filters, "filterTestAccounts"))
		rc = test_accounts(&c, out);
	if (rc == 0 && neg)
		rc = cfail(&c, "validation_error",
			   "The cohort's criteria are negated as a whole: a negated criterion "
			   "must be in an AND group with a positive one (PostHog: top level "
			   "condition cannot be negated)");
	if (rc && !err->msg[0])
		cfail(&c, "query_error", "The cohort definition is too large to compile (%s)",
		      sn_strerror(rc));
	if (rc) {
		out->len = start; /* nothing half-written */
		if (out->data)
			out->data[out->len] = 0;
	}
	return rc;
}
