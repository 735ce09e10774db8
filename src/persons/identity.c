/*
 * identity.c — PostHog's identity rules at ingestion (spec posthog-wire.md
 * §4, §5.2): which person an event belongs to, when persons are created and
 * merged, how their properties change, and groups. The store underneath is
 * reached only through the sn_pstore_* operations, so a PostgreSQL backend
 * gets these rules unchanged.
 *
 * One event, in this order (PostHog's plugin-server person-event-processor,
 * person-merge-service, person-property-service, person-create-service):
 *
 *   $process_person_profile ──false──▶ personless: drop $identify & co.,
 *        │                              strip $set/$set_once/$unset, id =
 *        │ true (default)               existing person's or UUIDv5
 *        ▼
 *   §5.2 initial/UTM → $set, $set_once
 *   groups: $groups → $group_N (index 0..4 assigned on first sight),
 *           $groupidentify → upsert group with $group_set
 *   merge ($identify + $anon_distinct_id, $create_alias/$merge_dangerously
 *          + alias): same id → skip; illegal id → warning, skip;
 *          one side known → attach the other id; neither → create with both;
 *          both → merge persons unless `other` is identified (refused with a
 *          warning unless $merge_dangerously)
 *   person for distinct_id (create on first sight with $set_once < $set),
 *   else $set_once, $set, $unset (+ is_identified after any merge attempt)
 *
 * Merging persons: properties = other's overlaid by into's, then the event's
 * $set_once/$set/$unset; created_at = the earlier; is_identified = true;
 * version = max + 1; all distinct ids of other move to into; other is
 * deleted; an override other → into is recorded and every override that
 * ended at other is repointed (kept flat, so resolving an old event's person
 * id is one lookup however many merges followed).
 *
 * Personless ids: a personless event's person id is UUIDv5(team:distinct_id),
 * and the id is noted in posthog_personlessdistinctid. When such an id is
 * later attached to a person whose uuid is a different one, an override from
 * its UUIDv5 to that person is recorded, so the earlier personless events
 * follow (PostHog writes a distinct-id override for the same purpose).
 * When neither id of a merge has a person, the new person takes the UUIDv5
 * of whichever id was used personless, as PostHog does, so no override is
 * needed unless both were.
 *
 * Atomicity and concurrency: the whole event runs under the store lock inside
 * one BEGIN IMMEDIATE transaction; any error rolls all of it back, and the
 * event can be replayed from the WAL. PostHog's retry loops for concurrent
 * merges are not needed: nothing else writes while an event is applied.
 *
 * Decisions not taken from the spec (documented so they can be revisited):
 *  - a team-level opt-out makes every event personless but drops nothing
 *    (the drop rule applies to an explicit $process_person_profile: false);
 *  - more than 5 group types: the type is ignored with the snout warning
 *    "group_type_limit_reached" (PostHog ignores it silently);
 *  - $groups values that are numbers are stored as their decimal text; other
 *    non-strings are ignored (PostHog stores the JSON text of any value).
 *
 * Rejected: applying merges lazily at query time only (keeping every
 * distinct id's own person). Queries would need a graph walk per event, and
 * person properties — which flags read at request time — would never be
 * merged.
 */
#include "persons/persons_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A personless person's created_at: PostHog's 1970-01-01T00:00:05Z, offset
 * from zero so it is recognisable. */
#define PERSONLESS_CREATED_AT_US (5 * 1000000LL)
#define JS_STRING_MAX		 (SN_DISTINCT_ID_MAX + 1)

/* ---- illegal distinct ids (spec §4.2 rule 2) ------------------------------- */

static const char *const illegal_ci[] = {
    "anonymous",	 "guest", "distinctid", "distinct_id", "id",
    "not_authenticated", "email", "undefined",	"true",	       "false",
};
static const char *const illegal_cs[] = {
    "[object Object]", "NaN", "None", "none", "null", "0", "undefined",
};

static bool eq_cs(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

/* s[0..n) equals lit, optionally wrapped in matching single or double quotes. */
static bool matches(const char *s, size_t n, const char *lit, bool ci)
{
	bool (*eq)(const char *, size_t, const char *) = ci ? sn_str_ieq : eq_cs;
	if (eq(s, n, lit))
		return true;
	return n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0] && eq(s + 1, n - 2, lit);
}

