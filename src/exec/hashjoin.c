/*
 * hashjoin.c — explicit JOINs: `FROM a [AS x] [INNER|LEFT|RIGHT|FULL|CROSS]
 * JOIN b [AS y] ON x.k = y.k [AND ...] | USING (k, ...)`, in chains, where
 * each side is events, persons, person_distinct_ids, groups, sessions, a
 * subquery or a CTE.
 *
 * Every side is materialised first, like a subquery in FROM (subquery.c):
 * a table side runs as the generated statement `SELECT <the columns the
 * query names on that side> FROM <table>`, parsed, resolved and executed
 * like any nested statement, so its scan carries the caller's team guard
 * (§4.6) and the lazy joins of events (person.*, pdi.*, group_N.*) work on
 * it unchanged; a subquery or CTE side is its materialised result. Then
 * the chain is joined left-deep, one side at a time:
 *
 *   side 0 ─┐
 *           ├─ hash join (build on side 1's keys, probe with T) ─▶ T ─┐
 *   side 1 ─┘                                                         ├─ ... ─▶ c->sub
 *   side 2 ───────────────────────────────────────────────────────────┘
 *
 * The joined table T holds only the columns the statement names, ordered
 * by side; the statement then runs over it as over a FROM subquery, a
 * Field being mapped to its column by (side, the Field's text without the
 * side's alias) in c->jmap.
 *
 * Semantics follow ClickHouse's ALL joins: every matching pair is a row;
 * NULL keys never match; keys are compared as IN (SELECT ...) compares
 * them (Int64 with Float64, String with UUID, Date with DateTime; types
 * that never compare equal are an error, as in ClickHouse). Columns of
 * the side without a match (LEFT, RIGHT, FULL) are NULL, the result of
 * join_use_nulls=1, and are typed Nullable — the choice the lazy joins of
 * join.c made already; ClickHouse's default would give type defaults. ON
 * must be a conjunction of equalities between a column of the joined side
 * and a column of the sides before it: anything else is refused
 * (NotImplementedError), as ClickHouse refuses non-equi ON conditions.
 * USING (k) compares the previous side's k with this side's k. CROSS JOIN
 * (and `FROM a, b`) is a nested loop bounded by HJ_CROSS_MAX_ROWS.
 *
 * Memory: every side and every intermediate table lives in the query
 * arena, so the query's memory budget bounds their sum and exceeding it
 * is the usual memory-limit error.
 *
 * Rejected alternative: streaming the left side's batches through the
 * probe instead of materialising it. It saves holding the left side, but
 * the statement's operators would need a second kind of input, and the
 * left side of any join after the first is a join result anyway; sides
 * hold only the referenced columns, which keeps them small.
 */
#include <stdio.h>
#include <string.h>

#include "exec/exec_internal.h"

#define HJ_MAX_SOURCES	  16
#define HJ_CROSS_MAX_ROWS ((size_t)1 << 24)
#define HJ_NONE		  UINT32_MAX

enum { JT_INNER, JT_LEFT, JT_RIGHT, JT_FULL, JT_CROSS };

struct jcol {
	int src;
	const node_t *e;  /* the column's expression without the side's alias */
	const char *text; /* e printed: the column's identity on its side */
};

struct xjmap {
	size_t nsrc;
	const char *names[HJ_MAX_SOURCES];
	const node_t *ents[HJ_MAX_SOURCES];
	struct jcol cols[XMAX_COLS];
	size_t ncols;
};

/* ---- columns ----------------------------------------------------------------------- */

static int src_of_name(const struct xjmap *m, const char *name)
{
	for (size_t i = 0; name && i < m->nsrc; i++)
		if (m->names[i] && strcmp(m->names[i], name) == 0)
			return (int)i;
	return -1;
}

/* The side a column reference reads, or -1 when n is none. */
static int colref(const struct xjmap *m, const node_t *n)
{
	if (n->kind == SN_HQ_ARRAY_ACCESS)
		return n->a && n->a->kind == SN_HQ_FIELD ? colref(m, n->a) : -1;
	if (n->kind != SN_HQ_FIELD)
		return -1;
	switch (n->ref_kind) {
	case SN_HQR_COLUMN:
	case SN_HQR_PROPERTY:
	case SN_HQR_LAZY:
	case SN_HQR_SUBQUERY_COL: return src_of_name(m, n->ref_source);
	default: return -1;
	}
}

