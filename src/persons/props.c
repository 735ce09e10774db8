/*
 * props.c — person property rules on json-c objects: the per-event update
 * order ($set_once, then $set, then $unset; spec posthog-wire.md §4.3) and
 * the initial/UTM properties ingestion derives from event properties (§5.2).
 *
 * Both follow PostHog's plugin-server (person-update.ts
 * computeEventPropertyUpdates, utils.ts personInitialAndUTMProperties, newest
 * version) key for key:
 *  - $set_once sets a key only when the person lacks it; a key holding JSON
 *    null counts as present (JavaScript's `typeof null` is "object");
 *  - $set writes a key when it is absent or its value differs;
 *  - $unset is an array of key strings (non-strings ignored) or an object
 *    whose keys are removed;
 *  - §5.2 copies each listed event property into $set under its own name and
 *    into $set_once as $initial_<name without its leading $>, but never over
 *    a value the event already put there, never a null into $set_once (a
 *    null would block the real first-touch value forever), skips $os and
 *    $os_version for server SDKs ($is_server true), and lets $os_name stand
 *    in for a missing $os ($set.$os and $initial_os; PostHog's
 *    normalizeOsAlias) and for $initial_os when $os is null.
 *
 * Values are shared between the event's objects and the person's by json-c
 * reference counting (json_object_get), not copied: nothing here mutates a
 * value after adding it, only the containing objects.
 *
 * Filtered updates (sn_props_apply_event): PostHog does not write a person
 * whose only changes, on an event other than $identify, $create_alias,
 * $merge_dangerously or $set, are new values of keys it already has among
 * FILTERED_PERSON_UPDATE_PROPERTIES (person-property-utils.ts: the URL,
 * screen, browser/OS and finer GeoIP keys that change on most pageviews);
 * they are written along with any other change. PostHog judges that per
 * batch of its Kafka consumer, so which of those values reach the person
 * depends on how events fell into batches. snout judges it per event — the
 * rule PostHog's batches reduce to with one event each — so the stored
 * person is a function of the event sequence alone: a replay after a crash,
 * or the ingest cache's fast path (which must agree with this code), give
 * the same person. On the first 3M events of the benchmark generator,
 * 854k deferred person writes (28 % of events, each a SQLite row rewrite)
 * became 24k (docs/BENCHMARKS.md).
 */
#include "persons/persons_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_key(struct json_object *o, const char *k)
{
	return json_object_object_get_ex(o, k, NULL);
}

static void apply_set_once(struct json_object *props, struct json_object *set_once, bool *changed)
{
	json_object_object_foreach(set_once, k, v)
	{
		if (!has_key(props, k)) {
			/* (known new: json-c skips its own lookup) */
			json_object_object_add_ex(props, k, json_object_get(v),
						  JSON_C_OBJECT_ADD_KEY_IS_NEW);
			*changed = true;
		}
	}
}

static void apply_set(struct json_object *props, struct json_object *set, bool *changed)
{
	json_object_object_foreach(set, k, v)
	{
		struct json_object *cur = NULL;
		bool had = json_object_object_get_ex(props, k, &cur);
		if (had && json_object_equal(cur, v))
			continue;
		json_object_object_add_ex(props, k, json_object_get(v),
					  had ? 0 : JSON_C_OBJECT_ADD_KEY_IS_NEW);
		*changed = true;
	}
}

static void unset_key(struct json_object *props, const char *k, bool *changed)
{
	if (has_key(props, k)) {
		json_object_object_del(props, k);
		*changed = true;
	}
}

static void apply_unset(struct json_object *props, struct json_object *unset, bool *changed)
{
	if (json_object_is_type(unset, json_type_array)) {
		size_t n = json_object_array_length(unset);
		for (size_t i = 0; i < n; i++) {
			const char *k = sn_json_str(json_object_array_get_idx(unset, i), NULL);
			if (k)
				unset_key(props, k, changed);
		}
	} else if (json_object_is_type(unset, json_type_object)) {
		json_object_object_foreach(unset, k, v)
		{
			(void)v;
			unset_key(props, k, changed);
		}
	}
}

/* PostHog's FILTERED_PERSON_UPDATE_PROPERTIES (2026; $geoip_country_name
 * and $geoip_city_name are deliberately not in it). Sorted for bsearch. */
static const char *const filtered_keys[] = {
    "$browser",
    "$browser_version",
    "$current_url",
    "$device_type",
    "$geoip_accuracy_radius",
    "$geoip_city_confidence",
    "$geoip_country_confidence",
    "$geoip_latitude",
    "$geoip_longitude",
    "$geoip_postal_code",
    "$geoip_postal_code_confidence",
    "$geoip_subdivision_1_code",
    "$geoip_subdivision_1_confidence",
    "$geoip_subdivision_1_name",
    "$geoip_subdivision_2_code",
    "$geoip_subdivision_2_confidence",
    "$geoip_subdivision_2_name",
    "$geoip_subdivision_3_code",
    "$geoip_subdivision_3_name",
    "$geoip_time_zone",
    "$os",
    "$os_name",
    "$os_version",
    "$pathname",
    "$raw_user_agent",
    "$referrer",
    "$referring_domain",
    "$screen_height",
    "$screen_width",
    "$viewport_height",
    "$viewport_width",
};

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

