/*
 * clickhouse.c — a resolved HogQL statement printed as ClickHouse SQL
 * (spec §4–§7), for ClickHouse 18.16 (Debian's package, our test peer) and
 * for current ClickHouse (24.x).
 *
 * One walk over the resolved tree (resolve.c has put types and field
 * references on every node). Each SELECT is printed in three phases because
 * what its FROM clause needs is only known after its expressions:
 *
 *   1. scope     the FROM/JOIN chain becomes a list of sources
 *                (HogQL name → SQL alias, virtual table or subquery);
 *                subqueries and inlined CTEs in FROM are printed now, so
 *                the names their columns got are known;
 *   2. clauses   SELECT list, WHERE, GROUP BY, ... into buffers; every
 *                lazy field met (events.person.properties.x, person_id,
 *                pdi.*, group_N.*) marks what its events source needs;
 *   3. FROM      sources printed with their lazy joins expanded, then the
 *                team guards ANDed into WHERE, then the pieces assembled.
 *
 * Lazy joins on events never add JOINs to the user's SELECT: ClickHouse
 * 18.16 runs one JOIN per SELECT. The events source is replaced by a nested
 * subquery, one level per join, each level `SELECT l.*, j.x AS __x FROM
 * (previous level) AS l JOIN (guarded collapsed table) AS j ON ...`:
 *
 *   events AS e  ──▶  (SELECT l.*, ... __person_properties
 *                        FROM (SELECT l.*, if(notEmpty(j.distinct_id),
 *                                 j.person_id, l.person_id) AS __person_id
 *                              FROM events AS l LEFT JOIN (overrides) AS j
 *                              ON equals(l.distinct_id, j.distinct_id)
 *                              WHERE equals(l.team_id, 2)) AS l
 *                        LEFT JOIN (persons) AS j ON equals(l.__person_id, j.id))
 *                     AS e
 *
 * Persons, person_distinct_ids and groups are printed as subqueries that
 * collapse versions (argMax by version / _timestamp, deleted rows dropped),
 * each with its own team guard; every physical table reference gets
 * `equals(<alias>.team_id, <team>)` in the WHERE of the SELECT it is in.
 * Sessions have no table of their own: they are an aggregate of events per
 * $session_id computing only the fields the query reads (sessions_sub());
 * cohort_people collapses PostHog's cohortpeople by sign at each cohort's
 * latest version, and `IN COHORT` is an IN over those person ids. The
 * lazy fields of persons (pdi), person_distinct_ids and cohort_people
 * (person) wrap that source in one join level, like events.
 *
 * String constants become %(hogql_val_N)s placeholders with the values
 * collected (PostHog's driver protocol); sn_hogql_ch_inline() substitutes
 * them as escaped literals, skipping quoted text and identifiers, so a
 * placeholder-looking identifier cannot smuggle a value into the SQL.
 *
 * 18.16 specifics: an alias shadows a qualified column of the same name
 * (`toString(e.x) AS x ... WHERE e.x = 1` compares the alias), so on 18.16
 * an alias that equals a column name of the SELECT's sources is printed as
 * name__hq, and outer references follow (the names are recorded per select
 * item). Functions the old server lacks are rewritten or refused naming the
 * version (docs/HOGQL.md lists them).
 *
 * Rejected alternative: expanding lazy joins as extra LEFT JOINs of the
 * user's SELECT, as PostHog does. It reads better, but 18.16 refuses a
 * second JOIN, and one printing strategy for both versions is one to test.
 */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hogql/hogql.h"

typedef struct sn_hogql_node node_t;

#define MAX_SRC	    64
#define NAME_SUFFIX "__hq"

/* Lazy needs of an events source, one nested join level each. */
enum {
	L_OVR = 1 << 0,	       /* person_id with overrides applied */
	L_PERSON = 1 << 1,     /* persons joined on that person_id */
	L_PDI = 1 << 2,	       /* person_distinct_ids joined on distinct_id */
	L_PDI_PERSON = 1 << 3, /* persons joined on pdi.person_id */
	L_GROUP0 = 1 << 4,     /* groups of index N: L_GROUP0 << N */
	L_SESSION = 1 << 9,    /* sessions joined on $session_id */
};

struct psrc {
	const char *name; /* HogQL name: alias or table name ("" for a bare subquery) */
	const char *sql;  /* alias in the SQL text ("" = none) */
	const struct sn_hogql_table_def *t; /* virtual table, NULL for subqueries */
	const node_t *j;		    /* the JoinExpr */
	const node_t *sub;		    /* subquery or inlined CTE statement */
	unsigned lazy;
	uint64_t sess;	    /* sessions fields read (bit = index in the schema) */
	struct sn_buf text; /* printed subquery (phase 1) */
};

struct pscope {
	struct pscope *parent;
	const struct sn_hogql_select *sel;
	struct psrc src[MAX_SRC];
	size_t n;
};

struct outname {
	const node_t *item;
	const char *name;
	struct outname *next;
};

struct chp {
	struct sn_arena *a;
	const struct sn_hogql_ch_opts *o;
	bool v18;
	int64_t team;
	struct sn_hogql_ch_values *vals;
	struct sn_hogql_error *err;
	const char *src;
	size_t len;
	int rc;
	bool in_on; /* inside a JOIN ON constraint: plain comparisons (§4.3) */
	struct outname *names;
	size_t bufmax;
	int depth;
	const node_t *aliases[64]; /* aliases whose expression is being printed */
	size_t naliases;
	const char *used[256]; /* output names of the select list being printed */
	size_t nused;
	const node_t *ctes[64]; /* CTEs whose body is being printed */
	size_t nctes;
	char version[32];  /* "18.16", for error messages */
	bool uniq_wrapped; /* printing the uniq*() inside its 18.x ifNull(..., 0) */
};

/* ---- errors and output ------------------------------------------------------ */

static uint32_t cp(struct chp *p, uint32_t off)
{
	if (!p->src)
		return off;
	uint32_t n = 0;
	for (uint32_t i = 0; i < off && i < p->len; i++)
		if (((unsigned char)p->src[i] & 0xC0) != 0x80)
			n++;
	return n;
}

static void fail(struct chp *p, const node_t *at, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(struct chp *p, const node_t *at, const char *type, const char *fmt, ...)
{
	if (p->rc)
		return;
	p->rc = SN_ERR_INVALID;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
	va_end(ap);
	p->err->type = type;
	p->err->start = at && at->has_pos ? cp(p, at->start) : 0;
	p->err->end = at && at->has_pos ? cp(p, at->end) : 0;
}

#define NOTIMPL(p, at, ...) fail(p, at, "NotImplementedError", __VA_ARGS__)
#define QERR(p, at, ...)    fail(p, at, "QueryError", __VA_ARGS__)

static const char *vname(struct chp *p)
{
	return p->version;
}

static void out(struct chp *p, struct sn_buf *b, const char *s)
{
	if (!p->rc)
		p->rc = sn_buf_appends(b, s);
}

static void outn(struct chp *p, struct sn_buf *b, const char *s, size_t n)
{
	if (!p->rc && n)
		p->rc = sn_buf_append(b, s, n);
}

static void outf(struct chp *p, struct sn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void outf(struct chp *p, struct sn_buf *b, const char *fmt, ...)
{
	if (p->rc)
		return;
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		p->rc = SN_ERR_TOO_BIG;
		return;
	}
	p->rc = sn_buf_append(b, tmp, (size_t)n);
}

static void bufcat(struct chp *p, struct sn_buf *b, const struct sn_buf *s)
{
	if (s->len)
		outn(p, b, s->data, s->len);
}

static char *adup(struct chp *p, const char *s)
{
	char *r = sn_arena_strdup(p->a, s);
	if (!r && !p->rc)
		p->rc = SN_ERR_NOMEM;
	return r ? r : (char *)"";
}

static char *aprintf(struct chp *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *aprintf(struct chp *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *r = n >= 0 ? sn_arena_alloc(p->a, (size_t)n + 1) : NULL;
	if (!r) {
		if (!p->rc)
			p->rc = SN_ERR_NOMEM;
		return (char *)"";
	}
	va_start(ap, fmt);
	vsnprintf(r, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return r;
}

/* Words ClickHouse's parser may read as syntax; quoted even when plain. */
static bool risky_word(const char *s)
{
	static const char *const words[] = {
	    "all",    "and",	"any",	    "array",	"as",	  "asc",   "between",  "by",
	    "case",   "cross",	"desc",	    "distinct", "else",	  "end",   "final",    "format",
	    "from",   "full",	"global",   "group",	"having", "in",	   "index",    "inner",
	    "into",   "is",	"join",	    "key",	"left",	  "like",  "limit",    "not",
	    "null",   "offset", "on",	    "or",	"order",  "outer", "prewhere", "right",
	    "sample", "select", "settings", "then",	"totals", "union", "using",    "when",
	    "where",  "with",	"interval", "array",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

static void ident(struct chp *p, struct sn_buf *b, const char *s)
{
	bool plain = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_';
	for (const char *c = s; *c && plain; c++)
		plain = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			(*c >= '0' && *c <= '9') || *c == '_';
	if (plain && !risky_word(s)) {
		out(p, b, s);
		return;
	}
	outn(p, b, "`", 1);
	for (const char *c = s; *c; c++) {
		if (*c == '`' || *c == '\\')
			outn(p, b, "\\", 1);
		if ((unsigned char)*c < 0x20) {
			outf(p, b, "\\x%02x", (unsigned char)*c);
			continue;
		}
		outn(p, b, c, 1);
	}
	outn(p, b, "`", 1);
}

/* A string constant: a placeholder, the value collected (equal values share one). */
static void value(struct chp *p, struct sn_buf *b, const char *s)
{
	struct sn_hogql_ch_values *v = p->vals;
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->items[i], s) == 0) {
			outf(p, b, "%%(hogql_val_%zu)s", i);
			return;
		}
	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 16;
		const char **items = sn_arena_alloc(p->a, cap * sizeof(*items));
		if (!items) {
			p->rc = SN_ERR_NOMEM;
			return;
		}
		if (v->n)
			memcpy(items, v->items, v->n * sizeof(*items));
		v->items = items;
		v->cap = cap;
	}
	v->items[v->n] = adup(p, s);
	outf(p, b, "%%(hogql_val_%zu)s", v->n++);
}

static void tz(struct chp *p, struct sn_buf *b)
{
	value(p, b, p->o->timezone && p->o->timezone[0] ? p->o->timezone : "UTC");
}

static void guard(struct chp *p, struct sn_buf *b, const char *alias)
{
	out(p, b, "equals(");
	ident(p, b, alias);
	outf(p, b, ".team_id, %" PRId64 ")", p->team);
}

/* ---- forward declarations --------------------------------------------------- */

static bool is_sessions(const struct sn_hogql_table_def *t);
static const char *session_field_missing(struct chp *p, const char *name);
static uint64_t session_bit(const struct sn_hogql_table_def *t, const char *name);

static void ex(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n);
static void statement(struct chp *p, struct pscope *parent, struct sn_buf *b, const node_t *n);

static void exlist(struct chp *p, struct pscope *s, struct sn_buf *b, const struct sn_hogql_list *l)
{
	for (size_t i = 0; i < l->n && !p->rc; i++) {
		if (i)
			out(p, b, ", ");
		ex(p, s, b, l->items[i]);
	}
}

/* ---- the physical schema ---------------------------------------------------- */

static bool is_table(const struct sn_hogql_table_def *t, const char *name)
{
	return t && strcmp(t->name, name) == 0;
}

/* Collapsed (latest version, not deleted) distinct_id → person_id of a
 * person_distinct_id2-shaped table; columns distinct_id, person_id, team_id. */
static void pdi_sub(struct chp *p, struct sn_buf *b, const char *table)
{
	out(p, b, "SELECT distinct_id, __person_id AS person_id, team_id FROM (SELECT ");
	outf(p, b,
	     "%s.distinct_id AS distinct_id, argMax(%s.person_id, %s.version) AS __person_id, "
	     "%s.team_id AS team_id FROM %s WHERE ",
	     table, table, table, table, table);
	guard(p, b, table);
	outf(p, b,
	     " GROUP BY %s.team_id, %s.distinct_id HAVING equals(argMax(%s.is_deleted, "
	     "%s.version), 0))",
	     table, table, table, table);
}

/* Collapsed persons: id, created_at, team_id, properties, is_identified. */
static void persons_sub(struct chp *p, struct sn_buf *b)
{
	out(p, b,
	    "SELECT id, __created_at AS created_at, team_id, __properties AS properties, "
	    "__is_identified AS is_identified FROM (SELECT person.id AS id, "
	    "argMax(person.created_at, person.version) AS __created_at, person.team_id AS team_id, "
	    "argMax(person.properties, person.version) AS __properties, "
	    "argMax(person.is_identified, person.version) AS __is_identified FROM person WHERE ");
	guard(p, b, "person");
	out(p, b,
	    " GROUP BY person.team_id, person.id HAVING equals(argMax(person.is_deleted, "
	    "person.version), 0))");
}

/* Latest state of each group: index, key, created_at, updated_at,
 * properties, team_id; index < 0 = every group type. */
static void groups_sub(struct chp *p, struct sn_buf *b, int index)
{
	out(p, b,
	    "SELECT `index`, `key`, __created_at AS created_at, __updated_at AS updated_at, "
	    "__properties AS properties, team_id FROM (SELECT groups.group_type_index AS `index`, "
	    "groups.group_key AS `key`, argMax(groups.created_at, groups._timestamp) AS "
	    "__created_at, max(groups._timestamp) AS __updated_at, "
	    "argMax(groups.group_properties, groups._timestamp) AS __properties, groups.team_id AS "
	    "team_id FROM groups WHERE ");
	if (index >= 0)
		out(p, b, "and(");
	guard(p, b, "groups");
	if (index >= 0)
		outf(p, b, ", equals(groups.group_type_index, %d))", index);
	out(p, b, " GROUP BY groups.team_id, groups.group_type_index, groups.group_key)");
}

/* Physical column of a table printed as itself (raw_* tables). */
static const char *physical_col(const struct sn_hogql_table_def *t, const char *name)
{
	if (is_table(t, "raw_groups")) {
		if (strcmp(name, "index") == 0)
			return "group_type_index";
		if (strcmp(name, "key") == 0)
			return "group_key";
		if (strcmp(name, "properties") == 0)
			return "group_properties";
		if (strcmp(name, "updated_at") == 0)
			return "_timestamp";
	}
	return name;
}

/* Columns the events table has physically beyond the virtual fields; an
 * alias with one of these names would shadow it on 18.16. */
static bool events_physical_extra(const char *name)
{
	static const char *const cols[] = {
	    "person_id",	 "person_properties", "person_created_at", "group0_properties",
	    "group1_properties", "group2_properties", "group3_properties", "group4_properties",
	    "group0_created_at", "group1_created_at", "group2_created_at", "group3_created_at",
	    "group4_created_at", "inserted_at",	      "_timestamp",	   "_offset",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cols); i++)
		if (strcmp(cols[i], name) == 0)
			return true;
	return false;
}

/* ---- output names of select items --------------------------------------------- */

static const node_t *first_select(const node_t *q)
{
	while (q && q->kind == SN_HQ_SELECT_SET)
		q = q->a;
	return q && q->kind == SN_HQ_SELECT ? q : NULL;
}

static const char *hogql_name(const node_t *e)
{
	if (e->kind == SN_HQ_ALIAS)
		return e->name;
	if (e->kind == SN_HQ_FIELD && e->strs.n && strcmp(e->strs.items[e->strs.n - 1], "*") != 0)
		return e->strs.items[e->strs.n - 1];
	return NULL;
}

static void set_outname(struct chp *p, const node_t *item, const char *name)
{
	struct outname *o = sn_arena_alloc(p->a, sizeof(*o));
	if (!o) {
		p->rc = SN_ERR_NOMEM;
		return;
	}
	*o = (struct outname){item, name, p->names};
	p->names = o;
}

/* The SQL column name a subquery gives its HogQL column `name`. */
static const char *sub_outname(struct chp *p, const node_t *sub, const char *name)
{
	const node_t *q = first_select(sub);
	for (size_t i = 0; q && i < q->sel->select.n; i++) {
		const node_t *e = q->sel->select.items[i];
		const char *hn = hogql_name(e);
		if (!hn || strcmp(hn, name) != 0)
			continue;
		for (const struct outname *o = p->names; o; o = o->next)
			if (o->item == e)
				return o->name;
		return name;
	}
	return name;
}

/* True when an alias `name` in this SELECT would shadow a column of one of
 * its sources on 18.16. */
static bool shadows_column(struct chp *p, const struct pscope *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct psrc *src = &s->src[i];
		if (src->t) {
			if (sn_hogql_table_field(src->t, name))
				return true;
			if (is_table(src->t, "events") && events_physical_extra(name))
				return true;
			if (strcmp(physical_col(src->t, name), name) != 0)
				return true;
			if (is_table(src->t, "raw_groups") &&
			    (strcmp(name, "group_type_index") == 0 ||
			     strcmp(name, "group_key") == 0 ||
			     strcmp(name, "group_properties") == 0 ||
			     strcmp(name, "_timestamp") == 0))
				return true;
		} else if (src->sub) {
			const node_t *q = first_select(src->sub);
			for (size_t k = 0; q && k < q->sel->select.n; k++) {
				const char *hn = hogql_name(q->sel->select.items[k]);
				if (hn && strcmp(sub_outname(p, src->sub, hn), name) == 0)
					return true;
			}
		}
	}
	return false;
}

static const char *alias_sql(struct chp *p, const struct pscope *s, const char *name)
{
	if (p->v18 && shadows_column(p, s, name))
		return aprintf(p, "%s" NAME_SUFFIX, name);
	return name;
}

/* ---- fields ----------------------------------------------------------------- */

static struct psrc *find_src(struct pscope *s, const char *name)
{
	for (; s; s = s->parent)
		for (size_t i = 0; i < s->n; i++)
			if (strcmp(s->src[i].name, name) == 0)
				return &s->src[i];
	return NULL;
}

