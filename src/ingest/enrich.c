/*
 * enrich.c — enrichment at ingestion, before identity: properties.$ip from
 * the request's address when the event has none or a falsy one (spec posthog-wire.md
 * §5.1; capture keeps it at the record's root), GeoIP (§5.3) and IP
 * anonymisation (§5.4), for each event of the store sink, in WAL order.
 *
 *   record scan (facts: $ip, root ip, $geoip_disable, properties span)
 *        │
 *        ▼
 *   IP cache ──miss──▶ sn_geoip_locate: the address's database record
 *        │ (address → record)
 *        ▼
 *   place cache ──miss──▶ sn_geoip_place_of ──▶ entry: the 18 "$geoip_*":value
 *        │ (record → members)                    members as JSON text, and a
 *        ▼                                       hash of the values (identity)
 *   stored properties = the event's text with those members spliced in
 *   before its closing brace (and "$ip" from the root when absent), and
 *   the "$ip" member cut out (or never added) when the team anonymises IPs
 *        │
 *        ▼
 *   identity (identity.c): facts.geo → the values go into $set (same names,
 *   nulls included: they clear a stale place) and, non-null ones, into
 *   $set_once as $initial_geoip_* — the json-c objects the slow path builds
 *   anyway; the fast path compares the entry's hash with the one the person
 *   cache keeps of the person's $geoip_* values.
 *
 * Why splice text: the properties are already validated JSON (capture
 * scanned them) and the new members are built here, so appending them is a
 * copy of the event's bytes; parsing and re-serialising each event with
 * json-c would cost a tree per event, more than the lookup itself
 * (bench/ingest numbers in docs/ENRICHMENT.md). An event that already
 * carries $geoip_* keys (an SDK or an import set them) has those the place
 * sets replaced, as PostHog does: the text between them is copied, and the
 * place's members follow. The record scan notes where up to
 * SN_GEO_MEMBERS_MAX of them are (cut_noted); with more, or "$ip" twice,
 * the text is scanned again member by member (rewrite_cut). Only an
 * escaped key, which could decode to one of them, takes the json-c route
 * (parse, replace in place, serialise: ~35 µs an event, which is what
 * rewrite_cut replaced).
 *
 * The stored properties get the $geoip_* members but not the $set /
 * $set_once additions: like the §5.2 additions (identity.c), those reach the
 * person, and rewriting nested objects of every event would cost as much as
 * the lookup saves. A client's own $set / $set_once win over derived values
 * (as for §5.2 in props.c), and no null goes into $set_once (it would block
 * the real first value forever).
 *
 * Two caches, both direct-mapped over a power of two of entries, a
 * collision replacing the entry. The IP cache maps an address's text to its
 * database record (80 bytes an entry: 5 MiB at the default 65536); negative
 * results (private ranges, not an address) are cached too. The place cache
 * maps a record to its built members (~600 bytes of text an entry: ~10 MiB
 * at the default 16384). Many addresses share a record (a city's), and
 * finding the record (the database's search tree, ~0.7 µs) costs a fraction
 * of reading its fields and printing them (number formatting that reads
 * back the same double, ~3 µs): with one cache keyed by address, 200k
 * users each behind an address of their own missed on most events and
 * paid both (docs/ENRICHMENT.md "Cost"). Team settings (anonymize_ips) come
 * from a callback, since meta/ is not below ingest/; they are cached per
 * team for TEAM_TTL_US.
 *
 * Single-threaded: one enrich object per ingest thread.
 */
#include "ingest/ingest_internal.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IP_TEXT_MAX	   64
#define TEAM_SLOTS	   256
#define TEAM_TTL_US	   (5 * 1000000)
#define GEO_ALL		   ((1u << SN_GEO_NKEYS) - 1)
#define GEO_PREFIX	   "$geoip_"
#define GEO_INITIAL_PREFIX "$initial_geoip_"

