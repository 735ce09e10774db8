/*
 * insights_internal.h — what the insight files share: the per-request
 * context, date ranges in the team's wall-clock time, and the HogQL text
 * builders. Not for other modules.
 *
 * Times: a "local" value is µs since 1970-01-01 00:00 of the team's wall
 * clock (the calendar fields read as if it were UTC). PostHog computes date
 * ranges on wall-clock datetimes in the project time zone and hands them to
 * HogQL as zone-less strings ("2020-01-09 00:00:00"), which HogQL reads in
 * the project zone; doing the same keeps DST days exactly as PostHog has
 * them.
 */
#ifndef SN_INSIGHTS_INTERNAL_H
#define SN_INSIGHTS_INTERNAL_H

#include <json-c/json.h>

#include "insights/insights.h"

#define US_SEC	((int64_t)1000000)
#define US_MIN	(60 * US_SEC)
#define US_HOUR (60 * US_MIN)
#define US_DAY	(24 * US_HOUR)

/* Labels PostHog gives to missing and folded breakdown values. */
#define BREAKDOWN_NULL	"$$_posthog_breakdown_null_$$"
#define BREAKDOWN_OTHER "$$_posthog_breakdown_other_$$"

struct ictx {
	const struct sn_insight_opts *o;
	struct sn_arena *a; /* lives as long as the request */
	struct sn_insight_error *err;
	const char *tz;		  /* never NULL */
	int64_t now_utc;	  /* µs */
	int64_t now_loc;	  /* local µs */
	struct sn_buf *hogql_log; /* every query run, for the response's "hogql" */
	int64_t max_rows;	  /* LIMIT the next statement may use (0 = HogQL's maximum) */
	/* " SAMPLE <f>" after every events source of the insight's statements
	 * (its samplingFactor, as PostHog samples the events table), or "" */
	const char *sample;
};

/* Breakdowns by cohort (cohortbd.c): whether q has one, and running q once
 * per cohort through the kind's runner, results tagged and concatenated. */
bool is_cohort_breakdown(struct json_object *q);
/* q, a cohort breakdown, as the query of the one cohort bv names (an id or
 * "all") without the breakdown, into *out (the caller puts it): what the
 * actors of that cohort's point are read from. */
int cohort_breakdown_query(struct ictx *x, struct json_object *q, const char *bv,
			   struct json_object **out);
int cohort_breakdown_run(struct ictx *x, struct json_object *q, const char *kind,
			 int (*run)(struct ictx *x, struct json_object *q, struct sn_buf *out),
			 struct sn_buf *out);

/* An insight's context for o in arena a: err cleared, the team's zone
 * (UTC when unset), "now" (o->now_us or the clock) in UTC and local time,
 * no HogQL log. */
void ictx_init(struct ictx *x, const struct sn_insight_opts *o, struct sn_arena *a,
	       struct sn_insight_error *err);

/* fn(ctx, 0) and fn(ctx, 1) at once, the second on a new thread (both in
 * turn on this one when !parallel or no thread can be made): the CPU-bound
 * reductions after a scan use the second core the scan used. The halves
 * must touch disjoint memory; neither may call ifail or allocate from
 * x->a. */
void insight_par2(void (*fn)(void *ctx, unsigned half), void *ctx, bool parallel);
/* Whether a reduction over this many rows takes two threads
 * (sn_insight_set_parallel). */
bool insight_parallel(size_t rows);

