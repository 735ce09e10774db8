/*
 * dashboards.c — PostHog's dashboards in the SQLite metadata backend: the
 * dashboard (posthog_dashboard), its tiles (posthog_dashboardtile), text
 * cards (posthog_text) and the secret link that shares it
 * (posthog_sharingconfiguration). Validation, create / change / soft delete
 * with activity-log entries (scope "Dashboard"), tile edits, the list, and
 * the token lookup of the public link.
 *
 *   posthog_dashboard 1──* posthog_dashboardtile *──1 posthog_dashboarditem (insight)
 *          │                        └──────────0..1 posthog_text (card body)
 *          └──0..1 posthog_sharingconfiguration (enabled, access_token)
 *
 * A tile holds either an insight or a text card. Insight tiles are made by
 * PATCHing the insight's "dashboards" (insights_saved.c), as in PostHog;
 * here a dashboard's PATCH edits tiles it already has (layouts, color,
 * deleted) and creates or changes text cards. A deleted tile keeps its
 * row: removing an insight from a dashboard and adding it back restores
 * it. Soft-deleting a dashboard leaves its tiles as they are: every reader
 * joins the dashboard and skips deleted ones, so a restore shows exactly the
 * tiles it had. (PostHog marks all tiles deleted and a restore undeletes all
 * of them, bringing back tiles removed before the delete.)
 *
 * As in actions.c, the editable fields (name, description, pinned, tags,
 * filters, deleted) are handled as a small JSON object while they change,
 * which gives the activity log's before/after for free.
 *
 * The share token is 32 characters of [A-Za-z0-9] (about 190 bits) from
 * libsodium. It is looked up by the unique index on access_token; the only
 * lookup here that takes no team id, because the token is the credential.
 * Rejected: deriving the token from the dashboard id with a server secret —
 * a leaked link could then not be revoked by rotating it.
 */
#include "meta/meta_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DASH_COLS                                                                         \
	"id, team_id, name, description, pinned, filters, tags, deleted, created_by_id,"  \
	" created_at, COALESCE(last_accessed_at, 0), EXISTS (SELECT 1 FROM"               \
	" posthog_sharingconfiguration s WHERE s.dashboard_id = posthog_dashboard.id AND" \
	" s.enabled = 1)"
#define SCOPE	 "Dashboard"
#define PAGE_MAX 1000

/* ---- validation ------------------------------------------------------------------- */

static int check_filters(struct json_object *body, struct sn_meta_verr *ve)
{
	struct json_object *f = sn_json_get(body, "filters");
	if (sn_meta_json_is_null(f))
		return 0;
	if (!json_object_is_type(f, json_type_object))
		return sn_meta_verr_set(ve, "invalid", "filters", "Filters must be a dictionary");
	static const char *const dates[] = {"date_from", "date_to"};
	for (size_t i = 0; i < SN_ARRAY_LEN(dates); i++) {
		struct json_object *v = sn_json_get(f, dates[i]);
		if (!sn_meta_json_is_null(v) && !json_object_is_type(v, json_type_string))
			return sn_meta_verr_set(ve, "invalid", "filters",
						"filters.%s must be a date string (\"2024-01-01\", "
						"\"-7d\") or null",
						dates[i]);
	}
	struct json_object *p = sn_json_get(f, "properties");
	if (sn_meta_json_is_null(p))
		return 0;
	if (!json_object_is_type(p, json_type_array))
		return sn_meta_verr_set(ve, "invalid", "filters",
					"filters.properties must be a list of property filters");
	for (size_t i = 0; i < json_object_array_length(p); i++)
		if (!json_object_is_type(json_object_array_get_idx(p, i), json_type_object))
			return sn_meta_verr_set(ve, "invalid", "filters",
						"filters.properties[%zu] must be an object", i);
	return 0;
}

