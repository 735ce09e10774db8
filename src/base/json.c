/*
 * json.c — the one place that talks to json-c.
 *
 * json-c is used in strict mode: one value, no trailing bytes, no comments,
 * exact int64 round trip. Nesting is limited to SN_JSON_MAX_DEPTH (json-c's
 * default of 32 refuses the rrweb DOM snapshots of ordinary pages). Known
 * leniency of json-c 0.16 even in strict mode: single-quoted object keys; the
 * capture path uses its own strict scanner (base/jsonscan.c) instead. Each call has its own
 * tokener, sized for the nesting the text can have: a tokener for SN_JSON_MAX_DEPTH levels is a
 * ~40 KB calloc, which was most of the cost of parsing a small /flags body, while a text with b
 * brackets nests at most b deep. (Rejected: one tokener per thread, reset per parse —
 * json_tokener_reset leaves a pending UTF-16 high surrogate behind, so a parse that failed inside
 * a surrogate pair changed how the next one decoded; the JSON fuzzer found it.) The byte offset
 * where parsing stopped is reported, so a client learns where its JSON is broken. Serialisation
 * is compact and does not escape '/'.
 */
#include "base.h"

#include <string.h>

int sn_json_parse(const char *text, size_t len, struct json_object **out, struct sn_err *err)
{
	*out = NULL;
	if (len > INT32_MAX)
		return sn_err_set(err, SN_ERR_TOO_BIG, "JSON text is larger than 2 GiB");
	/* json-c's depth N allows N - 1 levels; every level opens a bracket */
	size_t brackets = 0;
	for (size_t i = 0; i < len && brackets < SN_JSON_MAX_DEPTH; i++)
		brackets += text[i] == '[' || text[i] == '{';
	int depth = brackets + 2 < SN_JSON_MAX_DEPTH ? (int)brackets + 2 : SN_JSON_MAX_DEPTH;
	struct json_tokener *tok = json_tokener_new_ex(depth);
	if (!tok)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t off = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue && !o) {
		/* A bare top-level number (or literal) is only known to be complete
		 * when something follows it: feed one space as the terminator. */
		o = json_tokener_parse_ex(tok, " ", 1);
		jerr = json_tokener_get_error(tok);
		if (jerr == json_tokener_success)
			off = len;
	}
	int rc = 0;
	if (jerr == json_tokener_continue) {
		rc = sn_err_set(err, SN_ERR_INVALID,
				"invalid JSON: unexpected end of input at byte %zu", len);
	} else if (jerr != json_tokener_success) {
		rc = sn_err_set(err, SN_ERR_INVALID, "invalid JSON at byte %zu: %s", off,
				json_tokener_error_desc(jerr));
	} else {
		/* Only whitespace may follow the value. */
		for (size_t i = off; i < len; i++) {
			char c = text[i];
			if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
				rc = sn_err_set(
				    err, SN_ERR_INVALID,
				    "invalid JSON at byte %zu: unexpected data after the value", i);
				break;
			}
		}
	}
	json_tokener_free(tok);
	if (rc) {
		json_object_put(o);
		return rc;
	}
	*out = o;
	return 0;
}

int sn_json_append(struct sn_buf *b, struct json_object *o)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (!s)
		return SN_ERR_NOMEM;
	return sn_buf_append(b, s, n);
}

const char *sn_json_str(struct json_object *o, size_t *len)
{
	if (!o || !json_object_is_type(o, json_type_string))
		return NULL;
	if (len)
		*len = (size_t)json_object_get_string_len(o);
	return json_object_get_string(o);
}

struct json_object *sn_json_get(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;
	if (!obj || !json_object_is_type(obj, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}
