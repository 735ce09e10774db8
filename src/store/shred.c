/*
 * shred.c — property shredding: the top-level keys of `properties` that
 * most rows of a part carry become columns of their own, so reading
 * properties.$browser reads a small dictionary-encoded column instead of
 * parsing every row's JSON.
 *
 * What a shredded part holds instead of the `properties` column:
 *
 *   p:@rest    the object without the shredded members, compact:  {"x":1}
 *   p:@layout  per row, one byte per member in original order: 0 = the next
 *              member of p:@rest, k = shredded key k-1; NULL = this row was
 *              not shredded and p:@rest holds its text verbatim
 *   p:<key>    per row, the member's raw JSON value text ("Chrome" with its
 *              quotes, 1280, {"a":1}); NULL when the row lacks the key
 *
 * Layouts repeat (an SDK always sends keys in the same order) so p:@layout
 * costs almost nothing after its dictionary. Values are kept as raw text, not
 * parsed into numbers or booleans: hogql.md §4.2 returns the raw text (one
 * pair of quotes stripped, escapes kept), so raw text is what reads back
 * exactly, whatever mix of types a key has across rows and parts. Typed
 * float64/bool columns (format version 3) are the next step for filters.
 *
 * A row is shredded only when its text can be rebuilt byte for byte from the
 * pieces: a valid JSON object with no whitespace between tokens, at most
 * SHRED_MAX_MEMBERS members, no shredded key twice and no escaped key (which
 * could decode to a shredded key's name). Anything else (pretty
 * printed, invalid, not an object, duplicates) keeps its whole text in
 * p:@rest with a NULL layout, and reads fall back to scanning that text.
 * Keys are chosen per part: present in at least 1 % of a sample of the rows, without
 * escapes and not starting with '@' (p:@rest, p:@layout), at most SHRED_MAX_KEYS, whatever the
 * part's size: the writer splits granule by granule (sn_shred_rows, one granule per writer thread
 * at a time), so values take 16 bytes a key a granule row. (Until 2026-12-02 a cap from the days
 * of a whole-part span array, 256 MiB of spans, held parts of a million rows or more to 16 keys
 * or fewer: merged parts, and the query benchmark's, read their other keys from p:@rest.)
 *
 * Scanning uses base's strict JSON scanner (sn_jscan), which validates every
 * byte; nothing here parses JSON by hand. Rows from the ingest skip the scan:
 * they carry their members' lengths, which the ingest's own scan found
 * (row_members; STORAGE.md "Member lengths").
 */
#include "store/shred.h"

#include <stdlib.h>
#include <string.h>

#define SHRED_MAX_KEYS	  64
#define SHRED_MAX_KEY_LEN 200
#define SHRED_MAX_MEMBERS 250 /* layout bytes are 1 + key index */
#define SHRED_SAMPLE_ROWS 4096

/* Splits a compact JSON object into members; returns the count, or -1 when
 * the text is not a compact object of at most max members. */
int sn_shred_split(const char *t, size_t len, struct sn_shred_member *m, size_t max)
{
	struct sn_jscan s;
	struct sn_jspan k, v;
	int n = 0, rc;
	if (len < 2 || t[0] != '{')
		return -1;
	sn_jscan_init(&s, t, len, NULL);
	if (sn_jscan_enter(&s))
		return -1;
	const char *expect = t + 1;
	while ((rc = sn_jscan_next_key(&s, &k)) > 0) {
		if (k.p != expect || (size_t)n == max)
			return -1;
		if (sn_jscan_skip(&s, &v) || v.p != k.p + k.len + 1)
			return -1;
		m[n].key = k;
		m[n].val = v;
		n++;
		expect = v.p + v.len + 1; /* after ',' */
	}
	if (rc < 0 || sn_jscan_finish(&s))
		return -1;
	/* The closing brace must be the last byte and follow the last value. */
	if (t[len - 1] != '}' || (n ? m[n - 1].val.p + m[n - 1].val.len : t + 1) != t + len - 1)
		return -1;
	return n;
}

/* Whether a key's bytes hold a backslash: keys are a dozen bytes, where a
 * loop the compiler vectorises costs less than a call to memchr. */