/* A path key below a JSON column. */
struct pkey {
	const char *s;
	int64_t i;
	bool is_int;
};

#define MAX_PATH 32

/* What a field chain points at: SQL for the column (without toTimeZone or
 * property access) plus the JSON path below it. */
struct target {
	struct sn_buf col;
	uint8_t type;
	struct pkey path[MAX_PATH];
	size_t npath;
};

static void path_add_str(struct chp *p, const node_t *at, struct target *t, const char *s)
{
	if (t->npath >= MAX_PATH) {
		NOTIMPL(p, at, "Property paths deeper than %d are not supported", MAX_PATH);
		return;
	}
	t->path[t->npath++] = (struct pkey){.s = s};
}

/* Maps chain[i..n) on an events source to a column of the (wrapped) events
 * source; returns the column name or NULL on error. */
static const char *events_col(struct chp *p, const node_t *f, struct psrc *src, size_t i,
			      uint8_t *type, size_t *path_at)
{
	const char *const *ch = f->strs.items;
	size_t n = f->strs.n;
	const char *nm = ch[i];
	*path_at = n;
	if (strcmp(nm, "person_id") == 0) {
		src->lazy |= L_OVR;
		*type = SN_HQT_UUID;
		return "__person_id";
	}
	if (strcmp(nm, "person") == 0 || strcmp(nm, "pdi") == 0 || strncmp(nm, "group_", 6) == 0 ||
	    strcmp(nm, "poe") == 0 || strncmp(nm, "goe_", 4) == 0 || strcmp(nm, "session") == 0) {
		if (i + 1 >= n) {
			QERR(p, f, "Can not select the whole table `%s`; select one of its fields",
			     nm);
			return NULL;
		}
		const char *sub = ch[i + 1];
		if (strcmp(sub, "team_id") == 0) {
			*type = SN_HQT_INT;
			return "team_id";
		}
		if (strcmp(nm, "session") == 0) {
			const struct sn_hogql_table_def *st = sn_hogql_table_find("sessions");
			const struct sn_hogql_field_def *sf = sn_hogql_table_field(st, sub);
			const char *why = sf ? session_field_missing(p, sub) : NULL;
			if (why) {
				NOTIMPL(p, f, "%s", why);
				return NULL;
			}
			if (sf && i + 2 == n) {
				src->lazy |= L_SESSION;
				src->sess |= session_bit(st, sub);
				*type = sf->type;
				return aprintf(p, "__session_%s", sub);
			}
		} else if (strcmp(nm, "poe") == 0 || strncmp(nm, "goe_", 4) == 0) {
			bool poe = nm[0] == 'p';
			int k = poe ? 0 : nm[4] - '0';
			if (strcmp(sub, "properties") == 0) {
				*type = SN_HQT_JSON;
				*path_at = i + 2;
				return poe ? "person_properties"
					   : aprintf(p, "group%d_properties", k);
			}
			if (strcmp(sub, "created_at") == 0) {
				*type = SN_HQT_DATETIME;
				return poe ? "person_created_at"
					   : aprintf(p, "group%d_created_at", k);
			}
			if (poe && strcmp(sub, "id") == 0) {
				*type = SN_HQT_UUID;
				return "person_id";
			}
			if (!poe && strcmp(sub, "key") == 0) {
				*type = SN_HQT_STRING;
				return aprintf(p, "$group_%d", k);
			}
		} else if (strncmp(nm, "group_", 6) == 0) {
			int k = nm[6] - '0';
			src->lazy |= L_GROUP0 << k;
			static const struct {
				const char *f;
				uint8_t t;
			} gf[] = {{"index", SN_HQT_INT},
				  {"key", SN_HQT_STRING},
				  {"created_at", SN_HQT_DATETIME},
				  {"updated_at", SN_HQT_DATETIME},
				  {"properties", SN_HQT_JSON}};
			for (size_t g = 0; g < SN_ARRAY_LEN(gf); g++)
				if (strcmp(sub, gf[g].f) == 0) {
					*type = gf[g].t;
					if (gf[g].t == SN_HQT_JSON)
						*path_at = i + 2;
					return aprintf(p, "__group_%d_%s", k, sub);
				}
		} else {
			/* person.* (override person id), pdi.*, pdi.person.* */
			const char *prefix = "__person_";
			unsigned need = L_OVR | L_PERSON;
			size_t at = i + 1;
			if (nm[1] == 'd') { /* pdi */
				if (strcmp(sub, "distinct_id") == 0 ||
				    strcmp(sub, "person_id") == 0) {
					src->lazy |= L_PDI;
					*type = sub[0] == 'd' ? SN_HQT_STRING : SN_HQT_UUID;
					return sub[0] == 'd' ? "__pdi_distinct_id"
							     : "__pdi_person_id";
				}
				if (strcmp(sub, "person") != 0 || i + 2 >= n)
					goto unknown;
				prefix = "__pdi_person_";
				need = L_PDI | L_PDI_PERSON;
				at = i + 2;
				sub = ch[at];
			}
			if (strcmp(sub, "id") == 0) {
				src->lazy |= need & (L_OVR | L_PDI);
				*type = SN_HQT_UUID;
				return need & L_PDI ? "__pdi_person_id" : "__person_id";
			}
			if (strcmp(sub, "created_at") == 0 || strcmp(sub, "properties") == 0 ||
			    strcmp(sub, "is_identified") == 0) {
				src->lazy |= need;
				*type = sub[0] == 'c'	? SN_HQT_DATETIME
					: sub[0] == 'p' ? SN_HQT_JSON
							: SN_HQT_BOOL;
				if (*type == SN_HQT_JSON)
					*path_at = at + 1;
				return aprintf(p, "%s%s", prefix, sub);
			}
			if (strcmp(sub, "pdi") == 0) {
				NOTIMPL(p, f,
					"events.person.pdi is not supported by the ClickHouse "
					"printer; use events.pdi");
				return NULL;
			}
		}
	unknown:
		QERR(p, f, "Unable to resolve field: %s", sub);
		return NULL;
	}
	const struct sn_hogql_field_def *fd = sn_hogql_table_field(src->t, nm);
	if (!fd) {
		QERR(p, f, "Unable to resolve field: %s", nm);
		return NULL;
	}
	*type = fd->type;
	if (fd->kind == SN_HQFK_JSON)
		*path_at = i + 1;
	return fd->name;
}

/* persons.pdi.*, person_distinct_ids.person.*, cohort_people.person.*:
 * the source is printed wrapped in one join level (print_source) whose
 * columns __pdi_* / __person_* these read. */
static const char *other_lazy(struct chp *p, const node_t *f, struct psrc *src,
			      const struct sn_hogql_field_def *fd, size_t i, uint8_t *type,
			      size_t *path_at)
{
	const char *const *ch = f->strs.items;
	size_t n = f->strs.n;
	if (i + 1 >= n) {
		QERR(p, f, "Can not select the whole table `%s`; select one of its fields",
		     fd->name);
		return NULL;
	}
	const char *sub = ch[i + 1];
	if (is_table(src->t, "persons") && strcmp(fd->name, "pdi") == 0) {
		if (i + 2 == n &&
		    (strcmp(sub, "distinct_id") == 0 || strcmp(sub, "person_id") == 0)) {
			src->lazy |= L_PDI;
			*type = sub[0] == 'd' ? SN_HQT_STRING : SN_HQT_UUID;
			return sub[0] == 'd' ? "__pdi_distinct_id" : "__pdi_person_id";
		}
		if (strcmp(sub, "team_id") == 0 && i + 2 == n) {
			*type = SN_HQT_INT;
			return "team_id";
		}
		if (strcmp(sub, "person") == 0) {
			NOTIMPL(p, f, "persons.pdi.person is not supported; use persons directly");
			return NULL;
		}
	} else if ((is_table(src->t, "person_distinct_ids") || is_table(src->t, "cohort_people")) &&
		   strcmp(fd->name, "person") == 0) {
		if (strcmp(sub, "id") == 0 && i + 2 == n) {
			*type = SN_HQT_UUID;
			return "person_id";
		}
		if (strcmp(sub, "team_id") == 0 && i + 2 == n) {
			*type = SN_HQT_INT;
			return "team_id";
		}
		if (strcmp(sub, "created_at") == 0 || strcmp(sub, "properties") == 0 ||
		    strcmp(sub, "is_identified") == 0) {
			src->lazy |= L_PERSON;
			*type = sub[0] == 'c'	? SN_HQT_DATETIME
				: sub[0] == 'p' ? SN_HQT_JSON
						: SN_HQT_BOOL;
			if (*type == SN_HQT_JSON)
				*path_at = i + 2;
			else if (i + 2 != n)
				goto unknown;
			return aprintf(p, "__person_%s", sub);
		}
		if (strcmp(sub, "pdi") == 0) {
			NOTIMPL(p, f, "%s.person.pdi is not supported", src->t->name);
			return NULL;
		}
	} else {
		NOTIMPL(p, f, "%s.%s is not supported by the ClickHouse printer yet", src->t->name,
			fd->name);
		return NULL;
	}
unknown:
	QERR(p, f, "Unable to resolve field: %s", sub);
	return NULL;
}

/* Fills t for a Field of kind COLUMN/PROPERTY/LAZY/SUBQUERY_COL. */
static void field_target(struct chp *p, struct pscope *s, const node_t *f, struct target *t)
{
	const char *const *ch = f->strs.items;
	size_t n = f->strs.n;
	struct psrc *src = f->ref_source ? find_src(s, f->ref_source) : NULL;
	if (!src) {
		QERR(p, f, "Unable to resolve field: %s", n ? ch[0] : "?");
		return;
	}
	size_t i = (n > 1 && strcmp(ch[0], src->name) == 0) ? 1 : 0;
	const char *col = NULL;
	size_t path_at = n;
	t->type = f->rtype.type;
	if (src->t == NULL) {
		col = sub_outname(p, src->sub, ch[i]);
		path_at = i + 1;
		/* the subquery already converted its DateTime columns */
		t->type = path_at < n ? SN_HQT_JSON : SN_HQT_UNKNOWN;
	} else if (is_table(src->t, "events")) {
		col = events_col(p, f, src, i, &t->type, &path_at);
	} else {
		const struct sn_hogql_field_def *fd = sn_hogql_table_field(src->t, ch[i]);
		if (!fd) {
			QERR(p, f, "Unable to resolve field: %s", ch[i]);
			return;
		}
		if (fd->kind == SN_HQFK_LAZY_JOIN || fd->kind == SN_HQFK_TRAVERSER ||
		    fd->kind == SN_HQFK_VIRTUAL) {
			col = other_lazy(p, f, src, fd, i, &t->type, &path_at);
		} else if (is_sessions(src->t)) {
			const char *why = session_field_missing(p, fd->name);
			if (why) {
				NOTIMPL(p, f, "%s", why);
				return;
			}
			src->sess |= session_bit(src->t, fd->name);
			col = fd->name;
			t->type = fd->type;
		} else {
			col = physical_col(src->t, fd->name);
			t->type = fd->type;
			if (fd->kind == SN_HQFK_JSON)
				path_at = i + 1;
		}
	}
	if (!col || p->rc)
		return;
	if (src->sql[0]) {
		ident(p, &t->col, src->sql);
		out(p, &t->col, ".");
	}
	ident(p, &t->col, col);
	for (size_t k = path_at; k < n && !p->rc; k++)
		path_add_str(p, f, t, ch[k]);
}

/* replaceRegexpAll(nullIf(nullIf(<raw>, ''), 'null'), '^"|"$', '') (§4.2). */
static void print_property(struct chp *p, const node_t *at, struct sn_buf *b, struct target *t)
{
	out(p, b, "replaceRegexpAll(nullIf(nullIf(");
	if (p->v18) {
		for (size_t k = 0; k < t->npath; k++) {
			if (t->path[k].is_int) {
				NOTIMPL(
				    p, at,
				    "Array indexes in property paths need JSONExtractRaw, which "
				    "ClickHouse %s does not have",
				    vname(p));
				return;
			}
			out(p, b, "visitParamExtractRaw(");
		}
		bufcat(p, b, &t->col);
		for (size_t k = 0; k < t->npath; k++) {
			out(p, b, ", ");
			value(p, b, t->path[k].s);
			out(p, b, ")");
		}
	} else {
		out(p, b, "JSONExtractRaw(");
		bufcat(p, b, &t->col);
		for (size_t k = 0; k < t->npath; k++) {
			out(p, b, ", ");
			if (t->path[k].is_int)
				outf(p, b, "%" PRId64, t->path[k].i);
			else
				value(p, b, t->path[k].s);
		}
		out(p, b, ")");
	}
	out(p, b, ", ");
	value(p, b, "");
	out(p, b, "), ");
	value(p, b, "null");
	out(p, b, "), ");
	value(p, b, "^\"|\"$");
	out(p, b, ", ");
	value(p, b, "");
	out(p, b, ")");
}

static void print_target(struct chp *p, const node_t *at, struct sn_buf *b, struct target *t)
{
	if (t->npath) {
		print_property(p, at, b, t);
	} else if (t->type == SN_HQT_DATETIME) {
		out(p, b, "toTimeZone(");
		bufcat(p, b, &t->col);
		out(p, b, ", ");
		tz(p, b);
		out(p, b, ")");
	} else {
		bufcat(p, b, &t->col);
	}
}

static const node_t *find_select_alias(const struct pscope *s, const char *name,
				       const struct pscope **in)
{
	for (; s; s = s->parent)
		for (size_t i = 0; s->sel && i < s->sel->select.n; i++) {
			const node_t *e = s->sel->select.items[i];
			if (e->kind == SN_HQ_ALIAS && strcmp(e->name, name) == 0) {
				*in = s;
				return e;
			}
		}
	return NULL;
}

static const node_t *find_cte(const struct pscope *s, const char *name, const char *type)
{
	for (; s; s = s->parent)
		for (size_t i = 0; s->sel && s->sel->has_ctes && i < s->sel->ctes.n; i++) {
			const node_t *c = s->sel->ctes.items[i];
			if (strcmp(c->name, name) == 0 && strcmp(c->op, type) == 0)
				return c;
		}
	return NULL;
}

/* A name that the resolver bound to a select alias, printed as the column of
 * the same name of one of this SELECT's sources. */
static void column_fallback(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *f)
{
	for (size_t i = 0; i < s->n; i++) {
		struct psrc *src = &s->src[i];
		bool has = src->t ? sn_hogql_table_field(src->t, f->strs.items[0]) != NULL
				  : first_select(src->sub) != NULL;
		if (!has)
			continue;
		node_t probe = *f;
		probe.ref_kind = src->t ? SN_HQR_COLUMN : SN_HQR_SUBQUERY_COL;
		probe.ref_source = src->name;
		struct target t = {0};
		sn_buf_init(&t.col, p->bufmax);
		field_target(p, s, &probe, &t);
		if (!p->rc)
			print_target(p, f, b, &t);
		sn_buf_release(&t.col);
		return;
	}
	QERR(p, f, "Alias %s refers to itself", f->strs.items[0]);
}

static void field(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *f)
{
	const char *const *ch = f->strs.items;
	size_t n = f->strs.n;
	switch (f->ref_kind) {
	case SN_HQR_LAMBDA_ARG:
		ident(p, b, ch[0]);
		if (n > 1)
			NOTIMPL(p, f, "Field access on a lambda argument is not supported");
		return;
	case SN_HQR_ALIAS: {
		const struct pscope *in = NULL;
		const node_t *al = find_select_alias(s, ch[0], &in);
		const node_t *cte = al ? NULL : find_cte(s, ch[0], "column");
		bool self = false;
		for (size_t i = 0; al && i < p->naliases; i++)
			self |= p->aliases[i] == al;
		if (self) {
			/* `event AS event`: inside its own definition the name is the column. */
			column_fallback(p, s, b, f);
			return;
		}
		if (cte) {
			/* WITH expr AS name: inlined where used. */
			out(p, b, "(");
			ex(p, s, b, cte->a);
			out(p, b, ")");
		} else {
			const char *nm = ch[0];
			for (const struct outname *o = p->names; al && o; o = o->next)
				if (o->item == al)
					nm = o->name;
			ident(p, b, nm);
		}
		if (n > 1)
			NOTIMPL(p, f, "Property access on an alias is not supported: %s", ch[0]);
		return;
	}
	case SN_HQR_ASTERISK: out(p, b, "*"); return;
	case SN_HQR_SUBQUERY_COL:
	case SN_HQR_COLUMN:
	case SN_HQR_PROPERTY:
	case SN_HQR_LAZY: {
		struct target t = {0};
		sn_buf_init(&t.col, p->bufmax);
		field_target(p, s, f, &t);
		if (!p->rc)
			print_target(p, f, b, &t);
		sn_buf_release(&t.col);
		return;
	}
	default: QERR(p, f, "Unable to resolve field: %s", n ? ch[0] : "?"); return;
	}
}

/* properties['a'][1], person.properties.a['b']: one JSON path. */
static void access_path(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n)
{
	const node_t *chainv[MAX_PATH];
	size_t k = 0;
	const node_t *base = n;
	while ((base->kind == SN_HQ_ARRAY_ACCESS || base->kind == SN_HQ_TUPLE_ACCESS) &&
	       k < MAX_PATH) {
		chainv[k++] = base;
		base = base->a;
	}
	struct target t = {0};
	sn_buf_init(&t.col, p->bufmax);
	if (base->kind == SN_HQ_FIELD && base->ref_kind != SN_HQR_ALIAS &&
	    base->ref_kind != SN_HQR_LAMBDA_ARG)
		field_target(p, s, base, &t);
	else
		ex(p, s, &t.col, base);
	while (k-- > 0 && !p->rc) {
		const node_t *acc = chainv[k];
		if (t.npath >= MAX_PATH) {
			NOTIMPL(p, acc, "Property paths deeper than %d are not supported",
				MAX_PATH);
			break;
		}
		if (acc->kind == SN_HQ_TUPLE_ACCESS) {
			t.path[t.npath++] = (struct pkey){.i = acc->ival, .is_int = true};
			continue;
		}
		const node_t *key = acc->b;
		if (key->kind == SN_HQ_CONSTANT && key->ctype == SN_HQC_STRING)
			t.path[t.npath++] = (struct pkey){.s = key->sval};
		else if (key->kind == SN_HQ_CONSTANT && key->ctype == SN_HQC_INT)
			t.path[t.npath++] = (struct pkey){.i = key->ival, .is_int = true};
		else
			NOTIMPL(p, key, "Property keys must be constant strings or integers");
	}
	if (!p->rc)
		print_property(p, n, b, &t);
	sn_buf_release(&t.col);
}

