/*
 * insights_saved.c — PostHog's saved insights (posthog_dashboarditem) and
 * the result cache (snout_query_cache) in the SQLite metadata backend:
 * validation of the query node an insight holds, create / change / soft
 * delete with activity-log entries (scope "Insight"), membership of
 * dashboards (posthog_dashboardtile rows), the list, and the cache rows
 * that hold computed results.
 *
 *   body ──validate──▶ apply(row as JSON) ──diff──▶ changes[] ─┐ same tx
 *            │                 │                               ▼
 *            │                 ▼                        posthog_activitylog
 *            │        posthog_dashboarditem ──query changed──▶ DELETE cache rows
 *            └─ "dashboards": [ids] ──▶ posthog_dashboardtile (add / soft delete)
 *
 * As in actions.c, a row being changed is a small JSON object of its
 * editable fields (name, derived_name, description, tags, favorited, saved,
 * deleted, query, filters), so applying a PATCH and the activity log's
 * before/after are one loop.
 *
 * The query is checked here only as far as its shape: a kind snout
 * answers, wrappers around one, HogQL text present, series a list. Whether
 * the query then computes (an unknown event property is fine, a bad HogQL
 * expression is not) is found out when it runs, above meta.
 *
 * The result cache is keyed by (team, cache key); the key is computed above
 * meta from the effective query, so a changed query simply misses. A change
 * of an insight's query or filters still deletes the rows it wrote (in the
 * update's transaction), so going back to an old query recomputes rather
 * than showing an old answer, and the table does not keep dead results.
 * Rows older than a week go when new rows are written. Rejected: an
 * in-memory cache — results would not survive a restart and a dashboard's
 * first view after one would be cold.
 *
 * short_id: 8 characters of [A-Za-z0-9] (PostHog's alphabet and length),
 * unique per team; a collision (one in 2^47 per pair) retries.
 */
#include "meta/meta_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INS_COLS                                                                        \
	"id, team_id, short_id, name, derived_name, description, filters, query, tags," \
	" favorited, saved, deleted, created_by_id, last_modified_by_id, created_at,"   \
	" updated_at, last_modified_at"
#define SCOPE	       "Insight"
#define PAGE_MAX       1000
#define TEXT_MAX       (64 * 1024)
#define TAGS_MAX       100
#define DASHBOARDS_MAX 200
#define CACHE_KEEP_US  ((int64_t)7 * 24 * 3600 * 1000000)

/* ---- validation ------------------------------------------------------------------- */

/* The first six are what an InsightVizNode may wrap; EventsQuery is a
 * DataTableNode's (PostHog's event table), as HogQLQuery is. */
static const char *const insight_kinds[] = {
    "TrendsQuery", "FunnelsQuery", "StickinessQuery",	 "LifecycleQuery", "RetentionQuery",
    "PathsQuery",  "ActorsQuery",  "InsightActorsQuery", "EventsQuery"};
static const char *const series_kinds[] = {"TrendsQuery", "FunnelsQuery", "StickinessQuery",
					   "LifecycleQuery"};
static const char *const intervals[] = {"minute", "hour", "day", "week", "month"};

int sn_meta_check_tags(struct json_object *body, struct sn_meta_verr *ve)
{
	struct json_object *v = sn_json_get(body, "tags");
	if (sn_meta_json_is_null(v))
		return 0;
	if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) > TAGS_MAX)
		return sn_meta_verr_set(ve, "not_a_list", "tags",
					"Expected a list of at most %d strings.", TAGS_MAX);
	for (size_t i = 0; i < json_object_array_length(v); i++)
		if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
			return sn_meta_verr_set(ve, "invalid", "tags", "tags[%zu] must be a string",
						i);
	return 0;
}

int sn_meta_check_string(struct json_object *body, const char *name, bool nullable,
			 size_t max_chars, struct sn_meta_verr *ve)
{
	struct json_object *v;
	if (!json_object_object_get_ex(body, name, &v))
		return 0;
	if (!v) {
		if (nullable)
			return 0;
		return sn_meta_verr_set(ve, "null", name, "This field may not be null.");
	}
	if (!json_object_is_type(v, json_type_string))
		return sn_meta_verr_set(ve, "invalid", name, "Not a valid string.");
	size_t n = 0;
	const char *s = sn_json_str(v, &n);
	if (n > TEXT_MAX || (max_chars && sn_meta_utf8_chars(s, n) > max_chars))
		return sn_meta_verr_set(ve, "max_length", name,
					"Ensure this field has no more than %zu characters.",
					max_chars ? max_chars : (size_t)TEXT_MAX);
	return 0;
}

int sn_meta_check_bool(struct json_object *body, const char *name, struct sn_meta_verr *ve)
{
	struct json_object *v;
	if (json_object_object_get_ex(body, name, &v) && !json_object_is_type(v, json_type_boolean))
		return sn_meta_verr_set(ve, "invalid", name, "Must be a valid boolean.");
	return 0;
}

