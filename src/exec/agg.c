/*
 * agg.c — hash aggregation for GROUP BY, the aggregates themselves, and
 * the row hash set of DISTINCT.
 *
 * Groups are found through an open-addressing table of byte keys (each
 * key value serialised with its type and NULL flag, value_key), hashed
 * with XXH3; the table maps a key to a dense group id, and per-group
 * aggregate states live in one array indexed [group * naggs + slot]:
 *
 *   key bytes ─XXH3─▶ slots[h & (cap-1)] ─▶ id ─▶ keys[id * nkeys ...]
 *                                              └▶ states[id * naggs ...]
 *
 * A batch is aggregated in two passes: every row's group id first, then
 * one tight loop per aggregate over (group id, arguments) rows. A query
 * without GROUP BY has a single group and skips hashing altogether.
 *
 * Which aggregates exist, their arity, parameters and -If forms is the
 * table AGGS below (agg_classify; `FILTER (WHERE c)` is the -If form); agg_type gives each its
 * ClickHouse result type. NULL handling is ClickHouse's Null combinator: a row in which any value
 * argument is NULL is skipped (the If condition is not a value argument: NULL there is false), and
 * the result is Nullable when any value argument is, NULL for a group that saw no row; a group of a
 * non-nullable aggregate that saw no row gets the type's default (0, "",
 * 1970-01-01) or, for the statistics and quantiles of floats, nan.
 *
 * A state is 80 bytes whatever the aggregate; what only some need hangs
 * off its one pointer, allocated on the group's first row:
 *
 *   astate { cnt, i, f, has, cap, val, x ─▶ hset     (uniq: hash set)
 *                                         ─▶ qvals    (quantiles: values)
 *                                         ─▶ moments  (var, stddev, covar, corr)
 *                                         ─▶ argext   (argMin/argMax: the val) }
 *
 * uniq and uniqExact are both exact over 64-bit XXH3 hashes of the values
 * (a per-group open-addressing set; several arguments hash their
 * value_key bytes together, the tuple): exact up to hash collisions, which
 * for 2^64 hashes are negligible below billions of distinct values.
 * ClickHouse's uniq is an approximation (HyperLogLog-like); ours is more
 * precise, never less.
 *
 * Quantiles keep every value of the group and sort them at the end.
 * quantile, median and quantileTDigest interpolate linearly between the
 * two values around level * (n - 1), which is ClickHouse's `quantile`
 * (ReservoirSampler::quantileInterpolated) whenever a group holds at most
 * 8192 values: ClickHouse samples beyond that and digests for TDigest, so
 * ours is the exact answer its approximations estimate. quantileExact and
 * medianExact return the element at index floor(level * n) (n - 1 when
 * level is 1), without interpolation, as ClickHouse's QuantileExact does;
 * their result has the argument's type. The rejected alternative, a
 * sampler or a t-digest, bounds memory but gives answers that differ from
 * run to run and from ClickHouse's anyway; the collected values count
 * against the memory budget instead, which fails loudly.
 *
 * Variances and covariances use Welford's updates (mean and sum of
 * squared deviations), which do not lose precision to cancellation as
 * the sum-of-squares formula does; varSamp, stddevSamp and covarSamp of
 * fewer than two values and all of them over no value are nan, as in
 * current ClickHouse (18.16 gave inf for one value).
 *
 * min, max, any, anyLast, anyHeavy and argMin/argMax keep a value per
 * group; a string is copied into a buffer the state owns and reuses when
 * the next winner fits, so a max() over rising strings costs the longest
 * string, not a copy per improvement. Ties keep the first row seen
 * (argMax's winner among equal vals is the first in scan order).
 *
 * Memory: everything in the query arena; tables grow by doubling and the
 * old arrays are abandoned there (at most half the memory wasted), which
 * keeps the memory budget the single bound.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exec/agg.h"

int gtab_init(struct xctx *c, struct gtab *t, size_t cap)
{
	memset(t, 0, sizeof(*t));
	t->cap = cap;
	t->slots = xalloc(c, c->qa, cap * sizeof(*t->slots));
	if (!t->slots)
		return c->rc;
	memset(t->slots, 0, cap * sizeof(*t->slots));
	return 0;
}

static int gtab_grow(struct xctx *c, struct gtab *t)
{
	size_t cap = t->cap * 2;
	uint32_t *slots = xalloc(c, c->qa, cap * sizeof(*slots));
	if (!slots)
		return c->rc;
	memset(slots, 0, cap * sizeof(*slots));
	for (size_t id = 0; id < t->n; id++) {
		size_t h = t->hash[id] & (cap - 1);
		while (slots[h])
			h = (h + 1) & (cap - 1);
		slots[h] = (uint32_t)id + 1;
	}
	t->slots = slots;
	t->cap = cap;
	return 0;
}

int gtab_get(const struct gtab *t, const void *key, size_t len, uint32_t *id)
{
	uint64_t h = sn_hash64(key, len);
	for (size_t i = h & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		uint32_t s = t->slots[i];
		if (!s)
			return 0;
		if (t->hash[s - 1] == h && t->keylen[s - 1] == len &&
		    memcmp(t->key[s - 1], key, len) == 0) {
			*id = s - 1;
			return 1;
		}
	}
}

int gtab_find(struct xctx *c, struct gtab *t, const void *key, size_t len, uint32_t *id,
	      bool *isnew)
{
	uint64_t h = sn_hash64(key, len);
	size_t i = h & (t->cap - 1);
	for (;;) {
		uint32_t s = t->slots[i];
		if (!s)
			break;
		if (t->hash[s - 1] == h && t->keylen[s - 1] == len &&
		    memcmp(t->key[s - 1], key, len) == 0) {
			*id = s - 1;
			*isnew = false;
			return 0;
		}
		i = (i + 1) & (t->cap - 1);
	}
	if (t->n >= UINT32_MAX - 1)
		return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError", "Too many groups");
	if (t->n == t->idcap) {
		size_t nc = t->idcap ? t->idcap * 2 : 64;
		uint64_t *hash = xalloc(c, c->qa, nc * sizeof(*hash));
		const uint8_t **k = xalloc(c, c->qa, nc * sizeof(*k));
		uint32_t *kl = xalloc(c, c->qa, nc * sizeof(*kl));
		if (!hash || !k || !kl)
			return c->rc;
		if (t->n) {
			memcpy(hash, t->hash, t->n * sizeof(*hash));
			memcpy(k, t->key, t->n * sizeof(*k));
			memcpy(kl, t->keylen, t->n * sizeof(*kl));
		}
		t->hash = hash;
		t->key = k;
		t->keylen = kl;
		t->idcap = nc;
	}
	uint8_t *copy = xalloc(c, c->qa, len);
	if (!copy)
		return c->rc;
	memcpy(copy, key, len);
	*id = (uint32_t)t->n;
	t->hash[t->n] = h;
	t->key[t->n] = copy;
	t->keylen[t->n] = (uint32_t)len;
	t->slots[i] = (uint32_t)t->n + 1;
	t->n++;
	*isnew = true;
	if (t->n * 2 > t->cap)
		return gtab_grow(c, t);
	return 0;
}

/* ---- which aggregates exist -------------------------------------------------------- */

