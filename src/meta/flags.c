/*
 * flags.c — the feature-flag model of the SQLite metadata backend:
 * posthog_featureflag rows, their validation, their activity-log entries
 * (written through activity.c, shared with the other objects), and the
 * per-team generation counter that caches above meta key on.
 *
 *   REST body ──validate──▶ normalised row ──INSERT/UPDATE──▶ posthog_featureflag
 *                                              │ same transaction
 *                                              ▼
 *                                      posthog_activitylog (before/after)
 *                                              │ after COMMIT
 *                                              ▼
 *                              generation[team]++ (flagstate, one mutex)
 *
 * Why a generation and not a cache of compiled flags here: meta sits below
 * flags/ (DESIGN.md), so it cannot build a struct sn_flag_set. It owns what
 * changes (rows) and says when (the generation); flags/ keeps the compiled
 * set per team and rebuilds it the first time it sees a newer generation, so
 * a change is visible to the very next evaluation. The generation is bumped
 * only after the commit, so a reader that sees the new generation also sees
 * the new rows. It lives in memory: a flag changed by another process
 * sharing the file (no CLI command does that today) would not be noticed.
 *
 * Validation mirrors what PostHog's serializer refuses, with its error shape
 * (code + attr) so the REST layer can answer DRF-style: key characters,
 * filters shape, operators, rollout ranges, variants summing to 100,
 * overrides naming a variant, payload keys. Values that are merely odd for
 * their operator (a regex that does not compile, "abc" for gt) are stored;
 * evaluation treats them as no match, as PostHog does.
 *
 * Payloads: PostHog stores filters.payloads values as JSON text strings
 * (what the SDKs parse). A body that sends a JSON value instead of a string
 * gets it serialised to its text, so the stored form is always strings.
 *
 * Statements are prepared per call (REST rates; the hot paths read the
 * generation and counts from memory), under the handle's mutex.
 */
#include "meta/meta_internal.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FLAG_COLS                                                                          \
	"id, team_id, key, name, filters, active, deleted, ensure_experience_continuity, " \
	"created_by_id, created_at, updated_at, version"
#define NAME_MAX_BYTES (64 * 1024)
#define MAX_GROUPS     1000
#define MAX_PROPS      1000
#define MAX_VARIANTS   100

/* ---- generations -------------------------------------------------------------- */

struct team_state {
	int64_t team_id;
	uint64_t gen;
	uint64_t count_gen; /* generation count was computed at; 0 = never */
	size_t count;
};

struct sn_meta_flagstate {
	pthread_mutex_t mu;
	struct team_state *t;
	size_t n, cap;
};

struct sn_meta_flagstate *sn_meta_flagstate_new(void)
{
	struct sn_meta_flagstate *fs = calloc(1, sizeof(*fs));
	if (fs)
		pthread_mutex_init(&fs->mu, NULL);
	return fs;
}

void sn_meta_flagstate_free(struct sn_meta_flagstate *fs)
{
	if (!fs)
		return;
	pthread_mutex_destroy(&fs->mu);
	free(fs->t);
	free(fs);
}

/* Caller holds fs->mu. NULL only when out of memory. */
static struct team_state *team_state(struct sn_meta_flagstate *fs, int64_t team_id)
{
	for (size_t i = 0; i < fs->n; i++)
		if (fs->t[i].team_id == team_id)
			return &fs->t[i];
	if (fs->n == fs->cap) {
		size_t ncap = fs->cap ? fs->cap * 2 : 16;
		struct team_state *nt = realloc(fs->t, ncap * sizeof(*nt));
		if (!nt)
			return NULL;
		fs->t = nt;
		fs->cap = ncap;
	}
	fs->t[fs->n] = (struct team_state){.team_id = team_id, .gen = 1};
	return &fs->t[fs->n++];
}

uint64_t sn_meta_flags_generation(struct sn_meta *m, int64_t team_id)
{
	struct sn_meta_flagstate *fs = sn_meta_sqlite_flagstate(m);
	pthread_mutex_lock(&fs->mu);
	struct team_state *t = team_state(fs, team_id);
	uint64_t g = t ? t->gen : 0;
	pthread_mutex_unlock(&fs->mu);
	return g;
}

void sn_meta_flags_bump_generation(struct sn_meta *m, int64_t team_id)
{
	struct sn_meta_flagstate *fs = sn_meta_sqlite_flagstate(m);
	pthread_mutex_lock(&fs->mu);
	struct team_state *t = team_state(fs, team_id);
	if (t)
		t->gen++;
	pthread_mutex_unlock(&fs->mu);
}

/* ---- validation ------------------------------------------------------------------- */

#define verr sn_meta_verr_set

