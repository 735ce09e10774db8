/*
 * events_query.c — PostHog's EventsQuery: the event list and data table of
 * the UI (PostHog's events_query_runner.py), as one HogQL statement over
 * events plus, for a "person" column, one over person_distinct_ids.
 *
 *   {"kind": "EventsQuery", "select": ["*", "event", "person", "count()"],
 *    "where": ["properties.$browser = 'Chrome'"], "orderBy": ["timestamp DESC"],
 *    "limit": 100, "offset": 0, "event": "$pageview", "events": [...],
 *    "actionId": 3, "personId": "<uuid>", "before": "-1h", "after": "-24h",
 *    "properties": [...], "fixedProperties": [...], "filterTestAccounts": true}
 *   → {"columns": [...], "types": [...], "results": [[...], ...], "hasMore",
 *      "limit", "offset"} (insights.c adds hogql, timings, ...)
 *
 * The statement:
 *
 *   SELECT <select, each the user's text>  FROM events
 *   WHERE  (<where>) AND <properties> AND <fixedProperties> AND event = …
 *          AND <action> AND distinct_id IN (<the person's>) AND <test accounts>
 *          AND timestamp < <before> AND timestamp > <after>
 *   GROUP BY <the non-aggregate selects, when any select aggregates>
 *   HAVING (<the where items that aggregate>)
 *   ORDER BY <orderBy, or PostHog's default>  LIMIT limit + 1 OFFSET offset
 *
 * As PostHog: "*" is the event as an object {uuid, event, properties,
 * timestamp, team_id, distinct_id, elements_chain, created_at, person_mode}
 * and, for a non-empty chain, its "elements" (parsed here as PostHog's
 * chain_to_elements parses them);
 * "person" reads distinct_id and becomes {uuid, created_at, properties,
 * distinct_id} (or {distinct_id} for an event without a person);
 * "person_display_name" becomes {display_name, id, distinct_id}. A select
 * item is an aggregate when it calls an aggregate function outside a
 * subquery (PostHog's has_aggregation); the default order is count() DESC,
 * else the first aggregate DESC, else timestamp DESC when "timestamp" is
 * selected, else the first column ASC; after defaults to -24h and before to
 * now + 5 s (no future events by default). The limit is PostHog's: default
 * 100, at most 50000 (larger is clamped, not refused); one more row than
 * the limit is read to answer hasMore.
 *
 * Each user text (select, where, orderBy items) is parsed on its own first,
 * so a syntax error names its position in that text, and a text that is
 * more than one expression ("1 FROM persons --") is refused instead of
 * changing the statement. It then goes into the statement verbatim (a
 * newline after it ends any "--" comment), and the statement's code-point
 * span of each text is remembered: a resolution error the backend reports
 * inside one ("Unable to resolve field") is mapped back to a position in
 * the user's text, as PostHog's errors point into the expression.
 *
 * Values come back through the insight backend, which carries scalars
 * only: "*" and person_display_name are read as separate columns and put
 * together here (PostHog reads a tuple and turns it into a dict), and a
 * select item whose type is an array or a tuple is selected as
 * toJSONString(x) with toTypeName(x) beside it (found by resolving the
 * statement once, then building it again), its JSON put into the result
 * as it is (a tuple as a JSON list, as PostHog's JSON renders a Python
 * tuple). "types" are the resolver's types of the statement
 * (coarser than ClickHouse's: every integer is Int64).
 *
 * Rejected alternative: printing each parsed expression back as canonical
 * HogQL (sn_hogql_print_expr) instead of the user's text. Safe as well, but
 * a resolution error would then point into text the user never wrote.
 */
#include "insights/insights_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EQ_LIMIT_DEFAULT 100
#define EQ_LIMIT_MAX	 50000
#define EQ_ITEMS_MAX	 512	    /* select / where / orderBy items */
#define EQ_SQL_MAX	 (8u << 20) /* the statement's text */
#define EQ_PERSONS_MAX	 10000	    /* distinct ids one person lookup reads */

/* PostHog's SELECT_STAR_FROM_EVENTS_FIELDS, in its order. */
static const char *const star_fields[] = {
    "uuid",	   "event",	     "properties", "timestamp",	  "team_id",
    "distinct_id", "elements_chain", "created_at", "person_mode",
};
#define NSTAR SN_ARRAY_LEN(star_fields)

static const char *const display_props[] = {SN_PERSON_DISPLAY_NAME_KEYS};

enum ckind { CK_EXPR, CK_STAR, CK_PERSON, CK_DISPLAY };

struct ecol {
	enum ckind kind;
	const char *raw;   /* the select text: the column's name */
	const char *alias; /* the alias of an `expr AS name` item, or NULL */
	bool agg;
	/* an Array or Tuple: selected as toJSONString(expr), toTypeName(expr) */
	bool json;
	size_t first, n; /* its columns in the statement */
};

/* A user text placed in the statement (code points, end exclusive). */
struct piece {
	uint32_t from, to;
};

struct eq {
	struct ictx *x;
	struct sn_buf sql;
	struct piece pieces[4 * EQ_ITEMS_MAX + 8];
	size_t npieces;
	struct ecol *cols;
	size_t ncols, nstmt; /* select items, statement columns */
	const bool *json;    /* per select item: read as JSON (a second build), or NULL */
};

static size_t cps(const char *s, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* The user's text s into the statement, its span remembered. */
static int put_user(struct eq *e, const char *s)
{
	if (e->npieces == SN_ARRAY_LEN(e->pieces))
		return ifail(e->x, "validation_error", "The query has too many expressions");
	uint32_t from = (uint32_t)cps(e->sql.data ? e->sql.data : "", e->sql.len);
	int rc = sn_buf_appends(&e->sql, s);
	e->pieces[e->npieces++] = (struct piece){from, from + (uint32_t)cps(s, strlen(s))};
	/* a newline ends a line comment, which would swallow what follows */
	if (rc == 0 && (strstr(s, "--") || strstr(s, "//") || strchr(s, '#')))
		rc = sn_buf_appendc(&e->sql, '\n');
	return rc;
}

/* A user text's error as the query's: PostHog's class as the code, the
 * position in that text. */
static int user_fail(struct ictx *x, const struct sn_hogql_error *he, uint32_t shift)
{
	x->err->hogql = *he;
	x->err->hogql.start = he->start > shift ? he->start - shift : 0;
	x->err->hogql.end = he->end > shift ? he->end - shift : x->err->hogql.start;
	return ifail(x, he->type && he->type[0] ? he->type : "query_error", "%s", he->msg);
}

/* The text before a "--" comment, trimmed, equals word (PostHog's
 * col.split("--")[0].strip() == word). */
static bool head_is(const char *s, const char *word)
{
	const char *end = strstr(s, "--");
	if (!end)
		end = s + strlen(s);
	while (s < end && strchr(" \t\r\n", *s))
		s++;
	while (end > s && strchr(" \t\r\n", end[-1]))
		end--;
	return (size_t)(end - s) == strlen(word) && memcmp(s, word, strlen(word)) == 0;
}

/* PostHog's has_aggregation: an aggregate function called anywhere in n
 * but inside a subquery. */
static bool has_agg(const struct sn_hogql_node *n, int depth)
{
	if (!n || depth > 200 || n->kind == SN_HQ_SELECT || n->kind == SN_HQ_SELECT_SET)
		return false;
	if (n->kind == SN_HQ_CALL && n->name) {
		struct sn_hogql_func tmp;
		const struct sn_hogql_func *f = sn_hogql_func_find(n->name, &tmp);
		if (f && (f->flags & SN_HQF_AGGREGATE))
			return true;
	}
	if (has_agg(n->a, depth + 1) || has_agg(n->b, depth + 1) || has_agg(n->c, depth + 1) ||
	    has_agg(n->d, depth + 1))
		return true;
	const struct sn_hogql_list *l[] = {&n->list, &n->list2, &n->list3};
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < l[k]->n; i++)
			if (has_agg(l[k]->items[i], depth + 1))
				return true;
	return false;
}

