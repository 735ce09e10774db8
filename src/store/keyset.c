/*
 * keyset.c — a part's residual key set: the distinct top-level keys of the
 * JSON that reads of unshredded keys scan, so that a read of a key the part
 * never holds can answer NULL without decompressing anything.
 *
 * The residual object of a row is what sn_part_read_property scans for a
 * key without a p:<key> column: p:@rest in a shredded part (the compact
 * object without its shredded members, or the row's whole text when it was
 * kept verbatim), `properties` in an unshredded one. The set holds the
 * decoded name of every top-level key of every residual object that is a
 * valid JSON object, because those are exactly the objects and names
 * sn_prop_extract_raw can match: "\u0024browser" is recorded as $browser,
 * and a text that does not parse adds nothing (it reads as NULL for every
 * key). So "key not in the set" means "NULL in every row".
 *
 * Collecting, on the writer's threads:
 *
 *   sn_keyset ── slots[8192]  open addressing (XXH3, linear probing): entry + 1
 *             ├─ ents[≤ 4096] name offset, length, slot, hash
 *             └─ names        the names back to back, ≤ SN_PART_KEYSET_MAX_BYTES
 *
 * Every writer thread has its own set and feeds it each row of each granule
 * it encodes; the writer merges them at the end and sorts the union, so the
 * bytes do not depend on which thread saw which granule. A set that passes a
 * cap (SN_PART_KEYSET_MAX_KEYS names or SN_PART_KEYSET_MAX_BYTES of names)
 * becomes "over" and stops collecting: the union would pass it too, so the
 * answer ("unknown") is the same whatever the split. Keys are added as the
 * scanner meets them, and an object that turns out invalid further on is
 * rolled back: the entries it added are the newest, and in a linear-probing
 * table no older entry's probe sequence runs through a newer entry's slot,
 * so clearing their slots leaves every older lookup intact. The table never
 * grows: the cap bounds it.
 *
 * On disk (STORAGE.md, "Residual key sets") the set is the names sorted by
 * their bytes, each with a u16 length; the reader binary-searches them in
 * place (sn_keyset_find).
 *
 * Rejected: a set per granule. It would let a read skip single granules, but
 * a key either occurs in a part's residual or not nearly always (the case
 * that matters is a key no event has), and it costs a set per 8192 rows.
 * Also rejected: a Bloom filter. Its false positives are the cost we are
 * removing, the exact set is small (the caps), and exact names let
 * `snout store verify` check the set against the data.
 */
#include "store/shred.h"

#include <stdlib.h>
#include <string.h>

#define KS_SLOTS 8192 /* a power of two, > 2 × SN_PART_KEYSET_MAX_KEYS */

_Static_assert(KS_SLOTS >= 2 * SN_PART_KEYSET_MAX_KEYS, "keyset table too small");

void sn_keyset_init(struct sn_keyset *ks)
{
	memset(ks, 0, sizeof(*ks));
	sn_buf_init(&ks->names, SN_PART_KEYSET_MAX_BYTES);
	sn_buf_init(&ks->tmp, 0);
}

void sn_keyset_release(struct sn_keyset *ks)
{
	free(ks->ents);
	free(ks->slots);
	sn_buf_release(&ks->names);
	sn_buf_release(&ks->tmp);
	memset(ks, 0, sizeof(*ks));
}

static int ks_alloc(struct sn_keyset *ks)
{
	if (ks->slots)
		return 0;
	ks->ents = malloc(SN_PART_KEYSET_MAX_KEYS * sizeof(*ks->ents));
	ks->slots = calloc(KS_SLOTS, sizeof(*ks->slots));
	/* names.data is then never NULL, even while it holds no byte. */
	if (!ks->ents || !ks->slots || sn_buf_reserve(&ks->names, 256)) {
		free(ks->ents);
		free(ks->slots);
		ks->ents = NULL;
		ks->slots = NULL;
		return SN_ERR_NOMEM;
	}
	return 0;
}

