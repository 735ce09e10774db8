/*
 * subquery.c — statements inside statements: subqueries and CTEs in FROM,
 * expr [NOT] IN (SELECT ...), scalar (SELECT ...) values, `WITH expr AS
 * name`, and UNION ALL, at the top and inside FROM.
 *
 * Every nested statement runs to completion first and is materialised as
 * a struct xtable (rows of sn_exec_value in the query arena), then the
 * statement around it reads that table:
 *
 *   root ctx ─sub_run─▶ SELECT ctx ─check_shape─▶ sub_from ─sub_run─▶ inner ctx
 *                          │                          └─▶ xtable ─sub_scan─▶ batches
 *                          └─ WHERE x IN (SELECT …) ─sub_in─▶ xtable ─▶ hash set
 *
 * Each statement gets its own context (struct xctx: columns, bindings,
 * FROM) whose parent is the statement it is nested in; all of them share
 * the query arena, so the memory budget bounds the sum of every
 * materialised result, group table and row set of the query, and the time
 * budget is one deadline. Every context reads the same opts, so every
 * scan at any depth is guarded by the caller's team (§4.6): a subquery
 * cannot name another team, it can only filter the caller's rows.
 *
 * CTEs (`WITH x AS (SELECT ...)`) are materialised once per query, on
 * first use, and shared by every use; subqueries of IN and scalar
 * subqueries are cached by node in the same list, so an IN in a WHERE
 * runs its subquery once, not once per batch, and builds its hash set
 * once. That is only correct because nested statements cannot read the
 * outer statement's row: references to an outer query's columns
 * (correlated subqueries) are refused when planned (exec.c visit_cols).
 * A CTE's body runs with the statement that defines it as parent and the
 * CTE marked open, so inside its own body its name is the table again, as
 * the resolver has it.
 *
 * IN follows ClickHouse with transform_null_in=1, as PostHog runs it
 * (§4.3): NULL is a value like any other, so NULL IN (SELECT NULL) is 1
 * and NOT IN keeps a NULL row unless the subquery returned NULL. Keys are
 * normalised before hashing so values ClickHouse compares as equal hash
 * alike: numbers (an integral Float64 hashes as its Int64), text (String
 * and UUID), time (Date as its midnight, and a String side parsed as a
 * date/time, matching nothing when it does not parse).
 *
 * UNION ALL concatenates its members' results; each member of the
 * top-level statement has its own LIMIT (the resolver put it there, §4.7)
 * and hasMore is set when any member had more. Column names are the first
 * member's; types are unified per column (Int64 with Float64 is Float64,
 * String with UUID is String, Date with DateTime is DateTime, NULL with
 * anything is Nullable), anything else is an error, as in ClickHouse.
 *
 * Rejected alternative: inlining subqueries into the outer plan (pushing
 * the outer WHERE down, streaming inner batches into the outer operators).
 * It saves the materialisation, but every operator would need a streaming
 * input and the outer statement could no longer be typed before its input
 * runs; insight queries' subqueries are aggregates much smaller than the
 * scans that produce them, so materialising costs little.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec_internal.h"

#define SUB_BATCH   4096
#define US_PER_DAY_ (86400LL * 1000000LL)

/* A materialised CTE or subquery, found again by its node. */
struct xmat {
	struct xmat *next;
	const node_t *n;
	struct xtable t;
	bool set_built; /* IN: set and cls are valid */
	int cls;
	struct gtab set;
};

/* ---- contexts ---------------------------------------------------------------------- */

/* A context for a statement nested in parent's. Heap-allocated rather than
 * in the query arena: it is scratch that dies with the statement, and the
 * budget should count results, not bookkeeping. */
static struct xctx *child_new(struct xctx *parent)
{
	struct xctx *c = calloc(1, sizeof(*c));
	if (!c) {
		xnomem(parent);
		return NULL;
	}
	c->parent = parent;
	c->q = parent->q;
	c->level = parent->level + 1;
	c->src = parent->src;
	c->len = parent->len;
	c->err = parent->err;
	c->opts = parent->opts;
	c->qa = parent->qa;
	c->mem_limit = parent->mem_limit;
	c->now_us = parent->now_us;
	c->tz = parent->tz;
	c->deadline_ns = parent->deadline_ns;
	c->time_limit_us = parent->time_limit_us;
	c->stats = parent->stats;
	return c;
}

