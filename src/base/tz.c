/*
 * tz.c — UTC offsets of IANA time zones: flag date filters that name a date
 * without a zone ("2025-01-31" is midnight in the team's timezone, spec
 * §3.4), the executor's date functions (per row) and the insights' date
 * ranges.
 *
 * The system's tz database (/usr/share/zoneinfo, TZif files) is read
 * directly: glibc can only answer for the process-wide TZ, and changing TZ
 * while request threads run is a data race. A zone is loaded once (its
 * transition times and the offset in force after each) into an immutable
 * struct sn_tz that lives as long as the process; a lookup is a binary
 * search.
 *
 *   TZif v2+:  header(v1) | v1 data (32-bit) | header(v2) | v2 data (64-bit) | footer
 *   v2 data:   times[timecnt] (i64 BE) | idx[timecnt] (u8) | ttinfo[typecnt] (i32 utoff,
 *              u8 isdst, u8 abbr) | abbrs | leap seconds | std/wall | ut/local
 *
 * Concurrency: loaded zones are published in an append-only table of
 * pointers; a reader loads the count with acquire order and scans the
 * entries below it without a lock (entries are written before the count
 * is released and never change afterwards). Only a miss takes the mutex,
 * rechecks and reads the file. Names that do not load are not remembered
 * (so bogus names cannot fill the table); every miss costs a failed
 * open, which only error paths pay.
 *
 * Local wall time → instant (sn_tz_from_local) follows ClickHouse: a wall
 * time that occurs twice (clocks set back) is its earlier instant; one
 * that does not occur (clocks set forward) is read with the offset before
 * the change (day starts: ClickHouse's DateLUT builds them with cctz's
 * `pre`, which for a gap starting at midnight is the transition itself) or
 * after it (makeDateTime, addDays/addMonths: the wall time moves back by
 * the size of the gap).
 *
 * The footer's POSIX rule (for instants after the last transition) is not
 * read: Debian's files list transitions up to 2037, and past the last one
 * its offset stays.
 *
 * Rejected: setenv("TZ") + localtime_r under a lock — other threads may
 * call localtime or mktime at the same time, and they would see the
 * temporary zone. Also rejected: a mutex per lookup (the first version),
 * too slow for the executor, which converts every row.
 */
#include "base/base.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ZONEINFO  "/usr/share/zoneinfo/"
#define ZONES_MAX 2048
#define TZIF_MAX  (1 << 20)

struct sn_tz {
	char name[64];
	size_t n;
	int64_t *times;	  /* ascending, seconds */
	int32_t *offsets; /* in force from times[i] on */
	int32_t initial;  /* before the first transition */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct sn_tz *_Atomic zones[ZONES_MAX];
static _Atomic size_t nzones;
static const struct sn_tz utc = {.name = "UTC"};

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
	if (!n || n >= sizeof(utc.name) || s[0] == '/' || strstr(s, ".."))
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
static bool parse(const unsigned char *d, size_t len, struct sn_tz *z)
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
		if (i && z->times[i] <= z->times[i - 1])
			return false;
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

static const struct sn_tz *find(const char *name)
{
	size_t n = atomic_load_explicit(&nzones, memory_order_acquire);
	for (size_t i = 0; i < n; i++) {
		const struct sn_tz *z = atomic_load_explicit(&zones[i], memory_order_relaxed);
		if (strcmp(z->name, name) == 0)
			return z;
	}
	return NULL;
}

/* Reads zone name from the tz database; NULL when unknown or unreadable. */
static struct sn_tz *load(const char *name)
{
	struct sn_tz *z = calloc(1, sizeof(*z));
	unsigned char *buf = malloc(TZIF_MAX);
	char path[128];
	snprintf(path, sizeof(path), ZONEINFO "%s", name);
	FILE *f = z && buf ? fopen(path, "rb") : NULL;
	size_t len = f ? fread(buf, 1, TZIF_MAX, f) : 0;
	if (f)
		fclose(f);
	bool ok = len > 0 && parse(buf, len, z);
	free(buf);
	if (!ok) {
		if (z) {
			free(z->times);
			free(z->offsets);
		}
		free(z);
		return NULL;
	}
	snprintf(z->name, sizeof(z->name), "%s", name);
	return z;
}

const struct sn_tz *sn_tz_get(const char *name)
{
	if (!name || !*name || !strcmp(name, "UTC") || !strcmp(name, "Etc/UTC"))
		return &utc;
	if (!name_ok(name))
		return NULL;
	const struct sn_tz *z = find(name);
	if (z)
		return z;
	pthread_mutex_lock(&mu);
	z = find(name);
	size_t n = atomic_load_explicit(&nzones, memory_order_relaxed);
	if (!z && n < ZONES_MAX) {
		struct sn_tz *nz = load(name);
		if (nz) {
			atomic_store_explicit(&zones[n], nz, memory_order_relaxed);
			atomic_store_explicit(&nzones, n + 1, memory_order_release);
			z = nz;
		}
	}
	pthread_mutex_unlock(&mu);
	return z;
}

const char *sn_tz_name(const struct sn_tz *z)
{
	return z->name;
}

bool sn_tz_is_utc(const struct sn_tz *z)
{
	return z == &utc;
}

static int64_t floor_s(int64_t us)
{
	int64_t q = us / 1000000;
	return (us % 1000000 < 0) ? q - 1 : q;
}

/* Index of the first transition after t (seconds); 0..n. */
static size_t after(const struct sn_tz *z, int64_t t)
{
	size_t lo = 0, hi = z->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (z->times[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int32_t sn_tz_offset_at(const struct sn_tz *z, int64_t at_us)
{
	if (!z->n)
		return z->initial;
	size_t k = after(z, floor_s(at_us));
	return k == 0 ? z->initial : z->offsets[k - 1];
}

int64_t sn_tz_from_local(const struct sn_tz *z, int64_t local_us, bool gap_later)
{
	if (!z->n)
		return local_us - (int64_t)z->initial * 1000000;
	/* Intervals between transitions, in order: interval i runs from
	 * times[i - 1] (or the beginning) to times[i] (or the end) with
	 * offset off(i). Start two days early: offsets are below 26 hours. */
	int64_t L = floor_s(local_us), frac = local_us - L * 1000000;
	size_t i = after(z, L - 2 * 86400);
	int32_t prev = i == 0 ? z->initial : z->offsets[i - 1];
	for (;; i++) {
		int32_t off = i == 0 ? z->initial : z->offsets[i - 1];
		int64_t u = L - off;
		bool starts = i > 0, ends = i < z->n;
		if (starts && u < z->times[i - 1]) {
			/* L is skipped: it falls between the previous interval's
			 * local end and this one's local start. */
			u = gap_later ? L - prev : L - off;
			return u * 1000000 + frac;
		}
		if (!ends || u < z->times[i])
			return u * 1000000 + frac;
		prev = off;
	}
}

int32_t sn_tz_offset(const char *tz, int64_t at_us)
{
	const struct sn_tz *z = sn_tz_get(tz);
	return z ? sn_tz_offset_at(z, at_us) : 0;
}