static int check_tiles(struct json_object *body, struct sn_meta_verr *ve)
{
	struct json_object *tiles = sn_json_get(body, "tiles");
	if (sn_meta_json_is_null(tiles))
		return 0;
	if (!json_object_is_type(tiles, json_type_array) ||
	    json_object_array_length(tiles) > SN_DASHBOARD_TILES_MAX)
		return sn_meta_verr_set(ve, "not_a_list", "tiles",
					"Expected a list of at most %d tile objects.",
					SN_DASHBOARD_TILES_MAX);
	for (size_t i = 0; i < json_object_array_length(tiles); i++) {
		struct json_object *t = json_object_array_get_idx(tiles, i), *v;
		if (!json_object_is_type(t, json_type_object))
			return sn_meta_verr_set(ve, "invalid", "tiles",
						"tiles[%zu] must be an object", i);
		v = sn_json_get(t, "id");
		if (!sn_meta_json_is_null(v) &&
		    (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0))
			return sn_meta_verr_set(ve, "invalid", "tiles",
						"tiles[%zu].id must be a tile id", i);
		v = sn_json_get(t, "layouts");
		if (!sn_meta_json_is_null(v) && !json_object_is_type(v, json_type_object))
			return sn_meta_verr_set(ve, "invalid", "tiles",
						"tiles[%zu].layouts must be an object", i);
		v = sn_json_get(t, "color");
		if (!sn_meta_json_is_null(v) && !json_object_is_type(v, json_type_string))
			return sn_meta_verr_set(ve, "invalid", "tiles",
						"tiles[%zu].color must be a string or null", i);
		v = sn_json_get(t, "deleted");
		if (v && !json_object_is_type(v, json_type_boolean))
			return sn_meta_verr_set(ve, "invalid", "tiles",
						"tiles[%zu].deleted must be a boolean", i);
		struct json_object *text = sn_json_get(t, "text");
		if (sn_meta_json_is_null(text))
			continue;
		if (!json_object_is_type(text, json_type_object))
			return sn_meta_verr_set(ve, "invalid", "tiles",
						"tiles[%zu].text must be an object {\"body\": ...}",
						i);
		v = sn_json_get(text, "body");
		size_t n = 0;
		if (!sn_meta_json_is_null(v) && !json_object_is_type(v, json_type_string))
			return sn_meta_verr_set(ve, "invalid", "tiles",
						"tiles[%zu].text.body must be a string", i);
		const char *s = sn_json_str(v, &n);
		if (s && sn_meta_utf8_chars(s, n) > SN_TEXT_BODY_MAX)
			return sn_meta_verr_set(ve, "max_length", "tiles",
						"Text body cannot exceed %d characters",
						SN_TEXT_BODY_MAX);
		v = sn_json_get(text, "id");
		if (!sn_meta_json_is_null(v) &&
		    (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0))
			return sn_meta_verr_set(ve, "invalid", "tiles",
						"tiles[%zu].text.id must be a text id", i);
	}
	return 0;
}

int sn_meta_dashboard_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve)
{
	(void)partial; /* every field has a default */
	if (ve)
		memset(ve, 0, sizeof(*ve));
	if (!json_object_is_type(body, json_type_object))
		return sn_meta_verr_set(ve, "parse_error", NULL, "the body must be a JSON object");
	int rc;
	if ((rc = sn_meta_check_string(body, "name", true, SN_DASHBOARD_NAME_MAX, ve)) ||
	    (rc = sn_meta_check_string(body, "description", true, 0, ve)) ||
	    (rc = sn_meta_check_bool(body, "pinned", ve)) ||
	    (rc = sn_meta_check_bool(body, "deleted", ve)) || (rc = sn_meta_check_tags(body, ve)) ||
	    (rc = check_filters(body, ve)) || (rc = check_tiles(body, ve)))
		return rc;
	return 0;
}

/* ---- rows ------------------------------------------------------------------------- */

void sn_meta_dashboard_release(struct sn_meta_dashboard *d)
{
	if (!d)
		return;
	free(d->name);
	free(d->description);
	json_object_put(d->filters);
	json_object_put(d->tags);
	memset(d, 0, sizeof(*d));
}

static struct json_object *column_json(sqlite3_stmt *s, int i, json_type want)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	struct json_object *o = NULL;
	if (t && sn_json_parse(t, (size_t)sqlite3_column_bytes(s, i), &o, NULL))
		o = NULL;
	if (!json_object_is_type(o, want)) {
		json_object_put(o);
		o = want == json_type_array ? json_object_new_array() : json_object_new_object();
	}
	return o;
}

static char *column_strdup(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	return strdup(t ? t : "");
}

