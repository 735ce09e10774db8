/*
 * enc_plain.c — strings stored as they are: all lengths first, then all
 * bytes back to back.
 *
 *   [varint len0] [varint len1] ... [varint len(n-1)] [bytes0 bytes1 ...]
 *
 * Lengths apart from bytes compress better than interleaved (zstd sees
 * runs of similar small numbers, then runs of similar text), and the
 * decoder can check that the lengths add up to what is left before it
 * hands out a single view. Used for high-cardinality columns (properties,
 * uuids as text) and as the fallback of the dictionary encoding.
 *
 * Rejected: NUL-terminated strings (values may contain NUL bytes; JSON text
 * may carry \u0000 decoded by a later stage) and 32-bit offsets (4 bytes a
 * row where a varint takes 1-2).
 */
#include "store/store_internal.h"

int sn_enc_str_plain(struct sn_buf *out, const struct sn_str *v, size_t n)
{
	uint8_t tmp[SN_VARINT_MAX];
	int rc;
	for (size_t i = 0; i < n; i++) {
		size_t k = sn_varint_put(tmp, v[i].len);
		if ((rc = sn_buf_append(out, tmp, k)))
			return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].len && (rc = sn_buf_append(out, v[i].p, v[i].len)))
			return rc;
	}
	return 0;
}

int sn_dec_str_plain(const uint8_t *p, size_t len, size_t n, struct sn_str *out, size_t *used)
{
	size_t off = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t l;
		size_t k = sn_varint_get(p + off, len - off, &l);
		if (!k || l > len)
			return SN_ERR_CORRUPT;
		off += k;
		total += l;
		if (total > len)
			return SN_ERR_CORRUPT;
		out[i].len = (size_t)l;
	}
	if (total > len - off)
		return SN_ERR_CORRUPT;
	const char *s = (const char *)p + off;
	for (size_t i = 0; i < n; i++) {
		out[i].p = s;
		s += out[i].len;
	}
	*used = off + (size_t)total;
	return 0;
}
