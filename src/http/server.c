/*
 * server.c — the HTTP server: libmicrohttpd underneath, snout's router and
 * request model on top.
 *
 * Threads: MHD runs a pool of `threads` internal threads, each with its own
 * epoll loop over a share of the connections. Handlers run on those threads
 * and must not block on disk: a handler that has to wait (capture waits for
 * the WAL's group commit) calls sn_http_defer(); the connection is then
 * suspended (MHD_suspend_connection) and the thread serves other
 * connections. Whoever finishes the work — the WAL flusher thread — stores
 * the reply and calls sn_http_complete(), which resumes the connection; MHD
 * calls us again on its own thread and we queue the stored response there
 * (MHD only accepts responses from inside the access handler).
 *
 *   headers ─▶ route lookup ─▶ body chunks ─▶ handler ─┬─▶ reply now ─▶ queue
 *                                                      └─▶ defer ─▶ suspend
 *                      complete() from any thread ─▶ resume ─▶ queue ──┘
 *
 * The defer/complete race (completion before the suspend happened) is closed
 * by a per-request mutex: whichever side comes second does the resume or the
 * queueing.
 *
 * Bodies are accumulated into a bounded sn_buf (the route's body_max); a
 * Content-Length above the limit is answered 413 before the body is read.
 * Every request ends in on_completed, which writes the access-log line,
 * counts metrics and frees the request with its arena.
 *
 * Rejected alternative: one thread per connection blocking on the WAL
 * (simpler, but thousands of SDK keep-alive connections would mean thousands
 * of threads parked on fsync).
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define SMALL_BODY_MAX	 (64 * 1024)
#define MAX_LOG_FIELDS	 8
#define MAX_RESP_HEADERS 12

struct header {
	char *name;
	char *value;
};

struct sn_http_server {
	struct MHD_Daemon *daemon;
	const struct sn_http_route *routes;
	size_t nroutes;
	struct sn_http_options opt;
	unsigned port;
	unsigned inflight;
	uint64_t received; /* requests ever received */
	bool quiesced;
};

struct sn_http_request {
	struct sn_http_server *srv;
	struct MHD_Connection *conn;
	const struct sn_http_route *route;
	enum sn_http_method method;
	const char *method_name;
	char *path;
	struct sn_buf body;
	bool body_too_large;
	uint64_t bytes_in;
	struct sn_arena arena;
	char client_ip[64];
	uint64_t start_ns;

	/* reply */
	pthread_mutex_t mu;
	bool handled;
	bool deferred;
	bool suspended;
	bool completed;
	bool replied;
	unsigned status;
	char *resp_body;
	size_t resp_len;
	char *content_type;
	struct header headers[MAX_RESP_HEADERS];
	int nheaders;

	const char *log_keys[MAX_LOG_FIELDS];
	const char *log_vals[MAX_LOG_FIELDS];
	int nlog;
};

/* ---- helpers ------------------------------------------------------------------ */

static enum sn_http_method parse_method(const char *m)
{
	static const struct {
		const char *name;
		enum sn_http_method v;
	} tab[] = {{"GET", SN_GET}, {"POST", SN_POST},	 {"OPTIONS", SN_OPTIONS}, {"HEAD", SN_HEAD},
		   {"PUT", SN_PUT}, {"PATCH", SN_PATCH}, {"DELETE", SN_DELETE}};
	for (size_t i = 0; i < SN_ARRAY_LEN(tab); i++)
		if (strcmp(m, tab[i].name) == 0)
			return tab[i].v;
	return 0;
}

/* A pattern is a path where a final `*` matches any rest (a prefix route)
 * and a `*` followed by more pattern matches exactly one non-empty segment,
 * so one route can name /api/projects/<id>/query/ for every id; otherwise a
 * trailing '/' on either side is optional. */
