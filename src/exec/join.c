/*
 * join.c — persons in the embedded executor: events.person_id with merge
 * overrides, the lazy joins of events to persons, distinct ids and groups,
 * and scans of the person store's tables in FROM.
 *
 * Person mode is person_id_override_properties_joined (hogql.md §5.9, the
 * same as the ClickHouse printer's, docs/HOGQL.md):
 *
 *   person_id        = override(stored person_id) — the map is read once
 *                      per query (sn_persons_overrides), it is flat
 *   person.*         = LEFT join of persons on that person_id
 *   pdi.*            = INNER join of live distinct ids on distinct_id
 *   group_N.*        = LEFT join of groups of type N on $group_N
 *   session.*        = LEFT join of the derived sessions on $session_id
 *                      (sessions.c builds and probes it; xref_of and
 *                      join_fill only route to it)
 *
 * Each join is a hash join whose build side is the part of the person
 * store the scanned events reference, built as the scan goes: every batch
 * looks its keys up in a per-query hash table (struct gtab, key → dense
 * id), inserts the ones it has not seen as "pending", fetches all pending
 * keys from SQLite in one batched read (SN_PERSONS_READ_BATCH keys a
 * statement) and then probes. So each person, distinct id or group is read
 * once per query however many events reference it, and the build side
 * holds only what the query touched. It lives in the query arena: the
 * memory budget bounds it, and exceeding it is an error naming the join.
 *
 *   batch keys ─▶ gtab probe ─miss─▶ pending ─▶ sn_persons_read(keys) ─▶ info[id]
 *                      └─hit────────────────────────────────────────────▶ vector
 *
 * A joined property (person.properties.email) is extracted from the
 * stored JSON text with §4.2 semantics (raw JSON, one pair of quotes
 * stripped, missing or null → NULL) once per (person, key) and cached.
 * Missing rows of a LEFT join read NULL (the resolver types these fields
 * nullable) where ClickHouse without join_use_nulls would give defaults.
 *
 * A scan split over threads cannot build as it goes (one SQLite handle,
 * one table): join_freeze_persons reads the whole team first, extracts the
 * joined person properties for every person, and marks the side frozen;
 * the threads then only probe it (gtab_get), and a person id the team
 * lacks reads NULL, as a LEFT join does. Distinct-id and group joins keep
 * the scan on one thread.
 *
 * Tables in FROM (persons, person_distinct_ids, groups, cohort_people,
 * static_cohort_people) are read whole for the team into the query arena
 * and fed to the pipeline in batches.
 *
 * Rejected alternative: two passes (collect every person id of the scan,
 * then fetch and join). It fetches the same set, but needs the scan's rows
 * or a second scan; per-batch build keeps the single pass.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/exec_internal.h"

#define TABLE_BATCH 4096

struct pinfo {
	bool found;
	bool is_identified;
	int64_t created_at_us;
	struct sn_str props;
};

/* Extracted values of one joined property key, by build-side id. */
struct pcache {
	struct sn_str *v; /* p NULL: not extracted yet; NULLMARK: NULL */
	size_t cap;
};

struct trow { /* a person-store row of a FROM table */
	struct sn_str s0, s1;
	int64_t n0, n1;
	bool flag;
};

struct xjoin {
	bool ovr_loaded;
	struct gtab ovr; /* old person id's 16 bytes → ovr_to[id] */
	struct sn_uuid *ovr_to;
	size_t ovr_cap;

	struct gtab pers; /* person uuid → pinfo */
	struct pinfo *pi;
	size_t pi_cap;
	bool pers_init;
	size_t pers_fetched; /* persons asked for by key so far */
	int64_t pers_team;   /* the team's persons (-1: not counted yet) */
	bool pers_all;	     /* every person of the team is in pers */
	bool pers_frozen;    /* pers is read-only (scanner threads share it) */

	struct gtab pdi; /* distinct id → pdi_to[id] (len 0: none) */
	struct sn_str *pdi_to;
	size_t pdi_cap;
	bool pdi_init;

	struct gtab grp[SN_GROUP_TYPES_MAX]; /* key → gi */
	struct pinfo *gi[SN_GROUP_TYPES_MAX];
	size_t gi_cap[SN_GROUP_TYPES_MAX];
	bool grp_init[SN_GROUP_TYPES_MAX];

	struct pcache pc[XMAX_COLS];

	/* the pending keys of the current fetch */
	const char **keys;
	size_t nkeys, keys_cap;
	int gidx; /* of the group fetch */
};

static int join_nomem(struct xctx *c, const char *what)
{
	return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError",
		     "Joining %s exceeded the query memory limit of %zu bytes", what, c->mem_limit);
}

static void *jalloc(struct xctx *c, size_t n, const char *what)
{
	void *p = sn_arena_alloc(c->qa, n ? n : 1);
	if (!p)
		join_nomem(c, what);
	return p;
}

