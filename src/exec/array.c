/*
 * array.c — arrays and tuples in the executor: their value encoding, their
 * static types, literals and subscripts, lambdas, and the array functions.
 *
 * A value of an Array or a Tuple is one byte string (struct sn_str, like a
 * String's), so every path that moves, copies, hashes or compares values
 * (gathering, rows, sorting, GROUP BY keys, subquery tables) carries it
 * unchanged. Its bytes are self-describing:
 *
 *     u32 count, then per element: u8 tag (enum sn_exec_type, | 0x80 when
 *     NULL), and unless NULL a payload: 8 bytes (int64 of BOOL, INT, UINT,
 *     DATE, DATETIME; a double for FLOAT) or u32 length + bytes (STRING,
 *     UUID as text, a nested ARRAY or TUPLE)
 *
 * so output (JSON, TSV) and ordering decode them without a type. Equal
 * values of one static type have equal bytes (floats' -0 is written as 0),
 * which GROUP BY and DISTINCT rely on. The static type lives beside the
 * vector (struct vec ct, struct xtable ct): ClickHouse's type name,
 * "Array(Nullable(String))", "Tuple(String, UInt64)", which is also what
 * results report; xarr_elem parses it back into an element's type. Types
 * are made once per expression and batch in the query arena.
 *
 * Most functions work on the flattened elements: xarr_flatten turns a
 * vector of n arrays into one vector of all their elements plus each
 * row's offsets, the ordinary vector code runs over the elements, and
 * xarr_build makes arrays of elements and offsets again. A lambda's body
 * is evaluated the same way, over the elements (c->n = their count) with
 * its parameters bound to them (c->lam); the parts of the body that do
 * not depend on the parameters (a column, an aggregate, another array)
 * are evaluated first over the rows and spread to the elements (c->pre),
 * so the batch's columns are never re-gathered.
 *
 * A Map(K, V) is an Array of (key, value) tuples, as ClickHouse's own
 * Map is (Array(Tuple(K, V)) inside): t is SN_XT_ARRAY, only the static
 * type "Map(K, V)" tells it apart (xarr_elem reads its element type as
 * Tuple(K, V)), so moving, hashing, comparing and grouping treat it as the
 * array it is: maps equal when they hold the same pairs in the same
 * order, and the array functions (length, empty, arrayMap over its tuples)
 * take it as that array. map() keeps its pairs in argument order,
 * duplicates included, as ClickHouse does, and a lookup (m[k],
 * mapContains) finds the first pair with the key; keys may not be
 * Nullable, arrays or tuples. Results print a Map as an object (output.c
 * walks a value beside its type). A Map type of its own (SN_XT_MAP) was
 * rejected: every switch over value types would need a case for what is
 * an array in all but its printing.
 *
 * Rejected alternative: a columnar array vector (offsets + element
 * vector, as ClickHouse's ColumnArray). Faster for long arrays, but every
 * row-based path (rows of sn_exec_value, subquery tables, the top-N heap,
 * hashing keys) would need a second representation; the arrays of
 * analytics queries are short (split strings, groupArray of a person's
 * events), and the flattening here is linear.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exec/agg.h"
#include "exec/exec_internal.h"

#define TAG_NULL 0x80

/* ---- static types ------------------------------------------------------------------ */

static const struct {
	const char *name;
	uint8_t t;
} SCALARS[] = {
    {"Nothing", SN_XT_NULL},  {"UInt8", SN_XT_BOOL},
    {"Int64", SN_XT_INT},     {"UInt64", SN_XT_UINT},
    {"Float64", SN_XT_FLOAT}, {"String", SN_XT_STRING},
    {"UUID", SN_XT_UUID},     {"Date", SN_XT_DATE},
    {"Bool", SN_XT_BOOL},     {"DateTime64(", SN_XT_DATETIME},
};

const char *xtype_name(struct xctx *c, uint8_t t, bool nullable, const char *ct)
{
	char buf[64];
	if (t == SN_XT_NULL) /* Nothing: [] is Array(Nothing), [NULL] Array(Nullable(Nothing)) */
		return nullable ? "Nullable(Nothing)" : "Nothing";
	const char *base = ct ? ct : sn_exec_type_name(t, false, buf, sizeof(buf));
	if (ct && !nullable)
		return ct;
	size_t len = strlen(base) + 16;
	char *s = xalloc(c, c->qa, len);
	if (!s)
		return NULL;
	if (nullable || t == SN_XT_NULL)
		snprintf(s, len, "Nullable(%s)", base);
	else
		snprintf(s, len, "%s", base);
	return s;
}

const char *xarr_type(struct xctx *c, uint8_t et, bool enull, const char *ect)
{
	if (et == SN_XT_DECIMAL) { /* elements would lose their scale (value_text) */
		xunsupported(c, NULL, "arrays of Decimal (convert the elements with toFloat)");
		return NULL;
	}
	const char *e = xtype_name(c, et, enull, ect);
	if (!e)
		return NULL;
	size_t len = strlen(e) + 8;
	char *s = xalloc(c, c->qa, len);
	if (s)
		snprintf(s, len, "Array(%s)", e);
	return s;
}

const char *xmap_type(struct xctx *c, uint8_t kt, const char *kct, uint8_t vt, bool vnull,
		      const char *vct)
{
	const char *k = xtype_name(c, kt, false, kct), *v = xtype_name(c, vt, vnull, vct);
	if (!k || !v)
		return NULL;
	size_t len = strlen(k) + strlen(v) + 8;
	char *s = xalloc(c, c->qa, len);
	if (s)
		snprintf(s, len, "Map(%s, %s)", k, v);
	return s;
}

/* The end of the type name starting at s: the matching ')' of a parenthesis,
 * quotes skipped, or the next ',' / ')' at depth 0. */
static const char *type_end(const char *s)
{
	int depth = 0;
	bool q = false;
	for (; *s; s++) {
		if (q) {
			q = *s != '\'';
			continue;
		}
		if (*s == '\'')
			q = true;
		else if (*s == '(')
			depth++;
		else if (*s == ')') {
			if (depth == 0)
				return s;
			depth--;
		} else if (*s == ',' && depth == 0)
			return s;
	}
	return s;
}

int xarr_elem(struct xctx *c, const char *ct, size_t k, uint8_t *t, bool *nullable,
	      const char **ect)
{
	*t = SN_XT_NULL;
	*nullable = true;
	*ect = NULL;
	if (ct && strncmp(ct, "Map(", 4) == 0) { /* a Map's elements: Tuple(K, V) */
		if (k != 0)
			return xfail(c, NULL, SN_ERR_INVALID, "QueryError", "%s has no element %zu",
				     ct, k + 1);
		size_t len = strlen(ct) + 4;
		char *s = xalloc(c, c->qa, len);
		if (!s)
			return c->rc;
		snprintf(s, len, "Tuple(%s", ct + 4);
		*t = SN_XT_TUPLE;
		*nullable = false;
		*ect = s;
		return 0;
	}
	const char *p = strchr(ct ? ct : "", '(');
	if (!p)
		return xfail(c, NULL, SN_ERR_INTERNAL, "QueryError", "not a composite type: %s",
			     ct ? ct : "(none)");
	p++;
	for (size_t i = 0; i < k; i++) {
		p = type_end(p);
		if (*p != ',')
			return xfail(c, NULL, SN_ERR_INVALID, "QueryError", "%s has no element %zu",
				     ct, k + 1);
		for (p++; *p == ' ';)
			p++;
	}
	const char *e = type_end(p);
	size_t len = (size_t)(e - p);
	*nullable = false;
	if (len > 9 && strncmp(p, "Nullable(", 9) == 0) {
		*nullable = true;
		p += 9;
		len -= 10;
	}
	if ((len > 6 && strncmp(p, "Array(", 6) == 0) ||
	    (len > 6 && strncmp(p, "Tuple(", 6) == 0) || (len > 4 && strncmp(p, "Map(", 4) == 0)) {
		char *s = xalloc(c, c->qa, len + 1);
		if (!s)
			return c->rc;
		memcpy(s, p, len);
		s[len] = 0;
		*t = p[0] == 'T' ? SN_XT_TUPLE : SN_XT_ARRAY; /* a Map is an Array */
		*ect = s;
		return 0;
	}
	if (len > 7 && len < 64 && strncmp(p, "Decimal", 7) == 0) {
		/* an element of Decimal type (a -State's argument): its ct is the
		 * interned name, which carries P and S */
		char name[64], why[96];
		unsigned prec, scale;
		bool is_dec;
		memcpy(name, p, len);
		name[len] = 0;
		if (xdec_parse_type(name, &prec, &scale, &is_dec, why, sizeof(why)) == 0) {
			*t = SN_XT_DECIMAL;
			*ect = xdec_ct(prec, scale);
			return 0;
		}
	}
	for (size_t i = 0; i < SN_ARRAY_LEN(SCALARS); i++) {
		size_t nl = strlen(SCALARS[i].name);
		if (nl <= len && strncmp(p, SCALARS[i].name, nl) == 0 &&
		    (nl == len || SCALARS[i].name[nl - 1] == '(')) {
			*t = SCALARS[i].t;
			*nullable = *nullable || *t == SN_XT_NULL;
			return 0;
		}
	}
	return xfail(c, NULL, SN_ERR_INTERNAL, "QueryError", "unknown element type in %s", ct);
}

size_t xtuple_arity(const char *ct)
{
	if (!ct || strncmp(ct, "Tuple(", 6) != 0)
		return 0;
	size_t n = 1;
	for (const char *p = type_end(ct + 6); *p == ','; p = type_end(p + 1))
		n++;
	return n;
}

/* ---- encoding ---------------------------------------------------------------------- */

static int put_u32(struct sn_buf *b, uint32_t x)
{
	return sn_buf_append(b, &x, sizeof(x));
}

int xarr_put(struct sn_buf *b, const struct sn_exec_value *x)
{
	bool null = x->null || x->type == SN_XT_NULL;
	uint8_t tag = (uint8_t)(x->type | (null ? TAG_NULL : 0));
	if (sn_buf_append(b, &tag, 1))
		return SN_ERR_TOO_BIG;
	if (null)
		return 0;
	if (x->type == SN_XT_FLOAT) {
		double f = x->f == 0 ? 0.0 : x->f;
		return sn_buf_append(b, &f, sizeof(f));
	}
	if (!sn_exec_type_has_bytes(x->type))
		return sn_buf_append(b, &x->i, sizeof(x->i));
	if (x->ubin) {
		char u[37];
		sn_uuid_format(&x->u, u);
		return put_u32(b, 36) || sn_buf_append(b, u, 36) ? SN_ERR_TOO_BIG : 0;
	}
	if (put_u32(b, (uint32_t)x->s.len) || (x->s.len && sn_buf_append(b, x->s.p, x->s.len)))
		return SN_ERR_TOO_BIG;
	return 0;
}

bool xait_init(struct xait *it, struct sn_str s)
{
	it->p = (const uint8_t *)s.p;
	it->end = it->p + s.len;
	it->left = 0;
	if (s.len < 4)
		return false;
	memcpy(&it->left, it->p, 4);
	it->p += 4;
	return true;
}

bool xait_next(struct xait *it, struct sn_exec_value *out)
{
	if (!it->left || it->p >= it->end)
		return false;
	memset(out, 0, sizeof(*out));
	uint8_t tag = *it->p++;
	it->left--;
	out->type = tag & 0x7f;
	out->null = (tag & TAG_NULL) || out->type == SN_XT_NULL;
	if (out->null)
		return true;
	if (!sn_exec_type_has_bytes(out->type)) {
		if (it->end - it->p < 8)
			return false;
		if (out->type == SN_XT_FLOAT)
			memcpy(&out->f, it->p, 8);
		else
			memcpy(&out->i, it->p, 8);
		it->p += 8;
		return true;
	}
	uint32_t len;
	if (it->end - it->p < 4)
		return false;
	memcpy(&len, it->p, 4);
	it->p += 4;
	if ((size_t)(it->end - it->p) < len)
		return false;
	out->s = (struct sn_str){(const char *)it->p, len};
	it->p += len;
	return true;
}

uint32_t xarr_count(struct sn_str s)
{
	uint32_t n = 0;
	if (s.len >= 4)
		memcpy(&n, s.p, 4);
	return n;
}

/* Row r of v as a value (strings point into v). */
static void value_at(const struct vec *v, size_t r, struct sn_exec_value *x)
{
	memset(x, 0, sizeof(*x));
	x->type = v->t;
	x->null = v->t == SN_XT_NULL || vec_null(v, r);
	if (x->null)
		return;
	if (v->s)
		x->s = v->s[r];
	else if (v->f)
		x->f = v->f[r];
	else if (v->u) {
		x->ubin = true;
		x->u = v->u[r];
	} else
		x->i = v->i[r];
}

