/*
 * enc_dict.c — dictionary encoding for low-cardinality strings (event
 * names, distinct ids within a granule, session ids, elements chains).
 *
 *   [varint ndict] [u8 width: 1, 2 or 4]
 *   [dictionary: ndict values in the plain layout of enc_plain.c]
 *   [indices: n × width bytes, little-endian, each < ndict]
 *
 * Entries appear in order of first use, so the decoder needs no sort and the
 * encoder one pass with an open-addressing hash table (XXH3 via sn_hash64,
 * linear probing, load ≤ 1/2). Each block has its own dictionary: a granule
 * must decode alone, and a per-part dictionary would have to be complete
 * before the first block is written.
 *
 * When the dictionary would hold more than half the rows, or more than
 * SN_DICT_MAX_BYTES of distinct text, the encoder gives up (SN_ERR_TOO_BIG,
 * out unchanged) and the caller falls back to plain: a dictionary of
 * mostly-unique values costs an index per row for nothing.
 *
 * Rejected: bit-packed indices (width = ceil(log2 ndict) bits). Byte widths
 * keep the decoder trivial and zstd recovers most of the slack.
 */
#include "store/store_internal.h"

#include <stdlib.h>
#include <string.h>

int sn_enc_str_dict(struct sn_buf *out, const struct sn_str *v, size_t n)
{
	size_t max_entries = n / 2 ? n / 2 : 1;
	size_t nslots = 16;
	while (nslots < 2 * n)
		nslots *= 2;
	uint32_t *slots = calloc(nslots, sizeof(*slots)); /* entry index + 1, 0 = empty */
	uint32_t *idx = malloc((n ? n : 1) * sizeof(*idx));
	struct sn_str *dict = malloc(max_entries * sizeof(*dict));
	size_t ndict = 0, dict_bytes = 0, start = out->len;
	int rc = SN_ERR_NOMEM;
	if (!slots || !idx || !dict)
		goto out;
	for (size_t i = 0; i < n; i++) {
		/* The values are scattered over the memtable: fetch ahead. */
		if (i + 8 < n)
			__builtin_prefetch(v[i + 8].p);
		/* Sorted parts have runs (one session's browser): skip the hash. */
		if (i && v[i].len == v[i - 1].len &&
		    (!v[i].len || !memcmp(v[i].p, v[i - 1].p, v[i].len))) {
			idx[i] = idx[i - 1];
			continue;
		}
		size_t s = (size_t)sn_hash64(v[i].p ? v[i].p : "", v[i].len) & (nslots - 1);
		for (;;) {
			uint32_t e = slots[s];
			if (!e) {
				if (ndict == max_entries ||
				    dict_bytes + v[i].len > SN_DICT_MAX_BYTES) {
					rc = SN_ERR_TOO_BIG;
					goto out;
				}
				dict[ndict] = v[i];
				dict_bytes += v[i].len;
				slots[s] = (uint32_t)++ndict;
				idx[i] = (uint32_t)(ndict - 1);
				break;
			}
			const struct sn_str *d = &dict[e - 1];
			if (d->len == v[i].len && (!d->len || !memcmp(d->p, v[i].p, d->len))) {
				idx[i] = e - 1;
				break;
			}
			s = (s + 1) & (nslots - 1);
		}
	}
	uint8_t width = ndict <= 0x100 ? 1 : ndict <= 0x10000 ? 2 : 4;
	uint8_t hdr[SN_VARINT_MAX + 1];
	size_t k = sn_varint_put(hdr, ndict);
	hdr[k++] = width;
	if ((rc = sn_buf_append(out, hdr, k)) || (rc = sn_enc_str_plain(out, dict, ndict)) ||
	    (rc = sn_buf_reserve(out, n * width)))
		goto out;
	uint8_t *w = (uint8_t *)out->data + out->len;
	for (size_t i = 0; i < n; i++, w += width) {
		w[0] = (uint8_t)idx[i];
		if (width >= 2)
			w[1] = (uint8_t)(idx[i] >> 8);
		if (width == 4) {
			w[2] = (uint8_t)(idx[i] >> 16);
			w[3] = (uint8_t)(idx[i] >> 24);
		}
	}
	out->len += n * width;
	out->data[out->len] = 0;
	rc = 0;
out:
	if (rc) {
		out->len = start;
		if (out->data)
			out->data[start] = 0;
	}
	free(slots);
	free(idx);
	free(dict);
	return rc;
}

