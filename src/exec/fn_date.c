/*
 * fn_date.c — the executor's date and time functions (being filled in; see
 * xfn_date in exec_internal.h). toDate, toDateTime and toStartOf* still live
 * in eval.c.
 */
#include "exec/exec_internal.h"

bool xfn_date(struct xctx *c, const node_t *n, struct vec *out, int *rc)
{
	(void)c;
	(void)n;
	(void)out;
	(void)rc;
	return false;
}
