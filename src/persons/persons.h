/*
 * persons.h — persons, distinct ids, merges (person overrides), groups and
 * the identity rules PostHog applies at ingestion, behind one interface.
 *
 * Two halves:
 *  - the person store: persons (uuid, properties, is_identified, created_at,
 *    version), distinct id → person, person overrides (old person id →
 *    surviving person id, so events written before a merge resolve to the
 *    merged person), groups and the per-team group type → index mapping;
 *  - identity processing (sn_identity_process): what the ingest worker calls
 *    for every event, in event order, to apply spec posthog-wire.md §4 and
 *    §5.2 and learn which person id to stamp on the event.
 *
 * The embedded backend is SQLite in WAL mode in its own file
 * (<data dir>/persons.sqlite3, persons/sqlite.c), with numbered migrations
 * recorded in a schema_migrations table like meta's. A PostgreSQL backend
 * (persons/postgres.c) will implement the same functions — the backend
 * operations identity.c builds on are listed in persons_internal.h — so the
 * identity rules are written once.
 *
 * Tenancy: every function takes a team id, and every query is keyed by it;
 * nothing reads across teams. The same distinct id in two teams is two
 * persons.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * serialises access to the database, and sn_identity_process holds it for a
 * whole event so two threads never create two persons for one distinct id.
 *
 * Person ids are UUIDv5 of "<team_id>:<distinct_id>" in PostHog's person
 * namespace (932979b4-65c3-4424-8467-0b66ec27bc22, verified against
 * PostHog's plugin-server person-uuid.ts and posthog/models/person/util.py):
 * the same id a personless event for that distinct id was given, so those
 * events need no override when the person is later created.
 */
#ifndef SN_PERSONS_H
#define SN_PERSONS_H

#include "base/base.h"

#define SN_GROUP_TYPES_MAX   5	 /* group type indexes 0..4, as PostHog */
#define SN_GROUP_KEY_MAX     400 /* bytes; PostHog's posthog_group.group_key is varchar(400) */
#define SN_GROUP_TYPE_MAX    400 /* bytes of a group type name */
#define SN_DISTINCT_ID_MAX   800 /* bytes; capture truncates to 200 characters */
#define SN_PERSON_PROPS_MAX  (1024 * 1024) /* serialised person/group properties */
#define SN_IDENTITY_WARNINGS 4

struct sn_persons;

/* ---- opening ------------------------------------------------------------ */

/* Opens or creates <data_dir>/persons.sqlite3 (the directory must exist),
 * sets WAL mode and runs pending migrations; *applied (may be NULL) gets the
 * number this call ran. A database newer than this binary is refused. */
int sn_persons_open(struct sn_persons **out, const char *data_dir, int *applied,
		    struct sn_err *err);
void sn_persons_close(struct sn_persons *p);
/* Gives the page cache's unused pages back (the server calls it once idle:
 * under ingestion the cache holds up to SN_PERSONS_CACHE_KIB). */
void sn_persons_release_memory(struct sn_persons *p);
/* Latest migration known to this binary and the one recorded in the file. */
int sn_persons_schema_version(struct sn_persons *p, int *db_version, int *code_version);

/* ---- reading ------------------------------------------------------------ */

struct sn_person {
	int64_t team_id;
	char uuid[37];
	struct json_object *properties; /* owned: an object, never NULL once filled */
	bool is_identified;
	int64_t created_at_us;
	int64_t version; /* bumped by every change; a merge takes max(a, b) + 1 */
};
/* Drops the properties reference; the struct may be reused. NULL-safe. */
void sn_person_release(struct sn_person *person);

/* The person a distinct id belongs to. SN_ERR_NOT_FOUND when none (never
 * seen, or only seen in personless events). Answers, "none" included, are
 * cached in memory (persons/lcache.c) and dropped by every store write that
 * could change them, so a cached answer is what SQLite would say: a hit
 * costs a hash probe and a parse of the properties text, a miss one
 * indexed lookup under the store lock. */
int sn_persons_get_by_distinct_id(struct sn_persons *p, int64_t team_id, const char *distinct_id,
				  struct sn_person *out, struct sn_err *err);
