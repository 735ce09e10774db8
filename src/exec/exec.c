/*
 * exec.c — the query driver: plan one SELECT over `events`, scan the
 * parts of one team with granule pruning, feed batches to projection or
 * aggregation, then DISTINCT, ORDER BY and OFFSET/LIMIT.
 *
 * Plan. The statement shape is checked first (one SELECT over one table,
 * subquery or CTE ...; a statement with window functions is split in two
 * around a window stage first, see window.c; a subquery or CTE in FROM is
 * materialised right there, see subquery.c, and a chain of explicit JOINs
 * is joined into one such table, see hashjoin.c), then every expression is walked to list the
 * columns and property keys it reads, marking those WHERE needs. Top-level
 * AND terms of WHERE that bound `timestamp` or `toDate(timestamp)` by
 * constants become a time range for pruning. Finally every expression is
 * evaluated once over an empty batch: that types the result columns (so a
 * query over no data still has types) and reports unsupported constructs
 * and type errors whether or not any row exists.
 *
 * Scan. The parts come from one store snapshot taken when the scan starts
 * (sn_store_snapshot_open_dir): a merge or deletion that commits meanwhile
 * is seen wholly or not at all, and the parts stay readable until the
 * snapshot is released. For each part, sn_part_granules_for_team gives the granule range
 * that can hold the team within the day range; granules whose min/max
 * timestamp miss the range are skipped; the rest are read in runs of a few
 * granules (opts.run_granules). Per run (its scratch arena is reset, not
 * freed, between runs):
 *
 *   team_id ─▶ rows of the team (idx0) ─▶ WHERE columns, gathered ─▶ WHERE
 *          ─▶ matching rows (idx) ─▶ other columns, gathered ─▶ batch
 *
 * so columns only the projection needs are not even decoded for runs in
 * which nothing matches, and no expression ever sees another team's row.
 * A WHERE that is an AND of terms goes term by term (where_terms): the
 * term whose columns decode fewest blocks first, each later one reading
 * its columns only at the rows still in and in the granules holding them,
 * none once no row is left.
 *
 * What the sparse index answers per run, without reading a column:
 * WHERE's time bounds and event terms (`event = 'x'`, `event IN (...)`,
 * an OR of them) where every granule of the run lies inside them (and a
 * granule whose events all miss an event term is not read); and run
 * constants outside WHERE (run_consts): a time bucket of timestamp
 * (toStartOfDay(timestamp) ...) when the run's earliest and latest times
 * fall in one bucket, an expression of event alone when the run holds one
 * event. A trend over days then reads no timestamp at all on most runs
 * (runs are cut at UTC days when the statement has time buckets; a zone
 * at another offset finds one bucket less often and reads it). The event
 * uuid and person_id columns stay 128-bit values (vec.u) until a reader
 * asks for their text, and a streamed select item takes the bits.
 * Each run has its own scratch arena, released after the run; what
 * outlives it (group keys, result rows) is copied to the query arena.
 *
 * Person fields over many granules: the whole team's persons are read
 * before the scan splits (join_freeze_persons) and shared read-only, so a
 * lifecycle or a person-property breakdown also runs on every core.
 *
 * Rows. Without ORDER BY, the scan stops once OFFSET + LIMIT + 1 rows
 * exist (the +1 answers hasMore). With ORDER BY only the best
 * OFFSET + LIMIT + 1 rows are kept, in a max-heap whose root is the worst
 * row kept: a new row is compared with the root on the batch's vectors and
 * copied only when it is better (top-N). Every row carries its arrival
 * number as the last sort key, so ties keep scan order and the result is
 * exactly that of sorting all rows. The heap's strings live in an arena
 * of their own that is compacted when replaced rows leave most of it
 * garbage; ordering 900k events by timestamp for LIMIT 3 went from 490 MB
 * to 23 MB.
 *
 * Streaming. With opts->row_sink, the query's own plain read of events
 * (no aggregation, ORDER BY, DISTINCT or OFFSET) does not collect rows:
 * each batch's select columns go to the sink as the scan produces them
 * (emit_sink), from every scanner thread, each with its worker number and
 * without a lock around the consumer (only the LIMIT count is shared).
 * Any other statement is collected and handed over once at the end. The
 * row-reading insights (funnels, paths, lifecycle) reduce millions of rows
 * this way without the three copies a result table cost them. With
 * opts->col_sink a streamed batch goes over as its columns, so the
 * consumer converts each value once (no row of executor values between).
 *
 * Sources. FROM events scans parts as above; the person store's tables
 * (persons, person_distinct_ids, groups) and the lazy joins of events to
 * them are join.c's; the derived sessions table and events.session are
 * sessions.c's (a generated aggregate over events, built before the scan
 * so a split scan shares it); a materialised subquery or CTE is subquery.c's, and
 * so is the one row of a SELECT without FROM (from_one: ClickHouse's
 * system.one, a table of one row and no columns the query can name). Each
 * statement (the query, a member of its UNION ALL, any nested SELECT) runs
 * in its own context through exec_select().
 *
 * Rejected alternative: evaluating expressions row at a time over a
 * decoded row struct. Simpler, but it re-dispatches on node kind per row
 * and per node; vectors keep the per-row work to tight loops.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "exec/agg.h"

#define MAX_SELECT	 256
#define MAX_ORDER	 32
#define MAX_ELIDE	 8
#define MAX_ELIDE_EVENTS 16 /* events of one index-answerable event term */
/* A row read (no aggregation) splits over cores only when it wants this
 * many rows: a small LIMIT is met by the first runs of one thread. */
#define SPLIT_MIN_ROWS 10000
/* A scan reading person fields splits over cores only when it has this
 * many runs of granules and the team at most this many persons (they are
 * all read first, see join_freeze_persons). */
#define FREEZE_MIN_RUNS	   16
#define FREEZE_MAX_PERSONS 1000000

/* Result rows: select columns, ORDER BY keys, LIMIT BY keys, then the
 * row's arrival number, always the last value (ties in ORDER BY keep
 * arrival order, so top-N and a full sort agree exactly). With ORDER BY the rows form a max-heap by
 * row_cmp of at most keep = OFFSET + LIMIT + 1 rows whose strings live in sa. */
struct rows {
	struct sn_exec_value *v; /* n * width, malloc'd (realloc grows it in place) */
	size_t n, cap, width;
	uint64_t seq;
	bool heap; /* v is a heap: made once keep rows exist (appends before) */
	size_t keep;
	struct sn_arena sa; /* strings of heap rows */
	bool sa_init;
	size_t live_bytes, used_bytes;	  /* string bytes in heap rows / copied into sa */
	struct sn_exec_value *cand, *tmp; /* width values each */
};

struct plan {
	const struct sn_hogql_select *sel;
	bool top; /* LIMIT defaults apply (§4.7); nested statements are unlimited */
	bool agg;
	bool dgroups; /* SELECT DISTINCT run as GROUP BY its select items (plan_and_run) */
	struct aggrun g;
	int64_t limit, offset;
	int64_t ts_lo, ts_hi; /* inclusive µs bounds from WHERE */
	/* SAMPLE in rows, resolved by scan() (sample_where, sample_resolve) */
	node_t *sample;
	const node_t *sample_node;
	double sample_k, sample_o;
	/* Top-level WHERE terms the sparse index can answer per granule:
	 * `timestamp op constant` (exactly, in the query's zone; a granule whose
	 * timestamps all lie in [elide_lo, elide_hi] satisfies every such term)
	 * and `event = 'constant'` (rows sort by team, day, event: a granule
	 * between two index entries of one day holds only events between
	 * theirs). A run of granules where a term is known true skips it and
	 * may not read its column; a granule where an event term is known
	 * false is not read at all. */
	const node_t *elide[MAX_ELIDE];
	/* The events of an event term (`event = 'x'`, `event IN (...)`, an OR
	 * of those), else none */
	const char **elide_ev[MAX_ELIDE]; /* in the query arena */
	size_t elide_nev[MAX_ELIDE];
	size_t nelide;
	uint32_t time_mask; /* bits of the time terms */
	int64_t elide_lo, elide_hi;
	/* Run constants outside WHERE: time buckets, a monotonic time function
	 * of timestamp (toStartOfDay(timestamp), toDate(timestamp), ...), and
	 * expressions of event alone (bucket_ev). Where a run's granules'
	 * times fall in one bucket, or the run holds one event, each is one
	 * value for the whole run (run_consts), and its column is not read
	 * when nothing else needs it. With time buckets, runs are cut where a
	 * granule's times leave the day of the previous one (UTC days; zones
	 * at another offset rarely find one bucket and read timestamp). */
	const node_t *bucket[XMAX_BUCKETS];
	bool bucket_ev[XMAX_BUCKETS]; /* an expression of event alone, not a time bucket */
	size_t nbucket, nbucket_ts;   /* all, time buckets */
	const node_t *order[MAX_ORDER];
	bool desc[MAX_ORDER], nulls_first[MAX_ORDER];
	/* LIMIT n WITH TIES: the rows equal to the n-th on the ORDER BY keys
	 * come too (all rows are kept for the sort: no top-N) */
	bool ties;
	size_t norder;
	/* LIMIT n OFFSET m BY keys: after ORDER BY, of the rows with equal
	 * keys only the (m+1)-th to (m+n)-th stay (finish); then OFFSET and
	 * LIMIT. With it no row can be dropped before the end (want). */
	const node_t *lby[MAX_ORDER];
	size_t nlby;
	int64_t lby_n, lby_off;
	size_t want; /* rows collected before the scan may stop: OFFSET + LIMIT + 1 */
	/* ARRAY JOIN and arrayJoin(): the statement's rows are multiplied
	 * before WHERE (aj_expand); the calls by text, inner ones first, and
	 * every occurrence with its call's index. */
	bool has_aj;
	const char *aj_text[XMAX_AJ];
	size_t naj_calls;
	const node_t *aj_node[XMAX_AJ];
	uint8_t aj_call_of[XMAX_AJ];
	size_t naj_nodes;
	size_t nsel;
	uint8_t col_t[MAX_SELECT];
	bool col_nullable[MAX_SELECT];
	struct rows rows;
	struct gtab distinct;
	struct sn_buf scratch;
	bool done;	    /* enough rows for LIMIT */
	struct xsink *sink; /* the rows stream to opts->row_sink (top statement only) */
	unsigned worker;    /* this scanner's number for row_sink: 0 = the query's thread */
};

/* opts->row_sink's state, shared by the scanner threads of the streaming
 * statement: the lock guards the LIMIT count and the stop flag; the
 * consumer's calls run outside it (each scanner has its own worker). */
struct xsink {
	int (*fn)(void *ctx, unsigned worker, const struct sn_exec_value *rows, size_t nrows,
		  size_t ncols);
	int (*cols)(void *ctx, unsigned worker, const struct sn_exec_column *cols, size_t ncols,
		    size_t nrows); /* opts->col_sink */
	void *ctx;
	pthread_mutex_t mu;
	size_t nrows;	/* rows handed over */
	bool has_more;	/* LIMIT cut rows */
	bool stop;	/* LIMIT reached or the consumer failed: scanners stop */
	bool streamed;	/* the top statement streamed (else it is handed over at the end) */
	bool uuid_bits; /* opts->row_sink_uuid_bits */
};

/* ---- tree walks -------------------------------------------------------------------- */

typedef int (*visit_fn)(struct xctx *c, struct plan *p, const node_t *n, void *arg);

static int walk(struct xctx *c, struct plan *p, const node_t *n, visit_fn fn, void *arg);

static int walk_list(struct xctx *c, struct plan *p, const struct sn_hogql_list *l, visit_fn fn,
		     void *arg)
{
	for (size_t i = 0; i < l->n && !c->rc; i++)
		walk(c, p, l->items[i], fn, arg);
	return c->rc;
}

/* Calls fn on n; fn returns 1 to stop descending, 0 to continue. */
static int walk(struct xctx *c, struct plan *p, const node_t *n, visit_fn fn, void *arg)
{
	if (!n || c->rc)
		return c->rc;
	int r = fn(c, p, n, arg);
	if (r)
		return r < 0 ? c->rc : 0;
	if (n->kind == SN_HQ_SELECT || n->kind == SN_HQ_SELECT_SET)
		return 0; /* subqueries are rejected when evaluated */
	walk(c, p, n->a, fn, arg);
	walk(c, p, n->b, fn, arg);
	walk(c, p, n->c, fn, arg);
	walk(c, p, n->d, fn, arg);
	walk_list(c, p, &n->list, fn, arg);
	walk_list(c, p, &n->list2, fn, arg);
	walk_list(c, p, &n->list3, fn, arg);
	return c->rc;
}

char *xnode_text(struct xctx *c, const node_t *n)
{
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	char *out = NULL;
	if (sn_hogql_print_expr(&b, n) >= 0)
		out = sn_arena_strdup(c->qa, b.data ? b.data : "");
	sn_buf_release(&b);
	if (!out)
		xnomem(c);
	return out;
}

/* ---- columns ---------------------------------------------------------------------------- */

static const char *const GROUP_COLS[SN_GROUP_TYPES_MAX] = {"$group_0", "$group_1", "$group_2",
							   "$group_3", "$group_4"};

/* Adds the column r (and the columns a join reads its key from, first)
 * and returns its index, or -1 on error. */
/* Where a column is read from: outside WHERE, a WHERE term the sparse
 * index may answer (elided; bit is its bit in plan.elide), another WHERE
 * term. */
enum use { USE_OUT, USE_ELIDED, USE_REST, USE_BUCKET };

static int add_col(struct xctx *c, const node_t *at, const struct xref *r, enum use use,
		   uint32_t bit)
{
	bool in_where = use != USE_OUT && use != USE_BUCKET;
	struct xref base = {0};
	int dep = -1;
	switch (r->kind) {
	case XC_PERSON_ID:
		base = (struct xref){.kind = XC_STORE, .name = SN_COL_NAME_PERSON_ID};
		break;
	case XC_PERSON: base = (struct xref){.kind = XC_PERSON_ID, .name = "person_id"}; break;
	case XC_PDI:
		/* an INNER join drops rows before WHERE sees them */
		in_where = true;
		use = USE_REST;
		base = (struct xref){.kind = XC_STORE, .name = SN_COL_NAME_DISTINCT_ID};
		break;
	case XC_GROUP: base = (struct xref){.kind = XC_STORE, .name = GROUP_COLS[r->gidx]}; break;
	case XC_SESSION:
		base = (struct xref){.kind = XC_STORE, .name = SN_COL_NAME_SESSION_ID};
		break;
	default: break;
	}
	if (base.name && (dep = add_col(c, at, &base, use, bit)) < 0)
		return -1;
	int i = xcol_find(c, r);
	if (i >= 0) {
		c->cols[i].in_where |= in_where;
		c->cols[i].use_rest |= use == USE_REST;
		c->cols[i].use_out |= use == USE_OUT;
		c->cols[i].use_bucket |= use == USE_BUCKET;
		c->cols[i].elide_uses |= use == USE_ELIDED ? bit : 0;
		c->cols[i].term_uses |= c->cur_term_bit;
		return i;
	}
	if (c->ncols >= XMAX_COLS) {
		xfail(c, at, SN_ERR_INVALID, "QueryError",
		      "Query reads too many columns (at most %d)", XMAX_COLS);
		return -1;
	}
	struct xcol *x = &c->cols[c->ncols];
	memset(x, 0, sizeof(*x));
	x->kind = r->kind;
	x->name = r->name;
	x->key = r->key;
	x->gidx = r->gidx;
	x->dep = dep;
	x->in_where = in_where;
	x->use_rest = use == USE_REST;
	x->use_out = use == USE_OUT;
	x->use_bucket = use == USE_BUCKET;
	x->term_uses = c->cur_term_bit;
	x->elide_uses = use == USE_ELIDED ? bit : 0;
	x->is_prop = r->kind == XC_PROP;
	x->whole_props = r->kind == XC_PROPS;
	const char *name = r->name;
	if (r->kind == XC_PROP) {
		x->t = SN_XT_STRING;
		x->nullable = true;
	} else if (r->kind == XC_PROPS) {
		x->t = SN_XT_STRING;
	} else if (r->kind == XC_SUB) {
		x->t = c->sub->t[r->gidx];
		x->nullable = c->sub->nullable[r->gidx];
		x->ct = c->sub->ct ? c->sub->ct[r->gidx] : NULL;
	} else if (r->kind != XC_STORE) {
		xref_type(r, &x->t, &x->nullable);
	} else if (strcmp(name, SN_COL_NAME_UUID) == 0 ||
		   strcmp(name, SN_COL_NAME_PERSON_ID) == 0) {
		x->t = SN_XT_UUID;
	} else if (strcmp(name, SN_COL_NAME_TEAM_ID) == 0) {
		x->t = SN_XT_INT;
	} else if (strcmp(name, SN_COL_NAME_TIMESTAMP) == 0 ||
		   strcmp(name, SN_COL_NAME_CREATED_AT) == 0) {
		x->t = SN_XT_DATETIME;
	} else {
		x->t = SN_XT_STRING;
		x->nullable = strcmp(name, SN_COL_NAME_SESSION_ID) == 0 ||
			      strcmp(name, SN_COL_NAME_WINDOW_ID) == 0;
	}
	return (int)c->ncols++;
}

static bool is_ts(const node_t *n);

/* A time bucket of plan.bucket: a call of a function monotonic in its
 * instant whose first argument is events.timestamp (or toTimeZone of it)
 * and whose other arguments are constants. */
static bool is_bucket(const node_t *n)
{
	static const char *const mono[] = {
	    "toStartOfDay",  "toStartOfWeek",  "toStartOfISOWeek",
	    "toMonday",	     "toStartOfMonth", "toStartOfQuarter",
	    "toStartOfYear", "toDate",	       "toStartOfHour",
	};
	if (n->kind != SN_HQ_CALL || n->list.n < 1 || n->list2.n || n->list3.n || n->a || n->flag)
		return false;
	bool known = false;
	for (size_t i = 0; i < SN_ARRAY_LEN(mono) && !known; i++)
		known = strcmp(n->name, mono[i]) == 0;
	if (!known)
		return false;
	for (size_t i = 1; i < n->list.n; i++)
		if (n->list.items[i]->kind != SN_HQ_CONSTANT)
			return false;
	const node_t *t = n->list.items[0];
	if (t->kind == SN_HQ_CALL && strcmp(t->name, "toTimeZone") == 0 && t->list.n == 2 &&
	    !t->list2.n && t->list.items[1]->kind == SN_HQ_CONSTANT)
		t = t->list.items[0];
	return is_ts(t);
}

static bool one_column(struct xctx *c, const node_t *n, bool event, struct xref *ref, bool *have);

static int visit_cols(struct xctx *c, struct plan *p, const node_t *n, void *arg)
{
	enum use use = (enum use)((uintptr_t)arg & 0xff);
	uint32_t bit = (uint32_t)((uintptr_t)arg >> 8);
	bool ev = false;
	struct xref evref;
	if (use == USE_OUT && !c->sub && strcmp(c->from, "events") == 0 &&
	    (is_bucket(n) || (one_column(c, n, true, &evref, &ev) && ev))) {
		size_t k = 0;
		while (k < p->nbucket && p->bucket[k] != n)
			k++;
		if (k == p->nbucket && k < XMAX_BUCKETS) {
			struct xref r = {.kind = XC_STORE,
					 .name = ev ? SN_COL_NAME_EVENT : SN_COL_NAME_TIMESTAMP};
			if (add_col(c, n, &r, USE_BUCKET, 0) < 0)
				return -1;
			p->bucket_ev[p->nbucket] = ev;
			p->bucket[p->nbucket++] = n;
			p->nbucket_ts += !ev;
			return 1;
		}
		if (k < p->nbucket)
			return 1;
	}
	if (n->kind == SN_HQ_FIELD && n->ref_kind == SN_HQR_ALIAS) {
		const node_t *t = xfollow_alias(c, n);
		if (t != n && c->depth < XMAX_DEPTH) {
			c->depth++;
			walk(c, p, t, visit_cols, arg);
			c->depth--;
		}
		return 1;
	}
	struct xref r;
	int k = xref_of(c, n, &r);
	if (k < 0)
		return -1;
	if (k > 0)
		return add_col(c, n, &r, use, bit) < 0 ? -1 : 1;
	return 0;
}

