/*
 * activity.c — the activity log (PostHog's posthog_activitylog) shared by
 * every object of the meta model that records its history (flags,
 * annotations, actions), and the few SQLite helpers their files share.
 *
 *   object file (flags.c, annotations.c, actions.c)
 *      │ inside its own write transaction, lock held
 *      ▼
 *   sn_meta_activity_write(scope, item id, "created"|"updated"|"deleted",
 *                          name, changes[])  ──▶ one posthog_activitylog row
 *
 * A row's detail is PostHog's JSON: {"name", "changes": [{"type", "action",
 * "field", "before", "after"}], "trigger", "type", "short_id"}. The writer
 * runs inside the caller's transaction, so an object change and its log row
 * commit together or not at all. Readers copy rows out under the lock and
 * call back after it, so a callback may call meta again.
 *
 * Rejected: one log writer per object file (what flags.c had first) — three
 * copies of the same INSERT and detail layout drift apart.
 *
 * Also here: sn_meta_list_page, the one "count, then one page of rows"
 * every REST list of the model (actions, cohorts, dashboards) runs.
 */
#include "meta/meta_internal.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACTIVITY_MAX 1000

int sn_meta_sql_err(sqlite3 *db, int rc, struct sn_err *err, const char *what)
{
	return sn_err_set(err, sn_sqlite_rc(rc), "metadata database: %s: %s", what,
			  sqlite3_errmsg(db));
}

int sn_meta_sql_prep(sqlite3 *db, const char *sql, sqlite3_stmt **s, struct sn_err *err)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, s, NULL);
	if (rc != SQLITE_OK)
		return sn_meta_sql_err(db, rc, err, "preparing a statement");
	return 0;
}

void sn_meta_tx_begin(sqlite3 *db)
{
	sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

int sn_meta_tx_end(sqlite3 *db, int ret, struct sn_err *err)
{
	if (ret == 0) {
		int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			ret = sn_meta_sql_err(db, rc, err, "committing a change");
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		}
	} else {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	}
	return ret;
}

int sn_meta_verr_set(struct sn_meta_verr *ve, const char *code, const char *attr, const char *fmt,
		     ...)
{
	if (!ve)
		return SN_ERR_INVALID;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ve->err.msg, sizeof(ve->err.msg), fmt, ap);
	va_end(ap);
	ve->err.code = SN_ERR_INVALID;
	snprintf(ve->code, sizeof(ve->code), "%s", code);
	snprintf(ve->attr, sizeof(ve->attr), "%s", attr ? attr : "");
	return SN_ERR_INVALID;
}

const char *sn_meta_json_text(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						     JSON_C_TO_STRING_NOSLASHESCAPE);
}

void sn_meta_activity_change(struct json_object *changes, const char *scope, const char *action,
			     const char *field, struct json_object *before,
			     struct json_object *after)
{
	struct json_object *c = json_object_new_object();
	json_object_object_add(c, "type", json_object_new_string(scope));
	json_object_object_add(c, "action", json_object_new_string(action));
	json_object_object_add(c, "field", field ? json_object_new_string(field) : NULL);
	json_object_object_add(c, "before", before);
	json_object_object_add(c, "after", after);
	json_object_array_add(changes, c);
}

int sn_meta_activity_write(sqlite3 *db, int64_t team_id, int64_t user_id, const char *scope,
			   int64_t item_id, const char *activity, const char *name,
			   struct json_object *changes, int64_t now_us, struct sn_err *err)
{
	struct json_object *detail = json_object_new_object();
	json_object_object_add(detail, "name", name ? json_object_new_string(name) : NULL);
	json_object_object_add(detail, "changes", changes ? changes : json_object_new_array());
	json_object_object_add(detail, "trigger", NULL);
	json_object_object_add(detail, "type", NULL);
	json_object_object_add(detail, "short_id", NULL);
	sqlite3_stmt *s = NULL;
	int ret =
	    sn_meta_sql_prep(db,
			     "INSERT INTO posthog_activitylog (team_id, user_id, scope, item_id,"
			     " activity, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
			     &s, err);
	if (ret == 0) {
		char item[32];
		snprintf(item, sizeof(item), "%lld", (long long)item_id);
		sqlite3_bind_int64(s, 1, team_id);
		if (user_id > 0)
			sqlite3_bind_int64(s, 2, user_id);
		sqlite3_bind_text(s, 3, scope, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, item, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(s, 5, activity, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, sn_meta_json_text(detail), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 7, now_us);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "writing the activity log");
	}
	sqlite3_finalize(s);
	json_object_put(detail);
	return ret;
}

