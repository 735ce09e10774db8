/*
 * ingest_internal.h — what the files of ingest/ share (and its unit test
 * reaches into): the distinct-id cache (person_cache.c) and the identity step
 * between a WAL record and its stored row (identity.c). Not for other
 * modules: they use ingest.h.
 */
#ifndef SN_INGEST_INTERNAL_H
#define SN_INGEST_INTERNAL_H

#include "ingest/ingest.h"
#include "meta/meta.h"
#include "persons/persons.h"
#include "store/store.h"

/* ---- the §5.2 keys (spec posthog-wire.md), in persons/props.c's order ---- */

#define SN_INITIAL_NKEYS 25
extern const char *const sn_initial_keys[SN_INITIAL_NKEYS];

/* ---- the WAL read-ahead (readahead.c) ------------------------------------------ */

/* A thread reading the WAL from `reader` (which it owns until stopped) and
 * preparing each record with sink->prepare, into a ring the ingest thread
 * consumes in order. wake(wake_arg) is called once for records published
 * while the consumer may be sleeping elsewhere (its idle poll). */
struct sn_readahead;
int sn_readahead_start(struct sn_readahead **out, struct sn_wal_reader *reader, uint64_t from_lsn,
		       const struct sn_ingest_sink *sink, uint64_t idle_poll_ms,
		       void (*wake)(void *arg), void *wake_arg, struct sn_err *err);
/* The k-th record after the head (k = 0: the head) and its prepared state,
 * valid until it is popped: 1, or 0 when there is none yet. */
int sn_readahead_peek(struct sn_readahead *ra, size_t k, const struct sn_wal_entry **e,
		      void **prep);
/* Waits (up to ~200 ms) while the ring is empty, unless the reader failed,
 * or has handed on every record up to `durable` and found the end of the log. */
void sn_readahead_wait(struct sn_readahead *ra, uint64_t durable);
/* Releases the head record. */
void sn_readahead_pop(struct sn_readahead *ra);
/* A reader error not yet reported (its code, err set; the thread retries), or 0. */
int sn_readahead_error(struct sn_readahead *ra, struct sn_err *err);
/* Stops the thread and frees the ring (not the reader). */
void sn_readahead_stop(struct sn_readahead *ra);

/* ---- distinct-id cache (person_cache.c) ----------------------------------- */

enum sn_pcache_kind {
	SN_PCACHE_PERSON = 1,	/* the distinct id belongs to person `uuid` */
	SN_PCACHE_NO_PERSON = 2 /* seen only in personless events: no person; uuid = UUIDv5 */
};

/* What the cache knows of a person: which §5.2 keys it holds, with a hash of
 * each value, and which $initial_<key> it holds. Enough to tell that an
 * event's derived $set / $set_once would change nothing. */
struct sn_pcache_person {
	uint32_t present_mask;		       /* bit k: the person has sn_initial_keys[k] */
	uint32_t initial_mask;		       /* bit k: the person has $initial_<key k> */
	uint64_t value_hash[SN_INITIAL_NKEYS]; /* valid where present_mask has the bit */
	/* GeoIP (enrich.c): bit k of sn_geo_keys: $geoip_<k> / $initial_geoip_<k>
	 * present; a hash of the $geoip_* values (sn_enrich_person_info). */
	uint32_t geo_present, geo_initial;
	uint64_t geo_hash;
	bool identified; /* the person's is_identified */
};

struct sn_pcache_stats {
	uint64_t hits, misses, evictions, invalidations;
	size_t distinct_ids, persons;
};

struct sn_pcache;

/* max_entries bounds both tables (distinct ids and persons); 0 = 262144.
 * Memory follows use: about 100-200 bytes per distinct id plus its text,
 * 300-400 bytes per person (more while it has deferred values). */
int sn_pcache_new(struct sn_pcache **out, size_t max_entries, struct sn_err *err);
void sn_pcache_free(struct sn_pcache *c);
void sn_pcache_clear(struct sn_pcache *c);
/* Empties the cache and gives its tables back (they start small again and
 * grow with use): 1, or 0 without doing anything while deferred values
 * (sn_pcache_ndirty) wait in it. */
