/*
 * crypto.c — randomness and hashes, each from the library made for it:
 * libsodium for secure random bytes and SHA-256, OpenSSL's EVP for SHA-1
 * (libsodium has none), xxHash (XXH3) for hash tables, zlib's crc32 for
 * on-disk checksums. Wrapped here so the rest of the
 * code names one function and the dependency lives in one file.
 *
 * SHA-1 is on the flag-evaluation hot path (one hash per flag and request).
 * OpenSSL 3 resolves EVP_sha1() through its provider store on every
 * DigestInit, which takes a process-wide read lock: two threads evaluating
 * flags spent ~10 % of their time on that lock and on allocating a fresh
 * context per hash. So the algorithm is fetched once, and each thread keeps
 * one context (freed by a thread-key destructor) that DigestInit resets.
 */
#include "base.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include <zlib.h>

static void sodium_once(void)
{
	static int ready;
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		if (sodium_init() < 0)
			SN_BUG("libsodium failed to initialise");
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
}

void sn_random_bytes(void *p, size_t n)
{
	sodium_once();
	randombytes_buf(p, n);
}

void sn_random_token(char *out, size_t outsz, const char *prefix, size_t n)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t plen = strlen(prefix);
	if (outsz < plen + n + 1)
		SN_BUG("sn_random_token: output too small");
	memcpy(out, prefix, plen);
	sodium_once();
	for (size_t i = 0; i < n; i++)
		out[plen + i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	out[plen + n] = 0;
}

void sn_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	sodium_once();
	crypto_hash_sha256(h, data, len);
	sodium_bin2hex(out, 65, h, sizeof(h));
}

static pthread_once_t sha1_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha1_md;
static pthread_key_t sha1_key;

static void sha1_ctx_free(void *ctx)
{
	EVP_MD_CTX_free(ctx);
}

static void sha1_init(void)
{
	sha1_md = EVP_MD_fetch(NULL, "SHA1", NULL);
	if (pthread_key_create(&sha1_key, sha1_ctx_free) != 0)
		SN_BUG("pthread_key_create failed");
}

void sn_sha1_parts(const void *const *parts, const size_t *lens, size_t n, uint8_t out[20])
{
	pthread_once(&sha1_once, sha1_init);
	EVP_MD_CTX *ctx = pthread_getspecific(sha1_key);
	if (!ctx) {
		ctx = EVP_MD_CTX_new();
		if (!ctx || pthread_setspecific(sha1_key, ctx) != 0)
			SN_BUG("out of memory for a SHA-1 context");
	}
	unsigned int outlen = 0;
	if (!sha1_md || EVP_DigestInit_ex(ctx, sha1_md, NULL) != 1)
		SN_BUG("OpenSSL SHA-1 unavailable");
	for (size_t i = 0; i < n; i++)
		EVP_DigestUpdate(ctx, parts[i], lens[i]);
	EVP_DigestFinal_ex(ctx, out, &outlen);
}

void sn_sha1(const void *data, size_t len, uint8_t out[20])
{
	sn_sha1_parts(&data, &len, 1, out);
}

uint64_t sn_hash64(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

uint32_t sn_crc32(uint32_t crc, const void *data, size_t len)
{
	/* zlib takes uInt lengths; feed large buffers in slices. */
	const unsigned char *p = data;
	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		crc = (uint32_t)crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
}
