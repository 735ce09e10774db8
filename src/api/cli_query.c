/*
 * cli_query.c — what `snout query` prints and how it asks a running server.
 *
 * Both ways of answering — the local data directory (main.c runs the
 * executor and serialises its result as the query API would) and a running
 * server (`--url`: POST /api/projects/:id/query/ through base/httpc.c) —
 * end in the same text: PostHog's HogQLQueryResponse JSON (columns,
 * results, hasMore). The formats are rendered from that JSON, so a local
 * and a remote answer print the same:
 *
 *   table  the default, for people: a header, one line a row, numbers
 *          right-aligned, cells cut at 60 characters with "…", control
 *          characters shown as spaces, NULL as NULL, arrays and objects
 *          as compact JSON, then "(N rows)" (and a note when hasMore)
 *   json   the response itself, unchanged
 *   csv    RFC 4180 with a header record (base's libcsv writer), NULL as
 *          \N as in ClickHouse's CSV output
 *   tsv    ClickHouse's TabSeparatedWithNames escaping (\t \n \\), NULL as \N
 *
 * Widths count code points (no East Asian double width: a CJK cell
 * misaligns the columns to its right, nothing worse). Errors (snout's
 * {"error", "type", "start", "end"} or PostHog's {"type", "detail"}) become
 * one line for stderr.
 */
#include <string.h>

#include "api/api.h"

#define CELL_MAX 60 /* code points shown of one table cell */

int sn_cli_format_parse(const char *s, enum sn_cli_format *f)
{
	static const struct {
		const char *name;
		enum sn_cli_format f;
	} names[] = {{"table", SN_CLI_TABLE},
		     {"json", SN_CLI_JSON},
		     {"csv", SN_CLI_CSV},
		     {"tsv", SN_CLI_TSV}};
	for (size_t i = 0; i < SN_ARRAY_LEN(names); i++)
		if (strcmp(s, names[i].name) == 0) {
			*f = names[i].f;
			return 0;
		}
	return SN_ERR_INVALID;
}

/* The cell's text: strings as they are, numbers as the server wrote them,
 * containers as compact JSON; *null for JSON null. */
static const char *cell_text(struct json_object *v, size_t *len, bool *null, bool *num)
{
	*null = v == NULL;
	*num = false;
	if (!v) {
		*len = 0;
		return "";
	}
	switch (json_object_get_type(v)) {
	case json_type_string:
		*len = (size_t)json_object_get_string_len(v);
		return json_object_get_string(v);
	case json_type_int:
	case json_type_double: *num = true; break;
	default: break;
	}
	const char *t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	*len = strlen(t);
	return t;
}

static size_t cps(const char *s, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += ((unsigned char)s[i] & 0xC0) != 0x80;
	return k;
}

/* Appends the first max code points of s (control characters as spaces),
 * "…" when cut; returns the code points written. */
static size_t put_cut(struct sn_buf *b, const char *s, size_t n, size_t max, int *rc)
{
	size_t k = cps(s, n), shown = k > max ? max - 1 : k, done = 0, i = 0;
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c & 0xC0) != 0x80) {
			if (done == shown)
				break;
			done++;
		}
		*rc = *rc ? *rc : sn_buf_appendc(b, c < 0x20 || c == 0x7f ? ' ' : (char)c);
	}
	if (k > max) {
		*rc = *rc ? *rc : sn_buf_appends(b, "…");
		shown++;
	}
	return shown;
}

static void pad(struct sn_buf *b, size_t n, int *rc)
{
	while (n-- && !*rc)
		*rc = sn_buf_appendc(b, ' ');
}

static int render_table(struct sn_buf *b, struct json_object *cols, struct json_object *rows,
			bool more)
{
	size_t nc = json_object_array_length(cols), nr = json_object_array_length(rows);
	size_t *w = calloc(nc ? nc : 1, sizeof(*w));
	bool *right = calloc(nc ? nc : 1, sizeof(*right));
	int rc = w && right ? 0 : SN_ERR_NOMEM;
	for (size_t j = 0; !rc && j < nc; j++) {
		size_t l;
		bool nul, num;
		const char *t = cell_text(json_object_array_get_idx(cols, j), &l, &nul, &num);
		w[j] = cps(t, l) > CELL_MAX ? CELL_MAX : cps(t, l);
	}
	for (size_t r = 0; !rc && r < nr; r++) {
		struct json_object *row = json_object_array_get_idx(rows, r);
		for (size_t j = 0; j < nc; j++) {
			size_t l;
			bool nul, num;
			const char *t =
			    cell_text(json_object_array_get_idx(row, j), &l, &nul, &num);
			size_t k = nul ? 4 : cps(t, l);
			w[j] = w[j] > k ? w[j] : k > CELL_MAX ? CELL_MAX : k;
			right[j] |= num;
		}
	}
	/* header, rule, rows: " a | b " as psql lays them out */
	for (size_t j = 0; !rc && j < nc; j++) {
		size_t l;
		bool nul, num;
		const char *t = cell_text(json_object_array_get_idx(cols, j), &l, &nul, &num);
		rc = sn_buf_appends(b, j ? " | " : " ");
		pad(b, w[j] - put_cut(b, t, l, CELL_MAX, &rc), &rc);
	}
	rc = rc ? rc : sn_buf_appendc(b, '\n');
	for (size_t j = 0; !rc && j < nc; j++) {
		rc = sn_buf_appends(b, j ? "-+-" : "-");
		for (size_t k = 0; !rc && k < w[j]; k++)
			rc = sn_buf_appendc(b, '-');
	}
	rc = rc ? rc : sn_buf_appends(b, "-\n");
	for (size_t r = 0; !rc && r < nr; r++) {
		struct json_object *row = json_object_array_get_idx(rows, r);
		for (size_t j = 0; !rc && j < nc; j++) {
			size_t l;
			bool nul, num;
			const char *t =
			    cell_text(json_object_array_get_idx(row, j), &l, &nul, &num);
			if (nul) {
				t = "NULL";
				l = 4;
			}
			rc = sn_buf_appends(b, j ? " | " : " ");
			size_t k = cps(t, l) > CELL_MAX ? CELL_MAX : cps(t, l);
			if (right[j])
				pad(b, w[j] - k, &rc);
			put_cut(b, t, l, CELL_MAX, &rc);
			if (!right[j])
				pad(b, w[j] - k, &rc);
		}
		rc = rc ? rc : sn_buf_appendc(b, '\n');
	}
	if (!rc)
		rc = sn_buf_appendf(b, "(%zu row%s%s)\n", nr, nr == 1 ? "" : "s",
				    more ? "; more rows exist: raise the LIMIT" : "");
	free(w);
	free(right);
	return rc;
}

