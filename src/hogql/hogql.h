/*
 * hogql.h — PostHog's SQL dialect (HogQL): lexer, parser and the AST.
 *
 * A query text goes in, an arena-allocated AST comes out, shaped exactly like
 * the AST PostHog's own parser builds (@posthog/hogql-parser), so that
 * sn_hogql_ast_json() prints the same JSON PostHog prints. Every node knows
 * the byte span of source text it came from; nodes the parser invents while
 * desugaring (the 0 in `-x` = minus(0, x), the NULL of `IS NULL`) have none.
 *
 * Ownership: everything the parser returns lives in the arena the caller
 * passes; releasing the arena frees the whole tree. Nothing is global, so
 * parsing is thread-safe with one arena per thread.
 *
 * Errors: parse functions return 0 or a negative SN_ERR_* code. On a syntax
 * error (SN_ERR_INVALID) struct sn_hogql_error holds a sentence for the user,
 * PostHog's error class ("SyntaxError" or "NotImplementedError") and the
 * start/end character offsets (Unicode code points, 0-based) of the
 * offending text. Deep nesting is refused with an error, never a crash.
 */
#ifndef SN_HOGQL_H
#define SN_HOGQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Refuse queries longer than this (bytes) and nesting deeper than this. */
#define SN_HOGQL_MAX_QUERY_LEN (1u << 20)
#define SN_HOGQL_MAX_DEPTH     256

/* ---- lexer ------------------------------------------------------------------ */

enum sn_hogql_tok {
	SN_TOK_EOF = 0,
	SN_TOK_IDENT,	/* bare identifier or keyword; text is the source */
	SN_TOK_QIDENT,	/* `x` or "x"; text is decoded */
	SN_TOK_STRING,	/* 'x'; text is decoded */
	SN_TOK_INT,	/* decimal digits (a leading 0 is still decimal) */
	SN_TOK_HEX,	/* 0x1F */
	SN_TOK_BIN,	/* 0b101 */
	SN_TOK_FLOAT,	/* a literal with an exponent: 1e3, 1.5e-3, .5e2 */
	SN_TOK_FSTRING, /* f'...'; text is the raw body between the quotes */
	SN_TOK_PUNCT,	/* operator or punctuation; text is the source */
};

struct sn_hogql_token {
	enum sn_hogql_tok kind;
	const char *text; /* NUL-terminated, in the arena */
	size_t len;
	uint32_t start, end; /* byte offsets into the source, end exclusive */
	bool space_before;   /* whitespace or a comment precedes it */
};

struct sn_hogql_error {
	const char *type; /* "SyntaxError", "NotImplementedError" or "ParsingError" */
	char msg[512];
	uint32_t start, end; /* character offsets (code points) into the source */
};

/* Splits src into tokens (comments and whitespace dropped, EOF last).
 * Returns SN_ERR_INVALID with the position of the bad character on an
 * unknown character, an unterminated string or a bad escape;
 * SN_ERR_NOMEM/SN_ERR_TOO_BIG when the arena is exhausted. */
int sn_hogql_lex(struct sn_arena *a, const char *src, size_t len, struct sn_hogql_token **toks,
		 size_t *ntoks, struct sn_hogql_error *err);

/* ---- AST -------------------------------------------------------------------- */