/* Element value x into row r of out (out's type; numbers widen). */
void vec_put_value(struct vec *out, size_t r, const struct sn_exec_value *x)
{
	if (x->null || x->type == SN_XT_NULL) {
		if (out->nulls)
			out->nulls[r] = 1;
		return;
	}
	if (out->nulls)
		out->nulls[r] = 0;
	if (out->s)
		out->s[r] = x->s;
	else if (out->f)
		out->f[r] = x->type == SN_XT_FLOAT ? x->f : (double)x->i;
	else if (out->i)
		out->i[r] = x->type == SN_XT_FLOAT ? (int64_t)x->f : x->i;
}

int xarr_flatten(struct xctx *c, const struct vec *arr, struct vec *elems, uint32_t **row_of,
		 uint32_t **off)
{
	uint8_t et;
	bool en;
	const char *ect;
	if (xarr_elem(c, arr->ct, 0, &et, &en, &ect))
		return c->rc;
	size_t n = arr->n, m = 0;
	uint32_t *o = xalloc(c, c->ba, (n + 1) * sizeof(*o));
	if (!o)
		return c->rc;
	for (size_t r = 0; r < n; r++) {
		o[r] = (uint32_t)m;
		if (!vec_null(arr, r))
			m += xarr_count(arr->s[r]);
	}
	o[n] = (uint32_t)m;
	if (m > UINT32_MAX / 2)
		return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError", "too many array elements");
	if (vec_make(c, elems, et, en, m))
		return c->rc;
	elems->ct = ect;
	uint32_t *ro = xalloc(c, c->ba, (m + 1) * sizeof(*ro));
	if (!ro)
		return c->rc;
	for (size_t r = 0; r < n; r++) {
		if (vec_null(arr, r))
			continue;
		struct xait it;
		struct sn_exec_value x;
		size_t k = o[r];
		xait_init(&it, arr->s[r]);
		while (k < o[r + 1] && xait_next(&it, &x)) {
			vec_put_value(elems, k, &x);
			ro[k++] = (uint32_t)r;
		}
		if (k != o[r + 1])
			return xfail(c, NULL, SN_ERR_CORRUPT, "QueryError",
				     "a malformed array value");
	}
	if (row_of)
		*row_of = ro;
	if (off)
		*off = o;
	return 0;
}

int xarr_build(struct xctx *c, const struct vec *elems, const uint32_t *off, size_t n,
	       struct vec *out)
{
	const char *ct = xarr_type(c, elems->t, elems->nullable, elems->ct);
	if (!ct || vec_make(c, out, SN_XT_ARRAY, false, n))
		return c->rc;
	out->ct = ct;
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	size_t *at = xalloc(c, c->ba, (n + 1) * sizeof(*at));
	if (!at)
		return c->rc;
	for (size_t r = 0; r < n; r++) {
		at[r] = b.len;
		if (put_u32(&b, off[r + 1] - off[r]))
			goto nomem;
		for (uint32_t k = off[r]; k < off[r + 1]; k++) {
			struct sn_exec_value x;
			value_at(elems, k, &x);
			if (xarr_put(&b, &x))
				goto nomem;
		}
	}
	at[n] = b.len;
	char *mem = xalloc(c, c->ba, b.len + 1);
	if (!mem) {
		sn_buf_release(&b);
		return c->rc;
	}
	if (b.len)
		memcpy(mem, b.data, b.len);
	sn_buf_release(&b);
	for (size_t r = 0; r < n; r++)
		out->s[r] = (struct sn_str){mem + at[r], at[r + 1] - at[r]};
	return 0;
nomem:
	sn_buf_release(&b);
	return xnomem(c);
}

int xparts_init(struct xctx *c, struct xparts *ps)
{
	ps->n = 0;
	ps->cap = c->n + 16;
	ps->s = xalloc(c, c->ba, ps->cap * sizeof(*ps->s));
	ps->off = xalloc(c, c->ba, (c->n + 1) * sizeof(*ps->off));
	return ps->s && ps->off ? 0 : c->rc;
}

int xparts_add(struct xctx *c, struct xparts *ps, const char *p, size_t len)
{
	if (ps->n == ps->cap) {
		struct sn_str *ns = xalloc(c, c->ba, 2 * ps->cap * sizeof(*ns));
		if (!ns)
			return c->rc;
		memcpy(ns, ps->s, ps->n * sizeof(*ns));
		ps->s = ns, ps->cap *= 2;
	}
	ps->s[ps->n++] = (struct sn_str){p, len};
	return 0;
}

int xparts_array(struct xctx *c, struct xparts *ps, struct vec *out)
{
	struct vec e;
	ps->off[c->n] = (uint32_t)ps->n;
	if (vec_make(c, &e, SN_XT_STRING, false, ps->n))
		return c->rc;
	if (ps->n)
		memcpy(e.s, ps->s, ps->n * sizeof(*ps->s));
	return xarr_build(c, &e, ps->off, c->n, out);
}

/* ---- literals, subscripts ------------------------------------------------------------ */

/* The common element type of items (Array literal, array(), a push),
 * composite items only with equal types. */
static int unify_items(struct xctx *c, const node_t *n, struct vec *v, size_t nv, uint8_t *t,
		       bool *nullable, const char **ct)
{
	*t = SN_XT_NULL;
	*nullable = false;
	*ct = NULL;
	for (size_t k = 0; k < nv; k++) {
		uint8_t x = v[k].t;
		*nullable |= v[k].nullable || x == SN_XT_NULL;
		if (x == SN_XT_NULL)
			continue;
		if (*t == SN_XT_NULL) {
			*t = x;
			*ct = v[k].ct;
		} else if (x == *t && !*ct) {
			continue;
		} else if (x == *t && v[k].ct && strcmp(*ct, v[k].ct) == 0) {
			continue;
		} else if (is_numeric(*t) && is_numeric(x)) {
			*t = (*t == SN_XT_FLOAT || x == SN_XT_FLOAT) ? SN_XT_FLOAT
			     : (*t == SN_XT_UINT && x == SN_XT_UINT) ? SN_XT_UINT
								     : SN_XT_INT;
		} else if (is_text(*t) && is_text(x)) {
			*t = SN_XT_STRING;
		} else {
			char a[160], b[160];
			snprintf(a, sizeof(a), "%s", xtype_name(c, *t, false, *ct));
			snprintf(b, sizeof(b), "%s", xtype_name(c, x, false, v[k].ct));
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "There is no supertype for types %s, %s", a, b);
		}
	}
	return 0;
}

/* [a, b, ...] and array(a, b, ...): n rows of k-element arrays. */
static int eval_array_items(struct xctx *c, const node_t *n, const struct sn_hogql_list *l,
			    struct vec *out)
{
	size_t k = l->n, rows = c->n;
	struct vec *v = xalloc(c, c->ba, (k + 1) * sizeof(*v));
	if (!v)
		return c->rc;
	for (size_t j = 0; j < k; j++)
		if (xeval(c, l->items[j], &v[j]))
			return c->rc;
	uint8_t t;
	bool nullable;
	const char *ct;
	if (unify_items(c, n, v, k, &t, &nullable, &ct))
		return c->rc;
	struct vec e;
	uint32_t *off = xalloc(c, c->ba, (rows + 1) * sizeof(*off));
	if (!off || vec_make(c, &e, t, nullable, rows * k))
		return c->rc;
	e.ct = ct;
	e.nullable = nullable; /* [] has Nothing, not Nullable(Nothing), elements */
	for (size_t r = 0; r < rows; r++) {
		off[r] = (uint32_t)(r * k);
		for (size_t j = 0; j < k; j++) {
			struct sn_exec_value x;
			value_at(&v[j], r, &x);
			if (x.ubin) { /* UUID bits: as text */
				if (vec_uuid_text(c, &v[j]))
					return c->rc;
				value_at(&v[j], r, &x);
			}
			vec_put_value(&e, r * k + j, &x);
		}
	}
	off[rows] = (uint32_t)(rows * k);
	return xarr_build(c, &e, off, rows, out);
}

static int tuple_build(struct xctx *c, struct vec *v, size_t k, size_t rows, struct vec *out);

static int eval_tuple(struct xctx *c, const node_t *n, const struct sn_hogql_list *l,
		      struct vec *out)
{
	size_t k = l->n;
	if (!k)
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "tuple() needs an element");
	struct vec *v = xalloc(c, c->ba, (k + 1) * sizeof(*v));
	if (!v)
		return c->rc;
	for (size_t j = 0; j < k; j++)
		if (xeval(c, l->items[j], &v[j]) || vec_uuid_text(c, &v[j]))
			return c->rc;
	return tuple_build(c, v, k, c->n, out);
}

/* rows tuples of the k vectors v (UUIDs as text already). */
static int tuple_build(struct xctx *c, struct vec *v, size_t k, size_t rows, struct vec *out)
{
	size_t len = 8;
	for (size_t j = 0; j < k; j++) {
		if (v[j].t == SN_XT_DECIMAL)
			return xunsupported(
			    c, NULL, "tuples of Decimal (convert the elements with toFloat)");
		const char *tn = xtype_name(c, v[j].t, v[j].nullable, v[j].ct);
		if (!tn)
			return c->rc;
		len += strlen(tn) + 2;
	}
	char *ct = xalloc(c, c->qa, len);
	if (!ct)
		return c->rc;
	strcpy(ct, "Tuple(");
	for (size_t j = 0; j < k; j++) {
		if (j)
			strcat(ct, ", ");
		strcat(ct, xtype_name(c, v[j].t, v[j].nullable, v[j].ct));
	}
	strcat(ct, ")");
	if (vec_make(c, out, SN_XT_TUPLE, false, rows))
		return c->rc;
	out->ct = ct;
	struct sn_buf b;
	sn_buf_init(&b, c->mem_limit);
	for (size_t r = 0; r < rows; r++) {
		size_t at = b.len;
		if (put_u32(&b, (uint32_t)k))
			goto nomem;
		for (size_t j = 0; j < k; j++) {
			struct sn_exec_value x;
			value_at(&v[j], r, &x);
			if (xarr_put(&b, &x))
				goto nomem;
		}
		out->s[r] = (struct sn_str){NULL, b.len - at};
	}
	char *mem = xalloc(c, c->ba, b.len + 1);
	if (!mem) {
		sn_buf_release(&b);
		return c->rc;
	}
	if (b.len)
		memcpy(mem, b.data, b.len);
	sn_buf_release(&b);
	size_t at = 0;
	for (size_t r = 0; r < rows; r++) {
		out->s[r].p = mem + at;
		at += out->s[r].len;
	}
	return 0;
nomem:
	sn_buf_release(&b);
	return xnomem(c);
}

/* Element k (0-based) of every tuple in v (static type from v's). */
static int tuple_elem(struct xctx *c, const node_t *n, const struct vec *v, size_t k,
		      struct vec *out)
{
	uint8_t t;
	bool nullable;
	const char *ect;
	size_t arity = xtuple_arity(v->ct);
	if (k >= arity)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Tuple index %zu is out of range: the tuple has %zu elements", k + 1,
			     arity);
	if (xarr_elem(c, v->ct, k, &t, &nullable, &ect) || vec_make(c, out, t, nullable, v->n))
		return c->rc;
	out->ct = ect;
	for (size_t r = 0; r < v->n; r++) {
		struct xait it;
		struct sn_exec_value x = {.null = true};
		xait_init(&it, v->s[r]);
		for (size_t j = 0; j <= k; j++)
			if (!xait_next(&it, &x))
				return xfail(c, n, SN_ERR_CORRUPT, "QueryError",
					     "a malformed tuple value");
		vec_put_value(out, r, &x);
	}
	return 0;
}

/* arr[i]: 1-based, negative from the end; out of range is the element
 * type's default (ClickHouse), NULL for a nullable element type. */
static int array_at(struct xctx *c, const node_t *n, const struct vec *arr, const struct vec *iv,
		    struct vec *out)
{
	uint8_t t;
	bool nullable;
	const char *ect;
	if (!is_intlike(iv->t) && iv->t != SN_XT_NULL)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Array subscripts must be integers");
	if (xarr_elem(c, arr->ct, 0, &t, &nullable, &ect) ||
	    vec_make(c, out, t, nullable || iv->nullable, arr->n))
		return c->rc;
	out->ct = ect;
	for (size_t r = 0; r < arr->n; r++) {
		if (vec_null(iv, r) || iv->t == SN_XT_NULL) {
			out->nulls[r] = 1;
			continue;
		}
		int64_t i = iv->i[r], cnt = vec_null(arr, r) ? 0 : xarr_count(arr->s[r]);
		int64_t want = i > 0 ? i - 1 : cnt + i;
		if (i == 0 || want < 0 || want >= cnt) {
			if (out->nulls)
				out->nulls[r] = nullable;
			if (t == SN_XT_ARRAY && out->s) /* an empty array */
				out->s[r] = (struct sn_str){"\0\0\0\0", 4};
			continue;
		}
		struct xait it;
		struct sn_exec_value x;
		xait_init(&it, arr->s[r]);
		for (int64_t j = 0; j <= want; j++)
			if (!xait_next(&it, &x))
				return xfail(c, n, SN_ERR_CORRUPT, "QueryError",
					     "a malformed array value");
		vec_put_value(out, r, &x);
	}
	return 0;
}

