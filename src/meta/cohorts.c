/*
 * cohorts.c — PostHog's cohorts (posthog_cohort) in the SQLite metadata
 * backend: the definition of a set of persons and the state of its
 * calculation. Who is a member is person data and lives in the person
 * store (persons/cohorts.c); this file never touches members.
 *
 *   body ──validate──▶ apply(row as JSON) ──diff──▶ changes[] ──▶ activity log
 *                           │                                    (scope "Cohort")
 *                           ▼
 *                     posthog_cohort ◀── calc_begin / calc_end (the calculator)
 *
 * A cohort is static (members uploaded or copied from an insight's actors)
 * or dynamic (filters: {"properties": {"type": "AND"|"OR", "values": [...]}}
 * or the legacy "groups" array), and which it is cannot change after
 * creation, as in PostHog. The structure of a definition is checked here
 * (objects and arrays where PostHog has them); whether its criteria can be
 * computed is the compiler's question (insights/cohort.c), asked by the
 * API before a write so that a definition that cannot be calculated is a
 * 400, not a calculation error later.
 *
 * Calculation state: calc_begin marks the cohort calculating and bumps
 * pending_version; calc_end records the outcome — on success version =
 * the pending version, count, last_calculation and errors_calculating 0;
 * on failure errors_calculating + 1 and the error text. A change to the
 * definition clears last_calculation so the scheduler picks it up at
 * once. Any change also bumps the team's flag generation: flags that use
 * the cohort recompile.
 */
#include "meta/meta_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COH_COLS                                                                            \
	"id, team_id, name, description, filters, groups_json, query, is_static,"           \
	" is_calculating, last_calculation, errors_calculating, last_error, last_error_at," \
	" count, version, pending_version, created_by_id, created_at, updated_at, deleted"
#define SCOPE	 "Cohort"
#define PAGE_MAX 1000

/* ---- validation ------------------------------------------------------------------- */

static int check_object(struct json_object *body, const char *name, struct sn_meta_verr *ve)
{
	struct json_object *v = sn_json_get(body, name);
	if (!sn_meta_json_is_null(v) && !json_object_is_type(v, json_type_object))
		return sn_meta_verr_set(ve, "invalid_input", name, "%s must be an object or null",
					name);
	return 0;
}

int sn_meta_cohort_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve)
{
	if (ve)
		memset(ve, 0, sizeof(*ve));
	if (!json_object_is_type(body, json_type_object))
		return sn_meta_verr_set(ve, "parse_error", NULL, "the body must be a JSON object");
	struct json_object *v = sn_json_get(body, "name");
	if (!partial && sn_meta_json_is_null(v))
		return sn_meta_verr_set(ve, "required", "name", "This field is required.");
	if (v) {
		size_t n = 0;
		const char *s =
		    json_object_is_type(v, json_type_string) ? sn_json_str(v, &n) : NULL;
		if (s && strspn(s, " \t\r\n") == n)
			return sn_meta_verr_set(ve, "blank", "name",
						"This field may not be blank.");
	}
	int rc;
	if ((rc = sn_meta_check_string(body, "name", false, SN_COHORT_NAME_MAX, ve)) ||
	    (rc = sn_meta_check_string(body, "description", true, 1000, ve)) ||
	    (rc = sn_meta_check_bool(body, "is_static", ve)) ||
	    (rc = sn_meta_check_bool(body, "deleted", ve)) ||
	    (rc = check_object(body, "filters", ve)) || (rc = check_object(body, "query", ve)))
		return rc;
	v = sn_json_get(body, "filters");
	if (!sn_meta_json_is_null(v)) {
		struct json_object *p = sn_json_get(v, "properties");
		if (!json_object_is_type(p, json_type_object))
			return sn_meta_verr_set(ve, "invalid_input", "filters",
						"filters.properties must be an object "
						"({\"type\": \"AND\"|\"OR\", \"values\": [...]})");
		const char *t = sn_json_str(sn_json_get(p, "type"), NULL);
		if (!t || (strcmp(t, "AND") && strcmp(t, "OR")))
			return sn_meta_verr_set(ve, "invalid_input", "filters",
						"filters.properties.type must be AND or OR");
		if (!json_object_is_type(sn_json_get(p, "values"), json_type_array))
			return sn_meta_verr_set(ve, "invalid_input", "filters",
						"filters.properties.values must be an array");
	}
	v = sn_json_get(body, "groups");
	if (!sn_meta_json_is_null(v)) {
		if (!json_object_is_type(v, json_type_array))
			return sn_meta_verr_set(ve, "not_a_list", "groups",
						"Expected a list of items but got type \"%s\".",
						json_type_to_name(json_object_get_type(v)));
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_object))
				return sn_meta_verr_set(ve, "invalid_input", "groups",
							"groups[%zu] must be an object", i);
	}
	static const char *const not_null[] = {"name", "is_static", "deleted"};
	for (size_t i = 0; i < SN_ARRAY_LEN(not_null); i++)
		if (json_object_object_get_ex(body, not_null[i], &v) && !v)
			return sn_meta_verr_set(ve, "null", not_null[i],
						"This field may not be null.");
	return 0;
}

