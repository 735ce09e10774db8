/*
 * serve.c — `snout serve`: open the data directory, start the WAL, the
 * metadata store and the HTTP server, and shut them down in the order that
 * loses nothing.
 *
 * Data directory layout:
 *   <data_dir>/LOCK            flock: one server per directory
 *   <data_dir>/meta.sqlite3    metadata (SQLite, WAL mode)
 *   <data_dir>/persons.sqlite3 persons, distinct ids, overrides, groups (docs/PERSONS.md)
 *   <data_dir>/wal/            write-ahead log segments + checkpoint
 *   <data_dir>/store/          event parts (docs/STORAGE.md)
 *   <data_dir>/recordings/     recording uploads, until they get a store
 *
 * Shutdown on SIGINT/SIGTERM (the signals are blocked in every thread and
 * taken by sigwait in the main thread, so no handler runs in a random
 * thread):
 *   1. stop accepting connections;
 *   2. wait (up to shutdown_grace) for in-flight requests — their WAL
 *      appends complete and are answered normally;
 *   3. stop ingest: everything durable in the WAL goes into parts;
 *   4. close the WAL: flush + fsync everything appended, answer any
 *      remaining waiter; later appends are refused with 503 (and what is
 *      appended after step 3 is ingested at the next start);
 *   5. stop the HTTP server and close the metadata store.
 */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "capture/capture.h"
#include "flags/flags.h"
#include "http/http.h"
#include "ingest/ingest.h"
#include "insights/insights.h"
#include "persons/persons.h"
#include "store/store.h"
#include "wal/wal.h"

struct server {
	const struct sn_config *cfg;
	struct sn_wal *wal;
	struct sn_meta *meta;
	struct sn_persons *persons; /* <data_dir>/persons.sqlite3: ingest writes, APIs read */
	int64_t started_us;
};

static void health_handler(struct sn_http_request *req, void *ctx)
{
	(void)ctx;
	sn_http_reply_json(req, 200, "{\"status\":\"ok\"}");
}

static void ready_handler(struct sn_http_request *req, void *ctx)
{
	struct server *s = ctx;
	if (s->wal && sn_wal_writable(s->wal) && s->meta)
		sn_http_reply_json(req, 200, "{\"status\":\"ready\",\"wal\":\"writable\"}");
	else
		sn_http_reply_error(req, 503, "server_error", "not_ready",
				    "the write-ahead log is not writable", NULL);
}

static int64_t gauge_wal(void *arg, int which)
{
	struct sn_wal_stats st;
	sn_wal_get_stats(arg, &st);
	switch (which) {
	case 0: return (int64_t)st.head_lsn;
	case 1: return (int64_t)st.durable_lsn;
	case 2: return (int64_t)st.checkpoint_lsn;
	case 3: return (int64_t)(st.head_lsn - st.checkpoint_lsn);
	default: return (int64_t)st.segments;
	}
}
static int64_t g_head(void *a)
{
	return gauge_wal(a, 0);
}
static int64_t g_durable(void *a)
{
	return gauge_wal(a, 1);
}
static int64_t g_ckpt(void *a)
{
	return gauge_wal(a, 2);
}
static int64_t g_pending(void *a)
{
	return gauge_wal(a, 3);
}
static int64_t g_segments(void *a)
{
	return gauge_wal(a, 4);
}

#define IDLE_RELEASE_S 5

static int64_t g_rss(void *a)
{
	(void)a;
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;
	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return (int64_t)rss * sysconf(_SC_PAGESIZE);
}

static void metrics_handler(struct sn_http_request *req, void *ctx)
{
	(void)ctx;
	struct sn_buf b;
	sn_buf_init(&b, 16u << 20);
	sn_metrics_render(&b);
	sn_http_reply(req, 200, "text/plain; version=0.0.4", b.data, b.len);
	sn_buf_release(&b);
}

