/*
 * actors.c — the people (or groups) behind one point of an insight:
 * PostHog's InsightActorsQuery, alone or as the source of an ActorsQuery.
 *
 *   {"kind": "ActorsQuery", "source": {"kind": "InsightActorsQuery",
 *     "source": <TrendsQuery | FunnelsQuery | RetentionQuery | LifecycleQuery |
 *                StickinessQuery | PathsQuery>,
 *     trends:  "series": 0, "day": "2020-01-09", "breakdown": "Chrome", "compare": "previous"
 *     funnels: "funnelStep": 2 (reached step 2) | -2 (dropped off before step 2),
 *              "funnelStepBreakdown": ["Chrome"]
 *     retention: "interval": 2 (the cohort's row), "breakdown": "Chrome"
 *     lifecycle: "day": "2020-01-09", "status": "new" | "returning" | "resurrecting" | "dormant"
 *     stickiness: "day": 3 (active in 3 intervals), "series": 0, "compare": "previous"
 *     paths: the source's pathsFilter names the part: pathStartKey "1_/a" and/or
 *            pathEndKey "2_/b" (an edge), or pathDropoffKey "3_/c" (paths ending there)},
 *    "limit": 100, "offset": 0}
 *   → {"columns": ["actor", "event_count" | "steps_reached"], "results": [[{person}, n], …],
 *      "hasMore", "limit", "offset", "types"}
 *      retention: ["actor", "appearances"], [[{person}, [0, 1, 3]], …]
 *      lifecycle, stickiness, paths: ["actor"], [[{person}], …]
 *
 * The kind's file lists the actor ids (trends.c: a HogQL statement over the
 * point's bucket; funnels.c: the per-actor walk; retention.c, lifecycle.c
 * and paths.c: the cohort's, bar's or edge's actors from the insight's own
 * per-actor reduction; stickiness.c: a HogQL statement over the actors'
 * interval counts); this file pages them and turns ids into PostHog's
 * person objects (id, uuid, distinct_ids, properties, is_identified,
 * created_at, name) or group objects with two more statements over the
 * persons / person_distinct_ids / groups tables — still only HogQL, so the
 * ClickHouse backend answers the same way.
 */
#include "insights/insights_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 100
#define PAGE_MAX     10000

int actor_push(struct ictx *x, struct actor_rows *r, const char *id, size_t len, int64_t count)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 64;
		if (cap > ACTORS_MAX * 2)
			return ifail(x, "query_error", "More than %d actors", ACTORS_MAX);
		struct actor_row *nv = sn_arena_alloc(x->a, cap * sizeof(*nv));
		if (!nv)
			return SN_ERR_NOMEM;
		if (r->n)
			memcpy(nv, r->v, r->n * sizeof(*nv));
		r->v = nv;
		r->cap = cap;
	}
	char *s = sn_arena_strndup(x->a, id, len);
	if (!s)
		return SN_ERR_NOMEM;
	r->v[r->n++] = (struct actor_row){s, count, 0, 0, NULL};
	return 0;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(((const struct actor_row *)a)->id, ((const struct actor_row *)b)->id);
}

/* Most first (retention: most appearances), then by id. */
static int by_count_id(const void *a, const void *b)
{
	const struct actor_row *x = a, *y = b;
	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* A breakdown value as the kinds compare it: a string, a number, or a list
 * of them joined by \x1f. */
static int value_text(struct ictx *x, struct json_object *v, const char **out)
{
	*out = NULL;
	if (!v)
		return 0;
	struct sn_buf b;
	sn_buf_init(&b, 1 << 16);
	int rc = 0;
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v) && rc == 0; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			if (i)
				rc = sn_buf_appendc(&b, '\x1f');
			const char *t =
			    json_object_is_type(e, json_type_string)
				? json_object_get_string(e)
				: json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN);
			rc = rc ? rc : sn_buf_appends(&b, t);
		}
	} else {
		rc = sn_buf_appends(
		    &b, json_object_is_type(v, json_type_string)
			    ? json_object_get_string(v)
			    : json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	}
	if (rc == 0 && !(*out = sn_arena_strndup(x->a, b.data ? b.data : "", b.len)))
		rc = SN_ERR_NOMEM;
	sn_buf_release(&b);
	return rc;
}

static int int_of(struct ictx *x, struct json_object *o, const char *key, int64_t dflt, int64_t lo,
		  int64_t hi, int64_t *out)
{
	struct json_object *v = jget(o, key);
	*out = dflt;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < lo ||
	    json_object_get_int64(v) > hi)
		return ifail(x, "validation_error", "%s must be an integer from %lld to %lld", key,
			     (long long)lo, (long long)hi);
	*out = json_object_get_int64(v);
	return 0;
}

