/*
 * test_flagsapi.c — the feature-flag model in meta (validation, create /
 * update / soft delete, activity log, generations) and the per-team
 * compiled-snapshot cache in flags/ on top of it, against a real SQLite
 * file in a fresh temporary directory per test. The HTTP endpoints are
 * covered by tests/blackbox/flags.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testutil.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flags/flags.h"
#include "meta/meta.h"
#include "persons/persons.h"

struct fx {
	char dir[PATH_MAX];
	struct sn_meta *m;
	int64_t team;
	int64_t team2;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || sn_test_tmpdir(f->dir, sizeof(f->dir), "test_flagsapi") != 0)
		return -1;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/meta.sqlite3", f->dir);
	struct sn_err err = {0};
	struct sn_org o;
	struct sn_team t;
	if (sn_meta_open(&f->m, path, NULL, &err) || sn_meta_org_create(f->m, "org", &o, &err) ||
	    sn_meta_team_create(f->m, o.id, "one", NULL, NULL, &t, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	f->team = t.id;
	if (sn_meta_team_create(f->m, o.id, "two", NULL, NULL, &t, &err))
		return -1;
	f->team2 = t.id;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	sn_meta_close(f->m);
	sn_test_rm_rf(f->dir);
	free(f);
	return 0;
}

static struct json_object *J(const char *text)
{
	struct json_object *o = NULL;
	struct sn_err err = {0};
	if (sn_json_parse(text, strlen(text), &o, &err))
		fail_msg("bad test JSON %s: %s", text, err.msg);
	return o;
}

/* Creates a flag from JSON text; returns its id (asserts success). */
static int64_t create(struct fx *f, int64_t team, const char *body)
{
	struct json_object *b = J(body);
	struct sn_featureflag fl;
	struct sn_meta_verr ve;
	int rc = sn_meta_flag_create(f->m, team, 0, b, &fl, &ve);
	if (rc)
		fail_msg("create %s: %s", body, ve.err.msg);
	int64_t id = fl.id;
	sn_featureflag_release(&fl);
	json_object_put(b);
	return id;
}

/* ---- validation ---------------------------------------------------------------------- */