/* The uuid of the person a distinct id points at, from the index alone (no
 * person row, no cache; SN_ERR_NOT_FOUND without one). For the ingest
 * worker, which needs only the id. */
int sn_persons_uuid_of(struct sn_persons *p, int64_t team_id, const char *distinct_id, char out[37],
		       struct sn_err *err);
/* A person by uuid; SN_ERR_NOT_FOUND when it does not exist (also once it
 * was merged away: resolve the id first). */
int sn_persons_get(struct sn_persons *p, int64_t team_id, const char *uuid, struct sn_person *out,
		   struct sn_err *err);
/* Calls fn for each distinct id of a person, oldest first, under the store's
 * lock (fn must not call back into the store). A non-zero return from fn
 * stops the walk and is returned. */
int sn_persons_distinct_ids(struct sn_persons *p, int64_t team_id, const char *uuid,
			    int (*fn)(void *ctx, const char *distinct_id), void *ctx,
			    struct sn_err *err);
/* The person id an event stamped with person_uuid belongs to now: the target
 * of its override when it was merged away (overrides are kept flattened, so
 * this is one lookup however long the chain of merges), else person_uuid
 * itself. Never fails on an unknown id: it resolves to itself. */
int sn_persons_resolve(struct sn_persons *p, int64_t team_id, const char *person_uuid, char out[37],
		       struct sn_err *err);
/* Walks every override of a team (old → current person id). This is the
 * query-time override map of person mode person_id_override_properties_joined
 * (hogql.md §5.9): an event whose stored person_id is an old id belongs to
 * the new one; ids without an override are current. The table is flat, so
 * one pass builds a complete map. Cost: one indexed scan of the team's
 * overrides (one row per person ever merged away). */
int sn_persons_overrides(struct sn_persons *p, int64_t team_id,
			 int (*fn)(void *ctx, const char *old_id, const char *new_id), void *ctx,
			 struct sn_err *err);

/* Lists a team's persons, newest first (created_at, then insertion order),
 * calling fn for each (without the store lock held: fn may read the store;
 * a non-zero return stops the walk and is returned). Filters combine with
 * AND: distinct_id (exact), search (PostHog's persons search,
 * posthog/queries/person_query.py: the email property contains it, ASCII
 * case-insensitive, '%' and '_' literal; or a distinct id equals it; or,
 * when it reads as a UUID, the person's id is it), and property filters on
 * top-level person properties (values compared as text). limit is at most
 * SN_PERSONS_LIST_MAX; offset skips rows. Costs one SQLite query (a scan
 * of the team's persons for search and property filters). */
#define SN_PERSONS_LIST_MAX	     1000
#define SN_PERSONS_FILTER_VALUES_MAX 500 /* values one property filter lists */
enum sn_persons_prop_op {
	SN_PPF_EXACT,
	SN_PPF_IS_NOT,
	SN_PPF_ICONTAINS,
	SN_PPF_IS_SET,
	SN_PPF_IS_NOT_SET
};
/* A list of values means any of them, as PostHog's property_to_expr reads
 * a list: EXACT is IN, IS_NOT is NOT IN, ICONTAINS matches when one of them
 * is contained; an empty list matches every person. IS_SET / IS_NOT_SET
 * take no values. */
struct sn_persons_prop_filter {
	const char *key;
	const char *const *values; /* text of each value */
	size_t nvalues;		   /* at most SN_PERSONS_FILTER_VALUES_MAX */
	enum sn_persons_prop_op op;
};
struct sn_persons_filter {
	const char *distinct_id; /* NULL: any */
	const char *search;	 /* NULL or "": any */
	const struct sn_persons_prop_filter *props;
	size_t nprops;
	int64_t limit, offset;
};
int sn_persons_list(struct sn_persons *p, int64_t team_id, const struct sn_persons_filter *f,
		    int (*fn)(void *ctx, const struct sn_person *person), void *ctx,
		    struct sn_err *err);

struct sn_group {
	int64_t team_id;
	int group_type_index;
	char key[SN_GROUP_KEY_MAX + 1];
	struct json_object *properties; /* owned */
	int64_t created_at_us;
	int64_t version;
};
void sn_group_release(struct sn_group *g);

