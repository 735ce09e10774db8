/*
 * actorsort.c — puts the rows an insight reduces per actor (lifecycle
 * periods, retention periods and first events) into actor order in C,
 * instead of an ORDER BY actor in the statement.
 *
 * The actor is column 0 (a 36-character person id, a group key or an
 * expression's text). Sorting those strings in the engine cost more than
 * the reduction itself; here rows go by (64-bit hash of the actor, the
 * actor's bytes, then the caller's key columns, then arrival): a radix
 * sort on the hash, then each run of one hash (one actor's few rows, or
 * two actors that collide) sorted exactly. The order is total and the same
 * for every table sorted this way, so two tables can still be merged by
 * actor with actor_cmp, whichever backend returned them in whatever order.
 *
 * The interned strings (struct sintern) of streamed rows live here too:
 * dense ids with each string's actor hash, so sintern_rank gives ids in
 * exactly the order rows_by_actor puts actors in. A canonical UUID (a
 * person id) is found through a table keyed by its 128 bits, any other
 * string through an open-addressing table of (hash, length, bytes); each
 * string is in exactly one of the two. The last id is checked before
 * hashing: rows arrive in storage order, an actor's rows together.
 */
#include "insights/insights_internal.h"

#include <stdlib.h>
#include <string.h>

int insight_value_order(const struct sn_insight_value *a, const struct sn_insight_value *b)
{
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (a->type == SN_IV_STRING) {
		size_t m = a->slen < b->slen ? a->slen : b->slen;
		int d = m ? memcmp(a->s, b->s, m) : 0;
		return d ? (d < 0 ? -1 : 1) : (a->slen > b->slen) - (a->slen < b->slen);
	}
	if (a->f != b->f)
		return a->f < b->f ? -1 : 1;
	return (a->i > b->i) - (a->i < b->i);
}

static uint64_t hash_of(const char *s, size_t n)
{
	return sn_funnels_actor_hash(n ? s : "", n);
}

int actor_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	uint64_t ha = hash_of(a, an), hb = hash_of(b, bn);
	if (ha != hb)
		return ha < hb ? -1 : 1;
	size_t m = an < bn ? an : bn;
	int d = m ? memcmp(a, b, m) : 0;
	return d ? (d < 0 ? -1 : 1) : (an > bn) - (an < bn);
}

void hrow_sort(struct hrow *v, struct hrow *tmp, size_t n,
	       int (*cmp)(const void *, const void *, void *), void *arg)
{
	struct hrow *src = v, *dst = tmp;
	for (int pass = 0; pass < 8; pass++) {
		size_t cnt[257] = {0};
		int sh = pass * 8;
		for (size_t i = 0; i < n; i++)
			cnt[((src[i].h >> sh) & 0xff) + 1]++;
		if (n && cnt[((src[0].h >> sh) & 0xff) + 1] == n)
			continue; /* one value of this byte: nothing moves */
		for (int b = 0; b < 256; b++)
			cnt[b + 1] += cnt[b];
		for (size_t i = 0; i < n; i++)
			dst[cnt[(src[i].h >> sh) & 0xff]++] = src[i];
		struct hrow *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	for (size_t a = 0, b; a < n; a = b) {
		for (b = a + 1; b < n && v[b].h == v[a].h;)
			b++;
		if (b - a > 16) { /* a busy actor: no quadratic insertion */
			qsort_r(v + a, b - a, sizeof(*v), cmp, arg);
			continue;
		}
		for (size_t i = a + 1; i < b; i++) {
			struct hrow e = v[i];
			size_t j = i;
			while (j > a && cmp(&v[j - 1], &e, arg) > 0) {
				v[j] = v[j - 1];
				j--;
			}
			v[j] = e;
		}
	}
}

struct actx {
	const struct sn_insight_table *tab;
	const size_t *keys;
	size_t nkeys;
};

static int aent_cmp(const void *pa, const void *pb, void *arg)
{
	const struct hrow *a = pa, *b = pb;
	if (a->h != b->h)
		return a->h < b->h ? -1 : 1;
	const struct actx *c = arg;
	const struct sn_insight_value *x = &c->tab->cells[(size_t)a->row * c->tab->ncols];
	const struct sn_insight_value *y = &c->tab->cells[(size_t)b->row * c->tab->ncols];
	int d = insight_value_order(&x[0], &y[0]);
	for (size_t k = 0; !d && k < c->nkeys; k++)
		d = insight_value_order(&x[c->keys[k]], &y[c->keys[k]]);
	return d ? d : (a->row > b->row) - (a->row < b->row);
}

int rows_by_actor(struct ictx *x, struct sn_insight_table *tab, const size_t *keys, size_t nkeys)
{
	size_t n = tab->nrows, w = tab->ncols;
	if (n < 2 || !w)
		return 0;
	struct hrow *ord = sn_arena_alloc(x->a, n * sizeof(*ord));
	struct hrow *tmp = sn_arena_alloc(x->a, n * sizeof(*tmp));
	struct sn_insight_value *cells = sn_arena_alloc(x->a, n * w * sizeof(*cells));
	if (!ord || !tmp || !cells)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct sn_insight_value *a = &tab->cells[i * w];
		ord[i].h = a->type == SN_IV_STRING ? hash_of(a->s, a->slen) : hash_of("", 0);
		ord[i].row = (uint32_t)i;
	}
	struct actx c = {tab, keys, nkeys};
	hrow_sort(ord, tmp, n, aent_cmp, &c);
	for (size_t i = 0; i < n; i++)
		memcpy(&cells[i * w], &tab->cells[(size_t)ord[i].row * w], w * sizeof(*cells));
	tab->cells = cells;
	return 0;
}

