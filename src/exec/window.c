/*
 * window.c — window functions (`f(...) OVER (...)`, `WINDOW w AS (...)`)
 * with ClickHouse's semantics, as a stage between a statement's rows and
 * its SELECT / DISTINCT / ORDER BY / LIMIT.
 *
 * A statement holding window functions runs as two statements, both made
 * from its AST here and run by exec.c like any other:
 *
 *   user's SELECT ─split─▶ inner: SELECT e1, e2, ... FROM/WHERE/GROUP BY/HAVING
 *                              │   (every maximal expression free of window
 *                              │    functions, and each window function's
 *                              │    arguments, PARTITION BY and ORDER BY keys)
 *                              ▼
 *                  xtable T (one row per row after WHERE/GROUP BY/HAVING)
 *                              │ per window: rows sorted stably by (partition,
 *                              │ order keys), frames found, one column a function
 *                              ▼
 *                  xtable T' = T + one column per window function
 *                              │
 *                  outer: SELECT <items with e_k and window calls replaced by
 *                         columns of T'> FROM T' [DISTINCT] ORDER BY ... LIMIT ...
 *
 * The inner statement is the user's statement with its select list
 * replaced (its WHERE, GROUP BY, HAVING, FROM nodes are the user's own), so
 * scans, joins, aggregates and their errors are exactly those of a
 * statement without windows; it runs nested (sub_run), unlimited. The
 * outer statement reads T' as a FROM subquery (exec.c from_one takes
 * c->win_from), so DISTINCT, ORDER BY (top-N), LIMIT/OFFSET, typing and
 * the result's shape are the ordinary ones; its column names are then
 * set from the user's select items (§4.8). A statement without window
 * functions only pays win_wanted's walk over its expressions.
 *
 * Semantics (ClickHouse 21+): PARTITION BY splits rows, ORDER BY orders
 * them inside a partition, NULLs last unless NULLS FIRST (read from the
 * text, the AST drops it), ties keep the inner statement's row order. The
 * frame defaults to RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW,
 * which includes the current row's peers (rows with equal ORDER BY keys)
 * and, without ORDER BY, is the whole partition. ROWS counts rows; RANGE
 * CURRENT ROW is the peer group's edge and RANGE n PRECEDING/FOLLOWING
 * compares the single numeric, Date (days) or DateTime (seconds) ORDER BY
 * key (rows with a NULL key have their peer group as offset bound; their
 * keys are never within an offset of a value). row_number, rank and
 * dense_rank ignore the frame. lagInFrame/leadInFrame (and PostHog's
 * lag/lead, which it maps to them) read the row offset rows away only
 * when it lies inside the frame, else the default argument or the type's
 * default (0, '', NULL when Nullable). first_value/last_value are
 * ClickHouse's any/anyLast: the first/last non-NULL value of the frame.
 * nth_value(x, n) is the frame's n-th row. count/sum/avg/min/max and their
 * If forms aggregate the frame as agg.c does (sum wraps in 64 bits, avg of
 * nothing is nan, min/max/sum of nothing are the type's default, or NULL
 * for a Nullable argument). Like ClickHouse, an aggregate whose frame start
 * did not move only adds the rows the frame end passed, and recomputes the
 * frame when the start moved (sliding frames cost frame length per row).
 *
 * Refused with a position: window functions in WHERE, PREWHERE, GROUP BY
 * or HAVING, inside aggregates or in another window function's
 * arguments; other window functions and parameters (quantile(0.5)(x)
 * OVER ...); RANGE offsets with other than one numeric/date ORDER BY key;
 * frames whose start follows their end; SELECT * beside windows. GROUPS
 * frames do not parse. QUALIFY makes a statement take this path even
 * without a window function: it is the outer statement's WHERE.
 *
 * Rejected alternatives: evaluating window functions inside exec.c's
 * projection with bindings (c->final) — it would need a second emit path
 * through the top-N heap and the DISTINCT set, and every statement shape
 * (aggregated or not, over a join or a subquery) twice; generating HogQL
 * text for the inner statement (as sessions.c does) — printing the user's
 * resolved FROM, joins and aliases back to text and resolving them again
 * is more code and loses error positions.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exec/exec_internal.h"

#define WMAX_COLS  256 /* stage-one expressions of one statement */
#define WMAX_FUNCS 64  /* window functions of one statement */
#define WMAX_KEYS  32  /* PARTITION BY + ORDER BY keys of one window */
#define US_PER_S   1000000LL

enum wkind {
	W_ROW_NUMBER,
	W_RANK,
	W_DENSE_RANK,
	W_LAG,
	W_LEAD,
	W_FIRST,
	W_LAST,
	W_NTH,
	W_COUNT, /* count(), count(x), countIf(cond) */
	W_SUM,
	W_AVG,
	W_MIN,
	W_MAX,
};

static const struct wdef {
	const char *name;
	uint8_t kind;
	uint8_t nmin, nmax; /* arguments, the If condition included */
	bool cond;	    /* the last argument is an If condition */
} WDEFS[] = {
    {"row_number", W_ROW_NUMBER, 0, 0, false},
    {"rank", W_RANK, 0, 0, false},
    {"dense_rank", W_DENSE_RANK, 0, 0, false},
    {"lagInFrame", W_LAG, 1, 3, false},
    {"lag", W_LAG, 1, 3, false},
    {"leadInFrame", W_LEAD, 1, 3, false},
    {"lead", W_LEAD, 1, 3, false},
    {"first_value", W_FIRST, 1, 1, false},
    {"any", W_FIRST, 1, 1, false},
    {"last_value", W_LAST, 1, 1, false},
    {"anyLast", W_LAST, 1, 1, false},
    {"nth_value", W_NTH, 2, 2, false},
    {"count", W_COUNT, 0, 1, false},
    {"countIf", W_COUNT, 1, 1, true},
    {"sum", W_SUM, 1, 1, false},
    {"sumIf", W_SUM, 2, 2, true},
    {"avg", W_AVG, 1, 1, false},
    {"avgIf", W_AVG, 2, 2, true},
    {"min", W_MIN, 1, 1, false},
    {"minIf", W_MIN, 2, 2, true},
    {"max", W_MAX, 1, 1, false},
    {"maxIf", W_MAX, 2, 2, true},
};

/* Frame bounds, in frame order. */
enum bkind { B_UNB_PREC, B_PREC, B_CURRENT, B_FOLL, B_UNB_FOLL };

struct bound {
	uint8_t kind; /* enum bkind */
	bool is_int;
	int64_t i; /* offset (B_PREC, B_FOLL) */
	double f;
	const node_t *at;
};

/* One window (an OVER clause or a named window), its keys as columns of T. */
struct wspec {
	const node_t *w; /* WindowExpr */
	int part[WMAX_KEYS], order[WMAX_KEYS];
	bool desc[WMAX_KEYS], nulls_first[WMAX_KEYS];
	size_t npart, norder;
	bool range;
	struct bound start, end;
};

struct wfn {
	const node_t *n;
	char *text;
	uint8_t kind; /* enum wkind */
	int spec;
	int arg[3]; /* columns of T: x, offset / n, default; -1 = none */
	int cond;   /* If condition column, -1 = none */
	uint8_t t;  /* result type */
	bool nullable;
	uint8_t dscale; /* sum/avg of a Decimal: its scale */
	const char *ct; /* sum of a Decimal: Decimal(38, S) */
};

