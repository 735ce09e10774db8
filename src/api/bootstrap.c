/*
 * bootstrap.c — first start. An empty metadata database gets one
 * organization, one team (project) and one admin user with a personal API
 * key, so a new user can send events right away. The credentials are printed
 * once; only hashes are stored, so they cannot be shown again (new keys come
 * from `snout apikey create`).
 *
 * Automated deployments set SNOUT_BOOTSTRAP_TOKEN, SNOUT_BOOTSTRAP_API_KEY,
 * SNOUT_BOOTSTRAP_EMAIL and SNOUT_BOOTSTRAP_PASSWORD; they are read only when
 * the database is new, and ignored (with a note in the log) afterwards.
 */
#include "api.h"

#include <stdlib.h>
#include <string.h>

int sn_bootstrap(struct sn_meta *m, struct sn_bootstrap_info *info, struct sn_err *err)
{
	memset(info, 0, sizeof(*info));
	bool empty;
	int rc = sn_meta_is_empty(m, &empty, err);
	if (rc)
		return rc;
	const char *token = getenv("SNOUT_BOOTSTRAP_TOKEN");
	const char *key = getenv("SNOUT_BOOTSTRAP_API_KEY");
	const char *email = getenv("SNOUT_BOOTSTRAP_EMAIL");
	const char *password = getenv("SNOUT_BOOTSTRAP_PASSWORD");
	if (!empty) {
		if (token || key || email || password)
			sn_log_info("bootstrap: data directory already initialised; "
				    "SNOUT_BOOTSTRAP_* variables ignored");
		return 0;
	}
	char genpw[32];
	bool generated_pw = false;
	if (!email || !*email)
		email = "admin@snout.local";
	if (!password || !*password) {
		sn_random_token(genpw, sizeof(genpw), "", 20);
		password = genpw;
		generated_pw = true;
	}
	struct sn_org org;
	struct sn_team team;
	struct sn_user user;
	struct sn_apikey ak;
	char plain_key[160];
	if ((rc = sn_meta_org_create(m, "Default Organization", &org, err)))
		goto fail;
	if ((rc = sn_meta_team_create(m, org.id, "Default Project", token && *token ? token : NULL,
				      NULL, &team, err)))
		goto fail;
	if ((rc = sn_meta_user_create(m, email, password, "Admin", true, &user, err)))
		goto fail;
	if ((rc = sn_meta_membership_add(m, org.id, user.id, SN_LEVEL_OWNER, err)))
		goto fail;
	if ((rc = sn_meta_apikey_create(m, user.id, "bootstrap", key && *key ? key : NULL,
					plain_key, sizeof(plain_key), &ak, err)))
		goto fail;
	info->created = true;
	snprintf(info->token, sizeof(info->token), "%s", team.api_token);
	snprintf(info->api_key, sizeof(info->api_key), "%s", plain_key);
	snprintf(info->email, sizeof(info->email), "%s", user.email);
	if (generated_pw)
		snprintf(info->password, sizeof(info->password), "%s", password);
	sn_log_info("bootstrap: created organization %lld, team %lld, user %s", (long long)org.id,
		    (long long)team.id, user.email);
	return 0;
fail:
	sn_err_prefix(err, "first-start setup failed");
	return rc;
}

void sn_bootstrap_print(const struct sn_bootstrap_info *info, const char *address, FILE *out)
{
	if (!info->created)
		return;
	fprintf(out,
		"\n"
		"  snout is set up. These credentials are shown once; keep them.\n"
		"\n"
		"    project API key (SDKs):   %s\n"
		"    personal API key (API):   %s\n"
		"    admin login:              %s\n"
		"    admin password:           %s\n"
		"    UI and API address:       http://%s/\n"
		"\n",
		info->token, info->api_key, info->email,
		info->password[0] ? info->password : "(from SNOUT_BOOTSTRAP_PASSWORD)", address);
	fflush(out);
}
