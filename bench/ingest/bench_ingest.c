/*
 * bench_ingest.c — WAL → parts ingest rate, with identity off and on.
 *
 * Writes a synthetic event stream into a WAL (not timed): `users` users,
 * each anonymous first ("anon-<n>"); a share of them identifies
 * ($identify with $anon_distinct_id, then sends as "user-<n>"), a smaller
 * share aliases a second id; every event is a $pageview with posthog-js
 * style properties ($browser, $os, $device_type, $session_id, ...). Then it
 * runs the real ingest worker and store sink over it — once without the
 * person store, once with it — and prints events per second and how many
 * events took the identity cache's fast path.
 *
 *   bench_ingest [--events N] [--users N] [--identified PCT] [--aliases PCT]
 *                [--urls N] [--cache N] [--mode off|on|both]
 *                [--enrich] [--geoip PATH] [--ip-cache N] [--place-cache N]
 *                [--jsonl FILE] [--malloc-default] [--propdefs]
 *                [--wal-format indexed|json] [--keep-input-cache]
 *                [--flush-age-ms N] [--writer-threads N]
 *
 * --jsonl FILE takes the events from ../shared/bench's generator instead
 * (its JSONEachRow rows, the first --events of them): each row becomes the
 * WAL record capture would have written for it — properties as sent, with
 * $elements_chain and $window_id among them, timestamp and now (from
 * created_at) in RFC 3339 — so the store gets the same rows the query
 * benchmark's ClickHouse holds. Converting them (json-c) is not timed.
 * The file's pages are dropped from the page cache as it is read (unless
 * --keep-input-cache): the 10M rows are 11.5 GB and their WAL ~12 GB, more
 * than a 24 GB machine caches together, and the input pushed the WAL's
 * first segments out before the drain read them. A live server's WAL was
 * written moments before it is read and has no such neighbour.
 *
 * --urls is how many distinct $current_url values a user cycles through:
 * each change is a §5.2 $set on the person (the slow path), so 1 measures
 * the cache at its best and larger values a realistic web mix. Each user
 * sends from its own public IPv4 address (the record's root "ip", as
 * capture writes it; with --jsonl only under --enrich or --geoip, derived
 * from the distinct id, else 127.0.0.1 as before). --enrich turns
 * enrichment on (properties.$ip from that address), --geoip PATH too, with
 * GeoIP from that database; --ip-cache and --place-cache size enrichment's
 * two caches (entries; 0, the default, is the server's default). Build
 * and run with bench/ingest/run.sh. Numbers go to stdout, one line per mode.
 * Each line also gives the bytes the store's directory holds afterwards
 * and the process's peak resident memory during the drain (the WAL writing
 * before it excluded). bench/ingest/compare.sh puts these next to
 * ClickHouse's figures for the same rows.
 * malloc is tuned as the server tunes it (sn_mem_tune) unless
 * --malloc-default. --propdefs turns property definitions on (as
 * `infer_property_types`, the server's default), recorded in a metadata
 * database in the run's directory with the events' team. --flush-age-ms
 * sets the memtable's age limit (default 1000, the server's): under
 * valgrind a run is ~50 times slower and flushes by age at other points
 * each time, so instruction counts of the writer compare only with a
 * limit no run reaches (flushes by size alone, the same in every run).
 * --writer-threads sets the part writer pool's threads (the server's
 * store_writer_threads; default 2).
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <json-c/json.h>

#include "capture/capture.h"
#include "ingest/ingest.h"
#include "meta/meta.h"
#include "persons/persons_internal.h"
#include "wal/evindex.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return g_rng;
}

struct opts {
	long events, users, identified_pct, aliases_pct, urls, cache, ip_cache, place_cache;
	long flush_age_ms; /* the memtable's age limit (the server's default, 1 s) */
	long writer_threads;
	const char *mode;
	bool enrich;
	bool malloc_default;   /* glibc's own thresholds, not sn_mem_tune's */
	bool keep_input_cache; /* --jsonl's pages stay in the page cache */
	const char *geoip;
	const char *jsonl;
	bool propdefs;
	bool wal_json; /* --wal-format json: records without capture's index */
};

