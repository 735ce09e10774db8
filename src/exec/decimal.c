/*
 * decimal.c — ClickHouse's Decimal(P, S) in the executor: the type's
 * names, its text, conversions to it (toDecimal, CAST, accurateCast), its
 * arithmetic, comparisons and the common type of branches.
 *
 * A Decimal value is a scaled integer: x × 10^S in a vector's i (Int64),
 * so 1.25 of Decimal(18, 2) is 125. The scale and the precision travel
 * with the vector as its static type name in ct ("Decimal(18, 2)", one of
 * a table of interned names, never freed): ct already goes everywhere a
 * vector's type goes (GROUP BY keys, aggregate results, materialised
 * subqueries, toTypeName), so no second field can disagree with it. A
 * row taken out of a vector (struct sn_exec_value) carries its scale in
 * dscale for the renderings.
 *
 *   Decimal(P, S)   P 1..9: Decimal32 (Int32 range), 10..18: Decimal64
 *   i = x × 10^S    (Int64), 19..38: Decimal128 — kept in Int64 here
 *
 * ClickHouse's rules, as its documentation and source give them: results
 * of + - × ÷ take the wider native type of the operands (an integer
 * operand counts as the decimal's own size), scale max(S1, S2) for + and
 * -, S1 + S2 for ×, S1 for ÷ (the dividend is first scaled by 10^S2; an
 * integer dividend takes the divisor's scale); every step is checked
 * against the native type's range ("Decimal math overflow"), fractions
 * past the scale are cut, not rounded. With a Float64 operand both sides
 * are Float64 (eval.c converts them; ClickHouse since 22.1), as they are
 * in a comparison with one. Text with more fraction digits
 * than the scale is cut too; more digits than P is "Too many digits". A
 * float is multiplied by 10^S in floating point and truncated
 * (toDecimal64(1.15, 2) is 1.14, as ClickHouse documents). Decimal text
 * prints without trailing zeros (output_format_decimal_trailing_zeros=0,
 * ClickHouse's default since 21.9; 18.16 printed them).
 *
 * The deviation: Decimal128 (P 19..38) is stored in 64 bits. A value that
 * does not fit Int64 is an error ("Decimal overflow ... 64 bits"), never a
 * wrapped number; sums accumulate in 128 bits (agg.c) and fail only when
 * the final value does not fit. Decimal256 and scales above 18 are
 * refused. Comparisons are exact across scales (128-bit), where
 * ClickHouse may refuse one whose rescaling overflows ("Can't compare").
 *
 * Rejected alternative: a type code per (precision class, scale) in the
 * vector's type byte. Every type switch in the executor would then need a
 * range test, and the 57 codes would still need their names.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "exec/fn_common.h"

const int64_t xdec_p10[19] = {1,
			      10,
			      100,
			      1000,
			      10000,
			      100000,
			      1000000,
			      10000000,
			      100000000,
			      1000000000,
			      10000000000LL,
			      100000000000LL,
			      1000000000000LL,
			      10000000000000LL,
			      100000000000000LL,
			      1000000000000000LL,
			      10000000000000000LL,
			      100000000000000000LL,
			      1000000000000000000LL};

/* ---- names ---------------------------------------------------------------------------- */

static char dec_names[XDEC_MAX_PREC + 1][XDEC_MAX_SCALE + 1][20];
static pthread_once_t dec_once = PTHREAD_ONCE_INIT;

static void dec_names_init(void)
{
	for (unsigned p = 1; p <= XDEC_MAX_PREC; p++)
		for (unsigned s = 0; s <= XDEC_MAX_SCALE; s++)
			snprintf(dec_names[p][s], sizeof(dec_names[p][s]), "Decimal(%u, %u)", p, s);
}

const char *xdec_ct(unsigned prec, unsigned scale)
{
	pthread_once(&dec_once, dec_names_init);
	if (prec < 1 || prec > XDEC_MAX_PREC || scale > XDEC_MAX_SCALE)
		return "Decimal(18, 0)"; /* callers check; never reached */
	return dec_names[prec][scale];
}

