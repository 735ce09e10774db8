/*
 * fn_math.c — the executor's math, bit, geo and reinterpretation functions with ClickHouse's
 * semantics (spec §7.3) that fn_scalar.c does not carry: trigonometry, degrees/radians, erf,
 * atan2/hypot, max2/min2, moduloOrZero/positiveModulo, gcd/lcm, factorial, negate,
 * bitNot/bitCount/bitAnd/bitOr/bitXor/bitTest/bitShift*, width_bucket, roundDown, the round*
 * families of PostHog's UI, great-circle distances, geohashes, reinterpretAs*, toNullable,
 * sortableSemVer, accurateCast/accurateCastOrNull (to Decimal types through decimal.c, which
 * also has toDecimal, multiplyDecimal and divideDecimal).
 *
 * The table at the bottom maps names to handlers (fn_common.h's pattern);
 * eval.c asks xfn_math after xfn_scalar. Handlers follow fn_scalar.c's
 * conventions: NULL in, NULL out (out_for); a wrong argument type is a
 * QueryError naming the function and the argument; results in the batch
 * arena. The exceptions: toNullable (its whole point is the type) and
 * sortableSemVer, which is PostHog's expression over assumeNotNull(v), so
 * a NULL version reads as '' and gives [NULL] like any invalid one.
 *
 * Integer widths. The executor keeps every integer as Int64 or UInt64,
 * where ClickHouse types a literal by its value (1 is UInt8, -1 Int8) and
 * narrower functions return narrower types. Most functions here do not
 * care; the ones that look at bytes do. bitNot and bitCount give a
 * constant integer argument ClickHouse's literal type (bitNot(1) = 254,
 * bitCount(-1) = 8) and take any other integer at the executor's 64 bits
 * (documented in docs/HOGQL.md). reinterpretAs* is held to "exact or
 * refused", as sipHash64 is in fn_scalar.c: ClickHouse copies
 * min(source width, target width) bytes and zero-fills the rest, so a
 * non-negative value, a String, a Float64, a UInt64 and a constant give
 * ClickHouse's bytes whatever its source width was, and a negative value
 * whose source width is unknown is exact only when the target is no wider
 * than the narrowest integer that holds it (its low bytes are then the
 * same in every width); other rows are a NotImplementedError. There is no
 * Float32 and no 128/256-bit integer in the executor, so those targets
 * stay refused.
 *
 * greatCircleDistance and geoDistance are ClickHouse's approximation
 * (cosine and arcsine look-up tables with linear interpolation, a tangent
 * plane below 13 degrees of longitude), rebuilt from its description so
 * the answers agree to the last bit with today's Float64 version: the
 * tables are filled once per process (pthread_once) and read-only after.
 * Float-to-index conversions follow x86-64's (what ClickHouse's scalar
 * code does for out-of-range or NaN arguments) without C's undefined
 * behaviour.
 *
 * Rejected alternative: exact haversine/Vincenty distances. More precise,
 * but PostHog users compare numbers with ClickHouse's, and the tables
 * cost 30 KiB once.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "exec/fn_common.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Bytes of the narrowest signed integer type holding x (x < 0). */
static unsigned neg_width(int64_t x)
{
	return x >= INT8_MIN ? 1 : x >= INT16_MIN ? 2 : x >= INT32_MIN ? 4 : 8;
}

/* ClickHouse's type of integer argument k of n: its width in bytes and
 * signedness. A constant gets its literal type (the narrowest UInt for a
 * non-negative value, Int for a negative one); BOOL is UInt8; anything
 * else the executor's 64 bits. */
static unsigned int_width(const node_t *n, size_t k, const struct vec *v, bool *is_signed)
{
	const node_t *a = n->list.items[k];
	*is_signed = v->t == SN_XT_INT;
	if (v->t == SN_XT_BOOL) {
		*is_signed = false;
		return 1;
	}
	if (a->kind != SN_HQ_CONSTANT || a->ctype != SN_HQC_INT)
		return 8;
	int64_t x = a->ival;
	*is_signed = x < 0;
	if (x < 0)
		return neg_width(x);
	return x <= UINT8_MAX ? 1 : x <= UINT16_MAX ? 2 : x <= UINT32_MAX ? 4 : 8;
}

static uint64_t width_mask(unsigned w)
{
	return w >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * w)) - 1;
}

/* NaN as ClickHouse prints it (the sign of a NaN is not shown). */
static double unsigned_nan(double x)
{
	return isnan(x) ? NAN : x;
}

/* ---- trigonometry and friends ----------------------------------------------------------- */

enum { T_SIN, T_COS, T_TAN, T_ASIN, T_ACOS, T_ATAN, T_DEGREES, T_RADIANS, T_ERF };

/* One-argument Float64 functions. */
static int fn_trig(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_num(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_FLOAT, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		double x = num_at(&v, r);
		switch (op) {
		case T_SIN: x = sin(x); break;
		case T_COS: x = cos(x); break;
		case T_TAN: x = tan(x); break;
		case T_ASIN: x = asin(x); break;
		case T_ACOS: x = acos(x); break;
		case T_ATAN: x = atan(x); break;
		case T_DEGREES: x = x * (180 / M_PI); break;
		case T_RADIANS: x = x * (M_PI / 180); break;
		default: x = erf(x); break;
		}
		out->f[r] = unsigned_nan(x);
	}
	return 0;
}

/* atan2(y, x) (op 0) and hypot(x, y) (op 1): Float64. */
static int fn_trig2(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_num(c, n, &v[0], 0) || need_num(c, n, &v[1], 1) ||
	    out_for(c, out, SN_XT_FLOAT, v, 2, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		if (!vec_null(out, r)) {
			double a = num_at(&v[0], r), b = num_at(&v[1], r);
			out->f[r] = unsigned_nan(op ? hypot(a, b) : atan2(a, b));
		}
	return 0;
}

/* ---- integers ----------------------------------------------------------------------------- */

/* factorial(n): UInt64; 1 for n <= 0, an error past 20 (UInt64's limit). */
static int fn_factorial(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_int(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_UINT, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t x = v.i[r];
		bool big = v.t == SN_XT_UINT ? (uint64_t)x > 20 : x > 20;
		if (big)
			return xfail(
			    c, n, SN_ERR_INVALID, "QueryError",
			    "The maximum value for the input argument of function %s is 20",
			    n->name);
		uint64_t fact = 1; /* at most 20 steps; 20! fits UInt64 */
		for (int64_t k = 2; k <= x; k++)
			fact *= (uint64_t)k;
		out->i[r] = (int64_t)fact;
	}
	return 0;
}

/* negate(x): -x; integers become Int64 (wrapping, as ClickHouse's do). */
static int fn_negate(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (v.t == SN_XT_DECIMAL)
		return xdec_unary(c, n, 6, &v, NULL, out);
	if (need_num(c, n, &v, 0) ||
	    out_for(c, out, v.t == SN_XT_FLOAT ? SN_XT_FLOAT : SN_XT_INT, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		if (out->f)
			out->f[r] = -v.f[r];
		else
			out->i[r] = (int64_t)(0 - (uint64_t)v.i[r]);
	}
	return 0;
}

/* bitNot (op 0) and bitCount (op 1) of integers in ClickHouse's width
 * (int_width); bitCount also counts a Float64's bits. */
static int fn_bits1(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v;
	bool done, sgn;
	if (eval_args(c, n, 1, 1, &v) || (op == 0 ? need_int(c, n, &v, 0) : need_num(c, n, &v, 0)))
		return c->rc;
	unsigned w = v.t == SN_XT_FLOAT ? 8 : int_width(n, 0, &v, &sgn);
	if (v.t == SN_XT_FLOAT)
		sgn = false;
	uint8_t t = op == 0 && sgn ? SN_XT_INT : SN_XT_UINT;
	if (out_for(c, out, t, &v, 1, &done) || done)
		return c->rc;
	uint64_t mask = width_mask(w);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		uint64_t x;
		if (v.f)
			memcpy(&x, &v.f[r], sizeof(x));
		else
			x = (uint64_t)v.i[r];
		if (op == 1)
			out->i[r] = __builtin_popcountll(x & mask);
		else /* a signed result keeps its sign bits: ~x is the same in every width */
			out->i[r] = (int64_t)(sgn ? ~x : ~x & mask);
	}
	return 0;
}

/* bitAnd (op 0), bitOr (1), bitXor (2) in ClickHouse's result type: the
 * wider of the two (int_width), signed when either is, so an unsigned
 * operand that does not fit the signed type wraps (bitAnd(-1, 255) is
 * Int8: -1). */
static int fn_bits2(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done, sa, sb;
	if (eval_args(c, n, 2, 2, v) || need_int(c, n, &v[0], 0) || need_int(c, n, &v[1], 1))
		return c->rc;
	unsigned wa = int_width(n, 0, &v[0], &sa), wb = int_width(n, 1, &v[1], &sb);
	unsigned w = wa > wb ? wa : wb;
	bool sgn = sa || sb;
	if (out_for(c, out, sgn ? SN_XT_INT : SN_XT_UINT, v, 2, &done) || done)
		return c->rc;
	uint64_t mask = width_mask(w);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		uint64_t a = (uint64_t)v[0].i[r], b = (uint64_t)v[1].i[r];
		uint64_t x = (op == 0 ? a & b : op == 1 ? a | b : a ^ b) & mask;
		if (sgn && w < 8 && x >> (8 * w - 1) & 1)
			x |= ~mask; /* sign-extend from the result's width */
		out->i[r] = (int64_t)x;
	}
	return 0;
}

