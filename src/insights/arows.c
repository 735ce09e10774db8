/*
 * arows.c — the rows an insight reduces per actor (a funnel's events, a
 * path's page views), taken from the backend as a stream and put into
 * actor order in C.
 *
 * The row-reading insights run one statement that returns millions of
 * (actor, time, ...) rows. Collected as a table of cell values they cost
 * more than the reduction itself: three copies of every row (executor
 * result, insight table, sort entries), a 36-byte actor id string per row,
 * and the page faults of it all. Here the backend streams the rows
 * (sn_insight_backend.stream) and each is compacted on arrival:
 *
 *   cells ─▶ actor id ─intern─▶ 32-bit id     (struct sintern, actorsort.c)
 *            time column     ─▶ int64 + type   (a DateTime, a Date)
 *            value column    ─▶ int64 + type   (a funnel's step bits)
 *            string slots    ─▶ 32-bit ids     (a breakdown value, a path item)
 *         = struct arow, 32 bytes, in chunks
 *
 * Each backend worker (scanner thread) fills a part of its own (its own
 * arena and intern tables), so workers never wait on each other. With
 * spec.distinct a part keeps one of equal rows (a hash set of row indexes:
 * lifecycle's (actor, period) pairs, a GROUP BY of fixed-width ids instead
 * of the executor's of 36-byte strings), and arows_order drops the equal
 * rows two parts both kept.
 * arows_order then merges the parts' ids into part 0's tables (batched
 * lookups) and puts the rows in walk order — actors by (hash of the id, id
 * bytes), the order rows_by_actor gives, then time, value and the string
 * slots' bytes — in two cache-friendly scatters (by the actor rank's top
 * bits, then by rank) and a sort of each actor's few rows. From
 * sn_insight_set_parallel's row count on, each step runs on two threads
 * (insight_par2): the count and the first scatter split by part (each part
 * owns its place in every bucket), the second scatter and the sorts by
 * ranges of buckets. The order is total, so the answer does not depend on
 * how the backend split or ordered the rows, nor on the threads. Memory:
 * at most two copies of the rows at any time (64 bytes a row at the peak:
 * the chunks are freed once scattered), plus the interned strings.
 *
 * Rejected: one shared intern table behind a lock (the consumers' work
 * then serialised the scanner threads: a funnel on 10M events spent more
 * time waiting than scanning), and a single scatter into the actors'
 * places (a cache miss per row over ~100k places).
 */
#include "insights/insights_internal.h"

#include <stdlib.h>
#include <string.h>

#define AROW_CHUNK 65536

static void part_init(struct arows_part *p)
{
	memset(p, 0, sizeof(*p));
	sn_arena_init(&p->a, INSIGHT_MEM_LIMIT);
	sintern_init(&p->actors, &p->a);
	for (size_t j = 0; j < AROWS_MAX_STR; j++)
		sintern_init(&p->str[j], &p->a);
	sn_buf_init(&p->join, (size_t)1 << 20);
}

static void part_release(struct arows_part *p)
{
	sintern_release(&p->actors);
	for (size_t j = 0; j < AROWS_MAX_STR; j++)
		sintern_release(&p->str[j]);
	for (size_t c = 0; c < p->nchunks; c++)
		free(p->chunk[c]);
	free(p->chunk);
	free(p->dset);
	free(p->ids);
	sn_buf_release(&p->join);
	sn_arena_release(&p->a);
}

void arows_init(struct arows *r, const struct arows_spec *spec)
{
	memset(r, 0, sizeof(*r));
	r->spec = *spec;
	for (size_t w = 0; w < SN_INSIGHT_MAX_WORKERS; w++)
		part_init(&r->w[w]);
}

void arows_release(struct arows *r)
{
	for (size_t w = 0; w < SN_INSIGHT_MAX_WORKERS; w++)
		part_release(&r->w[w]);
	sn_free_big(r->sorted);
	free(r->actor_at);
	free(r->start);
	memset(r, 0, sizeof(*r));
}

/* A cell's text (buf holds a UUID's, given as bits). */
static const char *cell_str(const struct sn_insight_value *v, size_t *len, char buf[37])
{
	if (v->type == SN_IV_UUID) {
		sn_uuid_format(&v->u, buf);
		*len = 36;
		return buf;
	}
	*len = v->type == SN_IV_STRING ? v->slen : 0;
	return v->type == SN_IV_STRING && v->s ? v->s : "";
}