/* "Decimal(P, S)" → P and S (ct is always one of dec_names). */
static void ct_ps(const char *ct, unsigned *p, unsigned *s)
{
	*p = 18;
	*s = 0;
	if (!ct || strncmp(ct, "Decimal(", 8) != 0)
		return;
	char *end;
	unsigned long pp = strtoul(ct + 8, &end, 10);
	if (*end == ',') {
		*p = (unsigned)pp;
		*s = (unsigned)strtoul(end + 1, NULL, 10);
	}
}

unsigned xdec_scale(const struct vec *v)
{
	unsigned p, s;
	ct_ps(v->ct, &p, &s);
	return s;
}

unsigned xdec_prec(const struct vec *v)
{
	unsigned p, s;
	ct_ps(v->ct, &p, &s);
	return p;
}

/* The precision of the native type holding P digits: 9, 18 or 38. */
static unsigned native_prec(unsigned p)
{
	return p <= 9 ? 9 : p <= 18 ? 18 : 38;
}

/* Whether x fits the native type of precision class np (Decimal128 is kept
 * in 64 bits here). */
static bool fits_native(__int128 x, unsigned np)
{
	if (np == 9)
		return x >= INT32_MIN && x <= INT32_MAX;
	return x >= INT64_MIN && x <= INT64_MAX;
}

int xdec_parse_type(const char *t, unsigned *prec, unsigned *scale, bool *is_dec, char *why,
		    size_t whylen)
{
	/* Decimal, Decimal(P), Decimal(P, S), Decimal32/64/128/256(S), any case,
	 * spaces anywhere (HogQL's CAST type comes lower-cased without them). */
	char b[64];
	size_t n = 0;
	*is_dec = false;
	for (const char *p = t; *p && n + 1 < sizeof(b); p++)
		if (*p != ' ')
			b[n++] = (char)tolower((unsigned char)*p);
	b[n] = 0;
	if (strncmp(b, "decimal", 7) != 0)
		return -1;
	*is_dec = true;
	const char *p = b + 7;
	long cls = 0;
	if (isdigit((unsigned char)*p)) {
		char *end;
		cls = strtol(p, &end, 10);
		p = end;
		if (cls != 32 && cls != 64 && cls != 128 && cls != 256)
			goto bad;
	}
	long a[2] = {0, 0};
	int na = 0;
	if (*p == '(') {
		p++;
		while (na < 2) {
			if (!isdigit((unsigned char)*p))
				goto bad;
			char *end;
			a[na++] = strtol(p, &end, 10);
			p = end;
			if (*p == ',') {
				p++;
				continue;
			}
			break;
		}
		if (*p++ != ')')
			goto bad;
	}
	if (*p)
		goto bad;
	long pr, sc;
	if (cls) {
		if (na != 1)
			goto bad;
		pr = cls == 32 ? 9 : cls == 64 ? 18 : cls == 128 ? 38 : 76;
		sc = a[0];
	} else {
		pr = na ? a[0] : 10;
		sc = na == 2 ? a[1] : 0;
	}
	if (pr < 1 || pr > 76 || sc < 0 || sc > pr) {
		snprintf(why, whylen, "the precision must be 1..76 and the scale 0..precision");
		return -2;
	}
	if (pr > XDEC_MAX_PREC) {
		snprintf(why, whylen, "Decimal256 (precision above 38) is not supported");
		return -3;
	}
	if (sc > XDEC_MAX_SCALE) {
		snprintf(why, whylen,
			 "a scale above 18 is not supported (values are kept in 64 bits)");
		return -3;
	}
	*prec = (unsigned)pr;
	*scale = (unsigned)sc;
	return 0;
bad:
	snprintf(why, whylen, "not a Decimal type");
	return -2;
}

