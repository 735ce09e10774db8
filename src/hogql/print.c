/*
 * print.c — the AST back to canonical HogQL text.
 *
 * The contract is the round trip: parse(print(ast)) equals ast, positions
 * aside. Everything below serves that contract first and readability second:
 *
 *  - Parentheses are added only where the operand binds looser than its
 *    operator position needs. Each node has a binding level (prec(), the
 *    table of spec §3.2: 100 = postfix/atom ... 0 = alias/lambda); an operand
 *    printed at a level below the minimum its position accepts is wrapped.
 *    Left-associative operators accept their own level on the left and one
 *    level tighter on the right, mirroring the parser's loops.
 *  - Calls the parser invents while desugaring (`??` → ifNull, `||` →
 *    concat, CASE/ternary → if/multiIf, INTERVAL → toIntervalX, TRIM(BOTH)
 *    → trim, f(SELECT ...)) print only name and args in PostHog's JSON while
 *    written calls print more (Call.full). So a non-full call is printed in
 *    the sugar that produces it again, a full one as name(args).
 *  - Identifiers that are not plain ASCII words, that are keywords, or that
 *    would read as true/false are quoted with backticks. Function and table
 *    function names stay bare: the parser only reads a bare word followed by
 *    '(' as a call.
 *  - Strings escape quote, backslash and control characters, so the lexer
 *    decodes them to the same bytes. Floats use the shortest text that reads
 *    back as the same double and always carry a '.' or an exponent, so they
 *    stay floats; integers and big numbers print their digits.
 *  - NOT is never followed directly by '(' (the parser reads `NOT (x)` as
 *    the call not(x)); `-x` (minus(0, x)) prints in unary form for the same
 *    reason, since its operand otherwise starts a parenthesised expression.
 *
 * Known gaps (sn_hogql_print returns 1 for them): a concat() built by an
 * f-string whose argument is itself a concat() has no `||` spelling (the
 * parser flattens nested `||`); it is printed back as an f-string when the
 * holes allow it (no quote or brace in their text), otherwise with `||`,
 * which re-parses flattened. And a CAST type glued from tokens that include
 * quoted ones (`CAST(x AS a f'b')`) may re-tokenise differently.
 *
 * Output goes to a caller's sn_buf, so its size is bounded by the buffer's
 * maximum; recursion follows the tree, whose depth the parser bounds.
 *
 * Rejected alternative: parenthesising every operand. It is simpler but
 * unreadable as the `hogql` echo in query responses (spec §4.8), and the
 * NOT-before-'(' rule means full parenthesisation would be wrong anyway.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hogql/hogql.h"

typedef struct sn_hogql_node node_t;

struct pr {
	struct sn_buf *b;
	int rc;
	bool lossy; /* printed something that re-parses differently (known gap) */
};

enum {
	P_ALIAS = 0,
	P_OR = 10,
	P_AND = 20,
	P_NOT = 30,
	P_BETWEEN = 40,
	P_COALESCE = 45,
	P_IS = 50,
	P_CMP = 60,
	P_ADD = 70,
	P_MUL = 80,
	P_UNARY = 90,
	P_ATOM = 100,
};

static void out(struct pr *p, const char *s)
{
	if (p->rc == 0)
		p->rc = sn_buf_appends(p->b, s);
}

static void outc(struct pr *p, char c)
{
	if (p->rc == 0)
		p->rc = sn_buf_appendc(p->b, c);
}

static bool is_bare_word(const char *s)
{
	if (!*s ||
	    !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == '$'))
		return false;
	for (const char *c = s + 1; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '$'))
			return false;
	return true;
}

/* Backslash escapes the lexer decodes back, for strings and identifiers. */
static void escaped(struct pr *p, const char *s, char quote)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '\\': out(p, "\\\\"); break;
		case '\n': out(p, "\\n"); break;
		case '\r': out(p, "\\r"); break;
		case '\t': out(p, "\\t"); break;
		case '\b': out(p, "\\b"); break;
		case '\f': out(p, "\\f"); break;
		case '\a': out(p, "\\a"); break;
		case '\v': out(p, "\\v"); break;
		default:
			if (*c == (unsigned char)quote) {
				/* Backticks only know doubling; strings take \'. */
				out(p, quote == '`' ? "``" : "\\'");
			} else {
				outc(p, (char)*c);
			}
		}
	}
}

/* Whether a cast's type text reads back through CAST(x AS ...): a name
 * followed by balanced parentheses. Anything else (from `x::\`a(b\``) is
 * printed as a quoted `::` type instead. */
static bool balanced_type(const char *t)
{
	int depth = 0;
	if (!isalpha((unsigned char)t[0]) && t[0] != '_')
		return false;
	char quote = 0;
	for (const char *c = t; *c; c++) {
		if (quote) {
			if (*c == quote)
				quote = 0;
		} else if (*c == '\'' || *c == '"') {
			quote = *c;
		} else if (*c == '(') {
			depth++;
		} else if (*c == ')' && --depth < 0) {
			return false;
		} else if (*c == '`' || *c == '\\' || isspace((unsigned char)*c)) {
			return false; /* the parser glues type tokens, dropping blanks */
		}
	}
	return depth == 0 && !quote;
}

/* Words the lexer reads as literals even after a '.': `e.null`, `e.inf`
 * and `e.nan` do not parse (in PostHog's parser either), `e.true` does. */
static bool is_literal_word(const char *w)
{
	return strcasecmp(w, "null") == 0 || strcasecmp(w, "inf") == 0 || strcasecmp(w, "nan") == 0;
}

