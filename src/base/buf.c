/*
 * buf.c — growable byte buffers with a hard maximum (after curl's dynbuf).
 *
 * Every buffer that grows from outside input (request bodies, decompressed
 * payloads, serialised events) has a maximum fixed at init: exceeding it is
 * SN_ERR_TOO_BIG, never unbounded growth. Capacity doubles, so appends are
 * amortised O(1). The buffer keeps a NUL after the data so text can be handed
 * to C string functions without copying.
 *
 * sn_buf_append_json_str writes a JSON string that is always valid UTF-8:
 * stored text is whatever clients sent, and a byte that starts no
 * well-formed sequence would make the whole response unreadable to a strict
 * JSON parser. Each run of such bytes becomes one U+FFFD, as ClickHouse's
 * JSON output and toValidUTF8 do.
 */
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sn_buf_init(struct sn_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : SIZE_MAX / 2;
}

void sn_buf_release(struct sn_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void sn_buf_reset(struct sn_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = 0;
}

int sn_buf_reserve(struct sn_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return SN_ERR_TOO_BIG;
	size_t need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	char *p = realloc(b->data, ncap);
	if (!p)
		return SN_ERR_NOMEM;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int sn_buf_append(struct sn_buf *b, const void *p, size_t n)
{
	int rc = sn_buf_reserve(b, n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int sn_buf_appendc(struct sn_buf *b, char c)
{
	return sn_buf_append(b, &c, 1);
}

int sn_buf_appendf(struct sn_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return SN_ERR_INVALID;
	if ((size_t)n < sizeof(small))
		return sn_buf_append(b, small, (size_t)n);
	int rc = sn_buf_reserve(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int sn_buf_append_tsv(struct sn_buf *b, const char *s, size_t n)
{
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		switch (s[i]) {
		case '\t': rc = sn_buf_appends(b, "\\t"); break;
		case '\n': rc = sn_buf_appends(b, "\\n"); break;
		case '\\': rc = sn_buf_appends(b, "\\\\"); break;
		default: rc = sn_buf_appendc(b, s[i]); break;
		}
	}
	return rc;
}

int sn_buf_append_json_str(struct sn_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	int rc = sn_buf_reserve(b, n + 2);
	if (rc)
		return rc;
	b->data[b->len++] = '"';
	size_t start = 0;
	bool bad = false; /* in a run of invalid UTF-8: one U+FFFD stands for it */
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80) {
			uint32_t cp;
			size_t l = sn_utf8_decode((const unsigned char *)s + i, n - i, &cp);
			if (l) {
				bad = false;
				i += l - 1;
				continue;
			}
			if ((rc = sn_buf_append(b, s + start, i - start)) ||
			    (!bad && (rc = sn_buf_append(b, "\xEF\xBF\xBD", 3))))
				return rc;
			bad = true;
			start = i + 1;
			continue;
		}
		bad = false;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if ((rc = sn_buf_append(b, s + start, i - start)))
			return rc;
		char esc[7] = {'\\', 0};
		size_t elen = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		if ((rc = sn_buf_append(b, esc, elen)))
			return rc;
		start = i + 1;
	}
	if ((rc = sn_buf_append(b, s + start, n - start)))
		return rc;
	return sn_buf_appendc(b, '"');
}

char *sn_buf_detach(struct sn_buf *b, size_t *len)
{
	char *p = b->data;
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}