static bool is_map(const struct vec *v);
static int map_lookup(struct xctx *c, const node_t *n, int op, const struct vec *m, struct vec *x,
		      struct vec *out);
static int map_of_pairs(struct xctx *c, const node_t *n, node_t *const *keys, node_t *const *vals,
			size_t step, size_t np, struct vec *out);

int xeval_array_node(struct xctx *c, const node_t *n, struct vec *out)
{
	switch (n->kind) {
	case SN_HQ_ARRAY: return eval_array_items(c, n, &n->list, out);
	case SN_HQ_TUPLE: return eval_tuple(c, n, &n->list, out);
	case SN_HQ_DICT: /* {k: v, ...}: map()'s pairs (once eval.c routes Dict nodes here) */
		if (n->list2.n != n->list.n)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "A map literal needs a value for every key");
		return map_of_pairs(c, n, n->list.items, n->list2.items, 1, n->list.n, out);
	case SN_HQ_TUPLE_ACCESS: {
		struct vec v;
		if (xeval(c, n->a, &v))
			return c->rc;
		if (v.t != SN_XT_TUPLE)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Tuple access .%lld needs a tuple", (long long)n->ival);
		if (n->ival < 1)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Tuple indexes start at 1");
		return tuple_elem(c, n, &v, (size_t)n->ival - 1, out);
	}
	case SN_HQ_ARRAY_ACCESS: {
		struct vec a, i;
		if (xeval(c, n->a, &a) || xeval(c, n->b, &i))
			return c->rc;
		if (a.t == SN_XT_TUPLE) {
			if (n->b->kind != SN_HQ_CONSTANT || n->b->ctype != SN_HQC_INT ||
			    n->b->ival < 1)
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "A tuple subscript must be a constant from 1");
			return tuple_elem(c, n, &a, (size_t)n->b->ival - 1, out);
		}
		if (a.t != SN_XT_ARRAY)
			return xunsupported(c, n,
					    "subscripts of values other than arrays, tuples "
					    "and properties");
		if (is_map(&a))
			return map_lookup(c, n, 1, &a, &i, out);
		return array_at(c, n, &a, &i, out);
	}
	default: return xunsupported(c, n, "this expression");
	}
}

/* ---- lambdas ----------------------------------------------------------------------- */

/* Whether n reads a lambda parameter not bound yet (a parameter of the
 * lambda being applied, or of one nested in it). */
static bool unbound_param(const struct xctx *c, const node_t *n, int depth)
{
	if (!n || depth > SN_HOGQL_MAX_DEPTH)
		return n != NULL;
	if (n->kind == SN_HQ_FIELD && n->ref_kind == SN_HQR_LAMBDA_ARG) {
		for (size_t i = 0; i < c->nlam; i++)
			if (strcmp(c->lam[i].name, n->strs.items[0]) == 0)
				return false;
		return true;
	}
	if (n->kind == SN_HQ_SELECT || n->kind == SN_HQ_SELECT_SET)
		return false;
	if (unbound_param(c, n->a, depth + 1) || unbound_param(c, n->b, depth + 1) ||
	    unbound_param(c, n->c, depth + 1))
		return true;
	for (size_t i = 0; i < n->list.n; i++)
		if (unbound_param(c, n->list.items[i], depth + 1))
			return true;
	for (size_t i = 0; i < n->list2.n; i++)
		if (unbound_param(c, n->list2.items[i], depth + 1))
			return true;
	return false;
}

/* Evaluates the parts of body free of unbound parameters over the rows
 * and binds them, spread to the elements (row_of), in c->pre. */
static int pre_bind(struct xctx *c, const node_t *n, const uint32_t *row_of, size_t m, int depth)
{
	if (!n || c->rc)
		return c->rc;
	if (n->kind == SN_HQ_CONSTANT)
		return 0;
	if (n->kind != SN_HQ_LAMBDA && !unbound_param(c, n, 0)) {
		if (c->npre >= XMAX_PRE)
			return xunsupported(c, n, "lambdas reading this many outer expressions");
		struct vec v, *g = xalloc(c, c->ba, sizeof(*g));
		if (!g || xeval(c, n, &v) || vec_gather(c, &v, row_of, m, g))
			return c->rc;
		g->ct = v.ct;
		c->pre[c->npre].n = n;
		c->pre[c->npre].v = g;
		c->npre++;
		return 0;
	}
	if (depth > SN_HOGQL_MAX_DEPTH)
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "Expression nests too deeply");
	pre_bind(c, n->a, row_of, m, depth + 1);
	pre_bind(c, n->b, row_of, m, depth + 1);
	pre_bind(c, n->c, row_of, m, depth + 1);
	for (size_t i = 0; i < n->list.n; i++)
		pre_bind(c, n->list.items[i], row_of, m, depth + 1);
	for (size_t i = 0; i < n->list2.n; i++)
		pre_bind(c, n->list2.items[i], row_of, m, depth + 1);
	return c->rc;
}

int xlambda_apply(struct xctx *c, const node_t *lam, const struct vec *args, size_t nargs,
		  const uint32_t *row_of, size_t m, struct vec *out)
{
	if (lam->kind != SN_HQ_LAMBDA)
		return xfail(c, lam, SN_ERR_INVALID, "QueryError",
			     "Expected a lambda function (x -> ...) here");
	if (lam->strs.n != nargs)
		return xfail(c, lam, SN_ERR_INVALID, "QueryError",
			     "The lambda takes %zu arguments, but %zu arrays are given",
			     lam->strs.n, nargs);
	if (c->nlam + nargs > XMAX_LAMBDA)
		return xunsupported(c, lam, "lambdas nested this deep");
	size_t save_pre = c->npre, save_lam = c->nlam, rows = c->n;
	/* the outer parts first, over the rows (parameters not bound yet) */
	size_t base = c->nlam;
	for (size_t i = 0; i < nargs; i++)
		c->lam[base + i].name = lam->strs.items[i];
	int rc = pre_bind(c, lam->a, row_of, m, 0);
	if (rc == 0) {
		for (size_t i = 0; i < nargs; i++)
			c->lam[base + i].v = &args[i];
		c->nlam = base + nargs;
		c->n = m;
		rc = xeval(c, lam->a, out);
	}
	c->n = rows;
	c->nlam = save_lam;
	c->npre = save_pre;
	return c->rc ? c->rc : rc;
}

int xlambda_param(struct xctx *c, const node_t *n, struct vec *out)
{
	for (size_t i = c->nlam; i-- > 0;)
		if (strcmp(c->lam[i].name, n->strs.items[0]) == 0) {
			*out = *c->lam[i].v;
			return 0;
		}
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Lambda argument %s is used outside its lambda", n->strs.items[0]);
}

/* ---- functions --------------------------------------------------------------------- */

typedef int (*array_fn)(struct xctx *c, const node_t *n, int op, struct vec *out);

/* Argument k of n, an array (a NULL argument reads as empty arrays). */
static int arg_array(struct xctx *c, const node_t *n, size_t k, struct vec *v)
{
	if (k >= n->list.n)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects an array as argument %zu", n->name, k + 1);
	if (xeval(c, n->list.items[k], v))
		return c->rc;
	if (v->t == SN_XT_NULL) { /* NULL: Array(Nothing), no elements */
		struct vec e;
		uint32_t *off = xalloc(c, c->ba, (c->n + 1) * sizeof(*off));
		if (!off || vec_make(c, &e, SN_XT_NULL, true, 0))
			return c->rc;
		memset(off, 0, (c->n + 1) * sizeof(*off));
		return xarr_build(c, &e, off, c->n, v);
	}
	if (v->t != SN_XT_ARRAY) {
		char tn[160];
		snprintf(tn, sizeof(tn), "%s", xtype_name(c, v->t, v->nullable, v->ct));
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects an array as argument %zu, got %s", n->name,
			     k + 1, tn);
	}
	return 0;
}

/* Argument k, an array, flattened. */
static int arg_flat(struct xctx *c, const node_t *n, size_t k, struct vec *e, uint32_t **row_of,
		    uint32_t **off)
{
	struct vec a;
	if (arg_array(c, n, k, &a))
		return c->rc;
	return xarr_flatten(c, &a, e, row_of, off);
}

/* Whether values of types a and b can be compared for equality. */
static bool comparable(uint8_t a, uint8_t b)
{
	if (a == SN_XT_NULL || b == SN_XT_NULL || a == b)
		return true;
	bool na = is_numeric(a) || a == SN_XT_DATE || a == SN_XT_DATETIME;
	bool nb = is_numeric(b) || b == SN_XT_DATE || b == SN_XT_DATETIME;
	return (na && nb) || (is_text(a) && is_text(b));
}

static bool value_eq(const struct sn_exec_value *a, const struct sn_exec_value *b)
{
	bool an = a->null || a->type == SN_XT_NULL, bn = b->null || b->type == SN_XT_NULL;
	if (an || bn)
		return an && bn;
	return value_cmp(a, b) == 0;
}

static int need_comparable(struct xctx *c, const node_t *n, const struct vec *e,
			   const struct vec *x)
{
	if (comparable(e->t, x->t) && (e->t != x->t || !e->ct || !x->ct || !strcmp(e->ct, x->ct)))
		return 0;
	char a[160], b[160];
	snprintf(a, sizeof(a), "%s", xtype_name(c, e->t, false, e->ct));
	snprintf(b, sizeof(b), "%s", xtype_name(c, x->t, false, x->ct));
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Function '%s': types %s and %s are not comparable", n->name, a, b);
}

