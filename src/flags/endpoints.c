/*
 * endpoints.c — the flag endpoints SDKs call: /flags and /decide (remote
 * evaluation, spec posthog-wire.md §2.1–2.6) and /flags/definitions plus
 * the older /api/feature_flag/local_evaluation (definitions for SDK-side
 * local evaluation, §2.7).
 *
 * One /flags request:
 *
 *   body ─decode (form data= │ gzip │ base64 │ plain)─▶ JSON ─▶ token → team (meta cache)
 *        ─▶ snapshot of the team's flags (cache.c, refcounted)
 *        ─▶ flag_keys_to_evaluate → a per-flag mask (one hash table, linear)
 *        ─▶ context: distinct_id, $anon_distinct_id and stored hash-key
 *           overrides (experience continuity, written first when the request
 *           carries $anon_distinct_id), stored person properties (persons
 *           store, when there is one) with the request's person_properties
 *           on top, groups resolved to group type indexes (the team's types
 *           read once), group properties likewise
 *        ─▶ sn_flag_eval_one per flag (per-request arena) ─▶ the shape `v` asks for
 *
 * Response shapes (§2.1): /flags v≥2 (or neither v nor config) → FlagsV2
 * with the detailed `flags` map; /flags v=1 → FlagsV1 ("legacy"); /decide
 * absent/1 → DecideV1 (array of enabled keys), 2 → DecideV2, 3 → FlagsV1,
 * ≥4 → FlagsV2. config=true (the default for /decide and for a bare /flags)
 * flattens the remote-config fields into the answer.
 *
 * The answer is built from pieces made when the set was compiled (each
 * flag's `"<key>":{"key":"<key>"` and metadata, variants and payloads as
 * JSON literals, compile.c) and per-reason texts made once, copied with
 * one buffer reservation per piece: no escaping and no printf per flag.
 *
 * Memory: everything a request builds lives in the request's arena (the
 * evaluator's results, the context strings) or in the answer buffer; the
 * parsed body and the merged property maps are json-c objects released at
 * the end of the request. The compiled set is shared, read-only, and held
 * by reference for the duration of the evaluation.
 *
 * Errors follow PostHog's statuses (400 undecodable or no distinct_id, 401
 * no or unknown token, 413 too large) with snout's JSON error body, as
 * capture does (SDKs read only the status). Hostile bodies stay bounded:
 * the decoded size is capped (8 MiB), JSON nesting by the parser (1000
 * levels, then 400), and no step costs more than a pass over each list the
 * request brings (groups, flag keys) — never their product with the
 * team's flags, and never one store read per entry.
 *
 * Experience continuity (spec §3.9) follows PostHog's Rust service: the
 * store is touched only when some flag to evaluate has
 * ensure_experience_continuity and a hash-dependent answer; a write is one
 * INSERT ... SELECT in the person store (persons/flagkeys.c) and happens
 * before the read, on the request thread, as PostHog writes before it
 * answers.
 *
 * Cohort conditions: person-property cohorts are evaluated from the
 * properties (their definitions are in the document, cache.c); static
 * and behavioural ones by the person's memberships, read once per request
 * when the set has such a condition (sn_flag_set_needs_members).
 *
 * Not done here: GeoIP person properties, quota limiting. Naive dates in date filters are read in
 * the team's timezone (tz.c).
 */
#include "flags/flags.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"
#include "meta/meta.h"
#include "persons/persons.h"

#define FLAGS_BODY_MAX	((size_t)2 << 20)
#define DECODED_MAX	((size_t)8 << 20)
#define ANSWER_MAX	((size_t)32 << 20)
#define DISTINCT_ID_MAX 200 /* characters, as capture and PostHog */

struct sn_flags_api {
	struct sn_meta *meta;
	struct sn_persons *persons;
	const struct sn_geoip *geoip; /* NULL: no GeoIP person properties */
	struct sn_flag_cache *cache;
	struct sn_metric_series *lat[3];
};

enum endpoint { EP_FLAGS, EP_DECIDE, EP_DEFINITIONS };
static const char *const ep_names[] = {"flags", "decide", "definitions"};

enum shape { DECIDE_V1, DECIDE_V2, FLAGS_V1, FLAGS_V2 };

static void count(struct sn_flags_api *a, enum endpoint ep, unsigned status, uint64_t t0)
{
	char labels[96];
	snprintf(labels, sizeof(labels), "endpoint=\"%s\",status=\"%u\"", ep_names[ep], status);
	sn_metric_inc("snout_flags_requests_total", labels, 1);
	sn_metric_observe(a->lat[ep], (double)(sn_mono_ns() - t0) / 1e9);
}

/* Replies with snout's error JSON and returns status, for count(). */
static unsigned fail(struct sn_http_request *req, unsigned status, const char *type,
		     const char *code, const char *detail)
{
	sn_http_reply_error(req, status, type, code, detail, NULL); /* logs "error" too */
	return status;
}

/* ---- request body ---------------------------------------------------------------- */

/* §2.2: form data= (url-decoded, then base64 unless it is already JSON),
 * else gzip (by query or magic), base64 (by query), or plain JSON text. */
