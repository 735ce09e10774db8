/*
 * query.c — PostHog's query endpoint: POST /api/projects/:id/query/ (and the
 * /api/environments/:id/query/ alias) with {"query": {"kind": "HogQLQuery",
 * "query": "..."}}, answered in PostHog's HogQLQueryResponse shape.
 *
 * Authentication: `Authorization: Bearer phx_...` (a personal API key); the
 * key's user must be a member of the organization that owns the project,
 * else 403 — a user can only query teams of organizations they belong to.
 * The executor's team guard then limits every scan to that team.
 *
 * Queries run on their own threads, not on the HTTP threads: a query may
 * take seconds (time budget 60 s) and an HTTP thread also serves capture
 * connections. The request is deferred; a detached worker runs the query
 * and completes it. At most `max_running` queries run at once; beyond that
 * the answer is 429 with Retry-After (a queue would only hide overload).
 *
 * Insight kinds (TrendsQuery) run through insights/ on the same threads,
 * with the embedded executor as their HogQL backend. A request may pin
 * "now" (top-level "now": "2020-01-19T23:59:59Z") only when the server runs
 * with test_mode on, so relative date ranges are reproducible in tests.
 *
 * `values` fill `{name}` placeholders: each JSON value becomes the text of
 * a HogQL constant (strings quoted, numbers, booleans, null, arrays) that
 * the resolver parses in the placeholder's place; an object is a 400.
 *
 * A query whose client closed its connection stops: MHD does not report
 * that for a suspended connection, so the executor asks (exec opts
 * `cancelled`, every 50 ms at most, between batches and every few thousand
 * rows of a batch that arrayJoin() multiplied) and http/ polls the socket
 * (sn_http_client_gone); the slot among the `max_running` is free again
 * within about 50 ms of that check. Insights' statements are asked the
 * same way.
 *
 * Authentication is auth.c's: a personal API key, or a login session with
 * its CSRF rules (login.c).
 */
#include "api.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/auth.h"
#include "capture/capture.h"
#include "exec/exec.h"
#include "http/http.h"
#include "insights/insights.h"
#include "meta/meta.h"

#define MAX_RUNNING 4

struct sn_query_api {
	struct sn_meta *meta;
	char store_dir[1200];
	unsigned threads;	    /* sn_exec_opts.threads of every query */
	unsigned running;	    /* query threads not yet finished (close waits for them) */
	unsigned admitted;	    /* queries not yet answered: what MAX_RUNNING limits */
	bool closing;		    /* shutting down: new queries get 503 */
	struct sn_persons *persons; /* borrowed; NULL = no person store */
	bool test_mode;		    /* honour a pinned "now" in requests */
};

/* A query refused after it was admitted: it neither runs nor counts. */
static void unadmit(struct sn_query_api *api)
{
	__atomic_fetch_sub(&api->admitted, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&api->running, 1, __ATOMIC_RELAXED);
}

struct job {
	struct sn_query_api *api;
	struct sn_http_request *req;
	int64_t team_id;
	char *text; /* HogQL text, or the insight query node as JSON */
	bool insight;
	struct sn_team team; /* time zone, week start, test-account filters */
	int64_t now_us;	     /* pinned "now" (test mode), or 0 */
	/* `values`: each placeholder name and its HogQL constant text (one
	 * malloc'd block with the pointer arrays), or none */
	void *vblock;
	struct sn_hogql_values values;
};

struct cohort_list {
	struct sn_arena *a;
	struct sn_hogql_cohort *v;
	size_t n, cap;
};

static int add_cohort(void *arg, int64_t id, const char *name, bool is_static)
{
	struct cohort_list *l = arg;
	if (l->n == l->cap) {
		size_t cap = l->cap * 2;
		struct sn_hogql_cohort *nv = sn_arena_alloc(l->a, cap * sizeof(*nv));
		if (!nv)
			return SN_ERR_NOMEM;
		memcpy(nv, l->v, l->n * sizeof(*nv));
		l->v = nv;
		l->cap = cap;
	}
	struct sn_hogql_cohort *c = &l->v[l->n];
	c->id = id;
	c->is_static = is_static;
	if (!(c->name = sn_arena_strdup(l->a, name)))
		return SN_ERR_NOMEM;
	l->n++;
	return 0;
}

int sn_api_team_cohorts(struct sn_meta *m, int64_t team_id, struct sn_arena *a,
			const struct sn_hogql_cohort **out, size_t *n, struct sn_err *err)
{
	struct cohort_list l = {.a = a, .cap = 16};
	*out = NULL;
	*n = 0;
	if (!(l.v = sn_arena_alloc(a, l.cap * sizeof(*l.v))))
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	int rc = sn_meta_cohort_names(m, team_id, add_cohort, &l, err);
	if (rc == SN_ERR_NOMEM)
		sn_err_set(err, rc, "out of memory");
	if (rc)
		return rc;
	*out = l.v;
	*n = l.n;
	return 0;
}

/* matchesAction() for the executor: the team's action compiled by
 * insights' action compiler. ctx is a struct action_expr_ctx. */
struct action_expr_ctx {
	struct sn_meta *meta;
	int64_t team_id;
	const char *timezone;
};

