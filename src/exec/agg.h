/*
 * agg.h — GROUP BY state shared by exec.c and agg.c (internal): the
 * aggregates the executor knows, their typing, and the per-group states.
 */
#ifndef SN_EXEC_AGG_H
#define SN_EXEC_AGG_H

#include "exec/exec_internal.h"

struct astate;
struct negzero;

/* Segment s of the group states holds AGG_SEG0 << s groups (agg.c). */
#define AGG_SEG0_SHIFT 6
#define AGG_SEGS       28

struct aggrun {
	const node_t *key_nodes[XMAX_KEYS];
	char *key_text[XMAX_KEYS];
	uint8_t key_t[XMAX_KEYS];
	bool key_nullable[XMAX_KEYS];
	const char *key_ct[XMAX_KEYS]; /* an ARRAY or TUPLE key's type (array.c) */
	size_t nkeys;
	struct xagg aggs[XMAX_AGGS];
	size_t naggs;

	/* The groups, set up by agg_init: tab maps a group's key bytes to its
	 * id (its record keeps the bytes agg_final decodes the key values
	 * from); states[s] holds the states of segment s's groups, sbytes a
	 * group, aggregate a's at soff[a]. */
	struct gtab tab;
	struct sn_buf scratch;
	size_t ngroups, gcap; /* groups made, groups the segments hold */
	uint8_t *states[AGG_SEGS];
	size_t sbytes;
	uint32_t soff[XMAX_AGGS];
	struct negzero *negz; /* groups whose Float64 key first read -0.0 */
	size_t nnegz, negzcap;
	/* The keys' identities (a string's pointer and length, another value's
	 * bits) → its group, for the current batch only (memo_gen): rows
	 * of a dictionary share their strings' pointers, so most rows find
	 * their group without their key bytes being built, hashed and
	 * compared. malloc'd; NULL until a batch uses it. */
	struct gmemo *memo;
	uint64_t memo_gen;
};

/* Starts g's groups empty, whatever its group fields held (a scanner's
 * copy of a plan starts from the plan's), for the aggregates g->aggs
 * already lists. Fails only on the memory budget. */
int agg_init(struct xctx *c, struct aggrun *g);
void agg_release(struct aggrun *g);
/* Adds the current batch (c->n rows) to the groups. */
int agg_batch(struct xctx *c, struct aggrun *g);
/* The single group of an aggregate without GROUP BY over no rows. */
int agg_batch_empty_group(struct xctx *c, struct aggrun *g);
/* Whether every aggregate of g can merge states of two scanners exactly
 * as if one had seen all rows (agg_merge). */
bool agg_mergeable(const struct aggrun *g);
/* Adds the groups of w, which saw the rows after g's, into g: group order,
 * any/anyLast/argMin/argMax ties and quantile values end up as one
 * scanner over all rows in order would leave them. Copies what it keeps,
 * so w's arena may go afterwards. */
int agg_merge(struct xctx *c, struct aggrun *g, const struct aggrun *w);
/* One vector per key and per aggregate, one row per group (batch arena). */
int agg_final(struct xctx *c, struct aggrun *g, struct vec *keyv, struct vec *aggv);
/* Fills ag (kind, arguments, condition, quantile level) from the aggregate
 * call n, which is_aggregate_call() accepted. Errors (c->rc) for an
 * aggregate or a form of one the executor does not support, for a wrong
 * argument count or parameter, and for an aggregate inside an aggregate. */
int agg_classify(struct xctx *c, const node_t *n, struct xagg *ag);
/* Types ag over the current batch (the zero-row type pass): evaluates its
 * arguments and condition, sets arg_t, arg2_t and res_t as ClickHouse
 * types the result; errors for argument types the aggregate refuses. */
int agg_type(struct xctx *c, struct xagg *ag);

#endif