/* The group key a $groups value or $group_key names, into out: a string
 * (NUL bytes as U+FFFD) or an integer in decimal. False for other types,
 * an empty key or one longer than SN_GROUP_KEY_MAX bytes (ignored). */
bool sn_persons_group_key(struct json_object *v, char out[SN_GROUP_KEY_MAX + 1]);

/* Index 0..4 of a group type; SN_ERR_NOT_FOUND when the team has none by
 * that name. Does not assign one (sn_identity_process does). */
int sn_persons_group_type_index(struct sn_persons *p, int64_t team_id, const char *group_type,
				int *index, struct sn_err *err);
int sn_persons_group_get(struct sn_persons *p, int64_t team_id, int group_type_index,
			 const char *key, struct sn_group *out, struct sn_err *err);

/* ---- bulk reads for the query engine -------------------------------------- */

/*
 * The embedded executor joins events to persons, distinct ids and groups,
 * and scans those tables, without building json-c objects: rows come back
 * as stored, properties as JSON text. Each function calls fn once per row
 * found, under the store lock (fn must not call back into the store; the
 * pointers are valid only during the call); a non-zero return from fn
 * stops the walk and is returned. With keys NULL every row of the team is
 * visited (a table scan); otherwise only rows matching one of the n keys
 * (absent keys are skipped, duplicates visit once), looked up by index in
 * batches of SN_PERSONS_READ_BATCH keys per SQLite statement.
 */
#define SN_PERSONS_READ_BATCH 256

struct sn_person_raw {
	const char *uuid;
	const char *properties; /* JSON object text */
	size_t properties_len;
	bool is_identified;
	int64_t created_at_us;
	int64_t version;
};
/* Persons by uuid (keys: person uuids). */
int sn_persons_read(struct sn_persons *p, int64_t team_id, const char *const *keys, size_t n,
		    int (*fn)(void *ctx, const struct sn_person_raw *row), void *ctx,
		    struct sn_err *err);
/* The team's number of persons (one index count). */
int sn_persons_count(struct sn_persons *p, int64_t team_id, int64_t *count, struct sn_err *err);
/* Live (not deleted) distinct id → person uuid (keys: distinct ids). */
int sn_persons_read_distinct_ids(struct sn_persons *p, int64_t team_id, const char *const *keys,
				 size_t n,
				 int (*fn)(void *ctx, const char *distinct_id, const char *uuid),
				 void *ctx, struct sn_err *err);

struct sn_group_raw {
	int group_type_index;
	const char *key;
	const char *properties; /* JSON object text */
	size_t properties_len;
	int64_t created_at_us;
	int64_t version;
};
/* Groups of one type index (keys: group keys); group_type_index -1 with
 * keys NULL visits every group of the team. */
int sn_persons_read_groups(struct sn_persons *p, int64_t team_id, int group_type_index,
			   const char *const *keys, size_t n,
			   int (*fn)(void *ctx, const struct sn_group_raw *row), void *ctx,
			   struct sn_err *err);

/* ---- pure helpers ------------------------------------------------------- */

/* PostHog's eventToPersonProperties (spec posthog-wire.md §5.2), in its
 * order, as X(prefix, name): the event property is prefix name, the person's
 * first-seen copy "$initial_" name. One list for the rules (props.c) and the
 * ingest's cache of them, and every name a literal (no formatting per event). */
#define SN_PERSON_INITIAL_KEYS(X)  \
	X("$", "app_build")        \
	X("$", "app_name")         \
	X("$", "app_namespace")    \
	X("$", "app_version")      \
	X("$", "browser")          \
	X("$", "browser_version")  \
	X("$", "device_type")      \
	X("$", "current_url")      \
	X("$", "pathname")         \
	X("$", "os")               \
	X("$", "os_version")       \
	X("$", "referring_domain") \
	X("$", "referrer")         \
	X("", "utm_source")        \
	X("", "utm_medium")        \
	X("", "utm_campaign")      \
	X("", "utm_content")       \
	X("", "utm_name")          \
	X("", "utm_term")          \
	X("", "gclid")             \
	X("", "gad_source")        \
	X("", "gbraid")            \
	X("", "wbraid")            \
	X("", "fbclid")            \
	X("", "msclkid")