enum sn_hogql_kind {
	SN_HQ_CONSTANT,
	SN_HQ_FIELD,
	SN_HQ_ALIAS,
	SN_HQ_CALL,
	SN_HQ_EXPR_CALL,
	SN_HQ_ARITH,
	SN_HQ_COMPARE,
	SN_HQ_AND,
	SN_HQ_OR,
	SN_HQ_NOT,
	SN_HQ_BETWEEN,
	SN_HQ_IS_DISTINCT,
	SN_HQ_TUPLE,
	SN_HQ_ARRAY,
	SN_HQ_DICT,
	SN_HQ_ARRAY_ACCESS,
	SN_HQ_ARRAY_SLICE,
	SN_HQ_TUPLE_ACCESS,
	SN_HQ_LAMBDA,
	SN_HQ_PLACEHOLDER,
	SN_HQ_TYPE_CAST,
	SN_HQ_TRY_CAST,
	SN_HQ_NAMED_ARG,
	SN_HQ_POSITIONAL_REF,
	SN_HQ_COLUMNS,
	SN_HQ_WINDOW_FUNCTION,
	SN_HQ_WINDOW_EXPR,
	SN_HQ_WINDOW_FRAME,
	SN_HQ_ORDER_EXPR,
	SN_HQ_SELECT,
	SN_HQ_SELECT_SET,
	SN_HQ_SELECT_SET_NODE,
	SN_HQ_CTE,
	SN_HQ_JOIN,
	SN_HQ_JOIN_CONSTRAINT,
	SN_HQ_SAMPLE,
	SN_HQ_RATIO,
	SN_HQ_LIMIT_BY,
	SN_HQ_WITH_FILL,
	SN_HQ_INTERPOLATE,
};

enum sn_hogql_const {
	SN_HQC_NULL,
	SN_HQC_BOOL,
	SN_HQC_INT,
	SN_HQC_FLOAT,
	SN_HQC_STRING,
	SN_HQC_BIGNUM, /* number that fits no int64 nor double, kept as text */
};

struct sn_hogql_node;
struct sn_hogql_table_def;
struct sn_hogql_field_def;

/* Value types of the virtual schema and of resolved expressions. ARG0/ARG1
 * only appear in the function table: "the type of argument 0/1". */
enum sn_hogql_type {
	SN_HQT_UNKNOWN = 0,
	SN_HQT_NULL,
	SN_HQT_BOOL,
	SN_HQT_INT,
	SN_HQT_FLOAT,
	SN_HQT_STRING,
	SN_HQT_UUID,
	SN_HQT_DATE,
	SN_HQT_DATETIME,
	SN_HQT_JSON, /* a properties column: JSON text, accessed by path */
	SN_HQT_ARRAY,
	SN_HQT_TUPLE,
	SN_HQT_INTERVAL,
	SN_HQT_ARG0,
	SN_HQT_ARG1,
};

/* The resolved type of an expression: base type and nullability. */
struct sn_hogql_rtype {
	uint8_t type; /* enum sn_hogql_type; 0 = not resolved / unknown */
	bool nullable;
	bool resolved; /* the resolver visited this node */
};

/* A counted array of nodes (or of strings, for chains and name lists). */
struct sn_hogql_list {
	struct sn_hogql_node **items;
	size_t n;
};
struct sn_hogql_strs {
	const char **items;
	size_t n;
};

/* One node. Which members are meaningful depends on kind; the comments give
 * the PostHog field names they print as. Lists may be absent (items NULL and
 * has_* false) where PostHog prints null. */
struct sn_hogql_node {
	enum sn_hogql_kind kind;
	bool has_pos;
	uint32_t start, end; /* byte offsets, end exclusive */

	/* Constant */
	enum sn_hogql_const ctype;
	bool bval;
	int64_t ival;
	double fval;
	const char *sval; /* string value, or the text of a BIGNUM/inf/nan */
	bool special;	  /* BIGNUM from a 64-bit binary literal: a bare JSON number */