bool sn_http_path_matches(const char *pat, const char *path)
{
	for (;;) {
		if (*pat == '*') {
			if (pat[1] == 0)
				return true;
			size_t seg = strcspn(path, "/");
			if (seg == 0)
				return false;
			path += seg;
			pat++;
			continue;
		}
		if (*pat == 0 || *path == 0 || *pat != *path)
			break;
		pat++;
		path++;
	}
	if (*pat == 0)
		return *path == 0 || (path[0] == '/' && path[1] == 0);
	if (*path == 0)
		return pat[0] == '/' && pat[1] == 0;
	return false;
}

static const struct sn_http_route *find_route(struct sn_http_server *s, const char *path,
					      enum sn_http_method m, bool *path_found)
{
	*path_found = false;
	for (size_t i = 0; i < s->nroutes; i++) {
		if (!sn_http_path_matches(s->routes[i].path, path))
			continue;
		*path_found = true;
		if (s->routes[i].methods & m)
			return &s->routes[i];
	}
	return NULL;
}

static void client_ip_of(struct sn_http_request *req)
{
	if (req->srv->opt.trust_proxy) {
		const char *xff =
		    MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, "X-Forwarded-For");
		if (xff && *xff) {
			while (*xff == ' ')
				xff++;
			size_t n = strcspn(xff, ", ");
			if (n > 0 && n < sizeof(req->client_ip)) {
				memcpy(req->client_ip, xff, n);
				req->client_ip[n] = 0;
				return;
			}
		}
	}
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	strcpy(req->client_ip, "unknown");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			  req->client_ip, sizeof(req->client_ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  req->client_ip, sizeof(req->client_ip));
}

