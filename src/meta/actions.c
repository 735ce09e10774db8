/*
 * actions.c — PostHog's actions (posthog_action) in the SQLite metadata
 * backend: a named list of steps, each a way an event can match (event
 * name, URL, element text, href, CSS selector, properties). Validation,
 * create / change / soft delete with activity-log entries (scope "Action"),
 * the list, and the lookup a query's matchesAction() will use.
 *
 *   body ──validate──▶ normalise steps ──▶ apply(row as JSON) ──diff──▶ changes[]
 *                                               │                        │ same tx
 *                                               ▼                        ▼
 *                                        posthog_action           posthog_activitylog
 *
 * Steps are stored as PostHog's ActionStepJSON array (steps_json), each
 * step normalised to the full key set (event, properties, selector,
 * tag_name, text, text_matching, href, href_matching, url, url_matching;
 * url_matching "contains" by default, as PostHog's dataclass) so readers
 * never guess at absent keys. A regex step (…_matching "regex") must
 * compile with PCRE2 here, at write time: a pattern that cannot match
 * anything is a user error worth naming, not a silent non-match later.
 *
 * As in annotations.c, a row being changed is a small JSON object of its
 * editable fields, so applying a PATCH and computing before/after for the
 * activity log is one loop.
 *
 * Name uniqueness among live actions of a team is checked first (to name
 * the colliding action's id, as PostHog's message does) and enforced by a
 * partial unique index.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "meta/meta_internal.h"

#include <pcre2.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACT_COLS                                                                                 \
	"id, team_id, name, description, tags, steps_json, post_to_slack, slack_message_format," \
	" created_by_id, created_at, updated_at, deleted"
#define SCOPE	 "Action"
#define PAGE_MAX 1000
#define TEXT_MAX (64 * 1024)
#define TAGS_MAX 100

static const char *const step_strings[] = {"event", "selector", "tag_name", "text", "href", "url"};
static const char *const matchings[] = {"contains", "exact", "regex"};

/* ---- validation ------------------------------------------------------------------- */

static bool regex_compiles(const char *re, char *msg, size_t msg_size)
{
	int ec = 0;
	PCRE2_SIZE off = 0;
	pcre2_code *c =
	    pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &ec, &off, NULL);
	if (c) {
		pcre2_code_free(c);
		return true;
	}
	PCRE2_UCHAR buf[160];
	pcre2_get_error_message(ec, buf, sizeof(buf));
	snprintf(msg, msg_size, "%s at offset %zu", (const char *)buf, (size_t)off);
	return false;
}

static int check_step(struct json_object *st, size_t i, struct sn_meta_verr *ve)
{
	if (!json_object_is_type(st, json_type_object))
		return sn_meta_verr_set(ve, "invalid_input", "steps",
					"steps[%zu] must be an object", i);
	for (size_t k = 0; k < SN_ARRAY_LEN(step_strings); k++) {
		struct json_object *v = sn_json_get(st, step_strings[k]);
		if (!sn_meta_json_is_null(v) && !json_object_is_type(v, json_type_string))
			return sn_meta_verr_set(ve, "invalid_input", "steps",
						"steps[%zu].%s must be a string or null", i,
						step_strings[k]);
	}
	static const char *const matched[] = {"text", "href", "url"};
	for (size_t k = 0; k < SN_ARRAY_LEN(matched); k++) {
		char mk[32];
		snprintf(mk, sizeof(mk), "%s_matching", matched[k]);
		struct json_object *m = sn_json_get(st, mk);
		if (sn_meta_json_is_null(m))
			continue;
		const char *ms =
		    json_object_is_type(m, json_type_string) ? sn_json_str(m, NULL) : NULL;
		if (!sn_meta_in_list(ms, matchings, SN_ARRAY_LEN(matchings)))
			return sn_meta_verr_set(ve, "invalid_input", "steps",
						"steps[%zu].%s must be contains, exact or regex", i,
						mk);
		const char *pat = sn_json_str(sn_json_get(st, matched[k]), NULL);
		char msg[200];
		if (!strcmp(ms, "regex") && pat && !regex_compiles(pat, msg, sizeof(msg)))
			return sn_meta_verr_set(
			    ve, "invalid_regex", "steps",
			    "steps[%zu].%s is not a valid regular expression: %s", i, matched[k],
			    msg);
	}
	struct json_object *props = sn_json_get(st, "properties");
	if (!sn_meta_json_is_null(props)) {
		if (!json_object_is_type(props, json_type_array))
			return sn_meta_verr_set(ve, "invalid_input", "steps",
						"steps[%zu].properties must be an array", i);
		for (size_t j = 0; j < json_object_array_length(props); j++)
			if (!json_object_is_type(json_object_array_get_idx(props, j),
						 json_type_object))
				return sn_meta_verr_set(ve, "invalid_input", "steps",
							"steps[%zu].properties[%zu] must be an "
							"object",
							i, j);
	}
	return 0;
}

