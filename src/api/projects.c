/*
 * projects.c — a project's settings over PostHog's REST path:
 *
 *   GET, PATCH  /api/projects/:id/   (and /api/environments/:id/)
 *   GET, POST   /api/projects/       list / create in the caller's current
 *                                    organization (the one joined first)
 *
 * The answer is the part of PostHog's TeamSerializer snout models: id,
 * uuid, organization, api_token, name, timezone, week_start_day,
 * test_account_filters, anonymize_ips, session_recording_opt_in,
 * autocapture_opt_out, created_at, updated_at (project_id repeats id, as
 * PostHog's environments API does). PATCH takes name, timezone,
 * week_start_day (0 Sunday, 1 Monday; insights' weeks), test_account_filters
 * (the property filters of filterTestAccounts), anonymize_ips,
 * session_recording_opt_in and autocapture_opt_out; any other field is rejected by name rather than
 * ignored, so a client never believes a setting took effect when it did
 * not. Authentication is auth.c's: a personal API key of a member of the
 * project's organization.
 *
 * Effects: the token cache answers with the new row at once; ingestion
 * reads anonymize_ips through its own 5-second cache (docs/ENRICHMENT.md);
 * a time-zone change makes the flag caches rebuild (date filters).
 */
#include "api.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "api/auth.h"
#include "api/rest.h"
#include "http/http.h"

#define BODY_MAX (64u << 10)

struct sn_projects_api {
	struct sn_meta *meta;
};

/* /api/projects/<id>[/] → id, else -1. */
static int64_t id_of_path(const char *path)
{
	const char *p = NULL;
	if (sn_str_has_prefix(path, "/api/projects/"))
		p = path + strlen("/api/projects/");
	else if (sn_str_has_prefix(path, "/api/environments/"))
		p = path + strlen("/api/environments/");
	if (!p)
		return -1;
	char *end;
	long long id = strtoll(p, &end, 10);
	if (end == p || id <= 0 || (*end && strcmp(end, "/") != 0))
		return -1;
	return id;
}

static void team_json(struct sn_buf *b, const struct sn_team *t, const struct sn_org *org)
{
	char created[32], updated[32];
	sn_time_format_rfc3339(t->created_at_us, created);
	sn_time_format_rfc3339(t->updated_at_us, updated);
	sn_buf_appendf(b, "{\"id\":%lld,\"project_id\":%lld,\"uuid\":\"%s\",\"organization\":",
		       (long long)t->id, (long long)t->id, t->uuid);
	if (org)
		sn_buf_appendf(b, "\"%s\"", org->uuid);
	else
		sn_buf_appends(b, "null");
	sn_buf_appends(b, ",\"api_token\":");
	sn_buf_append_json_str(b, t->api_token, strlen(t->api_token));
	sn_buf_appends(b, ",\"name\":");
	sn_buf_append_json_str(b, t->name, strlen(t->name));
	sn_buf_appends(b, ",\"timezone\":");
	sn_buf_append_json_str(b, t->timezone, strlen(t->timezone));
	sn_buf_appendf(b, ",\"week_start_day\":%d,\"test_account_filters\":%s", t->week_start_day,
		       t->test_account_filters[0] ? t->test_account_filters : "[]");
	sn_buf_appendf(b, ",\"path_cleaning_filters\":%s",
		       t->path_cleaning_filters[0] ? t->path_cleaning_filters : "[]");
	sn_buf_appendf(b,
		       ",\"anonymize_ips\":%s,\"session_recording_opt_in\":%s,"
		       "\"autocapture_opt_out\":%s,\"created_at\":\"%s\",\"updated_at\":\"%s\"}",
		       t->anonymize_ips ? "true" : "false",
		       t->session_recording_opt_in ? "true" : "false",
		       t->autocapture_opt_out ? "true" : "false", created, updated);
}