static unsigned decode_body(struct sn_http_request *req, struct sn_buf *out, char *msg,
			    size_t msgsz)
{
	const struct sn_buf *body = sn_http_body(req);
	const char *data = body->data ? body->data : "";
	size_t len = body->len;
	const char *ct = sn_http_header(req, "Content-Type");
	const char *comp = sn_http_query(req, "compression");
	struct sn_err err = {0};
	int rc = 0;
	struct sn_buf tmp;
	sn_buf_init(&tmp, DECODED_MAX);
	if (ct && sn_str_has_prefix(ct, "application/x-www-form-urlencoded")) {
		rc = sn_form_get(data, len, "data", &tmp);
		size_t ws = 0;
		while (ws < len && (data[ws] == ' ' || data[ws] == '\n' || data[ws] == '\r'))
			ws++;
		if (rc == SN_ERR_NOT_FOUND && ws < len && data[ws] == '{') {
			/* curl -d and friends label JSON as a form. */
			sn_buf_release(&tmp);
			return sn_buf_append(out, data, len) ? 413 : 0;
		}
		if (rc == SN_ERR_NOT_FOUND) {
			snprintf(msg, msgsz,
				 "Failed to decode request: the form has no data field");
			goto bad;
		}
		if (rc == 0) {
			size_t i = 0;
			while (i < tmp.len && (tmp.data[i] == ' ' || tmp.data[i] == '\n'))
				i++;
			if (i < tmp.len && tmp.data[i] == '{')
				rc = sn_buf_append(out, tmp.data, tmp.len);
			else if (sn_is_gzip(tmp.data, tmp.len))
				rc = sn_err_set(&err, SN_ERR_INVALID, "gzip inside a form");
			else
				rc = sn_base64_decode(tmp.data, tmp.len, out, &err);
		}
	} else if ((comp && (!strcmp(comp, "gzip") || !strcmp(comp, "gzip-js"))) ||
		   sn_is_gzip(data, len)) {
		rc = sn_gunzip(data, len, DECODED_MAX, out, &err);
	} else if (comp && !strcmp(comp, "base64")) {
		rc = sn_base64_decode(data, len, out, &err);
	} else if (comp && *comp && strcmp(comp, "none")) {
		snprintf(msg, msgsz, "Failed to decode request: unsupported compression %.64s",
			 comp);
		goto bad;
	} else {
		rc = sn_buf_append(out, data, len);
	}
	sn_buf_release(&tmp);
	if (rc == SN_ERR_TOO_BIG) {
		snprintf(msg, msgsz, "the decoded request is larger than %zu bytes", DECODED_MAX);
		return 413;
	}
	if (rc) {
		snprintf(msg, msgsz, "Failed to decode request: %s",
			 err.msg[0] ? err.msg : "invalid encoding");
		return 400;
	}
	return 0;
bad:
	sn_buf_release(&tmp);
	return 400;
}

/* §2.2: invalid UTF-8 is decoded lossily. Rewrites in into out with each
 * invalid sequence replaced by U+FFFD. */
static int utf8_lossy(const char *in, size_t len, struct sn_buf *out)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];
		size_t n = c < 0x80		   ? 1
			   : c >= 0xC2 && c < 0xE0 ? 2
			   : c >= 0xE0 && c < 0xF0 ? 3
			   : c >= 0xF0 && c < 0xF5 ? 4
						   : 0;
		int rc;
		if (n && i + n <= len && sn_utf8_valid(in + i, n)) {
			rc = sn_buf_append(out, in + i, n);
			i += n;
		} else {
			rc = sn_buf_append(out, "\xEF\xBF\xBD", 3);
			i++;
		}
		if (rc)
			return rc;
	}
	return 0;
}

static struct json_object *field2(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v = sn_json_get(o, a);
	if (!v || json_object_is_type(v, json_type_null))
		v = b ? sn_json_get(o, b) : NULL;
	return v && !json_object_is_type(v, json_type_null) ? v : NULL;
}

static struct json_object *object_field(struct json_object *o, const char *a, const char *b)
{
	struct json_object *v = field2(o, a, b);
	return v && json_object_is_type(v, json_type_object) ? v : NULL;
}

/* distinct_id as text: strings as they are, numbers by their JSON text;
 * cut to 200 characters. NULL when missing or not a scalar. */
static char *id_field(struct json_object *body, const char *name, const char *alias,
		      struct sn_arena *arena)
{
	struct json_object *v = field2(body, name, alias);
	if (!v)
		return NULL;
	size_t n = 0;
	const char *s;
	if (json_object_is_type(v, json_type_string))
		s = sn_json_str(v, &n);
	else if (json_object_is_type(v, json_type_int) ||
		 json_object_is_type(v, json_type_double) ||
		 json_object_is_type(v, json_type_boolean))
		s = json_object_to_json_string_length(v, JSON_C_TO_STRING_PLAIN, &n);
	else
		return NULL;
	size_t chars = 0, i = 0;
	while (i < n && chars < DISTINCT_ID_MAX) {
		unsigned char c = (unsigned char)s[i];
		i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
		chars++;
	}
	if (i > n)
		i = n;
	return sn_arena_strndup(arena, s, i);
}

static char *distinct_id_of(struct json_object *body, struct sn_arena *arena)
{
	return id_field(body, "distinct_id", "$distinct_id", arena);
}

/* ---- flag_keys_to_evaluate ---------------------------------------------------------- */

/* Marks the flags a request's flag_keys_to_evaluate names: the team's flag
 * keys go into an open-addressing table (arena, twice the flag count), then
 * each requested key probes it once, so thousands of keys against thousands
 * of flags cost a pass over each list, not their product, and memory
 * follows the flags, not the request. Entries that are not strings and
 * keys of no flag are ignored. *want is NULL without a key list (every
 * flag). */