static int read_row(sqlite3_stmt *s, struct sn_meta_dashboard *d)
{
	memset(d, 0, sizeof(*d));
	d->id = sqlite3_column_int64(s, 0);
	d->team_id = sqlite3_column_int64(s, 1);
	d->name = column_strdup(s, 2);
	d->description = column_strdup(s, 3);
	d->pinned = sqlite3_column_int(s, 4) != 0;
	d->filters = column_json(s, 5, json_type_object);
	d->tags = column_json(s, 6, json_type_array);
	d->deleted = sqlite3_column_int(s, 7) != 0;
	d->created_by = sqlite3_column_int64(s, 8);
	d->created_at_us = sqlite3_column_int64(s, 9);
	d->last_accessed_at_us = sqlite3_column_int64(s, 10);
	d->is_shared = sqlite3_column_int(s, 11) != 0;
	if (!d->name || !d->description || !d->filters || !d->tags) {
		sn_meta_dashboard_release(d);
		return SN_ERR_NOMEM;
	}
	return 0;
}

static int get_locked(sqlite3 *db, int64_t team_id, int64_t id, struct sn_meta_dashboard *out,
		      struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db,
				   "SELECT " DASH_COLS " FROM posthog_dashboard WHERE team_id = ?1"
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
		ret = sn_meta_sql_err(db, rc, err, "reading a dashboard");
	}
	sqlite3_finalize(s);
	return ret;
}

static struct json_object *row_json(const struct sn_meta_dashboard *d)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(d->name ? d->name : ""));
	json_object_object_add(o, "description",
			       json_object_new_string(d->description ? d->description : ""));
	json_object_object_add(o, "pinned", json_object_new_boolean(d->pinned));
	json_object_object_add(o, "tags",
			       d->tags ? json_object_get(d->tags) : json_object_new_array());
	json_object_object_add(o, "filters",
			       d->filters ? json_object_get(d->filters) : json_object_new_object());
	json_object_object_add(o, "deleted", json_object_new_boolean(d->deleted));
	return o;
}

static const char *const fields[] = {"name", "description", "pinned", "tags", "filters", "deleted"};

static void apply(struct json_object *row, struct json_object *body, struct json_object *changes)
{
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
		else if (sn_meta_json_is_null(v) &&
			 (!strcmp(fields[i], "name") || !strcmp(fields[i], "description")))
			nv = json_object_new_string("");
		else if (sn_meta_json_is_null(v))
			continue; /* pinned, deleted: validated as booleans */
		else
			nv = json_object_get(v);
		struct json_object *old = sn_json_get(row, fields[i]);
		if (json_object_equal(old, nv)) {
			json_object_put(nv);
			continue;
		}
		if (changes)
			sn_meta_activity_change(changes, SCOPE, "changed", fields[i],
						json_object_get(old), json_object_get(nv));
		json_object_object_add(row, fields[i], nv);
	}
}

/* Binds ?3..?8: name, description, pinned, tags, filters, deleted. */
static void bind_row(sqlite3_stmt *s, struct json_object *row)
{
	sqlite3_bind_text(s, 3, sn_json_str(sn_json_get(row, "name"), NULL), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, sn_json_str(sn_json_get(row, "description"), NULL), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 5, json_object_get_boolean(sn_json_get(row, "pinned")));
	sqlite3_bind_text(s, 6, sn_meta_json_text(sn_json_get(row, "tags")), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 7, sn_meta_json_text(sn_json_get(row, "filters")), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 8, json_object_get_boolean(sn_json_get(row, "deleted")));
}

static int step_done(sqlite3 *db, sqlite3_stmt *s, const char *what, struct sn_err *err)
{
	int rc = sqlite3_step(s);
	int ret = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sn_meta_sql_err(db, rc, err, what);
	sqlite3_finalize(s);
	return ret;
}

/* ---- tile edits ------------------------------------------------------------------- */