static const node_t *strip(struct xctx *c, const node_t *n)
{
	node_t *k = xalloc(c, c->qa, sizeof(*k));
	if (!k)
		return NULL;
	*k = *n;
	if (n->kind == SN_HQ_ARRAY_ACCESS) {
		k->a = (node_t *)strip(c, n->a);
		return k->a ? k : NULL;
	}
	if (n->strs.n > 1 && n->ref_source && strcmp(n->strs.items[0], n->ref_source) == 0) {
		k->strs.items++;
		k->strs.n--;
	}
	return k;
}

static const char *text_of(struct xctx *c, const node_t *e)
{
	struct sn_buf b;
	sn_buf_init(&b, 4096);
	const char *out = NULL;
	if (sn_hogql_print_expr(&b, e) >= 0)
		out = sn_arena_strdup(c->qa, b.data ? b.data : "");
	sn_buf_release(&b);
	if (!out)
		xnomem(c);
	return out;
}

static int col_find(const struct xjmap *m, int src, const char *text)
{
	for (size_t i = 0; i < m->ncols; i++)
		if (m->cols[i].src == src && strcmp(m->cols[i].text, text) == 0)
			return (int)i;
	return -1;
}

/* Registers the column e (already stripped) of side src. */
static int col_add(struct xctx *c, struct xjmap *m, const node_t *at, int src, const node_t *e)
{
	const char *text = e ? text_of(c, e) : NULL;
	if (!text)
		return c->rc;
	if (col_find(m, src, text) >= 0)
		return 0;
	if (m->ncols >= XMAX_COLS)
		return xfail(c, at, SN_ERR_INVALID, "QueryError",
			     "Query reads too many columns (at most %d)", XMAX_COLS);
	m->cols[m->ncols++] = (struct jcol){src, e, text};
	return 0;
}

static int collect(struct xctx *c, struct xjmap *m, const node_t *n, int depth)
{
	if (!n || c->rc)
		return c->rc;
	if (depth > SN_HOGQL_MAX_DEPTH)
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "Expression nests too deeply");
	if (n->kind == SN_HQ_SELECT || n->kind == SN_HQ_SELECT_SET)
		return 0; /* a nested statement reads its own FROM */
	int src = colref(m, n);
	if (src >= 0)
		return col_add(c, m, n, src, strip(c, n));
	if (n->kind == SN_HQ_FIELD && n->ref_kind == SN_HQR_ASTERISK)
		return xunsupported(c, n, "SELECT * over a JOIN (name the columns)");
	const node_t *kids[] = {n->a, n->b, n->c, n->d};
	for (size_t i = 0; i < SN_ARRAY_LEN(kids); i++)
		collect(c, m, kids[i], depth + 1);
	const struct sn_hogql_list *ls[] = {&n->list, &n->list2, &n->list3};
	for (size_t i = 0; i < SN_ARRAY_LEN(ls); i++)
		for (size_t k = 0; k < ls[i]->n; k++)
			collect(c, m, ls[i]->items[k], depth + 1);
	return c->rc;
}

int hj_ref(struct xctx *c, const node_t *n, struct xref *r)
{
	const struct xjmap *m = c->jmap;
	int src = colref(m, n);
	if (src < 0) {
		if (n->kind == SN_HQ_FIELD && n->ref_kind == SN_HQR_ASTERISK)
			return xunsupported(c, n, "SELECT * over a JOIN (name the columns)");
		return 0;
	}
	const node_t *e = strip(c, n);
	const char *text = e ? text_of(c, e) : NULL;
	if (!text)
		return c->rc;
	int i = col_find(m, src, text);
	if (i < 0)
		return xunsupported(c, n, "this column of a joined table here");
	r->kind = XC_SUB;
	r->name = c->sub->names[i];
	r->gidx = i;
	return 1;
}

/* ---- sides ------------------------------------------------------------------------- */

/* Materialises side k with the columns the query names on it, in the
 * order of m->cols. */