/* ---- UNION ALL ------------------------------------------------------------------------ */

static bool intlike(uint8_t t)
{
	return t == SN_XT_BOOL || t == SN_XT_INT || t == SN_XT_UINT;
}
static bool numeric(uint8_t t)
{
	return intlike(t) || t == SN_XT_FLOAT;
}
static bool textual(uint8_t t)
{
	return t == SN_XT_STRING || t == SN_XT_UUID;
}
static bool timelike(uint8_t t)
{
	return t == SN_XT_DATE || t == SN_XT_DATETIME;
}

/* The common type of a and b, false when ClickHouse has none. */
static bool unify(uint8_t a, uint8_t b, uint8_t *out)
{
	if (a == b || b == SN_XT_NULL)
		*out = a;
	else if (a == SN_XT_NULL)
		*out = b;
	else if (intlike(a) && intlike(b))
		*out = SN_XT_INT;
	else if (numeric(a) && numeric(b))
		*out = SN_XT_FLOAT;
	else if (textual(a) && textual(b))
		*out = SN_XT_STRING;
	else if (timelike(a) && timelike(b))
		*out = SN_XT_DATETIME;
	else
		return false;
	return true;
}

static void convert_cell(struct sn_exec_value *v, uint8_t to)
{
	uint8_t from = v->type;
	v->type = to;
	if (v->null || from == to || from == SN_XT_NULL)
		return;
	if (to == SN_XT_FLOAT && intlike(from))
		v->f = (double)v->i;
	else if (to == SN_XT_DATETIME && from == SN_XT_DATE)
		v->i *= US_PER_DAY_;
}

static void convert_table(struct xtable *t, size_t col, uint8_t to)
{
	for (size_t r = 0; r < t->nrows; r++)
		convert_cell(&t->cells[r * t->ncols + col], to);
}

/* Brings the columns of two members of a set operation to common types
 * (the first member's names stay). */
static int unify_tables(struct xctx *c, const node_t *at, const char *op, struct xtable *a,
			struct xtable *b)
{
	if (a->ncols != b->ncols)
		return xfail(c, at, SN_ERR_INVALID, "QueryError",
			     "%s members return different numbers of columns (%zu and %zu)", op,
			     a->ncols, b->ncols);
	for (size_t i = 0; i < a->ncols; i++) {
		uint8_t t;
		const char *ca = a->ct ? a->ct[i] : NULL, *cb = b->ct ? b->ct[i] : NULL;
		if (!unify(a->t[i], b->t[i], &t) ||
		    ((ca || cb) && (!ca || !cb || strcmp(ca, cb)))) {
			char ta[48], tb[48];
			return xfail(c, at, SN_ERR_INVALID, "QueryError",
				     "%s members have no common type for column %zu (%s) and %s",
				     op, i + 1,
				     ca ? ca : sn_exec_type_name(a->t[i], false, ta, sizeof(ta)),
				     cb ? cb : sn_exec_type_name(b->t[i], false, tb, sizeof(tb)));
		}
		convert_table(a, i, t);
		convert_table(b, i, t);
		a->nullable[i] = a->nullable[i] || b->nullable[i] || a->t[i] == SN_XT_NULL ||
				 b->t[i] == SN_XT_NULL;
		a->t[i] = t;
	}
	return 0;
}

/* Appends b's rows to a (both results of UNION members; op for errors). */
static int union_append(struct xctx *c, const node_t *at, const char *op, struct xtable *a,
			struct xtable *b)
{
	if (unify_tables(c, at, op, a, b))
		return c->rc;
	size_t n = a->nrows + b->nrows;
	struct sn_exec_value *cells = xalloc(c, c->qa, (n * a->ncols + 1) * sizeof(*cells));
	if (!cells)
		return c->rc;
	if (a->nrows)
		memcpy(cells, a->cells, a->nrows * a->ncols * sizeof(*cells));
	if (b->nrows)
		memcpy(cells + a->nrows * a->ncols, b->cells, b->nrows * b->ncols * sizeof(*cells));
	a->cells = cells;
	a->nrows = n;
	a->has_more |= b->has_more;
	return 0;
}

/* Row r's bytes as a set key (value_key of each cell: NULL equals NULL,
 * as in ClickHouse's sets). */
