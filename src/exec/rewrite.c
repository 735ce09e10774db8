/*
 * rewrite.c — what the embedded executor rewrites in a parsed statement
 * before resolving it: `IN COHORT` and `matchesAction()`, both names of
 * metadata (a cohort's members, an action's steps) that become plain
 * HogQL.
 *
 *   person_id IN COHORT 'Buyers'
 *     ─▶ person_id IN (SELECT person_id FROM cohort_people WHERE cohort_id = 7)
 *   matchesAction('Signed up')
 *     ─▶ ((event = 'signup' AND properties.$current_url LIKE '%/welcome%') OR ...)
 *
 * cohort_people (dynamic cohorts) and static_cohort_people (static ones)
 * are tables of the person store (persons/cohorts.c) that join.c scans
 * like persons. The subquery is parsed into the statement's arena and then
 * resolved and run like any IN (SELECT ...): the team guard applies to it
 * as to every scan, and subquery.c builds its hash set once per query.
 *
 * Which table holds a cohort's members is metadata: opts->cohorts (the
 * team's cohorts, from meta) names them. A name must be one of them; an id
 * that is not is an error as in PostHog ("Could not find cohort with ID");
 * with no cohort list at all (a data directory opened without metadata) an
 * id reads both tables, as the ClickHouse printer does.
 *
 * An action's condition comes from opts->action_expr (the caller compiles
 * the steps with insights' action compiler, the same condition an
 * ActionsNode series uses), is parsed as an expression and replaces the
 * call node in place.
 *
 * Generated nodes have no positions in the user's text (has_pos is
 * cleared), so an error inside them points at the rewritten comparison or
 * call.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "exec/exec_internal.h"

struct crw {
	struct xctx *c;
	struct sn_arena *a;
	int rc;
};

static void walk(struct crw *w, node_t *n, bool clear_pos);

static void walk_list(struct crw *w, struct sn_hogql_list *l, bool clear_pos)
{
	for (size_t i = 0; i < l->n && !w->rc; i++)
		walk(w, l->items[i], clear_pos);
}

static void walk_select(struct crw *w, struct sn_hogql_select *s, bool clear_pos)
{
	walk_list(w, &s->ctes, clear_pos);
	walk_list(w, &s->select, clear_pos);
	walk(w, s->select_from, clear_pos);
	walk_list(w, &s->array_join_list, clear_pos);
	walk(w, s->prewhere, clear_pos);
	walk(w, s->where, clear_pos);
	walk(w, s->having, clear_pos);
	walk(w, s->qualify, clear_pos);
	walk_list(w, &s->group_by, clear_pos);
	for (size_t i = 0; i < s->nwindows && !w->rc; i++)
		walk(w, s->window_exprs[i], clear_pos);
	walk_list(w, &s->order_by, clear_pos);
	walk_list(w, &s->interpolate, clear_pos);
	walk(w, s->limit_by, clear_pos);
	walk(w, s->limit, clear_pos);
	walk(w, s->offset, clear_pos);
}

/* The member subquery of one IN COHORT comparison. */
static node_t *member_query(struct crw *w, const node_t *n)
{
	const node_t *c = n->b;
	const struct sn_exec_opts *o = w->c->opts;
	const struct sn_hogql_cohort *meta = NULL;
	int64_t id = -1;
	if (c && c->kind == SN_HQ_CONSTANT && c->ctype == SN_HQC_INT && c->ival >= 0) {
		id = c->ival;
		for (size_t i = 0; i < o->ncohorts && !meta; i++)
			if (o->cohorts[i].id == id)
				meta = &o->cohorts[i];
		if (!meta && o->cohorts) {
			w->rc = xfail(w->c, c, SN_ERR_INVALID, "QueryError",
				      "Could not find cohort with ID %" PRId64, id);
			return NULL;
		}
	} else if (c && c->kind == SN_HQ_CONSTANT && c->ctype == SN_HQC_STRING) {
		for (size_t i = 0; i < o->ncohorts && !meta; i++)
			if (o->cohorts[i].name && strcmp(o->cohorts[i].name, c->sval) == 0)
				meta = &o->cohorts[i];
		if (!meta) {
			w->rc = xfail(w->c, c, SN_ERR_INVALID, "QueryError",
				      "Could not find a cohort with the name '%s'", c->sval);
			return NULL;
		}
		id = meta->id;
	} else {
		w->rc = xfail(w->c, c ? c : n, SN_ERR_INVALID, "QueryError",
			      "IN COHORT needs a cohort id or a cohort name");
		return NULL;
	}
	char sql[320];
	if (meta)
		snprintf(sql, sizeof(sql), "SELECT person_id FROM %s WHERE cohort_id = %" PRId64,
			 meta->is_static ? "static_cohort_people" : "cohort_people", id);
	else
		snprintf(sql, sizeof(sql),
			 "SELECT person_id FROM cohort_people WHERE cohort_id = %" PRId64
			 " UNION ALL SELECT person_id FROM static_cohort_people"
			 " WHERE cohort_id = %" PRId64,
			 id, id);
	node_t *q = NULL;
	struct sn_hogql_error e = {0};
	int rc = sn_hogql_parse_select(w->a, sql, strlen(sql), &q, &e);
	if (rc) {
		w->rc = rc == SN_ERR_NOMEM
			    ? xnomem(w->c)
			    : xfail(w->c, n, SN_ERR_INTERNAL, "QueryError", "IN COHORT: %s", e.msg);
		return NULL;
	}
	walk(w, q, true);
	return q;
}