static int wanted_flags(const struct sn_flag_set *set, struct json_object *keys,
			struct sn_arena *arena, uint8_t **want)
{
	*want = NULL;
	if (!keys)
		return 0;
	size_t nk = json_object_array_length(keys), nf = sn_flag_set_count(set);
	size_t cap = 16;
	while (cap < nf * 2)
		cap *= 2;
	size_t *slot = sn_arena_alloc(arena, cap * sizeof(*slot)); /* flag index + 1; 0 empty */
	uint8_t *w = sn_arena_alloc(arena, nf + 1);
	if (!slot || !w)
		return SN_ERR_NOMEM;
	memset(slot, 0, cap * sizeof(*slot));
	memset(w, 0, nf + 1);
	for (size_t f = 0; f < nf; f++) {
		const char *k = sn_flag_set_key(set, f);
		size_t h = (size_t)sn_hash64(k, strlen(k)) & (cap - 1);
		while (slot[h])
			h = (h + 1) & (cap - 1);
		slot[h] = f + 1;
	}
	for (size_t i = 0; i < nk; i++) {
		size_t len;
		const char *k = sn_json_str(json_object_array_get_idx(keys, i), &len);
		if (!k)
			continue;
		for (size_t h = (size_t)sn_hash64(k, len) & (cap - 1); slot[h];
		     h = (h + 1) & (cap - 1)) {
			const char *fk = sn_flag_set_key(set, slot[h] - 1);
			if (!strcmp(fk, k))
				w[slot[h] - 1] = 1; /* a deleted flag may share its key */
		}
	}
	*want = w;
	return 0;
}

/* ---- the context ----------------------------------------------------------------- */

struct req_ctx {
	struct sn_flag_ctx fc;
	const char *group_types[5];
	struct json_object *person_props; /* owned when not NULL */
	struct json_object *geo_props;	  /* owned when not NULL: GeoIP + request overrides */
	struct json_object *group_props;  /* owned when not NULL */
	struct json_object *hash_keys;	  /* owned when not NULL: stored overrides */
	bool continuity_failed;		  /* overrides could not be written or read (§3.9) */
};

static void req_ctx_release(struct req_ctx *rc)
{
	if (rc->person_props)
		json_object_put(rc->person_props);
	if (rc->geo_props)
		json_object_put(rc->geo_props);
	if (rc->group_props)
		json_object_put(rc->group_props);
	if (rc->hash_keys)
		json_object_put(rc->hash_keys);
}

/* Stored properties with the request's on top (request wins, §3.5). */
static struct json_object *merged(struct json_object *stored, struct json_object *overrides)
{
	struct json_object *m = stored ? json_object_get(stored) : json_object_new_object();
	if (m && overrides) {
		json_object_object_foreach(overrides, k, v)
		{
			json_object_object_add(m, k, json_object_get(v));
		}
	}
	return m;
}

/* The request IP's $geoip_* person properties (spec §3.5), or NULL: no
 * database, geoip_disable, an address the database does not place. */
static struct json_object *geo_props(const struct sn_flags_api *a, struct json_object *body,
				     const char *ip)
{
	struct json_object *off = field2(body, "geoip_disable", "$geoip_disable");
	if (!a->geoip || !ip || !*ip || (off && json_object_get_boolean(off)))
		return NULL;
	struct sn_geoip_place pl;
	if (sn_geoip_lookup(a->geoip, ip, strlen(ip), &pl, NULL))
		return NULL;
	struct json_object *o = json_object_new_object();
	if (o && sn_geoip_place_props(&pl, o) <= 0) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* The team's group type names by index (arena copies). */
struct team_types {
	struct sn_arena *arena;
	const char *name[SN_GROUP_TYPES_MAX];
};

static int collect_type(void *ctx, int index, const char *group_type)
{
	struct team_types *tt = ctx;
	if (index >= 0 && index < SN_GROUP_TYPES_MAX)
		tt->name[index] = sn_arena_strdup(tt->arena, group_type);
	return 0;
}

/* ---- experience continuity (§3.9) ------------------------------------------------ */

static int put_hash_key(void *ctx, const char *flag_key, const char *hash_key)
{
	json_object_object_add(ctx, flag_key, json_object_new_string(hash_key));
	return 0;
}

/* PostHog's order: only when some flag to evaluate can be changed by a
 * stored hash key (sn_flag_set_continuity), and only for a request whose
 * distinct id (or $anon_distinct_id) has a person: with $anon_distinct_id,
 * store hash key = $anon_distinct_id for every continuity flag the persons
 * of [distinct_id, $anon_distinct_id] lack an override for, then read the
 * overrides of both (the request's own person winning); without it, read
 * those of distinct_id's person. If the store fails, the continuity flags
 * are answered as failed (errorsWhileComputingFlags), as PostHog does. */
static void continuity(struct sn_flags_api *a, const struct sn_flag_set *set, int64_t team_id,
		       const uint8_t *want, struct sn_arena *arena, struct req_ctx *rc)
{
	size_t n = sn_flag_set_count(set), ncont = 0;
	bool lookup = false;
	/* The flags evaluated: the requested ones and what they depend on. */
	uint8_t *evaluated = NULL;
	if (want && (evaluated = sn_arena_alloc(arena, n + 1))) {
		memcpy(evaluated, want, n);
		sn_flag_set_add_dependencies(set, evaluated);
	}
	for (size_t i = 0; i < n; i++) {
		bool hashed;
		if (!sn_flag_set_continuity(set, i, &hashed))
			continue;
		ncont++;
		lookup |= hashed && (!want || !evaluated || evaluated[i]);
	}
	if (!a->persons || !lookup)
		return;
	const char *ids[2] = {rc->fc.distinct_id, rc->fc.anon_distinct_id};
	struct sn_err err = {0};
	int ret = 0;
	if (ids[1]) {
		const char **keys = sn_arena_alloc(arena, ncont * sizeof(*keys));
		size_t k = 0;
		for (size_t i = 0; keys && i < n; i++)
			if (sn_flag_set_continuity(set, i, NULL))
				keys[k++] = sn_flag_set_key(set, i);
		ret = keys ? sn_persons_hash_keys_add(a->persons, team_id, ids, 2, keys, k, ids[1],
						      NULL, &err)
			   : sn_err_set(&err, SN_ERR_NOMEM, "out of memory");
	}
	if (!ret && !(rc->hash_keys = json_object_new_object()))
		ret = sn_err_set(&err, SN_ERR_NOMEM, "out of memory");
	if (!ret)
		ret = sn_persons_hash_keys_get(a->persons, team_id, ids, ids[1] ? 2 : 1,
					       put_hash_key, rc->hash_keys, &err);
	if (ret) {
		sn_log_warn("flags: hash-key overrides of project %lld: %s", (long long)team_id,
			    err.msg);
		rc->continuity_failed = true;
		return;
	}
	rc->fc.hash_key_overrides = rc->hash_keys;
}

/* ---- the context, continued --------------------------------------------------------- */

struct members {
	struct sn_arena *arena;
	int64_t *v;
	size_t n, cap;
};

static int add_member(void *ctx, int64_t cohort_id, bool is_static)
{
	(void)is_static;
	struct members *m = ctx;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		int64_t *nv = sn_arena_alloc(m->arena, cap * sizeof(*nv));
		if (!nv)
			return SN_ERR_NOMEM;
		if (m->n)
			memcpy(nv, m->v, m->n * sizeof(*nv));
		m->v = nv;
		m->cap = cap;
	}
	m->v[m->n++] = cohort_id;
	return 0;
}