/* A member that must be a list of strings (absent = empty). */
static int str_list(struct ictx *x, struct json_object *q, const char *key,
		    struct json_object **out, size_t *n)
{
	*out = jget(q, key);
	*n = 0;
	if (!*out)
		return 0;
	if (!json_object_is_type(*out, json_type_array))
		return ifail(x, "validation_error", "%s must be a list of strings", key);
	*n = json_object_array_length(*out);
	if (*n > EQ_ITEMS_MAX)
		return ifail(x, "validation_error", "%s has more than %d items", key, EQ_ITEMS_MAX);
	for (size_t i = 0; i < *n; i++)
		if (!json_object_is_type(json_object_array_get_idx(*out, i), json_type_string))
			return ifail(x, "validation_error", "%s[%zu] must be a string", key, i);
	return 0;
}

static const char *item(struct json_object *arr, size_t i)
{
	return json_object_get_string(json_object_array_get_idx(arr, i));
}

/* One select / where text parsed alone: *node, or the error at its place. */
static int parse_user(struct ictx *x, const char *s, struct sn_hogql_node **node)
{
	struct sn_hogql_error he;
	memset(&he, 0, sizeof(he));
	int rc = sn_hogql_parse_expr(x->a, s, strlen(s), node, &he);
	if (rc == SN_ERR_INVALID)
		return user_fail(x, &he, 0);
	return rc;
}

/* An orderBy text: exactly one order expression ("expr [ASC|DESC]"),
 * parsed after a fixed prefix (there is no order-expression entry point);
 * positions are shifted back. */
static int check_order(struct ictx *x, const char *s)
{
	static const char pre[] = "SELECT 1 ORDER BY ";
	size_t n = strlen(s);
	char *t = sn_arena_alloc(x->a, sizeof(pre) + n + 1);
	if (!t)
		return SN_ERR_NOMEM;
	memcpy(t, pre, sizeof(pre) - 1);
	memcpy(t + sizeof(pre) - 1, s, n);
	t[sizeof(pre) - 1 + n] = '\n';
	struct sn_hogql_node *root;
	struct sn_hogql_error he;
	memset(&he, 0, sizeof(he));
	int rc = sn_hogql_parse_select(x->a, t, sizeof(pre) + n, &root, &he);
	if (rc == SN_ERR_INVALID)
		return user_fail(x, &he, sizeof(pre) - 1);
	if (rc)
		return rc;
	const struct sn_hogql_select *sel = root->kind == SN_HQ_SELECT ? root->sel : NULL;
	if (!sel || sel->order_by.n != 1 || sel->limit || sel->offset || sel->limit_by ||
	    sel->has_interpolate) {
		he = (struct sn_hogql_error){.type = "SyntaxError", .end = (uint32_t)cps(s, n)};
		snprintf(he.msg, sizeof(he.msg), "Expected exactly one order expression: '%.200s'",
			 s);
		return user_fail(x, &he, 0);
	}
	return 0;
}

/* The display name's three columns (PostHog's person_display_name tuple:
 * the first non-empty display property or the distinct id, the person's
 * id, the distinct id), each followed by dir. */
static int display_exprs(struct sn_buf *b, const char *dir)
{
	int rc = sn_buf_appends(b, "coalesce(");
	for (size_t i = 0; i < SN_ARRAY_LEN(display_props) && rc == 0; i++) {
		rc = sn_buf_appends(b, "nullIf(toString(");
		rc = rc ? rc : hq_prop(b, "person.properties", display_props[i]);
		rc = rc ? rc : sn_buf_appends(b, "), ''), ");
	}
	rc = rc ? rc
		: sn_buf_appendf(b, "distinct_id)%s, toString(person.id)%s, distinct_id%s", dir,
				 dir, dir);
	return rc;
}

/* The columns of select item c, comma-separated: as the SELECT list, the
 * GROUP BY list (an alias by its name) or an ORDER BY list with dir. */
static int col_text(struct eq *e, const struct ecol *c, bool group, const char *dir)
{
	struct sn_buf *b = &e->sql;
	int rc = 0;
	switch (c->kind) {
	case CK_STAR:
		for (size_t i = 0; i < NSTAR && rc == 0; i++)
			rc = sn_buf_appendf(b, "%s%s%s", i ? ", " : "", star_fields[i], dir);
		return rc;
	case CK_PERSON: return sn_buf_appendf(b, "distinct_id%s", dir);
	case CK_DISPLAY: return display_exprs(b, dir);
	case CK_EXPR:
		if (c->json && !group && !*dir) {
			rc = sn_buf_appends(b, "toJSONString(");
			rc = rc ? rc : put_user(e, c->raw);
			rc = rc ? rc : sn_buf_appends(b, "), toTypeName(");
			rc = rc ? rc : put_user(e, c->raw);
			return rc ? rc : sn_buf_appendc(b, ')');
		}
		if (group && c->alias)
			return hq_ident(b, c->alias);
		if (*dir && c->alias) {
			rc = hq_ident(b, c->alias);
			return rc ? rc : sn_buf_appends(b, dir);
		}
		rc = put_user(e, c->raw);
		return rc ? rc : sn_buf_appends(b, dir);
	}
	return 0;
}

/* A time bound (before / after): absolute or relative like PostHog's
 * relative_date_parse (no truncation), as µs UTC. */
static int time_bound(struct ictx *x, const char *field, const char *s, int64_t *utc)
{
	struct json_object *dr = json_object_new_object();
	if (!dr)
		return SN_ERR_NOMEM;
	json_object_object_add(dr, "date_from", json_object_new_string(s));
	json_object_object_add(dr, "explicitDate", json_object_new_boolean(1));
	struct drange r;
	int rc = dr_parse(x, dr, IV_MINUTE, INT64_MIN, true, &r);
	json_object_put(dr);
	if (rc == SN_ERR_INVALID) {
		x->err->msg[0] = 0; /* dr_parse names dateRange.date_from */
		return ifail(x, "validation_error",
			     "%s is not a date or a relative date like -24h: '%.64s'", field, s);
	}
	if (rc == 0)
		*utc = utc_of_loc(x->tz, r.from);
	return rc;
}

