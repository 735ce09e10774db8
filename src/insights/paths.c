/*
 * paths.c — PathsQuery (spec/hogql.md §9.6, PostHog's paths_query_runner):
 * the most common ways people move from one page, screen or event to the
 * next, as Sankey edges {source "1_/", target "2_/about", value, average
 * conversion time in ms}.
 *
 * One statement computes every event's path item in HogQL (so cleaning and
 * groupings are the same on every backend) and streams them; they are put
 * per person in time order in C:
 *
 *   SELECT person, timestamp, <item> FROM events WHERE <range, filters, event types>
 *   (person, timestamp, item order: arows.c, items interned once each)
 *   item = $current_url with one trailing '/' removed ($pageview), $screen_name
 *          ($screen), the HogQL expression or the event name; then the project's
 *          cleaning rules (pathReplacements), the local ones, then the groupings
 *
 * and the rest happens per person in C, in PostHog's order: excluded items
 * drop out; a gap of 30 minutes or more starts a new session path; runs of
 * one item collapse to their last event; a trailing empty item goes; the
 * path is cut at the start/end point (or shortened around "..." when both)
 * and to stepLimit items; items are numbered 1..n and each consecutive pair
 * is an edge. Edges are counted over session paths, filtered by
 * min/maxEdgeWeight, ordered by value (then source, target), cut to
 * edgeLimit, and edges no longer reachable from a step-1 item are dropped.
 *
 * Speed (10M events, a 30-day 5-step pageview path: 1.28M rows, 99k
 * persons, ~100k distinct edges): the persons are walked in two halves of
 * about equal rows on two threads (insight_par2), each counting edges by
 * (step, interned item pointers) in its own table; the tables merge by
 * pointer, and "n_item" texts are made and compared only for the edges at
 * or above the edgeLimit-th weight (top_edges), not for the long tail.
 * Conversion times are summed as integer µs, so the average does not
 * depend on how the walk was split.
 */
#include "insights/insights_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATHS_ROWS_MAX	8000000 /* 64 bytes a row at the peak (arows.c) */
#define SESSION_GAP_US	(1800 * US_SEC)
#define DEFAULT_STEPS	5
#define DEFAULT_EDGES	50
#define MAX_STEPS_LIMIT 100
#define MAX_EXCLUDES	100
#define PATHS_EDGES_MAX 10000000

static const char DOTS[] = "..."; /* a shortened path's middle */

struct pevent {
	int64_t ts;
	const char *item;
};

struct edge {
	char *source, *target;
	int64_t value;
	int64_t total_us; /* summed conversion time (exact, in any order) */
};

struct edges {
	struct edge *v;
	size_t n;
};

/* Edges while the paths are walked: keyed by the step and the two items'
 * interned pointers (an item's text has one pointer, so no text is built
 * or hashed per edge); their "n_item" texts are made once per distinct
 * edge afterwards (pedges_to_edges). */
struct pedge {
	const char *src, *dst; /* interned items ("..." for a shortened path) */
	size_t step;	       /* src's number; dst is step + 1 */
	int64_t value;
	int64_t total_us;
};

struct pedges {
	struct pedge *v;
	size_t n, cap;
	size_t *slots; /* hash of (step, src, dst) → index + 1 */
	size_t scap;
};

static size_t pedge_hash(size_t step, const char *src, const char *dst)
{
	uint64_t h = (uint64_t)(uintptr_t)src * 0x9e3779b97f4a7c15ULL ^
		     (uint64_t)(uintptr_t)dst * 0xc2b2ae3d27d4eb4fULL ^ (uint64_t)step;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (size_t)(h ^ (h >> 32));
}

/* Counts value traversals taking us in all on the edge; SN_ERR_TOO_BIG
 * past PATHS_EDGES_MAX distinct edges. */
static int add_pedge(struct sn_arena *a, struct pedges *e, size_t step, const char *src,
		     const char *dst, int64_t value, int64_t us)
{
	if (e->n * 2 >= e->scap) {
		size_t cap = e->scap ? e->scap * 2 : 256;
		size_t *ns = sn_arena_alloc(a, cap * sizeof(*ns));
		if (!ns)
			return SN_ERR_NOMEM;
		memset(ns, 0, cap * sizeof(*ns));
		for (size_t i = 0; i < e->n; i++) {
			size_t h = pedge_hash(e->v[i].step, e->v[i].src, e->v[i].dst) & (cap - 1);
			while (ns[h])
				h = (h + 1) & (cap - 1);
			ns[h] = i + 1;
		}
		e->slots = ns;
		e->scap = cap;
	}
	size_t h = pedge_hash(step, src, dst) & (e->scap - 1);
	while (e->slots[h]) {
		struct pedge *g = &e->v[e->slots[h] - 1];
		if (g->step == step && g->src == src && g->dst == dst) {
			g->value += value;
			g->total_us += us;
			return 0;
		}
		h = (h + 1) & (e->scap - 1);
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 256;
		if (cap > PATHS_EDGES_MAX)
			return SN_ERR_TOO_BIG;
		struct pedge *nv = sn_arena_alloc(a, cap * sizeof(*nv));
		if (!nv)
			return SN_ERR_NOMEM;
		if (e->n)
			memcpy(nv, e->v, e->n * sizeof(*nv));
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n] = (struct pedge){src, dst, step, value, us};
	e->slots[h] = ++e->n;
	return 0;
}