static const char *const known_ops[] = {
    "exact",
    "is_not",
    "is_set",
    "is_not_set",
    "icontains",
    "not_icontains",
    "icontains_multi",
    "not_icontains_multi",
    "starts_with",
    "not_starts_with",
    "ends_with",
    "not_ends_with",
    "regex",
    "not_regex",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "not_between",
    "is_date_before",
    "is_date_after",
    "is_date_exact",
    "semver_eq",
    "semver_neq",
    "semver_gt",
    "semver_gte",
    "semver_lt",
    "semver_lte",
    "semver_tilde",
    "semver_caret",
    "semver_wildcard",
    "in",
    "not_in",
    "flag_evaluates_to",
};

static const char *const known_types[] = {
    "person", "group", "cohort", "flag", "person_metadata", "event", "element", "session",
};

static bool is_number(struct json_object *o)
{
	return o &&
	       (json_object_is_type(o, json_type_int) || json_object_is_type(o, json_type_double));
}

/* rollout_percentage: null or a number in 0..100. */
static int check_pct(struct json_object *o, const char *what, struct sn_meta_verr *ve)
{
	if (sn_meta_json_is_null(o))
		return 0;
	if (!is_number(o))
		return verr(ve, "invalid_input", "filters", "%s must be a number between 0 and 100",
			    what);
	double d = json_object_get_double(o);
	if (!(d >= 0 && d <= 100))
		return verr(ve, "invalid_input", "filters", "%s must be between 0 and 100 (got %g)",
			    what, d);
	return 0;
}

static int check_props(struct json_object *props, const char *where, struct sn_meta_verr *ve)
{
	if (sn_meta_json_is_null(props))
		return 0;
	if (!json_object_is_type(props, json_type_array))
		return verr(ve, "invalid_input", "filters", "%s.properties must be an array",
			    where);
	size_t n = json_object_array_length(props);
	if (n > MAX_PROPS)
		return verr(ve, "invalid_input", "filters", "%s has more than %d properties", where,
			    MAX_PROPS);
	for (size_t i = 0; i < n; i++) {
		struct json_object *p = json_object_array_get_idx(props, i);
		if (!json_object_is_type(p, json_type_object))
			return verr(ve, "invalid_input", "filters",
				    "%s.properties[%zu] must be an object", where, i);
		struct json_object *k = sn_json_get(p, "key");
		if (!k || !(json_object_is_type(k, json_type_string) ||
			    json_object_is_type(k, json_type_int)))
			return verr(ve, "invalid_input", "filters",
				    "%s.properties[%zu] needs a key", where, i);
		struct json_object *op = sn_json_get(p, "operator");
		const char *ops = NULL;
		if (!sn_meta_json_is_null(op)) {
			ops = sn_json_str(op, NULL);
			if (!ops || !sn_meta_in_list(ops, known_ops, SN_ARRAY_LEN(known_ops)))
				return verr(ve, "invalid_input", "filters",
					    "%s.properties[%zu]: unknown operator %s", where, i,
					    ops ? ops : json_object_to_json_string(op));
		}
		struct json_object *ty = sn_json_get(p, "type");
		if (!sn_meta_json_is_null(ty)) {
			const char *t = sn_json_str(ty, NULL);
			if (!t || !sn_meta_in_list(t, known_types, SN_ARRAY_LEN(known_types)))
				return verr(ve, "invalid_input", "filters",
					    "%s.properties[%zu]: unknown property type %s", where,
					    i, t ? t : json_object_to_json_string(ty));
			if (!strcmp(t, "group")) {
				struct json_object *g = sn_json_get(p, "group_type_index");
				if (!json_object_is_type(g, json_type_int) ||
				    json_object_get_int64(g) < 0 || json_object_get_int64(g) > 4)
					return verr(ve, "invalid_input", "filters",
						    "%s.properties[%zu]: a group property needs "
						    "group_type_index 0..4",
						    where, i);
			}
		}
		bool needs_value = !ops || (strcmp(ops, "is_set") && strcmp(ops, "is_not_set"));
		if (needs_value && !sn_json_get(p, "value"))
			return verr(ve, "invalid_input", "filters",
				    "%s.properties[%zu]: value is required for operator %s", where,
				    i, ops ? ops : "exact");
	}
	return 0;
}