struct wplan {
	struct xctx *c;
	const struct sn_hogql_select *s;
	const node_t *cols[WMAX_COLS]; /* stage-one expressions, by column of T */
	char *ctext[WMAX_COLS];
	size_t ncols;
	const node_t *seen[WMAX_COLS * 2]; /* nodes collected, and their column */
	int seen_col[WMAX_COLS * 2];
	size_t nseen;
	struct wfn fns[WMAX_FUNCS];
	size_t nfns;
	struct wspec specs[WMAX_FUNCS];
	size_t nspecs;
	const struct xtable *t; /* T, once run */
};

/* ---- finding window functions ------------------------------------------------------ */

/* The first window function in n, following SELECT aliases through s when
 * s is set (`rn` of `row_number() OVER () AS rn`); nested statements are
 * their own. */
static const node_t *find_window(const struct sn_hogql_select *s, const node_t *n, int depth)
{
	if (!n || depth > XMAX_DEPTH)
		return NULL;
	switch (n->kind) {
	case SN_HQ_WINDOW_FUNCTION: return n;
	case SN_HQ_SELECT:
	case SN_HQ_SELECT_SET: return NULL;
	case SN_HQ_FIELD:
		if (s && n->ref_kind == SN_HQR_ALIAS) {
			const node_t *t = follow_alias(s, n);
			return t != n ? find_window(s, t, depth + 1) : NULL;
		}
		return NULL;
	default: break;
	}
	const node_t *kids[] = {n->a, n->b, n->c, n->d};
	for (size_t i = 0; i < 4; i++) {
		const node_t *w = find_window(s, kids[i], depth + 1);
		if (w)
			return w;
	}
	const struct sn_hogql_list *ls[] = {&n->list, &n->list2, &n->list3};
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < ls[k]->n; i++) {
			const node_t *w = find_window(s, ls[k]->items[i], depth + 1);
			if (w)
				return w;
		}
	return NULL;
}

static const node_t *find_in_list(const struct sn_hogql_select *s, const struct sn_hogql_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const node_t *w = find_window(s, l->items[i], 0);
		if (w)
			return w;
	}
	return NULL;
}

bool win_wanted(const node_t *root)
{
	if (!root || root->kind != SN_HQ_SELECT)
		return false;
	const struct sn_hogql_select *s = root->sel;
	/* QUALIFY always takes this path: it filters the rows after the
	 * windows (and after GROUP BY/HAVING), the outer statement's WHERE */
	return s->nwindows || s->qualify || find_in_list(NULL, &s->select) ||
	       find_in_list(NULL, &s->order_by) || find_window(NULL, s->where, 0) ||
	       find_window(NULL, s->prewhere, 0) || find_window(NULL, s->having, 0) ||
	       find_in_list(NULL, &s->group_by);
}

/* ---- planning ---------------------------------------------------------------------- */

static int note_seen(struct wplan *w, const node_t *n, int col)
{
	if (w->nseen < SN_ARRAY_LEN(w->seen)) {
		w->seen[w->nseen] = n;
		w->seen_col[w->nseen++] = col;
	}
	return 0;
}

/* The column of T computing n (added when new; equal text shares one). */
static int add_col(struct wplan *w, const node_t *n)
{
	struct xctx *c = w->c;
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i] == n)
			return w->seen_col[i];
	const node_t *win = find_window(w->s, n, 0);
	if (win) {
		xfail(c, win, SN_ERR_INVALID, "QueryError",
		      "A window function cannot be used inside the arguments, PARTITION BY or "
		      "ORDER BY of another window function");
		return -1;
	}
	char *text = xnode_text(c, n);
	if (!text)
		return -1;
	int col = -1;
	for (size_t i = 0; i < w->ncols && col < 0; i++)
		if (strcmp(w->ctext[i], text) == 0)
			col = (int)i;
	if (col < 0) {
		if (w->ncols >= WMAX_COLS) {
			xfail(c, n, SN_ERR_INVALID, "QueryError",
			      "Too many expressions beside window functions (at most %d)",
			      WMAX_COLS);
			return -1;
		}
		col = (int)w->ncols;
		w->cols[w->ncols] = n;
		w->ctext[w->ncols++] = text;
	}
	note_seen(w, n, col);
	return col;
}

/* NULLS FIRST after an ORDER BY expression (the AST drops it; exec.c
 * check_shape reads it the same way). ClickHouse's default is last. */
static bool nulls_first(const struct xctx *c, const node_t *o)
{
	if (!o->has_pos || !o->a || !o->a->has_pos || o->end <= o->a->end || o->end > c->len)
		return false;
	char tail[64];
	size_t k = 0;
	for (uint32_t b = o->a->end; b < o->end && k + 1 < sizeof(tail); b++) {
		char ch = c->src[b];
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		bool sp = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
		if (sp && (k == 0 || tail[k - 1] == ' '))
			continue;
		tail[k++] = sp ? ' ' : ch;
	}
	tail[k] = 0;
	return strstr(tail, "nulls first") != NULL;
}

static const char *bound_text(const struct bound *b, char *buf, size_t len)
{
	switch (b->kind) {
	case B_UNB_PREC: return "UNBOUNDED PRECEDING";
	case B_UNB_FOLL: return "UNBOUNDED FOLLOWING";
	case B_CURRENT: return "CURRENT ROW";
	default: break;
	}
	if (b->is_int)
		snprintf(buf, len, "%lld %s", (long long)b->i,
			 b->kind == B_PREC ? "PRECEDING" : "FOLLOWING");
	else
		snprintf(buf, len, "%g %s", b->f, b->kind == B_PREC ? "PRECEDING" : "FOLLOWING");
	return buf;
}

static int parse_bound(struct xctx *c, const node_t *fr, bool rows, struct bound *b)
{
	memset(b, 0, sizeof(*b));
	b->at = fr;
	if (!fr->op || strcmp(fr->op, "CURRENT ROW") == 0) {
		b->kind = B_CURRENT;
		return 0;
	}
	bool prec = strcmp(fr->op, "PRECEDING") == 0;
	if (!fr->a) {
		b->kind = prec ? B_UNB_PREC : B_UNB_FOLL;
		return 0;
	}
	b->kind = prec ? B_PREC : B_FOLL;
	const node_t *v = fr->a;
	if (v->kind == SN_HQ_CONSTANT && v->ctype == SN_HQC_INT && v->ival >= 0) {
		b->is_int = true;
		b->i = v->ival;
		b->f = (double)v->ival;
		return 0;
	}
	if (!rows && v->kind == SN_HQ_CONSTANT && v->ctype == SN_HQC_FLOAT && v->fval >= 0 &&
	    isfinite(v->fval)) {
		b->f = v->fval;
		return 0;
	}
	return xfail(c, v, SN_ERR_INVALID, "QueryError",
		     "The frame offset of a %s frame must be a non-negative %s",
		     rows ? "ROWS" : "RANGE", rows ? "integer" : "number");
}

/* A bound's place on the line of offsets, to check start <= end. */
static double bound_pos(const struct bound *b)
{
	switch (b->kind) {
	case B_UNB_PREC: return -INFINITY;
	case B_PREC: return -b->f;
	case B_CURRENT: return 0;
	case B_FOLL: return b->f;
	default: return INFINITY;
	}
}