int sn_pcache_shrink(struct sn_pcache *c);
/* Lookup of a distinct id: 1 with kind and uuid filled, 0 when unknown. */
int sn_pcache_get_did(struct sn_pcache *c, int64_t team, const char *did, size_t len,
		      enum sn_pcache_kind *kind, uint8_t uuid[16]);
/* The same given did_hash = sn_hash64(did, len), computed ahead. */
int sn_pcache_get_did_hashed(struct sn_pcache *c, int64_t team, const char *did, size_t len,
			     uint64_t did_hash, enum sn_pcache_kind *kind, uint8_t uuid[16]);
int sn_pcache_put_did(struct sn_pcache *c, int64_t team, const char *did, size_t len,
		      enum sn_pcache_kind kind, const uint8_t uuid[16]);
void sn_pcache_drop_did(struct sn_pcache *c, int64_t team, const char *did, size_t len);
/* The person's entry, or NULL. A distinct id is trusted only while its
 * person has an entry: a merge removes the merged-away person's. */
/* Hints for the fast path's lookups of a distinct id: stage 1 its slot, 2
 * its person's slot, 3 the person's info, each reading what the one before
 * asked for. They only ask the memory for lines: results are unchanged. */
void sn_pcache_prefetch(struct sn_pcache *c, int64_t team, const char *did, size_t len, int stage);
void sn_pcache_prefetch_hashed(struct sn_pcache *c, int64_t team, uint64_t did_hash, int stage);
struct sn_pcache_person *sn_pcache_get_person(struct sn_pcache *c, int64_t team,
					      const uint8_t uuid[16]);
int sn_pcache_put_person(struct sn_pcache *c, int64_t team, const uint8_t uuid[16],
			 const struct sn_pcache_person *info);
void sn_pcache_drop_person(struct sn_pcache *c, int64_t team, const uint8_t uuid[16]);
/* Write-behind of §5.2 "latest value" updates. The fast path may take an
 * event whose only effect on its person is $set of §5.2 keys the person
 * already has an $initial_ of: it records the new value here (the person's
 * entry then reflects it) instead of going to SQLite. Pending values must
 * reach the store before anything else reads or writes that person there:
 * the identity step flushes a person's before a slow event touching it, and
 * all of them before each batch commit. Dirty persons are never evicted.
 * value is the raw JSON text (copied). */
int sn_pcache_set_pending(struct sn_pcache *c, int64_t team, const uint8_t uuid[16], int key,
			  const char *value, size_t len);
struct sn_pcache_pending {
	uint32_t mask;		       /* bit k: value[k] is set */
	bool identify;		       /* is_identified = 1 */
	char *value[SN_INITIAL_NKEYS]; /* NUL-terminated JSON text */
};
/* A cached person's deferred writes, made dirty (with nothing to write
 * yet) if it was not: NULL when the person is not cached (*rc
 * SN_ERR_NOT_FOUND) or out of memory. The pointer stays valid until the
 * writes are taken or the person dropped. For the is_identified = 1 a
 * fast-path merge sets (identity.c, fast_attach): asked for before the
 * merge's own write, so that setting `identify` after it cannot fail; it
 * goes out with the person's values, in the same UPDATE. */
struct sn_pcache_pending *sn_pcache_pending(struct sn_pcache *c, int64_t team,
					    const uint8_t uuid[16], int *rc);
/* Calls fn for the pending values of one person (take_pending) or of every
 * dirty person (take_all_pending) and forgets them; when fn fails, that
 * person's values are kept (for a retry) and the error is returned. */
typedef int (*sn_pcache_pending_fn)(void *ctx, int64_t team, const uint8_t uuid[16],
				    const struct sn_pcache_pending *pend);