/* ---- comparisons (§4.3) ----------------------------------------------------- */

static bool is_const(const node_t *n)
{
	return n && n->kind == SN_HQ_CONSTANT;
}

static bool is_null_const(const node_t *n)
{
	return is_const(n) && n->ctype == SN_HQC_NULL;
}

/* Calls whose result is not NULL for NULL arguments. (concat() is not one:
 * printed as it is, ClickHouse's concat(NULL, 'a') is NULL.) */
static bool null_absorbing_call(const char *name)
{
	static const char *const absorb[] = {
	    "isNull",	  "isNotNull",	   "ifNull",	 "coalesce",  "count",
	    "countIf",	  "uniq",	   "uniqIf",	 "uniqExact", "uniqExactIf",
	    "toTypeName", "assumeNotNull", "isNullable",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(absorb); i++)
		if (strcasecmp(name, absorb[i]) == 0)
			return true;
	return false;
}

static bool nullable(const node_t *n)
{
	if (!n)
		return false;
	if (n->kind == SN_HQ_CONSTANT)
		return n->ctype == SN_HQC_NULL;
	if (n->kind == SN_HQ_SELECT || n->kind == SN_HQ_SELECT_SET)
		return true;
	if (!n->rtype.resolved)
		return true;
	if (n->rtype.nullable || n->rtype.type == SN_HQT_NULL)
		return true;
	/* A call is Nullable when an argument is (ClickHouse's default, and how
	 * PostHog's resolver types calls), whatever result type the resolver
	 * gave it: toString(person.properties.email) is NULL for a person
	 * without an email, so `NOT ILIKE` on it needs its ifNull(..., 1).
	 * Calling a non-NULL value nullable only costs an ifNull() (on 18.16
	 * also the NULL-aware rewrite of IN). */
	if (n->kind == SN_HQ_CALL && n->name && !null_absorbing_call(n->name))
		for (size_t i = 0; i < n->list.n; i++)
			if (nullable(n->list.items[i]))
				return true;
	if (n->kind == SN_HQ_ALIAS)
		return nullable(n->a);
	return false;
}

static bool numeric_const(const node_t *n, double *v)
{
	if (!is_const(n))
		return false;
	switch (n->ctype) {
	case SN_HQC_INT: *v = (double)n->ival; return true;
	case SN_HQC_FLOAT: *v = n->fval; return true;
	case SN_HQC_BOOL: *v = n->bval ? 1 : 0; return true;
	default: return false;
	}
}

/* Both sides constants: 1 / 0, or -1 when left to ClickHouse. */
static int fold(const char *op, const node_t *l, const node_t *r)
{
	bool eq = strcmp(op, "==") == 0 || strcmp(op, "like") == 0 || strcmp(op, "ilike") == 0;
	bool ne =
	    strcmp(op, "!=") == 0 || strcmp(op, "not like") == 0 || strcmp(op, "not ilike") == 0;
	if (is_null_const(l) || is_null_const(r)) {
		bool both = is_null_const(l) && is_null_const(r);
		if (eq)
			return both;
		if (ne)
			return !both;
		if (strcmp(op, "not in") == 0)
			return 1;
		return 0;
	}
	int c;
	double a, bv;
	if (numeric_const(l, &a) && numeric_const(r, &bv))
		c = a < bv ? -1 : a > bv;
	else if (l->ctype == SN_HQC_STRING && r->ctype == SN_HQC_STRING)
		c = strcmp(l->sval, r->sval);
	else
		return -1;
	if (strcmp(op, "==") == 0)
		return c == 0;
	if (strcmp(op, "!=") == 0)
		return c != 0;
	if (strcmp(op, "<") == 0)
		return c < 0;
	if (strcmp(op, "<=") == 0)
		return c <= 0;
	if (strcmp(op, ">") == 0)
		return c > 0;
	if (strcmp(op, ">=") == 0)
		return c >= 0;
	return -1;
}

static bool is_datetime_expr(const node_t *n)
{
	return n && n->rtype.type == SN_HQT_DATETIME;
}

/* An operand of a comparison. On 18.16 a string compared with a
 * time-zoned DateTime is read in the server's zone, not the column's, so it
 * is parsed in the project zone explicitly. */
static void operand(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n,
		    const node_t *other)
{
	if (p->v18 && is_const(n) && n->ctype == SN_HQC_STRING && is_datetime_expr(other)) {
		out(p, b, "parseDateTimeBestEffort(");
		value(p, b, n->sval);
		out(p, b, ", ");
		tz(p, b);
		out(p, b, ")");
		return;
	}
	/* 18.16 compares a DateTime with a Date wrongly: cast the Date side. */
	if (p->v18 && n->rtype.type == SN_HQT_DATE && is_datetime_expr(other)) {
		out(p, b, "toDateTime(");
		ex(p, s, b, n);
		out(p, b, ", ");
		tz(p, b);
		out(p, b, ")");
		return;
	}
	ex(p, s, b, n);
}

/* ---- sessions and cohorts ------------------------------------------------------ */

/*
 * sessions: we have no pre-aggregated raw_sessions table, so a session is
 * derived from the events that carry its $session_id, one aggregate row per
 * (team, $session_id), computing only the fields the query reads:
 *
 *   SELECT session_id, team_id, __s4 AS `$start_timestamp`, ...
 *   FROM (SELECT events.`$session_id` AS session_id, events.team_id AS team_id,
 *                min(events.timestamp) AS __s4, ...
 *         FROM events WHERE and(<guard>, notEmpty(events.`$session_id`))
 *         GROUP BY events.team_id, events.`$session_id`)
 *
 * The inner aliases are __sN because on 18.16 an alias shadows the column
 * of the same name (argMin(events.distinct_id, ...) AS distinct_id would
 * read itself). URLs are the events' $current_url; entry/exit URL fields
 * are the first/last event that has one; attribution fields (referring
 * domain, utm_*, ad ids) are the value on the session's first event.
 * Empty strings read NULL.
 */

static bool is_sessions(const struct sn_hogql_table_def *t)
{
	return is_table(t, "sessions") || is_table(t, "raw_sessions");
}

/* NULL when this printer can derive the sessions field, else why not. */
static const char *session_field_missing(struct chp *p, const char *name)
{
	if (strcmp(name, "$event_count_map") == 0 && p->v18)
		return "sessions.$event_count_map is a Map, which ClickHouse 18.16 does not have";
	return NULL;
}

static uint64_t session_bit(const struct sn_hogql_table_def *t, const char *name)
{
	const struct sn_hogql_field_def *fd = sn_hogql_table_field(t, name);
	return fd ? (uint64_t)1 << (fd - t->fields) : 0;
}

/* The event property `key` as Nullable(String), §4.2. */
static void event_prop(struct chp *p, struct sn_buf *b, const char *key)
{
	struct target t = {.npath = 1};
	sn_buf_init(&t.col, p->bufmax);
	out(p, &t.col, "events.properties");
	t.path[0] = (struct pkey){.s = key};
	print_property(p, NULL, b, &t);
	sn_buf_release(&t.col);
}

static void event_is(struct chp *p, struct sn_buf *b, const char *event)
{
	out(p, b, "countIf(equals(events.event, ");
	value(p, b, event);
	out(p, b, "))");
}

static void session_duration(struct chp *p, struct sn_buf *b)
{
	out(p, b,
	    "minus(toUnixTimestamp(max(events.timestamp)), "
	    "toUnixTimestamp(min(events.timestamp)))");
}

/* The aggregate of one sessions field over the session's events. */
static void session_agg(struct chp *p, struct sn_buf *b, const char *name)
{
	static const char *const urlfn[][2] = {
	    {"$entry_current_url", "argMin"}, {"$exit_current_url", "argMax"},
	    {"$end_current_url", "argMax"},   {"$entry_pathname", "argMin"},
	    {"$exit_pathname", "argMax"},     {"$end_pathname", "argMax"},
	    {"$entry_hostname", "argMin"},    {"$exit_hostname", "argMax"},
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(urlfn); i++) {
		if (strcmp(name, urlfn[i][0]) != 0)
			continue;
		const char *wrap = strstr(name, "pathname")   ? "path"
				   : strstr(name, "hostname") ? "domain"
							      : NULL;
		/* 'null' reads as NULL, as PostHog's nullIf(argMinMerge(…), 'null') */
		if (wrap)
			outf(p, b, "nullIf(%s(", wrap);
		outf(p, b, "nullIf(%s(", urlfn[i][1]);
		event_prop(p, b, "$current_url");
		out(p, b, ", events.timestamp), ");
		value(p, b, "null");
		out(p, b, ")");
		if (wrap) {
			out(p, b, "), ");
			value(p, b, "");
			out(p, b, ")");
		}
		return;
	}
	if (strcmp(name, "distinct_id") == 0) {
		/* the last event's, as PostHog's raw_sessions argMax state */
		out(p, b, "argMax(events.distinct_id, events.timestamp)");
	} else if (strcmp(name, "$start_timestamp") == 0) {
		out(p, b, "min(events.timestamp)");
	} else if (strcmp(name, "$end_timestamp") == 0) {
		out(p, b, "max(events.timestamp)");
	} else if (strcmp(name, "$urls") == 0) {
		out(p, b, "arraySort(groupUniqArray(");
		event_prop(p, b, "$current_url");
		out(p, b, "))");
	} else if (strcmp(name, "$num_uniq_urls") == 0) {
		out(p, b, "ifNull(uniqExact(");
		event_prop(p, b, "$current_url");
		out(p, b, "), 0)"); /* 18.16: NULL when the session has no URL */
	} else if (strncmp(name, "$entry_", 7) == 0) {
		/* referring domain, utm_*, ad ids: the first event's value, '' and
		 * 'null' read as NULL */
		out(p, b, "nullIf(nullIf(argMin(ifNull(");
		event_prop(p, b,
			   strcmp(name, "$entry_referring_domain") == 0 ? "$referring_domain"
									: name + 7);
		out(p, b, ", ");
		value(p, b, "");
		out(p, b, "), events.timestamp), ");
		value(p, b, "null");
		out(p, b, "), ");
		value(p, b, "");
		out(p, b, ")");
	} else if (strcmp(name, "$event_count_map") == 0) {
		out(p, b, "sumMap(map(events.event, toUInt64(1)))");
	} else if (strcmp(name, "$pageview_count") == 0) {
		event_is(p, b, "$pageview");
	} else if (strcmp(name, "$autocapture_count") == 0) {
		event_is(p, b, "$autocapture");
	} else if (strcmp(name, "$screen_count") == 0) {
		event_is(p, b, "$screen");
	} else if (strcmp(name, "$session_duration") == 0 || strcmp(name, "duration") == 0) {
		session_duration(p, b);
	} else if (strcmp(name, "$is_bounce") == 0) {
		/* NULL without pageviews; else not(pageviews > 1 or autocaptures > 0
		 * or duration >= 10 s) (§5.5) */
		out(p, b, "if(equals(");
		event_is(p, b, "$pageview");
		out(p, b, ", 0), NULL, not(or(greater(");
		event_is(p, b, "$pageview");
		out(p, b, ", 1), greater(");
		event_is(p, b, "$autocapture");
		out(p, b, ", 0), greaterOrEquals(");
		session_duration(p, b);
		out(p, b, ", 10))))");
	} else {
		QERR(p, NULL, "Unable to resolve field: %s", name);
	}
}

static void sessions_sub(struct chp *p, struct sn_buf *b, uint64_t need)
{
	const struct sn_hogql_table_def *t = sn_hogql_table_find("sessions");
	struct sn_buf inner;
	sn_buf_init(&inner, p->bufmax);
	out(p, b, "SELECT session_id, team_id");
	for (size_t k = 0; k < t->nfields && !p->rc; k++) {
		const char *nm = t->fields[k].name;
		if (!(need & ((uint64_t)1 << k)) || strcmp(nm, "session_id") == 0 ||
		    strcmp(nm, "team_id") == 0)
			continue;
		if (strcmp(nm, "id") == 0) {
			out(p, b, ", session_id AS id");
			continue;
		}
		outf(p, b, ", __s%zu AS ", k);
		ident(p, b, nm);
		outf(p, &inner, ", ");
		session_agg(p, &inner, nm);
		outf(p, &inner, " AS __s%zu", k);
	}
	out(p, b, " FROM (SELECT events.`$session_id` AS session_id, events.team_id AS team_id");
	bufcat(p, b, &inner);
	out(p, b, " FROM events WHERE and(");
	guard(p, b, "events");
	out(p, b,
	    ", notEmpty(events.`$session_id`)) GROUP BY events.team_id, events.`$session_id`)");
	sn_buf_release(&inner);
}

/*
 * cohort_people: PostHog's cohortpeople (CollapsingMergeTree by sign, one
 * version per recalculation) collapsed to the rows of each cohort's latest
 * version whose signs sum above 0. cohort < 0: every cohort; person_only:
 * just person_id (the right side of IN COHORT).
 */
static void cohort_sub(struct chp *p, struct sn_buf *b, int64_t cohort, bool person_only)
{
	out(p, b, "SELECT cohortpeople.person_id AS person_id");
	if (!person_only)
		out(p, b, ", cohortpeople.cohort_id AS cohort_id, cohortpeople.team_id AS team_id");
	out(p, b, " FROM cohortpeople WHERE and(");
	guard(p, b, "cohortpeople");
	if (cohort >= 0)
		outf(p, b, ", equals(cohortpeople.cohort_id, %" PRId64 ")", cohort);
	out(p, b,
	    ", in(tuple(cohortpeople.cohort_id, cohortpeople.version), (SELECT "
	    "cohortpeople.cohort_id, max(cohortpeople.version) FROM cohortpeople WHERE ");
	guard(p, b, "cohortpeople");
	out(p, b,
	    " GROUP BY cohortpeople.cohort_id))) GROUP BY cohortpeople.team_id, "
	    "cohortpeople.cohort_id, cohortpeople.person_id HAVING "
	    "greater(sum(cohortpeople.sign), 0)");
}

/* Members of a static cohort: person_static_cohort rows of the team. */
static void static_cohort_sub(struct chp *p, struct sn_buf *b, int64_t cohort)
{
	out(p, b,
	    "SELECT person_static_cohort.person_id AS person_id FROM person_static_cohort WHERE "
	    "and(");
	guard(p, b, "person_static_cohort");
	outf(p, b, ", equals(person_static_cohort.cohort_id, %" PRId64 "))", cohort);
}

/* `x [NOT] IN COHORT id|'name'` (§4.9): membership of x among the cohort's
 * person ids. Which table holds them is metadata (opts->cohorts); without
 * it both are read. */
static void in_cohort(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n)
{
	const node_t *c = n->b;
	bool neg = n->op[0] == 'n';
	const struct sn_hogql_cohort *meta = NULL;
	int64_t id = -1;
	if (is_const(c) && c->ctype == SN_HQC_INT && c->ival >= 0) {
		id = c->ival;
		for (size_t i = 0; i < p->o->ncohorts; i++)
			if (p->o->cohorts[i].id == id)
				meta = &p->o->cohorts[i];
		if (!meta && p->o->ncohorts) {
			QERR(p, c, "Could not find cohort with ID %" PRId64, id);
			return;
		}
	} else if (is_const(c) && c->ctype == SN_HQC_STRING) {
		for (size_t i = 0; i < p->o->ncohorts && !meta; i++)
			if (p->o->cohorts[i].name && strcmp(p->o->cohorts[i].name, c->sval) == 0)
				meta = &p->o->cohorts[i];
		if (!meta) {
			QERR(p, c, "Could not find a cohort with the name '%s'", c->sval);
			return;
		}
		id = meta->id;
	} else {
		QERR(p, c ? c : n, "IN COHORT needs a cohort id or a cohort name");
		return;
	}
	bool wrap = nullable(n->a) && !p->in_on;
	if (wrap)
		out(p, b, "ifNull(");
	out(p, b, neg ? "notIn(" : "in(");
	ex(p, s, b, n->a);
	out(p, b, ", (");
	if (!meta || !meta->is_static)
		cohort_sub(p, b, id, true);
	if (!meta)
		out(p, b, " UNION ALL ");
	if (!meta || meta->is_static)
		static_cohort_sub(p, b, id);
	out(p, b, "))");
	if (wrap)
		out(p, b, neg ? ", 1)" : ", 0)");
}