	/* Generic slots; per kind:
	 *   Alias: a=expr, name=alias        Call: name, list=args, list2=params,
	 *   list3=order_by, a=filter_expr, flag=distinct, full=print call extras
	 *   ExprCall: a=expr, list=args      Arith/Compare/IsDistinct: a=left,
	 *   b=right, op (flag=is_null_comparison_style / negated)
	 *   And/Or/Tuple/Array: list=exprs   Not/Placeholder: a=expr
	 *   Between: a=expr, b=low, c=high, flag=negated
	 *   Dict: list=keys, list2=values    ArrayAccess: a=array, b=property,
	 *   flag=nullish                     ArraySlice: a=array, b=start, c=end
	 *   TupleAccess: a=tuple, ival=index, flag=nullish
	 *   Lambda: strs=args, a=expr        TypeCast/TryCast: a=expr, name=type
	 *   NamedArgument: name, a=value     PositionalRef: ival=index
	 *   Columns: sval=regex, list=columns, strs=exclude, flag=all_columns,
	 *   name=table prefix
	 *   WindowFunction: name, list=exprs, list2=args, a=over_expr,
	 *   op=over_identifier
	 *   WindowExpr: list=partition_by, list2=order_by, op=frame_method,
	 *   a=frame_start, b=frame_end
	 *   WindowFrameExpr: op=frame_type, a=frame_value (Constant or NULL)
	 *   OrderExpr: a=expr, op=order, b=with_fill (WithFillExpr or NULL)
	 *   WithFillExpr: a=from_value, b=to_value, c=step_value (each may be NULL)
	 *   InterpolateExpr: a=expr (Field), b=value
	 *   CTE: name, a=expr, op=cte_type, strs=columns
	 *   JoinExpr: a=table, list=table_args, name=alias, strs=column_aliases,
	 *   op=join_type, b=constraint, c=next_join, d=sample, flag=table_final
	 *   JoinConstraint: a=expr, op=constraint_type
	 *   SampleExpr: a=sample_value, b=offset_value   RatioExpr: a=left, b=right
	 *   LimitByExpr: a=n, b=offset_value, list=exprs
	 *   SelectSetQuery: a=initial_select_query, list=subsequent
	 *   SelectSetNode: a=select_query, op=set_operator */
	const char *name;
	const char *op;
	struct sn_hogql_node *a, *b, *c, *d;
	struct sn_hogql_list list, list2, list3;
	bool has_list, has_list2, has_list3;
	struct sn_hogql_strs strs;
	bool has_strs;
	bool flag;
	bool full;

	/* SelectQuery only. */
	struct sn_hogql_select *sel;

	/* Set by sn_hogql_resolve() on expression nodes (see "resolver"). */
	struct sn_hogql_rtype rtype;
	/* Field only: what the chain resolved to. */
	const struct sn_hogql_table_def *ref_table; /* table of the column, or NULL */
	const struct sn_hogql_field_def *ref_field; /* first schema field of the chain */
	const char *ref_source;			    /* FROM entry (alias or table name) */
	uint8_t ref_kind;			    /* enum sn_hogql_ref */
	/* A typed property's conversion (toFloat(x), ...) made by the
	 * resolver: the property Field it wraps. The wrapper keeps that
	 * field's column name, and HogQL text prints the field alone. */
	struct sn_hogql_node *typed_of;
};

struct sn_hogql_select {
	struct sn_hogql_list ctes; /* CTE nodes */
	bool has_ctes;
	bool distinct;
	struct sn_hogql_list select;
	struct sn_hogql_node *select_from; /* JoinExpr chain */
	const char *array_join_op;
	struct sn_hogql_list array_join_list;
	struct sn_hogql_node *prewhere, *where, *having, *qualify;
	struct sn_hogql_list group_by;
	bool has_group_by;
	const char *group_by_mode; /* "rollup", "cube", "all" or NULL */
	const char **window_names;
	struct sn_hogql_node **window_exprs;
	size_t nwindows;
	struct sn_hogql_list order_by;
	bool has_order_by;
	struct sn_hogql_list interpolate; /* InterpolateExpr nodes (ORDER BY ... INTERPOLATE) */
	bool has_interpolate;
	struct sn_hogql_node *limit_by, *limit, *offset;
	bool limit_with_ties;
};

/* Allocates a zeroed node of the given kind in a; NULL when the arena is full. */
struct sn_hogql_node *sn_hogql_node_new(struct sn_arena *a, enum sn_hogql_kind kind);
/* PostHog's name for a node kind ("SelectQuery", "Field", ...). */
const char *sn_hogql_kind_name(enum sn_hogql_kind kind);

/* ---- parser ----------------------------------------------------------------- */

/* Parses a whole SELECT statement (or set of them: UNION ALL, ...) / a single
 * expression. On success *out is a SelectQuery or SelectSetQuery node
 * (resp. any expression node) in the arena. */
int sn_hogql_parse_select(struct sn_arena *a, const char *src, size_t len,
			  struct sn_hogql_node **out, struct sn_hogql_error *err);