/* Creates or changes the text of one tile edit; *text_id gets its id. */
static int put_text(sqlite3 *db, int64_t team_id, int64_t dashboard_id, int64_t user_id,
		    struct json_object *text, int64_t tile_text_id, int64_t now, int64_t *text_id,
		    struct sn_meta_verr *ve)
{
	const char *body = sn_json_str(sn_json_get(text, "body"), NULL);
	int64_t id = json_object_get_int64(sn_json_get(text, "id"));
	if (id <= 0)
		id = tile_text_id;
	sqlite3_stmt *s = NULL;
	int ret;
	if (id > 0) {
		ret =
		    sn_meta_sql_prep(db,
				     "UPDATE posthog_text SET body = ?4, last_modified_by_id ="
				     " NULLIF(?5, 0), last_modified_at = ?6 WHERE id = ?1 AND"
				     " team_id = ?2 AND EXISTS (SELECT 1 FROM posthog_dashboardtile"
				     " WHERE dashboard_id = ?3 AND text_id = ?1)",
				     &s, &ve->err);
		if (ret)
			return ret;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, team_id);
		sqlite3_bind_int64(s, 3, dashboard_id);
		if (body)
			sqlite3_bind_text(s, 4, body, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 5, user_id);
		sqlite3_bind_int64(s, 6, now);
		if ((ret = step_done(db, s, "changing a text card", &ve->err)))
			return ret;
		if (sqlite3_changes(db) == 0)
			return sn_meta_verr_set(ve, "invalid", "tiles", "Text tile not found.");
		*text_id = id;
		return 0;
	}
	ret = sn_meta_sql_prep(db,
			       "INSERT INTO posthog_text (team_id, body, created_by_id,"
			       " last_modified_at) VALUES (?1, ?2, NULLIF(?3, 0), ?4)",
			       &s, &ve->err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, team_id);
	if (body)
		sqlite3_bind_text(s, 2, body, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, user_id);
	sqlite3_bind_int64(s, 4, now);
	if ((ret = step_done(db, s, "adding a text card", &ve->err)))
		return ret;
	*text_id = sqlite3_last_insert_rowid(db);
	return 0;
}