/* A Float64 as ClickHouse's Int64 conversion gives it on x86-64 (the
 * minimum when out of range or NaN). */
static int64_t float_to_int64(double x)
{
	return x >= -9223372036854775808.0 && x < 9223372036854775808.0 ? (int64_t)x : INT64_MIN;
}

/* bitTest(a, i): bit i of a (floats truncated to Int64), UInt8; i past a's
 * width (ClickHouse's literal type for a constant) is an error. */
static int fn_bit_test(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	bool done, sgn = true;
	if (eval_args(c, n, 2, 2, v) || need_num(c, n, &v[0], 0) || need_num(c, n, &v[1], 1) ||
	    out_for(c, out, SN_XT_BOOL, v, 2, &done) || done)
		return c->rc;
	unsigned w = v[0].t == SN_XT_FLOAT ? 8 : int_width(n, 0, &v[0], &sgn);
	int64_t max_pos = 8 * (int64_t)w - 1;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t a = v[0].f ? float_to_int64(v[0].f[r]) : v[0].i[r];
		int64_t b = v[1].f ? float_to_int64(v[1].f[r]) : v[1].i[r];
		bool b_big = v[1].t == SN_XT_UINT && b < 0; /* a UInt64 above Int64's range */
		if (b_big || b < 0 || b > max_pos) {
			char num[32];
			if (sgn)
				snprintf(num, sizeof(num), "%" PRId64, a);
			else
				snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)a);
			return xfail(
			    c, n, SN_ERR_INVALID, "QueryError",
			    "The bit position argument needs to a positive value and less or "
			    "equal to %" PRId64 " for integer %s",
			    max_pos, num);
		}
		out->i[r] = (int64_t)((uint64_t)a >> b & 1);
	}
	return 0;
}

/* bitShiftLeft (op 0), bitShiftRight (op 1) in ClickHouse's result type
 * (as bitAnd's). Releases agree for shifts up to a's width: below it the
 * bits move within the result type; by exactly the width a narrow type
 * (promoted to int) gives 0 (or -1 shifting a negative right). Past the
 * width releases disagree (24.7 made it an error, others give 0), and a
 * full-width shift of a 32/64-bit type is undefined in its C++ (x86
 * leaves a unchanged): those rows are refused. */
static int fn_shift(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done, sa, sb;
	if (eval_args(c, n, 2, 2, v) || need_int(c, n, &v[0], 0) || need_int(c, n, &v[1], 1))
		return c->rc;
	unsigned wa = int_width(n, 0, &v[0], &sa), wb = int_width(n, 1, &v[1], &sb);
	unsigned w = wa > wb ? wa : wb;
	bool sgn = sa || sb;
	if (out_for(c, out, sgn ? SN_XT_INT : SN_XT_UINT, v, 2, &done) || done)
		return c->rc;
	uint64_t mask = width_mask(w);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t b = v[1].i[r];
		bool b_big = v[1].t == SN_XT_UINT && b < 0;
		if (!b_big && sb && b < 0)
			return xfail(
			    c, n, SN_ERR_INVALID, "QueryError",
			    "The number of shift positions needs to be a non-negative value");
		if (b_big || b > 8 * (int64_t)wa || (b == 8 * (int64_t)w && w >= 4)) {
			char what[200];
			snprintf(what, sizeof(what),
				 "%s by %" PRId64 " bits of a %u-byte value (ClickHouse releases "
				 "differ, or its result is undefined)",
				 n->name, b, wa);
			return xunsupported(c, n, what);
		}
		uint64_t x = (uint64_t)v[0].i[r] & mask; /* a in the result type */
		if (sgn && w < 8 && x >> (8 * w - 1) & 1)
			x |= ~mask;
		if (op == 0)
			x = b >= 64 ? 0 : x << b;
		else if (sgn && (int64_t)x < 0)
			x = b >= 64 ? UINT64_MAX : ~(~x >> b); /* arithmetic */
		else
			x = b >= 64 ? 0 : x >> b;
		x &= mask;
		if (sgn && w < 8 && x >> (8 * w - 1) & 1)
			x |= ~mask;
		out->i[r] = (int64_t)x;
	}
	return 0;
}

/* max2 (op 0), min2 (op 1): Float64, ClickHouse's a > b ? a : b (a < b). */
static int fn_max2(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_num(c, n, &v[0], 0) || need_num(c, n, &v[1], 1) ||
	    out_for(c, out, SN_XT_FLOAT, v, 2, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++)
		if (!vec_null(out, r)) {
			double a = num_at(&v[0], r), b = num_at(&v[1], r);
			out->f[r] = unsigned_nan(op ? (a < b ? a : b) : (a > b ? a : b));
		}
	return 0;
}

/* The remainder of a / b truncated toward zero (sign of a), computed on
 * magnitudes as ClickHouse does, so no operand pair overflows; b != 0. */
static int64_t rem_int(int64_t a, bool ua, int64_t b, bool ub)
{
	bool an = !ua && a < 0, bn = !ub && b < 0;
	uint64_t ma = an ? 0 - (uint64_t)a : (uint64_t)a;
	uint64_t mb = bn ? 0 - (uint64_t)b : (uint64_t)b;
	uint64_t m = ma % mb;
	return (int64_t)(an ? 0 - m : m);
}

/* The smallest value of argument k's signed type (int_width). */
static int64_t signed_min(unsigned w)
{
	return w >= 8 ? INT64_MIN : -(int64_t)((uint64_t)1 << (8 * w - 1));
}

/* moduloOrZero (op 0): a % b, 0 where integer division would trap (by 0,
 * the minimum by -1); positiveModulo (op 1): the remainder made
 * non-negative by adding |b|. Floats are ClickHouse's a - trunc(a / b) * b
 * (NaN by 0). */
static int fn_modulo(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done, sa = true, sb = true;
	if (eval_args(c, n, 2, 2, v) || need_num(c, n, &v[0], 0) || need_num(c, n, &v[1], 1))
		return c->rc;
	bool flt = v[0].t == SN_XT_FLOAT || v[1].t == SN_XT_FLOAT;
	unsigned wa = flt ? 8 : int_width(n, 0, &v[0], &sa);
	unsigned wb = flt ? 8 : int_width(n, 1, &v[1], &sb);
	bool ua = v[0].t == SN_XT_UINT || v[0].t == SN_XT_BOOL;
	bool ub = v[1].t == SN_XT_UINT || v[1].t == SN_XT_BOOL;
	uint8_t t = flt ? SN_XT_FLOAT : op == 1 || ua ? SN_XT_UINT : SN_XT_INT;
	if (out_for(c, out, t, v, 2, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		if (flt) {
			double a = num_at(&v[0], r), b = num_at(&v[1], r), x = a - trunc(a / b) * b;
			if (op == 1 && x < 0)
				x += fabs(b);
			out->f[r] = unsigned_nan(x);
			continue;
		}
		int64_t a = v[0].i[r], b = v[1].i[r];
		bool trap_min = sa && sb && a == signed_min(wa) && b == -1;
		if (b == 0 || trap_min) {
			if (op == 0) {
				out->i[r] = 0;
				continue;
			}
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     b == 0 ? "Division by zero"
					    : "Division of minimal signed number by minus one");
		}
		int64_t x = rem_int(a, ua, b, ub);
		if (op == 1 && x < 0) {
			if (sb && b == signed_min(wb))
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Division by the most negative number");
			x = (int64_t)((uint64_t)x + (b < 0 && !ub ? 0 - (uint64_t)b : (uint64_t)b));
		}
		out->i[r] = x;
	}
	return 0;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;
		a = b;
		b = t;
	}
	return a;
}