/* ---- time range from WHERE --------------------------------------------------------- */

static bool is_ts(const node_t *n)
{
	const char *col = n ? field_column(n) : NULL;
	return col && strcmp(col, SN_COL_NAME_TIMESTAMP) == 0;
}

static bool is_todate_ts(const node_t *n)
{
	return n && n->kind == SN_HQ_CALL && strcmp(n->name, "toDate") == 0 && n->list.n == 1 &&
	       is_ts(n->list.items[0]);
}

static bool const_time(const node_t *n, int64_t *us, bool *date_only)
{
	if (n && n->kind == SN_HQ_CALL && n->list.n == 1 &&
	    (strcmp(n->name, "toDateTime") == 0 || strcmp(n->name, "toDate") == 0))
		n = n->list.items[0];
	if (!n || n->kind != SN_HQ_CONSTANT || n->ctype != SN_HQC_STRING)
		return false;
	return parse_datetime(n->sval, strlen(n->sval), us, date_only);
}

/* An expression of constants alone: no column, aggregate, lambda or window
 * function. With statements, a subquery counts as a constant (window.c: such
 * an expression stays in the outer statement as it is, `x IN (1, 2)` keeps
 * its tuple); without, a subquery or an arrayJoin is not one (the planner
 * evaluates the expression on its own, eval_time). */
bool xconst_tree(const node_t *n, bool statements)
{
	if (!n)
		return true;
	switch (n->kind) {
	case SN_HQ_SELECT:
	case SN_HQ_SELECT_SET: return statements;
	case SN_HQ_CONSTANT: return true;
	case SN_HQ_FIELD:
	case SN_HQ_ARRAY_ACCESS:
	case SN_HQ_WINDOW_FUNCTION:
	case SN_HQ_PLACEHOLDER:
	case SN_HQ_LAMBDA: return false;
	case SN_HQ_CALL:
		if (is_aggregate_call(n) || (!statements && strcmp(n->name, "arrayJoin") == 0))
			return false;
		break;
	default: break;
	}
	if (!xconst_tree(n->a, statements) || !xconst_tree(n->b, statements) ||
	    !xconst_tree(n->c, statements) || !xconst_tree(n->d, statements))
		return false;
	const struct sn_hogql_list *ls[] = {&n->list, &n->list2, &n->list3};
	for (size_t k = 0; k < 3; k++)
		for (size_t i = 0; i < ls[k]->n; i++)
			if (!xconst_tree(ls[k]->items[i], statements))
				return false;
	return true;
}

/* The value of a constant DateTime or Date expression other than plain
 * text (toDateTime('…', 'UTC'), toDateTime64(…), now() - INTERVAL 7 DAY,
 * assumeNotNull(…)), evaluated once on one row as the executor evaluates
 * it per batch: a DateTime is an exact instant, a Date its midnight (UTC;
 * *date_only). false for anything else, and when evaluation fails — the
 * error is then left for execution to report, with nothing pruned. */
static bool eval_time(struct xctx *c, const node_t *n, int64_t *us, bool *date_only)
{
	if (!n || n->kind == SN_HQ_CONSTANT || !xconst_tree(n, false))
		return false;
	struct sn_hogql_error saved;
	if (c->err)
		saved = *c->err;
	int rc0 = c->rc;
	size_t n0 = c->n;
	struct sn_arena *ba0 = c->ba;
	c->n = 1;
	c->ba = c->qa;
	struct vec v;
	int rc = xeval(c, n, &v);
	c->n = n0;
	c->ba = ba0;
	if (rc || c->rc) {
		if (c->err)
			*c->err = saved;
		c->rc = rc0;
		return false;
	}
	if ((v.nulls && v.nulls[0]) || (v.t != SN_XT_DATETIME && v.t != SN_XT_DATE))
		return false;
	*date_only = v.t == SN_XT_DATE;
	*us = *date_only ? v.i[0] * (86400LL * 1000000) : v.i[0];
	return true;
}

static void bound(struct xctx *c, struct plan *p, const node_t *lhs, const char *op,
		  const node_t *rhs)
{
	static const int64_t day = 86400LL * 1000000;
	int64_t us;
	bool date_only;
	if (!is_ts(lhs) && !is_todate_ts(lhs))
		return;
	if (!const_time(rhs, &us, &date_only) && !eval_time(c, rhs, &us, &date_only))
		return;
	int64_t lo = INT64_MIN, hi = INT64_MAX;
	if (is_ts(lhs)) {
		if (strcmp(op, ">=") == 0)
			lo = us;
		else if (strcmp(op, ">") == 0)
			lo = us + 1;
		else if (strcmp(op, "<") == 0)
			hi = us - 1;
		else if (strcmp(op, "<=") == 0)
			hi = us;
		else if (strcmp(op, "==") == 0)
			lo = hi = us;
	} else if (is_todate_ts(lhs) && date_only) {
		int64_t d = floor_div(us, day);
		if (strcmp(op, ">=") == 0)
			lo = d * day;
		else if (strcmp(op, ">") == 0)
			lo = (d + 1) * day;
		else if (strcmp(op, "<") == 0)
			hi = d * day - 1;
		else if (strcmp(op, "<=") == 0)
			hi = (d + 1) * day - 1;
		else if (strcmp(op, "==") == 0) {
			lo = d * day;
			hi = (d + 1) * day - 1;
		}
	}
	if (lo > p->ts_lo)
		p->ts_lo = lo;
	if (hi < p->ts_hi)
		p->ts_hi = hi;
}

static void time_range(struct xctx *c, struct plan *p, const node_t *w)
{
	if (!w)
		return;
	if (w->kind == SN_HQ_AND) {
		for (size_t i = 0; i < w->list.n; i++)
			time_range(c, p, w->list.items[i]);
	} else if (w->kind == SN_HQ_COMPARE) {
		static const char *const flip[][2] = {
		    {">=", "<="}, {">", "<"}, {"<=", ">="}, {"<", ">"}, {"==", "=="}};
		bound(c, p, w->a, w->op, w->b);
		for (size_t i = 0; i < SN_ARRAY_LEN(flip); i++)
			if (strcmp(w->op, flip[i][0]) == 0)
				bound(c, p, w->b, flip[i][1], w->a);
	} else if (w->kind == SN_HQ_BETWEEN && !w->flag) {
		bound(c, p, w->a, ">=", w->b);
		bound(c, p, w->a, "<=", w->c);
	}
}

/* The instant a constant side of a timestamp comparison denotes, as the
 * executor reads it: zone-less text in the query's zone, directly or
 * through a one-argument toDateTime; or any other constant DateTime
 * expression (eval_time). */
static bool exact_instant(struct xctx *c, const node_t *n, int64_t *us)
{
	bool date_only;
	if (n->kind == SN_HQ_CALL && strcmp(n->name, "toDateTime") == 0 && n->list.n == 1)
		n = n->list.items[0];
	if (n->kind != SN_HQ_CONSTANT || n->ctype != SN_HQC_STRING)
		return eval_time(c, n, us, &date_only) && !date_only;
	const struct sn_tz *z = xzone(c, n);
	if (!z) {
		c->rc = 0; /* not a bound then; the executor reports a bad zone itself */
		return false;
	}
	return xparse_instant(z, n->sval, strlen(n->sval), us, &date_only);
}

/* Whether term is `timestamp op constant` (either way round); its exact
 * bound narrows [*lo, *hi]. */
static bool exact_bound(struct xctx *c, const node_t *term, int64_t *lo, int64_t *hi)
{
	if (term->kind != SN_HQ_COMPARE)
		return false;
	static const char *const ops[] = {">=", ">", "<=", "<"};
	int op = -1;
	for (int i = 0; i < 4; i++)
		if (strcmp(term->op, ops[i]) == 0)
			op = i;
	if (op < 0)
		return false;
	int64_t us;
	if (is_ts(term->a) && exact_instant(c, term->b, &us)) {
		/* timestamp op X */
	} else if (is_ts(term->b) && exact_instant(c, term->a, &us)) {
		op ^= 2; /* X op timestamp: flip >= and <=, > and < */
	} else {
		return false;
	}
	switch (op) {
	case 0: *lo = us > *lo ? us : *lo; break;
	case 1: *lo = us + 1 > *lo ? us + 1 : *lo; break;
	case 2: *hi = us < *hi ? us : *hi; break;
	default: *hi = us - 1 < *hi ? us - 1 : *hi; break;
	}
	return true;
}

/* The constant of `event = 'constant'` (either way round), or NULL. */
static const char *event_eq(const node_t *t)
{
	if (t->kind != SN_HQ_COMPARE || strcmp(t->op, "==") != 0)
		return NULL;
	const node_t *f = t->a, *k = t->b;
	const char *col = field_column(f);
	if (!col) {
		f = t->b;
		k = t->a;
		col = field_column(f);
	}
	if (!col || strcmp(col, SN_COL_NAME_EVENT) != 0 || k->kind != SN_HQ_CONSTANT ||
	    k->ctype != SN_HQC_STRING)
		return NULL;
	return k->sval;
}

/* The events a WHERE term accepts when it is `event = 'x'`, `event IN
 * ('x', ...)` or an OR of such terms: their number (added to ev[*n...]),
 * or 0 for any other term (or too many events). */
static size_t event_set(const node_t *t, const char **ev, size_t n)
{
	const char *one = event_eq(t);
	if (one) {
		if (n >= MAX_ELIDE_EVENTS)
			return 0;
		ev[n] = one;
		return n + 1;
	}
	if (t->kind == SN_HQ_OR) {
		size_t n0 = n;
		for (size_t i = 0; i < t->list.n; i++) {
			const node_t *k = t->list.items[i];
			if (k->kind == SN_HQ_CONSTANT &&
			    ((k->ctype == SN_HQC_INT && k->ival == 0) ||
			     (k->ctype == SN_HQC_BOOL && !k->bval)))
				continue; /* `0 OR event = ...`: false adds no event */
			if (!(n = event_set(k, ev, n)))
				return 0;
		}
		return n > n0 ? n : 0;
	}
	if (t->kind != SN_HQ_COMPARE || strcmp(t->op, "in") != 0 || !t->b)
		return 0;
	const char *col = field_column(t->a);
	if (!col || strcmp(col, SN_COL_NAME_EVENT) != 0 ||
	    (t->b->kind != SN_HQ_TUPLE && t->b->kind != SN_HQ_ARRAY) || !t->b->list.n)
		return 0;
	for (size_t i = 0; i < t->b->list.n; i++) {
		const node_t *k = t->b->list.items[i];
		if (k->kind != SN_HQ_CONSTANT || k->ctype != SN_HQC_STRING || n >= MAX_ELIDE_EVENTS)
			return 0;
		ev[n++] = k->sval;
	}
	return n;
}

/* Walks WHERE for its columns, each top-level term marked as one the
 * sparse index can answer or not (only over events, where granules know
 * their times and keys). */
static void where_cols(struct xctx *c, struct plan *p, const node_t *w)
{
	p->nelide = 0;
	p->time_mask = 0;
	p->elide_lo = INT64_MIN;
	p->elide_hi = INT64_MAX;
	if (!w)
		return;
	bool events = !c->sub && strcmp(c->from, "events") == 0;
	size_t nt = w->kind == SN_HQ_AND ? w->list.n : 1;
	for (size_t i = 0; i < nt; i++) {
		const node_t *t = w->kind == SN_HQ_AND ? w->list.items[i] : w;
		uint32_t bit = 1u << p->nelide;
		const char *evs[MAX_ELIDE_EVENTS];
		size_t nev = 0;
		bool el = false;
		if (events && p->nelide < MAX_ELIDE) {
			if (exact_bound(c, t, &p->elide_lo, &p->elide_hi)) {
				el = true;
				p->time_mask |= bit;
			} else if ((nev = event_set(t, evs, 0))) {
				el = true;
				p->elide_ev[p->nelide] = xalloc(c, c->qa, nev * sizeof(*evs));
				if (!p->elide_ev[p->nelide])
					return;
				memcpy(p->elide_ev[p->nelide], evs, nev * sizeof(*evs));
			}
		}
		if (el) {
			p->elide_nev[p->nelide] = nev;
			p->elide[p->nelide++] = t;
		}
		uintptr_t arg = el ? USE_ELIDED | (uintptr_t)bit << 8 : USE_REST;
		c->cur_term_bit = w->kind == SN_HQ_AND && nt <= 32 ? 1u << i : 0;
		walk(c, p, t, visit_cols, (void *)arg);
		c->cur_term_bit = 0;
	}
}

/* ---- aggregates and GROUP BY --------------------------------------------------------- */

static int visit_aggs(struct xctx *c, struct plan *p, const node_t *n, void *arg)
{
	(void)arg;
	if (!is_aggregate_call(n))
		return 0;
	struct aggrun *g = &p->g;
	char *text = xnode_text(c, n);
	if (!text)
		return -1;
	for (size_t i = 0; i < g->naggs; i++)
		if (strcmp(g->aggs[i].text, text) == 0)
			return 1;
	if (g->naggs >= XMAX_AGGS) {
		xfail(c, n, SN_ERR_INVALID, "QueryError", "Too many aggregates (at most %d)",
		      XMAX_AGGS);
		return -1;
	}
	struct xagg ag = {.call = n, .text = text};
	if (agg_classify(c, n, &ag))
		return -1;
	g->aggs[g->naggs++] = ag;
	return 1;
}

struct bindctx {
	struct vec *keyv, *aggv;
};

static int add_bind(struct xctx *c, const node_t *n, struct vec *v)
{
	if (c->nbinds >= XMAX_BINDS)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Query has too many grouped expressions");
	c->binds[c->nbinds++] = (struct xbind){n, v};
	return 0;
}

static int visit_binds(struct xctx *c, struct plan *p, const node_t *n, void *arg)
{
	struct bindctx *b = arg;
	/* a SELECT alias is bound where its expression is; an ARRAY JOIN
	 * alias names a column of the multiplied rows, bound by its name */
	if (n->kind == SN_HQ_ALIAS || (n->kind == SN_HQ_FIELD && n->ref_kind == SN_HQR_ALIAS &&
				       xfollow_alias(c, n)->kind != SN_HQ_ALIAS))
		return 0;
	if (n->kind == SN_HQ_CONSTANT)
		return 1;
	char *text = xnode_text(c, n);
	if (!text)
		return -1;
	for (size_t k = 0; k < p->g.nkeys; k++)
		if (strcmp(p->g.key_text[k], text) == 0)
			return add_bind(c, n, &b->keyv[k]) ? -1 : 1;
	if (is_aggregate_call(n)) {
		for (size_t a = 0; a < p->g.naggs; a++)
			if (strcmp(p->g.aggs[a].text, text) == 0)
				return add_bind(c, n, &b->aggv[a]) ? -1 : 1;
		xfail(c, n, SN_ERR_INTERNAL, "QueryError", "aggregate %s was not planned", text);
		return -1;
	}
	return 0;
}

/* ---- statement checks ----------------------------------------------------------------- */

static int const_int(struct xctx *c, const node_t *n, int64_t *out)
{
	if (n->kind == SN_HQ_CONSTANT && n->ctype == SN_HQC_INT && n->ival >= 0) {
		*out = n->ival;
		return 0;
	}
	if (n->kind == SN_HQ_CALL && strcmp(n->name, "min2") == 0 && n->list.n == 2) {
		int64_t a, b;
		if (const_int(c, n->list.items[0], &a) || const_int(c, n->list.items[1], &b))
			return c->rc;
		*out = a < b ? a : b;
		return 0;
	}
	return xunsupported(c, n, "LIMIT and OFFSET other than non-negative integer constants");
}

/* GROUP BY 2 / ORDER BY 1: ClickHouse's positional arguments (on by
 * default since 22.7, so PostHog's HogQL has them) name a SELECT item. */
static const node_t *positional(const struct sn_hogql_select *s, const node_t *n)
{
	if (n && n->kind == SN_HQ_CONSTANT && n->ctype == SN_HQC_INT && n->ival >= 1 &&
	    (size_t)n->ival <= s->select.n)
		return s->select.items[n->ival - 1];
	return n;
}

/* The FROM entry j: a table, a subquery or CTE (materialised into c->sub)
 * or a chain of explicit JOINs; anything else is refused. */
static int check_from(struct xctx *c, const node_t *j)
{
	int is_join = hj_from(c, j);
	if (is_join < 0)
		return c->rc;
	int is_sub = is_join ? 1 : sub_from(c, j);
	if (is_sub == 0)
		is_sub = sess_from(c, j);
	if (is_sub < 0)
		return c->rc;
	if (!is_sub && j->a && j->a->kind == SN_HQ_FIELD && j->a->strs.n == 1)
		c->from = c->from_name = join_table_name(j->a->strs.items[0]);
	if (!c->from)
		return xunsupported(c, j->a ? j->a : j,
				    "tables other than events, persons, person_distinct_ids, "
				    "groups, cohort_people, static_cohort_people and sessions");
	if (j->name && !is_join)
		c->from_name = j->name;
	if (!is_join && (j->c || j->b))
		return xunsupported(
		    c, j->c ? j->c : j,
		    "JOIN between tables (lazy joins such as "
		    "person.properties.x or pdi.person_id on events are supported)");
	if (j->d && (is_join || is_sub))
		return xunsupported(c, j->d, "SAMPLE on a subquery or beside an explicit JOIN");
	if (j->d && strcmp(c->from, "events") != 0)
		return xfail(c, j->d, SN_ERR_INVALID, "QueryError",
			     "Illegal SAMPLE: table %s doesn't support sampling", c->from);
	if (j->flag)
		return xunsupported(c, j, "FINAL");
	return 0;
}

/* The value of a SAMPLE ratio (`0.1`, `1/10`). */
static int ratio_value(struct xctx *c, const node_t *r, double *out)
{
	double v[2] = {0, 1};
	const node_t *parts[2] = {r->a, r->b};
	for (int i = 0; i < 2; i++) {
		const node_t *k = parts[i];
		if (!k)
			continue;
		if (k->kind != SN_HQ_CONSTANT ||
		    (k->ctype != SN_HQC_INT && k->ctype != SN_HQC_FLOAT))
			return xfail(c, r, SN_ERR_INVALID, "QueryError",
				     "SAMPLE takes a number or a ratio of two numbers");
		v[i] = k->ctype == SN_HQC_INT ? (double)k->ival : k->fval;
	}
	if (v[1] == 0)
		return xfail(c, r, SN_ERR_INVALID, "QueryError", "Division by zero in SAMPLE");
	*out = v[0] / v[1];
	if (!(*out >= 0))
		return xfail(c, r, SN_ERR_INVALID, "QueryError", "Negative sample size");
	return 0;
}

/* PREWHERE c: ClickHouse reads the columns c needs first and the rest only
 * for rows that pass, an optimisation with WHERE's result (rows in both or
 * neither). Here it is one more WHERE term, first, so the scan's pushdown
 * and granule pruning treat it as any other (they already read the cheap
 * columns first). */
static int prewhere_into_where(struct xctx *c, const struct sn_hogql_select **sel)
{
	struct sn_hogql_select *ns = xalloc(c, c->qa, sizeof(*ns));
	if (!ns)
		return c->rc;
	*ns = **sel;
	if (ns->where) {
		node_t *and = sn_hogql_node_new(c->qa, SN_HQ_AND);
		node_t **terms = xalloc(c, c->qa, 2 * sizeof(*terms));
		if (!and || !terms)
			return xnomem(c);
		terms[0] = ns->prewhere;
		terms[1] = ns->where;
		and->list = (struct sn_hogql_list){terms, 2};
		and->has_list = true;
		and->rtype = (struct sn_hogql_rtype){.type = SN_HQT_BOOL, .resolved = true};
		ns->where = and;
	} else {
		ns->where = ns->prewhere;
	}
	ns->prewhere = NULL;
	*sel = ns;
	return 0;
}