int sn_pcache_take_pending(struct sn_pcache *c, int64_t team, const uint8_t uuid[16],
			   sn_pcache_pending_fn fn, void *ctx);
int sn_pcache_take_all_pending(struct sn_pcache *c, sn_pcache_pending_fn fn, void *ctx);
size_t sn_pcache_ndirty(struct sn_pcache *c);

/* Group type name → index, per team (never evicted; indexes never change). */
int sn_pcache_get_group_type(struct sn_pcache *c, int64_t team, const char *type, size_t len);
void sn_pcache_put_group_type(struct sn_pcache *c, int64_t team, const char *type, size_t len,
			      int index);
void sn_pcache_get_stats(struct sn_pcache *c, struct sn_pcache_stats *st);

/* Hash of a property value as the cache compares them: a string by its
 * decoded bytes, anything else by its compact JSON text. */
uint64_t sn_pcache_hash_string(const char *s, size_t len);
uint64_t sn_pcache_hash_json(const char *text, size_t len);

/* ---- enrichment (enrich.c) -------------------------------------------------- */

/* The §5.3 keys after "$geoip_", in the spec's order. */
#define SN_GEO_NKEYS 18
extern const char *const sn_geo_keys[SN_GEO_NKEYS];

/* One address's place: the 18 "$geoip_<key>":value members (missing values
 * null) as JSON text without braces, and what identity compares. Owned by
 * the enrich object's cache; valid until its next sn_enrich_event. */
struct sn_enrich_geo {
	char *props;
	size_t props_len;
	uint64_t hash;	  /* of the values, as sn_enrich_person_info hashes a person's */
	uint32_t nonnull; /* bit k: sn_geo_keys[k] has a value */
};

struct sn_enrich;
struct sn_ingest_facts;
int sn_enrich_new(struct sn_enrich **out, const struct sn_enrich_options *o, struct sn_err *err);
void sn_enrich_free(struct sn_enrich *en);
/* One event, after the record scan: sets f->geo (NULL when GeoIP does not
 * apply) and, when something changes ($ip added from f->root_ip or removed,
 * $geoip_* added), points row->properties at the rewritten text (valid
 * until the next call). Fails only when out of memory. */
int sn_enrich_event(struct sn_enrich *en, struct sn_ingest_facts *f, struct sn_event_row *row,
		    struct sn_err *err);
void sn_enrich_get_stats(const struct sn_enrich *en, struct sn_enrich_stats *st);
/* Identity's side: the geo fields of a person's cache entry from its
 * properties; whether an event's place changes nothing on a cached person
 * (the fast path may take it); and, on the slow path, the place added to
 * the event's $set / $set_once (json-c) without overriding the client's. */
void sn_enrich_person_info(struct json_object *person_props, struct sn_pcache_person *info);
/* The same for a person without any $geoip_* / $initial_geoip_* key. */
void sn_enrich_person_info_none(struct sn_pcache_person *info);
/* For a person the rules create from an event with this place and no
 * $set / $set_once of its own (sn_enrich_apply_identity, then the new
 * person's properties): once gets "$initial_geoip_<k>":v for each value,
 * set "$geoip_<k>":v for all keys, as object members in json-c's form
 * (struct sn_identity_members), and info its geo fields. false when a
 * value's text is not json-c's (the rules must do the event). */
bool sn_enrich_new_person(const struct sn_enrich_geo *geo, struct sn_buf *once, struct sn_buf *set,
			  struct sn_pcache_person *info);
bool sn_enrich_fast_ok(const struct sn_enrich_geo *geo, const struct sn_pcache_person *pi);
int sn_enrich_apply_identity(const struct sn_enrich_geo *geo, struct json_object *props,
			     struct sn_err *err);

/* ---- autocapture elements (elements.c) ----------------------------------------- */

/* PostHog's elements_chain for a $elements array (posthog-js autocapture
 * entries), appended to out; anything but an array appends nothing.
 * SN_ERR_TOO_BIG when out's maximum is reached, SN_ERR_NOMEM. */
