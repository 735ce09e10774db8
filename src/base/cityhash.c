/*
 * cityhash.c — CityHash64 as ClickHouse computes cityHash64: Google's
 * CityHash at version 1.0.2 (Geoff Pike and Jyrki Alakuijala, 2011, MIT
 * licence), the version ClickHouse froze in contrib/cityhash102 and which
 * PostHog's events table samples by (cityHash64(distinct_id)).
 *
 * Why snout carries its own: no packaged library computes 1.0.2. Debian has
 * FarmHash (CityHash 1.1's descendants, other values), and the one CityHash
 * on npm (`cityhash` 0.0.5, a Node binding) is an older 1.0.x whose
 * strings over 64 bytes hash differently: it agrees with ClickHouse 18.16
 * up to 64 bytes and disagrees beyond (checked: a 70-byte string gives
 * 4282926222033854458 there, 9921199055743287881 in ClickHouse). The
 * algorithm is short and fixed forever, and every length class is checked
 * against values read off ClickHouse 18.16 (tests/unit/test_cityhash.c, and
 * the differential test's cityHash64 queries over the generated data).
 *
 * The input is read as little-endian 64- and 32-bit words (x86-64 and
 * arm64 are little-endian; a big-endian build would have to byte-swap in
 * load64/load32, as CityHash does). Length classes: 0–16, 17–32, 33–64
 * bytes have their own mixes; longer inputs hash their last 64 bytes into
 * a 56-byte state, then every 64-byte chunk from the start.
 */
#include <string.h>

#include "base/base.h"

static const uint64_t K0 = 0xc3a5c85c97cb3127ULL;
static const uint64_t K1 = 0xb492b66fbe98f273ULL;
static const uint64_t K2 = 0x9ae16a3b2f90404fULL;
static const uint64_t K3 = 0xc949d7c7509e6557ULL;

struct pair64 {
	uint64_t a, b;
};

static uint64_t load64(const unsigned char *p)
{
	uint64_t x;
	memcpy(&x, p, sizeof(x));
	return x;
}

static uint64_t load32(const unsigned char *p)
{
	uint32_t x;
	memcpy(&x, p, sizeof(x));
	return x;
}

/* Right rotation by 1..63 (every caller's shift is in that range). */
static uint64_t ror(uint64_t v, unsigned s)
{
	return v >> s | v << (64 - s);
}

static uint64_t shift_mix(uint64_t v)
{
	return v ^ v >> 47;
}

/* The 128 → 64-bit mix (CityHash's Hash128to64, Murmur-inspired). */
static uint64_t mix16(uint64_t lo, uint64_t hi)
{
	const uint64_t mul = 0x9ddfea08eb382d69ULL;
	uint64_t a = (lo ^ hi) * mul;
	a ^= a >> 47;
	uint64_t b = (hi ^ a) * mul;
	b ^= b >> 47;
	return b * mul;
}

static uint64_t len_0_to_16(const unsigned char *s, size_t len)
{
	if (len > 8) {
		uint64_t a = load64(s), b = load64(s + len - 8);
		return mix16(a, ror(b + len, (unsigned)len)) ^ b;
	}
	if (len >= 4)
		return mix16(len + (load32(s) << 3), load32(s + len - 4));
	if (len > 0) {
		uint32_t y = (uint32_t)s[0] + ((uint32_t)s[len >> 1] << 8);
		uint32_t z = (uint32_t)len + ((uint32_t)s[len - 1] << 2);
		return shift_mix(y * K2 ^ z * K3) * K2;
	}
	return K2;
}

static uint64_t len_17_to_32(const unsigned char *s, size_t len)
{
	uint64_t a = load64(s) * K1, b = load64(s + 8);
	uint64_t c = load64(s + len - 8) * K2, d = load64(s + len - 16) * K0;
	return mix16(ror(a - b, 43) + ror(c, 30) + d, a + ror(b ^ K3, 20) - c + len);
}

static uint64_t len_33_to_64(const unsigned char *s, size_t len)
{
	uint64_t z = load64(s + 24);
	uint64_t a = load64(s) + (len + load64(s + len - 16)) * K0;
	uint64_t b = ror(a + z, 52), c = ror(a, 37);
	a += load64(s + 8);
	c += ror(a, 7);
	a += load64(s + 16);
	uint64_t vf = a + z, vs = b + ror(a, 31) + c;
	a = load64(s + 16) + load64(s + len - 32);
	z = load64(s + len - 8);
	b = ror(a + z, 52);
	c = ror(a, 37);
	a += load64(s + len - 24);
	c += ror(a, 7);
	a += load64(s + len - 16);
	uint64_t wf = a + z, ws = b + ror(a, 31) + c;
	uint64_t r = shift_mix((vf + ws) * K2 + (wf + vs) * K0);
	return shift_mix(r * K0 + vs) * K2;
}

/* 16 bytes of state from the 32 bytes at s and two seeds. */
static struct pair64 weak32(const unsigned char *s, uint64_t a, uint64_t b)
{
	uint64_t w = load64(s), x = load64(s + 8), y = load64(s + 16), z = load64(s + 24);
	a += w;
	b = ror(b + a + z, 21);
	uint64_t c = a;
	a += x + y;
	b += ror(a, 44);
	return (struct pair64){a + z, b + c};
}

uint64_t sn_cityhash64(const void *data, size_t len)
{
	const unsigned char *s = data;
	if (len <= 16)
		return len_0_to_16(s, len);
	if (len <= 32)
		return len_17_to_32(s, len);
	if (len <= 64)
		return len_33_to_64(s, len);

	/* The last 64 bytes seed the state (v, w, x, y, z) ... */
	uint64_t x = load64(s), y = load64(s + len - 16) ^ K1, z = load64(s + len - 56) ^ K0;
	struct pair64 v = weak32(s + len - 64, len, y);
	struct pair64 w = weak32(s + len - 32, len * K1, K0);
	z += shift_mix(v.b) * K1;
	x = ror(z + x, 39) * K1;
	y = ror(y, 33) * K1;

	/* ... then every 64-byte chunk from the start, the last one (whole or
	 * partial) left to the seeding above. */
	for (size_t left = (len - 1) & ~(size_t)63; left; left -= 64, s += 64) {
		x = ror(x + y + v.a + load64(s + 16), 37) * K1;
		y = ror(y + v.b + load64(s + 48), 42) * K1;
		x ^= w.b;
		y ^= v.a;
		z = ror(z ^ w.a, 33);
		v = weak32(s, v.b * K1, x + w.a);
		w = weak32(s + 32, z + w.b, y);
		uint64_t t = z;
		z = x;
		x = t;
	}
	return mix16(mix16(v.a, w.a) + shift_mix(y) * K1 + z, mix16(v.b, w.b) + x);
}
