/*
 * api.h — the top of the server: settings, start-up (data directory, WAL,
 * metadata, first-start bootstrap), the HTTP routes of every module, and an
 * orderly shutdown. The CLI (main.c) calls into here.
 */
#ifndef SN_API_H
#define SN_API_H

#include <stdio.h>

#include "base/base.h"
#include "meta/meta.h"

/* Every setting exists as a config-file key, an environment variable and a
 * command-line flag; precedence: defaults < file < environment < flags. */
struct sn_config {
	char listen[128];
	char data_dir[1024];
	char config_file[1024];
	bool trust_proxy;
	enum sn_log_level log_level;
	bool log_json;
	bool access_log;
	uint64_t http_threads;
	uint64_t event_body_max;
	uint64_t batch_body_max;
	uint64_t recording_body_max;
	uint64_t wal_segment_bytes;
	uint64_t wal_buffer_bytes;
	uint64_t wal_keep_bytes;
	int64_t shutdown_grace_ms;
	int64_t store_flush_age_ms;
	uint64_t store_writer_threads; /* the part writer's pool; 0 = the ingest thread */
	uint64_t memtable_bytes;
	uint64_t person_cache_size;  /* ingest's distinct-id cache, in entries */
	char geoip_db[1024];	     /* .mmdb file or directory; empty: no GeoIP */
	uint64_t merge_max_mb_per_s; /* background merge write throttle; 0 = unlimited */
	uint64_t merge_min_parts;    /* parts a background merge takes; 0 = no merge thread */
	int64_t merge_interval_ms;   /* how often the merge thread looks */
	uint64_t retention_days;     /* events older than this are deleted; 0 = kept */
	char team_retention[256];    /* "team:days,..." overrides of retention_days */
	bool test_mode;		     /* honour a pinned "now" in query requests */
	uint64_t query_threads;	     /* threads one query's scan may use; 0 = one per core */
};

void sn_config_defaults(struct sn_config *c);
/* Sets one setting by its file key ("listen", "data_dir", ...). */
int sn_config_set(struct sn_config *c, const char *key, const char *value, struct sn_err *err);
/* `key = value` lines, '#' comments, optional quotes around values. */
int sn_config_load_file(struct sn_config *c, const char *path, struct sn_err *err);
/* SNOUT_<KEY> variables. */
int sn_config_load_env(struct sn_config *c, struct sn_err *err);
/* Parses `--flag value` / `--flag=value` arguments (argv[0] is not skipped:
 * pass the arguments after the subcommand). Unknown flags are an error.
 * A --config flag is applied first so the remaining flags override it. */
int sn_config_load_args(struct sn_config *c, int argc, char **argv, struct sn_err *err);
/* Full precedence chain for the `serve`-like commands. */
int sn_config_load(struct sn_config *c, int argc, char **argv, struct sn_err *err);
/* Prints the settings table (flag, variable, default, description). */
void sn_config_usage(FILE *f);

/* Runs the server until SIGINT/SIGTERM; returns 0 after a clean shutdown. */
int sn_serve(const struct sn_config *c, struct sn_err *err);

/* Opens <data_dir>/meta.sqlite3 (creating the directory). */
int sn_open_meta(const struct sn_config *c, struct sn_meta **out, int *applied, struct sn_err *err);

/* First start: on an empty metadata database, creates an organization, a
 * team and an admin user (SNOUT_BOOTSTRAP_* variables when set). The
 * credentials come back in info (created == false on a database that already
 * had data) for the caller to print once, after the server listens. */
struct sn_bootstrap_info {
	bool created;
	char token[72];
	char api_key[160];
	char email[256];
	char password[64]; /* empty when it came from SNOUT_BOOTSTRAP_PASSWORD */
};
int sn_bootstrap(struct sn_meta *m, struct sn_bootstrap_info *info, struct sn_err *err);
void sn_bootstrap_print(const struct sn_bootstrap_info *info, const char *address, FILE *out);

/* The query API (query.c): POST /api/projects/:id/query/. */
struct sn_query_api;
struct sn_http_route;
int sn_query_api_new(struct sn_query_api **out, struct sn_meta *meta, const char *data_dir,
		     struct sn_err *err);
/* Refuses new queries (503) and waits for running ones (bounded by their
 * time budget); call while the HTTP server still runs, then free after it
 * stopped. */
void sn_query_api_close(struct sn_query_api *a);
void sn_query_api_free(struct sn_query_api *a);
size_t sn_query_api_routes(struct sn_query_api *a, struct sn_http_route *routes, size_t max);
/* Lets queries read persons, overrides and groups (borrowed: it must outlive
 * the API). Without it person fields read NULL and person_id as stored. */
