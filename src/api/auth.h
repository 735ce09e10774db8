/*
 * auth.h — authentication of REST API requests, shared by the API's
 * endpoints: a personal API key (`Authorization: Bearer phx_...`) whose user
 * is a member of the organization that owns the project in the path.
 */
#ifndef SN_API_AUTH_H
#define SN_API_AUTH_H

#include "http/http.h"
#include "meta/meta.h"

/* Checks the Authorization header and the user's membership of team_id's
 * organization. On success returns 0 with user and team filled (either may
 * be NULL). On failure it has already answered: 401 without a key or with
 * an unknown one, 403 for a project that does not exist or belongs to
 * another organization (the same answer, so ids cannot be probed), and
 * returns the negative SN_ERR_* code. Costs one indexed key lookup and two
 * small queries. */
int sn_api_auth_team(struct sn_meta *m, struct sn_http_request *req, int64_t team_id,
		     struct sn_user *user, struct sn_team *team);

#endif