/* Grows a parallel array to hold index need (zeroing the new part). */
static int grow(struct xctx *c, void **arr, size_t *cap, size_t need, size_t elsize,
		const char *what)
{
	if (need < *cap)
		return 0;
	size_t nc = *cap ? *cap : 64;
	while (nc <= need)
		nc *= 2;
	uint8_t *p = jalloc(c, nc * elsize, what);
	if (!p)
		return c->rc;
	memset(p, 0, nc * elsize);
	if (*cap)
		memcpy(p, *arr, *cap * elsize);
	*arr = p;
	*cap = nc;
	return 0;
}

static struct sn_str copy_str(struct xctx *c, const char *s, size_t len, const char *what)
{
	char *p = jalloc(c, len + 1, what);
	if (!p)
		return (struct sn_str){NULL, 0};
	memcpy(p, s, len);
	p[len] = 0;
	return (struct sn_str){p, len};
}

static struct xjoin *J(struct xctx *c)
{
	if (!c->join) {
		c->join = jalloc(c, sizeof(*c->join), "persons");
		if (c->join)
			memset(c->join, 0, sizeof(*c->join));
	}
	return c->join;
}

void join_release(struct xctx *c)
{
	c->join = NULL; /* everything lives in the query arena */
}

/* ---- §4.2 on stored JSON text --------------------------------------------------- */

/* The value of top-level key in a JSON object text: 1 and *out (pointing
 * into json), or 0 for NULL (missing key, JSON null, not an object). */
static int json_prop(struct sn_str json, const char *key, struct sn_str *out)
{
	struct sn_jscan s;
	struct sn_jspan k, v;
	size_t klen = strlen(key);
	sn_jscan_init(&s, json.p, json.len, NULL);
	if (sn_jscan_peek(&s) != SN_JOBJECT || sn_jscan_enter(&s) < 0)
		return 0;
	int rc;
	while ((rc = sn_jscan_next_key(&s, &k)) > 0) {
		if (sn_jscan_skip(&s, &v) < 0)
			return 0;
		if (!sn_jspan_str_eq(&k, key, klen))
			continue;
		if (v.type == SN_JNULL)
			return 0;
		const char *p = v.p;
		size_t len = v.len;
		if (len && p[0] == '"') {
			p++;
			len--;
		}
		if (len && p[len - 1] == '"')
			len--;
		*out = (struct sn_str){p, len};
		return 1;
	}
	return 0;
}

/* ---- column references ----------------------------------------------------------- */

static bool is_table(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

static int ref_unsupported(struct xctx *c, const node_t *n, const char *const *ch, size_t nch)
{
	char what[200];
	size_t k = 0;
	what[0] = 0;
	k += (size_t)snprintf(what, sizeof(what), "the field ");
	for (size_t i = 0; i < nch && k < sizeof(what); i++)
		k += (size_t)snprintf(what + k, sizeof(what) - k, "%s%s", i ? "." : "", ch[i]);
	return xunsupported(c, n, what);
}

static const char *const EVENTS_COLS[] = {
    SN_COL_NAME_UUID,
    SN_COL_NAME_EVENT,
    SN_COL_NAME_TIMESTAMP,
    SN_COL_NAME_TEAM_ID,
    SN_COL_NAME_DISTINCT_ID,
    SN_COL_NAME_ELEMENTS_CHAIN,
    SN_COL_NAME_CREATED_AT,
    SN_COL_NAME_SESSION_ID,
    SN_COL_NAME_WINDOW_ID,
    "$group_0",
    "$group_1",
    "$group_2",
    "$group_3",
    "$group_4",
};

/* One more step below a property, onto r's path: 1, or the error. */
static int path_push(struct xctx *c, const node_t *n, struct xref *r, struct xpath_el el)
{
	if (r->npath == XREF_PATH_MAX)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "A property path can name at most %d keys below the property",
			     XREF_PATH_MAX);
	r->path[r->npath++] = el;
	return 1;
}

/* Keys ch[0..nch) below a property, onto r's path. */
static int set_path(struct xctx *c, const node_t *n, const char *const *ch, size_t nch,
		    struct xref *r)
{
	for (size_t i = 0; i < nch; i++)
		if (path_push(c, n, r, (struct xpath_el){.key = ch[i]}) < 0)
			return c->rc;
	return 1;
}

