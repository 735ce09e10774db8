/*
 * test_exec_sessions.c — the derived sessions table on the embedded
 * executor: `FROM sessions` and the lazy join `events.session.X`, over a
 * handful of events whose sessions are computed by hand (durations,
 * bounce, entry/exit URLs, first-event attribution). Two teams share a
 * session id, so a broken team guard changes the answers; events without
 * a session (no $session_id, or an empty one) must read NULL through the
 * join; $channel_type follows PostHog's rules; fields without a
 * derivation are refused; a scan split over threads answers as one thread
 * does.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "exec/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 ((int64_t)1704103200 * 1000000) /* 2024-01-01 10:00:00 UTC */
#define S  ((int64_t)1000000)

struct ev {
	int64_t team;
	int64_t ts_us;
	const char *event, *did, *sid, *props;
};

static const struct ev EVS[] = {
    /* s1: 30 s, two pageviews and an autocapture: no bounce */
    {1, T0, "$pageview", "a", "s1",
     "{\"$current_url\":\"https://ex.com/a?x=1\",\"utm_source\":\"g\","
     "\"$referring_domain\":\"ref.com\"}"},
    {1, T0 + 5 * S, "$autocapture", "a2", "s1", "{\"utm_source\":\"late\"}"},
    {1, T0 + 30 * S, "$pageview", "a", "s1", "{\"$current_url\":\"https://ex.com/b\"}"},
    /* s2: one pageview: a bounce of 0 s */
    {1, T0 + 86400 * S, "$pageview", "b", "s2", "{\"$current_url\":\"http://other.org/\"}"},
    /* s3: no pageview: bounce NULL; no URL: entry URL NULL */
    {1, T0 + 3600 * S, "$autocapture", "c", "s3", "{}"},
    {1, T0 + 3603 * S, "$autocapture", "c", "s3", "{\"utm_source\":\"\"}"},
    /* no session */
    {1, T0 + 7200 * S, "$pageview", "d", NULL, "{}"},
    {1, T0 + 7201 * S, "$pageview", "d", "", "{}"},
    /* team 2: s1 again (earlier, another person) and s9 */
    {2, T0 - 100 * S, "$pageview", "z", "s1", "{\"$current_url\":\"https://t2.com/\"}"},
    {2, T0 + 50 * S, "$pageview", "z", "s9", "{}"},
    /* team 4: one session per channel type rule (test_channel_type) */
    {4, T0, "$pageview", "k", "c01", "{\"utm_source\":\"Google\",\"utm_medium\":\"CPC\"}"},
    {4, T0, "$pageview", "k", "c02", "{\"$referring_domain\":\"$direct\"}"},
    {4, T0, "$pageview", "k", "c03", "{\"$referring_domain\":\"www.facebook.com\"}"},
    {4, T0, "$pageview", "k", "c04", "{\"gclid\":\"abc\"}"},
    {4, T0, "$pageview", "k", "c05",
     "{\"utm_campaign\":\"summer-shopping\",\"$referring_domain\":\"x.example\"}"},
    {4, T0, "$pageview", "k", "c06",
     "{\"utm_medium\":\"email\",\"$referring_domain\":\"mail.example\"}"},
    {4, T0, "$pageview", "k", "c07",
     "{\"utm_source\":\"direct\",\"$referring_domain\":\"$direct\"}"},
    {4, T0, "$pageview", "k", "c08", "{\"fbclid\":\"x\",\"$referring_domain\":\"$direct\"}"},
    {4, T0, "$pageview", "k", "c09", "{\"gad_source\":\"1\"}"},
    {4, T0, "$pageview", "k", "c10", "{\"utm_campaign\":\"Cross-Network\"}"},
    {4, T0, "$pageview", "k", "c11",
     "{\"utm_medium\":\"app-push\",\"$referring_domain\":\"a.example\"}"},
    {4, T0, "$pageview", "k", "c12", "{\"$referring_domain\":\"a.example\"}"},
    {4, T0, "$pageview", "k", "c13", "{\"utm_source\":\"null\",\"utm_medium\":\"\"}"},
    {4, T0, "$pageview", "k", "c14", "{\"utm_medium\":\"paid_social\",\"utm_source\":\"x\"}"},
    {4, T0, "$pageview", "k", "c15", "{\"utm_medium\":\"cpc\",\"fbclid\":\"y\"}"},
    {4, T0 + S, "$pageview", "k", "c01", "{\"utm_source\":\"bing\"}"},
    /* team 5 (test_raw_sessions_values): the later event of p1 comes first;
     * 'null' strings; an event without a session */
    {5, T0 + 5 * S, "$pageview", "after-login", "p1", "{\"$current_url\":\"null\"}"},
    {5, T0, "$pageview", "anon", "p1",
     "{\"$current_url\":\"null\",\"utm_source\":\"null\",\"$referring_domain\":\"null\"}"},
    {5, T0, "$pageview", "anon", NULL, "{}"},
};