/* ---- interned strings ------------------------------------------------------------------ */

void sintern_init(struct sintern *t, struct sn_arena *a)
{
	memset(t, 0, sizeof(*t));
	t->a = a;
}

void sintern_release(struct sintern *t)
{
	free(t->s);
	free(t->len);
	free(t->h);
	free(t->slot);
	free(t->uslot);
	memset(t, 0, sizeof(*t));
}

static bool uuid_key(const char *s, size_t len, uint64_t k[2]);
static inline uint64_t uuid_hash(const uint64_t k[2]);
static int uuid_get(struct sintern *t, const char *s, const uint64_t k[2], uint64_t uh,
		    uint32_t *id);

static int sintern_grow(struct sintern *t)
{
	size_t nc = t->cap ? t->cap * 2 : 1024;
	struct sintern_slot *slot = calloc(nc, sizeof(*slot));
	if (!slot)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < t->n; i++) {
		uint64_t k[2];
		if (uuid_key(t->s[i], t->len[i], k))
			continue; /* in uslot */
		size_t j = t->h[i] & (nc - 1);
		while (slot[j].s)
			j = (j + 1) & (nc - 1);
		slot[j] = (struct sintern_slot){t->h[i], t->s[i], (uint32_t)i, t->len[i]};
	}
	free(t->slot);
	t->slot = slot;
	t->cap = nc;
	return 0;
}

/* The lookup with h = the string's hash (the last string is checked first,
 * without it). */
/* Appends s as a new id (its hash h, for sintern_rank); the tables that
 * find it are the caller's to fill. */
static int add_string(struct sintern *t, const char *s, size_t len, uint64_t h, uint32_t *id)
{
	if (t->n >= ((size_t)1 << 31))
		return SN_ERR_TOO_BIG;
	if (t->n == t->idcap) {
		size_t nc = t->idcap ? t->idcap * 2 : 1024;
		const char **ns = realloc(t->s, nc * sizeof(*ns));
		if (ns)
			t->s = ns;
		uint32_t *nl = realloc(t->len, nc * sizeof(*nl));
		if (nl)
			t->len = nl;
		uint64_t *nh = realloc(t->h, nc * sizeof(*nh));
		if (nh)
			t->h = nh;
		if (!ns || !nl || !nh)
			return SN_ERR_NOMEM;
		t->idcap = nc;
	}
	char *copy = sn_arena_alloc(t->a, len + 1);
	if (!copy)
		return SN_ERR_NOMEM;
	if (len)
		memcpy(copy, s, len);
	copy[len] = '\0';
	t->s[t->n] = copy;
	t->len[t->n] = (uint32_t)len;
	t->h[t->n] = h;
	*id = t->last = (uint32_t)t->n++;
	return 0;
}