static void build_ctx(struct sn_flags_api *a, const struct sn_flag_set *set,
		      const struct sn_team *team, struct json_object *body, const char *distinct_id,
		      const char *client_ip, const uint8_t *want, struct sn_arena *arena,
		      struct req_ctx *rc)
{
	int64_t team_id = team->id;
	bool need_person, need_groups;
	sn_flag_set_needs(set, &need_person, &need_groups);
	memset(rc, 0, sizeof(*rc));
	struct sn_flag_ctx *fc = &rc->fc;
	fc->distinct_id = distinct_id;
	struct json_object *dev = field2(body, "$device_id", "device_id");
	fc->device_id = sn_json_str(dev, NULL);
	fc->now_us = sn_now_us();
	fc->tz_offset_s = sn_tz_offset(team->timezone, fc->now_us);
	/* An empty $anon_distinct_id is no id: it would bucket everyone alike. */
	char *anon = id_field(body, "$anon_distinct_id", "anon_distinct_id", arena);
	fc->anon_distinct_id = anon && *anon ? anon : NULL;
	continuity(a, set, team_id, want, arena, rc);

	/* person properties: stored, then the request IP's GeoIP, then the
	 * request's own (each overriding the one before) */
	struct json_object *pp = object_field(body, "person_properties", "$properties");
	struct json_object *geo = need_person ? geo_props(a, body, client_ip) : NULL;
	if (geo) {
		if (pp) {
			json_object_object_foreach(pp, k, v)
			{
				json_object_object_add(geo, k, json_object_get(v));
			}
		}
		rc->geo_props = geo;
		pp = geo;
	}
	struct sn_person person = {0};
	struct sn_err err;
	bool need_members = sn_flag_set_needs_members(set);
	if (a->persons && (need_person || need_members) &&
	    sn_persons_get_by_distinct_id(a->persons, team_id, distinct_id, &person, &err) == 0) {
		rc->person_props = merged(person.properties, pp);
		/* Cohorts decided by membership (static, behavioural): the
		 * person's memberships, one indexed read. */
		struct members mem = {.arena = arena};
		if (need_members && sn_persons_cohorts_of(a->persons, team_id, person.uuid,
							  add_member, &mem, &err) == 0) {
			fc->cohorts = mem.v;
			fc->ncohorts = mem.n;
		}
		sn_person_release(&person);
		fc->person_properties = rc->person_props;
	} else {
		fc->person_properties = pp;
	}

	struct json_object *groups = object_field(body, "groups", "$groups");
	struct json_object *gp = object_field(body, "group_properties", "$group_properties");
	fc->groups = groups;
	fc->group_properties = gp;
	if (!a->persons || !groups || !need_groups)
		return;
	/* Group types are named in the request and indexed in the person
	 * store: read the team's (at most 5) once, match the request's names
	 * against them in memory — a request naming thousands of groups costs
	 * no more store reads than one naming a single group — and overlay
	 * stored group properties of the matches. */
	struct team_types tt = {.arena = arena};
	if (sn_persons_group_types(a->persons, team_id, collect_type, &tt, &err))
		return;
	fc->group_types = rc->group_types;
	rc->group_props = json_object_new_object();
	json_object_object_foreach(groups, type, keyv)
	{
		int idx = -1;
		for (int t = 0; t < SN_GROUP_TYPES_MAX && idx < 0; t++)
			if (tt.name[t] && !strcmp(tt.name[t], type))
				idx = t;
		if (idx < 0 || rc->group_types[idx])
			continue;
		rc->group_types[idx] = tt.name[idx];
		char keybuf[64];
		const char *key = sn_json_str(keyv, NULL);
		if (!key && json_object_is_type(keyv, json_type_int)) {
			snprintf(keybuf, sizeof(keybuf), "%lld",
				 (long long)json_object_get_int64(keyv));
			key = keybuf;
		}
		struct sn_group g = {0};
		struct json_object *over = sn_json_get(gp, type);
		if (over && !json_object_is_type(over, json_type_object))
			over = NULL;
		if (key && sn_persons_group_get(a->persons, team_id, idx, key, &g, &err) == 0) {
			json_object_object_add(rc->group_props, type, merged(g.properties, over));
			sn_group_release(&g);
		} else if (over) {
			json_object_object_add(rc->group_props, type, json_object_get(over));
		}
	}
	fc->group_properties = rc->group_props;
}

