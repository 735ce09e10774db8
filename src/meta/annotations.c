/*
 * annotations.c — PostHog's annotations (posthog_annotation) in the SQLite
 * metadata backend: validation, create / change / soft delete with an
 * activity-log entry each, and the list a project sees.
 *
 *   body ──validate──▶ apply(row as JSON, body) ──diff──▶ changes[]
 *                            │                               │ same tx
 *                            ▼                               ▼
 *                   INSERT/UPDATE posthog_annotation   posthog_activitylog
 *
 * A row is handled as a small JSON object of its editable fields
 * ({content, date_marker, creation_type, dashboard_item, dashboard_id,
 * scope, deleted}) while it changes: applying a body and computing the
 * activity log's before/after are then one loop over field names rather
 * than a hand-written comparison per field. date_marker is normalised to
 * the RFC 3339 text snout answers with before the comparison, so
 * "2024-05-01" and "2024-05-01T00:00:00Z" are the same value.
 *
 * Visibility (PostHog's AnnotationsViewSet queryset): a project sees its
 * own annotations and the organization-scoped ones of its organization.
 * The organization is looked up in the same statement (a subquery on the
 * team), so callers pass only the team id. Lists leave deleted rows out;
 * a fetch by id does not, as in PostHog.
 *
 * Rejected: a fixed C struct per change with one if per field (what
 * flags.c does); seven fields make that longer and easier to get wrong.
 */
#include "meta/meta_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANN_COLS                                                                                \
	"id, team_id, organization_id, content, date_marker, creation_type, dashboard_item_id," \
	" dashboard_id, scope, created_by_id, created_at, updated_at, deleted"
#define VISIBLE                                                          \
	"(team_id = ?1 OR (scope = 'organization' AND organization_id =" \
	" (SELECT organization_id FROM posthog_team WHERE id = ?1)))"
#define SCOPE	 "Annotation"
#define PAGE_MAX 1000

static const char *const scopes[] = {"dashboard_item", "dashboard", "project", "organization",
				     "recording"};

/* ---- date-times ------------------------------------------------------------------ */

static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

int sn_meta_parse_datetime(const char *s, int64_t *us)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, frac_us = 0, off_min = 0;
	if (!s || strlen(s) < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d))
		return SN_ERR_INVALID;
	const char *p = s + 10;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(p, 2, &h) || p[2] != ':' || !digits(p + 3, 2, &mi))
			return SN_ERR_INVALID;
		p += 5;
		if (*p == ':') {
			if (!digits(p + 1, 2, &sec))
				return SN_ERR_INVALID;
			p += 3;
			if (*p == '.' || *p == ',') {
				p++;
				int nd = 0, scale = 100000;
				while (*p >= '0' && *p <= '9') {
					if (nd++ < 6) {
						frac_us += (*p - '0') * scale;
						scale /= 10;
					}
					p++;
				}
				if (!nd)
					return SN_ERR_INVALID;
			}
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1, oh, om = 0;
			p++;
			if (!digits(p, 2, &oh))
				return SN_ERR_INVALID;
			p += 2;
			if (*p == ':')
				p++;
			if (*p) {
				if (!digits(p, 2, &om))
					return SN_ERR_INVALID;
				p += 2;
			}
			if (oh > 23 || om > 59)
				return SN_ERR_INVALID;
			off_min = sign * (oh * 60 + om);
		}
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
		return SN_ERR_INVALID;
	int64_t days = sn_days_from_civil(y, (unsigned)mo, (unsigned)d);
	int64_t cy;
	unsigned cm, cd;
	sn_civil_from_days(days, &cy, &cm, &cd);
	if (cy != y || (int)cm != mo || (int)cd != d) /* 2024-02-30 */
		return SN_ERR_INVALID;
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off_min * 60;
	*us = secs * 1000000 + frac_us;
	return 0;
}

/* ---- validation ------------------------------------------------------------------- */

