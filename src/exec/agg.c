/*
 * agg.c — hash aggregation for GROUP BY, the aggregates themselves, and
 * the row hash set of DISTINCT.
 *
 * Groups are found through an open-addressing table (linear probing, at
 * most half full) of byte keys: a row's key values serialised with their
 * types and NULL flags (value_key's form), hashed with XXH3. The table
 * (struct gtab, also the hash set of DISTINCT, IN (SELECT ...) and the
 * joins) maps a key to a dense id, ids in order of the key's first row,
 * which is the order groups come out in when nothing sorts them:
 *
 *   key bytes ─XXH3 h─▶ slots[h >> (64 - lg)]: 8 bytes, h >> 32 | ref
 *                                                            │
 *     chunks[ref >> 16] + 4 (ref & 0xffff): [id][len][key bytes] ◀┘
 *     id ─▶ states[segment(id)] + (id - segment start) * sbytes + soff[a]
 *
 * A slot keeps the upper half of the key's hash as a tag next to the
 * reference of the key's record: a probe reads a key only where the tags
 * agree, so passing another key's slot costs no key compare. A key's home
 * slot is the hash's top lg bits, which the tag holds, so doubling the
 * slots rehashes from the slots alone (and an entry at i lands near 2i:
 * in order). Records are appended in id order to chunks that double up to
 * 256 KiB, no allocation per key, and they are a group's only copy of its
 * key: agg_final decodes the key columns from them, and agg_merge feeds a
 * second scanner's records to the first scanner's table as they are. One
 * exception: value_key folds -0.0 into 0.0, so that the two group
 * together, while the key shows its group's first value; the groups whose
 * first Float64 key was -0.0 are listed on the side (struct negzero). The
 * rejected layout, uint32 slots with parallel arrays of hashes, key
 * pointers and lengths and an allocation per key, chased two or three
 * cache misses into every probe and a compare into every collision; with
 * keys also copied into value arrays, the group arrays regrown by copying
 * and a second scanner's keys serialised again to be merged, a GROUP BY
 * of 300 000 groups spent over half its time there. 16-byte slots (full
 * hash and record pointer) were tried: twice the memory for the same
 * misses.
 *
 * A batch is aggregated in two passes: every row's group first, then the
 * aggregates. The first pass works in windows of WIN rows whose keys are
 * serialised and hashed, and (once the table outgrows the cache) their
 * slots and, where the tags agree, records prefetched, before they are
 * looked up in row order, so a large table's cache misses overlap instead
 * of following one another; ids stay in order of first row. The second
 * pass runs one aggregate at a time over the rows while the groups'
 * states fit in a core's cache; beyond, it goes row by row, updating every
 * aggregate of the row's group, whose states are adjacent (one cache miss
 * a row, not one an aggregate), and prefetching the states of the group
 * AHEAD rows on. Runs of rows with equal keys (rows come sorted by team,
 * day, event) skip hashing; a query without GROUP BY has a single group
 * and skips it altogether. A table holds at most 2^31 keys and 16 GiB of
 * key records.
 *
 * Which aggregates exist, their arity, parameters and -If forms is the
 * table AGGS below (agg_classify; `FILTER (WHERE c)` is the -If form); agg_type gives each its
 * ClickHouse result type. NULL handling is ClickHouse's Null combinator: a row in which any value
 * argument is NULL is skipped (the If condition is not a value argument: NULL there is false), and
 * the result is Nullable when any value argument is, NULL for a group that saw no row; a group of a
 * non-nullable aggregate that saw no row gets the type's default (0, "",
 * 1970-01-01) or, for the statistics and quantiles of floats, nan.
 *
 * A state is a struct astate of 80 bytes, of which count, sum and avg use
 * only the first three fields and keep only those (24 bytes); what only
 * some need hangs off its one pointer, allocated on the group's first row:
 *
 *   astate { cnt, i, f, has, cap, val, x ─▶ hset     (uniq: hash set)
 *                                         ─▶ qvals    (quantiles: values)
 *                                         ─▶ moments  (var, stddev, covar, corr)
 *                                         ─▶ argext   (argMin/argMax: the val)
 *                                         ─▶ wfev[]   (windowFunnel: its entries,
 *                                                      cnt of them, room for i)
 *                                         ─▶ psums    (skew, kurt, avgWeighted, SLR)
 *                                         ─▶ topk     (topK: counted values)
 *                                         ─▶ dsum     (deltaSum) }
 *
 * uniq and uniqExact count distinct XXH3 hashes of the values in a
 * per-group open-addressing set (several arguments hash their value_key
 * bytes together, the tuple). uniqExact (and count(DISTINCT)) keeps 64 bits
 * of each hash: exact up to collisions, negligible below billions of
 * distinct values. uniq keeps 32, as ClickHouse's uniq does (its
 * UniquesHashSet stores 32-bit hashes, and past 65,536 values samples
 * them): half the memory, so a day's set of distinct users stays in
 * cache, for an expected n^2 / 2^33 collisions — 0.04 among 19,000 values,
 * 0.01 % of 1M; ClickHouse's own estimate is further off past 65,536.
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
 * topK counts every distinct value of a group exactly (an open-addressing
 * index into entries of value bytes, count and last position) and orders
 * them by count, then by the position of the last occurrence — the order
 * ClickHouse's Space-Saving list keeps, whose 3k counters are exact while
 * a group has at most 3k distinct values (topk_add). skewPop/Samp,
 * kurtPop/Samp, avgWeighted and simpleLinearRegression keep ClickHouse's
 * own sums (power sums of x; sum(x * w) and sum(w), Int64 and wrapping for
 * integers; sums of x, y, x^2, xy) and its formulas, so their nan and inf
 * are ClickHouse's; they merge like sum. groupBit* fold one integer
 * (groupBitAnd of no rows is all ones, ClickHouse's starting value);
 * deltaSum keeps its first and last values, so two scanners' states join
 * with the rise between them; groupArrayMovingSum/Avg collect the values
 * as quantiles do and answer from running sums (sum[i] - sum[i - w]; the
 * average divides by the window, or by the count without one).
 *
 * min, max, any, anyLast, anyHeavy and argMin/argMax keep a value per
 * group; a string is copied into a buffer the state owns and reuses when
 * the next winner fits, so a max() over rising strings costs the longest
 * string, not a copy per improvement. Ties keep the first row seen
 * (argMax's winner among equal vals is the first in scan order).
 * every(x) is PostHog's toBool(min(x)): a min whose answer is min != 0.
 *
 * sumMap, minMap and maxMap keep, per group, the distinct keys in a topK
 * index (encoded elements, found by hash; struct smap) and beside each key
 * one slot per value column: a sum (Int64, UInt64 or Float64, integers
 * wrapping), or a minimum or maximum kept as min's is. Their argument is
 * key and value arrays, a tuple of them, or a Map; the keys come out
 * sorted at the end (NULL first, as ClickHouse's Field orders them). Over
 * arrays the result is Tuple(Array(K), Array(R), ...), and sumMap drops
 * the keys whose values all summed to 0 (ClickHouse's compaction, bitwise:
 * -0.0 stays); over a Map it is a Map(K, R) with every key, as ClickHouse's
 * -Map combinator answers (R Nullable, NULL, for a Nullable value type
 * without a value). Two scanners' maps merge key by key. ClickHouse keeps
 * a std::map of Fields, a tree node per key; the index here is two arrays
 * per group in the query arena.
 *
 * fState and fMerge (the -State and -Merge combinators, any order of them
 * and -If, see parse_chain) reuse all of this: an fState aggregate is f's,
 * and agg_final serialises its states instead of answering (state_write;
 * the format is above the function); an fMerge is AGG_MERGE over f (its
 * inner xagg), whose rows' states are read and folded into the group's
 * with merge_state, the merge of two scanners, and answered as f answers.
 * A state is bytes (SN_XT_AGGSTATE, typed AggregateFunction(f, T...)), so
 * it outlives the groups that made it; the rejected alternative, a pointer
 * to the astate, dangles once a subquery's groups are gone.
 *
 * Memory: everything in the query arena, which keeps the memory budget the
 * single bound. The slots grow by doubling and the old arrays are
 * abandoned there (at most half their memory wasted). Group states live
 * in segments of 64, 128, 256 ... groups that are never copied; a group's
 * states are zeroed when it is made, so the unused tail of the last
 * segment costs no page faults.
 */
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exec/agg.h"

/* ---- the hash table ------------------------------------------------------------------ */

/* Chunks of key records: [size u32][used u32] then records in id order,
 * each [id u32][len u32][bytes], padded to 4 bytes. A slot's reference
 * is the chunk's index (upper 16 bits) and the record's offset in 4-byte
 * units (lower 16 bits), so chunks hold at most 256 KiB of records (a
 * longer record gets a chunk of its own) and a table at most 16 GiB. */
#define CHUNK_HEAD   8
#define REC_HEAD     8
#define REF_OFF_BITS 16
#define CHUNK_FIRST  ((uint32_t)4096)
#define CHUNK_MAX    ((uint32_t)1 << (REF_OFF_BITS + 2))
#define MAX_CHUNKS   ((size_t)1 << (32 - REF_OFF_BITS))
#define TAG_MASK     (~(uint64_t)0xffffffff)

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t x;
	memcpy(&x, p, 4);
	return x;
}

static inline uint64_t rd64(const uint8_t *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
	return x;
}

/* a[0..n) == b[0..n) a word at a time: a key's bytes follow a hash match,
 * so they almost always are equal and every word is read anyway; the
 * libc call costs more than the compare for keys of a few words. */
static inline bool bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (n >= 8) {
		uint64_t d = 0;
		size_t i = 0;
		for (; i + 8 <= n; i += 8)
			d |= rd64(a + i) ^ rd64(b + i);
		if (i < n)
			d |= rd64(a + n - 8) ^ rd64(b + n - 8);
		return d == 0;
	}
	if (n >= 4)
		return (rd32(a) ^ rd32(b)) == 0 && (rd32(a + n - 4) ^ rd32(b + n - 4)) == 0;
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static inline const uint8_t *gtab_rec(const struct gtab *t, uint64_t slot)
{
	uint32_t ref = (uint32_t)slot;
	return t->chunks[ref >> REF_OFF_BITS] + ((size_t)(ref & ((1u << REF_OFF_BITS) - 1)) << 2);
}

/* The slot a hash probes first: its top lg bits, which the slot's tag
 * keeps, so doubling places every key without reading it (and an entry
 * at i moves to 2i or 2i + 1: the rehash writes in order). */
static inline size_t gtab_home(const struct gtab *t, uint64_t h)
{
	return (size_t)(h >> (64 - t->lg));
}

int gtab_init(struct xctx *c, struct gtab *t, size_t cap)
{
	memset(t, 0, sizeof(*t));
	while ((size_t)1 << t->lg < cap || t->lg < 4)
		t->lg++;
	t->cap = (size_t)1 << t->lg;
	t->slots = xalloc(c, c->qa, t->cap * sizeof(*t->slots));
	if (!t->slots)
		return c->rc;
	memset(t->slots, 0, t->cap * sizeof(*t->slots));
	return 0;
}

static int gtab_grow(struct xctx *c, struct gtab *t)
{
	if (t->lg >= 32)
		return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError", "Too many groups");
	size_t cap = t->cap * 2;
	unsigned lg = t->lg + 1;
	uint64_t *slots = xalloc(c, c->qa, cap * sizeof(*slots));
	if (!slots)
		return c->rc;
	memset(slots, 0, cap * sizeof(*slots));
	for (size_t i = 0; i < t->cap; i++) {
		uint64_t s = t->slots[i];
		if (!s)
			continue;
		size_t j = (size_t)(s >> 32) >> (32 - lg);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = s;
	}
	t->slots = slots;
	t->cap = cap;
	t->lg = lg;
	return 0;
}

/* The slot of key (hash h): its own, or the empty one where it would go.
 * Keys are read only where the upper 32 bits of the hashes agree. */
static inline uint64_t *gtab_probe(const struct gtab *t, const void *key, size_t len, uint64_t h)
{
	size_t mask = t->cap - 1;
	uint64_t tag = h & TAG_MASK;
	for (size_t i = gtab_home(t, h);; i = (i + 1) & mask) {
		uint64_t *s = &t->slots[i];
		if (!*s)
			return s;
		if ((*s & TAG_MASK) == tag) {
			const uint8_t *rec = gtab_rec(t, *s);
			if (rd32(rec + 4) == len && bytes_eq(rec + REC_HEAD, key, len))
				return s;
		}
	}
}

/* A copy of key as record id t->n, at the end of the last chunk; *ref its
 * reference. */
static int gtab_append(struct xctx *c, struct gtab *t, const void *key, size_t len, uint32_t *ref)
{
	if (len > CHUNK_MAX * (size_t)1024)
		return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError",
			     "A key of %zu bytes is too long to group or join on", len);
	uint32_t need = (uint32_t)((REC_HEAD + len + 3) & ~(size_t)3);
	uint8_t *ch = t->nchunks ? t->chunks[t->nchunks - 1] : NULL;
	uint32_t size = ch ? rd32(ch) : 0, used = ch ? rd32(ch + 4) : 0;
	if (!ch || size - used < need) {
		if (t->nchunks == MAX_CHUNKS)
			return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError", "Too many groups");
		if (t->nchunks == t->chunkcap) {
			size_t nc = t->chunkcap ? t->chunkcap * 2 : 16;
			uint8_t **d = xalloc(c, c->qa, nc * sizeof(*d));
			if (!d)
				return c->rc;
			if (t->nchunks)
				memcpy(d, t->chunks, t->nchunks * sizeof(*d));
			t->chunks = d;
			t->chunkcap = nc;
		}
		/* doubling from 4 KiB: small tables (a DISTINCT over a few rows)
		 * stay small */
		size = !ch ? CHUNK_FIRST : size >= CHUNK_MAX / 2 ? CHUNK_MAX : size * 2;
		if (size < CHUNK_HEAD + need)
			size = CHUNK_HEAD + need; /* a chunk of its own */
		if (!(ch = xalloc(c, c->qa, size)))
			return c->rc;
		used = CHUNK_HEAD;
		memcpy(ch, &size, 4);
		t->chunks[t->nchunks++] = ch;
	}
	uint8_t *rec = ch + used;
	uint32_t id = (uint32_t)t->n, l = (uint32_t)len;
	memcpy(rec, &id, 4);
	memcpy(rec + 4, &l, 4);
	if (len)
		memcpy(rec + REC_HEAD, key, len);
	*ref = (uint32_t)(t->nchunks - 1) << REF_OFF_BITS | used >> 2;
	used += need;
	memcpy(ch + 4, &used, 4);
	return 0;
}

/* Inserts key (hash h) as the next id into the empty slot s its probe
 * ended at. Out of line: the lookups that find their key stay short. */
static __attribute__((noinline)) int gtab_insert(struct xctx *c, struct gtab *t, uint64_t *s,
						 const void *key, size_t len, uint64_t h,
						 uint32_t *id)
{
	if (t->n >= UINT32_MAX - 1)
		return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError", "Too many groups");
	uint32_t ref = 0;
	if (gtab_append(c, t, key, len, &ref))
		return c->rc;
	*s = (h & TAG_MASK) | ref;
	*id = (uint32_t)t->n++;
	if (t->n * 2 > t->cap)
		return gtab_grow(c, t);
	return 0;
}

/* gtab_find with the key's hash h (sn_hash64) already known. */
static inline int gtab_find_hashed(struct xctx *c, struct gtab *t, const void *key, size_t len,
				   uint64_t h, uint32_t *id, bool *isnew)
{
	uint64_t *s = gtab_probe(t, key, len, h);
	*isnew = !*s;
	if (*s) {
		*id = rd32(gtab_rec(t, *s));
		return 0;
	}
	return gtab_insert(c, t, s, key, len, h, id);
}

int gtab_find(struct xctx *c, struct gtab *t, const void *key, size_t len, uint32_t *id,
	      bool *isnew)
{
	return gtab_find_hashed(c, t, key, len, sn_hash64(key, len), id, isnew);
}

int gtab_get(const struct gtab *t, const void *key, size_t len, uint32_t *id)
{
	const uint64_t *s = gtab_probe(t, key, len, sn_hash64(key, len));
	if (!*s)
		return 0;
	*id = rd32(gtab_rec(t, *s));
	return 1;
}

/* The records of t in id order: start with it = {0, CHUNK_HEAD}. */
struct gtab_iter {
	size_t chunk;
	uint32_t off;
};

static inline const uint8_t *gtab_next(const struct gtab *t, struct gtab_iter *it, size_t *len)
{
	while (it->chunk < t->nchunks && it->off >= rd32(t->chunks[it->chunk] + 4)) {
		it->chunk++;
		it->off = CHUNK_HEAD;
	}
	if (it->chunk == t->nchunks)
		return NULL;
	const uint8_t *rec = t->chunks[it->chunk] + it->off;
	*len = rd32(rec + 4);
	it->off += (uint32_t)((REC_HEAD + *len + 3) & ~(size_t)3);
	return rec + REC_HEAD;
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
    /* ClickHouse's sketches (HyperLogLog with 2^12 cells, a Theta sketch of
     * 4096) estimate past a few thousand values; here they count as uniq
     * does, within their documented error and closer */
    {"uniqHLL12", AGG_UNIQ, 1, XMAX_AGG_ARGS, false, false, true},
    {"uniqHLL12If", AGG_UNIQ, 1, XMAX_AGG_ARGS, true, false, true},
    {"uniqTheta", AGG_UNIQ, 1, XMAX_AGG_ARGS, false, false, true},
    {"uniqThetaIf", AGG_UNIQ, 1, XMAX_AGG_ARGS, true, false, true},
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
    {"quantiles", AGG_QUANTILES, 1, 1, false, true, false},
    {"quantilesIf", AGG_QUANTILES, 1, 1, true, true, false},
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
    {"windowFunnel", AGG_WFUNNEL, 2, XMAX_AGG_ARGS, false, false, false},
    {"groupArray", AGG_GROUP_ARRAY, 1, 1, false, false, false},
    {"groupArrayIf", AGG_GROUP_ARRAY, 1, 1, true, false, false},
    {"groupUniqArray", AGG_GROUP_UNIQ, 1, 1, false, false, false},
    {"groupUniqArrayIf", AGG_GROUP_UNIQ, 1, 1, true, false, false},
    {"topK", AGG_TOPK, 1, 1, false, false, false},
    {"topKIf", AGG_TOPK, 1, 1, true, false, false},
    {"avgWeighted", AGG_AVG_WEIGHTED, 2, 2, false, false, false},
    {"avgWeightedIf", AGG_AVG_WEIGHTED, 2, 2, true, false, false},
    {"skewPop", AGG_SKEW_POP, 1, 1, false, false, false},
    {"skewPopIf", AGG_SKEW_POP, 1, 1, true, false, false},
    {"skewSamp", AGG_SKEW_SAMP, 1, 1, false, false, false},
    {"skewSampIf", AGG_SKEW_SAMP, 1, 1, true, false, false},
    {"kurtPop", AGG_KURT_POP, 1, 1, false, false, false},
    {"kurtPopIf", AGG_KURT_POP, 1, 1, true, false, false},
    {"kurtSamp", AGG_KURT_SAMP, 1, 1, false, false, false},
    {"kurtSampIf", AGG_KURT_SAMP, 1, 1, true, false, false},
    {"groupBitAnd", AGG_BIT_AND, 1, 1, false, false, true},
    {"groupBitAndIf", AGG_BIT_AND, 1, 1, true, false, true},
    {"groupBitOr", AGG_BIT_OR, 1, 1, false, false, true},
    {"groupBitOrIf", AGG_BIT_OR, 1, 1, true, false, true},
    {"groupBitXor", AGG_BIT_XOR, 1, 1, false, false, false},
    {"groupBitXorIf", AGG_BIT_XOR, 1, 1, true, false, false},
    {"deltaSum", AGG_DELTA_SUM, 1, 1, false, false, false},
    {"deltaSumIf", AGG_DELTA_SUM, 1, 1, true, false, false},
    {"groupArrayMovingSum", AGG_MOVING_SUM, 1, 1, false, false, false},
    {"groupArrayMovingSumIf", AGG_MOVING_SUM, 1, 1, true, false, false},
    {"groupArrayMovingAvg", AGG_MOVING_AVG, 1, 1, false, false, false},
    {"groupArrayMovingAvgIf", AGG_MOVING_AVG, 1, 1, true, false, false},
    {"simpleLinearRegression", AGG_SLR, 2, 2, false, false, false},
    {"simpleLinearRegressionIf", AGG_SLR, 2, 2, true, false, false},
    /* countDistinctIf is count -Distinct -If: uniqExactIf, as ClickHouse
     * implements count(DISTINCT); groupBitmap's cardinality is uniqExact
     * of integers (a roaring bitmap's count is exact, so is a 64-bit hash
     * of 8 bytes up to collisions of its upper 63 bits) */
    {"countDistinctIf", AGG_UNIQ, 1, XMAX_AGG_ARGS, true, false, false},
    {"groupBitmap", AGG_UNIQ, 1, 1, false, false, false},
    {"groupBitmapIf", AGG_UNIQ, 1, 1, true, false, false},
    {"array_agg", AGG_GROUP_ARRAY, 1, 1, false, false, false},
    {"every", AGG_EVERY, 1, 1, false, false, false},
    {"sumMap", AGG_SUM_MAP, 1, XMAX_AGG_ARGS, false, false, false},
    {"sumMapIf", AGG_SUM_MAP, 1, XMAX_AGG_ARGS, true, false, false},
    {"minMap", AGG_MIN_MAP, 1, XMAX_AGG_ARGS, false, false, false},
    {"minMapIf", AGG_MIN_MAP, 1, XMAX_AGG_ARGS, true, false, false},
    {"maxMap", AGG_MAX_MAP, 1, XMAX_AGG_ARGS, false, false, false},
    {"maxMapIf", AGG_MAX_MAP, 1, XMAX_AGG_ARGS, true, false, false},
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
	if (d->kind == AGG_QUANTILES) { /* quantiles(p1, p2, ...): one level or more */
		if (!n->list2.n)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Aggregate function %s needs its levels: %s(0.5, 0.9)(x)",
				     n->name, n->name);
		double *lv = xalloc(c, c->qa, n->list2.n * sizeof(*lv));
		if (!lv)
			return c->rc;
		for (size_t k = 0; k < n->list2.n; k++) {
			node_t one = *n;
			one.list2 = (struct sn_hogql_list){&n->list2.items[k], 1};
			struct aggdef q = *d;
			q.kind = AGG_QUANTILE;
			if (parse_level(c, &one, &q, ag))
				return c->rc;
			lv[k] = ag->level;
		}
		ag->levels = lv;
		ag->nlevels = n->list2.n;
		return 0;
	}
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