/* One runnable node (not a wrapper); at = "query" or "query.source". */
static int check_node(struct json_object *q, const char *at, struct sn_meta_verr *ve)
{
	char attr[64];
	if (!json_object_is_type(q, json_type_object))
		return sn_meta_verr_set(ve, "invalid_input", at, "%s must be a query node object",
					at);
	const char *kind = sn_json_str(sn_json_get(q, "kind"), NULL);
	snprintf(attr, sizeof(attr), "%s.kind", at);
	if (!kind)
		return sn_meta_verr_set(ve, "required", attr, "%s is required", attr);
	if (!strcmp(kind, "HogQLQuery")) {
		snprintf(attr, sizeof(attr), "%s.query", at);
		size_t n = 0;
		const char *text = sn_json_str(sn_json_get(q, "query"), &n);
		if (!text || strspn(text, " \t\r\n") == n)
			return sn_meta_verr_set(ve, "required", attr,
						"%s must be the HogQL text of the query", attr);
		return 0;
	}
	if (!sn_meta_in_list(kind, insight_kinds, SN_ARRAY_LEN(insight_kinds)))
		return sn_meta_verr_set(
		    ve, "unsupported_kind", attr,
		    "query kind '%s' is not supported (HogQLQuery, TrendsQuery, "
		    "FunnelsQuery, RetentionQuery, PathsQuery, StickinessQuery, "
		    "LifecycleQuery, ActorsQuery, EventsQuery and the wrappers InsightVizNode, "
		    "DataTableNode, DataVisualizationNode are)",
		    kind);
	struct json_object *v = sn_json_get(q, "series");
	snprintf(attr, sizeof(attr), "%s.series", at);
	if (sn_meta_in_list(kind, series_kinds, SN_ARRAY_LEN(series_kinds))) {
		if (!v)
			return sn_meta_verr_set(ve, "required", attr, "%s is required for %s", attr,
						kind);
		if (!json_object_is_type(v, json_type_array))
			return sn_meta_verr_set(ve, "not_a_list", attr,
						"%s must be a list of nodes", attr);
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_object))
				return sn_meta_verr_set(ve, "invalid_input", attr,
							"%s[%zu] must be an object", attr, i);
	}
	v = sn_json_get(q, "dateRange");
	snprintf(attr, sizeof(attr), "%s.dateRange", at);
	if (!sn_meta_json_is_null(v) && !json_object_is_type(v, json_type_object))
		return sn_meta_verr_set(ve, "invalid_input", attr, "%s must be an object", attr);
	v = sn_json_get(q, "properties");
	snprintf(attr, sizeof(attr), "%s.properties", at);
	if (!sn_meta_json_is_null(v) && !json_object_is_type(v, json_type_array) &&
	    !json_object_is_type(v, json_type_object))
		return sn_meta_verr_set(ve, "invalid_input", attr,
					"%s must be a list of filters or a filter group", attr);
	v = sn_json_get(q, "interval");
	snprintf(attr, sizeof(attr), "%s.interval", at);
	if (!sn_meta_json_is_null(v) &&
	    !sn_meta_in_list(sn_json_str(v, NULL), intervals, SN_ARRAY_LEN(intervals)))
		return sn_meta_verr_set(ve, "invalid_choice", attr,
					"%s must be one of minute, hour, day, week, month", attr);
	return 0;
}

int sn_meta_insight_validate_query(struct json_object *q, struct sn_meta_verr *ve)
{
	if (!json_object_is_type(q, json_type_object))
		return sn_meta_verr_set(ve, "invalid_input", "query",
					"query must be a query node object with a kind");
	const char *kind = sn_json_str(sn_json_get(q, "kind"), NULL);
	if (!kind)
		return sn_meta_verr_set(ve, "required", "query.kind", "query.kind is required");
	bool viz = !strcmp(kind, "InsightVizNode");
	bool table = !strcmp(kind, "DataTableNode") || !strcmp(kind, "DataVisualizationNode");
	if (!viz && !table)
		return check_node(q, "query", ve);
	struct json_object *src = sn_json_get(q, "source");
	if (!json_object_is_type(src, json_type_object))
		return sn_meta_verr_set(ve, "required", "query.source",
					"query.source must be the query node %s wraps", kind);
	const char *sk = sn_json_str(sn_json_get(src, "kind"), NULL);
	if (viz && sk && !sn_meta_in_list(sk, insight_kinds, 6))
		return sn_meta_verr_set(ve, "invalid_input", "query.source.kind",
					"an InsightVizNode wraps an insight query (TrendsQuery, "
					"FunnelsQuery, ...), not '%s'",
					sk);
	return check_node(src, "query.source", ve);
}