static void test_validation(void **state)
{
	(void)state;
	static const struct {
		const char *body;
		bool partial;
		const char *code; /* NULL = valid */
		const char *attr;
		const char *detail; /* substring */
	} cases[] = {
	    {"{\"key\":\"ok-flag_1\"}", false, NULL, NULL, NULL},
	    {"{\"name\":\"no key\"}", false, "required", "key", "required"},
	    {"{\"name\":\"patch without key\"}", true, NULL, NULL, NULL},
	    {"{\"key\":\"\"}", false, "blank", "key", "blank"},
	    {"{\"key\":\"has space\"}", false, "invalid_key", "key", "letters, numbers"},
	    {"{\"key\":\"émoji\"}", false, "invalid_key", "key", "hyphens"},
	    {"{\"key\":42}", false, "invalid_input", "key", "string"},
	    {"{\"key\":\"k\",\"filters\":[]}", false, "invalid_input", "filters", "object"},
	    {"{\"key\":\"k\",\"filters\":{\"groups\":[{\"rollout_percentage\":101}]}}", false,
	     "invalid_input", "filters", "between 0 and 100"},
	    {"{\"key\":\"k\",\"filters\":{\"groups\":[{\"rollout_percentage\":-1}]}}", false,
	     "invalid_input", "filters", "between 0 and 100"},
	    {"{\"key\":\"k\",\"filters\":{\"groups\":[{\"rollout_percentage\":\"50\"}]}}", false,
	     "invalid_input", "filters", "number"},
	    {"{\"key\":\"k\",\"filters\":{\"groups\":[{\"rollout_percentage\":null}]}}", false,
	     NULL, NULL, NULL},
	    {"{\"key\":\"k\",\"filters\":{\"multivariate\":{\"variants\":[{\"key\":\"a\","
	     "\"rollout_percentage\":50},{\"key\":\"b\",\"rollout_percentage\":40}]}}}",
	     false, "invalid_input", "filters", "sum to 100"},
	    {"{\"key\":\"k\",\"filters\":{\"multivariate\":{\"variants\":[{\"key\":\"a\","
	     "\"rollout_percentage\":50},{\"key\":\"a\",\"rollout_percentage\":50}]}}}",
	     false, "invalid_input", "filters", "used twice"},
	    {"{\"key\":\"k\",\"filters\":{\"multivariate\":{\"variants\":[{\"key\":\"a\","
	     "\"rollout_percentage\":33.3},{\"key\":\"b\",\"rollout_percentage\":66.7}]}}}",
	     false, NULL, NULL, NULL},
	    {"{\"key\":\"k\",\"filters\":{\"groups\":[{\"variant\":\"zzz\"}],\"multivariate\":{"
	     "\"variants\":[{\"key\":\"a\",\"rollout_percentage\":100}]}}}",
	     false, "invalid_input", "filters", "variant override"},
	    {"{\"key\":\"k\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"x\","
	     "\"operator\":\"sounds_like\",\"value\":1}]}]}}",
	     false, "invalid_input", "filters", "unknown operator sounds_like"},
	    {"{\"key\":\"k\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"x\","
	     "\"operator\":\"exact\"}]}]}}",
	     false, "invalid_input", "filters", "value is required"},
	    {"{\"key\":\"k\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"x\","
	     "\"operator\":\"is_set\"}]}]}}",
	     false, NULL, NULL, NULL},
	    {"{\"key\":\"k\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"x\","
	     "\"type\":\"planet\",\"value\":1}]}]}}",
	     false, "invalid_input", "filters", "unknown property type"},
	    {"{\"key\":\"k\",\"filters\":{\"aggregation_group_type_index\":7}}", false,
	     "invalid_input", "filters", "0..4"},
	    {"{\"key\":\"k\",\"filters\":{\"payloads\":{\"nope\":\"1\"}}}", false, "invalid_input",
	     "filters", "payload key"},
	    {"{\"key\":\"k\",\"filters\":{\"holdout\":{\"id\":1,\"exclusion_percentage\":200}}}",
	     false, "invalid_input", "filters", "exclusion_percentage"},
	    {"{\"key\":\"k\",\"active\":\"yes\"}", false, "invalid", "active", "boolean"},
	    {"[1,2]", false, "parse_error", "", "object"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++) {
		struct json_object *b = J(cases[i].body);
		struct sn_meta_verr ve;
		int rc = sn_meta_flag_validate(b, cases[i].partial, &ve);
		if (!cases[i].code) {
			if (rc)
				fail_msg("case %zu (%s) should be valid: %s", i, cases[i].body,
					 ve.err.msg);
		} else {
			if (rc != SN_ERR_INVALID || strcmp(ve.code, cases[i].code) ||
			    strcmp(ve.attr, cases[i].attr) || !strstr(ve.err.msg, cases[i].detail))
				fail_msg("case %zu (%s): rc %d code %s attr %s detail %s", i,
					 cases[i].body, rc, ve.code, ve.attr, ve.err.msg);
		}
		json_object_put(b);
	}
}

/* ---- model -------------------------------------------------------------------------- */

static void test_crud_and_soft_delete(void **state)
{
	struct fx *f = *state;
	int64_t id = create(f, f->team,
			    "{\"key\":\"beta\",\"name\":\"Beta\",\"filters\":{\"groups\":[{"
			    "\"rollout_percentage\":50}],\"payloads\":{\"true\":{\"a\":1}}}}");
	struct sn_featureflag fl;
	struct sn_err err = {0};
	assert_int_equal(sn_meta_flag_get(f->m, f->team, id, &fl, &err), 0);
	assert_string_equal(fl.key, "beta");
	assert_string_equal(fl.name, "Beta");
	assert_true(fl.active);
	assert_false(fl.deleted);
	assert_int_equal(fl.version, 1);
	/* Payload values are stored as JSON text strings, as PostHog keeps them. */
	assert_string_equal(
	    json_object_get_string(sn_json_get(sn_json_get(fl.filters, "payloads"), "true")),
	    "{\"a\":1}");
	sn_featureflag_release(&fl);

	/* Tenancy: the other team sees nothing. */
	assert_int_equal(sn_meta_flag_get(f->m, f->team2, id, &fl, &err), SN_ERR_NOT_FOUND);

	/* Duplicate key in the same team: unique/key; in another team: fine. */
	struct json_object *b = J("{\"key\":\"beta\"}");
	struct sn_meta_verr ve;
	assert_int_equal(sn_meta_flag_create(f->m, f->team, 0, b, &fl, &ve), SN_ERR_EXISTS);
	assert_string_equal(ve.code, "unique");
	assert_string_equal(ve.attr, "key");
	json_object_put(b);
	create(f, f->team2, "{\"key\":\"beta\"}");

	/* PATCH: only the given fields, version + 1, activity entry. */
	b = J("{\"active\":false,\"name\":\"Beta 2\"}");
	assert_int_equal(sn_meta_flag_update(f->m, f->team, id, 0, b, &fl, &ve), 0);
	assert_false(fl.active);
	assert_string_equal(fl.name, "Beta 2");
	assert_int_equal(fl.version, 2);
	assert_non_null(sn_json_get(fl.filters, "groups"));
	sn_featureflag_release(&fl);
	json_object_put(b);

	/* A PATCH with a bad body changes nothing. */
	b = J("{\"filters\":{\"groups\":[{\"rollout_percentage\":400}]}}");
	assert_int_equal(sn_meta_flag_update(f->m, f->team, id, 0, b, &fl, &ve), SN_ERR_INVALID);
	assert_string_equal(ve.attr, "filters");
	json_object_put(b);
	assert_int_equal(sn_meta_flag_get(f->m, f->team, id, &fl, &err), 0);
	assert_int_equal(fl.version, 2);
	sn_featureflag_release(&fl);

	/* Soft delete: the row stays (deleted), the key is free again, and a
	 * second delete is not found. */
	assert_int_equal(sn_meta_flag_delete(f->m, f->team, id, 0, &err), 0);
	assert_int_equal(sn_meta_flag_get(f->m, f->team, id, &fl, &err), 0);
	assert_true(fl.deleted);
	sn_featureflag_release(&fl);
	assert_int_equal(sn_meta_flag_delete(f->m, f->team, id, 0, &err), SN_ERR_NOT_FOUND);
	int64_t id2 = create(f, f->team, "{\"key\":\"beta\"}");
	assert_true(id2 > id);
}

struct acts {
	char names[8][16];
	size_t n;
};

static int collect_act(void *arg, const struct sn_meta_activity *a)
{
	struct acts *ac = arg;
	if (ac->n < 8)
		snprintf(ac->names[ac->n++], 16, "%s", a->activity);
	struct json_object *d = J(a->detail);
	assert_non_null(sn_json_get(d, "changes"));
	json_object_put(d);
	return 0;
}

static void test_activity_log(void **state)
{
	struct fx *f = *state;
	int64_t id = create(f, f->team, "{\"key\":\"logged\"}");
	struct json_object *b = J("{\"filters\":{\"groups\":[{\"rollout_percentage\":10}]}}");
	struct sn_featureflag fl;
	struct sn_meta_verr ve;
	assert_int_equal(sn_meta_flag_update(f->m, f->team, id, 0, b, &fl, &ve), 0);
	sn_featureflag_release(&fl);
	json_object_put(b);
	struct sn_err err = {0};
	assert_int_equal(sn_meta_flag_delete(f->m, f->team, id, 0, &err), 0);
	struct acts ac = {0};
	assert_int_equal(sn_meta_flag_activity(f->m, f->team, id, 100, collect_act, &ac, &err), 0);
	assert_int_equal(ac.n, 3);
	assert_string_equal(ac.names[0], "deleted");
	assert_string_equal(ac.names[1], "updated");
	assert_string_equal(ac.names[2], "created");
	/* Another team's log of the same id is empty. */
	ac.n = 0;
	assert_int_equal(sn_meta_flag_activity(f->m, f->team2, id, 100, collect_act, &ac, &err), 0);
	assert_int_equal(ac.n, 0);
}

static int count_list(void *arg, const struct sn_featureflag *fl)
{
	(void)fl;
	(*(int *)arg)++;
	return 0;
}

static void test_list_pagination(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < 25; i++) {
		char body[64];
		snprintf(body, sizeof(body), "{\"key\":\"flag-%02d\"}", i);
		create(f, f->team, body);
	}
	struct sn_err err = {0};
	assert_int_equal(sn_meta_flag_delete(f->m, f->team, 3, 0, &err), 0);
	int64_t total = 0;
	int n = 0;
	assert_int_equal(sn_meta_flag_list(f->m, f->team, 0, 10, &total, count_list, &n, &err), 0);
	assert_int_equal(total, 24);
	assert_int_equal(n, 10);
	n = 0;
	assert_int_equal(sn_meta_flag_list(f->m, f->team, 20, 10, &total, count_list, &n, &err), 0);
	assert_int_equal(n, 4);
	size_t active = 0;
	assert_int_equal(sn_meta_flags_active_count(f->m, f->team, &active, &err), 0);
	assert_int_equal(active, 24);
	assert_int_equal(sn_meta_flags_active_count(f->m, f->team2, &active, &err), 0);
	assert_int_equal(active, 0);
}