static int check_filters(struct json_object *f, struct sn_meta_verr *ve)
{
	if (!json_object_is_type(f, json_type_object))
		return verr(ve, "invalid_input", "filters", "filters must be an object");
	size_t tl = 0;
	json_object_to_json_string_length(f, JSON_C_TO_STRING_PLAIN, &tl);
	if (tl > SN_FLAG_FILTERS_MAX)
		return verr(ve, "invalid_input", "filters", "filters is larger than %u bytes",
			    SN_FLAG_FILTERS_MAX);

	/* Variants first: group overrides and payload keys refer to them. */
	struct json_object *mv = sn_json_get(f, "multivariate");
	struct json_object *vars = NULL;
	if (!sn_meta_json_is_null(mv)) {
		vars = sn_json_get(mv, "variants");
		if (!json_object_is_type(mv, json_type_object) ||
		    !json_object_is_type(vars, json_type_array))
			return verr(ve, "invalid_input", "filters",
				    "multivariate must be null or {\"variants\": [...]}");
		size_t n = json_object_array_length(vars);
		if (n == 0 || n > MAX_VARIANTS)
			return verr(ve, "invalid_input", "filters",
				    "multivariate needs 1 to %d variants", MAX_VARIANTS);
		double sum = 0;
		for (size_t i = 0; i < n; i++) {
			struct json_object *v = json_object_array_get_idx(vars, i);
			const char *k = sn_json_str(sn_json_get(v, "key"), NULL);
			if (!k || !*k)
				return verr(ve, "invalid_input", "filters",
					    "variant %zu needs a non-empty key", i);
			for (size_t j = 0; j < i; j++)
				if (!strcmp(k, sn_json_str(
						   sn_json_get(json_object_array_get_idx(vars, j),
							       "key"),
						   NULL)))
					return verr(ve, "invalid_input", "filters",
						    "variant key %s is used twice", k);
			struct json_object *rp = sn_json_get(v, "rollout_percentage");
			if (!is_number(rp))
				return verr(ve, "invalid_input", "filters",
					    "variant %s needs a rollout_percentage", k);
			int rc = check_pct(rp, "a variant's rollout_percentage", ve);
			if (rc)
				return rc;
			sum += json_object_get_double(rp);
		}
		if (fabs(sum - 100) > 1e-9)
			return verr(ve, "invalid_input", "filters",
				    "Invalid variant definitions: Variant rollout percentages must "
				    "sum to 100 (they sum to %g).",
				    sum);
	}

	struct json_object *groups = sn_json_get(f, "groups");
	if (!sn_meta_json_is_null(groups)) {
		if (!json_object_is_type(groups, json_type_array))
			return verr(ve, "invalid_input", "filters", "groups must be an array");
		size_t n = json_object_array_length(groups);
		if (n > MAX_GROUPS)
			return verr(ve, "invalid_input", "filters", "more than %d condition groups",
				    MAX_GROUPS);
		for (size_t i = 0; i < n; i++) {
			struct json_object *g = json_object_array_get_idx(groups, i);
			char where[32];
			snprintf(where, sizeof(where), "groups[%zu]", i);
			if (!json_object_is_type(g, json_type_object))
				return verr(ve, "invalid_input", "filters", "%s must be an object",
					    where);
			int rc = check_props(sn_json_get(g, "properties"), where, ve);
			if (!rc)
				rc = check_pct(sn_json_get(g, "rollout_percentage"),
					       "rollout_percentage", ve);
			if (rc)
				return rc;
			struct json_object *var = sn_json_get(g, "variant");
			if (!sn_meta_json_is_null(var)) {
				const char *vk = sn_json_str(var, NULL);
				bool found = false;
				for (size_t j = 0; vk && vars && j < json_object_array_length(vars);
				     j++)
					found |= !strcmp(
					    vk, sn_json_str(
						    sn_json_get(json_object_array_get_idx(vars, j),
								"key"),
						    NULL));
				if (!found)
					return verr(ve, "invalid_input", "filters",
						    "Filters are not valid (variant override does "
						    "not exist): %s.variant",
						    where);
			}
			struct json_object *agg = sn_json_get(g, "aggregation_group_type_index");
			if (!sn_meta_json_is_null(agg) &&
			    (!json_object_is_type(agg, json_type_int) ||
			     json_object_get_int64(agg) < 0 || json_object_get_int64(agg) > 4))
				return verr(ve, "invalid_input", "filters",
					    "%s.aggregation_group_type_index must be 0..4", where);
		}
	}
	struct json_object *sg = sn_json_get(f, "super_groups");
	if (!sn_meta_json_is_null(sg)) {
		if (!json_object_is_type(sg, json_type_array))
			return verr(ve, "invalid_input", "filters",
				    "super_groups must be an array");
		for (size_t i = 0; i < json_object_array_length(sg); i++) {
			int rc =
			    check_props(sn_json_get(json_object_array_get_idx(sg, i), "properties"),
					"super_groups", ve);
			if (rc)
				return rc;
		}
	}
	struct json_object *agg = sn_json_get(f, "aggregation_group_type_index");
	if (!sn_meta_json_is_null(agg) &&
	    (!json_object_is_type(agg, json_type_int) || json_object_get_int64(agg) < 0 ||
	     json_object_get_int64(agg) > 4))
		return verr(ve, "invalid_input", "filters",
			    "aggregation_group_type_index must be null or 0..4");
	struct json_object *h = sn_json_get(f, "holdout");
	if (!sn_meta_json_is_null(h)) {
		if (!json_object_is_type(h, json_type_object) ||
		    !json_object_is_type(sn_json_get(h, "id"), json_type_int))
			return verr(ve, "invalid_input", "filters",
				    "holdout must be null or {\"id\": int, "
				    "\"exclusion_percentage\": number}");
		int rc = check_pct(sn_json_get(h, "exclusion_percentage"),
				   "holdout.exclusion_percentage", ve);
		if (rc)
			return rc;
	}
	struct json_object *pl = sn_json_get(f, "payloads");
	if (!sn_meta_json_is_null(pl)) {
		if (!json_object_is_type(pl, json_type_object))
			return verr(ve, "invalid_input", "filters", "payloads must be an object");
		json_object_object_foreach(pl, k, v)
		{
			(void)v;
			bool ok = !strcmp(k, "true");
			for (size_t j = 0; !ok && vars && j < json_object_array_length(vars); j++)
				ok = !strcmp(
				    k, sn_json_str(
					   sn_json_get(json_object_array_get_idx(vars, j), "key"),
					   NULL));
			if (!ok)
				return verr(ve, "invalid_input", "filters",
					    "payload key %s is neither \"true\" nor a variant key",
					    k);
		}
	}
	return 0;
}