struct json_object;
int sn_elements_chain(struct json_object *elements, struct sn_buf *out);
/* The same for a list of PostHog Element models ({text, tag_name, href,
 * attr_class: [...], attr_id, nth_child, nth_of_type, attributes: {...}}):
 * the second half of the conversion alone, which PostHog's own tests pin. */
int sn_elements_chain_models(struct json_object *elements, struct sn_buf *out);
/* The same from the array's JSON text; SN_ERR_INVALID (err says why) when
 * json-c refuses it. */
int sn_elements_chain_text(const char *json, size_t len, struct sn_buf *out, struct sn_err *err);
/* What the record scan found of the two members sn_ingest_elements cuts
 * (index 0 "$elements", 1 "$elements_chain"): how often each occurred, and
 * for one occurrence its member's index in the scan's member lengths and
 * its value. */
struct sn_elements_hint {
	uint32_t j[2];
	struct sn_jspan v[2];
	uint8_t n[2];
};

/* The store sink's step for an event whose properties have a "$elements"
 * or "$elements_chain" member: both leave row->properties (pointed at a
 * copy without them, in props; row->pmembers, when set, must describe the
 * text, and are cut alike into members, or dropped), and when the row has no
 * elements_chain yet, the chain built from a $elements array (into chain;
 * row->elements_chain points there). All stay valid until the next call.
 * hint (or NULL), when row->pmembers are the scan's: the scan's findings,
 * which spare a walk of the members and keep the lengths (checked against
 * the text; without a hint that fits it, or with a key seen twice, the
 * text is scanned and the row's lengths dropped). Fails only
 * when out of memory or past the buffers' limits; a $elements json-c
 * cannot read leaves the row without a chain, a text that is not an
 * object is left as it is. */
int sn_ingest_elements(struct sn_buf *chain, struct sn_buf *props, struct sn_buf *members,
		       struct sn_event_row *row, const struct sn_elements_hint *hint,
		       struct sn_err *err);

/* ---- the identity step (identity.c) --------------------------------------- */

/* $geoip_* members whose place the record scan notes (enrich.c cuts them
 * out without scanning the text again); an event with more is rescanned. */
#define SN_GEO_MEMBERS_MAX 4

/* What the record scan collects for identity, alongside the row's fields.
 * Spans point into the WAL record. */
struct sn_ingest_facts {
	struct sn_jspan data; /* the event object */
	bool root_set;	      /* data has a root-level $set or $set_once */
	bool has_set, has_set_once, has_unset;
	bool odd_key;			/* an escaped key: the scan cannot match it */
	bool server_or_os_name;		/* $is_server or $os_name present */
	struct sn_jspan ppp;		/* $process_person_profile */
	struct sn_jspan groups;		/* $groups */
	struct sn_jspan anon_id, alias; /* $anon_distinct_id, alias: a merge's other id */
	struct sn_jspan group_prop[5];	/* "$group_0".."$group_4" set directly as properties */
	uint32_t initial_present;	/* bit k: sn_initial_keys[k] present */
	/* Enrichment (enrich.c): the "$ip" member, $geoip_disable, whether any
	 * other $geoip_* key is present; geo is set by sn_enrich_event. */
	struct sn_jspan ip_key, ip, geoip_disable;
	struct sn_jspan root_ip; /* the record's "ip": the request's address */
	bool geoip_keys;
	/* The $geoip_* members but $geoip_disable, in text order, in
	 * geo_member (below) up to SN_GEO_MEMBERS_MAX; geo_members_over when
	 * there were more; ip_dup when "$ip" came twice. */
	uint8_t ngeo_members;
	bool geo_members_over, ip_dup;
	const struct sn_enrich_geo *geo;
	/* Hashes the fast path compares, computed ahead by sn_ingest_facts_hash
	 * (on the read-ahead thread): sn_hash64 of the decoded distinct id
	 * (did_hashed), and the value hash of each §5.2 key in initial_hashed
	 * (the others, escaped strings, are hashed when needed). */
	bool did_hashed;
	uint64_t did_hash;
	uint32_t initial_hashed;
	/* Last, and read only where initial_present / initial_hashed have the
	 * key's bit (geo_member: below ngeo_members), so a scan need not clear
	 * them (SN_INGEST_FACTS_CLEAR: 800 of the struct's bytes a record). */
	struct sn_jspan initial[SN_INITIAL_NKEYS];
	uint64_t initial_hash[SN_INITIAL_NKEYS];
	struct sn_ingest_member {
		struct sn_jspan key;
		const char *end; /* past the value */
	} geo_member[SN_GEO_MEMBERS_MAX];
};
/* The bytes of a struct sn_ingest_facts a fresh scan must zero. */
#define SN_INGEST_FACTS_CLEAR offsetof(struct sn_ingest_facts, initial)

