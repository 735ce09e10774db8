/*
 * parser.c — HogQL tokens to AST: recursive descent for statements,
 * precedence climbing for expressions.
 *
 * The expression levels, loosest first, as the shipped PostHog parser
 * behaves (spec/hogql.md §3.2), one function each:
 *
 *   expr      lambda | ternary (AS alias)*
 *   ternary   or ('?' ternary ':' ternary)?           right-assoc → if()
 *   or, and   n-ary, flattened (also through parentheses, as PostHog does)
 *   not       NOT not | between
 *   between   coalesce ([NOT] BETWEEN coalesce AND coalesce)*
 *   coalesce  is ('??' is)*                           → ifNull()
 *   is        ignore (IS [NOT] NULL | IS [NOT] DISTINCT FROM ignore)*
 *   ignore    compare (IGNORE NULLS)*                 (dropped)
 *   compare   additive (op additive)*                 = == != <> < IN LIKE ~ ...
 *   additive  mul ((+ | - | ||) mul)*                 || → concat(), flattened
 *   mul       unary ((* | / | %) unary)*
 *   unary     - unary | [+-] number | postfix         -x → minus(0, x)
 *   postfix   primary ([..] | .N | .ident | ?. | :: | (args))*
 *
 * Positions: every node built from source text spans from the first to the
 * last token of its rule (byte offsets; JSON converts to code points). A
 * parenthesised expression returns the inner node with the inner span, but
 * an operator node around it starts at the '(' — so each level remembers the
 * token index where it started rather than asking its left operand.
 *
 * Depth: every recursive entry (expr, unary minus, NOT, subqueries) counts
 * against SN_HOGQL_MAX_DEPTH, so `((((...` 100k deep is an error, not a
 * stack overflow.
 *
 * Errors stop the parse at the first problem (p->rc); every function checks
 * it on return and unwinds. There is no error recovery: PostHog reports the
 * first error too.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hogql/hogql.h"

typedef struct sn_hogql_node node_t;
typedef struct sn_hogql_token tok_t;

struct parser {
	struct sn_arena *a;
	const char *src;
	size_t len;
	tok_t *t;
	size_t n, pos;
	int depth;
	int rc;
	struct sn_hogql_error *err;
};

/* Words that are never an implicit alias (PostHog's lexer keywords); an
 * implicit alias may still be one of the few keywords in alias_keywords. */
static const char *const keywords[] = {
    "all",	   "and",	"anti",	      "any",	    "array",	"as",	     "asc",
    "ascending",   "asof",	"between",    "both",	    "by",	"case",	     "cast",
    "catch",	   "cohort",	"collate",    "columns",    "cross",	"cube",	     "current",
    "date",	   "day",	"desc",	      "descending", "distinct", "else",	     "end",
    "except",	   "exclude",	"extract",    "final",	    "fill",	"filter",    "finally",
    "first",	   "fn",	"following",  "for",	    "from",	"full",	     "fun",
    "group",	   "grouping",	"having",     "hour",	    "id",	"if",	     "ilike",
    "ignore",	   "include",	"in",	      "inf",	    "infinity", "inner",     "intersect",
    "interpolate", "interval",	"is",	      "join",	    "key",	"lambda",    "last",
    "leading",	   "left",	"let",	      "like",	    "limit",	"local",     "materialized",
    "minute",	   "month",	"name",	      "natural",    "nan",	"not",	     "null",
    "nulls",	   "offset",	"on",	      "or",	    "order",	"outer",     "over",
    "partition",   "pivot",	"positional", "preceding",  "prewhere", "qualify",   "quarter",
    "range",	   "recursive", "replace",    "return",	    "right",	"rollup",    "row",
    "rows",	   "sample",	"second",     "select",	    "semi",	"sets",	     "settings",
    "step",	   "substring", "then",	      "throw",	    "ties",	"timestamp", "time",
    "to",	   "top",	"totals",     "trailing",   "trim",	"truncate",  "try",
    "try_cast",	   "unbounded", "union",      "unpivot",    "using",	"values",    "week",
    "when",	   "where",	"while",      "window",	    "with",	"within",    "year",
    "yyyy",	   "zone",	NULL,
};
static const char *const implicit_alias_keywords[] = {
    "ascending", "cohort", "date", "descending", "final", "id", "return", "top", "totals", NULL,
};
static const char *const interval_units[] = {
    "second", "minute", "hour", "day", "week", "month", "quarter", "year", NULL,
};

/* ---- token helpers ----------------------------------------------------------- */

static tok_t *cur(struct parser *p)
{
	return &p->t[p->pos];
}

static tok_t *peek(struct parser *p, size_t k)
{
	size_t i = p->pos + k;
	return &p->t[i < p->n ? i : p->n - 1];
}

static bool tok_is_kw(const tok_t *t, const char *kw)
{
	return t->kind == SN_TOK_IDENT && sn_str_ieq(t->text, t->len, kw);
}

static bool tok_is_p(const tok_t *t, const char *s)
{
	return t->kind == SN_TOK_PUNCT && strcmp(t->text, s) == 0;
}

static bool in_list(const tok_t *t, const char *const *list)
{
	if (t->kind != SN_TOK_IDENT)
		return false;
	for (int i = 0; list[i]; i++)
		if (sn_str_ieq(t->text, t->len, list[i]))
			return true;
	return false;
}

static bool is_keyword(const tok_t *t)
{
	return in_list(t, keywords);
}

static bool is_kw(struct parser *p, const char *kw)
{
	return tok_is_kw(cur(p), kw);
}

static bool is_p(struct parser *p, const char *s)
{
	return tok_is_p(cur(p), s);
}

static bool accept_kw(struct parser *p, const char *kw)
{
	if (!is_kw(p, kw))
		return false;
	p->pos++;
	return true;
}

static bool accept_p(struct parser *p, const char *s)
{
	if (!is_p(p, s))
		return false;
	p->pos++;
	return true;
}

/* An identifier: a bare word that is not NULL/INF/NAN, or a quoted one. */
static bool tok_is_ident(const tok_t *t)
{
	if (t->kind == SN_TOK_QIDENT)
		return true;
	if (t->kind != SN_TOK_IDENT)
		return false;
	return !(sn_str_ieq(t->text, t->len, "null") || sn_str_ieq(t->text, t->len, "inf") ||
		 sn_str_ieq(t->text, t->len, "infinity") || sn_str_ieq(t->text, t->len, "nan"));
}