static int action_expr(void *ctx, int64_t id, const char *name, struct sn_arena *a,
		       const char **text, char *msg, size_t msglen)
{
	const struct action_expr_ctx *c = ctx;
	struct sn_action act;
	struct sn_err err = {0};
	if (sn_meta_action_find(c->meta, c->team_id, id, name, &act, &err)) {
		if (name)
			snprintf(msg, msglen, "Action '%s' does not exist", name);
		else
			snprintf(msg, msglen, "Action %lld does not exist", (long long)id);
		return SN_ERR_NOT_FOUND;
	}
	int64_t aid = act.id;
	sn_action_release(&act);
	struct sn_api_action_ctx actx = {.meta = c->meta, .team_id = c->team_id};
	struct sn_insight_opts o = {.team = {.id = c->team_id, .timezone = c->timezone},
				    .action = sn_api_action_lookup,
				    .action_ctx = &actx};
	struct sn_buf b;
	sn_buf_init(&b, SN_HOGQL_MAX_QUERY_LEN);
	struct sn_insight_error ierr;
	int rc = sn_insight_action_hogql(&o, aid, &b, &ierr);
	if (rc == 0 && !(*text = sn_arena_strndup(a, b.data ? b.data : "0", b.len)))
		rc = SN_ERR_NOMEM;
	if (rc)
		snprintf(msg, msglen, "matchesAction(): %s",
			 ierr.msg[0] ? ierr.msg : "the action could not be compiled");
	sn_buf_release(&b);
	return rc;
}

int sn_api_exec_meta(struct sn_meta *m, struct sn_exec_opts *xo, struct sn_arena *a,
		     struct sn_err *err)
{
	if (!m)
		return 0;
	int rc = sn_api_team_cohorts(m, xo->team_id, a, &xo->cohorts, &xo->ncohorts, err);
	if (rc)
		return rc;
	struct action_expr_ctx *c = sn_arena_alloc(a, sizeof(*c));
	if (!c)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	c->meta = m;
	c->team_id = xo->team_id;
	c->timezone = xo->timezone;
	xo->action_expr = action_expr;
	xo->action_ctx = c;
	return 0;
}

/* Fills xo's cohorts and actions from meta (none when meta is NULL). */
static int exec_cohorts(struct sn_meta *m, struct sn_exec_opts *xo, struct sn_arena *a,
			struct sn_hogql_error *herr)
{
	struct sn_err err = {0};
	if (sn_api_exec_meta(m, xo, a, &err) == 0)
		return 0;
	herr->type = "QueryError";
	snprintf(herr->msg, sizeof(herr->msg), "reading the project's cohorts and actions: %s",
		 err.msg);
	return err.code ? err.code : SN_ERR_IO;
}

/* The executor's options for a statement of the backend's team. */
static int prop_type_lookup(void *ctx, int src, int group_index, const char *name)
{
	const struct sn_api_prop_types *p = ctx;
	int t = SN_PROP_NONE;
	struct sn_err e = {0};
	if (sn_meta_propdef_type(p->meta, p->team_id, src, group_index, name, &t, &e))
		return SN_HQPT_NONE; /* an unreadable definition leaves the property text */
	return t == SN_PROP_DURATION ? SN_HQPT_NONE : t;
}

const struct sn_hogql_prop_types *sn_api_prop_types(struct sn_api_prop_types *p,
						    struct sn_meta *meta, int64_t team_id)
{
	*p = (struct sn_api_prop_types){
	    .pt = {.lookup = prop_type_lookup, .ctx = p}, .meta = meta, .team_id = team_id};
	return meta ? &p->pt : NULL;
}

static struct sn_exec_opts exec_opts_of(const struct sn_api_exec_backend *be, int64_t max_rows)
{
	return (struct sn_exec_opts){.store_dir = be->store_dir,
				     .team_id = be->team_id,
				     .persons = be->persons,
				     .timezone = be->timezone,
				     .now_us = be->now_us,
				     .threads = be->threads,
				     .max_limit = max_rows,
				     .prop_types = be->ptypes.meta ? &be->ptypes.pt : NULL,
				     .cancelled = be->cancelled,
				     .cancel_arg = be->cancel_arg};
}

/* sn_exec_opts.cancelled of a request's statements: its client left. */
static bool client_gone(void *req)
{
	return sn_http_client_gone(req);
}

/* One executor value as an insight value; strings are not copied. */
static void insight_value(const struct sn_exec_value *v, struct sn_insight_value *o)
{
	memset(o, 0, sizeof(*o));
	if (v->null || v->type == SN_XT_NULL)
		return;
	switch (v->type) {
	case SN_XT_DECIMAL: /* insights compute in Float64 */
		o->type = SN_IV_FLOAT;
		o->f = sn_exec_decimal_to_double(v->i, v->dscale);
		break;
	case SN_XT_FLOAT:
		o->type = SN_IV_FLOAT;
		o->f = v->f;
		break;
	case SN_XT_UUID:
		if (v->ubin) {
			o->type = SN_IV_UUID;
			o->u = v->u;
			break;
		}
		/* fall through */
	case SN_XT_STRING:
		o->type = SN_IV_STRING;
		o->s = v->s.p ? v->s.p : "";
		o->slen = v->s.len;
		break;
	case SN_XT_DATE:
		o->type = SN_IV_DATE;
		o->i = v->i;
		break;
	case SN_XT_DATETIME:
		o->type = SN_IV_DATETIME;
		o->i = v->i;
		break;
	default:
		o->type = SN_IV_INT;
		o->i = v->i;
		break;
	}
}

_Static_assert(SN_EXEC_MAX_THREADS <= SN_INSIGHT_MAX_WORKERS, "a worker per scanner thread");

struct stream_ctx {
	int (*sink)(void *sctx, unsigned worker, const struct sn_insight_value *cells, size_t nrows,
		    size_t ncols);
	void *sctx;
	struct sn_insight_value *buf[SN_INSIGHT_MAX_WORKERS]; /* malloc'd, reused per batch */
	size_t cap[SN_INSIGHT_MAX_WORKERS];
};

/* The worker's buffer of at least n values; an error code when worker is
 * out of range or memory runs out. */
static int stream_buf(struct stream_ctx *s, unsigned worker, size_t n)
{
	if (worker >= SN_INSIGHT_MAX_WORKERS)
		return SN_ERR_INTERNAL;
	if (n > s->cap[worker]) {
		struct sn_insight_value *b = realloc(s->buf[worker], n * sizeof(*b));
		if (!b)
			return SN_ERR_NOMEM;
		s->buf[worker] = b;
		s->cap[worker] = n;
	}
	return 0;
}