static bool js_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool sn_persons_distinct_id_is_illegal(const char *id, size_t len)
{
	/* JavaScript's trim also strips Unicode spaces (U+00A0, U+FEFF, ...);
	 * only ASCII whitespace is treated as blank here. */
	size_t i = 0;
	while (i < len && js_space((unsigned char)id[i]))
		i++;
	if (i == len)
		return true;
	/* The lists are ASCII, so an ASCII case fold is exactly JavaScript's
	 * toLowerCase for them (no non-ASCII letter lowers to one of these). */
	for (size_t k = 0; k < SN_ARRAY_LEN(illegal_ci); k++)
		if (matches(id, len, illegal_ci[k], true))
			return true;
	for (size_t k = 0; k < SN_ARRAY_LEN(illegal_cs); k++)
		if (matches(id, len, illegal_cs[k], false))
			return true;
	return false;
}

/* ---- small helpers ------------------------------------------------------------ */

struct ctx {
	struct sn_persons *p;
	const struct sn_identity_event *ev;
	struct sn_identity_result *res;
	struct sn_err *err;
	struct json_object *set, *set_once, *unset; /* borrowed from ev->properties */
	bool update_is_identified;		    /* a merge was attempted */
	bool skip_props; /* the event's person property updates are refused (size limit) */
};

static void warn(struct sn_identity_result *res, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(struct sn_identity_result *res, const char *type, const char *fmt, ...)
{
	if (res->nwarnings >= SN_IDENTITY_WARNINGS)
		return;
	struct sn_identity_warning *w = &res->warnings[res->nwarnings++];
	w->type = type;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->details, sizeof(w->details), fmt, ap);
	va_end(ap);
}

static bool is_event(const struct sn_identity_event *ev, const char *name)
{
	return strcmp(ev->event, name) == 0;
}

static bool is_merge_event(const struct sn_identity_event *ev)
{
	return is_event(ev, "$identify") || is_event(ev, "$create_alias") ||
	       is_event(ev, "$merge_dangerously") || is_event(ev, "$groupidentify");
}

/* JavaScript's String(v) for the JSON values ids arrive as, into out.
 * Returns false when the text does not fit (it cannot be a valid id). */
static bool js_string(struct json_object *v, char *out, size_t outsz)
{
	int n;
	switch (json_object_get_type(v)) {
	case json_type_null: n = snprintf(out, outsz, "null"); break;
	case json_type_boolean:
		n = snprintf(out, outsz, "%s", json_object_get_boolean(v) ? "true" : "false");
		break;
	case json_type_int:
		n = snprintf(out, outsz, "%lld", (long long)json_object_get_int64(v));
		break;
	case json_type_double: n = snprintf(out, outsz, "%.17g", json_object_get_double(v)); break;
	case json_type_string: n = snprintf(out, outsz, "%s", json_object_get_string(v)); break;
	case json_type_object: n = snprintf(out, outsz, "[object Object]"); break;
	case json_type_array: {
		/* String([a, b]) is "a,b"; null elements print as "". */
		size_t len = json_object_array_length(v), used = 0;
		out[0] = 0;
		for (size_t i = 0; i < len; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			if (i && used + 1 < outsz)
				out[used++] = ',', out[used] = 0;
			if (e && !js_string(e, out + used, outsz - used))
				return false;
			used += strlen(out + used);
		}
		return used + 1 < outsz;
	}
	default: return false;
	}
	return n >= 0 && (size_t)n < outsz;
}

/* JavaScript truthiness of a property value. */
static bool js_truthy(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return false;
	case json_type_boolean: return json_object_get_boolean(v);
	case json_type_int: return json_object_get_int64(v) != 0;
	case json_type_double: {
		double d = json_object_get_double(v);
		return d == d && d != 0;
	}
	case json_type_string: return json_object_get_string_len(v) > 0;
	default: return true;
	}
}

/* ---- persons --------------------------------------------------------------------- */

/* A new person's properties: $set_once overlaid by $set, plus
 * $creator_event_uuid ($unset does not apply on creation). */
