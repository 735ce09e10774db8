/*
 * semver.c — versions for the semver_* operators (spec §3.4): surrounding
 * whitespace and a leading "v" are dropped, missing MINOR/PATCH parts are
 * zero ("1.2" is 1.2.0), leading zeros in numeric parts are ignored, a
 * pre-release suffix is kept and build metadata ("+...") dropped.
 * Comparison is SemVer 2.0 precedence: numeric parts, then a version with
 * a pre-release sorts before the same version without one, pre-release
 * identifiers compared one by one (numeric ones numerically and below
 * alphanumeric ones, which compare as ASCII), a shorter list first.
 *
 * The parsed struct points into the caller's string (no allocation).
 */
#include "flags/flags_internal.h"

#include <ctype.h>
#include <string.h>

bool sn_semver_parse(const char *s, size_t n, struct sn_semver *out)
{
	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n && (s[0] == 'v' || s[0] == 'V')) {
		s++;
		n--;
	}
	memset(out, 0, sizeof(*out));
	size_t i = 0;
	int part = 0;
	for (;;) {
		size_t st = i;
		uint64_t v = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			if (v > (UINT64_MAX - 9) / 10)
				return false;
			v = v * 10 + (uint64_t)(s[i] - '0');
		}
		if (i == st)
			return false;
		out->v[part++] = v;
		if (i < n && s[i] == '.' && part < 3) {
			i++;
			continue;
		}
		break;
	}
	if (i < n && s[i] == '-') {
		size_t st = ++i;
		while (i < n && s[i] != '+') {
			char c = s[i];
			if (!isalnum((unsigned char)c) && c != '-' && c != '.')
				return false;
			i++;
		}
		if (i == st)
			return false;
		out->pre = s + st;
		out->pre_len = i - st;
	}
	if (i < n && s[i] == '+')
		i = n;
	return i == n;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return n > 0;
}

static int cmp_ident(const char *a, size_t an, const char *b, size_t bn)
{
	bool ad = all_digits(a, an), bd = all_digits(b, bn);
	if (ad && bd) {
		while (an > 1 && *a == '0') {
			a++;
			an--;
		}
		while (bn > 1 && *b == '0') {
			b++;
			bn--;
		}
		if (an != bn)
			return an < bn ? -1 : 1;
		int c = memcmp(a, b, an);
		return c < 0 ? -1 : c > 0;
	}
	if (ad != bd)
		return ad ? -1 : 1;
	int c = memcmp(a, b, an < bn ? an : bn);
	if (c)
		return c < 0 ? -1 : 1;
	return an == bn ? 0 : (an < bn ? -1 : 1);
}

int sn_semver_cmp(const struct sn_semver *a, const struct sn_semver *b)
{
	for (int i = 0; i < 3; i++)
		if (a->v[i] != b->v[i])
			return a->v[i] < b->v[i] ? -1 : 1;
	if (!a->pre || !b->pre)
		return a->pre ? -1 : (b->pre ? 1 : 0);
	const char *pa = a->pre, *ea = a->pre + a->pre_len;
	const char *pb = b->pre, *eb = b->pre + b->pre_len;
	while (pa < ea && pb < eb) {
		const char *da = memchr(pa, '.', (size_t)(ea - pa));
		const char *db = memchr(pb, '.', (size_t)(eb - pb));
		if (!da)
			da = ea;
		if (!db)
			db = eb;
		int c = cmp_ident(pa, (size_t)(da - pa), pb, (size_t)(db - pb));
		if (c)
			return c;
		pa = da < ea ? da + 1 : ea;
		pb = db < eb ? db + 1 : eb;
	}
	if (pa < ea)
		return 1;
	if (pb < eb)
		return -1;
	return 0;
}
