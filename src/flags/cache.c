/*
 * cache.c — one compiled snapshot of a team's flags, shared by every
 * request thread, rebuilt the first time a request sees that the team's
 * flags changed.
 *
 *   sn_flag_cache                          struct sn_flag_snapshot (refcounted)
 *   +-------------------+                  +---------------------------------+
 *   | mu                |   team_id ──▶    | generation (meta's, when read)  |
 *   | entries[] ────────┼───────────────▶  | set        (sn_flag_set, ref'd) |
 *   | build_mu          |                  | definitions (JSON text)         |
 *   +-------------------+                  | etag        "\"<xxh3 of text>\""|
 *                                          +---------------------------------+
 *
 * Freshness: meta bumps a per-team generation after every committed flag
 * change. A lookup compares the entry's generation with meta's current one
 * (an in-memory read) and rebuilds when they differ, so the next request
 * after a change already evaluates the new definitions; there is no TTL and
 * no polling. Builds are serialised by build_mu (changes are rare and a
 * burst of requests after one should build once, not once per thread);
 * lookups of fresh entries never wait for a build.
 *
 * What a snapshot holds: the local-evaluation document exactly as served by
 * /flags/definitions (so the SDKs' local evaluation and the server's /flags
 * answer from the same bytes), the set compiled from it, and an ETag that
 * is a hash of the text, so it is stable across restarts and changes
 * exactly when the answer does. While building the document, flag
 * dependency filters get the `dependency_chain` the SDKs require and their
 * key is turned from a flag id (how PostHog stores them) into the flag key,
 * and group_type_mapping is read from the person store (when the cache has
 * one), so SDKs can evaluate group flags locally.
 *
 * Group types change without a flag change (ingestion assigns them), and
 * meta's generation cannot see that. /flags does not care — the server
 * resolves group types per request — so only the definitions lookup
 * (sn_flag_cache_get_definitions) reads the team's types (≤ 5 rows) and
 * rebuilds when they differ from the snapshot's; the rebuilt snapshot
 * serves /flags too.
 *
 * Lifetime: a request takes a reference (sn_flag_snapshot_ref) and drops it
 * when done; a rebuild swaps the entry's pointer and drops the cache's
 * reference, so an old snapshot lives until its last request finishes.
 *
 * Rejected: invalidating from meta with a callback into flags/. meta sits
 * below flags (DESIGN.md) and a callback would run inside meta's write path
 * holding its locks; a generation number is enough.
 */
#include "flags/flags_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meta/meta.h"
#include "persons/persons.h"

#define DEFS_MAX  ((size_t)64 << 20)
#define CHAIN_MAX 64

struct entry {
	int64_t team_id;
	struct sn_flag_snapshot *snap;
};

struct sn_flag_cache {
	struct sn_meta *meta;
	struct sn_persons *persons; /* group types for the document; may be NULL */
	pthread_mutex_t mu;	    /* guards entries */
	pthread_mutex_t build_mu;
	struct entry *entries;
	size_t n, cap;
	uint64_t builds; /* atomic: how many snapshots were built (tests) */
};

struct sn_flag_snapshot *sn_flag_snapshot_ref(struct sn_flag_snapshot *s)
{
	__atomic_fetch_add(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void sn_flag_snapshot_unref(struct sn_flag_snapshot *s)
{
	if (!s || __atomic_fetch_sub(&s->refs, 1, __ATOMIC_ACQ_REL) != 1)
		return;
	sn_flag_set_unref(s->set);
	free(s->definitions);
	free(s->group_type_mapping);
	free(s);
}

int sn_flag_cache_new(struct sn_flag_cache **out, struct sn_meta *meta, struct sn_err *err)
{
	struct sn_flag_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	c->meta = meta;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->build_mu, NULL);
	*out = c;
	return 0;
}

void sn_flag_cache_free(struct sn_flag_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		sn_flag_snapshot_unref(c->entries[i].snap);
	free(c->entries);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->build_mu);
	free(c);
}

uint64_t sn_flag_cache_builds(struct sn_flag_cache *c)
{
	return __atomic_load_n(&c->builds, __ATOMIC_RELAXED);
}

void sn_flag_cache_set_persons(struct sn_flag_cache *c, struct sn_persons *persons)
{
	c->persons = persons;
}

/* ---- group types ------------------------------------------------------------------ */