static int events_ref(struct xctx *c, const node_t *n, const char *const *ch, size_t nch,
		      struct xref *r)
{
	const char *f = ch[0];
	if (nch == 1)
		for (size_t i = 0; i < SN_ARRAY_LEN(EVENTS_COLS); i++)
			if (strcmp(f, EVENTS_COLS[i]) == 0) {
				r->kind = XC_STORE;
				r->name = EVENTS_COLS[i];
				return 1;
			}
	if (strcmp(f, "person_mode") == 0 && nch == 1) {
		/* PostHog stores how ingestion treated the person; snout keeps
		 * no such column: 'propertyless' for an event sent with
		 * $process_person_profile false, else 'full' (docs/HOGQL.md),
		 * read from the whole properties (xjson_person_mode) */
		r->kind = XC_PROPS;
		r->name = SN_COL_NAME_PROPERTIES;
		r->derive = XD_PERSON_MODE;
		return 1;
	}
	if (strcmp(f, "properties") == 0) {
		if (nch == 1) {
			r->kind = XC_PROPS;
			r->name = SN_COL_NAME_PROPERTIES;
			return 1;
		}
		r->kind = XC_PROP;
		r->name = ch[1];
		return set_path(c, n, ch + 2, nch - 2, r);
	}
	if (strcmp(f, "person_id") == 0 && nch == 1) {
		r->kind = XC_PERSON_ID;
		r->name = "person_id";
		return 1;
	}
	if (strcmp(f, "person") == 0 && nch >= 2) {
		const char *g = ch[1];
		if (strcmp(g, "id") == 0 && nch == 2) {
			r->kind = XC_PERSON_ID;
			r->name = "person_id";
			return 1;
		}
		if ((strcmp(g, "created_at") == 0 || strcmp(g, "is_identified") == 0) && nch == 2) {
			r->kind = XC_PERSON;
			r->name = g;
			return 1;
		}
		if (strcmp(g, "properties") == 0) {
			r->kind = XC_PERSON;
			r->name = "properties";
			r->key = nch >= 3 ? ch[2] : NULL;
			return nch > 3 ? set_path(c, n, ch + 3, nch - 3, r) : 1;
		}
	}
	if (strcmp(f, "pdi") == 0 && nch == 2 &&
	    (strcmp(ch[1], "person_id") == 0 || strcmp(ch[1], "distinct_id") == 0)) {
		r->kind = XC_PDI;
		r->name = ch[1];
		return 1;
	}
	if (strcmp(f, "session") == 0)
		return sess_join_ref(c, n, ch, nch, r);
	if (strncmp(f, "group_", 6) == 0 && f[6] >= '0' && f[6] <= '4' && !f[7] && nch >= 2) {
		static const char *const gf[] = {"key", "index", "created_at", "updated_at",
						 "properties"};
		for (size_t i = 0; i < SN_ARRAY_LEN(gf); i++)
			if (strcmp(ch[1], gf[i]) == 0 && (nch == 2 || i == 4)) {
				r->kind = XC_GROUP;
				r->name = gf[i];
				r->key = nch >= 3 ? ch[2] : NULL;
				r->gidx = f[6] - '0';
				return nch > 3 ? set_path(c, n, ch + 3, nch - 3, r) : 1;
			}
	}
	return ref_unsupported(c, n, ch, nch);
}

const char *join_table_name(const char *name)
{
	static const char *const tables[] = {"events",	 "persons",	  "person_distinct_ids",
					     "groups",	 "cohort_people", "static_cohort_people",
					     "sessions", "raw_sessions"};
	for (size_t i = 0; name && i < SN_ARRAY_LEN(tables); i++)
		if (strcmp(name, tables[i]) == 0)
			return tables[i];
	return NULL;
}

static int table_ref(struct xctx *c, const node_t *n, const char *t, const char *const *ch,
		     size_t nch, struct xref *r)
{
	static const char *const persons[] = {"id", "created_at", "team_id", "properties",
					      "is_identified"};
	static const char *const pdi[] = {"team_id", "distinct_id", "person_id"};
	static const char *const groups[] = {"index",	   "team_id",	 "key",
					     "created_at", "updated_at", "properties"};
	static const char *const cohort_people[] = {"person_id", "cohort_id", "team_id"};
	const char *const *f = persons;
	size_t nf = SN_ARRAY_LEN(persons);
	if (is_table(t, "cohort_people") || is_table(t, "static_cohort_people")) {
		f = cohort_people;
		nf = SN_ARRAY_LEN(cohort_people);
	} else if (is_table(t, "person_distinct_ids")) {
		f = pdi;
		nf = SN_ARRAY_LEN(pdi);
	} else if (is_table(t, "groups")) {
		f = groups;
		nf = SN_ARRAY_LEN(groups);
	}
	for (size_t i = 0; i < nf; i++) {
		if (strcmp(ch[0], f[i]) != 0)
			continue;
		bool json = strcmp(f[i], "properties") == 0;
		if (nch == 1 || json) {
			r->kind = XC_TABLE;
			r->name = f[i];
			r->key = nch >= 2 ? ch[1] : NULL;
			return nch > 2 ? set_path(c, n, ch + 2, nch - 2, r) : 1;
		}
	}
	return ref_unsupported(c, n, ch, nch);
}