/* gcd (op 0), lcm (op 1) of integers in ClickHouse's result type: the
 * next width up from the wider argument (at most 64 bits), signed when
 * either is. A zero argument, the minimum by -1, and (signed results) an
 * argument at the type's minimum or maximum are ClickHouse's errors; lcm
 * wraps in that width. */
static int fn_gcd(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[2];
	bool done, sa, sb;
	if (eval_args(c, n, 2, 2, v) || need_int(c, n, &v[0], 0) || need_int(c, n, &v[1], 1))
		return c->rc;
	unsigned wa = int_width(n, 0, &v[0], &sa), wb = int_width(n, 1, &v[1], &sb);
	unsigned w = wa > wb ? wa : wb;
	w = w < 8 ? 2 * w : 8;
	bool sgn = sa || sb;
	if (out_for(c, out, sgn ? SN_XT_INT : SN_XT_UINT, v, 2, &done) || done)
		return c->rc;
	uint64_t mask = width_mask(w);
	int64_t lo = signed_min(w), hi = (int64_t)(mask >> 1);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t a = v[0].i[r], b = v[1].i[r];
		if (a == 0 || b == 0)
			return xfail(c, n, SN_ERR_INVALID, "QueryError", "Division by zero");
		if (sa && sb &&
		    ((a == signed_min(wa) && b == -1) || (b == signed_min(wb) && a == -1)))
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Division of minimal signed number by minus one");
		uint64_t ua = (uint64_t)a & mask, ub = (uint64_t)b & mask;
		if (sgn) { /* the arguments as the signed result type */
			if (w < 8 && ua >> (8 * w - 1) & 1)
				ua |= ~mask;
			if (w < 8 && ub >> (8 * w - 1) & 1)
				ub |= ~mask;
			int64_t as = (int64_t)ua, bs = (int64_t)ub;
			if (as == lo || as == hi || bs == lo || bs == hi)
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Intermediate result overflow (signed a = %" PRId64
					     ", signed b = %" PRId64 ", min = %" PRId64
					     ", max = %" PRId64 ")",
					     as, bs, lo, hi);
			ua = as < 0 ? 0 - ua : ua; /* magnitudes */
			ub = bs < 0 ? 0 - ub : ub;
		}
		uint64_t g = gcd_u64(ua, ub), x = op ? (ua / g * ub) & mask : g;
		if (sgn && w < 8 && x >> (8 * w - 1) & 1)
			x |= ~mask;
		out->i[r] = (int64_t)x;
	}
	return 0;
}

/* ---- buckets and PostHog's round* ------------------------------------------------------ */

/* width_bucket(operand, low, high, count): the 1-based bucket of count
 * equal ones over [low, high), 0 below, count + 1 at or above high. */
static int fn_width_bucket(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[4];
	bool done;
	if (eval_args(c, n, 4, 4, v))
		return c->rc;
	for (size_t k = 0; k < 3; k++)
		if (need_num(c, n, &v[k], k))
			return c->rc;
	if (need_int(c, n, &v[3], 3) || out_for(c, out, SN_XT_UINT, v, 4, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		double x = num_at(&v[0], r), lo = num_at(&v[1], r), hi = num_at(&v[2], r);
		int64_t cnt = v[3].i[r];
		if (v[3].t == SN_XT_INT && cnt < 0)
			return xfail(
			    c, n, SN_ERR_INVALID, "QueryError",
			    "The last argument of function %s must be UInt8, UInt16, UInt32 "
			    "or UInt64, found Int64",
			    n->name);
		if (cnt == 0)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Last argument (count) for function %s cannot be 0.", n->name);
		if (isnan(x) || isnan(lo) || isnan(hi))
			return xfail(
			    c, n, SN_ERR_INVALID, "QueryError",
			    "The first three arguments (operand, low, high) cannot be NaN in "
			    "function %s",
			    n->name);
		if (!isfinite(lo) || !isfinite(hi))
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "The second and third arguments (low, high) cannot be Inf "
				     "function %s",
				     n->name);
		uint64_t count = (uint64_t)cnt;
		if (x < lo || lo >= hi)
			out->i[r] = 0;
		else if (x >= hi)
			out->i[r] = (int64_t)(count + 1);
		else
			out->i[r] = (int64_t)(uint64_t)((double)count * ((x - lo) / (hi - lo)) + 1);
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_f64(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* roundDown(x, [b1, b2, ...]): the largest boundary not above x, the
 * smallest when x is below all (NaN falls to the largest, as ClickHouse's
 * `x < b` search gives); the boundaries are a constant array of numbers,
 * sorted and deduplicated once, in the common type of x and them. */
static int fn_round_down(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[2];
	bool done;
	if (eval_args(c, n, 2, 2, v) || need_num(c, n, &v[0], 0))
		return c->rc;
	if (v[1].t != SN_XT_ARRAY)
		return bad_type(c, n, &v[1], 1);
	if (!xconst_tree(n->list.items[1], false))
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Second argument of function %s must be constant array.", n->name);
	struct xait it;
	struct sn_exec_value e;
	size_t nb = c->n ? xarr_count(v[1].s[0]) : 0;
	if (c->n && nb == 0)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Empty array is illegal in function %s", n->name);
	bool flt = v[0].t == SN_XT_FLOAT, uns = v[0].t == SN_XT_UINT || v[0].t == SN_XT_BOOL;
	int64_t *bi = xalloc(c, c->ba, (nb ? nb : 1) * sizeof(*bi));
	double *bf = xalloc(c, c->ba, (nb ? nb : 1) * sizeof(*bf));
	if (!bi || !bf)
		return c->rc;
	size_t k = 0;
	if (c->n && xait_init(&it, v[1].s[0]))
		while (k < nb && xait_next(&it, &e)) {
			if (e.null || !is_numeric(e.type))
				return xfail(
				    c, n, SN_ERR_INVALID, "QueryError",
				    "Elements of array of the second argument of function %s "
				    "must be numeric type.",
				    n->name);
			flt |= e.type == SN_XT_FLOAT;
			uns &= e.type == SN_XT_UINT || e.type == SN_XT_BOOL;
			bf[k] = e.type == SN_XT_FLOAT  ? e.f
				: e.type == SN_XT_UINT ? (double)(uint64_t)e.i
						       : (double)e.i;
			bi[k++] = e.i;
		}
	nb = k;
	if (out_for(c, out, flt ? SN_XT_FLOAT : uns ? SN_XT_UINT : SN_XT_INT, v, 1, &done) || done)
		return c->rc;
	if (flt)
		qsort(bf, nb, sizeof(*bf), cmp_f64);
	else
		qsort(bi, nb, sizeof(*bi), uns ? cmp_u64 : cmp_i64);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		size_t lo = 1, hi = nb; /* first boundary above x, searched in [1, nb) */
		if (flt) {
			double x = num_at(&v[0], r);
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				if (x < bf[mid])
					hi = mid;
				else
					lo = mid + 1;
			}
			out->f[r] = bf[lo - 1];
		} else {
			int64_t x = v[0].i[r];
			while (lo < hi) {
				size_t mid = lo + (hi - lo) / 2;
				bool below = uns ? (uint64_t)x < (uint64_t)bi[mid] : x < bi[mid];
				if (below)
					hi = mid;
				else
					lo = mid + 1;
			}
			out->i[r] = bi[lo - 1];
		}
	}
	return 0;
}

/* roundAge (op 0) and roundDuration (op 1): the lower end of the range x
 * falls in; NaN falls in the last (ClickHouse compares with !(x < c)). */
static int fn_round_set(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	static const double age[] = {1, 18, 25, 35, 45, 55};
	static const int64_t age_v[] = {0, 17, 18, 25, 35, 45, 55};
	static const double dur[] = {1,	  10,	30,   60,   120,  180,	 240,  300,
				     600, 1200, 1800, 3600, 7200, 18000, 36000};
	static const int64_t dur_v[] = {0,   1,	  10,	30,   60,   120,  180,	 240,
					300, 600, 1200, 1800, 3600, 7200, 18000, 36000};
	const double *lim = op ? dur : age;
	const int64_t *val = op ? dur_v : age_v;
	size_t nlim = op ? SN_ARRAY_LEN(dur) : SN_ARRAY_LEN(age);
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_num(c, n, &v, 0) ||
	    out_for(c, out, SN_XT_UINT, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		size_t k = 0;
		if (v.f) {
			while (k < nlim && !(v.f[r] < lim[k]))
				k++;
		} else if (v.t == SN_XT_UINT && v.i[r] < 0) {
			k = nlim; /* above Int64's range */
		} else {
			while (k < nlim && v.i[r] >= (int64_t)lim[k])
				k++;
		}
		out->i[r] = val[k];
	}
	return 0;
}

/* roundToExp2: integers down to a power of two (0 for x <= 0); floats
 * keep sign and exponent, the mantissa cleared. */
static int fn_round_exp2(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v) || need_num(c, n, &v, 0) ||
	    out_for(c, out, v.t == SN_XT_BOOL ? SN_XT_UINT : v.t, &v, 1, &done) || done)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		if (v.f) {
			uint64_t b;
			memcpy(&b, &v.f[r], sizeof(b));
			b &= ~(((uint64_t)1 << 52) - 1);
			memcpy(&out->f[r], &b, sizeof(b));
			continue;
		}
		uint64_t x = (uint64_t)v.i[r];
		if (v.t != SN_XT_UINT && v.i[r] <= 0)
			x = 0;
		out->i[r] = x ? (int64_t)((uint64_t)1 << (63 - __builtin_clzll(x))) : 0;
	}
	return 0;
}

