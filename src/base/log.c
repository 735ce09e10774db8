/*
 * log.c — one line per log record on stderr, text or JSON.
 *
 * Each record is formatted into a stack buffer and written with a single
 * write(2), so lines from different threads never interleave (stderr is
 * unbuffered and writes below PIPE_BUF are atomic on pipes). Text mode is
 * `ts level msg`; JSON mode wraps the same in {"ts","level","msg"} for log
 * shippers. The access log builds its own JSON object and uses
 * sn_log_raw_line.
 */
#include "base.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static enum sn_log_level g_min = SN_LOG_INFO;
static bool g_json;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void sn_log_setup(enum sn_log_level min_level, bool json)
{
	g_min = min_level;
	g_json = json;
}

int sn_log_parse_level(const char *s, enum sn_log_level *out)
{
	for (size_t i = 0; i < SN_ARRAY_LEN(level_names); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum sn_log_level)i;
			return 0;
		}
	}
	return SN_ERR_INVALID;
}

bool sn_log_enabled(enum sn_log_level level)
{
	return level >= g_min;
}

static void write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, p, n);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void sn_logv(enum sn_log_level level, const char *fmt, va_list ap)
{
	if (level < g_min)
		return;
	char msg[2048], ts[32], line[4096];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	sn_time_format_rfc3339(sn_now_us(), ts);
	size_t n;
	if (g_json) {
		struct sn_buf b;
		sn_buf_init(&b, sizeof(line) - 2);
		sn_buf_appendf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", ts,
			       level_names[level]);
		sn_buf_append_json_str(&b, msg, strlen(msg));
		sn_buf_appendc(&b, '}');
		n = b.len < sizeof(line) - 1 ? b.len : sizeof(line) - 2;
		memcpy(line, b.data ? b.data : "", n);
		sn_buf_release(&b);
	} else {
		int k = snprintf(line, sizeof(line) - 1, "%s %-5s %s", ts, level_names[level], msg);
		n = k < 0 ? 0 : (size_t)k >= sizeof(line) - 1 ? sizeof(line) - 2 : (size_t)k;
	}
	line[n++] = '\n';
	write_all(line, n);
}

void sn_log(enum sn_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sn_logv(level, fmt, ap);
	va_end(ap);
}

void sn_log_raw_line(const char *line, size_t len)
{
	char small[2048];
	if (len + 1 <= sizeof(small)) {
		memcpy(small, line, len);
		small[len] = '\n';
		write_all(small, len + 1);
	} else {
		write_all(line, len);
		write_all("\n", 1);
	}
}
