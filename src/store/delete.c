/*
 * delete.c — deletion (by team, person, event name, time range) and
 * retention TTLs, by rewriting or dropping whole parts.
 *
 * For every live part of the snapshot (not one of a flush still being
 * written), a cheap pass reads only what the predicate needs — team_id and
 * timestamp, plus event or person_id when asked — over the granules the
 * sparse index allows. A part without a matching row is left alone. A part
 * whose rows all match is replaced by a tombstone; any other is rewritten
 * without the matching rows:
 *
 *   old  YYYYMM_<min>_<max>_<v>.snp   (or a flush part, v = 0)
 *   new  YYYYMM_<min>_<max>_<v+1>.snp  written via temp name, fsync, rename,
 *        or YYYYMM_<min>_<max>_<v+1>.del  (empty file, directory fsync)
 *
 * Same range, higher version: the new name supersedes the old from the
 * instant it exists (partset.c), so kill -9 at any point leaves the part
 * either with the rows or without them, never both or neither. The old
 * file is then unlinked when the last snapshot drops it; a crash before
 * that leaves it superseded, and the next open removes it. Tombstones keep
 * the flush-id record the ingest sink's exactly-once recovery counts on
 * (partset.c) and go away once nothing needs them.
 *
 * Rows flushed while a deletion runs get new ids, outside every range it
 * rewrites, so nothing newly ingested is lost; they are also not deleted
 * (neither are rows still in the WAL): a deletion covers what was stored
 * when it took its snapshot.
 *
 * A data subject (a person with the persons merged into it, and its
 * distinct ids) is matched by binary search in sorted copies of the two
 * lists, so a person with thousands of distinct ids costs a log factor per
 * row, not a scan.
 *
 * Retention: the cutoff is per team (now - days); a part whose granules all
 * end before the most lenient cutoff — when every team's TTL applies — is
 * dropped on its index alone, without reading a column. The settings and
 * the CLI cap days at SN_STORE_RETENTION_DAYS_MAX, and the cutoff is
 * computed with overflow checks anyway: a days too large for int64
 * microseconds expires nothing instead of wrapping into the future.
 */
#include "store_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_US (86400LL * 1000000)

struct pred {
	const struct sn_store_delete_spec *del; /* or ttl */
	const struct sn_store_ttl *ttl;
	int64_t now_us;
	bool subject;		/* del names persons or distinct ids */
	uint8_t (*persons)[16]; /* sorted */
	struct sn_str *dids;	/* sorted */
	size_t npersons, ndids;
};

