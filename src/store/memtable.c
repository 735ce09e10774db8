/*
 * memtable.c — rows waiting to be written as parts, and the sort that puts
 * them in part order.
 *
 *   rows[]  (realloc'd array of struct sn_event_row, strings in the arena)
 *   order[] (uint32 permutation, filled by sn_memtable_sort)
 *
 * Part order is (team_id, toDate(timestamp), event, hash(distinct_id),
 * uuid), as PostHog's sharded_events ORDER BY, except that PostHog hashes
 * distinct_id with ClickHouse's cityHash64 and we use XXH3 (sn_hash64): the
 * hash only groups a user's events together inside an (event, day), any
 * stable hash does that, and parts are never compared with ClickHouse's
 * byte for byte. Changing the hash would change the order inside new parts
 * only, which merges tolerate (they re-sort); it is still a format detail
 * recorded in STORAGE.md.
 *
 * The sort puts the month (the partition) in front of that key, so each
 * month is one contiguous run and the flush writes one part per run.
 * It sorts a small key array of integers (month, team, day, rank of the
 * event name among the memtable's distinct names, hash, uuid, index),
 * never touching the rows; rows themselves never move, so the string
 * pointers stay valid. Usually by a radix sort of the key packed into 64
 * bits (radix_sort, below), else by an inlined quicksort (sort_keys).
 * Ranking the names first made the sort 2x faster than comparing names in
 * the comparator (measured on 300k generated events).
 *
 * The keys are made at append, while the row is in cache: the distinct
 * id's hash, day and month, the uuid as two integers, and an id for the
 * event name, which is interned (rows with one name share one copy, so
 * the writer's order check compares pointers). Making them at sort time
 * instead cost a cache miss per row for the row and another for its
 * distinct id, on the flusher thread (2026-12-02 profile: with the uuid
 * compared through the rows, 40 % of that thread was memcmp).
 *
 * A row's $session_id, $window_id and elements_chain are usually the very
 * bytes of those properties (the ingest reads them in place, in the
 * record's text): the memtable then points them into its copy of the
 * properties instead of copying them again (copy_or_share), which saves the
 * ingest thread the copies and lets the writer see that a granule can be
 * derived from its property column by comparing pointers (derivable in
 * part_write.c): 3.25-3.39 -> 3.09-3.16 µs of CPU an event on the 10M,
 * identity off (docs/BENCHMARKS.md, session 39). The memtable counts such
 * strings as if copied, so it fills at the same rows as before.
 *
 * Rejected: sorting at append time (a skip list, as LevelDB's memtable).
 * Nothing reads a memtable in key order before the flush, and one sort of
 * an array is several times cheaper than keeping an ordered structure.
 */
#include "store/store.h"
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

#define US_PER_DAY	  86400000000LL
#define DEFAULT_MAX_BYTES ((size_t)1 << 30)

int32_t sn_store_day_of(int64_t ts_us)
{
	int64_t d = ts_us / US_PER_DAY;
	if (ts_us % US_PER_DAY < 0)
		d--;
	return (int32_t)d;
}

int32_t sn_store_month_of(int64_t ts_us)
{
	int64_t y;
	unsigned m, d;
	sn_civil_from_days(sn_store_day_of(ts_us), &y, &m, &d);
	return (int32_t)(y * 100 + (int64_t)m);
}

struct sn_mt_key {
	int64_t team_id;
	uint64_t hash;	   /* of the distinct id */
	uint64_t uhi, ulo; /* the uuid's bytes as two big-endian integers */
	int32_t month;
	int32_t day;
	uint32_t event_rank; /* in the memtable: the name's id; in a sort: its rank */
	uint32_t idx;
};

void sn_memtable_init(struct sn_memtable *mt, size_t max_bytes)
{
	memset(mt, 0, sizeof(*mt));
	mt->max_bytes = max_bytes ? max_bytes : DEFAULT_MAX_BYTES;
	/* The arena wastes at most a chunk tail per string, so allow it slack. */
	sn_arena_init(&mt->arena, mt->max_bytes + mt->max_bytes / 2 + (1 << 20));
	/* The text is read in part order, all over the arena: 32 MiB chunks
	 * on huge pages (sn_mem_huge) spare a TLB miss per row and column. */
	mt->arena.chunk_max = (size_t)32 << 20;
}

