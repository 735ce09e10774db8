/*
 * merge.c — merges: small parts of one month become one, with duplicate
 * uuids dropped, and the background thread that runs them.
 *
 * A merge:
 *
 *   pick inputs (adjacent live parts of one month, none of a flush still
 *   being written) ─▶ read every row of each (properties rebuilt whole, so
 *   the output re-shreds them for its own rows) ─▶ drop duplicates ─▶ sort
 *   by the part order ─▶ sn_part_write(YYYYMM_<min>_<max>_<ver>.snp)
 *   (temp name, fsync, rename, directory fsync) ─▶ swap the snapshot; the
 *   inputs are removed when the last snapshot holding them goes.
 *
 * The rename is the commit: the output's range [min id, max id] contains the
 * inputs' ranges, so from that instant they are superseded (partset.c) and
 * a restart after kill -9 removes them. Before it only a .tmp exists, which
 * start-up removes. The inputs must be adjacent in id order within their
 * month (no live part of the month lies between them), or the output's
 * range would swallow a part it does not contain.
 *
 * Duplicates (ClickHouse ReplacingMergeTree without a version column):
 * rows with the same (team_id, uuid) within one merge are kept once — the
 * copy from the input with the newest id (the last inserted), and within
 * one part the first in part order. Found by sorting an index by (team,
 * uuid, newest input first); no hash table needed. Rows of different months
 * are never compared (different partitions), as in ClickHouse.
 *
 * Choice of inputs (size-tiered): in each month, over windows of 2..16
 * adjacent parts whose rows fit merge_max_rows, a window qualifies when its
 * largest part is at most twice the rest together (so a big part is not
 * rewritten to absorb a crumb); background merges also need merge_min_parts
 * parts. The smallest qualifying window (in bytes) wins, then the widest:
 * small parts merge with small parts first, so each row is rewritten about
 * log(size) times, not once per merge. `all` merges greedily until no two
 * adjacent parts fit together.
 *
 * Memory: a merge reads its inputs whole into one arena bounded by
 * merge_mem_bytes (a full arena fails the merge cleanly). Streaming a k-way
 * merge granule by granule would bound memory by the number of inputs, but
 * deduplication then needs a table over every uuid anyway; rejected for now
 * because merge_max_rows already bounds it.
 *
 * The thread: wakes every merge_interval_ms, takes the maintenance lock
 * without waiting (a CLI holding it wins), refreshes, merges at most one
 * window, applies retention (retention_days, team_retention) once a minute,
 * and sleeps long enough that
 * bytes written / elapsed stays under merge_max_mb_per_s. It runs at nice
 * 10 so ingest's threads get the cores first.
 */
#include "store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_WINDOW 16

struct sn_merger {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
};

/* ---- reading whole parts ------------------------------------------------------------------ */