/* ---- distances ------------------------------------------------------------------------------ */

#define COS_LUT	   1024
#define ASIN_LUT   512
#define METRIC_LUT 1024

static const double EARTH_DIAMETER = 2.0 * 6371007.180918475; /* WGS84 authalic radius, as H3 */

static struct {
	double cos[COS_LUT + 1];
	double asin_sqrt[ASIN_LUT + 1];
	double sphere_m[METRIC_LUT + 1];    /* squared metres per degree of longitude */
	double wgs84[2 * (METRIC_LUT + 1)]; /* squared metres per degree of latitude, longitude */
} geo;
static pthread_once_t geo_once = PTHREAD_ONCE_INIT;

static double sqr(double x)
{
	return x * x;
}

static void geo_init(void)
{
	for (size_t i = 0; i <= COS_LUT; i++)
		geo.cos[i] = cos(2 * M_PI * (double)i / COS_LUT);
	for (size_t i = 0; i <= ASIN_LUT; i++)
		geo.asin_sqrt[i] = asin(sqrt((double)i / ASIN_LUT));
	for (size_t i = 0; i <= METRIC_LUT; i++) {
		double lat = (double)i * (M_PI / METRIC_LUT) - M_PI * 0.5;
		geo.wgs84[2 * i] = sqr(111132.09 - 566.05 * cos(2.0 * lat) + 1.20 * cos(4.0 * lat));
		geo.wgs84[2 * i + 1] =
		    sqr(111415.13 * cos(lat) - 94.55 * cos(3.0 * lat) + 0.12 * cos(5.0 * lat));
		geo.sphere_m[i] = sqr((EARTH_DIAMETER * M_PI / 360) * cos(lat));
	}
}

/* x86-64's double → uint64 conversion (what ClickHouse's index casts do):
 * truncation in range, 0 for NaN and >= 2^64, two's complement of the
 * truncation for negatives, 2^63 below -2^63. */
static uint64_t to_index(double x)
{
	if (x < 9223372036854775808.0) {
		if (x >= -9223372036854775808.0)
			return (uint64_t)(int64_t)x;
		return (uint64_t)1 << 63;
	}
	if (x < 18446744073709551616.0)
		return (uint64_t)(x - 9223372036854775808.0) ^ ((uint64_t)1 << 63);
	return 0;
}

static double deg_diff(double f)
{
	f = fabs(f);
	return f > 180 ? 360 - f : f;
}

static double fast_cos(double x)
{
	double y = fabs(x) * ((double)COS_LUT / M_PI / 2.0);
	uint64_t i = to_index(y);
	y -= (double)i;
	i &= COS_LUT - 1;
	return geo.cos[i] + (geo.cos[i + 1] - geo.cos[i]) * y;
}

static double fast_sin(double x)
{
	double y = fabs(x) * ((double)COS_LUT / M_PI / 2.0);
	uint64_t i = to_index(y);
	y -= (double)i;
	i = (i - COS_LUT / 4) & (COS_LUT - 1); /* sin(x) = cos(x - pi/2) */
	return geo.cos[i] + (geo.cos[i + 1] - geo.cos[i]) * y;
}

static double fast_asin_sqrt(double x)
{
	if (x < 0.122) { /* Taylor series */
		double y = sqrt(x);
		return y + x * y * 0.166666666666666 + x * x * y * 0.075 +
		       x * x * x * y * 0.044642857142857;
	}
	if (x < 0.948) {
		x *= ASIN_LUT;
		uint64_t i = to_index(x);
		return geo.asin_sqrt[i] +
		       (geo.asin_sqrt[i + 1] - geo.asin_sqrt[i]) * (x - (double)i);
	}
	return asin(sqrt(x));
}

/* Metres between two points in degrees, on the sphere (wgs84 false) or
 * the WGS-84 ellipsoid. */
static double geo_distance(double lon1, double lat1, double lon2, double lat2, bool wgs84)
{
	double dlat = deg_diff(lat1 - lat2), dlon = deg_diff(lon1 - lon2);
	if (dlon < 13) {
		/* close: a tangent plane whose metric is interpolated at the mid-latitude */
		double mid = (lat1 + lat2 + 180) * METRIC_LUT / 360;
		uint64_t i = to_index(mid) & (METRIC_LUT - 1);
		double frac = mid - (double)i, k_lat, k_lon;
		if (wgs84) {
			k_lat =
			    geo.wgs84[i * 2] + (geo.wgs84[(i + 1) * 2] - geo.wgs84[i * 2]) * frac;
			k_lon = geo.wgs84[i * 2 + 1] +
				(geo.wgs84[(i + 1) * 2 + 1] - geo.wgs84[i * 2 + 1]) * frac;
		} else {
			k_lat = sqr(EARTH_DIAMETER * M_PI / 360.0);
			k_lon = geo.sphere_m[i] + (geo.sphere_m[i + 1] - geo.sphere_m[i]) * frac;
		}
		return sqrt(k_lat * dlat * dlat + k_lon * dlon * dlon);
	}
	/* far: haversine */
	double a = sqr(fast_sin(dlat * (M_PI / 360.0))) + fast_cos(lat1 * (M_PI / 180.0)) *
							      fast_cos(lat2 * (M_PI / 180.0)) *
							      sqr(fast_sin(dlon * (M_PI / 360.0)));
	return EARTH_DIAMETER * fast_asin_sqrt(a);
}

/* greatCircleDistance (op 0), geoDistance (op 1)(lon1, lat1, lon2, lat2). */
static int fn_geo_distance(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	struct vec v[4];
	bool done;
	if (eval_args(c, n, 4, 4, v))
		return c->rc;
	for (size_t k = 0; k < 4; k++)
		if (need_num(c, n, &v[k], k))
			return c->rc;
	if (out_for(c, out, SN_XT_FLOAT, v, 4, &done) || done)
		return c->rc;
	pthread_once(&geo_once, geo_init);
	for (size_t r = 0; r < c->n; r++)
		if (!vec_null(out, r))
			out->f[r] =
			    unsigned_nan(geo_distance(num_at(&v[0], r), num_at(&v[1], r),
						      num_at(&v[2], r), num_at(&v[3], r), op == 1));
	return 0;
}

/* ---- geohash -------------------------------------------------------------------------------- */

#define GEOHASH_MAX 12

static const char GEOHASH32[] = "0123456789bcdefghjkmnpqrstuvwxyz";

/* The bits of coordinate x over [lo, hi), most significant first. */
static uint64_t geohash_bits(double x, double lo, double hi, unsigned nbits)
{
	uint64_t b = 0;
	for (unsigned i = 0; i < nbits; i++) {
		double mid = (lo + hi) / 2;
		b <<= 1;
		if (x >= mid) {
			b |= 1;
			lo = mid;
		} else {
			hi = mid;
		}
	}
	return b;
}

