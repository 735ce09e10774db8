/*
 * lexer.c — HogQL text to tokens.
 *
 * The whole input is split up front into an arena array of tokens ending in
 * SN_TOK_EOF; the parser then walks the array with unlimited lookahead (it
 * needs a few tokens of it to tell a lambda `(a, b) -> ...` from a tuple).
 * Token text is NUL-terminated in the arena: the source slice for
 * identifiers, numbers and punctuation, the decoded value for strings and
 * quoted identifiers.
 *
 * Keywords are not token kinds. PostHog accepts almost every keyword where an
 * identifier may stand (`select date, key from t`), so a keyword is an
 * SN_TOK_IDENT and the parser asks "is this the keyword SELECT?" where the
 * grammar has a choice. That keeps one rule for "identifier" instead of
 * ANTLR's list of two hundred alternatives.
 *
 * Numbers follow the shipped parser, not the grammar file: `010` is decimal,
 * `1.5` is three tokens (INT DOT INT) that the parser glues together, since
 * `t.1.2` must stay tuple access; only literals with an exponent (or hex
 * floats) are single FLOAT tokens.
 *
 * Escapes in strings and quoted identifiers are decoded left to right:
 * \b \f \r \n \t \a \v \\ become the character, \0 vanishes, \xHH stays as
 * the four characters (PostHog does not decode it), \' and '' are a quote.
 * Any other backslash sequence is an error, as in PostHog's lexer.
 *
 * Rejected alternative: a pull lexer called by the parser. It saves the
 * array, but the array is at most one token per input byte and arena-backed,
 * and random access makes the lookahead code trivial.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "hogql/hogql.h"

struct lexer {
	struct sn_arena *arena;
	const char *src;
	size_t len;
	size_t pos;
	struct sn_hogql_error *err;
	struct sn_hogql_token *toks;
	size_t n, cap;
};

static uint32_t cp_offset(const char *src, size_t byte_off)
{
	uint32_t n = 0;
	for (size_t i = 0; i < byte_off; i++)
		if (((unsigned char)src[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static int lex_error(struct lexer *lx, size_t start, size_t end, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int lex_error(struct lexer *lx, size_t start, size_t end, const char *fmt, ...)
{
	if (lx->err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(lx->err->msg, sizeof(lx->err->msg), fmt, ap);
		va_end(ap);
		lx->err->type = "SyntaxError";
		lx->err->start = cp_offset(lx->src, start);
		lx->err->end = cp_offset(lx->src, end);
	}
	return SN_ERR_INVALID;
}

/* Length of the Unicode whitespace character at p (0 if none). */
static size_t unicode_space(const unsigned char *p, size_t avail)
{
	if (avail >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0))
		return 2;
	if (avail < 3)
		return 0;
	if (p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80)
		return 3; /* U+1680 */
	if (p[0] == 0xE2 && p[1] == 0x80 &&
	    ((p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF))
		return 3; /* U+2000..200A, 2028, 2029, 202F */
	if (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0x9F)
		return 3; /* U+205F */
	if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
		return 3; /* U+3000 */
	if (p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF)
		return 3; /* U+FEFF */
	return 0;
}

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$';
}

