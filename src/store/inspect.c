/*
 * inspect.c — `snout store stats` and `snout store verify`: whole-store
 * views over the part files of a directory.
 *
 * stats: parts, rows, bytes on disk, bytes per row, and per column name the
 * compressed and encoded sizes summed over parts (with the compression
 * ratio), plus which property keys some part shredded into columns and how
 * many parts record a residual key set (STORAGE.md, "Residual key sets").
 *
 * verify: every part is opened (header, trailer, metadata checksums and
 * version), every column of every granule is read (block checksums and
 * decoding), and the invariants the readers rely on are checked against the
 * data itself: rows sorted by (team_id, day, event) within the part; each
 * granule's sparse-index entry equal to its first row (the event cut as the
 * writer cuts it, to SN_PART_MAX_EVENT_KEY bytes); each granule's
 * min/max timestamp equal to the rows'; every row in the part's month; row
 * counts adding up; every key of the residual JSON (p:@rest or properties)
 * present in the part's residual key set, when it has one (a key missing
 * there would read as NULL where the row has it); every row's properties
 * rebuilt from the shredded columns as queries and merges rebuild them. Leftover temporary files (a
 * write cut by a crash) are reported too. Only names sn_part_name_parse accepts are looked at, as
 * the part set does (a stray notapart.snp or a month-13 copy is not counted); a part whose metadata
 * month differs from its name's is reported as damaged. Files superseded by a merge or rewrite are
 * skipped (partset.c); tombstones (.del) are not parts. Problems are listed one per line in the
 * report; the caller decides the exit status from *nproblems.
 *
 * Both read one granule at a time through an arena that is reset between
 * granules, so memory stays at about one granule's columns.
 */
#include "store/shred.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct colsum {
	char name[256];
	uint64_t compressed, uncompressed;
	int type;
};

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of part file names (and, separately, leftover temp files). */
static int list_parts(const char *dir, char ***names, size_t *n, char ***tmps, size_t *ntmp,
		      struct sn_err *err)
{
	DIR *d = opendir(dir);
	*names = NULL;
	*n = 0;
	*tmps = NULL;
	*ntmp = 0;
	if (!d) {
		if (errno == ENOENT)
			return 0; /* no store yet: empty */
		return sn_err_set(err, SN_ERR_IO, "cannot list %s: %s", dir, strerror(errno));
	}
	size_t cap = 0, tcap = 0;
	struct dirent *de;
	int rc = 0;
	while ((de = readdir(d))) {
		/* The names the part set reads (sn_part_name_parse): any other
		 * file, notapart.snp or a month-13 copy, is no part here either. */
		struct sn_part_name pn;
		bool is_part = sn_part_name_parse(de->d_name, &pn) == 0;
		bool is_tmp = sn_store_is_temp_name(de->d_name);
		char ***list = is_tmp ? tmps : is_part ? names : NULL;
		size_t *cnt = is_tmp ? ntmp : n, *cp = is_tmp ? &tcap : &cap;
		if (!list)
			continue;
		if (*cnt == *cp) {
			*cp = *cp ? *cp * 2 : 16;
			char **nl = realloc(*list, *cp * sizeof(**list));
			if (!nl) {
				rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory listing %s", dir);
				break;
			}
			*list = nl;
		}
		if (!((*list)[(*cnt)++] = strdup(de->d_name))) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory listing %s", dir);
			break;
		}
	}
	closedir(d);
	if (!rc && *n) {
		/* Files a merge or rewrite superseded are dead (partset.c): a
		 * restart removes them; they are neither counted nor checked. */
		bool *live = malloc(*n * sizeof(bool));
		if (!live || sn_part_names_live(*names, *n, live, err)) {
			free(live);
			return sn_err_set(err, SN_ERR_NOMEM, "out of memory listing %s", dir);
		}
		size_t k = 0;
		for (size_t i = 0; i < *n; i++) {
			struct sn_part_name pn;
			if (sn_part_name_parse((*names)[i], &pn) || pn.tombstone)
				live[i] = false; /* a tombstone is no part */
			if (live[i])
				(*names)[k++] = (*names)[i];
			else
				free((*names)[i]);
		}
		*n = k;
		free(live);
	}
	if (*n)
		qsort(*names, *n, sizeof(**names), cmp_names);
	return rc;
}

