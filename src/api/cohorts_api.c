/*
 * cohorts_api.c — PostHog's cohorts REST API and the calculator that keeps
 * dynamic cohorts' members current.
 *
 *   GET, POST          /api/projects/:id/cohorts/
 *   GET, PATCH, DELETE /api/projects/:id/cohorts/:cohort_id/
 *   GET                /api/projects/:id/cohorts/:cohort_id/persons/
 *   PATCH              /api/projects/:id/cohorts/:cohort_id/add_persons_to_static_cohort/
 *   PATCH              /api/projects/:id/cohorts/:cohort_id/remove_person_from_static_cohort/
 *   GET                /api/projects/:id/cohorts/:cohort_id/activity/
 *
 * (and the same under /api/environments/:id/). Answers have
 * CohortSerializer's fields. A body is JSON, or multipart/form-data as
 * PostHog's UI sends a static cohort's CSV upload (fields name,
 * description, is_static, and the file "csv"); the CSV's members are
 * added by the column headed distinct_id, person_id or email, else by the
 * first column read as distinct ids (a first row that is such a header is
 * not a member).
 *
 * Dynamic cohorts: a definition is compiled (insights/cohort.c) before it
 * is stored, so one that cannot be calculated is a 400 naming the
 * criterion, and cohorts it references must exist and must not lead back
 * to it. The calculator thread runs the compiled HogQL on the embedded
 * executor and replaces the members in the person store in one
 * transaction:
 *
 *   create / PATCH filters ─kick─▶ calculator ─due─▶ compile ─▶ sn_exec_query
 *   every interval (default 15 min) ──┘                          │ person ids
 *                                   meta calc_end ◀── sn_persons_cohort_replace
 *
 * A cohort that references cohorts never calculated calculates those
 * first (depth-limited; cycles are refused at write time). A failed
 * calculation is recorded (errors_calculating, last_error_message) and
 * retried after the interval. The state is visible in the API
 * (is_calculating, last_calculation, count, errors_calculating).
 *
 * A static cohort can also be made from a query (PostHog's "save as
 * cohort" of an insight's actors): {"is_static": true, "query": {...}} —
 * the person ids of its rows become the members.
 *
 * Differences from PostHog, on purpose: DELETE soft-deletes (PostHog wants
 * PATCH {"deleted": true}, which works too) and drops the members; the
 * persons list with ?format=csv holds every member (up to CSV_MEMBERS_MAX,
 * or limit/offset) where PostHog's CSV renderer writes one page.
 */
#include "api.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/auth.h"
#include "api/rest.h"
#include "exec/exec.h"
#include "hogql/hogql.h"
#include "insights/insights.h"
#include "persons/persons.h"

#define DEFAULT_INTERVAL_US (15LL * 60 * 1000000)
#define MAX_MEMBERS	    50000000LL /* rows a calculation may return */
#define CSV_MEMBERS_MAX	    100000     /* members one CSV answer holds */
#define DEP_DEPTH	    8	       /* cohort-in-cohort nesting calculated on demand */
#define DUE_BATCH	    64
#define CSV_KEYS_MAX	    1000000

struct sn_cohorts_api {
	struct sn_meta *meta;
	struct sn_query_api *query; /* runs a static cohort's query; may be NULL */
	struct sn_persons *persons;
	char store_dir[1200];
	unsigned threads;
	int64_t interval_us;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_mutex_t calc_mu; /* one calculation at a time */
	pthread_t thread;
	bool started, stop, kick;
};

/* ---- definitions ------------------------------------------------------------------ */

struct refcheck {
	struct sn_meta *meta;
	int64_t team_id, self;
	int depth;
	char msg[256];
};

static int check_ref(void *arg, int64_t id)
{
	struct refcheck *rc = arg;
	if (rc->self > 0 && id == rc->self) {
		snprintf(rc->msg, sizeof(rc->msg),
			 "A cohort cannot contain itself (cohort %lld is reached again through "
			 "its own criteria)",
			 (long long)id);
		return SN_ERR_INVALID;
	}
	if (rc->depth >= 32) {
		snprintf(rc->msg, sizeof(rc->msg), "cohorts are nested more than 32 deep");
		return SN_ERR_INVALID;
	}
	struct sn_cohort c;
	struct sn_err err = {0};
	if (sn_meta_cohort_get(rc->meta, rc->team_id, id, &c, &err) || c.deleted) {
		sn_cohort_release(&c);
		snprintf(rc->msg, sizeof(rc->msg), "Cohort with ID %lld does not exist",
			 (long long)id);
		return SN_ERR_INVALID;
	}
	rc->depth++;
	int ret = sn_meta_cohort_refs(c.filters, check_ref, rc);
	if (!ret)
		ret = sn_meta_cohort_refs(c.groups, check_ref, rc);
	rc->depth--;
	sn_cohort_release(&c);
	return ret;
}

/* Compile options for the team; *taf (release it) holds the project's
 * test-account filters, which a criterion's filterTestAccounts applies. */
static void team_opts(const struct sn_team *team, struct sn_api_action_ctx *actx,
		      struct sn_cohort_compile_opts *o, struct json_object **taf)
{
	memset(o, 0, sizeof(*o));
	*taf = NULL;
	if (team->test_account_filters[0])
		sn_json_parse(team->test_account_filters, strlen(team->test_account_filters), taf,
			      NULL);
	o->team.test_account_filters = *taf;
	o->team.id = team->id;
	o->team.timezone = team->timezone;
	o->team.week_start_day = team->week_start_day;
	o->action = sn_api_action_lookup;
	o->action_ctx = actx;
}

/* A dynamic definition must compile and reference only live cohorts, none
 * leading back to self (0 on create). 0, or SN_ERR_INVALID with ve. */
static int check_definition(struct sn_cohorts_api *api, const struct sn_team *team, int64_t self,
			    struct json_object *filters, struct json_object *groups,
			    struct sn_meta_verr *ve)
{
	bool has_groups =
	    json_object_is_type(groups, json_type_array) && json_object_array_length(groups);
	if (!json_object_is_type(filters, json_type_object) && !has_groups)
		return sn_meta_verr_set(ve, "required", "filters",
					"A dynamic cohort needs filters (or groups)");
	struct sn_api_action_ctx actx = {.meta = api->meta, .team_id = team->id};
	struct sn_cohort_compile_opts o;
	struct json_object *taf;
	team_opts(team, &actx, &o, &taf);
	struct sn_arena a;
	sn_arena_init(&a, (size_t)64 << 20);
	struct sn_buf b;
	sn_buf_init(&b, SN_HOGQL_MAX_QUERY_LEN);
	struct sn_insight_error ierr;
	memset(&ierr, 0, sizeof(ierr));
	int rc = sn_cohort_compile(&o, filters, has_groups ? groups : NULL, &a, &b, &ierr);
	sn_buf_release(&b);
	sn_arena_release(&a);
	json_object_put(taf);
	if (rc)
		return sn_meta_verr_set(ve, ierr.type[0] ? ierr.type : "invalid_input", "filters",
					"%s", ierr.msg[0] ? ierr.msg : "invalid cohort definition");
	struct refcheck refs = {.meta = api->meta, .team_id = team->id, .self = self};
	if (sn_meta_cohort_refs(filters, check_ref, &refs) ||
	    sn_meta_cohort_refs(groups, check_ref, &refs))
		return sn_meta_verr_set(ve, "invalid_input", "filters", "%s", refs.msg);
	return 0;
}