bool sn_persons_update_key_filtered(const char *key)
{
	return key[0] == '$' && bsearch(&key, filtered_keys, SN_ARRAY_LEN(filtered_keys),
					sizeof(filtered_keys[0]), cmp_key) != NULL;
}

static bool name_is(const char *event, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(event, lit, len) == 0;
}

enum sn_person_updates sn_persons_event_updates(const char *event, size_t len)
{
	if (name_is(event, len, "$exception") || name_is(event, len, "$$heatmap"))
		return SN_UPDATES_NONE;
	if (name_is(event, len, "$identify") || name_is(event, len, "$create_alias") ||
	    name_is(event, len, "$merge_dangerously") || name_is(event, len, "$set"))
		return SN_UPDATES_ALL;
	return SN_UPDATES_FILTERED;
}

/* Whether applying the updates changes more than filtered keys the person
 * already has (see the top of the file). */
static bool triggers_write(struct json_object *props, struct json_object *set,
			   struct json_object *set_once, struct json_object *unset)
{
	if (json_object_is_type(set_once, json_type_object)) {
		json_object_object_foreach(set_once, k, v)
		{
			(void)v;
			if (!has_key(props, k))
				return true;
		}
	}
	if (json_object_is_type(set, json_type_object)) {
		json_object_object_foreach(set, k, v)
		{
			struct json_object *cur = NULL;
			if (!json_object_object_get_ex(props, k, &cur))
				return true;
			if (!json_object_equal(cur, v) && !sn_persons_update_key_filtered(k))
				return true;
		}
	}
	if (json_object_is_type(unset, json_type_array)) {
		size_t n = json_object_array_length(unset);
		for (size_t i = 0; i < n; i++) {
			const char *k = sn_json_str(json_object_array_get_idx(unset, i), NULL);
			if (k && has_key(props, k))
				return true;
		}
	} else if (json_object_is_type(unset, json_type_object)) {
		json_object_object_foreach(unset, k, v)
		{
			(void)v;
			if (has_key(props, k))
				return true;
		}
	}
	return false;
}

bool sn_props_apply_event(struct json_object *props, struct json_object *set,
			  struct json_object *set_once, struct json_object *unset, bool filter)
{
	if (filter && !triggers_write(props, set, set_once, unset))
		return false;
	return sn_props_apply(props, set, set_once, unset);
}

bool sn_props_apply(struct json_object *props, struct json_object *set,
		    struct json_object *set_once, struct json_object *unset)
{
	bool changed = false;
	if (json_object_is_type(set_once, json_type_object))
		apply_set_once(props, set_once, &changed);
	if (json_object_is_type(set, json_type_object))
		apply_set(props, set, &changed);
	if (unset)
		apply_unset(props, unset, &changed);
	return changed;
}

static const char *const initial_names[] = {SN_PERSON_INITIAL_KEYS(SN_PERSON_INITIAL_NAME)};

/* What sn_props_add_initial reads of the event's properties: the §5.2 keys
 * in list order, then four more. One pass over the properties classifies
 * each key (struct sn_names): 45 json-c lookups an event were a tenth of the
 * ingest worker's slow path. */
enum {
	N_INITIAL = SN_ARRAY_LEN(initial_names),
	N_IS_SERVER = N_INITIAL,
	N_OS_NAME,
	N_SET,
	N_SET_ONCE
};
static const char *const read_names[] = {SN_PERSON_INITIAL_KEYS(SN_PERSON_INITIAL_KEY) "$is_server",
					 "$os_name", "$set", "$set_once"};
_Static_assert(SN_ARRAY_LEN(read_names) == N_SET_ONCE + 1, "read_names matches the enum");
static struct sn_names read_set;
static int os_index; /* "$os" in read_names */

__attribute__((constructor)) static void build_read_set(void)
{
	sn_names_init(&read_set, read_names, (int)SN_ARRAY_LEN(read_names));
	while (strcmp(read_names[os_index], "$os") != 0)
		os_index++;
}

