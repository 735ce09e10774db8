/*
 * shred.h — property shredding, shared by the part writer and reader (see
 * shred.c for the layout of a shredded part). Internal to store/.
 */
#ifndef SN_STORE_SHRED_H
#define SN_STORE_SHRED_H

#include <string.h>

#include "store/store_internal.h"

#define SN_COL_NAME_REST   "p:@rest"
#define SN_COL_NAME_LAYOUT "p:@layout"
#define SN_COL_PREFIX_PROP "p:"

struct sn_shred_member {
	struct sn_jspan key;
	struct sn_jspan val;
};

/* The shredding of one part: the chosen keys (they point into the rows'
 * text) and a hash table from a key's name to its index. */
struct sn_shred {
	struct sn_str *keys; /* nkeys chosen keys (contents, no quotes) */
	size_t nkeys;	     /* 0: the part is not shredded */
	uint32_t *slots;     /* key index + 1 by hash of the name */
};

/* The pieces of the n rows of one granule, split by sn_shred_rows. rest and
 * layout strings live in arena or point into the rows; values point into the
 * rows. Reused from granule to granule (one per writer thread). */
struct sn_shred_gran {
	struct sn_arena arena;
	size_t n, cap;
	struct sn_str *vals;   /* nkeys × n raw values (key-major), p == NULL: absent */
	struct sn_str *rest;   /* n residual objects */
	struct sn_str *layout; /* n layouts, p == NULL: row not shredded */
};

int sn_shred_split(const char *t, size_t len, struct sn_shred_member *m, size_t max);
/* Chooses the part's keys from a sample of its rows. SN_ERR_NOMEM. */
int sn_shred_build(struct sn_shred *sh, const struct sn_event_row *const *rows, size_t nrows,
		   struct sn_err *err);
/* Splits rows[0..n) (one granule) into g, replacing what g held. Reads sh
 * only, so threads may split different granules at once. SN_ERR_NOMEM. */
int sn_shred_rows(const struct sn_shred *sh, const struct sn_event_row *const *rows, size_t n,
		  struct sn_shred_gran *g);
void sn_shred_gran_init(struct sn_shred_gran *g);
void sn_shred_gran_release(struct sn_shred_gran *g);
void sn_shred_release(struct sn_shred *sh);
/* A residual key set being collected (keyset.c): the distinct decoded names
 * of the top-level keys of residual objects, up to SN_PART_KEYSET_MAX_KEYS
 * names and SN_PART_KEYSET_MAX_BYTES bytes of names. The writer keeps one per
 * thread and merges them. Names are copied into names. */
struct sn_keyset_ent {
	uint32_t off, len; /* the name is names.data[off, off + len) */
	uint32_t slot;	   /* its slot in the hash table */
	uint64_t hash;
};
struct sn_keyset {
	struct sn_keyset_ent *ents; /* SN_PART_KEYSET_MAX_KEYS, allocated on first use */
	uint32_t *slots;	    /* entry index + 1 by hash of the name */
	size_t n;
	bool over;	     /* passed a cap: the set is unknown */
	struct sn_buf names; /* at most SN_PART_KEYSET_MAX_BYTES */
	struct sn_buf tmp;   /* the decoded name of an escaped key */
};
void sn_keyset_init(struct sn_keyset *ks);
void sn_keyset_release(struct sn_keyset *ks);
/* Adds the top-level keys of text when it is a valid JSON object (what
 * sn_prop_extract_raw finds keys in); any other text adds nothing. Passing a
 * cap sets ks->over, which is not an error. SN_ERR_NOMEM. */
int sn_keyset_add_object(struct sn_keyset *ks, struct sn_str text);
/* Adds src's names to dst; dst is over when either is. SN_ERR_NOMEM. */
int sn_keyset_merge(struct sn_keyset *dst, const struct sn_keyset *src);
/* Appends the on-disk body of the set (ks->over must be false): u32 count,
 * then each name as u16 length and bytes, in sn_keyset_cmp order. */
int sn_keyset_encode(const struct sn_keyset *ks, struct sn_buf *out);
/* The order of names on disk: bytewise, a prefix before the longer name. */
int sn_keyset_cmp(struct sn_str a, struct sn_str b);
/* Whether name is in keys[0..n) (sorted by sn_keyset_cmp). O(log n). */
bool sn_keyset_find(const struct sn_str *keys, size_t n, const char *name, size_t len);

/* Rebuilds one row's object text into out from its pieces. SN_ERR_CORRUPT
 * when they do not fit together. */
int sn_shred_join(struct sn_str rest, struct sn_str layout, const struct sn_str *vals,
		  const char *const *keys, const size_t *keylens, size_t nkeys, struct sn_buf *out);
/* hogql.md §4.2 on a raw JSON value: returns 0 with out NULL for missing or
 * null, else 1 with out = raw minus one leading and one trailing quote. */
static inline int sn_prop_value(struct sn_str raw, struct sn_str *out)
{
	/* §4.2: missing ('') and JSON null are NULL; strip one leading and one
	 * trailing double quote (replaceRegexpAll(x, '^"|"$', '')). Inline:
	 * property reads call it for every row. */
	if (!raw.p || !raw.len || (raw.len == 4 && !memcmp(raw.p, "null", 4))) {
		*out = (struct sn_str){NULL, 0};
		return 0;
	}
	const char *p = raw.p;
	size_t len = raw.len;
	size_t lead = p[0] == '"';
	p += lead;
	len -= lead;
	len -= len && p[len - 1] == '"';
	*out = (struct sn_str){p, len};
	return 1;
}
/* The raw value text of key in a JSON object text (first match), or a NULL
 * string when the key is absent or the text is not a valid object. */
struct sn_str sn_prop_extract_raw(struct sn_str json, const char *key, size_t keylen);

#endif