/* The actors of one part of the Sankey (paths_actors): the persons with a
 * session path that has the edge start → end, an edge from start, an edge
 * to end, or that ends at dropoff (keys "2_/about"). */
struct pcollect {
	const char *start, *end, *dropoff;
	bool hit; /* the current person matched */
};

struct pq {
	int64_t gap_us; /* a gap this long starts a new session path */
	int steps;
	const char *start, *end;
	const char **exclude;
	size_t nexclude;
	bool filter_excludes;
};

/* One session path p[0..n) after dedupe: cut, number, add its edges. */
static int session(struct sn_arena *a, const struct pq *pq, struct pevent *p, size_t n,
		   struct pedges *e, struct pcollect *c)
{
	size_t from = 0, to = n; /* the kept range [from, to) */
	const char *dots = NULL;
	struct pevent shortened[2 * MAX_STEPS_LIMIT + 1];
	if (pq->start && pq->end) {
		size_t s = n, t = n;
		for (size_t i = 0; i < n && s == n; i++)
			if (strcmp(p[i].item, pq->start) == 0)
				s = i;
		for (size_t i = s; i < n && t == n; i++)
			if (strcmp(p[i].item, pq->end) == 0)
				t = i;
		if (s == n || t == n)
			return 0;
		from = s;
		to = t + 1;
		size_t len = to - from, half = (size_t)pq->steps / 2;
		if (len > (size_t)pq->steps) {
			/* first ⌊L/2⌋ items, "...", the last ⌊L/2⌋ */
			size_t k = 0;
			for (size_t i = 0; i < half; i++)
				shortened[k++] = p[from + i];
			shortened[k] = (struct pevent){p[from + half].ts, DOTS};
			dots = DOTS;
			k++;
			for (size_t i = to - half; i < to; i++)
				shortened[k++] = p[i];
			p = shortened;
			from = 0;
			to = k;
		}
	} else if (pq->start || pq->end) {
		const char *target = pq->end ? pq->end : pq->start;
		size_t at = n;
		for (size_t i = 0; i < n && at == n; i++)
			if (strcmp(p[i].item, target) == 0)
				at = i;
		if (at == n)
			return 0;
		if (pq->end) {
			to = at + 1;
			from = to > (size_t)pq->steps ? to - (size_t)pq->steps : 0;
		} else {
			from = at;
			to = n - from > (size_t)pq->steps ? from + (size_t)pq->steps : n;
		}
	} else {
		to = n > (size_t)pq->steps ? (size_t)pq->steps : n;
	}
	(void)dots;
	char src[1100], dst[1100];
	if (c && c->dropoff && to > from) {
		snprintf(dst, sizeof(dst), "%zu_%s", to - from, p[to - 1].item);
		c->hit |= strcmp(dst, c->dropoff) == 0;
	}
	for (size_t i = from + 1; i < to; i++) {
		if (c) {
			snprintf(src, sizeof(src), "%zu_%s", i - from, p[i - 1].item);
			snprintf(dst, sizeof(dst), "%zu_%s", i - from + 1, p[i].item);
			if (!c->dropoff && (c->start || c->end))
				c->hit |= (!c->start || strcmp(src, c->start) == 0) &&
					  (!c->end || strcmp(dst, c->end) == 0);
			continue;
		}
		int rc =
		    add_pedge(a, e, i - from, p[i - 1].item, p[i].item, 1, p[i].ts - p[i - 1].ts);
		if (rc)
			return rc;
	}
	return 0;
}

/* Adds edge g's counts to t under its key; an item that reads "..." is
 * keyed as DOTS, so a shortened path's middle and an item "..." (one
 * text) are one edge. */
static int merge_pedge(struct sn_arena *a, struct pedges *t, const struct pedge *g)
{
	const char *src = strcmp(g->src, DOTS) ? g->src : DOTS;
	const char *dst = strcmp(g->dst, DOTS) ? g->dst : DOTS;
	return add_pedge(a, t, g->step, src, dst, g->value, g->total_us);
}