/* topK's k (1 to 16777215, 10 when absent, ClickHouse's bounds) and the
 * window of groupArrayMovingSum/Avg (a positive integer; absent: every
 * value): one integer constant parameter. */
static int parse_iparam(struct xctx *c, const node_t *n, struct xagg *ag)
{
	bool topk = ag->kind == AGG_TOPK;
	ag->iparam = topk ? 10 : 0;
	if (!n->list2.n)
		return 0;
	const node_t *p = n->list2.items[0];
	if (n->list2.n > 1)
		return xfail(c, n->list2.items[1], SN_ERR_INVALID, "QueryError",
			     "Aggregate function %s takes one parameter, found %zu", n->name,
			     n->list2.n);
	if (p->kind != SN_HQ_CONSTANT || p->ctype != SN_HQC_INT || p->ival <= 0)
		return xfail(c, p, SN_ERR_INVALID, "QueryError",
			     "Parameter for aggregate function %s should be a positive integer",
			     n->name);
	if (topk && p->ival > 0xFFFFFF)
		return xfail(c, p, SN_ERR_INVALID, "QueryError",
			     "Too large parameter for aggregate function %s (maximum is 16777215)",
			     n->name);
	ag->iparam = (uint64_t)p->ival;
	return 0;
}

/* windowFunnel's one parameter: the window, a non-negative integer
 * constant (seconds for a DateTime timestamp, days for a Date). */
static int parse_window(struct xctx *c, const node_t *n, struct xagg *ag)
{
	if (n->list2.n != 1)
		return xfail(c, n->list2.n ? n->list2.items[1] : n, SN_ERR_INVALID, "QueryError",
			     "Aggregate function windowFunnel takes one parameter, the window: "
			     "windowFunnel(window)(timestamp, cond1, cond2, ...); found %zu",
			     n->list2.n);
	const node_t *p = n->list2.items[0];
	if (p->kind != SN_HQ_CONSTANT || p->ctype != SN_HQC_INT || p->ival < 0)
		return xfail(c, p, SN_ERR_INVALID, "QueryError",
			     "The window of windowFunnel must be a non-negative integer constant");
	ag->window = (uint64_t)p->ival;
	return 0;
}

/* The AGGS entry named name[0..len), case-insensitively, or NULL. */
static const struct aggdef *aggdef_find(const char *name, size_t len)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(AGGS); i++)
		if (strncasecmp(AGGS[i].name, name, len) == 0 && AGGS[i].name[len] == 0)
			return &AGGS[i];
	return NULL;
}

/* The -State, -Merge and -If combinators around an aggregate of AGGS,
 * applied from the right as ClickHouse reads a name: sumIfState is -State
 * of sumIf (its state's type says sumIf and the condition's type),
 * sumStateIf -If of sumState (the condition picks the rows, the state is
 * sum's), sumIfMerge merges sumIf states, sumMergeIf merges the states
 * whose row's condition holds, uniqMergeState merges into a state. */
struct chain {
	bool state, merge;
	bool name_if;  /* an -If inside -State/-Merge: part of the state's name */
	bool outer_if; /* an -If outside them: on the rows (State) or the states (Merge) */
};

/* 1 when n->name is no aggregate with combinators this executor takes (the
 * caller's usual error follows), 0 with *d and *ch, < 0 after an error. */
static int parse_chain(struct xctx *c, const node_t *n, const struct aggdef **d, struct chain *ch)
{
	const char *name = n->name;
	size_t len = strlen(name), k = 0;
	char seq[4];
	while (!(*d = aggdef_find(name, len)) && k < SN_ARRAY_LEN(seq)) {
		if (len > 5 && strncmp(name + len - 5, "State", 5) == 0)
			seq[k++] = 'S', len -= 5;
		else if (len > 5 && strncmp(name + len - 5, "Merge", 5) == 0)
			seq[k++] = 'M', len -= 5;
		else if (len > 2 && strncmp(name + len - 2, "If", 2) == 0)
			seq[k++] = 'I', len -= 2;
		else
			break;
	}
	if (!*d)
		return 1;
	for (size_t j = k; j-- > 0;) {
		if (seq[j] == 'S' && ch->state)
			return xunsupported(c, n, "the -State combinator twice");
		if (seq[j] == 'M' && (ch->state || ch->merge))
			return xunsupported(c, n, "-Merge of a state of a state (fStateMerge)");
		if (seq[j] == 'S')
			ch->state = true;
		else if (seq[j] == 'M')
			ch->merge = true;
		else if (ch->state || ch->merge ? ch->outer_if : ((*d)->cond || ch->name_if))
			return xunsupported(c, n, "two -If combinators on one aggregate");
		else if (ch->state || ch->merge)
			ch->outer_if = true;
		else
			ch->name_if = true;
	}
	if (!ch->state && !ch->merge)
		return 1;
	if (!ch->merge && ((*d)->cond || ch->name_if) && ch->outer_if)
		return xunsupported(c, n, "two -If combinators on one aggregate");
	uint8_t kd = (*d)->kind;
	if (kd == AGG_EVERY || strcmp((*d)->name, "countDistinctIf") == 0) {
		char what[160];
		snprintf(what, sizeof(what), "the -State and -Merge combinators of %s", (*d)->name);
		return xunsupported(c, n, what);
	}
	return 0;
}

/* The state's function as ClickHouse's AggregateFunction type names it:
 * aliases by their canonical name (median is quantile, array_agg
 * groupArray), with the -If the state carries. Parameters are not part of
 * it (states of quantile(0.5) and quantile(0.9) merge alike). */
static const char *state_name(struct xctx *c, const struct aggdef *d, bool name_if)
{
	static const char *const alias[][2] = {
	    {"median", "quantile"},
	    {"medianExact", "quantileExact"},
	    {"medianTDigest", "quantileTDigest"},
	    {"array_agg", "groupArray"},
	};
	char base[64];
	size_t len = strlen(d->name) - (d->cond ? 2 : 0);
	snprintf(base, sizeof(base), "%.*s", (int)len, d->name);
	for (size_t i = 0; i < SN_ARRAY_LEN(alias); i++)
		if (strcmp(base, alias[i][0]) == 0)
			snprintf(base, sizeof(base), "%s", alias[i][1]);
	size_t n = strlen(base) + 3;
	char *s = xalloc(c, c->qa, n);
	if (s)
		snprintf(s, n, "%s%s", base, d->cond || name_if ? "If" : "");
	return s;
}

