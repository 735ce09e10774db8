/*
 * auth.c — who may call the REST API: a personal API key (phx_..., stored
 * as a SHA-256 hash in meta) presented as `Authorization: Bearer <key>`, and
 * membership of the organization that owns the project named in the path.
 *
 * The answers never tell more than the caller may know: a missing or
 * unknown key is 401 whatever the path; with a valid key, a project that
 * does not exist and a project of another organization give the same 403,
 * so project ids cannot be probed. Objects inside a project the caller may
 * see (a flag id) are then 404 when absent.
 *
 * Not yet: key scopes (PostHog's scoped personal API keys; every key here
 * has every scope), project secret API keys, session cookies of the UI.
 */
#include "api/auth.h"

#include <string.h>

int sn_api_auth_team(struct sn_meta *m, struct sn_http_request *req, int64_t team_id,
		     struct sn_user *user, struct sn_team *team)
{
	struct sn_err err = {0};
	struct sn_user u;
	struct sn_apikey key;
	struct sn_team t;
	enum sn_member_level level;
	const char *auth = sn_http_header(req, "Authorization");
	if (!auth || !sn_str_has_prefix(auth, "Bearer ") || !auth[7]) {
		sn_http_reply_error(req, 401, "authentication_error", "not_authenticated",
				    "Authentication credentials were not provided: send "
				    "Authorization: Bearer <personal API key>.",
				    NULL);
		return SN_ERR_AUTH;
	}
	if (sn_meta_apikey_authenticate(m, auth + 7, &u, &key, &err)) {
		sn_http_reply_error(req, 401, "authentication_error", "authentication_failed",
				    "Personal API key is invalid.", NULL);
		return SN_ERR_AUTH;
	}
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