static void reply_team(struct sn_projects_api *a, struct sn_http_request *req,
		       const struct sn_team *t, unsigned status)
{
	struct sn_org org;
	struct sn_err err = {0};
	bool have_org = sn_meta_org_get(a->meta, t->organization_id, &org, &err) == 0;
	struct sn_buf b;
	sn_buf_init(&b, 1u << 20);
	team_json(&b, t, have_org ? &org : NULL);
	sn_http_reply(req, status, "application/json", b.data, b.len);
	sn_buf_release(&b);
}

/* Reads one boolean field of the patch: -1 when absent; -2 (and answered)
 * when present but not a boolean. */
static int patch_bool(struct sn_http_request *req, struct json_object *body, const char *field)
{
	struct json_object *v;
	if (!json_object_object_get_ex(body, field, &v))
		return -1;
	if (!json_object_is_type(v, json_type_boolean)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "Must be a valid boolean.", field);
		return -2;
	}
	return json_object_get_boolean(v) ? 1 : 0;
}

static const char *patch_str(struct sn_http_request *req, struct json_object *body,
			     const char *field, bool *bad)
{
	struct json_object *v;
	if (!json_object_object_get_ex(body, field, &v))
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "Not a valid string.", field);
		*bad = true;
		return NULL;
	}
	return json_object_get_string(v);
}

/* 400 for a setting sn_meta_team_* refused, naming the field. */
static void reply_invalid(struct sn_http_request *req, const struct sn_err *err)
{
	sn_http_reply_error(req, 400, "validation_error", "invalid_input", err->msg,
			    strstr(err->msg, "timezone")	 ? "timezone"
			    : strstr(err->msg, "week_start_day") ? "week_start_day"
			    : strstr(err->msg, "test_account")	 ? "test_account_filters"
			    : strstr(err->msg, "path_cleaning")	 ? "path_cleaning_filters"
								 : "name");
}

/* The settings of a create or patch body into p (its strings point into
 * body); false after answering 400 for an unknown field or a value of the
 * wrong JSON type. */
static bool read_settings(struct sn_http_request *req, struct json_object *body,
			  struct sn_team_patch *p)
{
	static const char *const known[] = {"name",
					    "timezone",
					    "anonymize_ips",
					    "session_recording_opt_in",
					    "autocapture_opt_out",
					    "week_start_day",
					    "test_account_filters",
					    "path_cleaning_filters"};
	json_object_object_foreach(body, key, val)
	{
		(void)val;
		bool ok = false;
		for (size_t i = 0; i < SN_ARRAY_LEN(known) && !ok; i++)
			ok = strcmp(key, known[i]) == 0;
		if (!ok) {
			char msg[160];
			snprintf(msg, sizeof(msg),
				 "%.60s cannot be set here; settable: name, "
				 "timezone, anonymize_ips, session_recording_opt_in, "
				 "autocapture_opt_out, week_start_day, test_account_filters, "
				 "path_cleaning_filters",
				 key);
			sn_http_reply_error(req, 400, "validation_error", "unknown_field", msg,
					    key);
			return false;
		}
	}
	bool bad = false;
	*p = (struct sn_team_patch){.anonymize_ips = -1,
				    .session_recording_opt_in = -1,
				    .autocapture_opt_out = -1,
				    .week_start_day = -1};
	struct json_object *wsd = NULL, *taf = NULL;
	if (json_object_object_get_ex(body, "week_start_day", &wsd)) {
		if (json_object_is_type(wsd, json_type_null))
			p->week_start_day = 0;
		else if (json_object_is_type(wsd, json_type_int) &&
			 (json_object_get_int(wsd) == 0 || json_object_get_int(wsd) == 1))
			p->week_start_day = json_object_get_int(wsd);
		else {
			sn_http_reply_error(req, 400, "validation_error", "invalid_input",
					    "week_start_day must be 0 (Sunday), 1 (Monday) or null",
					    "week_start_day");
			return false;
		}
	}
	if (json_object_object_get_ex(body, "test_account_filters", &taf)) {
		if (!json_object_is_type(taf, json_type_array)) {
			sn_http_reply_error(
			    req, 400, "validation_error", "invalid_input",
			    "test_account_filters must be a list of property filters",
			    "test_account_filters");
			return false;
		}
		p->test_account_filters =
		    json_object_to_json_string_ext(taf, JSON_C_TO_STRING_PLAIN);
	}
	struct json_object *pcf = NULL;
	if (json_object_object_get_ex(body, "path_cleaning_filters", &pcf)) {
		if (!json_object_is_type(pcf, json_type_array)) {
			sn_http_reply_error(
			    req, 400, "validation_error", "invalid_input",
			    "path_cleaning_filters must be a list of {alias, regex}",
			    "path_cleaning_filters");
			return false;
		}
		p->path_cleaning_filters =
		    json_object_to_json_string_ext(pcf, JSON_C_TO_STRING_PLAIN);
	}
	p->name = patch_str(req, body, "name", &bad);
	if (!bad)
		p->timezone = patch_str(req, body, "timezone", &bad);
	if (!bad && (p->anonymize_ips = patch_bool(req, body, "anonymize_ips")) == -2)
		bad = true;
	if (!bad &&
	    (p->session_recording_opt_in = patch_bool(req, body, "session_recording_opt_in")) == -2)
		bad = true;
	if (!bad && (p->autocapture_opt_out = patch_bool(req, body, "autocapture_opt_out")) == -2)
		bad = true;
	return !bad;
}