/* Notes a top-level property key of the event (called by the record scan
 * for each key, with the value's span). Without identity only what the
 * rest of the sink reads is noted: enrichment's keys and $group_N (the
 * identity rules' keys were 6 % of the ingest thread for nothing). */
void sn_ingest_facts_key(struct sn_ingest_facts *f, const struct sn_jspan *key,
			 const struct sn_jspan *value, bool identity);
/* After the scan, with the row's decoded distinct id: the hashes above. A
 * pure function of the record, so it runs ahead of the ingest thread. */
void sn_ingest_facts_hash(struct sn_ingest_facts *f, const char *did, size_t len);
/* Whether json-c prints the scanned value v as its own bytes (identity.c):
 * unescaped strings of well-formed UTF-8, literals, doubles (json-c keeps
 * their text), integers that parse back to themselves (not "-0", not past
 * 18 digits). */
bool sn_ingest_json_c_form(const struct sn_jspan *v);

struct sn_ingest_identity;

struct sn_ingest_identity_stats {
	uint64_t fast, slow, readonly, dropped;
	uint64_t deferred;	/* fast events whose §5.2 $set was deferred */
	uint64_t person_writes; /* persons written by deferred-value flushes */
	uint64_t created;	/* fast events that created their person */
	struct sn_pcache_stats cache;
};

int sn_ingest_identity_new(struct sn_ingest_identity **out, struct sn_persons *persons,
			   size_t cache_entries, struct sn_err *err);
void sn_ingest_identity_free(struct sn_ingest_identity *id);

/* One event's identity: fills row->person_id and row->group[] (group texts
 * live in the identity object until the next call) and sets *drop when the
 * event must not be stored. apply = false is the replay of an event whose
 * changes the person store already holds: nothing is written, the person id
 * is the distinct id's current person (or its UUIDv5), which query-time
 * overrides make equivalent to the one stamped the first time. apply = true
 * opens the persons batch when the event needs SQLite. */
int sn_ingest_identity_event(struct sn_ingest_identity *id, const struct sn_ingest_facts *f,
			     const char *uuid_text, size_t uuid_len, struct sn_event_row *row,
			     bool apply, bool *drop, struct sn_err *err);
/* The record scan's hints (sn_pcache_prefetch), stage 1 to 3 as the scan
 * goes on. team is a guess
 * (the previous record's): a wrong one costs a useless prefetch. */
void sn_ingest_identity_prefetch(struct sn_ingest_identity *id, int64_t team, const char *did,
				 size_t len, int stage);
/* The same given the facts' did_hash (the read-ahead's records). */
void sn_ingest_identity_prefetch_hashed(struct sn_ingest_identity *id, int64_t team,
					uint64_t did_hash, int stage);
void sn_ingest_identity_get_stats(struct sn_ingest_identity *id,
				  struct sn_ingest_identity_stats *st);

/* Applies the pending §5.2 values to the store (before a batch commit). */
int sn_ingest_identity_flush_pending(struct sn_ingest_identity *id, struct sn_err *err);
/* Ingestion is idle: the person cache is emptied and its memory given back
 * (sn_pcache_shrink), unless deferred values wait in it. 1 when it was. */
