/*
 * arena.c — bump allocation for request- and query-lifetime objects.
 *
 *   head ──▶ [chunk: used ▓▓▓▓░░░░] ──▶ [older chunk ▓▓▓▓▓▓▓▓] ──▶ NULL
 *
 * Allocation bumps a pointer in the newest chunk; when it does not fit, a new
 * chunk of max(4 KiB doubling, request) is pushed. Everything is freed at once
 * by sn_arena_release. No per-object free: that is the point (h2o's mem pool).
 * max_total bounds the whole arena so one request cannot eat the machine.
 *
 * sn_arena_reset empties the chunks into a spare list instead of freeing
 * them; a chunk that does not fit takes the first spare chunk big enough
 * before it mallocs. Scans reset one scratch arena per batch: big chunks are
 * mmap'd by malloc, and freeing and re-faulting them per batch cost a fifth
 * of a simple count's time.
 *
 * Chunks of the largest size (1 MiB) that a release frees go to a small
 * process-wide pool first (at most SN_ARENA_POOL_CHUNKS, mutex-guarded),
 * and new chunks of that size come from it: the HTTP server runs a
 * connection per thread, and glibc trims a finished thread's heap, so
 * without the pool every query re-faulted its scratch pages (a tenth of a
 * 30-day trend's time). The pool bounds what stays resident when idle.
 *
 * sn_malloc_big is for arrays that are written whole right away (an
 * insight's sorted rows): huge pages make filling 30 MB one fault per
 * 2 MiB. Arena chunks of up to 1 MiB do not get the hint: a chunk sized
 * for the largest batch is often touched only in part, and a huge page
 * zeroes all 2 MiB (paths on 10M events went from 1.6 to 3.9 s with it).
 * An arena filled whole before it is read at random (a memtable's text)
 * raises chunk_max: its chunks above 1 MiB get huge pages, sparing the
 * reads a TLB miss each (sn_mem_huge).
 *
 * sn_mem_tune fixes glibc's thresholds for the server: blocks below 32 MiB
 * come from the heap and up to 512 MiB of freed heap stays mapped, so a
 * query reuses the pages the previous one faulted in. glibc's default
 * moves its mmap threshold up to the largest block freed so far, so one
 * query's speed depended on what earlier ones had freed, and every big
 * block was faulted in afresh (on this VM a fault is dear: P1, a 30-day
 * paths insight on 10M events, went 334-380 -> 198-211 ms, A/B in one
 * run; the other insights within noise). sn_mem_release (the pool and
 * malloc_trim) gives it back: the server calls it after 5 s without a
 * request.
 */
#include "base.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK_MAX	     ((size_t)1 << 20)
#define SN_ARENA_POOL_CHUNKS 48

struct sn_arena_chunk {
	struct sn_arena_chunk *next;
	size_t size;
	size_t used;
	void *ext;    /* sn_arena_own: a malloc'd block freed with the chunk (size 0) */
	size_t ext_n; /* its bytes, counted in used_total */
	_Alignas(16) unsigned char data[];
};

void sn_arena_init(struct sn_arena *a, size_t max_total)
{
	a->head = NULL;
	a->spare = NULL;
	a->used_total = 0;
	a->max_total = max_total ? max_total : SIZE_MAX / 2;
	a->chunk_max = CHUNK_MAX;
}

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
#define HUGE_PAGE ((size_t)2 << 20)

void sn_mem_huge(void *p, size_t n)
{
	if (p && n >= 2 * HUGE_PAGE) {
		/* the 2 MiB-aligned inside of the block (malloc mmaps blocks this
		 * big, so nothing else shares those pages); a refusal only costs
		 * the hint */
		uintptr_t lo = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
		uintptr_t hi = ((uintptr_t)p + n) & ~(uintptr_t)(HUGE_PAGE - 1);
		if (hi > lo)
			(void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE);
	}
}

static struct sn_arena_chunk *pool;
static size_t pool_n;

static struct sn_arena_chunk *chunk_new(size_t sz)
{
	if (sz == CHUNK_MAX) {
		pthread_mutex_lock(&pool_mu);
		struct sn_arena_chunk *c = pool;
		if (c) {
			pool = c->next;
			pool_n--;
		}
		pthread_mutex_unlock(&pool_mu);
		if (c)
			return c;
	}
	struct sn_arena_chunk *c = malloc(sizeof(*c) + sz);
	if (c) {
		c->size = sz;
		c->ext = NULL;
	}
	/* a chunk of its own for one big allocation (a query's result rows,
	 * tens of MB): filled soon after, so one page fault per 2 MiB */
	if (c && sz > CHUNK_MAX)
		sn_mem_huge(c, sizeof(*c) + sz);
	return c;
}

