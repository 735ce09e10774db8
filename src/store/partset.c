/*
 * partset.c — the set of live parts of a store directory, and immutable
 * reference-counted snapshots of it.
 *
 * The directory is the catalogue. A file's name says which flush ids it
 * covers and at which version (store.h, struct sn_part_name):
 *
 *   202411_0000000000a43002.snp                       flush part  [id, id] v0
 *   202411_0000000000a21001_0000000000a43002_00000001.snp  merged  [min, max] v1
 *   202411_0000000000a21001_0000000000a43002_00000002.del  tombstone (all rows deleted)
 *
 * sn_part_name_parse is the one rule for which files are ours: a month
 * 01-12, the ids as the writers format them, .snp or .del. Every listing
 * (snapshots, recovery, merges, deletions, stats and verify) skips any
 * other file, notapart.snp or a month-13 copy alike, and never removes it.
 * Opening a listed part checks the month in its metadata against its
 * name's (sn_part_open_listed): a copy under another month's name is damage.
 *
 * A name supersedes another of the same month when its range contains the
 * other's and is larger, or is the same with a higher version. Superseded
 * files are dead. So a merge or a rewrite commits with the single rename of
 * its output: before it the inputs are live, after it they are not, and a
 * crash at any point leaves one or the other counted, never both. Removing
 * the dead files is cleanup that any later open repeats. The alternative, a
 * manifest file rewritten on every change, needs its own crash protocol
 * and puts every flush behind one more fsync; names cost nothing.
 *
 * Live set of a listing: sort by (month, min asc, max desc, ver desc); a
 * name is superseded iff an earlier name of its month reaches at least its
 * max (that earlier name starts no later, so it contains it).
 *
 * Tombstones keep a range's last word when all its rows were deleted: the
 * ingest sink's exactly-once rule counts, for the newest flush id T, the
 * live files ending at T and expects T's nparts (sn_store_recover). A
 * tombstone is removed once nothing in its range is left to supersede and
 * it ends before the newest complete flush.
 *
 * Snapshots. sn_store holds the current snapshot (an array of entries, one
 * per live file). acquire bumps its count under the mutex; a change (refresh,
 * merge, rewrite) builds a new snapshot sharing the unchanged entries and
 * swaps it in. An entry replaced by a merge is marked retired: the last
 * snapshot that drops it closes the part and unlinks the file, so a query
 * holding an older snapshot reads on undisturbed. Reads use pread on the
 * part's descriptor (part_read.c), so even a file unlinked by another
 * process stays readable through a part already open.
 *
 * Concurrency: the mutex guards the current snapshot pointer; entries and
 * snapshots are immutable after publication except for the atomic counts
 * and the retired flag. Writers (merges, deletions) serialize on
 * <dir>/MAINT (flock) so that a CLI and a server never rewrite the same
 * part; flushes need no lock (new ids never collide with existing ranges).
 */
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define MAX_FILES     100000
#define LIST_ATTEMPTS 50

/* ---- names ---------------------------------------------------------------------------- */