int sn_hogql_parse_expr(struct sn_arena *a, const char *src, size_t len, struct sn_hogql_node **out,
			struct sn_hogql_error *err);
/* True when word (any case) is one of the lexer keywords of spec §1.2. */
bool sn_hogql_is_keyword(const char *word);

/* ---- virtual schema (schema.c, spec §5) ----------------------------------- */

/* PostHog's PERSON_DEFAULT_DISPLAY_NAME_PROPERTIES (posthog/api/person.py),
 * in its order: the person properties a person's display name comes from
 * (the persons API's `name`, EventsQuery's person column). snout keeps no
 * per-team list. */
#define SN_PERSON_DISPLAY_NAME_KEYS \
	"email", "Email", "$email", "name", "Name", "username", "Username", "UserName"

enum sn_hogql_field_kind {
	SN_HQFK_COLUMN,	   /* a stored column of the given type */
	SN_HQFK_JSON,	   /* a properties column: any deeper chain is a property */
	SN_HQFK_LAZY_JOIN, /* a join to table `target` made on demand */
	SN_HQFK_TRAVERSER, /* an alias for the chain `target` ("pdi.person") */
	SN_HQFK_VIRTUAL,   /* a sub-table over this row's columns (poe, goe_N) */
	SN_HQFK_EXPR,	   /* an expression over this table's fields: `target` is its
			    * HogQL text, chains relative to the table; the resolver
			    * puts it in place of the field ($channel_type, $virt_*) */
};

struct sn_hogql_field_def {
	const char *name;
	uint8_t type; /* enum sn_hogql_type */
	bool nullable;
	uint8_t kind;	    /* enum sn_hogql_field_kind */
	const char *target; /* lazy join: table; traverser: dotted chain; virtual: table;
			     * expression: its HogQL text */
	bool hidden;	    /* left out of SELECT * */
};

struct sn_hogql_table_def {
	const char *name;
	const struct sn_hogql_field_def *fields;
	size_t nfields;
	bool team_guard; /* has team_id and is guarded (§4.6); false for numbers() */
	bool function;	 /* a table function (numbers(n)) */
};

/* Looks a virtual table up by name (exact, case-sensitive as in PostHog);
 * NULL when unknown. The tables are static and shared. */
const struct sn_hogql_table_def *sn_hogql_table_find(const char *name);
/* A field of t by name, NULL when it has none. */
const struct sn_hogql_field_def *sn_hogql_table_field(const struct sn_hogql_table_def *t,
						      const char *name);
/* The table a lazy join or virtual field leads to (internal ones included). */
const struct sn_hogql_table_def *sn_hogql_table_target(const struct sn_hogql_field_def *f);

/* ---- functions (functions.c, spec §7) -------------------------------------- */

#define SN_HQF_AGGREGATE	0x1
#define SN_HQF_WINDOW		0x2
#define SN_HQF_CASE_INSENSITIVE 0x4

struct sn_hogql_func {
	const char *name;
	int min_args, max_args;	    /* max -1 = variadic */
	int min_params, max_params; /* quantile(0.9)(x): params; max -1 = any */
	unsigned flags;		    /* SN_HQF_* */
	uint8_t result;		    /* enum sn_hogql_type, ARG0/ARG1 = that argument's */
};

/* The allow-listed function called name, or NULL. Aggregate combinators
 * (sumIf, uniqOrNull, ...) are derived into *tmp, which the result may point
 * to, so tmp must live as long as the result is used. */
const struct sn_hogql_func *sn_hogql_func_find(const char *name, struct sn_hogql_func *tmp);
/* The allow-listed name closest to name (two edits at most), or NULL. */
const char *sn_hogql_func_suggest(const char *name);
size_t sn_hogql_func_count(void);

/* ---- resolver (resolve.c, spec §4) ----------------------------------------- */