static double tv_secs(struct timeval t)
{
	return (double)t.tv_sec + (double)t.tv_usec / 1e6;
}

/* CPU seconds each thread but this one (which writes the WAL before the
 * clock starts) has used, from /proc: n threads into tid[] / secs[]. */
#define MAX_THREADS 256
struct thread_cpu {
	long tid[MAX_THREADS];
	double secs[MAX_THREADS];
	char name[MAX_THREADS][20];
	int n;
};

static void thread_cpu_read(struct thread_cpu *tc)
{
	long self = (long)syscall(SYS_gettid);
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	long hz = sysconf(_SC_CLK_TCK);
	tc->n = 0;
	while (d && (de = readdir(d)) && tc->n < MAX_THREADS) {
		if (de->d_name[0] == '.' || atol(de->d_name) == self)
			continue;
		char path[300], buf[1024];
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		const char *p = strrchr(buf, ')'); /* the name may hold spaces */
		const char *q = strchr(buf, '(');
		unsigned long ut = 0, st = 0;
		if (p && q &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			   &st) == 2) {
			int nl = (int)(p - q - 1);
			snprintf(tc->name[tc->n], sizeof(tc->name[0]), "%.*s", nl < 19 ? nl : 19,
				 q + 1);
			tc->tid[tc->n] = atol(de->d_name);
			tc->secs[tc->n++] = (double)(ut + st) / (double)hz;
		}
	}
	if (d)
		closedir(d);
}

/* CPU seconds of the thread that used the most between the two readings:
 * the ingest thread, which runs identity and so bounds the rate when it is
 * on. Threads that ran before the clock started (the WAL's sync thread,
 * busy while the WAL was written) count only what they used after it. */
static double busiest_thread_cpu(const struct thread_cpu *before, long events)
{
	struct thread_cpu now;
	thread_cpu_read(&now);
	double best = 0;
	/* Each thread's share, summed by name, on stderr: where the CPU went. */
	char names[MAX_THREADS][20];
	double by_name[MAX_THREADS];
	int nn = 0;
	for (int i = 0; i < now.n; i++) {
		double used = now.secs[i];
		for (int j = 0; j < before->n; j++)
			if (before->tid[j] == now.tid[i])
				used -= before->secs[j];
		if (used > best)
			best = used;
		int k = 0;
		while (k < nn && strcmp(names[k], now.name[i]))
			k++;
		if (k == nn) {
			memcpy(names[nn], now.name[i], sizeof(names[0]));
			by_name[nn++] = 0;
		}
		by_name[k] += used;
	}
	fprintf(stderr, "threads, CPU us/event:");
	for (int k = 0; k < nn; k++)
		if (by_name[k] > 0)
			fprintf(stderr, " %s %.2f", names[k], by_name[k] * 1e6 / (double)events);
	fprintf(stderr, "\n");
	return best;
}

/* Peak resident memory from here on: writing 5 to clear_refs resets the
 * process's VmHWM (Linux >= 4.0), so the drain's peak is not the untimed WAL
 * writing's (json-c holds a row at a time, but its buffers stay mapped). */
static void reset_peak_rss(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f) {
		fputs("5", f);
		fclose(f);
	}
}

/* VmHWM in MiB, or -1 when /proc does not say. */
static double peak_rss_mib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double mib = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmHWM:", 6))
			mib = (double)atol(line + 6) / 1024.0;
	if (f)
		fclose(f);
	return mib;
}

/* Bytes of the files under dir (the store's parts and whatever else it
 * keeps there), recursively. */
static uint64_t dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	uint64_t sum = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[1200];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			sum += dir_bytes(path);
		else if (S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_size;
	}
	if (d)
		closedir(d);
	return sum;
}

static void die(const char *what, const struct sn_err *err)
{
	fprintf(stderr, "bench_ingest: %s: %s\n", what, err ? err->msg : "");
	exit(1);
}