static inline bool has_backslash(const char *p, size_t n)
{
	unsigned char bad = 0;
	for (size_t i = 0; i < n; i++)
		bad |= p[i] == '\\';
	return bad;
}

/* A row's members: from the lengths the ingest's scan noted (checked
 * against the text: they must tile it exactly, with quotes around each key
 * and ':' and ',' between), else by scanning. Same result as
 * sn_shred_split on the text either way, minus its validation of every
 * byte, which the ingest already did (a third of the writer's split time
 * on the generator's events). Values' flags (SN_JSPAN_ESCAPED, _INT) are
 * not known this way and stay 0: the split's users read a value's bytes. */
static int row_members(const struct sn_event_row *r, struct sn_shred_member *m, size_t max)
{
	const char *t = r->properties.p;
	size_t len = r->properties.len;
	if (!t)
		return -1;
	if (!r->pmembers || r->npmembers > max || len < 2 || t[0] != '{' || t[len - 1] != '}')
		return sn_shred_split(t, len, m, max);
	size_t off = 1, n = r->npmembers;
	if (!n)
		return len == 2 ? 0 : sn_shred_split(t, len, m, max);
	/* Keys are checked for a backslash only when the text has one: one
	 * memchr of the row (vectorised in libc) instead of a byte loop per
	 * key, which was 2.6k instructions an event on the generator's. */
	bool bs = memchr(t, '\\', len) != NULL;
	for (size_t j = 0; j < n; j++) {
		size_t kl = r->pmembers[2 * j], vl = r->pmembers[2 * j + 1];
		/* key, ':', value, then ',' or (last) the closing brace */
		if (kl < 2 || !vl || len - off < kl + vl + 2)
			return sn_shred_split(t, len, m, max);
		const char *k = t + off, *v = k + kl + 1;
		if (k[0] != '"' || k[kl - 1] != '"' || k[kl] != ':' ||
		    v[vl] != (j + 1 < n ? ',' : '}') || (bs && has_backslash(k + 1, kl - 2)))
			return sn_shred_split(t, len, m, max);
		m[j].key = (struct sn_jspan){k, (uint32_t)kl, SN_JSTRING, 0};
		m[j].val = (struct sn_jspan){v, (uint32_t)vl, sn_jtype_of_valid(*v), 0};
		off += kl + vl + 2;
	}
	return off == len ? (int)n : sn_shred_split(t, len, m, max);
}

/* Asks for a row's properties text (its first KiB) and member lengths. */
static inline void prefetch_row_text(const struct sn_event_row *r)
{
	const char *t = r->properties.p;
	size_t len = r->properties.len < 1024 ? r->properties.len : 1024;
	for (size_t o = 0; t && o < len; o += 64)
		__builtin_prefetch(t + o);
	if (r->pmembers)
		__builtin_prefetch(r->pmembers);
}

struct keycount {
	const char *p; /* key contents (no quotes) */
	uint32_t len;
	uint32_t count;
};