int sn_meta_activity_list(struct sn_meta *m, int64_t team_id, const char *scope, int64_t item_id,
			  int64_t limit, int (*fn)(void *arg, const struct sn_meta_activity *a),
			  void *arg, struct sn_err *err)
{
	if (limit <= 0 || limit > ACTIVITY_MAX)
		limit = ACTIVITY_MAX;
	char item[32];
	snprintf(item, sizeof(item), "%lld", (long long)item_id);
	/* Copied out under the lock, handed to fn after it: fn may call meta. */
	struct row {
		struct sn_meta_activity a;
		char *activity, *detail;
	} *rows = calloc((size_t)limit, sizeof(*rows));
	if (!rows)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	size_t n = 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret =
	    sn_meta_sql_prep(db,
			     "SELECT id, COALESCE(user_id, 0), activity, detail, created_at FROM"
			     " posthog_activitylog WHERE team_id = ?1 AND scope = ?2 AND"
			     " item_id = ?3 ORDER BY id DESC LIMIT ?4",
			     &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_text(s, 2, scope, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, item, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, limit);
		int rc;
		while (n < (size_t)limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct row *r = &rows[n++];
			r->a.id = sqlite3_column_int64(s, 0);
			r->a.user_id = sqlite3_column_int64(s, 1);
			r->activity = strdup((const char *)sqlite3_column_text(s, 2));
			r->detail = strdup((const char *)sqlite3_column_text(s, 3));
			r->a.created_at_us = sqlite3_column_int64(s, 4);
		}
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	bool stop = false;
	for (size_t i = 0; i < n; i++) {
		struct row *r = &rows[i];
		r->a.activity = r->activity ? r->activity : "";
		r->a.detail = r->detail ? r->detail : "{}";
		r->a.item_id = item;
		r->a.scope = scope;
		if (!stop && ret == 0 && fn(arg, &r->a) != 0)
			stop = true;
		free(r->activity);
		free(r->detail);
	}
	free(rows);
	return ret;
}

int sn_meta_activity_created(sqlite3 *db, int64_t team_id, int64_t user_id, const char *scope,
			     int64_t item_id, const char *name, int64_t now_us, struct sn_err *err)
{
	struct json_object *changes = json_object_new_array();
	sn_meta_activity_change(changes, scope, "created", NULL, NULL, NULL);
	return sn_meta_activity_write(db, team_id, user_id, scope, item_id, "created", name,
				      changes, now_us, err);
}

/* ---- paginated lists ------------------------------------------------------------------- */

int sn_meta_list_page(struct sn_meta *m, const struct sn_meta_page *pg,
		      const struct sn_meta_list_opts *o, int64_t *total, void *rows_out,
		      size_t *n_out, struct sn_err *err)
{
	int64_t offset = o->offset < 0 ? 0 : o->offset;
	int64_t limit = o->limit < 0 ? 0 : o->limit > pg->max ? pg->max : o->limit;
	char *rows = limit ? calloc((size_t)limit, pg->row_size) : NULL;
	*(void **)rows_out = NULL;
	*n_out = 0;
	*total = 0;
	if (limit && !rows)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	size_t n = 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db, pg->count_sql, &s, err);
	if (ret == 0) {
		pg->bind(s, pg->bind_ctx);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*total = sqlite3_column_int64(s, 0);
		else
			ret = sn_meta_sql_err(db, rc, err, pg->what);
	}
	sqlite3_finalize(s);
	s = NULL;
	if (ret == 0 && limit)
		ret = sn_meta_sql_prep(db, pg->page_sql, &s, err);
	if (ret == 0 && s) {
		pg->bind(s, pg->bind_ctx);
		sqlite3_bind_int64(s, pg->limit_param, limit);
		sqlite3_bind_int64(s, pg->limit_param + 1, offset);
		while (n < (size_t)limit && sqlite3_step(s) == SQLITE_ROW)
			if (pg->read(s, rows + n * pg->row_size) == 0)
				n++;
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	*(void **)rows_out = rows;
	*n_out = n;
	return ret;
}

void sn_meta_list_page_bind_team_search(sqlite3_stmt *s, const void *ctx)
{
	const struct sn_meta_team_search *ts = ctx;
	sqlite3_bind_int64(s, 1, ts->team_id);
	if (ts->search && *ts->search)
		sqlite3_bind_text(s, 2, ts->search, -1, SQLITE_STATIC);
}
