/*
 * identity.c — the identity step of ingestion: for each event, in WAL order,
 * the person id to stamp on its row, its $group_0..4 keys, and whether it is
 * stored at all. persons/ owns the rules (sn_identity_process); this file
 * decides when they need to run.
 *
 *   record scan (store_sink.c) ──facts──▶ fast path? ──yes──▶ cache: person id, groups
 *                                              │ no
 *                                              ▼
 *                json-c parse of the event ─▶ sn_identity_process (in the open
 *                persons batch) ─▶ refresh the cache from the result
 *
 * The fast path takes an event without json-c, and without SQLite but for a
 * merge's distinct-id insert, when all of these hold (each is something
 * sn_identity_process would otherwise act on):
 *  - not $groupidentify; a merge event ($identify, $create_alias,
 *    $merge_dangerously) only when its other id ($anon_distinct_id, alias)
 *    is a plain string and the store has no person for the other id: the
 *    rules then only attach that id to the person (and follow its
 *    personless events with an override), which sn_identity_attach_unseen
 *    does as the rules' own step, refusing every other case (same id,
 *    illegal id, an id with a person) back to the slow path, and, if the
 *    person is not identified yet, mark it identified: deferred like the
 *    §5.2 values below (one UPDATE with them). A user who signs in sends
 *    one, on a new device or for the first time;
 *  - no $set / $set_once / $unset, in properties or at the root; no key the
 *    scan cannot match (escaped keys), no $is_server or $os_name;
 *  - $process_person_profile absent or a boolean;
 *  - the distinct id is cached with a person that is cached too (personless
 *    events: with a person, or as "no person, already noted");
 *  - for every §5.2 key the event carries: the person already holds
 *    $initial_<key> (so $set_once changes nothing);
 *  - every $groups type is cached with its index (personless events get no
 *    $group_N: the rules map $groups only with person processing);
 *  - the GeoIP place enrich.c found for the event, if any, is the one the
 *    person holds, with its $initial_geoip_* (sn_enrich_fast_ok).
 * The §5.2 $set of each such key then either changes nothing (same value:
 * compared by a hash of the decoded string or the JSON text), or changes
 * only filtered keys the person has (persons/props.c: PostHog writes
 * nothing for those alone, and neither do the rules), or changes the
 * key's "latest value" on the person: the new value is deferred — kept on
 * the cached person and written once per person before the batch commits,
 * or before any slow event that reads or writes the person (its distinct
 * id's person, and for a merge the other id's), or when half the cache is
 * dirty. So the slow path would look up the person, change at most those
 * keys and stamp the same id: the fast path is a pure optimisation, and
 * the person store ends the same with any cache size (only `version`
 * counts writes rather than events), which is what makes a replay after a
 * crash (empty cache) reproduce it.
 *
 * A distinct id the cache holds no person for has one more case
 * (try_create): its first event, when the rules would only create the
 * person from the event's §5.2 values and GeoIP place (no merge, no $set &
 * co. of the client's, cached $groups types, values whose JSON text is what
 * json-c prints). sn_identity_create_unseen writes that person from the
 * values' bytes (the place's from sn_enrich_new_person), and the cache
 * entry is made from the same values.
 *
 * Rejected: writing deferred values per event (every changed value a
 * SQLite write: ingestion measured 4x slower on a web-like mix).
 *
 * Cache maintenance after a slow event: the distinct id's entry and its
 * person's entry are rewritten from the result (the person's properties as
 * stored after the event); a merge drops the merged-away person (every
 * distinct id that pointed at it stops being trusted) and the other id of
 * the merge (which may have changed from "no person" to a person). A
 * deletion, a split, or a commit of another process to the store (seen at
 * the batch's BEGIN IMMEDIATE, which every event takes first) moves
 * sn_persons_generation, and the whole cache goes before the next event.
 *
 * Stored properties stay as captured: the $set/$set_once additions of §5.2
 * and the $group_N keys sn_identity_process makes on its copy are not written
 * back into the row (the groups go to their own columns). Rewriting the JSON
 * of every slow event would cost as much as the identity work itself, and the
 * fast path could not match it without the same cost.
 *
 * Replay (apply = false): for a record whose identity the person store
 * already committed (the crash protocol in store_sink.c), nothing is written;
 * the id stamped is the distinct id's current person. Under query-time
 * overrides it resolves to the same person as the id first stamped: a person
 * that has since been merged away maps to its survivor through the override.
 */
#include "ingest/ingest_internal.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sn_initial_keys[SN_INITIAL_NKEYS] = {
    SN_PERSON_INITIAL_KEYS(SN_PERSON_INITIAL_KEY)};
static const char *const initial_names[] = {SN_PERSON_INITIAL_KEYS(SN_PERSON_INITIAL_NAME)};
_Static_assert(SN_ARRAY_LEN(initial_names) == SN_INITIAL_NKEYS, "SN_PERSON_INITIAL_KEYS has 25");

struct sn_ingest_identity {
	struct sn_persons *persons;
	struct sn_pcache *cache;
	struct sn_buf scratch;	 /* decoded strings of the current event */
	struct sn_buf reduced;	 /* the slow path's event text, only what the rules read */
	struct sn_buf once, set; /* a new person's GeoIP members (try_create) */
	char groups[SN_STORE_GROUPS][SN_GROUP_KEY_MAX + 1];
	size_t dirty_max;    /* flush deferred values past this many dirty persons */
	uint32_t filtered;   /* bit k: sn_initial_keys[k] is a filtered update key */
	uint64_t generation; /* sn_persons_generation the cache was built under */
	uint64_t fast, slow, readonly, dropped, deferred, person_writes, created;
};

/* ---- facts ---------------------------------------------------------------------- */

enum {
	K_SET = SN_INITIAL_NKEYS,
	K_SET_ONCE,
	K_UNSET,
	K_PPP,
	K_GROUPS,
	K_IS_SERVER,
	K_OS_NAME,
	/* read by the rules only (reduce_event), not by the fast path */
	K_GROUP_TYPE,
	K_GROUP_KEY,
	K_GROUP_SET,
	K_ALIAS,
	K_ANON_ID,
	K_COUNT
};

static const char *const other_keys[K_COUNT - SN_INITIAL_NKEYS] = {
    "$set",	  "$set_once",	"$unset",   "$process_person_profile",
    "$groups",	  "$is_server", "$os_name", "$group_type",
    "$group_key", "$group_set", "alias",    "$anon_distinct_id",
};

