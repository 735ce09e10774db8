/*
 * auth.c — who may call the REST API, and on which project.
 *
 * Two ways in, checked in PostHog's order:
 *  - a personal API key (phx_..., stored as a SHA-256 hash in meta) as
 *    `Authorization: Bearer <key>`; when the header is there, it decides;
 *  - the web UI's login session: the `sessionid` cookie that POST
 *    /api/login sets (login.c, meta/sessions.c).
 * Then membership of the organization that owns the project in the path.
 *
 * A cookie rides along with every request a browser makes, including ones
 * another site makes it send, and the REST API answers CORS with the
 * caller's Origin and credentials allowed (capture's permissive policy), so
 * a session alone must not be enough:
 *  - a request carrying an Origin header must come from the server's own
 *    origin (Origin's host equals Host), whatever its method — otherwise a
 *    page elsewhere could read answers with the user's cookie;
 *  - an unsafe method (POST, PATCH, PUT, DELETE) must also echo the
 *    session's CSRF token in `X-CSRFToken` (the page reads it from the
 *    `posthog_csrftoken` cookie; Django's double submit, but checked against
 *    the token stored with the session, so a cookie planted by a sibling
 *    domain does not pass). The cookies are SameSite=Lax besides.
 * The refusals are Django's/DRF's: 403 "CSRF Failed: ...".
 *
 * The answers never tell more than the caller may know: missing or unknown
 * credentials are 401 whatever the path; with valid ones, a project that
 * does not exist and a project of another organization give the same 403,
 * so project ids cannot be probed. Objects inside a project the caller may
 * see (a flag id) are then 404 when absent.
 *
 * Not yet: key scopes (PostHog's scoped personal API keys; every key here
 * has every scope), project secret API keys.
 */
#include "api/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static void not_provided(struct sn_http_request *req)
{
	sn_http_reply_error(req, 401, "authentication_error", "not_authenticated",
			    "Authentication credentials were not provided: send Authorization: "
			    "Bearer <personal API key>, or log in (POST /api/login).",
			    NULL);
}

static void csrf_failed(struct sn_http_request *req, const char *why)
{
	char detail[160];
	snprintf(detail, sizeof(detail), "CSRF Failed: %s", why);
	sn_http_reply_error(req, 403, "authentication_error", "permission_denied", detail, NULL);
}

/* Whether Origin (when sent) names this server: its host[:port] equals the
 * Host header's. "null" (sandboxed frames, file: pages) is no origin. */
bool sn_api_same_origin(struct sn_http_request *req)
{
	const char *origin = sn_http_header(req, "Origin");
	if (!origin)
		return true;
	const char *host = sn_http_header(req, "Host");
	const char *p = strstr(origin, "://");
	if (!host || !*host || !p)
		return false;
	p += 3;
	size_t n = strlen(p);
	if (n > 0 && p[n - 1] == '/')
		n--;
	return n == strlen(host) && strncasecmp(p, host, n) == 0;
}

static bool safe_method(enum sn_http_method m)
{
	return m == SN_GET || m == SN_HEAD || m == SN_OPTIONS;
}

int sn_api_auth_user(struct sn_meta *m, struct sn_http_request *req, struct sn_user *user,
		     bool *by_session)
{
	struct sn_err err = {0};
	struct sn_user u;
	struct sn_apikey key;
	const char *auth = sn_http_header(req, "Authorization");
	if (by_session)
		*by_session = false;
	if (auth) {
		if (!sn_str_has_prefix(auth, "Bearer ") || !auth[7]) {
			not_provided(req);
			return SN_ERR_AUTH;
		}
		if (sn_meta_apikey_authenticate(m, auth + 7, &u, &key, &err)) {
			sn_http_reply_error(req, 401, "authentication_error",
					    "authentication_failed", "Personal API key is invalid.",
					    NULL);
			return SN_ERR_AUTH;
		}
		if (user)
			*user = u;
		return 0;
	}
	const char *sid = sn_http_cookie(req, SN_SESSION_COOKIE);
	char csrf[SN_SESSION_CSRF_LEN + 1];
	if (!sid || sn_meta_session_authenticate(m, sid, &u, csrf, &err)) {
		not_provided(req);
		return SN_ERR_AUTH;
	}
	if (!sn_api_same_origin(req)) {
		csrf_failed(req, "Origin checking failed - the request's Origin is not this "
				 "server's.");
		return SN_ERR_AUTH;
	}
	if (!safe_method(sn_http_method(req))) {
		const char *tok = sn_http_header(req, SN_CSRF_HEADER);
		if (!tok || !*tok) {
			csrf_failed(req, "CSRF token missing.");
			return SN_ERR_AUTH;
		}
		if (strlen(tok) != SN_SESSION_CSRF_LEN ||
		    sodium_memcmp(tok, csrf, SN_SESSION_CSRF_LEN) != 0) {
			csrf_failed(req, "CSRF token incorrect.");
			return SN_ERR_AUTH;
		}
	}
	if (by_session)
		*by_session = true;
	if (user)
		*user = u;
	return 0;
}

int sn_api_auth_team(struct sn_meta *m, struct sn_http_request *req, int64_t team_id,
		     struct sn_user *user, struct sn_team *team)
{
	struct sn_err err = {0};
	struct sn_user u;
	struct sn_team t;
	enum sn_member_level level;
	int rc = sn_api_auth_user(m, req, &u, NULL);
	if (rc)
		return rc;
	if (team_id <= 0 || sn_meta_team_get(m, team_id, &t, &err) ||
	    sn_meta_membership_level(m, t.organization_id, u.id, &level, &err)) {
		sn_http_reply_error(req, 403, "authentication_error", "permission_denied",
				    "You don't have access to the project.", NULL);
		return SN_ERR_AUTH;
	}
	if (user)
		*user = u;
	if (team)
		*team = t;
	return 0;
}