static struct json_object *new_person_props(struct ctx *c)
{
	struct json_object *props = json_object_new_object();
	if (!props)
		return NULL;
	sn_props_apply(props, c->set, c->set_once, NULL);
	if (c->ev->uuid && *c->ev->uuid)
		json_object_object_add(props, "$creator_event_uuid",
				       json_object_new_string(c->ev->uuid));
	return props;
}

/* Inserts person (team, flags and time filled; properties as text, or
 * person->properties when text is NULL) under first_id's UUIDv5, set into
 * person->uuid, and points first_id at it. Should that uuid already be taken
 * in the team (a person re-created after a split would be), a UUIDv7 is
 * used instead. */
static int insert_person(struct sn_persons *p, struct sn_person *person, const char *first_id,
			 const char *text, size_t len, struct sn_err *err)
{
	sn_persons_uuid_for(person->team_id, first_id, strlen(first_id), person->uuid);
	int ret = sn_pstore_person_insert_text(p, person, text, len, err);
	if (ret == SN_ERR_EXISTS) {
		struct sn_uuid u;
		sn_uuid_v7(&u, sn_now_us());
		sn_uuid_format(&u, person->uuid);
		sn_log_warn("persons: team %lld: person id for distinct id is taken; using %s",
			    (long long)person->team_id, person->uuid);
		ret = sn_pstore_person_insert_text(p, person, text, len, err);
	}
	if (ret < 0)
		return ret;
	return sn_pstore_distinct_id_set(p, person->team_id, first_id, person->uuid, err);
}

/* Creates a person whose uuid derives from first_id, with the given distinct
 * ids (insert_person). */
static int create_person(struct ctx *c, const char *first_id, const char *second_id,
			 bool identified, struct sn_person *out)
{
	int ret;
	sn_person_release(out);
	memset(out, 0, sizeof(*out));
	out->team_id = c->ev->team_id;
	out->properties = new_person_props(c);
	if (!out->properties)
		return sn_err_set(c->err, SN_ERR_NOMEM, "out of memory creating a person");
	out->is_identified = identified;
	out->created_at_us = c->ev->timestamp_us;
	out->version = 0;
	if ((ret = insert_person(c->p, out, first_id, NULL, 0, c->err)) < 0)
		return ret;
	if (second_id)
		ret = sn_pstore_distinct_id_set(c->p, c->ev->team_id, second_id, out->uuid, c->err);
	return ret;
}

/* Attaches distinct_id to person; if the id was used by personless events,
 * their UUIDv5 person id is overridden to the person. */
static int attach_distinct_id(struct ctx *c, const struct sn_person *person,
			      const char *distinct_id)
{
	bool seen = false;
	int64_t team = c->ev->team_id;
	int ret = sn_pstore_personless_take(c->p, team, distinct_id, &seen, c->err);
	if (ret == 0)
		ret = sn_pstore_distinct_id_set(c->p, team, distinct_id, person->uuid, c->err);
	if (ret == 0 && seen) {
		char v5[37];
		sn_persons_uuid_for(team, distinct_id, strlen(distinct_id), v5);
		ret = sn_pstore_override_add(c->p, team, v5, person->uuid, c->err);
	}
	return ret;
}

static enum sn_person_updates event_updates(const struct sn_identity_event *ev)
{
	return sn_persons_event_updates(ev->event, strlen(ev->event));
}

static int merge_people(struct ctx *c, struct sn_person *into, const char *into_id,
			struct sn_person *other, const char *other_id)
{
	if (!is_event(c->ev, "$merge_dangerously") && other->is_identified) {
		warn(c->res, "cannot_merge_already_identified",
		     "refused to merge distinct id \"%.80s\" (already identified) into \"%.80s\"",
		     other_id, into_id);
		return 0; /* the event stays with `into` */
	}
	struct json_object *props = json_object_new_object();
	if (!props)
		return sn_err_set(c->err, SN_ERR_NOMEM, "out of memory merging persons");
	json_object_object_foreach(other->properties, k1, v1)
	    json_object_object_add(props, k1, json_object_get(v1));
	json_object_object_foreach(into->properties, k2, v2)
	    json_object_object_add(props, k2, json_object_get(v2));
	if (event_updates(c->ev) != SN_UPDATES_NONE)
		sn_props_apply(props, c->set, c->set_once, c->unset);
	json_object_put(into->properties);
	into->properties = props;
	if (other->created_at_us < into->created_at_us)
		into->created_at_us = other->created_at_us;
	into->is_identified = true;
	into->version = (into->version > other->version ? into->version : other->version) + 1;