/* geohashEncode(lon, lat[, precision]): precision 1..12, 12 when absent,
 * 0 or larger (ClickHouse clamps it the same way). */
static int fn_geohash_encode(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v[3];
	bool done;
	if (eval_args(c, n, 2, 3, v))
		return c->rc;
	for (size_t k = 0; k < 2; k++)
		if (v[k].t != SN_XT_FLOAT && v[k].t != SN_XT_NULL)
			return bad_type(c, n, &v[k], k);
	unsigned prec = GEOHASH_MAX;
	if (n->list.n == 3) {
		const node_t *a = n->list.items[2];
		if (need_int(c, n, &v[2], 2))
			return c->rc;
		if (a->kind != SN_HQ_CONSTANT || a->ctype != SN_HQC_INT)
			return xunsupported(c, a, "a non-constant precision in geohashEncode");
		uint64_t p = (uint64_t)a->ival; /* ClickHouse reads it as UInt64 */
		prec = p == 0 || p > GEOHASH_MAX ? GEOHASH_MAX : (unsigned)p;
	}
	if (out_for(c, out, SN_XT_STRING, v, 2, &done) || done)
		return c->rc;
	unsigned nbits = prec * 5, lon_bits = (nbits + 1) / 2, lat_bits = nbits / 2;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		uint64_t lon = geohash_bits(v[0].f[r], -180, 180, lon_bits);
		uint64_t lat = geohash_bits(v[1].f[r], -90, 90, lat_bits);
		uint64_t all = 0; /* interleaved: longitude on the even bits from the top */
		for (unsigned i = 0; i < nbits; i++) {
			bool is_lon = i % 2 == 0;
			unsigned k = i / 2;
			uint64_t bit =
			    is_lon ? lon >> (lon_bits - 1 - k) & 1 : lat >> (lat_bits - 1 - k) & 1;
			all = all << 1 | bit;
		}
		char *o = salloc(c, prec);
		if (!o)
			return c->rc;
		for (unsigned i = 0; i < prec; i++)
			o[i] = GEOHASH32[all >> (5 * (prec - 1 - i)) & 31];
		out->s[r] = (struct sn_str){o, prec};
	}
	return 0;
}

/* The centre of the cell nbits of coordinate bits b select in [lo, hi). */
static double geohash_centre(uint64_t b, unsigned nbits, double lo, double hi)
{
	double mid = (lo + hi) / 2;
	for (unsigned i = 0; i < nbits; i++) {
		if (b >> (nbits - 1 - i) & 1)
			lo = mid;
		else
			hi = mid;
		mid = (lo + hi) / 2;
	}
	return mid;
}

/* geohashDecode(s): Tuple(Float64, Float64), the centre of the cell the
 * first 12 characters name (longitude, latitude); a character outside the
 * alphabet reads as 'z' (ClickHouse's table masks 0xFF to 31), '' as (0, 0). */
static int fn_geohash_decode(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v;
	bool done;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (v.t != SN_XT_STRING && v.t != SN_XT_NULL)
		return bad_type(c, n, &v, 0);
	if (out_for(c, out, SN_XT_TUPLE, &v, 1, &done) || done)
		return c->rc;
	out->ct = "Tuple(Float64, Float64)";
	/* one tuple: u32 count, then two (FLOAT tag, double) */
	const size_t tlen = 4 + 2 * (1 + sizeof(double));
	char *mem = salloc(c, c->n * tlen);
	if (!mem)
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		char *t = mem + r * tlen;
		double lon = 0, lat = 0;
		if (vec_null(out, r))
			continue;
		struct sn_str s = str_at(&v, r);
		unsigned prec = s.len < GEOHASH_MAX ? (unsigned)s.len : GEOHASH_MAX;
		if (prec) {
			unsigned nbits = prec * 5, lon_bits = (nbits + 1) / 2, lat_bits = nbits / 2;
			uint64_t lonb = 0, latb = 0;
			for (unsigned i = 0; i < nbits; i++) {
				const char *at = memchr(GEOHASH32, s.p[i / 5], 32);
				unsigned sym = at && s.p[i / 5] ? (unsigned)(at - GEOHASH32) : 31;
				uint64_t bit = sym >> (4 - i % 5) & 1;
				if (i % 2 == 0)
					lonb = lonb << 1 | bit;
				else
					latb = latb << 1 | bit;
			}
			lon = geohash_centre(lonb, lon_bits, -180, 180);
			lat = geohash_centre(latb, lat_bits, -90, 90);
		}
		uint32_t cnt = 2;
		uint8_t tag = SN_XT_FLOAT;
		memcpy(t, &cnt, 4);
		memcpy(t + 4, &tag, 1);
		memcpy(t + 5, &lon, sizeof(double));
		memcpy(t + 5 + sizeof(double), &tag, 1);
		memcpy(t + 6 + sizeof(double), &lat, sizeof(double));
		out->s[r] = (struct sn_str){t, tlen};
	}
	return 0;
}

/* ---- reinterpretAs* ------------------------------------------------------------------------- */

enum { R_U8, R_U16, R_U32, R_U64, R_I8, R_I16, R_I32, R_I64, R_F64, R_UUID, R_NONE };

static const struct {
	unsigned width;
	uint8_t t;
	bool is_signed;
} RTARGET[] = {
    [R_U8] = {1, SN_XT_UINT, false},   [R_U16] = {2, SN_XT_UINT, false},
    [R_U32] = {4, SN_XT_UINT, false},  [R_U64] = {8, SN_XT_UINT, false},
    [R_I8] = {1, SN_XT_INT, true},     [R_I16] = {2, SN_XT_INT, true},
    [R_I32] = {4, SN_XT_INT, true},    [R_I64] = {8, SN_XT_INT, true},
    [R_F64] = {8, SN_XT_FLOAT, false}, [R_UUID] = {16, SN_XT_UUID, false},
};

static int hexval(char ch)
{
	return ch >= '0' && ch <= '9'	? ch - '0'
	       : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
	       : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
					: -1;
}

/* A UUID's text as ClickHouse's memory holds it: the two 64-bit halves
 * (the first 16 hex digits, then the last 16), each little-endian. */
static bool uuid_halves(struct sn_str s, uint64_t h[2])
{
	h[0] = h[1] = 0;
	unsigned k = 0;
	for (size_t i = 0; i < s.len; i++) {
		if (s.p[i] == '-')
			continue;
		int d = hexval(s.p[i]);
		if (d < 0 || k >= 32)
			return false;
		h[k / 16] = h[k / 16] << 4 | (uint64_t)d;
		k++;
	}
	return k == 32;
}

static uint64_t le_bytes(const char *p, size_t len)
{
	uint64_t x = 0;
	for (size_t i = len; i-- > 0;)
		x = x << 8 | (unsigned char)p[i];
	return x;
}

/* reinterpretAs<target>(x): x's bytes (ClickHouse's memory layout,
 * little-endian) read as the target; op is the R_* target, or R_NONE for
 * the ones the executor cannot represent. */