/* ---- the answer ------------------------------------------------------------------ */

/* Flag idx's result; a failed one for continuity flags when their hash-key
 * overrides could not be read (§3.9). */
static const struct sn_flag_result *result_of(struct sn_flag_eval *ev, size_t idx,
					      bool continuity_failed)
{
	static const struct sn_flag_result failed = {.condition_index = -1,
						     .reason = SN_FLAG_ERROR};
	if (continuity_failed && sn_flag_set_continuity(ev->set, idx, NULL))
		return &failed;
	return sn_flag_eval_one(ev, idx);
}

/* ---- the answer's fixed pieces ------------------------------------------------------ */

/* `,"reason":{"code":"<code>","condition_index":` and
 * `,"description":"<text>"` of every reason (the fragment v2_meta closes
 * the reason object), made once; the description
 * of condition_match carries the index and is written per answer. */
#define NREASONS (SN_FLAG_ERROR + 1)
static struct sn_flag_json reason_pre[NREASONS], reason_desc[NREASONS];
static pthread_once_t reasons_once = PTHREAD_ONCE_INIT;

static void reasons_init(void)
{
	for (int i = 0; i < NREASONS; i++) {
		char buf[256], desc[96];
		struct sn_flag_result r = {.reason = (enum sn_flag_reason)i};
		int n =
		    snprintf(buf, sizeof(buf), ",\"reason\":{\"code\":\"%s\",\"condition_index\":",
			     sn_flag_reason_code(r.reason));
		reason_pre[i].text = strdup(buf);
		reason_pre[i].len = (size_t)n;
		sn_flag_reason_describe(&r, desc, sizeof(desc));
		n = snprintf(buf, sizeof(buf), ",\"description\":\"%s\"", desc);
		reason_desc[i].text = strdup(buf);
		reason_desc[i].len = (size_t)n;
		if (!reason_pre[i].text || !reason_desc[i].text)
			SN_BUG("out of memory at startup");
	}
}

/* Unchecked appends after one sn_buf_reserve for the whole piece: the hot
 * loop of /flags copies some twenty short strings per flag. */