int xref_of(struct xctx *c, const node_t *n, struct xref *r)
{
	memset(r, 0, sizeof(*r));
	if (c->jmap)
		return hj_ref(c, n, r);
	if (n->kind == SN_HQ_ARRAY_ACCESS) {
		/* x.properties['k'] on any JSON field the executor reads, and
		 * a property's ['k'] (a nested path) */
		const node_t *a = n->a, *b = n->b;
		if (!a || (a->kind != SN_HQ_FIELD && a->kind != SN_HQ_ARRAY_ACCESS))
			return 0;
		struct xref base;
		int rc = xref_of(c, a, &base);
		if (rc <= 0)
			return rc;
		bool whole =
		    base.kind == XC_PROPS ||
		    (strcmp(base.name, "properties") == 0 && !base.key &&
		     (base.kind == XC_PERSON || base.kind == XC_GROUP || base.kind == XC_TABLE));
		if (!whole && base.kind == XC_SUB)
			return 0; /* a subscript of a subquery's array or tuple column */
		/* one property (of events, persons, groups): its JSON below */
		bool prop =
		    base.kind == XC_PROP ||
		    (strcmp(base.name, "properties") == 0 && base.key &&
		     (base.kind == XC_PERSON || base.kind == XC_GROUP || base.kind == XC_TABLE));
		if (!whole && !prop)
			return xunsupported(c, n, "subscripts of this column");
		bool idx = prop && b && b->kind == SN_HQ_CONSTANT && b->ctype == SN_HQC_INT;
		if (!b || b->kind != SN_HQ_CONSTANT || (b->ctype != SN_HQC_STRING && !idx) ||
		    n->flag)
			return xunsupported(
			    c, n,
			    "subscripts other than a string constant (or an integer "
			    "one below a property)");
		*r = base;
		if (prop)
			return path_push(c, n, r,
					 idx ? (struct xpath_el){.idx = b->ival}
					     : (struct xpath_el){.key = b->sval});
		if (base.kind == XC_PROPS) {
			r->kind = XC_PROP;
			r->name = b->sval;
		} else {
			r->key = b->sval;
		}
		return 1;
	}
	if (n->kind != SN_HQ_FIELD)
		return 0;
	/* A nested statement's Field that names a FROM entry of an enclosing
	 * statement: reading it here would silently read this statement's
	 * rows instead (subquery.c runs nested statements once). */
	if (n->ref_source && c->from_name && n->ref_kind != SN_HQR_ALIAS &&
	    n->ref_kind != SN_HQR_ASTERISK && strcmp(n->ref_source, c->from_name) != 0)
		return xunsupported(
		    c, n, "references to an outer query's columns (correlated subqueries)");
	if (n->ref_kind == SN_HQR_SUBQUERY_COL)
		return sub_ref(c, n, r);
	switch (n->ref_kind) {
	case SN_HQR_COLUMN:
	case SN_HQR_PROPERTY:
	case SN_HQR_LAZY: break;
	default: return 0;
	}
	if (!n->ref_table || !n->ref_field || !n->strs.n)
		return 0;
	const char *const *ch = n->strs.items;
	size_t nch = n->strs.n;
	/* Drop the table or alias qualifier: the first schema field of the
	 * chain (ref_field) is what follows it. */
	if (nch > 1 && n->ref_source && strcmp(ch[0], n->ref_source) == 0 &&
	    strcmp(ch[1], n->ref_field->name) == 0) {
		ch++;
		nch--;
	}
	const char *t = n->ref_table->name;
	if (!is_table(t, c->from))
		return xunsupported(c, n, "columns of other tables");
	if (is_table(t, "events"))
		return events_ref(c, n, ch, nch, r);
	if (sess_is_table(t))
		return sess_ref(c, n, ch, nch, r);
	return table_ref(c, n, t, ch, nch, r);
}

void xref_type(const struct xref *r, uint8_t *t, bool *nullable)
{
	const char *f = r->name;
	*nullable = true;
	*t = SN_XT_STRING;
	switch (r->kind) {
	case XC_SESSION: sess_type(f, t, nullable); return;
	case XC_PERSON_ID:
		*t = SN_XT_UUID;
		*nullable = false;
		return;
	case XC_PDI:
		*t = f[0] == 'p' ? SN_XT_UUID : SN_XT_STRING;
		*nullable = false;
		return;
	case XC_PERSON:
	case XC_GROUP:
	case XC_TABLE:
		if (strcmp(f, "created_at") == 0 || strcmp(f, "updated_at") == 0)
			*t = SN_XT_DATETIME;
		else if (strcmp(f, "is_identified") == 0)
			*t = SN_XT_BOOL;
		else if (strcmp(f, "index") == 0 || strcmp(f, "team_id") == 0 ||
			 strcmp(f, "cohort_id") == 0)
			*t = SN_XT_INT;
		else if (strcmp(f, "id") == 0 || strcmp(f, "person_id") == 0)
			*t = SN_XT_UUID;
		if (r->kind == XC_TABLE)
			*nullable = r->key != NULL;
		return;
	default: return;
	}
}

/* ---- overrides ------------------------------------------------------------------- */

static int add_override(void *ctx, const char *old_id, const char *new_id)
{
	struct xctx *c = ctx;
	struct xjoin *j = c->join;
	uint32_t id;
	bool isnew;
	struct sn_uuid from, to;
	if (sn_uuid_parse(old_id, strlen(old_id), &from) ||
	    sn_uuid_parse(new_id, strlen(new_id), &to))
		return xfail(c, NULL, SN_ERR_CORRUPT, "QueryError",
			     "a person override names an id that is not a UUID: %s -> %s", old_id,
			     new_id);
	if (gtab_find(c, &j->ovr, (const char *)from.b, sizeof(from.b), &id, &isnew) ||
	    grow(c, (void **)&j->ovr_to, &j->ovr_cap, id, sizeof(*j->ovr_to), "person overrides"))
		return c->rc;
	j->ovr_to[id] = to;
	return c->rc;
}