/* The bounds of a SAMPLE call (k, o relative, in [0, 1]): the sample
 * keys in [o·2^64, (o + k)·2^64), truncated as ClickHouse computes them,
 * here in 80-bit floating point from the ratio's double where ClickHouse
 * uses exact rationals (a key within about 2^-53 of a bound, one in
 * ~10^16, may fall the other way). k = 0 is no sampling (every row); an
 * offset of 1 or more, or an upper bound that truncates to 0 (SAMPLE
 * 1e-30), is no data. Stored as bits in the call's Int constants; hi = 0
 * is no upper bound, [1, 1) nothing. */
static void sample_bounds(node_t *call, double k, double o)
{
	node_t *blo = call->list.items[1], *bhi = call->list.items[2];
	long double lo = ldexpl((long double)o, 64), hi = ldexpl((long double)o + k, 64);
	if (k == 0) {
		blo->ival = bhi->ival = 0;
		return;
	}
	if (o >= 1) {
		blo->ival = bhi->ival = 1;
		return;
	}
	blo->ival = (int64_t)(uint64_t)lo;
	bhi->ival = hi >= ldexpl(1.0L, 64) ? 0 : (int64_t)(uint64_t)hi;
	if (hi < ldexpl(1.0L, 64) && bhi->ival == 0) /* nothing: [1, 1) */
		blo->ival = bhi->ival = 1;
}

/* FROM events SAMPLE k [OFFSET o], ClickHouse's sampling: the rows whose
 * sample key lies in [o, o + k) of the key's range (no upper bound once
 * o + k passes the top), a user's events all in or all out. The key is
 * PostHog's, cityHash64(distinct_id), so a sample holds the users PostHog's
 * ClickHouse would pick. SAMPLE 0 and SAMPLE 1 read everything (ClickHouse's
 * rule; an OFFSET then is an error). It becomes one more WHERE term, a call
 * only the executor knows (xfn_scalar's __snout_sample_in), so joins and
 * aggregates see the sampled rows.
 *
 * A size or offset above 1 is a number of rows (SAMPLE 10000: about that
 * many rows). ClickHouse turns it into a ratio of the rows its primary key
 * selects for the query (size / rows, at most 1); here the rows are those of
 * the granules the scan reads after pruning by team, time and event, known
 * only once scan() has pruned, so the call is left unresolved (p->sample)
 * and scan() sets its bounds (sample_resolve). Which rows that is differs
 * from ClickHouse's by how each engine's index rounds (ClickHouse counts
 * whole 8192-row marks, snout its granules): both give about the rows
 * asked for, not the same users. */
static int sample_where(struct xctx *c, struct plan *p, const node_t *d,
			const struct sn_hogql_select **sel)
{
	double k, o = 0;
	if (ratio_value(c, d->a, &k) || (d->b && ratio_value(c, d->b, &o)))
		return c->rc;
	bool rows = k > 1 || o > 1;
	if (!rows && (k == 0 || k == 1)) {
		if (o > 0)
			return xfail(c, d, SN_ERR_INVALID, "QueryError",
				     "Sampling offset is incorrect because no sampling");
		return 0;
	}
	const struct sn_hogql_table_def *t = sn_hogql_table_find("events");
	const struct sn_hogql_field_def *fd = t ? sn_hogql_table_field(t, "distinct_id") : NULL;
	if (!fd)
		return xfail(c, d, SN_ERR_INVALID, "QueryError", "events has no distinct_id");
	node_t *f = xfield_named(c, fd->name), *call = sn_hogql_node_new(c->qa, SN_HQ_CALL),
	       *blo = sn_hogql_node_new(c->qa, SN_HQ_CONSTANT),
	       *bhi = sn_hogql_node_new(c->qa, SN_HQ_CONSTANT);
	node_t **args = xalloc(c, c->qa, 3 * sizeof(*args));
	struct sn_hogql_select *ns = xalloc(c, c->qa, sizeof(*ns));
	if (!f || !call || !blo || !bhi || !args || !ns)
		return xnomem(c);
	f->ref_kind = SN_HQR_COLUMN;
	f->ref_table = t;
	f->ref_field = fd;
	f->ref_source = c->from_name;
	f->rtype =
	    (struct sn_hogql_rtype){.type = fd->type, .nullable = fd->nullable, .resolved = true};
	blo->ctype = bhi->ctype = SN_HQC_INT;
	blo->rtype = bhi->rtype = (struct sn_hogql_rtype){.type = SN_HQT_INT, .resolved = true};
	args[0] = f;
	args[1] = blo;
	args[2] = bhi;
	call->name = "__snout_sample_in";
	call->list = (struct sn_hogql_list){args, 3};
	call->has_list = true;
	call->rtype = (struct sn_hogql_rtype){.type = SN_HQT_BOOL, .resolved = true};
	call->has_pos = d->has_pos;
	call->start = d->start;
	call->end = d->end;
	if (rows) {
		call->flag = true; /* unresolved: fn_sample_in refuses it until scan() */
		p->sample = call;
		p->sample_k = k;
		p->sample_o = o;
		p->sample_node = d;
	} else {
		sample_bounds(call, k, o);
	}
	*ns = **sel;
	if (ns->where) {
		node_t *and = sn_hogql_node_new(c->qa, SN_HQ_AND);
		node_t **terms = xalloc(c, c->qa, 2 * sizeof(*terms));
		if (!and || !terms)
			return xnomem(c);
		terms[0] = ns->where;
		terms[1] = call;
		and->list = (struct sn_hogql_list){terms, 2};
		and->has_list = true;
		and->rtype = call->rtype;
		ns->where = and;
	} else {
		ns->where = call;
	}
	*sel = ns;
	return 0;
}

/* A SAMPLE in rows (sample_where) made relative once the scan's granules
 * are known: approx_rows of them. ClickHouse's order of rules: a size above
 * 1 becomes min(1, size / rows) (1 when nothing is read), a relative size
 * of 1 is no sampling, an offset with no sampling is an error, an offset
 * above 1 becomes min(1, offset / rows). */
static int sample_resolve(struct xctx *c, struct plan *p, uint64_t approx_rows)
{
	double k = p->sample_k, o = p->sample_o;
	if (k > 1)
		k = approx_rows == 0 || k >= (double)approx_rows ? 1 : k / (double)approx_rows;
	if (k == 1)
		k = 0;
	if (o > 0 && k == 0)
		return xfail(c, p->sample_node, SN_ERR_INVALID, "QueryError",
			     "Sampling offset is incorrect because no sampling");
	if (o > 1)
		o = approx_rows == 0 || o >= (double)approx_rows ? 1 : o / (double)approx_rows;
	sample_bounds(p->sample, k, o);
	p->sample->flag = false;
	return 0;
}

/* Whether `*` names the field: a stored or JSON column not hidden (spec
 * §5.1: not the lazy joins), as the ClickHouse printer expands it. */
static bool star_field(const struct sn_hogql_field_def *fd)
{
	return !fd->hidden && (fd->kind == SN_HQFK_COLUMN || fd->kind == SN_HQFK_JSON);
}

/* The table's k-th field that `*` names, as a resolved Field. */
static node_t *table_col_field(struct xctx *c, const node_t *star, size_t k, void *arg)
{
	const struct sn_hogql_table_def *t = arg;
	const struct sn_hogql_field_def *fd = t->fields;
	for (size_t seen = 0;; fd++)
		if (star_field(fd) && seen++ == k)
			break;
	node_t *f = xfield_named(c, fd->name);
	if (!f)
		return NULL;
	f->ref_kind = SN_HQR_COLUMN;
	f->ref_table = t;
	f->ref_field = fd;
	f->ref_source = star->ref_source ? star->ref_source : c->from_name;
	f->rtype =
	    (struct sn_hogql_rtype){.type = fd->type, .nullable = fd->nullable, .resolved = true};
	f->start = star->start;
	f->end = star->end;
	return f;
}

/* `SELECT *` over a table this executor reads (events, persons, ...): its
 * star fields in schema order, each a resolved Field read as if named. */
static int table_expand_star(struct xctx *c, const struct sn_hogql_select **sel)
{
	const struct sn_hogql_table_def *t = sn_hogql_table_find(c->from);
	if (!t)
		return 0; /* the executor says what it cannot read */
	size_t nf = 0;
	for (size_t k = 0; k < t->nfields; k++)
		nf += star_field(&t->fields[k]);
	return expand_stars(c, sel, nf, table_col_field, (void *)t);
}

/* No FROM: ClickHouse reads system.one, one row and no column the query
 * can name, so the statement runs over a materialised table of one row
 * and zero columns (subquery.c feeds it like any other). */
static int from_one(struct xctx *c)
{
	if (c->win_from) { /* window.c's outer statement */
		c->sub = c->win_from;
		c->from = "subquery";
		c->from_name = "";
		return 0;
	}
	struct xtable *one = xalloc(c, c->qa, sizeof(*one));
	if (!one)
		return c->rc;
	memset(one, 0, sizeof(*one));
	one->nrows = 1;
	c->sub = one;
	c->from = "one";
	return 0;
}

/* Whether n reaches a SELECT alias in progress (state 1) through alias
 * references: ClickHouse's "Cyclic aliases". state[i] is select item i's:
 * 0 not visited, 1 being followed, 2 done (so shared aliases are followed
 * once, not once per path). */
static const char *alias_cycle(const struct sn_hogql_select *s, const node_t *n, uint8_t *state,
			       int depth)
{
	if (!n || depth > SN_HOGQL_MAX_DEPTH || n->kind == SN_HQ_SELECT ||
	    n->kind == SN_HQ_SELECT_SET)
		return NULL;
	if (n->kind == SN_HQ_FIELD && n->ref_kind == SN_HQR_ALIAS && n->strs.n == 1) {
		for (size_t i = 0; i < s->select.n; i++) {
			const node_t *e = s->select.items[i];
			if (e->kind != SN_HQ_ALIAS || strcmp(e->name, n->strs.items[0]) != 0)
				continue;
			if (state[i] == 1)
				return e->name;
			if (state[i] == 2)
				return NULL;
			state[i] = 1;
			const char *cyc = alias_cycle(s, e->a, state, depth + 1);
			state[i] = 2;
			return cyc;
		}
		return NULL;
	}
	const char *cyc = NULL;
	if (!cyc)
		cyc = alias_cycle(s, n->a, state, depth + 1);
	if (!cyc)
		cyc = alias_cycle(s, n->b, state, depth + 1);
	if (!cyc)
		cyc = alias_cycle(s, n->c, state, depth + 1);
	for (size_t i = 0; !cyc && i < n->list.n; i++)
		cyc = alias_cycle(s, n->list.items[i], state, depth + 1);
	for (size_t i = 0; !cyc && i < n->list2.n; i++)
		cyc = alias_cycle(s, n->list2.items[i], state, depth + 1);
	return cyc;
}

static int check_shape(struct xctx *c, const node_t *root, struct plan *p)
{
	if (root->kind != SN_HQ_SELECT)
		return xunsupported(c, root, "UNION and other set operations");
	const struct sn_hogql_select *s = root->sel;
	p->sel = c->sel = s;
	const node_t *j = s->select_from;
	if (j ? check_from(c, j) : from_one(c))
		return c->rc;
	if (s->qualify)
		return xunsupported(c, s->qualify, "QUALIFY");
	if (s->nwindows)
		return xunsupported(c, root, "WINDOW");
	if (s->limit_by) {
		const node_t *lb = s->limit_by;
		if (lb->list.n > MAX_ORDER)
			return xfail(c, lb, SN_ERR_INVALID, "QueryError",
				     "Too many LIMIT BY expressions");
		if (const_int(c, lb->a, &p->lby_n) || (lb->b && const_int(c, lb->b, &p->lby_off)))
			return c->rc;
		for (size_t i = 0; i < lb->list.n; i++)
			p->lby[i] = positional(s, lb->list.items[i]);
		p->nlby = lb->list.n;
	}
	if (s->limit_with_ties && !s->order_by.n)
		return xfail(c, root, SN_ERR_INVALID, "QueryError",
			     "Can not use WITH TIES without ORDER BY");
	p->ties = s->limit_with_ties;
	if (s->group_by_mode)
		return xunsupported(c, root, "GROUP BY ROLLUP/CUBE/ALL");
	if (s->select_from && c->sub && sub_expand_star(c, &s))
		return c->rc;
	if (s->select_from && !c->sub && !c->jmap && c->from && table_expand_star(c, &s))
		return c->rc;
	if (s->prewhere && prewhere_into_where(c, &s))
		return c->rc;
	if (j && j->d && sample_where(c, p, j->d, &s))
		return c->rc;
	p->sel = c->sel = s;
	if (s->select.n > MAX_SELECT || s->order_by.n > MAX_ORDER || s->group_by.n > XMAX_KEYS)
		return xfail(c, root, SN_ERR_INVALID, "QueryError",
			     "Too many SELECT, ORDER BY or GROUP BY expressions");
	for (size_t i = 0; i < s->select.n; i++) /* ClickHouse refuses these too */
		for (size_t k = 0; k < i; k++) {
			const node_t *a = s->select.items[k], *b = s->select.items[i];
			if (a->kind != SN_HQ_ALIAS || b->kind != SN_HQ_ALIAS ||
			    strcmp(a->name, b->name) != 0)
				continue;
			char *ta = xnode_text(c, a->a), *tb = xnode_text(c, b->a);
			if (!ta || !tb)
				return c->rc;
			if (strcmp(ta, tb) != 0)
				return xfail(c, b, SN_ERR_INVALID, "QueryError",
					     "Different expressions with the same alias %s",
					     b->name);
		}
	uint8_t astate[MAX_SELECT] = {0};
	for (size_t i = 0; i < s->select.n; i++) {
		const node_t *e = s->select.items[i];
		if (e->kind != SN_HQ_ALIAS || astate[i])
			continue;
		astate[i] = 1;
		const char *cyc = alias_cycle(s, e->a, astate, 0);
		astate[i] = 2;
		if (cyc)
			return xfail(c, e, SN_ERR_INVALID, "QueryError",
				     "Cyclic aliases: %s refers to itself", cyc);
	}
	p->nsel = s->select.n;
	/* Subqueries are not limited (§4.7); keep + 1 must not overflow. */
	p->limit = p->top ? SN_HOGQL_DEFAULT_LIMIT : (INT64_C(1) << 60);
	if (s->limit && const_int(c, s->limit, &p->limit))
		return c->rc;
	if (s->offset && const_int(c, s->offset, &p->offset))
		return c->rc;
	for (size_t i = 0; i < s->order_by.n; i++) {
		const node_t *o = s->order_by.items[i];
		p->order[i] = positional(s, o->a);
		p->desc[i] = o->op && strcmp(o->op, "DESC") == 0;
		/* The AST drops NULLS FIRST/LAST (as PostHog's does); read it from
		 * the text after the expression. ClickHouse's default is last. */
		if (o->has_pos && o->a->has_pos && o->end > o->a->end && o->end <= c->len) {
			char tail[64];
			size_t k = 0;
			for (uint32_t b = o->a->end; b < o->end && k + 1 < sizeof(tail); b++) {
				char ch = (char)tolower((unsigned char)c->src[b]);
				if (isspace((unsigned char)ch) && (k == 0 || tail[k - 1] == ' '))
					continue;
				tail[k++] = isspace((unsigned char)ch) ? ' ' : ch;
			}
			tail[k] = 0;
			p->nulls_first[i] = strstr(tail, "nulls first") != NULL;
		}
	}
	p->norder = s->order_by.n;
	p->ts_lo = INT64_MIN;
	p->ts_hi = INT64_MAX;
	time_range(c, p, s->where);
	/* The bounds read zone-less text as UTC; the executor reads it in the
	 * project's zone (fn_date.c), up to 14 hours away: widen by a day. */
	if (strcmp(c->tz, "UTC") != 0) {
		if (p->ts_lo != INT64_MIN)
			p->ts_lo -= 86400LL * 1000000;
		if (p->ts_hi != INT64_MAX)
			p->ts_hi += 86400LL * 1000000;
	}
	return 0;
}

/* ---- reading columns ------------------------------------------------------------------ */

static int read_raw(struct xctx *c, struct sn_part *part, const struct xcol *x, size_t g0,
		    size_t g1, const uint8_t *need, struct sn_colvec *cv, bool *missing)
{
	struct sn_err e = {0};
	int rc;
	*missing = false;
	if (x->is_prop && !sn_part_may_have_property(part, x->name)) {
		*missing = true; /* in no row of the part: a NULL constant, nothing read */
		return 0;
	}
	if (x->is_prop && x->coded) {
		rc = sn_part_read_property_coded(part, x->name, g0, g1, need, c->ba, cv, &e);
	} else if (x->is_prop) {
		rc = sn_part_read_property_some(part, x->name, g0, g1, need, c->ba, cv, &e);
	} else if (x->whole_props) {
		rc = sn_part_read_properties(part, g0, g1, c->ba, cv, &e);
	} else if (strncmp(x->name, SN_COL_NAME_GROUP_PREFIX, 7) == 0 ||
		   strcmp(x->name, SN_COL_NAME_PERSON_ID) == 0) {
		/* $group_N: parts from before groups read '' */
		rc = sn_part_read_named(part, x->name, g0, g1, c->ba, cv, &e);
	} else {
		int ci = sn_part_find_column(part, x->name);
		if (ci < 0) {
			*missing = true;
			return 0;
		}
		bool coded = x->coded && sn_part_column(part, (size_t)ci)->type == SN_COL_STRING;
		rc = (coded ? sn_part_read_column_coded : sn_part_read_column_some)(
		    part, (size_t)ci, g0, g1, need, c->ba, cv, &e);
	}
	if (rc == SN_ERR_NOMEM)
		return xnomem(c);
	if (rc)
		return xfail(c, NULL, rc, "QueryError", "reading column %s: %s", x->name, e.msg);
	return 0;
}

