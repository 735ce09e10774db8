/*
 * exec.h — runs HogQL SELECTs on the embedded columnar store.
 *
 * One call takes query text, parses and resolves it (hogql/), and executes
 * it over every part of a store directory for exactly one team: every scan
 * reads the team_id column and drops rows of other teams before anything
 * else looks at them, so no result, error or count can depend on another
 * team's rows (spec §4.6). The engine is vectorised: granule runs are read
 * into column vectors, WHERE narrows them, then projections or hash
 * aggregation run on whole vectors.
 *
 *   text ─parse─▶ AST ─resolve─▶ typed AST ─plan─▶ columns + time range
 *        parts ─granules_for_team / overlaps_time─▶ runs of granules
 *        run ─read─▶ vectors ─team filter─▶ ─WHERE─▶ project | aggregate
 *        rows ─DISTINCT─▶ ─ORDER BY─▶ ─OFFSET/LIMIT─▶ result
 *
 * Supported in this increment (anything else is an error naming the
 * construct and its position, never a silently wrong answer): SELECTs
 * without FROM (one implicit row, ClickHouse's system.one), over
 * `events`, `persons`, `person_distinct_ids` or `groups`, over a
 * subquery or CTE in FROM, or over explicit JOINs of those (equality ON or
 * USING; hashjoin.c); UNION ALL at the top (each
 * member limited on its own, §4.7) and in FROM; expr [NOT] IN (SELECT ...);
 * scalar (SELECT ...) and `WITH expr AS name` (subquery.c: nested
 * statements are materialised, CTEs once per query; correlated subqueries
 * are refused); on events the fields event, distinct_id, timestamp, uuid,
 * team_id, $session_id, $window_id, created_at, elements_chain,
 * $group_0..4, properties and properties.X / properties['X'] (one level),
 * person_id with merge overrides applied, and the lazy joins person.id,
 * person.created_at, person.is_identified, person.properties[.X],
 * pdi.person_id, pdi.distinct_id and group_N.key/index/created_at/
 * properties[.X] (person mode person_id_override_properties_joined, see
 * join.c); literals, arithmetic,
 * NULL-safe comparisons (§4.3), AND/OR/NOT, IN (list), LIKE/ILIKE,
 * BETWEEN, IS [NOT] DISTINCT FROM, if/multiIf/coalesce/ifNull/isNull/
 * isNotNull, toString, toInt/toFloat (NULL on failure), lower/upper/
 * length; date and time functions in time zones (fn_date.c): toDate,
 * toDateTime[64], parseDateTimeBestEffort, fromUnixTimestamp,
 * toUnixTimestamp, toTimeZone, now/now64/today/yesterday, toStartOf
 * Second/Minute/FiveMinutes/TenMinutes/FifteenMinutes/Hour/Day/Week
 * (modes 0-9)/Month/Quarter/Year/ISOYear, toMonday, toLastDayOfMonth,
 * toStartOfInterval, dateTrunc/date_trunc, toYear/Quarter/Month/
 * DayOfMonth/DayOfWeek (modes 0-3)/DayOfYear/Hour/Minute/Second/ISOWeek/
 * ISOYear, toYYYYMM[DD[hhmmss]], addSeconds..addYears and
 * subtractSeconds..subtractYears, dateAdd/dateSub/date_add/date_subtract/
 * timeStampAdd/timeStampSub, dateDiff/date_diff (boundaries crossed in
 * the zone), formatDateTime, Date and DateTime ± INTERVAL or integers,
 * Date - Date and DateTime - DateTime;
 * scalar functions (fn_scalar.c, ClickHouse semantics): concat/||,
 * concatWithSeparator, format, substring[UTF8], left/right, lengthUTF8,
 * lower/upperUTF8, trim/trimLeft/trimRight/ltrim/rtrim/btrim,
 * position[CaseInsensitive][UTF8], startsWith/endsWith, replace/
 * replaceAll/replaceOne, reverse[UTF8], repeat, leftPad/rightPad/lpad/
 * rpad, empty/notEmpty, base64Encode/base64Decode/tryBase64Decode, hex/
 * unhex, toValidUTF8/isValidUTF8, like/ilike/notLike/notILike; match,
 * extract, regexpExtract, countMatches, replaceRegexpAll/One (PCRE2,
 * constant patterns); protocol, domain, domainWithoutWWW,
 * topLevelDomain, path, pathFull, queryString, fragment,
 * queryStringAndFragment, cutQueryString, cutFragment,
 * cutQueryStringAndFragment, extractURLParameter; round/floor/ceil/trunc
 * (with a scale), roundBankers, abs, sign, sqrt, cbrt, exp, exp2, exp10,
 * log/ln, log2, log10, pow/power, pi, e, intDiv[OrZero], greatest/least,
 * isNaN/isFinite/isInfinite; Decimal(P, S) (decimal.c: toDecimal, CAST,
 * accurateCast, multiplyDecimal/divideDecimal, arithmetic, comparisons,
 * rounding, sum/avg/min/max); nullIf, assumeNotNull, in/notIn, CASE x
 * WHEN, toBool, toTypeName, toUUID; JSONHas, JSONExtractString/Int/UInt/
 * Float/Bool/Raw, JSONLength, JSONArrayLength (nested key/index paths);
 * md5, MD5, SHA1, SHA256, sipHash64 (of one String), xor;
 * multiSearchAny/FirstIndex/FirstPosition, multiMatchAny/AnyIndex,
 * extractAllGroupsHorizontal/Vertical;
 * arrays and tuples (array.c: [..], tuple(), subscripts, lambdas, has/
 * indexOf/range/arrayMap/arrayFilter/arraySort/splitByChar/... — the list
 * is docs/HOGQL.md's table), arrayReduce (agg.c's aggregates over each
 * row's elements), arrayFold, arrayAUC, JSONExtractArrayRaw;
 * WHERE, GROUP BY with the aggregates of agg.c, each with its If form
 * (or FILTER (WHERE ...)):
 * count()/count(x)/count(DISTINCT x), uniq/uniqExact (one or several
 * arguments), sum, avg, min/max (numbers, strings, dates), any, anyLast,
 * anyHeavy, argMin/argMax, quantile(p)/median/quantileTDigest(p) (exact,
 * interpolated as ClickHouse's quantile on up to 8192 values),
 * quantileExact(p)/medianExact, varPop/varSamp, stddevPop/stddevSamp,
 * covarPop/covarSamp, corr, quantiles(p, ...), groupArray,
 * groupUniqArray, topK([k]), avgWeighted, skewPop/skewSamp/kurtPop/
 * kurtSamp, groupBitAnd/Or/Xor, deltaSum, groupArrayMovingSum/Avg([w]),
 * simpleLinearRegression; their -State forms (AggregateFunction values)
 * and -Merge forms, with -If inside or outside, and finalizeAggregation;
 * [LEFT] ARRAY JOIN and arrayJoin() (rows multiplied before WHERE);
 * HAVING, DISTINCT,
 * ORDER BY (NULLS FIRST/LAST; top-N with LIMIT), positional GROUP BY /
 * ORDER BY, LIMIT n [OFFSET m] BY (after ORDER BY, before LIMIT), LIMIT/OFFSET. Time zone:
 * DateTimes read, group and print in opts->timezone (§4.5), or in the zone a toTimeZone() or tz
 * argument names.
 *
 * Window functions (window.c) in SELECT and ORDER BY, over rows or
 * groups, inline or named: row_number, rank, dense_rank, lagInFrame/
 * leadInFrame (lag/lead), first_value, last_value, nth_value, count/sum/
 * avg/min/max and their If forms, over ROWS and RANGE frames (ClickHouse's
 * defaults, peers included; RANGE offsets on one numeric or date key).
 *
 * Budgets: a wall-clock limit checked at every granule run and while
 * sorting, and a memory limit on the per-query arena (groups, the values
 * quantiles collect, rows, the joined persons and groups, result), on
 * each run's scratch arena and on the top-N heap's strings. Exceeding
 * either is an error.
 *
 * Ownership: the result owns its arena; sn_exec_result_release frees it.
 * Thread-safety: nothing is shared between calls.
 */
