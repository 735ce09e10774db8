/*
 * test_flags.c — feature-flag evaluation against PostHog's public vectors
 * and the operator semantics of spec §3.4:
 *
 *  - the worked hash examples of spec §3.10;
 *  - the rules_v2 contract corpus of PostHog's Rust flag service (32 hash
 *    cases, 31 end-to-end evaluation cases), ported to
 *    tests/data/flags/{hash_sha1_60_v1,v1_evaluation}.json;
 *  - the 1000 + 1000 consistency vectors every PostHog SDK checks
 *    (tests/data/flags/consistency.txt);
 *  - each operator with its coercions, dates, semver, regex limits, cohorts,
 *    dependencies, holdouts, super groups, bucketing and bad definitions.
 *
 * Data files are found through $SNOUT_TEST_DATA (set by tests/tests.cmake),
 * or next to this source file when the binary is run by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "flags/flags.h"
#include "flags/flags_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers ------------------------------------------------------------------- */

static char *read_data(const char *name)
{
	char path[1024];
	const char *base = getenv("SNOUT_TEST_DATA");
	if (base && *base) {
		snprintf(path, sizeof(path), "%s/flags/%s", base, name);
	} else {
		const char *src = __FILE__; /* .../tests/unit/test_flags.c */
		const char *slash = strrchr(src, '/');
		int dir = slash ? (int)(slash - src) : 1;
		snprintf(path, sizeof(path), "%.*s/../data/flags/%s", dir, slash ? src : ".", name);
	}
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open test data %s", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = 0;
	fclose(f);
	return buf;
}

static struct json_object *parse(const char *s)
{
	struct json_object *o = NULL;
	struct sn_err err = {0};
	if (sn_json_parse(s, strlen(s), &o, &err) < 0)
		fail_msg("bad JSON in test: %s: %s", err.msg, s);
	return o;
}

static struct sn_flag_set *set_from(const char *doc)
{
	struct sn_flag_set *set = NULL;
	struct sn_err err = {0};
	if (sn_flag_set_parse(doc, strlen(doc), &set, &err) < 0)
		fail_msg("set did not parse: %s", err.msg);
	return set;
}

/* 2024-06-15T12:00:00Z */
#define NOW_US (1718452800LL * 1000000)

struct one {
	struct sn_flag_result r;
	char variant[64];
	char payload[256];
};

/* Evaluates flag `key` of set for distinct_id with person properties (JSON
 * text or NULL) and optional extra context. */
static struct one eval_in(const struct sn_flag_set *set, const char *key, const char *did,
			  const char *person, struct sn_flag_ctx *extra)
{
	struct sn_flag_ctx ctx = {0};
	if (extra)
		ctx = *extra;
	ctx.distinct_id = did;
	if (!ctx.now_us)
		ctx.now_us = NOW_US;
	struct json_object *pp = person ? parse(person) : NULL;
	if (pp)
		ctx.person_properties = pp;
	struct sn_arena arena;
	sn_arena_init(&arena, 1 << 20);
	struct sn_flag_eval ev;
	assert_int_equal(sn_flag_eval_init(&ev, set, &ctx, &arena, NULL), 0);
	ssize_t idx = sn_flag_set_find(set, key);
	assert_true(idx >= 0);
	struct one o = {0};
	o.r = *sn_flag_eval_one(&ev, (size_t)idx);
	if (o.r.variant)
		snprintf(o.variant, sizeof(o.variant), "%s", o.r.variant);
	if (o.r.payload)
		snprintf(o.payload, sizeof(o.payload), "%s", o.r.payload);
	o.r.variant = o.r.variant ? o.variant : NULL;
	o.r.payload = o.r.payload ? o.payload : NULL;
	sn_arena_release(&arena);
	json_object_put(pp);
	return o;
}

/* A one-filter flag "f" at 100 %: does the filter match? */
static int op_matches(const char *op, const char *value, const char *prop, int32_t tz)
{
	size_t docsz = strlen(value) + 1024;
	char *doc = malloc(docsz);
	assert_non_null(doc);
	snprintf(doc, docsz,
		 "[{\"key\":\"f\",\"active\":true,\"filters\":{\"groups\":[{\"properties\":"
		 "[{\"key\":\"p\",\"type\":\"person\",\"operator\":\"%s\",\"value\":%s}],"
		 "\"rollout_percentage\":100}]}}]",
		 op, value);
	char person[1024];
	if (prop)
		snprintf(person, sizeof(person), "{\"p\":%s}", prop);
	else
		snprintf(person, sizeof(person), "{\"other\":1}");
	struct sn_flag_set *set = set_from(doc);
	free(doc);
	struct sn_flag_ctx extra = {.tz_offset_s = tz};
	struct one o = eval_in(set, "f", "user-1", person, &extra);
	sn_flag_set_unref(set);
	return o.r.enabled;
}

/* ---- the hash ------------------------------------------------------------------ */

static void hex15(const char *prefix, const char *id, const char *salt, char out[16])
{
	uint8_t d[20];
	const void *parts[] = {prefix, id, salt};
	size_t lens[] = {strlen(prefix), strlen(id), strlen(salt)};
	sn_sha1_parts(parts, lens, 3, d);
	for (int i = 0; i < 15; i++)
		out[i] = "0123456789abcdef"[(d[i / 2] >> (i % 2 ? 0 : 4)) & 15];
	out[15] = 0;
}

/* Spec §3.10: each row's input, first 15 hex digits and hash01. */
static void test_hash_worked_examples(void **state)
{
	(void)state;
	static const struct {
		const char *prefix, *id, *salt, *hex;
		double h;
	} rows[] = {
	    {"simple-flag.", "distinct_id_0", "", "c8a05362b9f414f", 0.7836963764220432},
	    {"simple-flag.", "distinct_id_1", "", "56f70997ddf6067", 0.3397069926995401},
	    {"simple-flag.", "distinct_id_2", "", "5f3e3d121e822df", 0.3720434350239052},
	    {"simple-flag.", "distinct_id_3", "", "e859e70821b6266", 0.9076218027928112},
	    {"multivariate-flag.", "distinct_id_0", "", "80858c8bbcc7ad0", 0.502037796130735},
	    {"multivariate-flag.", "distinct_id_0", "variant", "9e5f8c67dc34910",
	     0.6186454537930379},
	    {"multivariate-flag.", "distinct_id_3", "", "b3758f100a1027b", 0.701012555518958},
	    {"beta-search.", "user-17", "", "02547515f0f76d5", 0.009101217133290002},
	    {"beta-search-rollout.", "user-105", "", "48fe3fe11eaff7b", 0.2851295399293007},
	    {"checkout-layout.", "user-61", "variant", "91e010d6e111202", 0.5698252224547713},
	    {"holdout-", "user-31", "", "04fc4895fdca19f", 0.0194745413007599},
	    {"org-dashboard.", "42", "", "9988fe571337916", 0.5997466051660167},
	    {"beta-search.", "", "", "9f06c3435db4fc8", 0.6211969413249854},
	    {"holdout-", "", "", "ed48336e9056a92", 0.9268829483920294},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(rows); i++) {
		char hex[16];
		hex15(rows[i].prefix, rows[i].id, rows[i].salt, hex);
		assert_string_equal(hex, rows[i].hex);
		double h =
		    sn_flag_hash01(rows[i].prefix, rows[i].id, strlen(rows[i].id), rows[i].salt);
		if (h != rows[i].h)
			fail_msg("row %zu: hash01 %.17g, want %.17g", i, h, rows[i].h);
	}
	/* the outcomes the table states */
	assert_false(sn_flag_in_rollout(0.7836963764220432, 45));
	assert_true(sn_flag_in_rollout(0.3397069926995401, 45));
	assert_true(sn_flag_in_rollout(0.502037796130735, 55));
	assert_false(sn_flag_in_rollout(0.701012555518958, 55));
	assert_false(sn_flag_in_rollout(0.2851295399293007, 28));
	assert_true(sn_flag_in_rollout(0.2851295399293007, 29));
	assert_true(sn_flag_in_rollout(0.5997466051660167, 60));
	assert_false(sn_flag_in_rollout(0.5997466051660167, 59));
}

