/*
 * ast_json.c — the AST as the JSON PostHog's parser prints.
 *
 * The shape is PostHog's, field for field: node class names in "node",
 * snake_case field names, and the same rules for which keys appear. Those
 * rules are not uniform (they follow which fields PostHog's C++ JSON writer
 * emits per class): a plain SelectQuery always carries ctes/distinct/where/...
 * as null but limit/order_by only when set; a JoinExpr carries column_aliases
 * only when it has an alias; a Call built by desugaring (ifNull for ??) has
 * only name and args while a written call also has params, distinct,
 * filter_expr and order_by. The comments per kind below say which.
 *
 * Positions: PostHog prints {line, column, offset} for start and end, with
 * 1-based lines and 0-based code-point columns and offsets. Nodes store byte
 * offsets; a small index built once per call (line starts, and the count of
 * UTF-8 continuation bytes before each byte) converts them.
 *
 * Output is bounded by the caller's sn_buf maximum; recursion depth is
 * bounded by the parser's nesting limit (the tree cannot be deeper than the
 * text that produced it, plus a constant).
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hogql/hogql.h"

struct posindex {
	const char *src;
	size_t len;
	uint32_t *cont;	 /* cont[i] = continuation bytes in src[0..i) */
	uint32_t *lines; /* byte offsets where lines start */
	size_t nlines;
};

struct writer {
	struct sn_buf *b;
	struct posindex *pi;
	int rc;
};

static void put(struct writer *w, const char *s)
{
	if (w->rc == 0)
		w->rc = sn_buf_appends(w->b, s);
}

static void put_str(struct writer *w, const char *s)
{
	if (w->rc == 0)
		w->rc = sn_buf_append_json_str(w->b, s, strlen(s));
}

static void key(struct writer *w, const char *k)
{
	put(w, ",");
	put_str(w, k);
	put(w, ":");
}

static void put_pos(struct writer *w, uint32_t byte_off)
{
	struct posindex *pi = w->pi;
	size_t lo = 0, hi = pi->nlines;
	if (byte_off > pi->len)
		byte_off = (uint32_t)pi->len;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (pi->lines[mid] <= byte_off)
			lo = mid;
		else
			hi = mid;
	}
	uint32_t off = byte_off - pi->cont[byte_off];
	/* PostHog's column counts bytes of the line, its offset code points. */
	uint32_t col = byte_off - pi->lines[lo];
	if (w->rc == 0)
		w->rc = sn_buf_appendf(
		    w->b, "{\"line\":%zu,\"column\":%" PRIu32 ",\"offset\":%" PRIu32 "}", lo + 1,
		    col, off);
}

static void put_double(struct writer *w, double v)
{
	char tmp[64];
	/* Shortest text that reads back as the same double, like Python's repr. */
	int prec;
	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* Python switches to exponent form outside [1e-4, 1e16). */
	char e[64];
	snprintf(e, sizeof(e), "%.*e", prec - 1, v);
	int exp10 = atoi(strchr(e, 'e') + 1);
	if (exp10 >= -4 && exp10 < 16)
		snprintf(tmp, sizeof(tmp), "%.*f", prec - 1 - exp10 > 0 ? prec - 1 - exp10 : 0, v);
	else
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
	if (!strpbrk(tmp, ".eEn"))
		strcat(tmp, ".0");
	put(w, tmp);
}

static void node(struct writer *w, const struct sn_hogql_node *n);

static void node_or_null(struct writer *w, const struct sn_hogql_node *n)
{
	if (n)
		node(w, n);
	else
		put(w, "null");
}

static void list(struct writer *w, const struct sn_hogql_list *l)
{
	put(w, "[");
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			put(w, ",");
		node(w, l->items[i]);
	}
	put(w, "]");
}

static void list_or_null(struct writer *w, const struct sn_hogql_list *l, bool has)
{
	if (has)
		list(w, l);
	else
		put(w, "null");
}

static void strs(struct writer *w, const struct sn_hogql_strs *s)
{
	put(w, "[");
	for (size_t i = 0; i < s->n; i++) {
		if (i)
			put(w, ",");
		put_str(w, s->items[i]);
	}
	put(w, "]");
}

static void constant(struct writer *w, const struct sn_hogql_node *n)
{
	key(w, "value");
	switch (n->ctype) {
	case SN_HQC_NULL: put(w, "null"); break;
	case SN_HQC_BOOL: put(w, n->bval ? "true" : "false"); break;
	case SN_HQC_INT:
		if (w->rc == 0)
			w->rc = sn_buf_appendf(w->b, "%" PRId64, n->ival);
		break;
	case SN_HQC_FLOAT:
		if (isinf(n->fval) || isnan(n->fval)) {
			put_str(w, isnan(n->fval) ? "NaN" : n->fval < 0 ? "-Infinity" : "Infinity");
			key(w, "value_type");
			put_str(w, "number");
		} else {
			put_double(w, n->fval);
		}
		break;
	case SN_HQC_STRING: put_str(w, n->sval); break;
	case SN_HQC_BIGNUM:
		if (n->special) { /* a 64-bit binary literal: an unsigned number */
			put(w, n->sval);
			break;
		}
		put_str(w, n->sval);
		key(w, "value_type");
		put_str(w, "number");
		break;
	}
}