static int add_group_type(void *ctx, int index, const char *group_type)
{
	char k[16];
	snprintf(k, sizeof(k), "%d", index);
	json_object_object_add(ctx, k, json_object_new_string(group_type));
	return 0;
}

/* The team's group types as the document's group_type_mapping ({} without
 * a person store). A store that cannot be read leaves the mapping empty:
 * SDKs then send group flags to the server, which resolves types itself. */
static struct json_object *group_type_mapping(struct sn_flag_cache *c, int64_t team_id)
{
	struct json_object *m = json_object_new_object();
	struct sn_err err = {0};
	if (m && c->persons && sn_persons_group_types(c->persons, team_id, add_group_type, m, &err))
		sn_log_warn("flags: group types of project %lld: %s", (long long)team_id, err.msg);
	return m;
}

/* A fresh snapshot of team_id from the entry table, referenced, or NULL. */
static struct sn_flag_snapshot *lookup(struct sn_flag_cache *c, int64_t team_id, uint64_t gen)
{
	struct sn_flag_snapshot *s = NULL;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->n; i++)
		if (c->entries[i].team_id == team_id) {
			if (c->entries[i].snap->generation == gen)
				s = sn_flag_snapshot_ref(c->entries[i].snap);
			break;
		}
	pthread_mutex_unlock(&c->mu);
	return s;
}

static int store(struct sn_flag_cache *c, int64_t team_id, struct sn_flag_snapshot *s)
{
	int ret = 0;
	pthread_mutex_lock(&c->mu);
	size_t i;
	for (i = 0; i < c->n; i++)
		if (c->entries[i].team_id == team_id)
			break;
	if (i == c->n) {
		if (c->n == c->cap) {
			size_t ncap = c->cap ? c->cap * 2 : 16;
			struct entry *ne = realloc(c->entries, ncap * sizeof(*ne));
			if (!ne) {
				ret = SN_ERR_NOMEM;
				goto out;
			}
			c->entries = ne;
			c->cap = ncap;
		}
		c->entries[c->n++] = (struct entry){team_id, sn_flag_snapshot_ref(s)};
	} else {
		sn_flag_snapshot_unref(c->entries[i].snap);
		c->entries[i].snap = sn_flag_snapshot_ref(s);
	}
out:
	pthread_mutex_unlock(&c->mu);
	return ret;
}

/* ---- flag dependencies in the served document ----------------------------------- */

/* The flag object of key (or of a numeric id), or NULL. */
static struct json_object *find_flag(struct json_object *flags, const char *ref)
{
	size_t n = json_object_array_length(flags);
	for (size_t i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(flags, i);
		const char *k = sn_json_str(sn_json_get(f, "key"), NULL);
		if (k && !strcmp(k, ref))
			return f;
	}
	char *end;
	long long id = strtoll(ref, &end, 10);
	if (!*ref || *end)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(flags, i);
		if (json_object_get_int64(sn_json_get(f, "id")) == id)
			return f;
	}
	return NULL;
}

static const char *ref_of(struct json_object *prop)
{
	struct json_object *k = sn_json_get(prop, "key");
	return k ? json_object_get_string(k) : NULL;
}

/* Appends target's dependencies (depth first, each once) and then target to
 * chain. Returns false on a cycle. */
static bool chain_add(struct json_object *flags, struct json_object *target,
		      struct json_object *chain, const char **stack, int depth)
{
	const char *key = sn_json_str(sn_json_get(target, "key"), NULL);
	if (!key || depth >= CHAIN_MAX)
		return false;
	for (int i = 0; i < depth; i++)
		if (!strcmp(stack[i], key))
			return false;
	for (size_t i = 0; i < json_object_array_length(chain); i++)
		if (!strcmp(json_object_get_string(json_object_array_get_idx(chain, i)), key))
			return true;
	stack[depth] = key;
	struct json_object *groups = sn_json_get(sn_json_get(target, "filters"), "groups");
	for (size_t g = 0; groups && g < json_object_array_length(groups); g++) {
		struct json_object *props =
		    sn_json_get(json_object_array_get_idx(groups, g), "properties");
		for (size_t p = 0; props && p < json_object_array_length(props); p++) {
			struct json_object *prop = json_object_array_get_idx(props, p);
			const char *t = sn_json_str(sn_json_get(prop, "type"), NULL);
			const char *ref = ref_of(prop);
			if (!t || strcmp(t, "flag") || !ref)
				continue;
			struct json_object *dep = find_flag(flags, ref);
			if (dep && !chain_add(flags, dep, chain, stack, depth + 1))
				return false;
		}
	}
	json_object_array_add(chain, json_object_new_string(key));
	return true;
}

