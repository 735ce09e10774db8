/*
 * propdefs.c — property definitions found at ingestion (docs/PROPERTIES.md):
 * which properties each team's events, persons and groups carry, and the
 * type of the first typed value seen, as PostHog's property-defs-rs records
 * them; HogQL then types its property accesses by them (hogql.h).
 *
 *   store sink (ingest thread), per stored event:
 *     properties' members ─┐                           ┌─ known: nothing
 *     $set / $set_once  ───┼─▶ seen table (team, kind, ─┤
 *     $group_set ──────────┘   group, name) → type     └─ new, or first typed
 *                                                          value: pending
 *   each flush: pending ─▶ sn_meta_propdefs_record (one transaction)
 *
 * Which members count (property-defs-rs): an event's properties but
 * $set, $set_once, $unset, $group_0..4 and $groups (and $elements and
 * $elements_chain, which are not stored: elements.c); person properties from
 * properties.$set and properties.$set_once; for $groupidentify only the
 * $group_set members, as properties of the group type's index; nothing of
 * $$plugin_metrics. Names over SN_PROPDEF_NAME_MAX bytes are skipped.
 *
 * Types (sn_prop_detect_type): utm_..., $initial_utm_..., $feature/...,
 * $feature_flag_response and $survey_response... are String whatever the
 * value; a name holding time, date, _at, -at, createdat or updatedat
 * (ASCII case folded) with a date-like string or an integer no older than
 * six months as Unix seconds is DateTime; then by value: a string "true",
 * "false", "TRUE" or "FALSE" (trimmed) is Boolean, a date-like string
 * DateTime, another string String, a number Numeric, a boolean Boolean, and
 * null, objects and arrays have no type (a later typed value gives one).
 * Date-like: YYYY-MM-DD or DD-MM-YYYY (either with / too), optionally
 * followed by a space or T and HH:MM:SS and anything; or an RFC 2822 date.
 *
 * Cost: most events carry a key set the team sent before. The sink
 * fingerprints each event's members — a cheap mix of each raw name and its
 * value's JSON type, summed (order does not matter), plus the $set objects'
 * bytes and which GeoIP members are set — and an event whose fingerprint
 * is remembered is done (one probe of a 64K table). Any other event goes
 * member by member: a 64-bit hash of the name and a probe of the seen
 * table (names in one buffer); its fingerprint is remembered once every
 * member was noted. A value's JSON type is in the fingerprint, so a name
 * first seen null is looked at again when a typed value comes. Both tables
 * forget everything when full (they are caches: meta keeps the first type,
 * so noting a definition again changes nothing). Nothing here can fail an
 * event: out of memory, a definition is noted when it is seen again. A
 * definition deleted through the API comes back when a new key set of the
 * team carries it (or after a restart).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/ingest_internal.h"

#define SEEN_MAX     (1u << 20) /* entries before the table starts over */
#define PENDING_MAX  65536	/* definitions waiting for a flush */
#define SIX_MONTHS_S 15768000

struct seen_ent {
	uint64_t h; /* 0: empty slot */
	int64_t team;
	uint32_t off; /* the name is names.data[off, off + len) */
	uint16_t len;
	uint8_t kind;
	int8_t gi;
	uint8_t type;
};

#define SETS_CAP (1u << 16) /* key-set fingerprints remembered (a power of two) */

struct sn_propdefs_seen {
	struct seen_ent *t;
	size_t cap, n; /* cap is a power of two */
	/* Fingerprints of events whose every member was noted (0: empty). */
	uint64_t *sets;
	size_t nsets;
	bool dropped; /* a member of the current event was not noted */
	struct sn_buf names;
	struct sn_buf tmp; /* a decoded escaped name */
	struct sn_propdef *pending;
	size_t npending;
	int64_t now_s; /* for "no older than six months"; refreshed per flush */
};

int sn_propdefs_seen_new(struct sn_propdefs_seen **out)
{
	struct sn_propdefs_seen *s = calloc(1, sizeof(*s));
	if (!s)
		return SN_ERR_NOMEM;
	s->cap = 4096;
	s->t = calloc(s->cap, sizeof(*s->t));
	s->pending = malloc(PENDING_MAX * sizeof(*s->pending));
	s->sets = calloc(SETS_CAP, sizeof(*s->sets));
	if (!s->t || !s->pending || !s->sets) {
		free(s->t);
		free(s->pending);
		free(s->sets);
		free(s);
		return SN_ERR_NOMEM;
	}
	sn_buf_init(&s->names, (size_t)64 << 20);
	sn_buf_init(&s->tmp, SN_PROPDEF_NAME_MAX * 8);
	s->now_s = (int64_t)time(NULL);
	*out = s;
	return 0;
}