/* Gathers rows idx of a raw column into x->v with the column's static type. */
static int gather_raw(struct xctx *c, struct xcol *x, const struct sn_colvec *cv, bool missing,
		      const uint32_t *idx, size_t m)
{
	struct vec *v = &x->v;
	bool uuid_ok = !missing && cv->type == SN_COL_UUID && x->t == SN_XT_UUID;
	if (uuid_ok) { /* the bits; text only when a reader asks (vec_uuid_text) */
		if (vec_make_uuid_bits(c, v, x->nullable, m))
			return c->rc;
		for (size_t k = 0; k < m; k++) {
			uint32_t r = idx[k];
			bool null = cv->nulls && cv->nulls[r];
			if (v->nulls)
				v->nulls[k] = null;
			v->u[k] = null ? (struct sn_uuid){{0}} : cv->uuid[r];
		}
		return 0;
	}
	if (!missing && cv->codes) {
		/* codes: the rows' codes and the entries as a vector */
		if (x->t != SN_XT_STRING)
			return xfail(c, NULL, SN_ERR_CORRUPT, "QueryError",
				     "column %s has an unexpected type in a part", x->name);
		struct vec *d = xalloc(c, c->ba, sizeof(*d));
		bool all = idx == c->ident && m == cv->nrows; /* rows 0, 1, ...: as read */
		uint32_t *cc = all ? cv->codes : xalloc(c, c->ba, (m ? m : 1) * sizeof(*cc));
		if (!d || !cc)
			return c->rc;
		memset(d, 0, sizeof(*d));
		d->t = SN_XT_STRING;
		d->nullable = x->nullable;
		d->n = cv->ndict;
		d->s = cv->dict;
		d->nulls = x->nullable ? cv->dict_nulls : NULL;
		for (size_t k = 0; !all && k < m; k++)
			cc[k] = cv->codes[idx[k]];
		memset(v, 0, sizeof(*v));
		v->t = SN_XT_STRING;
		v->nullable = x->nullable;
		v->n = m;
		c->stats->coded_reads++;
		v->ccodes = cc;
		v->cdict = d;
		return 0;
	}
	if ((missing ? vec_make : vec_make_raw)(c, v, x->t, x->nullable, m))
		return c->rc;
	if (missing) {
		if (!x->nullable)
			return xfail(c, NULL, SN_ERR_CORRUPT, "QueryError",
				     "a part has no column %s", x->name);
		memset(v->nulls, 1, m);
		return 0;
	}
	bool text_ok = cv->type == SN_COL_STRING && (x->t == SN_XT_STRING);
	bool int_ok = (cv->type == SN_COL_INT64 && x->t == SN_XT_INT) ||
		      (cv->type == SN_COL_DATETIME && x->t == SN_XT_DATETIME);
	if (!text_ok && !int_ok)
		return xfail(c, NULL, SN_ERR_CORRUPT, "QueryError",
			     "column %s has an unexpected type in a part", x->name);
	if (!cv->nulls) {
		/* No NULL in the read: copies, whole when every row is taken
		 * (the row-by-row loop below was a fifth of a full timestamp scan) */
		if (v->nulls)
			memset(v->nulls, 0, m);
		bool all = idx == c->ident && m == cv->nrows;
		if (int_ok && all)
			memcpy(v->i, cv->i64, m * sizeof(*v->i));
		else if (int_ok)
			for (size_t k = 0; k < m; k++)
				v->i[k] = cv->i64[idx[k]];
		else if (all)
			memcpy(v->s, cv->str, m * sizeof(*v->s));
		else
			for (size_t k = 0; k < m; k++)
				v->s[k] = cv->str[idx[k]];
		return 0;
	}
	for (size_t k = 0; k < m; k++) {
		uint32_t r = idx[k];
		bool null = cv->nulls && cv->nulls[r];
		if (v->nulls)
			v->nulls[k] = null;
		if (null) {
			if (v->s)
				v->s[k] = (struct sn_str){0};
			else
				v->i[k] = 0;
			continue;
		}
		if (text_ok)
			v->s[k] = cv->str[r];
		else
			v->i[k] = cv->i64[r];
	}
	return 0;
}

/* Whether column x is read before WHERE (phase 0) or after it (phase 1);
 * known: the bits of plan.elide known true for every row of the batch. */
static bool col_in_phase(const struct xcol *x, uint32_t known, int phase)
{
	bool before = x->in_where && (x->use_rest || (x->elide_uses & ~known));
	if (phase == 0)
		return before;
	return !before && (x->use_out || (x->use_bucket && !x->run_const));
}

/* Column x at the team's rows idx (m of them, c->n) of granules [g0, g1);
 * need (or NULL): the granules holding those rows, the only ones read. */
static void load_col_some(struct xctx *c, struct sn_part *part, struct xcol *x, size_t g0,
			  size_t g1, const uint8_t *need, const uint32_t *idx, size_t m)
{
	if (x->kind != XC_STORE && x->kind != XC_PROP && x->kind != XC_PROPS) {
		join_fill(c, x);
		return;
	}
	struct sn_colvec cv;
	bool missing;
	if (read_raw(c, part, x, g0, g1, need, &cv, &missing) == 0)
		gather_raw(c, x, &cv, missing, idx, m);
}

static void load_col(struct xctx *c, struct sn_part *part, struct xcol *x, size_t g0, size_t g1,
		     const uint32_t *idx, size_t m)
{
	load_col_some(c, part, x, g0, g1, NULL, idx, m);
}

static int load_cols(struct xctx *c, struct sn_part *part, size_t g0, size_t g1, uint32_t known,
		     int phase, const uint32_t *idx, size_t m)
{
	for (size_t i = 0; i < c->ncols && !c->rc; i++)
		if (col_in_phase(&c->cols[i], known, phase))
			load_col(c, part, &c->cols[i], g0, g1, idx, m);
	return c->rc;
}

/* ---- WHERE term by term ------------------------------------------------------------- */

/* Whether this run's WHERE goes term by term: a top-level AND of 2 to 32
 * terms, every column it needs read by one of them. */
static bool by_terms(const struct xctx *c, const struct plan *p, uint32_t known)
{
	const node_t *w = p->sel->where;
	if (!w || w->kind != SN_HQ_AND || w->list.n < 2 || w->list.n > 32)
		return false;
	for (size_t i = 0; i < c->ncols; i++)
		if (col_in_phase(&c->cols[i], known, 0) && !c->cols[i].term_uses)
			return false;
	return true;
}

/* About the blocks reading x over [g0, g1) decodes (0: none, a NULL column). */
static size_t col_cost(struct sn_part *part, const struct xcol *x, size_t g0, size_t g1)
{
	if (x->kind == XC_PROP)
		return sn_part_property_blocks(part, x->name, g0, g1);
	return (x->kind == XC_PROPS ? 8 : 1) * (g1 - g0);
}

/* Which granules of [g0, g1) hold the run's rows idx (ascending, m of
 * them): a flag per granule, from the arena of the batch. */
static const uint8_t *granules_of(struct xctx *c, struct sn_part *part, size_t g0, size_t g1,
				  const uint32_t *idx, size_t m)
{
	uint8_t *need = xalloc(c, c->ba, g1 - g0);
	if (!need)
		return NULL;
	memset(need, 0, g1 - g0);
	size_t g = g0, end = g0 < g1 ? sn_part_granule(part, g0)->nrows : 0;
	for (size_t r = 0; r < m; r++) {
		while (g + 1 < g1 && idx[r] >= end)
			end += sn_part_granule(part, ++g)->nrows;
		need[g - g0] = 1;
	}
	return need;
}

/* WHERE's top-level terms one at a time, cheapest columns first (a filter
 * on a key most rows lack reads almost nothing): each reads its columns at
 * the rows still in and keeps the rows where it is true, and once no row
 * is left the rest is not read at all. The rows are those of the whole AND
 * (a row is in when every term is true; NULL is not true). On 10M events,
 * `properties.plan = 'pro' AND toFloat(properties.price) > 50` reads
 * `plan` only where some row has a price over 50. *idxp and *mp: the rows
 * in, in scan order. */
static int where_terms(struct xctx *c, struct plan *p, struct sn_part *part, size_t g0, size_t g1,
		       uint32_t known, const uint32_t **idxp, size_t *mp)
{
	const node_t *w = p->sel->where;
	size_t nt = w->list.n, m = *mp;
	const uint32_t *idx = *idxp;
	const uint8_t *need = NULL;
	uint64_t loaded = 0;
	uint32_t left = 0, failed = 0;
	struct sn_hogql_error ferr = {0}; /* the error of the first written failed term */
	size_t fk = SIZE_MAX;
	for (size_t k = 0; k < nt; k++)
		if (!xknown_true(c, w->list.items[k]))
			left |= 1u << k;
	while (left && m) {
		size_t best = 0, bcost = SIZE_MAX;
		for (size_t k = 0; k < nt; k++) {
			if (!((left & ~failed) >> k & 1))
				continue;
			size_t cost = 0;
			for (size_t i = 0; i < c->ncols; i++) {
				const struct xcol *x = &c->cols[i];
				if ((x->term_uses >> k & 1) && !(loaded >> i & 1) &&
				    col_in_phase(x, known, 0))
					cost += col_cost(part, x, g0, g1);
			}
			if (cost < bcost) {
				bcost = cost;
				best = k;
			}
		}
		left &= ~(1u << best);
		c->n = m;
		if (m < *mp && !need && !(need = granules_of(c, part, g0, g1, idx, m)))
			return c->rc;
		for (size_t i = 0; i < c->ncols && !c->rc; i++) {
			struct xcol *x = &c->cols[i];
			if ((x->term_uses >> best & 1) && !(loaded >> i & 1) &&
			    col_in_phase(x, known, 0)) {
				load_col_some(c, part, x, g0, g1, need, idx, m);
				loaded |= 1ull << i;
			}
		}
		if (c->rc)
			return c->rc;
		/* a term of one column read as codes: once per entry */
		struct xcol *cx = NULL;
		size_t ncx = 0;
		for (size_t i = 0; i < c->ncols; i++)
			if (c->cols[i].term_uses >> best & 1) {
				cx = &c->cols[i];
				ncx++;
			}
		if (ncx != 1)
			cx = NULL;
		uint32_t *sel = xalloc(c, c->ba, m * sizeof(*sel));
		if (!sel)
			return c->rc;
		size_t k = 0;
		/* A term that fails on the rows still in (toBool('abc'), a
		 * division by zero) waits for the other terms to drop rows: which
		 * term runs first follows what its columns cost in this part, so
		 * failing at once would fail a query on one part's layout and not
		 * on another's. Once no other term is left to run on these rows,
		 * the query fails with the error of the first written of them. */
		struct sn_hogql_error saved = {0};
		if (c->err)
			saved = *c->err;
		uint8_t *tt = NULL;
		struct vec v;
		bool coded = cx && cx->coded && cx->v.cdict && cx->v.cdict->n <= m;
		if (coded ? xeval_cond_entries(c, w->list.items[best], cx, &tt)
			  : xeval_cond(c, w->list.items[best], &v)) {
			if (c->rc != SN_ERR_INVALID)
				return c->rc;
			if (best < fk && c->err) {
				ferr = *c->err;
				fk = best;
			}
			if (!(left & ~failed)) {
				if (c->err)
					*c->err = ferr;
				return c->rc;
			}
			if (c->err)
				*c->err = saved;
			c->rc = 0;
			left |= 1u << best;
			failed |= 1u << best;
			continue;
		}
		failed = 0;
		fk = SIZE_MAX;
		if (coded) {
			c->stats->coded_terms++;
			const uint32_t *cc = cx->v.ccodes;
			for (size_t r = 0; r < m; r++) { /* branch-free */
				sel[k] = (uint32_t)r;
				k += tt[cc[r]];
			}
		} else {
			for (size_t r = 0; r < m; r++)
				if (vec_truth(&v, r))
					sel[k++] = (uint32_t)r;
		}
		if (k == m)
			continue;
		for (size_t i = 0; i < c->ncols; i++)
			if (loaded >> i & 1) {
				struct vec t = c->cols[i].v;
				if (vec_gather(c, &t, sel, k, &c->cols[i].v))
					return c->rc;
			}
		for (size_t r = 0; r < k; r++)
			sel[r] = idx[sel[r]];
		idx = sel;
		m = k;
		need = NULL; /* fewer rows: fewer granules */
	}
	c->n = m;
	for (uint32_t l = left; l; l &= l - 1)
		c->stats->terms_skipped++;
	/* columns of terms the index answered, should a later one need them */
	for (size_t i = 0; i < c->ncols && m && !c->rc; i++)
		if (col_in_phase(&c->cols[i], known, 0) && !(loaded >> i & 1))
			load_col_some(c, part, &c->cols[i], g0, g1, NULL, idx, m);
	*idxp = idx;
	*mp = m;
	return c->rc;
}

/* ---- rows ---------------------------------------------------------------------------- */

static int rows_push(struct xctx *c, struct rows *rs, struct sn_exec_value **row)
{
	if (rs->n == rs->cap) {
		/* malloc, not the arena: realloc moves big blocks by remapping
		 * pages instead of copying them; the budget is checked here */
		size_t cap = rs->cap ? rs->cap * 2 : 256;
		size_t bytes = cap * rs->width * sizeof(*rs->v);
		if (bytes > c->mem_limit)
			return xnomem(c);
		struct sn_exec_value *v = realloc(rs->v, bytes);
		if (!v)
			return xnomem(c);
		rs->v = v;
		rs->cap = cap;
	}
	*row = &rs->v[rs->n * rs->width];
	return 0;
}

/* Room for n more rows at once (the groups an aggregation emits): one
 * allocation instead of doublings that each copy the rows so far. */
static int rows_reserve(struct xctx *c, struct rows *rs, size_t n)
{
	if (rs->cap >= rs->n + n)
		return 0;
	size_t cap = rs->n + n, bytes = cap * rs->width * sizeof(*rs->v);
	if (bytes > c->mem_limit)
		return xnomem(c);
	struct sn_exec_value *v = realloc(rs->v, bytes);
	if (!v)
		return xnomem(c);
	rs->v = v;
	rs->cap = cap;
	return 0;
}

static int row_cmp(const void *a, const void *b, void *arg);

static size_t row_bytes(const struct sn_exec_value *row, size_t w)
{
	size_t n = 0;
	for (size_t i = 0; i < w; i++)
		if (!row[i].null && sn_exec_type_has_bytes(row[i].type))
			n += row[i].s.len;
	return n;
}

static void heap_swap(struct rows *rs, size_t a, size_t b)
{
	size_t sz = rs->width * sizeof(*rs->v);
	memcpy(rs->tmp, &rs->v[a * rs->width], sz);
	memcpy(&rs->v[a * rs->width], &rs->v[b * rs->width], sz);
	memcpy(&rs->v[b * rs->width], rs->tmp, sz);
}

static void sift_down(struct plan *p, size_t i)
{
	struct rows *rs = &p->rows;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, big = i;
		if (l < rs->n && row_cmp(&rs->v[l * rs->width], &rs->v[big * rs->width], p) > 0)
			big = l;
		if (r < rs->n && row_cmp(&rs->v[r * rs->width], &rs->v[big * rs->width], p) > 0)
			big = r;
		if (big == i)
			return;
		heap_swap(rs, i, big);
		i = big;
	}
}

/* Copies the heap rows' strings into a fresh arena once most of sa is
 * garbage from replaced rows, so sa stays within 2x what the rows hold. */
static int heap_compact(struct xctx *c, struct rows *rs)
{
	if (rs->used_bytes <= 2 * rs->live_bytes + ((size_t)1 << 20))
		return 0;
	struct sn_arena na;
	sn_arena_init(&na, c->mem_limit);
	for (size_t k = 0; k < rs->n * rs->width; k++) {
		struct sn_exec_value *x = &rs->v[k];
		if (x->null || !x->s.len || !sn_exec_type_has_bytes(x->type))
			continue;
		char *q = sn_arena_alloc(&na, x->s.len);
		if (!q) {
			sn_arena_release(&na);
			return xnomem(c);
		}
		memcpy(q, x->s.p, x->s.len);
		x->s.p = q;
	}
	sn_arena_release(&rs->sa);
	rs->sa = na;
	rs->used_bytes = rs->live_bytes;
	return 0;
}

/* Top-N: offers row r of the batch vectors v to the bounded heap. The
 * ORDER BY values are compared before anything is copied, so a row that
 * cannot be in the result costs one comparison. */
static int topn_offer(struct xctx *c, struct plan *p, const struct vec *v, size_t r)
{
	struct rows *rs = &p->rows;
	size_t ws = rs->width - 1;
	uint64_t seq = rs->seq++;
	if (!rs->cand) {
		rs->cand = xalloc(c, c->qa, rs->width * sizeof(*rs->cand));
		rs->tmp = xalloc(c, c->qa, rs->width * sizeof(*rs->tmp));
		if (!rs->cand || !rs->tmp)
			return c->rc;
		sn_arena_init(&rs->sa, c->mem_limit);
		rs->sa_init = true;
	}
	struct sn_exec_value *row;
	if (rs->n >= rs->keep) {
		if (rs->keep == 0)
			return 0;
		if (!rs->heap) { /* full for the first time: heapify once, O(n) */
			for (size_t i = rs->n / 2; i-- > 0;)
				sift_down(p, i);
			rs->heap = true;
		}
		for (size_t i = p->nsel; i < ws; i++)
			vec_value(c, &v[i], r, NULL, &rs->cand[i]);
		rs->cand[ws] = (struct sn_exec_value){.type = SN_XT_INT, .i = (int64_t)seq};
		if (row_cmp(rs->cand, rs->v, p) >= 0)
			return 0; /* not better than the worst row kept */
		row = rs->v;
		rs->live_bytes -= row_bytes(row, ws);
	} else {
		if (rows_push(c, rs, &row))
			return c->rc;
		rs->n++;
	}
	for (size_t i = 0; i < ws; i++)
		if (vec_value(c, &v[i], r, &rs->sa, &row[i]))
			return c->rc;
	row[ws] = (struct sn_exec_value){.type = SN_XT_INT, .i = (int64_t)seq};
	size_t nb = row_bytes(row, ws);
	rs->live_bytes += nb;
	rs->used_bytes += nb;
	if (rs->heap && rs->n > 1)
		sift_down(p, 0); /* the new row replaced the root */
	return heap_compact(c, rs);
}

/* A streamed select item into v: as UUID bits (v->u, no text) when the
 * consumer takes them and the item is a UUID column or toString() of one
 * (the same text), else evaluated as usual. */
static int sink_item(struct xctx *c, const struct xsink *k, const node_t *item, struct vec *v)
{
	const node_t *f = item;
	while (f->kind == SN_HQ_ALIAS)
		f = f->a;
	if (f->kind == SN_HQ_CALL && strcmp(f->name, "toString") == 0 && f->list.n == 1 &&
	    !f->list2.n && !f->list3.n)
		for (f = f->list.items[0]; f->kind == SN_HQ_ALIAS;)
			f = f->a;
	if (!k->uuid_bits || f->kind != SN_HQ_FIELD)
		return xeval(c, item, v);
	c->uuid_bits_ok = f;
	int rc = xeval(c, f, v);
	c->uuid_bits_ok = NULL;
	if (rc)
		return rc;
	if (v->t == SN_XT_UUID && v->u) {
		v->s = NULL; /* made for another reader: the bits serve this one */
		return 0;
	}
	return f == item ? 0 : xeval(c, item, v);
}

/* Streams the batch's rows to the consumer (p->sink): the select columns,
 * their strings still in the batch's memory, up to LIMIT in all. */
static int emit_sink(struct xctx *c, struct plan *p)
{
	struct xsink *k = p->sink;
	size_t w = p->nsel, n = c->n;
	struct vec *v = xalloc(c, c->ba, (w + 1) * sizeof(*v));
	struct sn_exec_value *rows = NULL;
	struct sn_exec_column *cols = NULL;
	if (!v)
		return c->rc;
	for (size_t i = 0; i < w; i++)
		if (sink_item(c, k, p->sel->select.items[i], &v[i]))
			return c->rc;
	if (k->cols) {
		if (!(cols = xalloc(c, c->ba, (w + 1) * sizeof(*cols))))
			return c->rc;
		for (size_t i = 0; i < w; i++)
			cols[i] = (struct sn_exec_column){
			    v[i].t,
			    v[i].nulls,
			    v[i].i,
			    v[i].f,
			    v[i].s,
			    v[i].s ? NULL : v[i].u,
			    (uint8_t)(v[i].t == SN_XT_DECIMAL ? xdec_scale(&v[i]) : 0)};
	} else {
		if (!(rows = xalloc(c, c->ba, (n * w + 1) * sizeof(*rows))))
			return c->rc;
		for (size_t r = 0; r < n; r++) {
			if (r && (r & 4095) == 0 && xcheck_budget(c))
				return c->rc;
			for (size_t i = 0; i < w; i++)
				vec_value(c, &v[i], r, NULL, &rows[r * w + i]);
		}
	}
	pthread_mutex_lock(&k->mu);
	size_t room = k->stop ? 0 : (size_t)p->limit - k->nrows;
	size_t take = n < room ? n : room;
	if (n > room && !k->stop)
		k->has_more = k->stop = true;
	k->nrows += take;
	p->done = k->stop;
	pthread_mutex_unlock(&k->mu);
	int rc = !take	   ? 0
		 : k->cols ? k->cols(k->ctx, p->worker, cols, w, take)
			   : k->fn(k->ctx, p->worker, rows, take, w);
	if (rc) {
		pthread_mutex_lock(&k->mu);
		k->stop = p->done = true;
		pthread_mutex_unlock(&k->mu);
		return xfail(c, NULL, rc < 0 ? rc : SN_ERR_INTERNAL, "QueryError",
			     "the consumer of the rows failed");
	}
	return 0;
}

/* Appends the batch's rows: select columns, then ORDER BY keys. keep
 * (may be NULL) selects rows (HAVING). */