#ifndef SN_EXEC_H
#define SN_EXEC_H

#include "base/base.h"
#include "hogql/hogql.h"
#include "persons/persons.h"
#include "store/store.h"

#define SN_EXEC_DEFAULT_TIME_LIMIT_US (60LL * 1000 * 1000)
#define SN_EXEC_DEFAULT_MEM_LIMIT     ((size_t)1 << 30)
#define SN_EXEC_MAX_THREADS	      8

/* Value types of result columns (and of the executor's vectors). */
enum sn_exec_type {
	SN_XT_NULL = 0, /* the NULL literal: Nullable(Nothing) */
	SN_XT_BOOL,	/* comparisons and logic: UInt8 0/1 */
	SN_XT_INT,	/* Int64 */
	SN_XT_UINT,	/* UInt64 (count, uniq, length) */
	SN_XT_FLOAT,	/* Float64 */
	SN_XT_STRING,
	SN_XT_UUID,	/* kept as its 36-character text */
	SN_XT_DATE,	/* days since 1970-01-01 in i */
	SN_XT_DATETIME, /* µs since the epoch (UTC) in i */
	SN_XT_ARRAY,	/* Array(T): its encoded bytes in s (exec/array.c) */
	SN_XT_TUPLE,	/* Tuple(T1, ...): its encoded bytes in s */
	/* AggregateFunction(f, T1, ...): an aggregate's intermediate state
	 * (fState), serialised by agg.c in s; only -Merge aggregates and
	 * finalizeAggregation read it, and it never reaches a result */
	SN_XT_AGGSTATE,
	SN_XT_DECIMAL, /* Decimal(P, S): the value × 10^S in i (exec/decimal.c); the last type */
};