int sn_store_read_rows(struct sn_part *p, struct sn_arena *arena, struct sn_event_row **rows,
		       size_t *nrows, struct sn_err *err)
{
	size_t n = (size_t)sn_part_nrows(p), G = sn_part_ngranules(p);
	int rc;
	*rows = NULL;
	*nrows = 0;
	if (!n)
		return 0;
	struct sn_event_row *r = sn_arena_alloc(arena, n * sizeof(*r));
	if (!r)
		return sn_err_set(err, SN_ERR_NOMEM, "merge memory budget exhausted");
	memset(r, 0, n * sizeof(*r));
	struct sn_colvec v;
	static const char *const strs[] = {SN_COL_NAME_EVENT, SN_COL_NAME_DISTINCT_ID,
					   SN_COL_NAME_ELEMENTS_CHAIN, SN_COL_NAME_SESSION_ID,
					   SN_COL_NAME_WINDOW_ID};
#define CHECK_N()                                                                         \
	do {                                                                              \
		if (v.nrows != n)                                                         \
			return sn_err_set(err, SN_ERR_CORRUPT, "column length mismatch"); \
	} while (0)
	if ((rc = sn_part_read_named(p, SN_COL_NAME_UUID, 0, G, arena, &v, err)))
		return rc;
	CHECK_N();
	for (size_t i = 0; i < n; i++)
		memcpy(r[i].uuid, v.uuid[i].b, 16);
	if ((rc = sn_part_read_named(p, SN_COL_NAME_PERSON_ID, 0, G, arena, &v, err)))
		return rc;
	CHECK_N();
	for (size_t i = 0; i < n; i++)
		memcpy(r[i].person_id, v.uuid[i].b, 16);
	if ((rc = sn_part_read_named(p, SN_COL_NAME_TEAM_ID, 0, G, arena, &v, err)))
		return rc;
	CHECK_N();
	for (size_t i = 0; i < n; i++)
		r[i].team_id = v.i64[i];
	if ((rc = sn_part_read_named(p, SN_COL_NAME_TIMESTAMP, 0, G, arena, &v, err)))
		return rc;
	CHECK_N();
	for (size_t i = 0; i < n; i++)
		r[i].timestamp_us = v.i64[i];
	if ((rc = sn_part_read_named(p, SN_COL_NAME_CREATED_AT, 0, G, arena, &v, err)))
		return rc;
	CHECK_N();
	for (size_t i = 0; i < n; i++)
		r[i].created_at_us = v.i64[i];
	for (size_t c = 0; c < SN_ARRAY_LEN(strs); c++) {
		if ((rc = sn_part_read_named(p, strs[c], 0, G, arena, &v, err)))
			return rc;
		CHECK_N();
		for (size_t i = 0; i < n; i++) {
			struct sn_str s = v.str[i];
			if (v.nulls && v.nulls[i])
				s = (struct sn_str){NULL, 0};
			else if (!s.p)
				s.p = "";
			switch (c) {
			case 0: r[i].event = s; break;
			case 1: r[i].distinct_id = s; break;
			case 2: r[i].elements_chain = s; break;
			case 3: r[i].session_id = s; break;
			default: r[i].window_id = s; break;
			}
		}
	}
	for (int g = 0; g < SN_STORE_GROUPS; g++) {
		char name[32];
		snprintf(name, sizeof(name), "%s%d", SN_COL_NAME_GROUP_PREFIX, g);
		if ((rc = sn_part_read_named(p, name, 0, G, arena, &v, err)))
			return rc;
		CHECK_N();
		for (size_t i = 0; i < n; i++)
			r[i].group[g] = v.str[i].p ? v.str[i] : (struct sn_str){"", 0};
	}
	if ((rc = sn_part_read_properties(p, 0, G, arena, &v, err)))
		return rc;
	CHECK_N();
	for (size_t i = 0; i < n; i++)
		r[i].properties = v.str[i].p ? v.str[i] : (struct sn_str){"", 0};
#undef CHECK_N
	*rows = r;
	*nrows = n;
	return 0;
}

/* ---- one merge ------------------------------------------------------------------------------ */

struct dkey {
	const struct sn_event_row *r;
	uint32_t rank; /* input position by id: higher = newer */
	uint32_t pos;  /* global position, for a stable tie-break */
};