int agg_classify(struct xctx *c, const node_t *n, struct xagg *ag)
{
	const struct aggdef *d = aggdef_find(n->name, strlen(n->name));
	struct chain ch = {0};
	if (!d) {
		int r = parse_chain(c, n, &d, &ch);
		if (r < 0)
			return c->rc;
		if (r > 0)
			d = NULL;
	}
	/* the trailing arguments that are conditions on the rows */
	size_t ncond =
	    d ? (ch.merge ? ch.outer_if : (size_t)d->cond + ch.name_if + ch.outer_if) : 0;
	if (!d || n->list3.n || (n->a && ncond)) {
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
	size_t nval = nargs >= ncond ? nargs - ncond : 0;
	if (ch.merge)
		nmin = nmax = 1; /* the state */
	if (n->flag) {
		if (!d->distinct || ch.state || ch.merge)
			return xunsupported(c, n, "DISTINCT inside this aggregate");
		if (kind == AGG_COUNT) { /* count(DISTINCT x, ...) = uniqExact(x, ...) */
			kind = AGG_UNIQ;
			nmin = 1;
			nmax = XMAX_AGG_ARGS;
		}
	} else if (kind == AGG_COUNT && nval == 1 && !ch.merge) {
		kind = AGG_COUNT_X; /* count(x): rows where x is not NULL */
	}
	if (nargs < ncond || nval < nmin || nval > nmax)
		return arity_error(c, n, nmin + ncond, nmax + ncond, nargs);
	ag->kind = kind;
	/* uniq keeps 32-bit hashes, uniqExact and count(DISTINCT) 64 */
	ag->narrow = kind == AGG_UNIQ && d->kind == AGG_UNIQ && strncmp(d->name, "uniq", 4) == 0 &&
		     strncmp(d->name, "uniqExact", 9) != 0;
	ag->nargs = nval;
	ag->args = args;
	ag->arg = nval ? args[0] : NULL;
	/* agg(x) FILTER (WHERE c) is aggIf(x, c), as PostHog prints it. */
	ag->cond = ncond ? args[nargs - 1] : n->a;
	if (kind == AGG_TOPK || kind == AGG_MOVING_SUM || kind == AGG_MOVING_AVG
		? parse_iparam(c, n, ag)
	    : kind == AGG_WFUNNEL ? parse_window(c, n, ag)
				  : parse_level(c, n, d, ag))
		return c->rc;
	for (size_t i = 0; i < n->list.n; i++)
		if (is_aggregate_call(n->list.items[i]))
			return xfail(c, n->list.items[i], SN_ERR_INVALID, "QueryError",
				     "Aggregate function %s() found inside another aggregate "
				     "function",
				     n->list.items[i]->name);
	if (!ch.state && !ch.merge)
		return 0;
	ag->state = ch.state;
	if (!(ag->sname = state_name(c, d, ch.name_if)))
		return c->rc;
	if (ch.merge) {
		/* the aggregate whose states these are: its kind and this
		 * call's parameters (quantileMerge(0.9) answers the 0.9
		 * quantile of any quantile state), its argument types at
		 * agg_type, from the state's type */
		struct xagg *in = xalloc(c, c->qa, sizeof(*in));
		if (!in)
			return c->rc;
		*in = *ag;
		in->state = false;
		in->cond = NULL;
		in->nargs = 0;
		in->args = NULL;
		in->arg = NULL;
		ag->inner = in;
		ag->kind = AGG_MERGE;
	}
	return 0;
}

/* ---- aggregate states ------------------------------------------------------------- */

/* v: cap keys of 4 bytes (narrow: uniq) or 8 (uniqExact); 0 = empty. */
struct hset {
	void *v;
	size_t cap, n;
	bool narrow;
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

/* var/stddev of a Decimal: ClickHouse's VarMomentsDecimal, the sum and the
 * sum of squares of the scaled values, exact in 128 bits (cnt is m0). */
struct dmom {
	__int128 m1, m2;
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
		struct wfev *wfv;
		struct garr *arr;
		struct psums *ps;
		struct topk *tk;
		struct dsum *ds;
		struct dmom *dm;
	} x;
};

/* Sums ClickHouse's moment-based aggregates keep, as it keeps them: skew
 * and kurt the power sums of x (m[1] = sum x ... m[4] = sum x^4, the count
 * is the state's cnt); avgWeighted sum(x * w) and sum(w) (m[0], m[1] for
 * floats, ni, di wrapping for integers); simpleLinearRegression sum x,
 * sum y, sum x^2, sum xy (m[1] .. m[4]). */
struct psums {
	double m[5];
	int64_t ni, di;
};

/* topK: every distinct value with its count and the position (in the
 * group's rows) of its last occurrence; see topk_add. Entries in order of
 * first occurrence; slots an open-addressing index into them. */
struct tkent {
	uint64_t h;
	uint32_t off, len; /* the encoded element in bytes */
	int64_t cnt, last;
};
struct topk {
	struct tkent *e;
	size_t n, ecap;
	uint32_t *slots; /* entry index + 1, 0 = empty */
	size_t scap;
	uint8_t *bytes;
	size_t len, cap;
	int64_t rows; /* values added */
};

/* deltaSum: the sum of rises and the first and last values seen (has). */
struct dsum {
	int64_t si, fi, li;
	double sf, ff, lf;
};

/* groupArray / groupUniqArray: the encoded array (array.c) as it grows,
 * its count at the front filled in at the end; groupUniqArray also the
 * 64-bit hashes of the elements it kept. */
struct garr {
	uint8_t *p;
	size_t len, cap;
	uint32_t n;
	struct hset *set;
};

/* windowFunnel: a (timestamp, condition) entry per true condition of a
 * row, as ClickHouse's AggregateFunctionWindowFunnelData keeps them; pos
 * is the entry's place in insertion order, so sorting by (ts, pos) is
 * ClickHouse's stable sort by timestamp. The entries hang off the state
 * itself (x.wfv; cnt entries, room for i, has: one came out of time
 * order): a group's row touches its state and the array, nothing else. */
struct wfev {
	int64_t ts;
	uint32_t pos;
	uint8_t cond; /* 1..N */
};

/* A hash's key in a set: its upper 32 bits (narrow; 0 taken as 1), or
 * all 64 with the lowest forced to 1. 0 marks an empty slot. */
static inline uint64_t hset_key(uint64_t h, bool narrow)
{
	return narrow ? (h >> 32 ? h >> 32 : 1) : (h | 1);
}

/* A key's home slot: its bits above the lowest. Not the top bits: parts
 * are sorted by XXH3 of distinct_id within a day and event, the very hash
 * uniq(distinct_id) takes, so a set filling from ascending keys would hold
 * them all in its first slots while the load that decides its growth is
 * counted over all of them (5 probes an insert instead of 0.5, measured;
 * DAU 65 -> 95 ms). */
static inline size_t hset_home(uint64_t key, size_t cap)
{
	return (size_t)(key >> 1) & (cap - 1);
}

static inline uint64_t hset_at(const struct hset *s, size_t i)
{
	return s->narrow ? ((const uint32_t *)s->v)[i] : ((const uint64_t *)s->v)[i];
}

/* Stores key at its slot of v (cap slots) unless there; 1 if stored. */
static inline int hset_store(void *v, bool narrow, size_t cap, uint64_t key)
{
	size_t i = hset_home(key, cap);
	if (narrow) {
		uint32_t *w = v, k = (uint32_t)key;
		while (w[i]) {
			if (w[i] == k)
				return 0;
			i = (i + 1) & (cap - 1);
		}
		w[i] = k;
	} else {
		uint64_t *w = v;
		while (w[i]) {
			if (w[i] == key)
				return 0;
			i = (i + 1) & (cap - 1);
		}
		w[i] = key;
	}
	return 1;
}

/* Adds a key (hset_key) to st's set, made on first use with narrow. */
static int hset_put(struct xctx *c, struct astate *st, uint64_t key, bool narrow)
{
	struct hset *s = st->x.set;
	if (!s) {
		if (!(s = st->x.set = xalloc(c, c->qa, sizeof(*s))))
			return c->rc;
		s->cap = 8;
		s->n = 0;
		s->narrow = narrow;
		if (!(s->v = xalloc(c, c->qa, s->cap * (narrow ? 4 : 8))))
			return c->rc;
		memset(s->v, 0, s->cap * (narrow ? 4 : 8));
	}
	if (!hset_store(s->v, s->narrow, s->cap, key))
		return 0;
	if (++s->n * 2 > s->cap) {
		/* past 256 slots a set grows by 4: a day's distinct persons
		 * pass every size on the way to tens of thousands and each
		 * growth rehashes (doubling rehashed twice the final size, this
		 * a third more; the table is at most 8 times its values, not 4;
		 * small sets, one per group of a big GROUP BY, still double) */
		size_t ocap = s->cap, cap = ocap * (ocap >= 256 ? 4 : 2), w = s->narrow ? 4 : 8;
		void *v = xalloc(c, c->qa, cap * w);
		if (!v)
			return c->rc;
		memset(v, 0, cap * w);
		for (size_t k = 0; k < ocap; k++) {
			uint64_t e = hset_at(s, k);
			if (e)
				hset_store(v, s->narrow, cap, e);
		}
		s->v = v;
		s->cap = cap;
	}
	return 0;
}

static uint64_t hash_cell(const struct vec *v, size_t r)
{
	if (v->u && !v->s) /* a UUID column's bits (agg_batch: uniq of one) */
		return sn_hash64(v->u[r].b, sizeof(v->u[r].b));
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
	if (v->null || !sn_exec_type_has_bytes(v->type)) {
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

/* Appends one encoded element (e, len bytes) to a groupArray's state;
 * groupUniqArray skips one it holds already. */
static int garr_push(struct xctx *c, const struct xagg *ag, struct astate *st, const void *e,
		     size_t len)
{
	struct garr *a = st->x.arr;
	if (!a) {
		if (!(a = st->x.arr = xalloc(c, c->qa, sizeof(*a))))
			return c->rc;
		memset(a, 0, sizeof(*a));
		a->len = 4; /* the count */
	}
	if (ag->kind == AGG_GROUP_UNIQ) {
		struct astate t = {.x.set = a->set};
		size_t before = a->set ? a->set->n : 0;
		if (hset_put(c, &t, hset_key(sn_hash64(e, len), false), false))
			return c->rc;
		a->set = t.x.set;
		if (a->set->n == before)
			return 0;
	}
	if (a->len + len > a->cap) {
		size_t nc = a->cap ? a->cap * 2 : 64;
		while (nc < a->len + len)
			nc *= 2;
		if (nc > UINT32_MAX)
			return xfail(c, ag->call, SN_ERR_TOO_BIG, "QueryError",
				     "%s() of a group grew past 4 GiB", ag->call->name);
		uint8_t *p = xalloc(c, c->qa, nc);
		if (!p)
			return c->rc;
		if (a->p)
			memcpy(p, a->p, a->len);
		a->p = p;
		a->cap = nc;
	}
	memcpy(a->p + a->len, e, len);
	a->len += len;
	a->n++;
	return 0;
}

/* Row r of x as one encoded array element (array.c) in g->scratch. */
static int elem_encode(struct xctx *c, struct aggrun *g, const struct vec *x, size_t r)
{
	struct sn_exec_value v;
	char u[37];
	vec_value(c, x, r, NULL, &v);
	if (v.ubin) { /* UUID bits: the element is its text */
		sn_uuid_format(&v.u, u);
		v.ubin = false;
		v.s = (struct sn_str){u, 36};
	}
	sn_buf_reset(&g->scratch);
	if (xarr_put(&g->scratch, &v))
		return xnomem(c);
	return 0;
}

static int garr_add(struct xctx *c, struct aggrun *g, const struct xagg *ag, struct astate *st,
		    const struct vec *x, size_t r)
{
	if (elem_encode(c, g, x, r))
		return c->rc;
	return garr_push(c, ag, st, g->scratch.data, g->scratch.len);
}

static struct psums *psums_of(struct xctx *c, struct astate *st)
{
	if (!st->x.ps && (st->x.ps = xalloc(c, c->qa, sizeof(*st->x.ps))))
		memset(st->x.ps, 0, sizeof(*st->x.ps));
	return st->x.ps;
}

/* Row r into the power sums of skew/kurt, avgWeighted's or
 * simpleLinearRegression's sums. Integer avgWeighted wraps as ClickHouse's
 * Int64/UInt64 numerator does. */
static int psums_add(struct xctx *c, const struct xagg *ag, struct astate *st, const struct vec *av,
		     size_t r)
{
	struct psums *p = psums_of(c, st);
	if (!p)
		return c->rc;
	st->cnt++;
	if (ag->kind == AGG_AVG_WEIGHTED) {
		if (ag->arg_t == SN_XT_FLOAT || ag->arg2_t == SN_XT_FLOAT) {
			p->m[0] += num(&av[0], r) * num(&av[1], r);
			p->m[1] += num(&av[1], r);
		} else {
			p->ni = (int64_t)((uint64_t)p->ni +
					  (uint64_t)av[0].i[r] * (uint64_t)av[1].i[r]);
			p->di = (int64_t)((uint64_t)p->di + (uint64_t)av[1].i[r]);
		}
		return 0;
	}
	double x = num(&av[0], r);
	if (ag->kind == AGG_SLR) {
		double y = num(&av[1], r);
		p->m[1] += x;
		p->m[2] += y;
		p->m[3] += x * x;
		p->m[4] += x * y;
		return 0;
	}
	p->m[1] += x;
	p->m[2] += x * x;
	p->m[3] += x * x * x;
	p->m[4] += x * x * x * x;
	return 0;
}

/* The entry of tk holding the element e (len bytes, hash h), made with a
 * count of 0 when missing. */
static struct tkent *topk_entry(struct xctx *c, const struct xagg *ag, struct topk *tk,
				const void *e, size_t len, uint64_t h)
{
	if ((tk->n + 1) * 2 > tk->scap) {
		size_t cap = tk->scap ? tk->scap * 2 : 16;
		uint32_t *sl = xalloc(c, c->qa, cap * sizeof(*sl));
		if (!sl)
			return NULL;
		memset(sl, 0, cap * sizeof(*sl));
		for (size_t k = 0; k < tk->n; k++) {
			size_t i = (size_t)(tk->e[k].h >> 1) & (cap - 1);
			while (sl[i])
				i = (i + 1) & (cap - 1);
			sl[i] = (uint32_t)k + 1;
		}
		tk->slots = sl;
		tk->scap = cap;
	}
	size_t i = (size_t)(h >> 1) & (tk->scap - 1);
	for (; tk->slots[i]; i = (i + 1) & (tk->scap - 1)) {
		struct tkent *x = &tk->e[tk->slots[i] - 1];
		if (x->h == h && x->len == len && memcmp(tk->bytes + x->off, e, len) == 0)
			return x;
	}
	if (tk->n == tk->ecap) {
		size_t nc = tk->ecap ? tk->ecap * 2 : 8;
		struct tkent *ne = xalloc(c, c->qa, nc * sizeof(*ne));
		if (!ne)
			return NULL;
		if (tk->n)
			memcpy(ne, tk->e, tk->n * sizeof(*ne));
		tk->e = ne;
		tk->ecap = nc;
	}
	if (tk->len + len > tk->cap) {
		size_t nc = tk->cap ? tk->cap * 2 : 64;
		while (nc < tk->len + len)
			nc *= 2;
		if (nc > UINT32_MAX) {
			xfail(c, ag->call, SN_ERR_TOO_BIG, "QueryError",
			      "%s() of a group grew past 4 GiB", ag->call->name);
			return NULL;
		}
		uint8_t *nb = xalloc(c, c->qa, nc);
		if (!nb)
			return NULL;
		if (tk->len)
			memcpy(nb, tk->bytes, tk->len);
		tk->bytes = nb;
		tk->cap = nc;
	}
	memcpy(tk->bytes + tk->len, e, len);
	tk->e[tk->n] = (struct tkent){h, (uint32_t)tk->len, (uint32_t)len, 0, 0};
	tk->len += len;
	tk->slots[i] = (uint32_t)++tk->n;
	return &tk->e[tk->n - 1];
}

/* topK counts every distinct value exactly. ClickHouse's Space-Saving
 * keeps 3k counters, exact while a group has at most that many distinct
 * values, and its list moves a counter up only past smaller counts: equal
 * counts stay in the order they were reached. So the result is ordered by
 * count, then by the position of each value's last occurrence (when it
 * reached its count), earlier first: ClickHouse's answer whenever its
 * counters are exact, and the exact answer its approximation estimates
 * beyond. Adds e (len bytes) cnt times, the last at position last. */
static int topk_add(struct xctx *c, const struct xagg *ag, struct astate *st, const void *e,
		    size_t len, int64_t cnt, int64_t last)
{
	struct topk *tk = st->x.tk;
	if (!tk) {
		if (!(tk = st->x.tk = xalloc(c, c->qa, sizeof(*tk))))
			return c->rc;
		memset(tk, 0, sizeof(*tk));
	}
	struct tkent *x = topk_entry(c, ag, tk, e, len, sn_hash64(e, len));
	if (!x)
		return c->rc;
	x->cnt += cnt;
	x->last = last;
	return 0;
}

/* deltaSum: a rise from the last value adds to the sum (ClickHouse's
 * AggregationFunctionDeltaSum); integers wrap. */
static int dsum_add(struct xctx *c, struct astate *st, bool flt, bool uns, int64_t i, double f)
{
	struct dsum *d = st->x.ds;
	if (!d) {
		if (!(d = st->x.ds = xalloc(c, c->qa, sizeof(*d))))
			return c->rc;
		memset(d, 0, sizeof(*d));
	}
	if (flt) {
		if (st->has && d->lf < f)
			d->sf += f - d->lf;
		d->lf = f;
		if (!st->has)
			d->ff = f;
	} else {
		bool rise = uns ? (uint64_t)d->li < (uint64_t)i : d->li < i;
		if (st->has && rise)
			d->si = (int64_t)((uint64_t)d->si + ((uint64_t)i - (uint64_t)d->li));
		d->li = i;
		if (!st->has)
			d->fi = i;
	}
	st->has = true;
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

static int wfun_push(struct xctx *c, struct astate *st, int64_t ts, uint8_t cond)
{
	size_t n = (size_t)st->cnt;
	if (n == (size_t)st->i) {
		if (n >= UINT32_MAX)
			return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError",
				     "windowFunnel: too many events in one group");
		size_t nc = n ? n * 2 : 8;
		struct wfev *v = xalloc(c, c->qa, nc * sizeof(*v));
		if (!v)
			return c->rc;
		if (n)
			memcpy(v, st->x.wfv, n * sizeof(*v));
		st->x.wfv = v;
		st->i = (int64_t)nc;
	}
	struct wfev *v = st->x.wfv;
	st->has |= n && v[n - 1].ts > ts;
	v[n] = (struct wfev){ts, (uint32_t)n, cond};
	st->cnt = (int64_t)n + 1;
	return 0;
}

/* Row r into windowFunnel's state: its timestamp (a DateTime in seconds,
 * a Date in days, an integer as it is) once per true condition, the last
 * condition first (ClickHouse's order: a row that is two steps counts as
 * the earlier one). */
static int wfun_add(struct xctx *c, const struct xagg *ag, struct astate *st, const struct vec *av,
		    size_t r)
{
	int64_t ts = av[0].i[r];
	if (av[0].t == SN_XT_DATETIME) /* µs → s, floored */
		ts = ts >= 0 ? ts / 1000000 : -((-ts + 999999) / 1000000);
	for (size_t k = ag->nargs - 1; k >= 1; k--)
		if (vec_truth(&av[k], r) && wfun_push(c, st, ts, (uint8_t)k))
			return c->rc;
	return 0;
}

static inline bool wfev_less(const struct wfev *x, const struct wfev *y)
{
	return x->ts < y->ts || (x->ts == y->ts && x->pos < y->pos);
}

/* Sorts v by (ts, pos), a total order (pos is unique). A group's list is a
 * few runs already in order (the store's rows come by day and event, each
 * run in time order), so: insertion sort of 16-entry blocks, then
 * bottom-up merges, each skipped when its two halves are already in order.
 * qsort with a comparator call per comparison was a tenth of a 10M-event
 * funnel. Falls back to qsort when the scratch cannot be had. */
static int wfev_cmp(const void *a, const void *b)
{
	return wfev_less(a, b) ? -1 : wfev_less(b, a) ? 1 : 0;
}

static void wfev_sort(struct wfev *v, size_t n)
{
	enum { BLOCK = 16 };
	for (size_t b = 0; b < n; b += BLOCK) {
		size_t e = b + BLOCK < n ? b + BLOCK : n;
		for (size_t i = b + 1; i < e; i++) {
			struct wfev x = v[i];
			size_t j = i;
			for (; j > b && wfev_less(&x, &v[j - 1]); j--)
				v[j] = v[j - 1];
			v[j] = x;
		}
	}
	if (n <= BLOCK)
		return;
	struct wfev *tmp = malloc(n * sizeof(*tmp));
	if (!tmp) {
		qsort(v, n, sizeof(*v), wfev_cmp);
		return;
	}
	struct wfev *src = v, *dst = tmp;
	for (size_t w = BLOCK; w < n; w *= 2) {
		for (size_t lo = 0; lo < n; lo += 2 * w) {
			size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
			size_t i = lo, j = mid, k = lo;
			if (mid == hi || !wfev_less(&src[mid], &src[mid - 1])) {
				memcpy(dst + lo, src + lo, (hi - lo) * sizeof(*src));
				continue;
			}
			while (i < mid && j < hi)
				dst[k++] = wfev_less(&src[j], &src[i]) ? src[j++] : src[i++];
			memcpy(dst + k, src + i, (mid - i) * sizeof(*src));
			k += mid - i;
			memcpy(dst + k, src + j, (hi - j) * sizeof(*src));
		}
		struct wfev *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
	free(tmp);
}

/* The level reached: ClickHouse's getEventLevel. Entries in timestamp
 * order; a step-1 entry starts a chain at its time, a step-k entry extends
 * the chain that reached step k-1 if it is within the window of that
 * chain's start. */
static int64_t wfun_level(const struct xagg *ag, struct astate *st)
{
	size_t steps = ag->nargs - 1, n = (size_t)st->cnt;
	struct wfev *v = st->x.wfv;
	if (!n)
		return 0;
	if (steps == 1)
		return 1;
	if (st->has) {
		wfev_sort(v, n);
		st->has = false;
	}
	int64_t start[XMAX_AGG_ARGS];
	bool have[XMAX_AGG_ARGS] = {0};
	for (size_t i = 0; i < n; i++) {
		size_t k = v[i].cond - 1;
		int64_t ts = v[i].ts;
		if (k == 0) {
			start[0] = ts;
			have[0] = true;
		} else if (have[k - 1] && (uint64_t)(ts - start[k - 1]) <= ag->window) {
			start[k] = start[k - 1];
			have[k] = true;
			if (k + 1 == steps)
				return (int64_t)steps;
		}
	}
	for (size_t k = steps; k > 0; k--)
		if (have[k - 1])
			return (int64_t)k;
	return 0;
}

/* sumMap, minMap, maxMap: the group's distinct keys (a struct topk used as
 * an index of encoded keys: entry k is key k, in order of first sight) and
 * map_nv values per key, v[k * map_nv + j]: the sum, minimum or maximum of
 * value column j at that key so far (has: a non-NULL value came). */
struct smv {
	struct sn_exec_value x; /* a minimum's or maximum's text in a buffer it owns (cap) */
	uint32_t cap;
	bool has;
};
struct smap {
	struct topk keys;
	struct smv *v;
	size_t vcap; /* entries v has room for */
};

/* Value x into column slot s: summed (integers wrap, as ClickHouse's
 * Int64/UInt64 sums), or kept when it beats the minimum or maximum. NULL
 * values are skipped (the key stays, with its default). */
static int smv_apply(struct xctx *c, uint8_t kind, struct smv *s, const struct sn_exec_value *x)
{
	if (x->null || x->type == SN_XT_NULL)
		return 0;
	if (kind == AGG_SUM_MAP) {
		if (!s->has)
			s->x = *x;
		else if (x->type == SN_XT_FLOAT)
			s->x.f += x->f;
		else
			s->x.i = (int64_t)((uint64_t)s->x.i + (uint64_t)x->i);
		s->has = true;
		return 0;
	}
	if (s->has) {
		int d = value_cmp(x, &s->x);
		if (kind == AGG_MIN_MAP ? d >= 0 : d <= 0)
			return 0;
	}
	s->has = true;
	return keep_value(c, &s->x, &s->cap, x);
}

/* The value slots of key e (len encoded bytes) in st's map, made empty
 * when the key is new. */
static struct smv *smap_slots(struct xctx *c, const struct xagg *ag, struct astate *st,
			      const void *e, size_t len)
{
	struct smap *m = (struct smap *)st->x.tk;
	if (!m) {
		if (!(m = xalloc(c, c->qa, sizeof(*m))))
			return NULL;
		memset(m, 0, sizeof(*m));
		st->x.tk = &m->keys; /* keys is m's first member */
	}
	struct tkent *x = topk_entry(c, ag, &m->keys, e, len, sn_hash64(e, len));
	if (!x)
		return NULL;
	size_t k = (size_t)(x - m->keys.e), nv = ag->map_nv;
	if (x->cnt == 0) { /* new: its slots, zeroed */
		x->cnt = 1;
		if (m->keys.n > m->vcap) {
			size_t nc = m->vcap ? m->vcap * 2 : 8;
			struct smv *grown = xalloc(c, c->qa, nc * nv * sizeof(*grown));
			if (!grown)
				return NULL;
			if (m->vcap)
				memcpy(grown, m->v, m->vcap * nv * sizeof(*grown));
			m->v = grown;
			m->vcap = nc;
		}
		memset(&m->v[k * nv], 0, nv * sizeof(*m->v));
	}
	return &m->v[k * nv];
}

/* Row r of a -Map aggregate's arguments into st: key and value arrays
 * (map_form 0), a tuple of them (1), or a Map's (key, value) pairs (2). */
static int smap_add(struct xctx *c, const struct xagg *ag, struct astate *st, const struct vec *av,
		    size_t r)
{
	size_t nv = ag->map_nv;
	struct sn_str arr[XMAX_AGG_ARGS + 1];
	struct xait it;
	struct sn_exec_value x;
	if (ag->map_form == 2) { /* each element a (key, value) tuple */
		xait_init(&it, av[0].s[r]);
		while (xait_next(&it, &x)) {
			struct xait pit;
			struct sn_exec_value v;
			xait_init(&pit, x.s);
			const uint8_t *at = pit.p;
			if (!xait_next(&pit, &v))
				break;
			struct smv *s = smap_slots(c, ag, st, at, (size_t)(pit.p - at));
			if (!s || !xait_next(&pit, &v) || smv_apply(c, ag->kind, s, &v))
				return c->rc ? c->rc
					     : xfail(c, ag->call, SN_ERR_CORRUPT, "QueryError",
						     "a malformed map value");
		}
		return 0;
	}
	if (ag->map_form == 1) {
		size_t k = 0;
		xait_init(&it, av[0].s[r]);
		while (k <= nv && xait_next(&it, &x))
			arr[k++] = x.s;
	} else {
		for (size_t k = 0; k <= nv; k++)
			arr[k] = av[k].s[r];
	}
	uint32_t n = xarr_count(arr[0]);
	struct xait vi[XMAX_AGG_ARGS + 1], ki;
	for (size_t j = 0; j < nv; j++) {
		if (xarr_count(arr[j + 1]) != n)
			return xfail(c, ag->call, SN_ERR_INVALID, "QueryError",
				     "Sizes of keys and values arrays do not match in function %s",
				     ag->call->name);
		xait_init(&vi[j], arr[j + 1]);
	}
	xait_init(&ki, arr[0]);
	for (;;) {
		const uint8_t *at = ki.p;
		if (!xait_next(&ki, &x))
			break;
		struct smv *s = smap_slots(c, ag, st, at, (size_t)(ki.p - at));
		if (!s)
			return c->rc;
		for (size_t j = 0; j < nv; j++) {
			struct sn_exec_value v;
			if (!xait_next(&vi[j], &v))
				return xfail(c, ag->call, SN_ERR_CORRUPT, "QueryError",
					     "a malformed array value");
			if (smv_apply(c, ag->kind, &s[j], &v))
				return c->rc;
		}
	}
	return 0;
}

/* m's map = m's rows followed by w's: w's keys' values applied to m's. */
static int smap_merge(struct xctx *c, const struct xagg *ag, struct astate *m,
		      const struct astate *w)
{
	const struct smap *ws = (const struct smap *)w->x.tk;
	if (!ws)
		return 0;
	for (size_t k = 0; k < ws->keys.n; k++) {
		const struct tkent *e = &ws->keys.e[k];
		struct smv *s = smap_slots(c, ag, m, ws->keys.bytes + e->off, e->len);
		if (!s)
			return c->rc;
		for (size_t j = 0; j < ag->map_nv; j++)
			if (ws->v[k * ag->map_nv + j].has &&
			    smv_apply(c, ag->kind, &s[j], &ws->v[k * ag->map_nv + j].x))
				return c->rc;
	}
	return 0;
}

static int smap_key_cmp(const void *a, const void *b, void *arg)
{
	const struct smap *m = arg;
	const struct tkent *x = &m->keys.e[*(const uint32_t *)a],
			   *y = &m->keys.e[*(const uint32_t *)b];
	struct xait i, j;
	struct sn_exec_value u, v;
	/* a key alone, as an array of one element: decode it with its tag */
	i = (struct xait){m->keys.bytes + x->off, m->keys.bytes + x->off + x->len, 1};
	j = (struct xait){m->keys.bytes + y->off, m->keys.bytes + y->off + y->len, 1};
	xait_next(&i, &u);
	xait_next(&j, &v);
	if (u.null || v.null) /* NULL first, as ClickHouse's Field orders it */
		return u.null == v.null ? 0 : (u.null ? -1 : 1);
	return value_cmp(&u, &v);
}

/* Slot s of value column j as its result element (the default when no
 * value came: 0 or "", or NULL for a Map's Nullable value type). */
static void smv_result(const struct xagg *ag, const struct smv *s, size_t j, bool nullable,
		       struct sn_exec_value *y)
{
	memset(y, 0, sizeof(*y));
	y->type = ag->map_vt[j];
	if (!s->has) {
		y->null = nullable;
		return;
	}
	if (y->type == SN_XT_FLOAT)
		y->f = s->x.type == SN_XT_FLOAT ? s->x.f : (double)s->x.i;
	else
		y->i = s->x.i;
	y->s = s->x.s;
}

/* Whether sumMap drops key k: every value NULL or 0 (ClickHouse compares
 * Fields bitwise, so -0.0 stays). */
static bool smap_zero(const struct xagg *ag, const struct smap *m, size_t k)
{
	for (size_t j = 0; j < ag->map_nv; j++) {
		const struct smv *s = &m->v[k * ag->map_nv + j];
		if (!s->has)
			continue;
		if (s->x.type == SN_XT_FLOAT) {
			uint64_t bits;
			memcpy(&bits, &s->x.f, 8);
			if (bits)
				return false;
		} else if (s->x.i) {
			return false;
		}
	}
	return true;
}

/* Bytes being written into p, or only measured while p is NULL: a map's
 * result (array.c's element encoding; smap_final) and a serialised state
 * (state_write) are measured first and allocated once, so a group's result
 * costs one arena allocation. */
struct swr {
	uint8_t *p;
	size_t n;
};

static void sw_put(struct swr *w, const void *d, size_t len)
{
	if (w->p && len)
		memcpy(w->p + w->n, d, len);
	w->n += len;
}

static void sw_u32(struct swr *w, uint32_t x)
{
	sw_put(w, &x, 4);
}

static void sw_u64(struct swr *w, uint64_t x)
{
	sw_put(w, &x, 8);
}

/* One element: its tag (0x80 = NULL, array.c's flag), then 8 bytes of
 * number (-0.0 as 0.0, as xarr_put) or a u32 length and the bytes. */
static void smap_value(struct swr *w, const struct sn_exec_value *y)
{
	uint8_t tag = (uint8_t)(y->type | (y->null ? 0x80 : 0));
	sw_put(w, &tag, 1);
	if (y->null)
		return;
	if (sn_exec_type_has_bytes(y->type)) {
		sw_u32(w, (uint32_t)y->s.len);
		sw_put(w, y->s.p, y->s.len);
	} else if (y->type == SN_XT_FLOAT) {
		double f = y->f == 0 ? 0.0 : y->f;
		sw_put(w, &f, 8);
	} else {
		sw_put(w, &y->i, 8);
	}
}

/* Column j of the arrays result (0: the keys, j: value column j - 1) over
 * the kept keys ord: an encoded array, without its element tag. */
static void smap_column(struct swr *w, const struct xagg *ag, const struct smap *m,
			const uint32_t *ord, size_t kept, size_t j)
{
	sw_u32(w, (uint32_t)kept);
	for (size_t i = 0; i < kept; i++) {
		const struct tkent *e = &m->keys.e[ord[i]];
		struct sn_exec_value y;
		if (j == 0) {
			sw_put(w, m->keys.bytes + e->off, e->len);
			continue;
		}
		smv_result(ag, &m->v[ord[i] * ag->map_nv + j - 1], j - 1, false, &y);
		smap_value(w, &y);
	}
}

/* The result in w: Tuple(Array(K), Array(R), ...) or Map(K, R) (below). */
static void smap_result(struct swr *w, const struct xagg *ag, const struct smap *m,
			const uint32_t *ord, size_t kept, bool vnull)
{
	size_t nv = ag->map_nv;
	if (ag->map_form == 2) { /* an array of (key, value) tuples */
		sw_u32(w, (uint32_t)kept);
		for (size_t i = 0; i < kept; i++) {
			const struct tkent *e = &m->keys.e[ord[i]];
			struct sn_exec_value y;
			struct swr size = {NULL, 0};
			uint8_t tag = SN_XT_TUPLE;
			smv_result(ag, &m->v[ord[i] * nv], 0, vnull, &y);
			smap_value(&size, &y);
			sw_put(w, &tag, 1);
			sw_u32(w, (uint32_t)(4 + e->len + size.n));
			sw_u32(w, 2);
			sw_put(w, m->keys.bytes + e->off, e->len);
			smap_value(w, &y);
		}
		return;
	}
	sw_u32(w, (uint32_t)(nv + 1)); /* a tuple of arrays */
	for (size_t j = 0; j <= nv; j++) {
		struct swr size = {NULL, 0};
		uint8_t tag = SN_XT_ARRAY;
		smap_column(&size, ag, m, ord, kept, j);
		sw_put(w, &tag, 1);
		sw_u32(w, (uint32_t)size.n);
		smap_column(w, ag, m, ord, kept, j);
	}
}

/* The group's result (batch arena): sorted keys; Tuple(Array(K), Array(R),
 * ...) for key and value arrays, where sumMap leaves out the keys whose
 * values are all 0 (ClickHouse compacts them), or a Map(K, R) of (key,
 * value) tuples for a Map argument (ClickHouse's -Map combinator, which
 * keeps every key). */
static int smap_final(struct xctx *c, const struct xagg *ag, struct astate *st, struct vec *o,
		      size_t id)
{
	static const struct smap none;
	const struct smap *m = st->x.tk ? (const struct smap *)st->x.tk : &none;
	size_t n = m->keys.n, kept = 0;
	uint32_t *ord = xalloc(c, c->ba, (n + 1) * sizeof(*ord));
	if (!ord)
		return c->rc;
	for (size_t k = 0; k < n; k++)
		if (ag->map_form == 2 || ag->kind != AGG_SUM_MAP || !smap_zero(ag, m, k))
			ord[kept++] = (uint32_t)k;
	if (kept > 1)
		qsort_r(ord, kept, sizeof(*ord), smap_key_cmp, (void *)m);
	bool vnull = ag->map_form == 2 && ag->res_ct && strstr(ag->res_ct, ", Nullable(");
	struct swr w = {NULL, 0};
	smap_result(&w, ag, m, ord, kept, vnull);
	if (w.n > UINT32_MAX)
		return xfail(c, ag->call, SN_ERR_TOO_BIG, "QueryError",
			     "%s() of a group grew past 4 GiB", ag->call->name);
	if (!(w.p = xalloc(c, c->ba, w.n)))
		return c->rc;
	size_t len = w.n;
	w.n = 0;
	smap_result(&w, ag, m, ord, kept, vnull);
	o->s[id] = (struct sn_str){(const char *)w.p, len};
	return 0;
}

static int merge_blob(struct xctx *c, const struct xagg *ag, struct astate *st, struct sn_str s);

/* A Decimal sum in 128 bits without widening the state: the low 64 bits
 * in i (unsigned), the high ones in f, a whole number of carries that a
 * double holds exactly (each row moves it by at most one). */
static inline void dec_add(struct astate *st, int64_t x)
{
	uint64_t lo = (uint64_t)st->i, nlo = lo + (uint64_t)x;
	st->f += (double)((x < 0 ? -1 : 0) + (nlo < lo));
	st->i = (int64_t)nlo;
}

static inline __int128 dec_sum(const struct astate *st)
{
	return (__int128)(int64_t)st->f * ((__int128)1 << 64) + (__int128)(uint64_t)st->i;
}

static int dmom_overflow(struct xctx *c, const struct xagg *ag)
{
	return xfail(c, ag->call, SN_ERR_INVALID, "QueryError", "Decimal math overflow");
}

static int dmom_add(struct xctx *c, const struct xagg *ag, struct astate *st, int64_t x)
{
	struct dmom *m = st->x.dm;
	if (!m) {
		if (!(m = st->x.dm = xalloc(c, c->qa, sizeof(*m))))
			return c->rc;
		memset(m, 0, sizeof(*m));
	}
	__int128 sq = (__int128)x * x;
	st->cnt++;
	if (__builtin_add_overflow(m->m1, (__int128)x, &m->m1) ||
	    __builtin_add_overflow(m->m2, sq, &m->m2))
		return dmom_overflow(c, ag);
	return 0;
}

/* The variance of a Decimal as ClickHouse computes it: (m2 - m1² / m0)
 * / m0 (sample: m0 - 1) in integers at scale 2S, then Float64, at least 0;
 * no value is inf for the population (nan for the sample), one value inf
 * for the sample. */
static int dmom_result(struct xctx *c, const struct xagg *ag, const struct astate *st, double *out)
{
	bool samp = ag->dkind == AGG_VAR_SAMP || ag->dkind == AGG_STDDEV_SAMP;
	bool sd = ag->dkind == AGG_STDDEV_POP || ag->dkind == AGG_STDDEV_SAMP;
	const struct dmom *m = st->x.dm;
	__int128 n = st->cnt, sq, tmp;
	if (!m || n == 0) {
		*out = samp ? NAN : INFINITY;
		return 0;
	}
	if (samp && n == 1) {
		*out = INFINITY;
		return 0;
	}
	if (__builtin_mul_overflow(m->m1, m->m1, &sq) ||
	    __builtin_sub_overflow(m->m2, sq / n, &tmp))
		return dmom_overflow(c, ag);
	__int128 mul = 1;
	for (uint64_t k = 0; k < 2 * ag->iparam; k++)
		mul *= 10;
	double v = (double)(tmp / (samp ? n - 1 : n)) / (double)mul;
	v = v > 0 ? v : 0;
	*out = sd ? sqrt(v) : v;
	return 0;
}

/* Adds row r (no value argument NULL, the condition true) to st. Inlined
 * into both loops of agg_batch: a call a row and aggregate costs a fifth
 * of a simple aggregation's time. */
static inline __attribute__((always_inline)) int agg_add(struct xctx *c, struct aggrun *g,
							 const struct xagg *ag, struct astate *st,
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
	case AGG_SUM_DEC:
	case AGG_AVG_DEC:
		st->cnt++;
		dec_add(st, x->i[r]);
		return 0;
	case AGG_VAR_DEC: return dmom_add(c, ag, st, x->i[r]);
	case AGG_UNIQ: {
		uint64_t h = 0;
		if (ag->nargs == 1)
			h = hash_cell(x, r);
		else if (hash_tuple(c, g, av, ag->nargs, r, &h))
			return c->rc;
		return hset_put(c, st, hset_key(h, ag->narrow), ag->narrow);
	}
	case AGG_MIN:
	case AGG_MAX:
		/* Signed integers, dates and times against a kept value of the same
		 * type: compare the integers (building a value a row and comparing
		 * it generically was 40 % of max(timestamp) over 9M rows). */
		if (st->has && st->val.type == x->t && !st->val.null &&
		    (x->t == SN_XT_INT || x->t == SN_XT_DATE || x->t == SN_XT_DATETIME) &&
		    (ag->kind == AGG_MIN ? x->i[r] >= st->val.i : x->i[r] <= st->val.i))
			return 0;
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
	case AGG_QUANTILE_EXACT:
	case AGG_QUANTILES: return vals_add(c, st, x, r);
	case AGG_VAR_POP:
	case AGG_VAR_SAMP:
	case AGG_STDDEV_POP:
	case AGG_STDDEV_SAMP: return moments_add(c, st, av, false, r);
	case AGG_COVAR_POP:
	case AGG_COVAR_SAMP:
	case AGG_CORR: return moments_add(c, st, av, true, r);
	case AGG_WFUNNEL: return wfun_add(c, ag, st, av, r);
	case AGG_GROUP_ARRAY:
	case AGG_GROUP_UNIQ: return garr_add(c, g, ag, st, x, r);
	case AGG_TOPK: {
		int64_t pos = st->x.tk ? st->x.tk->rows : 0;
		if (elem_encode(c, g, x, r) ||
		    topk_add(c, ag, st, g->scratch.data, g->scratch.len, 1, pos))
			return c->rc;
		st->x.tk->rows++;
		return 0;
	}
	case AGG_AVG_WEIGHTED:
	case AGG_SKEW_POP:
	case AGG_SKEW_SAMP:
	case AGG_KURT_POP:
	case AGG_KURT_SAMP:
	case AGG_SLR: return psums_add(c, ag, st, av, r);
	case AGG_BIT_AND: st->i = st->cnt++ ? st->i & x->i[r] : x->i[r]; return 0;
	case AGG_BIT_OR:
		st->cnt++;
		st->i |= x->i[r];
		return 0;
	case AGG_BIT_XOR:
		st->cnt++;
		st->i ^= x->i[r];
		return 0;
	case AGG_DELTA_SUM:
		return dsum_add(c, st, x->f != NULL, x->t == SN_XT_UINT, x->f ? 0 : x->i[r],
				x->f ? x->f[r] : 0);
	case AGG_MOVING_SUM:
	case AGG_MOVING_AVG: return vals_add(c, st, x, r);
	case AGG_EVERY: /* min, answered as min != 0 */
		vec_value(c, x, r, NULL, &v);
		if (st->has && value_cmp(&v, &st->val) >= 0)
			return 0;
		return keep(c, st, &v);
	case AGG_SUM_MAP:
	case AGG_MIN_MAP:
	case AGG_MAX_MAP: return smap_add(c, ag, st, av, r);
	case AGG_MERGE: return merge_blob(c, ag, st, x->s[r]);
	default: SN_BUG("aggregate kind %d", ag->kind);
	}
	return 0;
}

/* ---- groups ------------------------------------------------------------------------- */

/* A group whose Float64 key k first read -0.0: value_key's bytes, which
 * the group's key is decoded from, hold 0.0 (so that -0.0 and 0.0 group
 * together), but the key shows its first row's value. */
struct negzero {
	uint32_t id, k;
};

#define AGG_SEG0 ((size_t)1 << AGG_SEG0_SHIFT)

/* The states of group id: segment s holds ids [SEG0 (2^s - 1),
 * SEG0 (2^(s+1) - 1)). */
static inline uint8_t *group_block(const struct aggrun *g, size_t id)
{
	size_t x = id + AGG_SEG0;
	unsigned s = (unsigned)(63 - __builtin_clzll((unsigned long long)x)) - AGG_SEG0_SHIFT;
	return g->states[s] + (x - (AGG_SEG0 << s)) * g->sbytes;
}

/* Aggregate a's state in group id. */
static inline struct astate *state_of(const struct aggrun *g, size_t id, size_t a)
{
	return (struct astate *)(group_block(g, id) + g->soff[a]);
}

/* Bytes of struct astate an aggregate uses: a count's, sum's or avg's
 * state is its first three fields, and a group keeps only those (a
 * GROUP BY of counts costs 24 bytes a group instead of 80). */
static size_t state_bytes(uint8_t kind)
{
	switch (kind) {
	case AGG_COUNT:
	case AGG_COUNT_X:
	case AGG_SUM:
	case AGG_AVG:
	case AGG_SUM_DEC:
	case AGG_AVG_DEC: return offsetof(struct astate, has);
	default: return sizeof(struct astate);
	}
}

int agg_init(struct xctx *c, struct aggrun *g)
{
	g->sbytes = 0;
	for (size_t a = 0; a < g->naggs; a++) {
		g->soff[a] = (uint32_t)g->sbytes;
		const struct xagg *ag = &g->aggs[a];
		g->sbytes += state_bytes(ag->kind == AGG_MERGE ? ag->inner->kind : ag->kind);
	}
	g->ngroups = g->gcap = 0;
	memset(g->states, 0, sizeof(g->states));
	g->negz = NULL;
	g->nnegz = g->negzcap = 0;
	g->memo = NULL;
	g->memo_gen = 0;
	if (gtab_init(c, &g->tab, 1024))
		return c->rc;
	sn_buf_init(&g->scratch, (size_t)1 << 24);
	return 0;
}

void agg_release(struct aggrun *g)
{
	sn_buf_release(&g->scratch);
	free(g->memo);
	g->memo = NULL;
}

/* Group ngroups, its states zeroed: the next segment is allocated when
 * the last is full, and never touched before its groups are made, so a
 * table of groups costs the memory its groups use (no copies, no
 * abandoned arrays, no pages faulted in ahead). */
static int new_group(struct xctx *c, struct aggrun *g)
{
	if (g->ngroups == g->gcap) {
		unsigned s = 0;
		while ((AGG_SEG0 << (s + 1)) - AGG_SEG0 <= g->gcap)
			s++;
		if (s >= AGG_SEGS)
			return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError", "Too many groups");
		size_t n = AGG_SEG0 << s;
		if (!(g->states[s] = xalloc(c, c->qa, n * g->sbytes)))
			return c->rc;
		g->gcap += n;
	}
	memset(group_block(g, g->ngroups), 0, g->sbytes);
	g->ngroups++;
	return 0;
}

/* The one group of an aggregate without GROUP BY, made when missing
 * (whatever ngroups says: exec.c sets it to 1 before asking for the
 * group of a scan without rows). */
static int single_group(struct xctx *c, struct aggrun *g)
{
	if (g->gcap)
		return 0;
	g->ngroups = 0;
	return new_group(c, g);
}

int agg_batch_empty_group(struct xctx *c, struct aggrun *g)
{
	return single_group(c, g);
}

static int negzero_add(struct xctx *c, struct aggrun *g, uint32_t id, uint32_t k)
{
	if (g->nnegz == g->negzcap) {
		size_t nc = g->negzcap ? g->negzcap * 2 : 16;
		struct negzero *z = xalloc(c, c->qa, nc * sizeof(*z));
		if (!z)
			return c->rc;
		if (g->nnegz)
			memcpy(z, g->negz, g->nnegz * sizeof(*z));
		g->negz = z;
		g->negzcap = nc;
	}
	g->negz[g->nnegz++] = (struct negzero){id, k};
	return 0;
}

/* Records the -0.0 Float64 keys of row r, the first of new group id. */
static int note_negzero(struct xctx *c, struct aggrun *g, const struct vec *kv, size_t r,
			uint32_t id)
{
	for (size_t k = 0; k < g->nkeys; k++)
		if (kv[k].t == SN_XT_FLOAT && kv[k].f && !vec_null(&kv[k], r) && kv[k].f[r] == 0 &&
		    signbit(kv[k].f[r]) && negzero_add(c, g, id, (uint32_t)k))
			return c->rc;
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
		if (sn_exec_type_has_bytes(v->t)) {
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

/* group_ids keys and hashes windows of WIN rows ahead of their lookups,
 * in a buffer of KEY_INLINE bytes a row (longer keys go through the
 * scratch buffer when their row's turn comes); kl[j] is a row's key
 * length, or one of these. */
#define WIN	   32
#define KEY_INLINE 256
#define KL_LONG	   0
#define KL_SAME	   (-1) /* the row's keys are the previous row's */
#define KL_MEMO	   (-2) /* the row's group is known from the memo (blk set) */
/* Below this many slots the table stays in cache and is not prefetched. */
#define NEAR_SLOTS ((size_t)1 << 15)
/* agg_batch updates the aggregates row by row, asking for a row's states
 * AHEAD rows ahead, once the groups' states take more than ROWWISE_BYTES
 * (about what a core's cache holds); one aggregate at a time below. */
#define AHEAD	      8
#define ROWWISE_BYTES ((size_t)1 << 20)

/* The home slot of hash h into the cache; then, once it is there, the
 * record the slot refers to if the tags agree. */
static inline void prefetch_slot(const struct gtab *t, uint64_t h)
{
	__builtin_prefetch(&t->slots[gtab_home(t, h)]);
}

static inline void prefetch_rec(const struct gtab *t, uint64_t h)
{
	uint64_t s = t->slots[gtab_home(t, h)];
	if (s && (s & TAG_MASK) == (h & TAG_MASK))
		__builtin_prefetch(gtab_rec(t, s));
}

#define MEMO_SLOTS 1024
#define MEMO_KEYS  4

struct gmemo {
	uint64_t gen; /* the batch it was made in */
	uint64_t a[MEMO_KEYS], b[MEMO_KEYS];
	uint8_t *blk;
};

/* Row r's keys' identity: a[k] a string's pointer or a value's bits, b[k]
 * the length, type and NULL flag; its hash. */
static inline uint64_t key_ident(const struct vec *kv, size_t nkeys, size_t r, uint64_t *a,
				 uint64_t *b)
{
	uint64_t h = 0;
	for (size_t k = 0; k < nkeys; k++) {
		const struct vec *v = &kv[k];
		bool null = v->t == SN_XT_NULL || vec_null(v, r);
		uint64_t x = 0, y = (uint64_t)v->t << 56 | (uint64_t)null << 48;
		if (!null) {
			if (v->s) {
				x = (uint64_t)(uintptr_t)v->s[r].p;
				y |= v->s[r].len;
			} else if (v->i) {
				x = (uint64_t)v->i[r];
			}
		}
		a[k] = x;
		b[k] = y;
		h = (h ^ x ^ (y * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
	}
	return h ^ (h >> 29);
}

static int group_ids(struct xctx *c, struct aggrun *g, const struct vec *kv, size_t n,
		     uint8_t **blk);

/* Whether every row of v holds row 0's value (the same text pointer). */
static bool one_value(const struct vec *v, size_t n)
{
	for (size_t r = 1; r < n; r++) {
		if (vec_null(v, r) != vec_null(v, 0))
			return false;
		if (vec_null(v, 0))
			continue;
		if (v->s   ? v->s[r].p != v->s[0].p || v->s[r].len != v->s[0].len
		    : v->i ? v->i[r] != v->i[0]
			   : true)
			return false;
	}
	return true;
}

/* Keys of which one is coded (its rows name few distinct values: an
 * expression evaluated once per distinct value) and the rest one value over
 * the batch: the group of each code is found once, on its first row (in row
 * order, so groups are made in the order rows would make them), and given
 * to every row of it. False when the keys are not so. */
static int coded_groups(struct xctx *c, struct aggrun *g, const struct vec *kv, size_t n,
			uint8_t **blk, bool *done)
{
	*done = false;
	int ck = -1;
	for (size_t k = 0; k < g->nkeys; k++) {
		const struct vec *v = &kv[k];
		const void *vals = v->s ? (const void *)v->s : v->i ? (const void *)v->i : NULL;
		if (v->t == SN_XT_FLOAT)
			return 0;
		if (ck < 0 && v->codes && vals && v->codes_of == vals && v->ncodes <= n / 4)
			ck = (int)k;
		else if (!one_value(v, n))
			return 0;
	}
	if (ck < 0)
		return 0;
	const struct vec *cv = &kv[ck];
	uint32_t *first = xalloc(c, c->ba, (cv->ncodes + 1) * sizeof(*first));
	uint32_t *reps = xalloc(c, c->ba, (cv->ncodes + 1) * sizeof(*reps));
	uint8_t **rblk = xalloc(c, c->ba, (cv->ncodes + 1) * sizeof(*rblk));
	struct vec *rk = xalloc(c, c->ba, g->nkeys * sizeof(*rk));
	if (!first || !reps || !rblk || !rk)
		return c->rc;
	for (size_t i = 0; i < cv->ncodes; i++)
		first[i] = UINT32_MAX;
	size_t nr = 0;
	for (size_t r = 0; r < n; r++) {
		uint32_t code = cv->codes[r];
		if (code >= cv->ncodes)
			return 0;
		if (first[code] == UINT32_MAX) {
			first[code] = (uint32_t)nr;
			reps[nr++] = (uint32_t)r;
		}
	}
	for (size_t k = 0; k < g->nkeys; k++)
		if (vec_gather(c, &kv[k], reps, nr, &rk[k]))
			return c->rc;
	if (group_ids(c, g, rk, nr, rblk))
		return c->rc;
	for (size_t r = 0; r < n; r++)
		blk[r] = rblk[first[cv->codes[r]]];
	*done = true;
	return 0;
}

/* blk[r]: the states of row r's group, new groups made in row order. A window of
 * rows is keyed and hashed first and its slots and records prefetched,
 * so the cache misses of a large table overlap instead of following one
 * another; then the rows are looked up in order, which keeps ids in order
 * of first row. */
static int group_ids(struct xctx *c, struct aggrun *g, const struct vec *kv, size_t n,
		     uint8_t **blk)
{
	bool coded;
	if (n >= 256 && (coded_groups(c, g, kv, n, blk, &coded) || coded))
		return c->rc;
	bool fkeys = false; /* a Float64 key, whose -0.0 the key bytes lose */
	bool text = false;
	for (size_t k = 0; k < g->nkeys; k++) {
		fkeys |= kv[k].t == SN_XT_FLOAT;
		text |= kv[k].s != NULL;
	}
	/* the memo: keys of strings (and other values, not floats), few */
	bool memo = text && !fkeys && g->nkeys <= MEMO_KEYS && n >= 256;
	if (memo && !g->memo && !(g->memo = calloc(MEMO_SLOTS, sizeof(*g->memo))))
		return xnomem(c);
	g->memo_gen++;
	uint8_t kb[WIN][KEY_INLINE];
	uint64_t h[WIN];
	int kl[WIN];
	uint32_t ms[WIN];				 /* the row's memo slot */
	uint64_t ma[WIN][MEMO_KEYS], mb[WIN][MEMO_KEYS]; /* and its keys' identity */
	for (size_t w0 = 0; w0 < n; w0 += WIN) {
		size_t m = n - w0 < WIN ? n - w0 : WIN;
		bool far = g->tab.cap > NEAR_SLOTS;
		for (size_t j = 0; j < m; j++) {
			size_t r = w0 + j;
			if (r > 0 && same_keys(kv, g->nkeys, r)) {
				/* rows come sorted by (team, day, event ...): runs of one key */
				kl[j] = KL_SAME;
				continue;
			}
			if (memo) {
				uint64_t *a = ma[j], *b = mb[j];
				uint32_t slot =
				    (uint32_t)(key_ident(kv, g->nkeys, r, a, b) & (MEMO_SLOTS - 1));
				struct gmemo *e = &g->memo[slot];
				bool hit = e->gen == g->memo_gen;
				for (size_t k = 0; k < g->nkeys && hit; k++)
					hit = e->a[k] == a[k] && e->b[k] == b[k];
				if (hit) {
					kl[j] = KL_MEMO;
					blk[r] = e->blk;
					continue;
				}
				ms[j] = slot;
			}
			kl[j] = (int)key_bytes(kv, g->nkeys, r, kb[j], KEY_INLINE);
			if (kl[j] != KL_LONG) {
				h[j] = sn_hash64(kb[j], (size_t)kl[j]);
				if (far)
					prefetch_slot(&g->tab, h[j]);
			}
		}
		for (size_t j = 0; j < m && far; j++)
			if (kl[j] > 0)
				prefetch_rec(&g->tab, h[j]);
		for (size_t j = 0; j < m; j++) {
			size_t r = w0 + j;
			if (kl[j] == KL_SAME) {
				blk[r] = blk[r - 1];
				continue;
			}
			if (kl[j] == KL_MEMO)
				continue;
			uint32_t id;
			bool isnew;
			if (kl[j] != KL_LONG) {
				if (gtab_find_hashed(c, &g->tab, kb[j], (size_t)kl[j], h[j], &id,
						     &isnew))
					return c->rc;
			} else {
				sn_buf_reset(&g->scratch);
				for (size_t k = 0; k < g->nkeys; k++) {
					struct sn_exec_value v;
					vec_value(c, &kv[k], r, NULL, &v);
					if (value_key(&g->scratch, &v))
						return xnomem(c);
				}
				if (gtab_find(c, &g->tab, g->scratch.data, g->scratch.len, &id,
					      &isnew))
					return c->rc;
			}
			if (isnew && (new_group(c, g) || (fkeys && note_negzero(c, g, kv, r, id))))
				return c->rc;
			blk[r] = group_block(g, id);
			if (memo) {
				struct gmemo *e = &g->memo[ms[j]];
				e->gen = g->memo_gen;
				memcpy(e->a, ma[j], g->nkeys * sizeof(e->a[0]));
				memcpy(e->b, mb[j], g->nkeys * sizeof(e->b[0]));
				e->blk = blk[r];
			}
		}
	}
	return 0;
}

/* An aggregate's inputs over the batch. */
struct aggin {
	struct vec av[XMAX_AGG_ARGS], cond;
	bool never; /* an argument is the NULL literal: every row skipped */
};

/* Whether row r is not for aggregate ag: its condition is not true, or a
 * value argument is NULL. */
static inline bool skips(const struct xagg *ag, const struct aggin *x, size_t r)
{
	if (ag->cond && !vec_truth(&x->cond, r))
		return true;
	for (size_t k = 0; k < ag->nargs; k++)
		if (vec_null(&x->av[k], r))
			return true;
	return false;
}

/* uniq(x) over a batch whose groups' states stay in cache: the sets do
 * not (a day's distinct persons fill a megabyte), so a window of rows is
 * hashed first and each row's home slot fetched, then the rows are added
 * in order (the sets come out as row by row). DAU on 10M events spent a
 * quarter of its time waiting for those slots one after another. */
#define UNIQ_WIN 16
static int uniq_batch(struct xctx *c, struct aggrun *g, const struct xagg *ag,
		      const struct aggin *x, uint8_t **blk, size_t off, size_t n)
{
	(void)g;
	uint64_t hw[UNIQ_WIN];
	size_t rw[UNIQ_WIN];
	/* Parts are sorted by (team, day, event, hash of distinct_id): a
	 * person's rows of a day come together, so a row adding the value the
	 * previous row added to the same set is skipped (adding it again
	 * would change nothing), and a string that is the previous row's
	 * dictionary entry (same text pointer) is not hashed again. */
	const struct vec *v = &x->av[0];
	const uint8_t *pst = NULL;
	uint64_t ph = 0;
	size_t pr = SIZE_MAX;
	for (size_t r0 = 0; r0 < n; r0 += UNIQ_WIN) {
		size_t m = 0;
		for (size_t r = r0; r < n && r < r0 + UNIQ_WIN; r++) {
			if (skips(ag, x, r))
				continue;
			uint64_t h;
			if (pr != SIZE_MAX && v->s && v->s[r].p == v->s[pr].p &&
			    v->s[r].len == v->s[pr].len)
				h = ph;
			else
				h = hash_cell(v, r) | 1;
			bool dup = blk[r] + off == pst && h == ph;
			pst = blk[r] + off;
			ph = h;
			pr = r;
			if (dup)
				continue;
			const struct hset *s = ((struct astate *)(blk[r] + off))->x.set;
			uint64_t key = hset_key(h, ag->narrow);
			if (s)
				__builtin_prefetch((const char *)s->v +
						       hset_home(key, s->cap) * (s->narrow ? 4 : 8),
						   1);
			hw[m] = key;
			rw[m++] = r;
		}
		for (size_t j = 0; j < m; j++)
			if (hset_put(c, (struct astate *)(blk[rw[j]] + off), hw[j], ag->narrow))
				return c->rc;
	}
	return 0;
}

/* One group for the whole batch, one argument without NULLs, no condition:
 * sum/avg of integers, and min/max of integers, dates and times, as plain
 * loops over the column (agg_add's switch and values a row were most of
 * sum(toUnixTimestamp(timestamp)) and max(timestamp) over 9M rows). The
 * states end as agg_add leaves them (of equal extremes, the first kept).
 * 1: done, 0: take the general path, -1: error (c->rc). */
static int fold_batch(struct xctx *c, const struct xagg *ag, const struct aggin *in,
		      struct astate *st, size_t n)
{
	const struct vec *x = &in->av[0];
	if (ag->cond || ag->nargs != 1 || x->f || !x->i || (x->nulls && memchr(x->nulls, 1, n)))
		return 0;
	switch (ag->kind) {
	case AGG_SUM:
	case AGG_AVG: {
		uint64_t sum = (uint64_t)st->i; /* wrapping, as agg_add */
		for (size_t r = 0; r < n; r++)
			sum += (uint64_t)x->i[r];
		st->i = (int64_t)sum;
		st->cnt += (int64_t)n;
		return 1;
	}
	case AGG_MIN:
	case AGG_MAX: {
		if ((x->t != SN_XT_INT && x->t != SN_XT_DATE && x->t != SN_XT_DATETIME) ||
		    (st->has && (st->val.null || st->val.type != x->t)))
			return 0;
		bool mn = ag->kind == AGG_MIN;
		size_t best = 0;
		for (size_t r = 1; r < n; r++)
			if (mn ? x->i[r] < x->i[best] : x->i[r] > x->i[best])
				best = r;
		if (st->has && (mn ? x->i[best] >= st->val.i : x->i[best] <= st->val.i))
			return 1;
		struct sn_exec_value v;
		vec_value(c, x, best, NULL, &v);
		return keep(c, st, &v) ? -1 : 1;
	}
	default: return 0;
	}
}

int agg_batch(struct xctx *c, struct aggrun *g)
{
	size_t n = c->n;
	struct aggin *in = xalloc(c, c->ba, (g->naggs + 1) * sizeof(*in));
	uint8_t **blk = xalloc(c, c->ba, (n + 1) * sizeof(*blk)); /* row r's group's states */
	if (!in || !blk)
		return c->rc;
	if (g->nkeys) {
		struct vec *kv = xalloc(c, c->ba, g->nkeys * sizeof(*kv));
		if (!kv)
			return c->rc;
		for (size_t k = 0; k < g->nkeys; k++)
			if (xeval(c, g->key_nodes[k], &kv[k]))
				return c->rc;
		if (group_ids(c, g, kv, n, blk))
			return c->rc;
	} else {
		if (single_group(c, g))
			return c->rc;
		for (size_t r = 0; r < n; r++)
			blk[r] = group_block(g, 0);
	}
	for (size_t a = 0; a < g->naggs; a++) {
		struct xagg *ag = &g->aggs[a];
		in[a].never = false;
		/* uniq of a UUID column hashes its 128 bits, not its text: every
		 * batch of it, so one value never hashes two ways */
		bool bits = ag->kind == AGG_UNIQ && ag->nargs == 1 &&
			    ag->args[0]->kind == SN_HQ_FIELD && ag->arg_t == SN_XT_UUID;
		for (size_t k = 0; k < ag->nargs; k++) {
			c->uuid_bits_ok = bits ? ag->args[0] : NULL;
			int rc = xeval(c, ag->args[k], &in[a].av[k]);
			c->uuid_bits_ok = NULL;
			if (rc || (bits && vec_uuid_bits(c, &in[a].av[k])))
				return c->rc;
			in[a].never |= in[a].av[k].t == SN_XT_NULL;
		}
		if (ag->cond && !in[a].never && xeval(c, ag->cond, &in[a].cond))
			return c->rc;
	}
	/* one group for the whole batch (no keys, or keys that are one value
	 * over it, as a run's day): count() adds the batch's rows at once */
	bool one = true;
	for (size_t r = 1; r < n && one; r++)
		one = blk[r] == blk[0];
	if (g->ngroups * g->sbytes <= ROWWISE_BYTES) {
		/* The states stay in cache: a tight loop an aggregate. */
		for (size_t a = 0; a < g->naggs; a++) {
			const struct xagg *ag = &g->aggs[a];
			size_t off = g->soff[a];
			if (one && n && ag->kind == AGG_COUNT && !ag->cond && !ag->nargs) {
				((struct astate *)(blk[0] + off))->cnt += (int64_t)n;
				continue;
			}
			if (one && n && !in[a].never) {
				int f =
				    fold_batch(c, ag, &in[a], (struct astate *)(blk[0] + off), n);
				if (f < 0)
					return c->rc;
				if (f)
					continue;
			}
			if (ag->kind == AGG_UNIQ && ag->nargs == 1) {
				if (!in[a].never && uniq_batch(c, g, ag, &in[a], blk, off, n))
					return c->rc;
				continue;
			}
			for (size_t r = 0; r < n && !in[a].never; r++)
				if (!skips(ag, &in[a], r) &&
				    agg_add(c, g, ag, (struct astate *)(blk[r] + off), in[a].av, r))
					return c->rc;
		}
		return 0;
	}
	/* Many groups: a group's states are a cache miss, so row by row,
	 * every aggregate of the row's group (one miss a row, not one an
	 * aggregate), asking for the states a few rows ahead. windowFunnel
	 * appends to a list of its own, a second miss behind the first: half
	 * way there, with the state already fetched, ask for the list's end. */
	size_t wf = SIZE_MAX;
	for (size_t a = 0; a < g->naggs && wf == SIZE_MAX; a++)
		if (g->aggs[a].kind == AGG_WFUNNEL)
			wf = g->soff[a];
	for (size_t r = 0; r < n; r++) {
		if (r + AHEAD < n)
			for (size_t off = 0; off < g->sbytes; off += 64)
				__builtin_prefetch(blk[r + AHEAD] + off, 1);
		if (wf != SIZE_MAX && r + AHEAD / 2 < n) {
			const struct astate *s = (const struct astate *)(blk[r + AHEAD / 2] + wf);
			if (s->cnt && s->cnt < s->i)
				__builtin_prefetch(&s->x.wfv[s->cnt], 1);
		}
		for (size_t a = 0; a < g->naggs; a++) {
			const struct xagg *ag = &g->aggs[a];
			if (!in[a].never && !skips(ag, &in[a], r) &&
			    agg_add(c, g, ag, (struct astate *)(blk[r] + g->soff[a]), in[a].av, r))
				return c->rc;
		}
	}
	return 0;
}

/* ---- merging a second scanner's groups ---------------------------------------------- */

bool agg_mergeable(const struct aggrun *g)
{
	for (size_t a = 0; a < g->naggs; a++)
		switch (g->aggs[a].kind == AGG_MERGE ? g->aggs[a].inner->kind : g->aggs[a].kind) {
		case AGG_COUNT:
		case AGG_COUNT_X:
		case AGG_SUM:
		case AGG_AVG:
		case AGG_SUM_DEC:
		case AGG_AVG_DEC:
		case AGG_VAR_DEC:
		case AGG_UNIQ:
		case AGG_MIN:
		case AGG_MAX:
		case AGG_ANY:
		case AGG_ANY_LAST:
		case AGG_ARG_MIN:
		case AGG_ARG_MAX:
		case AGG_QUANTILE:
		case AGG_QUANTILE_EXACT:
		case AGG_QUANTILES:
		case AGG_WFUNNEL:
		case AGG_GROUP_ARRAY:
		case AGG_GROUP_UNIQ:
		case AGG_TOPK:
		case AGG_BIT_AND:
		case AGG_BIT_OR:
		case AGG_BIT_XOR:
		case AGG_DELTA_SUM:
		case AGG_MOVING_SUM:
		case AGG_MOVING_AVG:
		/* sums of floats, as sum and avg: ClickHouse merges its threads'
		 * sums the same way */
		case AGG_AVG_WEIGHTED:
		case AGG_SKEW_POP:
		case AGG_SKEW_SAMP:
		case AGG_KURT_POP:
		case AGG_KURT_SAMP:
		case AGG_SLR:
		case AGG_EVERY:
		case AGG_SUM_MAP:
		case AGG_MIN_MAP:
		case AGG_MAX_MAP: break;
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
	case AGG_VAR_DEC:
		if (!w->x.dm)
			return 0;
		if (!m->x.dm) {
			if (!(m->x.dm = xalloc(c, c->qa, sizeof(*m->x.dm))))
				return c->rc;
			memset(m->x.dm, 0, sizeof(*m->x.dm));
		}
		m->cnt += w->cnt;
		if (__builtin_add_overflow(m->x.dm->m1, w->x.dm->m1, &m->x.dm->m1) ||
		    __builtin_add_overflow(m->x.dm->m2, w->x.dm->m2, &m->x.dm->m2))
			return dmom_overflow(c, ag);
		return 0;
	case AGG_SUM_DEC:
	case AGG_AVG_DEC: { /* (hi, lo) + (hi', lo'), exact */
		uint64_t lo = (uint64_t)m->i, nlo = lo + (uint64_t)w->i;
		m->cnt += w->cnt;
		m->f += w->f + (double)(nlo < lo);
		m->i = (int64_t)nlo;
		return 0;
	}
	case AGG_UNIQ:
		if (w->x.set)
			for (size_t k = 0; k < w->x.set->cap; k++) {
				uint64_t e = hset_at(w->x.set, k);
				if (e && hset_put(c, m, e, w->x.set->narrow))
					return c->rc;
			}
		return 0;
	case AGG_SUM_MAP:
	case AGG_MIN_MAP:
	case AGG_MAX_MAP: return smap_merge(c, ag, m, w);
	case AGG_MERGE: return merge_state(c, ag->inner, m, w);
	case AGG_ANY_HEAVY:
		/* ClickHouse's merge of two votes: equal values add their
		 * counters; otherwise the larger counter's value wins, the
		 * counter kept as it was, or the smaller is taken off */
		if (!w->has)
			return 0;
		if (m->has && value_cmp(&w->val, &m->val) == 0)
			m->cnt += w->cnt;
		else if (!m->has || m->cnt < w->cnt)
			return keep(c, m, &w->val);
		else
			m->cnt -= w->cnt;
		return 0;
	case AGG_VAR_POP:
	case AGG_VAR_SAMP:
	case AGG_STDDEV_POP:
	case AGG_STDDEV_SAMP:
	case AGG_COVAR_POP:
	case AGG_COVAR_SAMP:
	case AGG_CORR: {
		/* Chan et al.'s pairwise update of Welford's moments (-Merge
		 * only: two scanners do not merge these, see agg_mergeable) */
		const struct moments *b = w->x.mom;
		if (!w->cnt || !b)
			return 0;
		struct moments *a = m->x.mom;
		if (!a) {
			if (!(a = m->x.mom = xalloc(c, c->qa, sizeof(*a))))
				return c->rc;
			memset(a, 0, sizeof(*a));
		}
		double na = (double)m->cnt, nb = (double)w->cnt, n = na + nb;
		double dx = b->mx - a->mx, dy = b->my - a->my, k = na * nb / n;
		a->m2x += b->m2x + dx * dx * k;
		a->m2y += b->m2y + dy * dy * k;
		a->cxy += b->cxy + dx * dy * k;
		a->mx += dx * nb / n;
		a->my += dy * nb / n;
		m->cnt += w->cnt;
		return 0;
	}
	case AGG_MIN:
	case AGG_MAX:
	case AGG_EVERY:
		if (!w->has)
			return 0;
		if (m->has && (ag->kind != AGG_MAX ? value_cmp(&w->val, &m->val) >= 0
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
	case AGG_QUANTILES:
		if (w->x.vals)
			for (size_t k = 0; k < w->x.vals->n; k++)
				if (vals_push(c, m, w->x.vals->f != NULL,
					      w->x.vals->i ? w->x.vals->i[k] : 0,
					      w->x.vals->f ? w->x.vals->f[k] : 0))
					return c->rc;
		return 0;
	case AGG_WFUNNEL:
		/* m's entries, then w's (ties in time keep that order) */
		for (size_t k = 0; k < (size_t)w->cnt; k++)
			if (wfun_push(c, m, w->x.wfv[k].ts, w->x.wfv[k].cond))
				return c->rc;
		return 0;
	case AGG_GROUP_ARRAY:
	case AGG_GROUP_UNIQ: {
		/* m's elements, then w's: each element's bytes found by decoding */
		const struct garr *a = w->x.arr;
		if (!a)
			return 0;
		struct xait it = {.p = a->p + 4, .end = a->p + a->len, .left = a->n};
		struct sn_exec_value x;
		for (const uint8_t *at = it.p; xait_next(&it, &x); at = it.p)
			if (garr_push(c, ag, m, at, (size_t)(it.p - at)))
				return c->rc;
		return 0;
	}
	case AGG_TOPK: {
		/* w's rows come after m's: its positions move past m's rows */
		const struct topk *t = w->x.tk;
		if (!t)
			return 0;
		int64_t base = m->x.tk ? m->x.tk->rows : 0;
		for (size_t k = 0; k < t->n; k++)
			if (topk_add(c, ag, m, t->bytes + t->e[k].off, t->e[k].len, t->e[k].cnt,
				     base + t->e[k].last))
				return c->rc;
		m->x.tk->rows = base + t->rows;
		return 0;
	}
	case AGG_AVG_WEIGHTED:
	case AGG_SKEW_POP:
	case AGG_SKEW_SAMP:
	case AGG_KURT_POP:
	case AGG_KURT_SAMP:
	case AGG_SLR: {
		if (!w->x.ps)
			return 0;
		struct psums *p = psums_of(c, m);
		if (!p)
			return c->rc;
		m->cnt += w->cnt;
		for (int k = 0; k < 5; k++)
			p->m[k] += w->x.ps->m[k];
		p->ni = (int64_t)((uint64_t)p->ni + (uint64_t)w->x.ps->ni);
		p->di = (int64_t)((uint64_t)p->di + (uint64_t)w->x.ps->di);
		return 0;
	}
	case AGG_BIT_AND:
		if (w->cnt)
			m->i = m->cnt ? m->i & w->i : w->i;
		m->cnt += w->cnt;
		return 0;
	case AGG_BIT_OR:
	case AGG_BIT_XOR:
		m->i = ag->kind == AGG_BIT_OR ? m->i | w->i : m->i ^ w->i;
		m->cnt += w->cnt;
		return 0;
	case AGG_DELTA_SUM: {
		/* w's first value follows m's last: the rise between them, then
		 * w's own rises (ClickHouse's merge of ordered states) */
		const struct dsum *d = w->x.ds;
		if (!w->has)
			return 0;
		bool flt = ag->arg_t == SN_XT_FLOAT, uns = ag->arg_t == SN_XT_UINT;
		if (dsum_add(c, m, flt, uns, d->fi, d->ff))
			return c->rc;
		struct dsum *e = m->x.ds;
		e->si = (int64_t)((uint64_t)e->si + (uint64_t)d->si);
		e->sf += d->sf;
		e->li = d->li;
		e->lf = d->lf;
		return 0;
	}
	case AGG_MOVING_SUM:
	case AGG_MOVING_AVG:
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

/* Merging two scanners' groups is serial work after the scan; when their
 * sets and value lists are big (DAU on 10M events: 30 days of about 14 000
 * values each, 7-10 ms) the groups' states are merged on two threads, each
 * with its own arena (adopted by the query's) and error. MERGE_PAR_VALUES
 * is where that starts to pay for a thread. */
#define MERGE_PAR_VALUES 65536

/* Values w's group j brings to a merge beyond a count: set and list sizes. */
static size_t merge_work(const struct aggrun *w, size_t j)
{
	size_t n = 0;
	for (size_t a = 0; a < w->naggs; a++) {
		const struct astate *st = state_of(w, j, a);
		if (w->aggs[a].kind == AGG_UNIQ && st->x.set)
			n += st->x.set->n;
		else if ((w->aggs[a].kind == AGG_QUANTILE ||
			  w->aggs[a].kind == AGG_QUANTILE_EXACT ||
			  w->aggs[a].kind == AGG_QUANTILES || w->aggs[a].kind == AGG_MOVING_SUM ||
			  w->aggs[a].kind == AGG_MOVING_AVG) &&
			 st->x.vals)
			n += st->x.vals->n;
		else if (w->aggs[a].kind == AGG_TOPK && st->x.tk)
			n += st->x.tk->n;
	}
	return n;
}

struct mshare {
	struct xctx c;
	struct sn_arena qa;
	struct sn_hogql_error err;
	struct aggrun *g;
	const struct aggrun *w;
	const uint32_t *gid;
	size_t j0, j1;
};

static void merge_range(struct mshare *m)
{
	for (size_t j = m->j0; j < m->j1 && !m->c.rc; j++)
		for (size_t a = 0; a < m->g->naggs; a++)
			if (merge_state(&m->c, &m->g->aggs[a], state_of(m->g, m->gid[j], a),
					state_of(m->w, j, a)))
				return;
}

static void *merge_main(void *arg)
{
	merge_range(arg);
	return NULL;
}

/* w's groups [0, n) into g's groups gid[], on two threads split at about
 * half the work. */
static int merge_parallel(struct xctx *c, struct aggrun *g, const struct aggrun *w,
			  const uint32_t *gid, size_t n, size_t total)
{
	size_t cut = 0, acc = 0;
	while (cut < n && acc * 2 < total)
		acc += merge_work(w, cut++);
	struct mshare h[2];
	for (int t = 0; t < 2; t++) {
		h[t] = (struct mshare){.c = *c, .g = g, .w = w, .gid = gid};
		h[t].j0 = t ? cut : 0;
		h[t].j1 = t ? n : cut;
	}
	/* thread 0 is this one, with the query's arena and error */
	h[1].c.err = &h[1].err;
	h[1].c.rc = 0;
	sn_arena_init(&h[1].qa, c->mem_limit);
	h[1].c.qa = &h[1].qa;
	pthread_t th;
	bool started = sn_thread_start_beside(&th, merge_main, &h[1]) == 0;
	c->stats->merges_parallel += started;
	if (!started)
		merge_range(&h[1]); /* no thread: both shares here */
	merge_range(&h[0]);
	if (started)
		pthread_join(th, NULL);
	c->rc = h[0].c.rc;
	if (!c->rc && h[1].c.rc) {
		*c->err = h[1].err;
		c->rc = h[1].c.rc;
	}
	if (sn_arena_adopt(c->qa, &h[1].qa) && !c->rc)
		xnomem(c);
	sn_arena_release(&h[1].qa);
	return c->rc;
}

int agg_merge(struct xctx *c, struct aggrun *g, const struct aggrun *w)
{
	if (!g->nkeys) {
		if (!w->ngroups)
			return 0;
		if (single_group(c, g))
			return c->rc;
		for (size_t a = 0; a < g->naggs; a++)
			if (merge_state(c, &g->aggs[a], state_of(g, 0, a), state_of(w, 0, a)))
				return c->rc;
		return 0;
	}
	size_t total = 0, par = c->opts->merge_parallel_values ? c->opts->merge_parallel_values
							       : MERGE_PAR_VALUES;
	for (size_t j = 0; j < w->ngroups && total < par; j++)
		total += merge_work(w, j);
	uint32_t *gids = NULL;
	if (total >= par && w->ngroups > 1) {
		total = 0; /* the whole work, to split it */
		for (size_t j = 0; j < w->ngroups; j++)
			total += merge_work(w, j);
		if (!(gids = xalloc(c, c->qa, w->ngroups * sizeof(*gids))))
			return c->rc;
	}
	/* w's records in id order are its groups in order of first row: the
	 * new ones take g's next ids as if g's scanner had read w's rows. A
	 * window of them is hashed and prefetched first, as in group_ids. */
	struct gtab_iter it = {0, CHUNK_HEAD};
	size_t z = 0; /* w->negz are in id order */
	const uint8_t *key[WIN];
	size_t len[WIN];
	uint64_t h[WIN];
	uint32_t gid[WIN];
	for (size_t w0 = 0; w0 < w->ngroups; w0 += WIN) {
		size_t m = w->ngroups - w0 < WIN ? w->ngroups - w0 : WIN;
		for (size_t j = 0; j < m; j++) {
			len[j] = 0;
			key[j] = gtab_next(&w->tab, &it, &len[j]);
			h[j] = sn_hash64(key[j], len[j]);
			prefetch_slot(&g->tab, h[j]);
		}
		for (size_t j = 0; j < m; j++)
			prefetch_rec(&g->tab, h[j]);
		for (size_t j = 0; j < m; j++) {
			bool isnew;
			if (gtab_find_hashed(c, &g->tab, key[j], len[j], h[j], &gid[j], &isnew) ||
			    (isnew && new_group(c, g)))
				return c->rc;
			for (; z < w->nnegz && w->negz[z].id == w0 + j; z++)
				if (isnew && negzero_add(c, g, gid[j], w->negz[z].k))
					return c->rc;
			__builtin_prefetch(group_block(g, gid[j]), 1);
		}
		if (gids) {
			memcpy(gids + w0, gid, m * sizeof(*gid));
			continue;
		}
		for (size_t j = 0; j < m; j++) {
			for (size_t a = 0; a < g->naggs; a++)
				if (merge_state(c, &g->aggs[a], state_of(g, gid[j], a),
						state_of(w, w0 + j, a)))
					return c->rc;
		}
	}
	return gids ? merge_parallel(c, g, w, gids, w->ngroups, total) : 0;
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

/* ClickHouse's VarMoments: the population (samp: sample) variance from
 * the power sums, trimmed at 0, and the third and fourth central moments
 * (0 for one value). */
static double psums_var(const struct psums *p, double n, bool samp)
{
	if (samp ? n <= 1 : n == 0)
		return NAN;
	double v = (p->m[2] - p->m[1] * p->m[1] / n) / (samp ? n - 1 : n);
	return v > 0 ? v : 0;
}

static double psums_moment(const struct psums *p, double n, int k)
{
	if (n == 0)
		return NAN;
	if (n == 1)
		return 0;
	const double *m = p->m;
	if (k == 3)
		return (m[3] - (3 * m[2] - 2 * m[1] * m[1] / n) * m[1] / n) / n;
	return (m[4] - (4 * m[3] - (6 * m[2] - 3 * m[1] * m[1] / n) * m[1] / n) * m[1] / n) / n;
}

/* skewPop/Samp, kurtPop/Samp (nan where the variance is not positive) and
 * avgWeighted of a state; nan always positive (0.0 / 0.0 is -nan on x86),
 * as ClickHouse prints it. */
static double psums_value(const struct xagg *ag, const struct astate *st);
static double psums_result(const struct xagg *ag, const struct astate *st)
{
	double r = psums_value(ag, st);
	return isnan(r) ? NAN : r;
}

static double psums_value(const struct xagg *ag, const struct astate *st)
{
	static const struct psums zero;
	const struct psums *p = st->x.ps ? st->x.ps : &zero;
	double n = (double)st->cnt;
	if (ag->kind == AGG_AVG_WEIGHTED) {
		if (ag->arg_t == SN_XT_FLOAT || ag->arg2_t == SN_XT_FLOAT)
			return p->m[0] / p->m[1];
		if (ag->arg2_t == SN_XT_UINT || ag->arg2_t == SN_XT_BOOL)
			return (double)(uint64_t)p->ni / (double)(uint64_t)p->di;
		return (double)p->ni / (double)p->di;
	}
	bool samp = ag->kind == AGG_SKEW_SAMP || ag->kind == AGG_KURT_SAMP;
	bool skew = ag->kind == AGG_SKEW_POP || ag->kind == AGG_SKEW_SAMP;
	double var = psums_var(p, n, samp);
	if (!(var > 0))
		return NAN;
	return skew ? psums_moment(p, n, 3) / pow(var, 1.5) : psums_moment(p, n, 4) / (var * var);
}

/* The key vectors, decoded from the groups' key bytes (value_key's form:
 * type, NULL flag, then a length and the text or 8 bytes of number), as
 * vec_from_values builds them from values: strings point into the table's
 * records, which live as long as the query. */
static int final_keys(struct xctx *c, struct aggrun *g, struct vec *keyv)
{
	size_t ng = g->ngroups;
	for (size_t k = 0; k < g->nkeys; k++) {
		if (vec_make(c, &keyv[k], g->key_t[k], g->key_nullable[k], ng))
			return c->rc;
		keyv[k].ct = g->key_ct[k];
		keyv[k].sq = true; /* decoded from the table's records */
	}
	struct gtab_iter it = {0, CHUNK_HEAD};
	for (size_t id = 0; id < ng; id++) {
		size_t len = 0;
		const uint8_t *p = gtab_next(&g->tab, &it, &len);
		for (size_t k = 0; k < g->nkeys; k++) {
			struct vec *o = &keyv[k];
			uint8_t t = p[0];
			bool null = p[1];
			p += 2;
			if (null || t == SN_XT_NULL) {
				if (!null)
					p += 8; /* a NULL-typed value without its flag */
				if (o->nulls)
					o->nulls[id] = 1;
				continue;
			}
			if (sn_exec_type_has_bytes(t)) {
				uint32_t l = rd32(p);
				if (o->s)
					o->s[id] = (struct sn_str){(const char *)p + 4, l};
				p += 4 + (size_t)l;
				continue;
			}
			if (o->s)
				; /* a number in a text column: as vec_from_values, "" */
			else if (o->f && t == SN_XT_FLOAT)
				memcpy(&o->f[id], p, 8);
			else if (!o->f && t != SN_XT_FLOAT)
				memcpy(&o->i[id], p, 8);
			p += 8;
		}
	}
	for (size_t z = 0; z < g->nnegz; z++)
		if (keyv[g->negz[z].k].f)
			keyv[g->negz[z].k].f[g->negz[z].id] = -0.0;
	return 0;
}

/* Row id of o: aggregate ag's result from its state st. */
static inline void final_one(const struct xagg *ag, struct astate *st, struct vec *o, size_t id)
{
	bool null = false;
	switch (ag->kind) {
	case AGG_COUNT:
	case AGG_COUNT_X: o->i[id] = st->cnt; break;
	case AGG_UNIQ: o->i[id] = st->x.set ? (int64_t)st->x.set->n : 0; break;
	case AGG_WFUNNEL: o->i[id] = wfun_level(ag, st); break;
	case AGG_GROUP_ARRAY:
	case AGG_GROUP_UNIQ:
		if (st->x.arr) {
			memcpy(st->x.arr->p, &st->x.arr->n, 4);
			o->s[id] = (struct sn_str){(const char *)st->x.arr->p, st->x.arr->len};
		} else {
			o->s[id] = (struct sn_str){"\0\0\0\0", 4};
		}
		break;
	case AGG_SUM:
		null = ag->res_nullable && !st->cnt;
		if (o->f)
			o->f[id] = st->f;
		else
			o->i[id] = st->i;
		break;
	case AGG_AVG_DEC: /* Float64 (today's ClickHouse): sum / 10^S / count */
		null = ag->res_nullable && !st->cnt;
		o->f[id] =
		    st->cnt ? (double)dec_sum(st) / (double)xdec_p10[ag->iparam] / (double)st->cnt
			    : NAN;
		break;
	case AGG_AVG:
		null = ag->res_nullable && !st->cnt;
		/* 0 / 0 is -nan on x86; ClickHouse prints nan */
		/* integers sum in 64 bits (wrapping) as ClickHouse's avg
		 * numerator does, read unsigned for UInt64 (hash values) */
		o->f[id] = st->cnt ? (ag->arg_t == SN_XT_FLOAT	? st->f
				      : ag->arg_t == SN_XT_UINT ? (double)(uint64_t)st->i
								: (double)st->i) /
					 (double)st->cnt
				   : NAN;
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
	case AGG_AVG_WEIGHTED:
	case AGG_SKEW_POP:
	case AGG_SKEW_SAMP:
	case AGG_KURT_POP:
	case AGG_KURT_SAMP:
		null = ag->res_nullable && !st->cnt;
		o->f[id] = psums_result(ag, st);
		break;
	case AGG_BIT_AND:
	case AGG_BIT_OR:
	case AGG_BIT_XOR:
		/* over no rows: the starting value, all ones for AND (ClickHouse) */
		null = ag->res_nullable && !st->cnt;
		o->i[id] = st->cnt || ag->kind != AGG_BIT_AND ? st->i
			   : ag->arg_t == SN_XT_BOOL	      ? 0xff
							      : -1;
		break;
	case AGG_EVERY:
		null = ag->res_nullable && !(st->has && !st->val.null);
		o->i[id] = st->has && !st->val.null &&
			   (st->val.type == SN_XT_FLOAT ? st->val.f != 0 : st->val.i != 0);
		break;
	case AGG_DELTA_SUM:
		null = ag->res_nullable && !st->has;
		if (o->f)
			o->f[id] = st->has ? st->x.ds->sf : 0;
		else
			o->i[id] = st->has ? st->x.ds->si : 0;
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

/* quantiles(...)(x) of group id into o: an array of quantile's answer at
 * each level (nan, or 0 for dates, over no values). */
static int quantiles_put(struct xctx *c, const struct xagg *ag, struct astate *st, struct vec *o,
			 size_t id)
{
	uint8_t et =
	    ag->arg_t == SN_XT_DATE || ag->arg_t == SN_XT_DATETIME ? ag->arg_t : SN_XT_FLOAT;
	size_t len = 4 + ag->nlevels * 9;
	uint8_t *p = xalloc(c, c->ba, len);
	if (!p)
		return c->rc;
	uint32_t cnt = (uint32_t)ag->nlevels;
	memcpy(p, &cnt, 4);
	struct xagg one = *ag;
	one.kind = AGG_QUANTILE;
	for (size_t k = 0; k < ag->nlevels; k++) {
		double f = NAN;
		int64_t i = 0;
		struct vec v = {.t = et, .n = 1};
		if (et == SN_XT_FLOAT)
			v.f = &f;
		else
			v.i = &i;
		one.level = ag->levels[k];
		if (st->x.vals && st->x.vals->n)
			quantile_put(&one, st->x.vals, &v, 0);
		p[4 + 9 * k] = et;
		if (et == SN_XT_FLOAT)
			memcpy(p + 5 + 9 * k, &f, 8);
		else
			memcpy(p + 5 + 9 * k, &i, 8);
	}
	o->s[id] = (struct sn_str){(const char *)p, len};
	return 0;
}

static int tkent_cmp(const void *a, const void *b)
{
	const struct tkent *x = *(const struct tkent *const *)a,
			   *y = *(const struct tkent *const *)b;
	if (x->cnt != y->cnt)
		return x->cnt > y->cnt ? -1 : 1;
	return (x->last > y->last) - (x->last < y->last);
}

/* One encoded number element (tag, 8 bytes) at p. */
static void put_num(uint8_t *p, uint8_t t, int64_t i, double f)
{
	p[0] = t;
	if (t == SN_XT_FLOAT)
		memcpy(p + 1, &f, 8);
	else
		memcpy(p + 1, &i, 8);
}

/* The array and tuple results made at the end (batch arena): topK's k
 * most frequent values (see topk_add), the moving sums and averages, and
 * simpleLinearRegression's (k, b). */
static int final_alloc(struct xctx *c, const struct xagg *ag, struct astate *st, struct vec *o,
		       size_t id)
{
	uint8_t *p;
	uint32_t cnt = 0;
	size_t len = 4;
	if (ag->kind == AGG_SUM_MAP || ag->kind == AGG_MIN_MAP || ag->kind == AGG_MAX_MAP)
		return smap_final(c, ag, st, o, id);
	if (ag->kind == AGG_TOPK) {
		const struct topk *tk = st->x.tk;
		size_t n = tk ? tk->n : 0, k = n < ag->iparam ? n : (size_t)ag->iparam;
		const struct tkent **ord = xalloc(c, c->ba, (n + 1) * sizeof(*ord));
		if (!ord)
			return c->rc;
		for (size_t j = 0; j < n; j++)
			ord[j] = &tk->e[j];
		qsort(ord, n, sizeof(*ord), tkent_cmp);
		for (size_t j = 0; j < k; j++)
			len += ord[j]->len;
		if (!(p = xalloc(c, c->ba, len)))
			return c->rc;
		len = 4;
		for (size_t j = 0; j < k; j++) {
			memcpy(p + len, tk->bytes + ord[j]->off, ord[j]->len);
			len += ord[j]->len;
		}
		cnt = (uint32_t)k;
	} else if (ag->kind == AGG_SLR) {
		static const struct psums zero;
		const struct psums *s = st->x.ps ? st->x.ps : &zero;
		double n = (double)st->cnt, d = s->m[3] * n - s->m[1] * s->m[1];
		double k = d == 0 ? NAN : (s->m[4] * n - s->m[1] * s->m[2]) / d;
		double b = n == 0 ? NAN : (s->m[2] - k * s->m[1]) / n;
		k = isnan(k) ? NAN : k;
		b = isnan(b) ? NAN : b;
		if (!(p = xalloc(c, c->ba, len + 18)))
			return c->rc;
		put_num(p + 4, SN_XT_FLOAT, 0, k);
		put_num(p + 13, SN_XT_FLOAT, 0, b);
		len += 18;
		cnt = 2;
	} else { /* the moving sums and averages, from running sums */
		const struct qvals *q = st->x.vals;
		size_t n = q ? q->n : 0, w = ag->iparam ? (size_t)ag->iparam : n;
		uint8_t et = ag->kind == AGG_MOVING_AVG || ag->arg_t == SN_XT_FLOAT ? SN_XT_FLOAT
			     : ag->arg_t == SN_XT_UINT || ag->arg_t == SN_XT_BOOL   ? SN_XT_UINT
										    : SN_XT_INT;
		if (n > (UINT32_MAX - 4) / 9)
			return xfail(c, ag->call, SN_ERR_TOO_BIG, "QueryError",
				     "%s() of a group grew past 4 GiB", ag->call->name);
		double *pf = xalloc(c, c->ba, (n + 1) * sizeof(*pf));
		int64_t *pi = xalloc(c, c->ba, (n + 1) * sizeof(*pi));
		if (!pf || !pi || !(p = xalloc(c, c->ba, len + 9 * n)))
			return c->rc;
		double sf = 0;
		uint64_t si = 0;
		for (size_t j = 0; j < n; j++) {
			double x = q->f			     ? q->f[j]
				   : ag->arg_t == SN_XT_UINT ? (double)(uint64_t)q->i[j]
							     : (double)q->i[j];
			pf[j] = sf += x;
			pi[j] = q->f ? 0 : (int64_t)(si += (uint64_t)q->i[j]);
		}
		for (size_t j = 0; j < n; j++) {
			double f = pf[j] - (j >= w ? pf[j - w] : 0);
			int64_t i = (int64_t)((uint64_t)pi[j] - (j >= w ? (uint64_t)pi[j - w] : 0));
			if (et == SN_XT_FLOAT && ag->kind == AGG_MOVING_AVG)
				f /= (double)w;
			put_num(p + len, et, i, f);
			len += 9;
		}
		cnt = (uint32_t)n;
	}
	memcpy(p, &cnt, 4);
	o->s[id] = (struct sn_str){(const char *)p, len};
	return 0;
}

static bool alloc_final(uint8_t kind)
{
	return kind == AGG_QUANTILES || kind == AGG_TOPK || kind == AGG_SLR ||
	       kind == AGG_MOVING_SUM || kind == AGG_MOVING_AVG || kind == AGG_SUM_MAP ||
	       kind == AGG_MIN_MAP || kind == AGG_MAX_MAP;
}

/* ---- aggregate states as values (-State, -Merge, finalizeAggregation) ----------------- */

/*
 * fState(x) answers with its group's state instead of its result: the
 * state serialised into the bytes of an SN_XT_AGGSTATE value whose type
 * (vec.ct) is ClickHouse's AggregateFunction(f, T1, ...). Being bytes, a
 * state is copied with its row through subqueries, CTEs, joins, UNION ALL
 * and the merge of two scanners like any string; a pointer into a live
 * struct astate would dangle once a statement's groups are gone. fMerge(s)
 * reads each row's state and merges it into its group's state with
 * merge_state, the code that joins two scanners' groups, so its answer is
 * the one a single aggregate over all the underlying rows gives.
 *
 * The format is snout's own (states never leave a query), checked before
 * anything is read: a header, the state, the XXH3 of both.
 *
 *   [magic "SNS1" u32][kind u8][flags u8][0 u16][payload bytes u64]
 *   [payload, 8-byte fields, byte strings padded to 8][xxh3 u64]
 *
 * The payload is the astate's fields the kind uses: counts and sums; a
 * uniq set's keys (n, then n keys of 4 or 8 bytes, unordered); the values
 * a quantile kept, in arrival order; a kept value ([type, null, tbool,
 * 0 ...][i][f][len][bytes]); Welford's moments; the encoded array of
 * groupArray; topK's entries (count, last position, length) and their
 * bytes; the power sums; deltaSum's first, last and sum.
 */

#define STATE_MAGIC 0x31534e53u /* "SNS1" */
#define STATE_HEAD  16
#define SF_HAS	    1 /* st->has */
#define SF_ALT	    2 /* uniq: 32-bit keys; quantiles: Float64 values */

/* Whether kind has a state this file can write and read. */
static bool state_kind(uint8_t kind)
{
	return kind != AGG_EVERY && kind != AGG_MERGE;
}

static void sw_f64(struct swr *w, double x)
{
	sw_put(w, &x, 8);
}

static void sw_pad(struct swr *w)
{
	static const uint8_t zero[8];
	sw_put(w, zero, (8 - w->n % 8) % 8);
}

static void sw_value(struct swr *w, const struct sn_exec_value *v, bool has)
{
	uint8_t h[8] = {has ? v->type : SN_XT_NULL, !has || v->null, has && v->tbool};
	sw_put(w, h, 8);
	sw_u64(w, has ? (uint64_t)v->i : 0);
	sw_f64(w, has ? v->f : 0);
	size_t len = has && !v->null && sn_exec_type_has_bytes(v->type) ? v->s.len : 0;
	sw_u64(w, len);
	sw_put(w, v->s.p, len);
	sw_pad(w);
}

/* st's payload (see above) and its flags. */
static void state_payload(struct swr *w, const struct xagg *ag, const struct astate *st,
			  uint8_t *flags)
{
	static const struct sn_exec_value none;
	/* a count's, sum's or avg's state ends before has (state_bytes) */
	bool full = state_bytes(ag->kind) == sizeof(struct astate);
	*flags = full && st->has ? SF_HAS : 0;
	switch (ag->kind) {
	case AGG_UNIQ: {
		const struct hset *s = st->x.set;
		*flags |= ag->narrow ? SF_ALT : 0;
		sw_u64(w, s ? s->n : 0);
		for (size_t k = 0; s && k < s->cap; k++) {
			uint64_t e = hset_at(s, k);
			uint32_t e32 = (uint32_t)e;
			if (e)
				sw_put(w, ag->narrow ? (const void *)&e32 : (const void *)&e,
				       ag->narrow ? 4 : 8);
		}
		sw_pad(w);
		return;
	}
	case AGG_QUANTILE:
	case AGG_QUANTILE_EXACT:
	case AGG_QUANTILES:
	case AGG_MOVING_SUM:
	case AGG_MOVING_AVG: {
		const struct qvals *q = st->x.vals;
		*flags |= ag->arg_t == SN_XT_FLOAT ? SF_ALT : 0;
		sw_u64(w, q ? q->n : 0);
		if (q && q->n)
			sw_put(w, q->f ? (const void *)q->f : (const void *)q->i, q->n * 8);
		return;
	}
	case AGG_MIN:
	case AGG_MAX:
	case AGG_ANY:
	case AGG_ANY_LAST:
	case AGG_ANY_HEAVY:
		sw_u64(w, (uint64_t)st->cnt);
		sw_value(w, &st->val, st->has);
		return;
	case AGG_ARG_MIN:
	case AGG_ARG_MAX:
		sw_value(w, &st->val, st->has);
		sw_value(w, st->x.arg ? &st->x.arg->key : &none, st->has);
		return;
	case AGG_VAR_POP:
	case AGG_VAR_SAMP:
	case AGG_STDDEV_POP:
	case AGG_STDDEV_SAMP:
	case AGG_COVAR_POP:
	case AGG_COVAR_SAMP:
	case AGG_CORR: {
		static const struct moments zero;
		const struct moments *m = st->x.mom ? st->x.mom : &zero;
		sw_u64(w, (uint64_t)st->cnt);
		sw_f64(w, m->mx);
		sw_f64(w, m->my);
		sw_f64(w, m->m2x);
		sw_f64(w, m->m2y);
		sw_f64(w, m->cxy);
		return;
	}
	case AGG_VAR_DEC: { /* the count, then the exact power sums, 128 bits each */
		static const struct dmom zero;
		const struct dmom *m = st->x.dm ? st->x.dm : &zero;
		sw_u64(w, (uint64_t)st->cnt);
		sw_put(w, &m->m1, sizeof(m->m1));
		sw_put(w, &m->m2, sizeof(m->m2));
		return;
	}
	case AGG_GROUP_ARRAY:
	case AGG_GROUP_UNIQ: {
		const struct garr *a = st->x.arr;
		uint32_t n = a ? a->n : 0;
		sw_u64(w, n);
		sw_u64(w, a ? a->len : 4);
		sw_put(w, &n, 4);
		if (a)
			sw_put(w, a->p + 4, a->len - 4);
		sw_pad(w);
		return;
	}
	case AGG_TOPK: {
		const struct topk *t = st->x.tk;
		size_t n = t ? t->n : 0, blen = 0;
		sw_u64(w, t ? (uint64_t)t->rows : 0);
		sw_u64(w, n);
		for (size_t k = 0; k < n; k++) {
			sw_u64(w, (uint64_t)t->e[k].cnt);
			sw_u64(w, (uint64_t)t->e[k].last);
			sw_u64(w, t->e[k].len);
			blen += t->e[k].len;
		}
		sw_u64(w, blen);
		for (size_t k = 0; k < n; k++)
			sw_put(w, t->bytes + t->e[k].off, t->e[k].len);
		sw_pad(w);
		return;
	}
	case AGG_AVG_WEIGHTED:
	case AGG_SKEW_POP:
	case AGG_SKEW_SAMP:
	case AGG_KURT_POP:
	case AGG_KURT_SAMP:
	case AGG_SLR: {
		static const struct psums zero;
		const struct psums *p = st->x.ps ? st->x.ps : &zero;
		sw_u64(w, (uint64_t)st->cnt);
		for (int k = 0; k < 5; k++)
			sw_f64(w, p->m[k]);
		sw_u64(w, (uint64_t)p->ni);
		sw_u64(w, (uint64_t)p->di);
		return;
	}
	case AGG_SUM_MAP:
	case AGG_MIN_MAP:
	case AGG_MAX_MAP: { /* per key: its encoded bytes, then a value per column */
		const struct smap *m = (const struct smap *)st->x.tk;
		size_t n = m ? m->keys.n : 0, nv = ag->map_nv;
		sw_u64(w, nv);
		sw_u64(w, n);
		for (size_t k = 0; k < n; k++) {
			const struct tkent *e = &m->keys.e[k];
			sw_u64(w, e->len);
			sw_put(w, m->keys.bytes + e->off, e->len);
			sw_pad(w);
			for (size_t j = 0; j < nv; j++)
				sw_value(w, &m->v[k * nv + j].x, m->v[k * nv + j].has);
		}
		return;
	}
	case AGG_WFUNNEL: /* the entries in insertion order (has: out of time order) */
		sw_u64(w, (uint64_t)st->cnt);
		for (size_t k = 0; k < (size_t)st->cnt; k++) {
			sw_u64(w, (uint64_t)st->x.wfv[k].ts);
			sw_u64(w, st->x.wfv[k].cond);
		}
		return;
	case AGG_DELTA_SUM: {
		static const struct dsum zero;
		const struct dsum *d = st->x.ds ? st->x.ds : &zero;
		sw_u64(w, (uint64_t)d->si);
		sw_u64(w, (uint64_t)d->fi);
		sw_u64(w, (uint64_t)d->li);
		sw_f64(w, d->sf);
		sw_f64(w, d->ff);
		sw_f64(w, d->lf);
		return;
	}
	default: /* count, sum, avg, groupBit*: the count and the sums */
		sw_u64(w, (uint64_t)st->cnt);
		sw_u64(w, (uint64_t)st->i);
		sw_f64(w, st->f);
		return;
	}
}

/* count() and count(x) keep one state: its kind in the header is count's. */
static uint8_t state_tag(uint8_t kind)
{
	return kind == AGG_COUNT_X ? AGG_COUNT : kind;
}

/* st serialised into *out (batch arena). */
static int state_write(struct xctx *c, const struct xagg *ag, const struct astate *st,
		       struct sn_str *out)
{
	uint8_t flags;
	struct swr w = {NULL, STATE_HEAD};
	state_payload(&w, ag, st, &flags);
	size_t len = w.n + 8;
	uint8_t *p = xalloc(c, c->ba, len);
	if (!p)
		return c->rc;
	w = (struct swr){p, STATE_HEAD};
	state_payload(&w, ag, st, &flags);
	uint32_t magic = STATE_MAGIC;
	uint64_t plen = w.n - STATE_HEAD;
	memcpy(p, &magic, 4);
	p[4] = state_tag(ag->kind);
	p[5] = flags;
	p[6] = p[7] = 0;
	memcpy(p + 8, &plen, 8);
	uint64_t h = sn_hash64(p, w.n);
	memcpy(p + w.n, &h, 8);
	*out = (struct sn_str){(const char *)p, len};
	return 0;
}

/* A reader of a payload; bad once a read went past its end. */
struct srd {
	const uint8_t *p;
	size_t n, at;
	bool bad;
};

static const uint8_t *sr_take(struct srd *r, size_t len)
{
	if (r->bad || len > r->n - r->at) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *q = r->p + r->at;
	r->at += len;
	return q;
}

static uint64_t sr_u64(struct srd *r)
{
	const uint8_t *q = sr_take(r, 8);
	return q ? rd64(q) : 0;
}

static double sr_f64(struct srd *r)
{
	const uint8_t *q = sr_take(r, 8);
	double x = 0;
	if (q)
		memcpy(&x, q, 8);
	return x;
}

static void sr_pad(struct srd *r)
{
	sr_take(r, (8 - r->at % 8) % 8);
}

static void sr_value(struct srd *r, struct sn_exec_value *v)
{
	memset(v, 0, sizeof(*v));
	const uint8_t *h = sr_take(r, 8);
	if (h) {
		v->type = h[0];
		v->null = h[1];
		v->tbool = h[2];
	}
	v->i = (int64_t)sr_u64(r);
	v->f = sr_f64(r);
	uint64_t len = sr_u64(r);
	const uint8_t *s = sr_take(r, len);
	v->s = (struct sn_str){s ? (const char *)s : "", s ? len : 0};
	sr_pad(r);
	if (v->type > SN_XT_DECIMAL || (len && !sn_exec_type_has_bytes(v->type)))
		r->bad = true;
}

static int state_bad(struct xctx *c, const struct xagg *ag)
{
	return xfail(c, ag->call, SN_ERR_INVALID, "QueryError",
		     "Aggregate function %s was given a malformed state or the state of another "
		     "aggregate function",
		     ag->call->name);
}

/* Checks the state s of an aggregate of kind in->kind (header, length,
 * hash) and opens a reader on its payload. */
static int state_open(struct xctx *c, const struct xagg *ag, const struct xagg *in, struct sn_str s,
		      struct srd *r, uint8_t *flags)
{
	const uint8_t *p = (const uint8_t *)s.p;
	if (s.len < STATE_HEAD + 8 || rd32(p) != STATE_MAGIC || p[4] != state_tag(in->kind) ||
	    rd64(p + 8) != s.len - STATE_HEAD - 8 || sn_hash64(p, s.len - 8) != rd64(p + s.len - 8))
		return state_bad(c, ag);
	*flags = p[5];
	*r = (struct srd){p + STATE_HEAD, s.len - STATE_HEAD - 8, 0, false};
	return 0;
}

static int merge_state(struct xctx *c, const struct xagg *ag, struct astate *m,
		       const struct astate *w);

/* Merges the state s (bytes of an AggregateFunction value) into st, for
 * ag, an AGG_MERGE (or finalizeAggregation's stand-in for one). What
 * merge_state reads is set up on the stack, pointing into s; sets and
 * value lists are added from s directly (their numbers are not aligned
 * there). */
static int merge_blob(struct xctx *c, const struct xagg *ag, struct astate *st, struct sn_str s)
{
	const struct xagg *in = ag->inner;
	struct srd r;
	uint8_t fl = 0;
	if (state_open(c, ag, in, s, &r, &fl))
		return c->rc;
	struct astate w;
	memset(&w, 0, sizeof(w));
	w.has = fl & SF_HAS;
	struct moments mo;
	struct dmom dm;
	struct argext ae;
	struct garr ga;
	struct psums ps;
	struct dsum ds;
	switch (in->kind) {
	case AGG_UNIQ: {
		bool narrow = fl & SF_ALT;
		size_t n = (size_t)sr_u64(&r), w8 = narrow ? 4 : 8;
		const uint8_t *k = n <= r.n / w8 ? sr_take(&r, n * w8) : NULL;
		if (!k || narrow != in->narrow)
			return state_bad(c, ag);
		for (size_t j = 0; j < n; j++)
			if (hset_put(c, st, narrow ? rd32(k + j * 4) : rd64(k + j * 8), narrow))
				return c->rc;
		sr_pad(&r);
		break;
	}
	case AGG_QUANTILE:
	case AGG_QUANTILE_EXACT:
	case AGG_QUANTILES:
	case AGG_MOVING_SUM:
	case AGG_MOVING_AVG: {
		bool flt = fl & SF_ALT;
		size_t n = (size_t)sr_u64(&r);
		const uint8_t *v = n <= r.n / 8 ? sr_take(&r, n * 8) : NULL;
		if ((!v && n) || flt != (in->arg_t == SN_XT_FLOAT))
			return state_bad(c, ag);
		for (size_t j = 0; j < n; j++) {
			double f;
			memcpy(&f, v + j * 8, 8);
			if (vals_push(c, st, flt, (int64_t)rd64(v + j * 8), f))
				return c->rc;
		}
		break;
	}
	case AGG_MIN:
	case AGG_MAX:
	case AGG_ANY:
	case AGG_ANY_LAST:
	case AGG_ANY_HEAVY:
		w.cnt = (int64_t)sr_u64(&r);
		sr_value(&r, &w.val);
		break;
	case AGG_ARG_MIN:
	case AGG_ARG_MAX:
		memset(&ae, 0, sizeof(ae));
		sr_value(&r, &w.val);
		sr_value(&r, &ae.key);
		w.x.arg = &ae;
		break;
	case AGG_VAR_POP:
	case AGG_VAR_SAMP:
	case AGG_STDDEV_POP:
	case AGG_STDDEV_SAMP:
	case AGG_COVAR_POP:
	case AGG_COVAR_SAMP:
	case AGG_CORR:
		w.cnt = (int64_t)sr_u64(&r);
		mo.mx = sr_f64(&r);
		mo.my = sr_f64(&r);
		mo.m2x = sr_f64(&r);
		mo.m2y = sr_f64(&r);
		mo.cxy = sr_f64(&r);
		w.x.mom = &mo;
		break;
	case AGG_VAR_DEC: {
		w.cnt = (int64_t)sr_u64(&r);
		const void *m1 = sr_take(&r, sizeof(dm.m1)), *m2 = sr_take(&r, sizeof(dm.m2));
		if (!m1 || !m2)
			return state_bad(c, ag);
		memcpy(&dm.m1, m1, sizeof(dm.m1));
		memcpy(&dm.m2, m2, sizeof(dm.m2));
		w.x.dm = &dm;
		break;
	}
	case AGG_GROUP_ARRAY:
	case AGG_GROUP_UNIQ: {
		memset(&ga, 0, sizeof(ga));
		uint64_t n = sr_u64(&r), len = sr_u64(&r);
		ga.p = (uint8_t *)sr_take(&r, len);
		if (!ga.p || len < 4 || rd32(ga.p) != n)
			return state_bad(c, ag);
		ga.len = len;
		ga.n = (uint32_t)n;
		w.x.arr = &ga;
		sr_pad(&r);
		break;
	}
	case AGG_TOPK: {
		int64_t rows = (int64_t)sr_u64(&r);
		size_t n = (size_t)sr_u64(&r);
		const uint8_t *e = n <= r.n / 24 ? sr_take(&r, n * 24) : NULL;
		uint64_t blen = sr_u64(&r);
		const uint8_t *b = sr_take(&r, blen);
		if ((!e && n) || !b)
			return state_bad(c, ag);
		/* these rows come after st's: positions move past them */
		int64_t base = st->x.tk ? st->x.tk->rows : 0;
		for (size_t j = 0, off = 0; j < n; j++) {
			uint64_t len = rd64(e + j * 24 + 16);
			if (len > blen - off)
				return state_bad(c, ag);
			if (topk_add(c, in, st, b + off, len, (int64_t)rd64(e + j * 24),
				     base + (int64_t)rd64(e + j * 24 + 8)))
				return c->rc;
			off += len;
		}
		if (st->x.tk)
			st->x.tk->rows = base + rows;
		sr_pad(&r);
		break;
	}
	case AGG_SUM_MAP:
	case AGG_MIN_MAP:
	case AGG_MAX_MAP: {
		/* each key's values applied to st's, as smap_merge does */
		size_t nv = (size_t)sr_u64(&r), n = (size_t)sr_u64(&r);
		if (nv != in->map_nv)
			return state_bad(c, ag);
		for (size_t k = 0; k < n && !r.bad; k++) {
			size_t len = (size_t)sr_u64(&r);
			const uint8_t *key = sr_take(&r, len);
			sr_pad(&r);
			struct smv *sl = key ? smap_slots(c, in, st, key, len) : NULL;
			if (!sl)
				return c->rc ? c->rc : state_bad(c, ag);
			for (size_t j = 0; j < nv; j++) {
				struct sn_exec_value x;
				sr_value(&r, &x);
				if (!r.bad && smv_apply(c, in->kind, &sl[j], &x))
					return c->rc;
			}
		}
		break;
	}
	case AGG_WFUNNEL: {
		/* after st's entries (ties in time keep that order) */
		size_t n = (size_t)sr_u64(&r);
		const uint8_t *e = n <= r.n / 16 ? sr_take(&r, n * 16) : NULL;
		if (!e && n)
			return state_bad(c, ag);
		for (size_t j = 0; j < n; j++) {
			uint64_t cond = rd64(e + j * 16 + 8);
			if (cond < 1 || cond >= in->nargs)
				return state_bad(c, ag);
			if (wfun_push(c, st, (int64_t)rd64(e + j * 16), (uint8_t)cond))
				return c->rc;
		}
		break;
	}
	case AGG_AVG_WEIGHTED:
	case AGG_SKEW_POP:
	case AGG_SKEW_SAMP:
	case AGG_KURT_POP:
	case AGG_KURT_SAMP:
	case AGG_SLR:
		w.cnt = (int64_t)sr_u64(&r);
		for (int k = 0; k < 5; k++)
			ps.m[k] = sr_f64(&r);
		ps.ni = (int64_t)sr_u64(&r);
		ps.di = (int64_t)sr_u64(&r);
		w.x.ps = &ps;
		break;
	case AGG_DELTA_SUM:
		ds.si = (int64_t)sr_u64(&r);
		ds.fi = (int64_t)sr_u64(&r);
		ds.li = (int64_t)sr_u64(&r);
		ds.sf = sr_f64(&r);
		ds.ff = sr_f64(&r);
		ds.lf = sr_f64(&r);
		w.x.ds = &ds;
		break;
	default: /* count, sum, avg, groupBit* */
		w.cnt = (int64_t)sr_u64(&r);
		w.i = (int64_t)sr_u64(&r);
		w.f = sr_f64(&r);
		break;
	}
	if (r.bad || r.at != r.n)
		return state_bad(c, ag);
	switch (in->kind) {
	case AGG_UNIQ:
	case AGG_QUANTILE:
	case AGG_QUANTILE_EXACT:
	case AGG_QUANTILES:
	case AGG_MOVING_SUM:
	case AGG_MOVING_AVG:
	case AGG_WFUNNEL:
	case AGG_SUM_MAP:
	case AGG_MIN_MAP:
	case AGG_MAX_MAP:
	case AGG_TOPK: return 0; /* added above */
	default: return merge_state(c, in, st, &w);
	}
}

/* sum of a Decimal: ClickHouse's Decimal128(S), kept in 64 bits here, so a
 * sum that does not fit is an error, never a wrapped number. */
static int final_dec_sum(struct xctx *c, const struct xagg *ag, struct astate *st, struct vec *o,
			 size_t id)
{
	__int128 v = dec_sum(st);
	if (o->nulls)
		o->nulls[id] = ag->res_nullable && !st->cnt;
	if (v < INT64_MIN || v > INT64_MAX)
		return xfail(c, ag->call, SN_ERR_INVALID, "QueryError",
			     "Decimal overflow: the sum does not fit %s, which is kept in 64 bits "
			     "here",
			     o->ct ? o->ct : "Decimal128");
	o->i[id] = (int64_t)v;
	return 0;
}

/* Group id's answer of ag (not a -State) from its state into o: the one
 * place that knows which aggregates answer how (agg_final and
 * finalizeAggregation both call it). */
static int final_value(struct xctx *c, const struct xagg *ag, struct astate *st, struct vec *o,
		       size_t id)
{
	if (ag->kind == AGG_QUANTILES)
		return quantiles_put(c, ag, st, o, id);
	if (alloc_final(ag->kind))
		return final_alloc(c, ag, st, o, id);
	if (ag->kind == AGG_SUM_DEC)
		return final_dec_sum(c, ag, st, o, id);
	if (ag->kind == AGG_VAR_DEC) {
		if (dmom_result(c, ag, st, &o->f[id]))
			return c->rc;
		if (o->nulls)
			o->nulls[id] = ag->res_nullable && !st->cnt;
		return 0;
	}
	if (ag->res_t != SN_XT_NULL) /* else vec_make made every row NULL */
		final_one(ag, st, o, id);
	return 0;
}

int agg_final(struct xctx *c, struct aggrun *g, struct vec *keyv, struct vec *aggv)
{
	size_t ng = g->ngroups;
	const struct xagg *fin[XMAX_AGGS]; /* what answers: an fMerge's f */
	if (final_keys(c, g, keyv))
		return c->rc;
	for (size_t a = 0; a < g->naggs; a++) {
		const struct xagg *ag = &g->aggs[a];
		fin[a] = ag->kind == AGG_MERGE ? ag->inner : ag;
		if (vec_make(c, &aggv[a], ag->res_t, ag->res_nullable, ng))
			return c->rc;
		aggv[a].ct = ag->res_ct;
		/* states keep their text in the query arena; quantiles' arrays and
		 * serialised states are made in the batch's */
		aggv[a].sq =
		    !ag->state && fin[a]->kind != AGG_QUANTILES && !alloc_final(fin[a]->kind);
	}
	/* group by group: one pass over the states, in memory order */
	for (size_t id = 0; id < ng; id++)
		for (size_t a = 0; a < g->naggs; a++) {
			struct astate *st = state_of(g, id, a);
			if (g->aggs[a].state ? state_write(c, fin[a], st, &aggv[a].s[id])
					     : final_value(c, fin[a], st, &aggv[a], id))
				return c->rc;
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

/* sumMap, minMap, maxMap: the argument's form, the value columns' result
 * types and the result type (see smap_final). sumMap sums numbers into
 * Int64, UInt64 or Float64 (ClickHouse promotes them so); minMap and
 * maxMap keep the value type, without Nullable, for key and value arrays. */
static int smap_type(struct xctx *c, struct xagg *ag)
{
	const char *name = ag->call->name;
	struct {
		uint8_t t;
		bool nullable;
		const char *ct;
	} el[XMAX_AGG_ARGS + 1];
	size_t ncols = 0;
	uint8_t *vt = xalloc(c, c->qa, XMAX_AGG_ARGS + 1);
	if (!vt)
		return c->rc;
	bool is_map = ag->nargs == 1 && ag->arg_t == SN_XT_ARRAY && ag->arg_ct &&
		      strncmp(ag->arg_ct, "Map(", 4) == 0;
	ag->map_form = is_map ? 2 : ag->nargs == 1 ? 1 : 0;
	if (ag->map_form == 1 && ag->arg_t != SN_XT_TUPLE)
		return xfail(c, ag->call, SN_ERR_INVALID, "QueryError",
			     "When function %s gets one argument it must be a tuple of arrays or a "
			     "map",
			     name);
	if (ag->map_form == 2 || ag->map_form == 1) {
		/* the Map's (key, value) tuple, or the tuple's arrays */
		const char *ct = ag->arg_ct;
		uint8_t t;
		bool nl;
		const char *ect;
		if (is_map) {
			if (xarr_elem(c, ct, 0, &t, &nl, &ect))
				return c->rc;
			ct = ect;
		}
		ncols = xtuple_arity(ct);
		for (size_t k = 0; k < ncols && k <= XMAX_AGG_ARGS; k++) {
			if (xarr_elem(c, ct, k, &t, &nl, &ect))
				return c->rc;
			if (!is_map && (t != SN_XT_ARRAY || (ect && strncmp(ect, "Map(", 4) == 0)))
				return xfail(c, ag->call, SN_ERR_INVALID, "QueryError",
					     "Function %s expects a tuple of arrays", name);
			if (!is_map && xarr_elem(c, ect, 0, &t, &nl, &ect))
				return c->rc;
			el[k].t = t;
			el[k].nullable = nl;
			el[k].ct = ect;
		}
	} else {
		for (size_t k = 0; k < ag->nargs; k++) {
			struct vec v = {0};
			if (ag->args_ct ? xarr_elem(c, ag->args_ct, k + 1, &v.t, &v.nullable, &v.ct)
					: xeval(c, ag->args[k], &v))
				return c->rc;
			if (v.t != SN_XT_ARRAY || (v.ct && strncmp(v.ct, "Map(", 4) == 0)) {
				char tn[160];
				snprintf(tn, sizeof(tn), "%s",
					 xtype_name(c, v.t, v.nullable, v.ct));
				return xfail(c, ag->args[k], SN_ERR_INVALID, "QueryError",
					     "Argument %zu of function %s must be an array, not %s",
					     k + 1, name, tn);
			}
			if (xarr_elem(c, v.ct, 0, &el[k].t, &el[k].nullable, &el[k].ct))
				return c->rc;
		}
		ncols = ag->nargs;
	}
	if (ncols < 2 || ncols > XMAX_AGG_ARGS)
		return xfail(
		    c, ag->call, SN_ERR_INVALID, "QueryError",
		    "Aggregate function %s requires at least two arrays (keys and values), "
		    "a tuple of them or a map",
		    name);
	ag->map_nv = (uint8_t)(ncols - 1);
	ag->map_vt = vt;
	for (size_t j = 0; j < ag->map_nv; j++) {
		uint8_t t = el[j + 1].t;
		if (ag->kind == AGG_SUM_MAP
			? !is_numeric(t)
			: t == SN_XT_NULL || t == SN_XT_ARRAY || t == SN_XT_TUPLE) {
			char tn[160];
			snprintf(tn, sizeof(tn), "%s",
				 xtype_name(c, t, el[j + 1].nullable, el[j + 1].ct));
			return xfail(c, ag->call, SN_ERR_INVALID, "QueryError",
				     "Illegal type %s of values for aggregate function %s (%s)", tn,
				     name,
				     ag->kind == AGG_SUM_MAP ? "they must be numbers"
							     : "they must be scalars");
		}
		vt[j] = ag->kind != AGG_SUM_MAP ? t
			: t == SN_XT_FLOAT	? SN_XT_FLOAT
			: t == SN_XT_INT	? SN_XT_INT
						: SN_XT_UINT;
	}
	ag->res_nullable = false;
	if (is_map) {
		ag->res_t = SN_XT_ARRAY;
		ag->res_ct = xmap_type(c, el[0].t, el[0].ct, vt[0], el[1].nullable, el[1].ct);
		return ag->res_ct ? 0 : c->rc;
	}
	struct sn_buf b;
	sn_buf_init(&b, (size_t)1 << 20);
	const char *kt = xarr_type(c, el[0].t, el[0].nullable, el[0].ct);
	int rc = !kt || sn_buf_appends(&b, "Tuple(") || sn_buf_appends(&b, kt);
	for (size_t j = 0; !rc && j < ag->map_nv; j++) {
		const char *at = xarr_type(c, vt[j], false, NULL);
		rc = !at || sn_buf_appends(&b, ", ") || sn_buf_appends(&b, at);
	}
	if (!rc)
		rc = sn_buf_appends(&b, ")") || sn_buf_appendc(&b, 0);
	char *ct = rc ? NULL : xalloc(c, c->qa, b.len);
	if (ct)
		memcpy(ct, b.data, b.len);
	sn_buf_release(&b);
	if (!ct)
		return c->rc ? c->rc : xnomem(c);
	ag->res_t = SN_XT_TUPLE;
	ag->res_ct = ct;
	return 0;
}

/* ag's argument types (arg_t, arg2_t ...) from the current batch: whether
 * one is Nullable, whether one is the NULL literal. */
static int type_args(struct xctx *c, struct xagg *ag, bool *nullable_out, bool *null_out)
{
	struct vec v;
	bool nullable = false, null_literal = false;
	ag->arg_t = ag->arg2_t = SN_XT_NULL;
	ag->arg_nullable = ag->arg2_nullable = false;
	for (size_t k = 0; k < ag->nargs; k++) {
		if (xeval(c, ag->args[k], &v))
			return c->rc;
		/* a state is merged by its -Merge; count, any and anyLast take it
		 * whole (ClickHouse's any of a state is that state) */
		if (v.t == SN_XT_AGGSTATE &&
		    (ag->state ||
		     (ag->kind != AGG_COUNT_X && ag->kind != AGG_ANY && ag->kind != AGG_ANY_LAST)))
			return xfail(c, ag->args[k], SN_ERR_INVALID, "QueryError",
				     "Illegal type %s of argument for aggregate function %s: an "
				     "aggregate function state is read by its -Merge aggregate",
				     v.ct ? v.ct : "AggregateFunction", ag->call->name);
		if (ag->kind == AGG_WFUNNEL && v.t != SN_XT_NULL &&
		    (k == 0 ? v.t != SN_XT_DATETIME && v.t != SN_XT_DATE && v.t != SN_XT_INT &&
				  v.t != SN_XT_UINT
			    : v.t != SN_XT_BOOL && v.t != SN_XT_INT && v.t != SN_XT_UINT)) {
			char tn[48];
			return xfail(c, ag->args[k], SN_ERR_INVALID, "QueryError",
				     "Illegal type %s of argument %zu of aggregate function "
				     "windowFunnel, must be %s",
				     sn_exec_type_name(v.t, v.nullable, tn, sizeof(tn)), k + 1,
				     k == 0 ? "DateTime, Date or an unsigned integer"
					    : "a condition (UInt8)");
		}
		if (k == 0) {
			ag->arg_t = v.t;
			ag->arg_nullable = v.nullable;
			ag->arg_ct = v.ct;
		} else if (k == 1) {
			ag->arg2_t = v.t;
			ag->arg2_nullable = v.nullable;
		}
		nullable |= v.nullable;
		null_literal |= v.t == SN_XT_NULL;
	}
	if (ag->cond && xeval(c, ag->cond, &v))
		return c->rc;
	*nullable_out = nullable;
	*null_out = null_literal;
	return 0;
}

/* ag's result type from its argument types. */
static int type_result(struct xctx *c, struct xagg *ag, bool nullable, bool null_literal)
{
	ag->res_nullable = nullable;
	switch (ag->kind) {
	case AGG_SUM_MAP:
	case AGG_MIN_MAP:
	case AGG_MAX_MAP: return smap_type(c, ag);
	case AGG_UNIQ:
		if (strncasecmp(ag->call->name, "groupBitmap", 11) == 0 && !is_intlike(ag->arg_t) &&
		    ag->arg_t != SN_XT_NULL)
			return illegal_type(c, ag, ag->arg_t, ag->arg_nullable,
					    "; it takes integers");
		__attribute__((fallthrough));
	case AGG_COUNT:
	case AGG_COUNT_X:
	case AGG_WFUNNEL: /* ClickHouse's UInt8, 0 for a group without a step */
		ag->res_t = SN_XT_UINT;
		ag->res_nullable = false;
		return 0;
	case AGG_GROUP_ARRAY:
	case AGG_GROUP_UNIQ:
	case AGG_TOPK: /* Array(T): NULL values are skipped, never Nullable */
		ag->res_t = SN_XT_ARRAY;
		ag->res_nullable = false;
		ag->res_ct = xarr_type(c, ag->arg_t, ag->arg_t == SN_XT_NULL, ag->arg_ct);
		return ag->res_ct ? 0 : c->rc;
	case AGG_SLR: /* Tuple(k, b), never Nullable (ClickHouse names them) */
		for (size_t k = 0; k < 2; k++) {
			uint8_t at = k ? ag->arg2_t : ag->arg_t;
			if (!is_numeric(at) && at != SN_XT_NULL)
				return illegal_type(c, ag, at,
						    k ? ag->arg2_nullable : ag->arg_nullable,
						    "; convert it with toInt or toFloat");
		}
		ag->res_t = SN_XT_TUPLE;
		ag->res_nullable = false;
		ag->res_ct = "Tuple(Float64, Float64)";
		return 0;
	case AGG_MOVING_SUM:
	case AGG_MOVING_AVG: { /* Array of the sum's type, or of Float64 */
		uint8_t t = ag->arg_t;
		if (!is_numeric(t) && t != SN_XT_NULL)
			return illegal_type(c, ag, t, ag->arg_nullable,
					    "; convert it with toInt or toFloat");
		uint8_t et = ag->kind == AGG_MOVING_AVG || t == SN_XT_FLOAT ? SN_XT_FLOAT
			     : t == SN_XT_INT || t == SN_XT_NULL	    ? SN_XT_INT
									    : SN_XT_UINT;
		ag->res_t = SN_XT_ARRAY;
		ag->res_nullable = false;
		ag->res_ct = xarr_type(c, et, false, NULL);
		return ag->res_ct ? 0 : c->rc;
	}
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
	case AGG_SUM_DEC:
	case AGG_AVG_DEC:
		if (t == SN_XT_DECIMAL) {
			/* sum: Decimal128(S); avg: Float64 (18.16: Decimal128(S)) */
			struct vec tv = {.t = t, .ct = ag->arg_ct};
			ag->iparam = xdec_scale(&tv);
			ag->kind = ag->kind == AGG_SUM || ag->kind == AGG_SUM_DEC ? AGG_SUM_DEC
										  : AGG_AVG_DEC;
			ag->res_t = ag->kind == AGG_SUM_DEC ? SN_XT_DECIMAL : SN_XT_FLOAT;
			ag->res_ct = ag->kind == AGG_SUM_DEC
					 ? xdec_ct(XDEC_MAX_PREC, (unsigned)ag->iparam)
					 : NULL;
			return 0;
		}
		if (!is_numeric(t))
			return illegal_type(c, ag, t, ag->arg_nullable,
					    "; convert it with toInt or toFloat");
		ag->res_t = ag->kind == AGG_AVG || t == SN_XT_FLOAT ? SN_XT_FLOAT
			    : t == SN_XT_INT			    ? SN_XT_INT
								    : SN_XT_UINT;
		return 0;
	case AGG_QUANTILE:
	case AGG_QUANTILE_EXACT:
	case AGG_QUANTILES:
		if (!is_numeric(t) && !time)
			return illegal_type(c, ag, t, ag->arg_nullable,
					    "; convert it with toInt or toFloat");
		ag->res_t = ag->kind != AGG_QUANTILE_EXACT && !time ? SN_XT_FLOAT : t;
		if (ag->kind == AGG_QUANTILES) { /* Array(Float64), never Nullable */
			ag->res_ct = xarr_type(c, ag->res_t, false, NULL);
			ag->res_t = SN_XT_ARRAY;
			ag->res_nullable = false;
			return ag->res_ct ? 0 : c->rc;
		}
		return 0;
	case AGG_BIT_AND:
	case AGG_BIT_OR:
	case AGG_BIT_XOR:
		if (!is_intlike(t))
			return illegal_type(c, ag, t, ag->arg_nullable, "; it takes integers");
		ag->res_t = t == SN_XT_INT ? SN_XT_INT : SN_XT_UINT;
		return 0;
	case AGG_DELTA_SUM:
		if (!is_numeric(t))
			return illegal_type(c, ag, t, ag->arg_nullable,
					    "; convert it with toInt or toFloat");
		ag->res_t = t == SN_XT_BOOL ? SN_XT_UINT : t;
		return 0;
	case AGG_EVERY: /* toBool(min(x)): numbers and booleans */
		if (!is_numeric(t))
			return illegal_type(c, ag, t, ag->arg_nullable, "; it takes conditions");
		ag->res_t = SN_XT_BOOL;
		return 0;
	case AGG_AVG_WEIGHTED:
	case AGG_SKEW_POP:
	case AGG_SKEW_SAMP:
	case AGG_KURT_POP:
	case AGG_KURT_SAMP:
	case AGG_COVAR_POP:
	case AGG_COVAR_SAMP:
	case AGG_CORR:
	case AGG_VAR_POP:
	case AGG_VAR_SAMP:
	case AGG_STDDEV_POP:
	case AGG_STDDEV_SAMP:
	case AGG_VAR_DEC:
		if (t == SN_XT_DECIMAL &&
		    (ag->kind == AGG_VAR_POP || ag->kind == AGG_VAR_SAMP ||
		     ag->kind == AGG_STDDEV_POP || ag->kind == AGG_STDDEV_SAMP ||
		     ag->kind == AGG_VAR_DEC)) {
			/* ClickHouse's VarMomentsDecimal: exact power sums (agg.c
			 * dmom), Float64 at the end */
			struct vec tv = {.t = t, .ct = ag->arg_ct};
			ag->iparam = xdec_scale(&tv);
			if (ag->kind != AGG_VAR_DEC)
				ag->dkind = ag->kind;
			ag->kind = AGG_VAR_DEC;
			ag->res_t = SN_XT_FLOAT;
			return 0;
		}
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
		ag->res_ct = ag->arg_ct;
		return 0;
	}
}

/* ---- state types ----------------------------------------------------------------------- */

/* Appends ag's parameters as ClickHouse prints them in a state's type:
 * quantile(0.9), quantiles(0.5, 0.9), topK(3); nothing when the call gave
 * none. */
static int params_text(struct sn_buf *b, const struct xagg *ag)
{
	if (!ag->call->list2.n)
		return 0;
	char num[48];
	int rc = sn_buf_appendc(b, '(');
	if (ag->kind == AGG_WFUNNEL) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)ag->window);
		rc = rc || sn_buf_appends(b, num);
	} else if (ag->kind == AGG_TOPK || ag->kind == AGG_MOVING_SUM ||
		   ag->kind == AGG_MOVING_AVG) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)ag->iparam);
		rc = rc || sn_buf_appends(b, num);
	} else if (ag->kind == AGG_QUANTILES) {
		for (size_t k = 0; k < ag->nlevels && !rc; k++) {
			fmt_float(num, sizeof(num), ag->levels[k]);
			rc = (k && sn_buf_appends(b, ", ")) || sn_buf_appends(b, num);
		}
	} else {
		fmt_float(num, sizeof(num), ag->level);
		rc = rc || sn_buf_appends(b, num);
	}
	return rc || sn_buf_appendc(b, ')');
}

static bool has_if(const char *sname)
{
	size_t n = strlen(sname);
	return n > 2 && strcmp(sname + n - 2, "If") == 0;
}

/* A -State aggregate's type, AggregateFunction(f(params), T1, ..., and the
 * condition's type when the state's name carries -If). */
static int state_type(struct xctx *c, struct xagg *ag)
{
	if (!state_kind(ag->kind))
		return xunsupported(c, ag->call, "the -State combinator of this aggregate");
	struct sn_buf b;
	sn_buf_init(&b, (size_t)1 << 20);
	int rc = sn_buf_appends(&b, "AggregateFunction(") || sn_buf_appends(&b, ag->sname) ||
		 params_text(&b, ag);
	size_t n = ag->nargs + (has_if(ag->sname) && ag->cond);
	for (size_t k = 0; k < n && !rc; k++) {
		struct vec v;
		if (xeval(c, k < ag->nargs ? ag->args[k] : ag->cond, &v))
			break;
		const char *tn = xtype_name(c, v.t, v.nullable, v.ct);
		rc = !tn || sn_buf_appends(&b, ", ") || sn_buf_appends(&b, tn);
	}
	if (!rc && !c->rc)
		rc = sn_buf_appendc(&b, ')') || sn_buf_appendc(&b, 0);
	char *ct = rc || c->rc ? NULL : xalloc(c, c->qa, b.len);
	if (ct)
		memcpy(ct, b.data, b.len);
	sn_buf_release(&b);
	if (!ct)
		return c->rc ? c->rc : xnomem(c);
	ag->res_t = SN_XT_AGGSTATE;
	ag->res_nullable = false;
	ag->res_ct = ct;
	return 0;
}

/* The function name of a state type ("quantile" of "AggregateFunction(
 * quantile(0.9), Float64)") into buf; the elements after it (the argument
 * types) start at *rest (NULL: none). False when ct is no state type. */
static bool state_type_name(const char *ct, char *buf, size_t cap, const char **rest)
{
	static const char pre[] = "AggregateFunction(";
	if (!ct || strncmp(ct, pre, sizeof(pre) - 1) != 0)
		return false;
	const char *p = ct + sizeof(pre) - 1;
	size_t n = strcspn(p, "(,)");
	if (!n || n >= cap)
		return false;
	memcpy(buf, p, n);
	buf[n] = 0;
	int depth = 0;
	for (p += n; *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth-- == 0)
			break;
		else if (*p == ',' && depth == 0)
			break;
	}
	*rest = *p == ',' ? p : NULL;
	return true;
}

/* in's argument types from the state type ct, then its result type. */
static int inner_types(struct xctx *c, struct xagg *in, const char *ct, const char *sname)
{
	char buf[128];
	const char *rest;
	if (!state_type_name(ct, buf, sizeof(buf), &rest))
		return state_bad(c, in);
	size_t n = 0; /* elements after the name */
	for (int depth = 0; rest && *rest; rest++) {
		if (*rest == '(')
			depth++;
		else if (*rest == ')')
			depth--;
		else if (*rest == ',' && depth == 0)
			n++;
	}
	if (has_if(sname)) {
		if (!n)
			return state_bad(c, in);
		n--; /* the condition */
	}
	bool nullable = false, null_literal = false;
	in->nargs = (uint32_t)n;
	in->args_ct = ct;
	in->arg_t = in->arg2_t = SN_XT_NULL;
	in->arg_ct = NULL;
	for (size_t k = 0; k < n; k++) {
		uint8_t t;
		bool nl;
		const char *ect;
		if (xarr_elem(c, ct, k + 1, &t, &nl, &ect))
			return c->rc;
		if (k == 0) {
			in->arg_t = t;
			in->arg_nullable = nl;
			in->arg_ct = ect;
		} else if (k == 1) {
			in->arg2_t = t;
			in->arg2_nullable = nl;
		}
		nullable |= nl;
		null_literal |= t == SN_XT_NULL;
	}
	return type_result(c, in, nullable, null_literal);
}

/* fMerge(state): the argument must be a state of f; the result is f's. */
static int merge_type(struct xctx *c, struct xagg *ag)
{
	struct vec v, cv;
	if (xeval(c, ag->args[0], &v) || (ag->cond && xeval(c, ag->cond, &cv)))
		return c->rc;
	char fn[128];
	const char *rest;
	if (v.t != SN_XT_AGGSTATE || !state_type_name(v.ct, fn, sizeof(fn), &rest) ||
	    strcmp(fn, ag->sname) != 0) {
		const char *tn = xtype_name(c, v.t, v.nullable, v.ct);
		return xfail(c, ag->call, SN_ERR_INVALID, "QueryError",
			     "Illegal type %s of argument for aggregate function %s: it merges "
			     "states of %s, AggregateFunction(%s, ...) as %sState() makes them",
			     tn ? tn : "?", ag->call->name, ag->sname, ag->sname, ag->sname);
	}
	ag->arg_t = v.t;
	ag->arg_ct = v.ct;
	if (inner_types(c, ag->inner, v.ct, ag->sname))
		return c->rc;
	ag->res_t = ag->inner->res_t;
	ag->res_nullable = ag->inner->res_nullable;
	ag->res_ct = ag->inner->res_ct;
	if (ag->state) { /* fMergeState: a state of f again (today's ClickHouse's type) */
		ag->res_t = SN_XT_AGGSTATE;
		ag->res_nullable = false;
		ag->res_ct = v.ct;
	}
	return 0;
}

int agg_type(struct xctx *c, struct xagg *ag)
{
	if (ag->kind == AGG_MERGE)
		return merge_type(c, ag);
	bool nullable = false, null_literal = false;
	if (type_args(c, ag, &nullable, &null_literal) ||
	    type_result(c, ag, nullable, null_literal))
		return c->rc;
	return ag->state ? state_type(c, ag) : 0;
}

/* The parameters the state type ct names (quantile(0.9), topK(3),
 * windowFunnel(3600)) into in, the state's aggregate. */
static int parse_type_params(struct xctx *c, const char *ct, struct xagg *in)
{
	const char *p = strchr(ct, '(');
	p = p ? strchr(p + 1, '(') : NULL;
	const char *comma = strchr(ct + 18, ',');
	if (!p || (comma && comma < p))
		return 0; /* no parameters */
	double lv[64];
	size_t nl = 0;
	for (p++; *p && *p != ')' && nl < SN_ARRAY_LEN(lv);) {
		char *end;
		lv[nl++] = strtod(p, &end);
		if (end == p)
			return state_bad(c, in);
		for (p = end; *p == ',' || *p == ' ';)
			p++;
	}
	if (!nl)
		return 0;
	if (in->kind == AGG_WFUNNEL) {
		in->window = (uint64_t)lv[0];
	} else if (in->kind == AGG_TOPK || in->kind == AGG_MOVING_SUM ||
		   in->kind == AGG_MOVING_AVG) {
		in->iparam = (uint64_t)lv[0];
	} else if (in->kind == AGG_QUANTILES) {
		double *l = xalloc(c, c->qa, nl * sizeof(*l));
		if (!l)
			return c->rc;
		memcpy(l, lv, nl * sizeof(*l));
		in->levels = l;
		in->nlevels = nl;
	} else {
		in->level = lv[0];
	}
	return 0;
}

/* finalizeAggregation(state): each row's state answered by its aggregate,
 * with the parameters its type names. */
static int finalize_aggregation(struct xctx *c, const node_t *n, struct vec *out)
{
	struct vec v;
	if (need_args(c, n, 1, 1) || xeval(c, n->list.items[0], &v))
		return c->rc;
	char fn[128];
	const char *rest;
	if (v.t != SN_XT_AGGSTATE || !state_type_name(v.ct, fn, sizeof(fn), &rest)) {
		const char *tn = xtype_name(c, v.t, v.nullable, v.ct);
		return xfail(
		    c, n->list.items[0], SN_ERR_INVALID, "QueryError",
		    "Illegal type %s of argument of function finalizeAggregation: it takes "
		    "an aggregate function state (AggregateFunction, as fState() makes)",
		    tn ? tn : "?");
	}
	/* the state's aggregate, as fMerge would classify it */
	size_t fl = strlen(fn);
	bool nif = has_if(fn);
	const struct aggdef *d = aggdef_find(fn, fl);
	if (!d && nif)
		d = aggdef_find(fn, fl - 2);
	if (!d)
		return state_bad(c, &(struct xagg){.call = n});
	struct xagg *in = xalloc(c, c->qa, sizeof(*in));
	if (!in)
		return c->rc;
	memset(in, 0, sizeof(*in));
	in->call = n;
	in->kind = d->kind;
	in->level = 0.5;
	in->iparam = d->kind == AGG_TOPK ? 10 : 0;
	in->narrow = d->kind == AGG_UNIQ && strncmp(d->name, "uniq", 4) == 0 &&
		     strncmp(d->name, "uniqExact", 9) != 0;
	if (!state_kind(in->kind))
		return state_bad(c, in);
	if (parse_type_params(c, v.ct, in) || inner_types(c, in, v.ct, fn))
		return c->rc;
	if (in->kind == AGG_QUANTILES && !in->nlevels)
		return state_bad(c, in);
	struct xagg mg = {.call = n, .kind = AGG_MERGE, .inner = in};
	if (vec_make(c, out, in->res_t, in->res_nullable, c->n))
		return c->rc;
	out->ct = in->res_ct;
	if (in->res_t == SN_XT_NULL)
		return 0;
	/* each row's state is built in the batch's arena and dropped with it */
	struct sn_arena *qa = c->qa;
	c->qa = c->ba;
	for (size_t r = 0; r < c->n && !c->rc; r++) {
		struct astate st;
		memset(&st, 0, sizeof(st));
		if (!vec_null(&v, r) && merge_blob(c, &mg, &st, v.s[r]))
			break;
		if (final_value(c, in, &st, out, r))
			break;
	}
	c->qa = qa;
	return c->rc;
}

bool xfn_aggstate(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	if (strcmp(n->name, "finalizeAggregation") != 0)
		return false;
	*rc = finalize_aggregation(c, n, out);
	return true;
}