int sn_meta_insight_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve)
{
	(void)partial; /* every field of an insight is optional */
	if (ve)
		memset(ve, 0, sizeof(*ve));
	if (!json_object_is_type(body, json_type_object))
		return sn_meta_verr_set(ve, "parse_error", NULL, "the body must be a JSON object");
	int rc;
	if ((rc = sn_meta_check_string(body, "name", true, SN_INSIGHT_NAME_MAX, ve)) ||
	    (rc = sn_meta_check_string(body, "derived_name", true, SN_INSIGHT_NAME_MAX, ve)) ||
	    (rc = sn_meta_check_string(body, "description", true, 0, ve)) ||
	    (rc = sn_meta_check_bool(body, "favorited", ve)) ||
	    (rc = sn_meta_check_bool(body, "saved", ve)) ||
	    (rc = sn_meta_check_bool(body, "deleted", ve)) || (rc = sn_meta_check_tags(body, ve)))
		return rc;
	struct json_object *v = sn_json_get(body, "query");
	if (!sn_meta_json_is_null(v) && (rc = sn_meta_insight_validate_query(v, ve)))
		return rc;
	v = sn_json_get(body, "filters");
	if (!sn_meta_json_is_null(v) && !json_object_is_type(v, json_type_object))
		return sn_meta_verr_set(ve, "invalid", "filters", "filters must be an object");
	v = sn_json_get(body, "dashboards");
	if (!sn_meta_json_is_null(v)) {
		if (!json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) > DASHBOARDS_MAX)
			return sn_meta_verr_set(ve, "not_a_list", "dashboards",
						"Expected a list of at most %d dashboard ids.",
						DASHBOARDS_MAX);
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct json_object *d = json_object_array_get_idx(v, i);
			if (!json_object_is_type(d, json_type_int) || json_object_get_int64(d) <= 0)
				return sn_meta_verr_set(ve, "incorrect_type", "dashboards",
							"Incorrect type. Expected pk value.");
		}
	}
	return 0;
}

/* ---- rows ------------------------------------------------------------------------- */

void sn_meta_insight_release(struct sn_meta_insight *i)
{
	if (!i)
		return;
	free(i->name);
	free(i->derived_name);
	free(i->description);
	json_object_put(i->tags);
	json_object_put(i->query);
	json_object_put(i->filters);
	json_object_put(i->dashboard_tiles);
	memset(i, 0, sizeof(*i));
}

/* The JSON value of column i, or NULL for SQL NULL / text that does not
 * parse (never happens for rows this file wrote). */
static struct json_object *column_json(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	struct json_object *o = NULL;
	if (t && sn_json_parse(t, (size_t)sqlite3_column_bytes(s, i), &o, NULL))
		o = NULL;
	return o;
}

static char *column_strdup_or_null(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	return t ? strdup(t) : NULL;
}

static int read_row(sqlite3_stmt *s, struct sn_meta_insight *o)
{
	memset(o, 0, sizeof(*o));
	o->id = sqlite3_column_int64(s, 0);
	o->team_id = sqlite3_column_int64(s, 1);
	sn_sqlite_column_text(s, 2, o->short_id, sizeof(o->short_id));
	o->name = column_strdup_or_null(s, 3);
	o->derived_name = column_strdup_or_null(s, 4);
	o->description = column_strdup_or_null(s, 5);
	o->filters = column_json(s, 6);
	o->query = column_json(s, 7);
	o->tags = column_json(s, 8);
	o->favorited = sqlite3_column_int(s, 9) != 0;
	o->saved = sqlite3_column_int(s, 10) != 0;
	o->deleted = sqlite3_column_int(s, 11) != 0;
	o->created_by = sqlite3_column_int64(s, 12);
	o->last_modified_by = sqlite3_column_int64(s, 13);
	o->created_at_us = sqlite3_column_int64(s, 14);
	o->updated_at_us = sqlite3_column_int64(s, 15);
	o->last_modified_at_us = sqlite3_column_int64(s, 16);
	if (!o->description)
		o->description = strdup("");
	if (!json_object_is_type(o->filters, json_type_object)) {
		json_object_put(o->filters);
		o->filters = json_object_new_object();
	}
	if (!json_object_is_type(o->tags, json_type_array)) {
		json_object_put(o->tags);
		o->tags = json_object_new_array();
	}
	o->dashboard_tiles = json_object_new_array();
	if (!o->description || !o->filters || !o->tags || !o->dashboard_tiles) {
		sn_meta_insight_release(o);
		return SN_ERR_NOMEM;
	}
	return 0;
}

/* The insight's live tiles on live dashboards, as PostHog's
 * DashboardTileBasicSerializer: [{id, dashboard_id, deleted}]. */
static int load_tiles(sqlite3 *db, struct sn_meta_insight *o, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db,
				   "SELECT t.id, t.dashboard_id FROM posthog_dashboardtile t JOIN"
				   " posthog_dashboard d ON d.id = t.dashboard_id WHERE"
				   " t.insight_id = ?1 AND t.deleted = 0 AND d.deleted = 0 AND"
				   " d.team_id = ?2 ORDER BY t.id",
				   &s, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, o->id);
	sqlite3_bind_int64(s, 2, o->team_id);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct json_object *t = json_object_new_object();
		json_object_object_add(t, "id", json_object_new_int64(sqlite3_column_int64(s, 0)));
		json_object_object_add(t, "dashboard_id",
				       json_object_new_int64(sqlite3_column_int64(s, 1)));
		json_object_object_add(t, "deleted", json_object_new_boolean(0));
		json_object_array_add(o->dashboard_tiles, t);
	}
	if (rc != SQLITE_DONE)
		ret = sn_meta_sql_err(db, rc, err, "reading an insight's tiles");
	sqlite3_finalize(s);
	return ret;
}