/* Sets err (type, sentence) and returns SN_ERR_INVALID. */
int ifail(struct ictx *x, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- time (daterange.c) ---- */

enum interval { IV_MINUTE, IV_HOUR, IV_DAY, IV_WEEK, IV_MONTH };

int64_t loc_of_utc(const char *tz, int64_t utc_us);
int64_t utc_of_loc(const char *tz, int64_t loc_us);
/* "YYYY-MM-DD HH:MM:SS" (no fraction, as PostHog formats bounds). */
void fmt_loc_dt(char *buf, size_t len, int64_t loc);
struct drange;
/* A bucket's "days" entry and its label (PostHog's format_label_date;
 * weeks are shown as the part of the week inside the range). */
void fmt_day(char *buf, size_t len, int64_t loc, enum interval iv);
void fmt_label(char *buf, size_t len, int64_t loc, const struct drange *r, int week_start_day);
/* Start of the interval containing loc (weeks by the team's start day). */
int64_t align_loc(int64_t loc, enum interval iv, int week_start_day);
/* loc plus n intervals (months keep the day clamped). */
int64_t add_interval(int64_t loc, enum interval iv, int n);

struct drange {
	enum interval iv;
	int64_t from, to;	 /* local, inclusive */
	int64_t where_from;	 /* lower bound of the WHERE (start of interval or from) */
	bool from_relative;	 /* date_from was relative ("-7d") */
	int64_t from_days_delta; /* its "days" (for the -7d compare kludge), or 0 */
	bool to_relative;	 /* date_to was given and relative */
	size_t nbuckets;
	int64_t *buckets; /* local bucket starts, ascending */
};

/* The range of a dateRange object (NULL = defaults). earliest_utc is
 * the team's first event (for "all"), or INT64_MIN when there is none.
 * exact (PostHog's exact_timerange, total-value displays): a relative
 * date_from is not truncated and a missing date_to is now itself. */
int dr_parse(struct ictx *x, struct json_object *date_range, enum interval iv, int64_t earliest_utc,
	     bool exact, struct drange *out);
/* Index of the bucket of r containing loc, or -1. */
ssize_t dr_bucket_index(const struct drange *r, int64_t loc);
/* The bucket of r holding day (an actors query's date or date-time text),
 * in *k; a validation_error naming day when it holds none. */
int dr_day_bucket(struct ictx *x, const struct drange *r, const char *day, size_t *k);
/* The previous period for compare (compare_to NULL) or the range shifted
 * by compare_to ("-1w"). */
int dr_previous(struct ictx *x, const struct drange *cur, const char *compare_to,
		struct drange *out);
/* Buckets from align(from) to to. */
int dr_buckets(struct ictx *x, struct drange *r, int week_start_day);
/* The value of an is_date_before / is_date_after / is_date_exact filter
 * when it is relative ("-30d", "-2w", "-1mStart"), as PostHog's
 * _resolve_date_value reads it: now minus the delta, not truncated, in
 * *utc (µs), and 1; 0 when s is not relative (an absolute date or text). */
int dr_date_value(struct ictx *x, const char *s, int64_t *utc);
/* True when dateRange.date_from is "all". */
bool dr_is_all(struct json_object *date_range);

/* ---- HogQL text (filters.c) ---- */

/* 'text' with HogQL's escapes. */
int hq_str(struct sn_buf *b, const char *s, size_t len);
/* A field chain member: a plain identifier, or `quoted`. */
int hq_ident(struct sn_buf *b, const char *s);
/* properties.<key> of events, person.properties.<key>, ... as text. */
int hq_prop(struct sn_buf *b, const char *prefix, const char *key);
/* A person property as insights read it: person.properties.<key>, or for a
 * virtual property ($virt_initial_channel_type, ...) the persons field
 * person.<key> (an unknown $virt_ key then fails to resolve, by name). */
int hq_person_prop(struct sn_buf *b, const char *key);
/* session.<key> as insights read it: the numeric fields ($session_duration,
 * the counts) wrapped in ifNull(…, 0), so an event without a session reads
 * 0 on both backends as in PostHog (the executor's LEFT join miss is NULL,
 * ClickHouse 18.16's the default). */
int hq_session(struct sn_buf *b, const char *key);
bool hq_session_numeric(const char *key);
/* PostHog's materialised elements_chain_href (extract(): the chain's first
 * href) and elements_chain_texts (extractAll(): every text), as regexes
 * over elements_chain. */
#define HQ_CHAIN_HREF_RE "(?::|\")href=\"(.*?)\""
#define HQ_CHAIN_TEXT_RE "(?::|\")text=\"(.*?)\""
/* The property filters (an array, or {type: AND|OR, values}) as a boolean
 * expression; appends "1" when empty. */
int hq_filters(struct ictx *x, struct sn_buf *b, struct json_object *props);

/* The action an ActionsNode names as a boolean HogQL expression (actions.c);
 * *name and *id filled. SN_ERR_NOT_FOUND (err untouched) for an unknown
 * action. */
int action_expr(struct ictx *x, struct json_object *node, struct sn_buf *b, const char **name,
		int64_t *id);

/* ---- series (series.c) ---- */

struct series_ref {
	struct json_object *node;
	const char *event; /* NULL = any event */
	const char *custom_name;
	const char *math;
	int math_gti;
	struct json_object *props;
	bool is_action, missing; /* missing: an action that does not exist */
	char *action;
	const char *action_name;
	int64_t action_id;
};

int series_ref_parse(struct ictx *x, struct json_object *node, const char *where,
		     struct series_ref *s);
const char *series_label(const struct series_ref *s);
/* The series' condition AND its filters AND the query's AND test accounts. */
int series_where(struct ictx *x, struct sn_buf *b, const struct series_ref *s,
		 struct json_object *q);
int bucket_of(struct sn_buf *b, enum interval iv, int week_start, const char *col);
int interval_of(struct ictx *x, const char *s, enum interval *iv);
const char *interval_name(enum interval iv);
int64_t local_of_cell(struct ictx *x, const struct sn_insight_value *v);
/* The query's dateRange (with "all") and its buckets. */
int range_of(struct ictx *x, struct json_object *q, enum interval iv, bool exact, struct drange *r);

/* ---- running queries (insights.c) ---- */

/* The insight's arena budget: as one query (SN_EXEC_DEFAULT_MEM_LIMIT). */
#define INSIGHT_MEM_LIMIT ((size_t)1 << 30)

int run_hogql(struct ictx *x, const char *q, size_t len, struct sn_insight_table *out);
/* Runs q through the backend's stream (or its query, handing the table
 * over at once) with rows going to sink; *nrows counts them (at most
 * x->max_rows when set). */
typedef int (*insight_sink_fn)(void *sctx, unsigned worker, const struct sn_insight_value *cells,
			       size_t nrows, size_t ncols);
int run_hogql_stream(struct ictx *x, const char *q, size_t len, insight_sink_fn sink, void *sctx,
		     size_t *nrows);
const char *jstr(struct json_object *o, const char *key); /* string member or NULL */
bool jbool(struct json_object *o, const char *key);
struct json_object *jget(struct json_object *o, const char *key); /* non-null member or NULL */

/* ---- actors (actors.c) ---- */

#define ACTORS_MAX 1000000 /* actors one point may list */

struct actor_row {
	const char *id; /* person uuid, group key, or the HogQL aggregation value */
	int64_t count;	/* matching events */
	/* funnel actors: the time of the step asked for (for a drop-off, of
	 * the last step reached) and of the step before it (µs, UTC) */
	int64_t t_step, t_prev;
	/* retention actors: the JSON of their appearances column, or NULL */
	const char *extra;
};

struct actor_rows {
	struct actor_row *v;
	size_t n, cap;
};

int actor_push(struct ictx *x, struct actor_rows *r, const char *id, size_t len, int64_t count);

/* ---- kinds ---- */

int trends_run(struct ictx *x, struct json_object *q, struct sn_buf *out);
int funnels_run(struct ictx *x, struct json_object *q, struct sn_buf *out);
/* The actors of one trends point / funnel step (see the functions). */
int trends_actors(struct ictx *x, struct json_object *q, int series, const char *day,
		  const char *bv, bool previous, struct actor_rows *out);
int funnels_actors(struct ictx *x, struct json_object *q, int step, const char *bv,
		   struct actor_rows *out, int *agg_gti);
int actors_run(struct ictx *x, struct json_object *q, struct sn_buf *out);
int stickiness_run(struct ictx *x, struct json_object *q, struct sn_buf *out);
int lifecycle_run(struct ictx *x, struct json_object *q, struct sn_buf *out);
/* The actors of one lifecycle bar: status (new, returning, resurrecting,
 * dormant) in the bucket holding day; *agg_gti the group type they are
 * (-1: persons). */
int lifecycle_actors(struct ictx *x, struct json_object *q, const char *day, const char *status,
		     struct actor_rows *out, int *agg_gti);
/* The persons of one part of a paths Sankey, named in the source's
 * pathsFilter: pathStartKey → pathEndKey (an edge; either alone: any edge
 * from or to that node) or pathDropoffKey (paths that end there). */
int paths_actors(struct ictx *x, struct json_object *q, struct actor_rows *out);
/* The actors of one stickiness point: of series, active in exactly
 * intervals of the range's intervals (cumulative: in that many or more),
 * in the previous period when previous. */
int stickiness_actors(struct ictx *x, struct json_object *q, int series, int intervals,
		      bool previous, struct actor_rows *out, int *agg_gti);
int retention_run(struct ictx *x, struct json_object *q, struct sn_buf *out);
/* The actors of one retention cohort (row interval, breakdown value bv or
 * NULL): each with its appearances, the intervals (0 = the cohort's own)
 * it was counted in; count = their number. */
int retention_actors(struct ictx *x, struct json_object *q, int interval, const char *bv,
		     struct actor_rows *out, int *agg_gti);
int paths_run(struct ictx *x, struct json_object *q, struct sn_buf *out);
/* PostHog's EventsQuery (events_query.c): the event list / data table. */
int events_query_run(struct ictx *x, struct json_object *q, struct sn_buf *out);

/* Rows grouped by actor in C (actorsort.c): tab's rows reordered by
 * (hash of column 0, column 0, columns keys[0..nkeys), arrival); actor_cmp
 * is that order on actors alone, for merging two tables so sorted. */
int rows_by_actor(struct ictx *x, struct sn_insight_table *tab, const size_t *keys, size_t nkeys);
int actor_cmp(const char *a, size_t an, const char *b, size_t bn);
/* An entry of a sort by actor hash: h, a key the caller may compare
 * without touching the row (funnels: the time), the row. */
struct hrow {
	uint64_t h;
	int64_t k;
	uint32_t row;
};
/* Sorts v by h (a radix sort), then each run of one h by cmp (qsort_r
 * style); tmp holds n entries of scratch. */
void hrow_sort(struct hrow *v, struct hrow *tmp, size_t n,
	       int (*cmp)(const void *, const void *, void *), void *arg);
/* Strings interned to dense ids (actorsort.c), for the rows an insight
 * streams (sn_insight_backend.stream): each actor's id and breakdown value
 * are kept once, and rows carry 32-bit ids. Ids count from 0 in first-seen
 * order. The strings are copied into a (the insight's arena, its budget);
 * the tables are malloc'd and freed by sintern_release. Not thread-safe
 * (the backend serialises sink calls). */
struct sintern_slot {
	uint64_t h;
	const char *s;
	uint32_t id, len;
};
struct sintern_uslot {
	uint64_t k[2]; /* a UUID's bits */
	uint32_t id, used;
};
struct sintern {
	struct sn_arena *a;
	const char **s;
	uint32_t *len;
	uint64_t *h;		   /* sn_funnels_actor_hash of each string */
	struct sintern_slot *slot; /* open addressing; s NULL = empty */
	size_t n, idcap, cap;
	uint32_t last;		     /* the id sintern_get returned last */
	struct sintern_uslot *uslot; /* sintern_get_cells: UUID strings' ids by their bits */
	size_t ucap, un;
	uint64_t ulast[2]; /* the key of ulast_id, when ulast_ok */
	uint32_t ulast_id;
	bool ulast_ok;
};
void sintern_init(struct sintern *t, struct sn_arena *a);
/* The id of s (len bytes, may hold NULs), added when new. SN_ERR_NOMEM or
 * SN_ERR_TOO_BIG (past 2^31 strings or a's budget). */
int sintern_get(struct sintern *t, const char *s, size_t len, uint32_t *id);
/* ids[i] = the id of the string cells[i * ncols] ("" when not a string),
 * i < n: sintern_get over a batch, its cache misses overlapped. */
int sintern_get_cells(struct sintern *t, const struct sn_insight_value *cells, size_t ncols,
		      size_t n, uint32_t *ids);
/* rank[id] = the string's place in actor order: (hash, bytes), the order
 * rows_by_actor gives actors. rank has t->n entries. */
int sintern_rank(const struct sintern *t, uint32_t *rank);
void sintern_release(struct sintern *t);

/* Rows streamed from the backend and put into actor order (arows.c): a
 * funnel's events, a path's page views. Column 0 is the actor (a string);
 * spec says where the time, an integer value and up to AROWS_MAX_STR
 * strings (each the join of n columns with \x1f; NULL cells are "") are. */
#define AROWS_MAX_STR 2
struct arows_spec {
	size_t ncols;  /* columns the statement returns at least */
	size_t ts_col; /* DateTime (µs) or Date (days, made µs) */
	size_t v_col;  /* an integer column, 0 = none */
	size_t nstr;   /* string slots used */
	struct {
		size_t from, n;
	} str[AROWS_MAX_STR];
	bool distinct; /* keep one of equal rows (a GROUP BY of all columns, in C) */
};
/* 32 bytes: the time and value cells' i and types (enum
 * sn_insight_vtype), string ids into the tables of part 0 once ordered
 * (actor: its rank) */
struct arow {
	int64_t ts, v;
	uint32_t actor, s[AROWS_MAX_STR];
	uint8_t ts_type, v_type;
};
/* The time in µs (a Date's midnight UTC). */
static inline int64_t arow_us(const struct arow *r)
{
	return r->ts_type == SN_IV_DATE ? r->ts * US_DAY : r->ts;
}
struct arows_part { /* one backend worker's rows */
	struct sn_arena a;
	struct sintern actors, str[AROWS_MAX_STR];
	struct arow **chunk;
	size_t nchunks, chunkcap, n;
	struct sn_buf join;
	size_t bad_ncols;
	uint32_t *ids; /* a batch's actor ids */
	size_t idcap;
	uint32_t *dset; /* spec.distinct: row index + 1 by hash, 0 = empty */
	size_t dcap;
};
struct arows {
	struct arows_spec spec;
	struct arows_part w[SN_INSIGHT_MAX_WORKERS];
	/* after arows_order: n rows in sorted; the k-th actor (in actor order)
	 * is w[0].actors' id actor_at[k], its rows sorted[start[k] ..
	 * start[k + 1]) by time, value, strings; a row's s[j] is an id of
	 * w[0].str[j] (strings in x's arena, as long as the insight) */
	size_t n;
	struct arow *sorted;
	uint32_t *actor_at;
	size_t *start;
};
/* Per-actor state folded from streamed rows (amask.c): words of bit
 * masks and nmin minimums (int64, INT64_MAX = none) per actor, in each
 * worker's own table until amask_merge folds them into w[0]. */
#define AMASK_ACTORS_MAX 10000000
struct amask_worker {
	struct sn_arena a;
	struct sintern actors;
	uint64_t *st; /* cap states of stride words */
	size_t cap;
	uint32_t *ids; /* after amask_batch: the batch's actor ids */
	size_t idcap;
	int key_type; /* amask_period's last cell and answer */
	int64_t key_val;
	int key_idx;
	size_t bad_ncols;
	bool too_many;
};
struct amask {
	size_t words, nmin, stride;
	struct amask_worker w[SN_INSIGHT_MAX_WORKERS];
};
/* Tests: false makes lifecycle keep rows (arows.c) instead of masks. */
extern bool sn_insights_masks;
void amask_init(struct amask *m, size_t words, size_t nmin);
void amask_release(struct amask *m);
/* Interns the actors (column 0) of a batch of one worker into
 * w[worker].ids, with a state for each. A batch of fewer than min_cols
 * columns is refused (SN_ERR_INVALID, reported by amask_check). */
int amask_batch(struct amask *m, unsigned worker, const struct sn_insight_value *cells,
		size_t nrows, size_t ncols, size_t min_cols);
static inline uint64_t *amask_state(struct amask *m, unsigned worker, uint32_t id)
{
	return &m->w[worker].st[(size_t)id * m->stride];
}
int amask_merge(struct amask *m);
/* The index of a period cell (a Date or DateTime bucket) in list (n local
 * period starts, ascending), or -1; the worker remembers its last answer
 * (rows arrive in storage order, a day's together). */
int amask_period(struct ictx *x, struct amask_worker *w, const struct sn_insight_value *cell,
		 const int64_t *list, size_t n);
/* The sinks' errors as the insight's (a short row, too many actors). */
int amask_check(struct ictx *x, const struct amask *m, const char *what);

void arows_init(struct arows *r, const struct arows_spec *spec);
/* Runs sql with x->max_rows, the rows into r; *nrows counts them. */
int arows_run(struct ictx *x, struct arows *r, const char *sql, size_t len, size_t *nrows);
int arows_order(struct ictx *x, struct arows *r);
/* After arows_order: the first actor (in actor order) at or past half of
 * the rows, where a walk in two halves splits. */
size_t arows_half(const struct arows *r);
void arows_release(struct arows *r);

/* A total order on cell values (type, then value), the same on any backend. */
int insight_value_order(const struct sn_insight_value *a, const struct sn_insight_value *b);

/* The hash funnels.c and actorsort.c group actors by (sn_hash64); tests
 * swap in a colliding one to exercise the exact fallbacks. */
extern uint64_t (*sn_funnels_actor_hash)(const void *data, size_t len);

#endif
