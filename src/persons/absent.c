/*
 * absent.c — a Bloom filter over the keys of the person store's lookup
 * tables, so the identity rules learn "no such row" without a SQLite
 * lookup. Most of ingestion's slow events name an id the store has never
 * seen (a new person, the new anonymous id of an $identify), and each such
 * event asked SQLite up to five times to find nothing: the distinct id's
 * person, its person id for the deferred values, the personless note,
 * the distinct id's row before the write (for the event's undo), an
 * override of the new person's id. Each is a B-tree descent on 36-byte
 * text keys; together they were about a sixth of the ingest thread.
 *
 * Keys are (team, kind, bytes): kind 'd' a row of posthog_persondistinctid
 * (deleted ones included), 'p' of posthog_personlessdistinctid, 'o' an old
 * person id of posthog_personoverride. A negative answer is exact; a
 * positive one may be false (then SQLite answers).
 *
 *   key ──hash──▶ 64-byte block ──▶ 6 bits in it (one cache line a probe)
 *
 * Blocked: every bit of a key is in one cache line, so a probe costs one
 * miss at most (a plain Bloom filter's 6 probes would each miss). With 16
 * bits a key (a full filter) 11 of 60,000 absent keys were false positives
 * (test_absent_filter).
 *
 * The filter knows nothing of SQLite: persons/sqlite.c fills it from the
 * tables, adds every key it inserts, and decides when it may be trusted
 * (only inside its own write transaction, and only while no other
 * connection has committed since it was filled). Not thread-safe: the
 * store lock guards it.
 */
#include "persons/persons_internal.h"

#include <stdlib.h>
#include <string.h>

#define BLOCK_BITS   512
#define BLOCK_WORDS  (BLOCK_BITS / 64)
#define PROBES	     6
#define BITS_PER_KEY 16 /* at capacity; a filter is made for twice its rows */

struct sn_absent {
	uint64_t (*blocks)[BLOCK_WORDS];
	size_t nblocks; /* a power of two */
	unsigned shift; /* 64 - log2(nblocks) */
	size_t count, capacity;
};

static uint64_t key_hash(int64_t team, int kind, const char *key, size_t n)
{
	return sn_mix64(sn_hash64(key, n) ^ ((uint64_t)team * 0x9e3779b97f4a7c15ull) ^
			((uint64_t)(unsigned char)kind << 56));
}

int sn_absent_new(struct sn_absent **out, size_t capacity)
{
	*out = NULL;
	if (capacity < 1024)
		capacity = 1024;
	size_t want = capacity * BITS_PER_KEY / BLOCK_BITS, nblocks = 1;
	unsigned lg = 0;
	while (nblocks < want)
		nblocks <<= 1, lg++;
	struct sn_absent *f = calloc(1, sizeof(*f));
	if (!f)
		return SN_ERR_NOMEM;
	f->blocks = aligned_alloc(64, nblocks * sizeof(*f->blocks));
	if (!f->blocks) {
		free(f);
		return SN_ERR_NOMEM;
	}
	memset(f->blocks, 0, nblocks * sizeof(*f->blocks));
	f->nblocks = nblocks;
	f->shift = 64 - lg;
	f->capacity = capacity;
	*out = f;
	return 0;
}

void sn_absent_free(struct sn_absent *f)
{
	if (!f)
		return;
	free(f->blocks);
	free(f);
}

/* The block of h and, in bits[], the bit numbers (0..511) within it. */
static uint64_t *block_of(const struct sn_absent *f, uint64_t h, unsigned bits[PROBES])
{
	uint64_t *b = f->blocks[f->shift == 64 ? 0 : h >> f->shift];
	uint64_t g = sn_mix64(h ^ 0x2545f4914f6cdd1dull);
	for (int i = 0; i < PROBES; i++, g >>= 9)
		bits[i] = (unsigned)(g & (BLOCK_BITS - 1));
	return b;
}

void sn_absent_add(struct sn_absent *f, int64_t team, int kind, const char *key, size_t n)
{
	unsigned bits[PROBES];
	uint64_t *b = block_of(f, key_hash(team, kind, key, n), bits);
	for (int i = 0; i < PROBES; i++)
		b[bits[i] >> 6] |= 1ull << (bits[i] & 63);
	f->count++;
}

bool sn_absent_may_have(const struct sn_absent *f, int64_t team, int kind, const char *key,
			size_t n)
{
	unsigned bits[PROBES];
	const uint64_t *b = block_of(f, key_hash(team, kind, key, n), bits);
	for (int i = 0; i < PROBES; i++)
		if (!(b[bits[i] >> 6] & (1ull << (bits[i] & 63))))
			return false;
	return true;
}

bool sn_absent_full(const struct sn_absent *f)
{
	return f->count > f->capacity;
}

size_t sn_absent_bytes(const struct sn_absent *f)
{
	return f ? f->nblocks * sizeof(*f->blocks) : 0;
}
