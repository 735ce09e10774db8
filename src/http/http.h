/*
 * http.h — the HTTP layer: a server over libmicrohttpd with a small router,
 * request/response helpers, and the body decoders every PostHog endpoint
 * shares (gzip, base64, lz-string, urlencoded forms, UTF-8 checks).
 *
 * Request lifecycle:
 *   1. headers arrive → the router picks a route (method + path); its
 *      body limit applies from then on;
 *   2. the body is accumulated into req->body, up to the route's limit (the
 *      rest is drained and req->body_too_large set);
 *   3. the route's handler runs on the server thread. It either answers
 *      (sn_http_reply*) or calls sn_http_defer() and answers later from any
 *      thread with sn_http_complete(); the connection is suspended meanwhile,
 *      so no server thread ever waits on a disk (the WAL's group commit).
 *   4. one access-log line is written and the metrics are counted.
 */
#ifndef SN_HTTP_H
#define SN_HTTP_H

#include "base/base.h"

/* ---- body decoders (decode.c, lzstring.c) ------------------------------------ */

/* gzip (RFC 1952) only, no zlib or raw deflate; concatenated members are
 * decoded in turn; anything after the last member that is not another member
 * is SN_ERR_INVALID. Appends to out. Fails with SN_ERR_TOO_BIG as soon as this
 * call's output would exceed max_out (out->max applies too), so zip bombs
 * stop early; SN_ERR_INVALID for a corrupt or truncated stream (message says
 * which). Every decoder here leaves out as it was on failure. */
int sn_gunzip(const void *in, size_t len, size_t max_out, struct sn_buf *out, struct sn_err *err);
bool sn_is_gzip(const void *in, size_t len); /* starts with 1f 8b */

/* Standard-alphabet base64 with padding; ignores nothing. Appends to out. */
int sn_base64_decode(const char *in, size_t len, struct sn_buf *out, struct sn_err *err);
/* PostHog capture's sniffing rules (spec/posthog-wire.md §1.2): the first
 * 128 bytes are all base64 alphabet (loose: spaces allowed too) and the total
 * length is a multiple of 4. False for empty input. */
bool sn_looks_like_base64(const char *in, size_t len, bool loose);
/* Within the first 128 bytes, starts with or contains after '&' one of
 * data=, _=, ip=, compression=. */
bool sn_looks_like_form(const char *in, size_t len);

/* lz-string's decompressFromBase64 (the posthog-js "lz64" compression):
 * the result is UTF-8 (lone surrogates become U+FFFD). SN_ERR_TOO_BIG past
 * max_out bytes of output (and at most 2^30 UTF-16 units), SN_ERR_INVALID for
 * malformed input. */
int sn_lzstring_decompress_base64(const char *in, size_t len, size_t max_out, struct sn_buf *out,
				  struct sn_err *err);

/* application/x-www-form-urlencoded: finds field name and appends its
 * url-decoded value ('+' → space, %XX) to out. Returns 0, or SN_ERR_NOT_FOUND
 * when the field is absent, SN_ERR_INVALID for a bad %-escape. When the
 * field appears several times the first wins. Keys are url-decoded before
 * comparing; a field without '=' is present with an empty value. */
int sn_form_get(const char *body, size_t len, const char *name, struct sn_buf *out);
/* Url-decodes in[0..len) into out (appending); '+' becomes a space. */
int sn_url_decode(const char *in, size_t len, struct sn_buf *out);

/* True when s[0..len) is valid UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF). */
bool sn_utf8_valid(const char *s, size_t len);

/* ---- server -------------------------------------------------------------------- */

enum sn_http_method {
	SN_GET = 1 << 0,
	SN_POST = 1 << 1,
	SN_OPTIONS = 1 << 2,
	SN_HEAD = 1 << 3,
	SN_PUT = 1 << 4,
	SN_PATCH = 1 << 5,
	SN_DELETE = 1 << 6,
};

struct sn_http_request;
struct sn_http_server;

typedef void (*sn_http_handler)(struct sn_http_request *req, void *ctx);

/* Path matching: "/e" matches "/e" and "/e/"; a pattern ending in '*'
 * matches that prefix ("/array/" followed by anything). */
struct sn_http_route {
	const char *name; /* metrics/log label, e.g. "capture" */
	unsigned methods; /* SN_GET | SN_POST ... */
	const char *path; /* exact (trailing '/' optional); `*` at the end: any rest;
			   * `*` elsewhere: one non-empty segment */
	size_t body_max;  /* bytes; 0 = no body accepted beyond 64 KiB */
	sn_http_handler handler;
	void *ctx;
};

