/*
 * enc_null.c — null bitmaps: bit i%8 of byte i/8 is set when row i is NULL.
 *
 *   row:   0 1 2 3 4 5 6 7 | 8 9 ...
 *   byte0: b0 ........... b7 | byte1 ...   (padding bits past n must be 0)
 *
 * A block carries a bitmap only when it has a NULL (flag in the block
 * header), so the non-nullable base columns pay nothing. Values of NULL rows
 * are still present in the value stream as 0 / "" so that every encoding
 * keeps one value per row and stays simple to decode; zstd removes them.
 */
#include "store/store_internal.h"

#include <string.h>

int sn_enc_nulls(struct sn_buf *out, const uint8_t *nulls, size_t n)
{
	size_t nb = (n + 7) / 8;
	int rc = sn_buf_reserve(out, nb);
	if (rc)
		return rc;
	uint8_t *w = (uint8_t *)out->data + out->len;
	memset(w, 0, nb);
	for (size_t i = 0; i < n; i++) {
		if (nulls[i])
			w[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	out->len += nb;
	out->data[out->len] = 0;
	return 0;
}

int sn_dec_nulls(const uint8_t *p, size_t len, size_t n, uint8_t *nulls, size_t *used)
{
	size_t nb = (n + 7) / 8;
	if (nb > len)
		return SN_ERR_CORRUPT;
	if (n % 8 && (p[nb - 1] >> (n % 8)))
		return SN_ERR_CORRUPT; /* padding bits set */
	for (size_t i = 0; i < n; i++)
		nulls[i] = (p[i / 8] >> (i % 8)) & 1;
	*used = nb;
	return 0;
}