#define GEO_KEYS(X)                 \
	X(city_name)                \
	X(city_confidence)          \
	X(country_name)             \
	X(country_code)             \
	X(continent_name)           \
	X(continent_code)           \
	X(postal_code)              \
	X(latitude)                 \
	X(longitude)                \
	X(accuracy_radius)          \
	X(time_zone)                \
	X(subdivision_1_code)       \
	X(subdivision_1_name)       \
	X(subdivision_2_code)       \
	X(subdivision_2_name)       \
	X(subdivision_2_confidence) \
	X(subdivision_3_code)       \
	X(subdivision_3_name)
#define GEO_KEY(k)     #k,
#define GEO_NAME(k)    GEO_PREFIX #k,
#define GEO_INITIAL(k) GEO_INITIAL_PREFIX #k,
const char *const sn_geo_keys[SN_GEO_NKEYS] = {GEO_KEYS(GEO_KEY)};
/* the person properties, as literals (no formatting per event) */
static const char *const geo_names[SN_GEO_NKEYS] = {GEO_KEYS(GEO_NAME)};
static const char *const geo_initial_names[SN_GEO_NKEYS] = {GEO_KEYS(GEO_INITIAL)};

struct ip_entry {
	bool used;
	uint8_t iplen;
	char ip[IP_TEXT_MAX];
	uint64_t place; /* sn_geoip_locate's id; 0: the database has no place */
};

struct place_entry {
	uint64_t place;		  /* 0: empty */
	struct sn_enrich_geo geo; /* geo.props malloc'd */
};

struct team_entry {
	int64_t team_id; /* 0: empty */
	int64_t fetched_us;
	bool anonymize;
};

struct sn_enrich {
	const struct sn_geoip *geoip;
	sn_ingest_team_fn team_fn;
	void *team_ctx;
	struct ip_entry *ips;
	size_t mask;
	struct place_entry *places;
	size_t place_mask;
	struct team_entry teams[TEAM_SLOTS];
	struct sn_buf out; /* the rewritten properties of the current event */
	struct sn_buf tmp;
	struct sn_enrich_stats st;
};

static size_t pow2_at_least(size_t want)
{
	size_t n = 1;
	while (n < want)
		n <<= 1;
	return n;
}

int sn_enrich_new(struct sn_enrich **out, const struct sn_enrich_options *o, struct sn_err *err)
{
	struct sn_enrich *en = calloc(1, sizeof(*en));
	size_t n = pow2_at_least(o->ip_cache_entries ? o->ip_cache_entries : 65536);
	size_t np = pow2_at_least(o->place_cache_entries ? o->place_cache_entries : 16384);
	if (en) {
		en->ips = calloc(n, sizeof(*en->ips));
		en->places = calloc(np, sizeof(*en->places));
	}
	if (!en || !en->ips || !en->places) {
		if (en) {
			free(en->ips);
			free(en->places);
		}
		free(en);
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	}
	en->mask = n - 1;
	en->place_mask = np - 1;
	en->geoip = o->geoip;
	en->team_fn = o->team;
	en->team_ctx = o->team_ctx;
	sn_buf_init(&en->out, 64u << 20);
	sn_buf_init(&en->tmp, 64u << 20);
	*out = en;
	return 0;
}

void sn_enrich_free(struct sn_enrich *en)
{
	if (!en)
		return;
	for (size_t i = 0; i <= en->place_mask; i++)
		free(en->places[i].geo.props);
	free(en->ips);
	free(en->places);
	sn_buf_release(&en->out);
	sn_buf_release(&en->tmp);
	free(en);
}

void sn_enrich_get_stats(const struct sn_enrich *en, struct sn_enrich_stats *st)
{
	*st = en->st;
}

/* ---- hashing the place values, the same way on both sides ----------------------- */

#define HASH_NULL 0x9E3779B97F4A7C15ull /* absent or null */

static uint64_t hash_number(double d)
{
	return sn_hash64(&d, sizeof(d)) ^ 1;
}

/* What identity compares: the values of the 18 keys names[] in obj
 * (strings by their bytes, numbers by their double value, so 37.4 and 37.40
 * agree as json_object_equal says), and which keys are present. */
