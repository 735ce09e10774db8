/*
 * fn_date.c — the executor's date and time functions, in time zones.
 *
 * Values: a DATETIME vector holds instants (µs since the epoch, UTC) and a
 * zone (struct vec.tz, NULL = the query's zone, opts->timezone): the zone
 * only says how the instants read as wall-clock time, as ClickHouse's
 * DateTime64(6, 'zone') does. toTimeZone() changes the zone and keeps the
 * instants. A DATE vector holds day numbers, which need no zone.
 *
 * Every calendar function works on local wall time: µs since 1970-01-01
 * 00:00 in the zone, the instant plus the offset in force at it (one
 * lock-free binary search per row, base/tz.c). Results that are dates are
 * day numbers of that wall time; results that are instants go back through
 * sn_tz_from_local, which resolves wall times that occur twice or never as
 * ClickHouse's DateLUT does (start of a day: the earlier instant, or the
 * end of the gap; makeDateTime-style arithmetic: the wall time moves back
 * by the gap). Sub-hour truncations subtract the local remainder from the
 * instant, which is what ClickHouse does for zones whose offsets are whole
 * hours (all but a few).
 *
 *   instant ──+offset(instant)──▶ wall µs ──split──▶ day number, µs of day
 *      ▲                                     │
 *      └──────── sn_tz_from_local ◀── truncated / shifted wall time
 *
 * Intervals (INTERVAL 7 DAY, parsed to toIntervalDay(7)) are never vectors:
 * the arithmetic and functions that take one (plus, minus, dateAdd,
 * toStartOfInterval) read the toInterval* call's unit from the node and
 * evaluate only its count.
 *
 * An explicit time-zone argument must be a constant String naming a zone
 * of the tz database; an unknown name is a QueryError naming it (so is an
 * unknown team zone, at the first function that needs it).
 *
 * A vector's zone lives as long as the vector: values that pass through
 * GROUP BY keys, a subquery, if()/coalesce() or the result are instants
 * again and read in the query's zone. Only calendar functions applied
 * after such a point to a toTimeZone()'d value see the difference.
 *
 * Week numbers (toWeek, toYearWeek) are ClickHouse's port of MySQL's
 * calc_week on the local date, mode bits and all (year_week). Some
 * functions keep ClickHouse's zone quirks on purpose, since PostHog's
 * users see them: toTime puts the wall-clock time on 1970-01-02 read with
 * the offset the zone had then, timeSlot and timeSlots cut UTC multiples
 * whatever the zone, timeZoneOf answers from the type (NULL rows too).
 *
 * Rejected alternative: converting whole vectors to broken-down civil
 * times (struct tm) first. Most functions need one or two fields, and the
 * day-number arithmetic (Hinnant's civil algorithms) is cheaper than
 * filling all of them.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "exec/exec_internal.h"

#define US_S	(1000000LL)
#define US_MIN	(60 * US_S)
#define US_HOUR (3600 * US_S)
#define US_DAY	(86400 * US_S)

/* ---- zones and arguments ----------------------------------------------------- */

const struct sn_tz *xzone(struct xctx *c, const node_t *at)
{
	if (!c->zone) {
		c->zone = sn_tz_get(c->tz);
		if (!c->zone) {
			xfail(c, at, SN_ERR_INVALID, "QueryError",
			      "Unknown time zone '%s' (the project's time zone)", c->tz);
			return NULL;
		}
	}
	return c->zone;
}

const struct sn_tz *xvec_zone(struct xctx *c, const struct vec *v, const node_t *at)
{
	return v->tz ? v->tz : xzone(c, at);
}

static bool is_time(uint8_t t)
{
	return t == SN_XT_DATE || t == SN_XT_DATETIME;
}

/* Argument k of call n as a constant String (its text in *s). */
static int const_str(struct xctx *c, const node_t *n, size_t k, const char *what, const char **s)
{
	const node_t *a = xfollow_alias(c, n->list.items[k]);
	if (a->kind != SN_HQ_CONSTANT || a->ctype != SN_HQC_STRING)
		return xfail(c, a, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects a constant String %s as argument %zu", n->name,
			     what, k + 1);
	*s = a->sval;
	return 0;
}

/* Argument k of n as a time zone. */
static int tz_arg(struct xctx *c, const node_t *n, size_t k, const struct sn_tz **z)
{
	const char *s;
	if (const_str(c, n, k, "time zone", &s))
		return c->rc;
	*z = sn_tz_get(s);
	if (!*z)
		return xfail(c, n->list.items[k], SN_ERR_INVALID, "QueryError",
			     "Unknown time zone '%s' in function '%s'", s, n->name);
	return 0;
}

/* Argument k of n as a constant integer (a mode). */
static int int_arg(struct xctx *c, const node_t *n, size_t k, int64_t lo, int64_t hi, int64_t *v)
{
	const node_t *a = xfollow_alias(c, n->list.items[k]);
	if (a->kind != SN_HQ_CONSTANT || a->ctype != SN_HQC_INT || a->ival < lo || a->ival > hi)
		return xfail(c, a, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects a constant integer from %" PRId64 " to %" PRId64
			     " as argument %zu",
			     n->name, lo, hi, k + 1);
	*v = a->ival;
	return 0;
}

/* A point in time: a Date or DateTime vector and the zone to read it in. */
struct targ {
	struct vec v;
	const struct sn_tz *z;
};

/* Evaluates arg (argument k of what, for messages) as a point in time.
 * z: an explicit zone or NULL (the value's own). NULL vectors pass
 * (t.v.t == SN_XT_NULL). */
static int time_check(struct xctx *c, const char *what, const node_t *arg, size_t k,
		      const struct sn_tz *z, struct targ *t)
{
	if (t->v.t != SN_XT_NULL && !is_time(t->v.t)) {
		char tn[48];
		return xfail(c, arg, SN_ERR_INVALID, "QueryError",
			     "%s expects a Date or DateTime as argument %zu, got %s%s", what, k + 1,
			     sn_exec_type_name(t->v.t, false, tn, sizeof(tn)),
			     t->v.t == SN_XT_STRING ? "; wrap it in toDateTime()" : "");
	}
	t->z = z ? z : xvec_zone(c, &t->v, arg);
	return t->z ? 0 : c->rc;
}

/* "Illegal type X of argument k+1 of function f" (ClickHouse's wording) and what it must be. */
static int illegal_type(struct xctx *c, const node_t *n, const struct vec *v, size_t k,
			const char *want)
{
	char tn[48];
	return xfail(c, n->list.items[k], SN_ERR_INVALID, "QueryError",
		     "Illegal type %s of argument %zu of function %s: it must be %s",
		     sn_exec_type_name(v->t, false, tn, sizeof(tn)), k + 1, n->name, want);
}

static int time_node(struct xctx *c, const char *what, const node_t *arg, size_t k,
		     const struct sn_tz *z, struct targ *t)
{
	if (xeval(c, arg, &t->v))
		return c->rc;
	return time_check(c, what, arg, k, z, t);
}

static int time_arg(struct xctx *c, const node_t *n, size_t k, const struct sn_tz *z,
		    struct targ *t)
{
	char what[96];
	snprintf(what, sizeof(what), "Function '%s'", n->name);
	return time_node(c, what, n->list.items[k], k, z, t);
}

static int64_t pmod(int64_t a, int64_t b)
{
	int64_t m = a % b;
	return m < 0 ? m + b : m;
}

/* Wall time of row r; *inst the instant (day starts for Dates). */
static int64_t wall_at(const struct targ *t, size_t r, int64_t *inst)
{
	if (t->v.t == SN_XT_DATE) {
		int64_t w = t->v.i[r] * US_DAY;
		if (inst)
			*inst = sn_tz_from_local(t->z, w, true);
		return w;
	}
	int64_t u = t->v.i[r];
	if (inst)
		*inst = u;
	return u + (int64_t)sn_tz_offset_at(t->z, u) * US_S;
}

int64_t xwall(const struct sn_tz *z, int64_t us)
{
	return us + (int64_t)sn_tz_offset_at(z, us) * US_S;
}