static int cmp_uuid(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

static int cmp_str(const void *a, const void *b)
{
	const struct sn_str *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

static bool subject_matches(const struct pred *p, const uint8_t *person, const struct sn_str *did)
{
	if (person && p->npersons && bsearch(person, p->persons, p->npersons, 16, cmp_uuid))
		return true;
	return did && p->ndids && bsearch(did, p->dids, p->ndids, sizeof(*did), cmp_str);
}

int64_t sn_store_ttl_cutoff_us(int64_t now_us, int64_t days)
{
	int64_t back, cut;
	if (days <= 0)
		return INT64_MIN; /* keep forever */
	/* days * DAY_US wrapped (it did for 200000000 days) turns "keep about
	 * forever" into a cutoff in the future that expires every row. */
	if (__builtin_mul_overflow(days, DAY_US, &back) ||
	    __builtin_sub_overflow(now_us, back, &cut))
		return INT64_MIN;
	return cut;
}

static int64_t ttl_cutoff(const struct pred *p, int64_t team)
{
	int64_t days = p->ttl->default_days;
	for (size_t i = 0; i < p->ttl->nteams; i++)
		if (p->ttl->team_ids[i] == team)
			days = p->ttl->days[i];
	return sn_store_ttl_cutoff_us(p->now_us, days);
}

static bool matches(const struct pred *p, int64_t team, int64_t ts, const struct sn_str *event,
		    const uint8_t *person, const struct sn_str *did)
{
	if (p->ttl)
		return ts < ttl_cutoff(p, team);
	const struct sn_store_delete_spec *d = p->del;
	if (team != d->team_id || ts < d->after_us || ts >= d->before_us)
		return false;
	if (d->event && (event->len != strlen(d->event) || memcmp(event->p, d->event, event->len)))
		return false;
	if (d->by_person && memcmp(person, d->person_id, 16) != 0)
		return false;
	if (p->subject && !subject_matches(p, person, did))
		return false;
	return true;
}

/* Counts matching rows of part (cheap columns only): *nmatch of its nrows.
 * *whole is set when the index alone proved every row matches. */
static int count_matches(const struct pred *p, struct sn_part *part, struct sn_arena *arena,
			 uint64_t *nmatch, struct sn_err *err)
{
	size_t G = sn_part_ngranules(part), gb = 0, ge = G;
	*nmatch = 0;
	if (p->del) {
		int32_t dmin =
		    p->del->after_us == INT64_MIN ? INT32_MIN : sn_store_day_of(p->del->after_us);
		int32_t dmax =
		    p->del->before_us == INT64_MAX ? INT32_MAX : sn_store_day_of(p->del->before_us);
		sn_part_granules_for_team(part, p->del->team_id, dmin, dmax, &gb, &ge);
	} else if (p->ttl->nteams == 0) {
		/* One cutoff for every team: the granule min/max decide. */
		int64_t cut = ttl_cutoff(p, 0);
		bool all = true, none = true;
		for (size_t g = 0; g < G; g++) {
			const struct sn_granule_info *gi = sn_part_granule(part, g);
			all = all && gi->max_ts_us < cut;
			none = none && gi->min_ts_us >= cut;
		}
		if (none)
			return 0;
		if (all) {
			*nmatch = sn_part_nrows(part);
			return 0;
		}
	}
	if (gb >= ge)
		return 0;
	struct sn_colvec team, ts, ev = {0}, person = {0}, did = {0};
	int rc;
	if ((rc = sn_part_read_named(part, SN_COL_NAME_TEAM_ID, gb, ge, arena, &team, err)) ||
	    (rc = sn_part_read_named(part, SN_COL_NAME_TIMESTAMP, gb, ge, arena, &ts, err)))
		return rc;
	if (p->del && p->del->event &&
	    (rc = sn_part_read_named(part, SN_COL_NAME_EVENT, gb, ge, arena, &ev, err)))
		return rc;
	if (p->del && (p->del->by_person || p->npersons) &&
	    (rc = sn_part_read_named(part, SN_COL_NAME_PERSON_ID, gb, ge, arena, &person, err)))
		return rc;
	if (p->del && p->ndids &&
	    (rc = sn_part_read_named(part, SN_COL_NAME_DISTINCT_ID, gb, ge, arena, &did, err)))
		return rc;
	static const struct sn_str empty = {"", 0};
	for (size_t i = 0; i < team.nrows; i++)
		if (matches(p, team.i64[i], ts.i64[i], ev.str ? &ev.str[i] : &empty,
			    person.uuid ? person.uuid[i].b : NULL, did.str ? &did.str[i] : NULL))
			(*nmatch)++;
	return 0;
}

static int rewrite_part(struct sn_store *st, const struct pred *p, struct sn_pentry *e,
			struct sn_arena *arena, uint64_t *deleted, bool *dropped,
			struct sn_err *err)
{
	struct sn_event_row *rows;
	size_t n;
	int rc;
	*dropped = false;
	if ((rc = sn_store_read_rows(e->part, arena, &rows, &n, err)))
		return rc;
	const struct sn_event_row **keep = malloc((n + 1) * sizeof(*keep));
	if (!keep)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!matches(p, rows[i].team_id, rows[i].timestamp_us, &rows[i].event,
			     rows[i].person_id, &rows[i].distinct_id))
			keep[k++] = &rows[i];
	*deleted = n - k;
	struct sn_part_name name = e->n;
	name.ver++;
	if (k == n) {
		free(keep);
		return 0;
	}
	if (k == 0) {
		name.tombstone = true;
		rc = sn_store_write_tombstone(st, &name, err);
		*dropped = true;
	} else {
		char fn[64], path[1200];
		struct sn_part_written w;
		sn_part_name_format(&name, fn, sizeof(fn));
		snprintf(path, sizeof(path), "%s/%s", st->dir, fn);
		rc = sn_part_write(path, keep, k, &st->opts.wopts, &w, err);
	}
	free(keep);
	if (rc)
		return rc;
	/* Committed. The old file goes with the last snapshot holding it. */
	sn_store_test_pause(st);
	if ((rc = sn_store_replace(st, &e, 1, &name, err)))
		sn_log_warn("store: rewrote %s but could not open the result: %s", e->name,
			    err->msg);
	return 0;
}

static int apply(struct sn_store *st, const struct pred *p, struct sn_store_delete_result *res,
		 struct sn_err *err)
{
	struct sn_store_delete_result r = {0};
	char first_damaged[sizeof(err->msg)] = "";
	int rc = sn_store_lock(st, true, err);
	if (rc)
		return rc;
	if ((rc = sn_store_refresh(st, err)))
		goto out;
	struct sn_store_snapshot *s = sn_store_snapshot_acquire(st);
	size_t mem = st->opts.merge_mem_bytes ? st->opts.merge_mem_bytes : (size_t)4 << 30;
	for (size_t i = 0; i < s->nparts && !rc; i++) {
		struct sn_pentry *e = s->parts[i];
		if (sn_pentry_frozen(s, e))
			continue; /* a flush in progress: not stored yet */
		r.parts_seen++;
		struct sn_arena arena;
		sn_arena_init(&arena, mem);
		uint64_t nmatch = 0, deleted = 0;
		bool dropped = false;
		rc = count_matches(p, e->part, &arena, &nmatch, err);
		if (!rc && nmatch == e->nrows && nmatch) {
			/* Every row goes: no need to read the rest of the part. */
			struct sn_part_name name = e->n;
			name.ver++;
			name.tombstone = true;
			if (!(rc = sn_store_write_tombstone(st, &name, err))) {
				sn_store_test_pause(st);
				if (sn_store_replace(st, &e, 1, &name, err))
					sn_log_warn("store: %s", err->msg);
				deleted = nmatch;
				dropped = true;
			}
		} else if (!rc && nmatch) {
			rc = rewrite_part(st, p, e, &arena, &deleted, &dropped, err);
		}
		sn_arena_release(&arena);
		if (rc == SN_ERR_CORRUPT) {
			/* Left as it was; the other parts are still done. */
			sn_pentry_mark_damaged(e, err);
			if (!r.parts_damaged++)
				snprintf(first_damaged, sizeof(first_damaged), "%s: %s", e->name,
					 err->msg);
			rc = 0;
			continue;
		}
		if (rc)
			break;
		r.rows_deleted += deleted;
		if (dropped)
			r.parts_dropped++;
		else if (deleted)
			r.parts_rewritten++;
	}
	sn_store_snapshot_release(s); /* the replaced files are unlinked here */
	if (!rc)
		rc = sn_store_refresh(st, err);
	if (!rc && r.parts_damaged)
		rc = sn_err_set(err, SN_ERR_CORRUPT,
				"%" PRIu64
				" damaged part(s) could not be read and were left as they "
				"were, the rest is done (first: %s)",
				r.parts_damaged, first_damaged);
out:
	sn_store_unlock(st);
	if (res)
		*res = r;
	return rc;
}

int sn_store_delete(struct sn_store *st, const struct sn_store_delete_spec *spec,
		    struct sn_store_delete_result *res, struct sn_err *err)
{
	if (spec->after_us >= spec->before_us)
		return sn_err_set(err, SN_ERR_INVALID, "empty time range: after >= before");
	struct pred p = {.del = spec, .subject = spec->npersons || spec->ndistinct_ids};
	if (p.subject) {
		p.persons = malloc((spec->npersons + 1) * 16);
		p.dids = malloc((spec->ndistinct_ids + 1) * sizeof(*p.dids));
		if (!p.persons || !p.dids) {
			free(p.persons);
			free(p.dids);
			return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		}
		if (spec->npersons)
			memcpy(p.persons, spec->person_ids, spec->npersons * 16);
		for (size_t i = 0; i < spec->ndistinct_ids; i++)
			p.dids[i] =
			    (struct sn_str){spec->distinct_ids[i], strlen(spec->distinct_ids[i])};
		p.npersons = spec->npersons;
		p.ndids = spec->ndistinct_ids;
		qsort(p.persons, p.npersons, 16, cmp_uuid);
		qsort(p.dids, p.ndids, sizeof(*p.dids), cmp_str);
	}
	int rc = apply(st, &p, res, err);
	free(p.persons);
	free(p.dids);
	return rc;
}

int sn_store_apply_ttl(struct sn_store *st, const struct sn_store_ttl *ttl, int64_t now_us,
		       struct sn_store_delete_result *res, struct sn_err *err)
{
	struct pred p = {.ttl = ttl, .now_us = now_us};
	return apply(st, &p, res, err);
}