static int side_table(struct xctx *c, struct xjmap *m, int k, struct xtable **out)
{
	const node_t *j = m->ents[k];
	size_t first = 0, n = 0;
	while (first < m->ncols && m->cols[first].src < k)
		first++;
	while (first + n < m->ncols && m->cols[first + n].src == k)
		n++;
	if (j->d)
		return xunsupported(c, j->d, "SAMPLE");
	if (j->flag)
		return xunsupported(c, j, "FINAL");
	const struct xtable *saved_sub = c->sub;
	const char *saved_from = c->from, *saved_name = c->from_name;
	c->sub = NULL;
	int is_sub = sub_from(c, j);
	const struct xtable *whole = c->sub;
	c->sub = saved_sub;
	c->from = saved_from;
	c->from_name = saved_name;
	if (is_sub < 0)
		return c->rc;
	struct xtable *t = xalloc(c, c->qa, sizeof(*t));
	if (!t)
		return c->rc;
	if (is_sub) {
		/* project the named columns of the materialised subquery */
		int *ix = xalloc(c, c->qa, (n + 1) * sizeof(*ix));
		if (!ix)
			return c->rc;
		for (size_t i = 0; i < n; i++) {
			const node_t *e = m->cols[first + i].e;
			ix[i] = -1;
			if (e->kind != SN_HQ_FIELD || e->strs.n != 1)
				return xunsupported(c, e, "property access on a subquery's column");
			for (size_t q = 0; q < whole->ncols && ix[i] < 0; q++)
				if (strcmp(whole->names[q], e->strs.items[0]) == 0)
					ix[i] = (int)q;
			if (ix[i] < 0)
				return xfail(c, j, SN_ERR_INVALID, "QueryError",
					     "Unable to resolve field: %s", e->strs.items[0]);
		}
		*t = *whole;
		t->ncols = n;
		t->names = xalloc(c, c->qa, (n + 1) * sizeof(*t->names));
		t->t = xalloc(c, c->qa, n + 1);
		t->nullable = xalloc(c, c->qa, n + 1);
		t->ct = xalloc(c, c->qa, (n + 1) * sizeof(*t->ct));
		t->cells = xalloc(c, c->qa, (whole->nrows * n + 1) * sizeof(*t->cells));
		if (!t->names || !t->t || !t->nullable || !t->ct || !t->cells)
			return c->rc;
		for (size_t i = 0; i < n; i++) {
			t->names[i] = whole->names[ix[i]];
			t->t[i] = whole->t[ix[i]];
			t->ct[i] = whole->ct ? whole->ct[ix[i]] : NULL;
			t->nullable[i] = whole->nullable[ix[i]];
		}
		for (size_t r = 0; r < whole->nrows; r++)
			for (size_t i = 0; i < n; i++)
				t->cells[r * n + i] =
				    whole->cells[r * whole->ncols + (size_t)ix[i]];
		*out = t;
		return 0;
	}
	const char *table = j->a && j->a->kind == SN_HQ_FIELD && j->a->strs.n == 1
				? join_table_name(j->a->strs.items[0])
				: NULL;
	if (!table || j->has_list)
		return xunsupported(c, j->a ? j->a : j,
				    "tables other than events, persons, person_distinct_ids, "
				    "groups, cohort_people, static_cohort_people and sessions");
	/* The side runs as its own statement: generated, resolved and run
	 * like any nested SELECT, with the caller's team on its scan. */
	struct sn_buf b;
	sn_buf_init(&b, SN_HOGQL_MAX_QUERY_LEN);
	int brc = sn_buf_appends(&b, "SELECT ");
	for (size_t i = 0; i < n && !brc; i++)
		brc = sn_buf_appendf(&b, "%s%s", i ? ", " : "", m->cols[first + i].text);
	if (!brc)
		brc = sn_buf_appendf(&b, "%s FROM %s", n ? "" : "1", table);
	const char *text = brc ? NULL : sn_arena_strdup(c->qa, b.data);
	sn_buf_release(&b);
	if (!text)
		return xnomem(c);
	struct sn_hogql_error e = {0};
	node_t *root = NULL;
	int rc = sub_generated(c, text, &root, &e);
	if (rc == SN_ERR_NOMEM)
		return c->rc;
	if (rc)
		return xfail(c, j->a, SN_ERR_INVALID, e.type ? e.type : "QueryError", "%s", e.msg);
	if (sub_run(c, root, false, t))
		return c->rc;
	if (!n) {
		t->ncols = 0;
	} else if (t->ncols != n) {
		return xfail(c, j, SN_ERR_INVALID, "QueryError",
			     "JOIN side has %zu columns, not %zu", t->ncols, n);
	}
	*out = t;
	return 0;
}