/* What a Field node's chain resolved to (node.ref_kind). */
enum sn_hogql_ref {
	SN_HQR_NONE = 0,
	SN_HQR_COLUMN,	     /* ref_table.ref_field, a stored column */
	SN_HQR_PROPERTY,     /* a path below a JSON column (ref_field is that column) */
	SN_HQR_LAZY,	     /* through a lazy join / traverser to another table */
	SN_HQR_SUBQUERY_COL, /* a column of a subquery or CTE in FROM */
	SN_HQR_ALIAS,	     /* a SELECT alias or a column CTE */
	SN_HQR_LAMBDA_ARG,   /* an argument of an enclosing lambda */
	SN_HQR_ASTERISK,     /* `*` or `t.*` */
	SN_HQR_EXPR,	     /* an expression field; the resolver replaces the node with
			      * the expression before it returns */
};

/* Typed properties (spec §4.2): where a property of events, persons or
 * groups has a declared type (a property definition), the resolver wraps
 * each one-key access to it, as PostHog's printer does: Numeric →
 * toFloat(x), Boolean → toBool(transform(toString(x), ['true', 'false'],
 * [1, 0], NULL)), DateTime → toDateTime(x); String and unknown stay text.
 * An access that is the direct argument of toFloatOrZero, toIntOrZero or
 * toFloatOrDefault (which parse text) is left alone. Properties of
 * subqueries and of `FROM groups` (no group index) are not typed. */
enum sn_hogql_prop_src {
	SN_HQP_EVENT = 1, /* the values of meta's enum sn_propdef_kind */
	SN_HQP_PERSON = 2,
	SN_HQP_GROUP = 3,
};
enum sn_hogql_prop_type {
	SN_HQPT_NONE = 0, /* the values of meta's enum sn_prop_type */
	SN_HQPT_STRING,
	SN_HQPT_NUMERIC,
	SN_HQPT_BOOLEAN,
	SN_HQPT_DATETIME,
};
struct sn_hogql_prop_types {
	/* The type of property name of src (group_index 0..4 for groups, else
	 * -1); SN_HQPT_NONE when unknown. Called once per access. */
	int (*lookup)(void *ctx, int src, int group_index, const char *name);
	void *ctx;
};

/* Values of `{name}` placeholders (the query API's `values`): names[i]'s
 * value is exprs[i], the text of a HogQL constant expression ('text', 12,
 * -1.5, true, NULL, [1, 'a']). The resolver parses it in place of the
 * placeholder, with the placeholder's position for errors. */
struct sn_hogql_values {
	const char *const *names;
	const char *const *exprs;
	size_t n;
};

struct sn_hogql_resolve_opts {
	int64_t team_id;
	int64_t default_limit;			      /* 0 = SN_HOGQL_DEFAULT_LIMIT */
	int64_t max_limit;			      /* 0 = SN_HOGQL_MAX_LIMIT */
	const struct sn_hogql_prop_types *prop_types; /* NULL: properties stay text */
	const struct sn_hogql_values *values;	      /* NULL: every placeholder is an error */
};

#define SN_HOGQL_DEFAULT_LIMIT 100
#define SN_HOGQL_MAX_LIMIT     50000

/* Resolves a parsed statement in place: every expression node gets its
 * rtype, every Field its ref_*; the outermost SELECT (each member of a
 * top-level UNION) gets the LIMIT of spec §4.7 — the default when absent,
 * the maximum when a constant is above it, min2(max, expr) otherwise. New
 * nodes go into a. src/len are the parsed text, for error positions.
 * Returns SN_ERR_INVALID with err filled ("QueryError", a sentence naming
 * the field, table or function, character offsets of the offending node)
 * for unknown tables, fields and functions, wrong arity, or aliasing to a
 * reserved name; SN_ERR_NOMEM when a is full. */
int sn_hogql_resolve(struct sn_arena *a, struct sn_hogql_node *root, const char *src, size_t len,
		     const struct sn_hogql_resolve_opts *opts, struct sn_hogql_error *err);
/* "String", "Nullable(Float64)", ...: the ClickHouse name of a resolved type. */
const char *sn_hogql_type_name(struct sn_hogql_rtype t, char *buf, size_t len);

/* ---- JSON ------------------------------------------------------------------- */

/* Appends the AST in PostHog's JSON shape to b. With src (the text that was
 * parsed) nodes carry start/end {line, column, offset} like PostHog's output;
 * with src NULL positions are left out (PostHog's "internal" mode). Fails
 * only when b reaches its maximum. */