/* The bare comparison call op(l, r). */
static void cmp_call(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *at,
		     const char *op, const node_t *l, const node_t *r)
{
	static const struct {
		const char *op, *fn;
	} fns[] = {
	    {"==", "equals"}, {"!=", "notEquals"},	 {"<", "less"},	   {"<=", "lessOrEquals"},
	    {">", "greater"}, {">=", "greaterOrEquals"}, {"like", "like"}, {"not like", "notLike"},
	    {"in", "in"},     {"not in", "notIn"},	 {"=~", "match"},
	};
	bool ci = strcmp(op, "ilike") == 0 || strcmp(op, "not ilike") == 0;
	if (ci) {
		bool neg = op[0] == 'n';
		if (p->v18) {
			out(p, b, neg ? "notLike(lower(" : "like(lower(");
			operand(p, s, b, l, r);
			out(p, b, "), lower(");
			operand(p, s, b, r, l);
			out(p, b, "))");
		} else {
			out(p, b, neg ? "notILike(" : "ilike(");
			operand(p, s, b, l, r);
			out(p, b, ", ");
			operand(p, s, b, r, l);
			out(p, b, ")");
		}
		return;
	}
	if (strcmp(op, "=~*") == 0 || strcmp(op, "!~*") == 0 || strcmp(op, "!~") == 0) {
		bool neg = op[0] == '!';
		bool icase = op[strlen(op) - 1] == '*';
		if (neg)
			out(p, b, "not(");
		out(p, b, "match(");
		ex(p, s, b, l);
		out(p, b, ", ");
		if (icase) {
			/* 18.16 ignores a leading (?i) when it extracts the literal part
			 * of a pattern; the group form (?i:...) works on both. */
			out(p, b, "concat(");
			value(p, b, p->v18 ? "(?i:" : "(?i)");
			out(p, b, ", ");
		}
		ex(p, s, b, r);
		if (icase && p->v18) {
			out(p, b, ", ");
			value(p, b, ")");
		}
		if (icase)
			out(p, b, ")");
		out(p, b, neg ? "))" : ")");
		return;
	}
	const char *fn = NULL;
	for (size_t i = 0; i < SN_ARRAY_LEN(fns); i++)
		if (strcmp(op, fns[i].op) == 0)
			fn = fns[i].fn;
	if (!fn) {
		NOTIMPL(p, at, "Comparison '%s' is not supported by the ClickHouse printer", op);
		return;
	}
	out(p, b, fn);
	out(p, b, "(");
	operand(p, s, b, l, r);
	out(p, b, ", ");
	if ((strcmp(op, "in") == 0 || strcmp(op, "not in") == 0) && r->kind == SN_HQ_TUPLE) {
		/* x IN (NULL, ...): NULL members never match (§4.3). */
		out(p, b, "tuple(");
		bool first = true;
		for (size_t i = 0; i < r->list.n; i++) {
			if (is_null_const(r->list.items[i]))
				continue;
			if (!first)
				out(p, b, ", ");
			first = false;
			operand(p, s, b, r->list.items[i], l);
		}
		if (first)
			out(p, b, "NULL");
		out(p, b, ")");
	} else {
		operand(p, s, b, r, l);
	}
	out(p, b, ")");
}

/* x [NOT] IN (...) on ClickHouse 18.16, which has no transform_null_in: a
 * NULL x never matches there (in() gives 0, notIn() gives 0 too) and NULL
 * list members are ignored. HogQL treats NULL as a value (transform_null_in
 * = 1): NULL IN (..., NULL) is true, NULL NOT IN (..., NULL) false, NULL IN
 * (list without NULL) false, NULL NOT IN (list without NULL) true. */
static void in_v18(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n, bool notin,
		   const node_t *l, const node_t *r)
{
	bool lnull = nullable(l);
	if (is_const(r)) {
		/* x IN (v): a one-member list */
		const node_t *one[] = {r};
		node_t t = {.kind = SN_HQ_TUPLE, .list = {.items = (node_t **)one, .n = 1}};
		in_v18(p, s, b, n, notin, l, &t);
		return;
	}
	if (r->kind != SN_HQ_TUPLE) {
		/* A subquery (or another expression): a non-NULL x matches as with
		 * transform_null_in, but a NULL x would need to know whether the
		 * subquery returns a NULL row. */
		const node_t *col = NULL;
		if (r->kind == SN_HQ_SELECT && r->sel && r->sel->select.n == 1) {
			col = r->sel->select.items[0];
			if (col->kind == SN_HQ_ALIAS && !col->rtype.resolved)
				col = col->a;
		}
		if (lnull && col &&
		    !(col->kind == SN_HQ_FIELD && col->ref_kind == SN_HQR_ASTERISK) &&
		    !nullable(col)) {
			/* no NULL row: NULL x is not IN, and is NOT IN */
			out(p, b, notin ? "or(" : "and(");
			cmp_call(p, s, b, n, notin ? "not in" : "in", l, r);
			out(p, b, notin ? ", isNull(" : ", isNotNull(");
			ex(p, s, b, l);
			out(p, b, "))");
			return;
		}
		const node_t *q1 = first_select(r);
		if (lnull && q1 && q1->sel->select.n == 1 && r->kind != SN_HQ_SELECT_SET) {
			/* NULL x matches when the subquery returns a NULL row:
			 * if(isNull(x), in(1, (SELECT isNull(c) FROM (sub))), in(x, (sub))) */
			const node_t *item = q1->sel->select.items[0];
			struct sn_buf sub;
			sn_buf_init(&sub, p->bufmax);
			ex(p, s, &sub, r);
			const char *nm = NULL;
			for (const struct outname *o = p->names; o; o = o->next)
				if (o->item == item) {
					nm = o->name;
					break;
				}
			if (!p->rc && nm && sub.len && sub.data[0] == '(') {
				out(p, b, "if(isNull(");
				ex(p, s, b, l);
				out(p, b,
				    notin ? "), notIn(1, (SELECT isNull("
					  : "), in(1, (SELECT isNull(");
				ident(p, b, nm);
				out(p, b, ") FROM ");
				bufcat(p, b, &sub);
				out(p, b, notin ? ")), notIn(" : ")), in(");
				ex(p, s, b, l);
				out(p, b, ", ");
				bufcat(p, b, &sub);
				out(p, b, "))");
				sn_buf_release(&sub);
				return;
			}
			sn_buf_release(&sub);
			if (p->rc)
				return;
		}
		if (lnull) {
			NOTIMPL(p, n,
				"%s (SELECT ...) with a nullable left side is not available on "
				"ClickHouse %s: it "
				"has no transform_null_in, so NULL would never match a NULL row",
				notin ? "NOT IN" : "IN", vname(p));
			return;
		}
		cmp_call(p, s, b, n, notin ? "not in" : "in", l, r);
		return;
	}
	bool hasnull = false, members = false;
	for (size_t i = 0; i < r->list.n; i++) {
		const node_t *m = r->list.items[i];
		if (is_null_const(m)) {
			hasnull = true;
			continue;
		}
		members = true;
		if (!is_const(m) && nullable(m)) {
			NOTIMPL(p, m,
				"IN with a nullable list member is not available on ClickHouse %s: "
				"it has no transform_null_in",
				vname(p));
			return;
		}
	}
	/* NULL x: IN gives hasnull, NOT IN gives !hasnull. */
	bool null_result = notin ? !hasnull : hasnull;
	if (!members) {
		if (!lnull) {
			out(p, b, notin ? "1" : "0");
			return;
		}
		out(p, b, null_result ? "isNull(" : "isNotNull(");
		ex(p, s, b, l);
		out(p, b, ")");
		return;
	}
	if (lnull)
		out(p, b, null_result ? "or(" : "and(");
	cmp_call(p, s, b, n, notin ? "not in" : "in", l, r);
	if (lnull) {
		out(p, b, null_result ? ", isNull(" : ", isNotNull(");
		ex(p, s, b, l);
		out(p, b, "))");
	}
}

static void compare(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n)
{
	const char *op = n->op;
	const node_t *l = n->a, *r = n->b;
	if (strcmp(op, "in cohort") == 0 || strcmp(op, "not in cohort") == 0) {
		in_cohort(p, s, b, n);
		return;
	}
	if (strncmp(op, "global", 6) == 0) {
		NOTIMPL(p, n, "GLOBAL IN is not supported");
		return;
	}
	bool eq = strcmp(op, "==") == 0 || strcmp(op, "like") == 0 || strcmp(op, "ilike") == 0;
	bool ne =
	    strcmp(op, "!=") == 0 || strcmp(op, "not like") == 0 || strcmp(op, "not ilike") == 0;
	bool in = strcmp(op, "in") == 0, notin = strcmp(op, "not in") == 0;
	/* 1. constants on both sides fold */
	if (is_const(l) && is_const(r) && !in && !notin) {
		int v = fold(op, l, r);
		if (v >= 0) {
			out(p, b, v ? "1" : "0");
			return;
		}
	}
	if (in || notin) {
		if (is_null_const(l)) {
			out(p, b, notin ? "1" : "0");
			return;
		}
		if (p->v18) {
			in_v18(p, s, b, n, notin, l, r);
			return;
		}
		/* NULL IN (...) is false, NULL NOT IN (...) true (transform_null_in). */
		bool wrap = nullable(l) && !p->in_on;
		if (wrap)
			out(p, b, "ifNull(");
		cmp_call(p, s, b, n, op, l, r);
		if (wrap)
			out(p, b, notin ? ", 1)" : ", 0)");
		return;
	}
	/* 2. inside JOIN ON or nothing nullable: bare */
	if (p->in_on || (!nullable(l) && !nullable(r))) {
		cmp_call(p, s, b, n, op, l, r);
		return;
	}
	if (eq || ne) {
		if (is_null_const(r) || is_null_const(l)) {
			out(p, b, eq ? "isNull(" : "isNotNull(");
			ex(p, s, b, is_null_const(r) ? l : r);
			out(p, b, ")");
			return;
		}
		out(p, b, "ifNull(");
		cmp_call(p, s, b, n, op, l, r);
		if (is_const(l) || is_const(r)) {
			out(p, b, eq ? ", 0)" : ", 1)");
			return;
		}
		out(p, b, eq ? ", and(isNull(" : ", or(isNotNull(");
		ex(p, s, b, l);
		out(p, b, eq ? "), isNull(" : "), isNotNull(");
		ex(p, s, b, r);
		out(p, b, ")))");
		return;
	}
	/* 5. everything else */
	if (is_null_const(l) || is_null_const(r)) {
		out(p, b, "0");
		return;
	}
	bool neg = op[0] == '!';
	out(p, b, "ifNull(");
	cmp_call(p, s, b, n, op, l, r);
	out(p, b, neg ? ", 1)" : ", 0)");
}

/* ---- calls (§7.2) ------------------------------------------------------------- */

/* Allow-listed names ClickHouse 18.16 does not have (from its
 * system.functions), minus the ones rewritten below. */
static const char *const v18_missing[] = {
    "JSONArrayLength",
    "JSONExtract",
    "JSONExtractArrayRaw",
    "JSONExtractKey",
    "JSONExtractKeys",
    "JSONExtractKeysAndValues",
    "JSONExtractKeysAndValuesRaw",
    "JSONLength",
    "JSONType",
    "JSON_VALUE",
    "addQuarters",
    "age",
    "arrayAUC",
    "arrayAvg",
    "arrayCompact",
    "arrayFill",
    "arrayFlatten",
    "arrayFold",
    "arrayLast",
    "arrayLastIndex",
    "arrayMax",
    "arrayMin",
    "arrayProduct",
    "arrayRotateLeft",
    "arrayRotateRight",
    "arraySplit",
    "arrayWithConstant",
    "arrayZip",
    "ascii",
    "atan2",
    "avgWeighted",
    "base64Decode",
    "base64Encode",
    "bitCount",
    "concatWithSeparator",
    "contingency",
    "cosineDistance",
    "countMatches",
    "countSubstrings",
    "cramersV",
    "dateAdd",
    "dateName",
    "dateSub",
    "degrees",
    "deltaSum",
    "deltaSumTimestamp",
    "dense_rank",
    "divideDecimal",
    "dotProduct",
    "encodeURLComponent",
    "extractAllGroupsHorizontal",
    "extractAllGroupsVertical",
    "factorial",
    "first_value",
    "format",
    "fromUnixTimestamp64Milli",
    "geoDistance",
    "geohashDecode",
    "geohashEncode",
    "groupArrayMovingAvg",
    "groupArrayMovingSum",
    "groupBitmap",
    "hasSubstr",
    "hypot",
    "initcap",
    "isValidJSON",
    "isValidUTF8",
    "kurtPop",
    "kurtSamp",
    "lag",
    "lagInFrame",
    "last_value",
    "lead",
    "leadInFrame",
    "leftPad",
    "lpad",
    "map",
    "mapApply",
    "mapContains",
    "mapFilter",
    "mapFromArrays",
    "mapKeys",
    "mapValues",
    "maxMap",
    "minMap",
    "moduloOrZero",
    "monthName",
    "multiMatchAny",
    "multiMatchAnyIndex",
    "multiSearchAny",
    "multiplyDecimal",
    "netloc",
    "ngramDistance",
    "nth_value",
    "parseDateTime",
    "port",
    "positiveModulo",
    "radians",
    "rank",
    "regexpExtract",
    "regexpQuoteMeta",
    "reinterpretAsInt128",
    "reinterpretAsInt256",
    "reinterpretAsUInt128",
    "reinterpretAsUInt256",
    "reinterpretAsUUID",
    "repeat",
    "rightPad",
    "roundBankers",
    "roundDown",
    "row_number",
    "rpad",
    "sign",
    "simpleLinearRegression",
    "skewPop",
    "skewSamp",
    "splitByNonAlpha",
    "splitByRegexp",
    "splitByWhitespace",
    "subtractQuarters",
    "theilsU",
    "timeStampAdd",
    "timeStampSub",
    "timeZoneOf",
    "timeZoneOffset",
    "toDateTime64",
    "toJSONString",
    "toLastDayOfWeek",
    "toStartOfInterval",
    "toStartOfSecond",
    "toStartOfTenMinutes",
    "toUnixTimestamp64Milli",
    "toValidUTF8",
    "toWeek",
    "toYearWeek",
    "translate",
    "tryBase64Decode",
    "uniqTheta",
    "untuple",
    "width_bucket",
};

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool missing_on_v18(const char *name)
{
	return bsearch(&name, v18_missing, SN_ARRAY_LEN(v18_missing), sizeof(v18_missing[0]),
		       cmpstr) != NULL;
}