static const struct arow *part_row(const struct arows_part *p, size_t i)
{
	return &p->chunk[i / AROW_CHUNK][i % AROW_CHUNK];
}

static bool same_row(const struct arow *a, const struct arow *b)
{
	return a->actor == b->actor && a->ts == b->ts && a->v == b->v && a->ts_type == b->ts_type &&
	       a->v_type == b->v_type && a->s[0] == b->s[0] && a->s[1] == b->s[1];
}

/* MurmurHash3's finaliser over the row's fields: every bit of each field
 * reaches the low bits the table indexes by. */
static uint64_t row_hash(const struct arow *r)
{
	uint64_t h = sn_mix64((uint64_t)r->ts ^ ((uint64_t)r->actor << 40));
	h = sn_mix64(h ^ (uint64_t)r->v ^ ((uint64_t)r->ts_type << 56 | (uint64_t)r->v_type << 48));
	return sn_mix64(h ^ ((uint64_t)r->s[0] << 32 | r->s[1]));
}

/* spec.distinct: whether row n of p (just written) repeats an earlier one;
 * records it when not. */
static int seen_before(struct arows_part *p, const struct arow *o, bool *seen)
{
	if (2 * (p->n + 1) > p->dcap) {
		size_t nc = p->dcap ? 2 * p->dcap : 4096;
		uint32_t *d = calloc(nc, sizeof(*d));
		if (!d)
			return SN_ERR_NOMEM;
		for (size_t i = 0; i < p->n; i++) {
			size_t j = row_hash(part_row(p, i)) & (nc - 1);
			while (d[j])
				j = (j + 1) & (nc - 1);
			d[j] = (uint32_t)i + 1;
		}
		free(p->dset);
		p->dset = d;
		p->dcap = nc;
	}
	size_t j = row_hash(o) & (p->dcap - 1);
	for (; p->dset[j]; j = (j + 1) & (p->dcap - 1))
		if (same_row(part_row(p, p->dset[j] - 1), o)) {
			*seen = true;
			return 0;
		}
	p->dset[j] = (uint32_t)p->n + 1;
	*seen = false;
	return 0;
}

/* The sink (insight_sink_fn): one batch of one worker. */
static int arows_sink(void *ctx, unsigned worker, const struct sn_insight_value *cells,
		      size_t nrows, size_t ncols)
{
	struct arows *r = ctx;
	const struct arows_spec *sp = &r->spec;
	if (worker >= SN_INSIGHT_MAX_WORKERS)
		return SN_ERR_INTERNAL;
	struct arows_part *p = &r->w[worker];
	if (ncols < sp->ncols) {
		p->bad_ncols = ncols;
		return SN_ERR_INVALID;
	}
	if (nrows > p->idcap) {
		uint32_t *ids = realloc(p->ids, nrows * sizeof(*ids));
		if (!ids)
			return SN_ERR_NOMEM;
		p->ids = ids;
		p->idcap = nrows;
	}
	int rc = sintern_get_cells(&p->actors, cells, ncols, nrows, p->ids);
	if (rc)
		return rc;
	for (size_t i = 0; i < nrows; i++) {
		const struct sn_insight_value *row = &cells[i * ncols];
		if (p->n == p->nchunks * AROW_CHUNK) {
			if (p->nchunks == p->chunkcap) {
				size_t nc = p->chunkcap ? p->chunkcap * 2 : 64;
				struct arow **c = realloc(p->chunk, nc * sizeof(*c));
				if (!c)
					return SN_ERR_NOMEM;
				p->chunk = c;
				p->chunkcap = nc;
			}
			/* malloc'd: the caller's row maximum bounds them */
			if (!(p->chunk[p->nchunks] = malloc(AROW_CHUNK * sizeof(struct arow))))
				return SN_ERR_NOMEM;
			p->nchunks++;
		}
		struct arow *o = &p->chunk[p->n / AROW_CHUNK][p->n % AROW_CHUNK];
		size_t len;
		const char *s;
		char ubuf[37];
		o->actor = p->ids[i];
		o->ts = row[sp->ts_col].i;
		o->ts_type = row[sp->ts_col].type;
		o->v = sp->v_col > 0 ? row[sp->v_col].i : 0;
		o->v_type = sp->v_col > 0 ? row[sp->v_col].type : SN_IV_NULL;
		for (size_t j = 0; j < sp->nstr; j++) {
			if (sp->str[j].n == 1) {
				s = cell_str(&row[sp->str[j].from], &len, ubuf);
			} else { /* several columns: joined with \x1f */
				sn_buf_reset(&p->join);
				for (size_t k = 0; k < sp->str[j].n && rc == 0; k++) {
					if (k)
						rc = sn_buf_appendc(&p->join, '\x1f');
					s = cell_str(&row[sp->str[j].from + k], &len, ubuf);
					if (rc == 0)
						rc = sn_buf_append(&p->join, s, len);
				}
				if (rc)
					return rc;
				s = p->join.data ? p->join.data : "";
				len = p->join.len;
			}
			if ((rc = sintern_get(&p->str[j], s, len, &o->s[j])))
				return rc;
		}
		for (size_t j = sp->nstr; j < AROWS_MAX_STR; j++)
			o->s[j] = 0;
		/* rows come in storage order (day, event, distinct id): most
		 * repeats follow their first, a compare away */
		bool seen = sp->distinct && p->n && same_row(o, part_row(p, p->n - 1));
		if (sp->distinct && !seen && (rc = seen_before(p, o, &seen)))
			return rc;
		if (!seen)
			p->n++;
	}
	return 0;
}