static int check_key(struct json_object *k, struct sn_meta_verr *ve)
{
	const char *s = sn_json_str(k, NULL);
	if (!s)
		return verr(ve, "invalid_input", "key", "key must be a string");
	size_t n = strlen(s);
	if (n == 0)
		return verr(ve, "blank", "key", "This field may not be blank.");
	if (n > SN_FLAG_KEY_MAX)
		return verr(ve, "max_length", "key",
			    "Ensure this field has no more than %d characters.", SN_FLAG_KEY_MAX);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return verr(ve, "invalid_key", "key",
				    "Only letters, numbers, hyphens (-) & underscores (_) are "
				    "allowed.");
	}
	return 0;
}

static int check_bool(struct json_object *body, const char *name, struct sn_meta_verr *ve)
{
	struct json_object *v = sn_json_get(body, name);
	if (v && !json_object_is_type(v, json_type_boolean))
		return verr(ve, "invalid", name, "Must be a valid boolean.");
	return 0;
}

int sn_meta_flag_validate(struct json_object *body, bool partial, struct sn_meta_verr *ve)
{
	if (ve)
		memset(ve, 0, sizeof(*ve));
	if (!json_object_is_type(body, json_type_object))
		return verr(ve, "parse_error", NULL, "the body must be a JSON object");
	struct json_object *k = sn_json_get(body, "key");
	if (!k && !partial)
		return verr(ve, "required", "key", "This field is required.");
	int rc;
	if (k && (rc = check_key(k, ve)))
		return rc;
	struct json_object *name = sn_json_get(body, "name");
	if (name && !sn_meta_json_is_null(name)) {
		size_t nl = 0;
		if (!sn_json_str(name, &nl))
			return verr(ve, "invalid", "name", "Not a valid string.");
		if (nl > NAME_MAX_BYTES)
			return verr(ve, "max_length", "name", "name is longer than %d bytes",
				    NAME_MAX_BYTES);
	}
	struct json_object *f = sn_json_get(body, "filters");
	if (f && (rc = check_filters(f, ve)))
		return rc;
	if ((rc = check_bool(body, "active", ve)) || (rc = check_bool(body, "deleted", ve)) ||
	    (rc = check_bool(body, "ensure_experience_continuity", ve)))
		return rc;
	return 0;
}

/* ---- rows ------------------------------------------------------------------------- */

void sn_featureflag_release(struct sn_featureflag *f)
{
	if (!f)
		return;
	free(f->name);
	f->name = NULL;
	if (f->filters)
		json_object_put(f->filters);
	f->filters = NULL;
}

static int read_flag(sqlite3_stmt *s, struct sn_featureflag *f)
{
	memset(f, 0, sizeof(*f));
	f->id = sqlite3_column_int64(s, 0);
	f->team_id = sqlite3_column_int64(s, 1);
	sn_sqlite_column_text(s, 2, f->key, sizeof(f->key));
	const char *name = (const char *)sqlite3_column_text(s, 3);
	f->name = strdup(name ? name : "");
	const char *ft = (const char *)sqlite3_column_text(s, 4);
	int fl = sqlite3_column_bytes(s, 4);
	if (!ft || sn_json_parse(ft, (size_t)fl, &f->filters, NULL) ||
	    !json_object_is_type(f->filters, json_type_object)) {
		if (f->filters)
			json_object_put(f->filters);
		f->filters = json_object_new_object();
	}
	f->active = sqlite3_column_int(s, 5) != 0;
	f->deleted = sqlite3_column_int(s, 6) != 0;
	f->ensure_experience_continuity = sqlite3_column_int(s, 7) != 0;
	f->created_by = sqlite3_column_int64(s, 8);
	f->created_at_us = sqlite3_column_int64(s, 9);
	f->updated_at_us = sqlite3_column_int64(s, 10);
	f->version = sqlite3_column_int64(s, 11);
	if (!f->name || !f->filters) {
		sn_featureflag_release(f);
		return SN_ERR_NOMEM;
	}
	return 0;
}