/* Functions that exist in no ClickHouse: PostHog's own. */
static bool posthog_only(const char *name)
{
	static const char *const names[] = {
	    "matchesAction",
	    "sparkline",
	    "sortableSemVer",
	    "recordingButton",
	    "recording_button",
	    "explainCSPReport",
	    "explain_csp_report",
	    "convertCurrency",
	    "languageCodeToName",
	    "getSurveyResponse",
	    "uniqueSurveySubmissionsFilter",
	    "embedText",
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(names); i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return strncmp(name, "aggregate_funnel", 16) == 0 || strncmp(name, "hogql_", 6) == 0;
}

/* lookupPaidSourceType(x) and the other channel lookups (their hogql_
 * names too) as PostHog prints them: reads of the dictionary
 * channel_definition_dict, keyed by (text, 'source' | 'medium'); a source is
 * looked up as given, then by cutToFirstSignificantSubdomain. ClickHouse
 * 18.16 has no dictGetOrNull and no Nullable attributes: there the
 * dictionary's null value is '' (tests/clickhouse/chserver.mjs) and
 * nullIf(dictGetString(...), '') reads it back as NULL. False when name is
 * no lookup. */
static bool channel_lookup(struct chp *p, struct pscope *s, struct sn_buf *b, const char *name,
			   const node_t *n)
{
	static const struct {
		const char *fn, *attr;
		bool medium;
	} fns[] = {
	    {"lookupDomainType", "domain_type", false},
	    {"lookupPaidSourceType", "type_if_paid", false},
	    {"lookupPaidMediumType", "type_if_paid", true},
	    {"lookupOrganicSourceType", "type_if_organic", false},
	    {"lookupOrganicMediumType", "type_if_organic", true},
	};
	if (strncmp(name, "hogql_", 6) == 0)
		name += 6;
	size_t k = 0;
	while (k < SN_ARRAY_LEN(fns) && strcmp(fns[k].fn, name) != 0)
		k++;
	if (k == SN_ARRAY_LEN(fns))
		return false;
	int passes = fns[k].medium ? 1 : 2;
	const node_t *x = n->list.items[0];
	if (passes > 1)
		out(p, b, "coalesce(");
	for (int pass = 0; pass < passes; pass++) {
		if (pass)
			out(p, b, ", ");
		outf(p, b, "%s('channel_definition_dict', '%s', tuple(",
		     p->v18 ? "nullIf(dictGetString" : "dictGetOrNull", fns[k].attr);
		if (pass && p->v18) {
			/* 18.16's domain() finds no host without a scheme
			 * ("www.google.com", as $referring_domain holds it);
			 * current versions and the executor do. */
			out(p, b, "cutToFirstSignificantSubdomain(if(greater(position(coalesce(");
			ex(p, s, b, x);
			out(p, b, ", ''), '://'), 0), coalesce(");
			ex(p, s, b, x);
			out(p, b, ", ''), concat('//', coalesce(");
			ex(p, s, b, x);
			out(p, b, ", ''))))");
		} else {
			out(p, b, pass ? "cutToFirstSignificantSubdomain(coalesce(" : "coalesce(");
			ex(p, s, b, x);
			out(p, b, pass ? ", ''))" : ", '')");
		}
		outf(p, b, ", '%s'))%s", fns[k].medium ? "medium" : "source",
		     p->v18 ? ", '')" : "");
	}
	if (passes > 1)
		out(p, b, ")");
	return true;
}

static bool named(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void arg(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n, size_t i)
{
	if (i < n->list.n)
		ex(p, s, b, n->list.items[i]);
}

/* fn(args...) with the arguments in order. */
static void plain_call(struct chp *p, struct pscope *s, struct sn_buf *b, const char *fn,
		       const node_t *n)
{
	out(p, b, fn);
	out(p, b, "(");
	exlist(p, s, b, &n->list);
	out(p, b, ")");
}

static bool is_dt(const node_t *n)
{
	return n->rtype.type == SN_HQT_DATETIME || n->rtype.type == SN_HQT_DATE;
}

/* toStartOfWeek(x, mode) for 18.16: toMonday or the Sunday before. */
static void start_of_week(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n)
{
	int64_t mode = p->o->week_start_monday ? 3 : 0;
	if (n->list.n > 1) {
		const node_t *m = n->list.items[1];
		if (!is_const(m) || m->ctype != SN_HQC_INT) {
			if (p->v18) {
				NOTIMPL(p, m,
					"toStartOfWeek needs a constant mode on ClickHouse %s",
					vname(p));
				return;
			}
			plain_call(p, s, b, "toStartOfWeek", n);
			return;
		}
		mode = m->ival;
	}
	if (!p->v18) {
		out(p, b, "toStartOfWeek(");
		arg(p, s, b, n, 0);
		outf(p, b, ", %" PRId64 ")", mode);
		return;
	}
	if (mode & 1) {
		out(p, b, "toMonday(");
		arg(p, s, b, n, 0);
		out(p, b, ")");
	} else {
		out(p, b, "subtractDays(toDate(");
		arg(p, s, b, n, 0);
		out(p, b, "), modulo(toDayOfWeek(");
		arg(p, s, b, n, 0);
		out(p, b, "), 7))");
	}
}

/* JSONExtract{String,Int,...}(json, k1, ..., kn) on 18.16: nested
 * visitParamExtractRaw, then the typed visitParam function on the last key.
 * visitParam matches the first key of that name at any depth. */
static void v18_json(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n,
		     const char *vp)
{
	size_t nk = n->list.n - 1;
	if (nk < 1) {
		NOTIMPL(p, n, "%s without a key is not available on ClickHouse %s", n->name,
			vname(p));
		return;
	}
	for (size_t i = 1; i < n->list.n; i++) {
		const node_t *k = n->list.items[i];
		if (!is_const(k) || k->ctype != SN_HQC_STRING) {
			NOTIMPL(p, k, "%s needs constant string keys on ClickHouse %s", n->name,
				vname(p));
			return;
		}
	}
	out(p, b, vp);
	out(p, b, "(");
	for (size_t i = 1; i < nk; i++)
		out(p, b, "visitParamExtractRaw(");
	arg(p, s, b, n, 0);
	for (size_t i = 1; i < nk; i++) {
		out(p, b, ", ");
		value(p, b, n->list.items[i]->sval);
		out(p, b, ")");
	}
	out(p, b, ", ");
	value(p, b, n->list.items[nk]->sval);
	out(p, b, ")");
}

/* accurateCastOrNull(x, 'Type') on 18.16: to<Type>OrNull(toString(x)). */
static void v18_cast_or_null(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *at,
			     const node_t *x, const char *type)
{
	static const char *const ok[] = {"Int8",    "Int16",   "Int32",	 "Int64",
					 "UInt8",   "UInt16",  "UInt32", "UInt64",
					 "Float32", "Float64", "Date",	 "DateTime"};
	for (size_t i = 0; i < SN_ARRAY_LEN(ok); i++)
		if (strcmp(type, ok[i]) == 0) {
			/* A float to an integer truncates toward zero (NULL when not
			 * finite or out of range): its text read as an integer. */
			bool trunc =
			    x->rtype.type == SN_HQT_FLOAT &&
			    (strncmp(type, "Int", 3) == 0 || strncmp(type, "UInt", 4) == 0);
			outf(p, b, "to%sOrNull(toString(%s", type, trunc ? "trunc(" : "");
			ex(p, s, b, x);
			out(p, b, trunc ? ")))" : "))");
			return;
		}
	if (strncmp(type, "Decimal", 7) == 0 || strcmp(type, "String") == 0) {
		if (strcmp(type, "String") == 0) {
			out(p, b, "toString(");
			ex(p, s, b, x);
			out(p, b, ")");
			return;
		}
	}
	NOTIMPL(p, at, "accurateCastOrNull to %s is not available on ClickHouse %s", type,
		vname(p));
}

static void cast_or_null(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *at,
			 const node_t *x, const char *type)
{
	if (p->v18) {
		v18_cast_or_null(p, s, b, at, x, type);
		return;
	}
	out(p, b, "accurateCastOrNull(");
	ex(p, s, b, x);
	out(p, b, ", ");
	value(p, b, type);
	out(p, b, ")");
}

static const char *strip_combinators(const char *name, char *buf, size_t cap, bool *or_null)
{
	static const char *const sfx[] = {"If",	   "OrNull", "OrDefault", "State",
					  "Merge", "Array",  "Distinct"};
	snprintf(buf, cap, "%s", name);
	for (bool again = true; again;) {
		again = false;
		for (size_t i = 0; i < SN_ARRAY_LEN(sfx); i++) {
			size_t n = strlen(buf), sl = strlen(sfx[i]);
			if (n <= sl || strcmp(buf + n - sl, sfx[i]) != 0)
				continue;
			char base[128];
			snprintf(base, sizeof(base), "%.*s", (int)(n - sl), buf);
			struct sn_hogql_func t2;
			const struct sn_hogql_func *bf = sn_hogql_func_find(base, &t2);
			if (!bf || !(bf->flags & SN_HQF_AGGREGATE))
				continue;
			if (i == 1 || i == 2)
				*or_null = true;
			snprintf(buf, cap, "%s", base);
			again = true;
			break;
		}
	}
	return buf;
}

static void call(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n)
{
	struct sn_hogql_func tmp;
	const struct sn_hogql_func *f = sn_hogql_func_find(n->name, &tmp);
	if (n->list.n == 1 && (n->list.items[0]->kind == SN_HQ_SELECT ||
			       n->list.items[0]->kind == SN_HQ_SELECT_SET)) {
		out(p, b, n->name);
		out(p, b, "(");
		statement(p, s, b, n->list.items[0]);
		out(p, b, ")");
		return;
	}
	if (!f) {
		QERR(p, n, "Unsupported function call '%s(...)'", n->name);
		return;
	}
	const char *name = (f->flags & SN_HQF_CASE_INSENSITIVE) ? f->name : n->name;
	if (f == &tmp)
		name = n->name;
	if (n->a) {
		/* agg(x) FILTER (WHERE c) → aggIf(x, c); count(DISTINCT x) is
		 * uniqExact in ClickHouse, other DISTINCT aggregates take the
		 * -Distinct combinator (applied after the filter). */
		if (!(f->flags & SN_HQF_AGGREGATE)) {
			QERR(p, n, "FILTER (WHERE ...) needs an aggregate function, not %s", name);
			return;
		}
		const char *base = name;
		if (named(name, "array_agg"))
			base = "groupArray";
		if (named(name, "string_agg") || named(name, "every")) {
			NOTIMPL(p, n, "%s(...) FILTER (WHERE ...) is not supported", name);
			return;
		}
		char stripped[128];
		bool or_null = false;
		strip_combinators(base, stripped, sizeof(stripped), &or_null);
		if (p->v18 && or_null) {
			NOTIMPL(p, n,
				"The -OrNull/-OrDefault aggregate combinators are not available on "
				"ClickHouse %s",
				vname(p));
			return;
		}
		if (p->v18 && (missing_on_v18(stripped) || missing_on_v18(base))) {
			NOTIMPL(p, n, "Function '%s' is not available on ClickHouse %s", name,
				vname(p));
			return;
		}
		if (n->flag && strcasecmp(name, "count") != 0 && p->v18) {
			NOTIMPL(
			    p, n,
			    "%s(DISTINCT ...) FILTER (WHERE ...) needs the -Distinct combinator, "
			    "which ClickHouse %s does not have",
			    name, vname(p));
			return;
		}
		if (n->flag && strcasecmp(name, "count") == 0)
			out(p, b, "uniqExactIf");
		else
			outf(p, b, "%s%sIf", base, n->flag ? "Distinct" : "");
		if (n->has_list2) {
			out(p, b, "(");
			exlist(p, s, b, &n->list2);
			out(p, b, ")");
		}
		out(p, b, "(");
		bool star = n->list.n == 1 && n->list.items[0]->kind == SN_HQ_FIELD &&
			    n->list.items[0]->ref_kind == SN_HQR_ASTERISK;
		if (!star && n->list.n) {
			exlist(p, s, b, &n->list);
			out(p, b, ", ");
		}
		ex(p, s, b, n->a);
		out(p, b, ")");
		return;
	}
	if (channel_lookup(p, s, b, name, n))
		return;
	if (named(name, "sparkline") && n->list.n == 1) { /* PostHog's UI tag */
		out(p, b, "tuple('__hx_tag', 'Sparkline', 'data', ");
		ex(p, s, b, n->list.items[0]);
		out(p, b, ")");
		return;
	}
	if (strcasecmp(name, "sortableSemVer") == 0 && n->list.n == 1) {
		/* PostHog's expansion (functions/mapping.py): strict X.Y.Z, an
		 * invalid version as [NULL] so comparisons with it are NULL */
		out(p, b,
		    "arrayMap(x -> toInt64OrNull(x), splitByChar('.', coalesce(nullIf(extract("
		    "assumeNotNull(");
		ex(p, s, b, n->list.items[0]);
		out(p, b,
		    "), '^\\\\s*v?((0|[1-9]\\\\d*)\\\\.(0|[1-9]\\\\d*)\\\\.(0|[1-9]"
		    "\\\\d*))(?:[-+][^\\\\s]*)?\\\\s*$'), ''), '_')))");
		return;
	}
	if (posthog_only(name)) {
		NOTIMPL(p, n, "%s() is not supported by the ClickHouse printer yet", name);
		return;
	}
	/* 18.x answers NULL for uniq*() over a Nullable column that is NULL in
	 * every row; current versions (and HogQL) answer 0. */
	if (p->v18 && !p->uniq_wrapped && (f->flags & SN_HQF_AGGREGATE) &&
	    strncasecmp(name, "uniq", 4) == 0 && !strstr(name, "State") && !strstr(name, "Array") &&
	    !strstr(name, "ForEach") && !strstr(name, "Map")) {
		out(p, b, "ifNull(");
		p->uniq_wrapped = true;
		call(p, s, b, n);
		p->uniq_wrapped = false;
		out(p, b, ", 0)");
		return;
	}
	const node_t *a0 = n->list.n > 0 ? n->list.items[0] : NULL;
	bool v18 = p->v18;
	/* Rewrites (§7.2, §4.5). */
	if (named(name, "toInt") || named(name, "toFloat") || named(name, "toUUID")) {
		const char *t = name[2] == 'I' ? "Int64" : name[2] == 'F' ? "Float64" : "UUID";
		if (v18 && t[0] == 'U') {
			plain_call(p, s, b, "toUUID", n); /* 18.16 has no toUUIDOrNull */
			return;
		}
		cast_or_null(p, s, b, n, a0, t);
		return;
	}
	if (named(name, "toFloatOrZero") || named(name, "toIntOrZero")) {
		plain_call(p, s, b, name[2] == 'F' ? "toFloat64OrZero" : "toInt64OrZero", n);
		return;
	}
	if (named(name, "toDecimal")) {
		const node_t *sc = n->list.n > 1 ? n->list.items[1] : NULL;
		if (!sc || !is_const(sc) || sc->ctype != SN_HQC_INT) {
			NOTIMPL(p, n, "toDecimal needs a constant scale");
			return;
		}
		if (v18) {
			NOTIMPL(p, n, "toDecimal is not available on ClickHouse %s", vname(p));
			return;
		}
		cast_or_null(p, s, b, n, a0, aprintf(p, "Decimal64(%" PRId64 ")", sc->ival));
		return;
	}
	if (named(name, "accurateCastOrNull") || named(name, "accurateCast")) {
		const node_t *t = n->list.items[1];
		if (!is_const(t) || t->ctype != SN_HQC_STRING) {
			QERR(p, t, "%s needs a constant type name", name);
			return;
		}
		if (named(name, "accurateCast")) {
			out(p, b, v18 ? "CAST(" : "accurateCast(");
			ex(p, s, b, a0);
			out(p, b, ", ");
			value(p, b, t->sval);
			out(p, b, ")");
			return;
		}
		cast_or_null(p, s, b, n, a0, t->sval);
		return;
	}
	if (named(name, "toDate") || named(name, "to_date")) {
		if (is_dt(a0) || a0->rtype.type == SN_HQT_INT) {
			plain_call(p, s, b, "toDate", n);
		} else {
			out(p, b, "toDateOrNull(toString(");
			ex(p, s, b, a0);
			out(p, b, "))");
		}
		return;
	}
	if (named(name, "toDateTime")) {
		if (is_dt(a0) || a0->rtype.type == SN_HQT_INT || a0->rtype.type == SN_HQT_FLOAT) {
			out(p, b, "toDateTime(");
			ex(p, s, b, a0);
		} else if (v18) {
			out(p, b, "parseDateTimeBestEffortOrNull(toString(");
			ex(p, s, b, a0);
			out(p, b, ")");
		} else {
			out(p, b, "parseDateTime64BestEffortOrNull(");
			ex(p, s, b, a0);
			out(p, b, ", 6");
		}
		out(p, b, ", ");
		if (n->list.n > 1)
			arg(p, s, b, n, 1);
		else
			tz(p, b);
		out(p, b, ")");
		return;
	}
	if (!v18 && named(name, "parseDateTime") && n->list.n >= 2) {
		/* PostHog's mapping: parseDateTimeOrNull, in the team's zone
		 * unless one is given (18.16 has no parseDateTime: refused above) */
		out(p, b, "parseDateTimeOrNull(");
		ex(p, s, b, a0);
		out(p, b, ", ");
		arg(p, s, b, n, 1);
		out(p, b, ", ");
		if (n->list.n > 2)
			arg(p, s, b, n, 2);
		else
			tz(p, b);
		out(p, b, ")");
		return;
	}
	if (named(name, "parseDateTimeBestEffort") ||
	    named(name, "parseDateTimeBestEffortOrNull") ||
	    named(name, "parseDateTime64BestEffort") ||
	    named(name, "parseDateTime64BestEffortOrNull")) {
		out(p, b,
		    v18 ? "parseDateTimeBestEffortOrNull(" : "parseDateTime64BestEffortOrNull(");
		ex(p, s, b, a0);
		out(p, b, v18 ? ", " : ", 6, ");
		if (n->list.n > 1)
			arg(p, s, b, n, 1);
		else
			tz(p, b);
		out(p, b, ")");
		return;
	}
	if (named(name, "now") || named(name, "current_timestamp") || named(name, "now64")) {
		if (v18) {
			out(p, b, "toTimeZone(now(), ");
			tz(p, b);
		} else {
			out(p, b, "now64(6, ");
			tz(p, b);
		}
		out(p, b, ")");
		return;
	}
	if (named(name, "toTimeZone") && n->list.n == 1) {
		out(p, b, "toTimeZone(");
		ex(p, s, b, a0);
		out(p, b, ", ");
		tz(p, b);
		out(p, b, ")");
		return;
	}
	if (named(name, "timezone") && n->list.n == 2) {
		out(p, b, "toTimeZone(");
		arg(p, s, b, n, 1);
		out(p, b, ", ");
		arg(p, s, b, n, 0);
		out(p, b, ")");
		return;
	}
	if (named(name, "to_timestamp") || (v18 && named(name, "fromUnixTimestamp"))) {
		out(p, b, "toDateTime(");
		ex(p, s, b, a0);
		out(p, b, ", ");
		tz(p, b);
		out(p, b, ")");
		return;
	}
	if (named(name, "toStartOfWeek")) {
		start_of_week(p, s, b, n);
		return;
	}
	if (v18 && named(name, "toLastDayOfMonth")) {
		out(p, b, "subtractDays(addMonths(toStartOfMonth(");
		ex(p, s, b, a0);
		out(p, b, "), 1), 1)");
		return;
	}
	if (v18 && named(name, "toStartOfFiveMinutes")) {
		plain_call(p, s, b, "toStartOfFiveMinute", n);
		return;
	}
	/* countDistinctIf is count -Distinct -If, uniqExactIf (18.16 has no
	 * countDistinct; its uniq*() over only NULLs is NULL, see above) */
	if (v18 && named(name, "countDistinctIf")) {
		out(p, b, "ifNull(");
		plain_call(p, s, b, "uniqExactIf", n);
		out(p, b, ", 0)");
		return;
	}
	if (named(name, "dateTrunc") || named(name, "date_trunc")) {
		const node_t *u = a0;
		if (!v18) {
			plain_call(p, s, b, "dateTrunc", n);
			return;
		}
		static const struct {
			const char *unit, *fn;
		} units[] = {{"year", "toStartOfYear"},	  {"quarter", "toStartOfQuarter"},
			     {"month", "toStartOfMonth"}, {"day", "toStartOfDay"},
			     {"hour", "toStartOfHour"},	  {"minute", "toStartOfMinute"}};
		if (is_const(u) && u->ctype == SN_HQC_STRING) {
			for (size_t i = 0; i < SN_ARRAY_LEN(units); i++)
				if (strcasecmp(u->sval, units[i].unit) == 0) {
					out(p, b, units[i].fn);
					out(p, b, "(");
					arg(p, s, b, n, 1);
					out(p, b, ")");
					return;
				}
			if (strcasecmp(u->sval, "week") == 0) {
				out(p, b, "toMonday(");
				arg(p, s, b, n, 1);
				out(p, b, ")");
				return;
			}
		}
		NOTIMPL(p, n, "dateTrunc needs a constant unit (year ... minute) on ClickHouse %s",
			vname(p));
		return;
	}
	if (named(name, "min2") || named(name, "max2")) {
		plain_call(p, s, b, v18 ? (name[1] == 'i' ? "least" : "greatest") : name, n);
		return;
	}
	if (named(name, "ilike") || named(name, "notILike")) {
		if (!v18) {
			plain_call(p, s, b, name, n);
			return;
		}
		out(p, b, name[0] == 'i' ? "like(lower(" : "notLike(lower(");
		arg(p, s, b, n, 0);
		out(p, b, "), lower(");
		arg(p, s, b, n, 1);
		out(p, b, "))");
		return;
	}
	if (named(name, "array_agg")) {
		plain_call(p, s, b, "groupArray", n);
		return;
	}
	if (named(name, "string_agg")) {
		out(p, b, "arrayStringConcat(groupArray(");
		arg(p, s, b, n, 0);
		out(p, b, "), ");
		arg(p, s, b, n, 1);
		out(p, b, ")");
		return;
	}
	if (named(name, "every")) {
		out(p, b, v18 ? "toUInt8(min(" : "toBool(min(");
		arg(p, s, b, n, 0);
		out(p, b, "))");
		return;
	}
	if (named(name, "md5")) {
		out(p, b, "hex(MD5(");
		arg(p, s, b, n, 0);
		out(p, b, "))");
		return;
	}
	if (named(name, "ltrim") || named(name, "rtrim") || named(name, "btrim")) {
		name = name[0] == 'l' ? "trimLeft" : name[0] == 'r' ? "trimRight" : "trim";
	}
	if (v18 && (named(name, "trim") || named(name, "trimLeft") || named(name, "trimRight"))) {
		if (n->list.n != 1) {
			NOTIMPL(p, n, "%s with characters is not available on ClickHouse %s", name,
				vname(p));
			return;
		}
		out(p, b, "replaceRegexpAll(");
		arg(p, s, b, n, 0);
		out(p, b, ", ");
		value(p, b,
		      named(name, "trim")	? "^\\s+|\\s+$"
		      : named(name, "trimLeft") ? "^\\s+"
						: "\\s+$");
		out(p, b, ", ");
		value(p, b, "");
		out(p, b, ")");
		return;
	}
	if (v18 && (named(name, "left") || named(name, "right"))) {
		out(p, b, "substring(");
		arg(p, s, b, n, 0);
		if (name[0] == 'l') {
			out(p, b, ", 1, ");
			arg(p, s, b, n, 1);
		} else {
			out(p, b, ", greatest(1, plus(minus(length(");
			arg(p, s, b, n, 0);
			out(p, b, "), ");
			arg(p, s, b, n, 1);
			out(p, b, "), 1))");
		}
		out(p, b, ")");
		return;
	}
	if (v18 && n->typed_of && named(name, "toBool") && n->list.n == 1 &&
	    n->list.items[0]->kind == SN_HQ_CALL && n->list.items[0]->list.n == 4) {
		/* A Boolean property (the resolver's toBool(transform(toString(x),
		 * ...))): 18.16 has no Bool type, and its transform with a NULL
		 * default is always NULL. Its text stands in for the Bool, so
		 * toString() is 'true' / 'false' and compares with 'true' as
		 * ClickHouse's Bool does. */
		const node_t *txt = n->list.items[0]->list.items[0];
		out(p, b, "multiIf(equals(");
		ex(p, s, b, txt);
		out(p, b, ", 'true'), 'true', equals(");
		ex(p, s, b, txt);
		out(p, b, ", 'false'), 'false', NULL)");
		return;
	}
	if (v18 && named(name, "toBool")) {
		plain_call(p, s, b, "toUInt8", n);
		return;
	}
	if (v18 && named(name, "toIntervalQuarter")) {
		out(p, b, "toIntervalMonth(multiply(");
		arg(p, s, b, n, 0);
		out(p, b, ", 3))");
		return;
	}
	if (named(name, "_caseWithExpression")) {
		/* CASE x WHEN a THEN b ... ELSE d END */
		out(p, b, "multiIf(");
		size_t nw = (n->list.n - 2) / 2;
		for (size_t i = 0; i < nw; i++) {
			if (i)
				out(p, b, ", ");
			node_t eq = {.kind = SN_HQ_COMPARE,
				     .op = "==",
				     .a = n->list.items[0],
				     .b = n->list.items[1 + 2 * i]};
			eq.rtype.resolved = true;
			eq.rtype.type = SN_HQT_BOOL;
			ex(p, s, b, &eq);
			out(p, b, ", ");
			ex(p, s, b, n->list.items[2 + 2 * i]);
		}
		out(p, b, ", ");
		ex(p, s, b, n->list.items[n->list.n - 1]);
		out(p, b, ")");
		return;
	}
	if (v18) {
		static const struct {
			const char *hq, *vp;
		} js[] = {{"JSONExtractString", "visitParamExtractString"},
			  {"JSONExtractInt", "visitParamExtractInt"},
			  {"JSONExtractUInt", "visitParamExtractUInt"},
			  {"JSONExtractFloat", "visitParamExtractFloat"},
			  {"JSONExtractBool", "visitParamExtractBool"},
			  {"JSONExtractRaw", "visitParamExtractRaw"},
			  {"JSONHas", "visitParamHas"}};
		for (size_t i = 0; i < SN_ARRAY_LEN(js); i++)
			if (named(name, js[i].hq)) {
				v18_json(p, s, b, n, js[i].vp);
				return;
			}
		char base[128];
		bool or_null = false;
		strip_combinators(name, base, sizeof(base), &or_null);
		if (or_null) {
			NOTIMPL(p, n,
				"The -OrNull/-OrDefault aggregate combinators are not available on "
				"ClickHouse %s",
				vname(p));
			return;
		}
		if (missing_on_v18(base) || missing_on_v18(name)) {
			NOTIMPL(p, n, "Function '%s' is not available on ClickHouse %s", name,
				vname(p));
			return;
		}
	}
	/* Pass-through: count(*) → count(); params; DISTINCT. */
	out(p, b, name);
	if (n->has_list2) {
		out(p, b, "(");
		exlist(p, s, b, &n->list2);
		out(p, b, ")");
	}
	out(p, b, "(");
	if (n->flag)
		out(p, b, "DISTINCT ");
	if (!(n->list.n == 1 && n->list.items[0]->kind == SN_HQ_FIELD &&
	      n->list.items[0]->ref_kind == SN_HQR_ASTERISK))
		exlist(p, s, b, &n->list);
	out(p, b, ")");
}

/* ---- expressions ------------------------------------------------------------ */

static void constant(struct chp *p, struct sn_buf *b, const node_t *n)
{
	switch (n->ctype) {
	case SN_HQC_NULL: out(p, b, "NULL"); break;
	case SN_HQC_BOOL: out(p, b, n->bval ? "1" : "0"); break;
	case SN_HQC_INT: outf(p, b, "%" PRId64, n->ival); break;
	case SN_HQC_FLOAT:
		if (isnan(n->fval))
			out(p, b, "nan");
		else if (isinf(n->fval))
			out(p, b, n->fval < 0 ? "-inf" : "inf");
		else {
			/* shortest text that reads back as the same double, kept a float */
			char t[40];
			snprintf(t, sizeof(t), "%.15g", n->fval);
			if (strtod(t, NULL) != n->fval)
				snprintf(t, sizeof(t), "%.17g", n->fval);
			out(p, b, t);
			if (!strpbrk(t, ".eEn"))
				out(p, b, ".");
		}
		break;
	case SN_HQC_STRING: value(p, b, n->sval); break;
	case SN_HQC_BIGNUM: {
		/* digits only: anything else (inf, nan text) is not a number */
		const char *t = n->sval ? n->sval : "";
		bool ok = *t != 0;
		for (const char *c = t; *c; c++)
			ok &= (*c >= '0' && *c <= '9') || *c == '.' || *c == 'e' || *c == 'E' ||
			      *c == '-' || *c == '+';
		if (ok)
			out(p, b, t);
		else if (strcasecmp(t, "inf") == 0 || strcasecmp(t, "nan") == 0 ||
			 strcasecmp(t, "-inf") == 0)
			out(p, b, t);
		else
			QERR(p, n, "Invalid number %s", t);
		break;
	}
	}
}

static const char *cast_fn(const char *tn, bool *ok_null)
{
	static const struct {
		const char *hq, *fn;
	} m[] = {
	    {"int", "Int64"},	       {"integer", "Int64"},  {"int64", "Int64"},
	    {"int32", "Int32"},	       {"int16", "Int16"},    {"int8", "Int8"},
	    {"uint64", "UInt64"},      {"uint32", "UInt32"},  {"uint16", "UInt16"},
	    {"uint8", "UInt8"},	       {"float", "Float64"},  {"float64", "Float64"},
	    {"float32", "Float32"},    {"double", "Float64"}, {"string", "String"},
	    {"text", "String"},	       {"date", "Date"},      {"datetime", "DateTime"},
	    {"timestamp", "DateTime"}, {"bool", "UInt8"},     {"boolean", "UInt8"},
	    {"uuid", "UUID"},
	};
	*ok_null = true;
	for (size_t i = 0; i < SN_ARRAY_LEN(m); i++)
		if (strcasecmp(tn, m[i].hq) == 0)
			return m[i].fn;
	return NULL;
}

/* A CAST type naming a Decimal (HogQL lower-cases it, without spaces:
 * decimal(10,2), decimal64(2), nullable(decimal(10,2))) in ClickHouse's
 * spelling, into buf; NULL when it names none. */
static const char *decimal_cast_type(const char *tn, char *buf, size_t cap)
{
	bool nullable = strncmp(tn, "nullable(", 9) == 0;
	const char *t = nullable ? tn + 9 : tn;
	size_t tl = strlen(t) - (nullable ? 1 : 0);
	if (strncmp(t, "decimal", 7) != 0 || tl < 7 || tl > 40 ||
	    (nullable && tn[strlen(tn) - 1] != ')'))
		return NULL;
	for (size_t i = 7; i < tl; i++)
		if (!isdigit((unsigned char)t[i]) && !strchr("(,)", t[i]))
			return NULL;
	snprintf(buf, cap, "%sDecimal%.*s%s", nullable ? "Nullable(" : "", (int)(tl - 7), t + 7,
		 nullable ? ")" : "");
	return buf;
}

static void type_cast(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n)
{
	bool ok;
	char dbuf[64];
	const char *dt = decimal_cast_type(n->name, dbuf, sizeof(dbuf));
	if (dt && n->kind == SN_HQ_TRY_CAST) {
		cast_or_null(p, s, b, n, n->a, dt);
		return;
	}
	if (dt) {
		out(p, b, "CAST(");
		ex(p, s, b, n->a);
		out(p, b, ", ");
		value(p, b, dt);
		out(p, b, ")");
		return;
	}
	const char *t = cast_fn(n->name, &ok);
	if (!t) {
		NOTIMPL(p, n, "Casting to %s is not supported by the ClickHouse printer", n->name);
		return;
	}
	if (n->kind == SN_HQ_TRY_CAST) {
		if (strcmp(t, "String") == 0 || strcmp(t, "UUID") == 0) {
			cast_or_null(p, s, b, n, n->a, t);
			return;
		}
		cast_or_null(p, s, b, n, n->a, t);
		return;
	}
	if (strcmp(t, "DateTime") == 0) {
		node_t c = *n;
		c.kind = SN_HQ_CALL;
		c.name = "toDateTime";
		c.list = (struct sn_hogql_list){.items = (node_t **)&n->a, .n = 1};
		c.has_list2 = false;
		c.a = NULL;
		c.flag = false;
		call(p, s, b, &c);
		return;
	}
	outf(p, b, "to%s(", t);
	ex(p, s, b, n->a);
	out(p, b, ")");
}

static void window_spec(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *w)
{
	bool sp = false;
	if (w->list.n) {
		out(p, b, "PARTITION BY ");
		exlist(p, s, b, &w->list);
		sp = true;
	}
	if (w->list2.n) {
		out(p, b, sp ? " ORDER BY " : "ORDER BY ");
		for (size_t i = 0; i < w->list2.n; i++) {
			if (i)
				out(p, b, ", ");
			ex(p, s, b, w->list2.items[i]->a);
			out(p, b, strcmp(w->list2.items[i]->op, "DESC") == 0 ? " DESC" : " ASC");
		}
		sp = true;
	}
	if (w->op) {
		outf(p, b, "%s%s ", sp ? " " : "", w->op);
		const node_t *fr[2] = {w->a, w->b};
		if (w->b)
			out(p, b, "BETWEEN ");
		for (int i = 0; i < 2 && fr[i]; i++) {
			if (i)
				out(p, b, " AND ");
			const node_t *f = fr[i];
			if (strcmp(f->op, "CURRENT ROW") == 0) {
				out(p, b, "CURRENT ROW");
				continue;
			}
			if (f->a)
				ex(p, s, b, f->a);
			else
				out(p, b, "UNBOUNDED");
			outf(p, b, " %s", f->op);
		}
	}
}

static void ex(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *n)
{
	if (p->rc)
		return;
	if (!n) {
		out(p, b, "NULL");
		return;
	}
	if (++p->depth > SN_HOGQL_MAX_DEPTH * 4) {
		NOTIMPL(p, n, "Query nests too deeply");
		p->depth--;
		return;
	}
	switch (n->kind) {
	case SN_HQ_CONSTANT: constant(p, b, n); break;
	case SN_HQ_FIELD: field(p, s, b, n); break;
	case SN_HQ_ALIAS:
		/* An alias inside an expression keeps its name for later references. */
		out(p, b, "(");
		if (p->naliases < SN_ARRAY_LEN(p->aliases))
			p->aliases[p->naliases++] = n;
		ex(p, s, b, n->a);
		p->naliases--;
		out(p, b, " AS ");
		ident(p, b, alias_sql(p, s, n->name));
		out(p, b, ")");
		break;
	case SN_HQ_CALL: call(p, s, b, n); break;
	case SN_HQ_ARITH: {
		static const struct {
			const char *op, *fn;
		} ops[] = {{"+", "plus"},
			   {"-", "minus"},
			   {"*", "multiply"},
			   {"/", "divide"},
			   {"%", "modulo"}};
		const char *fn = NULL;
		for (size_t i = 0; i < SN_ARRAY_LEN(ops); i++)
			if (strcmp(n->op, ops[i].op) == 0)
				fn = ops[i].fn;
		if (!fn) {
			NOTIMPL(p, n, "Operator %s is not supported", n->op);
			break;
		}
		outf(p, b, "%s(", fn);
		ex(p, s, b, n->a);
		out(p, b, ", ");
		ex(p, s, b, n->b);
		out(p, b, ")");
		break;
	}
	case SN_HQ_COMPARE: compare(p, s, b, n); break;
	case SN_HQ_AND:
	case SN_HQ_OR:
		if (n->list.n == 1) {
			ex(p, s, b, n->list.items[0]);
			break;
		}
		out(p, b, n->kind == SN_HQ_AND ? "and(" : "or(");
		exlist(p, s, b, &n->list);
		out(p, b, ")");
		break;
	case SN_HQ_NOT:
		out(p, b, "not(");
		ex(p, s, b, n->a);
		out(p, b, ")");
		break;
	case SN_HQ_BETWEEN: {
		bool wrap = !p->in_on && (nullable(n->a) || nullable(n->b) || nullable(n->c));
		if (wrap)
			out(p, b, "ifNull(");
		out(p, b, n->flag ? "or(less(" : "and(greaterOrEquals(");
		operand(p, s, b, n->a, n->b);
		out(p, b, ", ");
		operand(p, s, b, n->b, n->a);
		out(p, b, n->flag ? "), greater(" : "), lessOrEquals(");
		operand(p, s, b, n->a, n->c);
		out(p, b, ", ");
		operand(p, s, b, n->c, n->a);
		out(p, b, "))");
		if (wrap)
			out(p, b, n->flag ? ", 1)" : ", 0)");
		break;
	}
	case SN_HQ_IS_DISTINCT:
		/* a IS DISTINCT FROM b = not(NULL-safe equals) */
		out(p, b, n->flag ? "" : "not(");
		out(p, b, "ifNull(equals(");
		ex(p, s, b, n->a);
		out(p, b, ", ");
		ex(p, s, b, n->b);
		out(p, b, "), and(isNull(");
		ex(p, s, b, n->a);
		out(p, b, "), isNull(");
		ex(p, s, b, n->b);
		out(p, b, ")))");
		out(p, b, n->flag ? "" : ")");
		break;
	case SN_HQ_TUPLE:
		out(p, b, "tuple(");
		exlist(p, s, b, &n->list);
		out(p, b, ")");
		break;
	case SN_HQ_ARRAY:
		out(p, b, "[");
		exlist(p, s, b, &n->list);
		out(p, b, "]");
		break;
	case SN_HQ_DICT:
		if (p->v18) {
			NOTIMPL(p, n, "Maps ({...}) are not available on ClickHouse %s", vname(p));
			break;
		}
		out(p, b, "map(");
		for (size_t i = 0; i < n->list.n; i++) {
			if (i)
				out(p, b, ", ");
			ex(p, s, b, n->list.items[i]);
			out(p, b, ", ");
			ex(p, s, b, i < n->list2.n ? n->list2.items[i] : NULL);
		}
		out(p, b, ")");
		break;
	case SN_HQ_ARRAY_ACCESS:
	case SN_HQ_TUPLE_ACCESS:
		if (n->ref_kind == SN_HQR_PROPERTY) {
			access_path(p, s, b, n);
			break;
		}
		if (n->kind == SN_HQ_ARRAY_ACCESS) {
			out(p, b, "arrayElement(");
			ex(p, s, b, n->a);
			out(p, b, ", ");
			ex(p, s, b, n->b);
		} else {
			out(p, b, "tupleElement(");
			ex(p, s, b, n->a);
			outf(p, b, ", %" PRId64, n->ival);
		}
		out(p, b, ")");
		break;
	case SN_HQ_ARRAY_SLICE:
		/* a[s:e], 1-based and inclusive: arraySlice(a, s, greatest(0, e - s + 1));
		 * without s from 1, without e to the end. */
		out(p, b, "arraySlice(");
		ex(p, s, b, n->a);
		out(p, b, ", ");
		if (n->b)
			ex(p, s, b, n->b);
		else
			out(p, b, "1");
		if (n->c) {
			out(p, b, ", greatest(0, plus(minus(");
			ex(p, s, b, n->c);
			out(p, b, ", ");
			if (n->b)
				ex(p, s, b, n->b);
			else
				out(p, b, "1");
			out(p, b, "), 1))");
		}
		out(p, b, ")");
		break;
	case SN_HQ_LAMBDA:
		if (n->strs.n == 1) {
			ident(p, b, n->strs.items[0]);
		} else {
			out(p, b, "(");
			for (size_t i = 0; i < n->strs.n; i++) {
				if (i)
					out(p, b, ", ");
				ident(p, b, n->strs.items[i]);
			}
			out(p, b, ")");
		}
		out(p, b, " -> ");
		ex(p, s, b, n->a);
		break;
	case SN_HQ_TYPE_CAST:
	case SN_HQ_TRY_CAST: type_cast(p, s, b, n); break;
	case SN_HQ_PLACEHOLDER: QERR(p, n, "Unresolved placeholder"); break;
	case SN_HQ_WINDOW_FUNCTION:
		if (p->v18) {
			NOTIMPL(p, n, "Window functions are not available on ClickHouse %s",
				vname(p));
			break;
		}
		{
			const char *nm = n->name;
			if (strcmp(nm, "lag") == 0)
				nm = "lagInFrame";
			else if (strcmp(nm, "lead") == 0)
				nm = "leadInFrame";
			out(p, b, nm);
			out(p, b, "(");
			exlist(p, s, b, &n->list);
			out(p, b, ")");
			if (n->list2.n) {
				out(p, b, "(");
				exlist(p, s, b, &n->list2);
				out(p, b, ")");
			}
			out(p, b, " OVER ");
			if (n->a) {
				out(p, b, "(");
				window_spec(p, s, b, n->a);
				out(p, b, ")");
			} else {
				ident(p, b, n->op ? n->op : "");
			}
		}
		break;
	case SN_HQ_SELECT:
	case SN_HQ_SELECT_SET:
		out(p, b, "(");
		statement(p, s, b, n);
		out(p, b, ")");
		break;
	case SN_HQ_POSITIONAL_REF:
		if (p->v18) {
			NOTIMPL(p, n, "Positional references are not available on ClickHouse %s",
				vname(p));
			break;
		}
		outf(p, b, "%" PRId64, n->ival);
		break;
	default:
		NOTIMPL(p, n, "%s is not supported by the ClickHouse printer",
			sn_hogql_kind_name(n->kind));
		break;
	}
	p->depth--;
}

/* ---- SELECT ------------------------------------------------------------------- */

/* " SAMPLE r [OFFSET o]" of a SampleExpr. */
static void sample(struct chp *p, struct sn_buf *b, const node_t *d)
{
	const node_t *r = d->a;
	struct pscope none = {0};
	out(p, b, " SAMPLE ");
	if (r && r->kind == SN_HQ_RATIO) {
		ex(p, &none, b, r->a);
		if (r->b) {
			out(p, b, "/");
			ex(p, &none, b, r->b);
		}
	}
	if (d->b) {
		const node_t *o = d->b;
		out(p, b, " OFFSET ");
		ex(p, &none, b, o->kind == SN_HQ_RATIO ? o->a : o);
		if (o->kind == SN_HQ_RATIO && o->b) {
			out(p, b, "/");
			ex(p, &none, b, o->b);
		}
	}
}

/* One nested level of an events source with lazy joins; the innermost
 * reads events (with the query's SAMPLE, so every level sees the same
 * sampled rows). */
static void lazy_level(struct chp *p, struct sn_buf *b, const struct sn_buf *prev, unsigned lvl,
		       int group, uint64_t sess, const node_t *smp)
{
	const struct sn_hogql_table_def *st = sn_hogql_table_find("sessions");
	out(p, b, "SELECT l.*, ");
	switch (lvl) {
	case L_SESSION: {
		bool first = true;
		for (size_t k = 0; k < st->nfields; k++) {
			if (!(sess & ((uint64_t)1 << k)))
				continue;
			out(p, b, first ? "j." : ", j.");
			first = false;
			ident(p, b, st->fields[k].name);
			out(p, b, " AS ");
			ident(p, b, aprintf(p, "__session_%s", st->fields[k].name));
		}
		break;
	}
	case L_OVR:
		out(p, b, "if(notEmpty(j.distinct_id), j.person_id, l.person_id) AS __person_id");
		break;
	case L_PERSON:
	case L_PDI_PERSON: {
		const char *pre = lvl == L_PERSON ? "__person_" : "__pdi_person_";
		outf(p, b,
		     "j.created_at AS %screated_at, j.properties AS %sproperties, "
		     "j.is_identified AS %sis_identified",
		     pre, pre, pre);
		break;
	}
	case L_PDI:
		out(p, b, "j.distinct_id AS __pdi_distinct_id, j.person_id AS __pdi_person_id");
		break;
	default:
		outf(
		    p, b,
		    "j.`index` AS __group_%d_index, j.`key` AS __group_%d_key, j.created_at AS "
		    "__group_%d_created_at, j.updated_at AS __group_%d_updated_at, j.properties AS "
		    "__group_%d_properties",
		    group, group, group, group, group);
		break;
	}
	out(p, b, " FROM ");
	if (prev) {
		out(p, b, "(");
		bufcat(p, b, prev);
		out(p, b, ") AS l");
	} else {
		out(p, b, "events AS l");
		if (smp)
			sample(p, b, smp);
	}
	/* ANY: the right side is unique on the key; 18.16 fails ALL INNER
	 * JOIN with "Size of filter doesn't match" when columns are pruned. */
	out(p, b, lvl == L_PDI ? " ANY INNER JOIN (" : " LEFT JOIN (");
	switch (lvl) {
	case L_OVR: pdi_sub(p, b, "person_distinct_id_overrides"); break;
	case L_PERSON:
	case L_PDI_PERSON: persons_sub(p, b); break;
	case L_PDI: pdi_sub(p, b, "person_distinct_id2"); break;
	case L_SESSION: sessions_sub(p, b, sess); break;
	default: groups_sub(p, b, group); break;
	}
	out(p, b, ") AS j ON ");
	switch (lvl) {
	case L_OVR:
	case L_PDI: out(p, b, "equals(l.distinct_id, j.distinct_id)"); break;
	case L_PERSON: out(p, b, "equals(l.__person_id, j.id)"); break;
	case L_PDI_PERSON: out(p, b, "equals(l.__pdi_person_id, j.id)"); break;
	case L_SESSION: out(p, b, "equals(l.`$session_id`, j.session_id)"); break;
	default: outf(p, b, "equals(l.`$group_%d`, j.`key`)", group); break;
	}
	if (!prev) {
		out(p, b, " WHERE ");
		guard(p, b, "l");
	}
}

static void events_wrapped(struct chp *p, struct sn_buf *b, unsigned lazy, uint64_t sess,
			   const node_t *smp)
{
	if (lazy & L_PERSON)
		lazy |= L_OVR;
	if (lazy & L_PDI_PERSON)
		lazy |= L_PDI;
	struct sn_buf cur, next;
	sn_buf_init(&cur, p->bufmax);
	sn_buf_init(&next, p->bufmax);
	bool first = true;
	static const unsigned order[] = {L_OVR, L_PERSON, L_PDI, L_PDI_PERSON, L_SESSION};
	for (size_t i = 0; i < SN_ARRAY_LEN(order) + 5 && !p->rc; i++) {
		size_t no = SN_ARRAY_LEN(order);
		unsigned lvl = i < no ? order[i] : (unsigned)L_GROUP0 << (i - no);
		if (!(lazy & lvl))
			continue;
		sn_buf_reset(&next);
		lazy_level(p, &next, first ? NULL : &cur, lvl, i < no ? -1 : (int)(i - no), sess,
			   smp);
		first = false;
		struct sn_buf t = cur;
		cur = next;
		next = t;
	}
	out(p, b, "(");
	bufcat(p, b, &cur);
	out(p, b, ")");
	sn_buf_release(&cur);
	sn_buf_release(&next);
}

/* Phase 1: sources of a SELECT; subqueries printed now. */
static void build_scope(struct chp *p, struct pscope *s, struct pscope *outer,
			const struct sn_hogql_select *sel)
{
	for (const node_t *j = sel->select_from; j && !p->rc; j = j->c) {
		if (s->n >= MAX_SRC) {
			QERR(p, j, "Too many tables in one SELECT (at most %d)", MAX_SRC);
			return;
		}
		struct psrc *src = &s->src[s->n];
		memset(src, 0, sizeof(*src));
		sn_buf_init(&src->text, p->bufmax);
		s->n++;
		src->j = j;
		const node_t *t = j->a;
		if (t && t->kind == SN_HQ_FIELD) {
			const char *name = t->strs.items[0];
			const node_t *cte = t->strs.n == 1 ? find_cte(s, name, "subquery") : NULL;
			/* Inside its own body a CTE's name is the table it shadows. */
			for (size_t k = 0; cte && k < p->nctes; k++)
				if (p->ctes[k] == cte)
					cte = NULL;
			src->name = j->name ? j->name : t->strs.items[t->strs.n - 1];
			if (cte) {
				if (p->nctes >= SN_ARRAY_LEN(p->ctes)) {
					NOTIMPL(p, t, "CTEs nest too deeply");
					return;
				}
				src->sub = cte->a;
				src->sql = src->name;
				p->ctes[p->nctes++] = cte;
				statement(p, s, &src->text, cte->a);
				p->nctes--;
				continue;
			}
			src->t = t->strs.n == 1 ? sn_hogql_table_find(name) : NULL;
			if (!src->t) {
				QERR(p, t, "Unknown table `%s`.", name);
				return;
			}
			/* 18.16 reads numbers.number only when numbers(...) has an alias */
			src->sql = src->t->function && !j->name ? "" : src->name;
		} else if (t && (t->kind == SN_HQ_SELECT || t->kind == SN_HQ_SELECT_SET)) {
			src->sub = t;
			src->name = j->name ? j->name : "";
			src->sql = src->name;
			statement(p, outer ? outer : s, &src->text, t);
		} else {
			QERR(p, j, "Unsupported table expression");
			return;
		}
		if (j->flag) {
			NOTIMPL(p, j, "FINAL is not supported on virtual tables");
			return;
		}
	}
}

static void print_source(struct chp *p, struct sn_buf *b, struct psrc *src)
{
	const node_t *j = src->j;
	const struct sn_hogql_table_def *t = src->t;
	bool alias = true;
	if (src->sub) {
		out(p, b, "(");
		bufcat(p, b, &src->text);
		out(p, b, ")");
		alias = src->sql[0] != 0;
	} else if (t->function) {
		out(p, b, t->name);
		out(p, b, "(");
		/* numbers(n): arguments are plain expressions of no scope */
		struct pscope none = {0};
		exlist(p, &none, b, &j->list);
		out(p, b, ")");
		alias = src->sql[0] != 0;
	} else if (is_table(t, "events")) {
		if (src->lazy) {
			events_wrapped(p, b, src->lazy, src->sess, j->d);
		} else {
			out(p, b, "events");
			alias = strcmp(src->sql, "events") != 0;
		}
	} else if (is_table(t, "persons") || is_table(t, "person_distinct_ids") ||
		   is_table(t, "cohort_people")) {
		/* collapsed; with persons.pdi / .person read, one join level more */
		bool persons = is_table(t, "persons");
		out(p, b, "(");
		if (src->lazy)
			out(p, b,
			    persons
				? "SELECT l.*, j.distinct_id AS __pdi_distinct_id, j.person_id AS "
				  "__pdi_person_id FROM ("
				: "SELECT l.*, j.created_at AS __person_created_at, j.properties "
				  "AS __person_properties, j.is_identified AS "
				  "__person_is_identified FROM (");
		if (persons)
			persons_sub(p, b);
		else if (is_table(t, "cohort_people"))
			cohort_sub(p, b, -1, false);
		else
			pdi_sub(p, b, "person_distinct_id2");
		if (src->lazy) {
			out(p, b, ") AS l LEFT JOIN (");
			if (persons)
				pdi_sub(p, b, "person_distinct_id2");
			else
				persons_sub(p, b);
			out(p, b,
			    persons ? ") AS j ON equals(l.id, j.person_id)"
				    : ") AS j ON equals(l.person_id, j.id)");
		}
		out(p, b, ")");
	} else if (is_sessions(t)) {
		out(p, b, "(");
		sessions_sub(p, b, src->sess);
		out(p, b, ")");
	} else if (is_table(t, "groups")) {
		out(p, b, "(");
		groups_sub(p, b, -1);
		out(p, b, ")");
	} else {
		const char *phys = is_table(t, "raw_persons")		    ? "person"
				   : is_table(t, "raw_person_distinct_ids") ? "person_distinct_id2"
				   : is_table(t, "raw_groups")		    ? "groups"
				   : is_table(t, "static_cohort_people")    ? "person_static_cohort"
									    : t->name;
		out(p, b, phys);
		alias = strcmp(src->sql, phys) != 0;
		if (!alias)
			src->sql = phys;
	}
	if (alias) {
		out(p, b, " AS ");
		ident(p, b, src->sql);
	}
	/* a wrapped events source samples its innermost level */
	if (j->d && !(is_table(t, "events") && src->lazy))
		sample(p, b, j->d);
}

/* "LEFT ANY JOIN" (the parser's order) as ClickHouse's "ANY LEFT JOIN". */
static void join_op(struct chp *p, struct sn_buf *b, const char *op)
{
	static const char *const strict[] = {"ANY", "ALL", "ASOF", "SEMI", "ANTI"};
	const char *st = NULL;
	for (size_t i = 0; i < SN_ARRAY_LEN(strict); i++) {
		const char *w = strstr(op, strict[i]);
		size_t l = strlen(strict[i]);
		if (w && (w == op || w[-1] == ' ') && (w[l] == ' ' || !w[l]))
			st = strict[i];
	}
	if (!st) {
		out(p, b, op);
		return;
	}
	out(p, b, st);
	out(p, b, " ");
	char rest[64] = "";
	for (const char *w = op; *w;) {
		const char *e = strchr(w, ' ');
		size_t l = e ? (size_t)(e - w) : strlen(w);
		if (!(l == strlen(st) && strncmp(w, st, l) == 0) &&
		    strlen(rest) + l + 2 < sizeof(rest)) {
			if (rest[0])
				strcat(rest, " ");
			strncat(rest, w, l);
		}
		w += l;
		while (*w == ' ')
			w++;
	}
	out(p, b, rest);
}

/* Tables whose rows are read directly: their guard goes into this WHERE.
 * Subquery-shaped virtual tables carry the guard inside; a wrapped events
 * source gets it inside and here. */
static bool guarded_here(const struct psrc *src)
{
	if (!src->t || !src->t->team_guard)
		return false;
	return !is_table(src->t, "persons") && !is_table(src->t, "person_distinct_ids") &&
	       !is_table(src->t, "groups") && !is_table(src->t, "cohort_people") &&
	       !is_sessions(src->t);
}

/* ORDER BY / GROUP BY item. ClickHouse 18.16 has no positional arguments
 * (`ORDER BY 1` sorts by the constant), so an integer constant there is
 * replaced by the select item it names: its alias when it has one, else the
 * expression. */
static void by_item(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *e)
{
	if (!p->v18 || !is_const(e) || e->ctype != SN_HQC_INT || !s->sel) {
		ex(p, s, b, e);
		return;
	}
	const struct sn_hogql_list *sl = &s->sel->select;
	int64_t pos = e->ival;
	if (pos < 1 || (uint64_t)pos > sl->n) {
		QERR(p, e,
		     "Positional argument %" PRId64 " is out of range: the SELECT has %zu "
		     "item(s)",
		     pos, sl->n);
		return;
	}
	const node_t *it = sl->items[pos - 1];
	if (it->kind == SN_HQ_FIELD && it->ref_kind == SN_HQR_ASTERISK) {
		NOTIMPL(p, e,
			"Positional argument %" PRId64 " refers to * and ClickHouse %s has no "
			"positional arguments",
			pos, vname(p));
		return;
	}
	if (it->kind == SN_HQ_ALIAS) {
		ident(p, b, alias_sql(p, s, it->name));
		return;
	}
	ex(p, s, b, it);
}

static void order_list(struct chp *p, struct pscope *s, struct sn_buf *b,
		       const struct sn_hogql_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			out(p, b, ", ");
		const node_t *o = l->items[i];
		if (o->kind == SN_HQ_ORDER_EXPR) {
			by_item(p, s, b, o->a);
			out(p, b, strcmp(o->op, "DESC") == 0 ? " DESC" : " ASC");
		} else {
			ex(p, s, b, o);
		}
	}
}

static size_t sel_len(const struct pscope *s)
{
	return s->sel ? s->sel->select.n : 0;
}

/* One select item; `*` expands to the virtual fields of each source. */
static void select_item(struct chp *p, struct pscope *s, struct sn_buf *b, const node_t *e,
			bool *first)
{
	if (!*first)
		out(p, b, ", ");
	*first = false;
	if (e->kind == SN_HQ_FIELD && e->ref_kind == SN_HQR_ASTERISK) {
		bool one = true;
		for (size_t i = 0; i < s->n && !p->rc; i++) {
			struct psrc *src = &s->src[i];
			if (e->strs.n > 1 &&
			    strcmp(src->name, e->ref_source ? e->ref_source : "") != 0)
				continue;
			if (!src->t) {
				if (!one)
					out(p, b, ", ");
				one = false;
				if (src->sql[0]) {
					ident(p, b, src->sql);
					out(p, b, ".");
				}
				out(p, b, "*");
				continue;
			}
			for (size_t k = 0; k < src->t->nfields; k++) {
				const struct sn_hogql_field_def *fd = &src->t->fields[k];
				if (fd->hidden ||
				    (fd->kind != SN_HQFK_COLUMN && fd->kind != SN_HQFK_JSON))
					continue;
				if (is_sessions(src->t)) {
					/* `*` leaves out what cannot be derived */
					if (session_field_missing(p, fd->name))
						continue;
					src->sess |= (uint64_t)1 << k;
				}
				if (!one)
					out(p, b, ", ");
				one = false;
				struct target t = {.type = fd->type};
				sn_buf_init(&t.col, p->bufmax);
				if (src->sql[0]) {
					ident(p, &t.col, src->sql);
					out(p, &t.col, ".");
				}
				ident(p, &t.col, physical_col(src->t, fd->name));
				print_target(p, e, b, &t);
				sn_buf_release(&t.col);
				const char *phys = physical_col(src->t, fd->name);
				if (fd->type == SN_HQT_DATETIME || strcmp(phys, fd->name) != 0) {
					out(p, b, " AS ");
					ident(p, b, alias_sql(p, s, fd->name));
				}
			}
		}
		return;
	}
	if (e->kind == SN_HQ_ALIAS) {
		const char *nm = alias_sql(p, s, e->name);
		set_outname(p, e, nm);
		if (p->nused < SN_ARRAY_LEN(p->used))
			p->used[p->nused++] = nm;
		if (p->naliases < SN_ARRAY_LEN(p->aliases))
			p->aliases[p->naliases++] = e;
		ex(p, s, b, e->a);
		p->naliases--;
		out(p, b, " AS ");
		ident(p, b, nm);
		return;
	}
	size_t mark = b->len;
	ex(p, s, b, e);
	const char *hn = hogql_name(e);
	if (!hn || p->rc)
		return;
	/* A field printed as more than `q.name` gets its name back (§4.8). */
	struct sn_buf q;
	sn_buf_init(&q, p->bufmax);
	ident(p, &q, hn);
	size_t len = b->len - mark, hl = q.len;
	const char *txt = b->data + mark;
	bool plain = !p->rc && len >= hl && memcmp(txt + len - hl, q.data, hl) == 0 &&
		     (len == hl || txt[len - hl - 1] == '.');
	sn_buf_release(&q);
	if (plain) {
		set_outname(p, e, hn);
		return;
	}
	const char *nm = alias_sql(p, s, hn);
	for (size_t i = 0; i < p->nused; i++)
		if (strcmp(p->used[i], nm) == 0)
			return; /* a second `name`: ClickHouse keeps its expression text */
	for (size_t i = 0; i < sel_len(s); i++) {
		const node_t *o = s->sel->select.items[i];
		if (o != e && o->kind == SN_HQ_ALIAS && strcmp(o->name, hn) == 0)
			return;
	}
	if (p->nused < SN_ARRAY_LEN(p->used))
		p->used[p->nused++] = nm;
	set_outname(p, e, nm);
	out(p, b, " AS ");
	ident(p, b, nm);
}

/* USING takes bare column names, as both sides call them. */
static void using_list(struct chp *p, struct pscope *s, struct sn_buf *b,
		       const struct sn_hogql_list *l)
{
	for (size_t i = 0; i < l->n && !p->rc; i++) {
		const node_t *e = l->items[i];
		if (i)
			out(p, b, ", ");
		if (e->kind != SN_HQ_FIELD || e->strs.n != 1 ||
		    (e->ref_kind != SN_HQR_COLUMN && e->ref_kind != SN_HQR_SUBQUERY_COL)) {
			NOTIMPL(p, e, "USING takes column names");
			return;
		}
		const char *nm = e->strs.items[0];
		struct psrc *src = e->ref_source ? find_src(s, e->ref_source) : NULL;
		if (src && src->sub)
			nm = sub_outname(p, src->sub, nm);
		else if (src && src->t)
			nm = physical_col(src->t, nm);
		ident(p, b, nm);
	}
}

static void select_query(struct chp *p, struct pscope *parent, struct sn_buf *b, const node_t *q)
{
	const struct sn_hogql_select *sel = q->sel;
	struct pscope *s = calloc(1, sizeof(*s));
	if (!s) {
		p->rc = SN_ERR_NOMEM;
		return;
	}
	s->parent = parent;
	s->sel = sel;
	struct sn_buf cl[12];
	enum {
		C_SEL,
		C_WHERE,
		C_PREWHERE,
		C_GROUP,
		C_HAVING,
		C_ORDER,
		C_LIMITBY,
		C_LIMIT,
		C_AJ,
		C_FROM,
		C_ON,
		C_TMP
	};
	for (size_t i = 0; i < SN_ARRAY_LEN(cl); i++)
		sn_buf_init(&cl[i], p->bufmax);
	struct sn_buf *on = NULL;

	build_scope(p, s, parent, sel);
	if (p->rc)
		goto out;
	size_t njoins = 0;
	for (size_t i = 1; i < s->n; i++)
		njoins++;
	if (p->v18 && njoins > 1) {
		NOTIMPL(p, s->src[2].j,
			"ClickHouse %s runs one JOIN per SELECT; nest the other joins in "
			"subqueries",
			vname(p));
		goto out;
	}
	/* Phase 2: clauses. */
	if (p->v18 && sel->qualify)
		NOTIMPL(p, sel->qualify, "QUALIFY is not available on ClickHouse %s", vname(p));
	if (p->v18 && sel->nwindows)
		NOTIMPL(p, sel->window_exprs[0],
			"Window functions are not available on ClickHouse %s", vname(p));
	if (p->v18 && sel->group_by_mode)
		NOTIMPL(p, q, "GROUP BY %s is not available on ClickHouse %s", sel->group_by_mode,
			vname(p));
	if (p->v18 && sel->limit_with_ties)
		NOTIMPL(p, sel->limit, "LIMIT WITH TIES is not available on ClickHouse %s",
			vname(p));
	if (p->rc)
		goto out;
	if (sel->array_join_op) {
		out(p, &cl[C_AJ], sel->array_join_op);
		out(p, &cl[C_AJ], " ");
		for (size_t i = 0; i < sel->array_join_list.n; i++) {
			const node_t *e = sel->array_join_list.items[i];
			if (i)
				out(p, &cl[C_AJ], ", ");
			if (e->kind == SN_HQ_ALIAS) {
				ex(p, s, &cl[C_AJ], e->a);
				out(p, &cl[C_AJ], " AS ");
				ident(p, &cl[C_AJ], e->name);
			} else {
				ex(p, s, &cl[C_AJ], e);
			}
		}
	}
	bool first = true;
	size_t saved_used = p->nused;
	for (size_t i = 0; i < sel->select.n && !p->rc; i++)
		select_item(p, s, &cl[C_SEL], sel->select.items[i], &first);
	p->nused = saved_used;
	on = calloc(s->n ? s->n : 1, sizeof(*on));
	if (!on) {
		p->rc = SN_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->n; i++) {
		sn_buf_init(&on[i], p->bufmax);
		const node_t *c = s->src[i].j->b;
		if (!c)
			continue;
		p->in_on = true;
		if (strcmp(c->op, "USING") == 0) {
			out(p, &on[i], " USING (");
			const struct sn_hogql_list one = {.items = (node_t **)&c->a, .n = 1};
			using_list(p, s, &on[i], c->a->kind == SN_HQ_TUPLE ? &c->a->list : &one);
			out(p, &on[i], ")");
		} else {
			out(p, &on[i], " ON ");
			ex(p, s, &on[i], c->a);
		}
		p->in_on = false;
	}
	if (sel->prewhere)
		ex(p, s, &cl[C_PREWHERE], sel->prewhere);
	if (sel->where)
		ex(p, s, &cl[C_WHERE], sel->where);
	if (sel->has_group_by && sel->group_by.n)
		for (size_t i = 0; i < sel->group_by.n && !p->rc; i++) {
			if (i)
				out(p, &cl[C_GROUP], ", ");
			by_item(p, s, &cl[C_GROUP], sel->group_by.items[i]);
		}
	if (sel->having)
		ex(p, s, &cl[C_HAVING], sel->having);
	if (sel->has_order_by)
		order_list(p, s, &cl[C_ORDER], &sel->order_by);
	if (sel->limit_by) {
		const struct sn_hogql_node *lb = sel->limit_by;
		out(p, &cl[C_LIMITBY], " LIMIT ");
		ex(p, s, &cl[C_LIMITBY], lb->a);
		if (lb->b) {
			if (p->v18)
				NOTIMPL(p, lb->b,
					"LIMIT ... OFFSET ... BY is not available on "
					"ClickHouse %s",
					vname(p));
			out(p, &cl[C_LIMITBY], " OFFSET ");
			ex(p, s, &cl[C_LIMITBY], lb->b);
		}
		out(p, &cl[C_LIMITBY], " BY ");
		exlist(p, s, &cl[C_LIMITBY], &lb->list);
	}
	if (sel->limit) {
		if (p->v18 && (!is_const(sel->limit) || sel->limit->ctype != SN_HQC_INT)) {
			NOTIMPL(p, sel->limit, "LIMIT must be a number on ClickHouse %s", vname(p));
			goto out;
		}
		out(p, &cl[C_LIMIT], " LIMIT ");
		ex(p, s, &cl[C_LIMIT], sel->limit);
		if (sel->limit_with_ties)
			out(p, &cl[C_LIMIT], " WITH TIES");
		if (sel->offset) {
			if (p->v18 &&
			    (!is_const(sel->offset) || sel->offset->ctype != SN_HQC_INT)) {
				NOTIMPL(p, sel->offset, "OFFSET must be a number on ClickHouse %s",
					vname(p));
				goto out;
			}
			out(p, &cl[C_LIMIT], " OFFSET ");
			ex(p, s, &cl[C_LIMIT], sel->offset);
		}
	}
	if (p->rc)
		goto out;
	/* Phase 3: FROM with lazy joins, guards. */
	for (size_t i = 0; i < s->n; i++) {
		const node_t *j = s->src[i].j;
		if (i) {
			const char *op = j->op ? j->op : "JOIN";
			if (p->v18 &&
			    (strstr(op, "SEMI") || strstr(op, "ANTI") || strstr(op, "ASOF") ||
			     strstr(op, "RIGHT") || strstr(op, "FULL")))
				NOTIMPL(p, j, "%s is not available on ClickHouse %s", op, vname(p));
			out(p, &cl[C_FROM], " ");
			join_op(p, &cl[C_FROM], op);
			out(p, &cl[C_FROM], " ");
		}
		print_source(p, &cl[C_FROM], &s->src[i]);
		bufcat(p, &cl[C_FROM], &on[i]);
	}
	size_t nguards = 0;
	for (size_t i = s->n; i-- > 0;) {
		if (!guarded_here(&s->src[i]))
			continue;
		if (nguards++)
			out(p, &cl[C_TMP], ", ");
		guard(p, &cl[C_TMP], s->src[i].sql[0] ? s->src[i].sql : s->src[i].t->name);
	}
	/* assemble */
	out(p, b, sel->distinct ? "SELECT DISTINCT " : "SELECT ");
	bufcat(p, b, &cl[C_SEL]);
	if (s->n) {
		out(p, b, " FROM ");
		bufcat(p, b, &cl[C_FROM]);
	}
	if (cl[C_AJ].len) {
		out(p, b, " ");
		bufcat(p, b, &cl[C_AJ]);
	}
	if (cl[C_PREWHERE].len) {
		out(p, b, " PREWHERE ");
		bufcat(p, b, &cl[C_PREWHERE]);
	}
	if (nguards || cl[C_WHERE].len) {
		out(p, b, " WHERE ");
		bool and = nguards + (cl[C_WHERE].len ? 1 : 0) > 1;
		if (and)
			out(p, b, "and(");
		bufcat(p, b, &cl[C_TMP]);
		if (nguards && cl[C_WHERE].len)
			out(p, b, ", ");
		bufcat(p, b, &cl[C_WHERE]);
		if (and)
			out(p, b, ")");
	}
	if (cl[C_GROUP].len || (sel->group_by_mode && strcmp(sel->group_by_mode, "all") == 0)) {
		out(p, b, " GROUP BY ");
		if (sel->group_by_mode && strcmp(sel->group_by_mode, "all") == 0)
			out(p, b, "ALL");
		bufcat(p, b, &cl[C_GROUP]);
		if (sel->group_by_mode && strcmp(sel->group_by_mode, "all") != 0)
			outf(p, b, " WITH %s",
			     strcmp(sel->group_by_mode, "cube") == 0 ? "CUBE" : "ROLLUP");
	}
	if (cl[C_HAVING].len) {
		out(p, b, " HAVING ");
		bufcat(p, b, &cl[C_HAVING]);
	}
	if (cl[C_ORDER].len) {
		out(p, b, " ORDER BY ");
		bufcat(p, b, &cl[C_ORDER]);
	}
	bufcat(p, b, &cl[C_LIMITBY]);
	bufcat(p, b, &cl[C_LIMIT]);
out:
	for (size_t i = 0; i < s->n; i++) {
		sn_buf_release(&s->src[i].text);
		if (on)
			sn_buf_release(&on[i]);
	}
	free(on);
	for (size_t i = 0; i < SN_ARRAY_LEN(cl); i++)
		sn_buf_release(&cl[i]);
	free(s);
}

static void statement(struct chp *p, struct pscope *parent, struct sn_buf *b, const node_t *n)
{
	if (p->rc)
		return;
	if (++p->depth > SN_HOGQL_MAX_DEPTH * 4) {
		NOTIMPL(p, n, "Query nests too deeply");
		return;
	}
	if (n->kind == SN_HQ_SELECT) {
		select_query(p, parent, b, n);
	} else if (n->kind == SN_HQ_SELECT_SET) {
		bool paren = n->a->kind == SN_HQ_SELECT_SET;
		out(p, b, paren ? "(" : "");
		statement(p, parent, b, n->a);
		out(p, b, paren ? ")" : "");
		for (size_t i = 0; i < n->list.n && !p->rc; i++) {
			const node_t *m = n->list.items[i];
			const char *op = m->op ? m->op : "UNION ALL";
			if (p->v18 && strcmp(op, "UNION ALL") != 0) {
				NOTIMPL(p, m->a,
					"%s is not available on ClickHouse %s (only UNION ALL)", op,
					vname(p));
				break;
			}
			outf(p, b, " %s ", op);
			paren = m->a->kind == SN_HQ_SELECT_SET;
			out(p, b, paren ? "(" : "");
			statement(p, parent, b, m->a);
			out(p, b, paren ? ")" : "");
		}
	} else {
		ex(p, parent, b, n);
	}
	p->depth--;
}

int sn_hogql_print_clickhouse(struct sn_arena *a, const struct sn_hogql_node *root,
			      const struct sn_hogql_ch_opts *opts, struct sn_buf *sql,
			      struct sn_hogql_ch_values *values, const char *src, size_t len,
			      struct sn_hogql_error *err)
{
	struct sn_hogql_error dummy;
	struct sn_hogql_ch_opts def = {.team_id = 0};
	if (!opts)
		opts = &def;
	struct chp p = {
	    .a = a,
	    .o = opts,
	    .v18 = opts->ch_major > 0 && (opts->ch_major < 19),
	    .team = opts->team_id,
	    .vals = values,
	    .err = err ? err : &dummy,
	    .src = src,
	    .len = len,
	    .bufmax = sql->max ? sql->max : ((size_t)64 << 20),
	};
	memset(p.err, 0, sizeof(*p.err));
	snprintf(p.version, sizeof(p.version), "%d.%d", opts->ch_major, opts->ch_minor);
	if (!root || (root->kind != SN_HQ_SELECT && root->kind != SN_HQ_SELECT_SET)) {
		QERR(&p, root, "Only SELECT statements can be printed for ClickHouse");
		return p.rc;
	}
	size_t mark = sql->len;
	statement(&p, NULL, sql, root);
	if (p.rc) {
		if (p.rc != SN_ERR_INVALID) {
			p.err->type = "QueryError";
			snprintf(p.err->msg, sizeof(p.err->msg), "%s",
				 p.rc == SN_ERR_NOMEM ? "Query needs more memory than allowed"
						      : "Printed query is too long");
		}
		sql->len = mark;
		if (sql->data)
			sql->data[mark] = 0;
	}
	return p.rc;
}

/* ---- values ------------------------------------------------------------------- */

int sn_hogql_ch_quote(struct sn_buf *out, const char *s, size_t len)
{
	int rc = sn_buf_appendc(out, '\'');
	for (size_t i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\'' || c == '\\') {
			char e[2] = {'\\', (char)c};
			rc = sn_buf_append(out, e, 2);
		} else if (c == 0) {
			rc = sn_buf_append(out, "\\0", 2);
		} else if (c == '\n') {
			rc = sn_buf_append(out, "\\n", 2);
		} else if (c == '\r') {
			rc = sn_buf_append(out, "\\r", 2);
		} else if (c == '\t') {
			rc = sn_buf_append(out, "\\t", 2);
		} else if (c < 0x20) {
			char e[5];
			snprintf(e, sizeof(e), "\\x%02x", c);
			rc = sn_buf_append(out, e, 4);
		} else {
			rc = sn_buf_appendc(out, (char)c);
		}
	}
	return rc ? rc : sn_buf_appendc(out, '\'');
}

