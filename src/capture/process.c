/*
 * process.c — one capture request from decoded JSON to WAL records
 * (spec/posthog-wire.md §1.2 step 7, §1.3–§1.5, §1.8–§1.9).
 *
 * All-or-nothing, as PostHog's capture: a batch with one bad event is refused
 * whole with a message naming the event's index, and nothing of it reaches
 * the WAL. Order of checks follows capture: decode → parse → shape → token
 * (401) → per-event fields (400).
 *
 * Three phases, one pass over the body:
 *
 *   1. scan   jsonscan.c validates the whole text once and, on the way, notes
 *             for each event the spans of the few fields capture reads
 *             (struct event: ~20 spans into the text, one array a request);
 *             the event object's own span is kept too;
 *   2. token  from the root or the events' spans (401s), then the resolver;
 *   3. build  per event: check the fields (400s) and append its record
 *             straight to out->data. A failure discards every record built
 *             so far, which is what all-or-nothing needs, so nothing is
 *             computed twice.
 *
 * The record's "data" is the event object's bytes exactly as received (the
 * scanner validated them, so they are JSON); capture's own fields sit beside
 * it. In front of the JSON goes its index (wal/evindex.h): where the record's
 * fields are, and for a compact properties object the length of each key
 * and value, which scan_props notes while it walks the members anyway (one
 * array a request, struct event's mi_first), so the store sink need not scan
 * the record again. A recording's snapshot_items are the bytes inside each $snapshot_data
 * array (or the object), also verbatim. Duplicate keys: the last one wins,
 * as with json-c. Nothing is allocated per event, except for the rare
 * distinct_id that is an object or array, which goes through json-c to be
 * re-serialised with sorted keys.
 *
 * Rejected alternative: the json-c DOM this file used before — parse the body
 * into json_objects, validate every event, then look every field up again and
 * re-serialise each event with json-c. Measured with bench/capture/micro.c
 * on the bench bodies (100 posthog-node events, ~690 bytes each, one core,
 * decoding included): ~115k events/s with json-c, ~1.25M events/s with the
 * scanner and verbatim "data". What is left is mostly the scan itself, the
 * copies (decode's and the record's) and per-event uuid/time formatting.
 */
#include "capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal/evindex.h"

#define MAX_DISTINCT_ID_CHARS 200
#define FUTURE_YEAR_2021_MS   1609459200000LL

void sn_capture_batch_init(struct sn_capture_batch *b)
{
	memset(b, 0, sizeof(*b));
	sn_buf_init(&b->data, 0);
}

void sn_capture_batch_release(struct sn_capture_batch *b)
{
	sn_buf_release(&b->data);
	free(b->off);
	free(b->len);
	memset(b, 0, sizeof(*b));
}

static int batch_reserve(struct sn_capture_batch *b, size_t more)
{
	if (b->n + more <= b->cap)
		return 0;
	size_t ncap = b->cap ? b->cap : 16;
	while (ncap < b->n + more)
		ncap *= 2;
	uint32_t *o = realloc(b->off, ncap * sizeof(*o));
	if (!o)
		return SN_ERR_NOMEM;
	b->off = o;
	uint32_t *l = realloc(b->len, ncap * sizeof(*l));
	if (!l)
		return SN_ERR_NOMEM;
	b->len = l;
	b->cap = ncap;
	return 0;
}

static int batch_push(struct sn_capture_batch *b, size_t start)
{
	int rc = batch_reserve(b, 1);
	if (rc)
		return rc;
	if (b->data.len > UINT32_MAX)
		return SN_ERR_TOO_BIG;
	b->off[b->n] = (uint32_t)start;
	b->len[b->n] = (uint32_t)(b->data.len - start);
	b->n++;
	return 0;
}

/* ---- distinct_id -------------------------------------------------------------------- */

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Compact JSON with object keys sorted (serde_json's map order). */
static int append_sorted_json(struct sn_buf *out, struct json_object *v, int depth)
{
	if (depth > 64)
		return SN_ERR_INVALID;
	if (json_object_is_type(v, json_type_object)) {
		size_t n = (size_t)json_object_object_length(v), i = 0;
		const char **keys = n ? malloc(n * sizeof(*keys)) : NULL;
		if (n && !keys)
			return SN_ERR_NOMEM;
		json_object_object_foreach(v, k, val)
		{
			(void)val;
			keys[i++] = k;
		}
		if (n > 1) /* an empty object has no key array to sort (qsort wants one) */
			qsort(keys, n, sizeof(*keys), cmp_keys);
		int rc = sn_buf_appendc(out, '{');
		for (i = 0; i < n && !rc; i++) {
			if (i)
				rc = sn_buf_appendc(out, ',');
			if (!rc)
				rc = sn_buf_append_json_str(out, keys[i], strlen(keys[i]));
			if (!rc)
				rc = sn_buf_appendc(out, ':');
			if (!rc)
				rc = append_sorted_json(out, json_object_object_get(v, keys[i]),
							depth + 1);
		}
		free(keys);
		return rc ? rc : sn_buf_appendc(out, '}');
	}
	if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		int rc = sn_buf_appendc(out, '[');
		for (size_t i = 0; i < n && !rc; i++) {
			if (i)
				rc = sn_buf_appendc(out, ',');
			if (!rc)
				rc = append_sorted_json(out, json_object_array_get_idx(v, i),
							depth + 1);
		}
		return rc ? rc : sn_buf_appendc(out, ']');
	}
	return sn_json_append(out, v);
}

/* Whether s[0..n) is nothing but Unicode White_Space (Rust's
 * char::is_whitespace, which capture's str::trim uses). An ordinary id
 * answers at its first byte. */
static bool all_white_space(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || (c >= 0x09 && c <= 0x0d)) {
			i++;
			continue;
		}
		if (c < 0xc2 || c > 0xe3)
			return false;
		uint32_t cp;
		size_t k = sn_utf8_decode((const unsigned char *)s + i, n - i, &cp);
		if (!k ||
		    !(cp == 0x85 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
		      cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000))
			return false;
		i += k;
	}
	return true;
}

/* Copies at most 200 Unicode scalars of valid UTF-8 s, NUL → U+FFFD.
 * SN_ERR_INVALID when s is empty or only white space: capture takes such
 * an id for a missing one (RawEvent::extract_distinct_id trims to check). */
static int append_truncated(const char *s, size_t n, struct sn_buf *out)
{
	size_t start = out->len, chars = 0;
	int rc;
	if (all_white_space(s, n))
		return SN_ERR_INVALID;
	for (size_t i = 0; i < n && chars < MAX_DISTINCT_ID_CHARS; chars++) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (i + k > n)
			k = n - i;
		if (c == 0)
			rc = sn_buf_append(out, "\xef\xbf\xbd", 3);
		else
			rc = sn_buf_append(out, s + i, k);
		if (rc)
			return rc;
		i += k;
	}
	return out->len == start ? SN_ERR_INVALID : 0;
}

