/*
 * time.c — clocks and calendar arithmetic.
 *
 * Civil-date conversion uses Howard Hinnant's days_from_civil algorithm
 * (public domain description, written here), which is exact over the whole
 * proleptic Gregorian range without tables or libc time zones, so formatting
 * a timestamp never takes the libc time-zone lock (gmtime_r does).
 *
 * Two RFC 3339 parsers: the fixed 24-character form snout itself writes
 * (the ingest hot path), and the general strict one (any fraction up to
 * microseconds, numeric offsets) for times people type. SDK timestamps,
 * which come in many looser shapes, have their own parser in capture.
 */
#include "base.h"

#include <stdio.h>
#include <time.h>

int64_t sn_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t sn_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct timespec sn_deadline_in_ms(uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

int64_t sn_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void sn_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void sn_time_format_rfc3339(int64_t us, char out[32])
{
	int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
	int64_t frac_us = us - secs * 1000000;
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t sod = secs - days * 86400;
	int64_t y;
	unsigned m, d;
	sn_civil_from_days(days, &y, &m, &d);
	snprintf(out, 32, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y, m, d,
		 (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)(frac_us / 1000));
}

static int two(const char *s, int *v)
{
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
		return -1;
	*v = (s[0] - '0') * 10 + (s[1] - '0');
	return 0;
}

int sn_time_parse_rfc3339_ms(const char *s, size_t len, int64_t *us)
{
	/* 0123456789012345678901234
	 * 2025-01-01T12:00:00.123Z */
	int c, y, mo, d, h, mi, sec, ms1, ms2;
	if (len != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != '.' || s[23] != 'Z')
		return SN_ERR_INVALID;
	if (two(s, &c) || two(s + 2, &y) || two(s + 5, &mo) || two(s + 8, &d) || two(s + 11, &h) ||
	    two(s + 14, &mi) || two(s + 17, &sec) || two(s + 20, &ms1) || s[22] < '0' ||
	    s[22] > '9')
		return SN_ERR_INVALID;
	ms2 = s[22] - '0';
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
		return SN_ERR_INVALID;
	int64_t days = sn_days_from_civil(c * 100 + y, (unsigned)mo, (unsigned)d);
	*us = ((days * 86400 + h * 3600 + mi * 60 + sec) * 1000 + ms1 * 10 + ms2) * 1000;
	return 0;
}

static bool leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int sn_time_parse_rfc3339(const char *s, size_t len, int64_t *us)
{
	/* 0123456789012345678
	 * 2025-01-01T12:00:00[.f{1,6}](Z|+hh:mm|-hh:mm) */
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int c, y, mo, d, h, mi, sec, oh = 0, om = 0;
	if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return SN_ERR_INVALID;
	if (two(s, &c) || two(s + 2, &y) || two(s + 5, &mo) || two(s + 8, &d) || two(s + 11, &h) ||
	    two(s + 14, &mi) || two(s + 17, &sec))
		return SN_ERR_INVALID;
	int64_t year = c * 100 + y;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
	    (mo == 2 && d == 29 && !leap_year(year)) || h > 23 || mi > 59 || sec > 59)
		return SN_ERR_INVALID;
	size_t i = 19;
	int64_t frac_us = 0;
	if (s[i] == '.') {
		int64_t scale = 100000;
		size_t start = ++i;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10) {
			if (i - start == 6)
				return SN_ERR_INVALID; /* finer than a microsecond */
			frac_us += (s[i] - '0') * scale;
		}
		if (i == start)
			return SN_ERR_INVALID;
	}
	int sign = 0;
	if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
		/* UTC */
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
		   !two(s + i + 1, &oh) && !two(s + i + 4, &om) && oh <= 23 && om <= 59) {
		sign = s[i] == '-' ? -1 : 1;
	} else {
		return SN_ERR_INVALID;
	}
	int64_t days = sn_days_from_civil(year, (unsigned)mo, (unsigned)d);
	int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60);
	*us = secs * 1000000 + frac_us;
	return 0;
}