#define db_err sn_meta_sql_err
#define prep   sn_meta_sql_prep

/* Filters as stored: an object whose payload values are JSON text strings.
 * Returns a new reference. */
static struct json_object *normalise_filters(struct json_object *in)
{
	struct json_object *f = NULL;
	if (!in || json_object_deep_copy(in, &f, NULL) != 0 || !f)
		f = json_object_new_object();
	if (!f)
		return NULL;
	if (!sn_json_get(f, "groups"))
		json_object_object_add(f, "groups", json_object_new_array());
	struct json_object *pl = sn_json_get(f, "payloads");
	if (pl && json_object_is_type(pl, json_type_object)) {
		json_object_object_foreach(pl, k, v)
		{
			if (!json_object_is_type(v, json_type_string) &&
			    !json_object_is_type(v, json_type_null)) {
				const char *t = json_object_to_json_string_ext(
				    v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
				json_object_object_add(pl, k, json_object_new_string(t));
			}
		}
	} else if (!pl) {
		json_object_object_add(f, "payloads", json_object_new_object());
	}
	return f;
}

#define json_text sn_meta_json_text

static void add_change(struct json_object *changes, const char *action, const char *field,
		       struct json_object *before, struct json_object *after)
{
	sn_meta_activity_change(changes, "FeatureFlag", action, field, before, after);
}

static int log_activity(sqlite3 *db, int64_t team_id, int64_t user_id, int64_t flag_id,
			const char *activity, const char *key, struct json_object *changes,
			int64_t now, struct sn_err *err)
{
	return sn_meta_activity_write(db, team_id, user_id, "FeatureFlag", flag_id, activity, key,
				      changes, now, err);
}

static int get_locked(sqlite3 *db, int64_t team_id, int64_t id, struct sn_featureflag *out,
		      struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret =
	    prep(db, "SELECT " FLAG_COLS " FROM posthog_featureflag WHERE team_id = ?1 AND id = ?2",
		 &s, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, team_id);
	sqlite3_bind_int64(s, 2, id);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = read_flag(s, out);
	else if (rc == SQLITE_DONE)
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	else
		ret = db_err(db, rc, err, "reading a flag");
	if (ret == SN_ERR_NOMEM)
		sn_err_set(err, ret, "out of memory");
	sqlite3_finalize(s);
	return ret;
}

#define begin  sn_meta_tx_begin
#define finish sn_meta_tx_end

static void dup_key(struct sn_meta_verr *ve)
{
	verr(ve, "unique", "key", "There is already a feature flag with this key.");
	ve->err.code = SN_ERR_EXISTS;
}

/* PostHog's serializer refuses a condition on a cohort the project does
 * not have (cohort_does_not_exist); a deleted one still exists there.
 * Without this a flag could name another team's cohort, which evaluates
 * to no match. Only filters.groups is checked, as PostHog does; the
 * filters are valid here (sn_meta_flag_validate). */
static int check_cohorts(struct sn_meta *m, int64_t team_id, struct json_object *body,
			 struct sn_meta_verr *ve)
{
	struct json_object *groups = sn_json_get(sn_json_get(body, "filters"), "groups");
	for (size_t i = 0; groups && i < json_object_array_length(groups); i++) {
		struct json_object *props =
		    sn_json_get(json_object_array_get_idx(groups, i), "properties");
		for (size_t j = 0; props && j < json_object_array_length(props); j++) {
			struct json_object *p = json_object_array_get_idx(props, j);
			const char *type = sn_json_str(sn_json_get(p, "type"), NULL);
			if (!type || strcmp(type, "cohort") != 0)
				continue;
			struct json_object *v = sn_json_get(p, "value");
			const char *text = json_object_to_json_string(v);
			int64_t id = 0;
			if (json_object_is_type(v, json_type_int)) {
				id = json_object_get_int64(v);
			} else if (json_object_is_type(v, json_type_string)) {
				text = json_object_get_string(v);
				if (sn_parse_int(text, strlen(text), 1, INT64_MAX, &id))
					id = 0;
			}
			struct sn_cohort c = {0};
			struct sn_err err = {0};
			bool missing = id <= 0 || sn_meta_cohort_get(m, team_id, id, &c, &err);
			sn_cohort_release(&c);
			if (missing)
				return verr(ve, "cohort_does_not_exist", "filters",
					    "Cohort with id %s does not exist", text);
		}
	}
	return 0;
}

int sn_meta_flag_create(struct sn_meta *m, int64_t team_id, int64_t user_id,
			struct json_object *body, struct sn_featureflag *out,
			struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_flag_validate(body, false, ve);
	if (!ret)
		ret = check_cohorts(m, team_id, body, ve);
	if (ret)
		return ret;
	struct json_object *filters = normalise_filters(sn_json_get(body, "filters"));
	if (!filters)
		return sn_err_set(&ve->err, SN_ERR_NOMEM, "out of memory");
	const char *key = sn_json_str(sn_json_get(body, "key"), NULL);
	const char *name = sn_json_str(sn_json_get(body, "name"), NULL);
	struct json_object *a = sn_json_get(body, "active");
	struct json_object *eec = sn_json_get(body, "ensure_experience_continuity");
	int64_t now = sn_now_us(), id = 0;

	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	begin(db);
	ret = prep(db,
		   "INSERT INTO posthog_featureflag (team_id, key, name, filters, active,"
		   " ensure_experience_continuity, created_by_id, created_at, updated_at, version)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, 1)",
		   &s, &ve->err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, name ? name : "", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, json_text(filters), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(s, 5, a ? json_object_get_boolean(a) : 1);
		sqlite3_bind_int(s, 6, eec ? json_object_get_boolean(eec) : 0);
		if (user_id > 0)
			sqlite3_bind_int64(s, 7, user_id);
		sqlite3_bind_int64(s, 8, now);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_DONE) {
			id = sqlite3_last_insert_rowid(db);
		} else {
			ret = db_err(db, rc, &ve->err, "creating a flag");
			if (ret == SN_ERR_EXISTS)
				dup_key(ve);
			else if (ret == SN_ERR_NOT_FOUND)
				sn_err_set(&ve->err, ret, "no such project");
		}
	}
	sqlite3_finalize(s);
	if (ret == 0) {
		struct json_object *changes = json_object_new_array();
		add_change(changes, "created", NULL, NULL, NULL);
		ret =
		    log_activity(db, team_id, user_id, id, "created", key, changes, now, &ve->err);
	}
	if (ret == 0)
		ret = get_locked(db, team_id, id, out, &ve->err);
	ret = finish(db, ret, &ve->err);
	sn_meta_sqlite_unlock(m);
	json_object_put(filters);
	if (ret == 0)
		sn_meta_flags_bump_generation(m, team_id);
	else
		sn_featureflag_release(out);
	return ret;
}