static int get_locked(sqlite3 *db, int64_t team_id, int64_t id, struct sn_meta_insight *out,
		      struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *s = NULL;
	int ret =
	    sn_meta_sql_prep(db,
			     "SELECT " INS_COLS " FROM posthog_dashboarditem WHERE team_id = ?1"
			     " AND id = ?2",
			     &s, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if ((ret = read_row(s, out)))
			sn_err_set(err, ret, "out of memory");
	} else if (rc == SQLITE_DONE) {
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	} else {
		ret = sn_meta_sql_err(db, rc, err, "reading an insight");
	}
	sqlite3_finalize(s);
	if (ret == 0 && (ret = load_tiles(db, out, err)))
		sn_meta_insight_release(out);
	return ret;
}

static struct json_object *str_or_null(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static struct json_object *row_json(const struct sn_meta_insight *i)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", str_or_null(i->name));
	json_object_object_add(o, "derived_name", str_or_null(i->derived_name));
	json_object_object_add(o, "description",
			       json_object_new_string(i->description ? i->description : ""));
	json_object_object_add(o, "tags",
			       i->tags ? json_object_get(i->tags) : json_object_new_array());
	json_object_object_add(o, "favorited", json_object_new_boolean(i->favorited));
	json_object_object_add(o, "saved", json_object_new_boolean(i->saved));
	json_object_object_add(o, "deleted", json_object_new_boolean(i->deleted));
	json_object_object_add(o, "query", json_object_get(i->query));
	json_object_object_add(o, "filters",
			       i->filters ? json_object_get(i->filters) : json_object_new_object());
	return o;
}

static const char *const fields[] = {"name",  "derived_name", "description", "tags",   "favorited",
				     "saved", "deleted",      "query",	     "filters"};

/* Applies body's fields to row; records each real change in changes (may be
 * NULL). Returns whether a "material" field (name, description, query,
 * filters: PostHog's last_modified_at fields) changed. */
static bool apply(struct json_object *row, struct json_object *body, struct json_object *changes)
{
	bool material = false;
	for (size_t i = 0; i < SN_ARRAY_LEN(fields); i++) {
		struct json_object *v;
		if (!json_object_object_get_ex(body, fields[i], &v))
			continue;
		struct json_object *nv;
		if (!strcmp(fields[i], "tags"))
			nv = sn_meta_json_is_null(v) ? json_object_new_array() : json_object_get(v);
		else if (!strcmp(fields[i], "filters"))
			nv =
			    sn_meta_json_is_null(v) ? json_object_new_object() : json_object_get(v);
		else if (!strcmp(fields[i], "description"))
			nv = sn_meta_json_is_null(v) ? json_object_new_string("")
						     : json_object_get(v);
		else
			nv = json_object_get(v); /* name, derived_name, query: null stays null */
		struct json_object *old = sn_json_get(row, fields[i]);
		if (json_object_equal(old, nv)) {
			json_object_put(nv);
			continue;
		}
		if (!strcmp(fields[i], "name") || !strcmp(fields[i], "description") ||
		    !strcmp(fields[i], "query") || !strcmp(fields[i], "filters"))
			material = true;
		if (changes)
			sn_meta_activity_change(changes, SCOPE, "changed", fields[i],
						json_object_get(old), json_object_get(nv));
		json_object_object_add(row, fields[i], nv);
	}
	return material;
}

static void bind_json_or_null(sqlite3_stmt *s, int i, struct json_object *v)
{
	if (sn_meta_json_is_null(v))
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, sn_meta_json_text(v), -1, SQLITE_TRANSIENT);
}

/* Binds ?3..?11: name, derived_name, description, filters, query, tags,
 * favorited, saved, deleted. */
static void bind_row(sqlite3_stmt *s, struct json_object *row)
{
	const char *name = sn_json_str(sn_json_get(row, "name"), NULL);
	const char *dname = sn_json_str(sn_json_get(row, "derived_name"), NULL);
	if (name)
		sqlite3_bind_text(s, 3, name, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 3);
	if (dname)
		sqlite3_bind_text(s, 4, dname, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, 4);
	sqlite3_bind_text(s, 5, sn_json_str(sn_json_get(row, "description"), NULL), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 6, sn_meta_json_text(sn_json_get(row, "filters")), -1,
			  SQLITE_TRANSIENT);
	bind_json_or_null(s, 7, sn_json_get(row, "query"));
	sqlite3_bind_text(s, 8, sn_meta_json_text(sn_json_get(row, "tags")), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 9, json_object_get_boolean(sn_json_get(row, "favorited")));
	sqlite3_bind_int(s, 10, json_object_get_boolean(sn_json_get(row, "saved")));
	sqlite3_bind_int(s, 11, json_object_get_boolean(sn_json_get(row, "deleted")));
}

