/*
 * exec_internal.h — what the executor's files share: column vectors, the
 * per-query context, and the hash table used by GROUP BY and DISTINCT.
 * Not for other modules.
 */
#ifndef SN_EXEC_INTERNAL_H
#define SN_EXEC_INTERNAL_H

#include "exec/exec.h"

typedef struct sn_hogql_node node_t;

#define XMAX_COLS    64	 /* distinct columns and property keys one query may read */
#define XMAX_BINDS   256 /* expression nodes bound to precomputed vectors */
#define XMAX_AGGS    64
#define XMAX_KEYS    32
#define XMAX_DEPTH   64 /* alias indirections followed */
#define XMAX_DNODES  8	/* expressions of one string column evaluated per distinct value */
#define XMAX_BUCKETS 8	/* run-constant expressions answered per batch (exec.c) */
#define XMAX_LAMBDA  16 /* parameters of the lambdas being applied at once */
#define XMAX_PRE     32 /* outer expressions their bodies read */
#define XMAX_AJ	     16 /* ARRAY JOIN items and arrayJoin() calls of one statement */

/* A batch of one expression's values. nulls is set iff nullable (1 =
 * NULL; the value slot then holds 0 or the empty string). */
struct vec {
	uint8_t t; /* enum sn_exec_type */
	bool nullable;
	size_t n;
	int64_t *i;
	double *f;
	struct sn_str *s;
	uint8_t *nulls;
	/* UUID read from the store: its 128 bits per row, s made from them
	 * only when text is asked for (vec_uuid_text; eval_column does it
	 * for every reader but a streamed select item that takes the bits).
	 * NULL for UUIDs computed or joined as text. */
	struct sn_uuid *u;
	/* Row r's value is the codes[r]-th of ncodes distinct ones (eval.c
	 * eval_distinct gathered it so); trusted only while codes_of is still
	 * the vector's value array (a function that builds new values drops it). */
	const uint32_t *codes;
	const void *codes_of;
	size_t ncodes;
	/* Codes only (a column read as codes, exec.c plan_coded): row r's
	 * value is cdict's row ccodes[r], and s, i, f, u and nulls are NULL.
	 * Only a column's own vector is ever so (xcol.coded): eval_column
	 * gathers the values for any reader, eval_distinct evaluates over
	 * cdict, vec_gather gathers codes. */
	const uint32_t *ccodes;
	const struct vec *cdict;
	/* DATETIME: the zone its instants read in (toTimeZone, an explicit tz
	 * argument); NULL = the query's zone. vec_make sets NULL. */
	const struct sn_tz *tz;
	/* ARRAY, TUPLE: the static type as ClickHouse names it
	 * ("Array(Nullable(String))"; array.c), in the query arena. */
	const char *ct;
	/* s points into the query arena (group keys and aggregate results,
	 * agg.c): rows may keep the pointers without copying the text. */
	bool sq;
};

/* What a column of the query reads. Events: a stored column, one property
 * key or the whole properties; person_id with overrides applied; a lazily
 * joined person, distinct id or group field (join.c). Other FROM tables:
 * a field of the person store's rows (join.c). */
enum xcol_kind {
	XC_STORE,     /* stored column `name` */
	XC_PROP,      /* properties.<name> */
	XC_PROPS,     /* the properties column */
	XC_PERSON_ID, /* events.person_id through the override map */
	XC_PERSON,    /* person.<name>[.<key>], joined on the overridden person_id */
	XC_PDI,	      /* pdi.<name>: INNER join on distinct_id */
	XC_GROUP,     /* group_<gidx>.<name>[.<key>], joined on $group_<gidx> */
	XC_TABLE,     /* field <name>[.<key>] of a persons / person_distinct_ids / groups row */
	XC_SUB,	      /* column gidx of the materialised FROM subquery (subquery.c) */
	XC_SESSION,   /* session.<name>: LEFT join of sessions on $session_id (sessions.c) */
};

/* A column the query reads. */
struct xcol {
	uint8_t kind;	     /* enum xcol_kind */
	const char *name;    /* store column, property key (XC_PROP) or field name */
	const char *key;     /* property key below a joined JSON field, or NULL */
	int gidx;	     /* XC_GROUP: group type index */
	int dep;	     /* index of the column a join reads its key from, or -1 */
	bool is_prop;	     /* XC_PROP */
	bool whole_props;    /* XC_PROPS */
	bool in_where;	     /* needed before WHERE can be evaluated */
	bool use_rest;	     /* read by a WHERE term other than the time bounds exec.c elides */
	bool use_out;	     /* read outside WHERE (SELECT, GROUP BY, HAVING, ORDER BY) */
	uint32_t elide_uses; /* bits of the index-answerable WHERE terms reading it */
	uint32_t term_uses;  /* bits of the top-level WHERE terms reading it (exec.c where_cols) */
	bool use_bucket;     /* read outside WHERE by run constants (exec.c plan.bucket) */
	bool coded;	     /* read as codes: only expressions of it alone read it (plan_coded) */
	bool run_const;	     /* every run constant reading it has one value this run */
	uint8_t t;	     /* static type */
	bool nullable;
	const char *ct;	    /* ARRAY, TUPLE (XC_SUB): the composite type */
	struct vec v;	    /* the current batch */
	uint8_t *unmatched; /* XC_PDI: rows without a person (dropped by the join) */
};

/* A column reference as xref_of() recognises it. */
/* A nested property path reads at most this many keys below the first. */
#define XREF_PATH_MAX 16

