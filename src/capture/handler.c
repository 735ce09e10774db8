/*
 * handler.c — capture over HTTP: routes, CORS, the WAL hand-off and the
 * remote-config endpoint posthog-js asks for at start-up.
 *
 * A capture request is processed on the server thread (decode, validate,
 * build records), appended to the WAL in one call, and then deferred: the
 * connection sleeps until the WAL's flusher reports the records durable and
 * our callback answers 200 (204 for beacons). A WAL failure answers 503,
 * which every SDK retries; nothing is acknowledged that is not on disk.
 *
 * Counting: snout_events_accepted_total{kind} and
 * snout_events_rejected_total{reason}; a rejected request counts its events
 * when it could be parsed, else 1.
 */
#include "capture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum route_kind { R_EVENTS, R_BATCH, R_RECORDINGS };

struct route_ctx {
	struct sn_capture *cap;
	enum route_kind kind;
};

struct sn_capture {
	struct sn_wal *wal;
	struct sn_meta *meta;
	struct sn_capture_options opt;
	struct sn_metric_series *accepted_events, *accepted_recordings;
	struct route_ctx ctx[3]; /* indexed by route_kind */
};

struct pending {
	struct sn_http_request *req;
	bool beacon;
	size_t nrecords;
	uint8_t type;
	struct sn_capture *cap;
};

static int resolve_token(void *arg, const char *token, int64_t *team_id, struct sn_err *err)
{
	struct sn_team t;
	int rc = sn_meta_team_by_token(arg, token, &t, err);
	if (rc == 0)
		*team_id = t.id;
	return rc;
}

static void count_rejected(const char *reason, uint64_t n)
{
	char labels[96];
	snprintf(labels, sizeof(labels), "reason=\"%s\"", reason ? reason : "other");
	sn_metric_inc("snout_events_rejected_total", labels, n);
}

static void on_durable(void *arg, int status)
{
	struct pending *p = arg;
	if (status == 0) {
		sn_metric_add(p->type == SN_WAL_RECORDING ? p->cap->accepted_recordings
							  : p->cap->accepted_events,
			      p->nrecords);
		if (p->beacon)
			sn_http_reply(p->req, 204, NULL, NULL, 0);
		else
			sn_http_reply_json(p->req, 200, "{\"status\":\"Ok\"}");
	} else {
		count_rejected("wal_failed", p->nrecords);
		sn_http_reply_error(p->req, 503, "server_error", "transient_error",
				    "transient error, please retry", NULL);
	}
	sn_http_complete(p->req);
	/* p lives in the request arena: freed with the request. */
}

