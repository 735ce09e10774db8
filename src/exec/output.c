/*
 * output.c — result values: ordering, hashing bytes, type names, and the
 * JSON (PostHog's HogQLQueryResponse) and TSV renderings.
 *
 * Values are compared and serialised by type class: integers, dates and
 * datetimes by i, floats by f, strings and UUIDs bytewise. value_key's
 * bytes are a type tag, a NULL flag and the value, so equal keys have
 * equal bytes; GROUP BY and DISTINCT hash them.
 *
 * DateTimes render as PostHog's renderer (orjson with OPT_UTC_Z,
 * posthog/renderers.py) prints the zone-aware datetimes ClickHouse hands
 * it: ISO 8601, microseconds only when non-zero, 'Z' for UTC
 * ("2024-01-10T12:00:00.123000Z"; DRF's encoder, which cut them to
 * milliseconds, is no longer PostHog's). When the project's zone is not
 * UTC they are in that zone, with its offset:
 * "2024-01-10T13:00:00.123000+01:00" (an offset of zero prints as "Z");
 * the result's types name the zone too
 * ("DateTime64(6, 'Europe/Berlin')"). A toTimeZone() to yet another zone
 * is not carried into results: its values print in the project's zone
 * (the same instants). Floats render with the fewest digits that read back
 * the same, and nan/inf (which JSON lacks) as null. A Decimal (its
 * scaled value in i, the scale in dscale) prints its exact text without
 * trailing zeros in TSV and ClickHouse's text, and in JSON the nearest
 * Float64, as PostHog's renderer turns a Python Decimal into a float. A Map is an Array of
 * (key, value) tuples to everything else (array.c): the renderings print
 * it as an object ({"k":v}, keys as JSON strings; {'k':v} in ClickHouse's
 * text) by walking the value beside its column's type.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec_internal.h"

int value_cmp(const struct sn_exec_value *a, const struct sn_exec_value *b)
{
	if (a->null || b->null)
		return a->null == b->null ? 0 : (a->null ? 1 : -1);
	if ((a->type == SN_XT_ARRAY || a->type == SN_XT_TUPLE) && a->type == b->type) {
		/* element by element (NULLs last), then the shorter first */
		struct xait x, y;
		xait_init(&x, a->s);
		xait_init(&y, b->s);
		for (;;) {
			struct sn_exec_value u, v;
			bool hu = xait_next(&x, &u), hv = xait_next(&y, &v);
			if (!hu || !hv)
				return hu == hv ? 0 : (hu ? 1 : -1);
			int d = value_cmp(&u, &v);
			if (d)
				return d;
		}
	}
	if ((a->type == SN_XT_UUID || b->type == SN_XT_UUID) && a->s.len == 36 && b->s.len == 36)
		return uuid_text_cmp(a->s.p, b->s.p);
	if (sn_exec_type_has_bytes(a->type)) {
		size_t m = a->s.len < b->s.len ? a->s.len : b->s.len;
		int d = m ? memcmp(a->s.p, b->s.p, m) : 0;
		return d ? (d < 0 ? -1 : 1) : (a->s.len < b->s.len ? -1 : a->s.len > b->s.len);
	}
	if ((a->type == SN_XT_DECIMAL || b->type == SN_XT_DECIMAL) &&
	    (a->type != b->type || a->dscale != b->dscale)) {
		double x = a->type == SN_XT_DECIMAL ? xdec_to_double(a->i, a->dscale)
			   : a->type == SN_XT_FLOAT ? a->f
			   : a->type == SN_XT_UINT  ? (double)(uint64_t)a->i
						    : (double)a->i;
		double y = b->type == SN_XT_DECIMAL ? xdec_to_double(b->i, b->dscale)
			   : b->type == SN_XT_FLOAT ? b->f
			   : b->type == SN_XT_UINT  ? (double)(uint64_t)b->i
						    : (double)b->i;
		return x < y ? -1 : x > y;
	}
	if (a->type == SN_XT_FLOAT || b->type == SN_XT_FLOAT) {
		double x = a->type == SN_XT_FLOAT  ? a->f
			   : a->type == SN_XT_UINT ? (double)(uint64_t)a->i
						   : (double)a->i;
		double y = b->type == SN_XT_FLOAT  ? b->f
			   : b->type == SN_XT_UINT ? (double)(uint64_t)b->i
						   : (double)b->i;
		if (isnan(x) || isnan(y)) /* NaN sorts after numbers, as in ClickHouse */
			return isnan(x) == isnan(y) ? 0 : (isnan(x) ? 1 : -1);
		return x < y ? -1 : x > y;
	}
	if (a->type == SN_XT_UINT || b->type == SN_XT_UINT) {
		/* UInt64 keeps its bits in i (hash values above 2^63): exact
		 * against another UInt64 or an Int64 (negative sorts first) */
		if (a->type != SN_XT_UINT && a->i < 0)
			return -1;
		if (b->type != SN_XT_UINT && b->i < 0)
			return 1;
		uint64_t x = (uint64_t)a->i, y = (uint64_t)b->i;
		return x < y ? -1 : x > y;
	}
	return a->i < b->i ? -1 : a->i > b->i;
}