static int row_key(struct xctx *c, struct sn_buf *b, const struct xtable *t, size_t r)
{
	sn_buf_reset(b);
	for (size_t i = 0; i < t->ncols; i++)
		if (value_key(b, &t->cells[r * t->ncols + i]))
			return xnomem(c);
	return 0;
}

/* Keeps the rows of a for which keep(row in set) holds, in order; with
 * set NULL, keeps each row's first occurrence (DISTINCT). */
static int filter_rows(struct xctx *c, struct xtable *a, const struct gtab *set, bool in_set)
{
	struct gtab seen;
	struct sn_buf b;
	if (!set && gtab_init(c, &seen, 1024))
		return c->rc;
	sn_buf_init(&b, (size_t)256 << 20);
	size_t out = 0;
	for (size_t r = 0; r < a->nrows && !c->rc; r++) {
		if ((r & 4095) == 0 && xcheck_budget(c))
			break;
		if (row_key(c, &b, a, r))
			break;
		bool keep;
		uint32_t id;
		if (set) {
			keep =
			    (set->n && gtab_get(set, b.data ? b.data : "", b.len, &id)) == in_set;
		} else if (gtab_find(c, &seen, b.data ? b.data : "", b.len, &id, &keep)) {
			break;
		}
		if (keep && out != r)
			memcpy(&a->cells[out * a->ncols], &a->cells[r * a->ncols],
			       a->ncols * sizeof(*a->cells));
		out += keep;
	}
	sn_buf_release(&b);
	if (!c->rc)
		a->nrows = out;
	return c->rc;
}

/* a's rows filtered by membership in b (INTERSECT keeps the rows of a that
 * b has, EXCEPT those it has not — every copy, as ClickHouse's ALL forms);
 * DISTINCT then drops repeats. */
static int intersect_except(struct xctx *c, const node_t *at, const char *op, struct xtable *a,
			    struct xtable *b)
{
	if (unify_tables(c, at, op, a, b))
		return c->rc;
	struct gtab set;
	struct sn_buf k;
	if (gtab_init(c, &set, 1024))
		return c->rc;
	sn_buf_init(&k, (size_t)256 << 20);
	for (size_t r = 0; r < b->nrows && !c->rc; r++) {
		uint32_t id;
		bool isnew;
		if (((r & 4095) == 0 && xcheck_budget(c)) || row_key(c, &k, b, r) ||
		    gtab_find(c, &set, k.data ? k.data : "", k.len, &id, &isnew))
			break;
	}
	sn_buf_release(&k);
	if (c->rc || filter_rows(c, a, &set, strncmp(op, "INTERSECT", 9) == 0))
		return c->rc;
	a->has_more |= b->has_more;
	return strcmp(op, "INTERSECT DISTINCT") == 0 ? filter_rows(c, a, NULL, false) : 0;
}

int sub_generated(struct xctx *c, const char *text, node_t **root, struct sn_hogql_error *e)
{
	struct sn_hogql_resolve_opts ro = {.team_id = c->opts->team_id};
	int rc = sn_hogql_parse_select(c->qa, text, strlen(text), root, e);
	if (!rc)
		rc = sn_hogql_resolve(c->qa, *root, text, strlen(text), &ro, e);
	if (rc == SN_ERR_NOMEM || rc == SN_ERR_TOO_BIG) {
		xnomem(c);
		return SN_ERR_NOMEM;
	}
	if (rc)
		return rc;
	if ((*root)->kind != SN_HQ_SELECT)
		SN_BUG("%s", "a generated statement is no SELECT");
	(*root)->sel->limit = NULL; /* the resolver's default LIMIT is for the user's statement */
	(*root)->sel->offset = NULL;
	return 0;
}

/* Member *i of a set operation (0: root->a, k: root->list.items[k - 1])
 * and the members that follow it through INTERSECT, intersected; *i moves
 * past them. */
static int set_term(struct xctx *parent, const node_t *root, bool top, size_t *i,
		    struct xtable *out)
{
	const node_t *first = *i ? root->list.items[*i - 1]->a : root->a;
	if (sub_run(parent, first, top, out))
		return parent->rc;
	for (++*i; *i <= root->list.n; ++*i) {
		const node_t *m = root->list.items[*i - 1];
		if (!m->op || strncmp(m->op, "INTERSECT", 9) != 0)
			break;
		const node_t *at = m->a && m->a->has_pos ? m->a : m;
		struct xtable t;
		if (sub_run(parent, m->a, top, &t) || intersect_except(parent, at, m->op, out, &t))
			return parent->rc;
	}
	return 0; /* *i: the next member, n + 1 after the last */
}