static int add_spec(struct wplan *w, const node_t *we)
{
	struct xctx *c = w->c;
	for (size_t i = 0; i < w->nspecs; i++)
		if (w->specs[i].w == we)
			return (int)i;
	struct wspec *sp = &w->specs[w->nspecs];
	memset(sp, 0, sizeof(*sp));
	sp->w = we;
	if (we->list.n + we->list2.n > WMAX_KEYS) {
		xfail(c, we, SN_ERR_INVALID, "QueryError",
		      "A window has too many PARTITION BY and ORDER BY keys (at most %d)",
		      WMAX_KEYS);
		return -1;
	}
	for (size_t i = 0; i < we->list.n; i++)
		if ((sp->part[sp->npart++] = add_col(w, we->list.items[i])) < 0)
			return -1;
	for (size_t i = 0; i < we->list2.n; i++) {
		const node_t *o = we->list2.items[i];
		const node_t *e = o->kind == SN_HQ_ORDER_EXPR ? o->a : o;
		if ((sp->order[sp->norder] = add_col(w, e)) < 0)
			return -1;
		sp->desc[sp->norder] =
		    o->kind == SN_HQ_ORDER_EXPR && o->op && strcasecmp(o->op, "DESC") == 0;
		sp->nulls_first[sp->norder++] = o->kind == SN_HQ_ORDER_EXPR && nulls_first(c, o);
	}
	sp->range = !we->op || strcasecmp(we->op, "RANGE") == 0;
	if (we->op && strcasecmp(we->op, "ROWS") != 0 && strcasecmp(we->op, "RANGE") != 0) {
		char what[96];
		snprintf(what, sizeof(what), "%s window frames", we->op);
		xunsupported(c, we, what);
		return -1;
	}
	if (!we->a) {
		sp->start.kind = B_UNB_PREC;
		sp->end.kind = B_CURRENT;
	} else {
		if (parse_bound(c, we->a, !sp->range, &sp->start))
			return -1;
		if (we->b) {
			if (parse_bound(c, we->b, !sp->range, &sp->end))
				return -1;
		} else {
			sp->end.kind = B_CURRENT;
			sp->end.at = we->a;
		}
	}
	if (sp->start.kind == B_UNB_FOLL) {
		xfail(c, sp->start.at, SN_ERR_INVALID, "QueryError",
		      "Frame start cannot be UNBOUNDED FOLLOWING");
		return -1;
	}
	if (sp->end.kind == B_UNB_PREC) {
		xfail(c, sp->end.at, SN_ERR_INVALID, "QueryError",
		      "Frame end cannot be UNBOUNDED PRECEDING");
		return -1;
	}
	if (bound_pos(&sp->start) > bound_pos(&sp->end)) {
		char a[64], b[64];
		xfail(c, we, SN_ERR_INVALID, "QueryError",
		      "Frame start offset %s does not precede the frame end offset %s",
		      bound_text(&sp->start, a, sizeof(a)), bound_text(&sp->end, b, sizeof(b)));
		return -1;
	}
	bool offset = sp->start.kind == B_PREC || sp->start.kind == B_FOLL ||
		      sp->end.kind == B_PREC || sp->end.kind == B_FOLL;
	if (sp->range && offset && sp->norder != 1) {
		xfail(c, we, SN_ERR_INVALID, "QueryError",
		      "The RANGE OFFSET window frame requires exactly one ORDER BY column, %zu "
		      "given",
		      sp->norder);
		return -1;
	}
	return (int)w->nspecs++;
}

/* The WindowExpr of f: its own, or the named window it names. */
static const node_t *window_of(struct wplan *w, const node_t *f)
{
	if (f->a)
		return f->a;
	for (size_t i = 0; f->op && i < w->s->nwindows; i++)
		if (strcmp(w->s->window_names[i], f->op) == 0)
			return w->s->window_exprs[i];
	xfail(w->c, f, SN_ERR_INVALID, "QueryError", "Window '%s' is not defined",
	      f->op ? f->op : "?");
	return NULL;
}

/* Plans the window function f (once per text) and the columns it reads. */
static int add_fn(struct wplan *w, const node_t *f)
{
	struct xctx *c = w->c;
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i] == f)
			return 0;
	char *text = xnode_text(c, f);
	if (!text)
		return c->rc;
	for (size_t i = 0; i < w->nfns; i++)
		if (strcmp(w->fns[i].text, text) == 0)
			return note_seen(w, f, (int)i);
	if (f->list2.n)
		return xunsupported(c, f, "parameters of a window function");
	const struct wdef *d = NULL;
	for (size_t i = 0; i < SN_ARRAY_LEN(WDEFS) && !d; i++)
		if (strcasecmp(WDEFS[i].name, f->name) == 0)
			d = &WDEFS[i];
	if (!d) {
		char what[160];
		snprintf(what, sizeof(what), "window function %s()", f->name);
		return xunsupported(c, f, what);
	}
	size_t nargs = f->list.n;
	const node_t *const *args = (const node_t *const *)f->list.items;
	if (d->kind == W_COUNT && !d->cond && nargs == 1 && args[0]->kind == SN_HQ_FIELD &&
	    args[0]->ref_kind == SN_HQR_ASTERISK)
		nargs = 0; /* count(*) */
	if (nargs < d->nmin || nargs > d->nmax)
		return xfail(c, f, SN_ERR_INVALID, "QueryError",
			     "Window function %s() takes %u to %u arguments, %zu given", f->name,
			     d->nmin, d->nmax, nargs);
	if (w->nfns >= WMAX_FUNCS)
		return xfail(c, f, SN_ERR_INVALID, "QueryError",
			     "Too many window functions (at most %d)", WMAX_FUNCS);
	struct wfn *fn = &w->fns[w->nfns];
	memset(fn, 0, sizeof(*fn));
	fn->n = f;
	fn->text = text;
	fn->kind = d->kind;
	fn->arg[0] = fn->arg[1] = fn->arg[2] = fn->cond = -1;
	size_t nval = nargs - d->cond;
	for (size_t i = 0; i < nval; i++)
		if ((fn->arg[i] = add_col(w, args[i])) < 0)
			return c->rc;
	if (d->cond && (fn->cond = add_col(w, args[nval])) < 0)
		return c->rc;
	const node_t *we = window_of(w, f);
	if (!we || (fn->spec = add_spec(w, we)) < 0)
		return c->rc;
	return note_seen(w, f, (int)w->nfns++);
}

/* Collects the window functions of a select or ORDER BY expression and the
 * expressions beside them the inner statement computes. */
static int collect(struct wplan *w, const node_t *n)
{
	struct xctx *c = w->c;
	if (!n || c->rc)
		return c->rc;
	if (n->kind == SN_HQ_WINDOW_FUNCTION)
		return add_fn(w, n);
	if (!find_window(w->s, n, 0)) {
		/* constants stay in the outer statement, but an alias of one is
		 * still named by the inner statement's WHERE or HAVING */
		if (!xconst_tree(n, true) || n->kind == SN_HQ_ALIAS)
			add_col(w, n);
		return c->rc;
	}
	if (n->kind == SN_HQ_FIELD)
		return 0; /* an alias of a select item holding a window: the outer follows it */
	if (is_aggregate_call(n))
		return xfail(c, find_window(w->s, n, 0), SN_ERR_INVALID, "QueryError",
			     "A window function cannot be used inside the aggregate function %s()",
			     n->name);
	const node_t *kids[] = {n->a, n->b, n->c, n->d};
	for (size_t i = 0; i < 4; i++)
		collect(w, kids[i]);
	const struct sn_hogql_list *ls[] = {&n->list, &n->list2, &n->list3};
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < ls[k]->n; i++)
			collect(w, ls[k]->items[i]);
	return c->rc;
}