static int check_id(struct json_object *body, const char *name, struct sn_meta_verr *ve)
{
	struct json_object *v = sn_json_get(body, name);
	if (sn_meta_json_is_null(v))
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0)
		return sn_meta_verr_set(ve, "incorrect_type", name,
					"Incorrect type. Expected pk value, received %s.",
					json_type_to_name(json_object_get_type(v)));
	return 0;
}

int sn_meta_annotation_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve)
{
	(void)partial; /* every field is optional, as in PostHog's serializer */
	if (ve)
		memset(ve, 0, sizeof(*ve));
	if (!json_object_is_type(body, json_type_object))
		return sn_meta_verr_set(ve, "parse_error", NULL, "the body must be a JSON object");
	struct json_object *v = sn_json_get(body, "content");
	if (!sn_meta_json_is_null(v)) {
		size_t n = 0;
		const char *s =
		    json_object_is_type(v, json_type_string) ? sn_json_str(v, &n) : NULL;
		if (!s)
			return sn_meta_verr_set(ve, "invalid", "content", "Not a valid string.");
		if (sn_meta_utf8_chars(s, n) > SN_ANNOTATION_CONTENT_MAX)
			return sn_meta_verr_set(ve, "max_length", "content",
						"Ensure this field has no more than %d characters.",
						SN_ANNOTATION_CONTENT_MAX);
	}
	v = sn_json_get(body, "date_marker");
	int64_t us;
	if (!sn_meta_json_is_null(v) && (!json_object_is_type(v, json_type_string) ||
					 sn_meta_parse_datetime(sn_json_str(v, NULL), &us)))
		return sn_meta_verr_set(
		    ve, "invalid", "date_marker",
		    "Datetime has wrong format. Use one of these formats "
		    "instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].");
	/* DRF's "null": these fields have no null (json-c reads null as a key
	 * whose value is NULL, which sn_json_get cannot tell from absent). */
	static const char *const not_null[] = {"creation_type", "scope", "deleted"};
	for (size_t i = 0; i < SN_ARRAY_LEN(not_null); i++)
		if (json_object_object_get_ex(body, not_null[i], &v) && !v)
			return sn_meta_verr_set(ve, "null", not_null[i],
						"This field may not be null.");
	static const char *const ctypes[] = {"USR", "GIT"};
	v = sn_json_get(body, "creation_type");
	if (v &&
	    !sn_meta_in_list(json_object_is_type(v, json_type_string) ? sn_json_str(v, NULL) : NULL,
			     ctypes, SN_ARRAY_LEN(ctypes)))
		return sn_meta_verr_set(ve, "invalid_choice", "creation_type",
					"\"%s\" is not a valid choice.", json_object_get_string(v));
	v = sn_json_get(body, "scope");
	if (v &&
	    !sn_meta_in_list(json_object_is_type(v, json_type_string) ? sn_json_str(v, NULL) : NULL,
			     scopes, SN_ARRAY_LEN(scopes)))
		return sn_meta_verr_set(ve, "invalid_choice", "scope",
					"\"%s\" is not a valid choice.", json_object_get_string(v));
	int rc;
	if ((rc = check_id(body, "dashboard_item", ve)) ||
	    (rc = check_id(body, "dashboard_id", ve)))
		return rc;
	v = sn_json_get(body, "deleted");
	if (v && !json_object_is_type(v, json_type_boolean))
		return sn_meta_verr_set(ve, "invalid", "deleted", "Must be a valid boolean.");
	return 0;
}

/* ---- rows ----------------------------------------------------------------------- */

void sn_annotation_release(struct sn_annotation *a)
{
	if (!a)
		return;
	free(a->content);
	a->content = NULL;
}