/* ---- calculation -------------------------------------------------------------------- */

static int64_t now_us(void)
{
	return sn_now_us();
}

struct uuids {
	const char **v;
	size_t n;
};

static int calculate(struct sn_cohorts_api *api, int64_t team_id, int64_t id, int depth,
		     int64_t *count, struct sn_err *err);

struct depctx {
	struct sn_cohorts_api *api;
	int64_t team_id;
	int depth;
};

/* Calculates a referenced dynamic cohort that has never been calculated. */
static int calc_dep(void *arg, int64_t id)
{
	struct depctx *d = arg;
	struct sn_cohort c;
	struct sn_err err = {0};
	if (sn_meta_cohort_get(d->api->meta, d->team_id, id, &c, &err))
		return 0; /* the query's IN COHORT names the problem */
	bool need = !c.is_static && !c.deleted && c.last_calculation_us < 0;
	sn_cohort_release(&c);
	int64_t n;
	if (need && d->depth < DEP_DEPTH)
		calculate(d->api, d->team_id, id, d->depth + 1, &n, &err);
	return 0;
}

static int run_members(struct sn_cohorts_api *api, const struct sn_team *team,
		       const struct sn_cohort *c, int depth, struct sn_exec_result *res,
		       struct sn_err *err)
{
	struct depctx d = {.api = api, .team_id = team->id, .depth = depth};
	sn_meta_cohort_refs(c->filters, calc_dep, &d);
	sn_meta_cohort_refs(c->groups, calc_dep, &d);

	struct sn_api_action_ctx actx = {.meta = api->meta, .team_id = team->id};
	struct sn_cohort_compile_opts o;
	struct json_object *taf;
	team_opts(team, &actx, &o, &taf);
	struct sn_arena a;
	sn_arena_init(&a, (size_t)64 << 20);
	struct sn_buf b;
	sn_buf_init(&b, SN_HOGQL_MAX_QUERY_LEN);
	struct sn_insight_error ierr;
	memset(&ierr, 0, sizeof(ierr));
	bool has_groups = json_object_array_length(c->groups) > 0;
	int rc = sn_cohort_compile(&o, c->filters, has_groups ? c->groups : NULL, &a, &b, &ierr);
	if (rc) {
		sn_err_set(err, rc, "%s", ierr.msg[0] ? ierr.msg : "invalid cohort definition");
		goto out;
	}
	if ((rc = sn_buf_appendf(&b, " LIMIT %lld", (long long)MAX_MEMBERS))) {
		sn_err_set(err, rc, "the cohort's query is too long");
		goto out;
	}
	struct sn_exec_opts xo = {.store_dir = api->store_dir,
				  .team_id = team->id,
				  .persons = api->persons,
				  .timezone = team->timezone,
				  .threads = api->threads,
				  .max_limit = MAX_MEMBERS};
	struct sn_api_prop_types ptypes;
	xo.prop_types = sn_api_prop_types(&ptypes, api->meta, team->id);
	if ((rc = sn_api_team_cohorts(api->meta, team->id, &a, &xo.cohorts, &xo.ncohorts, err)))
		goto out;
	struct sn_hogql_error herr;
	memset(&herr, 0, sizeof(herr));
	if ((rc = sn_exec_query(&xo, b.data, b.len, res, &herr)))
		sn_err_set(err, rc, "%s", herr.msg);
	else if (res->ncols < 1)
		rc = sn_err_set(err, SN_ERR_INTERNAL, "the cohort's query returned no column");
out:
	sn_buf_release(&b);
	sn_arena_release(&a);
	json_object_put(taf);
	return rc;
}

static int calculate(struct sn_cohorts_api *api, int64_t team_id, int64_t id, int depth,
		     int64_t *count, struct sn_err *err)
{
	struct sn_cohort c;
	struct sn_team team;
	int64_t version = 0;
	*count = 0;
	int rc = sn_meta_cohort_get(api->meta, team_id, id, &c, err);
	if (rc)
		return rc;
	if (c.deleted) {
		sn_cohort_release(&c);
		return sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	}
	if ((rc = sn_meta_team_get(api->meta, team_id, &team, err)) ||
	    (rc = sn_meta_cohort_calc_begin(api->meta, team_id, id, &version, err))) {
		sn_cohort_release(&c);
		return rc;
	}
	if (c.is_static) {
		rc = sn_persons_cohort_count(api->persons, team_id, id, count, err);
	} else {
		struct sn_exec_result res;
		memset(&res, 0, sizeof(res));
		rc = run_members(api, &team, &c, depth, &res, err);
		struct uuids u = {0};
		if (rc == 0 && res.nrows) {
			u.v = malloc(res.nrows * sizeof(*u.v));
			if (!u.v)
				rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		}
		for (size_t r = 0; rc == 0 && r < res.nrows; r++) {
			const struct sn_exec_value *v = &res.cells[r * res.ncols];
			if (!v->null && v->s.p && v->s.len == 36)
				u.v[u.n++] = v->s.p;
		}
		/* The executor's strings are not NUL-terminated: copy. */
		char *flat = rc == 0 && u.n ? malloc(u.n * 37) : NULL;
		if (rc == 0 && u.n && !flat)
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		for (size_t i = 0; rc == 0 && i < u.n; i++) {
			memcpy(flat + i * 37, u.v[i], 36);
			flat[i * 37 + 36] = 0;
			u.v[i] = flat + i * 37;
		}
		size_t written = 0;
		if (rc == 0)
			rc = sn_persons_cohort_replace(api->persons, team_id, id, u.v, u.n,
						       &written, err);
		*count = (int64_t)written;
		free(flat);
		free(u.v);
		if (res.cells || res.names)
			sn_exec_result_release(&res);
	}
	struct sn_err e2 = {0};
	sn_meta_cohort_calc_end(api->meta, team_id, id, version, *count, rc ? err->msg : NULL, &e2);
	if (rc)
		sn_log_warn("cohort %lld of team %lld: calculation failed: %s", (long long)id,
			    (long long)team_id, err->msg);
	sn_cohort_release(&c);
	return rc;
}