static int edge_cmp(const void *pa, const void *pb)
{
	const struct edge *a = pa, *b = pb;
	if (a->value != b->value)
		return a->value > b->value ? -1 : 1;
	int c = strcmp(a->source, b->source);
	return c ? c : strcmp(a->target, b->target);
}

static int int64_desc(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
	return (a < b) - (a > b);
}

/*
 * The walked edges of the walk's halves (pe[0..npe)) with a weight in
 * [min_w, max_w] (0: no bound), the first `limit` of them by weight
 * (descending), then source and target text: the Sankey's edges, as "n_item"
 * texts, in e. The halves' tables merge on (step, item pointers) — items
 * are interned, so one text is one pointer — and texts are made only for
 * the edges at or above the limit-th weight, not for the long tail
 * (1.28M page views walk to ~100k distinct edges; the Sankey shows 50).
 */
static int top_edges(struct ictx *x, const struct pedges *pe, size_t npe, int64_t min_w,
		     int64_t max_w, size_t limit, struct edges *e)
{
	struct pedges t = {0};
	int rc = 0;
	for (size_t h = 0; h < npe && rc == 0; h++)
		for (size_t i = 0; i < pe[h].n && rc == 0; i++)
			rc = merge_pedge(x->a, &t, &pe[h].v[i]);
	if (rc == SN_ERR_TOO_BIG)
		return ifail(x, "query_error", "The paths have more than %d distinct edges",
			     PATHS_EDGES_MAX);
	size_t m = 0;
	for (size_t i = 0; i < t.n; i++)
		if ((!min_w || t.v[i].value >= min_w) && (!max_w || t.v[i].value <= max_w))
			t.v[m++] = t.v[i];
	e->n = 0;
	if (!m || !limit)
		return rc;
	/* the limit-th weight: edges below it cannot be among the first */
	int64_t least = INT64_MIN;
	if (m > limit) {
		int64_t *w = malloc(m * sizeof(*w));
		if (!w)
			return SN_ERR_NOMEM;
		for (size_t i = 0; i < m; i++)
			w[i] = t.v[i].value;
		qsort(w, m, sizeof(*w), int64_desc);
		least = w[limit - 1];
		free(w);
	}
	if (!(e->v = sn_arena_alloc(x->a, m * sizeof(*e->v))))
		return SN_ERR_NOMEM;
	char src[1100], dst[1100];
	for (size_t i = 0; i < m; i++) {
		const struct pedge *g = &t.v[i];
		if (g->value < least)
			continue;
		snprintf(src, sizeof(src), "%zu_%s", g->step, g->src);
		snprintf(dst, sizeof(dst), "%zu_%s", g->step + 1, g->dst);
		char *s = sn_arena_strdup(x->a, src), *d = sn_arena_strdup(x->a, dst);
		if (!s || !d)
			return SN_ERR_NOMEM;
		e->v[e->n++] = (struct edge){s, d, g->value, g->total_us};
	}
	qsort(e->v, e->n, sizeof(*e->v), edge_cmp);
	if (e->n > limit)
		e->n = limit;
	return 0;
}

/* One person's events (time order): sessions, dedupe, excludes. */
static int person(struct sn_arena *a, const struct pq *pq, struct pevent *ev, size_t n,
		  struct pedges *e, struct pcollect *c)
{
	/* drop excluded items first (before sessions and timings) */
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		bool out = false;
		for (size_t k = 0; pq->filter_excludes && k < pq->nexclude && !out; k++)
			out = strcmp(ev[i].item, pq->exclude[k]) == 0;
		if (!out)
			ev[m++] = ev[i];
	}
	size_t start = 0;
	for (size_t i = 1; i <= m; i++) {
		if (i < m && ev[i].ts - ev[i - 1].ts < pq->gap_us)
			continue;
		/* session [start, i): collapse runs to their last event */
		size_t k = start;
		for (size_t j = start; j < i; j++) {
			/* items are interned: one text, one pointer */
			if (j + 1 < i && ev[j].item == ev[j + 1].item)
				continue;
			ev[k++] = ev[j];
		}
		size_t len = k - start;
		if (len && !ev[start + len - 1].item[0])
			len--; /* a trailing empty item */
		int rc = len ? session(a, pq, ev + start, len, e, c) : 0;
		if (rc)
			return rc;
		start = i;
	}
	return 0;
}

/* A wildcard grouping as a regex: the text literal, '*' any characters. */
static int glob_regex(struct sn_buf *b, const char *g)
{
	int rc = 0;
	for (const char *p = g; *p && rc == 0; p++) {
		if (*p == '*')
			rc = sn_buf_appends(b, ".*");
		else if (strchr("\\^$.|?+()[]{}", *p)) {
			rc = sn_buf_appendc(b, '\\');
			rc = rc ? rc : sn_buf_appendc(b, *p);
		} else
			rc = sn_buf_appendc(b, *p);
	}
	return rc;
}