/* ---- rows ------------------------------------------------------------------------- */

void sn_cohort_release(struct sn_cohort *c)
{
	if (!c)
		return;
	free(c->name);
	free(c->description);
	free(c->last_error);
	if (c->filters)
		json_object_put(c->filters);
	if (c->groups)
		json_object_put(c->groups);
	if (c->query)
		json_object_put(c->query);
	memset(c, 0, sizeof(*c));
}

static struct json_object *column_json(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	struct json_object *o = NULL;
	if (t && sn_json_parse(t, (size_t)sqlite3_column_bytes(s, i), &o, NULL) && o) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static char *column_strdup(sqlite3_stmt *s, int i, bool nullable)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	if (!t && nullable)
		return NULL;
	return strdup(t ? t : "");
}

static int64_t column_opt(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, i);
}

static int read_row(sqlite3_stmt *s, struct sn_cohort *c)
{
	memset(c, 0, sizeof(*c));
	c->id = sqlite3_column_int64(s, 0);
	c->team_id = sqlite3_column_int64(s, 1);
	c->name = column_strdup(s, 2, false);
	c->description = column_strdup(s, 3, false);
	c->filters = column_json(s, 4);
	c->groups = column_json(s, 5);
	if (!c->groups)
		c->groups = json_object_new_array();
	c->query = column_json(s, 6);
	c->is_static = sqlite3_column_int(s, 7) != 0;
	c->is_calculating = sqlite3_column_int(s, 8) != 0;
	c->last_calculation_us = column_opt(s, 9);
	c->errors_calculating = sqlite3_column_int(s, 10);
	c->last_error = column_strdup(s, 11, true);
	c->last_error_at_us = column_opt(s, 12);
	c->count = column_opt(s, 13);
	c->version = column_opt(s, 14);
	c->pending_version = column_opt(s, 15);
	c->created_by = sqlite3_column_int64(s, 16);
	c->created_at_us = sqlite3_column_int64(s, 17);
	c->updated_at_us = sqlite3_column_int64(s, 18);
	c->deleted = sqlite3_column_int(s, 19) != 0;
	if (!c->name || !c->description || !c->groups) {
		sn_cohort_release(c);
		return SN_ERR_NOMEM;
	}
	return 0;
}

static int get_locked(sqlite3 *db, int64_t team_id, int64_t id, struct sn_cohort *out,
		      struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(
	    db, "SELECT " COH_COLS " FROM posthog_cohort WHERE team_id = ?1 AND id = ?2", &s, err);
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
		ret = sn_meta_sql_err(db, rc, err, "reading a cohort");
	}
	sqlite3_finalize(s);
	return ret;
}

static struct json_object *row_json(const struct sn_cohort *c)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(c->name ? c->name : ""));
	json_object_object_add(o, "description",
			       json_object_new_string(c->description ? c->description : ""));
	json_object_object_add(o, "filters", c->filters ? json_object_get(c->filters) : NULL);
	json_object_object_add(o, "groups",
			       c->groups ? json_object_get(c->groups) : json_object_new_array());
	json_object_object_add(o, "query", c->query ? json_object_get(c->query) : NULL);
	json_object_object_add(o, "is_static", json_object_new_boolean(c->is_static));
	json_object_object_add(o, "deleted", json_object_new_boolean(c->deleted));
	return o;
}

static const char *const fields[] = {"name",  "description", "filters", "groups",
				     "query", "is_static",   "deleted"};