#define SN_PERSON_INITIAL_KEY(prefix, name)  prefix name,
#define SN_PERSON_INITIAL_NAME(prefix, name) "$initial_" name,

/* PostHog's deterministic person id for (team, distinct id): UUIDv5 in the
 * person namespace of "<team_id>:<distinct_id>". Cannot fail. */
void sn_persons_uuid_for(int64_t team_id, const char *distinct_id, size_t len, char out[37]);
/* True when id may not take part in a merge (spec §4.2 rule 2): blank after
 * trimming whitespace; case-insensitively anonymous, guest, distinctid,
 * distinct_id, id, not_authenticated, email, undefined, true, false;
 * exactly [object Object], NaN, None, none, null, 0, undefined; and each of
 * those wrapped in single or double quotes. */
bool sn_persons_distinct_id_is_illegal(const char *id, size_t len);
/* PostHog's FILTERED_PERSON_UPDATE_PROPERTIES: keys whose new value, on an
 * event that is not a person event, is not worth a person write on its own
 * ($current_url, $pathname, $referrer, $referring_domain, screen and
 * viewport sizes, $browser, $browser_version, $device_type, $raw_user_agent,
 * $os, $os_name, $os_version, and the finer $geoip_* keys). See
 * docs/PERSONS.md "Filtered updates". */
bool sn_persons_update_key_filtered(const char *key);
/* What an event may change on its person: nothing ($exception, $$heatmap:
 * PostHog processes them apart, unordered with person updates), everything
 * (the person events $identify, $create_alias, $merge_dangerously, $set), or
 * everything unless it only changes filtered keys (any other event). The
 * rules and ingestion's fast path both ask this. */
enum sn_person_updates { SN_UPDATES_NONE, SN_UPDATES_ALL, SN_UPDATES_FILTERED };
enum sn_person_updates sn_persons_event_updates(const char *event, size_t len);

/* ---- ingest batches ------------------------------------------------------ */

/*
 * The ingest worker applies identity in batches: sn_persons_batch_begin opens
 * one transaction, every sn_identity_process until the commit runs inside it
 * (each event still all or nothing: docs/PERSONS.md "Per-event
 * atomicity"), and sn_persons_batch_commit records wal_lsn — the end of the
 * last WAL record the batch covers — and commits with an fsync. Reading the
 * store during a batch (same connection) sees the batch's changes.
 * sn_persons_ingest_lsn returns the position of the last committed batch (0
 * for a new store). batch_commit without an open batch just records the
 * position. A failed commit leaves the batch open for a retry. A batch
 * lost to an error (SQLite rolls a transaction back on its own after
 * SQLITE_FULL or an I/O error) fails every later batch_begin and
 * batch_commit with SN_ERR_IO until sn_persons_batch_rollback: its events'
 * identity is gone, and only a replay from the WAL (the next start) brings
 * it back.
 */
int sn_persons_batch_begin(struct sn_persons *p, struct sn_err *err);
bool sn_persons_batch_is_open(struct sn_persons *p);
/* True while a deletion waits for the open batch to commit: the ingest
 * worker then commits at its next chance instead of keeping the batch open. */
bool sn_persons_batch_wanted(struct sn_persons *p);
int sn_persons_batch_commit(struct sn_persons *p, uint64_t wal_lsn, struct sn_err *err);
void sn_persons_batch_rollback(struct sn_persons *p);
int sn_persons_ingest_lsn(struct sn_persons *p, uint64_t *wal_lsn, struct sn_err *err);

/* ---- identity processing ------------------------------------------------ */

/*
 * One event as the ingest worker hands it over.
 *
 * Contract for properties: the event's properties object, after capture's
 * normalisation and enrichment (GeoIP) and with the event's root-level $set
 * and $set_once already merged into properties.$set / properties.$set_once by
 * the caller (root values winning). sn_identity_process modifies it in place,
 * and the caller stores what it holds afterwards:
 *  - person processing on: $initial_* / UTM values are added to $set and
 *    $set_once (§5.2, explicit values win);
 *  - personless ($process_person_profile false or team opt-out): $set,
 *    $set_once and $unset are removed;
 *  - person processing on, $groups: "$group_<index>" = key is added for
 *    each group type that has (or is now given) an index (personless
 *    events get no $group_N, as in PostHog).
 */