/* A public address for user u, spread over networks of many countries. */
static void user_ip(uint64_t u, char ip[32])
{
	static const int first[] = {8,	 24,  31,  45,	62,  77,  81,  89,  93,	 104,
				    151, 176, 185, 188, 193, 195, 200, 203, 212, 217};
	uint64_t h = u * 0x9E3779B97F4A7C15ull;
	snprintf(ip, 32, "%d.%d.%d.%d", first[u % 20], (int)(h >> 56), (int)(h >> 48) & 255,
		 1 + (int)((h >> 40) % 254));
}

/* ---- the WAL capture writes ---------------------------------------------------------- */

/* Every token is "phc_bench<team id>". */
static int bench_resolve(void *arg, const char *token, int64_t *team_id, struct sn_err *err)
{
	(void)arg;
	if (strncmp(token, "phc_bench", 9) != 0)
		return sn_err_set(err, SN_ERR_NOT_FOUND, "unknown token");
	*team_id = atoll(token + 9) ? atoll(token + 9) : 1;
	return 0;
}

/* Records go to the WAL 256 at a time, each made by capture from one event
 * body (sn_capture_process, what the server runs for a request), so the WAL
 * holds what the server's would. --wal-format json writes the JSON alone
 * (SN_WAL_EVENT, the record without capture's index) instead. */
struct emitter {
	struct sn_wal *w;
	bool json;
	struct sn_capture_batch cb;
	struct sn_buf recs[256];
	struct sn_wal_rec batch[256];
	size_t nb;
	uint64_t end;
};

static void emit_init(struct emitter *em, struct sn_wal *w, const struct opts *o)
{
	memset(em, 0, sizeof(*em));
	em->w = w;
	em->json = o->wal_json;
	sn_capture_batch_init(&em->cb);
	for (int k = 0; k < 256; k++)
		sn_buf_init(&em->recs[k], 1u << 26);
}

static void emit_flush(struct emitter *em)
{
	struct sn_err err = {0};
	if (em->nb && sn_wal_append(em->w, em->batch, em->nb, &em->end, &err))
		die("append", &err);
	em->nb = 0;
}

static void emit(struct emitter *em, const char *body, size_t len, const char *ip, int64_t now_us)
{
	struct sn_capture_request req = {.kind = SN_CAPTURE_ANALYTICS,
					 .path = "/e/",
					 .content_type = "application/json",
					 .body = body,
					 .body_len = len,
					 .ip = ip,
					 .now_us = now_us,
					 .limit = 1u << 26,
					 .resolve = bench_resolve};
	struct sn_err err = {0};
	unsigned status;
	sn_capture_batch_release(&em->cb);
	sn_capture_batch_init(&em->cb);
	if (sn_capture_process(&req, &em->cb, &status, &err) || em->cb.n != 1) {
		fprintf(stderr, "bench_ingest: capture refused an event (%u): %s\n%.*s\n", status,
			err.msg, (int)(len < 500 ? len : 500), body);
		exit(1);
	}
	uint8_t type = em->cb.type;
	uint32_t n = em->cb.len[0];
	const char *d = em->cb.data.data + em->cb.off[0];
	if (em->json) {
		d = sn_evix_json(type, d, n, &n);
		type = SN_WAL_EVENT;
	}
	struct sn_buf *b = &em->recs[em->nb];
	sn_buf_reset(b);
	if (sn_buf_append(b, d, n))
		die("a record", NULL);
	em->batch[em->nb++] = (struct sn_wal_rec){type, b->data, (uint32_t)b->len};
	if (em->nb == 256)
		emit_flush(em);
}

static void emit_done(struct emitter *em)
{
	emit_flush(em);
	if (sn_wal_wait_durable(em->w, em->end))
		die("fsync", NULL);
	sn_capture_batch_release(&em->cb);
	for (int k = 0; k < 256; k++)
		sn_buf_release(&em->recs[k]);
}