int sub_run(struct xctx *parent, const node_t *root, bool top, struct xtable *out)
{
	memset(out, 0, sizeof(*out));
	if (parent->rc)
		return parent->rc;
	if (parent->level >= XMAX_DEPTH)
		return xfail(parent, root, SN_ERR_INVALID, "QueryError",
			     "Subqueries nest too deeply (at most %d levels)", XMAX_DEPTH);
	if (root->kind == SN_HQ_SELECT) {
		struct xctx *c = child_new(parent);
		if (!c)
			return parent->rc;
		exec_select(c, root, top, out);
		if (c->rc && !parent->rc)
			parent->rc = c->rc;
		free(c);
		return parent->rc;
	}
	if (root->kind != SN_HQ_SELECT_SET)
		return xunsupported(parent, root, "this statement");
	/* Members combine as ClickHouse combines them: INTERSECT first (it
	 * binds tighter), then UNION and EXCEPT from left to right. A member's
	 * operator is the one before it. */
	size_t n = root->list.n, i = 0;
	if (set_term(parent, root, top, &i, out))
		return parent->rc;
	while (i <= n) {
		const node_t *m = root->list.items[i - 1];
		const node_t *at = m->a && m->a->has_pos ? m->a : m;
		const char *op = m->op ? m->op : "UNION ALL";
		struct xtable t;
		if (set_term(parent, root, top, &i, &t))
			return parent->rc;
		if (strcmp(op, "UNION ALL") == 0 || strcmp(op, "UNION DISTINCT") == 0) {
			if (union_append(parent, at, op, out, &t) ||
			    (strcmp(op, "UNION DISTINCT") == 0 &&
			     filter_rows(parent, out, NULL, false)))
				return parent->rc;
		} else if (strcmp(op, "EXCEPT") == 0 || strcmp(op, "EXCEPT ALL") == 0) {
			if (intersect_except(parent, at, op, out, &t))
				return parent->rc;
		} else {
			return xunsupported(parent, at, "this set operation");
		}
	}
	return 0;
}

/* ---- materialised statements ---------------------------------------------------------- */

static struct xmat *mat_find(const struct xctx *c, const node_t *n)
{
	for (struct xmat *m = c->q->mats; m; m = m->next)
		if (m->n == n)
			return m;
	return NULL;
}

/* The materialised result of statement n, run with parent as the
 * statement around it (once per query). */
static struct xmat *mat_get(struct xctx *c, struct xctx *parent, const node_t *n)
{
	struct xmat *m = mat_find(c, n);
	if (m)
		return m;
	m = xalloc(c, c->qa, sizeof(*m));
	if (!m)
		return NULL;
	memset(m, 0, sizeof(*m));
	m->n = n;
	if (sub_run(parent, n, false, &m->t)) {
		if (!c->rc)
			c->rc = parent->rc;
		return NULL;
	}
	m->next = c->q->mats;
	c->q->mats = m;
	return m;
}

static bool cte_open(const struct xctx *c, const node_t *cte)
{
	for (size_t i = 0; i < c->q->nopen; i++)
		if (c->q->open[i] == cte)
			return true;
	return false;
}

/* The CTE called name of type "subquery" or "column" visible from c's
 * statement, and the context of the statement that defines it. */
static const node_t *find_cte(const struct xctx *c, const char *name, const char *type,
			      const struct xctx **where)
{
	for (const struct xctx *x = c; x; x = x->parent) {
		const struct sn_hogql_select *s = x->sel;
		for (size_t i = 0; s && s->has_ctes && i < s->ctes.n; i++) {
			const node_t *cte = s->ctes.items[i];
			if (cte->name && cte->op && strcmp(cte->name, name) == 0 &&
			    strcmp(cte->op, type) == 0 && !cte_open(c, cte)) {
				if (where)
					*where = x;
				return cte;
			}
		}
	}
	return NULL;
}

