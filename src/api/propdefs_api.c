/*
 * propdefs_api.c — PostHog's property definitions REST API over meta's
 * model (src/meta/propdefs.c):
 *
 *   GET                /api/projects/:id/property_definitions/
 *   POST               /api/projects/:id/property_definitions/      (snout's own)
 *   GET, PATCH, DELETE /api/projects/:id/property_definitions/:def_id/
 *
 * (and the same under /api/environments/:id/). Authentication is auth.c's.
 * A list takes PostHog's query parameters type (event | person | group |
 * session, default event), group_type_index (required with, and only with,
 * type=group), search (space-separated words, each a case-insensitive
 * substring of the name), is_numerical (true also leaves out distinct_id and
 * timestamp), properties (comma-separated names: only these),
 * excluded_properties (a JSON list of names) and limit/offset, validated
 * as PostHog's PropertyDefinitionQuerySerializer does, and is ordered by
 * name as PostHog's is. An event list leaves out the names PostHog's list
 * hides (distinct_id, $set, $group_key, ...; hidden_event_props). An answer has the fields of
 * PostHog's PropertyDefinitionSerializer that snout has (id, name,
 * is_numerical, property_type, tags, is_seen_on_filtered_events) plus type
 * and group_type_index, which PostHog's serializer leaves out and its
 * frontend's PropertyDefinition type has: type is the kind's name as the
 * list's parameter spells it, group_type_index null except for groups.
 * PATCH changes property_type only (null clears it; is_numerical follows,
 * as in PostHog's serializer); the other fields are read-only here.
 *
 * Differences from PostHog, on purpose: ids are integers (PostHog's are
 * UUIDs; clients treat them as opaque); POST exists, so a type can be
 * declared before any event (fixtures, tests) — PostHog creates definitions
 * only at ingestion; is_numerical=false lists the non-numerical definitions
 * (PostHog's help text says so, its query ignores false); tags are always
 * [] (no tagging), and event_names, is_feature_flag and the virtual person
 * properties are not implemented; no activity-log entries.
 * Every 400 names its field in attr, where PostHog's query validation
 * answers attr null.
 */
#include "api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/auth.h"
#include "api/rest.h"

#define TYPES_ALLOWED "String, Numeric, Boolean, DateTime, Duration or null"
#define KINDS_ALLOWED "event, person, group, session"

struct sn_propdefs_api {
	struct sn_meta *meta;
};