/* nmin..nmax value arguments, then the condition when cond. level: takes
 * one optional quantile level parameter (default 0.5; median is
 * ClickHouse's alias of quantile, so median(0.9)(x) is its 0.9 quantile). distinct: DISTINCT
 * leaves the result as it is (uniq(DISTINCT x) = uniq(x)), so it is
 * accepted; count(DISTINCT ...) becomes uniqExact, as in ClickHouse. */
static const struct aggdef {
	const char *name;
	uint8_t kind;
	uint8_t nmin, nmax;
	bool cond, level, distinct;
} AGGS[] = {
    {"count", AGG_COUNT, 0, 1, false, false, true},
    {"countIf", AGG_COUNT, 0, 1, true, false, true},
    {"uniq", AGG_UNIQ, 1, XMAX_AGG_ARGS, false, false, true},
    {"uniqIf", AGG_UNIQ, 1, XMAX_AGG_ARGS, true, false, true},
    {"uniqExact", AGG_UNIQ, 1, XMAX_AGG_ARGS, false, false, true},
    {"uniqExactIf", AGG_UNIQ, 1, XMAX_AGG_ARGS, true, false, true},
    {"sum", AGG_SUM, 1, 1, false, false, false},
    {"sumIf", AGG_SUM, 1, 1, true, false, false},
    {"avg", AGG_AVG, 1, 1, false, false, false},
    {"avgIf", AGG_AVG, 1, 1, true, false, false},
    {"min", AGG_MIN, 1, 1, false, false, true},
    {"minIf", AGG_MIN, 1, 1, true, false, true},
    {"max", AGG_MAX, 1, 1, false, false, true},
    {"maxIf", AGG_MAX, 1, 1, true, false, true},
    {"any", AGG_ANY, 1, 1, false, false, false},
    {"anyIf", AGG_ANY, 1, 1, true, false, false},
    {"anyLast", AGG_ANY_LAST, 1, 1, false, false, false},
    {"anyLastIf", AGG_ANY_LAST, 1, 1, true, false, false},
    {"anyHeavy", AGG_ANY_HEAVY, 1, 1, false, false, false},
    {"anyHeavyIf", AGG_ANY_HEAVY, 1, 1, true, false, false},
    {"argMin", AGG_ARG_MIN, 2, 2, false, false, false},
    {"argMinIf", AGG_ARG_MIN, 2, 2, true, false, false},
    {"argMax", AGG_ARG_MAX, 2, 2, false, false, false},
    {"argMaxIf", AGG_ARG_MAX, 2, 2, true, false, false},
    {"quantile", AGG_QUANTILE, 1, 1, false, true, false},
    {"quantileIf", AGG_QUANTILE, 1, 1, true, true, false},
    {"quantileTDigest", AGG_QUANTILE, 1, 1, false, true, false},
    {"quantileTDigestIf", AGG_QUANTILE, 1, 1, true, true, false},
    {"median", AGG_QUANTILE, 1, 1, false, true, false},
    {"medianIf", AGG_QUANTILE, 1, 1, true, true, false},
    {"medianTDigest", AGG_QUANTILE, 1, 1, false, true, false},
    {"medianTDigestIf", AGG_QUANTILE, 1, 1, true, true, false},
    {"quantileExact", AGG_QUANTILE_EXACT, 1, 1, false, true, false},
    {"quantileExactIf", AGG_QUANTILE_EXACT, 1, 1, true, true, false},
    {"medianExact", AGG_QUANTILE_EXACT, 1, 1, false, true, false},
    {"medianExactIf", AGG_QUANTILE_EXACT, 1, 1, true, true, false},
    {"varPop", AGG_VAR_POP, 1, 1, false, false, false},
    {"varPopIf", AGG_VAR_POP, 1, 1, true, false, false},
    {"varSamp", AGG_VAR_SAMP, 1, 1, false, false, false},
    {"varSampIf", AGG_VAR_SAMP, 1, 1, true, false, false},
    {"stddevPop", AGG_STDDEV_POP, 1, 1, false, false, false},
    {"stddevPopIf", AGG_STDDEV_POP, 1, 1, true, false, false},
    {"stddevSamp", AGG_STDDEV_SAMP, 1, 1, false, false, false},
    {"stddevSampIf", AGG_STDDEV_SAMP, 1, 1, true, false, false},
    {"covarPop", AGG_COVAR_POP, 2, 2, false, false, false},
    {"covarPopIf", AGG_COVAR_POP, 2, 2, true, false, false},
    {"covarSamp", AGG_COVAR_SAMP, 2, 2, false, false, false},
    {"covarSampIf", AGG_COVAR_SAMP, 2, 2, true, false, false},
    {"corr", AGG_CORR, 2, 2, false, false, false},
    {"corrIf", AGG_CORR, 2, 2, true, false, false},
};