/* ---- text ----------------------------------------------------------------------------- */

int xdec_format(char *buf, size_t len, int64_t v, unsigned scale)
{
	uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t p = (uint64_t)xdec_p10[scale];
	uint64_t ip = m / p, fp = m % p;
	int n = snprintf(buf, len, "%s%" PRIu64, v < 0 ? "-" : "", ip);
	if (fp && scale) {
		char f[24];
		snprintf(f, sizeof(f), "%0*" PRIu64, (int)scale, fp);
		size_t fl = scale;
		while (fl > 0 && f[fl - 1] == '0')
			fl--;
		n += snprintf(buf + n, len - (size_t)n, ".%.*s", (int)fl, f);
	}
	return n;
}

double xdec_to_double(int64_t v, unsigned scale)
{
	/* ClickHouse's DecimalUtils::convertTo<Float64>: value / 10^S. */
	return (double)v / (double)xdec_p10[scale];
}

double sn_exec_decimal_to_double(int64_t i, unsigned scale)
{
	return scale <= XDEC_MAX_SCALE ? xdec_to_double(i, scale) : NAN;
}

double xdec_to_double_exact(int64_t v, unsigned scale)
{
	/* Python's float(Decimal): the double nearest the exact value (strtod
	 * of its text rounds correctly). */
	char buf[48];
	xdec_format(buf, sizeof(buf), v, scale);
	return strtod(buf, NULL);
}

/* ---- conversions ---------------------------------------------------------------------- */

enum { DF_OK, DF_PARSE, DF_OVERFLOW, DF_DIGITS };

/* ClickHouse's readDecimalText over the whole string: [+-]digits[.digits]
 * [e[+-]digits]; fraction digits past the scale are cut. */
static int parse_text(struct sn_str s, unsigned prec, unsigned scale, int64_t *out)
{
	size_t i = 0, n = s.len;
	bool neg = false;
	if (i < n && (s.p[i] == '+' || s.p[i] == '-'))
		neg = s.p[i++] == '-';
	__int128 m = 0;
	int exp = 0, nd = 0, sig = 0; /* digits seen, significant digits kept */
	bool dot = false, any = false;
	for (; i < n; i++) {
		char ch = s.p[i];
		if (ch == '.' && !dot) {
			dot = true;
			continue;
		}
		if (ch < '0' || ch > '9')
			break;
		any = true;
		nd++;
		if (m == 0 && ch == '0') {
			if (dot)
				exp--;
			continue;
		}
		if (sig >= 38) { /* beyond any precision: only the exponent moves */
			if (!dot)
				exp++;
			continue;
		}
		m = m * 10 + (ch - '0');
		sig++;
		if (dot)
			exp--;
	}
	if (!any)
		return DF_PARSE;
	if (i < n && (s.p[i] == 'e' || s.p[i] == 'E')) {
		i++;
		bool eneg = false;
		if (i < n && (s.p[i] == '+' || s.p[i] == '-'))
			eneg = s.p[i++] == '-';
		if (i == n)
			return DF_PARSE;
		int e = 0;
		for (; i < n && s.p[i] >= '0' && s.p[i] <= '9'; i++)
			if (e < 10000)
				e = e * 10 + (s.p[i] - '0');
		exp += eneg ? -e : e;
	}
	if (i != n)
		return DF_PARSE;
	/* value = m × 10^exp; scaled = m × 10^(exp + scale) */
	int shift = exp + (int)scale;
	if (m == 0) {
		*out = 0;
		return DF_OK;
	}
	if (shift < 0) {
		for (; shift < 0 && m; shift++)
			m /= 10;
	} else {
		/* digits of the integer part + scale must stay within P */
		int digits = sig + shift;
		if (digits > (int)prec)
			return DF_DIGITS;
		for (; shift > 0; shift--)
			m *= 10;
	}
	/* more digits than P (integer part and scale together) */
	__int128 lim = 1;
	for (unsigned k = 0; k < prec; k++)
		lim *= 10;
	if (m >= lim)
		return DF_DIGITS;
	if (neg)
		m = -m;
	if (!fits_native(m, native_prec(prec)))
		return DF_OVERFLOW;
	*out = (int64_t)m;
	return DF_OK;
}