int sn_meta_flag_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_featureflag *out,
		     struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = get_locked(db, team_id, id, out, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

static bool json_same(struct json_object *a, struct json_object *b)
{
	return json_object_equal(a, b) != 0;
}

int sn_meta_flag_update(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			struct json_object *body, struct sn_featureflag *out,
			struct sn_meta_verr *ve)
{
	memset(out, 0, sizeof(*out));
	int ret = sn_meta_flag_validate(body, true, ve);
	if (!ret)
		ret = check_cohorts(m, team_id, body, ve);
	if (ret)
		return ret;
	struct sn_featureflag cur;
	struct json_object *filters = NULL, *changes = json_object_new_array();
	bool changed = false;
	int64_t now = sn_now_us();
	sqlite3 *db = sn_meta_sqlite_lock(m);
	begin(db);
	ret = get_locked(db, team_id, id, &cur, &ve->err);
	if (ret == 0 && cur.deleted) {
		/* PostHog lists and fetches only live flags. */
		sn_featureflag_release(&cur);
		ret = sn_err_set(&ve->err, SN_ERR_NOT_FOUND, "Not found.");
	}
	if (ret) {
		ret = finish(db, ret, &ve->err);
		sn_meta_sqlite_unlock(m);
		json_object_put(changes);
		return ret;
	}
	const char *key = cur.key, *name = cur.name;
	bool active = cur.active, deleted = cur.deleted, eec = cur.ensure_experience_continuity;
	struct json_object *v;
	if ((v = sn_json_get(body, "key")) && strcmp(sn_json_str(v, NULL), cur.key)) {
		key = sn_json_str(v, NULL);
		add_change(changes, "changed", "key", json_object_new_string(cur.key),
			   json_object_new_string(key));
	}
	if ((v = sn_json_get(body, "name")) && !sn_meta_json_is_null(v) &&
	    strcmp(sn_json_str(v, NULL), name)) {
		name = sn_json_str(v, NULL);
		add_change(changes, "changed", "name", json_object_new_string(cur.name),
			   json_object_new_string(name));
	}
	if ((v = sn_json_get(body, "filters"))) {
		filters = normalise_filters(v);
		if (filters && !json_same(filters, cur.filters))
			add_change(changes, "changed", "filters", json_object_get(cur.filters),
				   json_object_get(filters));
	}
#define BOOL_FIELD(field, var)                                                      \
	if ((v = sn_json_get(body, field)) && json_object_get_boolean(v) != var) {  \
		add_change(changes, "changed", field, json_object_new_boolean(var), \
			   json_object_new_boolean(!var));                          \
		var = !var;                                                         \
	}
	BOOL_FIELD("active", active)
	BOOL_FIELD("deleted", deleted)
	BOOL_FIELD("ensure_experience_continuity", eec)
#undef BOOL_FIELD
	changed = json_object_array_length(changes) > 0;
	sqlite3_stmt *s = NULL;
	if (changed) {
		ret = prep(db,
			   "UPDATE posthog_featureflag SET key = ?3, name = ?4, filters = ?5,"
			   " active = ?6, deleted = ?7, ensure_experience_continuity = ?8,"
			   " updated_at = ?9, version = version + 1 WHERE team_id = ?1 AND id = ?2",
			   &s, &ve->err);
		if (ret == 0) {
			sqlite3_bind_int64(s, 1, team_id);
			sqlite3_bind_int64(s, 2, id);
			sqlite3_bind_text(s, 3, key, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(s, 4, name, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(s, 5, json_text(filters ? filters : cur.filters), -1,
					  SQLITE_TRANSIENT);
			sqlite3_bind_int(s, 6, active);
			sqlite3_bind_int(s, 7, deleted);
			sqlite3_bind_int(s, 8, eec);
			sqlite3_bind_int64(s, 9, now);
			int rc = sqlite3_step(s);
			if (rc != SQLITE_DONE) {
				ret = db_err(db, rc, &ve->err, "updating a flag");
				if (ret == SN_ERR_EXISTS)
					dup_key(ve);
			}
		}
		sqlite3_finalize(s);
		if (ret == 0) {
			ret = log_activity(db, team_id, user_id, id,
					   deleted && !cur.deleted ? "deleted" : "updated", key,
					   json_object_get(changes), now, &ve->err);
		}
	}
	if (ret == 0)
		ret = get_locked(db, team_id, id, out, &ve->err);
	ret = finish(db, ret, &ve->err);
	sn_meta_sqlite_unlock(m);
	sn_featureflag_release(&cur);
	if (filters)
		json_object_put(filters);
	json_object_put(changes);
	if (ret == 0 && changed)
		sn_meta_flags_bump_generation(m, team_id);
	if (ret)
		sn_featureflag_release(out);
	return ret;
}

int sn_meta_flag_delete(struct sn_meta *m, int64_t team_id, int64_t id, int64_t user_id,
			struct sn_err *err)
{
	struct json_object *body = json_object_new_object();
	json_object_object_add(body, "deleted", json_object_new_boolean(1));
	struct sn_featureflag f;
	struct sn_meta_verr ve;
	int ret = sn_meta_flag_update(m, team_id, id, user_id, body, &f, &ve);
	json_object_put(body);
	if (ret == 0)
		sn_featureflag_release(&f);
	else
		sn_err_set(err, ret, "%s", ve.err.msg);
	return ret;
}

static void bind_team(sqlite3_stmt *s, const void *ctx)
{
	sqlite3_bind_int64(s, 1, *(const int64_t *)ctx);
}

static int read_list_row(sqlite3_stmt *s, void *row)
{
	return read_flag(s, row);
}

int sn_meta_flag_list(struct sn_meta *m, int64_t team_id, int64_t offset, int64_t limit,
		      int64_t *total, int (*fn)(void *arg, const struct sn_featureflag *f),
		      void *arg, struct sn_err *err)
{
	const struct sn_meta_page pg = {
	    .count_sql =
		"SELECT COUNT(*) FROM posthog_featureflag WHERE team_id = ?1 AND deleted = 0",
	    .page_sql = "SELECT " FLAG_COLS " FROM posthog_featureflag WHERE team_id = ?1 AND"
			" deleted = 0 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
	    .limit_param = 2,
	    .max = 1000,
	    .bind = bind_team,
	    .bind_ctx = &team_id,
	    .row_size = sizeof(struct sn_featureflag),
	    .read = read_list_row,
	    .what = "counting flags",
	};
	const struct sn_meta_list_opts lo = {.offset = offset, .limit = limit};
	struct sn_featureflag *rows = NULL;
	size_t n = 0;
	int ret = sn_meta_list_page(m, &pg, &lo, total, &rows, &n, err);
	bool stop = false;
	for (size_t i = 0; i < n; i++) {
		if (!stop && ret == 0 && fn(arg, &rows[i]) != 0)
			stop = true;
		sn_featureflag_release(&rows[i]);
	}
	free(rows);
	return ret;
}

int sn_meta_flag_activity(struct sn_meta *m, int64_t team_id, int64_t flag_id, int64_t limit,
			  int (*fn)(void *arg, const struct sn_meta_activity *a), void *arg,
			  struct sn_err *err)
{
	return sn_meta_activity_list(m, team_id, "FeatureFlag", flag_id, limit, fn, arg, err);
}

int sn_meta_flags_definitions(struct sn_meta *m, int64_t team_id, struct json_object **out,
			      uint64_t *generation, struct sn_err *err)
{
	*out = NULL;
	struct json_object *arr = json_object_new_array();
	if (!arr)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	sqlite3 *db = sn_meta_sqlite_lock(m);
	/* Read the generation under the same lock as the rows: a writer bumps
	 * it after committing, so rows read here are at least this new. */
	if (generation)
		*generation = sn_meta_flags_generation(m, team_id);
	sqlite3_stmt *s = NULL;
	int ret = prep(db,
		       "SELECT " FLAG_COLS " FROM posthog_featureflag WHERE team_id = ?1 AND"
		       " deleted = 0 ORDER BY id",
		       &s, err);
	int rc = SQLITE_DONE;
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			struct sn_featureflag f;
			if (read_flag(s, &f)) {
				ret = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
				break;
			}
			struct json_object *o = json_object_new_object();
			json_object_object_add(o, "id", json_object_new_int64(f.id));
			json_object_object_add(o, "team_id", json_object_new_int64(f.team_id));
			json_object_object_add(o, "name", json_object_new_string(f.name));
			json_object_object_add(o, "key", json_object_new_string(f.key));
			json_object_object_add(o, "filters", json_object_get(f.filters));
			json_object_object_add(o, "deleted", json_object_new_boolean(0));
			json_object_object_add(o, "active", json_object_new_boolean(f.active));
			json_object_object_add(
			    o, "ensure_experience_continuity",
			    json_object_new_boolean(f.ensure_experience_continuity));
			json_object_object_add(o, "version", json_object_new_int64(f.version));
			json_object_object_add(o, "rollout_percentage", NULL);
			json_object_object_add(o, "experiment_set", json_object_new_array());
			json_object_object_add(o, "has_encrypted_payloads",
					       json_object_new_boolean(0));
			json_object_object_add(o, "evaluation_runtime",
					       json_object_new_string("all"));
			json_object_array_add(arr, o);
			sn_featureflag_release(&f);
		}
		if (ret == 0 && rc != SQLITE_DONE)
			ret = db_err(db, rc, err, "reading flag definitions");
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	if (ret)
		json_object_put(arr);
	else
		*out = arr;
	return ret;
}

int sn_meta_flags_active_count(struct sn_meta *m, int64_t team_id, size_t *n, struct sn_err *err)
{
	struct sn_meta_flagstate *fs = sn_meta_sqlite_flagstate(m);
	pthread_mutex_lock(&fs->mu);
	struct team_state *t = team_state(fs, team_id);
	bool hit = t && t->count_gen == t->gen;
	if (hit)
		*n = t->count;
	pthread_mutex_unlock(&fs->mu);
	if (hit)
		return 0;
	uint64_t gen = sn_meta_flags_generation(m, team_id);
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = prep(db,
		       "SELECT COUNT(*) FROM posthog_featureflag WHERE team_id = ?1 AND"
		       " deleted = 0 AND active = 1",
		       &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*n = (size_t)sqlite3_column_int64(s, 0);
		else
			ret = db_err(db, rc, err, "counting flags");
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	if (ret == 0) {
		pthread_mutex_lock(&fs->mu);
		t = team_state(fs, team_id);
		/* Only a count read at the current generation may be cached. */
		if (t && t->gen == gen) {
			t->count = *n;
			t->count_gen = gen;
		}
		pthread_mutex_unlock(&fs->mu);
	}
	return ret;
}

int sn_meta_user_get(struct sn_meta *m, int64_t id, struct sn_user *out, struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = prep(db,
		       "SELECT id, uuid, email, first_name, is_active, is_staff, created_at FROM"
		       " posthog_user WHERE id = ?1",
		       &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, id);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			out->id = sqlite3_column_int64(s, 0);
			sn_sqlite_column_text(s, 1, out->uuid, sizeof(out->uuid));
			sn_sqlite_column_text(s, 2, out->email, sizeof(out->email));
			sn_sqlite_column_text(s, 3, out->first_name, sizeof(out->first_name));
			out->is_active = sqlite3_column_int(s, 4) != 0;
			out->is_staff = sqlite3_column_int(s, 5) != 0;
			out->created_at_us = sqlite3_column_int64(s, 6);
		} else if (rc == SQLITE_DONE) {
			ret = sn_err_set(err, SN_ERR_NOT_FOUND, "no such user");
		} else {
			ret = db_err(db, rc, err, "reading a user");
		}
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	return ret;
}