/* "id IN ('a', 'b', …)" over the page. */
static int in_list(struct sn_buf *b, const char *col, const struct actor_row *v, size_t n)
{
	int rc = sn_buf_appendf(b, "%s IN (", col);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (i)
			rc = sn_buf_appends(b, ", ");
		rc = rc ? rc : hq_str(b, v[i].id, strlen(v[i].id));
	}
	return rc ? rc : sn_buf_appendc(b, ')');
}

static const struct sn_insight_value *find_row(const struct sn_insight_table *t, const char *id)
{
	for (size_t i = 0; i < t->nrows; i++) {
		const struct sn_insight_value *r = &t->cells[i * t->ncols];
		if (r[0].type == SN_IV_STRING && r[0].slen == strlen(id) &&
		    memcmp(r[0].s, id, r[0].slen) == 0)
			return r;
	}
	return NULL;
}

static void json_raw_or(struct sn_buf *b, const struct sn_insight_value *v, const char *dflt)
{
	if (v && v->type == SN_IV_STRING && v->slen)
		sn_buf_append(b, v->s, v->slen);
	else
		sn_buf_appends(b, dflt);
}

static void datetime_json(struct sn_buf *b, const struct sn_insight_value *v)
{
	if (!v || v->type != SN_IV_DATETIME) {
		sn_buf_appends(b, "null");
		return;
	}
	char buf[32];
	sn_time_format_rfc3339(v->i, buf);
	sn_buf_appendf(b, "\"%s\"", buf);
}

/* The page's person objects. */
/* The rest of an actor's row after its object: its count, its extra JSON
 * (retention's appearances) or nothing. */
enum tail { TAIL_NONE, TAIL_COUNT, TAIL_EXTRA };

static int row_tail(struct sn_buf *out, const struct actor_row *v, enum tail t)
{
	if (t == TAIL_COUNT)
		return sn_buf_appendf(out, "},%lld]", (long long)v->count);
	if (t == TAIL_EXTRA)
		return sn_buf_appendf(out, "},%s]", v->extra ? v->extra : "null");
	return sn_buf_appends(out, "}]");
}

static int persons_json(struct ictx *x, const struct actor_row *v, size_t n, enum tail tail,
			struct sn_buf *out)
{
	struct sn_buf q;
	sn_buf_init(&q, 1 << 22);
	struct sn_insight_table people = {0}, ids = {0};
	int rc =
	    n ? sn_buf_appends(&q, "SELECT toString(id), properties, created_at, is_identified "
				   "FROM persons WHERE ")
	      : 0;
	rc = rc || !n ? rc : in_list(&q, "toString(id)", v, n);
	rc = rc || !n ? rc : sn_buf_appendf(&q, " LIMIT %d", PAGE_MAX);
	if (rc == 0 && n)
		rc = run_hogql(x, q.data, q.len, &people);
	sn_buf_reset(&q);
	rc = rc || !n ? rc
		      : sn_buf_appends(&q, "SELECT toString(person_id), distinct_id FROM "
					   "person_distinct_ids WHERE ");
	rc = rc || !n ? rc : in_list(&q, "toString(person_id)", v, n);
	rc = rc || !n ? rc : sn_buf_appendf(&q, " ORDER BY distinct_id LIMIT %d", PAGE_MAX * 10);
	x->max_rows = PAGE_MAX * 10;
	if (rc == 0 && n)
		rc = run_hogql(x, q.data, q.len, &ids);
	x->max_rows = 0;
	sn_buf_release(&q);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct sn_insight_value *p = find_row(&people, v[i].id);
		sn_buf_appends(out, i ? ",[{" : "[{");
		sn_buf_appends(out, "\"type\":\"person\",\"id\":");
		sn_buf_append_json_str(out, v[i].id, strlen(v[i].id));
		sn_buf_appends(out, ",\"uuid\":");
		sn_buf_append_json_str(out, v[i].id, strlen(v[i].id));
		sn_buf_appends(out, ",\"distinct_ids\":[");
		const char *first = NULL;
		size_t firstlen = 0, k = 0;
		for (size_t j = 0; j < ids.nrows; j++) {
			const struct sn_insight_value *r = &ids.cells[j * ids.ncols];
			if (r[0].type != SN_IV_STRING || r[0].slen != strlen(v[i].id) ||
			    memcmp(r[0].s, v[i].id, r[0].slen) != 0 || r[1].type != SN_IV_STRING)
				continue;
			if (k++)
				sn_buf_appendc(out, ',');
			sn_buf_append_json_str(out, r[1].s, r[1].slen);
			if (!first) {
				first = r[1].s;
				firstlen = r[1].slen;
			}
		}
		sn_buf_appends(out, "],\"properties\":");
		json_raw_or(out, p ? &p[1] : NULL, "{}");
		sn_buf_appends(out, ",\"is_identified\":");
		sn_buf_appends(out, p && p[3].i ? "true" : "false");
		sn_buf_appends(out, ",\"created_at\":");
		datetime_json(out, p ? &p[2] : NULL);
		sn_buf_appends(out, ",\"name\":");
		if (first)
			sn_buf_append_json_str(out, first, firstlen);
		else
			sn_buf_append_json_str(out, v[i].id, strlen(v[i].id));
		rc = row_tail(out, &v[i], tail);
	}
	return rc;
}