/* ---- generations and the snapshot cache ----------------------------------------------- */

static bool eval_enabled(const struct sn_flag_snapshot *s, const char *key, const char *did)
{
	ssize_t idx = sn_flag_set_find(s->set, key);
	if (idx < 0)
		return false;
	struct sn_flag_ctx ctx = {.distinct_id = did, .now_us = sn_now_us()};
	struct sn_arena a;
	sn_arena_init(&a, 1 << 20);
	struct sn_flag_eval ev;
	assert_int_equal(sn_flag_eval_init(&ev, s->set, &ctx, &a, NULL), 0);
	bool on = sn_flag_eval_one(&ev, (size_t)idx)->enabled;
	sn_arena_release(&a);
	return on;
}

static void test_cache_invalidation(void **state)
{
	struct fx *f = *state;
	struct sn_flag_cache *c;
	struct sn_err err = {0};
	assert_int_equal(sn_flag_cache_new(&c, f->m, &err), 0);
	uint64_t g0 = sn_meta_flags_generation(f->m, f->team);
	int64_t id = create(
	    f, f->team, "{\"key\":\"on\",\"filters\":{\"groups\":[{\"rollout_percentage\":100}]}}");
	assert_true(sn_meta_flags_generation(f->m, f->team) > g0);

	struct sn_flag_snapshot *s1, *s2, *s3;
	assert_int_equal(sn_flag_cache_get(c, f->team, &s1, &err), 0);
	assert_int_equal(sn_flag_set_count(s1->set), 1);
	assert_true(eval_enabled(s1, "on", "u1"));
	/* Unchanged: the same snapshot, no rebuild. */
	assert_int_equal(sn_flag_cache_get(c, f->team, &s2, &err), 0);
	assert_ptr_equal(s1, s2);
	assert_int_equal(sn_flag_cache_builds(c), 1);
	sn_flag_snapshot_unref(s2);

	/* A change is visible to the very next lookup; the old snapshot stays
	 * valid for whoever still holds it. */
	struct json_object *b = J("{\"filters\":{\"groups\":[{\"rollout_percentage\":0}]}}");
	struct sn_featureflag fl;
	struct sn_meta_verr ve;
	assert_int_equal(sn_meta_flag_update(f->m, f->team, id, 0, b, &fl, &ve), 0);
	sn_featureflag_release(&fl);
	json_object_put(b);
	assert_int_equal(sn_flag_cache_get(c, f->team, &s3, &err), 0);
	assert_ptr_not_equal(s1, s3);
	assert_false(eval_enabled(s3, "on", "u1"));
	assert_true(eval_enabled(s1, "on", "u1"));
	assert_string_not_equal(s1->etag, s3->etag);
	sn_flag_snapshot_unref(s1);

	/* Inactive flags are in the definitions with "active": false, as
	 * PostHog lists every flag not deleted (SDKs answer false for them
	 * without asking the server); deleted flags are not. */
	create(f, f->team, "{\"key\":\"off\",\"active\":false}");
	struct sn_flag_snapshot *s4;
	assert_int_equal(sn_flag_cache_get(c, f->team, &s4, &err), 0);
	assert_int_equal(sn_flag_set_count(s4->set), 2);
	assert_int_equal(sn_meta_flag_delete(f->m, f->team, id, 0, &err), 0);
	struct sn_flag_snapshot *s5;
	assert_int_equal(sn_flag_cache_get(c, f->team, &s5, &err), 0);
	assert_int_equal(sn_flag_set_count(s5->set), 1);
	struct json_object *doc = J(s5->definitions);
	struct json_object *dflags = sn_json_get(doc, "flags");
	assert_int_equal(json_object_array_length(dflags), 1);
	assert_string_equal(
	    sn_json_str(sn_json_get(json_object_array_get_idx(dflags, 0), "key"), NULL), "off");
	assert_false(
	    json_object_get_boolean(sn_json_get(json_object_array_get_idx(dflags, 0), "active")));
	assert_non_null(sn_json_get(doc, "group_type_mapping"));
	assert_non_null(sn_json_get(doc, "cohorts"));
	json_object_put(doc);

	/* The other team was never touched. */
	struct sn_flag_snapshot *o;
	assert_int_equal(sn_flag_cache_get(c, f->team2, &o, &err), 0);
	assert_int_equal(sn_flag_set_count(o->set), 0);
	sn_flag_snapshot_unref(o);
	sn_flag_snapshot_unref(s3);
	sn_flag_snapshot_unref(s4);
	sn_flag_snapshot_unref(s5);
	sn_flag_cache_free(c);
}

