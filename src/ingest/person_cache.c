/*
 * person_cache.c — the ingest worker's distinct-id cache: what it needs to
 * know to decide, without SQLite, that an event changes no person.
 *
 *   dids:    (team, distinct id) ──▶ kind (person | no person), person uuid
 *   persons: (team, person uuid) ──▶ §5.2 keys held (+ value hashes), $initial_* held
 *   types:   (team, group type)  ──▶ group type index 0..4
 *
 * All three are open-addressing tables with linear probing over a
 * power-of-two array at most half full, starting at 1024 slots and doubling
 * as they fill (so memory follows use, not the configured maximum); deletion
 * shifts the following run back (no tombstones, so a long-running cache
 * never degrades). A person's entry is allocated apart (most slots are
 * empty, and it is 216 bytes); a distinct id's entry holds its text when
 * it fits (see struct did_ent), so a hit costs one cache line. dids and
 * persons are bounded by max_entries and evict with the clock algorithm: each
 * hit sets a reference bit, and the hand sweeping the array clears bits and
 * takes the first entry whose bit was already clear. A backward shift can
 * move an entry behind the hand, which only makes the order approximate.
 * Group types are never evicted (at most 5 per team; a hard cap keeps them
 * bounded, past which lookups simply miss).
 *
 * Invariants the identity step relies on (identity.c): a distinct id entry
 * is used only while its person has an entry, and a person merged away loses
 * its entry (its uuid is never live again), so a stale distinct id of a
 * deleted person is never trusted. Person entries are filled only from the
 * person's properties as the store returned them after an event.
 *
 * One thread (the ingest worker) owns the cache: no locking.
 *
 * Memory latency: with a few hundred thousand users every lookup of the fast
 * path is three dependent cache misses (distinct id slot, person slot,
 * person info). The record scan asks for them ahead, stage by stage
 * (sn_pcache_prefetch, called from store_sink.c while it scans the record),
 * and tables past 2 MiB sit on transparent huge pages (madvise), so a
 * lookup is not also a TLB miss: together +20 % events/s on 3M events of
 * 200k users (docs/BENCHMARKS.md, session 28).
 *
 * Rejected: an LRU list. It needs two pointers per entry and a list update
 * on every hit, the common case; clock needs one bit.
 */
#include "ingest/ingest_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_TABLE ((size_t)2 << 20)

#define DEFAULT_ENTRIES (256u * 1024)
#define MAX_TYPES	65536
#define INITIAL_SLOTS	1024 /* tables start small and double up to 2 * max slots */

/* A distinct id's text is kept in the entry when it fits, so a lookup
 * touches one cache line: up to DID_INLINE bytes as they are, or a
 * 36-character lowercase UUID (posthog-js's anonymous ids) as its 16 bytes;
 * a longer id is malloc'd apart. The form follows from the text alone, so
 * equal texts always have equal forms. Entries are 64 bytes, 64-aligned. */
#define DID_INLINE 24
enum { DID_IN, DID_UUID, DID_OUT };

struct did_ent {
	uint64_t h; /* 0 = empty slot (hashes are forced non-zero) */
	int64_t team;
	uint8_t uuid[16]; /* the person */
	uint32_t len;	  /* of the text */
	uint8_t kind;
	uint8_t ref;
	uint8_t form; /* DID_IN, DID_UUID or DID_OUT */
	union {
		char in[DID_INLINE];
		uint8_t bin[16];
		char *out;
	} t;
};
_Static_assert(sizeof(struct did_ent) == 64, "a distinct id entry is one cache line");

/* A looked-up distinct id, in the form its entry would have. */
struct did_key {
	const char *p;
	size_t len;
	uint8_t form;
	uint8_t bin[16];
};

struct person_ent {
	uint64_t h;
	int64_t team;
	uint8_t uuid[16];
	uint8_t ref;
	struct sn_pcache_person *info;	/* malloc'd: most slots are empty */
	struct sn_pcache_pending *pend; /* deferred §5.2 values (dirty), or NULL */
};

struct type_ent {
	uint64_t h;
	int64_t team;
	char *type;
	uint32_t len;
	int index;
};

struct sn_pcache {
	size_t max;
	size_t max_cap; /* slots the tables may grow to: 2 * max, a power of two */
	struct did_ent *dids;
	size_t did_mask, ndids, did_hand;
	struct person_ent *persons;
	size_t person_mask, npersons, person_hand, ndirty;
	struct type_ent *types;
	size_t type_mask, ntypes;
	uint64_t hits, misses, evictions, invalidations;
};