static int kc_cmp(const void *a, const void *b)
{
	const struct keycount *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	int c = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

void sn_shred_release(struct sn_shred *sh)
{
	free(sh->keys);
	free(sh->slots);
	memset(sh, 0, sizeof(*sh));
}

/* Open addressing over key names (XXH3, linear probing): slot = index + 1. */
#define KTAB_SLOTS 16384 /* > 2 × the 4096 keys counted per part */

static size_t ktab_find(const uint32_t *slots, const struct keycount *kc, const char *p,
			uint32_t len, bool *found)
{
	size_t s = (size_t)sn_hash64(p, len) & (KTAB_SLOTS - 1);
	while (slots[s]) {
		const struct keycount *k = &kc[slots[s] - 1];
		if (k->len == len && !memcmp(k->p, p, len)) {
			*found = true;
			return s;
		}
		s = (s + 1) & (KTAB_SLOTS - 1);
	}
	*found = false;
	return s;
}

/* The chosen keys' table: slot = key index + 1, over sh->keys. */
static size_t key_find(const struct sn_shred *sh, const char *p, uint32_t len, bool *found)
{
	size_t s = (size_t)sn_hash64(p, len) & (KTAB_SLOTS - 1);
	while (sh->slots[s]) {
		const struct sn_str *k = &sh->keys[sh->slots[s] - 1];
		if (k->len == len && !memcmp(k->p, p, len)) {
			*found = true;
			return s;
		}
		s = (s + 1) & (KTAB_SLOTS - 1);
	}
	*found = false;
	return s;
}

void sn_shred_gran_init(struct sn_shred_gran *g)
{
	memset(g, 0, sizeof(*g));
	sn_arena_init(&g->arena, 0);
}

void sn_shred_gran_release(struct sn_shred_gran *g)
{
	sn_arena_release(&g->arena);
	free(g->vals);
	free(g->rest);
	free(g->layout);
	memset(g, 0, sizeof(*g));
}

int sn_shred_rows(const struct sn_shred *sh, const struct sn_event_row *const *rows, size_t n,
		  struct sn_shred_gran *g)
{
	struct sn_shred_member m[SHRED_MAX_MEMBERS];
	/* The previous shredded row's keys and their key indexes: an SDK sends
	 * its keys in one order, so most members match the member at the same
	 * position of the row before, and a memcmp replaces the hash lookup. */
	struct sn_jspan pkey[SHRED_MAX_MEMBERS];
	size_t pk[SHRED_MAX_MEMBERS];
	int pn = 0; /* pkey[0..pn) are set: position j is set once j is reached */
	if (n > g->cap) {
		free(g->vals);
		free(g->rest);
		free(g->layout);
		g->vals = malloc(n * (sh->nkeys ? sh->nkeys : 1) * sizeof(*g->vals));
		g->rest = malloc(n * sizeof(*g->rest));
		g->layout = malloc(n * sizeof(*g->layout));
		g->cap = g->vals && g->rest && g->layout ? n : 0;
		if (!g->cap)
			return SN_ERR_NOMEM;
	}
	/* The previous granule's strings have been encoded: drop them, keeping
	 * the chunks for this one (freeing them cost a page fault per 4 KiB
	 * of each granule's residual text: 3 % of the writer). */
	sn_arena_reset(&g->arena);
	g->n = n;
	for (size_t k = 0; k < sh->nkeys; k++)
		memset(&g->vals[k * n], 0, n * sizeof(*g->vals));
	for (size_t i = 0; i < n; i++) {
		struct sn_str pr = rows[i]->properties;
		struct sn_str *vals = &g->vals[i]; /* key-major: key k at vals[k * n] */
		if (i + 4 < n) {		   /* the text, scattered over the memtable */
			struct sn_str q = rows[i + 4]->properties;
			for (size_t o = 0; o < q.len && o < 512; o += 64)
				__builtin_prefetch(q.p + o);
		}
		int nm = row_members(rows[i], m, SHRED_MAX_MEMBERS);
		g->rest[i] = pr.p ? pr : (struct sn_str){"", 0};
		g->layout[i] = (struct sn_str){NULL, 0};
		/* An escaped key may decode to a shredded key's name ("\u0024browser"),
		 * and lookups compare decoded names: such rows stay whole. */
		for (int j = 0; j < nm; j++) {
			if (m[j].key.flags & SN_JSPAN_ESCAPED)
				nm = -1;
		}
		if (nm < 0)
			continue;
		char *lay = sn_arena_alloc(&g->arena, (size_t)nm + 1);
		char *rest = sn_arena_alloc(&g->arena, pr.len);
		if (!lay || !rest)
			return SN_ERR_NOMEM;
		size_t rl = 0;
		bool dup = false;
		rest[rl++] = '{';
		for (int j = 0; j < nm && !dup; j++) {
			size_t k;
			if (j < pn && pkey[j].len == m[j].key.len &&
			    !memcmp(pkey[j].p, m[j].key.p, m[j].key.len)) {
				k = pk[j];
			} else {
				bool found;
				size_t sl = key_find(sh, m[j].key.p + 1, m[j].key.len - 2, &found);
				k = found ? sh->slots[sl] - 1 : SIZE_MAX;
				pkey[j] = m[j].key;
				pk[j] = k;
				if (j >= pn)
					pn = j + 1;
			}
			if (k == SIZE_MAX) {
				lay[j] = 0;
				if (rl > 1)
					rest[rl++] = ',';
				/* key, ':' and value are contiguous in a compact object */
				size_t ml = (size_t)(m[j].val.p + m[j].val.len - m[j].key.p);
				memcpy(rest + rl, m[j].key.p, ml);
				rl += ml;
			} else if (vals[k * n].p) {
				dup = true;
			} else {
				lay[j] = (char)(k + 1);
				vals[k * n] = (struct sn_str){m[j].val.p, m[j].val.len};
			}
		}
		if (dup) {
			/* Not shredded: rest keeps the original text, no values. */
			for (size_t k = 0; k < sh->nkeys; k++)
				vals[k * n] = (struct sn_str){NULL, 0};
			continue;
		}
		rest[rl++] = '}';
		g->rest[i] = (struct sn_str){rest, rl};
		g->layout[i] = (struct sn_str){lay, (size_t)nm};
	}
	return 0;
}

int sn_shred_build(struct sn_shred *sh, const struct sn_event_row *const *rows, size_t nrows,
		   struct sn_err *err)
{
	struct sn_shred_member *m = malloc(SHRED_MAX_MEMBERS * sizeof(*m));
	struct keycount *kc = malloc(4096 * sizeof(*kc));
	uint32_t *slots = calloc(KTAB_SLOTS, sizeof(*slots));
	size_t nkc = 0, min_count;
	int rc = SN_ERR_NOMEM;

	memset(sh, 0, sizeof(*sh));
	if (!m || !kc || !slots)
		goto out;
	/* Count keys over an evenly strided sample of at most SHRED_SAMPLE_ROWS
	 * rows (the part is sorted by team and event, so a stride sees all of
	 * them; scanning every row twice cost 1.5x the time for the same choice
	 * on the benchmark data, and 4096 rows choose what 16384 did). Counting stops taking new
	 * keys at 4096 (the rarest keys then stay in p:@rest). */
	size_t step = nrows > SHRED_SAMPLE_ROWS ? nrows / SHRED_SAMPLE_ROWS : 1, nsample = 0;
	for (size_t i = 0; i < nrows; i += step, nsample++) {
		/* The sampled rows are far apart in the memtable: ask for the row
		 * two samples ahead, and the text and member lengths of the next
		 * one, so their misses overlap this row's work (the flusher's key
		 * choice was a third of its time, waiting on them one by one). */
		if (i + 2 * step < nrows)
			__builtin_prefetch(rows[i + 2 * step]);
		if (i + step < nrows)
			prefetch_row_text(rows[i + step]);
		int n = row_members(rows[i], m, SHRED_MAX_MEMBERS);
		for (int j = 0; j < n; j++) {
			/* Keys with escapes, and keys that would name p:@... columns, stay in
			 * the residual. */
			if (m[j].key.flags & SN_JSPAN_ESCAPED ||
			    m[j].key.len - 2 > SHRED_MAX_KEY_LEN || m[j].key.p[1] == '@')
				continue;
			const char *kp = m[j].key.p + 1;
			uint32_t kl = m[j].key.len - 2;
			bool found;
			size_t sl = ktab_find(slots, kc, kp, kl, &found);
			if (found) {
				kc[slots[sl] - 1].count++;
			} else if (nkc < 4096) {
				kc[nkc] = (struct keycount){kp, kl, 1};
				slots[sl] = (uint32_t)++nkc;
			}
		}
	}
	min_count = nsample / 100 ? nsample / 100 : 1;
	qsort(kc, nkc, sizeof(*kc), kc_cmp);
	while (sh->nkeys < nkc && sh->nkeys < SHRED_MAX_KEYS && kc[sh->nkeys].count >= min_count)
		sh->nkeys++;
	if (!sh->nkeys) {
		rc = 0;
		goto out;
	}
	sh->keys = malloc(sh->nkeys * sizeof(*sh->keys));
	if (!sh->keys)
		goto out;
	/* From here the table maps a name to its chosen key index. */
	memset(slots, 0, KTAB_SLOTS * sizeof(*slots));
	for (size_t k = 0; k < sh->nkeys; k++)
		sh->keys[k] = (struct sn_str){kc[k].p, kc[k].len};
	sh->slots = slots;
	slots = NULL;
	for (size_t k = 0; k < sh->nkeys; k++) {
		bool found;
		sh->slots[key_find(sh, sh->keys[k].p, (uint32_t)sh->keys[k].len, &found)] =
		    (uint32_t)k + 1;
	}
	rc = 0;
out:
	free(m);
	free(kc);
	free(slots);
	if (rc) {
		sn_shred_release(sh);
		return sn_err_set(err, rc, "out of memory shredding %zu rows", nrows);
	}
	return 0;
}

int sn_shred_join(struct sn_str rest, struct sn_str layout, const struct sn_str *vals,
		  const char *const *keys, const size_t *keylens, size_t nkeys, struct sn_buf *out)
{
	struct sn_shred_member m[SHRED_MAX_MEMBERS];
	int n = sn_shred_split(rest.p, rest.len, m, SHRED_MAX_MEMBERS);
	int rc = 0, next = 0;
	if (n < 0)
		return SN_ERR_CORRUPT;
	rc = sn_buf_appendc(out, '{');
	for (size_t j = 0; j < layout.len && !rc; j++) {
		uint8_t b = (uint8_t)layout.p[j];
		if (j)
			rc = sn_buf_appendc(out, ',');
		if (rc)
			break;
		if (b == 0) {
			if (next == n)
				return SN_ERR_CORRUPT;
			const struct sn_shred_member *x = &m[next++];
			rc = sn_buf_append(out, x->key.p,
					   (size_t)(x->val.p + x->val.len - x->key.p));
		} else {
			size_t k = b - 1u;
			if (k >= nkeys || !vals[k].p || !vals[k].len)
				return SN_ERR_CORRUPT;
			if (!(rc = sn_buf_appendc(out, '"')) &&
			    !(rc = sn_buf_append(out, keys[k], keylens[k])) &&
			    !(rc = sn_buf_append(out, "\":", 2)))
				rc = sn_buf_append(out, vals[k].p, vals[k].len);
		}
	}
	if (!rc && next != n)
		return SN_ERR_CORRUPT; /* the layout must use every member of rest */
	return rc ? rc : sn_buf_appendc(out, '}');
}

struct sn_str sn_prop_extract_raw(struct sn_str json, const char *key, size_t keylen)
{
	struct sn_jscan s;
	struct sn_jspan k, v;
	int rc;
	if (!json.p)
		return (struct sn_str){NULL, 0};
	sn_jscan_init(&s, json.p, json.len, NULL);
	if (sn_jscan_peek(&s) != SN_JOBJECT || sn_jscan_enter(&s))
		return (struct sn_str){NULL, 0};
	struct sn_str found = {NULL, 0};
	while ((rc = sn_jscan_next_key(&s, &k)) > 0) {
		if (sn_jscan_skip(&s, &v))
			return (struct sn_str){NULL, 0};
		if (!found.p && sn_jspan_str_eq(&k, key, keylen))
			found = (struct sn_str){v.p, v.len};
	}
	/* Like JSONExtractRaw, an invalid document yields nothing, even when the
	 * key came before the damage. */
	if (rc < 0 || sn_jscan_finish(&s))
		return (struct sn_str){NULL, 0};
	return found;
}

const char *sn_derived_prop(const char *column)
{
	if (!strcmp(column, SN_COL_NAME_SESSION_ID))
		return SN_COL_PREFIX_PROP "$session_id";
	if (!strcmp(column, SN_COL_NAME_WINDOW_ID))
		return SN_COL_PREFIX_PROP "$window_id";
	if (!strcmp(column, SN_COL_NAME_ELEMENTS_CHAIN))
		return SN_COL_PREFIX_PROP "$elements_chain";
	return NULL;
}

struct sn_str sn_derive_from_prop(struct sn_str raw)
{
	if (raw.p && raw.len >= 2 && raw.p[0] == '"' && raw.p[raw.len - 1] == '"')
		return (struct sn_str){raw.p + 1, raw.len - 2};
	return (struct sn_str){"", 0};
}