static int check_text(struct json_object *body, const char *name, struct sn_meta_verr *ve)
{
	struct json_object *v = sn_json_get(body, name);
	size_t n = 0;
	if (sn_meta_json_is_null(v))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return sn_meta_verr_set(ve, "invalid", name, "Not a valid string.");
	sn_json_str(v, &n);
	if (n > TEXT_MAX)
		return sn_meta_verr_set(ve, "max_length", name, "%s is longer than %d bytes", name,
					TEXT_MAX);
	return 0;
}

static int check_bool(struct json_object *body, const char *name, struct sn_meta_verr *ve)
{
	struct json_object *v = sn_json_get(body, name);
	if (v && !json_object_is_type(v, json_type_boolean))
		return sn_meta_verr_set(ve, "invalid", name, "Must be a valid boolean.");
	return 0;
}

int sn_meta_action_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve)
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
		if (!s)
			return sn_meta_verr_set(ve, "invalid", "name", "Not a valid string.");
		if (strspn(s, " \t\r\n") == n)
			return sn_meta_verr_set(ve, "blank", "name",
						"This field may not be blank.");
		if (sn_meta_utf8_chars(s, n) > SN_ACTION_NAME_MAX)
			return sn_meta_verr_set(ve, "max_length", "name",
						"Ensure this field has no more than %d characters.",
						SN_ACTION_NAME_MAX);
	}
	int rc;
	if ((rc = check_text(body, "description", ve)) ||
	    (rc = check_text(body, "slack_message_format", ve)) ||
	    (rc = check_bool(body, "post_to_slack", ve)) || (rc = check_bool(body, "deleted", ve)))
		return rc;
	static const char *const not_null[] = {"name", "post_to_slack", "deleted"};
	for (size_t i = 0; i < SN_ARRAY_LEN(not_null); i++)
		if (json_object_object_get_ex(body, not_null[i], &v) && !v)
			return sn_meta_verr_set(ve, "null", not_null[i],
						"This field may not be null.");
	v = sn_json_get(body, "tags");
	if (!sn_meta_json_is_null(v)) {
		if (!json_object_is_type(v, json_type_array) ||
		    json_object_array_length(v) > TAGS_MAX)
			return sn_meta_verr_set(ve, "not_a_list", "tags",
						"Expected a list of at most %d strings.", TAGS_MAX);
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if (!json_object_is_type(json_object_array_get_idx(v, i), json_type_string))
				return sn_meta_verr_set(ve, "invalid", "tags",
							"tags[%zu] must be a string", i);
	}
	v = sn_json_get(body, "steps");
	if (!sn_meta_json_is_null(v)) {
		if (!json_object_is_type(v, json_type_array))
			return sn_meta_verr_set(ve, "not_a_list", "steps",
						"Expected a list of items but got type \"%s\".",
						json_type_to_name(json_object_get_type(v)));
		if (json_object_array_length(v) > SN_ACTION_STEPS_MAX)
			return sn_meta_verr_set(ve, "max_length", "steps",
						"An action has at most %d steps.",
						SN_ACTION_STEPS_MAX);
		for (size_t i = 0; i < json_object_array_length(v); i++)
			if ((rc = check_step(json_object_array_get_idx(v, i), i, ve)))
				return rc;
	}
	return 0;
}