static void forget_names(struct sn_memtable *mt)
{
	free(mt->evnames);
	free(mt->evslots);
	mt->evnames = NULL;
	mt->evslots = NULL;
	mt->nev = mt->evcap = mt->evnslots = 0;
	free(mt->months);
	mt->months = NULL;
	mt->nmonths = mt->monthcap = mt->lastmonth = 0;
}

void sn_memtable_release(struct sn_memtable *mt)
{
	sn_arena_release(&mt->arena);
	free(mt->rows);
	free(mt->keys);
	free(mt->order);
	free(mt->month_end);
	forget_names(mt);
	mt->rows = NULL;
	mt->keys = NULL;
	mt->order = NULL;
	mt->month_end = NULL;
	mt->nrows = mt->cap = mt->nbytes = 0;
	mt->sorted = false;
}

void sn_memtable_reset(struct sn_memtable *mt, bool keep_memory)
{
	if (!keep_memory) {
		size_t max = mt->max_bytes;
		sn_memtable_release(mt);
		sn_memtable_init(mt, max);
		return;
	}
	sn_arena_reset(&mt->arena);
	forget_names(mt);
	mt->nrows = mt->nbytes = 0;
	mt->sorted = false;
}

static int copy_str(struct sn_arena *a, struct sn_str *dst, struct sn_str src)
{
	if (!src.p) {
		dst->p = NULL;
		dst->len = 0;
		return 0;
	}
	if (!src.len) {
		dst->p = "";
		dst->len = 0;
		return 0;
	}
	char *p = sn_arena_alloc(a, src.len);
	if (!p)
		return SN_ERR_NOMEM;
	memcpy(p, src.p, src.len);
	dst->p = p;
	dst->len = src.len;
	return 0;
}

/* properties, and its member lengths (if the caller has them) in the same
 * allocation, after the text (at an even offset: the arena's allocations
 * are 16-byte aligned). */
static int copy_props(struct sn_arena *a, struct sn_event_row *dst, const struct sn_event_row *row)
{
	dst->pmembers = NULL;
	dst->npmembers = 0;
	if (!row->pmembers || !row->properties.p)
		return copy_str(a, &dst->properties, row->properties);
	size_t tl = (row->properties.len + 1) & ~(size_t)1;
	size_t ml = 4 * (size_t)row->npmembers;
	char *p = sn_arena_alloc(a, tl + ml);
	if (!p)
		return SN_ERR_NOMEM;
	memcpy(p, row->properties.p, row->properties.len);
	memcpy(p + tl, row->pmembers, ml);
	dst->properties = (struct sn_str){p, row->properties.len};
	dst->pmembers = (const uint16_t *)(void *)(p + tl);
	dst->npmembers = row->npmembers;
	return 0;
}

/* The id of an event name, copying it in the first time. */
static int intern_event(struct sn_memtable *mt, struct sn_str e, uint32_t *id, struct sn_str *out)
{
	if (2 * (mt->nev + 1) > mt->evnslots) {
		uint32_t n = mt->evnslots ? mt->evnslots * 2 : 64;
		uint32_t *slots = calloc(n, sizeof(*slots));
		if (!slots)
			return SN_ERR_NOMEM;
		for (uint32_t k = 0; k < mt->nev; k++) {
			struct sn_str x = mt->evnames[k];
			uint32_t h = (uint32_t)sn_hash64(x.p, x.len) & (n - 1);
			while (slots[h])
				h = (h + 1) & (n - 1);
			slots[h] = k + 1;
		}
		free(mt->evslots);
		mt->evslots = slots;
		mt->evnslots = n;
	}
	uint32_t h = (uint32_t)sn_hash64(e.p, e.len) & (mt->evnslots - 1);
	for (; mt->evslots[h]; h = (h + 1) & (mt->evnslots - 1)) {
		struct sn_str x = mt->evnames[mt->evslots[h] - 1];
		if (x.len == e.len && memcmp(x.p, e.p, e.len) == 0) {
			*id = mt->evslots[h] - 1;
			*out = x;
			return 0;
		}
	}
	if (mt->nev == mt->evcap) {
		uint32_t n = mt->evcap ? mt->evcap * 2 : 16;
		struct sn_str *names = realloc(mt->evnames, n * sizeof(*names));
		if (!names)
			return SN_ERR_NOMEM;
		mt->evnames = names;
		mt->evcap = n;
	}
	char *p = e.len ? sn_arena_alloc(&mt->arena, e.len) : (char *)"";
	if (!p)
		return SN_ERR_NOMEM;
	memcpy(p, e.p, e.len);
	*out = (struct sn_str){p, e.len};
	mt->evnames[mt->nev] = *out;
	mt->evslots[h] = mt->nev + 1;
	*id = mt->nev++;
	return 0;
}