static int emit(struct xctx *c, struct plan *p, const struct vec *keep)
{
	if (p->sink)
		return emit_sink(c, p);
	size_t w = p->rows.width - 1;
	struct vec *v = xalloc(c, c->ba, (w + 1) * sizeof(*v));
	if (!v)
		return c->rc;
	for (size_t i = 0; i < p->nsel; i++)
		if (xeval(c, p->sel->select.items[i], &v[i]))
			return c->rc;
	for (size_t i = 0; i < p->norder; i++)
		if (xeval(c, p->order[i], &v[p->nsel + i]))
			return c->rc;
	for (size_t i = 0; i < p->nlby; i++)
		if (xeval(c, p->lby[i], &v[p->nsel + p->norder + i]))
			return c->rc;
	size_t want = p->want;
	if (c->final && !p->norder && rows_reserve(c, &p->rows, c->n < want ? c->n : want))
		return c->rc;
	for (size_t r = 0; r < c->n && !p->done; r++) {
		/* A batch multiplied by arrayJoin() can hold millions of rows:
		 * the time limit and a cancel are asked within it too. */
		if (r && (r & 4095) == 0 && xcheck_budget(c))
			return c->rc;
		if (keep && !vec_truth(keep, r))
			continue;
		if (p->sel->distinct && !p->dgroups) {
			sn_buf_reset(&p->scratch);
			for (size_t i = 0; i < p->nsel; i++) {
				struct sn_exec_value x;
				vec_value(c, &v[i], r, NULL, &x);
				if (value_key(&p->scratch, &x))
					return xnomem(c);
			}
			uint32_t id;
			bool isnew;
			if (gtab_find(c, &p->distinct, p->scratch.data, p->scratch.len, &id,
				      &isnew))
				return c->rc;
			if (!isnew)
				continue;
		}
		if (p->norder) {
			if (topn_offer(c, p, v, r))
				return c->rc;
			continue;
		}
		struct sn_exec_value *row = NULL;
		if (rows_push(c, &p->rows, &row))
			return c->rc;
		for (size_t i = 0; i < w; i++) /* text the query arena holds already stays */
			if (vec_value(c, &v[i], r, v[i].sq ? NULL : c->qa, &row[i]))
				return c->rc;
		row[w] = (struct sn_exec_value){.type = SN_XT_INT, .i = (int64_t)p->rows.seq++};
		p->rows.n++;
		if (p->rows.n >= want)
			p->done = true;
	}
	return 0;
}

/* ---- ARRAY JOIN and arrayJoin() ------------------------------------------------------ */

static bool has_agg(const node_t *n, int depth)
{
	if (!n || depth > SN_HOGQL_MAX_DEPTH || n->kind == SN_HQ_SELECT ||
	    n->kind == SN_HQ_SELECT_SET)
		return false;
	if (n->kind == SN_HQ_CALL && is_aggregate_call(n))
		return true;
	if (has_agg(n->a, depth + 1) || has_agg(n->b, depth + 1) || has_agg(n->c, depth + 1))
		return true;
	for (size_t i = 0; i < n->list.n; i++)
		if (has_agg(n->list.items[i], depth + 1))
			return true;
	return false;
}

/* Finds the statement's arrayJoin() calls under n (not in lambdas or
 * nested statements), inner ones first. */
static int aj_collect(struct xctx *c, struct plan *p, const node_t *n, int depth)
{
	if (!n || c->rc || n->kind == SN_HQ_LAMBDA || n->kind == SN_HQ_SELECT ||
	    n->kind == SN_HQ_SELECT_SET)
		return c->rc;
	if (depth > SN_HOGQL_MAX_DEPTH)
		return xfail(c, n, SN_ERR_INVALID, "QueryError", "Expression nests too deeply");
	if (n->kind == SN_HQ_FIELD && n->ref_kind == SN_HQR_ALIAS) {
		const node_t *t = xfollow_alias(c, n);
		return t != n && t->kind != SN_HQ_ALIAS ? aj_collect(c, p, t, depth + 1) : 0;
	}
	aj_collect(c, p, n->a, depth + 1);
	aj_collect(c, p, n->b, depth + 1);
	aj_collect(c, p, n->c, depth + 1);
	for (size_t i = 0; i < n->list.n; i++)
		aj_collect(c, p, n->list.items[i], depth + 1);
	if (c->rc || n->kind != SN_HQ_CALL || strcmp(n->name, "arrayJoin") != 0)
		return c->rc;
	if (n->list.n != 1 || n->list2.n)
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "Function 'arrayJoin' expects 1 argument, found %zu", n->list.n);
	if (has_agg(n->list.items[0], 0))
		return xunsupported(c, n,
				    "arrayJoin() of aggregates (ARRAY JOIN the grouped "
				    "subquery's array instead)");
	for (size_t i = 0; i < p->naj_nodes; i++)
		if (p->aj_node[i] == n)
			return 0;
	char *text = xnode_text(c, n);
	if (!text)
		return c->rc;
	size_t k = 0;
	while (k < p->naj_calls && strcmp(p->aj_text[k], text) != 0)
		k++;
	if (p->naj_nodes >= XMAX_AJ || (k == p->naj_calls && p->naj_calls + 1 >= XMAX_AJ))
		return xunsupported(c, n, "this many arrayJoin() calls");
	if (k == p->naj_calls)
		p->aj_text[p->naj_calls++] = text;
	p->aj_call_of[p->naj_nodes] = (uint8_t)k;
	p->aj_node[p->naj_nodes++] = n;
	return 0;
}

/* Gathers the batch's columns (those read for it: v.n rows) and its bound
 * array-join elements by idx (m rows). */
static int aj_gather(struct xctx *c, const uint32_t *idx, size_t m)
{
	for (size_t i = 0; i < c->ncols; i++) {
		struct xcol *x = &c->cols[i];
		if (x->v.n != c->n || (!x->v.s && !x->v.i && !x->v.f && !x->v.u && !x->v.cdict))
			continue;
		struct vec v = x->v;
		if (vec_gather(c, &v, idx, m, &x->v))
			return c->rc;
	}
	for (size_t i = 0; i < c->naj; i++) {
		bool done = false; /* nodes of one call share a vector */
		for (size_t j = 0; j < i && !done; j++)
			done = c->aj[j].v == c->aj[i].v;
		if (done)
			continue;
		struct vec v = *c->aj[i].v;
		if (vec_gather(c, &v, idx, m, (struct vec *)c->aj[i].v))
			return c->rc;
	}
	c->n = m;
	return c->rc;
}

static int aj_bind(struct xctx *c, const node_t *n, struct vec *v)
{
	if (c->naj >= XMAX_AJ)
		return xunsupported(c, n, "this many ARRAY JOIN items and arrayJoin() calls");
	c->aj[c->naj].n = n;
	c->aj[c->naj].v = v;
	c->naj++;
	return 0;
}

static int aj_need_array(struct xctx *c, const node_t *n, const struct vec *a)
{
	if (a->t == SN_XT_ARRAY)
		return 0;
	char tn[160];
	snprintf(tn, sizeof(tn), "%s", xtype_name(c, a->t, a->nullable, a->ct));
	return xfail(c, n, SN_ERR_INVALID, "QueryError", "%s needs an array, got %s",
		     n->kind == SN_HQ_CALL ? "arrayJoin" : "ARRAY JOIN", tn);
}

/* Multiplies the batch: ARRAY JOIN's items (zipped: one row per element
 * index; LEFT keeps a row with the elements' defaults for empty arrays),
 * then each arrayJoin() call (one row per element), binding each to its
 * elements. */
static int aj_expand(struct xctx *c, struct plan *p)
{
	const struct sn_hogql_select *s = p->sel;
	c->naj = 0;
	size_t k = s->array_join_list.n;
	if (s->array_join_op && k) {
		bool left = strncasecmp(s->array_join_op, "LEFT", 4) == 0;
		struct vec *e = xalloc(c, c->ba, k * sizeof(*e));
		uint32_t **off = xalloc(c, c->ba, k * sizeof(*off));
		if (!e || !off)
			return c->rc;
		for (size_t i = 0; i < k; i++) {
			const node_t *it = s->array_join_list.items[i];
			struct vec a;
			if (xeval(c, it->kind == SN_HQ_ALIAS ? it->a : it, &a) ||
			    aj_need_array(c, it, &a) || xarr_flatten(c, &a, &e[i], NULL, &off[i]))
				return c->rc;
		}
		size_t m = 0;
		for (size_t r = 0; r < c->n; r++) {
			uint32_t len = off[0][r + 1] - off[0][r];
			for (size_t i = 1; i < k; i++)
				if (off[i][r + 1] - off[i][r] != len)
					return xfail(c, s->array_join_list.items[i], SN_ERR_INVALID,
						     "QueryError",
						     "Sizes of ARRAY-JOIN-ed arrays do not match");
			m += len ? len : left;
		}
		uint32_t *ridx = xalloc(c, c->ba, (m + 1) * sizeof(*ridx));
		uint32_t *eidx = xalloc(c, c->ba, (m + 1) * sizeof(*eidx));
		if (!ridx || !eidx)
			return c->rc;
		size_t o = 0;
		for (size_t r = 0; r < c->n; r++) {
			if (off[0][r] == off[0][r + 1] && left) {
				ridx[o] = (uint32_t)r;
				eidx[o++] = UINT32_MAX;
			}
			for (uint32_t j = 0; j < off[0][r + 1] - off[0][r]; j++) {
				ridx[o] = (uint32_t)r;
				eidx[o++] = j;
			}
		}
		if (aj_gather(c, ridx, m))
			return c->rc;
		for (size_t i = 0; i < k; i++) {
			struct vec *v = xalloc(c, c->ba, sizeof(*v));
			if (!v || vec_make(c, v, e[i].t, e[i].nullable, m))
				return c->rc;
			v->ct = e[i].ct;
			for (size_t r = 0; r < m; r++) {
				if (r && (r & 65535) == 0 && xcheck_budget(c))
					return c->rc;
				if (eidx[r] != UINT32_MAX) {
					struct sn_exec_value x;
					vec_value(c, &e[i], off[i][ridx[r]] + eidx[r], NULL, &x);
					vec_put_value(v, r, &x);
				} else if (v->t == SN_XT_ARRAY) { /* the default: an empty array */
					v->s[r] = (struct sn_str){"\0\0\0\0", 4};
				}
			}
			if (aj_bind(c, s->array_join_list.items[i], v))
				return c->rc;
		}
	}
	for (size_t call = 0; call < p->naj_calls; call++) {
		const node_t *first = NULL;
		for (size_t i = 0; i < p->naj_nodes && !first; i++)
			if (p->aj_call_of[i] == call)
				first = p->aj_node[i];
		struct vec a, *v = xalloc(c, c->ba, sizeof(*v));
		uint32_t *row_of;
		if (!v || xeval(c, first->list.items[0], &a) || aj_need_array(c, first, &a) ||
		    xarr_flatten(c, &a, v, &row_of, NULL) || aj_gather(c, row_of, v->n))
			return c->rc;
		for (size_t i = 0; i < p->naj_nodes; i++)
			if (p->aj_call_of[i] == call && aj_bind(c, p->aj_node[i], v))
				return c->rc;
	}
	return c->rc;
}

/* A batch of a statement with ARRAY JOIN or arrayJoin(), its columns read:
 * multiplied, WHERE over the multiplied rows, then the rest. */
static int aj_rows(struct xctx *c, struct plan *p)
{
	if (aj_expand(c, p))
		return c->rc;
	if (p->sel->where && c->n) {
		struct vec w;
		if (xeval(c, p->sel->where, &w))
			return c->rc;
		uint32_t *sel = xalloc(c, c->ba, (c->n + 1) * sizeof(*sel));
		if (!sel)
			return c->rc;
		size_t k = 0;
		for (size_t r = 0; r < c->n; r++)
			if (vec_truth(&w, r))
				sel[k++] = (uint32_t)r;
		if (aj_gather(c, sel, k))
			return c->rc;
	}
	c->stats->rows_matched += c->n;
	int rc = !c->n || p->done ? 0 : p->agg ? agg_batch(c, &p->g) : emit(c, p, NULL);
	c->naj = 0; /* the batch's arena goes */
	return rc;
}

int xcheck_budget(struct xctx *c)
{
	uint64_t now = sn_mono_ns();
	if (now >= c->deadline_ns)
		return xfail(c, NULL, SN_ERR_TOO_BIG, "QueryError",
			     "Query exceeded its time limit of %.3f s",
			     (double)c->time_limit_us / 1e6);
	if (c->opts->cancelled && now >= c->next_cancel_ns) {
		c->next_cancel_ns = now + 50 * 1000000ull;
		if (c->opts->cancelled(c->opts->cancel_arg))
			return xfail(c, NULL, SN_ERR_INVALID, "QueryError",
				     "Query cancelled: the client closed the connection");
	}
	return 0;
}

static int run_rows(struct xctx *c, struct plan *p, struct sn_part *part, size_t g0, size_t g1,
		    uint32_t known, const uint32_t *idx, size_t m);

static int str_order(const char *a, size_t an, struct sn_str b)
{
	size_t n = an < b.len ? an : b.len;
	int d = n ? memcmp(a, b.p, n) : 0;
	return d ? d : (an > b.len) - (an < b.len);
}

/* The bits of plan.elide true on every row of granule g; *none when an
 * event term is false on every row (the granule need not be read). */
static uint32_t granule_known(const struct plan *p, const struct sn_part *part, size_t g,
			      bool *none)
{
	*none = false;
	if (!p->nelide)
		return 0;
	const struct sn_granule_info *gi = sn_part_granule(part, g);
	uint32_t known = 0;
	if (p->time_mask && gi->min_ts_us >= p->elide_lo && gi->max_ts_us <= p->elide_hi)
		known |= p->time_mask;
	if (g + 1 >= sn_part_ngranules(part))
		return known; /* no upper key: its events are unknown */
	const struct sn_granule_info *nx = sn_part_granule(part, g + 1);
	if (gi->team_id != nx->team_id || gi->day != nx->day)
		return known; /* the events wrap around to a new day or team */
	for (size_t k = 0; k < p->nelide; k++) {
		if (!p->elide_nev[k])
			continue;
		/* Rows lie between the two first rows: first <= event <= next.
		 * An entry keeps an event cut to SN_GRANULE_EVENT_MAX bytes, and
		 * the cut keeps order (a <= b gives cut(a) <= cut(b)), so the
		 * rows' events cut lie between the entries: gi->event <=
		 * cut(event) <= nx->event. None of the term's events so, cut:
		 * no row passes. The two entries equal to one of them, and the
		 * event short enough that no entry of that length was cut (as
		 * run_event): every row does. */
		bool inside = false, all = false;
		for (size_t j = 0; j < p->elide_nev[k]; j++) {
			const char *e = p->elide_ev[k][j];
			size_t en = strlen(e);
			size_t cn = en < SN_GRANULE_EVENT_MAX ? en : SN_GRANULE_EVENT_MAX;
			int lo = str_order(e, cn, gi->event), hi = str_order(e, cn, nx->event);
			inside |= lo >= 0 && hi <= 0;
			all |= lo == 0 && hi == 0 && en < SN_GRANULE_EVENT_MAX;
		}
		if (!inside)
			*none = true;
		else if (all)
			known |= 1u << k;
	}
	return known;
}

/* The UTC day all of granule g's times lie in, or INT64_MIN when they
 * span days (runs of granules are cut where it changes, for time buckets). */
static int64_t utc_day_of(const struct sn_part *part, size_t g)
{
	static const int64_t day = 86400LL * 1000000;
	const struct sn_granule_info *gi = sn_part_granule(part, g);
	int64_t a = floor_div(gi->min_ts_us, day), b = floor_div(gi->max_ts_us, day);
	return a == b ? a : INT64_MIN;
}

/* Rows of granules [g0, g1) if every one of them belongs to team, else 0:
 * rows are sorted by team, so granule g holds only team when its first row
 * and the next granule's first row both do (the last granule of a part has
 * no next one and is read). */
static size_t single_team_rows(const struct sn_part *part, size_t g0, size_t g1, int64_t team)
{
	size_t rows = 0, ng = sn_part_ngranules(part);
	if (g1 >= ng)
		return 0;
	for (size_t g = g0; g <= g1; g++)
		if (sn_part_granule(part, g)->team_id != team)
			return 0;
	for (size_t g = g0; g < g1; g++)
		rows += sn_part_granule(part, g)->nrows;
	return rows;
}

/* The one event of every row of granules [g0, g1) when the sparse index
 * shows it: rows sort by team, day and event, so a granule whose first
 * row and the next granule's first row share them holds only that event
 * (an event the index keeps cut is not trusted). */
static bool run_event(const struct sn_part *part, size_t g0, size_t g1, struct sn_str *ev)
{
	if (g1 >= sn_part_ngranules(part))
		return false;
	const struct sn_granule_info *a = sn_part_granule(part, g0);
	if (a->event.len >= SN_GRANULE_EVENT_MAX)
		return false;
	for (size_t g = g0; g < g1; g++) {
		const struct sn_granule_info *gi = sn_part_granule(part, g);
		const struct sn_granule_info *nx = sn_part_granule(part, g + 1);
		if (gi->team_id != nx->team_id || gi->day != nx->day ||
		    str_order(a->event.p, a->event.len, gi->event) ||
		    str_order(a->event.p, a->event.len, nx->event))
			return false;
	}
	*ev = a->event;
	return true;
}

/* Sets c->bconst to the values plan.bucket's run constants have over
 * granules [g0, g1): a time bucket (monotonic in the instant) equal at the
 * granules' earliest and latest times is equal in between; an expression
 * of event alone has one value where the run has one event. A column whose
 * run constants all have one (run_const) is not read for the run. */
static int run_consts(struct xctx *c, const struct plan *p, const struct sn_part *part, size_t g0,
		      size_t g1)
{
	c->nbconst = 0;
	if (!p->nbucket)
		return 0;
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	for (size_t g = g0; g < g1; g++) {
		const struct sn_granule_info *gi = sn_part_granule(part, g);
		lo = gi->min_ts_us < lo ? gi->min_ts_us : lo;
		hi = gi->max_ts_us > hi ? gi->max_ts_us : hi;
	}
	struct sn_str ev = {0};
	bool have_ev = run_event(part, g0, g1, &ev);
	struct xref rts = {.kind = XC_STORE, .name = SN_COL_NAME_TIMESTAMP};
	struct xref rev = {.kind = XC_STORE, .name = SN_COL_NAME_EVENT};
	int col[2] = {xcol_find(c, &rts), xcol_find(c, &rev)};
	bool ok[2] = {true, true}; /* time buckets, event expressions */
	int rc = 0;
	for (size_t k = 0; k < p->nbucket && rc == 0; k++) {
		int kind = p->bucket_ev[k];
		if (col[kind] < 0 || (kind ? !have_ev : lo > hi)) {
			ok[kind] = false;
			continue;
		}
		/* the node over one or two rows standing for the run */
		struct vec run, v;
		rc = vec_make_raw(c, &run, kind ? SN_XT_STRING : SN_XT_DATETIME, false,
				  kind ? 1 : 2);
		if (rc == 0) {
			if (kind) {
				run.s[0] = ev;
			} else {
				run.i[0] = lo;
				run.i[1] = hi;
			}
			rc = eval_with_column(c, &c->cols[col[kind]], &run, p->bucket[k], &v);
		}
		bool one = rc == 0 &&
			   (kind ? v.n == 1
				 : v.n == 2 && !v.nulls && !v.s && !v.f && v.i && v.i[0] == v.i[1]);
		if (!one) {
			ok[kind] = false;
			continue;
		}
		c->bconst[c->nbconst] = p->bucket[k];
		c->bconst_v[c->nbconst++] = v;
	}
	for (int kind = 0; kind < 2; kind++)
		if (col[kind] >= 0)
			c->cols[col[kind]].run_const = ok[kind];
	if (rc == 0 && c->nbconst == p->nbucket)
		c->stats->runs_bucketed++;
	return rc;
}