static uint64_t hash_place(struct json_object *obj, const char *const *names, uint32_t *present,
			   uint32_t *nonnull)
{
	uint64_t h[SN_GEO_NKEYS];
	*present = *nonnull = 0;
	for (int k = 0; k < SN_GEO_NKEYS; k++) {
		struct json_object *v = NULL;
		h[k] = HASH_NULL;
		if (!json_object_object_get_ex(obj, names[k], &v))
			continue;
		*present |= 1u << k;
		if (!v)
			continue;
		*nonnull |= 1u << k;
		if (json_object_is_type(v, json_type_string)) {
			h[k] = sn_pcache_hash_string(json_object_get_string(v),
						     (size_t)json_object_get_string_len(v));
		} else if (json_object_is_type(v, json_type_double) ||
			   json_object_is_type(v, json_type_int)) {
			h[k] = hash_number(json_object_get_double(v));
		} else {
			const char *t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
			h[k] = sn_pcache_hash_json(t, strlen(t));
		}
	}
	return sn_hash64(h, sizeof(h));
}

/* Whether any key of obj could be one of the GeoIP names or their
 * $initial_ forms: one pass over the keys instead of 2 x SN_GEO_NKEYS hash
 * lookups, which were 3.5 % of a slow event's instructions for persons
 * without GeoIP (enrichment off, or before their first located event). */
static bool has_geo_key(struct json_object *obj)
{
	json_object_object_foreach(obj, k, v)
	{
		(void)v;
		if (!strncmp(k, GEO_PREFIX, strlen(GEO_PREFIX)) ||
		    !strncmp(k, GEO_INITIAL_PREFIX, strlen(GEO_INITIAL_PREFIX)))
			return true;
	}
	return false;
}

void sn_enrich_person_info_none(struct sn_pcache_person *info)
{
	/* What hash_place gives for an object without any of the keys. */
	static const struct {
		uint64_t h[SN_GEO_NKEYS];
	} none = {{[0 ... SN_GEO_NKEYS - 1] = HASH_NULL}};
	info->geo_hash = sn_hash64(none.h, sizeof(none.h));
	info->geo_present = info->geo_initial = 0;
}

void sn_enrich_person_info(struct json_object *person_props, struct sn_pcache_person *info)
{
	uint32_t nonnull, initial_nonnull;
	if (json_object_is_type(person_props, json_type_object) && !has_geo_key(person_props)) {
		sn_enrich_person_info_none(info);
		return;
	}
	info->geo_hash = hash_place(person_props, geo_names, &info->geo_present, &nonnull);
	hash_place(person_props, geo_initial_names, &info->geo_initial, &initial_nonnull);
}

bool sn_enrich_fast_ok(const struct sn_enrich_geo *geo, const struct sn_pcache_person *pi)
{
	/* $set changes nothing: the person holds every key with these values;
	 * $set_once changes nothing: it has $initial_ of each non-null value. */
	return pi->geo_present == GEO_ALL && pi->geo_hash == geo->hash &&
	       (geo->nonnull & ~pi->geo_initial) == 0;
}

