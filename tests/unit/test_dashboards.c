/*
 * test_dashboards.c — meta's saved insights, dashboards, sharing and result
 * cache against a real SQLite file in a fresh temporary directory per test
 * (validation naming the field, create / update / soft delete, dashboard
 * membership through tiles, text cards and tile edits, the secret link,
 * cache rows dropped when a query changes, isolation between projects), the
 * upgrade of a database made by the previous schema (migration 7), and the
 * API's pure pieces: PostHog's merge of dashboard filters into a query and
 * the refresh modes. The HTTP endpoints, results and caching semantics are
 * covered by tests/blackbox/dashboards.test.mjs.
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

#include "api/api.h"
#include "meta/meta.h"
#include "meta/meta_internal.h"

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32];
	struct sn_meta *m;
	int64_t team, team2; /* same organization */
	int64_t user;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f || sn_test_tmpdir(f->dir, sizeof(f->dir), "test_dashboards") != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/meta.sqlite3", f->dir);
	struct sn_err err = {0};
	struct sn_org o;
	struct sn_team t;
	struct sn_user u;
	if (sn_meta_open(&f->m, f->path, NULL, &err) || sn_meta_org_create(f->m, "org", &o, &err) ||
	    sn_meta_team_create(f->m, o.id, "one", NULL, NULL, &t, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	f->team = t.id;
	if (sn_meta_team_create(f->m, o.id, "two", NULL, NULL, &t, &err))
		return -1;
	f->team2 = t.id;
	if (sn_meta_user_create(f->m, "dee@example.com", "password123", "Dee", false, &u, &err))
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

#define TRENDS                                                                            \
	"{\"kind\":\"InsightVizNode\",\"source\":{\"kind\":\"TrendsQuery\",\"series\":[{" \
	"\"kind\":\"EventsNode\",\"event\":\"$pageview\"}]}}"

static struct sn_meta_insight make_insight(struct fx *f, int64_t team, const char *body)
{
	struct json_object *b = J(body);
	struct sn_meta_insight i;
	struct sn_meta_verr ve;
	int rc = sn_meta_insight_create(f->m, team, f->user, b, &i, &ve);
	if (rc)
		fail_msg("create %s: %s", body, ve.err.msg);
	json_object_put(b);
	return i;
}

static struct sn_meta_dashboard make_dashboard(struct fx *f, int64_t team, const char *body)
{
	struct json_object *b = J(body);
	struct sn_meta_dashboard d;
	struct sn_meta_verr ve;
	int rc = sn_meta_dashboard_create(f->m, team, f->user, b, &d, &ve);
	if (rc)
		fail_msg("create %s: %s", body, ve.err.msg);
	json_object_put(b);
	return d;
}

/* Applies a PATCH body; returns the code and (on success) the new row. */
static int patch_insight(struct fx *f, int64_t team, int64_t id, const char *body,
			 struct sn_meta_insight *out, struct sn_meta_verr *ve)
{
	struct json_object *b = J(body);
	int rc = sn_meta_insight_update(f->m, team, id, f->user, b, out, ve);
	json_object_put(b);
	return rc;
}

static int patch_dashboard(struct fx *f, int64_t team, int64_t id, const char *body,
			   struct sn_meta_dashboard *out, struct sn_meta_verr *ve)
{
	struct json_object *b = J(body);
	int rc = sn_meta_dashboard_update(f->m, team, id, f->user, b, out, ve);
	json_object_put(b);
	return rc;
}

static void test_validation(void **state)
{
	(void)state;
	static const struct {
		const char *body, *attr, *code;
	} bad[] = {
	    {"{\"query\":{\"kind\":\"Nope\"}}", "query.kind", "unsupported_kind"},
	    {"{\"query\":[]}", "query", "invalid_input"},
	    {"{\"query\":{\"kind\":\"InsightVizNode\"}}", "query.source", "required"},
	    {"{\"query\":{\"kind\":\"InsightVizNode\",\"source\":{\"kind\":\"HogQLQuery\","
	     "\"query\":\"select 1\"}}}",
	     "query.source.kind", "invalid_input"},
	    {"{\"query\":{\"kind\":\"DataTableNode\",\"source\":{\"kind\":\"WebOverviewQuery\"}}}",
	     "query.source.kind", "unsupported_kind"},
	    {"{\"query\":{\"kind\":\"FunnelsQuery\"}}", "query.series", "required"},
	    {"{\"query\":{\"kind\":\"TrendsQuery\",\"series\":[1]}}", "query.series",
	     "invalid_input"},
	    {"{\"query\":{\"kind\":\"TrendsQuery\",\"series\":[],\"dateRange\":\"-7d\"}}",
	     "query.dateRange", "invalid_input"},
	    {"{\"query\":{\"kind\":\"TrendsQuery\",\"series\":[],\"properties\":\"x\"}}",
	     "query.properties", "invalid_input"},
	    {"{\"query\":{\"kind\":\"HogQLQuery\",\"query\":7}}", "query.query", "required"},
	    {"{\"name\":true}", "name", "invalid"},
	    {"{\"description\":[]}", "description", "invalid"},
	    {"{\"saved\":1}", "saved", "invalid"},
	    {"{\"tags\":[1]}", "tags", "invalid"},
	    {"{\"filters\":\"x\"}", "filters", "invalid"},
	    {"{\"dashboards\":[0]}", "dashboards", "incorrect_type"},
	    {"{\"dashboards\":{}}", "dashboards", "not_a_list"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++) {
		struct json_object *b = J(bad[i].body);
		struct sn_meta_verr ve;
		assert_int_equal(sn_meta_insight_validate(b, false, &ve), SN_ERR_INVALID);
		if (strcmp(ve.attr, bad[i].attr) || strcmp(ve.code, bad[i].code))
			fail_msg("%s: got %s/%s (%s)", bad[i].body, ve.attr, ve.code, ve.err.msg);
		json_object_put(b);
	}
	char name[420];
	memset(name, 'n', 401);
	name[401] = 0;
	char body[512];
	snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
	struct json_object *b = J(body);
	struct sn_meta_verr ve;
	assert_int_equal(sn_meta_insight_validate(b, false, &ve), SN_ERR_INVALID);
	assert_string_equal(ve.code, "max_length");
	json_object_put(b);
	static const char *const good[] = {
	    "{}",
	    "{\"name\":null,\"query\":null,\"filters\":null}",
	    "{\"query\":" TRENDS "}",
	    "{\"query\":{\"kind\":\"HogQLQuery\",\"query\":\"select 1\"}}",
	    "{\"query\":{\"kind\":\"DataVisualizationNode\",\"source\":{\"kind\":\"HogQLQuery\","
	    "\"query\":\"select 1\"}}}",
	    "{\"query\":{\"kind\":\"RetentionQuery\",\"retentionFilter\":{}}}",
	    "{\"query\":{\"kind\":\"PathsQuery\",\"interval\":\"week\"}}",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(good); i++) {
		b = J(good[i]);
		if (sn_meta_insight_validate(b, false, &ve))
			fail_msg("%s: %s", good[i], ve.err.msg);
		json_object_put(b);
	}
	static const struct {
		const char *body, *attr;
	} dbad[] = {
	    {"{\"filters\":[]}", "filters"},
	    {"{\"filters\":{\"date_from\":1}}", "filters"},
	    {"{\"filters\":{\"properties\":{}}}", "filters"},
	    {"{\"filters\":{\"properties\":[1]}}", "filters"},
	    {"{\"pinned\":\"yes\"}", "pinned"},
	    {"{\"tiles\":{}}", "tiles"},
	    {"{\"tiles\":[{\"id\":-1}]}", "tiles"},
	    {"{\"tiles\":[{\"layouts\":[]}]}", "tiles"},
	    {"{\"tiles\":[{\"text\":\"hi\"}]}", "tiles"},
	    {"{\"tiles\":[{\"deleted\":1}]}", "tiles"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(dbad); i++) {
		b = J(dbad[i].body);
		assert_int_equal(sn_meta_dashboard_validate(b, false, &ve), SN_ERR_INVALID);
		if (strcmp(ve.attr, dbad[i].attr))
			fail_msg("%s: got %s (%s)", dbad[i].body, ve.attr, ve.err.msg);
		json_object_put(b);
	}
}

static int count_activity(void *arg, const struct sn_meta_activity *a)
{
	struct json_object *d = J(a->detail);
	const char *sid = sn_json_str(sn_json_get(d, "short_id"), NULL);
	if (!sid || strlen(sid) != SN_INSIGHT_SHORT_ID_LEN)
		fail_msg("activity %s without the short id: %s", a->activity, a->detail);
	json_object_put(d);
	(*(int *)arg)++;
	return 0;
}

static void test_insight_crud(void **state)
{
	struct fx *f = *state;
	struct sn_meta_insight a = make_insight(
	    f, f->team, "{\"name\":\"Views\",\"tags\":[\"web\"],\"query\":" TRENDS "}");
	assert_int_equal(strlen(a.short_id), SN_INSIGHT_SHORT_ID_LEN);
	assert_int_equal(strspn(a.short_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					    "0123456789"),
			 SN_INSIGHT_SHORT_ID_LEN);
	assert_string_equal(a.name, "Views");
	assert_null(a.derived_name);
	assert_string_equal(a.description, "");
	assert_int_equal(json_object_array_length(a.tags), 1);
	assert_non_null(a.query);
	assert_int_equal(a.created_by, f->user);
	struct sn_meta_insight b = make_insight(f, f->team, "{}");
	assert_string_not_equal(a.short_id, b.short_id);
	assert_null(b.name);
	assert_null(b.query);
	assert_true(json_object_is_type(b.filters, json_type_object));

	struct sn_meta_insight u;
	struct sn_meta_verr ve;
	assert_int_equal(patch_insight(f, f->team, a.id, "{\"name\":\"Page views\"}", &u, &ve), 0);
	assert_string_equal(u.name, "Page views");
	assert_true(u.last_modified_at_us >= a.last_modified_at_us);
	sn_meta_insight_release(&u);
	/* No change: no activity entry. */
	assert_int_equal(patch_insight(f, f->team, a.id, "{\"name\":\"Page views\"}", &u, &ve), 0);
	sn_meta_insight_release(&u);
	struct sn_err err = {0};
	assert_int_equal(sn_meta_insight_delete(f->m, f->team, a.id, f->user, &err), 0);
	assert_int_equal(sn_meta_insight_delete(f->m, f->team, a.id, f->user, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_insight_get(f->m, f->team, a.id, &u, &err), 0);
	assert_true(u.deleted);
	sn_meta_insight_release(&u);
	assert_int_equal(patch_insight(f, f->team, a.id, "{\"name\":\"x\"}", &u, &ve),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(patch_insight(f, f->team, a.id, "{\"deleted\":false}", &u, &ve), 0);
	assert_false(u.deleted);
	sn_meta_insight_release(&u);
	int n = 0;
	assert_int_equal(
	    sn_meta_activity_list(f->m, f->team, "Insight", a.id, 100, count_activity, &n, &err),
	    0);
	assert_int_equal(n, 4); /* created, updated, deleted, updated */
	/* Another project of the organization sees nothing. */
	assert_int_equal(sn_meta_insight_get(f->m, f->team2, a.id, &u, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(patch_insight(f, f->team2, a.id, "{\"name\":\"x\"}", &u, &ve),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_insight_delete(f->m, f->team2, a.id, f->user, &err),
			 SN_ERR_NOT_FOUND);
	sn_meta_insight_release(&a);
	sn_meta_insight_release(&b);
}

struct ids {
	int64_t v[64];
	size_t n;
};

static int collect_insight(void *arg, const struct sn_meta_insight *i)
{
	struct ids *ids = arg;
	ids->v[ids->n++] = i->id;
	return 0;
}

static void list_insights(struct fx *f, int64_t team, struct sn_meta_insight_list_opts o,
			  struct ids *out, int64_t *total)
{
	struct sn_err err = {0};
	out->n = 0;
	if (!o.limit)
		o.limit = 100;
	assert_int_equal(sn_meta_insight_list(f->m, team, &o, total, collect_insight, out, &err),
			 0);
}

static void test_insight_list(void **state)
{
	struct fx *f = *state;
	int64_t id[5];
	const char *bodies[] = {
	    "{\"name\":\"Alpha views\"}",
	    "{\"name\":\"beta\",\"description\":\"ALPHA in the text\"}",
	    "{\"derived_name\":\"gamma count\",\"saved\":true}",
	    "{\"name\":\"delta\",\"tags\":[\"alphabet\"],\"favorited\":true}",
	    "{\"name\":\"epsilon\"}",
	};
	for (int i = 0; i < 5; i++) {
		struct sn_meta_insight x = make_insight(f, f->team, bodies[i]);
		id[i] = x.id;
		sn_meta_insight_release(&x);
	}
	struct sn_meta_insight x = make_insight(f, f->team2, "{\"name\":\"alpha elsewhere\"}");
	sn_meta_insight_release(&x);
	struct ids got;
	int64_t total;
	list_insights(f, f->team, (struct sn_meta_insight_list_opts){.saved = -1, .favorited = -1},
		      &got, &total);
	assert_int_equal(total, 5);
	assert_int_equal(got.n, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(got.v[i], id[4 - i]); /* newest first */
	list_insights(
	    f, f->team,
	    (struct sn_meta_insight_list_opts){.search = "alpha", .saved = -1, .favorited = -1},
	    &got, &total);
	assert_int_equal(total, 3); /* name, description, tags */
	list_insights(
	    f, f->team,
	    (struct sn_meta_insight_list_opts){.search = "GAMMA", .saved = -1, .favorited = -1},
	    &got, &total);
	assert_int_equal(total, 1);
	assert_int_equal(got.v[0], id[2]);
	list_insights(f, f->team, (struct sn_meta_insight_list_opts){.saved = 1, .favorited = -1},
		      &got, &total);
	assert_int_equal(total, 1);
	list_insights(f, f->team, (struct sn_meta_insight_list_opts){.saved = 0, .favorited = -1},
		      &got, &total);
	assert_int_equal(total, 4);
	list_insights(f, f->team, (struct sn_meta_insight_list_opts){.saved = -1, .favorited = 1},
		      &got, &total);
	assert_int_equal(got.v[0], id[3]);
	list_insights(f, f->team,
		      (struct sn_meta_insight_list_opts){
			  .limit = 2, .offset = 3, .saved = -1, .favorited = -1},
		      &got, &total);
	assert_int_equal(total, 5);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.v[0], id[1]);
	assert_int_equal(got.v[1], id[0]);
	struct sn_meta_insight one;
	struct sn_err err = {0};
	assert_int_equal(sn_meta_insight_get(f->m, f->team, id[1], &one, &err), 0);
	list_insights(f, f->team,
		      (struct sn_meta_insight_list_opts){
			  .short_id = one.short_id, .saved = -1, .favorited = -1},
		      &got, &total);
	assert_int_equal(total, 1);
	assert_int_equal(got.v[0], id[1]);
	sn_meta_insight_release(&one);
	assert_int_equal(sn_meta_insight_delete(f->m, f->team, id[4], f->user, &err), 0);
	list_insights(f, f->team, (struct sn_meta_insight_list_opts){.saved = -1, .favorited = -1},
		      &got, &total);
	assert_int_equal(total, 4);
}

struct tiles_seen {
	int64_t insight[16], text[16], id[16];
	char body[16][64];
	size_t n;
};

static int collect_tile(void *arg, const struct sn_meta_tile *t)
{
	struct tiles_seen *s = arg;
	s->id[s->n] = t->id;
	s->insight[s->n] = t->insight_id;
	s->text[s->n] = t->text_id;
	snprintf(s->body[s->n], sizeof(s->body[0]), "%s", t->text_body ? t->text_body : "");
	s->n++;
	return 0;
}

static void tiles_of(struct fx *f, int64_t team, int64_t dashboard, struct tiles_seen *s)
{
	struct sn_err err = {0};
	memset(s, 0, sizeof(*s));
	assert_int_equal(sn_meta_dashboard_tiles(f->m, team, dashboard, collect_tile, s, &err), 0);
}

static void test_dashboards_and_tiles(void **state)
{
	struct fx *f = *state;
	struct sn_meta_dashboard d = make_dashboard(
	    f, f->team,
	    "{\"name\":\"Main\",\"filters\":{\"date_from\":\"-7d\",\"properties\":[{\"key\":"
	    "\"a\",\"value\":\"b\"}]},\"tiles\":[{\"text\":{\"body\":\"intro\"}}]}");
	assert_string_equal(d.name, "Main");
	assert_string_equal(sn_json_str(sn_json_get(d.filters, "date_from"), NULL), "-7d");
	struct sn_meta_dashboard other = make_dashboard(f, f->team2, "{\"name\":\"Theirs\"}");
	char body[256];
	snprintf(body, sizeof(body), "{\"name\":\"on it\",\"dashboards\":[%lld,%lld]}",
		 (long long)d.id, (long long)d.id);
	struct sn_meta_insight a = make_insight(f, f->team, body);
	assert_int_equal(json_object_array_length(a.dashboard_tiles), 1);
	struct tiles_seen s;
	tiles_of(f, f->team, d.id, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.body[0], "intro");
	assert_int_equal(s.insight[1], a.id);
	int64_t insight_tile = s.id[1], text_tile = s.id[0], text_id = s.text[0];
	/* Another project's dashboard cannot take it; nor can it read these tiles. */
	struct sn_meta_insight u;
	struct sn_meta_verr ve;
	snprintf(body, sizeof(body), "{\"dashboards\":[%lld]}", (long long)other.id);
	assert_int_equal(patch_insight(f, f->team, a.id, body, &u, &ve), SN_ERR_INVALID);
	assert_string_equal(ve.attr, "dashboards");
	tiles_of(f, f->team2, d.id, &s);
	assert_int_equal(s.n, 0);
	/* Removed and added back: the same tile. */
	assert_int_equal(patch_insight(f, f->team, a.id, "{\"dashboards\":[]}", &u, &ve), 0);
	assert_int_equal(json_object_array_length(u.dashboard_tiles), 0);
	sn_meta_insight_release(&u);
	snprintf(body, sizeof(body), "{\"dashboards\":[%lld]}", (long long)d.id);
	assert_int_equal(patch_insight(f, f->team, a.id, body, &u, &ve), 0);
	sn_meta_insight_release(&u);
	tiles_of(f, f->team, d.id, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.id[1], insight_tile);
	/* Tile edits: layouts and color, a text change, a new card, a deleted tile. */
	struct sn_meta_dashboard du;
	snprintf(body, sizeof(body),
		 "{\"tiles\":[{\"id\":%lld,\"layouts\":{\"sm\":{\"x\":1}},\"color\":\"red\"},"
		 "{\"id\":%lld,\"text\":{\"id\":%lld,\"body\":\"intro v2\"}},{\"text\":{\"body\":"
		 "\"second\"}}]}",
		 (long long)insight_tile, (long long)text_tile, (long long)text_id);
	assert_int_equal(patch_dashboard(f, f->team, d.id, body, &du, &ve), 0);
	sn_meta_dashboard_release(&du);
	tiles_of(f, f->team, d.id, &s);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.body[0], "intro v2");
	assert_string_equal(s.body[2], "second");
	snprintf(body, sizeof(body), "{\"tiles\":[{\"id\":%lld,\"deleted\":true}]}",
		 (long long)text_tile);
	assert_int_equal(patch_dashboard(f, f->team, d.id, body, &du, &ve), 0);
	sn_meta_dashboard_release(&du);
	tiles_of(f, f->team, d.id, &s);
	assert_int_equal(s.n, 2);
	/* Errors roll the whole PATCH back. */
	assert_int_equal(patch_dashboard(f, f->team, d.id,
					 "{\"name\":\"renamed\",\"tiles\":[{\"id\":999}]}", &du,
					 &ve),
			 SN_ERR_INVALID);
	assert_string_equal(ve.attr, "tiles");
	assert_int_equal(
	    patch_dashboard(f, f->team, d.id, "{\"tiles\":[{\"color\":\"x\"}]}", &du, &ve),
	    SN_ERR_INVALID);
	struct sn_err err = {0};
	assert_int_equal(sn_meta_dashboard_get(f->m, f->team, d.id, &du, &err), 0);
	assert_string_equal(du.name, "Main");
	sn_meta_dashboard_release(&du);
	/* Another project's text card cannot be edited through this dashboard. */
	assert_int_equal(patch_dashboard(f, f->team2, d.id, "{\"name\":\"x\"}", &du, &ve),
			 SN_ERR_NOT_FOUND);
	/* A deleted insight leaves the tiles; a deleted dashboard leaves the insight. */
	assert_int_equal(sn_meta_dashboard_delete(f->m, f->team, d.id, f->user, &err), 0);
	assert_int_equal(sn_meta_insight_get(f->m, f->team, a.id, &u, &err), 0);
	assert_int_equal(json_object_array_length(u.dashboard_tiles), 0);
	sn_meta_insight_release(&u);
	assert_int_equal(patch_dashboard(f, f->team, d.id, "{\"name\":\"x\"}", &du, &ve),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(patch_dashboard(f, f->team, d.id, "{\"deleted\":false}", &du, &ve), 0);
	sn_meta_dashboard_release(&du);
	tiles_of(f, f->team, d.id, &s);
	assert_int_equal(s.n, 2); /* what it had: the deleted card stays deleted */
	assert_int_equal(sn_meta_insight_delete(f->m, f->team, a.id, f->user, &err), 0);
	tiles_of(f, f->team, d.id, &s);
	assert_int_equal(s.n, 1);
	assert_string_equal(s.body[0], "second");
	sn_meta_insight_release(&a);
	sn_meta_dashboard_release(&d);
	sn_meta_dashboard_release(&other);
}

static int collect_dashboard(void *arg, const struct sn_meta_dashboard *d)
{
	struct ids *ids = arg;
	ids->v[ids->n++] = d->id;
	return 0;
}

static void test_dashboard_list(void **state)
{
	struct fx *f = *state;
	struct sn_meta_dashboard a = make_dashboard(f, f->team, "{\"name\":\"b\"}");
	struct sn_meta_dashboard b = make_dashboard(f, f->team, "{\"name\":\"A\"}");
	struct sn_meta_dashboard c = make_dashboard(f, f->team, "{\"name\":\"z\",\"pinned\":true}");
	struct sn_meta_dashboard x = make_dashboard(f, f->team2, "{\"name\":\"a\"}");
	struct sn_meta_list_opts o = {.limit = 10};
	struct ids got = {0};
	int64_t total = 0;
	struct sn_err err = {0};
	assert_int_equal(
	    sn_meta_dashboard_list(f->m, f->team, &o, &total, collect_dashboard, &got, &err), 0);
	assert_int_equal(total, 3);
	assert_int_equal(got.v[0], c.id);
	assert_int_equal(got.v[1], b.id);
	assert_int_equal(got.v[2], a.id);
	o.search = "Z";
	got.n = 0;
	assert_int_equal(
	    sn_meta_dashboard_list(f->m, f->team, &o, &total, collect_dashboard, &got, &err), 0);
	assert_int_equal(total, 1);
	assert_int_equal(got.v[0], c.id);
	sn_meta_dashboard_release(&a);
	sn_meta_dashboard_release(&b);
	sn_meta_dashboard_release(&c);
	sn_meta_dashboard_release(&x);
}

static void test_sharing(void **state)
{
	struct fx *f = *state;
	struct sn_meta_dashboard d = make_dashboard(f, f->team, "{\"name\":\"Shared\"}");
	struct sn_meta_sharing s, s2, found;
	struct sn_err err = {0};
	assert_int_equal(sn_meta_sharing_get(f->m, f->team, d.id, &s, &err), 0);
	assert_false(s.enabled);
	assert_int_equal(strlen(s.access_token), 32);
	assert_int_equal(sn_meta_sharing_get(f->m, f->team, d.id, &s2, &err), 0);
	assert_string_equal(s.access_token, s2.access_token); /* created once */
	assert_int_equal(sn_meta_sharing_by_token(f->m, s.access_token, &found, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_sharing_update(f->m, f->team, d.id, f->user, 1, false, &s2, &err),
			 0);
	assert_true(s2.enabled);
	assert_int_equal(sn_meta_sharing_by_token(f->m, s.access_token, &found, &err), 0);
	assert_int_equal(found.team_id, f->team);
	assert_int_equal(found.dashboard_id, d.id);
	assert_int_equal(sn_meta_sharing_by_token(f->m, "", &found, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_sharing_by_token(f->m, "nope", &found, &err), SN_ERR_NOT_FOUND);
	/* A new token: the old one is dead. */
	assert_int_equal(sn_meta_sharing_update(f->m, f->team, d.id, f->user, -1, true, &s2, &err),
			 0);
	assert_string_not_equal(s2.access_token, s.access_token);
	assert_true(s2.enabled);
	assert_int_equal(sn_meta_sharing_by_token(f->m, s.access_token, &found, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_sharing_by_token(f->m, s2.access_token, &found, &err), 0);
	/* Other project: not found; deleted dashboard: link dead. */
	assert_int_equal(sn_meta_sharing_get(f->m, f->team2, d.id, &s, &err), SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_sharing_update(f->m, f->team2, d.id, f->user, 0, false, &s, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_dashboard_delete(f->m, f->team, d.id, f->user, &err), 0);
	assert_int_equal(sn_meta_sharing_by_token(f->m, s2.access_token, &found, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_sharing_get(f->m, f->team, d.id, &s, &err), SN_ERR_NOT_FOUND);
	sn_meta_dashboard_release(&d);
}

static void put(struct fx *f, int64_t team, const char *key, int64_t insight, const char *resp)
{
	struct sn_meta_cached_result c = {.response = (char *)resp,
					  .len = strlen(resp),
					  .last_refresh_us = sn_now_us(),
					  .target_age_us = sn_now_us() + 1000};
	struct sn_err err = {0};
	assert_int_equal(sn_meta_result_cache_put(f->m, team, key, insight, 0, &c, &err), 0);
}

static void test_result_cache(void **state)
{
	struct fx *f = *state;
	struct sn_meta_insight a = make_insight(f, f->team, "{\"query\":" TRENDS "}");
	struct sn_meta_cached_result c;
	struct sn_err err = {0};
	assert_int_equal(sn_meta_result_cache_get(f->m, f->team, "cache_k1", &c, &err),
			 SN_ERR_NOT_FOUND);
	put(f, f->team, "cache_k1", a.id, "{\"results\":[1]}");
	put(f, f->team, "cache_k1", a.id, "{\"results\":[2]}"); /* replaces */
	put(f, f->team, "cache_k2", 0, "{\"results\":[3]}");
	assert_int_equal(sn_meta_result_cache_get(f->m, f->team, "cache_k1", &c, &err), 0);
	assert_string_equal(c.response, "{\"results\":[2]}");
	assert_true(c.target_age_us > c.last_refresh_us);
	sn_meta_cached_result_release(&c);
	/* Keys belong to a team. */
	assert_int_equal(sn_meta_result_cache_get(f->m, f->team2, "cache_k1", &c, &err),
			 SN_ERR_NOT_FOUND);
	/* A change of name keeps the insight's results; a change of query drops them. */
	struct sn_meta_insight u;
	struct sn_meta_verr ve;
	assert_int_equal(patch_insight(f, f->team, a.id, "{\"name\":\"n\"}", &u, &ve), 0);
	sn_meta_insight_release(&u);
	assert_int_equal(sn_meta_result_cache_get(f->m, f->team, "cache_k1", &c, &err), 0);
	sn_meta_cached_result_release(&c);
	assert_int_equal(
	    patch_insight(f, f->team, a.id,
			  "{\"query\":{\"kind\":\"HogQLQuery\",\"query\":\"select 2\"}}", &u, &ve),
	    0);
	sn_meta_insight_release(&u);
	assert_int_equal(sn_meta_result_cache_get(f->m, f->team, "cache_k1", &c, &err),
			 SN_ERR_NOT_FOUND);
	assert_int_equal(sn_meta_result_cache_get(f->m, f->team, "cache_k2", &c, &err), 0);
	sn_meta_cached_result_release(&c);
	/* Rows older than a week go when others are written. */
	struct sn_meta_cached_result old = {.response = "{}",
					    .len = 2,
					    .last_refresh_us =
						sn_now_us() - (int64_t)8 * 24 * 3600 * 1000000};
	assert_int_equal(sn_meta_result_cache_put(f->m, f->team, "cache_old", 0, 0, &old, &err), 0);
	put(f, f->team, "cache_k3", 0, "{}");
	assert_int_equal(sn_meta_result_cache_get(f->m, f->team, "cache_old", &c, &err),
			 SN_ERR_NOT_FOUND);
	sn_meta_insight_release(&a);
}

/* A database made by the schema before this one (migrations 1..6) upgrades
 * with its data intact. */
static void test_upgrade(void **state)
{
	struct fx *f = *state;
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/old.sqlite3", f->dir);
	struct sn_meta *m = NULL;
	struct sn_err err = {0};
	int applied = 0;
	assert_true(sn_meta_sqlite_nmigrations >= 7);
	assert_int_equal(
	    sn_meta_sqlite_open_with(&m, path, sn_meta_sqlite_migrations, 6, &applied, &err), 0);
	assert_int_equal(applied, 6);
	struct sn_org o;
	struct sn_team t;
	assert_int_equal(sn_meta_org_create(m, "old org", &o, &err), 0);
	assert_int_equal(sn_meta_team_create(m, o.id, "old team", NULL, NULL, &t, &err), 0);
	sn_meta_close(m);
	assert_int_equal(sn_meta_open(&m, path, &applied, &err), 0);
	assert_int_equal(applied, (int)sn_meta_sqlite_nmigrations - 6);
	struct sn_team t2;
	assert_int_equal(sn_meta_team_get(m, t.id, &t2, &err), 0);
	assert_string_equal(t2.name, "old team");
	struct json_object *b = J("{\"name\":\"after upgrade\",\"query\":" TRENDS "}");
	struct sn_meta_insight i;
	struct sn_meta_verr ve;
	assert_int_equal(sn_meta_insight_create(m, t.id, 0, b, &i, &ve), 0);
	json_object_put(b);
	sn_meta_insight_release(&i);
	b = J("{\"name\":\"d\"}");
	struct sn_meta_dashboard d;
	assert_int_equal(sn_meta_dashboard_create(m, t.id, 0, b, &d, &ve), 0);
	json_object_put(b);
	sn_meta_dashboard_release(&d);
	sn_meta_close(m);
}

/* ---- the API's pure pieces ---------------------------------------------------------- */

static void expect_json(struct json_object *got, const char *want)
{
	struct json_object *w = J(want);
	if (!json_object_equal(got, w))
		fail_msg("got %s\nwant %s", json_object_to_json_string(got),
			 json_object_to_json_string(w));
	json_object_put(w);
}

static void merged(const char *query, const char *filters, const char *want)
{
	struct json_object *q = query ? J(query) : NULL, *fl = filters ? J(filters) : NULL;
	struct json_object *got = sn_saved_query_with_filters(q, fl);
	if (!want)
		assert_null(got);
	else
		expect_json(got, want);
	json_object_put(got);
	json_object_put(q);
	json_object_put(fl);
}

static void test_dashboard_filters(void **state)
{
	(void)state;
	const char *p1 = "{\"key\":\"a\",\"value\":\"1\"}", *p2 = "{\"key\":\"b\",\"value\":\"2\"}";
	char q[512], fl[512], want[1024];
	/* No filters: the query as it is (a copy). */
	merged(TRENDS, NULL, TRENDS);
	merged(TRENDS, "{}", TRENDS);
	merged(NULL, "{\"date_from\":\"-7d\"}", NULL);
	/* Properties: set when the insight has none, ANDed with a list... */
	snprintf(fl, sizeof(fl), "{\"properties\":[%s]}", p2);
	snprintf(want, sizeof(want), "{\"kind\":\"TrendsQuery\",\"series\":[],\"properties\":[%s]}",
		 p2);
	merged("{\"kind\":\"TrendsQuery\",\"series\":[]}", fl, want);
	merged("{\"kind\":\"TrendsQuery\",\"series\":[],\"properties\":[]}", fl, want);
	snprintf(q, sizeof(q), "{\"kind\":\"TrendsQuery\",\"series\":[],\"properties\":[%s]}", p1);
	snprintf(want, sizeof(want),
		 "{\"kind\":\"TrendsQuery\",\"series\":[],\"properties\":{\"type\":\"AND\","
		 "\"values\":[{\"type\":\"AND\",\"values\":[%s]},{\"type\":\"AND\",\"values\":[%s]}"
		 "]}}",
		 p1, p2);
	merged(q, fl, want);
	/* ...and with a group, kept as it is, inside a wrapper. */
	snprintf(q, sizeof(q),
		 "{\"kind\":\"InsightVizNode\",\"source\":{\"kind\":\"FunnelsQuery\",\"series\":[],"
		 "\"properties\":{\"type\":\"OR\",\"values\":[%s]}}}",
		 p1);
	snprintf(want, sizeof(want),
		 "{\"kind\":\"InsightVizNode\",\"source\":{\"kind\":\"FunnelsQuery\",\"series\":[],"
		 "\"properties\":{\"type\":\"AND\",\"values\":[{\"type\":\"OR\",\"values\":[%s]},"
		 "{\"type\":\"AND\",\"values\":[%s]}]}}}",
		 p1, p2);
	merged(q, fl, want);
	/* Dates: both ends replaced, even when the dashboard gives one. */
	merged("{\"kind\":\"TrendsQuery\",\"series\":[],\"dateRange\":{\"date_from\":\"-30d\","
	       "\"date_to\":\"-1d\",\"explicitDate\":true}}",
	       "{\"date_from\":\"-7d\"}",
	       "{\"kind\":\"TrendsQuery\",\"series\":[],\"dateRange\":{\"date_from\":\"-7d\","
	       "\"date_to\":null,\"explicitDate\":true}}");
	merged("{\"kind\":\"RetentionQuery\"}", "{\"date_to\":\"2024-01-01\"}",
	       "{\"kind\":\"RetentionQuery\",\"dateRange\":{\"date_from\":null,\"date_to\":"
	       "\"2024-01-01\"}}");
	/* HogQL keeps them in "filters"; properties concatenate. */
	snprintf(
	    q, sizeof(q),
	    "{\"kind\":\"DataTableNode\",\"source\":{\"kind\":\"HogQLQuery\",\"query\":\"select "
	    "1\",\"filters\":{\"properties\":[%s]}}}",
	    p1);
	snprintf(fl, sizeof(fl), "{\"date_from\":\"-1d\",\"properties\":[%s]}", p2);
	snprintf(
	    want, sizeof(want),
	    "{\"kind\":\"DataTableNode\",\"source\":{\"kind\":\"HogQLQuery\",\"query\":\"select "
	    "1\",\"filters\":{\"properties\":[%s,%s],\"dateRange\":{\"date_from\":\"-1d\","
	    "\"date_to\":null}}}}",
	    p1, p2);
	merged(q, fl, want);
	/* Kinds without dashboard filters are left alone. */
	merged("{\"kind\":\"ActorsQuery\"}", fl, "{\"kind\":\"ActorsQuery\"}");
}

static void test_refresh_parse(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		enum sn_refresh mode;
	} ok[] = {
	    {NULL, SN_REFRESH_FORCE_CACHE},
	    {"", SN_REFRESH_FORCE_CACHE},
	    {"false", SN_REFRESH_FORCE_CACHE},
	    {"force_cache", SN_REFRESH_FORCE_CACHE},
	    {"true", SN_REFRESH_FORCE_BLOCKING},
	    {"force_blocking", SN_REFRESH_FORCE_BLOCKING},
	    {"blocking", SN_REFRESH_BLOCKING},
	    {"async", SN_REFRESH_ASYNC},
	    {"lazy_async", SN_REFRESH_LAZY_ASYNC},
	    {"force_async", SN_REFRESH_FORCE_ASYNC},
	    {"async_except_on_cache_miss", SN_REFRESH_ASYNC_EXCEPT_ON_MISS},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(ok); i++) {
		enum sn_refresh m;
		assert_int_equal(sn_refresh_parse(ok[i].s, &m), 0);
		assert_int_equal(m, ok[i].mode);
	}
	enum sn_refresh m;
	assert_int_equal(sn_refresh_parse("Blocking", &m), SN_ERR_INVALID);
	assert_int_equal(sn_refresh_parse("sometimes", &m), SN_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validation),
	    cmocka_unit_test_setup_teardown(test_insight_crud, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_insight_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dashboards_and_tiles, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dashboard_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sharing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_result_cache, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
	    cmocka_unit_test(test_dashboard_filters),
	    cmocka_unit_test(test_refresh_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
