/*
 * lzstring.c — lz-string's decompressFromBase64, the "lz64" compression older
 * posthog-js versions send. There is no C library for it, so it is written
 * here from the format as the JS reference (npm lz-string 1.5) defines it.
 *
 * The format is LZW over UTF-16 code units, written as a bit stream packed
 * six bits per base64 character, most significant bit of each character
 * first, each code assembled least significant bit first. Codes are:
 *
 *   0  a literal code unit follows in 8 bits      (adds it to the dictionary)
 *   1  a literal code unit follows in 16 bits     (adds it to the dictionary)
 *   2  end of stream
 *   n  dictionary entry n (3 is the first literal; n == size is the KwKwK
 *      case: previous entry + its own first unit)
 *
 * and after every code, previous-entry + first unit of this entry is added.
 * Code width starts at 3 bits and grows by one whenever the dictionary
 * crosses a power of two (the `enlarge_in` countdown reproduces the JS
 * exactly, including its quirk of counting literal entries).
 *
 * Layout. The JS keeps every dictionary entry as its own string, which in C
 * would be an allocation per entry and quadratic memory for a hostile
 * stream. We rely on an invariant instead: every entry is a contiguous run of
 * the output decoded so far (a literal is output right where it is defined;
 * "w + entry[0]" is w followed by the first unit of the entry output right
 * after it). So an entry is just (offset, length) into the UTF-16 output:
 *
 *   units:  [ h | e | l | l | o | ... ]           uint16_t, grows to ≤ max_out
 *   dict:   [3] = {0,1}  [4] = {0,2}  ...         {uint32 off, uint32 len}
 *
 * Emitting an entry is one memcpy from earlier in the same array; the KwKwK
 * entry is w copied followed by w's first unit. Memory is 2 bytes per output
 * unit plus 8 bytes per dictionary entry, and each loop step outputs at least
 * one unit while adding at most two entries. The worst case (a stream of
 * nothing but literals) is thus 18 bytes per output unit, up to twice that
 * right after the arrays double. Output is capped at max_out units (a UTF-8
 * byte count is never smaller than the unit count), so a hostile stream is
 * stopped by max_out before any UTF-8 is written, and the work is linear in
 * input plus output.
 *
 * Robustness beyond the JS: characters outside the base64 alphabet are
 * rejected instead of read as zero bits; '=' is accepted only as trailing
 * padding; a code past the dictionary, a first code of 3, or input that runs
 * out before the end code are SN_ERR_INVALID (the JS returns null, garbage or
 * "" respectively). As in the JS, bits read past the last character are
 * zero and anything after the end code is ignored.
 *
 * UTF-16 to UTF-8 happens once at the end: surrogate pairs are combined, a
 * lone surrogate becomes U+FFFD. Decoding straight to UTF-8 was rejected:
 * entries can split surrogate pairs, so the dictionary has to hold units.
 */
#include "http.h"

#include <stdlib.h>
#include <string.h>

/* Hard ceiling on output units whatever max_out says: keeps offsets and the
 * dictionary size in 32 bits and code widths ≤ 32. */
#define LZ_MAX_UNITS ((size_t)1 << 30)

struct lz_entry {
	uint32_t off, len;
};

struct lz {
	const char *in;
	size_t len;	 /* characters before the '=' padding */
	size_t index;	 /* next character to load */
	unsigned val;	 /* current 6-bit value */
	unsigned mask;	 /* next bit of val to read (32 .. 1) */
	uint16_t *units; /* decoded UTF-16 */
	size_t nunits, capunits, maxunits;
	struct lz_entry *dict;
	size_t ndict, capdict;
};

