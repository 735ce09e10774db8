/*
 * propdefs.c — PostHog's property definitions (posthog_propertydefinition)
 * in the SQLite metadata backend: what ingestion records, the type lookup
 * HogQL makes for every property it reads, and the REST API's list / get /
 * declare / change / delete.
 *
 *   ingest flush ──record(batch)──▶ one tx, one kept upsert per definition
 *   HogQL printer ──type(name)───▶ one kept point lookup on the UNIQUE index
 *   REST API ──list/get/declare/set_type/delete──▶ statements prepared per call
 *
 * A definition is keyed by (team, kind, group_type_index, name); the UNIQUE
 * constraint on that tuple is the only index the two hot statements need.
 * group_type_index is 0..4 for groups and -1 for every other kind (never
 * NULL, so the UNIQUE constraint holds: SQLite, like PostgreSQL, treats two
 * NULLs as distinct). property_type is PostHog's text ('String', 'Numeric',
 * ...) or NULL while no typed value has been seen; is_numerical always
 * follows it (Numeric or not), as PostHog's serializer sets it on a change.
 *
 * Invariant: the first typed value wins. record's upsert changes an existing
 * row only when it has no type and the new one has one, so a later event
 * with a string where a number was seen never flips a property's type (as
 * PostHog's property-defs-rs). Only a person (set_type, declare) changes a
 * known type.
 *
 * record skips, rather than fails on, rows it cannot store: names longer than
 * SN_PROPDEF_NAME_MAX bytes (or not terminated in the struct), kinds, group
 * indexes or types out of range, and teams that do not exist (the foreign key
 * refuses the INSERT of that one row; the statement's failure rolls back only
 * that statement, and the batch goes on). Ingestion may still see events of
 * a project deleted a moment ago, and one such event must not cost the
 * definitions of every other team in the flush. Any other error (I/O, a
 * full disk) rolls the whole batch back and is returned.
 *
 * Concurrency: every function runs under the meta mutex, like the rest of
 * the backend; the two hot statements are prepared once per handle
 * (sn_meta_sqlite_kept) because preparing costs more than the lookup.
 *
 * Rejected: an in-memory map of every team's types in front of the lookup.
 * The point lookup is a few microseconds on a hot page, a query reads tens
 * of properties at most, and a cache would need invalidation on every
 * record, PATCH and DELETE, from another process too (the CLI).
 */
#include "meta/meta_internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PD_COLS	 "id, team_id, type, group_type_index, name, property_type, is_numerical, created_at"
#define PAGE_MAX 1000

static const char *const type_names[] = {
    [SN_PROP_STRING] = "String",     [SN_PROP_NUMERIC] = "Numeric",   [SN_PROP_BOOLEAN] = "Boolean",
    [SN_PROP_DATETIME] = "DateTime", [SN_PROP_DURATION] = "Duration",
};
static const char *const kind_names[] = {
    [SN_PROPDEF_EVENT] = "event",
    [SN_PROPDEF_PERSON] = "person",
    [SN_PROPDEF_GROUP] = "group",
    [SN_PROPDEF_SESSION] = "session",
};

const char *sn_prop_type_name(int t)
{
	return t > SN_PROP_NONE && t <= SN_PROP_DURATION ? type_names[t] : NULL;
}

int sn_prop_type_parse(const char *s)
{
	for (int t = SN_PROP_STRING; s && t <= SN_PROP_DURATION; t++)
		if (!strcmp(s, type_names[t]))
			return t;
	return -1;
}

const char *sn_propdef_kind_name(int kind)
{
	return kind >= SN_PROPDEF_EVENT && kind <= SN_PROPDEF_SESSION ? kind_names[kind] : NULL;
}

int sn_propdef_kind_parse(const char *s)
{
	for (int k = SN_PROPDEF_EVENT; s && k <= SN_PROPDEF_SESSION; k++)
		if (!strcmp(s, kind_names[k]))
			return k;
	return -1;
}

/* ---- checks and rows ------------------------------------------------------------- */

/* Whether d can be stored; *gti is its group_type_index as stored (-1 for
 * every kind but groups), *len the name's length. Otherwise *why says what
 * is wrong, naming the field. */