static struct sn_flag variants_flag(struct json_object *arr, struct sn_flag_variant *buf)
{
	struct sn_flag fl = {0};
	size_t n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		buf[i].key = json_object_get_string(json_object_array_get_idx(v, 0));
		buf[i].rollout = json_object_get_double(json_object_array_get_idx(v, 1));
	}
	fl.variants = buf;
	fl.nvariants = n;
	return fl;
}

static void check_selected(const char *got, struct json_object *want, const char *id)
{
	const char *w =
	    json_object_is_type(want, json_type_string) ? json_object_get_string(want) : NULL;
	if ((got == NULL) != (w == NULL) || (got && strcmp(got, w)))
		fail_msg("%s: variant %s, want %s", id, got ? got : "(none)", w ? w : "(none)");
}

static void test_hash_corpus(void **state)
{
	(void)state;
	char *text = read_data("hash_sha1_60_v1.json");
	struct json_object *doc = parse(text);
	size_t ncases = 0;
	struct json_object *vecs = sn_json_get(doc, "vectors");
	for (size_t i = 0; i < json_object_array_length(vecs); i++, ncases++) {
		struct json_object *v = json_object_array_get_idx(vecs, i);
		const char *id = json_object_get_string(sn_json_get(v, "id"));
		const char *prefix = json_object_get_string(sn_json_get(v, "prefix"));
		const char *ident = json_object_get_string(sn_json_get(v, "identifier"));
		const char *salt = json_object_get_string(sn_json_get(v, "salt"));
		struct json_object *hid = sn_json_get(v, "hashed_identifier");
		char hex[16];
		hex15(prefix, hid ? json_object_get_string(hid) : ident, salt, hex);
		assert_string_equal(hex, json_object_get_string(sn_json_get(v, "first_15_hex")));
		double want = json_object_get_double(sn_json_get(v, "hash01"));
		double h = sn_flag_hash01(prefix, ident, strlen(ident), salt);
		if (h != want)
			fail_msg("%s: hash01 %.17g, want %.17g", id, h, want);
		struct json_object *rc = sn_json_get(v, "rollout_checks");
		for (size_t k = 0; rc && k < json_object_array_length(rc); k++) {
			struct json_object *c = json_object_array_get_idx(rc, k);
			double pct = json_object_get_double(json_object_array_get_idx(c, 0));
			bool inc = json_object_get_boolean(json_object_array_get_idx(c, 1));
			if (sn_flag_in_rollout(h, pct) != inc)
				fail_msg("%s: rollout %g", id, pct);
		}
		struct json_object *vc = sn_json_get(v, "variant_check");
		if (vc) {
			struct sn_flag_variant buf[8];
			struct sn_flag fl = variants_flag(sn_json_get(vc, "variants"), buf);
			check_selected(sn_flag_pick_variant(&fl, h), sn_json_get(vc, "selected"),
				       id);
		}
	}
	struct json_object *th = sn_json_get(doc, "threshold_vectors");
	for (size_t i = 0; i < json_object_array_length(th); i++, ncases++) {
		struct json_object *v = json_object_array_get_idx(th, i);
		double h = json_object_get_double(sn_json_get(v, "hash01"));
		double pct = json_object_get_double(sn_json_get(v, "rollout_percentage"));
		if (sn_flag_in_rollout(h, pct) !=
		    json_object_get_boolean(sn_json_get(v, "included")))
			fail_msg("%s", json_object_get_string(sn_json_get(v, "id")));
	}
	struct json_object *vv = sn_json_get(doc, "variant_vectors");
	for (size_t i = 0; i < json_object_array_length(vv); i++, ncases++) {
		struct json_object *v = json_object_array_get_idx(vv, i);
		struct sn_flag_variant buf[8];
		struct sn_flag fl = variants_flag(sn_json_get(v, "variants"), buf);
		double h = json_object_get_double(sn_json_get(v, "hash01"));
		check_selected(sn_flag_pick_variant(&fl, h), sn_json_get(v, "selected"),
			       json_object_get_string(sn_json_get(v, "id")));
	}
	struct json_object *sp = sn_json_get(doc, "seed_parity");
	for (size_t i = 0; i < json_object_array_length(sp); i++, ncases++) {
		struct json_object *v = json_object_array_get_idx(sp, i);
		struct json_object *pfx = sn_json_get(v, "prefix");
		if (!pfx)
			continue; /* white-box hash of 1.0: covered by variant vectors */
		const char *ident = json_object_get_string(sn_json_get(v, "identifier"));
		double h = sn_flag_hash01(json_object_get_string(pfx), ident, strlen(ident),
					  json_object_get_string(sn_json_get(v, "salt")));
		assert_true(h == json_object_get_double(sn_json_get(v, "hash01")));
	}
	assert_int_equal(ncases, 32);
	json_object_put(doc);
	free(text);
}

/* ---- the rules_v2 contract evaluation corpus ------------------------------------------ */