int sn_cohorts_api_calculate(struct sn_cohorts_api *api, int64_t team_id, int64_t id,
			     int64_t *count, struct sn_err *err)
{
	pthread_mutex_lock(&api->calc_mu);
	int rc = calculate(api, team_id, id, 0, count, err);
	pthread_mutex_unlock(&api->calc_mu);
	return rc;
}

static void *calculator(void *arg)
{
	struct sn_cohorts_api *api = arg;
	for (;;) {
		pthread_mutex_lock(&api->mu);
		if (!api->kick && !api->stop) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 30;
			pthread_cond_timedwait(&api->cv, &api->mu, &ts);
		}
		bool stop = api->stop;
		api->kick = false;
		pthread_mutex_unlock(&api->mu);
		if (stop)
			break;
		struct sn_meta_cohort_ref due[DUE_BATCH];
		size_t n = 0;
		struct sn_err err = {0};
		if (sn_meta_cohort_due(api->meta, now_us() - api->interval_us, DUE_BATCH, due, &n,
				       &err))
			sn_log_warn("cohorts: listing cohorts to calculate: %s", err.msg);
		for (size_t i = 0; i < n; i++) {
			pthread_mutex_lock(&api->mu);
			stop = api->stop;
			pthread_mutex_unlock(&api->mu);
			if (stop)
				break;
			int64_t count;
			struct sn_err e = {0};
			sn_cohorts_api_calculate(api, due[i].team_id, due[i].id, &count, &e);
		}
		if (n == DUE_BATCH) { /* more may be due: go again without waiting */
			pthread_mutex_lock(&api->mu);
			api->kick = true;
			pthread_mutex_unlock(&api->mu);
		}
	}
	return NULL;
}

static void kick(struct sn_cohorts_api *api)
{
	pthread_mutex_lock(&api->mu);
	api->kick = true;
	pthread_cond_signal(&api->cv);
	pthread_mutex_unlock(&api->mu);
}

/* ---- answers ------------------------------------------------------------------------- */

static void append_time_or_null(struct sn_buf *b, int64_t us)
{
	if (us < 0)
		sn_buf_appends(b, "null");
	else
		sn_rest_append_time(b, us);
}

static void append_int_or_null(struct sn_buf *b, int64_t v)
{
	if (v < 0)
		sn_buf_appends(b, "null");
	else
		sn_buf_appendf(b, "%lld", (long long)v);
}

static int find_behavioral(void *arg, struct json_object *o);

/* "static", "behavioral" (some criterion reads events) or "person_property". */
static const char *cohort_type(const struct sn_cohort *c)
{
	if (c->is_static)
		return "static";
	bool behavioral = false;
	find_behavioral(&behavioral, c->filters);
	for (size_t i = 0; !behavioral && i < json_object_array_length(c->groups); i++) {
		struct json_object *g = json_object_array_get_idx(c->groups, i);
		behavioral = sn_json_get(g, "action_id") || sn_json_get(g, "event_id");
	}
	return behavioral ? "behavioral" : "person_property";
}

static int find_behavioral(void *arg, struct json_object *o)
{
	bool *found = arg;
	if (*found || !o)
		return 0;
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			find_behavioral(arg, json_object_array_get_idx(o, i));
		return 0;
	}
	if (!json_object_is_type(o, json_type_object))
		return 0;
	const char *type = sn_json_str(sn_json_get(o, "type"), NULL);
	if (type && !strcmp(type, "behavioral"))
		*found = true;
	json_object_object_foreach(o, k, v)
	{
		(void)k;
		find_behavioral(arg, v);
	}
	return 0;
}

static void append_cohort(struct sn_meta *m, struct sn_buf *b, const struct sn_cohort *c)
{
	sn_buf_appendf(b, "{\"id\":%lld,\"name\":", (long long)c->id);
	sn_buf_append_json_str(b, c->name, strlen(c->name));
	sn_buf_appends(b, ",\"description\":");
	sn_buf_append_json_str(b, c->description, strlen(c->description));
	sn_buf_appends(b, ",\"groups\":");
	sn_json_append(b, c->groups);
	sn_buf_appends(b, ",\"filters\":");
	if (c->filters)
		sn_json_append(b, c->filters);
	else
		sn_buf_appends(b, "null");
	sn_buf_appends(b, ",\"query\":");
	if (c->query)
		sn_json_append(b, c->query);
	else
		sn_buf_appends(b, "null");
	sn_buf_appendf(b, ",\"deleted\":%s,\"version\":", c->deleted ? "true" : "false");
	append_int_or_null(b, c->version);
	sn_buf_appends(b, ",\"pending_version\":");
	append_int_or_null(b, c->pending_version);
	sn_buf_appendf(
	    b, ",\"is_calculating\":%s,\"created_by\":", c->is_calculating ? "true" : "false");
	sn_rest_append_user(m, b, c->created_by);
	sn_buf_appends(b, ",\"created_at\":");
	sn_rest_append_time(b, c->created_at_us);
	sn_buf_appends(b, ",\"last_calculation\":");
	append_time_or_null(b, c->last_calculation_us);
	sn_buf_appendf(b,
		       ",\"errors_calculating\":%d,\"last_error_message\":", c->errors_calculating);
	if (c->last_error)
		sn_buf_append_json_str(b, c->last_error, strlen(c->last_error));
	else
		sn_buf_appends(b, "null");
	sn_buf_appends(b, ",\"last_error_at\":");
	append_time_or_null(b, c->last_error_at_us);
	sn_buf_appends(b, ",\"count\":");
	append_int_or_null(b, c->count);
	sn_buf_appendf(b, ",\"is_static\":%s,\"cohort_type\":\"%s\",\"experiment_set\":[]}",
		       c->is_static ? "true" : "false", cohort_type(c));
}

static void reply_cohort(struct sn_meta *m, struct sn_http_request *req, unsigned status,
			 const struct sn_cohort *c)
{
	struct sn_buf b;
	sn_buf_init(&b, SN_REST_ANSWER_MAX);
	append_cohort(m, &b, c);
	sn_rest_reply_buf(req, status, &b);
	sn_buf_release(&b);
}

struct list_ctx {
	struct sn_meta *meta;
	struct sn_buf *b;
	size_t n;
};

static int list_one(void *arg, const struct sn_cohort *c)
{
	struct list_ctx *lc = arg;
	if (lc->n++)
		sn_buf_appendc(lc->b, ',');
	append_cohort(lc->meta, lc->b, c);
	return 0;
}