static int hex_field(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

int sn_part_name_parse(const char *name, struct sn_part_name *out)
{
	size_t n = strlen(name);
	bool tomb = n > 4 && strcmp(name + n - 4, SN_TOMBSTONE_SUFFIX) == 0;
	bool part = n > 4 && strcmp(name + n - 4, SN_PART_SUFFIX) == 0;
	if (!tomb && !part)
		return SN_ERR_INVALID;
	n -= 4;
	if (n < 7 || name[6] != '_')
		return SN_ERR_INVALID;
	int32_t m = 0;
	for (int i = 0; i < 6; i++) {
		if (name[i] < '0' || name[i] > '9')
			return SN_ERR_INVALID;
		m = m * 10 + (name[i] - '0');
	}
	if (m % 100 < 1 || m % 100 > 12)
		return SN_ERR_INVALID; /* no month the writer names: 202413 is a stray */
	memset(out, 0, sizeof(*out));
	out->month = m;
	out->tombstone = tomb;
	uint64_t a, b, v;
	if (n == 7 + 16 && !tomb) {
		if (hex_field(name + 7, 16, &a))
			return SN_ERR_INVALID;
		out->min_id = out->max_id = a;
		return 0;
	}
	if (n != 7 + 16 + 1 + 16 + 1 + 8 || name[23] != '_' || name[40] != '_' ||
	    hex_field(name + 7, 16, &a) || hex_field(name + 24, 16, &b) ||
	    hex_field(name + 41, 8, &v) || a > b || v == 0)
		return SN_ERR_INVALID;
	out->min_id = a;
	out->max_id = b;
	out->ver = (uint32_t)v;
	return 0;
}

size_t sn_part_name_format(const struct sn_part_name *n, char *buf, size_t len)
{
	int w;
	if (n->ver == 0 && !n->tombstone && n->min_id == n->max_id)
		w = snprintf(buf, len, "%06d_%016" PRIx64 "%s", (int)n->month, n->max_id,
			     SN_PART_SUFFIX);
	else
		w = snprintf(buf, len, "%06d_%016" PRIx64 "_%016" PRIx64 "_%08" PRIx32 "%s",
			     (int)n->month, n->min_id, n->max_id, n->ver,
			     n->tombstone ? SN_TOMBSTONE_SUFFIX : SN_PART_SUFFIX);
	return w < 0 ? 0 : (size_t)w;
}

int sn_part_open_listed(const char *path, const struct sn_part_name *n, struct sn_part **out,
			struct sn_err *err)
{
	struct sn_part *p;
	int rc = sn_part_open(path, &p, err);
	if (rc)
		return rc;
	if (sn_part_month(p) != n->month) {
		rc = sn_err_set(err, SN_ERR_CORRUPT,
				"part %s: corrupt: its rows are of month %06d, its name says %06d",
				path, (int)sn_part_month(p), (int)n->month);
		sn_part_unref(p);
		return rc;
	}
	*out = p;
	return 0;
}

struct named {
	struct sn_part_name n;
	size_t idx;
};

static int named_cmp(const void *pa, const void *pb)
{
	const struct named *a = pa, *b = pb;
	if (a->n.month != b->n.month)
		return a->n.month < b->n.month ? -1 : 1;
	if (a->n.min_id != b->n.min_id)
		return a->n.min_id < b->n.min_id ? -1 : 1;
	if (a->n.max_id != b->n.max_id)
		return a->n.max_id > b->n.max_id ? -1 : 1;
	if (a->n.ver != b->n.ver)
		return a->n.ver > b->n.ver ? -1 : 1;
	return (int)a->n.tombstone - (int)b->n.tombstone;
}

int sn_part_names_live(char *const *names, size_t n, bool *live, struct sn_err *err)
{
	struct named *v = n ? malloc(n * sizeof(*v)) : NULL;
	if (n && !v)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory sorting part names");
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		/* A name outside the scheme is never live: queries, stats,
		 * verify, merges and deletions all skip it alike. */
		live[i] = false;
		if (sn_part_name_parse(names[i], &v[k].n) == 0)
			v[k++].idx = i;
	}
	if (k)
		qsort(v, k, sizeof(*v), named_cmp);
	int32_t month = 0;
	uint64_t reach = 0;
	for (size_t i = 0; i < k; i++) {
		if (i == 0 || v[i].n.month != month) {
			month = v[i].n.month;
			live[v[i].idx] = true;
			reach = v[i].n.max_id;
			continue;
		}
		if (reach >= v[i].n.max_id)
			continue; /* contained in an earlier name of the month */
		live[v[i].idx] = true;
		reach = v[i].n.max_id;
	}
	free(v);
	return 0;
}

/* ---- listing ----------------------------------------------------------------------------- */

struct listing {
	char **names; /* every .snp and .del name, sorted */
	bool *live;
	size_t n;
	size_t ntmp;
};

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	free(l->live);
	memset(l, 0, sizeof(*l));
}