static void test_v1_evaluation_corpus(void **state)
{
	(void)state;
	char *text = read_data("v1_evaluation.json");
	struct json_object *doc = parse(text);
	struct json_object *cases = sn_json_get(doc, "cases");
	size_t ncases = json_object_array_length(cases), nflags = 0;
	for (size_t i = 0; i < ncases; i++) {
		struct json_object *c = json_object_array_get_idx(cases, i);
		const char *id = json_object_get_string(sn_json_get(c, "id"));
		struct json_object *defs = sn_json_get(c, "definitions");
		struct json_object *cx = sn_json_get(c, "context");
		struct sn_flag_set *set = NULL;
		struct sn_err err = {0};
		assert_int_equal(sn_flag_set_build(sn_json_get(defs, "flags"),
						   sn_json_get(defs, "group_type_mapping"),
						   sn_json_get(defs, "cohorts"), &set, &err),
				 0);
		struct sn_flag_ctx ctx = {
		    .distinct_id = json_object_get_string(sn_json_get(cx, "distinct_id")),
		    .person_properties = sn_json_get(cx, "person_properties"),
		    .groups = sn_json_get(cx, "groups"),
		    .group_properties = sn_json_get(cx, "group_properties"),
		    .now_us = NOW_US,
		};
		struct sn_arena arena;
		sn_arena_init(&arena, 1 << 20);
		struct sn_flag_eval ev;
		assert_int_equal(sn_flag_eval_init(&ev, set, &ctx, &arena, NULL), 0);
		struct json_object *exp = sn_json_get(sn_json_get(c, "expected"), "flags");
		json_object_object_foreach(exp, key, want)
		{
			ssize_t idx = sn_flag_set_find(set, key);
			assert_true(idx >= 0);
			const struct sn_flag_result *r = sn_flag_eval_one(&ev, (size_t)idx);
			struct json_object *reason = sn_json_get(want, "reason");
			const char *code = json_object_get_string(sn_json_get(reason, "code"));
			struct json_object *ci = sn_json_get(reason, "condition_index");
			int want_idx = ci ? json_object_get_int(ci) : -1;
			struct json_object *wv = sn_json_get(want, "variant");
			struct json_object *wp = sn_json_get(want, "payload");
			bool ok =
			    r->enabled == json_object_get_boolean(sn_json_get(want, "enabled")) &&
			    !r->omitted && !strcmp(sn_flag_reason_code(r->reason), code) &&
			    r->condition_index == want_idx &&
			    (wv ? r->variant && !strcmp(r->variant, json_object_get_string(wv))
				: !r->variant) &&
			    (wp ? r->payload && !strcmp(r->payload, json_object_get_string(wp))
				: !r->payload);
			if (!ok)
				fail_msg("%s / %s: got enabled=%d variant=%s payload=%s reason=%s "
					 "index=%d",
					 id, key, r->enabled, r->variant ? r->variant : "null",
					 r->payload ? r->payload : "null",
					 sn_flag_reason_code(r->reason), r->condition_index);
			nflags++;
		}
		struct json_object *om = sn_json_get(sn_json_get(c, "expected"), "omitted_flags");
		for (size_t k = 0; k < json_object_array_length(om); k++) {
			const char *okey = json_object_get_string(json_object_array_get_idx(om, k));
			ssize_t idx = sn_flag_set_find(set, okey);
			assert_true(idx >= 0);
			const struct sn_flag_result *r = sn_flag_eval_one(&ev, (size_t)idx);
			assert_true(r->omitted);
			assert_false(r->enabled);
		}
		sn_arena_release(&arena);
		sn_flag_set_unref(set);
	}
	assert_int_equal(ncases, 31);
	assert_int_equal(nflags, 36);
	json_object_put(doc);
	free(text);
}

/* ---- the SDK consistency vectors ---------------------------------------------------- */

static void test_consistency_vectors(void **state)
{
	(void)state;
	char *text = read_data("consistency.txt");
	char *lines[2] = {0};
	int nl = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && nl < 2;
	     l = strtok_r(NULL, "\n", &save))
		if (l[0] != '#')
			lines[nl++] = l;
	assert_int_equal(nl, 2);
	assert_int_equal(strlen(lines[0]), 1000);
	assert_int_equal(strlen(lines[1]), 1000);

	struct sn_flag_set *set = set_from(
	    "{\"flags\":[{\"key\":\"simple-flag\",\"active\":true,\"filters\":{\"groups\":"
	    "[{\"properties\":[],\"rollout_percentage\":45}]}},"
	    "{\"key\":\"multivariate-flag\",\"active\":true,\"filters\":{\"groups\":"
	    "[{\"properties\":[],\"rollout_percentage\":55}],\"multivariate\":{\"variants\":["
	    "{\"key\":\"first-variant\",\"rollout_percentage\":50},"
	    "{\"key\":\"second-variant\",\"rollout_percentage\":20},"
	    "{\"key\":\"third-variant\",\"rollout_percentage\":20},"
	    "{\"key\":\"fourth-variant\",\"rollout_percentage\":5},"
	    "{\"key\":\"fifth-variant\",\"rollout_percentage\":5}]}}}]}");
	static const char *names[] = {"first-variant", "second-variant", "third-variant",
				      "fourth-variant", "fifth-variant"};
	int bad = 0, nsimple = 0, nmv = 0;
	for (int i = 0; i < 1000; i++) {
		char did[32];
		snprintf(did, sizeof(did), "distinct_id_%d", i);
		struct sn_flag_ctx ctx = {.distinct_id = did};
		struct sn_arena arena;
		sn_arena_init(&arena, 1 << 16);
		struct sn_flag_eval ev;
		assert_int_equal(sn_flag_eval_init(&ev, set, &ctx, &arena, NULL), 0);
		const struct sn_flag_result *s = sn_flag_eval_one(&ev, 0);
		bool want = lines[0][i] == '1';
		if (s->enabled != want ||
		    s->reason != (want ? SN_FLAG_CONDITION_MATCH : SN_FLAG_OUT_OF_ROLLOUT_BOUND) ||
		    s->condition_index != 0) {
			print_error("simple-flag distinct_id_%d: got %d want %d\n", i, s->enabled,
				    want);
			bad++;
		} else {
			nsimple++;
		}
		const struct sn_flag_result *m = sn_flag_eval_one(&ev, 1);
		int wv = lines[1][i] - '0';
		bool okm = wv == 0 ? !m->enabled && !m->variant
				   : m->enabled && m->variant && !strcmp(m->variant, names[wv - 1]);
		if (!okm) {
			print_error("multivariate-flag distinct_id_%d: got %s want %s\n", i,
				    m->variant ? m->variant : (m->enabled ? "true" : "false"),
				    wv ? names[wv - 1] : "false");
			bad++;
		} else {
			nmv++;
		}
		sn_arena_release(&arena);
	}
	assert_int_equal(bad, 0);
	assert_int_equal(nsimple, 1000);
	assert_int_equal(nmv, 1000);
	sn_flag_set_unref(set);
	free(text);
}

/* ---- operators ------------------------------------------------------------------- */

struct op_case {
	const char *op, *value, *prop; /* prop NULL: the property is missing */
	int want;
};

static void run_op_cases(const struct op_case *cases, size_t n, int32_t tz)
{
	for (size_t i = 0; i < n; i++) {
		int got = op_matches(cases[i].op, cases[i].value, cases[i].prop, tz);
		if (got != cases[i].want)
			fail_msg("%s %s vs %s: got %d, want %d", cases[i].op, cases[i].value,
				 cases[i].prop ? cases[i].prop : "(missing)", got, cases[i].want);
	}
}

