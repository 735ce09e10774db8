/*
 * daterange.c — PostHog's insight date ranges (spec/hogql.md §9.0): the
 * dateRange object turned into wall-clock bounds in the team's time zone,
 * the interval buckets between them, and the previous period for compare.
 *
 * The rules follow PostHog's QueryDateRange and relative_date_parse:
 *   date_from  absolute ISO date/datetime (zone-less = team zone; with an
 *              offset = converted), or relative `-?N?[hdwmqysHDWMQY](Start|End)?`
 *              subtracted from now like dateutil's relativedelta (absolute
 *              fields first, month arithmetic clamps the day, then days and
 *              hours), truncated to the hour ("h") or the day (others)
 *              unless the interval is "minute"; default today − 7 days;
 *              "all" = the team's first event.
 *   date_to    the same without truncation, default now; then, unless
 *              explicitDate, extended to 23:59:59.999999 (day and longer
 *              intervals) or to the end of the hour/minute when relative.
 *   WHERE      timestamp >= start of the interval containing date_from
 *              (weeks: the start of its day; hour/minute intervals with a
 *              relative date_from and explicitDate ranges: date_from itself)
 *              and timestamp <= date_to, both printed to the second.
 *   buckets    align(date_from), then + one interval while <= date_to.
 *
 * Everything is computed on "local" µs (see insights_internal.h) so that
 * calendar arithmetic is plain integer arithmetic; the zone is only
 * consulted to convert now and offset-carrying inputs.
 */
#include "insights/insights_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t fdiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

int64_t loc_of_utc(const char *tz, int64_t utc_us)
{
	return utc_us + (int64_t)sn_tz_offset(tz, utc_us) * US_SEC;
}

int64_t utc_of_loc(const char *tz, int64_t loc_us)
{
	int64_t guess = loc_us - (int64_t)sn_tz_offset(tz, loc_us) * US_SEC;
	return loc_us - (int64_t)sn_tz_offset(tz, guess) * US_SEC;
}

/* Calendar fields of a local µs value. */
struct tmf {
	int64_t y;
	unsigned mo, d;
	int h, mi, s;
	int64_t us;
};

static void split(int64_t loc, struct tmf *t)
{
	int64_t day = fdiv(loc, US_DAY);
	int64_t rem = loc - day * US_DAY;
	sn_civil_from_days(day, &t->y, &t->mo, &t->d);
	t->h = (int)(rem / US_HOUR);
	t->mi = (int)(rem / US_MIN % 60);
	t->s = (int)(rem / US_SEC % 60);
	t->us = rem % US_SEC;
}

static int64_t join(const struct tmf *t)
{
	return sn_days_from_civil(t->y, t->mo, t->d) * US_DAY + t->h * US_HOUR + t->mi * US_MIN +
	       t->s * US_SEC + t->us;
}

static unsigned mdays(int64_t y, unsigned m)
{
	static const unsigned n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : n[m - 1];
}