static void bad(struct sn_http_request *req, const char *code, const char *attr, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
static void bad(struct sn_http_request *req, const char *code, const char *attr, const char *fmt,
		...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	sn_http_reply_error(req, 400, "validation_error", code, detail, attr);
}

static void append_def(struct sn_buf *b, const struct sn_propdef *d)
{
	sn_buf_appendf(b, "{\"id\":%lld,\"name\":", (long long)d->id);
	sn_buf_append_json_str(b, d->name, strlen(d->name));
	const char *t = sn_prop_type_name(d->property_type);
	const char *k = sn_propdef_kind_name(d->kind);
	sn_buf_appendf(b, ",\"is_numerical\":%s,\"property_type\":%s%s%s,\"type\":\"%s\"",
		       d->is_numerical ? "true" : "false", t ? "\"" : "", t ? t : "null",
		       t ? "\"" : "", k ? k : "event");
	if (d->kind == SN_PROPDEF_GROUP)
		sn_buf_appendf(b, ",\"group_type_index\":%d", d->group_type_index);
	else
		sn_buf_appends(b, ",\"group_type_index\":null");
	sn_buf_appends(b, ",\"tags\":[],\"is_seen_on_filtered_events\":null}");
}

static void reply_def(struct sn_http_request *req, unsigned status, const struct sn_propdef *d)
{
	struct sn_buf b;
	sn_buf_init(&b, SN_REST_ANSWER_MAX);
	append_def(&b, d);
	sn_rest_reply_buf(req, status, &b);
	sn_buf_release(&b);
}

/* ---- the list -------------------------------------------------------------------- */

/* A DRF BooleanField query value: 1 / 0, -1 when absent or empty, -2 when
 * it is not a boolean. */
static int query_bool(const char *v)
{
	static const char *const yes[] = {"true", "t", "yes", "y", "on", "1"};
	static const char *const no[] = {"false", "f", "no", "n", "off", "0"};
	if (!v || !*v || !strcmp(v, "null"))
		return -1;
	for (size_t i = 0; i < SN_ARRAY_LEN(yes); i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -2;
}

/* Reads and checks the list's kind and group index (query parameters, or a
 * body's fields through the same rules); false after answering 400. */
static bool check_kind(struct sn_http_request *req, const char *type, bool has_gti, bool gti_int,
		       long long gti, int *kind, int *out_gti)
{
	*kind = SN_PROPDEF_EVENT;
	if (type) {
		*kind = sn_propdef_kind_parse(type);
		if (*kind < 0) {
			bad(req, "invalid_choice", "type",
			    "\"%s\" is not a valid choice for type: expected one of " KINDS_ALLOWED
			    ".",
			    type);
			return false;
		}
	}
	*out_gti = -1;
	if (has_gti && !gti_int) {
		bad(req, "invalid", "group_type_index",
		    "group_type_index: a valid integer is required.");
		return false;
	}
	if (*kind == SN_PROPDEF_GROUP && !has_gti) {
		bad(req, "required", "group_type_index",
		    "group_type_index must be set for the group type.");
		return false;
	}
	if (*kind != SN_PROPDEF_GROUP && has_gti) {
		bad(req, "invalid_input", "group_type_index",
		    "group_type_index can only be set for the group type.");
		return false;
	}
	if (has_gti && (gti < 0 || gti >= SN_PROPDEF_GROUP_TYPES)) {
		bad(req, "invalid_input", "group_type_index",
		    "Invalid value for group_type_index: %lld (must be 0 to %d).", gti,
		    SN_PROPDEF_GROUP_TYPES - 1);
		return false;
	}
	if (has_gti)
		*out_gti = (int)gti;
	return true;
}

struct list_ctx {
	struct sn_buf *b;
	size_t n;
};

static int list_one(void *arg, const struct sn_propdef *d)
{
	struct list_ctx *lc = arg;
	if (lc->n++)
		sn_buf_appendc(lc->b, ',');
	append_def(lc->b, d);
	return 0;
}

/* Event properties PostHog's list never shows (its property_definition_api's
 * EVENTS_HIDDEN_PROPERTY_DEFINITIONS): ingestion's own members, and ones
 * SDKs send on events that users should not filter on. */
static const char *const hidden_event_props[] = {
    "distinct_id", "$set",	  "$set_once",	"$initial_referrer", "$initial_referring_domain",
    "$groups",	   "$group_type", "$group_key", "$group_set",	     "$group_0",
    "$group_1",	   "$group_2",	  "$group_3",	"$group_4",
};

/* The list's names: properties (comma-separated: only these) and
 * excluded_properties (a JSON list of names: none of these) plus, for event
 * properties, the hidden ones. Owns what the options point to. */
struct name_lists {
	char *props;
	const char **names, **excluded;
	struct json_object *ex_json;
};

static void name_lists_release(struct name_lists *nl)
{
	free(nl->props);
	free(nl->names);
	free(nl->excluded);
	if (nl->ex_json)
		json_object_put(nl->ex_json);
}

/* false after answering 400 (or 500 out of memory). */
static bool read_name_lists(struct sn_http_request *req, struct name_lists *nl,
			    struct sn_propdef_list_opts *o)
{
	const char *pv = sn_http_query(req, "properties");
	if (pv && *pv) {
		size_t n = 1;
		for (const char *p = pv; *p; p++)
			n += *p == ',';
		nl->props = strdup(pv);
		nl->names = calloc(n, sizeof(*nl->names));
		if (!nl->props || !nl->names)
			goto nomem;
		char *p = nl->props;
		for (size_t i = 0; i < n; i++) {
			nl->names[i] = p;
			p += strcspn(p, ",");
			if (*p)
				*p++ = 0;
		}
		o->names = nl->names;
		o->nnames = n;
	}
	const char *ev = sn_http_query(req, "excluded_properties");
	size_t nex = 0;
	if (ev && *ev) {
		struct sn_err err = {0};
		if (sn_json_parse(ev, strlen(ev), &nl->ex_json, &err) ||
		    !json_object_is_type(nl->ex_json, json_type_array)) {
			bad(req, "invalid", "excluded_properties",
			    "excluded_properties must be a JSON list of property names.");
			return false;
		}
		nex = json_object_array_length(nl->ex_json);
	}
	size_t nhidden = o->kind == SN_PROPDEF_EVENT ? SN_ARRAY_LEN(hidden_event_props) : 0;
	if (!nex && !nhidden)
		return true;
	nl->excluded = calloc(nex + nhidden, sizeof(*nl->excluded));
	if (!nl->excluded)
		goto nomem;
	for (size_t i = 0; i < nex; i++) {
		struct json_object *v = json_object_array_get_idx(nl->ex_json, i);
		if (!v || !json_object_is_type(v, json_type_string)) {
			bad(req, "invalid", "excluded_properties",
			    "excluded_properties must be a JSON list of property names.");
			return false;
		}
		nl->excluded[i] = json_object_get_string(v);
	}
	for (size_t i = 0; i < nhidden; i++)
		nl->excluded[nex + i] = hidden_event_props[i];
	o->excluded = nl->excluded;
	o->nexcluded = nex + nhidden;
	return true;
nomem:
	sn_http_reply_error(req, 500, "server_error", "error", "out of memory", NULL);
	return false;
}

static void list(struct sn_meta *m, struct sn_http_request *req, int64_t team_id)
{
	struct sn_propdef_list_opts o = {.search = sn_http_query(req, "search")};
	const char *type = sn_http_query(req, "type");
	const char *gv = sn_http_query(req, "group_type_index");
	bool has_gti = gv && *gv;
	char *end = NULL;
	long long gti = has_gti ? strtoll(gv, &end, 10) : 0;
	if (!check_kind(req, type && *type ? type : NULL, has_gti, has_gti && !*end, gti, &o.kind,
			&o.group_type_index))
		return;
	const char *nv = sn_http_query(req, "is_numerical");
	o.is_numerical = query_bool(nv);
	if (o.is_numerical == -2) {
		bad(req, "invalid", "is_numerical", "is_numerical: \"%s\" is not a valid boolean.",
		    nv);
		return;
	}
	struct name_lists nl = {0};
	if (!read_name_lists(req, &nl, &o)) {
		name_lists_release(&nl);
		return;
	}
	sn_rest_page(req, &o.limit, &o.offset);
	struct sn_buf items;
	sn_buf_init(&items, SN_REST_ANSWER_MAX);
	struct list_ctx lc = {&items, 0};
	int64_t total = 0;
	struct sn_err err = {0};
	static const char *const keep[] = {
	    "type",	  "group_type_index",	 "search", "is_numerical",
	    "properties", "excluded_properties", NULL};
	int ret = sn_meta_propdef_list(m, team_id, &o, &total, list_one, &lc, &err);
	if (ret == SN_ERR_TOO_BIG)
		bad(req, "invalid", NULL, "%s", err.msg);
	else if (ret)
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
	else
		sn_rest_reply_list(req, total, o.limit, o.offset, &items, keep);
	sn_buf_release(&items);
	name_lists_release(&nl);
}

/* ---- bodies -------------------------------------------------------------------------- */

/* body's property_type into *type (absent: false without answering, so a
 * PATCH without it changes nothing); false after answering 400 too, with
 * *answered set. */
static bool body_type(struct sn_http_request *req, struct json_object *body, int *type,
		      bool *answered)
{
	struct json_object *v;
	*answered = false;
	*type = SN_PROP_NONE;
	if (!json_object_object_get_ex(body, "property_type", &v))
		return false;
	if (!v || json_object_is_type(v, json_type_null))
		return true;
	const char *s = json_object_is_type(v, json_type_string) ? sn_json_str(v, NULL) : NULL;
	*type = sn_prop_type_parse(s);
	if (*type < 0) {
		bad(req, "invalid_choice", "property_type",
		    "%s is not a valid choice for property_type: expected one of " TYPES_ALLOWED
		    ".",
		    json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
		*answered = true;
		return false;
	}
	return true;
}

static void create(struct sn_meta *m, struct sn_http_request *req, int64_t team_id,
		   struct json_object *body)
{
	struct sn_propdef d = {.team_id = team_id};
	struct json_object *v = NULL;
	bool present = json_object_object_get_ex(body, "name", &v);
	size_t len = 0;
	const char *name =
	    v && json_object_is_type(v, json_type_string) ? sn_json_str(v, &len) : NULL;
	if (!present) {
		bad(req, "required", "name", "name: this field is required.");
		return;
	}
	if (!v || json_object_is_type(v, json_type_null)) {
		bad(req, "null", "name", "name: this field may not be null.");
		return;
	}
	if (!name || strlen(name) != len) {
		bad(req, "invalid", "name", "name: not a valid string.");
		return;
	}
	if (len == 0) {
		bad(req, "blank", "name", "name: this field may not be blank.");
		return;
	}
	if (len > SN_PROPDEF_NAME_MAX) {
		bad(req, "max_length", "name",
		    "name: ensure this field has no more than %d bytes (it has %zu).",
		    SN_PROPDEF_NAME_MAX, len);
		return;
	}
	memcpy(d.name, name, len);
	v = sn_json_get(body, "type");
	if (v && !json_object_is_type(v, json_type_string)) {
		bad(req, "invalid_choice", "type",
		    "type must be a string, one of " KINDS_ALLOWED " (default event).");
		return;
	}
	struct json_object *gv = sn_json_get(body, "group_type_index");
	bool has_gti = gv && !json_object_is_type(gv, json_type_null);
	bool gti_int = has_gti && json_object_is_type(gv, json_type_int);
	if (!check_kind(req, v ? sn_json_str(v, NULL) : NULL, has_gti, gti_int,
			gti_int ? (long long)json_object_get_int64(gv) : 0, &d.kind,
			&d.group_type_index))
		return;
	bool answered;
	if (!body_type(req, body, &d.property_type, &answered) && answered)
		return;
	struct sn_propdef out;
	struct sn_err err = {0};
	int ret = sn_meta_propdef_declare(m, &d, &out, &err);
	if (ret == 0)
		reply_def(req, 201, &out);
	else if (ret == SN_ERR_NOT_FOUND)
		sn_rest_not_found(req);
	else if (ret == SN_ERR_INVALID)
		bad(req, "invalid_input", NULL, "%s", err.msg);
	else
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
}

static void patch(struct sn_meta *m, struct sn_http_request *req, int64_t team_id, int64_t id,
		  struct json_object *body)
{
	struct sn_propdef d;
	struct sn_err err = {0};
	bool answered;
	int type, ret;
	if (body_type(req, body, &type, &answered))
		ret = sn_meta_propdef_set_type(m, team_id, id, type, &d, &err);
	else if (answered)
		return;
	else
		ret = sn_meta_propdef_get(m, team_id, id, &d, &err); /* nothing to change */
	if (ret == 0)
		reply_def(req, 200, &d);
	else if (ret == SN_ERR_NOT_FOUND)
		sn_rest_not_found(req);
	else
		sn_http_reply_error(req, 500, "server_error", "error", err.msg, NULL);
}

/* ---- routing ---------------------------------------------------------------------------- */

static void handle(struct sn_propdefs_api *api, struct sn_http_request *req,
		   const struct sn_rest_target *t)
{
	sn_http_cors(req, "GET, POST, PATCH, DELETE, OPTIONS");
	enum sn_http_method method = sn_http_method(req);
	if (method == SN_OPTIONS) {
		sn_http_reply(req, 200, NULL, NULL, 0);
		return;
	}
	struct sn_meta *m = api->meta;
	if (sn_api_auth_team(m, req, t->team_id, NULL, NULL))
		return;
	struct sn_propdef d;
	struct sn_err err = {0};
	struct json_object *body = NULL;
	if (t->what == SN_REST_LIST && method == SN_GET) {
		list(m, req, t->team_id);
	} else if (t->what == SN_REST_LIST && method == SN_POST) {
		if ((body = sn_rest_parse_body(req)))
			create(m, req, t->team_id, body);
	} else if (t->what == SN_REST_LIST) {
		sn_rest_not_allowed(req);
	} else if (t->id <= 0 || t->what != SN_REST_ITEM) {
		sn_rest_not_found(req); /* no activity log for definitions */
	} else if (method == SN_GET) {
		if (sn_meta_propdef_get(m, t->team_id, t->id, &d, &err))
			sn_rest_not_found(req);
		else
			reply_def(req, 200, &d);
	} else if (method == SN_PATCH || method == SN_PUT) {
		if ((body = sn_rest_parse_body(req)))
			patch(m, req, t->team_id, t->id, body);
	} else if (method == SN_DELETE) {
		if (sn_meta_propdef_delete(m, t->team_id, t->id, &err))
			sn_rest_not_found(req);
		else
			sn_http_reply(req, 204, NULL, NULL, 0);
	} else {
		sn_rest_not_allowed(req);
	}
	if (body)
		json_object_put(body);
}

static void route_handler(struct sn_http_request *req, void *ctx)
{
	struct sn_rest_target t = sn_rest_parse_path(sn_http_path(req), "property_definitions");
	if (t.what == SN_REST_NONE) {
		sn_rest_not_found(req);
		return;
	}
	handle(ctx, req, &t);
}

int sn_propdefs_api_new(struct sn_propdefs_api **out, struct sn_meta *meta, struct sn_err *err)
{
	struct sn_propdefs_api *a = calloc(1, sizeof(*a));
	if (!a)
		return sn_err_set(err, SN_ERR_NOMEM, "out of memory");
	a->meta = meta;
	*out = a;
	return 0;
}

void sn_propdefs_api_free(struct sn_propdefs_api *a)
{
	free(a);
}

size_t sn_propdefs_api_routes(struct sn_propdefs_api *a, struct sn_http_route *routes, size_t max)
{
	const unsigned m = SN_GET | SN_POST | SN_PATCH | SN_PUT | SN_DELETE | SN_OPTIONS;
	const struct sn_http_route all[] = {
	    {"property_definitions", m, "/api/projects/*/property_definitions*", SN_REST_BODY_MAX,
	     route_handler, a},
	    {"property_definitions", m, "/api/environments/*/property_definitions*",
	     SN_REST_BODY_MAX, route_handler, a},
	};
	size_t n = SN_ARRAY_LEN(all) < max ? SN_ARRAY_LEN(all) : max;
	memcpy(routes, all, n * sizeof(all[0]));
	return n;
}