/* "toDateTime64('2020-01-12 13:00:00.000000', 6, 'UTC')" */
static int put_instant(struct sn_buf *b, int64_t us)
{
	int64_t days = us / US_DAY - (us % US_DAY < 0);
	int64_t rem = us - days * US_DAY;
	int64_t y;
	unsigned m, d;
	sn_civil_from_days(days, &y, &m, &d);
	return sn_buf_appendf(b, "toDateTime64('%04lld-%02u-%02u %02d:%02d:%02d.%06d', 6, 'UTC')",
			      (long long)y, m, d, (int)(rem / US_HOUR), (int)(rem / US_MIN % 60),
			      (int)(rem / US_SEC % 60), (int)(rem % US_SEC));
}

/* The WHERE conditions PostHog adds after the user's: filters, events,
 * action, person, test accounts, the time window. Each starts " AND ". */
static int put_filters(struct eq *e, struct json_object *q)
{
	struct ictx *x = e->x;
	struct sn_buf *b = &e->sql;
	int rc = 0;
	const char *fkeys[] = {"properties", "fixedProperties"};
	for (size_t k = 0; k < 2 && rc == 0; k++) {
		struct json_object *p = jget(q, fkeys[k]);
		if (!p ||
		    (json_object_is_type(p, json_type_array) && json_object_array_length(p) == 0))
			continue;
		rc = sn_buf_appends(b, " AND ");
		rc = rc ? rc : hq_filters(x, b, p);
	}
	/* event and events: one name is `event = …`, more are `event IN (…)` */
	struct json_object *evs = jget(q, "events");
	const char *ev = jstr(q, "event");
	if (jget(q, "event") && !ev)
		return ifail(x, "validation_error", "event must be a string");
	size_t nevs = 0;
	if (rc == 0 && (rc = str_list(x, q, "events", &evs, &nevs)))
		return rc;
	size_t total = (ev && *ev ? 1 : 0), k = 0;
	for (size_t i = 0; i < nevs; i++)
		total += *item(evs, i) != 0;
	if (rc == 0 && total)
		rc = sn_buf_appends(b, total == 1 ? " AND event = " : " AND event IN (");
	if (rc == 0 && ev && *ev) {
		rc = hq_str(b, ev, strlen(ev));
		k++;
	}
	for (size_t i = 0; i < nevs && rc == 0; i++) {
		const char *s = item(evs, i);
		if (!*s)
			continue;
		rc = k++ ? sn_buf_appends(b, ", ") : 0;
		rc = rc ? rc : hq_str(b, s, strlen(s));
	}
	if (rc == 0 && total > 1)
		rc = sn_buf_appendc(b, ')');
	/* actionId: the action's steps, as matchesAction() */
	struct json_object *aid = jget(q, "actionId");
	if (rc == 0 && aid) {
		if (!json_object_is_type(aid, json_type_int))
			return ifail(x, "validation_error", "actionId must be an integer");
		struct json_object *node = json_object_new_object();
		if (!node)
			return SN_ERR_NOMEM;
		json_object_object_add(node, "kind", json_object_new_string("ActionsNode"));
		json_object_object_add(node, "id",
				       json_object_new_int64(json_object_get_int64(aid)));
		const char *name;
		int64_t id;
		rc = sn_buf_appends(b, " AND ");
		rc = rc ? rc : action_expr(x, node, b, &name, &id);
		json_object_put(node);
		if (rc == SN_ERR_NOT_FOUND)
			return ifail(x, "validation_error", "Action does not exist");
	}
	/* personId: the events of the person's distinct ids */
	struct json_object *pid = jget(q, "personId");
	if (rc == 0 && pid) {
		const char *p = jstr(q, "personId");
		if (!p)
			return ifail(x, "validation_error", "personId must be a string");
		char low[64];
		size_t n = strlen(p);
		if (n >= sizeof(low))
			return ifail(x, "validation_error", "personId is not a person's UUID");
		for (size_t i = 0; i <= n; i++)
			low[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
		rc = sn_buf_appends(b, " AND distinct_id IN (SELECT distinct_id FROM "
				       "person_distinct_ids WHERE toString(person_id) = ");
		rc = rc ? rc : hq_str(b, low, n);
		rc = rc ? rc : sn_buf_appendc(b, ')');
	}
	struct json_object *taf = x->o->team.test_account_filters;
	if (rc == 0 && jbool(q, "filterTestAccounts") && taf &&
	    json_object_is_type(taf, json_type_array) && json_object_array_length(taf)) {
		rc = sn_buf_appends(b, " AND ");
		rc = rc ? rc : hq_filters(x, b, taf);
	}
	/* the window: before (default now + 5 s), after (default -24h) */
	const char *bs = jstr(q, "before"), *as = jstr(q, "after");
	if ((jget(q, "before") && !bs) || (jget(q, "after") && !as))
		return ifail(x, "validation_error", "before and after must be strings");
	int64_t lo = 0, hi = x->now_utc + 5 * US_SEC;
	if (rc == 0 && bs && *bs)
		rc = time_bound(x, "before", bs, &hi);
	bool has_lo = !(as && strcmp(as, "all") == 0);
	if (rc == 0 && has_lo)
		rc = time_bound(x, "after", as && *as ? as : "-24h", &lo);
	rc = rc ? rc : sn_buf_appends(b, " AND timestamp < ");
	rc = rc ? rc : put_instant(b, hi);
	if (rc == 0 && has_lo) {
		rc = sn_buf_appends(b, " AND timestamp > ");
		rc = rc ? rc : put_instant(b, lo);
	}
	return rc;
}

/* A resolution error inside a user text: its position there. */
static void map_error(struct eq *e)
{
	struct sn_insight_error *err = e->x->err;
	if (!err->hogql.msg[0])
		return;
	for (size_t i = 0; i < e->npieces; i++) {
		const struct piece *p = &e->pieces[i];
		if (err->hogql.start < p->from || err->hogql.start >= p->to + 1)
			continue;
		err->hogql.start -= p->from;
		err->hogql.end = (err->hogql.end < p->to ? err->hogql.end : p->to) - p->from;
		if (err->hogql.type && err->hogql.type[0])
			snprintf(err->type, sizeof(err->type), "%s", err->hogql.type);
		return;
	}
	/* in text snout wrote (a filter): no place the user could find */
	err->hogql.start = err->hogql.end = 0;
}

/* ---- values ------------------------------------------------------------------------- */

/* A DateTime as snout's HogQL results print it (PostHog's orjson): in UTC
 * "…T12:00:00.123000Z", elsewhere local with the offset
 * "…T13:00:00.123000+01:00". */
static int put_datetime(struct sn_buf *b, int64_t us, const struct sn_tz *z)
{
	int32_t off = z ? sn_tz_offset_at(z, us) : 0;
	int64_t w = us + (int64_t)off * US_SEC;
	int64_t days = w / US_DAY - (w % US_DAY < 0);
	int64_t rem = w - days * US_DAY;
	int64_t y;
	unsigned m, d;
	sn_civil_from_days(days, &y, &m, &d);
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d", (long long)y, m, d,
			 (int)(rem / US_HOUR), (int)(rem / US_MIN % 60), (int)(rem / US_SEC % 60));
	int frac = (int)(rem % US_SEC);
	if (!z) {
		if (frac)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".%06d", frac);
		snprintf(buf + n, sizeof(buf) - (size_t)n, "Z");
	} else {
		if (frac)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".%06d", frac);
		int a = off < 0 ? -off : off;
		if (off == 0)
			snprintf(buf + n, sizeof(buf) - (size_t)n, "Z");
		else
			snprintf(buf + n, sizeof(buf) - (size_t)n, "%c%02d:%02d",
				 off < 0 ? '-' : '+', a / 3600, a / 60 % 60);
	}
	return sn_buf_append_json_str(b, buf, strlen(buf));
}