int join_prepare(struct xctx *c)
{
	bool want = false;
	for (size_t i = 0; i < c->ncols; i++)
		want |= c->cols[i].kind == XC_PERSON_ID;
	struct xjoin *j = J(c);
	if (!j || !want || j->ovr_loaded)
		return c->rc;
	j->ovr_loaded = true;
	if (gtab_init(c, &j->ovr, 64))
		return c->rc;
	if (!c->opts->persons)
		return 0;
	struct sn_err e = {0};
	int rc = sn_persons_overrides(c->opts->persons, c->opts->team_id, add_override, c, &e);
	if (rc && !c->rc)
		xfail(c, NULL, rc, "QueryError", "reading person overrides: %s", e.msg);
	return c->rc;
}

/* ---- build sides ------------------------------------------------------------------ */

static int pending_add(struct xctx *c, struct xjoin *j, struct sn_str key)
{
	if (j->nkeys == j->keys_cap) {
		size_t nc = j->keys_cap ? j->keys_cap * 2 : 256;
		const char **k = jalloc(c, nc * sizeof(*k), "persons");
		if (!k)
			return c->rc;
		if (j->nkeys)
			memcpy(k, j->keys, j->nkeys * sizeof(*k));
		j->keys = k;
		j->keys_cap = nc;
	}
	/* gtab keys are not NUL-terminated; SQLite needs text */
	struct sn_str s = copy_str(c, key.p ? key.p : "", key.len, "persons");
	if (!s.p)
		return c->rc;
	j->keys[j->nkeys++] = s.p;
	return 0;
}

static int got_person(void *ctx, const struct sn_person_raw *row)
{
	struct xctx *c = ctx;
	struct xjoin *j = c->join;
	uint32_t id;
	if (!gtab_get(&j->pers, row->uuid, strlen(row->uuid), &id))
		return 0;
	struct pinfo *pi = &j->pi[id];
	pi->found = true;
	pi->is_identified = row->is_identified;
	pi->created_at_us = row->created_at_us;
	pi->props = copy_str(c, row->properties, row->properties_len, "persons");
	return c->rc;
}

static int got_did(void *ctx, const char *distinct_id, const char *uuid)
{
	struct xctx *c = ctx;
	struct xjoin *j = c->join;
	uint32_t id;
	if (!gtab_get(&j->pdi, distinct_id, strlen(distinct_id), &id))
		return 0;
	j->pdi_to[id] = copy_str(c, uuid, strlen(uuid), "person distinct ids");
	return c->rc;
}

static int got_group(void *ctx, const struct sn_group_raw *row)
{
	struct xctx *c = ctx;
	struct xjoin *j = c->join;
	uint32_t id;
	int g = j->gidx;
	if (!gtab_get(&j->grp[g], row->key, strlen(row->key), &id))
		return 0;
	struct pinfo *gi = &j->gi[g][id];
	gi->found = true;
	gi->created_at_us = row->created_at_us;
	gi->props = copy_str(c, row->properties, row->properties_len, "groups");
	return c->rc;
}

/* A person of the whole-team read: into the build side whether or not the
 * scan asked for it yet. */
static int got_any_person(void *ctx, const struct sn_person_raw *row)
{
	struct xctx *c = ctx;
	struct xjoin *j = c->join;
	uint32_t id;
	bool isnew;
	if (gtab_find(c, &j->pers, row->uuid, strlen(row->uuid), &id, &isnew) ||
	    (isnew && grow(c, (void **)&j->pi, &j->pi_cap, id, sizeof(*j->pi), "persons")))
		return c->rc;
	if (isnew)
		memset(&j->pi[id], 0, sizeof(j->pi[id]));
	return got_person(ctx, row);
}

/* Whether the person side should read the whole team once instead of
 * asking for the next batch by key: a keyed read costs an index probe and
 * a random row per person (~3 µs), reading the team in storage order a
 * tenth of that, so once a scan has asked for a sixteenth of the team the
 * rest is cheaper to read whole. Holds at most the team's persons. */
static bool read_all_persons(struct xctx *c, struct xjoin *j)
{
	if (j->pers_fetched < 4096)
		return false;
	if (j->pers_team < 0) {
		struct sn_err e = {0};
		if (sn_persons_count(c->opts->persons, c->opts->team_id, &j->pers_team, &e))
			j->pers_team = INT64_MAX;
	}
	return j->pers_team <= 16 * (int64_t)j->pers_fetched;
}

enum side { S_PERSON, S_PDI, S_GROUP };

/* Probes the build side for every key of kv (n rows); fetches the keys
 * seen for the first time in one batched read. ids[r] gets each row's id
 * (UINT32_MAX for an empty group key). */