struct xref {
	uint8_t kind;
	const char *name;
	const char *key;
	int gidx;
	/* Keys below a property (properties.a.b.c, person.properties.a.b,
	 * properties['a']['b']): the column read is the property's (name or
	 * key), and eval_column walks its JSON down these keys
	 * (xjson_prop_path). */
	struct xpath_el {
		const char *key; /* NULL: idx, 1-based (negative: from the end) */
		int64_t idx;
	} path[XREF_PATH_MAX];
	uint8_t npath;
	/* XD_PERSON_MODE: events.person_mode, made from the event's
	 * $process_person_profile (the properties column is read, as the
	 * property's quote-stripped text cannot tell false from "false";
	 * eval_column maps it). */
	uint8_t derive;
};

enum { XD_NONE, XD_PERSON_MODE };

/* An expression node whose value is precomputed (GROUP BY keys and
 * aggregates when the final projection is evaluated over groups). */
struct xbind {
	const node_t *n;
	struct vec *v;
};

/* Aggregates the executor knows (agg.c, agg_classify). */
enum agg_kind {
	AGG_COUNT,
	AGG_COUNT_X,
	AGG_SUM,
	AGG_AVG,
	AGG_MIN,
	AGG_MAX,
	AGG_UNIQ,
	AGG_ANY,
	AGG_ANY_LAST,
	AGG_ANY_HEAVY,
	AGG_ARG_MIN,
	AGG_ARG_MAX,
	AGG_QUANTILE,	    /* quantile, median, quantileTDigest: interpolated */
	AGG_QUANTILE_EXACT, /* quantileExact, medianExact: an element */
	AGG_VAR_POP,
	AGG_VAR_SAMP,
	AGG_STDDEV_POP,
	AGG_STDDEV_SAMP,
	AGG_COVAR_POP,
	AGG_COVAR_SAMP,
	AGG_CORR,
	AGG_WFUNNEL,	  /* windowFunnel(window)(timestamp, cond1, ...): the level reached */
	AGG_GROUP_ARRAY,  /* groupArray(x): the values in arrival order */
	AGG_GROUP_UNIQ,	  /* groupUniqArray(x): the distinct values, first seen first */
	AGG_QUANTILES,	  /* quantiles(p1, p2, ...)(x): quantile's answers as an array */
	AGG_TOPK,	  /* topK(k)(x): the k most frequent values, most frequent first */
	AGG_AVG_WEIGHTED, /* avgWeighted(x, w): sum(x * w) / sum(w) */
	AGG_SKEW_POP,	  /* skewPop, skewSamp, kurtPop, kurtSamp: ClickHouse's power sums */
	AGG_SKEW_SAMP,
	AGG_KURT_POP,
	AGG_KURT_SAMP,
	AGG_BIT_AND, /* groupBitAnd, groupBitOr, groupBitXor of integers */
	AGG_BIT_OR,
	AGG_BIT_XOR,
	AGG_DELTA_SUM,	/* deltaSum(x): the sum of the rises between consecutive values */
	AGG_MOVING_SUM, /* groupArrayMovingSum([w])(x): running sums over windows */
	AGG_MOVING_AVG, /* groupArrayMovingAvg([w])(x): those sums divided by the window */
	AGG_SLR,	/* simpleLinearRegression(x, y): Tuple(k, b) */
	AGG_EVERY,	/* every(x): min(x) != 0, PostHog's toBool(min(x)) */
	AGG_SUM_MAP,	/* sumMap, minMap, maxMap: per-key sums, minima, maxima (agg.c) */
	AGG_MIN_MAP,
	AGG_MAX_MAP,
	AGG_MERGE,   /* fMerge(state): merges the states of f (xagg.inner) its rows hold */
	AGG_SUM_DEC, /* sum, avg of a Decimal (agg_type picks them): a 128-bit sum */
	AGG_AVG_DEC,
	AGG_VAR_DEC, /* var/stddev Pop/Samp of a Decimal: exact power sums */
};

/* value arguments of one aggregate (uniq(a, b, ...); windowFunnel's
 * timestamp and up to 32 conditions) */
#define XMAX_AGG_ARGS 33

struct xagg {
	const node_t *call; /* first occurrence */
	char *text;	    /* printed HogQL, to share equal calls */
	uint8_t kind;	    /* enum agg_kind */
	bool narrow;	    /* AGG_UNIQ: 32-bit hashes (uniq), else 64 (uniqExact) */
	uint8_t arg_t;	    /* type of args[0] (from the zero-row pass) */
	bool arg_nullable;
	uint8_t arg2_t; /* type of args[1] (argMin/argMax's val, covar's y) */
	bool arg2_nullable;
	uint8_t dkind; /* AGG_VAR_DEC: the aggregate it is (AGG_VAR_POP ... AGG_STDDEV_SAMP) */
	uint8_t res_t;
	bool res_nullable;
	uint32_t nargs;
	uint64_t window;	   /* AGG_WFUNNEL: the window, in the timestamp's unit */
	const node_t *arg;	   /* the first value argument (args[0]); NULL for count() */
	const node_t *const *args; /* value arguments (the call's), the If condition excluded */
	const node_t *cond;	   /* the If condition, or NULL */
	double level;		   /* quantile level (parameter), 0.5 by default */
	const char *arg_ct;	   /* args[0]'s composite type (array.c), or NULL */
	const char *res_ct;	   /* the result's composite type, or NULL */
	const double *levels;	   /* AGG_QUANTILES: its levels (query arena) */
	size_t nlevels;
	uint64_t iparam; /* topK's k (10 by default); the moving window (0 = every value) */
	/* sumMap, minMap, maxMap: the argument's form (0: key and value arrays, 1: a
	 * tuple of them, 2: a Map), the value columns and each one's result type */
	uint8_t map_form, map_nv;
	const uint8_t *map_vt;
	/* -State and -Merge (agg.c, "aggregate states as values"): state says
	 * the result is the group's state as an AggregateFunction value (res_t
	 * SN_XT_AGGSTATE, res_ct its type), not the aggregate's answer; sname
	 * is the state's function as that type names it ("sum", "quantileIf",
	 * without parameters); an AGG_MERGE's inner is the aggregate whose
	 * states it merges and answers for (kind, parameters, the argument
	 * types read off the state's type). */
	bool state;
	const char *sname;
	struct xagg *inner;
	const char *args_ct; /* an inner's state type, whose elements are its argument types */
};

