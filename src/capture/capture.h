/*
 * capture.h — PostHog's capture protocol: HTTP request → normalised events →
 * WAL → 200. The reference is ../shared/spec/posthog-wire.md §1.
 *
 * Two layers:
 *  - sn_capture_process(): a pure function from one request's bytes and
 *    headers to WAL records (no I/O), so unit tests and fuzzers drive the
 *    whole protocol without a server;
 *  - sn_capture_routes(): the HTTP handlers that run it, append the records
 *    to the WAL, and answer only once they are durable.
 *
 * The WAL record of an analytics event (SN_WAL_EVENT_IX) is an index
 * (wal/evindex.h: where the fields below are, and the lengths of the
 * properties' keys and values, which capture's scan found anyway) followed
 * by one JSON object, which alone is a SN_WAL_EVENT record (the type
 * written before the index existed, still read):
 *   {"uuid","distinct_id","ip","team_id","token","timestamp","now",
 *    "sent_at"?,"event","historical_migration"?,"data":<event as received>}
 * timestamp is the clock-skew-corrected time (§1.5), RFC 3339 UTC with ms.
 * A recording upload (SN_WAL_RECORDING) is one record per request:
 *   {"uuid","distinct_id","ip","team_id","token","session_id","window_id",
 *    "snapshot_source","lib","timestamp","now","snapshot_items":[...]}
 */
#ifndef SN_CAPTURE_H
#define SN_CAPTURE_H

#include "base/base.h"
#include "http/http.h"
#include "meta/meta.h"
#include "wal/wal.h"

enum sn_capture_kind { SN_CAPTURE_ANALYTICS, SN_CAPTURE_RECORDING };

/* Resolves a (shape-valid) project token to a team id. Returns 0, or
 * SN_ERR_NOT_FOUND for an unknown token, or another error. */
typedef int (*sn_capture_resolve_fn)(void *arg, const char *token, int64_t *team_id,
				     struct sn_err *err);

struct sn_capture_request {
	enum sn_capture_kind kind;
	const char *path;	      /* "/e/", "/batch", "/engage/" ... */
	const char *content_type;     /* may be NULL */
	const char *content_encoding; /* may be NULL */
	const char *user_agent;	      /* may be NULL */
	const char *q_data;	      /* query parameters, NULL when absent */
	const char *q_compression;
	const char *q_sent_at;
	const char *q_underscore; /* `_`, alias of sent_at in ms */
	const char *body;
	size_t body_len;
	const char *ip;
	int64_t now_us;
	size_t limit; /* decompressed payload limit in bytes */
	sn_capture_resolve_fn resolve;
	void *resolve_arg;
};

/* The records one request produced, back to back in data; record i is
 * data[off[i] .. off[i]+len[i]). */
struct sn_capture_batch {
	struct sn_buf data;
	uint32_t *off;
	uint32_t *len;
	size_t n;
	size_t cap;
	uint8_t type; /* SN_WAL_EVENT_IX or SN_WAL_RECORDING */
	int64_t team_id;
	char token[72];
	const char *reason; /* on failure: a metrics label such as "missing_distinct_id" */
	size_t nevents;	    /* events in the request once its JSON parsed (also on failure) */
};

void sn_capture_batch_init(struct sn_capture_batch *b);
void sn_capture_batch_release(struct sn_capture_batch *b);

/* Decodes, validates and normalises one request. On failure returns a
 * negative SN_ERR_*, sets *status to the HTTP status PostHog uses (400, 401,
 * 413) and err->msg to the message; out is then empty. */
int sn_capture_process(const struct sn_capture_request *req, struct sn_capture_batch *out,
		       unsigned *status, struct sn_err *err);

/* ---- pieces, exposed for tests ------------------------------------------------ */

/* §1.2 steps 1–6: raw request payload → UTF-8 JSON text (appended to out). */
int sn_capture_decode_payload(const struct sn_capture_request *req, struct sn_buf *out,
			      struct sn_err *err);
/* §1.5: parses a client timestamp (RFC 3339 and the lenient forms) into
 * epoch µs. SN_ERR_INVALID when unparseable. */
int sn_capture_parse_timestamp(const char *s, size_t len, int64_t *us);
/* §1.5: the stored timestamp from the event's fields. */
int64_t sn_capture_compute_timestamp(int64_t now_us, bool has_ts, int64_t ts_us, bool has_sent_at,
				     int64_t sent_at_us, bool has_offset, int64_t offset_ms);
/* §1.3: distinct_id rules (non-strings serialised, keys sorted, NUL → U+FFFD,
 * truncated to 200 scalars). Appends to out; SN_ERR_INVALID when empty. */
int sn_capture_distinct_id(struct json_object *v, struct sn_buf *out);
/* §1.4: token shape validation (after trimming). Returns NULL when valid,
 * else the reason. */
const char *sn_capture_token_invalid(const char *tok, size_t len);

/* ---- HTTP ------------------------------------------------------------------------- */

struct sn_capture_options {
	size_t event_body_max;	   /* /e, /i/v0/e, /track, /capture, /engage: 2 MiB */
	size_t batch_body_max;	   /* /batch: 20 MiB */
	size_t recording_body_max; /* /s: 25 MiB */
};

struct sn_capture;

int sn_capture_new(struct sn_capture **out, struct sn_wal *wal, struct sn_meta *meta,
		   const struct sn_capture_options *opt, struct sn_err *err);
void sn_capture_free(struct sn_capture *c);
/* Writes the capture routes (and /array/<token>/config) into routes; returns
 * how many (at most max). */
size_t sn_capture_routes(struct sn_capture *c, struct sn_http_route *routes, size_t max);

#endif