/* Applies body's fields to row; *redefined when the definition changed. */
static void apply(struct json_object *row, struct json_object *body, struct json_object *changes,
		  bool *redefined)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(fields); i++) {
		struct json_object *v;
		if (!json_object_object_get_ex(body, fields[i], &v))
			continue;
		struct json_object *nv;
		if (!strcmp(fields[i], "groups"))
			nv = sn_meta_json_is_null(v) ? json_object_new_array() : json_object_get(v);
		else if (!strcmp(fields[i], "description") && sn_meta_json_is_null(v))
			nv = json_object_new_string("");
		else
			nv = v ? json_object_get(v) : NULL;
		struct json_object *old = sn_json_get(row, fields[i]);
		if (json_object_equal(old, nv)) {
			if (nv)
				json_object_put(nv);
			continue;
		}
		if (redefined && (!strcmp(fields[i], "filters") || !strcmp(fields[i], "groups")))
			*redefined = true;
		if (changes)
			sn_meta_activity_change(changes, SCOPE, "changed", fields[i],
						old ? json_object_get(old) : NULL,
						nv ? json_object_get(nv) : NULL);
		json_object_object_add(row, fields[i], nv);
	}
}

static void bind_opt_json(sqlite3_stmt *s, int i, struct json_object *v)
{
	if (sn_meta_json_is_null(v))
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_text(s, i, sn_meta_json_text(v), -1, SQLITE_TRANSIENT);
}

/* Binds ?3..?9: name, description, filters, groups, query, is_static, deleted. */
static void bind_row(sqlite3_stmt *s, struct json_object *row)
{
	sqlite3_bind_text(s, 3, sn_json_str(sn_json_get(row, "name"), NULL), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, sn_json_str(sn_json_get(row, "description"), NULL), -1,
			  SQLITE_TRANSIENT);
	bind_opt_json(s, 5, sn_json_get(row, "filters"));
	sqlite3_bind_text(s, 6, sn_meta_json_text(sn_json_get(row, "groups")), -1,
			  SQLITE_TRANSIENT);
	bind_opt_json(s, 7, sn_json_get(row, "query"));
	sqlite3_bind_int(s, 8, json_object_get_boolean(sn_json_get(row, "is_static")));
	sqlite3_bind_int(s, 9, json_object_get_boolean(sn_json_get(row, "deleted")));
}

int sn_meta_cohort_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			  struct json_object *body, struct sn_cohort *out, struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_cohort_validate(body, false, ve);
	if (ret)
		return ret;
	struct sn_cohort defaults = {0};
	struct json_object *row = row_json(&defaults);
	apply(row, body, NULL, NULL);
	json_object_object_add(row, "deleted", json_object_new_boolean(0));
	int64_t now = sn_now_us(), id = 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	ret = sn_meta_sql_prep(db,
			       "INSERT INTO posthog_cohort (team_id, name, description, filters,"
			       " groups_json, query, is_static, deleted, created_by_id, created_at,"
			       " updated_at) VALUES (?1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?2, ?10, ?10)",
			       &s, &ve->err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		if (user_id > 0)
			sqlite3_bind_int64(s, 2, user_id);
		bind_row(s, row);
		sqlite3_bind_int64(s, 10, now);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_DONE) {
			id = sqlite3_last_insert_rowid(db);
		} else {
			ret = sn_meta_sql_err(db, rc, &ve->err, "creating a cohort");
			if (ret == SN_ERR_NOT_FOUND)
				sn_err_set(&ve->err, ret, "no such project");
		}
	}
	sqlite3_finalize(s);
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
		sn_cohort_release(out);
	else
		sn_meta_flags_bump_generation(m, team_id);
	return ret;
}