static int str_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(const char *dir, struct listing *l, struct sn_err *err)
{
	memset(l, 0, sizeof(*l));
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return sn_err_set(err, SN_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
	}
	size_t cap = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (sn_store_is_temp_name(de->d_name)) {
			l->ntmp++;
			continue;
		}
		struct sn_part_name pn;
		if (sn_part_name_parse(de->d_name, &pn))
			continue;
		if (l->n == cap) {
			if (cap >= MAX_FILES) {
				rc = sn_err_set(err, SN_ERR_TOO_BIG, "more than %d parts in %s",
						MAX_FILES, dir);
				break;
			}
			cap = cap ? cap * 2 : 64;
			char **nn = realloc(l->names, cap * sizeof(*nn));
			if (!nn) {
				rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory listing %s", dir);
				break;
			}
			l->names = nn;
		}
		if (!(l->names[l->n] = strdup(de->d_name))) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory listing %s", dir);
			break;
		}
		l->n++;
	}
	closedir(d);
	if (!rc && l->n) {
		qsort(l->names, l->n, sizeof(*l->names), str_ptr_cmp);
		if (!(l->live = malloc(l->n * sizeof(bool))))
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory listing %s", dir);
		else
			rc = sn_part_names_live(l->names, l->n, l->live, err);
	}
	if (rc)
		listing_free(l);
	return rc;
}

/* Newest id, whether its flush is complete, and the newest complete id. */
static void flush_state(const struct sn_part_name *const *v, size_t n, uint64_t *top,
			bool *incomplete, uint64_t *top_complete)
{
	uint64_t t = 0, second = 0;
	unsigned count = 0;
	for (size_t i = 0; i < n; i++)
		if (v[i]->max_id > t)
			t = v[i]->max_id;
	for (size_t i = 0; i < n; i++) {
		if (v[i]->max_id == t)
			count++;
		else if (v[i]->max_id > second)
			second = v[i]->max_id;
	}
	*top = t;
	*incomplete = t && count < (t & SN_PART_ID_NPARTS_MASK);
	*top_complete = *incomplete ? second : t;
}

/* ---- recovery --------------------------------------------------------------------------- */

static int unlink_in(const char *dir, const char *name, struct sn_err *err)
{
	char path[1400];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) && errno != ENOENT)
		return sn_err_set(err, SN_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
	return 0;
}

/* Removes superseded files, and tombstones nothing needs any more. */
static int clean_dead(const char *dir, const struct listing *l, uint64_t top_complete,
		      size_t *nremoved, struct sn_err *err)
{
	int rc;
	for (size_t i = 0; i < l->n; i++) {
		struct sn_part_name pn;
		sn_part_name_parse(l->names[i], &pn);
		bool drop = !l->live[i];
		if (!drop && pn.tombstone && pn.max_id < top_complete) {
			/* Only once no file it supersedes is left in the listing. */
			drop = true;
			for (size_t j = 0; j < l->n && drop; j++) {
				struct sn_part_name o;
				sn_part_name_parse(l->names[j], &o);
				if (j != i && o.month == pn.month && o.min_id >= pn.min_id &&
				    o.max_id <= pn.max_id)
					drop = false;
			}
		}
		if (!drop)
			continue;
		if ((rc = unlink_in(dir, l->names[i], err)))
			return rc;
		(*nremoved)++;
	}
	return 0;
}