/* Types whose values are bytes in s (strings, UUIDs as text, arrays,
 * tuples and aggregate states), not numbers in i or f. */
static inline bool sn_exec_type_has_bytes(uint8_t t)
{
	return t == SN_XT_STRING || t == SN_XT_UUID || t == SN_XT_ARRAY || t == SN_XT_TUPLE ||
	       t == SN_XT_AGGSTATE;
}

struct sn_exec_value {
	uint8_t type; /* enum sn_exec_type */
	bool null;
	/* UUID as its 128 bits in u, s empty: only in rows handed to a
	 * row_sink that asked for them (opts->row_sink_uuid_bits) */
	bool ubin;
	/* BOOL of ClickHouse's Bool type (a top-level toBool column, e.g. a
	 * typed Boolean property): prints true / false, not 1 / 0 */
	bool tbool;
	/* DECIMAL: the scale S (i is the value × 10^S) */
	uint8_t dscale;
	union {
		struct {
			int64_t i; /* INT, UINT, BOOL, DATE, DATETIME */
			double f;
		};
		struct sn_uuid u; /* ubin */
	};
	struct sn_str s; /* STRING, UUID; points into the result arena */
};

/* One column of a batch handed to opts->col_sink: type (an enum
 * sn_exec_type), and per row a NULL flag (nulls NULL: none is NULL; type
 * SN_XT_NULL: all are) and the value in i (integers, booleans, dates and
 * times), f (FLOAT), s (STRING, UUID as text) or u (UUID as 128 bits, the
 * streamed items of opts->row_sink_uuid_bits). */
struct sn_exec_column {
	uint8_t type;
	const uint8_t *nulls;
	const int64_t *i;
	const double *f;
	const struct sn_str *s;
	const struct sn_uuid *u;
	uint8_t dscale; /* DECIMAL: the scale (i is the value × 10^dscale) */
};