static const char *const MON[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void fmt_loc_dt(char *buf, size_t len, int64_t loc)
{
	struct tmf t;
	split(loc, &t);
	snprintf(buf, len, "%04lld-%02u-%02u %02d:%02d:%02d", (long long)t.y, t.mo, t.d, t.h, t.mi,
		 t.s);
}

void fmt_day(char *buf, size_t len, int64_t loc, enum interval iv)
{
	struct tmf t;
	split(loc, &t);
	if (iv == IV_HOUR || iv == IV_MINUTE)
		snprintf(buf, len, "%04lld-%02u-%02u %02d:%02d:%02d", (long long)t.y, t.mo, t.d,
			 t.h, t.mi, t.s);
	else
		snprintf(buf, len, "%04lld-%02u-%02u", (long long)t.y, t.mo, t.d);
}

/* "%-d-%b-%Y" */
static void fmt_dmy(char *buf, size_t len, int64_t loc)
{
	struct tmf t;
	split(loc, &t);
	snprintf(buf, len, "%u-%s-%04lld", t.d, MON[t.mo - 1], (long long)t.y);
}

void fmt_label(char *buf, size_t len, int64_t loc, const struct drange *r, int week_start_day)
{
	struct tmf t;
	split(loc, &t);
	switch (r->iv) {
	case IV_HOUR:
	case IV_MINUTE:
		snprintf(buf, len, "%u-%s %02d:%02d", t.d, MON[t.mo - 1], t.h, t.mi);
		return;
	case IV_MONTH: snprintf(buf, len, "%s %04lld", MON[t.mo - 1], (long long)t.y); return;
	case IV_DAY: fmt_dmy(buf, len, loc); return;
	case IV_WEEK: break;
	}
	/* The week, clipped to the range: "29–31 Oct", "30-Dec – 5-Jan",
	 * "29-Dec-2019 – 4-Jan-2020", or one day as "28-Dec-2019". */
	int64_t s = align_loc(loc, IV_WEEK, week_start_day);
	int64_t e = s + 6 * US_DAY;
	int64_t from = fdiv(r->from, US_DAY) * US_DAY, to = fdiv(r->to, US_DAY) * US_DAY;
	if (s < from)
		s = from;
	if (e > to)
		e = to;
	if (e < s)
		e = s;
	struct tmf a, b;
	split(s, &a);
	split(e, &b);
	char x[32], y[32];
	if (s == e) {
		fmt_dmy(buf, len, s);
	} else if (a.y != b.y) {
		fmt_dmy(x, sizeof(x), s);
		fmt_dmy(y, sizeof(y), e);
		snprintf(buf, len, "%s \u2013 %s", x, y);
	} else if (a.mo != b.mo) {
		snprintf(buf, len, "%u-%s \u2013 %u-%s", a.d, MON[a.mo - 1], b.d, MON[b.mo - 1]);
	} else {
		snprintf(buf, len, "%u\u2013%u %s", a.d, b.d, MON[b.mo - 1]);
	}
}

int64_t align_loc(int64_t loc, enum interval iv, int week_start_day)
{
	switch (iv) {
	case IV_MINUTE: return fdiv(loc, US_MIN) * US_MIN;
	case IV_HOUR: return fdiv(loc, US_HOUR) * US_HOUR;
	case IV_DAY: return fdiv(loc, US_DAY) * US_DAY;
	case IV_WEEK: {
		int64_t day = fdiv(loc, US_DAY);
		int dow = (int)(((day + 4) % 7 + 7) % 7); /* 0 = Sunday */
		int back = week_start_day == 1 ? (dow + 6) % 7 : dow;
		return (day - back) * US_DAY;
	}
	case IV_MONTH: {
		struct tmf t;
		split(loc, &t);
		return sn_days_from_civil(t.y, t.mo, 1) * US_DAY;
	}
	}
	return loc;
}

int64_t add_interval(int64_t loc, enum interval iv, int n)
{
	switch (iv) {
	case IV_MINUTE: return loc + n * US_MIN;
	case IV_HOUR: return loc + n * US_HOUR;
	case IV_DAY: return loc + n * US_DAY;
	case IV_WEEK: return loc + n * 7 * US_DAY;
	case IV_MONTH: {
		struct tmf t;
		split(loc, &t);
		int64_t m = t.y * 12 + (t.mo - 1) + n;
		t.y = fdiv(m, 12);
		t.mo = (unsigned)(m - t.y * 12) + 1;
		if (t.d > mdays(t.y, t.mo))
			t.d = mdays(t.y, t.mo);
		return join(&t);
	}
	}
	return loc;
}

/* ---- parsing ---------------------------------------------------------------------------- */

/* dateutil's relativedelta, as PostHog's delta mappings use it. */
struct rdelta {
	int years, months, days, hours, minutes, seconds; /* relative */
	int month, day, hour, minute, second, usec;	  /* absolute; -1 = unset */
	bool has_hours;					  /* "hours" in the mapping */
};

static int64_t rd_apply(int64_t loc, const struct rdelta *r, int sign)
{
	struct tmf t;
	split(loc, &t);
	if (r->month >= 1)
		t.mo = (unsigned)r->month;
	int64_t m = t.y * 12 + (t.mo - 1) + sign * (r->years * 12 + r->months);
	t.y = fdiv(m, 12);
	t.mo = (unsigned)(m - t.y * 12) + 1;
	unsigned d = r->day >= 1 ? (unsigned)r->day : t.d;
	t.d = d > mdays(t.y, t.mo) ? mdays(t.y, t.mo) : d;
	if (r->hour >= 0)
		t.h = r->hour;
	if (r->minute >= 0)
		t.mi = r->minute;
	if (r->second >= 0)
		t.s = r->second;
	if (r->usec >= 0)
		t.us = r->usec;
	return join(&t) + sign * (r->days * US_DAY + r->hours * US_HOUR + r->minutes * US_MIN +
				  r->seconds * US_SEC);
}

static bool num(const char **p, const char *end, int ndig_min, int ndig_max, int *out)
{
	int v = 0, n = 0;
	while (*p < end && isdigit((unsigned char)**p) && n < ndig_max) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	*out = v;
	return n >= ndig_min;
}

/* ISO forms isoparse reads (and the unpadded "2021-1-1"): local µs, or
 * false. *has_off and *off_s for an explicit offset or Z. */
static bool parse_abs(const char *s, int64_t *loc, bool *has_off, int *off_s)
{
	const char *p = s, *end = s + strlen(s);
	int y, mo, d, h = 0, mi = 0, sec = 0, us = 0;
	*has_off = false;
	*off_s = 0;
	if (!num(&p, end, 4, 4, &y) || p >= end || *p != '-')
		return false;
	p++;
	if (!num(&p, end, 1, 2, &mo) || p >= end || *p != '-')
		return false;
	p++;
	if (!num(&p, end, 1, 2, &d))
		return false;
	if (p < end && (*p == 'T' || *p == ' ')) {
		p++;
		if (!num(&p, end, 2, 2, &h))
			return false;
		if (p < end && *p == ':') {
			p++;
			if (!num(&p, end, 2, 2, &mi))
				return false;
			if (p < end && *p == ':') {
				p++;
				if (!num(&p, end, 2, 2, &sec))
					return false;
				if (p < end && (*p == '.' || *p == ',')) {
					p++;
					int k = 0;
					while (p < end && isdigit((unsigned char)*p)) {
						if (k < 6)
							us = us * 10 + (*p - '0');
						k++;
						p++;
					}
					if (k == 0)
						return false;
					for (; k < 6; k++)
						us *= 10;
				}
			}
		}
		if (p < end && (*p == 'Z' || *p == 'z')) {
			*has_off = true;
			p++;
		} else if (p < end && (*p == '+' || *p == '-')) {
			int sign = *p == '-' ? -1 : 1, oh = 0, om = 0;
			p++;
			if (!num(&p, end, 2, 2, &oh))
				return false;
			if (p < end && *p == ':')
				p++;
			if (p < end && !num(&p, end, 2, 2, &om))
				return false;
			*has_off = true;
			*off_s = sign * (oh * 3600 + om * 60);
		}
	}
	if (p != end || mo < 1 || mo > 12 || d < 1 || (unsigned)d > mdays(y, (unsigned)mo) ||
	    h > 23 || mi > 59 || sec > 59)
		return false;
	struct tmf t = {y, (unsigned)mo, (unsigned)d, h, mi, sec, us};
	*loc = join(&t);
	return true;
}

/* relative_date_parse_with_delta_mapping: 1 absolute, 2 relative (mapping
 * in *rd), 0 no kind letter (= now, relative with an empty mapping). */
static int parse_rel(const char *s, struct rdelta *rd)
{
	memset(rd, 0, sizeof(*rd));
	rd->month = rd->day = rd->hour = rd->minute = rd->second = rd->usec = -1;
	static const char kinds[] = "hdwmqysHDWMQY";
	const char *p = s;
	for (; *p; p++) {
		const char *k = p;
		if (*k == '-')
			k++;
		const char *dstart = k;
		while (isdigit((unsigned char)*k))
			k++;
		if (*k && strchr(kinds, *k)) {
			int n = 0;
			bool has_n = k > dstart;
			for (const char *q = dstart; q < k && n < 100000000; q++)
				n = n * 10 + (*q - '0');
			char kind = *k;
			const char *pos = k + 1;
			bool start = strncmp(pos, "Start", 5) == 0,
			     endp = strncmp(pos, "End", 3) == 0;
			switch (kind) {
			case 'h':
				if (has_n) {
					rd->hours = n;
					rd->has_hours = true;
				}
				if (start)
					rd->minute = rd->second = rd->usec = 0;
				else if (endp) {
					rd->minute = rd->second = 59;
					rd->usec = 999999;
				}
				break;
			case 'd':
				if (has_n)
					rd->days = n;
				if (start)
					rd->hour = rd->minute = rd->second = rd->usec = 0;
				else if (endp) {
					rd->hour = 23;
					rd->minute = rd->second = 59;
					rd->usec = 999999;
				}
				break;
			case 'w':
				if (has_n)
					rd->days = 7 * n;
				break;
			case 'm':
				if (has_n)
					rd->months = n;
				if (start)
					rd->day = 1;
				else if (endp)
					rd->day = 31;
				break;
			case 'M':
				if (has_n)
					rd->minutes = n;
				break;
			case 's':
				if (has_n)
					rd->seconds = n;
				break;
			case 'q':
				if (has_n)
					rd->days = 7 * 13 * n;
				break;
			case 'y':
				if (has_n)
					rd->years = n;
				if (start)
					rd->month = rd->day = 1;
				else if (endp)
					rd->day = 31;
				break;
			default: break; /* H D W Q Y: an empty mapping, as PostHog */
			}
			return 2;
		}
	}
	return 0;
}

/* One bound: *loc, *relative, and the mapping's day count. */
static int parse_bound(struct ictx *x, const char *field, const char *s, bool truncate,
		       int64_t *loc, bool *relative, int64_t *days_delta)
{
	int64_t v;
	bool has_off;
	int off;
	*days_delta = 0;
	if (parse_abs(s, &v, &has_off, &off)) {
		if (has_off)
			v = loc_of_utc(x->tz, v - (int64_t)off * US_SEC);
		*loc = v;
		*relative = false;
		return 0;
	}
	if (strlen(s) > 64)
		return ifail(x, "validation_error", "dateRange.%s is not a date: '%.64s…'", field,
			     s);
	struct rdelta rd;
	int k = parse_rel(s, &rd);
	*relative = true;
	v = x->now_loc;
	if (k == 2) {
		v = rd_apply(v, &rd, -1);
		*days_delta = rd.days;
		if (truncate)
			v = rd.has_hours ? fdiv(v, US_HOUR) * US_HOUR : fdiv(v, US_DAY) * US_DAY;
	} else if (*s && strspn(s, "-0123456789") == strlen(s)) {
		return ifail(x, "validation_error",
			     "dateRange.%s is not a date or a relative date like -7d: '%s'", field,
			     s);
	}
	*loc = v;
	return 0;
}

int dr_date_value(struct ictx *x, const char *s, int64_t *utc)
{
	/* PostHog's _resolve_date_value: only a value starting with an
	 * optional minus, digits and a kind letter is relative. More than six
	 * digits would leave the calendar; such a value stays text, as an
	 * unparsable date. */
	const char *p = s + (*s == '-');
	size_t nd = strspn(p, "0123456789");
	if (nd == 0 || nd > 6 || !p[nd] || !strchr("hdwmqysHDWMQY", p[nd]))
		return 0;
	struct rdelta rd;
	parse_rel(s, &rd);
	*utc = utc_of_loc(x->tz, rd_apply(x->now_loc, &rd, -1));
	return 1;
}

bool dr_is_all(struct json_object *date_range)
{
	const char *f = jstr(date_range, "date_from");
	return f && strcmp(f, "all") == 0;
}

int dr_parse(struct ictx *x, struct json_object *dr, enum interval iv, int64_t earliest_utc,
	     bool exact, struct drange *out)
{
	memset(out, 0, sizeof(*out));
	out->iv = iv;
	bool explicit_date = jbool(dr, "explicitDate");
	const char *from = jstr(dr, "date_from"), *to = jstr(dr, "date_to");
	struct json_object *jf = jget(dr, "date_from"), *jt = jget(dr, "date_to");
	if ((jf && !from) || (jt && !to))
		return ifail(x, "validation_error", "dateRange.date_from and date_to are strings");
	/* date_to */
	int64_t to_l = x->now_loc;
	bool to_rel = true;
	if (to && *to) {
		int64_t dd;
		if (parse_bound(x, "date_to", to, false, &to_l, &to_rel, &dd))
			return SN_ERR_INVALID;
	}
	out->to_relative = to && *to && to_rel;
	if (exact && !(to && *to)) {
		/* an exact range ends at now itself */
	} else if (!explicit_date) {
		if (iv != IV_HOUR && iv != IV_MINUTE)
			to_l = fdiv(to_l, US_DAY) * US_DAY + US_DAY - 1;
		else if (to_rel && iv == IV_HOUR)
			to_l = fdiv(to_l, US_HOUR) * US_HOUR + US_HOUR - 1;
		else if (to_rel)
			to_l = fdiv(to_l, US_MIN) * US_MIN + US_MIN - 1;
	}
	/* date_from */
	int64_t from_l;
	bool from_rel = false;
	if (from && strcmp(from, "all") == 0) {
		from_l = earliest_utc == INT64_MIN ? fdiv(x->now_loc, US_DAY) * US_DAY - 7 * US_DAY
						   : loc_of_utc(x->tz, earliest_utc);
	} else if (from && *from) {
		if (parse_bound(x, "date_from", from, iv != IV_MINUTE && !exact, &from_l, &from_rel,
				&out->from_days_delta))
			return SN_ERR_INVALID;
	} else {
		from_l = fdiv(x->now_loc, US_DAY) * US_DAY - 7 * US_DAY;
	}
	out->from = from_l;
	out->to = to_l;
	out->from_relative = from_rel;
	/* use_start_of_interval */
	bool use_start = true;
	if (explicit_date || exact)
		use_start = false;
	else if (from && *from && from_rel) {
		struct rdelta rd;
		parse_rel(from, &rd);
		if (iv == IV_HOUR || iv == IV_MINUTE)
			use_start = false;
		else if (iv == IV_DAY && rd.has_hours)
			use_start = false;
	}
	if (!use_start)
		out->where_from = from_l;
	else if (iv == IV_WEEK)
		out->where_from = fdiv(from_l, US_DAY) * US_DAY;
	else
		out->where_from = align_loc(from_l, iv, 0);
	return 0;
}

ssize_t dr_bucket_index(const struct drange *r, int64_t loc)
{
	if (r->nbuckets == 0 || loc < r->buckets[0])
		return -1;
	size_t lo = 0, hi = r->nbuckets;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (r->buckets[mid] <= loc)
			lo = mid;
		else
			hi = mid;
	}
	return (ssize_t)lo;
}

