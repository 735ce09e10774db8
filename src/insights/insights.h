/*
 * insights.h — PostHog's insight queries (TrendsQuery now; funnels,
 * retention, lifecycle, stickiness and paths later) compiled to HogQL and
 * answered in PostHog's response shapes.
 *
 * An insight is never computed by a code path of its own per backend: the
 * query node (JSON) becomes one or more HogQL SELECTs, a backend runs them
 * (the embedded executor or ClickHouse through the printer — whatever runs
 * HogQL), and this module shapes the rows into PostHog's JSON (zero-filled
 * buckets, breakdown ranking and "Other", compare periods, formulas,
 * cumulative and total-value displays).
 *
 *   query JSON ─validate─▶ date range, series, filters (daterange.c, filters.c)
 *             ─compile─▶ HogQL text per series and period (trends.c)
 *             ─backend─▶ rows (struct sn_insight_table)
 *             ─shape──▶ {"results": [...], "hogql": ..., "timings": ...}
 *
 * The module depends on base/ and hogql/ only (DESIGN.md); the backend is
 * a callback the caller (api/, main.c) provides.
 */
#ifndef SN_INSIGHTS_H
#define SN_INSIGHTS_H

#include "base/base.h"
#include "hogql/hogql.h"

struct json_object;

/* Value types of the rows a backend returns. */
enum sn_insight_vtype {
	SN_IV_NULL = 0,
	SN_IV_INT,	/* integers and booleans in i */
	SN_IV_FLOAT,	/* f */
	SN_IV_STRING,	/* s (UUIDs too) */
	SN_IV_DATETIME, /* µs since the epoch (UTC) in i */
	SN_IV_DATE,	/* days since 1970-01-01 in i */
	/* A UUID (or its toString()) as its 128 bits in u: only in rows a
	 * backend streams to a sink (the sinks intern actors by the bits;
	 * the text is sn_uuid_format's) */
	SN_IV_UUID,
};

struct sn_insight_value {
	uint8_t type; /* enum sn_insight_vtype */
	union {
		struct {
			int64_t i;
			double f;
		};
		struct sn_uuid u; /* SN_IV_UUID */
	};
	const char *s; /* SN_IV_STRING: slen bytes, not NUL-terminated */
	size_t slen;
};

/* A result table: nrows * ncols values, row-major, owned by the arena the
 * backend was handed. */
struct sn_insight_table {
	size_t ncols, nrows;
	struct sn_insight_value *cells;
};

#define SN_INSIGHT_MAX_WORKERS 8

/* Runs HogQL for the team the insight belongs to. *out and its strings
 * live as long as a (copied into it, or in memory a adopted: the embedded
 * backend hands over the executor's arena). max_rows is the largest LIMIT the statement may use
 * (the insight asks for more than a user query gets when it reads rows it reduces itself, e.g. a
 * funnel's events per actor). Returns 0, or a negative SN_ERR_* with err filled (a query error:
 * SN_ERR_INVALID; a budget: SN_ERR_TOO_BIG). */
struct sn_insight_backend {
	void *ctx;
	int (*query)(void *ctx, struct sn_arena *a, const char *hogql, size_t len, int64_t max_rows,
		     struct sn_insight_table *out, struct sn_hogql_error *err);
	/* Optional: as query, but the rows are handed to sink batch by batch
	 * as the backend produces them, never collected (the row-reading
	 * insights reduce millions of event rows). Up to
	 * SN_INSIGHT_MAX_WORKERS threads may call sink at once, each with its
	 * own worker number (calls of one worker never overlap), so a sink
	 * keeps state per worker; the order of rows across batches is
	 * unspecified; a batch's cells and strings are valid only during the
	 * call. *nrows gets the number of rows handed over (at most max_rows:
	 * the caller treats reaching it as too many). A non-zero return of
	 * sink stops the query and is returned. NULL = query, then one call (worker 0) with
	 * the whole table. */
	int (*stream)(void *ctx, const char *hogql, size_t len, int64_t max_rows,
		      int (*sink)(void *sctx, unsigned worker, const struct sn_insight_value *cells,
				  size_t nrows, size_t ncols),
		      void *sctx, size_t *nrows, struct sn_hogql_error *err);
};

/* The team settings insights depend on. */
struct sn_insight_team {
	int64_t id;
	const char *timezone; /* IANA name; NULL or "" = UTC */
	int week_start_day;   /* 0 = Sunday, 1 = Monday */
	/* The project's test-account filters (a JSON array of property
	 * filters) for filterTestAccounts, or NULL. Borrowed. */
	struct json_object *test_account_filters;
	/* The project's path cleaning rules ([{alias, regex}]) for paths with
	 * pathReplacements, or NULL. Borrowed. */
	struct json_object *path_cleaning_filters;
};

