/*
 * rest.h — the pieces every PostHog-style object API in src/api/ shares
 * (annotations.c, actions.c): paths of the form
 * /api/{projects,environments}/<team>/<collection>[/<id>[/activity]]/, JSON
 * bodies, DRF-shaped errors, user objects, timestamps, the paginated list
 * envelope and activity-log answers.
 */
#ifndef SN_API_REST_H
#define SN_API_REST_H

#include "http/http.h"
#include "meta/meta.h"

#define SN_REST_ANSWER_MAX   ((size_t)64 << 20)
#define SN_REST_BODY_MAX     ((size_t)2 << 20)
#define SN_REST_LIST_DEFAULT 100
#define SN_REST_LIST_MAX     1000

enum sn_rest_what { SN_REST_NONE, SN_REST_LIST, SN_REST_ITEM, SN_REST_ACTIVITY };

struct sn_rest_target {
	enum sn_rest_what what;
	int64_t team_id;
	int64_t id; /* -1: an item path whose id cannot exist (answer 404 after auth) */
};

/* Parses path for collection ("annotations"); SN_REST_NONE when it is not
 * one of its paths. */
struct sn_rest_target sn_rest_parse_path(const char *path, const char *collection);

/* The request body as a JSON object, or NULL after answering 400/413. */
struct json_object *sn_rest_parse_body(struct sn_http_request *req);
/* 404 for SN_ERR_NOT_FOUND, 400 {"type":"validation_error",code,detail,attr}
 * for SN_ERR_INVALID / SN_ERR_EXISTS, else 500. */
void sn_rest_reply_verr(struct sn_http_request *req, const struct sn_meta_verr *ve);
void sn_rest_not_found(struct sn_http_request *req);
void sn_rest_not_allowed(struct sn_http_request *req);
void sn_rest_reply_buf(struct sn_http_request *req, unsigned status, struct sn_buf *b);
/* A non-negative integer query parameter, else dflt. */
int64_t sn_rest_query_int(struct sn_http_request *req, const char *name, int64_t dflt);
/* limit (default 100, at most 1000) and offset of a list request. */
void sn_rest_page(struct sn_http_request *req, int64_t *limit, int64_t *offset);
/* "2025-01-01T12:00:00.123Z" with quotes. */
void sn_rest_append_time(struct sn_buf *b, int64_t us);
/* PostHog's basic user object, or null for 0 / an unknown user. */
void sn_rest_append_user(struct sn_meta *m, struct sn_buf *b, int64_t user_id);
/* Answers 200 {"count","next","previous","results":[items]}; next/previous
 * are absolute URLs with limit, offset and the request's query parameters
 * named in keep (a NULL-terminated list, may be NULL). */
void sn_rest_reply_list(struct sn_http_request *req, int64_t total, int64_t limit, int64_t offset,
			const struct sn_buf *items, const char *const *keep);
/* Answers 200 {"results":[...],"next":null,"previous":null} with the
 * activity log of item_id of scope. */
void sn_rest_reply_activity(struct sn_meta *m, struct sn_http_request *req, int64_t team_id,
			    const char *scope, int64_t item_id);

#endif
