/*
 * err.c — error structs and codes.
 *
 * Errors travel as a negative int (cheap to test and propagate) plus an
 * optional caller-owned struct sn_err holding a sentence for humans. The HTTP
 * layer returns that sentence verbatim, so messages name the problem from the
 * user's side ("token is missing"), not the code path.
 */
#include "base.h"

#include <stdio.h>
#include <string.h>

int sn_err_set(struct sn_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->code = code;
	}
	return code;
}

void sn_err_prefix(struct sn_err *err, const char *fmt, ...)
{
	if (!err)
		return;
	char pre[256], old[sizeof(err->msg)];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pre, sizeof(pre), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	snprintf(err->msg, sizeof(err->msg), "%s: %s", pre, old);
}

const char *sn_strerror(int code)
{
	switch (code) {
	case SN_OK: return "ok";
	case SN_ERR_NOMEM: return "out of memory";
	case SN_ERR_INVALID: return "invalid input";
	case SN_ERR_TOO_BIG: return "too big";
	case SN_ERR_NOT_FOUND: return "not found";
	case SN_ERR_IO: return "I/O error";
	case SN_ERR_CORRUPT: return "corrupt data";
	case SN_ERR_EXISTS: return "already exists";
	case SN_ERR_AUTH: return "authentication failed";
	case SN_ERR_CLOSED: return "shutting down";
	case SN_ERR_INTERNAL: return "internal error";
	default: return "unknown error";
	}
}