static int stream_batch(void *ctx, unsigned worker, const struct sn_exec_value *rows, size_t nrows,
			size_t ncols)
{
	struct stream_ctx *s = ctx;
	size_t n = nrows * ncols;
	int rc = stream_buf(s, worker, n);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++)
		insight_value(&rows[i], &s->buf[worker][i]);
	return s->sink(s->sctx, worker, s->buf[worker], nrows, ncols);
}

/* A streamed batch's columns as insight values, column by column. */
static int stream_cols(void *ctx, unsigned worker, const struct sn_exec_column *cols, size_t ncols,
		       size_t nrows)
{
	struct stream_ctx *s = ctx;
	int rc = stream_buf(s, worker, nrows * ncols);
	if (rc)
		return rc;
	struct sn_insight_value *out = s->buf[worker];
	for (size_t j = 0; j < ncols; j++) {
		const struct sn_exec_column *c = &cols[j];
		struct sn_insight_value *o = out + j;
		uint8_t t = c->type == SN_XT_FLOAT || c->type == SN_XT_DECIMAL ? SN_IV_FLOAT
			    : c->type == SN_XT_UUID && c->u		       ? SN_IV_UUID
			    : c->type == SN_XT_STRING || c->type == SN_XT_UUID ? SN_IV_STRING
			    : c->type == SN_XT_DATE			       ? SN_IV_DATE
			    : c->type == SN_XT_DATETIME			       ? SN_IV_DATETIME
			    : c->type == SN_XT_NULL			       ? SN_IV_NULL
									       : SN_IV_INT;
		for (size_t r = 0; r < nrows; r++, o += ncols) {
			if (t == SN_IV_NULL || (c->nulls && c->nulls[r])) {
				*o = (struct sn_insight_value){.type = SN_IV_NULL};
				continue;
			}
			switch (t) {
			case SN_IV_FLOAT:
				*o = (struct sn_insight_value){
				    .type = t,
				    .f = c->f ? c->f[r]
					      : sn_exec_decimal_to_double(c->i[r], c->dscale)};
				break;
			case SN_IV_UUID:
				*o = (struct sn_insight_value){.type = t, .u = c->u[r]};
				break;
			case SN_IV_STRING:
				*o = (struct sn_insight_value){.type = t,
							       .s = c->s[r].p ? c->s[r].p : "",
							       .slen = c->s[r].len};
				break;
			default: *o = (struct sn_insight_value){.type = t, .i = c->i[r]}; break;
			}
		}
	}
	return s->sink(s->sctx, worker, out, nrows, ncols);
}

int sn_api_exec_backend_stream(void *ctx, const char *hogql, size_t len, int64_t max_rows,
			       int (*sink)(void *sctx, unsigned worker,
					   const struct sn_insight_value *cells, size_t nrows,
					   size_t ncols),
			       void *sctx, size_t *nrows, struct sn_hogql_error *err)
{
	const struct sn_api_exec_backend *be = ctx;
	struct stream_ctx sc = {.sink = sink, .sctx = sctx};
	struct sn_exec_opts xo = exec_opts_of(be, max_rows);
	xo.row_sink = stream_batch;
	xo.row_sink_ctx = &sc;
	xo.row_sink_uuid_bits = true; /* the sinks take SN_IV_UUID (insights.h) */
	xo.col_sink = stream_cols;
	struct sn_arena a; /* the cohorts and actions the executor reads */
	sn_arena_init(&a, (size_t)64 << 20);
	struct sn_exec_result res;
	*nrows = 0;
	int rc = exec_cohorts(be->meta, &xo, &a, err);
	if (rc == 0)
		rc = sn_exec_query(&xo, hogql, len, &res, err);
	if (rc == 0) {
		*nrows = res.nrows;
		sn_exec_result_release(&res);
	}
	for (size_t w = 0; w < SN_INSIGHT_MAX_WORKERS; w++)
		free(sc.buf[w]);
	sn_arena_release(&a);
	return rc;
}

int sn_api_exec_backend_query(void *ctx, struct sn_arena *a, const char *hogql, size_t len,
			      int64_t max_rows, struct sn_insight_table *out,
			      struct sn_hogql_error *err)
{
	const struct sn_api_exec_backend *be = ctx;
	struct sn_exec_opts xo = exec_opts_of(be, max_rows);
	struct sn_exec_result res;
	int rc = exec_cohorts(be->meta, &xo, a, err);
	if (rc)
		return rc;
	rc = sn_exec_query(&xo, hogql, len, &res, err);
	if (rc)
		return rc;
	/* Strings stay where the executor put them: its arena joins a (one
	 * copy of millions of actor ids fewer for the row-reading insights),
	 * unless that would pass a's budget, then they are copied. */
	bool adopt = sn_arena_adopt(a, &res.arena) == 0;
	out->ncols = res.ncols;
	out->nrows = res.nrows;
	size_t n = res.ncols * res.nrows;
	out->cells = sn_arena_alloc(a, (n ? n : 1) * sizeof(*out->cells));
	if (!out->cells)
		rc = SN_ERR_NOMEM;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct sn_insight_value *o = &out->cells[i];
		insight_value(&res.cells[i], o);
		if (o->type == SN_IV_STRING && !adopt &&
		    !(o->s = sn_arena_strndup(a, o->s, o->slen)))
			rc = SN_ERR_NOMEM;
	}
	sn_exec_result_release(&res);
	return rc;
}

int sn_api_action_lookup(void *ctx, int64_t id, struct sn_arena *a, char **name,
			 struct json_object **steps)
{
	const struct sn_api_action_ctx *c = ctx;
	struct sn_action act;
	struct sn_err err = {0};
	int rc = sn_meta_action_find(c->meta, c->team_id, id, NULL, &act, &err);
	if (rc)
		return rc;
	*name = sn_arena_strdup(a, act.name ? act.name : "");
	*steps = json_object_get(act.steps);
	sn_action_release(&act);
	return *name ? 0 : SN_ERR_NOMEM;
}

