/*
 * decode.c — the capture decoding pipeline of spec/posthog-wire.md §1.2:
 * from the raw payload (query `data=` or body) to UTF-8 JSON text.
 *
 *   raw ─▶ optimistic base64 ─▶ form (data=, compression=) ─▶ hint
 *       ─▶ gzip (hint or 1f 8b magic) | lz-string | plain UTF-8
 *       ─▶ legacy second base64 (all paths but /i/v0/e and /batch) ─▶ JSON text
 *
 * Every stage that grows data caps it at req->limit, so a decompression bomb
 * is refused as "too big" after at most `limit` bytes of work. Two scratch
 * buffers alternate between stages; nothing is copied when a stage does not
 * apply.
 */
#include "capture.h"

#include <string.h>

enum hint { HINT_NONE, HINT_GZIP, HINT_LZ64, HINT_BASE64 };

static enum hint parse_hint(const char *s)
{
	if (!s)
		return HINT_NONE;
	size_t n = strlen(s);
	if (sn_str_ieq(s, n, "gzip") || sn_str_ieq(s, n, "gzip-js"))
		return HINT_GZIP;
	if (sn_str_ieq(s, n, "lz64") || sn_str_ieq(s, n, "lz-string"))
		return HINT_LZ64;
	if (sn_str_ieq(s, n, "base64") || sn_str_ieq(s, n, "b64"))
		return HINT_BASE64;
	return HINT_NONE;
}

static bool is_form_content_type(const char *ct)
{
	if (!ct)
		return false;
	size_t n = strcspn(ct, ";");
	while (n && ct[n - 1] == ' ')
		n--;
	return sn_str_ieq(ct, n, "application/x-www-form-urlencoded");
}

static bool legacy_path(const char *path)
{
	/* Per capture's source, the second base64 unwrap applies everywhere
	 * except the newer /i/v0/e and /batch endpoints. */
	if (!path)
		return true;
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	return !(sn_str_ieq(path, n, "/i/v0/e") || sn_str_ieq(path, n, "/batch"));
}

/* `curl -d '{...}'` sends JSON with the form content type; PostHog refuses
 * it, we read it as the JSON it is (an object or array cannot be a form). */
static bool looks_like_json(const char *p, size_t n)
{
	while (n && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
		p++;
		n--;
	}
	return n && (*p == '{' || *p == '[');
}

/* Replaces every ' ' with '+' in place (urldecoding turned '+' into spaces). */
static void spaces_to_plus(struct sn_buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if (b->data[i] == ' ')
			b->data[i] = '+';
}

int sn_capture_decode_payload(const struct sn_capture_request *req, struct sn_buf *out,
			      struct sn_err *err)
{
	struct sn_buf a, b;
	sn_buf_init(&a, req->limit);
	sn_buf_init(&b, req->limit);
	int rc = 0;
	const char *p;
	size_t n;

	/* 1. Raw payload: a non-empty `data=` query parameter, else the body. */
	if (req->q_data && *req->q_data) {
		p = req->q_data;
		n = strlen(p);
	} else {
		p = req->body;
		n = req->body_len;
	}
	if (!p || n == 0) {
		rc = sn_err_set(err, SN_ERR_INVALID, "failed to decode request: empty payload");
		goto out;
	}

	/* 2. Optimistic base64 unwrap of bodies that are not forms. */
	if (!sn_looks_like_form(p, n) && sn_looks_like_base64(p, n, false)) {
		if (sn_base64_decode(p, n, &a, NULL) == 0) {
			p = a.data;
			n = a.len;
		} else {
			sn_buf_reset(&a);
		}
	}