static int arity_error(struct xctx *c, const node_t *n, size_t lo, size_t hi, size_t found)
{
	if (lo == hi)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Aggregate function %s expects %zu argument%s, found %zu", n->name, lo,
			     lo == 1 ? "" : "s", found);
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Aggregate function %s expects %zu to %zu arguments, found %zu", n->name, lo,
		     hi, found);
}

/* The quantile level of quantile(0.9)(x): a numeric constant in [0, 1]. */
static int parse_level(struct xctx *c, const node_t *n, const struct aggdef *d, struct xagg *ag)
{
	ag->level = 0.5;
	if (!n->list2.n)
		return 0;
	if (!d->level)
		return xfail(c, n->list2.items[0], SN_ERR_INVALID, "QueryError",
			     "Aggregate function %s takes no parameters", n->name);
	if (n->list2.n > 1)
		return xfail(c, n->list2.items[1], SN_ERR_INVALID, "QueryError",
			     "Aggregate function %s takes one parameter, the level; found %zu",
			     n->name, n->list2.n);
	const node_t *p = n->list2.items[0];
	double v;
	if (p->kind == SN_HQ_CONSTANT && p->ctype == SN_HQC_INT)
		v = (double)p->ival;
	else if (p->kind == SN_HQ_CONSTANT && p->ctype == SN_HQC_FLOAT)
		v = p->fval;
	else
		return xfail(c, p, SN_ERR_INVALID, "QueryError",
			     "The level of %s must be a numeric constant", n->name);
	if (!(v >= 0 && v <= 1))
		return xfail(c, p, SN_ERR_INVALID, "QueryError",
			     "Quantile level %g of %s is out of range [0, 1]", v, n->name);
	ag->level = v;
	return 0;
}

int agg_classify(struct xctx *c, const node_t *n, struct xagg *ag)
{
	const struct aggdef *d = NULL;
	for (size_t i = 0; i < SN_ARRAY_LEN(AGGS) && !d; i++)
		if (strcasecmp(AGGS[i].name, n->name) == 0)
			d = &AGGS[i];
	if (!d || n->list3.n || (n->a && d->cond)) {
		char what[160];
		snprintf(what, sizeof(what), "aggregate %s()%s", n->name,
			 !d	      ? ""
			 : n->list3.n ? " with ORDER BY"
				      : " with FILTER");
		return xunsupported(c, n, what);
	}
	size_t nargs = n->list.n;
	const node_t *const *args = (const node_t *const *)n->list.items;
	if (nargs == 1 && args[0]->kind == SN_HQ_FIELD && args[0]->ref_kind == SN_HQR_ASTERISK)
		nargs = 0; /* count(*) */
	uint8_t kind = d->kind;
	size_t nmin = d->nmin, nmax = d->nmax;
	size_t nval = nargs >= (size_t)d->cond ? nargs - d->cond : 0;
	if (n->flag) {
		if (!d->distinct)
			return xunsupported(c, n, "DISTINCT inside this aggregate");
		if (kind == AGG_COUNT) { /* count(DISTINCT x, ...) = uniqExact(x, ...) */
			kind = AGG_UNIQ;
			nmin = 1;
			nmax = XMAX_AGG_ARGS;
		}
	} else if (kind == AGG_COUNT && nval == 1) {
		kind = AGG_COUNT_X; /* count(x): rows where x is not NULL */
	}
	if (nargs < (size_t)d->cond || nval < nmin || nval > nmax)
		return arity_error(c, n, nmin + d->cond, nmax + d->cond, nargs);
	ag->kind = kind;
	ag->nargs = nval;
	ag->args = args;
	ag->arg = nval ? args[0] : NULL;
	/* agg(x) FILTER (WHERE c) is aggIf(x, c), as PostHog prints it. */
	ag->cond = d->cond ? args[nargs - 1] : n->a;
	if (parse_level(c, n, d, ag))
		return c->rc;
	for (size_t i = 0; i < n->list.n; i++)
		if (is_aggregate_call(n->list.items[i]))
			return xfail(c, n->list.items[i], SN_ERR_INVALID, "QueryError",
				     "Aggregate function %s() found inside another aggregate "
				     "function",
				     n->list.items[i]->name);
	return 0;
}

/* ---- aggregate states ------------------------------------------------------------- */

struct hset {
	uint64_t *v;
	size_t cap, n;
};

/* The values of a quantile: i for every integer-like, date and time type
 * (UInt64 as its bits), f for Float64. */
struct qvals {
	int64_t *i;
	double *f;
	size_t n, cap;
};

/* Welford's running means and sums of squared deviations (and the
 * co-moment of x and y). */
struct moments {
	double mx, my, m2x, m2y, cxy;
};

/* argMin/argMax: the best val so far (the arg is the state's val). */
struct argext {
	struct sn_exec_value key;
	uint32_t cap; /* bytes of key.s.p owned here */
};

struct astate {
	int64_t cnt;		  /* rows added; anyHeavy's counter */
	int64_t i;		  /* integer sum */
	double f;		  /* float sum */
	bool has;		  /* val holds a value */
	uint32_t cap;		  /* bytes of val.s.p owned by the state, reused */
	struct sn_exec_value val; /* min/max/any/anyLast/anyHeavy; argMin/argMax's arg */
	union {
		struct hset *set;
		struct qvals *vals;
		struct moments *mom;
		struct argext *arg;
	} x;
};

