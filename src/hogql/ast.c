/*
 * ast.c — HogQL AST nodes: allocation and names.
 *
 * The AST is one node struct with a kind tag and a handful of generic slots
 * (a, b, c, d, list, list2, ...) whose meaning per kind is written down in
 * hogql.h; only SelectQuery, with its twenty clauses, gets a side struct.
 * Nodes are bump-allocated in the query's arena and never freed one by one,
 * so there is no destructor: the tree dies with the arena.
 *
 * Rejected alternative: one C struct per PostHog node class. It reads nicer
 * for the resolver, but thirty-eight structs, constructors and JSON writers
 * triple the code for the same information; accessors can be added on top
 * when the resolver needs them.
 */
#include <string.h>

#include "hogql/hogql.h"

static const char *const kind_names[] = {
    [SN_HQ_CONSTANT] = "Constant",
    [SN_HQ_FIELD] = "Field",
    [SN_HQ_ALIAS] = "Alias",
    [SN_HQ_CALL] = "Call",
    [SN_HQ_EXPR_CALL] = "ExprCall",
    [SN_HQ_ARITH] = "ArithmeticOperation",
    [SN_HQ_COMPARE] = "CompareOperation",
    [SN_HQ_AND] = "And",
    [SN_HQ_OR] = "Or",
    [SN_HQ_NOT] = "Not",
    [SN_HQ_BETWEEN] = "BetweenExpr",
    [SN_HQ_IS_DISTINCT] = "IsDistinctFrom",
    [SN_HQ_TUPLE] = "Tuple",
    [SN_HQ_ARRAY] = "Array",
    [SN_HQ_DICT] = "Dict",
    [SN_HQ_ARRAY_ACCESS] = "ArrayAccess",
    [SN_HQ_ARRAY_SLICE] = "ArraySlice",
    [SN_HQ_TUPLE_ACCESS] = "TupleAccess",
    [SN_HQ_LAMBDA] = "Lambda",
    [SN_HQ_PLACEHOLDER] = "Placeholder",
    [SN_HQ_TYPE_CAST] = "TypeCast",
    [SN_HQ_TRY_CAST] = "TryCast",
    [SN_HQ_NAMED_ARG] = "NamedArgument",
    [SN_HQ_POSITIONAL_REF] = "PositionalRef",
    [SN_HQ_COLUMNS] = "ColumnsExpr",
    [SN_HQ_WINDOW_FUNCTION] = "WindowFunction",
    [SN_HQ_WINDOW_EXPR] = "WindowExpr",
    [SN_HQ_WINDOW_FRAME] = "WindowFrameExpr",
    [SN_HQ_ORDER_EXPR] = "OrderExpr",
    [SN_HQ_SELECT] = "SelectQuery",
    [SN_HQ_SELECT_SET] = "SelectSetQuery",
    [SN_HQ_SELECT_SET_NODE] = "SelectSetNode",
    [SN_HQ_CTE] = "CTE",
    [SN_HQ_JOIN] = "JoinExpr",
    [SN_HQ_JOIN_CONSTRAINT] = "JoinConstraint",
    [SN_HQ_SAMPLE] = "SampleExpr",
    [SN_HQ_RATIO] = "RatioExpr",
    [SN_HQ_LIMIT_BY] = "LimitByExpr",
    [SN_HQ_WITH_FILL] = "WithFillExpr",
    [SN_HQ_INTERPOLATE] = "InterpolateExpr",
};

struct sn_hogql_node *sn_hogql_node_new(struct sn_arena *a, enum sn_hogql_kind kind)
{
	struct sn_hogql_node *n = sn_arena_alloc(a, sizeof(*n));
	if (!n)
		return NULL;
	memset(n, 0, sizeof(*n));
	n->kind = kind;
	if (kind == SN_HQ_SELECT) {
		n->sel = sn_arena_alloc(a, sizeof(*n->sel));
		if (!n->sel)
			return NULL;
		memset(n->sel, 0, sizeof(*n->sel));
	}
	return n;
}

const char *sn_hogql_kind_name(enum sn_hogql_kind kind)
{
	if ((size_t)kind < SN_ARRAY_LEN(kind_names) && kind_names[kind])
		return kind_names[kind];
	return "Unknown";
}