static void test_dependency_chains(void **state)
{
	struct fx *f = *state;
	int64_t a = create(f, f->team, "{\"key\":\"base\"}");
	char body[512];
	snprintf(body, sizeof(body),
		 "{\"key\":\"mid\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"%lld\","
		 "\"type\":\"flag\",\"operator\":\"flag_evaluates_to\",\"value\":true}]}]}}",
		 (long long)a);
	create(f, f->team, body);
	create(f, f->team,
	       "{\"key\":\"top\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"mid\","
	       "\"type\":\"flag\",\"operator\":\"flag_evaluates_to\",\"value\":false}]}]}}");
	struct sn_flag_cache *c;
	struct sn_err err = {0};
	assert_int_equal(sn_flag_cache_new(&c, f->m, &err), 0);
	struct sn_flag_snapshot *s;
	assert_int_equal(sn_flag_cache_get(c, f->team, &s, &err), 0);
	struct json_object *doc = J(s->definitions);
	struct json_object *flags = sn_json_get(doc, "flags");
	assert_int_equal(json_object_array_length(flags), 3);
	/* mid's filter: key from id to "base", chain [base]. */
	struct json_object *p = json_object_array_get_idx(
	    sn_json_get(json_object_array_get_idx(
			    sn_json_get(sn_json_get(json_object_array_get_idx(flags, 1), "filters"),
					"groups"),
			    0),
			"properties"),
	    0);
	assert_string_equal(json_object_get_string(sn_json_get(p, "key")), "base");
	assert_string_equal(json_object_to_json_string(sn_json_get(p, "dependency_chain")),
			    "[ \"base\" ]");
	p = json_object_array_get_idx(
	    sn_json_get(json_object_array_get_idx(
			    sn_json_get(sn_json_get(json_object_array_get_idx(flags, 2), "filters"),
					"groups"),
			    0),
			"properties"),
	    0);
	assert_string_equal(json_object_to_json_string(sn_json_get(p, "dependency_chain")),
			    "[ \"base\", \"mid\" ]");
	/* And the server evaluates them: base on (no conditions → false in
	 * PostHog: zero groups), so mid false, top (mid == false) true. */
	assert_false(eval_enabled(s, "base", "u"));
	assert_false(eval_enabled(s, "mid", "u"));
	assert_true(eval_enabled(s, "top", "u"));
	json_object_put(doc);
	sn_flag_snapshot_unref(s);
	sn_flag_cache_free(c);
}