/* replaceRegexpAll(item, regex, alias) for each {alias, regex} rule. */
static int cleaning(struct ictx *x, struct json_object *rules, struct sn_buf *item)
{
	size_t n = rules && json_object_is_type(rules, json_type_array)
		       ? json_object_array_length(rules)
		       : 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		struct json_object *r = json_object_array_get_idx(rules, i);
		const char *re = jstr(r, "regex"), *alias = jstr(r, "alias");
		if (!re || !alias)
			return ifail(x, "validation_error",
				     "Path cleaning rules need a regex and an alias");
		struct sn_buf w;
		sn_buf_init(&w, 1 << 20);
		rc = sn_buf_appendf(&w, "replaceRegexpAll(%s, ", item->data);
		rc = rc ? rc : hq_str(&w, re, strlen(re));
		rc = rc ? rc : sn_buf_appends(&w, ", ");
		rc = rc ? rc : hq_str(&w, alias, strlen(alias));
		rc = rc ? rc : sn_buf_appendc(&w, ')');
		if (rc == 0) {
			sn_buf_reset(item);
			rc = sn_buf_append(item, w.data, w.len);
		}
		sn_buf_release(&w);
	}
	return rc;
}

static bool has_type(struct json_object *types, const char *t)
{
	size_t n = types && json_object_is_type(types, json_type_array)
		       ? json_object_array_length(types)
		       : 0;
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(types, i);
		if (json_object_is_type(v, json_type_string) &&
		    strcmp(json_object_get_string(v), t) == 0)
			return true;
	}
	return false;
}

/* ---- paths of a funnel step's actors --------------------------------------------- */

/*
 * funnelPathsFilter {funnelPathType, funnelStep, funnelSource}: the paths of
 * the actors of funnelStep (n: reached step n; -n: dropped off before step
 * n) of the FunnelsQuery source, as PostHog's paths runner joins them:
 * after the step, events at or after the step's time (after a drop-off: of
 * the last step reached); before the step, events at or before it (before
 * a drop-off: until the funnel window after the last step reached closed);
 * between steps, events from the previous step's time to the step's. A
 * session path may then last the funnel window. (Checked against the 14
 * funnel-path fixtures ported from PostHog's tests.)
 */
struct fwin {
	const char *id;
	int64_t lo, hi;
};

struct fwins {
	struct fwin *v;
	size_t n;
	int64_t window_us;
	/* what an event's actor is when the funnel aggregates by a group
	 * ($group_N) or a HogQL expression: the statement's 4th column; NULL
	 * = the person */
	char *key_expr;
};

static int fwin_cmp(const void *a, const void *b)
{
	return strcmp(((const struct fwin *)a)->id, ((const struct fwin *)b)->id);
}

static int64_t window_us(struct json_object *ff)
{
	int64_t n = jget(ff, "funnelWindowInterval")
			? json_object_get_int64(jget(ff, "funnelWindowInterval"))
			: 14;
	const char *u = jstr(ff, "funnelWindowIntervalUnit");
	int64_t unit = US_DAY;
	if (u && !strcmp(u, "second"))
		unit = US_SEC;
	else if (u && !strcmp(u, "minute"))
		unit = 60 * US_SEC;
	else if (u && !strcmp(u, "hour"))
		unit = 3600 * US_SEC;
	else if (u && !strcmp(u, "week"))
		unit = 7 * US_DAY;
	else if (u && !strcmp(u, "month"))
		unit = 30 * US_DAY;
	return (n > 0 ? n : 14) * unit;
}