/* ---- joining ----------------------------------------------------------------------- */

static int join_type(struct xctx *c, const node_t *j, int *jt)
{
	const char *op = j->op ? j->op : "JOIN";
	if (strstr(op, "ASOF") || strstr(op, "SEMI") || strstr(op, "ANTI") || strstr(op, "ANY"))
		return xunsupported(c, j, "ANY, SEMI, ANTI and ASOF JOIN");
	*jt = strstr(op, "CROSS")   ? JT_CROSS
	      : strstr(op, "LEFT")  ? JT_LEFT
	      : strstr(op, "RIGHT") ? JT_RIGHT
	      : strstr(op, "FULL")  ? JT_FULL
				    : JT_INNER;
	if (*jt == JT_CROSS && j->b)
		return xfail(c, j->b, SN_ERR_INVALID, "SyntaxError",
			     "CROSS JOIN takes no ON or USING");
	if (*jt != JT_CROSS && !j->b)
		return xfail(c, j, SN_ERR_INVALID, "QueryError", "%s needs ON or USING", op);
	return 0;
}

static void flatten_and(const node_t *e, const node_t **terms, size_t *n, size_t max)
{
	if (e->kind == SN_HQ_AND) {
		for (size_t i = 0; i < e->list.n; i++)
			flatten_and(e->list.items[i], terms, n, max);
		return;
	}
	if (*n < max)
		terms[*n] = e;
	(*n)++;
}