int value_key(struct sn_buf *b, const struct sn_exec_value *v)
{
	uint8_t head[2] = {v->type, v->null};
	if (sn_buf_append(b, head, 2))
		return SN_ERR_TOO_BIG;
	if (v->null)
		return 0;
	if (sn_exec_type_has_bytes(v->type)) {
		uint32_t len = (uint32_t)v->s.len;
		if (sn_buf_append(b, &len, sizeof(len)) || (len && sn_buf_append(b, v->s.p, len)))
			return SN_ERR_TOO_BIG;
		return 0;
	}
	if (v->type == SN_XT_FLOAT) {
		double x = v->f == 0 ? 0.0 : v->f;
		return sn_buf_append(b, &x, sizeof(x));
	}
	return sn_buf_append(b, &v->i, sizeof(v->i));
}

const char *sn_exec_type_name(uint8_t type, bool nullable, char *buf, size_t len)
{
	static const char *const names[] = {
	    [SN_XT_NULL] = "Nothing",
	    [SN_XT_BOOL] = "UInt8",
	    [SN_XT_INT] = "Int64",
	    [SN_XT_UINT] = "UInt64",
	    [SN_XT_FLOAT] = "Float64",
	    [SN_XT_STRING] = "String",
	    [SN_XT_UUID] = "UUID",
	    [SN_XT_DATE] = "Date",
	    [SN_XT_DATETIME] = "DateTime64(6, 'UTC')",
	    [SN_XT_AGGSTATE] = "AggregateFunction",
	    /* the full name, Decimal(P, S), is the vector's ct */
	    [SN_XT_DECIMAL] = "Decimal",
	};
	const char *n = type < SN_ARRAY_LEN(names) ? names[type] : "Unknown";
	if (nullable || type == SN_XT_NULL)
		snprintf(buf, len, "Nullable(%s)", n);
	else
		snprintf(buf, len, "%s", n);
	return buf;
}

static int fmt_date(char *buf, size_t len, int64_t days)
{
	int64_t y;
	unsigned m, d;
	sn_civil_from_days(days, &y, &m, &d);
	return snprintf(buf, len, "%04" PRId64 "-%02u-%02u", y, m, d);
}

/* In zone z (not UTC): local time with its offset, orjson's form. */
static int fmt_datetime_tz(char *buf, size_t len, int64_t us, const struct sn_tz *z)
{
	int32_t off = sn_tz_offset_at(z, us);
	int64_t w = us + (int64_t)off * 1000000;
	int64_t days = floor_div(w, 86400LL * 1000000);
	int64_t rem = w - days * 86400LL * 1000000;
	int64_t s = rem / 1000000, frac = rem % 1000000;
	int n = fmt_date(buf, len, days);
	n += snprintf(buf + n, len - (size_t)n, "T%02d:%02d:%02d", (int)(s / 3600),
		      (int)(s / 60 % 60), (int)(s % 60));
	if (frac)
		n += snprintf(buf + n, len - (size_t)n, ".%06d", (int)frac);
	int a = off < 0 ? -off : off;
	if (off == 0)
		n += snprintf(buf + n, len - (size_t)n, "Z");
	else
		n += snprintf(buf + n, len - (size_t)n, "%c%02d:%02d", off < 0 ? '-' : '+',
			      a / 3600, a / 60 % 60);
	return n;
}

/* The result's zone for DateTimes, or NULL for UTC (and unknown names,
 * which the query itself reports). */