int sn_props_add_initial(struct json_object *properties)
{
	struct json_object *val[SN_ARRAY_LEN(read_names)];
	uint32_t present = 0;
	json_object_object_foreach(properties, name, pv)
	{
		int c = sn_names_find(&read_set, name, strlen(name));
		if (c >= 0) {
			present |= 1u << c;
			val[c] = pv;
		}
	}
	struct json_object *is_server = present & (1u << N_IS_SERVER) ? val[N_IS_SERVER] : NULL;
	bool server = is_server && json_object_is_type(is_server, json_type_boolean) &&
		      json_object_get_boolean(is_server);
	/* PostHog's normalizeOsAlias: an event with $os_name and no $os is read
	 * as having that $os (some SDKs send only $os_name), so it reaches
	 * $set.$os and $initial_os like an $os would. (PostHog also writes the
	 * $os onto the stored event; snout stores the event as sent.) */
	if ((present & (1u << N_OS_NAME)) && val[N_OS_NAME] && !(present & (1u << os_index)) &&
	    !server) {
		present |= 1u << os_index;
		val[os_index] = val[N_OS_NAME];
	}
	const uint32_t initial_mask = (1u << N_INITIAL) - 1;
	if (!(present & initial_mask))
		return 0;
	struct json_object *set = present & (1u << N_SET) ? val[N_SET] : NULL;
	struct json_object *set_once = present & (1u << N_SET_ONCE) ? val[N_SET_ONCE] : NULL;
	bool new_set = false, new_once = false, any = false;

	for (int i = 0; i < N_INITIAL; i++) {
		if (!(present & (1u << i)))
			continue;
		const char *key = read_names[i];
		struct json_object *v = val[i];
		if (server && (!strcmp(key, "$os") || !strcmp(key, "$os_version")))
			continue;
		any = true;
		if (!new_set && !json_object_is_type(set, json_type_object)) {
			if (!(set = json_object_new_object()))
				goto nomem;
			new_set = true;
		}
		if (!new_once && !json_object_is_type(set_once, json_type_object)) {
			if (!(set_once = json_object_new_object()))
				goto nomem;
			new_once = true;
		}
		/* The names are literals: json-c keeps the pointer instead of a
		 * strdup (a malloc per key was a fifth of this function). A set
		 * made here holds only keys added in this loop, all different. */
		if (new_set || !has_key(set, key))
			json_object_object_add_ex(set, key, json_object_get(v),
						  JSON_C_OBJECT_ADD_CONSTANT_KEY);
		const char *initial = initial_names[i];
		if (v && (new_once || !has_key(set_once, initial)))
			json_object_object_add_ex(set_once, initial, json_object_get(v),
						  JSON_C_OBJECT_ADD_CONSTANT_KEY);
	}
	if (!any)
		return 0; /* (every key was a server's $os / $os_version) */

	struct json_object *os_name = present & (1u << N_OS_NAME) ? val[N_OS_NAME] : NULL;
	if ((present & (1u << N_OS_NAME)) && !server) {
		if (os_name && !has_key(set_once, "$initial_os"))
			json_object_object_add(set_once, "$initial_os", json_object_get(os_name));
		json_object_object_del(set, "$os_name");
		json_object_object_del(set_once, "$initial_os_name");
	}
	if (new_set)
		json_object_object_add(properties, "$set", set);
	if (new_once)
		json_object_object_add(properties, "$set_once", set_once);
	return 0;
nomem:
	if (new_set)
		json_object_put(set);
	if (new_once)
		json_object_put(set_once);
	return SN_ERR_NOMEM;
}

int sn_props_new_person_text(struct sn_buf *b, const char *event_uuid,
			     const struct sn_identity_members *extra, const char *const values[],
			     const size_t lens[])
{
	int ret = sn_buf_appendc(b, '{');
	for (int pass = 0; pass < 2; pass++) {
		const char *m = extra ? (pass ? extra->set : extra->set_once) : NULL;
		size_t mn = extra ? (pass ? extra->set_len : extra->set_once_len) : 0;
		if (ret == 0 && mn && !(ret = sn_buf_append(b, m, mn)))
			ret = sn_buf_appendc(b, ',');
		for (int k = 0; k < N_INITIAL && ret == 0; k++) {
			if (!values[k] ||
			    (pass == 0 && lens[k] == 4 && memcmp(values[k], "null", 4) == 0))
				continue; /* (no null into $set_once, as above) */
			if ((ret = sn_buf_appendc(b, '"')) ||
			    (ret = sn_buf_appends(b, pass ? read_names[k] : initial_names[k])) ||
			    (ret = sn_buf_appends(b, "\":")) ||
			    (ret = sn_buf_append(b, values[k], lens[k])))
				return ret;
			ret = sn_buf_appendc(b, ',');
		}
	}
	if (ret || (ret = sn_buf_appends(b, "\"$creator_event_uuid\":\"")) ||
	    (ret = sn_buf_appends(b, event_uuid)))
		return ret;
	return sn_buf_appends(b, "\"}");
}

int sn_props_serialise(struct json_object *o, struct sn_buf *b)
{
	sn_buf_reset(b);
	size_t n;
	const char *s = json_object_to_json_string_length(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	if (!s)
		return SN_ERR_NOMEM;
	if (n > SN_PERSON_PROPS_MAX)
		return SN_ERR_TOO_BIG;
	return sn_buf_append(b, s, n);
}