static uint32_t cp_of(struct parser *p, uint32_t byte_off)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < byte_off && i < p->len; i++)
		if (((unsigned char)p->src[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static void fail_span(struct parser *p, const char *type, uint32_t start, uint32_t end,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void fail_span(struct parser *p, const char *type, uint32_t start, uint32_t end,
		      const char *fmt, ...)
{
	if (p->rc)
		return;
	p->rc = SN_ERR_INVALID;
	if (!p->err)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	p->err->type = type;
	p->err->start = cp_of(p, start);
	p->err->end = cp_of(p, end);
}

/* "Unexpected 'x', expected <what>" at the current token. */
static void fail_expected(struct parser *p, const char *what)
{
	tok_t *t = cur(p);
	if (t->kind == SN_TOK_EOF)
		fail_span(p, "SyntaxError", t->start, t->end,
			  "Unexpected end of query, expected %s", what);
	else
		fail_span(p, "SyntaxError", t->start, t->end, "Unexpected '%.*s', expected %s",
			  (int)(t->end - t->start > 40 ? 40 : t->end - t->start), p->src + t->start,
			  what);
}

static bool expect_p(struct parser *p, const char *s)
{
	if (accept_p(p, s))
		return true;
	char what[16];
	snprintf(what, sizeof(what), "'%s'", s);
	fail_expected(p, what);
	return false;
}

static bool expect_kw(struct parser *p, const char *kw)
{
	if (accept_kw(p, kw))
		return true;
	fail_expected(p, kw);
	return false;
}

static void nomem(struct parser *p)
{
	if (!p->rc) {
		p->rc = SN_ERR_NOMEM;
		if (p->err) {
			snprintf(p->err->msg, sizeof(p->err->msg),
				 "Query needs more memory than allowed");
			p->err->type = "ParsingError";
			p->err->start = p->err->end = 0;
		}
	}
}

static bool enter(struct parser *p)
{
	if (++p->depth > SN_HOGQL_MAX_DEPTH) {
		tok_t *t = cur(p);
		fail_span(p, "SyntaxError", t->start, t->end,
			  "Query is nested too deeply (more than %d levels)", SN_HOGQL_MAX_DEPTH);
		return false;
	}
	return true;
}

static void leave(struct parser *p)
{
	p->depth--;
}

/* ---- node helpers ------------------------------------------------------------ */

static node_t *mk(struct parser *p, enum sn_hogql_kind kind)
{
	node_t *n = sn_hogql_node_new(p->a, kind);
	if (!n)
		nomem(p);
	return n;
}

/* Sets n's span from token si to the last consumed token. */
static node_t *span(struct parser *p, node_t *n, size_t si)
{
	if (n && p->pos > si) {
		n->has_pos = true;
		n->start = p->t[si].start;
		n->end = p->t[p->pos - 1].end;
	}
	return n;
}

static char *dup(struct parser *p, const char *s, size_t n)
{
	char *r = sn_arena_strndup(p->a, s, n);
	if (!r)
		nomem(p);
	return r;
}

struct vec {
	node_t **items;
	size_t n, cap;
};

static void vpush(struct parser *p, struct vec *v, node_t *x)
{
	if (p->rc)
		return;
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 4;
		node_t **ni = sn_arena_alloc(p->a, ncap * sizeof(*ni));
		if (!ni) {
			nomem(p);
			return;
		}
		if (v->n)
			memcpy(ni, v->items, v->n * sizeof(*ni));
		v->items = ni;
		v->cap = ncap;
	}
	v->items[v->n++] = x;
}

static struct sn_hogql_list vlist(struct vec *v)
{
	return (struct sn_hogql_list){.items = v->items, .n = v->n};
}

struct svec {
	const char **items;
	size_t n, cap;
};

static void spush(struct parser *p, struct svec *v, const char *s)
{
	if (p->rc)
		return;
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 4;
		const char **ni = sn_arena_alloc(p->a, ncap * sizeof(*ni));
		if (!ni) {
			nomem(p);
			return;
		}
		if (v->n)
			memcpy(ni, v->items, v->n * sizeof(*ni));
		v->items = ni;
		v->cap = ncap;
	}
	v->items[v->n++] = s;
}

static struct sn_hogql_strs slist(struct svec *v)
{
	return (struct sn_hogql_strs){.items = v->items, .n = v->n};
}

static node_t *mk_const_null(struct parser *p)
{
	node_t *n = mk(p, SN_HQ_CONSTANT);
	if (n)
		n->ctype = SN_HQC_NULL;
	return n;
}

static node_t *mk_const_str(struct parser *p, const char *s)
{
	node_t *n = mk(p, SN_HQ_CONSTANT);
	if (n) {
		n->ctype = SN_HQC_STRING;
		n->sval = s;
	}
	return n;
}

static node_t *mk_const_int(struct parser *p, int64_t v)
{
	node_t *n = mk(p, SN_HQ_CONSTANT);
	if (n) {
		n->ctype = SN_HQC_INT;
		n->ival = v;
	}
	return n;
}

static node_t *mk_call(struct parser *p, const char *name, struct vec *args)
{
	node_t *n = mk(p, SN_HQ_CALL);
	if (n) {
		n->name = name;
		n->list = vlist(args);
	}
	return n;
}

static node_t *mk_bin(struct parser *p, enum sn_hogql_kind kind, const char *op, node_t *l,
		      node_t *r)
{
	node_t *n = mk(p, kind);
	if (n) {
		n->op = op;
		n->a = l;
		n->b = r;
	}
	return n;
}

/* The identifier's name: source text for bare words, decoded for quoted. */
static const char *ident_text(const tok_t *t)
{
	return t->text;
}

static const char *expect_ident(struct parser *p)
{
	if (!tok_is_ident(cur(p))) {
		fail_expected(p, "an identifier");
		return NULL;
	}
	return ident_text(&p->t[p->pos++]);
}

/* ---- forward declarations ---------------------------------------------------- */

static node_t *parse_expr(struct parser *p);
static node_t *parse_ternary(struct parser *p);
static node_t *parse_coalesce(struct parser *p);
static node_t *parse_unary(struct parser *p);
static node_t *parse_select_set(struct parser *p);
static node_t *parse_window_expr(struct parser *p);
static void parse_order_list(struct parser *p, struct vec *out);

static bool starts_select(struct parser *p, size_t k)
{
	tok_t *t = peek(p, k);
	return tok_is_kw(t, "select") || tok_is_kw(t, "with");
}

/* ---- numbers ------------------------------------------------------------------- */

static bool tok_is_number(const tok_t *t)
{
	return t->kind == SN_TOK_INT || t->kind == SN_TOK_HEX || t->kind == SN_TOK_BIN ||
	       t->kind == SN_TOK_FLOAT || tok_is_kw(t, "inf") || tok_is_kw(t, "infinity") ||
	       tok_is_kw(t, "nan");
}

static bool number_starts(struct parser *p, size_t k)
{
	return tok_is_number(peek(p, k)) ||
	       (tok_is_p(peek(p, k), ".") && peek(p, k + 1)->kind == SN_TOK_INT);
}

/* An integer from digits in base 10/16/2; too big for int64 → BIGNUM text. */
static void set_int(struct parser *p, node_t *n, const char *digits, int base, bool neg)
{
	errno = 0;
	char *end;
	unsigned long long v = strtoull(digits, &end, base);
	if (errno == 0 && (v <= (unsigned long long)INT64_MAX ||
			   (neg && v == (unsigned long long)INT64_MAX + 1))) {
		n->ctype = SN_HQC_INT;
		n->ival = neg ? (int64_t)(0 - v) : (int64_t)v;
		return;
	}
	n->ctype = SN_HQC_BIGNUM;
	if (base == 2 && errno == 0) {
		/* 64-bit binary literals above INT64_MAX keep their unsigned value. */
		char buf[32];
		snprintf(buf, sizeof(buf), "%s%llu", neg ? "-" : "", v);
		n->sval = dup(p, buf, strlen(buf));
		n->special = true; /* printed as a JSON number, like PostHog */
		return;
	}
	if (base == 2) {
		fail_span(p, "SyntaxError", p->t[p->pos - 1].start, p->t[p->pos - 1].end,
			  "HogQL binary integer literals are limited to 64 bits; got `0b%.80s`.",
			  digits);
		return;
	}
	if (base == 10 || base == 16) {
		/* PostHog keeps big hex literals as written, prefix included. */
		if (base == 16)
			digits -= 2;
		size_t l = strlen(digits);
		char *s = sn_arena_alloc(p->a, l + 2);
		if (!s) {
			nomem(p);
			return;
		}
		snprintf(s, l + 2, "%s%s", neg ? "-" : "", digits);
		n->sval = s;
	}
}

/* numberLiteral: [+-] (INT [. [INT]] | . INT | FLOAT | HEX | BIN | INF | NAN). */
static node_t *parse_number(struct parser *p, bool neg)
{
	size_t si = p->pos;
	if (is_p(p, "-") || is_p(p, "+"))
		p->pos++;
	node_t *n = mk(p, SN_HQ_CONSTANT);
	if (!n)
		return NULL;
	tok_t *t = cur(p);
	if (tok_is_p(t, ".")) {
		char buf[96];
		tok_t *d = peek(p, 1);
		snprintf(buf, sizeof(buf), "0.%.80s", d->text);
		p->pos += 2;
		n->ctype = SN_HQC_FLOAT;
		n->fval = strtod(buf, NULL);
	} else if (t->kind == SN_TOK_INT) {
		p->pos++;
		if (is_p(p, ".")) {
			/* 1.5, 1. — glued here, not in the lexer (tuple access t.1.2). */
			struct sn_buf b;
			sn_buf_init(&b, SN_HOGQL_MAX_QUERY_LEN);
			int rc = sn_buf_appends(&b, t->text);
			p->pos++;
			if (rc == 0)
				rc = sn_buf_appendc(&b, '.');
			if (cur(p)->kind == SN_TOK_INT) {
				if (rc == 0)
					rc = sn_buf_appends(&b, cur(p)->text);
				p->pos++;
			}
			n->ctype = SN_HQC_FLOAT;
			n->fval = rc == 0 ? strtod(b.data, NULL) : 0;
			sn_buf_release(&b);
			if (rc)
				nomem(p);
		} else {
			set_int(p, n, t->text, 10, neg);
			neg = false;
		}
	} else if (t->kind == SN_TOK_HEX || t->kind == SN_TOK_BIN) {
		p->pos++;
		set_int(p, n, t->text + 2, t->kind == SN_TOK_HEX ? 16 : 2, neg);
		neg = false;
	} else if (t->kind == SN_TOK_FLOAT) {
		p->pos++;
		n->ctype = SN_HQC_FLOAT;
		n->fval = strtod(t->text, NULL);
	} else if (tok_is_kw(t, "nan")) {
		p->pos++;
		n->ctype = SN_HQC_FLOAT;
		n->fval = NAN;
		neg = false;
	} else if (tok_is_kw(t, "inf") || tok_is_kw(t, "infinity")) {
		p->pos++;
		n->ctype = SN_HQC_FLOAT;
		n->fval = INFINITY;
	} else {
		fail_expected(p, "a number");
		return NULL;
	}
	if (neg)
		n->fval = -n->fval;
	return span(p, n, si);
}

/* ---- primary expressions ------------------------------------------------------- */

static void parse_expr_list(struct parser *p, struct vec *out, const char *close)
{
	if (is_p(p, close))
		return;
	for (;;) {
		vpush(p, out, parse_expr(p));
		if (p->rc || !accept_p(p, ","))
			return;
		if (is_p(p, close)) /* trailing comma */
			return;
	}
}

/* Is there a lambda at the current token? Returns the token count of its
 * parameter part (up to and including '->'), or 0. multi allows the bare
 * `a, b -> e` form, which only argument lists accept. */
static size_t lambda_ahead(struct parser *p, bool multi)
{
	if (tok_is_p(peek(p, 0), "(")) {
		if (tok_is_p(peek(p, 1), ")"))
			return tok_is_p(peek(p, 2), "->") ? 3 : 0;
		size_t k = 1;
		for (;;) {
			if (!tok_is_ident(peek(p, k)))
				return 0;
			k++;
			if (tok_is_p(peek(p, k), ")"))
				return tok_is_p(peek(p, k + 1), "->") ? k + 2 : 0;
			if (!tok_is_p(peek(p, k), ","))
				return 0;
			k++;
			if (tok_is_p(peek(p, k), ")"))
				return tok_is_p(peek(p, k + 1), "->") ? k + 2 : 0;
		}
	}
	if (!tok_is_ident(peek(p, 0)))
		return 0;
	size_t k = 1;
	while (multi && tok_is_p(peek(p, k), ",") && tok_is_ident(peek(p, k + 1)))
		k += 2;
	return tok_is_p(peek(p, k), "->") ? k + 1 : 0;
}

static node_t *parse_lambda(struct parser *p, size_t si)
{
	struct svec args = {0};
	node_t *n = mk(p, SN_HQ_LAMBDA);
	if (!n)
		return NULL;
	if (accept_kw(p, "lambda")) {
		for (;;) {
			const char *a = expect_ident(p);
			if (!a)
				return NULL;
			spush(p, &args, a);
			if (!accept_p(p, ","))
				break;
		}
		if (!expect_p(p, ":"))
			return NULL;
	} else {
		bool paren = accept_p(p, "(");
		while (tok_is_ident(cur(p))) {
			spush(p, &args, ident_text(&p->t[p->pos++]));
			if (!accept_p(p, ","))
				break;
		}
		if (paren && !expect_p(p, ")"))
			return NULL;
		if (!expect_p(p, "->"))
			return NULL;
	}
	n->strs = slist(&args);
	n->a = parse_expr(p);
	if (p->rc)
		return NULL;
	return span(p, n, si);
}

/* An argument: a lambda, `name := value` or an expression. */
static node_t *parse_arg(struct parser *p)
{
	if (lambda_ahead(p, true)) {
		if (!enter(p))
			return NULL;
		node_t *n = parse_lambda(p, p->pos);
		leave(p);
		return n;
	}
	return parse_expr(p);
}

static void parse_arg_list(struct parser *p, struct vec *out)
{
	if (is_p(p, ")"))
		return;
	for (;;) {
		vpush(p, out, parse_arg(p));
		if (p->rc || !accept_p(p, ","))
			return;
		if (is_p(p, ")"))
			return;
	}
}

/* The text of a type in CAST(x AS type): tokens up to the closing ')',
 * concatenated without whitespace and lower-cased (ANTLR getText()). */
static const char *parse_type_text(struct parser *p)
{
	struct sn_buf b;
	int depth = 0, rc = 0;
	sn_buf_init(&b, SN_HOGQL_MAX_QUERY_LEN);
	if (is_p(p, ")") || cur(p)->kind == SN_TOK_EOF) {
		fail_expected(p, "a type");
		return NULL;
	}
	while (!p->rc) {
		tok_t *t = cur(p);
		if (t->kind == SN_TOK_EOF) {
			fail_expected(p, "')'");
			break;
		}
		if (tok_is_p(t, ")") && depth == 0)
			break;
		if (tok_is_p(t, "("))
			depth++;
		if (tok_is_p(t, ")"))
			depth--;
		for (uint32_t i = t->start; i < t->end && rc == 0; i++) {
			char c = p->src[i];
			if (t->kind != SN_TOK_STRING)
				c = (char)tolower((unsigned char)c);
			rc = sn_buf_appendc(&b, c);
		}
		p->pos++;
	}
	const char *r = NULL;
	if (rc)
		nomem(p);
	else if (!p->rc)
		r = dup(p, b.data ? b.data : "", b.len);
	sn_buf_release(&b);
	return r;
}

static const char *interval_func(struct parser *p, const char *unit, size_t len)
{
	for (int i = 0; interval_units[i]; i++) {
		size_t ul = strlen(interval_units[i]);
		if ((len == ul || (len == ul + 1 && (unit[ul] == 's' || unit[ul] == 'S'))) &&
		    strncasecmp(unit, interval_units[i], ul) == 0) {
			char buf[32];
			snprintf(buf, sizeof(buf), "toInterval%c%s",
				 toupper((unsigned char)interval_units[i][0]),
				 interval_units[i] + 1);
			return dup(p, buf, strlen(buf));
		}
	}
	return NULL;
}

static node_t *parse_interval(struct parser *p, size_t si)
{
	struct vec args = {0};
	p->pos++; /* INTERVAL */
	tok_t *t = cur(p);
	if (t->kind == SN_TOK_STRING) {
		const char *s = t->text;
		char *end;
		long long v = strtoll(s, &end, 10);
		while (*end == ' ')
			end++;
		const char *fn = end != s ? interval_func(p, end, strlen(end)) : NULL;
		if (!fn || !isdigit((unsigned char)s[0])) {
			fail_span(p, "SyntaxError", t->start, t->end,
				  "Unsupported interval '%.60s': expected a number and a unit "
				  "such as '7 day'",
				  s);
			return NULL;
		}
		p->pos++;
		vpush(p, &args, mk_const_int(p, v));
		return span(p, mk_call(p, fn, &args), si);
	}
	node_t *e = parse_unary(p);
	if (p->rc)
		return NULL;
	t = cur(p);
	const char *fn = in_list(t, interval_units) ? interval_func(p, t->text, t->len) : NULL;
	if (!fn) {
		fail_expected(p, "an interval unit (SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, "
				 "QUARTER, YEAR)");
		return NULL;
	}
	p->pos++;
	vpush(p, &args, e);
	return span(p, mk_call(p, fn, &args), si);
}

static node_t *parse_case(struct parser *p, size_t si)
{
	struct vec args = {0};
	node_t *subject = NULL;
	size_t nwhen = 0;
	p->pos++; /* CASE */
	if (!is_kw(p, "when")) {
		subject = parse_expr(p);
		vpush(p, &args, subject);
	}
	while (!p->rc && accept_kw(p, "when")) {
		vpush(p, &args, parse_expr(p));
		if (p->rc || !expect_kw(p, "then"))
			return NULL;
		vpush(p, &args, parse_expr(p));
		nwhen++;
	}
	if (p->rc)
		return NULL;
	if (!nwhen) {
		fail_expected(p, "WHEN");
		return NULL;
	}
	if (accept_kw(p, "else"))
		vpush(p, &args, parse_expr(p));
	else
		vpush(p, &args, mk_const_null(p));
	if (p->rc || !expect_kw(p, "end"))
		return NULL;
	const char *name = subject ? "_caseWithExpression" : nwhen == 1 ? "if" : "multiIf";
	return span(p, mk_call(p, name, &args), si);
}

static node_t *parse_window_frame_bound(struct parser *p)
{
	size_t si = p->pos;
	node_t *n = mk(p, SN_HQ_WINDOW_FRAME);
	if (!n)
		return NULL;
	if (accept_kw(p, "current")) {
		if (!expect_kw(p, "row"))
			return NULL;
		n->op = "CURRENT ROW";
	} else {
		if (!accept_kw(p, "unbounded")) {
			if (cur(p)->kind != SN_TOK_INT) {
				fail_expected(p, "UNBOUNDED, CURRENT ROW or a number");
				return NULL;
			}
			n->a = parse_number(p, false);
		}
		if (accept_kw(p, "preceding"))
			n->op = "PRECEDING";
		else if (accept_kw(p, "following"))
			n->op = "FOLLOWING";
		else {
			fail_expected(p, "PRECEDING or FOLLOWING");
			return NULL;
		}
	}
	return span(p, n, si);
}

/* windowExpr inside the parentheses: PARTITION BY, ORDER BY, frame. */
static node_t *parse_window_expr(struct parser *p)
{
	size_t si = p->pos;
	node_t *w = mk(p, SN_HQ_WINDOW_EXPR);
	if (!w)
		return NULL;
	if (accept_kw(p, "partition")) {
		struct vec v = {0};
		if (!expect_kw(p, "by"))
			return NULL;
		parse_expr_list(p, &v, ")");
		w->list = vlist(&v);
		w->has_list = true;
	}
	if (accept_kw(p, "order")) {
		struct vec v = {0};
		if (!expect_kw(p, "by"))
			return NULL;
		parse_order_list(p, &v);
		w->list2 = vlist(&v);
		w->has_list2 = true;
	}
	if (p->rc)
		return NULL;
	if (is_kw(p, "rows") || is_kw(p, "range")) {
		w->op = is_kw(p, "rows") ? "ROWS" : "RANGE";
		p->pos++;
		if (accept_kw(p, "between")) {
			w->a = parse_window_frame_bound(p);
			if (p->rc || !expect_kw(p, "and"))
				return NULL;
			w->b = parse_window_frame_bound(p);
		} else {
			w->a = parse_window_frame_bound(p);
		}
	}
	if (p->rc)
		return NULL;
	if (p->pos == si) {
		/* An empty rule: ANTLR spans it from the next token's start to the
		 * previous token's end. */
		w->has_pos = true;
		w->start = cur(p)->start;
		w->end = si ? p->t[si - 1].end : 0;
		return w;
	}
	return span(p, w, si);
}

/* name(...)[(...)] [FILTER (WHERE e)] [OVER ...]: Call or WindowFunction. */
static node_t *parse_call(struct parser *p, size_t si)
{
	const char *name = ident_text(&p->t[p->pos]);
	struct vec first = {0}, second = {0}, order = {0};
	bool distinct = false, two = false, has_order = false;
	p->pos += 2; /* name ( */
	if (sn_str_ieq(name, strlen(name), "substring") && !is_p(p, ")")) {
		/* SUBSTRING(a FROM b FOR c) is not supported by PostHog. */
		size_t save = p->pos;
		node_t *e = parse_expr(p);
		if (!p->rc && e && is_kw(p, "from")) {
			fail_span(p, "NotImplementedError", p->t[si].start, p->t[si].start,
				  "Unsupported rule: ColumnExprSubstring");
			return NULL;
		}
		if (p->rc)
			return NULL;
		p->pos = save;
	}
	if (starts_select(p, 0)) {
		/* f(SELECT ...): a plain call with the subquery as argument. */
		if (!enter(p))
			return NULL;
		vpush(p, &first, parse_select_set(p));
		leave(p);
		if (p->rc || !expect_p(p, ")"))
			return NULL;
		return span(p, mk_call(p, name, &first), si);
	}
	if (accept_kw(p, "distinct"))
		distinct = true;
	parse_arg_list(p, &first);
	if (p->rc)
		return NULL;
	if (accept_kw(p, "order")) {
		if (!expect_kw(p, "by"))
			return NULL;
		parse_order_list(p, &order);
		has_order = true;
	}
	if (p->rc || !expect_p(p, ")"))
		return NULL;
	if (is_p(p, "(")) {
		p->pos++;
		two = true;
		if (accept_kw(p, "distinct"))
			distinct = true;
		parse_arg_list(p, &second);
		if (p->rc)
			return NULL;
		if (accept_kw(p, "order")) {
			if (!expect_kw(p, "by"))
				return NULL;
			parse_order_list(p, &order);
			has_order = true;
		}
		if (p->rc || !expect_p(p, ")"))
			return NULL;
	}
	node_t *filter = NULL;
	if (is_kw(p, "filter") && tok_is_p(peek(p, 1), "(")) {
		p->pos += 2;
		if (!expect_kw(p, "where"))
			return NULL;
		filter = parse_expr(p);
		if (p->rc || !expect_p(p, ")"))
			return NULL;
	}
	if (is_kw(p, "over")) {
		p->pos++;
		node_t *w = mk(p, SN_HQ_WINDOW_FUNCTION);
		if (!w)
			return NULL;
		w->name = name;
		w->list = vlist(&first);
		w->list2 = vlist(&second);
		if (accept_p(p, "(")) {
			w->a = parse_window_expr(p);
			if (p->rc || !expect_p(p, ")"))
				return NULL;
		} else {
			w->op = expect_ident(p);
			if (!w->op)
				return NULL;
		}
		return span(p, w, si);
	}
	node_t *c = mk(p, SN_HQ_CALL);
	if (!c)
		return NULL;
	c->name = name;
	c->full = true;
	c->flag = distinct;
	c->a = filter;
	if (two) {
		c->list2 = vlist(&first);
		c->has_list2 = true;
		c->list = vlist(&second);
	} else {
		c->list = vlist(&first);
	}
	if (has_order) {
		c->list3 = vlist(&order);
		c->has_list3 = true;
	}
	return span(p, c, si);
}

/* f'text{expr}text': pieces become concat(); holes are parsed by a parser
 * over the hole's text, with token offsets shifted to the outer source. */
static node_t *parse_fstring(struct parser *p, size_t si)
{
	tok_t *t = &p->t[p->pos++];
	struct vec parts = {0};
	const char *s = t->text;
	size_t len = t->len, i = 0;
	uint32_t body = t->start + 2;
	struct sn_buf text;
	sn_buf_init(&text, SN_HOGQL_MAX_QUERY_LEN);
	size_t piece = 0; /* raw start of the current text piece */
	while (i <= len && !p->rc) {
		if (i == len || s[i] == '{') {
			if (text.len) {
				node_t *c = mk_const_str(p, dup(p, text.data, text.len));
				if (c) {
					c->has_pos = true;
					c->start = body + (uint32_t)piece;
					c->end = body + (uint32_t)i;
				}
				vpush(p, &parts, c);
				sn_buf_reset(&text);
			}
			if (i == len)
				break;
			size_t j = i + 1;
			while (j < len && s[j] != '}')
				j++;
			if (j >= len) {
				fail_span(p, "SyntaxError", body + (uint32_t)i, t->end,
					  "Unterminated {expression} in template string");
				break;
			}
			struct parser sub = {.a = p->a,
					     .src = p->src,
					     .len = p->len,
					     .depth = p->depth,
					     .err = p->err};
			struct sn_hogql_error serr;
			int rc = sn_hogql_lex(p->a, s + i + 1, j - i - 1, &sub.t, &sub.n, &serr);
			if (rc < 0) {
				fail_span(p, "SyntaxError", body + (uint32_t)i,
					  body + (uint32_t)j + 1, "%s", serr.msg);
				break;
			}
			for (size_t k = 0; k < sub.n; k++) {
				sub.t[k].start += body + (uint32_t)i + 1;
				sub.t[k].end += body + (uint32_t)i + 1;
			}
			node_t *e = parse_expr(&sub);
			if (!sub.rc && cur(&sub)->kind != SN_TOK_EOF)
				fail_expected(&sub, "'}'");
			if (sub.rc) {
				p->rc = sub.rc;
				break;
			}
			vpush(p, &parts, e);
			i = j + 1;
			piece = i;
			continue;
		}
		int rc = 0;
		if (s[i] == '\\' && i + 1 < len) {
			char e = s[i + 1];
			const char *rep = NULL;
			switch (e) {
			case '{': rep = "{"; break;
			case 'b': rep = "\b"; break;
			case 'f': rep = "\f"; break;
			case 'r': rep = "\r"; break;
			case 'n': rep = "\n"; break;
			case 't': rep = "\t"; break;
			case 'a': rep = "\a"; break;
			case 'v': rep = "\v"; break;
			case '\\': rep = "\\"; break;
			case '\'': rep = "'"; break;
			case '0': rep = ""; break;
			default: break;
			}
			if (rep) {
				rc = sn_buf_appends(&text, rep);
				i += 2;
			} else {
				rc = sn_buf_appendc(&text, s[i]);
				i++;
			}
		} else if (s[i] == '\'' && i + 1 < len && s[i + 1] == '\'') {
			rc = sn_buf_appendc(&text, '\'');
			i += 2;
		} else {
			rc = sn_buf_appendc(&text, s[i]);
			i++;
		}
		if (rc)
			nomem(p);
	}
	sn_buf_release(&text);
	if (p->rc)
		return NULL;
	if (parts.n == 1)
		return parts.items[0];
	if (parts.n == 0)
		return span(p, mk_const_str(p, ""), si);
	return span(p, mk_call(p, "concat", &parts), si);
}

static node_t *parse_columns_expr(struct parser *p, size_t si)
{
	p->pos += 2; /* COLUMNS ( */
	node_t *n = mk(p, SN_HQ_COLUMNS);
	if (!n)
		return NULL;
	if (cur(p)->kind == SN_TOK_STRING && tok_is_p(peek(p, 1), ")")) {
		n->sval = cur(p)->text;
		p->pos += 2;
		return span(p, n, si);
	}
	struct vec v = {0};
	parse_expr_list(p, &v, ")");
	if (p->rc || !expect_p(p, ")"))
		return NULL;
	n->list = vlist(&v);
	n->has_list = true;
	return span(p, n, si);
}

/* `* EXCLUDE (a, b)` after a star (all_columns) or `t.*`. */
static node_t *maybe_exclude(struct parser *p, node_t *star, size_t si, const char *table)
{
	if (!(is_kw(p, "exclude") && tok_is_p(peek(p, 1), "(")))
		return star;
	p->pos += 2;
	struct svec ex = {0};
	while (!p->rc && !is_p(p, ")")) {
		const char *id = expect_ident(p);
		if (!id)
			return NULL;
		spush(p, &ex, id);
		if (!accept_p(p, ","))
			break;
	}
	if (p->rc || !expect_p(p, ")"))
		return NULL;
	node_t *n = mk(p, SN_HQ_COLUMNS);
	if (!n)
		return NULL;
	n->flag = true;
	n->name = table;
	n->strs = slist(&ex);
	n->has_strs = true;
	return span(p, n, si);
}

static node_t *parse_identifier_expr(struct parser *p, size_t si)
{
	tok_t *t = cur(p);
	if (tok_is_p(peek(p, 1), "(") && t->kind == SN_TOK_IDENT)
		return parse_call(p, si);
	if (tok_is_p(peek(p, 1), ":=")) {
		node_t *n = mk(p, SN_HQ_NAMED_ARG);
		if (!n)
			return NULL;
		n->name = ident_text(t);
		p->pos += 2;
		n->a = parse_expr(p);
		return p->rc ? NULL : n;
	}
	struct svec chain = {0};
	spush(p, &chain, ident_text(t));
	p->pos++;
	while (is_p(p, ".")) {
		tok_t *nx = peek(p, 1);
		if (tok_is_ident(nx)) {
			spush(p, &chain, ident_text(nx));
			p->pos += 2;
		} else if (tok_is_p(nx, "*")) {
			spush(p, &chain, "*");
			p->pos += 2;
			break;
		} else {
			break;
		}
	}
	if (p->rc)
		return NULL;
	if (chain.n == 1 && t->kind == SN_TOK_IDENT &&
	    (sn_str_ieq(t->text, t->len, "true") || sn_str_ieq(t->text, t->len, "false"))) {
		node_t *c = mk(p, SN_HQ_CONSTANT);
		if (!c)
			return NULL;
		c->ctype = SN_HQC_BOOL;
		c->bval = sn_str_ieq(t->text, t->len, "true");
		return span(p, c, si);
	}
	node_t *f = mk(p, SN_HQ_FIELD);
	if (!f)
		return NULL;
	f->strs = slist(&chain);
	span(p, f, si);
	if (strcmp(chain.items[chain.n - 1], "*") == 0 && chain.n == 2)
		return maybe_exclude(p, f, si, chain.items[0]);
	return f;
}

static node_t *parse_paren(struct parser *p, size_t si)
{
	if (starts_select(p, 1)) {
		p->pos++;
		node_t *q = parse_select_set(p);
		if (p->rc || !expect_p(p, ")"))
			return NULL;
		return q;
	}
	p->pos++;
	if (is_p(p, ")")) {
		fail_expected(p, "an expression");
		return NULL;
	}
	node_t *e = parse_expr(p);
	if (p->rc)
		return NULL;
	if (accept_p(p, ")"))
		return e;
	if (!is_p(p, ",")) {
		expect_p(p, ")");
		return NULL;
	}
	struct vec v = {0};
	vpush(p, &v, e);
	while (accept_p(p, ",")) {
		if (is_p(p, ")"))
			break;
		vpush(p, &v, parse_expr(p));
		if (p->rc)
			return NULL;
	}
	if (!expect_p(p, ")"))
		return NULL;
	node_t *tu = mk(p, SN_HQ_TUPLE);
	if (!tu)
		return NULL;
	tu->list = vlist(&v);
	return span(p, tu, si);
}

static node_t *parse_primary(struct parser *p)
{
	size_t si = p->pos;
	tok_t *t = cur(p);

	switch (t->kind) {
	case SN_TOK_EOF: fail_expected(p, "an expression"); return NULL;
	case SN_TOK_STRING: p->pos++; return span(p, mk_const_str(p, t->text), si);
	case SN_TOK_FSTRING: return parse_fstring(p, si);
	case SN_TOK_INT:
	case SN_TOK_HEX:
	case SN_TOK_BIN:
	case SN_TOK_FLOAT: return parse_number(p, false);
	case SN_TOK_QIDENT: return parse_identifier_expr(p, si);
	case SN_TOK_IDENT: break;
	case SN_TOK_PUNCT:
		if (tok_is_p(t, "(")) {
			return parse_paren(p, si);
		} else if (tok_is_p(t, "[")) {
			struct vec v = {0};
			p->pos++;
			parse_expr_list(p, &v, "]");
			if (p->rc || !expect_p(p, "]"))
				return NULL;
			node_t *n = mk(p, SN_HQ_ARRAY);
			if (n)
				n->list = vlist(&v);
			return span(p, n, si);
		} else if (tok_is_p(t, "{")) {
			p->pos++;
			struct vec keys = {0}, vals = {0};
			if (!accept_p(p, "}")) {
				node_t *e = parse_expr(p);
				if (p->rc)
					return NULL;
				if (accept_p(p, "}")) {
					node_t *n = mk(p, SN_HQ_PLACEHOLDER);
					if (n)
						n->a = e;
					return span(p, n, si);
				}
				for (;;) {
					if (!expect_p(p, ":"))
						return NULL;
					vpush(p, &keys, e);
					vpush(p, &vals, parse_expr(p));
					if (p->rc)
						return NULL;
					if (!accept_p(p, ",") || is_p(p, "}"))
						break;
					e = parse_expr(p);
					if (p->rc)
						return NULL;
				}
				if (!expect_p(p, "}"))
					return NULL;
			}
			node_t *n = mk(p, SN_HQ_DICT);
			if (n) {
				n->list = vlist(&keys);
				n->list2 = vlist(&vals);
			}
			return span(p, n, si);
		} else if (tok_is_p(t, "*")) {
			p->pos++;
			node_t *f = mk(p, SN_HQ_FIELD);
			struct svec ch = {0};
			spush(p, &ch, "*");
			if (!f)
				return NULL;
			f->strs = slist(&ch);
			span(p, f, si);
			return maybe_exclude(p, f, si, NULL);
		} else if (tok_is_p(t, "#") && peek(p, 1)->kind == SN_TOK_INT) {
			p->pos += 2;
			node_t *n = mk(p, SN_HQ_POSITIONAL_REF);
			if (n)
				n->ival = strtoll(t[1].text, NULL, 10);
			return span(p, n, si);
		} else if (tok_is_p(t, ".") && peek(p, 1)->kind == SN_TOK_INT) {
			return parse_number(p, false);
		} else if (tok_is_p(t, "<")) {
			fail_span(p, "NotImplementedError", t->start, t->end,
				  "HogQLX tags are not supported yet");
			return NULL;
		}
		fail_expected(p, "an expression");
		return NULL;
	}

	/* A bare word: keyword-led forms first, then identifiers. */
	tok_t *nx = peek(p, 1);
	if (tok_is_kw(t, "null")) {
		p->pos++;
		return span(p, mk_const_null(p), si);
	}
	if (tok_is_kw(t, "inf") || tok_is_kw(t, "infinity") || tok_is_kw(t, "nan"))
		return parse_number(p, false);
	if (tok_is_kw(t, "case") && !tok_is_p(nx, ".") && !tok_is_p(nx, "("))
		return parse_case(p, si);
	if ((tok_is_kw(t, "cast") || tok_is_kw(t, "try_cast")) && tok_is_p(nx, "(")) {
		bool try_ = tok_is_kw(t, "try_cast");
		size_t save = p->pos;
		p->pos += 2;
		node_t *e = parse_expr(p);
		if (p->rc)
			return NULL;
		if (e && e->kind == SN_HQ_ALIAS && !is_kw(p, "as")) {
			/* cast(x as T): the AS was read as an alias; re-read. */
			p->pos = save + 2;
			e = parse_ternary(p);
			if (p->rc)
				return NULL;
		}
		if (!is_kw(p, "as")) {
			p->pos = save;
			return parse_call(p, si);
		}
		p->pos++;
		const char *ty = parse_type_text(p);
		if (!ty || !expect_p(p, ")"))
			return NULL;
		node_t *n = mk(p, try_ ? SN_HQ_TRY_CAST : SN_HQ_TYPE_CAST);
		if (!n)
			return NULL;
		n->a = e;
		n->name = ty;
		return span(p, n, si);
	}
	if ((tok_is_kw(t, "date") || tok_is_kw(t, "timestamp")) && nx->kind == SN_TOK_STRING) {
		fail_span(p, "NotImplementedError", t->start, nx->end, "Unsupported rule: %s",
			  tok_is_kw(t, "date") ? "ColumnExprDate" : "ColumnExprTimestamp");
		return NULL;
	}
	if (tok_is_kw(t, "interval") &&
	    (nx->kind == SN_TOK_STRING || nx->kind == SN_TOK_INT || nx->kind == SN_TOK_IDENT ||
	     nx->kind == SN_TOK_QIDENT || tok_is_p(nx, "(") || tok_is_p(nx, "-") ||
	     nx->kind == SN_TOK_FLOAT || tok_is_p(nx, "{")) &&
	    !in_list(nx, keywords))
		return parse_interval(p, si);
	if (tok_is_kw(t, "trim") && tok_is_p(nx, "(") &&
	    (tok_is_kw(peek(p, 2), "both") || tok_is_kw(peek(p, 2), "leading") ||
	     tok_is_kw(peek(p, 2), "trailing"))) {
		tok_t *mode = peek(p, 2);
		const char *fn = tok_is_kw(mode, "both")      ? "trim"
				 : tok_is_kw(mode, "leading") ? "trimLeft"
							      : "trimRight";
		p->pos += 3;
		if (cur(p)->kind != SN_TOK_STRING) {
			fail_expected(p, "a string");
			return NULL;
		}
		size_t ssi = p->pos++;
		node_t *chars = span(p, mk_const_str(p, p->t[ssi].text), ssi);
		if (!expect_kw(p, "from"))
			return NULL;
		node_t *e = parse_expr(p);
		if (p->rc || !expect_p(p, ")"))
			return NULL;
		struct vec args = {0};
		vpush(p, &args, e);
		vpush(p, &args, chars);
		return span(p, mk_call(p, fn, &args), si);
	}
	if (tok_is_kw(t, "columns") && tok_is_p(nx, "("))
		return parse_columns_expr(p, si);
	if (tok_is_kw(t, "array") && tok_is_p(nx, "[")) {
		p->pos++;
		node_t *n = parse_primary(p);
		return span(p, n, si);
	}
	return parse_identifier_expr(p, si);
}

/* ---- operator levels ----------------------------------------------------------- */

static node_t *parse_postfix(struct parser *p)
{
	size_t si = p->pos;
	node_t *e = parse_primary(p);
	bool after_cast = false;
	while (!p->rc && e) {
		bool was_cast = after_cast;
		after_cast = false;
		if (is_p(p, "[") || (is_p(p, "?.") && tok_is_p(peek(p, 1), "["))) {
			bool nullish = is_p(p, "?.");
			p->pos += nullish ? 2 : 1;
			node_t *idx = NULL, *hi = NULL;
			bool slice = false;
			if (!is_p(p, ":"))
				idx = parse_expr(p);
			if (p->rc)
				return NULL;
			if (!nullish && accept_p(p, ":")) {
				slice = true;
				if (!is_p(p, "]"))
					hi = parse_expr(p);
			}
			if (p->rc || !expect_p(p, "]"))
				return NULL;
			node_t *n = mk(p, slice ? SN_HQ_ARRAY_SLICE : SN_HQ_ARRAY_ACCESS);
			if (!n)
				return NULL;
			n->a = e;
			n->b = idx;
			n->c = hi;
			n->flag = nullish;
			if (!slice && !idx) {
				fail_expected(p, "an expression");
				return NULL;
			}
			e = span(p, n, si);
		} else if ((is_p(p, ".") || is_p(p, "?.")) && peek(p, 1)->kind == SN_TOK_INT) {
			bool nullish = is_p(p, "?.");
			node_t *n = mk(p, SN_HQ_TUPLE_ACCESS);
			if (!n)
				return NULL;
			n->a = e;
			n->ival = strtoll(peek(p, 1)->text, NULL, 10);
			n->flag = nullish;
			p->pos += 2;
			e = span(p, n, si);
		} else if ((is_p(p, ".") || is_p(p, "?.")) && tok_is_ident(peek(p, 1))) {
			bool nullish = is_p(p, "?.");
			node_t *n = mk(p, SN_HQ_ARRAY_ACCESS);
			if (!n)
				return NULL;
			n->a = e;
			n->b = mk_const_str(p, ident_text(peek(p, 1)));
			n->flag = nullish;
			p->pos += 2;
			e = span(p, n, si);
		} else if (is_p(p, "::")) {
			p->pos++;
			tok_t *t = cur(p);
			if (!tok_is_ident(t)) {
				fail_expected(p, "a type name");
				return NULL;
			}
			char *ty = dup(p, t->text, t->len);
			if (!ty)
				return NULL;
			for (char *c = ty; *c; c++)
				*c = (char)tolower((unsigned char)*c);
			p->pos++;
			node_t *n = mk(p, SN_HQ_TYPE_CAST);
			if (!n)
				return NULL;
			n->a = e;
			n->name = ty;
			e = span(p, n, si);
			after_cast = true;
		} else if (is_p(p, "(") && !was_cast) {
			struct vec args = {0};
			p->pos++;
			parse_arg_list(p, &args);
			if (p->rc || !expect_p(p, ")"))
				return NULL;
			node_t *n = mk(p, SN_HQ_EXPR_CALL);
			if (!n)
				return NULL;
			n->a = e;
			n->list = vlist(&args);
			e = span(p, n, si);
		} else {
			break;
		}
	}
	return p->rc ? NULL : e;
}

static node_t *parse_unary(struct parser *p)
{
	size_t si = p->pos;
	if ((is_p(p, "-") || is_p(p, "+")) && number_starts(p, 1))
		return parse_number(p, is_p(p, "-"));
	if (is_p(p, "-")) {
		if (!enter(p))
			return NULL;
		p->pos++;
		node_t *x = parse_unary(p);
		leave(p);
		if (p->rc)
			return NULL;
		node_t *zero = mk_const_int(p, 0);
		return span(p, mk_bin(p, SN_HQ_ARITH, "-", zero, x), si);
	}
	if (is_p(p, "+")) {
		p->pos++;
		fail_expected(p, "a number after '+'");
		return NULL;
	}
	return parse_postfix(p);
}

static node_t *parse_mul(struct parser *p)
{
	size_t si = p->pos;
	node_t *e = parse_unary(p);
	while (!p->rc && (is_p(p, "*") || is_p(p, "/") || is_p(p, "%"))) {
		const char *op = cur(p)->text;
		p->pos++;
		node_t *r = parse_unary(p);
		if (p->rc)
			return NULL;
		e = span(p, mk_bin(p, SN_HQ_ARITH, op, e, r), si);
	}
	return p->rc ? NULL : e;
}

static bool is_concat(node_t *n)
{
	return n->kind == SN_HQ_CALL && strcmp(n->name, "concat") == 0;
}

static node_t *parse_additive(struct parser *p)
{
	size_t si = p->pos;
	node_t *e = parse_mul(p);
	while (!p->rc && (is_p(p, "+") || is_p(p, "-") || is_p(p, "||"))) {
		const char *op = cur(p)->text;
		p->pos++;
		node_t *r = parse_mul(p);
		if (p->rc)
			return NULL;
		if (op[0] == '|') {
			struct vec args = {0};
			node_t *sides[2] = {e, r};
			for (int k = 0; k < 2; k++) {
				if (is_concat(sides[k]))
					for (size_t i = 0; i < sides[k]->list.n; i++)
						vpush(p, &args, sides[k]->list.items[i]);
				else
					vpush(p, &args, sides[k]);
			}
			e = span(p, mk_call(p, "concat", &args), si);
		} else {
			e = span(p, mk_bin(p, SN_HQ_ARITH, op, e, r), si);
		}
	}
	return p->rc ? NULL : e;
}

/* The comparison operator at the current position, consumed; NULL if none. */
static const char *compare_op(struct parser *p)
{
	static const struct {
		const char *tok, *op;
	} ops[] = {
	    {"=", "=="},  {"==", "=="},	  {"!=", "!="},	 {"<>", "!="},	 {"<", "<"},
	    {"<=", "<="}, {">", ">"},	  {">=", ">="},	 {"=~", "=~"},	 {"~", "=~"},
	    {"!~", "!~"}, {"=~*", "=~*"}, {"~*", "=~*"}, {"!~*", "!~*"},
	};
	if (cur(p)->kind == SN_TOK_PUNCT) {
		for (size_t i = 0; i < SN_ARRAY_LEN(ops); i++)
			if (is_p(p, ops[i].tok)) {
				p->pos++;
				return ops[i].op;
			}
		return NULL;
	}
	size_t k = 0;
	bool neg = false;
	if (is_kw(p, "not")) {
		neg = true;
		k = 1;
	}
	tok_t *t = peek(p, k);
	if (tok_is_kw(t, "like") || tok_is_kw(t, "ilike")) {
		p->pos += k + 1;
		if (tok_is_kw(t, "like"))
			return neg ? "not like" : "like";
		return neg ? "not ilike" : "ilike";
	}
	if (tok_is_kw(t, "in")) {
		p->pos += k + 1;
		if (accept_kw(p, "cohort"))
			return neg ? "not in cohort" : "in cohort";
		return neg ? "not in" : "in";
	}
	return NULL;
}

static node_t *parse_compare(struct parser *p)
{
	size_t si = p->pos;
	node_t *e = parse_additive(p);
	const char *op;
	while (!p->rc && (op = compare_op(p)) != NULL) {
		node_t *r = parse_additive(p);
		if (p->rc)
			return NULL;
		e = span(p, mk_bin(p, SN_HQ_COMPARE, op, e, r), si);
	}
	return p->rc ? NULL : e;
}

static node_t *parse_ignore_nulls(struct parser *p)
{
	node_t *e = parse_compare(p);
	while (!p->rc && is_kw(p, "ignore") && tok_is_kw(peek(p, 1), "nulls"))
		p->pos += 2;
	return p->rc ? NULL : e;
}

static node_t *parse_is(struct parser *p)
{
	size_t si = p->pos;
	node_t *e = parse_ignore_nulls(p);
	while (!p->rc && is_kw(p, "is")) {
		size_t k = 1;
		bool neg = false;
		if (tok_is_kw(peek(p, 1), "not")) {
			neg = true;
			k = 2;
		}
		if (tok_is_kw(peek(p, k), "null")) {
			p->pos += k + 1;
			node_t *n =
			    mk_bin(p, SN_HQ_COMPARE, neg ? "!=" : "==", e, mk_const_null(p));
			if (n)
				n->flag = true;
			e = span(p, n, si);
		} else if (tok_is_kw(peek(p, k), "distinct") && tok_is_kw(peek(p, k + 1), "from")) {
			p->pos += k + 2;
			node_t *r = parse_ignore_nulls(p);
			if (p->rc)
				return NULL;
			node_t *n = mk_bin(p, SN_HQ_IS_DISTINCT, NULL, e, r);
			if (n)
				n->flag = neg;
			e = span(p, n, si);
		} else {
			p->pos += k;
			fail_expected(p, "NULL or DISTINCT FROM");
			return NULL;
		}
	}
	return p->rc ? NULL : e;
}

static node_t *parse_coalesce(struct parser *p)
{
	size_t si = p->pos;
	node_t *e = parse_is(p);
	while (!p->rc && is_p(p, "??")) {
		p->pos++;
		node_t *r = parse_is(p);
		if (p->rc)
			return NULL;
		struct vec args = {0};
		vpush(p, &args, e);
		vpush(p, &args, r);
		e = span(p, mk_call(p, "ifNull", &args), si);
	}
	return p->rc ? NULL : e;
}

static node_t *parse_between(struct parser *p)
{
	size_t si = p->pos;
	node_t *e = parse_coalesce(p);
	while (!p->rc &&
	       (is_kw(p, "between") || (is_kw(p, "not") && tok_is_kw(peek(p, 1), "between")))) {
		bool neg = accept_kw(p, "not");
		p->pos++;
		node_t *lo = parse_coalesce(p);
		if (p->rc || !expect_kw(p, "and"))
			return NULL;
		node_t *hi = parse_coalesce(p);
		if (p->rc)
			return NULL;
		node_t *n = mk(p, SN_HQ_BETWEEN);
		if (!n)
			return NULL;
		n->a = e;
		n->b = lo;
		n->c = hi;
		n->flag = neg;
		e = span(p, n, si);
	}
	return p->rc ? NULL : e;
}

static node_t *parse_not(struct parser *p)
{
	size_t si = p->pos;
	if (is_kw(p, "not") && !tok_is_p(peek(p, 1), "(")) {
		tok_t *nx = peek(p, 1);
		/* `not` alone or before an operator is the identifier `not`. */
		if (nx->kind != SN_TOK_EOF && !tok_is_p(nx, ")") && !tok_is_p(nx, ",") &&
		    !tok_is_p(nx, "=") && !tok_is_p(nx, ".")) {
			if (!enter(p))
				return NULL;
			p->pos++;
			node_t *x = parse_not(p);
			leave(p);
			if (p->rc)
				return NULL;
			node_t *n = mk(p, SN_HQ_NOT);
			if (n)
				n->a = x;
			return span(p, n, si);
		}
	}
	return parse_between(p);
}

static node_t *parse_nary(struct parser *p, const char *kw, enum sn_hogql_kind kind,
			  node_t *(*next)(struct parser *))
{
	size_t si = p->pos;
	node_t *e = next(p);
	if (p->rc || !is_kw(p, kw))
		return p->rc ? NULL : e;
	struct vec v = {0};
	if (e->kind == kind)
		for (size_t i = 0; i < e->list.n; i++)
			vpush(p, &v, e->list.items[i]);
	else
		vpush(p, &v, e);
	while (!p->rc && accept_kw(p, kw)) {
		node_t *r = next(p);
		if (p->rc)
			return NULL;
		if (r->kind == kind)
			for (size_t i = 0; i < r->list.n; i++)
				vpush(p, &v, r->list.items[i]);
		else
			vpush(p, &v, r);
	}
	node_t *n = mk(p, kind);
	if (n)
		n->list = vlist(&v);
	return span(p, n, si);
}

static node_t *parse_and(struct parser *p)
{
	return parse_nary(p, "and", SN_HQ_AND, parse_not);
}

static node_t *parse_or(struct parser *p)
{
	return parse_nary(p, "or", SN_HQ_OR, parse_and);
}

static node_t *parse_ternary(struct parser *p)
{
	size_t si = p->pos;
	node_t *c = parse_or(p);
	if (p->rc || !is_p(p, "?"))
		return p->rc ? NULL : c;
	p->pos++;
	if (!enter(p))
		return NULL;
	node_t *a = parse_ternary(p);
	if (p->rc || !expect_p(p, ":")) {
		leave(p);
		return NULL;
	}
	node_t *b = parse_ternary(p);
	leave(p);
	if (p->rc)
		return NULL;
	struct vec args = {0};
	vpush(p, &args, c);
	vpush(p, &args, a);
	vpush(p, &args, b);
	return span(p, mk_call(p, "if", &args), si);
}

static const char *check_alias(struct parser *p, const tok_t *t)
{
	static const char *const reserved[] = {"true", "false", "null", "team_id", NULL};
	for (int i = 0; reserved[i]; i++)
		if (sn_str_ieq(t->text, strlen(t->text), reserved[i])) {
			fail_span(p, "SyntaxError", t->start, t->end,
				  "\"%s\" cannot be an alias or identifier, as it's a reserved "
				  "keyword",
				  t->text);
			return NULL;
		}
	return t->text;
}

static node_t *parse_expr(struct parser *p)
{
	size_t si = p->pos;
	if (!enter(p))
		return NULL;
	node_t *e;
	if ((is_kw(p, "lambda") && tok_is_ident(peek(p, 1))) || lambda_ahead(p, false))
		e = parse_lambda(p, si);
	else
		e = parse_ternary(p);
	while (!p->rc && is_kw(p, "as") && tok_is_ident(peek(p, 1))) {
		p->pos++;
		const char *alias = check_alias(p, cur(p));
		if (!alias)
			break;
		p->pos++;
		node_t *n = mk(p, SN_HQ_ALIAS);
		if (!n)
			break;
		n->a = e;
		n->name = alias;
		e = span(p, n, si);
	}
	leave(p);
	return p->rc ? NULL : e;
}

/* ---- SELECT -------------------------------------------------------------------- */

static void parse_order_list(struct parser *p, struct vec *out)
{
	for (;;) {
		size_t si = p->pos;
		node_t *e = parse_expr(p);
		if (p->rc)
			return;
		node_t *o = mk(p, SN_HQ_ORDER_EXPR);
		if (!o)
			return;
		o->a = e;
		o->op = "ASC";
		if (accept_kw(p, "desc") || accept_kw(p, "descending"))
			o->op = "DESC";
		else if (accept_kw(p, "asc") || accept_kw(p, "ascending"))
			o->op = "ASC";
		if (accept_kw(p, "nulls")) {
			if (!accept_kw(p, "first") && !accept_kw(p, "last")) {
				fail_expected(p, "FIRST or LAST");
				return;
			}
		}
		if (accept_kw(p, "collate")) {
			if (cur(p)->kind != SN_TOK_STRING) {
				fail_expected(p, "a collation string");
				return;
			}
			p->pos++;
		}
		if (is_kw(p, "with") && tok_is_kw(peek(p, 1), "fill")) {
			/* ORDER BY x WITH FILL [FROM a] [TO b] [STEP c], in that order. */
			size_t fsi = p->pos;
			node_t *f = mk(p, SN_HQ_WITH_FILL);
			if (!f)
				return;
			p->pos += 2;
			if (accept_kw(p, "from"))
				f->a = parse_expr(p);
			if (!p->rc && accept_kw(p, "to"))
				f->b = parse_expr(p);
			if (!p->rc && accept_kw(p, "step"))
				f->c = parse_expr(p);
			if (p->rc)
				return;
			o->b = span(p, f, fsi);
		}
		vpush(p, out, span(p, o, si));
		if (!accept_p(p, ","))
			return;
	}
}

static node_t *parse_ratio(struct parser *p)
{
	size_t si = p->pos;
	node_t *r = mk(p, SN_HQ_RATIO);
	if (!r)
		return NULL;
	if (!number_starts(p, 0)) {
		fail_expected(p, "a number");
		return NULL;
	}
	r->a = parse_number(p, false);
	if (!p->rc && accept_p(p, "/")) {
		if (!number_starts(p, 0)) {
			fail_expected(p, "a number");
			return NULL;
		}
		r->b = parse_number(p, false);
	}
	return p->rc ? NULL : span(p, r, si);
}

static bool is_table_alias(const tok_t *t)
{
	static const char *const kw_alias[] = {"date", "first", "id", "key", NULL};
	if (t->kind == SN_TOK_QIDENT)
		return true;
	if (t->kind != SN_TOK_IDENT)
		return false;
	return in_list(t, kw_alias) || !is_keyword(t);
}

/* One table with its alias, FINAL and SAMPLE: a JoinExpr without join_type. */
static node_t *parse_table(struct parser *p)
{
	size_t si = p->pos;
	node_t *j = mk(p, SN_HQ_JOIN);
	if (!j)
		return NULL;
	if (is_p(p, "(") && starts_select(p, 1)) {
		if (!enter(p))
			return NULL;
		p->pos++;
		j->a = parse_select_set(p);
		leave(p);
		if (p->rc || !expect_p(p, ")"))
			return NULL;
	} else if (is_p(p, "{")) {
		j->a = parse_primary(p);
	} else if (tok_is_ident(cur(p))) {
		struct svec chain = {0};
		tok_t *first = cur(p);
		spush(p, &chain, ident_text(first));
		p->pos++;
		while (is_p(p, ".") && tok_is_ident(peek(p, 1))) {
			spush(p, &chain, ident_text(peek(p, 1)));
			p->pos += 2;
		}
		node_t *f = mk(p, SN_HQ_FIELD);
		if (!f)
			return NULL;
		f->strs = slist(&chain);
		j->a = span(p, f, si);
		if (chain.n == 1 && first->kind == SN_TOK_IDENT && is_p(p, "(")) {
			/* A table function: PostHog's JoinExpr spans just the call
			 * and its Field has no position. */
			f->has_pos = false;
			struct vec args = {0};
			p->pos++;
			parse_expr_list(p, &args, ")");
			if (p->rc || !expect_p(p, ")"))
				return NULL;
			j->list = vlist(&args);
			j->has_list = true;
			span(p, j, si);
		}
	} else {
		fail_expected(p, "a table name or a subquery");
		return NULL;
	}
	if (p->rc)
		return NULL;
	/* Aliases may repeat and the last one wins (`t a b`, `t a GLOBAL`):
	 * PostHog's grammar makes the aliased table left-recursive, and its
	 * span ends after the first alias. */
	size_t first_alias_end = 0;
	for (;;) {
		if (is_kw(p, "as") && tok_is_ident(peek(p, 1))) {
			p->pos++;
			j->name = check_alias(p, cur(p));
			p->pos++;
		} else if (is_table_alias(cur(p))) {
			j->name = check_alias(p, cur(p));
			p->pos++;
		} else {
			break;
		}
		if (p->rc)
			return NULL;
		if (!first_alias_end)
			first_alias_end = p->pos;
	}
	if (j->name && is_p(p, "(")) {
		struct svec cols = {0};
		p->pos++;
		while (!p->rc && !is_p(p, ")")) {
			const char *c = expect_ident(p);
			if (!c)
				return NULL;
			spush(p, &cols, c);
			if (!accept_p(p, ","))
				break;
		}
		if (!expect_p(p, ")"))
			return NULL;
		j->strs = slist(&cols);
		j->has_strs = true;
	}
	size_t after_alias = j->has_strs || !first_alias_end ? p->pos : first_alias_end;
	if (accept_kw(p, "final"))
		j->flag = true;
	if (is_kw(p, "sample")) {
		size_t ssi = p->pos++;
		node_t *s = mk(p, SN_HQ_SAMPLE);
		if (!s)
			return NULL;
		s->a = parse_ratio(p);
		if (!p->rc && accept_kw(p, "offset"))
			s->b = parse_ratio(p);
		if (p->rc)
			return NULL;
		j->d = span(p, s, ssi);
	}
	if (!j->has_list) {
		/* With an alias PostHog's span stops at the alias; without one it
		 * covers FINAL and SAMPLE too. */
		span(p, j, si);
		if (j->name)
			j->end = p->t[after_alias - 1].end;
	}
	return p->rc ? NULL : j;
}

/* The join operator before JOIN, normalised as PostHog prints it; NULL when
 * the current tokens do not start a join. Consumes the tokens. */
static const char *parse_join_op(struct parser *p)
{
	static const char *const words[] = {"inner", "left", "right", "full", "outer",	 "any",
					    "all",   "asof", "semi",  "anti", "natural", NULL};
	size_t k = 0;
	while (in_list(peek(p, k), words))
		k++;
	if (!tok_is_kw(peek(p, k), "join"))
		return NULL;
	const char *dir = NULL, *mod = NULL;
	bool outer = false;
	for (size_t i = 0; i < k; i++) {
		tok_t *t = peek(p, i);
		if (tok_is_kw(t, "inner") || tok_is_kw(t, "left") || tok_is_kw(t, "right") ||
		    tok_is_kw(t, "full")) {
			dir = tok_is_kw(t, "inner")   ? "INNER"
			      : tok_is_kw(t, "left")  ? "LEFT"
			      : tok_is_kw(t, "right") ? "RIGHT"
						      : "FULL";
		} else if (tok_is_kw(t, "outer")) {
			outer = true;
		} else if (!tok_is_kw(t, "natural")) {
			mod = tok_is_kw(t, "any")    ? "ANY"
			      : tok_is_kw(t, "all")  ? "ALL"
			      : tok_is_kw(t, "asof") ? "ASOF"
			      : tok_is_kw(t, "semi") ? "SEMI"
						     : "ANTI";
		}
	}
	p->pos += k + 1;
	char buf[64];
	if (!dir && !mod)
		return "JOIN";
	if (!dir &&
	    (strcmp(mod, "ANY") == 0 || strcmp(mod, "ALL") == 0 || strcmp(mod, "ASOF") == 0))
		dir = "INNER";
	if (dir && strcmp(dir, "INNER") == 0 && mod)
		snprintf(buf, sizeof(buf), "%s INNER JOIN", mod);
	else
		snprintf(buf, sizeof(buf), "%s%s%s%s%s JOIN", dir ? dir : "",
			 dir && outer ? " OUTER" : "", dir && mod ? " " : "", mod ? mod : "", "");
	return dup(p, buf, strlen(buf));
}

static bool at_array_join(struct parser *p)
{
	size_t k = (is_kw(p, "left") || is_kw(p, "inner")) ? 1 : 0;
	return tok_is_kw(peek(p, k), "array") && tok_is_kw(peek(p, k + 1), "join");
}

static node_t *parse_from(struct parser *p)
{
	node_t *first = parse_table(p), *last = first;
	while (!p->rc) {
		const char *jt = NULL;
		if (at_array_join(p))
			break;
		if (is_p(p, ",")) {
			p->pos++;
			jt = "CROSS JOIN";
		} else if (is_kw(p, "cross") && tok_is_kw(peek(p, 1), "join")) {
			p->pos += 2;
			jt = "CROSS JOIN";
		} else if ((jt = parse_join_op(p)) == NULL) {
			break;
		}
		node_t *j = parse_table(p);
		if (p->rc)
			return NULL;
		j->op = jt;
		if (is_kw(p, "on") || is_kw(p, "using")) {
			size_t csi = p->pos;
			bool on = is_kw(p, "on");
			p->pos++;
			struct vec v = {0};
			bool paren = !on && is_p(p, "(");
			if (paren)
				p->pos++;
			parse_expr_list(p, &v, ")");
			if (p->rc || (paren && !expect_p(p, ")")))
				return NULL;
			node_t *c = mk(p, SN_HQ_JOIN_CONSTRAINT);
			if (!c)
				return NULL;
			c->op = on ? "ON" : "USING";
			if (v.n == 1) {
				c->a = v.items[0];
			} else {
				node_t *tu = mk(p, SN_HQ_TUPLE);
				if (!tu)
					return NULL;
				tu->list = vlist(&v);
				c->a = tu;
			}
			j->b = span(p, c, csi);
		}
		last->c = j;
		last = j;
	}
	return p->rc ? NULL : first;
}

static bool is_implicit_alias(const tok_t *t)
{
	if (t->kind == SN_TOK_QIDENT)
		return true;
	if (t->kind != SN_TOK_IDENT)
		return false;
	if (in_list(t, implicit_alias_keywords))
		return true;
	return !is_keyword(t) && tok_is_ident(t);
}

static node_t *parse_column(struct parser *p)
{
	size_t si = p->pos;
	if (tok_is_ident(cur(p)) && tok_is_p(peek(p, 1), ":")) {
		const char *alias = check_alias(p, cur(p));
		if (!alias)
			return NULL;
		p->pos += 2;
		node_t *e = parse_expr(p);
		if (p->rc)
			return NULL;
		node_t *n = mk(p, SN_HQ_ALIAS);
		if (!n)
			return NULL;
		n->a = e;
		n->name = alias;
		return span(p, n, si);
	}
	node_t *e = parse_expr(p);
	if (p->rc)
		return NULL;
	if (is_implicit_alias(cur(p))) {
		tok_t *t = cur(p);
		if (e->kind == SN_HQ_FIELD && e->strs.n == 1 && p->pos == si + 1 &&
		    p->t[si].kind == SN_TOK_IDENT && is_keyword(&p->t[si]) &&
		    sn_str_ieq(p->t[si].text, p->t[si].len, "from")) {
			fail_span(p, "SyntaxError", p->t[si].start, t->end,
				  "Cannot use \"from\" before an implicit alias");
			return NULL;
		}
		const char *alias = check_alias(p, t);
		if (!alias)
			return NULL;
		p->pos++;
		node_t *n = mk(p, SN_HQ_ALIAS);
		if (!n)
			return NULL;
		n->a = e;
		n->name = alias;
		return span(p, n, si);
	}
	return e;
}

static bool at_clause_end(struct parser *p)
{
	static const char *const clause[] = {
	    "from",  "where",  "prewhere",  "group",  "having",	 "order",    "limit", "offset",
	    "union", "except", "intersect", "window", "qualify", "settings", NULL};
	tok_t *t = cur(p);
	return t->kind == SN_TOK_EOF || tok_is_p(t, ")") || tok_is_p(t, ";") ||
	       (in_list(t, clause) && !tok_is_p(peek(p, 1), ",") && !tok_is_p(peek(p, 1), "("));
}

static void parse_ctes(struct parser *p, struct vec *out)
{
	bool recursive = accept_kw(p, "recursive");
	for (;;) {
		size_t si = p->pos;
		node_t *c = mk(p, SN_HQ_CTE);
		if (!c)
			return;
		/* name [(cols)] AS (select) — else `expr AS name`. */
		size_t k = 1;
		bool cols = false;
		if (tok_is_ident(cur(p)) && tok_is_p(peek(p, 1), "(")) {
			k = 2;
			while (tok_is_ident(peek(p, k)) &&
			       (tok_is_p(peek(p, k + 1), ",") || tok_is_p(peek(p, k + 1), ")")))
				k += tok_is_p(peek(p, k + 1), ",") ? 2 : 1;
			if (tok_is_p(peek(p, k), ")") || tok_is_p(peek(p, k - 1), ")")) {
				if (tok_is_p(peek(p, k), ")"))
					k++;
				cols = true;
			}
		}
		if (tok_is_ident(cur(p)) && tok_is_kw(peek(p, k), "as") &&
		    tok_is_p(peek(p, k + 1), "(") && starts_select(p, k + 2) && (k == 1 || cols)) {
			c->name = ident_text(cur(p));
			if (cols) {
				struct svec cv = {0};
				p->pos += 2;
				while (tok_is_ident(cur(p))) {
					spush(p, &cv, ident_text(cur(p)));
					p->pos++;
					if (!accept_p(p, ","))
						break;
				}
				if (!expect_p(p, ")"))
					return;
				c->strs = slist(&cv);
				c->has_strs = true;
			} else {
				p->pos++;
			}
			p->pos += 2; /* AS ( */
			if (!enter(p))
				return;
			c->a = parse_select_set(p);
			leave(p);
			if (p->rc || !expect_p(p, ")"))
				return;
			c->op = "subquery";
			c->full = recursive;
		} else {
			node_t *e = parse_expr(p);
			if (p->rc)
				return;
			if (e->kind != SN_HQ_ALIAS) {
				fail_expected(p, "AS name after the WITH expression");
				return;
			}
			c->name = e->name;
			c->a = e->a;
			c->op = "column";
		}
		vpush(p, out, span(p, c, si));
		if (!accept_p(p, ","))
			return;
		if (is_kw(p, "select"))
			return;
	}
}

static node_t *parse_select_stmt(struct parser *p)
{
	size_t si = p->pos;
	node_t *q = mk(p, SN_HQ_SELECT);
	if (!q)
		return NULL;
	struct sn_hogql_select *s = q->sel;
	if (accept_kw(p, "with")) {
		struct vec v = {0};
		parse_ctes(p, &v);
		if (p->rc)
			return NULL;
		s->ctes = vlist(&v);
		s->has_ctes = true;
	}
	if (!expect_kw(p, "select"))
		return NULL;
	if (accept_kw(p, "distinct"))
		s->distinct = true;
	if (is_kw(p, "top") && peek(p, 1)->kind == SN_TOK_INT) {
		fail_span(p, "NotImplementedError", cur(p)->start, peek(p, 1)->end,
			  "Unsupported: SelectStmt.topClause()");
		return NULL;
	}
	struct vec cols = {0};
	for (;;) {
		vpush(p, &cols, parse_column(p));
		if (p->rc)
			return NULL;
		if (!accept_p(p, ","))
			break;
		if (at_clause_end(p))
			break;
	}
	s->select = vlist(&cols);
	if (accept_kw(p, "from")) {
		s->select_from = parse_from(p);
		if (p->rc)
			return NULL;
	}
	if (at_array_join(p)) {
		s->array_join_op = is_kw(p, "left")    ? "LEFT ARRAY JOIN"
				   : is_kw(p, "inner") ? "INNER ARRAY JOIN"
						       : "ARRAY JOIN";
		p->pos += is_kw(p, "array") ? 2 : 3;
		struct vec v = {0};
		size_t asi = p->pos;
		for (;;) {
			node_t *e = parse_expr(p);
			if (p->rc)
				return NULL;
			if (e->kind != SN_HQ_ALIAS) {
				fail_span(p, "SyntaxError", p->t[asi].start, p->t[p->pos - 1].end,
					  "ARRAY JOIN arrays must have an alias");
				return NULL;
			}
			vpush(p, &v, e);
			if (!accept_p(p, ","))
				break;
			asi = p->pos;
		}
		s->array_join_list = vlist(&v);
	}
	if (accept_kw(p, "prewhere"))
		s->prewhere = parse_expr(p);
	if (!p->rc && accept_kw(p, "where"))
		s->where = parse_expr(p);
	if (p->rc)
		return NULL;
	if (is_kw(p, "group") && tok_is_kw(peek(p, 1), "by")) {
		p->pos += 2;
		if (accept_kw(p, "all")) {
			s->group_by_mode = "all";
		} else if ((is_kw(p, "cube") || is_kw(p, "rollup")) && tok_is_p(peek(p, 1), "(")) {
			s->group_by_mode = is_kw(p, "cube") ? "cube" : "rollup";
			p->pos += 2;
			struct vec v = {0};
			parse_expr_list(p, &v, ")");
			if (p->rc || !expect_p(p, ")"))
				return NULL;
			s->group_by = vlist(&v);
			s->has_group_by = true;
		} else if (is_kw(p, "grouping") && tok_is_kw(peek(p, 1), "sets")) {
			fail_span(p, "NotImplementedError", cur(p)->start, peek(p, 1)->end,
				  "GROUPING SETS is not supported");
			return NULL;
		} else {
			struct vec v = {0};
			parse_expr_list(p, &v, ")");
			if (p->rc)
				return NULL;
			s->group_by = vlist(&v);
			s->has_group_by = true;
		}
		while (is_kw(p, "with") &&
		       (tok_is_kw(peek(p, 1), "rollup") || tok_is_kw(peek(p, 1), "cube") ||
			tok_is_kw(peek(p, 1), "totals")))
			p->pos += 2;
	}
	if (accept_kw(p, "having"))
		s->having = parse_expr(p);
	if (!p->rc && accept_kw(p, "qualify"))
		s->qualify = parse_expr(p);
	if (p->rc)
		return NULL;
	if (accept_kw(p, "window")) {
		struct vec exprs = {0};
		struct svec names = {0};
		for (;;) {
			const char *name = expect_ident(p);
			if (!name || !expect_kw(p, "as") || !expect_p(p, "("))
				return NULL;
			node_t *w = parse_window_expr(p);
			if (p->rc || !expect_p(p, ")"))
				return NULL;
			spush(p, &names, name);
			vpush(p, &exprs, w);
			if (!accept_p(p, ","))
				break;
		}
		s->window_names = names.items;
		s->window_exprs = exprs.items;
		s->nwindows = exprs.n;
	}
	if (is_kw(p, "order") && tok_is_kw(peek(p, 1), "by")) {
		p->pos += 2;
		struct vec v = {0};
		parse_order_list(p, &v);
		if (p->rc)
			return NULL;
		s->order_by = vlist(&v);
		s->has_order_by = true;
		if (accept_kw(p, "interpolate")) {
			/* INTERPOLATE [(col AS expr, ...)]. PostHog's parser crashes on
			 * an item without AS; here that is a syntax error. */
			struct vec items = {0};
			if (accept_p(p, "(")) {
				do {
					size_t isi = p->pos;
					node_t *it = mk(p, SN_HQ_INTERPOLATE);
					node_t *col = mk(p, SN_HQ_FIELD);
					if (!it || !col)
						return NULL;
					const char *name = expect_ident(p);
					if (!name)
						return NULL;
					struct svec chain = {0};
					spush(p, &chain, name);
					col->strs = slist(&chain);
					it->a = span(p, col, isi);
					if (!accept_kw(p, "as")) {
						fail_expected(
						    p, "AS and the value to interpolate with");
						return NULL;
					}
					it->b = parse_expr(p);
					if (p->rc)
						return NULL;
					vpush(p, &items, span(p, it, isi));
				} while (accept_p(p, ","));
				if (!expect_p(p, ")"))
					return NULL;
			}
			s->interpolate = vlist(&items);
			s->has_interpolate = true;
		}
	}
	size_t end_before_offset = 0;
	if (is_kw(p, "limit")) {
		size_t lsi = p->pos++;
		node_t *n1 = parse_expr(p), *n2 = NULL;
		bool comma = false;
		if (!p->rc && (is_p(p, ",") || is_kw(p, "offset"))) {
			comma = is_p(p, ",");
			if (!comma)
				end_before_offset = p->pos;
			p->pos++;
			n2 = parse_expr(p);
		}
		if (p->rc)
			return NULL;
		if (accept_kw(p, "by")) {
			end_before_offset = 0;
			node_t *lb = mk(p, SN_HQ_LIMIT_BY);
			struct vec v = {0};
			if (!lb)
				return NULL;
			parse_expr_list(p, &v, ")");
			if (p->rc)
				return NULL;
			lb->a = n1;
			lb->b = n2;
			lb->list = vlist(&v);
			s->limit_by = span(p, lb, lsi);
			n1 = n2 = NULL;
			if (accept_kw(p, "limit")) {
				n1 = parse_expr(p);
				if (!p->rc && (is_p(p, ",") || is_kw(p, "offset"))) {
					comma = is_p(p, ",");
					if (!comma)
						end_before_offset = p->pos;
					p->pos++;
					n2 = parse_expr(p);
				}
			}
		}
		if (p->rc)
			return NULL;
		(void)comma;
		s->limit = n1;
		if (n1 && is_kw(p, "with") && tok_is_kw(peek(p, 1), "ties")) {
			p->pos += 2;
			s->limit_with_ties = true;
		}
		if (!n2 && n1 && is_kw(p, "offset")) {
			end_before_offset = p->pos++;
			n2 = parse_expr(p);
		}
		s->offset = n2;
	} else if (accept_kw(p, "offset")) {
		s->offset = parse_expr(p);
	}
	if (p->rc)
		return NULL;
	if (is_kw(p, "settings")) {
		fail_span(p, "NotImplementedError", cur(p)->start, cur(p)->end,
			  "Unsupported: SelectStmt.settingsClause()");
		return NULL;
	}
	span(p, q, si);
	/* PostHog's SelectQuery ends before `OFFSET n` of `LIMIT m OFFSET n`. */
	if (end_before_offset)
		q->end = p->t[end_before_offset - 1].end;
	return q;
}

static node_t *parse_select_with_parens(struct parser *p)
{
	if (is_p(p, "(")) {
		if (!enter(p))
			return NULL;
		p->pos++;
		node_t *q = parse_select_set(p);
		leave(p);
		if (p->rc || !expect_p(p, ")"))
			return NULL;
		return q;
	}
	if (is_p(p, "{"))
		return parse_primary(p);
	return parse_select_stmt(p);
}

static const char *set_op(struct parser *p)
{
	if (accept_kw(p, "union")) {
		if (accept_kw(p, "all"))
			return "UNION ALL";
		accept_kw(p, "distinct");
		return "UNION DISTINCT";
	}
	/* ALL is kept as written (PostHog's AST has "INTERSECT ALL" and
	 * "EXCEPT ALL" beside the bare forms; ClickHouse's default mode for
	 * both is ALL, so they mean the same) */
	if (accept_kw(p, "intersect")) {
		if (accept_kw(p, "distinct"))
			return "INTERSECT DISTINCT";
		return accept_kw(p, "all") ? "INTERSECT ALL" : "INTERSECT";
	}
	if (accept_kw(p, "except"))
		return accept_kw(p, "all") ? "EXCEPT ALL" : "EXCEPT";
	return NULL;
}

static node_t *parse_select_set(struct parser *p)
{
	size_t si = p->pos;
	if (!enter(p))
		return NULL;
	node_t *first = parse_select_with_parens(p);
	struct vec rest = {0};
	const char *op;
	while (!p->rc && (op = set_op(p)) != NULL) {
		node_t *n = mk(p, SN_HQ_SELECT_SET_NODE);
		if (!n)
			break;
		n->op = op;
		n->a = parse_select_with_parens(p);
		vpush(p, &rest, n);
	}
	leave(p);
	if (p->rc)
		return NULL;
	if (!rest.n)
		return first;
	node_t *s = mk(p, SN_HQ_SELECT_SET);
	if (!s)
		return NULL;
	s->a = first;
	s->list = vlist(&rest);
	return span(p, s, si);
}

/* ---- entry points -------------------------------------------------------------- */

bool sn_hogql_is_keyword(const char *word)
{
	size_t n = strlen(word);
	for (int i = 0; keywords[i]; i++)
		if (sn_str_ieq(word, n, keywords[i]))
			return true;
	return false;
}

static int run(struct sn_arena *a, const char *src, size_t len, bool select, node_t **out,
	       struct sn_hogql_error *err)
{
	struct parser p = {.a = a, .src = src, .len = len, .err = err};
	struct sn_hogql_error dummy;
	if (!p.err)
		p.err = &dummy;
	int rc = sn_hogql_lex(a, src, len, &p.t, &p.n, p.err);
	if (rc < 0) {
		if (rc == SN_ERR_NOMEM)
			nomem(&p);
		return rc;
	}
	node_t *n = select ? parse_select_set(&p) : parse_expr(&p);
	if (!p.rc && select)
		accept_p(&p, ";");
	if (!p.rc && cur(&p)->kind != SN_TOK_EOF)
		fail_expected(&p, select ? "end of query" : "end of expression");
	if (p.rc)
		return p.rc;
	*out = n;
	return 0;
}

int sn_hogql_parse_select(struct sn_arena *a, const char *src, size_t len, node_t **out,
			  struct sn_hogql_error *err)
{
	return run(a, src, len, true, out, err);
}

int sn_hogql_parse_expr(struct sn_arena *a, const char *src, size_t len, node_t **out,
			struct sn_hogql_error *err)
{
	return run(a, src, len, false, out, err);
}