static int add_name(struct sn_keyset *ks, const char *p, size_t len)
{
	uint64_t h = sn_hash64(p, len);
	size_t s = (size_t)h & (KS_SLOTS - 1);
	while (ks->slots[s]) {
		const struct sn_keyset_ent *e = &ks->ents[ks->slots[s] - 1];
		if (e->hash == h && e->len == len && !memcmp(ks->names.data + e->off, p, len))
			return 0;
		s = (s + 1) & (KS_SLOTS - 1);
	}
	if (ks->n == SN_PART_KEYSET_MAX_KEYS || len > SN_PART_KEYSET_MAX_BYTES - ks->names.len) {
		ks->over = true;
		return 0;
	}
	size_t off = ks->names.len;
	int rc = sn_buf_append(&ks->names, p, len);
	if (rc)
		return rc; /* NOMEM: the length was checked against the maximum */
	ks->ents[ks->n] = (struct sn_keyset_ent){(uint32_t)off, (uint32_t)len, (uint32_t)s, h};
	ks->slots[s] = (uint32_t)++ks->n;
	return 0;
}

int sn_keyset_add_object(struct sn_keyset *ks, struct sn_str text)
{
	struct sn_jscan s;
	struct sn_jspan k, v;
	int rc, r;
	/* The compact residual of a row whose keys were all shredded. */
	if (ks->over || !text.p || text.len < 2 || (text.len == 2 && !memcmp(text.p, "{}", 2)))
		return 0;
	if ((rc = ks_alloc(ks)))
		return rc;
	size_t n0 = ks->n, b0 = ks->names.len;
	sn_jscan_init(&s, text.p, text.len, NULL);
	if (sn_jscan_peek(&s) != SN_JOBJECT || sn_jscan_enter(&s))
		return 0;
	while ((r = sn_jscan_next_key(&s, &k)) > 0) {
		if (!ks->over) {
			if (k.flags & SN_JSPAN_ESCAPED) {
				sn_buf_reset(&ks->tmp);
				if ((rc = sn_jspan_unescape(&k, &ks->tmp)))
					return rc;
				rc = add_name(ks, ks->tmp.data, ks->tmp.len);
			} else {
				rc = add_name(ks, k.p + 1, k.len - 2u);
			}
			if (rc)
				return rc;
		}
		if (sn_jscan_skip(&s, &v)) {
			r = -1;
			break;
		}
	}
	if (r < 0 || sn_jscan_finish(&s)) {
		/* Not a valid object: it reads as NULL for every key, so its keys
		 * do not count. Undo what it added, newest first. */
		for (size_t i = ks->n; i-- > n0;)
			ks->slots[ks->ents[i].slot] = 0;
		ks->n = n0;
		ks->names.len = b0;
		ks->names.data[b0] = 0;
		ks->over = false; /* it was not over when this object began */
	}
	return 0;
}

int sn_keyset_merge(struct sn_keyset *dst, const struct sn_keyset *src)
{
	int rc;
	if (src->over)
		dst->over = true;
	if (dst->over || !src->n)
		return 0;
	if ((rc = ks_alloc(dst)))
		return rc;
	for (size_t i = 0; i < src->n && !dst->over; i++) {
		const struct sn_keyset_ent *e = &src->ents[i];
		if ((rc = add_name(dst, src->names.data + e->off, e->len)))
			return rc;
	}
	return 0;
}

int sn_keyset_cmp(struct sn_str a, struct sn_str b)
{
	size_t n = a.len < b.len ? a.len : b.len;
	int c = n ? memcmp(a.p, b.p, n) : 0;
	return c ? c : (a.len > b.len) - (a.len < b.len);
}

static int str_qcmp(const void *a, const void *b)
{
	return sn_keyset_cmp(*(const struct sn_str *)a, *(const struct sn_str *)b);
}

int sn_keyset_encode(const struct sn_keyset *ks, struct sn_buf *out)
{
	struct sn_str *v = malloc((ks->n ? ks->n : 1) * sizeof(*v));
	uint8_t b[4];
	int rc;
	if (!v)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < ks->n; i++)
		v[i] = (struct sn_str){ks->names.data + ks->ents[i].off, ks->ents[i].len};
	qsort(v, ks->n, sizeof(*v), str_qcmp);
	sn_put_u32(b, (uint32_t)ks->n);
	rc = sn_buf_append(out, b, 4);
	for (size_t i = 0; i < ks->n && !rc; i++) {
		uint8_t l[2] = {(uint8_t)v[i].len, (uint8_t)(v[i].len >> 8)};
		if (!(rc = sn_buf_append(out, l, 2)) && v[i].len)
			rc = sn_buf_append(out, v[i].p, v[i].len);
	}
	free(v);
	return rc;
}

bool sn_keyset_find(const struct sn_str *keys, size_t n, const char *name, size_t len)
{
	struct sn_str x = {name, len};
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = sn_keyset_cmp(keys[mid], x);
		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}