static const signed char b64_value[256] = {
    ['A'] = 1,	['B'] = 2,  ['C'] = 3,	['D'] = 4,  ['E'] = 5,	['F'] = 6,  ['G'] = 7,	['H'] = 8,
    ['I'] = 9,	['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};
/* The table stores value + 1 so that 0 means "not in the alphabet". */

static unsigned char_value(const struct lz *z, size_t i)
{
	if (i >= z->len)
		return 0;
	return (unsigned)b64_value[(unsigned char)z->in[i]] - 1;
}

static uint32_t read_bits(struct lz *z, unsigned n)
{
	uint64_t bits = 0;
	for (unsigned k = 0; k < n; k++) {
		if (z->val & z->mask)
			bits |= (uint64_t)1 << k;
		z->mask >>= 1;
		if (z->mask == 0) {
			z->mask = 32;
			z->val = char_value(z, z->index++);
		}
	}
	return (uint32_t)bits;
}

/* Makes room for n more units; SN_ERR_TOO_BIG past the cap. */
static int units_reserve(struct lz *z, size_t n)
{
	if (n > z->maxunits || z->nunits > z->maxunits - n)
		return SN_ERR_TOO_BIG;
	size_t need = z->nunits + n;
	if (need <= z->capunits)
		return 0;
	size_t ncap = z->capunits ? z->capunits : 256;
	while (ncap < need)
		ncap *= 2;
	if (ncap > z->maxunits)
		ncap = z->maxunits;
	uint16_t *p = realloc(z->units, ncap * sizeof(*p));
	if (!p)
		return SN_ERR_NOMEM;
	z->units = p;
	z->capunits = ncap;
	return 0;
}

static int dict_add(struct lz *z, size_t off, size_t len)
{
	if (z->ndict == z->capdict) {
		size_t ncap = z->capdict ? z->capdict * 2 : 256;
		struct lz_entry *p = realloc(z->dict, ncap * sizeof(*p));
		if (!p)
			return SN_ERR_NOMEM;
		z->dict = p;
		z->capdict = ncap;
	}
	z->dict[z->ndict].off = (uint32_t)off;
	z->dict[z->ndict].len = (uint32_t)len;
	z->ndict++;
	return 0;
}

/* Checks the alphabet up front and sets z->len to the unpadded length. */
static int check_alphabet(struct lz *z, struct sn_err *err)
{
	size_t i = 0;
	while (i < z->len && b64_value[(unsigned char)z->in[i]] != 0)
		i++;
	size_t data_len = i;
	while (i < z->len && z->in[i] == '=')
		i++;
	if (i != z->len)
		return sn_err_set(err, SN_ERR_INVALID, "invalid lz-string character at byte %zu",
				  i);
	z->len = data_len;
	return 0;
}

/* Appends units[0..n) to out as UTF-8, all or nothing. */
static int append_utf8(const uint16_t *u, size_t n, size_t max_out, struct sn_buf *out,
		       struct sn_err *err)
{
	size_t need = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned c = u[i];
		if (c < 0x80) {
			need += 1;
		} else if (c < 0x800) {
			need += 2;
		} else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && u[i + 1] >= 0xdc00 &&
			   u[i + 1] <= 0xdfff) {
			need += 4;
			i++;
		} else {
			need += 3; /* BMP, or a lone surrogate written as U+FFFD */
		}
	}
	if (need > max_out)
		return sn_err_set(err, SN_ERR_TOO_BIG, "decompressed body is larger than %zu bytes",
				  max_out);
	int rc = sn_buf_reserve(out, need);
	if (rc)
		return sn_err_set(err, rc, "decompressed body does not fit (%zu bytes)", need);

	unsigned char *p = (unsigned char *)out->data + out->len;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = u[i];
		if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && u[i + 1] >= 0xdc00 &&
		    u[i + 1] <= 0xdfff) {
			c = 0x10000 + ((c - 0xd800) << 10) + (u[i + 1] - 0xdc00u);
			i++;
		} else if (c >= 0xd800 && c <= 0xdfff) {
			c = 0xfffd;
		}
		if (c < 0x80) {
			*p++ = (unsigned char)c;
		} else if (c < 0x800) {
			*p++ = (unsigned char)(0xc0 | c >> 6);
			*p++ = (unsigned char)(0x80 | (c & 0x3f));
		} else if (c < 0x10000) {
			*p++ = (unsigned char)(0xe0 | c >> 12);
			*p++ = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
			*p++ = (unsigned char)(0x80 | (c & 0x3f));
		} else {
			*p++ = (unsigned char)(0xf0 | c >> 18);
			*p++ = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
			*p++ = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
			*p++ = (unsigned char)(0x80 | (c & 0x3f));
		}
	}
	out->len += need;
	out->data[out->len] = 0;
	return 0;
}