/* Big blocks kept between queries (sn_free_big): blocks of BIG_MIN bytes
 * or more are mmapped by malloc and unmapped by free, so every query
 * faulted its sorted rows in afresh, the kernel zeroing each huge page (8 %
 * of a 30-day funnel insight on 10M events). The blocks handed out are
 * remembered with their size (at most BIG_LIVE at once; others are plain
 * malloc/free), and a freed one waits in the cache (at most BIG_CACHED
 * blocks, BIG_CACHE_MAX bytes) for a request it fits without wasting more
 * than half. sn_mem_release empties the cache. */
#define BIG_MIN	      ((size_t)32 << 20)
#define BIG_LIVE      16
#define BIG_CACHED    4
#define BIG_CACHE_MAX ((size_t)512 << 20)

struct big_block {
	void *p;
	size_t size;
};
static struct big_block big_live[BIG_LIVE], big_free[BIG_CACHED];
static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;

void *sn_malloc_big(size_t n)
{
	if (n < BIG_MIN) {
		void *p = malloc(n);
		sn_mem_huge(p, n);
		return p;
	}
	void *p = NULL;
	size_t size = n;
	pthread_mutex_lock(&big_mu);
	size_t best = BIG_CACHED;
	for (size_t i = 0; i < BIG_CACHED; i++)
		if (big_free[i].p && big_free[i].size >= n && big_free[i].size / 2 <= n &&
		    (best == BIG_CACHED || big_free[i].size < big_free[best].size))
			best = i;
	if (best < BIG_CACHED) {
		p = big_free[best].p;
		size = big_free[best].size;
		big_free[best] = (struct big_block){NULL, 0};
	}
	pthread_mutex_unlock(&big_mu);
	if (!p && !(p = malloc(n)))
		return NULL;
	if (size == n)
		sn_mem_huge(p, n);
	pthread_mutex_lock(&big_mu);
	for (size_t i = 0; i < BIG_LIVE; i++)
		if (!big_live[i].p) {
			big_live[i] = (struct big_block){p, size};
			break;
		}
	pthread_mutex_unlock(&big_mu);
	return p;
}

void sn_free_big(void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&big_mu);
	size_t size = 0;
	for (size_t i = 0; i < BIG_LIVE; i++)
		if (big_live[i].p == p) {
			size = big_live[i].size;
			big_live[i] = (struct big_block){NULL, 0};
			break;
		}
	size_t cached = 0, slot = BIG_CACHED;
	for (size_t i = 0; i < BIG_CACHED; i++) {
		cached += big_free[i].size;
		if (!big_free[i].p && slot == BIG_CACHED)
			slot = i;
	}
	if (size && slot < BIG_CACHED && cached + size <= BIG_CACHE_MAX) {
		big_free[slot] = (struct big_block){p, size};
		p = NULL;
	}
	pthread_mutex_unlock(&big_mu);
	free(p);
}

void *sn_calloc_big(size_t n)
{
	/* glibc's calloc does not clear a block it has just mmapped */
	void *p = calloc(1, n);
	sn_mem_huge(p, n);
	return p;
}

static void free_chunks(struct sn_arena_chunk *c)
{
	while (c) {
		struct sn_arena_chunk *n = c->next;
		bool pooled = false;
		free(c->ext);
		c->ext = NULL;
		if (c->size == CHUNK_MAX) {
			pthread_mutex_lock(&pool_mu);
			if (pool_n < SN_ARENA_POOL_CHUNKS) {
				c->next = pool;
				pool = c;
				pool_n++;
				pooled = true;
			}
			pthread_mutex_unlock(&pool_mu);
		}
		if (!pooled)
			free(c);
		c = n;
	}
}

void sn_arena_release(struct sn_arena *a)
{
	free_chunks(a->head);
	free_chunks(a->spare);
	a->head = NULL;
	a->spare = NULL;
	a->used_total = 0;
}