static void run_consts_clear(struct xctx *c)
{
	c->nbconst = 0;
	for (size_t i = 0; i < c->ncols; i++)
		c->cols[i].run_const = false;
}

static int run_batch(struct xctx *c, struct plan *p, struct sn_part *part, size_t g0, size_t g1)
{
	size_t m = 0, nrows = single_team_rows(part, g0, g1, c->opts->team_id);
	const uint32_t *idx;
	if (nrows) { /* no need to read team_id; the rows are 0, 1, ... (read only) */
		if (nrows > c->nident) {
			size_t cap = c->nident ? c->nident : 256;
			while (cap < nrows)
				cap *= 2;
			uint32_t *id = xalloc(c, c->qa, cap * sizeof(*id));
			if (!id)
				return c->rc;
			for (size_t r = 0; r < cap; r++)
				id[r] = (uint32_t)r;
			c->ident = id;
			c->nident = cap;
		}
		idx = c->ident;
		m = nrows;
	} else {
		struct sn_colvec team;
		struct sn_err e = {0};
		int rc = sn_part_read_column(part,
					     (size_t)sn_part_find_column(part, SN_COL_NAME_TEAM_ID),
					     g0, g1, c->ba, &team, &e);
		if (rc == SN_ERR_NOMEM)
			return xnomem(c);
		if (rc)
			return xfail(c, NULL, rc, "QueryError", "reading team_id: %s", e.msg);
		nrows = team.nrows;
		uint32_t *tidx = xalloc(c, c->ba, nrows * sizeof(*tidx));
		if (!tidx)
			return c->rc;
		for (size_t r = 0; r < nrows; r++)
			if (team.i64[r] == c->opts->team_id)
				tidx[m++] = (uint32_t)r;
		idx = tidx;
	}
	c->stats->granules_read += g1 - g0;
	c->stats->rows_read += nrows;
	c->stats->rows_team += m;
	if (!m)
		return 0;
	c->n = m;
	bool none;
	uint32_t known = granule_known(p, part, g0, &none); /* alike for the run (scan()) */
	const node_t *kt[MAX_ELIDE];
	size_t nk = 0;
	for (size_t k = 0; k < p->nelide; k++)
		if (known & (1u << k))
			kt[nk++] = p->elide[k];
	c->known_true = kt;
	c->nknown = nk;
	int rc2 = run_consts(c, p, part, g0, g1);
	if (rc2 == 0)
		rc2 = run_rows(c, p, part, g0, g1, known, idx, m);
	c->known_true = NULL;
	c->nknown = 0;
	run_consts_clear(c);
	return rc2;
}

/* The team's rows idx (m of them) of granules [g0, g1): WHERE, then the
 * rest of the statement. */
/* Whether WHERE holds on every row of the run: each top-level term is
 * one the sparse index answered (c->known_true). */
static bool where_known(const struct xctx *c, const node_t *w)
{
	size_t nt = w->kind == SN_HQ_AND ? w->list.n : 1;
	for (size_t i = 0; i < nt; i++) {
		const node_t *t = w->kind == SN_HQ_AND ? w->list.items[i] : w;
		bool k = false;
		for (size_t j = 0; j < c->nknown && !k; j++)
			k = c->known_true[j] == t;
		if (!k)
			return false;
	}
	return true;
}

static int run_rows(struct xctx *c, struct plan *p, struct sn_part *part, size_t g0, size_t g1,
		    uint32_t known, const uint32_t *idx, size_t m)
{
	if (p->has_aj) { /* every column first, then the rows multiply */
		for (size_t i = 0; i < c->ncols; i++)
			c->cols[i].v = (struct vec){0};
		if (load_cols(c, part, g0, g1, known, 0, idx, m) ||
		    load_cols(c, part, g0, g1, known, 1, idx, m))
			return c->rc;
		return aj_rows(c, p);
	}
	bool inner = false; /* a pdi INNER join drops rows without a person */
	for (size_t i = 0; i < c->ncols; i++)
		inner |= c->cols[i].kind == XC_PDI;
	if (!inner && p->sel->where && !where_known(c, p->sel->where) && by_terms(c, p, known)) {
		if (where_terms(c, p, part, g0, g1, known, &idx, &m))
			return c->rc;
	} else if (load_cols(c, part, g0, g1, known, 0, idx, m)) {
		return c->rc;
	} else if ((p->sel->where && !where_known(c, p->sel->where)) || inner) {
		struct vec w;
		if (p->sel->where && xeval(c, p->sel->where, &w))
			return c->rc;
		uint32_t *sel = xalloc(c, c->ba, m * sizeof(*sel));
		if (!sel)
			return c->rc;
		size_t k = 0;
		bool plain =
		    p->sel->where && !inner && w.t != SN_XT_NULL && !w.nulls && w.i && !w.f;
		if (plain) /* branch-free selection of a NULL-free boolean */
			for (size_t r = 0; r < m; r++) {
				sel[k] = (uint32_t)r;
				k += w.i[r] != 0;
			}
		for (size_t r = 0; r < m && !plain; r++) {
			bool ok = !p->sel->where || vec_truth(&w, r);
			for (size_t i = 0; ok && inner && i < c->ncols; i++)
				ok = c->cols[i].kind != XC_PDI || !c->cols[i].unmatched[r];
			if (ok)
				sel[k++] = (uint32_t)r;
		}
		for (size_t i = 0; i < c->ncols; i++) {
			struct xcol *x = &c->cols[i];
			if (col_in_phase(x, known, 0)) {
				struct vec v = x->v;
				if (vec_gather(c, &v, sel, k, &x->v))
					return c->rc;
			}
		}
		for (size_t r = 0; r < k; r++)
			sel[r] = idx[sel[r]];
		idx = sel;
		m = k;
	}
	c->stats->rows_matched += m;
	if (!m)
		return 0;
	c->n = m;
	if (load_cols(c, part, g0, g1, known, 1, idx, m))
		return c->rc;
	return p->agg ? agg_batch(c, &p->g) : emit(c, p, NULL);
}

/* One batch of a person-store table (join_scan_table filled every column). */
static int table_batch(struct xctx *c, void *arg)
{
	struct plan *p = arg;
	size_t m = c->n;
	c->stats->rows_read += m;
	c->stats->rows_team += m;
	if (p->has_aj)
		return aj_rows(c, p);
	if (p->sel->where) {
		struct vec w;
		if (xeval(c, p->sel->where, &w))
			return c->rc;
		uint32_t *sel = xalloc(c, c->ba, (m + 1) * sizeof(*sel));
		if (!sel)
			return c->rc;
		size_t k = 0;
		for (size_t r = 0; r < m; r++)
			if (vec_truth(&w, r))
				sel[k++] = (uint32_t)r;
		for (size_t i = 0; i < c->ncols; i++) {
			struct vec v = c->cols[i].v;
			if (vec_gather(c, &v, sel, k, &c->cols[i].v))
				return c->rc;
		}
		c->n = m = k;
	}
	c->stats->rows_matched += m;
	if (!m || p->done)
		return 0;
	return p->agg ? agg_batch(c, &p->g) : emit(c, p, NULL);
}

/* A run of granules of one part, read and evaluated as one batch. */
struct srun {
	struct sn_part *part;
	size_t g0, g1;
};

static void scan_runs(struct xctx *c, struct plan *p, const struct srun *runs, size_t n)
{
	struct sn_arena ba; /* per-run scratch, reset (not freed) between runs */
	sn_arena_init(&ba, c->mem_limit);
	for (size_t i = 0; i < n && !c->rc && !p->done; i++) {
		if (xcheck_budget(c))
			break;
		c->ba = &ba;
		run_batch(c, p, runs[i].part, runs[i].g0, runs[i].g1);
		sn_arena_reset(&ba);
		c->ba = NULL;
	}
	sn_arena_release(&ba);
}

/* ---- more than one core ----------------------------------------------------------- */

/* A scanner thread: a copy of the statement's context and plan with its
 * own query arena, statistics, error, per-query caches and groups. */
struct scanner {
	struct xctx c;
	struct plan p;
	struct xquery q;
	struct sn_arena qa;
	struct sn_exec_stats stats;
	struct sn_hogql_error err;
	const struct srun *runs;
	size_t nruns;
	pthread_t th;
	bool started;
};

static int visit_split(struct xctx *c, struct plan *p, const node_t *n, void *arg)
{
	(void)c;
	(void)p;
	bool *ok = arg;
	if (n->kind == SN_HQ_SELECT || n->kind == SN_HQ_SELECT_SET) {
		*ok = false; /* subqueries materialise lazily, per query */
		return 1;
	}
	if (n->kind == SN_HQ_COMPARE &&
	    (strcmp(n->op, "in") == 0 || strcmp(n->op, "not in") == 0) && n->b &&
	    n->b->kind != SN_HQ_TUPLE && n->b->kind != SN_HQ_ARRAY && n->b->kind != SN_HQ_CONSTANT)
		*ok = false;
	return 0;
}

/* Threads for this scan: only aggregations whose states merge exactly,
 * over stored columns, person_id and (when persons_ok: the caller freezes
 * the person side first) person fields — distinct-id and group joins
 * build their sides lazily through one SQLite handle — without
 * subqueries, and with enough runs to be worth a thread. */
static size_t scan_threads(struct xctx *c, struct plan *p, size_t nruns, bool persons_ok)
{
	size_t want = c->opts->threads;
	if (!want) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);
		want = cores > 0 ? (size_t)cores : 1;
	}
	if (want > SN_EXEC_MAX_THREADS)
		want = SN_EXEC_MAX_THREADS;
	if (want > nruns)
		want = nruns; /* at least a run each */
	/* Aggregations whose states merge exactly; or plain row reads without
	 * ORDER BY or DISTINCT that want many rows (an insight's events):
	 * each share keeps up to OFFSET + LIMIT + 1 of its rows, and the
	 * shares' rows are concatenated in order, as one thread reads them. */
	bool rows = !p->agg && !p->norder && !p->sel->distinct &&
		    p->offset + p->limit + 1 >= SPLIT_MIN_ROWS;
	if (want < 2 || (p->agg ? !agg_mergeable(&p->g) : !rows))
		return 1;
	for (size_t i = 0; i < c->ncols; i++) /* person_id's override map is read-only by now */
		if (c->cols[i].kind != XC_STORE && c->cols[i].kind != XC_PROP &&
		    c->cols[i].kind != XC_PROPS && c->cols[i].kind != XC_PERSON_ID &&
		    c->cols[i].kind != XC_SESSION && !(persons_ok && c->cols[i].kind == XC_PERSON))
			return 1;
	bool ok = true;
	const struct sn_hogql_select *s = p->sel;
	for (size_t i = 0; i < s->select.n; i++)
		walk(c, p, s->select.items[i], visit_split, &ok);
	walk(c, p, s->where, visit_split, &ok);
	for (size_t i = 0; i < s->group_by.n; i++)
		walk(c, p, s->group_by.items[i], visit_split, &ok);
	walk(c, p, s->having, visit_split, &ok);
	for (size_t i = 0; i < p->norder; i++)
		walk(c, p, p->order[i], visit_split, &ok);
	return ok && !c->rc ? want : 1;
}

static void *scanner_main(void *arg)
{
	struct scanner *w = arg;
	scan_runs(&w->c, &w->p, w->runs, w->nruns);
	return NULL;
}

static int scanner_start(struct xctx *c, struct plan *p, struct scanner *w, unsigned worker,
			 const struct srun *runs, size_t n)
{
	memset(w, 0, sizeof(*w));
	w->c = *c;
	w->p = *p;
	w->p.worker = worker;
	sn_arena_init(&w->qa, c->mem_limit);
	w->c.qa = &w->qa;
	w->c.q = &w->q;
	w->c.err = &w->err;
	w->c.stats = &w->stats;
	w->c.ba = NULL;
	memset(&w->p.rows, 0, sizeof(w->p.rows));
	w->p.rows.width = p->rows.width;
	w->p.rows.keep = p->rows.keep;
	w->p.done = false;
	if (agg_init(&w->c, &w->p.g)) {
		*c->err = w->err;
		return c->rc = w->c.rc;
	}
	w->runs = runs;
	w->nruns = n;
	if (sn_thread_start_beside(&w->th, scanner_main, w) != 0)
		return xfail(c, NULL, SN_ERR_INTERNAL, "QueryError", "cannot start a scan thread");
	w->started = true;
	return 0;
}

/* Appends w's rows (its share's, in scan order) after the rows so far, up
 * to OFFSET + LIMIT + 1; their strings stay in w's arena, which the
 * query's arena adopts. */
static void scanner_take_rows(struct xctx *c, struct plan *p, struct scanner *w)
{
	struct rows *rs = &p->rows, *ws = &w->p.rows;
	size_t want = p->want, width = rs->width;
	if (!ws->n || rs->n >= want)
		return;
	if (sn_arena_adopt(c->qa, &w->qa)) {
		xnomem(c);
		return;
	}
	for (size_t i = 0; i < ws->n && rs->n < want; i++) {
		struct sn_exec_value *row;
		if (rows_push(c, rs, &row))
			return;
		memcpy(row, &ws->v[i * width], width * sizeof(*row));
		row[width - 1] = (struct sn_exec_value){.type = SN_XT_INT, .i = (int64_t)rs->seq++};
		rs->n++;
	}
	if (rs->n >= want)
		p->done = true;
}

/* Waits for w, takes its error or merges its groups (or rows), frees its
 * memory. */
static void scanner_finish(struct xctx *c, struct plan *p, struct scanner *w)
{
	if (w->started)
		pthread_join(w->th, NULL);
	if (w->started && !c->rc) {
		if (w->c.rc) {
			*c->err = w->err;
			c->rc = w->c.rc;
		} else {
			if (p->agg)
				agg_merge(c, &p->g, &w->p.g);
			else
				scanner_take_rows(c, p, w);
			c->stats->granules_read += w->stats.granules_read;
			c->stats->rows_read += w->stats.rows_read;
			c->stats->rows_team += w->stats.rows_team;
			c->stats->rows_matched += w->stats.rows_matched;
			c->stats->runs_bucketed += w->stats.runs_bucketed;
			c->stats->distinct_evals += w->stats.distinct_evals;
			c->stats->terms_skipped += w->stats.terms_skipped;
			c->stats->coded_reads += w->stats.coded_reads;
			c->stats->coded_terms += w->stats.coded_terms;
		}
	}
	agg_release(&w->p.g);
	xscalar_release(&w->q);
	free(w->p.rows.v);
	sn_arena_release(&w->qa);
}

static int scan(struct xctx *c, struct plan *p)
{
	/* One snapshot for the whole query: merges and deletions that commit
	 * meanwhile are not seen, and the parts it holds stay readable. */
	const char *dir = c->opts->store_dir;
	struct sn_store_snapshot *snap = NULL;
	struct sn_err se = {0};
	if (!dir)
		return 0; /* no store yet: no rows */
	int src = sn_store_snapshot_open_dir(dir, &snap, &se);
	if (src)
		return xfail(c, NULL, src, "QueryError", "%s", se.msg);
	size_t n = sn_store_snapshot_nparts(snap);
	static const int64_t day = 86400LL * 1000000;
	int32_t dmin = p->ts_lo == INT64_MIN ? INT32_MIN : (int32_t)floor_div(p->ts_lo, day);
	int32_t dmax = p->ts_hi == INT64_MAX ? INT32_MAX : (int32_t)floor_div(p->ts_hi, day);
	size_t run = c->opts->run_granules ? c->opts->run_granules : 8;
	/* The runs first: pruning by team, day, time and event, each run's
	 * granules alike in which index-answerable terms are known true. */
	size_t nruns = 0, cap = 0;
	struct srun *runs = NULL;
	for (size_t i = 0; i < n && !c->rc; i++) {
		struct sn_part *part = sn_store_snapshot_part(snap, i);
		c->stats->parts++;
		c->stats->granules_total += sn_part_ngranules(part);
		size_t gb, ge;
		sn_part_granules_for_team(part, c->opts->team_id, dmin, dmax, &gb, &ge);
		for (size_t g = gb; g < ge;) {
			bool none;
			uint32_t known = granule_known(p, part, g, &none);
			if (none || !sn_part_granule_overlaps_time(part, g, p->ts_lo, p->ts_hi)) {
				g++;
				continue;
			}
			size_t g1 = g + 1;
			int64_t uday = p->nbucket_ts ? utc_day_of(part, g) : 0;
			while (g1 < ge && g1 - g < run &&
			       sn_part_granule_overlaps_time(part, g1, p->ts_lo, p->ts_hi) &&
			       granule_known(p, part, g1, &none) == known && !none &&
			       (!p->nbucket_ts || utc_day_of(part, g1) == uday))
				g1++;
			if (nruns == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct srun *r = xalloc(c, c->qa, nc * sizeof(*r));
				if (!r)
					break;
				if (nruns)
					memcpy(r, runs, nruns * sizeof(*r));
				runs = r;
				cap = nc;
			}
			runs[nruns++] = (struct srun){part, g, g1};
			g = g1;
		}
	}
	if (p->sample && !c->rc) {
		uint64_t approx = 0;
		for (size_t i = 0; i < nruns; i++)
			for (size_t g = runs[i].g0; g < runs[i].g1; g++)
				approx += sn_part_granule(runs[i].part, g)->nrows;
		if (sample_resolve(c, p, approx)) {
			sn_store_snapshot_release(snap);
			return c->rc;
		}
	}
	/* Person fields split only over a long scan: the whole team is read
	 * first (join_freeze_persons), which a short one would not need. */
	bool persons = false;
	for (size_t i = 0; i < c->ncols; i++)
		persons |= c->cols[i].kind == XC_PERSON;
	size_t nt = c->rc ? 1 : scan_threads(c, p, nruns, nruns >= FREEZE_MIN_RUNS);
	if (nt > 1 && persons) {
		bool ok = false;
		if (join_freeze_persons(c, FREEZE_MAX_PERSONS, &ok) || !ok)
			nt = 1;
	}
	if (nt > c->stats->scan_threads)
		c->stats->scan_threads = (uint32_t)nt;
	if (nt <= 1) {
		if (!c->rc)
			scan_runs(c, p, runs, nruns);
	} else {
		/* Contiguous shares of about equal granules; thread k's rows come
		 * after thread k-1's, so merging in order is the serial result. */
		size_t total = 0, cut[SN_EXEC_MAX_THREADS + 1] = {0};
		for (size_t i = 0; i < nruns; i++)
			total += runs[i].g1 - runs[i].g0;
		size_t acc = 0, k = 1;
		for (size_t i = 0; i < nruns && k < nt; i++) {
			acc += runs[i].g1 - runs[i].g0;
			if (acc * nt >= total * k)
				cut[k++] = i + 1;
		}
		while (k <= nt)
			cut[k++] = nruns;
		/* scaffolding, not query data: outside the query's budget */
		struct scanner *ws = calloc(nt - 1, sizeof(*ws));
		if (!ws)
			xnomem(c);
		size_t started = 0;
		for (size_t t = 1; ws && t < nt && !c->rc; t++, started++)
			scanner_start(c, p, &ws[t - 1], (unsigned)t, runs + cut[t],
				      cut[t + 1] - cut[t]);
		if (!c->rc)
			scan_runs(c, p, runs, cut[1]);
		for (size_t t = 0; t < started; t++)
			scanner_finish(c, p, &ws[t]);
		free(ws);
	}
	sn_store_snapshot_release(snap);
	return c->rc;
}

/* ---- sort and finish ------------------------------------------------------------------- */

/* Two rows' ORDER BY keys. */
static int keys_cmp(const struct plan *p, const struct sn_exec_value *x,
		    const struct sn_exec_value *y)
{
	for (size_t i = 0; i < p->norder; i++) {
		const struct sn_exec_value *u = &x[p->nsel + i], *v = &y[p->nsel + i];
		int d;
		if (u->null || v->null) {
			d = u->null == v->null ? 0 : (u->null ? 1 : -1);
			if (p->nulls_first[i])
				d = -d;
		} else {
			d = value_cmp(u, v);
			if (p->desc[i])
				d = -d;
		}
		if (d)
			return d;
	}
	return 0;
}