static void select_query(struct writer *w, const struct sn_hogql_select *s)
{
	key(w, "ctes");
	list_or_null(w, &s->ctes, s->has_ctes);
	key(w, "distinct");
	put(w, s->distinct ? "true" : "null");
	key(w, "select");
	list(w, &s->select);
	key(w, "select_from");
	node_or_null(w, s->select_from);
	if (s->array_join_op) {
		key(w, "array_join_op");
		put_str(w, s->array_join_op);
		key(w, "array_join_list");
		list(w, &s->array_join_list);
	}
	key(w, "prewhere");
	node_or_null(w, s->prewhere);
	key(w, "where");
	node_or_null(w, s->where);
	key(w, "group_by");
	list_or_null(w, &s->group_by, s->has_group_by);
	if (s->group_by_mode) {
		key(w, "group_by_mode");
		put_str(w, s->group_by_mode);
	}
	key(w, "having");
	node_or_null(w, s->having);
	key(w, "qualify");
	node_or_null(w, s->qualify);
	if (s->nwindows) {
		key(w, "window_exprs");
		put(w, "{");
		for (size_t i = 0; i < s->nwindows; i++) {
			if (i)
				put(w, ",");
			put_str(w, s->window_names[i]);
			put(w, ":");
			node(w, s->window_exprs[i]);
		}
		put(w, "}");
	}
	if (s->has_order_by) {
		key(w, "order_by");
		list(w, &s->order_by);
	}
	if (s->has_interpolate) {
		key(w, "interpolate");
		list(w, &s->interpolate);
	}
	if (s->limit_by) {
		key(w, "limit_by");
		node(w, s->limit_by);
	}
	if (s->limit) {
		key(w, "limit");
		node(w, s->limit);
	}
	if (s->limit_with_ties) {
		key(w, "limit_with_ties");
		put(w, "true");
	}
	if (s->offset) {
		key(w, "offset");
		node(w, s->offset);
	}
}