static void request_free(struct sn_http_request *req)
{
	sn_buf_release(&req->body);
	sn_arena_release(&req->arena);
	free(req->path);
	free(req->resp_body);
	free(req->content_type);
	for (int i = 0; i < req->nheaders; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	pthread_mutex_destroy(&req->mu);
	free(req);
}

static enum MHD_Result queue_reply(struct sn_http_request *req)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(req->resp_len, req->resp_body, MHD_RESPMEM_MUST_FREE);
	if (!r)
		return MHD_NO;
	req->resp_body = NULL; /* owned by MHD now */
	if (req->content_type)
		MHD_add_response_header(r, "Content-Type", req->content_type);
	for (int i = 0; i < req->nheaders; i++)
		MHD_add_response_header(r, req->headers[i].name, req->headers[i].value);
	enum MHD_Result ret = MHD_queue_response(req->conn, req->status, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- MHD callbacks ------------------------------------------------------------------ */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	(void)version;
	struct sn_http_server *s = cls;
	struct sn_http_request *req = *con_cls;

	if (!req) {
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		pthread_mutex_init(&req->mu, NULL);
		req->srv = s;
		req->conn = conn;
		req->start_ns = sn_mono_ns();
		req->method = parse_method(method);
		req->method_name = method;
		req->path = strdup(url);
		sn_arena_init(&req->arena, 256u << 20);
		client_ip_of(req);
		__atomic_fetch_add(&s->inflight, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->received, 1, __ATOMIC_RELAXED);
		*con_cls = req;
		if (!req->path)
			return MHD_NO;
		bool path_found;
		req->route = find_route(s, req->path, req->method, &path_found);
		size_t max =
		    req->route && req->route->body_max ? req->route->body_max : SMALL_BODY_MAX;
		sn_buf_init(&req->body, max);
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			unsigned long long n = strtoull(cl, NULL, 10);
			if (n > max) {
				/* Answer before reading: MHD closes the connection instead
				 * of draining an oversized upload. */
				req->handled = true;
				char msg[160];
				snprintf(
				    msg, sizeof(msg),
				    "request body of %llu bytes exceeds the limit of %zu bytes "
				    "for this endpoint",
				    n, max);
				sn_http_reply_error(req, 413, "validation_error",
						    "payload_too_large", msg, NULL);
				return queue_reply(req);
			}
			if (n > 0)
				sn_buf_reserve(&req->body, (size_t)n);
		}
		return MHD_YES;
	}

	if (*upload_size) {
		req->bytes_in += *upload_size;
		if (!req->body_too_large && sn_buf_append(&req->body, upload, *upload_size))
			req->body_too_large = true;
		*upload_size = 0;
		return MHD_YES;
	}

	if (!req->handled) {
		req->handled = true;
		if (!req->route) {
			bool path_found;
			find_route(s, req->path,
				   SN_GET | SN_POST | SN_OPTIONS | SN_HEAD | SN_PUT | SN_PATCH |
				       SN_DELETE,
				   &path_found);
			if (path_found)
				sn_http_reply_error(req, 405, "invalid_request",
						    "method_not_allowed",
						    "method not allowed on this path", NULL);
			else
				sn_http_reply_error(req, 404, "invalid_request", "not_found",
						    "no such endpoint", NULL);
		} else {
			req->route->handler(req, req->route->ctx);
		}
		pthread_mutex_lock(&req->mu);
		if (req->deferred && !req->completed) {
			req->suspended = true;
			MHD_suspend_connection(conn);
			pthread_mutex_unlock(&req->mu);
			return MHD_YES;
		}
		pthread_mutex_unlock(&req->mu);
	}
	if (!req->replied)
		sn_http_reply_error(req, 500, "server_error", "no_response",
				    "the handler produced no response", NULL);
	return queue_reply(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)conn;
	struct sn_http_server *s = cls;
	struct sn_http_request *req = *con_cls;
	if (!req)
		return;
	*con_cls = NULL;
	double secs = (double)(sn_mono_ns() - req->start_ns) / 1e9;
	const char *route = req->route ? req->route->name : "unmatched";
	unsigned status = req->replied ? req->status : 0;
	char labels[160];
	snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%u\"", route, status);
	sn_metric_inc("snout_http_requests_total", labels, 1);
	snprintf(labels, sizeof(labels), "route=\"%s\"", route);
	sn_metric_observe(sn_metric_series("snout_http_request_seconds", labels), secs);

	if (s->opt.access_log) {
		struct sn_buf b;
		char ts[32];
		sn_buf_init(&b, 8192);
		sn_time_format_rfc3339(sn_now_us(), ts);
		sn_buf_appendf(
		    &b, "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"request\",\"method\":", ts);
		sn_buf_append_json_str(&b, req->method_name, strlen(req->method_name));
		sn_buf_appends(&b, ",\"path\":");
		sn_buf_append_json_str(&b, req->path ? req->path : "",
				       req->path ? strlen(req->path) : 0);
		sn_buf_appendf(
		    &b,
		    ",\"route\":\"%s\",\"status\":%u,\"bytes_in\":%llu,\"bytes_out\":%zu,"
		    "\"duration_ms\":%.3f,\"ip\":\"%s\"",
		    route, status, (unsigned long long)req->bytes_in, req->resp_len, secs * 1e3,
		    req->client_ip);
		if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
			sn_buf_appendf(&b, ",\"aborted\":%d", (int)toe);
		for (int i = 0; i < req->nlog; i++) {
			sn_buf_appendc(&b, ',');
			sn_buf_append_json_str(&b, req->log_keys[i], strlen(req->log_keys[i]));
			sn_buf_appendc(&b, ':');
			sn_buf_append_json_str(&b, req->log_vals[i], strlen(req->log_vals[i]));
		}
		sn_buf_appendc(&b, '}');
		if (b.data)
			sn_log_raw_line(b.data, b.len);
		sn_buf_release(&b);
	}
	__atomic_fetch_sub(&s->inflight, 1, __ATOMIC_RELAXED);
	request_free(req);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	sn_log_warn("http: %s", msg);
}

/* ---- server lifecycle -------------------------------------------------------------- */

