/*
 * evindex.h — an indexed event record (SN_WAL_EVENT_IX): capture's JSON
 * record of an analytics event, behind an index of where its fields and its
 * properties' members are.
 *
 * Why. Capture scans every event it accepts, member by member, to validate
 * it and to find its fields; the ingest worker used to scan the record's
 * JSON again to find the same things (a third of the WAL → parts pipeline's
 * instructions, docs/BENCHMARKS.md). Capture now writes down what it found:
 * where each of the record's fields is, and the length of every key and
 * value of the properties object. The JSON stays byte for byte what a
 * SN_WAL_EVENT record holds and is the only copy of the data; the index only
 * says where things are, so a reader that cannot use it (a future version)
 * scans the JSON instead and gets the same row.
 *
 * Layout (little-endian, no alignment):
 *
 *    0  u8   version (SN_EVIX_VERSION)
 *    1  u8   flags: SN_EVIX_ROOT_SET, SN_EVIX_MEMBERS, SN_EVIX_SCAN
 *    2  u16  nmembers: entries of the member table
 *    4  u32  json_off: the JSON record runs from here to the payload's end
 *              (stable in every version: any reader finds the JSON)
 *    8  u16  span flag bits: bit i is span i's SN_JSPAN_ESCAPED when it is a
 *              string, SN_JSPAN_INT when it is a number
 *   10  u16  0
 *   12  SN_EVIX_NSPANS × (u32 offset, u32 length): offsets from the JSON's
 *              first byte; length 0: the field is absent
 *   84  nmembers × (u16 key length, u16 value length): bits 0-14 the length
 *              in bytes (key with its quotes, value as written), bit 15 the
 *              span flag as above (the key's SN_JSPAN_ESCAPED; the value's
 *              ESCAPED or INT)
 *       JSON
 *
 * The member table (flag SN_EVIX_MEMBERS) describes a compact properties
 * object: its first key right after the '{', each value right after its
 * key's ':', each next key right after the ',' that ends a value, the '}'
 * right after the last value. Capture writes it only for such an object
 * (what JSON.stringify writes: posthog-js, posthog-node) whose keys and
 * values are under 32 KiB; otherwise (posthog-python's ", " and ": ", a huge
 * value) the reader scans the properties span. SN_EVIX_SCAN says the spans
 * cannot stand for the event (it had two "properties" members): the reader
 * scans the whole JSON as a SN_WAL_EVENT record. SN_EVIX_ROOT_SET: the
 * event has a "$set" or "$set_once" member of its own.
 */
#ifndef SN_WAL_EVINDEX_H
#define SN_WAL_EVINDEX_H

#include <string.h>

#include "base/base.h"

#define SN_EVIX_VERSION	    1
#define SN_EVIX_HEAD	    84
#define SN_EVIX_ROOT_SET    1
#define SN_EVIX_MEMBERS	    2
#define SN_EVIX_SCAN	    4
#define SN_EVIX_LEN_MAX	    0x7fff /* a member's key or value in the table */
#define SN_EVIX_FLAG	    0x8000
#define SN_EVIX_MEMBERS_MAX UINT16_MAX

/* The record's fields, in the order of the span table. */
enum sn_evix_span {
	SN_EVIX_UUID,
	SN_EVIX_DISTINCT_ID,
	SN_EVIX_IP,
	SN_EVIX_TEAM_ID,
	SN_EVIX_TIMESTAMP,
	SN_EVIX_NOW,
	SN_EVIX_EVENT,
	SN_EVIX_DATA,
	SN_EVIX_PROPERTIES,
	SN_EVIX_NSPANS
};

/* A record's index, read by sn_evix_open. */
struct sn_evix {
	uint8_t version, flags;
	uint16_t nmembers;
	uint16_t span_flags;
	const char *json; /* the JSON record */
	uint32_t json_len;
	uint32_t off[SN_EVIX_NSPANS], len[SN_EVIX_NSPANS];
	const unsigned char *members; /* nmembers × 4 bytes */
};

/* Reads the fixed part of a SN_WAL_EVENT_IX payload. Returns 0 with every
 * field filled and checked (a known version, spans and table inside the
 * payload); SN_ERR_INVALID for another version (ix->json and json_len
 * are still set: scan the JSON); SN_ERR_CORRUPT when even the JSON cannot be
 * found. err may be NULL. */
int sn_evix_open(const void *data, uint32_t len, struct sn_evix *ix, struct sn_err *err);

/* The JSON of a payload: the part after the index of a SN_WAL_EVENT_IX's
 * (NULL when it cannot be found), all of any other type's. For readers
 * that want only the text (dumps, deletion's matching). */
const char *sn_evix_json(uint8_t type, const void *data, uint32_t len, uint32_t *json_len);

/* Span i as the scanner would have returned it: type from its first byte,
 * the flag bit as that type's flag. A zeroed span when absent. Only the
 * ends are checked (string quotes, object braces): 0, or SN_ERR_CORRUPT. */
int sn_evix_span(const struct sn_evix *ix, enum sn_evix_span i, struct sn_jspan *out);

/* A walk over the member table, in the properties object's text. */
struct sn_evix_walk {
	const char *q, *end; /* the next key (or ',' before it); the object's '}' */
	uint32_t i;	     /* members walked */
};