static int funnel_windows(struct ictx *x, struct json_object *fpf, struct fwins *w)
{
	const char *type = jstr(fpf, "funnelPathType");
	struct json_object *src = jget(fpf, "funnelSource");
	struct json_object *sv = jget(fpf, "funnelStep");
	int step = sv ? json_object_get_int(sv) : 0;
	bool after = type && !strcmp(type, "funnel_path_after_step");
	bool before = type && !strcmp(type, "funnel_path_before_step");
	bool between = type && !strcmp(type, "funnel_path_between_steps");
	if (!after && !before && !between)
		return ifail(x, "validation_error",
			     "funnelPathsFilter.funnelPathType must be funnel_path_after_step, "
			     "funnel_path_before_step or funnel_path_between_steps");
	if (!json_object_is_type(src, json_type_object) || !jstr(src, "kind") ||
	    strcmp(jstr(src, "kind"), "FunnelsQuery") != 0)
		return ifail(x, "validation_error",
			     "funnelPathsFilter.funnelSource must be a FunnelsQuery");
	if (step == 0)
		return ifail(x, "validation_error", "funnelPathsFilter.funnelStep must not be 0");
	w->window_us = window_us(jget(src, "funnelsFilter"));
	struct actor_rows rows = {0};
	int gti = -1;
	int rc = funnels_actors(x, src, step, NULL, &rows, &gti);
	if (rc)
		return rc;
	const char *hq = jstr(jget(src, "funnelsFilter"), "funnelAggregateByHogQL");
	if (gti >= 0 || (gti == -2 && hq)) {
		size_t len = (hq ? strlen(hq) : 0) + 32;
		if (!(w->key_expr = sn_arena_alloc(x->a, len)))
			return SN_ERR_NOMEM;
		if (gti >= 0)
			snprintf(w->key_expr, len, "toString($group_%d)", gti);
		else
			snprintf(w->key_expr, len, "toString(%s)", hq);
	}
	w->v = sn_arena_alloc(x->a, (rows.n ? rows.n : 1) * sizeof(*w->v));
	if (!w->v)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < rows.n; i++) {
		const struct actor_row *r = &rows.v[i];
		struct fwin *f = &w->v[w->n++];
		f->id = r->id;
		f->lo = INT64_MIN;
		f->hi = INT64_MAX;
		if (after)
			f->lo = r->t_step;
		else if (before) /* before a drop-off: until the window closed */
			f->hi = r->t_step + (step < 0 ? w->window_us : 0);
		else {
			f->lo = r->t_prev;
			f->hi = r->t_step;
		}
	}
	if (w->n)
		qsort(w->v, w->n, sizeof(*w->v), fwin_cmp);
	return 0;
}

static const struct fwin *fwin_of(const struct fwins *w, const char *actor, size_t alen)
{
	char id[256];
	if (!w->n || alen >= sizeof(id))
		return NULL;
	memcpy(id, actor, alen);
	id[alen] = 0;
	struct fwin key = {.id = id};
	return bsearch(&key, w->v, w->n, sizeof(*w->v), fwin_cmp);
}

/* Keeps the events of one person's rows (tab rows r0.., in ev) that fall in
 * their funnel actor's window: the person's, or with key_expr each event's
 * own group / aggregation value. The new count. */
/* Keeps the events of one actor (rows[s0 .. s0 + n), their copies in ev)
 * inside the actor's funnel window; the window is the person's, or with
 * key_expr each event's own key's (the statement's 4th column, string
 * slot 1; a NULL key reads "" and matches no funnel actor but ""). */
static size_t in_window(const struct fwins *w, const struct arows *rows, const char *actor,
			size_t alen, size_t s0, struct pevent *ev, size_t n)
{
	const struct fwin *f = w->key_expr ? NULL : fwin_of(w, actor, alen);
	if (!w->key_expr && !f)
		return 0;
	const struct sintern *keys = &rows->w[0].str[1];
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (w->key_expr) {
			uint32_t k = rows->sorted[s0 + i].s[1];
			if (!(f = fwin_of(w, keys->s[k], keys->len[k])))
				continue;
		}
		if (ev[i].ts >= f->lo && ev[i].ts <= f->hi)
			ev[m++] = ev[i];
	}
	return m;
}

/* The walk over the ordered rows, one half of the actors per thread. */
struct pwalk {
	const struct pq *pq;
	const struct arows *rows;
	const struct fwins *fw; /* funnel paths: the actors' windows */
	struct pcollect *col;	/* paths_actors: one thread */
	struct actor_rows *rows_out;
	struct ictx *x; /* col only: actor_push */
	size_t ksplit;	/* half 0 walks actors [0, ksplit) */
	struct pedges pe[2];
	struct sn_arena a[2];
	int rc[2];
};

static void pwalk_half(void *ctx, unsigned h)
{
	struct pwalk *w = ctx;
	const struct arows *rows = w->rows;
	const struct sintern *actors = &rows->w[0].actors, *items = &rows->w[0].str[0];
	size_t k0 = h ? w->ksplit : 0, k1 = h ? actors->n : w->ksplit;
	/* one actor's events at a time, in a buffer the size of the largest
	 * actor's: it stays in cache, and no page is faulted per row */
	struct pevent *ev = NULL;
	size_t cap = 0;
	int rc = 0;
	for (size_t k = k0; rc == 0 && k < k1; k++) {
		size_t s0 = rows->start[k], n = rows->start[k + 1] - s0;
		if (n > cap) {
			free(ev);
			cap = n > 2 * cap ? n : 2 * cap;
			if (!(ev = malloc(cap * sizeof(*ev)))) {
				rc = SN_ERR_NOMEM;
				break;
			}
		}
		for (size_t i = 0; i < n; i++) {
			const struct arow *ar = &rows->sorted[s0 + i];
			ev[i].ts = arow_us(ar);
			ev[i].item = items->s[ar->s[0]];
		}
		uint32_t id = rows->actor_at[k];
		if (w->fw)
			n = in_window(w->fw, rows, actors->s[id], actors->len[id], s0, ev, n);
		rc = n ? person(&w->a[h], w->pq, ev, n, &w->pe[h], w->col) : 0;
		if (rc == 0 && w->col && w->col->hit)
			rc = actor_push(w->x, w->rows_out, actors->s[id], actors->len[id], 0);
		if (w->col)
			w->col->hit = false;
	}
	free(ev);
	w->rc[h] = rc;
}