static void list(struct sn_meta *m, struct sn_http_request *req, int64_t team_id)
{
	struct sn_meta_list_opts o = {.search = sn_http_query(req, "search")};
	sn_rest_page(req, &o.limit, &o.offset);
	struct sn_buf items;
	sn_buf_init(&items, SN_REST_ANSWER_MAX);
	struct list_ctx lc = {m, &items, 0};
	int64_t total = 0;
	struct sn_err err = {0};
	static const char *const keep[] = {"search", NULL};
	if (sn_meta_cohort_list(m, team_id, &o, &total, list_one, &lc, &err))
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	else
		sn_rest_reply_list(req, total, o.limit, o.offset, &items, keep);
	sn_buf_release(&items);
}

/* ---- members -------------------------------------------------------------------------- */

struct member_page {
	int64_t offset, limit, total;
	char (*uuids)[37];
	size_t n;
};

static int page_member(void *ctx, int64_t cohort_id, const char *uuid, bool is_static)
{
	(void)cohort_id;
	(void)is_static;
	struct member_page *p = ctx;
	if (p->total >= p->offset && (int64_t)p->n < p->limit)
		snprintf(p->uuids[p->n++], 37, "%s", uuid);
	p->total++;
	return 0;
}

/* ---- ?format=csv: the members as PostHog's CSV renderer writes them ---- */

struct csvcell {
	char *k, *v;
	size_t row;
};

struct csvtab {
	struct csvcell *c;
	size_t n, cap;
	int rc;
};

static void csv_cell(struct csvtab *t, size_t row, const char *k, const char *v, size_t vlen)
{
	if (t->rc)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		struct csvcell *c = realloc(t->c, cap * sizeof(*c));
		if (!c) {
			t->rc = SN_ERR_NOMEM;
			return;
		}
		t->c = c;
		t->cap = cap;
	}
	char *kk = strdup(k), *vv = strndup(v, vlen);
	if (!kk || !vv) {
		free(kk);
		free(vv);
		t->rc = SN_ERR_NOMEM;
		return;
	}
	t->c[t->n++] = (struct csvcell){kk, vv, row};
}

/* rest_framework_csv's flattening: an object's members and an array's
 * elements become columns "parent.key" / "parent.0"; leaves as Python's
 * str() writes them (True/False; null an empty cell); an empty object or
 * array no column. */
static void csv_flatten(struct csvtab *t, size_t row, struct sn_buf *path, struct json_object *o)
{
	size_t mark = path->len;
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			path->len = mark;
			if (mark)
				sn_buf_appendc(path, '.');
			sn_buf_appends(path, k);
			csv_flatten(t, row, path, v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			path->len = mark;
			sn_buf_appendf(path, mark ? ".%zu" : "%zu", i);
			csv_flatten(t, row, path, json_object_array_get_idx(o, i));
		}
	} else {
		const char *v = "";
		size_t vl = 0;
		if (json_object_is_type(o, json_type_string)) {
			v = json_object_get_string(o);
			vl = (size_t)json_object_get_string_len(o);
		} else if (json_object_is_type(o, json_type_boolean)) {
			v = json_object_get_boolean(o) ? "True" : "False";
			vl = strlen(v);
		} else if (o) {
			v = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
			vl = strlen(v);
		}
		csv_cell(t, row, path->data ? path->data : "", v, vl);
	}
	path->len = mark;
	if (path->data)
		path->data[mark] = '\0'; /* sn_buf keeps data NUL-terminated */
}

static int csvcell_key(const void *a, const void *b)
{
	const struct csvcell *x = a, *y = b;
	int d = strcmp(x->k, y->k);
	return d ? d : (x->row > y->row) - (x->row < y->row);
}

/* The header is every column's name, sorted; a row's missing columns are
 * empty. */
static int csv_render(struct csvtab *t, size_t nrows, struct sn_buf *out)
{
	qsort(t->c, t->n, sizeof(*t->c), csvcell_key);
	size_t ncols = 0;
	for (size_t i = 0; i < t->n; i++)
		ncols += i == 0 || strcmp(t->c[i].k, t->c[i - 1].k) != 0;
	/* cell index of (row, column), or SIZE_MAX */
	size_t *at = malloc((nrows ? nrows : 1) * (ncols ? ncols : 1) * sizeof(*at));
	if (!at)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < nrows * ncols; i++)
		at[i] = SIZE_MAX;
	int rc = 0;
	for (size_t i = 0, col = 0; i < t->n; i++) {
		bool newcol = i == 0 || strcmp(t->c[i].k, t->c[i - 1].k) != 0;
		if (newcol && i)
			col++;
		if (newcol && col)
			rc = rc ? rc : sn_buf_appendc(out, ',');
		if (newcol)
			rc = rc ? rc : sn_csv_append_field(out, t->c[i].k, strlen(t->c[i].k));
		at[t->c[i].row * ncols + col] = i;
	}
	if (ncols)
		rc = rc ? rc : sn_buf_appends(out, "\r\n");
	for (size_t r = 0; r < nrows && rc == 0 && ncols; r++) {
		for (size_t col = 0; col < ncols && rc == 0; col++) {
			if (col)
				rc = sn_buf_appendc(out, ',');
			size_t i = at[r * ncols + col];
			if (rc == 0 && i != SIZE_MAX)
				rc = sn_csv_append_field(out, t->c[i].v, strlen(t->c[i].v));
		}
		rc = rc ? rc : sn_buf_appends(out, "\r\n");
	}
	free(at);
	return rc;
}

