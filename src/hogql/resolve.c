/*
 * resolve.c — names and types for a parsed HogQL statement (spec §4).
 *
 * One pass over the tree, statement by statement, with a chain of scopes:
 *
 *   scope (outer SELECT)  ── sources: events AS e, (subquery) AS s, ...
 *     │                      ctes, select aliases, parent pointer
 *     └─ scope (subquery)  ── its own sources; unresolved names fall back
 *                             to the parent (correlated subqueries)
 *
 * A Field chain is looked up as: lambda argument → FROM entry by alias or
 * table name (`e.event`) → SELECT alias → unqualified field of exactly one
 * FROM entry → column CTE → the parent scope. A name found in several FROM
 * entries is ambiguous unless a USING constraint merged it (then it is the
 * left entry's). A CTE is not visible inside its own body (CTEs are not
 * recursive): there `events` is the table. Inside a table, the chain is
 * walked through the static schema (schema.c): a JSON column makes the rest
 * a property path typed Nullable(String) (§4.2); lazy joins, traversers
 * (`person` = `pdi.person`) and virtual sub-tables continue in their target
 * table. Results are written onto the nodes (rtype, ref_*) so the executor
 * and the ClickHouse printer can read them without resolving again; lazy
 * joins are typed here but expanded into subqueries by a later step.
 *
 * Calls are checked against the allow-list (functions.c) for name, arity
 * and parameters, with a "did you mean" hint for near misses. The outermost
 * SELECT (each member of a top-level set) gets the LIMIT of §4.7.
 *
 * Errors stop at the first problem, carry PostHog's QueryError class and
 * the character span of the offending node. Memory: new nodes (limits) come
 * from the query arena; scopes live on the C stack, bounded by the parser's
 * nesting limit.
 *
 * Rejected alternative: PostHog's separate type objects (FieldType,
 * TableType, ...) linked from every node. The few facts later stages need
 * fit in four node members, and a second object graph would double the
 * allocation per node for no reader we have.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hogql/hogql.h"

typedef struct sn_hogql_node node_t;

#define MAX_SOURCES 64
#define MAX_LAMBDA  64

struct source {
	const char *name;
	const struct sn_hogql_table_def *table; /* NULL for subqueries */
	const node_t *sub;			/* subquery / CTE statement */
};

struct scope {
	struct scope *parent;
	struct source src[MAX_SOURCES];
	size_t nsrc;
	const struct sn_hogql_select *sel; /* aliases and CTEs */
	const char *arrayjoin[MAX_SOURCES];
	size_t narrayjoin;
	/* Columns named in a USING constraint: an unqualified reference is the
	 * merged column, not ambiguous (the left side's is taken). */
	const char *using_cols[MAX_SOURCES];
	size_t nusing;
};

struct ctx {
	struct sn_arena *a;
	const char *text;
	size_t len;
	struct sn_hogql_error *err;
	int rc;
	int64_t default_limit, max_limit;
	const struct sn_hogql_values *values; /* {name} placeholders' values */
	const char *lambda[MAX_LAMBDA];
	size_t nlambda;
	const char *in_aggregate;
	/* CTEs whose body is being resolved: not visible inside it (a CTE is
	 * not recursive), so `WITH events AS (SELECT ... FROM events)` reads
	 * the table inside. */
	const node_t *open_ctes[MAX_LAMBDA];
	size_t nopen;
	/* The expression field the last chain walk ended on (SN_HQR_EXPR), and
	 * the FROM entry to qualify its chains with when the chain was not. */
	const struct sn_hogql_field_def *xfield;
	const char *xsource;
	/* Typed properties: where the last chain walk met a JSON column (its
	 * table, how many keys follow it, the lazy join or virtual table it
	 * came through), the call whose arguments are being resolved, and
	 * whether a wrapper made here is being resolved (its field is not
	 * wrapped again). */
	const struct sn_hogql_prop_types *ptypes;
	const struct sn_hogql_table_def *pj_table;
	size_t pj_keys;
	const char *pj_via;
	const char *cur_call;
	const char *direct_call; /* the call a Field being resolved is an argument of */
	bool no_wrap;
};