/* The header and dictionary of a block: *off moves past them; at most
 * max_entries entries (the caller's room) are decoded into dict. */
static int dict_head(const uint8_t *p, size_t len, size_t n, size_t max_entries, size_t *off,
		     uint8_t *width, struct sn_str *dict, size_t *ndict)
{
	uint64_t nd;
	size_t o = sn_varint_get(p, len, &nd);
	if (!o || o >= len)
		return SN_ERR_CORRUPT;
	uint8_t w = p[o++];
	if (w != 1 && w != 2 && w != 4)
		return SN_ERR_CORRUPT;
	/* Every entry takes at least one length byte, which bounds ndict by len
	 * before anything is allocated. */
	if (nd > len - o || (nd == 0 && n > 0) || nd > max_entries)
		return SN_ERR_CORRUPT;
	size_t k;
	int rc = sn_dec_str_plain(p + o, len - o, (size_t)nd, dict, &k);
	if (rc)
		return rc;
	*off = o + k;
	*width = w;
	*ndict = (size_t)nd;
	return n > (len - *off) / w ? SN_ERR_CORRUPT : 0;
}

static inline uint32_t dict_index(const uint8_t *q, uint8_t width)
{
	uint32_t ix = q[0];
	if (width >= 2)
		ix |= (uint32_t)q[1] << 8;
	if (width == 4)
		ix |= (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;
	return ix;
}

int sn_dec_str_dict(const uint8_t *p, size_t len, size_t n, struct sn_str *out, size_t *used)
{
	uint64_t nd;
	size_t o = sn_varint_get(p, len, &nd);
	if (!o || o >= len || nd > len - o)
		return SN_ERR_CORRUPT;
	struct sn_str *dict = malloc((nd ? nd : 1) * sizeof(*dict));
	if (!dict)
		return SN_ERR_NOMEM;
	size_t off, ndict;
	uint8_t width;
	int rc = dict_head(p, len, n, (size_t)nd, &off, &width, dict, &ndict);
	if (rc)
		goto out;
	rc = SN_ERR_CORRUPT;
	for (size_t i = 0; i < n; i++) {
		uint32_t ix = dict_index(p + off + i * width, width);
		if (ix >= ndict)
			goto out;
		out[i] = dict[ix];
	}
	*used = off + n * width;
	rc = 0;
out:
	free(dict);
	return rc;
}

int sn_dec_str_dict_codes(const uint8_t *p, size_t len, size_t n, struct sn_str *dict,
			  size_t *ndict, uint32_t base, uint32_t *codes, size_t *used)
{
	size_t off, nd;
	uint8_t width;
	int rc = dict_head(p, len, n, n, &off, &width, dict, &nd);
	if (rc)
		return rc;
	const uint8_t *q = p + off;
	if (width == 1) { /* the common case: one byte a row */
		uint8_t bad = 0;
		for (size_t i = 0; i < n; i++) {
			bad |= q[i] >= nd;
			codes[i] = base + q[i];
		}
		if (bad)
			return SN_ERR_CORRUPT;
	} else {
		for (size_t i = 0; i < n; i++) {
			uint32_t ix = dict_index(q + i * width, width);
			if (ix >= nd)
				return SN_ERR_CORRUPT;
			codes[i] = base + ix;
		}
	}
	*ndict = nd;
	*used = off + n * width;
	return 0;
}