static void test_operators_strings(void **state)
{
	(void)state;
	static const struct op_case cases[] = {
	    {"exact", "\"Enterprise\"", "\"enterprise\"", 1},
	    {"exact", "\"enterprise\"", "\"enterprises\"", 0},
	    {"exact", "[\"a\",\"b\"]", "\"B\"", 1},
	    {"exact", "[\"a\",\"b\"]", "\"c\"", 0},
	    {"exact", "\"x\"", NULL, 0},
	    /* booleans and their string forms compare by truthiness */
	    {"exact", "true", "\"TRUE\"", 1},
	    {"exact", "true", "true", 1},
	    {"exact", "\"false\"", "false", 1},
	    {"exact", "true", "\"yes\"", 0},
	    {"exact", "[\"true\"]", "true", 1},
	    {"exact", "[\"true\"]", "false", 0},
	    /* numbers compare by their JSON text (§3.4.1) */
	    {"exact", "1", "\"1\"", 1},
	    {"exact", "\"1\"", "1", 1},
	    {"exact", "30", "30.0", 0},
	    {"exact", "\"30.0\"", "30.0", 1},
	    {"exact", "[1, 2]", "2", 1},
	    {"is_not", "\"a\"", NULL, 1},
	    {"is_not", "\"a\"", "\"A\"", 0},
	    {"is_not", "\"a\"", "\"b\"", 1},
	    {"is_not", "[\"a\",\"b\"]", "\"b\"", 0},
	    {"is_set", "\"is_set\"", NULL, 0},
	    {"is_set", "\"is_set\"", "null", 1},
	    {"is_set", "\"is_set\"", "\"\"", 1},
	    {"is_not_set", "\"is_not_set\"", NULL, 1},
	    {"is_not_set", "\"is_not_set\"", "null", 0},
	    {"icontains", "\"ENT\"", "\"enterprise\"", 1},
	    {"icontains", "\"x\"", NULL, 0},
	    {"icontains", "\"1\"", "21", 1},
	    {"icontains", "\"zz\"", "\"enterprise\"", 0},
	    {"not_icontains", "\"x\"", NULL, 1},
	    {"not_icontains", "\"ent\"", "\"Enterprise\"", 0},
	    {"not_icontains", "\"zz\"", "\"Enterprise\"", 1},
	    {"icontains_multi", "[\"foo\",\"ENT\"]", "\"enterprise\"", 1},
	    {"icontains_multi", "[\"foo\",\"bar\"]", "\"enterprise\"", 0},
	    {"not_icontains_multi", "[\"foo\",\"bar\"]", "\"enterprise\"", 1},
	    {"not_icontains_multi", "[\"foo\",\"ent\"]", "\"enterprise\"", 0},
	    {"starts_with", "\"ENT\"", "\"enterprise\"", 1},
	    {"starts_with", "\"prise\"", "\"enterprise\"", 0},
	    {"ends_with", "\"PRISE\"", "\"enterprise\"", 1},
	    {"ends_with", "\"enterprises\"", "\"enterprise\"", 0},
	    {"not_starts_with", "\"a\"", NULL, 1},
	    {"not_ends_with", "\"se\"", "\"enterprise\"", 0},
	    /* regex: a search, case-sensitive, on the string form */
	    {"regex", "\"^ent.*e$\"", "\"enterprise\"", 1},
	    {"regex", "\"ter\"", "\"enterprise\"", 1},
	    {"regex", "\"ENT\"", "\"enterprise\"", 0},
	    {"regex", "\"^\\\\d+$\"", "123", 1},
	    {"regex", "\"^tr\"", "true", 1},
	    {"regex", "\"^(?=.*a)(?!.*z)\"", "\"bab\"", 1},
	    {"regex", "\"^(?=.*a)(?!.*z)\"", "\"baz\"", 0},
	    {"not_regex", "\"ENT\"", "\"enterprise\"", 1},
	    {"not_regex", "\"ent\"", "\"enterprise\"", 0},
	    {"not_regex", "\"x\"", NULL, 1},
	    {"regex", "\"x\"", NULL, 0},
	    /* an invalid pattern matches neither way, and does not crash */
	    {"regex", "\"(unclosed\"", "\"(unclosed\"", 0},
	    {"not_regex", "\"(unclosed\"", "\"x\"", 0},
	    {"regex", "\"[z-a]\"", "\"x\"", 0},
	    {"regex", "\"\\\\\"", "\"x\"", 0},
	    /* unknown operators never match */
	    {"frobnicate", "\"x\"", "\"x\"", 0},
	};
	run_op_cases(cases, SN_ARRAY_LEN(cases), 0);
}

static void test_operators_numbers(void **state)
{
	(void)state;
	static const struct op_case cases[] = {
	    {"gt", "5", "6", 1},
	    {"gt", "5", "\"6\"", 1},
	    {"gt", "\"5\"", "6", 1},
	    {"gt", "5", "5", 0},
	    {"gte", "5", "5", 1},
	    {"lt", "5", "4.5", 1},
	    {"lt", "5", "5", 0},
	    {"lte", "5", "\"5.0\"", 1},
	    {"gt", "100", "\"1e3\"", 1},
	    {"gt", "-1", "-0.5", 1},
	    /* non-numeric on either side: false, not a string comparison */
	    {"gt", "5", "\"abc\"", 0},
	    {"lt", "5", "\"abc\"", 0},
	    {"gt", "\"abc\"", "6", 0},
	    {"gt", "\"10\"", "\"9\"", 0},
	    {"gt", "5", "true", 0},
	    {"lt", "5", "\" 4\"", 0},
	    {"lt", "5", "\"0x3\"", 0},
	    {"gt", "5", NULL, 0},
	    {"lt", "5", "null", 0},
	    {"between", "[1, 10]", "5", 1},
	    {"between", "[1, 10]", "10", 1},
	    {"between", "[1, 10]", "\"1\"", 1},
	    {"between", "[1, 10]", "11", 0},
	    {"between", "[10, 1]", "5", 0},
	    {"between", "[1, 10]", NULL, 0},
	    {"not_between", "[1, 10]", "11", 1},
	    {"not_between", "[1, 10]", "5", 0},
	    {"not_between", "[1, 10]", NULL, 1},
	    {"not_between", "[10, 1]", "5", 0},
	};
	run_op_cases(cases, SN_ARRAY_LEN(cases), 0);
}