int sn_capture_distinct_id(struct json_object *v, struct sn_buf *out)
{
	struct sn_buf raw;
	const char *s;
	size_t n;
	int rc = 0;
	sn_buf_init(&raw, 0);
	if (!v)
		return SN_ERR_INVALID;
	if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
	} else {
		if ((rc = append_sorted_json(&raw, v, 0)))
			goto out;
		s = raw.data;
		n = raw.len;
	}
	rc = append_truncated(s, n, out);
out:
	sn_buf_release(&raw);
	return rc;
}

/* The same rules on a scanned value (not null). tmp is scratch space. */
static int distinct_id_of_span(const struct sn_jspan *v, struct sn_buf *out, struct sn_buf *tmp)
{
	size_t n;
	const char *s;
	int rc;
	sn_buf_reset(tmp);
	switch (v->type) {
	case SN_JSTRING:
		if (!(v->flags & SN_JSPAN_ESCAPED)) {
			s = sn_jspan_raw(v, &n);
			return append_truncated(s, n, out);
		}
		if ((rc = sn_jspan_unescape(v, tmp)))
			return rc;
		return append_truncated(tmp->data, tmp->len, out);
	case SN_JNUMBER: return append_truncated(v->p, v->len, out); /* the text as sent */
	case SN_JTRUE: return sn_buf_appends(out, "true");
	case SN_JFALSE: return sn_buf_appends(out, "false");
	case SN_JOBJECT:
	case SN_JARRAY: {
		/* Rare: let json-c build the tree to sort the keys. */
		struct json_object *o;
		if ((rc = sn_json_parse(v->p, v->len, &o, NULL)))
			return rc;
		rc = append_sorted_json(tmp, o, 0);
		json_object_put(o);
		return rc ? rc : append_truncated(tmp->data, tmp->len, out);
	}
	default: return SN_ERR_INVALID;
	}
}

/* ---- tokens ------------------------------------------------------------------------ */

const char *sn_capture_token_invalid(const char *tok, size_t len)
{
	if (len == 0)
		return "token is empty";
	if (len > 64)
		return "token is longer than 64 characters";
	if (len >= 4 && memcmp(tok, "phx_", 4) == 0)
		return "a personal API key (phx_...) was sent where the project token belongs; "
		       "use the project API key (phc_...)";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)tok[i];
		if (c == 0)
			return "token contains a NUL character";
		if (c >= 0x80)
			return "token contains non-ASCII characters";
	}
	return NULL;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\n' ||
		      (*s)[*n - 1] == '\r'))
		(*n)--;
}

/* Decoded contents of a string span: in the text when it has no escapes,
 * else decoded into tmp (reset first). */
static int str_of(const struct sn_jspan *v, struct sn_buf *tmp, const char **s, size_t *n)
{
	if (!(v->flags & SN_JSPAN_ESCAPED)) {
		*s = sn_jspan_raw(v, n);
		return 0;
	}
	sn_buf_reset(tmp);
	int rc = sn_jspan_unescape(v, tmp);
	*s = tmp->data ? tmp->data : "";
	*n = tmp->len;
	return rc;
}

/* Appends a string span as a JSON string literal, as sn_buf_append_json_str
 * would write its decoded contents: verbatim when it has no escapes (its
 * bytes then need none), else decoded and re-escaped. */
static int append_str_span(struct sn_buf *b, const struct sn_jspan *v, struct sn_buf *tmp)
{
	if (!(v->flags & SN_JSPAN_ESCAPED))
		return sn_buf_append(b, v->p, v->len);
	const char *s;
	size_t n;
	int rc = str_of(v, tmp, &s, &n);
	return rc ? rc : sn_buf_append_json_str(b, s, n);
}

/* ---- phase 1: scanning ---------------------------------------------------------------- */

/* The members capture reads. Event members first, then properties.*, then
 * the root-only members of a {batch: [...]} body. */
enum {
	F_EVENT,
	F_DISTINCT_ID,
	F_DOLLAR_DISTINCT_ID,
	F_UUID,
	F_TIMESTAMP,
	F_OFFSET,
	F_TOKEN,
	F_DOLLAR_TOKEN,
	F_API_KEY,
	F_PROPERTIES,
	P_FIRST,
	P_TOKEN = P_FIRST,
	P_DISTINCT_ID,
	P_COOKIELESS,
	P_IGNORE_SENT_AT,
	P_SESSION_ID,
	P_WINDOW_ID,
	P_SNAPSHOT_DATA,
	P_SNAPSHOT_SOURCE,
	P_LIB,
	NFIELDS,
	R_BATCH = NFIELDS,
	R_SENT_AT,
	R_HISTORICAL,
	E_SET, /* "$set" and "$set_once" of an event: only noted (SN_EVIX_ROOT_SET) */
};

/* One event: its bytes and the spans of the members above (SN_JNONE when
 * absent; properties.* only while the last "properties" is an object). */
struct event {
	struct sn_jspan obj;
	struct sn_jspan f[NFIELDS];
	/* For the record's index (wal/evindex.h): the properties' member table
	 * (scan.mi[mi_first .. mi_first + 2 * nmi)), valid while mi_ok; how
	 * many "properties" members the event has; a "$set"/"$set_once". */
	uint32_t mi_first, nmi;
	bool mi_ok, root_set;
	uint8_t nprops;
};

struct keydef {
	const char *name;
	uint8_t len;
	uint8_t field;
};

#define KEY(s, f)                   \
	{                           \
		s, sizeof(s) - 1, f \
	}
static const struct keydef root_keys[] = {
    KEY("event", F_EVENT),
    KEY("distinct_id", F_DISTINCT_ID),
    KEY("$distinct_id", F_DOLLAR_DISTINCT_ID),
    KEY("uuid", F_UUID),
    KEY("timestamp", F_TIMESTAMP),
    KEY("offset", F_OFFSET),
    KEY("token", F_TOKEN),
    KEY("$token", F_DOLLAR_TOKEN),
    KEY("api_key", F_API_KEY),
    KEY("properties", F_PROPERTIES),
    KEY("$set", E_SET),
    KEY("$set_once", E_SET),
    /* root only: */
    KEY("batch", R_BATCH),
    KEY("sent_at", R_SENT_AT),
    KEY("historical_migration", R_HISTORICAL),
};
#define NEVENT_KEYS (SN_ARRAY_LEN(root_keys) - 3)
static const struct keydef prop_keys[] = {
    KEY("token", P_TOKEN),
    KEY("distinct_id", P_DISTINCT_ID),
    KEY("$cookieless_mode", P_COOKIELESS),
    KEY("$ignore_sent_at", P_IGNORE_SENT_AT),
    KEY("$session_id", P_SESSION_ID),
    KEY("$window_id", P_WINDOW_ID),
    KEY("$snapshot_data", P_SNAPSHOT_DATA),
    KEY("$snapshot_source", P_SNAPSHOT_SOURCE),
    KEY("$lib", P_LIB),
};
#undef KEY