int sn_api_cohort_name(void *ctx, int64_t id, struct sn_arena *a, char **name)
{
	const struct sn_api_action_ctx *c = ctx;
	struct sn_cohort co;
	struct sn_err err = {0};
	int rc = sn_meta_cohort_get(c->meta, c->team_id, id, &co, &err);
	if (rc)
		return rc;
	if (co.deleted)
		rc = SN_ERR_NOT_FOUND;
	else if (!(*name = sn_arena_strdup(a, co.name)))
		rc = SN_ERR_NOMEM;
	sn_cohort_release(&co);
	return rc;
}

/* The error body's "code" for a HogQL exception: PostHog sends the
 * exception's code_name (posthog/hogql/errors.py, raised as a DRF
 * ValidationError in posthog/api/query.py), which clients tell a broken
 * query from a transient failure by. Types PostHog does not expose
 * (snout's NotImplementedError, ...) keep their name. */
static const char *error_code(const char *type)
{
	if (!type || !type[0])
		return "query_error";
	if (strcmp(type, "QueryError") == 0)
		return "hogql_query_error";
	if (strcmp(type, "SyntaxError") == 0)
		return "hogql_syntax_error";
	return type;
}

static void run_insight(struct job *j)
{
	struct sn_err jerr = {0};
	struct json_object *q = NULL, *taf = NULL, *pcf = NULL;
	if (sn_json_parse(j->text, strlen(j->text), &q, &jerr)) {
		sn_http_reply_error(j->req, 400, "validation_error", "parse_error", jerr.msg,
				    "query");
		return;
	}
	if (j->team.test_account_filters[0])
		sn_json_parse(j->team.test_account_filters, strlen(j->team.test_account_filters),
			      &taf, &jerr);
	if (j->team.path_cleaning_filters[0])
		sn_json_parse(j->team.path_cleaning_filters, strlen(j->team.path_cleaning_filters),
			      &pcf, &jerr);
	struct sn_api_action_ctx actx = {.meta = j->api->meta, .team_id = j->team_id};
	struct sn_api_exec_backend be = {.store_dir = j->api->store_dir,
					 .team_id = j->team_id,
					 .persons = j->api->persons,
					 .meta = j->api->meta,
					 .timezone = j->team.timezone,
					 .now_us = j->now_us,
					 .threads = j->api->threads,
					 .cancelled = client_gone,
					 .cancel_arg = j->req};
	sn_api_prop_types(&be.ptypes, j->api->meta, j->team_id);
	struct sn_insight_opts o = {
	    .team = {.id = j->team_id,
		     .timezone = j->team.timezone,
		     .week_start_day = j->team.week_start_day,
		     .test_account_filters = taf,
		     .path_cleaning_filters = pcf},
	    .now_us = j->now_us,
	    .backend = {.ctx = &be,
			.query = sn_api_exec_backend_query,
			.stream = sn_api_exec_backend_stream},
	    .action = sn_api_action_lookup,
	    .action_ctx = &actx,
	    .cohort_name = sn_api_cohort_name,
	    .cohort_ctx = &actx,
	};
	struct sn_buf b;
	sn_buf_init(&b, 64u << 20);
	struct sn_insight_error err;
	int rc = sn_insight_run(&o, q, &b, &err);
	if (rc == 0) {
		sn_http_reply(j->req, 200, "application/json", b.data, b.len);
	} else if (rc == SN_ERR_INVALID || rc == SN_ERR_TOO_BIG) {
		sn_buf_reset(&b);
		sn_buf_appends(&b, "{\"type\":\"validation_error\",\"code\":");
		const char *code = error_code(err.type);
		sn_buf_append_json_str(&b, code, strlen(code));
		sn_buf_appends(&b, ",\"detail\":");
		const char *msg = err.msg[0] ? err.msg : "the insight could not be computed";
		sn_buf_append_json_str(&b, msg, strlen(msg));
		sn_buf_appends(&b, ",\"attr\":null");
		/* EventsQuery's errors point into the user's select/where text
		 * (events_query.c maps them); other kinds' into generated HogQL */
		const char *kind = sn_json_str(sn_json_get(q, "kind"), NULL);
		if (kind && strcmp(kind, "EventsQuery") == 0 && err.hogql.msg[0])
			sn_buf_appendf(&b, ",\"start\":%zu,\"end\":%zu", (size_t)err.hogql.start,
				       (size_t)err.hogql.end);
		sn_buf_appendc(&b, '}');
		sn_http_reply(j->req, 400, "application/json", b.data, b.len);
		sn_http_log_field(j->req, "error", msg);
	} else {
		sn_http_reply_error(j->req, 500, "server_error", "error",
				    err.msg[0] ? err.msg : "the insight failed (I/O)", NULL);
	}
	sn_buf_release(&b);
	json_object_put(taf);
	json_object_put(pcf);
	json_object_put(q);
}

static void reply_hogql_error(struct sn_http_request *req, const struct sn_hogql_error *e)
{
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	sn_buf_appends(&b, "{\"type\":\"validation_error\",\"code\":");
	const char *code = error_code(e->type);
	sn_buf_append_json_str(&b, code, strlen(code));
	sn_buf_appends(&b, ",\"detail\":");
	sn_buf_append_json_str(&b, e->msg, strlen(e->msg));
	sn_buf_appendf(&b, ",\"attr\":null,\"start\":%zu,\"end\":%zu}", (size_t)e->start,
		       (size_t)e->end);
	sn_http_reply(req, 400, "application/json", b.data, b.len);
	sn_http_log_field(req, "error", e->msg);
	sn_buf_release(&b);
}

/* A JSON value as the text of a HogQL constant: strings quoted, numbers as
 * the client wrote them, booleans, NULL, arrays of those. */