	int64_t team = c->ev->team_id;
	int ret = sn_pstore_person_update(c->p, into, c->err);
	if (ret == 0)
		ret = sn_pstore_distinct_ids_move(c->p, team, other->uuid, into->uuid, c->err);
	if (ret == 0)
		ret = sn_pstore_person_delete(c->p, team, other->uuid, c->err);
	if (ret == 0)
		ret = sn_pstore_override_add(c->p, team, other->uuid, into->uuid, c->err);
	if (ret == 0)
		memcpy(c->res->merged_away, other->uuid, sizeof(other->uuid));
	return ret;
}

static int lookup(struct ctx *c, const char *distinct_id, struct sn_person *out, bool *found)
{
	int ret = sn_pstore_person_by_distinct_id(c->p, c->ev->team_id, distinct_id, out, c->err);
	*found = ret == 0;
	return ret == SN_ERR_NOT_FOUND ? 0 : ret;
}

/* The merge step. On success *have tells whether person holds the event's
 * person (otherwise the ordinary get-or-create follows). */
static int merge(struct ctx *c, const char *other_id, const char *into_id, struct sn_person *person,
		 bool *have)
{
	int ret = 0;
	struct sn_person other = {0};
	bool other_found = false, into_found = false;
	*have = false;

	if (!strcmp(other_id, into_id))
		return 0; /* posthog-node aliases an id to itself on property updates */
	if (sn_persons_distinct_id_is_illegal(into_id, strlen(into_id)) ||
	    sn_persons_distinct_id_is_illegal(other_id, strlen(other_id))) {
		bool into_bad = sn_persons_distinct_id_is_illegal(into_id, strlen(into_id));
		warn(c->res, "cannot_merge_with_illegal_distinct_id",
		     "illegal distinct id \"%.80s\" (merging with \"%.80s\")",
		     into_bad ? into_id : other_id, into_bad ? other_id : into_id);
		return 0;
	}
	c->update_is_identified = true;

	if ((ret = lookup(c, other_id, &other, &other_found)) < 0)
		goto out;
	if ((ret = lookup(c, into_id, person, &into_found)) < 0)
		goto out;

	if (other_found && !into_found) {
		ret = attach_distinct_id(c, &other, into_id);
		sn_person_release(person);
		*person = other;
		other.properties = NULL;
		*have = ret == 0;
	} else if (into_found && !other_found) {
		ret = attach_distinct_id(c, person, other_id);
		*have = ret == 0;
	} else if (into_found && other_found) {
		if (strcmp(person->uuid, other.uuid) != 0)
			ret = merge_people(c, person, into_id, &other, other_id);
		*have = ret == 0;
	} else {
		bool seen_into = false, seen_other = false;
		int64_t team = c->ev->team_id;
		if ((ret = sn_pstore_personless_take(c->p, team, into_id, &seen_into, c->err)) < 0)
			goto out;
		if ((ret = sn_pstore_personless_take(c->p, team, other_id, &seen_other, c->err)) <
		    0)
			goto out;
		/* The new person's uuid comes from the first id; take the one
		 * personless events already carry, so they need no override. */
		const char *first = into_id, *second = other_id;
		if (!seen_into && seen_other) {
			first = other_id;
			second = into_id;
		}
		if ((ret = create_person(c, first, second, true, person)) < 0)
			goto out;
		if (seen_into && seen_other) {
			char v5[37];
			sn_persons_uuid_for(team, second, strlen(second), v5);
			ret = sn_pstore_override_add(c->p, team, v5, person->uuid, c->err);
		}
		*have = ret == 0;
	}
out:
	sn_person_release(&other);
	return ret;
}

/* The merge step's "other id has no person, the event's has" case on its
 * own (sn_persons.h): what merge() does then, without reading the person
 * or writing its properties (the caller writes the is_identified that
 * with_person would after a merge attempt). */