/* Bit n set: some key of the table has n bytes (all are < 64). A key of any
 * other length — most property keys — is dismissed with one test. */
static uint64_t key_lengths(const struct keydef *tab, size_t n)
{
	uint64_t m = 0;
	for (size_t i = 0; i < n; i++)
		m |= 1ULL << tab[i].len;
	return m;
}

static int find_key(const struct keydef *tab, size_t ntab, uint64_t lens, const struct sn_jspan *k)
{
	if (k->flags & SN_JSPAN_ESCAPED) {
		for (size_t i = 0; i < ntab; i++)
			if (sn_jspan_str_eq(k, tab[i].name, tab[i].len))
				return tab[i].field;
		return -1;
	}
	size_t n = k->len - 2;
	const char *s = k->p + 1;
	if (n >= 64 || !(lens >> n & 1))
		return -1;
	for (size_t i = 0; i < ntab; i++)
		if (tab[i].len == n && memcmp(tab[i].name, s, n) == 0)
			return tab[i].field;
	return -1;
}

enum shape { SHAPE_SCALAR, SHAPE_ARRAY, SHAPE_OBJECT };

struct scan {
	struct sn_jscan js;
	uint64_t root_lens, event_lens, prop_lens;
	enum shape shape;
	struct event root;	    /* the root object as an event */
	struct sn_jspan sent_at;    /* root members of {batch: [...]} */
	struct sn_jspan historical; /* ditto */
	bool batch_array;	    /* the root's (last) "batch" is an array */
	/* Elements of the top-level array or of the root's last "batch": */
	struct event *ev; /* the objects among them */
	size_t nev, evcap;
	uint16_t *mi; /* the events' member tables (struct event's mi_first) */
	size_t nmi, micap;
	size_t nelem;	  /* all of them */
	size_t first_bad; /* index of the first non-object, SIZE_MAX if none */
};

/* One entry of the member table: a length and its flag bit (lengths past
 * the table's are caught by the caller). */
static inline uint16_t mi_entry(const struct sn_jspan *v)
{
	return (uint16_t)((v->len & SN_EVIX_LEN_MAX) | (v->flags != 0) << 15);
}

/* The properties object the cursor is at ('{'): the keys capture reads,
 * and the member table of the record's index while the object is compact
 * (wal/evindex.h; the store sink walks it instead of scanning again). */
static int scan_props(struct scan *sc, struct event *ev)
{
	struct sn_jscan *s = &sc->js;
	struct sn_jspan k, v;
	int r, rc;
	const char *start = s->p;
	if ((rc = sn_jscan_enter(s)))
		return rc;
	ev->mi_first = (uint32_t)sc->nmi;
	ev->nmi = 0;
	/* The object is compact when its length is the least its members
	 * allow; lengths past the table's are seen in their OR. */
	uint64_t sum = 0;
	uint32_t lens = 0;
	size_t n = sc->nmi; /* in locals: the stores to mi cannot touch them */
	uint16_t *mi = sc->mi;
	while ((r = sn_jscan_next_key(s, &k)) > 0) {
		int f = find_key(prop_keys, SN_ARRAY_LEN(prop_keys), sc->prop_lens, &k);
		if ((rc = sn_jscan_skip(s, &v)))
			return rc;
		if (f >= 0)
			ev->f[f] = v;
		if (n + 2 > sc->micap) {
			size_t cap = sc->micap ? 2 * sc->micap : 1024;
			uint16_t *m = realloc(sc->mi, cap * sizeof(*m));
			if (!m)
				return SN_ERR_NOMEM;
			mi = sc->mi = m;
			sc->micap = cap;
		}
		mi[n] = mi_entry(&k);
		mi[n + 1] = mi_entry(&v);
		n += 2;
		sum += k.len + v.len;
		lens |= k.len | v.len;
	}
	size_t members = (n - ev->mi_first) / 2;
	/* '{', each key ':' value, a ',' between two, '}' */
	size_t least = 2 + sum + (members ? 2 * members - 1 : 0);
	ev->mi_ok = r == 0 && (size_t)(s->p - start) == least && lens <= SN_EVIX_LEN_MAX &&
		    members <= SN_EVIX_MEMBERS_MAX;
	ev->nmi = ev->mi_ok ? (uint32_t)members : 0;
	sc->nmi = ev->mi_ok ? n : ev->mi_first;
	return r;
}

static int scan_elements(struct scan *sc);

/* The members of the object the cursor is at. */
static int scan_object(struct scan *sc, struct event *ev, bool root)
{
	struct sn_jscan *s = &sc->js;
	struct sn_jspan k, v;
	const char *start;
	int r, rc, t;
	if ((rc = sn_jscan_peek(s)) < 0)
		return rc;
	start = s->p;
	if ((rc = sn_jscan_enter(s)))
		return rc;
	while ((r = sn_jscan_next_key(s, &k)) > 0) {
		int f = root ? find_key(root_keys, SN_ARRAY_LEN(root_keys), sc->root_lens, &k)
			     : find_key(root_keys, NEVENT_KEYS, sc->event_lens, &k);
		if (f == E_SET) {
			ev->root_set = true;
			f = -1;
		} else if (f == F_PROPERTIES) {
			if (ev->nprops < UINT8_MAX)
				ev->nprops++;
			ev->mi_ok = false;
			memset(&ev->f[P_FIRST], 0, sizeof(ev->f[0]) * (NFIELDS - P_FIRST));
			if ((t = sn_jscan_peek(s)) < 0)
				return t;
			if (t == SN_JOBJECT) {
				const char *pstart = s->p;
				if ((rc = scan_props(sc, ev)))
					return rc;
				ev->f[F_PROPERTIES] =
				    (struct sn_jspan){.p = pstart,
						      .len = (uint32_t)(s->p - pstart),
						      .type = SN_JOBJECT};
				continue;
			}
		} else if (f == R_BATCH) {
			if ((t = sn_jscan_peek(s)) < 0)
				return t;
			sc->batch_array = t == SN_JARRAY;
			if (t == SN_JARRAY) {
				if ((rc = scan_elements(sc)))
					return rc;
				continue;
			}
		}
		if ((rc = sn_jscan_skip(s, &v)))
			return rc;
		if (f >= 0 && f < NFIELDS)
			ev->f[f] = v;
		else if (f == R_SENT_AT)
			sc->sent_at = v;
		else if (f == R_HISTORICAL)
			sc->historical = v;
	}
	if (r < 0)
		return r;
	ev->obj =
	    (struct sn_jspan){.p = start, .len = (uint32_t)(s->p - start), .type = SN_JOBJECT};
	return 0;
}

