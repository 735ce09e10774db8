/*
 * timestamp.c — client timestamps (spec/posthog-wire.md §1.5).
 *
 * Parsing accepts, in this order: RFC 3339 (also with a space for 'T', a
 * bare `±HH` offset, `±HHMM`, or no zone = UTC), a date alone, numeric epoch
 * seconds or milliseconds, RFC 2822 and slash dates. The hand-written
 * RFC 3339 path is the hot one (every SDK event carries an ISO timestamp);
 * the rare forms go through strptime.
 *
 * The stored time is `now + (timestamp − sent_at)` when the request says
 * when it was sent (the client's clock error cancels out), `now − offset`
 * when the event carries an offset, clamped to `now` when more than 23 hours
 * in the future, and the epoch when outside years 0–9999.
 */
#include "capture.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int digits(const char *s, size_t n, int64_t *v)
{
	int64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return 0;
}

static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int rfc3339(const char *s, size_t n, int64_t *us)
{
	int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac_us = 0, off_s = 0;
	if (n < 10 || s[4] != '-' || s[7] != '-')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap(y)))
		return -1;
	size_t i = 10;
	if (i < n) {
		if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
			return -1;
		i++;
		if (n - i < 5 || s[i + 2] != ':' || digits(s + i, 2, &h) ||
		    digits(s + i + 3, 2, &mi))
			return -1;
		i += 5;
		if (i < n && s[i] == ':') {
			if (n - i < 3 || digits(s + i + 1, 2, &sec))
				return -1;
			i += 3;
			if (i < n && (s[i] == '.' || s[i] == ',')) {
				i++;
				size_t start = i;
				int64_t scale = 100000;
				while (i < n && isdigit((unsigned char)s[i])) {
					frac_us += (s[i] - '0') * scale;
					scale /= 10;
					i++;
				}
				if (i == start)
					return -1;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -1;
		if (sec == 60)
			sec = 59; /* leap second: keep it inside the minute */
		if (i < n) {
			if (s[i] == 'Z' || s[i] == 'z') {
				i++;
			} else if (s[i] == '+' || s[i] == '-') {
				int sign = s[i] == '-' ? -1 : 1;
				int64_t oh, om = 0;
				i++;
				if (n - i < 2 || digits(s + i, 2, &oh))
					return -1;
				i += 2;
				if (i < n && s[i] == ':')
					i++;
				if (n - i >= 2 && digits(s + i, 2, &om) == 0)
					i += 2;
				if (oh > 23 || om > 59)
					return -1;
				off_s = sign * (oh * 3600 + om * 60);
			} else if (s[i] == ' ') {
				/* trailing spaces only */
				while (i < n && s[i] == ' ')
					i++;
			}
			if (i != n)
				return -1;
		}
	}
	int64_t days = sn_days_from_civil(y, (unsigned)mo, (unsigned)d);
	*us = ((days * 86400 + h * 3600 + mi * 60 + sec - off_s) * 1000000) + frac_us;
	return 0;
}

static int numeric_epoch(const char *s, size_t n, int64_t *us)
{
	char tmp[40];
	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	char *end;
	double v = strtod(tmp, &end);
	if (*end || end == tmp || v != v)
		return -1;
	/* Values past year 5138 in seconds are read as milliseconds. */
	if (v > 1e11 || v < -1e11)
		v /= 1000.0;
	if (v > 253402300799.0 || v < -62135596800.0)
		return -1;
	*us = (int64_t)(v * 1e6);
	return 0;
}

static int with_strptime(const char *s, size_t n, int64_t *us)
{
	static const char *formats[] = {
	    "%a, %d %b %Y %H:%M:%S %z",
	    "%d %b %Y %H:%M:%S %z",
	    "%a, %d %b %Y %H:%M:%S",
	    "%Y/%m/%d %H:%M:%S",
	    "%Y/%m/%d",
	    "%m/%d/%Y %H:%M:%S",
	    "%m/%d/%Y",
	};
	char tmp[96];
	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	for (size_t f = 0; f < SN_ARRAY_LEN(formats); f++) {
		struct tm tm;
		memset(&tm, 0, sizeof(tm));
		char *end = strptime(tmp, formats[f], &tm);
		if (!end)
			continue;
		while (*end == ' ')
			end++;
		if (*end)
			continue;
		int64_t days = sn_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
						  (unsigned)tm.tm_mday);
		int64_t secs =
		    days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec - tm.tm_gmtoff;
		*us = secs * 1000000;
		return 0;
	}
	return -1;
}

int sn_capture_parse_timestamp(const char *s, size_t len, int64_t *us)
{
	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0)
		return SN_ERR_INVALID;
	if (rfc3339(s, len, us) == 0)
		return 0;
	if (numeric_epoch(s, len, us) == 0)
		return 0;
	if (with_strptime(s, len, us) == 0)
		return 0;
	return SN_ERR_INVALID;
}

int64_t sn_capture_compute_timestamp(int64_t now_us, bool has_ts, int64_t ts_us, bool has_sent_at,
				     int64_t sent_at_us, bool has_offset, int64_t offset_ms)
{
	int64_t t = now_us;
	if (has_ts)
		t = has_sent_at ? now_us + (ts_us - sent_at_us) : ts_us;
	if (has_offset)
		t = now_us - offset_ms * 1000;
	if (t > now_us + 23LL * 3600 * 1000000)
		t = now_us;
	/* Years 0..9999 only: 0000-01-01 is -62167219200 s. */
	if (t < -62167219200LL * 1000000 || t > 253402300799LL * 1000000 + 999999)
		t = 0;
	return t;
}