/* Whether s lies inside the row's properties text (the ingest's
 * $session_id, $window_id and $elements_chain usually do: they are the
 * properties' own unescaped values, read in place). */
static bool in_props(const struct sn_event_row *row, struct sn_str s)
{
	const char *p = row->properties.p;
	return s.p && s.len && p && s.p >= p && s.len <= row->properties.len &&
	       (size_t)(s.p - p) <= row->properties.len - s.len;
}

/* dst's copy of a string of row: where it lies inside row's properties, the
 * same bytes of dst's copy of them (dst->properties, set before). */
static int copy_or_share(struct sn_arena *a, const struct sn_event_row *row,
			 struct sn_event_row *dst, struct sn_str *out, struct sn_str src)
{
	if (!in_props(row, src) || dst->properties.len != row->properties.len)
		return copy_str(a, out, src);
	out->p = dst->properties.p + (src.p - row->properties.p);
	out->len = src.len;
	return 0;
}

int sn_memtable_append(struct sn_memtable *mt, const struct sn_event_row *row, struct sn_err *err)
{
	/* Shared strings are counted as if copied, so a memtable fills at the
	 * same row count as before. Counting only what is copied let it take
	 * more rows and double its rows array: +40-50 MB of peak RSS on the
	 * 10M (session 39). */
	size_t need = sizeof(*row) + row->event.len + row->distinct_id.len + row->properties.len +
		      row->elements_chain.len + row->session_id.len + row->window_id.len +
		      (row->pmembers ? 4 * (size_t)row->npmembers + 1 : 0);
	for (int g = 0; g < SN_STORE_GROUPS; g++)
		need += row->group[g].len;
	if (need > mt->max_bytes || mt->nbytes > mt->max_bytes - need)
		return sn_err_set(err, SN_ERR_TOO_BIG, "memtable full (%zu bytes, max %zu)",
				  mt->nbytes, mt->max_bytes);
	if (mt->nrows >= UINT32_MAX)
		return sn_err_set(err, SN_ERR_TOO_BIG, "memtable full (%zu rows)", mt->nrows);
	if (mt->nrows == mt->cap) {
		size_t ncap = mt->cap ? mt->cap * 2 : 1024;
		struct sn_event_row *r = realloc(mt->rows, ncap * sizeof(*r));
		if (r)
			mt->rows = r;
		struct sn_mt_key *k = r ? realloc(mt->keys, ncap * sizeof(*k)) : NULL;
		if (!r || !k)
			return sn_err_set(err, SN_ERR_NOMEM, "out of memory growing the memtable");
		mt->keys = k;
		mt->cap = ncap;
		/* the writer reads rows in part order, scattered over the array */
		sn_mem_huge(mt->rows, ncap * sizeof(*r));
		sn_mem_huge(mt->keys, ncap * sizeof(*k));
	}
	struct sn_event_row *dst = &mt->rows[mt->nrows];
	struct sn_mt_key *key = &mt->keys[mt->nrows];
	*dst = *row;
	int32_t month = sn_store_month_of(row->timestamp_us);
	if (!mt->nmonths || mt->months[mt->lastmonth] != month) {
		unsigned m = 0;
		while (m < mt->nmonths && mt->months[m] != month)
			m++;
		if (m == mt->nmonths) {
			if (m == mt->monthcap) {
				unsigned n = m ? 2 * m : 8;
				int32_t *ms = realloc(mt->months, n * sizeof(*ms));
				if (!ms)
					return sn_err_set(err, SN_ERR_NOMEM,
							  "out of memory copying a row");
				mt->months = ms;
				mt->monthcap = n;
			}
			mt->months[mt->nmonths++] = month;
		}
		mt->lastmonth = m;
	}
	*key = (struct sn_mt_key){
	    .team_id = row->team_id,
	    .hash = sn_hash64(row->distinct_id.p ? row->distinct_id.p : "", row->distinct_id.len),
	    .uhi = sn_get_be64(row->uuid),
	    .ulo = sn_get_be64(row->uuid + 8),
	    .month = month,
	    .day = sn_store_day_of(row->timestamp_us),
	    .idx = (uint32_t)mt->nrows};
	struct sn_str ev = {row->event.p ? row->event.p : "", row->event.p ? row->event.len : 0};
	if (intern_event(mt, ev, &key->event_rank, &dst->event))
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory copying a row");
	if (copy_str(&mt->arena, &dst->distinct_id, row->distinct_id) ||
	    copy_props(&mt->arena, dst, row) ||
	    copy_or_share(&mt->arena, row, dst, &dst->elements_chain, row->elements_chain) ||
	    copy_or_share(&mt->arena, row, dst, &dst->session_id, row->session_id) ||
	    copy_or_share(&mt->arena, row, dst, &dst->window_id, row->window_id))
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory copying a row");
	for (int g = 0; g < SN_STORE_GROUPS; g++)
		if (copy_str(&mt->arena, &dst->group[g], row->group[g]))
			return sn_err_set(err, SN_ERR_NOMEM, "out of memory copying a row");
	mt->nrows++;
	mt->nbytes += need;
	mt->sorted = false;
	return 0;
}