static int fn_reinterpret(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	if (op == R_NONE) {
		char what[160];
		snprintf(what, sizeof(what),
			 "%s (the executor has no Float32, Int128 or Int256 type)", n->name);
		return xunsupported(c, n, what);
	}
	struct vec v;
	bool done, sgn = false;
	if (eval_args(c, n, 1, 1, &v) || vec_uuid_text(c, &v))
		return c->rc;
	if (v.t == SN_XT_DATETIME) {
		char what[200];
		snprintf(what, sizeof(what),
			 "%s of a DateTime (its bytes differ between DateTime and DateTime64, "
			 "which the executor does not tell apart)",
			 n->name);
		return xunsupported(c, n, what);
	}
	if (!is_numeric(v.t) && !is_text(v.t) && v.t != SN_XT_DATE && v.t != SN_XT_NULL)
		return bad_type(c, n, &v, 0);
	if (v.t == SN_XT_ARRAY || v.t == SN_XT_TUPLE)
		return bad_type(c, n, &v, 0);
	unsigned tw = RTARGET[op].width;
	if (out_for(c, out, RTARGET[op].t, &v, 1, &done) || done)
		return c->rc;
	unsigned sw = 8; /* source width when known */
	if (v.t == SN_XT_INT || v.t == SN_XT_BOOL)
		sw = int_width(n, 0, &v, &sgn);
	bool exact_width = v.t == SN_XT_BOOL || (n->list.items[0]->kind == SN_HQ_CONSTANT &&
						 n->list.items[0]->ctype == SN_HQC_INT);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		uint64_t lo = 0, hi = 0; /* bytes 0..7 and 8..15 */
		if (v.t == SN_XT_STRING) {
			struct sn_str s = str_at(&v, r);
			lo = le_bytes(s.p, s.len < 8 ? s.len : 8);
			if (s.len > 8)
				hi = le_bytes(s.p + 8, s.len < 16 ? s.len - 8 : 8);
		} else if (v.t == SN_XT_UUID) {
			uint64_t h[2];
			if (!uuid_halves(str_at(&v, r), h))
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Cannot parse UUID of function %s", n->name);
			lo = h[0], hi = h[1];
		} else if (v.t == SN_XT_FLOAT) {
			memcpy(&lo, &v.f[r], sizeof(lo));
		} else {
			int64_t x = v.i[r];
			lo = (uint64_t)x;
			bool neg = x < 0 && v.t != SN_XT_UINT;
			if (neg && !exact_width && (tw < 8 ? tw : 8) > neg_width(x)) {
				char what[240];
				snprintf(what, sizeof(what),
					 "%s of the negative value %" PRId64
					 " (ClickHouse's bytes depend on its exact integer width, "
					 "which the executor does not keep)",
					 n->name, x);
				return xunsupported(c, n, what);
			}
			if (exact_width)
				lo &= width_mask(sw);
		}
		if (op == R_UUID) {
			char *o = salloc(c, 36);
			if (!o)
				return c->rc;
			char hex[33];
			snprintf(hex, sizeof(hex), "%016" PRIx64 "%016" PRIx64, lo, hi);
			memcpy(o, hex, 8);
			o[8] = '-';
			memcpy(o + 9, hex + 8, 4);
			o[13] = '-';
			memcpy(o + 14, hex + 12, 4);
			o[18] = '-';
			memcpy(o + 19, hex + 16, 4);
			o[23] = '-';
			memcpy(o + 24, hex + 20, 12);
			out->s[r] = (struct sn_str){o, 36};
			continue;
		}
		uint64_t x = lo & width_mask(tw);
		if (op == R_F64) {
			double f;
			memcpy(&f, &x, sizeof(f));
			out->f[r] = unsigned_nan(f);
		} else if (RTARGET[op].is_signed && tw < 8 && x >> (8 * tw - 1) & 1) {
			out->i[r] = (int64_t)(x | ~width_mask(tw));
		} else {
			out->i[r] = (int64_t)x;
		}
	}
	return 0;
}

/* ---- types and PostHog's own ----------------------------------------------------------------- */

/* toNullable(x): x, its type made Nullable. */
static int fn_to_nullable(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	if (eval_args(c, n, 1, 1, out))
		return c->rc;
	if (out->t == SN_XT_ARRAY || out->t == SN_XT_TUPLE) {
		char tb[48];
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Nested type %s cannot be inside Nullable type",
			     out->ct ? out->ct : sn_exec_type_name(out->t, false, tb, sizeof(tb)));
	}
	if (out->nullable || out->t == SN_XT_NULL)
		return 0;
	uint8_t *nulls = xalloc(c, c->ba, c->n ? c->n : 1);
	if (!nulls)
		return c->rc;
	memset(nulls, 0, c->n ? c->n : 1);
	out->nulls = nulls;
	out->nullable = true;
	return 0;
}

/* RE2's \s: [\t\n\f\r ]. */
static bool re2_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\f' || ch == '\r';
}

/* One version number without leading zeros (0|[1-9][0-9]*) at s[*i]. */
static bool semver_num(const char *s, size_t len, size_t *i, size_t *start, size_t *end)
{
	*start = *i;
	if (*i >= len || s[*i] < '0' || s[*i] > '9')
		return false;
	if (s[(*i)++] != '0')
		while (*i < len && s[*i] >= '0' && s[*i] <= '9')
			(*i)++;
	*end = *i;
	return true;
}

/* Whether s matches PostHog's
 * ^\s*v?((0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*))(?:[-+][^\s]*)?\s*$;
 * the three numbers' spans in num[]. */
static bool semver_match(struct sn_str s, size_t num[3][2])
{
	size_t i = 0;
	while (i < s.len && re2_space(s.p[i]))
		i++;
	if (i < s.len && s.p[i] == 'v')
		i++;
	for (int k = 0; k < 3; k++) {
		if (k && (i >= s.len || s.p[i++] != '.'))
			return false;
		if (!semver_num(s.p, s.len, &i, &num[k][0], &num[k][1]))
			return false;
	}
	if (i < s.len && (s.p[i] == '-' || s.p[i] == '+'))
		while (++i < s.len && !re2_space(s.p[i]))
			;
	while (i < s.len && re2_space(s.p[i]))
		i++;
	return i == s.len;
}

/* sortableSemVer(v): PostHog's
 * arrayMap(x -> toInt64OrNull(x), splitByChar('.', coalesce(nullIf(
 * extract(assumeNotNull(v), <strict X.Y.Z>), ''), '_'))): [X, Y, Z] as
 * Array(Nullable(Int64)) (a number past Int64 is NULL), [NULL] for
 * anything else, NULL included. */
static int fn_semver(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	(void)op;
	struct vec v, e;
	if (eval_args(c, n, 1, 1, &v))
		return c->rc;
	if (v.t != SN_XT_STRING && v.t != SN_XT_NULL)
		return bad_type(c, n, &v, 0);
	uint32_t *off = xalloc(c, c->ba, (c->n + 1) * sizeof(*off));
	if (!off || vec_make(c, &e, SN_XT_INT, true, 3 * c->n))
		return c->rc;
	uint32_t m = 0;
	for (size_t r = 0; r < c->n; r++) {
		off[r] = m;
		size_t num[3][2];
		struct sn_str s = isnul(&v, r) ? (struct sn_str){"", 0} : str_at(&v, r);
		if (!semver_match(s, num)) {
			e.nulls[m++] = 1;
			continue;
		}
		for (int k = 0; k < 3; k++, m++) {
			uint64_t x = 0;
			bool over = false;
			for (size_t i = num[k][0]; i < num[k][1]; i++) {
				unsigned d = (unsigned)(s.p[i] - '0');
				over |= x > ((uint64_t)INT64_MAX - d) / 10;
				x = over ? 0 : x * 10 + d;
			}
			if (over)
				e.nulls[m] = 1;
			else
				e.i[m] = (int64_t)x;
		}
	}
	off[c->n] = m;
	return xarr_build(c, &e, off, c->n, out);
}

/* ---- accurateCast -----------------------------------------------------------------------------
 */

/* accurateCast(x, 'T') (op 0) and accurateCastOrNull(x, 'T') (op 1): x as
 * T when the value fits T exactly, else a QueryError (op 0) or NULL (op 1).
 * T is a constant; Nullable(T) makes the result nullable and, as in
 * ClickHouse, turns an unparsable String into NULL even for accurateCast.
 *
 * Exactly as ClickHouse's accurate conversions: an integer must be in T's
 * range; a Float64 must be finite and whole for an integer T, and an
 * integer must survive the round trip through a Float64 for Float64 (2^53
 * + 1 fails); a String is read as an integer (optional sign, digits only)
 * or a float and must then fit. A Date or DateTime into an integer is
 * ClickHouse's plain conversion (its day number or seconds, wrapped to a
 * narrow T), which accurateCast does not check either. String is toString;
 * UUID reads text or takes a UUID; Date and DateTime take a Date or
 * DateTime.
 *
 * Decimal(P, S) and its spellings convert as decimal.c's xdec_convert (a
 * failed row is NULL for accurateCastOrNull or a Nullable T, else the
 * error). Refused with a NotImplementedError naming the type: Float32 (no Float32
 * type: ClickHouse prints Float32 values with fewer digits), Bool (the
 * result would print 1/0 where ClickHouse's Bool prints true/false), other
 * types, and numbers or text into Date or DateTime (ClickHouse's rules for
 * those depend on the value's size and on settings). */
enum {
	AC_INT8 = 1,
	AC_INT16,
	AC_INT32,
	AC_INT64,
	AC_UINT8,
	AC_UINT16,
	AC_UINT32,
	AC_UINT64,
	AC_FLOAT64,
	AC_STRING,
	AC_DATE,
	AC_DATETIME,
	AC_UUID,
};

