/*
 * login.c — the web UI's login over PostHog's paths:
 *
 *   POST /api/login[/]     {"email","password"} → 200 {"success":true} and two
 *                          cookies: sessionid (HttpOnly) and posthog_csrftoken
 *   POST /api/logout[/]    ends the caller's session, clears both cookies
 *   GET  /api/users/@me/   who the caller is (API key or session)
 *
 * After a login, every REST endpoint accepts the session cookie in place of
 * a personal API key (auth.c has the CSRF rules that come with it).
 *
 * A password check is argon2id over 64 MiB for ~50–60 ms (meta/sqlite.c),
 * too long and too large for the HTTP server's event threads, which also
 * serve capture. So each login runs on a thread of its own, at most
 * LOGINS_MAX at once (128 MiB of hashing at most); past that a login gets
 * 429 with Retry-After rather than queueing without bound. Failed logins
 * are counted per client address: FAIL_LIMIT failures within FAIL_WINDOW
 * lock the address out until the window has passed since its first counted
 * failure (403 too_many_failed_attempts, PostHog's django-axes answer); a
 * success clears the count. The table is small and fixed (FAIL_SLOTS
 * addresses, the oldest entry reused): it bounds guessing from one
 * address, not a distributed attack, which the hash's cost slows instead.
 *
 * A login whose Origin is another site is refused (403): otherwise a page
 * elsewhere could log a visitor into the page's own account (login CSRF).
 * Sessions last SESSION_TTL (two weeks, Django's SESSION_COOKIE_AGE default
 * that PostHog keeps). The cookies are not marked Secure: snout serves plain
 * HTTP and a TLS proxy in front of it is the deployment's business (README
 * "Scale-out and security").
 */
#include "api/api.h"
#include "api/auth.h"
#include "api/rest.h"

#include <json-c/json.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOGINS_MAX  2
#define FAIL_LIMIT  30
#define FAIL_WINDOW (15 * 60 * (int64_t)1000000)
#define FAIL_SLOTS  512
#define SESSION_TTL (14 * 24 * 3600 * (int64_t)1000000)
#define BODY_MAX    (64 * 1024)

struct fail_slot {
	char ip[64];
	int64_t first_us; /* the window's first failure */
	unsigned count;
};

struct sn_login_api {
	struct sn_meta *meta;
	pthread_mutex_t mu;
	pthread_cond_t idle;
	unsigned running;
	bool closing;
	struct fail_slot fails[FAIL_SLOTS];
};

/* ---- failed attempts ---------------------------------------------------------------- */

/* The slot of ip (mu held); create: take a free or the oldest slot. */
static struct fail_slot *fail_slot(struct sn_login_api *a, const char *ip, bool create)
{
	struct fail_slot *oldest = &a->fails[0];
	for (size_t i = 0; i < FAIL_SLOTS; i++) {
		struct fail_slot *f = &a->fails[i];
		if (f->count && strcmp(f->ip, ip) == 0)
			return f;
		if (!f->count || (oldest->count && f->first_us < oldest->first_us))
			oldest = f;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->ip, sizeof(oldest->ip), "%s", ip);
	return oldest;
}

static bool locked_out(struct sn_login_api *a, const char *ip, int64_t now)
{
	pthread_mutex_lock(&a->mu);
	struct fail_slot *f = fail_slot(a, ip, false);
	if (f && now - f->first_us >= FAIL_WINDOW)
		memset(f, 0, sizeof(*f)), f = NULL;
	bool out = f && f->count >= FAIL_LIMIT;
	pthread_mutex_unlock(&a->mu);
	return out;
}

static void record(struct sn_login_api *a, const char *ip, bool ok, int64_t now)
{
	pthread_mutex_lock(&a->mu);
	struct fail_slot *f = fail_slot(a, ip, !ok);
	if (f && ok) {
		memset(f, 0, sizeof(*f));
	} else if (f) {
		if (!f->count || now - f->first_us >= FAIL_WINDOW) {
			f->first_us = now;
			f->count = 0;
		}
		f->count++;
	}
	pthread_mutex_unlock(&a->mu);
}

/* ---- cookies ------------------------------------------------------------------------ */