static int hset_add(struct xctx *c, struct astate *st, uint64_t h)
{
	h |= 1; /* 0 marks an empty slot */
	struct hset *s = st->x.set;
	if (!s) {
		if (!(s = st->x.set = xalloc(c, c->qa, sizeof(*s))))
			return c->rc;
		s->cap = 8;
		s->n = 0;
		if (!(s->v = xalloc(c, c->qa, s->cap * sizeof(*s->v))))
			return c->rc;
		memset(s->v, 0, s->cap * sizeof(*s->v));
	}
	size_t i = h & (s->cap - 1);
	while (s->v[i]) {
		if (s->v[i] == h)
			return 0;
		i = (i + 1) & (s->cap - 1);
	}
	s->v[i] = h;
	if (++s->n * 2 > s->cap) {
		size_t cap = s->cap * 2;
		uint64_t *v = xalloc(c, c->qa, cap * sizeof(*v));
		if (!v)
			return c->rc;
		memset(v, 0, cap * sizeof(*v));
		for (size_t k = 0; k < s->cap; k++)
			if (s->v[k]) {
				size_t j = s->v[k] & (cap - 1);
				while (v[j])
					j = (j + 1) & (cap - 1);
				v[j] = s->v[k];
			}
		s->v = v;
		s->cap = cap;
	}
	return 0;
}

static uint64_t hash_cell(const struct vec *v, size_t r)
{
	if (v->s)
		return sn_hash64(v->s[r].p ? v->s[r].p : "", v->s[r].len);
	if (v->f) {
		double x = v->f[r] == 0 ? 0.0 : v->f[r];
		return sn_hash64(&x, sizeof(x));
	}
	return sn_hash64(&v->i[r], sizeof(v->i[r]));
}

/* The hash of row r of several arguments taken as one tuple. */
static int hash_tuple(struct xctx *c, struct aggrun *g, const struct vec *av, size_t nargs,
		      size_t r, uint64_t *h)
{
	sn_buf_reset(&g->scratch);
	for (size_t k = 0; k < nargs; k++) {
		struct sn_exec_value v;
		vec_value(c, &av[k], r, NULL, &v);
		if (value_key(&g->scratch, &v))
			return xnomem(c);
	}
	*h = sn_hash64(g->scratch.data ? (const void *)g->scratch.data : "", g->scratch.len);
	return 0;
}

/* *dst = v, its string copied into the buffer of *cap bytes dst->s.p
 * already owns when it fits (a new one otherwise). */
static int keep_value(struct xctx *c, struct sn_exec_value *dst, uint32_t *cap,
		      const struct sn_exec_value *v)
{
	char *buf = (char *)dst->s.p;
	*dst = *v;
	dst->s.p = buf;
	if (v->null || !is_text(v->type)) {
		dst->s.len = 0;
		return 0;
	}
	if (v->s.len > *cap) {
		if (v->s.len > UINT32_MAX)
			return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError",
				     "A value of %zu bytes is too long to aggregate", v->s.len);
		size_t nc = v->s.len < 16 ? 16 : v->s.len;
		if (!(buf = xalloc(c, c->qa, nc)))
			return c->rc;
		*cap = (uint32_t)nc;
		dst->s.p = buf;
	}
	if (v->s.len)
		memcpy(buf, v->s.p, v->s.len);
	return 0;
}

static int keep(struct xctx *c, struct astate *st, const struct sn_exec_value *v)
{
	st->has = true;
	return keep_value(c, &st->val, &st->cap, v);
}

static double num(const struct vec *v, size_t r)
{
	if (v->f)
		return v->f[r];
	return v->t == SN_XT_UINT ? (double)(uint64_t)v->i[r] : (double)v->i[r];
}

static int vals_add(struct xctx *c, struct astate *st, const struct vec *x, size_t r)
{
	struct qvals *q = st->x.vals;
	if (!q) {
		if (!(q = st->x.vals = xalloc(c, c->qa, sizeof(*q))))
			return c->rc;
		memset(q, 0, sizeof(*q));
	}
	if (q->n == q->cap) {
		size_t nc = q->cap ? q->cap * 2 : 8;
		void *p = xalloc(c, c->qa, nc * sizeof(int64_t));
		if (!p)
			return c->rc;
		if (x->f) {
			if (q->n)
				memcpy(p, q->f, q->n * sizeof(*q->f));
			q->f = p;
		} else {
			if (q->n)
				memcpy(p, q->i, q->n * sizeof(*q->i));
			q->i = p;
		}
		q->cap = nc;
	}
	if (x->f)
		q->f[q->n++] = x->f[r];
	else
		q->i[q->n++] = x->i[r];
	return 0;
}

static int moments_add(struct xctx *c, struct astate *st, const struct vec *av, bool two, size_t r)
{
	struct moments *m = st->x.mom;
	if (!m) {
		if (!(m = st->x.mom = xalloc(c, c->qa, sizeof(*m))))
			return c->rc;
		memset(m, 0, sizeof(*m));
	}
	double n = (double)++st->cnt;
	double x = num(&av[0], r), dx = x - m->mx;
	m->mx += dx / n;
	m->m2x += dx * (x - m->mx);
	if (two) {
		double y = num(&av[1], r), dy = y - m->my;
		m->my += dy / n;
		m->m2y += dy * (y - m->my);
		m->cxy += dx * (y - m->my);
	}
	return 0;
}

/* argMin/argMax: row r wins when its val is strictly better. */
static int argext_add(struct xctx *c, const struct xagg *ag, struct astate *st,
		      const struct vec *av, size_t r)
{
	struct argext *e = st->x.arg;
	if (!e) {
		if (!(e = st->x.arg = xalloc(c, c->qa, sizeof(*e))))
			return c->rc;
		memset(e, 0, sizeof(*e));
	}
	struct sn_exec_value k, v;
	vec_value(c, &av[1], r, NULL, &k);
	if (st->has) {
		int d = value_cmp(&k, &e->key);
		if (ag->kind == AGG_ARG_MIN ? d >= 0 : d <= 0)
			return 0;
	}
	vec_value(c, &av[0], r, NULL, &v);
	if (keep_value(c, &e->key, &e->cap, &k))
		return c->rc;
	return keep(c, st, &v);
}

