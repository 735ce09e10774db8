/*
 * uuid5.c — PostHog's deterministic person ids: UUIDv5 (RFC 9562 §5.5) of
 * "<team_id>:<distinct_id>" in the namespace
 * 932979b4-65c3-4424-8467-0b66ec27bc22, which PostHog's plugin-server
 * (person-uuid.ts) and Django app (models/person/util.py) both use. A
 * personless event gets this id, and a person created later for the same
 * distinct id gets it too, so the two agree without an override.
 *
 * UUIDv5 is SHA-1 of namespace bytes || name, truncated to 16 bytes, with the
 * version nibble set to 5 and the RFC 4122 variant bits; SHA-1 is OpenSSL's,
 * through base (sn_sha1_parts). Collision resistance does not matter for
 * an id derivation; only bit-exact agreement with PostHog does, which the
 * unit test checks against vectors computed with Python's uuid.uuid5.
 *
 * Rejected: UUIDv7 person ids. They work for persons but make a personless
 * event's id unknowable before its person exists, forcing an override for
 * every later-created person.
 */
#include "persons/persons_internal.h"

#include <stdio.h>
#include <string.h>

void sn_persons_uuid_v5(const struct sn_uuid *ns, const void *name, size_t len, struct sn_uuid *out)
{
	uint8_t h[20];
	const void *parts[] = {ns->b, name};
	size_t lens[] = {16, len};
	sn_sha1_parts(parts, lens, 2, h);
	memcpy(out->b, h, 16);
	out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x50);
	out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
}

/* 932979b4-65c3-4424-8467-0b66ec27bc22 */
static const struct sn_uuid person_ns = {{0x93, 0x29, 0x79, 0xb4, 0x65, 0xc3, 0x44, 0x24, 0x84,
					  0x67, 0x0b, 0x66, 0xec, 0x27, 0xbc, 0x22}};

void sn_persons_uuid_for(int64_t team_id, const char *distinct_id, size_t len, char out[37])
{
	uint8_t h[20];
	char prefix[32];
	int n = snprintf(prefix, sizeof(prefix), "%lld:", (long long)team_id);
	const void *parts[] = {person_ns.b, prefix, distinct_id};
	size_t lens[] = {16, (size_t)n, len};
	sn_sha1_parts(parts, lens, 3, h);
	struct sn_uuid u;
	memcpy(u.b, h, 16);
	u.b[6] = (uint8_t)((u.b[6] & 0x0f) | 0x50);
	u.b[8] = (uint8_t)((u.b[8] & 0x3f) | 0x80);
	sn_uuid_format(&u, out);
}