static int too_big(struct sn_err *err, int rc, size_t max_out)
{
	if (rc == SN_ERR_TOO_BIG)
		return sn_err_set(err, rc, "decompressed body is larger than %zu bytes", max_out);
	return sn_err_set(err, rc, "out of memory decompressing lz-string body");
}

int sn_lzstring_decompress_base64(const char *in, size_t len, size_t max_out, struct sn_buf *out,
				  struct sn_err *err)
{
	struct lz z = {.in = in, .len = len, .mask = 32, .index = 1};
	size_t enlarge_in = 4;
	unsigned nbits = 3;
	struct lz_entry w;
	int rc;

	z.maxunits = max_out < LZ_MAX_UNITS ? max_out : LZ_MAX_UNITS;
	if (len == 0)
		return sn_err_set(err, SN_ERR_INVALID, "empty lz-string data");
	rc = check_alphabet(&z, err);
	if (rc)
		return rc;
	z.val = char_value(&z, 0);

	/* Codes 0..2 are never dictionary references; reserve their slots. */
	for (int i = 0; i < 3; i++) {
		rc = dict_add(&z, 0, 0);
		if (rc)
			goto fail;
	}

	uint32_t first = read_bits(&z, 2);
	if (first == 2)
		goto done; /* the empty string */
	if (first == 3) {
		rc = sn_err_set(err, SN_ERR_INVALID, "malformed lz-string data (bad first code)");
		goto out;
	}
	rc = units_reserve(&z, 1);
	if (rc)
		goto fail;
	z.units[z.nunits++] = (uint16_t)read_bits(&z, first == 0 ? 8 : 16);
	w = (struct lz_entry){0, 1};
	rc = dict_add(&z, 0, 1);
	if (rc)
		goto fail;

	for (;;) {
		/* Same test as the JS (padding included): the reader has run a
		 * whole character past the end without meeting the end code. */
		if (z.index > len) {
			rc = sn_err_set(err, SN_ERR_INVALID, "truncated lz-string data");
			goto out;
		}
		if (nbits > 32) {
			rc = sn_err_set(err, SN_ERR_TOO_BIG, "lz-string dictionary too large");
			goto out;
		}

		uint32_t code = read_bits(&z, nbits);
		struct lz_entry entry;
		size_t at = z.nunits;

		if (code == 2)
			break;
		if (code < 2) {
			rc = units_reserve(&z, 1);
			if (rc)
				goto fail;
			z.units[z.nunits++] = (uint16_t)read_bits(&z, code == 0 ? 8 : 16);
			entry = (struct lz_entry){(uint32_t)at, 1};
			rc = dict_add(&z, at, 1);
			if (rc)
				goto fail;
			if (--enlarge_in == 0) {
				enlarge_in = (size_t)1 << nbits;
				nbits++;
			}
		} else if (code < z.ndict) {
			struct lz_entry src = z.dict[code];
			rc = units_reserve(&z, src.len);
			if (rc)
				goto fail;
			memcpy(z.units + at, z.units + src.off, src.len * sizeof(uint16_t));
			z.nunits += src.len;
			entry = (struct lz_entry){(uint32_t)at, src.len};
		} else if (code == z.ndict) {
			/* KwKwK: the entry being defined is w + w[0]. */
			rc = units_reserve(&z, (size_t)w.len + 1);
			if (rc)
				goto fail;
			memcpy(z.units + at, z.units + w.off, w.len * sizeof(uint16_t));
			z.units[at + w.len] = z.units[w.off];
			z.nunits += (size_t)w.len + 1;
			entry = (struct lz_entry){(uint32_t)at, w.len + 1};
		} else {
			rc = sn_err_set(err, SN_ERR_INVALID,
					"malformed lz-string data (reference to unknown entry %u)",
					(unsigned)code);
			goto out;
		}

		/* w + entry[0]: w sits right before entry in the output. */
		rc = dict_add(&z, w.off, (size_t)w.len + 1);
		if (rc)
			goto fail;
		w = entry;
		if (--enlarge_in == 0) {
			enlarge_in = (size_t)1 << nbits;
			nbits++;
		}
	}

done:
	rc = append_utf8(z.units, z.nunits, max_out, out, err);
	goto out;
fail:
	too_big(err, rc, max_out);
out:
	free(z.units);
	free(z.dict);
	return rc;
}
