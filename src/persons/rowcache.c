/*
 * rowcache.c — the rows the identity rules read most, kept in memory
 * write-through: distinct id → person uuid, and person uuid → the person's
 * columns with its properties as stored (JSON text). For the ingest
 * worker's slow events about known people (an $identify of a returning
 * user, a $set): reading the person by distinct id was a SQLite join (two
 * index descents and the row) on every such event, ~12 % of the ingest
 * thread after the absence filter (absent.c) took the lookups of unknown
 * ids, and the undo log read the row again before each update.
 *
 * Exact, not stamped: persons/sqlite.c puts the row it has just read or
 * written, and every write path that changes a row drops or replaces its
 * entry where it already bumps the lookup cache's stamps (lcache.c), so an
 * entry is always what SQLite on this connection would answer. Writes that
 * cannot name their rows (a merge's moved distinct ids, a rollback, a
 * deletion, another process) forget everything, by generation: O(1).
 *
 *   dids[h(team, did) & mask]:     team, did (≤ 63 bytes inline), uuid, gen
 *   persons[h(team, uuid) & mask]: team, uuid, columns, text (malloc), gen
 *
 * Direct-mapped: a new entry replaces whatever shared its slot. Texts of
 * more than 16 KiB, or past 64 MiB together, are not kept. Under the store
 * lock; not thread-safe on its own. The properties come back as text, and
 * each reader parses its own copy (json-c objects are not shareable across
 * threads; see lcache.c).
 */
#include "persons/persons_internal.h"

#include <stdlib.h>
#include <string.h>

#define DID_INLINE     63
#define TEXT_MAX       (16 * 1024)
#define TEXT_TOTAL_MAX ((size_t)64 << 20)

struct did_slot {
	uint32_t gen; /* valid while equal to the cache's did_gen (0: never) */
	uint8_t len;
	char uuid[37];
	int64_t team;
	char did[DID_INLINE + 1];
};

struct person_slot {
	uint32_t gen;
	bool is_identified;
	char uuid[37];
	int64_t team, created_at_us, version;
	char *text;	  /* room for cap bytes + NUL */
	size_t cap, used; /* used: the text's length */
};

struct sn_rowcache {
	struct did_slot *dids;
	struct person_slot *persons;
	size_t did_mask, person_mask;
	uint32_t did_gen, person_gen;
	size_t text_bytes;
	uint64_t hits, misses;
};

static size_t pow2(size_t n)
{
	size_t p = 1;
	while (p < n)
		p <<= 1;
	return p;
}

static uint64_t key_hash(int64_t team, const char *key, size_t n)
{
	uint64_t h = sn_hash64(key, n) ^ ((uint64_t)team * 0x9e3779b97f4a7c15ull);
	return h ^ (h >> 29);
}

int sn_rowcache_new(struct sn_rowcache **out, size_t persons, size_t dids)
{
	struct sn_rowcache *c = calloc(1, sizeof(*c));
	*out = NULL;
	if (!c)
		return SN_ERR_NOMEM;
	persons = pow2(persons < 16 ? 16 : persons);
	dids = pow2(dids < 16 ? 16 : dids);
	c->persons = calloc(persons, sizeof(*c->persons));
	c->dids = calloc(dids, sizeof(*c->dids));
	if (!c->persons || !c->dids) {
		sn_rowcache_free(c);
		return SN_ERR_NOMEM;
	}
	c->person_mask = persons - 1;
	c->did_mask = dids - 1;
	c->did_gen = c->person_gen = 1;
	*out = c;
	return 0;
}

void sn_rowcache_free(struct sn_rowcache *c)
{
	if (!c)
		return;
	if (c->persons)
		for (size_t i = 0; i <= c->person_mask; i++)
			free(c->persons[i].text);
	free(c->persons);
	free(c->dids);
	free(c);
}

void sn_rowcache_clear_dids(struct sn_rowcache *c)
{
	if (c && ++c->did_gen == 0)
		c->did_gen =
		    1; /* (after 2^32 clears a stale slot could match: never in practice) */
}

void sn_rowcache_clear(struct sn_rowcache *c)
{
	if (!c)
		return;
	sn_rowcache_clear_dids(c);
	if (++c->person_gen == 0)
		c->person_gen = 1;
}