static int value_hogql(struct sn_buf *b, struct json_object *v, int depth, const char **bad)
{
	if (depth > 32) {
		*bad = "arrays nested too deeply";
		return SN_ERR_INVALID;
	}
	switch (json_object_get_type(v)) {
	case json_type_null: return sn_buf_appends(b, "NULL");
	case json_type_boolean:
		return sn_buf_appends(b, json_object_get_boolean(v) ? "true" : "false");
	case json_type_int:
	case json_type_double:
		return sn_buf_appends(b, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	case json_type_string:
		return sn_hogql_ch_quote(b, json_object_get_string(v),
					 (size_t)json_object_get_string_len(v));
	case json_type_array: {
		int rc = sn_buf_appendc(b, '[');
		for (size_t i = 0; !rc && i < json_object_array_length(v); i++) {
			if (i)
				rc = sn_buf_appends(b, ", ");
			rc = rc ? rc
				: value_hogql(b, json_object_array_get_idx(v, i), depth + 1, bad);
		}
		return rc ? rc : sn_buf_appendc(b, ']');
	}
	default: *bad = "objects are not supported as placeholder values"; return SN_ERR_INVALID;
	}
}

/* j->values from the request's `values` object: one block holding the
 * name and text pointer arrays, then the strings. 0, or 400 answered. */
static int job_values(struct job *j, struct json_object *values, struct sn_http_request *req)
{
	size_t n = values ? (size_t)json_object_object_length(values) : 0;
	if (!n)
		return 0;
	struct sn_buf txt;
	sn_buf_init(&txt, SN_HOGQL_MAX_QUERY_LEN);
	size_t *noff = calloc(2 * n, sizeof(*noff)), k = 0;
	const char *bad = NULL, *badkey = NULL;
	int rc = noff ? 0 : SN_ERR_NOMEM;
	json_object_object_foreach(values, key, val)
	{
		if (rc)
			break;
		noff[2 * k] = txt.len;
		rc = sn_buf_append(&txt, key, strlen(key) + 1);
		noff[2 * k + 1] = txt.len;
		rc = rc ? rc : value_hogql(&txt, val, 0, &bad);
		rc = rc ? rc : sn_buf_appendc(&txt, '\0');
		if (rc)
			badkey = key;
		k++;
	}
	if (!rc) {
		char *blk = malloc(2 * n * sizeof(char *) + txt.len);
		if (blk) {
			const char **names = (const char **)blk, **exprs = names + n;
			char *strs = blk + 2 * n * sizeof(char *);
			memcpy(strs, txt.data, txt.len);
			for (size_t i = 0; i < n; i++) {
				names[i] = strs + noff[2 * i];
				exprs[i] = strs + noff[2 * i + 1];
			}
			j->vblock = blk;
			j->values = (struct sn_hogql_values){names, exprs, n};
		} else {
			rc = SN_ERR_NOMEM;
		}
	}
	if (rc) {
		char msg[300], attr[200];
		snprintf(msg, sizeof(msg), "query.values.%s: %s", badkey ? badkey : "",
			 bad ? bad : "the values are too large");
		snprintf(attr, sizeof(attr), "query.values.%s", badkey ? badkey : "");
		sn_http_reply_error(req, 400, "validation_error", "invalid_input", msg, attr);
	}
	free(noff);
	sn_buf_release(&txt);
	return rc;
}

static void *run_job(void *arg)
{
	struct job *j = arg;
	if (j->insight) {
		run_insight(j);
		goto done;
	}
	struct sn_exec_opts xo = {.store_dir = j->api->store_dir,
				  .team_id = j->team_id,
				  .persons = j->api->persons,
				  .timezone = j->team.timezone,
				  .now_us = j->now_us,
				  .threads = j->api->threads,
				  .values = j->values.n ? &j->values : NULL,
				  .cancelled = client_gone,
				  .cancel_arg = j->req};
	struct sn_api_prop_types ptypes;
	xo.prop_types = sn_api_prop_types(&ptypes, j->api->meta, j->team_id);
	struct sn_exec_result res;
	struct sn_hogql_error herr;
	memset(&herr, 0, sizeof(herr));
	struct sn_arena ca;
	sn_arena_init(&ca, (size_t)16 << 20);
	int rc = exec_cohorts(j->api->meta, &xo, &ca, &herr);
	if (rc == 0)
		rc = sn_exec_query(&xo, j->text, strlen(j->text), &res, &herr);
	sn_arena_release(&ca);
	if (rc == 0) {
		struct sn_buf b;
		sn_buf_init(&b, 256u << 20);
		if (sn_exec_result_json(&b, &res) == 0)
			sn_http_reply(j->req, 200, "application/json", b.data, b.len);
		else
			sn_http_reply_error(j->req, 500, "server_error", "result_too_large",
					    "the result could not be serialised (too large)", NULL);
		sn_buf_release(&b);
		sn_exec_result_release(&res);
	} else {
		reply_hogql_error(j->req, &herr);
	}
done:;
	struct sn_query_api *api = j->api;
	/* Answered: a client's next query may arrive before this thread is
	 * scheduled again, and must not find this one still counted. */
	__atomic_fetch_sub(&api->admitted, 1, __ATOMIC_RELAXED);
	sn_http_complete(j->req);
	__atomic_fetch_sub(&api->running, 1, __ATOMIC_RELAXED);
	free(j->text);
	free(j->vblock);
	free(j);
	return NULL;
}

/* A HogQLQuery's text with every {filters} placeholder (outside string
 * literals) replaced by its filters' condition (sn_insight_hogql_filters;
 * no filters: the last 7 days). malloc'd; NULL with err for bad filters. */
static char *expand_filters(const struct sn_team *team, struct json_object *node, const char *text,
			    size_t tlen, struct sn_err *err)
{
	static const char ph[] = "{filters}";
	if (!memmem(text, tlen, ph, sizeof(ph) - 1))
		return strndup(text, tlen);
	struct json_object *taf = NULL;
	if (team->test_account_filters[0])
		sn_json_parse(team->test_account_filters, strlen(team->test_account_filters), &taf,
			      NULL);
	struct sn_insight_opts o = {.team = {.id = team->id,
					     .timezone = team->timezone,
					     .week_start_day = team->week_start_day,
					     .test_account_filters = taf}};
	struct sn_buf cond, out;
	sn_buf_init(&cond, SN_HOGQL_MAX_QUERY_LEN);
	sn_buf_init(&out, SN_HOGQL_MAX_QUERY_LEN);
	struct sn_insight_error ierr;
	struct json_object *filters = sn_json_get(node, "filters");
	int rc = sn_insight_hogql_filters(
	    &o, json_object_is_type(filters, json_type_object) ? filters : NULL, &cond, &ierr);
	if (rc)
		sn_err_set(err, SN_ERR_INVALID, "query.filters: %s", ierr.msg);
	char quote = 0;
	for (size_t i = 0; rc == 0 && i < tlen; i++) {
		char ch = text[i];
		if (quote) {
			if (ch == '\\' && i + 1 < tlen) {
				rc = sn_buf_append(&out, text + i, 2);
				i++;
				continue;
			}
			if (ch == quote)
				quote = 0;
		} else if (ch == '\'' || ch == '"' || ch == '`') {
			quote = ch;
		} else if (tlen - i >= sizeof(ph) - 1 && !memcmp(text + i, ph, sizeof(ph) - 1)) {
			rc = sn_buf_append(&out, cond.data, cond.len);
			i += sizeof(ph) - 2;
			continue;
		}
		rc = rc ? rc : sn_buf_appendc(&out, ch);
	}
	if (rc && !err->msg[0])
		sn_err_set(err, SN_ERR_TOO_BIG, "the query is too long with its filters");
	char *res = rc ? NULL : strndup(out.data ? out.data : "", out.len);
	sn_buf_release(&cond);
	sn_buf_release(&out);
	json_object_put(taf);
	return res;
}

/* "/api/projects/12/query/" → 12; -1 when the path is not a query path. */
static int64_t team_of_path(const char *path)
{
	const char *p = NULL;
	if (sn_str_has_prefix(path, "/api/projects/"))
		p = path + strlen("/api/projects/");
	else if (sn_str_has_prefix(path, "/api/environments/"))
		p = path + strlen("/api/environments/");
	if (!p)
		return -1;
	char *end;
	long long id = strtoll(p, &end, 10);
	if (end == p || id <= 0)
		return -1;
	if (strcmp(end, "/query") != 0 && strcmp(end, "/query/") != 0)
		return -1;
	return id;
}

/* The modifiers of a query node (HogQLQueryModifiers) that change answers:
 * the person ones, which decide what events.person_id and person.* mean, and
 * the session ones, which decide sessions.$is_bounce and $channel_type.
 * snout implements PostHog's default of each (docs/HOGQL.md), so another
 * value is refused rather than ignored (an answer computed differently from
 * what was asked would look right). The other modifiers tune how ClickHouse
 * runs a query and change no answer here: accepted. false with msg and attr
 * set when refused. */
static bool modifiers_ok(struct json_object *m, char *msg, size_t msgsz, const char **attr)
{
	static const char *const poe[] = {"disabled", "person_id_no_override_properties_on_events",
					  "person_id_override_properties_on_events",
					  "person_id_override_properties_joined"};
	static const char *const join[] = {"inner", "left"};
	static const char *const bounce[] = {"count_pageviews", "uniq_urls",
					     "uniq_page_screen_autocaptures"};
	static const struct {
		const char *key, *const *values, *ours;
		size_t n;
	} rules[] = {
	    {"personsOnEventsMode", poe, "person_id_override_properties_joined", 4},
	    {"personsJoinMode", join, "left", 2},
	    {"bounceRatePageViewMode", bounce, "count_pageviews", 3},
	};
	if (!m)
		return true;
	if (!json_object_is_type(m, json_type_object)) {
		snprintf(msg, msgsz, "query.modifiers must be an object");
		*attr = "query.modifiers";
		return false;
	}
	for (size_t r = 0; r < SN_ARRAY_LEN(rules); r++) {
		struct json_object *v = sn_json_get(m, rules[r].key);
		if (!v)
			continue;
		const char *s = sn_json_str(v, NULL);
		bool known = false;
		for (size_t k = 0; s && k < rules[r].n; k++)
			known = known || strcmp(s, rules[r].values[k]) == 0;
		*attr = rules[r].key;
		if (!known) {
			snprintf(msg, msgsz,
				 "modifiers.%s must be one of PostHog's values, not %.64s",
				 rules[r].key, s ? s : json_object_to_json_string(v));
			return false;
		}
		if (strcmp(s, rules[r].ours) != 0) {
			snprintf(msg, msgsz,
				 "modifiers.%s = %s is not supported: snout answers with %s "
				 "(docs/HOGQL.md)",
				 rules[r].key, s, rules[r].ours);
			return false;
		}
	}
	/* sessions.$is_bounce: a session of one pageview is not a bounce from
	 * 10 s on (PostHog's DEFAULT_BOUNCE_RATE_DURATION_SECONDS) */
	struct json_object *d = sn_json_get(m, "bounceRateDurationSeconds");
	if (d && !json_object_is_type(d, json_type_null) &&
	    (!(json_object_is_type(d, json_type_int) || json_object_is_type(d, json_type_double)) ||
	     json_object_get_double(d) != 10)) {
		*attr = "bounceRateDurationSeconds";
		snprintf(msg, msgsz,
			 "modifiers.bounceRateDurationSeconds = %.64s is not supported: snout "
			 "answers with 10 (docs/HOGQL.md)",
			 json_object_to_json_string(d));
		return false;
	}
	struct json_object *cr = sn_json_get(m, "customChannelTypeRules");
	if (cr && !json_object_is_type(cr, json_type_null) &&
	    !(json_object_is_type(cr, json_type_array) && json_object_array_length(cr) == 0)) {
		*attr = "customChannelTypeRules";
		snprintf(msg, msgsz,
			 "modifiers.customChannelTypeRules is not supported: snout answers with "
			 "PostHog's default channel rules (docs/HOGQL.md)");
		return false;
	}
	return true;
}

static void query_handler(struct sn_http_request *req, void *ctx)
{
	struct sn_query_api *api = ctx;
	struct sn_err err = {0};
	sn_http_cors(req, "POST, OPTIONS");
	if (sn_http_method(req) == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	int64_t team_id = team_of_path(sn_http_path(req));
	if (team_id < 0) {
		sn_http_reply_error(req, 404, "invalid_request", "not_found", "no such endpoint",
				    NULL);
		return;
	}
	/* Authentication and access (auth.c). */
	struct sn_team team;
	if (sn_api_auth_team(api->meta, req, team_id, NULL, &team))
		return;
	/* The body: {"query": {"kind": "HogQLQuery", "query": "..."}}. */
	if (sn_http_body_too_large(req)) {
		sn_http_reply_error(req, 413, "validation_error", "payload_too_large",
				    "request body too large", NULL);
		return;
	}
	const struct sn_buf *body = sn_http_body(req);
	struct json_object *root = NULL;
	if (sn_json_parse(body->data ? body->data : "", body->len, &root, &err)) {
		sn_http_reply_error(req, 400, "validation_error", "parse_error", err.msg, NULL);
		return;
	}
	struct json_object *q = sn_json_get(root, "query");
	const char *kind = sn_json_str(sn_json_get(q, "kind"), NULL);
	size_t tlen = 0;
	const char *text = sn_json_str(sn_json_get(q, "query"), &tlen);
	struct json_object *values = sn_json_get(q, "values");
	bool insight = kind && sn_insight_kind_supported(kind);
	char mmsg[300];
	const char *mattr = NULL;
	/* A pinned "now" (tests): only when the server runs in test mode. */
	int64_t now_us = 0;
	size_t nowlen = 0;
	const char *now = sn_json_str(sn_json_get(root, "now"), &nowlen);
	bool bad_now = false;
	if (now && !api->test_mode) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "\"now\" can only be pinned when the server runs with "
				    "test_mode = true",
				    "now");
		bad_now = true;
	} else if (now && sn_capture_parse_timestamp(now, nowlen, &now_us)) {
		sn_http_reply_error(
		    req, 400, "validation_error", "invalid_input",
		    "\"now\" must be an ISO 8601 date-time like 2020-01-19T23:59:59Z", "now");
		bad_now = true;
	}
	if (bad_now) {
	} else if (!q || !json_object_is_type(q, json_type_object)) {
		sn_http_reply_error(req, 400, "validation_error", "required",
				    "the body needs a query object: {\"query\": {\"kind\": "
				    "\"HogQLQuery\", \"query\": \"select ...\"}}",
				    "query");
	} else if (!kind || (strcmp(kind, "HogQLQuery") != 0 && !insight)) {
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "query kind '%s' is not supported yet (HogQLQuery, EventsQuery, "
			 "ActorsQuery and the insight kinds are)",
			 kind ? kind : "(missing)");
		sn_http_reply_error(req, 400, "validation_error", "unsupported_kind", msg,
				    "query.kind");
	} else if (!insight && !text) {
		sn_http_reply_error(req, 400, "validation_error", "required",
				    "query.query must be the HogQL text", "query.query");
	} else if (!modifiers_ok(sn_json_get(q, "modifiers"), mmsg, sizeof(mmsg), &mattr)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input", mmsg, mattr);
	} else if (values && !json_object_is_type(values, json_type_object) &&
		   !json_object_is_type(values, json_type_null)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "query.values must be an object of placeholder values "
				    "({\"name\": value}, used as {name} in the query)",
				    "query.values");
	} else if (__atomic_load_n(&api->closing, __ATOMIC_ACQUIRE)) {
		sn_http_reply_error(req, 503, "server_error", "shutting_down",
				    "the server is shutting down; retry", NULL);
	} else if (__atomic_add_fetch(&api->admitted, 1, __ATOMIC_RELAXED) > MAX_RUNNING) {
		__atomic_fetch_sub(&api->admitted, 1, __ATOMIC_RELAXED);
		sn_http_add_header(req, "Retry-After", "1");
		sn_http_reply_error(req, 429, "throttled", "too_many_queries",
				    "too many queries are running; retry shortly", NULL);
	} else {
		__atomic_add_fetch(&api->running, 1, __ATOMIC_RELAXED);
		struct job *j = calloc(1, sizeof(*j));
		char *copy = NULL;
		struct sn_err ferr = {0};
		if (j && insight)
			copy = strdup(json_object_to_json_string_ext(q, JSON_C_TO_STRING_PLAIN));
		else if (j)
			copy = expand_filters(&team, q, text, tlen, &ferr);
		pthread_t t;
		pthread_attr_t attr;
		bool started = false, rejected = ferr.code == SN_ERR_INVALID;
		if (rejected) {
			unadmit(api);
			free(j);
			sn_http_reply_error(req, 400, "validation_error", "invalid_input", ferr.msg,
					    "query.filters");
		} else if (j && copy &&
			   job_values(j,
				      insight || !json_object_is_type(values, json_type_object)
					  ? NULL
					  : values,
				      req)) {
			rejected = true; /* job_values answered 400 */
			unadmit(api);
			free(copy);
			free(j);
		} else if (j && copy) {
			struct sn_hogql_values vals = j->values;
			void *vblock = j->vblock;
			*j = (struct job){.api = api,
					  .req = req,
					  .team_id = team_id,
					  .text = copy,
					  .insight = insight,
					  .team = team,
					  .now_us = now_us,
					  .vblock = vblock,
					  .values = vals};
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			sn_http_defer(req);
			started = pthread_create(&t, &attr, run_job, j) == 0;
			pthread_attr_destroy(&attr);
		}
		if (!started && !rejected) {
			unadmit(api);
			free(copy);
			free(j);
			sn_http_reply_error(req, 503, "server_error", "unavailable",
					    "cannot start the query; retry", NULL);
			sn_http_complete(req); /* harmless when not deferred */
		}
	}
	json_object_put(root);
}