/* matchesAction(id | 'name'): n becomes the action's condition. */
static void matches_action(struct crw *w, node_t *n)
{
	const struct sn_exec_opts *o = w->c->opts;
	const node_t *arg = n->list.n == 1 ? n->list.items[0] : NULL;
	int64_t id = 0;
	const char *name = NULL;
	if (arg && arg->kind == SN_HQ_CONSTANT && arg->ctype == SN_HQC_INT && arg->ival > 0)
		id = arg->ival;
	else if (arg && arg->kind == SN_HQ_CONSTANT && arg->ctype == SN_HQC_STRING)
		name = arg->sval;
	else {
		w->rc = xfail(w->c, n, SN_ERR_INVALID, "QueryError",
			      "matchesAction() takes one argument: an action's id or name");
		return;
	}
	if (!o->action_expr) {
		w->rc = xfail(w->c, n, SN_ERR_INVALID, "QueryError",
			      "matchesAction() needs the project's actions, which this query "
			      "cannot read");
		return;
	}
	const char *text = NULL;
	char msg[256] = "";
	int rc = o->action_expr(o->action_ctx, id, name, w->a, &text, msg, sizeof(msg));
	if (rc) {
		w->rc = xfail(w->c, arg, rc == SN_ERR_NOMEM ? SN_ERR_TOO_BIG : SN_ERR_INVALID,
			      "QueryError", "%s",
			      msg[0] ? msg : "matchesAction(): the action could not be read");
		return;
	}
	node_t *e = NULL;
	struct sn_hogql_error e2 = {0};
	if ((rc = sn_hogql_parse_expr(w->a, text, strlen(text), &e, &e2))) {
		w->rc = rc == SN_ERR_NOMEM ? xnomem(w->c)
					   : xfail(w->c, n, SN_ERR_INTERNAL, "QueryError",
						   "matchesAction(): %s", e2.msg);
		return;
	}
	walk(w, e, true);
	*n = *e; /* the call node becomes the condition, in place */
}

static void walk(struct crw *w, node_t *n, bool clear_pos)
{
	if (!n || w->rc)
		return;
	if (clear_pos)
		n->has_pos = false;
	if (n->kind == SN_HQ_CALL && n->name && strcmp(n->name, "matchesAction") == 0) {
		matches_action(w, n);
		return;
	}
	if (n->kind == SN_HQ_COMPARE && n->op &&
	    (strcmp(n->op, "in cohort") == 0 || strcmp(n->op, "not in cohort") == 0)) {
		node_t *q = member_query(w, n);
		if (!q)
			return;
		n->op = n->op[0] == 'n' ? "not in" : "in";
		n->b = q;
	}
	walk(w, n->a, clear_pos);
	walk(w, n->b, clear_pos);
	walk(w, n->c, clear_pos);
	walk(w, n->d, clear_pos);
	walk_list(w, &n->list, clear_pos);
	walk_list(w, &n->list2, clear_pos);
	walk_list(w, &n->list3, clear_pos);
	if (n->sel)
		walk_select(w, n->sel, clear_pos);
}

int exec_rewrite_cohorts(struct xctx *c, struct sn_arena *a, node_t *ast)
{
	struct crw w = {.c = c, .a = a};
	walk(&w, ast, false);
	return w.rc;
}