int sn_hogql_ast_json(struct sn_buf *b, const struct sn_hogql_node *n, const char *src, size_t len);
/* Appends the AST as canonical HogQL text (print.c): parsing the text again
 * gives the same AST, positions aside. n is a statement (SelectQuery,
 * SelectSetQuery) or any expression. Fails only when b reaches its maximum.
 * Returns 1 (not an error) in the two known cases where the text may read
 * back differently: an f-string concat() holding a concat() that has no
 * f-string spelling, and a CAST type containing quoted tokens (print.c
 * explains). */
int sn_hogql_print(struct sn_buf *b, const struct sn_hogql_node *n);
/* The same for text that sn_hogql_parse_expr() reads back: a subquery at the
 * top is printed in parentheses. */
int sn_hogql_print_expr(struct sn_buf *b, const struct sn_hogql_node *n);
/* Appends {"error": msg, "type": ..., "start": N, "end": M}. */
int sn_hogql_error_json(struct sn_buf *b, const struct sn_hogql_error *err);

/* ---- ClickHouse printer (clickhouse.c, spec §4–§7) -------------------------- */

/* What the printer knows about one cohort (§4.9): the metadata lives in
 * the project database, not in ClickHouse. */
struct sn_hogql_cohort {
	int64_t id;
	const char *name;
	bool is_static; /* members in static_cohort_people, else cohort_people */
};

/* What the printed SQL is for: the team (guard of §4.6), the project's time
 * zone and week start (§4.5), and the ClickHouse server version, because
 * 18.16 (Debian's package, the test peer) lacks much that current versions
 * have. ch_major 0 means "current" (24.x). */
struct sn_hogql_ch_opts {
	int64_t team_id;
	const char *timezone;	/* IANA name; NULL = "UTC" */
	bool week_start_monday; /* toStartOfWeek(x) without a mode */
	int ch_major, ch_minor;
	/* The team's cohorts, for `IN COHORT id|'name'`; caller-owned, read
	 * only while printing. With none (ncohorts 0) a numeric id is looked
	 * up in both cohort tables (UNION ALL) and a name is an error; with a
	 * table, an id or name missing from it is a QueryError. */
	const struct sn_hogql_cohort *cohorts;
	size_t ncohorts;
};

/* String constants are not in the SQL text: the printer emits
 * %(hogql_val_N)s placeholders and collects the values here (arena-owned),
 * as PostHog's driver does. */
struct sn_hogql_ch_values {
	const char **items;
	size_t n, cap;
};

/* Prints a resolved statement (sn_hogql_resolve() must have run on root) as
 * ClickHouse SQL into sql, with the team guard on every table reference,
 * lazy joins expanded into guarded subqueries, NULL-safe comparisons, time
 * zones and function rewrites for the requested server version. src/len
 * are the parsed text (error offsets in characters), may be NULL/0.
 * Returns 0; SN_ERR_INVALID with err filled ("QueryError" for a query the
 * server can never run, "NotImplementedError" for what this printer or that
 * server version does not support, naming the version) and start/end of the
 * offending node; SN_ERR_NOMEM / SN_ERR_TOO_BIG when arena or buffer is full.
 * Never crashes on any resolved tree. */
int sn_hogql_print_clickhouse(struct sn_arena *a, const struct sn_hogql_node *root,
			      const struct sn_hogql_ch_opts *opts, struct sn_buf *sql,
			      struct sn_hogql_ch_values *values, const char *src, size_t len,
			      struct sn_hogql_error *err);
/* Appends sql with every %(hogql_val_N)s outside quotes and backticks
 * replaced by the value as an escaped ClickHouse string literal: what is
 * sent to a server without query parameters (18.16). SN_ERR_INVALID for a
 * placeholder without a value. */
int sn_hogql_ch_inline(struct sn_buf *out, const char *sql, size_t len,
		       const struct sn_hogql_ch_values *values);
/* Appends s as a ClickHouse string literal ('...' with \\, \' and control
 * characters escaped). */
int sn_hogql_ch_quote(struct sn_buf *out, const char *s, size_t len);

#endif