struct sn_identity_event {
	int64_t team_id;
	const char *distinct_id;	/* non-empty, at most SN_DISTINCT_ID_MAX bytes */
	const char *event;		/* event name */
	const char *uuid;		/* the event's uuid text; becomes $creator_event_uuid */
	int64_t timestamp_us;		/* event time: a new person's / group's created_at */
	struct json_object *properties; /* an object; see the contract above */
	bool person_processing_opt_out; /* team setting: every event is personless */
};

struct sn_identity_warning {
	const char *type; /* PostHog's ingestion warning name (static string) */
	char details[256];
};

struct sn_identity_result {
	bool dropped;		      /* do not store the event (e.g. personless $identify) */
	bool personless;	      /* no person was created or changed for this event */
	bool no_person;		      /* personless and the distinct id has no person */
	char merged_away[37];	      /* a person deleted by a merge in this event, or "" */
	char person_uuid[37];	      /* events.person_id */
	int64_t person_created_at_us; /* events.person_created_at (0 when personless) */
	bool person_is_identified;    /* the person's is_identified after this event */
	/* events.person_properties: the person's properties after this event
	 * (owned; {} when personless or dropped). */
	struct json_object *person_properties;
	bool has_group[SN_GROUP_TYPES_MAX]; /* events.$group_N is group_key[N] */
	char group_key[SN_GROUP_TYPES_MAX][SN_GROUP_KEY_MAX + 1];
	unsigned nwarnings; /* at most SN_IDENTITY_WARNINGS are kept */
	struct sn_identity_warning warnings[SN_IDENTITY_WARNINGS];
};

/*
 * Applies one event to the person store, in PostHog's order (spec §4):
 * personless check; §5.2 initial/UTM properties; groups ($groups indexes,
 * $groupidentify upsert); $identify / $create_alias / $merge_dangerously
 * merges with every rule of §4.2; then $set_once, $set, $unset on the
 * event's person (created on first sight). Everything one event changes is
 * one SQLite transaction: on error nothing of it is kept.
 *
 * res is always initialised (release it with sn_identity_result_release,
 * also after an error). Fails only on bad arguments (SN_ERR_INVALID: no
 * team, empty distinct id, properties not an object), a database error or
 * out of memory; rules PostHog answers with an ingestion warning come back
 * as warnings with a 0 return. A person (or group) write that would pass
 * SN_PERSON_PROPS_MAX is refused alone, as PostHog's person store refuses it
 * (warning person_properties_size_violation): the event is applied again
 * without its property updates and keeps its person; only a merge whose two
 * persons together pass the limit fails (SN_ERR_TOO_BIG). After an error the store is unchanged but
 * ev->properties may already hold some of the additions above: retry from
 * the original record (the WAL), not from the modified object. Costs a few
 * indexed SQLite lookups; a merge also rewrites the moved distinct ids and
 * overrides.
 */
int sn_identity_process(struct sn_persons *p, const struct sn_identity_event *ev,
			struct sn_identity_result *res, struct sn_err *err);
void sn_identity_result_release(struct sn_identity_result *res);

/*
 * One case of the merge step on its own, for the ingest worker's fast path:
 * an $identify ($anon_distinct_id = other_id), $create_alias or
 * $merge_dangerously (alias = other_id) sent by into_id, whose person is
 * person_uuid, where other_id has no person. The rules then attach
 * other_id to that person (an override follows its earlier personless
 * events, if any) and mark the person identified, and whatever else the
 * event does to the person is what any event does ($set_once, $set,
 * $unset). This does the attach; the mark is the caller's (the ingest
 * worker defers it with the person's other writes: is_identified = 1,
 * version + 1, through sn_persons_set_values). Sets *attached when it
 * did that, in its own all-or-nothing step of the open batch; leaves it
 * false, with nothing written, when the rules would do anything else:
 * other_id has a person, or the ids are the same or illegal (then
 * sn_identity_process does the whole event, warnings included). Errors as
 * sn_identity_process.
 */
int sn_identity_attach_unseen(struct sn_persons *p, int64_t team_id, const char *other_id,
			      const char *into_id, const char *person_uuid, bool *attached,
			      struct sn_err *err);