static int read_row(sqlite3_stmt *s, struct sn_annotation *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(s, 0);
	a->team_id = sqlite3_column_int64(s, 1);
	a->organization_id = sqlite3_column_int64(s, 2);
	if (sqlite3_column_type(s, 3) != SQLITE_NULL) {
		a->content = strdup((const char *)sqlite3_column_text(s, 3));
		if (!a->content)
			return SN_ERR_NOMEM;
	}
	a->has_date_marker = sqlite3_column_type(s, 4) != SQLITE_NULL;
	a->date_marker_us = sqlite3_column_int64(s, 4);
	sn_sqlite_column_text(s, 5, a->creation_type, sizeof(a->creation_type));
	a->dashboard_item = sqlite3_column_int64(s, 6);
	a->dashboard_id = sqlite3_column_int64(s, 7);
	sn_sqlite_column_text(s, 8, a->scope, sizeof(a->scope));
	a->created_by = sqlite3_column_int64(s, 9);
	a->created_at_us = sqlite3_column_int64(s, 10);
	a->updated_at_us = sqlite3_column_int64(s, 11);
	a->deleted = sqlite3_column_int(s, 12) != 0;
	return 0;
}

static int get_locked(sqlite3 *db, int64_t team_id, int64_t id, struct sn_annotation *out,
		      struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(
	    db, "SELECT " ANN_COLS " FROM posthog_annotation WHERE id = ?2 AND " VISIBLE, &s, err);
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
		ret = sn_meta_sql_err(db, rc, err, "reading an annotation");
	}
	sqlite3_finalize(s);
	return ret;
}

/* The editable fields of a row as JSON (a new object). */
static struct json_object *row_json(const struct sn_annotation *a)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "content",
			       a->content ? json_object_new_string(a->content) : NULL);
	if (a->has_date_marker) {
		char ts[32];
		sn_time_format_rfc3339(a->date_marker_us, ts);
		json_object_object_add(o, "date_marker", json_object_new_string(ts));
	} else {
		json_object_object_add(o, "date_marker", NULL);
	}
	json_object_object_add(o, "creation_type", json_object_new_string(a->creation_type));
	json_object_object_add(o, "dashboard_item",
			       a->dashboard_item ? json_object_new_int64(a->dashboard_item) : NULL);
	json_object_object_add(o, "dashboard_id",
			       a->dashboard_id ? json_object_new_int64(a->dashboard_id) : NULL);
	json_object_object_add(o, "scope", json_object_new_string(a->scope));
	json_object_object_add(o, "deleted", json_object_new_boolean(a->deleted));
	return o;
}

static const char *const fields[] = {"content",	       "date_marker",  "creation_type",
				     "dashboard_item", "dashboard_id", "scope",
				     "deleted"};

/* Applies a validated body to row, appending one change per field whose
 * value differs (changes may be NULL). */
static void apply(struct json_object *row, struct json_object *body, struct json_object *changes)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(fields); i++) {
		struct json_object *v;
		if (!json_object_object_get_ex(body, fields[i], &v))
			continue;
		struct json_object *nv = NULL;
		if (!sn_meta_json_is_null(v) && !strcmp(fields[i], "date_marker")) {
			int64_t us = 0;
			char ts[32];
			sn_meta_parse_datetime(sn_json_str(v, NULL), &us);
			sn_time_format_rfc3339(us, ts);
			nv = json_object_new_string(ts);
		} else if (!sn_meta_json_is_null(v)) {
			nv = json_object_get(v);
		}
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

static void bind_opt_int(sqlite3_stmt *s, int i, struct json_object *v)
{
	if (sn_meta_json_is_null(v))
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, json_object_get_int64(v));
}

