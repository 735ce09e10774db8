/*
 * test_annotations.c — meta's annotation and action models against a real
 * SQLite file in a fresh temporary directory per test: validation with the
 * field named, create / update / soft delete, the activity log they write
 * (shared with flags), organization-scoped visibility, isolation between
 * projects and organizations, list order, search and pagination. The HTTP
 * endpoints are covered by tests/blackbox/annotations.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/meta.h"

struct fx {
	char dir[PATH_MAX];
	struct sn_meta *m;
	int64_t team, team2; /* same organization */
	int64_t other;	     /* another organization */
	int64_t user;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || sn_test_tmpdir(f->dir, sizeof(f->dir), "test_annotations") != 0)
		return -1;
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/meta.sqlite3", f->dir);
	struct sn_err err = {0};
	struct sn_org o, o2;
	struct sn_team t;
	struct sn_user u;
	if (sn_meta_open(&f->m, path, NULL, &err) || sn_meta_org_create(f->m, "org", &o, &err) ||
	    sn_meta_org_create(f->m, "org2", &o2, &err) ||
	    sn_meta_team_create(f->m, o.id, "one", NULL, NULL, &t, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	f->team = t.id;
	if (sn_meta_team_create(f->m, o.id, "two", NULL, NULL, &t, &err))
		return -1;
	f->team2 = t.id;
	if (sn_meta_team_create(f->m, o2.id, "other", NULL, NULL, &t, &err))
		return -1;
	f->other = t.id;
	if (sn_meta_user_create(f->m, "ann@example.com", "password123", "Ann", false, &u, &err))
		return -1;
	f->user = u.id;
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

static int64_t ann_create(struct fx *f, int64_t team, const char *body)
{
	struct json_object *b = J(body);
	struct sn_annotation a;
	struct sn_meta_verr ve;
	if (sn_meta_annotation_create(f->m, team, f->user, b, &a, &ve))
		fail_msg("create %s: %s", body, ve.err.msg);
	int64_t id = a.id;
	sn_annotation_release(&a);
	json_object_put(b);
	return id;
}

/* Returns the error code of a create (0 on success) and fills ve. */
static int ann_try(struct fx *f, int64_t team, const char *body, struct sn_meta_verr *ve)
{
	struct json_object *b = J(body);
	struct sn_annotation a;
	int rc = sn_meta_annotation_create(f->m, team, f->user, b, &a, ve);
	if (rc == 0)
		sn_annotation_release(&a);
	json_object_put(b);
	return rc;
}

static int ann_patch(struct fx *f, int64_t team, int64_t id, const char *body,
		     struct sn_annotation *out, struct sn_meta_verr *ve)
{
	struct json_object *b = J(body);
	int rc = sn_meta_annotation_update(f->m, team, id, f->user, b, out, ve);
	json_object_put(b);
	return rc;
}

struct collect {
	int64_t ids[64];
	size_t n;
};

static int collect_ann(void *arg, const struct sn_annotation *a)
{
	struct collect *c = arg;
	if (c->n < 64)
		c->ids[c->n++] = a->id;
	return 0;
}

static int collect_act(void *arg, const struct sn_meta_activity *a)
{
	struct collect *c = arg;
	if (c->n < 64)
		c->ids[c->n++] = !strcmp(a->activity, "created")   ? 1
				 : !strcmp(a->activity, "updated") ? 2
				 : !strcmp(a->activity, "deleted") ? 3
								   : 0;
	return 0;
}

static struct collect ann_list(struct fx *f, int64_t team, const char *search, const char *scope,
			       int64_t offset, int64_t limit, int64_t *total)
{
	struct collect c = {0};
	struct sn_meta_list_opts o = {offset, limit, search, scope};
	struct sn_err err = {0};
	assert_int_equal(sn_meta_annotation_list(f->m, team, &o, total, collect_ann, &c, &err), 0);
	return c;
}

/* ---- annotations -------------------------------------------------------------------- */

static void test_datetime(void **state)
{
	(void)state;
	int64_t us;
	assert_int_equal(sn_meta_parse_datetime("2024-05-01T10:00:00Z", &us), 0);
	assert_int_equal(us, 1714557600000000LL);
	assert_int_equal(sn_meta_parse_datetime("2024-05-01T12:00:00+02:00", &us), 0);
	assert_int_equal(us, 1714557600000000LL);
	assert_int_equal(sn_meta_parse_datetime("2024-05-01 10:00:00.250", &us), 0);
	assert_int_equal(us, 1714557600250000LL);
	assert_int_equal(sn_meta_parse_datetime("2024-05-01", &us), 0);
	assert_int_equal(us, 1714521600000000LL);
	assert_int_equal(sn_meta_parse_datetime("2024-05-01T10:00", &us), 0);
	const char *bad[] = {"",
			     "yesterday",
			     "2024-13-01",
			     "2024-02-30",
			     "2024-05-01T25:00:00Z",
			     "2024-05-01T10:00:00+",
			     "2024-5-1",
			     "2024-05-01T10:00:00Zjunk"};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++)
		assert_int_not_equal(sn_meta_parse_datetime(bad[i], &us), 0);
}

static void test_ann_validation(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *body;
		const char *code; /* NULL = valid */
		const char *attr;
	} cases[] = {
	    {"{}", NULL, NULL},
	    {"{\"content\":\"deploy\",\"date_marker\":\"2024-05-01T10:00:00Z\"}", NULL, NULL},
	    {"{\"content\":null,\"date_marker\":null}", NULL, NULL},
	    {"{\"date_marker\":\"last tuesday\"}", "invalid", "date_marker"},
	    {"{\"date_marker\":12}", "invalid", "date_marker"},
	    {"{\"scope\":\"galaxy\"}", "invalid_choice", "scope"},
	    {"{\"scope\":\"organization\"}", NULL, NULL},
	    {"{\"creation_type\":\"BOT\"}", "invalid_choice", "creation_type"},
	    {"{\"content\":42}", "invalid", "content"},
	    {"{\"dashboard_item\":\"x\"}", "incorrect_type", "dashboard_item"},
	    {"{\"dashboard_id\":-3}", "incorrect_type", "dashboard_id"},
	    {"{\"deleted\":\"yes\"}", "invalid", "deleted"},
	    {"{\"scope\":null}", "null", "scope"},
	    {"{\"deleted\":null}", "null", "deleted"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++) {
		struct sn_meta_verr ve;
		int rc = ann_try(f, f->team, cases[i].body, &ve);
		if (!cases[i].code) {
			if (rc)
				fail_msg("%s: %s", cases[i].body, ve.err.msg);
			continue;
		}
		if (rc != SN_ERR_INVALID)
			fail_msg("%s: expected %s", cases[i].body, cases[i].code);
		assert_string_equal(ve.code, cases[i].code);
		assert_string_equal(ve.attr, cases[i].attr);
	}
	/* 400 characters pass, 401 do not; é counts as one character. */
	char body[2000];
	char text[1000];
	memset(text, 'x', 400);
	text[400] = 0;
	snprintf(body, sizeof(body), "{\"content\":\"%s\"}", text);
	struct sn_meta_verr ve;
	assert_int_equal(ann_try(f, f->team, body, &ve), 0);
	strcpy(text + 398, "\xc3\xa9\xc3\xa9"); /* 398 + 2 characters, 402 bytes */
	snprintf(body, sizeof(body), "{\"content\":\"%s\"}", text);
	assert_int_equal(ann_try(f, f->team, body, &ve), 0);
	memset(text, 'x', 401);
	text[401] = 0;
	snprintf(body, sizeof(body), "{\"content\":\"%s\"}", text);
	assert_int_equal(ann_try(f, f->team, body, &ve), SN_ERR_INVALID);
	assert_string_equal(ve.attr, "content");
	assert_string_equal(ve.code, "max_length");
}

static void test_ann_crud(void **state)
{
	struct fx *f = *state;
	int64_t id = ann_create(f, f->team,
				"{\"content\":\"v1 shipped\",\"date_marker\":\"2024-05-01T12:00:00"
				"+02:00\",\"scope\":\"project\",\"dashboard_item\":7}");
	struct sn_annotation a;
	struct sn_err err = {0};
	assert_int_equal(sn_meta_annotation_get(f->m, f->team, id, &a, &err), 0);
	assert_string_equal(a.content, "v1 shipped");
	assert_true(a.has_date_marker);
	assert_int_equal(a.date_marker_us, 1714557600000000LL);
	assert_string_equal(a.creation_type, "USR");
	assert_string_equal(a.scope, "project");
	assert_int_equal(a.dashboard_item, 7);
	assert_int_equal(a.dashboard_id, 0);
	assert_int_equal(a.created_by, f->user);
	assert_false(a.deleted);
	sn_annotation_release(&a);

	/* Defaults PostHog's model has. */
	int64_t id2 = ann_create(f, f->team, "{}");
	assert_int_equal(sn_meta_annotation_get(f->m, f->team, id2, &a, &err), 0);
	assert_null(a.content);
	assert_false(a.has_date_marker);
	assert_string_equal(a.scope, "dashboard_item");
	sn_annotation_release(&a);

	struct sn_meta_verr ve;
	assert_int_equal(ann_patch(f, f->team, id,
				   "{\"content\":\"v1.0 shipped\",\"creation_type\":\"GIT\","
				   "\"dashboard_item\":null}",
				   &a, &ve),
			 0);
	assert_string_equal(a.content, "v1.0 shipped");
	assert_string_equal(a.creation_type, "GIT");
	assert_int_equal(a.dashboard_item, 0);
	assert_int_equal(a.date_marker_us, 1714557600000000LL); /* untouched */
	assert_true(a.updated_at_us >= a.created_at_us);
	sn_annotation_release(&a);
	/* A bad PATCH changes nothing. */
	assert_int_equal(
	    ann_patch(f, f->team, id, "{\"scope\":\"nope\",\"content\":\"x\"}", &a, &ve),
	    SN_ERR_INVALID);
	assert_string_equal(ve.attr, "scope");
	/* The same date in another form is no change. */
	assert_int_equal(
	    ann_patch(f, f->team, id, "{\"date_marker\":\"2024-05-01T10:00:00.000Z\"}", &a, &ve),
	    0);
	sn_annotation_release(&a);

	/* Soft delete: gone from lists, still fetchable by id, marked deleted. */
	int64_t total = 0;
	struct collect c = ann_list(f, f->team, NULL, NULL, 0, 100, &total);
	assert_int_equal(total, 2);
	assert_int_equal(sn_meta_annotation_delete(f->m, f->team, id, f->user, &err), 0);
	assert_int_equal(sn_meta_annotation_delete(f->m, f->team, id, f->user, &err),
			 SN_ERR_NOT_FOUND);
	c = ann_list(f, f->team, NULL, NULL, 0, 100, &total);
	assert_int_equal(total, 1);
	assert_int_equal(c.ids[0], id2);
	assert_int_equal(sn_meta_annotation_get(f->m, f->team, id, &a, &err), 0);
	assert_true(a.deleted);
	sn_annotation_release(&a);
	/* Restoring is a PATCH. */
	assert_int_equal(ann_patch(f, f->team, id, "{\"deleted\":false}", &a, &ve), 0);
	assert_false(a.deleted);
	sn_annotation_release(&a);

	/* Activity: created, updated (the no-op PATCH wrote nothing), deleted,
	 * updated (restore); newest first. */
	c = (struct collect){0};
	assert_int_equal(
	    sn_meta_activity_list(f->m, f->team, "Annotation", id, 100, collect_act, &c, &err), 0);
	assert_int_equal(c.n, 4);
	assert_int_equal(c.ids[0], 2);
	assert_int_equal(c.ids[1], 3);
	assert_int_equal(c.ids[2], 2);
	assert_int_equal(c.ids[3], 1);
	/* Another scope's log of the same id is separate. */
	c = (struct collect){0};
	assert_int_equal(
	    sn_meta_activity_list(f->m, f->team, "FeatureFlag", id, 100, collect_act, &c, &err), 0);
	assert_int_equal(c.n, 0);
}

static void test_ann_visibility(void **state)
{
	struct fx *f = *state;
	int64_t proj =
	    ann_create(f, f->team, "{\"content\":\"project note\",\"scope\":\"project\"}");
	int64_t org = ann_create(f, f->team,
				 "{\"content\":\"org-wide outage\",\"scope\":\"organization\","
				 "\"date_marker\":\"2024-01-01\"}");
	int64_t mine2 = ann_create(f, f->team2, "{\"content\":\"two's own\"}");
	int64_t theirs =
	    ann_create(f, f->other, "{\"content\":\"other org\",\"scope\":\"organization\"}");
	struct sn_annotation a;
	struct sn_err err = {0};
	/* Another project of the organization sees the org-wide one only. */
	int64_t total;
	struct collect c = ann_list(f, f->team2, NULL, NULL, 0, 100, &total);
	assert_int_equal(total, 2);
	bool seen_org = false, seen_own = false;
	for (size_t i = 0; i < c.n; i++) {
		seen_org |= c.ids[i] == org;
		seen_own |= c.ids[i] == mine2;
		assert_true(c.ids[i] != proj && c.ids[i] != theirs);
	}
	assert_true(seen_org && seen_own);
	assert_int_equal(sn_meta_annotation_get(f->m, f->team2, org, &a, &err), 0);
	assert_int_equal(a.team_id, f->team);
	sn_annotation_release(&a);
	assert_int_equal(sn_meta_annotation_get(f->m, f->team2, proj, &a, &err), SN_ERR_NOT_FOUND);
	/* Another organization sees none of them, and cannot change them. */
	c = ann_list(f, f->other, NULL, NULL, 0, 100, &total);
	assert_int_equal(total, 1);
	assert_int_equal(c.ids[0], theirs);
	assert_int_equal(sn_meta_annotation_get(f->m, f->other, org, &a, &err), SN_ERR_NOT_FOUND);
	struct sn_meta_verr ve;
	assert_int_equal(ann_patch(f, f->other, proj, "{\"content\":\"hijack\"}", &a, &ve),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_annotation_delete(f->m, f->other, org, f->user, &err),
			 SN_ERR_NOT_FOUND);
	/* Changing an org-wide one from a sibling project is allowed, and
	 * narrowing its scope hides it from there. */
	assert_int_equal(ann_patch(f, f->team2, org, "{\"scope\":\"project\"}", &a, &ve), 0);
	sn_annotation_release(&a);
	assert_int_equal(sn_meta_annotation_get(f->m, f->team2, org, &a, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_annotation_get(f->m, f->team, org, &a, &err), 0);
	sn_annotation_release(&a);
}

static void test_ann_list(void **state)
{
	struct fx *f = *state;
	int64_t ids[6];
	static const char *const dates[] = {"2024-03-01", "2024-01-01", "2024-05-01",
					    "2024-02-01", "2024-04-01", "2024-06-01"};
	for (int i = 0; i < 6; i++) {
		char body[200];
		snprintf(body, sizeof(body),
			 "{\"content\":\"%s %d\",\"date_marker\":\"%s\",\"scope\":\"%s\"}",
			 i % 2 ? "Deploy" : "incident", i, dates[i],
			 i < 3 ? "project" : "dashboard");
		ids[i] = ann_create(f, f->team, body);
	}
	int64_t total;
	struct collect c = ann_list(f, f->team, NULL, NULL, 0, 100, &total);
	assert_int_equal(total, 6);
	/* Newest date_marker first. */
	static const int order[] = {5, 2, 4, 0, 3, 1};
	for (int i = 0; i < 6; i++)
		assert_int_equal(c.ids[i], ids[order[i]]);
	/* Pages. */
	c = ann_list(f, f->team, NULL, NULL, 2, 2, &total);
	assert_int_equal(total, 6);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], ids[4]);
	assert_int_equal(c.ids[1], ids[0]);
	c = ann_list(f, f->team, NULL, NULL, 5, 10, &total);
	assert_int_equal(c.n, 1);
	/* Search is a case-insensitive substring; scope is exact. */
	c = ann_list(f, f->team, "DEPLOY", NULL, 0, 100, &total);
	assert_int_equal(total, 3);
	c = ann_list(f, f->team, "deploy", "dashboard", 0, 100, &total);
	assert_int_equal(total, 2); /* 3 and 5 */
	c = ann_list(f, f->team, NULL, "organization", 0, 100, &total);
	assert_int_equal(total, 0);
	c = ann_list(f, f->team, "100%", NULL, 0, 100, &total);
	assert_int_equal(total, 0);
}