int sn_identity_attach_unseen(struct sn_persons *p, int64_t team_id, const char *other_id,
			      const char *into_id, const char *person_uuid, bool *attached,
			      struct sn_err *err)
{
	*attached = false;
	size_t on = strlen(other_id), in = strlen(into_id);
	if (team_id <= 0 || !on || on > SN_DISTINCT_ID_MAX || !strcmp(other_id, into_id) ||
	    sn_persons_distinct_id_is_illegal(other_id, on) ||
	    sn_persons_distinct_id_is_illegal(into_id, in))
		return 0; /* the rules skip the merge, or warn: not this case */
	struct sn_identity_event ev = {.team_id = team_id};
	struct sn_identity_result res = {0};
	struct ctx c = {.p = p, .ev = &ev, .res = &res, .err = err};
	struct sn_person other = {0}, into = {.team_id = team_id};
	bool found = false;
	int ret;
	snprintf(into.uuid, sizeof(into.uuid), "%s", person_uuid);
	sn_pstore_lock(p);
	if ((ret = sn_pstore_begin_event(p, err)) < 0)
		goto out;
	ret = lookup(&c, other_id, &other, &found);
	if (ret == 0 && !found)
		ret = attach_distinct_id(&c, &into, other_id);
	if (ret == 0)
		ret = sn_pstore_commit(p, err); /* (found: nothing was written) */
	if (ret < 0)
		sn_pstore_rollback(p);
	else
		*attached = !found;
out:
	sn_pstore_unlock(p);
	sn_person_release(&other);
	return ret;
}

static bool plain_uuid(const char *u)
{
	if (!*u)
		return false;
	for (; *u; u++)
		if (!isalnum((unsigned char)*u) && *u != '-')
			return false;
	return true;
}

int sn_identity_create_unseen(struct sn_persons *p, int64_t team_id, const char *distinct_id,
			      const char *event_uuid, int64_t timestamp_us,
			      const struct sn_identity_members *extra, const char *const values[],
			      const size_t lens[], char person_uuid[37], bool *created,
			      struct sn_err *err)
{
	*created = false;
	size_t dn = strlen(distinct_id);
	if (team_id <= 0 || !dn || dn > SN_DISTINCT_ID_MAX || !plain_uuid(event_uuid))
		return 0;
	struct sn_buf text;
	sn_buf_init(&text, SN_PERSON_PROPS_MAX);
	int ret = sn_props_new_person_text(&text, event_uuid, extra, values, lens);
	if (ret < 0) {
		sn_buf_release(&text);
		return ret == SN_ERR_TOO_BIG ? 0 : sn_err_set(err, ret, "out of memory");
	}
	struct sn_person person = {.team_id = team_id, .created_at_us = timestamp_us};
	char had[37];
	sn_pstore_lock(p);
	if ((ret = sn_pstore_begin_event(p, err)) < 0)
		goto out;
	ret = sn_pstore_uuid_by_distinct_id(p, team_id, distinct_id, had, err);
	if (ret == 0) {
		ret = sn_pstore_commit(p, err); /* (nothing was written) */
		goto done;
	}
	if (ret != SN_ERR_NOT_FOUND)
		goto done;
	ret = insert_person(p, &person, distinct_id, text.data, text.len, err);
	if (ret == 0)
		ret = sn_pstore_commit(p, err);
	if (ret == 0) {
		*created = true;
		memcpy(person_uuid, person.uuid, 37);
	}
done:
	if (ret < 0)
		sn_pstore_rollback(p);
out:
	sn_pstore_unlock(p);
	sn_buf_release(&text);
	return ret;
}

/* ---- groups ------------------------------------------------------------------------- */

/* A group key as text: strings as they are but for NUL, which becomes
 * U+FFFD as PostHog's sanitizeString makes it (Postgres text cannot hold
 * one; cutting the key there would merge it into another group), integers
 * in decimal. */
bool sn_persons_group_key(struct json_object *v, char out[SN_GROUP_KEY_MAX + 1])
{
	int n;
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		size_t len = (size_t)json_object_get_string_len(v), o = 0;
		for (size_t i = 0; i < len; i++) {
			const char *r = s[i] ? s + i : "\xEF\xBF\xBD";
			size_t rn = s[i] ? 1 : 3;
			if (o + rn > SN_GROUP_KEY_MAX)
				return false;
			memcpy(out + o, r, rn);
			o += rn;
		}
		out[o] = 0;
		return o > 0;
	}
	if (!json_object_is_type(v, json_type_int))
		return false;
	n = snprintf(out, SN_GROUP_KEY_MAX + 1, "%lld", (long long)json_object_get_int64(v));
	return n > 0 && n <= SN_GROUP_KEY_MAX;
}