int sn_store_recover(const char *dir, bool no_fsync, uint64_t *top_id, struct sn_err *err)
{
	int rc = 0;
	*top_id = 0;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT
			   ? 0
			   : sn_err_set(err, SN_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
	struct dirent *de;
	size_t removed = 0;
	while ((de = readdir(d))) {
		if (sn_store_is_temp_name(de->d_name)) {
			/* A write cut short by a crash: never renamed, never counted. */
			if ((rc = unlink_in(dir, de->d_name, err)))
				break;
			sn_log_warn("store: removed %s/%s, a part write cut short", dir,
				    de->d_name);
			removed++;
		}
	}
	closedir(d);
	for (int round = 0; !rc && round < 4; round++) {
		struct listing l;
		if ((rc = list_dir(dir, &l, err)))
			break;
		const struct sn_part_name **v = malloc((l.n + 1) * sizeof(*v));
		struct sn_part_name *pn = malloc((l.n + 1) * sizeof(*pn));
		if (!v || !pn) {
			free(v);
			free(pn);
			listing_free(&l);
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory recovering %s", dir);
			break;
		}
		size_t k = 0;
		for (size_t i = 0; i < l.n; i++)
			if (l.live[i]) {
				sn_part_name_parse(l.names[i], &pn[k]);
				v[k] = &pn[k];
				k++;
			}
		uint64_t top, topc;
		bool inc;
		flush_state(v, k, &top, &inc, &topc);
		bool redo = false;
		if (inc) {
			/* The newest flush was cut short: its records are still in the
			 * WAL (the checkpoint moves after a flush), so its files go and
			 * the flush is replayed. Merges and rewrites never touch an
			 * incomplete flush, so its files are plain flush parts. */
			bool plain = true;
			for (size_t i = 0; i < k; i++)
				if (v[i]->max_id == top &&
				    (v[i]->ver || v[i]->min_id != top || v[i]->tombstone))
					plain = false;
			if (plain) {
				sn_log_warn("store: the last flush (WAL position %" PRIu64
					    ") is incomplete; removing its parts to replay it "
					    "from the WAL",
					    top >> SN_PART_ID_NPARTS_BITS);
				for (size_t i = 0; i < l.n && !rc; i++) {
					struct sn_part_name x;
					sn_part_name_parse(l.names[i], &x);
					if (l.live[i] && x.max_id == top) {
						rc = unlink_in(dir, l.names[i], err);
						removed++;
					}
				}
				redo = true;
			} else {
				sn_log_error("store: the newest files (id %" PRIx64
					     ") are incomplete but not a plain flush; keeping them",
					     top);
				topc = top;
			}
		}
		if (!rc && !redo) {
			size_t dead = 0;
			rc = clean_dead(dir, &l, topc, &dead, err);
			if (dead)
				sn_log_info("store: removed %zu file(s) superseded by a merge or "
					    "deletion (or spent tombstones)",
					    dead);
			removed += dead;
			*top_id = topc;
		}
		free(v);
		free(pn);
		listing_free(&l);
		if (!redo)
			break;
	}
	if (!rc && removed && !no_fsync)
		rc = sn_fsync_dir(dir, err);
	return rc;
}

/* ---- entries and snapshots ----------------------------------------------------------------- */

static void entry_unref(struct sn_pentry *e)
{
	if (atomic_fetch_sub(&e->refs, 1) != 1)
		return;
	if (e->part)
		sn_part_unref(e->part);
	if (atomic_load(&e->retired) && !e->read_only && unlink(e->path) && errno != ENOENT)
		sn_log_warn("store: cannot remove %s: %s", e->path, strerror(errno));
	free(e);
}

static int entry_open(const char *dir, const char *name, bool read_only, struct sn_pentry **out,
		      struct sn_err *err)
{
	struct sn_pentry *e = calloc(1, sizeof(*e));
	if (!e)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	atomic_init(&e->refs, 1);
	atomic_init(&e->retired, false);
	e->read_only = read_only;
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->path, sizeof(e->path), "%s/%s", dir, name);
	if (sn_part_name_parse(name, &e->n)) {
		free(e);
		return sn_err_set(err, SN_ERR_INVALID, "not a part name: %s", name);
	}
	if (!e->n.tombstone) {
		int rc = sn_part_open_listed(e->path, &e->n, &e->part, err);
		if (rc) {
			if (rc == SN_ERR_IO && access(e->path, F_OK) != 0)
				rc = SN_ERR_NOT_FOUND; /* replaced since the listing */
			free(e);
			return rc;
		}
		e->nrows = sn_part_nrows(e->part);
		e->nbytes = sn_part_file_bytes(e->part);
	}
	*out = e;
	return 0;
}

static void snap_free(struct sn_store_snapshot *s)
{
	for (size_t i = 0; i < s->n; i++)
		entry_unref(s->e[i]);
	free(s->e);
	free(s->parts);
	free(s);
}

void sn_store_snapshot_release(struct sn_store_snapshot *snap)
{
	if (snap && atomic_fetch_sub(&snap->refs, 1) == 1)
		snap_free(snap);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp((*(struct sn_pentry *const *)a)->name, (*(struct sn_pentry *const *)b)->name);
}