static uint64_t nz(uint64_t h)
{
	return h ? h : 1;
}

/* A key's hash: its text's (sn_hash64, which the record's prepare stage
 * computes ahead for the distinct id) mixed with the team. */
static uint64_t key_hash_of(int64_t team, uint64_t text_hash)
{
	return nz(text_hash ^ ((uint64_t)team * 0x9E3779B97F4A7C15ull));
}

static uint64_t key_hash(int64_t team, const void *p, size_t len)
{
	return key_hash_of(team, sn_hash64(p, len));
}

uint64_t sn_pcache_hash_string(const char *s, size_t len)
{
	return nz(sn_hash64(s, len) * 31 + 's');
}

uint64_t sn_pcache_hash_json(const char *text, size_t len)
{
	return nz(sn_hash64(text, len) * 31 + 'j');
}

/* A zeroed array of n distinct id entries on cache-line boundaries. */
static struct did_ent *did_table(size_t n)
{
	void *p = NULL;
	size_t bytes = n * sizeof(struct did_ent);
	if (posix_memalign(&p, bytes >= HUGE_TABLE ? HUGE_TABLE : 64, bytes))
		return NULL;
	if (bytes >= HUGE_TABLE)
		(void)madvise(p, bytes, MADV_HUGEPAGE);
	return memset(p, 0, bytes);
}

static void did_free_text(struct did_ent *e)
{
	if (e->form == DID_OUT)
		free(e->t.out);
	e->form = DID_IN;
	e->t.out = NULL;
}

static size_t pow2_at_least(size_t n)
{
	size_t c = 16;
	while (c < n)
		c <<= 1;
	return c;
}

int sn_pcache_new(struct sn_pcache **out, size_t max_entries, struct sn_err *err)
{
	struct sn_pcache *c = calloc(1, sizeof(*c));
	if (!c)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	c->max = max_entries ? max_entries : DEFAULT_ENTRIES;
	c->max_cap = pow2_at_least(c->max * 2);
	size_t cap = c->max_cap < INITIAL_SLOTS ? c->max_cap : INITIAL_SLOTS;
	c->dids = did_table(cap);
	c->persons = calloc(cap, sizeof(*c->persons));
	c->types = calloc(1024, sizeof(*c->types));
	if (!c->dids || !c->persons || !c->types) {
		size_t max = c->max;
		sn_pcache_free(c);
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory for a %zu-entry person cache",
				  max);
	}
	c->did_mask = c->person_mask = cap - 1;
	c->type_mask = 1023;
	*out = c;
	return 0;
}

static void pend_free(struct sn_pcache_pending *pd)
{
	if (!pd)
		return;
	for (int k = 0; k < SN_INITIAL_NKEYS; k++)
		free(pd->value[k]);
	free(pd);
}

/* What the entries own: long distinct-id texts, person infos, deferred values. */
static void free_entries(struct sn_pcache *c)
{
	if (c->dids)
		for (size_t i = 0; i <= c->did_mask; i++)
			did_free_text(&c->dids[i]);
	if (c->persons)
		for (size_t i = 0; i <= c->person_mask; i++) {
			pend_free(c->persons[i].pend);
			free(c->persons[i].info);
		}
}

void sn_pcache_clear(struct sn_pcache *c)
{
	free_entries(c);
	c->ndirty = 0;
	memset(c->dids, 0, (c->did_mask + 1) * sizeof(*c->dids));
	memset(c->persons, 0, (c->person_mask + 1) * sizeof(*c->persons));
	c->ndids = c->npersons = 0;
	c->invalidations++;
}

int sn_pcache_shrink(struct sn_pcache *c)
{
	if (c->ndirty)
		return 0; /* deferred values live here until they are written */
	size_t cap = c->max_cap < INITIAL_SLOTS ? c->max_cap : INITIAL_SLOTS;
	if (c->did_mask + 1 <= cap && c->person_mask + 1 <= cap) {
		sn_pcache_clear(c);
		return 1;
	}
	struct did_ent *dids = did_table(cap);
	struct person_ent *persons = calloc(cap, sizeof(*persons));
	if (!dids || !persons) {
		free(dids);
		free(persons);
		sn_pcache_clear(c);
		return 1;
	}
	free_entries(c);
	free(c->dids);
	free(c->persons);
	c->dids = dids;
	c->persons = persons;
	c->did_mask = c->person_mask = cap - 1;
	c->ndids = c->npersons = 0;
	c->did_hand = c->person_hand = 0;
	c->invalidations++;
	return 1;
}

