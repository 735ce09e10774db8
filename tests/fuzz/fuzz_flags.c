// fuzz-sources: src/base/*.c src/flags/compile.c src/flags/dates.c src/flags/eval.c
// fuzz-sources: src/flags/match.c src/flags/semver.c src/flags/tz.c
/*
 * fuzz_flags.c — libFuzzer target for flag definitions: the input is the
 * JSON of one flag definition (or a whole local-evaluation document, or a
 * list of flags), compiled into a set and evaluated for a fixed context
 * with person, group and override properties of several types. Whatever
 * comes in, compilation must succeed or fail with a message, and
 * evaluation must return (no crash, no sanitizer report, no unbounded
 * recursion or regex backtracking), with a reason code that has a name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flags/flags.h"

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static struct json_object *ctx_json(const char *s)
{
	struct json_object *o = NULL;
	check(sn_json_parse(s, strlen(s), &o, NULL) == 0);
	return o;
}

static void eval_all(const struct sn_flag_set *set, const char *did)
{
	static struct json_object *person, *groups, *gprops, *overrides;
	if (!person) {
		person = ctx_json("{\"plan\":\"enterprise\",\"age\":30.0,\"n\":7,\"ok\":true,"
				  "\"nil\":null,\"email\":\"a@corp.com\",\"v\":\"1.2.3\","
				  "\"d\":\"2024-01-01T00:00:00Z\",\"$feature_enrollment/x\":true,"
				  "\"arr\":[1,\"a\"],\"obj\":{\"k\":\"v\"}}");
		groups = ctx_json("{\"company\":\"acme\",\"project\":42,\"org\":\"org-9\"}");
		gprops = ctx_json("{\"company\":{\"size\":500,\"tier\":\"gold\"}}");
		overrides = ctx_json("{\"f\":\"other-id\"}");
	}
	struct sn_flag_ctx ctx = {
	    .distinct_id = did,
	    .device_id = "device-1",
	    .person_properties = person,
	    .groups = groups,
	    .group_properties = gprops,
	    .hash_key_overrides = overrides,
	    .now_us = 1718452800LL * 1000000,
	    .tz_offset_s = 3600,
	};
	struct sn_arena arena;
	sn_arena_init(&arena, 4 << 20);
	struct sn_flag_eval ev;
	if (sn_flag_eval_init(&ev, set, &ctx, &arena, NULL) == 0) {
		for (size_t i = 0; i < sn_flag_set_count(set); i++) {
			const struct sn_flag_result *r = sn_flag_eval_one(&ev, i);
			check(r != NULL);
			check(sn_flag_reason_code(r->reason) != NULL);
			check(r->condition_index >= -1);
			char desc[128];
			sn_flag_reason_describe(r, desc, sizeof(desc));
		}
	}
	sn_arena_release(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *root = NULL;
	if (sn_json_parse((const char *)data, size, &root, NULL) < 0)
		return 0;
	struct sn_flag_set *set = NULL;
	struct sn_err err = {0};
	int rc;
	if (json_object_is_type(root, json_type_object) && !sn_json_get(root, "flags")) {
		/* one flag definition, as a one-flag list with a group type mapping */
		struct json_object *list = json_object_new_array();
		struct json_object *gtm = ctx_json("{\"0\":\"company\",\"1\":\"project\"}");
		json_object_array_add(list, json_object_get(root));
		rc = sn_flag_set_build(list, gtm, NULL, &set, &err);
		json_object_put(list);
		json_object_put(gtm);
	} else {
		rc = sn_flag_set_parse((const char *)data, size, &set, &err);
	}
	if (rc < 0) {
		check(set == NULL && err.msg[0] != 0);
	} else {
		eval_all(set, "user-17");
		eval_all(set, "");
		sn_flag_set_unref(set);
	}
	json_object_put(root);
	return 0;
}