void sn_arena_reset(struct sn_arena *a)
{
	struct sn_arena_chunk *c = a->head;
	while (c) {
		struct sn_arena_chunk *n = c->next;
		if (c->ext) { /* an owned block: gone with the allocations */
			a->used_total -= c->ext_n;
			c->next = NULL;
			free_chunks(c);
			c = n;
			continue;
		}
		c->used = 0;
		c->next = a->spare;
		a->spare = c;
		c = n;
	}
	a->head = NULL;
}

int sn_arena_own(struct sn_arena *a, void *p, size_t n)
{
	if (a->used_total + n > a->max_total)
		return SN_ERR_TOO_BIG;
	struct sn_arena_chunk *c = malloc(sizeof(*c));
	if (!c)
		return SN_ERR_NOMEM;
	c->size = 0;
	c->used = 0; /* no room for allocations */
	c->ext = p;
	c->ext_n = n;
	/* behind the newest chunk, which keeps taking allocations */
	if (a->head) {
		c->next = a->head->next;
		a->head->next = c;
	} else {
		c->next = NULL;
		a->head = c;
	}
	a->used_total += n;
	return 0;
}

int sn_arena_adopt(struct sn_arena *dst, struct sn_arena *src)
{
	if (dst->used_total + src->used_total > dst->max_total)
		return SN_ERR_TOO_BIG;
	struct sn_arena_chunk *lists[2] = {src->head, src->spare};
	for (int l = 0; l < 2; l++)
		for (struct sn_arena_chunk *c = lists[l]; c;) {
			struct sn_arena_chunk *n = c->next;
			/* behind dst's newest chunk, which keeps taking allocations */
			if (dst->head) {
				c->next = dst->head->next;
				dst->head->next = c;
			} else {
				c->next = NULL;
				dst->head = c;
			}
			c = n;
		}
	dst->used_total += src->used_total;
	src->head = src->spare = NULL;
	src->used_total = 0;
	return 0;
}

void *sn_arena_alloc(struct sn_arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	struct sn_arena_chunk *c = a->head;
	if ((!c || c->size - c->used < n) && a->spare) {
		struct sn_arena_chunk **pp = &a->spare;
		while (*pp && (*pp)->size < n)
			pp = &(*pp)->next;
		if (*pp) {
			c = *pp;
			*pp = c->next;
			c->next = a->head;
			a->head = c;
		}
	}
	if (!c || c->size - c->used < n) {
		size_t sz = c ? c->size * 2 : 4096;
		if (sz > a->chunk_max)
			sz = a->chunk_max;
		if (sz < n)
			sz = n;
		if (a->used_total + sz > a->max_total) {
			/* the last chunk: what is left, if the request fits (with
			 * chunks of 32 MiB, a full-size one could be refused long
			 * before the maximum) */
			if (a->used_total + n > a->max_total)
				return NULL;
			sz = a->max_total - a->used_total;
		}
		c = chunk_new(sz);
		if (!c)
			return NULL;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		a->used_total += sz;
	}
	void *p = c->data + c->used;
	c->used += n;
	return p;
}

char *sn_arena_strndup(struct sn_arena *a, const char *s, size_t n)
{
	char *p = sn_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *sn_arena_strdup(struct sn_arena *a, const char *s)
{
	return sn_arena_strndup(a, s, strlen(s));
}

#define MEM_MMAP_THRESHOLD ((size_t)32 << 20) /* glibc's largest */
#define MEM_TRIM_THRESHOLD ((size_t)512 << 20)

void sn_mem_tune(void)
{
	/* fixed values also stop glibc's own threshold moves, which made the
	 * speed of one query depend on the sizes the previous ones freed */
	(void)mallopt(M_MMAP_THRESHOLD, (int)MEM_MMAP_THRESHOLD);
	(void)mallopt(M_TRIM_THRESHOLD, (int)MEM_TRIM_THRESHOLD);
}

void sn_mem_release(void)
{
	struct big_block keep[BIG_CACHED];
	pthread_mutex_lock(&big_mu);
	memcpy(keep, big_free, sizeof(keep));
	memset(big_free, 0, sizeof(big_free));
	pthread_mutex_unlock(&big_mu);
	for (size_t i = 0; i < BIG_CACHED; i++)
		free(keep[i].p);
	pthread_mutex_lock(&pool_mu);
	struct sn_arena_chunk *c = pool;
	pool = NULL;
	pool_n = 0;
	pthread_mutex_unlock(&pool_mu);
	while (c) {
		struct sn_arena_chunk *n = c->next;
		free(c);
		c = n;
	}
	(void)malloc_trim(0);
}