static int build_and_probe(struct xctx *c, enum side sd, int g, const struct vec *kv, uint32_t *ids)
{
	struct xjoin *j = J(c);
	if (!j)
		return c->rc;
	struct gtab *t = sd == S_PERSON ? &j->pers : sd == S_PDI ? &j->pdi : &j->grp[g];
	bool *init = sd == S_PERSON ? &j->pers_init : sd == S_PDI ? &j->pdi_init : &j->grp_init[g];
	if (!*init) {
		if (gtab_init(c, t, 1024))
			return c->rc;
		*init = true;
		j->pers_team = -1;
	}
	j->nkeys = 0;
	if (sd == S_PERSON && j->pers_frozen) { /* shared by the threads: read only */
		for (size_t r = 0; r < c->n; r++) {
			struct sn_str k = kv->s[r];
			if (vec_null(kv, r) || !gtab_get(t, k.p ? k.p : "", k.len, &ids[r]))
				ids[r] = UINT32_MAX;
		}
		return 0;
	}
	const char *what = sd == S_PERSON ? "persons"
			   : sd == S_PDI  ? "person distinct ids"
					  : "groups";
	for (size_t r = 0; r < c->n; r++) {
		struct sn_str k = kv->s[r];
		if (vec_null(kv, r) || (sd == S_GROUP && k.len == 0)) {
			ids[r] = UINT32_MAX;
			continue;
		}
		uint32_t id;
		bool isnew;
		if (gtab_find(c, t, k.p ? k.p : "", k.len, &id, &isnew))
			return c->rc;
		ids[r] = id;
		if (!isnew)
			continue;
		int rc =
		    sd == S_PERSON ? grow(c, (void **)&j->pi, &j->pi_cap, id, sizeof(*j->pi), what)
		    : sd == S_PDI
			? grow(c, (void **)&j->pdi_to, &j->pdi_cap, id, sizeof(*j->pdi_to), what)
			: grow(c, (void **)&j->gi[g], &j->gi_cap[g], id, sizeof(*j->gi[g]), what);
		if (rc)
			return c->rc;
		if (sd == S_PERSON && j->pers_all)
			memset(&j->pi[id], 0, sizeof(j->pi[id])); /* not in the team */
		else if (pending_add(c, j, k))
			return c->rc;
	}
	if (!j->nkeys || !c->opts->persons)
		return c->rc;
	struct sn_err e = {0};
	int rc;
	j->gidx = g;
	if (sd == S_PERSON && (j->pers_fetched += j->nkeys, read_all_persons(c, j))) {
		j->pers_all = true;
		rc = sn_persons_read(c->opts->persons, c->opts->team_id, NULL, 0, got_any_person, c,
				     &e);
	} else if (sd == S_PERSON)
		rc = sn_persons_read(c->opts->persons, c->opts->team_id, j->keys, j->nkeys,
				     got_person, c, &e);
	else if (sd == S_PDI)
		rc = sn_persons_read_distinct_ids(c->opts->persons, c->opts->team_id, j->keys,
						  j->nkeys, got_did, c, &e);
	else
		rc = sn_persons_read_groups(c->opts->persons, c->opts->team_id, g, j->keys,
					    j->nkeys, got_group, c, &e);
	if (rc && !c->rc)
		xfail(c, NULL, rc, "QueryError", "reading %s: %s", what, e.msg);
	return c->rc;
}

/* A joined property of build-side row id, extracted once: 1 and *out, or
 * 0 for NULL, -1 on error. */
static const char NULLMARK[1];

static int cached_prop(struct xctx *c, size_t col, const struct pinfo *info, uint32_t id,
		       const char *key, struct sn_str *out)
{
	struct pcache *pc = &c->join->pc[col];
	if (grow(c, (void **)&pc->v, &pc->cap, id, sizeof(*pc->v), "persons"))
		return -1;
	struct sn_str *slot = &pc->v[id];
	if (!slot->p) {
		struct sn_str v;
		if (info->found && json_prop(info->props, key, &v))
			*slot = v;
		else
			*slot = (struct sn_str){NULLMARK, 0};
	}
	if (slot->p == NULLMARK)
		return 0;
	*out = *slot;
	return 1;
}

int join_freeze_persons(struct xctx *c, int64_t max_persons, bool *ok)
{
	*ok = false;
	struct xjoin *j = J(c);
	if (!j || !c->opts->persons)
		return c->rc;
	if (j->pers_frozen) {
		*ok = true;
		return 0;
	}
	int64_t team = 0;
	struct sn_err e = {0};
	if (sn_persons_count(c->opts->persons, c->opts->team_id, &team, &e))
		return xfail(c, NULL, SN_ERR_IO, "QueryError", "counting persons: %s", e.msg);
	if (team > max_persons)
		return 0;
	if (!j->pers_init) {
		if (gtab_init(c, &j->pers, 1024))
			return c->rc;
		j->pers_init = true;
	}
	if (!j->pers_all) {
		j->pers_all = true;
		int rc = sn_persons_read(c->opts->persons, c->opts->team_id, NULL, 0,
					 got_any_person, c, &e);
		if (rc && !c->rc)
			xfail(c, NULL, rc, "QueryError", "reading persons: %s", e.msg);
		if (c->rc)
			return c->rc;
	}
	/* every joined person property extracted now: the threads only read */
	for (size_t i = 0; i < c->ncols; i++) {
		const struct xcol *x = &c->cols[i];
		if (x->kind != XC_PERSON || !x->key)
			continue;
		for (size_t id = 0; id < j->pers.n; id++) {
			struct sn_str v;
			if (cached_prop(c, i, &j->pi[id], (uint32_t)id, x->key, &v) < 0)
				return c->rc;
		}
	}
	j->pers_frozen = true;
	*ok = true;
	return 0;
}

