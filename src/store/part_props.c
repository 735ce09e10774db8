/*
 * part_props.c — reading properties from a part, shredded or not, with
 * PostHog's value semantics (hogql.md §4.2).
 *
 * A part written without shredding (or whose rows had no common keys) has
 * a `properties` column; a shredded one has p:@rest, p:@layout and p:<key>
 * columns instead (shred.c draws them). The two functions here hide the
 * difference, so a key shredded in one part and not in another reads the
 * same, and the whole object reads back byte for byte:
 *
 *   sn_part_read_property(key)   p:<key> if the part has it (rows with a
 *                                NULL layout fall back to their p:@rest
 *                                text); else all NULL, read from nothing,
 *                                when the part's residual key set is known
 *                                and lacks key; else a scan of
 *                                properties/p:@rest
 *   sn_part_read_properties()    properties, or p:@rest + p:@layout +
 *                                every p:<key>, joined per row
 *   sn_part_read_property_coded  sn_part_read_property as codes into a
 *                                dictionary (store.h): the key's column
 *                                read as codes and §4.2 applied once per
 *                                entry when every row of the range was
 *                                shredded, else an entry per row
 *
 * The residual key set (keyset.c) is what makes the middle case free: the
 * scan it replaces decompresses and parses every row's residual JSON only to
 * find nothing, which is most of the cost of a filter on a key no event of
 * the part sends. Parts without a set (version 1, or past its caps) scan.
 *
 * Scanning goes through base's validating JSON scanner; a value is the raw
 * text between its first and last byte, with one leading and one trailing
 * quote removed, and a missing key or JSON null is NULL.
 */
#include "store/shred.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int read_named_some(struct sn_part *p, const char *name, size_t gb, size_t ge,
			   const uint8_t *need, struct sn_arena *arena, struct sn_colvec *out,
			   struct sn_err *err)
{
	int c = sn_part_find_column(p, name);
	if (c < 0)
		return SN_ERR_NOT_FOUND;
	int rc = sn_part_read_column_some(p, (size_t)c, gb, ge, need, arena, out, err);
	if (!rc && out->type != SN_COL_STRING)
		return sn_err_set(err, SN_ERR_CORRUPT, "column %s is not a string column", name);
	return rc;
}

static int read_named(struct sn_part *p, const char *name, size_t gb, size_t ge,
		      struct sn_arena *arena, struct sn_colvec *out, struct sn_err *err)
{
	return read_named_some(p, name, gb, ge, NULL, arena, out, err);
}

static struct sn_str col_str(const struct sn_colvec *v, size_t i)
{
	if (v->nulls && v->nulls[i])
		return (struct sn_str){NULL, 0};
	return v->str[i];
}

/* Whether key has its own p:<key> column in p; name gets the column name. */
static bool shredded(const struct sn_part *p, const char *key, size_t keylen, char name[256])
{
	if (key[0] == '@' || keylen + sizeof(SN_COL_PREFIX_PROP) > 256)
		return false;
	snprintf(name, 256, "%s%s", SN_COL_PREFIX_PROP, key);
	return sn_part_find_column(p, name) >= 0;
}

/* Whether the residual JSON of p may hold key: unknown sets say yes. */
static bool in_residual(const struct sn_part *p, const char *key, size_t keylen)
{
	const struct sn_str *keys;
	size_t n;
	return !sn_part_residual_keys(p, &keys, &n) || sn_keyset_find(keys, n, key, keylen);
}

bool sn_part_may_have_property(const struct sn_part *p, const char *key)
{
	char name[256];
	size_t keylen = strlen(key);
	return shredded(p, key, keylen, name) || in_residual(p, key, keylen);
}