static void gen(struct sn_wal *w, const struct opts *o)
{
	static const char *browsers[] = {"Chrome", "Firefox", "Safari", "Edge"};
	static const char *oses[] = {"Windows", "Mac OS X", "Linux", "iOS", "Android"};
	char *identified = calloc((size_t)o->users, 1);
	char body[2048], uuid[37];
	int64_t t0 = 1733011200000000LL; /* 2024-12-01 */
	int64_t now = sn_now_us();
	struct emitter em;
	emit_init(&em, w, o);
	for (long i = 0; i < o->events; i++) {
		long u = (long)(rnd() % (uint64_t)o->users);
		char did[64], ts[32];
		const char *event = "$pageview";
		char extra[256] = "";
		if (identified[u])
			snprintf(did, sizeof(did), "user-%ld", u);
		else
			snprintf(did, sizeof(did), "anon-%ld", u);
		if (!identified[u] && (long)(rnd() % 100) < o->identified_pct && rnd() % 8 == 0) {
			identified[u] = 1;
			event = "$identify";
			snprintf(did, sizeof(did), "user-%ld", u);
			snprintf(extra, sizeof(extra),
				 "\"$anon_distinct_id\":\"anon-%ld\",\"$set\":{\"email\":\"u%ld@x."
				 "test\"},",
				 u, u);
		} else if (identified[u] == 1 && (long)(rnd() % 100) < o->aliases_pct) {
			identified[u] = 2;
			event = "$create_alias";
			snprintf(extra, sizeof(extra), "\"alias\":\"alt-%ld\",", u);
		}
		struct sn_uuid uu;
		sn_uuid_v7(&uu, t0 + i);
		sn_uuid_format(&uu, uuid);
		sn_time_format_rfc3339(t0 + i * 1000, ts);
		long url = o->urls > 1 ? (long)(rnd() % (uint64_t)o->urls) : 0;
		char ip[32];
		user_ip((uint64_t)u, ip);
		int len = snprintf(
		    body, sizeof(body),
		    "{\"event\":\"%s\",\"distinct_id\":\"%s\",\"uuid\":\"%s\",\"timestamp\":\"%s\","
		    "\"properties\":{%s"
		    "\"$lib\":\"web\",\"$lib_version\":\"1.200.0\",\"$browser\":\"%s\","
		    "\"$browser_version\":%d,\"$os\":\"%s\",\"$device_type\":\"Desktop\","
		    "\"$current_url\":\"https://app.example.com/p/%ld\",\"$pathname\":\"/p/%ld\","
		    "\"$host\":\"app.example.com\",\"$screen_height\":1080,\"$screen_width\":1920,"
		    "\"$session_id\":\"0193-%ld\",\"$window_id\":\"0193-w%ld\","
		    "\"$insert_id\":\"%08lx\",\"token\":\"phc_bench1\"}}",
		    event, did, uuid, ts, extra, browsers[u % 4], 120 + (int)(u % 5), oses[u % 5],
		    url, url, u, u, (unsigned long)rnd());
		emit(&em, body, (size_t)len, ip, now);
	}
	emit_done(&em);
	free(identified);
}

/* "2024-12-31 15:13:28.402071" (the generator's) as capture's
 * "2024-12-31T15:13:28.402Z". */
static void rfc3339_of(const char *t, char out[32])
{
	snprintf(out, 32, "%.10sT%.12sZ", t, t[10] ? t + 11 : "00:00:00.000");
}

/* Appends the JSON string of s to b. */
static void put_jstr(struct sn_buf *b, const char *s)
{
	sn_buf_append_json_str(b, s, strlen(s));
}

static const char *field(struct json_object *row, const char *k)
{
	const char *v = sn_json_str(sn_json_get(row, k), NULL);
	return v ? v : "";
}

/* The generator's rows as events an SDK would send (see the top), through
 * capture into the WAL. */
