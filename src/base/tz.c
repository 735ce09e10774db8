/*
 * tz.c — a team's UTC offset at a given instant: flag date filters that name
 * a date without a zone ("2025-01-31" is midnight in the team's timezone,
 * spec §3.4), the executor's date functions and the insights' date ranges.
 *
 * The system's tz database (/usr/share/zoneinfo, TZif files) is read
 * directly: glibc can only answer for the process-wide TZ, and changing TZ
 * while request threads run is a data race. A zone is loaded once (its
 * transition times and the offset in force after each) and kept for the
 * life of the process in a small table; a lookup is a binary search.
 *
 *   TZif v2+:  header(v1) | v1 data (32-bit) | header(v2) | v2 data (64-bit) | footer
 *   v2 data:   times[timecnt] (i64 BE) | idx[timecnt] (u8) | ttinfo[typecnt] (i32 utoff,
 *              u8 isdst, u8 abbr) | abbrs | leap seconds | std/wall | ut/local
 *
 * The footer's POSIX rule (for instants after the last transition) is not
 * read: Debian's files list transitions up to 2037, and past the last one
 * its offset stays. A zone that cannot be read is treated as UTC.
 *
 * Rejected: setenv("TZ") + localtime_r under a lock — other threads may
 * call localtime or mktime at the same time, and they would see the
 * temporary zone.
 */
#include "base/base.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONEINFO  "/usr/share/zoneinfo/"
#define ZONES_MAX 256
#define TZIF_MAX  (1 << 20)

struct zone {
	char name[64];
	size_t n;
	int64_t *times;	  /* ascending */
	int32_t *offsets; /* in force from times[i] on */
	int32_t initial;  /* before the first transition */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct zone zones[ZONES_MAX];
static size_t nzones;

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n >= sizeof(zones[0].name) || s[0] == '/' || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '_' || c == '-' || c == '+'))
			return false;
	}
	return true;
}

/* Parses the 64-bit part of a TZif file into z. false when malformed. */
static bool parse(const unsigned char *d, size_t len, struct zone *z)
{
	if (len < 44 || memcmp(d, "TZif", 4) || d[4] < '2')
		return false;
	/* Skip the v1 header and data. */
	uint32_t c[6];
	for (int i = 0; i < 6; i++)
		c[i] = be32(d + 20 + 4 * i);
	size_t v1 =
	    44 + (size_t)c[3] * 5 + (size_t)c[4] * 6 + c[5] + (size_t)c[2] * 8 + c[1] + c[0];
	if (v1 + 44 > len)
		return false;
	const unsigned char *h = d + v1;
	if (memcmp(h, "TZif", 4))
		return false;
	for (int i = 0; i < 6; i++)
		c[i] = be32(h + 20 + 4 * i);
	uint32_t isut = c[0], isstd = c[1], leap = c[2], timecnt = c[3], typecnt = c[4],
		 charcnt = c[5];
	const unsigned char *p = h + 44;
	size_t need =
	    (size_t)timecnt * 9 + (size_t)typecnt * 6 + charcnt + (size_t)leap * 12 + isstd + isut;
	if (typecnt == 0 || typecnt > 256 || timecnt > 100000 || (size_t)(p - d) + need > len)
		return false;
	const unsigned char *times = p, *idx = p + (size_t)timecnt * 8, *tt = idx + timecnt;
	z->times = malloc((timecnt ? timecnt : 1) * sizeof(*z->times));
	z->offsets = malloc((timecnt ? timecnt : 1) * sizeof(*z->offsets));
	if (!z->times || !z->offsets)
		return false;
	for (uint32_t i = 0; i < timecnt; i++) {
		if (idx[i] >= typecnt)
			return false;
		z->times[i] = be64(times + 8 * (size_t)i);
		z->offsets[i] = (int32_t)be32(tt + 6 * (size_t)idx[i]);
	}
	z->n = timecnt;
	/* Before the first transition: the first standard-time type. */
	z->initial = (int32_t)be32(tt);
	for (uint32_t t = 0; t < typecnt; t++)
		if (!tt[6 * (size_t)t + 4]) {
			z->initial = (int32_t)be32(tt + 6 * (size_t)t);
			break;
		}
	return true;
}

/* The loaded zone, or NULL (unknown, unreadable, table full). Caller holds mu. */
static const struct zone *load(const char *name)
{
	for (size_t i = 0; i < nzones; i++)
		if (!strcmp(zones[i].name, name))
			return zones[i].n || zones[i].times ? &zones[i] : NULL;
	if (nzones == ZONES_MAX || !name_ok(name))
		return NULL;
	struct zone *z = &zones[nzones];
	memset(z, 0, sizeof(*z));
	snprintf(z->name, sizeof(z->name), "%s", name);
	char path[128];
	snprintf(path, sizeof(path), ZONEINFO "%s", name);
	FILE *f = fopen(path, "rb");
	unsigned char *buf = malloc(TZIF_MAX);
	size_t len = f && buf ? fread(buf, 1, TZIF_MAX, f) : 0;
	if (f)
		fclose(f);
	bool ok = len > 0 && parse(buf, len, z);
	free(buf);
	if (!ok) {
		/* Remember the failure too: one attempt per name. */
		free(z->times);
		free(z->offsets);
		z->times = NULL;
		z->offsets = NULL;
		z->n = 0;
	}
	nzones++;
	return ok ? z : NULL;
}

int32_t sn_tz_offset(const char *tz, int64_t at_us)
{
	if (!tz || !*tz || !strcmp(tz, "UTC") || !strcmp(tz, "Etc/UTC"))
		return 0;
	int64_t t = at_us / 1000000;
	int32_t off = 0;
	pthread_mutex_lock(&mu);
	const struct zone *z = load(tz);
	if (z) {
		size_t lo = 0, hi = z->n; /* first transition after t */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (z->times[mid] <= t)
				lo = mid + 1;
			else
				hi = mid;
		}
		off = lo == 0 ? z->initial : z->offsets[lo - 1];
	}
	pthread_mutex_unlock(&mu);
	return off;
}