static bool is_ident_char(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int push(struct lexer *lx, enum sn_hogql_tok kind, const char *text, size_t len,
		size_t start, size_t end, bool space)
{
	if (lx->n == lx->cap) {
		size_t ncap = lx->cap ? lx->cap * 2 : 64;
		struct sn_hogql_token *nt = sn_arena_alloc(lx->arena, ncap * sizeof(*nt));
		if (!nt)
			return SN_ERR_NOMEM;
		if (lx->n)
			memcpy(nt, lx->toks, lx->n * sizeof(*nt));
		lx->toks = nt;
		lx->cap = ncap;
	}
	char *t = sn_arena_strndup(lx->arena, text, len);
	if (!t)
		return SN_ERR_NOMEM;
	lx->toks[lx->n++] = (struct sn_hogql_token){
	    .kind = kind,
	    .text = t,
	    .len = len,
	    .start = (uint32_t)start,
	    .end = (uint32_t)end,
	    .space_before = space,
	};
	return 0;
}

/* Scans a quoted literal starting at lx->pos (the opening quote) and pushes
 * the decoded text. Backticks refuse \` (PostHog's lexer does). */
static int lex_quoted(struct lexer *lx, char q, enum sn_hogql_tok kind, bool space)
{
	size_t start = lx->pos, i = lx->pos + 1;
	struct sn_buf b;
	int rc;
	sn_buf_init(&b, SN_HOGQL_MAX_QUERY_LEN + 1);
	if ((rc = sn_buf_reserve(&b, 1)) < 0)
		goto out;
	b.data[0] = 0;
	for (;;) {
		if (i >= lx->len) {
			rc = lex_error(lx, start, lx->len, "Unterminated %s starting here",
				       q == '\'' ? "string literal" : "quoted identifier");
			goto out;
		}
		char c = lx->src[i];
		if (c == q) {
			if (i + 1 < lx->len && lx->src[i + 1] == q) {
				rc = sn_buf_appendc(&b, q);
				i += 2;
				if (rc < 0)
					goto out;
				continue;
			}
			i++;
			break;
		}
		if (c == '\\') {
			if (i + 1 >= lx->len) {
				rc = lex_error(lx, start, lx->len, "Unterminated %s starting here",
					       q == '\'' ? "string literal" : "quoted identifier");
				goto out;
			}
			char e = lx->src[i + 1];
			const char *rep = NULL;
			size_t rlen = 1;
			switch (e) {
			case 'b': rep = "\b"; break;
			case 'f': rep = "\f"; break;
			case 'r': rep = "\r"; break;
			case 'n': rep = "\n"; break;
			case 't': rep = "\t"; break;
			case 'a': rep = "\a"; break;
			case 'v': rep = "\v"; break;
			case '\\': rep = "\\"; break;
			case '0':
				rep = "";
				rlen = 0;
				break;
			case 'x':
				if (i + 3 < lx->len && is_hex(lx->src[i + 2]) &&
				    is_hex(lx->src[i + 3])) {
					rep = lx->src + i;
					rlen = 4;
				}
				break;
			default:
				if (e == q && q != '`') {
					rep = lx->src + i + 1;
				}
				break;
			}
			if (!rep) {
				rc = lex_error(lx, i, i + 2,
					       "Invalid escape sequence '\\%c' in %s; allowed are "
					       "\\b \\f \\r \\n \\t \\0 \\a \\v \\\\ \\xHH",
					       (e >= 32 && e < 127) ? e : '?',
					       q == '\'' ? "a string literal"
							 : "a quoted identifier");
				goto out;
			}
			if ((rc = sn_buf_append(&b, rep, rlen)) < 0)
				goto out;
			i += e == 'x' ? 4 : 2;
			continue;
		}
		if ((rc = sn_buf_appendc(&b, c)) < 0)
			goto out;
		i++;
	}
	rc = push(lx, kind, b.data, b.len, start, i, space);
	lx->pos = i;
out:
	sn_buf_release(&b);
	return rc;
}

/* f'...': the raw body is kept; the parser splits pieces and {holes}. */
static int lex_fstring(struct lexer *lx, bool space)
{
	size_t start = lx->pos, i = lx->pos + 2;
	for (;;) {
		if (i >= lx->len)
			return lex_error(lx, start, lx->len, "Unterminated template string");
		char c = lx->src[i];
		if (c == '\\' && i + 1 < lx->len) {
			i += 2;
			continue;
		}
		if (c == '\'') {
			if (i + 1 < lx->len && lx->src[i + 1] == '\'') {
				i += 2;
				continue;
			}
			break;
		}
		i++;
	}
	int rc = push(lx, SN_TOK_FSTRING, lx->src + start + 2, i - start - 2, start, i + 1, space);
	lx->pos = i + 1;
	return rc;
}

static size_t digits(const char *s, size_t i, size_t len)
{
	while (i < len && is_digit(s[i]))
		i++;
	return i;
}

/* Exponent [eE][+-]?digits at i; returns the end or 0 if there is none. */
static size_t exponent(const char *s, size_t i, size_t len, char e1, char e2)
{
	if (i >= len || (s[i] != e1 && s[i] != e2))
		return 0;
	size_t j = i + 1;
	if (j < len && (s[j] == '+' || s[j] == '-'))
		j++;
	if (j >= len || !is_digit(s[j]))
		return 0;
	return digits(s, j, len);
}

static int lex_number(struct lexer *lx, bool space)
{
	const char *s = lx->src;
	size_t len = lx->len, start = lx->pos, i = start;
	enum sn_hogql_tok kind = SN_TOK_INT;

	if (s[i] == '0' && i + 1 < len && (s[i + 1] == 'x' || s[i + 1] == 'X') && i + 2 < len &&
	    (is_hex(s[i + 2]) || s[i + 2] == '.')) {
		size_t j = i + 2;
		while (j < len && is_hex(s[j]))
			j++;
		kind = SN_TOK_HEX;
		if (j < len && s[j] == '.') {
			size_t k = j + 1;
			while (k < len && is_hex(s[k]))
				k++;
			size_t e = exponent(s, k, len, 'p', 'P');
			if (e) {
				j = e;
				kind = SN_TOK_FLOAT;
			}
		} else {
			size_t e = exponent(s, j, len, 'p', 'P');
			if (e) {
				j = e;
				kind = SN_TOK_FLOAT;
			}
		}
		if (j == i + 2)
			goto plain;
		i = j;
	} else if (s[i] == '0' && i + 2 < len && (s[i + 1] == 'b' || s[i + 1] == 'B') &&
		   (s[i + 2] == '0' || s[i + 2] == '1')) {
		size_t j = i + 2;
		while (j < len && (s[j] == '0' || s[j] == '1'))
			j++;
		if (j < len && is_ident_char(s[j]))
			return lex_error(lx, start, j + 1, "Malformed binary literal");
		kind = SN_TOK_BIN;
		i = j;
	} else if (s[i] == '0' && i + 2 < len && (s[i + 1] == 'o' || s[i + 1] == 'O') &&
		   is_digit(s[i + 2])) {
		size_t j = digits(s, i + 2, len);
		return lex_error(lx, start, j,
				 "HogQL does not support `0o`-prefixed octal integer literals; "
				 "got `%.*s`. Use a plain decimal literal instead.",
				 (int)(j - start), s + start);
	} else {
	plain:
		i = start;
		if (s[i] == '.') {
			/* .5e2 is one token; .5 is DOT INT. */
			size_t j = digits(s, i + 1, len);
			size_t e = exponent(s, j, len, 'e', 'E');
			if (!e) {
				lx->pos = i + 1;
				return push(lx, SN_TOK_PUNCT, ".", 1, i, i + 1, space);
			}
			kind = SN_TOK_FLOAT;
			i = e;
		} else {
			size_t j = digits(s, i, len);
			size_t e = 0;
			if (j < len && s[j] == '.') {
				size_t k = digits(s, j + 1, len);
				e = exponent(s, k, len, 'e', 'E');
			} else {
				e = exponent(s, j, len, 'e', 'E');
			}
			if (e) {
				kind = SN_TOK_FLOAT;
				i = e;
			} else {
				i = j;
			}
		}
	}
	int rc = push(lx, kind, s + start, i - start, start, i, space);
	lx->pos = i;
	return rc;
}

static const char *const multi_ops[] = {
    "=~*", "!~*", "->", "::", ":=", "||", "==", ">=", "<=",
    "!=",  "<>",  "=~", "!~", "~*", "?.", "??", NULL,
};
static const char single_ops[] = "*/%+-.,:;()[]{}<>=~?#";

/* Length of the valid UTF-8 sequence at p, 0 if invalid (overlongs,
 * surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
	if (p[0] < 0x80)
		return 1;
	size_t n = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC2 ? 2 : 0;
	if (!n || n > avail || p[0] > 0xF4)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 0;
	if (n == 3 && ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] >= 0xA0)))
		return 0;
	if (n == 4 && ((p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] >= 0x90)))
		return 0;
	return n;
}

int sn_hogql_lex(struct sn_arena *a, const char *src, size_t len, struct sn_hogql_token **toks,
		 size_t *ntoks, struct sn_hogql_error *err)
{
	struct lexer lx = {.arena = a, .src = src, .len = len, .err = err};
	int rc = 0;
	bool space = false;

	if (len > SN_HOGQL_MAX_QUERY_LEN)
		return lex_error(&lx, 0, 0, "Query is longer than %u bytes",
				 (unsigned)SN_HOGQL_MAX_QUERY_LEN);
	/* Queries arrive as JSON strings; anything that is not UTF-8 is refused
	 * here so every string in the AST (and its JSON) is valid UTF-8. */
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len((const unsigned char *)src + i, len - i);
		if (!n)
			return lex_error(&lx, i, i + 1, "Query is not valid UTF-8 at byte %zu", i);
		if (src[i] == 0)
			return lex_error(&lx, i, i + 1, "Query contains a NUL character");
		i += n;
	}
	while (lx.pos < len) {
		const char *p = src + lx.pos;
		size_t avail = len - lx.pos;
		char c = *p;
		size_t ws;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
			lx.pos++;
			space = true;
			continue;
		}
		if ((ws = unicode_space((const unsigned char *)p, avail)) > 0) {
			lx.pos += ws;
			space = true;
			continue;
		}
		if ((c == '-' && avail > 1 && p[1] == '-') ||
		    (c == '/' && avail > 1 && p[1] == '/') ||
		    (c == '#' && !(avail > 1 && p[1] >= '0' && p[1] <= '9'))) {
			/* `#` starts a comment too, except `#1`, a positional ref. */
			while (lx.pos < len && src[lx.pos] != '\n')
				lx.pos++;
			space = true;
			continue;
		}
		if (c == '/' && avail > 1 && p[1] == '*') {
			const char *e = NULL;
			for (size_t i = lx.pos + 2; i + 1 < len; i++)
				if (src[i] == '*' && src[i + 1] == '/') {
					e = src + i;
					break;
				}
			if (!e)
				return lex_error(&lx, lx.pos, len, "Unterminated /* comment");
			lx.pos = (size_t)(e - src) + 2;
			space = true;
			continue;
		}
		if (c == 'f' && avail > 1 && p[1] == '\'') {
			if ((rc = lex_fstring(&lx, space)) < 0)
				return rc;
		} else if (is_ident_start(c)) {
			size_t i = lx.pos + 1;
			while (i < len && is_ident_char(src[i]))
				i++;
			if ((rc = push(&lx, SN_TOK_IDENT, p, i - lx.pos, lx.pos, i, space)) < 0)
				return rc;
			lx.pos = i;
		} else if (is_digit(c) || (c == '.' && avail > 1 && is_digit(p[1]))) {
			if ((rc = lex_number(&lx, space)) < 0)
				return rc;
		} else if (c == '\'') {
			if ((rc = lex_quoted(&lx, '\'', SN_TOK_STRING, space)) < 0)
				return rc;
		} else if (c == '`' || c == '"') {
			if ((rc = lex_quoted(&lx, c, SN_TOK_QIDENT, space)) < 0)
				return rc;
		} else {
			size_t n = 0;
			for (int k = 0; multi_ops[k]; k++) {
				size_t ol = strlen(multi_ops[k]);
				if (avail >= ol && memcmp(p, multi_ops[k], ol) == 0) {
					n = ol;
					break;
				}
			}
			if (!n && c && strchr(single_ops, c))
				n = 1;
			if (!n) {
				unsigned char u = (unsigned char)c;
				uint32_t cp = u;
				size_t clen = 1;
				if (u >= 0xC0 && u < 0xE0 && avail >= 2) {
					cp = ((u & 0x1Fu) << 6) | (p[1] & 0x3Fu);
					clen = 2;
				} else if (u >= 0xE0 && u < 0xF0 && avail >= 3) {
					cp = ((u & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) |
					     (p[2] & 0x3Fu);
					clen = 3;
				} else if (u >= 0xF0 && avail >= 4) {
					cp = ((u & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) |
					     ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
					clen = 4;
				}
				if (cp >= 0x21 && cp < 0x7F)
					return lex_error(&lx, lx.pos, lx.pos + clen,
							 "Unexpected character '%c' (U+%04X)", c,
							 (unsigned)cp);
				return lex_error(&lx, lx.pos, lx.pos + clen,
						 "Unexpected character U+%04X", (unsigned)cp);
			}
			if ((rc = push(&lx, SN_TOK_PUNCT, p, n, lx.pos, lx.pos + n, space)) < 0)
				return rc;
			lx.pos += n;
		}
		space = false;
	}
	if ((rc = push(&lx, SN_TOK_EOF, "", 0, len, len, space)) < 0)
		return rc;
	*toks = lx.toks;
	*ntoks = lx.n;
	return 0;
}