/* Takes ownership of e[0..n) (one reference each). */
static int snap_build(struct sn_pentry **e, size_t n, struct sn_store_snapshot **out,
		      struct sn_err *err)
{
	struct sn_store_snapshot *s = calloc(1, sizeof(*s));
	if (!s || (n && !(s->parts = malloc(n * sizeof(*s->parts))))) {
		free(s);
		for (size_t i = 0; i < n; i++)
			entry_unref(e[i]);
		free(e);
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory building a snapshot");
	}
	atomic_init(&s->refs, 1);
	if (n)
		qsort(e, n, sizeof(*e), entry_cmp);
	s->e = e;
	s->n = n;
	const struct sn_part_name *stackv[64];
	const struct sn_part_name **v = n <= 64 ? stackv : malloc(n * sizeof(*v));
	if (!v) {
		snap_free(s);
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory building a snapshot");
	}
	for (size_t i = 0; i < n; i++) {
		v[i] = &e[i]->n;
		if (e[i]->part)
			s->parts[s->nparts++] = e[i];
	}
	flush_state(v, n, &s->top_id, &s->top_incomplete, &s->top_complete);
	if (v != stackv)
		free(v);
	*out = s;
	return 0;
}

struct sn_store_snapshot *sn_store_snapshot_acquire(struct sn_store *st)
{
	pthread_mutex_lock(&st->mu);
	struct sn_store_snapshot *s = st->cur;
	atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&st->mu);
	return s;
}

size_t sn_store_snapshot_nparts(const struct sn_store_snapshot *snap)
{
	return snap->nparts;
}

struct sn_part *sn_store_snapshot_part(const struct sn_store_snapshot *snap, size_t i)
{
	return snap->parts[i]->part;
}

const char *sn_store_snapshot_name(const struct sn_store_snapshot *snap, size_t i)
{
	return snap->parts[i]->name;
}

uint64_t sn_store_snapshot_nrows(const struct sn_store_snapshot *snap)
{
	uint64_t n = 0;
	for (size_t i = 0; i < snap->nparts; i++)
		n += snap->parts[i]->nrows;
	return n;
}

/* Remembers that e was retired by this store (caller holds st->mu). */
static void note_retired(struct sn_store *st, const struct sn_pentry *e)
{
	if (st->nretired == st->retired_cap) {
		size_t cap = st->retired_cap ? st->retired_cap * 2 : 16;
		void *nr = realloc(st->retired, cap * sizeof(*st->retired));
		if (!nr)
			return; /* then refresh may unlink it early: readers keep the fd */
		st->retired = nr;
		st->retired_cap = cap;
	}
	memcpy(st->retired[st->nretired++], e->name, sizeof(e->name));
}

static bool was_retired(const struct sn_store *st, const char *name)
{
	for (size_t i = 0; i < st->nretired; i++)
		if (strcmp(st->retired[i], name) == 0)
			return true;
	return false;
}

static void publish(struct sn_store *st, struct sn_store_snapshot *s)
{
	pthread_mutex_lock(&st->mu);
	struct sn_store_snapshot *old = st->cur;
	st->cur = s;
	pthread_mutex_unlock(&st->mu);
	if (old)
		sn_store_snapshot_release(old);
}

/* One listing turned into a snapshot, reusing the entries of prev. */
static int snap_from_listing(const char *dir, const struct listing *l,
			     const struct sn_store_snapshot *prev, bool read_only,
			     struct sn_store_snapshot **out, struct sn_err *err)
{
	size_t nlive = 0;
	for (size_t i = 0; i < l->n; i++)
		nlive += l->live[i];
	struct sn_pentry **e = calloc(nlive + 1, sizeof(*e));
	if (!e)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < l->n && !rc; i++) {
		if (!l->live[i])
			continue;
		struct sn_pentry *found = NULL;
		for (size_t j = 0; prev && j < prev->n && !found; j++)
			if (strcmp(prev->e[j]->name, l->names[i]) == 0)
				found = prev->e[j];
		if (found) {
			atomic_fetch_add(&found->refs, 1);
			e[k++] = found;
		} else if ((rc = entry_open(dir, l->names[i], read_only, &e[k], err)) == 0) {
			k++;
		}
	}
	if (rc) {
		for (size_t i = 0; i < k; i++)
			entry_unref(e[i]);
		free(e);
		return rc;
	}
	return snap_build(e, k, out, err);
}