static int conv_float(double x, unsigned prec, unsigned scale, int64_t *out)
{
	if (!isfinite(x))
		return DF_OVERFLOW;
	double y = x * (double)xdec_p10[scale];
	unsigned np = native_prec(prec);
	double lo = np == 9 ? (double)INT32_MIN : (double)INT64_MIN;
	double hi = np == 9 ? (double)INT32_MAX : (double)INT64_MAX;
	if (y <= lo || y >= hi)
		return DF_OVERFLOW;
	*out = (int64_t)y; /* truncation toward zero, as ClickHouse's static_cast */
	return DF_OK;
}

static int conv_int(__int128 x, unsigned prec, unsigned scale, int64_t *out)
{
	__int128 y = x * xdec_p10[scale];
	if (!fits_native(y, native_prec(prec)))
		return DF_OVERFLOW;
	*out = (int64_t)y;
	return DF_OK;
}

/* A decimal of scale from into scale to: cut toward zero when narrower. */
static int conv_dec(int64_t x, unsigned from, unsigned prec, unsigned to, int64_t *out)
{
	__int128 y = x;
	if (to >= from)
		y *= xdec_p10[to - from];
	else
		y /= xdec_p10[from - to];
	if (!fits_native(y, native_prec(prec)))
		return DF_OVERFLOW;
	*out = (int64_t)y;
	return DF_OK;
}

int xdec_convert(struct xctx *c, const node_t *n, const struct vec *v, unsigned prec,
		 unsigned scale, enum xdec_fail fail, struct vec *out)
{
	const char *ct = xdec_ct(prec, scale);
	char tb[64];
	if (v->t == SN_XT_NULL) {
		if (vec_make(c, out, SN_XT_NULL, true, c->n))
			return c->rc;
		return 0;
	}
	bool text = is_text(v->t);
	if (!(text || is_numeric(v->t) || v->t == SN_XT_DECIMAL))
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Illegal type %s of argument of function %s: it takes numbers and "
			     "String",
			     v->ct ? v->ct : sn_exec_type_name(v->t, false, tb, sizeof(tb)),
			     n->name);
	if (text && v->t == SN_XT_UUID)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Illegal type UUID of argument of function %s", n->name);
	bool nullable = v->nullable || fail == XDEC_NULL;
	if (vec_make(c, out, SN_XT_DECIMAL, nullable, c->n))
		return c->rc;
	out->ct = ct;
	unsigned vs = v->t == SN_XT_DECIMAL ? xdec_scale(v) : 0;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(v, r)) {
			out->nulls[r] = 1;
			continue;
		}
		int64_t x = 0;
		int rc;
		if (text)
			rc = parse_text(str_at(v, r), prec, scale, &x);
		else if (v->t == SN_XT_FLOAT)
			rc = conv_float(v->f[r], prec, scale, &x);
		else if (v->t == SN_XT_DECIMAL)
			rc = conv_dec(v->i[r], vs, prec, scale, &x);
		else if (v->t == SN_XT_UINT)
			rc = conv_int((__int128)(uint64_t)v->i[r], prec, scale, &x);
		else
			rc = conv_int(v->i[r], prec, scale, &x);
		if (rc == DF_OK) {
			out->i[r] = x;
			continue;
		}
		if (fail == XDEC_NULL) {
			out->nulls[r] = 1;
			continue;
		}
		if (fail == XDEC_ZERO) {
			out->i[r] = 0;
			continue;
		}
		if (text) {
			struct sn_str s = str_at(v, r);
			int sl = (int)(s.len > 64 ? 64 : s.len);
			if (rc == DF_PARSE)
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Cannot parse string '%.*s' as %s", sl, s.p, ct);
			if (rc == DF_DIGITS)
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Too many digits in decimal value '%.*s' for %s", sl,
					     s.p, ct);
		}
		if (prec > 18 && rc == DF_OVERFLOW)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Decimal overflow: %s values are kept in 64 bits here, and "
				     "this one does not fit",
				     ct);
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Decimal convert overflow: the value does not fit %s", ct);
	}
	return 0;
}