static int parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen, bool *v6,
			struct sn_err *err)
{
	char host[256], port[16];
	const char *colon;
	if (listen[0] == '[') {
		const char *end = strchr(listen, ']');
		if (!end || end[1] != ':')
			return sn_err_set(err, SN_ERR_INVALID,
					  "listen address '%s' is not [ipv6]:port", listen);
		snprintf(host, sizeof(host), "%.*s", (int)(end - listen - 1), listen + 1);
		colon = end + 1;
	} else {
		colon = strrchr(listen, ':');
		if (!colon)
			return sn_err_set(err, SN_ERR_INVALID,
					  "listen address '%s' is not host:port", listen);
		snprintf(host, sizeof(host), "%.*s", (int)(colon - listen), listen);
	}
	snprintf(port, sizeof(port), "%s", colon + 1);
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 0 || p > 65535)
		return sn_err_set(err, SN_ERR_INVALID, "listen address '%s' has an invalid port",
				  listen);
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
			*res = NULL;
	int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (gai || !res)
		return sn_err_set(err, SN_ERR_INVALID, "cannot resolve listen address '%s': %s",
				  listen, gai_strerror(gai));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	*v6 = res->ai_family == AF_INET6;
	freeaddrinfo(res);
	return 0;
}

int sn_http_start(struct sn_http_server **out, const struct sn_http_options *opt,
		  const struct sn_http_route *routes, size_t nroutes, struct sn_err *err)
{
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	bool v6 = false;
	int rc = parse_listen(opt->listen, &ss, &sslen, &v6, err);
	if (rc)
		return rc;
	(void)sslen;
	struct sn_http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	s->opt = *opt;
	s->routes = routes;
	s->nroutes = nroutes;
	unsigned threads = opt->threads;
	if (!threads) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 2;
	}
	sn_metrics_declare("snout_http_requests_total", SN_METRIC_COUNTER,
			   "HTTP requests by route and status");
	sn_metrics_declare("snout_http_request_seconds", SN_METRIC_HISTOGRAM,
			   "HTTP request duration by route");
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG | MHD_USE_TURBO;
	if (v6)
		flags |= MHD_USE_IPv6;
	s->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_CONNECTION_LIMIT, opt->connection_limit ? opt->connection_limit : 10000,
	    MHD_OPTION_CONNECTION_TIMEOUT, opt->timeout_s ? opt->timeout_s : 60,
	    /* MHD's per-connection pool (request line, headers, read buffer;
	     * bodies are copied out as they arrive) is cleared for every
	     * request on a keep-alive connection: 32 KiB (MHD's default)
	     * takes headers up to about 16 KB and, against 64 KiB, gave
	     * /flags 5 % more requests/s (docs/BENCHMARKS.md). */
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(32 * 1024), MHD_OPTION_NOTIFY_COMPLETED,
	    on_completed, s, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
	if (!s->daemon) {
		free(s);
		return sn_err_set(err, SN_ERR_IO,
				  "cannot listen on %s (address in use or not available)",
				  opt->listen);
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	s->port = di ? di->port : 0;
	*out = s;
	return 0;
}

unsigned sn_http_port(struct sn_http_server *s)
{
	return s->port;
}

void sn_http_quiesce(struct sn_http_server *s)
{
	if (s->quiesced)
		return;
	s->quiesced = true;
	MHD_socket fd = MHD_quiesce_daemon(s->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

unsigned sn_http_inflight(struct sn_http_server *s)
{
	return __atomic_load_n(&s->inflight, __ATOMIC_RELAXED);
}

uint64_t sn_http_received(struct sn_http_server *s)
{
	return __atomic_load_n(&s->received, __ATOMIC_RELAXED);
}

void sn_http_stop(struct sn_http_server *s, unsigned grace_ms)
{
	if (!s)
		return;
	sn_http_quiesce(s);
	uint64_t deadline = sn_mono_ns() + (uint64_t)grace_ms * 1000000u;
	while (sn_http_inflight(s) > 0 && sn_mono_ns() < deadline)
		usleep(5000);
	if (sn_http_inflight(s) > 0)
		sn_log_warn("http: stopping with %u requests still in flight", sn_http_inflight(s));
	MHD_stop_daemon(s->daemon);
	free(s);
}

/* ---- request accessors ------------------------------------------------------------ */

enum sn_http_method sn_http_method(struct sn_http_request *req)
{
	return req->method;
}

const char *sn_http_path(struct sn_http_request *req)
{
	return req->path;
}

const char *sn_http_query(struct sn_http_request *req, const char *name)
{
	const char *v = NULL;
	size_t vlen = 0;
	if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
					  &vlen) != MHD_YES)
		return NULL;
	return v ? v : "";
}

