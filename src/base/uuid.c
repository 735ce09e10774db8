/*
 * uuid.c — UUIDv7 generation, parsing and formatting.
 *
 * Layout (RFC 9562 §5.7):  unix_ts_ms(48) | ver=7(4) | rand_a(12) | var(2) | rand_b(62)
 *
 * rand_a holds a per-process counter seeded randomly each millisecond, so ids
 * made in the same millisecond by one process still sort in creation order
 * (method 1 of §6.2). The state is one mutex-protected pair; generation is
 * rare next to parsing (most SDKs send their own uuid).
 */
#include "base.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_last_ms = -1;
static uint16_t g_counter;

void sn_uuid_v7(struct sn_uuid *u, int64_t now_us)
{
	int64_t ms = now_us / 1000;
	uint8_t rnd[10];
	sn_random_bytes(rnd, sizeof(rnd));
	pthread_mutex_lock(&g_lock);
	if (ms <= g_last_ms) {
		ms = g_last_ms;
		g_counter++;
		if (g_counter > 0x0fff) { /* counter exhausted: borrow the next ms */
			ms++;
			g_counter = (uint16_t)(rnd[0] & 0x3ff);
		}
	} else {
		g_counter = (uint16_t)(((rnd[0] << 8) | rnd[1]) & 0x3ff);
	}
	g_last_ms = ms;
	uint16_t counter = g_counter;
	pthread_mutex_unlock(&g_lock);
	for (int i = 0; i < 6; i++)
		u->b[i] = (uint8_t)((uint64_t)ms >> (40 - 8 * i));
	u->b[6] = (uint8_t)(0x70 | ((counter >> 8) & 0x0f));
	u->b[7] = (uint8_t)(counter & 0xff);
	memcpy(u->b + 8, rnd + 2, 8);
	u->b[8] = (uint8_t)(0x80 | (u->b[8] & 0x3f));
}

void sn_uuid_random_v4(struct sn_uuid *u)
{
	sn_random_bytes(u->b, 16);
	u->b[6] = (uint8_t)(0x40 | (u->b[6] & 0x0f));
	u->b[8] = (uint8_t)(0x80 | (u->b[8] & 0x3f));
}

void sn_uuid_format(const struct sn_uuid *u, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[u->b[i] >> 4];
		*p++ = hex[u->b[i] & 15];
	}
	*p = 0;
}

/* Hex digit values, -1 for anything else: a table, because ingestion
 * parses a uuid per event (two branches chains a digit were 9 % of it). */
static const int8_t g_hex[256] = {
    ['0'] = 0 + 1,  ['1'] = 1 + 1,  ['2'] = 2 + 1,  ['3'] = 3 + 1,  ['4'] = 4 + 1,  ['5'] = 5 + 1,
    ['6'] = 6 + 1,  ['7'] = 7 + 1,  ['8'] = 8 + 1,  ['9'] = 9 + 1,  ['a'] = 10 + 1, ['b'] = 11 + 1,
    ['c'] = 12 + 1, ['d'] = 13 + 1, ['e'] = 14 + 1, ['f'] = 15 + 1, ['A'] = 10 + 1, ['B'] = 11 + 1,
    ['C'] = 12 + 1, ['D'] = 13 + 1, ['E'] = 14 + 1, ['F'] = 15 + 1,
}; /* value + 1: 0 means not a digit */

int sn_uuid_parse(const char *s, size_t len, struct sn_uuid *u)
{
	bool hyphens;
	if (len == 36)
		hyphens = true;
	else if (len == 32)
		hyphens = false;
	else
		return SN_ERR_INVALID;
	size_t j = 0;
	for (int i = 0; i < 16; i++) {
		if (hyphens && (i == 4 || i == 6 || i == 8 || i == 10)) {
			if (s[j] != '-')
				return SN_ERR_INVALID;
			j++;
		}
		int hi = g_hex[(unsigned char)s[j]] - 1, lo = g_hex[(unsigned char)s[j + 1]] - 1;
		if ((hi | lo) < 0)
			return SN_ERR_INVALID;
		u->b[i] = (uint8_t)(hi << 4 | lo);
		j += 2;
	}
	return 0;
}