static int str_cmp(struct sn_str a, struct sn_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	if (c)
		return c;
	return a.len < b.len ? -1 : a.len > b.len;
}

static uint64_t did_hash(const struct sn_event_row *r)
{
	return sn_hash64(r->distinct_id.p ? r->distinct_id.p : "", r->distinct_id.len);
}

int sn_event_row_cmp(const struct sn_event_row *a, const struct sn_event_row *b)
{
	if (a->team_id != b->team_id)
		return a->team_id < b->team_id ? -1 : 1;
	int32_t da = sn_store_day_of(a->timestamp_us), db = sn_store_day_of(b->timestamp_us);
	if (da != db)
		return da < db ? -1 : 1;
	int c = str_cmp(a->event, b->event);
	if (c)
		return c;
	uint64_t ha = did_hash(a), hb = did_hash(b);
	if (ha != hb)
		return ha < hb ? -1 : 1;
	return memcmp(a->uuid, b->uuid, 16);
}

static inline bool key_less(const struct sn_mt_key *a, const struct sn_mt_key *b)
{
	if (a->month != b->month)
		return a->month < b->month;
	if (a->team_id != b->team_id)
		return a->team_id < b->team_id;
	if (a->day != b->day)
		return a->day < b->day;
	if (a->event_rank != b->event_rank)
		return a->event_rank < b->event_rank;
	if (a->hash != b->hash)
		return a->hash < b->hash;
	if (a->uhi != b->uhi)
		return a->uhi < b->uhi;
	if (a->ulo != b->ulo)
		return a->ulo < b->ulo;
	return a->idx < b->idx; /* stable for equal rows */
}

static int key_cmp(const void *pa, const void *pb)
{
	const struct sn_mt_key *a = pa, *b = pb;
	return key_less(a, b) ? -1 : key_less(b, a);
}

static inline void key_swap(struct sn_mt_key *a, struct sn_mt_key *b)
{
	struct sn_mt_key t = *a;
	*a = *b;
	*b = t;
}

/* Quicksort with the comparison inlined (qsort's call through a pointer was
 * most of the sort's time): median of three, insertion sort below 16 keys,
 * and qsort for a range that recursed too deep, so the worst case stays
 * O(n log n). The order is total (idx breaks ties), so any correct sort
 * gives the same permutation. */
static void sort_keys(struct sn_mt_key *k, size_t n, int depth)
{
	while (n > 16) {
		if (depth-- == 0) {
			qsort(k, n, sizeof(*k), key_cmp);
			return;
		}
		size_t m = n / 2;
		if (key_less(&k[m], &k[0]))
			key_swap(&k[m], &k[0]);
		if (key_less(&k[n - 1], &k[m])) {
			key_swap(&k[n - 1], &k[m]);
			if (key_less(&k[m], &k[0]))
				key_swap(&k[m], &k[0]);
		}
		struct sn_mt_key pivot = k[m];
		size_t i = 0, j = n - 1;
		for (;;) {
			while (key_less(&k[i], &pivot))
				i++;
			while (key_less(&pivot, &k[j]))
				j--;
			if (i >= j)
				break;
			key_swap(&k[i], &k[j]);
			i++;
			j--;
		}
		/* [0, j] <= pivot <= [j + 1, n): recurse on the smaller side. */
		size_t left = j + 1;
		if (left < n - left) {
			sort_keys(k, left, depth);
			k += left;
			n -= left;
		} else {
			sort_keys(k + left, n - left, depth);
			n = left;
		}
	}
	for (size_t i = 1; i < n; i++) {
		struct sn_mt_key x = k[i];
		size_t j = i;
		for (; j > 0 && key_less(&x, &k[j - 1]); j--)
			k[j] = k[j - 1];
		k[j] = x;
	}
}

