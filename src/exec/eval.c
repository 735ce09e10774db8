/*
 * eval.c — evaluates resolved HogQL expressions over a batch of rows.
 *
 * Every node becomes a whole vector (struct vec) in the batch arena:
 * constants are broadcast, fields are the batch's column vectors, calls
 * loop over rows once per node. Interpreting per node and not per row is
 * what makes this vectorised: the switch on node kind runs once per batch
 * of up to 64K rows, the inner loops are tight and type-specialised.
 *
 * Semantics follow ClickHouse as PostHog prints HogQL for it: comparisons
 * are NULL-safe and never NULL (§4.3: NULL = NULL is 1, NULL != 'a' is 1,
 * NULL < x is 0, IN ignores no member and treats NULL like a value, as
 * transform_null_in=1 does), AND/OR/NOT are three-valued, arithmetic
 * propagates NULL, toInt/toFloat/toDate/toDateTime of text return NULL on
 * failure, lower/upper/length work on bytes (ClickHouse's non-UTF8
 * forms). Types that ClickHouse would refuse to combine (a String compared
 * with a number) are refused here too, with the node's position.
 *
 * In final mode (after GROUP BY) the batch is the list of groups; GROUP BY
 * expressions and aggregate calls are bound to precomputed vectors, and a
 * bare column that is neither is an error, as in ClickHouse.
 *
 * Rejected alternative: compiling expressions to a closure tree or
 * bytecode first. With one node dispatch per batch the interpretation cost
 * is already negligible next to the loops; compile later if profiles say
 * otherwise.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exec/exec_internal.h"

#define US_PER_DAY (86400LL * 1000000LL)

/* ---- errors and memory ----------------------------------------------------- */

static uint32_t codepoints(const char *s, size_t len, uint32_t byte_off)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < byte_off && i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

int xfail(struct xctx *c, const node_t *at, int code, const char *type, const char *fmt, ...)
{
	if (c->rc)
		return c->rc;
	c->rc = code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
	va_end(ap);
	c->err->type = type;
	c->err->start = at && at->has_pos ? codepoints(c->src, c->len, at->start) : 0;
	c->err->end = at && at->has_pos ? codepoints(c->src, c->len, at->end) : 0;
	return c->rc;
}

int xunsupported(struct xctx *c, const node_t *at, const char *what)
{
	return xfail(c, at, SN_ERR_INVALID, "NotImplementedError", "not supported yet: %s", what);
}

int xnomem(struct xctx *c)
{
	return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError",
		     "Query exceeded its memory limit of %zu bytes", c->mem_limit);
}

void *xalloc(struct xctx *c, struct sn_arena *a, size_t n)
{
	void *p = sn_arena_alloc(a, n ? n : 1);
	if (!p)
		xnomem(c);
	return p;
}

int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* ---- vectors ----------------------------------------------------------------- */

bool is_intlike(uint8_t t)
{
	return t == SN_XT_BOOL || t == SN_XT_INT || t == SN_XT_UINT;
}
bool is_numeric(uint8_t t)
{
	return is_intlike(t) || t == SN_XT_FLOAT;
}
bool is_text(uint8_t t)
{
	return t == SN_XT_STRING || t == SN_XT_UUID;
}

static int vec_alloc(struct xctx *c, struct vec *v, uint8_t t, bool nullable, size_t n, bool zero);

int vec_make(struct xctx *c, struct vec *v, uint8_t t, bool nullable, size_t n)
{
	return vec_alloc(c, v, t, nullable, n, true);
}

int vec_make_raw(struct xctx *c, struct vec *v, uint8_t t, bool nullable, size_t n)
{
	return vec_alloc(c, v, t, nullable, n, false);
}

static int vec_alloc(struct xctx *c, struct vec *v, uint8_t t, bool nullable, size_t n, bool zero)
{
	memset(v, 0, sizeof(*v));
	v->t = t;
	v->n = n;
	v->nullable = nullable || t == SN_XT_NULL;
	if (sn_exec_type_has_bytes(t)) {
		if (!(v->s = xalloc(c, c->ba, n * sizeof(*v->s))))
			return c->rc;
	} else if (t == SN_XT_FLOAT) {
		if (!(v->f = xalloc(c, c->ba, n * sizeof(*v->f))))
			return c->rc;
	} else if (!(v->i = xalloc(c, c->ba, n * sizeof(*v->i)))) {
		return c->rc;
	}
	/* Zeroed values: NULL slots and ClickHouse's defaults read as 0 / "". */
	if (!zero)
		;
	else if (v->s)
		memset(v->s, 0, n * sizeof(*v->s));
	else if (v->f)
		memset(v->f, 0, n * sizeof(*v->f));
	else
		memset(v->i, 0, n * sizeof(*v->i));
	if (v->nullable) {
		if (!(v->nulls = xalloc(c, c->ba, n)))
			return c->rc;
		memset(v->nulls, t == SN_XT_NULL, n);
	}
	return 0;
}

int vec_make_uuid_bits(struct xctx *c, struct vec *v, bool nullable, size_t n)
{
	memset(v, 0, sizeof(*v));
	v->t = SN_XT_UUID;
	v->n = n;
	v->nullable = nullable;
	if (!(v->u = xalloc(c, c->ba, (n + 1) * sizeof(*v->u))))
		return c->rc;
	if (nullable && !(v->nulls = xalloc(c, c->ba, n + 1)))
		return c->rc;
	return 0;
}

int vec_uuid_text(struct xctx *c, struct vec *v)
{
	if (v->s || !v->u)
		return 0;
	char *buf = xalloc(c, c->ba, v->n * 36 + 1);
	struct sn_str *s = xalloc(c, c->ba, (v->n + 1) * sizeof(*s));
	if (!buf || !s)
		return c->rc;
	for (size_t r = 0; r < v->n; r++) {
		if (vec_null(v, r)) {
			s[r] = (struct sn_str){0};
			continue;
		}
		char tmp[37];
		sn_uuid_format(&v->u[r], tmp);
		memcpy(buf + r * 36, tmp, 36);
		s[r] = (struct sn_str){buf + r * 36, 36};
	}
	v->s = s;
	return 0;
}

int vec_uuid_bits(struct xctx *c, struct vec *v)
{
	if (v->t != SN_XT_UUID)
		return 0;
	if (v->u) {
		v->s = NULL;
		return 0;
	}
	struct vec b;
	if (vec_make_uuid_bits(c, &b, v->nullable, v->n))
		return c->rc;
	for (size_t r = 0; r < v->n; r++) {
		bool null = vec_null(v, r);
		if (b.nulls)
			b.nulls[r] = null;
		if (!null && sn_uuid_parse(v->s[r].p, v->s[r].len, &b.u[r]))
			return xfail(c, NULL, SN_ERR_CORRUPT, "QueryError",
				     "a UUID value is not a UUID: %.*s", (int)v->s[r].len,
				     v->s[r].p);
	}
	*v = b;
	return 0;
}

/* out = row 0 of one on each of n rows (a NULL-free nullable vector
 * without its flags: plain loops apply). */
static int vec_broadcast(struct xctx *c, const struct vec *one, size_t n, struct vec *out)
{
	if (vec_make_raw(c, out, one->t, one->nullable, n))
		return c->rc;
	out->tz = one->tz;
	out->ct = one->ct;
	out->sq = one->sq;
	for (size_t r = 0; r < n; r++) {
		if (out->s)
			out->s[r] = one->s[0];
		else if (out->f)
			out->f[r] = one->f[0];
		else
			out->i[r] = one->i[0];
	}
	if (out->nulls) {
		if (vec_null(one, 0) || one->t == SN_XT_NULL)
			memset(out->nulls, 1, n);
		else
			out->nulls = NULL;
	}
	return 0;
}

int eval_with_column(struct xctx *c, struct xcol *x, const struct vec *v, const node_t *n,
		     struct vec *out)
{
	struct vec saved = x->v;
	size_t rows = c->n;
	x->v = *v;
	c->n = v->n;
	int rc = xeval(c, n, out);
	x->v = saved;
	c->n = rows;
	return rc;
}

int vec_gather(struct xctx *c, const struct vec *in, const uint32_t *idx, size_t m, struct vec *out)
{
	if (in->cdict) { /* codes only: the codes */
		uint32_t *cc = xalloc(c, c->ba, (m ? m : 1) * sizeof(*cc));
		if (!cc)
			return c->rc;
		for (size_t k = 0; k < m; k++)
			cc[k] = in->ccodes[idx[k]];
		*out = *in;
		out->n = m;
		out->ccodes = cc;
		return 0;
	}
	if (in->u && in->s) { /* both kept: the bits stay what the rows are */
		struct vec t = *in, b;
		t.s = NULL;
		if (vec_gather(c, &t, idx, m, &b))
			return c->rc;
		t = *in;
		t.u = NULL;
		if (vec_gather(c, &t, idx, m, out))
			return c->rc;
		out->u = b.u;
		return 0;
	}
	if (in->u && !in->s) {
		if (vec_make_uuid_bits(c, out, in->nullable, m))
			return c->rc;
		for (size_t k = 0; k < m; k++) {
			out->u[k] = in->u[idx[k]];
			if (out->nulls)
				out->nulls[k] = in->nulls ? in->nulls[idx[k]] : 0;
		}
		return 0;
	}
	if (vec_make_raw(c, out, in->t, in->nullable, m))
		return c->rc;
	out->tz = in->tz;
	out->ct = in->ct;
	out->sq = in->sq;
	for (size_t k = 0; k < m; k++) {
		uint32_t r = idx[k];
		if (out->s)
			out->s[k] = in->s[r];
		else if (out->f)
			out->f[k] = in->f[r];
		else
			out->i[k] = in->i[r];
		if (out->nulls)
			out->nulls[k] = in->nulls ? in->nulls[r] : 0;
	}
	return 0;
}

int vec_value(struct xctx *c, const struct vec *v, size_t r, struct sn_arena *a,
	      struct sn_exec_value *out)
{
	memset(out, 0, sizeof(*out));
	out->type = v->t;
	out->null = vec_null(v, r);
	if (v->t == SN_XT_DECIMAL)
		out->dscale = (uint8_t)xdec_scale(v);
	if (out->null)
		return 0;
	if (v->u && !v->s) { /* bits without text: a streamed item that takes them */
		out->ubin = true;
		out->u = v->u[r];
		return 0;
	}
	if (v->s) {
		out->s = v->s[r];
		if (a && out->s.len) {
			char *p = xalloc(c, a, out->s.len);
			if (!p)
				return c->rc;
			memcpy(p, out->s.p, out->s.len);
			out->s.p = p;
		}
	} else if (v->f) {
		out->f = v->f[r];
	} else if (v->i) {
		out->i = v->i[r];
	}
	return 0;
}

