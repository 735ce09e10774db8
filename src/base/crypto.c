/*
 * crypto.c — randomness and hashes, each from the library made for it:
 * libsodium for secure random bytes and SHA-256, nettle for SHA-1
 * (libsodium has none), xxHash (XXH3) for hash tables, libdeflate's crc32
 * for on-disk checksums. Wrapped here so the rest of the
 * code names one function and the dependency lives in one file.
 *
 * SHA-1 is on the flag-evaluation hot path (one hash per flag and request,
 * of some 30 bytes). nettle hashes from a context on the stack: no
 * allocation, no dispatch, 56 ns a hash here. Rejected: OpenSSL 3's EVP,
 * which resolves the algorithm through its provider store (a process-wide
 * lock, unless fetched once) and frees and allocates the provider context
 * on every DigestInit even when reused: 110 ns a hash, half of it overhead,
 * and 12 % of a /flags request. nettle is already on every build machine
 * (libmicrohttpd's GnuTLS depends on it).
 *
 * CRC-32: the WAL and the parts checksum every record and block, so it is on
 * the ingest and the query paths. libdeflate computes the same CRC-32 as
 * zlib (the gzip polynomial; the on-disk values are unchanged) with
 * carry-less multiplication: 25 GB/s against zlib's 2.3 GB/s on 600-byte
 * WAL records, 27 against 4.8 GB/s on 64 KiB blocks (this machine).
 *
 * Random bytes: libsodium asks the kernel (getrandom) on every call; small
 * requests come from a per-thread pool refilled 256 bytes at a time (see
 * sn_random_bytes).
 */
#include "base.h"

#include <libdeflate.h>
#include <nettle/sha1.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static void sodium_once(void)
{
	static int ready;
	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE)) {
		if (sodium_init() < 0)
			SN_BUG("libsodium failed to initialise");
		__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
	}
}

/* Small requests (a UUID on every /flags answer) are served from a
 * per-thread pool of 256 bytes, so the getrandom system call runs once per
 * sixteen UUIDs rather than each time; bytes handed out are wiped from the
 * pool. snout never forks, so no two processes share a pool. */
#define RANDOM_POOL 256
static _Thread_local unsigned char random_pool[RANDOM_POOL];
static _Thread_local size_t random_left;

void sn_random_bytes(void *p, size_t n)
{
	sodium_once();
	if (n > RANDOM_POOL / 4) {
		randombytes_buf(p, n);
		return;
	}
	if (random_left < n) {
		randombytes_buf(random_pool, RANDOM_POOL);
		random_left = RANDOM_POOL;
	}
	unsigned char *from = random_pool + RANDOM_POOL - random_left;
	memcpy(p, from, n);
	sodium_memzero(from, n);
	random_left -= n;
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
	struct sha1_ctx ctx;
	sha1_init(&ctx);
	for (size_t i = 0; i < n; i++)
		sha1_update(&ctx, lens[i], parts[i]);
	sha1_digest(&ctx, SHA1_DIGEST_SIZE, out);
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
	return len ? libdeflate_crc32(crc, data, len) : crc;
}