/* The elements of the array the cursor is at: each is an event. */
static int scan_elements(struct scan *sc)
{
	struct sn_jscan *s = &sc->js;
	struct sn_jspan v;
	int r, rc, t;
	sc->nev = sc->nelem = 0;
	sc->first_bad = SIZE_MAX;
	if ((rc = sn_jscan_enter(s)))
		return rc;
	while ((r = sn_jscan_next_elem(s)) > 0) {
		if ((t = sn_jscan_peek(s)) < 0)
			return t;
		if (t != SN_JOBJECT) {
			if ((rc = sn_jscan_skip(s, &v)))
				return rc;
			if (sc->first_bad == SIZE_MAX)
				sc->first_bad = sc->nelem;
			sc->nelem++;
			continue;
		}
		if (sc->nev == sc->evcap) {
			size_t ncap = sc->evcap ? sc->evcap * 2 : 64;
			struct event *e = realloc(sc->ev, ncap * sizeof(*e));
			if (!e)
				return SN_ERR_NOMEM;
			sc->ev = e;
			sc->evcap = ncap;
		}
		struct event *ev = &sc->ev[sc->nev];
		memset(ev, 0, sizeof(*ev));
		if ((rc = scan_object(sc, ev, false)))
			return rc;
		sc->nev++;
		sc->nelem++;
	}
	return r;
}

static int scan_body(struct scan *sc, const char *text, size_t len, struct sn_err *err)
{
	struct sn_jspan v;
	int t, rc;
	sc->root_lens = key_lengths(root_keys, SN_ARRAY_LEN(root_keys));
	sc->event_lens = key_lengths(root_keys, NEVENT_KEYS);
	sc->prop_lens = key_lengths(prop_keys, SN_ARRAY_LEN(prop_keys));
	sc->first_bad = SIZE_MAX;
	sn_jscan_init(&sc->js, text, len, err);
	if ((t = sn_jscan_peek(&sc->js)) < 0)
		return t;
	if (t == SN_JARRAY) {
		sc->shape = SHAPE_ARRAY;
		rc = scan_elements(sc);
	} else if (t == SN_JOBJECT) {
		sc->shape = SHAPE_OBJECT;
		rc = scan_object(sc, &sc->root, true);
	} else {
		sc->shape = SHAPE_SCALAR;
		rc = sn_jscan_skip(&sc->js, &v);
	}
	return rc ? rc : sn_jscan_finish(&sc->js);
}

/* ---- the request -------------------------------------------------------------------- */

struct ctx {
	const struct sn_capture_request *req;
	struct sn_capture_batch *out;
	unsigned *status;
	struct sn_err *err;
	bool has_sent_at;
	int64_t sent_at_us;
	bool historical;
	/* Record pieces that are the same for every event of the request:
	 * mid = ,"ip":..,"team_id":..,"token":..,"timestamp":"
	 * tail = ","now":".."[,"sent_at":".."]    (closes the timestamp) */
	struct sn_buf mid, tail;
	/* Where mid's ip and team_id values are, and tail's now (for the
	 * index); whether the ip's literal has an escape. */
	uint32_t ip_off, ip_len, team_off, team_len, now_off, now_len;
	bool ip_esc;
	/* The current event's distinct_id as a JSON string literal: either in
	 * the text (a plain string short enough not to need truncation) or in
	 * didjson. */
	const char *did;
	size_t didlen;
	bool did_esc;				    /* it has a backslash escape */
	struct sn_buf tmp, dids, didjson, namejson; /* scratch */
	const struct scan *scan;		    /* the events' member tables */
};

