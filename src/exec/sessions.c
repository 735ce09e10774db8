/*
 * sessions.c — the derived `sessions` table (and `raw_sessions`, the same
 * thing) in the embedded executor: `FROM sessions` and the lazy join
 * `events.session.<field>`.
 *
 * We store no pre-aggregated sessions, so a session is one aggregate row
 * per $session_id over the team's events that carry a non-empty one, with
 * exactly the derivations of the ClickHouse printer (clickhouse.c,
 * session_agg; docs/HOGQL.md "Sessions"). The table is materialised by a
 * generated HogQL statement that computes only the fields the query reads,
 * parsed, resolved and run like any nested statement (subquery.c), so its
 * scan carries the caller's team guard and may split over threads:
 *
 *   SELECT $session_id AS __s1, argMax(distinct_id, timestamp) AS __s3,
 *          toUnixTimestamp(max(timestamp)) - toUnixTimestamp(min(timestamp)) AS __s43, ...
 *   FROM events WHERE notEmpty($session_id) GROUP BY $session_id
 *
 * then its columns are renamed to the field names (schema order), so
 * `SELECT *` expands to them like a subquery's columns.
 *
 *   FROM sessions        ─▶ fields the statement names ─▶ generated statement
 *                          ─▶ c->sub (read as a FROM subquery, sub_scan)
 *   events.session.X     ─▶ fields of every XC_SESSION column + session_id
 *                          ─▶ generated statement ─▶ gtab session_id → row
 *                          ─▶ per batch: probe with the event's $session_id
 *
 * The lazy join's side is built once per statement, after planning and
 * before the scan (sess_prepare): one extra aggregate scan of the team's
 * events, as the printer's LEFT JOIN subquery costs on ClickHouse, never
 * once per batch. From then on it is read-only (gtab_get), so scanner
 * threads share it. An event without a session (no $session_id, or one
 * with no row, which cannot happen for a non-empty id) reads NULL for
 * every session field, the executor's convention for a LEFT join miss
 * (join.c); ClickHouse without join_use_nulls reads the type's default.
 *
 * Fields the executor cannot derive are refused (NotImplementedError) where
 * they are named: `$urls` (an Array) and `$event_count_map` (a Map) — the
 * executor has neither type. `SELECT *` leaves them out, as the printer
 * leaves out what it cannot derive. `$channel_type` never reaches here: it
 * is an expression over the $entry_* fields, expanded by the resolver.
 *
 * Rejected alternative: computing sessions in C as a bespoke aggregation
 * during the events scan. It would save generating text, but would
 * duplicate argMin/argMax, NULL skipping and the URL functions, and could
 * drift from the printer's derivations, which the generated statement
 * states in the same words.
 */
#include <stdio.h>
#include <string.h>

#include "exec/exec_internal.h"

/* The built side of events.session.X. */
struct xsess {
	const struct xtable *t;
	struct gtab keys; /* session id → row (ids are rows: keys are unique) */
};

static const struct sn_hogql_table_def *stable(void)
{
	return sn_hogql_table_find("sessions");
}

bool sess_is_table(const char *name)
{
	return name && (strcmp(name, "sessions") == 0 || strcmp(name, "raw_sessions") == 0);
}

/* Why the executor cannot derive field name, or NULL. */
static const char *missing(const char *name)
{
	if (strcmp(name, "$urls") == 0)
		return "sessions.$urls (an Array: the executor has no array type)";
	if (strcmp(name, "$event_count_map") == 0)
		return "sessions.$event_count_map (a Map: the executor has no map type)";
	return NULL;
}

static int field_bit(const char *name)
{
	const struct sn_hogql_table_def *t = stable();
	const struct sn_hogql_field_def *fd = sn_hogql_table_field(t, name);
	return fd ? (int)(fd - t->fields) : -1;
}

/* The aggregate of one field over a session's events, in HogQL; the
 * printer's session_agg says the same in ClickHouse SQL. */