static bool same_live(const struct listing *a, const struct listing *b)
{
	size_t i = 0, j = 0;
	for (;;) {
		while (i < a->n && !a->live[i])
			i++;
		while (j < b->n && !b->live[j])
			j++;
		if (i == a->n || j == b->n)
			return i == a->n && j == b->n;
		if (strcmp(a->names[i++], b->names[j++]) != 0)
			return false;
	}
}

/* Lists until two listings agree and every live part opened: a concurrent
 * rename-then-unlink is then seen wholly before or wholly after. */
static int consistent_snapshot(const char *dir, const struct sn_store_snapshot *prev,
			       bool read_only, struct sn_store_snapshot **out, struct listing *keep,
			       struct sn_err *err)
{
	int rc = 0;
	for (int attempt = 0; attempt < LIST_ATTEMPTS; attempt++) {
		struct listing a, b;
		if ((rc = list_dir(dir, &a, err)))
			return rc;
		struct sn_store_snapshot *s = NULL;
		rc = snap_from_listing(dir, &a, prev, read_only, &s, err);
		if (rc == SN_ERR_NOT_FOUND) {
			listing_free(&a);
			continue;
		}
		if (rc) {
			listing_free(&a);
			return rc;
		}
		if ((rc = list_dir(dir, &b, err))) {
			listing_free(&a);
			sn_store_snapshot_release(s);
			return rc;
		}
		bool same = same_live(&a, &b);
		listing_free(&b);
		if (!same) {
			listing_free(&a);
			sn_store_snapshot_release(s);
			continue;
		}
		if (keep)
			*keep = a;
		else
			listing_free(&a);
		*out = s;
		return 0;
	}
	return sn_err_set(err, SN_ERR_IO, "%s keeps changing: no consistent listing in %d tries",
			  dir, LIST_ATTEMPTS);
}

int sn_store_snapshot_open_dir(const char *dir, struct sn_store_snapshot **out, struct sn_err *err)
{
	return consistent_snapshot(dir, NULL, true, out, NULL, err);
}

/* ---- the store ---------------------------------------------------------------------------- */

int sn_store_refresh(struct sn_store *st, struct sn_err *err)
{
	struct sn_store_snapshot *prev = sn_store_snapshot_acquire(st), *s = NULL;
	struct listing l = {0};
	int rc = consistent_snapshot(st->dir, prev, st->opts.read_only, &s, &l, err);
	if (rc) {
		sn_store_snapshot_release(prev);
		return rc;
	}
	/* Entries no longer live but still listed were superseded by someone
	 * else's rename: they go when the last snapshot drops them. */
	for (size_t j = 0; j < prev->n; j++) {
		bool live = false;
		for (size_t i = 0; i < s->n && !live; i++)
			live = s->e[i] == prev->e[j];
		bool listed = false;
		for (size_t i = 0; i < l.n && !live && !listed; i++)
			listed = strcmp(l.names[i], prev->e[j]->name) == 0;
		/* Only a file still there and superseded is ours to remove; one
		 * that vanished was removed by its owner (a flush replayed after a
		 * crash may even bring the name back, with other rows). */
		if (!live && listed) {
			atomic_store(&prev->e[j]->retired, true);
			pthread_mutex_lock(&st->mu);
			note_retired(st, prev->e[j]);
			pthread_mutex_unlock(&st->mu);
		}
	}
	/* Forget retired names whose files are gone. */
	pthread_mutex_lock(&st->mu);
	size_t kept = 0;
	for (size_t i = 0; i < st->nretired; i++) {
		bool listed = false;
		for (size_t j = 0; j < l.n && !listed; j++)
			listed = strcmp(l.names[j], st->retired[i]) == 0;
		if (listed)
			memmove(st->retired[kept++], st->retired[i], sizeof(st->retired[i]));
	}
	st->nretired = kept;
	pthread_mutex_unlock(&st->mu);
	if (!st->opts.read_only) {
		/* Dead files no entry holds (a crash's leftovers), and spent
		 * tombstones. A superseded file a snapshot still reads is held by
		 * an entry and goes on its last release instead. */
		struct listing dead = l;
		bool *keep_live = malloc((l.n + 1) * sizeof(bool));
		if (keep_live) {
			for (size_t i = 0; i < l.n; i++) {
				keep_live[i] = l.live[i];
				for (size_t j = 0; j < prev->n && !keep_live[i]; j++)
					if (strcmp(prev->e[j]->name, l.names[i]) == 0)
						keep_live[i] = true; /* an entry's to remove */
				pthread_mutex_lock(&st->mu);
				if (!keep_live[i] && was_retired(st, l.names[i]))
					keep_live[i] = true; /* a snapshot may still read it */
				pthread_mutex_unlock(&st->mu);
			}
			dead.live = keep_live;
			size_t removed = 0;
			struct sn_err e2 = {0};
			if (clean_dead(st->dir, &dead, s->top_complete, &removed, &e2))
				sn_log_warn("store: %s", e2.msg);
			free(keep_live);
			if (removed) {
				/* A removed tombstone must not stay in the snapshot. */
				listing_free(&l);
				sn_store_snapshot_release(s);
				s = NULL;
				rc = consistent_snapshot(st->dir, prev, st->opts.read_only, &s,
							 NULL, err);
				if (rc) {
					sn_store_snapshot_release(prev);
					return rc;
				}
			}
		}
	}
	listing_free(&l);
	sn_store_snapshot_release(prev);
	publish(st, s);
	return 0;
}