static void persons_page(struct sn_cohorts_api *api, struct sn_http_request *req, int64_t team_id,
			 int64_t id)
{
	struct member_page p = {0};
	const char *fmt = sn_http_query(req, "format");
	bool csv = fmt && strcmp(fmt, "csv") == 0;
	if (fmt && !csv && strcmp(fmt, "json") != 0) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "format must be json or csv", "format");
		return;
	}
	sn_rest_page(req, &p.limit, &p.offset);
	if (csv) { /* an export: every member up to CSV_MEMBERS_MAX unless limited */
		p.limit = sn_rest_query_int(req, "limit", CSV_MEMBERS_MAX);
		if (p.limit <= 0 || p.limit > CSV_MEMBERS_MAX)
			p.limit = CSV_MEMBERS_MAX;
	}
	p.uuids = calloc((size_t)(p.limit ? p.limit : 1), sizeof(*p.uuids));
	struct sn_err err = {0};
	struct sn_buf items;
	sn_buf_init(&items, SN_REST_ANSWER_MAX);
	int rc = p.uuids ? sn_persons_read_cohort_people(api->persons, team_id, id, -1, page_member,
							 &p, &err)
			 : sn_err_set(&err, SN_ERR_NOMEM, "out of memory");
	struct csvtab tab = {0};
	struct sn_buf path;
	sn_buf_init(&path, 1 << 16);
	size_t nrows = 0;
	for (size_t i = 0; rc == 0 && i < p.n; i++) {
		struct sn_person person = {0};
		if (sn_persons_get(api->persons, team_id, p.uuids[i], &person, &err))
			continue; /* deleted meanwhile */
		struct json_object *o = sn_api_person_json(api->persons, &person, &err);
		sn_person_release(&person);
		if (!o) {
			rc = err.code ? err.code : SN_ERR_NOMEM;
			break;
		}
		if (csv) {
			sn_buf_reset(&path);
			csv_flatten(&tab, nrows++, &path, o);
			rc = tab.rc;
		} else {
			if (items.len)
				sn_buf_appendc(&items, ',');
			sn_json_append(&items, o);
		}
		json_object_put(o);
	}
	if (rc == 0 && csv) {
		sn_buf_reset(&items);
		items.max = (size_t)1 << 31;
		rc = csv_render(&tab, nrows, &items);
		if (rc == SN_ERR_TOO_BIG)
			sn_err_set(&err, rc,
				   "the CSV is over 2 GiB; export it in pages (limit, offset)");
	}
	for (size_t i = 0; i < tab.n; i++) {
		free(tab.c[i].k);
		free(tab.c[i].v);
	}
	free(tab.c);
	sn_buf_release(&path);
	if (rc) {
		sn_http_reply_error(req, 500, "server_error", "error",
				    err.msg[0] ? err.msg : "out of memory", NULL);
	} else if (csv) {
		char disp[80];
		snprintf(disp, sizeof(disp), "attachment; filename=\"cohort-%lld.csv\"",
			 (long long)id);
		sn_http_add_header(req, "Content-Disposition", disp);
		sn_http_reply(req, 200, "text/csv; charset=utf-8", items.data ? items.data : "",
			      items.len);
	} else {
		sn_rest_reply_list(req, p.total, p.limit, p.offset, &items, NULL);
	}
	sn_buf_release(&items);
	free(p.uuids);
}

/* Static members from a CSV: by the column headed distinct_id, person_id
 * or email, else the first column as distinct ids. */
struct csvkeys {
	const char **keys;
	size_t n, cap;
	int col;
	enum sn_cohort_key kind;
	bool first;
	bool nomem;
};

static int csv_member(void *ctx, const char *const *f, const size_t *lens, size_t n)
{
	struct csvkeys *k = ctx;
	if (k->first) {
		k->first = false;
		static const struct {
			const char *name;
			enum sn_cohort_key kind;
		} heads[] = {{"distinct_id", SN_COHORT_KEY_DISTINCT_ID},
			     {"person_id", SN_COHORT_KEY_UUID},
			     {"email", SN_COHORT_KEY_EMAIL}};
		for (size_t i = 0; i < n; i++)
			for (size_t h = 0; h < SN_ARRAY_LEN(heads); h++)
				if (strcasecmp(f[i], heads[h].name) == 0 && k->col < 0) {
					k->col = (int)i;
					k->kind = heads[h].kind;
				}
		if (k->col >= 0)
			return 0; /* a header row */
		k->col = 0;
	}
	if ((size_t)k->col >= n || lens[k->col] == 0)
		return 0;
	if (k->n == CSV_KEYS_MAX)
		return SN_ERR_TOO_BIG;
	if (k->n == k->cap) {
		size_t cap = k->cap ? k->cap * 2 : 256;
		const char **nk = realloc(k->keys, cap * sizeof(*nk));
		if (!nk)
			return SN_ERR_NOMEM;
		k->keys = nk;
		k->cap = cap;
	}
	char *s = strndup(f[k->col], lens[k->col]);
	if (!s)
		return SN_ERR_NOMEM;
	/* trim surrounding blanks, as a spreadsheet export may leave them */
	char *e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = 0;
	size_t lead = strspn(s, " \t");
	memmove(s, s + lead, strlen(s + lead) + 1);
	k->keys[k->n++] = s;
	return 0;
}

static void csvkeys_release(struct csvkeys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free((char *)k->keys[i]);
	free(k->keys);
}

/* Adds static members; refreshes the cohort's count. */
static int add_members(struct sn_cohorts_api *api, int64_t team_id, int64_t id,
		       enum sn_cohort_key kind, const char *const *keys, size_t n,
		       struct sn_meta_verr *ve)
{
	size_t added = 0;
	int rc = sn_persons_cohort_add(api->persons, team_id, id, kind, keys, n, &added, &ve->err);
	int64_t count;
	struct sn_err e = {0};
	if (rc == 0)
		sn_cohorts_api_calculate(api, team_id, id, &count, &e);
	return rc;
}

static int add_csv(struct sn_cohorts_api *api, int64_t team_id, int64_t id, const char *csv,
		   size_t len, struct sn_meta_verr *ve)
{
	struct csvkeys k = {.col = -1, .first = true, .kind = SN_COHORT_KEY_DISTINCT_ID};
	int rc = sn_csv_parse(csv, len, csv_member, &k, &ve->err);
	if (rc == SN_ERR_TOO_BIG && !ve->err.msg[0])
		sn_err_set(&ve->err, rc, "the CSV has more than %d members", (int)CSV_KEYS_MAX);
	if (rc) {
		snprintf(ve->code, sizeof(ve->code), "invalid_input");
		snprintf(ve->attr, sizeof(ve->attr), "csv");
		if (rc != SN_ERR_NOMEM)
			ve->err.code = rc = SN_ERR_INVALID;
	} else {
		rc = add_members(api, team_id, id, k.kind, k.keys, k.n, ve);
	}
	csvkeys_release(&k);
	return rc;
}

/* A static cohort from a query (PostHog's insight "save as cohort"): the
 * person ids in the first column of its rows — an ActorsQuery's person
 * objects, or uuids (an InsightActorsQuery, a HogQLQuery selecting
 * person ids). Pages of 10,000 until hasMore is false. */
#define QUERY_MEMBERS_MAX 1000000
struct idlist {
	char **v;
	size_t n;
};