/* Every name the identity rules read, by K_* class. Built before main. */
static struct sn_names key_set;

__attribute__((constructor)) static void build_key_set(void)
{
	const char *key_names[K_COUNT];
	for (int k = 0; k < K_COUNT; k++)
		key_names[k] =
		    k < SN_INITIAL_NKEYS ? sn_initial_keys[k] : other_keys[k - SN_INITIAL_NKEYS];
	sn_names_init(&key_set, key_names, K_COUNT);
}

/* The K_* class of a property name, -1 for a name none of them has: every
 * name the identity rules read. "$os" is the only one under 4 bytes. */
static int key_class(const char *k, size_t n)
{
	if (n < 3 || n > SN_NAMES_LEN_MAX)
		return -1;
	if (k[0] != '$' && k[0] != 'u' && k[0] != 'g' && k[0] != 'w' && k[0] != 'f' &&
	    k[0] != 'm' && k[0] != 'a')
		return -1;
	return sn_names_find(&key_set, k, n);
}

void sn_ingest_facts_key(struct sn_ingest_facts *f, const struct sn_jspan *key,
			 const struct sn_jspan *value, bool identity)
{
	if (key->flags & SN_JSPAN_ESCAPED) {
		f->odd_key = true;
		f->geoip_keys = true; /* it may decode to one: enrichment compares */
		return;
	}
	size_t n;
	const char *k = sn_jspan_raw(key, &n);
	if (k[0] == '$' &&
	    ((n == 3 && k[1] == 'i' && k[2] == 'p') || (n > 7 && memcmp(k, "$geoip_", 7) == 0))) {
		/* Enrichment's keys (enrich.c). */
		if (n == 3) {
			f->ip_dup |= f->ip_key.type != SN_JNONE;
			f->ip_key = *key;
			f->ip = *value;
		} else if (n == 14 && memcmp(k + 7, "disable", 7) == 0) {
			f->geoip_disable = *value;
		} else if (n > 7) {
			f->geoip_keys = true;
			if (f->ngeo_members < SN_GEO_MEMBERS_MAX)
				f->geo_member[f->ngeo_members++] =
				    (struct sn_ingest_member){*key, value->p + value->len};
			else
				f->geo_members_over = true;
		}
		return;
	}
	if (n == 8 && memcmp(k, "$group_", 7) == 0 && k[7] >= '0' && k[7] <= '4') {
		f->group_prop[k[7] - '0'] = *value;
		return;
	}
	if (!identity)
		return;
	int c = key_class(k, n);
	if (c < 0)
		return;
	switch (c) {
	case K_SET: f->has_set = true; break;
	case K_SET_ONCE: f->has_set_once = true; break;
	case K_UNSET: f->has_unset = true; break;
	case K_PPP: f->ppp = *value; break;
	case K_GROUPS: f->groups = *value; break;
	case K_IS_SERVER:
	case K_OS_NAME: f->server_or_os_name = true; break;
	case K_ALIAS: f->alias = *value; break;
	case K_ANON_ID: f->anon_id = *value; break;
	case K_GROUP_TYPE:
	case K_GROUP_KEY:
	case K_GROUP_SET: break; /* $groupidentify takes the slow path anyway */
	default: f->initial_present |= 1u << c; f->initial[c] = *value;
	}
}

/* ---- set-up ------------------------------------------------------------------------ */

int sn_ingest_identity_new(struct sn_ingest_identity **out, struct sn_persons *persons,
			   size_t cache_entries, struct sn_err *err)
{
	struct sn_ingest_identity *id = calloc(1, sizeof(*id));
	if (!id)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	id->persons = persons;
	id->dirty_max = (cache_entries ? cache_entries : 256u * 1024) / 2;
	id->generation = sn_persons_generation(persons);
	for (int k = 0; k < SN_INITIAL_NKEYS; k++)
		if (sn_persons_update_key_filtered(sn_initial_keys[k]))
			id->filtered |= 1u << k;
	sn_buf_init(&id->scratch, 64u << 20);
	sn_buf_init(&id->reduced, 64u << 20);
	sn_buf_init(&id->once, 64u << 10);
	sn_buf_init(&id->set, 64u << 10);
	int rc = sn_pcache_new(&id->cache, cache_entries, err);
	if (rc) {
		sn_buf_release(&id->scratch);
		sn_buf_release(&id->reduced);
		sn_buf_release(&id->once);
		sn_buf_release(&id->set);
		free(id);
		return rc;
	}
	*out = id;
	return 0;
}

void sn_ingest_identity_free(struct sn_ingest_identity *id)
{
	if (!id)
		return;
	sn_pcache_free(id->cache);
	sn_buf_release(&id->scratch);
	sn_buf_release(&id->reduced);
	sn_buf_release(&id->once);
	sn_buf_release(&id->set);
	free(id);
}

void sn_ingest_identity_get_stats(struct sn_ingest_identity *id,
				  struct sn_ingest_identity_stats *st)
{
	st->fast = id->fast;
	st->slow = id->slow;
	st->readonly = id->readonly;
	st->dropped = id->dropped;
	st->deferred = id->deferred;
	st->person_writes = id->person_writes;
	st->created = id->created;
	sn_pcache_get_stats(id->cache, &st->cache);
}

/* ---- helpers ------------------------------------------------------------------------ */

static bool event_is(const struct sn_event_row *row, const char *name)
{
	size_t n = strlen(name);
	return row->event.len == n && memcmp(row->event.p, name, n) == 0;
}

static bool is_merge_event(const struct sn_event_row *row)
{
	return event_is(row, "$identify") || event_is(row, "$create_alias") ||
	       event_is(row, "$merge_dangerously") || event_is(row, "$groupidentify");
}

/* A string span's decoded bytes (in scratch when escaped). */
static int span_text(struct sn_ingest_identity *id, const struct sn_jspan *v, const char **p,
		     size_t *n)
{
	if (!(v->flags & SN_JSPAN_ESCAPED)) {
		*p = sn_jspan_raw(v, n);
		return 0;
	}
	sn_buf_reset(&id->scratch);
	if (sn_jspan_unescape(v, &id->scratch))
		return SN_ERR_NOMEM;
	*p = id->scratch.data ? id->scratch.data : "";
	*n = id->scratch.len;
	return 0;
}