int sub_from(struct xctx *c, const node_t *j)
{
	const node_t *t = j->a;
	if (!t)
		return 0;
	if (t->kind == SN_HQ_SELECT || t->kind == SN_HQ_SELECT_SET) {
		struct xtable *tab = xalloc(c, c->qa, sizeof(*tab));
		if (!tab || sub_run(c, t, false, tab))
			return -1;
		c->sub = tab;
		c->from = "subquery";
		c->from_name = j->name ? j->name : "";
		return 1;
	}
	if (t->kind != SN_HQ_FIELD || t->strs.n != 1 || j->has_list)
		return 0;
	const struct xctx *where = NULL;
	const node_t *cte = find_cte(c, t->strs.items[0], "subquery", &where);
	if (!cte)
		return 0;
	struct xquery *q = c->q;
	if (q->nopen >= SN_ARRAY_LEN(q->open))
		return xfail(c, t, SN_ERR_INVALID, "QueryError", "CTEs nest too deeply");
	q->open[q->nopen++] = cte;
	struct xmat *m = mat_get(c, (struct xctx *)where, cte->a);
	q->nopen--;
	if (!m)
		return -1;
	c->sub = &m->t;
	c->from = "subquery";
	c->from_name = j->name ? j->name : t->strs.items[0];
	return 1;
}

const node_t *sub_cte_expr(const struct xctx *c, const node_t *n)
{
	if (!n || n->kind != SN_HQ_FIELD || n->strs.n != 1)
		return NULL;
	const node_t *cte = find_cte(c, n->strs.items[0], "column", NULL);
	return cte ? cte->a : NULL;
}

const node_t *xfollow_alias(const struct xctx *c, const node_t *n)
{
	for (int guard = 0; n && guard < XMAX_DEPTH; guard++) {
		const node_t *t = follow_alias(c->sel, n);
		if (t->kind != SN_HQ_FIELD || t->ref_kind != SN_HQR_ALIAS)
			return t;
		/* an ARRAY JOIN alias: its item (exec.c binds it to the elements) */
		for (size_t i = 0; c->sel && t->strs.n == 1 && i < c->sel->array_join_list.n; i++) {
			const node_t *it = c->sel->array_join_list.items[i];
			if (it->kind == SN_HQ_ALIAS && strcmp(it->name, t->strs.items[0]) == 0)
				return it;
		}
		const node_t *e = sub_cte_expr(c, t);
		if (!e)
			return t;
		n = e;
	}
	return n;
}

/* ---- FROM (subquery) ------------------------------------------------------------------- */

bool sub_field(const struct xctx *c, const char *name, struct xref *r)
{
	for (size_t i = 0; c->sub && i < c->sub->ncols; i++)
		if (strcmp(c->sub->names[i], name) == 0) {
			r->kind = XC_SUB;
			r->name = c->sub->names[i];
			r->gidx = (int)i;
			return true;
		}
	return false;
}

int sub_ref(struct xctx *c, const node_t *n, struct xref *r)
{
	memset(r, 0, sizeof(*r));
	if (!c->sub)
		return xunsupported(c, n, "this subquery column");
	const char *const *ch = n->strs.items;
	size_t nch = n->strs.n;
	if (nch > 1 && n->ref_source && strcmp(ch[0], n->ref_source) == 0) {
		ch++;
		nch--;
	}
	if (nch != 1)
		return xunsupported(c, n, "property access on a subquery's column");
	if (sub_field(c, ch[0], r))
		return 1;
	return xfail(c, n, SN_ERR_INVALID, "QueryError", "Unable to resolve field: %s", ch[0]);
}

int expand_stars(struct xctx *c, const struct sn_hogql_select **sel, size_t per,
		 node_t *(*make)(struct xctx *c, const node_t *star, size_t k, void *arg),
		 void *arg)
{
	const struct sn_hogql_select *s = *sel;
	size_t stars = 0;
	for (size_t i = 0; i < s->select.n; i++)
		stars += s->select.items[i]->kind == SN_HQ_FIELD &&
			 s->select.items[i]->ref_kind == SN_HQR_ASTERISK;
	if (!stars)
		return 0;
	size_t n = s->select.n - stars + stars * per;
	node_t **items = xalloc(c, c->qa, (n + 1) * sizeof(*items));
	struct sn_hogql_select *copy = xalloc(c, c->qa, sizeof(*copy));
	if (!items || !copy)
		return c->rc;
	*copy = *s;
	size_t m = 0;
	for (size_t i = 0; i < s->select.n; i++) {
		node_t *e = s->select.items[i];
		if (e->kind != SN_HQ_FIELD || e->ref_kind != SN_HQR_ASTERISK) {
			items[m++] = e;
			continue;
		}
		for (size_t k = 0; k < per; k++)
			if (!(items[m++] = make(c, e, k, arg)))
				return c->rc ? c->rc : xnomem(c);
	}
	copy->select = (struct sn_hogql_list){.items = items, .n = m};
	*sel = copy;
	return 0;
}