void sn_pcache_free(struct sn_pcache *c)
{
	if (!c)
		return;
	free_entries(c);
	if (c->types)
		for (size_t i = 0; i <= c->type_mask; i++)
			free(c->types[i].type);
	free(c->dids);
	free(c->persons);
	free(c->types);
	free(c);
}

/* ---- distinct ids ---------------------------------------------------------------- */

static void did_key_make(struct did_key *k, const char *p, size_t len)
{
	k->p = p;
	k->len = len;
	k->form = len <= DID_INLINE ? DID_IN : DID_OUT;
	struct sn_uuid u;
	if (len == 36 && !sn_uuid_parse(p, len, &u)) {
		bool lower = true;
		for (size_t i = 0; i < len && lower; i++)
			lower = !(p[i] >= 'A' && p[i] <= 'F');
		if (lower) { /* formatting the bytes gives the text back */
			k->form = DID_UUID;
			memcpy(k->bin, u.b, 16);
		}
	}
}

static bool did_eq(const struct did_ent *e, const struct did_key *k)
{
	if (e->len != k->len || e->form != k->form)
		return false;
	switch (k->form) {
	case DID_IN: return memcmp(e->t.in, k->p, k->len) == 0;
	case DID_UUID: return memcmp(e->t.bin, k->bin, 16) == 0;
	default: return memcmp(e->t.out, k->p, k->len) == 0;
	}
}

static size_t did_find(struct sn_pcache *c, uint64_t h, int64_t team, const struct did_key *k,
		       bool *found)
{
	size_t i = h & c->did_mask;
	for (;; i = (i + 1) & c->did_mask) {
		struct did_ent *e = &c->dids[i];
		if (!e->h) {
			*found = false;
			return i;
		}
		if (e->h == h && e->team == team && did_eq(e, k)) {
			*found = true;
			return i;
		}
	}
}

/* Removes slot i and shifts the rest of its run back over the hole. */
static void did_delete(struct sn_pcache *c, size_t i)
{
	did_free_text(&c->dids[i]);
	c->dids[i].h = 0;
	c->ndids--;
	size_t j = i;
	for (;;) {
		j = (j + 1) & c->did_mask;
		struct did_ent *e = &c->dids[j];
		if (!e->h)
			return;
		size_t home = e->h & c->did_mask;
		/* e may move to i if its home is not in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			c->dids[i] = *e;
			e->h = 0;
			e->form = DID_IN; /* its text moved with it */
			e->t.out = NULL;
			i = j;
		}
	}
}

int sn_pcache_get_did(struct sn_pcache *c, int64_t team, const char *did, size_t len,
		      enum sn_pcache_kind *kind, uint8_t uuid[16])
{
	return sn_pcache_get_did_hashed(c, team, did, len, sn_hash64(did, len), kind, uuid);
}

int sn_pcache_get_did_hashed(struct sn_pcache *c, int64_t team, const char *did, size_t len,
			     uint64_t did_hash, enum sn_pcache_kind *kind, uint8_t uuid[16])
{
	bool found;
	struct did_key k;
	did_key_make(&k, did, len);
	size_t i = did_find(c, key_hash_of(team, did_hash), team, &k, &found);
	if (!found) {
		c->misses++;
		return 0;
	}
	struct did_ent *e = &c->dids[i];
	e->ref = 1;
	*kind = e->kind;
	memcpy(uuid, e->uuid, 16);
	c->hits++;
	return 1;
}

/* Prefetch hints (results never depend on them). The fast path's three
 * lookups depend on one another (distinct id slot, then its person's slot,
 * then the person's info) and, with 200k users, each is a cache miss: the
 * record scan asks for each a little ahead, stage by stage (identity.c).
 * Each stage reads only what the one before asked for; an entry away from
 * its home slot is not looked for (the hint is lost, nothing else). */
void sn_pcache_prefetch(struct sn_pcache *c, int64_t team, const char *did, size_t len, int stage)
{
	sn_pcache_prefetch_hashed(c, team, sn_hash64(did, len), stage);
}