static struct xcol *dep_of(struct xctx *c, const struct xcol *x)
{
	return x->dep >= 0 ? &c->cols[x->dep] : NULL;
}

int join_fill(struct xctx *c, struct xcol *x)
{
	if (x->kind == XC_SESSION)
		return sess_fill(c, x);
	struct xcol *d = dep_of(c, x);
	size_t col = (size_t)(x - c->cols);
	if (!d || d->v.n != c->n)
		return xfail(c, NULL, SN_ERR_INTERNAL, "QueryError", "join key of %s not read",
			     x->name);
	struct vec *v = &x->v;
	if (x->kind == XC_PERSON_ID) {
		/* the stored id, or the one an override maps it to; as bits
		 * (the stored column's), text only when a reader asks */
		struct xjoin *j = J(c);
		if (!d->v.u && d->v.s && j && j->ovr.n) { /* text: a part without the column */
			*v = d->v;
			v->t = SN_XT_UUID;
			if (vec_uuid_bits(c, v))
				return c->rc;
		} else {
			*v = d->v;
			v->t = SN_XT_UUID;
			if (!j || !j->ovr.n || !d->v.u)
				return c->rc;
			v->u = xalloc(c, c->ba, (c->n + 1) * sizeof(*v->u));
			if (!v->u)
				return c->rc;
			memcpy(v->u, d->v.u, c->n * sizeof(*v->u));
			v->s = NULL; /* text of the overridden ids is made from u */
		}
		for (size_t r = 0; r < c->n; r++) {
			uint32_t id;
			if (!vec_null(v, r) &&
			    gtab_get(&j->ovr, (const char *)v->u[r].b, sizeof(v->u[r].b), &id))
				v->u[r] = j->ovr_to[id];
		}
		return 0;
	}
	if (x->kind == XC_PERSON && vec_uuid_text(c, &d->v)) /* persons are found by text */
		return c->rc;
	uint32_t *ids = xalloc(c, c->ba, (c->n + 1) * sizeof(*ids));
	if (!ids || vec_make(c, v, x->t, x->nullable, c->n))
		return c->rc;
	enum side sd = x->kind == XC_PERSON ? S_PERSON : x->kind == XC_PDI ? S_PDI : S_GROUP;
	if (build_and_probe(c, sd, x->gidx, &d->v, ids))
		return c->rc;
	struct xjoin *j = c->join;
	if (sd == S_PDI) {
		x->unmatched = xalloc(c, c->ba, c->n + 1);
		if (!x->unmatched)
			return c->rc;
		for (size_t r = 0; r < c->n; r++) {
			struct sn_str to =
			    ids[r] == UINT32_MAX ? (struct sn_str){NULL, 0} : j->pdi_to[ids[r]];
			x->unmatched[r] = to.p == NULL;
			v->s[r] = x->name[0] == 'p' ? to : d->v.s[r];
			if (!to.p)
				v->s[r] = (struct sn_str){"", 0};
		}
		return 0;
	}
	for (size_t r = 0; r < c->n; r++) {
		const struct pinfo *info = NULL;
		if (ids[r] != UINT32_MAX)
			info = sd == S_PERSON ? &j->pi[ids[r]] : &j->gi[x->gidx][ids[r]];
		if (!info || !info->found) {
			v->nulls[r] = 1;
			continue;
		}
		const char *f = x->name;
		if (x->key) {
			struct sn_str s;
			int have = cached_prop(c, col, info, ids[r], x->key, &s);
			if (have < 0)
				return c->rc;
			if (have)
				v->s[r] = s;
			else
				v->nulls[r] = 1;
		} else if (strcmp(f, "properties") == 0) {
			v->s[r] = info->props;
		} else if (strcmp(f, "created_at") == 0 || strcmp(f, "updated_at") == 0) {
			v->i[r] = info->created_at_us;
		} else if (strcmp(f, "is_identified") == 0) {
			v->i[r] = info->is_identified;
		} else if (strcmp(f, "index") == 0) {
			v->i[r] = x->gidx;
		} else { /* group key */
			v->s[r] = d->v.s[r];
		}
	}
	return 0;
}

/* ---- tables in FROM ---------------------------------------------------------------- */

struct tscan {
	struct xctx *c;
	struct trow *rows;
	size_t n, cap;
};

static struct trow *trow_new(struct tscan *ts)
{
	struct xctx *c = ts->c;
	if (ts->n == ts->cap &&
	    grow(c, (void **)&ts->rows, &ts->cap, ts->n, sizeof(*ts->rows), c->from))
		return NULL;
	struct trow *t = &ts->rows[ts->n++];
	memset(t, 0, sizeof(*t));
	return t;
}

static int scan_person(void *ctx, const struct sn_person_raw *row)
{
	struct tscan *ts = ctx;
	struct trow *t = trow_new(ts);
	if (!t)
		return ts->c->rc;
	t->s0 = copy_str(ts->c, row->uuid, strlen(row->uuid), "persons");
	t->s1 = copy_str(ts->c, row->properties, row->properties_len, "persons");
	t->n0 = row->created_at_us;
	t->flag = row->is_identified;
	return ts->c->rc;
}