node_t *xfield_named(struct xctx *c, const char *name)
{
	node_t *f = sn_hogql_node_new(c->qa, SN_HQ_FIELD);
	const char **slot = xalloc(c, c->qa, sizeof(*slot));
	if (!f || !slot)
		return NULL;
	*slot = name; /* the Field's own copy of the pointer */
	f->strs = (struct sn_hogql_strs){.items = slot, .n = 1};
	f->has_strs = true;
	return f;
}

/* The subquery's column k, as a Field naming it. */
static node_t *sub_col_field(struct xctx *c, const node_t *star, size_t k, void *arg)
{
	(void)star;
	(void)arg;
	node_t *f = xfield_named(c, c->sub->names[k]);
	if (!f)
		return NULL;
	f->ref_kind = SN_HQR_SUBQUERY_COL;
	f->ref_source = c->from_name;
	f->rtype.resolved = true;
	return f;
}

int sub_expand_star(struct xctx *c, const struct sn_hogql_select **sel)
{
	return expand_stars(c, sel, c->sub->ncols, sub_col_field, NULL);
}

/* Column col of rows [r0, r0 + m) as a vector of the column's type. */
static int fill_col(struct xctx *c, const struct xtable *t, struct xcol *x, size_t r0, size_t m)
{
	struct vec *v = &x->v;
	size_t col = (size_t)x->gidx;
	if (vec_make(c, v, x->t, x->nullable, m))
		return c->rc;
	v->ct = x->ct;
	for (size_t k = 0; k < m; k++) {
		const struct sn_exec_value *e = &t->cells[(r0 + k) * t->ncols + col];
		if (e->null || e->type == SN_XT_NULL) {
			if (v->nulls)
				v->nulls[k] = 1;
			continue;
		}
		if (v->s)
			v->s[k] = e->s;
		else if (v->f)
			v->f[k] = e->type == SN_XT_FLOAT ? e->f : (double)e->i;
		else
			v->i[k] = e->i;
	}
	return 0;
}

int sub_scan(struct xctx *c, int (*fn)(struct xctx *c, void *arg), void *arg)
{
	const struct xtable *t = c->sub;
	for (size_t r0 = 0; r0 < t->nrows && !c->rc; r0 += SUB_BATCH) {
		if (xcheck_budget(c))
			return c->rc;
		size_t m = t->nrows - r0 < SUB_BATCH ? t->nrows - r0 : SUB_BATCH;
		struct sn_arena ba;
		sn_arena_init(&ba, c->mem_limit);
		c->ba = &ba;
		for (size_t i = 0; i < c->ncols && !c->rc; i++)
			if (c->cols[i].kind == XC_SUB)
				fill_col(c, t, &c->cols[i], r0, m);
		c->n = m;
		if (!c->rc)
			fn(c, arg);
		sn_arena_release(&ba);
		c->ba = NULL;
	}
	return c->rc;
}

/* ---- IN (SELECT ...) ------------------------------------------------------------------- */

/* K_DFLT: a Decimal against a Float64, both keyed as Float64 (their
 * comparison's type, decimal.c) */
enum { K_NONE, K_NUM, K_TEXT, K_TIME, K_DFLT };

static int key_class(uint8_t a, uint8_t b)
{
	if (a == SN_XT_NULL)
		a = b;
	if (b == SN_XT_NULL)
		b = a;
	bool da = a == SN_XT_DECIMAL, db = b == SN_XT_DECIMAL;
	if ((da && b == SN_XT_FLOAT) || (db && a == SN_XT_FLOAT))
		return K_DFLT;
	if (a == SN_XT_NULL || ((numeric(a) || da) && (numeric(b) || db)))
		return K_NUM;
	if (textual(a) && textual(b))
		return K_TEXT;
	if ((timelike(a) || a == SN_XT_STRING) && (timelike(b) || b == SN_XT_STRING))
		return K_TIME;
	return K_NONE;
}

