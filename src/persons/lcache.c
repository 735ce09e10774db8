/*
 * lcache.c — the distinct id → person lookups of sn_persons_get_by_distinct_id
 * served from memory, misses included. /flags asks for the person of every
 * request's distinct id; most of those ids are anonymous visitors without a
 * person, and each question cost a mutex shared with the ingest worker plus
 * a SQLite join, some 12 % of a /flags request.
 *
 * Layout: a set-associative table (4 ways a set, sets a power of two) of
 * entries keyed by (team, distinct id), each holding the answer as the
 * store gave it — "no person", or the person's columns with its properties
 * as JSON text. A full set replaces its least recently used way. Sets are
 * guarded by 64 striped mutexes of their own, so a hit never waits on the
 * store lock that ingestion holds for whole events.
 *
 *   sets[h & mask]: [ way0 | way1 | way2 | way3 ]     locks[set & 63]
 *   way: team, distinct id, found, uuid, props text, stamps {did, uuid, all}
 *
 *   stripes[32768]: generation counters; every write of the store bumps
 *   the stripe of what it changed: a distinct id (hash of team + id) or a
 *   person (hash of team + uuid). `all` is bumped by what cannot name its
 *   rows: deletions, splits, rollbacks, another process's commit.
 *
 * Invariant: an entry is only served while the stripe of its distinct id,
 * the stripe of its person (when it has one) and `all` still hold the
 * values they had when the entry was read from the database. Writers bump
 * under the store lock (sn_pstore_*), and a fill reads the stamps and the
 * row under that same lock, so a stamp always describes the row it came
 * with; a write after it moves a stamp and the entry is never served again.
 * What a write can change, and what it bumps:
 *   person insert/update/delete, set_values     the person's stripe
 *   distinct id set (new, or moved to a person)  the distinct id's stripe
 *   distinct ids moved (merge)                   the merged-away person's
 *   deletion, split, rollback of an event/batch  all
 * The freshness is the database's: lookups on this connection see a
 * batch's changes before its commit, and so does the cache, since each
 * write moves the stamps as it happens. Stripes are shared by unrelated
 * ids, which only costs a re-read.
 *
 * Another process writing persons.sqlite3 (`snout persons import` beside a
 * running server) is noticed through SQLite's PRAGMA data_version, checked
 * at most every 100 ms by the lookup path (sqlite.c): a change bumps `all`.
 *
 * Bounds: at most `entries` entries, and properties texts of at most 16 KiB
 * each and 64 MiB together (a person past either is not cached and is read
 * from SQLite each time).
 *
 * Rejected: one generation for the whole store, bumped by every write. It
 * is exact and smaller, but under a steady event stream every write would
 * empty the cache, and /flags would be back to SQLite exactly when the
 * store is busiest. A json_object per entry instead of its text: json-c's
 * reference counts are not atomic and evaluation merges the request's
 * properties into the object it gets, so each reader needs its own copy;
 * parsing the text is that copy.
 */
#include "persons/persons_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define WAYS		4
#define NLOCKS		64
#define NSTRIPES	32768
#define PROPS_MAX	(16 * 1024)
#define PROPS_TOTAL_MAX ((size_t)64 << 20)

struct entry {
	uint64_t hash; /* 0: empty */
	int64_t team_id;
	char *did;   /* owned */
	char *props; /* owned JSON text; NULL when !found */
	uint32_t props_len;
	uint32_t used; /* the set's clock when last served */
	struct sn_lcache_stamp stamp;
	bool found;
	bool is_identified;
	char uuid[37];
	int64_t created_at_us;
	int64_t version;
};

struct sn_lcache {
	struct entry *e; /* nsets * WAYS */
	size_t mask;	 /* nsets - 1 */
	/* A bit per set ever filled: freeing walks those sets only. The table
	 * is 14 MiB of fresh pages, and a walk of all of it faulted every page
	 * in — 45 ms of each short-lived CLI process that opened the store. */
	_Atomic uint64_t *filled;
	pthread_mutex_t locks[NLOCKS];
	uint32_t clock[NLOCKS]; /* LRU clock per lock, under it */
	_Atomic size_t props_bytes;
	_Atomic uint32_t all;
	_Atomic uint32_t stripes[NSTRIPES];
	_Atomic uint64_t hits, misses;
};

