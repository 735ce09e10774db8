/*
 * auth.h — authentication of REST API requests, shared by the API's
 * endpoints: a personal API key (`Authorization: Bearer phx_...`) or the web
 * UI's login session (the sessionid cookie, with the CSRF rules of auth.c),
 * whose user is a member of the organization that owns the project in the
 * path.
 */
#ifndef SN_API_AUTH_H
#define SN_API_AUTH_H

#include "http/http.h"
#include "meta/meta.h"

#define SN_SESSION_COOKIE "sessionid"	      /* Django's session cookie name */
#define SN_CSRF_COOKIE	  "posthog_csrftoken" /* PostHog's CSRF_COOKIE_NAME */
#define SN_CSRF_HEADER	  "X-CSRFToken"

/* Who is calling: the personal API key of the Authorization header, else the
 * session cookie (same-origin requests only; unsafe methods must echo the
 * session's CSRF token). 0 with user filled (may be NULL) and *by_session
 * (may be NULL) saying which; otherwise it has answered 401/403 and returns
 * SN_ERR_AUTH. */
int sn_api_auth_user(struct sn_meta *m, struct sn_http_request *req, struct sn_user *user,
		     bool *by_session);

/* Whether the request's Origin, when it sends one, is this server's own
 * (its host[:port] equals the Host header). */
bool sn_api_same_origin(struct sn_http_request *req);

/* Checks the caller (sn_api_auth_user) and the user's membership of team_id's
 * organization. On success returns 0 with user and team filled (either may
 * be NULL). On failure it has already answered: 401 without a key or with
 * an unknown one, 403 for a project that does not exist or belongs to
 * another organization (the same answer, so ids cannot be probed), and
 * returns the negative SN_ERR_* code. Costs one indexed key lookup and two
 * small queries. */
int sn_api_auth_team(struct sn_meta *m, struct sn_http_request *req, int64_t team_id,
		     struct sn_user *user, struct sn_team *team);

#endif