/* props: the properties span (sn_evix_span), an object. */
static inline void sn_evix_walk_init(struct sn_evix_walk *w, const struct sn_jspan *props)
{
	w->q = props->p + 1;
	w->end = props->p + props->len - 1;
	w->i = 0;
}

/* The next member, as sn_jscan_next_key and sn_jscan_skip would have
 * returned it: 1 with k and v; 0 after the last; SN_ERR_CORRUPT when the
 * table does not describe the text: each key's quotes and ':', each value's
 * first byte (its type) and last (or a literal's length), the ',' after
 * each member but the last, the '}' right after the last are checked on the
 * way. Inline: the store sink calls it for every property of every event. */
static inline int sn_evix_walk_next(const struct sn_evix *ix, struct sn_evix_walk *w,
				    struct sn_jspan *k, struct sn_jspan *v)
{
	const char *q = w->q, *end = w->end;
	if (w->i == ix->nmembers)
		return q == end ? 0 : SN_ERR_CORRUPT; /* {} (else checked below) */
	const unsigned char *m = ix->members + 4 * (size_t)w->i;
	uint16_t kl = (uint16_t)(m[0] | m[1] << 8), vl = (uint16_t)(m[2] | m[3] << 8);
	uint32_t kn = kl & SN_EVIX_LEN_MAX, vn = vl & SN_EVIX_LEN_MAX;
	if (kn < 2 || vn < 1 || (size_t)(end - q) < (size_t)kn + 1 + vn || q[0] != '"' ||
	    q[kn - 1] != '"' || q[kn] != ':')
		return SN_ERR_CORRUPT;
	*k = (struct sn_jspan){q, kn, SN_JSTRING, (kl & SN_EVIX_FLAG) ? SN_JSPAN_ESCAPED : 0};
	const char *vp = q + kn + 1, *after = vp + vn;
	char last = after[-1];
	bool flag = vl & SN_EVIX_FLAG;
	uint8_t t, fl = 0;
	switch (*vp) {
	case '"':
		if (vn < 2 || last != '"')
			return SN_ERR_CORRUPT;
		t = SN_JSTRING;
		fl = flag ? SN_JSPAN_ESCAPED : 0;
		break;
	case '{':
		if (last != '}')
			return SN_ERR_CORRUPT;
		t = SN_JOBJECT;
		break;
	case '[':
		if (last != ']')
			return SN_ERR_CORRUPT;
		t = SN_JARRAY;
		break;
	case 't':
	case 'n':
		if (vn != 4)
			return SN_ERR_CORRUPT;
		t = *vp == 't' ? SN_JTRUE : SN_JNULL;
		break;
	case 'f':
		if (vn != 5)
			return SN_ERR_CORRUPT;
		t = SN_JFALSE;
		break;
	case '-':
	case '0' ... '9':
		t = SN_JNUMBER;
		fl = flag ? SN_JSPAN_INT : 0;
		break;
	default: return SN_ERR_CORRUPT;
	}
	*v = (struct sn_jspan){vp, vn, t, fl};
	if (++w->i < ix->nmembers) {
		if (after >= end || *after != ',')
			return SN_ERR_CORRUPT;
		after++;
	} else if (after != end) {
		return SN_ERR_CORRUPT;
	}
	w->q = after;
	return 1;
}

/* The member table's lengths without their flag bits, 2 × nmembers of
 * them into out (key, value, key, ...). */
static inline void sn_evix_member_lens(const struct sn_evix *ix, uint16_t *out)
{
	size_t n = 2 * (size_t)ix->nmembers;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	size_t i = 0;
	for (; i + 4 <= n; i += 4) { /* four lengths a step */
		uint64_t w;
		memcpy(&w, ix->members + 2 * i, 8);
		w &= 0x7fff7fff7fff7fffull;
		memcpy(out + i, &w, 8);
	}
	for (; i < n; i++)
		out[i] = (uint16_t)((ix->members[2 * i] | ix->members[2 * i + 1] << 8) &
				    SN_EVIX_LEN_MAX);
#else
	for (size_t i = 0; i < n; i++)
		out[i] = (uint16_t)((ix->members[2 * i] | ix->members[2 * i + 1] << 8) &
				    SN_EVIX_LEN_MAX);
#endif
}

/* ---- writing (capture) ---------------------------------------------------------- */

static inline void sn_evix_put16(char *p, uint16_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, 2);
#else
	p[0] = (char)(v & 0xff);
	p[1] = (char)(v >> 8);
#endif
}

static inline void sn_evix_put32(char *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(p, &v, 4);
#else
	for (int i = 0; i < 4; i++)
		p[i] = (char)(v >> (8 * i) & 0xff);
#endif
}

/* The member table, n entries (2 a member) from m, at head + SN_EVIX_HEAD. */
static inline void sn_evix_put_members(char *head, const uint16_t *m, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	memcpy(head + SN_EVIX_HEAD, m, 2 * n);
#else
	for (size_t i = 0; i < n; i++)
		sn_evix_put16(head + SN_EVIX_HEAD + 2 * i, m[i]);
#endif
}

/* The fixed part, at head (SN_EVIX_HEAD bytes); the member table follows it
 * (sn_evix_put16 pairs) and the JSON the table. */
void sn_evix_put_head(char *head, uint8_t flags, uint16_t nmembers, uint16_t span_flags,
		      const uint32_t off[SN_EVIX_NSPANS], const uint32_t len[SN_EVIX_NSPANS]);

#endif