static int derive(struct sn_buf *b, const char *name)
{
	static const char *const url[][3] = {
	    {"$entry_current_url", "argMin", NULL},  {"$exit_current_url", "argMax", NULL},
	    {"$end_current_url", "argMax", NULL},    {"$entry_pathname", "argMin", "path"},
	    {"$exit_pathname", "argMax", "path"},    {"$end_pathname", "argMax", "path"},
	    {"$entry_hostname", "argMin", "domain"}, {"$exit_hostname", "argMax", "domain"},
	};
	static const char *const dur =
	    "toUnixTimestamp(max(timestamp)) - toUnixTimestamp(min(timestamp))";
	for (size_t i = 0; i < SN_ARRAY_LEN(url); i++) {
		if (strcmp(name, url[i][0]) != 0)
			continue;
		/* 'null' reads as NULL, as PostHog's nullIf(argMinMerge(…), 'null') */
		if (url[i][2])
			return sn_buf_appendf(b,
					      "nullIf(%s(nullIf(%s(properties.$current_url, "
					      "timestamp), 'null')), '')",
					      url[i][2], url[i][1]);
		return sn_buf_appendf(b, "nullIf(%s(properties.$current_url, timestamp), 'null')",
				      url[i][1]);
	}
	if (strcmp(name, "id") == 0 || strcmp(name, "session_id") == 0)
		return sn_buf_appends(b, "$session_id");
	if (strcmp(name, "team_id") == 0)
		return sn_buf_appends(b, "any(team_id)");
	if (strcmp(name, "distinct_id") == 0)
		/* the last event's, as PostHog's raw_sessions argMax state */
		return sn_buf_appends(b, "argMax(distinct_id, timestamp)");
	if (strcmp(name, "$start_timestamp") == 0)
		return sn_buf_appends(b, "min(timestamp)");
	if (strcmp(name, "$end_timestamp") == 0)
		return sn_buf_appends(b, "max(timestamp)");
	if (strcmp(name, "$num_uniq_urls") == 0)
		return sn_buf_appends(b, "ifNull(uniqExact(properties.$current_url), 0)");
	if (strncmp(name, "$entry_", 7) == 0) {
		/* referring domain, utm_*, ad ids: the first event's value, '' and
		 * 'null' read as NULL */
		const char *key =
		    strcmp(name, "$entry_referring_domain") == 0 ? "$referring_domain" : name + 7;
		return sn_buf_appendf(
		    b, "nullIf(nullIf(argMin(ifNull(properties.%s, ''), timestamp), 'null'), '')",
		    key);
	}
	if (strcmp(name, "$pageview_count") == 0)
		return sn_buf_appends(b, "countIf(event = '$pageview')");
	if (strcmp(name, "$autocapture_count") == 0)
		return sn_buf_appends(b, "countIf(event = '$autocapture')");
	if (strcmp(name, "$screen_count") == 0)
		return sn_buf_appends(b, "countIf(event = '$screen')");
	if (strcmp(name, "$session_duration") == 0 || strcmp(name, "duration") == 0)
		return sn_buf_appends(b, dur);
	if (strcmp(name, "$is_bounce") == 0)
		/* NULL without pageviews; else not(pageviews > 1 or autocaptures > 0
		 * or duration >= 10 s) */
		return sn_buf_appendf(b,
				      "if(countIf(event = '$pageview') = 0, NULL, "
				      "not(countIf(event = '$pageview') > 1 OR "
				      "countIf(event = '$autocapture') > 0 OR %s >= 10))",
				      dur);
	return SN_ERR_INVALID;
}

/* Runs the statement computing the fields of need (bits: schema order,
 * at least one) into *out, its columns named after the fields. */
static int build(struct xctx *c, const node_t *at, uint64_t need, struct xtable **out)
{
	const struct sn_hogql_table_def *td = stable();
	struct xtable *t = xalloc(c, c->qa, sizeof(*t));
	const char **names = xalloc(c, c->qa, (td->nfields + 1) * sizeof(*names));
	if (!t || !names)
		return c->rc;
	struct sn_buf b;
	sn_buf_init(&b, SN_HOGQL_MAX_QUERY_LEN);
	int brc = sn_buf_appends(&b, "SELECT ");
	size_t n = 0;
	for (size_t k = 0; k < td->nfields && k < 64 && !brc; k++) {
		if (!(need & ((uint64_t)1 << k)))
			continue;
		brc = n ? sn_buf_appends(&b, ", ") : 0;
		brc = brc ? brc : derive(&b, td->fields[k].name);
		brc = brc ? brc : sn_buf_appendf(&b, " AS __s%zu", k);
		names[n++] = td->fields[k].name;
	}
	if (!brc)
		brc = sn_buf_appends(&b, " FROM events WHERE notEmpty($session_id) GROUP BY "
					 "$session_id");
	const char *text = brc ? NULL : sn_arena_strdup(c->qa, b.data);
	sn_buf_release(&b);
	if (brc == SN_ERR_INVALID)
		return xfail(c, at, SN_ERR_INTERNAL, "QueryError", "sessions: underivable field");
	if (!text)
		return xnomem(c);
	struct sn_hogql_error e = {0};
	node_t *root = NULL;
	int rc = sub_generated(c, text, &root, &e);
	if (rc == SN_ERR_NOMEM)
		return c->rc;
	if (rc)
		return xfail(c, at, SN_ERR_INTERNAL, "QueryError", "sessions: %s", e.msg);
	if (sub_run(c, root, false, t))
		return c->rc;
	if (t->ncols != n)
		return xfail(c, at, SN_ERR_INTERNAL, "QueryError", "sessions: %zu columns, not %zu",
			     t->ncols, n);
	t->names = names;
	*out = t;
	return 0;
}