static int fail(struct ctx *c, unsigned status, const char *reason, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(struct ctx *c, unsigned status, const char *reason, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (c->err) {
		vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
		c->err->code = code;
	}
	va_end(ap);
	*c->status = status;
	c->out->reason = reason;
	return code;
}

/* "event 12: " for messages about one event of several, "" for a single
 * event. Without snprintf: it runs for every event, failing or not. */
static const char *field_name(size_t nevents, size_t i, char buf[48])
{
	char digits[24], *d = digits + sizeof(digits);
	if (nevents <= 1)
		return "";
	do {
		*--d = (char)('0' + i % 10);
		i /= 10;
	} while (i);
	size_t nd = (size_t)(digits + sizeof(digits) - d);
	memcpy(buf, "event ", 6);
	memcpy(buf + 6, d, nd);
	memcpy(buf + 6 + nd, ": ", 3);
	return buf;
}

static inline bool absent(const struct sn_jspan *v)
{
	return v->type == SN_JNONE || v->type == SN_JNULL;
}

static void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* sn_time_format_rfc3339's "YYYY-MM-DDTHH:MM:SS.mmmZ" without snprintf,
 * which is slow enough to show per event; other years go to it. */
static void format_time(int64_t us, char out[32])
{
	int64_t days = us / 86400000000LL, y;
	unsigned m, d;
	if (us < 0) {
		sn_time_format_rfc3339(us, out);
		return;
	}
	sn_civil_from_days(days, &y, &m, &d);
	if (y > 9999) {
		sn_time_format_rfc3339(us, out);
		return;
	}
	unsigned sod = (unsigned)(us / 1000000 - days * 86400),
		 ms = (unsigned)(us % 1000000 / 1000);
	put2(out, (unsigned)y / 100);
	put2(out + 2, (unsigned)y % 100);
	out[4] = '-';
	put2(out + 5, m);
	out[7] = '-';
	put2(out + 8, d);
	out[10] = 'T';
	put2(out + 11, sod / 3600);
	out[13] = ':';
	put2(out + 14, sod / 60 % 60);
	out[16] = ':';
	put2(out + 17, sod % 60);
	out[19] = '.';
	out[20] = (char)('0' + ms / 100);
	put2(out + 21, ms % 100);
	out[23] = 'Z';
	out[24] = 0;
}

/* Writes the per-request record pieces (see struct ctx). */
static int build_common(struct ctx *c)
{
	char now[32], sent[32];
	const char *ip = c->req->ip ? c->req->ip : "";
	struct sn_buf *m = &c->mid, *t = &c->tail;
	int rc = sn_buf_appends(m, ",\"ip\":");
	c->ip_off = (uint32_t)m->len;
	rc = rc ? rc : sn_buf_append_json_str(m, ip, strlen(ip));
	c->ip_len = (uint32_t)(m->len - c->ip_off);
	c->ip_esc = rc == 0 && memchr(m->data + c->ip_off, '\\', c->ip_len) != NULL;
	rc = rc ? rc : sn_buf_appends(m, ",\"team_id\":");
	c->team_off = (uint32_t)m->len;
	rc = rc ? rc : sn_buf_appendf(m, "%lld", (long long)c->out->team_id);
	c->team_len = (uint32_t)(m->len - c->team_off);
	rc = rc ? rc : sn_buf_appends(m, ",\"token\":");
	rc = rc ? rc : sn_buf_append_json_str(m, c->out->token, strlen(c->out->token));
	rc = rc ? rc : sn_buf_appends(m, ",\"timestamp\":\"");
	sn_time_format_rfc3339(c->req->now_us, now);
	rc = rc ? rc : sn_buf_appendf(t, "\",\"now\":\"%s\"", now);
	c->now_off = 8; /* past '",' '"now":' */
	c->now_len = (uint32_t)strlen(now) + 2;
	if (!rc && c->has_sent_at) {
		sn_time_format_rfc3339(c->sent_at_us, sent);
		rc = sn_buf_appendf(t, ",\"sent_at\":\"%s\"", sent);
	}
	return rc;
}

static inline char *put(char *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* Where append_record put the fields of the record's index (offsets from
 * the JSON's '{'). */
struct rec_pos {
	uint32_t off[SN_EVIX_NSPANS], len[SN_EVIX_NSPANS];
	uint32_t more[8]; /* where each of more[] starts */
};

/* Appends one record: head bytes left for an index (0: none), then the
 * start every record shares ({"uuid",...,"now","sent_at"?), then the
 * literal JSON members in more[] (NULL-terminated pairs of pointer and
 * length; at most 8). One reservation, then copies: this runs per event.
 * pos (may be NULL) receives where the fields went. */
static int append_record(struct ctx *c, size_t head, const char uuid[37], int64_t ts_us,
			 const char *const *more, const size_t *morelen, struct rec_pos *pos)
{
	struct sn_buf *b = &c->out->data;
	char ts[32];
	format_time(ts_us, ts);
	size_t tslen = strlen(ts),
	       need = head + 9 + 36 + 16 + c->didlen + c->mid.len + tslen + c->tail.len;
	for (size_t i = 0; more[i]; i++)
		need += morelen[i];
	int rc = sn_buf_reserve(b, need);
	if (rc)
		return rc;
	char *p = b->data + b->len + head, *j = p;
	p = put(p, "{\"uuid\":\"", 9);
	p = put(p, uuid, 36);
	p = put(p, "\",\"distinct_id\":", 16);
	uint32_t did = (uint32_t)(p - j);
	p = put(p, c->did, c->didlen);
	uint32_t mid = (uint32_t)(p - j);
	p = put(p, c->mid.data, c->mid.len);
	p = put(p, ts, tslen);
	uint32_t tail = (uint32_t)(p - j);
	p = put(p, c->tail.data, c->tail.len);
	for (size_t i = 0; more[i]; i++) {
		if (pos)
			pos->more[i] = (uint32_t)(p - j);
		p = put(p, more[i], morelen[i]);
	}
	b->len = (size_t)(p - b->data);
	*p = 0;
	if (pos) {
		static const uint8_t at[] = {SN_EVIX_UUID,    SN_EVIX_DISTINCT_ID, SN_EVIX_IP,
					     SN_EVIX_TEAM_ID, SN_EVIX_TIMESTAMP,   SN_EVIX_NOW};
		const uint32_t off[] = {8,
					did,
					mid + c->ip_off,
					mid + c->team_off,
					mid + (uint32_t)c->mid.len - 1,
					tail + c->now_off},
			       len[] = {38,	     (uint32_t)c->didlen, c->ip_len,
					c->team_len, (uint32_t)tslen + 2, c->now_len};
		for (size_t i = 0; i < SN_ARRAY_LEN(at); i++) {
			pos->off[at[i]] = off[i];
			pos->len[at[i]] = len[i];
		}
	}
	return 0;
}

/* Timestamp of one event per §1.5. Returns 0 or a 400. */
static int event_time(struct ctx *c, const struct event *ev, const char *pfx, int64_t *out)
{
	bool has_ts = false, has_off = false;
	int64_t ts_us = 0, off_ms = 0;
	const struct sn_jspan *t = &ev->f[F_TIMESTAMP], *o = &ev->f[F_OFFSET];
	if (t->type == SN_JSTRING) {
		const char *s;
		size_t n;
		if (str_of(t, &c->tmp, &s, &n) == 0)
			has_ts = sn_capture_parse_timestamp(s, n, &ts_us) == 0;
	} else if (t->type == SN_JNUMBER) {
		char tmp[48];
		size_t n = t->len < sizeof(tmp) - 1 ? t->len : sizeof(tmp) - 1;
		memcpy(tmp, t->p, n);
		tmp[n] = 0;
		has_ts = sn_capture_parse_timestamp(tmp, n, &ts_us) == 0;
	}
	if (!absent(o)) {
		if (sn_jspan_int64(o, &off_ms))
			return fail(c, 400, "invalid_offset", SN_ERR_INVALID,
				    "failed to parse request: %soffset must be an integer number "
				    "of milliseconds",
				    pfx);
		has_off = true;
	}
	bool use_sent_at = c->has_sent_at && ev->f[P_IGNORE_SENT_AT].type != SN_JTRUE;
	*out = sn_capture_compute_timestamp(c->req->now_us, has_ts, ts_us, use_sent_at,
					    c->sent_at_us, has_off, off_ms);
	return 0;
}

/* Already in the canonical form sn_uuid_format writes? */
static bool uuid_canonical(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char ch = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (ch != '-')
				return false;
		} else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
			return false;
		}
	}
	return true;
}

/* The event's uuid in canonical text (a v7 when it has none). */
static int event_uuid(struct ctx *c, const struct event *ev, const char *pfx, char out[37])
{
	const struct sn_jspan *v = &ev->f[F_UUID];
	struct sn_uuid u;
	if (absent(v))
		goto generate;
	if (v->type != SN_JSTRING)
		return fail(c, 400, "invalid_uuid", SN_ERR_INVALID,
			    "failed to parse request: %suuid must be a string", pfx);
	const char *s;
	size_t n;
	int rc = str_of(v, &c->tmp, &s, &n);
	if (rc)
		return fail(c, 413, "too_big", rc, "maximum event size exceeded");
	if (n == 0)
		goto generate;
	if (uuid_canonical(s, n)) {
		memcpy(out, s, 36);
		out[36] = 0;
		return 0;
	}
	/* Rust's Uuid::parse_str, which capture uses, also takes the braced
	 * ("{…}") and URN ("urn:uuid:…") spellings of the hyphenated form. */
	const char *h = s;
	size_t hn = n;
	if (n == 38 && s[0] == '{' && s[37] == '}') {
		h = s + 1;
		hn = 36;
	} else if (n == 45 && memcmp(s, "urn:uuid:", 9) == 0) {
		h = s + 9;
		hn = 36;
	}
	if (sn_uuid_parse(h, hn, &u))
		return fail(c, 400, "invalid_uuid", SN_ERR_INVALID,
			    "failed to parse request: %suuid '%.*s' is not a valid UUID", pfx,
			    (int)(n > 64 ? 64 : n), s);
	sn_uuid_format(&u, out);
	return 0;
generate:
	sn_uuid_v7(&u, c->req->now_us);
	sn_uuid_format(&u, out);
	return 0;
}

/* distinct_id, else $distinct_id, else properties.distinct_id, as a JSON
 * string literal into c->did. */