/* $set_once and $set members an event carries besides the §5.2 ones, as
 * JSON object members ("\"k\":v,\"k2\":v2") in json-c's form: GeoIP's
 * (enrichment adds them to the event before the rules run). No key in
 * both, none a §5.2 key or its $initial_ name, each key once. */
struct sn_identity_members {
	const char *set_once, *set;
	size_t set_once_len, set_len;
};

/*
 * Another case on its own, for the same fast path: the first event of a
 * distinct id, when it is not a merge or $groupidentify, processes the
 * person, and carries no $set, $set_once or $unset (at either level) but
 * extra's (may be NULL), and no $is_server or $os_name. The rules then
 * create the person (named by distinct_id's UUIDv5, or a UUIDv7 when that
 * is taken; not identified; created at timestamp_us; version 0) with these
 * properties besides $creator_event_uuid: extra's $set_once members, then
 * $initial_<key> for each non-null §5.2 value, then extra's $set members,
 * then each §5.2 key, in
 * SN_PERSON_INITIAL_KEYS order. values[k] / lens[k] is the JSON text of
 * the value of the k-th SN_PERSON_INITIAL_KEYS key exactly as json-c
 * prints it (the rules store json-c's text; the caller checks the form),
 * NULL when the event does not carry it or the rules do not read it
 * ($snapshot). Sets *created and person_uuid when it did that, in its own
 * all-or-nothing step of the open batch; leaves it false, nothing written,
 * when distinct_id has a person, event_uuid is not plain ([0-9A-Za-z-]),
 * or the properties would pass SN_PERSON_PROPS_MAX (sn_identity_process
 * then does the whole event). Errors as sn_identity_process.
 */
int sn_identity_create_unseen(struct sn_persons *p, int64_t team_id, const char *distinct_id,
			      const char *event_uuid, int64_t timestamp_us,
			      const struct sn_identity_members *extra, const char *const values[],
			      const size_t lens[], char person_uuid[37], bool *created,
			      struct sn_err *err);

/* Creates a person with the given distinct ids (the first one names it)
 * and properties, created at created_at_us, through the identity rules
 * (import.c): no event is stored. An id already owned by another identified
 * person is refused (SN_ERR_INVALID naming PostHog's warning); ids the
 * person already has are fine, so an import can be repeated. All or
 * nothing: on any failure no step is kept (the steps run in a batch of
 * their own, committed with the ingest position unchanged; inside a
 * caller's open batch they are the caller's to roll back). uuid_out (may
 * be NULL) gets the person's id. */
int sn_persons_import(struct sn_persons *p, int64_t team_id, const char *const *distinct_ids,
		      size_t n, struct json_object *properties, int64_t created_at_us,
		      char uuid_out[37], struct sn_err *err);

/* Creates or updates a group (type, key, properties set over the stored
 * ones) without an event. The type gets want_index (0..4; SN_ERR_EXISTS
 * when that index belongs to another type or the type has another one) or,
 * with want_index -1, an index as $groupidentify would assign it. An empty
 * or NULL key only records the type. *index_out (may be NULL) gets the
 * index. */
int sn_persons_import_group(struct sn_persons *p, int64_t team_id, const char *group_type,
			    int want_index, const char *key, struct json_object *properties,
			    int64_t created_at_us, int *index_out, struct sn_err *err);

/* Applies $set (an object) to one person, as an event's $set would (keys
 * written when absent or different; version + 1 when anything changed), in
 * one transaction (a savepoint inside a batch). For the ingest worker's
 * deferred §5.2 values: it coalesces several events' "latest value"
 * updates into one write. A person that does not exist is not an error
 * (*found false). */
int sn_identity_apply_set(struct sn_persons *p, int64_t team_id, const char *uuid,
			  struct json_object *set, bool *found, struct sn_err *err);
