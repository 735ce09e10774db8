/*
 * eval.c — one flag for one request, in the order of spec §3.3:
 *
 *   inactive/deleted ─▶ omitted (false)
 *   holdout hit      ─▶ "holdout-<id>", holdout_condition_value, index null
 *   super group set  ─▶ its own value, super_condition_value, index 0
 *   condition groups in stored order:
 *       group type missing ─▶ candidate no_group_type
 *       filters fail       ─▶ candidate no_condition_match
 *       rollout miss       ─▶ candidate out_of_rollout_bound (terminal with early_exit)
 *       match              ─▶ true (+ variant), condition_match, this index
 *   nothing matched  ─▶ false with the highest-priority candidate (first on ties)
 *
 * The hash is PostHog's sha1_60: SHA-1 of prefix + identifier + salt, the
 * top 60 bits divided by 2^60 in one IEEE division. For an empty identifier
 * the rollout and variant hashes are 0.0 (the v1 Rust reference does not
 * hash at all), the holdout hash is computed normally.
 *
 * Results are memoised per request in struct sn_flag_eval so a flag that
 * several others depend on is evaluated once; a flag met again while it is
 * being evaluated is a dependency cycle and its filter does not match.
 *
 * Rejected: sorting variant-override groups to the front, as SDKs did
 * before September 2025; the server evaluates in stored order.
 */
#include "flags/flags_internal.h"

#include <stdio.h>
#include <string.h>

double sn_flag_hash01_n(const char *prefix, size_t prefix_len, const char *id, size_t id_len,
			const char *salt, size_t salt_len)
{
	/* Cut to 200 Unicode scalar values: count UTF-8 lead bytes (at most
	 * 4 bytes a scalar, so a shorter id needs no count). */
	size_t i = id_len;
	if (id_len > SN_FLAG_ID_MAX_SCALARS) {
		size_t scalars = 0;
		for (i = 0; i < id_len; i++) {
			if (((unsigned char)id[i] & 0xC0) != 0x80) {
				if (scalars == SN_FLAG_ID_MAX_SCALARS)
					break;
				scalars++;
			}
		}
	}
	uint8_t d[20];
	char one[512];
	if (prefix_len + i + salt_len <= sizeof(one)) {
		/* One update: the digest's per-call overhead is most of the
		 * cost for inputs this short. */
		memcpy(one, prefix, prefix_len);
		memcpy(one + prefix_len, id, i);
		memcpy(one + prefix_len + i, salt, salt_len);
		sn_sha1(one, prefix_len + i + salt_len, d);
	} else {
		const void *parts[] = {prefix, id, salt};
		size_t lens[] = {prefix_len, i, salt_len};
		sn_sha1_parts(parts, lens, 3, d);
	}
	uint64_t n = 0;
	for (int k = 0; k < 7; k++)
		n = (n << 8) | d[k];
	n = (n << 4) | (d[7] >> 4);
	return (double)n / 1152921504606846976.0;
}

double sn_flag_hash01(const char *prefix, const char *id, size_t id_len, const char *salt)
{
	return sn_flag_hash01_n(prefix, strlen(prefix), id, id_len, salt, strlen(salt));
}

bool sn_flag_in_rollout(double hash, double pct)
{
	if (pct >= 100.0)
		return true;
	return hash <= pct / 100.0;
}

const char *sn_flag_reason_code(enum sn_flag_reason r)
{
	switch (r) {
	case SN_FLAG_NO_CONDITION_MATCH: return "no_condition_match";
	case SN_FLAG_OUT_OF_ROLLOUT_BOUND: return "out_of_rollout_bound";
	case SN_FLAG_NO_GROUP_TYPE: return "no_group_type";
	case SN_FLAG_CONDITION_MATCH: return "condition_match";
	case SN_FLAG_HOLDOUT_CONDITION_VALUE: return "holdout_condition_value";
	case SN_FLAG_SUPER_CONDITION_VALUE: return "super_condition_value";
	case SN_FLAG_DISABLED: return "flag_disabled";
	case SN_FLAG_MISSING_DEPENDENCY: return "missing_dependency";
	case SN_FLAG_ERROR: return "error";
	}
	return "unknown";
}

