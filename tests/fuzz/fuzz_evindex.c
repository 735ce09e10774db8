// fuzz-sources: src/base/*.c src/wal/evindex.c
/*
 * fuzz_evindex.c — libFuzzer target for the reader of an indexed event
 * record (wal/evindex.h) given hostile bytes: whatever the payload, opening
 * it, reading every span and walking the member table must end in a value
 * or an error, never a crash or a read outside the payload (the payload is
 * copied to a buffer of exactly its size, so ASan sees any overrun). The
 * seeds are records capture wrote.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wal/evindex.h"
#include "wal/wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > UINT32_MAX)
		return 0;
	char *rec = malloc(size ? size : 1);
	if (!rec)
		return 0;
	memcpy(rec, data, size);
	struct sn_evix ix;
	struct sn_jspan s, k, v;
	uint32_t n;
	const char *j = sn_evix_json(SN_WAL_EVENT_IX, rec, (uint32_t)size, &n);
	if (j && (j < rec || j + n > rec + size))
		__builtin_trap();
	if (sn_evix_open(rec, (uint32_t)size, &ix, NULL) == 0) {
		for (int i = 0; i < SN_EVIX_NSPANS; i++)
			if (sn_evix_span(&ix, (enum sn_evix_span)i, &s) == 0 && s.p &&
			    (s.p < ix.json || s.p + s.len > ix.json + ix.json_len))
				__builtin_trap();
		if (sn_evix_span(&ix, SN_EVIX_PROPERTIES, &s) == 0 && s.type == SN_JOBJECT) {
			struct sn_evix_walk w;
			sn_evix_walk_init(&w, &s);
			while (sn_evix_walk_next(&ix, &w, &k, &v) > 0)
				if (k.p < s.p || v.p + v.len > s.p + s.len)
					__builtin_trap();
		}
	}
	free(rec);
	return 0;
}