static uint64_t span_hash(struct sn_ingest_identity *id, const struct sn_jspan *v, bool *ok)
{
	if (v->type == SN_JSTRING) {
		const char *p;
		size_t n;
		if (span_text(id, v, &p, &n)) {
			*ok = false;
			return 0;
		}
		return sn_pcache_hash_string(p, n);
	}
	return sn_pcache_hash_json(v->p, v->len);
}

static uint64_t json_hash(struct json_object *v)
{
	if (json_object_is_type(v, json_type_string))
		return sn_pcache_hash_string(json_object_get_string(v),
					     (size_t)json_object_get_string_len(v));
	size_t n = 0;
	const char *t = json_object_to_json_string_length(
	    v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	return sn_pcache_hash_json(t ? t : "null", t ? n : 4);
}

/* The sn_initial_keys index k of a "$initial_<name>" key (initial_names[k]),
 * -1 for any other: <name> is the key itself for the keys without a '$'
 * (utm_source...), "$" <name> for the others. */
static int initial_class(const char *key, size_t n)
{
	const char *rest = key + 9;
	size_t rn = n - 9;
	int c = key_class(rest, rn);
	if (c < 0 || c >= SN_INITIAL_NKEYS || strcmp(initial_names[c], key) != 0) {
		char d[SN_NAMES_LEN_MAX + 1];
		if (rn + 1 > SN_NAMES_LEN_MAX)
			return -1;
		d[0] = '$';
		memcpy(d + 1, rest, rn);
		c = key_class(d, rn + 1);
		if (c < 0 || c >= SN_INITIAL_NKEYS || strcmp(initial_names[c], key) != 0)
			return -1;
	}
	return c;
}

/* One pass over the person's keys, each classified by length and bytes:
 * 50 json-c lookups (25 keys, 25 "$initial_" names) were 7 % of the
 * slow path's instructions. */
static void person_info_of(struct json_object *props, struct sn_pcache_person *info)
{
	memset(info, 0, sizeof(*info));
	json_object_object_foreach(props, key, v)
	{
		size_t n = strlen(key);
		int c;
		if (n > 9 && memcmp(key, "$initial_", 9) == 0) {
			if ((c = initial_class(key, n)) >= 0)
				info->initial_mask |= 1u << c;
		} else if ((c = key_class(key, n)) >= 0 && c < SN_INITIAL_NKEYS) {
			info->present_mask |= 1u << c;
			info->value_hash[c] = json_hash(v);
		}
	}
	sn_enrich_person_info(props, info);
}

static void set_person_id(struct sn_event_row *row, const char *uuid)
{
	struct sn_uuid u;
	if (sn_uuid_parse(uuid, strlen(uuid), &u) == 0)
		memcpy(row->person_id, u.b, 16);
	else
		memset(row->person_id, 0, 16);
}

/* ---- the fast path ----------------------------------------------------------------------- */

/* The §5.2 keys of the event the rules read: every one it carries, none
 * on a recording's events. */
static uint32_t initial_read(const struct sn_ingest_facts *f, const struct sn_event_row *row)
{
	if (!f->initial_present || event_is(row, "$snapshot") || event_is(row, "$snapshot_items"))
		return 0;
	return f->initial_present;
}

/* The value hash of §5.2 key k (computed ahead, or here for an escaped
 * string); false when it cannot be decoded (out of memory). */
static bool initial_hash(struct sn_ingest_identity *id, const struct sn_ingest_facts *f, int k,
			 uint64_t *h)
{
	bool ok = true;
	*h =
	    f->initial_hashed & (1u << k) ? f->initial_hash[k] : span_hash(id, &f->initial[k], &ok);
	return ok;
}

/* $groups from the cache: 1 when every type is cached (groups filled), 0
 * when the slow path must assign or look one up. */
static int fast_groups(struct sn_ingest_identity *id, const struct sn_ingest_facts *f,
		       struct sn_event_row *row)
{
	if (f->groups.type == SN_JNONE)
		return 1;
	if (f->groups.type != SN_JOBJECT)
		return 1; /* ignored by the rules too */
	struct sn_jscan sc;
	struct sn_jspan k, v;
	int rc;
	sn_jscan_init(&sc, f->groups.p, f->groups.len, NULL);
	if (sn_jscan_enter(&sc))
		return 0;
	while ((rc = sn_jscan_next_key(&sc, &k)) > 0) {
		if (sn_jscan_skip(&sc, &v))
			return 0;
		if (v.type != SN_JSTRING) {
			if (v.type == SN_JNUMBER)
				return 0; /* integer keys: let the rules format them */
			continue;	  /* other types are ignored by the rules */
		}
		if ((k.flags & SN_JSPAN_ESCAPED) || (v.flags & SN_JSPAN_ESCAPED))
			return 0;
		size_t tn, kn;
		const char *t = sn_jspan_raw(&k, &tn), *key = sn_jspan_raw(&v, &kn);
		if (kn == 0 || kn > SN_GROUP_KEY_MAX || tn == 0 || tn > SN_GROUP_TYPE_MAX)
			continue; /* the rules ignore these */
		int idx = sn_pcache_get_group_type(id->cache, row->team_id, t, tn);
		if (idx < 0)
			return 0;
		memcpy(id->groups[idx], key, kn);
		id->groups[idx][kn] = 0;
		row->group[idx] = (struct sn_str){id->groups[idx], kn};
	}
	return rc == 0 ? 1 : 0;
}

/* The other id of a merge event the fast path may take: $identify's
 * $anon_distinct_id, or the alias of $create_alias / $merge_dangerously, as
 * a plain string (what the rules read as that id unchanged); NULL for any
 * other event, and for values the rules must see (numbers, escapes, an
 * alias the rules would not act on). */
static const struct sn_jspan *fast_other(const struct sn_ingest_facts *f,
					 const struct sn_event_row *row)
{
	const struct sn_jspan *v;
	if (event_is(row, "$identify"))
		v = &f->anon_id;
	else if (event_is(row, "$create_alias") || event_is(row, "$merge_dangerously"))
		v = &f->alias;
	else
		return NULL;
	if (v->type != SN_JSTRING || (v->flags & SN_JSPAN_ESCAPED) || v->len <= 2 ||
	    v->len - 2 > SN_DISTINCT_ID_MAX)
		return NULL;
	return v;
}

/* A merge event on the fast path: other (fast_other's) becomes one more
 * distinct id of the event's person, through the rules' own step for an id
 * without a person (sn_identity_attach_unseen). 1 = done; 0 = the rules
 * must see the event (the id has a person, is illegal...; or an error,
 * which the slow path meets again and reports). */
static int fast_attach(struct sn_ingest_identity *id, const struct sn_event_row *row,
		       const struct sn_jspan *other, const uint8_t uuid[16],
		       struct sn_pcache_person *pi)
{
	char did[SN_DISTINCT_ID_MAX + 1], oid[SN_DISTINCT_ID_MAX + 1], text[37];
	size_t on;
	const char *o = sn_jspan_raw(other, &on);
	if (row->distinct_id.len > SN_DISTINCT_ID_MAX)
		return 0;
	memcpy(did, row->distinct_id.p, row->distinct_id.len);
	did[row->distinct_id.len] = 0;
	memcpy(oid, o, on);
	oid[on] = 0;
	struct sn_uuid u;
	memcpy(u.b, uuid, 16);
	sn_uuid_format(&u, text);
	struct sn_err err = {0};
	bool attached = false;
	/* Marking the person identified is deferred with its §5.2 values (one
	 * UPDATE of its row instead of two: nearly every person a merge
	 * identifies gets values written in the same batch; BENCHMARKS.md,
	 * session 54), so the person is made dirty first, when that may still
	 * fail. The rules' own step checks the row is not identified yet; the
	 * cache's answer (pi) stands for it here, as it does for the rest of
	 * the fast path. */
	struct sn_pcache_pending *pend = NULL;
	int rc;
	if (!pi->identified && !(pend = sn_pcache_pending(id->cache, row->team_id, uuid, &rc)))
		return 0;
	if (sn_persons_batch_begin(id->persons, &err) ||
	    sn_identity_attach_unseen(id->persons, row->team_id, oid, did, text, &attached, &err) ||
	    !attached)
		return 0;
	if (pend)
		pend->identify = true;
	pi->identified = true;
	/* As the slow path leaves it: the id may have been cached as
	 * personless. */
	sn_pcache_drop_did(id->cache, row->team_id, oid, on);
	return 1;
}

/* try_fast's answers: taken; not taken; not taken, and the distinct id
 * has no person the cache knows of (the case try_create may take). */
enum { FAST_NO, FAST_DONE, FAST_UNSEEN };

static int try_fast(struct sn_ingest_identity *id, const struct sn_ingest_facts *f,
		    struct sn_event_row *row)
{
	if (f->odd_key || f->root_set || f->server_or_os_name)
		return FAST_NO;
	const struct sn_jspan *other = NULL;
	if (is_merge_event(row) && !(other = fast_other(f, row)))
		return FAST_NO;
	bool personless = false;
	if (f->ppp.type != SN_JNONE) {
		if (f->ppp.type != SN_JFALSE && f->ppp.type != SN_JTRUE)
			return FAST_NO; /* a warning to report: the rules do it */
		personless = f->ppp.type == SN_JFALSE;
		if (personless && other)
			return FAST_NO; /* dropped with a warning by the rules */
	}
	enum sn_pcache_kind kind;
	uint8_t uuid[16];
	const char *did = row->distinct_id.p;
	if (!(f->did_hashed
		  ? sn_pcache_get_did_hashed(id->cache, row->team_id, did, row->distinct_id.len,
					     f->did_hash, &kind, uuid)
		  : sn_pcache_get_did(id->cache, row->team_id, did, row->distinct_id.len, &kind,
				      uuid)))
		return personless || other ? FAST_NO : FAST_UNSEEN;
	if (!personless && kind != SN_PCACHE_PERSON && !other)
		return FAST_UNSEEN;
	if (personless) {
		if (kind == SN_PCACHE_PERSON &&
		    !sn_pcache_get_person(id->cache, row->team_id, uuid))
			return FAST_NO;
	}
	struct sn_pcache_person *pi = NULL;
	uint32_t update = 0; /* §5.2 keys whose new value is deferred */
	uint64_t hash[SN_INITIAL_NKEYS];
	if (!personless) {
		if (f->has_set || f->has_set_once || f->has_unset || kind != SN_PCACHE_PERSON)
			return FAST_NO;
		pi = sn_pcache_get_person(id->cache, row->team_id, uuid);
		if (!pi || (f->geo && !sn_enrich_fast_ok(f->geo, pi)))
			return FAST_NO;
		uint32_t read = initial_read(f, row);
		if (read) {
			for (int k = 0; k < SN_INITIAL_NKEYS; k++) {
				if (!(read & (1u << k)))
					continue;
				const struct sn_jspan *v = &f->initial[k];
				if (!initial_hash(id, f, k, &hash[k]))
					return FAST_NO;
				/* $set_once of $initial_<key> must change nothing... */
				if (v->type != SN_JNULL && !(pi->initial_mask & (1u << k)))
					return FAST_NO;
				/* ...and $set of the key either nothing, or only the
				 * key's "latest value", which is deferred. */
				if (!(pi->present_mask & (1u << k)) || pi->value_hash[k] != hash[k])
					update |= 1u << k;
			}
		}
	}
	if (!personless && !fast_groups(id, f, row))
		return FAST_NO; /* (personless events get no $group_N) */
	/* What the rules would write (sn_persons_event_updates): nothing, or
	 * nothing when every change is a new value of a filtered key the
	 * person has. */
	if (update) {
		enum sn_person_updates u = sn_persons_event_updates(row->event.p, row->event.len);
		if (u == SN_UPDATES_NONE ||
		    (u == SN_UPDATES_FILTERED && !(update & ~(pi->present_mask & id->filtered))))
			update = 0;
	}
	for (int k = 0; update && k < SN_INITIAL_NKEYS; k++) {
		if (!(update & (1u << k)))
			continue;
		const struct sn_jspan *v = &f->initial[k];
		if (sn_pcache_set_pending(id->cache, row->team_id, uuid, k, v->p, v->len))
			return FAST_NO; /* out of memory: the slow path flushes what was recorded */
		pi->present_mask |= 1u << k;
		pi->value_hash[k] = hash[k];
	}
	/* The merge's write comes last: when the rules must see the event
	 * after all, the values just deferred are the event's own $set, which
	 * the slow path writes first (flush_person_of) and then sets again. */
	if (other && !fast_attach(id, row, other, uuid, pi))
		return FAST_NO;
	if (update)
		id->deferred++;
	memcpy(row->person_id, uuid, 16);
	return FAST_DONE;
}

bool sn_ingest_json_c_form(const struct sn_jspan *v)
{
	switch (v->type) {
	case SN_JNULL:
	case SN_JTRUE:
	case SN_JFALSE: return true;
	case SN_JSTRING: {
		if (v->flags & SN_JSPAN_ESCAPED)
			return false;
		unsigned char high = 0;
		for (size_t i = 0; i < v->len; i++)
			high |= (unsigned char)v->p[i];
		if (high < 0x80)
			return true;
		/* json-c checks UTF-8 (JSON_TOKENER_VALIDATE_UTF8) and prints
		 * the bytes as they are; the scanner does not check: only
		 * well-formed text (RFC 3629, stricter than json-c) passes. */
		const unsigned char *p = (const unsigned char *)v->p;
		uint32_t cp;
		for (size_t i = 0, n; i < v->len; i += n)
			if (!(n = sn_utf8_decode(p + i, v->len - i, &cp)))
				return false;
		return true;
	}
	case SN_JNUMBER: {
		if (memchr(v->p, '.', v->len) || memchr(v->p, 'e', v->len) ||
		    memchr(v->p, 'E', v->len))
			return true;
		size_t digits = v->len - (v->p[0] == '-');
		return digits <= 18 && !(v->len == 2 && v->p[0] == '-' && v->p[1] == '0');
	}
	default: return false;
	}
}

/* The first event of a distinct id on the fast path: the rules would only
 * create its person from the event's §5.2 values (sn_identity_create_unseen
 * says when); this checks the event is that case, hands over the values'
 * text and caches the new person as the slow path would. Called only when
 * try_fast answered FAST_UNSEEN, which it does after its own checks (no
 * odd key, root $set, $is_server/$os_name or merge event; person
 * processing on). 1 = done; 0 = the rules must see the event (or an
 * error, which the slow path meets again). */
static int try_create(struct sn_ingest_identity *id, const struct sn_ingest_facts *f,
		      const char *uuid_text, size_t uuid_len, struct sn_event_row *row)
{
	if (f->has_set || f->has_set_once || f->has_unset ||
	    row->distinct_id.len > SN_DISTINCT_ID_MAX || uuid_len > 36)
		return 0;
	const char *d = row->distinct_id.p;
	size_t dn = row->distinct_id.len;
	struct sn_pcache_person info = {0};
	const char *values[SN_INITIAL_NKEYS] = {0};
	size_t lens[SN_INITIAL_NKEYS] = {0};
	uint32_t read = initial_read(f, row);
	for (int k = 0; read && k < SN_INITIAL_NKEYS; k++) {
		if (!(read & (1u << k)))
			continue;
		const struct sn_jspan *v = &f->initial[k];
		if (!sn_ingest_json_c_form(v) || !initial_hash(id, f, k, &info.value_hash[k]))
			return 0;
		values[k] = v->p;
		lens[k] = v->len;
		info.present_mask |= 1u << k;
		if (v->type != SN_JNULL)
			info.initial_mask |= 1u << k;
	}
	struct sn_identity_members extra = {0};
	if (f->geo) {
		if (!sn_enrich_new_person(f->geo, &id->once, &id->set, &info))
			return 0;
		extra = (struct sn_identity_members){id->once.data, id->set.data, id->once.len,
						     id->set.len};
	} else {
		sn_enrich_person_info_none(&info);
	}
	if (!fast_groups(id, f, row))
		return 0;
	char did[SN_DISTINCT_ID_MAX + 1], event_uuid[37], person[37];
	memcpy(did, d, dn);
	did[dn] = 0;
	memcpy(event_uuid, uuid_text, uuid_len);
	event_uuid[uuid_len] = 0;
	struct sn_err err = {0};
	bool created = false;
	if (sn_persons_batch_begin(id->persons, &err) ||
	    sn_identity_create_unseen(id->persons, row->team_id, did, event_uuid, row->timestamp_us,
				      &extra, values, lens, person, &created, &err) ||
	    !created)
		return 0;
	set_person_id(row, person);
	sn_pcache_put_person(id->cache, row->team_id, row->person_id, &info);
	sn_pcache_put_did(id->cache, row->team_id, d, dn, SN_PCACHE_PERSON, row->person_id);
	id->created++;
	return 1;
}

void sn_ingest_identity_prefetch(struct sn_ingest_identity *id, int64_t team, const char *did,
				 size_t len, int stage)
{
	sn_pcache_prefetch(id->cache, team, did, len, stage);
}

void sn_ingest_identity_prefetch_hashed(struct sn_ingest_identity *id, int64_t team,
					uint64_t did_hash, int stage)
{
	sn_pcache_prefetch_hashed(id->cache, team, did_hash, stage);
}

void sn_ingest_facts_hash(struct sn_ingest_facts *f, const char *did, size_t len)
{
	f->did_hash = sn_hash64(did, len);
	f->did_hashed = true;
	f->initial_hashed = 0;
	for (int k = 0; k < SN_INITIAL_NKEYS; k++) {
		const struct sn_jspan *v = &f->initial[k];
		if (!(f->initial_present & (1u << k)))
			continue;
		if (v->type != SN_JSTRING) {
			f->initial_hash[k] = sn_pcache_hash_json(v->p, v->len);
		} else if (!(v->flags & SN_JSPAN_ESCAPED)) {
			size_t n;
			const char *t = sn_jspan_raw(v, &n);
			f->initial_hash[k] = sn_pcache_hash_string(t, n);
		} else {
			continue; /* decoded when needed (span_hash) */
		}
		f->initial_hashed |= 1u << k;
	}
}

/* ---- deferred §5.2 values ------------------------------------------------------------------ */

struct flush_ctx {
	struct sn_ingest_identity *id;
	struct sn_err *err;
};

/* The json-c way: parse each value, apply as $set (the fallback when SQLite
 * refuses a value as JSON; such values are skipped here too). */
static int write_pending_json(struct flush_ctx *fc, int64_t team, const char *uuid,
			      const struct sn_pcache_pending *pend)
{
	struct json_object *set = json_object_new_object();
	if (!set)
		return sn_err_set(fc->err, SN_ERR_NOMEM, "out of memory");
	for (int k = 0; k < SN_INITIAL_NKEYS; k++) {
		if (!(pend->mask & (1u << k)))
			continue;
		struct json_object *v = NULL;
		struct sn_err perr = {0};
		if (sn_json_parse(pend->value[k], strlen(pend->value[k]), &v, &perr)) {
			/* The scanner accepted it, json-c does not (it is stricter about
			 * UTF-8): the slow path could not have parsed the event either. */
			sn_log_warn("ingest: dropping a deferred %s value: %s", sn_initial_keys[k],
				    perr.msg);
			continue;
		}
		json_object_object_add(set, sn_initial_keys[k], v);
	}
	bool found;
	int rc = sn_identity_apply_set(fc->id->persons, team, uuid, set, &found, fc->err);
	json_object_put(set);
	return rc;
}

static int write_pending(void *arg, int64_t team, const uint8_t uuid[16],
			 const struct sn_pcache_pending *pend)
{
	struct flush_ctx *fc = arg;
	const char *keys[SN_INITIAL_NKEYS], *values[SN_INITIAL_NKEYS];
	size_t n = 0;
	if (!pend->mask && !pend->identify)
		return 0; /* reserved by a merge that did not happen (fast_attach) */
	for (int k = 0; k < SN_INITIAL_NKEYS; k++) {
		if (pend->mask & (1u << k)) {
			keys[n] = sn_initial_keys[k];
			values[n++] = pend->value[k];
		}
	}
	struct sn_uuid u;
	char text[37];
	memcpy(u.b, uuid, 16);
	sn_uuid_format(&u, text);
	bool found;
	int rc = sn_persons_batch_begin(fc->id->persons, fc->err);
	if (rc == 0)
		rc = sn_persons_set_values(fc->id->persons, team, text, keys, values, n,
					   pend->identify, &found, fc->err);
	if (rc == SN_ERR_INVALID) {
		rc = write_pending_json(fc, team, text, pend);
		/* the mark on its own, also for a person past the size limit */
		if ((rc == 0 || rc == SN_ERR_TOO_BIG) && pend->identify) {
			int irc = sn_persons_set_values(fc->id->persons, team, text, NULL, NULL, 0,
							true, &found, fc->err);
			rc = irc ? irc : rc;
		}
	}
	if (rc == 0)
		fc->id->person_writes++;
	if (rc == SN_ERR_TOO_BIG) {
		/* As for an event: a person past the size limit keeps its old
		 * values rather than blocking ingestion. */
		sn_log_warn("ingest: person %s: %s", text, fc->err->msg);
		rc = 0;
	}
	return rc;
}

int sn_ingest_identity_flush_pending(struct sn_ingest_identity *id, struct sn_err *err)
{
	struct flush_ctx fc = {id, err};
	return sn_pcache_take_all_pending(id->cache, write_pending, &fc);
}

/* Before a slow event: the deferred values of the person a distinct id
 * belongs to reach the store, so the rules see them, in event order. */
static int flush_person_of(struct sn_ingest_identity *id, int64_t team, const char *did, size_t len,
			   struct sn_err *err)
{
	if (!sn_pcache_ndirty(id->cache))
		return 0;
	struct flush_ctx fc = {id, err};
	enum sn_pcache_kind kind;
	uint8_t uuid[16];
	if (sn_pcache_get_did(id->cache, team, did, len, &kind, uuid))
		return sn_pcache_take_pending(id->cache, team, uuid, write_pending, &fc);
	/* Not cached: its person may still be dirty through another id. Only
	 * the person's id is needed: an index lookup, no row read or parse
	 * (and no entry in the flags' lookup cache for an id seen once). */
	char *z = strndup(did, len);
	if (!z)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	char text[37];
	int rc = sn_persons_uuid_of(id->persons, team, z, text, err);
	free(z);
	if (rc == SN_ERR_NOT_FOUND)
		return 0;
	struct sn_uuid u;
	if (rc == 0 && sn_uuid_parse(text, 36, &u) == 0)
		rc = sn_pcache_take_pending(id->cache, team, u.b, write_pending, &fc);
	return rc;
}

/* The id a merge event names besides its distinct id, as text (strings and
 * integers; NULL for anything else). */
static const char *merge_other(struct json_object *v, char buf[32])
{
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	if (json_object_is_type(v, json_type_int)) {
		snprintf(buf, 32, "%lld", (long long)json_object_get_int64(v));
		return buf;
	}
	return NULL;
}

/* ---- the slow path ------------------------------------------------------------------------ */

/* The event object as text with only what build_properties and the rules
 * read: the root's properties (only names key_class knows: the rules get
 * nothing else of the event, so a name the rules start reading must be
 * added there; test_identity_reduced_parse), $set and $set_once,
 * in their order and with their duplicates, so json-c resolves duplicates
 * as it would on the whole text. Parsing ~1.2 KB of pageview properties
 * with json-c was a fifth of the slow path's instructions. Returns false
 * when the text needs the whole parse (an escaped key, a scan error). */
static bool reduce_event(struct sn_ingest_identity *id, const struct sn_jspan *data)
{
	struct sn_buf *b = &id->reduced;
	struct sn_jscan sc;
	struct sn_jspan k, v;
	int rc;
	bool first = true;
	sn_buf_reset(b);
	sn_jscan_init(&sc, data->p, data->len, NULL);
	if (sn_jscan_enter(&sc) || sn_buf_appendc(b, '{'))
		return false;
	while ((rc = sn_jscan_next_key(&sc, &k)) > 0) {
		size_t kn;
		const char *key = sn_jspan_raw(&k, &kn);
		if (k.flags & SN_JSPAN_ESCAPED)
			return false;
		bool props = kn == 10 && memcmp(key, "properties", 10) == 0;
		if (!props && !((kn == 4 && memcmp(key, "$set", 4) == 0) ||
				(kn == 9 && memcmp(key, "$set_once", 9) == 0))) {
			if (sn_jscan_skip(&sc, &v))
				return false;
			continue;
		}
		if ((!first && sn_buf_appendc(b, ',')) || sn_buf_append(b, k.p, k.len) ||
		    sn_buf_appendc(b, ':'))
			return false;
		first = false;
		if (!props || sn_jscan_peek(&sc) != SN_JOBJECT) {
			if (sn_jscan_skip(&sc, &v) || sn_buf_append(b, v.p, v.len))
				return false;
			continue;
		}
		if (sn_jscan_enter(&sc) || sn_buf_appendc(b, '{'))
			return false;
		bool pfirst = true;
		while ((rc = sn_jscan_next_key(&sc, &k)) > 0) {
			if (sn_jscan_skip(&sc, &v) || (k.flags & SN_JSPAN_ESCAPED))
				return false;
			key = sn_jspan_raw(&k, &kn);
			if (key_class(key, kn) < 0)
				continue;
			if ((!pfirst && sn_buf_appendc(b, ',')) || sn_buf_append(b, k.p, k.len) ||
			    sn_buf_appendc(b, ':') || sn_buf_append(b, v.p, v.len))
				return false;
			pfirst = false;
		}
		if (rc < 0 || sn_buf_appendc(b, '}'))
			return false;
	}
	return rc == 0 && sn_buf_appendc(b, '}') == 0;
}

int sn_ingest_merge_root_set(struct json_object *ev, struct json_object *props, bool *changed)
{
	static const char *const roots[] = {"$set", "$set_once"};
	for (size_t i = 0; i < 2; i++) {
		struct json_object *root = sn_json_get(ev, roots[i]);
		if (!json_object_is_type(root, json_type_object))
			continue;
		struct json_object *in = sn_json_get(props, roots[i]);
		if (!json_object_is_type(in, json_type_object)) {
			in = json_object_new_object();
			if (!in || json_object_object_add(props, roots[i], in))
				return SN_ERR_NOMEM;
		}
		json_object_object_foreach(root, k, v)
		{
			json_object_object_add(in, k, json_object_get(v));
			if (changed)
				*changed = true;
		}
	}
	return 0;
}

/* The event's properties as sn_identity_process wants them: the root $set and
 * $set_once merged into properties.$set / $set_once, root values winning. */
static int build_properties(struct sn_ingest_identity *id, const struct sn_ingest_facts *f,
			    struct json_object **data_out, struct json_object **props_out,
			    struct sn_err *err)
{
	struct json_object *data = NULL;
	int rc = reduce_event(id, &f->data)
		     ? sn_json_parse(id->reduced.data, id->reduced.len, &data, err)
		     : sn_json_parse(f->data.p, f->data.len, &data, err);
	if (rc)
		return rc;
	struct json_object *props = sn_json_get(data, "properties");
	if (!json_object_is_type(props, json_type_object)) {
		props = json_object_new_object();
		json_object_object_add(data, "properties", props);
	}
	if (sn_ingest_merge_root_set(data, props, NULL)) {
		json_object_put(data);
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	}
	*data_out = data;
	*props_out = props;
	return 0;
}

/* JavaScript's String(v) for the ids a merge names, as far as the cache
 * needs it: strings and integers. Anything else clears the whole cache. */
static void drop_other_id(struct sn_ingest_identity *id, int64_t team, struct json_object *v)
{
	if (!v)
		return;
	if (json_object_is_type(v, json_type_string)) {
		sn_pcache_drop_did(id->cache, team, json_object_get_string(v),
				   (size_t)json_object_get_string_len(v));
	} else if (json_object_is_type(v, json_type_int)) {
		char t[32];
		int n = snprintf(t, sizeof(t), "%lld", (long long)json_object_get_int64(v));
		sn_pcache_drop_did(id->cache, team, t, (size_t)n);
	} else {
		/* Such an id made the slow path flush every deferred value, so
		 * nothing dirty is dropped here. */
		sn_pcache_clear(id->cache);
	}
}

/* Group types named by the event, into the cache (read from the store, which
 * assigned them during this event). */
static void learn_group_types(struct sn_ingest_identity *id, int64_t team,
			      struct json_object *props)
{
	struct json_object *groups = sn_json_get(props, "$groups");
	if (!json_object_is_type(groups, json_type_object))
		return;
	json_object_object_foreach(groups, type, v)
	{
		(void)v;
		size_t n = strlen(type);
		if (!n || n > SN_GROUP_TYPE_MAX ||
		    sn_pcache_get_group_type(id->cache, team, type, n) >= 0)
			continue;
		int idx;
		struct sn_err e = {0};
		if (sn_persons_group_type_index(id->persons, team, type, &idx, &e) == 0)
			sn_pcache_put_group_type(id->cache, team, type, n, idx);
	}
}

static int slow(struct sn_ingest_identity *id, const struct sn_ingest_facts *f,
		const char *uuid_text, size_t uuid_len, struct sn_event_row *row, bool *drop,
		struct sn_err *err)
{
	struct json_object *data = NULL, *props = NULL;
	struct sn_identity_result res = {0};
	char event[256], uuid[64], *did = NULL;
	int rc;

	if (row->event.len >= sizeof(event) || uuid_len >= sizeof(uuid))
		return sn_err_set(err, SN_ERR_INVALID, "event name or uuid too long");
	memcpy(event, row->event.p, row->event.len);
	event[row->event.len] = 0;
	memcpy(uuid, uuid_text, uuid_len);
	uuid[uuid_len] = 0;
	did = malloc(row->distinct_id.len + 1);
	if (!did)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	memcpy(did, row->distinct_id.p, row->distinct_id.len);
	did[row->distinct_id.len] = 0;
	if (f->data.type != SN_JOBJECT) {
		rc = sn_err_set(err, SN_ERR_INVALID, "the record has no event object");
		goto out;
	}
	if ((rc = build_properties(id, f, &data, &props, err)))
		goto out;
	if (f->geo && (rc = sn_enrich_apply_identity(f->geo, props, err)))
		goto out;
	if ((rc = sn_persons_batch_begin(id->persons, err)))
		goto out;
	if (sn_pcache_ndirty(id->cache)) {
		/* Every person the event can read or write: its distinct id's, and
		 * for a merge the other id's. */
		char nb[32];
		struct json_object *ov = NULL;
		if (event_is(row, "$identify"))
			ov = sn_json_get(props, "$anon_distinct_id");
		else if (event_is(row, "$create_alias") || event_is(row, "$merge_dangerously"))
			ov = sn_json_get(props, "alias");
		const char *other = ov ? merge_other(ov, nb) : NULL;
		if ((rc = flush_person_of(id, row->team_id, did, row->distinct_id.len, err)) ||
		    (other &&
		     (rc = flush_person_of(id, row->team_id, other, strlen(other), err))) ||
		    (ov && !other && (rc = sn_ingest_identity_flush_pending(id, err))))
			goto out; /* (an id the cache cannot name: everything was flushed) */
	}
	struct sn_identity_event ev = {.team_id = row->team_id,
				       .distinct_id = did,
				       .event = event,
				       .uuid = uuid,
				       .timestamp_us = row->timestamp_us,
				       .properties = props};
	if ((rc = sn_identity_process(id->persons, &ev, &res, err)))
		goto out;
	id->slow++;
	for (unsigned i = 0; i < res.nwarnings; i++)
		sn_log_warn("ingest: team %lld, event %s: %s: %s", (long long)row->team_id, uuid,
			    res.warnings[i].type, res.warnings[i].details);
	if (res.dropped) {
		*drop = true;
		id->dropped++;
		goto out;
	}
	set_person_id(row, res.person_uuid);
	for (int g = 0; g < SN_STORE_GROUPS; g++) {
		if (!res.has_group[g])
			continue;
		memcpy(id->groups[g], res.group_key[g], sizeof(id->groups[g]));
		row->group[g] = (struct sn_str){id->groups[g], strlen(id->groups[g])};
	}

	/* Keep the cache true to the store. */
	int64_t team = row->team_id;
	if (res.merged_away[0]) {
		struct sn_uuid gone;
		if (sn_uuid_parse(res.merged_away, 36, &gone) == 0)
			sn_pcache_drop_person(id->cache, team, gone.b);
	}
	if (event_is(row, "$identify"))
		drop_other_id(id, team, sn_json_get(props, "$anon_distinct_id"));
	else if (event_is(row, "$create_alias") || event_is(row, "$merge_dangerously"))
		drop_other_id(id, team, sn_json_get(props, "alias"));
	if (res.personless) {
		sn_pcache_put_did(id->cache, team, did, row->distinct_id.len,
				  res.no_person ? SN_PCACHE_NO_PERSON : SN_PCACHE_PERSON,
				  row->person_id);
	} else {
		struct sn_pcache_person info;
		person_info_of(res.person_properties, &info);
		info.identified = res.person_is_identified;
		sn_pcache_put_person(id->cache, team, row->person_id, &info);
		sn_pcache_put_did(id->cache, team, did, row->distinct_id.len, SN_PCACHE_PERSON,
				  row->person_id);
	}
	learn_group_types(id, team, props);
out:
	sn_identity_result_release(&res);
	json_object_put(data);
	free(did);
	return rc;
}

/* ---- replay of an applied event --------------------------------------------------------- */

static int readonly(struct sn_ingest_identity *id, const struct sn_ingest_facts *f,
		    struct sn_event_row *row, bool *drop, struct sn_err *err)
{
	char *did = malloc(row->distinct_id.len + 1);
	struct sn_person person = {0};
	int rc = 0;
	if (!did)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	memcpy(did, row->distinct_id.p, row->distinct_id.len);
	did[row->distinct_id.len] = 0;
	id->readonly++;
	if (f->ppp.type == SN_JFALSE && is_merge_event(row)) {
		*drop = true; /* the rules drop these whatever the store holds */
		goto out;
	}
	rc = sn_persons_get_by_distinct_id(id->persons, row->team_id, did, &person, err);
	if (rc == 0) {
		set_person_id(row, person.uuid);
	} else if (rc == SN_ERR_NOT_FOUND) {
		char v5[37];
		sn_persons_uuid_for(row->team_id, did, row->distinct_id.len, v5);
		set_person_id(row, v5);
		rc = 0;
	} else {
		goto out;
	}
	if (f->groups.type == SN_JOBJECT && f->ppp.type != SN_JFALSE) {
		struct json_object *groups = NULL;
		if (sn_json_parse(f->groups.p, f->groups.len, &groups, NULL) == 0) {
			json_object_object_foreach(groups, type, v)
			{
				char key[SN_GROUP_KEY_MAX + 1];
				int idx;
				if (!sn_persons_group_key(v, key) ||
				    sn_persons_group_type_index(id->persons, row->team_id, type,
								&idx, NULL) != 0)
					continue;
				size_t n = strlen(key);
				memcpy(id->groups[idx], key, n + 1);
				row->group[idx] = (struct sn_str){id->groups[idx], n};
			}
			json_object_put(groups);
		}
	}
out:
	sn_person_release(&person);
	free(did);
	return rc;
}

int sn_ingest_identity_event(struct sn_ingest_identity *id, const struct sn_ingest_facts *f,
			     const char *uuid_text, size_t uuid_len, struct sn_event_row *row,
			     bool apply, bool *drop, struct sn_err *err)
{
	*drop = false;
	for (int g = 0; g < SN_STORE_GROUPS; g++)
		row->group[g] = (struct sn_str){"", 0};
	if (!row->distinct_id.len)
		return 0; /* capture never writes one; keep the event, personless */
	if (!apply)
		return readonly(id, f, row, drop, err);
	/* The batch first: its BEGIN IMMEDIATE is where a commit of another
	 * process (`snout persons import` beside the server) is noticed, and
	 * after it none can happen until the batch commits. Read before, the
	 * generation could let this event trust a person that process merged
	 * away. */
	int brc = sn_persons_batch_begin(id->persons, err);
	if (brc)
		return brc;
	uint64_t gen = sn_persons_generation(id->persons);
	if (gen != id->generation) {
		/* A person was deleted or another process wrote the store: its
		 * distinct ids must not be trusted. Deferred values go first (a
		 * deleted person's are no-ops). */
		int rc = 0;
		if (sn_pcache_ndirty(id->cache) && (rc = sn_ingest_identity_flush_pending(id, err)))
			return rc;
		sn_pcache_clear(id->cache);
		id->generation = gen;
	}
	if (sn_pcache_ndirty(id->cache) >= id->dirty_max) {
		int rc = sn_persons_batch_begin(id->persons, err);
		if (rc || (rc = sn_ingest_identity_flush_pending(id, err)))
			return rc;
	}
	int fast = try_fast(id, f, row);
	if (fast == FAST_DONE ||
	    (fast == FAST_UNSEEN && try_create(id, f, uuid_text, uuid_len, row))) {
		id->fast++;
		return 0;
	}
	for (int g = 0; g < SN_STORE_GROUPS; g++)
		row->group[g] = (struct sn_str){"", 0};
	return slow(id, f, uuid_text, uuid_len, row, drop, err);
}

int sn_ingest_identity_idle(struct sn_ingest_identity *id)
{
	return sn_pcache_shrink(id->cache);
}