static int put_value(struct sn_buf *b, const struct sn_insight_value *v, const struct sn_tz *z)
{
	char buf[64];
	switch (v->type) {
	case SN_IV_INT: return sn_buf_appendf(b, "%lld", (long long)v->i);
	case SN_IV_FLOAT:
		if (!isfinite(v->f))
			return sn_buf_appends(b, "null");
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, v->f);
			if (strtod(buf, NULL) == v->f)
				break;
		}
		return sn_buf_appends(b, buf);
	case SN_IV_STRING: return sn_buf_append_json_str(b, v->s ? v->s : "", v->slen);
	case SN_IV_UUID:
		sn_uuid_format(&v->u, buf);
		return sn_buf_append_json_str(b, buf, strlen(buf));
	case SN_IV_DATETIME: return put_datetime(b, v->i, z);
	case SN_IV_DATE: {
		int64_t y;
		unsigned m, d;
		sn_civil_from_days(v->i, &y, &m, &d);
		return sn_buf_appendf(b, "\"%04lld-%02u-%02u\"", (long long)y, m, d);
	}
	default: return sn_buf_appends(b, "null");
	}
}

/* A properties column: its JSON text as an object ({} when empty). */
static int put_json_text(struct sn_buf *b, const struct sn_insight_value *v)
{
	if (v->type == SN_IV_STRING && v->slen)
		return sn_buf_append(b, v->s, v->slen);
	return sn_buf_appends(b, "{}");
}

/* ---- elements ------------------------------------------------------------------------ */

/* PostHog's chain_to_elements + ElementSerializer (models/element.py):
 * an event's elements_chain as the "elements" list of its "*" object.
 * The chain is split into elements as split_chain_regex finds them (runs
 * of characters other than whitespace, ';' and '"', and quoted strings;
 * a quoted string ends at its first unescaped quote, or when there is
 * none at its last \" — where the regex's backtracking ends it); each
 * element into "tag.class.class" and its attribute run at the first ':'
 * followed by [A-Za-z0-9_-]* and '=' (to the line's end, as '.' stops
 * there); attributes as iter_attributes scans them. Values stay as
 * written (\" is not unescaped), as PostHog leaves them. */
#define ELEMENTS_CHAIN_MAX 16384 /* PostHog's MAX_ELEMENTS_CHAIN_LENGTH, in characters */

static bool chain_plain(char c)
{
	return c != ';' && c != '"' && !strchr(" \t\n\r\f\v", c);
}

/* The end of the quoted string at s[i] == '"', or 0 when it has none. */
static size_t quoted_end(const char *s, size_t n, size_t i)
{
	size_t last_esc_quote = 0;
	for (size_t j = i + 1; j < n;) {
		if (s[j] == '"')
			return j + 1;
		if (s[j] == '\\' && j + 1 < n && s[j + 1] != '\n') {
			if (s[j + 1] == '"')
				last_esc_quote = j + 2;
			j += 2;
		} else {
			j++;
		}
	}
	return last_esc_quote;
}

/* A value of an attribute run: from p, the shortest text whose last
 * character is not a backslash (no newline before that one) followed by
 * '"'. Its end (the quote) in *e, or false. */
static bool attr_value(const char *s, size_t n, size_t p, size_t *e)
{
	for (size_t k = p + 1; k < n; k++) {
		if (s[k] == '"' && s[k - 1] != '\\') {
			*e = k;
			return true;
		}
		if (s[k - 1] == '\n')
			return false;
	}
	return false;
}

struct attr {
	const char *k, *v;
	size_t kn, vn;
};

static bool span_is(const struct attr *a, const char *word)
{
	return a->kn == strlen(word) && memcmp(a->k, word, a->kn) == 0;
}

static int put_opt_str(struct sn_buf *b, const struct attr *a)
{
	return a ? sn_buf_append_json_str(b, a->v, a->vn) : sn_buf_appends(b, "null");
}

static int put_opt_int(struct sn_buf *b, const struct attr *a)
{
	if (!a)
		return sn_buf_appends(b, "null");
	char buf[32], *end;
	size_t n = a->vn < sizeof(buf) - 1 ? a->vn : sizeof(buf) - 1;
	memcpy(buf, a->v, n);
	buf[n] = 0;
	long long v = strtoll(buf, &end, 10);
	if (!n || *end || n != a->vn) /* PostHog's int() would raise: null here */
		return sn_buf_appends(b, "null");
	return sn_buf_appendf(b, "%lld", v);
}