void sn_propdefs_seen_free(struct sn_propdefs_seen *s)
{
	if (!s)
		return;
	free(s->t);
	free(s->pending);
	free(s->sets);
	sn_buf_release(&s->names);
	sn_buf_release(&s->tmp);
	free(s);
}

/* ---- types -------------------------------------------------------------------------- */

static bool dig(char c)
{
	return c >= '0' && c <= '9';
}

static bool sep(char c)
{
	return c == '/' || c == '-';
}

/* YYYY-MM-DD / DD-MM-YYYY (ranges as property-defs-rs's pattern: the
 * month's first digit 0-2, the day's 0-3). */
static bool date10(const char *s)
{
	if (dig(s[0]) && dig(s[1]) && dig(s[2]) && dig(s[3]) && sep(s[4]) && s[5] >= '0' &&
	    s[5] <= '2' && dig(s[6]) && sep(s[7]) && s[8] >= '0' && s[8] <= '3' && dig(s[9]))
		return true;
	return s[0] >= '0' && s[0] <= '2' && dig(s[1]) && sep(s[2]) && s[3] >= '0' && s[3] <= '3' &&
	       dig(s[4]) && sep(s[5]) && dig(s[6]) && dig(s[7]) && dig(s[8]) && dig(s[9]);
}

static bool rfc2822(const char *s, size_t n)
{
	char buf[64];
	if (n < 16 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = 0;
	static const char *const fmts[] = {"%a, %d %b %Y %H:%M:%S %z", "%d %b %Y %H:%M:%S %z"};
	for (size_t i = 0; i < SN_ARRAY_LEN(fmts); i++) {
		struct tm tm = {0};
		const char *end = strptime(buf, fmts[i], &tm);
		if (end && !*end)
			return true;
	}
	return false;
}

static bool date_like(const char *s, size_t n)
{
	if (n >= 10 && date10(s)) {
		if (n == 10)
			return true;
		const char *t = s + 10;
		if (n >= 19 && (t[0] == ' ' || t[0] == 'T') && t[1] >= '0' && t[1] <= '2' &&
		    dig(t[2]) && t[3] == ':' && t[4] >= '0' && t[4] <= '6' && dig(t[5]) &&
		    t[6] == ':' && t[7] >= '0' && t[7] <= '6' && dig(t[8]))
			return !memchr(s + 19, '\n', n - 19); /* `.*$`: no line break */
	}
	return rfc2822(s, n);
}

static bool has_prefix(const char *k, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	return n >= m && memcmp(k, lit, m) == 0;
}

static bool contains(const char *k, size_t n, const char *lit)
{
	size_t m = strlen(lit);
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(k + i, lit, m) == 0)
			return true;
	return false;
}

int sn_prop_detect_type(const char *key, size_t klen, const struct sn_jspan *v, int64_t now_s)
{
	char low[SN_PROPDEF_NAME_MAX];
	size_t n = klen < sizeof(low) ? klen : sizeof(low);
	for (size_t i = 0; i < n; i++)
		low[i] = key[i] >= 'A' && key[i] <= 'Z' ? (char)(key[i] + 32) : key[i];
	if (has_prefix(low, n, "utm_") || has_prefix(low, n, "$initial_utm_") ||
	    has_prefix(low, n, "$feature/") ||
	    (n == 22 && memcmp(low, "$feature_flag_response", 22) == 0) ||
	    has_prefix(low, n, "$survey_response"))
		return SN_PROP_STRING;
	size_t sl = 0;
	const char *s = NULL;
	if (v->type == SN_JSTRING)
		s = sn_jspan_raw(v, &sl); /* escapes left: no date or boolean has one */
	static const char *const words[] = {"time", "date", "_at", "-at", "createdat", "updatedat"};
	bool timeish = false;
	if (v->type == SN_JSTRING || v->type == SN_JNUMBER)
		for (size_t i = 0; i < SN_ARRAY_LEN(words) && !timeish; i++)
			timeish = contains(low, n, words[i]);
	if (timeish && s && date_like(s, sl))
		return SN_PROP_DATETIME;
	if (timeish && v->type == SN_JNUMBER && (v->flags & SN_JSPAN_INT) && v->p[0] != '-') {
		int64_t x;
		/* a u64 above int64 saturates: still recent enough */
		if (sn_jspan_int64(v, &x) == 0 && x >= now_s - SIX_MONTHS_S)
			return SN_PROP_DATETIME;
	}
	switch (v->type) {
	case SN_JSTRING: {
		while (sl && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')) {
			s++;
			sl--;
		}
		while (sl && (s[sl - 1] == ' ' || s[sl - 1] == '\t' || s[sl - 1] == '\n' ||
			      s[sl - 1] == '\r'))
			sl--;
		if ((sl == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "TRUE", 4) == 0)) ||
		    (sl == 5 && (memcmp(s, "false", 5) == 0 || memcmp(s, "FALSE", 5) == 0)))
			return SN_PROP_BOOLEAN;
		return date_like(s, sl) ? SN_PROP_DATETIME : SN_PROP_STRING;
	}
	case SN_JNUMBER: return SN_PROP_NUMERIC;
	case SN_JTRUE:
	case SN_JFALSE: return SN_PROP_BOOLEAN;
	default: return SN_PROP_NONE;
	}
}