/* has (op 0), indexOf (1), countEqual (2) of (arr, x). */
static int fn_find(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec e, x;
	uint32_t *off;
	if (need_args(c, n, 2, 2) || arg_flat(c, n, 0, &e, NULL, &off) ||
	    xeval(c, n->list.items[1], &x) || vec_uuid_text(c, &x) || need_comparable(c, n, &e, &x))
		return c->rc;
	if (vec_make(c, out, op ? SN_XT_UINT : SN_XT_BOOL, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		struct sn_exec_value want, got;
		value_at(&x, r, &want);
		int64_t hit = 0;
		for (uint32_t k = off[r]; k < off[r + 1]; k++) {
			value_at(&e, k, &got);
			if (!value_eq(&got, &want))
				continue;
			if (op == 2) {
				hit++;
				continue;
			}
			hit = op ? (int64_t)(k - off[r] + 1) : 1;
			break;
		}
		out->i[r] = hit;
	}
	return 0;
}

/* hasAll (op 0), hasAny (1) of (a, b). */
static int fn_hasset(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec a, b;
	uint32_t *oa, *ob;
	if (need_args(c, n, 2, 2) || arg_flat(c, n, 0, &a, NULL, &oa) ||
	    arg_flat(c, n, 1, &b, NULL, &ob) || need_comparable(c, n, &a, &b) ||
	    vec_make(c, out, SN_XT_BOOL, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		bool all = true, any = false;
		for (uint32_t j = ob[r]; j < ob[r + 1]; j++) {
			struct sn_exec_value y, x;
			value_at(&b, j, &y);
			bool found = false;
			for (uint32_t k = oa[r]; k < oa[r + 1] && !found; k++) {
				value_at(&a, k, &x);
				found = value_eq(&x, &y);
			}
			all &= found;
			any |= found;
		}
		out->i[r] = op ? any : all;
	}
	return 0;
}

/* range(end), range(start, end[, step]): UInt64 elements unless an
 * argument is signed. At most 10^8 elements per batch. */
static int fn_range(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[3];
	if (need_args(c, n, 1, 3))
		return c->rc;
	size_t na = n->list.n;
	bool sign = false;
	for (size_t k = 0; k < na; k++) {
		if (xeval(c, n->list.items[k], &v[k]))
			return c->rc;
		if (!is_intlike(v[k].t))
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function 'range' expects integer arguments");
		sign |= v[k].t == SN_XT_INT;
	}
	uint32_t *off = xalloc(c, c->ba, (c->n + 1) * sizeof(*off));
	if (!off)
		return c->rc;
	size_t m = 0;
	for (int pass = 0; pass < 2; pass++) {
		struct vec e;
		if (pass && vec_make(c, &e, sign ? SN_XT_INT : SN_XT_UINT, false, m))
			return c->rc;
		size_t k = 0;
		for (size_t r = 0; r < c->n; r++) {
			int64_t lo = na > 1 ? v[0].i[r] : 0, hi = v[na > 1].i[r];
			int64_t step = na > 2 ? v[2].i[r] : 1;
			bool null = false;
			for (size_t j = 0; j < na; j++)
				null |= vec_null(&v[j], r);
			if (step <= 0 && !null)
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Function 'range': the step must be positive");
			off[r] = (uint32_t)k;
			for (int64_t x = lo; !null && x < hi; x += step) {
				if (k >= 100000000)
					return xfail(c, n, SN_ERR_TOO_BIG, "QueryError",
						     "Function 'range' would make more than "
						     "100000000 elements");
				if (pass)
					e.i[k] = x;
				k++;
				if (x > INT64_MAX - step)
					break;
			}
		}
		off[c->n] = (uint32_t)k;
		m = k;
		if (pass)
			return xarr_build(c, &e, off, c->n, out);
	}
	return 0;
}

/* Selects elements keep[k] of e into arrays per row (off). */
static int build_kept(struct xctx *c, const struct vec *e, const uint32_t *off, const uint8_t *keep,
		      struct vec *out)
{
	uint32_t *idx = xalloc(c, c->ba, (e->n + 1) * sizeof(*idx));
	uint32_t *no = xalloc(c, c->ba, (c->n + 1) * sizeof(*no));
	if (!idx || !no)
		return c->rc;
	size_t m = 0;
	for (size_t r = 0; r < c->n; r++) {
		no[r] = (uint32_t)m;
		for (uint32_t k = off[r]; k < off[r + 1]; k++)
			if (keep[k])
				idx[m++] = k;
	}
	no[c->n] = (uint32_t)m;
	struct vec g;
	if (vec_gather(c, e, idx, m, &g))
		return c->rc;
	return xarr_build(c, &g, no, c->n, out);
}

/* The lambda's arrays (arguments 1..) flattened, of equal sizes per row. */
static int lambda_arrays(struct xctx *c, const node_t *n, size_t first, struct vec *e,
			 uint32_t **row_of, uint32_t **off)
{
	size_t na = n->list.n - first;
	if (na == 0 || na > 8)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects 1 to 8 arrays", n->name);
	for (size_t j = 0; j < na; j++) {
		uint32_t *o;
		if (arg_flat(c, n, first + j, &e[j], j ? NULL : row_of, &o))
			return c->rc;
		if (j == 0)
			*off = o;
		else
			for (size_t r = 0; r < c->n; r++)
				if (o[r + 1] - o[r] != (*off)[r + 1] - (*off)[r])
					return xfail(c, n, SN_ERR_INVALID, "QueryError",
						     "Arrays passed to %s must have equal size",
						     n->name);
	}
	return 0;
}

/* fn(x -> body, arr...) applied: the body per element in *vals; without a
 * lambda (when allowed: lam_opt) the first array's elements themselves. */
static int lambda_values(struct xctx *c, const node_t *n, bool lam_opt, struct vec *vals,
			 struct vec *first, uint32_t **off)
{
	bool lam = n->list.n && n->list.items[0]->kind == SN_HQ_LAMBDA;
	if (!lam && !lam_opt)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects a lambda (x -> ...) as its first argument",
			     n->name);
	struct vec e[8];
	uint32_t *row_of;
	if (lambda_arrays(c, n, lam ? 1 : 0, e, &row_of, off))
		return c->rc;
	*first = e[0];
	if (!lam) {
		if (n->list.n != 1)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function '%s' takes one array without a lambda", n->name);
		*vals = e[0];
		return 0;
	}
	return xlambda_apply(c, n->list.items[0], e, n->list.n - 1, row_of, e[0].n, vals);
}

/* arrayMap (op 0), arrayFilter (1). */
static int fn_map(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v, first;
	uint32_t *off;
	if (lambda_values(c, n, false, &v, &first, &off))
		return c->rc;
	if (op == 0) {
		if (vec_uuid_text(c, &v))
			return c->rc;
		return xarr_build(c, &v, off, c->n, out);
	}
	uint8_t *keep = xalloc(c, c->ba, first.n + 1);
	if (!keep)
		return c->rc;
	for (size_t k = 0; k < first.n; k++)
		keep[k] = vec_truth(&v, k);
	return build_kept(c, &first, off, keep, out);
}

/* arrayExists (0), arrayAll (1), arrayCount (2), arrayFirst (3), arrayLast
 * (4), arrayFirstIndex (5), arrayLastIndex (6): a condition per element. */
static int fn_cond(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v, first;
	uint32_t *off;
	if (lambda_values(c, n, op <= 2, &v, &first, &off))
		return c->rc;
	if (op == 3 || op == 4) {
		if (vec_make(c, out, first.t, first.nullable, c->n))
			return c->rc;
		out->ct = first.ct;
	} else if (vec_make(c, out, op >= 2 ? SN_XT_UINT : SN_XT_BOOL, false, c->n)) {
		return c->rc;
	}
	for (size_t r = 0; r < c->n; r++) {
		int64_t cnt = 0, at = -1;
		for (uint32_t k = off[r]; k < off[r + 1]; k++) {
			if (!vec_truth(&v, k))
				continue;
			cnt++;
			if (at < 0 || op == 4 || op == 6)
				at = k;
		}
		size_t len = off[r + 1] - off[r];
		switch (op) {
		case 0: out->i[r] = cnt > 0; break;
		case 1: out->i[r] = (size_t)cnt == len; break;
		case 2: out->i[r] = cnt; break;
		case 5:
		case 6: out->i[r] = at < 0 ? 0 : at - off[r] + 1; break;
		default:
			if (at >= 0) {
				struct sn_exec_value x;
				value_at(&first, (size_t)at, &x);
				vec_put_value(out, r, &x);
			} else if (first.t == SN_XT_ARRAY) {
				out->s[r] = (struct sn_str){"\0\0\0\0", 4};
			}
		}
	}
	return 0;
}

/* arraySum (0), arrayMin (1), arrayMax (2), arrayAvg (3), optionally of a
 * lambda's values. NULL elements are skipped; Min/Max of none is the
 * type's default, Avg of none nan. */
static int fn_fold(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v, first;
	uint32_t *off;
	if (lambda_values(c, n, true, &v, &first, &off))
		return c->rc;
	bool num = is_numeric(v.t) || v.t == SN_XT_NULL;
	if ((op == 0 || op == 3) && !num)
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "Function '%s' expects numbers",
			     n->name);
	uint8_t t = op == 3   ? SN_XT_FLOAT
		    : op == 0 ? (v.t == SN_XT_FLOAT			  ? SN_XT_FLOAT
				 : v.t == SN_XT_UINT || v.t == SN_XT_BOOL ? SN_XT_UINT
									  : SN_XT_INT)
			      : (v.t == SN_XT_NULL ? SN_XT_INT : v.t);
	if (vec_make(c, out, t, false, c->n))
		return c->rc;
	out->ct = op == 1 || op == 2 ? v.ct : NULL;
	for (size_t r = 0; r < c->n; r++) {
		double sf = 0;
		int64_t si = 0, cnt = 0;
		struct sn_exec_value best = {.null = true}, x;
		for (uint32_t k = off[r]; k < off[r + 1]; k++) {
			if (v.t == SN_XT_NULL || vec_null(&v, k))
				continue;
			cnt++;
			if (op == 0 || op == 3) {
				if (v.f)
					sf += v.f[k];
				else
					si = (int64_t)((uint64_t)si + (uint64_t)v.i[k]);
				continue;
			}
			value_at(&v, k, &x);
			int d = best.null ? 1 : value_cmp(&x, &best);
			if ((op == 1 && d < 0) || (op == 2 && d > 0) || best.null)
				best = x;
		}
		if (op == 0) {
			if (out->f)
				out->f[r] = sf;
			else
				out->i[r] = si;
		} else if (op == 3) {
			out->f[r] = cnt ? (v.f ? sf : (double)si) / (double)cnt : NAN;
		} else if (!best.null) {
			vec_put_value(out, r, &best);
		}
	}
	return 0;
}

struct sortk {
	const struct vec *keys;
	bool desc;
};

static int sort_cmp(const void *a, const void *b, void *arg)
{
	const struct sortk *s = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	struct sn_exec_value u, v;
	value_at(s->keys, x, &u);
	value_at(s->keys, y, &v);
	int d;
	if (u.null || v.null) /* NULLs last either way, as ClickHouse */
		d = u.null == v.null ? 0 : (u.null ? 1 : -1);
	else
		d = s->desc ? -value_cmp(&u, &v) : value_cmp(&u, &v);
	return d ? d : (x > y) - (x < y);
}

/* arraySort (0), arrayReverseSort (1), optionally by a lambda's keys;
 * arrayReverse (2), arrayDistinct (3), arrayCompact (4). */
static int fn_order(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec keys, first;
	uint32_t *off;
	if (lambda_values(c, n, true, &keys, &first, &off))
		return c->rc;
	if (op >= 2 && n->list.n != 1)
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "Function '%s' takes one array",
			     n->name);
	uint32_t *idx = xalloc(c, c->ba, (first.n + 1) * sizeof(*idx));
	uint32_t *no = xalloc(c, c->ba, (c->n + 1) * sizeof(*no));
	if (!idx || !no)
		return c->rc;
	struct sortk sk = {&keys, op == 1};
	size_t m = 0;
	for (size_t r = 0; r < c->n; r++) {
		uint32_t a = off[r], b = off[r + 1];
		no[r] = (uint32_t)m;
		if (op <= 1) {
			for (uint32_t k = a; k < b; k++)
				idx[m + k - a] = k;
			qsort_r(idx + m, b - a, sizeof(*idx), sort_cmp, &sk);
			m += b - a;
		} else if (op == 2) {
			for (uint32_t k = b; k-- > a;)
				idx[m++] = k;
		} else {
			for (uint32_t k = a; k < b; k++) {
				struct sn_exec_value x, y;
				value_at(&first, k, &x);
				bool dup = false;
				if (op == 4) {
					if (k > a) {
						value_at(&first, k - 1, &y);
						dup = value_eq(&x, &y);
					}
				} else {
					/* arrayDistinct drops NULLs (ClickHouse) */
					dup = x.null;
					for (size_t j = no[r]; j < m && !dup; j++) {
						value_at(&first, idx[j], &y);
						dup = value_eq(&x, &y);
					}
				}
				if (!dup)
					idx[m++] = k;
			}
		}
	}
	no[c->n] = (uint32_t)m;
	struct vec g;
	if (vec_gather(c, &first, idx, m, &g))
		return c->rc;
	return xarr_build(c, &g, no, c->n, out);
}

