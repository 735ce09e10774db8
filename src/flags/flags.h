/*
 * flags.h — PostHog-identical feature-flag evaluation as a pure library.
 *
 * Two halves with different lifetimes:
 *
 *   definitions JSON ──sn_flag_set_parse──▶ struct sn_flag_set (compiled, refcounted,
 *   (local-evaluation shape)                  immutable, shared by every request thread)
 *
 *   set + request context ──sn_flag_eval_*──▶ struct sn_flag_result per flag
 *                                             (everything per request lives in one arena)
 *
 * A set is built once per team whenever its flags change (regexes compiled,
 * filter values pre-coerced, dependencies resolved to indexes) and handed to
 * request threads with sn_flag_set_ref(); evaluation never writes to it and
 * allocates only from the caller's arena. The semantics are those of
 * PostHog's Rust /flags service as written down in
 * ../shared/spec/posthog-wire.md §3: the sha1_60 hash, rollout `<=`, variant
 * `<` on the running total, condition groups in stored order, reason
 * priorities, holdouts, super groups, group flags, flag dependencies and
 * dynamic cohorts from the set's cohort definitions.
 *
 * On top of the library: cache.c keeps one compiled snapshot per team,
 * rebuilt when meta's flag generation of the team moves, and endpoints.c
 * serves /flags, /decide and the local-evaluation definitions from it
 * (docs/FLAGS.md).
 */
#ifndef SN_FLAGS_H
#define SN_FLAGS_H

#include "base/base.h"

#include <sys/types.h>

/* ---- the hash (spec §3.1) -------------------------------------------------------- */

/* SHA-1 of prefix + identifier + salt, top 60 bits scaled to [0, 1] with one
 * IEEE division by 2^60 (the double nearest 0xFFFFFFFFFFFFFFF). The
 * identifier is first cut to its first 200 Unicode scalar values. Never
 * fails, never allocates. */
double sn_flag_hash01(const char *prefix, const char *id, size_t id_len, const char *salt);

/* ---- compiled definitions ---------------------------------------------------------- */

/* A string as the JSON literal answers carry (quoted and escaped), made once
 * when the set is compiled so answers copy it as it is. */
struct sn_flag_json {
	const char *text;
	size_t len;
};

struct sn_flag_set;

/* Reasons, in PostHog's names (sn_flag_reason_code) and priorities (spec §3.3 step 6). */
enum sn_flag_reason {
	SN_FLAG_NO_CONDITION_MATCH = 0,
	SN_FLAG_OUT_OF_ROLLOUT_BOUND,
	SN_FLAG_NO_GROUP_TYPE,
	SN_FLAG_CONDITION_MATCH,
	SN_FLAG_HOLDOUT_CONDITION_VALUE,
	SN_FLAG_SUPER_CONDITION_VALUE,
	SN_FLAG_DISABLED,	    /* inactive or deleted: omitted from /flags answers */
	SN_FLAG_MISSING_DEPENDENCY, /* a `flag` filter names a flag that does not exist */
	SN_FLAG_ERROR,		    /* the definition did not compile (see sn_flag_set_error) */
};

/* Parses PostHog's local-evaluation document
 *	{"flags": [...], "group_type_mapping": {"0": "company"}, "cohorts": {"7": {...}}}
 * (a bare array of flag definitions is accepted too) and compiles it. Only a
 * document that is not JSON or has no flag list fails (SN_ERR_INVALID with a
 * message); a single flag that does not make sense (a filter that is not an
 * object, a variant without a key ...) is kept and evaluates to false with
 * reason SN_FLAG_ERROR, so one bad flag never hides a team's other flags.
 * The caller owns the returned set (refcount 1). Costs one pass over the
 * document plus one PCRE2 compile per regex filter. */
int sn_flag_set_parse(const char *json, size_t len, struct sn_flag_set **out, struct sn_err *err);

/* The same from already-parsed parts (all borrowed; the set takes its own
 * references). flags must be an array; mapping and cohorts may be NULL. */
int sn_flag_set_build(struct json_object *flags, struct json_object *group_type_mapping,
		      struct json_object *cohorts, struct sn_flag_set **out, struct sn_err *err);

/* Reference counting (atomic: any thread may drop the last reference). */
struct sn_flag_set *sn_flag_set_ref(struct sn_flag_set *set);
void sn_flag_set_unref(struct sn_flag_set *set);

size_t sn_flag_set_count(const struct sn_flag_set *set);
/* Stored order; NULL past the end. */
const char *sn_flag_set_key(const struct sn_flag_set *set, size_t idx);
/* Whether some cohort filter is decided by membership (its cohort has no
 * definition in the set's document): the caller fills sn_flag_ctx.cohorts. */
bool sn_flag_set_needs_members(const struct sn_flag_set *set);
/* Whether any flag reads person properties (person filters, cohorts) and
 * group properties or group keys (group flags, group filters): when not, the
 * server need not look stored properties up. */