struct fixture {
	char dir[512];
	struct sn_exec_opts opts;
};

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(sn_test_tmpdir(f.dir, sizeof(f.dir), "test_exec_sessions"), 0);
	struct sn_memtable mt;
	struct sn_err err = {0};
	sn_memtable_init(&mt, 0);
	for (size_t i = 0; i < SN_ARRAY_LEN(EVS); i++) {
		const struct ev *e = &EVS[i];
		struct sn_event_row er = {0};
		er.uuid[15] = (uint8_t)(i + 1);
		er.uuid[6] = 0x70;
		er.team_id = e->team;
		er.timestamp_us = er.created_at_us = e->ts_us;
		er.event = (struct sn_str){e->event, strlen(e->event)};
		er.distinct_id = (struct sn_str){e->did, strlen(e->did)};
		er.properties = (struct sn_str){e->props, strlen(e->props)};
		er.elements_chain = (struct sn_str){"", 0};
		if (e->sid)
			er.session_id = (struct sn_str){e->sid, strlen(e->sid)};
		assert_int_equal(sn_memtable_append(&mt, &er, &err), 0);
	}
	struct sn_part_write_opts o = {.granule_rows = 2, .no_fsync = true};
	struct sn_part_written *w = NULL;
	size_t nw = 0;
	assert_int_equal(sn_memtable_flush(&mt, f.dir, 1, &o, &w, &nw, &err), 0);
	free(w);
	sn_memtable_release(&mt);
	f.opts.store_dir = f.dir;
	f.opts.team_id = 1;
	f.opts.run_granules = 1;
	f.opts.threads = 1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	sn_test_rm_rf(f->dir);
	return 0;
}

/* The result as text: rows separated by ';', cells by ',', NULL as \N,
 * DateTimes as µs. */
static uint32_t last_threads; /* stats.scan_threads of the last run_text */

static void run_text(struct fixture *f, const char *q, char *out, size_t cap)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	if (rc)
		fail_msg("query failed: %s (%s): %s", err.msg, err.type, q);
	last_threads = res.stats.scan_threads;
	size_t k = 0;
	out[0] = 0;
	for (size_t r = 0; r < res.nrows; r++)
		for (size_t i = 0; i < res.ncols; i++) {
			const struct sn_exec_value *v = &res.cells[r * res.ncols + i];
			const char *sep = i ? "," : r ? ";" : "";
			if (v->null)
				k += (size_t)snprintf(out + k, cap - k, "%s\\N", sep);
			else if (v->type == SN_XT_STRING || v->type == SN_XT_UUID)
				k += (size_t)snprintf(out + k, cap - k, "%s%.*s", sep,
						      (int)v->s.len, v->s.p);
			else if (v->type == SN_XT_FLOAT)
				k += (size_t)snprintf(out + k, cap - k, "%s%g", sep, v->f);
			else
				k += (size_t)snprintf(out + k, cap - k, "%s%lld", sep,
						      (long long)v->i);
			assert_true(k < cap);
		}
	sn_exec_result_release(&res);
}