/* The radix path of sn_memtable_sort. The key's leading fields usually span
 * few values in one memtable (a month or two, a few teams, a few days, the
 * memtable's event names), so (month, team, day, event rank) fit in at most
 * RADIX_PREFIX_BITS bits as offsets from their minimums, and the distinct
 * id's hash fills the rest of a 64-bit integer with its top bits. An LSD
 * radix sort of those integers (11-bit digits, digits every key shares
 * skipped) orders the rows by the key up to the truncated hash; rows whose
 * integers are equal (one user's events of a day, rarely two users whose
 * hashes share their top bits) are then put in key_less order by sort_keys.
 * The result is the same permutation as sort_keys on the whole array (the
 * order is total). Sorting 16-byte pairs in a few sequential passes instead
 * of 48-byte keys by comparisons: the flusher's sort was ~4 % of the CPU of
 * an ingest drain (docs/BENCHMARKS.md, session 46). */
#define RADIX_MIN_ROWS	  4096
#define RADIX_PREFIX_BITS 40
#define RADIX_DIGIT_BITS  11
#define RADIX_PASSES	  ((64 + RADIX_DIGIT_BITS - 1) / RADIX_DIGIT_BITS)

struct rkey {
	uint64_t k;
	uint32_t i; /* index into the key array */
};

static unsigned bits_for(uint64_t range)
{
	return range ? 64 - (unsigned)__builtin_clzll(range) : 0;
}

/* Writes the sorted permutation (row indexes) to order and the end of each
 * month's run to month_end (*runs of them); false when the fields do not
 * fit the prefix or memory is short (the caller sorts by comparisons). */
static bool radix_sort(const struct sn_mt_key *keys, const uint32_t *rank, size_t n, uint32_t nev,
		       int depth, uint32_t *order, size_t *month_end, unsigned *runs)
{
	if (n < RADIX_MIN_ROWS || n > UINT32_MAX)
		return false;
	int64_t tmin = keys[0].team_id, tmax = tmin;
	int32_t mmin = keys[0].month, mmax = mmin, dmin = keys[0].day, dmax = dmin;
	for (size_t i = 1; i < n; i++) {
		const struct sn_mt_key *k = &keys[i];
		tmin = k->team_id < tmin ? k->team_id : tmin;
		tmax = k->team_id > tmax ? k->team_id : tmax;
		mmin = k->month < mmin ? k->month : mmin;
		mmax = k->month > mmax ? k->month : mmax;
		dmin = k->day < dmin ? k->day : dmin;
		dmax = k->day > dmax ? k->day : dmax;
	}
	unsigned tb = bits_for((uint64_t)tmax - (uint64_t)tmin),
		 mb = bits_for((uint64_t)((int64_t)mmax - mmin)),
		 db = bits_for((uint64_t)((int64_t)dmax - dmin)), eb = bits_for(nev ? nev - 1 : 0);
	if (mb + tb + db + eb > RADIX_PREFIX_BITS)
		return false;
	unsigned hb = 64 - (mb + tb + db + eb); /* >= 24 */
	struct rkey *a = malloc(n * sizeof(*a)), *b = malloc(n * sizeof(*b));
	uint32_t(*hist)[1u << RADIX_DIGIT_BITS] = calloc(RADIX_PASSES, sizeof(*hist));
	if (!a || !b || !hist) {
		free(a);
		free(b);
		free(hist);
		return false;
	}
	const uint64_t mask = (1u << RADIX_DIGIT_BITS) - 1;
	for (size_t i = 0; i < n; i++) {
		const struct sn_mt_key *k = &keys[i];
		uint64_t p = (uint64_t)((int64_t)k->month - mmin);
		p = p << tb | ((uint64_t)k->team_id - (uint64_t)tmin);
		p = p << db | (uint64_t)((int64_t)k->day - dmin);
		p = p << eb | rank[k->event_rank];
		uint64_t v = (hb < 64 ? p << hb : 0) | k->hash >> (64 - hb);
		a[i] = (struct rkey){v, (uint32_t)i};
		for (unsigned d = 0; d < RADIX_PASSES; d++)
			hist[d][(v >> (d * RADIX_DIGIT_BITS)) & mask]++;
	}
	for (unsigned d = 0; d < RADIX_PASSES; d++) {
		uint32_t *h = hist[d];
		unsigned shift = d * RADIX_DIGIT_BITS;
		if (h[(a[0].k >> shift) & mask] == n)
			continue; /* every key has this digit */
		uint32_t sum = 0;
		for (size_t j = 0; j <= mask; j++) {
			uint32_t c = h[j];
			h[j] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			b[h[(a[i].k >> shift) & mask]++] = a[i];
		struct rkey *t = a;
		a = b;
		b = t;
	}
	free(hist);
	/* Runs of equal integers: b's room holds their full keys. */
	struct sn_mt_key *run = (struct sn_mt_key *)(void *)b;
	size_t room = n * sizeof(*b) / sizeof(*run);
	bool ok = true;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && a[j].k == a[i].k; j++)
			;
		if (j - i == 1) {
			order[i] = keys[a[i].i].idx;
			continue;
		}
		struct sn_mt_key *r = run, *big = NULL;
		if (j - i > room && !(r = big = malloc((j - i) * sizeof(*r)))) {
			ok = false;
			break;
		}
		for (size_t x = i; x < j; x++) {
			r[x - i] = keys[a[x].i];
			r[x - i].event_rank = rank[r[x - i].event_rank];
		}
		sort_keys(r, j - i, depth);
		for (size_t x = i; x < j; x++)
			order[x] = r[x - i].idx;
		free(big);
	}
	/* The month is the integers' top mb bits. */
	*runs = 0;
	for (size_t i = 0; ok && i < n; i++)
		if (i + 1 == n || (mb && a[i + 1].k >> (64 - mb) != a[i].k >> (64 - mb)))
			month_end[(*runs)++] = i + 1;
	free(a);
	free(b);
	return ok;
}