/* ---- actions ------------------------------------------------------------------------ */

static int act_try(struct fx *f, int64_t team, const char *body, struct sn_action *out,
		   struct sn_meta_verr *ve)
{
	struct json_object *b = J(body);
	struct sn_action a;
	int rc = sn_meta_action_create(f->m, team, f->user, b, out ? out : &a, ve);
	if (rc == 0 && !out)
		sn_action_release(&a);
	json_object_put(b);
	return rc;
}

static void test_action_validation(void **state)
{
	struct fx *f = *state;
	static const struct {
		const char *body;
		const char *code; /* NULL = valid */
		const char *attr;
	} cases[] = {
	    {"{\"name\":\"Signed up\",\"steps\":[{\"event\":\"signup\"}]}", NULL, NULL},
	    {"{\"steps\":[]}", "required", "name"},
	    {"{\"name\":\"  \"}", "blank", "name"},
	    {"{\"name\":7}", "invalid", "name"},
	    {"{\"name\":\"a\",\"steps\":{}}", "not_a_list", "steps"},
	    {"{\"name\":\"b\",\"steps\":[\"$pageview\"]}", "invalid_input", "steps"},
	    {"{\"name\":\"c\",\"steps\":[{\"url\":\"/x\",\"url_matching\":\"startswith\"}]}",
	     "invalid_input", "steps"},
	    {"{\"name\":\"d\",\"steps\":[{\"url\":\"(unclosed\",\"url_matching\":\"regex\"}]}",
	     "invalid_regex", "steps"},
	    {"{\"name\":\"e\",\"steps\":[{\"url\":\"^/p/\\\\d+$\",\"url_matching\":\"regex\"}]}",
	     NULL, NULL},
	    {"{\"name\":\"f\",\"steps\":[{\"text\":\"[\",\"text_matching\":\"regex\"}]}",
	     "invalid_regex", "steps"},
	    {"{\"name\":\"g\",\"steps\":[{\"event\":5}]}", "invalid_input", "steps"},
	    {"{\"name\":\"h\",\"steps\":[{\"properties\":{}}]}", "invalid_input", "steps"},
	    {"{\"name\":\"i\",\"steps\":[{\"properties\":[{\"key\":\"plan\",\"value\":\"pro\","
	     "\"type\":\"event\"}]}]}",
	     NULL, NULL},
	    {"{\"name\":\"j\",\"tags\":\"x\"}", "not_a_list", "tags"},
	    {"{\"name\":\"k\",\"tags\":[1]}", "invalid", "tags"},
	    {"{\"name\":\"l\",\"post_to_slack\":\"yes\"}", "invalid", "post_to_slack"},
	    {"{\"name\":\"l2\",\"post_to_slack\":null}", "null", "post_to_slack"},
	    {"{\"name\":null}", "required", "name"},
	    {"{\"name\":\"m\",\"post_to_slack\":true,\"slack_message_format\":\"[user] did it\"}",
	     NULL, NULL},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cases); i++) {
		struct sn_meta_verr ve;
		int rc = act_try(f, f->team, cases[i].body, NULL, &ve);
		if (!cases[i].code) {
			if (rc)
				fail_msg("%s: %s", cases[i].body, ve.err.msg);
			continue;
		}
		if (rc != SN_ERR_INVALID)
			fail_msg("%s: expected %s, got %d", cases[i].body, cases[i].code, rc);
		assert_string_equal(ve.code, cases[i].code);
		assert_string_equal(ve.attr, cases[i].attr);
	}
}