static void root_handler(struct sn_http_request *req, void *ctx)
{
	(void)ctx;
	static const char page[] =
	    "<!doctype html><meta charset=utf-8><title>snout</title>"
	    "<p>snout is running. The UI arrives in a later release; the API, capture and "
	    "metrics are live (<a href=/_health>/_health</a>, <a href=/metrics>/metrics</a>).";
	sn_http_reply(req, 200, "text/html; charset=utf-8", page, sizeof(page) - 1);
}

int sn_open_meta(const struct sn_config *c, struct sn_meta **out, int *applied, struct sn_err *err)
{
	int rc = sn_mkdir_p(c->data_dir, err);
	if (rc)
		return rc;
	char path[1200];
	snprintf(path, sizeof(path), "%s/meta.sqlite3", c->data_dir);
	return sn_meta_open(out, path, applied, err);
}

static int lock_data_dir(const char *dir, int *fd_out, struct sn_err *err)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/LOCK", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return sn_err_set(err, SN_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		close(fd);
		return sn_err_set(err, SN_ERR_IO,
				  "data directory %s is in use by another snout process", dir);
	}
	*fd_out = fd;
	return 0;
}

/* Enrichment asks whether a team discards client IPs (§5.4). */
static int team_anonymizes(void *ctx, int64_t team_id, bool *anonymize)
{
	struct sn_team t;
	int rc = sn_meta_team_get(ctx, team_id, &t, NULL);
	if (rc == 0)
		*anonymize = t.anonymize_ips;
	return rc;
}