static void node(struct writer *w, const struct sn_hogql_node *n)
{
	put(w, "{\"node\":");
	put_str(w, sn_hogql_kind_name(n->kind));
	if (w->pi && n->has_pos) {
		key(w, "start");
		put_pos(w, n->start);
		key(w, "end");
		put_pos(w, n->end);
	}
	if (n->rtype.resolved) {
		/* Resolver annotations (sn_hogql_resolve), absent on a plain parse. */
		char tn[48];
		key(w, "type");
		put_str(w, sn_hogql_type_name(n->rtype, tn, sizeof(tn)));
		if (n->kind == SN_HQ_FIELD && n->ref_source && n->ref_source[0]) {
			key(w, "source");
			put_str(w, n->ref_source);
		}
		if (n->ref_field) {
			key(w, "column");
			put_str(w, n->ref_field->name);
		}
	}
	switch (n->kind) {
	case SN_HQ_CONSTANT: constant(w, n); break;
	case SN_HQ_FIELD:
		key(w, "chain");
		strs(w, &n->strs);
		break;
	case SN_HQ_ALIAS:
		key(w, "alias");
		put_str(w, n->name);
		key(w, "expr");
		node(w, n->a);
		break;
	case SN_HQ_CALL:
		key(w, "name");
		put_str(w, n->name);
		key(w, "args");
		list(w, &n->list);
		if (n->full) {
			key(w, "params");
			list_or_null(w, &n->list2, n->has_list2);
			key(w, "distinct");
			put(w, n->flag ? "true" : "false");
			key(w, "filter_expr");
			node_or_null(w, n->a);
			key(w, "order_by");
			list_or_null(w, &n->list3, n->has_list3);
		}
		break;
	case SN_HQ_EXPR_CALL:
		key(w, "expr");
		node(w, n->a);
		key(w, "args");
		list(w, &n->list);
		break;
	case SN_HQ_ARITH:
	case SN_HQ_COMPARE:
		key(w, "op");
		put_str(w, n->op);
		key(w, "left");
		node(w, n->a);
		key(w, "right");
		node(w, n->b);
		if (n->kind == SN_HQ_COMPARE && n->flag) {
			key(w, "is_null_comparison_style");
			put(w, "true");
		}
		break;
	case SN_HQ_IS_DISTINCT:
		key(w, "left");
		node(w, n->a);
		key(w, "right");
		node(w, n->b);
		key(w, "negated");
		put(w, n->flag ? "true" : "false");
		break;
	case SN_HQ_AND:
	case SN_HQ_OR:
	case SN_HQ_TUPLE:
	case SN_HQ_ARRAY:
		key(w, "exprs");
		list(w, &n->list);
		break;
	case SN_HQ_NOT:
	case SN_HQ_PLACEHOLDER:
		key(w, "expr");
		node(w, n->a);
		break;
	case SN_HQ_BETWEEN:
		key(w, "expr");
		node(w, n->a);
		key(w, "low");
		node(w, n->b);
		key(w, "high");
		node(w, n->c);
		key(w, "negated");
		put(w, n->flag ? "true" : "false");
		break;
	case SN_HQ_DICT:
		key(w, "items");
		put(w, "[");
		for (size_t i = 0; i < n->list.n; i++) {
			put(w, i ? ",[" : "[");
			node(w, n->list.items[i]);
			put(w, ",");
			node(w, n->list2.items[i]);
			put(w, "]");
		}
		put(w, "]");
		break;
	case SN_HQ_ARRAY_ACCESS:
		key(w, "array");
		node(w, n->a);
		key(w, "property");
		node(w, n->b);
		if (n->flag) {
			key(w, "nullish");
			put(w, "true");
		}
		break;
	case SN_HQ_ARRAY_SLICE:
		key(w, "array");
		node(w, n->a);
		if (n->b) {
			key(w, "start_expr");
			node(w, n->b);
		}
		if (n->c) {
			key(w, "end_expr");
			node(w, n->c);
		}
		break;
	case SN_HQ_TUPLE_ACCESS:
		key(w, "tuple");
		node(w, n->a);
		key(w, "index");
		if (w->rc == 0)
			w->rc = sn_buf_appendf(w->b, "%" PRId64, n->ival);
		if (n->flag) {
			key(w, "nullish");
			put(w, "true");
		}
		break;
	case SN_HQ_LAMBDA:
		key(w, "args");
		strs(w, &n->strs);
		key(w, "expr");
		node(w, n->a);
		break;
	case SN_HQ_TYPE_CAST:
	case SN_HQ_TRY_CAST:
		key(w, "expr");
		node(w, n->a);
		key(w, "type_name");
		put_str(w, n->name);
		break;
	case SN_HQ_NAMED_ARG:
		key(w, "name");
		put_str(w, n->name);
		key(w, "value");
		node(w, n->a);
		break;
	case SN_HQ_POSITIONAL_REF:
		key(w, "index");
		if (w->rc == 0)
			w->rc = sn_buf_appendf(w->b, "%" PRId64, n->ival);
		break;
	case SN_HQ_COLUMNS:
		if (n->sval) {
			key(w, "regex");
			put_str(w, n->sval);
		}
		if (n->has_list) {
			key(w, "columns");
			list(w, &n->list);
		}
		if (n->flag) {
			key(w, "all_columns");
			put(w, "true");
		}
		if (n->name) {
			key(w, "table");
			put_str(w, n->name);
		}
		if (n->has_strs) {
			key(w, "exclude");
			strs(w, &n->strs);
		}
		break;
	case SN_HQ_WINDOW_FUNCTION:
		key(w, "name");
		put_str(w, n->name);
		key(w, "exprs");
		list(w, &n->list);
		key(w, "args");
		list(w, &n->list2);
		if (n->a) {
			key(w, "over_expr");
			node(w, n->a);
		}
		if (n->op) {
			key(w, "over_identifier");
			put_str(w, n->op);
		}
		break;
	case SN_HQ_WINDOW_EXPR:
		key(w, "partition_by");
		list_or_null(w, &n->list, n->has_list);
		key(w, "order_by");
		list_or_null(w, &n->list2, n->has_list2);
		if (n->op) {
			key(w, "frame_method");
			put_str(w, n->op);
		}
		key(w, "frame_start");
		node_or_null(w, n->a);
		key(w, "frame_end");
		node_or_null(w, n->b);
		break;
	case SN_HQ_WINDOW_FRAME:
		key(w, "frame_type");
		put_str(w, n->op);
		if (strcmp(n->op, "CURRENT ROW") != 0) {
			key(w, "frame_value");
			if (n->a && w->rc == 0)
				w->rc = sn_buf_appendf(w->b, "%" PRId64, n->a->ival);
			else
				put(w, "null");
		}
		break;
	case SN_HQ_ORDER_EXPR:
		key(w, "expr");
		node(w, n->a);
		key(w, "order");
		put_str(w, n->op);
		if (n->b) {
			key(w, "with_fill");
			node(w, n->b);
		}
		break;
	case SN_HQ_WITH_FILL: /* absent parts are left out, not null */
		if (n->a) {
			key(w, "from_value");
			node(w, n->a);
		}
		if (n->b) {
			key(w, "to_value");
			node(w, n->b);
		}
		if (n->c) {
			key(w, "step_value");
			node(w, n->c);
		}
		break;
	case SN_HQ_INTERPOLATE:
		key(w, "expr");
		node(w, n->a);
		key(w, "value");
		node(w, n->b);
		break;
	case SN_HQ_SELECT: select_query(w, n->sel); break;
	case SN_HQ_SELECT_SET:
		key(w, "initial_select_query");
		node(w, n->a);
		key(w, "subsequent_select_queries");
		list(w, &n->list);
		break;
	case SN_HQ_SELECT_SET_NODE:
		key(w, "select_query");
		node(w, n->a);
		key(w, "set_operator");
		put_str(w, n->op);
		break;
	case SN_HQ_CTE:
		key(w, "name");
		put_str(w, n->name);
		key(w, "expr");
		node(w, n->a);
		key(w, "cte_type");
		put_str(w, n->op);
		if (n->full) {
			key(w, "recursive");
			put(w, "true");
		}
		if (strcmp(n->op, "subquery") == 0) {
			key(w, "columns");
			if (n->has_strs)
				strs(w, &n->strs);
			else
				put(w, "null");
			key(w, "materialized");
			put(w, "null");
			key(w, "using_key");
			put(w, "null");
		}
		break;
	case SN_HQ_JOIN:
		if (n->op) {
			key(w, "join_type");
			put_str(w, n->op);
		}
		key(w, "table");
		node_or_null(w, n->a);
		if (n->has_list) {
			key(w, "table_args");
			list(w, &n->list);
		}
		key(w, "alias");
		if (n->name)
			put_str(w, n->name);
		else
			put(w, "null");
		if (n->name) {
			key(w, "column_aliases");
			if (n->has_strs)
				strs(w, &n->strs);
			else
				put(w, "null");
		}
		key(w, "table_final");
		put(w, n->flag ? "true" : "null");
		if (n->b) {
			key(w, "constraint");
			node(w, n->b);
		}
		key(w, "next_join");
		node_or_null(w, n->c);
		key(w, "sample");
		node_or_null(w, n->d);
		break;
	case SN_HQ_JOIN_CONSTRAINT:
		key(w, "expr");
		node(w, n->a);
		key(w, "constraint_type");
		put_str(w, n->op);
		break;
	case SN_HQ_SAMPLE:
		key(w, "sample_value");
		node(w, n->a);
		key(w, "offset_value");
		node_or_null(w, n->b);
		break;
	case SN_HQ_RATIO:
		key(w, "left");
		node(w, n->a);
		key(w, "right");
		node_or_null(w, n->b);
		break;
	case SN_HQ_LIMIT_BY:
		key(w, "n");
		node(w, n->a);
		key(w, "offset_value");
		node_or_null(w, n->b);
		key(w, "exprs");
		list(w, &n->list);
		break;
	}
	put(w, "}");
}