static const struct {
	const char *name;
	int t;
	int64_t lo;
	uint64_t hi;
} cast_types[] = {
    {"Int8", AC_INT8, INT8_MIN, INT8_MAX},
    {"Int16", AC_INT16, INT16_MIN, INT16_MAX},
    {"Int32", AC_INT32, INT32_MIN, INT32_MAX},
    {"Int64", AC_INT64, INT64_MIN, INT64_MAX},
    {"UInt8", AC_UINT8, 0, UINT8_MAX},
    {"UInt16", AC_UINT16, 0, UINT16_MAX},
    {"UInt32", AC_UINT32, 0, UINT32_MAX},
    {"UInt64", AC_UINT64, 0, UINT64_MAX},
    {"Float64", AC_FLOAT64, 0, 0},
    {"String", AC_STRING, 0, 0},
    {"Date", AC_DATE, 0, 0},
    {"DateTime", AC_DATETIME, 0, 0},
    {"UUID", AC_UUID, 0, 0},
};

/* An integer as sign and magnitude, so every Int64 and UInt64 compares
 * exactly against every range. */
struct wide {
	bool neg;
	uint64_t mag;
};

static bool wide_fits(struct wide w, int64_t lo, uint64_t hi)
{
	if (!w.neg)
		return w.mag <= hi;
	return w.mag == 0 || (lo < 0 && w.mag <= (uint64_t)0 - (uint64_t)lo);
}

static int64_t wide_val(struct wide w)
{
	return w.neg ? (int64_t)((uint64_t)0 - w.mag) : (int64_t)w.mag;
}

/* ClickHouse's readIntText, whole string: an optional sign, then digits. */
static bool wide_parse(struct sn_str s, struct wide *w)
{
	size_t i = 0;
	w->neg = false;
	w->mag = 0;
	if (i < s.len && (s.p[i] == '+' || s.p[i] == '-'))
		w->neg = s.p[i++] == '-';
	if (i == s.len)
		return false;
	for (; i < s.len; i++) {
		unsigned d = (unsigned)(unsigned char)s.p[i] - '0';
		if (d > 9 || w->mag > (UINT64_MAX - d) / 10)
			return false;
		w->mag = w->mag * 10 + d;
	}
	return true;
}

/* A whole, finite double as a wide integer; false when it is not one or is
 * beyond 64 bits. */
static bool wide_of_double(double x, struct wide *w)
{
	if (!isfinite(x) || trunc(x) != x || x <= -18446744073709551616.0 ||
	    x >= 18446744073709551616.0)
		return false;
	w->neg = x < 0;
	w->mag = (uint64_t)fabs(x);
	return true;
}

/* x as a double, and whether that double is exactly x. */
static bool wide_to_double(struct wide w, double *d)
{
	double m = (double)w.mag;
	*d = w.neg ? -m : m;
	/* 2^64 (the rounding of values near UINT64_MAX) is no uint64_t. */
	return m < 18446744073709551616.0 && (uint64_t)m == w.mag;
}

/* Evaluates name(x) for the cast's first argument (toString, toDate, ...). */
static int cast_via(struct xctx *c, const node_t *n, const char *name, struct vec *out)
{
	node_t *t = mk_node(c, n, SN_HQ_CALL);
	node_t **items = xalloc(c, c->ba, sizeof(*items));
	if (!t || !items)
		return c->rc;
	items[0] = n->list.items[0];
	t->name = name;
	t->list.items = items;
	t->list.n = 1;
	t->has_list = true;
	return xeval(c, t, out);
}

/* bad_type with an array's or tuple's full type name. */
static int cast_bad_type(struct xctx *c, const node_t *n, const struct vec *v)
{
	if (!v->ct)
		return bad_type(c, n, v, 0);
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Illegal type %s of argument 1 of function %s", v->ct, n->name);
}

/* Makes out nullable (accurateCastOrNull, Nullable(T)) or not (accurateCast
 * to T, whose input was checked to hold no NULL). */
static int cast_nullable(struct xctx *c, struct vec *out, bool nullable)
{
	if (!nullable) {
		out->nullable = false;
		out->nulls = NULL;
	} else if (!out->nullable) {
		if (!(out->nulls = xalloc(c, c->ba, c->n)))
			return c->rc;
		memset(out->nulls, 0, c->n);
		out->nullable = true;
	}
	return 0;
}

static int cast_refuse(struct xctx *c, const node_t *n, const char *type, const char *why)
{
	char what[200];
	snprintf(what, sizeof(what), "%s to '%s'%s", n->name, type, why);
	return xunsupported(c, n, what);
}