int sn_meta_cohort_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_cohort *out,
		       struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = get_locked(db, team_id, id, out, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_cohort_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			  struct json_object *body, struct sn_cohort *out, struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_cohort_validate(body, true, ve);
	if (ret)
		return ret;
	struct sn_cohort cur = {0};
	struct json_object *row = NULL, *changes = json_object_new_array();
	bool redefined = false;
	int64_t now = sn_now_us();
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	ret = get_locked(db, team_id, id, &cur, &ve->err);
	if (ret == 0 && cur.deleted && !sn_json_get(body, "deleted"))
		ret = sn_err_set(&ve->err, SN_ERR_NOT_FOUND, "Not found.");
	if (ret)
		goto out;
	row = row_json(&cur);
	apply(row, body, changes, &redefined);
	if (json_object_array_length(changes) == 0)
		goto out;
	if (json_object_get_boolean(sn_json_get(row, "is_static")) != cur.is_static) {
		ret = sn_meta_verr_set(ve, "invalid_input", "is_static",
				       "A cohort cannot change between static and dynamic; create "
				       "a new cohort instead");
		goto out;
	}
	ret =
	    sn_meta_sql_prep(db,
			     "UPDATE posthog_cohort SET name = ?3, description = ?4, filters = ?5,"
			     " groups_json = ?6, query = ?7, is_static = ?8, deleted = ?9,"
			     " updated_at = ?10,"
			     " last_calculation = CASE WHEN ?11 THEN NULL ELSE last_calculation END"
			     " WHERE team_id = ?1 AND id = ?2",
			     &s, &ve->err);
	if (ret)
		goto out;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, id);
	bind_row(s, row);
	sqlite3_bind_int64(s, 10, now);
	sqlite3_bind_int(s, 11, redefined);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = sn_meta_sql_err(db, rc, &ve->err, "updating a cohort");
		goto out;
	}
	bool deleted = json_object_get_boolean(sn_json_get(row, "deleted"));
	ret = sn_meta_activity_write(
	    db, team_id, user_id, SCOPE, id, deleted && !cur.deleted ? "deleted" : "updated",
	    sn_json_str(sn_json_get(row, "name"), NULL), json_object_get(changes), now, &ve->err);
out:
	sqlite3_finalize(s);
	if (ret == 0)
		ret = get_locked(db, team_id, id, out, &ve->err);
	ret = sn_meta_tx_end(db, ret, &ve->err);
	sn_meta_sqlite_unlock(m);
	sn_cohort_release(&cur);
	if (row)
		json_object_put(row);
	bool changed = json_object_array_length(changes) > 0;
	json_object_put(changes);
	if (ret)
		sn_cohort_release(out);
	else if (changed)
		sn_meta_flags_bump_generation(m, team_id);
	return ret;
}

int sn_meta_cohort_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			  struct sn_err *err)
{
	struct sn_cohort c;
	if (sn_meta_cohort_get(m, team_id, id, &c, err))
		return SN_ERR_NOT_FOUND;
	bool gone = c.deleted;
	sn_cohort_release(&c);
	if (gone)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	struct json_object *body = json_object_new_object();
	json_object_object_add(body, "deleted", json_object_new_boolean(1));
	struct sn_meta_verr ve;
	int ret = sn_meta_cohort_update(m, team_id, id, user_id, body, &c, &ve);
	json_object_put(body);
	if (ret == 0)
		sn_cohort_release(&c);
	else
		sn_err_set(err, ret, "%s", ve.err.msg);
	return ret;
}

/* read_row for sn_meta_list_page. */
static int read_list_row(sqlite3_stmt *s, void *row)
{
	return read_row(s, row);
}

#define LIST_WHERE                                                    \
	" FROM posthog_cohort WHERE team_id = ?1 AND deleted = 0 AND" \
	" (?2 IS NULL OR instr(lower(name), lower(?2)) > 0)"

int sn_meta_cohort_list(struct sn_meta *m, int64_t team_id, const struct sn_meta_list_opts *o,
			int64_t *total, int (*fn)(void *arg, const struct sn_cohort *c), void *arg,
			struct sn_err *err)
{
	struct sn_meta_team_search ts = {team_id, o->search};
	const struct sn_meta_page pg = {
	    .count_sql = "SELECT COUNT(*)" LIST_WHERE,
	    .page_sql = "SELECT " COH_COLS LIST_WHERE " ORDER BY id DESC LIMIT ?3 OFFSET ?4",
	    .limit_param = 3,
	    .max = PAGE_MAX,
	    .bind = sn_meta_list_page_bind_team_search,
	    .bind_ctx = &ts,
	    .row_size = sizeof(struct sn_cohort),
	    .read = read_list_row,
	    .what = "counting cohorts",
	};
	struct sn_cohort *rows = NULL;
	size_t n = 0;
	int ret = sn_meta_list_page(m, &pg, o, total, &rows, &n, err);
	bool stop = false;
	for (size_t i = 0; i < n; i++) {
		if (!stop && ret == 0 && fn(arg, &rows[i]) != 0)
			stop = true;
		sn_cohort_release(&rows[i]);
	}
	free(rows);
	return ret;
}