const char *sn_http_header(struct sn_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *sn_http_cookie(struct sn_http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

const struct sn_buf *sn_http_body(struct sn_http_request *req)
{
	return &req->body;
}

bool sn_http_body_too_large(struct sn_http_request *req)
{
	return req->body_too_large;
}

const char *sn_http_client_ip(struct sn_http_request *req)
{
	return req->client_ip;
}

struct sn_arena *sn_http_arena(struct sn_http_request *req)
{
	return &req->arena;
}

/* ---- forms ---------------------------------------------------------------------- */

/* MHD's post processor hands a field over in chunks (off grows); chunks of
 * one field are joined in a buffer of the request arena that doubles. */
struct form_ctx {
	struct sn_http_request *req;
	struct sn_http_form_field *f;
	size_t n, cap;
	size_t *bufcap;
	bool nomem;
};

static enum MHD_Result form_iter(void *cls, enum MHD_ValueKind kind, const char *key,
				 const char *filename, const char *content_type,
				 const char *transfer_encoding, const char *data, uint64_t off,
				 size_t size)
{
	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	struct form_ctx *fc = cls;
	struct sn_arena *a = &fc->req->arena;
	struct sn_http_form_field *f = fc->n ? &fc->f[fc->n - 1] : NULL;
	if (off == 0 || !f || strcmp(f->name, key) != 0) {
		if (fc->n == fc->cap) {
			size_t cap = fc->cap ? fc->cap * 2 : 8;
			struct sn_http_form_field *nf = sn_arena_alloc(a, cap * sizeof(*nf));
			size_t *nb = sn_arena_alloc(a, cap * sizeof(*nb));
			if (!nf || !nb || cap > SN_HTTP_FORM_MAX_FIELDS) {
				fc->nomem = true;
				return MHD_NO;
			}
			if (fc->n) {
				memcpy(nf, fc->f, fc->n * sizeof(*nf));
				memcpy(nb, fc->bufcap, fc->n * sizeof(*nb));
			}
			fc->f = nf;
			fc->bufcap = nb;
			fc->cap = cap;
		}
		f = &fc->f[fc->n];
		memset(f, 0, sizeof(*f));
		f->name = sn_arena_strdup(a, key ? key : "");
		f->filename = filename ? sn_arena_strdup(a, filename) : NULL;
		fc->bufcap[fc->n] = 0;
		fc->n++;
		if (!f->name) {
			fc->nomem = true;
			return MHD_NO;
		}
	}
	size_t *cap = &fc->bufcap[fc->n - 1];
	if (f->len + size + 1 > *cap) {
		size_t nc = *cap ? *cap : 256;
		while (nc < f->len + size + 1)
			nc *= 2;
		char *nd = sn_arena_alloc(a, nc);
		if (!nd) {
			fc->nomem = true;
			return MHD_NO;
		}
		if (f->len)
			memcpy(nd, f->data, f->len);
		f->data = nd;
		*cap = nc;
	}
	memcpy((char *)f->data + f->len, data, size);
	f->len += size;
	((char *)f->data)[f->len] = 0;
	return MHD_YES;
}

int sn_http_form(struct sn_http_request *req, struct sn_http_form_field **fields, size_t *n)
{
	*fields = NULL;
	*n = 0;
	struct form_ctx fc = {.req = req};
	struct MHD_PostProcessor *pp =
	    MHD_create_post_processor(req->conn, 64 * 1024, form_iter, &fc);
	if (!pp)
		return SN_ERR_INVALID; /* not a form content type */
	enum MHD_Result r =
	    MHD_post_process(pp, req->body.data ? req->body.data : "", req->body.len);
	enum MHD_Result d = MHD_destroy_post_processor(pp);
	if (fc.nomem)
		return SN_ERR_TOO_BIG;
	if (r != MHD_YES || d != MHD_YES)
		return SN_ERR_INVALID;
	*fields = fc.f;
	*n = fc.n;
	return 0;
}

void sn_http_log_field(struct sn_http_request *req, const char *key, const char *value)
{
	if (req->nlog >= MAX_LOG_FIELDS)
		return;
	const char *v = sn_arena_strdup(&req->arena, value);
	if (!v)
		return;
	req->log_keys[req->nlog] = key;
	req->log_vals[req->nlog] = v;
	req->nlog++;
}

/* ---- responses ---------------------------------------------------------------------- */

void sn_http_add_header(struct sn_http_request *req, const char *name, const char *value)
{
	if (req->nheaders >= MAX_RESP_HEADERS)
		return;
	char *n = strdup(name), *v = strdup(value);
	if (!n || !v) {
		free(n);
		free(v);
		return;
	}
	req->headers[req->nheaders].name = n;
	req->headers[req->nheaders].value = v;
	req->nheaders++;
}

void sn_http_reply(struct sn_http_request *req, unsigned status, const char *content_type,
		   const void *body, size_t len)
{
	free(req->resp_body);
	free(req->content_type);
	req->resp_body = NULL;
	req->content_type = content_type ? strdup(content_type) : NULL;
	req->resp_len = 0;
	if (body && len) {
		req->resp_body = malloc(len);
		if (req->resp_body) {
			memcpy(req->resp_body, body, len);
			req->resp_len = len;
		}
	}
	req->status = status;
	req->replied = true;
}

void sn_http_reply_json(struct sn_http_request *req, unsigned status, const char *json)
{
	sn_http_reply(req, status, "application/json", json, strlen(json));
}

void sn_http_reply_error(struct sn_http_request *req, unsigned status, const char *type,
			 const char *code, const char *detail, const char *attr)
{
	struct sn_buf b;
	sn_buf_init(&b, 16384);
	sn_buf_appends(&b, "{\"type\":");
	sn_buf_append_json_str(&b, type, strlen(type));
	sn_buf_appends(&b, ",\"code\":");
	sn_buf_append_json_str(&b, code, strlen(code));
	sn_buf_appends(&b, ",\"detail\":");
	sn_buf_append_json_str(&b, detail, strlen(detail));
	sn_buf_appends(&b, ",\"attr\":");
	if (attr)
		sn_buf_append_json_str(&b, attr, strlen(attr));
	else
		sn_buf_appends(&b, "null");
	sn_buf_appendc(&b, '}');
	sn_http_reply(req, status, "application/json", b.data, b.len);
	sn_buf_release(&b);
	sn_http_log_field(req, "error", detail);
}

void sn_http_cors(struct sn_http_request *req, const char *methods)
{
	const char *origin = sn_http_header(req, "Origin");
	sn_http_add_header(req, "Access-Control-Allow-Origin", origin && *origin ? origin : "*");
	sn_http_add_header(req, "Access-Control-Allow-Credentials", "true");
	sn_http_add_header(req, "Access-Control-Allow-Methods", methods);
	const char *hdrs = sn_http_header(req, "Access-Control-Request-Headers");
	if (hdrs && *hdrs)
		sn_http_add_header(req, "Access-Control-Allow-Headers", hdrs);
	sn_http_add_header(req, "Vary", "Origin");
}

void sn_http_defer(struct sn_http_request *req)
{
	req->deferred = true;
}

bool sn_http_client_gone(struct sn_http_request *req)
{
	/* A suspended connection's socket stays open until MHD resumes it, so
	 * the descriptor is valid here. The peer's FIN shows as POLLRDHUP (or
	 * a zero-byte peek), a reset as POLLERR/POLLHUP; bytes the client sent
	 * after its request (pipelining) only make it readable. */
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci)
		return false;
	struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLRDHUP | POLLERR | POLLHUP | POLLNVAL))
		return true;
	char c;
	return recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

void sn_http_complete(struct sn_http_request *req)
{
	struct MHD_Connection *conn = req->conn;
	pthread_mutex_lock(&req->mu);
	req->completed = true;
	bool resume = req->suspended;
	req->suspended = false;
	pthread_mutex_unlock(&req->mu);
	/* A suspended request cannot be freed until resumed, and must not be
	 * touched after: MHD may answer and free it on its own thread at once. */
	if (resume)
		MHD_resume_connection(conn);
}
