/*
 * enc_int.c — int64 columns: as deltas, zigzag-mapped and written as LEB128
 * varints (before part format 4), or as a frame of reference (team_id,
 * timestamp and created_at from format 4 on).
 *
 *   [zigzag(v0)] [zigzag(v1 - v0)] [zigzag(v2 - v1)] ...   each a 1..10 byte varint
 *
 * Rows are sorted by (team_id, day, ...), so team_id deltas are almost all
 * zero (one byte each, which zstd then folds to nearly nothing) and
 * timestamps within a day differ by less than 2^37 µs (≤ 6 bytes). Deltas
 * are computed in uint64 arithmetic, which wraps: INT64_MIN after INT64_MAX
 * is a delta of 1 and round-trips exactly, with no signed overflow.
 *
 * Decoding is the hot loop of every scan that reads timestamps (a 30-day
 * trend on 10M events decodes 3M of them). On CPUs with BMI2 a varint of
 * up to 8 bytes is one unaligned 64-bit load, its length the first clear
 * high bit (ctz), its value the 7-bit groups gathered by PEXT; longer or
 * damaged varints and the last 16 bytes of a block go through the checked
 * byte loop, which also keeps every error of the portable path (T1 on 10M
 * events: 57 → 46 ms).
 *
 * Format 4 stores timestamp and created_at as a frame of reference instead
 * (SN_ENC_I64_FOR, at the end of this file): faster to decode, and no larger
 * under lz4 (STORAGE.md, "Encodings"); team_id too (width 0 for a granule
 * of one team: nothing to decode).
 */
#include "store/store_internal.h"

#include <endian.h>
#include <string.h>