static const struct sn_tz *result_zone(const struct sn_exec_result *res)
{
	const struct sn_tz *z = res->timezone ? sn_tz_get(res->timezone) : NULL;
	return z && !sn_tz_is_utc(z) ? z : NULL;
}

static int fmt_datetime(char *buf, size_t len, int64_t us)
{
	int64_t days = floor_div(us, 86400LL * 1000000);
	int64_t rem = us - days * 86400LL * 1000000;
	int64_t s = rem / 1000000, frac = rem % 1000000;
	int n = fmt_date(buf, len, days);
	n += snprintf(buf + n, len - (size_t)n, "T%02d:%02d:%02d", (int)(s / 3600),
		      (int)(s / 60 % 60), (int)(s % 60));
	if (frac)
		n += snprintf(buf + n, len - (size_t)n, ".%06d", (int)frac);
	n += snprintf(buf + n, len - (size_t)n, "Z");
	return n;
}

static void fmt_num(char *buf, size_t len, double x)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, x);
		if (strtod(buf, NULL) == x)
			break;
	}
}

static int value_json(struct sn_buf *b, const struct sn_exec_value *v, const struct sn_tz *z)
{
	char buf[64];
	if (v->null || v->type == SN_XT_NULL)
		return sn_buf_appends(b, "null");
	switch (v->type) {
	case SN_XT_ARRAY:
	case SN_XT_TUPLE: { /* both as JSON arrays, as PostHog renders them */
		struct xait it;
		struct sn_exec_value x;
		int rc = sn_buf_appendc(b, '[');
		xait_init(&it, v->s);
		for (bool first = true; rc == 0 && xait_next(&it, &x); first = false)
			rc = (first ? 0 : sn_buf_appendc(b, ',')) || value_json(b, &x, z);
		return rc ? rc : sn_buf_appendc(b, ']');
	}
	case SN_XT_STRING:
	case SN_XT_UUID: return sn_buf_append_json_str(b, v->s.p ? v->s.p : "", v->s.len);
	case SN_XT_FLOAT:
		if (!isfinite(v->f))
			return sn_buf_appends(b, "null");
		fmt_num(buf, sizeof(buf), v->f);
		return sn_buf_appends(b, buf);
	case SN_XT_UINT: return sn_buf_appendf(b, "%" PRIu64, (uint64_t)v->i);
	case SN_XT_DECIMAL:
		/* PostHog's renderer hands clickhouse-driver's Python Decimal to
		 * DRF's JSONEncoder, which answers float(d): the nearest double */
		fmt_num(buf, sizeof(buf), xdec_to_double_exact(v->i, v->dscale));
		return sn_buf_appends(b, buf);
	case SN_XT_BOOL:
		if (v->tbool)
			return sn_buf_appends(b, v->i ? "true" : "false");
		return sn_buf_appendf(b, "%" PRId64, v->i);
	case SN_XT_DATE:
		fmt_date(buf, sizeof(buf), v->i);
		return sn_buf_append_json_str(b, buf, strlen(buf));
	case SN_XT_DATETIME:
		if (z)
			fmt_datetime_tz(buf, sizeof(buf), v->i, z);
		else
			fmt_datetime(buf, sizeof(buf), v->i);
		return sn_buf_append_json_str(b, buf, strlen(buf));
	default: return sn_buf_appendf(b, "%" PRId64, v->i);
	}
}

/* ClickHouse's text of an array or tuple element ([1,2], ['a','b'], (1,'x')). */
static int ch_text(struct sn_buf *b, const struct sn_exec_value *v, const struct sn_tz *z);

/* ---- maps ---------------------------------------------------------------------------- */

/* A Map's value is an Array of (key, value) tuples (array.c), so only its
 * type tells it apart: a result column whose type names a Map is printed
 * by walking the value beside its type name, each Map as an object
 * ({"k":v} in JSON, keys as strings; {'k':v} in ClickHouse's text). Other
 * values print untyped, as before. */
struct tspan {
	const char *p;
	size_t len;
};

static bool has_map(struct tspan t)
{
	for (size_t i = 0; i + 4 <= t.len; i++)
		if (memcmp(t.p + i, "Map(", 4) == 0)
			return true;
	return false;
}

static bool tis(struct tspan t, const char *pfx)
{
	size_t n = strlen(pfx);
	return t.len > n && memcmp(t.p, pfx, n) == 0 && t.p[t.len - 1] == ')';
}