static int row_cmp(const void *a, const void *b, void *arg)
{
	const struct plan *p = arg;
	const struct sn_exec_value *x = a, *y = b;
	int d = keys_cmp(p, x, y);
	if (d)
		return d;
	/* ties keep arrival order */
	int64_t sa = x[p->rows.width - 1].i, sb = y[p->rows.width - 1].i;
	return (sa > sb) - (sa < sb);
}

/* qsort_r sorts elements of a fixed size; rows are rows.width values.
 * pfx orders the first ORDER BY key as value_cmp does, as far as 64 bits
 * tell (integers and times exactly, strings by their first 8 bytes): most
 * comparisons end there instead of in memcmp. */
struct sortent {
	struct sn_exec_value *row;
	uint64_t pfx;
	bool pk; /* pfx is valid: the key is neither NULL nor a float */
};

static uint64_t key_prefix(const struct sn_exec_value *v)
{
	if (v->type == SN_XT_UINT) /* bits above 2^63 (hash values) */
		return (uint64_t)v->i;
	if (v->type != SN_XT_STRING && v->type != SN_XT_UUID)
		return (uint64_t)v->i ^ (1ULL << 63); /* signed order as unsigned */
	uint64_t x = 0;
	const char *p = v->s.p;
	size_t n = v->s.len < 8 ? v->s.len : 8;
	if (v->type == SN_XT_UUID && v->s.len == 36)
		p += 19; /* ClickHouse's order: the second half first */
	for (size_t k = 0; k < n; k++)
		x |= (uint64_t)(unsigned char)p[k] << (56 - 8 * k);
	return x;
}

static int ent_cmp(const void *a, const void *b, void *arg)
{
	const struct sortent *x = a, *y = b;
	const struct plan *p = arg;
	if (x->pk && y->pk && x->pfx != y->pfx)
		return (x->pfx < y->pfx) == !p->desc[0] ? -1 : 1;
	return row_cmp(x->row, y->row, arg);
}

/* LIMIT n OFFSET m BY keys over the sorted rows: of each key's rows
 * only the (m+1)-th to (m+n)-th stay, in order; *n becomes their count. */
static int limit_by(struct xctx *c, struct plan *p, struct sortent *ents, size_t *n)
{
	struct gtab seen;
	uint32_t *count = xalloc(c, c->qa, (*n + 1) * sizeof(*count));
	if (!count || gtab_init(c, &seen, 1024))
		return c->rc;
	size_t k0 = p->nsel + p->norder, out = 0;
	for (size_t r = 0; r < *n; r++) {
		sn_buf_reset(&p->scratch);
		for (size_t k = 0; k < p->nlby; k++)
			if (value_key(&p->scratch, &ents[r].row[k0 + k]))
				return xnomem(c);
		uint32_t id;
		bool isnew;
		if (gtab_find(c, &seen, p->scratch.data, p->scratch.len, &id, &isnew))
			return c->rc;
		if (isnew)
			count[id] = 0;
		uint32_t seen_before = count[id]++;
		if (seen_before >= (uint64_t)p->lby_off &&
		    seen_before - (uint64_t)p->lby_off < (uint64_t)p->lby_n)
			ents[out++] = ents[r];
	}
	*n = out;
	return 0;
}

static int finish(struct xctx *c, struct plan *p, struct xtable *res)
{
	struct rows *rs = &p->rows;
	if (p->sink) { /* the rows went to the consumer */
		res->nrows = 0;
		res->has_more = p->sink->has_more;
		res->limit = p->limit;
		res->offset = p->offset;
		return 0;
	}
	if (!p->norder && !p->nlby && !rs->sa_init && rs->v) {
		/* Rows already in order: the result is the rows themselves,
		 * compacted in place to their select columns and handed to the
		 * query arena. A copy into fresh memory cost Q6's 537k-row side
		 * a page fault every 50 rows (a fifth of its time). */
		size_t off = (size_t)p->offset < rs->n ? (size_t)p->offset : rs->n;
		size_t avail = rs->n - off, ns = p->nsel;
		size_t take = avail < (size_t)p->limit ? avail : (size_t)p->limit;
		for (size_t r = 0; r < take; r++)
			memmove(&rs->v[r * ns], &rs->v[(off + r) * rs->width], ns * sizeof(*rs->v));
		int rc = sn_arena_own(c->qa, rs->v, rs->cap * rs->width * sizeof(*rs->v));
		if (rc)
			return rc == SN_ERR_NOMEM ? xnomem(c) : xnomem(c);
		res->cells = rs->v;
		rs->v = NULL; /* the arena's now */
		res->nrows = take;
		res->has_more = avail > (size_t)p->limit;
		res->limit = p->limit;
		res->offset = p->offset;
		return 0;
	}
	struct sortent *ents = xalloc(c, c->qa, (rs->n + 1) * sizeof(*ents));
	if (!ents)
		return c->rc;
	int t0 = -1; /* the first key's type; prefixes only if all rows agree */
	bool pk = p->norder > 0;
	for (size_t r = 0; r < rs->n; r++) {
		struct sn_exec_value *row = &rs->v[r * rs->width], *k = &row[p->nsel];
		ents[r].row = row;
		ents[r].pk = false;
		if (!pk || k->null)
			continue;
		if (t0 < 0)
			t0 = k->type;
		if (k->type != t0 || k->type == SN_XT_FLOAT || k->type == SN_XT_ARRAY ||
		    k->type == SN_XT_TUPLE) {
			pk = false;
			continue;
		}
		ents[r].pfx = key_prefix(k);
		ents[r].pk = true;
	}
	for (size_t r = 0; !pk && r < rs->n; r++)
		ents[r].pk = false;
	if (p->norder && rs->n > 1) {
		if (xcheck_budget(c))
			return c->rc;
		qsort_r(ents, rs->n, sizeof(*ents), ent_cmp, p);
		if (xcheck_budget(c))
			return c->rc;
	}
	size_t nrows = rs->n;
	if (p->nlby && limit_by(c, p, ents, &nrows))
		return c->rc;
	size_t off = (size_t)p->offset < nrows ? (size_t)p->offset : nrows;
	size_t avail = nrows - off;
	size_t take = avail < (size_t)p->limit ? avail : (size_t)p->limit;
	while (p->ties && take && take < avail &&
	       keys_cmp(p, ents[off + take - 1].row, ents[off + take].row) == 0)
		take++;
	res->has_more = avail > take;
	res->nrows = take;
	res->limit = p->limit;
	res->offset = p->offset;
	res->cells = xalloc(c, c->qa, (take * p->nsel + 1) * sizeof(*res->cells));
	if (!res->cells)
		return c->rc;
	for (size_t r = 0; r < take; r++)
		memcpy(&res->cells[r * p->nsel], ents[off + r].row, p->nsel * sizeof(*res->cells));
	/* top-N strings live in the heap's arena, released with the plan */
	for (size_t k = 0; rs->sa_init && k < take * p->nsel; k++) {
		struct sn_exec_value *x = &res->cells[k];
		if (x->null || !x->s.len || !sn_exec_type_has_bytes(x->type))
			continue;
		char *q = xalloc(c, c->qa, x->s.len);
		if (!q)
			return c->rc;
		memcpy(q, x->s.p, x->s.len);
		x->s.p = q;
	}
	return 0;
}

/* §4.8: alias, else the last element of a field or property chain, else text. */
const char *column_name(struct xctx *c, const node_t *e)
{
	if (e->typed_of)
		e = e->typed_of; /* a typed property keeps its name */
	if (e->kind == SN_HQ_ALIAS)
		return e->name;
	bool bad;
	const char *key = prop_key(e, &bad);
	if (key)
		return key;
	if (e->kind == SN_HQ_FIELD && e->strs.n)
		return e->strs.items[e->strs.n - 1];
	return xnode_text(c, e);
}

/* Whether n evaluates to an aggregate function state (its type in *ct).
 * Asked of expressions the type pass has not necessarily evaluated on
 * their own (a Field inside another function's arguments): an error here
 * only means n is not a state, so it is forgotten. */
static bool state_value(struct xctx *c, const node_t *n, const char **ct)
{
	struct sn_hogql_error keep = *c->err;
	int rc = c->rc;
	struct vec v;
	bool st = xeval(c, n, &v) == 0 && v.t == SN_XT_AGGSTATE;
	*ct = st ? v.ct : NULL;
	*c->err = keep;
	c->rc = rc;
	return st;
}

/* A state (AggregateFunction value, agg.c) is read only by -Merge
 * aggregates (agg_type checks their arguments), finalizeAggregation and
 * toTypeName, or passed on whole (a select item, a key, an ORDER BY
 * expression, through an alias). Functions and operators read their
 * arguments as the types they know, so a state anywhere else is refused
 * here, on the type pass, before a row is read. reader: n's parent may
 * read a state. */
static int check_states(struct xctx *c, const node_t *n, bool reader)
{
	if (!n || c->rc || n->kind == SN_HQ_SELECT || n->kind == SN_HQ_SELECT_SET ||
	    n->kind == SN_HQ_LAMBDA || n->kind == SN_HQ_CONSTANT)
		return c->rc;
	bool agg = n->kind == SN_HQ_CALL && is_aggregate_call(n);
	const char *ct;
	if (!reader &&
	    (n->kind == SN_HQ_FIELD || agg ||
	     (n->kind == SN_HQ_CALL && n->name && strcmp(n->name, "arrayReduce") == 0)) &&
	    state_value(c, n, &ct)) {
		const char *text = xnode_text(c, n);
		return xfail(c, n, SN_ERR_INVALID, "QueryError",
			     "%s is an aggregate function state (%s): only its -Merge aggregate, "
			     "finalizeAggregation and toTypeName read one",
			     text ? text : "a value", ct ? ct : "AggregateFunction");
	}
	if (agg || n->kind == SN_HQ_FIELD)
		return c->rc; /* an aggregate's arguments: agg_type */
	bool r = n->kind == SN_HQ_ALIAS ? reader
					: n->kind == SN_HQ_CALL && n->name &&
					      (strcmp(n->name, "finalizeAggregation") == 0 ||
					       strcmp(n->name, "toTypeName") == 0);
	check_states(c, n->a, r);
	check_states(c, n->b, r);
	check_states(c, n->c, r);
	check_states(c, n->d, r);
	for (size_t i = 0; i < n->list.n; i++)
		check_states(c, n->list.items[i], r);
	for (size_t i = 0; i < n->list2.n; i++)
		check_states(c, n->list2.items[i], r);
	for (size_t i = 0; i < n->list3.n; i++)
		check_states(c, n->list3.items[i], r);
	return c->rc;
}

/* Types every expression over an empty batch; see the file comment. */
static int type_pass(struct xctx *c, struct plan *p, struct xtable *res)
{
	struct sn_arena ba;
	struct vec keyv[XMAX_KEYS], aggv[XMAX_AGGS]; /* bound until the end */
	sn_arena_init(&ba, c->mem_limit);
	c->ba = &ba;
	c->n = 0;
	for (size_t i = 0; i < c->ncols; i++) {
		if (vec_make(c, &c->cols[i].v, c->cols[i].t, c->cols[i].nullable, 0))
			goto out;
		c->cols[i].v.ct = c->cols[i].ct;
	}
	if (p->has_aj && aj_expand(c, p))
		goto out;
	struct vec v;
	if (p->sel->where && (xeval(c, p->sel->where, &v) || check_states(c, p->sel->where, false)))
		goto out;
	struct vec *sv = xalloc(c, c->qa, (p->nsel + 1) * sizeof(*sv));
	if (!sv)
		goto out;
	if (p->agg) {
		for (size_t k = 0; k < p->g.nkeys; k++) {
			if (xeval(c, p->g.key_nodes[k], &v) ||
			    check_states(c, p->g.key_nodes[k], true))
				goto out;
			p->g.key_t[k] = v.t;
			p->g.key_nullable[k] = v.nullable;
			p->g.key_ct[k] = v.ct;
		}
		for (size_t a = 0; a < p->g.naggs; a++) {
			const node_t *call = p->g.aggs[a].call;
			if (agg_type(c, &p->g.aggs[a]) || check_states(c, call->a, true))
				goto out;
			/* its arguments themselves are agg_type's to check */
			for (size_t k = 0; k < call->list.n; k++)
				if (check_states(c, call->list.items[k], true))
					goto out;
		}
		if (agg_final(c, &p->g, keyv, aggv))
			goto out;
		struct bindctx b = {keyv, aggv};
		c->naj = 0; /* the groups bind the keys now */
		c->final = true;
		for (size_t i = 0; i < p->nsel; i++)
			walk(c, p, p->sel->select.items[i], visit_binds, &b);
		walk(c, p, p->sel->having, visit_binds, &b);
		for (size_t i = 0; i < p->norder; i++)
			walk(c, p, p->order[i], visit_binds, &b);
		for (size_t i = 0; i < p->nlby; i++)
			walk(c, p, p->lby[i], visit_binds, &b);
		if (p->sel->having && xeval(c, p->sel->having, &v))
			goto out;
	}
	for (size_t i = 0; i < p->nsel; i++)
		if (xeval(c, p->sel->select.items[i], &sv[i]) ||
		    check_states(c, p->sel->select.items[i], true))
			goto out;
	for (size_t i = 0; i < p->norder; i++)
		if (xeval(c, p->order[i], &v) || check_states(c, p->order[i], true))
			goto out;
	for (size_t i = 0; i < p->nlby; i++)
		if (xeval(c, p->lby[i], &v) || check_states(c, p->lby[i], true))
			goto out;
	if (p->sel->having && check_states(c, p->sel->having, false))
		goto out;
	res->ncols = p->nsel;
	res->names = xalloc(c, c->qa, (p->nsel + 1) * sizeof(*res->names));
	res->t = xalloc(c, c->qa, p->nsel + 1);
	res->nullable = xalloc(c, c->qa, (p->nsel + 1) * sizeof(*res->nullable));
	res->ct = xalloc(c, c->qa, (p->nsel + 1) * sizeof(*res->ct));
	res->items = (const node_t *const *)p->sel->select.items;
	for (size_t i = 0; res->names && res->t && res->nullable && res->ct && i < p->nsel; i++) {
		res->names[i] = column_name(c, p->sel->select.items[i]);
		res->t[i] = sv[i].t;
		res->ct[i] = sv[i].ct;
		res->nullable[i] = sv[i].nullable || sv[i].t == SN_XT_NULL;
		if (!res->names[i])
			break;
	}
out:
	c->final = false;
	c->nbinds = 0;
	c->naj = 0;
	sn_arena_release(&ba);
	c->ba = NULL;
	return c->rc;
}

/* Whether n is an expression of one string column of events (*ref; a
 * stored column or a property) and constants only, deterministic and
 * without aggregates; *have: it reads the column. event: the column must
 * be events.event (while planning, before columns are typed; *ref is then
 * not set): one value over a run of one event (plan.bucket). */
static bool one_column(struct xctx *c, const node_t *n, bool event, struct xref *ref, bool *have)
{
	static const char *const random[] = {
	    "rand",	      "rand32",		"rand64",	"randCanonical",
	    "generateUUIDv4", "generateUUIDv7", "randomString", "randomPrintableASCII"};
	if (!n)
		return true;
	switch (n->kind) {
	case SN_HQ_CONSTANT: return true;
	case SN_HQ_FIELD:
	case SN_HQ_ARRAY_ACCESS: {
		if (event) {
			const char *col = field_column(n);
			return col && strcmp(col, SN_COL_NAME_EVENT) == 0 && (*have = true);
		}
		struct xref r;
		if (xref_of(c, n, &r) <= 0 || (r.kind != XC_PROP && r.kind != XC_STORE))
			return false;
		int i = xcol_find(c, &r);
		if (i < 0 || c->cols[i].t != SN_XT_STRING)
			return false;
		if (*have)
			return r.kind == ref->kind && strcmp(r.name, ref->name) == 0;
		*ref = r;
		return (*have = true);
	}
	case SN_HQ_CALL:
		if (is_aggregate_call(n) || n->list3.n || n->a)
			return false;
		for (size_t i = 0; i < SN_ARRAY_LEN(random); i++)
			if (strcmp(n->name, random[i]) == 0)
				return false;
		break;
	case SN_HQ_COMPARE:
	case SN_HQ_ARITH:
	case SN_HQ_AND:
	case SN_HQ_OR:
	case SN_HQ_NOT:
	case SN_HQ_BETWEEN:
	case SN_HQ_TUPLE:
	case SN_HQ_ARRAY: break;
	default: return false;
	}
	bool ok = one_column(c, n->a, event, ref, have) && one_column(c, n->b, event, ref, have) &&
		  one_column(c, n->c, event, ref, have) && one_column(c, n->d, event, ref, have);
	for (size_t i = 0; ok && i < n->list.n; i++)
		ok = one_column(c, n->list.items[i], event, ref, have);
	for (size_t i = 0; ok && i < n->list2.n; i++)
		ok = one_column(c, n->list2.items[i], event, ref, have);
	return ok;
}

static bool is_dnode(const struct xctx *c, const node_t *n)
{
	for (size_t i = 0; i < c->ndnode; i++)
		if (c->dnode[i] == n)
			return true;
	return false;
}

/* Lists in c->dnode the largest subexpressions of n that compute from one
 * string column alone (not the bare column): eval_distinct evaluates them
 * once per distinct value of a batch. */
static void plan_distinct(struct xctx *c, const node_t *n)
{
	if (!n || c->rc || c->ndnode >= XMAX_DNODES || n->kind == SN_HQ_SELECT ||
	    n->kind == SN_HQ_SELECT_SET)
		return;
	struct xref r = {0};
	bool have = false;
	if (n->kind != SN_HQ_FIELD && n->kind != SN_HQ_ARRAY_ACCESS && n->kind != SN_HQ_ALIAS &&
	    one_column(c, n, false, &r, &have) && have) {
		if (is_dnode(c, n))
			return;
		c->dref[c->ndnode] = r;
		c->dnode[c->ndnode++] = n;
		return;
	}
	if (c->rc)
		return;
	plan_distinct(c, n->a);
	plan_distinct(c, n->b);
	plan_distinct(c, n->c);
	plan_distinct(c, n->d);
	for (size_t i = 0; i < n->list.n; i++)
		plan_distinct(c, n->list.items[i]);
	for (size_t i = 0; i < n->list2.n; i++)
		plan_distinct(c, n->list2.items[i]);
}

/* Marks the string columns read only by WHERE terms that are expressions
 * of that column alone (eval_distinct's nodes): they are read as codes
 * (store.h sn_part_read_column_coded), and each term is computed once per
 * dictionary entry of the batch instead of once per row. On 10M events,
 * `properties.plan = 'pro'` reads one byte per row and compares four
 * entries per granule. A column any other expression reads (a join's key,
 * SELECT, GROUP BY, a term the index answers) is read as values. */
static void plan_coded(struct xctx *c, const struct plan *p)
{
	const node_t *w = p->sel->where;
	bool grouping = p->sel->has_group_by;
	for (size_t i = 0; i < c->ncols; i++) {
		struct xcol *x = &c->cols[i];
		x->coded = false;
		if ((x->kind != XC_PROP && x->kind != XC_STORE) || x->t != SN_XT_STRING ||
		    x->use_bucket || x->elide_uses ||
		    (x->kind == XC_STORE && strncmp(x->name, SN_COL_NAME_GROUP_PREFIX,
						    strlen(SN_COL_NAME_GROUP_PREFIX)) == 0))
			continue;
		/* Read outside WHERE only (a GROUP BY key): codes too, so the
		 * grouping sees them (eval_column's gather keeps them; agg.c
		 * coded_groups groups a batch by code instead of by string). */
		if (!x->in_where) {
			bool ok = grouping && x->use_out;
			for (size_t j = 0; j < c->ncols && ok; j++)
				ok = c->cols[j].dep != (int)i;
			x->coded = ok;
			continue;
		}
		if (!w || x->use_out)
			continue;
		bool ok = true;
		for (size_t j = 0; j < c->ncols && ok; j++)
			ok = c->cols[j].dep != (int)i;
		if (w->kind == SN_HQ_AND) {
			ok = ok && x->term_uses;
			for (size_t k = 0; ok && k < w->list.n && k < 32; k++)
				if (x->term_uses >> k & 1)
					ok = is_dnode(c, w->list.items[k]);
		} else {
			ok = ok && is_dnode(c, w);
		}
		x->coded = ok;
	}
}

