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

/* The two hex digits of every byte value, so a byte is one load: the
 * executor formats a person id per row for every person-based insight
 * (6.5 % of an 8-week retention with the digit-by-digit loop). */
static const char g_hex2[256][2] = {
    "00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "0a", "0b", "0c", "0d", "0e", "0f",
    "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "1a", "1b", "1c", "1d", "1e", "1f",
    "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "2a", "2b", "2c", "2d", "2e", "2f",
    "30", "31", "32", "33", "34", "35", "36", "37", "38", "39", "3a", "3b", "3c", "3d", "3e", "3f",
    "40", "41", "42", "43", "44", "45", "46", "47", "48", "49", "4a", "4b", "4c", "4d", "4e", "4f",
    "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "5a", "5b", "5c", "5d", "5e", "5f",
    "60", "61", "62", "63", "64", "65", "66", "67", "68", "69", "6a", "6b", "6c", "6d", "6e", "6f",
    "70", "71", "72", "73", "74", "75", "76", "77", "78", "79", "7a", "7b", "7c", "7d", "7e", "7f",
    "80", "81", "82", "83", "84", "85", "86", "87", "88", "89", "8a", "8b", "8c", "8d", "8e", "8f",
    "90", "91", "92", "93", "94", "95", "96", "97", "98", "99", "9a", "9b", "9c", "9d", "9e", "9f",
    "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "aa", "ab", "ac", "ad", "ae", "af",
    "b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "ba", "bb", "bc", "bd", "be", "bf",
    "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", "ca", "cb", "cc", "cd", "ce", "cf",
    "d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "da", "db", "dc", "dd", "de", "df",
    "e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9", "ea", "eb", "ec", "ed", "ee", "ef",
    "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "fa", "fb", "fc", "fd", "fe", "ff",
};

void sn_uuid_format(const struct sn_uuid *u, char out[37])
{
	static const uint8_t pos[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
	for (int i = 0; i < 16; i++)
		memcpy(out + pos[i], g_hex2[u->b[i]], 2);
	out[8] = out[13] = out[18] = out[23] = '-';
	out[36] = 0;
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
	/* Where each byte's two digits start: the hyphens are checked first,
	 * then the 16 pairs decoded without a branch a pair (the ingest parses
	 * every event's uuid: 365 instructions an event as a loop that tested
	 * for hyphens at each byte). */
	static const uint8_t at36[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
	static const uint8_t at32[16] = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
	const uint8_t *at;
	if (len == 36) {
		if (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
			return SN_ERR_INVALID;
		at = at36;
	} else if (len == 32) {
		at = at32;
	} else {
		return SN_ERR_INVALID;
	}
	uint8_t b[16];
	int bad = 0;
	for (int i = 0; i < 16; i++) {
		int hi = g_hex[(unsigned char)s[at[i]]] - 1,
		    lo = g_hex[(unsigned char)s[at[i] + 1]] - 1;
		bad |= hi | lo;
		b[i] = (uint8_t)((unsigned)hi << 4 | (unsigned)lo);
	}
	if (bad < 0)
		return SN_ERR_INVALID;
	memcpy(u->b, b, 16);
	return 0;
}
