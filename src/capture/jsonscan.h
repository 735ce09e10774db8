/*
 * jsonscan.h — a strict, validating, allocation-free JSON pull scanner over a
 * byte buffer, for the capture hot path. Internal to capture (and its tests
 * and fuzz targets); other modules use the json-c wrapper in base.h.
 *
 * The scanner never builds a tree: it hands out spans (pointer + length into
 * the caller's text) and validates every byte it moves over, so a value that
 * was skipped is known to be RFC 8259 JSON and its bytes can be forwarded
 * verbatim. Usage, for {"a":[1,2],"b":"x"}:
 *
 *	struct sn_jscan s;
 *	struct sn_jspan k, v;
 *	sn_jscan_init(&s, text, len, err);
 *	sn_jscan_enter(&s);                      // '{'
 *	while ((rc = sn_jscan_next_key(&s, &k)) > 0) {
 *		if (sn_jspan_str_eq(&k, "a", 1) && sn_jscan_peek(&s) == SN_JARRAY) {
 *			sn_jscan_enter(&s);              // '['
 *			while ((rc = sn_jscan_next_elem(&s)) > 0)
 *				rc = sn_jscan_skip(&s, &v); // each element
 *		} else {
 *			rc = sn_jscan_skip(&s, &v);      // any value
 *		}
 *	}
 *	rc = rc ? rc : sn_jscan_finish(&s);      // only whitespace may follow
 *
 * (error checks after each call elided). A caller must consume every value it
 * is positioned at (skip it or enter it and iterate to the end); that is what
 * makes the whole text validated exactly once.
 *
 * Grammar: RFC 8259 exactly — no NaN/Infinity, no leading zeros or '+', no
 * "1." or ".5", no raw control characters in strings, string contents valid
 * UTF-8 (no overlongs, no encoded surrogates), escapes \" \\ \/ \b \f \n \r \t
 * \uXXXX (lone surrogate escapes are valid grammar and accepted), whitespace
 * only space, tab, LF, CR, no BOM. At most SN_JSCAN_MAX_DEPTH containers may be
 * open at once. json-c's strict mode, which capture used before, is more
 * lenient (it accepts NaN, Infinity, -01, 1., raw control characters); the
 * differential fuzz target tests/fuzz/fuzz_jsonscan.c pins the difference to
 * exactly those cases.
 *
 * Errors: SN_ERR_INVALID, with "invalid JSON at byte N: reason" (or "invalid
 * JSON: unexpected end of input at byte N") in err, as sn_json_parse words
 * them. After an error the cursor is unusable.
 */
#ifndef SN_CAPTURE_JSONSCAN_H
#define SN_CAPTURE_JSONSCAN_H

#include "base/base.h"

/* json-c's default tokener depth is 32, which lets 31 containers nest; the
 * scanner matches it so capture accepts and refuses the same documents. */
#define SN_JSCAN_MAX_DEPTH (SN_JSON_MAX_DEPTH - 1) /* json-c's depth N allows N-1 levels */

enum sn_jtype {
	SN_JNONE = 0, /* no value (an absent field): a zeroed span */
	SN_JNULL,
	SN_JFALSE,
	SN_JTRUE,
	SN_JNUMBER,
	SN_JSTRING,
	SN_JARRAY,
	SN_JOBJECT,
};

#define SN_JSPAN_ESCAPED 1 /* a string holding at least one backslash escape */
#define SN_JSPAN_INT	 2 /* a number without fraction or exponent */

/* One value's bytes: p[0] is its first byte ('"' of a string, '{', '-', 't'...)
 * and p[len - 1] its last (the closing quote or bracket). Texts are at most
 * INT32_MAX bytes, so len fits. A zeroed span is SN_JNONE. */
struct sn_jspan {
	const char *p;
	uint32_t len;
	uint8_t type;  /* enum sn_jtype */
	uint8_t flags; /* SN_JSPAN_* */
};

struct sn_jscan {
	const char *base; /* the whole text: offsets in messages are from here */
	const char *p;	  /* next unread byte */
	const char *end;
	unsigned depth; /* containers entered and not yet left */
	bool first;	/* just entered a container: no ',' before the next member */
	size_t err_off; /* byte offset of the last error */
	struct sn_err *err;
};

/* Sets up a cursor over text[0..len). Texts over INT32_MAX bytes make the
 * first call fail with SN_ERR_TOO_BIG. err may be NULL. Cannot fail itself. */
void sn_jscan_init(struct sn_jscan *s, const char *text, size_t len, struct sn_err *err);

/* Type of the next value (after whitespace), without consuming it; a
 * negative SN_ERR_* when there is none (end of input, a byte no value starts
 * with). Only the first byte is looked at. */
int sn_jscan_peek(struct sn_jscan *s);

/* Validates and consumes the next value, whatever its type, and returns its
 * span. Costs one pass over its bytes; never allocates. */
int sn_jscan_skip(struct sn_jscan *s, struct sn_jspan *v);

/* Consumes the '{' or '[' of the next value and starts iterating it with
 * next_key or next_elem. Fails past SN_JSCAN_MAX_DEPTH. */
int sn_jscan_enter(struct sn_jscan *s);

/* Inside an object: returns 1 with the member's key (a string span) and the
 * cursor at its value, which the caller must consume; 0 when the closing '}'
 * was consumed; a negative SN_ERR_* on bad input. */
int sn_jscan_next_key(struct sn_jscan *s, struct sn_jspan *key);

/* Inside an array: returns 1 with the cursor at the next element, which the
 * caller must consume; 0 when the closing ']' was consumed; < 0 on error. */
int sn_jscan_next_elem(struct sn_jscan *s);

/* After the top-level value: fails unless only whitespace remains. */
int sn_jscan_finish(struct sn_jscan *s);

/* Validates text as exactly one JSON value with optional surrounding
 * whitespace; *root (may be NULL) gets the value's span. */
int sn_jscan_document(const char *text, size_t len, struct sn_jspan *root, struct sn_err *err);

/* ---- values ---------------------------------------------------------------- */

/* Appends a (scanned) string's decoded contents to out: escapes resolved,
 * \u0000 becomes a NUL byte, a surrogate escape that is not part of a valid
 * pair becomes U+FFFD (json-c does the same). Fails only when out is full. */
int sn_jspan_unescape(const struct sn_jspan *str, struct sn_buf *out);

/* The decoded contents of a string without escapes: no copy needed. */
static inline const char *sn_jspan_raw(const struct sn_jspan *str, size_t *len)
{
	*len = str->len - 2;
	return str->p + 1;
}

/* True if v is a string whose decoded contents are exactly lit[0..n). */
bool sn_jspan_str_eq(const struct sn_jspan *v, const char *lit, size_t n);

/* An integer-form number (SN_JSPAN_INT) as int64, saturating at the int64
 * range like json-c's json_object_get_int64. SN_ERR_INVALID for anything else. */
int sn_jspan_int64(const struct sn_jspan *num, int64_t *out);
/* Any number as a double (strtod; ±HUGE_VAL when out of range). */
int sn_jspan_double(const struct sn_jspan *num, double *out);

#endif