static int event_distinct_id(struct ctx *c, const struct event *ev, const char *pfx)
{
	const struct sn_jspan *v = &ev->f[F_DISTINCT_ID];
	int rc;
	if (absent(v))
		v = &ev->f[F_DOLLAR_DISTINCT_ID];
	if (absent(v))
		v = &ev->f[P_DISTINCT_ID];
	if (absent(v))
		goto missing;
	/* The common case: a plain string, not empty, too short to truncate. */
	if (v->type == SN_JSTRING && !(v->flags & SN_JSPAN_ESCAPED) && v->len > 2 &&
	    v->len - 2 <= MAX_DISTINCT_ID_CHARS && !all_white_space(v->p + 1, v->len - 2)) {
		c->did = v->p;
		c->didlen = v->len;
		c->did_esc = false;
		return 0;
	}
	sn_buf_reset(&c->dids);
	sn_buf_reset(&c->didjson);
	if (distinct_id_of_span(v, &c->dids, &c->tmp))
		goto missing;
	if ((rc = sn_buf_append_json_str(&c->didjson, c->dids.data, c->dids.len)))
		return fail(c, 413, "too_big", rc, "maximum event size exceeded");
	c->did = c->didjson.data;
	c->didlen = c->didjson.len;
	c->did_esc = memchr(c->did, '\\', c->didlen) != NULL;
	return 0;
missing:
	return fail(c, 400, "missing_distinct_id", SN_ERR_INVALID,
		    "%sevent submitted without a distinct_id", pfx);
}

static int check_cookieless(struct ctx *c, const struct event *ev, const char *pfx)
{
	uint8_t t = ev->f[P_COOKIELESS].type;
	if (t != SN_JNONE && t != SN_JNULL && t != SN_JTRUE && t != SN_JFALSE)
		return fail(c, 400, "invalid_cookieless_mode", SN_ERR_INVALID,
			    "failed to parse request: %sproperties.$cookieless_mode must be a "
			    "boolean",
			    pfx);
	return 0;
}

static bool is_engage(const char *path)
{
	return path && sn_str_has_prefix(path, "/engage");
}

/* The index of an event's record (wal/evindex.h), at the head bytes
 * append_record left before it; the event name's literal has litlen bytes
 * and lit_esc tells whether it has an escape. */
static void put_index(struct ctx *c, const struct event *ev, char *head, bool members, bool lit_esc,
		      size_t litlen, struct rec_pos *pos)
{
	const struct sn_jspan *props = &ev->f[F_PROPERTIES];
	pos->off[SN_EVIX_EVENT] = pos->more[1];
	pos->len[SN_EVIX_EVENT] = (uint32_t)litlen;
	pos->off[SN_EVIX_DATA] = pos->more[4];
	pos->len[SN_EVIX_DATA] = ev->obj.len;
	pos->off[SN_EVIX_PROPERTIES] =
	    props->type == SN_JOBJECT ? pos->more[4] + (uint32_t)(props->p - ev->obj.p) : 0;
	pos->len[SN_EVIX_PROPERTIES] = props->type == SN_JOBJECT ? props->len : 0;
	uint16_t span_flags = 1u << SN_EVIX_TEAM_ID; /* an integer */
	if (c->did_esc)
		span_flags |= 1u << SN_EVIX_DISTINCT_ID;
	if (c->ip_esc)
		span_flags |= 1u << SN_EVIX_IP;
	if (lit_esc)
		span_flags |= 1u << SN_EVIX_EVENT;
	uint8_t flags = (ev->root_set ? SN_EVIX_ROOT_SET : 0) | (members ? SN_EVIX_MEMBERS : 0) |
			(ev->nprops > 1 ? SN_EVIX_SCAN : 0);
	uint16_t nmi = members ? (uint16_t)ev->nmi : 0;
	sn_evix_put_head(head, flags, nmi, span_flags, pos->off, pos->len);
	if (nmi)
		sn_evix_put_members(head, c->scan->mi + ev->mi_first, 2 * (size_t)nmi);
}

static int analytics_records(struct ctx *c, const struct event *events, size_t n)
{
	struct sn_buf *b = &c->out->data;
	bool engage = is_engage(c->req->path);
	char pbuf[48];
	int rc;
	/* A size hint: records are the events plus ~350 bytes. A failure here
	 * shows again, as a 413, on the first append that needs the room. */
	size_t hint = 0;
	for (size_t i = 0; i < n; i++)
		hint += events[i].obj.len + 384;
	(void)sn_buf_reserve(b, hint);
	if ((rc = batch_reserve(c->out, n)))
		return fail(c, 413, "too_big", rc, "maximum event size exceeded");
	for (size_t i = 0; i < n; i++) {
		const char *pfx = field_name(n, i, pbuf);
		const struct event *ev = &events[i];
		const struct sn_jspan *name = &ev->f[F_EVENT];
		if (absent(name)) {
			if (!engage)
				return fail(c, 400, "missing_event_name", SN_ERR_INVALID,
					    "failed to parse request: %smissing field `event`",
					    pfx);
		} else if (name->type != SN_JSTRING) {
			return fail(c, 400, "invalid_event_name", SN_ERR_INVALID,
				    "failed to parse request: %sevent must be a string", pfx);
		} else if (name->len == 2) {
			return fail(c, 400, "empty_event_name", SN_ERR_INVALID,
				    "%sevent submitted with an empty event name", pfx);
		}
		uint8_t pt = ev->f[F_PROPERTIES].type;
		if (pt != SN_JNONE && pt != SN_JOBJECT && pt != SN_JNULL)
			return fail(c, 400, "invalid_properties", SN_ERR_INVALID,
				    "failed to parse request: %sproperties must be an object", pfx);
		if ((rc = event_distinct_id(c, ev, pfx)))
			return rc;
		if ((rc = check_cookieless(c, ev, pfx)))
			return rc;
		char uuid[37];
		if ((rc = event_uuid(c, ev, pfx, uuid)))
			return rc;
		int64_t ts;
		if ((rc = event_time(c, ev, pfx, &ts)))
			return rc;

		/* The name as a JSON literal: as sent unless it has escapes. */
		const char *lit = "\"$identify\""; /* legacy /engage */
		size_t litlen = 11;
		if (!absent(name) && !(name->flags & SN_JSPAN_ESCAPED)) {
			lit = name->p;
			litlen = name->len;
		} else if (!absent(name)) {
			sn_buf_reset(&c->namejson);
			if ((rc = append_str_span(&c->namejson, name, &c->tmp)))
				return fail(c, 413, "too_big", rc, "maximum event size exceeded");
			lit = c->namejson.data;
			litlen = c->namejson.len;
		}
		static const char hist[] = ",\"historical_migration\":true";
		const char *more[] = {",\"event\":", lit,	c->historical ? hist : "",
				      ",\"data\":",  ev->obj.p, "}",
				      NULL};
		const size_t morelen[] = {9, litlen,	  c->historical ? sizeof(hist) - 1 : 0,
					  8, ev->obj.len, 1};
		size_t start = b->len;
		bool members = ev->f[F_PROPERTIES].type == SN_JOBJECT && ev->mi_ok;
		size_t head = SN_EVIX_HEAD + (members ? 4 * (size_t)ev->nmi : 0);
		struct rec_pos pos;
		rc = append_record(c, head, uuid, ts, more, morelen, &pos);
		if (!rc)
			put_index(c, ev, b->data + start, members,
				  lit == c->namejson.data && memchr(lit, '\\', litlen), litlen,
				  &pos);
		rc = rc ? rc : batch_push(c->out, start);
		if (rc)
			return fail(c, 413, "too_big", rc, "maximum event size exceeded");
	}
	return 0;
}