/* ---- functions ------------------------------------------------------------------------ */

/* The constant scale argument k of n, checked against 0..maxs. */
static int const_scale(struct xctx *c, const node_t *n, size_t k, unsigned maxs, unsigned *s)
{
	const node_t *a = n->list.items[k];
	if (a->kind != SN_HQ_CONSTANT || (a->ctype != SN_HQC_INT && a->ctype != SN_HQC_BOOL))
		return xfail(c, a, SN_ERR_INVALID, "QueryError",
			     "Argument %zu (the scale) of function %s must be a constant integer",
			     k + 1, n->name);
	int64_t v = a->ctype == SN_HQC_INT ? a->ival : a->bval;
	if (v < 0 || v > (int64_t)maxs)
		return xfail(c, a, SN_ERR_INVALID, "QueryError",
			     "Scale %" PRId64 " is out of bounds for function %s (0..%u)", v,
			     n->name, maxs);
	if (v > XDEC_MAX_SCALE)
		return xunsupported(c, a, "a Decimal scale above 18 (values are kept in 64 bits)");
	*s = (unsigned)v;
	return 0;
}

/* toDecimal(x, S): PostHog's accurateCastOrNull(x, 'Decimal64(S)').
 * (PostHog exposes no toDecimal32/64/128; CAST covers those types.) op:
 * the precision class (9, 18, 38) × 4 + the failure mode. */
static int fn_to_decimal(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	unsigned prec = (unsigned)op >> 2, s;
	enum xdec_fail fail = (enum xdec_fail)(op & 3);
	struct vec v;
	if (need_args(c, n, 2, 2) || const_scale(c, n, 1, prec, &s) ||
	    xeval(c, n->list.items[0], &v))
		return c->rc;
	return xdec_convert(c, n, &v, prec, s, fail, out);
}

/* The decimal type of a value in a binary operation: a decimal's own, an
 * integer as a Decimal of scale 0 of the other operand's size. */
static bool dec_of(const struct vec *v, unsigned other_np, unsigned *np, unsigned *s)
{
	if (v->t == SN_XT_DECIMAL) {
		*np = native_prec(xdec_prec(v));
		*s = xdec_scale(v);
		return true;
	}
	if (is_intlike(v->t)) {
		*np = other_np;
		*s = 0;
		return true;
	}
	return false;
}

static int math_overflow(struct xctx *c, const node_t *n, unsigned np)
{
	if (np > 18)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Decimal overflow: Decimal128 values are kept in 64 bits here, and "
			     "this result does not fit");
	return xfail(c, n, SN_ERR_INVALID, "QueryError", "Decimal math overflow");
}

/* Row r of an integer or decimal vector as a signed 128-bit number. */
static inline __int128 wide_at(const struct vec *v, size_t r)
{
	return v->t == SN_XT_UINT ? (__int128)(uint64_t)v->i[r] : (__int128)v->i[r];
}