int sn_ingest_identity_idle(struct sn_ingest_identity *id);

/* Tests: the next n persons commits of store sink flushes fail after the
 * parts were written, as a crash between the two would leave things. */
void sn_store_sink_test_fail_commits(struct sn_store_sink *s, int n);
/* Tests: the next n event records each fail their first try once enriched
 * (before identity), as an out-of-memory would; the worker retries them. */
void sn_store_sink_test_fail_consume(struct sn_store_sink *s, int n);
/* PostHog's normalizeEvent merge: the event object's root-level $set /
 * $set_once members into props.$set / $set_once (made when missing or not
 * objects), root values winning; *changed (may be NULL) set when a value
 * was added. SN_ERR_NOMEM, else 0. Used by identity on its copy and by the
 * store sink for the stored properties. */
int sn_ingest_merge_root_set(struct json_object *ev, struct json_object *props, bool *changed);
/* Tests: parts are written without fsyncs (a test that writes thousands
 * of parts measures the disk otherwise). */
void sn_store_sink_test_no_fsync(struct sn_store_sink *s);
/* Tests: converts one WAL record as the sink would (identity's and the
 * definitions' members noted whether or not they are on) and describes
 * everything the conversion produced in out, text, with every span as its
 * offset from base: two records that convert alike describe alike. */
void sn_store_sink_test_describe(struct sn_store_sink *s, uint8_t type, const void *data,
				 uint32_t len, const char *base, struct sn_buf *out);
/* Tests: indexed records whose index did not match its JSON (scanned;
 * /metrics: snout_ingest_index_mismatch_total). */
uint64_t sn_store_sink_test_index_fallbacks(struct sn_store_sink *s);

/* ---- property definitions seen at ingestion (propdefs.c) -------------------------- */

struct sn_propdefs_seen;
int sn_propdefs_seen_new(struct sn_propdefs_seen **out);
void sn_propdefs_seen_free(struct sn_propdefs_seen *s);
/* One member of a stored event as a property of kind (enum sn_propdef_kind;
 * gi the group index for groups, else -1): noted when its (team, kind,
 * group, name) is new, or had no type and value gives one. Event members
 * that are not event properties ($set, $groups, ...) are left out. Never
 * fails; a member not noted for lack of memory is noted when seen again. */
void sn_propdefs_seen_prop(struct sn_propdefs_seen *s, int64_t team, int kind, int gi,
			   const struct sn_jspan *key, const struct sn_jspan *value);
/* Every member of the JSON object text[0..len) (else nothing). */
void sn_propdefs_seen_object(struct sn_propdefs_seen *s, int64_t team, int kind, int gi,
			     const char *text, size_t len);
/* Key sets: an event's fingerprint is the sum of sn_propdefs_member_mix
 * over its members (and whatever else decides what it defines). set_known
 * says whether an event of that fingerprint was fully noted before (then
 * there is nothing to do) and starts a new event; set_done, after its
 * members were offered, remembers the fingerprint unless one of them could
 * not be noted. */
uint64_t sn_propdefs_member_mix(const struct sn_jspan *key, const struct sn_jspan *value);
bool sn_propdefs_seen_set_known(struct sn_propdefs_seen *s, uint64_t fp);
void sn_propdefs_seen_set_done(struct sn_propdefs_seen *s, uint64_t fp);
size_t sn_propdefs_seen_pending(const struct sn_propdefs_seen *s);
/* Records the definitions noted since the last flush in meta (NULL: drops
 * them) and forgets them either way. */
int sn_propdefs_seen_flush(struct sn_propdefs_seen *s, struct sn_meta *meta, struct sn_err *err);
/* PostHog's type of a property's first value (property-defs-rs
 * detect_property_type; the file comment of propdefs.c has the rules);
 * now_s is the clock for "a recent Unix time". SN_PROP_*. */
int sn_prop_detect_type(const char *key, size_t klen, const struct sn_jspan *v, int64_t now_s);

#endif
