/*
 * api.h — the top of the server: settings, start-up (data directory, WAL,
 * metadata, first-start bootstrap), the HTTP routes of every module, and an
 * orderly shutdown. The CLI (main.c) calls into here.
 */
#ifndef SN_API_H
#define SN_API_H

#include <stdio.h>

#include "base/base.h"
#include "hogql/hogql.h"
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
	uint64_t person_cache_size;	/* ingest's distinct-id cache, in entries */
	char geoip_db[1024];		/* .mmdb file or directory; empty: no GeoIP */
	uint64_t merge_max_mb_per_s;	/* background merge write throttle; 0 = unlimited */
	uint64_t merge_min_parts;	/* parts a background merge takes; 0 = no merge thread */
	int64_t merge_interval_ms;	/* how often the merge thread looks */
	uint64_t retention_days;	/* events older than this are deleted; 0 = kept */
	char team_retention[256];	/* "team:days,..." overrides of retention_days */
	bool test_mode;			/* honour a pinned "now" in query requests */
	bool infer_property_types;	/* record property definitions at ingestion */
	uint64_t query_threads;		/* threads one query's scan may use; 0 = one per core */
	uint64_t insight_parallel_rows; /* insight rows from which two threads reduce them */
	int64_t cohort_interval_ms;	/* dynamic cohorts are recalculated this often */
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

/* `snout query`'s output and its remote mode (cli_query.c). The formats
 * render PostHog's HogQLQueryResponse JSON, local or remote alike. */
enum sn_cli_format { SN_CLI_TABLE, SN_CLI_JSON, SN_CLI_CSV, SN_CLI_TSV };
/* table|json|csv|tsv → *f; SN_ERR_INVALID for anything else. */
int sn_cli_format_parse(const char *s, enum sn_cli_format *f);
/* Appends the response json[0..len) to out in format f. */
int sn_cli_render(struct sn_buf *out, const char *json, size_t len, enum sn_cli_format f,
		  struct sn_err *err);
/* One line for stderr from an error body (snout's or PostHog's shape). */
void sn_cli_error_line(const char *json, size_t len, char *out, size_t n);
/* POSTs a HogQLQuery to <url>/api/projects/<team>/query/ with the personal
 * API key; *status and resp are the server's answer. */
int sn_cli_query_remote(const char *url, const char *api_key, int64_t team, const char *sql,
			long timeout_ms, long *status, struct sn_buf *resp, struct sn_err *err);

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
/* A team's property types for the HogQL resolver (hogql.h "Typed
 * properties"), looked up in meta's property definitions per access. */
struct sn_api_prop_types {
	struct sn_hogql_prop_types pt;
	struct sn_meta *meta;
	int64_t team_id;
};
/* Fills p; returns &p->pt for sn_exec_opts.prop_types, or NULL without
 * meta. p must outlive the query. */
const struct sn_hogql_prop_types *sn_api_prop_types(struct sn_api_prop_types *p,
						    struct sn_meta *meta, int64_t team_id);

struct sn_api_exec_backend {
	const char *store_dir;
	int64_t team_id;
	struct sn_persons *persons;	 /* may be NULL */
	const char *timezone;		 /* the team's */
	int64_t now_us;			 /* 0 = the clock */
	unsigned threads;		 /* sn_exec_opts.threads */
	struct sn_meta *meta;		 /* the team's cohorts for IN COHORT; may be NULL */
	struct sn_api_prop_types ptypes; /* the team's property types (set by the creator) */
	bool (*cancelled)(void *arg); /* sn_exec_opts.cancelled of every statement; may be NULL */
	void *cancel_arg;
};
struct sn_insight_table;
struct sn_hogql_error;
int sn_api_exec_backend_query(void *ctx, struct sn_arena *a, const char *hogql, size_t len,
			      int64_t max_rows, struct sn_insight_table *out,
			      struct sn_hogql_error *err);
/* sn_insight_backend.stream on the embedded executor: the statement's rows
 * go to sink batch by batch (sn_exec_opts.row_sink), converted to insight
 * values in a buffer reused across batches. */
struct sn_insight_value;
int sn_api_exec_backend_stream(void *ctx, const char *hogql, size_t len, int64_t max_rows,
			       int (*sink)(void *sctx, unsigned worker,
					   const struct sn_insight_value *cells, size_t nrows,
					   size_t ncols),
			       void *sctx, size_t *nrows, struct sn_hogql_error *err);
/* The team's live cohorts (id, name, static) for sn_exec_opts.cohorts, in
 * a; *out is never NULL on success (an empty list still says "known"). */
struct sn_hogql_cohort;
int sn_api_team_cohorts(struct sn_meta *m, int64_t team_id, struct sn_arena *a,
			const struct sn_hogql_cohort **out, size_t *n, struct sn_err *err);