/* For every `flag` filter: key := the target flag's key, dependency_chain :=
 * the order to evaluate (empty on a cycle; just the key when the target is
 * missing, which the SDKs then report as missing). */
static void add_dependency_chains(struct json_object *flags)
{
	const char *stack[CHAIN_MAX];
	size_t n = json_object_array_length(flags);
	for (size_t i = 0; i < n; i++) {
		struct json_object *groups = sn_json_get(
		    sn_json_get(json_object_array_get_idx(flags, i), "filters"), "groups");
		for (size_t g = 0; groups && g < json_object_array_length(groups); g++) {
			struct json_object *props =
			    sn_json_get(json_object_array_get_idx(groups, g), "properties");
			for (size_t p = 0; props && p < json_object_array_length(props); p++) {
				struct json_object *prop = json_object_array_get_idx(props, p);
				const char *t = sn_json_str(sn_json_get(prop, "type"), NULL);
				const char *ref = ref_of(prop);
				if (!t || strcmp(t, "flag") || !ref)
					continue;
				struct json_object *chain = json_object_new_array();
				struct json_object *dep = find_flag(flags, ref);
				if (dep) {
					json_object_object_add(
					    prop, "key", json_object_get(sn_json_get(dep, "key")));
					if (!chain_add(flags, dep, chain, stack, 0)) {
						json_object_put(chain);
						chain = json_object_new_array();
					}
				} else {
					json_object_array_add(chain, json_object_new_string(ref));
				}
				json_object_object_add(prop, "dependency_chain", chain);
			}
		}
	}
}

/* ---- cohorts ------------------------------------------------------------------------ */

/*
 * The document's "cohorts": the definitions (filters.properties) of the
 * dynamic cohorts the flags reference, directly or through other cohorts,
 * whose criteria are all person properties (or other cohorts). Those are
 * evaluated from the request's person properties, as PostHog does, by the
 * server and by SDKs evaluating locally. Static and behavioural cohorts
 * are left out: the server decides them by precalculated membership
 * (sn_flag_ctx.cohorts), and an SDK that finds no definition asks the
 * server.
 */
static bool person_only(struct json_object *o)
{
	if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!person_only(json_object_array_get_idx(o, i)))
				return false;
		return true;
	}
	if (!json_object_is_type(o, json_type_object))
		return false;
	const char *t = sn_json_str(sn_json_get(o, "type"), NULL);
	if (t && (!strcmp(t, "AND") || !strcmp(t, "OR")))
		return person_only(sn_json_get(o, "values"));
	return t && (!strcmp(t, "person") || !strcmp(t, "cohort"));
}

struct cohort_refs {
	int64_t ids[256];
	size_t n;
};

static int add_ref(void *arg, int64_t id)
{
	struct cohort_refs *r = arg;
	for (size_t i = 0; i < r->n; i++)
		if (r->ids[i] == id)
			return 0;
	if (r->n < SN_ARRAY_LEN(r->ids))
		r->ids[r->n++] = id;
	return 0;
}

static void collect_refs(struct json_object *o, struct cohort_refs *r)
{
	sn_meta_cohort_refs(o, add_ref, r);
}

static struct json_object *cohort_definitions(struct sn_flag_cache *c, int64_t team_id,
					      struct json_object *flags)
{
	struct json_object *out = json_object_new_object();
	struct cohort_refs r = {.n = 0};
	collect_refs(flags, &r);
	for (size_t i = 0; i < r.n; i++) { /* r grows as nested cohorts are found */
		struct sn_cohort co;
		struct sn_err err = {0};
		if (sn_meta_cohort_get(c->meta, team_id, r.ids[i], &co, &err))
			continue;
		struct json_object *props = sn_json_get(co.filters, "properties");
		if (!co.deleted && !co.is_static && props && person_only(props)) {
			char key[24];
			snprintf(key, sizeof(key), "%lld", (long long)r.ids[i]);
			json_object_object_add(out, key, json_object_get(props));
			collect_refs(props, &r);
		}
		sn_cohort_release(&co);
	}
	return out;
}