void sn_pcache_prefetch_hashed(struct sn_pcache *c, int64_t team, uint64_t did_hash, int stage)
{
	uint64_t h = key_hash_of(team, did_hash);
	const struct did_ent *e = &c->dids[h & c->did_mask];
	if (stage == 1) {
		__builtin_prefetch(e);
		return;
	}
	if (e->h != h || e->team != team || e->kind != SN_PCACHE_PERSON)
		return;
	uint64_t ph = key_hash(team, e->uuid, 16);
	const struct person_ent *pe = &c->persons[ph & c->person_mask];
	if (stage == 2) {
		__builtin_prefetch(pe);
		return;
	}
	if (pe->h == ph && pe->team == team && pe->info) {
		/* the masks and the value hashes of the web keys: two lines */
		__builtin_prefetch(pe->info);
		__builtin_prefetch((const char *)pe->info + 64);
	}
}

static void did_evict_one(struct sn_pcache *c)
{
	for (;;) {
		size_t i = c->did_hand++ & c->did_mask;
		struct did_ent *e = &c->dids[i];
		if (!e->h)
			continue;
		if (e->ref) {
			e->ref = 0;
			continue;
		}
		did_delete(c, i);
		c->evictions++;
		return;
	}
}

/* Doubles a table when it is half full and may still grow: entries are
 * reinserted at their home position in the larger array. A failed
 * allocation keeps the old table (eviction then bounds it). */
static void did_grow(struct sn_pcache *c)
{
	size_t cap = c->did_mask + 1;
	if ((c->ndids + 1) * 2 <= cap || cap >= c->max_cap)
		return;
	struct did_ent *nt = did_table(cap * 2);
	if (!nt)
		return;
	for (size_t i = 0; i < cap; i++) {
		if (!c->dids[i].h)
			continue;
		size_t j = c->dids[i].h & (cap * 2 - 1);
		while (nt[j].h)
			j = (j + 1) & (cap * 2 - 1);
		nt[j] = c->dids[i];
	}
	free(c->dids);
	c->dids = nt;
	c->did_mask = cap * 2 - 1;
}

static void person_grow(struct sn_pcache *c)
{
	size_t cap = c->person_mask + 1;
	if ((c->npersons + 1) * 2 <= cap || cap >= c->max_cap)
		return;
	struct person_ent *nt = sn_calloc_big(cap * 2 * sizeof(*nt));
	if (!nt)
		return;
	for (size_t i = 0; i < cap; i++) {
		if (!c->persons[i].h)
			continue;
		size_t j = c->persons[i].h & (cap * 2 - 1);
		while (nt[j].h)
			j = (j + 1) & (cap * 2 - 1);
		nt[j] = c->persons[i];
	}
	free(c->persons);
	c->persons = nt;
	c->person_mask = cap * 2 - 1;
}

int sn_pcache_put_did(struct sn_pcache *c, int64_t team, const char *did, size_t len,
		      enum sn_pcache_kind kind, const uint8_t uuid[16])
{
	if (len > UINT32_MAX)
		return SN_ERR_TOO_BIG;
	uint64_t h = key_hash(team, did, len);
	bool found;
	struct did_key k;
	did_key_make(&k, did, len);
	size_t i = did_find(c, h, team, &k, &found);
	if (!found) {
		if (c->ndids < c->max && (c->ndids + 1) * 2 > c->did_mask + 1) {
			did_grow(c);
			i = did_find(c, h, team, &k, &found);
		}
		if (c->ndids >= c->max || (c->ndids + 1) * 2 > c->did_mask + 1) {
			did_evict_one(c);
			i = did_find(c, h, team, &k, &found);
		}
		struct did_ent e = {.h = h, .team = team, .len = (uint32_t)len, .form = k.form};
		if (k.form == DID_UUID) {
			memcpy(e.t.bin, k.bin, 16);
		} else if (k.form == DID_IN) {
			memcpy(e.t.in, did, len);
		} else {
			if (!(e.t.out = malloc(len)))
				return SN_ERR_NOMEM;
			memcpy(e.t.out, did, len);
		}
		c->dids[i] = e;
		c->ndids++;
	}
	c->dids[i].kind = (uint8_t)kind;
	c->dids[i].ref = 0;
	memcpy(c->dids[i].uuid, uuid, 16);
	return 0;
}