/* Adds row r (no value argument NULL, the condition true) to st. */
static int agg_add(struct xctx *c, struct aggrun *g, const struct xagg *ag, struct astate *st,
		   const struct vec *av, size_t r)
{
	const struct vec *x = &av[0];
	struct sn_exec_value v;
	int d;
	switch (ag->kind) {
	case AGG_COUNT:
	case AGG_COUNT_X: st->cnt++; return 0;
	case AGG_SUM:
	case AGG_AVG:
		st->cnt++;
		if (x->f)
			st->f += x->f[r];
		else
			st->i = (int64_t)((uint64_t)st->i + (uint64_t)x->i[r]);
		return 0;
	case AGG_UNIQ: {
		uint64_t h = 0;
		if (ag->nargs == 1)
			h = hash_cell(x, r);
		else if (hash_tuple(c, g, av, ag->nargs, r, &h))
			return c->rc;
		return hset_add(c, st, h);
	}
	case AGG_MIN:
	case AGG_MAX:
		vec_value(c, x, r, NULL, &v);
		d = st->has ? value_cmp(&v, &st->val) : 0;
		if (st->has && (ag->kind == AGG_MIN ? d >= 0 : d <= 0))
			return 0;
		return keep(c, st, &v);
	case AGG_ANY:
		if (st->has)
			return 0;
		vec_value(c, x, r, NULL, &v);
		return keep(c, st, &v);
	case AGG_ANY_LAST: vec_value(c, x, r, NULL, &v); return keep(c, st, &v);
	case AGG_ANY_HEAVY:
		/* ClickHouse's majority vote: the kept value gains on its
		 * equal, loses on any other and is replaced at zero. */
		vec_value(c, x, r, NULL, &v);
		if (st->has && value_cmp(&v, &st->val) == 0) {
			st->cnt++;
			return 0;
		}
		if (st->cnt == 0) {
			st->cnt = 1;
			return keep(c, st, &v);
		}
		st->cnt--;
		return 0;
	case AGG_ARG_MIN:
	case AGG_ARG_MAX: return argext_add(c, ag, st, av, r);
	case AGG_QUANTILE:
	case AGG_QUANTILE_EXACT: return vals_add(c, st, x, r);
	case AGG_VAR_POP:
	case AGG_VAR_SAMP:
	case AGG_STDDEV_POP:
	case AGG_STDDEV_SAMP: return moments_add(c, st, av, false, r);
	case AGG_COVAR_POP:
	case AGG_COVAR_SAMP:
	case AGG_CORR: return moments_add(c, st, av, true, r);
	default: SN_BUG("aggregate kind %d", ag->kind);
	}
	return 0;
}

int agg_init(struct xctx *c, struct aggrun *g)
{
	if (gtab_init(c, &g->tab, 1024))
		return c->rc;
	g->key_stride = g->nkeys;
	sn_buf_init(&g->scratch, (size_t)1 << 24);
	return 0;
}

void agg_release(struct aggrun *g)
{
	sn_buf_release(&g->scratch);
}

static int ensure_groups(struct xctx *c, struct aggrun *g, size_t n)
{
	if (n <= g->gcap)
		return 0;
	size_t cap = g->gcap ? g->gcap * 2 : 64;
	while (cap < n)
		cap *= 2;
	struct astate *st = xalloc(c, c->qa, cap * g->naggs * sizeof(*st) + 1);
	struct sn_exec_value *keys = xalloc(c, c->qa, cap * g->nkeys * sizeof(*keys) + 1);
	if (!st || !keys)
		return c->rc;
	memset(st, 0, cap * g->naggs * sizeof(*st));
	if (g->gcap) {
		memcpy(st, g->states, g->gcap * g->naggs * sizeof(*st));
		memcpy(keys, g->keys, g->gcap * g->nkeys * sizeof(*keys));
	}
	g->states = st;
	g->keys = keys;
	g->gcap = cap;
	return 0;
}

int agg_batch_empty_group(struct xctx *c, struct aggrun *g)
{
	if (ensure_groups(c, g, 1))
		return c->rc;
	g->ngroups = 1;
	return 0;
}

/* value_key's bytes for row r's keys, written straight from the vectors
 * into out; 0 when they do not fit in cap. */
static size_t key_bytes(const struct vec *kv, size_t nkeys, size_t r, uint8_t *out, size_t cap)
{
	size_t n = 0;
	for (size_t k = 0; k < nkeys; k++) {
		const struct vec *v = &kv[k];
		bool null = v->t == SN_XT_NULL || vec_null(v, r);
		if (n + 2 > cap)
			return 0;
		out[n++] = v->t;
		out[n++] = null;
		if (null)
			continue;
		if (is_text(v->t)) {
			uint32_t len = (uint32_t)v->s[r].len;
			if (n + 4 + (size_t)len > cap)
				return 0;
			memcpy(out + n, &len, 4);
			if (len)
				memcpy(out + n + 4, v->s[r].p, len);
			n += 4 + (size_t)len;
		} else {
			if (n + 8 > cap)
				return 0;
			if (v->t == SN_XT_FLOAT) {
				double x = v->f[r] == 0 ? 0.0 : v->f[r];
				memcpy(out + n, &x, 8);
			} else {
				memcpy(out + n, &v->i[r], 8);
			}
			n += 8;
		}
	}
	return n;
}

/* Whether row r has the same GROUP BY key values as row r - 1, bit for
 * bit (which implies the same value_key bytes). */