static int paths_core(struct ictx *x, struct json_object *q, struct sn_buf *out,
		      struct pcollect *col, struct actor_rows *rows_out);

int paths_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	return paths_core(x, q, out, NULL, NULL);
}

int paths_actors(struct ictx *x, struct json_object *q, struct actor_rows *out)
{
	struct json_object *pf = jget(q, "pathsFilter");
	struct pcollect col = {jstr(pf, "pathStartKey"), jstr(pf, "pathEndKey"),
			       jstr(pf, "pathDropoffKey"), false};
	if (!col.start && !col.end && !col.dropoff)
		return ifail(x, "validation_error",
			     "The actors of a path need pathsFilter.pathStartKey and/or pathEndKey "
			     "(an edge, \"1_/home\" → \"2_/about\") or pathDropoffKey");
	if (col.dropoff && (col.start || col.end))
		return ifail(x, "validation_error",
			     "pathsFilter.pathDropoffKey goes without pathStartKey and pathEndKey");
	return paths_core(x, q, NULL, &col, out);
}

/* The paths of q into out, or (col) the persons col asks for into
 * rows_out. */
static int paths_core(struct ictx *x, struct json_object *q, struct sn_buf *out,
		      struct pcollect *col, struct actor_rows *rows_out)
{
	struct json_object *pf = jget(q, "pathsFilter");
	struct pq pq = {.steps = DEFAULT_STEPS, .gap_us = SESSION_GAP_US};
	struct fwins fw = {0};
	struct json_object *fpf = jget(q, "funnelPathsFilter");
	if (fpf) {
		int frc = funnel_windows(x, fpf, &fw);
		if (frc)
			return frc;
		pq.gap_us = fw.window_us;
	}
	struct json_object *v;
	if ((v = jget(pf, "stepLimit")))
		pq.steps = json_object_get_int(v);
	if (pq.steps < 2 || pq.steps > MAX_STEPS_LIMIT)
		return ifail(x, "validation_error", "pathsFilter.stepLimit must be 2 to %d",
			     MAX_STEPS_LIMIT);
	int edge_limit = DEFAULT_EDGES;
	if ((v = jget(pf, "edgeLimit")))
		edge_limit = json_object_get_int(v);
	if (edge_limit < 1)
		edge_limit = DEFAULT_EDGES;
	int64_t min_w =
	    jget(pf, "minEdgeWeight") ? json_object_get_int64(jget(pf, "minEdgeWeight")) : 0;
	int64_t max_w =
	    jget(pf, "maxEdgeWeight") ? json_object_get_int64(jget(pf, "maxEdgeWeight")) : 0;
	pq.start = jstr(pf, "startPoint");
	pq.end = jstr(pf, "endPoint");
	if (pq.start && !*pq.start)
		pq.start = NULL;
	if (pq.end && !*pq.end)
		pq.end = NULL;
	if (!(pq.start && pq.end)) {
		/* a single point loses one trailing '/' */
		const char **pt = pq.end ? &pq.end : &pq.start;
		if (*pt && strlen(*pt) > 1 && (*pt)[strlen(*pt) - 1] == '/') {
			char *c = sn_arena_strndup(x->a, *pt, strlen(*pt) - 1);
			if (!c)
				return SN_ERR_NOMEM;
			*pt = c;
		}
	}
	struct json_object *types = jget(pf, "includeEventTypes");
	bool typed = types && json_object_is_type(types, json_type_array) &&
		     json_object_array_length(types) > 0;
	struct json_object *ex = jget(pf, "excludeEvents");
	size_t nex =
	    ex && json_object_is_type(ex, json_type_array) ? json_object_array_length(ex) : 0;
	if (nex > MAX_EXCLUDES)
		return ifail(x, "validation_error", "At most %d excludeEvents", MAX_EXCLUDES);
	pq.exclude = sn_arena_alloc(x->a, (nex ? nex : 1) * sizeof(*pq.exclude));
	if (!pq.exclude)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < nex; i++) {
		struct json_object *e = json_object_array_get_idx(ex, i);
		if (json_object_is_type(e, json_type_string))
			pq.exclude[pq.nexclude++] = json_object_get_string(e);
	}
	pq.filter_excludes = typed;
	/* which event types are items of their own (PostHog's _should_query_event) */
	bool pv = typed ? has_type(types, "$pageview") : !has_type(ex, "$pageview");
	bool sc = typed ? has_type(types, "$screen") : !has_type(ex, "$screen");
	bool hq = typed ? has_type(types, "hogql") : !has_type(ex, "hogql");
	const char *hexpr = jstr(pf, "pathsHogQLExpression");
	/* the item */
	struct sn_buf item;
	sn_buf_init(&item, 1 << 22);
	int rc = sn_buf_appends(&item, (pv || sc) ? "ifNull(multiIf(" : "ifNull(toString(");
	if (rc == 0 && pv)
		rc = sn_buf_appends(&item, "event = '$pageview', replaceRegexpAll(ifNull(toString("
					   "properties.$current_url), ''), '(.)/$', '\\\\1'), ");
	if (rc == 0 && sc)
		rc =
		    sn_buf_appends(&item, "event = '$screen', toString(properties.$screen_name), ");
	if (rc == 0 && hq && hexpr && *hexpr)
		rc = sn_buf_appendf(&item, "toString(%s)), '')", hexpr);
	else if (rc == 0)
		rc = sn_buf_appends(&item, "event), '')");
	if (rc == 0 && jbool(pf, "pathReplacements"))
		rc = cleaning(x, x->o->team.path_cleaning_filters, &item);
	if (rc == 0)
		rc = cleaning(x, jget(pf, "localPathCleaningFilters"), &item);
	struct json_object *groups = jget(pf, "pathGroupings");
	size_t ng = groups && json_object_is_type(groups, json_type_array)
			? json_object_array_length(groups)
			: 0;
	if (rc == 0 && ng) {
		struct sn_buf w;
		sn_buf_init(&w, 1 << 22);
		rc = sn_buf_appends(&w, "multiIf(");
		for (size_t i = 0; i < ng && rc == 0; i++) {
			struct json_object *g = json_object_array_get_idx(groups, i);
			if (!json_object_is_type(g, json_type_string))
				continue;
			struct sn_buf re;
			sn_buf_init(&re, 1 << 16);
			rc = glob_regex(&re, json_object_get_string(g));
			rc = rc ? rc : sn_buf_appendf(&w, "match(%s, ", item.data);
			rc = rc ? rc : hq_str(&w, re.data ? re.data : "", re.len);
			rc = rc ? rc : sn_buf_appends(&w, "), ");
			rc = rc ? rc
				: hq_str(&w, json_object_get_string(g),
					 json_object_get_string_len(g));
			rc = rc ? rc : sn_buf_appends(&w, ", ");
			sn_buf_release(&re);
		}
		rc = rc ? rc : sn_buf_appendf(&w, "%s)", item.data);
		if (rc == 0) {
			sn_buf_reset(&item);
			rc = sn_buf_append(&item, w.data, w.len);
		}
		sn_buf_release(&w);
	}
	/* the statement */
	struct drange r;
	rc = rc ? rc : range_of(x, q, IV_DAY, false, &r);
	struct sn_buf sql;
	sn_buf_init(&sql, 1 << 23);
	char lo[40], hi[40];
	fmt_loc_dt(lo, sizeof(lo), r.where_from);
	fmt_loc_dt(hi, sizeof(hi), r.to);
	rc =
	    rc ? rc
	       : sn_buf_appendf(
		     &sql,
		     "SELECT toString(person_id) AS actor, timestamp, %s AS item%s%s FROM events%s "
		     "WHERE timestamp >= toDateTime('%s') AND timestamp <= toDateTime('%s')",
		     item.data, fw.key_expr ? ", " : "", fw.key_expr ? fw.key_expr : "", x->sample,
		     lo, hi);
	if (rc == 0 && typed) {
		rc = sn_buf_appends(&sql, " AND (0");
		if (has_type(types, "$pageview"))
			rc = rc ? rc : sn_buf_appends(&sql, " OR event = '$pageview'");
		if (has_type(types, "$screen"))
			rc = rc ? rc : sn_buf_appends(&sql, " OR event = '$screen'");
		if (has_type(types, "custom_event"))
			rc = rc ? rc : sn_buf_appends(&sql, " OR NOT startsWith(event, '$')");
		if (has_type(types, "hogql"))
			rc = rc ? rc : sn_buf_appends(&sql, " OR 1");
		rc = rc ? rc : sn_buf_appendc(&sql, ')');
	}
	struct json_object *props[] = {jget(q, "properties"), jbool(q, "filterTestAccounts")
								  ? x->o->team.test_account_filters
								  : NULL};
	for (size_t i = 0; i < SN_ARRAY_LEN(props) && rc == 0; i++) {
		struct json_object *p = props[i];
		if (!p || (json_object_is_type(p, json_type_array) && !json_object_array_length(p)))
			continue;
		rc = sn_buf_appends(&sql, " AND ");
		rc = rc ? rc : hq_filters(x, &sql, p);
	}
	rc = rc ? rc : sn_buf_appendf(&sql, " LIMIT %d", PATHS_ROWS_MAX);
	/* (actor, timestamp, item[, key]) rows streamed, in actor order with
	 * each actor's by time, then item, then key (arows.c): events of equal
	 * time in the same order whichever backend returned them */
	struct arows_spec spec = {.ncols = fw.key_expr ? 4 : 3, .ts_col = 1, .nstr = 1};
	spec.str[0].from = 2;
	spec.str[0].n = 1;
	if (fw.key_expr) {
		spec.nstr = 2;
		spec.str[1].from = 3;
		spec.str[1].n = 1;
	}
	struct arows rows;
	arows_init(&rows, &spec);
	size_t nrows = 0;
	x->max_rows = PATHS_ROWS_MAX;
	if (rc == 0)
		rc = arows_run(x, &rows, sql.data, sql.len, &nrows);
	x->max_rows = 0;
	sn_buf_release(&sql);
	sn_buf_release(&item);
	if (rc == 0 && nrows >= PATHS_ROWS_MAX)
		rc = ifail(x, "query_error", "The paths read more than %d events; narrow the range",
			   PATHS_ROWS_MAX);
	if (rc == 0)
		rc = arows_order(x, &rows);
	/* per person: the actors in two halves of about equal rows, each
	 * half's edges in its own table and arena (pwalk_half) */
	struct pwalk w = {.pq = &pq,
			  .rows = &rows,
			  .fw = fpf ? &fw : NULL,
			  .col = col,
			  .rows_out = rows_out,
			  .x = x};
	for (size_t h = 0; h < 2; h++)
		sn_arena_init(&w.a[h], INSIGHT_MEM_LIMIT);
	if (rc == 0 && col) { /* the actors, in actor order: one thread */
		w.ksplit = rows.w[0].actors.n;
		pwalk_half(&w, 0);
	} else if (rc == 0) {
		w.ksplit = arows_half(&rows);
		insight_par2(pwalk_half, &w, insight_parallel(rows.n));
	}
	for (size_t h = 0; h < 2 && rc == 0; h++)
		rc = w.rc[h];
	if (rc == SN_ERR_TOO_BIG)
		rc = ifail(x, "query_error", "The paths have more than %d distinct edges",
			   PATHS_EDGES_MAX);
	for (size_t h = 0; h < 2; h++) {
		int arc = sn_arena_adopt(x->a, &w.a[h]);
		if (arc) /* over the request's memory: the edges are not read */
			sn_arena_release(&w.a[h]);
		rc = rc ? rc : arc;
	}
	struct edges e = {0};
	rc = rc || col ? rc : top_edges(x, w.pe, 2, min_w, max_w, (size_t)edge_limit, &e);
	arows_release(&rows);
	if (rc || col)
		return rc;
	/* orphans: an edge stays when it starts a path or continues a kept one */
	size_t m = e.n;
	bool *keep = sn_arena_alloc(x->a, (m ? m : 1) * sizeof(bool));
	if (!keep)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < m; i++)
		keep[i] = strncmp(e.v[i].source, "1_", 2) == 0;
	for (bool grew = true; grew;) {
		grew = false;
		for (size_t i = 0; i < m; i++) {
			if (keep[i])
				continue;
			for (size_t j = 0; j < m && !keep[i]; j++)
				if (keep[j] && strcmp(e.v[j].target, e.v[i].source) == 0)
					keep[i] = grew = true;
		}
	}
	rc = sn_buf_appends(out, "\"results\":[");
	bool first = true;
	for (size_t i = 0; i < m && rc == 0; i++) {
		if (!keep[i])
			continue;
		sn_buf_appends(out, first ? "{\"source\":" : ",{\"source\":");
		first = false;
		sn_buf_append_json_str(out, e.v[i].source, strlen(e.v[i].source));
		sn_buf_appends(out, ",\"target\":");
		sn_buf_append_json_str(out, e.v[i].target, strlen(e.v[i].target));
		double avg = (double)e.v[i].total_us / 1e6 / (double)e.v[i].value * 1000.0;
		rc = sn_buf_appendf(out, ",\"value\":%lld,\"average_conversion_time\":%.15g}",
				    (long long)e.v[i].value, avg);
	}
	return rc ? rc : sn_buf_appendc(out, ']');
}
