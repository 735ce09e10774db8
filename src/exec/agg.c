/*
 * agg.c — hash aggregation for GROUP BY and the row hash set of DISTINCT.
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
 * one tight loop per aggregate over (group id, argument) pairs. A query
 * without GROUP BY has a single group and skips hashing altogether.
 *
 * uniq and uniqExact are both exact over 64-bit XXH3 hashes of the values
 * (a per-group open-addressing set): exact up to hash collisions, which
 * for 2^64 hashes are negligible below billions of distinct values.
 * ClickHouse's uniq is an approximation (HyperLogLog-like); ours is more
 * precise, never less.
 *
 * Memory: everything in the query arena; tables grow by doubling and the
 * old arrays are abandoned there (at most half the memory wasted), which
 * keeps the memory budget the single bound.
 */
#include <math.h>
#include <string.h>

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

/* ---- aggregate states ------------------------------------------------------------- */

struct hset {
	uint64_t *v;
	size_t cap, n;
};

struct astate {
	int64_t cnt;
	int64_t i;
	double f;
	bool has;
	struct sn_exec_value val; /* min/max/any */
	struct hset *set;
};

static int hset_add(struct xctx *c, struct astate *st, uint64_t h)
{
	h |= 1; /* 0 marks an empty slot */
	struct hset *s = st->set;
	if (!s) {
		if (!(s = st->set = xalloc(c, c->qa, sizeof(*s))))
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
		sn_buf_reset(&g->scratch);
		for (size_t k = 0; k < g->nkeys; k++) {
			struct sn_exec_value v;
			vec_value(c, &kv[k], r, NULL, &v);
			if (value_key(&g->scratch, &v))
				return xnomem(c);
		}
		bool isnew;
		if (gtab_find(c, &g->tab, g->scratch.data, g->scratch.len, &gid[r], &isnew))
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
		struct vec arg = {0}, cond = {0};
		if (ag->arg && xeval(c, ag->arg, &arg))
			return c->rc;
		if (ag->cond && xeval(c, ag->cond, &cond))
			return c->rc;
		for (size_t r = 0; r < n; r++) {
			if (ag->cond && !vec_truth(&cond, r))
				continue;
			if (ag->arg && (arg.t == SN_XT_NULL || vec_null(&arg, r)))
				continue;
			struct astate *st = &g->states[(size_t)gid[r] * g->naggs + a];
			switch (ag->kind) {
			case AGG_COUNT:
			case AGG_COUNT_X: st->cnt++; break;
			case AGG_SUM:
			case AGG_AVG:
				st->cnt++;
				if (arg.f)
					st->f += arg.f[r];
				else
					st->i = (int64_t)((uint64_t)st->i + (uint64_t)arg.i[r]);
				break;
			case AGG_UNIQ:
				if (hset_add(c, st, hash_cell(&arg, r)))
					return c->rc;
				break;
			case AGG_MIN:
			case AGG_MAX:
			case AGG_ANY: {
				if (st->has && ag->kind == AGG_ANY)
					break;
				struct sn_exec_value v;
				vec_value(c, &arg, r, NULL, &v);
				int d = st->has ? value_cmp(&v, &st->val) : 0;
				if (!st->has || (ag->kind == AGG_MIN ? d < 0 : d > 0)) {
					if (vec_value(c, &arg, r, c->qa, &st->val))
						return c->rc;
					st->has = true;
				}
				break;
			}
			}
		}
	}
	return 0;
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
		for (size_t id = 0; id < ng; id++) {
			struct astate *st = &g->states[id * g->naggs + a];
			bool null = false;
			switch (ag->kind) {
			case AGG_COUNT:
			case AGG_COUNT_X: o->i[id] = st->cnt; break;
			case AGG_UNIQ: o->i[id] = st->set ? (int64_t)st->set->n : 0; break;
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
			default:
				null = !st->has && ag->res_nullable;
				if (st->has && !st->val.null) {
					if (o->s)
						o->s[id] = st->val.s;
					else if (o->f)
						o->f[id] = st->val.f;
					else
						o->i[id] = st->val.i;
				} else if (!st->has && !o->nulls) {
					/* ClickHouse's default value of the type */
				} else {
					null = true;
				}
				break;
			}
			if (o->nulls)
				o->nulls[id] = null;
		}
	}
	return 0;
}

/* Result type of an aggregate given its argument's type (zero-row pass). */
int agg_type(struct xctx *c, struct xagg *ag)
{
	switch (ag->kind) {
	case AGG_COUNT:
	case AGG_COUNT_X:
	case AGG_UNIQ:
		ag->res_t = SN_XT_UINT;
		ag->res_nullable = false;
		return 0;
	case AGG_SUM:
	case AGG_AVG:
		if (!(ag->arg_t == SN_XT_BOOL || ag->arg_t == SN_XT_INT ||
		      ag->arg_t == SN_XT_UINT || ag->arg_t == SN_XT_FLOAT)) {
			char tn[48];
			return xfail(c, ag->call, SN_ERR_INVALID, "QueryError",
				     "Illegal type %s of argument for aggregate function %s; "
				     "convert it with toInt or toFloat",
				     sn_exec_type_name(ag->arg_t, ag->arg_nullable, tn, sizeof(tn)),
				     ag->call->name);
		}
		ag->res_t = ag->kind == AGG_AVG || ag->arg_t == SN_XT_FLOAT ? SN_XT_FLOAT
			    : ag->arg_t == SN_XT_INT			    ? SN_XT_INT
									    : SN_XT_UINT;
		ag->res_nullable = ag->arg_nullable;
		return 0;
	default:
		ag->res_t = ag->arg_t;
		ag->res_nullable = ag->arg_nullable;
		return 0;
	}
}
