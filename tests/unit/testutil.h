/*
 * testutil.h — what several unit tests need around the code under test:
 * a fresh temporary directory per test and its removal; shared fixtures.
 *
 * Directories go under $SNOUT_TEST_TMP (set by ctest to build/tmp) or /tmp,
 * named after the test program, so a failed run leaves its files where the
 * build can show them. Header-only (static functions) because each test is
 * its own executable; not a test file itself (tests.cmake globs test_*.c).
 */
#ifndef SN_TESTUTIL_H
#define SN_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

/* Makes <base>/<name>.XXXXXX into out. Returns 0, or -1 (errno set). */
static inline int sn_test_tmpdir(char *out, size_t outsz, const char *name)
{
	const char *base = getenv("SNOUT_TEST_TMP");
	if (!base || !*base)
		base = "/tmp";
	if (sn_mkdir_p(base, NULL) < 0)
		return -1;
	if ((size_t)snprintf(out, outsz, "%s/%s.XXXXXX", base, name) >= outsz)
		return -1;
	return mkdtemp(out) ? 0 : -1;
}

/* Copies the file from to to (a file put back, or taken, as a crash would
 * leave it). Returns 0, or -1 (errno set; from missing is an error). */
static inline int sn_test_copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb");
	if (!in)
		return -1;
	FILE *out = fopen(to, "wb");
	int ret = out ? 0 : -1;
	char b[65536];
	size_t n;
	while (!ret && (n = fread(b, 1, sizeof(b), in)) > 0)
		if (fwrite(b, 1, n, out) != n)
			ret = -1;
	if (ferror(in))
		ret = -1;
	fclose(in);
	if (out && fclose(out))
		ret = -1;
	return ret;
}

static inline int sn_test_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Removes path and everything below it; missing paths are fine. */
static inline void sn_test_rm_rf(const char *path)
{
	nftw(path, sn_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Event names around the sparse index's cut (n is SN_GRANULE_EVENT_MAX,
 * 256): names[0] 100 bytes, [1] exactly n, [2] and [3] 300 bytes alike in
 * their first 299 (so alike in their cut). Each names[i] holds 301 bytes. */
static inline void sn_test_long_event_names(char (*names)[301], size_t n)
{
	memset(names, 0, 4 * sizeof(*names));
	memset(names[0], 'e', 100);
	memset(names[1], 'e', n);
	memset(names[2], 'e', 299);
	names[2][299] = '1';
	memset(names[3], 'e', 299);
	names[3][299] = '2';
}

#endif