/* ---- FROM sessions ---------------------------------------------------------------- */

/* The fields statement node n reads (not descending into nested
 * statements, which read their own FROM). */
static int need_walk(struct xctx *c, const node_t *n, uint64_t *need, int depth)
{
	if (!n || c->rc)
		return c->rc;
	if (depth > SN_HOGQL_MAX_DEPTH)
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "Expression nests too deeply");
	if (n->kind == SN_HQ_SELECT || n->kind == SN_HQ_SELECT_SET)
		return 0;
	if (n->kind == SN_HQ_FIELD) {
		if (n->ref_kind == SN_HQR_ASTERISK) {
			const struct sn_hogql_table_def *td = stable();
			for (size_t k = 0; k < td->nfields && k < 64; k++)
				if (!td->fields[k].hidden && !missing(td->fields[k].name))
					*need |= (uint64_t)1 << k;
			return 0;
		}
		if (n->ref_kind == SN_HQR_ALIAS) {
			const node_t *t = xfollow_alias(c, n);
			return t != n ? need_walk(c, t, need, depth + 1) : 0;
		}
		if (n->ref_kind == SN_HQR_COLUMN && n->ref_table && n->ref_field &&
		    sess_is_table(n->ref_table->name)) {
			const char *why = missing(n->ref_field->name);
			if (why)
				return xunsupported(c, n, why);
			int k = field_bit(n->ref_field->name);
			if (k >= 0 && k < 64)
				*need |= (uint64_t)1 << k;
		}
		return 0;
	}
	const node_t *kids[] = {n->a, n->b, n->c, n->d};
	for (size_t i = 0; i < SN_ARRAY_LEN(kids); i++)
		need_walk(c, kids[i], need, depth + 1);
	const struct sn_hogql_list *ls[] = {&n->list, &n->list2, &n->list3};
	for (size_t i = 0; i < SN_ARRAY_LEN(ls); i++)
		for (size_t k = 0; k < ls[i]->n; k++)
			need_walk(c, ls[i]->items[k], need, depth + 1);
	return c->rc;
}

int sess_from(struct xctx *c, const node_t *j)
{
	const node_t *t = j->a;
	if (!t || t->kind != SN_HQ_FIELD || t->strs.n != 1 || j->has_list ||
	    !sess_is_table(t->strs.items[0]))
		return 0;
	const struct sn_hogql_select *s = c->sel;
	uint64_t need = 0;
	for (size_t i = 0; i < s->select.n; i++)
		need_walk(c, s->select.items[i], &need, 0);
	need_walk(c, s->where, &need, 0);
	need_walk(c, s->prewhere, &need, 0);
	for (size_t i = 0; i < s->group_by.n; i++)
		need_walk(c, s->group_by.items[i], &need, 0);
	need_walk(c, s->having, &need, 0);
	for (size_t i = 0; i < s->order_by.n; i++)
		need_walk(c, s->order_by.items[i], &need, 0);
	if (c->rc)
		return -1;
	need |= (uint64_t)1 << field_bit("session_id"); /* at least one column */
	struct xtable *tab;
	if (build(c, t, need, &tab))
		return -1;
	c->sub = tab;
	c->from = strcmp(t->strs.items[0], "sessions") == 0 ? "sessions" : "raw_sessions";
	c->from_name = j->name ? j->name : c->from;
	return 1;
}

int sess_ref(struct xctx *c, const node_t *n, const char *const *ch, size_t nch, struct xref *r)
{
	const char *why = missing(ch[0]);
	if (why)
		return xunsupported(c, n, why);
	if (nch != 1 || !c->sub)
		return xunsupported(c, n, "property access on a sessions field");
	if (sub_field(c, ch[0], r))
		return 1;
	return xfail(c, n, SN_ERR_INTERNAL, "QueryError", "sessions field %s was not computed",
		     ch[0]);
}

/* ---- events.session.X --------------------------------------------------------------- */