/* t without Nullable(...). */
static struct tspan tstrip(struct tspan t)
{
	if (tis(t, "Nullable("))
		return (struct tspan){t.p + 9, t.len - 10};
	return t;
}

/* The comma-separated type arguments of t (after its '(' up to its last
 * ')'), at most max; quotes and nested parentheses skipped. */
static size_t targs(struct tspan t, struct tspan *out, size_t max)
{
	const char *p = memchr(t.p, '(', t.len), *end = t.p + t.len - 1;
	size_t n = 0;
	if (!p)
		return 0;
	p++;
	while (p < end && n < max) {
		while (p < end && *p == ' ')
			p++;
		const char *s = p;
		int depth = 0;
		bool q = false;
		for (; p < end; p++) {
			if (q) {
				q = *p != '\'';
				continue;
			}
			if (*p == '\'')
				q = true;
			else if (*p == '(')
				depth++;
			else if (*p == ')')
				depth--;
			else if (*p == ',' && depth == 0)
				break;
		}
		out[n++] = (struct tspan){s, (size_t)(p - s)};
		if (p < end)
			p++;
	}
	return n;
}

#define TARGS_MAX 64

/* value_json (json) or ch_text of v, typed t: Maps as objects. */
static int value_typed(struct sn_buf *b, const struct sn_exec_value *v, const struct sn_tz *z,
		       struct tspan t, bool json)
{
	if (!t.p || !has_map(t) || v->null || v->type == SN_XT_NULL ||
	    (v->type != SN_XT_ARRAY && v->type != SN_XT_TUPLE))
		return json ? value_json(b, v, z) : ch_text(b, v, z);
	t = tstrip(t);
	struct tspan a[TARGS_MAX];
	size_t na = targs(t, a, TARGS_MAX);
	bool map = tis(t, "Map("), arr = tis(t, "Array(");
	struct xait it;
	struct sn_exec_value x;
	int rc = sn_buf_appendc(b, map ? '{' : arr || json ? '[' : '(');
	xait_init(&it, v->s);
	for (size_t k = 0; rc == 0 && xait_next(&it, &x); k++) {
		if (k)
			rc = sn_buf_appendc(b, ',');
		if (rc == 0 && map && x.type == SN_XT_TUPLE && !x.null && na == 2) {
			struct xait pit;
			struct sn_exec_value kx, vx;
			xait_init(&pit, x.s);
			if (!xait_next(&pit, &kx) || !xait_next(&pit, &vx))
				return SN_ERR_CORRUPT;
			if (json && (kx.type == SN_XT_STRING || kx.type == SN_XT_UUID)) {
				rc = value_json(b, &kx, z);
			} else if (json) { /* a JSON key is a string: the key's text */
				struct sn_buf kt;
				sn_buf_init(&kt, (size_t)1 << 20);
				rc = value_json(&kt, &kx, z);
				if (rc == 0 && kt.len && kt.data[0] == '"')
					rc = sn_buf_append(b, kt.data, kt.len);
				else if (rc == 0)
					rc = sn_buf_append_json_str(b, kt.data ? kt.data : "",
								    kt.len);
				sn_buf_release(&kt);
			} else {
				rc = ch_text(b, &kx, z);
			}
			if (rc == 0)
				rc = sn_buf_appendc(b, ':');
			if (rc == 0)
				rc = value_typed(b, &vx, z, a[1], json);
			continue;
		}
		if (rc == 0)
			rc = value_typed(b, &x, z,
					 arr	  ? a[0]
					 : k < na ? a[k]
						  : (struct tspan){0},
					 json);
	}
	return rc ? rc : sn_buf_appendc(b, map ? '}' : arr || json ? ']' : ')');
}

static struct tspan tspan_of(const char *t)
{
	return (struct tspan){t, t ? strlen(t) : 0};
}

/* A result type, with the zone in DateTime types when it is not UTC. */
static int type_json(struct sn_buf *b, const char *t, const struct sn_tz *z)
{
	const char *utc = z ? strstr(t, "DateTime64(6, 'UTC')") : NULL;
	if (!utc)
		return sn_buf_append_json_str(b, t, strlen(t));
	char buf[160];
	snprintf(buf, sizeof(buf), "%.*sDateTime64(6, '%s')%s", (int)(utc - t), t, sn_tz_name(z),
		 utc + strlen("DateTime64(6, 'UTC')"));
	return sn_buf_append_json_str(b, buf, strlen(buf));
}