/* Applies one validated tile edit of dashboard_id. */
static int edit_tile(sqlite3 *db, int64_t team_id, int64_t dashboard_id, int64_t user_id,
		     struct json_object *e, size_t idx, int64_t now, struct sn_meta_verr *ve)
{
	int64_t tile_id = json_object_get_int64(sn_json_get(e, "id")), tile_text = 0;
	sqlite3_stmt *s = NULL;
	int ret;
	if (tile_id > 0) {
		ret =
		    sn_meta_sql_prep(db,
				     "SELECT COALESCE(text_id, 0) FROM posthog_dashboardtile WHERE"
				     " id = ?1 AND dashboard_id = ?2",
				     &s, &ve->err);
		if (ret)
			return ret;
		sqlite3_bind_int64(s, 1, tile_id);
		sqlite3_bind_int64(s, 2, dashboard_id);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			tile_text = sqlite3_column_int64(s, 0);
		sqlite3_finalize(s);
		if (rc != SQLITE_ROW)
			return sn_meta_verr_set(ve, "invalid", "tiles",
						"tiles[%zu]: tile %lld is not on this dashboard",
						idx, (long long)tile_id);
	}
	struct json_object *text = sn_json_get(e, "text");
	int64_t text_id = 0;
	if (!sn_meta_json_is_null(text) && (ret = put_text(db, team_id, dashboard_id, user_id, text,
							   tile_text, now, &text_id, ve)))
		return ret;
	if (tile_id <= 0 && text_id <= 0)
		return sn_meta_verr_set(ve, "invalid", "tiles",
					"tiles[%zu] needs the id of a tile of this dashboard, or a "
					"text to add a text card (insights are added by PATCHing "
					"the insight's dashboards)",
					idx);
	struct json_object *layouts = sn_json_get(e, "layouts"), *color, *deleted;
	bool has_color = json_object_object_get_ex(e, "color", &color);
	bool has_deleted = json_object_object_get_ex(e, "deleted", &deleted) && deleted;
	if (tile_id <= 0) {
		ret = sn_meta_sql_prep(db,
				       "INSERT INTO posthog_dashboardtile (dashboard_id, text_id,"
				       " layouts, color, deleted) VALUES (?1, ?2, ?3, ?4, ?5)",
				       &s, &ve->err);
		if (ret)
			return ret;
		sqlite3_bind_int64(s, 1, dashboard_id);
		sqlite3_bind_int64(s, 2, text_id);
		sqlite3_bind_text(s, 3, layouts ? sn_meta_json_text(layouts) : "{}", -1,
				  SQLITE_TRANSIENT);
		if (has_color && color)
			sqlite3_bind_text(s, 4, sn_json_str(color, NULL), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(s, 5, has_deleted && json_object_get_boolean(deleted));
		return step_done(db, s, "adding a tile", &ve->err);
	}
	ret = sn_meta_sql_prep(db,
			       "UPDATE posthog_dashboardtile SET"
			       " layouts = CASE WHEN ?3 THEN ?4 ELSE layouts END,"
			       " color = CASE WHEN ?5 THEN ?6 ELSE color END,"
			       " deleted = CASE WHEN ?7 THEN ?8 ELSE deleted END,"
			       " text_id = CASE WHEN ?9 > 0 THEN ?9 ELSE text_id END"
			       " WHERE id = ?1 AND dashboard_id = ?2",
			       &s, &ve->err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, tile_id);
	sqlite3_bind_int64(s, 2, dashboard_id);
	sqlite3_bind_int(s, 3, layouts != NULL);
	sqlite3_bind_text(s, 4, layouts ? sn_meta_json_text(layouts) : "{}", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 5, has_color);
	if (has_color && color)
		sqlite3_bind_text(s, 6, sn_json_str(color, NULL), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 7, has_deleted);
	sqlite3_bind_int(s, 8, has_deleted && json_object_get_boolean(deleted));
	sqlite3_bind_int64(s, 9, text_id);
	return step_done(db, s, "changing a tile", &ve->err);
}

static int edit_tiles(sqlite3 *db, int64_t team_id, int64_t dashboard_id, int64_t user_id,
		      struct json_object *tiles, int64_t now, struct sn_meta_verr *ve)
{
	int ret = 0;
	for (size_t i = 0; ret == 0 && tiles && i < json_object_array_length(tiles); i++)
		ret = edit_tile(db, team_id, dashboard_id, user_id,
				json_object_array_get_idx(tiles, i), i, now, ve);
	return ret;
}

/* ---- create, change, delete ---------------------------------------------------------- */

int sn_meta_dashboard_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			     struct json_object *body, struct sn_meta_dashboard *out,
			     struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_dashboard_validate(body, false, ve);
	if (ret)
		return ret;
	struct sn_meta_dashboard defaults = {0};
	struct json_object *row = row_json(&defaults);
	apply(row, body, NULL);
	json_object_object_add(row, "deleted", json_object_new_boolean(0));
	int64_t now = sn_now_us(), id = 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	ret = sn_meta_sql_prep(db,
			       "INSERT INTO posthog_dashboard (team_id, name, description, pinned,"
			       " tags, filters, deleted, created_by_id, created_at, updated_at)"
			       " VALUES (?1, ?3, ?4, ?5, ?6, ?7, ?8, NULLIF(?2, 0), ?9, ?9)",
			       &s, &ve->err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, user_id);
		bind_row(s, row);
		sqlite3_bind_int64(s, 9, now);
		if ((ret = step_done(db, s, "creating a dashboard", &ve->err)) == 0)
			id = sqlite3_last_insert_rowid(db);
	}
	if (ret == 0)
		ret = edit_tiles(db, team_id, id, user_id, sn_json_get(body, "tiles"), now, ve);
	if (ret == 0)
		ret = sn_meta_activity_created(db, team_id, user_id, SCOPE, id,
					       sn_json_str(sn_json_get(row, "name"), NULL), now,
					       &ve->err);
	if (ret == 0)
		ret = get_locked(db, team_id, id, out, &ve->err);
	ret = sn_meta_tx_end(db, ret, &ve->err);
	sn_meta_sqlite_unlock(m);
	json_object_put(row);
	if (ret)
		sn_meta_dashboard_release(out);
	return ret;
}