/* The normalised key of v in b: 1, or 0 when v cannot equal anything (a
 * text that is no date/time compared with times). */
static int in_key(struct sn_buf *b, int cls, const struct sn_exec_value *v, bool *nomem)
{
	char tag;
	int64_t i = 0;
	double f = 0;
	const void *p = &i;
	size_t len = sizeof(i);
	uint8_t dbuf[1 + sizeof(int64_t)];
	sn_buf_reset(b);
	if (v->null || v->type == SN_XT_NULL) {
		tag = 'N';
		len = 0;
	} else if (cls == K_TEXT) {
		tag = 's';
		p = v->s.p;
		len = v->s.len;
	} else if (cls == K_TIME) {
		tag = 't';
		bool date_only;
		if (v->type == SN_XT_DATE)
			i = v->i * US_PER_DAY_;
		else if (v->type == SN_XT_DATETIME)
			i = v->i;
		else if (!parse_datetime(v->s.p, v->s.len, &i, &date_only))
			return 0;
	} else if (cls == K_DFLT) {
		tag = 'f';
		f = v->type == SN_XT_DECIMAL ? xdec_to_double(v->i, v->dscale)
		    : v->type == SN_XT_FLOAT ? v->f
		    : v->type == SN_XT_UINT  ? (double)(uint64_t)v->i
					     : (double)v->i;
		if (f == 0)
			f = 0.0; /* -0.0 and 0.0 are one key */
		p = &f;
		len = sizeof(f);
	} else if (v->type == SN_XT_DECIMAL) {
		/* A whole decimal keys as its integer; any other as its mantissa
		 * and scale without trailing zeros, so 1.5 of any scale is one key */
		unsigned s = v->dscale;
		int64_t m = v->i;
		while (s > 0 && m % 10 == 0) {
			m /= 10;
			s--;
		}
		i = m;
		if (s == 0) {
			tag = 'i';
		} else {
			tag = 'd';
			dbuf[0] = (uint8_t)s;
			memcpy(dbuf + 1, &m, sizeof(m));
			p = dbuf;
			len = sizeof(dbuf);
		}
	} else if (v->type == SN_XT_FLOAT) {
		f = v->f;
		if (f == trunc(f) && f >= -9.2e18 && f <= 9.2e18) {
			tag = 'i';
			i = (int64_t)f;
		} else {
			tag = 'f';
			p = &f;
			len = sizeof(f);
		}
	} else {
		tag = 'i';
		i = v->i;
	}
	if (sn_buf_append(b, &tag, 1) || (len && sn_buf_append(b, p, len))) {
		*nomem = true;
		return 0;
	}
	return 1;
}

static int build_set(struct xctx *c, const node_t *n, struct xmat *m, uint8_t lt)
{
	uint8_t st = m->t.t[0];
	int cls = key_class(lt, st);
	if (cls == K_NONE) {
		char ta[48], tb[48];
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Cannot compare %s with %s (the subquery's column); convert one side "
			     "(toString, toInt, toFloat)",
			     sn_exec_type_name(lt, false, ta, sizeof(ta)),
			     sn_exec_type_name(st, false, tb, sizeof(tb)));
	}
	if (gtab_init(c, &m->set, 1024))
		return c->rc;
	struct sn_buf b;
	sn_buf_init(&b, (size_t)1 << 24);
	bool nomem = false;
	for (size_t r = 0; r < m->t.nrows && !c->rc; r++) {
		uint32_t id;
		bool isnew;
		if (in_key(&b, cls, &m->t.cells[r], &nomem))
			gtab_find(c, &m->set, b.data, b.len, &id, &isnew);
		else if (nomem)
			xnomem(c);
	}
	sn_buf_release(&b);
	m->cls = cls;
	m->set_built = !c->rc;
	return c->rc;
}

