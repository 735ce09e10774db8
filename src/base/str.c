/*
 * str.c — small parsing helpers for settings (sizes, durations, booleans,
 * whole numbers),
 * the two file-system chores every durable component needs (mkdir -p and
 * fsync of a directory after a rename), and fixed sets of short names
 * (struct sn_names: candidates by length, each as the words that cover
 * its bytes, built once).
 */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

bool sn_str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

int sn_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t sn_utf8_decode(const unsigned char *p, size_t len, uint32_t *cp)
{
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	size_t l = p[0] < 0xC0 ? 1 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : p[0] < 0xF8 ? 4 : 1;
	if (l == 1 || l > len)
		return 0;
	uint32_t v = p[0] & (0x7F >> l);
	for (size_t i = 1; i < l; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	if (v < min[l] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return l;
}

size_t sn_utf8_prefix(const char *s, size_t len, size_t max)
{
	size_t at = 0;
	for (size_t chars = 0; at < len && chars < max; chars++) {
		uint32_t cp;
		size_t k = sn_utf8_decode((const unsigned char *)s + at, len - at, &cp);
		at += k ? k : 1;
	}
	return at;
}

bool sn_str_ieq(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

int sn_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return SN_ERR_INVALID;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s)
		return SN_ERR_INVALID;
	uint64_t mult = 1;
	if (*end) {
		static const struct {
			const char *sfx;
			uint64_t mult;
		} units[] = {{"b", 1},		 {"k", 1024},	    {"kb", 1024},
			     {"kib", 1024},	 {"m", 1 << 20},    {"mb", 1 << 20},
			     {"mib", 1 << 20},	 {"g", 1ull << 30}, {"gb", 1ull << 30},
			     {"gib", 1ull << 30}};
		size_t i;
		for (i = 0; i < SN_ARRAY_LEN(units); i++)
			if (strcasecmp(end, units[i].sfx) == 0)
				break;
		if (i == SN_ARRAY_LEN(units))
			return SN_ERR_INVALID;
		mult = units[i].mult;
	}
	if (v > UINT64_MAX / mult)
		return SN_ERR_INVALID;
	*out = v * mult;
	return 0;
}

int sn_parse_duration_ms(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	if (!*s || *s == '-')
		return SN_ERR_INVALID;
	double v = strtod(s, &end);
	if (errno || end == s)
		return SN_ERR_INVALID;
	double mult;
	if (!*end || strcmp(end, "ms") == 0)
		mult = 1;
	else if (strcmp(end, "s") == 0)
		mult = 1000;
	else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
		mult = 60000;
	else if (strcmp(end, "h") == 0)
		mult = 3600000;
	else
		return SN_ERR_INVALID;
	double ms = v * mult;
	if (ms > 9.2e18)
		return SN_ERR_INVALID;
	*out = (int64_t)ms;
	return 0;
}

int sn_parse_int(const char *s, size_t len, int64_t min, int64_t max, int64_t *out)
{
	size_t i = len && s[0] == '-';
	if (i == len)
		return SN_ERR_INVALID;
	/* Accumulated negative: INT64_MIN has no positive twin. */
	int64_t v = 0;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' || __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_sub_overflow(v, s[i] - '0', &v))
			return SN_ERR_INVALID;
	}
	if (s[0] != '-') {
		if (v == INT64_MIN)
			return SN_ERR_INVALID;
		v = -v;
	}
	if (v < min || v > max)
		return SN_ERR_INVALID;
	*out = v;
	return 0;
}

int sn_parse_bool(const char *s, bool *out)
{
	static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
	for (size_t i = 0; i < SN_ARRAY_LEN(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return SN_ERR_INVALID;
}

int sn_mkdir_p(const char *path, struct sn_err *err)
{
	char tmp[4096];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof(tmp))
		return sn_err_set(err, SN_ERR_INVALID, "invalid directory path '%s'", path);
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return sn_err_set(err, SN_ERR_IO, "cannot create directory '%s': %s", tmp,
					  strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, 0755) && errno != EEXIST)
		return sn_err_set(err, SN_ERR_IO, "cannot create directory '%s': %s", tmp,
				  strerror(errno));
	struct stat st;
	if (stat(tmp, &st) || !S_ISDIR(st.st_mode))
		return sn_err_set(err, SN_ERR_IO, "'%s' exists and is not a directory", tmp);
	return 0;
}

int sn_fsync_dir(const char *path, struct sn_err *err)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return sn_err_set(err, SN_ERR_IO, "cannot open directory '%s': %s", path,
				  strerror(errno));
	int rc = 0;
	if (fsync(fd))
		rc = sn_err_set(err, SN_ERR_IO, "fsync of directory '%s' failed: %s", path,
				strerror(errno));
	close(fd);
	return rc;
}

void sn_names_init(struct sn_names *set, const char *const *names, int n)
{
	size_t fill[SN_NAMES_LEN_MAX + 1] = {0};
	if (n > SN_NAMES_MAX)
		SN_BUG("sn_names_init: %d names, at most %d", n, SN_NAMES_MAX);
	memset(set->by_len, -1, sizeof(set->by_len));
	for (int k = 0; k < n; k++) {
		size_t len = strlen(names[k]);
		if (len < 3 || len > SN_NAMES_LEN_MAX)
			SN_BUG("sn_names_init: \"%s\" is not 3 to %d bytes", names[k],
			       SN_NAMES_LEN_MAX);
		set->by_len[len][fill[len]++] = (signed char)k;
		sn_names_words(names[k], len, set->w[k]);
	}
}