/* ---- the seen table ------------------------------------------------------------------ */

static uint64_t ent_hash(int64_t team, int kind, int gi, const char *name, size_t len)
{
	uint64_t h = sn_hash64(name, len);
	h ^= ((uint64_t)team * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(kind * 8 + gi + 1) << 56);
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

static void forget_all(struct sn_propdefs_seen *s)
{
	memset(s->t, 0, s->cap * sizeof(*s->t));
	s->n = 0;
	sn_buf_reset(&s->names);
}

static bool grow(struct sn_propdefs_seen *s)
{
	size_t cap = s->cap * 2;
	struct seen_ent *t = calloc(cap, sizeof(*t));
	if (!t)
		return false;
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->t[i].h)
			continue;
		size_t j = s->t[i].h & (cap - 1);
		while (t[j].h)
			j = (j + 1) & (cap - 1);
		t[j] = s->t[i];
	}
	free(s->t);
	s->t = t;
	s->cap = cap;
	return true;
}

/* Notes one member; false when it could not be (memory, a full pending
 * list): it is noted when seen again. */
static bool note(struct sn_propdefs_seen *s, int64_t team, int kind, int gi, const char *name,
		 size_t len, const struct sn_jspan *v)
{
	if (!len || len > SN_PROPDEF_NAME_MAX)
		return true; /* never recorded */
	uint64_t h = ent_hash(team, kind, gi, name, len);
	size_t j = h & (s->cap - 1);
	struct seen_ent *e;
	for (;;) {
		e = &s->t[j];
		if (!e->h)
			break;
		if (e->h == h && e->team == team && e->kind == kind && e->gi == gi &&
		    e->len == len && memcmp(s->names.data + e->off, name, len) == 0) {
			if (e->type != SN_PROP_NONE || v->type == SN_JNULL ||
			    v->type == SN_JOBJECT || v->type == SN_JARRAY)
				return true; /* known */
			break;
		}
		j = (j + 1) & (s->cap - 1);
	}
	if (s->npending >= PENDING_MAX)
		return false;
	int type = sn_prop_detect_type(name, len, v, s->now_s);
	if (e->h) {
		if (type == SN_PROP_NONE)
			return true;
		e->type = (uint8_t)type; /* first typed value of a known name */
	} else {
		if (s->n >= SEEN_MAX)
			forget_all(s);
		if ((s->n + 1) * 2 > s->cap)
			return grow(s) && note(s, team, kind, gi, name, len, v);
		size_t off = s->names.len;
		if (sn_buf_append(&s->names, name, len))
			return false;
		*e = (struct seen_ent){.h = h,
				       .team = team,
				       .off = (uint32_t)off,
				       .len = (uint16_t)len,
				       .kind = (uint8_t)kind,
				       .gi = (int8_t)gi,
				       .type = (uint8_t)type};
		s->n++;
	}
	struct sn_propdef *d = &s->pending[s->npending++];
	memset(d, 0, sizeof(*d));
	d->team_id = team;
	d->kind = kind;
	d->group_type_index = gi;
	memcpy(d->name, name, len);
	d->name[len] = 0;
	d->property_type = type;
	d->is_numerical = type == SN_PROP_NUMERIC;
	return true;
}

/* The event members that are not event properties (property-defs-rs's
 * SKIP_PROPERTIES), and $elements and $elements_chain, which ingestion
 * removes before the event is stored (elements.c), so PostHog's
 * definitions never see them. */
static bool skipped(const char *n, size_t len)
{
	static const char *const skip[] = {"$set",     "$set_once", "$unset",	      "$groups",
					   "$group_0", "$group_1",  "$group_2",	      "$group_3",
					   "$group_4", "$elements", "$elements_chain"};
	if (len < 4 || len > 15 || n[0] != '$')
		return false;
	for (size_t i = 0; i < SN_ARRAY_LEN(skip); i++)
		if (strlen(skip[i]) == len && memcmp(skip[i], n, len) == 0)
			return true;
	return false;
}