struct sn_persons;
void sn_query_api_use_persons(struct sn_query_api *a, struct sn_persons *persons);
/* The insights' HogQL backend over the embedded executor (query.c): runs
 * one statement for the team and copies the rows into the insight's arena.
 * ctx is a struct sn_api_exec_backend. */
struct sn_api_exec_backend {
	const char *store_dir;
	int64_t team_id;
	struct sn_persons *persons; /* may be NULL */
	const char *timezone;	    /* the team's */
	int64_t now_us;		    /* 0 = the clock */
	unsigned threads;	    /* sn_exec_opts.threads */
};
struct sn_insight_table;
struct sn_hogql_error;
int sn_api_exec_backend_query(void *ctx, struct sn_arena *a, const char *hogql, size_t len,
			      int64_t max_rows, struct sn_insight_table *out,
			      struct sn_hogql_error *err);
/* The insights' action lookup (sn_insight_opts.action) over meta: a live
 * action of the team by id. ctx is a struct sn_api_action_ctx. */
struct sn_api_action_ctx {
	struct sn_meta *meta;
	int64_t team_id;
};
struct json_object;
int sn_api_action_lookup(void *ctx, int64_t id, struct sn_arena *a, char **name,
			 struct json_object **steps);
/* Test mode: requests may pin "now" (for relative insight date ranges). */
void sn_query_api_set_test_mode(struct sn_query_api *a, bool on);
/* Threads one query's scan may use (sn_exec_opts.threads; 0 = one per core). */
void sn_query_api_set_threads(struct sn_query_api *a, unsigned threads);

/* The persons REST API (persons_api.c): /api/projects/:id/persons/... over
 * the person store; property writes are appended to wal as events.
 * sn_persons_api_routes writes its routes (/api/projects/<id>/persons... and
 * the /api/environments/ twin) into routes[0..max) and returns how many. */
struct sn_persons_api;
struct sn_persons;
struct sn_wal;
int sn_persons_api_new(struct sn_persons_api **out, struct sn_meta *meta,
		       struct sn_persons *persons, struct sn_wal *wal, struct sn_err *err);
/* Where the store and the WAL live, for deleting a person's events
 * (DELETE .../persons/:uuid/?delete_events=true; without a data dir that
 * answers 503), and the ingest worker (may be NULL), which deletions and
 * splits ask to flush what it consumed instead of waiting for flush_age. */
struct sn_ingest;
void sn_persons_api_use_ingest(struct sn_persons_api *a, const char *data_dir,
			       struct sn_ingest *ingest);
void sn_persons_api_free(struct sn_persons_api *a);
size_t sn_persons_api_routes(struct sn_persons_api *a, struct sn_http_route *routes, size_t max);

/* Project settings (projects.c): GET/PATCH /api/projects/:id/ and the
 * /api/environments/ twin, PostHog's TeamSerializer subset. */
struct sn_projects_api;
int sn_projects_api_new(struct sn_projects_api **out, struct sn_meta *meta, struct sn_err *err);
void sn_projects_api_free(struct sn_projects_api *a);
size_t sn_projects_api_routes(struct sn_projects_api *a, struct sn_http_route *routes, size_t max);

/* The feature-flag REST API (flags.c): /api/projects/:id/feature_flags/...
 * over meta's flag model; local_evaluation answers from flags (the cache of
 * compiled snapshots). */
struct sn_flags_api;
struct sn_flags_rest;
int sn_flags_rest_new(struct sn_flags_rest **out, struct sn_meta *meta, struct sn_flags_api *flags,
		      struct sn_err *err);
void sn_flags_rest_free(struct sn_flags_rest *r);
/* Writes the routes (/api/projects/<id>/feature_flags... and the
 * /api/environments/ twin) into routes[0..max); returns how many. */
size_t sn_flags_rest_routes(struct sn_flags_rest *r, struct sn_http_route *routes, size_t max);

/* Annotations and actions (annotations.c, actions.c): PostHog's
 * /api/projects/:id/annotations/... and /api/projects/:id/actions/... (and
 * the /api/environments/ twins) over meta's models. *_routes write their
 * routes into routes[0..max) and return how many. */
struct sn_annotations_api;
int sn_annotations_api_new(struct sn_annotations_api **out, struct sn_meta *meta,
			   struct sn_err *err);
void sn_annotations_api_free(struct sn_annotations_api *a);
size_t sn_annotations_api_routes(struct sn_annotations_api *a, struct sn_http_route *routes,
				 size_t max);
struct sn_actions_api;
int sn_actions_api_new(struct sn_actions_api **out, struct sn_meta *meta, struct sn_err *err);
void sn_actions_api_free(struct sn_actions_api *a);
size_t sn_actions_api_routes(struct sn_actions_api *a, struct sn_http_route *routes, size_t max);

#endif