/* arrayUniq(arr): distinct non-NULL elements. */
static int fn_uniq(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec d, e;
	uint32_t *off;
	node_t tmp = *n;
	tmp.name = "arrayDistinct";
	if (need_args(c, n, 1, 1) || fn_order(c, &tmp, 3, &d) ||
	    xarr_flatten(c, &d, &e, NULL, &off) || vec_make(c, out, SN_XT_UINT, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		out->i[r] = off[r + 1] - off[r];
	return 0;
}

/* arrayConcat(a, b, ...) (0), arrayPushBack(a, x) (1), arrayPushFront(a, x) (2). */
static int fn_concat(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	size_t na = n->list.n;
	if (op ? need_args(c, n, 2, 2) : need_args(c, n, 1, 64))
		return c->rc;
	struct vec *e = xalloc(c, c->ba, na * sizeof(*e));
	uint32_t **off = xalloc(c, c->ba, na * sizeof(*off));
	if (!e || !off)
		return c->rc;
	for (size_t j = 0; j < na; j++) {
		bool scalar = op && j == 1; /* the pushed value, after the array */
		if (!scalar) {
			if (arg_flat(c, n, j, &e[j], NULL, &off[j]))
				return c->rc;
			continue;
		}
		/* the pushed value as one-element arrays */
		if (xeval(c, n->list.items[j], &e[j]) || vec_uuid_text(c, &e[j]))
			return c->rc;
		if (!(off[j] = xalloc(c, c->ba, (c->n + 1) * sizeof(*off[j]))))
			return c->rc;
		for (size_t r = 0; r <= c->n; r++)
			off[j][r] = (uint32_t)r;
	}
	if (op == 2) { /* the value first */
		struct vec t = e[0];
		uint32_t *to = off[0];
		e[0] = e[1], off[0] = off[1];
		e[1] = t, off[1] = to;
	}
	uint8_t t;
	bool nullable;
	const char *ct;
	if (unify_items(c, n, e, na, &t, &nullable, &ct))
		return c->rc;
	size_t m = 0;
	for (size_t j = 0; j < na; j++)
		m += e[j].n;
	struct vec all;
	uint32_t *no = xalloc(c, c->ba, (c->n + 1) * sizeof(*no));
	if (!no || vec_make(c, &all, t, nullable, m))
		return c->rc;
	all.ct = ct;
	size_t k = 0;
	for (size_t r = 0; r < c->n; r++) {
		no[r] = (uint32_t)k;
		for (size_t j = 0; j < na; j++)
			for (uint32_t i = off[j][r]; i < off[j][r + 1]; i++) {
				struct sn_exec_value x;
				value_at(&e[j], i, &x);
				vec_put_value(&all, k++, &x);
			}
	}
	no[c->n] = (uint32_t)k;
	return xarr_build(c, &all, no, c->n, out);
}

/* arraySlice(arr, offset[, length]): ClickHouse's 1-based offsets,
 * negative from the end; a negative length stops that far from the end. */
static int fn_slice(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec e, ov, lv;
	uint32_t *off;
	if (need_args(c, n, 2, 3) || arg_flat(c, n, 0, &e, NULL, &off) ||
	    xeval(c, n->list.items[1], &ov) || (n->list.n == 3 && xeval(c, n->list.items[2], &lv)))
		return c->rc;
	if (!is_intlike(ov.t) || (n->list.n == 3 && !is_intlike(lv.t)))
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'arraySlice' expects integer offset and length");
	uint8_t *keep = xalloc(c, c->ba, e.n + 1);
	if (!keep)
		return c->rc;
	memset(keep, 0, e.n + 1);
	for (size_t r = 0; r < c->n; r++) {
		int64_t len = off[r + 1] - off[r], o = ov.i[r];
		if (vec_null(&ov, r) || o == 0)
			continue;
		int64_t from = o > 0 ? o - 1 : len + o, to = len;
		if (from < 0)
			from = 0;
		if (n->list.n == 3 && !vec_null(&lv, r))
			to = lv.i[r] >= 0 ? from + lv.i[r] : len + lv.i[r];
		for (int64_t k = from; k < to && k < len; k++)
			keep[off[r] + k] = 1;
	}
	return build_kept(c, &e, off, keep, out);
}

/* arrayEnumerate(arr): 1 .. length. */
static int fn_enumerate(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec e, idx;
	uint32_t *off;
	if (need_args(c, n, 1, 1) || arg_flat(c, n, 0, &e, NULL, &off) ||
	    vec_make(c, &idx, SN_XT_UINT, false, e.n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		for (uint32_t k = off[r]; k < off[r + 1]; k++)
			idx.i[k] = k - off[r] + 1;
	return xarr_build(c, &idx, off, c->n, out);
}

/* arrayStringConcat(arr[, sep]): NULL elements skipped. */
static int fn_join(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec e, sep = {0};
	uint32_t *off;
	if (need_args(c, n, 1, 2) || arg_flat(c, n, 0, &e, NULL, &off) ||
	    (n->list.n == 2 && xeval(c, n->list.items[1], &sep)))
		return c->rc;
	if ((!is_text(e.t) && e.t != SN_XT_NULL) || (n->list.n == 2 && !is_text(sep.t)))
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'arrayStringConcat' expects an array of strings and a "
			     "string separator");
	if (vec_make(c, out, SN_XT_STRING, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		size_t len = 0;
		struct sn_str s =
		    n->list.n == 2 && !vec_null(&sep, r) ? sep.s[r] : (struct sn_str){0};
		for (uint32_t k = off[r]; k < off[r + 1]; k++)
			len += (e.s && !vec_null(&e, k) ? e.s[k].len : 0) + s.len;
		char *p = xalloc(c, c->ba, len + 1);
		if (!p)
			return c->rc;
		size_t at = 0;
		bool any = false;
		for (uint32_t k = off[r]; k < off[r + 1]; k++) {
			if (!e.s || vec_null(&e, k))
				continue;
			if (any && s.len)
				memcpy(p + at, s.p, s.len), at += s.len;
			if (e.s[k].len)
				memcpy(p + at, e.s[k].p, e.s[k].len), at += e.s[k].len;
			any = true;
		}
		out->s[r] = (struct sn_str){p, at};
	}
	return 0;
}

/* splitByChar(sep, s[, max]) (op 0: sep is one byte), splitByString(sep,
 * s[, max]) (1: an empty sep splits into bytes... characters). */
static int fn_split(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec sep, s, mx = {0};
	if (need_args(c, n, 2, 3) || xeval(c, n->list.items[0], &sep) ||
	    xeval(c, n->list.items[1], &s) || (n->list.n == 3 && xeval(c, n->list.items[2], &mx)))
		return c->rc;
	if (!is_text(sep.t) || (!is_text(s.t) && s.t != SN_XT_NULL) ||
	    (n->list.n == 3 && !is_intlike(mx.t)))
		return xfail(
		    c, n, SN_ERR_INVALID, "QueryError",
		    "Function '%s' expects (separator String, text String[, max_substrings "
		    "Int])",
		    n->name);
	if (vec_uuid_text(c, &s))
		return c->rc;
	struct xparts ps;
	if (xparts_init(c, &ps))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		ps.off[r] = (uint32_t)ps.n;
		if (s.t == SN_XT_NULL || vec_null(&s, r) || vec_null(&sep, r))
			continue;
		struct sn_str d = sep.s[r], t = s.s[r];
		if (!t.p)
			t.p = "";
		if (op == 0 && d.len != 1)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function 'splitByChar': the separator must be exactly one "
				     "character");
		int64_t limit = n->list.n == 3 && !vec_null(&mx, r) && mx.i[r] > 0 ? mx.i[r] : -1;
		size_t at = 0;
		for (;;) {
			size_t got = ps.n - ps.off[r];
			if (d.len == 0) { /* one element per UTF-8 character */
				if (at >= t.len)
					break;
				size_t l = 1;
				while (at + l < t.len &&
				       ((unsigned char)t.p[at + l] & 0xc0) == 0x80)
					l++;
				if (xparts_add(c, &ps, t.p + at, l))
					return c->rc;
				at += l;
				if (limit > 0 && (int64_t)got + 1 >= limit)
					break;
				continue;
			}
			const char *hit = memmem(t.p + at, t.len - at, d.p, d.len);
			if (limit > 0 && (int64_t)got + 1 >= limit)
				hit = NULL; /* the last allowed substring: ClickHouse stops there */
			size_t end = hit ? (size_t)(hit - t.p) : t.len;
			if (xparts_add(c, &ps, t.p + at, end - at))
				return c->rc;
			if (!hit)
				break;
			at = end + d.len;
		}
	}
	return xparts_array(c, &ps, out);
}

/* Elements idx of e into arrays per row (no: each row's start in idx). */
static int build_idx(struct xctx *c, const struct vec *e, const uint32_t *idx, const uint32_t *no,
		     struct vec *out)
{
	struct vec g;
	if (vec_gather(c, e, idx, no[c->n], &g))
		return c->rc;
	return xarr_build(c, &g, no, c->n, out);
}

/* arrayZip(a, b, ...): arrays of tuples of the arrays' elements, of equal sizes. */
static int fn_zip(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	size_t na = n->list.n;
	struct vec *e = xalloc(c, c->ba, (na + 1) * sizeof(*e)), t;
	uint32_t *off = NULL, *o;
	if (!e || need_args(c, n, 1, 64))
		return c->rc;
	for (size_t j = 0; j < na; j++) {
		if (arg_flat(c, n, j, &e[j], NULL, &o) || vec_uuid_text(c, &e[j]))
			return c->rc;
		if (j == 0)
			off = o;
		for (size_t r = 0; j && r < c->n; r++)
			if (o[r + 1] - o[r] != off[r + 1] - off[r])
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Arrays passed to arrayZip must have equal size");
	}
	if (tuple_build(c, e, na, e[0].n, &t))
		return c->rc;
	return xarr_build(c, &t, off, c->n, out);
}

/* arrayFlatten(arr): the elements of nested arrays, every level. */
static int fn_flatten(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec e;
	uint32_t *off;
	if (need_args(c, n, 1, 1) || arg_flat(c, n, 0, &e, NULL, &off))
		return c->rc;
	while (e.t == SN_XT_ARRAY) {
		struct vec inner;
		uint32_t *io;
		if (xarr_flatten(c, &e, &inner, NULL, &io))
			return c->rc;
		for (size_t r = 0; r <= c->n; r++)
			off[r] = io[off[r]];
		e = inner;
	}
	return xarr_build(c, &e, off, c->n, out);
}

/* The numeric result type of arrayCumSum (op 0) and arrayDifference (1). */
static uint8_t running_type(uint8_t t, int op)
{
	if (t == SN_XT_FLOAT)
		return SN_XT_FLOAT;
	return op == 0 && (t == SN_XT_UINT || t == SN_XT_BOOL) ? SN_XT_UINT : SN_XT_INT;
}

/* arrayCumSum([f,] arr) (op 0): running sums; arrayDifference(arr) (1):
 * each element minus the one before, 0 first. NULL elements count as 0. */
static int fn_running(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v, first, s;
	uint32_t *off;
	if ((op == 1 && need_args(c, n, 1, 1)) || lambda_values(c, n, true, &v, &first, &off))
		return c->rc;
	if (!is_numeric(v.t) && v.t != SN_XT_NULL)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects an array of numbers", n->name);
	if (vec_make(c, &s, running_type(v.t, op), false, v.n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		double pf = 0;
		int64_t pi = 0;
		for (uint32_t k = off[r]; k < off[r + 1]; k++) {
			bool z = v.t == SN_XT_NULL || vec_null(&v, k);
			double xf = z ? 0 : v.f ? v.f[k] : (double)v.i[k];
			int64_t xi = z || v.f ? 0 : v.i[k];
			if (s.f)
				s.f[k] = op ? (k == off[r] ? 0 : xf - pf) : pf + xf;
			else
				s.i[k] =
				    op ? (k == off[r] ? 0 : (int64_t)((uint64_t)xi - (uint64_t)pi))
				       : (int64_t)((uint64_t)pi + (uint64_t)xi);
			pf = op ? xf : s.f ? s.f[k] : 0;
			pi = op ? xi : s.i ? s.i[k] : 0;
		}
	}
	return xarr_build(c, &s, off, c->n, out);
}

/* arrayIntersect(a, b, ...): the distinct elements of a found in every
 * other array, in a's order. */
static int fn_intersect(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	size_t na = n->list.n;
	struct vec *e = xalloc(c, c->ba, (na + 1) * sizeof(*e));
	uint32_t **off = xalloc(c, c->ba, (na + 1) * sizeof(*off));
	if (!e || !off || need_args(c, n, 1, 64))
		return c->rc;
	for (size_t j = 0; j < na; j++)
		if (arg_flat(c, n, j, &e[j], NULL, &off[j]) || vec_uuid_text(c, &e[j]) ||
		    need_comparable(c, n, &e[0], &e[j]))
			return c->rc;
	uint8_t t;
	bool nullable;
	const char *ct;
	struct vec all;
	uint32_t *no = xalloc(c, c->ba, (c->n + 1) * sizeof(*no));
	if (!no || unify_items(c, n, e, na, &t, &nullable, &ct) ||
	    vec_make(c, &all, t, nullable, e[0].n))
		return c->rc;
	all.ct = ct;
	size_t m = 0;
	for (size_t r = 0; r < c->n; r++) {
		no[r] = (uint32_t)m;
		for (uint32_t k = off[0][r]; k < off[0][r + 1]; k++) {
			struct sn_exec_value x, y;
			value_at(&e[0], k, &x);
			bool keep = true;
			for (size_t i = no[r]; i < m && keep; i++) {
				value_at(&all, i, &y);
				keep = !value_eq(&x, &y);
			}
			for (size_t j = 1; j < na && keep; j++) {
				bool found = false;
				for (uint32_t i = off[j][r]; i < off[j][r + 1] && !found; i++) {
					value_at(&e[j], i, &y);
					found = value_eq(&x, &y);
				}
				keep = found;
			}
			if (keep)
				vec_put_value(&all, m++, &x);
		}
	}
	no[c->n] = (uint32_t)m;
	all.n = m;
	return xarr_build(c, &all, no, c->n, out);
}

/* arrayResize(arr, size[, extender]): cut or padded to size (a negative
 * size keeps the last -size elements, padding in front), with extender or
 * the element type's default (NULL for a nullable one). */
static int fn_resize(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec e[2], sz, all;
	uint32_t *off;
	size_t ne = 1;
	if (need_args(c, n, 2, 3) || arg_flat(c, n, 0, &e[0], NULL, &off) ||
	    xeval(c, n->list.items[1], &sz))
		return c->rc;
	if (!is_intlike(sz.t))
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'arrayResize' expects an integer size");
	if (n->list.n == 3) {
		if (xeval(c, n->list.items[2], &e[1]) || vec_uuid_text(c, &e[1]))
			return c->rc;
		ne = 2;
	}
	uint8_t t;
	bool nullable;
	const char *ct;
	if (unify_items(c, n, e, ne, &t, &nullable, &ct))
		return c->rc;
	size_t m = 0;
	for (size_t r = 0; r < c->n; r++) {
		int64_t s = vec_null(&sz, r) ? 0 : sz.i[r];
		if (s > 100000000 || s < -100000000)
			return xfail(c, n, SN_ERR_TOO_BIG, "QueryError",
				     "Function 'arrayResize': the size is too large");
		m += (size_t)(s < 0 ? -s : s);
		if (m > 100000000)
			return xfail(c, n, SN_ERR_TOO_BIG, "QueryError",
				     "Function 'arrayResize' would make more than 100000000 "
				     "elements");
	}
	uint32_t *no = xalloc(c, c->ba, (c->n + 1) * sizeof(*no));
	if (!no || vec_make(c, &all, t, nullable, m))
		return c->rc;
	all.ct = ct;
	size_t k = 0;
	for (size_t r = 0; r < c->n; r++) {
		int64_t s = vec_null(&sz, r) ? 0 : sz.i[r], len = off[r + 1] - off[r];
		int64_t want = s < 0 ? -s : s, pad = want > len ? want - len : 0;
		int64_t from = s < 0 && len > want ? len - want : 0;
		struct sn_exec_value x, d = {.type = t, .null = nullable};
		if (ne == 2)
			value_at(&e[1], r, &d);
		else if (t == SN_XT_ARRAY)
			d.s = (struct sn_str){"\0\0\0\0", 4};
		no[r] = (uint32_t)k;
		for (int64_t i = 0; s < 0 && i < pad; i++)
			vec_put_value(&all, k++, &d);
		for (int64_t i = from; i < len && i < from + want; i++) {
			value_at(&e[0], off[r] + (size_t)i, &x);
			vec_put_value(&all, k++, &x);
		}
		for (int64_t i = 0; s > 0 && i < pad; i++)
			vec_put_value(&all, k++, &d);
	}
	no[c->n] = (uint32_t)k;
	return xarr_build(c, &all, no, c->n, out);
}

/* arrayPopBack (op 0), arrayPopFront (1): without the last (first) element;
 * arrayRotateLeft (2), arrayRotateRight (3) of (arr, n). */
static int fn_shift(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec e, nv;
	uint32_t *off;
	if (need_args(c, n, op >= 2 ? 2 : 1, op >= 2 ? 2 : 1) ||
	    arg_flat(c, n, 0, &e, NULL, &off) || (op >= 2 && xeval(c, n->list.items[1], &nv)))
		return c->rc;
	if (op >= 2 && !is_intlike(nv.t))
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects an integer count", n->name);
	uint32_t *idx = xalloc(c, c->ba, (e.n + 1) * sizeof(*idx));
	uint32_t *no = xalloc(c, c->ba, (c->n + 1) * sizeof(*no));
	if (!idx || !no)
		return c->rc;
	size_t m = 0;
	for (size_t r = 0; r < c->n; r++) {
		uint32_t a = off[r], b = off[r + 1], len = b - a;
		no[r] = (uint32_t)m;
		if (op < 2) {
			for (uint32_t k = a + (op == 1); len && k < b - (op == 0); k++)
				idx[m++] = k;
			continue;
		}
		int64_t sh = len && !vec_null(&nv, r) ? nv.i[r] % (int64_t)len : 0;
		if (op == 3)
			sh = -sh;
		if (sh < 0)
			sh += len;
		for (uint32_t k = 0; k < len; k++)
			idx[m++] = a + (uint32_t)(((int64_t)k + sh) % len);
	}
	no[c->n] = (uint32_t)m;
	return build_idx(c, &e, idx, no, out);
}

/* arrayEnumerateUniq(a, ...) (op 0): each element's occurrence number
 * among the equal ones before it (of the arrays' element tuples);
 * arrayEnumerateDense(a) (1): its distinct value's number, by first
 * appearance. */
static int fn_enum_uniq(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	size_t na = n->list.n;
	struct vec e[8], idx;
	uint32_t *off, *o;
	if (op ? need_args(c, n, 1, 1) : need_args(c, n, 1, 8))
		return c->rc;
	for (size_t j = 0; j < na; j++) {
		if (arg_flat(c, n, j, &e[j], NULL, j ? &o : &off))
			return c->rc;
		for (size_t r = 0; j && r < c->n; r++)
			if (o[r + 1] - o[r] != off[r + 1] - off[r])
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Arrays passed to %s must have equal size", n->name);
	}
	if (vec_make(c, &idx, SN_XT_UINT, false, e[0].n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		for (uint32_t k = off[r]; k < off[r + 1]; k++) {
			uint32_t cnt = 1, dense = 0;
			for (uint32_t i = off[r]; i < k; i++) {
				bool eq = true;
				for (size_t j = 0; j < na && eq; j++) {
					struct sn_exec_value x, y;
					value_at(&e[j], k, &x);
					value_at(&e[j], i, &y);
					eq = value_eq(&x, &y);
				}
				if (eq && !dense)
					dense = (uint32_t)idx.i[i];
				cnt += eq;
			}
			if (op && !dense) { /* a new value: one more than the largest yet */
				dense = 1;
				for (uint32_t i = off[r]; i < k; i++)
					if ((uint32_t)idx.i[i] >= dense)
						dense = (uint32_t)idx.i[i] + 1;
			}
			idx.i[k] = op ? dense : cnt;
		}
	return xarr_build(c, &idx, off, c->n, out);
}

/* arrayWithConstant(length, x): length copies of x. */
static int fn_with_constant(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec len, x, e;
	if (need_args(c, n, 2, 2) || xeval(c, n->list.items[0], &len) ||
	    xeval(c, n->list.items[1], &x) || vec_uuid_text(c, &x))
		return c->rc;
	if (!is_intlike(len.t) && len.t != SN_XT_NULL)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'arrayWithConstant' expects an integer length");
	uint32_t *off = xalloc(c, c->ba, (c->n + 1) * sizeof(*off));
	if (!off)
		return c->rc;
	size_t m = 0;
	for (size_t r = 0; r < c->n; r++) {
		int64_t l = len.t == SN_XT_NULL || vec_null(&len, r) ? 0 : len.i[r];
		if (l < 0 || l > 100000000 || m + (size_t)l > 100000000)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function 'arrayWithConstant': the length must be 0 to "
				     "100000000, got %lld",
				     (long long)l);
		off[r] = (uint32_t)m;
		m += (size_t)l;
	}
	off[c->n] = (uint32_t)m;
	uint32_t *idx = xalloc(c, c->ba, (m + 1) * sizeof(*idx));
	if (!idx)
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		for (uint32_t k = off[r]; k < off[r + 1]; k++)
			idx[k] = (uint32_t)r;
	if (vec_gather(c, &x, idx, m, &e))
		return c->rc;
	return xarr_build(c, &e, off, c->n, out);
}

/* arrayProduct(arr): Float64, 1 for none; NULL elements skipped. */
static int fn_product(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec e;
	uint32_t *off;
	if (need_args(c, n, 1, 1) || arg_flat(c, n, 0, &e, NULL, &off))
		return c->rc;
	if (!is_numeric(e.t) && e.t != SN_XT_NULL)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'arrayProduct' expects an array of numbers");
	if (vec_make(c, out, SN_XT_FLOAT, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		double p = 1;
		for (uint32_t k = off[r]; k < off[r + 1]; k++)
			if (e.t != SN_XT_NULL && !vec_null(&e, k))
				p *= e.f		 ? e.f[k]
				     : e.t == SN_XT_UINT ? (double)(uint64_t)e.i[k]
							 : (double)e.i[k];
		out->f[r] = p;
	}
	return 0;
}

/* hasSubstr(a, b): whether b's elements appear in a consecutively, in
 * order (NULL equal to NULL); always for an empty b. */
static int fn_has_substr(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec a, b;
	uint32_t *oa, *ob;
	if (need_args(c, n, 2, 2) || arg_flat(c, n, 0, &a, NULL, &oa) ||
	    arg_flat(c, n, 1, &b, NULL, &ob) || need_comparable(c, n, &a, &b) ||
	    vec_make(c, out, SN_XT_BOOL, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		uint32_t la = oa[r + 1] - oa[r], lb = ob[r + 1] - ob[r];
		bool hit = lb == 0;
		for (uint32_t s = 0; !hit && s + lb <= la; s++) {
			bool eq = true;
			for (uint32_t j = 0; j < lb && eq; j++) {
				struct sn_exec_value x, y;
				value_at(&a, oa[r] + s + j, &x);
				value_at(&b, ob[r] + j, &y);
				eq = value_eq(&x, &y);
			}
			hit = eq;
		}
		out->i[r] = hit;
	}
	return 0;
}

/* arrayFill(f, arr...): an element whose f is false replaced by the last
 * one before it whose f was true (the first is kept). arrayReverseFill is
 * not in HogQL's function table. */
static int fn_fill(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v, first;
	uint32_t *off;
	if (lambda_values(c, n, false, &v, &first, &off))
		return c->rc;
	uint32_t *idx = xalloc(c, c->ba, (first.n + 1) * sizeof(*idx));
	if (!idx)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		uint32_t src = off[r];
		for (uint32_t k = off[r]; k < off[r + 1]; k++) {
			if (k == off[r] || vec_truth(&v, k))
				src = k;
			idx[k] = src;
		}
	}
	struct vec g;
	if (vec_gather(c, &first, idx, first.n, &g))
		return c->rc;
	return xarr_build(c, &g, off, c->n, out);
}

/* arraySplit(f, arr...): arr cut before each element whose f is true
 * (the first element's f ignored): an array of arrays. */
static int fn_array_split(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v, first, inner;
	uint32_t *off;
	if (lambda_values(c, n, false, &v, &first, &off))
		return c->rc;
	uint32_t *seg = xalloc(c, c->ba, (first.n + 1) * sizeof(*seg));
	uint32_t *no = xalloc(c, c->ba, (c->n + 1) * sizeof(*no));
	if (!seg || !no)
		return c->rc;
	size_t m = 0;
	for (size_t r = 0; r < c->n; r++) {
		no[r] = (uint32_t)m;
		for (uint32_t k = off[r]; k < off[r + 1]; k++)
			if (k == off[r] || vec_truth(&v, k))
				seg[m++] = k;
	}
	no[c->n] = (uint32_t)m;
	seg[m] = (uint32_t)first.n;
	if (xarr_build(c, &first, seg, m, &inner))
		return c->rc;
	return xarr_build(c, &inner, no, c->n, out);
}

/* ---- maps ---------------------------------------------------------------------------- */

/* Whether v holds Maps (an Array of (key, value) tuples typed Map(K, V)). */
static bool is_map(const struct vec *v)
{
	return v->t == SN_XT_ARRAY && v->ct && strncmp(v->ct, "Map(", 4) == 0;
}

/* Argument k of n, a Map; *null set (and out made the NULL type) for the
 * NULL literal, which makes the result NULL. */
static int arg_map(struct xctx *c, const node_t *n, size_t k, struct vec *v, struct vec *out,
		   bool *null)
{
	*null = false;
	if (xeval(c, n->list.items[k], v))
		return c->rc;
	if (v->t == SN_XT_NULL) {
		*null = true;
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	}
	if (!is_map(v)) {
		char tn[160];
		snprintf(tn, sizeof(tn), "%s", xtype_name(c, v->t, v->nullable, v->ct));
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Illegal type %s of argument %zu of function %s, expected Map", tn,
			     k + 1, n->name);
	}
	return 0;
}

/* The Map type whose (key, value) tuples are typed tct ("Tuple(K, V)"). */
static const char *map_of_tuple(struct xctx *c, const node_t *n, const char *tct)
{
	if (xtuple_arity(tct) != 2) {
		xfail(c, n, SN_ERR_INVALID, "QueryError",
		      "Function %s needs (key, value) pairs, got %s", n->name,
		      tct ? tct : "no tuple");
		return NULL;
	}
	size_t len = strlen(tct) + 2;
	char *s = xalloc(c, c->qa, len);
	if (s)
		snprintf(s, len, "Map(%s", tct + 6);
	return s;
}

/* Keys must not be Nullable, arrays or tuples, as ClickHouse's Map key
 * types; Nothing only for no key at all (map(), mapFromArrays([], [])). */
static int need_map_key(struct xctx *c, const node_t *n, const struct vec *k)
{
	uint8_t t = k->t;
	bool nullable = k->nullable;
	const char *ct = k->ct;
	if ((t == SN_XT_NULL ? k->n == 0 : !nullable) && t != SN_XT_TUPLE && t != SN_XT_ARRAY)
		return 0;
	char tn[160];
	snprintf(tn, sizeof(tn), "%s", xtype_name(c, t, nullable, ct));
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Function %s: a map key cannot be of type %s", n->name, tn);
}

/* n Maps from key and value elements, row r's pairs [off[r], off[r+1]). */
static int map_build(struct xctx *c, const node_t *n, struct vec *kv, const uint32_t *off,
		     size_t rows, struct vec *out)
{
	struct vec tup;
	if (need_map_key(c, n, &kv[0]) || vec_uuid_text(c, &kv[0]) || vec_uuid_text(c, &kv[1]) ||
	    tuple_build(c, kv, 2, kv[0].n, &tup) || xarr_build(c, &tup, off, rows, out))
		return c->rc;
	out->ct = map_of_tuple(c, n, tup.ct);
	return out->ct ? 0 : c->rc;
}

/* map(k1, v1, k2, v2, ...): the pairs in argument order, duplicates kept
 * (ClickHouse's map() does not merge them; lookups find the first). */
static int fn_map_literal(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	size_t na = n->list.n;
	if (na % 2)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function map requires an even number of arguments, found %zu", na);
	node_t *const *items = n->list.items; /* NULL for map(): no pairs */
	return map_of_pairs(c, n, items, items ? items + 1 : NULL, 2, na / 2, out);
}

/* Maps of the np pairs (keys[j * step], vals[j * step]): map()'s arguments
 * or a {k: v, ...} literal's. */
static int map_of_pairs(struct xctx *c, const node_t *n, node_t *const *keys, node_t *const *vals,
			size_t step, size_t np, struct vec *out)
{
	size_t rows = c->n;
	struct vec *ks = xalloc(c, c->ba, (np + 1) * sizeof(*ks));
	struct vec *vs = xalloc(c, c->ba, (np + 1) * sizeof(*vs));
	uint32_t *off = xalloc(c, c->ba, (rows + 1) * sizeof(*off));
	if (!ks || !vs || !off)
		return c->rc;
	for (size_t j = 0; j < np; j++)
		if (xeval(c, keys[j * step], &ks[j]) || vec_uuid_text(c, &ks[j]) ||
		    xeval(c, vals[j * step], &vs[j]) || vec_uuid_text(c, &vs[j]))
			return c->rc;
	uint8_t t[2];
	bool nl[2];
	const char *ct[2];
	struct vec kv[2];
	if (unify_items(c, n, ks, np, &t[0], &nl[0], &ct[0]) ||
	    unify_items(c, n, vs, np, &t[1], &nl[1], &ct[1]))
		return c->rc;
	for (int h = 0; h < 2; h++) {
		if (vec_make(c, &kv[h], t[h], nl[h], rows * np))
			return c->rc;
		kv[h].ct = ct[h];
		kv[h].nullable = nl[h];
	}
	for (size_t r = 0; r < rows; r++) {
		off[r] = (uint32_t)(r * np);
		for (size_t j = 0; j < np; j++)
			for (int h = 0; h < 2; h++) {
				struct sn_exec_value x;
				value_at(h ? &vs[j] : &ks[j], r, &x);
				vec_put_value(&kv[h], r * np + j, &x);
			}
	}
	off[rows] = (uint32_t)(rows * np);
	return map_build(c, n, kv, off, rows, out);
}

/* Map m flattened: its keys and values as element vectors (row_of, off as
 * xarr_flatten's), and the (key, value) tuples themselves when tup. */
static int map_flat(struct xctx *c, const node_t *n, const struct vec *m, struct vec *kv,
		    struct vec *tup, uint32_t **row_of, uint32_t **off)
{
	struct vec t;
	if (xarr_flatten(c, m, &t, row_of, off) || tuple_elem(c, n, &t, 0, &kv[0]) ||
	    tuple_elem(c, n, &t, 1, &kv[1]))
		return c->rc;
	if (tup)
		*tup = t;
	return 0;
}

/* mapKeys (op 0), mapValues (1): the keys or values in the map's order. */
static int fn_map_part(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec m, kv[2];
	uint32_t *off;
	bool null;
	if (need_args(c, n, 1, 1) || arg_map(c, n, 0, &m, out, &null) || null ||
	    map_flat(c, n, &m, kv, NULL, NULL, &off))
		return c->rc;
	return xarr_build(c, &kv[op], off, c->n, out);
}

/* The index (from off[r]) of the first key of row r equal to want, or -1. */
static int64_t map_find(const struct vec *keys, const uint32_t *off, size_t r,
			const struct sn_exec_value *want)
{
	for (uint32_t k = off[r]; k < off[r + 1]; k++) {
		struct sn_exec_value got;
		value_at(keys, k, &got);
		if (value_eq(&got, want))
			return k;
	}
	return -1;
}

/* mapContains(m, key) (op 0) and m[key] / arrayElement(m, key) (op 1: the
 * first pair's value, the value type's default when the key is missing). */
static int map_lookup(struct xctx *c, const node_t *n, int op, const struct vec *m, struct vec *x,
		      struct vec *out)
{
	struct vec kv[2];
	uint32_t *off;
	if (vec_uuid_text(c, x) || map_flat(c, n, m, kv, NULL, NULL, &off) ||
	    need_comparable(c, n, &kv[0], x))
		return c->rc;
	bool xnull = x->t == SN_XT_NULL || x->nullable;
	if (op == 0 ? vec_make(c, out, SN_XT_BOOL, xnull, c->n)
		    : vec_make(c, out, kv[1].t, kv[1].nullable || xnull, c->n))
		return c->rc;
	out->ct = op ? kv[1].ct : NULL;
	for (size_t r = 0; r < c->n; r++) {
		struct sn_exec_value want;
		value_at(x, r, &want);
		if (want.null) {
			out->nulls[r] = 1;
			continue;
		}
		int64_t k = map_find(&kv[0], off, r, &want);
		if (op == 0) {
			out->i[r] = k >= 0;
		} else if (k >= 0) {
			struct sn_exec_value v;
			value_at(&kv[1], (size_t)k, &v);
			vec_put_value(out, r, &v);
		} else if (out->nulls && kv[1].nullable) {
			out->nulls[r] = 1;
		} else if (kv[1].t == SN_XT_ARRAY) {
			out->s[r] = (struct sn_str){"\0\0\0\0", 4};
		}
	}
	return 0;
}

static int fn_map_contains(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec m, x;
	bool null;
	if (need_args(c, n, 2, 2) || arg_map(c, n, 0, &m, out, &null) || null ||
	    xeval(c, n->list.items[1], &x))
		return c->rc;
	if (x.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	return map_lookup(c, n, 0, &m, &x, out);
}

/* mapFromArrays(keys, values): pairs of equal-length arrays. */
static int fn_map_from_arrays(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec kv[2];
	uint32_t *off, *ov;
	if (need_args(c, n, 2, 2) || arg_flat(c, n, 0, &kv[0], NULL, &off) ||
	    arg_flat(c, n, 1, &kv[1], NULL, &ov))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		if (off[r + 1] - off[r] != ov[r + 1] - ov[r])
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function mapFromArrays: the keys and values arrays must have "
				     "equal sizes (%u and %u)",
				     off[r + 1] - off[r], ov[r + 1] - ov[r]);
	return map_build(c, n, kv, off, c->n, out);
}

/* mapFilter((k, v) -> cond, m) (op 0): the pairs the lambda keeps;
 * mapApply((k, v) -> (k2, v2), m) (op 1): the pairs it makes. */
static int fn_map_lambda(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec m, kv[2], tup, v;
	uint32_t *row_of, *off;
	bool null;
	if (need_args(c, n, 2, 2))
		return c->rc;
	if (n->list.items[0]->kind != SN_HQ_LAMBDA)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function %s expects a lambda (k, v) -> ... as its first argument",
			     n->name);
	if (arg_map(c, n, 1, &m, out, &null) || null ||
	    map_flat(c, n, &m, kv, &tup, &row_of, &off) ||
	    xlambda_apply(c, n->list.items[0], kv, 2, row_of, tup.n, &v))
		return c->rc;
	if (op == 0) {
		uint8_t *keep = xalloc(c, c->ba, tup.n + 1);
		if (!keep)
			return c->rc;
		for (size_t k = 0; k < tup.n; k++)
			keep[k] = vec_truth(&v, k);
		if (build_kept(c, &tup, off, keep, out))
			return c->rc;
		out->ct = m.ct;
		return 0;
	}
	if (v.t != SN_XT_TUPLE || xtuple_arity(v.ct) != 2)
		return xfail(c, n->list.items[0], SN_ERR_INVALID, "QueryError",
			     "The lambda of mapApply must return a (key, value) tuple");
	struct vec parts[2];
	if (tuple_elem(c, n, &v, 0, &parts[0]) || tuple_elem(c, n, &v, 1, &parts[1]))
		return c->rc;
	return map_build(c, n, parts, off, c->n, out);
}

static int fn_literal(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	if (need_args(c, n, op ? 1 : 0, 256))
		return c->rc;
	return op ? eval_tuple(c, n, &n->list, out) : eval_array_items(c, n, &n->list, out);
}

static int fn_element(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec a, i;
	if (need_args(c, n, 2, 2) || arg_array(c, n, 0, &a) || xeval(c, n->list.items[1], &i))
		return c->rc;
	if (is_map(&a))
		return map_lookup(c, n, 1, &a, &i, out);
	return array_at(c, n, &a, &i, out);
}

static int fn_tuple_element(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec t;
	const node_t *k = n->list.n == 2 ? n->list.items[1] : NULL;
	if (need_args(c, n, 2, 2) || xeval(c, n->list.items[0], &t))
		return c->rc;
	if (t.t != SN_XT_TUPLE || !k || k->kind != SN_HQ_CONSTANT || k->ctype != SN_HQC_INT ||
	    k->ival < 1)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'tupleElement' expects a tuple and a constant index from 1");
	return tuple_elem(c, n, &t, (size_t)k->ival - 1, out);
}

/* untuple(t): only as a select item of the outermost statement, which
 * exec.c marks (untuple_flag) and splits into the tuple's elements
 * afterwards (untuple_expand); here the tuple passes through. */
const char SN_EXEC_UNTUPLE_TOP[] = "untuple_top";

static int fn_untuple(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	if (need_args(c, n, 1, 1))
		return c->rc;
	if (n->op != SN_EXEC_UNTUPLE_TOP)
		return xunsupported(c, n,
				    "untuple() other than as a column of the outermost SELECT "
				    "(not in a subquery, a UNION ALL, an expression or a clause)");
	if (xeval(c, n->list.items[0], out))
		return c->rc;
	if (out->t != SN_XT_TUPLE)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Illegal type %s of argument of function untuple: it must be a Tuple",
			     xtype_name(c, out->t, out->nullable, out->ct));
	return 0;
}

/* arrayAUC(scores, labels): the area under the ROC curve, as ClickHouse
 * computes it (scaled): elements by score, highest first; a label > 0 is a
 * positive; each run of equal scores adds the trapezoid between the
 * previous (false positives, true positives) point and the new one; the
 * area over tp * fp, nan when all labels are alike (or none). */
struct auc_pt {
	double score;
	bool pos;
};

static int auc_cmp(const void *a, const void *b)
{
	double x = ((const struct auc_pt *)a)->score, y = ((const struct auc_pt *)b)->score;
	return (x < y) - (x > y);
}

static int fn_auc(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec e[2];
	uint32_t *row_of, *off;
	if (need_args(c, n, 2, 2) || lambda_arrays(c, n, 0, e, &row_of, &off))
		return c->rc;
	for (int k = 0; k < 2; k++)
		if (e[k].t != SN_XT_NULL && (!is_numeric(e[k].t) || e[k].nullable)) {
			char tn[160];
			snprintf(tn, sizeof(tn), "%s",
				 xtype_name(c, e[k].t, e[k].nullable, e[k].ct));
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function '%s' cannot process values of type %s (argument %d)",
				     n->name, tn, k + 1);
		}
	struct auc_pt *pt = xalloc(c, c->ba, (e[0].n + 1) * sizeof(*pt));
	if (!pt || vec_make(c, out, SN_XT_FLOAT, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		size_t m = off[r + 1] - off[r];
		for (size_t k = 0; k < m; k++) {
			size_t j = off[r] + k;
			pt[k].score = e[0].t == SN_XT_NULL ? 0 : num_at(&e[0], j);
			pt[k].pos = e[1].t != SN_XT_NULL && num_at(&e[1], j) > 0;
			if (e[0].t == SN_XT_UINT)
				pt[k].score = (double)(uint64_t)e[0].i[j];
		}
		qsort(pt, m, sizeof(*pt), auc_cmp);
		double area = 0, prev = m ? pt[0].score : 0;
		size_t pfp = 0, ptp = 0, fp = 0, tp = 0;
		for (size_t k = 0; k < m; k++) {
			if (pt[k].score != prev) {
				area += (double)(fp - pfp) * (double)(tp + ptp) / 2.0;
				pfp = fp;
				ptp = tp;
				prev = pt[k].score;
			}
			if (pt[k].pos)
				tp++;
			else
				fp++;
		}
		area += (double)(fp - pfp) * (double)(tp + ptp) / 2.0;
		out->f[r] = tp == 0 || tp == m ? NAN : area / (double)tp / (double)(m - tp);
	}
	return 0;
}

/* arrayFold((acc, x1, ...) -> body, arr1, ..., init) (ClickHouse 23+): acc
 * starts as init and becomes the body's value at each element in turn.
 * Step j evaluates the body once over the rows that have a j-th element
 * (their accumulators and j-th elements as the lambda's parameters), so a
 * batch costs one evaluation per element index, not one per element. The
 * result has init's type; the body's values convert to it (numbers widen or
 * narrow), and any other type is an error. */
static int fn_array_fold(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	if (n->list.n < 3 || n->list.items[0]->kind != SN_HQ_LAMBDA)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'arrayFold' expects a lambda (acc, x) -> ..., one or more "
			     "arrays and an initial value");
	node_t arrs = *n; /* the arrays only: without the lambda's init */
	arrs.list.n--;
	struct vec e[9], init;
	uint32_t *row_of, *off;
	if (lambda_arrays(c, &arrs, 1, e, &row_of, &off) ||
	    xeval(c, n->list.items[n->list.n - 1], &init) || vec_uuid_text(c, &init))
		return c->rc;
	size_t na = n->list.n - 2, rows = c->n, maxlen = 0;
	if (vec_make(c, out, init.t, init.nullable, rows))
		return c->rc;
	out->ct = init.ct;
	for (size_t r = 0; r < rows; r++) {
		copy_cell(out, r, &init);
		if (off[r + 1] - off[r] > maxlen)
			maxlen = off[r + 1] - off[r];
	}
	uint32_t *act = xalloc(c, c->ba, (rows + 1) * sizeof(*act));
	uint32_t *at = xalloc(c, c->ba, (rows + 1) * sizeof(*at));
	if (!act || !at)
		return c->rc;
	for (size_t j = 0; j < maxlen; j++) {
		size_t m = 0;
		for (size_t r = 0; r < rows; r++)
			if (off[r + 1] - off[r] > j) {
				act[m] = (uint32_t)r;
				at[m++] = off[r] + (uint32_t)j;
			}
		struct vec args[9], v;
		if (vec_gather(c, out, act, m, &args[0]))
			return c->rc;
		args[0].ct = out->ct;
		for (size_t k = 0; k < na; k++) {
			if (vec_gather(c, &e[k], at, m, &args[k + 1]))
				return c->rc;
			args[k + 1].ct = e[k].ct;
		}
		if (xlambda_apply(c, n->list.items[0], args, na + 1, act, m, &v) ||
		    vec_uuid_text(c, &v))
			return c->rc;
		bool fits = v.t == SN_XT_NULL ? out->nullable
			    : v.t == out->t   ? (!v.ct || !out->ct || !strcmp(v.ct, out->ct))
					      : is_numeric(v.t) && is_numeric(out->t);
		if (!fits || (v.nullable && !out->nullable)) {
			char a[160], b[160];
			snprintf(a, sizeof(a), "%s", xtype_name(c, v.t, v.nullable, v.ct));
			snprintf(b, sizeof(b), "%s", xtype_name(c, out->t, out->nullable, out->ct));
			return xfail(c, n->list.items[0], SN_ERR_INVALID, "QueryError",
				     "Function 'arrayFold': the lambda returns %s but the "
				     "accumulator is %s; give the initial value the lambda's type",
				     a, b);
		}
		for (size_t k = 0; k < m; k++) {
			struct sn_exec_value x;
			value_at(&v, k, &x);
			if (x.type == SN_XT_UINT && out->f)
				x.f = (double)(uint64_t)x.i, x.type = SN_XT_FLOAT;
			vec_put_value(out, act[k], &x);
		}
	}
	return 0;
}

/* arrayReduce('agg[(params)]', arr1, ...): the aggregate over each row's
 * elements, run by agg.c itself: the rows' elements are one batch grouped
 * by their row, through a GROUP BY of one key. Every row gets one extra
 * element first whose condition is false, so that a row with no elements
 * still has its group (the aggregate over nothing) and groups come out in
 * row order; an -If aggregate's last array is its condition. The states
 * live in the batch's arena (the query arena is swapped for it while the
 * aggregate runs), so a query's rows do not accumulate states. */
#define REDUCE_MAX_ARRAYS 8

/* Parses "name" or "name(p1, p2, ...)" (numeric parameters) into call. */
static int reduce_call(struct xctx *c, const node_t *n, const char *text, node_t *call)
{
	size_t len = strcspn(text, "( ");
	char *name = xalloc(c, c->ba, len + 1);
	if (!name)
		return c->rc;
	memcpy(name, text, len);
	name[len] = 0;
	call->name = name;
	const char *p = text + len;
	while (*p == ' ')
		p++;
	if (!*p)
		return 0;
	if (*p != '(')
		goto bad;
	node_t **ps = xalloc(c, c->ba, 16 * sizeof(*ps));
	if (!ps)
		return c->rc;
	size_t np = 0;
	for (p++;;) {
		while (*p == ' ')
			p++;
		if (*p == ')' && np == 0)
			break;
		char *end;
		double f = strtod(p, &end);
		if (end == p || np == 16)
			goto bad;
		node_t *k = xalloc(c, c->ba, sizeof(*k));
		if (!k)
			return c->rc;
		memset(k, 0, sizeof(*k));
		k->kind = SN_HQ_CONSTANT;
		k->has_pos = n->has_pos;
		k->start = n->start;
		k->end = n->end;
		bool integral = strcspn(p, ".eEnNiI") >= (size_t)(end - p);
		k->ctype = integral ? SN_HQC_INT : SN_HQC_FLOAT;
		k->ival = integral ? strtoll(p, NULL, 10) : 0;
		k->fval = f;
		ps[np++] = k;
		for (p = end; *p == ' '; p++)
			;
		if (*p == ')')
			break;
		if (*p++ != ',')
			goto bad;
	}
	if (p[1])
		goto bad;
	call->list2 = (struct sn_hogql_list){ps, np};
	return 0;
bad:
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Function 'arrayReduce': cannot read the aggregate function '%s' (a name, "
		     "optionally with numeric parameters: 'quantile(0.9)')",
		     text);
}

static int fn_reduce(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	if (n->list.n < 2 || n->list.items[0]->kind != SN_HQ_CONSTANT ||
	    n->list.items[0]->ctype != SN_HQC_STRING)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "The first argument of function 'arrayReduce' must be a constant "
			     "string: the name of an aggregate function");
	if (n->list.n - 1 > REDUCE_MAX_ARRAYS)
		return xunsupported(c, n, "arrayReduce over more than 8 arrays");
	size_t na = n->list.n - 1, rows = c->n;
	struct vec e[REDUCE_MAX_ARRAYS];
	uint32_t *row_of, *off;
	if (lambda_arrays(c, n, 1, e, &row_of, &off))
		return c->rc;
	node_t *call = xalloc(c, c->ba, sizeof(*call));
	node_t *nodes = xalloc(c, c->ba, (na + 2) * sizeof(*nodes));
	node_t **args = xalloc(c, c->ba, na * sizeof(*args));
	struct aggrun *g = xalloc(c, c->ba, sizeof(*g));
	if (!call || !nodes || !args || !g)
		return c->rc;
	memset(call, 0, sizeof(*call));
	memset(nodes, 0, (na + 2) * sizeof(*nodes));
	memset(g, 0, sizeof(*g));
	call->kind = SN_HQ_CALL;
	call->has_pos = n->has_pos;
	call->start = n->start;
	call->end = n->end;
	if (reduce_call(c, n, n->list.items[0]->sval, call))
		return c->rc;
	for (size_t k = 0; k < na + 2; k++) {
		nodes[k] = *call;
		nodes[k].kind = SN_HQ_PLACEHOLDER;
		nodes[k].name = NULL;
		nodes[k].list2 = (struct sn_hogql_list){0};
		if (k < na)
			args[k] = &nodes[k];
	}
	call->list = (struct sn_hogql_list){args, na};
	struct xagg *ag = &g->aggs[0];
	ag->call = call;
	if (agg_classify(c, call, ag))
		return c->rc;
	/* the elements with one false-conditioned element in front of each
	 * row's: (m = rows + elements), their row numbers, the condition */
	size_t m = rows + e[0].n;
	struct vec *ext = xalloc(c, c->ba, (na + 2) * sizeof(*ext));
	if (!ext)
		return c->rc;
	for (size_t k = 0; k < na; k++) {
		if (vec_make(c, &ext[k], e[k].t, e[k].nullable, m))
			return c->rc;
		ext[k].ct = e[k].ct;
	}
	if (vec_make(c, &ext[na], SN_XT_INT, false, m) ||
	    vec_make(c, &ext[na + 1], SN_XT_BOOL, false, m))
		return c->rc;
	const struct vec *cond = ag->cond ? &e[na - 1] : NULL;
	for (size_t r = 0, j = 0; r < rows; r++) {
		ext[na].i[j++] = (int64_t)r; /* the extra element: condition 0 */
		for (uint32_t k = off[r]; k < off[r + 1]; k++, j++) {
			for (size_t a = 0; a < na; a++) {
				struct sn_exec_value x;
				value_at(&e[a], k, &x);
				vec_put_value(&ext[a], j, &x);
			}
			ext[na].i[j] = (int64_t)r;
			ext[na + 1].i[j] = cond ? vec_truth(cond, k) : 1;
		}
	}
	if (c->npre + na + 2 > XMAX_PRE)
		return xunsupported(c, n, "arrayReduce inside this many lambdas");
	size_t save_pre = c->npre;
	struct sn_arena *qa = c->qa;
	for (size_t k = 0; k < na + 2; k++)
		c->pre[c->npre++] = (struct xbind){&nodes[k], &ext[k]};
	/* an -If aggregate's condition array is replaced by the combined one */
	if (ag->cond)
		c->pre[c->npre - 1].n = ag->cond;
	else
		ag->cond = &nodes[na + 1];
	g->naggs = 1;
	g->nkeys = 1;
	g->key_nodes[0] = &nodes[na];
	g->key_t[0] = SN_XT_INT;
	c->n = m;
	c->qa = c->ba;
	struct vec keyv, aggv;
	int rc = agg_type(c, ag);
	if (!rc && !(rc = agg_init(c, g))) {
		if (!(rc = agg_batch(c, g)))
			rc = agg_final(c, g, &keyv, &aggv);
		agg_release(g);
	}
	c->qa = qa;
	c->n = rows;
	c->npre = save_pre;
	if (rc || c->rc)
		return c->rc ? c->rc : rc;
	if (g->ngroups != rows)
		SN_BUG("arrayReduce: %zu groups for %zu rows", g->ngroups, rows);
	*out = aggv;
	out->sq = false;
	if (aggv.ct && !(out->ct = sn_arena_strdup(c->qa, aggv.ct)))
		return xnomem(c);
	return 0;
}