struct race {
	struct sn_flag_cache *c;
	int64_t team;
	int failures;
};

static void *reader(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < 300; i++) {
		struct sn_flag_snapshot *s;
		if (sn_flag_cache_get(r->c, r->team, &s, NULL)) {
			r->failures++;
			continue;
		}
		(void)eval_enabled(s, "k0", "someone");
		sn_flag_snapshot_unref(s);
	}
	return NULL;
}

static void test_cache_concurrency(void **state)
{
	struct fx *f = *state;
	struct sn_flag_cache *c;
	assert_int_equal(sn_flag_cache_new(&c, f->m, NULL), 0);
	struct race r[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (struct race){c, f->team, 0};
		pthread_create(&th[i], NULL, reader, &r[i]);
	}
	for (int i = 0; i < 30; i++) {
		char body[64];
		snprintf(body, sizeof(body), "{\"key\":\"k%d\"}", i);
		create(f, f->team, body);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].failures, 0);
	}
	struct sn_flag_snapshot *s;
	assert_int_equal(sn_flag_cache_get(c, f->team, &s, NULL), 0);
	assert_int_equal(sn_flag_set_count(s->set), 30);
	sn_flag_snapshot_unref(s);
	sn_flag_cache_free(c);
}

static void test_team_timezones(void **state)
{
	(void)state;
	int64_t jan = 1736935200LL * 1000000; /* 2025-01-15T10:00:00Z */
	int64_t jul = 1752573600LL * 1000000; /* 2025-07-15T10:00:00Z */
	assert_int_equal(sn_tz_offset("UTC", jan), 0);
	assert_int_equal(sn_tz_offset("Europe/Berlin", jan), 3600);
	assert_int_equal(sn_tz_offset("Europe/Berlin", jul), 7200);
	assert_int_equal(sn_tz_offset("America/New_York", jan), -5 * 3600);
	assert_int_equal(sn_tz_offset("America/New_York", jul), -4 * 3600);
	assert_int_equal(sn_tz_offset("Asia/Kolkata", jul), 19800);
	/* Unknown or hostile names are UTC, every time. */
	assert_int_equal(sn_tz_offset("Mars/Olympus_Mons", jan), 0);
	assert_int_equal(sn_tz_offset("../../etc/passwd", jan), 0);
	assert_int_equal(sn_tz_offset("Mars/Olympus_Mons", jan), 0);
	/* The evaluator reads naive dates in that zone: 2025-01-15T00:30 in
	 * Berlin is 2025-01-14T23:30Z, so "before 2025-01-15" holds there and
	 * not in UTC. */
	struct sn_flag_set *set = NULL;
	const char *doc = "{\"flags\":[{\"key\":\"d\",\"active\":true,\"filters\":{\"groups\":"
			  "[{\"properties\":[{\"key\":\"t\",\"operator\":\"is_date_before\","
			  "\"value\":\"2025-01-15 00:30:00\"}]}]}}]}";
	assert_int_equal(sn_flag_set_parse(doc, strlen(doc), &set, NULL), 0);
	struct json_object *props = J("{\"t\":\"2025-01-14T23:45:00Z\"}");
	int32_t offs[2] = {0, sn_tz_offset("Europe/Berlin", jan)};
	bool want[2] = {true, false};
	for (int i = 0; i < 2; i++) {
		struct sn_flag_ctx ctx = {.distinct_id = "u",
					  .person_properties = props,
					  .now_us = jan,
					  .tz_offset_s = offs[i]};
		struct sn_arena a;
		sn_arena_init(&a, 1 << 16);
		struct sn_flag_eval ev;
		assert_int_equal(sn_flag_eval_init(&ev, set, &ctx, &a, NULL), 0);
		assert_int_equal(sn_flag_eval_one(&ev, 0)->enabled, want[i]);
		sn_arena_release(&a);
	}
	json_object_put(props);
	sn_flag_set_unref(set);
}