static void put_text(char *out, size_t outsz, const char *text)
{
	size_t n = strlen(text);
	if (!outsz)
		return;
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, text, n);
	out[n] = 0;
}

void sn_flag_reason_describe(const struct sn_flag_result *r, char *out, size_t outsz)
{
	switch (r->reason) {
	case SN_FLAG_CONDITION_MATCH: {
		/* On every /flags answer: no printf. */
		static const char pre[] = "Matched condition set ";
		char num[12], *p = num + sizeof(num);
		unsigned v = (unsigned)(r->condition_index + 1);
		*--p = 0;
		do {
			*--p = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		size_t need = sizeof(pre) - 1 + (size_t)(num + sizeof(num) - 1 - p);
		if (outsz > need) {
			memcpy(out, pre, sizeof(pre) - 1);
			memcpy(out + sizeof(pre) - 1, p, (size_t)(num + sizeof(num) - p));
		} else {
			snprintf(out, outsz, "%s%s", pre, p);
		}
		return;
	}
	case SN_FLAG_NO_CONDITION_MATCH: put_text(out, outsz, "No matching condition set"); return;
	case SN_FLAG_OUT_OF_ROLLOUT_BOUND: put_text(out, outsz, "Out of rollout bound"); return;
	case SN_FLAG_NO_GROUP_TYPE: put_text(out, outsz, "No group type"); return;
	case SN_FLAG_HOLDOUT_CONDITION_VALUE:
		put_text(out, outsz, "Holdout condition value");
		return;
	case SN_FLAG_SUPER_CONDITION_VALUE: put_text(out, outsz, "Super condition value"); return;
	case SN_FLAG_DISABLED: put_text(out, outsz, "Flag is disabled"); return;
	case SN_FLAG_MISSING_DEPENDENCY: put_text(out, outsz, "Flag dependency missing"); return;
	case SN_FLAG_ERROR: put_text(out, outsz, "Flag definition is invalid"); return;
	}
	put_text(out, outsz, "Unknown");
}

int sn_flag_eval_init(struct sn_flag_eval *ev, const struct sn_flag_set *set,
		      const struct sn_flag_ctx *ctx, struct sn_arena *arena, struct sn_err *err)
{
	memset(ev, 0, sizeof(*ev));
	ev->set = set;
	ev->ctx = ctx;
	ev->arena = arena;
	size_t n = set->nflags ? set->nflags : 1;
	ev->distinct_id_len = ctx->distinct_id ? strlen(ctx->distinct_id) : 0;
	ev->results = sn_arena_alloc(arena, n * sizeof(*ev->results));
	ev->state = sn_arena_alloc(arena, n);
	size_t nk = set->npkeys ? set->npkeys : 1;
	ev->pstate = sn_arena_alloc(arena, nk);
	ev->pvals = sn_arena_alloc(arena, nk * sizeof(*ev->pvals));
	if (!ev->results || !ev->state || !ev->pstate || !ev->pvals)
		return sn_err_set(err, SN_ERR_NOMEM, "flag evaluation: request arena exhausted");
	memset(ev->state, 0, n);
	memset(ev->pstate, 0, nk);
	return 0;
}

/* The group type name for an index: the request's mapping when it has one
 * (the server resolves names per request), else the set's. */
static const char *group_type(struct sn_flag_eval *ev, int index)
{
	if (index < 0 || index >= 5)
		return NULL;
	if (ev->ctx->group_types)
		return ev->ctx->group_types[index];
	return ev->set->group_types[index];
}

/* The group type name for an index, and the request's key for it. */
static bool group_key(struct sn_flag_eval *ev, int index, const char **key, size_t *len, char *buf,
		      size_t bufsz)
{
	const char *name = group_type(ev, index);
	if (!name || !ev->ctx->groups)
		return false;
	struct json_object *v = sn_json_get(ev->ctx->groups, name);
	if (!v || json_object_is_type(v, json_type_null))
		return false;
	if (json_object_is_type(v, json_type_int)) {
		int n = snprintf(buf, bufsz, "%lld", (long long)json_object_get_int64(v));
		*key = buf;
		*len = (size_t)n;
		return true;
	}
	*key = sn_flag_str_form(v, buf, bufsz, len);
	return *key != NULL;
}

static struct json_object *group_props(struct sn_flag_eval *ev, int index)
{
	const char *name = group_type(ev, index);
	if (!name || !ev->ctx->group_properties)
		return NULL;
	return sn_json_get(ev->ctx->group_properties, name);
}

/* All filters of a condition (AND). */
static bool cond_filters_match(struct sn_flag_eval *ev, const struct sn_flag_cond *c, int agg,
			       int depth)
{
	for (size_t i = 0; i < c->nprops; i++) {
		const struct sn_flag_prop *p = &c->props[i];
		struct json_object *props = NULL;
		if (p->type == PT_GROUP)
			props =
			    group_props(ev, p->group_type_index >= 0 ? p->group_type_index : agg);
		else if (p->type == PT_PERSON)
			props = ev->ctx->person_properties;
		if (sn_flag_match_prop(ev, p, props, depth) != 1)
			return false;
	}
	return true;
}

int sn_flag_pick_variant_idx(const struct sn_flag *fl, double h)
{
	double boundary = 0.0;
	for (size_t i = 0; i < fl->nvariants; i++) {
		boundary += fl->variants[i].rollout / 100.0;
		if (h < boundary)
			return (int)i;
	}
	return -1;
}

const char *sn_flag_pick_variant(const struct sn_flag *fl, double h)
{
	int i = sn_flag_pick_variant_idx(fl, h);
	return i < 0 ? NULL : fl->variants[i].key;
}

static const struct sn_flag_json *json_of(const struct sn_flag_json *j)
{
	return j->text ? j : NULL;
}

static void evaluate(struct sn_flag_eval *ev, const struct sn_flag *fl, struct sn_flag_result *r,
		     int depth)
{
	const struct sn_flag_ctx *ctx = ev->ctx;
	memset(r, 0, sizeof(*r));
	r->condition_index = -1;
	r->reason = SN_FLAG_NO_CONDITION_MATCH;
	if (fl->error) {
		r->reason = SN_FLAG_ERROR;
		return;
	}
	if (!fl->active || fl->deleted) {
		r->omitted = true;
		r->reason = SN_FLAG_DISABLED;
		return;
	}
	if (fl->missing_dep) {
		r->reason = SN_FLAG_MISSING_DEPENDENCY;
		return;
	}

	/* The person's bucketing identifier (§3.2, §3.9), in PostHog's order:
	 * the device id for device bucketing; else a stored hash-key override
	 * of the flag (whenever the server looked them up); else, for a
	 * continuity flag on persons bucketed by distinct id, the request's
	 * $anon_distinct_id; else the distinct id. Holdouts never read stored
	 * overrides (hid). Group conditions use the group key. */
	const char *pid = ctx->distinct_id ? ctx->distinct_id : "";
	const char *hid = pid;
	if (fl->device_bucketing && ctx->device_id && *ctx->device_id) {
		pid = hid = ctx->device_id;
	} else {
		bool eligible = fl->continuity && fl->aggregation < 0 && !fl->device_bucketing;
		const char *anon = ctx->anon_distinct_id;
		const char *o =
		    ctx->hash_key_overrides
			? sn_json_str(sn_json_get(ctx->hash_key_overrides, fl->key), NULL)
			: NULL;
		if (eligible && anon && *anon)
			pid = hid = anon;
		if (o)
			pid = o;
	}
	size_t pid_len = pid == ctx->distinct_id ? ev->distinct_id_len : strlen(pid);
	const char *pfx = fl->hash_prefix;
	size_t pfx_len = fl->key_len + 1;

	/* Identifier of the flag-level aggregation (for holdout and super groups). */
	char gbuf[64];
	const char *fid = pid, *hfid = hid;
	size_t fid_len = pid_len, hfid_len = hid == pid ? pid_len : strlen(hid);
	if (fl->aggregation >= 0) {
		if (!group_key(ev, fl->aggregation, &fid, &fid_len, gbuf, sizeof(gbuf)))
			fid = NULL;
		hfid = fid;
		hfid_len = fid_len;
	}

	if (fl->has_holdout && hfid) {
		double h = sn_flag_hash01_n("holdout-", 8, hfid, hfid_len, "", 0);
		if (sn_flag_in_rollout(h, fl->holdout_pct)) {
			r->enabled = true;
			r->variant = fl->holdout_variant;
			r->variant_json = json_of(&fl->holdout_variant_json);
			r->reason = SN_FLAG_HOLDOUT_CONDITION_VALUE;
			return;
		}
	}

	if (fl->super && fl->super_key && ctx->person_properties &&
	    json_object_object_get_ex(ctx->person_properties, fl->super_key, NULL)) {
		bool ok = cond_filters_match(ev, fl->super, fl->aggregation, depth);
		if (ok && fl->super->has_rollout && fid)
			ok = sn_flag_in_rollout(
			    fid_len ? sn_flag_hash01_n(pfx, pfx_len, fid, fid_len, "", 0) : 0.0,
			    fl->super->rollout);
		r->enabled = ok;
		r->reason = SN_FLAG_SUPER_CONDITION_VALUE;
		r->condition_index = 0;
		r->payload = ok ? fl->payload_true : NULL;
		r->payload_json = ok ? json_of(&fl->payload_true_json) : NULL;
		return;
	}

	enum sn_flag_reason best = SN_FLAG_NO_CONDITION_MATCH;
	int best_idx = -1;
	for (size_t i = 0; i < fl->nconds; i++) {
		const struct sn_flag_cond *c = &fl->conds[i];
		int agg = c->aggregation == -2 ? fl->aggregation : c->aggregation;
		const char *id = pid;
		size_t id_len = pid_len;
		enum sn_flag_reason cand;
		char cbuf[64];
		if (agg >= 0 && !group_key(ev, agg, &id, &id_len, cbuf, sizeof(cbuf))) {
			cand = SN_FLAG_NO_GROUP_TYPE;
		} else if (!cond_filters_match(ev, c, agg, depth)) {
			cand = SN_FLAG_NO_CONDITION_MATCH;
		} else if (c->has_rollout &&
			   !sn_flag_in_rollout(
			       id_len ? sn_flag_hash01_n(pfx, pfx_len, id, id_len, "", 0) : 0.0,
			       c->rollout)) {
			cand = SN_FLAG_OUT_OF_ROLLOUT_BOUND;
			if (fl->early_exit) {
				r->reason = cand;
				r->condition_index = (int)i;
				return;
			}
		} else {
			int vi = c->variant_idx;
			if (vi < 0 && fl->nvariants)
				vi = sn_flag_pick_variant_idx(
				    fl, id_len ? sn_flag_hash01_n(pfx, pfx_len, id, id_len,
								  "variant", 7)
					       : 0.0);
			r->enabled = true;
			if (vi >= 0) {
				const struct sn_flag_variant *v = &fl->variants[vi];
				r->variant = v->key;
				r->variant_json = json_of(&v->key_json);
				r->payload = v->payload;
				r->payload_json = json_of(&v->payload_json);
			} else {
				r->payload = fl->payload_true;
				r->payload_json = json_of(&fl->payload_true_json);
			}
			r->reason = SN_FLAG_CONDITION_MATCH;
			r->condition_index = (int)i;
			return;
		}
		if (best_idx < 0 || cand > best) {
			best = cand;
			best_idx = (int)i;
		}
	}
	r->reason = best;
	r->condition_index = best_idx;
}

const struct sn_flag_result *sn_flag_eval_dep(struct sn_flag_eval *ev, size_t idx, int depth)
{
	if (idx >= ev->set->nflags)
		return NULL;
	if (ev->state[idx] == 2)
		return &ev->results[idx];
	if (ev->state[idx] == 1 || depth > SN_FLAG_MAX_NESTING)
		return NULL; /* cycle */
	ev->state[idx] = 1;
	evaluate(ev, &ev->set->flags[idx], &ev->results[idx], depth + 1);
	ev->state[idx] = 2;
	return &ev->results[idx];
}

const struct sn_flag_result *sn_flag_eval_one(struct sn_flag_eval *ev, size_t idx)
{
	static const struct sn_flag_result none = {.condition_index = -1, .reason = SN_FLAG_ERROR};
	const struct sn_flag_result *r = sn_flag_eval_dep(ev, idx, 0);
	return r ? r : &none;
}