static int dkey_cmp(const void *pa, const void *pb)
{
	const struct dkey *a = pa, *b = pb;
	if (a->r->team_id != b->r->team_id)
		return a->r->team_id < b->r->team_id ? -1 : 1;
	int c = memcmp(a->r->uuid, b->r->uuid, 16);
	if (c)
		return c;
	if (a->rank != b->rank)
		return a->rank > b->rank ? -1 : 1; /* the newest input first */
	return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int row_ptr_cmp(const void *pa, const void *pb)
{
	return sn_event_row_cmp(*(const struct sn_event_row *const *)pa,
				*(const struct sn_event_row *const *)pb);
}

/* Merges in[0..n) (adjacent, one month, ascending ids). Called with the
 * maintenance lock held. */
static int merge_parts(struct sn_store *st, struct sn_pentry *const *in, size_t n,
		       struct sn_store_merge_stats *ms, struct sn_err *err)
{
	struct sn_arena arena;
	size_t mem = st->opts.merge_mem_bytes ? st->opts.merge_mem_bytes : (size_t)4 << 30;
	sn_arena_init(&arena, mem);
	struct dkey *keys = NULL;
	const struct sn_event_row **out = NULL;
	int rc = 0;
	size_t total = 0;
	struct sn_event_row **rows = calloc(n, sizeof(*rows));
	size_t *cnt = calloc(n, sizeof(*cnt));
	if (!rows || !cnt) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		goto out;
	}
	struct sn_part_name name = {.month = in[0]->n.month, .min_id = in[0]->n.min_id};
	for (size_t i = 0; i < n; i++) {
		if ((rc = sn_store_read_rows(in[i]->part, &arena, &rows[i], &cnt[i], err))) {
			if (rc == SN_ERR_CORRUPT)
				sn_pentry_mark_damaged(in[i], err);
			goto out;
		}
		total += cnt[i];
		if (in[i]->n.max_id > name.max_id)
			name.max_id = in[i]->n.max_id;
		if (in[i]->n.min_id < name.min_id)
			name.min_id = in[i]->n.min_id;
		if (in[i]->n.ver >= name.ver)
			name.ver = in[i]->n.ver + 1;
	}
	keys = malloc((total + 1) * sizeof(*keys));
	out = malloc((total + 1) * sizeof(*out));
	if (!keys || !out) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		goto out;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < cnt[i]; j++, k++)
			keys[k] = (struct dkey){&rows[i][j], (uint32_t)i, (uint32_t)k};
	qsort(keys, total, sizeof(*keys), dkey_cmp);
	size_t m = 0;
	for (size_t i = 0; i < total; i++) {
		if (i && keys[i].r->team_id == keys[i - 1].r->team_id &&
		    memcmp(keys[i].r->uuid, keys[i - 1].r->uuid, 16) == 0)
			continue;
		out[m++] = keys[i].r;
	}
	qsort(out, m, sizeof(*out), row_ptr_cmp);
	char fn[64], path[1200];
	sn_part_name_format(&name, fn, sizeof(fn));
	snprintf(path, sizeof(path), "%s/%s", st->dir, fn);
	struct sn_part_written w;
	if (m) {
		if ((rc = sn_part_write(path, out, m, &st->opts.wopts, &w, err)))
			goto out;
	} else {
		/* Cannot happen (inputs have rows), but keep the range's record. */
		name.tombstone = true;
		if ((rc = sn_store_write_tombstone(st, &name, err)))
			goto out;
		w.nbytes = 0;
	}
	/* Committed: the inputs are superseded on disk from here on. */
	sn_store_test_pause(st);
	if ((rc = sn_store_replace(st, in, n, &name, err)))
		sn_log_warn("store: merged %s but could not open it: %s", fn, err->msg);
	rc = 0;
	ms->merges++;
	ms->parts_in += n;
	ms->rows_in += total;
	ms->rows_out += m;
	ms->dup_rows += total - m;
	ms->bytes_written += w.nbytes;
	sn_log_debug("store: merged %zu parts (%zu rows, %zu duplicates) into %s", n, total,
		     total - m, fn);
out:
	free(keys);
	free(out);
	free(rows);
	free(cnt);
	sn_arena_release(&arena);
	return rc;
}

/* Picks a window of adjacent parts of one month; *nout = 0 when none.
 * Tombstones are not in s->parts: parts on either side of one are still
 * adjacent, and the merged range swallows the tombstone (it records only
 * that rows are gone, which the merged part says too). */