static bool valid_session_id(const char *s, size_t n)
{
	if (n == 0 || n > 70)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return true;
}

/* The bytes between an array's brackets without the surrounding whitespace:
 * its elements as sent, commas included. */
static void array_inner(const struct sn_jspan *v, const char **s, size_t *n)
{
	const char *p = v->p + 1, *e = v->p + v->len - 1;
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	*s = p;
	*n = (size_t)(e - p);
}

static int recording_record(struct ctx *c, const struct event *events, size_t n)
{
	struct sn_buf lib;
	sn_buf_init(&lib, 256);
	int rc = 0;
	char pbuf[48];
	const struct sn_jspan *sid = NULL, *wid = NULL, *source = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *pfx = field_name(n, i, pbuf);
		const struct event *ev = &events[i];
		const char *s;
		size_t sn;
		if (ev->f[F_EVENT].type != SN_JSTRING ||
		    (rc = str_of(&ev->f[F_EVENT], &c->tmp, &s, &sn)) ||
		    !sn_str_ieq(s, sn, "$snapshot")) {
			rc = fail(c, 400, "not_a_snapshot", SN_ERR_INVALID,
				  "%sthe recordings endpoint accepts only $snapshot events", pfx);
			goto out;
		}
		const struct sn_jspan *sv = &ev->f[P_SESSION_ID];
		if (sv->type != SN_JSTRING) {
			rc = fail(c, 400, "missing_session_id", SN_ERR_INVALID,
				  "%sreplay event submitted without session id", pfx);
			goto out;
		}
		if ((rc = str_of(sv, &c->tmp, &s, &sn)) || !valid_session_id(s, sn)) {
			rc = fail(c, 400, "invalid_session_id", SN_ERR_INVALID,
				  "%sreplay event has an invalid session id (at most 70 characters "
				  "of A-Z, a-z, 0-9 and '-')",
				  pfx);
			goto out;
		}
		uint8_t dt = ev->f[P_SNAPSHOT_DATA].type;
		if (dt != SN_JARRAY && dt != SN_JOBJECT) {
			rc = fail(c, 400, "missing_snapshot_data", SN_ERR_INVALID,
				  "%sreplay event submitted without snapshot data", pfx);
			goto out;
		}
		const struct sn_jspan *wv = &ev->f[P_WINDOW_ID];
		if (!absent(wv) && wv->type != SN_JSTRING) {
			rc = fail(c, 400, "invalid_window_id", SN_ERR_INVALID,
				  "%sreplay event has an invalid window id", pfx);
			goto out;
		}
		if ((rc = event_distinct_id(c, ev, pfx)))
			goto out;
		if ((rc = check_cookieless(c, ev, pfx)))
			goto out;
		if (i == 0) {
			sid = sv;
			wid = wv->type == SN_JSTRING && wv->len > 2 ? wv : sv;
			if (ev->f[P_SNAPSHOT_SOURCE].type == SN_JSTRING)
				source = &ev->f[P_SNAPSHOT_SOURCE];
			/* A $lib longer than lib's maximum is left out ("web"). */
			if (ev->f[P_LIB].type == SN_JSTRING) {
				(void)sn_jspan_unescape(&ev->f[P_LIB], &lib);
			} else if (c->req->user_agent && strstr(c->req->user_agent, "posthog")) {
				size_t seg = strcspn(c->req->user_agent, "/");
				(void)sn_buf_append(&lib, c->req->user_agent, seg);
			} else {
				(void)sn_buf_appends(&lib, "web");
			}
		}
	}
	/* The record is keyed by the first event. */
	if ((rc = event_distinct_id(c, &events[0], "")))
		goto out;
	struct sn_uuid u;
	char uuid[37];
	sn_uuid_v7(&u, c->req->now_us);
	sn_uuid_format(&u, uuid);
	int64_t ts;
	if ((rc = event_time(c, &events[0], "", &ts)))
		goto out;
	struct sn_buf *b = &c->out->data;
	size_t start = b->len;
	const char *none[] = {NULL};
	rc = append_record(c, 0, uuid, ts, none, NULL, NULL);
	rc = rc ? rc : sn_buf_appends(b, ",\"session_id\":");
	rc = rc ? rc : append_str_span(b, sid, &c->tmp);
	rc = rc ? rc : sn_buf_appends(b, ",\"window_id\":");
	rc = rc ? rc : append_str_span(b, wid, &c->tmp);
	rc = rc ? rc : sn_buf_appends(b, ",\"snapshot_source\":");
	rc = rc ? rc : source ? append_str_span(b, source, &c->tmp) : sn_buf_appends(b, "\"web\"");
	rc = rc ? rc : sn_buf_appends(b, ",\"lib\":");
	rc = rc ? rc
		: sn_buf_append_json_str(b, lib.data ? lib.data : "web", lib.data ? lib.len : 3);
	rc = rc ? rc : sn_buf_appends(b, ",\"snapshot_items\":[");
	bool first = true;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct sn_jspan *data = &events[i].f[P_SNAPSHOT_DATA];
		const char *s = data->p;
		size_t k = data->len;
		if (data->type == SN_JARRAY)
			array_inner(data, &s, &k);
		if (k == 0)
			continue;
		if (!first)
			rc = sn_buf_appendc(b, ',');
		first = false;
		rc = rc ? rc : sn_buf_append(b, s, k);
	}
	rc = rc ? rc : sn_buf_appends(b, "]}");
	rc = rc ? rc : batch_push(c->out, start);
	if (rc)
		rc = fail(c, 413, "too_big", rc, "maximum event size exceeded");
out:
	sn_buf_release(&lib);
	return rc;
}

/* Token of one event: token, $token, api_key, then properties.token; the
 * first that is a string. NULL when none is. */
static const struct sn_jspan *event_token(const struct event *ev)
{
	static const int keys[] = {F_TOKEN, F_DOLLAR_TOKEN, F_API_KEY, P_TOKEN};
	for (size_t i = 0; i < SN_ARRAY_LEN(keys); i++)
		if (ev->f[keys[i]].type == SN_JSTRING)
			return &ev->f[keys[i]];
	return NULL;
}