/* The name the activity log shows: name, else derived_name. */
static const char *log_name(struct json_object *row)
{
	const char *n = sn_json_str(sn_json_get(row, "name"), NULL);
	return n && *n ? n : sn_json_str(sn_json_get(row, "derived_name"), NULL);
}

/* One activity entry for the insight, with its short id in the detail as
 * PostHog's Detail(short_id=...) has it. */
static int log_activity(sqlite3 *db, int64_t team_id, int64_t user_id, int64_t id,
			const char *short_id, const char *activity, const char *name,
			struct json_object *changes, int64_t now, struct sn_err *err)
{
	int ret = sn_meta_activity_write(db, team_id, user_id, SCOPE, id, activity, name, changes,
					 now, err);
	if (ret)
		return ret;
	sqlite3_stmt *s = NULL;
	ret = sn_meta_sql_prep(
	    db,
	    "UPDATE posthog_activitylog SET detail = json_set(detail, '$.short_id',"
	    " ?1) WHERE id = last_insert_rowid()",
	    &s, err);
	if (ret)
		return ret;
	sqlite3_bind_text(s, 1, short_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		ret = sn_meta_sql_err(db, rc, err, "writing the activity log");
	sqlite3_finalize(s);
	return ret;
}

static int exec_bind2(sqlite3 *db, const char *sql, int64_t a, int64_t b, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db, sql, &s, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = sn_meta_sql_err(db, rc, err, "changing tiles");
	sqlite3_finalize(s);
	return ret;
}

/* Whether dashboard id is a live dashboard of the team. */
static int dashboard_live(sqlite3 *db, int64_t team_id, int64_t id, bool *live, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db,
				   "SELECT 1 FROM posthog_dashboard WHERE team_id = ?1 AND id = ?2"
				   " AND deleted = 0",
				   &s, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, id);
	int rc = sqlite3_step(s);
	*live = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		ret = sn_meta_sql_err(db, rc, err, "reading a dashboard");
	sqlite3_finalize(s);
	return ret;
}

static bool ids_contain(struct json_object *arr, int64_t id)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
		if (json_object_get_int64(json_object_array_get_idx(arr, i)) == id)
			return true;
	return false;
}

/* The dashboard ids of the insight's live tiles (a new array). */
static struct json_object *tile_dashboards(struct json_object *tiles)
{
	struct json_object *out = json_object_new_array();
	for (size_t i = 0; tiles && i < json_object_array_length(tiles); i++)
		json_object_array_add(
		    out, json_object_new_int64(json_object_get_int64(
			     sn_json_get(json_object_array_get_idx(tiles, i), "dashboard_id"))));
	return out;
}

/* Makes the insight's live dashboards exactly want (deduplicated ids): new
 * ones get a tile (a soft-deleted tile of the pair is restored), dropped
 * ones have their tile soft-deleted. *changed says whether anything did. */
static int set_dashboards(sqlite3 *db, int64_t team_id, int64_t insight_id,
			  struct json_object *have, struct json_object *want, bool *changed,
			  struct sn_meta_verr *ve)
{
	int ret = 0;
	*changed = false;
	for (size_t i = 0; ret == 0 && i < json_object_array_length(want); i++) {
		int64_t d = json_object_get_int64(json_object_array_get_idx(want, i));
		if (ids_contain(have, d))
			continue;
		bool live = false;
		if ((ret = dashboard_live(db, team_id, d, &live, &ve->err)))
			break;
		if (!live)
			return sn_meta_verr_set(ve, "does_not_exist", "dashboards",
						"Invalid pk \"%lld\" - object does not exist.",
						(long long)d);
		/* Restore the newest soft-deleted tile of the pair, else add one. */
		sqlite3_stmt *s = NULL;
		ret = sn_meta_sql_prep(db,
				       "UPDATE posthog_dashboardtile SET deleted = 0 WHERE id ="
				       " (SELECT MAX(id) FROM posthog_dashboardtile WHERE"
				       " dashboard_id = ?1 AND insight_id = ?2)",
				       &s, &ve->err);
		if (ret)
			break;
		sqlite3_bind_int64(s, 1, d);
		sqlite3_bind_int64(s, 2, insight_id);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			ret = sn_meta_sql_err(db, rc, &ve->err, "adding a tile");
			break;
		}
		if (sqlite3_changes(db) == 0)
			ret = exec_bind2(db,
					 "INSERT INTO posthog_dashboardtile (dashboard_id,"
					 " insight_id) VALUES (?1, ?2)",
					 d, insight_id, &ve->err);
		*changed = true;
	}
	for (size_t i = 0; ret == 0 && i < json_object_array_length(have); i++) {
		int64_t d = json_object_get_int64(json_object_array_get_idx(have, i));
		if (ids_contain(want, d))
			continue;
		ret = exec_bind2(db,
				 "UPDATE posthog_dashboardtile SET deleted = 1 WHERE dashboard_id ="
				 " ?1 AND insight_id = ?2",
				 d, insight_id, &ve->err);
		*changed = true;
	}
	return ret;
}