/* One element (s, n) at position order. */
static int put_element(struct ictx *x, struct sn_buf *b, const char *s, size_t n, size_t order)
{
	/* tag and classes up to the ':' that starts the attributes */
	size_t head = n, attrs = n, attrs_end = n;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			break;
		if (s[i] != ':')
			continue;
		size_t j = i + 1;
		while (j < n && (isalnum((unsigned char)s[j]) || s[j] == '_' || s[j] == '-'))
			j++;
		if (j < n && s[j] == '=') {
			head = i;
			attrs = i + 1;
			const char *nl = memchr(s + attrs, '\n', n - attrs);
			attrs_end = nl ? (size_t)(nl - s) : n;
			break;
		}
	}
	/* attributes: the last of a key wins, at its first place */
	size_t cap = 16, na = 0;
	struct attr *av = sn_arena_alloc(x->a, cap * sizeof(*av));
	if (!av)
		return SN_ERR_NOMEM;
	const char *r = s + attrs;
	size_t rn = attrs_end > attrs ? attrs_end - attrs : 0, key_start = 0, search = 0;
	while (search < rn) {
		const char *eq = NULL;
		for (size_t i = search; i + 1 < rn; i++)
			if (r[i] == '=' && r[i + 1] == '"') {
				eq = r + i;
				break;
			}
		if (!eq)
			break;
		size_t p = (size_t)(eq - r) + 2, e;
		if (!attr_value(r, rn, p, &e)) {
			search = p;
			continue;
		}
		struct attr a = {r + key_start, r + p, (size_t)(eq - r) - key_start, e - p};
		size_t k = 0;
		while (k < na && !(av[k].kn == a.kn && memcmp(av[k].k, a.k, a.kn) == 0))
			k++;
		if (k == na) {
			if (na == cap) {
				struct attr *nv = sn_arena_alloc(x->a, 2 * cap * sizeof(*nv));
				if (!nv)
					return SN_ERR_NOMEM;
				memcpy(nv, av, na * sizeof(*nv));
				av = nv;
				cap *= 2;
			}
			na++;
		}
		av[k] = a;
		key_start = search = e + 1;
	}
	const struct attr *text = NULL, *href = NULL, *id = NULL, *nc = NULL, *nt = NULL;
	for (size_t k = 0; k < na; k++) {
		if (span_is(&av[k], "href"))
			href = &av[k];
		else if (span_is(&av[k], "nth-child"))
			nc = &av[k];
		else if (span_is(&av[k], "nth-of-type"))
			nt = &av[k];
		else if (span_is(&av[k], "text"))
			text = &av[k];
		else if (span_is(&av[k], "attr_id"))
			id = &av[k];
	}
	int rc = sn_buf_appends(b, "{\"text\":");
	rc = rc ? rc : put_opt_str(b, text);
	const char *dot = memchr(s, '.', head);
	size_t tagn = dot ? (size_t)(dot - s) : head;
	rc = rc ? rc : sn_buf_appends(b, ",\"tag_name\":");
	rc = rc ? rc : head ? sn_buf_append_json_str(b, s, tagn) : sn_buf_appends(b, "null");
	rc = rc ? rc : sn_buf_appends(b, ",\"attr_class\":");
	if (rc == 0 && dot) {
		rc = sn_buf_appendc(b, '[');
		bool first = true;
		for (const char *c = dot + 1, *end = s + head; rc == 0 && c <= end;) {
			const char *d = memchr(c, '.', (size_t)(end - c));
			size_t cn = d ? (size_t)(d - c) : (size_t)(end - c);
			if (cn) {
				rc = first ? 0 : sn_buf_appendc(b, ',');
				rc = rc ? rc : sn_buf_append_json_str(b, c, cn);
				first = false;
			}
			c += cn + 1;
		}
		rc = rc ? rc : sn_buf_appendc(b, ']');
	} else if (rc == 0) {
		rc = sn_buf_appends(b, "null");
	}
	rc = rc ? rc : sn_buf_appends(b, ",\"href\":");
	rc = rc ? rc : put_opt_str(b, href);
	rc = rc ? rc : sn_buf_appends(b, ",\"attr_id\":");
	rc = rc ? rc : put_opt_str(b, id);
	rc = rc ? rc : sn_buf_appends(b, ",\"nth_child\":");
	rc = rc ? rc : put_opt_int(b, nc);
	rc = rc ? rc : sn_buf_appends(b, ",\"nth_of_type\":");
	rc = rc ? rc : put_opt_int(b, nt);
	rc = rc ? rc : sn_buf_appends(b, ",\"attributes\":{");
	bool first = true;
	for (size_t k = 0; k < na && rc == 0; k++) {
		const struct attr *a = &av[k];
		if (!a->kn || a == text || a == href || a == id || a == nc || a == nt)
			continue;
		rc = first ? 0 : sn_buf_appendc(b, ',');
		rc = rc ? rc : sn_buf_append_json_str(b, a->k, a->kn);
		rc = rc ? rc : sn_buf_appendc(b, ':');
		rc = rc ? rc : sn_buf_append_json_str(b, a->v, a->vn);
		first = false;
	}
	return rc ? rc : sn_buf_appendf(b, "},\"order\":%zu}", order);
}

/* ,"elements":[...] of a non-empty chain. */
static int put_elements(struct ictx *x, struct sn_buf *b, const char *s, size_t n)
{
	/* an over-long chain loses its outermost ancestors (PostHog's
	 * _split_chain): cut at ELEMENTS_CHAIN_MAX characters, then at the
	 * last ';' when that is past the middle */
	size_t chars = 0, cut = n;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == ELEMENTS_CHAIN_MAX) {
			cut = i;
			break;
		}
	if (cut < n) {
		size_t half = 0, c2 = 0;
		for (size_t i = 0; i < cut; i++)
			if (((unsigned char)s[i] & 0xc0) != 0x80 && c2++ == ELEMENTS_CHAIN_MAX / 2)
				half = i;
		const char *semi = NULL;
		for (size_t i = cut; i-- > 0;)
			if (s[i] == ';') {
				semi = s + i;
				break;
			}
		if (semi && (size_t)(semi - s) > half)
			cut = (size_t)(semi - s);
		n = cut;
	}
	int rc = sn_buf_appends(b, ",\"elements\":[");
	size_t order = 0;
	for (size_t i = 0; i < n && rc == 0;) {
		size_t start = i;
		while (i < n) {
			if (chain_plain(s[i])) {
				i++;
				continue;
			}
			size_t qe = s[i] == '"' ? quoted_end(s, n, i) : 0;
			if (!qe)
				break;
			i = qe;
		}
		if (i > start) {
			rc = order ? sn_buf_appendc(b, ',') : 0;
			rc = rc ? rc : put_element(x, b, s + start, i - start, order);
			order++;
		} else {
			i++; /* whitespace, ';' or a quote that closes nothing */
		}
	}
	return rc ? rc : sn_buf_appendc(b, ']');
}

/* ---- person objects ------------------------------------------------------------------ */

/* A distinct id of the page and its person's row (id, properties,
 * created_at), or NULL. */
struct pinfo {
	const struct sn_insight_value *did, *person;
};

static int cmp_val(const struct sn_insight_value *x, const struct sn_insight_value *y)
{
	size_t n = x->slen < y->slen ? x->slen : y->slen;
	int c = n ? memcmp(x->s, y->s, n) : 0;
	return c ? c : (x->slen > y->slen) - (x->slen < y->slen);
}

static int by_did(const void *a, const void *b)
{
	return cmp_val(((const struct pinfo *)a)->did, ((const struct pinfo *)b)->did);
}

/* 'a', 'b', … of the string cells of column col in rows [0, n). */
static int in_items(struct sn_buf *q, const struct sn_insight_value *cells, size_t ncols, size_t n,
		    size_t col, size_t *k)
{
	int rc = 0;
	for (size_t r = 0; r < n && rc == 0; r++) {
		const struct sn_insight_value *v = &cells[r * ncols + col];
		if (v->type != SN_IV_STRING)
			continue;
		rc = (*k)++ ? sn_buf_appends(q, ", ") : 0;
		rc = rc ? rc : hq_str(q, v->s, v->slen);
	}
	return rc;
}