/* Binds the row's fields to ?3..?9 (content .. deleted). */
static void bind_row(sqlite3_stmt *s, struct json_object *row)
{
	struct json_object *v = sn_json_get(row, "content");
	if (sn_meta_json_is_null(v))
		sqlite3_bind_null(s, 3);
	else
		sqlite3_bind_text(s, 3, sn_json_str(v, NULL), -1, SQLITE_TRANSIENT);
	v = sn_json_get(row, "date_marker");
	int64_t us;
	if (sn_meta_json_is_null(v) || sn_meta_parse_datetime(sn_json_str(v, NULL), &us))
		sqlite3_bind_null(s, 4);
	else
		sqlite3_bind_int64(s, 4, us);
	sqlite3_bind_text(s, 5, sn_json_str(sn_json_get(row, "creation_type"), NULL), -1,
			  SQLITE_TRANSIENT);
	bind_opt_int(s, 6, sn_json_get(row, "dashboard_item"));
	bind_opt_int(s, 7, sn_json_get(row, "dashboard_id"));
	sqlite3_bind_text(s, 8, sn_json_str(sn_json_get(row, "scope"), NULL), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 9, json_object_get_boolean(sn_json_get(row, "deleted")));
}

static const char *content_of(struct json_object *row)
{
	return sn_json_str(sn_json_get(row, "content"), NULL);
}

int sn_meta_annotation_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			      struct json_object *body, struct sn_annotation *out,
			      struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_annotation_validate(body, false, ve);
	if (ret)
		return ret;
	struct sn_annotation defaults = {.creation_type = "USR", .scope = "dashboard_item"};
	struct json_object *row = row_json(&defaults);
	apply(row, body, NULL);
	int64_t now = sn_now_us(), id = 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	ret = sn_meta_sql_prep(
	    db,
	    "INSERT INTO posthog_annotation (team_id, organization_id, content, date_marker,"
	    " creation_type, dashboard_item_id, dashboard_id, scope, deleted, created_by_id,"
	    " created_at, updated_at) SELECT ?1, organization_id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?2,"
	    " ?10, ?10 FROM posthog_team WHERE id = ?1",
	    &s, &ve->err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		if (user_id > 0)
			sqlite3_bind_int64(s, 2, user_id);
		bind_row(s, row);
		sqlite3_bind_int64(s, 10, now);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, &ve->err, "creating an annotation");
		else if (sqlite3_changes(db) == 0)
			ret = sn_err_set(&ve->err, SN_ERR_NOT_FOUND, "no such project");
		else
			id = sqlite3_last_insert_rowid(db);
	}
	sqlite3_finalize(s);
	if (ret == 0)
		ret = sn_meta_activity_created(db, team_id, user_id, SCOPE, id, content_of(row),
					       now, &ve->err);
	if (ret == 0)
		ret = get_locked(db, team_id, id, out, &ve->err);
	ret = sn_meta_tx_end(db, ret, &ve->err);
	sn_meta_sqlite_unlock(m);
	json_object_put(row);
	if (ret)
		sn_annotation_release(out);
	return ret;
}

int sn_meta_annotation_get(struct sn_meta *m, int64_t team_id, int64_t id,
			   struct sn_annotation *out, struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = get_locked(db, team_id, id, out, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_annotation_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			      struct json_object *body, struct sn_annotation *out,
			      struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_annotation_validate(body, true, ve);
	if (ret)
		return ret;
	struct sn_annotation cur = {0};
	struct json_object *row = NULL, *changes = json_object_new_array();
	int64_t now = sn_now_us();
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	ret = get_locked(db, team_id, id, &cur, &ve->err);
	if (ret)
		goto out;
	row = row_json(&cur);
	apply(row, body, changes);
	if (json_object_array_length(changes) == 0)
		goto out;
	ret = sn_meta_sql_prep(db,
			       "UPDATE posthog_annotation SET content = ?3, date_marker = ?4,"
			       " creation_type = ?5, dashboard_item_id = ?6, dashboard_id = ?7,"
			       " scope = ?8, deleted = ?9, updated_at = ?10 WHERE id = ?2",
			       &s, &ve->err);
	if (ret)
		goto out;
	bind_row(s, row);
	sqlite3_bind_int64(s, 2, id);
	sqlite3_bind_int64(s, 10, now);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = sn_meta_sql_err(db, rc, &ve->err, "updating an annotation");
		goto out;
	}
	bool deleted = json_object_get_boolean(sn_json_get(row, "deleted"));
	/* Logged under the annotation's own team, where its history lives. */
	ret = sn_meta_activity_write(db, cur.team_id, user_id, SCOPE, id,
				     deleted && !cur.deleted ? "deleted" : "updated",
				     content_of(row), json_object_get(changes), now, &ve->err);
out:
	sqlite3_finalize(s);
	/* Read back through the annotation's own team: a scope narrowed from
	 * "organization" may no longer be visible from team_id. */
	if (ret == 0)
		ret = get_locked(db, cur.team_id, id, out, &ve->err);
	ret = sn_meta_tx_end(db, ret, &ve->err);
	sn_meta_sqlite_unlock(m);
	sn_annotation_release(&cur);
	json_object_put(row);
	json_object_put(changes);
	if (ret)
		sn_annotation_release(out);
	return ret;
}