	/* 3. Form decoding, only for the form content type. */
	const char *form_compression = NULL;
	char form_comp_buf[32];
	if (is_form_content_type(req->content_type) && !looks_like_json(p, n)) {
		if (!sn_looks_like_form(p, n)) {
			rc = sn_err_set(err, SN_ERR_INVALID,
					"failed to decode request: expected form data");
			goto out;
		}
		struct sn_buf comp;
		sn_buf_init(&comp, sizeof(form_comp_buf) - 1);
		if (sn_form_get(p, n, "compression", &comp) == 0 && comp.len) {
			memcpy(form_comp_buf, comp.data, comp.len + 1);
			form_compression = form_comp_buf;
		}
		sn_buf_release(&comp);
		int frc = sn_form_get(p, n, "data", &b);
		if (frc == SN_ERR_NOT_FOUND || (frc == 0 && b.len == 0)) {
			rc = sn_err_set(err, SN_ERR_INVALID,
					"failed to decode request: form has no data field");
			goto out;
		}
		if (frc == SN_ERR_TOO_BIG) {
			rc = sn_err_set(err, SN_ERR_TOO_BIG, "maximum event size exceeded");
			goto out;
		}
		if (frc) {
			rc = sn_err_set(
			    err, SN_ERR_INVALID,
			    "failed to decode request: invalid url-encoding in form data");
			goto out;
		}
		if (sn_looks_like_base64(b.data, b.len, true))
			spaces_to_plus(&b);
		/* b now holds the payload; a is free again. */
		sn_buf_reset(&a);
		struct sn_buf t = a;
		a = b;
		b = t;
		p = a.data;
		n = a.len;
	}

	/* 4. Compression hint: query, then form, then Content-Encoding. */
	enum hint h = parse_hint(req->q_compression);
	if (h == HINT_NONE)
		h = parse_hint(form_compression);
	if (h == HINT_NONE)
		h = parse_hint(req->content_encoding);

	/* base64 hint: decode now if the payload is base64 text. */
	if (h == HINT_BASE64 && sn_looks_like_base64(p, n, true)) {
		sn_buf_reset(&b);
		if (sn_base64_decode(p, n, &b, NULL) == 0) {
			struct sn_buf t = a;
			a = b;
			b = t;
			p = a.data;
			n = a.len;
		}
	}

	/* 5. Decompress. */
	sn_buf_reset(&b);
	if (h == HINT_GZIP || sn_is_gzip(p, n)) {
		struct sn_err e2;
		int grc = sn_gunzip(p, n, req->limit, &b, &e2);
		if (grc == SN_ERR_TOO_BIG) {
			rc = sn_err_set(err, SN_ERR_TOO_BIG, "maximum event size exceeded");
			goto out;
		}
		if (grc) {
			rc =
			    sn_err_set(err, SN_ERR_INVALID, "failed to decode request: %s", e2.msg);
			goto out;
		}
	} else if (h == HINT_LZ64) {
		struct sn_err e2;
		int lrc = sn_lzstring_decompress_base64(p, n, req->limit, &b, &e2);
		if (lrc == SN_ERR_TOO_BIG) {
			rc = sn_err_set(err, SN_ERR_TOO_BIG, "maximum event size exceeded");
			goto out;
		}
		if (lrc) {
			rc =
			    sn_err_set(err, SN_ERR_INVALID, "failed to decode request: %s", e2.msg);
			goto out;
		}
	} else {
		if (n > req->limit) {
			rc = sn_err_set(err, SN_ERR_TOO_BIG, "maximum event size exceeded");
			goto out;
		}
		if (sn_buf_append(&b, p, n)) {
			rc = sn_err_set(err, SN_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (!sn_utf8_valid(b.data ? b.data : "", b.len)) {
		rc = sn_err_set(err, SN_ERR_INVALID,
				"failed to decode request: payload is not valid UTF-8");
		goto out;
	}

	/* 6. Legacy second base64 unwrap. */
	if (legacy_path(req->path) && b.len && sn_looks_like_base64(b.data, b.len, false)) {
		sn_buf_reset(&a);
		if (sn_base64_decode(b.data, b.len, &a, NULL) == 0 &&
		    sn_utf8_valid(a.data ? a.data : "", a.len)) {
			struct sn_buf t = a;
			a = b;
			b = t;
		}
	}
	if (sn_buf_append(out, b.data ? b.data : "", b.len)) {
		rc = sn_err_set(err, SN_ERR_TOO_BIG, "maximum event size exceeded");
		goto out;
	}
out:
	sn_buf_release(&a);
	sn_buf_release(&b);
	return rc;
}