static int fn_accurate_cast(struct xctx *c, const node_t *n, int op, struct vec *out)
{
	const char *type = NULL;
	struct vec v;
	if (need_args(c, n, 2, 2) || need_const_text(c, n, 1, &type))
		return c->rc;
	bool or_null = op == 1, to_nullable = false;
	char inner[64];
	size_t tl = strlen(type);
	if (tl > 10 && tl < sizeof(inner) + 10 && strncmp(type, "Nullable(", 9) == 0 &&
	    type[tl - 1] == ')') {
		memcpy(inner, type + 9, tl - 10);
		inner[tl - 10] = 0;
		type = inner;
		to_nullable = true;
	}
	int tgt = 0;
	size_t ti = 0;
	for (; ti < SN_ARRAY_LEN(cast_types); ti++)
		if (strcmp(type, cast_types[ti].name) == 0) {
			tgt = cast_types[ti].t;
			break;
		}
	if (!tgt) {
		unsigned prec, scale;
		bool is_dec;
		char why[96];
		int k = xdec_parse_type(type, &prec, &scale, &is_dec, why, sizeof(why));
		if (is_dec && k == 0) {
			if (xeval(c, n->list.items[0], &v))
				return c->rc;
			if (!or_null && !to_nullable)
				for (size_t r = 0; r < c->n; r++)
					if (isnul(&v, r))
						return xfail(c, n, SN_ERR_INVALID, "QueryError",
							     "Cannot convert NULL value to "
							     "non-Nullable type %s in function %s",
							     type, n->name);
			if (xdec_convert(c, n, &v, prec, scale, or_null ? XDEC_NULL : XDEC_ERROR,
					 out))
				return c->rc;
			return cast_nullable(c, out, or_null || to_nullable);
		}
		if (is_dec && k == -3) {
			char what[120];
			snprintf(what, sizeof(what), ": %s", why);
			return cast_refuse(c, n, type, what);
		}
		if (is_dec)
			return xfail(c, n, SN_ERR_INVALID, "QueryError", "%s: bad type '%s': %s",
				     n->name, type, why);
		if (strcmp(type, "Float32") == 0)
			return cast_refuse(
			    c, n, type,
			    ": Float32 is not supported (the executor has no Float32 "
			    "type)");
		if (strcmp(type, "Bool") == 0)
			return cast_refuse(c, n, type,
					   ": the executor's booleans would print as 1/0, not as "
					   "ClickHouse's Bool true/false");
		return cast_refuse(c, n, type, "");
	}
	if (xeval(c, n->list.items[0], &v))
		return c->rc;
	/* A failed row: NULL when the result can hold one, else the error. */
	bool soft = or_null || to_nullable;
	bool text = v.t == SN_XT_STRING;
	if (!soft) {
		/* T is not Nullable: ClickHouse's CAST refuses NULLs (cast_keep_nullable
		 * is off), and the result is not nullable. */
		for (size_t r = 0; r < c->n; r++)
			if (isnul(&v, r))
				return xfail(c, n, SN_ERR_INVALID, "QueryError",
					     "Cannot convert NULL value to non-Nullable type %s in "
					     "function %s",
					     type, n->name);
		v.nullable = false;
		v.nulls = NULL;
	}
	if (v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);

	if (tgt == AC_STRING) {
		if (v.t == SN_XT_ARRAY || v.t == SN_XT_TUPLE)
			return cast_bad_type(c, n, &v);
		if (as_text(c, n->list.items[0], &v))
			return c->rc;
		*out = v;
		out->t = SN_XT_STRING;
		return cast_nullable(c, out, soft);
	}
	if (tgt == AC_DATE || tgt == AC_DATETIME) {
		if (v.t != SN_XT_DATE && v.t != SN_XT_DATETIME)
			return cast_refuse(c, n, type,
					   v.t == SN_XT_STRING ? " from a String"
							       : " from a number or other value");
		if (cast_via(c, n, tgt == AC_DATE ? "toDate" : "toDateTime", out))
			return c->rc;
		return cast_nullable(c, out, soft);
	}
	if (tgt == AC_UUID && v.t == SN_XT_UUID) {
		*out = v;
		return cast_nullable(c, out, soft);
	}
	if (tgt == AC_UUID && !text)
		return v.t == SN_XT_ARRAY || v.t == SN_XT_TUPLE
			   ? cast_bad_type(c, n, &v)
			   : cast_refuse(c, n, type, " from a number or date");
	if (!(text || is_numeric(v.t) || v.t == SN_XT_DATE || v.t == SN_XT_DATETIME))
		return cast_bad_type(c, n, &v);

	uint8_t rt = tgt == AC_FLOAT64 ? SN_XT_FLOAT
		     : tgt == AC_UUID  ? SN_XT_UUID
		     : tgt >= AC_UINT8 ? SN_XT_UINT
				       : SN_XT_INT;
	if (vec_make(c, out, rt, soft, c->n))
		return c->rc;
	int64_t lo = cast_types[ti].lo;
	uint64_t hi = cast_types[ti].hi;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(&v, r)) {
			out->nulls[r] = 1;
			continue;
		}
		if (out->nulls)
			out->nulls[r] = 0;
		bool ok = true, parse_fail = false;
		if (tgt == AC_UUID) {
			struct sn_str s = str_at(&v, r);
			struct sn_uuid u;
			if ((ok = sn_uuid_parse(s.p, s.len, &u) >= 0)) {
				char *p = salloc(c, 37);
				if (!p)
					return c->rc;
				sn_uuid_format(&u, p);
				out->s[r] = (struct sn_str){p, 36};
			}
			parse_fail = !ok;
		} else if (v.t == SN_XT_DATE || v.t == SN_XT_DATETIME) {
			/* ClickHouse's plain (wrapping) conversion, not an accurate one. */
			int64_t x = v.t == SN_XT_DATE ? v.i[r] : floor_div(v.i[r], 1000000);
			if (tgt == AC_FLOAT64) {
				out->f[r] = (double)x;
			} else {
				int bits = tgt == AC_INT8 || tgt == AC_UINT8	 ? 8
					   : tgt == AC_INT16 || tgt == AC_UINT16 ? 16
					   : tgt == AC_INT32 || tgt == AC_UINT32 ? 32
										 : 64;
				uint64_t m = bits == 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
				uint64_t u = (uint64_t)x & m;
				if (rt == SN_XT_INT && bits < 64 && (u >> (bits - 1)))
					u |= ~m; /* sign-extend */
				out->i[r] = (int64_t)u;
			}
		} else if (tgt == AC_FLOAT64) {
			struct wide w;
			if (text) {
				struct sn_str s = str_at(&v, r);
				ok = parse_float_text(s.p, s.len, &out->f[r]);
				parse_fail = !ok;
			} else if (v.t == SN_XT_FLOAT) {
				out->f[r] = v.f[r];
			} else {
				w.neg = v.t != SN_XT_UINT && v.i[r] < 0;
				w.mag = w.neg ? (uint64_t)0 - (uint64_t)v.i[r] : (uint64_t)v.i[r];
				ok = wide_to_double(w, &out->f[r]);
			}
		} else {
			struct wide w;
			if (text) {
				ok = wide_parse(str_at(&v, r), &w);
				parse_fail = !ok;
			} else if (v.t == SN_XT_FLOAT) {
				ok = wide_of_double(v.f[r], &w);
			} else {
				w.neg = v.t != SN_XT_UINT && v.i[r] < 0;
				w.mag = w.neg ? (uint64_t)0 - (uint64_t)v.i[r] : (uint64_t)v.i[r];
			}
			ok = ok && wide_fits(w, lo, hi);
			if (ok)
				out->i[r] = wide_val(w);
		}
		if (ok)
			continue;
		if (or_null || (to_nullable && parse_fail)) {
			out->nulls[r] = 1;
			if (rt == SN_XT_UUID)
				out->s[r] = (struct sn_str){NULL, 0};
			continue;
		}
		if (text) {
			struct sn_str s = str_at(&v, r);
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Cannot parse string '%.*s' as %s",
				     (int)(s.len > 64 ? 64 : s.len), s.p, type);
		}
		char num[64];
		if (v.t == SN_XT_FLOAT)
			snprintf(num, sizeof(num), "%.17g", v.f[r]);
		else if (v.t == SN_XT_UINT)
			snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)v.i[r]);
		else
			snprintf(num, sizeof(num), "%" PRId64, v.i[r]);
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Value %s cannot be safely converted into type %s", num, type);
	}
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------------------- */

static const struct scalar_def fns[] = {
    {"sin", fn_trig, T_SIN, true},
    {"cos", fn_trig, T_COS, true},
    {"tan", fn_trig, T_TAN, true},
    {"asin", fn_trig, T_ASIN, true},
    {"acos", fn_trig, T_ACOS, true},
    {"atan", fn_trig, T_ATAN, true},
    {"degrees", fn_trig, T_DEGREES, true},
    {"radians", fn_trig, T_RADIANS, true},
    {"erf", fn_trig, T_ERF, false},
    {"atan2", fn_trig2, 0, false},
    {"hypot", fn_trig2, 1, false},
    {"factorial", fn_factorial, 0, true},
    {"negate", fn_negate, 0, false},
    {"bitNot", fn_bits1, 0, false},
    {"bitCount", fn_bits1, 1, false},
    {"bitAnd", fn_bits2, 0, false},
    {"bitOr", fn_bits2, 1, false},
    {"bitXor", fn_bits2, 2, false},
    {"bitTest", fn_bit_test, 0, false},
    {"bitShiftLeft", fn_shift, 0, false},
    {"bitShiftRight", fn_shift, 1, false},
    {"max2", fn_max2, 0, true},
    {"moduloOrZero", fn_modulo, 0, false},
    {"gcd", fn_gcd, 0, false},
    {"lcm", fn_gcd, 1, false},
    {"positiveModulo", fn_modulo, 1, false},
    {"min2", fn_max2, 1, true},
    {"width_bucket", fn_width_bucket, 0, true},
    {"roundAge", fn_round_set, 0, false},
    {"roundDuration", fn_round_set, 1, false},
    {"roundToExp2", fn_round_exp2, 0, false},
    {"roundDown", fn_round_down, 0, false},
    {"greatCircleDistance", fn_geo_distance, 0, false},
    {"geoDistance", fn_geo_distance, 1, false},
    {"geohashEncode", fn_geohash_encode, 0, false},
    {"geohashDecode", fn_geohash_decode, 0, false},
    {"reinterpretAsUInt8", fn_reinterpret, R_U8, false},
    {"reinterpretAsUInt16", fn_reinterpret, R_U16, false},
    {"reinterpretAsUInt32", fn_reinterpret, R_U32, false},
    {"reinterpretAsUInt64", fn_reinterpret, R_U64, false},
    {"reinterpretAsInt8", fn_reinterpret, R_I8, false},
    {"reinterpretAsInt16", fn_reinterpret, R_I16, false},
    {"reinterpretAsInt32", fn_reinterpret, R_I32, false},
    {"reinterpretAsInt64", fn_reinterpret, R_I64, false},
    {"reinterpretAsFloat64", fn_reinterpret, R_F64, false},
    {"reinterpretAsUUID", fn_reinterpret, R_UUID, false},
    {"reinterpretAsFloat32", fn_reinterpret, R_NONE, false},
    {"reinterpretAsUInt128", fn_reinterpret, R_NONE, false},
    {"reinterpretAsUInt256", fn_reinterpret, R_NONE, false},
    {"reinterpretAsInt128", fn_reinterpret, R_NONE, false},
    {"reinterpretAsInt256", fn_reinterpret, R_NONE, false},
    {"toNullable", fn_to_nullable, 0, false},
    {"sortableSemVer", fn_semver, 0, true},
    {"accurateCast", fn_accurate_cast, 0, false},
    {"accurateCastOrNull", fn_accurate_cast, 1, false},
};

bool xfn_math(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	return scalar_dispatch(fns, SN_ARRAY_LEN(fns), c, n, out, rc);
}
