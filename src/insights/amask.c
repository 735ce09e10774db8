/*
 * amask.c — per-actor state folded from streamed rows: bit masks over an
 * insight's periods and the earliest times of some events.
 *
 * Retention and stickiness ask, per actor, only which periods it was
 * active in (and retention when its first events were). Grouping the
 * events by actor and period in the executor builds one group per
 * actor-period, keyed by a 36-byte string; here the backend streams the
 * events (sn_insight_backend.stream) and each worker (scanner thread)
 * folds its rows into a state of its own per actor:
 *
 *   cells ─▶ actor id ─intern (sintern_get_cells)─▶ 32-bit id
 *            st[id] = { mask words[words] | mins[nmin] }   (uint64 each)
 *
 * The caller's sink interns a batch's actors (amask_batch) and then sets
 * bits / lowers minimums in amask_state(). amask_merge folds the other
 * workers' actors into worker 0's (OR of the masks, minimum of the mins),
 * after which worker 0 holds one state per actor. Memory: the interned
 * strings plus 8 × (words + nmin) bytes per actor and worker.
 */
#include "insights/insights_internal.h"

#include <stdlib.h>
#include <string.h>

bool sn_insights_masks = true;

void amask_init(struct amask *m, size_t words, size_t nmin)
{
	memset(m, 0, sizeof(*m));
	m->words = words;
	m->nmin = nmin;
	m->stride = words + nmin;
	for (size_t i = 0; i < SN_INSIGHT_MAX_WORKERS; i++) {
		struct amask_worker *w = &m->w[i];
		sn_arena_init(&w->a, INSIGHT_MEM_LIMIT);
		sintern_init(&w->actors, &w->a);
		w->key_type = -1;
	}
}

void amask_release(struct amask *m)
{
	for (size_t i = 0; i < SN_INSIGHT_MAX_WORKERS; i++) {
		struct amask_worker *w = &m->w[i];
		sintern_release(&w->actors);
		free(w->st);
		free(w->ids);
		sn_arena_release(&w->a);
	}
	memset(m, 0, sizeof(*m));
}

static int grow(const struct amask *m, struct amask_worker *w, size_t need)
{
	size_t cap = w->cap ? w->cap : 1024;
	while (cap < need)
		cap *= 2;
	uint64_t *st = realloc(w->st, cap * m->stride * sizeof(*st));
	if (!st)
		return SN_ERR_NOMEM;
	for (size_t i = w->cap; i < cap; i++) {
		uint64_t *s = &st[i * m->stride];
		memset(s, 0, m->words * sizeof(*s));
		for (size_t j = 0; j < m->nmin; j++)
			s[m->words + j] = (uint64_t)INT64_MAX;
	}
	w->st = st;
	w->cap = cap;
	return 0;
}

int amask_batch(struct amask *m, unsigned worker, const struct sn_insight_value *cells,
		size_t nrows, size_t ncols, size_t min_cols)
{
	if (worker >= SN_INSIGHT_MAX_WORKERS)
		return SN_ERR_INTERNAL;
	struct amask_worker *w = &m->w[worker];
	if (ncols < min_cols) {
		w->bad_ncols = ncols;
		return SN_ERR_INVALID;
	}
	if (nrows > w->idcap) {
		uint32_t *ids = realloc(w->ids, nrows * sizeof(*ids));
		if (!ids)
			return SN_ERR_NOMEM;
		w->ids = ids;
		w->idcap = nrows;
	}
	int rc = sintern_get_cells(&w->actors, cells, ncols, nrows, w->ids);
	if (rc)
		return rc;
	if (w->actors.n > AMASK_ACTORS_MAX) {
		w->too_many = true;
		return SN_ERR_TOO_BIG;
	}
	if (w->actors.n > w->cap)
		rc = grow(m, w, w->actors.n);
	return rc;
}

int amask_merge(struct amask *m)
{
	struct amask_worker *w0 = &m->w[0];
	for (size_t i = 1; i < SN_INSIGHT_MAX_WORKERS; i++) {
		struct amask_worker *w = &m->w[i];
		for (size_t j = 0; j < w->actors.n; j++) {
			uint32_t id;
			int rc = sintern_get(&w0->actors, w->actors.s[j], w->actors.len[j], &id);
			if (rc == 0 && id >= w0->cap)
				rc = grow(m, w0, (size_t)id + 1);
			if (rc)
				return rc;
			uint64_t *d = &w0->st[(size_t)id * m->stride];
			const uint64_t *o = &w->st[j * m->stride];
			for (size_t k = 0; k < m->words; k++)
				d[k] |= o[k];
			for (size_t k = m->words; k < m->stride; k++)
				if ((int64_t)o[k] < (int64_t)d[k])
					d[k] = o[k];
		}
	}
	return 0;
}

int amask_period(struct ictx *x, struct amask_worker *w, const struct sn_insight_value *cell,
		 const int64_t *list, size_t n)
{
	if (cell->type == w->key_type && cell->i == w->key_val)
		return w->key_idx;
	int64_t loc = local_of_cell(x, cell);
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (list[mid] < loc)
			lo = mid + 1;
		else
			hi = mid;
	}
	w->key_type = cell->type;
	w->key_val = cell->i;
	w->key_idx = lo < n && list[lo] == loc ? (int)lo : -1;
	return w->key_idx;
}

int amask_check(struct ictx *x, const struct amask *m, const char *what)
{
	for (size_t i = 0; i < SN_INSIGHT_MAX_WORKERS; i++) {
		if (m->w[i].bad_ncols)
			return ifail(x, "query_error",
				     "internal: the statement returned %zu columns",
				     m->w[i].bad_ncols);
		if (m->w[i].too_many)
			return ifail(x, "query_error", "The %s has more than %d actors", what,
				     AMASK_ACTORS_MAX);
	}
	return 0;
}