/* The same for n plain keys (no '"' or '\\') set to JSON texts, done by
 * SQLite's json_set on the stored text: no JSON parse or serialisation in
 * C, which makes it several times cheaper for the ingest worker's deferred
 * values; with identify, is_identified = 1 in the same UPDATE (a fast-path
 * merge's, deferred with the values). version + 1 whenever the person
 * exists (the caller only calls it for values that differ, or a person not
 * yet identified); nothing to do (no keys, no identify) writes nothing.
 * SN_ERR_INVALID for a value SQLite refuses as JSON (nothing is changed
 * then). At most SN_PERSONS_SET_MAX keys. */
#define SN_PERSONS_SET_MAX 32
int sn_persons_set_values(struct sn_persons *p, int64_t team_id, const char *uuid,
			  const char *const *keys, const char *const *values, size_t n,
			  bool identify, bool *found, struct sn_err *err);
/* Test hook: the nth call from now of sn_persons_set_values with values
 * (n > 0) answers SN_ERR_INVALID as SQLite's json() refusing one would,
 * changing nothing; nth 0 turns it off. The ingest's json-c fallback for
 * such values is otherwise out of reach: SQLite accepts every value the
 * ingest's scanner does. */
void sn_persons_test_refuse_json(struct sn_persons *p, int nth);

/* ---- deleting persons (delete.c) ------------------------------------------ */

/*
 * What a deletion removed, for the caller that deletes the person's events
 * too: the person's id and the ids of every person merged into it (the
 * person_id values its events may carry), and its distinct ids.
 */
#define SN_PERSONS_DELETE_IDS_MAX 100000 /* distinct ids + merged persons of one person */
struct sn_persons_deleted {
	char (*person_ids)[37]; /* [0] is the deleted person */
	size_t npersons;
	char **distinct_ids;
	size_t ndistinct_ids;
};
void sn_persons_deleted_release(struct sn_persons_deleted *d);

/*
 * Deletes a person for good (PostHog's DELETE /persons/:id/): the person
 * row, its distinct ids, the overrides of persons merged into it, its and
 * their feature-flag hash-key overrides, and the personless-id rows of its
 * distinct ids. Waits until no ingest batch is open (at most a store flush)
 * and commits in its own transaction (fsynced); then truncates SQLite's own
 * -wal file, so with secure_delete the data is gone from the files. Bumps
 * sn_persons_generation. A later event of one of the distinct ids creates
 * a new person. SN_ERR_NOT_FOUND when the team has no such person (also a
 * merged-away id); SN_ERR_TOO_BIG beyond SN_PERSONS_DELETE_IDS_MAX ids.
 * out (may be NULL) is filled on success; release it.
 */
int sn_persons_delete(struct sn_persons *p, int64_t team_id, const char *uuid,
		      struct sn_persons_deleted *out, struct sn_err *err);

/*
 * Splits a person (PostHog's POST /persons/:id/split/): every distinct id
 * but main_distinct_id (NULL or "": the oldest) moves to a new person of
 * its own with empty properties, whose id is sn_persons_uuid_for the
 * distinct id (a fresh UUIDv7 if a person already has that id); an override
 * from that id is removed, so events stamped with it belong to the new
 * person. Other stored events keep their person. Same waiting and
 * transaction as sn_persons_delete; bumps the generation. *nsplit (may be
 * NULL) gets the number of new persons. SN_ERR_NOT_FOUND for no such
 * person, SN_ERR_INVALID when main_distinct_id is not one of its ids.
 */
int sn_persons_split(struct sn_persons *p, int64_t team_id, const char *uuid,
		     const char *main_distinct_id, size_t *nsplit, struct sn_err *err);

/* Bumped by every sn_persons_delete and sn_persons_split. The ingest worker compares it before
 * each event and drops its distinct-id cache when it moved, so no event is
 * stamped from a cached entry of a deleted person afterwards. One atomic
 * load. */
uint64_t sn_persons_generation(struct sn_persons *p);

/* ---- feature flags: group types and hash-key overrides (flagkeys.c) ------ */

/* Calls fn(ctx, index, group_type) for each group type of the team, by
 * index (the definitions document's group_type_mapping). fn runs under the
 * store lock and must not call back into the store; a non-zero return stops
 * the walk and is returned. One indexed read of at most 5 rows. */
int sn_persons_group_types(struct sn_persons *p, int64_t team_id,
			   int (*fn)(void *ctx, int index, const char *group_type), void *ctx,
			   struct sn_err *err);