static void capture_handler(struct sn_http_request *req, void *vctx)
{
	struct route_ctx *rc_ = vctx;
	struct sn_capture *cap = rc_->cap;
	sn_http_cors(req, "GET, POST, OPTIONS");
	if (sn_http_method(req) == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	size_t limit = rc_->kind == R_BATCH	   ? cap->opt.batch_body_max
		       : rc_->kind == R_RECORDINGS ? cap->opt.recording_body_max
						   : cap->opt.event_body_max;
	if (sn_http_body_too_large(req)) {
		char msg[128];
		snprintf(msg, sizeof(msg), "request body exceeds the limit of %zu bytes", limit);
		count_rejected("too_big", 1);
		sn_http_reply_error(req, 413, "validation_error", "payload_too_large", msg, NULL);
		return;
	}
	const struct sn_buf *body = sn_http_body(req);
	struct sn_capture_request cr = {
	    .kind = rc_->kind == R_RECORDINGS ? SN_CAPTURE_RECORDING : SN_CAPTURE_ANALYTICS,
	    .path = sn_http_path(req),
	    .content_type = sn_http_header(req, "Content-Type"),
	    .content_encoding = sn_http_header(req, "Content-Encoding"),
	    .user_agent = sn_http_header(req, "User-Agent"),
	    .q_data = sn_http_query(req, "data"),
	    .q_compression = sn_http_query(req, "compression"),
	    .q_sent_at = sn_http_query(req, "sent_at"),
	    .q_underscore = sn_http_query(req, "_"),
	    .body = body->data,
	    .body_len = body->len,
	    .ip = sn_http_client_ip(req),
	    .now_us = sn_now_us(),
	    .limit = limit,
	    .resolve = resolve_token,
	    .resolve_arg = cap->meta,
	};
	const char *beacon = sn_http_query(req, "beacon");
	struct sn_capture_batch b;
	struct sn_err err = {0};
	unsigned status;
	sn_capture_batch_init(&b);
	int rc = sn_capture_process(&cr, &b, &status, &err);
	if (rc) {
		count_rejected(b.reason, b.nevents ? b.nevents : 1);
		const char *type = status == 401 ? "authentication_error" : "validation_error";
		sn_http_reply_error(req, status, type, b.reason ? b.reason : "invalid_request",
				    err.msg, NULL);
		goto out;
	}
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%lld", (long long)b.team_id);
	sn_http_log_field(req, "team_id", tmp);
	snprintf(tmp, sizeof(tmp), "%zu", b.n);
	sn_http_log_field(req, "events", tmp);

	struct sn_wal_rec stack_recs[128];
	struct sn_wal_rec *recs = b.n <= 128 ? stack_recs : malloc(b.n * sizeof(*recs));
	if (!recs) {
		sn_http_reply_error(req, 503, "server_error", "transient_error",
				    "transient error, please retry", NULL);
		goto out;
	}
	for (size_t i = 0; i < b.n; i++) {
		recs[i].type = b.type;
		recs[i].data = b.data.data + b.off[i];
		recs[i].len = b.len[i];
	}
	uint64_t end_lsn;
	rc = sn_wal_append(cap->wal, recs, b.n, &end_lsn, &err);
	if (recs != stack_recs)
		free(recs);
	if (rc) {
		count_rejected(rc == SN_ERR_TOO_BIG ? "too_big" : "wal_unavailable", b.n);
		if (rc == SN_ERR_TOO_BIG)
			sn_http_reply_error(req, 413, "validation_error", "too_big", err.msg, NULL);
		else
			sn_http_reply_error(req, 503, "server_error", "transient_error",
					    "transient error, please retry", NULL);
		goto out;
	}
	struct pending *p = sn_arena_alloc(sn_http_arena(req), sizeof(*p));
	if (!p) {
		/* Appended but we cannot wait asynchronously: wait here. */
		int wrc = sn_wal_wait_durable(cap->wal, end_lsn);
		if (wrc)
			sn_http_reply_error(req, 503, "server_error", "transient_error",
					    "transient error, please retry", NULL);
		else
			sn_http_reply_json(req, 200, "{\"status\":\"Ok\"}");
		goto out;
	}
	p->req = req;
	p->beacon = beacon && strcmp(beacon, "1") == 0;
	p->nrecords = b.n;
	p->type = b.type;
	p->cap = cap;
	sn_http_defer(req);
	sn_wal_when_durable(cap->wal, end_lsn, on_durable, p);
out:
	sn_capture_batch_release(&b);
}

/* ---- remote config ------------------------------------------------------------------- */

static int config_json(struct sn_buf *b, const struct sn_team *t, bool has_flags)
{
	sn_buf_appendf(b, "{\"token\":");
	sn_buf_append_json_str(b, t->api_token, strlen(t->api_token));
	sn_meta_remote_config_fields(b, t, has_flags, false);
	return sn_buf_appends(b, "}");
}

static void config_handler(struct sn_http_request *req, void *vctx)
{
	struct sn_capture *cap = vctx;
	sn_http_cors(req, "GET, OPTIONS");
	if (sn_http_method(req) == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	/* /array/<token>/config or /array/<token>/config.js */
	const char *path = sn_http_path(req) + strlen("/array/");
	const char *slash = strchr(path, '/');
	char token[72];
	size_t tl = slash ? (size_t)(slash - path) : 0;
	const char *rest = slash ? slash + 1 : "";
	bool js = strcmp(rest, "config.js") == 0;
	if (!slash || tl == 0 || tl >= sizeof(token) ||
	    (!js && strcmp(rest, "config") != 0 && strcmp(rest, "config/") != 0)) {
		sn_http_reply_error(req, 404, "invalid_request", "not_found",
				    "expected /array/<project token>/config or config.js", NULL);
		return;
	}
	memcpy(token, path, tl);
	token[tl] = 0;
	struct sn_team t;
	struct sn_err err;
	if (sn_capture_token_invalid(token, tl) ||
	    sn_meta_team_by_token(cap->meta, token, &t, &err)) {
		sn_http_reply_error(req, 404, "invalid_request", "not_found",
				    "no project has this API key", NULL);
		return;
	}
	/* The team's active flags: a cached count in meta. */
	size_t nflags = 0;
	bool has_flags = sn_meta_flags_active_count(cap->meta, t.id, &nflags, &err) == 0 && nflags;
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	if (js) {
		sn_buf_appends(&b, "(function(){var w=window;w._POSTHOG_REMOTE_CONFIG="
				   "w._POSTHOG_REMOTE_CONFIG||{};w._POSTHOG_REMOTE_CONFIG[");
		sn_buf_append_json_str(&b, token, tl);
		sn_buf_appends(&b, "]={config:");
		config_json(&b, &t, has_flags);
		sn_buf_appends(&b, ",siteApps:[]};})();\n");
		sn_http_reply(req, 200, "application/javascript", b.data, b.len);
	} else {
		config_json(&b, &t, has_flags);
		sn_http_reply(req, 200, "application/json", b.data, b.len);
	}
	sn_http_add_header(req, "Cache-Control", "public, max-age=300");
	sn_buf_release(&b);
}

/* ---- lifecycle ------------------------------------------------------------------------- */

int sn_capture_new(struct sn_capture **out, struct sn_wal *wal, struct sn_meta *meta,
		   const struct sn_capture_options *opt, struct sn_err *err)
{
	struct sn_capture *c = calloc(1, sizeof(*c));
	if (!c)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	c->wal = wal;
	c->meta = meta;
	c->opt = *opt;
	if (!c->opt.event_body_max)
		c->opt.event_body_max = 2u << 20;
	if (!c->opt.batch_body_max)
		c->opt.batch_body_max = 20u << 20;
	if (!c->opt.recording_body_max)
		c->opt.recording_body_max = 25u << 20;
	sn_metrics_declare("snout_events_accepted_total", SN_METRIC_COUNTER,
			   "Events acknowledged (durable in the WAL) by kind");
	sn_metrics_declare("snout_events_rejected_total", SN_METRIC_COUNTER,
			   "Events (or unparseable requests) refused, by reason");
	c->accepted_events = sn_metric_series("snout_events_accepted_total", "kind=\"analytics\"");
	c->accepted_recordings =
	    sn_metric_series("snout_events_accepted_total", "kind=\"recording\"");
	*out = c;
	return 0;
}

void sn_capture_free(struct sn_capture *c)
{
	free(c);
}

size_t sn_capture_routes(struct sn_capture *c, struct sn_http_route *routes, size_t max)
{
	for (int k = R_EVENTS; k <= R_RECORDINGS; k++)
		c->ctx[k] = (struct route_ctx){c, (enum route_kind)k};
	const unsigned m = SN_GET | SN_POST | SN_OPTIONS;
	/* The handler caps decompressed payloads at the same limit as bodies. */
	const struct sn_http_route all[] = {
	    {"capture", m, "/e", c->opt.event_body_max, capture_handler, &c->ctx[R_EVENTS]},
	    {"capture", m, "/i/v0/e", c->opt.event_body_max, capture_handler, &c->ctx[R_EVENTS]},
	    {"capture", m, "/track", c->opt.event_body_max, capture_handler, &c->ctx[R_EVENTS]},
	    {"capture", m, "/capture", c->opt.event_body_max, capture_handler, &c->ctx[R_EVENTS]},
	    {"capture", m, "/engage", c->opt.event_body_max, capture_handler, &c->ctx[R_EVENTS]},
	    {"batch", m, "/batch", c->opt.batch_body_max, capture_handler, &c->ctx[R_BATCH]},
	    {"recordings", m, "/s", c->opt.recording_body_max, capture_handler,
	     &c->ctx[R_RECORDINGS]},
	    {"remote_config", SN_GET | SN_OPTIONS, "/array/*", 0, config_handler, c},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
