/*
 * enc_fixed.c — 16-byte values (uuid, person_id) stored raw, n × 16 bytes.
 *
 * UUIDv7 event ids sorted by team and day share their leading timestamp
 * bytes with their neighbours, and person ids repeat for consecutive events
 * of one user (rows are sorted by hash(distinct_id) within an event name),
 * so the block compressor, not the encoding, is what shrinks them. Rejected:
 * splitting into two int64 delta streams — the random low half of a UUIDv7
 * does not delta, and the high half gains little over zstd on raw bytes.
 */
#include "store/store_internal.h"

#include <string.h>

int sn_enc_fixed16(struct sn_buf *out, const uint8_t *v, size_t n)
{
	if (n > SIZE_MAX / 16)
		return SN_ERR_TOO_BIG;
	return sn_buf_append(out, v, n * 16);
}

int sn_dec_fixed16(const uint8_t *p, size_t len, size_t n, uint8_t *out, size_t *used)
{
	if (n > len / 16)
		return SN_ERR_CORRUPT;
	if (n)
		memcpy(out, p, n * 16);
	*used = n * 16;
	return 0;
}