/* Open-addressing hash table of byte keys → dense ids (0, 1, ... in
 * insertion order), arena-backed; agg.c's file comment has the layout. A
 * slot holds the upper half of the key's hash next to a reference to its
 * record, so a probe compares hashes without touching keys; the records
 * (id, length, bytes) are packed in insertion order into chunks. */
struct gtab {
	uint64_t *slots; /* hash >> 32 << 32 | record reference, 0 = empty */
	size_t cap;	 /* power of two */
	unsigned lg;	 /* log2(cap) */
	size_t n;
	uint8_t **chunks; /* the records, in id order */
	size_t nchunks, chunkcap;
};

/* A materialised statement result: a subquery in FROM, a CTE, the set of
 * an IN (SELECT ...), a scalar subquery, or the top-level result before
 * it becomes a struct sn_exec_result. Everything lives in the query arena. */
struct xtable {
	size_t ncols, nrows;
	const char **names; /* §4.8 names */
	uint8_t *t;	    /* enum sn_exec_type per column */
	bool *nullable;
	const char **ct; /* per column: an ARRAY's or TUPLE's type name, else NULL (or no array) */
	struct sn_exec_value *cells; /* nrows * ncols, row-major */
	bool has_more;		     /* more rows than limit after offset */
	int64_t limit, offset;
	/* per column: the select item it came from (a statement's own result,
	 * exec.c type_pass), or NULL (UNION ALL, materialised tables) */
	const node_t *const *items;
};

struct xmat;

/* What all the statements of one query share (subquery.c). */
struct xquery {
	struct xmat *mats;		/* materialised CTEs and subqueries, by node */
	const node_t *open[XMAX_DEPTH]; /* CTEs whose body is running */
	size_t nopen;
	struct xscalar *scalar; /* fn_scalar.c's compiled regexes, or NULL */
	struct xsink *sink;	/* opts->row_sink's state (exec.c), or NULL */
};

/* Frees what the per-query regex cache holds outside the query arena (the
 * JIT code and stack); q's scalar is NULL afterwards. */
void xscalar_release(struct xquery *q);

struct xctx {
	struct xctx *parent; /* the statement this one is nested in, or NULL */
	struct xquery *q;
	int level; /* nesting depth of statements */
	const char *src;
	size_t len;
	struct sn_hogql_error *err;
	int rc;
	const struct sn_exec_opts *opts;
	struct sn_arena *qa; /* lives as long as the query */
	struct sn_arena *ba; /* lives as long as the current batch */
	size_t mem_limit;
	int64_t now_us;
	const char *tz;		  /* time zone of DateTime values (opts->timezone), never NULL */
	const struct sn_tz *zone; /* tz loaded (fn_date.c, xzone), NULL until needed */
	uint64_t deadline_ns;
	int64_t time_limit_us;
	uint64_t next_cancel_ns; /* when opts->cancelled is asked next (xcheck_budget) */
	const struct sn_hogql_select *sel;

	struct xcol cols[XMAX_COLS];
	size_t ncols;
	size_t n; /* rows in the current batch */

	bool final; /* evaluating over groups: Fields must be bound */
	/* WHERE terms true on every row of the current batch (time bounds its
	 * granules lie inside, exec.c); xeval answers them without reading. */
	const node_t *const *known_true;
	uint32_t cur_term_bit; /* where_cols: the WHERE term whose columns add_col marks */
	size_t nknown;
	/* Run constants (exec.c plan.bucket: time buckets such as
	 * toStartOfDay(timestamp), expressions of event alone) with one value
	 * on every row of the current batch: xeval answers them from
	 * bconst_v[k] (one row) without reading their column. */
	/* Expressions of one string column (exec.c plan_distinct): xeval
	 * evaluates them over the batch's distinct values of the column (a
	 * dictionary's rows share their text's pointer) and spreads the
	 * answers (eval.c eval_distinct); dskip is the node being evaluated
	 * so, not to be caught again. */
	const node_t *dnode[XMAX_DNODES];
	struct xref dref[XMAX_DNODES];
	size_t ndnode;
	const node_t *dskip;
	const uint32_t *ident; /* 0, 1, ..., nident - 1: a run's rows when all are the team's */
	size_t nident;
	const node_t *bconst[XMAX_BUCKETS];
	struct vec bconst_v[XMAX_BUCKETS];
	size_t nbconst;
	struct xbind binds[XMAX_BINDS]; /* only consulted when final */
	size_t nbinds;
	/* Lambdas being applied (array.c): each parameter's elements, the
	 * innermost last; and the parts of their bodies evaluated over the
	 * rows and spread to the elements, consulted first by xeval. */
	struct {
		const char *name;
		const struct vec *v;
	} lam[XMAX_LAMBDA];
	size_t nlam;
	struct xbind pre[XMAX_PRE];
	size_t npre;
	/* The current batch's ARRAY JOIN items (their Alias nodes) and
	 * arrayJoin() calls bound to their elements, one row each (exec.c
	 * aj_expand); consulted first by xeval. */
	struct xbind aj[XMAX_AJ];
	size_t naj;
	int depth;