void sn_query_api_use_persons(struct sn_query_api *a, struct sn_persons *persons)
{
	a->persons = persons;
}

void sn_query_api_set_threads(struct sn_query_api *a, unsigned threads)
{
	a->threads = threads;
}

void sn_query_api_set_test_mode(struct sn_query_api *a, bool on)
{
	a->test_mode = on;
}

/* Runs a query node for the saved-insight and dashboard APIs (one place,
 * same options as run_insight / run_job, on the caller's thread). */
int sn_query_api_run_node(struct sn_query_api *a, const struct sn_team *team,
			  struct json_object *node, unsigned threads, struct sn_buf *out,
			  struct sn_err *err)
{
	const char *kind = sn_json_str(sn_json_get(node, "kind"), NULL);
	unsigned th = threads ? threads : a->threads;
	int rc;
	if (kind && sn_insight_kind_supported(kind)) {
		struct json_object *taf = NULL, *pcf = NULL;
		if (team->test_account_filters[0])
			sn_json_parse(team->test_account_filters,
				      strlen(team->test_account_filters), &taf, NULL);
		if (team->path_cleaning_filters[0])
			sn_json_parse(team->path_cleaning_filters,
				      strlen(team->path_cleaning_filters), &pcf, NULL);
		struct sn_api_action_ctx actx = {.meta = a->meta, .team_id = team->id};
		struct sn_api_exec_backend be = {.store_dir = a->store_dir,
						 .team_id = team->id,
						 .persons = a->persons,
						 .meta = a->meta,
						 .timezone = team->timezone,
						 .threads = th};
		sn_api_prop_types(&be.ptypes, a->meta, team->id);
		struct sn_insight_opts o = {
		    .team = {.id = team->id,
			     .timezone = team->timezone,
			     .week_start_day = team->week_start_day,
			     .test_account_filters = taf,
			     .path_cleaning_filters = pcf},
		    .backend = {.ctx = &be,
				.query = sn_api_exec_backend_query,
				.stream = sn_api_exec_backend_stream},
		    .action = sn_api_action_lookup,
		    .action_ctx = &actx,
		    .cohort_name = sn_api_cohort_name,
		    .cohort_ctx = &actx,
		};
		struct sn_insight_error ierr;
		rc = sn_insight_run(&o, node, out, &ierr);
		if (rc)
			sn_err_set(err, rc, "%s",
				   ierr.msg[0] ? ierr.msg : "the insight could not be computed");
		json_object_put(taf);
		json_object_put(pcf);
		return rc;
	}
	size_t tlen = 0;
	const char *raw = sn_json_str(sn_json_get(node, "query"), &tlen);
	if (!kind || strcmp(kind, "HogQLQuery") != 0 || !raw)
		return sn_err_set(err, SN_ERR_INVALID, "query kind '%s' cannot run here",
				  kind ? kind : "(missing)");
	char *text = expand_filters(team, node, raw, tlen, err);
	if (!text)
		return err->code ? err->code : SN_ERR_NOMEM;
	tlen = strlen(text);
	struct sn_exec_opts xo = {.store_dir = a->store_dir,
				  .team_id = team->id,
				  .persons = a->persons,
				  .timezone = team->timezone,
				  .threads = th};
	struct sn_api_prop_types ptypes;
	xo.prop_types = sn_api_prop_types(&ptypes, a->meta, team->id);
	struct sn_exec_result res;
	struct sn_hogql_error herr;
	memset(&herr, 0, sizeof(herr));
	struct sn_arena ca;
	sn_arena_init(&ca, (size_t)16 << 20);
	rc = exec_cohorts(a->meta, &xo, &ca, &herr);
	if (rc == 0)
		rc = sn_exec_query(&xo, text, tlen, &res, &herr);
	sn_arena_release(&ca);
	free(text);
	if (rc)
		return sn_err_set(err, SN_ERR_INVALID, "%s", herr.msg);
	rc = sn_exec_result_json(out, &res);
	if (rc)
		sn_err_set(err, rc, "the result could not be serialised (too large)");
	sn_exec_result_release(&res);
	return rc;
}

int sn_query_api_new(struct sn_query_api **out, struct sn_meta *meta, const char *data_dir,
		     struct sn_err *err)
{
	struct sn_query_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	snprintf(a->store_dir, sizeof(a->store_dir), "%s/store", data_dir);
	*out = a;
	return 0;
}

void sn_query_api_close(struct sn_query_api *a)
{
	if (!a)
		return;
	__atomic_store_n(&a->closing, true, __ATOMIC_RELEASE);
	/* Running queries answer their requests: wait for them (bounded by
	 * their time budget) while the HTTP server still runs. */
	while (__atomic_load_n(&a->running, __ATOMIC_RELAXED) > 0)
		usleep(10000);
}

void sn_query_api_free(struct sn_query_api *a)
{
	free(a);
}

size_t sn_query_api_routes(struct sn_query_api *a, struct sn_http_route *routes, size_t max)
{
	const struct sn_http_route all[] = {
	    {"query", SN_POST | SN_OPTIONS, "/api/projects/*/query/", 1u << 20, query_handler, a},
	    {"query", SN_POST | SN_OPTIONS, "/api/environments/*/query/", 1u << 20, query_handler,
	     a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