int sn_meta_annotation_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			      struct sn_err *err)
{
	struct sn_annotation a;
	if (sn_meta_annotation_get(m, team_id, id, &a, err))
		return err ? err->code : SN_ERR_NOT_FOUND;
	bool deleted = a.deleted;
	sn_annotation_release(&a);
	if (deleted)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	struct json_object *body = json_object_new_object();
	json_object_object_add(body, "deleted", json_object_new_boolean(1));
	struct sn_meta_verr ve;
	int ret = sn_meta_annotation_update(m, team_id, id, user_id, body, &a, &ve);
	json_object_put(body);
	if (ret == 0)
		sn_annotation_release(&a);
	else
		sn_err_set(err, ret, "%s", ve.err.msg);
	return ret;
}

/* Binds ?1 team, ?2 search, ?3 scope (NULL = no filter). */
#define LIST_WHERE                                                                      \
	" FROM posthog_annotation WHERE deleted = 0 AND " VISIBLE " AND (?2 IS NULL OR" \
	" instr(lower(COALESCE(content, '')), lower(?2)) > 0) AND (?3 IS NULL OR scope = ?3)"

struct ann_filter {
	int64_t team_id;
	const struct sn_meta_list_opts *o;
};

static void bind_filter(sqlite3_stmt *s, const void *ctx)
{
	const struct ann_filter *f = ctx;
	sqlite3_bind_int64(s, 1, f->team_id);
	if (f->o->search && *f->o->search)
		sqlite3_bind_text(s, 2, f->o->search, -1, SQLITE_STATIC);
	if (f->o->scope && *f->o->scope)
		sqlite3_bind_text(s, 3, f->o->scope, -1, SQLITE_STATIC);
}

static int read_list_row(sqlite3_stmt *s, void *row)
{
	return read_row(s, row);
}

int sn_meta_annotation_list(struct sn_meta *m, int64_t team_id, const struct sn_meta_list_opts *o,
			    int64_t *total, int (*fn)(void *arg, const struct sn_annotation *a),
			    void *arg, struct sn_err *err)
{
	struct ann_filter f = {team_id, o};
	const struct sn_meta_page pg = {
	    .count_sql = "SELECT COUNT(*)" LIST_WHERE,
	    .page_sql = "SELECT " ANN_COLS LIST_WHERE
			" ORDER BY date_marker IS NULL DESC, date_marker DESC, id DESC"
			" LIMIT ?4 OFFSET ?5",
	    .limit_param = 4,
	    .max = PAGE_MAX,
	    .bind = bind_filter,
	    .bind_ctx = &f,
	    .row_size = sizeof(struct sn_annotation),
	    .read = read_list_row,
	    .what = "counting annotations",
	};
	struct sn_annotation *rows = NULL;
	size_t n = 0;
	int ret = sn_meta_list_page(m, &pg, o, total, &rows, &n, err);
	bool stop = false;
	for (size_t i = 0; i < n; i++) {
		if (!stop && ret == 0 && fn(arg, &rows[i]) != 0)
			stop = true;
		sn_annotation_release(&rows[i]);
	}
	free(rows);
	return ret;
}