int sn_meta_dashboard_get(struct sn_meta *m, int64_t team_id, int64_t id,
			  struct sn_meta_dashboard *out, struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = get_locked(db, team_id, id, out, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_dashboard_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			     struct json_object *body, struct sn_meta_dashboard *out,
			     struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_dashboard_validate(body, true, ve);
	if (ret)
		return ret;
	struct sn_meta_dashboard cur = {0};
	struct json_object *row = NULL, *changes = json_object_new_array();
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
	apply(row, body, changes);
	bool deleted = json_object_get_boolean(sn_json_get(row, "deleted"));
	struct json_object *tiles = sn_json_get(body, "tiles");
	if (ret == 0 && !deleted && tiles && json_object_array_length(tiles) > 0) {
		ret = edit_tiles(db, team_id, id, user_id, tiles, now, ve);
		if (ret == 0)
			sn_meta_activity_change(changes, SCOPE, "changed", "tiles", NULL,
						json_object_get(tiles));
	}
	if (ret || json_object_array_length(changes) == 0)
		goto out;
	ret = sn_meta_sql_prep(
	    db,
	    "UPDATE posthog_dashboard SET name = ?3, description = ?4, pinned = ?5,"
	    " tags = ?6, filters = ?7, deleted = ?8, updated_at = ?9 WHERE"
	    " team_id = ?1 AND id = ?2",
	    &s, &ve->err);
	if (ret)
		goto out;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, id);
	bind_row(s, row);
	sqlite3_bind_int64(s, 9, now);
	ret = step_done(db, s, "updating a dashboard", &ve->err);
	s = NULL;
	if (ret == 0)
		ret = sn_meta_activity_write(db, team_id, user_id, SCOPE, id,
					     deleted && !cur.deleted ? "deleted" : "updated",
					     sn_json_str(sn_json_get(row, "name"), NULL),
					     json_object_get(changes), now, &ve->err);
out:
	sqlite3_finalize(s);
	if (ret == 0)
		ret = get_locked(db, team_id, id, out, &ve->err);
	ret = sn_meta_tx_end(db, ret, &ve->err);
	sn_meta_sqlite_unlock(m);
	sn_meta_dashboard_release(&cur);
	json_object_put(row);
	json_object_put(changes);
	if (ret)
		sn_meta_dashboard_release(out);
	return ret;
}

int sn_meta_dashboard_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			     struct sn_err *err)
{
	struct json_object *body = json_object_new_object();
	json_object_object_add(body, "deleted", json_object_new_boolean(1));
	struct sn_meta_verr ve;
	struct sn_meta_dashboard d;
	int ret = sn_meta_dashboard_update(m, team_id, id, user_id, body, &d, &ve);
	json_object_put(body);
	if (ret == 0)
		sn_meta_dashboard_release(&d);
	else
		sn_err_set(err, ret, "%s", ve.err.msg);
	return ret;
}

int sn_meta_dashboard_touch(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db,
				   "UPDATE posthog_dashboard SET last_accessed_at = ?3 WHERE"
				   " team_id = ?1 AND id = ?2",
				   &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, id);
		sqlite3_bind_int64(s, 3, sn_now_us());
		ret = step_done(db, s, "touching a dashboard", err);
	}
	sn_meta_sqlite_unlock(m);
	return ret;
}

/* read_row for sn_meta_list_page. */
static int read_list_row(sqlite3_stmt *s, void *row)
{
	return read_row(s, row);
}

#define LIST_WHERE                                                       \
	" FROM posthog_dashboard WHERE team_id = ?1 AND deleted = 0 AND" \
	" (?2 IS NULL OR instr(lower(name), lower(?2)) > 0 OR"           \
	" instr(lower(description), lower(?2)) > 0)"

int sn_meta_dashboard_list(struct sn_meta *m, int64_t team_id, const struct sn_meta_list_opts *o,
			   int64_t *total, int (*fn)(void *arg, const struct sn_meta_dashboard *d),
			   void *arg, struct sn_err *err)
{
	struct sn_meta_team_search ts = {team_id, o->search};
	const struct sn_meta_page pg = {
	    .count_sql = "SELECT COUNT(*)" LIST_WHERE,
	    .page_sql = "SELECT " DASH_COLS LIST_WHERE
			" ORDER BY pinned DESC, lower(name), id LIMIT ?3 OFFSET ?4",
	    .limit_param = 3,
	    .max = PAGE_MAX,
	    .bind = sn_meta_list_page_bind_team_search,
	    .bind_ctx = &ts,
	    .row_size = sizeof(struct sn_meta_dashboard),
	    .read = read_list_row,
	    .what = "counting dashboards",
	};
	struct sn_meta_dashboard *rows = NULL;
	size_t n = 0;
	int ret = sn_meta_list_page(m, &pg, o, total, &rows, &n, err);
	bool stop = false;
	for (size_t i = 0; i < n; i++) {
		if (!stop && ret == 0 && fn(arg, &rows[i]) != 0)
			stop = true;
		sn_meta_dashboard_release(&rows[i]);
	}
	free(rows);
	return ret;
}

/* ---- tiles ---------------------------------------------------------------------------- */

struct tile_row {
	struct sn_meta_tile t;
	char *body, *color;
};