int sub_in(struct xctx *c, const node_t *n, bool negate, struct vec *out)
{
	const node_t *sq = n->b;
	struct xmat *m = mat_get(c, c, sq);
	if (!m)
		return c->rc;
	if (m->t.ncols != 1)
		return xfail(c, sq, SN_ERR_INVALID, "QueryError",
			     "IN (SELECT ...) needs a subquery that returns one column, this one "
			     "returns %zu",
			     m->t.ncols);
	struct vec a;
	if (xeval(c, n->a, &a))
		return c->rc;
	if (!m->set_built && build_set(c, n, m, a.t))
		return c->rc;
	if (vec_make(c, out, SN_XT_BOOL, false, c->n))
		return c->rc;
	struct sn_buf b;
	sn_buf_init(&b, (size_t)1 << 24);
	bool nomem = false;
	for (size_t r = 0; r < c->n; r++) {
		struct sn_exec_value v;
		vec_value(c, &a, r, NULL, &v);
		uint32_t id;
		bool hit = in_key(&b, m->cls, &v, &nomem) && m->set.n &&
			   gtab_get(&m->set, b.data, b.len, &id);
		out->i[r] = hit != negate;
	}
	sn_buf_release(&b);
	if (nomem)
		return xnomem(c);
	return 0;
}

/* Whether n is `<field of the FROM table> IN (SELECT ...)`. */
static bool is_in_subquery_on(const struct xctx *c, const node_t *n, const char *field)
{
	if (!n || n->kind != SN_HQ_COMPARE || !n->op || strcmp(n->op, "in") != 0)
		return false;
	const node_t *f = n->a, *q = n->b;
	if (!f || f->kind != SN_HQ_FIELD || !f->ref_table || !f->ref_field ||
	    strcmp(f->ref_table->name, c->from) != 0 || strcmp(f->ref_field->name, field) != 0 ||
	    f->strs.n > 2)
		return false;
	return q && (q->kind == SN_HQ_SELECT || q->kind == SN_HQ_SELECT_SET);
}

int sub_in_keys(struct xctx *c, const char *field, const char ***keys, size_t *n)
{
	*keys = NULL;
	*n = 0;
	const node_t *w = c->sel ? c->sel->where : NULL;
	if (!w)
		return 0;
	const node_t *hit = NULL;
	if (is_in_subquery_on(c, w, field))
		hit = w;
	for (size_t i = 0; !hit && w->kind == SN_HQ_AND && i < w->list.n; i++)
		if (is_in_subquery_on(c, w->list.items[i], field))
			hit = w->list.items[i];
	if (!hit)
		return 0;
	struct xmat *m = mat_get(c, c, hit->b);
	if (!m)
		return c->rc;
	if (m->t.ncols != 1)
		return 0; /* sub_in names the problem when WHERE runs */
	const char **k = xalloc(c, c->qa, (m->t.nrows ? m->t.nrows : 1) * sizeof(*k));
	if (!k)
		return c->rc;
	size_t nk = 0;
	for (size_t r = 0; r < m->t.nrows; r++) {
		const struct sn_exec_value *v = &m->t.cells[r];
		if (v->null || (v->type != SN_XT_STRING && v->type != SN_XT_UUID) || !v->s.p)
			continue;
		char *t = xalloc(c, c->qa, v->s.len + 1);
		if (!t)
			return c->rc;
		memcpy(t, v->s.p, v->s.len);
		t[v->s.len] = 0;
		k[nk++] = t;
	}
	*keys = k;
	*n = nk;
	return 1;
}

/* ---- scalar subqueries ------------------------------------------------------------------ */

int sub_scalar(struct xctx *c, const node_t *n, struct vec *out)
{
	struct xmat *m = mat_get(c, c, n);
	if (!m)
		return c->rc;
	if (m->t.ncols != 1)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "A scalar subquery must return one column, this one returns %zu",
			     m->t.ncols);
	if (m->t.nrows > 1)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Scalar subquery returned more than one row");
	struct sn_exec_value none = {.type = m->t.t[0], .null = true};
	const struct sn_exec_value *v = m->t.nrows ? &m->t.cells[0] : &none;
	if (vec_from_values(c, m->t.t[0], true, v, 0, c->n, out))
		return c->rc;
	out->ct = m->t.ct ? m->t.ct[0] : NULL;
	return 0;
}

/* ---- join keys (hashjoin.c) ------------------------------------------------------------ */

int sub_key_class(uint8_t a, uint8_t b)
{
	return key_class(a, b);
}

int sub_key(struct sn_buf *b, int cls, const struct sn_exec_value *v, bool *nomem)
{
	return in_key(b, cls, v, nomem);
}