struct sn_exec_opts {
	const char *store_dir;	/* directory of *.snp parts; missing = no data */
	int64_t team_id;	/* the only team the query can see */
	int64_t now_us;		/* now(); 0 = the clock at query start */
	const char *timezone;	/* IANA zone of DateTime values (the team's); NULL = UTC */
	int64_t max_limit;	/* largest LIMIT honoured; 0 = SN_HOGQL_MAX_LIMIT (insights'
				 * internal statements ask for more) */
	int64_t time_limit_us;	/* 0 = SN_EXEC_DEFAULT_TIME_LIMIT_US */
	size_t mem_limit_bytes; /* 0 = SN_EXEC_DEFAULT_MEM_LIMIT */
	/* The team's property types (hogql.h, "Typed properties"): the query's
	 * statement is resolved with them; NULL = every property is text. */
	const struct sn_hogql_prop_types *prop_types;
	/* Asked now and then (at most every 50 ms, with the time limit's
	 * checks, from any of the query's threads): true stops the query
	 * with "Query cancelled" (the client went away). NULL: never. */
	bool (*cancelled)(void *arg);
	void *cancel_arg;
	/* Values of the statement's {name} placeholders (hogql.h); NULL: none. */
	const struct sn_hogql_values *values;
	uint32_t run_granules; /* granules read per batch; 0 = 8 */
	/* Scanner threads a scan of events may use (its runs of granules split
	 * in contiguous shares; an aggregation's groups merged in order, a
	 * large row read's rows concatenated in order); 0 = one per online
	 * core, at most SN_EXEC_MAX_THREADS. */
	uint32_t threads;
	/* Values (sizes of uniq sets and quantile lists) past which merging two
	 * scanners' groups runs on two threads; 0 = 65536. Tests set 1. */
	size_t merge_parallel_values;
	/* The data dir's person store (persons, distinct ids, overrides,
	 * groups), borrowed for the call; NULL = a store without persons:
	 * person_id reads as stored, person and group fields as NULL. */
	struct sn_persons *persons;
	/* The team's cohorts (id, name, static or not) for `IN COHORT`,
	 * borrowed; NULL = none known: an id then reads both member tables
	 * and a name is an error. */
	const struct sn_hogql_cohort *cohorts;
	size_t ncohorts;
	/* matchesAction(id | 'name'): the team's action (by id when id > 0,
	 * else by name) as a HogQL boolean expression over events, copied
	 * into a. Non-zero with msg filled for an unknown action or steps that
	 * do not compile. NULL = no actions (matchesAction is an error). */
	int (*action_expr)(void *ctx, int64_t id, const char *name, struct sn_arena *a,
			   const char **text, char *msg, size_t msglen);
	void *action_ctx;
	/* Streams the result instead of collecting it (insights that reduce
	 * millions of event rows themselves). When set, the result rows are
	 * handed to row_sink and res->cells stays NULL; res->nrows counts the
	 * rows handed over, res->has_more says LIMIT cut them. A top-level
	 * SELECT over events without aggregation, ORDER BY, DISTINCT or
	 * OFFSET streams batch by batch while the scan runs, from up to
	 * `threads` scanner threads at once: worker (0 .. threads - 1) names
	 * the thread, calls with one worker never overlap, calls with
	 * different workers may run concurrently, and the order of rows across
	 * batches is unspecified. Any other statement is collected and handed
	 * over once, in result order, as worker 0. rows (nrows * ncols,
	 * row-major) and their strings are valid only during the call. A
	 * non-zero return (a negative SN_ERR_*) stops the query, which then
	 * fails with that code and "the consumer of the rows failed". */
	int (*row_sink)(void *ctx, unsigned worker, const struct sn_exec_value *rows, size_t nrows,
			size_t ncols);
	void *row_sink_ctx;
	/* The sink takes UUIDs as 128 bits: a streamed select item that is a
	 * UUID column (uuid, person_id) or toString() of one may then reach it
	 * as value.ubin with u set, not as 36 characters of text (which it
	 * would print and the consumer parse again). Text otherwise. */
	bool row_sink_uuid_bits;
	/* Optional, with row_sink: a batch streamed while the scan runs is
	 * handed over as columns instead (same workers, LIMIT and failure
	 * rules; nrows rows of each column, valid only during the call); rows
	 * collected and handed over at the end still go to row_sink. Saves the
	 * consumer a row of values per row when it converts them anyway. */
	int (*col_sink)(void *ctx, unsigned worker, const struct sn_exec_column *cols, size_t ncols,
			size_t nrows);
};