/* The USING names of constraint b: Fields of one name each. */
static int using_names(struct xctx *c, const node_t *b, const node_t ***out, size_t *n)
{
	const node_t *e = b->a;
	size_t cnt = e->kind == SN_HQ_TUPLE ? e->list.n : 1;
	const node_t **v = xalloc(c, c->qa, (cnt + 1) * sizeof(*v));
	if (!v)
		return c->rc;
	for (size_t i = 0; i < cnt; i++) {
		const node_t *f = e->kind == SN_HQ_TUPLE ? e->list.items[i] : e;
		if (f->kind != SN_HQ_FIELD || f->strs.n != 1)
			return xunsupported(c, f, "USING other than a list of column names");
		v[i] = f;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* A bare Field of one name, for a USING column on either side. */
static const node_t *name_field(struct xctx *c, const node_t *f)
{
	node_t *k = xalloc(c, c->qa, sizeof(*k));
	if (!k)
		return NULL;
	*k = *f;
	k->ref_source = NULL;
	return k;
}

/* Registers the key columns of entry k's constraint. */
static int collect_constraint(struct xctx *c, struct xjmap *m, int k)
{
	const node_t *b = m->ents[k]->b;
	if (!b)
		return 0;
	if (strcmp(b->op, "ON") == 0)
		return collect(c, m, b->a, 0);
	const node_t **names;
	size_t n;
	if (using_names(c, b, &names, &n))
		return c->rc;
	for (size_t i = 0; i < n; i++) {
		const node_t *f = name_field(c, names[i]);
		if (!f || col_add(c, m, names[i], k - 1, f) || col_add(c, m, names[i], k, f))
			return c->rc;
	}
	return 0;
}

/* Key column pairs of entry k: indexes into the left table (global
 * column index) and into the right side (index - first). */
static int key_pairs(struct xctx *c, const struct xjmap *m, int k, size_t first, int *lk, int *rk,
		     const node_t **at, size_t *nk)
{
	const node_t *b = m->ents[k]->b;
	*nk = 0;
	if (strcmp(b->op, "USING") == 0) {
		const node_t **names;
		size_t n;
		if (using_names(c, b, &names, &n))
			return c->rc;
		if (n > XMAX_KEYS)
			return xunsupported(c, b, "more than 32 JOIN keys");
		for (size_t i = 0; i < n; i++) {
			const char *text = text_of(c, names[i]);
			if (!text)
				return c->rc;
			lk[i] = col_find(m, k - 1, text);
			rk[i] = col_find(m, k, text) - (int)first;
			at[i] = names[i];
		}
		*nk = n;
		return 0;
	}
	const node_t *terms[XMAX_KEYS];
	size_t n = 0;
	if (b->a->kind == SN_HQ_TUPLE)
		return xunsupported(c, b->a, "JOIN ON with a list of conditions (use AND)");
	flatten_and(b->a, terms, &n, XMAX_KEYS);
	if (n > XMAX_KEYS)
		return xunsupported(c, b->a, "more than 32 JOIN keys");
	for (size_t i = 0; i < n; i++) {
		const node_t *t = terms[i];
		int sa = -1, sb = -1;
		if (t->kind == SN_HQ_COMPARE && t->op && strcmp(t->op, "==") == 0 && t->a && t->b) {
			sa = colref(m, t->a);
			sb = colref(m, t->b);
		}
		const node_t *l = t->a, *r = t->b;
		if (sa == k && sb >= 0 && sb < k) {
			l = t->b;
			r = t->a;
			int s = sa;
			sa = sb;
			sb = s;
		}
		bool eq = t->kind == SN_HQ_COMPARE && t->op && strcmp(t->op, "==") == 0;
		if (eq && (sa < 0 || sb < 0) && t->a->kind != SN_HQ_CONSTANT &&
		    t->b->kind != SN_HQ_CONSTANT)
			return xunsupported(c, t,
					    "JOIN keys that are expressions rather than columns "
					    "(compute them in a subquery)");
		if (sa < 0 || sa >= k || sb != k)
			return xunsupported(c, t,
					    "JOIN ON conditions other than equalities between a "
					    "column of each side (ClickHouse refuses them too)");
		const char *lt = text_of(c, strip(c, l)), *rt = text_of(c, strip(c, r));
		if (!lt || !rt)
			return c->rc;
		lk[i] = col_find(m, sa, lt);
		rk[i] = col_find(m, sb, rt) - (int)first;
		at[i] = t;
	}
	*nk = n;
	return 0;
}

/* The key of row (width w) into key: 1, or 0 when it can match nothing
 * (a NULL, or a text that is no time compared with times). */
static int row_key(struct xctx *c, const struct sn_exec_value *row, const int *cols, const int *cls,
		   size_t nk, struct sn_buf *key, struct sn_buf *tmp)
{
	sn_buf_reset(key);
	for (size_t i = 0; i < nk; i++) {
		const struct sn_exec_value *v = &row[cols[i]];
		if (v->null || v->type == SN_XT_NULL)
			return 0;
		bool nomem = false;
		int ok = sub_key(tmp, cls[i], v, &nomem);
		uint32_t len = (uint32_t)tmp->len;
		if (nomem || sn_buf_append(key, &len, sizeof(len)) ||
		    sn_buf_append(key, tmp->data, tmp->len)) {
			xnomem(c);
			return 0;
		}
		if (!ok)
			return 0;
	}
	return 1;
}

static void put_row(struct sn_exec_value *dst, const struct xtable *t, size_t r, size_t w,
		    const uint8_t *types)
{
	for (size_t i = 0; i < w; i++)
		dst[i] = r == HJ_NONE ? (struct sn_exec_value){.type = types[i], .null = true}
				      : t->cells[r * t->ncols + i];
}

/* L joined with side k (R) into *out. L's columns are m->cols[0..first),
 * R's the next R->ncols. */
static int join_step(struct xctx *c, const struct xjmap *m, int k, size_t first,
		     const struct xtable *L, const struct xtable *R, struct xtable **out)
{
	const node_t *j = m->ents[k];
	int jt = JT_INNER;
	if (join_type(c, j, &jt))
		return c->rc;
	size_t nl = L->nrows, nr = R->nrows, wl = L->ncols, wr = R->ncols, w = wl + wr;
	struct xtable *T = xalloc(c, c->qa, sizeof(*T));
	if (!T)
		return c->rc;
	memset(T, 0, sizeof(*T));
	T->ncols = w;
	T->names = xalloc(c, c->qa, (w + 1) * sizeof(*T->names));
	T->t = xalloc(c, c->qa, w + 1);
	T->nullable = xalloc(c, c->qa, w + 1);
	T->ct = xalloc(c, c->qa, (w + 1) * sizeof(*T->ct));
	if (!T->names || !T->t || !T->nullable || !T->ct)
		return c->rc;
	for (size_t i = 0; i < w; i++) {
		T->names[i] = m->cols[i].text;
		T->t[i] = i < wl ? L->t[i] : R->t[i - wl];
		T->ct[i] = i < wl ? (L->ct ? L->ct[i] : NULL) : (R->ct ? R->ct[i - wl] : NULL);
		T->nullable[i] = i < wl ? L->nullable[i] || jt == JT_RIGHT || jt == JT_FULL
					: R->nullable[i - wl] || jt == JT_LEFT || jt == JT_FULL;
	}
	size_t total = 0;
	uint32_t *lid = NULL, *head = NULL, *next = NULL, *cnt = NULL;
	uint32_t *pl = NULL, *pr = NULL; /* the result's (left, right) rows, when paired first */
	int lk[XMAX_KEYS], rk[XMAX_KEYS], cls[XMAX_KEYS];
	size_t nk = 0;
	uint8_t *hit = NULL, *matched = NULL;
	struct gtab g;
	struct sn_buf key, tmp;
	sn_buf_init(&key, 1 << 20);
	sn_buf_init(&tmp, 1 << 20);
	if (jt == JT_CROSS) {
		if (nr && nl > HJ_CROSS_MAX_ROWS / nr) {
			xfail(c, j, SN_ERR_TOO_BIG, "QueryError",
			      "CROSS JOIN would make %zu x %zu rows (at most %zu)", nl, nr,
			      HJ_CROSS_MAX_ROWS);
			goto out;
		}
		total = nl * nr;
	} else {
		const node_t *at[XMAX_KEYS];
		if (key_pairs(c, m, k, first, lk, rk, at, &nk))
			goto out;
		for (size_t i = 0; i < nk; i++) {
			if (lk[i] < 0 || rk[i] < 0 || (size_t)rk[i] >= wr) {
				xunsupported(c, at[i], "this JOIN key");
				goto out;
			}
			cls[i] = sub_key_class(L->t[lk[i]], R->t[rk[i]]);
			if (!cls[i]) {
				char a[64], b[64];
				xfail(c, at[i], SN_ERR_INVALID, "QueryError",
				      "JOIN keys of types %s and %s cannot be compared",
				      sn_exec_type_name(L->t[lk[i]], false, a, sizeof(a)),
				      sn_exec_type_name(R->t[rk[i]], false, b, sizeof(b)));
				goto out;
			}
		}
		if ((jt == JT_INNER || jt == JT_LEFT) && nl < nr) {
			/* The smaller left side is the one hashed (Q6: 88k cohort rows
			 * against 537k week rows, a table that stays in cache), and
			 * the pairs are laid out left row by left row, right rows in
			 * order within: the same rows in the same order as hashing the
			 * right side. */
			size_t cap = 64;
			while (cap < 2 * nl)
				cap *= 2;
			if (gtab_init(c, &g, cap))
				goto out;
			uint32_t *lhead = xalloc(c, c->qa, (nl + 1) * sizeof(*lhead));
			uint32_t *lnext = xalloc(c, c->qa, (nl + 1) * sizeof(*lnext));
			uint32_t *lcnt = xalloc(c, c->qa, (nl + 1) * sizeof(*lcnt));
			uint32_t *rk_id = xalloc(c, c->qa, (nr + 1) * sizeof(*rk_id));
			if (!lhead || !lnext || !lcnt || !rk_id)
				goto out;
			memset(lhead, 0xff, (nl + 1) * sizeof(*lhead));
			memset(lcnt, 0, (nl + 1) * sizeof(*lcnt));
			for (size_t l = nl; l-- > 0 && !c->rc;) {
				lnext[l] = HJ_NONE;
				if (!row_key(c, &L->cells[l * wl], lk, cls, nk, &key, &tmp))
					continue;
				uint32_t id;
				bool isnew;
				if (gtab_find(c, &g, key.data, key.len, &id, &isnew))
					goto out;
				lnext[l] = lhead[id];
				lhead[id] = (uint32_t)l;
			}
			for (size_t r = 0; r < nr && !c->rc; r++) {
				if (r % 4096 == 0 && xcheck_budget(c))
					goto out;
				rk_id[r] = HJ_NONE;
				uint32_t id;
				if (!row_key(c, &R->cells[r * wr], rk, cls, nk, &key, &tmp) ||
				    gtab_get(&g, key.data, key.len, &id) != 1)
					continue;
				rk_id[r] = id;
				for (uint32_t l = lhead[id]; l != HJ_NONE; l = lnext[l]) {
					lcnt[l]++;
					total++;
				}
			}
			if (c->rc)
				goto out;
			if (jt == JT_LEFT)
				for (size_t l = 0; l < nl; l++)
					total += lcnt[l] == 0;
			if (total > UINT32_MAX) {
				xfail(c, j, SN_ERR_TOO_BIG, "QueryError",
				      "JOIN would make more than 2^32 rows");
				goto out;
			}
			pl = xalloc(c, c->qa, (total + 1) * sizeof(*pl));
			pr = xalloc(c, c->qa, (total + 1) * sizeof(*pr));
			uint32_t *pos = xalloc(c, c->qa, (nl + 1) * sizeof(*pos));
			if (!pl || !pr || !pos)
				goto out;
			size_t o = 0;
			for (size_t l = 0; l < nl; l++) {
				pos[l] = (uint32_t)o;
				if (lcnt[l] == 0 && jt == JT_LEFT) {
					pl[o] = (uint32_t)l;
					pr[o++] = HJ_NONE;
				}
				o += lcnt[l];
			}
			for (size_t r = 0; r < nr; r++)
				if (rk_id[r] != HJ_NONE)
					for (uint32_t l = lhead[rk_id[r]]; l != HJ_NONE;
					     l = lnext[l]) {
						pl[pos[l]] = l;
						pr[pos[l]++] = (uint32_t)r;
					}
		}
	}
	if (!pl && jt != JT_CROSS) {
		/* build on the right side; chains keep row order */
		size_t cap = 64;
		while (cap < 2 * nr)
			cap *= 2;
		if (gtab_init(c, &g, cap))
			goto out;
		head = xalloc(c, c->qa, (nr + 1) * sizeof(*head));
		next = xalloc(c, c->qa, (nr + 1) * sizeof(*next));
		cnt = xalloc(c, c->qa, (nr + 1) * sizeof(*cnt));
		hit = xalloc(c, c->qa, nr + 1);
		lid = xalloc(c, c->qa, (nl + 1) * sizeof(*lid));
		uint32_t *rid = xalloc(c, c->qa, (nr + 1) * sizeof(*rid));
		if (!head || !next || !cnt || !hit || !lid || !rid)
			goto out;
		memset(head, 0xff, (nr + 1) * sizeof(*head));
		memset(cnt, 0, (nr + 1) * sizeof(*cnt));
		memset(hit, 0, nr + 1);
		for (size_t r = nr; r-- > 0 && !c->rc;) {
			rid[r] = HJ_NONE;
			next[r] = HJ_NONE;
			if (!row_key(c, &R->cells[r * wr], rk, cls, nk, &key, &tmp))
				continue;
			uint32_t id;
			bool isnew;
			if (gtab_find(c, &g, key.data, key.len, &id, &isnew))
				goto out;
			rid[r] = id;
			next[r] = head[id];
			head[id] = (uint32_t)r;
			cnt[id]++;
		}
		for (size_t l = 0; l < nl && !c->rc; l++) {
			if (l % 4096 == 0 && xcheck_budget(c))
				goto out;
			lid[l] = HJ_NONE;
			uint32_t id;
			if (row_key(c, &L->cells[l * wl], lk, cls, nk, &key, &tmp) &&
			    gtab_get(&g, key.data, key.len, &id) == 1) {
				lid[l] = id;
				hit[id] = 1;
				total += cnt[id];
			} else if (jt == JT_LEFT || jt == JT_FULL) {
				total++;
			}
		}
		if (jt == JT_RIGHT || jt == JT_FULL)
			for (size_t r = 0; r < nr; r++)
				total += rid[r] == HJ_NONE || !hit[rid[r]];
		if (c->rc)
			goto out;
		matched = xalloc(c, c->qa, nr + 1);
		if (!matched)
			goto out;
		for (size_t r = 0; r < nr; r++)
			matched[r] = rid[r] != HJ_NONE && hit[rid[r]];
	}
	if (w && total > SIZE_MAX / w / sizeof(struct sn_exec_value) - 1) {
		xnomem(c);
		goto out;
	}
	T->cells = xalloc(c, c->qa, (total * w + 1) * sizeof(*T->cells));
	if (!T->cells)
		goto out;
	size_t o = 0;
	for (size_t x = 0; pl && x < total; x++, o++) {
		put_row(&T->cells[o * w], L, pl[x], wl, L->t);
		put_row(&T->cells[o * w + wl], R, pr[x], wr, R->t);
	}
	for (size_t l = 0; !pl && l < nl; l++) {
		if (l % 4096 == 0 && xcheck_budget(c))
			goto out;
		if (jt == JT_CROSS) {
			for (size_t r = 0; r < nr; r++, o++) {
				put_row(&T->cells[o * w], L, l, wl, L->t);
				put_row(&T->cells[o * w + wl], R, r, wr, R->t);
			}
			continue;
		}
		if (lid[l] != HJ_NONE) {
			for (uint32_t r = head[lid[l]]; r != HJ_NONE; r = next[r], o++) {
				put_row(&T->cells[o * w], L, l, wl, L->t);
				put_row(&T->cells[o * w + wl], R, r, wr, R->t);
			}
		} else if (jt == JT_LEFT || jt == JT_FULL) {
			put_row(&T->cells[o * w], L, l, wl, L->t);
			put_row(&T->cells[o * w + wl], R, HJ_NONE, wr, R->t);
			o++;
		}
	}
	if (!pl && (jt == JT_RIGHT || jt == JT_FULL))
		for (size_t r = 0; r < nr; r++)
			if (!matched[r]) {
				put_row(&T->cells[o * w], L, HJ_NONE, wl, L->t);
				put_row(&T->cells[o * w + wl], R, r, wr, R->t);
				o++;
			}
	if (o != total)
		SN_BUG("hashjoin: %s", "row count mismatch");
	T->nrows = total;
	*out = T;
out:
	sn_buf_release(&key);
	sn_buf_release(&tmp);
	return c->rc;
}

/* ---- entry ------------------------------------------------------------------------- */

int hj_from(struct xctx *c, const node_t *j)
{
	if (!j->c)
		return 0;
	struct xjmap *m = xalloc(c, c->qa, sizeof(*m));
	if (!m)
		return -1;
	memset(m, 0, sizeof(*m));
	for (const node_t *e = j; e; e = e->c) {
		if (m->nsrc >= HJ_MAX_SOURCES)
			return xunsupported(c, e, "more than 16 tables in one JOIN chain"), -1;
		const char *name = e->name;
		if (!name && e->a && e->a->kind == SN_HQ_FIELD && e->a->strs.n == 1)
			name = e->a->strs.items[0];
		m->names[m->nsrc] = name;
		m->ents[m->nsrc++] = e;
	}
	const struct sn_hogql_select *s = c->sel;
	const struct sn_hogql_list *ls[] = {&s->select, &s->group_by, &s->order_by};
	for (size_t i = 0; i < SN_ARRAY_LEN(ls); i++)
		for (size_t k = 0; k < ls[i]->n; k++)
			collect(c, m, ls[i]->items[k], 0);
	collect(c, m, s->where, 0);
	collect(c, m, s->having, 0);
	for (size_t k = 1; k < m->nsrc && !c->rc; k++)
		collect_constraint(c, m, (int)k);
	if (c->rc)
		return -1;
	/* stable sort by side, so each side's columns are contiguous */
	for (size_t i = 1; i < m->ncols; i++) {
		struct jcol x = m->cols[i];
		size_t k = i;
		for (; k > 0 && m->cols[k - 1].src > x.src; k--)
			m->cols[k] = m->cols[k - 1];
		m->cols[k] = x;
	}
	struct xtable *T;
	if (side_table(c, m, 0, &T))
		return -1;
	size_t first = T->ncols;
	for (size_t k = 1; k < m->nsrc; k++) {
		struct xtable *R, *J;
		if (side_table(c, m, (int)k, &R) || join_step(c, m, (int)k, first, T, R, &J))
			return -1;
		T = J;
		first += R->ncols;
	}
	c->sub = T;
	c->jmap = m;
	c->from = "subquery";
	c->from_name = "";
	return 1;
}