static void test_set_needs(void **state)
{
	(void)state;
	static const struct {
		const char *flags;
		bool person, groups;
	} cases[] = {
	    {"[{\"key\":\"a\",\"filters\":{\"groups\":[{\"rollout_percentage\":50}]}}]", false,
	     false},
	    {"[{\"key\":\"a\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"p\","
	     "\"value\":1}]}]}}]",
	     true, false},
	    {"[{\"key\":\"a\",\"filters\":{\"aggregation_group_type_index\":0,\"groups\":[{}]}}]",
	     false, true},
	    {"[{\"key\":\"a\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"p\","
	     "\"type\":\"group\",\"group_type_index\":1,\"value\":1}]}]}}]",
	     false, true},
	    {"[{\"key\":\"a\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"b\","
	     "\"type\":\"flag\",\"value\":true,\"operator\":\"flag_evaluates_to\"}]}]}},"
	     "{\"key\":\"b\",\"filters\":{\"groups\":[{}]}}]",
	     false, false},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++) {
		struct json_object *flags = J(cases[i].flags);
		struct sn_flag_set *set = NULL;
		assert_int_equal(sn_flag_set_build(flags, NULL, NULL, &set, NULL), 0);
		bool p, g;
		sn_flag_set_needs(set, &p, &g);
		if (p != cases[i].person || g != cases[i].groups)
			fail_msg("case %zu: person %d groups %d", i, p, g);
		sn_flag_set_unref(set);
		json_object_put(flags);
	}
}

/* Which flags take part in experience continuity, and which of them make
 * the server read stored hash keys (PostHog skips the read when the hash
 * cannot change the answer). */
static void test_set_continuity(void **state)
{
	(void)state;
	struct json_object *flags =
	    J("[{\"key\":\"off\",\"filters\":{\"groups\":[{\"rollout_percentage\":50}]}},"
	      "{\"key\":\"partial\",\"ensure_experience_continuity\":true,"
	      "\"filters\":{\"groups\":[{\"rollout_percentage\":50}]}},"
	      "{\"key\":\"everyone\",\"ensure_experience_continuity\":true,"
	      "\"filters\":{\"groups\":[{\"rollout_percentage\":100},{}]}},"
	      "{\"key\":\"variants\",\"ensure_experience_continuity\":true,\"filters\":{\"groups\":"
	      "[{}],"
	      "\"multivariate\":{\"variants\":[{\"key\":\"a\",\"rollout_percentage\":50},"
	      "{\"key\":\"b\",\"rollout_percentage\":50}]}}},"
	      "{\"key\":\"one-variant\",\"ensure_experience_continuity\":true,\"filters\":{"
	      "\"groups\":"
	      "[{}],\"multivariate\":{\"variants\":[{\"key\":\"a\",\"rollout_percentage\":100}]}}},"
	      "{\"key\":\"group\",\"ensure_experience_continuity\":true,\"filters\":{"
	      "\"aggregation_group_type_index\":0,\"groups\":[{\"rollout_percentage\":50}]}},"
	      "{\"key\":\"device\",\"ensure_experience_continuity\":true,\"bucketing_identifier\":"
	      "\"device_id\",\"filters\":{\"groups\":[{\"rollout_percentage\":50}]}},"
	      "{\"key\":\"inactive\",\"active\":false,\"ensure_experience_continuity\":true,"
	      "\"filters\":{\"groups\":[{\"rollout_percentage\":50}]}}]");
	struct sn_flag_set *set = NULL;
	assert_int_equal(sn_flag_set_build(flags, NULL, NULL, &set, NULL), 0);
	static const struct {
		const char *key;
		bool continuity, lookup;
	} want[] = {
	    {"off", false, false},    {"partial", true, true},	    {"everyone", true, false},
	    {"variants", true, true}, {"one-variant", true, false}, {"group", true, false},
	    {"device", true, false},  {"inactive", false, false},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(want); i++) {
		ssize_t idx = sn_flag_set_find(set, want[i].key);
		assert_true(idx >= 0);
		bool lookup = true;
		bool c = sn_flag_set_continuity(set, (size_t)idx, &lookup);
		if (c != want[i].continuity || lookup != want[i].lookup)
			fail_msg("%s: continuity %d lookup %d", want[i].key, c, lookup);
	}
	sn_flag_set_unref(set);
	json_object_put(flags);

	/* What an evaluation of some flags also evaluates: their dependencies,
	 * transitively. */
	flags = J("[{\"key\":\"a\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"b\","
		  "\"type\":\"flag\",\"value\":true,\"operator\":\"flag_evaluates_to\"}]}]}},"
		  "{\"key\":\"b\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"c\","
		  "\"type\":\"flag\",\"value\":\"x\",\"operator\":\"flag_evaluates_to\"}]}]}},"
		  "{\"key\":\"c\",\"filters\":{\"groups\":[{}]}},"
		  "{\"key\":\"d\",\"filters\":{\"groups\":[{}]}}]");
	assert_int_equal(sn_flag_set_build(flags, NULL, NULL, &set, NULL), 0);
	uint8_t mask[4] = {1, 0, 0, 0};
	sn_flag_set_add_dependencies(set, mask);
	assert_memory_equal(mask, ((uint8_t[]){1, 1, 1, 0}), 4);
	uint8_t mask2[4] = {0, 0, 0, 1};
	sn_flag_set_add_dependencies(set, mask2);
	assert_memory_equal(mask2, ((uint8_t[]){0, 0, 0, 1}), 4);
	sn_flag_set_unref(set);
	json_object_put(flags);
}