static const struct {
	const char *name;
	array_fn fn;
	int op;
} FNS[] = {
    {"arrayAUC", fn_auc, 0},
    {"arrayFold", fn_array_fold, 0},
    {"arrayReduce", fn_reduce, 0},
    {"array", fn_literal, 0},
    {"tuple", fn_literal, 1},
    {"range", fn_range, 0},
    {"has", fn_find, 0},
    {"indexOf", fn_find, 1},
    {"countEqual", fn_find, 2},
    {"hasAll", fn_hasset, 0},
    {"hasAny", fn_hasset, 1},
    {"arrayElement", fn_element, 0},
    {"tupleElement", fn_tuple_element, 0},
    {"untuple", fn_untuple, 0},
    {"arrayMap", fn_map, 0},
    {"arrayFilter", fn_map, 1},
    {"arrayExists", fn_cond, 0},
    {"arrayAll", fn_cond, 1},
    {"arrayCount", fn_cond, 2},
    {"arrayFirst", fn_cond, 3},
    {"arrayLast", fn_cond, 4},
    {"arrayFirstIndex", fn_cond, 5},
    {"arrayLastIndex", fn_cond, 6},
    {"arraySum", fn_fold, 0},
    {"arrayMin", fn_fold, 1},
    {"arrayMax", fn_fold, 2},
    {"arrayAvg", fn_fold, 3},
    {"arraySort", fn_order, 0},
    {"arrayReverseSort", fn_order, 1},
    {"arrayReverse", fn_order, 2},
    {"arrayDistinct", fn_order, 3},
    {"arrayCompact", fn_order, 4},
    {"arrayUniq", fn_uniq, 0},
    {"arrayConcat", fn_concat, 0},
    {"arrayPushBack", fn_concat, 1},
    {"arrayPushFront", fn_concat, 2},
    {"arraySlice", fn_slice, 0},
    {"arrayEnumerate", fn_enumerate, 0},
    {"arrayStringConcat", fn_join, 0},
    {"splitByChar", fn_split, 0},
    {"splitByString", fn_split, 1},
    {"arrayZip", fn_zip, 0},
    {"arrayFlatten", fn_flatten, 0},
    {"arrayCumSum", fn_running, 0},
    {"arrayDifference", fn_running, 1},
    {"arrayIntersect", fn_intersect, 0},
    {"arrayResize", fn_resize, 0},
    {"arrayPopBack", fn_shift, 0},
    {"arrayPopFront", fn_shift, 1},
    {"arrayRotateLeft", fn_shift, 2},
    {"arrayRotateRight", fn_shift, 3},
    {"arrayEnumerateUniq", fn_enum_uniq, 0},
    {"arrayEnumerateDense", fn_enum_uniq, 1},
    {"arrayWithConstant", fn_with_constant, 0},
    {"arrayProduct", fn_product, 0},
    {"hasSubstr", fn_has_substr, 0},
    {"arrayFill", fn_fill, 0},
    {"arraySplit", fn_array_split, 0},
    {"map", fn_map_literal, 0},
    {"mapKeys", fn_map_part, 0},
    {"mapValues", fn_map_part, 1},
    {"mapContains", fn_map_contains, 0},
    {"mapFromArrays", fn_map_from_arrays, 0},
    {"mapFilter", fn_map_lambda, 0},
    {"mapApply", fn_map_lambda, 1},
};

bool xfn_array(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(FNS); i++) {
		if (strcmp(FNS[i].name, n->name) != 0)
			continue;
		*rc = FNS[i].fn(c, n, FNS[i].op, out);
		if (!*rc)
			*rc = c->rc;
		return true;
	}
	return false;
}