/* want without duplicates, in the caller's order (a new array). */
static struct json_object *dedup_ids(struct json_object *in)
{
	struct json_object *out = json_object_new_array();
	for (size_t i = 0; in && i < json_object_array_length(in); i++) {
		int64_t d = json_object_get_int64(json_object_array_get_idx(in, i));
		if (!ids_contain(out, d))
			json_object_array_add(out, json_object_new_int64(d));
	}
	return out;
}

static int drop_cached(sqlite3 *db, int64_t team_id, int64_t insight_id, struct sn_err *err)
{
	return exec_bind2(db,
			  "DELETE FROM snout_query_cache WHERE team_id = ?1 AND insight_id = ?2",
			  team_id, insight_id, err);
}

int sn_meta_insight_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			   struct json_object *body, struct sn_meta_insight *out,
			   struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_insight_validate(body, false, ve);
	if (ret)
		return ret;
	struct sn_meta_insight defaults = {.description = ""};
	struct json_object *row = row_json(&defaults);
	apply(row, body, NULL);
	json_object_object_add(row, "deleted", json_object_new_boolean(0));
	struct json_object *want = dedup_ids(sn_json_get(body, "dashboards"));
	int64_t now = sn_now_us(), id = 0;
	char short_id[SN_INSIGHT_SHORT_ID_LEN + 1] = "";
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sn_meta_tx_begin(db);
	for (int attempt = 0; ret == 0 && id == 0 && attempt < 5; attempt++) {
		sqlite3_stmt *s = NULL;
		sn_random_token(short_id, sizeof(short_id), "", SN_INSIGHT_SHORT_ID_LEN);
		ret = sn_meta_sql_prep(
		    db,
		    "INSERT INTO posthog_dashboarditem (team_id, short_id, name, derived_name,"
		    " description, filters, query, tags, favorited, saved, deleted, created_by_id,"
		    " last_modified_by_id, created_at, updated_at, last_modified_at) VALUES (?1, "
		    "?2,"
		    " ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?13, ?13)",
		    &s, &ve->err);
		if (ret)
			break;
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_text(s, 2, short_id, -1, SQLITE_STATIC);
		bind_row(s, row);
		if (user_id > 0)
			sqlite3_bind_int64(s, 12, user_id);
		sqlite3_bind_int64(s, 13, now);
		int rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc == SQLITE_DONE)
			id = sqlite3_last_insert_rowid(db);
		else if (sn_sqlite_rc(sqlite3_extended_errcode(db)) != SN_ERR_EXISTS)
			ret = sn_meta_sql_err(db, rc, &ve->err, "creating an insight");
	}
	if (ret == 0 && id == 0)
		ret = sn_err_set(&ve->err, SN_ERR_INTERNAL, "could not find a free short_id");
	bool changed = false;
	struct json_object *none = json_object_new_array();
	if (ret == 0)
		ret = set_dashboards(db, team_id, id, none, want, &changed, ve);
	json_object_put(none);
	if (ret == 0) {
		struct json_object *changes = json_object_new_array();
		sn_meta_activity_change(changes, SCOPE, "created", NULL, NULL, NULL);
		ret = log_activity(db, team_id, user_id, id, short_id, "created", log_name(row),
				   changes, now, &ve->err);
	}
	if (ret == 0)
		ret = get_locked(db, team_id, id, out, &ve->err);
	ret = sn_meta_tx_end(db, ret, &ve->err);
	sn_meta_sqlite_unlock(m);
	json_object_put(row);
	json_object_put(want);
	if (ret)
		sn_meta_insight_release(out);
	return ret;
}

