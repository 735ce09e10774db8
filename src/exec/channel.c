/*
 * channel.c — PostHog's channel definition table and its lookups: the data
 * behind the lookup*Type functions (spec/hogql.md §7.3) that the channel
 * type rules of `sessions.$channel_type` and the persons'
 * `$virt_initial_channel_type` call (hogql/schema.c).
 *
 *   channel_definitions.inc  ── rows (key, kind, domain type, paid, organic),
 *                               sorted by (kind, key)
 *   sn_channel_find()        ── bsearch on (kind, key): one row or NULL
 *
 * ClickHouse keeps the same rows as the dictionary channel_definition_dict
 * (tests/clickhouse: a table loaded from this file, read by a dictionary);
 * the printer calls it where the executor calls this. The composition of
 * the lookups (the exact key first, then the host's cutToFirstSignificant-
 * Subdomain for sources) lives with the functions in fn_scalar.c.
 *
 * Rejected alternative: a hash table built at start-up. ~1,500 rows are 11
 * probes by bisection, the table stays const data shared by every thread,
 * and there is nothing to build or free.
 */
#include <string.h>

#include "exec/exec_internal.h"

#define CHD(key, kind, domain_type, paid, organic)                                  \
	{                                                                           \
		key, sizeof(key) - 1, SN_CHANNEL_##kind, domain_type, paid, organic \
	}

static const struct sn_channel_def defs[] = {
#include "exec/channel_definitions.inc"
};

static int cmp(enum sn_channel_kind ka, const char *a, size_t na, const struct sn_channel_def *d)
{
	if (ka != d->kind)
		return ka < d->kind ? -1 : 1;
	size_t m = na < d->len ? na : d->len;
	int r = memcmp(a, d->key, m);
	if (r)
		return r;
	return na < d->len ? -1 : na > d->len;
}

const struct sn_channel_def *sn_channel_find(enum sn_channel_kind kind, const char *key, size_t len)
{
	size_t lo = 0, hi = SN_ARRAY_LEN(defs);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cmp(kind, key, len, &defs[mid]);
		if (r == 0)
			return &defs[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

size_t sn_channel_count(void)
{
	return SN_ARRAY_LEN(defs);
}

const struct sn_channel_def *sn_channel_at(size_t i)
{
	return i < SN_ARRAY_LEN(defs) ? &defs[i] : NULL;
}