/* The persons of the page's distinct ids (column col of t's first nrows
 * rows), sorted by distinct id into *out: who each distinct id is
 * (person_distinct_ids), then those persons (persons) — two statements,
 * as actors.c reads persons. */
static int person_rows(struct ictx *x, const struct sn_insight_table *t, size_t nrows, size_t col,
		       struct pinfo **out, size_t *nout)
{
	struct sn_buf q;
	sn_buf_init(&q, EQ_SQL_MAX);
	struct sn_insight_table ids = {0}, people = {0};
	size_t k = 0, k2 = 0;
	*out = NULL;
	*nout = 0;
	int rc = sn_buf_appends(&q, "SELECT distinct_id, toString(person_id) FROM "
				    "person_distinct_ids WHERE distinct_id IN (");
	rc = rc ? rc : in_items(&q, t->cells, t->ncols, nrows, col, &k);
	rc = rc ? rc : sn_buf_appendf(&q, ") LIMIT %d", EQ_PERSONS_MAX);
	x->max_rows = EQ_PERSONS_MAX;
	if (rc == 0 && k)
		rc = run_hogql(x, q.data, q.len, &ids);
	sn_buf_reset(&q);
	rc = rc || !ids.nrows ? rc
			      : sn_buf_appends(&q, "SELECT toString(id), properties, created_at "
						   "FROM persons WHERE toString(id) IN (");
	rc = rc || !ids.nrows ? rc : in_items(&q, ids.cells, ids.ncols, ids.nrows, 1, &k2);
	rc = rc || !ids.nrows ? rc : sn_buf_appendf(&q, ") LIMIT %d", EQ_PERSONS_MAX);
	if (rc == 0 && k2)
		rc = run_hogql(x, q.data, q.len, &people);
	x->max_rows = 0;
	sn_buf_release(&q);
	if (rc || !ids.nrows)
		return rc;
	if (ids.ncols < 2 || (people.nrows && people.ncols < 3))
		return ifail(x, "query_error", "The person lookup returned too few columns");
	struct pinfo *v = sn_arena_alloc(x->a, ids.nrows * sizeof(*v));
	struct pinfo *pp = sn_arena_alloc(x->a, (people.nrows + 1) * sizeof(*pp));
	if (!v || !pp)
		return SN_ERR_NOMEM;
	/* persons by id, then each distinct id's person by bisection */
	size_t np = 0, n = 0;
	for (size_t r = 0; r < people.nrows; r++)
		if (people.cells[r * people.ncols].type == SN_IV_STRING)
			pp[np++] = (struct pinfo){&people.cells[r * people.ncols],
						  &people.cells[r * people.ncols]};
	qsort(pp, np, sizeof(*pp), by_did);
	for (size_t r = 0; r < ids.nrows; r++) {
		const struct sn_insight_value *row = &ids.cells[r * ids.ncols];
		if (row[0].type != SN_IV_STRING || row[1].type != SN_IV_STRING)
			continue;
		struct pinfo key = {&row[1], NULL};
		const struct pinfo *p = bsearch(&key, pp, np, sizeof(*pp), by_did);
		if (p)
			v[n++] = (struct pinfo){&row[0], p->person};
	}
	qsort(v, n, sizeof(*v), by_did);
	*out = v;
	*nout = n;
	return 0;
}

/* The person row (id, properties, created_at) of distinct id did, or NULL. */
static const struct sn_insight_value *find_person(const struct pinfo *v, size_t n,
						  const struct sn_insight_value *did)
{
	if (did->type != SN_IV_STRING || !n)
		return NULL;
	struct pinfo key = {did, NULL};
	const struct pinfo *p = bsearch(&key, v, n, sizeof(*v), by_did);
	return p ? p->person : NULL;
}

/* ---- types ----------------------------------------------------------------------------- */

/* ClickHouse's name of a resolved type (DateTimes in the team's zone). */
static const char *type_name(struct ictx *x, struct sn_hogql_rtype t)
{
	const char *base;
	switch (t.type) {
	case SN_HQT_NULL: return "Nullable(Nothing)";
	case SN_HQT_BOOL: base = "UInt8"; break;
	case SN_HQT_INT: base = "Int64"; break;
	case SN_HQT_FLOAT: base = "Float64"; break;
	case SN_HQT_STRING:
	case SN_HQT_JSON: base = "String"; break;
	case SN_HQT_UUID: base = "UUID"; break;
	case SN_HQT_DATE: base = "Date"; break;
	case SN_HQT_DATETIME: base = NULL; break;
	default: return "Unknown";
	}
	char buf[160];
	if (!base)
		snprintf(buf, sizeof(buf), "DateTime64(6, '%s')", x->tz);
	else
		snprintf(buf, sizeof(buf), "%s", base);
	if (t.nullable) {
		char nb[180];
		snprintf(nb, sizeof(nb), "Nullable(%s)", buf);
		return sn_arena_strdup(x->a, nb);
	}
	return sn_arena_strdup(x->a, buf);
}

/* The statement's column types from the resolver, or NULL when it cannot
 * resolve what the backend ran (then "types" says Unknown). */
static struct sn_hogql_rtype *stmt_types(struct eq *e)
{
	struct sn_hogql_node *root;
	struct sn_hogql_error he;
	struct sn_hogql_resolve_opts ro = {.team_id = e->x->o->team.id};
	if (sn_hogql_parse_select(e->x->a, e->sql.data, e->sql.len, &root, &he) ||
	    root->kind != SN_HQ_SELECT ||
	    sn_hogql_resolve(e->x->a, root, e->sql.data, e->sql.len, &ro, &he) ||
	    root->sel->select.n != e->nstmt)
		return NULL;
	struct sn_hogql_rtype *t = sn_arena_alloc(e->x->a, e->nstmt * sizeof(*t));
	for (size_t i = 0; t && i < e->nstmt; i++)
		t[i] = root->sel->select.items[i]->rtype;
	return t;
}

/* ---- the runner ------------------------------------------------------------------------ */

static int int_opt(struct ictx *x, struct json_object *q, const char *key, int64_t *out)
{
	struct json_object *v = jget(q, key);
	*out = 0;
	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return ifail(x, "validation_error", "%s must be an integer", key);
	*out = json_object_get_int64(v);
	return 0;
}