int sn_exec_result_json(struct sn_buf *b, const struct sn_exec_result *res)
{
	const struct sn_tz *z = result_zone(res);
	int rc = sn_buf_appends(b, "{\"columns\":[");
	for (size_t i = 0; rc == 0 && i < res->ncols; i++) {
		if (i)
			rc = sn_buf_appendc(b, ',');
		if (rc == 0)
			rc = sn_buf_append_json_str(b, res->names[i], strlen(res->names[i]));
	}
	if (rc == 0)
		rc = sn_buf_appends(b, "],\"types\":[");
	for (size_t i = 0; rc == 0 && i < res->ncols; i++) {
		rc = sn_buf_appends(b, i ? ",[" : "[");
		if (rc == 0)
			rc = sn_buf_append_json_str(b, res->names[i], strlen(res->names[i]));
		if (rc == 0)
			rc = sn_buf_appendc(b, ',');
		if (rc == 0)
			rc = type_json(b, res->types[i], z);
		if (rc == 0)
			rc = sn_buf_appendc(b, ']');
	}
	if (rc == 0)
		rc = sn_buf_appends(b, "],\"results\":[");
	for (size_t r = 0; rc == 0 && r < res->nrows; r++) {
		rc = sn_buf_appends(b, r ? ",[" : "[");
		for (size_t i = 0; rc == 0 && i < res->ncols; i++) {
			if (i)
				rc = sn_buf_appendc(b, ',');
			if (rc == 0)
				rc = value_typed(b, &res->cells[r * res->ncols + i], z,
						 tspan_of(res->types ? res->types[i] : NULL), true);
		}
		if (rc == 0)
			rc = sn_buf_appendc(b, ']');
	}
	if (rc == 0)
		rc = sn_buf_appendf(
		    b, "],\"hasMore\":%s,\"limit\":%" PRId64 ",\"offset\":%" PRId64 ",\"hogql\":",
		    res->has_more ? "true" : "false", res->limit, res->offset);
	if (rc == 0)
		rc = sn_buf_append_json_str(b, res->hogql ? res->hogql : "",
					    res->hogql ? strlen(res->hogql) : 0);
	if (rc == 0)
		rc = sn_buf_appendf(
		    b,
		    ",\"timings\":[{\"k\":\"./parse\",\"t\":%.6f},{\"k\":\"./resolve\",\"t\":%.6f},"
		    "{\"k\":\"./execute\",\"t\":%.6f}],\"stats\":{\"parts\":%" PRIu64
		    ",\"granules_total\":%" PRIu64 ",\"granules_read\":%" PRIu64
		    ",\"rows_read\":%" PRIu64 ",\"rows_matched\":%" PRIu64
		    ",\"scan_threads\":%" PRIu32 ",\"merges_parallel\":%" PRIu32
		    ",\"terms_skipped\":%" PRIu64 ",\"coded_terms\":%" PRIu64 "}}",
		    res->stats.parse_s, res->stats.resolve_s, res->stats.execute_s,
		    res->stats.parts, res->stats.granules_total, res->stats.granules_read,
		    res->stats.rows_read, res->stats.rows_matched, res->stats.scan_threads,
		    res->stats.merges_parallel, res->stats.terms_skipped, res->stats.coded_terms);
	return rc;
}

int value_text(struct sn_buf *b, const struct sn_exec_value *v)
{
	return ch_text(b, v, NULL);
}

int value_text_typed(struct sn_buf *b, const struct sn_exec_value *v, const char *ct)
{
	if (!ct)
		return ch_text(b, v, NULL);
	return value_typed(b, v, NULL, (struct tspan){ct, strlen(ct)}, false);
}