/* The definitions document carries the person store's group types, and a
 * new group type (ingestion, no flag change) rebuilds it for the
 * definitions lookup, changing the ETag. */
static void test_definitions_group_types(void **state)
{
	struct fx *f = *state;
	struct sn_err err = {0};
	struct sn_persons *p = NULL;
	assert_int_equal(sn_persons_open(&p, f->dir, NULL, &err), 0);
	struct sn_flag_cache *c;
	assert_int_equal(sn_flag_cache_new(&c, f->m, &err), 0);
	sn_flag_cache_set_persons(c, p);
	create(f, f->team,
	       "{\"key\":\"orgs\",\"filters\":{\"aggregation_group_type_index\":1,"
	       "\"groups\":[{\"rollout_percentage\":100}]}}");
	struct sn_flag_snapshot *s1, *s2, *s3, *s4;
	assert_int_equal(sn_flag_cache_get_definitions(c, f->team, &s1, &err), 0);
	assert_string_equal(s1->group_type_mapping, "{}");

	const char *types[] = {"company", "organization"};
	for (int i = 0; i < 2; i++) {
		char props[160];
		snprintf(props, sizeof(props),
			 "{\"$group_type\":\"%s\",\"$group_key\":\"k\",\"$group_set\":{}}",
			 types[i]);
		struct json_object *o = J(props);
		struct sn_identity_event ev = {.team_id = f->team,
					       .distinct_id = "u",
					       .event = "$groupidentify",
					       .uuid = "00000000-0000-7000-8000-000000000001",
					       .timestamp_us = 1700000000000000LL,
					       .properties = o};
		struct sn_identity_result res;
		assert_int_equal(sn_identity_process(p, &ev, &res, &err), 0);
		sn_identity_result_release(&res);
		json_object_put(o);
	}
	/* /flags lookups do not read group types: same snapshot. */
	assert_int_equal(sn_flag_cache_get(c, f->team, &s2, &err), 0);
	assert_ptr_equal(s1, s2);
	assert_int_equal(sn_flag_cache_get_definitions(c, f->team, &s3, &err), 0);
	assert_ptr_not_equal(s1, s3);
	assert_string_equal(s3->group_type_mapping, "{\"0\":\"company\",\"1\":\"organization\"}");
	assert_string_not_equal(s1->etag, s3->etag);
	struct json_object *doc = J(s3->definitions);
	assert_string_equal(
	    sn_json_str(sn_json_get(sn_json_get(doc, "group_type_mapping"), "1"), NULL),
	    "organization");
	json_object_put(doc);
	/* Unchanged: no rebuild; the other team has its own (empty) mapping. */
	uint64_t builds = sn_flag_cache_builds(c);
	assert_int_equal(sn_flag_cache_get_definitions(c, f->team, &s4, &err), 0);
	assert_ptr_equal(s3, s4);
	assert_int_equal(sn_flag_cache_builds(c), builds);
	sn_flag_snapshot_unref(s4);
	assert_int_equal(sn_flag_cache_get_definitions(c, f->team2, &s4, &err), 0);
	assert_string_equal(s4->group_type_mapping, "{}");
	sn_flag_snapshot_unref(s1);
	sn_flag_snapshot_unref(s2);
	sn_flag_snapshot_unref(s3);
	sn_flag_snapshot_unref(s4);
	sn_flag_cache_free(c);
	sn_persons_close(p);
}

/* One flag of a set for one context: "true"/"false" or the variant. */
static const char *eval_ctx(const char *defs, const struct sn_flag_ctx *ctx)
{
	static char out[64];
	struct json_object *flags = J(defs);
	struct sn_flag_set *set = NULL;
	assert_int_equal(sn_flag_set_build(flags, NULL, NULL, &set, NULL), 0);
	struct sn_arena a;
	sn_arena_init(&a, 1 << 20);
	struct sn_flag_eval ev;
	assert_int_equal(sn_flag_eval_init(&ev, set, ctx, &a, NULL), 0);
	const struct sn_flag_result *r = sn_flag_eval_one(&ev, 0);
	snprintf(out, sizeof(out), "%s", r->variant ? r->variant : r->enabled ? "true" : "false");
	sn_arena_release(&a);
	sn_flag_set_unref(set);
	json_object_put(flags);
	return out;
}

/* The bucketing identifier with experience continuity, in PostHog's order:
 * device id (device bucketing) > stored override > the request's
 * $anon_distinct_id (continuity flags on persons) > distinct id; holdouts
 * use the last two only. simple-flag at 45 %: distinct_id_0 is out,
 * distinct_id_1 in (spec §3.10). */