int sn_store_parse_team_retention(const char *s, int64_t *team_ids, int64_t *days, size_t max,
				  size_t *n, struct sn_err *err)
{
	*n = 0;
	for (const char *p = s ? s : ""; *p;) {
		const char *comma = strchr(p, ','), *colon = strchr(p, ':');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		int64_t team, d;
		if (!colon || colon >= p + len ||
		    sn_parse_int(p, (size_t)(colon - p), 1, INT64_MAX, &team))
			return sn_err_set(err, SN_ERR_INVALID,
					  "team_retention: '%.*s' is not team:days (a team id, a "
					  "colon, days), e.g. 2:30,5:365",
					  (int)len, p);
		if (sn_parse_int(colon + 1, len - (size_t)(colon + 1 - p), 0,
				 SN_STORE_RETENTION_DAYS_MAX, &d))
			return sn_err_set(
			    err, SN_ERR_INVALID,
			    "team_retention: days of team %lld must be a whole number "
			    "from 0 (keep forever) to %d, not '%.*s'",
			    (long long)team, SN_STORE_RETENTION_DAYS_MAX,
			    (int)(len - (size_t)(colon + 1 - p)), colon + 1);
		if (*n == max)
			return sn_err_set(err, SN_ERR_TOO_BIG,
					  "team_retention: more than %zu teams", max);
		team_ids[*n] = team;
		days[(*n)++] = d;
		p += len + (comma != NULL);
	}
	return 0;
}

int sn_store_open(const char *dir, const struct sn_store_opts *opts, struct sn_store **out,
		  struct sn_err *err)
{
	struct sn_store *st = calloc(1, sizeof(*st));
	int rc;
	if (!st)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	if (strlen(dir) >= sizeof(st->dir)) {
		free(st);
		return sn_err_set(err, SN_ERR_INVALID, "store directory path too long");
	}
	snprintf(st->dir, sizeof(st->dir), "%s", dir);
	if (opts)
		st->opts = *opts;
	st->opts.wopts.no_fsync = st->opts.wopts.no_fsync || st->opts.no_fsync;
	st->lock_fd = -1;
	const char *pause = getenv("SNOUT_STORE_TEST_PAUSE_MS");
	st->test_pause_ms = pause ? atoll(pause) : 0;
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->maint, NULL);
	/* The caller's memory: parsed now, not kept. */
	rc = sn_store_parse_team_retention(st->opts.team_retention, st->ttl_team, st->ttl_days,
					   SN_ARRAY_LEN(st->ttl_team), &st->nttl, err);
	st->opts.team_retention = NULL;
	if (rc)
		goto fail;
	if (st->opts.retention_days < 0 || st->opts.retention_days > SN_STORE_RETENTION_DAYS_MAX) {
		rc = sn_err_set(err, SN_ERR_INVALID, "retention_days must be 0 to %d, not %lld",
				SN_STORE_RETENTION_DAYS_MAX, (long long)st->opts.retention_days);
		goto fail;
	}
	if (!st->opts.read_only && (rc = sn_mkdir_p(dir, err)))
		goto fail;
	if ((rc = snap_build(NULL, 0, &st->cur, err)))
		goto fail;
	if ((rc = sn_store_refresh(st, err)))
		goto fail;
	*out = st;
	return 0;