bool sn_enrich_new_person(const struct sn_enrich_geo *geo, struct sn_buf *once, struct sn_buf *set,
			  struct sn_pcache_person *info)
{
	char text[4096];
	int n = snprintf(text, sizeof(text), "{%.*s}", (int)geo->props_len, geo->props);
	if (n < 0 || (size_t)n >= sizeof(text))
		return false;
	struct sn_jscan sc;
	struct sn_jspan k, v;
	int rc, count = 0;
	sn_buf_reset(once);
	sn_buf_reset(set);
	sn_jscan_init(&sc, text, (size_t)n, NULL);
	if (sn_jscan_enter(&sc))
		return false;
	while ((rc = sn_jscan_next_key(&sc, &k)) > 0) {
		size_t kn;
		const char *key = sn_jspan_raw(&k, &kn);
		/* build_entry's members, in geo_names order */
		if (sn_jscan_skip(&sc, &v) || count >= SN_GEO_NKEYS ||
		    (k.flags & SN_JSPAN_ESCAPED) || strlen(geo_names[count]) != kn ||
		    memcmp(geo_names[count], key, kn) != 0 || !sn_ingest_json_c_form(&v))
			return false;
		count++;
		if ((set->len && sn_buf_appendc(set, ',')) || sn_buf_append(set, k.p, k.len) ||
		    sn_buf_appendc(set, ':') || sn_buf_append(set, v.p, v.len))
			return false;
		if (v.type == SN_JNULL)
			continue;
		if ((once->len && sn_buf_appendc(once, ',')) ||
		    sn_buf_appends(once, "\"$initial_") || sn_buf_append(once, key + 1, kn - 1) ||
		    sn_buf_appends(once, "\":") || sn_buf_append(once, v.p, v.len))
			return false;
	}
	if (rc < 0 || count != SN_GEO_NKEYS)
		return false;
	/* What sn_enrich_person_info reads back from such a person. */
	info->geo_present = GEO_ALL;
	info->geo_hash = geo->hash;
	info->geo_initial = geo->nonnull;
	return true;
}

int sn_enrich_apply_identity(const struct sn_enrich_geo *geo, struct json_object *props,
			     struct sn_err *err)
{
	struct json_object *vals = NULL;
	char text[4096];
	int n = snprintf(text, sizeof(text), "{%.*s}", (int)geo->props_len, geo->props);
	if (n < 0 || (size_t)n >= sizeof(text))
		return sn_err_set(err, SN_ERR_TOO_BIG, "GeoIP values too long");
	int rc = sn_json_parse(text, (size_t)n, &vals, err);
	if (rc)
		return rc;
	static const char *const names[] = {"$set", "$set_once"};
	struct json_object *obj[2];
	for (int i = 0; i < 2; i++) {
		obj[i] = sn_json_get(props, names[i]);
		if (!json_object_is_type(obj[i], json_type_object)) {
			obj[i] = json_object_new_object();
			if (!obj[i] || json_object_object_add(props, names[i], obj[i])) {
				json_object_put(vals);
				return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
			}
		}
	}
	for (int k = 0; k < SN_GEO_NKEYS; k++) {
		const char *key = geo_names[k], *initial = geo_initial_names[k];
		struct json_object *v = NULL;
		json_object_object_get_ex(vals, key, &v);
		if (!json_object_object_get_ex(obj[0], key, NULL))
			json_object_object_add(obj[0], key, json_object_get(v));
		if (v && !json_object_object_get_ex(obj[1], initial, NULL))
			json_object_object_add(obj[1], initial, json_object_get(v));
	}
	json_object_put(vals);
	return 0;
}

/* ---- the IP cache ----------------------------------------------------------------------- */