static bool same_keys(const struct vec *kv, size_t nkeys, size_t r)
{
	for (size_t k = 0; k < nkeys; k++) {
		const struct vec *v = &kv[k];
		bool n0 = vec_null(v, r - 1), n1 = vec_null(v, r);
		if (n0 != n1)
			return false;
		if (n1 || v->t == SN_XT_NULL)
			continue;
		if (v->s) {
			if (v->s[r].len != v->s[r - 1].len ||
			    (v->s[r].len && v->s[r].p != v->s[r - 1].p &&
			     memcmp(v->s[r].p, v->s[r - 1].p, v->s[r].len) != 0))
				return false;
		} else if (v->f) {
			if (memcmp(&v->f[r], &v->f[r - 1], sizeof(double)) != 0)
				return false;
		} else if (!v->i || v->i[r] != v->i[r - 1]) {
			return false;
		}
	}
	return true;
}

int agg_batch(struct xctx *c, struct aggrun *g)
{
	size_t n = c->n;
	uint32_t *gid = xalloc(c, c->ba, n * sizeof(*gid));
	struct vec *kv = xalloc(c, c->ba, (g->nkeys + 1) * sizeof(*kv));
	if (!gid || !kv)
		return c->rc;
	for (size_t k = 0; k < g->nkeys; k++)
		if (xeval(c, g->key_nodes[k], &kv[k]))
			return c->rc;
	if (g->nkeys == 0) {
		if (ensure_groups(c, g, 1))
			return c->rc;
		g->ngroups = 1;
		memset(gid, 0, n * sizeof(*gid));
	}
	for (size_t r = 0; r < n && g->nkeys; r++) {
		if (r > 0 && same_keys(kv, g->nkeys, r)) {
			/* rows come sorted by (team, day, event ...): runs of one key */
			gid[r] = gid[r - 1];
			continue;
		}
		uint8_t kb[256];
		const void *key = kb;
		size_t klen = key_bytes(kv, g->nkeys, r, kb, sizeof(kb));
		if (!klen) { /* long keys: through the scratch buffer */
			sn_buf_reset(&g->scratch);
			for (size_t k = 0; k < g->nkeys; k++) {
				struct sn_exec_value v;
				vec_value(c, &kv[k], r, NULL, &v);
				if (value_key(&g->scratch, &v))
					return xnomem(c);
			}
			key = g->scratch.data;
			klen = g->scratch.len;
		}
		bool isnew;
		if (gtab_find(c, &g->tab, key, klen, &gid[r], &isnew))
			return c->rc;
		if (isnew) {
			if (ensure_groups(c, g, g->tab.n))
				return c->rc;
			for (size_t k = 0; k < g->nkeys; k++)
				if (vec_value(c, &kv[k], r, c->qa,
					      &g->keys[(size_t)gid[r] * g->nkeys + k]))
					return c->rc;
			g->ngroups = g->tab.n;
		}
	}
	for (size_t a = 0; a < g->naggs; a++) {
		struct xagg *ag = &g->aggs[a];
		struct vec av[XMAX_AGG_ARGS], cond = {0};
		bool never = false; /* an argument is the NULL literal: every row skipped */
		for (size_t k = 0; k < ag->nargs; k++) {
			if (xeval(c, ag->args[k], &av[k]))
				return c->rc;
			never |= av[k].t == SN_XT_NULL;
		}
		if (never)
			continue;
		if (ag->cond && xeval(c, ag->cond, &cond))
			return c->rc;
		for (size_t r = 0; r < n; r++) {
			if (ag->cond && !vec_truth(&cond, r))
				continue;
			bool skip = false;
			for (size_t k = 0; k < ag->nargs && !skip; k++)
				skip = vec_null(&av[k], r);
			if (skip)
				continue;
			if (agg_add(c, g, ag, &g->states[(size_t)gid[r] * g->naggs + a], av, r))
				return c->rc;
		}
	}
	return 0;
}

/* ---- merging a second scanner's groups ---------------------------------------------- */

bool agg_mergeable(const struct aggrun *g)
{
	for (size_t a = 0; a < g->naggs; a++)
		switch (g->aggs[a].kind) {
		case AGG_COUNT:
		case AGG_COUNT_X:
		case AGG_SUM:
		case AGG_AVG:
		case AGG_UNIQ:
		case AGG_MIN:
		case AGG_MAX:
		case AGG_ANY:
		case AGG_ANY_LAST:
		case AGG_ARG_MIN:
		case AGG_ARG_MAX:
		case AGG_QUANTILE:
		case AGG_QUANTILE_EXACT: break;
		default: return false; /* anyHeavy's vote, Welford's moments: order-bound */
		}
	return true;
}

static int vals_push(struct xctx *c, struct astate *st, bool flt, int64_t i, double f)
{
	struct vec one = {.t = flt ? SN_XT_FLOAT : SN_XT_INT, .n = 1};
	if (flt)
		one.f = &f;
	else
		one.i = &i;
	return vals_add(c, st, &one, 0);
}

/* m = the state of m's rows followed by w's rows. */
static int merge_state(struct xctx *c, const struct xagg *ag, struct astate *m,
		       const struct astate *w)
{
	switch (ag->kind) {
	case AGG_COUNT:
	case AGG_COUNT_X: m->cnt += w->cnt; return 0;
	case AGG_SUM:
	case AGG_AVG:
		m->cnt += w->cnt;
		m->i = (int64_t)((uint64_t)m->i + (uint64_t)w->i);
		m->f += w->f;
		return 0;
	case AGG_UNIQ:
		if (w->x.set)
			for (size_t k = 0; k < w->x.set->cap; k++)
				if (w->x.set->v[k] && hset_add(c, m, w->x.set->v[k]))
					return c->rc;
		return 0;
	case AGG_MIN:
	case AGG_MAX:
		if (!w->has)
			return 0;
		if (m->has && (ag->kind == AGG_MIN ? value_cmp(&w->val, &m->val) >= 0
						   : value_cmp(&w->val, &m->val) <= 0))
			return 0;
		return keep(c, m, &w->val);
	case AGG_ANY: return w->has && !m->has ? keep(c, m, &w->val) : 0;
	case AGG_ANY_LAST: return w->has ? keep(c, m, &w->val) : 0;
	case AGG_ARG_MIN:
	case AGG_ARG_MAX: {
		if (!w->has)
			return 0;
		if (m->has) {
			int d = value_cmp(&w->x.arg->key, &m->x.arg->key);
			if (ag->kind == AGG_ARG_MIN ? d >= 0 : d <= 0)
				return 0;
		} else if (!m->x.arg) {
			if (!(m->x.arg = xalloc(c, c->qa, sizeof(*m->x.arg))))
				return c->rc;
			memset(m->x.arg, 0, sizeof(*m->x.arg));
		}
		if (keep_value(c, &m->x.arg->key, &m->x.arg->cap, &w->x.arg->key))
			return c->rc;
		return keep(c, m, &w->val);
	}
	case AGG_QUANTILE:
	case AGG_QUANTILE_EXACT:
		if (w->x.vals)
			for (size_t k = 0; k < w->x.vals->n; k++)
				if (vals_push(c, m, w->x.vals->f != NULL,
					      w->x.vals->i ? w->x.vals->i[k] : 0,
					      w->x.vals->f ? w->x.vals->f[k] : 0))
					return c->rc;
		return 0;
	default: SN_BUG("aggregate kind %d is not mergeable", ag->kind);
	}
	return 0;
}