static int refuse_in(struct wplan *w, const node_t *n, const char *clause)
{
	const node_t *f = find_window(w->s, n, 0);
	if (!f)
		return 0;
	return xfail(w->c, f, SN_ERR_INVALID, "QueryError",
		     "Window function %s() cannot be used in %s (only in SELECT and ORDER BY)",
		     f->name ? f->name : "?", clause);
}

/* ---- the outer statement's expressions ---------------------------------------------- */

static node_t *col_ref(struct xctx *c, const node_t *at, const char *name)
{
	node_t *f = sn_hogql_node_new(c->qa, SN_HQ_FIELD);
	const char **names = xalloc(c, c->qa, sizeof(*names));
	if (!f || !names) {
		xnomem(c);
		return NULL;
	}
	names[0] = name;
	f->strs = (struct sn_hogql_strs){.items = names, .n = 1};
	f->has_strs = true;
	f->ref_kind = SN_HQR_SUBQUERY_COL;
	f->ref_source = "";
	f->rtype = at->rtype;
	f->has_pos = at->has_pos;
	f->start = at->start;
	f->end = at->end;
	return f;
}

static const char *col_name(struct xctx *c, char kind, size_t i)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "__win_%c%zu", kind, i);
	char *s = sn_arena_strdup(c->qa, buf);
	if (!s)
		xnomem(c);
	return s;
}

static int seen_col(const struct wplan *w, const node_t *n)
{
	for (size_t i = 0; i < w->nseen; i++)
		if (w->seen[i] == n)
			return w->seen_col[i];
	return -1;
}

static node_t *subst(struct wplan *w, node_t *n);

static int subst_list(struct wplan *w, struct sn_hogql_list *l)
{
	if (!l->n)
		return 0;
	node_t **items = xalloc(w->c, w->c->qa, l->n * sizeof(*items));
	if (!items)
		return w->c->rc;
	for (size_t i = 0; i < l->n; i++)
		if (!(items[i] = subst(w, l->items[i])))
			return w->c->rc ? w->c->rc : SN_ERR_INTERNAL;
	l->items = items;
	return 0;
}

/* n with its window functions and the expressions collect() gave to the
 * inner statement replaced by columns of T' (a copy where anything
 * changed; constant parts and alias references stay). */
static node_t *subst(struct wplan *w, node_t *n)
{
	struct xctx *c = w->c;
	if (!n || c->rc)
		return n;
	if (n->kind == SN_HQ_WINDOW_FUNCTION) {
		int k = seen_col(w, n);
		if (k < 0) {
			xfail(c, n, SN_ERR_INTERNAL, "QueryError", "window function not planned");
			return NULL;
		}
		const char *name = col_name(c, 'f', (size_t)k);
		return name ? col_ref(c, n, name) : NULL;
	}
	if (!find_window(w->s, n, 0)) {
		if (xconst_tree(n, true))
			return n;
		int k = seen_col(w, n);
		if (k < 0) {
			xfail(c, n, SN_ERR_INTERNAL, "QueryError", "expression not planned");
			return NULL;
		}
		const char *name = col_name(c, 'c', (size_t)k);
		return name ? col_ref(c, n, name) : NULL;
	}
	if (n->kind == SN_HQ_FIELD)
		return n;
	node_t *m = sn_hogql_node_new(c->qa, n->kind);
	if (!m) {
		xnomem(c);
		return NULL;
	}
	*m = *n;
	m->a = subst(w, n->a);
	m->b = subst(w, n->b);
	m->c = subst(w, n->c);
	m->d = subst(w, n->d);
	if (c->rc || subst_list(w, &m->list) || subst_list(w, &m->list2) ||
	    subst_list(w, &m->list3))
		return NULL;
	return m;
}

/* ---- computing ---------------------------------------------------------------------- */

static inline const struct sn_exec_value *cell(const struct xtable *t, size_t r, int col)
{
	return &t->cells[r * t->ncols + (size_t)col];
}

static inline bool vnull(const struct sn_exec_value *v)
{
	return v->null || v->type == SN_XT_NULL;
}

static int key_cmp(const struct sn_exec_value *a, const struct sn_exec_value *b, bool desc,
		   bool nfirst)
{
	bool an = vnull(a), bn = vnull(b);
	if (an || bn) {
		int d = an == bn ? 0 : an ? 1 : -1;
		return nfirst ? -d : d;
	}
	int d = value_cmp(a, b);
	return desc ? -d : d;
}

struct sortarg {
	const struct xtable *t;
	const struct wspec *sp;
};

static int row_cmp(const void *x, const void *y, void *arg)
{
	const struct sortarg *sa = arg;
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	for (size_t k = 0; k < sa->sp->npart; k++) {
		int d = key_cmp(cell(sa->t, a, sa->sp->part[k]), cell(sa->t, b, sa->sp->part[k]),
				false, false);
		if (d)
			return d;
	}
	for (size_t k = 0; k < sa->sp->norder; k++) {
		int d = key_cmp(cell(sa->t, a, sa->sp->order[k]), cell(sa->t, b, sa->sp->order[k]),
				sa->sp->desc[k], sa->sp->nulls_first[k]);
		if (d)
			return d;
	}
	return (a > b) - (a < b); /* stable: ties keep the inner statement's order */
}

static bool same_keys(const struct xtable *t, const int *cols, size_t n, uint32_t a, uint32_t b)
{
	for (size_t k = 0; k < n; k++)
		if (key_cmp(cell(t, a, cols[k]), cell(t, b, cols[k]), false, false))
			return false;
	return true;
}

/* A window's rows in order and, per position in that order, its
 * partition, peer group and frame (inclusive; empty when fe < fs). */
struct layout {
	uint32_t *perm;
	uint32_t *ps, *pe;   /* partition [ps, pe) */
	uint32_t *plo, *phi; /* peer group [plo, phi] */
	uint64_t *dense;     /* dense_rank */
	int64_t *fs, *fe;
};

/* The signed distance, in ORDER BY direction, from key a to key b (a RANGE
 * offset's unit: days for Date, seconds for DateTime). */
static double dist_f(const struct sn_exec_value *a, const struct sn_exec_value *b)
{
	double x = a->type == SN_XT_FLOAT ? a->f : (double)a->i;
	double y = b->type == SN_XT_FLOAT ? b->f : (double)b->i;
	if (a->type == SN_XT_UINT)
		x = (double)(uint64_t)a->i;
	if (b->type == SN_XT_UINT)
		y = (double)(uint64_t)b->i;
	return y - x;
}

static __int128 dist_i(const struct sn_exec_value *a, const struct sn_exec_value *b)
{
	__int128 x = a->type == SN_XT_UINT ? (__int128)(uint64_t)a->i : (__int128)a->i;
	__int128 y = b->type == SN_XT_UINT ? (__int128)(uint64_t)b->i : (__int128)b->i;
	return y - x;
}

/* RANGE n PRECEDING/FOLLOWING: the first position in [lo, hi) whose key is
 * at least target from row i's key (first = true), or the last one at
 * most target away (first = false); lo - 1 / hi when none. */
