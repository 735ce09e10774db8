/*
 * flags_internal.h — the compiled form of flag definitions, shared by the
 * files of src/flags (compile.c builds it, eval.c and match.c read it).
 *
 * Layout: one struct sn_flag_set owns an arena holding every compiled
 * struct and string, a reference to the parsed JSON document (filter values
 * and payloads point into it) and the PCRE2 codes (freed with the set).
 * After sn_flag_set_build returns nothing in it is written again, so any
 * number of threads may evaluate against it; in particular no json-c call
 * that caches into an object (json_object_to_json_string) runs on its
 * objects after compilation.
 */
#ifndef SN_FLAGS_INTERNAL_H
#define SN_FLAGS_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include "flags/flags.h"

#include <pcre2.h>
#include <stdatomic.h>

/* Limits on what a definition may ask for (patterns come from users). */
#define SN_FLAG_RE_MAX_PATTERN	 4096
#define SN_FLAG_RE_MATCH_LIMIT	 100000
#define SN_FLAG_RE_DEPTH_LIMIT	 1000
#define SN_FLAG_RE_HEAP_LIMIT_KB 1024
#define SN_FLAG_MAX_NESTING	 32 /* cohort groups inside cohort groups, dependency depth */
#define SN_FLAG_ID_MAX_SCALARS	 200
#define SN_FLAG_PKEYS_MAX	 256 /* person property keys memoised per evaluation */

enum sn_flag_op {
	OP_UNKNOWN = 0,
	OP_EXACT,
	OP_IS_NOT,
	OP_IS_SET,
	OP_IS_NOT_SET,
	OP_ICONTAINS,
	OP_NOT_ICONTAINS,
	OP_ICONTAINS_MULTI,
	OP_NOT_ICONTAINS_MULTI,
	OP_STARTS_WITH,
	OP_NOT_STARTS_WITH,
	OP_ENDS_WITH,
	OP_NOT_ENDS_WITH,
	OP_REGEX,
	OP_NOT_REGEX,
	OP_GT,
	OP_GTE,
	OP_LT,
	OP_LTE,
	OP_BETWEEN,
	OP_NOT_BETWEEN,
	OP_DATE_BEFORE,
	OP_DATE_AFTER,
	OP_DATE_EXACT,
	OP_SEMVER_EQ,
	OP_SEMVER_NEQ,
	OP_SEMVER_GT,
	OP_SEMVER_GTE,
	OP_SEMVER_LT,
	OP_SEMVER_LTE,
	OP_SEMVER_TILDE,
	OP_SEMVER_CARET,
	OP_SEMVER_WILDCARD,
	OP_IN,
	OP_NOT_IN,
	OP_FLAG_EVALUATES_TO,
};

enum sn_flag_ptype { PT_PERSON, PT_GROUP, PT_COHORT, PT_FLAG, PT_UNSUPPORTED };

/* A parsed version: MAJOR.MINOR.PATCH[-pre]. pre points at the pre-release
 * identifiers (dot-separated), NULL when there are none. */
struct sn_semver {
	uint64_t v[3];
	const char *pre;
	size_t pre_len;
};

/* A date filter value: absolute (us since the epoch) or relative to now. */
struct sn_flag_date {
	bool ok;
	bool relative;
	int64_t abs_us;
	int64_t amount; /* relative: how many units back from now */
	char unit;	/* 'h' 'd' 'w' 'm' 'y' */
};

struct sn_flag_group;

struct sn_flag_prop {
	const char *key;
	enum sn_flag_ptype type;
	enum sn_flag_op op;
	int key_slot;		   /* person filters: index into set->pkeys, or -1 */
	int group_type_index;	   /* -1: the flag's own aggregation */
	bool negation;		   /* inside cohort property groups */
	struct json_object *value; /* borrowed from the set's document */

	/* Pre-coerced forms of value, computed once at compile time. */
	const char *raw; /* string form (JSON text for non-strings), as stored */
	size_t raw_len;
	const char *str; /* the same, ASCII-lowercased */
	size_t str_len;
	const char **elems; /* array value: each element's lowercased string form */
	size_t *elem_lens;
	size_t nelems;
	bool is_array;
	bool truthy_mode; /* exact: value is bool/"true"/"false" (or an array of only such) */
	bool *elem_truthy;
	bool truthy;
	bool num_ok;
	double num, num2; /* gt/lt: num; between: [num, num2] */
	pcre2_code *re;	  /* NULL: invalid pattern (never matches) */
	struct sn_flag_date date;
	bool semver_ok;
	struct sn_semver sv_lo, sv_hi; /* comparisons use lo; ranges are [lo, hi) */
	bool sv_any;		       /* wildcard "*" */

	/* cohort: the compiled cohort (person-property cohorts the document
	 * defines), or NULL: then membership in cohort_id decides
	 * (sn_flag_ctx.cohorts: static and precalculated cohorts) */
	const struct sn_flag_group *cohort;
	int64_t cohort_id;
	/* flag dependency: target index, -1 = missing; chain_empty = cycle */
	ssize_t dep_idx;
	bool dep_missing;
	bool dep_cycle;
};

