/*
 * crypto.c — randomness and hashes, each from the library made for it:
 * libsodium for secure random bytes and SHA-256, OpenSSL's EVP for SHA-1
 * (libsodium has none), xxHash (XXH3) for hash tables, zlib's crc32 for
 * on-disk checksums. Wrapped here so the rest of the
 * code names one function and the dependency lives in one file.
 */
#include "base.h"

#include <openssl/evp.h>
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

void sn_sha1_parts(const void *const *parts, const size_t *lens, size_t n, uint8_t out[20])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int outlen = 0;
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1)
		SN_BUG("OpenSSL SHA-1 unavailable");
	for (size_t i = 0; i < n; i++)
		EVP_DigestUpdate(ctx, parts[i], lens[i]);
	EVP_DigestFinal_ex(ctx, out, &outlen);
	EVP_MD_CTX_free(ctx);
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