int sn_hogql_ch_inline(struct sn_buf *out, const char *sql, size_t len,
		       const struct sn_hogql_ch_values *values)
{
	static const char pre[] = "%(hogql_val_";
	char quote = 0; /* inside '...' or `...` */
	size_t i = 0, lit = 0;
	int rc = 0;
	while (i < len && rc == 0) {
		char c = sql[i];
		if (quote) {
			if (c == '\\' && i + 1 < len) {
				i += 2;
				continue;
			}
			if (c == quote)
				quote = 0;
			i++;
			continue;
		}
		if (c == '\'' || c == '`' || c == '"') {
			quote = c;
			i++;
			continue;
		}
		if (c == '%' && len - i > sizeof(pre) - 1 &&
		    memcmp(sql + i, pre, sizeof(pre) - 1) == 0) {
			size_t k = i + sizeof(pre) - 1, idx = 0;
			bool digits = false;
			while (k < len && sql[k] >= '0' && sql[k] <= '9' && idx < (1u << 30)) {
				idx = idx * 10 + (size_t)(sql[k] - '0');
				k++;
				digits = true;
			}
			if (digits && k + 1 < len && sql[k] == ')' && sql[k + 1] == 's') {
				if (!values || idx >= values->n)
					return SN_ERR_INVALID;
				rc = sn_buf_append(out, sql + lit, i - lit);
				if (rc == 0)
					rc = sn_hogql_ch_quote(out, values->items[idx],
							       strlen(values->items[idx]));
				i = lit = k + 2;
				continue;
			}
		}
		i++;
	}
	if (rc == 0 && len > lit)
		rc = sn_buf_append(out, sql + lit, len - lit);
	return rc;
}
