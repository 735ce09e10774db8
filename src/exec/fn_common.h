/*
 * fn_common.h — what the executor's function files share (fn_scalar.c,
 * fn_math.c, fn_text.c): argument checks with ClickHouse's error text,
 * argument evaluation, the result vector's NULL handling (out_for), batch
 * strings and ClickHouse's UTF-8 stepping. Header-only (static functions), so
 * each file keeps its helpers private to its translation unit.
 *
 * A function file is a table of {name, handler, op, ci} rows and one
 * xfn_<file> lookup (see xfn_scalar); eval.c asks each file in turn.
 * Conventions every handler follows are in fn_scalar.c's design comment.
 */
#ifndef SN_EXEC_FN_COMMON_H
#define SN_EXEC_FN_COMMON_H

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "exec/exec_internal.h"

/* Plain static, as these were in fn_scalar.c (inline changes GCC's inlining
 * and with it its maybe-uninitialized analysis); unused in some files. */
#define SN_FN_STATIC static __attribute__((unused))

/* Shared between the function files (defined in fn_scalar.c). */
struct sn_jspan;
bool xjson_step(struct sn_jspan *cur, const char *key, size_t klen, int64_t idx,
		struct sn_jspan *name);
struct sn_str xurl_host(const char *data, size_t size);

typedef int (*scalar_fn)(struct xctx *c, const node_t *n, int op, struct vec *out);

/* One row of a function file's table. */
struct scalar_def {
	const char *name;
	scalar_fn fn;
	int op;
	bool ci; /* the name is case-insensitive (SQL-standard ones) */
};

/* Looks n's name up in defs; true (and *rc set) when it is there. */
SN_FN_STATIC bool scalar_dispatch(const struct scalar_def *defs, size_t ndefs, struct xctx *c,
				  const node_t *n, struct vec *out, int *rc)
{
	for (size_t i = 0; i < ndefs; i++) {
		if (defs[i].ci ? strcasecmp(defs[i].name, n->name) != 0
			       : strcmp(defs[i].name, n->name) != 0)
			continue;
		*rc = defs[i].fn(c, n, defs[i].op, out);
		if (!*rc)
			*rc = c->rc;
		return true;
	}
	return false;
}

/* ---- arguments and results ------------------------------------------------------ */

SN_FN_STATIC bool isnul(const struct vec *v, size_t r)
{
	return v->t == SN_XT_NULL || vec_null(v, r);
}

SN_FN_STATIC int bad_type(struct xctx *c, const node_t *n, const struct vec *v, size_t k)
{
	char tb[48];
	return xfail(
	    c, n, SN_ERR_INVALID, "QueryError", "Illegal type %s of argument %zu of function %s",
	    v->t == SN_XT_DECIMAL && v->ct ? v->ct : sn_exec_type_name(v->t, false, tb, sizeof(tb)),
	    k + 1, n->name);
}

SN_FN_STATIC int need_text(struct xctx *c, const node_t *n, const struct vec *v, size_t k)
{
	return is_text(v->t) || v->t == SN_XT_NULL ? 0 : bad_type(c, n, v, k);
}

SN_FN_STATIC int need_num(struct xctx *c, const node_t *n, const struct vec *v, size_t k)
{
	return is_numeric(v->t) || v->t == SN_XT_NULL ? 0 : bad_type(c, n, v, k);
}

SN_FN_STATIC int need_int(struct xctx *c, const node_t *n, const struct vec *v, size_t k)
{
	return is_intlike(v->t) || v->t == SN_XT_NULL ? 0 : bad_type(c, n, v, k);
}

/* A constant String argument (regex patterns, JSON return types). */
SN_FN_STATIC int need_const_text(struct xctx *c, const node_t *n, size_t k, const char **s)
{
	const node_t *a = n->list.items[k];
	if (a->kind != SN_HQ_CONSTANT || a->ctype != SN_HQC_STRING) {
		char what[160];
		snprintf(what, sizeof(what), "a non-constant argument %zu of %s()", k + 1, n->name);
		return xunsupported(c, a, what);
	}
	*s = a->sval;
	return 0;
}

/* Checks the arity and evaluates the arguments of n into v. */
SN_FN_STATIC int eval_args(struct xctx *c, const node_t *n, size_t min, size_t max, struct vec *v)
{
	if (need_args(c, n, min, max))
		return c->rc;
	for (size_t k = 0; k < n->list.n; k++)
		if (xeval(c, n->list.items[k], &v[k]))
			return c->rc;
	return 0;
}