/*
 * Experience continuity (spec posthog-wire.md §3.9). A hash-key override
 * says "bucket this person's flag <key> by <hash key>"; /flags writes them
 * when a request carries $anon_distinct_id, so a user keeps the variant
 * they saw before identifying.
 *
 * sn_persons_hash_keys_add: for each person owning one of the n (≤ 2)
 * distinct ids and each of the nkeys flag keys, stores hash_key unless that
 * person already has an override for the key (its own, or one of a person
 * merged into it): the first write wins, as PostHog's ON CONFLICT DO
 * NOTHING. Distinct ids without a person are skipped (nothing is written
 * for an anonymous user without a person yet). *written (may be NULL) gets
 * the number of rows stored. One SQLite statement; inside an open ingest
 * batch it joins the batch.
 *
 * sn_persons_hash_keys_get: the overrides of the persons owning the n
 * distinct ids, including those of persons merged into them, calling
 * fn(ctx, flag_key, hash_key) in increasing priority — a later call for the
 * same key wins: the other ids' persons first, then the person of
 * distinct_ids[0] (the request's own), and for each person the overrides of
 * persons merged into it before its own. fn runs under the store lock.
 */
#define SN_PERSONS_HASH_KEY_MAX 800 /* bytes of a hash key / flag key stored */
int sn_persons_hash_keys_add(struct sn_persons *p, int64_t team_id, const char *const *distinct_ids,
			     size_t n, const char *const *flag_keys, size_t nkeys,
			     const char *hash_key, size_t *written, struct sn_err *err);
int sn_persons_hash_keys_get(struct sn_persons *p, int64_t team_id, const char *const *distinct_ids,
			     size_t n,
			     int (*fn)(void *ctx, const char *flag_key, const char *hash_key),
			     void *ctx, struct sn_err *err);

/* ---- cohort members (cohorts.c) --------------------------------------------- */

/*
 * Who belongs to a cohort (the definition is meta's). Dynamic members are
 * replaced whole by each calculation, atomically; static members are added
 * and removed one by one. Only persons of the team ever become members.
 */
enum sn_cohort_key {
	SN_COHORT_KEY_UUID = 0,	   /* person uuid */
	SN_COHORT_KEY_DISTINCT_ID, /* a live distinct id of the person */
	SN_COHORT_KEY_EMAIL,	   /* the person's properties.email */
};
/* Makes uuids the dynamic members of the cohort (unknown persons are
 * skipped; *count, may be NULL, receives the members written). */
int sn_persons_cohort_replace(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			      const char *const *uuids, size_t n, size_t *count,
			      struct sn_err *err);
/* Adds static members by the kind of key given; keys that name no person
 * are skipped and members already present are not counted in *added. */
int sn_persons_cohort_add(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			  enum sn_cohort_key kind, const char *const *keys, size_t n, size_t *added,
			  struct sn_err *err);
/* Removes one static member; *removed says whether it was one. */
int sn_persons_cohort_remove(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			     const char *uuid, bool *removed, struct sn_err *err);
/* Removes every member (the cohort was deleted or changed kind). */
int sn_persons_cohort_clear(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			    struct sn_err *err);
int sn_persons_cohort_count(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
			    int64_t *count, struct sn_err *err);
/* Members of one cohort (cohort_id >= 0) or of all, static (1), dynamic
 * (0) or both (-1), ordered by cohort then person uuid. fn as the bulk
 * reads above: under the store lock, non-zero stops the walk. */
int sn_persons_read_cohort_people(struct sn_persons *p, int64_t team_id, int64_t cohort_id,
				  int is_static,
				  int (*fn)(void *ctx, int64_t cohort_id, const char *uuid,
					    bool is_static),
				  void *ctx, struct sn_err *err);
/* The cohorts one person (uuid) belongs to, with those of the persons
 * merged into it (PostHog's merge moves their posthog_cohortpeople rows,
 * which its flags read); each cohort once. For flag evaluation. */
int sn_persons_cohorts_of(struct sn_persons *p, int64_t team_id, const char *uuid,
			  int (*fn)(void *ctx, int64_t cohort_id, bool is_static), void *ctx,
			  struct sn_err *err);

#endif