int sess_join_ref(struct xctx *c, const node_t *n, const char *const *ch, size_t nch,
		  struct xref *r)
{
	const char *why = nch >= 2 ? missing(ch[1]) : NULL;
	if (why)
		return xunsupported(c, n, why);
	if (nch != 2 || field_bit(ch[1]) < 0)
		return xunsupported(c, n, "this sessions field");
	r->kind = XC_SESSION;
	r->name = ch[1];
	return 1;
}

void sess_type(const char *name, uint8_t *t, bool *nullable)
{
	*nullable = true; /* an event without a session reads NULL */
	*t = SN_XT_STRING;
	if (strcmp(name, "team_id") == 0 || strcmp(name, "$session_duration") == 0 ||
	    strcmp(name, "duration") == 0 || strcmp(name, "$num_uniq_urls") == 0)
		*t = SN_XT_INT; /* $num_uniq_urls: ifNull(UInt64, 0) unifies to Int64 here */
	else if (strcmp(name, "$start_timestamp") == 0 || strcmp(name, "$end_timestamp") == 0)
		*t = SN_XT_DATETIME;
	else if (strcmp(name, "$pageview_count") == 0 || strcmp(name, "$autocapture_count") == 0 ||
		 strcmp(name, "$screen_count") == 0)
		*t = SN_XT_UINT;
	else if (strcmp(name, "$is_bounce") == 0)
		*t = SN_XT_BOOL;
}

int sess_prepare(struct xctx *c)
{
	uint64_t need = 0;
	for (size_t i = 0; i < c->ncols; i++)
		if (c->cols[i].kind == XC_SESSION) {
			int k = field_bit(c->cols[i].name);
			if (k >= 0 && k < 64)
				need |= (uint64_t)1 << k;
		}
	if (!need || c->sess)
		return c->rc;
	need |= (uint64_t)1 << field_bit("session_id");
	struct xsess *s = xalloc(c, c->qa, sizeof(*s));
	if (!s)
		return c->rc;
	memset(s, 0, sizeof(*s));
	struct xtable *t;
	if (build(c, NULL, need, &t))
		return c->rc;
	int key = -1;
	for (size_t i = 0; i < t->ncols; i++) {
		if (strcmp(t->names[i], "session_id") == 0)
			key = (int)i;
		/* the values must be what the columns were typed as (sess_type) */
		uint8_t want;
		bool nullable;
		sess_type(t->names[i], &want, &nullable);
		if (t->t[i] != want && t->t[i] != SN_XT_NULL)
			return xfail(c, NULL, SN_ERR_INTERNAL, "QueryError",
				     "sessions field %s has an unexpected type", t->names[i]);
	}
	if (key < 0 || gtab_init(c, &s->keys, 1024))
		return c->rc ? c->rc
			     : xfail(c, NULL, SN_ERR_INTERNAL, "QueryError", "sessions key");
	for (size_t r = 0; r < t->nrows; r++) {
		const struct sn_exec_value *v = &t->cells[r * t->ncols + (size_t)key];
		uint32_t id;
		bool isnew;
		if (gtab_find(c, &s->keys, v->s.p, v->s.len, &id, &isnew))
			return c->rc;
		if (!isnew || id != r)
			return xfail(c, NULL, SN_ERR_INTERNAL, "QueryError",
				     "sessions: duplicate session id");
	}
	s->t = t;
	c->sess = s;
	return 0;
}

int sess_fill(struct xctx *c, struct xcol *x)
{
	const struct xcol *d = x->dep >= 0 ? &c->cols[x->dep] : NULL;
	const struct xsess *s = c->sess;
	if (!d || d->v.n != c->n || !s)
		return xfail(c, NULL, SN_ERR_INTERNAL, "QueryError", "session of %s not prepared",
			     x->name);
	const struct xtable *t = s->t;
	size_t col = 0;
	while (col < t->ncols && strcmp(t->names[col], x->name) != 0)
		col++;
	if (col == t->ncols)
		return xfail(c, NULL, SN_ERR_INTERNAL, "QueryError", "session field %s not built",
			     x->name);
	struct vec *v = &x->v;
	if (vec_make(c, v, x->t, true, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		uint32_t id;
		if (vec_null(&d->v, r) || !d->v.s[r].len ||
		    !gtab_get(&s->keys, d->v.s[r].p, d->v.s[r].len, &id)) {
			v->nulls[r] = 1;
			continue;
		}
		const struct sn_exec_value *e = &t->cells[(size_t)id * t->ncols + col];
		if (e->null || e->type == SN_XT_NULL) {
			v->nulls[r] = 1;
			continue;
		}
		if (v->s)
			v->s[r] = e->s;
		else if (v->f)
			v->f[r] = e->f;
		else
			v->i[r] = e->i;
	}
	return 0;
}