fail:
	if (st->cur)
		sn_store_snapshot_release(st->cur);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->maint);
	free(st);
	return rc;
}

void sn_store_close(struct sn_store *st)
{
	if (!st)
		return;
	sn_store_merger_stop(st);
	if (st->cur)
		sn_store_snapshot_release(st->cur);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->retired);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->maint);
	free(st);
}

int sn_store_lock(struct sn_store *st, bool wait, struct sn_err *err)
{
	if (st->opts.read_only)
		return sn_err_set(err, SN_ERR_INVALID, "the store %s is open read-only", st->dir);
	if (wait)
		pthread_mutex_lock(&st->maint);
	else if (pthread_mutex_trylock(&st->maint))
		return SN_ERR_EXISTS;
	if (st->lock_fd < 0) {
		char path[1100];
		snprintf(path, sizeof(path), "%s/MAINT", st->dir);
		st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
		if (st->lock_fd < 0) {
			pthread_mutex_unlock(&st->maint);
			return sn_err_set(err, SN_ERR_IO, "cannot open %s: %s", path,
					  strerror(errno));
		}
	}
	while (flock(st->lock_fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB)) {
		if (errno == EINTR)
			continue;
		int e = errno;
		pthread_mutex_unlock(&st->maint);
		if (e == EWOULDBLOCK)
			return SN_ERR_EXISTS;
		return sn_err_set(err, SN_ERR_IO, "cannot lock %s/MAINT: %s", st->dir, strerror(e));
	}
	return 0;
}

void sn_store_unlock(struct sn_store *st)
{
	flock(st->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&st->maint);
}

void sn_pentry_mark_damaged(struct sn_pentry *e, const struct sn_err *err)
{
	if (!atomic_exchange(&e->damaged, true))
		sn_log_error("store: part %s is damaged (%s); merges leave it out, deletions and "
			     "retention report it; `snout store verify` lists every damaged part",
			     e->name, err && err->msg[0] ? err->msg : "a block failed its checks");
}

int sn_store_replace(struct sn_store *st, struct sn_pentry *const *old, size_t nold,
		     const struct sn_part_name *new_name, struct sn_err *err)
{
	struct sn_pentry *ne = NULL;
	int rc = 0;
	if (new_name) {
		char name[64];
		sn_part_name_format(new_name, name, sizeof(name));
		if ((rc = entry_open(st->dir, name, false, &ne, err)))
			return rc;
	}
	struct sn_store_snapshot *prev = sn_store_snapshot_acquire(st), *s = NULL;
	struct sn_pentry **e = calloc(prev->n + 1, sizeof(*e));
	if (!e) {
		sn_store_snapshot_release(prev);
		if (ne)
			entry_unref(ne);
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	}
	size_t k = 0;
	for (size_t i = 0; i < prev->n; i++) {
		bool gone = false;
		for (size_t j = 0; j < nold && !gone; j++)
			gone = prev->e[i] == old[j];
		if (gone) {
			atomic_store(&prev->e[i]->retired, true);
			pthread_mutex_lock(&st->mu);
			note_retired(st, prev->e[i]);
			pthread_mutex_unlock(&st->mu);
			continue;
		}
		atomic_fetch_add(&prev->e[i]->refs, 1);
		e[k++] = prev->e[i];
	}
	if (ne)
		e[k++] = ne;
	sn_store_snapshot_release(prev);
	if ((rc = snap_build(e, k, &s, err)))
		return rc;
	publish(st, s);
	return 0;
}

int sn_store_write_tombstone(struct sn_store *st, const struct sn_part_name *name,
			     struct sn_err *err)
{
	char fn[64], path[1100];
	struct sn_part_name n = *name;
	n.tombstone = true;
	sn_part_name_format(&n, fn, sizeof(fn));
	snprintf(path, sizeof(path), "%s/%s", st->dir, fn);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return sn_err_set(err, SN_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	close(fd);
	return st->opts.wopts.no_fsync ? 0 : sn_fsync_dir(st->dir, err);
}