/* The request's token (trimmed, into out->token) and team: 401s, 503. */
static int request_token(struct ctx *c, struct scan *sc, const struct event *events, size_t n,
			 bool batch_obj)
{
	struct sn_buf first;
	const char *tok = NULL;
	size_t toklen = 0;
	int rc = 0;
	sn_buf_init(&first, 0);
	if (batch_obj) {
		const struct sn_jspan *v = &sc->root.f[F_API_KEY];
		if (v->type != SN_JSTRING)
			v = &sc->root.f[F_TOKEN];
		if (v->type == SN_JSTRING && (rc = str_of(v, &first, &tok, &toklen)))
			goto nomem;
	}
	if (!tok) {
		for (size_t i = 0; i < n; i++) {
			const struct sn_jspan *v = event_token(&events[i]);
			const char *t;
			size_t l;
			if (!v)
				continue;
			if ((rc = str_of(v, tok ? &c->tmp : &first, &t, &l)))
				goto nomem;
			trim(&t, &l);
			if (!tok) {
				tok = t;
				toklen = l;
			} else if (l != toklen || memcmp(t, tok, l) != 0) {
				rc = fail(c, 401, "inconsistent_token", SN_ERR_AUTH,
					  "batch submitted with inconsistent api_key values");
				goto out;
			}
		}
	}
	if (!tok) {
		rc = fail(c, 401, "no_token", SN_ERR_AUTH,
			  "event submitted without an api_key (send the project API key as "
			  "api_key, token or properties.token)");
		goto out;
	}
	trim(&tok, &toklen);
	const char *why = sn_capture_token_invalid(tok, toklen);
	if (why) {
		rc = fail(c, 401, "invalid_token", SN_ERR_AUTH, "API key is not valid: %s", why);
		goto out;
	}
	memcpy(c->out->token, tok, toklen);
	c->out->token[toklen] = 0;
	if (c->req->resolve) {
		struct sn_err e2;
		int rrc =
		    c->req->resolve(c->req->resolve_arg, c->out->token, &c->out->team_id, &e2);
		if (rrc == SN_ERR_NOT_FOUND) {
			rc = fail(c, 401, "unknown_token", SN_ERR_AUTH,
				  "API key is not valid: no project has this API key; find your "
				  "project API key in the project settings");
			goto out;
		} else if (rrc) {
			rc = fail(c, 503, "meta_unavailable", rrc, "transient error, please retry");
			goto out;
		}
	}
	goto out;
nomem:
	rc = fail(c, 413, "too_big", rc, "maximum event size exceeded");
out:
	sn_buf_release(&first);
	return rc;
}

/* sent_at: the batch body's (ISO string) wins over the query's (ms). */
static void request_sent_at(struct ctx *c, struct scan *sc, bool batch_obj)
{
	const struct sn_capture_request *req = c->req;
	const char *s;
	size_t sl;
	if (batch_obj && sc->sent_at.type == SN_JSTRING &&
	    str_of(&sc->sent_at, &c->tmp, &s, &sl) == 0 &&
	    sn_capture_parse_timestamp(s, sl, &c->sent_at_us) == 0) {
		c->has_sent_at = true;
		return;
	}
	const char *q = req->q_sent_at && *req->q_sent_at ? req->q_sent_at : req->q_underscore;
	if (q && *q) {
		char *end;
		long long ms = strtoll(q, &end, 10);
		if (!*end && ms > FUTURE_YEAR_2021_MS && ms < 253402300799000LL) {
			c->has_sent_at = true;
			c->sent_at_us = ms * 1000;
		}
	}
}

int sn_capture_process(const struct sn_capture_request *req, struct sn_capture_batch *out,
		       unsigned *status, struct sn_err *err)
{
	struct ctx c = {.req = req, .out = out, .status = status, .err = err};
	struct sn_buf text;
	struct scan sc;
	struct sn_err e2;
	int rc;
	memset(&sc, 0, sizeof(sc));
	sn_buf_init(&text, req->limit);
	sn_buf_init(&c.mid, 0);
	sn_buf_init(&c.tail, 0);
	sn_buf_init(&c.tmp, 0);
	sn_buf_init(&c.dids, 0);
	sn_buf_init(&c.didjson, 0);
	sn_buf_init(&c.namejson, 0);
	out->type = req->kind == SN_CAPTURE_RECORDING ? SN_WAL_RECORDING : SN_WAL_EVENT_IX;
	*status = 200;

	rc = sn_capture_decode_payload(req, &text, &e2);
	if (rc == SN_ERR_TOO_BIG) {
		rc = fail(&c, 413, "too_big", rc, "%s", e2.msg);
		goto out;
	} else if (rc) {
		rc = fail(&c, 400, "decode", rc, "%s", e2.msg);
		goto out;
	}
	rc = scan_body(&sc, text.data ? text.data : "", text.len, &e2);
	if (rc == SN_ERR_NOMEM) {
		rc = fail(&c, 413, "too_big", rc, "out of memory");
		goto out;
	} else if (rc) {
		rc = fail(&c, 400, "parse", rc, "failed to parse request: %s", e2.msg);
		goto out;
	}

	/* Shape: array | {batch:[...]} | single event. */
	const struct event *events;
	size_t n;
	bool batch_obj = false;
	if (sc.shape == SHAPE_ARRAY || (sc.shape == SHAPE_OBJECT && sc.batch_array)) {
		batch_obj = sc.shape == SHAPE_OBJECT;
		events = sc.ev;
		n = sc.nelem;
	} else if (sc.shape == SHAPE_OBJECT) {
		events = &sc.root;
		n = 1;
	} else {
		rc = fail(&c, 400, "parse", SN_ERR_INVALID,
			  "failed to parse request: expected an event object, an array of events "
			  "or {\"batch\": [...]}");
		goto out;
	}
	out->nevents = n;
	if (n == 0) {
		rc = fail(&c, 400, "empty_batch", SN_ERR_INVALID, "request holds no event");
		goto out;
	}
	if (events != &sc.root && sc.first_bad != SIZE_MAX) {
		rc = fail(&c, 400, "parse", SN_ERR_INVALID,
			  "failed to parse request: event %zu is not a JSON object", sc.first_bad);
		goto out;
	}

	request_sent_at(&c, &sc, batch_obj);
	c.historical = batch_obj && sc.historical.type == SN_JTRUE;
	if ((rc = request_token(&c, &sc, events, n, batch_obj)))
		goto out;
	if ((rc = build_common(&c))) {
		rc = fail(&c, 413, "too_big", rc, "maximum event size exceeded");
		goto out;
	}
	c.scan = &sc;
	if (req->kind == SN_CAPTURE_RECORDING)
		rc = recording_record(&c, events, n);
	else
		rc = analytics_records(&c, events, n);
out:
	if (rc) {
		sn_buf_reset(&out->data);
		out->n = 0;
	}
	free(sc.ev);
	free(sc.mi);
	sn_buf_release(&text);
	sn_buf_release(&c.mid);
	sn_buf_release(&c.tail);
	sn_buf_release(&c.tmp);
	sn_buf_release(&c.dids);
	sn_buf_release(&c.didjson);
	sn_buf_release(&c.namejson);
	return rc;
}