/* The page's group objects. */
static int groups_json(struct ictx *x, int gti, const struct actor_row *v, size_t n, enum tail tail,
		       struct sn_buf *out)
{
	struct sn_buf q;
	sn_buf_init(&q, 1 << 22);
	struct sn_insight_table rows = {0};
	int rc = 0;
	if (n) {
		rc = sn_buf_appendf(
		    &q, "SELECT key, properties, created_at FROM groups WHERE index = %d AND ",
		    gti);
		rc = rc ? rc : in_list(&q, "key", v, n);
		rc = rc ? rc : sn_buf_appendf(&q, " LIMIT %d", PAGE_MAX);
		rc = rc ? rc : run_hogql(x, q.data, q.len, &rows);
	}
	sn_buf_release(&q);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const struct sn_insight_value *g = find_row(&rows, v[i].id);
		sn_buf_appends(out, i ? ",[{" : "[{");
		sn_buf_appendf(out,
			       "\"type\":\"group\",\"group_type_index\":%d,\"group_key\":", gti);
		sn_buf_append_json_str(out, v[i].id, strlen(v[i].id));
		sn_buf_appends(out, ",\"id\":");
		sn_buf_append_json_str(out, v[i].id, strlen(v[i].id));
		sn_buf_appends(out, ",\"properties\":");
		json_raw_or(out, g ? &g[1] : NULL, "{}");
		sn_buf_appends(out, ",\"created_at\":");
		datetime_json(out, g ? &g[2] : NULL);
		rc = row_tail(out, &v[i], tail);
	}
	return rc;
}

/* The actor ids of the point iq names in the insight src (of kind skind),
 * into rows; *gti the group type they are (-1 persons, -2 a HogQL
 * aggregation). */
static int actors_list(struct ictx *x, struct json_object *iq, struct json_object *src,
		       const char *skind, struct actor_rows *rows, int *gti)
{
	int rc = 0;
	if (strcmp(skind, "TrendsQuery") == 0) {
		int64_t series;
		const char *bv;
		if ((rc = int_of(x, iq, "series", 0, 0, 1000, &series)) ||
		    (rc = value_text(x, jget(iq, "breakdown"), &bv)))
			return rc;
		struct json_object *day = jget(iq, "day");
		const char *dtext = day && json_object_is_type(day, json_type_string)
					? json_object_get_string(day)
					: NULL;
		const char *cmp = jstr(iq, "compare");
		rc = trends_actors(x, src, (int)series, dtext, bv,
				   cmp && strcmp(cmp, "previous") == 0, rows);
		struct json_object *g = jget(src, "aggregation_group_type_index");
		*gti = g ? json_object_get_int(g) : -1;
	} else if (strcmp(skind, "FunnelsQuery") == 0) {
		int64_t step;
		const char *bv;
		if ((rc = int_of(x, iq, "funnelStep", 0, -100, 100, &step)) ||
		    (rc = value_text(x, jget(iq, "funnelStepBreakdown"), &bv)))
			return rc;
		rc = funnels_actors(x, src, (int)step, bv, rows, gti);
		if (rc == 0)
			qsort(rows->v, rows->n, sizeof(*rows->v), by_id);
	} else if (strcmp(skind, "RetentionQuery") == 0) {
		int64_t interval;
		const char *bv;
		if ((rc = int_of(x, iq, "interval", 0, 0, 100000, &interval)) ||
		    (rc = value_text(x, jget(iq, "breakdown"), &bv)))
			return rc;
		rc = retention_actors(x, src, (int)interval, bv, rows, gti);
		if (rc == 0)
			qsort(rows->v, rows->n, sizeof(*rows->v), by_count_id);
	} else if (strcmp(skind, "PathsQuery") == 0) {
		rc = paths_actors(x, src, rows);
		if (rc == 0)
			qsort(rows->v, rows->n, sizeof(*rows->v), by_id);
	} else if (strcmp(skind, "LifecycleQuery") == 0) {
		rc = lifecycle_actors(x, src, jstr(iq, "day"), jstr(iq, "status"), rows, gti);
		if (rc == 0)
			qsort(rows->v, rows->n, sizeof(*rows->v), by_id);
	} else if (strcmp(skind, "StickinessQuery") == 0) {
		int64_t series, day;
		const char *cmp = jstr(iq, "compare");
		if ((rc = int_of(x, iq, "series", 0, 0, 1000, &series)) ||
		    (rc = int_of(x, iq, "day", 0, 0, 100000, &day)))
			return rc;
		rc = stickiness_actors(x, src, (int)series, (int)day,
				       cmp && strcmp(cmp, "previous") == 0, rows, gti);
		if (rc == 0)
			qsort(rows->v, rows->n, sizeof(*rows->v), by_id);
	} else {
		return ifail(x, "not_supported", "Actors of a %s are not supported yet", skind);
	}
	return rc;
}