/* ---- calendar ------------------------------------------------------------------ */

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned mdays(int64_t y, unsigned m)
{
	static const unsigned d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

static const char *const month_names[] = {"January",   "February", "March",    "April",
					  "May",       "June",	   "July",     "August",
					  "September", "October",  "November", "December"};

/* ISO weekday of a day number: Monday 1 .. Sunday 7 (1970-01-01 was a Thursday). */
static int iso_dow(int64_t day)
{
	return (int)pmod(day + 3, 7) + 1;
}

static int64_t day_of_year(int64_t day)
{
	int64_t y;
	unsigned m, d;
	sn_civil_from_days(day, &y, &m, &d);
	return day - sn_days_from_civil(y, 1, 1) + 1;
}

/* ISO 8601 week number and its year. */
static void iso_week(int64_t day, int64_t *week, int64_t *year)
{
	int64_t thursday = day - iso_dow(day) + 4, y;
	unsigned m, d;
	sn_civil_from_days(thursday, &y, &m, &d);
	*year = y;
	*week = (thursday - sn_days_from_civil(y, 1, 1)) / 7 + 1;
}

/* Week modes (toWeek, toYearWeek, toStartOfWeek, toLastDayOfWeek), MySQL's
 * WEEK() bits as ClickHouse reads them: 1 weeks start on Monday (else
 * Sunday); 2 weeks are numbered 1..53, a week that begins in the previous
 * year belonging to it (else 0..53, 0 for such days); 4 week 1 is the first
 * with a first-day-of-week in the year (else the first with four or more
 * days in it); 8 week 1 is the one holding January 1 (bits 2 and 4 do not
 * apply). Bit 4 is flipped for Sunday modes, so that mode 0 is "Sunday,
 * 0..53, week 1 has a Sunday" as in MySQL. */
enum { WM_MONDAY = 1, WM_YEAR = 2, WM_FIRST_WEEKDAY = 4, WM_NEWYEAR = 8 };

static int64_t year_days(int64_t y)
{
	return leap(y) ? 366 : 365;
}

/* Whether the week holding Jan 1 (weekday wd from the week's first day)
 * falls short of being week 1 of its year: it lacks the first day of the
 * week (first_wd) or has fewer than four days of the year. */
static bool week1_late(bool first_wd, int wd)
{
	return first_wd ? wd != 0 : wd >= 4;
}

/* Week of day number day in mode and the year it counts in (ClickHouse's
 * DateLUTImpl::toYearWeek, MySQL's calc_week). wd is the weekday of the
 * year's January 1 counted from the first day of the week (0..6). */
static void year_week(int64_t day, unsigned mode, int64_t *year, int64_t *week)
{
	unsigned m = mode & 7;
	if (!(m & WM_MONDAY))
		m ^= WM_FIRST_WEEKDAY;
	bool monday = m & WM_MONDAY, whole_year = m & WM_YEAR, first_wd = m & WM_FIRST_WEEKDAY;
	int64_t y, days;
	unsigned mo, d;
	sn_civil_from_days(day, &y, &mo, &d);
	if (mode & WM_NEWYEAR) {
		/* A week belongs to the year of its last day; week 1 holds Jan 1. */
		int64_t start = monday ? day - iso_dow(day) + 1 : day - iso_dow(day) % 7;
		int64_t ly;
		sn_civil_from_days(start + 6, &ly, &mo, &d);
		int64_t jan1 = sn_days_from_civil(ly, 1, 1);
		int64_t first = monday ? jan1 - iso_dow(jan1) + 1 : jan1 - iso_dow(jan1) % 7;
		*year = ly;
		*week = (start - first) / 7 + 1;
		return;
	}
	int64_t jan1 = sn_days_from_civil(y, 1, 1);
	int wd = monday ? iso_dow(jan1) - 1 : iso_dow(jan1) % 7;
	if (mo == 1 && d <= (unsigned)(7 - wd)) {
		/* Jan 1's week: week 0, or a week of the previous year. */
		if (!whole_year && week1_late(first_wd, wd)) {
			*year = y;
			*week = 0;
			return;
		}
		whole_year = true;
		y--;
		days = year_days(y);
		jan1 -= days;
		wd = (int)((wd + 53 * 7 - days) % 7);
	}
	days = week1_late(first_wd, wd) ? day - (jan1 + 7 - wd) : day - (jan1 - wd);
	if (whole_year && days >= 52 * 7) {
		/* The last days of December may be week 1 of the next year. */
		int nwd = (int)((wd + year_days(y)) % 7);
		if (!week1_late(first_wd, nwd)) {
			*year = y + 1;
			*week = 1;
			return;
		}
	}
	*year = y;
	*week = days / 7 + 1;
}

/* Day number of year y, month m (any integer, normalised), day d clamped to the month. */
static int64_t add_months_day(int64_t y, int64_t m0, unsigned d)
{
	int64_t t = y * 12 + m0;
	int64_t ny = t >= 0 ? t / 12 : -((-t + 11) / 12);
	unsigned nm = (unsigned)(t - ny * 12) + 1;
	unsigned md = mdays(ny, nm);
	return sn_days_from_civil(ny, nm, d > md ? md : d);
}

/* ---- units ------------------------------------------------------------------------ */

enum unit { U_NONE = -1, U_SECOND, U_MINUTE, U_HOUR, U_DAY, U_WEEK, U_MONTH, U_QUARTER, U_YEAR };

static const char *const unit_names[] = {"second", "minute", "hour",	"day",
					 "week",   "month",  "quarter", "year"};

/* A unit as dateDiff / dateTrunc / dateAdd name it (ClickHouse's spellings). */
static enum unit unit_of(const char *s)
{
	static const struct {
		const char *name;
		enum unit u;
	} alias[] = {
	    {"ss", U_SECOND},  {"s", U_SECOND},	 {"mi", U_MINUTE}, {"n", U_MINUTE},
	    {"hh", U_HOUR},    {"h", U_HOUR},	 {"dd", U_DAY},	   {"d", U_DAY},
	    {"wk", U_WEEK},    {"ww", U_WEEK},	 {"mm", U_MONTH},  {"m", U_MONTH},
	    {"qq", U_QUARTER}, {"q", U_QUARTER}, {"yy", U_YEAR},   {"yyyy", U_YEAR},
	};
	for (int u = 0; u < (int)SN_ARRAY_LEN(unit_names); u++) {
		size_t l = strlen(unit_names[u]);
		if (strncasecmp(s, unit_names[u], l) == 0 &&
		    (s[l] == 0 || ((s[l] == 's' || s[l] == 'S') && s[l + 1] == 0)))
			return (enum unit)u;
	}
	for (size_t i = 0; i < SN_ARRAY_LEN(alias); i++)
		if (strcasecmp(s, alias[i].name) == 0)
			return alias[i].u;
	return U_NONE;
}

/* The unit of a toInterval* call (INTERVAL n UNIT), or U_NONE. */
static enum unit interval_unit(const node_t *n)
{
	if (!n || n->kind != SN_HQ_CALL || strncmp(n->name, "toInterval", 10) != 0 ||
	    n->list.n != 1)
		return U_NONE;
	for (int u = 0; u < (int)SN_ARRAY_LEN(unit_names); u++)
		if (strcasecmp(n->name + 10, unit_names[u]) == 0)
			return (enum unit)u;
	return U_NONE;
}

/* The counts of an interval call as integers (NULL rows stay NULL). */
static int interval_counts(struct xctx *c, const node_t *iv, struct vec *k)
{
	struct vec v;
	if (xeval(c, iv->list.items[0], &v))
		return c->rc;
	if (v.t == SN_XT_NULL || is_intlike(v.t)) {
		*k = v;
		return 0;
	}
	if (v.t != SN_XT_FLOAT)
		return xfail(c, iv, SN_ERR_INVALID, "QueryError", "Function '%s' expects a number",
			     iv->name);
	if (vec_make(c, k, SN_XT_INT, v.nullable, c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		k->i[r] = isfinite(v.f[r]) ? (int64_t)trunc(v.f[r]) : 0;
		if (k->nulls)
			k->nulls[r] = vec_null(&v, r);
	}
	return 0;
}

/* ---- shifting by an interval ----------------------------------------------------- */

/* Date + k units: a day number, or (sub-day units) an instant. */
static int64_t shift_date(int64_t day, enum unit u, int64_t k, const struct sn_tz *z)
{
	int64_t y;
	unsigned m, d;
	switch (u) {
	case U_DAY: return day + k;
	case U_WEEK: return day + 7 * k;
	case U_MONTH:
	case U_QUARTER:
	case U_YEAR:
		sn_civil_from_days(day, &y, &m, &d);
		return add_months_day(y,
				      (int64_t)m - 1 +
					  k * (u == U_MONTH	? 1
					       : u == U_QUARTER ? 3
								: 12),
				      d);
	default: {
		int64_t unit = u == U_SECOND ? US_S : u == U_MINUTE ? US_MIN : US_HOUR;
		return sn_tz_from_local(z, day * US_DAY, true) + k * unit;
	}
	}
}

/* DateTime + k units in zone z: seconds to hours move the instant; days
 * and longer keep the wall-clock time (ClickHouse's addDays/addMonths). */
static int64_t shift_dt(int64_t us, enum unit u, int64_t k, const struct sn_tz *z)
{
	if (u <= U_HOUR)
		return us + k * (u == U_SECOND ? US_S : u == U_MINUTE ? US_MIN : US_HOUR);
	int64_t w = xwall(z, us);
	int64_t day = floor_div(w, US_DAY), tod = w - day * US_DAY;
	return sn_tz_from_local(z, shift_date(day, u, k, z) * US_DAY + tod, false);
}

/* The largest count of each unit date arithmetic takes: about 10,000
 * years, far beyond any date ClickHouse represents, and small enough that
 * no intermediate overflows. */
static const int64_t SPAN_MAX[] = {
    [U_SECOND] = 320000000000LL, [U_MINUTE] = 5300000000LL, [U_HOUR] = 88000000LL,
    [U_DAY] = 3660000LL,	 [U_WEEK] = 520000LL,	    [U_MONTH] = 120000LL,
    [U_QUARTER] = 40000LL,	 [U_YEAR] = 10000LL,
};

static int span_fail(struct xctx *c, const node_t *n)
{
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Date arithmetic out of range (more than 10000 years)");
}

/* out = t + sign * k units; Dates stay Dates for day units and longer. */
static int shift_vec(struct xctx *c, const node_t *n, const struct targ *t, enum unit u,
		     const struct vec *k, int sign, struct vec *out)
{
	if (t->v.t == SN_XT_NULL || k->t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	bool to_dt = t->v.t == SN_XT_DATETIME || u <= U_HOUR;
	if (vec_make(c, out, to_dt ? SN_XT_DATETIME : SN_XT_DATE, t->v.nullable || k->nullable,
		     c->n))
		return c->rc;
	out->tz = t->v.t == SN_XT_DATETIME ? t->v.tz : NULL;
	merge_nulls(out, &t->v, k);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		if (k->i[r] > SPAN_MAX[u] || k->i[r] < -SPAN_MAX[u])
			return span_fail(c, n);
		int64_t kk = sign * k->i[r];
		out->i[r] = t->v.t == SN_XT_DATE ? shift_date(t->v.i[r], u, kk, t->z)
						 : shift_dt(t->v.i[r], u, kk, t->z);
	}
	return 0;
}

/* ---- text to time --------------------------------------------------------------------- */

static bool ndig(const char *s, size_t n, int *out)
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

/* Parses the ISO-ish forms parseDateTimeBestEffort reads most often:
 * "YYYY-MM-DD", "YYYY-MM-DD[ T]hh:mm[:ss[.frac]]", optionally followed by
 * "Z", "UTC" or an offset "±hh[:mm]"/"±hhmm", "YYYYMMDD", and unix
 * seconds (other all-digit texts of 10 digits or fewer, not 4). *zoned: the text fixed its instant
 * (then *us is the instant); otherwise *us is wall time. */
static bool parse_text(const char *s, size_t len, int64_t *us, bool *zoned, bool *date_only)
{
	while (len && isspace((unsigned char)*s))
		s++, len--;
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	*zoned = false;
	*date_only = false;
	if (len && len <= 10) {
		size_t i = 0;
		while (i < len && isdigit((unsigned char)s[i]))
			i++;
		if (i == len && len == 8) {
			/* YYYYMMDD */
			int y8 = 0, m8 = 0, d8 = 0;
			ndig(s, 4, &y8);
			ndig(s + 4, 2, &m8);
			ndig(s + 6, 2, &d8);
			if (m8 < 1 || m8 > 12 || d8 < 1 || (unsigned)d8 > mdays(y8, (unsigned)m8))
				return false;
			*us = sn_days_from_civil(y8, (unsigned)m8, (unsigned)d8) * US_DAY;
			*date_only = true;
			return true;
		}
		if (i == len && len != 4) {
			int64_t v = 0;
			for (i = 0; i < len; i++)
				v = v * 10 + (s[i] - '0');
			*us = v * US_S;
			*zoned = true;
			return true;
		}
	}
	int y, mo, d, h = 0, mi = 0, sec = 0;
	if (len < 10 || !ndig(s, 4, &y) || (s[4] != '-' && s[4] != '/') || !ndig(s + 5, 2, &mo) ||
	    s[7] != s[4] || !ndig(s + 8, 2, &d) || mo < 1 || mo > 12 || d < 1 ||
	    (unsigned)d > mdays(y, (unsigned)mo))
		return false;
	size_t p = 10;
	int64_t frac = 0;
	if (p == len)
		*date_only = true;
	if (p < len && (s[p] == ' ' || s[p] == 'T') && p + 6 <= len &&
	    isdigit((unsigned char)s[p + 1])) {
		if (!ndig(s + p + 1, 2, &h) || s[p + 3] != ':' || !ndig(s + p + 4, 2, &mi) ||
		    h > 23 || mi > 59)
			return false;
		p += 6;
		if (p < len && s[p] == ':') {
			if (p + 3 > len || !ndig(s + p + 1, 2, &sec) || sec > 59)
				return false;
			p += 3;
			if (p < len && (s[p] == '.' || s[p] == ',')) {
				p++;
				int nd = 0;
				while (p < len && isdigit((unsigned char)s[p])) {
					if (nd < 6) {
						frac = frac * 10 + (s[p] - '0');
						nd++;
					}
					p++;
				}
				if (!nd)
					return false;
				for (; nd < 6; nd++)
					frac *= 10;
			}
		}
	}
	while (p < len && s[p] == ' ')
		p++;
	int64_t off_s = 0;
	if (p < len) {
		if ((s[p] == 'Z' || s[p] == 'z') && p + 1 == len) {
			p++;
		} else if (len - p == 3 && strncasecmp(s + p, "UTC", 3) == 0) {
			p += 3;
		} else if (s[p] == '+' || s[p] == '-') {
			int oh, om = 0;
			size_t q = p + 1;
			if (q + 2 > len || !ndig(s + q, 2, &oh))
				return false;
			q += 2;
			if (q < len && s[q] == ':')
				q++;
			if (q < len) {
				if (q + 2 != len || !ndig(s + q, 2, &om))
					return false;
				q += 2;
			}
			if (oh > 14 || om > 59)
				return false;
			off_s = (oh * 3600 + om * 60) * (s[p] == '-' ? -1 : 1);
			p = q;
		} else {
			return false;
		}
		*zoned = true;
	}
	if (p != len)
		return false;
	int64_t days = sn_days_from_civil(y, (unsigned)mo, (unsigned)d);
	*us = (days * 86400 + h * 3600 + mi * 60 + sec - off_s) * US_S + frac;
	return true;
}

/* Text → instant, a zone-less text read as wall time in z. */
bool xparse_instant(const struct sn_tz *z, const char *s, size_t len, int64_t *us, bool *date_only)
{
	bool zoned;
	if (!parse_text(s, len, us, &zoned, date_only))
		return false;
	if (!zoned)
		*us = sn_tz_from_local(z, *us, false);
	return true;
}

/* ---- conversions: toDate, toDateTime, toTimeZone, unix time -------------------------- */

/* toDate(x[, tz]): Date, DateTime (its date in tz), text (NULL when it
 * does not parse), unix seconds or day numbers. */
static int eval_todate(struct xctx *c, const node_t *n, struct vec *out)
{
	const struct sn_tz *z = NULL;
	struct vec v;
	if (need_args(c, n, 1, 2) || (n->list.n == 2 && tz_arg(c, n, 1, &z)) ||
	    xeval(c, n->list.items[0], &v))
		return c->rc;
	if (v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	bool text = v.t == SN_XT_STRING;
	if (!(text || is_time(v.t) || is_intlike(v.t)))
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'toDate' expects a date, a DateTime, text or a number");
	if (!z && !(z = xvec_zone(c, &v, n)))
		return c->rc;
	if (vec_make(c, out, SN_XT_DATE, v.nullable || !is_time(v.t), c->n))
		return c->rc;
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(&v, r)) {
			out->nulls[r] = 1;
			continue;
		}
		if (v.t == SN_XT_DATE) {
			out->i[r] = v.i[r];
		} else if (v.t == SN_XT_DATETIME) {
			out->i[r] = floor_div(xwall(z, v.i[r]), US_DAY);
		} else if (text) {
			int64_t us;
			bool zoned, date_only;
			if (!parse_text(v.s[r].p, v.s[r].len, &us, &zoned, &date_only)) {
				out->nulls[r] = 1;
				continue;
			}
			out->i[r] = floor_div(zoned ? xwall(z, us) : us, US_DAY);
		} else {
			/* ClickHouse: small numbers are day numbers, larger ones unix seconds. */
			int64_t x = v.i[r];
			if (x > SPAN_MAX[U_SECOND] || x < -SPAN_MAX[U_SECOND]) {
				out->nulls[r] = 1;
				continue;
			}
			out->i[r] = x < 65536 && x >= 0 ? x : floor_div(xwall(z, x * US_S), US_DAY);
		}
		if (out->nulls)
			out->nulls[r] = 0;
	}
	return 0;
}

/* toDateTime(x[, tz]), toDateTime64(x[, precision[, tz]]),
 * parseDateTimeBestEffort[OrNull](s[, tz]), fromUnixTimestamp(n),
 * fromUnixTimestamp64Milli(n[, tz]). */
static int eval_todatetime(struct xctx *c, const node_t *n, int kind, struct vec *out)
{
	/* kind: 0 toDateTime, 1 toDateTime64, 2 parseDateTimeBestEffort*, 3 fromUnixTimestamp,
	 * 4 fromUnixTimestamp64Milli */
	size_t max = kind == 1 ? 3 : kind == 3 ? 1 : 2, tzk = kind == 1 ? 2 : 1;
	const struct sn_tz *z = NULL;
	struct vec v;
	if (need_args(c, n, 1, max))
		return c->rc;
	if (kind == 1 && n->list.n >= 2) {
		int64_t prec;
		if (int_arg(c, n, 1, 0, 9, &prec))
			return c->rc;
	}
	if (n->list.n > tzk && tz_arg(c, n, tzk, &z))
		return c->rc;
	if (xeval(c, n->list.items[0], &v))
		return c->rc;
	if (v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	bool text = v.t == SN_XT_STRING;
	if (kind == 2 && !text)
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "Function '%s' expects a String",
			     n->name);
	if (kind >= 3 && !is_intlike(v.t))
		return illegal_type(c, n, &v, 0,
				    kind == 3 ? "an integer (unix seconds)"
					      : "an integer (unix milliseconds)");
	if (!(text || is_time(v.t) || is_numeric(v.t)))
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects a date, a DateTime, text or a number", n->name);
	const struct sn_tz *rz = z ? z : xvec_zone(c, &v, n);
	if (!rz)
		return c->rc;
	if (vec_make(c, out, SN_XT_DATETIME, v.nullable || !is_time(v.t), c->n))
		return c->rc;
	out->tz = z ? z : (v.t == SN_XT_DATETIME ? v.tz : NULL);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(&v, r)) {
			out->nulls[r] = 1;
			continue;
		}
		if (v.t == SN_XT_DATETIME) {
			out->i[r] = v.i[r];
		} else if (v.t == SN_XT_DATE) {
			out->i[r] = sn_tz_from_local(rz, v.i[r] * US_DAY, true);
		} else if (text) {
			bool date_only;
			if (!xparse_instant(rz, v.s[r].p, v.s[r].len, &out->i[r], &date_only)) {
				out->nulls[r] = 1;
				continue;
			}
		} else if (v.t == SN_XT_FLOAT
			       ? !(fabs(v.f[r]) <= (double)SPAN_MAX[U_SECOND])
			       : (v.t == SN_XT_UINT && v.i[r] < 0) /* above INT64_MAX */ ||
				     v.i[r] > SPAN_MAX[U_SECOND] * (kind == 4 ? 1000 : 1) ||
				     v.i[r] < -SPAN_MAX[U_SECOND] * (kind == 4 ? 1000 : 1)) {
			out->nulls[r] = 1; /* beyond any representable DateTime */
			continue;
		} else if (v.t == SN_XT_FLOAT) {
			out->i[r] = (int64_t)floor(v.f[r] * 1e6);
		} else {
			out->i[r] = v.i[r] * (kind == 4 ? 1000 : US_S);
		}
		if (out->nulls)
			out->nulls[r] = 0;
	}
	return 0;
}