struct sn_insight_opts {
	struct sn_insight_team team;
	int64_t now_us; /* "now" for relative dates; 0 = the clock */
	struct sn_insight_backend backend;
	/* Looks up an action of the team: its name (copied into a) and its
	 * steps (a new reference to a JSON array of PostHog's step objects).
	 * SN_ERR_NOT_FOUND for an unknown or deleted action. NULL = no
	 * actions (ActionsNode is refused). */
	int (*action)(void *ctx, int64_t id, struct sn_arena *a, char **name,
		      struct json_object **steps);
	void *action_ctx;
	/* Looks up a live cohort of the team: its name (copied into a), for
	 * breakdowns by cohort. SN_ERR_NOT_FOUND for an unknown or deleted
	 * cohort. NULL = no cohorts (a cohort breakdown is an error). */
	int (*cohort_name)(void *ctx, int64_t id, struct sn_arena *a, char **name);
	void *cohort_ctx;
};

/* Error details for a 400: a sentence naming the problem (and the field). */
struct sn_insight_error {
	char type[32]; /* "validation_error" | "query_error" | "not_supported" */
	char msg[512];
	struct sn_hogql_error hogql; /* when a generated query failed */
};

/* Process-wide, before the first insight: the rows of a statement from
 * which the work after its scan (ordering rows per actor, walking paths)
 * runs on two threads; 0 = always one. The default is 200000. */
void sn_insight_set_parallel(size_t min_rows);

/* True when kind is an insight kind this module answers. */
bool sn_insight_kind_supported(const char *kind);

/* Runs the insight query node q (an object with "kind") and appends its
 * response JSON to out. Returns 0; SN_ERR_INVALID for a bad or
 * unsupported query (err says why; the API answers 400); SN_ERR_TOO_BIG
 * for a budget; other codes for I/O failures of the backend. */
int sn_insight_run(const struct sn_insight_opts *o, struct json_object *q, struct sn_buf *out,
		   struct sn_insight_error *err);

/* HogQL's {filters} placeholder (PostHog's HogQLFilters): the boolean
 * expression of a filters object {dateRange, properties,
 * filterTestAccounts} over events — the date range (default the last 7
 * days) in the team's time zone, the property filters, the project's test
 * filters. Appends "(...)" to out; SN_ERR_INVALID with err for a bad
 * filter. */
int sn_insight_hogql_filters(const struct sn_insight_opts *o, struct json_object *filters,
			     struct sn_buf *out, struct sn_insight_error *err);

/* The HogQL boolean expression an action's steps compile to (what
 * matchesAction(id) means on events): "(step OR step ...)". Uses
 * o->action to read the action and o->team for its filters. Appends to out;
 * SN_ERR_NOT_FOUND for an unknown action, SN_ERR_INVALID with err for steps
 * that cannot compile. */
int sn_insight_action_hogql(const struct sn_insight_opts *o, int64_t id, struct sn_buf *out,
			    struct sn_insight_error *err);

/* ---- cohorts (cohort.c) ---------------------------------------------------------------- */

/* What compiling a cohort definition needs: the team (its time zone turns
 * relative windows into instants), "now", and the team's actions. */
struct sn_cohort_compile_opts {
	struct sn_insight_team team; /* id, timezone, week_start_day */
	int64_t now_us;		     /* "now" for relative windows; 0 = the clock */
	/* Actions: as sn_insight_opts.action (action id -> name + steps);
	 * NULL = none (a criterion on an action is refused). */
	int (*action)(void *ctx, int64_t id, struct sn_arena *a, char **name,
		      struct json_object **steps);
	void *action_ctx;
};

/* Compiles a PostHog dynamic cohort definition to one HogQL statement
 * that returns its members: `SELECT id FROM persons AS person WHERE ...`
 * (one column, id, each person once). filters is the cohort's "filters"
 * object ({"properties": {"type": "AND"|"OR", "values": [...]}}); groups
 * is the legacy "groups" array, used when filters has no properties (both
 * may be NULL; then the cohort has no criteria, an error). Borrowed.
 *
 * The statement has no LIMIT: the caller appends one and runs it with a
 * backend maximum as large as the team's persons (HogQL's default LIMIT of
 * 100 would otherwise cut the members). Time windows are printed as UTC
 * instants (toDateTime('…', 'UTC')) computed from now_us on the team's
 * wall clock, so the statement means the same in any session time zone
 * and the same on ClickHouse. A cohort-in-cohort criterion is
 * `id IN COHORT <id>`: the caller computes the cohorts it depends on
 * first (and refuses cycles). filters.filterTestAccounts adds the person
 * filters of team.test_account_filters with an AND. a is scratch memory
 * (action names, parsed windows); out does not point into it.
 *
 * Appends the statement to out and returns 0, or SN_ERR_INVALID with err
 * naming the bad criterion by its path ("properties.values[0].values[1]")
 * and the problem (type "validation_error", or "not_supported" for a
 * criterion snout does not compute); SN_ERR_NOMEM or SN_ERR_TOO_BIG when a
 * or out is full. Nothing is appended on failure. Cost: linear in the
 * definition; no query runs. */
int sn_cohort_compile(const struct sn_cohort_compile_opts *o, struct json_object *filters,
		      struct json_object *groups, struct sn_arena *a, struct sn_buf *out,
		      struct sn_insight_error *err);

#endif