size_t sn_varint_put(uint8_t out[SN_VARINT_MAX], uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

size_t sn_varint_get(const uint8_t *p, size_t len, uint64_t *v)
{
	uint64_t r = 0;
	for (size_t i = 0; i < len && i < SN_VARINT_MAX; i++) {
		uint64_t b = p[i];
		if (i == SN_VARINT_MAX - 1 && b > 1)
			return 0; /* more than 64 bits */
		r |= (b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = r;
			return i + 1;
		}
	}
	return 0;
}

int sn_enc_i64_delta(struct sn_buf *out, const int64_t *v, size_t n)
{
	/* Reserve the worst case once so the loop writes without checks. */
	if (n > (SIZE_MAX - 1) / SN_VARINT_MAX)
		return SN_ERR_TOO_BIG;
	int rc = sn_buf_reserve(out, n * SN_VARINT_MAX + 1);
	if (rc)
		return rc;
	uint8_t *w = (uint8_t *)out->data + out->len;
	uint64_t prev = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t cur = (uint64_t)v[i];
		w += sn_varint_put(w, sn_zigzag((int64_t)(cur - prev)));
		prev = cur;
	}
	out->len = (size_t)((char *)w - out->data);
	out->data[out->len] = 0;
	return 0;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* With BMI2: a varint of up to 8 bytes is one unaligned load, its end is
 * the first clear high bit (ctz), and PEXT gathers the 7-bit groups. */
__attribute__((target("bmi2"))) static size_t dec_bmi2(const uint8_t *p, size_t len, size_t n,
						       int64_t *out, uint64_t *prev, size_t *i)
{
	size_t off = 0;
	uint64_t pv = *prev;
	size_t k = *i;
	for (; k < n && len - off >= 16; k++) {
		uint64_t w;
		memcpy(&w, p + off, 8);
		uint64_t stop = ~w & 0x8080808080808080ULL;
		if (!stop)
			break; /* 9 or 10 bytes: the portable loop takes it */
		unsigned bytes = ((unsigned)__builtin_ctzll(stop) >> 3) + 1;
		uint64_t keep = bytes == 8 ? ~0ULL : (1ULL << (8 * bytes)) - 1;
		uint64_t z = _pext_u64(w & keep, 0x7f7f7f7f7f7f7f7fULL);
		off += bytes;
		pv += (uint64_t)sn_unzigzag(z);
		out[k] = (int64_t)pv;
	}
	*prev = pv;
	*i = k;
	return off;
}
#endif

int sn_dec_i64_delta(const uint8_t *p, size_t len, size_t n, int64_t *out, size_t *used)
{
	size_t off = 0;
	uint64_t prev = 0;
	size_t i = 0;
#if defined(__x86_64__) && defined(__GNUC__)
	bool bmi2 = __builtin_cpu_supports("bmi2");
	while (bmi2 && i < n && len - off >= 16) {
		off += dec_bmi2(p + off, len - off, n, out, &prev, &i);
		if (i < n && len - off >= 16) { /* a long varint: one step of the loop below */
			uint64_t z;
			size_t k = sn_varint_get(p + off, len - off, &z);
			if (!k)
				return SN_ERR_CORRUPT;
			off += k;
			prev += (uint64_t)sn_unzigzag(z);
			out[i++] = (int64_t)prev;
		}
	}
#endif
	/* Fast path while a whole varint surely fits: no length checks. */
	for (; i < n && len - off >= SN_VARINT_MAX; i++) {
		const uint8_t *q = p + off;
		uint64_t b = q[0], z = b & 0x7f;
		size_t k = 1;
		while ((b & 0x80) && k < SN_VARINT_MAX) {
			b = q[k];
			z |= (b & 0x7f) << (7 * k);
			k++;
		}
		if ((b & 0x80) || (k == SN_VARINT_MAX && b > 1))
			return SN_ERR_CORRUPT;
		off += k;
		prev += (uint64_t)sn_unzigzag(z);
		out[i] = (int64_t)prev;
	}
	for (; i < n; i++) {
		uint64_t z;
		size_t k = sn_varint_get(p + off, len - off, &z);
		if (!k)
			return SN_ERR_CORRUPT;
		off += k;
		prev += (uint64_t)sn_unzigzag(z);
		out[i] = (int64_t)prev;
	}
	*used = off;
	return 0;
}

/* ---- frame of reference (SN_ENC_I64_FOR, part format 4) ------------------------------
 *
 *   [varint zigzag(min)] [u8 width 0..8] [n × width bytes: v - min, little-endian]
 *
 * For every int64 column (team_id, timestamp, created_at). The varint deltas
 * above are one long chain of dependent loads (where a value starts depends
 * on the previous one's length): ~4.5 ns a value, two thirds of a full scan
 * of the column, where ClickHouse reads 4-byte seconds. Here every value is
 * one unaligned load, a mask and an add. A granule's timestamps lie within a
 * day or a few (the rows are sorted by day), so the width is 5 or 6 bytes —
 * what the varint deltas of values in random order within a day take too;
 * a granule of one team stores its team_id in width 0. */

int sn_enc_i64_for(struct sn_buf *out, const int64_t *v, size_t n)
{
	int64_t mn = n ? v[0] : 0, mx = mn;
	for (size_t i = 1; i < n; i++) {
		mn = v[i] < mn ? v[i] : mn;
		mx = v[i] > mx ? v[i] : mx;
	}
	uint64_t range = (uint64_t)mx - (uint64_t)mn;
	unsigned w = 0;
	while (w < 8 && (range >> (8 * w)))
		w++;
	if (n > (SIZE_MAX - SN_VARINT_MAX - 16) / 8)
		return SN_ERR_TOO_BIG;
	/* 8 bytes of slack: each value is stored as a whole 64-bit word */
	int rc = sn_buf_reserve(out, SN_VARINT_MAX + 1 + n * w + 8);
	if (rc)
		return rc;
	uint8_t *q = (uint8_t *)out->data + out->len;
	q += sn_varint_put(q, sn_zigzag(mn));
	*q++ = (uint8_t)w;
	for (size_t i = 0; w && i < n; i++) {
		uint64_t x = htole64((uint64_t)v[i] - (uint64_t)mn);
		memcpy(q, &x, 8);
		q += w;
	}
	out->len = (size_t)((char *)q - out->data);
	out->data[out->len] = 0;
	return 0;
}

int sn_dec_i64_for(const uint8_t *p, size_t len, size_t n, int64_t *out, size_t *used)
{
	uint64_t z;
	size_t o = sn_varint_get(p, len, &z);
	if (!o || o >= len)
		return SN_ERR_CORRUPT;
	unsigned w = p[o++];
	if (w > 8 || (w && n > (len - o) / w))
		return SN_ERR_CORRUPT;
	uint64_t base = (uint64_t)sn_unzigzag(z);
	const uint8_t *q = p + o;
	size_t i = 0;
	if (w) {
		uint64_t mask = w == 8 ? ~0ULL : (1ULL << (8 * w)) - 1;
		/* whole-word loads while 8 bytes remain in the block */
		size_t fast = len - o >= 8 ? (len - o - 8) / w + 1 : 0;
		for (; i < n && i < fast; i++) {
			uint64_t x;
			memcpy(&x, q + i * w, 8);
			out[i] = (int64_t)(base + (le64toh(x) & mask));
		}
		for (; i < n; i++) {
			uint64_t x = 0;
			for (unsigned b = 0; b < w; b++)
				x |= (uint64_t)q[i * w + b] << (8 * b);
			out[i] = (int64_t)(base + x);
		}
	} else {
		for (; i < n; i++)
			out[i] = (int64_t)base;
	}
	*used = o + n * w;
	return 0;
}