static int sintern_get_h(struct sintern *t, const char *s, size_t len, uint64_t h, uint32_t *id)
{
	if (t->n && t->len[t->last] == len && (!len || memcmp(t->s[t->last], s, len) == 0)) {
		*id = t->last;
		return 0;
	}
	if (!t->cap && sintern_grow(t))
		return SN_ERR_NOMEM;
	size_t j = h & (t->cap - 1);
	/* a slot holds what the probe compares: one cache miss for the slot,
	 * one for the string's bytes */
	for (const struct sintern_slot *e; (e = &t->slot[j])->s; j = (j + 1) & (t->cap - 1))
		if (e->h == h && e->len == len && (!len || memcmp(e->s, s, len) == 0)) {
			*id = t->last = e->id;
			return 0;
		}
	int rc = add_string(t, s, len, h, id);
	if (rc)
		return rc;
	t->slot[j] = (struct sintern_slot){h, t->s[*id], *id, (uint32_t)len};
	if (t->n * 2 > t->cap)
		return sintern_grow(t);
	return 0;
}

int sintern_get(struct sintern *t, const char *s, size_t len, uint32_t *id)
{
	/* rows come in storage order: an actor's (a page's) rows follow each
	 * other, so the last string is checked before hashing */
	if (t->n && t->len[t->last] == len && (!len || memcmp(t->s[t->last], s, len) == 0)) {
		*id = t->last;
		return 0;
	}
	uint64_t k[2];
	if (uuid_key(s, len, k))
		return uuid_get(t, s, k, uuid_hash(k), id);
	return sintern_get_h(t, s, len, sn_funnels_actor_hash(len ? s : "", len), id);
}

static const char *cell_text(const struct sn_insight_value *v, size_t *len)
{
	*len = v->type == SN_IV_STRING ? v->slen : 0;
	return v->type == SN_IV_STRING && v->s && v->slen ? v->s : "";
}

/* A 36-character lowercase UUID (a person id, as the engine prints one) as
 * its 128 bits; false for any other string. Only the canonical spelling is
 * accepted, so equal keys mean equal strings. */
/* 8 hex characters (the first in the low byte) as 32 bits, or false when
 * one is not 0-9 / a-f: SWAR, all 8 at once. */
static inline bool hex8(uint64_t x, uint64_t *out)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
	if (x & high)
		return false;
		/* per byte b < 0x80: bit 7 of ((b | 0x80) - c) is b >= c */
#define GE(c) ((((x) | high) - (c)*ones) & high)
	uint64_t ok = (GE(0x30) & ~GE(0x3a)) | (GE(0x61) & ~GE(0x67));
#undef GE
	if (ok != high)
		return false;
	/* '0'-'9' -> 0-9, 'a'-'f' -> 10-15 */
	uint64_t v = (x & 0x0f0f0f0f0f0f0f0fULL) + ((x >> 6) & ones) * 9;
	/* nibbles to bytes, bytes to 16 bits, to 32 (the first the highest) */
	v = ((v & 0x000f000f000f000fULL) << 4) | ((v >> 8) & 0x000f000f000f000fULL);
	v = ((v & 0x000000ff000000ffULL) << 8) | ((v >> 16) & 0x000000ff000000ffULL);
	*out = ((v & 0xffff) << 16) | ((v >> 32) & 0xffff);
	return true;
}

/* A 36-character lowercase UUID (a person id, as the engine prints one) as
 * its 128 bits; false for any other string. Only the canonical spelling is
 * accepted, so equal keys mean equal strings. */