static int scan_did(void *ctx, const char *distinct_id, const char *uuid)
{
	struct tscan *ts = ctx;
	struct trow *t = trow_new(ts);
	if (!t)
		return ts->c->rc;
	t->s0 = copy_str(ts->c, distinct_id, strlen(distinct_id), "person_distinct_ids");
	t->s1 = copy_str(ts->c, uuid, strlen(uuid), "person_distinct_ids");
	return ts->c->rc;
}

static int scan_group(void *ctx, const struct sn_group_raw *row)
{
	struct tscan *ts = ctx;
	struct trow *t = trow_new(ts);
	if (!t)
		return ts->c->rc;
	t->s0 = copy_str(ts->c, row->key, strlen(row->key), "groups");
	t->s1 = copy_str(ts->c, row->properties, row->properties_len, "groups");
	t->n0 = row->created_at_us;
	t->n1 = row->group_type_index;
	return ts->c->rc;
}

static int scan_cohort_member(void *ctx, int64_t cohort_id, const char *uuid, bool is_static)
{
	(void)is_static;
	struct tscan *ts = ctx;
	struct trow *t = trow_new(ts);
	if (!t)
		return ts->c->rc;
	t->s1 = copy_str(ts->c, uuid, strlen(uuid), ts->c->from);
	t->n1 = cohort_id;
	return ts->c->rc;
}

static int fill_table_col(struct xctx *c, struct xcol *x, const struct trow *rows)
{
	struct vec *v = &x->v;
	if (vec_make(c, v, x->t, x->nullable, c->n))
		return c->rc;
	const char *f = x->name;
	for (size_t r = 0; r < c->n; r++) {
		const struct trow *t = &rows[r];
		if (x->key) {
			struct sn_str s;
			if (json_prop(t->s1, x->key, &s))
				v->s[r] = s;
			else
				v->nulls[r] = 1;
		} else if (strcmp(f, "team_id") == 0) {
			v->i[r] = c->opts->team_id;
		} else if (strcmp(f, "properties") == 0 || strcmp(f, "person_id") == 0) {
			v->s[r] = t->s1;
		} else if (strcmp(f, "id") == 0 || strcmp(f, "key") == 0 ||
			   strcmp(f, "distinct_id") == 0) {
			v->s[r] = t->s0;
		} else if (strcmp(f, "created_at") == 0 || strcmp(f, "updated_at") == 0) {
			v->i[r] = t->n0;
		} else if (strcmp(f, "index") == 0 || strcmp(f, "cohort_id") == 0) {
			v->i[r] = t->n1;
		} else if (strcmp(f, "is_identified") == 0) {
			v->i[r] = t->flag;
		} else {
			return xfail(c, NULL, SN_ERR_INTERNAL, "QueryError", "field %s of %s", f,
				     c->from);
		}
	}
	return 0;
}

int join_scan_table(struct xctx *c, int (*fn)(struct xctx *c, void *arg), void *arg)
{
	struct tscan ts = {.c = c};
	struct sn_persons *ps = c->opts->persons;
	struct sn_err e = {0};
	int rc = 0;
	if (ps) {
		/* `WHERE id IN (SELECT ...)` (a cohort's members, an actors
		 * list): read those persons by key instead of the whole team. */
		const char **keys = NULL;
		size_t nkeys = 0;
		int keyed = is_table(c->from, "persons") ? sub_in_keys(c, "id", &keys, &nkeys) : 0;
		if (keyed < 0)
			return c->rc;
		if (is_table(c->from, "persons"))
			rc = sn_persons_read(ps, c->opts->team_id, keyed ? keys : NULL,
					     keyed ? nkeys : 0, scan_person, &ts, &e);
		else if (is_table(c->from, "person_distinct_ids"))
			rc = sn_persons_read_distinct_ids(ps, c->opts->team_id, NULL, 0, scan_did,
							  &ts, &e);
		else if (is_table(c->from, "cohort_people") ||
			 is_table(c->from, "static_cohort_people"))
			rc = sn_persons_read_cohort_people(ps, c->opts->team_id, -1,
							   c->from[0] == 's', scan_cohort_member,
							   &ts, &e);
		else
			rc = sn_persons_read_groups(ps, c->opts->team_id, -1, NULL, 0, scan_group,
						    &ts, &e);
	}
	if (rc && !c->rc)
		xfail(c, NULL, rc, "QueryError", "reading %s: %s", c->from, e.msg);
	for (size_t at = 0; at < ts.n && !c->rc; at += TABLE_BATCH) {
		struct sn_arena ba;
		sn_arena_init(&ba, c->mem_limit);
		c->ba = &ba;
		c->n = ts.n - at < TABLE_BATCH ? ts.n - at : TABLE_BATCH;
		for (size_t i = 0; i < c->ncols && !c->rc; i++)
			fill_table_col(c, &c->cols[i], ts.rows + at);
		if (!c->rc)
			fn(c, arg);
		sn_arena_release(&ba);
		c->ba = NULL;
	}
	return c->rc;
}