/* What the executor reads from meta for a team's query: its cohorts (IN
 * COHORT) and its actions (matchesAction), in a (which must outlive the
 * query). xo->team_id and xo->timezone must be set. m NULL: nothing. */
struct sn_exec_opts;
int sn_api_exec_meta(struct sn_meta *m, struct sn_exec_opts *xo, struct sn_arena *a,
		     struct sn_err *err);
/* The insights' action lookup (sn_insight_opts.action) over meta: a live
 * action of the team by id. ctx is a struct sn_api_action_ctx. */
struct sn_api_action_ctx {
	struct sn_meta *meta;
	int64_t team_id;
};
struct json_object;
int sn_api_action_lookup(void *ctx, int64_t id, struct sn_arena *a, char **name,
			 struct json_object **steps);
/* The insights' cohort-name lookup (sn_insight_opts.cohort_name) over
 * meta: a live cohort of the team by id; ctx is a struct sn_api_action_ctx. */
int sn_api_cohort_name(void *ctx, int64_t id, struct sn_arena *a, char **name);
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
/* A person in PostHog's PersonSerializer shape (id, uuid, name,
 * distinct_ids, properties, is_identified, created_at); NULL when out of
 * memory or the store failed (err). */
struct sn_person;
struct json_object *sn_api_person_json(struct sn_persons *ps, const struct sn_person *p,
				       struct sn_err *err);
size_t sn_persons_api_routes(struct sn_persons_api *a, struct sn_http_route *routes, size_t max);

/* Cohorts (cohorts_api.c): PostHog's /api/projects/:id/cohorts/... and the
 * calculator thread that recalculates dynamic cohorts when their
 * definition changes and every interval (default 15 minutes). Members
 * live in the person store; calculations run on the embedded executor
 * over <data_dir>/store. start/stop run and join the calculator (stop
 * before the person store closes). */
struct sn_cohorts_api;
int sn_cohorts_api_new(struct sn_cohorts_api **out, struct sn_meta *meta,
		       struct sn_persons *persons, const char *data_dir, struct sn_err *err);
/* Scan threads of a calculation (0 = one per core) and the recalculation
 * interval (<= 0 keeps the default). */
void sn_cohorts_api_configure(struct sn_cohorts_api *a, unsigned threads, int64_t interval_us);
/* The query API that runs a static cohort's query ("save as cohort"). */
void sn_cohorts_api_use_query(struct sn_cohorts_api *a, struct sn_query_api *query);
int sn_cohorts_api_start(struct sn_cohorts_api *a, struct sn_err *err);
void sn_cohorts_api_stop(struct sn_cohorts_api *a);
void sn_cohorts_api_free(struct sn_cohorts_api *a);
size_t sn_cohorts_api_routes(struct sn_cohorts_api *a, struct sn_http_route *routes, size_t max);
/* Calculates one cohort now, on the caller's thread (one calculation runs
 * at a time); *count receives its members. Static cohorts are recounted. */
int sn_cohorts_api_calculate(struct sn_cohorts_api *a, int64_t team_id, int64_t id, int64_t *count,
			     struct sn_err *err);

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

/* The web UI's login (login.c): POST /api/login, POST /api/logout and GET
 * /api/users/@me. Logins run on threads of their own (argon2id);
 * sn_login_api_close waits for them (call it while the HTTP server runs). */
struct sn_login_api;
int sn_login_api_new(struct sn_login_api **out, struct sn_meta *meta, struct sn_err *err);
void sn_login_api_close(struct sn_login_api *a);
void sn_login_api_free(struct sn_login_api *a);
size_t sn_login_api_routes(struct sn_login_api *a, struct sn_http_route *routes, size_t max);

/* Property definitions (propdefs_api.c): PostHog's
 * /api/projects/:id/property_definitions/... (and the /api/environments/
 * twin) over meta's model, plus a POST that declares a definition. */
struct sn_propdefs_api;
int sn_propdefs_api_new(struct sn_propdefs_api **out, struct sn_meta *meta, struct sn_err *err);
void sn_propdefs_api_free(struct sn_propdefs_api *a);
size_t sn_propdefs_api_routes(struct sn_propdefs_api *a, struct sn_http_route *routes, size_t max);

/* ---- saved insights and dashboards (query.c, insights_api.c, dashboards_api.c) -- */

/* Runs one query node (HogQLQuery or an insight kind; not a wrapper) for the
 * team on the caller's thread, with the query API's store, persons and
 * executor settings, and appends PostHog's response JSON to out. threads: the
 * scan's threads, 0 = the query API's setting. SN_ERR_INVALID (err says why)
 * for a query that cannot run: the caller answers 400. */
struct sn_team;
int sn_query_api_run_node(struct sn_query_api *a, const struct sn_team *team,
			  struct json_object *node, unsigned threads, struct sn_buf *out,
			  struct sn_err *err);

