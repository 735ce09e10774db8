/*
 * block.c — the compression of one encoded column block, wrapping libzstd
 * and liblz4 (the only place store/ calls them).
 *
 * A block is compressed as one independent frame: zstd's simple API with
 * the content size in the frame, lz4's block API (the sizes live in the
 * part's column directory, so lz4's frame format would repeat them).
 * Decompression is told the exact size the directory promises and accepts
 * nothing else, so a hostile block can neither overrun dst nor make us
 * allocate more than the directory said (which the reader bounds by
 * SN_PART_MAX_BLOCK_SIZE).
 *
 * The part writer keeps one zstd context per writer thread
 * (sn_block_compress_ctx): ZSTD_compress allocates and clears a fresh one
 * for every block. A frame does not depend on the context it was made in
 * (same level, no dictionary), so the bytes are the same either way.
 * Likewise every thread that reads keeps one zstd decompression context
 * (a thread-specific key, freed when the thread ends): ZSTD_decompress
 * allocates and initialises one for every block, and a query reads
 * thousands of small blocks.
 */
#include "store/store_internal.h"

#include <lz4.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

struct sn_block_cctx {
	ZSTD_CCtx *z;
};

struct sn_block_cctx *sn_block_cctx_new(void)
{
	struct sn_block_cctx *c = calloc(1, sizeof(*c));
	if (c && !(c->z = ZSTD_createCCtx())) {
		free(c);
		c = NULL;
	}
	return c;
}

void sn_block_cctx_free(struct sn_block_cctx *c)
{
	if (!c)
		return;
	ZSTD_freeCCtx(c->z);
	free(c);
}

int sn_block_compress(enum sn_codec codec, int zstd_level, const void *src, size_t n,
		      struct sn_buf *out, struct sn_err *err)
{
	return sn_block_compress_ctx(NULL, codec, zstd_level, src, n, out, err);
}

int sn_block_compress_ctx(struct sn_block_cctx *cctx, enum sn_codec codec, int zstd_level,
			  const void *src, size_t n, struct sn_buf *out, struct sn_err *err)
{
	int rc;
	switch (codec) {
	case SN_CODEC_NONE: return sn_buf_append(out, src, n);
	case SN_CODEC_ZSTD: {
		size_t bound = ZSTD_compressBound(n);
		if ((rc = sn_buf_reserve(out, bound)))
			return sn_err_set(err, rc, "block of %zu bytes too big to compress", n);
		int level = zstd_level > 0 ? zstd_level : 1;
		size_t c =
		    cctx ? ZSTD_compressCCtx(cctx->z, out->data + out->len, bound, src, n, level)
			 : ZSTD_compress(out->data + out->len, bound, src, n, level);
		if (ZSTD_isError(c))
			return sn_err_set(err, SN_ERR_INTERNAL, "zstd: %s", ZSTD_getErrorName(c));
		out->len += c;
		out->data[out->len] = 0;
		return 0;
	}
	case SN_CODEC_LZ4: {
		if (n > LZ4_MAX_INPUT_SIZE)
			return sn_err_set(err, SN_ERR_TOO_BIG, "block of %zu bytes too big for lz4",
					  n);
		int bound = LZ4_compressBound((int)n);
		if ((rc = sn_buf_reserve(out, (size_t)bound)))
			return sn_err_set(err, rc, "block of %zu bytes too big to compress", n);
		int c = LZ4_compress_default(src, out->data + out->len, (int)n, bound);
		if (c <= 0)
			return sn_err_set(err, SN_ERR_INTERNAL, "lz4 failed on %zu bytes", n);
		out->len += (size_t)c;
		out->data[out->len] = 0;
		return 0;
	}
	case SN_CODEC_DEFAULT: break;
	}
	return sn_err_set(err, SN_ERR_INVALID, "unknown codec %d", (int)codec);
}

static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *d)
{
	ZSTD_freeDCtx(d);
}

static void dctx_key_make(void)
{
	if (pthread_key_create(&dctx_key, dctx_free) != 0)
		abort(); /* only without memory for a key at start-up */
}

/* This thread's decompression context, made on first use; NULL without
 * memory (the caller then uses ZSTD_decompress). */
static ZSTD_DCtx *thread_dctx(void)
{
	pthread_once(&dctx_once, dctx_key_make);
	ZSTD_DCtx *d = pthread_getspecific(dctx_key);
	if (!d && (d = ZSTD_createDCtx()) && pthread_setspecific(dctx_key, d) != 0) {
		ZSTD_freeDCtx(d);
		d = NULL;
	}
	return d;
}

int sn_block_decompress(enum sn_codec codec, const void *src, size_t csize, void *dst, size_t usize,
			struct sn_err *err)
{
	switch (codec) {
	case SN_CODEC_NONE:
		if (csize != usize)
			break;
		if (usize)
			memcpy(dst, src, usize);
		return 0;
	case SN_CODEC_ZSTD: {
		unsigned long long fs = ZSTD_getFrameContentSize(src, csize);
		if (fs != usize)
			break;
		ZSTD_DCtx *dc = thread_dctx();
		size_t d = dc ? ZSTD_decompressDCtx(dc, dst, usize, src, csize)
			      : ZSTD_decompress(dst, usize, src, csize);
		if (ZSTD_isError(d) || d != usize)
			break;
		return 0;
	}
	case SN_CODEC_LZ4: {
		if (csize > LZ4_MAX_INPUT_SIZE || usize > LZ4_MAX_INPUT_SIZE)
			break;
		int d = LZ4_decompress_safe(src, dst, (int)csize, (int)usize);
		if (d < 0 || (size_t)d != usize)
			break;
		return 0;
	}
	default: return sn_err_set(err, SN_ERR_CORRUPT, "unknown codec %d", (int)codec);
	}
	return sn_err_set(err, SN_ERR_CORRUPT, "block does not decompress to %zu bytes", usize);
}