/* toTimeZone(ts[, tz]): the same instants, read in another zone. */
static int eval_totimezone(struct xctx *c, const node_t *n, struct vec *out)
{
	const struct sn_tz *z = NULL;
	struct targ t;
	if (need_args(c, n, 1, 2) || (n->list.n == 2 && tz_arg(c, n, 1, &z)) ||
	    time_arg(c, n, 0, z, &t))
		return c->rc;
	if (t.v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (t.v.t == SN_XT_DATE) {
		if (vec_make(c, out, SN_XT_DATETIME, t.v.nullable, c->n))
			return c->rc;
		merge_nulls(out, &t.v, NULL);
		for (size_t r = 0; r < c->n; r++)
			if (!vec_null(out, r))
				wall_at(&t, r, &out->i[r]);
	} else {
		*out = t.v;
	}
	out->tz = z;
	return 0;
}

/* ---- one point in time in, one value out ---------------------------------------------- */

enum op {
	/* → Date */
	O_DATE0,
	O_SWEEK,
	O_MONDAY,
	O_SMONTH,
	O_SQUARTER,
	O_SYEAR,
	O_SISOYEAR,
	O_LASTDAY,
	O_LWEEK,
	/* → DateTime */
	O_SDAY,
	O_SHOUR,
	O_SMINUTE,
	O_SSECOND,
	O_S5MIN,
	O_S10MIN,
	O_S15MIN,
	O_TIMESLOT,
	O_TOTIME,
	/* → Int */
	O_YEAR,
	O_QUARTER,
	O_MONTH,
	O_DOM,
	O_DOW,
	O_DOY,
	O_HOUR,
	O_MINUTE,
	O_SECOND,
	O_ISOWEEK,
	O_ISOYEAR,
	O_YYYYMM,
	O_YYYYMMDD,
	O_YYYYMMDDHHMMSS,
	O_UNIX,
	O_WEEK,
	O_YEARWEEK,
	O_TZOFFSET,
};

static const struct {
	const char *name;
	uint8_t op;
	uint8_t mode_arg; /* 1: (t[, mode[, tz]]) */
	uint8_t dt_only;  /* 1: a Date is refused (ClickHouse has no time of day for it) */
} unary_fns[] = {
    {"toStartOfWeek", O_SWEEK, 1, 0},
    {"toLastDayOfWeek", O_LWEEK, 1, 0},
    {"toMonday", O_MONDAY, 0, 0},
    {"toStartOfMonth", O_SMONTH, 0, 0},
    {"toStartOfQuarter", O_SQUARTER, 0, 0},
    {"toStartOfYear", O_SYEAR, 0, 0},
    {"toStartOfISOYear", O_SISOYEAR, 0, 0},
    {"toLastDayOfMonth", O_LASTDAY, 0, 0},
    {"toStartOfDay", O_SDAY, 0, 0},
    {"toStartOfHour", O_SHOUR, 0, 0},
    {"toStartOfMinute", O_SMINUTE, 0, 0},
    {"toStartOfSecond", O_SSECOND, 0, 0},
    {"toStartOfFiveMinutes", O_S5MIN, 0, 0},
    {"toStartOfFiveMinute", O_S5MIN, 0, 0},
    {"toStartOfTenMinutes", O_S10MIN, 0, 0},
    {"toStartOfFifteenMinutes", O_S15MIN, 0, 0},
    {"toYear", O_YEAR, 0, 0},
    {"toQuarter", O_QUARTER, 0, 0},
    {"toMonth", O_MONTH, 0, 0},
    {"toDayOfMonth", O_DOM, 0, 0},
    {"toDayOfWeek", O_DOW, 1, 0},
    {"toDayOfYear", O_DOY, 0, 0},
    {"toHour", O_HOUR, 0, 0},
    {"toMinute", O_MINUTE, 0, 0},
    {"toSecond", O_SECOND, 0, 0},
    {"toISOWeek", O_ISOWEEK, 0, 0},
    {"toISOYear", O_ISOYEAR, 0, 0},
    {"toYYYYMM", O_YYYYMM, 0, 0},
    {"toYYYYMMDD", O_YYYYMMDD, 0, 0},
    {"toYYYYMMDDhhmmss", O_YYYYMMDDHHMMSS, 0, 0},
    {"toUnixTimestamp", O_UNIX, 0, 0},
    {"toWeek", O_WEEK, 1, 0},
    {"toYearWeek", O_YEARWEEK, 1, 0},
    {"timeSlot", O_TIMESLOT, 0, 1},
    {"toTime", O_TOTIME, 0, 1},
    {"timeZoneOffset", O_TZOFFSET, 0, 1},
};

/* Row r of t through op (mode: week or weekday mode). */
static int64_t apply(uint8_t op, int mode, const struct targ *t, size_t r)
{
	int64_t inst, w = wall_at(t, r, op >= O_SDAY ? &inst : NULL);
	int64_t day = floor_div(w, US_DAY), tod = w - day * US_DAY, y = 0;
	unsigned m = 1, d = 1;
	switch (op) { /* the calendar date only where it is needed */
	case O_SMONTH:
	case O_SQUARTER:
	case O_SYEAR:
	case O_LASTDAY:
	case O_YEAR:
	case O_QUARTER:
	case O_MONTH:
	case O_DOM:
	case O_YYYYMM:
	case O_YYYYMMDD:
	case O_YYYYMMDDHHMMSS: sn_civil_from_days(day, &y, &m, &d); break;
	default: break;
	}
	int64_t wk, wy;
	switch (op) {
	case O_DATE0: return day;
	case O_SWEEK:
		/* Odd modes start weeks on Monday, even ones on Sunday. */
		return (mode & WM_MONDAY) ? day - iso_dow(day) + 1 : day - iso_dow(day) % 7;
	case O_MONDAY: return day - iso_dow(day) + 1;
	case O_SMONTH: return sn_days_from_civil(y, m, 1);
	case O_SQUARTER: return sn_days_from_civil(y, (m - 1) / 3 * 3 + 1, 1);
	case O_SYEAR: return sn_days_from_civil(y, 1, 1);
	case O_SISOYEAR: iso_week(day, &wk, &wy); return day - iso_dow(day) + 1 - (wk - 1) * 7;
	case O_LASTDAY: return sn_days_from_civil(y, m, mdays(y, m));
	case O_LWEEK: /* Sunday, or Saturday for Sunday-first modes */
		return (mode & WM_MONDAY) ? day - iso_dow(day) + 7 : day - iso_dow(day) % 7 + 6;
	case O_SDAY: return sn_tz_from_local(t->z, day * US_DAY, true);
	case O_SHOUR: return t->v.t == SN_XT_DATE ? inst : inst - pmod(tod, US_HOUR);
	case O_SMINUTE: return t->v.t == SN_XT_DATE ? inst : inst - pmod(tod, US_MIN);
	case O_SSECOND: return t->v.t == SN_XT_DATE ? inst : inst - pmod(tod, US_S);
	case O_S5MIN: return t->v.t == SN_XT_DATE ? inst : inst - pmod(tod, 5 * US_MIN);
	case O_S10MIN: return t->v.t == SN_XT_DATE ? inst : inst - pmod(tod, 10 * US_MIN);
	case O_S15MIN: return t->v.t == SN_XT_DATE ? inst : inst - pmod(tod, 15 * US_MIN);
	/* Half hours of UTC, whatever the zone (ClickHouse: t / 1800 * 1800). */
	case O_TIMESLOT: return floor_div(inst, 1800 * US_S) * 1800 * US_S;
	/* The wall-clock time (whole seconds) on 1970-01-02, read with the
	 * offset the zone had at the epoch, as ClickHouse's toTime does. */
	case O_TOTIME: return sn_tz_from_local(t->z, 0, true) + US_DAY + tod / US_S * US_S;
	case O_TZOFFSET: return sn_tz_offset_at(t->z, inst);
	case O_WEEK: year_week(day, (unsigned)mode, &wy, &wk); return wk;
	case O_YEARWEEK: year_week(day, (unsigned)mode | WM_YEAR, &wy, &wk); return wy * 100 + wk;
	case O_YEAR: return y;
	case O_QUARTER: return (m - 1) / 3 + 1;
	case O_MONTH: return m;
	case O_DOM: return d;
	case O_DOW:
		/* 0: Monday 1..7, 1: Monday 0..6, 2: Sunday 0..6, 3: Sunday 1..7. */
		switch (mode) {
		case 1: return iso_dow(day) - 1;
		case 2: return iso_dow(day) % 7;
		case 3: return iso_dow(day) % 7 + 1;
		default: return iso_dow(day);
		}
	case O_DOY: return day_of_year(day);
	case O_HOUR: return tod / US_HOUR;
	case O_MINUTE: return tod / US_MIN % 60;
	case O_SECOND: return tod / US_S % 60;
	case O_ISOWEEK: iso_week(day, &wk, &wy); return wk;
	case O_ISOYEAR: iso_week(day, &wk, &wy); return wy;
	case O_YYYYMM: return y * 100 + m;
	case O_YYYYMMDD: return y * 10000 + m * 100 + d;
	case O_YYYYMMDDHHMMSS:
		return (y * 10000 + m * 100 + d) * 1000000 + tod / US_HOUR * 10000 +
		       tod / US_MIN % 60 * 100 + tod / US_S % 60;
	default: return floor_div(inst, US_S); /* O_UNIX */
	}
}

static int eval_unary(struct xctx *c, const node_t *n, uint8_t op, bool mode_arg, bool dt_only,
		      struct vec *out)
{
	size_t max = mode_arg ? 3 : 2, tzk = mode_arg ? 2 : 1;
	int64_t mode = 0;
	const struct sn_tz *z = NULL;
	if (need_args(c, n, 1, max) ||
	    (mode_arg && n->list.n >= 2 && int_arg(c, n, 1, 0, 9, &mode)) ||
	    (n->list.n > tzk && tz_arg(c, n, tzk, &z)))
		return c->rc;
	struct targ t;
	if (op == O_UNIX) {
		/* toUnixTimestamp also reads text, in the zone given or the query's. */
		struct vec v;
		if (xeval(c, n->list.items[0], &v))
			return c->rc;
		if (v.t == SN_XT_STRING) {
			const struct sn_tz *rz = z ? z : xzone(c, n);
			if (!rz || vec_make(c, out, SN_XT_INT, true, c->n))
				return c->rc;
			for (size_t r = 0; r < c->n; r++) {
				int64_t us;
				bool date_only;
				out->nulls[r] =
				    vec_null(&v, r) ||
				    !xparse_instant(rz, v.s[r].p, v.s[r].len, &us, &date_only);
				if (!out->nulls[r])
					out->i[r] = floor_div(us, US_S);
			}
			return 0;
		}
		t.v = v;
		if (time_check(c, "Function 'toUnixTimestamp'", n->list.items[0], 0, z, &t))
			return c->rc;
	} else if (time_arg(c, n, 0, z, &t)) {
		return c->rc;
	}
	if (dt_only && t.v.t == SN_XT_DATE)
		return illegal_type(c, n, &t.v, 0, "a DateTime");
	if (t.v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	uint8_t rt = op < O_SDAY ? SN_XT_DATE : op < O_YEAR ? SN_XT_DATETIME : SN_XT_INT;
	if (vec_make(c, out, rt, t.v.nullable, c->n))
		return c->rc;
	if (rt == SN_XT_DATETIME)
		out->tz = z ? z : t.v.tz;
	merge_nulls(out, &t.v, NULL);
	if (op == O_UNIX && t.v.t == SN_XT_DATETIME) {
		/* The instant alone, no zone and no calendar: a tight loop (apply's
		 * wall-clock time and day were half of sum(toUnixTimestamp(timestamp))
		 * over 9M rows). NULL rows hold values too and are computed unread. */
		for (size_t r = 0; r < c->n; r++) {
			int64_t v = t.v.i[r], q = v / US_S;
			out->i[r] = q - (v % US_S < 0); /* floor_div, inlined */
		}
		return 0;
	}
	for (size_t r = 0; r < c->n; r++)
		if (!vec_null(out, r))
			out->i[r] = apply(op, (int)mode, &t, r);
	return 0;
}

/* ---- dateTrunc, toStartOfInterval --------------------------------------------------- */

static int eval_datetrunc(struct xctx *c, const node_t *n, struct vec *out)
{
	const char *us;
	const struct sn_tz *z = NULL;
	if (need_args(c, n, 2, 3) || const_str(c, n, 0, "unit", &us) ||
	    (n->list.n == 3 && tz_arg(c, n, 2, &z)))
		return c->rc;
	static const uint8_t ops[] = {
	    [U_SECOND] = O_SSECOND,   [U_MINUTE] = O_SMINUTE, [U_HOUR] = O_SHOUR,
	    [U_DAY] = O_SDAY,	      [U_WEEK] = O_MONDAY,    [U_MONTH] = O_SMONTH,
	    [U_QUARTER] = O_SQUARTER, [U_YEAR] = O_SYEAR};
	enum unit u = unit_of(us);
	if (u == U_NONE)
		return xfail(c, n->list.items[0], SN_ERR_INVALID, "QueryError",
			     "Function '%s': unknown unit '%s' (second, minute, hour, day, week, "
			     "month, quarter, year)",
			     n->name, us);
	struct targ t;
	if (time_arg(c, n, 1, z, &t))
		return c->rc;
	if (t.v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	uint8_t op = ops[u];
	if (vec_make(c, out, op < O_SDAY ? SN_XT_DATE : SN_XT_DATETIME, t.v.nullable, c->n))
		return c->rc;
	if (out->t == SN_XT_DATETIME)
		out->tz = z ? z : t.v.tz;
	merge_nulls(out, &t.v, NULL);
	for (size_t r = 0; r < c->n; r++)
		if (!vec_null(out, r))
			out->i[r] = apply(op, 0, &t, r);
	return 0;
}

/* toStartOfInterval(t, INTERVAL k unit[, tz]) as ClickHouse aligns it:
 * seconds and minutes to the epoch, hours to the local midnight, days to
 * day number 0, weeks to Mondays, months and quarters to 1900-01, years
 * to year 0. Weeks and longer give Dates. */
static int eval_startofinterval(struct xctx *c, const node_t *n, struct vec *out)
{
	const struct sn_tz *z = NULL;
	if (need_args(c, n, 2, 3) || (n->list.n == 3 && tz_arg(c, n, 2, &z)))
		return c->rc;
	const node_t *iv = xfollow_alias(c, n->list.items[1]);
	enum unit u = interval_unit(iv);
	if (u == U_NONE)
		return xfail(c, n->list.items[1], SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects an INTERVAL as argument 2", n->name);
	const node_t *kn = xfollow_alias(c, iv->list.items[0]);
	if (kn->kind != SN_HQ_CONSTANT || kn->ctype != SN_HQC_INT || kn->ival < 1)
		return xfail(c, kn, SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects a constant positive INTERVAL", n->name);
	int64_t k = kn->ival;
	struct targ t;
	if (time_arg(c, n, 0, z, &t))
		return c->rc;
	if (t.v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	bool to_date = u >= U_WEEK;
	if (vec_make(c, out, to_date ? SN_XT_DATE : SN_XT_DATETIME, t.v.nullable, c->n))
		return c->rc;
	if (!to_date)
		out->tz = z ? z : t.v.tz;
	merge_nulls(out, &t.v, NULL);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t inst, w = wall_at(&t, r, &inst), day = floor_div(w, US_DAY), y;
		int64_t tod = w - day * US_DAY, v;
		unsigned m, d;
		sn_civil_from_days(day, &y, &m, &d);
		switch (u) {
		case U_SECOND: v = inst - pmod(inst, k * US_S); break;
		case U_MINUTE: v = inst - pmod(inst, k * US_MIN); break;
		case U_HOUR:
			v = sn_tz_from_local(t.z, day * US_DAY + tod / (k * US_HOUR) * k * US_HOUR,
					     false);
			if (v > inst)
				v = inst - pmod(tod, US_HOUR);
			break;
		case U_DAY: v = sn_tz_from_local(t.z, floor_div(day, k) * k * US_DAY, true); break;
		case U_WEEK: v = 4 + floor_div(day - 4, 7 * k) * 7 * k; break;
		case U_MONTH:
		case U_QUARTER: {
			int64_t span = u == U_MONTH ? k : 3 * k;
			int64_t idx = (y - 1900) * 12 + m - 1;
			idx = floor_div(idx, span) * span;
			v = add_months_day(1900, idx, 1);
			break;
		}
		default: v = sn_days_from_civil(floor_div(y, k) * k, 1, 1); break;
		}
		out->i[r] = v;
	}
	return 0;
}

/* ---- dateDiff ----------------------------------------------------------------------------- */

/* The number of unit boundaries before instant inst with wall time w (ClickHouse's toRelative*Num).
 */
static int64_t rel_num(enum unit u, int64_t w, int64_t inst)
{
	int64_t day = floor_div(w, US_DAY), y;
	unsigned m, d;
	switch (u) {
	case U_SECOND: return floor_div(inst, US_S);
	/* Whole-hour offsets count in UTC (ClickHouse's fast path); others locally. */
	case U_MINUTE: return floor_div(inst + (w - inst) % US_MIN, US_MIN);
	case U_HOUR: return floor_div(inst + (w - inst) % US_HOUR, US_HOUR);
	case U_DAY: return day;
	case U_WEEK: return floor_div(day + 8 - iso_dow(day), 7);
	default: break;
	}
	sn_civil_from_days(day, &y, &m, &d);
	if (u == U_MONTH)
		return y * 12 + m - 1;
	if (u == U_QUARTER)
		return y * 4 + (m - 1) / 3;
	return y;
}

/* What age() compares below unit u: the wall time's position inside its
 * year (month, day, time of day), quarter, month, day, hour, minute or
 * second, as one ordered key. Weeks are compared in age_adjust. */
static int64_t below_unit(enum unit u, int64_t w)
{
	int64_t day = floor_div(w, US_DAY), tod = w - day * US_DAY, y;
	unsigned m, d;
	switch (u) {
	case U_SECOND: return tod % US_S;
	case U_MINUTE: return tod % US_MIN;
	case U_HOUR: return tod % US_HOUR;
	case U_DAY: return tod;
	default: break;
	}
	sn_civil_from_days(day, &y, &m, &d);
	int64_t in_month = (int64_t)d * US_DAY + tod;
	if (u == U_MONTH)
		return in_month;
	return (int64_t)(u == U_QUARTER ? (m - 1) % 3 : m) * 32 * US_DAY + in_month;
}

/* age() counts whole units: dateDiff's boundary count, one less (towards
 * zero) when the later point's position inside its unit is before the
 * earlier one's. ClickHouse compares weeks by the arguments' weekdays and
 * then the time of day, with a precedence quirk kept here: equal hours go
 * on to compare minutes even when the weekdays differ. */
static int64_t age_adjust(enum unit u, int64_t wx, int64_t ix, int64_t wy, int64_t iy)
{
	bool fwd = ix <= iy;
	int64_t wa = fwd ? wx : wy, wb = fwd ? wy : wx;
	bool short_of;
	if (u == U_WEEK) {
		int xd = iso_dow(floor_div(wx, US_DAY)), yd = iso_dow(floor_div(wy, US_DAY));
		int64_t ta = pmod(wa, US_DAY), tb = pmod(wb, US_DAY);
		short_of = xd > yd || (xd == yd && ta / US_HOUR > tb / US_HOUR) ||
			   (ta / US_HOUR == tb / US_HOUR && ta % US_HOUR > tb % US_HOUR);
	} else {
		short_of = below_unit(u, wa) > below_unit(u, wb);
	}
	return short_of ? (fwd ? -1 : 1) : 0;
}

/* dateDiff(unit, a, b[, tz]) (age false) and age(unit, a, b[, tz]). */
static int eval_datediff(struct xctx *c, const node_t *n, bool age, struct vec *out)
{
	const char *us;
	const struct sn_tz *z = NULL;
	if (need_args(c, n, 3, 4) || const_str(c, n, 0, "unit", &us) ||
	    (n->list.n == 4 && tz_arg(c, n, 3, &z)))
		return c->rc;
	enum unit u = unit_of(us);
	if (u == U_NONE)
		return xfail(c, n->list.items[0], SN_ERR_INVALID, "QueryError",
			     "Function '%s': unknown unit '%s' (second, minute, hour, day, week, "
			     "month, quarter, year)",
			     n->name, us);
	struct targ a, b;
	if (time_arg(c, n, 1, z, &a) || time_arg(c, n, 2, z, &b))
		return c->rc;
	if (a.v.t == SN_XT_NULL || b.v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	/* Without an explicit zone both sides read in the first DateTime's zone. */
	if (!z) {
		const struct sn_tz *common = a.v.t == SN_XT_DATETIME ? a.z : b.z;
		a.z = b.z = common;
	}
	if (vec_make(c, out, SN_XT_INT, a.v.nullable || b.v.nullable, c->n))
		return c->rc;
	merge_nulls(out, &a.v, &b.v);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t ia, ib, wa = wall_at(&a, r, &ia), wb = wall_at(&b, r, &ib);
		out->i[r] = rel_num(u, wb, ib) - rel_num(u, wa, ia);
		if (age)
			out->i[r] += age_adjust(u, wa, ia, wb, ib);
	}
	return 0;
}

/* ---- addDays & co., dateAdd, date_add ----------------------------------------------------- */

static int eval_addfn(struct xctx *c, const node_t *n, enum unit u, int sign, struct vec *out)
{
	struct targ t;
	struct vec k;
	if (need_args(c, n, 2, 2) || time_arg(c, n, 0, NULL, &t) || xeval(c, n->list.items[1], &k))
		return c->rc;
	if (k.t != SN_XT_NULL && !is_intlike(k.t))
		return xfail(c, n->list.items[1], SN_ERR_INVALID, "QueryError",
			     "Function '%s' expects an integer as argument 2", n->name);
	return shift_vec(c, n, &t, u, &k, sign, out);
}

/* dateAdd(unit, k, t), dateAdd(t, INTERVAL), and the Sub forms. */
static int eval_dateadd(struct xctx *c, const node_t *n, int sign, struct vec *out)
{
	if (need_args(c, n, 2, 3))
		return c->rc;
	struct targ t;
	struct vec k;
	enum unit u;
	if (n->list.n == 3) {
		const char *us;
		if (const_str(c, n, 0, "unit", &us))
			return c->rc;
		if ((u = unit_of(us)) == U_NONE)
			return xfail(c, n->list.items[0], SN_ERR_INVALID, "QueryError",
				     "Function '%s': unknown unit '%s'", n->name, us);
		if (xeval(c, n->list.items[1], &k) || time_arg(c, n, 2, NULL, &t))
			return c->rc;
		if (k.t != SN_XT_NULL && !is_intlike(k.t))
			return xfail(c, n->list.items[1], SN_ERR_INVALID, "QueryError",
				     "Function '%s' expects an integer as argument 2", n->name);
	} else {
		size_t ti = 0;
		const node_t *iv = xfollow_alias(c, n->list.items[1]);
		if ((u = interval_unit(iv)) == U_NONE) {
			iv = xfollow_alias(c, n->list.items[0]);
			ti = 1;
			u = interval_unit(iv);
		}
		if (u == U_NONE)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "Function '%s' expects a date and an INTERVAL", n->name);
		if (time_arg(c, n, ti, NULL, &t) || interval_counts(c, iv, &k))
			return c->rc;
	}
	return shift_vec(c, n, &t, u, &k, sign, out);
}

/* ---- arithmetic ------------------------------------------------------------------------------ */

bool xdate_arith_interval(struct xctx *c, const node_t *n, char op, const node_t *ln,
			  const node_t *rn, struct vec *out, int *rc)
{
	const node_t *l = xfollow_alias(c, ln), *r = xfollow_alias(c, rn);
	enum unit lu = interval_unit(l), ru = interval_unit(r);
	if (lu == U_NONE && ru == U_NONE)
		return false;
	*rc = 0;
	if ((lu != U_NONE && ru != U_NONE) || (op != '+' && op != '-') ||
	    (lu != U_NONE && op == '-')) {
		*rc =
		    xfail(c, n, SN_ERR_INVALID, "QueryError",
			  "An INTERVAL can only be added to or subtracted from a Date or DateTime");
		return true;
	}
	const node_t *iv = lu != U_NONE ? l : r, *tn = lu != U_NONE ? rn : ln;
	struct targ t;
	struct vec k;
	if (time_node(c, "Date arithmetic with an INTERVAL", tn, lu != U_NONE ? 1 : 0, NULL, &t) ||
	    interval_counts(c, iv, &k)) {
		*rc = c->rc;
		return true;
	}
	*rc = shift_vec(c, n, &t, lu != U_NONE ? lu : ru, &k, op == '-' ? -1 : 1, out);
	return true;
}

int xdate_arith(struct xctx *c, const node_t *n, char op, struct vec *a, struct vec *b,
		struct vec *out)
{
	bool at = is_time(a->t), bt = is_time(b->t);
	/* Date ± integer (days), DateTime ± integer (seconds), integer + either. */
	if ((at && is_intlike(b->t) && (op == '+' || op == '-')) ||
	    (bt && is_intlike(a->t) && op == '+')) {
		struct vec *t = at ? a : b, *k = at ? b : a;
		if (vec_make(c, out, t->t, t->nullable || k->nullable, c->n))
			return c->rc;
		out->tz = t->tz;
		merge_nulls(out, t, k);
		int64_t unit = t->t == SN_XT_DATE ? 1 : US_S, sign = op == '-' ? -1 : 1;
		int64_t lim = SPAN_MAX[t->t == SN_XT_DATE ? U_DAY : U_SECOND];
		for (size_t r = 0; r < c->n; r++) {
			if (vec_null(out, r))
				continue;
			if (k->i[r] > lim || k->i[r] < -lim)
				return span_fail(c, n);
			out->i[r] = t->i[r] + sign * k->i[r] * unit;
		}
		return 0;
	}
	/* Date - Date (days), DateTime - DateTime (seconds). */
	if (at && bt && op == '-' && a->t == b->t) {
		if (vec_make(c, out, SN_XT_INT, a->nullable || b->nullable, c->n))
			return c->rc;
		merge_nulls(out, a, b);
		for (size_t r = 0; r < c->n; r++)
			if (!vec_null(out, r))
				out->i[r] = a->t == SN_XT_DATE ? a->i[r] - b->i[r]
							       : floor_div(a->i[r], US_S) -
								     floor_div(b->i[r], US_S);
		return 0;
	}
	char ta[48], tb[48];
	return xfail(c, n, SN_ERR_INVALID, "QueryError",
		     "Illegal types %s and %s of arguments of function %s",
		     sn_exec_type_name(a->t, false, ta, sizeof(ta)),
		     sn_exec_type_name(b->t, false, tb, sizeof(tb)),
		     op == '+'	 ? "plus"
		     : op == '-' ? "minus"
		     : op == '*' ? "multiply"
		     : op == '/' ? "divide"
				 : "modulo");
}

/* ---- formatDateTime -------------------------------------------------------------------------- */

static int fmt_row(char *buf, size_t cap, const char *f, size_t fl, int64_t w,
		   const struct sn_tz *z, int64_t inst)
{
	static const char *const dow[] = {"Monday", "Tuesday",	"Wednesday", "Thursday",
					  "Friday", "Saturday", "Sunday"};
	int64_t day = floor_div(w, US_DAY), tod = w - day * US_DAY, y, wk, wy;
	unsigned m, d;
	sn_civil_from_days(day, &y, &m, &d);
	int h = (int)(tod / US_HOUR), mi = (int)(tod / US_MIN % 60), s = (int)(tod / US_S % 60);
	int h12 = h % 12 ? h % 12 : 12;
	size_t len = 0;
#define PUT(...)                                                      \
	do {                                                          \
		int k_ = snprintf(buf + len, cap - len, __VA_ARGS__); \
		if (k_ < 0 || (size_t)k_ >= cap - len)                \
			return -1;                                    \
		len += (size_t)k_;                                    \
	} while (0)
	for (size_t i = 0; i < fl; i++) {
		if (f[i] != '%' || i + 1 == fl) {
			PUT("%c", f[i]);
			continue;
		}
		char sp = f[++i];
		switch (sp) {
		case 'Y': PUT("%04" PRId64, y); break;
		case 'y': PUT("%02d", (int)pmod(y, 100)); break;
		case 'C': PUT("%02d", (int)(y / 100)); break;
		case 'm': PUT("%02u", m); break;
		case 'd': PUT("%02u", d); break;
		case 'e': PUT("%2u", d); break;
		case 'D': PUT("%02u/%02u/%02d", m, d, (int)pmod(y, 100)); break;
		case 'F': PUT("%04" PRId64 "-%02u-%02u", y, m, d); break;
		case 'H': PUT("%02d", h); break;
		case 'I':
		case 'h': PUT("%02d", h12); break;
		case 'i': PUT("%02d", mi); break;
		case 'M': PUT("%s", month_names[m - 1]); break;
		case 'b': PUT("%.3s", month_names[m - 1]); break;
		case 'S':
		case 's': PUT("%02d", s); break;
		case 'f': PUT("%06d", (int)(pmod(w, US_S))); break;
		case 'p': PUT("%s", h < 12 ? "AM" : "PM"); break;
		case 'R': PUT("%02d:%02d", h, mi); break;
		case 'T': PUT("%02d:%02d:%02d", h, mi, s); break;
		case 'r': PUT("%02d:%02d %s", h12, mi, h < 12 ? "AM" : "PM"); break;
		case 'j': PUT("%03d", (int)day_of_year(day)); break;
		case 'u': PUT("%d", iso_dow(day)); break;
		case 'w': PUT("%d", iso_dow(day) % 7); break;
		case 'a': PUT("%.3s", dow[iso_dow(day) - 1]); break;
		case 'W': PUT("%s", dow[iso_dow(day) - 1]); break;
		case 'V':
			iso_week(day, &wk, &wy);
			PUT("%02d", (int)wk);
			break;
		case 'G':
			iso_week(day, &wk, &wy);
			PUT("%04" PRId64, wy);
			break;
		case 'Q': PUT("%u", (m - 1) / 3 + 1); break;
		case 'n': PUT("\n"); break;
		case 't': PUT("\t"); break;
		case '%': PUT("%%"); break;
		case 'z': {
			int32_t off = z ? sn_tz_offset_at(z, inst) : 0;
			int a = off < 0 ? -off : off;
			PUT("%c%02d%02d", off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
			break;
		}
		default: return -2 - (unsigned char)sp;
		}
	}
#undef PUT
	return (int)len;
}

static int eval_formatdatetime(struct xctx *c, const node_t *n, struct vec *out)
{
	const char *fmt;
	const struct sn_tz *z = NULL;
	if (need_args(c, n, 2, 3) || const_str(c, n, 1, "format", &fmt) ||
	    (n->list.n == 3 && tz_arg(c, n, 2, &z)))
		return c->rc;
	struct targ t;
	if (time_arg(c, n, 0, z, &t))
		return c->rc;
	if (t.v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (vec_make(c, out, SN_XT_STRING, t.v.nullable, c->n))
		return c->rc;
	merge_nulls(out, &t.v, NULL);
	size_t fl = strlen(fmt);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		char buf[512];
		int64_t inst, w = wall_at(&t, r, &inst);
		int len = fmt_row(buf, sizeof(buf), fmt, fl, w, t.z, inst);
		if (len == -1)
			return xfail(c, n, SN_ERR_INVALID, "QueryError",
				     "formatDateTime: the result is too long");
		if (len < -1)
			return xfail(c, n->list.items[1], SN_ERR_INVALID, "QueryError",
				     "formatDateTime: unsupported format specifier '%%%c'",
				     (char)(-2 - len));
		char *p = xalloc(c, c->ba, (size_t)len);
		if (!p)
			return c->rc;
		memcpy(p, buf, (size_t)len);
		out->s[r] = (struct sn_str){p, (size_t)len};
	}
	return 0;
}

/* ---- now, today, yesterday ----------------------------------------------------------------- */

static int eval_now(struct xctx *c, const node_t *n, int which, struct vec *out)
{
	/* which: 0 now([tz]), 1 now64([precision[, tz]]), 2 today(), 3 yesterday() */
	const struct sn_tz *z = NULL;
	size_t max = which == 1 ? 2 : which == 0 ? 1 : 0, tzk = which == 1 ? 1 : 0;
	if (need_args(c, n, 0, max))
		return c->rc;
	if (which == 1 && n->list.n >= 1) {
		int64_t prec;
		if (int_arg(c, n, 0, 0, 9, &prec))
			return c->rc;
	}
	if (n->list.n > tzk && tz_arg(c, n, tzk, &z))
		return c->rc;
	if (which >= 2) {
		if (!(z = xzone(c, n)) || vec_make(c, out, SN_XT_DATE, false, c->n))
			return c->rc;
		int64_t day = floor_div(xwall(z, c->now_us), US_DAY) - (which == 3);
		for (size_t r = 0; r < c->n; r++)
			out->i[r] = day;
		return 0;
	}
	if (vec_make(c, out, SN_XT_DATETIME, false, c->n))
		return c->rc;
	out->tz = z;
	for (size_t r = 0; r < c->n; r++)
		out->i[r] = c->now_us;
	return 0;
}

/* ---- monthName, timeZoneOf, toUnixTimestamp64Milli ------------------------------------------ */

/* monthName(t): the English name of the month of t in its zone. */
static int eval_monthname(struct xctx *c, const node_t *n, struct vec *out)
{
	struct targ t;
	if (need_args(c, n, 1, 1) || time_arg(c, n, 0, NULL, &t))
		return c->rc;
	if (t.v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (vec_make(c, out, SN_XT_STRING, t.v.nullable, c->n))
		return c->rc;
	merge_nulls(out, &t.v, NULL);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t y;
		unsigned m, d;
		sn_civil_from_days(floor_div(wall_at(&t, r, NULL), US_DAY), &y, &m, &d);
		/* The names are static: they outlive every batch. */
		out->s[r] = (struct sn_str){month_names[m - 1], strlen(month_names[m - 1])};
	}
	return 0;
}

/* timeZoneOf(t): the name of the zone a DateTime reads in. As in ClickHouse
 * the answer comes from the type, so a Nullable DateTime names its zone in
 * NULL rows too; only the NULL literal gives NULL. */
static int eval_timezoneof(struct xctx *c, const node_t *n, struct vec *out)
{
	struct vec v;
	if (need_args(c, n, 1, 1) || xeval(c, n->list.items[0], &v))
		return c->rc;
	if (v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (v.t != SN_XT_DATETIME)
		return illegal_type(c, n, &v, 0, "a DateTime");
	const struct sn_tz *z = xvec_zone(c, &v, n);
	if (!z || vec_make(c, out, SN_XT_STRING, false, c->n))
		return c->rc;
	const char *name = sn_tz_name(z); /* zones live as long as the process */
	for (size_t r = 0; r < c->n; r++)
		out->s[r] = (struct sn_str){name, strlen(name)};
	return 0;
}

/* toUnixTimestamp64Milli(t): milliseconds since the epoch, the microseconds
 * divided as ClickHouse scales a DateTime64 down (towards zero). */
static int eval_unix64milli(struct xctx *c, const node_t *n, struct vec *out)
{
	struct vec v;
	if (need_args(c, n, 1, 1) || xeval(c, n->list.items[0], &v))
		return c->rc;
	if (v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (v.t != SN_XT_DATETIME)
		return illegal_type(c, n, &v, 0, "a DateTime64");
	if (vec_make(c, out, SN_XT_INT, v.nullable, c->n))
		return c->rc;
	merge_nulls(out, &v, NULL);
	for (size_t r = 0; r < c->n; r++)
		if (!vec_null(out, r))
			out->i[r] = v.i[r] / 1000;
	return 0;
}

/* dateName(part, t[, tz]): one part of t as text, ClickHouse's parts:
 * names for month and weekday, unpadded numbers for the others ('week'
 * is the ISO week). Parts of the time of day need a DateTime. */
static int eval_datename(struct xctx *c, const node_t *n, struct vec *out)
{
	static const char *const parts[] = {"year", "quarter", "month", "dayofyear", "day",
					    "week", "weekday", "hour",	"minute",    "second"};
	static const char *const days[] = {"Monday", "Tuesday",	 "Wednesday", "Thursday",
					   "Friday", "Saturday", "Sunday"};
	const char *ps;
	const struct sn_tz *z = NULL;
	if (need_args(c, n, 2, 3) || const_str(c, n, 0, "part", &ps) ||
	    (n->list.n == 3 && tz_arg(c, n, 2, &z)))
		return c->rc;
	int part = -1;
	for (int i = 0; i < (int)SN_ARRAY_LEN(parts); i++)
		if (strcmp(ps, parts[i]) == 0)
			part = i;
	if (part < 0)
		return xfail(c, n->list.items[0], SN_ERR_INVALID, "QueryError",
			     "Function '%s': unknown part '%s' (year, quarter, month, dayofyear, "
			     "day, week, weekday, hour, minute, second)",
			     n->name, ps);
	struct targ t;
	if (time_arg(c, n, 1, z, &t))
		return c->rc;
	if (part >= 7 && t.v.t == SN_XT_DATE)
		return illegal_type(c, n, &t.v, 1,
				    "a DateTime for the part 'hour', 'minute' or 'second'");
	if (t.v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (vec_make(c, out, SN_XT_STRING, t.v.nullable, c->n))
		return c->rc;
	merge_nulls(out, &t.v, NULL);
	for (size_t r = 0; r < c->n; r++) {
		if (vec_null(out, r))
			continue;
		int64_t w = wall_at(&t, r, NULL), day = floor_div(w, US_DAY),
			tod = w - day * US_DAY;
		int64_t y, v, wy;
		unsigned m, d;
		sn_civil_from_days(day, &y, &m, &d);
		const char *name = NULL;
		switch (part) {
		case 0: v = y; break;
		case 1: v = (m - 1) / 3 + 1; break;
		case 2: name = month_names[m - 1]; break;
		case 3: v = day_of_year(day); break;
		case 4: v = d; break;
		case 5: iso_week(day, &v, &wy); break;
		case 6: name = days[iso_dow(day) - 1]; break;
		case 7: v = tod / US_HOUR; break;
		case 8: v = tod / US_MIN % 60; break;
		default: v = tod / US_S % 60; break;
		}
		if (name) { /* static names outlive the batch */
			out->s[r] = (struct sn_str){name, strlen(name)};
			continue;
		}
		char buf[24];
		int len = snprintf(buf, sizeof(buf), "%" PRId64, v);
		char *p = xalloc(c, c->ba, (size_t)len);
		if (!p)
			return c->rc;
		memcpy(p, buf, (size_t)len);
		out->s[r] = (struct sn_str){p, (size_t)len};
	}
	return 0;
}

/* The most slots timeSlots makes for one row (a year of half hours is
 * 17,520): more is an error rather than an unbounded array. */
#define TIMESLOTS_MAX 100000

/* timeSlots(start, duration[, size]): the multiples of size seconds (1800
 * by default) from start's down to start + duration's, as ClickHouse
 * counts them from the epoch (no zone). A NULL row gives an empty array,
 * as ClickHouse fills NULL rows of a result that cannot be Nullable. */
static int eval_timeslots(struct xctx *c, const node_t *n, struct vec *out)
{
	int64_t size = 1800;
	struct targ t;
	struct vec dur;
	if (need_args(c, n, 2, 3) ||
	    (n->list.n == 3 && int_arg(c, n, 2, 1, 86400LL * 366 * 100, &size)) ||
	    time_arg(c, n, 0, NULL, &t) || xeval(c, n->list.items[1], &dur))
		return c->rc;
	if (t.v.t == SN_XT_DATE)
		return illegal_type(c, n, &t.v, 0, "a DateTime");
	if (dur.t != SN_XT_NULL && !is_intlike(dur.t))
		return illegal_type(c, n, &dur, 1, "an unsigned integer (seconds)");
	if (t.v.t == SN_XT_NULL || dur.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	int64_t step = size * US_S;
	uint32_t *off = xalloc(c, c->ba, (c->n + 1) * sizeof(*off));
	if (!off)
		return c->rc;
	/* Two passes: count the slots, then fill them. */
	size_t total = 0;
	for (size_t r = 0; r < c->n; r++) {
		off[r] = (uint32_t)total;
		if (vec_null(&t.v, r) || vec_null(&dur, r))
			continue;
		int64_t k = dur.i[r];
		if (k < 0 || (dur.t == SN_XT_UINT && k > SPAN_MAX[U_SECOND]))
			return illegal_type(c, n, &dur, 1, "an unsigned integer (seconds)");
		if (k > SPAN_MAX[U_SECOND])
			return span_fail(c, n);
		int64_t s0 = floor_div(t.v.i[r], step), s1 = floor_div(t.v.i[r] + k * US_S, step);
		if (s1 - s0 + 1 > TIMESLOTS_MAX)
			return xfail(c, n, SN_ERR_TOO_BIG, "QueryError",
				     "Function '%s' would make more than %d time slots in a row",
				     n->name, TIMESLOTS_MAX);
		total += (size_t)(s1 - s0 + 1);
		if (total > UINT32_MAX)
			return xfail(c, n, SN_ERR_TOO_BIG, "QueryError", "too many array elements");
	}
	off[c->n] = (uint32_t)total;
	struct vec e;
	if (vec_make(c, &e, SN_XT_DATETIME, false, total))
		return c->rc;
	e.tz = t.v.tz;
	for (size_t r = 0; r < c->n; r++) {
		if (off[r] == off[r + 1])
			continue;
		int64_t s0 = floor_div(t.v.i[r], step);
		for (uint32_t k = off[r]; k < off[r + 1]; k++)
			e.i[k] = (s0 + (k - off[r])) * step;
	}
	return xarr_build(c, &e, off, c->n, out);
}

/* ---- parseDateTime ----------------------------------------------------------------------------
 */

/* parseDateTime(s, format[, tz]) as HogQL maps it: ClickHouse's
 * parseDateTimeOrNull, a Nullable(DateTime) that is NULL where s does not
 * match the MySQL-style format (formatDateTime's specifiers). The format
 * and the zone are constants, checked once per batch; an unknown specifier
 * is a QueryError, the ones ClickHouse does not implement (%Q, %U, %v, %x,
 * %X) a NotImplementedError.
 *
 * This follows ClickHouse's parser (Functions/parseDateTime.cpp) step by
 * step, quirks included, since users compare the two:
 *  - fixed-width fields read their characters without checking that they
 *    are digits (each adds c - '0', so "0:" reads as 10) and the range
 *    checks then decide; %c, %k and %l read one or two real digits (the
 *    default parsedatetime_parse_without_leading_zeros), %f six digits it
 *    ignores, and %M is the full month name (the default
 *    formatdatetime_parsedatetime_m_is_month_name);
 *  - fields not given default to 1970-01-01 00:00:00, but a month, day,
 *    day of year, ISO week or weekday without a year makes the year 2000;
 *    years are 1970..2106 (%y: 00-69 → 20xx, 70-99 → 19xx; %D's → 20xx);
 *  - the last of %m/%d, %j and %u/%w/%a/%W/%V decides how the date is
 *    made: from month and day, from the day of the year, or as an ISO week
 *    date (week 1 by default, weekday Monday by default);
 *  - %h/%I/%r hours are 1..12 and PM adds 12, %H/%k 0..23;
 *  - the whole text must be consumed; impossible dates (Feb 30) fail;
 *  - without %z the wall time is taken back to UTC with the zone's offset
 *    at the wall time read as a UTC instant (ClickHouse's timezoneOffset;
 *    it differs from the true instant only within hours of a DST change),
 *    an instant before 1970 fails, and one past 2106-02-07 wraps as
 *    ClickHouse's UInt32 does. */
struct pdt {
	int year, month, day, doy, week, dow, hour, minute, second;
	bool has_year, doy_fmt, week_fmt, half_day, pm, has_off;
	int64_t offset; /* seconds east of UTC, from %z */
};

static const char *const pdt_months[] = {"january",   "february", "march",    "april",
					 "may",	      "june",	  "july",     "august",
					 "september", "october",  "november", "december"};
static const char *const pdt_days[] = {"monday", "tuesday",  "wednesday", "thursday",
				       "friday", "saturday", "sunday"};

/* n characters at s[*i] as ClickHouse's readNumberN: each adds c - '0',
 * digit or not. */
static bool pdt_raw(struct sn_str s, size_t *i, int n, int *v)
{
	if (*i + (size_t)n > s.len)
		return false;
	int x = 0;
	for (int k = 0; k < n; k++)
		x = x * 10 + ((int)(signed char)s.p[*i + (size_t)k] - '0');
	*i += (size_t)n;
	*v = x;
	return true;
}

/* One or two real digits (readNumberWithVariableLength). */
static bool pdt_var(struct sn_str s, size_t *i, int *v)
{
	size_t st = *i;
	int x = 0;
	while (*i < s.len && *i < st + 2 && isdigit((unsigned char)s.p[*i]))
		x = x * 10 + (s.p[(*i)++] - '0');
	*v = x;
	return *i > st;
}

static bool pdt_char(struct sn_str s, size_t *i, char ch)
{
	if (*i >= s.len || s.p[*i] != ch)
		return false;
	(*i)++;
	return true;
}

static void pdt_default_year(struct pdt *d)
{
	if (!d->has_year) {
		d->has_year = true;
		d->year = 2000;
	}
}

static bool pdt_year(struct pdt *d, int y)
{
	if (y < 1970 || y > 2106)
		return false;
	d->year = y;
	d->has_year = true;
	return true;
}

static bool pdt_year2(struct pdt *d, int y)
{
	if (y < 0 || y > 99)
		return false;
	return pdt_year(d, y < 70 ? 2000 + y : 1900 + y);
}

static bool pdt_month(struct pdt *d, int m)
{
	if (m < 1 || m > 12)
		return false;
	d->month = m;
	d->week_fmt = d->doy_fmt = false;
	pdt_default_year(d);
	return true;
}

static bool pdt_day(struct pdt *d, int day)
{
	if (day < 1 || day > 31)
		return false;
	d->day = day;
	d->week_fmt = d->doy_fmt = false;
	pdt_default_year(d);
	return true;
}

static bool pdt_doy(struct pdt *d, int doy)
{
	if (doy < 1 || doy > 366)
		return false;
	d->doy = doy;
	d->doy_fmt = true;
	d->week_fmt = false;
	pdt_default_year(d);
	return true;
}

static bool pdt_week(struct pdt *d, int w)
{
	if (w < 1 || w > 53)
		return false;
	d->week = w;
	d->week_fmt = true;
	d->doy_fmt = false;
	pdt_default_year(d);
	return true;
}

static bool pdt_dow(struct pdt *d, int dow)
{
	if (dow < 1 || dow > 7)
		return false;
	d->dow = dow;
	d->week_fmt = true;
	d->doy_fmt = false;
	pdt_default_year(d);
	return true;
}

/* ClickHouse's setHour: a 12-hour clock (1..12, 12 read as 0) or a 24-hour
 * one (0..23). */
static bool pdt_hour(struct pdt *d, int h, bool half_day)
{
	if (half_day ? h < 1 || h > 12 : h < 0 || h > 23)
		return false;
	d->hour = half_day ? h % 12 : h;
	d->half_day = half_day;
	return true;
}

static bool pdt_minute(struct pdt *d, int m)
{
	d->minute = m;
	return m >= 0 && m <= 59;
}

static bool pdt_second(struct pdt *d, int sec)
{
	d->second = sec;
	return sec >= 0 && sec <= 59;
}

static bool pdt_ampm(struct sn_str s, size_t *i, struct pdt *d)
{
	if (*i + 2 > s.len)
		return false;
	if (strncasecmp(s.p + *i, "am", 2) == 0)
		d->pm = false;
	else if (strncasecmp(s.p + *i, "pm", 2) == 0)
		d->pm = true;
	else
		return false;
	*i += 2;
	return true;
}

/* A name from names[] at s[*i]: its first three letters pick it, then
 * (full) the rest must follow; any case. *k its index. */
static bool pdt_name(struct sn_str s, size_t *i, const char *const *names, int nnames, bool full,
		     int *k)
{
	if (*i + 3 > s.len)
		return false;
	for (*k = 0; *k < nnames; (*k)++) {
		if (strncasecmp(s.p + *i, names[*k], 3) != 0)
			continue;
		size_t len = full ? strlen(names[*k]) : 3;
		if (*i + len > s.len || strncasecmp(s.p + *i, names[*k], len) != 0)
			return false;
		*i += len;
		return true;
	}
	return false;
}

/* Reads s from *i by format f (checked by pdt_check); false when s does not
 * match. */
static bool pdt_run(const char *f, struct sn_str s, size_t *i, struct pdt *d)
{
	int a = 0, b = 0, c3 = 0;
	for (; *f; f++) {
		if (*f != '%') {
			if (!pdt_char(s, i, *f))
				return false;
			continue;
		}
		switch (*++f) {
		case 'a':
			if (!pdt_name(s, i, pdt_days, 7, false, &a) || !pdt_dow(d, a + 1))
				return false;
			break;
		case 'W':
			if (*i + 6 > s.len || !pdt_name(s, i, pdt_days, 7, true, &a) ||
			    !pdt_dow(d, a + 1))
				return false;
			break;
		case 'b':
		case 'M':
			if (!pdt_name(s, i, pdt_months, 12, *f == 'M', &a) || !pdt_month(d, a + 1))
				return false;
			break;
		case 'c':
			if (!pdt_var(s, i, &a) || !pdt_month(d, a))
				return false;
			break;
		case 'C':
			if (!pdt_raw(s, i, 2, &a) || a < 19 || a > 21)
				return false;
			d->year = 100 * a;
			d->has_year = true;
			break;
		case 'd':
			if (!pdt_raw(s, i, 2, &a) || !pdt_day(d, a))
				return false;
			break;
		case 'D':
			if (*i + 8 > s.len || !pdt_raw(s, i, 2, &a) || !pdt_char(s, i, '/') ||
			    !pdt_month(d, a) || !pdt_raw(s, i, 2, &b) || !pdt_char(s, i, '/') ||
			    !pdt_day(d, b) || !pdt_raw(s, i, 2, &c3) || !pdt_year(d, c3 + 2000))
				return false;
			break;
		case 'e':
			if (*i + 2 > s.len)
				return false;
			a = s.p[*i] == ' ' ? 0 : (int)(signed char)s.p[*i] - '0';
			a = a * 10 + ((int)(signed char)s.p[*i + 1] - '0');
			*i += 2;
			if (!pdt_day(d, a))
				return false;
			break;
		case 'f':
			for (int k = 0; k < 6; k++)
				if (*i >= s.len || !isdigit((unsigned char)s.p[(*i)++]))
					return false;
			break;
		case 'F':
			if (*i + 10 > s.len || !pdt_raw(s, i, 4, &a) || !pdt_char(s, i, '-') ||
			    !pdt_raw(s, i, 2, &b) || !pdt_char(s, i, '-') ||
			    !pdt_raw(s, i, 2, &c3) || !pdt_year(d, a) || !pdt_month(d, b) ||
			    !pdt_day(d, c3))
				return false;
			break;
		case 'g':
		case 'y':
			if (!pdt_raw(s, i, 2, &a) || !pdt_year2(d, a))
				return false;
			break;
		case 'G':
		case 'Y':
			if (!pdt_raw(s, i, 4, &a) || !pdt_year(d, a))
				return false;
			break;
		case 'j':
			if (!pdt_raw(s, i, 3, &a) || !pdt_doy(d, a))
				return false;
			break;
		case 'm':
			if (!pdt_raw(s, i, 2, &a) || !pdt_month(d, a))
				return false;
			break;
		case 'u':
			if (!pdt_raw(s, i, 1, &a) || !pdt_dow(d, a))
				return false;
			break;
		case 'w':
			if (!pdt_raw(s, i, 1, &a) || !pdt_dow(d, a == 0 ? 7 : a))
				return false;
			break;
		case 'V':
			if (!pdt_raw(s, i, 2, &a) || !pdt_week(d, a))
				return false;
			break;
		case 'z':
			if (*i + 5 > s.len || (s.p[*i] != '+' && s.p[*i] != '-'))
				return false;
			c3 = s.p[(*i)++] == '-' ? -1 : 1;
			pdt_raw(s, i, 2, &a);
			pdt_raw(s, i, 2, &b);
			d->offset = c3 * (a * 3600 + b * 60);
			d->has_off = true;
			break;
		case 'p':
			if (!pdt_ampm(s, i, d))
				return false;
			break;
		case 'r':
			if (*i + 8 > s.len || !pdt_raw(s, i, 2, &a) || !pdt_char(s, i, ':') ||
			    !pdt_hour(d, a, true) || !pdt_raw(s, i, 2, &b) ||
			    !pdt_char(s, i, ' ') || !pdt_minute(d, b) || !pdt_ampm(s, i, d))
				return false;
			break;
		case 'R':
			if (*i + 5 > s.len || !pdt_raw(s, i, 2, &a) || !pdt_char(s, i, ':') ||
			    !pdt_hour(d, a, false) || !pdt_raw(s, i, 2, &b) || !pdt_minute(d, b))
				return false;
			break;
		case 'T':
			if (*i + 8 > s.len || !pdt_raw(s, i, 2, &a) || !pdt_char(s, i, ':') ||
			    !pdt_raw(s, i, 2, &b) || !pdt_char(s, i, ':') ||
			    !pdt_raw(s, i, 2, &c3) || !pdt_hour(d, a, false) || !pdt_minute(d, b) ||
			    !pdt_second(d, c3))
				return false;
			break;
		case 's':
		case 'S':
			if (!pdt_raw(s, i, 2, &a) || !pdt_second(d, a))
				return false;
			break;
		case 'h':
		case 'I':
			if (!pdt_raw(s, i, 2, &a) || !pdt_hour(d, a, true))
				return false;
			break;
		case 'H':
			if (!pdt_raw(s, i, 2, &a) || !pdt_hour(d, a, false))
				return false;
			break;
		case 'k':
		case 'l':
			if (!pdt_var(s, i, &a) || !pdt_hour(d, a, *f == 'l'))
				return false;
			break;
		case 'i':
			if (!pdt_raw(s, i, 2, &a) || !pdt_minute(d, a))
				return false;
			break;
		case 't':
			if (!pdt_char(s, i, '\t'))
				return false;
			break;
		case 'n':
			if (!pdt_char(s, i, '\n'))
				return false;
			break;
		case '%':
			if (!pdt_char(s, i, '%'))
				return false;
			break;
		default: return false;
		}
	}
	return true;
}

/* The format's specifiers: 0, or the refusal / error (c->rc set). */
static int pdt_check(struct xctx *c, const node_t *n, const char *f)
{
	for (; *f; f++) {
		if (*f != '%')
			continue;
		f++;
		if (*f && strchr("aWbMcCdDefFgyGYjmuwVzprRTsShHkliIitn%", *f))
			continue;
		if (*f && strchr("QUvxX", *f)) {
			char what[160];
			snprintf(what, sizeof(what),
				 "the format specifier %%%c of %s (nor does ClickHouse)", *f,
				 n->name);
			return xunsupported(c, n->list.items[1], what);
		}
		return xfail(
		    c, n->list.items[1], SN_ERR_INVALID, "QueryError",
		    *f ? "Unknown format specifier %%%.1s in the format of function %s"
		       : "'%%' must not be the last character of the format of function %s%.0s",
		    *f ? f : n->name, n->name);
	}
	return 0;
}

/* The parsed fields as DateTime seconds; false when they make none. */
static bool pdt_time(struct pdt *d, const struct sn_tz *z, int64_t *secs)
{
	if (d->half_day && d->pm)
		d->hour += 12;
	if (d->year < 1970 || d->year > 2106)
		return false;
	int64_t days;
	if (d->week_fmt) {
		/* ISO week date: Monday of week 1 is the Monday on or before Jan 4. */
		int64_t jan4 = sn_days_from_civil(d->year, 1, 4);
		int64_t iso_dow = pmod(jan4 + 3, 7) + 1; /* 1970-01-01 was a Thursday */
		days = jan4 - (iso_dow - 1) + 7 * (d->week - 1) + d->dow - 1;
	} else if (d->doy_fmt) {
		if (d->doy > 365 + leap(d->year))
			return false;
		days = sn_days_from_civil(d->year, 1, 1) + d->doy - 1;
	} else {
		if ((unsigned)d->day > mdays(d->year, (unsigned)d->month))
			return false;
		days = sn_days_from_civil(d->year, (unsigned)d->month, (unsigned)d->day);
	}
	int64_t t = days * 86400 + d->hour * 3600 + d->minute * 60 + d->second;
	int64_t off = d->has_off ? d->offset : sn_tz_offset_at(z, t * US_S);
	if (t < off)
		return false;
	*secs = (int64_t)(uint32_t)(t - off);
	return true;
}

static int eval_parsedatetime(struct xctx *c, const node_t *n, struct vec *out)
{
	const char *f;
	const struct sn_tz *z = NULL;
	struct vec v;
	if (need_args(c, n, 2, 3) || const_str(c, n, 1, "format", &f) || pdt_check(c, n, f))
		return c->rc;
	if (n->list.n > 2 && tz_arg(c, n, 2, &z))
		return c->rc;
	if (xeval(c, n->list.items[0], &v))
		return c->rc;
	if (v.t == SN_XT_NULL)
		return vec_make(c, out, SN_XT_NULL, true, c->n);
	if (v.t != SN_XT_STRING)
		return illegal_type(c, n, &v, 0, "a String");
	const struct sn_tz *rz = z ? z : xzone(c, n);
	if (!rz || vec_make(c, out, SN_XT_DATETIME, true, c->n))
		return c->rc;
	out->tz = z;
	for (size_t r = 0; r < c->n; r++) {
		struct pdt d = {.year = 1970, .month = 1, .day = 1, .doy = 1, .week = 1, .dow = 1};
		struct sn_str s = v.s[r].p ? v.s[r] : (struct sn_str){"", 0};
		size_t i = 0;
		int64_t secs = 0;
		bool ok = !vec_null(&v, r) && pdt_run(f, s, &i, &d) && i == s.len &&
			  pdt_time(&d, rz, &secs);
		out->nulls[r] = !ok;
		out->i[r] = ok ? secs * US_S : 0;
	}
	return 0;
}

/* ---- text of a DateTime in its zone ---------------------------------------------------------- */

int xfmt_datetime_local(char *buf, size_t cap, int64_t us, const struct sn_tz *z)
{
	int64_t w = z ? xwall(z, us) : us;
	int64_t day = floor_div(w, US_DAY), tod = w - day * US_DAY, y;
	unsigned m, d;
	sn_civil_from_days(day, &y, &m, &d);
	return snprintf(buf, cap, "%04" PRId64 "-%02u-%02u %02d:%02d:%02d.%06d", y, m, d,
			(int)(tod / US_HOUR), (int)(tod / US_MIN % 60), (int)(tod / US_S % 60),
			(int)(tod % US_S));
}

/* ---- dispatch -------------------------------------------------------------------------------- */

bool xfn_date(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	const char *f = n->name;
	for (size_t i = 0; i < SN_ARRAY_LEN(unary_fns); i++)
		if (strcmp(f, unary_fns[i].name) == 0) {
			*rc = eval_unary(c, n, unary_fns[i].op, unary_fns[i].mode_arg,
					 unary_fns[i].dt_only, out);
			return true;
		}
	static const struct {
		const char *name;
		enum unit u;
		int sign;
	} adds[] = {
	    {"addSeconds", U_SECOND, 1},
	    {"addMinutes", U_MINUTE, 1},
	    {"addHours", U_HOUR, 1},
	    {"addDays", U_DAY, 1},
	    {"addWeeks", U_WEEK, 1},
	    {"addMonths", U_MONTH, 1},
	    {"addQuarters", U_QUARTER, 1},
	    {"addYears", U_YEAR, 1},
	    {"subtractSeconds", U_SECOND, -1},
	    {"subtractMinutes", U_MINUTE, -1},
	    {"subtractHours", U_HOUR, -1},
	    {"subtractDays", U_DAY, -1},
	    {"subtractWeeks", U_WEEK, -1},
	    {"subtractMonths", U_MONTH, -1},
	    {"subtractQuarters", U_QUARTER, -1},
	    {"subtractYears", U_YEAR, -1},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(adds); i++)
		if (strcmp(f, adds[i].name) == 0) {
			*rc = eval_addfn(c, n, adds[i].u, adds[i].sign, out);
			return true;
		}
	if (strcmp(f, "toDate") == 0)
		*rc = eval_todate(c, n, out);
	else if (strcmp(f, "toDateTime") == 0)
		*rc = eval_todatetime(c, n, 0, out);
	else if (strcmp(f, "toDateTime64") == 0)
		*rc = eval_todatetime(c, n, 1, out);
	else if (strcmp(f, "parseDateTimeBestEffort") == 0 ||
		 strcmp(f, "parseDateTimeBestEffortOrNull") == 0 ||
		 strcmp(f, "parseDateTime64BestEffort") == 0 ||
		 strcmp(f, "parseDateTime64BestEffortOrNull") == 0)
		*rc = eval_todatetime(c, n, 2, out);
	else if (strcmp(f, "parseDateTime") == 0)
		*rc = eval_parsedatetime(c, n, out);
	else if (strcmp(f, "fromUnixTimestamp") == 0)
		*rc = eval_todatetime(c, n, 3, out);
	else if (strcmp(f, "fromUnixTimestamp64Milli") == 0)
		*rc = eval_todatetime(c, n, 4, out);
	else if (strcmp(f, "toUnixTimestamp64Milli") == 0)
		*rc = eval_unix64milli(c, n, out);
	else if (strcmp(f, "monthName") == 0)
		*rc = eval_monthname(c, n, out);
	else if (strcmp(f, "timeZoneOf") == 0)
		*rc = eval_timezoneof(c, n, out);
	else if (strcmp(f, "toTimeZone") == 0)
		*rc = eval_totimezone(c, n, out);
	else if (strcmp(f, "dateTrunc") == 0 || strcmp(f, "date_trunc") == 0)
		*rc = eval_datetrunc(c, n, out);
	else if (strcmp(f, "toStartOfInterval") == 0)
		*rc = eval_startofinterval(c, n, out);
	else if (strcmp(f, "dateDiff") == 0 || strcmp(f, "date_diff") == 0)
		*rc = eval_datediff(c, n, false, out);
	else if (strcmp(f, "age") == 0)
		*rc = eval_datediff(c, n, true, out);
	else if (strcmp(f, "dateName") == 0)
		*rc = eval_datename(c, n, out);
	else if (strcmp(f, "timeSlots") == 0)
		*rc = eval_timeslots(c, n, out);
	else if (strcmp(f, "dateAdd") == 0 || strcmp(f, "date_add") == 0 ||
		 strcmp(f, "timeStampAdd") == 0)
		*rc = eval_dateadd(c, n, 1, out);
	else if (strcmp(f, "dateSub") == 0 || strcmp(f, "date_sub") == 0 ||
		 strcmp(f, "date_subtract") == 0 || strcmp(f, "timeStampSub") == 0)
		*rc = eval_dateadd(c, n, -1, out);
	else if (strcmp(f, "formatDateTime") == 0)
		*rc = eval_formatdatetime(c, n, out);
	else if (strcmp(f, "now") == 0 || strcmp(f, "current_timestamp") == 0)
		*rc = eval_now(c, n, 0, out);
	else if (strcmp(f, "now64") == 0)
		*rc = eval_now(c, n, 1, out);
	else if (strcmp(f, "today") == 0)
		*rc = eval_now(c, n, 2, out);
	else if (strcmp(f, "yesterday") == 0)
		*rc = eval_now(c, n, 3, out);
	else if (interval_unit(n) != U_NONE)
		*rc = xunsupported(c, n,
				   "INTERVAL values outside date arithmetic "
				   "(use them in date ± INTERVAL, dateAdd or toStartOfInterval)");
	else
		return false;
	return true;
}