int agg_merge(struct xctx *c, struct aggrun *g, const struct aggrun *w)
{
	for (size_t id = 0; id < w->ngroups; id++) {
		uint32_t gid = 0;
		if (g->nkeys) {
			const struct sn_exec_value *wk = &w->keys[id * w->nkeys];
			sn_buf_reset(&g->scratch);
			for (size_t k = 0; k < g->nkeys; k++)
				if (value_key(&g->scratch, &wk[k]))
					return xnomem(c);
			bool isnew;
			if (gtab_find(c, &g->tab, g->scratch.data, g->scratch.len, &gid, &isnew))
				return c->rc;
			if (isnew) {
				if (ensure_groups(c, g, g->tab.n))
					return c->rc;
				for (size_t k = 0; k < g->nkeys; k++) {
					struct sn_exec_value *dst =
					    &g->keys[(size_t)gid * g->nkeys + k];
					*dst = wk[k];
					if (!dst->null && is_text(dst->type) && dst->s.len) {
						char *p = xalloc(c, c->qa, dst->s.len);
						if (!p)
							return c->rc;
						memcpy(p, wk[k].s.p, dst->s.len);
						dst->s.p = p;
					}
				}
				g->ngroups = g->tab.n;
			}
		} else {
			if (ensure_groups(c, g, 1))
				return c->rc;
			g->ngroups = 1;
		}
		for (size_t a = 0; a < g->naggs; a++)
			if (merge_state(c, &g->aggs[a], &g->states[(size_t)gid * g->naggs + a],
					&w->states[id * g->naggs + a]))
				return c->rc;
	}
	return 0;
}

/* ---- results ----------------------------------------------------------------------- */