static bool storable(const struct sn_propdef *d, int *gti, size_t *len, const char **why)
{
	*len = strnlen(d->name, sizeof(d->name));
	if (*len > SN_PROPDEF_NAME_MAX) {
		*why = "name: longer than 200 bytes";
		return false;
	}
	if (!sn_propdef_kind_name(d->kind)) {
		*why = "type: must be event, person, group or session";
		return false;
	}
	*gti = -1;
	if (d->kind == SN_PROPDEF_GROUP) {
		if (d->group_type_index < 0 || d->group_type_index >= SN_PROPDEF_GROUP_TYPES) {
			*why = "group_type_index: must be 0 to 4 for a group property";
			return false;
		}
		*gti = d->group_type_index;
	}
	if (d->property_type < SN_PROP_NONE || d->property_type > SN_PROP_DURATION) {
		*why = "property_type: not a known type";
		return false;
	}
	return true;
}

/* Binds ?1 team .. ?7 created_at of the INSERTs below. */
static void bind_def(sqlite3_stmt *s, const struct sn_propdef *d, int gti, size_t len, int64_t now)
{
	sqlite3_bind_int64(s, 1, d->team_id);
	sqlite3_bind_int(s, 2, d->kind);
	sqlite3_bind_int(s, 3, gti);
	sqlite3_bind_text(s, 4, d->name, (int)len, SQLITE_STATIC);
	const char *t = sn_prop_type_name(d->property_type);
	if (t)
		sqlite3_bind_text(s, 5, t, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 5);
	sqlite3_bind_int(s, 6, d->property_type == SN_PROP_NUMERIC);
	sqlite3_bind_int64(s, 7, now);
}

static int read_row(sqlite3_stmt *s, struct sn_propdef *d)
{
	memset(d, 0, sizeof(*d));
	d->id = sqlite3_column_int64(s, 0);
	d->team_id = sqlite3_column_int64(s, 1);
	d->kind = sqlite3_column_int(s, 2);
	d->group_type_index = sqlite3_column_int(s, 3);
	sn_sqlite_column_text(s, 4, d->name, sizeof(d->name));
	const unsigned char *t = sqlite3_column_text(s, 5);
	int pt = t ? sn_prop_type_parse((const char *)t) : SN_PROP_NONE;
	d->property_type = pt < 0 ? SN_PROP_NONE : pt; /* a text this binary does not know */
	d->is_numerical = sqlite3_column_int(s, 6) != 0;
	d->created_at_us = sqlite3_column_int64(s, 7);
	return 0;
}

/* One row by sql with ?1 and ?2 bound to a and b (and ?3, ?4 to gti and
 * name when name is not NULL). */
static int get_locked(sqlite3 *db, const char *sql, int64_t a, int64_t b, int gti, const char *name,
		      struct sn_propdef *out, struct sn_err *err)
{
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(db, sql, &s, err);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	if (name) {
		sqlite3_bind_int(s, 3, gti);
		sqlite3_bind_text(s, 4, name, -1, SQLITE_STATIC);
	}
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		read_row(s, out);
	else if (rc == SQLITE_DONE)
		ret = sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	else
		ret = sn_meta_sql_err(db, rc, err, "reading a property definition");
	sqlite3_finalize(s);
	return ret;
}

#define GET_BY_ID \
	"SELECT " PD_COLS " FROM posthog_propertydefinition WHERE team_id = ?1 AND id = ?2"
#define GET_BY_KEY                                                                  \
	"SELECT " PD_COLS " FROM posthog_propertydefinition WHERE team_id = ?1 AND" \
	" type = ?2 AND group_type_index = ?3 AND name = ?4"

/* ---- ingestion and HogQL ------------------------------------------------------------ */