static inline void put(struct sn_buf *b, const char *s, size_t n)
{
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

static inline void put_u64(struct sn_buf *b, uint64_t u)
{
	char tmp[24], *p = tmp + sizeof(tmp);
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	put(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* A result string as JSON: its literal from the set, else escaped here. */
static int append_json_or_null(struct sn_buf *b, const struct sn_flag_json *j, const char *s)
{
	if (j)
		return sn_buf_append(b, j->text, j->len);
	if (s)
		return sn_buf_append_json_str(b, s, strlen(s));
	return sn_buf_append(b, "null", 4);
}

/* One flag of a FlagsV2 answer (§2.1):
 * "<key>":{"key":"<key>","enabled":B,"variant":V,"reason":{"code":C,
 * "condition_index":I,"description":D},"metadata":{"id":N,"version":N,
 * "description":null,"payload":P}[,"failed":true]} */
static int render_v2_flag(struct sn_buf *b, const struct sn_flag_fragments *fr,
			  const struct sn_flag_result *r, bool failed)
{
	int reason = r->reason < NREASONS ? (int)r->reason : SN_FLAG_ERROR;
	int rc = sn_buf_reserve(b, fr->v2_head.len + reason_pre[reason].len + 64);
	if (rc)
		return rc;
	put(b, fr->v2_head.text, fr->v2_head.len);
	if (r->enabled)
		PUT_LIT(b, ",\"enabled\":true,\"variant\":");
	else
		PUT_LIT(b, ",\"enabled\":false,\"variant\":");
	b->data[b->len] = 0;
	if ((rc = append_json_or_null(b, r->variant_json, r->variant)))
		return rc;
	if ((rc = sn_buf_reserve(b, reason_pre[reason].len + reason_desc[reason].len +
					fr->v2_meta.len + 96)))
		return rc;
	put(b, reason_pre[reason].text, reason_pre[reason].len);
	if (r->condition_index >= 0)
		put_u64(b, (uint64_t)r->condition_index);
	else
		PUT_LIT(b, "null");
	if (r->reason == SN_FLAG_CONDITION_MATCH) {
		PUT_LIT(b, ",\"description\":\"Matched condition set ");
		put_u64(b, (uint64_t)(unsigned)(r->condition_index + 1));
		PUT_LIT(b, "\"");
	} else {
		put(b, reason_desc[reason].text, reason_desc[reason].len);
	}
	put(b, fr->v2_meta.text, fr->v2_meta.len);
	b->data[b->len] = 0;
	if ((rc = append_json_or_null(b, r->payload_json, r->payload)))
		return rc;
	return failed ? sn_buf_appends(b, "},\"failed\":true}") : sn_buf_appends(b, "}}");
}

/* Writes the whole answer for one request into b. ev may be NULL (GET, or
 * disable_flags): no flags. */
static int render(struct sn_buf *b, enum shape shape, struct sn_flag_eval *ev,
		  const struct sn_flag_set *set, const uint8_t *want, bool continuity_failed,
		  bool config, const struct sn_team *t, bool has_flags)
{
	size_t n = ev ? sn_flag_set_count(set) : 0;
	bool errors = false;
	int rc = 0;
	pthread_once(&reasons_once, reasons_init);
	/* Most answers fit: no regrowth (and copying) on the way. */
	sn_buf_reserve(b, 1024 + n * (shape == FLAGS_V2 ? 320 : 48));
	sn_buf_appends(b, "{");
	switch (shape) {
	case FLAGS_V2:
		sn_buf_appends(b, "\"flags\":{");
		for (size_t i = 0, k = 0; i < n && !rc; i++) {
			if (want && !want[i])
				continue;
			const struct sn_flag_result *r = result_of(ev, i, continuity_failed);
			if (r->omitted)
				continue;
			bool failed = r->reason == SN_FLAG_ERROR;
			errors |= failed;
			if (k++)
				sn_buf_appendc(b, ',');
			rc = render_v2_flag(b, sn_flag_set_fragments(set, i), r, failed);
		}
		sn_buf_appends(b, "}");
		break;
	case FLAGS_V1:
	case DECIDE_V2: {
		struct sn_buf pl;
		sn_buf_init(&pl, ANSWER_MAX);
		sn_buf_appends(b, "\"featureFlags\":{");
		for (size_t i = 0, k = 0, kp = 0; i < n; i++) {
			const struct sn_flag_json *key = &sn_flag_set_fragments(set, i)->key;
			if (want && !want[i])
				continue;
			const struct sn_flag_result *r = result_of(ev, i, continuity_failed);
			if (r->omitted || (shape == DECIDE_V2 && !r->enabled))
				continue;
			errors |= r->reason == SN_FLAG_ERROR;
			if (k++)
				sn_buf_appendc(b, ',');
			sn_buf_append(b, key->text, key->len);
			sn_buf_appendc(b, ':');
			if (r->variant)
				append_json_or_null(b, r->variant_json, r->variant);
			else
				sn_buf_appends(b, r->enabled ? "true" : "false");
			if (r->payload && r->enabled) {
				if (kp++)
					sn_buf_appendc(&pl, ',');
				sn_buf_append(&pl, key->text, key->len);
				sn_buf_appendc(&pl, ':');
				append_json_or_null(&pl, r->payload_json, r->payload);
			}
		}
		sn_buf_appends(b, "}");
		if (shape == FLAGS_V1) {
			sn_buf_appends(b, ",\"featureFlagPayloads\":{");
			if (pl.len)
				sn_buf_append(b, pl.data, pl.len);
			sn_buf_appends(b, "}");
		}
		sn_buf_release(&pl);
		break;
	}
	case DECIDE_V1:
		sn_buf_appends(b, "\"featureFlags\":[");
		for (size_t i = 0, k = 0; i < n; i++) {
			const struct sn_flag_json *key = &sn_flag_set_fragments(set, i)->key;
			if (want && !want[i])
				continue;
			const struct sn_flag_result *r = result_of(ev, i, continuity_failed);
			if (r->omitted || !r->enabled)
				continue;
			if (k++)
				sn_buf_appendc(b, ',');
			sn_buf_append(b, key->text, key->len);
		}
		sn_buf_appends(b, "]");
		break;
	}
	if (rc)
		return rc;
	sn_buf_appends(b, errors ? ",\"errorsWhileComputingFlags\":true"
				 : ",\"errorsWhileComputingFlags\":false");
	struct sn_uuid u;
	char id[37];
	sn_uuid_random_v4(&u);
	sn_uuid_format(&u, id);
	sn_buf_appends(b, ",\"requestId\":\"");
	sn_buf_append(b, id, 36);
	sn_buf_appends(b, "\"");
	if (config)
		sn_meta_remote_config_fields(b, t, has_flags, true);
	return sn_buf_appends(b, "}");
}

/* ---- /flags and /decide ------------------------------------------------------------ */

static bool query_true(const char *v)
{
	return v && (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "True"));
}

static unsigned evaluate(struct sn_flags_api *a, struct sn_http_request *req, bool decide)
{
	const char *vq = sn_http_query(req, "v");
	const char *cq = sn_http_query(req, "config");
	long v = vq && *vq ? strtol(vq, NULL, 10) : -1;
	bool config = query_true(cq);
	enum shape shape;
	if (decide) {
		shape = v >= 4 ? FLAGS_V2 : v == 3 ? FLAGS_V1 : v == 2 ? DECIDE_V2 : DECIDE_V1;
		config = !cq || config; /* decide always carried the config */
	} else if (v < 0 && !cq) {
		shape = FLAGS_V2;
		config = true;
	} else {
		shape = v >= 2 || v < 0 ? FLAGS_V2 : FLAGS_V1;
	}

	enum sn_http_method m = sn_http_method(req);
	if (m == SN_OPTIONS) {
		sn_http_add_header(req, "Allow", "GET, POST, OPTIONS, HEAD");
		sn_http_reply(req, 204, NULL, NULL, 0);
		return 204;
	}
	if (m == SN_HEAD) {
		sn_http_reply(req, 200, "application/json", "", 0);
		return 200;
	}
	if (sn_http_body_too_large(req))
		return fail(req, 413, "validation_error", "payload_too_large",
			    "the request body is too large");

	char msg[600];
	unsigned status = 0;
	struct json_object *body = NULL;
	struct sn_flag_snapshot *snap = NULL;
	struct req_ctx rc = {0};
	struct sn_buf dec, out;
	sn_buf_init(&dec, DECODED_MAX);
	sn_buf_init(&out, ANSWER_MAX);
	struct sn_err err = {0};
	struct sn_team team;
	size_t nactive = 0;

	if (m == SN_GET) {
		/* The minimal answer (§2.1): no evaluation, but the config
		 * when asked, so posthog-js can boot from a GET. */
		const char *tok = sn_http_query(req, "token");
		bool have_team = tok && sn_meta_team_by_token(a->meta, tok, &team, &err) == 0;
		if (!have_team)
			memset(&team, 0, sizeof(team));
		if (have_team)
			sn_meta_flags_active_count(a->meta, team.id, &nactive, &err);
		render(&out, shape, NULL, NULL, NULL, false, config, &team, nactive > 0);
		sn_http_reply(req, 200, "application/json", out.data, out.len);
		status = 200;
		goto out;
	}

	if ((status = decode_body(req, &dec, msg, sizeof(msg)))) {
		fail(req, status, "validation_error",
		     status == 413 ? "payload_too_large" : "invalid_payload", msg);
		goto out;
	}
	if (dec.len && !sn_utf8_valid(dec.data, dec.len)) {
		struct sn_buf fixed;
		sn_buf_init(&fixed, DECODED_MAX * 3);
		if (utf8_lossy(dec.data, dec.len, &fixed)) {
			sn_buf_release(&fixed);
			status = fail(req, 413, "validation_error", "payload_too_large",
				      "the decoded request is too large");
			goto out;
		}
		sn_buf_release(&dec);
		dec = fixed;
	}
	if (sn_json_parse(dec.data ? dec.data : "", dec.len, &body, &err) ||
	    !json_object_is_type(body, json_type_object)) {
		snprintf(msg, sizeof(msg), "Failed to decode request: %s",
			 body ? "the body is not a JSON object" : err.msg);
		status = fail(req, 400, "validation_error", "invalid_payload", msg);
		goto out;
	}
	const char *token = sn_json_str(field2(body, "token", "$token"), NULL);
	if (!token)
		token = sn_json_str(field2(body, "api_key", NULL), NULL);
	if (!token || !*token) {
		status = fail(req, 401, "authentication_error", "missing_token",
			      "No API token provided. Either include it in the request body as "
			      "'token' or 'api_key'.");
		goto out;
	}
	if (sn_meta_team_by_token(a->meta, token, &team, &err)) {
		status = fail(req, 401, "authentication_error", "invalid_token",
			      "The provided API key is invalid or has expired. Use the project API "
			      "key (phc_...) of your project.");
		goto out;
	}
	struct sn_arena *arena = sn_http_arena(req);
	char *did = distinct_id_of(body, arena);
	if (!did) {
		status = fail(req, 400, "validation_error", "missing_distinct_id",
			      "The distinct_id field is missing from the request. Send the "
			      "distinct_id of the person to evaluate flags for.");
		goto out;
	}
	if (sn_flag_cache_get(a->cache, team.id, &snap, &err)) {
		status = fail(req, 503, "server_error", "flags_unavailable", err.msg);
		goto out;
	}
	nactive = sn_flag_set_count(snap->set);
	struct json_object *disable = sn_json_get(body, "disable_flags");
	struct json_object *keys = field2(body, "flag_keys_to_evaluate", "flag_keys");
	if (keys && !json_object_is_type(keys, json_type_array))
		keys = NULL;
	uint8_t *want = NULL;
	if (wanted_flags(snap->set, keys, arena, &want)) {
		status = fail(req, 503, "server_error", "flags_unavailable", "out of memory");
		goto out;
	}
	struct sn_flag_eval ev;
	bool eval = !(disable && json_object_get_boolean(disable));
	if (eval) {
		build_ctx(a, snap->set, &team, body, did, sn_http_client_ip(req), want, arena, &rc);
		if (sn_flag_eval_init(&ev, snap->set, &rc.fc, arena, &err)) {
			status = fail(req, 503, "server_error", "flags_unavailable", err.msg);
			goto out;
		}
	}
	if (render(&out, shape, eval ? &ev : NULL, snap->set, want, rc.continuity_failed, config,
		   &team, nactive > 0)) {
		status =
		    fail(req, 500, "server_error", "answer_too_large", "the answer is too large");
		goto out;
	}
	sn_http_reply(req, 200, "application/json", out.data, out.len);
	status = 200;
out:
	req_ctx_release(&rc);
	sn_flag_snapshot_unref(snap);
	if (body)
		json_object_put(body);
	sn_buf_release(&dec);
	sn_buf_release(&out);
	return status;
}

static void flags_handler(struct sn_http_request *req, void *ctx)
{
	struct sn_flags_api *a = ctx;
	uint64_t t0 = sn_mono_ns();
	bool decide = sn_str_has_prefix(sn_http_path(req), "/decide");
	sn_http_cors(req, "GET, POST, OPTIONS, HEAD");
	unsigned status = evaluate(a, req, decide);
	count(a, decide ? EP_DECIDE : EP_FLAGS, status, t0);
}

/* ---- definitions --------------------------------------------------------------------- */

/* True when the If-None-Match header lists etag (or is *). */
static bool etag_matches(const char *inm, const char *etag)
{
	if (!inm)
		return false;
	if (!strcmp(inm, "*"))
		return true;
	size_t el = strlen(etag);
	for (const char *p = inm; (p = strstr(p, etag)); p += el) {
		/* whole entry: preceded by start, space, comma or W/ */
		bool start = p == inm || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/';
		bool end = p[el] == 0 || p[el] == ',' || p[el] == ' ';
		if (start && end)
			return true;
	}
	/* SDKs may send the tag without quotes. */
	return strlen(inm) + 2 == el && !strncmp(inm, etag + 1, el - 2);
}

static unsigned definitions_reply(struct sn_flags_api *a, struct sn_http_request *req,
				  int64_t team_id)
{
	struct sn_flag_snapshot *snap = NULL;
	struct sn_err err = {0};
	if (sn_flag_cache_get_definitions(a->cache, team_id, &snap, &err))
		return fail(req, 503, "server_error", "flags_unavailable", err.msg);
	sn_http_add_header(req, "ETag", snap->etag);
	sn_http_add_header(req, "Cache-Control", "private, no-cache");
	unsigned status = 200;
	if (etag_matches(sn_http_header(req, "If-None-Match"), snap->etag)) {
		sn_http_reply(req, 304, NULL, NULL, 0);
		status = 304;
	} else {
		sn_http_reply(req, 200, "application/json", snap->definitions,
			      snap->definitions_len);
	}
	sn_flag_snapshot_unref(snap);
	return status;
}

void sn_flags_definitions_reply(struct sn_flags_api *a, struct sn_http_request *req,
				int64_t team_id)
{
	uint64_t t0 = sn_mono_ns();
	count(a, EP_DEFINITIONS, definitions_reply(a, req, team_id), t0);
}

struct first_team {
	struct sn_meta *meta;
	int64_t user_id;
	struct sn_team *out;
	bool found;
};

static int first_member_team(void *arg, const struct sn_team *t)
{
	struct first_team *ft = arg;
	enum sn_member_level level;
	if (sn_meta_membership_level(ft->meta, t->organization_id, ft->user_id, &level, NULL))
		return 0;
	*ft->out = *t;
	ft->found = true;
	return 1;
}

/* GET /flags/definitions?token=phc_... and /api/feature_flag/local_evaluation/
 * with Authorization: Bearer <personal API key> of a member of the project's
 * organization. */
static unsigned definitions(struct sn_flags_api *a, struct sn_http_request *req)
{
	enum sn_http_method m = sn_http_method(req);
	if (m == SN_OPTIONS) {
		sn_http_add_header(req, "Allow", "GET, OPTIONS, HEAD");
		sn_http_reply(req, 204, NULL, NULL, 0);
		return 204;
	}
	const char *auth = sn_http_header(req, "Authorization");
	if (!auth || !sn_str_has_prefix(auth, "Bearer ") || !auth[7])
		return fail(req, 401, "authentication_error", "not_authenticated",
			    "Authentication credentials were not provided: send Authorization: "
			    "Bearer <personal API key>.");
	struct sn_user user;
	struct sn_apikey key;
	struct sn_err err = {0};
	if (sn_meta_apikey_authenticate(a->meta, auth + 7, &user, &key, &err))
		return fail(req, 401, "authentication_error", "authentication_failed",
			    "Personal API key is invalid.");
	const char *tok = sn_http_query(req, "token");
	struct sn_team team;
	enum sn_member_level level;
	if ((!tok || !*tok) && sn_str_has_prefix(sn_http_path(req), "/api/")) {
		/* The older endpoint without ?token=: the key's first project,
		 * as PostHog falls back to the user's current project. */
		struct first_team ft = {a->meta, user.id, &team, false};
		sn_meta_team_list(a->meta, first_member_team, &ft, &err);
		if (!ft.found)
			return fail(req, 403, "authentication_error", "permission_denied",
				    "You don't have access to any project.");
		tok = team.api_token;
	}
	if (!tok || !*tok)
		return fail(req, 400, "validation_error", "required",
			    "the token query parameter (the project API key) is required");
	if (sn_meta_team_by_token(a->meta, tok, &team, &err) ||
	    sn_meta_membership_level(a->meta, team.organization_id, user.id, &level, &err))
		/* One answer for "no such project" and "not yours". */
		return fail(req, 403, "authentication_error", "permission_denied",
			    "You don't have access to the project.");
	if (m == SN_HEAD) {
		sn_http_reply(req, 200, "application/json", "", 0);
		return 200;
	}
	return definitions_reply(a, req, team.id);
}

static void definitions_handler(struct sn_http_request *req, void *ctx)
{
	struct sn_flags_api *a = ctx;
	uint64_t t0 = sn_mono_ns();
	sn_http_cors(req, "GET, OPTIONS, HEAD");
	count(a, EP_DEFINITIONS, definitions(a, req), t0);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

int sn_flags_api_new(struct sn_flags_api **out, struct sn_meta *meta, struct sn_persons *persons,
		     struct sn_err *err)
{
	struct sn_flags_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	a->persons = persons;
	int rc = sn_flag_cache_new(&a->cache, meta, err);
	if (rc) {
		free(a);
		return rc;
	}
	sn_flag_cache_set_persons(a->cache, persons);
	sn_metrics_declare("snout_flags_requests_total", SN_METRIC_COUNTER,
			   "Flag requests (/flags, /decide, definitions) by endpoint and status");
	sn_metrics_declare("snout_flags_request_duration_seconds", SN_METRIC_HISTOGRAM,
			   "Flag request latency by endpoint (evaluation included)");
	for (int i = 0; i < 3; i++) {
		char labels[64];
		snprintf(labels, sizeof(labels), "endpoint=\"%s\"", ep_names[i]);
		a->lat[i] = sn_metric_series("snout_flags_request_duration_seconds", labels);
	}
	*out = a;
	return 0;
}

void sn_flags_api_free(struct sn_flags_api *a)
{
	if (!a)
		return;
	sn_flag_cache_free(a->cache);
	free(a);
}

struct sn_flag_cache *sn_flags_api_cache(struct sn_flags_api *a)
{
	return a->cache;
}

size_t sn_flags_api_routes(struct sn_flags_api *a, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_POST | SN_OPTIONS | SN_HEAD;
	const unsigned d = SN_GET | SN_OPTIONS | SN_HEAD;
	const struct sn_http_route all[] = {
	    {"flags", m, "/flags", FLAGS_BODY_MAX, flags_handler, a},
	    {"decide", m, "/decide", FLAGS_BODY_MAX, flags_handler, a},
	    {"flags_definitions", d, "/flags/definitions", 0, definitions_handler, a},
	    {"flags_definitions", d, "/api/feature_flag/local_evaluation", 0, definitions_handler,
	     a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}

void sn_flags_api_set_geoip(struct sn_flags_api *a, const struct sn_geoip *geoip)
{
	a->geoip = geoip;
}