void sn_flag_set_needs(const struct sn_flag_set *set, bool *person, bool *groups);
/* The definition's "id" and "version" (0 when absent). */
int64_t sn_flag_set_id(const struct sn_flag_set *set, size_t idx);
int64_t sn_flag_set_version(const struct sn_flag_set *set, size_t idx);
/* Pieces of flag idx's answer as JSON text, made at compile time:
 * key: the key as a JSON literal; v2_head: `"<key>":{"key":"<key>"`;
 * v2_meta: `},"metadata":{"id":N,"version":N,"description":null,"payload":`
 * (the `}` closes the reason object). NULL past the end. */
struct sn_flag_fragments {
	struct sn_flag_json key, v2_head, v2_meta;
};
const struct sn_flag_fragments *sn_flag_set_fragments(const struct sn_flag_set *set, size_t idx);
/* Index of the flag with that key, or -1. */
ssize_t sn_flag_set_find(const struct sn_flag_set *set, const char *key);
/* Why flag idx did not compile, or NULL when it did. */
const char *sn_flag_set_error(const struct sn_flag_set *set, size_t idx);
/* Whether flag idx is active, not deleted and has ensure_experience_continuity
 * (the flags /flags writes hash-key overrides for, §3.9). *hash_lookup (may
 * be NULL) tells whether stored overrides can change its answer: a person
 * flag bucketed by distinct id with a rollout under 100 % or variants —
 * PostHog reads and writes overrides only when some evaluated flag has it. */
bool sn_flag_set_continuity(const struct sn_flag_set *set, size_t idx, bool *hash_lookup);
/* Adds to mask (one byte per flag, non-zero = marked) every flag the marked
 * ones depend on through `flag` filters, transitively: the flags an
 * evaluation of the marked ones also evaluates. */
void sn_flag_set_add_dependencies(const struct sn_flag_set *set, uint8_t *mask);

/* ---- evaluation ----------------------------------------------------------------- */

/* One request's view of the world. Everything is borrowed for the duration
 * of the evaluation. person_properties is the already merged map (stored
 * person properties with the request's person_properties on top). */
struct sn_flag_ctx {
	const char *distinct_id; /* NUL-terminated; "" is valid (spec §3.1) */
	const char *device_id;	 /* for bucketing_identifier "device_id"; NULL = absent */
	struct json_object *person_properties; /* object or NULL */
	struct json_object *groups;	       /* {"<group type>": "<key>" | number} or NULL */
	struct json_object *group_properties;  /* {"<group type>": {...}} or NULL */
	/* Stored hash-key overrides {"<flag key>": "<hash key>"} or NULL (§3.9):
	 * a listed flag buckets persons by its hash key (unless it is device
	 * bucketed and the request has a device id), as PostHog applies any
	 * override it read, whatever the flag's current continuity setting. */
	struct json_object *hash_key_overrides;
	/* group type index -> name for this request, overriding the set's
	 * group_type_mapping when not NULL (entries may be NULL: unknown) */
	const char *const *group_types;
	int64_t now_us;	     /* anchor of relative dates ("-7d") */
	int32_t tz_offset_s; /* team timezone as a fixed UTC offset, for naive dates */
	/* The request's $anon_distinct_id or NULL: the bucketing identifier of
	 * continuity flags that have no stored override (and of their holdout). */
	const char *anon_distinct_id;
	/* The cohorts the person is a member of (ids), for cohort filters the
	 * set cannot evaluate from properties (static cohorts, behavioural
	 * ones precalculated by the server); NULL/0 = none. */
	const int64_t *cohorts;
	size_t ncohorts;
};

struct sn_flag_result {
	bool enabled;
	bool omitted;	     /* inactive/deleted: leave out of /flags answers */
	const char *variant; /* NULL or a string owned by the set (or the arena) */
	const char *payload; /* the stored payload text (a JSON string's contents), or NULL */
	/* variant and payload as JSON literals, owned by the set; NULL when the
	 * string is NULL or not one of the set's own (then escape it yourself) */
	const struct sn_flag_json *variant_json;
	const struct sn_flag_json *payload_json;
	enum sn_flag_reason reason;
	int condition_index; /* -1 = null */
};

/* Per-request evaluator: memoises results so flag dependencies evaluate each
 * flag at most once, and detects dependency cycles. Allocates from arena only. */
struct sn_flag_eval {
	const struct sn_flag_set *set;
	const struct sn_flag_ctx *ctx;
	struct sn_arena *arena;
	struct sn_flag_result *results;
	uint8_t *state;		/* per flag: 0 not yet, 1 in progress, 2 done */
	size_t distinct_id_len; /* strlen of ctx->distinct_id, taken once */
	/* Person property lookups, one per distinct filter key (set->pkeys):
	 * 0 not yet, 1 absent, 2 present with the value in pvals. */
	uint8_t *pstate;
	struct json_object **pvals;
	void *re_match; /* PCRE2 match data, created on first regex use (arena memory) */
	void *re_gctx;
};