static void idlist_release(struct idlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int query_ids(struct sn_cohorts_api *api, const struct sn_team *team,
		     struct json_object *query, struct idlist *l, struct sn_meta_verr *ve)
{
	if (!api->query)
		return sn_meta_verr_set(ve, "not_supported", "query",
					"a static cohort from a query needs the query API");
	struct json_object *node = NULL;
	if (json_object_deep_copy(query, &node, NULL) != 0)
		return sn_err_set(&ve->err, SN_ERR_NOMEM, "out of memory");
	const char *kind = sn_json_str(sn_json_get(node, "kind"), NULL);
	if (kind && (!strcmp(kind, "DataTableNode") || !strcmp(kind, "InsightVizNode"))) {
		struct json_object *src = json_object_get(sn_json_get(node, "source"));
		json_object_put(node);
		node = src;
	}
	size_t n = 0, cap = 0;
	char **ids = NULL;
	int rc = 0;
	struct sn_buf out;
	sn_buf_init(&out, (size_t)256 << 20);
	for (int64_t offset = 0; rc == 0 && node;) {
		json_object_object_add(node, "limit", json_object_new_int(10000));
		json_object_object_add(node, "offset", json_object_new_int64(offset));
		sn_buf_reset(&out);
		struct sn_err qerr = {0};
		if (sn_query_api_run_node(api->query, team, node, 0, &out, &qerr)) {
			rc = sn_meta_verr_set(ve, "invalid_input", "query", "%s", qerr.msg);
			break;
		}
		struct json_object *ans = NULL;
		if (sn_json_parse(out.data, out.len, &ans, &qerr)) {
			rc = sn_meta_verr_set(ve, "invalid_input", "query", "%s", qerr.msg);
			break;
		}
		struct json_object *res = sn_json_get(ans, "results");
		size_t nr =
		    json_object_is_type(res, json_type_array) ? json_object_array_length(res) : 0;
		for (size_t r = 0; rc == 0 && r < nr; r++) {
			struct json_object *row = json_object_array_get_idx(res, r);
			struct json_object *cell = json_object_is_type(row, json_type_array)
						       ? json_object_array_get_idx(row, 0)
						       : row;
			const char *uuid = json_object_is_type(cell, json_type_object)
					       ? sn_json_str(sn_json_get(cell, "id"), NULL)
					       : sn_json_str(cell, NULL);
			if (!uuid || strlen(uuid) != 36)
				continue;
			if (n == QUERY_MEMBERS_MAX) {
				rc = sn_meta_verr_set(ve, "max_length", "query",
						      "the query returns more than %d persons",
						      QUERY_MEMBERS_MAX);
				break;
			}
			if (n == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				char **nv = realloc(ids, nc * sizeof(*nv));
				if (!nv) {
					rc = sn_err_set(&ve->err, SN_ERR_NOMEM, "out of memory");
					break;
				}
				ids = nv;
				cap = nc;
			}
			if (!(ids[n] = strdup(uuid)))
				rc = sn_err_set(&ve->err, SN_ERR_NOMEM, "out of memory");
			else
				n++;
		}
		bool more = json_object_get_boolean(sn_json_get(ans, "hasMore")) && nr > 0;
		json_object_put(ans);
		if (!more)
			break;
		offset += (int64_t)nr;
	}
	sn_buf_release(&out);
	json_object_put(node);
	l->v = ids;
	l->n = n;
	if (rc)
		idlist_release(l);
	return rc;
}

/* ---- requests -------------------------------------------------------------------------- */

/* A JSON body, or the fields of a multipart form (*csv: the uploaded
 * file). NULL after answering 400/413. */
static struct json_object *read_body(struct sn_http_request *req, const char **csv, size_t *csv_len)
{
	*csv = NULL;
	*csv_len = 0;
	const char *ct = sn_http_header(req, "Content-Type");
	if (!ct || (strncasecmp(ct, "multipart/form-data", 19) &&
		    strncasecmp(ct, "application/x-www-form-urlencoded", 33)))
		return sn_rest_parse_body(req);
	if (sn_http_body_too_large(req)) {
		sn_http_reply_error(req, 413, "validation_error", "payload_too_large",
				    "request body too large", NULL);
		return NULL;
	}
	struct sn_http_form_field *f;
	size_t n;
	if (sn_http_form(req, &f, &n)) {
		sn_http_reply_error(req, 400, "validation_error", "parse_error",
				    "the form body is malformed", NULL);
		return NULL;
	}
	struct json_object *o = json_object_new_object();
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(f[i].name, "csv")) {
			*csv = f[i].data;
			*csv_len = f[i].len;
		} else if (!strcmp(f[i].name, "is_static") || !strcmp(f[i].name, "deleted")) {
			bool v = !strcmp(f[i].data, "true") || !strcmp(f[i].data, "True") ||
				 !strcmp(f[i].data, "1");
			json_object_object_add(o, f[i].name, json_object_new_boolean(v));
		} else if (!strcmp(f[i].name, "filters") || !strcmp(f[i].name, "groups")) {
			struct json_object *v = NULL;
			struct sn_err err = {0};
			if (sn_json_parse(f[i].data, f[i].len, &v, &err)) {
				json_object_put(o);
				sn_http_reply_error(req, 400, "validation_error", "parse_error",
						    err.msg, f[i].name);
				return NULL;
			}
			json_object_object_add(o, f[i].name, v);
		} else if (!strcmp(f[i].name, "name") || !strcmp(f[i].name, "description")) {
			json_object_object_add(
			    o, f[i].name, json_object_new_string_len(f[i].data, (int)f[i].len));
		}
	}
	return o;
}

static bool body_is_static(struct json_object *body, const struct sn_cohort *cur)
{
	if (cur)
		return cur->is_static;
	return json_object_get_boolean(sn_json_get(body, "is_static"));
}

/* Checks what meta cannot: a dynamic definition compiles; a static
 * cohort's person ids are a list of strings. */
static int precheck(struct sn_cohorts_api *api, const struct sn_team *team, int64_t self,
		    struct json_object *body, const struct sn_cohort *cur, struct sn_meta_verr *ve)
{
	memset(ve, 0, sizeof(*ve));
	int rc = sn_meta_cohort_validate(body, cur != NULL, ve);
	if (rc)
		return rc;
	if (!body_is_static(body, cur) &&
	    (sn_json_get(body, "filters") || sn_json_get(body, "groups") || !cur))
		return check_definition(api, team, self,
					json_object_object_get_ex(body, "filters", NULL) || !cur
					    ? sn_json_get(body, "filters")
					    : cur->filters,
					json_object_object_get_ex(body, "groups", NULL) || !cur
					    ? sn_json_get(body, "groups")
					    : cur->groups,
					ve);
	struct json_object *ids = sn_json_get(body, "_create_static_person_ids");
	if (ids && !json_object_is_type(ids, json_type_array))
		return sn_meta_verr_set(ve, "not_a_list", "_create_static_person_ids",
					"Expected a list of person ids");
	for (size_t i = 0; ids && i < json_object_array_length(ids); i++)
		if (!json_object_is_type(json_object_array_get_idx(ids, i), json_type_string))
			return sn_meta_verr_set(ve, "invalid", "_create_static_person_ids",
						"_create_static_person_ids[%zu] must be a string",
						i);
	return 0;
}

