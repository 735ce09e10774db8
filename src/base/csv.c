/*
 * csv.c — the one place that parses CSV, through libcsv (RFC 4180: quoted
 * fields, doubled quotes, embedded newlines; CR LF or LF line ends).
 *
 * libcsv calls back per field and per record; fields are collected into
 * a bounded array of spans and handed to the caller once per record.
 * Strict mode is on, so a stray quote inside an unquoted field is an
 * error naming the line, not a silently different value. Empty lines are
 * skipped (libcsv reports no record for them). Writing: sn_csv_append_field
 * quotes a field through libcsv's csv_write when it holds a separator, a
 * quote or a line break (Python csv's minimal quoting, which PostHog's CSV
 * answers use).
 */
#include "base/base.h"

#include <csv.h>
#include <stdlib.h>
#include <string.h>

struct csv_ctx {
	const char *f[SN_CSV_MAX_FIELDS];
	size_t lens[SN_CSV_MAX_FIELDS];
	char *bufs[SN_CSV_MAX_FIELDS];
	size_t n;
	bool too_many;
	int rc;
	size_t line;
	int (*row)(void *ctx, const char *const *fields, const size_t *lens, size_t n);
	void *arg;
};

static void on_field(void *data, size_t len, void *arg)
{
	struct csv_ctx *c = arg;
	if (c->rc)
		return;
	if (c->n == SN_CSV_MAX_FIELDS) {
		c->too_many = true;
		return;
	}
	char *p = malloc(len + 1);
	if (!p) {
		c->rc = SN_ERR_NOMEM;
		return;
	}
	if (len)
		memcpy(p, data, len);
	p[len] = 0;
	c->bufs[c->n] = p;
	c->f[c->n] = p;
	c->lens[c->n] = len;
	c->n++;
}

static void clear(struct csv_ctx *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->bufs[i]);
	c->n = 0;
}

static void on_record(int term, void *arg)
{
	(void)term;
	struct csv_ctx *c = arg;
	c->line++;
	if (!c->rc && c->too_many)
		c->rc = SN_ERR_TOO_BIG;
	if (!c->rc && c->n)
		c->rc = c->row(c->arg, c->f, c->lens, c->n);
	clear(c);
	c->too_many = false;
}

int sn_csv_parse(const char *data, size_t len,
		 int (*row)(void *ctx, const char *const *fields, const size_t *lens, size_t n),
		 void *ctx, struct sn_err *err)
{
	struct csv_parser p;
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	struct csv_ctx c = {.row = row, .arg = ctx};
	size_t used = csv_parse(&p, data, len, on_field, on_record, &c);
	int rc = 0;
	if (used != len || csv_fini(&p, on_field, on_record, &c) != 0) {
		rc = sn_err_set(err, SN_ERR_INVALID, "the CSV is malformed near line %zu: %s",
				c.line + 1, csv_strerror(csv_error(&p)));
	} else if (c.rc == SN_ERR_TOO_BIG) {
		rc = sn_err_set(err, c.rc, "line %zu of the CSV has more than %d fields", c.line,
				SN_CSV_MAX_FIELDS);
	} else if (c.rc) {
		rc = c.rc;
		if (!err || !err->msg[0])
			sn_err_set(err, rc, "reading the CSV failed at line %zu", c.line);
	}
	clear(&c);
	csv_free(&p);
	return rc;
}

int sn_csv_append_field(struct sn_buf *b, const char *s, size_t len)
{
	/* quoted (by libcsv) only when it must be, as Python's csv module
	 * writes: a separator, a quote or a line break inside */
	bool quote = false;
	for (size_t i = 0; i < len && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
	if (!quote)
		return sn_buf_append(b, s, len);
	size_t need = 2 * len + 2; /* every quote doubled, two around */
	int rc = sn_buf_reserve(b, need);
	if (rc)
		return rc;
	b->len += csv_write(b->data + b->len, need, s, len);
	b->data[b->len] = '\0';
	return 0;
}