int sn_meta_dashboard_tiles(struct sn_meta *m, int64_t team_id, int64_t dashboard_id,
			    int (*fn)(void *arg, const struct sn_meta_tile *t), void *arg,
			    struct sn_err *err)
{
	struct tile_row *rows = NULL;
	size_t n = 0, cap = 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(
	    db,
	    "SELECT t.id, t.dashboard_id, COALESCE(t.insight_id, 0), COALESCE(t.text_id, 0),"
	    " x.body, COALESCE(x.created_by_id, 0), COALESCE(x.last_modified_by_id, 0),"
	    " COALESCE(x.last_modified_at, 0), t.layouts, t.color"
	    " FROM posthog_dashboardtile t JOIN posthog_dashboard d ON d.id = t.dashboard_id"
	    " LEFT JOIN posthog_dashboarditem i ON i.id = t.insight_id"
	    " LEFT JOIN posthog_text x ON x.id = t.text_id"
	    " WHERE d.team_id = ?1 AND t.dashboard_id = ?2 AND t.deleted = 0 AND"
	    " (t.insight_id IS NULL OR (i.deleted = 0 AND i.team_id = ?1)) AND"
	    " (t.insight_id IS NOT NULL OR t.text_id IS NOT NULL) ORDER BY t.id",
	    &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, dashboard_id);
		int rc;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct tile_row *nr = realloc(rows, nc * sizeof(*rows));
				if (!nr) {
					ret = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
					break;
				}
				rows = nr;
				cap = nc;
			}
			struct tile_row *r = &rows[n++];
			memset(r, 0, sizeof(*r));
			r->t.id = sqlite3_column_int64(s, 0);
			r->t.dashboard_id = sqlite3_column_int64(s, 1);
			r->t.insight_id = sqlite3_column_int64(s, 2);
			r->t.text_id = sqlite3_column_int64(s, 3);
			const char *b = (const char *)sqlite3_column_text(s, 4);
			r->body = b ? strdup(b) : NULL;
			r->t.text_created_by = sqlite3_column_int64(s, 5);
			r->t.text_modified_by = sqlite3_column_int64(s, 6);
			r->t.text_modified_at_us = sqlite3_column_int64(s, 7);
			r->t.layouts = column_json(s, 8, json_type_object);
			const char *c = (const char *)sqlite3_column_text(s, 9);
			r->color = c ? strdup(c) : NULL;
		}
		if (ret == 0 && rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "reading tiles");
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	bool stop = false;
	for (size_t i = 0; i < n; i++) {
		struct tile_row *r = &rows[i];
		r->t.text_body = r->body;
		r->t.color = r->color;
		if (!stop && ret == 0 && fn(arg, &r->t) != 0)
			stop = true;
		free(r->body);
		free(r->color);
		json_object_put(r->t.layouts);
	}
	free(rows);
	return ret;
}

/* ---- sharing --------------------------------------------------------------------------- */

static int read_sharing(sqlite3 *db, int64_t team_id, int64_t dashboard_id,
			struct sn_meta_sharing *out, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db,
				   "SELECT enabled, access_token, created_at FROM"
				   " posthog_sharingconfiguration WHERE team_id = ?1 AND"
				   " dashboard_id = ?2",
				   &s, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, dashboard_id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->team_id = team_id;
		out->dashboard_id = dashboard_id;
		out->enabled = sqlite3_column_int(s, 0) != 0;
		sn_sqlite_column_text(s, 1, out->access_token, sizeof(out->access_token));
		out->created_at_us = sqlite3_column_int64(s, 2);
	} else if (rc == SQLITE_DONE) {
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	} else {
		ret = sn_meta_sql_err(db, rc, err, "reading a sharing configuration");
	}
	sqlite3_finalize(s);
	return ret;
}