static void gen_jsonl(struct sn_wal *w, const struct opts *o)
{
	FILE *f = fopen(o->jsonl, "r");
	if (!f) {
		fprintf(stderr, "bench_ingest: cannot open %s\n", o->jsonl);
		exit(1);
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long i = 0;
	struct sn_buf b;
	struct sn_err err = {0};
	struct emitter em;
	sn_buf_init(&b, 1u << 26);
	emit_init(&em, w, o);
	while (i < o->events && (n = getline(&line, &cap, f)) > 0) {
		struct json_object *row = NULL;
		if (sn_json_parse(line, (size_t)n, &row, &err))
			die("a row of --jsonl", &err);
		char ts[32], now[32];
		int64_t now_us;
		rfc3339_of(field(row, "timestamp"), ts);
		rfc3339_of(field(row, "created_at"), now);
		if (sn_time_parse_rfc3339_ms(now, strlen(now), &now_us))
			die("a row's created_at", NULL);
		const char *props = field(row, "properties");
		const char *chain = field(row, "elements_chain");
		const char *win = field(row, "$window_id");
		sn_buf_reset(&b);
		const char *did = field(row, "distinct_id");
		char ip[32] = "127.0.0.1";
		if (o->enrich || o->geoip) /* the user's own address, as in the synthetic stream */
			user_ip(sn_hash64(did, strlen(did)), ip);
		sn_buf_appends(&b, "{\"event\":");
		put_jstr(&b, field(row, "event"));
		sn_buf_appends(&b, ",\"distinct_id\":");
		put_jstr(&b, did);
		sn_buf_appendf(
		    &b, ",\"uuid\":\"%s\",\"timestamp\":\"%s\",\"token\":\"phc_bench%d\"",
		    field(row, "uuid"), ts, json_object_get_int(sn_json_get(row, "team_id")));
		sn_buf_appends(&b, ",\"properties\":{");
		bool any = false;
		if (*chain) {
			sn_buf_appendf(&b, "\"$elements_chain\":");
			put_jstr(&b, chain);
			any = true;
		}
		if (*win && !strstr(props, "\"$window_id\"")) {
			sn_buf_appendf(&b, "%s\"$window_id\":", any ? "," : "");
			put_jstr(&b, win);
			any = true;
		}
		const char *rest = props[0] == '{' ? props + 1 : "}";
		if (any && *rest != '}')
			sn_buf_append(&b, ",", 1);
		sn_buf_append(&b, rest, strlen(rest));
		sn_buf_append(&b, "}", 1);
		json_object_put(row);
		emit(&em, b.data, b.len, ip, now_us);
		i++;
		if (!o->keep_input_cache && i % 65536 == 0) /* ~75 MB of rows */
			(void)posix_fadvise(fileno(f), 0, ftello(f), POSIX_FADV_DONTNEED);
	}
	if (!o->keep_input_cache)
		(void)posix_fadvise(fileno(f), 0, 0, POSIX_FADV_DONTNEED);
	emit_done(&em);
	sn_buf_release(&b);
	free(line);
	fclose(f);
	if (i < o->events) {
		fprintf(stderr, "bench_ingest: %s has only %ld rows\n", o->jsonl, i);
		exit(1);
	}
}

static void run(const struct opts *o, bool identity, const char *base)
{
	char data[600], waldir[700];
	snprintf(data, sizeof(data), "%s/%s", base, identity ? "on" : "off");
	snprintf(waldir, sizeof(waldir), "%s/wal", data);
	struct sn_err err = {0};
	if (sn_mkdir_p(data, &err))
		die("mkdir", &err);
	struct sn_wal *w;
	struct sn_wal_options wo = {.dir = waldir};
	if (sn_wal_open(&w, &wo, &err))
		die("wal", &err);
	if (o->jsonl)
		gen_jsonl(w, o);
	else
		gen(w, o);
	struct sn_persons *ps = NULL;
	struct sn_store_sink *sink;
	uint64_t resume;
	if (sn_store_sink_open(&sink, data, 0, &resume, &err) ||
	    sn_store_sink_use_writer_threads(sink, (unsigned)o->writer_threads, &err))
		die("sink", &err);
	if (identity && (sn_persons_open(&ps, data, NULL, &err) ||
			 sn_store_sink_use_persons(sink, ps, (size_t)o->cache, &err)))
		die("persons", &err);
	struct sn_geoip *geoip = NULL;
	if (o->geoip && sn_geoip_open(&geoip, o->geoip, &err))
		die("geoip", &err);
	struct sn_enrich_options eo = {.geoip = geoip,
				       .ip_cache_entries = (size_t)o->ip_cache,
				       .place_cache_entries = (size_t)o->place_cache};
	if ((o->enrich || geoip) && sn_store_sink_use_enrich(sink, &eo, &err))
		die("enrich", &err);
	struct sn_meta *meta = NULL;
	if (o->propdefs) {
		char mpath[800];
		struct sn_org org;
		struct sn_team team;
		snprintf(mpath, sizeof(mpath), "%s/meta.sqlite3", data);
		if (sn_meta_open(&meta, mpath, NULL, &err) ||
		    sn_meta_org_create(meta, "bench", &org, &err) ||
		    sn_meta_team_create(meta, org.id, "bench", "phc_bench", "UTC", &team, &err) ||
		    sn_store_sink_use_propdefs(sink, meta, &err))
			die("propdefs", &err);
	}
	struct sn_ingest_sink vt;
	sn_store_sink_vtable(sink, &vt);
	struct sn_ingest_options io = {.wal_dir = waldir,
				       .flush_age_ms = (uint64_t)o->flush_age_ms};
	struct sn_ingest *in;
	struct rusage ru0, ru1;
	reset_peak_rss();
	struct thread_cpu cpu0;
	thread_cpu_read(&cpu0);
	getrusage(RUSAGE_SELF, &ru0);
	uint64_t t0 = sn_mono_ns();
	if (sn_ingest_start(&in, w, &io, &vt, &err))
		die("ingest", &err);
	if (sn_ingest_sync(in, 3600 * 1000))
		die("sync timed out", NULL);
	double secs = (double)(sn_mono_ns() - t0) / 1e9;
	getrusage(RUSAGE_SELF, &ru1);
	double busiest = busiest_thread_cpu(&cpu0, o->events);
	double cpu = tv_secs(ru1.ru_utime) - tv_secs(ru0.ru_utime) + tv_secs(ru1.ru_stime) -
		     tv_secs(ru0.ru_stime);
	double rss = peak_rss_mib();
	sn_ingest_stop(in);
	char sdir[700];
	snprintf(sdir, sizeof(sdir), "%s/store", data);
	uint64_t stored = dir_bytes(sdir);
	uint64_t fast = 0, slow = 0, replayed = 0, pwrites = 0;
	sn_store_sink_identity_stats(sink, &fast, &slow, &replayed, &pwrites);
	printf("identity=%-3s enrich=%s propdefs=%s events=%ld users=%ld identified=%ld%% "
	       "aliases=%ld%% "
	       "urls=%ld: %.2f s, %.0f events/s, CPU %.2f s (%.2f us/event, busiest thread %.2f); "
	       "fast path %" PRIu64 ", slow path %" PRIu64 ", deferred person writes %" PRIu64
	       "; store %" PRIu64 " bytes (%.1f bytes/event), peak RSS during the drain %.0f MiB\n",
	       identity ? "on" : "off",
	       geoip	   ? "geoip"
	       : o->enrich ? "ip"
			   : "off",
	       o->propdefs ? "on" : "off", o->events, o->users, o->identified_pct, o->aliases_pct,
	       o->urls, secs, (double)o->events / secs, cpu, cpu * 1e6 / (double)o->events,
	       busiest * 1e6 / (double)o->events, fast, slow, pwrites, stored,
	       (double)stored / (double)o->events, rss);
	if (ps) {
		uint64_t answered = 0, builds = 0;
		sn_pstore_absent_stats(ps, &answered, &builds);
		printf("persons: %" PRIu64
		       " lookups answered by the absence filter (filled %" PRIu64 " times)\n",
		       answered, builds);
	}
	if (geoip) {
		struct sn_enrich_stats es;
		sn_store_sink_enrich_stats(sink, &es);
		printf("geoip: %" PRIu64 " events placed; IP cache %" PRIu64 " hits, %" PRIu64
		       " misses (%" PRIu64 " not placed); place cache %" PRIu64 " hits, %" PRIu64
		       " misses\n",
		       es.enriched, es.ip_hits, es.ip_misses, es.not_found, es.place_hits,
		       es.place_misses);
	}
	sn_store_sink_close(sink);
	if (meta)
		sn_meta_close(meta);
	sn_geoip_close(geoip);
	sn_persons_close(ps);
	sn_wal_close(w);
}

int main(int argc, char **argv)
{
	struct opts o = {.events = 500000,
			 .users = 20000,
			 .identified_pct = 10,
			 .aliases_pct = 2,
			 .urls = 1,
			 .cache = 0,
			 .flush_age_ms = 1000,
			 .writer_threads = 2,
			 .mode = "both"};
	const char *base = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		long *slot = !strcmp(a, "--events")	      ? &o.events
			     : !strcmp(a, "--users")	      ? &o.users
			     : !strcmp(a, "--identified")     ? &o.identified_pct
			     : !strcmp(a, "--aliases")	      ? &o.aliases_pct
			     : !strcmp(a, "--urls")	      ? &o.urls
			     : !strcmp(a, "--cache")	      ? &o.cache
			     : !strcmp(a, "--flush-age-ms")   ? &o.flush_age_ms
			     : !strcmp(a, "--writer-threads") ? &o.writer_threads
							      : NULL;
		if (slot && v) {
			*slot = atol(v);
			i++;
		} else if (!strcmp(a, "--mode") && v) {
			o.mode = v;
			i++;
		} else if (!strcmp(a, "--malloc-default")) {
			o.malloc_default = true;
		} else if (!strcmp(a, "--keep-input-cache")) {
			o.keep_input_cache = true;
		} else if (!strcmp(a, "--wal-format") && v &&
			   (!strcmp(v, "json") || !strcmp(v, "indexed"))) {
			o.wal_json = !strcmp(v, "json");
			i++;
		} else if (!strcmp(a, "--propdefs")) {
			o.propdefs = true;
		} else if (!strcmp(a, "--enrich")) {
			o.enrich = true;
		} else if (!strcmp(a, "--geoip") && v) {
			o.geoip = v;
			i++;
		} else if (!strcmp(a, "--ip-cache") && v) {
			o.ip_cache = atol(v);
			i++;
		} else if (!strcmp(a, "--place-cache") && v) {
			o.place_cache = atol(v);
			i++;
		} else if (!strcmp(a, "--jsonl") && v) {
			o.jsonl = v;
			i++;
		} else if (!strcmp(a, "--dir") && v) {
			base = v;
			i++;
		} else {
			fprintf(stderr,
				"usage: bench_ingest --dir DIR [--events N] [--users N] "
				"[--identified PCT] [--aliases PCT] [--urls N] [--cache N] "
				"[--mode off|on|both] [--enrich] [--geoip PATH] [--ip-cache N] "
				"[--place-cache N] [--jsonl FILE] [--malloc-default] [--propdefs] "
				"[--wal-format indexed|json] [--keep-input-cache] [--flush-age-ms "
				"N] [--writer-threads N]\n");
			return 2;
		}
	}
	if (!base || o.events <= 0 || o.users <= 0 || o.flush_age_ms <= 0 || o.writer_threads < 1 ||
	    o.writer_threads > 64) {
		fprintf(stderr, "bench_ingest: --dir is required; events, users and "
				"--flush-age-ms must be > 0, --writer-threads 1 to 64\n");
		return 2;
	}
	sn_log_setup(SN_LOG_ERROR, false); /* warnings would flood: merges are refused often */
	if (!o.malloc_default)
		sn_mem_tune(); /* as `snout serve` */
	if (strcmp(o.mode, "on") != 0)
		run(&o, false, base);
	if (strcmp(o.mode, "off") != 0)
		run(&o, true, base);
	return 0;
}