/* "now" is 2024-06-15T12:00:00Z (NOW_US). */
static void test_operators_dates(void **state)
{
	(void)state;
	static const struct op_case cases[] = {
	    {"is_date_before", "\"2024-01-01\"", "\"2023-12-31\"", 1},
	    {"is_date_before", "\"2024-01-01\"", "\"2024-01-01\"", 0},
	    {"is_date_after", "\"2024-01-01T00:00:00Z\"", "\"2024-01-01 00:00:01\"", 1},
	    {"is_date_after", "\"2024-01-01T00:00:00Z\"", "\"2024-01-01T00:00:00.000Z\"", 0},
	    {"is_date_before", "\"2024-01-01T00:00:00Z\"", "\"2024-01-01T00:30:00+01:00\"", 1},
	    {"is_date_after", "\"2024-01-01T00:00:00+02:00\"", "\"2023-12-31T23:00:00Z\"", 1},
	    {"is_date_before", "\"2024-01-01T00:00:00.500Z\"", "\"2024-01-01T00:00:00.250Z\"", 1},
	    /* relative dates: always that long before now */
	    {"is_date_before", "\"-7d\"", "\"2024-06-01\"", 1},
	    {"is_date_after", "\"-7d\"", "\"2024-06-10T00:00:00Z\"", 1},
	    {"is_date_after", "\"-7d\"", "\"2024-06-01\"", 0},
	    {"is_date_after", "\"7d\"", "\"2024-06-10T00:00:00Z\"", 1},
	    {"is_date_after", "\"-1h\"", "\"2024-06-15T11:30:00Z\"", 1},
	    {"is_date_after", "\"-1h\"", "\"2024-06-15T10:30:00Z\"", 0},
	    {"is_date_after", "\"-2w\"", "\"2024-06-02\"", 1},
	    {"is_date_before", "\"-2w\"", "\"2024-05-31\"", 1},
	    {"is_date_before", "\"-1m\"", "\"2024-05-14\"", 1},
	    {"is_date_after", "\"-1m\"", "\"2024-05-16\"", 1},
	    {"is_date_before", "\"-1y\"", "\"2023-06-14\"", 1},
	    {"is_date_after", "\"-1y\"", "\"2023-06-16\"", 1},
	    {"is_date_before", "\"-1y\"", "\"2000-01-01\"", 1},
	    /* a number, or a string of only a number, is Unix seconds */
	    {"is_date_after", "\"2024-01-01\"", "1717000000", 1},
	    {"is_date_after", "\"2024-01-01\"", "\"1717000000\"", 1},
	    {"is_date_before", "\"2024-01-01\"", "1717000000", 0},
	    /* unparseable on either side: false */
	    {"is_date_before", "\"garbage\"", "\"2000-01-01\"", 0},
	    {"is_date_before", "\"-7d\"", "\"not a date\"", 0},
	    {"is_date_before", "\"-10000d\"", "\"2000-01-01\"", 0},
	    {"is_date_before", "\"-3x\"", "\"2000-01-01\"", 0},
	    {"is_date_before", "\"2024-02-30\"", "\"2000-01-01\"", 0},
	    {"is_date_before", "\"2024-01-01\"", "true", 0},
	    {"is_date_before", "\"2024-01-01\"", NULL, 0},
	    {"is_date_exact", "\"2024-01-01\"", "\"2024-01-01T15:00:00Z\"", 1},
	    {"is_date_exact", "\"2024-01-01\"", "\"2024-01-02T00:00:00Z\"", 0},
	};
	run_op_cases(cases, SN_ARRAY_LEN(cases), 0);

	/* Naive dates are in the team timezone: at UTC+2 "2024-01-01" starts at
	 * 2023-12-31T22:00Z, so 23:00Z is no longer before it. */
	assert_true(op_matches("is_date_before", "\"2024-01-01\"", "\"2023-12-31T23:00:00Z\"", 0));
	assert_false(
	    op_matches("is_date_before", "\"2024-01-01\"", "\"2023-12-31T23:00:00Z\"", 7200));
	assert_true(
	    op_matches("is_date_before", "\"2024-01-01\"", "\"2023-12-31T21:00:00Z\"", 7200));

	/* month arithmetic clamps the day: 31 March minus one month is 29 February */
	int64_t mar31 = sn_days_from_civil(2024, 3, 31) * 86400LL * 1000000;
	assert_true(sn_flag_rel_date_us(mar31, 1, 'm') ==
		    sn_days_from_civil(2024, 2, 29) * 86400LL * 1000000);
	assert_true(sn_flag_rel_date_us(mar31, 1, 'y') ==
		    sn_days_from_civil(2023, 3, 31) * 86400LL * 1000000);
}

static void test_operators_semver(void **state)
{
	(void)state;
	static const struct op_case cases[] = {
	    {"semver_gt", "\"1.2.3\"", "\"1.10.0\"", 1},
	    {"semver_gt", "\"1.2.3\"", "\"1.2.3\"", 0},
	    {"semver_gte", "\"1.2.3\"", "\"1.2.3\"", 1},
	    {"semver_eq", "\"1.2\"", "\"v1.2.0\"", 1},
	    {"semver_eq", "\"1.2.3\"", "\" 01.02.03 \"", 1},
	    {"semver_eq", "\"1.2.3\"", "\"1.2.3+build.5\"", 1},
	    {"semver_neq", "\"1.2.3\"", "\"1.2.4\"", 1},
	    {"semver_lt", "\"1.0.0\"", "\"1.0.0-alpha\"", 1},
	    {"semver_gt", "\"1.0.0-alpha.1\"", "\"1.0.0-alpha.beta\"", 1},
	    {"semver_lt", "\"1.0.0-alpha.2\"", "\"1.0.0-alpha.10\"", 0},
	    {"semver_gt", "\"1.0.0-alpha.2\"", "\"1.0.0-alpha.10\"", 1},
	    {"semver_lte", "\"2.0.0\"", "\"1.99.99\"", 1},
	    {"semver_tilde", "\"1.2.3\"", "\"1.2.9\"", 1},
	    {"semver_tilde", "\"~1.2.3\"", "\"1.3.0\"", 0},
	    {"semver_tilde", "\"1.2.3\"", "\"1.2.2\"", 0},
	    {"semver_caret", "\"1.2.3\"", "\"1.9.9\"", 1},
	    {"semver_caret", "\"^1.2.3\"", "\"2.0.0\"", 0},
	    {"semver_caret", "\"0.2.3\"", "\"0.2.9\"", 1},
	    {"semver_caret", "\"0.2.3\"", "\"0.3.0\"", 0},
	    {"semver_caret", "\"0.0.3\"", "\"0.0.4\"", 0},
	    {"semver_caret", "\"0.0.3\"", "\"0.0.3\"", 1},
	    {"semver_wildcard", "\"1.2.*\"", "\"1.2.7\"", 1},
	    {"semver_wildcard", "\"1.2.*\"", "\"1.3.0\"", 0},
	    {"semver_wildcard", "\"1.*\"", "\"1.99.0\"", 1},
	    {"semver_wildcard", "\"1.*\"", "\"2.0.0\"", 0},
	    {"semver_wildcard", "\"*\"", "\"9.9.9\"", 1},
	    /* PostHog's service: "*" spelt "x", read as a semver-crate
	     * requirement (a bare version is a caret one) */
	    {"semver_wildcard", "\"1.*.*\"", "\"1.7.3\"", 1},
	    {"semver_wildcard", "\"1.*.*\"", "\"2.0.0\"", 0},
	    {"semver_wildcard", "\"1.2.x\"", "\"1.2.9\"", 1},
	    {"semver_wildcard", "\"1.2.x\"", "\"1.3.0\"", 0},
	    {"semver_wildcard", "\"1.X\"", "\"1.0.1\"", 1},
	    {"semver_wildcard", "\"x\"", "\"0.0.1\"", 1},
	    {"semver_wildcard", "\"1.*.3\"", "\"1.0.3\"", 0},
	    {"semver_wildcard", "\"2.0.0\"", "\"2.5.0\"", 1},
	    {"semver_wildcard", "\"2.0.0\"", "\"3.0.0\"", 0},
	    {"semver_wildcard", "\"0.9.0\"", "\"0.9.1\"", 1},
	    {"semver_wildcard", "\"0.9.0\"", "\"0.10.0\"", 0},
	    {"semver_wildcard", "\"1.2\"", "\"1.9.0\"", 1},
	    {"semver_wildcard", "\"0\"", "\"0.9.0\"", 1},
	    {"semver_wildcard", "\"0.0\"", "\"0.1.0\"", 0},
	    /* unparseable property or value: false both ways */
	    {"semver_eq", "\"1.2.3\"", "\"banana\"", 0},
	    {"semver_neq", "\"1.2.3\"", "\"banana\"", 0},
	    {"semver_neq", "\"banana\"", "\"1.0.0\"", 0},
	    {"semver_gt", "\"1.2.3\"", "\"1.2.3.4\"", 0},
	    {"semver_gte", "\"1.0.0\"", NULL, 0},
	};
	run_op_cases(cases, SN_ARRAY_LEN(cases), 0);
}