/* Adds the members of a list of strings (person uuids). */
static int add_id_list(struct sn_cohorts_api *api, int64_t team_id, int64_t id,
		       struct json_object *ids, struct sn_meta_verr *ve)
{
	size_t n = json_object_array_length(ids);
	const char **keys = calloc(n ? n : 1, sizeof(*keys));
	if (!keys)
		return sn_err_set(&ve->err, SN_ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		keys[i] = json_object_get_string(json_object_array_get_idx(ids, i));
	int rc = add_members(api, team_id, id, SN_COHORT_KEY_UUID, keys, n, ve);
	free(keys);
	return rc;
}

static void create(struct sn_cohorts_api *api, struct sn_http_request *req,
		   const struct sn_team *team, int64_t user_id)
{
	const char *csv;
	size_t csv_len;
	struct json_object *body = read_body(req, &csv, &csv_len);
	if (!body)
		return;
	if (csv && !json_object_object_get_ex(body, "is_static", NULL))
		json_object_object_add(body, "is_static", json_object_new_boolean(1));
	struct sn_meta_verr ve;
	struct sn_cohort c;
	struct idlist qids = {0};
	struct json_object *ids = sn_json_get(body, "_create_static_person_ids");
	struct json_object *query = sn_json_get(body, "query");
	if (!json_object_is_type(query, json_type_object))
		query = NULL;
	int rc = precheck(api, team, 0, body, NULL, &ve);
	if (rc == 0 && csv && !body_is_static(body, NULL))
		rc = sn_meta_verr_set(&ve, "invalid_input", "csv",
				      "a CSV of members is only for static cohorts");
	/* a static cohort's query runs first: one that fails creates nothing */
	bool from_query = rc == 0 && body_is_static(body, NULL) && query && !csv && !ids;
	if (from_query)
		rc = query_ids(api, team, query, &qids, &ve);
	if (rc == 0)
		rc = sn_meta_cohort_create(api->meta, team->id, user_id, body, &c, &ve);
	if (rc) {
		sn_rest_reply_verr(req, &ve);
		idlist_release(&qids);
		json_object_put(body);
		return;
	}
	if (c.is_static && (csv || ids || from_query)) {
		rc = csv   ? add_csv(api, team->id, c.id, csv, csv_len, &ve)
		     : ids ? add_id_list(api, team->id, c.id, ids, &ve)
			   : add_members(api, team->id, c.id, SN_COHORT_KEY_UUID,
					 (const char *const *)qids.v, qids.n, &ve);
		idlist_release(&qids);
		if (rc) {
			/* the cohort exists but is empty: say so, keep it */
			sn_rest_reply_verr(req, &ve);
			sn_cohort_release(&c);
			json_object_put(body);
			return;
		}
		struct sn_err err = {0};
		int64_t id = c.id;
		sn_cohort_release(&c);
		sn_meta_cohort_get(api->meta, team->id, id, &c, &err);
	}
	if (!c.is_static)
		kick(api);
	reply_cohort(api->meta, req, 201, &c);
	sn_cohort_release(&c);
	json_object_put(body);
}

static void update(struct sn_cohorts_api *api, struct sn_http_request *req,
		   const struct sn_team *team, int64_t user_id, int64_t id)
{
	const char *csv;
	size_t csv_len;
	struct json_object *body = read_body(req, &csv, &csv_len);
	if (!body)
		return;
	struct sn_cohort cur, c;
	struct sn_meta_verr ve;
	memset(&ve, 0, sizeof(ve));
	if (sn_meta_cohort_get(api->meta, team->id, id, &cur, &ve.err) ||
	    (cur.deleted && !sn_json_get(body, "deleted"))) {
		sn_cohort_release(&cur);
		sn_rest_not_found(req);
		json_object_put(body);
		return;
	}
	int rc = precheck(api, team, id, body, &cur, &ve);
	if (rc == 0 && csv && !cur.is_static)
		rc = sn_meta_verr_set(&ve, "invalid_input", "csv",
				      "a CSV of members is only for static cohorts");
	if (rc == 0)
		rc = sn_meta_cohort_update(api->meta, team->id, id, user_id, body, &c, &ve);
	if (rc == 0 && csv) {
		rc = add_csv(api, team->id, id, csv, csv_len, &ve);
		sn_cohort_release(&c);
		if (rc == 0)
			rc = sn_meta_cohort_get(api->meta, team->id, id, &c, &ve.err);
	}
	if (rc) {
		sn_rest_reply_verr(req, &ve);
	} else {
		if (c.deleted)
			sn_persons_cohort_clear(api->persons, team->id, id, &ve.err);
		else if (!c.is_static && c.last_calculation_us < 0)
			kick(api);
		reply_cohort(api->meta, req, 200, &c);
		sn_cohort_release(&c);
	}
	sn_cohort_release(&cur);
	json_object_put(body);
}

static void static_members(struct sn_cohorts_api *api, struct sn_http_request *req,
			   const struct sn_team *team, int64_t id, bool add)
{
	struct json_object *body = sn_rest_parse_body(req);
	if (!body)
		return;
	struct sn_cohort c;
	struct sn_meta_verr ve;
	memset(&ve, 0, sizeof(ve));
	if (sn_meta_cohort_get(api->meta, team->id, id, &c, &ve.err) || c.deleted) {
		sn_cohort_release(&c);
		sn_rest_not_found(req);
		json_object_put(body);
		return;
	}
	int rc = 0;
	if (!c.is_static) {
		rc = sn_meta_verr_set(&ve, "invalid_input", NULL,
				      "Can only change the members of a static cohort");
	} else if (add) {
		struct json_object *ids = sn_json_get(body, "person_ids");
		if (!json_object_is_type(ids, json_type_array)) {
			rc = sn_meta_verr_set(&ve, "required", "person_ids",
					      "person_ids must be a list of person UUIDs");
		} else {
			for (size_t i = 0; rc == 0 && i < json_object_array_length(ids); i++)
				if (!json_object_is_type(json_object_array_get_idx(ids, i),
							 json_type_string))
					rc =
					    sn_meta_verr_set(&ve, "invalid", "person_ids",
							     "person_ids[%zu] must be a string", i);
			if (rc == 0)
				rc = add_id_list(api, team->id, id, ids, &ve);
		}
	} else {
		const char *pid = sn_json_str(sn_json_get(body, "person_id"), NULL);
		bool removed = false;
		if (!pid)
			rc = sn_meta_verr_set(&ve, "required", "person_id",
					      "person_id must be a person UUID");
		else if ((rc = sn_persons_cohort_remove(api->persons, team->id, id, pid, &removed,
							&ve.err)) == 0 &&
			 !removed)
			rc = sn_meta_verr_set(&ve, "not_found", "person_id",
					      "Person with ID %s is not in this cohort", pid);
		int64_t count;
		struct sn_err e = {0};
		if (rc == 0)
			sn_cohorts_api_calculate(api, team->id, id, &count, &e);
	}
	sn_cohort_release(&c);
	json_object_put(body);
	if (rc) {
		sn_rest_reply_verr(req, &ve);
		return;
	}
	sn_http_reply_json(req, 200, "{\"success\":true}");
}

enum sub { SUB_NONE, SUB_PERSONS, SUB_ADD, SUB_REMOVE };

/* The sub-resource after /cohorts/<id>/, or SUB_NONE. */
static enum sub parse_sub(const char *path, int64_t *id)
{
	const char *p = strstr(path, "/cohorts/");
	if (!p)
		return SUB_NONE;
	p += strlen("/cohorts/");
	char *end;
	long long v = strtoll(p, &end, 10);
	if (end == p || v <= 0 || *end != '/')
		return SUB_NONE;
	*id = v;
	static const struct {
		const char *name;
		enum sub s;
	} subs[] = {{"persons", SUB_PERSONS},
		    {"add_persons_to_static_cohort", SUB_ADD},
		    {"remove_person_from_static_cohort", SUB_REMOVE}};
	for (size_t i = 0; i < SN_ARRAY_LEN(subs); i++) {
		size_t n = strlen(subs[i].name);
		if (!strncmp(end + 1, subs[i].name, n) &&
		    (!end[1 + n] || !strcmp(end + 1 + n, "/")))
			return subs[i].s;
	}
	return SUB_NONE;
}

static void handle(struct sn_cohorts_api *api, struct sn_http_request *req,
		   const struct sn_rest_target *t)
{
	sn_http_cors(req, "GET, POST, PATCH, DELETE, OPTIONS");
	enum sn_http_method method = sn_http_method(req);
	if (method == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	struct sn_meta *m = api->meta;
	struct sn_user user;
	struct sn_team team;
	if (sn_api_auth_team(m, req, t->team_id, &user, &team))
		return;
	struct sn_cohort c;
	struct sn_err err = {0};
	int64_t sid = 0;
	enum sub sub =
	    t->what == SN_REST_ITEM && t->id < 0 ? parse_sub(sn_http_path(req), &sid) : SUB_NONE;
	if (sub != SUB_NONE) {
		if (sub == SUB_PERSONS && method == SN_GET) {
			if (sn_meta_cohort_get(m, t->team_id, sid, &c, &err) || c.deleted) {
				sn_cohort_release(&c);
				sn_rest_not_found(req);
				return;
			}
			sn_cohort_release(&c);
			persons_page(api, req, t->team_id, sid);
		} else if (sub != SUB_PERSONS && (method == SN_PATCH || method == SN_PUT)) {
			static_members(api, req, &team, sid, sub == SUB_ADD);
		} else {
			sn_rest_not_allowed(req);
		}
	} else if (t->what == SN_REST_LIST && method == SN_GET) {
		list(m, req, t->team_id);
	} else if (t->what == SN_REST_LIST && method == SN_POST) {
		create(api, req, &team, user.id);
	} else if (t->what == SN_REST_LIST) {
		sn_rest_not_allowed(req);
	} else if (t->id <= 0) {
		sn_rest_not_found(req);
	} else if (t->what == SN_REST_ACTIVITY) {
		if (method != SN_GET) {
			sn_rest_not_allowed(req);
		} else if (sn_meta_cohort_get(m, t->team_id, t->id, &c, &err)) {
			sn_rest_not_found(req);
		} else {
			sn_rest_reply_activity(m, req, t->team_id, "Cohort", c.id);
			sn_cohort_release(&c);
		}
	} else if (method == SN_GET) {
		if (sn_meta_cohort_get(m, t->team_id, t->id, &c, &err)) {
			sn_rest_not_found(req);
		} else if (c.deleted) {
			sn_cohort_release(&c);
			sn_rest_not_found(req);
		} else {
			reply_cohort(m, req, 200, &c);
			sn_cohort_release(&c);
		}
	} else if (method == SN_PATCH || method == SN_PUT) {
		update(api, req, &team, user.id, t->id);
	} else if (method == SN_DELETE) {
		if (sn_meta_cohort_delete(m, t->team_id, t->id, user.id, &err)) {
			sn_rest_not_found(req);
		} else {
			sn_persons_cohort_clear(api->persons, t->team_id, t->id, &err);
			sn_http_reply(req, 204, NULL, NULL, 0);
		}
	} else {
		sn_rest_not_allowed(req);
	}
}

static void route_handler(struct sn_http_request *req, void *ctx)
{
	struct sn_rest_target t = sn_rest_parse_path(sn_http_path(req), "cohorts");
	if (t.what == SN_REST_NONE) {
		sn_rest_not_found(req);
		return;
	}
	handle(ctx, req, &t);
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

int sn_cohorts_api_new(struct sn_cohorts_api **out, struct sn_meta *meta,
		       struct sn_persons *persons, const char *data_dir, struct sn_err *err)
{
	struct sn_cohorts_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	a->persons = persons;
	a->interval_us = DEFAULT_INTERVAL_US;
	if (data_dir)
		snprintf(a->store_dir, sizeof(a->store_dir), "%s/store", data_dir);
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->calc_mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	*out = a;
	return 0;
}

void sn_cohorts_api_use_query(struct sn_cohorts_api *a, struct sn_query_api *query)
{
	a->query = query;
}

void sn_cohorts_api_configure(struct sn_cohorts_api *a, unsigned threads, int64_t interval_us)
{
	a->threads = threads;
	if (interval_us > 0)
		a->interval_us = interval_us;
}

int sn_cohorts_api_start(struct sn_cohorts_api *a, struct sn_err *err)
{
	int rc = sn_meta_cohort_calc_reset(a->meta, err);
	if (rc)
		return rc;
	a->kick = true; /* anything due since the last run */
	if (pthread_create(&a->thread, NULL, calculator, a) != 0)
		return sn_err_set(err, SN_ERR_IO, "starting the cohort calculator failed");
	a->started = true;
	return 0;
}

void sn_cohorts_api_stop(struct sn_cohorts_api *a)
{
	if (!a || !a->started)
		return;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
	pthread_join(a->thread, NULL);
	a->started = false;
}

void sn_cohorts_api_free(struct sn_cohorts_api *a)
{
	if (!a)
		return;
	sn_cohorts_api_stop(a);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->calc_mu);
	pthread_cond_destroy(&a->cv);
	free(a);
}

size_t sn_cohorts_api_routes(struct sn_cohorts_api *a, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_POST | SN_PATCH | SN_PUT | SN_DELETE | SN_OPTIONS;
	const struct sn_http_route all[] = {
	    {"cohorts", m, "/api/projects/*/cohorts*", (size_t)64 << 20, route_handler, a},
	    {"cohorts", m, "/api/environments/*/cohorts*", (size_t)64 << 20, route_handler, a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