static void free_list(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

int sn_store_stats_json(const char *dir, struct sn_buf *out, struct sn_err *err)
{
	char **names, **tmps;
	size_t n, ntmp, ncols = 0;
	struct colsum *cols = NULL;
	uint64_t rows = 0, bytes = 0, keysets = 0, keys_max = 0;
	int rc = list_parts(dir, &names, &n, &tmps, &ntmp, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && !rc; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct sn_part *p;
		struct sn_part_name pn;
		sn_part_name_parse(names[i], &pn); /* list_parts kept names that parse */
		if ((rc = sn_part_open_listed(path, &pn, &p, err)))
			break;
		rows += sn_part_nrows(p);
		bytes += sn_part_file_bytes(p);
		const struct sn_str *rk;
		size_t nrk;
		if (sn_part_residual_keys(p, &rk, &nrk)) {
			keysets++;
			keys_max = nrk > keys_max ? nrk : keys_max;
		}
		for (size_t c = 0; c < sn_part_ncolumns(p); c++) {
			const struct sn_part_column_info *ci = sn_part_column(p, c);
			size_t k;
			for (k = 0; k < ncols && strcmp(cols[k].name, ci->name) != 0; k++)
				;
			if (k == ncols) {
				struct colsum *nc = realloc(cols, (ncols + 1) * sizeof(*cols));
				if (!nc) {
					rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
					break;
				}
				cols = nc;
				memset(&cols[k], 0, sizeof(cols[k]));
				snprintf(cols[k].name, sizeof(cols[k].name), "%s", ci->name);
				cols[k].type = ci->type;
				ncols++;
			}
			cols[k].compressed += ci->compressed_bytes;
			cols[k].uncompressed += ci->uncompressed_bytes;
		}
		sn_part_unref(p);
	}
	if (!rc) {
		sn_buf_appendf(out,
			       "{\"parts\":%zu,\"rows\":%llu,\"bytes\":%llu,\"bytes_per_row\":%.1f,"
			       "\"temp_files\":%zu,\"columns\":[",
			       n, (unsigned long long)rows, (unsigned long long)bytes,
			       rows ? (double)bytes / (double)rows : 0.0, ntmp);
		bool first = true;
		for (size_t k = 0; k < ncols; k++) {
			sn_buf_appends(out, first ? "{\"name\":" : ",{\"name\":");
			first = false;
			sn_buf_append_json_str(out, cols[k].name, strlen(cols[k].name));
			sn_buf_appendf(out,
				       ",\"compressed_bytes\":%llu,\"encoded_bytes\":%llu,"
				       "\"ratio\":%.2f,\"bytes_per_row\":%.2f}",
				       (unsigned long long)cols[k].compressed,
				       (unsigned long long)cols[k].uncompressed,
				       cols[k].compressed ? (double)cols[k].uncompressed /
								(double)cols[k].compressed
							  : 0.0,
				       rows ? (double)cols[k].compressed / (double)rows : 0.0);
		}
		sn_buf_appends(out, "],\"shredded_keys\":[");
		first = true;
		for (size_t k = 0; k < ncols; k++) {
			if (strncmp(cols[k].name, "p:", 2) != 0 || cols[k].name[2] == '@')
				continue;
			if (!first)
				sn_buf_appendc(out, ',');
			first = false;
			sn_buf_append_json_str(out, cols[k].name + 2, strlen(cols[k].name) - 2);
		}
		sn_buf_appendf(
		    out,
		    "],\"residual_key_sets\":{\"parts_known\":%llu,\"parts_unknown\":%llu,"
		    "\"most_keys\":%llu}",
		    (unsigned long long)keysets, (unsigned long long)(n - keysets),
		    (unsigned long long)keys_max);
		rc = sn_buf_appends(out, "}");
	}
	free(cols);
	free_list(names, n);
	free_list(tmps, ntmp);
	return rc;
}

static int str_cmp(struct sn_str a, struct sn_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	return c ? c : (a.len > b.len) - (a.len < b.len);
}

/* What a granule's index entry keeps of its first row's event: the first
 * SN_PART_MAX_EVENT_KEY bytes (the writer cuts a longer one there). */
static struct sn_str index_event(struct sn_str ev)
{
	if (ev.len > SN_PART_MAX_EVENT_KEY)
		ev.len = SN_PART_MAX_EVENT_KEY;
	return ev;
}

/* Verifies one part; appends problems to report. */
static uint64_t verify_part(const char *path, const char *name, struct sn_buf *report,
			    uint64_t *rows_out)
{
	struct sn_part *p;
	struct sn_part_name pn;
	struct sn_err e = {0};
	uint64_t problems = 0;
#define PROBLEM(...)                                  \
	do {                                          \
		sn_buf_appendf(report, "%s: ", name); \
		sn_buf_appendf(report, __VA_ARGS__);  \
		sn_buf_appendc(report, '\n');         \
		problems++;                           \
	} while (0)
	sn_part_name_parse(name, &pn); /* list_parts kept names that parse */
	if (sn_part_open_listed(path, &pn, &p, &e)) {
		PROBLEM("%s", e.msg);
		return problems;
	}
	*rows_out += sn_part_nrows(p);
	sn_part_decode_all(p); /* the block-nulls section checked against every block */
	int team_col = sn_part_find_column(p, SN_COL_NAME_TEAM_ID);
	int ts_col = sn_part_find_column(p, SN_COL_NAME_TIMESTAMP);
	int ev_col = sn_part_find_column(p, SN_COL_NAME_EVENT);
	if (team_col < 0 || ts_col < 0 || ev_col < 0) {
		PROBLEM("missing one of the sort-key columns team_id, timestamp, event");
		sn_part_unref(p);
		return problems;
	}
	/* The residual key set is checked against the keys the residual JSON
	 * really holds, collected as the writer collects them. */
	const struct sn_str *rkeys;
	size_t nrkeys;
	bool has_rkeys = sn_part_residual_keys(p, &rkeys, &nrkeys);
	int rest_col = sn_part_find_column(p, SN_COL_NAME_PROPERTIES);
	if (rest_col < 0)
		rest_col = sn_part_find_column(p, SN_COL_NAME_REST);
	struct sn_keyset found;
	sn_keyset_init(&found);
	struct sn_arena a;
	sn_arena_init(&a, 1u << 30);
	uint64_t counted = 0;
	bool have_prev = false;
	int64_t prev_team = 0;
	int32_t prev_day = 0;
	char prev_event[1024];
	struct sn_str prev_ev = {prev_event, 0};
	for (size_t g = 0; g < sn_part_ngranules(p) && problems < 100; g++) {
		const struct sn_granule_info *gi = sn_part_granule(p, g);
		uint64_t granule_problems = problems;
		/* Every column decodes (checksums, lengths). */
		for (size_t c = 0; c < sn_part_ncolumns(p); c++) {
			struct sn_colvec v;
			if (sn_part_read_column(p, c, g, g + 1, &a, &v, &e))
				PROBLEM("granule %zu: %s", g, e.msg);
			else if (v.nrows != gi->nrows)
				PROBLEM("granule %zu column %s: %zu rows, the index says %u", g,
					sn_part_column(p, c)->name, v.nrows, gi->nrows);
		}
		/* The properties rebuild as queries and merges rebuild them (a
		 * shredded part's columns, layout and residual fit together);
		 * asked only of a granule whose columns all decoded, so one
		 * damaged block is one problem. */
		struct sn_colvec props;
		if (problems == granule_problems &&
		    sn_part_read_properties(p, g, g + 1, &a, &props, &e))
			PROBLEM("granule %zu: %s", g, e.msg);
		struct sn_colvec rest;
		if (has_rkeys && rest_col >= 0 &&
		    !sn_part_read_column(p, (size_t)rest_col, g, g + 1, &a, &rest, &e) &&
		    rest.type == SN_COL_STRING) {
			for (size_t r = 0; r < rest.nrows; r++) {
				if (sn_keyset_add_object(&found, rest.str[r]))
					PROBLEM("out of memory collecting residual keys");
			}
		}
		struct sn_colvec team, ts, ev;
		if (sn_part_read_column(p, (size_t)team_col, g, g + 1, &a, &team, &e) ||
		    sn_part_read_column(p, (size_t)ts_col, g, g + 1, &a, &ts, &e) ||
		    sn_part_read_column(p, (size_t)ev_col, g, g + 1, &a, &ev, &e)) {
			sn_arena_release(&a);
			continue;
		}
		counted += team.nrows;
		if (team.nrows &&
		    (team.i64[0] != gi->team_id || sn_store_day_of(ts.i64[0]) != gi->day ||
		     str_cmp(index_event(ev.str[0]), gi->event) != 0))
			PROBLEM("granule %zu: the sparse index does not match its first row", g);
		int64_t mn = INT64_MAX, mx = INT64_MIN;
		for (size_t r = 0; r < team.nrows; r++) {
			int64_t t = ts.i64[r];
			int32_t day = sn_store_day_of(t);
			mn = t < mn ? t : mn;
			mx = t > mx ? t : mx;
			if (sn_store_month_of(t) != sn_part_month(p))
				PROBLEM(
				    "granule %zu row %zu: timestamp outside the part's month %d", g,
				    r, (int)sn_part_month(p));
			if (have_prev) {
				int c = team.i64[r] != prev_team
					    ? (team.i64[r] < prev_team ? -1 : 1)
					: day != prev_day ? (day < prev_day ? -1 : 1)
							  : str_cmp(ev.str[r], prev_ev);
				if (c < 0)
					PROBLEM("granule %zu row %zu: rows out of sort order", g,
						r);
			}
			have_prev = true;
			prev_team = team.i64[r];
			prev_day = day;
			size_t l =
			    ev.str[r].len < sizeof(prev_event) ? ev.str[r].len : sizeof(prev_event);
			memcpy(prev_event, ev.str[r].p, l);
			prev_ev.len = l;
		}
		if (team.nrows && (mn != gi->min_ts_us || mx != gi->max_ts_us))
			PROBLEM("granule %zu: min/max timestamp in the index do not match the rows",
				g);
		sn_arena_release(&a);
	}
	if (counted != sn_part_nrows(p) && problems == 0)
		PROBLEM("granules hold %llu rows, the part says %llu", (unsigned long long)counted,
			(unsigned long long)sn_part_nrows(p));
	if (has_rkeys && rest_col < 0)
		PROBLEM("a residual key set but no properties or p:@rest column");
	if (has_rkeys && found.over)
		PROBLEM("the residual JSON holds more keys than the residual key set can");
	for (size_t i = 0; has_rkeys && !found.over && i < found.n && problems < 100; i++) {
		const struct sn_keyset_ent *k = &found.ents[i];
		if (!sn_keyset_find(rkeys, nrkeys, found.names.data + k->off, k->len))
			PROBLEM("residual key \"%.*s\" is missing from the residual key set",
				(int)k->len, found.names.data + k->off);
	}
	sn_keyset_release(&found);
	sn_arena_release(&a);
	sn_part_unref(p);
#undef PROBLEM
	return problems;
}

int sn_store_verify(const char *dir, struct sn_buf *report, uint64_t *nparts, uint64_t *nrows,
		    uint64_t *nproblems, struct sn_err *err)
{
	char **names, **tmps;
	size_t n, ntmp;
	*nparts = *nrows = *nproblems = 0;
	int rc = list_parts(dir, &names, &n, &tmps, &ntmp, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		*nproblems += verify_part(path, names[i], report, nrows);
		(*nparts)++;
	}
	for (size_t i = 0; i < ntmp; i++) {
		sn_buf_appendf(report, "%s: leftover temporary file (a write cut short)\n",
			       tmps[i]);
		(*nproblems)++;
	}
	free_list(names, n);
	free_list(tmps, ntmp);
	return 0;
}