static void set_cookies(struct sn_http_request *req, const char *key, const char *csrf)
{
	char v[256];
	long long age = key ? (long long)(SESSION_TTL / 1000000) : 0;
	snprintf(v, sizeof(v), "%s=%s; Max-Age=%lld; Path=/; HttpOnly; SameSite=Lax",
		 SN_SESSION_COOKIE, key ? key : "", age);
	sn_http_add_header(req, "Set-Cookie", v);
	snprintf(v, sizeof(v), "%s=%s; Max-Age=%lld; Path=/; SameSite=Lax", SN_CSRF_COOKIE,
		 csrf ? csrf : "", age);
	sn_http_add_header(req, "Set-Cookie", v);
}

/* ---- login (on its own thread) ------------------------------------------------------ */

struct login_job {
	struct sn_login_api *a;
	struct sn_http_request *req;
	char *email, *password;
};

static void required(struct sn_http_request *req, const char *field)
{
	sn_http_reply_error(req, 400, "validation_error", "required", "This field is required.",
			    field);
}

static void *login_main(void *arg)
{
	struct login_job *j = arg;
	struct sn_login_api *a = j->a;
	struct sn_http_request *req = j->req;
	struct sn_err err = {0};
	struct sn_user u;
	const char *ip = sn_http_client_ip(req);
	int64_t now = sn_now_us();
	if (locked_out(a, ip, now)) {
		sn_http_reply_error(req, 403, "authentication_error", "too_many_failed_attempts",
				    "Too many failed login attempts. Please try again in 15 "
				    "minutes.",
				    NULL);
	} else if (sn_meta_user_check_password(a->meta, j->email, j->password, &u, &err)) {
		if (err.code == SN_ERR_AUTH) {
			record(a, ip, false, now);
			sn_http_reply_error(req, 400, "validation_error", "invalid_credentials",
					    "Invalid email or password.", NULL);
		} else {
			sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
		}
	} else {
		char key[SN_SESSION_KEY_LEN + 1], csrf[SN_SESSION_CSRF_LEN + 1];
		if (sn_meta_session_create(a->meta, u.id, SESSION_TTL, key, csrf, &err)) {
			sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
		} else {
			record(a, ip, true, now);
			set_cookies(req, key, csrf);
			sn_http_reply_json(req, 200, "{\"success\":true}");
			sodium_memzero(key, sizeof(key));
		}
	}
	sn_http_complete(req);
	sodium_memzero(j->password, strlen(j->password));
	free(j->email);
	free(j->password);
	free(j);
	pthread_mutex_lock(&a->mu);
	a->running--;
	pthread_cond_broadcast(&a->idle);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

static void login(struct sn_login_api *a, struct sn_http_request *req)
{
	if (!sn_api_same_origin(req)) {
		sn_http_reply_error(req, 403, "authentication_error", "permission_denied",
				    "CSRF Failed: Origin checking failed - the request's Origin "
				    "is not this server's.",
				    NULL);
		return;
	}
	struct json_object *body = sn_rest_parse_body(req);
	if (!body)
		return; /* answered */
	struct json_object *e = NULL, *p = NULL;
	json_object_object_get_ex(body, "email", &e);
	json_object_object_get_ex(body, "password", &p);
	if (!e || !json_object_is_type(e, json_type_string) || !*json_object_get_string(e)) {
		json_object_put(body);
		required(req, "email");
		return;
	}
	if (!p || !json_object_is_type(p, json_type_string) || !*json_object_get_string(p)) {
		json_object_put(body);
		required(req, "password");
		return;
	}
	struct login_job *j = calloc(1, sizeof(*j));
	if (j) {
		j->email = strdup(json_object_get_string(e));
		j->password = strdup(json_object_get_string(p));
	}
	json_object_put(body);
	if (!j || !j->email || !j->password) {
		if (j) {
			free(j->email);
			free(j->password);
		}
		free(j);
		sn_http_reply_error(req, 500, "server_error", "error", "out of memory", NULL);
		return;
	}
	j->a = a;
	j->req = req;
	pthread_mutex_lock(&a->mu);
	bool busy = a->closing || a->running >= LOGINS_MAX;
	if (!busy)
		a->running++;
	pthread_mutex_unlock(&a->mu);
	pthread_t t;
	pthread_attr_t attr;
	bool started = false;
	if (!busy) {
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		sn_http_defer(req);
		started = pthread_create(&t, &attr, login_main, j) == 0;
		pthread_attr_destroy(&attr);
		if (!started) {
			pthread_mutex_lock(&a->mu);
			a->running--;
			pthread_cond_broadcast(&a->idle);
			pthread_mutex_unlock(&a->mu);
		}
	}
	if (started)
		return;
	sodium_memzero(j->password, strlen(j->password));
	free(j->email);
	free(j->password);
	free(j);
	sn_http_add_header(req, "Retry-After", "1");
	sn_http_reply_error(req, 429, "throttled", "too_many_requests",
			    "too many logins are being checked at once; retry shortly", NULL);
	if (!busy)
		sn_http_complete(req); /* deferred above */
}

/* ---- logout, @me -------------------------------------------------------------------- */

static void logout(struct sn_login_api *a, struct sn_http_request *req)
{
	struct sn_err err = {0};
	bool by_session;
	if (sn_api_auth_user(a->meta, req, NULL, &by_session))
		return; /* answered */
	if (by_session &&
	    sn_meta_session_delete(a->meta, sn_http_cookie(req, SN_SESSION_COOKIE), &err)) {
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
		return;
	}
	if (by_session)
		set_cookies(req, NULL, NULL);
	sn_http_reply_json(req, 200, "{\"success\":true}");
}

static void me(struct sn_login_api *a, struct sn_http_request *req)
{
	struct sn_user u;
	if (sn_api_auth_user(a->meta, req, &u, NULL))
		return; /* answered */
	struct sn_buf b;
	sn_buf_init(&b, 64 * 1024);
	sn_buf_appendf(&b, "{\"id\":%lld,\"uuid\":\"%s\",\"distinct_id\":\"%s\",\"first_name\":",
		       (long long)u.id, u.uuid, u.uuid);
	sn_buf_append_json_str(&b, u.first_name, strlen(u.first_name));
	sn_buf_appends(&b, ",\"last_name\":\"\",\"email\":");
	sn_buf_append_json_str(&b, u.email, strlen(u.email));
	sn_buf_appendf(&b, ",\"is_email_verified\":true,\"is_staff\":%s,\"date_joined\":",
		       u.is_staff ? "true" : "false");
	sn_rest_append_time(&b, u.created_at_us);
	sn_buf_appendc(&b, '}');
	sn_rest_reply_buf(req, 200, &b);
	sn_buf_release(&b);
}

static void handler(struct sn_http_request *req, void *ctx)
{
	struct sn_login_api *a = ctx;
	const char *path = sn_http_path(req);
	enum sn_http_method m = sn_http_method(req);
	if (strstr(path, "/users/")) {
		if (m == SN_GET || m == SN_HEAD)
			me(a, req);
		else
			sn_rest_not_allowed(req);
	} else if (m != SN_POST) {
		sn_rest_not_allowed(req);
	} else if (strstr(path, "/logout")) {
		logout(a, req);
	} else {
		login(a, req);
	}
}

int sn_login_api_new(struct sn_login_api **out, struct sn_meta *meta, struct sn_err *err)
{
	struct sn_login_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->idle, NULL);
	*out = a;
	return 0;
}

void sn_login_api_close(struct sn_login_api *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->closing = true;
	while (a->running > 0)
		pthread_cond_wait(&a->idle, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

void sn_login_api_free(struct sn_login_api *a)
{
	if (!a)
		return;
	sn_login_api_close(a);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->idle);
	free(a);
}

size_t sn_login_api_routes(struct sn_login_api *a, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_HEAD | SN_POST | SN_PATCH | SN_DELETE;
	const struct sn_http_route all[] = {
	    {"login", m, "/api/login", BODY_MAX, handler, a},
	    {"login", m, "/api/logout", BODY_MAX, handler, a},
	    {"users", m, "/api/users/@me", BODY_MAX, handler, a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
