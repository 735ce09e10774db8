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
	bool special;	  /* inf/nan: value printed as a string + value_type */

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
	 *   OrderExpr: a=expr, op=order
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

/* ---- JSON ------------------------------------------------------------------- */

/* Appends the AST in PostHog's JSON shape to b. With src (the text that was
 * parsed) nodes carry start/end {line, column, offset} like PostHog's output;
 * with src NULL positions are left out (PostHog's "internal" mode). Fails
 * only when b reaches its maximum. */
int sn_hogql_ast_json(struct sn_buf *b, const struct sn_hogql_node *n, const char *src, size_t len);
/* Appends {"error": msg, "type": ..., "start": N, "end": M}. */
int sn_hogql_error_json(struct sn_buf *b, const struct sn_hogql_error *err);

#endif