/* A pattern with catastrophic backtracking stops at the match limit: no
 * match, bounded time. */
static void test_regex_limits(void **state)
{
	(void)state;
	char prop[256];
	memset(prop, 0, sizeof(prop));
	prop[0] = '"';
	memset(prop + 1, 'a', 60);
	strcat(prop, "!\"");
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	assert_false(op_matches("regex", "\"^(a+)+$\"", prop, 0));
	assert_false(op_matches("not_regex", "\"^(a+)+$\"", prop, 0));
	clock_gettime(CLOCK_MONOTONIC, &b);
	double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	assert_true(secs < 2.0);
	/* the same pattern on a short subject still works */
	assert_true(op_matches("regex", "\"^(a+)+$\"", "\"aaa\"", 0));

	/* an over-long pattern is refused like an invalid one */
	size_t n = SN_FLAG_RE_MAX_PATTERN + 10;
	char *pat = malloc(n + 3);
	pat[0] = '"';
	memset(pat + 1, 'a', n);
	pat[n + 1] = '"';
	pat[n + 2] = 0;
	assert_false(op_matches("regex", pat, "\"aaa\"", 0));
	free(pat);
}

/* ---- flag-level behaviour ------------------------------------------------------------- */

static void test_cohorts(void **state)
{
	(void)state;
	struct sn_flag_set *set = set_from(
	    "{\"flags\":["
	    "{\"key\":\"corp\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"id\","
	    "\"type\":\"cohort\",\"value\":5,\"operator\":\"in\"}],\"rollout_percentage\":100}]}},"
	    "{\"key\":\"not-corp\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"id\","
	    "\"type\":\"cohort\",\"value\":5,\"operator\":\"not_in\"}]}]}},"
	    "{\"key\":\"paying\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"id\","
	    "\"type\":\"cohort\",\"value\":\"6\",\"operator\":\"exact\"}]}]}},"
	    "{\"key\":\"static\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"id\","
	    "\"type\":\"cohort\",\"value\":99,\"operator\":\"in\"}]}]}},"
	    "{\"key\":\"self\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"id\","
	    "\"type\":\"cohort\",\"value\":7,\"operator\":\"in\"}]}]}},"
	    "{\"key\":\"everyone\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"id\","
	    "\"type\":\"cohort\",\"value\":8,\"operator\":\"in\"}]}]}}],"
	    "\"cohorts\":{"
	    "\"5\":{\"type\":\"OR\",\"values\":[{\"type\":\"AND\",\"values\":["
	    "{\"key\":\"email\",\"type\":\"person\",\"operator\":\"icontains\",\"value\":"
	    "\"@corp.com\"}]},{\"type\":\"AND\",\"values\":[{\"key\":\"vip\",\"type\":\"person\","
	    "\"operator\":\"exact\",\"value\":true}]}]},"
	    "\"6\":{\"type\":\"AND\",\"values\":[{\"key\":\"plan\",\"type\":\"person\","
	    "\"operator\":\"exact\",\"value\":\"free\",\"negation\":true},"
	    "{\"key\":\"plan\",\"type\":\"person\",\"operator\":\"is_set\",\"value\":\"is_set\"}]},"
	    "\"7\":{\"type\":\"AND\",\"values\":[{\"key\":\"id\",\"type\":\"cohort\",\"value\":7,"
	    "\"operator\":\"in\"}]},"
	    "\"8\":{}}}");
	assert_true(eval_in(set, "corp", "u", "{\"email\":\"a@CORP.com\"}", NULL).r.enabled);
	assert_true(eval_in(set, "corp", "u", "{\"vip\":\"true\"}", NULL).r.enabled);
	assert_false(eval_in(set, "corp", "u", "{\"email\":\"a@home.net\"}", NULL).r.enabled);
	assert_true(eval_in(set, "not-corp", "u", "{\"email\":\"a@home.net\"}", NULL).r.enabled);
	assert_false(eval_in(set, "not-corp", "u", "{\"email\":\"a@corp.com\"}", NULL).r.enabled);
	assert_true(eval_in(set, "paying", "u", "{\"plan\":\"pro\"}", NULL).r.enabled);
	assert_false(eval_in(set, "paying", "u", "{\"plan\":\"free\"}", NULL).r.enabled);
	assert_false(eval_in(set, "paying", "u", "{}", NULL).r.enabled);
	/* static (absent) cohorts are not evaluable yet: no match */
	assert_false(eval_in(set, "static", "u", "{}", NULL).r.enabled);
	/* a cohort that contains itself never matches, and does not loop */
	assert_false(eval_in(set, "self", "u", "{}", NULL).r.enabled);
	assert_true(eval_in(set, "everyone", "u", NULL, NULL).r.enabled);
	sn_flag_set_unref(set);
}