static uint64_t key_hash(int64_t team_id, const char *key, size_t len)
{
	uint64_t h = sn_hash64(key, len) ^ ((uint64_t)team_id * 0x9E3779B97F4A7C15ull);
	h ^= h >> 29;
	return h ? h : 1;
}

static uint32_t stripe_of(uint64_t h)
{
	return (uint32_t)(h >> 40) & (NSTRIPES - 1);
}

int sn_lcache_new(struct sn_lcache **out, size_t entries)
{
	*out = NULL;
	size_t nsets = 1;
	while (nsets * WAYS < entries)
		nsets *= 2;
	struct sn_lcache *c = calloc(1, sizeof(*c));
	if (!c)
		return SN_ERR_NOMEM;
	/* calloc of this size maps fresh pages: only the sets in use get memory. */
	c->e = calloc(nsets * WAYS, sizeof(*c->e));
	c->filled = calloc((nsets + 63) / 64, sizeof(*c->filled));
	if (!c->e || !c->filled) {
		free(c->e);
		free(c->filled);
		free(c);
		return SN_ERR_NOMEM;
	}
	c->mask = nsets - 1;
	for (int i = 0; i < NLOCKS; i++)
		pthread_mutex_init(&c->locks[i], NULL);
	*out = c;
	return 0;
}

static void entry_clear(struct sn_lcache *c, struct entry *e)
{
	if (e->props)
		atomic_fetch_sub(&c->props_bytes, e->props_len);
	free(e->did);
	free(e->props);
	memset(e, 0, sizeof(*e));
}

void sn_lcache_free(struct sn_lcache *c)
{
	if (!c)
		return;
	for (size_t wi = 0; wi < (c->mask + 64) / 64; wi++) {
		for (uint64_t bits = c->filled[wi]; bits; bits &= bits - 1) {
			struct entry *w = &c->e[(wi * 64 + (size_t)__builtin_ctzll(bits)) * WAYS];
			for (int i = 0; i < WAYS; i++)
				if (w[i].hash)
					entry_clear(c, &w[i]);
		}
	}
	for (int i = 0; i < NLOCKS; i++)
		pthread_mutex_destroy(&c->locks[i]);
	free(c->filled);
	free(c->e);
	free(c);
}

void sn_lcache_touch(struct sn_lcache *c, int64_t team_id, const char *key)
{
	if (c)
		atomic_fetch_add(&c->stripes[stripe_of(key_hash(team_id, key, strlen(key)))], 1);
}

void sn_lcache_touch_all(struct sn_lcache *c)
{
	if (c)
		atomic_fetch_add(&c->all, 1);
}

void sn_lcache_stamp_did(struct sn_lcache *c, int64_t team_id, const char *did,
			 struct sn_lcache_stamp *st)
{
	st->did_stripe = stripe_of(key_hash(team_id, did, strlen(did)));
	st->did = atomic_load(&c->stripes[st->did_stripe]);
	st->all = atomic_load(&c->all);
	st->uuid_stripe = 0;
	st->uuid = 0;
}

void sn_lcache_stamp_uuid(struct sn_lcache *c, int64_t team_id, const char *uuid,
			  struct sn_lcache_stamp *st)
{
	st->uuid_stripe = stripe_of(key_hash(team_id, uuid, strlen(uuid)));
	st->uuid = atomic_load(&c->stripes[st->uuid_stripe]);
}

static bool fresh(struct sn_lcache *c, const struct entry *e)
{
	return e->stamp.all == atomic_load_explicit(&c->all, memory_order_acquire) &&
	       e->stamp.did ==
		   atomic_load_explicit(&c->stripes[e->stamp.did_stripe], memory_order_acquire) &&
	       (!e->found ||
		e->stamp.uuid ==
		    atomic_load_explicit(&c->stripes[e->stamp.uuid_stripe], memory_order_acquire));
}