/* Rows [gb, ge) of p, all NULL: a key the part cannot hold. */
static int all_null(struct sn_part *p, const char *key, size_t gb, size_t ge,
		    struct sn_arena *arena, struct sn_colvec *out, struct sn_err *err)
{
	size_t ng = sn_part_ngranules(p), n = 0;
	if (gb > ge || ge > ng)
		return sn_err_set(err, SN_ERR_INVALID, "no granules [%zu, %zu) of %zu", gb, ge, ng);
	for (size_t g = gb; g < ge; g++)
		n += sn_part_granule(p, g)->nrows;
	out->type = SN_COL_STRING;
	out->nrows = n;
	out->str = sn_arena_alloc(arena, (n ? n : 1) * sizeof(*out->str));
	out->nulls = sn_arena_alloc(arena, n ? n : 1);
	if (!out->str || !out->nulls) {
		memset(out, 0, sizeof(*out));
		return sn_err_set(err, SN_ERR_NOMEM, "query memory limit reading property %s", key);
	}
	for (size_t i = 0; i < n; i++)
		out->str[i] = (struct sn_str){"", 0};
	memset(out->nulls, 1, n);
	return 0;
}

size_t sn_part_property_blocks(const struct sn_part *p, const char *key, size_t gb, size_t ge)
{
	char name[256];
	size_t keylen = strlen(key), n = 0;
	if (!shredded(p, key, keylen, name))
		return in_residual(p, key, keylen) ? 4 * (ge - gb) : 0;
	int kc = sn_part_find_column(p, name), lc = sn_part_find_column(p, SN_COL_NAME_LAYOUT);
	for (size_t g = gb; g < ge; g++) {
		n += sn_part_block_nulls(p, (size_t)kc, g) != SN_BNULLS_ALL;
		if (lc >= 0 && sn_part_block_nulls(p, (size_t)lc, g) != SN_BNULLS_NONE)
			n += 2; /* the layout, and the residual text of rows left whole */
	}
	return n;
}

int sn_part_read_property(struct sn_part *p, const char *key, size_t gb, size_t ge,
			  struct sn_arena *arena, struct sn_colvec *out, struct sn_err *err)
{
	return sn_part_read_property_some(p, key, gb, ge, NULL, arena, out, err);
}

int sn_part_read_property_some(struct sn_part *p, const char *key, size_t gb, size_t ge,
			       const uint8_t *need, struct sn_arena *arena, struct sn_colvec *out,
			       struct sn_err *err)
{
	struct sn_colvec kv = {0}, lay = {0}, base = {0};
	char name[256];
	size_t keylen = strlen(key);
	bool has_col, need_base = true, key_none = false;
	int rc;

	memset(out, 0, sizeof(*out));
	has_col = shredded(p, key, keylen, name);
	if (!has_col && !in_residual(p, key, keylen))
		return all_null(p, key, gb, ge, arena, out, err);
	if (has_col) {
		/* The block-nulls section spares reads: the layout's only when
		 * some row was not shredded (its rows read the residual text),
		 * the key's column when no row has the key. */
		int lc = sn_part_find_column(p, SN_COL_NAME_LAYOUT),
		    kc = sn_part_find_column(p, name);
		if (lc < 0)
			goto corrupt;
		bool lay_full = true;
		key_none = true;
		for (size_t g = gb; g < ge && (lay_full || key_none); g++) {
			if (need && g < sn_part_ngranules(p) && !need[g - gb])
				continue;
			lay_full &= sn_part_block_nulls(p, (size_t)lc, g) == SN_BNULLS_NONE;
			key_none &= sn_part_block_nulls(p, (size_t)kc, g) == SN_BNULLS_ALL;
		}
		if (lay_full && key_none)
			return all_null(p, key, gb, ge, arena, out, err);
		if (!key_none && (rc = read_named_some(p, name, gb, ge, need, arena, &kv, err)))
			goto out;
		if (lay_full) {
			need_base = false;
		} else {
			rc = read_named_some(p, SN_COL_NAME_LAYOUT, gb, ge, need, arena, &lay, err);
			if (rc == SN_ERR_NOT_FOUND)
				goto corrupt;
			if (rc)
				goto out;
			need_base = lay.nulls != NULL; /* some rows were not shredded */
		}
	}
	if (need_base) {
		rc = read_named_some(p, SN_COL_NAME_PROPERTIES, gb, ge, need, arena, &base, err);
		if (rc == SN_ERR_NOT_FOUND)
			rc = read_named_some(p, SN_COL_NAME_REST, gb, ge, need, arena, &base, err);
		if (rc == SN_ERR_NOT_FOUND)
			goto corrupt;
		if (rc)
			goto out;
	}
	/* key_none: the layout was read (the range is not all NULL) */
	size_t n = !has_col ? base.nrows : key_none ? lay.nrows : kv.nrows;
	out->type = SN_COL_STRING;
	out->nrows = n;
	out->str = sn_arena_alloc(arena, (n ? n : 1) * sizeof(*out->str));
	out->nulls = sn_arena_alloc(arena, n ? n : 1);
	if (!out->str || !out->nulls) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "query memory limit reading property %s", key);
		goto out;
	}
	if (has_col && !key_none && !lay.nulls) {
		/* Every row reads the key's column: §4.2 (sn_prop_value) in one
		 * tight loop over it. */
		const struct sn_str *ks = kv.str;
		const uint8_t *kn = kv.nulls;
		struct sn_str *os = out->str;
		uint8_t *on = out->nulls;
		for (size_t i = 0; i < n; i++) {
			struct sn_str raw = kn && kn[i] ? (struct sn_str){NULL, 0} : ks[i];
			on[i] = !sn_prop_value(raw, &os[i]);
			if (on[i])
				os[i] = (struct sn_str){"", 0};
		}
		rc = 0;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct sn_str raw;
		if (has_col && !(lay.nulls && lay.nulls[i]))
			raw = key_none ? (struct sn_str){NULL, 0} : col_str(&kv, i);
		else
			raw = sn_prop_extract_raw(col_str(&base, i), key, keylen);
		out->nulls[i] = !sn_prop_value(raw, &out->str[i]);
		if (out->nulls[i])
			out->str[i] = (struct sn_str){"", 0};
	}
	rc = 0;
	goto out;