static int64_t range_search(const struct xtable *t, const struct wspec *sp, const uint32_t *perm,
			    size_t i, size_t lo, size_t hi, const struct bound *b, bool first,
			    bool is_float, int64_t unit)
{
	const struct sn_exec_value *ki = cell(t, perm[i], sp->order[0]);
	int sign = sp->desc[0] ? -1 : 1;
	__int128 ti = 0;
	double tf = 0;
	if (is_float) {
		tf = b->kind == B_PREC ? -b->f : b->f;
	} else {
		ti = (__int128)b->i * unit;
		if (b->kind == B_PREC)
			ti = -ti;
	}
	/* pred(j): distance(j) >= target (first) / distance(j) > target (last):
	 * false then true along [lo, hi). */
	size_t a = lo, z = hi;
	while (a < z) {
		size_t m = a + (z - a) / 2;
		const struct sn_exec_value *km = cell(t, perm[m], sp->order[0]);
		bool p;
		if (is_float) {
			double d = dist_f(ki, km) * sign;
			p = first ? d >= tf : d > tf;
		} else {
			__int128 d = dist_i(ki, km) * sign;
			p = first ? d >= ti : d > ti;
		}
		if (p)
			z = m;
		else
			a = m + 1;
	}
	return first ? (int64_t)a : (int64_t)a - 1;
}

static int layout_make(struct xctx *c, struct sn_arena *a, const struct xtable *t,
		       const struct wspec *sp, struct layout *l)
{
	size_t n = t->nrows;
	l->perm = xalloc(c, a, (n + 1) * sizeof(*l->perm));
	l->ps = xalloc(c, a, (n + 1) * sizeof(*l->ps));
	l->pe = xalloc(c, a, (n + 1) * sizeof(*l->pe));
	l->plo = xalloc(c, a, (n + 1) * sizeof(*l->plo));
	l->phi = xalloc(c, a, (n + 1) * sizeof(*l->phi));
	l->dense = xalloc(c, a, (n + 1) * sizeof(*l->dense));
	l->fs = xalloc(c, a, (n + 1) * sizeof(*l->fs));
	l->fe = xalloc(c, a, (n + 1) * sizeof(*l->fe));
	if (c->rc)
		return c->rc;
	for (size_t r = 0; r < n; r++)
		l->perm[r] = (uint32_t)r;
	struct sortarg sa = {t, sp};
	if (n > 1) {
		if (xcheck_budget(c))
			return c->rc;
		qsort_r(l->perm, n, sizeof(*l->perm), row_cmp, &sa);
		if (xcheck_budget(c))
			return c->rc;
	}
	bool offset = sp->range && (sp->start.kind == B_PREC || sp->start.kind == B_FOLL ||
				    sp->end.kind == B_PREC || sp->end.kind == B_FOLL);
	bool is_float = false;
	int64_t unit = 1;
	if (offset) {
		uint8_t kt = t->t[sp->order[0]];
		if (kt == SN_XT_FLOAT)
			is_float = true;
		else if (kt == SN_XT_DATETIME)
			unit = US_PER_S;
		else if (kt != SN_XT_INT && kt != SN_XT_UINT && kt != SN_XT_BOOL &&
			 kt != SN_XT_DATE && kt != SN_XT_NULL) {
			char tn[48];
			return xfail(
			    c, sp->w->list2.items[0], SN_ERR_INVALID, "QueryError",
			    "A RANGE frame with an offset needs a numeric, Date or DateTime "
			    "ORDER BY key, not %s",
			    sn_exec_type_name(kt, false, tn, sizeof(tn)));
		}
		const struct bound *bs[] = {&sp->start, &sp->end};
		for (size_t k = 0; k < 2; k++)
			if ((bs[k]->kind == B_PREC || bs[k]->kind == B_FOLL) && !is_float &&
			    !bs[k]->is_int)
				return xfail(c, bs[k]->at, SN_ERR_INVALID, "QueryError",
					     "The RANGE offset of an integer, Date or DateTime "
					     "ORDER BY key must be an integer");
	}
	for (size_t p0 = 0; p0 < n;) {
		size_t p1 = p0 + 1;
		while (p1 < n && same_keys(t, sp->part, sp->npart, l->perm[p0], l->perm[p1]))
			p1++;
		/* peers and the rows with a non-NULL key (RANGE offsets) */
		size_t nn_lo = p0, nn_hi = p1;
		if (offset) {
			while (nn_lo < p1 && vnull(cell(t, l->perm[nn_lo], sp->order[0])))
				nn_lo++;
			while (nn_hi > nn_lo && vnull(cell(t, l->perm[nn_hi - 1], sp->order[0])))
				nn_hi--;
		}
		uint64_t dense = 0;
		for (size_t g0 = p0; g0 < p1;) {
			size_t g1 = g0 + 1;
			while (g1 < p1 &&
			       same_keys(t, sp->order, sp->norder, l->perm[g0], l->perm[g1]))
				g1++;
			dense++;
			for (size_t i = g0; i < g1; i++) {
				l->ps[i] = (uint32_t)p0;
				l->pe[i] = (uint32_t)p1;
				l->plo[i] = (uint32_t)g0;
				l->phi[i] = (uint32_t)(g1 - 1);
				l->dense[i] = dense;
			}
			g0 = g1;
		}
		for (size_t i = p0; i < p1; i++) {
			bool knull = offset && vnull(cell(t, l->perm[i], sp->order[0]));
			const struct bound *bs[] = {&sp->start, &sp->end};
			int64_t v[2];
			for (size_t k = 0; k < 2; k++) {
				const struct bound *b = bs[k];
				bool first = k == 0;
				switch (b->kind) {
				case B_UNB_PREC: v[k] = (int64_t)p0; break;
				case B_UNB_FOLL: v[k] = (int64_t)p1 - 1; break;
				case B_CURRENT:
					v[k] = !sp->range ? (int64_t)i
					       : first	  ? (int64_t)l->plo[i]
							  : (int64_t)l->phi[i];
					break;
				default:
					if (!sp->range) {
						int64_t off = b->kind == B_PREC ? -b->i : b->i;
						v[k] = (int64_t)i + off;
					} else if (knull) {
						v[k] =
						    first ? (int64_t)l->plo[i] : (int64_t)l->phi[i];
					} else {
						v[k] = range_search(t, sp, l->perm, i, nn_lo, nn_hi,
								    b, first, is_float, unit);
					}
					break;
				}
			}
			l->fs[i] = v[0] < (int64_t)p0 ? (int64_t)p0 : v[0];
			l->fe[i] = v[1] > (int64_t)p1 - 1 ? (int64_t)p1 - 1 : v[1];
		}
		p0 = p1;
	}
	return 0;
}

static bool truthy(const struct sn_exec_value *v)
{
	if (vnull(v))
		return false;
	return v->type == SN_XT_FLOAT ? v->f != 0 : v->i != 0;
}

/* The type's default value (ClickHouse's: 0, '', the epoch, the nil UUID). */
static struct sn_exec_value default_of(uint8_t t, bool nullable)
{
	struct sn_exec_value v = {.type = t, .null = nullable || t == SN_XT_NULL};
	v.s = (struct sn_str){"", 0};
	if (t == SN_XT_UUID && !v.null)
		v.s = (struct sn_str){"00000000-0000-0000-0000-000000000000", 36};
	return v;
}