static void pick(const struct sn_store *st, const struct sn_store_snapshot *s, bool all,
		 size_t *start, size_t *nout)
{
	uint64_t max_rows = st->opts.merge_max_rows ? st->opts.merge_max_rows : 1000000;
	size_t min_parts = all ? 2 : (st->opts.merge_min_parts ? st->opts.merge_min_parts : 4);
	size_t best_n = 0, best_i = 0;
	uint64_t best_bytes = UINT64_MAX;
	*start = 0;
	*nout = 0;
	for (size_t i = 0; i < s->nparts; i++) {
		uint64_t rows = 0, bytes = 0, big = 0;
		size_t len = 0;
		for (size_t j = i; j < s->nparts && j - i < MAX_WINDOW; j++) {
			const struct sn_pentry *e = s->parts[j];
			if (e->n.month != s->parts[i]->n.month || sn_pentry_frozen(s, e) ||
			    e->damaged || rows + e->nrows > max_rows)
				break;
			rows += e->nrows;
			bytes += e->nbytes;
			big = e->nbytes > big ? e->nbytes : big;
			len = j - i + 1;
			if (all || len < min_parts || big > 2 * (bytes - big))
				continue;
			if (bytes < best_bytes || (bytes == best_bytes && len > best_n)) {
				best_n = len;
				best_i = i;
				best_bytes = bytes;
			}
		}
		if (all && len >= 2) {
			*start = i;
			*nout = len; /* greedy: the longest run from the first part that fits */
			return;
		}
	}
	*start = best_i;
	*nout = best_n;
}

static int merge_step(struct sn_store *st, bool all, bool *did, struct sn_store_merge_stats *ms,
		      struct sn_err *err)
{
	*did = false;
	struct sn_store_snapshot *s = sn_store_snapshot_acquire(st);
	size_t i, n;
	int rc = 0;
	/* A window with a damaged part marks it and is picked again without
	 * it (each pass marks one more part, so this ends). */
	bool again;
	do {
		rc = 0;
		again = false;
		pick(st, s, all, &i, &n);
		if (n >= 2) {
			rc = merge_parts(st, &s->parts[i], n, ms, err);
			*did = rc == 0;
			for (size_t k = 0; rc == SN_ERR_CORRUPT && k < n; k++)
				again = again || s->parts[i + k]->damaged;
		}
	} while (again);
	sn_store_snapshot_release(s);
	return rc;
}

static void add_stats(struct sn_store *st, const struct sn_store_merge_stats *d)
{
	pthread_mutex_lock(&st->mu);
	st->mstats.merges += d->merges;
	st->mstats.parts_in += d->parts_in;
	st->mstats.rows_in += d->rows_in;
	st->mstats.rows_out += d->rows_out;
	st->mstats.dup_rows += d->dup_rows;
	st->mstats.bytes_written += d->bytes_written;
	st->mstats.tombstones_removed += d->tombstones_removed;
	pthread_mutex_unlock(&st->mu);
}

int sn_store_merge(struct sn_store *st, bool all, struct sn_store_merge_stats *stats,
		   struct sn_err *err)
{
	struct sn_store_merge_stats ms = {0};
	int rc = sn_store_lock(st, true, err);
	if (rc)
		return rc;
	if ((rc = sn_store_refresh(st, err)))
		goto out;
	bool did = true;
	while (did && !rc) {
		rc = merge_step(st, all, &did, &ms, err);
		if (!all)
			break;
	}
	if (!rc)
		rc = sn_store_refresh(st, err); /* drops spent tombstones */
out:
	sn_store_unlock(st);
	add_stats(st, &ms);
	if (stats)
		*stats = ms;
	return rc;
}

void sn_store_get_merge_stats(struct sn_store *st, struct sn_store_merge_stats *out)
{
	pthread_mutex_lock(&st->mu);
	*out = st->mstats;
	pthread_mutex_unlock(&st->mu);
}

/* ---- the thread ------------------------------------------------------------------------------ */