static int build(struct eq *e, struct json_object *q, int64_t limit, int64_t offset)
{
	struct ictx *x = e->x;
	struct json_object *sel, *wh, *ob;
	size_t nsel, nwh, nob;
	int rc;
	if ((rc = str_list(x, q, "select", &sel, &nsel)) ||
	    (rc = str_list(x, q, "where", &wh, &nwh)) ||
	    (rc = str_list(x, q, "orderBy", &ob, &nob)))
		return rc;
	/* the select items (none = "*", as PostHog's select_input_raw) */
	e->ncols = nsel ? nsel : 1;
	e->cols = sn_arena_alloc(x->a, e->ncols * sizeof(*e->cols));
	if (!e->cols)
		return SN_ERR_NOMEM;
	bool any_agg = false, has_count = false, has_ts = false;
	size_t first_agg = SIZE_MAX;
	for (size_t i = 0; i < e->ncols; i++) {
		struct ecol *c = &e->cols[i];
		*c = (struct ecol){.raw = nsel ? item(sel, i) : "*", .first = e->nstmt};
		if (strcmp(c->raw, "*") == 0) {
			c->kind = CK_STAR;
			c->n = NSTAR;
		} else if (head_is(c->raw, "person")) {
			c->kind = CK_PERSON;
			c->n = 1;
		} else if (head_is(c->raw, "person_display_name")) {
			c->kind = CK_DISPLAY;
			c->n = 3;
		} else {
			struct sn_hogql_node *n;
			if ((rc = parse_user(x, c->raw, &n)))
				return rc;
			c->kind = CK_EXPR;
			c->json = e->json && e->json[i];
			c->n = c->json ? 2 : 1;
			c->agg = has_agg(n, 0);
			if (n->kind == SN_HQ_ALIAS)
				c->alias = n->name;
		}
		e->nstmt += c->n;
		any_agg |= c->agg;
		if (c->agg && first_agg == SIZE_MAX)
			first_agg = i;
		has_count |= strcmp(c->raw, "count()") == 0;
		has_ts |= strcmp(c->raw, "timestamp") == 0;
	}
	/* where items: the aggregating ones go to HAVING */
	bool *wagg = sn_arena_alloc(x->a, (nwh ? nwh : 1) * sizeof(*wagg));
	if (!wagg)
		return SN_ERR_NOMEM;
	for (size_t i = 0; i < nwh; i++) {
		struct sn_hogql_node *n;
		if ((rc = parse_user(x, item(wh, i), &n)))
			return rc;
		wagg[i] = has_agg(n, 0);
	}
	for (size_t i = 0; i < nob; i++)
		if ((rc = check_order(x, item(ob, i))))
			return rc;
	/* the statement */
	struct sn_buf *b = &e->sql;
	rc = sn_buf_appends(b, "SELECT ");
	for (size_t i = 0; i < e->ncols && rc == 0; i++) {
		rc = i ? sn_buf_appends(b, ", ") : 0;
		rc = rc ? rc : col_text(e, &e->cols[i], false, "");
	}
	rc = rc ? rc : sn_buf_appendf(b, " FROM events%s WHERE 1", x->sample);
	for (size_t i = 0; i < nwh && rc == 0; i++) {
		if (wagg[i])
			continue;
		rc = sn_buf_appends(b, " AND (");
		rc = rc ? rc : put_user(e, item(wh, i));
		rc = rc ? rc : sn_buf_appendc(b, ')');
	}
	rc = rc ? rc : put_filters(e, q);
	if (rc == 0 && any_agg) {
		bool first = true;
		for (size_t i = 0; i < e->ncols && rc == 0; i++) {
			if (e->cols[i].agg)
				continue;
			rc = sn_buf_appends(b, first ? " GROUP BY " : ", ");
			rc = rc ? rc : col_text(e, &e->cols[i], true, "");
			first = false;
		}
	}
	bool having = false;
	for (size_t i = 0; i < nwh && rc == 0; i++) {
		if (!wagg[i])
			continue;
		rc = sn_buf_appends(b, having ? " AND (" : " HAVING (");
		rc = rc ? rc : put_user(e, item(wh, i));
		rc = rc ? rc : sn_buf_appendc(b, ')');
		having = true;
	}
	/* ORDER BY: the request's, or PostHog's default */
	if (rc == 0 && nob) {
		rc = sn_buf_appends(b, " ORDER BY ");
		for (size_t i = 0; i < nob && rc == 0; i++) {
			rc = i ? sn_buf_appends(b, ", ") : 0;
			rc = rc ? rc : put_user(e, item(ob, i));
		}
	} else if (rc == 0 && !jget(q, "orderBy")) {
		if (has_count)
			rc = sn_buf_appends(b, " ORDER BY count() DESC");
		else if (first_agg != SIZE_MAX) {
			rc = sn_buf_appends(b, " ORDER BY ");
			rc = rc ? rc : col_text(e, &e->cols[first_agg], false, " DESC");
		} else if (has_ts)
			rc = sn_buf_appends(b, " ORDER BY timestamp DESC");
		else {
			rc = sn_buf_appends(b, " ORDER BY ");
			rc = rc ? rc : col_text(e, &e->cols[0], false, " ASC");
		}
	}
	rc = rc ? rc
		: sn_buf_appendf(b, " LIMIT %lld OFFSET %lld", (long long)limit + 1,
				 (long long)offset);
	return rc;
}