int arows_run(struct ictx *x, struct arows *r, const char *sql, size_t len, size_t *nrows)
{
	int rc = run_hogql_stream(x, sql, len, arows_sink, r, nrows);
	for (size_t w = 0; w < SN_INSIGHT_MAX_WORKERS; w++)
		if (r->w[w].bad_ncols)
			return ifail(x, "query_error",
				     "internal: the statement returned %zu columns",
				     r->w[w].bad_ncols);
	return rc;
}

static int str_order(const struct sintern *t, uint32_t a, uint32_t b)
{
	if (a == b)
		return 0;
	size_t m = t->len[a] < t->len[b] ? t->len[a] : t->len[b];
	int d = m ? memcmp(t->s[a], t->s[b], m) : 0;
	return d ? d : (t->len[a] > t->len[b]) - (t->len[a] < t->len[b]);
}

/* One actor's rows: time, value (NULL first), then each string slot's
 * bytes. */
static inline int arow_cmp(const struct arow *a, const struct arow *b, const struct arows *r)
{
	if (a->ts != b->ts)
		return a->ts < b->ts ? -1 : 1;
	if (a->v_type != b->v_type)
		return a->v_type < b->v_type ? -1 : 1;
	if (a->v != b->v)
		return a->v < b->v ? -1 : 1;
	for (size_t j = 0; j < r->spec.nstr; j++) {
		int d = str_order(&r->w[0].str[j], a->s[j], b->s[j]);
		if (d)
			return d;
	}
	return 0;
}

/* Insertion sort of runs of 32, then a bottom-up merge (stable; tmp holds
 * n): most actors have a few rows, a few have thousands. */
static void arow_sort(struct arow *v, struct arow *tmp, size_t n, const struct arows *r)
{
	const size_t run = 32;
	for (size_t a = 0; a < n; a += run) {
		size_t b = a + run < n ? a + run : n;
		for (size_t i = a + 1; i < b; i++) {
			struct arow e = v[i];
			size_t j = i;
			while (j > a && arow_cmp(&v[j - 1], &e, r) > 0) {
				v[j] = v[j - 1];
				j--;
			}
			v[j] = e;
		}
	}
	struct arow *src = v, *dst = tmp;
	for (size_t w = run; w < n; w *= 2) {
		for (size_t a = 0; a < n; a += 2 * w) {
			size_t m = a + w < n ? a + w : n, b = a + 2 * w < n ? a + 2 * w : n;
			size_t i = a, j = m, o = a;
			while (i < m && j < b)
				dst[o++] = arow_cmp(&src[j], &src[i], r) < 0 ? src[j++] : src[i++];
			while (i < m)
				dst[o++] = src[i++];
			while (j < b)
				dst[o++] = src[j++];
		}
		struct arow *t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof(*v));
}

/* t's ids as g's (*map, malloc'd): in batches through sintern_get_cells,
 * whose look-ahead hides the probes' cache misses (a part's ~100k person
 * ids into part 0's table: 15-20 ms one by one). */