static void patch(struct sn_projects_api *a, struct sn_http_request *req, int64_t id)
{
	struct json_object *body = sn_rest_parse_body(req);
	struct sn_team_patch p;
	if (!body || !read_settings(req, body, &p)) {
		json_object_put(body);
		return; /* answered */
	}
	struct sn_err err = {0};
	struct sn_team t;
	int rc = sn_meta_team_update(a->meta, id, &p, &t, &err);
	if (rc == 0)
		reply_team(a, req, &t, 200);
	else if (rc == SN_ERR_INVALID)
		reply_invalid(req, &err);
	else if (rc == SN_ERR_NOT_FOUND)
		sn_http_reply_error(req, 404, "invalid_request", "not_found", err.msg, NULL);
	else
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	json_object_put(body);
}

/* POST /api/projects/: a new project in the caller's current organization
 * (the one they joined first), for its admins and owners, as PostHog. The
 * body takes the settings PATCH takes; name defaults to "Default Project",
 * the token is generated. All settings are checked before the project is
 * created, so a refused request creates nothing. */
static void create(struct sn_projects_api *a, struct sn_http_request *req)
{
	struct sn_user u;
	if (sn_api_auth_user(a->meta, req, &u, NULL))
		return; /* answered */
	int64_t org_id = 0;
	enum sn_member_level level = SN_LEVEL_MEMBER;
	struct sn_err err = {0};
	int rc = sn_meta_membership_first(a->meta, u.id, &org_id, &level, &err);
	if (rc == SN_ERR_NOT_FOUND) {
		sn_http_reply_error(req, 400, "validation_error", "invalid_input",
				    "You need to belong to an organization.", NULL);
		return;
	}
	if (rc) {
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
		return;
	}
	if (level < SN_LEVEL_ADMIN) {
		sn_http_reply_error(req, 403, "authentication_error", "permission_denied",
				    "Your organization access level is insufficient.", NULL);
		return;
	}
	struct json_object *body = sn_rest_parse_body(req);
	struct sn_team_patch p;
	if (!body || !read_settings(req, body, &p)) {
		json_object_put(body);
		return; /* answered */
	}
	struct sn_team t;
	if ((rc = sn_meta_team_patch_check(&p, &err)) == 0)
		rc = sn_meta_team_create(a->meta, org_id, p.name ? p.name : "Default Project", NULL,
					 p.timezone, &t, &err);
	/* The rest of the settings, checked above: only the database can fail. */
	struct sn_team_patch rest = p;
	rest.name = rest.timezone = NULL;
	if (rc == 0 && (rest.anonymize_ips >= 0 || rest.session_recording_opt_in >= 0 ||
			rest.autocapture_opt_out >= 0 || rest.week_start_day >= 0 ||
			rest.test_account_filters || rest.path_cleaning_filters))
		rc = sn_meta_team_update(a->meta, t.id, &rest, &t, &err);
	if (rc == 0)
		reply_team(a, req, &t, 201);
	else if (rc == SN_ERR_INVALID)
		reply_invalid(req, &err);
	else
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	json_object_put(body);
}

