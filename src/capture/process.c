/*
 * process.c — one capture request from decoded JSON to WAL records
 * (spec/posthog-wire.md §1.2 step 7, §1.3–§1.5, §1.8–§1.9).
 *
 * All-or-nothing, as PostHog's capture: the request is validated completely
 * before any record is produced, so a batch with one bad event is refused
 * whole with a message naming the event's index, and nothing of it reaches
 * the WAL. Order of checks follows capture: decode → parse → shape → token
 * (401) → per-event fields (400).
 *
 * Records are built by appending to one buffer (no per-event allocation
 * beyond json-c's own serialisation of the event object). The event is
 * forwarded as received ("data"); everything capture computes sits beside it.
 */
#include "capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int batch_push(struct sn_capture_batch *b, size_t start)
{
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16;
		uint32_t *o = realloc(b->off, ncap * sizeof(*o));
		if (!o)
			return SN_ERR_NOMEM;
		b->off = o;
		uint32_t *l = realloc(b->len, ncap * sizeof(*l));
		if (!l)
			return SN_ERR_NOMEM;
		b->len = l;
		b->cap = ncap;
	}
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
	/* Copy at most 200 Unicode scalars, NUL → U+FFFD. Input is valid UTF-8
	 * (json-c validated it). */
	size_t start = out->len, chars = 0;
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
			goto out;
		i += k;
	}
	if (out->len == start)
		rc = SN_ERR_INVALID;
out:
	sn_buf_release(&raw);
	return rc;
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