/* Inside the caller's transaction: the configuration, created when absent. */
static int sharing_locked(sqlite3 *db, int64_t team_id, int64_t dashboard_id,
			  struct sn_meta_sharing *out, struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	struct sn_meta_dashboard d;
	int ret = get_locked(db, team_id, dashboard_id, &d, err);
	if (ret)
		return ret;
	bool deleted = d.deleted;
	sn_meta_dashboard_release(&d);
	if (deleted)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	ret = read_sharing(db, team_id, dashboard_id, out, err);
	if (ret != SN_ERR_NOT_FOUND)
		return ret;
	char token[sizeof(out->access_token)];
	sn_random_token(token, sizeof(token), "", 32);
	sqlite3_stmt *s = NULL;
	ret = sn_meta_sql_prep(db,
			       "INSERT INTO posthog_sharingconfiguration (team_id, dashboard_id,"
			       " enabled, access_token, created_at) VALUES (?1, ?2, 0, ?3, ?4)",
			       &s, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, dashboard_id);
	sqlite3_bind_text(s, 3, token, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, sn_now_us());
	if ((ret = step_done(db, s, "creating a sharing configuration", err)))
		return ret;
	return read_sharing(db, team_id, dashboard_id, out, err);
}

int sn_meta_sharing_get(struct sn_meta *m, int64_t team_id, int64_t dashboard_id,
			struct sn_meta_sharing *out, struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sn_meta_tx_begin(db);
	int ret = sharing_locked(db, team_id, dashboard_id, out, err);
	ret = sn_meta_tx_end(db, ret, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_sharing_update(struct sn_meta *m, int64_t team_id, int64_t dashboard_id,
			   int64_t user_id, int enabled, bool rotate, struct sn_meta_sharing *out,
			   struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sn_meta_tx_begin(db);
	int ret = sharing_locked(db, team_id, dashboard_id, out, err);
	bool was = out->enabled;
	bool now_enabled = enabled < 0 ? was : enabled != 0;
	if (ret == 0 && (now_enabled != was || rotate)) {
		char token[sizeof(out->access_token)];
		snprintf(token, sizeof(token), "%s", out->access_token);
		if (rotate)
			sn_random_token(token, sizeof(token), "", 32);
		sqlite3_stmt *s = NULL;
		ret =
		    sn_meta_sql_prep(db,
				     "UPDATE posthog_sharingconfiguration SET enabled = ?3,"
				     " access_token = ?4 WHERE team_id = ?1 AND dashboard_id = ?2",
				     &s, err);
		if (ret == 0) {
			sqlite3_bind_int64(s, 1, team_id);
			sqlite3_bind_int64(s, 2, dashboard_id);
			sqlite3_bind_int(s, 3, now_enabled);
			sqlite3_bind_text(s, 4, token, -1, SQLITE_STATIC);
			ret = step_done(db, s, "changing a sharing configuration", err);
		}
		struct sn_meta_dashboard d = {0};
		if (ret == 0)
			ret = get_locked(db, team_id, dashboard_id, &d, err);
		if (ret == 0) {
			struct json_object *changes = json_object_new_array();
			if (now_enabled != was)
				sn_meta_activity_change(changes, SCOPE, "changed", "sharing",
							json_object_new_boolean(was),
							json_object_new_boolean(now_enabled));
			const char *act = now_enabled != was ? (now_enabled ? "sharing enabled"
									    : "sharing disabled")
							     : "access token refreshed";
			ret = sn_meta_activity_write(db, team_id, user_id, SCOPE, dashboard_id, act,
						     d.name, changes, sn_now_us(), err);
		}
		sn_meta_dashboard_release(&d);
		if (ret == 0)
			ret = read_sharing(db, team_id, dashboard_id, out, err);
	}
	ret = sn_meta_tx_end(db, ret, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_sharing_by_token(struct sn_meta *m, const char *token, struct sn_meta_sharing *out,
			     struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	if (!token || !*token || strlen(token) >= sizeof(out->access_token))
		return sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db,
				   "SELECT s.team_id, s.dashboard_id, s.created_at FROM"
				   " posthog_sharingconfiguration s JOIN posthog_dashboard d ON"
				   " d.id = s.dashboard_id AND d.team_id = s.team_id WHERE"
				   " s.access_token = ?1 AND s.enabled = 1 AND d.deleted = 0",
				   &s, err);
	if (ret == 0) {
		sqlite3_bind_text(s, 1, token, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			out->team_id = sqlite3_column_int64(s, 0);
			out->dashboard_id = sqlite3_column_int64(s, 1);
			out->created_at_us = sqlite3_column_int64(s, 2);
			out->enabled = true;
			snprintf(out->access_token, sizeof(out->access_token), "%s", token);
		} else if (rc == SQLITE_DONE) {
			ret = sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
		} else {
			ret = sn_meta_sql_err(db, rc, err, "reading a sharing configuration");
		}
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	return ret;
}