static void test_continuity_bucketing(void **state)
{
	(void)state;
	const char *cont = "[{\"key\":\"simple-flag\",\"ensure_experience_continuity\":true,"
			   "\"filters\":{\"groups\":[{\"rollout_percentage\":45}]}}]";
	const char *plain = "[{\"key\":\"simple-flag\","
			    "\"filters\":{\"groups\":[{\"rollout_percentage\":45}]}}]";
	const char *device = "[{\"key\":\"simple-flag\",\"ensure_experience_continuity\":true,"
			     "\"bucketing_identifier\":\"device_id\","
			     "\"filters\":{\"groups\":[{\"rollout_percentage\":45}]}}]";
	const char *group = "[{\"key\":\"simple-flag\",\"ensure_experience_continuity\":true,"
			    "\"filters\":{\"aggregation_group_type_index\":0,"
			    "\"groups\":[{\"rollout_percentage\":45}]}}]";
	struct json_object *to1 = J("{\"simple-flag\":\"distinct_id_1\"}");
	struct json_object *to0 = J("{\"simple-flag\":\"distinct_id_0\"}");
	struct sn_flag_ctx c = {.distinct_id = "distinct_id_0"};
	assert_string_equal(eval_ctx(cont, &c), "false");
	c.anon_distinct_id = "distinct_id_1";
	assert_string_equal(eval_ctx(cont, &c), "true");   /* the request's anonymous id */
	assert_string_equal(eval_ctx(plain, &c), "false"); /* only for continuity flags */
	c.hash_key_overrides = to0;
	assert_string_equal(eval_ctx(cont, &c), "false"); /* a stored override wins */
	c = (struct sn_flag_ctx){.distinct_id = "distinct_id_0", .hash_key_overrides = to1};
	assert_string_equal(eval_ctx(cont, &c), "true");
	assert_string_equal(eval_ctx(plain, &c), "true"); /* applied whenever it was read */
	c.device_id = "distinct_id_0";
	assert_string_equal(eval_ctx(device, &c), "false"); /* the device id comes first */
	c.device_id = "";
	assert_string_equal(eval_ctx(device, &c), "true"); /* an empty one is none */
	c = (struct sn_flag_ctx){.distinct_id = "distinct_id_0",
				 .anon_distinct_id = "distinct_id_0",
				 .device_id = "distinct_id_1"};
	assert_string_equal(eval_ctx(device, &c), "true");
	/* Group flags bucket by the group key, never by the anonymous id. */
	struct json_object *groups = J("{\"company\":\"distinct_id_0\"}");
	const char *types[5] = {"company"};
	c = (struct sn_flag_ctx){.distinct_id = "distinct_id_1",
				 .anon_distinct_id = "distinct_id_1",
				 .groups = groups,
				 .group_types = types};
	assert_string_equal(eval_ctx(group, &c), "false");
	json_object_put(groups);

	/* Holdouts: the anonymous id, not stored overrides. */
	char in[32] = "", out_id[32] = "";
	for (int i = 0; i < 1000 && (!in[0] || !out_id[0]); i++) {
		char id[32];
		snprintf(id, sizeof(id), "h-%d", i);
		double h = sn_flag_hash01("holdout-", id, strlen(id), "");
		if (h <= 0.10 && !in[0])
			snprintf(in, sizeof(in), "%s", id);
		if (h > 0.10 && !out_id[0])
			snprintf(out_id, sizeof(out_id), "%s", id);
	}
	const char *hold = "[{\"key\":\"simple-flag\",\"ensure_experience_continuity\":true,"
			   "\"filters\":{\"holdout\":{\"id\":7,\"exclusion_percentage\":10},"
			   "\"groups\":[{\"rollout_percentage\":100}]}}]";
	c = (struct sn_flag_ctx){.distinct_id = out_id};
	assert_string_equal(eval_ctx(hold, &c), "true");
	c.anon_distinct_id = in;
	assert_string_equal(eval_ctx(hold, &c), "holdout-7");
	char ov[80];
	snprintf(ov, sizeof(ov), "{\"simple-flag\":\"%s\"}", in);
	struct json_object *toin = J(ov);
	c = (struct sn_flag_ctx){.distinct_id = out_id, .hash_key_overrides = toin};
	assert_string_equal(eval_ctx(hold, &c), "true");
	json_object_put(toin);
	json_object_put(to1);
	json_object_put(to0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test(test_team_timezones),
	    cmocka_unit_test(test_set_needs),
	    cmocka_unit_test_setup_teardown(test_crud_and_soft_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_activity_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_pagination, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_invalidation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dependency_chains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cache_concurrency, setup, teardown),
	    cmocka_unit_test(test_set_continuity),
	    cmocka_unit_test(test_continuity_bucketing),
	    cmocka_unit_test_setup_teardown(test_definitions_group_types, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
