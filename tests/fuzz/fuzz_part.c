// fuzz-sources: src/base/*.c src/store/*.c
/*
 * fuzz_part.c — libFuzzer target for the part reader: the input bytes are
 * written as a part file, opened, and every column of every granule is
 * read, then the pruning helpers are asked about it. Nothing may crash,
 * read out of bounds or leak, and the outcome must be consistent:
 *
 * Byte 0 picks a mode, the rest is the part file:
 *   0  the file as given (mostly exercises the checksums and framing);
 *   1  header, trailer and metadata CRCs are recomputed first, so mutations
 *      reach the metadata parser and its bounds checks;
 *   2  the rest is fed to each column decoder directly (row count from the
 *      next byte), since block CRCs keep mutated blocks from the decoders.
 *
 *   - open either succeeds or fails with SN_ERR_CORRUPT / SN_ERR_INVALID
 *     (unknown version) and a message;
 *   - a column read, a coded read of every string column and of a
 *     property, and a property or whole-properties read (shredded
 *     parts reassemble them from several columns), succeeds with exactly
 *     the part's row count, or fails with SN_ERR_CORRUPT (or SN_ERR_NOMEM
 *     when the 64 MiB arena is full);
 *   - a residual key set that open accepted is sorted and finds each of its
 *     keys, and a property the part says it cannot have reads as NULL in
 *     every row without a block being read.
 *
 * Seeds are small parts written by the unit tests
 * (SNOUT_STORE_WRITE_SEEDS=DIR ./test_store).
 */
#include "store/shred.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[PATH_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_decoders(const uint8_t *p, size_t len)
{
	if (!len)
		return;
	size_t n = p[0] * 7u;
	p++;
	len--;
	struct sn_str *sv = malloc((n + 1) * sizeof(*sv));
	int64_t *iv = malloc((n + 1) * sizeof(*iv));
	uint8_t *fv = malloc((n + 1) * 16);
	size_t used = 0;
	if (!sv || !iv || !fv)
		abort();
	if (!sn_dec_str_plain(p, len, n, sv, &used) && used > len)
		abort();
	if (!sn_dec_str_dict(p, len, n, sv, &used)) {
		if (used > len)
			abort();
		for (size_t i = 0; i < n; i++) {
			if ((const uint8_t *)sv[i].p < p ||
			    (const uint8_t *)sv[i].p + sv[i].len > p + len)
				abort();
		}
	}
	uint32_t *codes = malloc((n + 1) * sizeof(*codes));
	size_t nd = 0;
	if (!codes)
		abort();
	if (!sn_dec_str_dict_codes(p, len, n, sv, &nd, 7, codes, &used)) {
		if (used > len || nd > n)
			abort();
		for (size_t i = 0; i < n; i++)
			if (codes[i] < 7 || codes[i] - 7 >= nd)
				abort();
	}
	free(codes);
	if (!sn_dec_i64_delta(p, len, n, iv, &used) && used > len)
		abort();
	if (!sn_dec_i64_for(p, len, n, iv, &used) && used > len)
		abort();
	if (!sn_dec_fixed16(p, len, n, fv, &used) && used > len)
		abort();
	if (!sn_dec_nulls(p, len, n, fv, &used) && used > len)
		abort();
	free(sv);
	free(iv);
	free(fv);
}

/* Recomputes the CRCs of header, trailer and (when the trailer locates it) metadata. */
static void fix_crcs(uint8_t *b, size_t size)
{
	if (size < SN_PART_HEADER_SIZE + SN_PART_TRAILER_SIZE)
		return;
	uint8_t *t = b + size - SN_PART_TRAILER_SIZE;
	uint64_t off = sn_get_u64(t), len = sn_get_u64(t + 8);
	if (off <= size - SN_PART_TRAILER_SIZE && len <= size - SN_PART_TRAILER_SIZE - off)
		sn_put_u32(t + 16, sn_crc32(0, b + off, (size_t)len));
	sn_put_u32(t + 28, sn_crc32(0, t, 28));
	sn_put_u32(b + 28, sn_crc32(0, b, 28));
}