/* v as a value of type t (types typing checked convertible). */
static struct sn_exec_value convert(const struct sn_exec_value *v, uint8_t t)
{
	struct sn_exec_value o = *v;
	if (vnull(v)) {
		o = default_of(t, true);
		return o;
	}
	uint8_t from = v->type;
	o.type = t;
	if (from == t)
		return o;
	if (t == SN_XT_FLOAT && from != SN_XT_FLOAT)
		o.f = from == SN_XT_UINT ? (double)(uint64_t)v->i : (double)v->i;
	else if (t != SN_XT_FLOAT && from == SN_XT_FLOAT)
		o.i = (int64_t)v->f;
	else if (t == SN_XT_DATETIME && from == SN_XT_DATE)
		o.i = v->i * 86400LL * US_PER_S;
	return o;
}

static bool intlike_t(uint8_t t)
{
	return t == SN_XT_BOOL || t == SN_XT_INT || t == SN_XT_UINT;
}

/* Types each function's result from T's column types; errors name the call. */
static int type_fn(struct xctx *c, const struct xtable *t, struct wfn *fn)
{
	uint8_t xt = fn->arg[0] >= 0 ? t->t[fn->arg[0]] : SN_XT_NULL;
	bool xn = fn->arg[0] >= 0 && (t->nullable[fn->arg[0]] || xt == SN_XT_NULL);
	char tn[48];
	if (fn->cond >= 0 && !intlike_t(t->t[fn->cond]) && t->t[fn->cond] != SN_XT_NULL)
		return xfail(c, fn->n, SN_ERR_INVALID, "QueryError",
			     "Illegal type %s of the condition of %s(), must be a condition",
			     sn_exec_type_name(t->t[fn->cond], false, tn, sizeof(tn)), fn->n->name);
	if ((fn->kind == W_LAG || fn->kind == W_LEAD || fn->kind == W_NTH) && fn->arg[1] >= 0 &&
	    !intlike_t(t->t[fn->arg[1]]))
		return xfail(c, fn->n, SN_ERR_INVALID, "QueryError",
			     "Illegal type %s of the offset of %s(), must be an integer",
			     sn_exec_type_name(t->t[fn->arg[1]], false, tn, sizeof(tn)),
			     fn->n->name);
	switch (fn->kind) {
	case W_ROW_NUMBER:
	case W_RANK:
	case W_DENSE_RANK:
	case W_COUNT:
		fn->t = SN_XT_UINT;
		fn->nullable = false;
		return 0;
	case W_SUM:
	case W_AVG:
		if (xt == SN_XT_NULL)
			break;
		if (xt == SN_XT_DECIMAL && t->ct && t->ct[fn->arg[0]]) {
			/* as agg.c: sum is Decimal128(S), summed in 128 bits; avg Float64 */
			struct vec tv = {.t = xt, .ct = t->ct[fn->arg[0]]};
			fn->dscale = (uint8_t)xdec_scale(&tv);
			fn->t = fn->kind == W_AVG ? SN_XT_FLOAT : SN_XT_DECIMAL;
			fn->ct = fn->kind == W_AVG ? NULL : xdec_ct(XDEC_MAX_PREC, fn->dscale);
			fn->nullable = xn;
			return 0;
		}
		if (!is_numeric(xt))
			return xfail(c, fn->n, SN_ERR_INVALID, "QueryError",
				     "Illegal type %s of argument of aggregate function %s; "
				     "convert it with toInt or toFloat",
				     sn_exec_type_name(xt, xn, tn, sizeof(tn)), fn->n->name);
		fn->t = fn->kind == W_AVG || xt == SN_XT_FLOAT ? SN_XT_FLOAT
			: xt == SN_XT_INT		       ? SN_XT_INT
							       : SN_XT_UINT;
		fn->nullable = xn;
		return 0;
	case W_LAG:
	case W_LEAD:
		fn->t = xt;
		fn->nullable = xn;
		if (fn->arg[2] >= 0) {
			uint8_t dt = t->t[fn->arg[2]];
			bool ok =
			    (dt == xt && (xt != SN_XT_DECIMAL ||
					  (t->ct && t->ct[fn->arg[2]] == t->ct[fn->arg[0]]))) ||
			    dt == SN_XT_NULL || (is_numeric(dt) && is_numeric(xt)) ||
			    (is_text(dt) && is_text(xt)) ||
			    (dt == SN_XT_DATE && xt == SN_XT_DATETIME);
			if (xt == SN_XT_NULL) {
				fn->t = dt;
				ok = true;
			}
			if (!ok) {
				char tx[48];
				return xfail(c, fn->n, SN_ERR_INVALID, "QueryError",
					     "The default value of %s() has type %s, which is not "
					     "convertible to the argument's type %s",
					     fn->n->name,
					     sn_exec_type_name(dt, false, tn, sizeof(tn)),
					     sn_exec_type_name(xt, false, tx, sizeof(tx)));
			}
			fn->nullable = xn || t->nullable[fn->arg[2]] || dt == SN_XT_NULL;
		}
		return 0;
	default: break;
	}
	fn->t = xt;
	fn->nullable = xn;
	return 0;
}

struct acc {
	uint64_t n; /* rows added */
	int64_t i;
	double f;
	bool has;
	struct sn_exec_value m; /* min / max */
};

static void acc_add(const struct wfn *fn, const struct xtable *t, struct acc *a, uint32_t r)
{
	if (fn->cond >= 0 && !truthy(cell(t, r, fn->cond)))
		return;
	if (fn->arg[0] < 0) { /* count(), countIf(cond) */
		a->n++;
		return;
	}
	const struct sn_exec_value *x = cell(t, r, fn->arg[0]);
	if (vnull(x))
		return;
	a->n++;
	switch (fn->kind) {
	case W_SUM:
	case W_AVG:
		if (x->type == SN_XT_FLOAT) {
			a->f += x->f;
		} else if (x->type == SN_XT_DECIMAL) {
			/* 128 bits: the low half in i, the carries in f (agg.c dec_add) */
			uint64_t lo = (uint64_t)a->i, nlo = lo + (uint64_t)x->i;
			a->f += (double)((x->i < 0 ? -1 : 0) + (nlo < lo));
			a->i = (int64_t)nlo;
		} else
			a->i = (int64_t)((uint64_t)a->i + (uint64_t)x->i);
		break;
	case W_MIN:
	case W_MAX: {
		int d = a->has ? value_cmp(x, &a->m) : 0;
		if (!a->has || (fn->kind == W_MIN ? d < 0 : d > 0))
			a->m = *x;
		a->has = true;
		break;
	}
	default: break;
	}
}