/* A validated steps array in the stored shape (a new reference). */
static struct json_object *normalise_steps(struct json_object *in)
{
	struct json_object *out = json_object_new_array();
	for (size_t i = 0;
	     in && json_object_is_type(in, json_type_array) && i < json_object_array_length(in);
	     i++) {
		struct json_object *st = json_object_array_get_idx(in, i);
		struct json_object *o = json_object_new_object();
		static const char *const keys[] = {
		    "event",	     "properties", "selector",	    "tag_name", "text",
		    "text_matching", "href",	   "href_matching", "url",	"url_matching"};
		for (size_t k = 0; k < SN_ARRAY_LEN(keys); k++) {
			struct json_object *v = sn_json_get(st, keys[k]);
			if (!sn_meta_json_is_null(v))
				json_object_object_add(o, keys[k], json_object_get(v));
			else if (!strcmp(keys[k], "url_matching"))
				json_object_object_add(o, keys[k],
						       json_object_new_string("contains"));
			else if (!strcmp(keys[k], "properties"))
				json_object_object_add(o, keys[k], json_object_new_array());
			else
				json_object_object_add(o, keys[k], NULL);
		}
		json_object_array_add(out, o);
	}
	return out;
}

/* ---- rows ------------------------------------------------------------------------- */

void sn_action_release(struct sn_action *a)
{
	if (!a)
		return;
	free(a->name);
	free(a->description);
	free(a->slack_message_format);
	if (a->tags)
		json_object_put(a->tags);
	if (a->steps)
		json_object_put(a->steps);
	memset(a, 0, sizeof(*a));
}

static struct json_object *column_array(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	struct json_object *o = NULL;
	if (!t || sn_json_parse(t, (size_t)sqlite3_column_bytes(s, i), &o, NULL) ||
	    !json_object_is_type(o, json_type_array)) {
		if (o)
			json_object_put(o);
		o = json_object_new_array();
	}
	return o;
}

static char *column_strdup(sqlite3_stmt *s, int i)
{
	const char *t = (const char *)sqlite3_column_text(s, i);
	return strdup(t ? t : "");
}

static int read_row(sqlite3_stmt *s, struct sn_action *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(s, 0);
	a->team_id = sqlite3_column_int64(s, 1);
	a->name = column_strdup(s, 2);
	a->description = column_strdup(s, 3);
	a->tags = column_array(s, 4);
	a->steps = column_array(s, 5);
	a->post_to_slack = sqlite3_column_int(s, 6) != 0;
	a->slack_message_format = column_strdup(s, 7);
	a->created_by = sqlite3_column_int64(s, 8);
	a->created_at_us = sqlite3_column_int64(s, 9);
	a->updated_at_us = sqlite3_column_int64(s, 10);
	a->deleted = sqlite3_column_int(s, 11) != 0;
	if (!a->name || !a->description || !a->slack_message_format || !a->tags || !a->steps) {
		sn_action_release(a);
		return SN_ERR_NOMEM;
	}
	return 0;
}

/* One row by "id = ?2" or "name = ?3 AND deleted = 0" (where), of team ?1. */
static int get_where(sqlite3 *db, int64_t team_id, const char *where, int64_t id, const char *name,
		     struct sn_action *out, struct sn_err *err)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT " ACT_COLS " FROM posthog_action WHERE team_id = ?1 AND %s", where);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db, sql, &s, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, id);
	if (name)
		sqlite3_bind_text(s, 3, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if ((ret = read_row(s, out)))
			sn_err_set(err, ret, "out of memory");
	} else if (rc == SQLITE_DONE) {
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	} else {
		ret = sn_meta_sql_err(db, rc, err, "reading an action");
	}
	sqlite3_finalize(s);
	return ret;
}

static int get_locked(sqlite3 *db, int64_t team_id, int64_t id, struct sn_action *out,
		      struct sn_err *err)
{
	return get_where(db, team_id, "id = ?2", id, NULL, out, err);
}