/* PostHog's saved insights: /api/projects/:id/insights/... (and the
 * /api/environments/ twin), with results from the result cache. The API
 * runs requests that may compute on worker threads of its own and computes
 * async refreshes in the background; sn_insights_api_close waits for both
 * (call it while the HTTP server still runs). */
struct sn_insights_api;
int sn_insights_api_new(struct sn_insights_api **out, struct sn_meta *meta,
			struct sn_query_api *query, struct sn_err *err);
void sn_insights_api_close(struct sn_insights_api *a);
void sn_insights_api_free(struct sn_insights_api *a);
size_t sn_insights_api_routes(struct sn_insights_api *a, struct sn_http_route *routes, size_t max);

/* PostHog's dashboards: /api/projects/:id/dashboards/... with tiles, their
 * sharing configuration, and the public /shared_dashboard/<token>. */
struct sn_dashboards_api;
int sn_dashboards_api_new(struct sn_dashboards_api **out, struct sn_meta *meta,
			  struct sn_insights_api *insights, struct sn_err *err);
void sn_dashboards_api_free(struct sn_dashboards_api *a);
size_t sn_dashboards_api_routes(struct sn_dashboards_api *a, struct sn_http_route *routes,
				size_t max);

/* What the dashboards API shares with the insights API (insights_api.c). */
struct sn_http_request;

/* PostHog's ExecutionMode, named by the refresh query parameter. */
enum sn_refresh {
	SN_REFRESH_FORCE_CACHE,	   /* cached only, even stale; null when none (the default) */
	SN_REFRESH_BLOCKING,	   /* cached if fresh, else compute now */
	SN_REFRESH_FORCE_BLOCKING, /* compute now ("true" too) */
	SN_REFRESH_ASYNC,	   /* cached if fresh, else cached + compute in the background */
	SN_REFRESH_LAZY_ASYNC,	   /* as async, with the lazy (longer) staleness thresholds */
	SN_REFRESH_FORCE_ASYNC,	   /* cached + always compute in the background */
	SN_REFRESH_ASYNC_EXCEPT_ON_MISS, /* as async, but compute now when nothing is cached */
};
/* NULL, "", "false", "0" → force_cache; "true", "1" → force_blocking; the
 * mode names. SN_ERR_INVALID for anything else. */
int sn_refresh_parse(const char *s, enum sn_refresh *out);

/* One insight's result in one context (alone or on a dashboard). */
struct sn_saved_result {
	char cache_key[48];
	struct json_object *response; /* owned: the query response, or NULL */
	bool is_cached;
	int64_t last_refresh_us; /* 0 = no result */
	int64_t target_age_us;	 /* 0 = none */
	bool pending;		 /* prepared: must be computed now (sn_saved_result_compute) */
	bool computing;		 /* a background computation was started */
	int error_status;	 /* 0, or 400 / 500 with error */
	char error[512];
	/* what prepare saw, for compute */
	int64_t insight_id, dashboard_id;
	struct json_object *query; /* owned: the effective query */
	char interval[8];
};
void sn_saved_result_release(struct sn_saved_result *r);
/* The insight's query with a dashboard's filters applied as PostHog's
 * apply_dashboard_filters does (date range replaced, properties ANDed);
 * a new reference, NULL for a NULL query. filters may be NULL. */
struct json_object *sn_saved_query_with_filters(struct json_object *query,
						struct json_object *filters);
/* Looks the effective query up in the result cache and decides by mode:
 * answers the cached response, marks the result pending (compute now), or
 * starts a background computation. Takes a reference to query. */
void sn_saved_result_prepare(struct sn_insights_api *a, const struct sn_team *team,
			     int64_t insight_id, int64_t dashboard_id, struct json_object *query,
			     enum sn_refresh mode, struct sn_saved_result *out);
/* Computes a pending result (threads as sn_query_api_run_node) and caches
 * it. Thread-safe; a no-op unless pending. */
void sn_saved_result_compute(struct sn_insights_api *a, const struct sn_team *team,
			     struct sn_saved_result *r, unsigned threads);
/* Appends the insight in InsightSerializer's shape with r's result (NULL:
 * InsightBasicSerializer, no result fields). query is what "query" shows
 * (the effective query on a dashboard). public_view hides users. */
void sn_saved_insight_append(struct sn_insights_api *a, struct sn_buf *b,
			     const struct sn_meta_insight *ins, struct json_object *query,
			     const struct sn_saved_result *r, const struct sn_team *team,
			     bool public_view);
/* Defers req and runs fn(ctx, req) on a worker thread, which replies; at
 * most a bounded number run at once (else 429), none after close (503). */
int sn_insights_api_defer(struct sn_insights_api *a, struct sn_http_request *req,
			  void (*fn)(void *ctx, struct sn_http_request *req), void *ctx);

#endif