/* SN_ERR_NOMEM when the arena is exhausted. */
int sn_flag_eval_init(struct sn_flag_eval *ev, const struct sn_flag_set *set,
		      const struct sn_flag_ctx *ctx, struct sn_arena *arena, struct sn_err *err);
/* Evaluates flag idx (and whatever it depends on). The result stays valid
 * until the arena is released. Cannot fail: bad input gives false. */
const struct sn_flag_result *sn_flag_eval_one(struct sn_flag_eval *ev, size_t idx);

/* "condition_match", "no_condition_match", ... as PostHog spells them. */
const char *sn_flag_reason_code(enum sn_flag_reason r);
/* PostHog's human description ("Matched condition set 1", ...) into out. */
void sn_flag_reason_describe(const struct sn_flag_result *r, char *out, size_t outsz);

/* ---- per-team snapshots (cache.c) ----------------------------------------------- */

struct sn_meta;
struct sn_persons;

/* A team's flags as of one generation: the local-evaluation document served
 * by /flags/definitions (JSON text), its compiled set and an ETag (a hash of
 * the text, quoted). Immutable and refcounted; shared by request threads. */
struct sn_flag_snapshot {
	int refs; /* atomic */
	uint64_t generation;
	struct sn_flag_set *set;
	char *definitions;
	size_t definitions_len;
	char etag[24];
	char *group_type_mapping; /* the document's mapping as JSON text, e.g. {"0":"company"} */
};
struct sn_flag_snapshot *sn_flag_snapshot_ref(struct sn_flag_snapshot *s);
void sn_flag_snapshot_unref(struct sn_flag_snapshot *s); /* NULL-safe */

/* Compiled snapshots per team, rebuilt when meta's flag generation of the
 * team moved (sn_meta_flags_generation): a change is visible to the next
 * lookup. Thread-safe. */
struct sn_flag_cache;
int sn_flag_cache_new(struct sn_flag_cache **out, struct sn_meta *meta, struct sn_err *err);
void sn_flag_cache_free(struct sn_flag_cache *c);
/* The team's current snapshot, referenced (the caller unrefs). Costs a
 * mutex and a scan of the entries when fresh; a SQLite read and a compile
 * when the team's flags changed. */
int sn_flag_cache_get(struct sn_flag_cache *c, int64_t team_id, struct sn_flag_snapshot **out,
		      struct sn_err *err);
/* Snapshots built so far (tests check that unchanged flags are not rebuilt). */
uint64_t sn_flag_cache_builds(struct sn_flag_cache *c);
/* Gives the cache the person store (NULL: none), whose group types become
 * the document's group_type_mapping. Call before the first lookup. */
void sn_flag_cache_set_persons(struct sn_flag_cache *c, struct sn_persons *persons);
/* sn_flag_cache_get for the definitions document: also rebuilds when the
 * team's group types in the person store changed since the snapshot was
 * built (ingestion adds them without a flag change). Costs one more read
 * of at most 5 rows from the person store. */
int sn_flag_cache_get_definitions(struct sn_flag_cache *c, int64_t team_id,
				  struct sn_flag_snapshot **out, struct sn_err *err);

/* ---- the flag endpoints (endpoints.c) ------------------------------------------- */

struct sn_http_route;
struct sn_http_request;
struct sn_flags_api;

/* persons may be NULL: then only the request's person_properties and
 * group_properties are used, and group types are unknown. The meta handle
 * must outlive the API. */
int sn_flags_api_new(struct sn_flags_api **out, struct sn_meta *meta, struct sn_persons *persons,
		     struct sn_err *err);
void sn_flags_api_free(struct sn_flags_api *a);
/* The GeoIP database whose $geoip_* person properties /flags adds for the
 * request's IP (spec §3.5; NULL: none). It must outlive the API. */
void sn_flags_api_set_geoip(struct sn_flags_api *a, const struct sn_geoip *geoip);
/* /flags, /decide, /flags/definitions and /api/feature_flag/local_evaluation;
 * returns how many routes were written (at most max). */
size_t sn_flags_api_routes(struct sn_flags_api *a, struct sn_http_route *routes, size_t max);
/* Answers with the team's local-evaluation document (ETag, 304 on a matching
 * If-None-Match). For callers that authenticated the request themselves
 * (the REST API's /api/projects/:id/feature_flags/local_evaluation/). */
void sn_flags_definitions_reply(struct sn_flags_api *a, struct sn_http_request *req,
				int64_t team_id);
/* The cache the endpoints evaluate from. */
struct sn_flag_cache *sn_flags_api_cache(struct sn_flags_api *a);

#endif