int xdec_arith(struct xctx *c, const node_t *n, char op, struct vec *a, struct vec *b,
	       struct vec *out)
{
	char ta[64], tb[64];
	unsigned npa = 0, npb = 0, sa = 0, sb = 0;
	unsigned hint_a = a->t == SN_XT_DECIMAL ? native_prec(xdec_prec(a)) : 0;
	unsigned hint_b = b->t == SN_XT_DECIMAL ? native_prec(xdec_prec(b)) : 0;
	if (!dec_of(a, hint_b, &npa, &sa) || !dec_of(b, hint_a, &npb, &sb)) {
		static const char *const names[] = {"plus", "minus", "multiply", "divide",
						    "modulo"};
		int k = op == '+' ? 0 : op == '-' ? 1 : op == '*' ? 2 : op == '/' ? 3 : 4;
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Illegal types %s and %s of arguments of function %s",
			     a->ct ? a->ct : sn_exec_type_name(a->t, false, ta, sizeof(ta)),
			     b->ct ? b->ct : sn_exec_type_name(b->t, false, tb, sizeof(tb)),
			     names[k]);
	}
	unsigned np = npa > npb ? npa : npb, s;
	bool ia = a->t != SN_XT_DECIMAL;
	/* An integer is a Decimal of scale 0, but an integer dividend takes
	 * the divisor's scale (2 / toDecimal32(3, 2) is 0.66). */
	if (op == '/' && ia)
		sa = sb;
	switch (op) {
	case '*': s = sa + sb; break;
	case '/': s = sa; break;
	default: s = sa > sb ? sa : sb; break;
	}
	if (s > XDEC_MAX_SCALE)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Scale %u is out of bounds (the product's scale is above 18)", s);
	if (vec_make(c, out, SN_XT_DECIMAL, a->nullable || b->nullable, c->n))
		return c->rc;
	out->ct = xdec_ct(np, s);
	merge_nulls(out, a, b);
	/* Operands brought to the scales the operation needs. */
	int64_t ma = xdec_p10[op == '*' || op == '/' ? 0 : s - sa];
	int64_t mb = xdec_p10[op == '*' ? 0 : op == '/' ? 0 : s - sb];
	int64_t mdiv = op == '/' ? xdec_p10[sb] : 1;	  /* the dividend's extra scale */
	int64_t mia = ia && op == '/' ? xdec_p10[sb] : 1; /* an integer dividend */
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		__int128 x = wide_at(a, r), y = wide_at(b, r), z;
		switch (op) {
		case '+': z = x * ma + y * mb; break;
		case '-': z = x * ma - y * mb; break;
		case '*': z = x * y; break;
		case '/':
			if (y == 0)
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Division by zero");
			x *= mia;
			if (!fits_native(x, np))
				return math_overflow(c, n, np);
			x *= mdiv;
			if (!fits_native(x, np))
				return math_overflow(c, n, np);
			z = x / y;
			break;
		default: /* % : the remainder at the common scale, the dividend's sign */
			x *= ma;
			y *= mb;
			if (y == 0)
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Division by zero");
			z = x % y;
			break;
		}
		if (!fits_native(z, np))
			return math_overflow(c, n, np);
		out->i[r] = (int64_t)z;
	}
	return 0;
}

/* multiplyDecimal(a, b[, S]) and divideDecimal(a, b[, S]): ClickHouse's
 * wide-intermediate forms. The result is Decimal256(S) there (S defaults
 * to the first argument's scale); here Decimal(38, S), kept in 64 bits. */
