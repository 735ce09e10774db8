/*
 * evindex.c — reading and writing the index of a SN_WAL_EVENT_IX record
 * (the layout is in evindex.h). Capture writes it (capture/process.c), the
 * store sink reads it (ingest/store_sink.c), and everything that wants only
 * the JSON (`snout wal dump`, the persons API's WAL scrub) strips it here.
 *
 * Trust. The index comes from this process's capture through a checksummed
 * log, but a reader never lets it point outside the payload: every span and
 * the member table are bounds-checked here, span ends are checked against
 * the bytes they name, and the store sink checks each member's quotes and
 * separators as it walks the table, so a damaged or hostile index is an
 * error (the record is scanned instead), never an out-of-bounds read.
 */
#include "wal/evindex.h"

#include "wal/wal.h"

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int sn_evix_open(const void *data, uint32_t len, struct sn_evix *ix, struct sn_err *err)
{
	const unsigned char *d = data;
	memset(ix, 0, sizeof(*ix));
	if (len < 8)
		return sn_err_set(err, SN_ERR_CORRUPT, "indexed event record of %u bytes", len);
	uint32_t json_off = get32(d + 4);
	if (json_off < 8 || json_off > len)
		return sn_err_set(err, SN_ERR_CORRUPT,
				  "indexed event record: JSON offset %u outside its %u bytes",
				  json_off, len);
	ix->json = (const char *)d + json_off;
	ix->json_len = len - json_off;
	ix->version = d[0];
	if (ix->version != SN_EVIX_VERSION)
		return sn_err_set(err, SN_ERR_INVALID,
				  "indexed event record of version %u (this binary reads %u)",
				  ix->version, SN_EVIX_VERSION);
	ix->flags = d[1];
	ix->nmembers = get16(d + 2);
	/* json_off <= len: the fixed part is inside the payload once it is
	 * at least that long. */
	if (json_off < SN_EVIX_HEAD ||
	    (uint64_t)json_off != SN_EVIX_HEAD + 4 * (uint64_t)ix->nmembers)
		return sn_err_set(err, SN_ERR_CORRUPT,
				  "indexed event record: %u members do not end at the JSON (%u)",
				  ix->nmembers, json_off);
	ix->span_flags = get16(d + 8);
	for (int i = 0; i < SN_EVIX_NSPANS; i++) {
		ix->off[i] = get32(d + 12 + 8 * i);
		ix->len[i] = get32(d + 16 + 8 * i);
		if ((uint64_t)ix->off[i] + ix->len[i] > ix->json_len)
			return sn_err_set(err, SN_ERR_CORRUPT,
					  "indexed event record: field %d outside the JSON", i);
	}
	ix->members = d + SN_EVIX_HEAD;
	return 0;
}

const char *sn_evix_json(uint8_t type, const void *data, uint32_t len, uint32_t *json_len)
{
	if (type != SN_WAL_EVENT_IX) {
		*json_len = len;
		return data;
	}
	struct sn_evix ix;
	int rc = sn_evix_open(data, len, &ix, NULL);
	if (rc && rc != SN_ERR_INVALID)
		return NULL;
	*json_len = ix.json_len;
	return ix.json;
}

int sn_evix_span(const struct sn_evix *ix, enum sn_evix_span i, struct sn_jspan *out)
{
	uint32_t n = ix->len[i];
	memset(out, 0, sizeof(*out));
	if (n == 0)
		return 0;
	const char *p = ix->json + ix->off[i];
	uint8_t t = sn_jtype_of(p[0]);
	bool flag = ix->span_flags >> i & 1;
	switch (t) {
	case SN_JSTRING:
		if (n < 2 || p[n - 1] != '"')
			return SN_ERR_CORRUPT;
		out->flags = flag ? SN_JSPAN_ESCAPED : 0;
		break;
	case SN_JOBJECT:
		if (n < 2 || p[n - 1] != '}')
			return SN_ERR_CORRUPT;
		break;
	case SN_JNUMBER: out->flags = flag ? SN_JSPAN_INT : 0; break;
	case SN_JNONE: return SN_ERR_CORRUPT;
	default: break;
	}
	out->p = p;
	out->len = n;
	out->type = t;
	return 0;
}

void sn_evix_put_head(char *head, uint8_t flags, uint16_t nmembers, uint16_t span_flags,
		      const uint32_t off[SN_EVIX_NSPANS], const uint32_t len[SN_EVIX_NSPANS])
{
	head[0] = SN_EVIX_VERSION;
	head[1] = (char)flags;
	sn_evix_put16(head + 2, nmembers);
	sn_evix_put32(head + 4, SN_EVIX_HEAD + 4u * nmembers);
	sn_evix_put16(head + 8, span_flags);
	sn_evix_put16(head + 10, 0);
	for (int i = 0; i < SN_EVIX_NSPANS; i++) {
		sn_evix_put32(head + 12 + 8 * i, off[i]);
		sn_evix_put32(head + 16 + 8 * i, len[i]);
	}
}