static void ident(struct pr *p, const char *name)
{
	if (is_bare_word(name) && !sn_hogql_is_keyword(name) && strcasecmp(name, "true") != 0 &&
	    strcasecmp(name, "false") != 0) {
		out(p, name);
		return;
	}
	outc(p, '`');
	escaped(p, name, '`');
	outc(p, '`');
}

static void string_lit(struct pr *p, const char *s)
{
	outc(p, '\'');
	escaped(p, s, '\'');
	outc(p, '\'');
}

static void float_lit(struct pr *p, double v)
{
	if (isnan(v)) {
		out(p, "nan");
		return;
	}
	if (isinf(v)) {
		out(p, v < 0 ? "-inf" : "inf");
		return;
	}
	char tmp[64], e[64];
	int prec;
	for (prec = 1; prec < 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	/* Positional notation in [1e-4, 1e16) like Python's repr, else exponent. */
	snprintf(e, sizeof(e), "%.*e", prec - 1, v);
	int exp10 = atoi(strchr(e, 'e') + 1);
	if (exp10 >= -4 && exp10 < 16)
		snprintf(tmp, sizeof(tmp), "%.*f", prec - 1 - exp10 > 0 ? prec - 1 - exp10 : 0, v);
	else
		snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
	if (!strpbrk(tmp, ".e"))
		strcat(tmp, ".0");
	out(p, tmp);
}

static void constant(struct pr *p, const node_t *n)
{
	switch (n->ctype) {
	case SN_HQC_NULL: out(p, "NULL"); break;
	case SN_HQC_BOOL: out(p, n->bval ? "true" : "false"); break;
	case SN_HQC_INT:
		if (p->rc == 0)
			p->rc = sn_buf_appendf(p->b, "%" PRId64, n->ival);
		break;
	case SN_HQC_FLOAT: float_lit(p, n->fval); break;
	case SN_HQC_STRING: string_lit(p, n->sval); break;
	case SN_HQC_BIGNUM:
		if (n->special) {
			/* A 64-bit binary literal; decimal digits would re-read as a
			 * decimal big number, which PostHog prints differently. */
			bool neg = n->sval[0] == '-';
			unsigned long long v = strtoull(n->sval + neg, NULL, 10);
			char bits[72];
			int k = 0;
			for (int i = 63; i >= 0; i--)
				if (k || (v >> i) & 1)
					bits[k++] = (char)('0' + ((v >> i) & 1));
			bits[k] = 0;
			out(p, neg ? "-0b" : "0b");
			out(p, k ? bits : "0");
		} else {
			out(p, n->sval);
		}
		break;
	}
}

static bool is_numeric_const(const node_t *n)
{
	return n->kind == SN_HQ_CONSTANT &&
	       (n->ctype == SN_HQC_INT || n->ctype == SN_HQC_FLOAT || n->ctype == SN_HQC_BIGNUM);
}

static bool named(const node_t *n, const char *name)
{
	return n->kind == SN_HQ_CALL && strcmp(n->name, name) == 0;
}

/* minus(0, x) as the parser builds it for `-x`. */
static bool is_unary_minus(const node_t *n)
{
	return n->kind == SN_HQ_ARITH && strcmp(n->op, "-") == 0 && n->a->kind == SN_HQ_CONSTANT &&
	       n->a->ctype == SN_HQC_INT && n->a->ival == 0;
}

static bool is_interval_fn(const char *name)
{
	static const char *const fns[] = {
	    "toIntervalSecond",	 "toIntervalMinute", "toIntervalHour",
	    "toIntervalDay",	 "toIntervalWeek",   "toIntervalMonth",
	    "toIntervalQuarter", "toIntervalYear",   NULL};
	for (int i = 0; fns[i]; i++)
		if (strcmp(name, fns[i]) == 0)
			return true;
	return false;
}

static int prec(const node_t *n)
{
	switch (n->kind) {
	case SN_HQ_ALIAS:
	case SN_HQ_LAMBDA:
	case SN_HQ_NAMED_ARG: return P_ALIAS;
	case SN_HQ_OR: return P_OR;
	case SN_HQ_AND: return P_AND;
	case SN_HQ_NOT: return P_NOT;
	case SN_HQ_BETWEEN: return P_BETWEEN;
	case SN_HQ_IS_DISTINCT: return P_IS;
	case SN_HQ_COMPARE: return n->flag ? P_IS : P_CMP;
	case SN_HQ_ARITH:
		if (is_unary_minus(n))
			return P_UNARY;
		return (n->op[0] == '+' || n->op[0] == '-') ? P_ADD : P_MUL;
	case SN_HQ_CONSTANT:
		if ((n->ctype == SN_HQC_INT && n->ival < 0) ||
		    (n->ctype == SN_HQC_FLOAT && (signbit(n->fval) && !isnan(n->fval))) ||
		    (n->ctype == SN_HQC_BIGNUM && n->sval[0] == '-'))
			return P_UNARY;
		return P_ATOM;
	case SN_HQ_CALL:
		if (!n->full && named(n, "ifNull") && n->list.n == 2)
			return P_COALESCE;
		if (!n->full && named(n, "concat") && n->list.n >= 2)
			return P_ADD;
		return P_ATOM;
	default: return P_ATOM;
	}
}

static void expr(struct pr *p, const node_t *n, int min);
static void select_any(struct pr *p, const node_t *n);
static void window_expr(struct pr *p, const node_t *w);

static void list(struct pr *p, const struct sn_hogql_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			out(p, ", ");
		expr(p, l->items[i], P_ALIAS);
	}
}