static int fn_mul_div(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	if (need_args(c, n, 2, 3) || xeval(c, n->list.items[0], &v[0]) ||
	    xeval(c, n->list.items[1], &v[1]))
		return c->rc;
	for (size_t k = 0; k < 2; k++)
		if (v[k].t != SN_XT_DECIMAL && v[k].t != SN_XT_NULL) {
			char tb[48];
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Illegal type %s of argument %zu of function %s: it takes "
				     "Decimals",
				     v[k].ct ? v[k].ct
					     : sn_exec_type_name(v[k].t, false, tb, sizeof(tb)),
				     k + 1, n->name);
		}
	unsigned s;
	if (n->list.n == 3) {
		if (const_scale(c, n, 2, 76, &s))
			return c->rc;
	} else {
		s = v[0].t == SN_XT_DECIMAL ? xdec_scale(&v[0]) : 0;
	}
	if (v[0].t == SN_XT_NULL || v[1].t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	unsigned s0 = xdec_scale(&v[0]), s1 = xdec_scale(&v[1]);
	if (vec_make(c, out, SN_XT_DECIMAL, v[0].nullable || v[1].nullable, c->n))
		return c->rc;
	out->ct = xdec_ct(XDEC_MAX_PREC, s);
	merge_nulls(out, &v[0], &v[1]);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		__int128 x = v[0].i[r], y = v[1].i[r], z;
		if (op == 0) {
			/* x·y at scale s0 + s1, brought to s (cut toward zero) */
			z = x * y;
			int d = (int)s - (int)(s0 + s1);
			for (; d < 0 && z; d++)
				z /= 10;
			for (; d > 0; d--) {
				z *= 10;
				if (!fits_native(z, 38))
					return math_overflow(c, n, 38);
			}
		} else {
			if (y == 0)
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Division by zero");
			/* x / y at scale s: x · 10^(s + s1 - s0) / y */
			int d = (int)s + (int)s1 - (int)s0;
			for (; d > 0; d--) {
				x *= 10;
				if (x > ((__int128)1 << 100) || x < -((__int128)1 << 100))
					return math_overflow(c, n, 38);
			}
			for (; d < 0 && x; d++)
				x /= 10;
			z = x / y;
		}
		if (!fits_native(z, 38))
			return math_overflow(c, n, 38);
		out->i[r] = (int64_t)z;
	}
	return 0;
}

/* round (0), floor (1), ceil (2), trunc (3), roundBankers (4) to digits d,
 * abs (5), negate (6), sign (7) of a Decimal: the Decimal type stays (sign
 * is an integer), digits past d are zero, ties round away from zero
 * (roundBankers: to even), as ClickHouse's Decimal rounding does. */
int xdec_unary(struct xctx *c, const node_t *n, int op, const struct vec *v, const struct vec *dv,
	       struct vec *out)
{
	if (vec_make(c, out, op == 7 ? SN_XT_INT : SN_XT_DECIMAL,
		     v->nullable || (dv && dv->nullable), c->n))
		return c->rc;
	out->ct = op == 7 ? NULL : v->ct;
	merge_nulls(out, v, dv);
	unsigned s = xdec_scale(v), np = native_prec(xdec_prec(v));
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		__int128 x = v->i[r], z;
		if (op == 7) {
			out->i[r] = x < 0 ? -1 : x > 0;
			continue;
		}
		if (op >= 5) {
			z = op == 6 || x < 0 ? -x : x;
		} else {
			int64_t d = dv ? dv->i[r] : 0;
			if (d >= (int64_t)s) {
				out->i[r] = v->i[r];
				continue;
			}
			int64_t cut = (int64_t)s - d;
			__int128 unit = 1;
			for (int64_t k = 0; k < cut && k < 39; k++)
				unit *= 10;
			__int128 q = x / unit, rem = x % unit, a = rem < 0 ? -rem : rem;
			int sg = x < 0 ? -1 : 1;
			switch (op) {
			case 0:
				if (a * 2 >= unit)
					q += sg;
				break;
			case 1:
				if (rem < 0)
					q -= 1;
				break;
			case 2:
				if (rem > 0)
					q += 1;
				break;
			case 4:
				if (a * 2 > unit || (a * 2 == unit && (q % 2) != 0))
					q += sg;
				break;
			default: break;
			}
			if (q != 0 && cut >= 39)
				return math_overflow(c, n, np);
			z = q * unit;
		}
		if (!fits_native(z, np))
			return math_overflow(c, n, np);
		out->i[r] = (int64_t)z;
	}
	return 0;
}

enum { P64 = 18 << 2 };

static const struct scalar_def fns[] = {
    {"toDecimal", fn_to_decimal, P64 | XDEC_NULL, false},
    {"multiplyDecimal", fn_mul_div, 0, false},
    {"divideDecimal", fn_mul_div, 1, false},
};