int sn_serve(const struct sn_config *c, struct sn_err *err)
{
	struct server s = {.cfg = c, .started_us = sn_now_us()};
	struct sn_capture *cap = NULL;
	struct sn_http_server *http = NULL;
	struct sn_store_sink *sink = NULL;
	struct sn_store *store = NULL; /* the part set, for the merge thread */
	sn_mem_tune();
	struct sn_query_api *qapi = NULL;
	struct sn_persons_api *papi = NULL;
	struct sn_flags_api *fapi = NULL;
	struct sn_flags_rest *frest = NULL;
	struct sn_projects_api *projapi = NULL;
	struct sn_annotations_api *annapi = NULL;
	struct sn_actions_api *actapi = NULL;
	struct sn_propdefs_api *pdapi = NULL;
	struct sn_login_api *loginapi = NULL;
	struct sn_cohorts_api *cohapi = NULL;
	struct sn_insights_api *insapi = NULL;
	struct sn_dashboards_api *dashapi = NULL;
	struct sn_ingest *ingest = NULL;
	struct sn_geoip *geoip = NULL;
	int lock_fd = -1, rc;
	sigset_t sigs;

	/* Block the shutdown signals before any thread starts. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = sn_mkdir_p(c->data_dir, err)))
		goto out;
	if ((rc = lock_data_dir(c->data_dir, &lock_fd, err)))
		goto out;
	int applied = 0;
	if ((rc = sn_open_meta(c, &s.meta, &applied, err)))
		goto out;
	if (applied)
		sn_log_info("meta: applied %d migration(s)", applied);
	struct sn_bootstrap_info boot;
	if ((rc = sn_bootstrap(s.meta, &boot, err)))
		goto out;
	/* The person store: written by ingest (identity), read by the APIs. */
	if ((rc = sn_persons_open(&s.persons, c->data_dir, &applied, err)))
		goto out;
	if (applied)
		sn_log_info("persons: applied %d migration(s)", applied);

	char waldir[1200];
	snprintf(waldir, sizeof(waldir), "%s/wal", c->data_dir);
	struct sn_wal_options wo = {.dir = waldir,
				    .segment_bytes = c->wal_segment_bytes,
				    .buffer_bytes = c->wal_buffer_bytes,
				    .keep_bytes = c->wal_keep_bytes};
	if ((rc = sn_wal_open(&s.wal, &wo, err)))
		goto out;
	struct sn_wal_stats st;
	sn_wal_get_stats(s.wal, &st);
	sn_log_info("wal: opened %s: %llu record(s) after the checkpoint, %llu corrupt byte(s) "
		    "skipped",
		    waldir, (unsigned long long)st.records_recovered,
		    (unsigned long long)st.corrupt_bytes);
	sn_metrics_declare("snout_wal_head_lsn", SN_METRIC_GAUGE, "End of the last WAL record");
	sn_metrics_declare("snout_wal_durable_lsn", SN_METRIC_GAUGE, "WAL position known durable");
	sn_metrics_declare("snout_wal_checkpoint_lsn", SN_METRIC_GAUGE,
			   "WAL position consumed by later stages");
	sn_metrics_declare("snout_wal_pending_bytes", SN_METRIC_GAUGE,
			   "WAL bytes not yet consumed by later stages");
	sn_metrics_declare("snout_wal_segments", SN_METRIC_GAUGE, "WAL segment files on disk");
	sn_metrics_declare("snout_process_resident_memory_bytes", SN_METRIC_GAUGE,
			   "Resident set size");
	sn_metrics_gauge_fn("snout_wal_head_lsn", "", g_head, s.wal);
	sn_metrics_gauge_fn("snout_wal_durable_lsn", "", g_durable, s.wal);
	sn_metrics_gauge_fn("snout_wal_checkpoint_lsn", "", g_ckpt, s.wal);
	sn_metrics_gauge_fn("snout_wal_pending_bytes", "", g_pending, s.wal);
	sn_metrics_gauge_fn("snout_wal_segments", "", g_segments, s.wal);
	sn_metrics_gauge_fn("snout_process_resident_memory_bytes", "", g_rss, NULL);

	uint64_t resume = 0;
	if ((rc = sn_store_sink_open(&sink, c->data_dir, c->memtable_bytes, &resume, err)) ||
	    (rc = sn_store_sink_use_writer_threads(sink, (unsigned)c->store_writer_threads, err)))
		goto out;
	if ((rc = sn_store_sink_use_persons(sink, s.persons, (size_t)c->person_cache_size, err)))
		goto out;
	/* Enrichment: GeoIP is optional, so a missing database is said once. */
	struct sn_err gerr = {0};
	if (!c->geoip_db[0])
		sn_log_info("geoip: geoip_db is empty: GeoIP enrichment is off");
	else if (sn_geoip_open(&geoip, c->geoip_db, &gerr))
		sn_log_warn("%s: GeoIP enrichment is off (make installs the DB-IP Lite database; "
			    "the geoip_db setting names one)",
			    gerr.msg);
	else
		sn_log_info("geoip: %s", sn_geoip_describe(geoip));
	struct sn_enrich_options eo = {.geoip = geoip, .team = team_anonymizes, .team_ctx = s.meta};
	if ((rc = sn_store_sink_use_enrich(sink, &eo, err)))
		goto out;
	if (c->infer_property_types && (rc = sn_store_sink_use_propdefs(sink, s.meta, err)))
		goto out;
	/* Background merges and retention (docs/STORAGE.md): after the sink's
	 * recovery, which is the only one allowed to remove a cut flush. */
	if (c->merge_min_parts || c->retention_days || c->team_retention[0]) {
		char sdir[1100];
		snprintf(sdir, sizeof(sdir), "%s/store", c->data_dir);
		struct sn_store_opts so = {
		    .merge_min_parts =
			(uint32_t)(c->merge_min_parts ? c->merge_min_parts : UINT32_MAX),
		    .merge_max_mb_per_s = (double)c->merge_max_mb_per_s,
		    .merge_interval_ms = c->merge_interval_ms,
		    .retention_days = (int64_t)c->retention_days,
		    .team_retention = c->team_retention};
		if ((rc = sn_store_open(sdir, &so, &store, err)) ||
		    (rc = sn_store_merger_start(store, err)))
			goto out;
	}
	struct sn_ingest_sink vt;
	sn_store_sink_vtable(sink, &vt);
	struct sn_ingest_options io = {.wal_dir = waldir,
				       .flush_age_ms = (uint64_t)c->store_flush_age_ms,
				       .resume_lsn = resume};
	if ((rc = sn_ingest_start(&ingest, s.wal, &io, &vt, err)))
		goto out;

	struct sn_capture_options co = {.event_body_max = c->event_body_max,
					.batch_body_max = c->batch_body_max,
					.recording_body_max = c->recording_body_max};
	if ((rc = sn_capture_new(&cap, s.wal, s.meta, &co, err)))
		goto out;

	static struct sn_http_route routes[64]; /* every module's routes fit with room to spare */
	size_t n = 0;
	routes[n++] =
	    (struct sn_http_route){"health", SN_GET | SN_HEAD, "/_health", 0, health_handler, &s};
	routes[n++] =
	    (struct sn_http_route){"health", SN_GET | SN_HEAD, "/_liveness", 0, health_handler, &s};
	routes[n++] =
	    (struct sn_http_route){"ready", SN_GET | SN_HEAD, "/_ready", 0, ready_handler, &s};
	routes[n++] =
	    (struct sn_http_route){"ready", SN_GET | SN_HEAD, "/_readiness", 0, ready_handler, &s};
	routes[n++] = (struct sn_http_route){"metrics", SN_GET, "/metrics", 0, metrics_handler, &s};
	n += sn_capture_routes(cap, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	if ((rc = sn_query_api_new(&qapi, s.meta, c->data_dir, err)))
		goto out;
	sn_query_api_use_persons(qapi, s.persons);
	sn_query_api_set_test_mode(qapi, c->test_mode);
	sn_query_api_set_threads(qapi, (unsigned)c->query_threads);
	sn_insight_set_parallel(c->query_threads == 1 ? 0 : (size_t)c->insight_parallel_rows);
	n += sn_query_api_routes(qapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	if ((rc = sn_persons_api_new(&papi, s.meta, s.persons, s.wal, err)))
		goto out;
	sn_persons_api_use_ingest(papi, c->data_dir, ingest);
	n += sn_persons_api_routes(papi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	/* Feature flags: /flags, /decide, definitions, and the REST API. */
	if ((rc = sn_flags_api_new(&fapi, s.meta, s.persons, err)) == 0)
		sn_flags_api_set_geoip(fapi, geoip);
	if (rc || (rc = sn_flags_rest_new(&frest, s.meta, fapi, err)))
		goto out;
	n += sn_flags_api_routes(fapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	n += sn_flags_rest_routes(frest, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	if ((rc = sn_projects_api_new(&projapi, s.meta, err)))
		goto out;
	n += sn_projects_api_routes(projapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	if ((rc = sn_annotations_api_new(&annapi, s.meta, err)) ||
	    (rc = sn_actions_api_new(&actapi, s.meta, err)) ||
	    (rc = sn_propdefs_api_new(&pdapi, s.meta, err)))
		goto out;
	n += sn_annotations_api_routes(annapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	n += sn_actions_api_routes(actapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	n += sn_propdefs_api_routes(pdapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	if ((rc = sn_login_api_new(&loginapi, s.meta, err)))
		goto out;
	n += sn_login_api_routes(loginapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	/* Cohorts: the REST API and the calculator thread. */
	if ((rc = sn_cohorts_api_new(&cohapi, s.meta, s.persons, c->data_dir, err)))
		goto out;
	sn_cohorts_api_use_query(cohapi, qapi);
	sn_cohorts_api_configure(cohapi, (unsigned)c->query_threads, c->cohort_interval_ms * 1000);
	if ((rc = sn_cohorts_api_start(cohapi, err)))
		goto out;
	n += sn_cohorts_api_routes(cohapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	/* Saved insights and dashboards: they run queries through the query API. */
	if ((rc = sn_insights_api_new(&insapi, s.meta, qapi, err)) ||
	    (rc = sn_dashboards_api_new(&dashapi, s.meta, insapi, err)))
		goto out;
	n += sn_insights_api_routes(insapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	n += sn_dashboards_api_routes(dashapi, routes + n, SN_ARRAY_LEN(routes) - n - 1);
	if (n >= SN_ARRAY_LEN(routes) - 1) /* a module's routes were cut short */
		SN_BUG("the route table is full: raise its size in serve.c");
	routes[n++] = (struct sn_http_route){"root", SN_GET | SN_HEAD, "/", 0, root_handler, &s};

	struct sn_http_options ho = {.listen = c->listen,
				     .threads = (unsigned)c->http_threads,
				     .trust_proxy = c->trust_proxy,
				     .access_log = c->access_log};
	if ((rc = sn_http_start(&http, &ho, routes, n, err)))
		goto out;
	char addr[160];
	snprintf(addr, sizeof(addr), "%s", c->listen);
	char *colon = strrchr(addr, ':');
	if (colon)
		snprintf(colon, sizeof(addr) - (size_t)(colon - addr), ":%u", sn_http_port(http));
	sn_bootstrap_print(&boot, addr, stdout);
	sn_log_info("snout listening on http://%s (port %u), data in %s", c->listen,
		    sn_http_port(http), c->data_dir);

	/* Wait for SIGTERM / SIGINT. Meanwhile, once no request has come for
	 * IDLE_RELEASE_S seconds, the memory the queries kept warm goes back
	 * to the system (sn_mem_tune): the server idles in megabytes. */
	int sig = 0;
	uint64_t seen = sn_http_received(http), idle_since = sn_mono_ns();
	bool released = true;
	for (;;) {
		struct timespec tick = {1, 0};
		sig = sigtimedwait(&sigs, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		uint64_t now = sn_mono_ns(), got = sn_http_received(http);
		if (got != seen || sn_http_inflight(http) > 0) {
			seen = got;
			idle_since = now;
			released = false;
		} else if (!released && now - idle_since >= IDLE_RELEASE_S * 1000000000ull) {
			int64_t rss = g_rss(NULL);
			sn_persons_release_memory(s.persons); /* before the trim */
			sn_mem_release();
			sn_log_debug("idle: memory released, RSS %lld -> %lld KiB",
				     (long long)(rss >> 10), (long long)(g_rss(NULL) >> 10));
			released = true;
		}
	}
	sn_log_info("received %s: shutting down (grace %lld ms)",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT", (long long)c->shutdown_grace_ms);
	sn_http_quiesce(http);
	uint64_t deadline = sn_mono_ns() + (uint64_t)c->shutdown_grace_ms * 1000000u;
	while (sn_http_inflight(http) > 0 && sn_mono_ns() < deadline)
		usleep(5000);
out:
	sn_query_api_close(qapi);
	sn_insights_api_close(insapi); /* waits for its workers and background refreshes */
	sn_login_api_close(loginapi);  /* waits for the password checks running */
	sn_cohorts_api_stop(cohapi);   /* a calculation reads the store and writes persons */
	sn_store_close(store);	       /* stops the merge thread first: it may hold a merge */
	if (ingest)
		sn_ingest_stop(ingest); /* drains the WAL into parts */
	if (s.wal) {
		sn_wal_close(s.wal); /* answers every request still waiting */
		s.wal = NULL;
	}
	if (http)
		sn_http_stop(http, 2000);
	sn_query_api_free(qapi);
	sn_flags_rest_free(frest);
	sn_projects_api_free(projapi);
	sn_annotations_api_free(annapi);
	sn_actions_api_free(actapi);
	sn_propdefs_api_free(pdapi);
	sn_login_api_free(loginapi);
	sn_cohorts_api_free(cohapi);
	sn_dashboards_api_free(dashapi);
	sn_insights_api_free(insapi);
	sn_flags_api_free(fapi);
	sn_capture_free(cap);
	sn_store_sink_close(sink);
	sn_geoip_close(geoip); /* after the sink: its enrichment reads it */
	sn_persons_api_free(papi);
	sn_persons_close(s.persons); /* after ingest stopped: it commits its last batch */
	if (s.meta)
		sn_meta_close(s.meta);
	if (lock_fd >= 0)
		close(lock_fd);
	if (rc == 0)
		sn_log_info("shutdown complete");
	return rc;
}