static bool uuid_key(const char *s, size_t len, uint64_t k[2])
{
	if (len != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return false;
	/* the 32 digits as four words, loaded straight from s, kept in
	 * registers (a buffer or an array in between stalled on store
	 * forwarding: stores of one width, a load of another) */
	_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
		       "hex8 takes the first character in the low byte");
	uint64_t w0, w3, c0, c1, c2, c3;
	uint32_t a, b, d, e;
	memcpy(&w0, s, 8);
	memcpy(&a, s + 9, 4);
	memcpy(&b, s + 14, 4);
	memcpy(&d, s + 19, 4);
	memcpy(&e, s + 24, 4);
	memcpy(&w3, s + 28, 8);
	if (!hex8(w0, &c0) || !hex8(a | (uint64_t)b << 32, &c1) ||
	    !hex8(d | (uint64_t)e << 32, &c2) || !hex8(w3, &c3))
		return false;
	k[0] = c0 << 32 | c1;
	k[1] = c2 << 32 | c3;
	return true;
}

/* A UUID's 16 bytes as the key uuid_key makes of its text. */
static inline void uuid_bits_key(const struct sn_uuid *u, uint64_t k[2])
{
	uint64_t a, b;
	memcpy(&a, u->b, 8);
	memcpy(&b, u->b + 8, 8);
	k[0] = __builtin_bswap64(a);
	k[1] = __builtin_bswap64(b);
}

static inline uint64_t uuid_hash(const uint64_t k[2])
{
	uint64_t h = k[0] ^ (k[1] * 0x9e3779b97f4a7c15ULL);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static int uslot_grow(struct sintern *t)
{
	size_t nc = t->ucap ? t->ucap * 2 : 1024;
	/* huge pages when large: probes land anywhere in the table, and a
	 * TLB miss per probe is a miss the prefetches cannot hide */
	struct sintern_uslot *u = sn_calloc_big(nc * sizeof(*u));
	if (!u)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < t->ucap; i++) {
		const struct sintern_uslot *e = &t->uslot[i];
		if (!e->used)
			continue;
		size_t j = uuid_hash(e->k) & (nc - 1);
		while (u[j].used)
			j = (j + 1) & (nc - 1);
		u[j] = *e;
	}
	free(t->uslot);
	t->uslot = u;
	t->ucap = nc;
	return 0;
}

/* The id of the string s whose UUID key is k: through the 128-bit-key
 * table, which caches the string table's ids for UUIDs. s NULL: the
 * string is k's canonical text. */
static int uuid_get(struct sintern *t, const char *s, const uint64_t k[2], uint64_t uh,
		    uint32_t *id)
{
	if (t->ulast_ok && t->ulast[0] == k[0] && t->ulast[1] == k[1]) {
		*id = t->last = t->ulast_id;
		return 0;
	}
	if (!t->ucap && uslot_grow(t))
		return SN_ERR_NOMEM;
	size_t j = uh & (t->ucap - 1);
	for (const struct sintern_uslot *e; (e = &t->uslot[j])->used; j = (j + 1) & (t->ucap - 1))
		if (e->k[0] == k[0] && e->k[1] == k[1]) {
			*id = t->last = e->id;
			goto found;
		}
	/* a new string: UUIDs are found through uslot only */
	char text[37];
	if (!s) { /* given as bits: the text is made once, for a new actor */
		struct sn_uuid u;
		for (int i = 0; i < 8; i++) {
			u.b[i] = (uint8_t)(k[0] >> (56 - 8 * i));
			u.b[8 + i] = (uint8_t)(k[1] >> (56 - 8 * i));
		}
		sn_uuid_format(&u, text);
		s = text;
	}
	int rc = add_string(t, s, 36, sn_funnels_actor_hash(s, 36), id);
	if (rc)
		return rc;
	t->uslot[j] = (struct sintern_uslot){{k[0], k[1]}, *id, 1};
	if (++t->un * 2 > t->ucap && (rc = uslot_grow(t)) != 0)
		return rc;
found:
	t->ulast_id = *id;
	t->ulast[0] = k[0];
	t->ulast[1] = k[1];
	t->ulast_ok = true;
	return 0;
}