static struct json_object *row_json(const struct sn_action *a)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "name", json_object_new_string(a->name ? a->name : ""));
	json_object_object_add(o, "description",
			       json_object_new_string(a->description ? a->description : ""));
	json_object_object_add(o, "tags",
			       a->tags ? json_object_get(a->tags) : json_object_new_array());
	json_object_object_add(o, "steps",
			       a->steps ? json_object_get(a->steps) : json_object_new_array());
	json_object_object_add(o, "post_to_slack", json_object_new_boolean(a->post_to_slack));
	json_object_object_add(
	    o, "slack_message_format",
	    json_object_new_string(a->slack_message_format ? a->slack_message_format : ""));
	json_object_object_add(o, "deleted", json_object_new_boolean(a->deleted));
	return o;
}

static const char *const fields[] = {"name",	      "description",	      "tags",	"steps",
				     "post_to_slack", "slack_message_format", "deleted"};

static void apply(struct json_object *row, struct json_object *body, struct json_object *changes)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(fields); i++) {
		struct json_object *v;
		if (!json_object_object_get_ex(body, fields[i], &v))
			continue;
		struct json_object *nv;
		if (!strcmp(fields[i], "steps"))
			nv = normalise_steps(v);
		else if (!strcmp(fields[i], "tags"))
			nv = sn_meta_json_is_null(v) ? json_object_new_array() : json_object_get(v);
		else if (sn_meta_json_is_null(v) && strcmp(fields[i], "name"))
			nv = json_object_new_string(""); /* description, slack format */
		else if (sn_meta_json_is_null(v))
			continue;
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

/* Binds ?3..?9: name, description, tags, steps, post_to_slack, format, deleted. */
static void bind_row(sqlite3_stmt *s, struct json_object *row)
{
	sqlite3_bind_text(s, 3, sn_json_str(sn_json_get(row, "name"), NULL), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, sn_json_str(sn_json_get(row, "description"), NULL), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 5, sn_meta_json_text(sn_json_get(row, "tags")), -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 6, sn_meta_json_text(sn_json_get(row, "steps")), -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 7, json_object_get_boolean(sn_json_get(row, "post_to_slack")));
	sqlite3_bind_text(s, 8, sn_json_str(sn_json_get(row, "slack_message_format"), NULL), -1,
			  SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 9, json_object_get_boolean(sn_json_get(row, "deleted")));
}

/* SN_ERR_EXISTS with PostHog's message when another live action of the team
 * (not id) has the row's name; only checked for a live row. */
static int check_unique(sqlite3 *db, int64_t team_id, int64_t id, struct json_object *row,
			struct sn_meta_verr *ve)
{
	if (json_object_get_boolean(sn_json_get(row, "deleted")))
		return 0;
	sqlite3_stmt *s = NULL;
	int ret =
	    sn_meta_sql_prep(db,
			     "SELECT id FROM posthog_action WHERE team_id = ?1 AND name = ?2 AND"
			     " deleted = 0 AND id != ?3 LIMIT 1",
			     &s, &ve->err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_text(s, 2, sn_json_str(sn_json_get(row, "name"), NULL), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		sn_meta_verr_set(ve, "unique", "name",
				 "This project already has an action with this name, ID %lld",
				 (long long)sqlite3_column_int64(s, 0));
		ret = ve->err.code = SN_ERR_EXISTS;
	} else if (rc != SQLITE_DONE) {
		ret = sn_meta_sql_err(db, rc, &ve->err, "checking an action name");
	}
	sqlite3_finalize(s);
	return ret;
}

int sn_meta_action_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			  struct json_object *body, struct sn_action *out, struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_action_validate(body, false, ve);
	if (ret)
		return ret;
	struct sn_action defaults = {0};
	struct json_object *row = row_json(&defaults);
	apply(row, body, NULL);
	json_object_object_add(row, "deleted", json_object_new_boolean(0));
	int64_t now = sn_now_us(), id = 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	ret = check_unique(db, team_id, 0, row, ve);
	if (ret == 0)
		ret =
		    sn_meta_sql_prep(db,
				     "INSERT INTO posthog_action (team_id, name, description, tags,"
				     " steps_json, post_to_slack, slack_message_format, deleted,"
				     " created_by_id, created_at, updated_at) VALUES (?1, ?3, ?4,"
				     " ?5, ?6, ?7, ?8, ?9, ?2, ?10, ?10)",
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
			ret = sn_meta_sql_err(db, rc, &ve->err, "creating an action");
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
		sn_action_release(out);
	return ret;
}

int sn_meta_action_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_action *out,
		       struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = get_locked(db, team_id, id, out, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_action_find(struct sn_meta *m, int64_t team_id, int64_t id, const char *name,
			struct sn_action *out, struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	if (id <= 0 && !name)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = id > 0 ? get_where(db, team_id, "id = ?2 AND deleted = 0", id, NULL, out, err)
			 : get_where(db, team_id, "name = ?3 AND deleted = 0", 0, name, out, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_action_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			  struct json_object *body, struct sn_action *out, struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_action_validate(body, true, ve);
	if (ret)
		return ret;
	struct sn_action cur = {0};
	struct json_object *row = NULL, *changes = json_object_new_array();
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
	apply(row, body, changes);
	if (json_object_array_length(changes) == 0)
		goto out;
	if ((ret = check_unique(db, team_id, id, row, ve)))
		goto out;
	ret = sn_meta_sql_prep(db,
			       "UPDATE posthog_action SET name = ?3, description = ?4, tags = ?5,"
			       " steps_json = ?6, post_to_slack = ?7, slack_message_format = ?8,"
			       " deleted = ?9, updated_at = ?10 WHERE team_id = ?1 AND id = ?2",
			       &s, &ve->err);
	if (ret)
		goto out;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, id);
	bind_row(s, row);
	sqlite3_bind_int64(s, 10, now);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = sn_meta_sql_err(db, rc, &ve->err, "updating an action");
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
	sn_action_release(&cur);
	if (row)
		json_object_put(row);
	json_object_put(changes);
	if (ret)
		sn_action_release(out);
	return ret;
}

int sn_meta_action_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			  struct sn_err *err)
{
	struct sn_action a;
	if (sn_meta_action_find(m, team_id, id, NULL, &a, err))
		return SN_ERR_NOT_FOUND;
	sn_action_release(&a);
	struct json_object *body = json_object_new_object();
	json_object_object_add(body, "deleted", json_object_new_boolean(1));
	struct sn_meta_verr ve;
	int ret = sn_meta_action_update(m, team_id, id, user_id, body, &a, &ve);
	json_object_put(body);
	if (ret == 0)
		sn_action_release(&a);
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
	" FROM posthog_action WHERE team_id = ?1 AND deleted = 0 AND" \
	" (?2 IS NULL OR instr(lower(name), lower(?2)) > 0)"

int sn_meta_action_list(struct sn_meta *m, int64_t team_id, const struct sn_meta_list_opts *o,
			int64_t *total, int (*fn)(void *arg, const struct sn_action *a), void *arg,
			struct sn_err *err)
{
	struct sn_meta_team_search ts = {team_id, o->search};
	const struct sn_meta_page pg = {
	    .count_sql = "SELECT COUNT(*)" LIST_WHERE,
	    .page_sql = "SELECT " ACT_COLS LIST_WHERE " ORDER BY id DESC LIMIT ?3 OFFSET ?4",
	    .limit_param = 3,
	    .max = PAGE_MAX,
	    .bind = sn_meta_list_page_bind_team_search,
	    .bind_ctx = &ts,
	    .row_size = sizeof(struct sn_action),
	    .read = read_list_row,
	    .what = "counting actions",
	};
	struct sn_action *rows = NULL;
	size_t n = 0;
	int ret = sn_meta_list_page(m, &pg, o, total, &rows, &n, err);
	bool stop = false;
	for (size_t i = 0; i < n; i++) {
		if (!stop && ret == 0 && fn(arg, &rows[i]) != 0)
			stop = true;
		sn_action_release(&rows[i]);
	}
	free(rows);
	return ret;
}