static int merge_ids(struct sintern *g, const struct sintern *t, uint32_t **map)
{
	enum { B = 4096 };
	struct sn_insight_value *cells = malloc(B * sizeof(*cells));
	if (!cells || !(*map = malloc((t->n + 1) * sizeof(**map)))) {
		free(cells);
		return SN_ERR_NOMEM;
	}
	int rc = 0;
	for (size_t i0 = 0; i0 < t->n && rc == 0; i0 += B) {
		size_t m = t->n - i0 < B ? t->n - i0 : B;
		for (size_t i = 0; i < m; i++)
			cells[i] = (struct sn_insight_value){
			    .type = SN_IV_STRING, .s = t->s[i0 + i], .slen = t->len[i0 + i]};
		rc = sintern_get_cells(g, cells, 1, m, *map + i0);
	}
	free(cells);
	return rc;
}

/* The order's shared state; the two halves write disjoint parts of it. */
struct ord {
	struct arows *r;
	uint32_t **amap, *(*smap)[AROWS_MAX_STR], *rank;
	int sh;
	size_t nb, na;
	size_t *bcnt[SN_INSIGHT_MAX_WORKERS]; /* per part: rows per bucket, then its cursor */
	size_t *bstart;			      /* nb + 1: the buckets' stretches in mid */
	size_t bsplit;			      /* half 0 orders buckets [0, bsplit) */
	size_t *cur;			      /* per actor rank: the scatter's cursor */
	struct arow *mid;
	int rc[2];
};

/* Phase 1, per part (half h takes parts w % 2 == h): rows per bucket. */
static void ord_count(void *ctx, unsigned h)
{
	struct ord *o = ctx;
	for (size_t w = h; w < SN_INSIGHT_MAX_WORKERS; w += 2) {
		const struct arows_part *p = &o->r->w[w];
		size_t *bc = o->bcnt[w];
		for (size_t i = 0; i < p->n; i++) {
			uint32_t id = part_row(p, i)->actor;
			bc[o->rank[w ? o->amap[w][id] : id] >> o->sh]++;
		}
	}
}

/* Phase 2, per part: rows into their bucket's stretch of mid, ids made
 * part 0's, actor = rank; the part's chunks freed once copied. */
static void ord_scatter(void *ctx, unsigned h)
{
	struct ord *o = ctx;
	const size_t nstr = o->r->spec.nstr;
	for (size_t w = h; w < SN_INSIGHT_MAX_WORKERS; w += 2) {
		struct arows_part *p = &o->r->w[w];
		size_t *bc = o->bcnt[w];
		for (size_t i = 0; i < p->n; i++) {
			struct arow e = *part_row(p, i);
			if (w) {
				e.actor = o->amap[w][e.actor];
				for (size_t j = 0; j < nstr; j++)
					e.s[j] = o->smap[w][j][e.s[j]];
			}
			e.actor = o->rank[e.actor];
			o->mid[bc[e.actor >> o->sh]++] = e;
		}
		for (size_t c = 0; c < p->nchunks; c++)
			free(p->chunk[c]);
		p->nchunks = 0;
	}
}

/* Phase 3, per range of buckets: each actor's stretch (start), its rows
 * into it by rank, and each actor's rows sorted. */
static void ord_sort(void *ctx, unsigned h)
{
	struct ord *o = ctx;
	struct arows *r = o->r;
	size_t b0 = h ? o->bsplit : 0, b1 = h ? o->nb : o->bsplit;
	size_t k0 = b0 << o->sh, k1 = b1 << o->sh;
	if (k1 > o->na)
		k1 = o->na;
	if (k0 >= k1)
		return;
	size_t lo = o->bstart[b0], hi = o->bstart[b1];
	for (size_t k = k0; k < k1; k++)
		o->cur[k] = 0;
	for (size_t i = lo; i < hi; i++)
		o->cur[o->mid[i].actor]++;
	size_t at = lo;
	for (size_t k = k0; k < k1; k++) {
		size_t c = o->cur[k];
		r->start[k] = at;
		o->cur[k] = at - lo;
		at += c;
	}
	for (size_t i = lo; i < hi; i++)
		r->sorted[lo + o->cur[o->mid[i].actor]++] = o->mid[i];
	struct arow *tmp = NULL;
	size_t tmpcap = 0;
	for (size_t k = k0; k < k1; k++) {
		size_t e = k + 1 < k1 ? r->start[k + 1] : hi;
		size_t m = e - r->start[k];
		if (m > 32 && m > tmpcap) {
			free(tmp);
			tmpcap = m > 2 * tmpcap ? m : 2 * tmpcap;
			if (!(tmp = malloc(tmpcap * sizeof(*tmp)))) {
				o->rc[h] = SN_ERR_NOMEM;
				return;
			}
		}
		arow_sort(r->sorted + r->start[k], tmp, m, r);
	}
	free(tmp);
}