int actors_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	const char *kind = jstr(q, "kind");
	struct json_object *iq = q;
	int64_t limit, offset;
	int rc;
	if (kind && strcmp(kind, "ActorsQuery") == 0) {
		iq = jget(q, "source");
		if (!iq || !jstr(iq, "kind") || strcmp(jstr(iq, "kind"), "InsightActorsQuery") != 0)
			return ifail(x, "not_supported",
				     "ActorsQuery is supported with an InsightActorsQuery source");
	}
	if ((rc = int_of(x, q, "limit", PAGE_DEFAULT, 1, PAGE_MAX, &limit)) ||
	    (rc = int_of(x, q, "offset", 0, 0, ACTORS_MAX, &offset)))
		return rc;
	struct json_object *src = jget(iq, "source");
	const char *skind = jstr(src, "kind");
	if (!skind)
		return ifail(x, "validation_error", "InsightActorsQuery needs a source query");
	struct actor_rows rows = {0};
	int gti = -1;
	/* a cohort breakdown: the point's cohort as a query of its own */
	struct json_object *cohort_q = NULL;
	if (is_cohort_breakdown(src) &&
	    (strcmp(skind, "TrendsQuery") == 0 || strcmp(skind, "FunnelsQuery") == 0 ||
	     strcmp(skind, "RetentionQuery") == 0)) {
		const char *bv;
		struct json_object *bj = jget(
		    iq, strcmp(skind, "FunnelsQuery") == 0 ? "funnelStepBreakdown" : "breakdown");
		if ((rc = value_text(x, bj, &bv)) ||
		    (rc = cohort_breakdown_query(x, src, bv, &cohort_q)))
			return rc;
		json_object_object_del(
		    iq, strcmp(skind, "FunnelsQuery") == 0 ? "funnelStepBreakdown" : "breakdown");
		src = cohort_q;
	}
	rc = actors_list(x, iq, src, skind, &rows, &gti);
	if (cohort_q)
		json_object_put(cohort_q);
	if (rc)
		return rc;
	size_t from = (size_t)offset < rows.n ? (size_t)offset : rows.n;
	size_t n = rows.n - from < (size_t)limit ? rows.n - from : (size_t)limit;
	/* trends: the actor's matching events in the point; funnels: the
	 * steps its path reached; retention: the intervals it appeared in;
	 * lifecycle and stickiness: the actor alone */
	enum tail tail = strcmp(skind, "TrendsQuery") == 0 || strcmp(skind, "FunnelsQuery") == 0
			     ? TAIL_COUNT
			 : strcmp(skind, "RetentionQuery") == 0 ? TAIL_EXTRA
								: TAIL_NONE;
	if (tail == TAIL_EXTRA)
		rc = sn_buf_appends(out, "\"columns\":[\"actor\",\"appearances\"],\"types\":"
					 "[\"Tuple\",\"Array(UInt16)\"],\"results\":[");
	else if (tail == TAIL_COUNT)
		rc = sn_buf_appendf(
		    out,
		    "\"columns\":[\"actor\",\"%s\"],\"types\":[\"Tuple\",\"UInt64\"],"
		    "\"results\":[",
		    strcmp(skind, "FunnelsQuery") == 0 ? "steps_reached" : "event_count");
	else
		rc = sn_buf_appends(out, "\"columns\":[\"actor\"],\"types\":[\"Tuple\"],"
					 "\"results\":[");
	if (rc == 0 && gti == -2)
		return ifail(x, "not_supported",
			     "Actors of an insight aggregated by a HogQL expression are not "
			     "supported yet");
	if (rc == 0)
		rc = gti >= 0 ? groups_json(x, gti, rows.v + from, n, tail, out)
			      : persons_json(x, rows.v + from, n, tail, out);
	if (rc == 0)
		rc = sn_buf_appendf(out, "],\"hasMore\":%s,\"limit\":%lld,\"offset\":%lld",
				    from + n < rows.n ? "true" : "false", (long long)limit,
				    (long long)offset);
	return rc;
}
