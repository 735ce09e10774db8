/*
 * bench_store.c — loads ClickHouse JSONEachRow events (from
 * ../shared/bench/gen_events.py) into memtables, writes parts, and prints
 * bytes per event on disk (total and per column), rows per second written,
 * and the time to read one column of one team back.
 *
 *   bench_store EVENTS.jsonl DIR [--codec default|zstd|lz4|none] [--level N]
 *               [--flush-rows N] [--team N] [--fsync] [--no-shred] [--threads N]
 *               [--format-version N] [--granule N] [--no-gather]
 *
 * --repeat N writes the same rows N - 1 more times first and prints each time
 * (best of N on a noisy machine without parsing the input again).
 * --threads N gives the writer a pool of N threads (0, the default: the
 * calling thread does everything, as before the pool existed).
 * --format-version 1 writes parts without residual key sets (the format
 * before them), to compare reads of a key no event has with and without.
 * --granule N writes granules of N rows instead of SN_PART_GRANULE_ROWS (the
 * ingest sink's parts use SN_PART_INGEST_GRANULE_ROWS).
 * --no-gather writes without opts.gather_text, which the ingest sink sets (the
 * granule tasks copy their rows' properties next to each other first).
 *
 * JSON parsing (json-c) is timed apart from the store: the numbers that
 * matter here are sort + encode + compress + write, which is what the
 * ingest worker will add on top of decoding the WAL. Build and run with
 * bench/store/run.sh.
 */
#include "store/store.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int64_t parse_ch_time(const char *s, size_t len)
{
	/* "YYYY-MM-DD hh:mm:ss[.ffffff]" */
	int y, mo, d, h, mi, sec;
	char frac[8] = {0};
	if (len < 19 || sscanf(s, "%d-%d-%d %d:%d:%d", &y, &mo, &d, &h, &mi, &sec) != 6)
		return 0;
	int64_t us = 0;
	if (len > 20 && s[19] == '.') {
		size_t n = len - 20 > 6 ? 6 : len - 20;
		memcpy(frac, s + 20, n);
		for (size_t i = n; i < 6; i++)
			frac[i] = '0';
		us = atoll(frac);
	}
	int64_t days = sn_days_from_civil(y, (unsigned)mo, (unsigned)d);
	return ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000000LL) + us;
}

static struct sn_str jstr(struct json_object *o, const char *key, bool empty_is_null)
{
	size_t len = 0;
	const char *s = sn_json_str(sn_json_get(o, key), &len);
	if (!s || (empty_is_null && !len))
		return (struct sn_str){NULL, 0};
	return (struct sn_str){s, len};
}

/* CPU time of every thread of the process, in seconds: on a shared machine
 * it moves less than the wall clock when other work takes the cores. */