static void remove_part(void)
{
	unlink(g_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t insize)
{
	if (insize < 1)
		return 0;
	uint8_t mode = in[0] % 3;
	if (mode == 2) {
		fuzz_decoders(in + 1, insize - 1);
		return 0;
	}
	size_t size = insize - 1;
	uint8_t *data = malloc(size ? size : 1);
	if (!data)
		abort();
	if (size)
		memcpy(data, in + 1, size);
	if (mode == 1)
		fix_crcs(data, size);
	if (!g_path[0]) {
		snprintf(g_path, sizeof(g_path), "/tmp/fuzz_part.%d.snp", (int)getpid());
		atexit(remove_part); /* a finished run leaves nothing in /tmp */
	}
	int fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	free(data);

	struct sn_err err = {0};
	struct sn_part *p = NULL;
	int rc = sn_part_open(g_path, &p, &err);
	if (rc) {
		if ((rc != SN_ERR_CORRUPT && rc != SN_ERR_INVALID) || !err.msg[0])
			abort();
		return 0;
	}
	struct sn_arena arena;
	sn_arena_init(&arena, 64u << 20);
	size_t ng = sn_part_ngranules(p);
	for (size_t c = 0; c < sn_part_ncolumns(p); c++) {
		struct sn_colvec v;
		rc = sn_part_read_column(p, c, 0, ng, &arena, &v, &err);
		if (rc == 0 && v.nrows != sn_part_nrows(p))
			abort();
		if (rc && rc != SN_ERR_CORRUPT && rc != SN_ERR_NOMEM)
			abort();
		/* Touch every value so ASan sees any bad pointer. */
		volatile uint8_t sink = 0;
		for (size_t i = 0; rc == 0 && i < v.nrows; i++) {
			if (v.str && v.str[i].len)
				sink ^=
				    (uint8_t)v.str[i].p[0] ^ (uint8_t)v.str[i].p[v.str[i].len - 1];
			if (v.i64)
				sink ^= (uint8_t)v.i64[i];
			if (v.uuid)
				sink ^= v.uuid[i].b[15];
			if (v.nulls)
				sink ^= v.nulls[i];
		}
		(void)sink;
	}
	/* Coded reads of string columns and of properties: the same rows or a
	 * clean error, every code inside the entries. */
	for (size_t c = 0; c <= sn_part_ncolumns(p); c++) {
		struct sn_colvec v;
		if (c < sn_part_ncolumns(p) && sn_part_column(p, c)->type != SN_COL_STRING)
			continue;
		rc =
		    c < sn_part_ncolumns(p)
			? sn_part_read_column_coded(p, c, 0, ng, NULL, &arena, &v, &err)
			: sn_part_read_property_coded(p, "$browser", 0, ng, NULL, &arena, &v, &err);
		if (rc && rc != SN_ERR_CORRUPT && rc != SN_ERR_NOMEM && rc != SN_ERR_TOO_BIG)
			abort();
		if (rc == 0 &&
		    (v.nrows != sn_part_nrows(p) || v.ndict < 1 || v.ndict > v.nrows + 1))
			abort();
		volatile uint8_t sink = 0;
		for (size_t i = 0; rc == 0 && i < v.nrows; i++) {
			if (v.codes[i] >= v.ndict)
				abort();
			struct sn_str e = v.dict[v.codes[i]];
			if (e.len)
				sink ^= (uint8_t)e.p[0] ^ (uint8_t)e.p[e.len - 1];
			sink ^= v.dict_nulls[v.codes[i]];
		}
		(void)sink;
	}
	/* The residual key set, when there is one, is what lookups assume. */
	const struct sn_str *rk;
	size_t nrk;
	if (sn_part_residual_keys(p, &rk, &nrk)) {
		for (size_t i = 0; i < nrk; i++) {
			if ((i && sn_keyset_cmp(rk[i - 1], rk[i]) >= 0) ||
			    !sn_keyset_find(rk, nrk, rk[i].p, rk[i].len))
				abort();
		}
	} else if (rk || nrk) {
		abort();
	}
	/* Shredded or not, properties must read back or fail cleanly. */
	const char *keys[] = {"$browser", "n", "@rest", "", "$process_person_profile", "rare7"};
	for (size_t k = 0; k <= SN_ARRAY_LEN(keys); k++) {
		struct sn_colvec v;
		struct sn_part_read_stats before, after;
		bool may = k == SN_ARRAY_LEN(keys) || sn_part_may_have_property(p, keys[k]);
		sn_part_get_read_stats(p, &before);
		rc = k < SN_ARRAY_LEN(keys)
			 ? sn_part_read_property(p, keys[k], 0, ng, &arena, &v, &err)
			 : sn_part_read_properties(p, 0, ng, &arena, &v, &err);
		sn_part_get_read_stats(p, &after);
		if (rc == 0 && v.nrows != sn_part_nrows(p))
			abort();
		if (rc && rc != SN_ERR_CORRUPT && rc != SN_ERR_NOMEM && rc != SN_ERR_TOO_BIG)
			abort();
		if (!may && (after.blocks_read != before.blocks_read || (rc && rc != SN_ERR_NOMEM)))
			abort();
		volatile uint8_t sink = 0;
		for (size_t i = 0; rc == 0 && i < v.nrows; i++) {
			if (!may && !v.nulls[i])
				abort();
			if (v.str[i].len)
				sink ^= (uint8_t)v.str[i].p[v.str[i].len - 1];
		}
		(void)sink;
	}
	for (size_t g = 0; g < ng; g++) {
		const struct sn_granule_info *gi = sn_part_granule(p, g);
		size_t gb, ge;
		sn_part_granules_for_team(p, gi->team_id, gi->day, gi->day, &gb, &ge);
		if (gb > g || ge <= g || ge > ng)
			abort(); /* a granule's own first key must select it */
		(void)sn_part_granule_overlaps_time(p, g, gi->min_ts_us, gi->min_ts_us);
	}
	sn_arena_release(&arena);
	sn_part_unref(p);
	return 0;
}