	struct sn_exec_stats *stats;

	const char *from;      /* the FROM table: events, persons, person_distinct_ids, groups, or
				* "subquery" (sub holds it) */
	const char *from_name; /* the FROM entry's alias or table name (Field ref_source) */
	const struct xtable *sub; /* a materialised subquery or CTE in FROM */
	struct xjoin *join;	  /* person store lookups (join.c), NULL until needed */
	struct xjmap *jmap;	  /* columns of an explicit JOIN's table (hashjoin.c) */
	struct xsess *sess;	  /* events.session's built side (sessions.c), NULL until built */
	/* The Field node whose UUID column may evaluate to its bits without
	 * text (a streamed select item, exec.c emit_sink), or NULL. */
	const node_t *uuid_bits_ok;
	/* The table a statement without FROM reads instead of system.one: the
	 * rows and window columns of window.c's outer statement, or NULL. */
	const struct xtable *win_from;
};

/* PostHog's channel definition table (channel.c): one row per (kind, key),
 * the values NULL where PostHog's table has null. */
enum sn_channel_kind { SN_CHANNEL_MEDIUM, SN_CHANNEL_SOURCE };
struct sn_channel_def {
	const char *key;
	size_t len;
	enum sn_channel_kind kind;
	const char *domain_type, *type_if_paid, *type_if_organic;
};
const struct sn_channel_def *sn_channel_find(enum sn_channel_kind kind, const char *key,
					     size_t len);
size_t sn_channel_count(void);
const struct sn_channel_def *sn_channel_at(size_t i);

/* Errors: set c->err (class, sentence, character span of at) and c->rc;
 * the first error wins. Return c->rc. */
/* The query's time limit and its client (opts->cancelled): a QueryError
 * once either ran out. Called between batches by every long loop. */
