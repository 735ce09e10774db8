/*
 * dates.c — the date values of is_date_before / is_date_after /
 * is_date_exact (spec §3.4): relative offsets ("-7d", "24h", "2w", "3m",
 * "1y": always that long before now; m is calendar months, y twelve of
 * them, with the day clamped to the target month's length, as chrono's
 * checked_sub_months) and absolute dates: RFC 3339 with its offset honoured,
 * or a bare date / naive date-time taken in the team's timezone.
 *
 * The team timezone is a fixed UTC offset (seconds) supplied by the caller;
 * named zones with daylight-saving rules are the metadata layer's business.
 * Hand-written because the grammar is tiny and strptime is locale-bound
 * and does not report the offset portably.
 */
#include "flags/flags_internal.h"

#include <string.h>

static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int month_days(int64_t y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : d[m - 1];
}

bool sn_flag_parse_abs_date(const char *s, size_t n, int32_t tz_offset_s, int64_t *us)
{
	int y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t frac_us = 0;
	if (n < 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
	    !digits(s + 8, 2, &d))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
		return false;
	size_t i = 10;
	int64_t offset = tz_offset_s;
	if (i < n) {
		if ((s[i] != 'T' && s[i] != 't' && s[i] != ' ') || n < i + 6 || s[i + 3] != ':' ||
		    !digits(s + i + 1, 2, &h) || !digits(s + i + 4, 2, &mi))
			return false;
		i += 6;
		if (i < n && s[i] == ':') {
			if (n < i + 3 || !digits(s + i + 1, 2, &sec))
				return false;
			i += 3;
			if (i < n && s[i] == '.') {
				size_t k = 0;
				int64_t scale = 100000;
				for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++) {
					frac_us += (s[i] - '0') * scale;
					scale /= 10;
				}
				if (k == 0)
					return false;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return false;
		if (i < n) {
			if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
				offset = 0;
			} else if (s[i] == '+' || s[i] == '-') {
				int oh, om;
				const char *o = s + i + 1;
				size_t rest = n - i - 1;
				if (rest == 5 && o[2] == ':' && digits(o, 2, &oh) &&
				    digits(o + 3, 2, &om))
					;
				else if (rest == 4 && digits(o, 2, &oh) && digits(o + 2, 2, &om))
					;
				else if (rest == 2 && digits(o, 2, &oh))
					om = 0;
				else
					return false;
				if (oh > 23 || om > 59)
					return false;
				offset = (s[i] == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
			} else {
				return false;
			}
		}
	}
	int64_t days = sn_days_from_civil(y, (unsigned)mo, (unsigned)d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
	*us = secs * 1000000 + frac_us;
	return true;
}

bool sn_flag_parse_rel_date(const char *s, size_t n, int64_t *amount, char *unit)
{
	size_t i = 0;
	if (n && s[0] == '-')
		i = 1;
	size_t start = i;
	int64_t v = 0;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		v = v * 10 + (s[i] - '0');
		if (v >= 10000)
			return false;
	}
	if (i == start || i + 1 != n)
		return false;
	char u = s[i];
	if (u != 'h' && u != 'd' && u != 'w' && u != 'm' && u != 'y')
		return false;
	*amount = v;
	*unit = u;
	return true;
}

int64_t sn_flag_rel_date_us(int64_t now_us, int64_t amount, char unit)
{
	const int64_t hour = 3600LL * 1000000;
	switch (unit) {
	case 'h': return now_us - amount * hour;
	case 'd': return now_us - amount * 24 * hour;
	case 'w': return now_us - amount * 7 * 24 * hour;
	default: break;
	}
	int64_t months = unit == 'y' ? amount * 12 : amount;
	int64_t day_us = 24 * hour;
	int64_t days = now_us >= 0 ? now_us / day_us : -((-now_us + day_us - 1) / day_us);
	int64_t rem = now_us - days * day_us;
	int64_t y;
	unsigned m, d;
	sn_civil_from_days(days, &y, &m, &d);
	int64_t total = y * 12 + (m - 1) - months;
	y = total >= 0 ? total / 12 : -((-total + 11) / 12);
	m = (unsigned)(total - y * 12) + 1;
	int md = month_days(y, (int)m);
	if ((int)d > md)
		d = (unsigned)md;
	return sn_days_from_civil(y, m, d) * day_us + rem;
}