static double cpu_secs(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
			"usage: %s EVENTS.jsonl DIR [--codec c] [--level n] "
			"[--flush-rows n] [--team n] [--fsync] [--no-shred] [--threads n] "
			"[--format-version n] [--granule n] [--no-gather]\n",
			argv[0]);
		return 2;
	}
	struct sn_part_write_opts opts = {.no_fsync = true, .gather_text = true};
	size_t flush_rows = 1000000;
	unsigned threads = 0, repeat = 1;
	int64_t team = 1;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--codec") && i + 1 < argc) {
			const char *c = argv[++i];
			opts.codec_override = !strcmp(c, "zstd")   ? SN_CODEC_ZSTD
					      : !strcmp(c, "lz4")  ? SN_CODEC_LZ4
					      : !strcmp(c, "none") ? SN_CODEC_NONE
								   : SN_CODEC_DEFAULT;
		} else if (!strcmp(argv[i], "--level") && i + 1 < argc) {
			opts.zstd_level = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--flush-rows") && i + 1 < argc) {
			flush_rows = (size_t)atoll(argv[++i]);
		} else if (!strcmp(argv[i], "--team") && i + 1 < argc) {
			team = atoll(argv[++i]);
		} else if (!strcmp(argv[i], "--fsync")) {
			opts.no_fsync = false;
		} else if (!strcmp(argv[i], "--no-gather")) {
			opts.gather_text = false;
		} else if (!strcmp(argv[i], "--no-shred")) {
			opts.no_shred = true;
		} else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
			repeat = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
			threads = (unsigned)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--format-version") && i + 1 < argc) {
			opts.format_version = (uint32_t)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--granule") && i + 1 < argc) {
			opts.granule_rows = (uint32_t)atoi(argv[++i]);
		}
	}
	const char *dir = argv[2];
	struct sn_err err = {0};
	if (threads && sn_write_pool_new(&opts.pool, threads, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	if (sn_mkdir_p(dir, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	FILE *f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	struct sn_memtable mt;
	sn_memtable_init(&mt, (size_t)4 << 30);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t parse_ns = 0, write_ns = 0, nevents = 0, input_bytes = 0, part_id = 0;
	int64_t months[64]; /* months (y * 12 + m - 1) of the rows since the last flush */
	size_t nmonths = 0;
	uint64_t disk_bytes = 0, nparts = 0, sort_ns = 0;
	double write_cpu = 0;
	char **paths = NULL;
	for (bool eof = false; !eof;) {
		n = getline(&line, &cap, f);
		eof = n <= 0;
		if (!eof) {
			uint64_t t0 = sn_mono_ns();
			struct json_object *o = NULL;
			if (sn_json_parse(line, (size_t)n, &o, &err)) {
				fprintf(stderr, "line %" PRIu64 ": %s\n", nevents + 1, err.msg);
				return 1;
			}
			struct sn_event_row r = {0};
			struct sn_str u = jstr(o, "uuid", false), pid = jstr(o, "person_id", true);
			struct sn_uuid uu;
			if (u.p && !sn_uuid_parse(u.p, u.len, &uu))
				memcpy(r.uuid, uu.b, 16);
			if (pid.p && !sn_uuid_parse(pid.p, pid.len, &uu))
				memcpy(r.person_id, uu.b, 16);
			r.team_id = json_object_get_int64(sn_json_get(o, "team_id"));
			struct sn_str ts = jstr(o, "timestamp", false),
				      ca = jstr(o, "created_at", false);
			r.timestamp_us = ts.p ? parse_ch_time(ts.p, ts.len) : 0;
			r.created_at_us = ca.p ? parse_ch_time(ca.p, ca.len) : 0;
			r.event = jstr(o, "event", false);
			r.distinct_id = jstr(o, "distinct_id", false);
			r.properties = jstr(o, "properties", false);
			r.elements_chain = jstr(o, "elements_chain", false);
			r.session_id = jstr(o, "$session_id", true);
			r.window_id = jstr(o, "$window_id", true);
			if (sn_memtable_append(&mt, &r, &err)) {
				fprintf(stderr, "append: %s\n", err.msg);
				return 1;
			}
			int64_t y;
			unsigned mo, dd;
			sn_civil_from_days(r.timestamp_us / 86400000000LL, &y, &mo, &dd);
			int64_t ym = y * 12 + (mo - 1);
			bool seen = false;
			for (size_t k = 0; k < nmonths && !seen; k++)
				seen = months[k] == ym;
			if (!seen && nmonths < SN_ARRAY_LEN(months))
				months[nmonths++] = ym;
			json_object_put(o);
			nevents++;
			input_bytes += (uint64_t)n;
			parse_ns += sn_mono_ns() - t0;
		}
		if (sn_memtable_nrows(&mt) && (eof || sn_memtable_nrows(&mt) >= flush_rows)) {
			/* --repeat: extra timed flushes of the same rows, thrown away. */
			for (unsigned k = 1; k < repeat; k++) {
				uint64_t r0 = sn_mono_ns();
				double c0 = cpu_secs();
				struct sn_part_written *rp;
				size_t rn;
				mt.sorted = false;
				if (sn_memtable_flush(&mt, dir, 1u << 30, &opts, &rp, &rn, &err)) {
					fprintf(stderr, "flush: %s\n", err.msg);
					return 1;
				}
				printf("repeat %u          %.2f s = %.0f rows/s, %.2f s CPU\n", k,
				       secs(sn_mono_ns() - r0),
				       (double)sn_memtable_nrows(&mt) / secs(sn_mono_ns() - r0),
				       cpu_secs() - c0);
				for (size_t i = 0; i < rn; i++)
					unlink(rp[i].path);
				free(rp);
			}
			mt.sorted = false;
			uint64_t t0 = sn_mono_ns();
			double c0 = cpu_secs();
			if (sn_memtable_sort(&mt, &err)) {
				fprintf(stderr, "sort: %s\n", err.msg);
				return 1;
			}
			sort_ns += sn_mono_ns() - t0;
			struct sn_part_written *parts;
			size_t np;
			/* Flush ids as the ingest sink's, (WAL position << 12) |
			 * months written, at WAL position 0 — the only one a server
			 * without a WAL accepts. So flush k is id k (1, 2, ...), and
			 * the server's recovery takes the newest flush as complete
			 * only if it wrote at least k parts: a store meant for `snout
			 * serve` is written in at most as many flushes as each writes
			 * months (bench/query/run.sh: 3 flushes of 3-month data). */
			uint64_t fid = ++part_id;
			if (fid > nmonths)
				fprintf(stderr,
					"warning: flush %" PRIu64
					" wrote %zu months; if it is the last, `snout serve` "
					"will take it for an interrupted flush (use fewer, larger "
					"flushes)\n",
					fid, nmonths);
			nmonths = 0;
			if (sn_memtable_flush(&mt, dir, fid, &opts, &parts, &np, &err)) {
				fprintf(stderr, "flush: %s\n", err.msg);
				return 1;
			}
			write_ns += sn_mono_ns() - t0;
			write_cpu += cpu_secs() - c0;
			paths = realloc(paths, (nparts + np) * sizeof(*paths));
			for (size_t i = 0; i < np; i++) {
				disk_bytes += parts[i].nbytes;
				paths[nparts++] = strdup(parts[i].path);
			}
			free(parts);
			sn_memtable_reset(&mt, false);
		}
	}
	free(line);
	fclose(f);
	sn_memtable_release(&mt);

	printf("events            %" PRIu64 " (%.1f MB JSONEachRow input)\n", nevents,
	       (double)input_bytes / 1e6);
	printf("parts             %" PRIu64 "\n", nparts);
	printf("json parse+append %.2f s (%.0f events/s; not the store)\n", secs(parse_ns),
	       (double)nevents / secs(parse_ns));
	char who[64];
	if (threads)
		snprintf(who, sizeof(who), "a pool of %u writer threads", threads);
	else
		snprintf(who, sizeof(who), "one thread");
	printf("sort+encode+write %.2f s = %.0f rows/s (%s%s)\n", secs(write_ns),
	       (double)nevents / secs(write_ns), who, opts.no_fsync ? ", no fsync" : ", fsync");
	printf("  of which sort   %.2f s; CPU time of all threads %.2f s\n", secs(sort_ns),
	       write_cpu);
	printf("on disk           %" PRIu64 " bytes = %.1f bytes/event\n", disk_bytes,
	       (double)disk_bytes / (double)nevents);

	/* Per-column sizes over all parts, and one column of one team read back. */
	uint64_t csz[64] = {0}, usz[64] = {0};
	const char *names[64] = {0};
	size_t ncols = 0;
	uint64_t read_ns = 0, read_rows = 0, read_granules = 0, total_granules = 0;
	/* The last: a key no event has (PostHog's lifecycle filter), which a part
	 * with a residual key set answers without reading anything. */
	const char *read_cols[] = {SN_COL_NAME_TIMESTAMP, SN_COL_NAME_EVENT, "properties.$browser",
				   SN_COL_NAME_PROPERTIES, "properties.$process_person_profile"};
	uint64_t col_ns[5] = {0};
	struct sn_part **open_parts = calloc(nparts, sizeof(*open_parts));
	for (size_t k = 0; k < nparts; k++) {
		if (sn_part_open(paths[k], &open_parts[k], &err)) {
			fprintf(stderr, "open: %s\n", err.msg);
			return 1;
		}
		struct sn_part *p = open_parts[k];
		/* Parts shred different keys: sum columns by name. */
		for (size_t c = 0; c < sn_part_ncolumns(p); c++) {
			const struct sn_part_column_info *ci = sn_part_column(p, c);
			size_t x = 0;
			while (x < ncols && strcmp(names[x], ci->name))
				x++;
			if (x == ncols) {
				if (ncols == 64)
					continue;
				names[ncols++] = ci->name;
			}
			csz[x] += ci->compressed_bytes;
			usz[x] += ci->uncompressed_bytes;
		}
		total_granules += sn_part_ngranules(p);
	}
	printf("\n%-16s %12s %9s %12s %7s\n", "column", "compressed", "B/event", "encoded",
	       "ratio");
	for (size_t c = 0; c < ncols; c++)
		printf("%-16s %12" PRIu64 " %9.2f %12" PRIu64 " %7.2f\n", names[c], csz[c],
		       (double)csz[c] / (double)nevents, usz[c], (double)usz[c] / (double)csz[c]);
	for (int rc_i = 0; rc_i < 5; rc_i++) {
		struct sn_arena arena;
		sn_arena_init(&arena, 0);
		uint64_t t0 = sn_mono_ns();
		read_rows = read_granules = 0;
		for (size_t k = 0; k < nparts; k++) {
			struct sn_part *p = open_parts[k];
			size_t gb, ge;
			sn_part_granules_for_team(p, team, INT32_MIN, INT32_MAX, &gb, &ge);
			int c = sn_part_find_column(p, read_cols[rc_i]), rc = 0;
			struct sn_colvec v;
			if (gb < ge && (rc_i == 2 || rc_i == 4))
				rc = sn_part_read_property(p, read_cols[rc_i] + 11, gb, ge, &arena,
							   &v, &err);
			else if (gb < ge && rc_i == 3)
				rc = sn_part_read_properties(p, gb, ge, &arena, &v, &err);
			else if (gb < ge)
				rc = sn_part_read_column(p, (size_t)c, gb, ge, &arena, &v, &err);
			if (rc) {
				fprintf(stderr, "read: %s\n", err.msg);
				return 1;
			}
			read_rows += gb < ge ? v.nrows : 0;
			read_granules += ge - gb;
		}
		col_ns[rc_i] = sn_mono_ns() - t0;
		read_ns += col_ns[rc_i];
		sn_arena_release(&arena);
	}
	printf("\nteam %" PRId64 ": %" PRIu64 " of %" PRIu64 " granules, %" PRIu64 " rows\n", team,
	       read_granules, total_granules, read_rows);
	for (int i = 0; i < 5; i++)
		printf("read %-20s %.1f ms (%.0f rows/s)\n", read_cols[i], secs(col_ns[i]) * 1e3,
		       (double)read_rows / secs(col_ns[i]));
	for (size_t k = 0; k < nparts; k++) {
		sn_part_unref(open_parts[k]);
		free(paths[k]);
	}
	free(open_parts);
	free(paths);
	sn_write_pool_free(opts.pool);
	return 0;
}