static void test_dependencies(void **state)
{
	(void)state;
	struct sn_flag_set *set = set_from(
	    "[{\"key\":\"a\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"b\",\"type\":"
	    "\"flag\",\"operator\":\"flag_evaluates_to\",\"value\":true,\"dependency_chain\":"
	    "[\"b\",\"a\"]}]}]}},"
	    "{\"key\":\"b\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"a\",\"type\":"
	    "\"flag\",\"operator\":\"flag_evaluates_to\",\"value\":true,\"dependency_chain\":"
	    "[\"a\",\"b\"]}]}]}},"
	    "{\"id\":42,\"key\":\"base\",\"filters\":{\"groups\":[{\"properties\":[]}],"
	    "\"multivariate\":{\"variants\":[{\"key\":\"only\",\"rollout_percentage\":100}]}}},"
	    "{\"key\":\"by-id\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"42\",\"type\":"
	    "\"flag\",\"operator\":\"flag_evaluates_to\",\"value\":\"only\",\"dependency_chain\":"
	    "[\"42\"]}]}]}},"
	    "{\"key\":\"wants-false\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"off\","
	    "\"type\":\"flag\",\"operator\":\"flag_evaluates_to\",\"value\":false,"
	    "\"dependency_chain\":[\"off\"]}]}]}},"
	    "{\"key\":\"off\",\"active\":false,\"filters\":{\"groups\":[{\"properties\":[]}]}},"
	    "{\"key\":\"case\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"base\","
	    "\"type\":"
	    "\"flag\",\"operator\":\"flag_evaluates_to\",\"value\":\"ONLY\",\"dependency_chain\":"
	    "[\"base\"]}]}]}},"
	    "{\"key\":\"wrong-op\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"base\","
	    "\"type\":\"flag\",\"operator\":\"exact\",\"value\":true,\"dependency_chain\":"
	    "[\"base\"]}]}]}}]");
	/* a cycle: both false, no recursion without end */
	struct one a = eval_in(set, "a", "u", NULL, NULL);
	assert_false(a.r.enabled);
	assert_int_equal(a.r.reason, SN_FLAG_NO_CONDITION_MATCH);
	assert_false(eval_in(set, "b", "u", NULL, NULL).r.enabled);
	/* a target named by id, matched on its variant */
	assert_true(eval_in(set, "by-id", "u", NULL, NULL).r.enabled);
	/* an inactive target is missing, as in PostHog's /flags service, whose
	 * flag list holds active flags only (SDKs, which also get inactive
	 * flags, would answer it false) */
	struct one wf = eval_in(set, "wants-false", "u", NULL, NULL);
	assert_false(wf.r.enabled);
	assert_int_equal(wf.r.reason, SN_FLAG_MISSING_DEPENDENCY);
	/* variant names compare case-sensitively */
	assert_false(eval_in(set, "case", "u", NULL, NULL).r.enabled);
	assert_false(eval_in(set, "wrong-op", "u", NULL, NULL).r.enabled);
	sn_flag_set_unref(set);
}

static void test_holdouts_and_super_groups(void **state)
{
	(void)state;
	struct sn_flag_set *set = set_from(
	    "[{\"key\":\"legacy\",\"filters\":{\"groups\":[{\"properties\":[]}],"
	    "\"holdout_groups\":[{\"properties\":[],\"rollout_percentage\":100,\"variant\":"
	    "\"holdout-3\"}]}},"
	    "{\"key\":\"early\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"plan\","
	    "\"operator\":\"exact\",\"value\":\"pro\"}]}],"
	    "\"payloads\":{\"true\":\"{\\\"beta\\\":1}\"},"
	    "\"super_groups\":[{\"properties\":[{\"key\":\"$feature_enrollment/early\",\"type\":"
	    "\"person\",\"operator\":\"exact\",\"value\":[\"true\"]}],\"rollout_percentage\":100}]}"
	    "}]");
	struct one l = eval_in(set, "legacy", "u", NULL, NULL);
	assert_true(l.r.enabled);
	assert_string_equal(l.r.variant, "holdout-3");
	assert_int_equal(l.r.reason, SN_FLAG_HOLDOUT_CONDITION_VALUE);
	assert_int_equal(l.r.condition_index, -1);

	struct one e = eval_in(set, "early", "u", "{\"$feature_enrollment/early\":true}", NULL);
	assert_true(e.r.enabled);
	assert_int_equal(e.r.reason, SN_FLAG_SUPER_CONDITION_VALUE);
	assert_int_equal(e.r.condition_index, 0);
	assert_string_equal(e.r.payload, "{\"beta\":1}");
	e = eval_in(set, "early", "u", "{\"$feature_enrollment/early\":false,\"plan\":\"pro\"}",
		    NULL);
	assert_false(e.r.enabled); /* opted out wins over the normal condition */
	assert_int_equal(e.r.reason, SN_FLAG_SUPER_CONDITION_VALUE);
	e = eval_in(set, "early", "u", "{\"plan\":\"pro\"}", NULL);
	assert_true(e.r.enabled);
	assert_int_equal(e.r.reason, SN_FLAG_CONDITION_MATCH);
	sn_flag_set_unref(set);
}

/* Bucketing: device id, experience-continuity overrides, mixed targeting. */
static void test_bucketing(void **state)
{
	(void)state;
	struct sn_flag_set *set =
	    set_from("{\"flags\":[{\"key\":\"simple-flag\",\"bucketing_identifier\":\"device_id\","
		     "\"filters\":{\"groups\":[{\"properties\":[],\"rollout_percentage\":45}]}}],"
		     "\"group_type_mapping\":{\"0\":\"company\"}}");
	/* distinct_id_0 is out of the 45 % rollout, distinct_id_1 in (§3.10) */
	struct sn_flag_ctx c = {.device_id = "distinct_id_1"};
	assert_true(eval_in(set, "simple-flag", "distinct_id_0", NULL, &c).r.enabled);
	c.device_id = "distinct_id_0";
	assert_false(eval_in(set, "simple-flag", "distinct_id_1", NULL, &c).r.enabled);
	c.device_id = NULL; /* falls back to the distinct id */
	assert_true(eval_in(set, "simple-flag", "distinct_id_1", NULL, &c).r.enabled);
	sn_flag_set_unref(set);

	set = set_from(
	    "{\"flags\":[{\"key\":\"simple-flag\",\"ensure_experience_continuity\":true,"
	    "\"filters\":{\"groups\":[{\"properties\":[],\"rollout_percentage\":45}]}},"
	    "{\"key\":\"mixed\",\"filters\":{\"groups\":["
	    "{\"aggregation_group_type_index\":0,\"properties\":[{\"key\":\"size\",\"type\":"
	    "\"group\",\"group_type_index\":0,\"operator\":\"gt\",\"value\":100}]},"
	    "{\"properties\":[{\"key\":\"plan\",\"operator\":\"exact\",\"value\":\"pro\"}]}]}}],"
	    "\"group_type_mapping\":{\"0\":\"company\"}}");
	struct json_object *ov = parse("{\"simple-flag\":\"distinct_id_1\"}");
	c = (struct sn_flag_ctx){.hash_key_overrides = ov};
	assert_true(eval_in(set, "simple-flag", "distinct_id_0", NULL, &c).r.enabled);
	assert_false(eval_in(set, "simple-flag", "distinct_id_0", NULL, NULL).r.enabled);
	json_object_put(ov);

	struct json_object *groups = parse("{\"company\":\"acme\"}");
	struct json_object *gp = parse("{\"company\":{\"size\":500}}");
	c = (struct sn_flag_ctx){.groups = groups, .group_properties = gp};
	struct one m = eval_in(set, "mixed", "u", "{}", &c);
	assert_true(m.r.enabled);
	assert_int_equal(m.r.condition_index, 0);
	/* without the group the group condition is skipped, the person one still applies */
	m = eval_in(set, "mixed", "u", "{\"plan\":\"pro\"}", NULL);
	assert_true(m.r.enabled);
	assert_int_equal(m.r.condition_index, 1);
	m = eval_in(set, "mixed", "u", "{\"plan\":\"free\"}", NULL);
	assert_false(m.r.enabled);
	assert_int_equal(m.r.reason, SN_FLAG_NO_GROUP_TYPE);
	assert_int_equal(m.r.condition_index, 0);
	json_object_put(groups);
	json_object_put(gp);
	sn_flag_set_unref(set);
}