int sn_exec_result_tsv(struct sn_buf *b, const struct sn_exec_result *res)
{
	const struct sn_tz *z = result_zone(res);
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < res->ncols; i++) {
		if (i)
			rc = sn_buf_appendc(b, '\t');
		if (rc == 0)
			rc = sn_buf_append_tsv(b, res->names[i], strlen(res->names[i]));
	}
	if (rc == 0)
		rc = sn_buf_appendc(b, '\n');
	for (size_t r = 0; rc == 0 && r < res->nrows; r++) {
		for (size_t i = 0; rc == 0 && i < res->ncols; i++) {
			const struct sn_exec_value *v = &res->cells[r * res->ncols + i];
			char buf[64];
			if (i)
				rc = sn_buf_appendc(b, '\t');
			if (rc)
				break;
			if (v->null || v->type == SN_XT_NULL) {
				rc = sn_buf_appends(b, "\\N");
			} else if (v->type == SN_XT_ARRAY || v->type == SN_XT_TUPLE) {
				struct sn_buf t;
				sn_buf_init(&t, (size_t)1 << 30);
				rc = value_typed(
				    &t, v, z, tspan_of(res->types ? res->types[i] : NULL), false);
				if (rc == 0)
					rc = sn_buf_append_tsv(
					    b, t.data ? (const char *)t.data : "", t.len);
				sn_buf_release(&t);
			} else if (v->type == SN_XT_STRING || v->type == SN_XT_UUID) {
				rc = sn_buf_append_tsv(b, v->s.p ? v->s.p : "", v->s.len);
			} else if (v->type == SN_XT_DATETIME) {
				if (z)
					fmt_datetime_tz(buf, sizeof(buf), v->i, z);
				else
					fmt_datetime(buf, sizeof(buf), v->i);
				rc = sn_buf_appends(b, buf);
			} else if (v->type == SN_XT_DATE) {
				fmt_date(buf, sizeof(buf), v->i);
				rc = sn_buf_appends(b, buf);
			} else if (v->type == SN_XT_FLOAT) {
				fmt_num(buf, sizeof(buf), v->f);
				rc = sn_buf_appends(b, buf);
			} else if (v->type == SN_XT_UINT) {
				rc = sn_buf_appendf(b, "%" PRIu64, (uint64_t)v->i);
			} else if (v->type == SN_XT_DECIMAL) {
				xdec_format(buf, sizeof(buf), v->i, v->dscale);
				rc = sn_buf_appends(b, buf);
			} else if (v->type == SN_XT_BOOL && v->tbool) {
				rc = sn_buf_appends(b, v->i ? "true" : "false");
			} else {
				rc = sn_buf_appendf(b, "%" PRId64, v->i);
			}
		}
		if (rc == 0)
			rc = sn_buf_appendc(b, '\n');
	}
	return rc;
}

static int ch_text(struct sn_buf *b, const struct sn_exec_value *v, const struct sn_tz *z)
{
	char buf[64];
	if (v->null || v->type == SN_XT_NULL)
		return sn_buf_appends(b, "NULL");
	switch (v->type) {
	case SN_XT_ARRAY:
	case SN_XT_TUPLE: {
		struct xait it;
		struct sn_exec_value x;
		int rc = sn_buf_appendc(b, v->type == SN_XT_ARRAY ? '[' : '(');
		xait_init(&it, v->s);
		for (bool first = true; rc == 0 && xait_next(&it, &x); first = false)
			rc = (first ? 0 : sn_buf_appendc(b, ',')) || ch_text(b, &x, z);
		return rc ? rc : sn_buf_appendc(b, v->type == SN_XT_ARRAY ? ']' : ')');
	}
	case SN_XT_STRING:
	case SN_XT_UUID: {
		int rc = sn_buf_appendc(b, '\'');
		for (size_t i = 0; rc == 0 && i < v->s.len; i++) {
			char ch = v->s.p[i];
			rc = ch == '\'' || ch == '\\' ? sn_buf_appendc(b, '\\') : 0;
			if (rc == 0)
				rc = sn_buf_appendc(b, ch);
		}
		return rc ? rc : sn_buf_appendc(b, '\'');
	}
	case SN_XT_FLOAT: fmt_num(buf, sizeof(buf), v->f); return sn_buf_appends(b, buf);
	case SN_XT_UINT: return sn_buf_appendf(b, "%" PRIu64, (uint64_t)v->i);
	case SN_XT_DECIMAL:
		xdec_format(buf, sizeof(buf), v->i, v->dscale);
		return sn_buf_appends(b, buf);
	case SN_XT_DATE: fmt_date(buf, sizeof(buf), v->i); return sn_buf_appendf(b, "'%s'", buf);
	case SN_XT_DATETIME:
		if (z)
			fmt_datetime_tz(buf, sizeof(buf), v->i, z);
		else
			fmt_datetime(buf, sizeof(buf), v->i);
		return sn_buf_appendf(b, "'%s'", buf);
	default: return sn_buf_appendf(b, "%" PRId64, v->i);
	}
}