int sn_meta_insight_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_meta_insight *out,
			struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = get_locked(db, team_id, id, out, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_insight_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			   struct json_object *body, struct sn_meta_insight *out,
			   struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_insight_validate(body, true, ve);
	if (ret)
		return ret;
	struct sn_meta_insight cur = {0};
	struct json_object *row = NULL, *changes = json_object_new_array(), *have = NULL,
			   *want = NULL;
	int64_t now = sn_now_us();
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	ret = get_locked(db, team_id, id, &cur, &ve->err);
	struct json_object *del = sn_json_get(body, "deleted");
	if (ret == 0 && cur.deleted && !(del && !json_object_get_boolean(del)))
		ret = sn_err_set(&ve->err, SN_ERR_NOT_FOUND, "Not found.");
	if (ret)
		goto out;
	row = row_json(&cur);
	bool material = apply(row, body, changes);
	bool deleted = json_object_get_boolean(sn_json_get(row, "deleted"));
	have = tile_dashboards(cur.dashboard_tiles);
	struct json_object *dv = sn_json_get(body, "dashboards");
	if (deleted && !cur.deleted) {
		/* PostHog: deleting an insight deletes its tiles, dashboards are ignored. */
		ret =
		    exec_bind2(db,
			       "UPDATE posthog_dashboardtile SET deleted = 1 WHERE insight_id = ?2"
			       " AND ?1 = ?1",
			       team_id, id, &ve->err);
	} else if (dv && !deleted) {
		want = dedup_ids(dv);
		bool changed = false;
		ret = set_dashboards(db, team_id, id, have, want, &changed, ve);
		if (ret == 0 && changed)
			sn_meta_activity_change(changes, SCOPE, "changed", "dashboards",
						json_object_get(have), json_object_get(want));
	}
	if (ret || json_object_array_length(changes) == 0)
		goto out;
	ret =
	    sn_meta_sql_prep(db,
			     "UPDATE posthog_dashboarditem SET name = ?3, derived_name = ?4,"
			     " description = ?5, filters = ?6, query = ?7, tags = ?8,"
			     " favorited = ?9, saved = ?10, deleted = ?11, updated_at = ?12,"
			     " last_modified_at = CASE WHEN ?13 THEN ?12 ELSE last_modified_at END,"
			     " last_modified_by_id = CASE WHEN ?13 AND ?14 > 0 THEN ?14 ELSE"
			     " last_modified_by_id END WHERE team_id = ?1 AND id = ?2",
			     &s, &ve->err);
	if (ret)
		goto out;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, id);
	bind_row(s, row);
	sqlite3_bind_int64(s, 12, now);
	sqlite3_bind_int(s, 13, material);
	sqlite3_bind_int64(s, 14, user_id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = sn_meta_sql_err(db, rc, &ve->err, "updating an insight");
		goto out;
	}
	if (!json_object_equal(sn_json_get(row, "query"), cur.query) ||
	    !json_object_equal(sn_json_get(row, "filters"), cur.filters))
		ret = drop_cached(db, team_id, id, &ve->err);
	if (ret == 0)
		ret = log_activity(db, team_id, user_id, id, cur.short_id,
				   deleted && !cur.deleted ? "deleted" : "updated", log_name(row),
				   json_object_get(changes), now, &ve->err);
out:
	sqlite3_finalize(s);
	if (ret == 0)
		ret = get_locked(db, team_id, id, out, &ve->err);
	ret = sn_meta_tx_end(db, ret, &ve->err);
	sn_meta_sqlite_unlock(m);
	sn_meta_insight_release(&cur);
	json_object_put(row);
	json_object_put(changes);
	json_object_put(have);
	json_object_put(want);
	if (ret)
		sn_meta_insight_release(out);
	return ret;
}

int sn_meta_insight_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			   struct sn_err *err)
{
	struct json_object *body = json_object_new_object();
	json_object_object_add(body, "deleted", json_object_new_boolean(1));
	struct sn_meta_verr ve;
	struct sn_meta_insight i;
	int ret = sn_meta_insight_update(m, team_id, id, user_id, body, &i, &ve);
	json_object_put(body);
	if (ret == 0)
		sn_meta_insight_release(&i);
	else
		sn_err_set(err, ret, "%s", ve.err.msg);
	return ret;
}

#define LIST_WHERE                                                                             \
	" FROM posthog_dashboarditem i WHERE i.team_id = ?1 AND i.deleted = 0 AND"             \
	" (?2 IS NULL OR instr(lower(COALESCE(i.name, '')), lower(?2)) > 0 OR"                 \
	" instr(lower(COALESCE(i.derived_name, '')), lower(?2)) > 0 OR"                        \
	" instr(lower(i.description), lower(?2)) > 0 OR instr(lower(i.tags), lower(?2)) > 0)"  \
	" AND (?3 IS NULL OR i.short_id = ?3) AND (?4 < 0 OR i.favorited = ?4) AND"            \
	" (?5 = 0 OR i.created_by_id = ?5) AND (?6 < 0 OR (?6 = 0 AND i.saved = 0) OR (?6 = 1" \
	" AND (i.saved = 1 OR EXISTS (SELECT 1 FROM posthog_dashboardtile t JOIN"              \
	" posthog_dashboard d ON d.id = t.dashboard_id WHERE t.insight_id = i.id AND"          \
	" t.deleted = 0 AND d.deleted = 0))))"

struct list_filter {
	int64_t team_id;
	const struct sn_meta_insight_list_opts *o;
};

static void bind_list(sqlite3_stmt *s, const void *ctx)
{
	const struct list_filter *f = ctx;
	const struct sn_meta_insight_list_opts *o = f->o;
	sqlite3_bind_int64(s, 1, f->team_id);
	if (o->search && *o->search)
		sqlite3_bind_text(s, 2, o->search, -1, SQLITE_STATIC);
	if (o->short_id && *o->short_id)
		sqlite3_bind_text(s, 3, o->short_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, o->favorited);
	sqlite3_bind_int64(s, 5, o->created_by);
	sqlite3_bind_int(s, 6, o->saved);
}