int sn_hogql_ast_json(struct sn_buf *b, const struct sn_hogql_node *n, const char *src, size_t len)
{
	struct posindex pi = {.src = src, .len = len};
	struct writer w = {.b = b};
	if (src) {
		pi.cont = malloc((len + 1) * sizeof(*pi.cont));
		size_t nl = 1;
		for (size_t i = 0; i < len; i++)
			nl += src[i] == '\n';
		pi.lines = malloc(nl * sizeof(*pi.lines));
		if (!pi.cont || !pi.lines) {
			free(pi.cont);
			free(pi.lines);
			return SN_ERR_NOMEM;
		}
		uint32_t c = 0;
		pi.lines[pi.nlines++] = 0;
		for (size_t i = 0; i < len; i++) {
			pi.cont[i] = c;
			if (((unsigned char)src[i] & 0xC0) == 0x80)
				c++;
			if (src[i] == '\n')
				pi.lines[pi.nlines++] = (uint32_t)i + 1;
		}
		pi.cont[len] = c;
		w.pi = &pi;
	}
	node(&w, n);
	free(pi.cont);
	free(pi.lines);
	return w.rc;
}

int sn_hogql_error_json(struct sn_buf *b, const struct sn_hogql_error *err)
{
	int rc = sn_buf_appends(b, "{\"error\":");
	if (rc == 0)
		rc = sn_buf_append_json_str(b, err->msg, strlen(err->msg));
	if (rc == 0)
		rc = sn_buf_appends(b, ",\"type\":");
	if (rc == 0)
		rc = sn_buf_append_json_str(b, err->type ? err->type : "SyntaxError",
					    strlen(err->type ? err->type : "SyntaxError"));
	if (rc == 0)
		rc = sn_buf_appendf(b, ",\"start\":%" PRIu32 ",\"end\":%" PRIu32 "}", err->start,
				    err->end);
	return rc;
}