int sn_meta_cohort_names(struct sn_meta *m, int64_t team_id,
			 int (*fn)(void *arg, int64_t id, const char *name, bool is_static),
			 void *arg, struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db,
				   "SELECT id, name, is_static FROM posthog_cohort"
				   " WHERE team_id = ?1 AND deleted = 0 ORDER BY id",
				   &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		int rc;
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			const char *name = (const char *)sqlite3_column_text(s, 1);
			if ((ret = fn(arg, sqlite3_column_int64(s, 0), name ? name : "",
				      sqlite3_column_int(s, 2) != 0)))
				break;
		}
		if (!ret && rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "listing cohorts");
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_cohort_due(struct sn_meta *m, int64_t older_than_us, size_t max,
		       struct sn_meta_cohort_ref *out, size_t *n, struct sn_err *err)
{
	*n = 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(
	    db,
	    "SELECT team_id, id FROM posthog_cohort WHERE deleted = 0 AND is_static = 0"
	    " AND is_calculating = 0 AND (last_calculation IS NULL OR last_calculation < ?1)"
	    " AND (last_error_at IS NULL OR last_error_at < ?1)"
	    " ORDER BY coalesce(last_calculation, 0), id LIMIT ?2",
	    &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, older_than_us);
		sqlite3_bind_int64(s, 2, (int64_t)max);
		int rc;
		while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
			out[*n].team_id = sqlite3_column_int64(s, 0);
			out[*n].id = sqlite3_column_int64(s, 1);
			(*n)++;
		}
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_cohort_calc_begin(struct sn_meta *m, int64_t team_id, int64_t id, int64_t *version,
			      struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db,
				   "UPDATE posthog_cohort SET is_calculating = 1,"
				   " pending_version = coalesce(version, 0) + 1"
				   " WHERE team_id = ?1 AND id = ?2 AND deleted = 0"
				   " RETURNING pending_version",
				   &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, id);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*version = sqlite3_column_int64(s, 0);
		else if (rc == SQLITE_DONE)
			ret = sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
		else
			ret = sn_meta_sql_err(db, rc, err, "starting a cohort calculation");
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_cohort_calc_end(struct sn_meta *m, int64_t team_id, int64_t id, int64_t version,
			    int64_t count, const char *error, struct sn_err *err)
{
	int64_t now = sn_now_us();
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(
	    db,
	    error ? "UPDATE posthog_cohort SET is_calculating = 0,"
		    " errors_calculating = errors_calculating + 1, last_error = ?5,"
		    " last_error_at = ?6 WHERE team_id = ?1 AND id = ?2"
		  : "UPDATE posthog_cohort SET is_calculating = 0, errors_calculating = 0,"
		    " last_error = NULL, last_error_at = NULL, version = ?3, count = ?4,"
		    " last_calculation = ?6 WHERE team_id = ?1 AND id = ?2",
	    &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, id);
		sqlite3_bind_int64(s, 3, version);
		sqlite3_bind_int64(s, 4, count);
		if (error)
			sqlite3_bind_text(s, 5, error, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 6, now);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "recording a cohort calculation");
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	if (ret == 0 && !error)
		sn_meta_flags_bump_generation(m, team_id);
	return ret;
}

int sn_meta_cohort_calc_reset(struct sn_meta *m, struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int rc =
	    sqlite3_exec(db, "UPDATE posthog_cohort SET is_calculating = 0 WHERE is_calculating",
			 NULL, NULL, NULL);
	int ret = rc == SQLITE_OK ? 0 : sn_meta_sql_err(db, rc, err, "resetting cohort state");
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_cohort_refs(struct json_object *def, int (*fn)(void *arg, int64_t id), void *arg)
{
	if (json_object_is_type(def, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(def); i++) {
			int rc = sn_meta_cohort_refs(json_object_array_get_idx(def, i), fn, arg);
			if (rc)
				return rc;
		}
		return 0;
	}
	if (!json_object_is_type(def, json_type_object))
		return 0;
	const char *type = sn_json_str(sn_json_get(def, "type"), NULL);
	if (type && (!strcmp(type, "cohort") || !strcmp(type, "precalculated-cohort") ||
		     !strcmp(type, "static-cohort") || !strcmp(type, "dynamic-cohort"))) {
		struct json_object *v = sn_json_get(def, "value");
		int64_t id = json_object_is_type(v, json_type_string)
				 ? strtoll(json_object_get_string(v), NULL, 10)
				 : json_object_get_int64(v);
		int rc = id > 0 ? fn(arg, id) : 0;
		if (rc)
			return rc;
	}
	json_object_object_foreach(def, k, v)
	{
		(void)k;
		int rc = sn_meta_cohort_refs(v, fn, arg);
		if (rc)
			return rc;
	}
	return 0;
}