/* Token of one event: token, $token, api_key, then properties.token. */
static const char *event_token(struct json_object *ev, size_t *len)
{
	static const char *keys[] = {"token", "$token", "api_key"};
	for (size_t i = 0; i < SN_ARRAY_LEN(keys); i++) {
		const char *t = sn_json_str(sn_json_get(ev, keys[i]), len);
		if (t)
			return t;
	}
	return sn_json_str(sn_json_get(sn_json_get(ev, "properties"), "token"), len);
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

/* ---- the request -------------------------------------------------------------------- */

struct ctx {
	const struct sn_capture_request *req;
	struct sn_capture_batch *out;
	unsigned *status;
	struct sn_err *err;
	bool has_sent_at;
	int64_t sent_at_us;
	char sent_at_text[32];
	char now_text[32];
	bool historical;
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

static const char *field_name(size_t nevents, size_t i, char *buf, size_t bufsz)
{
	if (nevents <= 1)
		return "";
	snprintf(buf, bufsz, "event %zu: ", i);
	return buf;
}

/* Fields every record starts with. */
static int append_common(struct ctx *c, struct sn_buf *b, const struct sn_uuid *uuid,
			 const char *did, size_t didlen, int64_t ts_us)
{
	char u[37], ts[32];
	sn_uuid_format(uuid, u);
	sn_time_format_rfc3339(ts_us, ts);
	int rc = sn_buf_appendf(b, "{\"uuid\":\"%s\",\"distinct_id\":", u);
	rc = rc ? rc : sn_buf_append_json_str(b, did, didlen);
	rc = rc ? rc : sn_buf_appends(b, ",\"ip\":");
	rc = rc ? rc
		: sn_buf_append_json_str(b, c->req->ip ? c->req->ip : "",
					 c->req->ip ? strlen(c->req->ip) : 0);
	rc =
	    rc ? rc : sn_buf_appendf(b, ",\"team_id\":%lld,\"token\":", (long long)c->out->team_id);
	rc = rc ? rc : sn_buf_append_json_str(b, c->out->token, strlen(c->out->token));
	rc = rc ? rc : sn_buf_appendf(b, ",\"timestamp\":\"%s\",\"now\":\"%s\"", ts, c->now_text);
	if (!rc && c->has_sent_at)
		rc = sn_buf_appendf(b, ",\"sent_at\":\"%s\"", c->sent_at_text);
	return rc;
}

/* Timestamp of one event per §1.5. Returns 0 or a 400. */
static int event_time(struct ctx *c, struct json_object *ev, const char *pfx, int64_t *out)
{
	bool has_ts = false, has_off = false;
	int64_t ts_us = 0, off_ms = 0;
	struct json_object *t = sn_json_get(ev, "timestamp");
	if (t && json_object_is_type(t, json_type_string)) {
		has_ts =
		    sn_capture_parse_timestamp(json_object_get_string(t),
					       (size_t)json_object_get_string_len(t), &ts_us) == 0;
	} else if (t && (json_object_is_type(t, json_type_int) ||
			 json_object_is_type(t, json_type_double))) {
		char tmp[48];
		snprintf(tmp, sizeof(tmp), "%s", json_object_to_json_string(t));
		has_ts = sn_capture_parse_timestamp(tmp, strlen(tmp), &ts_us) == 0;
	}
	struct json_object *o = sn_json_get(ev, "offset");
	if (o && !json_object_is_type(o, json_type_null)) {
		if (!json_object_is_type(o, json_type_int))
			return fail(c, 400, "invalid_offset", SN_ERR_INVALID,
				    "failed to parse request: %soffset must be an integer number "
				    "of milliseconds",
				    pfx);
		has_off = true;
		off_ms = json_object_get_int64(o);
	}
	bool use_sent_at = c->has_sent_at;
	struct json_object *ign = sn_json_get(sn_json_get(ev, "properties"), "$ignore_sent_at");
	if (ign && json_object_is_type(ign, json_type_boolean) && json_object_get_boolean(ign))
		use_sent_at = false;
	*out = sn_capture_compute_timestamp(c->req->now_us, has_ts, ts_us, use_sent_at,
					    c->sent_at_us, has_off, off_ms);
	return 0;
}

static int event_uuid(struct ctx *c, struct json_object *ev, const char *pfx, struct sn_uuid *u)
{
	struct json_object *v = sn_json_get(ev, "uuid");
	if (!v || json_object_is_type(v, json_type_null)) {
		sn_uuid_v7(u, c->req->now_us);
		return 0;
	}
	size_t n;
	const char *s = sn_json_str(v, &n);
	if (!s)
		return fail(c, 400, "invalid_uuid", SN_ERR_INVALID,
			    "failed to parse request: %suuid must be a string", pfx);
	if (n == 0) {
		sn_uuid_v7(u, c->req->now_us);
		return 0;
	}
	if (sn_uuid_parse(s, n, u))
		return fail(c, 400, "invalid_uuid", SN_ERR_INVALID,
			    "failed to parse request: %suuid '%.*s' is not a valid UUID", pfx,
			    (int)(n > 64 ? 64 : n), s);
	return 0;
}

static int event_distinct_id(struct ctx *c, struct json_object *ev, const char *pfx,
			     struct sn_buf *did)
{
	struct json_object *v = sn_json_get(ev, "distinct_id");
	if (!v || json_object_is_type(v, json_type_null))
		v = sn_json_get(ev, "$distinct_id");
	if (!v || json_object_is_type(v, json_type_null))
		v = sn_json_get(sn_json_get(ev, "properties"), "distinct_id");
	if (!v || json_object_is_type(v, json_type_null) || sn_capture_distinct_id(v, did))
		return fail(c, 400, "missing_distinct_id", SN_ERR_INVALID,
			    "%sevent submitted without a distinct_id", pfx);
	return 0;
}

static int check_cookieless(struct ctx *c, struct json_object *ev, const char *pfx)
{
	struct json_object *v = sn_json_get(sn_json_get(ev, "properties"), "$cookieless_mode");
	if (v && !json_object_is_type(v, json_type_boolean) &&
	    !json_object_is_type(v, json_type_null))
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

static int analytics_records(struct ctx *c, struct json_object **events, size_t n)
{
	struct sn_buf did;
	sn_buf_init(&did, 4096);
	int rc = 0;
	char pbuf[48];
	/* Validate every event before producing any record. */
	for (size_t i = 0; i < n && !rc; i++) {
		const char *pfx = field_name(n, i, pbuf, sizeof(pbuf));
		struct json_object *ev = events[i];
		struct json_object *name = sn_json_get(ev, "event");
		if (!name || json_object_is_type(name, json_type_null)) {
			if (!is_engage(c->req->path)) {
				rc = fail(c, 400, "missing_event_name", SN_ERR_INVALID,
					  "failed to parse request: %smissing field `event`", pfx);
				break;
			}
		} else if (!json_object_is_type(name, json_type_string)) {
			rc = fail(c, 400, "invalid_event_name", SN_ERR_INVALID,
				  "failed to parse request: %sevent must be a string", pfx);
			break;
		} else if (json_object_get_string_len(name) == 0) {
			rc = fail(c, 400, "empty_event_name", SN_ERR_INVALID,
				  "%sevent submitted with an empty event name", pfx);
			break;
		}
		struct json_object *props = sn_json_get(ev, "properties");
		if (props && !json_object_is_type(props, json_type_object) &&
		    !json_object_is_type(props, json_type_null)) {
			rc = fail(c, 400, "invalid_properties", SN_ERR_INVALID,
				  "failed to parse request: %sproperties must be an object", pfx);
			break;
		}
		sn_buf_reset(&did);
		if ((rc = event_distinct_id(c, ev, pfx, &did)))
			break;
		if ((rc = check_cookieless(c, ev, pfx)))
			break;
		struct sn_uuid u;
		if ((rc = event_uuid(c, ev, pfx, &u)))
			break;
		int64_t ts;
		if ((rc = event_time(c, ev, pfx, &ts)))
			break;
	}
	for (size_t i = 0; i < n && !rc; i++) {
		struct json_object *ev = events[i];
		const char *pfx = field_name(n, i, pbuf, sizeof(pbuf));
		struct sn_uuid u;
		int64_t ts;
		sn_buf_reset(&did);
		event_distinct_id(c, ev, pfx, &did);
		event_uuid(c, ev, pfx, &u);
		event_time(c, ev, pfx, &ts);
		size_t nlen = 0;
		const char *name = sn_json_str(sn_json_get(ev, "event"), &nlen);
		if (!name) {
			name = "$identify"; /* legacy /engage */
			nlen = 9;
		}
		struct sn_buf *b = &c->out->data;
		size_t start = b->len;
		rc = append_common(c, b, &u, did.data, did.len, ts);
		rc = rc ? rc : sn_buf_appends(b, ",\"event\":");
		rc = rc ? rc : sn_buf_append_json_str(b, name, nlen);
		if (!rc && c->historical)
			rc = sn_buf_appends(b, ",\"historical_migration\":true");
		rc = rc ? rc : sn_buf_appends(b, ",\"data\":");
		rc = rc ? rc : sn_json_append(b, ev);
		rc = rc ? rc : sn_buf_appendc(b, '}');
		rc = rc ? rc : batch_push(c->out, start);
		if (rc)
			rc = fail(c, 413, "too_big", rc, "maximum event size exceeded");
	}
	sn_buf_release(&did);
	return rc;
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

static int recording_record(struct ctx *c, struct json_object **events, size_t n)
{
	struct sn_buf did, lib;
	sn_buf_init(&did, 4096);
	sn_buf_init(&lib, 256);
	int rc = 0;
	char pbuf[48];
	const char *sid = NULL, *wid = NULL, *source = "web";
	size_t sidn = 0, widn = 0, sourcen = 3;
	for (size_t i = 0; i < n; i++) {
		const char *pfx = field_name(n, i, pbuf, sizeof(pbuf));
		struct json_object *ev = events[i];
		size_t en;
		const char *name = sn_json_str(sn_json_get(ev, "event"), &en);
		if (!name || !sn_str_ieq(name, en, "$snapshot")) {
			rc = fail(c, 400, "not_a_snapshot", SN_ERR_INVALID,
				  "%sthe recordings endpoint accepts only $snapshot events", pfx);
			goto out;
		}
		struct json_object *props = sn_json_get(ev, "properties");
		size_t sn;
		const char *s = sn_json_str(sn_json_get(props, "$session_id"), &sn);
		if (!s) {
			rc = fail(c, 400, "missing_session_id", SN_ERR_INVALID,
				  "%sreplay event submitted without session id", pfx);
			goto out;
		}
		if (!valid_session_id(s, sn)) {
			rc = fail(c, 400, "invalid_session_id", SN_ERR_INVALID,
				  "%sreplay event has an invalid session id (at most 70 characters "
				  "of A-Z, a-z, 0-9 and '-')",
				  pfx);
			goto out;
		}
		struct json_object *data = sn_json_get(props, "$snapshot_data");
		if (!data || !(json_object_is_type(data, json_type_array) ||
			       json_object_is_type(data, json_type_object))) {
			rc = fail(c, 400, "missing_snapshot_data", SN_ERR_INVALID,
				  "%sreplay event submitted without snapshot data", pfx);
			goto out;
		}
		struct json_object *wv = sn_json_get(props, "$window_id");
		if (wv && !json_object_is_type(wv, json_type_null) &&
		    !json_object_is_type(wv, json_type_string)) {
			rc = fail(c, 400, "invalid_window_id", SN_ERR_INVALID,
				  "%sreplay event has an invalid window id", pfx);
			goto out;
		}
		sn_buf_reset(&did);
		if ((rc = event_distinct_id(c, ev, pfx, &did)))
			goto out;
		if ((rc = check_cookieless(c, ev, pfx)))
			goto out;
		if (i == 0) {
			sid = s;
			sidn = sn;
			wid = sn_json_str(wv, &widn);
			if (!wid || widn == 0) {
				wid = s;
				widn = sn;
			}
			size_t k;
			const char *src = sn_json_str(sn_json_get(props, "$snapshot_source"), &k);
			if (src) {
				source = src;
				sourcen = k;
			}
			const char *l = sn_json_str(sn_json_get(props, "$lib"), &k);
			if (l) {
				sn_buf_append(&lib, l, k);
			} else if (c->req->user_agent && strstr(c->req->user_agent, "posthog")) {
				size_t seg = strcspn(c->req->user_agent, "/");
				sn_buf_append(&lib, c->req->user_agent, seg);
			} else {
				sn_buf_appends(&lib, "web");
			}
		}
	}
	/* The record is keyed by the first event. */
	sn_buf_reset(&did);
	event_distinct_id(c, events[0], "", &did);
	struct sn_uuid u;
	sn_uuid_v7(&u, c->req->now_us);
	int64_t ts;
	if ((rc = event_time(c, events[0], "", &ts)))
		goto out;
	struct sn_buf *b = &c->out->data;
	size_t start = b->len;
	rc = append_common(c, b, &u, did.data, did.len, ts);
	rc = rc ? rc : sn_buf_appends(b, ",\"session_id\":");
	rc = rc ? rc : sn_buf_append_json_str(b, sid, sidn);
	rc = rc ? rc : sn_buf_appends(b, ",\"window_id\":");
	rc = rc ? rc : sn_buf_append_json_str(b, wid, widn);
	rc = rc ? rc : sn_buf_appends(b, ",\"snapshot_source\":");
	rc = rc ? rc : sn_buf_append_json_str(b, source, sourcen);
	rc = rc ? rc : sn_buf_appends(b, ",\"lib\":");
	rc = rc ? rc
		: sn_buf_append_json_str(b, lib.data ? lib.data : "web", lib.data ? lib.len : 3);
	rc = rc ? rc : sn_buf_appends(b, ",\"snapshot_items\":[");
	bool first = true;
	for (size_t i = 0; i < n && !rc; i++) {
		struct json_object *data =
		    sn_json_get(sn_json_get(events[i], "properties"), "$snapshot_data");
		if (json_object_is_type(data, json_type_array)) {
			size_t k = json_object_array_length(data);
			for (size_t j = 0; j < k && !rc; j++) {
				if (!first)
					rc = sn_buf_appendc(b, ',');
				first = false;
				rc =
				    rc ? rc : sn_json_append(b, json_object_array_get_idx(data, j));
			}
		} else {
			if (!first)
				rc = sn_buf_appendc(b, ',');
			first = false;
			rc = rc ? rc : sn_json_append(b, data);
		}
	}
	rc = rc ? rc : sn_buf_appends(b, "]}");
	rc = rc ? rc : batch_push(c->out, start);
	if (rc)
		rc = fail(c, 413, "too_big", rc, "maximum event size exceeded");
out:
	sn_buf_release(&did);
	sn_buf_release(&lib);
	return rc;
}

int sn_capture_process(const struct sn_capture_request *req, struct sn_capture_batch *out,
		       unsigned *status, struct sn_err *err)
{
	struct ctx c = {.req = req, .out = out, .status = status, .err = err};
	struct sn_buf text;
	struct json_object *root = NULL;
	struct json_object **events = NULL;
	struct sn_err e2;
	int rc;
	sn_buf_init(&text, req->limit);
	out->type = req->kind == SN_CAPTURE_RECORDING ? SN_WAL_RECORDING : SN_WAL_EVENT;
	*status = 200;

	rc = sn_capture_decode_payload(req, &text, &e2);
	if (rc == SN_ERR_TOO_BIG) {
		rc = fail(&c, 413, "too_big", rc, "%s", e2.msg);
		goto out;
	} else if (rc) {
		rc = fail(&c, 400, "decode", rc, "%s", e2.msg);
		goto out;
	}
	rc = sn_json_parse(text.data, text.len, &root, &e2);
	if (rc) {
		rc = fail(&c, 400, "parse", rc, "failed to parse request: %s", e2.msg);
		goto out;
	}

	/* Shape: array | {batch:[...]} | single event. */
	struct json_object *list = NULL, *batch_obj = NULL;
	size_t n = 0;
	if (json_object_is_type(root, json_type_array)) {
		list = root;
	} else if (json_object_is_type(root, json_type_object) &&
		   json_object_is_type(sn_json_get(root, "batch"), json_type_array)) {
		batch_obj = root;
		list = sn_json_get(root, "batch");
	} else if (!json_object_is_type(root, json_type_object)) {
		rc = fail(&c, 400, "parse", SN_ERR_INVALID,
			  "failed to parse request: expected an event object, an array of events "
			  "or {\"batch\": [...]}");
		goto out;
	}
	n = list ? json_object_array_length(list) : 1;
	if (n == 0) {
		rc = fail(&c, 400, "empty_batch", SN_ERR_INVALID, "request holds no event");
		goto out;
	}
	events = malloc(n * sizeof(*events));
	if (!events) {
		rc = fail(&c, 413, "too_big", SN_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		events[i] = list ? json_object_array_get_idx(list, i) : root;
		if (!json_object_is_type(events[i], json_type_object)) {
			rc = fail(&c, 400, "parse", SN_ERR_INVALID,
				  "failed to parse request: event %zu is not a JSON object", i);
			goto out;
		}
	}

	/* sent_at: batch body (ISO string) wins over the query (ms). */
	size_t sl;
	const char *s = sn_json_str(sn_json_get(batch_obj, "sent_at"), &sl);
	if (s && sn_capture_parse_timestamp(s, sl, &c.sent_at_us) == 0) {
		c.has_sent_at = true;
	} else {
		const char *q =
		    req->q_sent_at && *req->q_sent_at ? req->q_sent_at : req->q_underscore;
		if (q && *q) {
			char *end;
			long long ms = strtoll(q, &end, 10);
			if (!*end && ms > FUTURE_YEAR_2021_MS && ms < 253402300799000LL) {
				c.has_sent_at = true;
				c.sent_at_us = ms * 1000;
			}
		}
	}
	if (c.has_sent_at)
		sn_time_format_rfc3339(c.sent_at_us, c.sent_at_text);
	sn_time_format_rfc3339(req->now_us, c.now_text);
	struct json_object *hm = sn_json_get(batch_obj, "historical_migration");
	c.historical =
	    hm && json_object_is_type(hm, json_type_boolean) && json_object_get_boolean(hm);

	/* Token: the batch's, else the one token all events agree on. */
	const char *tok = NULL;
	size_t toklen = 0;
	if (batch_obj) {
		tok = sn_json_str(sn_json_get(batch_obj, "api_key"), &toklen);
		if (!tok)
			tok = sn_json_str(sn_json_get(batch_obj, "token"), &toklen);
	}
	if (!tok) {
		for (size_t i = 0; i < n; i++) {
			size_t l;
			const char *t = event_token(events[i], &l);
			if (!t)
				continue;
			trim(&t, &l);
			if (!tok) {
				tok = t;
				toklen = l;
			} else if (l != toklen || memcmp(t, tok, l) != 0) {
				rc = fail(&c, 401, "inconsistent_token", SN_ERR_AUTH,
					  "batch submitted with inconsistent api_key values");
				goto out;
			}
		}
	}
	if (!tok) {
		rc = fail(&c, 401, "no_token", SN_ERR_AUTH,
			  "event submitted without an api_key (send the project API key as "
			  "api_key, token or properties.token)");
		goto out;
	}
	trim(&tok, &toklen);
	const char *why = sn_capture_token_invalid(tok, toklen);
	if (why) {
		rc = fail(&c, 401, "invalid_token", SN_ERR_AUTH, "API key is not valid: %s", why);
		goto out;
	}
	memcpy(out->token, tok, toklen);
	out->token[toklen] = 0;
	if (req->resolve) {
		int rrc = req->resolve(req->resolve_arg, out->token, &out->team_id, &e2);
		if (rrc == SN_ERR_NOT_FOUND) {
			rc = fail(&c, 401, "unknown_token", SN_ERR_AUTH,
				  "API key is not valid: no project has this API key; find your "
				  "project API key in the project settings");
			goto out;
		} else if (rrc) {
			rc =
			    fail(&c, 503, "meta_unavailable", rrc, "transient error, please retry");
			goto out;
		}
	}

	if (req->kind == SN_CAPTURE_RECORDING)
		rc = recording_record(&c, events, n);
	else
		rc = analytics_records(&c, events, n);
out:
	if (rc) {
		sn_buf_reset(&out->data);
		out->n = 0;
	}
	free(events);
	json_object_put(root);
	sn_buf_release(&text);
	return rc;
}