int xcheck_budget(struct xctx *c);
int xfail(struct xctx *c, const node_t *at, int code, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
int xunsupported(struct xctx *c, const node_t *at, const char *what);
/* Maps an allocation failure to the memory-budget error. */
int xnomem(struct xctx *c);
void *xalloc(struct xctx *c, struct sn_arena *a, size_t n);
/* A condition: xeval, and a type that can be one (eval.c). */
int xeval_cond(struct xctx *c, const node_t *n, struct vec *out);
/* A condition of the coded column x alone (x->v.cdict set), computed once
 * per entry: (*truth)[k] is whether entry k makes n true (batch arena). */
int xeval_cond_entries(struct xctx *c, const node_t *n, struct xcol *x, uint8_t **truth);
/* Whether n is a WHERE term the granule index answered true for this run. */
bool xknown_true(const struct xctx *c, const node_t *n);

/* Vectors (eval.c). */
int vec_make(struct xctx *c, struct vec *v, uint8_t t, bool nullable, size_t n);
/* vec_make without zeroing the values (NULL flags are still set): for
 * callers that write every row. */
int vec_make_raw(struct xctx *c, struct vec *v, uint8_t t, bool nullable, size_t n);
int vec_gather(struct xctx *c, const struct vec *in, const uint32_t *idx, size_t m,
	       struct vec *out);
/* A UUID vector of n rows holding 128 bits per row (v->u), text not made. */
int vec_make_uuid_bits(struct xctx *c, struct vec *v, bool nullable, size_t n);
/* Makes v->s from v->u when it is not made yet (the batch's arena). */
int vec_uuid_text(struct xctx *c, struct vec *v);
/* v, a UUID vector, as its bits only (v->u; text parsed when it has no
 * bits); other types are left alone. */
int vec_uuid_bits(struct xctx *c, struct vec *v);
/* n over v standing in for column x's batch (v->n rows), the batch
 * restored afterwards. */
int eval_with_column(struct xctx *c, struct xcol *x, const struct vec *v, const node_t *n,
		     struct vec *out);
static inline bool vec_null(const struct vec *v, size_t r)
{
	return v->nulls && v->nulls[r];
}
/* Evaluates n over the current batch (c->n rows) into out. */
int xeval(struct xctx *c, const node_t *n, struct vec *out);
/* Row r of v as a value; strings copied into a when a is not NULL. */
int vec_value(struct xctx *c, const struct vec *v, size_t r, struct sn_arena *a,
	      struct sn_exec_value *out);
/* Builds a vector of type t from values. */
int vec_from_values(struct xctx *c, uint8_t t, bool nullable, const struct sn_exec_value *vals,
		    size_t stride, size_t n, struct vec *out);
/* Row r is true: not NULL and not zero (inline: WHERE loops call it per row). */
static inline bool vec_truth(const struct vec *v, size_t r)
{
	if (v->nulls && v->nulls[r])
		return false;
	if (v->f)
		return v->f[r] != 0;
	return v->i && v->i[r] != 0;
}
/* The property key of a properties.X / properties['X'] node, NULL if n is
 * not such a node; sets *bad when it is a property access this slice does
 * not support (nested paths, integer subscripts). */
const char *prop_key(const node_t *n, bool *bad);
/* The store column of a Field of events, NULL if n is none. */
const char *field_column(const node_t *n);
/* n printed as HogQL (the identity of an expression: GROUP BY keys,
 * aggregates, window inputs), in the query arena; NULL after xnomem. */
char *xnode_text(struct xctx *c, const node_t *n);
/* Follows a SELECT alias reference to its expression, or returns n. */
const node_t *follow_alias(const struct sn_hogql_select *sel, const node_t *n);
bool is_aggregate_call(const node_t *n);
bool xconst_tree(const node_t *n, bool statements); /* exec.c */
/* Parses the date/time text forms ClickHouse reads ("2024-01-02",
 * "2024-01-02 03:04:05[.ffffff]", with 'T' and a trailing 'Z'). */
bool parse_datetime(const char *s, size_t len, int64_t *us, bool *date_only);
int64_t floor_div(int64_t a, int64_t b);

/* Helpers of eval.c the function files (fn_*.c) share. */
bool is_intlike(uint8_t t); /* BOOL, INT, UINT */
bool is_numeric(uint8_t t); /* is_intlike or FLOAT */
bool is_text(uint8_t t);    /* STRING or UUID */
/* Row r of a numeric vector as a double. */
static inline double num_at(const struct vec *v, size_t r)
{
	if (v->f)
		return v->f[r];
	/* UInt64 values keep their bits in i: read them unsigned (hashes). */
	return v->t == SN_XT_UINT ? (double)(uint64_t)v->i[r] : (double)v->i[r];
}
/* out->nulls[r] = a or b NULL at r (b may be NULL); no-op when out is not nullable. */
void merge_nulls(struct vec *out, const struct vec *a, const struct vec *b);
/* Row r of in into out (same or wider type; NULL when in is NULL there). */
void copy_cell(struct vec *out, size_t r, const struct vec *in);
/* The common type of v[0..nv) (equal, numeric widening, text, or NULL);
 * an error naming n when there is none. */
int unify_branches(struct xctx *c, const node_t *n, struct vec *v, size_t nv, uint8_t *t);
/* The ct of the first DECIMAL of v[0..nv) (unify_branches made them one
 * type), or NULL: the caller's result vector takes it. */
const char *branch_ct(const struct vec *v, size_t nv);
/* Checks a plain call has min..max arguments (and no parameters, FILTER,
 * ORDER BY or DISTINCT); the error names the function. */
int need_args(struct xctx *c, const node_t *n, size_t min, size_t max);
/* ClickHouse's shortest round-tripping text of a Float64. */
int fmt_float(char *buf, size_t len, double x);
/* Whole-text parses as toInt / toFloat accept them (false = NULL). */
bool parse_int_text(const char *s, size_t len, int64_t *out);
bool parse_float_text(const char *s, size_t len, double *out);
/* Days since the epoch of a UTC instant in µs. */
int64_t day_of_us(int64_t us);

/* Function families in their own files. Each returns false when n is not
 * one of its functions (the caller tries the next), true when it is, with
 * *rc = 0 and out filled, or *rc = c->rc after an error. */
bool xfn_date(struct xctx *c, const node_t *n, struct vec *out, int *rc);   /* fn_date.c */
bool xfn_scalar(struct xctx *c, const node_t *n, struct vec *out, int *rc); /* fn_scalar.c */
bool xfn_math(struct xctx *c, const node_t *n, struct vec *out, int *rc);   /* fn_math.c */
bool xfn_text(struct xctx *c, const node_t *n, struct vec *out, int *rc);   /* fn_text.c */
bool xfn_vector(struct xctx *c, const node_t *n, struct vec *out, int *rc); /* fn_vector.c */
/* finalizeAggregation (agg.c) */
bool xfn_aggstate(struct xctx *c, const node_t *n, struct vec *out, int *rc);

/* The mark exec.c puts in a Call's op (which calls do not use) on an
 * untuple() that is a select item of the outermost statement; compared
 * by address. */
extern const char SN_EXEC_UNTUPLE_TOP[];

/* Decimal(P, S) (decimal.c): the value × 10^S in a vector's i, P and S in
 * its ct, which is always one of xdec_ct's interned names. */
#define XDEC_MAX_PREC  38 /* Decimal128; kept in Int64 (decimal.c) */
#define XDEC_MAX_SCALE 18
extern const int64_t xdec_p10[19];
/* "Decimal(P, S)", interned (never freed; compare by pointer or text). */
const char *xdec_ct(unsigned prec, unsigned scale);
unsigned xdec_scale(const struct vec *v);
unsigned xdec_prec(const struct vec *v);
/* A type name (Decimal, Decimal(P[, S]), Decimal32/64/128(S), any case):
 * 0 with prec and scale; < 0 with *is_dec when it names a Decimal that is
 * malformed (-2) or not supported (-3, why says which), *is_dec false
 * when it is no Decimal. */
int xdec_parse_type(const char *t, unsigned *prec, unsigned *scale, bool *is_dec, char *why,
		    size_t whylen);
/* ClickHouse's text of a decimal (no trailing zeros). */
int xdec_format(char *buf, size_t len, int64_t v, unsigned scale);
/* v / 10^S as ClickHouse converts a Decimal to Float64. */
double xdec_to_double(int64_t v, unsigned scale);
/* The double nearest the exact value (Python's float(Decimal)). */
double xdec_to_double_exact(int64_t v, unsigned scale);
enum xdec_fail { XDEC_ERROR, XDEC_NULL, XDEC_ZERO };
/* v (numbers, String, Decimal) as Decimal(prec, scale); a value that does
 * not convert fails the query, is NULL or is 0 (fail). */
int xdec_convert(struct xctx *c, const node_t *n, const struct vec *v, unsigned prec,
		 unsigned scale, enum xdec_fail fail, struct vec *out);
/* a op b (+ - * / %) where one is a DECIMAL, with ClickHouse's types. */
int xdec_arith(struct xctx *c, const node_t *n, char op, struct vec *a, struct vec *b,
	       struct vec *out);
/* Whether types a and b compare with xdec_cmp_at (one a DECIMAL). */
bool xdec_comparable(uint8_t a, uint8_t b);
/* -1/0/1 of row r of a and b, non-null, one a DECIMAL: exact across scales
 * and integers; as Float64 against a Float64. */
int xdec_cmp_at(const struct vec *a, const struct vec *b, size_t r);
/* Brings branches v[0..nv) (decimals, integers, NULLs) to their common
 * Decimal type *ct, in place. */
int xdec_common(struct xctx *c, const node_t *n, struct vec *v, size_t nv, const char **ct);
/* v as Decimal type ct (an xdec_ct name); NULL vectors stay. */
int xdec_rescale(struct xctx *c, const node_t *n, struct vec *v, const char *ct);
/* round (op 0), floor, ceil, trunc, roundBankers (4) to the digits of dv
 * (NULL: 0), abs (5), negate (6), sign (7) of the Decimal v. */
int xdec_unary(struct xctx *c, const node_t *n, int op, const struct vec *v, const struct vec *dv,
	       struct vec *out);
/* v, when a DECIMAL, as Float64 (value / 10^S) in place. */
int xdec_float(struct xctx *c, struct vec *v);
bool xfn_decimal(struct xctx *c, const node_t *n, struct vec *out, int *rc); /* decimal.c */

/* Arrays and tuples (array.c; the encoding is in its file comment). */
/* The ClickHouse name of a value type (ct for ARRAY/TUPLE), Nullable()
 * when nullable, in the query arena; NULL after an error. */
const char *xtype_name(struct xctx *c, uint8_t t, bool nullable, const char *ct);
/* "Map(<key type>, <value type>)" (a Map is an Array of (key, value) tuples). */
const char *xmap_type(struct xctx *c, uint8_t kt, const char *kct, uint8_t vt, bool vnull,
		      const char *vct);
/* "Array(<element type>)". */
const char *xarr_type(struct xctx *c, uint8_t et, bool enull, const char *ect);
/* Element k's type of the composite type ct (0 for an Array's). */
int xarr_elem(struct xctx *c, const char *ct, size_t k, uint8_t *t, bool *nullable,
	      const char **ect);
/* A tuple type's element count (0 when ct is none). */
size_t xtuple_arity(const char *ct);
/* Appends one encoded element. */
int xarr_put(struct sn_buf *b, const struct sn_exec_value *x);
/* Iterates an encoded array's or tuple's elements (strings point into it). */
struct xait {
	const uint8_t *p, *end;
	uint32_t left;
};
bool xait_init(struct xait *it, struct sn_str s);
bool xait_next(struct xait *it, struct sn_exec_value *out);
uint32_t xarr_count(struct sn_str s);
/* The elements of arr's n arrays as one vector (batch arena): row r's
 * are elems[off[r] .. off[r+1]), (*row_of)[k] is element k's row (a NULL
 * array has none). row_of and off may be NULL. */
int xarr_flatten(struct xctx *c, const struct vec *arr, struct vec *elems, uint32_t **row_of,
		 uint32_t **off);
/* n arrays, row r's elements elems[off[r] .. off[r+1]). */
int xarr_build(struct xctx *c, const struct vec *elems, const uint32_t *off, size_t n,
	       struct vec *out);
/* Strings collected row by row into arrays of strings (splitBy*, tokens,
 * URL pieces): off[r] set by the caller before row r's parts, then
 * xparts_array makes the n arrays. Batch arena. */
struct xparts {
	struct sn_str *s;
	size_t n, cap;
	uint32_t *off;
};
int xparts_init(struct xctx *c, struct xparts *ps);
int xparts_add(struct xctx *c, struct xparts *ps, const char *p, size_t len);
int xparts_array(struct xctx *c, struct xparts *ps, struct vec *out);
/* Value x into row r of out (out's type; numbers widen, NULL sets the flag). */
void vec_put_value(struct vec *out, size_t r, const struct sn_exec_value *x);
/* Array and Tuple literals, subscripts and tuple access. */
int xeval_array_node(struct xctx *c, const node_t *n, struct vec *out);
/* Applies lambda lam to the m elements args[0..nargs) (each m long),
 * whose rows are row_of: the body's value per element. */
int xlambda_apply(struct xctx *c, const node_t *lam, const struct vec *args, size_t nargs,
		  const uint32_t *row_of, size_t m, struct vec *out);
/* A lambda parameter's elements. */
int xlambda_param(struct xctx *c, const node_t *n, struct vec *out);
/* Array functions (array.c), as xfn_date. */
bool xfn_array(struct xctx *c, const node_t *n, struct vec *out, int *rc);

/* Time zones and date arithmetic (fn_date.c). */
/* The query's zone (loaded once per context); NULL and an error naming at
 * when the project's zone is unknown. */
const struct sn_tz *xzone(struct xctx *c, const node_t *at);
/* The zone v's DateTimes read in: its own, or the query's. */
const struct sn_tz *xvec_zone(struct xctx *c, const struct vec *v, const node_t *at);
/* Wall-clock µs (since 1970-01-01 00:00 local) of the instant us in z. */
int64_t xwall(const struct sn_tz *z, int64_t us);
/* Date/time text as toDateTime reads it: ISO-ish forms, a trailing Z or
 * offset, unix seconds; text without a zone is wall time in z. */
bool xparse_instant(const struct sn_tz *z, const char *s, size_t len, int64_t *us, bool *date_only);
/* arith() with an INTERVAL operand (ln or rn a toInterval* call): false
 * when neither is one; true with *rc = 0 and out filled, or *rc = c->rc. */
bool xdate_arith_interval(struct xctx *c, const node_t *n, char op, const node_t *ln,
			  const node_t *rn, struct vec *out, int *rc);
/* arith() when a or b is a Date or DateTime: ± integers (days, seconds),
 * Date - Date (days), DateTime - DateTime (seconds); others an error. */
int xdate_arith(struct xctx *c, const node_t *n, char op, struct vec *a, struct vec *b,
		struct vec *out);
/* "YYYY-MM-DD hh:mm:ss.ffffff" of the instant us in z (toString). */
int xfmt_datetime_local(char *buf, size_t cap, int64_t us, const struct sn_tz *z);

/* Values (output.c). */
int value_cmp(const struct sn_exec_value *a, const struct sn_exec_value *b);
/* ClickHouse's order of UUIDs, for two 36-character texts: "due to
 * historical reasons, UUIDs are sorted by their second half" (its UUID is a
 * UInt128 whose high word is the text's last 16 hex digits), then by the
 * first. Each half compares as its hex text does: lower-case digits in
 * fixed places sort as the numbers they spell. */
static inline int uuid_text_cmp(const char *a, const char *b)
{
	int d = memcmp(a + 19, b + 19, 17);
	if (!d)
		d = memcmp(a, b, 18);
	return d < 0 ? -1 : d > 0;
}
/* Appends ClickHouse's text of an array or tuple ([1,2], ('a',[])) to b. */
int value_text(struct sn_buf *b, const struct sn_exec_value *v);
/* The same, read as ClickHouse type ct (NULL: untyped): Maps as {'k':v}. */
int value_text_typed(struct sn_buf *b, const struct sn_exec_value *v, const char *ct);
/* Appends a value's canonical bytes to b (for hashing keys and rows). */
int value_key(struct sn_buf *b, const struct sn_exec_value *v);

/* Rewrites every `x [NOT] IN COHORT c` of the parsed statement into an IN
 * over the cohort's member table, and every matchesAction() into the
 * action's condition (rewrite.c); before resolving. */
int exec_rewrite_cohorts(struct xctx *c, struct sn_arena *a, node_t *ast);

/* Column references and joins (join.c). */
/* The static name of a table this executor reads (events or a person-store
 * table), or NULL. */
const char *join_table_name(const char *name);
/* 1 and *r filled when n reads a column of the FROM table (directly or
 * through a lazy join), 0 when n is no column reference, < 0 (c->rc) for a
 * reference this executor does not support. */
int xref_of(struct xctx *c, const node_t *n, struct xref *r);
/* A nested property's value from its top property's values (in, a string
 * vector: each the property's raw JSON, one pair of quotes stripped), with
 * PostHog's semantics: the member reached by the path as raw JSON (as
 * JSONExtractRaw gives it: a key names an object's member, an index an
 * array's element or an object's member), one pair of quotes stripped; NULL
 * when the path leads nowhere or to a null (fn_scalar.c). */
int xjson_prop_path(struct xctx *c, const struct vec *in, const struct xpath_el *path, size_t np,
		    struct vec *out);
/* events.person_mode from each event's properties (props, the whole
 * properties text): 'propertyless' when $process_person_profile is the JSON
 * literal false, else 'full' (the string "false" is not false: ingestion
 * processes the person then, as PostHog does). */
int xjson_person_mode(struct xctx *c, const struct vec *props, struct vec *out);
/* Type of a joined or person-store column. */
void xref_type(const struct xref *r, uint8_t *t, bool *nullable);
/* Index of the planned column r, or -1 (eval.c). */
int xcol_find(const struct xctx *c, const struct xref *r);
/* Loads the override map once per query (when person_id is read). */
int join_prepare(struct xctx *c);
/* Reads the team's every person into the person side before a scan splits
 * over threads, extracting each joined person property once, and freezes
 * it: from then on probes only read it (a person the team lacks reads
 * NULL), so scanner threads can share it. Returns 0 and *ok (false when
 * the team has more than max_persons persons: the scan stays on one
 * thread), or c->rc. */
int join_freeze_persons(struct xctx *c, int64_t max_persons, bool *ok);
/* Computes column x (XC_PERSON_ID, XC_PERSON, XC_PDI, XC_GROUP) for the
 * current batch of c->n rows from the column it depends on. */
int join_fill(struct xctx *c, struct xcol *x);
/* Scans a person-store table for the team in batches, calling fn per batch
 * (c->n rows, XC_TABLE columns filled). */
int join_scan_table(struct xctx *c, int (*fn)(struct xctx *c, void *arg), void *arg);
void join_release(struct xctx *c);

/* Window functions (window.c). */
/* Whether the SELECT root holds window functions or a WINDOW clause
 * (anywhere in its own expressions): exec_select then runs it through
 * win_select. A walk over the statement's expressions; allocates nothing. */
bool win_wanted(const node_t *root);
/* Runs root, a SELECT with window functions, in c into out: an inner
 * statement for its rows, the window columns, then an outer statement
 * for DISTINCT, ORDER BY and LIMIT (window.c's file comment). */
int win_select(struct xctx *c, const node_t *root, bool top, struct xtable *out);
/* The §4.8 name of a select item (exec.c). */
const char *column_name(struct xctx *c, const node_t *e);

/* Statements (exec.c, subquery.c). */
/* Runs one SELECT in c (a fresh context from sub_child) into out. top:
 * the statement or a member of the statement the user sent, so LIMIT
 * defaults apply; nested statements are unlimited unless they say. */
int exec_select(struct xctx *c, const node_t *root, bool top, struct xtable *out);
/* Runs a SELECT or a UNION ALL set nested in parent's statement (or the
 * whole query when parent is the root context) into out. */
int sub_run(struct xctx *parent, const node_t *root, bool top, struct xtable *out);
/* Parses and resolves statement text the executor generated (c's team), a
 * SELECT whose default LIMIT is dropped, for sub_run. SN_ERR_NOMEM after
 * xnomem; another rc with e for the caller to report. */
int sub_generated(struct xctx *c, const char *text, node_t **root, struct sn_hogql_error *e);
/* The column of the FROM subquery's result named name, as a reference
 * (XC_SUB); false when there is none. */
bool sub_field(const struct xctx *c, const char *name, struct xref *r);
/* The FROM entry of c's SELECT when it is a subquery or a CTE name:
 * materialises it into c->sub. 1 when it was one, 0 when not, < 0 error. */
int sub_from(struct xctx *c, const node_t *j);
/* SELECT * over a subquery or CTE: *sel becomes a copy (query arena) with
 * every `*` replaced by the subquery's columns, in order. */
int sub_expand_star(struct xctx *c, const struct sn_hogql_select **sel);
/* *sel with each `*` of its select list replaced by make(c, star, k, arg)
 * for k < per (a copy in the query arena; unchanged without a `*`). make
 * returns NULL on failure (out of memory when c->rc is not set). */
/* A new Field node (query arena) whose chain is the one name, not yet
 * resolved; NULL when out of memory. */
node_t *xfield_named(struct xctx *c, const char *name);
int expand_stars(struct xctx *c, const struct sn_hogql_select **sel, size_t per,
		 node_t *(*make)(struct xctx *c, const node_t *star, size_t k, void *arg),
		 void *arg);
/* Feeds the rows of c->sub to fn in batches (XC_SUB columns filled). */
int sub_scan(struct xctx *c, int (*fn)(struct xctx *c, void *arg), void *arg);
/* xref_of for a Field naming a column of the FROM subquery. */
int sub_ref(struct xctx *c, const node_t *n, struct xref *r);
/* expr [NOT] IN (SELECT ...): a hash set built once per query. */
int sub_in(struct xctx *c, const node_t *n, bool negate, struct vec *out);
/* For a scan of a person-store table: when c's WHERE is, or ANDs, `field
 * IN (SELECT ...)` over that table's field, the subquery's text values as
 * NUL-terminated keys (query arena), so the scan reads only those rows
 * (WHERE still runs on them). 1 with *keys, 0 when there is no such term,
 * < 0 (c->rc) on error. */
int sub_in_keys(struct xctx *c, const char *field, const char ***keys, size_t *n);
/* (SELECT ...) as a value: one column, at most one row (NULL when none). */
int sub_scalar(struct xctx *c, const node_t *n, struct vec *out);
/* The expression of `WITH expr AS name` that Field n names, or NULL. */
const node_t *sub_cte_expr(const struct xctx *c, const node_t *n);
/* follow_alias, then column CTEs of c's statement and its parents. */
const node_t *xfollow_alias(const struct xctx *c, const node_t *n);

/* Join keys normalised as IN (SELECT ...) normalises them (subquery.c):
 * the class of a key pair (0 = types that never compare equal), and the
 * key bytes of v in b (0 when v can equal nothing). */
int sub_key_class(uint8_t a, uint8_t b);
int sub_key(struct sn_buf *b, int cls, const struct sn_exec_value *v, bool *nomem);

/* Explicit JOINs (hashjoin.c). */
struct xjmap;
/* The FROM of c's SELECT when it is a chain of explicit JOINs: runs every
 * side, joins them into one table in c->sub and maps the columns the
 * statement names onto it (c->jmap). 1 when it was a join, 0 when not,
 * < 0 error. */
int hj_from(struct xctx *c, const node_t *j);
/* xref_of for a statement over a join: 1 and *r (XC_SUB) for a column of
 * a join side, 0 for anything else. */
int hj_ref(struct xctx *c, const node_t *n, struct xref *r);

/* Sessions (sessions.c): the derived sessions table and events.session. */
struct xsess;
/* sessions or raw_sessions. */
bool sess_is_table(const char *name);
/* The FROM entry j when it is sessions or raw_sessions: materialises the
 * fields c's SELECT reads into c->sub (a generated aggregate over the
 * team's events). 1 when it was, 0 when not, < 0 error. */
int sess_from(struct xctx *c, const node_t *j);
/* xref_of for the chain ch (qualifier dropped) of a FROM sessions field. */
int sess_ref(struct xctx *c, const node_t *n, const char *const *ch, size_t nch, struct xref *r);
/* xref_of for events' chain session.<field> (ch[0] = "session"). */
int sess_join_ref(struct xctx *c, const node_t *n, const char *const *ch, size_t nch,
		  struct xref *r);
/* Static type of session.<name> (always nullable: a miss reads NULL). */
void sess_type(const char *name, uint8_t *t, bool *nullable);
/* Builds the side of every XC_SESSION column of c once, before the scan;
 * afterwards it is read-only (scanner threads share it). */
int sess_prepare(struct xctx *c);
/* Computes XC_SESSION column x for the current batch from $session_id. */
int sess_fill(struct xctx *c, struct xcol *x);

/* Hash table (agg.c). cap: slots to start with, a power of two (the
 * table doubles whenever it is half full). */
int gtab_init(struct xctx *c, struct gtab *t, size_t cap);
/* The id of key (inserted with the next id when new, the bytes copied into
 * the query arena; *isnew set). Fails only on the memory budget, past 2^31
 * keys or 16 GiB of them, or for a key over 256 MiB. */
int gtab_find(struct xctx *c, struct gtab *t, const void *key, size_t len, uint32_t *id,
	      bool *isnew);
/* The id of key if present: 1 found, 0 absent. Never allocates. */
int gtab_get(const struct gtab *t, const void *key, size_t len, uint32_t *id);

#endif