/* Variadic arguments: an array of n->list.n vectors in the batch arena. */
SN_FN_STATIC int eval_all(struct xctx *c, const node_t *n, size_t min, struct vec **v)
{
	if (need_args(c, n, min, 4096))
		return c->rc;
	if (!(*v = xalloc(c, c->ba, n->list.n * sizeof(**v))))
		return c->rc;
	return eval_args(c, n, min, 4096, *v);
}

/* Makes out (type t) for arguments v[0..nv): the NULL type when one is the
 * NULL literal (*done set: nothing left to compute), else nullable when one
 * is nullable, NULL where any is. */
SN_FN_STATIC int out_for(struct xctx *c, struct vec *out, uint8_t t, const struct vec *v, size_t nv,
			 bool *done)
{
	bool nullable = false;
	*done = false;
	for (size_t k = 0; k < nv; k++) {
		if (v[k].t == SN_XT_NULL) {
			*done = true;
			return vec_make(c, out, SN_XT_NULL, true, c->n);
		}
		nullable |= v[k].nullable;
	}
	if (vec_make(c, out, t, nullable, c->n))
		return c->rc;
	if (out->nulls)
		for (size_t k = 0; k < nv; k++)
			if (v[k].nulls)
				for (size_t r = 0; r < c->n; r++)
					out->nulls[r] |= v[k].nulls[r];
	return 0;
}

/* Row r of a text vector; an empty string may have a NULL pointer (zeroed
 * slots), which the C library's string functions must never see. */
SN_FN_STATIC struct sn_str str_at(const struct vec *v, size_t r)
{
	struct sn_str s = v->s[r];
	if (!s.p)
		s.p = "";
	return s;
}

SN_FN_STATIC char *salloc(struct xctx *c, size_t len)
{
	return xalloc(c, c->ba, len);
}

/* *out = a batch copy of b's bytes; false when out of memory (c->rc set). */
SN_FN_STATIC bool sstr_of_buf(struct xctx *c, const struct sn_buf *b, struct sn_str *out)
{
	char *o = salloc(c, b->len);
	if (!o)
		return false;
	if (b->len)
		memcpy(o, b->data, b->len);
	*out = (struct sn_str){o, b->len};
	return true;
}

/* A node the handlers build to reuse eval.c (LIKE, IN, toString, CASE):
 * kind and operands, the position of n for errors. */
SN_FN_STATIC node_t *mk_node(struct xctx *c, const node_t *n, int kind)
{
	node_t *t = xalloc(c, c->ba, sizeof(*t));
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->has_pos = n->has_pos;
	t->start = n->start;
	t->end = n->end;
	t->rtype = n->rtype;
	return t;
}

/* v as text: Strings as they are, anything else through toString(). */
SN_FN_STATIC int as_text(struct xctx *c, const node_t *arg, struct vec *v)
{
	if (is_text(v->t) || v->t == SN_XT_NULL)
		return 0;
	node_t *t = mk_node(c, arg, SN_HQ_CALL);
	node_t **items = xalloc(c, c->ba, sizeof(*items));
	if (!t || !items)
		return c->rc;
	items[0] = (node_t *)arg;
	t->name = "toString";
	t->list.items = items;
	t->list.n = 1;
	t->has_list = true;
	return xeval(c, t, v);
}

/* ---- UTF-8 ------------------------------------------------------------------------ */

/* Bytes of the sequence a lead byte starts (ClickHouse's UTF8::seqLength). */
SN_FN_STATIC size_t seq_len(unsigned char b)
{
	return b < 0x80 ? 1 : b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : b < 0xF8 ? 4 : 1;
}

SN_FN_STATIC size_t utf8_count(const char *p, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)p[i] & 0xC0) != 0x80;
	return n;
}

/* Byte offset of code point k (0-based), stepping by sequence lengths. */
SN_FN_STATIC size_t utf8_off(const char *p, size_t len, size_t k)
{
	size_t i = 0;
	while (k-- && i < len) {
		size_t l = seq_len((unsigned char)p[i]);
		i = i + l > len ? len : i + l;
	}
	return i;
}

/* Number of code points by ClickHouse's stepping (what utf8_off counts). */
SN_FN_STATIC size_t utf8_points(const char *p, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; n++) {
		size_t l = seq_len((unsigned char)p[i]);
		i = i + l > len ? len : i + l;
	}
	return n;
}

SN_FN_STATIC size_t utf8_encode(uint32_t cp, char *o)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

#endif