static struct sn_exec_value acc_value(const struct wfn *fn, const struct xtable *t,
				      const struct acc *a, bool *overflow)
{
	struct sn_exec_value v = {.type = fn->t};
	uint8_t xt = fn->arg[0] >= 0 ? t->t[fn->arg[0]] : SN_XT_NULL;
	__int128 dsum = (__int128)(int64_t)a->f * ((__int128)1 << 64) + (__int128)(uint64_t)a->i;
	switch (fn->kind) {
	case W_COUNT: v.i = (int64_t)a->n; return v;
	case W_SUM:
		if (fn->t == SN_XT_NULL || (fn->nullable && !a->n))
			return default_of(fn->t, true);
		if (fn->t == SN_XT_DECIMAL) {
			*overflow = dsum < INT64_MIN || dsum > INT64_MAX;
			v.i = (int64_t)dsum;
			v.dscale = fn->dscale;
			return v;
		}
		if (fn->t == SN_XT_FLOAT)
			v.f = a->f;
		else
			v.i = a->i;
		return v;
	case W_AVG:
		if (fn->t == SN_XT_NULL || (fn->nullable && !a->n))
			return default_of(fn->t, true);
		/* nothing: nan (0.0 / 0 would be x86's negative one) */
		v.f = !a->n ? NAN
		      : xt == SN_XT_DECIMAL
			  ? (double)dsum / (double)xdec_p10[fn->dscale] / (double)a->n
			  : (xt == SN_XT_FLOAT ? a->f : (double)a->i) / (double)a->n;
		return v;
	default: /* min, max */
		if (!a->has)
			return default_of(fn->t, fn->nullable);
		return convert(&a->m, fn->t);
	}
}

/* Fills column out of each row (cells of T', width w) with fn's values. */
static int compute(struct xctx *c, const struct xtable *t, const struct layout *l,
		   const struct wfn *fn, struct sn_exec_value *outc, size_t w, size_t out)
{
	size_t n = t->nrows;
	struct acc a = {0};
	int64_t cur_fs = -1, cur_fe = -2;
	uint64_t work = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t r = l->perm[i];
		struct sn_exec_value v = {.type = fn->t};
		int64_t fs = l->fs[i], fe = l->fe[i];
		switch (fn->kind) {
		case W_ROW_NUMBER: v.i = (int64_t)(i - l->ps[i] + 1); break;
		case W_RANK: v.i = (int64_t)(l->plo[i] - l->ps[i] + 1); break;
		case W_DENSE_RANK: v.i = (int64_t)l->dense[i]; break;
		case W_LAG:
		case W_LEAD:
		case W_NTH: {
			int64_t off = fn->kind == W_NTH ? 0 : 1;
			if (fn->arg[1] >= 0) {
				const struct sn_exec_value *o = cell(t, r, fn->arg[1]);
				if (vnull(o) || (o->type != SN_XT_UINT && o->i < 0) ||
				    (fn->kind == W_NTH && o->i == 0))
					return xfail(c, fn->n, SN_ERR_INVALID, "QueryError",
						     "The offset of %s() must be a %s integer, "
						     "not %s",
						     fn->n->name,
						     fn->kind == W_NTH ? "positive"
								       : "non-negative",
						     vnull(o) ? "NULL" : "this one");
				off = (o->type == SN_XT_UINT && (uint64_t)o->i > (uint64_t)n) ||
					      o->i > (int64_t)n
					  ? (int64_t)n + 1
					  : o->i;
			}
			int64_t j = fn->kind == W_LAG	 ? (int64_t)i - off
				    : fn->kind == W_LEAD ? (int64_t)i + off
							 : fs + off - 1;
			if (fs <= fe && j >= fs && j <= fe)
				v = convert(cell(t, l->perm[j], fn->arg[0]), fn->t);
			else if (fn->arg[2] >= 0)
				v = convert(cell(t, r, fn->arg[2]), fn->t);
			else
				v = default_of(fn->t, fn->nullable);
			if (vnull(&v))
				v = default_of(fn->t, true);
			break;
		}
		case W_FIRST:
		case W_LAST: {
			bool got = false;
			for (int64_t j = fn->kind == W_FIRST ? fs : fe; j >= fs && j <= fe && !got;
			     j += fn->kind == W_FIRST ? 1 : -1) {
				const struct sn_exec_value *x = cell(t, l->perm[j], fn->arg[0]);
				work++;
				if (!vnull(x)) {
					v = convert(x, fn->t);
					got = true;
				}
			}
			if (!got)
				v = default_of(fn->t, fn->nullable);
			break;
		}
		default:
			if (fn->kind == W_COUNT && fn->arg[0] < 0 && fn->cond < 0) {
				v.i = fe >= fs ? fe - fs + 1 : 0;
				break;
			}
			if (i == l->ps[i] || fs != cur_fs || fe < cur_fe) {
				memset(&a, 0, sizeof(a));
				cur_fs = fs;
				cur_fe = fs - 1;
			}
			for (int64_t j = cur_fe + 1; j <= fe; j++)
				acc_add(fn, t, &a, l->perm[j]);
			work += (uint64_t)(fe > cur_fe ? fe - cur_fe : 0);
			if (fe > cur_fe)
				cur_fe = fe;
			bool overflow = false;
			v = acc_value(fn, t, &a, &overflow);
			if (overflow)
				return xfail(c, fn->n, SN_ERR_INVALID, "QueryError",
					     "Decimal overflow: the sum does not fit %s, which is "
					     "kept in 64 bits here",
					     fn->ct);
			break;
		}
		if ((i & 4095) == 0 || work > (1u << 20)) {
			work = 0;
			if (xcheck_budget(c))
				return c->rc;
		}
		outc[(size_t)r * w + out] = v;
	}
	return 0;
}

/* T' = T's columns, then one column per window function. */
static int run_windows(struct wplan *w, struct xtable *t2)
{
	struct xctx *c = w->c;
	const struct xtable *t = w->t;
	size_t nc = t->ncols + w->nfns, n = t->nrows;
	memset(t2, 0, sizeof(*t2));
	t2->ncols = nc;
	t2->nrows = n;
	t2->names = xalloc(c, c->qa, (nc + 1) * sizeof(*t2->names));
	t2->t = xalloc(c, c->qa, nc + 1);
	t2->nullable = xalloc(c, c->qa, (nc + 1) * sizeof(*t2->nullable));
	t2->ct = xalloc(c, c->qa, (nc + 1) * sizeof(*t2->ct));
	t2->cells = xalloc(c, c->qa, (n * nc + 1) * sizeof(*t2->cells));
	if (c->rc)
		return c->rc;
	for (size_t i = 0; i < t->ncols; i++) {
		t2->names[i] = col_name(c, 'c', i);
		t2->t[i] = t->t[i];
		t2->nullable[i] = t->nullable[i];
		/* composite types and a Decimal's scale travel with the column */
		t2->ct[i] = t->ct ? t->ct[i] : NULL;
	}
	for (size_t k = 0; k < w->nfns; k++) {
		if (type_fn(c, t, &w->fns[k]))
			return c->rc;
		t2->names[t->ncols + k] = col_name(c, 'f', k);
		t2->t[t->ncols + k] = w->fns[k].t;
		t2->nullable[t->ncols + k] = w->fns[k].nullable || w->fns[k].t == SN_XT_NULL;
		/* a function of the argument's type (lag, first_value, min, ...)
		 * keeps its type name: a Decimal's scale */
		int a0 = w->fns[k].arg[0];
		t2->ct[t->ncols + k] =
		    w->fns[k].ct ? w->fns[k].ct
		    : w->fns[k].t == SN_XT_DECIMAL && a0 >= 0 && t->t[a0] == SN_XT_DECIMAL && t->ct
			? t->ct[a0]
			: NULL;
	}
	if (c->rc)
		return c->rc;
	for (size_t r = 0; r < n; r++)
		memcpy(&t2->cells[r * nc], &t->cells[r * t->ncols], t->ncols * sizeof(*t2->cells));
	if (n > UINT32_MAX - 1)
		return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError",
			     "Too many rows for window functions");
	for (size_t s = 0; s < w->nspecs && !c->rc; s++) {
		struct sn_arena a;
		sn_arena_init(&a, c->mem_limit);
		struct layout l;
		if (layout_make(c, &a, t, &w->specs[s], &l) == 0)
			for (size_t k = 0; k < w->nfns && !c->rc; k++)
				if (w->fns[k].spec == (int)s)
					compute(c, t, &l, &w->fns[k], t2->cells, nc, t->ncols + k);
		sn_arena_release(&a);
	}
	return c->rc;
}