corrupt:
	rc = sn_err_set(err, SN_ERR_CORRUPT, "part has p:%s but not its companion columns", key);
out:
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* v, read row by row, as codes: an entry per row. */
static int coded_from_rows(struct sn_arena *arena, struct sn_colvec *v, const char *key,
			   struct sn_err *err)
{
	size_t n = v->nrows;
	uint32_t *codes = sn_arena_alloc(arena, (n ? n : 1) * sizeof(*codes));
	struct sn_str *dict = sn_arena_alloc(arena, (n + 1) * sizeof(*dict));
	uint8_t *dn = sn_arena_alloc(arena, n + 1);
	if (!codes || !dict || !dn) {
		memset(v, 0, sizeof(*v));
		return sn_err_set(err, SN_ERR_NOMEM, "query memory limit reading property %s", key);
	}
	dict[0] = (struct sn_str){"", 0};
	dn[0] = 1;
	for (size_t i = 0; i < n; i++) {
		codes[i] = (uint32_t)i + 1;
		dict[i + 1] = v->str[i];
		dn[i + 1] = v->nulls && v->nulls[i];
	}
	v->str = NULL;
	v->nulls = NULL;
	v->codes = codes;
	v->dict = dict;
	v->dict_nulls = dn;
	v->ndict = n + 1;
	return 0;
}

int sn_part_read_property_coded(struct sn_part *p, const char *key, size_t gb, size_t ge,
				const uint8_t *need, struct sn_arena *arena, struct sn_colvec *out,
				struct sn_err *err)
{
	char name[256];
	size_t keylen = strlen(key);
	int rc;
	memset(out, 0, sizeof(*out));
	if (shredded(p, key, keylen, name)) {
		int lc = sn_part_find_column(p, SN_COL_NAME_LAYOUT),
		    kc = sn_part_find_column(p, name);
		if (lc < 0)
			return sn_err_set(err, SN_ERR_CORRUPT,
					  "part has p:%s but not its companion columns", key);
		bool lay_full = true;
		for (size_t g = gb; g < ge && lay_full; g++)
			if (!need || g >= sn_part_ngranules(p) || need[g - gb])
				lay_full = sn_part_block_nulls(p, (size_t)lc, g) == SN_BNULLS_NONE;
		if (lay_full) {
			/* every row reads the key's column: §4.2 once per entry */
			if ((rc = sn_part_read_column_coded(p, (size_t)kc, gb, ge, need, arena, out,
							    err)))
				return rc;
			out->dict_nulls[0] = 1;
			for (size_t k = 1; k < out->ndict; k++)
				if (!out->dict_nulls[k] &&
				    !sn_prop_value(out->dict[k], &out->dict[k])) {
					out->dict_nulls[k] = 1;
					out->dict[k] = (struct sn_str){"", 0};
				}
			return 0;
		}
	}
	if ((rc = sn_part_read_property_some(p, key, gb, ge, need, arena, out, err)))
		return rc;
	return coded_from_rows(arena, out, key, err);
}