static int append_num(struct sn_buf *b, double d)
{
	char t[40];
	/* The shortest text that reads back as d. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(t, sizeof(t), "%.*g", prec, d);
		if (strtod(t, NULL) == d)
			break;
	}
	return sn_buf_appends(b, t);
}

/* The 18 members for a place, and their hash: computed from the place's
 * values the way hash_place computes it from the parsed members (strings
 * are the same bytes; numbers are printed so that they read back as the
 * same double), without parsing them on every cache miss. */
static int build_entry(struct sn_enrich *en, const struct sn_geoip_place *pl, struct place_entry *e,
		       struct sn_err *err)
{
	struct sn_buf *b = &en->tmp;
	const char *str[SN_GEO_NKEYS] = {
	    [0] = pl->city_name,	   [2] = pl->country_name,
	    [3] = pl->country_code,	   [4] = pl->continent_name,
	    [5] = pl->continent_code,	   [6] = pl->postal_code,
	    [10] = pl->time_zone,	   [11] = pl->subdivision_1_code,
	    [12] = pl->subdivision_1_name, [13] = pl->subdivision_2_code,
	    [14] = pl->subdivision_2_name,
	};
	uint64_t h[SN_GEO_NKEYS];
	int rc = 0;
	e->geo.nonnull = 0;
	sn_buf_reset(b);
	for (int k = 0; k < SN_GEO_NKEYS && rc == 0; k++) {
		if ((k && (rc = sn_buf_appendc(b, ','))) ||
		    (rc = sn_buf_appends(b, "\"" GEO_PREFIX)) ||
		    (rc = sn_buf_appends(b, sn_geo_keys[k])) || (rc = sn_buf_appends(b, "\":")))
			break;
		double num = 0;
		bool is_num = false;
		h[k] = HASH_NULL;
		if (str[k] && str[k][0]) {
			rc = sn_buf_append_json_str(b, str[k], strlen(str[k]));
			h[k] = sn_pcache_hash_string(str[k], strlen(str[k]));
			e->geo.nonnull |= 1u << k;
			continue;
		}
		if ((k == 7 || k == 8) && pl->has_location) {
			num = k == 7 ? pl->latitude : pl->longitude;
			is_num = isfinite(num);
		} else if (k == 9 && pl->accuracy_radius >= 0) {
			num = pl->accuracy_radius;
			is_num = true;
		}
		if (is_num) {
			rc = append_num(b, num);
			h[k] = hash_number(num);
			e->geo.nonnull |= 1u << k;
		} else {
			rc = sn_buf_appends(b, "null");
		}
	}
	if (rc)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	e->geo.hash = sn_hash64(h, sizeof(h));
	e->geo.props = malloc(b->len + 1);
	if (!e->geo.props)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	memcpy(e->geo.props, b->data, b->len + 1);
	e->geo.props_len = b->len;
	return 0;
}

/* The built members of a database record, from the place cache, read and
 * built on a miss. NULL only when out of memory (err set). */
static const struct sn_enrich_geo *place_geo(struct sn_enrich *en, uint64_t place,
					     struct sn_err *err)
{
	struct place_entry *e = &en->places[sn_hash64(&place, sizeof(place)) & en->place_mask];
	if (e->place == place) {
		en->st.place_hits++;
		return &e->geo;
	}
	en->st.place_misses++;
	free(e->geo.props);
	memset(e, 0, sizeof(*e));
	struct sn_geoip_place pl;
	sn_geoip_place_of(en->geoip, place, &pl);
	if (build_entry(en, &pl, e, err))
		return NULL; /* the entry stays empty */
	e->place = place;
	return &e->geo;
}

static int lookup(struct sn_enrich *en, const char *ip, size_t len,
		  const struct sn_enrich_geo **out, struct sn_err *err)
{
	*out = NULL;
	if (len == 0 || len >= IP_TEXT_MAX)
		return 0;
	struct ip_entry *e = &en->ips[sn_hash64(ip, len) & en->mask];
	if (e->used && e->iplen == len && memcmp(e->ip, ip, len) == 0) {
		en->st.ip_hits++;
	} else {
		en->st.ip_misses++;
		uint64_t place = 0;
		if (sn_geoip_locate(en->geoip, ip, len, &place, NULL))
			en->st.not_found++;
		e->used = true;
		e->iplen = (uint8_t)len;
		memcpy(e->ip, ip, len);
		e->place = place;
	}
	if (!e->place)
		return 0;
	return (*out = place_geo(en, e->place, err)) ? 0 : SN_ERR_NOMEM;
}

static bool team_anonymizes(struct sn_enrich *en, int64_t team_id)
{
	if (!en->team_fn)
		return false;
	struct team_entry *t = &en->teams[(uint64_t)team_id % TEAM_SLOTS];
	int64_t now = sn_now_us();
	if (t->team_id != team_id || now - t->fetched_us > TEAM_TTL_US) {
		bool anonymize = false;
		if (en->team_fn(en->team_ctx, team_id, &anonymize) != 0 && t->team_id == team_id)
			anonymize = t->anonymize; /* keep what we knew */
		*t = (struct team_entry){team_id, now, anonymize};
	}
	return t->anonymize;
}

/* ---- rewriting the properties ---------------------------------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Appends prefix + text as the object's next member: a comma first unless
 * b holds only the opening brace (and whitespace). */
static int append_member(struct sn_buf *b, const char *prefix, const char *text, size_t len)
{
	size_t i = b->len;
	while (i > 1 && is_space(b->data[i - 1]))
		i--;
	int rc = i > 1 ? sn_buf_appendc(b, ',') : 0;
	if (rc == 0)
		rc = sn_buf_appends(b, prefix);
	if (rc == 0)
		rc = sn_buf_append(b, text, len);
	return rc;
}

/* The end of every rewrite: the added "$ip" member and the place's
 * members after what b holds, the closing brace, the row pointed at b. */
static int finish(struct sn_buf *b, struct sn_event_row *row, const struct sn_jspan *add_ip,
		  const struct sn_enrich_geo *geo)
{
	int rc = 0;
	if (add_ip)
		rc = append_member(b, "\"$ip\":", add_ip->p, add_ip->len);
	if (rc == 0 && geo)
		rc = append_member(b, "", geo->props, geo->props_len);
	if (rc == 0)
		rc = sn_buf_appendc(b, '}');
	if (rc == 0) {
		row->properties.p = b->data;
		row->properties.len = b->len;
	}
	return rc;
}

/* The byte range of the "$ip" member, with one neighbouring comma, so what
 * is left is still a valid object. */
static void member_range(const char *obj, size_t len, const struct sn_jspan *key,
			 const struct sn_jspan *val, size_t *from, size_t *to)
{
	size_t a = (size_t)(key->p - obj), z = (size_t)(val->p - obj) + val->len;
	size_t r = z;
	while (r < len && is_space(obj[r]))
		r++;
	if (r < len && obj[r] == ',') {
		*from = a;
		*to = r + 1; /* the comma after: a later member follows */
		return;
	}
	size_t l = a;
	while (l > 1 && is_space(obj[l - 1]))
		l--;
	*from = l > 0 && obj[l - 1] == ',' ? l - 1 : a; /* the last member: the comma before */
	*to = z;
}

/* One of the place's 18 names (not $geoip_disable, nor a name of the
 * client's own that the place does not set). */
static bool is_place_name(const char *k, size_t n)
{
	if (n <= 7 || memcmp(k, GEO_PREFIX, 7) != 0)
		return false;
	for (int i = 0; i < SN_GEO_NKEYS; i++)
		if (strlen(sn_geo_keys[i]) == n - 7 && memcmp(sn_geo_keys[i], k + 7, n - 7) == 0)
			return true;
	return false;
}

/* The event already has $geoip_* keys: its members are copied as they are
 * but for those the place sets (with geo) and a cut $ip, then the new
 * members follow — the replaced keys move to the end, where json-c's route
 * kept them in place; no parse, no re-serialisation (that route cost ~35 µs
 * an event: docs/ENRICHMENT.md). 1 = an escaped key, which only json-c
 * compares by its decoded name: the caller takes that route. */
static int rewrite_cut(struct sn_enrich *en, struct sn_event_row *row,
		       const struct sn_enrich_geo *geo, bool cut_ip, const struct sn_jspan *add_ip)
{
	struct sn_buf *b = &en->out;
	struct sn_jscan sc;
	struct sn_jspan k, v;
	int rc;
	sn_buf_reset(b);
	sn_jscan_init(&sc, row->properties.p, row->properties.len, NULL);
	if (sn_jscan_enter(&sc) || sn_buf_appendc(b, '{'))
		return 1;
	while ((rc = sn_jscan_next_key(&sc, &k)) > 0) {
		if (sn_jscan_skip(&sc, &v) || (k.flags & SN_JSPAN_ESCAPED))
			return 1;
		size_t kn;
		const char *key = sn_jspan_raw(&k, &kn);
		if ((cut_ip && kn == 3 && memcmp(key, "$ip", 3) == 0) ||
		    (geo && is_place_name(key, kn)))
			continue;
		if ((b->len > 1 && sn_buf_appendc(b, ',')) || sn_buf_append(b, k.p, k.len) ||
		    sn_buf_appendc(b, ':') || sn_buf_append(b, v.p, v.len))
			return SN_ERR_TOO_BIG;
	}
	if (rc < 0)
		return 1;
	return finish(b, row, add_ip, geo) ? SN_ERR_TOO_BIG : 0;
}

static bool is_sep(char c)
{
	return c == ',' || is_space(c);
}

/* The event already has $geoip_* keys and the record scan noted where each
 * is (and the one "$ip"): the text between the members to cut out is copied
 * as it is, each stretch without its leading and trailing commas and
 * whitespace (a member neither starts nor ends with either), the stretches
 * joined by commas; then the new members follow, as with rewrite_cut,
 * which this saves scanning the whole text again (~1.7 µs an event of the
 * query benchmark's, whose every event carries two $geoip_* keys). */
static int cut_noted(struct sn_enrich *en, struct sn_event_row *row,
		     const struct sn_ingest_facts *f, const struct sn_enrich_geo *geo, bool cut_ip,
		     const struct sn_jspan *add_ip)
{
	struct cut {
		const char *from, *to;
	} cut[SN_GEO_MEMBERS_MAX + 1];
	size_t n = 0;
	for (size_t i = 0; geo && i < f->ngeo_members; i++) {
		const struct sn_ingest_member *m = &f->geo_member[i];
		if (is_place_name(m->key.p + 1, m->key.len - 2))
			cut[n++] = (struct cut){m->key.p, m->end};
	}
	if (cut_ip) {
		/* in text order among the others */
		struct cut c = {f->ip_key.p, f->ip.p + f->ip.len};
		size_t i = n++;
		for (; i > 0 && cut[i - 1].from > c.from; i--)
			cut[i] = cut[i - 1];
		cut[i] = c;
	}
	struct sn_buf *b = &en->out;
	const char *p = row->properties.p + 1, *close = row->properties.p + row->properties.len - 1;
	sn_buf_reset(b);
	int rc = sn_buf_appendc(b, '{');
	for (size_t i = 0; i <= n && rc == 0; i++) {
		const char *a = p, *z = i < n ? cut[i].from : close;
		while (a < z && is_sep(*a))
			a++;
		while (z > a && is_sep(z[-1]))
			z--;
		if (z > a && b->len > 1)
			rc = sn_buf_appendc(b, ',');
		if (z > a && rc == 0)
			rc = sn_buf_append(b, a, (size_t)(z - a));
		if (i < n)
			p = cut[i].to;
	}
	return rc ? rc : finish(b, row, add_ip, geo);
}

/* json-c route: the event already has $geoip_* keys (replaced), one of
 * them escaped. */
static int rewrite_json(struct sn_enrich *en, struct sn_event_row *row,
			const struct sn_enrich_geo *geo, bool drop_ip,
			const struct sn_jspan *add_ip, struct sn_err *err)
{
	struct json_object *props = NULL, *vals = NULL;
	int rc = sn_json_parse(row->properties.p, row->properties.len, &props, err);
	if (rc)
		return rc;
	if (drop_ip)
		json_object_object_del(props, "$ip");
	if (add_ip) {
		struct json_object *ip = NULL;
		if ((rc = sn_json_parse(add_ip->p, add_ip->len, &ip, err)))
			goto out;
		json_object_object_add(props, "$ip", ip);
	}
	if (geo) {
		char text[4096];
		snprintf(text, sizeof(text), "{%.*s}", (int)geo->props_len, geo->props);
		if ((rc = sn_json_parse(text, strlen(text), &vals, err)))
			goto out;
		json_object_object_foreach(vals, k, v)
		    json_object_object_add(props, k, json_object_get(v));
	}
	sn_buf_reset(&en->out);
	if ((rc = sn_json_append(&en->out, props))) {
		rc = sn_err_set(err, rc, "cannot serialise enriched properties");
		goto out;
	}
	row->properties.p = en->out.data;
	row->properties.len = en->out.len;
out:
	json_object_put(vals);
	json_object_put(props);
	return rc;
}

int sn_enrich_event(struct sn_enrich *en, struct sn_ingest_facts *f, struct sn_event_row *row,
		    struct sn_err *err)
{
	f->geo = NULL;
	/* §5.1: an event without properties.$ip gets the request's address,
	 * which capture keeps at the record's root. */
	const struct sn_jspan *ipv = &f->ip;
	bool add_ip = false, cut_own = false;
	/* PostHog's normalizeEvent replaces a falsy $ip (null, "", false, 0)
	 * with the request's address too: the member is cut, the address added. */
	bool falsy = f->ip.type == SN_JNULL || f->ip.type == SN_JFALSE ||
		     (f->ip.type == SN_JSTRING && f->ip.len == 2) ||
		     (f->ip.type == SN_JNUMBER && f->ip.len == 1 && f->ip.p[0] == '0');
	/* ... and only with an address to give (`event.ip` truthy): the
	 * persons API's records carry "" (PostHog captures those with none). */
	bool root = f->root_ip.type == SN_JSTRING && f->root_ip.len > 2;
	if (falsy && root && !f->ip_dup) {
		ipv = &f->root_ip;
		add_ip = cut_own = true;
	} else if (f->ip.type == SN_JNONE) {
		if (root) {
			ipv = &f->root_ip;
			add_ip = true;
		} else if (!f->odd_key) {
			return 0; /* (an escaped key may still be "$ip": §5.4 below) */
		}
	}
	const struct sn_enrich_geo *geo = NULL;
	int rc;
	if (en->geoip && ipv->type == SN_JSTRING && !(ipv->flags & SN_JSPAN_ESCAPED) &&
	    f->geoip_disable.type != SN_JTRUE) {
		size_t n;
		const char *ip = sn_jspan_raw(ipv, &n);
		if ((rc = lookup(en, ip, n, &geo, err)))
			return rc;
	}
	/* §5.4: after GeoIP ran, the address goes (or is never added): every
	 * "$ip" member, also a second one and one whose key is escaped (which
	 * the scan does not name: odd_key). */
	bool drop_ip = team_anonymizes(en, row->team_id);
	bool cut_ip = cut_own || (drop_ip && (!add_ip || f->odd_key));
	if (drop_ip) {
		add_ip = false;
		en->st.ips_dropped++;
	}
	if (!geo && !cut_ip && !add_ip)
		return 0;
	if (geo)
		en->st.enriched++;
	f->geo = geo;
	/* (When json-c refuses the text, the splice below still applies: the
	 * event's own $geoip_* members then precede ours.) */
	if (f->geoip_keys && !f->odd_key && !f->geo_members_over && !f->ip_dup) {
		if (cut_noted(en, row, f, geo, cut_ip, add_ip ? ipv : NULL))
			return sn_err_set(err, SN_ERR_TOO_BIG, "enriched properties too large");
		return 0;
	}
	if (f->geoip_keys || (cut_ip && (f->ip_dup || f->odd_key))) {
		rc = rewrite_cut(en, row, geo, cut_ip, add_ip ? ipv : NULL);
		if (rc == 1)
			rc = rewrite_json(en, row, geo, cut_ip, add_ip ? ipv : NULL, NULL) ? 1 : 0;
		if (rc == 0)
			return 0;
		if (rc != 1)
			return sn_err_set(err, SN_ERR_TOO_BIG, "enriched properties too large");
	}

	const char *p = row->properties.p;
	size_t len = row->properties.len, from = len, to = len;
	if (cut_ip)
		member_range(p, len, &f->ip_key, &f->ip, &from, &to);
	size_t end = len - 1; /* the closing brace */
	while (end > 1 && is_space(p[end - 1]))
		end--;
	struct sn_buf *b = &en->out;
	sn_buf_reset(b);
	if (from < len) {
		rc = sn_buf_append(b, p, from);
		if (rc == 0)
			rc = sn_buf_append(b, p + to, end - to);
	} else {
		rc = sn_buf_append(b, p, end);
	}
	if (rc || finish(b, row, add_ip ? ipv : NULL, geo))
		return sn_err_set(err, SN_ERR_TOO_BIG, "enriched properties too large");
	return 0;
}