static int type_index(struct ctx *c, const char *type, int *idx)
{
	if (strlen(type) > SN_GROUP_TYPE_MAX || !*type)
		return SN_ERR_NOT_FOUND;
	struct sn_err e = {0};
	int ret = sn_pstore_group_type_index(c->p, c->ev->team_id, type, true, idx, &e);
	if (ret == SN_ERR_TOO_BIG) {
		warn(c->res, "group_type_limit_reached", "%s", e.msg);
		return SN_ERR_NOT_FOUND;
	}
	if (ret < 0)
		*c->err = e;
	return ret;
}

static int event_groups(struct ctx *c)
{
	struct json_object *groups = sn_json_get(c->ev->properties, "$groups");
	if (!json_object_is_type(groups, json_type_object))
		return 0;
	json_object_object_foreach(groups, type, v)
	{
		char key[SN_GROUP_KEY_MAX + 1];
		int idx, ret;
		if (!sn_persons_group_key(v, key))
			continue;
		if ((ret = type_index(c, type, &idx)) == SN_ERR_NOT_FOUND)
			continue;
		if (ret < 0)
			return ret;
		c->res->has_group[idx] = true;
		memcpy(c->res->group_key[idx], key, sizeof(key));
		char prop[16];
		snprintf(prop, sizeof(prop), "$group_%d", idx);
		json_object_object_add(c->ev->properties, prop, json_object_new_string(key));
	}
	return 0;
}