struct list_ctx {
	struct sn_projects_api *a;
	struct sn_buf *items;
	int64_t org_id, limit, offset, total;
	struct sn_org org;
	bool have_org;
};

static int list_one(void *arg, const struct sn_team *t)
{
	struct list_ctx *c = arg;
	if (t->organization_id != c->org_id)
		return 0;
	if (c->total >= c->offset && c->total < c->offset + c->limit) {
		if (c->items->len)
			sn_buf_appendc(c->items, ',');
		team_json(c->items, t, c->have_org ? &c->org : NULL);
	}
	c->total++;
	return 0;
}

/* GET /api/projects/: the projects of the caller's current organization, in
 * id order, paginated as PostHog's lists ({count, next, previous, results}). */
static void list(struct sn_projects_api *a, struct sn_http_request *req)
{
	struct sn_user u;
	if (sn_api_auth_user(a->meta, req, &u, NULL))
		return; /* answered */
	struct sn_err err = {0};
	enum sn_member_level level;
	struct sn_buf items;
	sn_buf_init(&items, (size_t)64 << 20);
	struct list_ctx c = {.a = a, .items = &items};
	sn_rest_page(req, &c.limit, &c.offset);
	int rc = sn_meta_membership_first(a->meta, u.id, &c.org_id, &level, &err);
	if (rc == 0) {
		c.have_org = sn_meta_org_get(a->meta, c.org_id, &c.org, &err) == 0;
		rc = sn_meta_team_list(a->meta, list_one, &c, &err);
	} else if (rc == SN_ERR_NOT_FOUND) {
		rc = 0; /* no organization: no projects */
	}
	if (rc == 0)
		sn_rest_reply_list(req, c.total, c.limit, c.offset, &items, NULL);
	else
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	sn_buf_release(&items);
}

static void collection(struct sn_http_request *req, void *ctx)
{
	struct sn_projects_api *a = ctx;
	switch (sn_http_method(req)) {
	case SN_GET:
	case SN_HEAD: list(a, req); break;
	case SN_POST: create(a, req); break;
	default:
		sn_http_reply_error(req, 405, "invalid_request", "method_not_allowed",
				    "Method not allowed on this path.", NULL);
	}
}

static void handler(struct sn_http_request *req, void *ctx)
{
	struct sn_projects_api *a = ctx;
	int64_t id = id_of_path(sn_http_path(req));
	if (id < 0) {
		sn_http_reply_error(req, 404, "invalid_request", "not_found", "no such endpoint",
				    NULL);
		return;
	}
	struct sn_team t;
	if (sn_api_auth_team(a->meta, req, id, NULL, &t) != 0)
		return; /* answered */
	switch (sn_http_method(req)) {
	case SN_GET:
	case SN_HEAD: reply_team(a, req, &t, 200); break;
	case SN_PATCH: patch(a, req, id); break;
	default:
		sn_http_reply_error(req, 405, "invalid_request", "method_not_allowed",
				    "Method not allowed on this path.", NULL);
	}
}

int sn_projects_api_new(struct sn_projects_api **out, struct sn_meta *meta, struct sn_err *err)
{
	struct sn_projects_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	*out = a;
	return 0;
}

void sn_projects_api_free(struct sn_projects_api *a)
{
	free(a);
}

size_t sn_projects_api_routes(struct sn_projects_api *a, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_HEAD | SN_PATCH;
	const struct sn_http_route all[] = {
	    {"projects", SN_GET | SN_HEAD | SN_POST, "/api/projects/", BODY_MAX, collection, a},
	    {"projects", m, "/api/projects/*/", BODY_MAX, handler, a},
	    {"projects", m, "/api/environments/*/", BODY_MAX, handler, a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