/* csv and tsv: a header record, then the rows; NULL as \N. */
static int render_sep(struct sn_buf *b, struct json_object *cols, struct json_object *rows,
		      bool csv)
{
	size_t nc = json_object_array_length(cols), nr = json_object_array_length(rows);
	int rc = 0;
	for (size_t r = 0; !rc && r <= nr; r++) {
		struct json_object *row = r ? json_object_array_get_idx(rows, r - 1) : cols;
		for (size_t j = 0; !rc && j < nc; j++) {
			size_t l;
			bool nul, num;
			const char *t =
			    cell_text(json_object_array_get_idx(row, j), &l, &nul, &num);
			if (j)
				rc = sn_buf_appendc(b, csv ? ',' : '\t');
			if (!rc)
				rc = nul   ? sn_buf_appends(b, "\\N")
				     : csv ? sn_csv_append_field(b, t, l)
					   : sn_buf_append_tsv(b, t, l);
		}
		rc = rc ? rc : sn_buf_appendc(b, '\n');
	}
	return rc;
}

int sn_cli_render(struct sn_buf *out, const char *json, size_t len, enum sn_cli_format f,
		  struct sn_err *err)
{
	if (f == SN_CLI_JSON) {
		if (sn_buf_append(out, json, len) || sn_buf_appendc(out, '\n'))
			return sn_err_set(err, SN_ERR_TOO_BIG, "the result is too large to print");
		return 0;
	}
	struct json_object *doc;
	if (sn_json_parse(json, len, &doc, err))
		return err->code;
	struct json_object *cols = sn_json_get(doc, "columns"), *rows = sn_json_get(doc, "results");
	int rc = 0;
	if (!json_object_is_type(cols, json_type_array) ||
	    !json_object_is_type(rows, json_type_array))
		rc = sn_err_set(err, SN_ERR_INVALID, "the answer has no columns and results");
	else if (f == SN_CLI_TABLE)
		rc = render_table(out, cols, rows,
				  json_object_get_boolean(sn_json_get(doc, "hasMore")));
	else
		rc = render_sep(out, cols, rows, f == SN_CLI_CSV);
	if (rc && !err->code)
		sn_err_set(err, rc, "the result is too large to print");
	json_object_put(doc);
	return rc;
}

void sn_cli_error_line(const char *json, size_t len, char *out, size_t n)
{
	struct json_object *doc;
	struct sn_err e = {0};
	if (sn_json_parse(json, len, &doc, &e)) {
		snprintf(out, n, "%.*s", (int)(len > 300 ? 300 : len), json);
		return;
	}
	struct json_object *msg = sn_json_get(doc, "error");
	if (!msg)
		msg = sn_json_get(doc, "detail");
	struct json_object *type = sn_json_get(doc, "type"), *st = sn_json_get(doc, "start");
	int k = snprintf(out, n, "%s", msg ? json_object_get_string(msg) : "the query failed");
	if (type && k >= 0 && (size_t)k < n)
		k += snprintf(out + k, n - (size_t)k, " (%s)", json_object_get_string(type));
	if (st && k >= 0 && (size_t)k < n)
		snprintf(out + k, n - (size_t)k, " at characters %lld..%lld",
			 (long long)json_object_get_int64(st),
			 (long long)json_object_get_int64(sn_json_get(doc, "end")));
	json_object_put(doc);
}

int sn_cli_query_remote(const char *url, const char *api_key, int64_t team, const char *sql,
			long timeout_ms, long *status, struct sn_buf *resp, struct sn_err *err)
{
	struct sn_buf body, u;
	sn_buf_init(&body, (size_t)16 << 20);
	sn_buf_init(&u, 4096);
	size_t ul = strlen(url);
	while (ul && url[ul - 1] == '/')
		ul--;
	int rc = sn_buf_append(&u, url, ul) ||
		 sn_buf_appendf(&u, "/api/projects/%lld/query/", (long long)team) ||
		 sn_buf_appends(&body, "{\"query\":{\"kind\":\"HogQLQuery\",\"query\":") ||
		 sn_buf_append_json_str(&body, sql, strlen(sql)) || sn_buf_appends(&body, "}}");
	if (rc)
		rc = sn_err_set(err, SN_ERR_TOO_BIG, "the query is too long");
	else
		rc = sn_httpc_post_json(u.data, api_key, body.data, body.len, timeout_ms, status,
					resp, err);
	sn_buf_release(&body);
	sn_buf_release(&u);
	return rc;
}