static int group_identify(struct ctx *c)
{
	const char *type = sn_json_str(sn_json_get(c->ev->properties, "$group_type"), NULL);
	struct json_object *kv = sn_json_get(c->ev->properties, "$group_key");
	struct json_object *gset = sn_json_get(c->ev->properties, "$group_set");
	struct sn_group g = {0};
	int idx, ret;
	if (!type || !sn_persons_group_key(kv, g.key))
		return 0;
	if ((ret = type_index(c, type, &idx)) == SN_ERR_NOT_FOUND)
		return 0;
	if (ret < 0)
		return ret;
	ret = sn_pstore_group_get(c->p, c->ev->team_id, idx, g.key, &g, c->err);
	bool exists = ret == 0;
	if (ret < 0 && ret != SN_ERR_NOT_FOUND)
		goto out;
	if (!exists) {
		g.team_id = c->ev->team_id;
		g.group_type_index = idx;
		g.created_at_us = c->ev->timestamp_us;
		g.properties = json_object_new_object();
		if (!g.properties) {
			ret = sn_err_set(c->err, SN_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	bool changed = json_object_is_type(gset, json_type_object) &&
		       sn_props_apply(g.properties, gset, NULL, NULL);
	ret = 0;
	if (exists && changed) {
		g.version++;
		/* PostHog's upsertGroup writes created_at = min(stored, event
		 * time) with every change: a late event with an earlier
		 * timestamp moves it back. */
		if (c->ev->timestamp_us < g.created_at_us)
			g.created_at_us = c->ev->timestamp_us;
	}
	if (!exists || changed)
		ret = sn_pstore_group_put(c->p, &g, exists, c->err);
	if (ret == SN_ERR_TOO_BIG) {
		/* nothing was written: the group keeps what it had */
		warn(c->res, "group_properties_size_violation", "%s", c->err->msg);
		ret = 0;
	}
out:
	sn_group_release(&g);
	return ret;
}

/* ---- the event ------------------------------------------------------------------------ */

static int personless(struct ctx *c)
{
	struct sn_person person = {0};
	int64_t team = c->ev->team_id;
	json_object_object_del(c->ev->properties, "$set");
	json_object_object_del(c->ev->properties, "$set_once");
	json_object_object_del(c->ev->properties, "$unset");
	int ret = sn_pstore_person_by_distinct_id(c->p, team, c->ev->distinct_id, &person, c->err);
	if (ret == 0) {
		/* An existing person takes the event, but its properties do
		 * not travel onto it. */
		memcpy(c->res->person_uuid, person.uuid, sizeof(person.uuid));
		c->res->person_created_at_us = person.created_at_us;
	} else if (ret == SN_ERR_NOT_FOUND) {
		sn_persons_uuid_for(team, c->ev->distinct_id, strlen(c->ev->distinct_id),
				    c->res->person_uuid);
		c->res->person_created_at_us = PERSONLESS_CREATED_AT_US;
		c->res->no_person = true;
		ret = sn_pstore_personless_add(c->p, team, c->ev->distinct_id, c->err);
	}
	sn_person_release(&person);
	return ret;
}

static int with_person(struct ctx *c)
{
	struct sn_person person = {0};
	bool have = false, created = false;
	int ret = 0;
	struct json_object *props = c->ev->properties;

	if (!c->skip_props && !is_event(c->ev, "$snapshot") &&
	    !is_event(c->ev, "$snapshot_items") && (ret = sn_props_add_initial(props)) < 0) {
		sn_err_set(c->err, ret, "out of memory adding initial properties");
		goto out;
	}
	if (!c->skip_props) {
		c->set = sn_json_get(props, "$set");
		c->set_once = sn_json_get(props, "$set_once");
		c->unset = sn_json_get(props, "$unset");
	}

	if (is_event(c->ev, "$groupidentify") && (ret = group_identify(c)) < 0)
		goto out;

	/* Merge triggers, as PostHog's handleIdentifyOrAlias reads them. */
	char other[JS_STRING_MAX];
	struct json_object *v = NULL;
	bool merge_ev = false;
	if ((is_event(c->ev, "$create_alias") || is_event(c->ev, "$merge_dangerously")) &&
	    json_object_object_get_ex(props, "alias", &v) && js_truthy(v))
		merge_ev = true;
	else if (is_event(c->ev, "$identify") &&
		 json_object_object_get_ex(props, "$anon_distinct_id", &v))
		merge_ev = true;
	if (merge_ev) {
		if (!js_string(v, other, sizeof(other))) {
			warn(c->res, "cannot_merge_with_illegal_distinct_id",
			     "the other distinct id is longer than %d bytes", SN_DISTINCT_ID_MAX);
		} else if ((ret = merge(c, other, c->ev->distinct_id, &person, &have)) < 0) {
			goto out;
		}
	}

	if (!have) {
		bool found = false;
		if ((ret = lookup(c, c->ev->distinct_id, &person, &found)) < 0)
			goto out;
		if (!found) {
			ret = create_person(c, c->ev->distinct_id, NULL, c->update_is_identified,
					    &person);
			if (ret < 0)
				goto out;
			created = true;
		}
	}
	if (!created) {
		enum sn_person_updates u = event_updates(c->ev);
		bool changed = u != SN_UPDATES_NONE &&
			       sn_props_apply_event(person.properties, c->set, c->set_once,
						    c->unset, u == SN_UPDATES_FILTERED);
		if (c->update_is_identified && !person.is_identified) {
			person.is_identified = true;
			changed = true;
		}
		if (changed) {
			person.version++;
			if ((ret = sn_pstore_person_update(c->p, &person, c->err)) < 0)
				goto out;
		}
	}
	memcpy(c->res->person_uuid, person.uuid, sizeof(person.uuid));
	c->res->person_created_at_us = person.created_at_us;
	c->res->person_is_identified = person.is_identified;
	json_object_put(c->res->person_properties);
	c->res->person_properties = person.properties;
	person.properties = NULL;
out:
	sn_person_release(&person);
	return ret;
}

int sn_identity_process(struct sn_persons *p, const struct sn_identity_event *ev,
			struct sn_identity_result *res, struct sn_err *err)
{
	int ret = 0;
	memset(res, 0, sizeof(*res));
	res->person_properties = json_object_new_object();
	if (!res->person_properties)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	if (ev->team_id <= 0)
		return sn_err_set(err, SN_ERR_INVALID, "identity: team id must be positive");
	if (!ev->distinct_id || !*ev->distinct_id)
		return sn_err_set(err, SN_ERR_INVALID, "identity: distinct_id is empty");
	if (strlen(ev->distinct_id) > SN_DISTINCT_ID_MAX)
		return sn_err_set(err, SN_ERR_INVALID,
				  "identity: distinct_id is longer than %d bytes",
				  SN_DISTINCT_ID_MAX);
	if (!ev->event || !json_object_is_type(ev->properties, json_type_object))
		return sn_err_set(err, SN_ERR_INVALID,
				  "identity: event name and a properties object are required");

	struct ctx c = {.p = p, .ev = ev, .res = res, .err = err};
	bool process = true;
	struct json_object *ppp = NULL;
	if (json_object_object_get_ex(ev->properties, "$process_person_profile", &ppp)) {
		if (json_object_is_type(ppp, json_type_boolean)) {
			process = json_object_get_boolean(ppp);
		} else {
			char shown[64];
			if (!js_string(ppp, shown, sizeof(shown)))
				snprintf(shown, sizeof(shown), "(too long)");
			warn(res, "invalid_process_person_profile",
			     "$process_person_profile must be a boolean, got %s; processing the "
			     "person",
			     shown);
		}
	}
	if (!process && is_merge_event(ev)) {
		warn(res, "invalid_event_when_process_person_profile_is_false",
		     "%.64s is dropped when $process_person_profile is false", ev->event);
		res->dropped = true;
		res->personless = true;
		sn_persons_uuid_for(ev->team_id, ev->distinct_id, strlen(ev->distinct_id),
				    res->person_uuid);
		return 0;
	}
	if (ev->person_processing_opt_out)
		process = false;
	res->personless = !process;

	unsigned nw0 = res->nwarnings; /* the warnings from before the person step */
	sn_pstore_lock(p);
	for (;;) {
		if ((ret = sn_pstore_begin_event(p, err)) < 0)
			break;
		/* $groups gives $group_N only with person processing, as in
		 * PostHog's process-groups step (addGroupProperties runs only
		 * when processPerson). */
		ret = process ? event_groups(&c) : 0;
		if (ret == 0)
			ret = process ? with_person(&c) : personless(&c);
		if (ret == 0)
			ret = sn_pstore_commit(p, err);
		if (ret < 0)
			sn_pstore_rollback(p);
		if (ret != SN_ERR_TOO_BIG || !process || c.skip_props)
			break;
		/* The person would pass SN_PERSON_PROPS_MAX. PostHog refuses that
		 * write alone (person_properties_size_violation) and the event
		 * keeps its person: the event again, without its property updates
		 * (a merge of two persons that together pass the limit still
		 * fails). */
		struct sn_identity_result fresh = {.person_properties = res->person_properties,
						   .nwarnings = nw0};
		memcpy(fresh.warnings, res->warnings, nw0 * sizeof(*res->warnings));
		*res = fresh;
		warn(res, "person_properties_size_violation",
		     "Person properties exceeds size limit and was rejected: %s", err->msg);
		c = (struct ctx){.p = p, .ev = ev, .res = res, .err = err, .skip_props = true};
	}
	sn_pstore_unlock(p);
	return ret;
}

void sn_identity_result_release(struct sn_identity_result *res)
{
	if (!res)
		return;
	json_object_put(res->person_properties);
	res->person_properties = NULL;
}

int sn_identity_apply_set(struct sn_persons *p, int64_t team_id, const char *uuid,
			  struct json_object *set, bool *found, struct sn_err *err)
{
	struct sn_person person = {0};
	int ret;
	*found = false;
	sn_pstore_lock(p);
	if ((ret = sn_pstore_begin_event(p, err)) < 0)
		goto out;
	ret = sn_pstore_person_by_uuid(p, team_id, uuid, &person, err);
	if (ret == 0) {
		*found = true;
		if (sn_props_apply(person.properties, set, NULL, NULL)) {
			person.version++;
			ret = sn_pstore_person_update(p, &person, err);
		}
	} else if (ret == SN_ERR_NOT_FOUND) {
		ret = 0;
	}
	if (ret == 0)
		ret = sn_pstore_commit(p, err);
	if (ret < 0)
		sn_pstore_rollback(p);
out:
	sn_pstore_unlock(p);
	sn_person_release(&person);
	return ret;
}