static int name_cmp(const void *pa, const void *pb)
{
	return str_cmp(*(const struct sn_str *)pa, *(const struct sn_str *)pb);
}

int sn_memtable_sort(struct sn_memtable *mt, struct sn_err *err)
{
	if (mt->sorted)
		return 0;
	size_t n = mt->nrows;
	struct sn_mt_key *keys = malloc((n ? n : 1) * sizeof(*keys));
	uint32_t *order = realloc(mt->order, (n ? n : 1) * sizeof(*order));
	if (order)
		mt->order = order;
	size_t *month_end =
	    realloc(mt->month_end, (mt->nmonths ? mt->nmonths : 1) * sizeof(size_t));
	if (month_end)
		mt->month_end = month_end;
	/* The rank of each interned name among the names, in byte order. */
	struct named {
		struct sn_str name;
		uint32_t id;
	} *byname = malloc((mt->nev ? mt->nev : 1) * sizeof(*byname));
	uint32_t *rank = malloc((mt->nev ? mt->nev : 1) * sizeof(*rank));
	if (!keys || !order || !month_end || !byname || !rank) {
		free(keys);
		free(byname);
		free(rank);
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory sorting %zu rows", n);
	}
	for (uint32_t k = 0; k < mt->nev; k++)
		byname[k] = (struct named){mt->evnames[k], k};
	qsort(byname, mt->nev, sizeof(*byname), name_cmp);
	for (uint32_t k = 0; k < mt->nev; k++)
		rank[byname[k].id] = k;
	free(byname);
	int depth = 2;
	for (size_t m = n; m > 1; m >>= 1)
		depth += 2;
	unsigned runs = 0; /* <= nmonths: months ascend */
	if (!radix_sort(mt->keys, rank, n, mt->nev, depth, order, month_end, &runs)) {
		for (size_t i = 0; i < n; i++) {
			keys[i] = mt->keys[i];
			keys[i].event_rank = rank[keys[i].event_rank];
		}
		sort_keys(keys, n, depth);
		runs = 0;
		for (size_t i = 0; i < n; i++) {
			order[i] = keys[i].idx;
			if (i + 1 == n || keys[i + 1].month != keys[i].month)
				month_end[runs++] = i + 1;
		}
	}
	free(rank);
	free(keys);
	mt->sorted = true;
	return 0;
}

const struct sn_event_row *sn_memtable_sorted_row(const struct sn_memtable *mt, size_t i)
{
	return &mt->rows[mt->order[i]];
}