static struct did_slot *did_slot(struct sn_rowcache *c, int64_t team, const char *did, size_t n)
{
	return &c->dids[key_hash(team, did, n) & c->did_mask];
}

static bool did_is(const struct sn_rowcache *c, const struct did_slot *s, int64_t team,
		   const char *did, size_t n)
{
	return s->gen == c->did_gen && s->team == team && s->len == n &&
	       memcmp(s->did, did, n) == 0;
}

void sn_rowcache_put_did(struct sn_rowcache *c, int64_t team, const char *did, const char *uuid)
{
	size_t n = strlen(did);
	if (!c || n > DID_INLINE || strlen(uuid) != 36)
		return;
	struct did_slot *s = did_slot(c, team, did, n);
	s->gen = c->did_gen;
	s->team = team;
	s->len = (uint8_t)n;
	memcpy(s->did, did, n);
	s->did[n] = 0;
	memcpy(s->uuid, uuid, 37);
}

bool sn_rowcache_get_did(struct sn_rowcache *c, int64_t team, const char *did, char uuid[37])
{
	size_t n = strlen(did);
	if (!c || n > DID_INLINE)
		return false;
	struct did_slot *s = did_slot(c, team, did, n);
	if (!did_is(c, s, team, did, n))
		return false;
	memcpy(uuid, s->uuid, 37);
	return true;
}

void sn_rowcache_drop_did(struct sn_rowcache *c, int64_t team, const char *did)
{
	size_t n = strlen(did);
	if (!c || n > DID_INLINE)
		return;
	struct did_slot *s = did_slot(c, team, did, n);
	if (did_is(c, s, team, did, n))
		s->gen = 0;
}

static struct person_slot *person_slot(struct sn_rowcache *c, int64_t team, const char *uuid)
{
	return &c->persons[key_hash(team, uuid, 36) & c->person_mask];
}

static bool person_is(const struct sn_rowcache *c, const struct person_slot *s, int64_t team,
		      const char *uuid)
{
	return s->gen == c->person_gen && s->team == team && memcmp(s->uuid, uuid, 37) == 0;
}

void sn_rowcache_drop_person(struct sn_rowcache *c, int64_t team, const char *uuid)
{
	if (!c || strlen(uuid) != 36)
		return;
	struct person_slot *s = person_slot(c, team, uuid);
	if (person_is(c, s, team, uuid))
		s->gen = 0;
}

void sn_rowcache_put_person(struct sn_rowcache *c, const struct sn_rowcache_person *row)
{
	if (!c || strlen(row->uuid) != 36)
		return;
	struct person_slot *s = person_slot(c, row->team_id, row->uuid);
	s->gen = 0; /* whatever it held is gone, whether or not this row fits */
	if (row->len > TEXT_MAX)
		return;
	if (!s->text || s->cap < row->len) {
		size_t old = s->text ? s->cap : 0;
		if (c->text_bytes - old + row->len > TEXT_TOTAL_MAX)
			return;
		char *t = realloc(s->text, row->len + 1);
		if (!t)
			return;
		c->text_bytes = c->text_bytes - old + row->len;
		s->text = t;
		s->cap = row->len;
	}
	memcpy(s->text, row->text, row->len);
	s->text[row->len] = 0;
	s->gen = c->person_gen;
	s->team = row->team_id;
	memcpy(s->uuid, row->uuid, 37);
	s->is_identified = row->is_identified;
	s->created_at_us = row->created_at_us;
	s->version = row->version;
	s->used = row->len;
}

bool sn_rowcache_get_person(struct sn_rowcache *c, int64_t team, const char *uuid,
			    struct sn_rowcache_person *out)
{
	if (!c || strlen(uuid) != 36)
		return false;
	struct person_slot *s = person_slot(c, team, uuid);
	if (!person_is(c, s, team, uuid)) {
		c->misses++;
		return false;
	}
	c->hits++;
	out->team_id = team;
	out->uuid = s->uuid;
	out->text = s->text;
	out->len = s->used;
	out->is_identified = s->is_identified;
	out->created_at_us = s->created_at_us;
	out->version = s->version;
	return true;
}

void sn_rowcache_stats(const struct sn_rowcache *c, uint64_t *hits, uint64_t *misses)
{
	*hits = c ? c->hits : 0;
	*misses = c ? c->misses : 0;
}