void sn_pcache_drop_did(struct sn_pcache *c, int64_t team, const char *did, size_t len)
{
	bool found;
	struct did_key k;
	did_key_make(&k, did, len);
	size_t i = did_find(c, key_hash(team, did, len), team, &k, &found);
	if (found) {
		did_delete(c, i);
		c->invalidations++;
	}
}

/* ---- persons --------------------------------------------------------------------------- */

static size_t person_find(struct sn_pcache *c, uint64_t h, int64_t team, const uint8_t uuid[16],
			  bool *found)
{
	size_t i = h & c->person_mask;
	for (;; i = (i + 1) & c->person_mask) {
		struct person_ent *e = &c->persons[i];
		if (!e->h) {
			*found = false;
			return i;
		}
		if (e->h == h && e->team == team && !memcmp(e->uuid, uuid, 16)) {
			*found = true;
			return i;
		}
	}
}

static void person_delete(struct sn_pcache *c, size_t i)
{
	if (c->persons[i].pend) {
		pend_free(c->persons[i].pend);
		c->ndirty--;
	}
	free(c->persons[i].info);
	c->persons[i].h = 0;
	c->persons[i].pend = NULL;
	c->persons[i].info = NULL;
	c->npersons--;
	size_t j = i;
	for (;;) {
		j = (j + 1) & c->person_mask;
		struct person_ent *e = &c->persons[j];
		if (!e->h)
			return;
		size_t home = e->h & c->person_mask;
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			c->persons[i] = *e;
			e->h = 0;
			e->pend = NULL;
			e->info = NULL;
			i = j;
		}
	}
}

struct sn_pcache_person *sn_pcache_get_person(struct sn_pcache *c, int64_t team,
					      const uint8_t uuid[16])
{
	bool found;
	size_t i = person_find(c, key_hash(team, uuid, 16), team, uuid, &found);
	if (!found)
		return NULL;
	c->persons[i].ref = 1;
	return c->persons[i].info;
}

int sn_pcache_put_person(struct sn_pcache *c, int64_t team, const uint8_t uuid[16],
			 const struct sn_pcache_person *info)
{
	uint64_t h = key_hash(team, uuid, 16);
	bool found;
	size_t i = person_find(c, h, team, uuid, &found);
	if (!found) {
		if (c->npersons < c->max && (c->npersons + 1) * 2 > c->person_mask + 1) {
			person_grow(c);
			i = person_find(c, h, team, uuid, &found);
		}
		if (c->npersons >= c->max || (c->npersons + 1) * 2 > c->person_mask + 1) {
			/* Dirty entries are skipped; the identity step keeps them
			 * under half the table, so two sweeps always find one. */
			size_t budget = 2 * (c->person_mask + 1) + 2;
			for (;;) {
				if (!budget--)
					return SN_ERR_TOO_BIG;
				size_t k = c->person_hand++ & c->person_mask;
				struct person_ent *e = &c->persons[k];
				if (!e->h || e->pend)
					continue;
				if (e->ref) {
					e->ref = 0;
					continue;
				}
				person_delete(c, k);
				c->evictions++;
				break;
			}
			i = person_find(c, h, team, uuid, &found);
		}
		struct sn_pcache_person *copy = malloc(sizeof(*copy));
		if (!copy)
			return SN_ERR_NOMEM;
		c->persons[i].h = h;
		c->persons[i].team = team;
		memcpy(c->persons[i].uuid, uuid, 16);
		c->persons[i].info = copy;
		c->npersons++;
	}
	c->persons[i].ref = 0;
	*c->persons[i].info = *info;
	return 0;
}

void sn_pcache_drop_person(struct sn_pcache *c, int64_t team, const uint8_t uuid[16])
{
	bool found;
	size_t i = person_find(c, key_hash(team, uuid, 16), team, uuid, &found);
	if (found) {
		person_delete(c, i);
		c->invalidations++;
	}
}

/* ---- deferred values ------------------------------------------------------------------- */

struct sn_pcache_pending *sn_pcache_pending(struct sn_pcache *c, int64_t team,
					    const uint8_t uuid[16], int *rc)
{
	bool found;
	size_t i = person_find(c, key_hash(team, uuid, 16), team, uuid, &found);
	*rc = found ? SN_ERR_NOMEM : SN_ERR_NOT_FOUND;
	if (!found)
		return NULL;
	struct person_ent *e = &c->persons[i];
	if (!e->pend) {
		if (!(e->pend = calloc(1, sizeof(*e->pend))))
			return NULL;
		c->ndirty++;
	}
	*rc = 0;
	return e->pend;
}