static int read_list_row(sqlite3_stmt *s, void *row)
{
	return read_row(s, row);
}

int sn_meta_insight_list(struct sn_meta *m, int64_t team_id,
			 const struct sn_meta_insight_list_opts *o, int64_t *total,
			 int (*fn)(void *arg, const struct sn_meta_insight *i), void *arg,
			 struct sn_err *err)
{
	struct list_filter f = {team_id, o};
	const struct sn_meta_page pg = {
	    .count_sql = "SELECT COUNT(*)" LIST_WHERE,
	    .page_sql = "SELECT i.id, i.team_id, i.short_id, i.name, i.derived_name,"
			" i.description, i.filters, i.query, i.tags, i.favorited,"
			" i.saved, i.deleted, i.created_by_id, i.last_modified_by_id,"
			" i.created_at, i.updated_at, i.last_modified_at" LIST_WHERE
			" ORDER BY i.id DESC LIMIT ?7 OFFSET ?8",
	    .limit_param = 7,
	    .max = PAGE_MAX,
	    .bind = bind_list,
	    .bind_ctx = &f,
	    .row_size = sizeof(struct sn_meta_insight),
	    .read = read_list_row,
	    .what = "counting insights",
	};
	const struct sn_meta_list_opts lo = {.offset = o->offset, .limit = o->limit};
	struct sn_meta_insight *rows = NULL;
	size_t n = 0;
	int ret = sn_meta_list_page(m, &pg, &lo, total, &rows, &n, err);
	if (ret == 0 && n) {
		sqlite3 *db = sn_meta_sqlite_lock(m);
		for (size_t i = 0; ret == 0 && i < n; i++)
			ret = load_tiles(db, &rows[i], err);
		sn_meta_sqlite_unlock(m);
	}
	bool stop = false;
	for (size_t i = 0; i < n; i++) {
		if (!stop && ret == 0 && fn(arg, &rows[i]) != 0)
			stop = true;
		sn_meta_insight_release(&rows[i]);
	}
	free(rows);
	return ret;
}

/* ---- the result cache -------------------------------------------------------------- */

void sn_meta_cached_result_release(struct sn_meta_cached_result *c)
{
	if (!c)
		return;
	free(c->response);
	memset(c, 0, sizeof(*c));
}

int sn_meta_result_cache_get(struct sn_meta *m, int64_t team_id, const char *key,
			     struct sn_meta_cached_result *out, struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db,
				   "SELECT response, last_refresh, COALESCE(target_age, 0) FROM"
				   " snout_query_cache WHERE team_id = ?1 AND cache_key = ?2",
				   &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			out->len = (size_t)sqlite3_column_bytes(s, 0);
			out->response = malloc(out->len + 1);
			if (out->response) {
				memcpy(out->response, sqlite3_column_text(s, 0), out->len);
				out->response[out->len] = 0;
			} else {
				ret = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
			}
			out->last_refresh_us = sqlite3_column_int64(s, 1);
			out->target_age_us = sqlite3_column_int64(s, 2);
		} else if (rc == SQLITE_DONE) {
			ret = sn_err_set(err, SN_ERR_NOT_FOUND, "nothing cached");
		} else {
			ret = sn_meta_sql_err(db, rc, err, "reading the result cache");
		}
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_result_cache_put(struct sn_meta *m, int64_t team_id, const char *key,
			     int64_t insight_id, int64_t dashboard_id,
			     const struct sn_meta_cached_result *r, struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	int ret = sn_meta_sql_prep(
	    db,
	    "INSERT INTO snout_query_cache (team_id, cache_key, insight_id, dashboard_id,"
	    " response, last_refresh, target_age) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT (team_id, cache_key) DO UPDATE SET insight_id = excluded.insight_id,"
	    " dashboard_id = excluded.dashboard_id, response = excluded.response,"
	    " last_refresh = excluded.last_refresh, target_age = excluded.target_age",
	    &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
		if (insight_id > 0)
			sqlite3_bind_int64(s, 3, insight_id);
		if (dashboard_id > 0)
			sqlite3_bind_int64(s, 4, dashboard_id);
		sqlite3_bind_text(s, 5, r->response, (int)r->len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, r->last_refresh_us);
		if (r->target_age_us > 0)
			sqlite3_bind_int64(s, 7, r->target_age_us);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "writing the result cache");
	}
	sqlite3_finalize(s);
	s = NULL;
	if (ret == 0 &&
	    (ret = sn_meta_sql_prep(db, "DELETE FROM snout_query_cache WHERE last_refresh < ?1", &s,
				    err)) == 0) {
		sqlite3_bind_int64(s, 1, sn_now_us() - CACHE_KEEP_US);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "trimming the result cache");
	}
	sqlite3_finalize(s);
	ret = sn_meta_tx_end(db, ret, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}
