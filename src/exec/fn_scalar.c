/*
 * fn_scalar.c — the executor's string, math, conditional and hashing
 * functions (being filled in; see xfn_scalar in exec_internal.h).
 */
#include "exec/exec_internal.h"

bool xfn_scalar(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	(void)c;
	(void)n;
	(void)out;
	(void)rc;
	return false;
}