/* What the scan did; tests use it to check pruning. */
struct sn_exec_stats {
	uint64_t parts;		  /* parts opened */
	uint64_t granules_total;  /* granules in those parts */
	uint64_t granules_read;	  /* granules whose columns were read */
	uint64_t rows_read;	  /* rows in the granules read */
	uint64_t rows_team;	  /* of those, rows of the team */
	uint64_t rows_matched;	  /* rows of the team passing WHERE */
	uint64_t groups;	  /* groups built by GROUP BY */
	uint64_t runs_bucketed;	  /* runs whose time buckets were one value (not read) */
	uint64_t distinct_evals;  /* expressions evaluated once per distinct value of a batch */
	uint64_t terms_skipped;	  /* WHERE terms of a run not read: no row was left (where_terms) */
	uint64_t coded_reads;	  /* column reads as codes into a dictionary (exec.c plan_coded) */
	uint64_t coded_terms;	  /* WHERE terms answered once per dictionary entry (where_terms) */
	uint32_t scan_threads;	  /* most threads one scan of events used */
	uint32_t merges_parallel; /* scanner merges that ran on two threads */
	double parse_s, resolve_s; /* timings */
	double execute_s;
};

struct sn_exec_result {
	struct sn_arena arena;
	size_t ncols;
	const char **names; /* §4.8 column names */
	const char **types; /* ClickHouse type names ("UInt64", "Nullable(String)") */
	size_t nrows;
	struct sn_exec_value *cells; /* nrows * ncols, row-major */
	bool has_more;		     /* more rows than limit after offset */
	int64_t limit, offset;
	const char *hogql;    /* the resolved query as canonical HogQL, LIMIT applied */
	const char *timezone; /* the zone DateTimes print in (opts->timezone); NULL = UTC */
	struct sn_exec_stats stats;
};

/* Parses, resolves and runs src for opts->team_id. On success res holds
 * the result (release it with sn_exec_result_release). On failure returns
 * SN_ERR_INVALID (bad or unsupported query: err has the class, a sentence
 * and character offsets), SN_ERR_TOO_BIG (time or memory budget),
 * SN_ERR_CORRUPT/SN_ERR_IO (a part could not be read); res is then empty
 * and needs no release. Cost: one pass over the granules the team and the
 * WHERE time range can touch, reading only the columns the query names. */
int sn_exec_query(const struct sn_exec_opts *opts, const char *src, size_t len,
		  struct sn_exec_result *res, struct sn_hogql_error *err);
void sn_exec_result_release(struct sn_exec_result *res);

/* PostHog's HogQLQueryResponse shape: {"columns","types","results",
 * "hasMore","limit","offset","hogql","timings"}. DateTimes print as
 * DRF does ("2024-01-10T12:00:00.123Z") in UTC, and in res->timezone with
 * its offset otherwise ("2024-01-10T13:00:00.123000+01:00", as PostHog's
 * orjson renderer); dates as "YYYY-MM-DD". Fails only when b reaches its
 * maximum. */
int sn_exec_result_json(struct sn_buf *b, const struct sn_exec_result *res);
/* A header line of names, then one line per row; NULL is \N, tabs,
 * newlines and backslashes escaped as ClickHouse's TSV does. */
int sn_exec_result_tsv(struct sn_buf *b, const struct sn_exec_result *res);
/* A DECIMAL value (i at scale dscale) as Float64: i / 10^scale. */
double sn_exec_decimal_to_double(int64_t i, unsigned scale);
/* The ClickHouse name of a value type, with Nullable() when nullable. */
const char *sn_exec_type_name(uint8_t type, bool nullable, char *buf, size_t len);

#endif