static void expect(struct fixture *f, const char *q, const char *want)
{
	char got[4096];
	run_text(f, q, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%s\n  got:  %s\n  want: %s", q, got, want);
}

static void expect_error(struct fixture *f, const char *q, const char *type, const char *part)
{
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	int rc = sn_exec_query(&f->opts, q, strlen(q), &res, &err);
	if (rc == 0) {
		sn_exec_result_release(&res);
		fail_msg("no error: %s", q);
	}
	assert_string_equal(err.type, type);
	if (!strstr(err.msg, part))
		fail_msg("message '%s' lacks '%s'", err.msg, part);
}

static void test_from_sessions(void **state)
{
	struct fixture *f = *state;
	expect(f,
	       "SELECT session_id, id, team_id, distinct_id, $session_duration, duration, "
	       "$pageview_count, $autocapture_count, $screen_count, $is_bounce FROM sessions "
	       "ORDER BY session_id",
	       "s1,s1,1,a,30,30,2,1,0,0;s2,s2,1,b,0,0,1,0,0,1;s3,s3,1,c,3,3,0,2,0,\\N");
	expect(f,
	       "SELECT $entry_current_url, $exit_current_url, $end_current_url, $entry_pathname, "
	       "$exit_pathname, $entry_hostname, $exit_hostname, $num_uniq_urls FROM sessions "
	       "ORDER BY session_id",
	       "https://ex.com/a?x=1,https://ex.com/b,https://ex.com/b,/a,/b,ex.com,ex.com,2;"
	       "http://other.org/,http://other.org/,http://other.org/,/,/,other.org,other.org,1;"
	       "\\N,\\N,\\N,\\N,\\N,\\N,\\N,0");
	/* attribution is the first event's, NULL when it has none ('' too) */
	expect(f,
	       "SELECT s.session_id, s.$entry_utm_source, s.$entry_referring_domain, "
	       "s.$entry_gclid FROM sessions AS s ORDER BY s.session_id",
	       "s1,g,ref.com,\\N;s2,\\N,\\N,\\N;s3,\\N,\\N,\\N");
	char want[256];
	snprintf(want, sizeof(want), "%lld,%lld", (long long)T0, (long long)(T0 + 30 * S));
	expect(f, "SELECT $start_timestamp, $end_timestamp FROM sessions WHERE session_id = 's1'",
	       want);
	/* WHERE, GROUP BY, HAVING, aliases over the derived table */
	expect(f, "SELECT count() FROM sessions", "3");
	expect(f,
	       "SELECT $is_bounce AS b, count() AS n, sum(duration) FROM raw_sessions GROUP BY b "
	       "HAVING n > 0 ORDER BY b",
	       "0,1,30;1,1,0;\\N,1,3");
	expect(f, "SELECT session_id FROM sessions WHERE $session_duration > 1 ORDER BY 1",
	       "s1;s3");
	/* SELECT * has every field the executor derives, in schema order */
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	const char *q = "SELECT * FROM sessions ORDER BY session_id";
	assert_int_equal(sn_exec_query(&f->opts, q, strlen(q), &res, &err), 0);
	assert_int_equal(res.nrows, 3);
	assert_int_equal(res.ncols, 43); /* 46 fields less $urls, $event_count_map and the
					  * expression $channel_type */
	assert_string_equal(res.names[0], "id");
	sn_exec_result_release(&res);
	/* nested: a subquery and a CTE over sessions */
	expect(f,
	       "WITH x AS (SELECT session_id, duration FROM sessions) SELECT max(duration) FROM "
	       "x",
	       "30");
}

static void test_team_guard(void **state)
{
	struct fixture *f = *state;
	f->opts.team_id = 2;
	expect(f, "SELECT session_id, distinct_id, $session_duration FROM sessions ORDER BY 1",
	       "s1,z,0;s9,z,0");
	expect(f, "SELECT session.$entry_current_url FROM events WHERE $session_id = 's1'",
	       "https://t2.com/");
	f->opts.team_id = 1;
	expect(f, "SELECT distinct_id, $entry_current_url FROM sessions WHERE session_id = 's1'",
	       "a,https://ex.com/a?x=1");
	f->opts.team_id = 3;
	expect(f, "SELECT count() FROM sessions", "0");
	f->opts.team_id = 1;
}

static void test_lazy_join(void **state)
{
	struct fixture *f = *state;
	expect(f,
	       "SELECT event, session.$session_duration, session.$is_bounce, "
	       "session.session_id FROM events ORDER BY timestamp",
	       "$pageview,30,0,s1;$autocapture,30,0,s1;$pageview,30,0,s1;"
	       "$autocapture,3,\\N,s3;$autocapture,3,\\N,s3;"
	       "$pageview,\\N,\\N,\\N;$pageview,\\N,\\N,\\N;$pageview,0,1,s2");
	/* through an alias, in WHERE, GROUP BY and aggregates */
	expect(f,
	       "SELECT e.session.$session_duration AS d, count() FROM events AS e GROUP BY d "
	       "ORDER BY d",
	       "0,1;3,2;30,3;\\N,2");
	expect(f, "SELECT count() FROM events WHERE session.$session_duration > 10", "3");
	expect(f, "SELECT count() FROM events WHERE session.$entry_pathname = '/a'", "3");
	expect(f,
	       "SELECT session.distinct_id, distinct_id FROM events WHERE event = '$autocapture' "
	       "ORDER BY timestamp",
	       "a,a2;c,c;c,c");
	/* PostHog's session-duration maths: one value per session, then aggregated */
	expect(f,
	       "SELECT median(d), avg(d) FROM (SELECT any(session.$session_duration) AS d FROM "
	       "events WHERE notEmpty($session_id) GROUP BY $session_id)",
	       "3,11");
	/* every derivable field through the join has the type it was planned
	 * with, and equals FROM sessions' */
	static const char *const all[] = {
	    "id",
	    "session_id",
	    "team_id",
	    "distinct_id",
	    "$start_timestamp",
	    "$end_timestamp",
	    "$num_uniq_urls",
	    "$entry_current_url",
	    "$entry_pathname",
	    "$entry_hostname",
	    "$exit_current_url",
	    "$end_current_url",
	    "$exit_pathname",
	    "$end_pathname",
	    "$exit_hostname",
	    "$entry_referring_domain",
	    "$entry_utm_source",
	    "$entry_utm_campaign",
	    "$entry_utm_medium",
	    "$entry_utm_term",
	    "$entry_utm_content",
	    "$entry_gclid",
	    "$entry_gad_source",
	    "$entry_gclsrc",
	    "$entry_dclid",
	    "$entry_gbraid",
	    "$entry_wbraid",
	    "$entry_fbclid",
	    "$entry_msclkid",
	    "$entry_twclid",
	    "$entry_li_fat_id",
	    "$entry_mc_cid",
	    "$entry_igshid",
	    "$entry_ttclid",
	    "$entry_epik",
	    "$entry_qclid",
	    "$entry_sccid",
	    "$pageview_count",
	    "$autocapture_count",
	    "$screen_count",
	    "$session_duration",
	    "duration",
	    "$is_bounce",
	};
	char qj[4096], qs[4096], a[4096], b[4096];
	size_t kj = (size_t)snprintf(qj, sizeof(qj), "SELECT ");
	size_t ks = (size_t)snprintf(qs, sizeof(qs), "SELECT ");
	for (size_t i = 0; i < SN_ARRAY_LEN(all); i++) {
		kj += (size_t)snprintf(qj + kj, sizeof(qj) - kj, "%ssession.%s", i ? ", " : "",
				       all[i]);
		ks += (size_t)snprintf(qs + ks, sizeof(qs) - ks, "%s%s", i ? ", " : "", all[i]);
	}
	snprintf(qj + kj, sizeof(qj) - kj,
		 " FROM events WHERE event = '$pageview' AND notEmpty($session_id) ORDER BY "
		 "$session_id");
	snprintf(qs + ks, sizeof(qs) - ks,
		 " FROM sessions WHERE $pageview_count > 0 ORDER BY session_id");
	run_text(f, qj, a, sizeof(a));
	run_text(f, qs, b, sizeof(b));
	/* s1 has two pageviews: its row twice through the join */
	char *semi = strchr(a, ';');
	assert_non_null(semi);
	memmove(a, semi + 1, strlen(semi + 1) + 1);
	assert_string_equal(a, b);
	/* an explicit JOIN with the sessions table agrees with the lazy join */
	expect(f,
	       "SELECT count(), sum(s.$session_duration) FROM events AS e JOIN sessions AS s ON "
	       "e.$session_id = s.session_id",
	       "6,96");
}

/* $channel_type: PostHog's default rules over the first event's attribution
 * (worked out by hand from the rules and PostHog's channel definitions):
 * paid by medium / gclid / gad_source, then the source's paid type; direct;
 * shopping and push by campaign and medium patterns; a referrer's organic
 * type by its host; '' and 'null' read as unset. The same through the lazy
 * join, where it keeps its name as the column's. */
static void test_channel_type(void **state)
{
	struct fixture *f = *state;
	f->opts.team_id = 4;
	expect(f, "SELECT session_id, $channel_type FROM sessions ORDER BY session_id",
	       "c01,Paid Search;c02,Direct;c03,Organic Social;c04,Paid Unknown;"
	       "c05,Organic Shopping;c06,Email;c07,Direct;c08,Organic Social;c09,Paid Search;"
	       "c10,Cross Network;c11,Push;c12,Referral;c13,Unknown;c14,Paid Unknown;"
	       "c15,Paid Social");
	expect(f,
	       "SELECT session.$channel_type AS c, count() FROM events GROUP BY c "
	       "ORDER BY c LIMIT 3",
	       "Cross Network,1;Direct,2;Email,1");
	struct sn_exec_result res;
	struct sn_hogql_error err = {0};
	const char *q = "SELECT session.$channel_type FROM events LIMIT 1";
	assert_int_equal(sn_exec_query(&f->opts, q, strlen(q), &res, &err), 0);
	assert_string_equal(res.names[0], "$channel_type");
	sn_exec_result_release(&res);
	f->opts.team_id = 1;
	expect(f, "SELECT session_id, $channel_type FROM sessions ORDER BY session_id",
	       "s1,Referral;s2,Unknown;s3,Unknown");
}

/* What PostHog's raw_sessions (posthog/models/raw_sessions/sql.py) and its
 * sessions table (schema/sessions_v2.py) give: distinct_id is the last
 * event's (an argMax state), the string 'null' in an entry or URL field reads
 * as NULL (nullIf(argMinMerge(…), 'null')), and an event without a session
 * has no channel type: PostHog computes it inside the joined subquery, so a
 * LEFT join miss gives no value, not 'Unknown'. */
static void test_raw_sessions_values(void **state)
{
	struct fixture *f = *state;
	f->opts.team_id = 5;
	expect(f,
	       "SELECT distinct_id, $entry_utm_source, $entry_referring_domain, "
	       "$entry_current_url, $end_pathname, $channel_type FROM sessions",
	       "after-login,\\N,\\N,\\N,\\N,Unknown");
	expect(f,
	       "SELECT $session_id, session.distinct_id, session.$channel_type FROM events "
	       "ORDER BY timestamp, $session_id",
	       "p1,after-login,Unknown;\\N,\\N,\\N;p1,after-login,Unknown");
	f->opts.team_id = 1;
}

static void test_refused(void **state)
{
	struct fixture *f = *state;
	expect_error(f, "SELECT session.$urls FROM events", "NotImplementedError", "$urls");
	expect_error(f, "SELECT $event_count_map FROM sessions", "NotImplementedError",
		     "$event_count_map");
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	const char *q = "SELECT session.$session_duration AS d, session.$pageview_count, count() "
			"FROM events GROUP BY d, session.$pageview_count ORDER BY d";
	char one[1024], many[1024];
	run_text(f, q, one, sizeof(one));
	f->opts.threads = 4;
	run_text(f, q, many, sizeof(many));
	assert_true(last_threads > 1); /* the join's side was built before the split */
	f->opts.threads = 1;
	assert_string_equal(one, many);
	assert_string_equal(one, "0,1,1;3,0,2;30,2,3;\\N,\\N,2");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_from_sessions),
	    cmocka_unit_test(test_team_guard),
	    cmocka_unit_test(test_lazy_join),
	    cmocka_unit_test(test_channel_type),
	    cmocka_unit_test(test_raw_sessions_values),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