/* The probe of a large table waits on cache misses: the slot, and the
 * string's bytes to compare. A batch hides them: PF_SLOT rows ahead the
 * string's hash is computed and its slot prefetched, and PF_STR rows ahead
 * the string that slot names is prefetched. Slots hold the hash, id,
 * length and string pointer, so a probe touches no other array. Person
 * ids (canonical UUIDs) go through a table keyed by their 128 bits
 * instead: one cache line per probe, no string compare.
 * Measured on the 10M-event weekly retention (6M actor lookups, ~150k
 * actors per worker): the slot load was ~75 % of the lookup before the
 * slot held the string; with the prefetches the statement went 560-610 ->
 * 536-569 ms (A/B, machine shared). */
#define PF_SLOT 16
#define PF_STR	8
int sintern_get_cells(struct sintern *t, const struct sn_insight_value *cells, size_t ncols,
		      size_t n, uint32_t *ids)
{
	uint64_t hq[32], kq[32][2];
	bool isu[32];
	size_t len = 0;
	const char *s;
	if ((!t->cap && sintern_grow(t)) || (!t->ucap && uslot_grow(t)))
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < n + PF_SLOT; i++) {
		size_t a = i; /* the row to look ahead at */
		if (a < n) {
			const struct sn_insight_value *cv = &cells[a * ncols];
			s = cell_text(cv, &len);
			size_t q = a & 31;
			if (cv->type == SN_IV_UUID) {
				uuid_bits_key(&cv->u, kq[q]);
				isu[q] = true;
				hq[q] = uuid_hash(kq[q]);
				__builtin_prefetch(&t->uslot[hq[q] & (t->ucap - 1)]);
			} else if ((isu[q] = uuid_key(s, len, kq[q]))) {
				hq[q] = uuid_hash(kq[q]);
				__builtin_prefetch(&t->uslot[hq[q] & (t->ucap - 1)]);
			} else {
				hq[q] = sn_funnels_actor_hash(s, len);
				__builtin_prefetch(&t->slot[hq[q] & (t->cap - 1)]);
			}
		}
		if (a >= PF_STR && a - PF_STR < n && !isu[(a - PF_STR) & 31]) {
			const char *p = t->slot[hq[(a - PF_STR) & 31] & (t->cap - 1)].s;
			if (p)
				__builtin_prefetch(p);
		}
		if (a < PF_SLOT)
			continue;
		size_t r = a - PF_SLOT, q = r & 31;
		if (r >= n)
			continue;
		const struct sn_insight_value *cv = &cells[r * ncols];
		s = cv->type == SN_IV_UUID ? NULL : cell_text(cv, &len);
		int rc;
		if (isu[q]) {
			rc = uuid_get(t, s, kq[q], hq[q], &ids[r]);
		} else {
			rc = sintern_get_h(t, s, len, hq[q], &ids[r]);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int sintern_cmp(const void *pa, const void *pb, void *arg)
{
	const struct sintern *t = arg;
	const struct hrow *x = pa, *y = pb;
	uint32_t a = x->row, b = y->row;
	if (t->h[a] != t->h[b])
		return t->h[a] < t->h[b] ? -1 : 1;
	size_t m = t->len[a] < t->len[b] ? t->len[a] : t->len[b];
	int d = m ? memcmp(t->s[a], t->s[b], m) : 0;
	return d ? d : (t->len[a] > t->len[b]) - (t->len[a] < t->len[b]);
}

int sintern_rank(const struct sintern *t, uint32_t *rank)
{
	size_t n = t->n ? t->n : 1;
	struct hrow *v = malloc(n * sizeof(*v)), *tmp = malloc(n * sizeof(*tmp));
	if (!v || !tmp) {
		free(v);
		free(tmp);
		return SN_ERR_NOMEM;
	}
	for (size_t i = 0; i < t->n; i++)
		v[i] = (struct hrow){.h = t->h[i], .k = 0, .row = (uint32_t)i};
	hrow_sort(v, tmp, t->n, sintern_cmp, (void *)t);
	for (size_t i = 0; i < t->n; i++)
		rank[v[i].row] = (uint32_t)i;
	free(v);
	free(tmp);
	return 0;
}