static int cmp_f64(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	if (isnan(x) || isnan(y)) /* nan last, as ClickHouse sorts it */
		return isnan(x) - isnan(y);
	return (x > y) - (x < y);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Value k of sorted q as a double. */
static double qval(const struct qvals *q, bool is_uint, size_t k)
{
	if (q->f)
		return q->f[k];
	return is_uint ? (double)(uint64_t)q->i[k] : (double)q->i[k];
}

/* The quantile of a non-empty q into row id of o; see the file comment. */
static void quantile_put(const struct xagg *ag, struct qvals *q, struct vec *o, size_t id)
{
	size_t n = q->n;
	bool u = ag->arg_t == SN_XT_UINT;
	if (q->f)
		qsort(q->f, n, sizeof(*q->f), cmp_f64);
	else
		qsort(q->i, n, sizeof(*q->i), u ? cmp_u64 : cmp_i64);
	if (ag->kind == AGG_QUANTILE_EXACT) {
		size_t k = ag->level < 1 ? (size_t)(ag->level * (double)n) : n - 1;
		if (k >= n)
			k = n - 1;
		if (o->f)
			o->f[id] = qval(q, u, k);
		else
			o->i[id] = q->i[k];
		return;
	}
	double idx = ag->level * (double)(n - 1);
	if (idx < 0)
		idx = 0;
	if (idx > (double)(n - 1))
		idx = (double)(n - 1);
	size_t lo = (size_t)idx;
	double res = qval(q, u, lo);
	if (lo + 1 < n)
		res = res * ((double)(lo + 1) - idx) + qval(q, u, lo + 1) * (idx - (double)lo);
	if (o->f)
		o->f[id] = res;
	else
		o->i[id] = (int64_t)res; /* Date, DateTime: truncated, as ClickHouse casts */
}

static double moments_result(const struct xagg *ag, const struct astate *st)
{
	const struct moments *m = st->x.mom;
	double n = (double)st->cnt;
	if (!st->cnt || !m)
		return NAN;
	switch (ag->kind) {
	case AGG_VAR_POP: return m->m2x / n;
	case AGG_VAR_SAMP: return st->cnt > 1 ? m->m2x / (n - 1) : NAN;
	case AGG_STDDEV_POP: return sqrt(m->m2x / n);
	case AGG_STDDEV_SAMP: return st->cnt > 1 ? sqrt(m->m2x / (n - 1)) : NAN;
	case AGG_COVAR_POP: return m->cxy / n;
	case AGG_COVAR_SAMP: return st->cnt > 1 ? m->cxy / (n - 1) : NAN;
	default: return m->cxy / sqrt(m->m2x * m->m2y); /* AGG_CORR */
	}
}

int agg_final(struct xctx *c, struct aggrun *g, struct vec *keyv, struct vec *aggv)
{
	size_t ng = g->ngroups;
	for (size_t k = 0; k < g->nkeys; k++)
		if (vec_from_values(c, g->key_t[k], g->key_nullable[k], g->keys + k, g->nkeys, ng,
				    &keyv[k]))
			return c->rc;
	for (size_t a = 0; a < g->naggs; a++) {
		struct xagg *ag = &g->aggs[a];
		struct vec *o = &aggv[a];
		if (vec_make(c, o, ag->res_t, ag->res_nullable, ng))
			return c->rc;
		if (ag->res_t == SN_XT_NULL)
			continue; /* vec_make made every row NULL */
		for (size_t id = 0; id < ng; id++) {
			struct astate *st = &g->states[id * g->naggs + a];
			bool null = false;
			switch (ag->kind) {
			case AGG_COUNT:
			case AGG_COUNT_X: o->i[id] = st->cnt; break;
			case AGG_UNIQ: o->i[id] = st->x.set ? (int64_t)st->x.set->n : 0; break;
			case AGG_SUM:
				null = ag->res_nullable && !st->cnt;
				if (o->f)
					o->f[id] = st->f;
				else
					o->i[id] = st->i;
				break;
			case AGG_AVG:
				null = ag->res_nullable && !st->cnt;
				o->f[id] = (ag->arg_t == SN_XT_FLOAT ? st->f : (double)st->i) /
					   (double)st->cnt;
				break;
			case AGG_QUANTILE:
			case AGG_QUANTILE_EXACT:
				if (st->x.vals && st->x.vals->n)
					quantile_put(ag, st->x.vals, o, id);
				else if (ag->res_nullable)
					null = true;
				else if (o->f)
					o->f[id] = NAN; /* integer, date types: 0 */
				break;
			case AGG_VAR_POP:
			case AGG_VAR_SAMP:
			case AGG_STDDEV_POP:
			case AGG_STDDEV_SAMP:
			case AGG_COVAR_POP:
			case AGG_COVAR_SAMP:
			case AGG_CORR:
				null = ag->res_nullable && !st->cnt;
				o->f[id] = moments_result(ag, st);
				break;
			default: /* min, max, any, anyLast, anyHeavy, argMin, argMax */
				if (st->has && !st->val.null) {
					if (o->s)
						o->s[id] = st->val.s;
					else if (o->f)
						o->f[id] = st->val.f;
					else
						o->i[id] = st->val.i;
				} else {
					/* NULL, or ClickHouse's default of the type */
					null = ag->res_nullable;
				}
				break;
			}
			if (o->nulls)
				o->nulls[id] = null;
		}
	}
	return 0;
}

/* ---- result types ------------------------------------------------------------------- */

static int illegal_type(struct xctx *c, const struct xagg *ag, uint8_t t, bool nullable,
			const char *hint)
{
	char tn[48];
	return xfail(c, ag->call, SN_ERR_INVALID, "QueryError",
		     "Illegal type %s of argument for aggregate function %s%s",
		     sn_exec_type_name(t, nullable, tn, sizeof(tn)), ag->call->name, hint);
}

int agg_type(struct xctx *c, struct xagg *ag)
{
	struct vec v;
	bool nullable = false, null_literal = false;
	ag->arg_t = ag->arg2_t = SN_XT_NULL;
	ag->arg_nullable = ag->arg2_nullable = false;
	for (size_t k = 0; k < ag->nargs; k++) {
		if (xeval(c, ag->args[k], &v))
			return c->rc;
		if (k == 0) {
			ag->arg_t = v.t;
			ag->arg_nullable = v.nullable;
		} else if (k == 1) {
			ag->arg2_t = v.t;
			ag->arg2_nullable = v.nullable;
		}
		nullable |= v.nullable;
		null_literal |= v.t == SN_XT_NULL;
	}
	if (ag->cond && xeval(c, ag->cond, &v))
		return c->rc;
	ag->res_nullable = nullable;
	switch (ag->kind) {
	case AGG_COUNT:
	case AGG_COUNT_X:
	case AGG_UNIQ:
		ag->res_t = SN_XT_UINT;
		ag->res_nullable = false;
		return 0;
	default: break;
	}
	if (null_literal) { /* sum(NULL), argMax(x, NULL): Nullable(Nothing), NULL */
		ag->res_t = SN_XT_NULL;
		ag->res_nullable = true;
		return 0;
	}
	uint8_t t = ag->arg_t;
	bool time = t == SN_XT_DATE || t == SN_XT_DATETIME;
	switch (ag->kind) {
	case AGG_SUM:
	case AGG_AVG:
		if (!is_numeric(t))
			return illegal_type(c, ag, t, ag->arg_nullable,
					    "; convert it with toInt or toFloat");
		ag->res_t = ag->kind == AGG_AVG || t == SN_XT_FLOAT ? SN_XT_FLOAT
			    : t == SN_XT_INT			    ? SN_XT_INT
								    : SN_XT_UINT;
		return 0;
	case AGG_QUANTILE:
	case AGG_QUANTILE_EXACT:
		if (!is_numeric(t) && !time)
			return illegal_type(c, ag, t, ag->arg_nullable,
					    "; convert it with toInt or toFloat");
		ag->res_t = ag->kind == AGG_QUANTILE && !time ? SN_XT_FLOAT : t;
		return 0;
	case AGG_COVAR_POP:
	case AGG_COVAR_SAMP:
	case AGG_CORR:
	case AGG_VAR_POP:
	case AGG_VAR_SAMP:
	case AGG_STDDEV_POP:
	case AGG_STDDEV_SAMP:
		if (!is_numeric(t))
			return illegal_type(c, ag, t, ag->arg_nullable,
					    "; convert it with toInt or toFloat");
		if (ag->nargs > 1 && !is_numeric(ag->arg2_t))
			return illegal_type(c, ag, ag->arg2_t, ag->arg2_nullable,
					    "; convert it with toInt or toFloat");
		ag->res_t = SN_XT_FLOAT;
		return 0;
	default: /* min, max, any, anyLast, anyHeavy, argMin, argMax: the arg's type */
		ag->res_t = t;
		return 0;
	}
}