int arows_order(struct ictx *x, struct arows *r)
{
	enum { W = SN_INSIGHT_MAX_WORKERS, S = AROWS_MAX_STR };
	struct arows_part *p0 = &r->w[0];
	uint32_t *amap[W] = {0}, *smap[W][S] = {{0}};
	struct ord o = {.r = r, .amap = amap, .smap = smap};
	int rc = 0;
	r->n = 0;
	for (size_t w = 0; w < W && rc == 0; w++) {
		struct arows_part *p = &r->w[w];
		r->n += p->n;
		if (w == 0 || !p->n)
			continue;
		rc = merge_ids(&p0->actors, &p->actors, &amap[w]);
		for (size_t j = 0; j < r->spec.nstr && rc == 0; j++)
			rc = merge_ids(&p0->str[j], &p->str[j], &smap[w][j]);
	}
	size_t na = p0->actors.n, n = r->n;
	bool par = insight_parallel(n);
	o.na = na;
	while ((na >> o.sh) > 255)
		o.sh++;
	o.nb = (na >> o.sh) + 1;
	if (rc == 0) {
		o.rank = malloc((na ? na : 1) * sizeof(*o.rank));
		o.cur = malloc((na ? na : 1) * sizeof(*o.cur));
		r->actor_at = malloc((na ? na : 1) * sizeof(*r->actor_at));
		r->start = calloc(na + 2, sizeof(*r->start));
		r->sorted = sn_malloc_big((n ? n : 1) * sizeof(*r->sorted));
		o.mid = sn_malloc_big((n ? n : 1) * sizeof(*o.mid));
		o.bstart = calloc(o.nb + 1, sizeof(*o.bstart));
		rc = o.rank && o.cur && r->actor_at && r->start && r->sorted && o.mid && o.bstart
			 ? 0
			 : SN_ERR_NOMEM;
	}
	for (size_t w = 0; w < W && rc == 0; w++)
		if (!(o.bcnt[w] = calloc(o.nb, sizeof(*o.bcnt[w]))))
			rc = SN_ERR_NOMEM;
	if (rc == 0)
		rc = sintern_rank(&p0->actors, o.rank);
	if (rc)
		goto out;
	for (size_t i = 0; i < na; i++)
		r->actor_at[o.rank[i]] = (uint32_t)i;
	/* buckets of actor ranks (rank >> sh, at most 256): counted per part,
	 * each part's rows then go to its own place in the bucket's stretch */
	insight_par2(ord_count, &o, par);
	size_t at = 0;
	for (size_t b = 0; b < o.nb; b++) {
		o.bstart[b] = at;
		for (size_t w = 0; w < W; w++) {
			size_t c = o.bcnt[w][b];
			o.bcnt[w][b] = at;
			at += c;
		}
	}
	o.bstart[o.nb] = at;
	insight_par2(ord_scatter, &o, par);
	/* the halves split the rows, not the buckets, evenly */
	while (o.bsplit < o.nb && o.bstart[o.bsplit] < n / 2)
		o.bsplit++;
	insight_par2(ord_sort, &o, par);
	rc = o.rc[0] ? o.rc[0] : o.rc[1];
	r->start[na] = n;
	/* distinct: equal rows of different parts are neighbours now */
	if (rc == 0 && r->spec.distinct && n) {
		size_t w = 0;
		for (size_t k = 0; k < na; k++) {
			size_t a = r->start[k], b = r->start[k + 1];
			r->start[k] = w;
			for (size_t i = a; i < b; i++)
				if (i == a || !same_row(&r->sorted[i], &r->sorted[w - 1]))
					r->sorted[w++] = r->sorted[i];
		}
		r->start[na] = r->n = w;
	}
	/* part 0's arena holds every string the caller reads from now on */
	if (rc == 0)
		rc = sn_arena_adopt(x->a, &p0->a);
out:
	for (size_t w = 0; w < W; w++) {
		free(amap[w]);
		free(o.bcnt[w]);
		for (size_t j = 0; j < S; j++)
			free(smap[w][j]);
	}
	free(o.rank);
	free(o.cur);
	free(o.bstart);
	sn_free_big(o.mid);
	return rc;
}

size_t arows_half(const struct arows *r)
{
	size_t na = r->w[0].actors.n, k = 0;
	while (k < na && r->start[k] < r->n / 2)
		k++;
	return k;
}