static void test_reasons_and_payloads(void **state)
{
	(void)state;
	struct sn_flag_set *set =
	    set_from("[{\"key\":\"none\",\"filters\":{\"groups\":[]}},"
		     "{\"key\":\"nofilters\"},"
		     "{\"key\":\"deleted\",\"deleted\":true,\"filters\":{\"groups\":[{}]}},"
		     "{\"key\":\"two\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"x\","
		     "\"value\":1}]},{\"rollout_percentage\":100}],"
		     "\"payloads\":{\"true\":{\"a\":[1,2]}}}},"
		     "{\"key\":\"ties\",\"filters\":{\"groups\":[{\"properties\":[{\"key\":\"x\","
		     "\"value\":1}]},{\"properties\":[{\"key\":\"y\",\"value\":1}]}]}}]");
	struct one o = eval_in(set, "none", "u", NULL, NULL);
	assert_false(o.r.enabled);
	assert_int_equal(o.r.reason, SN_FLAG_NO_CONDITION_MATCH);
	assert_int_equal(o.r.condition_index, -1);
	assert_false(eval_in(set, "nofilters", "u", NULL, NULL).r.enabled);
	o = eval_in(set, "deleted", "u", NULL, NULL);
	assert_true(o.r.omitted);
	assert_false(o.r.enabled);
	o = eval_in(set, "two", "u", NULL, NULL);
	assert_true(o.r.enabled);
	assert_int_equal(o.r.condition_index, 1);
	assert_string_equal(o.r.payload, "{\"a\":[1,2]}");
	char desc[64];
	sn_flag_reason_describe(&o.r, desc, sizeof(desc));
	assert_string_equal(desc, "Matched condition set 2");
	/* equal-priority reasons: the first condition's index is reported */
	struct one t = eval_in(set, "ties", "u", NULL, NULL);
	assert_int_equal(t.r.reason, SN_FLAG_NO_CONDITION_MATCH);
	assert_int_equal(t.r.condition_index, 0);
	assert_string_equal(sn_flag_reason_code(SN_FLAG_NO_GROUP_TYPE), "no_group_type");
	sn_flag_set_unref(set);
}

/* One bad flag does not hide the others; documents that are not
 * definitions are refused with a message. */
static void test_bad_definitions(void **state)
{
	(void)state;
	struct sn_flag_set *set =
	    set_from("{\"flags\":[\"not an object\",{\"nokey\":1},"
		     "{\"key\":\"bad-rollout\",\"filters\":{\"groups\":[{\"rollout_percentage\":"
		     "\"lots\"}]}},"
		     "{\"key\":\"bad-variant\",\"filters\":{\"multivariate\":{\"variants\":[{}]}}},"
		     "{\"key\":\"bad-props\",\"filters\":{\"groups\":[{\"properties\":[7]}]}},"
		     "{\"key\":\"ok\",\"filters\":{\"groups\":[{\"properties\":[]}]}}]}");
	assert_int_equal(sn_flag_set_count(set), 6);
	for (size_t i = 0; i < 5; i++)
		assert_non_null(sn_flag_set_error(set, i));
	assert_null(sn_flag_set_error(set, 5));
	assert_true(strstr(sn_flag_set_error(set, 2), "rollout_percentage") != NULL);
	struct one o = eval_in(set, "bad-rollout", "u", NULL, NULL);
	assert_false(o.r.enabled);
	assert_int_equal(o.r.reason, SN_FLAG_ERROR);
	assert_true(eval_in(set, "ok", "u", NULL, NULL).r.enabled);
	/* refcounting: the set outlives its first owner */
	struct sn_flag_set *ref = sn_flag_set_ref(set);
	sn_flag_set_unref(set);
	assert_true(eval_in(ref, "ok", "u", NULL, NULL).r.enabled);
	sn_flag_set_unref(ref);

	static const char *bad[] = {"{", "42", "{\"noflags\":[]}", "{\"flags\":{}}", ""};
	for (size_t i = 0; i < SN_ARRAY_LEN(bad); i++) {
		struct sn_flag_set *s = NULL;
		struct sn_err err = {0};
		assert_int_equal(sn_flag_set_parse(bad[i], strlen(bad[i]), &s, &err),
				 SN_ERR_INVALID);
		assert_null(s);
		assert_true(strstr(err.msg, "flag definitions") != NULL);
	}
}

/* Truncation to 200 scalar values applies to the bucketing id of a flag. */
static void test_long_distinct_id(void **state)
{
	(void)state;
	char id[600];
	memset(id, 'a', 205);
	id[205] = 0;
	double h205 = sn_flag_hash01("beta-search.", id, 205, "");
	double h200 = sn_flag_hash01("beta-search.", id, 200, "");
	assert_true(h205 == h200);
	assert_true(h200 == 0.10748426120816724);
	assert_true(sn_flag_hash01("beta-search.", id, 199, "") != h200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hash_worked_examples),
	    cmocka_unit_test(test_hash_corpus),
	    cmocka_unit_test(test_v1_evaluation_corpus),
	    cmocka_unit_test(test_consistency_vectors),
	    cmocka_unit_test(test_operators_strings),
	    cmocka_unit_test(test_operators_numbers),
	    cmocka_unit_test(test_operators_dates),
	    cmocka_unit_test(test_operators_semver),
	    cmocka_unit_test(test_regex_limits),
	    cmocka_unit_test(test_cohorts),
	    cmocka_unit_test(test_dependencies),
	    cmocka_unit_test(test_holdouts_and_super_groups),
	    cmocka_unit_test(test_bucketing),
	    cmocka_unit_test(test_reasons_and_payloads),
	    cmocka_unit_test(test_bad_definitions),
	    cmocka_unit_test(test_long_distinct_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