/* Sleeps up to ms; true when asked to stop. */
static bool nap(struct sn_merger *m, int64_t ms)
{
	struct timespec ts = sn_deadline_in_ms(ms > 0 ? (uint64_t)ms : 0);
	pthread_mutex_lock(&m->mu);
	while (!m->stop && pthread_cond_timedwait(&m->cv, &m->mu, &ts) != ETIMEDOUT)
		;
	bool stop = m->stop;
	pthread_mutex_unlock(&m->mu);
	return stop;
}

static void *merger_main(void *arg)
{
	struct sn_store *st = arg;
	struct sn_merger *m = st->merger;
	pthread_setname_np(pthread_self(), "sn-merge");
	/* Below ingest: a per-thread nice value on Linux. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10))
		sn_log_debug("store: merge thread keeps normal priority: %s", strerror(errno));
	int64_t interval = st->opts.merge_interval_ms > 0 ? st->opts.merge_interval_ms : 1000;
	uint64_t last_ttl_ns = 0;
	while (!nap(m, interval)) {
		struct sn_err err = {0};
		if (sn_store_lock(st, false, &err))
			continue; /* a CLI or a deletion has it */
		struct sn_store_merge_stats ms = {0};
		uint64_t t0 = sn_mono_ns();
		int rc = sn_store_refresh(st, &err);
		bool did = false;
		if (!rc)
			rc = merge_step(st, false, &did, &ms, &err);
		sn_store_unlock(st);
		if (rc)
			sn_log_warn("store: background merge: %s", err.msg);
		/* (retention runs whatever the merge did: a failing merge must
		 * not hold back the deletion of expired rows) */
		if ((st->opts.retention_days > 0 || st->nttl) &&
		    (last_ttl_ns == 0 || t0 - last_ttl_ns > 60ull * 1000000000)) {
			struct sn_store_ttl ttl = {.default_days = st->opts.retention_days,
						   .nteams = st->nttl,
						   .team_ids = st->ttl_team,
						   .days = st->ttl_days};
			struct sn_store_delete_result dr = {0};
			struct sn_err terr = {0};
			if (sn_store_apply_ttl(st, &ttl, sn_now_us(), &dr, &terr))
				sn_log_warn("store: retention: %s", terr.msg);
			last_ttl_ns = t0;
		}
		add_stats(st, &ms);
		if (did && st->opts.merge_max_mb_per_s > 0) {
			double want_s =
			    (double)ms.bytes_written / (st->opts.merge_max_mb_per_s * 1e6);
			double took_s = (double)(sn_mono_ns() - t0) / 1e9;
			if (want_s > took_s && nap(m, (int64_t)((want_s - took_s) * 1000)))
				break;
		}
		if (did)
			interval = 1; /* more may be waiting: look again soon */
		else
			interval =
			    st->opts.merge_interval_ms > 0 ? st->opts.merge_interval_ms : 1000;
	}
	return NULL;
}

int sn_store_merger_start(struct sn_store *st, struct sn_err *err)
{
	if (st->merger)
		return 0;
	if (st->opts.read_only)
		return sn_err_set(err, SN_ERR_INVALID, "cannot merge a read-only store");
	struct sn_merger *m = calloc(1, sizeof(*m));
	if (!m)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	st->merger = m;
	if (pthread_create(&m->thread, NULL, merger_main, st)) {
		st->merger = NULL;
		pthread_mutex_destroy(&m->mu);
		pthread_cond_destroy(&m->cv);
		free(m);
		return sn_err_set(err, SN_ERR_IO, "cannot start the merge thread");
	}
	return 0;
}

void sn_store_merger_stop(struct sn_store *st)
{
	struct sn_merger *m = st->merger;
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->thread, NULL);
	pthread_mutex_destroy(&m->mu);
	pthread_cond_destroy(&m->cv);
	free(m);
	st->merger = NULL;
}