void sn_propdefs_seen_prop(struct sn_propdefs_seen *s, int64_t team, int kind, int gi,
			   const struct sn_jspan *key, const struct sn_jspan *value)
{
	size_t len;
	const char *name;
	if (key->flags & SN_JSPAN_ESCAPED) {
		sn_buf_reset(&s->tmp);
		if (sn_jspan_unescape(key, &s->tmp)) {
			s->dropped = true;
			return;
		}
		name = s->tmp.data ? s->tmp.data : "";
		len = s->tmp.len;
	} else {
		name = sn_jspan_raw(key, &len);
	}
	if (kind == SN_PROPDEF_EVENT && skipped(name, len))
		return;
	if (!note(s, team, kind, gi, name, len, value))
		s->dropped = true;
}

void sn_propdefs_seen_object(struct sn_propdefs_seen *s, int64_t team, int kind, int gi,
			     const char *text, size_t len)
{
	struct sn_jscan sc;
	struct sn_jspan k, v;
	sn_jscan_init(&sc, text, len, NULL);
	if (sn_jscan_peek(&sc) != SN_JOBJECT || sn_jscan_enter(&sc))
		return;
	while (sn_jscan_next_key(&sc, &k) > 0) {
		if (sn_jscan_skip(&sc, &v))
			return;
		sn_propdefs_seen_prop(s, team, kind, gi, &k, &v);
	}
}

/* ---- key sets ------------------------------------------------------------------------ */

static uint64_t rd8(const char *p)
{
	uint64_t x;
	memcpy(&x, p, 8);
	return x;
}

static uint64_t rd4(const char *p)
{
	uint32_t x;
	memcpy(&x, p, 4);
	return x;
}

/* A multiply per 8 bytes of the raw name (overlapping loads, no partial
 * copies: this runs for every member of every event); the event's sum is
 * mixed once, in set_known. */
uint64_t sn_propdefs_member_mix(const struct sn_jspan *key, const struct sn_jspan *value)
{
	const uint64_t P = 0x9E3779B97F4A7C15ull;
	const char *p = key->p;
	size_t n = key->len; /* with its quotes: at least 2 */
	uint64_t h = ((uint64_t)n << 8 | value->type) * P;
	if (n >= 8) {
		for (; n > 8; p += 8, n -= 8)
			h = (h ^ rd8(p)) * P;
		h = (h ^ rd8(p + n - 8)) * P;
	} else if (n >= 4) {
		h = (h ^ (rd4(p) | rd4(p + n - 4) << 32)) * P;
	} else {
		h = (h ^ ((uint64_t)(uint8_t)p[0] | (uint64_t)(uint8_t)p[n / 2] << 8 |
			  (uint64_t)(uint8_t)p[n - 1] << 16)) *
		    P;
	}
	return h ^ (h >> 29);
}

bool sn_propdefs_seen_set_known(struct sn_propdefs_seen *s, uint64_t fp)
{
	s->dropped = false;
	fp = sn_mix64(fp);
	fp = fp ? fp : 1;
	for (size_t j = fp & (SETS_CAP - 1);; j = (j + 1) & (SETS_CAP - 1)) {
		if (s->sets[j] == fp)
			return true;
		if (!s->sets[j])
			return false;
	}
}

void sn_propdefs_seen_set_done(struct sn_propdefs_seen *s, uint64_t fp)
{
	if (s->dropped)
		return; /* a member was not noted: look at this set again next time */
	fp = sn_mix64(fp);
	fp = fp ? fp : 1;
	if ((s->nsets + 1) * 2 > SETS_CAP) {
		memset(s->sets, 0, SETS_CAP * sizeof(*s->sets));
		s->nsets = 0;
	}
	size_t j = fp & (SETS_CAP - 1);
	while (s->sets[j] && s->sets[j] != fp)
		j = (j + 1) & (SETS_CAP - 1);
	if (!s->sets[j]) {
		s->sets[j] = fp;
		s->nsets++;
	}
}

size_t sn_propdefs_seen_pending(const struct sn_propdefs_seen *s)
{
	return s->npending;
}

int sn_propdefs_seen_flush(struct sn_propdefs_seen *s, struct sn_meta *meta, struct sn_err *err)
{
	s->now_s = (int64_t)time(NULL);
	if (!s->npending)
		return 0;
	size_t n = s->npending;
	s->npending = 0;
	return meta ? sn_meta_propdefs_record(meta, s->pending, n, err) : 0;
}