int sn_lcache_get(struct sn_lcache *c, int64_t team_id, const char *did, struct sn_person *out)
{
	size_t len = strlen(did);
	uint64_t h = key_hash(team_id, did, len);
	size_t set = (size_t)h & c->mask;
	pthread_mutex_t *mu = &c->locks[set & (NLOCKS - 1)];
	int ret = -1;
	char *text = NULL;
	size_t text_len = 0;
	struct sn_person tmp = {0};
	pthread_mutex_lock(mu);
	struct entry *w = &c->e[set * WAYS];
	for (int i = 0; i < WAYS; i++) {
		struct entry *e = &w[i];
		if (e->hash != h || e->team_id != team_id || strcmp(e->did, did))
			continue;
		if (!fresh(c, e)) {
			entry_clear(c, e);
			break;
		}
		e->used = ++c->clock[set & (NLOCKS - 1)];
		if (!e->found) {
			ret = 0;
			break;
		}
		/* Parse outside the lock, from a copy. */
		text = malloc(e->props_len + 1);
		if (!text)
			break;
		memcpy(text, e->props, e->props_len + 1);
		text_len = e->props_len;
		tmp.team_id = team_id;
		memcpy(tmp.uuid, e->uuid, sizeof(tmp.uuid));
		tmp.is_identified = e->is_identified;
		tmp.created_at_us = e->created_at_us;
		tmp.version = e->version;
		ret = 1;
		break;
	}
	pthread_mutex_unlock(mu);
	if (ret == 1) {
		struct json_object *o = NULL;
		if (sn_json_parse(text, text_len, &o, NULL) == 0 &&
		    json_object_is_type(o, json_type_object)) {
			sn_person_release(out);
			tmp.properties = o;
			*out = tmp;
		} else {
			json_object_put(o);
			ret = -1;
		}
		free(text);
	}
	atomic_fetch_add_explicit(ret < 0 ? &c->misses : &c->hits, 1, memory_order_relaxed);
	return ret;
}

void sn_lcache_put(struct sn_lcache *c, int64_t team_id, const char *did,
		   const struct sn_lcache_stamp *st, const struct sn_person *person,
		   const char *props, size_t props_len)
{
	if (person &&
	    (props_len > PROPS_MAX || atomic_load(&c->props_bytes) + props_len > PROPS_TOTAL_MAX))
		return;
	size_t len = strlen(did);
	uint64_t h = key_hash(team_id, did, len);
	char *d = malloc(len + 1), *t = person ? malloc(props_len + 1) : NULL;
	if (!d || (person && !t)) {
		free(d);
		free(t);
		return;
	}
	memcpy(d, did, len + 1);
	if (t) {
		memcpy(t, props, props_len);
		t[props_len] = 0;
	}
	size_t set = (size_t)h & c->mask;
	pthread_mutex_t *mu = &c->locks[set & (NLOCKS - 1)];
	pthread_mutex_lock(mu);
	struct entry *w = &c->e[set * WAYS], *victim = NULL;
	for (int i = 0; i < WAYS && !victim; i++)
		if (w[i].hash == h && w[i].team_id == team_id && !strcmp(w[i].did, did))
			victim = &w[i]; /* a second fill of the same id replaces the first */
	for (int i = 0; i < WAYS && !victim; i++)
		if (!w[i].hash)
			victim = &w[i];
	if (!victim) {
		victim = &w[0];
		for (int i = 1; i < WAYS; i++)
			if (w[i].used < victim->used)
				victim = &w[i];
	}
	if (victim->hash)
		entry_clear(c, victim);
	victim->hash = h;
	atomic_fetch_or_explicit(&c->filled[set / 64], (uint64_t)1 << (set % 64),
				 memory_order_relaxed);
	victim->team_id = team_id;
	victim->did = d;
	victim->stamp = *st;
	victim->used = ++c->clock[set & (NLOCKS - 1)];
	if (person) {
		victim->found = true;
		victim->props = t;
		victim->props_len = (uint32_t)props_len;
		atomic_fetch_add(&c->props_bytes, props_len);
		memcpy(victim->uuid, person->uuid, sizeof(victim->uuid));
		victim->is_identified = person->is_identified;
		victim->created_at_us = person->created_at_us;
		victim->version = person->version;
	}
	pthread_mutex_unlock(mu);
}

void sn_lcache_stats(struct sn_lcache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = atomic_load_explicit(&c->hits, memory_order_relaxed);
	*misses = atomic_load_explicit(&c->misses, memory_order_relaxed);
}