int sn_meta_propdefs_record(struct sn_meta *m, const struct sn_propdef *defs, size_t n,
			    struct sn_err *err)
{
	if (n == 0)
		return 0;
	int64_t now = sn_now_us();
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	int ret = sn_meta_sqlite_kept(
	    m, SN_META_ST_PROPDEF_RECORD,
	    "INSERT INTO posthog_propertydefinition (team_id, type, group_type_index, name,"
	    " property_type, is_numerical, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT (team_id, type, group_type_index, name) DO UPDATE SET"
	    " property_type = excluded.property_type, is_numerical = excluded.is_numerical"
	    " WHERE posthog_propertydefinition.property_type IS NULL"
	    " AND excluded.property_type IS NOT NULL",
	    &s, err);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		int gti;
		size_t len;
		const char *why;
		if (!storable(&defs[i], &gti, &len, &why))
			continue;
		bind_def(s, &defs[i], gti, len, now);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE &&
		    sqlite3_extended_errcode(db) != SQLITE_CONSTRAINT_FOREIGNKEY)
			ret = sn_meta_sql_err(db, rc, err, "recording property definitions");
		sqlite3_reset(s); /* a missing team: only this row is skipped */
	}
	if (s)
		sqlite3_clear_bindings(s);
	ret = sn_meta_tx_end(db, ret, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_propdef_type(struct sn_meta *m, int64_t team_id, int kind, int group_type_index,
			 const char *name, int *type, struct sn_err *err)
{
	*type = SN_PROP_NONE;
	if (!name || strlen(name) > SN_PROPDEF_NAME_MAX || !sn_propdef_kind_name(kind))
		return 0; /* no such definition can exist */
	if (kind != SN_PROPDEF_GROUP)
		group_type_index = -1;
	else if (group_type_index < 0 || group_type_index >= SN_PROPDEF_GROUP_TYPES)
		return 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sqlite_kept(m, SN_META_ST_PROPDEF_TYPE,
				      "SELECT property_type FROM posthog_propertydefinition WHERE"
				      " team_id = ?1 AND type = ?2 AND group_type_index = ?3 AND"
				      " name = ?4",
				      &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int(s, 2, kind);
		sqlite3_bind_int(s, 3, group_type_index);
		sqlite3_bind_text(s, 4, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(s, 0);
			int pt = t ? sn_prop_type_parse((const char *)t) : SN_PROP_NONE;
			*type = pt < 0 ? SN_PROP_NONE : pt;
		} else if (rc != SQLITE_DONE) {
			ret = sn_meta_sql_err(db, rc, err, "reading a property type");
		}
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
	sn_meta_sqlite_unlock(m);
	return ret;
}

/* ---- the REST API's operations --------------------------------------------------------- */

/* Two WHEREs: with one kind and one group index the UNIQUE index is read in
 * name order (no sort); the general one filters within the team. Both bind
 * ?1 team, ?2 kind (0 = any), ?3 group index (-1 = any), ?4 the search's
 * words (a JSON array) or NULL, ?5 is_numerical (-1 = any), ?8 the names to
 * keep and ?9 the names to leave out (JSON arrays) or NULL. The lists are
 * JSON so one prepared text serves any number of names. PostHog's numerical
 * list leaves out distinct_id and timestamp, which are numbers but no
 * measure. */
#define WHERE_COMMON                                                     \
	" AND (?4 IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(?4) w"  \
	" WHERE instr(lower(name), lower(w.value)) = 0))"                \
	" AND (?5 < 0 OR is_numerical = ?5)"                             \
	" AND (?5 <> 1 OR name NOT IN ('distinct_id', 'timestamp'))"     \
	" AND (?8 IS NULL OR name IN (SELECT value FROM json_each(?8)))" \
	" AND (?9 IS NULL OR name NOT IN (SELECT value FROM json_each(?9)))"
#define WHERE_EXACT                                                             \
	" FROM posthog_propertydefinition WHERE team_id = ?1 AND type = ?2 AND" \
	" group_type_index = ?3" WHERE_COMMON
#define WHERE_ANY                                                            \
	" FROM posthog_propertydefinition WHERE team_id = ?1 AND (?2 = 0 OR" \
	" type = ?2) AND (?3 < 0 OR group_type_index = ?3)" WHERE_COMMON
#define ORDER " ORDER BY name, type, group_type_index LIMIT ?6 OFFSET ?7"

struct pd_filter {
	int64_t team_id;
	int kind, gti, is_numerical;
	struct sn_buf words, names, excluded; /* JSON arrays; empty: no filter */
};

static void bind_list(sqlite3_stmt *s, int i, const struct sn_buf *b)
{
	if (b->len)
		sqlite3_bind_text(s, i, b->data, (int)b->len, SQLITE_STATIC);
}

static void bind_filter(sqlite3_stmt *s, const void *ctx)
{
	const struct pd_filter *f = ctx;
	sqlite3_bind_int64(s, 1, f->team_id);
	sqlite3_bind_int(s, 2, f->kind);
	sqlite3_bind_int(s, 3, f->gti);
	bind_list(s, 4, &f->words);
	sqlite3_bind_int(s, 5, f->is_numerical);
	bind_list(s, 8, &f->names);
	bind_list(s, 9, &f->excluded);
}

/* Appends one name to the JSON array b (opening it first). */
static int json_list_add(struct sn_buf *b, const char *s, size_t n)
{
	int ret = sn_buf_appendc(b, b->len ? ',' : '[');
	return ret ? ret : sn_buf_append_json_str(b, s, n);
}

static int json_list_end(struct sn_buf *b)
{
	return b->len ? sn_buf_appendc(b, ']') : 0;
}

/* The filter's three JSON arrays: the search split at spaces (as PostHog's
 * term_search_filter_sql; no words, no filter), the names and the
 * excluded names. */
static int build_lists(struct pd_filter *f, const struct sn_propdef_list_opts *o)
{
	int ret = 0;
	for (const char *p = o->search; p && *p && !ret;) {
		size_t n = strcspn(p, " ");
		if (n)
			ret = json_list_add(&f->words, p, n);
		p += n;
		p += *p == ' ';
	}
	for (size_t i = 0; i < o->nnames && !ret; i++)
		ret = json_list_add(&f->names, o->names[i], strlen(o->names[i]));
	for (size_t i = 0; i < o->nexcluded && !ret; i++)
		ret = json_list_add(&f->excluded, o->excluded[i], strlen(o->excluded[i]));
	if (!ret)
		ret = json_list_end(&f->words);
	if (!ret)
		ret = json_list_end(&f->names);
	if (!ret)
		ret = json_list_end(&f->excluded);
	return ret;
}

static int read_list_row(sqlite3_stmt *s, void *row)
{
	return read_row(s, row);
}

int sn_meta_propdef_list(struct sn_meta *m, int64_t team_id, const struct sn_propdef_list_opts *o,
			 int64_t *total, int (*fn)(void *arg, const struct sn_propdef *d),
			 void *arg, struct sn_err *err)
{
	struct pd_filter f = {.team_id = team_id, .gti = -1, .is_numerical = -1};
	sn_buf_init(&f.words, (size_t)1 << 20);
	sn_buf_init(&f.names, (size_t)1 << 20);
	sn_buf_init(&f.excluded, (size_t)1 << 20);
	struct sn_propdef *rows = NULL;
	size_t n = 0;
	int ret = build_lists(&f, o);
	if (ret) {
		sn_err_set(err, ret, "property definitions: the list of names is too long");
		goto out;
	}
	if (sn_propdef_kind_name(o->kind)) {
		f.kind = o->kind;
		if (o->kind != SN_PROPDEF_GROUP)
			f.gti = -1; /* how every other kind is stored */
		else if (o->group_type_index >= 0)
			f.gti = o->group_type_index;
	}
	if (o->is_numerical == 0 || o->is_numerical == 1)
		f.is_numerical = o->is_numerical;
	bool exact = f.kind && (f.kind != SN_PROPDEF_GROUP || f.gti >= 0);
	const struct sn_meta_page pg = {
	    .count_sql = exact ? "SELECT COUNT(*)" WHERE_EXACT : "SELECT COUNT(*)" WHERE_ANY,
	    .page_sql =
		exact ? "SELECT " PD_COLS WHERE_EXACT ORDER : "SELECT " PD_COLS WHERE_ANY ORDER,
	    .limit_param = 6,
	    .max = PAGE_MAX,
	    .bind = bind_filter,
	    .bind_ctx = &f,
	    .row_size = sizeof(struct sn_propdef),
	    .read = read_list_row,
	    .what = "counting property definitions",
	};
	const struct sn_meta_list_opts lo = {.offset = o->offset, .limit = o->limit};
	ret = sn_meta_list_page(m, &pg, &lo, total, &rows, &n, err);
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (fn(arg, &rows[i]) != 0)
			break;
out:
	free(rows);
	sn_buf_release(&f.words);
	sn_buf_release(&f.names);
	sn_buf_release(&f.excluded);
	return ret;
}

int sn_meta_propdef_get(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_propdef *out,
			struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3 *db = sn_meta_sqlite_lock(m);
	int ret = get_locked(db, GET_BY_ID, team_id, id, 0, NULL, out, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_propdef_declare(struct sn_meta *m, const struct sn_propdef *d, struct sn_propdef *out,
			    struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	int gti;
	size_t len;
	const char *why;
	if (!storable(d, &gti, &len, &why))
		return sn_err_set(err, SN_ERR_INVALID, "%s", why);
	if (len == 0)
		return sn_err_set(err, SN_ERR_INVALID, "name: may not be blank");
	char name[SN_PROPDEF_NAME_MAX + 1];
	memcpy(name, d->name, len);
	name[len] = 0;
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	/* A declared type replaces a known one; none leaves it alone. */
	int ret = sn_meta_sql_prep(
	    db,
	    "INSERT INTO posthog_propertydefinition (team_id, type, group_type_index, name,"
	    " property_type, is_numerical, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT (team_id, type, group_type_index, name) DO UPDATE SET"
	    " property_type = excluded.property_type, is_numerical = excluded.is_numerical"
	    " WHERE excluded.property_type IS NOT NULL",
	    &s, err);
	if (ret == 0) {
		bind_def(s, d, gti, len, sn_now_us());
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE &&
		    sqlite3_extended_errcode(db) == SQLITE_CONSTRAINT_FOREIGNKEY)
			ret = sn_err_set(err, SN_ERR_NOT_FOUND, "no such project");
		else if (rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "declaring a property definition");
	}
	sqlite3_finalize(s);
	if (ret == 0)
		ret = get_locked(db, GET_BY_KEY, d->team_id, d->kind, gti, name, out, err);
	ret = sn_meta_tx_end(db, ret, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_propdef_set_type(struct sn_meta *m, int64_t team_id, int64_t id, int property_type,
			     struct sn_propdef *out, struct sn_err *err)
{
	memset(out, 0, sizeof(*out));
	if (property_type < SN_PROP_NONE || property_type > SN_PROP_DURATION)
		return sn_err_set(err, SN_ERR_INVALID, "property_type: not a known type");
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	sn_meta_tx_begin(db);
	int ret = sn_meta_sql_prep(db,
				   "UPDATE posthog_propertydefinition SET property_type = ?3,"
				   " is_numerical = ?4 WHERE team_id = ?1 AND id = ?2",
				   &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, id);
		const char *t = sn_prop_type_name(property_type);
		if (t)
			sqlite3_bind_text(s, 3, t, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 4, property_type == SN_PROP_NUMERIC);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "changing a property type");
		else if (sqlite3_changes(db) == 0)
			ret = sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	}
	sqlite3_finalize(s);
	if (ret == 0)
		ret = get_locked(db, GET_BY_ID, team_id, id, 0, NULL, out, err);
	ret = sn_meta_tx_end(db, ret, err);
	sn_meta_sqlite_unlock(m);
	return ret;
}

int sn_meta_propdef_delete(struct sn_meta *m, int64_t team_id, int64_t id, struct sn_err *err)
{
	sqlite3 *db = sn_meta_sqlite_lock(m);
	sqlite3_stmt *s = NULL;
	int ret = sn_meta_sql_prep(
	    db, "DELETE FROM posthog_propertydefinition WHERE team_id = ?1 AND id = ?2", &s, err);
	if (ret == 0) {
		sqlite3_bind_int64(s, 1, team_id);
		sqlite3_bind_int64(s, 2, id);
		int rc = sqlite3_step(s);
		if (rc != SQLITE_DONE)
			ret = sn_meta_sql_err(db, rc, err, "deleting a property definition");
		else if (sqlite3_changes(db) == 0)
			ret = sn_err_set(err, SN_ERR_NOT_FOUND, "Not found.");
	}
	sqlite3_finalize(s);
	sn_meta_sqlite_unlock(m);
	return ret;
}