/* AND/OR property group (cohort definitions); leaves are props. */
struct sn_flag_group {
	bool is_or;
	size_t n;
	struct sn_flag_group_item {
		const struct sn_flag_group *group; /* exactly one of group/prop */
		const struct sn_flag_prop *prop;
	} * items;
};

struct sn_flag_cond {
	struct sn_flag_prop *props;
	size_t nprops;
	bool has_rollout;
	double rollout;	     /* percent */
	const char *variant; /* override, NULL if none or not a declared variant */
	int variant_idx;     /* the override's index in the flag's variants, or -1 */
	int aggregation;     /* -2: the flag's own; else a group type index or -1 person */
};

struct sn_flag_variant {
	const char *key;
	double rollout;
	const char *payload;
	struct sn_flag_json key_json, payload_json; /* text NULL when the string is */
};

struct sn_flag {
	const char *key;
	size_t key_len;
	const char *hash_prefix; /* "<key>." for the rollout and variant hashes */
	struct sn_flag_fragments frag;
	struct sn_flag_json payload_true_json, holdout_variant_json; /* text NULL when absent */
	int64_t id;
	int64_t version;
	const char *error; /* compile error: evaluates to false, SN_FLAG_ERROR */
	bool active;
	bool deleted;
	bool continuity;
	bool device_bucketing;
	bool early_exit;
	bool missing_dep; /* some `flag` filter names a flag that does not exist */
	int aggregation;  /* -1 person, else group type index */
	struct sn_flag_cond *conds;
	size_t nconds;
	struct sn_flag_variant *variants;
	size_t nvariants;
	const char *payload_true;
	bool has_holdout;
	double holdout_pct;
	const char *holdout_variant;
	struct sn_flag_cond *super; /* first super group or NULL */
	const char *super_key;	    /* the property whose presence enables it */
};

struct sn_flag_set {
	atomic_int refs;
	struct sn_arena arena;
	struct json_object *doc; /* references keep filter values alive */
	struct sn_flag *flags;
	size_t nflags;
	const char *group_types[5]; /* group type index -> name, NULL unknown */
	bool needs_person;	    /* some filter reads person properties (or a cohort) */
	bool needs_groups;	    /* some flag or filter reads group properties */
	bool needs_members;	    /* some cohort filter is decided by membership */
	/* The distinct keys person filters read (at most SN_FLAG_PKEYS_MAX):
	 * an evaluation looks each up in the person's properties once. */
	const char **pkeys;
	size_t npkeys;
	pcre2_code **res;
	size_t nres, capres;
	pcre2_match_context *mctx;
};

/* match.c */
/* 1 match, 0 no match. props: the map the filter reads (may be NULL). */
int sn_flag_match_prop(struct sn_flag_eval *ev, const struct sn_flag_prop *p,
		       struct json_object *props, int depth);
int sn_flag_match_group(struct sn_flag_eval *ev, const struct sn_flag_group *g,
			struct json_object *props, int depth);
/* String form of a context value into buf (or a pointer into the value). */
const char *sn_flag_str_form(struct json_object *v, char *buf, size_t bufsz, size_t *len);

/* dates.c */
/* Parses an absolute date: RFC 3339 with offset, naive datetime or bare
 * date (in tz_offset_s). */
bool sn_flag_parse_abs_date(const char *s, size_t len, int32_t tz_offset_s, int64_t *us);
/* "-7d", "24h", "2w", "3m", "1y": amount < 10000. */
bool sn_flag_parse_rel_date(const char *s, size_t len, int64_t *amount, char *unit);
int64_t sn_flag_rel_date_us(int64_t now_us, int64_t amount, char unit);

/* semver.c */
bool sn_semver_parse(const char *s, size_t len, struct sn_semver *out);
int sn_semver_cmp(const struct sn_semver *a, const struct sn_semver *b);

/* eval.c: the rollout test (100 % short-circuits, else hash <= pct / 100)
 * and the hashed variant (first running total > hash, NULL past the end). */
bool sn_flag_in_rollout(double hash01, double pct);
const char *sn_flag_pick_variant(const struct sn_flag *fl, double hash01);
/* The same as an index into fl->variants, -1 past the end. */
int sn_flag_pick_variant_idx(const struct sn_flag *fl, double hash01);
/* sn_flag_hash01 with the lengths known (id already cut to 200 scalars or not). */
double sn_flag_hash01_n(const char *prefix, size_t prefix_len, const char *id, size_t id_len,
			const char *salt, size_t salt_len);

/* eval.c: a dependency's value for the filter (evaluates it if needed). */
const struct sn_flag_result *sn_flag_eval_dep(struct sn_flag_eval *ev, size_t idx, int depth);

#endif