int events_query_run(struct ictx *x, struct json_object *q, struct sn_buf *out)
{
	int64_t limit, offset;
	int rc;
	if ((rc = int_opt(x, q, "limit", &limit)) || (rc = int_opt(x, q, "offset", &offset)))
		return rc;
	/* PostHog's HogQLHasMorePaginator: none or <= 0 is the default, more
	 * than the maximum is the maximum; a negative offset is 0 */
	limit = limit <= 0 ? EQ_LIMIT_DEFAULT : limit > EQ_LIMIT_MAX ? EQ_LIMIT_MAX : limit;
	if (offset < 0)
		offset = 0;
	if (offset > INT64_MAX / 2)
		return ifail(x, "validation_error", "offset is too large");
	if (jget(q, "source"))
		return ifail(x, "not_supported",
			     "An EventsQuery with a source (an insight's events) is not supported "
			     "yet");
	if (jget(q, "actionSteps"))
		return ifail(x, "not_supported", "actionSteps are not supported yet; use actionId");
	struct eq *e = sn_arena_alloc(x->a, sizeof(*e));
	if (!e)
		return SN_ERR_NOMEM;
	memset(e, 0, sizeof(*e));
	e->x = x;
	sn_buf_init(&e->sql, EQ_SQL_MAX);
	struct sn_insight_table t = {0};
	rc = build(e, q, limit, offset);
	/* Arrays and tuples travel as JSON text (the backend carries scalars):
	 * the statement is resolved once to find them, then built again. */
	struct sn_hogql_rtype *t0 = rc == 0 ? stmt_types(e) : NULL;
	bool *json = t0 ? sn_arena_alloc(x->a, e->ncols * sizeof(*json)) : NULL;
	bool any_json = false;
	for (size_t i = 0; json && i < e->ncols; i++) {
		uint8_t ty = t0[e->cols[i].first].type;
		json[i] = e->cols[i].kind == CK_EXPR && (ty == SN_HQT_ARRAY || ty == SN_HQT_TUPLE);
		any_json |= json[i];
	}
	if (any_json) {
		sn_buf_reset(&e->sql);
		e->npieces = e->nstmt = 0;
		e->json = json;
		rc = build(e, q, limit, offset);
	}
	if (rc == SN_ERR_TOO_BIG)
		rc = ifail(x, "validation_error", "The query is too large");
	if (rc == 0) {
		x->max_rows = limit + 1;
		rc = run_hogql(x, e->sql.data, e->sql.len, &t);
		x->max_rows = 0;
		if (rc == SN_ERR_INVALID)
			map_error(e);
	}
	if (rc == 0 && t.nrows && t.ncols != e->nstmt)
		rc = ifail(x, "query_error", "The events statement returned %zu columns, not %zu",
			   t.ncols, e->nstmt);
	struct sn_hogql_rtype *types = rc == 0 ? stmt_types(e) : NULL;
	bool more = rc == 0 && t.nrows > (size_t)limit;
	size_t nrows = more ? (size_t)limit : t.nrows;
	/* the page's persons */
	struct pinfo *pv = NULL;
	size_t npv = 0;
	for (size_t i = 0; rc == 0 && i < e->ncols; i++)
		if (e->cols[i].kind == CK_PERSON) {
			rc = person_rows(x, &t, nrows, e->cols[i].first, &pv, &npv);
			break;
		}
	const struct sn_tz *z = sn_tz_get(x->tz);
	if (z && sn_tz_is_utc(z))
		z = NULL;
	/* columns: the select text, or an alias' name */
	rc = rc ? rc : sn_buf_appends(out, "\"columns\":[");
	for (size_t i = 0; rc == 0 && i < e->ncols; i++) {
		const char *nm = e->cols[i].alias ? e->cols[i].alias : e->cols[i].raw;
		rc = i ? sn_buf_appendc(out, ',') : 0;
		rc = rc ? rc : sn_buf_append_json_str(out, nm, strlen(nm));
	}
	rc = rc ? rc : sn_buf_appends(out, "],\"types\":[");
	for (size_t i = 0; rc == 0 && i < e->ncols; i++) {
		const struct ecol *c = &e->cols[i];
		struct sn_buf tb;
		sn_buf_init(&tb, 4096);
		if (c->n > 1 && !c->json)
			rc = sn_buf_appends(&tb, "Tuple(");
		if (c->json) {
			/* ClickHouse's type name, from the first row's toTypeName */
			const struct sn_insight_value *tv = nrows ? &t.cells[c->first + 1] : NULL;
			if (tv && tv->type == SN_IV_STRING)
				rc = sn_buf_append(&tb, tv->s, tv->slen);
			else
				rc = sn_buf_appends(&tb, "Unknown");
		}
		for (size_t k = 0; rc == 0 && !c->json && k < c->n; k++) {
			rc = k ? sn_buf_appends(&tb, ", ") : 0;
			const char *tn = types ? type_name(x, types[c->first + k]) : "Unknown";
			rc = rc ? rc : sn_buf_appends(&tb, tn ? tn : "Unknown");
		}
		if (rc == 0 && c->n > 1 && !c->json)
			rc = sn_buf_appendc(&tb, ')');
		rc = rc ? rc : i ? sn_buf_appendc(out, ',') : 0;
		rc = rc ? rc : sn_buf_append_json_str(out, tb.data, tb.len);
		sn_buf_release(&tb);
	}
	rc = rc ? rc : sn_buf_appends(out, "],\"results\":[");
	for (size_t r = 0; rc == 0 && r < nrows; r++) {
		const struct sn_insight_value *row = &t.cells[r * t.ncols];
		rc = sn_buf_appends(out, r ? ",[" : "[");
		for (size_t i = 0; rc == 0 && i < e->ncols; i++) {
			const struct ecol *c = &e->cols[i];
			const struct sn_insight_value *v = &row[c->first];
			rc = i ? sn_buf_appendc(out, ',') : 0;
			if (rc)
				break;
			if (c->kind == CK_EXPR && c->json) {
				rc = v->type == SN_IV_STRING ? sn_buf_append(out, v->s, v->slen)
							     : sn_buf_appends(out, "null");
			} else if (c->kind == CK_EXPR) {
				rc = put_value(out, v, z);
			} else if (c->kind == CK_STAR) {
				rc = sn_buf_appendc(out, '{');
				for (size_t k = 0; rc == 0 && k < NSTAR; k++) {
					rc = sn_buf_appendf(out, "%s\"%s\":", k ? "," : "",
							    star_fields[k]);
					rc = rc ? rc
					     : strcmp(star_fields[k], "properties") == 0
						 ? put_json_text(out, &v[k])
						 : put_value(out, &v[k], z);
				}
				const struct sn_insight_value *ch = &v[6]; /* elements_chain */
				if (rc == 0 && ch->type == SN_IV_STRING && ch->slen)
					rc = put_elements(x, out, ch->s, ch->slen);
				rc = rc ? rc : sn_buf_appendc(out, '}');
			} else if (c->kind == CK_DISPLAY) {
				rc = sn_buf_appends(out, "{\"display_name\":");
				rc = rc ? rc : put_value(out, &v[0], z);
				rc = rc ? rc : sn_buf_appends(out, ",\"id\":");
				rc = rc ? rc : put_value(out, &v[1], z);
				rc = rc ? rc : sn_buf_appends(out, ",\"distinct_id\":");
				rc = rc ? rc : put_value(out, &v[2], z);
				rc = rc ? rc : sn_buf_appendc(out, '}');
			} else {
				const struct sn_insight_value *p = find_person(pv, npv, v);
				rc = sn_buf_appendc(out, '{');
				if (rc == 0 && p) {
					rc = sn_buf_appends(out, "\"uuid\":");
					rc = rc ? rc : put_value(out, &p[0], NULL);
					rc = rc ? rc : sn_buf_appends(out, ",\"created_at\":");
					rc = rc ? rc : put_value(out, &p[2], NULL);
					rc = rc ? rc : sn_buf_appends(out, ",\"properties\":");
					rc = rc ? rc : put_json_text(out, &p[1]);
					rc = rc ? rc : sn_buf_appendc(out, ',');
				}
				rc = rc ? rc : sn_buf_appends(out, "\"distinct_id\":");
				rc = rc ? rc : put_value(out, v, z);
				rc = rc ? rc : sn_buf_appendc(out, '}');
			}
		}
		rc = rc ? rc : sn_buf_appendc(out, ']');
	}
	rc = rc ? rc
		: sn_buf_appendf(out, "],\"hasMore\":%s,\"limit\":%lld,\"offset\":%lld",
				 more ? "true" : "false", (long long)limit, (long long)offset);
	sn_buf_release(&e->sql);
	return rc;
}