static uint32_t cp(struct ctx *c, uint32_t byte_off)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < byte_off && i < c->len; i++)
		if (((unsigned char)c->text[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static void fail(struct ctx *c, const node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct ctx *c, const node_t *at, const char *fmt, ...)
{
	if (c->rc)
		return;
	c->rc = SN_ERR_INVALID;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
	c->err->type = "QueryError";
	c->err->start = at && at->has_pos ? cp(c, at->start) : 0;
	c->err->end = at && at->has_pos ? cp(c, at->end) : 0;
}

static void set(node_t *n, uint8_t type, bool nullable)
{
	n->rtype.type = type;
	n->rtype.nullable = nullable;
	n->rtype.resolved = true;
}

static void expr(struct ctx *c, struct scope *s, node_t *n);
static void statement(struct ctx *c, struct scope *parent, node_t *n, bool top);

/* ---- chains in tables ------------------------------------------------------- */

/* Walks chain[i..n) inside table t; 1 found, 0 not found (no error), -1 error. */
static int chain_in_table(struct ctx *c, node_t *f, const struct sn_hogql_table_def *t,
			  const char *const *chain, size_t i, size_t n, bool via_join)
{
	const struct sn_hogql_field_def *fd = sn_hogql_table_field(t, chain[i]);
	if (!fd)
		return 0;
	if (!f->ref_field) {
		f->ref_field = fd;
		f->ref_table = t;
	}
	switch (fd->kind) {
	case SN_HQFK_COLUMN:
		if (i + 1 < n) {
			fail(c, f, "Can not access property \"%s\" on field \"%s\" of type %s",
			     chain[i + 1], chain[i],
			     fd->type == SN_HQT_STRING ? "String" : "scalar");
			return -1;
		}
		f->ref_kind = via_join ? SN_HQR_LAZY : SN_HQR_COLUMN;
		set(f, fd->type, fd->nullable || via_join);
		return 1;
	case SN_HQFK_JSON:
		c->pj_table = t;
		c->pj_keys = n - i - 1;
		f->ref_kind =
		    i + 1 < n ? SN_HQR_PROPERTY : (via_join ? SN_HQR_LAZY : SN_HQR_COLUMN);
		set(f, i + 1 < n ? SN_HQT_STRING : SN_HQT_JSON, i + 1 < n);
		return 1;
	case SN_HQFK_LAZY_JOIN:
	case SN_HQFK_VIRTUAL: {
		const struct sn_hogql_table_def *tt = sn_hogql_table_target(fd);
		c->pj_via = fd->name;
		if (i + 1 == n || !tt) {
			f->ref_kind = SN_HQR_LAZY;
			set(f, SN_HQT_UNKNOWN, true);
			return 1;
		}
		int r = chain_in_table(c, f, tt, chain, i + 1, n, true);
		if (r == 0)
			fail(c, f, "Field not found: %s on table %s", chain[i + 1], tt->name);
		if (r >= 0 && f->ref_kind != SN_HQR_EXPR)
			f->ref_kind = SN_HQR_LAZY;
		return r ? r : -1;
	}
	case SN_HQFK_TRAVERSER: {
		/* Splice the traverser's chain in place of this element. */
		const char *parts[16];
		char buf[64];
		size_t np = 0;
		snprintf(buf, sizeof(buf), "%s", fd->target);
		for (char *tok = strtok(buf, "."); tok && np < 8; tok = strtok(NULL, "."))
			parts[np++] = tok;
		for (size_t k = i + 1; k < n && np < SN_ARRAY_LEN(parts); k++)
			parts[np++] = chain[k];
		int r = chain_in_table(c, f, t, parts, 0, np, via_join);
		if (r == 0)
			fail(c, f, "Field not found: %s", chain[i]);
		return r ? r : -1;
	}
	case SN_HQFK_EXPR: {
		if (i + 1 < n) {
			fail(c, f, "Can not access property \"%s\" on field \"%s\" of type String",
			     chain[i + 1], chain[i]);
			return -1;
		}
		c->xfield = fd;
		c->xsource = NULL;
		f->ref_kind = SN_HQR_EXPR;
		set(f, fd->type, true);
		return 1;
	}
	default: return 0;
	}
}

/* ---- expression fields ------------------------------------------------------ */

/* Prefixes every chain of the expression n with pre (the path to the
 * field's table) and gives every node the span of the field it replaces. */
static void prefix_chains(struct ctx *c, node_t *n, const char **pre, size_t np, const node_t *at)
{
	if (!n || c->rc)
		return;
	n->has_pos = at->has_pos;
	n->start = at->start;
	n->end = at->end;
	if (n->kind == SN_HQ_FIELD && np) {
		const char **items = sn_arena_alloc(c->a, (np + n->strs.n) * sizeof(*items));
		if (!items) {
			c->rc = SN_ERR_NOMEM;
			return;
		}
		memcpy(items, pre, np * sizeof(*items));
		memcpy(items + np, n->strs.items, n->strs.n * sizeof(*items));
		n->strs.items = items;
		n->strs.n += np;
	}
	node_t *kids[] = {n->a, n->b, n->c, n->d};
	for (size_t k = 0; k < SN_ARRAY_LEN(kids); k++)
		prefix_chains(c, kids[k], pre, np, at);
	const struct sn_hogql_list *lists[] = {&n->list, &n->list2, &n->list3};
	for (size_t l = 0; l < SN_ARRAY_LEN(lists); l++)
		for (size_t k = 0; k < lists[l]->n; k++)
			prefix_chains(c, lists[l]->items[k], pre, np, at);
}

/* Puts the expression of the field f resolved to (c->xfield, the last
 * element of its chain) in place of f and resolves it in the same scope:
 * `person.$virt_initial_channel_type` becomes the channel rules over
 * `person.properties.$initial_utm_source`, ... (the chain's other elements,
 * qualified by the FROM entry when they were not, prefix its chains). */
static void expand_field(struct ctx *c, struct scope *s, node_t *f)
{
	const struct sn_hogql_field_def *fd = c->xfield;
	size_t np = f->strs.n - 1 + (c->xsource != NULL);
	const char **pre = sn_arena_alloc(c->a, (np + 1) * sizeof(*pre));
	if (!pre) {
		c->rc = SN_ERR_NOMEM;
		return;
	}
	size_t k = 0;
	if (c->xsource)
		pre[k++] = c->xsource;
	for (size_t i = 0; i + 1 < f->strs.n; i++)
		pre[k++] = f->strs.items[i];
	node_t *e = NULL;
	struct sn_hogql_error perr;
	if (sn_hogql_parse_expr(c->a, fd->target, strlen(fd->target), &e, &perr)) {
		if (!c->rc)
			fail(c, f, "The expression of field %s does not parse: %s", fd->name,
			     perr.msg);
		return;
	}
	prefix_chains(c, e, pre, np, f);
	if (c->rc)
		return;
	*f = *e;
	expr(c, s, f);
}

/* ---- subquery columns ------------------------------------------------------- */

static const char *column_name(const node_t *e)
{
	if (e->typed_of)
		e = e->typed_of;
	if (e->kind == SN_HQ_ALIAS)
		return e->name;
	if (e->kind == SN_HQ_FIELD && e->strs.n)
		return e->strs.items[e->strs.n - 1];
	return NULL;
}

static const node_t *first_select(const node_t *q)
{
	while (q && q->kind == SN_HQ_SELECT_SET)
		q = q->a;
	return q && q->kind == SN_HQ_SELECT ? q : NULL;
}

/* A column of a subquery by name; also true when the subquery has `*`. */
static int sub_column(const node_t *q, const char *name, const node_t **col)
{
	const node_t *s = first_select(q);
	if (!s)
		return 0;
	for (size_t i = 0; i < s->sel->select.n; i++) {
		const node_t *e = s->sel->select.items[i];
		const char *cn = column_name(e);
		if (cn && strcmp(cn, name) == 0) {
			*col = e;
			return 1;
		}
		if (e->kind == SN_HQ_FIELD && strcmp(e->strs.items[e->strs.n - 1], "*") == 0) {
			*col = NULL;
			return 1;
		}
	}
	return 0;
}

static int chain_in_source(struct ctx *c, node_t *f, const struct source *src, size_t i)
{
	const char *const *chain = f->strs.items;
	size_t n = f->strs.n;
	if (strcmp(chain[i], "*") == 0) {
		f->ref_kind = SN_HQR_ASTERISK;
		f->ref_source = src->name;
		set(f, SN_HQT_UNKNOWN, false);
		return 1;
	}
	if (src->table) {
		int r = chain_in_table(c, f, src->table, chain, i, n, false);
		if (r == 1)
			f->ref_source = src->name;
		if (r == 1 && f->ref_kind == SN_HQR_EXPR && i == 0)
			c->xsource = src->name; /* unqualified: name the FROM entry */
		return r;
	}
	const node_t *col = NULL;
	if (!sub_column(src->sub, chain[i], &col))
		return 0;
	f->ref_kind = SN_HQR_SUBQUERY_COL;
	f->ref_source = src->name;
	if (col && col->rtype.type == SN_HQT_JSON && i + 1 < n)
		set(f, SN_HQT_STRING, true);
	else if (col && i + 1 == n)
		f->rtype = col->rtype;
	else
		set(f, SN_HQT_UNKNOWN, true);
	return 1;
}

static const node_t *find_alias(const struct sn_hogql_select *sel, const char *name)
{
	for (size_t i = 0; sel && i < sel->select.n; i++) {
		const node_t *e = sel->select.items[i];
		if (e->kind == SN_HQ_ALIAS && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

static bool cte_open(const struct ctx *c, const node_t *cte)
{
	for (size_t i = 0; i < c->nopen; i++)
		if (c->open_ctes[i] == cte)
			return true;
	return false;
}

static const node_t *find_cte(const struct ctx *c, const struct scope *s, const char *name,
			      const char *type)
{
	for (; s; s = s->parent)
		for (size_t i = 0; s->sel && s->sel->has_ctes && i < s->sel->ctes.n; i++) {
			const node_t *cte = s->sel->ctes.items[i];
			if (strcmp(cte->name, name) == 0 && strcmp(cte->op, type) == 0 &&
			    !cte_open(c, cte))
				return cte;
		}
	return NULL;
}

static bool is_using_col(const struct scope *s, const char *name)
{
	for (size_t i = 0; i < s->nusing; i++)
		if (strcmp(s->using_cols[i], name) == 0)
			return true;
	return false;
}

static void field_lookup(struct ctx *c, struct scope *s, node_t *f);

/* ---- typed properties ---------------------------------------------------------- */

/* Which properties a JSON column of table t holds, and the group index for
 * groups reached through group_N / goe_N; 0 when they are not typed. */
static int prop_src(const struct sn_hogql_table_def *t, const char *via, int *gi)
{
	*gi = -1;
	if (strcmp(t->name, "events") == 0)
		return SN_HQP_EVENT;
	if (strcmp(t->name, "persons") == 0 || strcmp(t->name, "raw_persons") == 0 ||
	    strcmp(t->name, "events_poe") == 0)
		return SN_HQP_PERSON;
	if ((strcmp(t->name, "groups") == 0 || strcmp(t->name, "events_goe") == 0) && via) {
		size_t n = strlen(via);
		if (n && via[n - 1] >= '0' && via[n - 1] <= '4' &&
		    (strncmp(via, "group_", 6) == 0 || strncmp(via, "goe_", 4) == 0)) {
			*gi = via[n - 1] - '0';
			return SN_HQP_GROUP;
		}
	}
	return 0;
}

/* Puts g (resolved) in place of the Field named __p in e. */
static bool put_arg(node_t *e, node_t *g)
{
	if (!e)
		return false;
	node_t **kids[] = {&e->a, &e->b, &e->c, &e->d};
	for (size_t k = 0; k < SN_ARRAY_LEN(kids); k++) {
		node_t *x = *kids[k];
		if (x && x->kind == SN_HQ_FIELD && x->strs.n == 1 &&
		    strcmp(x->strs.items[0], "__p") == 0) {
			*kids[k] = g;
			return true;
		}
		if (put_arg(x, g))
			return true;
	}
	struct sn_hogql_list *lists[] = {&e->list, &e->list2, &e->list3};
	for (size_t l = 0; l < SN_ARRAY_LEN(lists); l++)
		for (size_t k = 0; k < lists[l]->n; k++) {
			node_t *x = lists[l]->items[k];
			if (x->kind == SN_HQ_FIELD && x->strs.n == 1 &&
			    strcmp(x->strs.items[0], "__p") == 0) {
				lists[l]->items[k] = g;
				return true;
			}
			if (put_arg(x, g))
				return true;
		}
	return false;
}

/* f is a one-key property of a table (c->pj_*): wraps it in the
 * conversion of its declared type, if it has one. direct: the call f is
 * an argument of, or NULL. */
static void type_property(struct ctx *c, struct scope *s, node_t *f, const char *direct)
{
	int gi, src = prop_src(c->pj_table, c->pj_via, &gi);
	if (!src)
		return;
	if (c->cur_call &&
	    (strcmp(c->cur_call, "toFloatOrZero") == 0 || strcmp(c->cur_call, "toIntOrZero") == 0 ||
	     strcmp(c->cur_call, "toFloatOrDefault") == 0))
		return; /* they parse text: the raw value flows through */
	const char *tmpl;
	switch (c->ptypes->lookup(c->ptypes->ctx, src, gi, f->strs.items[f->strs.n - 1])) {
	case SN_HQPT_NUMERIC:
		if (direct && strcmp(direct, "toFloat") == 0)
			return; /* toFloat(toFloat(x)) is toFloat(x): keep the shape scans know */
		tmpl = "toFloat(__p)";
		break;
	case SN_HQPT_BOOLEAN:
		tmpl = "toBool(transform(toString(__p), ['true', 'false'], [1, 0], NULL))";
		break;
	case SN_HQPT_DATETIME: tmpl = "toDateTime(__p)"; break;
	default: return;
	}
	node_t *e = NULL, *g = sn_hogql_node_new(c->a, SN_HQ_FIELD);
	struct sn_hogql_error perr;
	if (!g || sn_hogql_parse_expr(c->a, tmpl, strlen(tmpl), &e, &perr)) {
		c->rc = SN_ERR_NOMEM; /* the templates parse */
		return;
	}
	*g = *f;
	prefix_chains(c, e, NULL, 0, f); /* the field's span on every new node */
	if (!put_arg(e, g)) {
		c->rc = SN_ERR_NOMEM;
		return;
	}
	*f = *e;
	f->typed_of = g;
	bool save = c->no_wrap;
	c->no_wrap = true;
	expr(c, s, f);
	c->no_wrap = save;
}

static void field(struct ctx *c, struct scope *s, node_t *f)
{
	c->pj_table = NULL;
	c->pj_via = NULL;
	const char *direct = c->direct_call;
	c->direct_call = NULL; /* not for what an expression field expands to */
	field_lookup(c, s, f);
	if (!c->rc && f->ref_kind == SN_HQR_EXPR)
		expand_field(c, s, f);
	else if (!c->rc && c->ptypes && !c->no_wrap && c->pj_table && c->pj_keys == 1 &&
		 (f->ref_kind == SN_HQR_PROPERTY || f->ref_kind == SN_HQR_LAZY))
		type_property(c, s, f, direct);
}

static void field_lookup(struct ctx *c, struct scope *s, node_t *f)
{
	const char *const *chain = f->strs.items;
	size_t n = f->strs.n;
	for (size_t i = c->nlambda; i-- > 0;)
		if (strcmp(c->lambda[i], chain[0]) == 0) {
			f->ref_kind = SN_HQR_LAMBDA_ARG;
			set(f, SN_HQT_UNKNOWN, true);
			return;
		}
	if (n == 1 && strcmp(chain[0], "*") == 0) {
		if (!s->nsrc) {
			fail(c, f, "Cannot select * without a FROM clause");
			return;
		}
		f->ref_kind = SN_HQR_ASTERISK;
		set(f, SN_HQT_UNKNOWN, false);
		return;
	}
	for (struct scope *sc = s; sc; sc = sc->parent) {
		/* Qualified: the first element names a FROM entry. */
		for (size_t k = 0; n > 1 && k < sc->nsrc; k++)
			if (strcmp(sc->src[k].name, chain[0]) == 0) {
				int r = chain_in_source(c, f, &sc->src[k], 1);
				if (r == 0)
					fail(c, f, "Unable to resolve field: %s", chain[1]);
				return;
			}
		const node_t *al = find_alias(sc->sel, chain[0]);
		if (al) {
			f->ref_kind = SN_HQR_ALIAS;
			if (n > 1 && al->rtype.type == SN_HQT_JSON)
				set(f, SN_HQT_STRING, true);
			else
				f->rtype = al->rtype;
			f->rtype.resolved = true;
			return;
		}
		for (size_t k = 0; k < sc->narrayjoin; k++)
			if (strcmp(sc->arrayjoin[k], chain[0]) == 0) {
				f->ref_kind = SN_HQR_ALIAS;
				set(f, SN_HQT_UNKNOWN, true);
				return;
			}
		int found = 0;
		for (size_t k = 0; k < sc->nsrc && !c->rc; k++) {
			node_t probe = *f;
			int r = chain_in_source(c, &probe, &sc->src[k], 0);
			if (r == 1) {
				if (found && n == 1 && is_using_col(sc, chain[0]))
					continue;
				if (found++) {
					fail(
					    c, f,
					    "Ambiguous query. Found multiple sources for field: %s",
					    chain[0]);
					return;
				}
				*f = probe;
			}
		}
		if (c->rc || found)
			return;
		if (find_cte(c, sc, chain[0], "column")) {
			f->ref_kind = SN_HQR_ALIAS;
			set(f, SN_HQT_UNKNOWN, true);
			return;
		}
	}
	fail(c, f, "Unable to resolve field: %s", chain[0]);
}

/* ---- calls ------------------------------------------------------------------ */

static void check_count(struct ctx *c, const node_t *at, const char *name, const char *what,
			int min, int max, size_t got)
{
	if ((int)got >= min && (max < 0 || (int)got <= max))
		return;
	if (min == max)
		fail(c, at, "Function '%s' expects %d %s%s, found %zu", name, min, what,
		     min == 1 ? "" : "s", got);
	else if ((int)got < min)
		fail(c, at, "Function '%s' expects at least %d %s%s, found %zu", name, min, what,
		     min == 1 ? "" : "s", got);
	else
		fail(c, at, "Function '%s' expects at most %d %s%s, found %zu", name, max, what,
		     max == 1 ? "" : "s", got);
}

static void list(struct ctx *c, struct scope *s, struct sn_hogql_list *l)
{
	for (size_t i = 0; i < l->n && !c->rc; i++)
		expr(c, s, l->items[i]);
}

static void call(struct ctx *c, struct scope *s, node_t *n, const char *name,
		 struct sn_hogql_list *args, struct sn_hogql_list *params, bool window)
{
	struct sn_hogql_func tmp;
	const struct sn_hogql_func *f = sn_hogql_func_find(name, &tmp);
	if (!f) {
		const char *hint = sn_hogql_func_suggest(name);
		if (hint)
			fail(c, n, "Unsupported function call '%s(...)'. Perhaps you meant '%s'?",
			     name, hint);
		else
			fail(c, n, "Unsupported function call '%s(...)'", name);
		return;
	}
	check_count(c, n, name, "argument", f->min_args, f->max_args, args->n);
	if (params && !window)
		check_count(c, n, name, "parameter", f->min_params, f->max_params, params->n);
	if (c->rc)
		return;
	bool agg = (f->flags & SN_HQF_AGGREGATE) && !window;
	const char *outer = c->in_aggregate;
	if (agg && outer) {
		fail(c, n, "Aggregation '%s' cannot be nested inside another aggregation '%s'.",
		     name, outer);
		return;
	}
	if (agg)
		c->in_aggregate = name;
	if (params)
		list(c, s, params);
	const char *outer_call = c->cur_call, *outer_direct = c->direct_call;
	c->cur_call = name;
	for (size_t i = 0; i < args->n && !c->rc; i++) {
		c->direct_call = args->items[i]->kind == SN_HQ_FIELD ? name : NULL;
		expr(c, s, args->items[i]);
	}
	c->cur_call = outer_call;
	c->direct_call = outer_direct;
	c->in_aggregate = outer;
	if (c->rc)
		return;
	uint8_t t = f->result;
	bool nullable = false;
	if ((t == SN_HQT_ARG0 || t == SN_HQT_ARG1) && args->n > (size_t)(t - SN_HQT_ARG0)) {
		const node_t *a = args->items[t - SN_HQT_ARG0];
		t = a->rtype.type;
		nullable = a->rtype.nullable;
		if (strcmp(name, "ifNull") == 0 || strcmp(name, "coalesce") == 0)
			nullable = args->n > 1 && args->items[args->n - 1]->rtype.nullable;
		else if (strcmp(name, "if") == 0 && args->n == 3)
			nullable = nullable || args->items[2]->rtype.nullable;
	} else if (t == SN_HQT_ARG0 || t == SN_HQT_ARG1) {
		t = SN_HQT_UNKNOWN;
	}
	if (strcmp(name, "toInt") == 0 || strcmp(name, "toFloat") == 0 ||
	    strcmp(name, "toDateTime") == 0 || strcmp(name, "toDate") == 0 ||
	    strcmp(name, "toUUID") == 0 || strcmp(name, "nullIf") == 0)
		nullable = true;
	else if ((strcmp(name, "toBool") == 0 || strcmp(name, "transform") == 0) && args->n)
		nullable =
		    args->items[0]->rtype.nullable || args->items[args->n - 1]->rtype.nullable;
	set(n, t, nullable);
}

/* ---- expressions ------------------------------------------------------------ */

static uint8_t cast_type(const char *tn, bool *nullable)
{
	*nullable = strncmp(tn, "nullable(", 9) == 0;
	if (*nullable)
		tn += 9;
	if (strncmp(tn, "int", 3) == 0 || strncmp(tn, "uint", 4) == 0)
		return SN_HQT_INT;
	if (strncmp(tn, "float", 5) == 0 || strncmp(tn, "decimal", 7) == 0)
		return SN_HQT_FLOAT;
	if (strncmp(tn, "string", 6) == 0 || strncmp(tn, "text", 4) == 0)
		return SN_HQT_STRING;
	if (strncmp(tn, "datetime", 8) == 0 || strncmp(tn, "timestamp", 9) == 0)
		return SN_HQT_DATETIME;
	if (strncmp(tn, "date", 4) == 0)
		return SN_HQT_DATE;
	if (strncmp(tn, "bool", 4) == 0)
		return SN_HQT_BOOL;
	if (strncmp(tn, "uuid", 4) == 0)
		return SN_HQT_UUID;
	if (strncmp(tn, "array", 5) == 0)
		return SN_HQT_ARRAY;
	return SN_HQT_UNKNOWN;
}

/* Every node under n takes the position pos (a placeholder's value: its
 * nodes' own offsets are in the value's text, not the query's). */
static void take_pos(node_t *n, const node_t *pos, int depth)
{
	if (!n || depth > 64)
		return;
	n->has_pos = pos->has_pos;
	n->start = pos->start;
	n->end = pos->end;
	take_pos(n->a, pos, depth + 1);
	take_pos(n->b, pos, depth + 1);
	for (size_t i = 0; n->has_list && i < n->list.n; i++)
		take_pos(n->list.items[i], pos, depth + 1);
}

/* {name} with a value: n becomes the value's expression (parsed here, in
 * the statement's arena). True when the name has a value; c->rc set when
 * the value does not parse (the caller built it, so it should). */
static bool placeholder_value(struct ctx *c, node_t *n, const char *name)
{
	for (size_t i = 0; c->values && i < c->values->n; i++) {
		if (strcmp(c->values->names[i], name) != 0)
			continue;
		node_t *v = NULL;
		struct sn_hogql_error e = {0};
		const char *t = c->values->exprs[i];
		int rc = sn_hogql_parse_expr(c->a, t, strlen(t), &v, &e);
		if (rc) {
			if (rc == SN_ERR_NOMEM)
				c->rc = SN_ERR_NOMEM;
			else
				fail(c, n, "The value of placeholder {%s} is not a constant: %s",
				     name, e.msg);
			return true;
		}
		take_pos(v, n, 0);
		*n = *v;
		return true;
	}
	return false;
}

static void expr(struct ctx *c, struct scope *s, node_t *n)
{
	if (!n || c->rc)
		return;
	switch (n->kind) {
	case SN_HQ_CONSTANT: {
		static const uint8_t map[] = {
		    [SN_HQC_NULL] = SN_HQT_NULL,     [SN_HQC_BOOL] = SN_HQT_BOOL,
		    [SN_HQC_INT] = SN_HQT_INT,	     [SN_HQC_FLOAT] = SN_HQT_FLOAT,
		    [SN_HQC_STRING] = SN_HQT_STRING, [SN_HQC_BIGNUM] = SN_HQT_INT,
		};
		set(n, map[n->ctype], n->ctype == SN_HQC_NULL);
		break;
	}
	case SN_HQ_FIELD: field(c, s, n); break;
	case SN_HQ_ALIAS:
		expr(c, s, n->a);
		n->rtype = n->a->rtype;
		break;
	case SN_HQ_CALL:
		if (n->list.n == 1 && (n->list.items[0]->kind == SN_HQ_SELECT ||
				       n->list.items[0]->kind == SN_HQ_SELECT_SET)) {
			/* f(SELECT ...) */
			statement(c, s, n->list.items[0], false);
			set(n, SN_HQT_UNKNOWN, true);
			break;
		}
		call(c, s, n, n->name, &n->list, n->has_list2 ? &n->list2 : NULL, false);
		if (n->a)
			expr(c, s, n->a);
		break;
	case SN_HQ_WINDOW_FUNCTION:
		call(c, s, n, n->name, n->list2.n ? &n->list2 : &n->list,
		     n->list2.n ? &n->list : NULL, true);
		if (n->a) {
			list(c, s, &n->a->list);
			for (size_t i = 0; i < n->a->list2.n; i++)
				expr(c, s, n->a->list2.items[i]->a);
		}
		break;
	case SN_HQ_EXPR_CALL:
		expr(c, s, n->a);
		list(c, s, &n->list);
		set(n, SN_HQT_UNKNOWN, true);
		break;
	case SN_HQ_ARITH: {
		expr(c, s, n->a);
		expr(c, s, n->b);
		if (c->rc)
			break;
		uint8_t l = n->a->rtype.type, r = n->b->rtype.type, t = SN_HQT_UNKNOWN;
		if (n->op[0] == '/')
			t = SN_HQT_FLOAT;
		else if ((l == SN_HQT_DATETIME || l == SN_HQT_DATE) && r == SN_HQT_INTERVAL)
			t = l;
		else if (l == SN_HQT_INT && r == SN_HQT_INT)
			t = SN_HQT_INT;
		else if ((l == SN_HQT_INT || l == SN_HQT_FLOAT) &&
			 (r == SN_HQT_INT || r == SN_HQT_FLOAT))
			t = SN_HQT_FLOAT;
		else if (l == SN_HQT_DATETIME && r == SN_HQT_DATETIME && n->op[0] == '-')
			t = SN_HQT_INT;
		set(n, t, n->a->rtype.nullable || n->b->rtype.nullable);
		break;
	}
	case SN_HQ_COMPARE:
	case SN_HQ_IS_DISTINCT:
		expr(c, s, n->a);
		if (n->b && (n->b->kind == SN_HQ_SELECT || n->b->kind == SN_HQ_SELECT_SET))
			statement(c, s, n->b, false);
		else
			expr(c, s, n->b);
		set(n, SN_HQT_BOOL, false); /* §4.3: comparisons are 0/1, never NULL */
		break;
	case SN_HQ_AND:
	case SN_HQ_OR:
		list(c, s, &n->list);
		set(n, SN_HQT_BOOL, false);
		break;
	case SN_HQ_NOT:
		expr(c, s, n->a);
		set(n, SN_HQT_BOOL, false);
		break;
	case SN_HQ_BETWEEN:
		expr(c, s, n->a);
		expr(c, s, n->b);
		expr(c, s, n->c);
		set(n, SN_HQT_BOOL, false);
		break;
	case SN_HQ_TUPLE:
		list(c, s, &n->list);
		set(n, SN_HQT_TUPLE, false);
		break;
	case SN_HQ_ARRAY:
		list(c, s, &n->list);
		set(n, SN_HQT_ARRAY, false);
		break;
	case SN_HQ_DICT:
		list(c, s, &n->list);
		list(c, s, &n->list2);
		set(n, SN_HQT_UNKNOWN, false);
		break;
	case SN_HQ_ARRAY_ACCESS:
	case SN_HQ_TUPLE_ACCESS:
		expr(c, s, n->a);
		if (n->kind == SN_HQ_ARRAY_ACCESS)
			expr(c, s, n->b);
		if (c->rc)
			break;
		/* properties['x'], person.properties.a[1]: still JSON paths (§4.2). */
		if (n->a->rtype.type == SN_HQT_JSON ||
		    (n->a->kind == SN_HQ_FIELD && n->a->ref_kind == SN_HQR_PROPERTY) ||
		    ((n->a->kind == SN_HQ_ARRAY_ACCESS || n->a->kind == SN_HQ_TUPLE_ACCESS) &&
		     n->a->ref_kind == SN_HQR_PROPERTY)) {
			n->ref_kind = SN_HQR_PROPERTY;
			set(n, SN_HQT_STRING, true);
		} else {
			set(n, SN_HQT_UNKNOWN, true);
		}
		break;
	case SN_HQ_ARRAY_SLICE:
		expr(c, s, n->a);
		expr(c, s, n->b);
		expr(c, s, n->c);
		set(n, SN_HQT_ARRAY, false);
		break;
	case SN_HQ_LAMBDA: {
		size_t save = c->nlambda;
		for (size_t i = 0; i < n->strs.n && c->nlambda < MAX_LAMBDA; i++)
			c->lambda[c->nlambda++] = n->strs.items[i];
		expr(c, s, n->a);
		c->nlambda = save;
		set(n, SN_HQT_UNKNOWN, false);
		break;
	}
	case SN_HQ_TYPE_CAST:
	case SN_HQ_TRY_CAST: {
		expr(c, s, n->a);
		bool nullable;
		uint8_t t = cast_type(n->name, &nullable);
		set(n, t, nullable || n->kind == SN_HQ_TRY_CAST || n->a->rtype.nullable);
		break;
	}
	case SN_HQ_NAMED_ARG:
		expr(c, s, n->a);
		n->rtype = n->a->rtype;
		break;
	case SN_HQ_PLACEHOLDER: {
		const char *name = n->a && n->a->kind == SN_HQ_FIELD && n->a->strs.n == 1
				       ? n->a->strs.items[0]
				       : NULL;
		if (name && placeholder_value(c, n, name)) {
			if (!c->rc)
				expr(c, s, n); /* n is the value's expression now */
			break;
		}
		fail(c, n, "Unresolved placeholder {%s}; pass a value for it",
		     n->a && n->a->kind == SN_HQ_FIELD && n->a->strs.n ? n->a->strs.items[0]
								       : "...");
		break;
	}
	case SN_HQ_SELECT:
	case SN_HQ_SELECT_SET: {
		statement(c, s, n, false);
		const node_t *q = first_select(n);
		if (q && q->sel->select.n)
			n->rtype = q->sel->select.items[0]->rtype;
		n->rtype.nullable = true;
		n->rtype.resolved = true;
		break;
	}
	case SN_HQ_POSITIONAL_REF:
	case SN_HQ_COLUMNS: set(n, SN_HQT_UNKNOWN, false); break;
	default: break;
	}
}

/* ---- statements ------------------------------------------------------------- */

static node_t *mk_int(struct ctx *c, int64_t v)
{
	node_t *n = sn_hogql_node_new(c->a, SN_HQ_CONSTANT);
	if (!n) {
		c->rc = SN_ERR_NOMEM;
		return NULL;
	}
	n->ctype = SN_HQC_INT;
	n->ival = v;
	set(n, SN_HQT_INT, false);
	return n;
}

/* §4.7: default when absent, max when a constant is above it, else min2(). */
static void apply_limit(struct ctx *c, struct sn_hogql_select *sel)
{
	if (!sel->limit) {
		sel->limit = mk_int(c, c->default_limit);
		return;
	}
	if (sel->limit->kind == SN_HQ_CONSTANT && sel->limit->ctype == SN_HQC_INT) {
		if (sel->limit->ival > c->max_limit)
			sel->limit = mk_int(c, c->max_limit);
		return;
	}
	node_t *m = sn_hogql_node_new(c->a, SN_HQ_CALL);
	node_t **args = sn_arena_alloc(c->a, 2 * sizeof(*args));
	node_t *max = mk_int(c, c->max_limit);
	if (!m || !args || !max) {
		c->rc = SN_ERR_NOMEM;
		return;
	}
	m->name = "min2";
	args[0] = max;
	args[1] = sel->limit;
	m->list = (struct sn_hogql_list){.items = args, .n = 2};
	set(m, SN_HQT_INT, false);
	sel->limit = m;
}

/* The SELECT list; an expression field named bare (`SELECT
 * session.$channel_type`) keeps its name as the column's, as PostHog's
 * hidden alias does: its expansion gets the alias. */
static void select_items(struct ctx *c, struct scope *s, struct sn_hogql_list *l)
{
	for (size_t i = 0; i < l->n && !c->rc; i++) {
		node_t *it = l->items[i];
		const char *name =
		    it->kind == SN_HQ_FIELD && it->strs.n ? it->strs.items[it->strs.n - 1] : NULL;
		expr(c, s, it);
		if (c->rc || !name || it->kind == SN_HQ_FIELD)
			continue;
		/* A name an earlier item already has (properties.n beside
		 * person.properties.n, both typed): PostHog's hidden aliases may
		 * repeat, ClickHouse's may not, so this one stays unaliased;
		 * its column keeps the name all the same (typed_of, §4.8). */
		bool taken = false;
		for (size_t k = 0; k < i && !taken; k++)
			taken = l->items[k]->kind == SN_HQ_ALIAS &&
				strcmp(l->items[k]->name, name) == 0;
		if (taken && it->typed_of)
			continue;
		node_t *al = sn_hogql_node_new(c->a, SN_HQ_ALIAS);
		if (!al) {
			c->rc = SN_ERR_NOMEM;
			return;
		}
		al->has_pos = it->has_pos;
		al->start = it->start;
		al->end = it->end;
		al->name = name;
		al->a = it;
		al->rtype = it->rtype;
		al->rtype.resolved = true;
		l->items[i] = al;
	}
}

static void add_source(struct ctx *c, struct scope *s, const node_t *at, struct source src)
{
	if (s->nsrc >= MAX_SOURCES) {
		fail(c, at, "Too many tables in one SELECT (at most %d)", MAX_SOURCES);
		return;
	}
	for (size_t i = 0; i < s->nsrc; i++)
		if (strcmp(s->src[i].name, src.name) == 0) {
			fail(c, at, "Table alias with the same name as another table: %s",
			     src.name);
			return;
		}
	s->src[s->nsrc++] = src;
}

static void from(struct ctx *c, struct scope *s, struct scope *outer, node_t *j)
{
	for (; j && !c->rc; j = j->c) {
		struct source src = {0};
		node_t *t = j->a;
		if (t && t->kind == SN_HQ_FIELD) {
			const char *name = t->strs.items[0];
			const node_t *cte =
			    t->strs.n == 1 ? find_cte(c, s, name, "subquery") : NULL;
			if (cte) {
				src.sub = cte->a;
			} else if (t->strs.n == 1 &&
				   (src.table = sn_hogql_table_find(name)) != NULL) {
				if (src.table->function != j->has_list) {
					fail(c, t->has_pos ? t : j,
					     src.table->function
						 ? "Table function '%s' needs arguments: %s(...)"
						 : "Table '%s' is not a table function",
					     name, name);
					return;
				}
				if (j->has_list)
					list(c, outer, &j->list);
			} else {
				fail(c, t->has_pos ? t : j, "Unknown table `%s`.", name);
				return;
			}
			src.name = j->name ? j->name : t->strs.items[t->strs.n - 1];
		} else if (t && (t->kind == SN_HQ_SELECT || t->kind == SN_HQ_SELECT_SET)) {
			statement(c, outer, t, false);
			src.sub = t;
			src.name = j->name ? j->name : "";
		} else if (t && t->kind == SN_HQ_PLACEHOLDER) {
			expr(c, s, t);
			return;
		}
		add_source(c, s, j, src);
	}
}

static void select_query(struct ctx *c, struct scope *parent, node_t *q, bool top)
{
	struct sn_hogql_select *sel = q->sel;
	struct scope s = {.parent = parent, .sel = sel};
	for (size_t i = 0; sel->has_ctes && i < sel->ctes.n && !c->rc; i++) {
		node_t *cte = sel->ctes.items[i];
		if (c->nopen >= SN_ARRAY_LEN(c->open_ctes)) {
			fail(c, cte, "CTEs nest too deeply");
			break;
		}
		c->open_ctes[c->nopen++] = cte;
		if (strcmp(cte->op, "subquery") == 0)
			statement(c, &s, cte->a, false);
		else
			expr(c, &s, cte->a);
		c->nopen--;
	}
	from(c, &s, parent ? parent : &s, sel->select_from);
	for (size_t i = 0; i < sel->array_join_list.n && !c->rc; i++) {
		node_t *e = sel->array_join_list.items[i];
		expr(c, &s, e);
		if (e->kind == SN_HQ_ALIAS && s.narrayjoin < MAX_SOURCES)
			s.arrayjoin[s.narrayjoin++] = e->name;
	}
	for (const node_t *j = sel->select_from; j; j = j->c) {
		const node_t *k = j->b;
		if (!k || strcmp(k->op, "USING") != 0)
			continue;
		const struct sn_hogql_list one = {.items = (node_t **)&k->a, .n = 1};
		const struct sn_hogql_list *l = k->a->kind == SN_HQ_TUPLE ? &k->a->list : &one;
		for (size_t i = 0; i < l->n && s.nusing < MAX_SOURCES; i++)
			if (l->items[i]->kind == SN_HQ_FIELD && l->items[i]->strs.n == 1)
				s.using_cols[s.nusing++] = l->items[i]->strs.items[0];
	}
	for (const node_t *j = sel->select_from; j && !c->rc; j = j->c)
		if (j->b)
			expr(c, &s, j->b->a);
	select_items(c, &s, &sel->select);
	expr(c, &s, sel->prewhere);
	expr(c, &s, sel->where);
	list(c, &s, &sel->group_by);
	expr(c, &s, sel->having);
	expr(c, &s, sel->qualify);
	for (size_t i = 0; i < sel->nwindows && !c->rc; i++) {
		list(c, &s, &sel->window_exprs[i]->list);
		for (size_t k = 0; k < sel->window_exprs[i]->list2.n; k++)
			expr(c, &s, sel->window_exprs[i]->list2.items[k]->a);
	}
	for (size_t i = 0; i < sel->order_by.n && !c->rc; i++) {
		expr(c, &s, sel->order_by.items[i]->a);
		/* Parsed for conformance; neither backend fills gaps yet, and
		 * dropping the clause would change the answer silently. */
		if (sel->order_by.items[i]->b)
			fail(c, sel->order_by.items[i]->b,
			     "ORDER BY ... WITH FILL is not supported yet");
	}
	if (sel->has_interpolate && !c->rc)
		fail(c, sel->interpolate.n ? sel->interpolate.items[0] : NULL,
		     "INTERPOLATE is not supported yet");
	if (sel->limit_by) {
		expr(c, &s, sel->limit_by->a);
		expr(c, &s, sel->limit_by->b);
		list(c, &s, &sel->limit_by->list);
	}
	expr(c, &s, sel->limit);
	expr(c, &s, sel->offset);
	if (top && !c->rc)
		apply_limit(c, sel);
}

static void statement(struct ctx *c, struct scope *parent, node_t *n, bool top)
{
	if (c->rc)
		return;
	const char *outer_agg = c->in_aggregate;
	c->in_aggregate = NULL; /* a subquery starts its own aggregation level */
	if (n->kind == SN_HQ_SELECT) {
		select_query(c, parent, n, top);
	} else if (n->kind == SN_HQ_SELECT_SET) {
		statement(c, parent, n->a, top);
		for (size_t i = 0; i < n->list.n; i++)
			statement(c, parent, n->list.items[i]->a, top);
	} else {
		expr(c, parent ? parent : &(struct scope){0}, n);
	}
	c->in_aggregate = outer_agg;
}

int sn_hogql_resolve(struct sn_arena *a, struct sn_hogql_node *root, const char *src, size_t len,
		     const struct sn_hogql_resolve_opts *opts, struct sn_hogql_error *err)
{
	struct sn_hogql_error dummy;
	struct ctx c = {
	    .a = a,
	    .text = src,
	    .len = len,
	    .err = err ? err : &dummy,
	    .default_limit =
		opts && opts->default_limit ? opts->default_limit : SN_HOGQL_DEFAULT_LIMIT,
	    .max_limit = opts && opts->max_limit ? opts->max_limit : SN_HOGQL_MAX_LIMIT,
	    .ptypes =
		opts && opts->prop_types && opts->prop_types->lookup ? opts->prop_types : NULL,
	    .values = opts ? opts->values : NULL,
	};
	if (root->kind == SN_HQ_SELECT || root->kind == SN_HQ_SELECT_SET) {
		statement(&c, NULL, root, true);
	} else {
		struct scope empty = {0};
		expr(&c, &empty, root);
	}
	if (c.rc == SN_ERR_NOMEM) {
		snprintf(c.err->msg, sizeof(c.err->msg), "Query needs more memory than allowed");
		c.err->type = "QueryError";
		c.err->start = c.err->end = 0;
	}
	return c.rc;
}

const char *sn_hogql_type_name(struct sn_hogql_rtype t, char *buf, size_t len)
{
	static const char *const names[] = {
	    [SN_HQT_UNKNOWN] = "Unknown",   [SN_HQT_NULL] = "Nothing",
	    [SN_HQT_BOOL] = "Bool",	    [SN_HQT_INT] = "Int64",
	    [SN_HQT_FLOAT] = "Float64",	    [SN_HQT_STRING] = "String",
	    [SN_HQT_UUID] = "UUID",	    [SN_HQT_DATE] = "Date",
	    [SN_HQT_DATETIME] = "DateTime", [SN_HQT_JSON] = "String",
	    [SN_HQT_ARRAY] = "Array",	    [SN_HQT_TUPLE] = "Tuple",
	    [SN_HQT_INTERVAL] = "Interval", [SN_HQT_ARG0] = "Unknown",
	    [SN_HQT_ARG1] = "Unknown",
	};
	const char *b = t.type < SN_ARRAY_LEN(names) ? names[t.type] : "Unknown";
	if (t.nullable && t.type != SN_HQT_NULL && t.type != SN_HQT_UNKNOWN)
		snprintf(buf, len, "Nullable(%s)", b);
	else
		snprintf(buf, len, "%s", b);
	return buf;
}