int sn_pcache_set_pending(struct sn_pcache *c, int64_t team, const uint8_t uuid[16], int key,
			  const char *value, size_t len)
{
	if (key < 0 || key >= SN_INITIAL_NKEYS)
		return SN_ERR_NOT_FOUND;
	char *copy = malloc(len + 1);
	if (!copy)
		return SN_ERR_NOMEM;
	memcpy(copy, value, len);
	copy[len] = 0;
	int rc;
	struct sn_pcache_pending *pend = sn_pcache_pending(c, team, uuid, &rc);
	if (!pend) {
		free(copy);
		return rc;
	}
	free(pend->value[key]);
	pend->value[key] = copy;
	pend->mask |= 1u << key;
	return 0;
}

static int take(struct sn_pcache *c, struct person_ent *e, sn_pcache_pending_fn fn, void *ctx)
{
	int rc = fn(ctx, e->team, e->uuid, e->pend);
	if (rc)
		return rc; /* kept: the next flush retries */
	pend_free(e->pend);
	e->pend = NULL;
	c->ndirty--;
	return 0;
}

int sn_pcache_take_pending(struct sn_pcache *c, int64_t team, const uint8_t uuid[16],
			   sn_pcache_pending_fn fn, void *ctx)
{
	if (!c->ndirty)
		return 0;
	bool found;
	size_t i = person_find(c, key_hash(team, uuid, 16), team, uuid, &found);
	if (!found || !c->persons[i].pend)
		return 0;
	return take(c, &c->persons[i], fn, ctx);
}

int sn_pcache_take_all_pending(struct sn_pcache *c, sn_pcache_pending_fn fn, void *ctx)
{
	int ret = 0;
	for (size_t i = 0; c->ndirty && i <= c->person_mask; i++) {
		if (!c->persons[i].h || !c->persons[i].pend)
			continue;
		if ((ret = take(c, &c->persons[i], fn, ctx)))
			break;
	}
	return ret;
}

size_t sn_pcache_ndirty(struct sn_pcache *c)
{
	return c->ndirty;
}

/* ---- group types ------------------------------------------------------------------------- */

int sn_pcache_get_group_type(struct sn_pcache *c, int64_t team, const char *type, size_t len)
{
	uint64_t h = key_hash(team, type, len);
	for (size_t i = h & c->type_mask;; i = (i + 1) & c->type_mask) {
		struct type_ent *e = &c->types[i];
		if (!e->h)
			return -1;
		if (e->h == h && e->team == team && e->len == len && !memcmp(e->type, type, len))
			return e->index;
	}
}

static void type_insert(struct type_ent *tab, size_t mask, struct type_ent ent)
{
	size_t i = ent.h & mask;
	while (tab[i].h)
		i = (i + 1) & mask;
	tab[i] = ent;
}

void sn_pcache_put_group_type(struct sn_pcache *c, int64_t team, const char *type, size_t len,
			      int index)
{
	if (sn_pcache_get_group_type(c, team, type, len) >= 0 || c->ntypes >= MAX_TYPES)
		return;
	if ((c->ntypes + 1) * 2 > c->type_mask + 1) {
		size_t ncap = (c->type_mask + 1) * 2;
		struct type_ent *nt = calloc(ncap, sizeof(*nt));
		if (!nt)
			return; /* stays uncached: lookups miss and take the slow path */
		for (size_t i = 0; i <= c->type_mask; i++)
			if (c->types[i].h)
				type_insert(nt, ncap - 1, c->types[i]);
		free(c->types);
		c->types = nt;
		c->type_mask = ncap - 1;
	}
	char *copy = malloc(len ? len : 1);
	if (!copy)
		return;
	memcpy(copy, type, len);
	type_insert(c->types, c->type_mask,
		    (struct type_ent){.h = key_hash(team, type, len),
				      .team = team,
				      .type = copy,
				      .len = (uint32_t)len,
				      .index = index});
	c->ntypes++;
}

void sn_pcache_get_stats(struct sn_pcache *c, struct sn_pcache_stats *st)
{
	st->hits = c->hits;
	st->misses = c->misses;
	st->evictions = c->evictions;
	st->invalidations = c->invalidations;
	st->distinct_ids = c->ndids;
	st->persons = c->npersons;
}