/* ---- the statement -------------------------------------------------------------------- */

/* GROUP BY 2: the select item it names, as the user's statement has it. */
static node_t *positional(const struct sn_hogql_select *s, node_t *n)
{
	if (n && n->kind == SN_HQ_CONSTANT && n->ctype == SN_HQC_INT && n->ival >= 1 &&
	    (size_t)n->ival <= s->select.n)
		return s->select.items[n->ival - 1];
	return n;
}

static node_t *select_node(struct xctx *c, const node_t *like, struct sn_hogql_select *sel)
{
	node_t *r = sn_hogql_node_new(c->qa, SN_HQ_SELECT);
	if (!r) {
		xnomem(c);
		return NULL;
	}
	r->sel = sel;
	r->has_pos = like->has_pos;
	r->start = like->start;
	r->end = like->end;
	return r;
}

static int plan(struct wplan *w)
{
	struct xctx *c = w->c;
	const struct sn_hogql_select *s = w->s;
	if (refuse_in(w, s->where, "WHERE") || refuse_in(w, s->prewhere, "PREWHERE") ||
	    refuse_in(w, s->having, "HAVING"))
		return c->rc;
	for (size_t i = 0; i < s->group_by.n; i++)
		if (refuse_in(w, positional(s, s->group_by.items[i]), "GROUP BY"))
			return c->rc;
	for (size_t i = 0; i < s->select.n; i++) {
		const node_t *e = s->select.items[i];
		if (e->kind == SN_HQ_FIELD && e->ref_kind == SN_HQR_ASTERISK)
			return xunsupported(c, e,
					    "SELECT * beside window functions (name the columns)");
	}
	for (size_t i = 0; i < s->select.n && !c->rc; i++)
		collect(w, s->select.items[i]);
	for (size_t i = 0; i < s->order_by.n && !c->rc; i++) {
		const node_t *o = s->order_by.items[i];
		collect(w, o->kind == SN_HQ_ORDER_EXPR ? o->a : o);
	}
	if (s->limit_by)
		for (size_t i = 0; i < s->limit_by->list.n && !c->rc; i++)
			collect(w, s->limit_by->list.items[i]);
	if (s->qualify && !c->rc) /* the one clause besides these that may hold windows */
		collect(w, s->qualify);
	return c->rc;
}

int win_select(struct xctx *c, const node_t *root, bool top, struct xtable *out)
{
	memset(out, 0, sizeof(*out));
	struct wplan *w = calloc(1, sizeof(*w));
	if (!w)
		return xnomem(c);
	const struct sn_hogql_select *s = root->sel;
	w->c = c;
	w->s = s;
	c->sel = s;
	struct sn_hogql_select *in = NULL, *outer = NULL;
	node_t *one = NULL;
	if (plan(w))
		goto out;
	/* The inner statement: the user's FROM, WHERE, GROUP BY and HAVING
	 * over the collected expressions (a constant when there is none, so a
	 * row still is a row). */
	if (!(in = xalloc(c, c->qa, sizeof(*in))))
		goto out;
	*in = *s;
	node_t **items = xalloc(c, c->qa, (w->ncols + 1) * sizeof(*items));
	if (!items)
		goto out;
	for (size_t i = 0; i < w->ncols; i++)
		items[i] = (node_t *)w->cols[i];
	size_t nitems = w->ncols;
	if (!nitems) {
		if (!(one = sn_hogql_node_new(c->qa, SN_HQ_CONSTANT))) {
			xnomem(c);
			goto out;
		}
		one->ctype = SN_HQC_INT;
		one->ival = 1;
		one->rtype.type = SN_HQT_INT;
		one->rtype.resolved = true;
		items[nitems++] = one;
	}
	in->select = (struct sn_hogql_list){.items = items, .n = nitems};
	in->distinct = false;
	in->order_by = (struct sn_hogql_list){0};
	in->has_order_by = false;
	in->interpolate = (struct sn_hogql_list){0};
	in->has_interpolate = false;
	in->limit = in->offset = in->limit_by = NULL;
	in->limit_with_ties = false;
	in->window_names = NULL;
	in->window_exprs = NULL;
	in->nwindows = 0;
	in->qualify = NULL; /* the outer statement's WHERE */
	if (s->group_by.n) {
		node_t **g = xalloc(c, c->qa, s->group_by.n * sizeof(*g));
		if (!g)
			goto out;
		for (size_t i = 0; i < s->group_by.n; i++)
			g[i] = positional(s, s->group_by.items[i]);
		in->group_by.items = g;
	}
	node_t *inner = select_node(c, root, in);
	struct xtable t;
	if (!inner || sub_run(c, inner, false, &t))
		goto out;
	w->t = &t;
	struct xtable *t2 = xalloc(c, c->qa, sizeof(*t2));
	if (!t2 || run_windows(w, t2))
		goto out;
	/* The outer statement: the select items, DISTINCT, ORDER BY, LIMIT
	 * BY, LIMIT and OFFSET over T'. */
	if (!(outer = xalloc(c, c->qa, sizeof(*outer))))
		goto out;
	memset(outer, 0, sizeof(*outer));
	outer->ctes = s->ctes;
	outer->has_ctes = s->has_ctes;
	outer->distinct = s->distinct;
	outer->select = s->select;
	outer->order_by = s->order_by;
	outer->has_order_by = s->has_order_by;
	outer->limit = s->limit;
	outer->offset = s->offset;
	outer->limit_with_ties = s->limit_with_ties;
	if (subst_list(w, &outer->select))
		goto out;
	if (s->qualify && !(outer->where = subst(w, s->qualify)))
		goto out;
	if (s->order_by.n) {
		node_t **os = xalloc(c, c->qa, s->order_by.n * sizeof(*os));
		if (!os)
			goto out;
		for (size_t i = 0; i < s->order_by.n; i++) {
			const node_t *o = s->order_by.items[i];
			if (!(os[i] = sn_hogql_node_new(c->qa, o->kind))) {
				xnomem(c);
				goto out;
			}
			*os[i] = *o;
			if (!(os[i]->a = subst(w, o->a)))
				goto out;
		}
		outer->order_by.items = os;
	}
	if (s->limit_by) {
		if (!(outer->limit_by = sn_hogql_node_new(c->qa, s->limit_by->kind))) {
			xnomem(c);
			goto out;
		}
		*outer->limit_by = *s->limit_by;
		if (subst_list(w, &outer->limit_by->list))
			goto out;
	}
	node_t *oroot = select_node(c, root, outer);
	if (!oroot)
		goto out;
	c->win_from = t2;
	exec_select(c, oroot, top, out);
	c->win_from = NULL;
	if (c->rc)
		goto out;
	/* §4.8 names of the user's select items, not of the columns of T'. */
	for (size_t i = 0; i < out->ncols && i < s->select.n; i++)
		if (!(out->names[i] = column_name(c, s->select.items[i])))
			goto out;
out:
	c->sel = s;
	free(w);
	return c->rc;
}