/* ---- build ----------------------------------------------------------------------- */

static int build(struct sn_flag_cache *c, int64_t team_id, struct sn_flag_snapshot **out,
		 struct sn_err *err)
{
	struct json_object *flags = NULL, *doc = NULL;
	struct sn_flag_snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	s->refs = 1;
	int ret = sn_meta_flags_definitions(c->meta, team_id, &flags, &s->generation, err);
	if (ret)
		goto out;
	add_dependency_chains(flags);
	doc = json_object_new_object();
	json_object_object_add(doc, "flags", flags);
	/* Group types live in the person store: the document carries them for
	 * SDK-side evaluation of group flags; the server still resolves them per
	 * request (sn_flag_ctx.group_types), so it never waits for a rebuild. */
	struct json_object *mapping = group_type_mapping(c, team_id);
	json_object_object_add(doc, "group_type_mapping", mapping);
	struct json_object *cohorts = cohort_definitions(c, team_id, flags);
	json_object_object_add(doc, "cohorts", cohorts);
	s->group_type_mapping =
	    strdup(json_object_to_json_string_ext(mapping, JSON_C_TO_STRING_PLAIN));
	if (!s->group_type_mapping) {
		ret = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		goto out;
	}
	struct sn_buf b;
	sn_buf_init(&b, DEFS_MAX);
	if ((ret = sn_json_append(&b, doc))) {
		sn_buf_release(&b);
		sn_err_set(err, ret, "flag definitions of project %lld are too large",
			   (long long)team_id);
		goto out;
	}
	s->definitions = sn_buf_detach(&b, &s->definitions_len);
	if (!s->definitions) {
		ret = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
		goto out;
	}
	snprintf(s->etag, sizeof(s->etag), "\"%016llx\"",
		 (unsigned long long)sn_hash64(s->definitions, s->definitions_len));
	if ((ret = sn_flag_set_build(flags, mapping, cohorts, &s->set, err)))
		goto out;
	__atomic_fetch_add(&c->builds, 1, __ATOMIC_RELAXED);
out:
	if (doc)
		json_object_put(doc);
	else if (flags)
		json_object_put(flags);
	if (ret) {
		sn_flag_snapshot_unref(s);
		return ret;
	}
	*out = s;
	return 0;
}

/* The snapshot, rebuilt when meta's generation moved or, with check_groups,
 * when the team's group types are no longer those it was built with. */
static int get(struct sn_flag_cache *c, int64_t team_id, bool check_groups,
	       struct sn_flag_snapshot **out, struct sn_err *err)
{
	char *now_mapping = NULL;
	if (check_groups && c->persons) {
		struct json_object *m = group_type_mapping(c, team_id);
		now_mapping =
		    m ? strdup(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN)) : NULL;
		json_object_put(m);
		if (!now_mapping)
			return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	}
	uint64_t gen = sn_meta_flags_generation(c->meta, team_id);
	struct sn_flag_snapshot *s = lookup(c, team_id, gen);
	int ret = 0;
	if (s && (!now_mapping || !strcmp(s->group_type_mapping, now_mapping)))
		goto out;
	pthread_mutex_lock(&c->build_mu);
	/* Another thread may have built it while we waited. */
	sn_flag_snapshot_unref(s);
	gen = sn_meta_flags_generation(c->meta, team_id);
	s = lookup(c, team_id, gen);
	if (s && now_mapping && strcmp(s->group_type_mapping, now_mapping)) {
		sn_flag_snapshot_unref(s);
		s = NULL;
	}
	if (!s && (ret = build(c, team_id, &s, err)) == 0 && store(c, team_id, s))
		ret = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	pthread_mutex_unlock(&c->build_mu);
out:
	free(now_mapping);
	if (ret) {
		sn_flag_snapshot_unref(s);
		return ret;
	}
	*out = s;
	return 0;
}

int sn_flag_cache_get(struct sn_flag_cache *c, int64_t team_id, struct sn_flag_snapshot **out,
		      struct sn_err *err)
{
	return get(c, team_id, false, out, err);
}

int sn_flag_cache_get_definitions(struct sn_flag_cache *c, int64_t team_id,
				  struct sn_flag_snapshot **out, struct sn_err *err)
{
	return get(c, team_id, true, out, err);
}