int dr_day_bucket(struct ictx *x, const struct drange *r, const char *day, size_t *k)
{
	if (!day)
		return ifail(x, "validation_error", "day is required: the date of the point");
	struct json_object *dj = json_object_new_object();
	if (!dj)
		return SN_ERR_NOMEM;
	json_object_object_add(dj, "date_from", json_object_new_string(day));
	json_object_object_add(dj, "explicitDate", json_object_new_boolean(true));
	struct drange one;
	int rc = dr_parse(x, dj, IV_MINUTE, INT64_MIN, false, &one);
	json_object_put(dj);
	if (rc)
		return rc;
	ssize_t i = dr_bucket_index(r, one.from);
	if (i < 0 || one.from > r->to)
		return ifail(x, "validation_error", "day %s is outside the insight's date range",
			     day);
	*k = (size_t)i;
	return 0;
}

int dr_buckets(struct ictx *x, struct drange *r, int week_start_day)
{
	int64_t start = align_loc(r->from, r->iv, week_start_day);
	size_t n = 0, cap = 64;
	int64_t *b = sn_arena_alloc(x->a, cap * sizeof(*b));
	for (int64_t t = start; b && t <= r->to; t = add_interval(t, r->iv, 1)) {
		if (n == cap) {
			if (cap >= 100000)
				return ifail(
				    x, "validation_error",
				    "The date range has more than 100000 intervals; choose a "
				    "shorter range or a longer interval");
			int64_t *nb = sn_arena_alloc(x->a, 2 * cap * sizeof(*nb));
			if (!nb)
				return SN_ERR_NOMEM;
			memcpy(nb, b, n * sizeof(*nb));
			b = nb;
			cap *= 2;
		}
		b[n++] = t;
	}
	if (!b)
		return SN_ERR_NOMEM;
	r->buckets = b;
	r->nbuckets = n;
	return 0;
}