static void order_list(struct pr *p, const struct sn_hogql_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			out(p, ", ");
		const node_t *o = l->items[i];
		expr(p, o->a, P_ALIAS);
		out(p, strcmp(o->op, "DESC") == 0 ? " DESC" : " ASC");
		if (o->b) {
			out(p, " WITH FILL");
			if (o->b->a) {
				out(p, " FROM ");
				expr(p, o->b->a, P_ALIAS);
			}
			if (o->b->b) {
				out(p, " TO ");
				expr(p, o->b->b, P_ALIAS);
			}
			if (o->b->c) {
				out(p, " STEP ");
				expr(p, o->b->c, P_ALIAS);
			}
		}
	}
}

static void binary(struct pr *p, const node_t *n, const char *op, int level)
{
	expr(p, n->a, level);
	outc(p, ' ');
	out(p, op);
	outc(p, ' ');
	expr(p, n->b, level + 5);
}

static const char *compare_text(const char *op)
{
	static const struct {
		const char *op, *text;
	} ops[] = {
	    {"==", "="},
	    {"like", "LIKE"},
	    {"ilike", "ILIKE"},
	    {"not like", "NOT LIKE"},
	    {"not ilike", "NOT ILIKE"},
	    {"in", "IN"},
	    {"not in", "NOT IN"},
	    {"in cohort", "IN COHORT"},
	    {"not in cohort", "NOT IN COHORT"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(ops); i++)
		if (strcmp(op, ops[i].op) == 0)
			return ops[i].text;
	return op;
}

/* An f-string for a concat() whose pieces allow one (see the file comment).
 * Returns false, printing nothing, when they do not. */
static bool try_fstring(struct pr *p, const node_t *n)
{
	struct sn_buf tmp;
	struct pr t = {.b = &tmp};
	bool ok = true, prev_str = false;
	sn_buf_init(&tmp, p->b->max);
	out(&t, "f'");
	for (size_t i = 0; i < n->list.n && ok; i++) {
		const node_t *a = n->list.items[i];
		if (a->kind == SN_HQ_CONSTANT && a->ctype == SN_HQC_STRING) {
			if (prev_str || !a->sval[0]) {
				ok = false;
				break;
			}
			prev_str = true;
			for (const char *c = a->sval; *c; c++) {
				if (*c == '{' || *c == '\'')
					outc(&t, '\\');
				if (*c == '\\' || *c == '\n' || *c == '\r' || *c == '\t' ||
				    *c == '\b' || *c == '\f' || *c == '\a' || *c == '\v') {
					char one[2] = {*c, 0};
					escaped(&t, one, '\'');
				} else {
					outc(&t, *c);
				}
			}
			continue;
		}
		prev_str = false;
		size_t mark = tmp.len;
		outc(&t, '{');
		expr(&t, a, P_ALIAS);
		if (t.rc == 0 && (memchr(tmp.data + mark + 1, '}', tmp.len - mark - 1) ||
				  memchr(tmp.data + mark + 1, '\'', tmp.len - mark - 1) ||
				  memchr(tmp.data + mark + 1, '\\', tmp.len - mark - 1)))
			ok = false;
		outc(&t, '}');
	}
	outc(&t, '\'');
	if (ok && t.rc == 0 && n->list.n >= 2) {
		if (p->rc == 0)
			p->rc = sn_buf_append(p->b, tmp.data, tmp.len);
	} else {
		ok = false;
	}
	if (t.rc && p->rc == 0)
		p->rc = t.rc;
	sn_buf_release(&tmp);
	return ok;
}

/* A call the parser built from sugar, printed as that sugar. */
static bool desugared_call(struct pr *p, const node_t *n)
{
	const struct sn_hogql_list *a = &n->list;
	if (named(n, "ifNull") && a->n == 2) {
		expr(p, a->items[0], P_COALESCE);
		out(p, " ?? ");
		expr(p, a->items[1], P_IS);
		return true;
	}
	if (named(n, "concat") && a->n >= 2) {
		/* A first piece that would need parentheses (an f-string hole
		 * holding `a =~ b`) would start the text with '(', which after
		 * NOT reads as a call; its f-string spelling does not. */
		if (prec(a->items[0]) < P_ADD && try_fstring(p, n))
			return true;
		for (size_t i = 0; i < a->n; i++)
			if (named(a->items[i], "concat")) {
				if (try_fstring(p, n))
					return true;
				p->lossy = true;
				break;
			}
		for (size_t i = 0; i < a->n; i++) {
			if (i)
				out(p, " || ");
			expr(p, a->items[i], i ? P_MUL : P_ADD);
		}
		return true;
	}
	if ((named(n, "if") && a->n == 3) || (named(n, "multiIf") && a->n >= 5 && a->n % 2)) {
		out(p, "CASE");
		for (size_t i = 0; i + 1 < a->n; i += 2) {
			out(p, " WHEN ");
			expr(p, a->items[i], P_ALIAS);
			out(p, " THEN ");
			expr(p, a->items[i + 1], P_ALIAS);
		}
		out(p, " ELSE ");
		expr(p, a->items[a->n - 1], P_ALIAS);
		out(p, " END");
		return true;
	}
	if (named(n, "_caseWithExpression") && a->n >= 4 && a->n % 2 == 0) {
		out(p, "CASE ");
		expr(p, a->items[0], P_ALIAS);
		for (size_t i = 1; i + 1 < a->n; i += 2) {
			out(p, " WHEN ");
			expr(p, a->items[i], P_ALIAS);
			out(p, " THEN ");
			expr(p, a->items[i + 1], P_ALIAS);
		}
		out(p, " ELSE ");
		expr(p, a->items[a->n - 1], P_ALIAS);
		out(p, " END");
		return true;
	}
	if (is_interval_fn(n->name) && a->n == 1) {
		out(p, "INTERVAL (");
		expr(p, a->items[0], P_ALIAS);
		out(p, ") ");
		for (const char *c = n->name + strlen("toInterval"); *c; c++)
			outc(p, (char)toupper((unsigned char)*c));
		return true;
	}
	if ((named(n, "trim") || named(n, "trimLeft") || named(n, "trimRight")) && a->n == 2 &&
	    a->items[1]->kind == SN_HQ_CONSTANT && a->items[1]->ctype == SN_HQC_STRING) {
		out(p, named(n, "trim")	      ? "TRIM(BOTH "
		       : named(n, "trimLeft") ? "TRIM(LEADING "
					      : "TRIM(TRAILING ");
		string_lit(p, a->items[1]->sval);
		out(p, " FROM ");
		expr(p, a->items[0], P_ALIAS);
		outc(p, ')');
		return true;
	}
	if (a->n == 1 &&
	    (a->items[0]->kind == SN_HQ_SELECT || a->items[0]->kind == SN_HQ_SELECT_SET)) {
		out(p, n->name);
		outc(p, '(');
		select_any(p, a->items[0]);
		outc(p, ')');
		return true;
	}
	return false;
}

/* Prints e, in parentheses when its text would start with the word
 * `distinct`: first in a select list or call, that word is the DISTINCT
 * modifier, not the start of an expression. */
static void expr_not_distinct(struct pr *p, const node_t *e)
{
	size_t at = p->b->len;
	expr(p, e, P_ALIAS);
	size_t n = p->b->len - at;
	const char *t = p->b->data ? p->b->data + at : "";
	if (p->rc || n < 8 || strncasecmp(t, "distinct", 8) != 0 ||
	    (n > 8 && (isalnum((unsigned char)t[8]) || t[8] == '_' || t[8] == '$')))
		return;
	if (sn_buf_reserve(p->b, 2)) {
		p->rc = SN_ERR_NOMEM;
		return;
	}
	char *d = p->b->data + at;
	memmove(d + 1, d, n);
	d[0] = '(';
	d[n + 1] = ')';
	p->b->len += 2;
	p->b->data[p->b->len] = 0;
}

static void call(struct pr *p, const node_t *n)
{
	if (!n->full && desugared_call(p, n))
		return;
	out(p, n->name);
	outc(p, '(');
	if (n->has_list2) {
		/* Parameters first: f(distinct())(x) would read as f(DISTINCT ...). */
		for (size_t i = 0; i < n->list2.n; i++) {
			if (i)
				out(p, ", ");
			if (i == 0)
				expr_not_distinct(p, n->list2.items[i]);
			else
				expr(p, n->list2.items[i], P_ALIAS);
		}
		out(p, ")(");
	}
	if (n->flag)
		out(p, "DISTINCT ");
	/* f(distinct()) would read as f(DISTINCT ...). */
	for (size_t i = 0; i < n->list.n; i++) {
		if (i)
			out(p, ", ");
		if (i == 0 && !n->flag)
			expr_not_distinct(p, n->list.items[i]);
		else
			expr(p, n->list.items[i], P_ALIAS);
	}
	if (n->has_list3) {
		out(p, n->list.n ? " ORDER BY " : "ORDER BY ");
		order_list(p, &n->list3);
	}
	outc(p, ')');
	if (n->a) {
		out(p, " FILTER (WHERE ");
		expr(p, n->a, P_ALIAS);
		outc(p, ')');
	}
}

static void frame_bound(struct pr *p, const node_t *f)
{
	if (strcmp(f->op, "CURRENT ROW") == 0) {
		out(p, "CURRENT ROW");
		return;
	}
	if (f->a)
		expr(p, f->a, P_ATOM);
	else
		out(p, "UNBOUNDED");
	outc(p, ' ');
	out(p, f->op);
}

static void window_expr(struct pr *p, const node_t *w)
{
	bool sp = false;
	if (w->has_list) {
		out(p, "PARTITION BY ");
		list(p, &w->list);
		sp = true;
	}
	if (w->has_list2) {
		out(p, sp ? " ORDER BY " : "ORDER BY ");
		order_list(p, &w->list2);
		sp = true;
	}
	if (w->op) {
		if (sp)
			outc(p, ' ');
		out(p, w->op);
		if (w->b) {
			out(p, " BETWEEN ");
			frame_bound(p, w->a);
			out(p, " AND ");
			frame_bound(p, w->b);
		} else if (w->a) {
			outc(p, ' ');
			frame_bound(p, w->a);
		}
	}
}

/* A CAST type is its tokens' text glued together, so `- -` became `--`:
 * a space between them keeps it from starting a comment when read again
 * (the parser drops whitespace between type tokens). */
static void type_text(struct pr *p, const char *t)
{
	char quote = 0;
	/* Quoted tokens lose their boundaries when glued (`i` `f'x'` and `if`
	 * `'x'` give the same text), so such a type may read back differently:
	 * reported like the f-string gap of the file comment. */
	if (strpbrk(t, "'\"`"))
		p->lossy = true;
	for (const char *c = t; *c; c++) {
		if (quote) {
			if (*c == quote)
				quote = 0;
		} else if (*c == '\'' || *c == '`' || *c == '"') {
			quote = *c;
		} else if (c > t && ((c[-1] == '-' && *c == '-') ||
				     (c[-1] == '/' && (*c == '/' || *c == '*')))) {
			outc(p, ' ');
		} else if (c > t && (*c == 'f' || *c == 'F') && c[1] == '\'' &&
			   (isalnum((unsigned char)c[-1]) || c[-1] == '_' || c[-1] == '$')) {
			/* `x` then `f'..'` glued would read as the word `xf`
			 * and a plain string, whose escapes are stricter. */
			outc(p, ' ');
		}
		outc(p, *c);
	}
}

/* NOT x := 1 (and NOT NOT ...) ends in a named argument printed bare. */
static bool ends_in_named_arg(const node_t *n)
{
	while (n->kind == SN_HQ_NOT)
		n = n->a;
	return n->kind == SN_HQ_NAMED_ARG;
}

/* Operand of a postfix operator: an atom that does not start a number. */
static void postfix_operand(struct pr *p, const node_t *n)
{
	/* `1.1` would lex as a float, so digits get parentheses; inf and nan
	 * print as words and stay bare, since `NOT (inf).1` would read as the
	 * call not(inf). */
	bool word = n->kind == SN_HQ_CONSTANT && n->ctype == SN_HQC_FLOAT &&
		    (isnan(n->fval) || (isinf(n->fval) && n->fval > 0));
	if (n->kind == SN_HQ_CONSTANT && n->ctype == SN_HQC_FLOAT && !word && !signbit(n->fval)) {
		/* `1.5.2` lexes as 1.5 then .2: a float with a '.' and no
		 * exponent takes the index bare, which also keeps NOT from
		 * meeting a '('. */
		size_t mark = p->b->len;
		constant(p, n);
		if (p->rc || (memchr(p->b->data + mark, '.', p->b->len - mark) &&
			      !memchr(p->b->data + mark, 'e', p->b->len - mark) &&
			      !memchr(p->b->data + mark, 'E', p->b->len - mark)))
			return;
		p->b->len = mark;
		p->b->data[mark] = 0;
	}
	if (is_numeric_const(n) && !word) {
		outc(p, '(');
		expr(p, n, P_ALIAS);
		outc(p, ')');
	} else {
		expr(p, n, P_ATOM);
	}
}

static void expr_inner(struct pr *p, const node_t *n)
{
	switch (n->kind) {
	case SN_HQ_CONSTANT: constant(p, n); break;
	case SN_HQ_FIELD:
		for (size_t i = 0; i < n->strs.n; i++) {
			if (i)
				outc(p, '.');
			if (strcmp(n->strs.items[i], "*") == 0)
				outc(p, '*');
			else if (i && is_bare_word(n->strs.items[i]) &&
				 !is_literal_word(n->strs.items[i]))
				out(p, n->strs.items[i]); /* after '.', keywords are names */
			else
				ident(p, n->strs.items[i]);
		}
		break;
	case SN_HQ_ALIAS:
		/* A lambda body or named argument value would swallow the AS,
		 * also under NOT, which prints a named argument bare. */
		if (n->a->kind == SN_HQ_NOT && ends_in_named_arg(n->a)) {
			outc(p, '(');
			expr(p, n->a, P_ALIAS);
			outc(p, ')');
		} else {
			expr(p, n->a, n->a->kind == SN_HQ_ALIAS ? P_ALIAS : P_ALIAS + 1);
		}
		out(p, " AS ");
		ident(p, n->name);
		break;
	case SN_HQ_CALL: call(p, n); break;
	case SN_HQ_EXPR_CALL:
		/* No parentheses unless needed: `NOT (f)(x)` would read as not(f).
		 * A bare word before '(' is a call, so a one-word callee is quoted;
		 * calls and casts would absorb the '(' as params / refuse it. An
		 * asterisk callee stays bare: `NOT (*)(a)` would read as the
		 * parametric call NOT(*)(a), while `NOT *(a)` reads back as is. */
		if (n->a->kind == SN_HQ_FIELD && n->a->strs.n == 1 &&
		    strcmp(n->a->strs.items[0], "*") != 0) {
			outc(p, '`');
			escaped(p, n->a->strs.items[0], '`');
			outc(p, '`');
		} else if (n->a->kind == SN_HQ_CALL || n->a->kind == SN_HQ_WINDOW_FUNCTION ||
			   n->a->kind == SN_HQ_TYPE_CAST) {
			outc(p, '(');
			expr(p, n->a, P_ALIAS);
			outc(p, ')');
		} else {
			expr(p, n->a, P_ATOM); /* 6(x) is fine: digits end at '(' */
		}
		out(p, "(");
		list(p, &n->list);
		outc(p, ')');
		break;
	case SN_HQ_ARITH:
		if (is_unary_minus(n)) {
			/* A bare operand may start a number (-5 would be a literal). */
			bool bare =
			    n->b->kind == SN_HQ_FIELD || (n->b->kind == SN_HQ_CALL && n->b->full);
			out(p, bare ? "-" : "-(");
			expr(p, n->b, bare ? P_ATOM : P_ALIAS);
			if (!bare)
				outc(p, ')');
		} else {
			binary(p, n, n->op, prec(n));
		}
		break;
	case SN_HQ_COMPARE:
		if (n->flag && n->b->kind == SN_HQ_CONSTANT && n->b->ctype == SN_HQC_NULL) {
			expr(p, n->a, P_IS);
			out(p, strcmp(n->op, "!=") == 0 ? " IS NOT NULL" : " IS NULL");
		} else {
			binary(p, n, compare_text(n->op), P_CMP);
		}
		break;
	case SN_HQ_IS_DISTINCT:
		expr(p, n->a, P_IS);
		out(p, n->flag ? " IS NOT DISTINCT FROM " : " IS DISTINCT FROM ");
		expr(p, n->b, P_CMP);
		break;
	case SN_HQ_AND:
	case SN_HQ_OR:
		for (size_t i = 0; i < n->list.n; i++) {
			if (i)
				out(p, n->kind == SN_HQ_AND ? " AND " : " OR ");
			expr(p, n->list.items[i], n->kind == SN_HQ_AND ? P_NOT : P_AND);
		}
		break;
	case SN_HQ_NOT:
		/* `NOT x := 1` is Not(NamedArg): a named argument is a primary
		 * that extends to the right, and "NOT (" would read as not(). */
		out(p, "NOT ");
		{
			size_t mark = p->b->len;
			expr(p, n->a, n->a->kind == SN_HQ_NAMED_ARG ? P_ALIAS : P_NOT);
			/* An f-string concat whose first piece is a tuple or other
			 * parenthesised text printed with `||` would read as not(...);
			 * its f-string spelling does not start with '('. */
			if (p->rc == 0 && p->b->len > mark && p->b->data[mark] == '(' &&
			    !n->a->full && named(n->a, "concat") && n->a->list.n >= 2) {
				p->b->len = mark;
				p->b->data[mark] = 0;
				if (!try_fstring(p, n->a)) {
					p->lossy = true;
					expr(p, n->a, P_NOT);
				}
			}
		}
		break;
	case SN_HQ_BETWEEN:
		expr(p, n->a, P_BETWEEN);
		out(p, n->flag ? " NOT BETWEEN " : " BETWEEN ");
		expr(p, n->b, P_COALESCE);
		out(p, " AND ");
		expr(p, n->c, P_COALESCE);
		break;
	case SN_HQ_TUPLE:
		outc(p, '(');
		list(p, &n->list);
		out(p, n->list.n == 1 ? ",)" : ")");
		break;
	case SN_HQ_ARRAY:
		outc(p, '[');
		list(p, &n->list);
		outc(p, ']');
		break;
	case SN_HQ_DICT:
		outc(p, '{');
		for (size_t i = 0; i < n->list.n; i++) {
			if (i)
				out(p, ", ");
			expr(p, n->list.items[i], P_ALIAS);
			out(p, ": ");
			expr(p, n->list2.items[i], P_ALIAS);
		}
		outc(p, '}');
		break;
	case SN_HQ_ARRAY_ACCESS:
		postfix_operand(p, n->a);
		out(p, n->flag ? "?.[" : "[");
		expr(p, n->b, P_ALIAS);
		outc(p, ']');
		break;
	case SN_HQ_ARRAY_SLICE:
		postfix_operand(p, n->a);
		outc(p, '[');
		if (n->b)
			expr(p, n->b, P_ALIAS);
		out(p, ":");
		if (n->c)
			expr(p, n->c, P_ALIAS);
		outc(p, ']');
		break;
	case SN_HQ_TUPLE_ACCESS:
		postfix_operand(p, n->a);
		if (p->rc == 0)
			p->rc = sn_buf_appendf(p->b, "%s%" PRId64, n->flag ? "?." : ".", n->ival);
		break;
	case SN_HQ_LAMBDA:
		outc(p, '(');
		for (size_t i = 0; i < n->strs.n; i++) {
			if (i)
				out(p, ", ");
			ident(p, n->strs.items[i]);
		}
		out(p, ") -> ");
		expr(p, n->a, P_ALIAS);
		break;
	case SN_HQ_PLACEHOLDER:
		outc(p, '{');
		expr(p, n->a, P_ALIAS);
		outc(p, '}');
		break;
	case SN_HQ_TYPE_CAST:
	case SN_HQ_TRY_CAST:
		/* Glued quoted tokens may re-tokenise differently (file comment). */
		if (strpbrk(n->name, "'\"`"))
			p->lossy = true;
		if (n->kind == SN_HQ_TYPE_CAST &&
		    (!strchr(n->name, '(') || !balanced_type(n->name))) {
			postfix_operand(p, n->a);
			out(p, "::");
			ident(p, n->name);
		} else {
			out(p, n->kind == SN_HQ_TRY_CAST ? "TRY_CAST(" : "CAST(");
			expr(p, n->a, P_OR);
			out(p, " AS ");
			type_text(p, n->name);
			outc(p, ')');
		}
		break;
	case SN_HQ_NAMED_ARG:
		ident(p, n->name);
		out(p, " := ");
		expr(p, n->a, P_ALIAS);
		break;
	case SN_HQ_POSITIONAL_REF:
		if (p->rc == 0)
			p->rc = sn_buf_appendf(p->b, "#%" PRId64, n->ival);
		break;
	case SN_HQ_COLUMNS:
		if (n->flag) {
			if (n->name) {
				ident(p, n->name);
				out(p, ".");
			}
			out(p, "* EXCLUDE (");
			for (size_t i = 0; i < n->strs.n; i++) {
				if (i)
					out(p, ", ");
				ident(p, n->strs.items[i]);
			}
			outc(p, ')');
		} else if (n->sval) {
			out(p, "COLUMNS(");
			string_lit(p, n->sval);
			outc(p, ')');
		} else {
			out(p, "COLUMNS(");
			list(p, &n->list);
			outc(p, ')');
		}
		break;
	case SN_HQ_WINDOW_FUNCTION:
		out(p, n->name);
		outc(p, '(');
		list(p, &n->list);
		outc(p, ')');
		if (n->list2.n) {
			outc(p, '(');
			list(p, &n->list2);
			outc(p, ')');
		}
		out(p, " OVER ");
		if (n->a) {
			outc(p, '(');
			window_expr(p, n->a);
			outc(p, ')');
		} else {
			ident(p, n->op ? n->op : "");
		}
		break;
	case SN_HQ_SELECT:
	case SN_HQ_SELECT_SET:
		outc(p, '(');
		select_any(p, n);
		outc(p, ')');
		break;
	case SN_HQ_WINDOW_EXPR: window_expr(p, n); break;
	case SN_HQ_ORDER_EXPR:
		expr(p, n->a, P_ALIAS);
		out(p, strcmp(n->op, "DESC") == 0 ? " DESC" : " ASC");
		break;
	case SN_HQ_WINDOW_FRAME: frame_bound(p, n); break;
	case SN_HQ_RATIO:
		expr(p, n->a, P_ATOM);
		if (n->b) {
			out(p, "/");
			expr(p, n->b, P_ATOM);
		}
		break;
	case SN_HQ_SELECT_SET_NODE:
	case SN_HQ_CTE:
	case SN_HQ_JOIN:
	case SN_HQ_JOIN_CONSTRAINT:
	case SN_HQ_SAMPLE:
	case SN_HQ_LIMIT_BY:
	case SN_HQ_WITH_FILL:
	case SN_HQ_INTERPOLATE:
		/* Clause nodes are printed by their statement. */
		select_any(p, n);
		break;
	}
}

static void expr(struct pr *p, const node_t *n, int min)
{
	if (!n) {
		out(p, "NULL");
		return;
	}
	if (n->typed_of)
		n = n->typed_of; /* the resolver's type conversion is not HogQL the user wrote */
	bool paren = prec(n) < min;
	/* A concat that holds a concat prints as an f-string when it can
	 * (see desugared_call), and an f-string is an atom. */
	if (paren && !n->full && named(n, "concat") && n->list.n >= 2) {
		for (size_t i = 0; i < n->list.n; i++)
			if (named(n->list.items[i], "concat")) {
				if (try_fstring(p, n))
					return;
				break;
			}
	}
	if (paren)
		outc(p, '(');
	expr_inner(p, n);
	if (paren)
		outc(p, ')');
}

static void ratio(struct pr *p, const node_t *r)
{
	expr_inner(p, r);
}

static void join_chain(struct pr *p, const node_t *j)
{
	for (; j; j = j->c) {
		if (j->op) {
			outc(p, ' ');
			out(p, strcmp(j->op, "CROSS JOIN") == 0 ? "CROSS JOIN" : j->op);
			outc(p, ' ');
		}
		const node_t *t = j->a;
		if (t && t->kind == SN_HQ_FIELD && j->has_list) {
			out(p, t->strs.items[0]); /* table functions are bare words */
			outc(p, '(');
			list(p, &j->list);
			outc(p, ')');
		} else if (t && (t->kind == SN_HQ_SELECT || t->kind == SN_HQ_SELECT_SET)) {
			outc(p, '(');
			select_any(p, t);
			outc(p, ')');
		} else if (t) {
			expr(p, t, P_ATOM);
		}
		if (j->name) {
			out(p, " AS ");
			ident(p, j->name);
			if (j->has_strs) {
				outc(p, '(');
				for (size_t i = 0; i < j->strs.n; i++) {
					if (i)
						out(p, ", ");
					ident(p, j->strs.items[i]);
				}
				outc(p, ')');
			}
		}
		if (j->flag)
			out(p, " FINAL");
		if (j->d) {
			out(p, " SAMPLE ");
			ratio(p, j->d->a);
			if (j->d->b) {
				out(p, " OFFSET ");
				ratio(p, j->d->b);
			}
		}
		if (j->b) {
			const node_t *c = j->b;
			if (strcmp(c->op, "USING") == 0) {
				out(p, " USING (");
				if (c->a->kind == SN_HQ_TUPLE && c->a->list.n != 1)
					list(p, &c->a->list);
				else
					expr(p, c->a, P_ALIAS);
				outc(p, ')');
			} else {
				out(p, " ON ");
				expr(p, c->a, P_ALIAS);
			}
		}
	}
}

static void select_query(struct pr *p, const struct sn_hogql_select *s)
{
	if (s->has_ctes && s->ctes.n) {
		bool recursive = false;
		for (size_t i = 0; i < s->ctes.n; i++)
			recursive |= s->ctes.items[i]->full;
		out(p, recursive ? "WITH RECURSIVE " : "WITH ");
		for (size_t i = 0; i < s->ctes.n; i++) {
			const node_t *c = s->ctes.items[i];
			if (i)
				out(p, ", ");
			if (strcmp(c->op, "column") == 0) {
				expr(p, c->a, P_ALIAS);
				out(p, " AS ");
				ident(p, c->name);
				continue;
			}
			ident(p, c->name);
			if (c->has_strs) {
				outc(p, '(');
				for (size_t k = 0; k < c->strs.n; k++) {
					if (k)
						out(p, ", ");
					ident(p, c->strs.items[k]);
				}
				outc(p, ')');
			}
			out(p, " AS (");
			select_any(p, c->a);
			outc(p, ')');
		}
		outc(p, ' ');
	}
	out(p, s->distinct ? "SELECT DISTINCT " : "SELECT ");
	/* A first column printed as `distinct...` would read as SELECT DISTINCT. */
	for (size_t i = 0; i < s->select.n; i++) {
		if (i)
			out(p, ", ");
		if (i == 0 && !s->distinct)
			expr_not_distinct(p, s->select.items[i]);
		else
			expr(p, s->select.items[i], P_ALIAS);
	}
	if (s->select_from) {
		out(p, " FROM ");
		join_chain(p, s->select_from);
	}
	if (s->array_join_op) {
		outc(p, ' ');
		out(p, s->array_join_op);
		outc(p, ' ');
		list(p, &s->array_join_list);
	}
	if (s->prewhere) {
		out(p, " PREWHERE ");
		expr(p, s->prewhere, P_ALIAS);
	}
	if (s->where) {
		out(p, " WHERE ");
		expr(p, s->where, P_ALIAS);
	}
	if (s->group_by_mode && strcmp(s->group_by_mode, "all") == 0) {
		out(p, " GROUP BY ALL");
	} else if (s->has_group_by) {
		out(p, " GROUP BY ");
		if (s->group_by_mode) {
			out(p, strcmp(s->group_by_mode, "cube") == 0 ? "CUBE(" : "ROLLUP(");
			list(p, &s->group_by);
			outc(p, ')');
		} else {
			/* `GROUP BY rollup(a)` would read as the ROLLUP mode. */
			const node_t *g0 = s->group_by.n ? s->group_by.items[0] : NULL;
			bool wrap = g0 && g0->kind == SN_HQ_CALL &&
				    (strcasecmp(g0->name, "rollup") == 0 ||
				     strcasecmp(g0->name, "cube") == 0);
			for (size_t i = 0; i < s->group_by.n; i++) {
				if (i)
					out(p, ", ");
				if (i == 0 && wrap)
					outc(p, '(');
				expr(p, s->group_by.items[i], P_ALIAS);
				if (i == 0 && wrap)
					outc(p, ')');
			}
		}
	}
	if (s->having) {
		out(p, " HAVING ");
		expr(p, s->having, P_ALIAS);
	}
	if (s->qualify) {
		out(p, " QUALIFY ");
		expr(p, s->qualify, P_ALIAS);
	}
	for (size_t i = 0; i < s->nwindows; i++) {
		out(p, i ? ", " : " WINDOW ");
		ident(p, s->window_names[i]);
		out(p, " AS (");
		window_expr(p, s->window_exprs[i]);
		outc(p, ')');
	}
	if (s->has_order_by) {
		out(p, " ORDER BY ");
		order_list(p, &s->order_by);
		if (s->has_interpolate) {
			out(p, " INTERPOLATE");
			for (size_t i = 0; i < s->interpolate.n; i++) {
				out(p, i ? ", " : " (");
				ident(p, s->interpolate.items[i]->a->strs.items[0]);
				out(p, " AS ");
				expr(p, s->interpolate.items[i]->b, P_ALIAS);
			}
			if (s->interpolate.n)
				outc(p, ')');
		}
	}
	if (s->limit_by) {
		out(p, " LIMIT ");
		expr(p, s->limit_by->a, P_ALIAS);
		if (s->limit_by->b) {
			out(p, " OFFSET ");
			expr(p, s->limit_by->b, P_ALIAS);
		}
		out(p, " BY ");
		list(p, &s->limit_by->list);
	}
	if (s->limit) {
		out(p, " LIMIT ");
		expr(p, s->limit, P_ALIAS);
		if (s->limit_with_ties)
			out(p, " WITH TIES");
	}
	if (s->offset) {
		out(p, " OFFSET ");
		expr(p, s->offset, P_ALIAS);
	}
}

/* A member of a UNION/INTERSECT/EXCEPT: a nested set needs parentheses. */
static void set_member(struct pr *p, const node_t *m)
{
	if (m->kind == SN_HQ_SELECT_SET) {
		outc(p, '(');
		select_any(p, m);
		outc(p, ')');
	} else {
		select_any(p, m);
	}
}

/* A statement: SelectQuery, SelectSetQuery or a placeholder standing for one. */
static void select_any(struct pr *p, const node_t *n)
{
	switch (n->kind) {
	case SN_HQ_SELECT: select_query(p, n->sel); break;
	case SN_HQ_SELECT_SET:
		set_member(p, n->a);
		for (size_t i = 0; i < n->list.n; i++) {
			const node_t *m = n->list.items[i];
			outc(p, ' ');
			out(p, m->op);
			outc(p, ' ');
			set_member(p, m->a);
		}
		break;
	default: expr(p, n, P_ALIAS); break;
	}
}

int sn_hogql_print(struct sn_buf *b, const struct sn_hogql_node *n)
{
	struct pr p = {.b = b};
	if (n->kind == SN_HQ_SELECT || n->kind == SN_HQ_SELECT_SET)
		select_any(&p, n);
	else
		expr(&p, n, P_ALIAS);
	return p.rc ? p.rc : p.lossy;
}

int sn_hogql_print_expr(struct sn_buf *b, const struct sn_hogql_node *n)
{
	struct pr p = {.b = b};
	expr(&p, n, P_ALIAS);
	return p.rc ? p.rc : p.lossy;
}