static int count_act(void *arg, const struct sn_action *a)
{
	struct collect *c = arg;
	if (c->n < 64)
		c->ids[c->n++] = a->id;
	return 0;
}

static void test_action_crud(void **state)
{
	struct fx *f = *state;
	struct sn_action a;
	struct sn_meta_verr ve;
	struct sn_err err = {0};
	assert_int_equal(
	    act_try(f, f->team,
		    "{\"name\":\"Checkout\",\"description\":\"paid\",\"tags\":[\"money\"],"
		    "\"steps\":[{\"event\":\"$pageview\",\"url\":\"/checkout\"},"
		    "{\"event\":\"purchase\",\"unknown\":1}]}",
		    &a, &ve),
	    0);
	int64_t id = a.id;
	assert_string_equal(a.name, "Checkout");
	assert_string_equal(a.description, "paid");
	assert_int_equal(json_object_array_length(a.steps), 2);
	/* Steps are normalised: every key, url_matching "contains" by default,
	 * unknown keys dropped. */
	struct json_object *s0 = json_object_array_get_idx(a.steps, 0);
	assert_string_equal(json_object_get_string(sn_json_get(s0, "url_matching")), "contains");
	assert_true(json_object_object_get_ex(s0, "selector", NULL));
	assert_true(json_object_is_type(sn_json_get(s0, "properties"), json_type_array));
	assert_false(
	    json_object_object_get_ex(json_object_array_get_idx(a.steps, 1), "unknown", NULL));
	assert_int_equal(a.created_by, f->user);
	sn_action_release(&a);

	/* Names are unique among live actions of a team; PostHog names the id. */
	assert_int_equal(act_try(f, f->team, "{\"name\":\"Checkout\"}", NULL, &ve), SN_ERR_EXISTS);
	assert_string_equal(ve.code, "unique");
	assert_string_equal(ve.attr, "name");
	char want[80];
	snprintf(want, sizeof(want), "ID %lld", (long long)id);
	assert_non_null(strstr(ve.err.msg, want));
	/* ...per team. */
	assert_int_equal(act_try(f, f->team2, "{\"name\":\"Checkout\"}", NULL, &ve), 0);

	/* find by id and by name; isolation. */
	assert_int_equal(sn_meta_action_find(f->m, f->team, 0, "Checkout", &a, &err), 0);
	assert_int_equal(a.id, id);
	sn_action_release(&a);
	assert_int_equal(sn_meta_action_find(f->m, f->team, id, NULL, &a, &err), 0);
	sn_action_release(&a);
	assert_int_equal(sn_meta_action_find(f->m, f->other, id, NULL, &a, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_action_get(f->m, f->team2, id, &a, &err), SN_ERR_NOT_FOUND);

	/* PATCH: rename into a taken name fails, a real change is logged. */
	assert_int_equal(act_try(f, f->team, "{\"name\":\"Signup\"}", &a, &ve), 0);
	int64_t id2 = a.id;
	sn_action_release(&a);
	struct json_object *b = J("{\"name\":\"Checkout\"}");
	assert_int_equal(sn_meta_action_update(f->m, f->team, id2, f->user, b, &a, &ve),
			 SN_ERR_EXISTS);
	json_object_put(b);
	b = J("{\"description\":\"new\",\"steps\":[{\"event\":\"signed_up\"}]}");
	assert_int_equal(sn_meta_action_update(f->m, f->team, id2, f->user, b, &a, &ve), 0);
	json_object_put(b);
	assert_string_equal(a.description, "new");
	assert_string_equal(
	    json_object_get_string(sn_json_get(json_object_array_get_idx(a.steps, 0), "event")),
	    "signed_up");
	sn_action_release(&a);

	/* Soft delete frees the name and hides the action. */
	assert_int_equal(sn_meta_action_delete(f->m, f->team, id, f->user, &err), 0);
	assert_int_equal(sn_meta_action_delete(f->m, f->team, id, f->user, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_action_find(f->m, f->team, 0, "Checkout", &a, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_action_get(f->m, f->team, id, &a, &err), 0);
	assert_true(a.deleted);
	sn_action_release(&a);
	assert_int_equal(act_try(f, f->team, "{\"name\":\"Checkout\"}", NULL, &ve), 0);
	/* Restoring the deleted one would now collide. */
	b = J("{\"deleted\":false}");
	assert_int_equal(sn_meta_action_update(f->m, f->team, id, f->user, b, &a, &ve),
			 SN_ERR_EXISTS);
	json_object_put(b);

	struct collect c = {0};
	assert_int_equal(
	    sn_meta_activity_list(f->m, f->team, "Action", id, 100, collect_act, &c, &err), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], 3);
	assert_int_equal(c.ids[1], 1);

	/* List: live only, newest first, search on the name. */
	c = (struct collect){0};
	int64_t total = 0;
	struct sn_meta_list_opts o = {0, 100, NULL, NULL};
	assert_int_equal(sn_meta_action_list(f->m, f->team, &o, &total, count_act, &c, &err), 0);
	assert_int_equal(total, 2);
	assert_true(c.ids[0] > c.ids[1]);
	o.search = "sign";
	c = (struct collect){0};
	assert_int_equal(sn_meta_action_list(f->m, f->team, &o, &total, count_act, &c, &err), 0);
	assert_int_equal(total, 1);
	assert_int_equal(c.ids[0], id2);
	o = (struct sn_meta_list_opts){1, 1, NULL, NULL};
	c = (struct collect){0};
	assert_int_equal(sn_meta_action_list(f->m, f->team, &o, &total, count_act, &c, &err), 0);
	assert_int_equal(total, 2);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], id2);
}

/* Flags still write their log through the shared writer. */
static void test_flag_activity_shared(void **state)
{
	struct fx *f = *state;
	struct json_object *b = J("{\"key\":\"shared-log\"}");
	struct sn_featureflag fl;
	struct sn_meta_verr ve;
	assert_int_equal(sn_meta_flag_create(f->m, f->team, f->user, b, &fl, &ve), 0);
	json_object_put(b);
	struct collect c = {0};
	struct sn_err err = {0};
	assert_int_equal(sn_meta_flag_activity(f->m, f->team, fl.id, 10, collect_act, &c, &err), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.ids[0], 1);
	sn_featureflag_release(&fl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_datetime),
	    cmocka_unit_test_setup_teardown(test_ann_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ann_crud, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ann_visibility, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ann_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_action_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_action_crud, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flag_activity_shared, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