int vec_from_values(struct xctx *c, uint8_t t, bool nullable, const struct sn_exec_value *vals,
		    size_t stride, size_t n, struct vec *out)
{
	if (vec_make(c, out, t, nullable, n))
		return c->rc;
	for (size_t r = 0; r < n; r++) {
		const struct sn_exec_value *x = &vals[r * stride];
		if (x->null || x->type == SN_XT_NULL) {
			if (out->nulls)
				out->nulls[r] = 1;
			continue;
		}
		if (out->s)
			out->s[r] = x->s;
		else if (out->f)
			out->f[r] = x->f;
		else
			out->i[r] = x->i;
	}
	return 0;
}

/* ---- dates ---------------------------------------------------------------------- */

static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool parse_datetime(const char *s, size_t len, int64_t *us, bool *date_only)
{
	int y, mo, d, h = 0, mi = 0, sec = 0;
	if (len < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !digits(s + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > 31)
		return false;
	int64_t frac = 0;
	size_t p = 10;
	*date_only = len == 10;
	if (len > 10) {
		if ((s[10] != ' ' && s[10] != 'T') || len < 19 || !digits(s + 11, 2, &h) ||
		    s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
		    !digits(s + 17, 2, &sec) || h > 23 || mi > 59 || sec > 60)
			return false;
		p = 19;
		if (p < len && s[p] == '.') {
			p++;
			int nd = 0;
			while (p < len && isdigit((unsigned char)s[p])) {
				if (nd < 6) {
					frac = frac * 10 + (s[p] - '0');
					nd++;
				}
				p++;
			}
			if (nd == 0)
				return false;
			for (; nd < 6; nd++)
				frac *= 10;
		}
		if (p < len && s[p] == 'Z')
			p++;
		else if (p + 6 == len && strncmp(s + p, "+00:00", 6) == 0)
			p += 6;
		if (p != len)
			return false;
	}
	int64_t days = sn_days_from_civil(y, (unsigned)mo, (unsigned)d);
	*us = (days * 86400 + h * 3600 + mi * 60 + sec) * 1000000LL + frac;
	return true;
}

int64_t day_of_us(int64_t us)
{
	return floor_div(us, US_PER_DAY);
}

/* ---- fields ------------------------------------------------------------------------- */

const node_t *follow_alias(const struct sn_hogql_select *sel, const node_t *n)
{
	for (int guard = 0; n && guard < XMAX_DEPTH; guard++) {
		if (n->kind == SN_HQ_ALIAS) {
			n = n->a;
			continue;
		}
		if (n->kind != SN_HQ_FIELD || n->ref_kind != SN_HQR_ALIAS || !sel)
			return n;
		const node_t *target = NULL;
		for (size_t i = 0; i < sel->select.n; i++) {
			const node_t *e = sel->select.items[i];
			if (e->kind == SN_HQ_ALIAS && strcmp(e->name, n->strs.items[0]) == 0)
				target = e->a;
		}
		if (!target || n->strs.n != 1)
			return n;
		n = target;
	}
	return n;
}

static bool is_events_json(const node_t *f)
{
	return f && f->kind == SN_HQ_FIELD && f->ref_table && f->ref_field &&
	       strcmp(f->ref_table->name, "events") == 0 &&
	       strcmp(f->ref_field->name, "properties") == 0;
}

const char *prop_key(const node_t *n, bool *bad)
{
	*bad = false;
	if (n->kind == SN_HQ_FIELD && n->ref_kind == SN_HQR_PROPERTY) {
		if (!is_events_json(n)) {
			*bad = true;
			return NULL;
		}
		size_t at = 0;
		while (at < n->strs.n && strcmp(n->strs.items[at], "properties") != 0)
			at++;
		if (at + 2 != n->strs.n) {
			*bad = true;
			return NULL;
		}
		return n->strs.items[at + 1];
	}
	if (n->kind == SN_HQ_ARRAY_ACCESS && n->ref_kind == SN_HQR_PROPERTY) {
		const node_t *a = n->a, *b = n->b;
		if (!(a->kind == SN_HQ_FIELD && a->ref_kind == SN_HQR_COLUMN &&
		      is_events_json(a)) ||
		    !b || b->kind != SN_HQ_CONSTANT || b->ctype != SN_HQC_STRING || n->flag) {
			*bad = true;
			return NULL;
		}
		return b->sval;
	}
	return NULL;
}

const char *field_column(const node_t *n)
{
	static const char *const ok[] = {
	    SN_COL_NAME_UUID,	    SN_COL_NAME_TEAM_ID,	SN_COL_NAME_TIMESTAMP,
	    SN_COL_NAME_CREATED_AT, SN_COL_NAME_EVENT,		SN_COL_NAME_DISTINCT_ID,
	    SN_COL_NAME_PROPERTIES, SN_COL_NAME_ELEMENTS_CHAIN, SN_COL_NAME_SESSION_ID,
	    SN_COL_NAME_WINDOW_ID,
	};
	if (n->kind != SN_HQ_FIELD || n->ref_kind != SN_HQR_COLUMN || !n->ref_table ||
	    !n->ref_field || strcmp(n->ref_table->name, "events") != 0)
		return NULL;
	for (size_t i = 0; i < SN_ARRAY_LEN(ok); i++)
		if (strcmp(ok[i], n->ref_field->name) == 0)
			return ok[i];
	return NULL;
}

int xcol_find(const struct xctx *c, const struct xref *r)
{
	for (size_t i = 0; i < c->ncols; i++) {
		const struct xcol *x = &c->cols[i];
		if (x->kind == r->kind && x->gidx == r->gidx && strcmp(x->name, r->name) == 0 &&
		    (x->key == r->key || (x->key && r->key && strcmp(x->key, r->key) == 0)))
			return (int)i;
	}
	return -1;
}

static int eval_column(struct xctx *c, const node_t *n, const struct xref *r, struct vec *out)
{
	int i = xcol_find(c, r);
	if (i < 0)
		return xfail(c, n, SN_ERR_INTERNAL, "QueryError", "column %s was not planned",
			     r->name);
	if (n != c->uuid_bits_ok && vec_uuid_text(c, &c->cols[i].v))
		return c->rc;
	const struct vec *v = &c->cols[i].v;
	if (r->npath || r->derive) { /* a value made from the column's */
		struct vec top = *v;
		if (v->cdict && vec_gather(c, v->cdict, v->ccodes, v->n, &top))
			return c->rc;
		if (r->npath) /* below a property: walk its JSON */
			return xjson_prop_path(c, &top, r->path, r->npath, out);
		return xjson_person_mode(c, &top, out); /* XD_PERSON_MODE */
	}
	if (v->cdict) { /* a column read as codes: its values for this reader, */
		if (vec_gather(c, v->cdict, v->ccodes, v->n, out))
			return c->rc;
		/* which are the codes' values: a grouping may use the codes */
		if (out->s && !out->codes && v->cdict->n <= UINT32_MAX) {
			out->codes = v->ccodes;
			out->codes_of = out->s;
			out->ncodes = v->cdict->n;
		}
		return 0;
	}
	*out = *v;
	if (out->n != c->n)
		return xfail(c, n, SN_ERR_INTERNAL, "QueryError",
			     "column %s was not read for this batch", r->name);
	return 0;
}

/* ---- constants and simple nodes ------------------------------------------------ */

static int eval_const(struct xctx *c, const node_t *n, struct vec *out)
{
	uint8_t t;
	uint64_t big = 0;
	switch (n->ctype) {
	case SN_HQC_BIGNUM: { /* above Int64: a UInt64 when it fits (hash values) */
		const char *d = n->sval;
		bool hex = d[0] == '0' && (d[1] == 'x' || d[1] == 'X');
		char *end;
		errno = 0;
		big = strtoull(hex ? d + 2 : d, &end, hex ? 16 : 10);
		if (d[0] == '-' || errno || *end || end == d)
			return xunsupported(c, n,
					    "number literals outside Int64, UInt64 and Float64");
		t = SN_XT_UINT;
		break;
	}
	case SN_HQC_NULL: t = SN_XT_NULL; break;
	case SN_HQC_BOOL: t = SN_XT_BOOL; break;
	case SN_HQC_INT: t = SN_XT_INT; break;
	case SN_HQC_FLOAT: t = SN_XT_FLOAT; break;
	case SN_HQC_STRING: t = SN_XT_STRING; break;
	default: return xunsupported(c, n, "number literals outside Int64 and Float64");
	}
	if (vec_make_raw(c, out, t, false, c->n))
		return c->rc;
	size_t len = t == SN_XT_STRING ? strlen(n->sval) : 0;
	for (size_t r = 0; r < c->n; r++) {
		if (t == SN_XT_STRING)
			out->s[r] = (struct sn_str){n->sval, len};
		else if (t == SN_XT_FLOAT)
			out->f[r] = n->fval;
		else if (t == SN_XT_BOOL)
			out->i[r] = n->bval;
		else if (t == SN_XT_INT)
			out->i[r] = n->ival;
		else if (t == SN_XT_UINT)
			out->i[r] = (int64_t)big;
		else
			out->i[r] = 0; /* NULL */
	}
	return 0;
}

/* Copies the null flags of a and b (either NULL → NULL) into out. */
void merge_nulls(struct vec *out, const struct vec *a, const struct vec *b)
{
	if (!out->nulls)
		return;
	for (size_t r = 0; r < out->n; r++)
		out->nulls[r] = vec_null(a, r) || (b && vec_null(b, r));
}

/* ---- arithmetic -------------------------------------------------------------- */

static int arith(struct xctx *c, const node_t *n, char op, const node_t *ln, const node_t *rn,
		 struct vec *out)
{
	struct vec a, b;
	int drc;
	if (xdate_arith_interval(c, n, op, ln, rn, out, &drc))
		return drc;
	if (xeval(c, ln, &a) || xeval(c, rn, &b))
		return c->rc;
	if (a.t == SN_XT_NULL || b.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (a.t == SN_XT_DATE || a.t == SN_XT_DATETIME || b.t == SN_XT_DATE ||
	    b.t == SN_XT_DATETIME)
		return xdate_arith(c, n, op, &a, &b, out);
	if (a.t == SN_XT_DECIMAL || b.t == SN_XT_DECIMAL) {
		/* With a Float64: both as Float64 (ClickHouse since 22.1; not %) */
		if (op == '%' || (a.t != SN_XT_FLOAT && b.t != SN_XT_FLOAT))
			return xdec_arith(c, n, op, &a, &b, out);
		if (xdec_float(c, &a) || xdec_float(c, &b))
			return c->rc;
	}
	if (!is_numeric(a.t) || !is_numeric(b.t))
		return xunsupported(c, n, "arithmetic on non-numeric values (strings)");
	bool flt = a.t == SN_XT_FLOAT || b.t == SN_XT_FLOAT || op == '/';
	/* UInt64 with UInt64, or with a non-negative integer literal (UInt8..
	 * UInt64 in ClickHouse; Int64 here), stays UInt64 for + * %, as in
	 * ClickHouse: cityHash64(x) % 4, sipHash64(x) + 1 are computed on the
	 * unsigned value. A difference is signed (ClickHouse's minus of two
	 * unsigned types is Int64), so -count() is negative. */
	bool ua = a.t == SN_XT_UINT ||
		  (ln->kind == SN_HQ_CONSTANT && a.t == SN_XT_INT && c->n && a.i[0] >= 0);
	bool ub = b.t == SN_XT_UINT ||
		  (rn->kind == SN_HQ_CONSTANT && b.t == SN_XT_INT && c->n && b.i[0] >= 0);
	bool uns = op != '-' && ua && ub && (a.t == SN_XT_UINT || b.t == SN_XT_UINT);
	uint8_t t = flt ? SN_XT_FLOAT : uns ? SN_XT_UINT : SN_XT_INT;
	if (vec_make(c, out, t, a.nullable || b.nullable, c->n))
		return c->rc;
	merge_nulls(out, &a, &b);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		if (flt) {
			double x = num_at(&a, r), y = num_at(&b, r);
			switch (op) {
			case '+': out->f[r] = x + y; break;
			case '-': out->f[r] = x - y; break;
			case '*': out->f[r] = x * y; break;
			case '/': out->f[r] = x / y; break;
			/* ClickHouse's float modulo: a - trunc(a / b) * b (not fmod,
			 * whose exact remainder can differ in the last bits) */
			default: out->f[r] = x - trunc(x / y) * y; break;
			}
		} else {
			/* ClickHouse integer arithmetic wraps; do it without UB. */
			uint64_t x = (uint64_t)a.i[r], y = (uint64_t)b.i[r];
			switch (op) {
			case '+': out->i[r] = (int64_t)(x + y); break;
			case '-': out->i[r] = (int64_t)(x - y); break;
			case '*': out->i[r] = (int64_t)(x * y); break;
			default:
				if (b.i[r] == 0)
					return xfail(c, n, SN_ERR_INVALID, "QueryError",
						     "Division by zero");
				/* x % -1 is 0 (and INT64_MIN % -1 would trap) */
				out->i[r] = t == SN_XT_UINT ? (int64_t)(x % y)
					    : b.i[r] == -1  ? 0
							    : a.i[r] % b.i[r];
				break;
			}
		}
	}
	return 0;
}

/* ---- comparisons ----------------------------------------------------------------- */

enum cmpop { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE, C_LIKE, C_NLIKE, C_ILIKE, C_NILIKE };

static bool like_match(const char *s, size_t sn, const char *p, size_t pn, bool ci)
{
	size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;
	while (si < sn) {
		if (pi < pn && p[pi] == '%') {
			star_p = ++pi;
			star_s = si;
			continue;
		}
		if (pi < pn) {
			char pc = p[pi];
			size_t adv = 1;
			bool lit = false;
			if (pc == '\\' && pi + 1 < pn) {
				pc = p[pi + 1];
				adv = 2;
				lit = true;
			}
			char sc = s[si];
			bool eq = ci ? tolower((unsigned char)pc) == tolower((unsigned char)sc)
				     : pc == sc;
			if ((!lit && pc == '_') || eq) {
				pi += adv;
				si++;
				continue;
			}
		}
		if (star_p == SIZE_MAX)
			return false;
		pi = star_p;
		si = ++star_s;
	}
	while (pi < pn && p[pi] == '%')
		pi++;
	return pi == pn;
}

/* Brings a String constant side to the other side's date type; a
 * DateTime text without a zone is wall time in the other side's zone, as
 * ClickHouse parses it for a DateTime64(6, tz) column. */
static int coerce_time(struct xctx *c, const node_t *sn, struct vec *sv, const struct vec *other)
{
	uint8_t t = other->t;
	if (sn->kind != SN_HQ_CONSTANT)
		return xunsupported(c, sn, "comparing a date with a non-constant String");
	int64_t us;
	bool date_only;
	const struct sn_tz *z = t == SN_XT_DATETIME ? xvec_zone(c, other, sn) : sn_tz_get(NULL);
	if (!z)
		return c->rc;
	if (!xparse_instant(z, sn->sval, strlen(sn->sval), &us, &date_only) ||
	    (t == SN_XT_DATE && !date_only))
		return xfail(c, sn, SN_ERR_INVALID, "QueryError", "Cannot parse '%s' as %s",
			     sn->sval, t == SN_XT_DATE ? "Date" : "DateTime");
	struct vec v;
	if (vec_make(c, &v, t, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		v.i[r] = t == SN_XT_DATE ? day_of_us(us) : us;
	*sv = v;
	return 0;
}

/* A number compared with a String constant: the constant read as a
 * number, as ClickHouse does (text that is not one is an error); a
 * boolean also takes true / false. Returns 1 when sn is not a constant. */
static int coerce_num(struct xctx *c, const node_t *sn, struct vec *sv, const struct vec *other)
{
	if (sn->kind != SN_HQ_CONSTANT || sn->ctype != SN_HQC_STRING || !sn->sval)
		return 1;
	const char *s = sn->sval;
	double d = 0;
	bool ok = false;
	if (other->t == SN_XT_BOOL && (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0)) {
		d = strcasecmp(s, "true") == 0;
		ok = true;
	} else if (*s && !isspace((unsigned char)*s)) {
		char *end;
		d = strtod(s, &end);
		ok = !*end;
	}
	if (!ok)
		return xfail(c, sn, SN_ERR_INVALID, "QueryError", "Cannot parse '%s' as %s", s,
			     other->t == SN_XT_BOOL ? "Bool" : "a number");
	struct vec v;
	if (vec_make(c, &v, SN_XT_FLOAT, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		v.f[r] = d;
	*sv = v;
	return 0;
}

/* A Decimal compared with a String constant: the constant read as a
 * Decimal with as many fraction digits as it has (up to 18), so the
 * comparison is exact. Returns 1 when sn is not a constant. */
static int coerce_dec(struct xctx *c, const node_t *sn, struct vec *sv)
{
	if (sn->kind != SN_HQ_CONSTANT || sn->ctype != SN_HQC_STRING || !sn->sval)
		return 1;
	const char *dot = strchr(sn->sval, '.');
	unsigned fd = 0;
	for (const char *p = dot ? dot + 1 : ""; *p >= '0' && *p <= '9' && fd < XDEC_MAX_SCALE; p++)
		fd++;
	struct vec o;
	if (xdec_convert(c, sn, sv, XDEC_MAX_PREC, fd, XDEC_ERROR, &o))
		return c->rc;
	*sv = o;
	return 0;
}

/* A Date compared with a DateTime: the start of that day in the
 * DateTime's zone. */
static int date_to_dt(struct xctx *c, const node_t *at, struct vec *v, const struct vec *dt)
{
	struct vec o;
	const struct sn_tz *z = xvec_zone(c, dt, at);
	if (!z || vec_make(c, &o, SN_XT_DATETIME, v->nullable, v->n))
		return c->rc;
	for (size_t r = 0; r < v->n; r++) {
		o.i[r] = sn_tz_from_local(z, v->i[r] * US_PER_DAY, true);
		if (o.nulls)
			o.nulls[r] = vec_null(v, r);
	}
	*v = o;
	return 0;
}

/* Makes a and b comparable; 0 or an error naming the node. */
/* Strings compared with a UUID read as ClickHouse reads them into one:
 * any case, hyphens or not, so each that parses becomes the canonical
 * lower-case text the UUID side compares as (person_id = 'ABC…' matched
 * nothing). One that does not parse stays, and equals no UUID. */
static int uuid_strings(struct xctx *c, struct vec *v)
{
	struct sn_str *copy = NULL; /* v's strings are not ours to change: a copy */
	for (size_t r = 0; r < v->n; r++) {
		struct sn_str t = v->s[r];
		struct sn_uuid u;
		char text[37];
		if (vec_null(v, r) || (t.len != 36 && t.len != 32) || sn_uuid_parse(t.p, t.len, &u))
			continue;
		sn_uuid_format(&u, text);
		if (t.len == 36 && memcmp(text, t.p, 36) == 0)
			continue; /* (already canonical: the usual case) */
		char *o = xalloc(c, c->ba, 37);
		if (!o || (!copy && !(copy = xalloc(c, c->ba, v->n * sizeof(*copy)))))
			return c->rc;
		if (copy != v->s) {
			memcpy(copy, v->s, v->n * sizeof(*copy));
			v->s = copy;
		}
		memcpy(o, text, 37);
		v->s[r] = (struct sn_str){o, 36};
	}
	return 0;
}

static int unify_cmp(struct xctx *c, const node_t *n, const node_t *ln, const node_t *rn,
		     struct vec *a, struct vec *b)
{
	if (a->t == SN_XT_NULL || b->t == SN_XT_NULL)
		return 0;
	bool at = a->t == SN_XT_DATE || a->t == SN_XT_DATETIME;
	bool bt = b->t == SN_XT_DATE || b->t == SN_XT_DATETIME;
	if (at && b->t == SN_XT_STRING)
		return coerce_time(c, rn, b, a);
	if (bt && a->t == SN_XT_STRING)
		return coerce_time(c, ln, a, b);
	if (at && bt) {
		if (a->t == SN_XT_DATE && b->t == SN_XT_DATETIME)
			return date_to_dt(c, n, a, b);
		if (b->t == SN_XT_DATE && a->t == SN_XT_DATETIME)
			return date_to_dt(c, n, b, a);
		return 0;
	}
	if (a->t == SN_XT_UUID && b->t == SN_XT_STRING)
		return uuid_strings(c, b);
	if (b->t == SN_XT_UUID && a->t == SN_XT_STRING)
		return uuid_strings(c, a);
	if ((is_numeric(a->t) && is_numeric(b->t)) || (is_text(a->t) && is_text(b->t)) ||
	    xdec_comparable(a->t, b->t))
		return 0;
	if ((a->t == SN_XT_ARRAY || a->t == SN_XT_TUPLE) && a->t == b->t) {
		/* element by element (value_cmp): equal types, or elements that
		 * compare (numbers with numbers, text with text, [] with any) */
		if (a->ct && b->ct && strcmp(a->ct, b->ct) == 0)
			return 0;
		uint8_t ea, eb;
		bool na, nb;
		const char *ca, *cb;
		if (a->t == SN_XT_ARRAY && (xarr_elem(c, a->ct, 0, &ea, &na, &ca) ||
					    xarr_elem(c, b->ct, 0, &eb, &nb, &cb)))
			return c->rc;
		if (a->t == SN_XT_ARRAY &&
		    (ea == SN_XT_NULL || eb == SN_XT_NULL || (is_numeric(ea) && is_numeric(eb)) ||
		     (is_text(ea) && is_text(eb))))
			return 0;
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "Cannot compare %s with %s",
			     a->ct ? a->ct : "?", b->ct ? b->ct : "?");
	}
	int k = 1;
	if (a->t == SN_XT_DECIMAL && b->t == SN_XT_STRING)
		k = coerce_dec(c, rn, b);
	else if (b->t == SN_XT_DECIMAL && a->t == SN_XT_STRING)
		k = coerce_dec(c, ln, a);
	else if (is_numeric(a->t) && b->t == SN_XT_STRING)
		k = coerce_num(c, rn, b, a);
	else if (is_numeric(b->t) && a->t == SN_XT_STRING)
		k = coerce_num(c, ln, a, b);
	if (k <= 0)
		return k;
	char ta[48], tb[48];
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Cannot compare %s with %s; convert one side (toString, toInt, toFloat)",
		     a->ct ? a->ct : sn_exec_type_name(a->t, false, ta, sizeof(ta)),
		     b->ct ? b->ct : sn_exec_type_name(b->t, false, tb, sizeof(tb)));
}

/* Integers where one side is UInt64: exact, as ClickHouse compares UInt64
 * with Int64 (a negative value is below every unsigned one). */
static int cmp_mixed(const struct vec *a, const struct vec *b, size_t r)
{
	int64_t x = a->i[r], y = b->i[r];
	if (a->t != SN_XT_UINT && x < 0)
		return -1;
	if (b->t != SN_XT_UINT && y < 0)
		return 1;
	return (uint64_t)x < (uint64_t)y ? -1 : (uint64_t)x > (uint64_t)y;
}

/* -1/0/1 of two non-null values of unified types. */
static int cmp_at(const struct vec *a, const struct vec *b, size_t r)
{
	if (a->t == SN_XT_ARRAY || a->t == SN_XT_TUPLE) {
		struct sn_exec_value x = {.type = a->t, .s = a->s[r]},
				     y = {.type = b->t, .s = b->s[r]};
		return value_cmp(&x, &y);
	}
	if (a->s) {
		struct sn_str x = a->s[r], y = b->s[r];
		if ((a->t == SN_XT_UUID || b->t == SN_XT_UUID) && x.len == 36 && y.len == 36)
			return uuid_text_cmp(x.p, y.p);
		size_t m = x.len < y.len ? x.len : y.len;
		int d = m ? memcmp(x.p, y.p, m) : 0;
		return d ? (d < 0 ? -1 : 1) : (x.len < y.len ? -1 : x.len > y.len);
	}
	if (a->t == SN_XT_DECIMAL || b->t == SN_XT_DECIMAL)
		return xdec_cmp_at(a, b, r);
	if (a->f || b->f) {
		double x = num_at(a, r), y = num_at(b, r);
		return x < y ? -1 : x > y;
	}
	if (a->t == SN_XT_UINT || b->t == SN_XT_UINT)
		return cmp_mixed(a, b, r);
	return a->i[r] < b->i[r] ? -1 : a->i[r] > b->i[r];
}

#define CMP_LOOP(OP)                   \
	for (size_t r = 0; r < n; r++) \
		o[r] = x[r] OP y[r];   \
	break

/* The common cases without NULLs in tight loops: integers (dates and
 * times included) with any order operator, strings with = and !=. True
 * when out was filled. */
static bool compare_plain(enum cmpop op, const struct vec *a, const struct vec *b, struct vec *out)
{
	if (op >= C_LIKE || a->t == SN_XT_NULL || b->t == SN_XT_NULL || a->nulls || b->nulls ||
	    a->t == SN_XT_ARRAY || a->t == SN_XT_TUPLE ||
	    ((a->t == SN_XT_DECIMAL || b->t == SN_XT_DECIMAL) && (a->t != b->t || a->ct != b->ct)))
		return false; /* decimals of different scales: cmp_at */
	size_t n = out->n;
	int64_t *o = out->i;
	if (a->i && b->i && !a->f && !b->f) {
		if ((a->t == SN_XT_UINT) != (b->t == SN_XT_UINT) ||
		    (a->t == SN_XT_UINT && op != C_EQ && op != C_NE))
			return false; /* UInt64 ordered or against Int64: cmp_at, exact */
		const int64_t *x = a->i, *y = b->i;
		switch (op) {
		case C_EQ: CMP_LOOP(==);
		case C_NE: CMP_LOOP(!=);
		case C_LT: CMP_LOOP(<);
		case C_LE: CMP_LOOP(<=);
		case C_GT: CMP_LOOP(>);
		default: CMP_LOOP(>=);
		}
		return true;
	}
	if (a->s && b->s && (op == C_EQ || op == C_NE)) {
		for (size_t r = 0; r < n; r++) {
			struct sn_str x = a->s[r], y = b->s[r];
			bool eq = x.len == y.len &&
				  (x.len == 0 || x.p == y.p || memcmp(x.p, y.p, x.len) == 0);
			o[r] = (op == C_EQ) == eq;
		}
		return true;
	}
	return false;
}
#undef CMP_LOOP

/* Numbers of which one side is Float64, NULLs allowed (toFloat of a
 * property against a constant): cmp_at's order and §4.3's NULL rules in
 * one loop. True when out was filled. */
static bool compare_float(enum cmpop op, const struct vec *a, const struct vec *b, struct vec *out)
{
	if (op >= C_LIKE || a->t == SN_XT_NULL || b->t == SN_XT_NULL || a->s || b->s ||
	    !(a->f || b->f) || !(a->f || a->i) || !(b->f || b->i) || a->t == SN_XT_DECIMAL ||
	    b->t == SN_XT_DECIMAL)
		return false;
	int64_t *o = out->i;
	const uint8_t *an = a->nulls, *bn = b->nulls;
	const double *af = a->f, *bf = b->f;
	const int64_t *ai = a->i, *bi = b->i;
	/* Branch-free per row: NULLs come in no pattern a predictor learns
	 * (a property most events lack). d = x < y ? -1 : x > y, as cmp_at. */
#define FCMP_LOOP(EXPR, NULLV)                                                         \
	for (size_t r = 0; r < out->n; r++) {                                          \
		int64_t na = an ? an[r] : 0, nb = bn ? bn[r] : 0;                      \
		double x = af ? af[r] : (double)ai[r], y = bf ? bf[r] : (double)bi[r]; \
		int64_t v = (EXPR), nv = (NULLV);                                      \
		o[r] = (na | nb) ? nv : v;                                             \
	}                                                                              \
	break
	switch (op) {
	case C_EQ: FCMP_LOOP(!(x < y) & !(x > y), na & nb);
	case C_NE: FCMP_LOOP((x < y) | (x > y), !(na & nb));
	case C_LT: FCMP_LOOP(x < y, 0);
	case C_LE: FCMP_LOOP(!(x > y), 0);
	case C_GT: FCMP_LOOP(x > y, 0);
	default: FCMP_LOOP(!(x < y), 0);
	}
#undef FCMP_LOOP
	return true;
}

/* out[r] = a op b with §4.3 NULL rules; out is BOOL, never NULL. */
static int compare_vecs(struct xctx *c, const node_t *n, enum cmpop op, struct vec *a,
			struct vec *b, struct vec *out)
{
	if (op >= C_LIKE && (!is_text(a->t) && a->t != SN_XT_NULL))
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "LIKE needs a String operand");
	if (op >= C_LIKE && (!is_text(b->t) && b->t != SN_XT_NULL))
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "LIKE needs a String pattern");
	if (vec_make_raw(c, out, SN_XT_BOOL, false, c->n))
		return c->rc;
	if (compare_plain(op, a, b, out) || compare_float(op, a, b, out))
		return 0;
	for (size_t r = 0; r < c->n; r++) {
		bool an = a->t == SN_XT_NULL || vec_null(a, r);
		bool bn = b->t == SN_XT_NULL || vec_null(b, r);
		bool v;
		if (an || bn) {
			switch (op) {
			case C_EQ:
			case C_LIKE:
			case C_ILIKE: v = an && bn; break;
			case C_NE:
			case C_NLIKE:
			case C_NILIKE: v = !(an && bn); break;
			default: v = false; break;
			}
		} else if (op >= C_LIKE) {
			bool m = like_match(a->s[r].p, a->s[r].len, b->s[r].p, b->s[r].len,
					    op == C_ILIKE || op == C_NILIKE);
			v = (op == C_LIKE || op == C_ILIKE) ? m : !m;
		} else {
			int d = cmp_at(a, b, r);
			switch (op) {
			case C_EQ: v = d == 0; break;
			case C_NE: v = d != 0; break;
			case C_LT: v = d < 0; break;
			case C_LE: v = d <= 0; break;
			case C_GT: v = d > 0; break;
			default: v = d >= 0; break;
			}
		}
		out->i[r] = v;
	}
	return 0;
}

static int eval_in(struct xctx *c, const node_t *n, bool negate, struct vec *out)
{
	const node_t *list = n->b;
	const node_t *one[1] = {list};
	const node_t *const *items = one;
	size_t nitems = 1;
	if (list && (list->kind == SN_HQ_SELECT || list->kind == SN_HQ_SELECT_SET))
		return sub_in(c, n, negate, out);
	if (list && (list->kind == SN_HQ_TUPLE || list->kind == SN_HQ_ARRAY)) {
		items = (const node_t *const *)list->list.items;
		nitems = list->list.n;
	} else if (!list || list->kind != SN_HQ_CONSTANT) {
		return xunsupported(c, list ? list : n, "IN with a non-constant list");
	}
	struct vec a;
	if (xeval(c, n->a, &a) || vec_make(c, out, SN_XT_BOOL, false, c->n))
		return c->rc;
	for (size_t k = 0; k < nitems; k++) {
		if (items[k]->kind != SN_HQ_CONSTANT)
			return xunsupported(c, items[k], "IN with non-constant members");
		struct vec av = a, bv, m;
		if (xeval(c, items[k], &bv) || unify_cmp(c, n, n->a, items[k], &av, &bv) ||
		    compare_vecs(c, n, C_EQ, &av, &bv, &m))
			return c->rc;
		for (size_t r = 0; r < c->n; r++)
			out->i[r] |= m.i[r];
	}
	if (negate)
		for (size_t r = 0; r < c->n; r++)
			out->i[r] = !out->i[r];
	return 0;
}

static int eval_compare(struct xctx *c, const node_t *n, struct vec *out)
{
	static const struct {
		const char *op;
		enum cmpop code;
	} ops[] = {
	    {"==", C_EQ},	{"!=", C_NE},
	    {"<", C_LT},	{"<=", C_LE},
	    {">", C_GT},	{">=", C_GE},
	    {"like", C_LIKE},	{"not like", C_NLIKE},
	    {"ilike", C_ILIKE}, {"not ilike", C_NILIKE},
	};
	if (strcmp(n->op, "in") == 0 || strcmp(n->op, "not in") == 0)
		return eval_in(c, n, n->op[0] == 'n', out);
	for (size_t i = 0; i < SN_ARRAY_LEN(ops); i++)
		if (strcmp(ops[i].op, n->op) == 0) {
			struct vec a, b;
			if (xeval(c, n->a, &a) || xeval(c, n->b, &b) ||
			    unify_cmp(c, n, n->a, n->b, &a, &b))
				return c->rc;
			return compare_vecs(c, n, ops[i].code, &a, &b, out);
		}
	char what[64];
	snprintf(what, sizeof(what), "the %s operator", n->op);
	return xunsupported(c, n, what);
}

static int eval_between(struct xctx *c, const node_t *n, struct vec *out)
{
	struct vec a, lo, hi, a2, x, y;
	if (xeval(c, n->a, &a) || xeval(c, n->b, &lo) || xeval(c, n->c, &hi))
		return c->rc;
	a2 = a;
	if (unify_cmp(c, n, n->a, n->b, &a, &lo) || unify_cmp(c, n, n->a, n->c, &a2, &hi) ||
	    compare_vecs(c, n, n->flag ? C_LT : C_GE, &a, &lo, &x) ||
	    compare_vecs(c, n, n->flag ? C_GT : C_LE, &a2, &hi, &y) ||
	    vec_make(c, out, SN_XT_BOOL, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		out->i[r] = n->flag ? (x.i[r] || y.i[r]) : (x.i[r] && y.i[r]);
	return 0;
}

/* ---- logic ------------------------------------------------------------------------ */

static int check_cond(struct xctx *c, const node_t *n, const struct vec *v)
{
	if (v->t == SN_XT_NULL || is_numeric(v->t))
		return 0;
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Illegal type of a condition: it must be a number or a comparison");
}

int xeval_cond(struct xctx *c, const node_t *n, struct vec *out)
{
	if (xeval(c, n, out))
		return c->rc;
	return check_cond(c, n, out);
}

/* n, an expression of column x alone, evaluated over v in place of the
 * column's rows (its distinct values, or a coded column's entries); n
 * itself is not taken for a distinct-value node again meanwhile. */
static int eval_over(struct xctx *c, struct xcol *x, const struct vec *v, const node_t *n,
		     struct vec *out)
{
	const node_t *skip = c->dskip;
	c->dskip = n;
	int rc = eval_with_column(c, x, v, n, out);
	c->dskip = skip;
	return rc;
}

/* The entries of a column read as codes that its rows name, in order of
 * first use (*used), with each entry's place among them (*slot, UINT32_MAX
 * for an entry no row names) and, when ix is given, each row's (*ix). The
 * dictionaries of the blocks read also hold the values of rows an earlier
 * WHERE term dropped: evaluated over those, an expression would fail where
 * the rows themselves do not (toBool('abc'), a division by zero), and only
 * where the part's blocks happen to be dictionaries. So an evaluation over
 * every entry that fails with a query error is tried again over these
 * (entries_failed): the pass over the rows is paid only then. */
/* After an evaluation over every entry failed: true, with the error
 * cleared, when it is a query error worth trying again over the entries
 * the rows use (saved: the error before the evaluation). */
static bool entries_failed(struct xctx *c, const struct sn_hogql_error *saved)
{
	if (c->rc != SN_ERR_INVALID)
		return false;
	c->rc = 0;
	if (c->err)
		*c->err = *saved;
	return true;
}

static int used_entries(struct xctx *c, const struct vec *codes, struct vec *used, uint32_t **slot,
			uint32_t **ix)
{
	const struct vec *d = codes->cdict;
	size_t rows = codes->n;
	uint32_t *sl = xalloc(c, c->ba, (d->n ? d->n : 1) * sizeof(*sl));
	uint32_t *first = xalloc(c, c->ba, (rows ? rows : 1) * sizeof(*first));
	uint32_t *rix = ix ? xalloc(c, c->ba, (rows ? rows : 1) * sizeof(*rix)) : NULL;
	if (!sl || !first || (ix && !rix))
		return c->rc;
	memset(sl, 0xff, d->n * sizeof(*sl));
	uint32_t nu = 0;
	for (size_t r = 0; r < rows; r++) {
		uint32_t k = codes->ccodes[r];
		if (sl[k] == UINT32_MAX) {
			sl[k] = nu;
			first[nu++] = k;
		}
		if (rix)
			rix[r] = sl[k];
	}
	if (vec_gather(c, d, first, nu, used))
		return c->rc;
	*slot = sl;
	if (ix)
		*ix = rix;
	return 0;
}

int xeval_cond_entries(struct xctx *c, const node_t *n, struct xcol *x, uint8_t **truth)
{
	const struct vec *d = x->v.cdict;
	struct vec used, res;
	uint32_t *slot = NULL;
	struct sn_hogql_error saved = {0};
	if (c->err)
		saved = *c->err;
	if (eval_over(c, x, d, n, &res) || check_cond(c, n, &res)) {
		if (!entries_failed(c, &saved) || used_entries(c, &x->v, &used, &slot, NULL) ||
		    eval_over(c, x, &used, n, &res) || check_cond(c, n, &res))
			return c->rc;
	}
	uint8_t *t = xalloc(c, c->ba, d->n ? d->n : 1);
	if (!t)
		return c->rc;
	for (size_t k = 0; k < d->n; k++)
		t[k] =
		    slot ? slot[k] != UINT32_MAX && vec_truth(&res, slot[k]) : vec_truth(&res, k);
	c->stats->distinct_evals++;
	*truth = t;
	return 0;
}

bool xknown_true(const struct xctx *c, const node_t *n)
{
	for (size_t i = 0; i < c->nknown; i++)
		if (c->known_true[i] == n)
			return true;
	return false;
}

/* Three-valued AND/OR: 0 dominates AND, 1 dominates OR, else NULL wins. */
static bool is_known_true(const struct xctx *c, const node_t *n)
{
	for (size_t i = 0; i < c->nknown; i++)
		if (c->known_true[i] == n)
			return true;
	return false;
}

static int eval_logic(struct xctx *c, const node_t *n, bool is_and, struct vec *out)
{
	if (vec_make_raw(c, out, SN_XT_BOOL, true, c->n))
		return c->rc;
	/* A row is decided once out->i[r] != is_and (its NULL flag is then 0);
	 * undecided rows hold is_and, NULL when a term so far was NULL. */
	int64_t *o = out->i;
	for (size_t r = 0; r < c->n; r++)
		o[r] = is_and;
	bool any_null = false;
	for (size_t k = 0; k < n->list.n; k++) {
		struct vec v;
		if (is_and && is_known_true(c, n->list.items[k]))
			continue; /* true on every row (the granule index said so) */
		if (xeval(c, n->list.items[k], &v) || check_cond(c, n->list.items[k], &v))
			return c->rc;
		if (!any_null && v.t != SN_XT_NULL && !v.nulls && v.i && !v.f) {
			/* no NULL anywhere yet: plain boolean algebra */
			const int64_t *x = v.i;
			if (is_and)
				for (size_t r = 0; r < c->n; r++)
					o[r] &= x[r] != 0;
			else
				for (size_t r = 0; r < c->n; r++)
					o[r] |= x[r] != 0;
			continue;
		}
		for (size_t r = 0; r < c->n; r++) {
			if (o[r] != is_and)
				continue;
			if (v.t == SN_XT_NULL || vec_null(&v, r)) {
				out->nulls[r] = 1;
				any_null = true;
			} else if (vec_truth(&v, r) != is_and) {
				o[r] = !is_and;
				out->nulls[r] = 0;
			}
		}
	}
	if (!any_null) {
		out->nulls = NULL;
		out->nullable = false;
	}
	return 0;
}

static int eval_not(struct xctx *c, const node_t *n, struct vec *out)
{
	struct vec v;
	if (xeval(c, n->a, &v) || check_cond(c, n->a, &v) ||
	    vec_make(c, out, SN_XT_BOOL, v.nullable, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (out->nulls)
			out->nulls[r] = v.t == SN_XT_NULL || vec_null(&v, r);
		out->i[r] = !vec_truth(&v, r);
	}
	return 0;
}

/* ---- functions --------------------------------------------------------------------- */

int need_args(struct xctx *c, const node_t *n, size_t min, size_t max)
{
	if (n->list.n < min || n->list.n > max)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects %zu to %zu arguments, found %zu", n->name, min,
			     max, n->list.n);
	if (n->has_list2 || n->a || n->list3.n || n->flag)
		return xunsupported(c, n, "parameters, FILTER, ORDER BY or DISTINCT in this call");
	return 0;
}

/* The common type of branches (if, coalesce): equal, numeric widening, or NULL. */
int unify_branches(struct xctx *c, const node_t *n, struct vec *v, size_t nv, uint8_t *t)
{
	*t = SN_XT_NULL;
	for (size_t k = 0; k < nv; k++)
		if (v[k].t == SN_XT_DECIMAL) { /* all brought to one Decimal type */
			const char *ct;
			*t = SN_XT_DECIMAL;
			return xdec_common(c, n, v, nv, &ct);
		}
	for (size_t k = 0; k < nv; k++) {
		uint8_t x = v[k].t;
		if (x == SN_XT_NULL || x == *t)
			continue;
		if (*t == SN_XT_NULL)
			*t = x;
		else if (is_numeric(*t) && is_numeric(x))
			*t = (*t == SN_XT_FLOAT || x == SN_XT_FLOAT) ? SN_XT_FLOAT : SN_XT_INT;
		else if (is_text(*t) && is_text(x))
			*t = SN_XT_STRING;
		else
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function '%s': its branches have no common type", n->name);
	}
	return 0;
}

const char *branch_ct(const struct vec *v, size_t nv)
{
	for (size_t k = 0; k < nv; k++)
		if (v[k].t == SN_XT_DECIMAL)
			return v[k].ct;
	return NULL;
}

void copy_cell(struct vec *out, size_t r, const struct vec *in)
{
	if (in->t == SN_XT_NULL || vec_null(in, r)) {
		if (out->nulls)
			out->nulls[r] = 1;
		return;
	}
	if (out->nulls)
		out->nulls[r] = 0;
	if (out->s)
		out->s[r] = in->s[r];
	else if (out->f)
		out->f[r] = num_at(in, r);
	else
		out->i[r] = in->i[r];
}

/* multiIf(c1, a1, c2, a2, ..., else); if(c, a, b) is multiIf(c, a, b). */
static int eval_multiif(struct xctx *c, const node_t *n, struct vec *out)
{
	size_t na = n->list.n;
	if (na < 3 || na % 2 == 0)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects an odd number of arguments, at least 3",
			     n->name);
	struct vec *v = xalloc(c, c->ba, na * sizeof(*v));
	if (!v)
		return c->rc;
	for (size_t k = 0; k < na; k++)
		if (xeval(c, n->list.items[k], &v[k]))
			return c->rc;
	size_t nb = na / 2 + 1;
	struct vec *br = xalloc(c, c->ba, nb * sizeof(*br));
	if (!br)
		return c->rc;
	bool nullable = false;
	for (size_t k = 0; k < nb; k++) {
		br[k] = v[k == nb - 1 ? na - 1 : 2 * k + 1];
		nullable |= br[k].nullable;
		if (k < nb - 1 && check_cond(c, n->list.items[2 * k], &v[2 * k]))
			return c->rc;
	}
	uint8_t t;
	if (unify_branches(c, n, br, nb, &t) || vec_make(c, out, t, nullable, c->n))
		return c->rc;
	out->ct = branch_ct(br, nb);
	for (size_t r = 0; r < c->n; r++) {
		size_t k = 0;
		while (k < nb - 1 && !vec_truth(&v[2 * k], r))
			k++;
		copy_cell(out, r, &br[k]);
	}
	return 0;
}

static int eval_coalesce(struct xctx *c, const node_t *n, struct vec *out)
{
	size_t na = n->list.n;
	if (na < 1)
		return need_args(c, n, 1, 64);
	struct vec *v = xalloc(c, c->ba, na * sizeof(*v));
	if (!v)
		return c->rc;
	bool nullable = true;
	for (size_t k = 0; k < na; k++) {
		if (xeval(c, n->list.items[k], &v[k]))
			return c->rc;
		if (!v[k].nullable)
			nullable = false;
	}
	uint8_t t;
	if (unify_branches(c, n, v, na, &t) || vec_make(c, out, t, nullable, c->n))
		return c->rc;
	out->ct = branch_ct(v, na);
	for (size_t r = 0; r < c->n; r++) {
		size_t k = 0;
		while (k + 1 < na && (v[k].t == SN_XT_NULL || vec_null(&v[k], r)))
			k++;
		copy_cell(out, r, &v[k]);
	}
	return 0;
}

int fmt_float(char *buf, size_t len, double x)
{
	if (isnan(x))
		return snprintf(buf, len, "nan");
	if (isinf(x))
		return snprintf(buf, len, x < 0 ? "-inf" : "inf");
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	return (int)strlen(buf);
}

static int eval_tostring(struct xctx *c, const node_t *n, struct vec *out)
{
	struct vec v;
	if (need_args(c, n, 1, 1) || xeval(c, n->list.items[0], &v))
		return c->rc;
	if (is_text(v.t)) {
		*out = v;
		out->t = SN_XT_STRING;
		return 0;
	}
	if (vec_make(c, out, v.t == SN_XT_NULL ? SN_XT_NULL : SN_XT_STRING, v.nullable, c->n))
		return c->rc;
	/* toBool's result is ClickHouse's Bool, which prints true / false;
	 * comparisons' 0/1 (UInt8) print as numbers. */
	const node_t *arg = n->list.items[0];
	bool tobool = arg->kind == SN_HQ_CALL && arg->name && strcmp(arg->name, "toBool") == 0;
	for (size_t r = 0; r < c->n && v.t != SN_XT_NULL; r++) {
		if (vec_null(&v, r)) {
			out->nulls[r] = 1;
			continue;
		}
		char buf[64];
		int len;
		if (v.t == SN_XT_ARRAY || v.t == SN_XT_TUPLE) { /* ClickHouse's text: [1,'a'] */
			struct sn_exec_value x;
			struct sn_buf b;
			vec_value(c, &v, r, NULL, &x);
			sn_buf_init(&b, c->mem_limit);
			if (value_text_typed(&b, &x, v.ct)) {
				sn_buf_release(&b);
				return xnomem(c);
			}
			char *p = xalloc(c, c->ba, b.len + 1);
			if (p && b.len)
				memcpy(p, b.data, b.len);
			out->s[r] = (struct sn_str){p, b.len};
			sn_buf_release(&b);
			if (!p)
				return c->rc;
			continue;
		}
		if (v.t == SN_XT_FLOAT) {
			len = fmt_float(buf, sizeof(buf), v.f[r]);
		} else if (v.t == SN_XT_DECIMAL) {
			len = xdec_format(buf, sizeof(buf), v.i[r], xdec_scale(&v));
		} else if (v.t == SN_XT_UINT) {
			len = snprintf(buf, sizeof(buf), "%" PRIu64, (uint64_t)v.i[r]);
		} else if (v.t == SN_XT_BOOL && tobool) {
			len = snprintf(buf, sizeof(buf), "%s", v.i[r] ? "true" : "false");
		} else if (v.t == SN_XT_DATE) {
			int64_t y;
			unsigned mo, d;
			sn_civil_from_days(v.i[r], &y, &mo, &d);
			len = snprintf(buf, sizeof(buf), "%04" PRId64 "-%02u-%02u", y, mo, d);
		} else if (v.t == SN_XT_DATETIME) {
			/* In the value's zone, as ClickHouse prints a DateTime64(6, tz). */
			const struct sn_tz *z = xvec_zone(c, &v, n);
			if (!z)
				return c->rc;
			len = xfmt_datetime_local(buf, sizeof(buf), v.i[r], z);
		} else {
			len = snprintf(buf, sizeof(buf), "%" PRId64, v.i[r]);
		}
		char *p = xalloc(c, c->ba, (size_t)len);
		if (!p)
			return c->rc;
		memcpy(p, buf, (size_t)len);
		out->s[r] = (struct sn_str){p, (size_t)len};
	}
	return 0;
}

bool parse_int_text(const char *s, size_t len, int64_t *out)
{
	if (!len || len > 64)
		return false;
	char buf[72];
	memcpy(buf, s, len);
	buf[len] = 0;
	if (!(isdigit((unsigned char)buf[0]) || buf[0] == '-' || buf[0] == '+'))
		return false;
	char *end;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno || *end || end == buf)
		return false;
	*out = v;
	return true;
}

/* [-+]digits[.digits] with a mantissa of at most 2^53 and at most 22
 * fraction digits: m / 10^k, both exact doubles and one correctly rounded
 * division, is what strtod answers (Clinger's fast path). False for
 * anything else, which strtod then reads. */
static bool fast_decimal(const char *s, size_t len, double *out)
{
	static const double p10[] = {1e0,  1e1,	 1e2,  1e3,  1e4,  1e5,	 1e6,  1e7,
				     1e8,  1e9,	 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
				     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
	size_t i = len && (s[0] == '-' || s[0] == '+');
	uint64_t m = 0;
	int frac = -1;
	bool digits = false;
	for (; i < len; i++) {
		char ch = s[i];
		if (ch >= '0' && ch <= '9') {
			if (m > (1ull << 53))
				return false;
			m = m * 10 + (uint64_t)(ch - '0');
			digits = true;
			frac += frac >= 0;
		} else if (ch == '.' && frac < 0) {
			frac = 0;
		} else {
			return false;
		}
	}
	int k = frac < 0 ? 0 : frac;
	if (!digits || m > (1ull << 53) || k > 22)
		return false;
	double d = (double)m / p10[k];
	*out = s[0] == '-' ? -d : d;
	return true;
}

bool parse_float_text(const char *s, size_t len, double *out)
{
	if (!len || len > 300)
		return false;
	if (fast_decimal(s, len, out))
		return true;
	char buf[320];
	memcpy(buf, s, len);
	buf[len] = 0;
	if (isspace((unsigned char)buf[0]) || strchr(buf, 'x') || strchr(buf, 'X'))
		return false;
	char *end;
	double v = strtod(buf, &end);
	if (*end || end == buf)
		return false;
	*out = v;
	return true;
}

/* toInt / toFloat: accurateCastOrNull, NULL when the value does not fit. */
static int eval_tonum(struct xctx *c, const node_t *n, bool to_float, struct vec *out)
{
	struct vec v;
	if (need_args(c, n, 1, 1) || xeval(c, n->list.items[0], &v))
		return c->rc;
	if (v.t == SN_XT_DECIMAL) { /* Float64: value / 10^S; Int64: cut toward zero */
		struct vec d;
		unsigned s = xdec_scale(&v);
		if (vec_make(c, &d, to_float ? SN_XT_FLOAT : SN_XT_INT, v.nullable, c->n))
			return c->rc;
		for (size_t r = 0; r < c->n; r++) {
			if (to_float)
				d.f[r] = xdec_to_double(v.i[r], s);
			else
				d.i[r] = v.i[r] / xdec_p10[s];
			if (d.nulls)
				d.nulls[r] = vec_null(&v, r);
		}
		v = d;
	}
	if (v.t == SN_XT_DATE || v.t == SN_XT_DATETIME) {
		/* accurateCastOrNull's conversion of a date (fn_math.c): the day
		 * number, or the whole seconds of a DateTime (floored) */
		struct vec d;
		if (vec_make(c, &d, SN_XT_INT, v.nullable, c->n))
			return c->rc;
		for (size_t r = 0; r < c->n; r++) {
			d.i[r] = v.t == SN_XT_DATE ? v.i[r] : floor_div(v.i[r], 1000000);
			if (d.nulls)
				d.nulls[r] = vec_null(&v, r);
		}
		v = d;
	}
	if (!(v.t == SN_XT_NULL || is_numeric(v.t) || v.t == SN_XT_STRING)) {
		const char *tn = xtype_name(c, v.t, v.nullable, v.ct);
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Illegal type %s of argument 1 of function %s", tn ? tn : "?",
			     n->name);
	}
	if (vec_make(c, out, to_float ? SN_XT_FLOAT : SN_XT_INT, true, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		bool ok = false;
		if (v.t != SN_XT_NULL && !vec_null(&v, r)) {
			if (v.t == SN_XT_STRING) {
				if (to_float) {
					ok = parse_float_text(v.s[r].p, v.s[r].len, &out->f[r]);
				} else {
					ok = parse_int_text(v.s[r].p, v.s[r].len, &out->i[r]);
				}
			} else if (to_float) {
				out->f[r] = num_at(&v, r);
				ok = true;
			} else if (v.f) {
				double x = trunc(v.f[r]);
				ok = isfinite(x) && x >= -9223372036854775808.0 &&
				     x < 9223372036854775808.0;
				if (ok)
					out->i[r] = (int64_t)x;
			} else {
				ok = v.t != SN_XT_UINT || v.i[r] >= 0;
				out->i[r] = v.i[r];
			}
		}
		out->nulls[r] = !ok;
	}
	return 0;
}

static int eval_strfn(struct xctx *c, const node_t *n, int which, struct vec *out)
{
	struct vec v;
	if (need_args(c, n, 1, 1) || xeval(c, n->list.items[0], &v))
		return c->rc;
	if (v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	bool arr = which == 2 && v.t == SN_XT_ARRAY; /* length(array): its elements */
	if (!is_text(v.t) && !arr)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' needs a String argument", n->name);
	if (vec_make(c, out, which == 2 ? SN_XT_UINT : SN_XT_STRING, v.nullable, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (out->nulls)
			out->nulls[r] = vec_null(&v, r);
		if (which == 2) {
			out->i[r] = arr ? (int64_t)xarr_count(v.s[r]) : (int64_t)v.s[r].len;
			continue;
		}
		size_t len = v.s[r].len;
		char *p = xalloc(c, c->ba, len);
		if (!p)
			return c->rc;
		for (size_t k = 0; k < len; k++)
			p[k] = (char)(which ? toupper((unsigned char)v.s[r].p[k])
					    : tolower((unsigned char)v.s[r].p[k]));
		out->s[r] = (struct sn_str){p, len};
	}
	return 0;
}

static int eval_isnull(struct xctx *c, const node_t *n, bool want_null, struct vec *out)
{
	struct vec v;
	if (need_args(c, n, 1, 1) || xeval(c, n->list.items[0], &v) ||
	    vec_make(c, out, SN_XT_BOOL, false, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		out->i[r] = (v.t == SN_XT_NULL || vec_null(&v, r)) == want_null;
	return 0;
}

bool is_aggregate_call(const node_t *n)
{
	if (n->kind != SN_HQ_CALL)
		return false;
	struct sn_hogql_func tmp;
	const struct sn_hogql_func *f = sn_hogql_func_find(n->name, &tmp);
	return f && (f->flags & SN_HQF_AGGREGATE);
}

/* True for a call whose value is the same on every row: a pure function
 * (not now(), rand() ...) of constants or of such calls. */
static bool foldable(const node_t *n, int depth)
{
	static const char *const volatile_fns[] = {
	    "now",
	    "now64",
	    "today",
	    "yesterday",
	    "rand",
	    "rand32",
	    "rand64",
	    "randCanonical",
	    "randConstant",
	    "generateUUIDv4",
	    "generateUUIDv7",
	    "randomString",
	    "randUniform",
	    "randNormal",
	    "nowInBlock",
	    "rowNumberInBlock",
	    "rowNumberInAllBlocks",
	    "blockNumber",
	    "runningDifference",
	    "neighbor",
	};
	if (n->kind == SN_HQ_CONSTANT)
		return true;
	if (n->kind != SN_HQ_CALL || depth > 8 || n->list.n == 0 || n->list2.n || n->list3.n ||
	    n->a || is_aggregate_call(n))
		return false;
	for (size_t i = 0; i < SN_ARRAY_LEN(volatile_fns); i++)
		if (strcasecmp(n->name, volatile_fns[i]) == 0)
			return false;
	for (size_t i = 0; i < n->list.n; i++)
		if (!foldable(n->list.items[i], depth + 1))
			return false;
	return true;
}

static int eval_call_rows(struct xctx *c, const node_t *n, struct vec *out);

/* A call of constants (toDateTime('2024-12-02 00:00:00') in a WHERE) is
 * evaluated on one row and broadcast, not parsed again on every row. */
static int eval_call(struct xctx *c, const node_t *n, struct vec *out)
{
	if (c->n <= 1 || !foldable(n, 0))
		return eval_call_rows(c, n, out);
	size_t rows = c->n;
	struct vec one;
	c->n = 1;
	int rc = eval_call_rows(c, n, &one);
	c->n = rows;
	return rc ? rc : vec_broadcast(c, &one, rows, out);
}

static int eval_call_rows(struct xctx *c, const node_t *n, struct vec *out)
{
	const char *f = n->name;
	if (is_aggregate_call(n))
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Aggregate function %s() is not allowed here (only in SELECT, "
			     "HAVING and ORDER BY of the query that aggregates)",
			     f);
	if (n->list.n == 1 &&
	    (n->list.items[0]->kind == SN_HQ_SELECT || n->list.items[0]->kind == SN_HQ_SELECT_SET))
		return xunsupported(c, n, "subqueries");
	if (strcasecmp(f, "if") == 0 || strcasecmp(f, "multiIf") == 0)
		return eval_multiif(c, n, out);
	if (strcasecmp(f, "coalesce") == 0 || strcasecmp(f, "ifNull") == 0)
		return eval_coalesce(c, n, out);
	if (strcmp(f, "toString") == 0)
		return eval_tostring(c, n, out);
	if (strcmp(f, "toInt") == 0)
		return eval_tonum(c, n, false, out);
	if (strcmp(f, "toFloat") == 0)
		return eval_tonum(c, n, true, out);
	if (strcasecmp(f, "lower") == 0)
		return eval_strfn(c, n, 0, out);
	if (strcasecmp(f, "upper") == 0)
		return eval_strfn(c, n, 1, out);
	if (strcasecmp(f, "length") == 0)
		return eval_strfn(c, n, 2, out);
	if (strcasecmp(f, "not") == 0) {
		if (need_args(c, n, 1, 1))
			return c->rc;
		node_t tmp = *n;
		tmp.a = n->list.items[0];
		return eval_not(c, &tmp, out);
	}
	/* The comparison operators' function forms (equals(a, b)): PostHog
	 * prints them as they are, so ClickHouse's plain semantics apply —
	 * NULL in, NULL out — not the operators' NULL-safe rules (§4.3). */
	static const struct {
		const char *name;
		enum cmpop op;
	} cmpfn[] = {{"equals", C_EQ},	     {"notEquals", C_NE}, {"less", C_LT},
		     {"lessOrEquals", C_LE}, {"greater", C_GT},	  {"greaterOrEquals", C_GE}};
	for (size_t i = 0; i < SN_ARRAY_LEN(cmpfn); i++)
		if (strcmp(f, cmpfn[i].name) == 0) {
			struct vec a, b;
			if (need_args(c, n, 2, 2) || xeval(c, n->list.items[0], &a) ||
			    xeval(c, n->list.items[1], &b))
				return c->rc;
			if (a.t == SN_XT_NULL || b.t == SN_XT_NULL)
				return vec_make(c, out, SN_XT_NULL, true, c->n);
			if (unify_cmp(c, n, n->list.items[0], n->list.items[1], &a, &b) ||
			    compare_vecs(c, n, cmpfn[i].op, &a, &b, out))
				return c->rc;
			if (a.nullable || b.nullable) {
				struct vec r;
				if (vec_make(c, &r, SN_XT_BOOL, true, c->n))
					return c->rc;
				memcpy(r.i, out->i, c->n * sizeof(*r.i));
				merge_nulls(&r, &a, &b);
				*out = r;
			}
			return 0;
		}
	/* and(a, b, ...), or(...): as the operators (NULL only where undecided) */
	if (strcmp(f, "and") == 0 || strcmp(f, "or") == 0) {
		if (need_args(c, n, 2, 4096))
			return c->rc;
		node_t tmp = *n;
		tmp.kind = f[0] == 'a' ? SN_HQ_AND : SN_HQ_OR;
		return eval_logic(c, &tmp, f[0] == 'a', out);
	}
	if (strcasecmp(f, "isNull") == 0)
		return eval_isnull(c, n, true, out);
	if (strcasecmp(f, "isNotNull") == 0)
		return eval_isnull(c, n, false, out);
	static const struct {
		const char *name;
		char op;
	} ar[] = {
	    {"plus", '+'}, {"minus", '-'}, {"multiply", '*'}, {"divide", '/'}, {"modulo", '%'}};
	for (size_t i = 0; i < SN_ARRAY_LEN(ar); i++)
		if (strcmp(f, ar[i].name) == 0) {
			if (need_args(c, n, 2, 2))
				return c->rc;
			return arith(c, n, ar[i].op, n->list.items[0], n->list.items[1], out);
		}
	int rc = 0;
	if (xfn_array(c, n, out, &rc) || xfn_date(c, n, out, &rc) || xfn_scalar(c, n, out, &rc) ||
	    xfn_decimal(c, n, out, &rc) || xfn_math(c, n, out, &rc) || xfn_text(c, n, out, &rc) ||
	    xfn_vector(c, n, out, &rc) || xfn_aggstate(c, n, out, &rc))
		return rc;
	char what[160];
	snprintf(what, sizeof(what), "function %s()", f);
	return xunsupported(c, n, what);
}

/* ---- dispatch ------------------------------------------------------------------------ */

static int eval_field(struct xctx *c, const node_t *n, struct vec *out)
{
	if (n->ref_kind == SN_HQR_ALIAS) {
		const node_t *t = xfollow_alias(c, n);
		if (t == n)
			return xunsupported(c, n, "this alias reference");
		return xeval(c, t, out);
	}
	struct xref r;
	int k = xref_of(c, n, &r);
	if (k < 0)
		return c->rc;
	if (k)
		return eval_column(c, n, &r, out);
	if (n->ref_kind == SN_HQR_ASTERISK)
		return xunsupported(c, n, "SELECT * (name the columns)");
	char what[160];
	snprintf(what, sizeof(what), "the field %s",
		 n->strs.n ? n->strs.items[n->strs.n - 1] : "?");
	return xunsupported(c, n, what);
}

/* Evaluates n, an expression of the string column r alone, over the
 * column's distinct values in the batch (by text pointer, length and
 * NULL: rows of one dictionary entry share them) and gathers the answers
 * to the rows. Falls back to evaluating every row when the batch is small
 * or its values are not few. */
#define DIST_MAX   256
#define DIST_SLOTS 1024
static int eval_distinct(struct xctx *c, const node_t *n, const struct xref *ref, struct vec *out)
{
	int ci = xcol_find(c, ref), rc;
	struct xcol *x = ci >= 0 ? &c->cols[ci] : NULL;
	size_t rows = c->n;
	struct vec res;
	if (x && x->v.cdict && x->v.n == rows) {
		/* read as codes: once per entry, then the answers by code */
		struct vec codes = x->v, vals;
		if (codes.cdict->n > rows) { /* more entries than rows: by row */
			if (vec_gather(c, codes.cdict, codes.ccodes, rows, &vals))
				return c->rc;
			return eval_over(c, x, &vals, n, out);
		}
		struct vec used;
		uint32_t *slot, *rix;
		const uint32_t *ix = codes.ccodes;
		struct sn_hogql_error saved = {0};
		if (c->err)
			saved = *c->err;
		if (eval_over(c, x, codes.cdict, n, &res)) {
			if (!entries_failed(c, &saved))
				return c->rc;
			if (used_entries(c, &codes, &used, &slot, &rix))
				return c->rc;
			ix = rix;
			if ((rc = eval_over(c, x, &used, n, &res)))
				return rc;
		}
		c->stats->distinct_evals++;
		return vec_gather(c, &res, ix, rows, out);
	}
	if (!x || !x->v.s || x->v.n != rows || rows < 4 * DIST_MAX)
		goto plain;
	struct dslot {
		const char *p;
		uint32_t len; /* UINT32_MAX: NULL */
		uint32_t id;
	} *tab = xalloc(c, c->ba, DIST_SLOTS * sizeof(*tab));
	uint32_t *map = xalloc(c, c->ba, rows * sizeof(*map)), first[DIST_MAX];
	if (!tab || !map)
		return c->rc;
	memset(tab, 0, DIST_SLOTS * sizeof(*tab));
	size_t nd = 0;
	const struct vec *v = &x->v;
	for (size_t r = 0; r < rows; r++) {
		bool null = vec_null(v, r);
		const char *p = null ? NULL : v->s[r].p;
		uint32_t len = null ? UINT32_MAX : (uint32_t)v->s[r].len;
		uint64_t h = ((uint64_t)(uintptr_t)p ^ len) * 0x9e3779b97f4a7c15ULL;
		size_t j = (size_t)(h >> 54) & (DIST_SLOTS - 1);
		while (tab[j].id && (tab[j].p != p || tab[j].len != len))
			j = (j + 1) & (DIST_SLOTS - 1);
		if (!tab[j].id) {
			if (nd == DIST_MAX)
				goto plain;
			tab[j] = (struct dslot){p, len, (uint32_t)nd + 1};
			first[nd++] = (uint32_t)r;
		}
		map[r] = tab[j].id - 1;
	}
	struct vec dv;
	if (vec_gather(c, &x->v, first, nd, &dv))
		return c->rc;
	if ((rc = eval_over(c, x, &dv, n, &res)))
		return rc;
	c->stats->distinct_evals++;
	if (vec_gather(c, &res, map, rows, out))
		return c->rc;
	out->codes = map;
	out->codes_of = out->s ? (const void *)out->s : out->i ? (const void *)out->i : NULL;
	out->ncodes = nd;
	return 0;
plain:;
	const node_t *was = c->dskip;
	c->dskip = n;
	rc = xeval(c, n, out);
	c->dskip = was;
	return rc;
}

/* CAST(x AS T) and TRY_CAST: T a Decimal (decimal.c); other types are
 * refused (the function forms, toInt and friends, cover them). */
static int eval_cast(struct xctx *c, const node_t *n, struct vec *out)
{
	const char *t = n->name ? n->name : "";
	bool nullable = strncasecmp(t, "nullable(", 9) == 0;
	char inner[64], why[96];
	size_t tl = strlen(t);
	if (nullable && tl > 10 && tl - 10 < sizeof(inner) && t[tl - 1] == ')') {
		memcpy(inner, t + 9, tl - 10);
		inner[tl - 10] = 0;
		t = inner;
	}
	unsigned p, s;
	bool is_dec;
	int k = xdec_parse_type(t, &p, &s, &is_dec, why, sizeof(why));
	if (!is_dec) {
		char what[96];
		snprintf(what, sizeof(what), "CAST to %s (use toInt, toFloat, toString, ...)", t);
		return xunsupported(c, n, what);
	}
	if (k == -3) {
		char what[160];
		snprintf(what, sizeof(what), "CAST to %s: %s", t, why);
		return xunsupported(c, n, what);
	}
	if (k < 0)
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "CAST to %s: %s", t, why);
	struct vec v;
	if (xeval(c, n->a, &v))
		return c->rc;
	bool soft = n->kind == SN_HQ_TRY_CAST;
	if (!soft && !nullable)
		for (size_t r = 0; r < c->n; r++)
			if (v.t == SN_XT_NULL || vec_null(&v, r))
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Cannot convert NULL value to non-Nullable type %s",
					     xdec_ct(p, s));
	if (xdec_convert(c, n, &v, p, s, soft ? XDEC_NULL : XDEC_ERROR, out))
		return c->rc;
	if (!soft && !nullable && out->t != SN_XT_NULL) { /* no NULL was there */
		out->nullable = false;
		out->nulls = NULL;
	}
	if (nullable && !out->nullable) {
		if (!(out->nulls = xalloc(c, c->ba, c->n)))
			return c->rc;
		memset(out->nulls, 0, c->n);
		out->nullable = true;
	}
	return 0;
}

int xeval(struct xctx *c, const node_t *n, struct vec *out)
{
	if (c->rc)
		return c->rc;
	for (size_t i = 0; i < c->naj; i++)
		if (c->aj[i].n == n) {
			*out = *c->aj[i].v;
			return 0;
		}
	for (size_t i = c->npre; i-- > 0;)
		if (c->pre[i].n == n) {
			*out = *c->pre[i].v;
			return 0;
		}
	if (c->final) {
		for (size_t i = 0; i < c->nbinds; i++)
			if (c->binds[i].n == n) {
				*out = *c->binds[i].v;
				return 0;
			}
	}
	for (size_t i = 0; i < c->nbconst; i++)
		if (c->bconst[i] == n)
			return vec_broadcast(c, &c->bconst_v[i], c->n, out);
	for (size_t i = 0; i < c->nknown; i++)
		if (c->known_true[i] == n) {
			if (vec_make_raw(c, out, SN_XT_BOOL, false, c->n))
				return c->rc;
			for (size_t r = 0; r < c->n; r++)
				out->i[r] = 1;
			return 0;
		}
	if (!c->final && n != c->dskip)
		for (size_t i = 0; i < c->ndnode; i++)
			if (c->dnode[i] == n)
				return eval_distinct(c, n, &c->dref[i], out);
	if (++c->depth > SN_HOGQL_MAX_DEPTH + XMAX_DEPTH) {
		c->depth--;
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "Expression nests too deeply");
	}
	int rc = 0;
	switch (n->kind) {
	case SN_HQ_CONSTANT: rc = eval_const(c, n, out); break;
	case SN_HQ_ALIAS: rc = xeval(c, n->a, out); break;
	case SN_HQ_FIELD:
	case SN_HQ_ARRAY_ACCESS:
		if (n->kind == SN_HQ_FIELD && n->ref_kind == SN_HQR_LAMBDA_ARG) {
			rc = xlambda_param(c, n, out);
			break;
		}
		if (n->kind == SN_HQ_ARRAY_ACCESS) {
			struct xref r;
			int k = xref_of(c, n, &r);
			if (k < 0) {
				rc = c->rc;
				break;
			}
			if (k == 0) { /* a subscript of an array or tuple value */
				rc = xeval_array_node(c, n, out);
				break;
			}
		}
		if (c->final && n->ref_kind != SN_HQR_ALIAS) {
			char buf[256] = "";
			struct sn_buf b;
			sn_buf_init(&b, sizeof(buf) - 1);
			if (sn_hogql_print_expr(&b, n) >= 0 && b.data)
				snprintf(buf, sizeof(buf), "%s", b.data);
			sn_buf_release(&b);
			rc = xfail(c, n, SN_ERR_INVALID, "QueryError",
				   "Column %s must appear in GROUP BY or be used in an aggregate "
				   "function",
				   buf);
			break;
		}
		if (n->kind == SN_HQ_ARRAY_ACCESS) {
			struct xref r;
			int k = xref_of(c, n, &r);
			rc = k < 0 ? c->rc : eval_column(c, n, &r, out);
		} else {
			rc = eval_field(c, n, out);
		}
		break;
	case SN_HQ_CALL: rc = eval_call(c, n, out); break;
	case SN_HQ_TYPE_CAST:
	case SN_HQ_TRY_CAST: rc = eval_cast(c, n, out); break;
	case SN_HQ_ARRAY:
	case SN_HQ_TUPLE:
	case SN_HQ_DICT: /* {k: v}: a Map (array.c) */
	case SN_HQ_TUPLE_ACCESS: rc = xeval_array_node(c, n, out); break;
	case SN_HQ_LAMBDA:
		rc = xfail(c, n, SN_ERR_INVALID, "QueryError",
			   "A lambda (x -> ...) can only be an argument of an array function");
		break;
	case SN_HQ_ARITH: rc = arith(c, n, n->op[0], n->a, n->b, out); break;
	case SN_HQ_COMPARE: rc = eval_compare(c, n, out); break;
	case SN_HQ_AND: rc = eval_logic(c, n, true, out); break;
	case SN_HQ_OR: rc = eval_logic(c, n, false, out); break;
	case SN_HQ_NOT: rc = eval_not(c, n, out); break;
	case SN_HQ_BETWEEN: rc = eval_between(c, n, out); break;
	case SN_HQ_SELECT:
	case SN_HQ_SELECT_SET: rc = sub_scalar(c, n, out); break;
	case SN_HQ_IS_DISTINCT: {
		struct vec a, b;
		if (xeval(c, n->a, &a) || xeval(c, n->b, &b) ||
		    unify_cmp(c, n, n->a, n->b, &a, &b) || compare_vecs(c, n, C_EQ, &a, &b, out))
			break;
		if (!n->flag) /* IS DISTINCT FROM: not NULL-safe-equal */
			for (size_t r = 0; r < c->n; r++)
				out->i[r] = !out->i[r];
		break;
	}
	default: {
		char what[96];
		snprintf(what, sizeof(what), "%s expressions", sn_hogql_kind_name(n->kind));
		rc = xunsupported(c, n, what);
		break;
	}
	}
	c->depth--;
	if (rc == 0 && c->rc == 0 && out->n != c->n)
		return xfail(c, n, SN_ERR_INTERNAL, "QueryError", "vector length mismatch");
	return c->rc ? c->rc : rc;
}