int dr_previous(struct ictx *x, const struct drange *cur, const char *compare_to,
		struct drange *out)
{
	*out = *cur;
	out->buckets = NULL;
	out->nbuckets = 0;
	if (compare_to && *compare_to) {
		/* compare_to: the current range moved back by a relative delta. */
		struct rdelta rd;
		if (parse_rel(compare_to, &rd) != 2)
			return ifail(
			    x, "validation_error",
			    "compareFilter.compare_to must be a relative date like -1w: '%s'",
			    compare_to);
		out->from = rd_apply(cur->from, &rd, compare_to[0] == '-' ? -1 : 1);
		out->to = rd_apply(cur->to, &rd, compare_to[0] == '-' ? -1 : 1);
		out->where_from = rd_apply(cur->where_from, &rd, compare_to[0] == '-' ? -1 : 1);
		return 0;
	}
	/* get_compare_period_dates */
	int64_t diff = cur->to - cur->from;
	int64_t nf = cur->from - diff, nt;
	struct tmf f, t, nff;
	split(cur->from, &f);
	split(cur->to, &t);
	if (cur->iv == IV_MINUTE) {
		nt = cur->from;
	} else {
		split(nf, &nff);
		nff.h = f.h;
		nff.mi = f.mi;
		nff.s = f.s;
		nff.us = f.us;
		nf = join(&nff);
		if (cur->iv != IV_HOUR && cur->iv == IV_DAY && cur->from_days_delta &&
		    cur->from_days_delta % 7 == 0 && !cur->to_relative)
			nf += US_DAY;
		struct tmf e;
		split(nf + diff, &e);
		if (cur->iv != IV_HOUR)
			e.h = t.h;
		e.mi = t.mi;
		e.s = t.s;
		e.us = t.us;
		nt = join(&e);
	}
	out->from = nf;
	out->to = nt;
	out->where_from = cur->iv == IV_HOUR || cur->iv == IV_MINUTE || cur->where_from == cur->from
			      ? nf
			  : cur->iv == IV_WEEK ? fdiv(nf, US_DAY) * US_DAY
					       : align_loc(nf, cur->iv, 0);
	return 0;
}