int sn_part_read_properties(struct sn_part *p, size_t gb, size_t ge, struct sn_arena *arena,
			    struct sn_colvec *out, struct sn_err *err)
{
	struct sn_colvec rest = {0}, lay = {0}, *vals = NULL;
	const char **keys = NULL;
	size_t *keylens = NULL, nkeys = 0;
	struct sn_str *row_vals = NULL;
	struct sn_buf b;
	int rc;

	memset(out, 0, sizeof(*out));
	sn_buf_init(&b, SN_PART_MAX_BLOCK_SIZE);
	rc = read_named(p, SN_COL_NAME_PROPERTIES, gb, ge, arena, out, err);
	if (rc != SN_ERR_NOT_FOUND)
		goto out; /* an unshredded part, or an error */
	if ((rc = read_named(p, SN_COL_NAME_REST, gb, ge, arena, &rest, err)) ||
	    (rc = read_named(p, SN_COL_NAME_LAYOUT, gb, ge, arena, &lay, err))) {
		if (rc == SN_ERR_NOT_FOUND)
			rc = sn_err_set(err, SN_ERR_CORRUPT, "part has no properties columns");
		goto out;
	}
	/* The shredded keys in layout order: p:<key> columns in directory order. */
	size_t ncols = sn_part_ncolumns(p);
	vals = calloc(ncols, sizeof(*vals));
	keys = calloc(ncols, sizeof(*keys));
	keylens = calloc(ncols, sizeof(*keylens));
	row_vals = calloc(ncols, sizeof(*row_vals));
	if (!vals || !keys || !keylens || !row_vals) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory reading properties");
		goto out;
	}
	for (size_t c = 0; c < ncols; c++) {
		const char *nm = sn_part_column(p, c)->name;
		if (strncmp(nm, SN_COL_PREFIX_PROP, 2) || nm[2] == '@')
			continue;
		if ((rc = read_named(p, nm, gb, ge, arena, &vals[nkeys], err)))
			goto out;
		keys[nkeys] = nm + 2;
		keylens[nkeys] = strlen(nm + 2);
		nkeys++;
	}
	size_t n = rest.nrows;
	out->type = SN_COL_STRING;
	out->nrows = n;
	out->str = sn_arena_alloc(arena, (n ? n : 1) * sizeof(*out->str));
	if (!out->str) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "query memory limit reading properties");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (lay.nulls && lay.nulls[i]) {
			out->str[i] = rest.str[i];
			continue;
		}
		for (size_t k = 0; k < nkeys; k++)
			row_vals[k] = col_str(&vals[k], i);
		sn_buf_reset(&b);
		rc = sn_shred_join(rest.str[i], lay.str[i], row_vals, keys, keylens, nkeys, &b);
		if (rc) {
			rc = sn_err_set(err, rc == SN_ERR_CORRUPT ? SN_ERR_CORRUPT : rc,
					"row %zu: shredded properties do not fit together", i);
			goto out;
		}
		char *t = sn_arena_alloc(arena, b.len ? b.len : 1);
		if (!t) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "query memory limit reading properties");
			goto out;
		}
		memcpy(t, b.data, b.len);
		out->str[i] = (struct sn_str){t, b.len};
	}
	rc = 0;
out:
	if (rc)
		memset(out, 0, sizeof(*out));
	sn_buf_release(&b);
	free(vals);
	free(keys);
	free(keylens);
	free(row_vals);
	return rc;
}
