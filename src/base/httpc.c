/*
 * httpc.c — the one HTTP client call snout makes: a JSON POST to a running
 * snout (or PostHog) server, for `snout query --url` (libcurl, wrapped once
 * here as the house rule asks of every library).
 *
 * One easy handle per call: the CLI makes one request per process, so
 * there is nothing to reuse. curl_global_init runs once (pthread_once),
 * and signals stay untouched (CURLOPT_NOSIGNAL), so a caller's threads are
 * safe. The response body is kept up to the buffer's own limit; a longer
 * one is an error rather than a truncated answer. Redirects are not
 * followed (a POST answered 30x is reported as such), and TLS verification
 * stays on (libcurl's default).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "base/base.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct sink {
	struct sn_buf *b;
	bool too_big;
};

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct sink *s = arg;
	if (sn_buf_append(s->b, p, size * n)) {
		s->too_big = true;
		return 0; /* libcurl aborts the transfer */
	}
	return size * n;
}

int sn_httpc_post_json(const char *url, const char *bearer, const char *body, size_t len,
		       long timeout_ms, long *status, struct sn_buf *resp, struct sn_err *err)
{
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK)
		return sn_err_set(err, SN_ERR_IO, "libcurl: %s", curl_easy_strerror(curl_init_rc));
	CURL *h = curl_easy_init();
	if (!h)
		return sn_err_set(err, SN_ERR_NOMEM, "libcurl: no handle");
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char auth[600];
	if (hdr && bearer && bearer[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
		struct curl_slist *h2 = curl_slist_append(hdr, auth);
		if (!h2) { /* the list is left as it was */
			curl_slist_free_all(hdr);
			hdr = NULL;
		}
	}
	struct sink s = {.b = resp};
	char ebuf[CURL_ERROR_SIZE] = "";
	int rc = 0;
	if (!hdr) {
		rc = sn_err_set(err, SN_ERR_NOMEM, "libcurl: no memory for headers");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "snout-cli");
	CURLcode c = curl_easy_perform(h);
	if (c != CURLE_OK) {
		rc = s.too_big ? sn_err_set(err, SN_ERR_TOO_BIG,
					    "the response is larger than %zu bytes", resp->max)
			       : sn_err_set(err, SN_ERR_IO, "%s: %s", url,
					    ebuf[0] ? ebuf : curl_easy_strerror(c));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
out:
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return rc;
}
