/*
 * series.c — what stickiness and lifecycle share about a series node
 * (EventsNode / ActionsNode): its condition, its label, its WHERE with the
 * query's filters, and the bucket expression of an interval.
 *
 * Trends and funnels keep their own richer series structs (maths,
 * breakdowns, first-time steps); moving them onto this one is a later
 * clean-up, not a behaviour change.
 */
#include "insights/insights_internal.h"

#include <stdio.h>
#include <string.h>

int series_ref_parse(struct ictx *x, struct json_object *node, const char *where,
		     struct series_ref *s)
{
	memset(s, 0, sizeof(*s));
	const char *kind = jstr(node, "kind");
	if (!kind || (strcmp(kind, "EventsNode") != 0 && strcmp(kind, "ActionsNode") != 0))
		return ifail(x, "validation_error", "%s.kind must be EventsNode or ActionsNode",
			     where);
	s->node = node;
	s->custom_name = jstr(node, "custom_name");
	s->props = jget(node, "properties");
	s->math = jstr(node, "math");
	struct json_object *gi = jget(node, "math_group_type_index");
	s->math_gti = gi ? json_object_get_int(gi) : -1;
	if (s->math_gti < -1 || s->math_gti > 4)
		return ifail(x, "validation_error", "%s.math_group_type_index must be 0 to 4",
			     where);
	if (strcmp(kind, "ActionsNode") == 0) {
		struct sn_buf b;
		sn_buf_init(&b, 1 << 22);
		s->is_action = true;
		int rc = action_expr(x, node, &b, &s->action_name, &s->action_id);
		if (rc == 0 && !(s->action = sn_arena_strndup(x->a, b.data, b.len)))
			rc = SN_ERR_NOMEM;
		sn_buf_release(&b);
		if (rc == SN_ERR_NOT_FOUND)
			s->missing = true;
		else if (rc)
			return rc;
		return 0;
	}
	struct json_object *ev = jget(node, "event");
	if (ev && !json_object_is_type(ev, json_type_string))
		return ifail(x, "validation_error", "%s.event must be a string or null", where);
	s->event = ev ? json_object_get_string(ev) : NULL;
	return 0;
}

const char *series_label(const struct series_ref *s)
{
	if (s->is_action)
		return s->action_name ? s->action_name : "";
	return s->event ? s->event : "All events";
}

int series_where(struct ictx *x, struct sn_buf *b, const struct series_ref *s,
		 struct json_object *q)
{
	int rc = 0;
	if (s->is_action)
		rc = sn_buf_appends(b, s->action ? s->action : "0");
	else if (s->event) {
		rc = sn_buf_appends(b, "event = ");
		rc = rc ? rc : hq_str(b, s->event, strlen(s->event));
	} else
		rc = sn_buf_appends(b, "1");
	struct json_object *props[] = {
	    s->props, jget(q, "properties"),
	    jbool(q, "filterTestAccounts") ? x->o->team.test_account_filters : NULL};
	for (size_t i = 0; i < SN_ARRAY_LEN(props) && rc == 0; i++) {
		struct json_object *p = props[i];
		if (!p || (json_object_is_type(p, json_type_array) && !json_object_array_length(p)))
			continue;
		rc = sn_buf_appends(b, " AND ");
		rc = rc ? rc : hq_filters(x, b, p);
	}
	return rc;
}

int bucket_of(struct sn_buf *b, enum interval iv, int week_start, const char *col)
{
	switch (iv) {
	case IV_MINUTE: return sn_buf_appendf(b, "toStartOfMinute(%s)", col);
	case IV_HOUR: return sn_buf_appendf(b, "toStartOfHour(%s)", col);
	case IV_DAY: return sn_buf_appendf(b, "toStartOfDay(%s)", col);
	case IV_WEEK:
		return sn_buf_appendf(b, "toStartOfWeek(%s, %d)", col, week_start == 1 ? 3 : 0);
	case IV_MONTH: return sn_buf_appendf(b, "toStartOfMonth(%s)", col);
	}
	return 0;
}

int interval_of(struct ictx *x, const char *s, enum interval *iv)
{
	static const char *const names[] = {"minute", "hour", "day", "week", "month"};
	if (!s) {
		*iv = IV_DAY;
		return 0;
	}
	for (int i = 0; i < 5; i++)
		if (strcmp(s, names[i]) == 0) {
			*iv = (enum interval)i;
			return 0;
		}
	return ifail(x, "validation_error",
		     "interval must be one of minute, hour, day, week, month (got '%s')", s);
}

const char *interval_name(enum interval iv)
{
	static const char *const names[] = {"minute", "hour", "day", "week", "month"};
	return names[iv];
}

int64_t local_of_cell(struct ictx *x, const struct sn_insight_value *v)
{
	if (v->type == SN_IV_DATE)
		return v->i * US_DAY;
	if (v->type == SN_IV_DATETIME)
		return loc_of_utc(x->tz, v->i);
	return INT64_MIN;
}

int range_of(struct ictx *x, struct json_object *q, enum interval iv, bool exact, struct drange *r)
{
	struct json_object *dr = jget(q, "dateRange");
	int64_t earliest = INT64_MIN;
	int rc;
	if (dr_is_all(dr)) {
		struct sn_insight_table tab;
		static const char sql[] = "SELECT min(timestamp) FROM events";
		if ((rc = run_hogql(x, sql, sizeof(sql) - 1, &tab)))
			return rc;
		if (tab.nrows && tab.ncols && tab.cells[0].type == SN_IV_DATETIME)
			earliest = tab.cells[0].i;
	}
	if ((rc = dr_parse(x, dr, iv, earliest, exact, r)))
		return rc;
	return dr_buckets(x, r, x->o->team.week_start_day);
}