bool xfn_decimal(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	return scalar_dispatch(fns, SN_ARRAY_LEN(fns), c, n, out, rc);
}

int xdec_float(struct xctx *c, struct vec *v)
{
	if (v->t != SN_XT_DECIMAL)
		return 0;
	struct vec o;
	unsigned s = xdec_scale(v);
	if (vec_make(c, &o, SN_XT_FLOAT, v->nullable, v->n))
		return c->rc;
	for (size_t r = 0; r < v->n; r++) {
		o.f[r] = xdec_to_double(v->i[r], s);
		if (o.nulls)
			o.nulls[r] = vec_null(v, r);
	}
	*v = o;
	return 0;
}

/* ---- comparisons and branches --------------------------------------------------------- */

int xdec_cmp_at(const struct vec *a, const struct vec *b, size_t r)
{
	if (a->f || b->f) { /* with a Float64: as Float64, as ClickHouse compares them */
		double x = a->f			   ? a->f[r]
			   : a->t == SN_XT_DECIMAL ? xdec_to_double(a->i[r], xdec_scale(a))
						   : num_at(a, r);
		double y = b->f			   ? b->f[r]
			   : b->t == SN_XT_DECIMAL ? xdec_to_double(b->i[r], xdec_scale(b))
						   : num_at(b, r);
		return x < y ? -1 : x > y;
	}
	unsigned sa = a->t == SN_XT_DECIMAL ? xdec_scale(a) : 0;
	unsigned sb = b->t == SN_XT_DECIMAL ? xdec_scale(b) : 0;
	__int128 x = wide_at(a, r), y = wide_at(b, r);
	if (sa < sb)
		x *= xdec_p10[sb - sa];
	else
		y *= xdec_p10[sa - sb];
	return x < y ? -1 : x > y;
}

bool xdec_comparable(uint8_t a, uint8_t b)
{
	return (a == SN_XT_DECIMAL && (b == SN_XT_DECIMAL || is_numeric(b))) ||
	       (b == SN_XT_DECIMAL && is_numeric(a));
}

int xdec_rescale(struct xctx *c, const node_t *n, struct vec *v, const char *ct)
{
	unsigned p, s;
	ct_ps(ct, &p, &s);
	if (v->t == SN_XT_DECIMAL && v->ct == ct)
		return 0;
	struct vec o;
	if (v->t == SN_XT_NULL)
		return 0;
	if (xdec_convert(c, n, v, p, s, XDEC_ERROR, &o))
		return c->rc;
	*v = o;
	return 0;
}

int xdec_common(struct xctx *c, const node_t *n, struct vec *v, size_t nv, const char **ct)
{
	unsigned np = 0, s = 0;
	bool any = false;
	for (size_t k = 0; k < nv; k++) {
		if (v[k].t == SN_XT_DECIMAL) {
			unsigned p = native_prec(xdec_prec(&v[k])), sk = xdec_scale(&v[k]);
			np = p > np ? p : np;
			s = sk > s ? sk : s;
			any = true;
		} else if (v[k].t != SN_XT_NULL && !is_intlike(v[k].t)) {
			char tb[48];
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function '%s': its branches have no common type (Decimal "
				     "and %s)",
				     n->name,
				     v[k].ct ? v[k].ct
					     : sn_exec_type_name(v[k].t, false, tb, sizeof(tb)));
		}
	}
	if (!any)
		return xfail(c, n, SN_ERR_INTERNAL, "QueryError", "no Decimal branch");
	/* An integer branch widens to Decimal64 at least (ClickHouse's
	 * supertype of Int64 and Decimal(P, S)). */
	for (size_t k = 0; k < nv; k++)
		if (is_intlike(v[k].t) && np < 18)
			np = 18;
	*ct = xdec_ct(np, s);
	for (size_t k = 0; k < nv; k++)
		if (xdec_rescale(c, n, &v[k], *ct))
			return c->rc;
	return 0;
}