struct sn_http_options {
	const char *listen;	   /* "127.0.0.1:8000", "[::1]:8000", ":8000" */
	unsigned threads;	   /* server threads (epoll each); default = cores */
	unsigned connection_limit; /* default 10000 */
	unsigned timeout_s;	   /* idle connection timeout, default 60 */
	bool trust_proxy;	   /* honour X-Forwarded-For for the client IP */
	bool access_log;	   /* one JSON line per request */
};

/* Starts listening; fails with SN_ERR_IO (address in use, bad address). The
 * routes array must outlive the server. */
int sn_http_start(struct sn_http_server **out, const struct sn_http_options *opt,
		  const struct sn_http_route *routes, size_t nroutes, struct sn_err *err);
/* Whether a route's path pattern matches a request path (see
 * sn_http_route.path). Pure; exposed for tests. */
bool sn_http_path_matches(const char *pattern, const char *path);
/* The bound port (useful with port 0). */
unsigned sn_http_port(struct sn_http_server *s);
/* Stops accepting new connections (closes the listening socket); in-flight
 * requests continue. */
void sn_http_quiesce(struct sn_http_server *s);
/* Number of requests received and not yet answered. */
unsigned sn_http_inflight(struct sn_http_server *s);
/* Number of requests received since the start (an idle server's stays put). */
uint64_t sn_http_received(struct sn_http_server *s);
/* Stops the server: waits up to grace_ms for in-flight requests, then closes
 * every connection and frees the server. */
void sn_http_stop(struct sn_http_server *s, unsigned grace_ms);

/* ---- request accessors (valid inside the handler, and until completion) ------ */

enum sn_http_method sn_http_method(struct sn_http_request *req);
const char *sn_http_path(struct sn_http_request *req);
/* Query-string argument (url-decoded) or NULL; "" for `?flag`. */
const char *sn_http_query(struct sn_http_request *req, const char *name);
const char *sn_http_header(struct sn_http_request *req, const char *name);
/* A cookie of the request's Cookie header(s), or NULL. */
const char *sn_http_cookie(struct sn_http_request *req, const char *name);
const struct sn_buf *sn_http_body(struct sn_http_request *req);
bool sn_http_body_too_large(struct sn_http_request *req);
/* The client address: the socket peer, or the leftmost X-Forwarded-For
 * entry when trust_proxy is on. */
const char *sn_http_client_ip(struct sn_http_request *req);
/* Request-lifetime arena (released after the response is sent). */
struct sn_arena *sn_http_arena(struct sn_http_request *req);
/* The fields of a multipart/form-data or application/x-www-form-urlencoded
 * body (libmicrohttpd's post processor over the accumulated body), each
 * value whole and NUL-terminated, in the request arena. SN_ERR_INVALID
 * when the body is not a form (another Content-Type) or is malformed;
 * SN_ERR_TOO_BIG past SN_HTTP_FORM_MAX_FIELDS fields or the arena. */
#define SN_HTTP_FORM_MAX_FIELDS 256
struct sn_http_form_field {
	const char *name;
	const char *filename; /* a file part's name, or NULL */
	const char *data;
	size_t len;
};
int sn_http_form(struct sn_http_request *req, struct sn_http_form_field **fields, size_t *n);
/* Adds a field to this request's access-log line (value as a JSON string). */
void sn_http_log_field(struct sn_http_request *req, const char *key, const char *value);

/* ---- responses ------------------------------------------------------------------ */

/* Adds a response header (copied). Call before replying. */
void sn_http_add_header(struct sn_http_request *req, const char *name, const char *value);
/* Sends status with a body (copied). content_type may be NULL for no body. */
void sn_http_reply(struct sn_http_request *req, unsigned status, const char *content_type,
		   const void *body, size_t len);
void sn_http_reply_json(struct sn_http_request *req, unsigned status, const char *json);
/* PostHog's error shape: {"type":type,"code":code,"detail":detail,"attr":attr|null}. */
void sn_http_reply_error(struct sn_http_request *req, unsigned status, const char *type,
			 const char *code, const char *detail, const char *attr);
/* Mirrors Origin and Access-Control-Request-Headers, allows credentials and
 * the given methods (PostHog capture's permissive CORS). */
void sn_http_cors(struct sn_http_request *req, const char *methods);

/* Defers the answer: the handler returns, the connection is suspended, and
 * sn_http_reply* must be called later from any thread, followed by
 * sn_http_complete(req). */
void sn_http_defer(struct sn_http_request *req);
void sn_http_complete(struct sn_http_request *req);
/* True when the client of a deferred request has closed its connection (a
 * query nobody waits for can stop). Safe from any thread until
 * sn_http_complete; costs one poll() without waiting. */
bool sn_http_client_gone(struct sn_http_request *req);

#endif