static int plan_and_run(struct xctx *c, struct plan *p, const node_t *root, struct xtable *res)
{
	if (check_shape(c, root, p))
		return c->rc;
	const struct sn_hogql_select *s = p->sel;
	for (size_t i = 0; i < s->select.n; i++) {
		const node_t *e = s->select.items[i];
		if (e->kind == SN_HQ_FIELD && e->ref_kind == SN_HQR_ASTERISK)
			return xunsupported(c, e, "SELECT * (name the columns)");
		walk(c, p, e, visit_cols, NULL);
		walk(c, p, e, visit_aggs, NULL);
	}
	where_cols(c, p, s->where);
	for (size_t i = 0; i < s->group_by.n; i++)
		walk(c, p, s->group_by.items[i], visit_cols, NULL);
	walk(c, p, s->having, visit_cols, NULL);
	walk(c, p, s->having, visit_aggs, NULL);
	for (size_t i = 0; i < p->norder; i++) {
		walk(c, p, p->order[i], visit_cols, NULL);
		walk(c, p, p->order[i], visit_aggs, NULL);
	}
	for (size_t i = 0; i < p->nlby; i++) {
		walk(c, p, p->lby[i], visit_cols, NULL);
		walk(c, p, p->lby[i], visit_aggs, NULL);
	}
	for (size_t i = 0; i < s->array_join_list.n; i++)
		walk(c, p, s->array_join_list.items[i], visit_cols, NULL);
	for (size_t i = 0; i < s->select.n; i++)
		aj_collect(c, p, s->select.items[i], 0);
	aj_collect(c, p, s->where, 0);
	for (size_t i = 0; i < s->group_by.n; i++)
		aj_collect(c, p, s->group_by.items[i], 0);
	for (size_t i = 0; i < p->norder; i++)
		aj_collect(c, p, p->order[i], 0);
	p->has_aj = (s->array_join_op && s->array_join_list.n) || p->naj_calls;
	for (size_t i = 0; p->has_aj && i < c->ncols; i++)
		if (c->cols[i].kind == XC_PDI)
			return xunsupported(c, root, "pdi fields with ARRAY JOIN or arrayJoin()");
	if (c->rc)
		return c->rc;
	if (!p->has_aj && !c->sub && !c->jmap && strcmp(c->from, "events") == 0) {
		c->ndnode = 0;
		for (size_t i = 0; i < s->select.n; i++)
			plan_distinct(c, s->select.items[i]);
		plan_distinct(c, s->where);
		for (size_t i = 0; i < s->group_by.n; i++)
			plan_distinct(c, s->group_by.items[i]);
		for (size_t i = 0; i < p->norder; i++)
			plan_distinct(c, p->order[i]);
		if (c->rc)
			return c->rc;
		plan_coded(c, p);
	}
	p->agg = s->has_group_by || p->g.naggs > 0;
	if (s->having && !p->agg)
		return xfail(c, s->having, SN_ERR_INVALID, "QueryError",
			     "HAVING needs GROUP BY or an aggregate");
	/* SELECT DISTINCT in a nested statement without aggregates, ORDER BY or
	 * LIMIT is GROUP BY its select items: the same rows, in the same order
	 * (first appearance), by the grouping's batch paths and both scanners
	 * instead of a key built a row at a time in emit (Q6's `SELECT
	 * DISTINCT distinct_id, toMonday(timestamp)` over 5.7M events: 1.5 ->
	 * 0.7 s). At the top level emit's row-at-a-time set stays: it stops
	 * at the LIMIT. */
	p->dgroups = s->distinct && !p->agg && !p->top && !s->limit && !s->offset && !p->norder &&
		     !p->nlby && s->select.n <= XMAX_KEYS && !c->q->sink;
	const struct sn_hogql_list *keys = p->dgroups ? &s->select : &s->group_by;
	p->agg |= p->dgroups;
	for (size_t k = 0; k < keys->n; k++) {
		const node_t *kn =
		    follow_alias(s, p->dgroups ? keys->items[k] : positional(s, keys->items[k]));
		p->g.key_nodes[k] = kn;
		if (!(p->g.key_text[k] = xnode_text(c, kn)))
			return c->rc;
	}
	p->g.nkeys = keys->n;
	if (p->agg && agg_init(c, &p->g))
		return c->rc;
	p->rows.width = p->nsel + p->norder + p->nlby + 1;
	p->want = p->nlby || p->ties ? SIZE_MAX : (size_t)(p->offset + p->limit + 1);
	p->rows.keep = p->want;
	/* A plain read of events by the query itself streams to row_sink. */
	if (c->q->sink && c->level == 1 && !p->agg && !p->norder && !p->nlby && !s->distinct &&
	    p->offset == 0 && !c->sub && strcmp(c->from, "events") == 0) {
		p->sink = c->q->sink;
		p->sink->streamed = true;
	}
	sn_buf_init(&p->scratch, (size_t)1 << 24);
	if (s->distinct && !p->dgroups && gtab_init(c, &p->distinct, 1024))
		return c->rc;
	if (type_pass(c, p, res))
		return c->rc;
	if (join_prepare(c) || sess_prepare(c))
		return c->rc;
	if (c->sub			     ? sub_scan(c, table_batch, p)
	    : strcmp(c->from, "events") != 0 ? join_scan_table(c, table_batch, p)
					     : scan(c, p))
		return c->rc;
	if (p->agg) {
		struct sn_arena ba;
		sn_arena_init(&ba, c->mem_limit);
		c->ba = &ba;
		struct vec keyv[XMAX_KEYS], aggv[XMAX_AGGS];
		c->stats->groups = p->g.ngroups;
		c->n = p->g.ngroups;
		if (p->g.nkeys == 0 && p->g.ngroups == 0) {
			/* An aggregate without GROUP BY has one row even over no rows. */
			c->n = p->g.ngroups = 1;
			agg_batch_empty_group(c, &p->g);
		}
		if (!c->rc && agg_final(c, &p->g, keyv, aggv) == 0) {
			struct bindctx b = {keyv, aggv};
			c->final = true;
			for (size_t i = 0; i < p->nsel; i++)
				walk(c, p, s->select.items[i], visit_binds, &b);
			walk(c, p, s->having, visit_binds, &b);
			for (size_t i = 0; i < p->norder; i++)
				walk(c, p, p->order[i], visit_binds, &b);
			for (size_t i = 0; i < p->nlby; i++)
				walk(c, p, p->lby[i], visit_binds, &b);
			struct vec keep;
			if (!c->rc && (!s->having || xeval(c, s->having, &keep) == 0))
				emit(c, p, s->having ? &keep : NULL);
			c->final = false;
		}
		sn_arena_release(&ba);
		c->ba = NULL;
		if (c->rc)
			return c->rc;
	}
	return finish(c, p, res);
}

int exec_select(struct xctx *c, const node_t *root, bool top, struct xtable *out)
{
	if (win_wanted(root))
		return win_select(c, root, top, out);
	memset(out, 0, sizeof(*out));
	struct plan *p = xalloc(c, c->qa, sizeof(*p));
	if (!p)
		return c->rc;
	memset(p, 0, sizeof(*p));
	p->top = top;
	plan_and_run(c, p, root, out);
	if (p->agg)
		agg_release(&p->g);
	sn_buf_release(&p->scratch);
	if (p->rows.sa_init)
		sn_arena_release(&p->rows.sa);
	free(p->rows.v);
	join_release(c);
	return c->rc;
}

/* ---- entry point ---------------------------------------------------------------------- */

static double since(uint64_t t0)
{
	return (double)(sn_mono_ns() - t0) / 1e9;
}

/* A select item that is a toBool() call, or every() (PostHog's
 * toBool(min(x))), under its alias. */
static bool is_tobool(const node_t *e)
{
	if (e->kind == SN_HQ_ALIAS)
		e = e->a;
	return e && e->kind == SN_HQ_CALL && e->name &&
	       (strcmp(e->name, "toBool") == 0 || strcmp(e->name, "every") == 0);
}

/* untuple(t) as a select item of the outermost statement (ClickHouse's
 * "syntactic substitution of tuple elements in the call location"): the
 * call's node is marked here (op = SN_EXEC_UNTUPLE_TOP) before the query runs (fn_scalar.c's
 * fn_untuple passes the tuple through only when flagged, and refuses
 * untuple anywhere else: a subquery's or a UNION's columns would need
 * their number before their types are known), and untuple_expand splits
 * its result column into one column per element afterwards. Streamed
 * results (row_sink) keep it refused. */
static const node_t *untuple_call(const node_t *e)
{
	if (e && e->kind == SN_HQ_ALIAS)
		e = e->a;
	if (e && e->kind == SN_HQ_CALL && e->name && strcmp(e->name, "untuple") == 0 &&
	    e->list.n == 1)
		return e;
	return NULL;
}

static void untuple_flag(node_t *ast)
{
	if (!ast || ast->kind != SN_HQ_SELECT || !ast->sel)
		return;
	for (size_t i = 0; i < ast->sel->select.n; i++) {
		node_t *u = (node_t *)untuple_call(ast->sel->select.items[i]);
		if (u)
			u->op = SN_EXEC_UNTUPLE_TOP;
	}
}

/* The result's untuple columns as their elements: names as today's
 * ClickHouse gives them (`alias.k` under an alias, else
 * `tupleElement(<argument>, k)`), types from the tuple's type. */
static int untuple_expand(struct xctx *c, struct xtable *t)
{
	size_t n = 0, nu = 0;
	for (size_t i = 0; i < t->ncols; i++) {
		const node_t *u = t->items ? untuple_call(t->items[i]) : NULL;
		if (!u || u->op != SN_EXEC_UNTUPLE_TOP) {
			n++;
			continue;
		}
		size_t k = t->t[i] == SN_XT_TUPLE ? xtuple_arity(t->ct[i]) : 0;
		if (!k)
			return xfail(c, u, SN_ERR_INVALID, "QueryError",
				     "Illegal type of argument of function untuple: it must be a "
				     "Tuple");
		n += k;
		nu++;
	}
	if (!nu)
		return 0;
	const char **names = xalloc(c, c->qa, (n + 1) * sizeof(*names));
	uint8_t *ty = xalloc(c, c->qa, n + 1);
	bool *nullable = xalloc(c, c->qa, (n + 1) * sizeof(*nullable));
	const char **ct = xalloc(c, c->qa, (n + 1) * sizeof(*ct));
	struct sn_exec_value *cells = xalloc(c, c->qa, (t->nrows * n + 1) * sizeof(*cells));
	if (!names || !ty || !nullable || !ct || !cells)
		return c->rc;
	size_t j = 0;
	for (size_t i = 0; i < t->ncols; i++) {
		const node_t *item = t->items ? t->items[i] : NULL;
		const node_t *u = untuple_call(item);
		if (!u || u->op != SN_EXEC_UNTUPLE_TOP) {
			names[j] = t->names[i];
			ty[j] = t->t[i];
			nullable[j] = t->nullable[i];
			ct[j] = t->ct ? t->ct[i] : NULL;
			for (size_t r = 0; r < t->nrows; r++)
				cells[r * n + j] = t->cells[r * t->ncols + i];
			j++;
			continue;
		}
		size_t k = xtuple_arity(t->ct[i]);
		const char *arg =
		    item->kind == SN_HQ_ALIAS ? NULL : xnode_text(c, u->list.items[0]);
		if (item->kind != SN_HQ_ALIAS && !arg)
			return c->rc;
		for (size_t e = 0; e < k; e++) {
			bool enull;
			if (xarr_elem(c, t->ct[i], e, &ty[j + e], &enull, &ct[j + e]))
				return c->rc;
			nullable[j + e] = enull || t->nullable[i] || ty[j + e] == SN_XT_NULL;
			const char *base = item->kind == SN_HQ_ALIAS ? item->name : arg;
			size_t len = strlen(base) + 48;
			char *nm = xalloc(c, c->qa, len);
			if (!nm)
				return c->rc;
			if (item->kind == SN_HQ_ALIAS)
				snprintf(nm, len, "%s.%zu", base, e + 1);
			else
				snprintf(nm, len, "tupleElement(%s, %zu)", base, e + 1);
			names[j + e] = nm;
		}
		for (size_t r = 0; r < t->nrows; r++) {
			const struct sn_exec_value *tv = &t->cells[r * t->ncols + i];
			struct xait it;
			bool ok = !tv->null && xait_init(&it, tv->s);
			for (size_t e = 0; e < k; e++) {
				struct sn_exec_value *o = &cells[r * n + j + e];
				if (!ok || !xait_next(&it, o)) {
					ok = false;
					*o =
					    (struct sn_exec_value){.type = ty[j + e], .null = true};
				}
			}
		}
		j += k;
	}
	t->ncols = n;
	t->names = names;
	t->t = ty;
	t->nullable = nullable;
	t->ct = ct;
	t->cells = cells;
	t->items = NULL;
	return 0;
}

/* ClickHouse sends an AggregateFunction column as the state's binary
 * form; snout's states are its own bytes, meaningless outside the query,
 * so a result column of one is an error that says how to finalize it. */
static void refuse_states(struct xctx *c, const struct xtable *t)
{
	for (size_t i = 0; i < t->ncols; i++)
		if (t->t[i] == SN_XT_AGGSTATE) {
			const char *ct = t->ct && t->ct[i] ? t->ct[i] : "AggregateFunction";
			xfail(c, NULL, SN_ERR_INVALID, "QueryError",
			      "Column %s is an aggregate function state (%s), which is not sent to "
			      "clients: select its -Merge (e.g. uniqMerge(s)) or "
			      "finalizeAggregation(s) instead",
			      t->names[i], ct);
			return;
		}
}

int sn_exec_query(const struct sn_exec_opts *opts, const char *src, size_t len,
		  struct sn_exec_result *res, struct sn_hogql_error *err)
{
	struct sn_hogql_error dummy;
	if (!err)
		err = &dummy;
	memset(err, 0, sizeof(*err));
	memset(res, 0, sizeof(*res));
	size_t mem = opts->mem_limit_bytes ? opts->mem_limit_bytes : SN_EXEC_DEFAULT_MEM_LIMIT;
	sn_arena_init(&res->arena, mem);
	struct xquery q = {0};
	/* The root context runs no statement itself: the query's statement
	 * (or each UNION ALL member) runs in a child, like any subquery. */
	struct xctx c = {
	    .q = &q,
	    .src = src,
	    .len = len,
	    .err = err,
	    .opts = opts,
	    .qa = &res->arena,
	    .mem_limit = mem,
	    .now_us = opts->now_us ? opts->now_us : sn_now_us(),
	    .tz = opts->timezone && opts->timezone[0] ? opts->timezone : "UTC",
	    .time_limit_us =
		opts->time_limit_us ? opts->time_limit_us : SN_EXEC_DEFAULT_TIME_LIMIT_US,
	    .stats = &res->stats,
	};
	uint64_t t0 = sn_mono_ns();
	c.deadline_ns = t0 + (uint64_t)c.time_limit_us * 1000;
	node_t *ast = NULL;
	int rc = sn_hogql_parse_select(&res->arena, src, len, &ast, err);
	res->stats.parse_s = since(t0);
	if (rc) {
		if (rc == SN_ERR_NOMEM)
			rc = xnomem(&c);
		goto out;
	}
	if ((rc = exec_rewrite_cohorts(&c, &res->arena, ast)))
		goto out;
	uint64_t t1 = sn_mono_ns();
	struct sn_hogql_resolve_opts ro = {.team_id = opts->team_id,
					   .max_limit = opts->max_limit,
					   .prop_types = opts->prop_types,
					   .values = opts->values};
	rc = sn_hogql_resolve(&res->arena, ast, src, len, &ro, err);
	res->stats.resolve_s = since(t1);
	if (rc)
		goto out;
	struct sn_buf txt;
	sn_buf_init(&txt, 1 << 20);
	if (sn_hogql_print(&txt, ast) >= 0)
		res->hogql = sn_arena_strdup(&res->arena, txt.data ? txt.data : "");
	sn_buf_release(&txt);
	uint64_t t2 = sn_mono_ns();
	struct xsink sink = {.fn = opts->row_sink,
			     .cols = opts->row_sink ? opts->col_sink : NULL,
			     .ctx = opts->row_sink_ctx,
			     .uuid_bits = opts->row_sink_uuid_bits};
	if (opts->row_sink) {
		pthread_mutex_init(&sink.mu, NULL);
		if (ast->kind == SN_HQ_SELECT) /* a UNION ALL is collected first */
			q.sink = &sink;
	}
	if (!opts->row_sink)
		untuple_flag(ast);
	struct xtable t;
	if (sub_run(&c, ast, true, &t) == 0)
		refuse_states(&c, &t);
	if (c.rc == 0 && opts->row_sink && !sink.streamed && t.nrows) {
		int sk = opts->row_sink(opts->row_sink_ctx, 0, t.cells, t.nrows, t.ncols);
		if (sk)
			xfail(&c, NULL, sk < 0 ? sk : SN_ERR_INTERNAL, "QueryError",
			      "the consumer of the rows failed");
		sink.nrows = t.nrows;
	}
	if (opts->row_sink) {
		pthread_mutex_destroy(&sink.mu);
		t.nrows = sink.nrows;
		t.cells = NULL;
	}
	if (c.rc == 0 && !opts->row_sink && untuple_expand(&c, &t) == 0)
		refuse_states(&c, &t); /* an untupled element may be one */
	if (c.rc == 0) {
		res->ncols = t.ncols;
		res->names = t.names;
		res->nrows = t.nrows;
		res->cells = t.cells;
		res->has_more = t.has_more;
		res->limit = t.limit;
		res->offset = t.offset;
		res->timezone = sn_arena_strdup(c.qa, c.tz);
		res->types = xalloc(&c, c.qa, (t.ncols + 1) * sizeof(*res->types));
		const node_t *first = ast;
		while (first && first->kind == SN_HQ_SELECT_SET)
			first = first->a;
		for (size_t i = 0; res->types && i < t.ncols; i++) {
			char tn[64];
			const char *name =
			    t.ct && t.ct[i]
				? t.ct[i]
				: sn_exec_type_name(t.t[i], t.nullable[i], tn, sizeof(tn));
			if (t.t[i] == SN_XT_DECIMAL && t.ct && t.ct[i] && t.nullable[i]) {
				/* a Decimal's name is its scalar type's */
				snprintf(tn, sizeof(tn), "Nullable(%s)", t.ct[i]);
				name = tn;
			}
			if (t.t[i] == SN_XT_BOOL && first && first->kind == SN_HQ_SELECT &&
			    i < first->sel->select.n && is_tobool(first->sel->select.items[i])) {
				/* ClickHouse's Bool (toBool, a typed Boolean property) */
				name = t.nullable[i] ? "Nullable(Bool)" : "Bool";
				for (size_t r = 0; r < t.nrows; r++)
					t.cells[r * t.ncols + i].tbool = true;
			}
			res->types[i] = sn_arena_strdup(c.qa, name);
			if (!res->types[i])
				xnomem(&c);
		}
	}
	res->stats.execute_s = since(t2);
	rc = c.rc;
out:
	xscalar_release(&q);
	if (rc) {
		sn_arena_release(&res->arena);
		struct sn_exec_stats keep = res->stats;
		memset(res, 0, sizeof(*res));
		res->stats = keep;
	}
	return rc;
}

void sn_exec_result_release(struct sn_exec_result *res)
{
	sn_arena_release(&res->arena);
	memset(res, 0, sizeof(*res));
}
