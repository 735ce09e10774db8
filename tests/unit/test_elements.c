/*
 * test_elements.c — autocapture elements at ingestion (ingest/elements.c):
 * PostHog's elements_chain strings, byte for byte, for the cases PostHog's
 * own tests pin (plugin-server elements-chain.test.ts: elementsToString of
 * Element models, extractElements of capture entries), key order as
 * localeCompare sorts, quote escaping, JavaScript's String() of values, the
 * text and href limits; and the sink's step: the chain is built, $elements
 * and $elements_chain leave the properties (every occurrence, with the
 * member lengths the writer uses cut alike), an event's own chain wins, and
 * the properties stay valid JSON wherever the members were.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest_internal.h"

/* The chain for a JSON array of capture entries (model = false) or of
 * Element models; the caller frees the result. */
static char *chain_of(const char *json, bool model)
{
	struct json_object *arr = NULL;
	assert_int_equal(sn_json_parse(json, strlen(json), &arr, NULL), 0);
	struct sn_buf b;
	sn_buf_init(&b, 1 << 20);
	int rc = model ? sn_elements_chain_models(arr, &b) : sn_elements_chain(arr, &b);
	assert_int_equal(rc, 0);
	json_object_put(arr);
	size_t n;
	char *s = sn_buf_detach(&b, &n);
	return s ? s : strdup("");
}

static void expect_chain(const char *json, bool model, const char *want)
{
	char *got = chain_of(json, model);
	if (strcmp(got, want) != 0)
		fail_msg("chain of %s\n  got  %s\n  want %s", json, got, want);
	free(got);
}

/* elementsToString on Element models: PostHog's expected strings verbatim. */
static void test_posthog_models(void **state)
{
	(void)state;
	expect_chain(
	    "[{\"tag_name\":\"a\",\"href\":\"/a-url\",\"attr_class\":[\"small\"],"
	    "\"text\":\"bla bla\",\"attributes\":{\"prop\":\"value\",\"number\":33,"
	    "\"data-attr\":\"something \\\" that; could mess up\","
	    "\"style\":\"min-height: 100vh;\"},\"nth_child\":1,\"nth_of_type\":0},"
	    "{\"tag_name\":\"button\",\"attr_class\":[\"btn\",\"btn-primary\"],"
	    "\"nth_child\":0,\"nth_of_type\":0},"
	    "{\"tag_name\":\"div\",\"nth_child\":0,\"nth_of_type\":0},"
	    "{\"tag_name\":\"div\",\"nth_child\":0,\"nth_of_type\":0,\"attr_id\":\"nested\"}]",
	    true,
	    "a.small:data-attr=\"something \\\" that; could mess up\"href=\"/a-url\""
	    "nth-child=\"1\"nth-of-type=\"0\"number=\"33\"prop=\"value\""
	    "style=\"min-height: 100vh;\"text=\"bla bla\";"
	    "button.btn.btn-primary:nth-child=\"0\"nth-of-type=\"0\";"
	    "div:nth-child=\"0\"nth-of-type=\"0\";"
	    "div:attr_id=\"nested\"nth-child=\"0\"nth-of-type=\"0\"");
	/* Quotes: dropped from class names, escaped in values. */
	expect_chain(
	    "[{\"tag_name\":\"a\",\"href\":\"/a-url\",\"attr_class\":[\"small\\\"\",\"xy:z\"],"
	    "\"attributes\":{\"attr_class\":\"xyz small\\\"\"}}]",
	    true,
	    "a.small.xy:z:attr_class=\"xyz small\\\"\"href=\"/a-url\"nth-child=\"0\""
	    "nth-of-type=\"0\"");
	expect_chain("[{\"attr_class\":[\"something\",\"another\"],"
		     "\"attributes\":{\"attr__class\":\"something another\"}}]",
		     true,
		     ".another.something:attr__class=\"something another\"nth-child=\"0\""
		     "nth-of-type=\"0\"");
}

/* Capture entries: extractElements then elementsToString, as PostHog's
 * ingestion composes them (its extractElements test's inputs). */
static void test_capture_entries(void **state)
{
	(void)state;
	expect_chain("[{\"tag_name\":\"a\",\"nth_child\":1,\"nth_of_type\":2,"
		     "\"attr__class\":\"btn btn-sm\"},"
		     "{\"tag_name\":\"div\",\"nth_child\":1,\"nth_of_type\":2,"
		     "\"$el_text\":\"\xf0\x9f\x92\xbb\"}]",
		     false,
		     "a.btn.btn-sm:attr__class=\"btn btn-sm\"nth-child=\"1\"nth-of-type=\"2\";"
		     "div:nth-child=\"1\"nth-of-type=\"2\"text=\"\xf0\x9f\x92\xbb\"");
	/* attr__class as a list: classes from it, the attribute as String(list). */
	expect_chain("[{\"attr__class\":[\"btn\",\"btn-sm\"]}]", false,
		     ".btn.btn-sm:attr__class=\"btn,btn-sm\"nth-child=\"0\"nth-of-type=\"0\"");
	/* What the ported insight fixtures send: href comes from attr__href
	 * only (a plain "href" key is not an attribute), text from $el_text. */
	expect_chain("[{\"tag_name\":\"a\",\"attr__href\":\"/movie\",\"href\":\"/movie\","
		     "\"nth_of_type\":1,\"nth_child\":0},"
		     "{\"tag_name\":\"button\",\"$el_text\":\"Pay $10\",\"nth_of_type\":1,"
		     "\"nth_child\":0}]",
		     false,
		     "a:attr__href=\"/movie\"href=\"/movie\"nth-child=\"0\"nth-of-type=\"1\";"
		     "button:nth-child=\"0\"nth-of-type=\"1\"text=\"Pay $10\"");
	/* A posthog-js click: id, data attributes, a class string with a
	 * double space (split on single spaces, as JavaScript does). */
	expect_chain(
	    "[{\"tag_name\":\"button\",\"$el_text\":\"Sign \\\"up\\\"\","
	    "\"attr__id\":\"signup\",\"attr__data-attr\":\"cta\",\"attr__class\":\"b  a\","
	    "\"attr__data_x\":true,\"nth_child\":3,\"nth_of_type\":2.5,\"classes\":[\"x\"]},"
	    "5,null,{\"tag_name\":\"body\"}]",
	    false,
	    "button..a.b:attr__class=\"b  a\"attr__data_x=\"true\"attr__data-attr=\"cta\""
	    "attr__id=\"signup\"attr_id=\"signup\"nth-child=\"3\"nth-of-type=\"2.5\""
	    "text=\"Sign \\\"up\\\"\";"
	    "body:nth-child=\"0\"nth-of-type=\"0\"");
	/* Empty values are left out; an empty array gives an empty chain. */
	expect_chain("[{\"tag_name\":\"\",\"$el_text\":\"\",\"attr__href\":\"\"}]", false,
		     ":attr__href=\"\"nth-child=\"0\"nth-of-type=\"0\"");
	expect_chain("[]", false, "");
}

/* localeCompare's order: punctuation before digits before letters, letters
 * without regard to case first, `_` before `-`. */
static void test_key_order(void **state)
{
	(void)state;
	expect_chain(
	    "[{\"attributes\":{\"b\":1,\"B\":2,\"a-b\":3,\"a_b\":4,\"a1\":5,\"Z\":6,"
	    "\"a\":7}}]",
	    true,
	    ":a=\"7\"a_b=\"4\"a-b=\"3\"a1=\"5\"b=\"1\"B=\"2\"nth-child=\"0\"nth-of-type=\"0\""
	    "Z=\"6\"");
}

/* Text is cut at 400 characters, href at 2048. */
static void test_limits(void **state)
{
	(void)state;
	char json[8192], want[8192];
	char text[1000], href[2100];
	/* 450 × "é" (2 bytes): 400 characters kept. */
	for (int i = 0; i < 450; i++)
		memcpy(text + 2 * i, "\xc3\xa9", 2);
	text[900] = 0;
	memset(href, 'h', 2100);
	href[2099] = 0;
	snprintf(json, sizeof(json), "[{\"$el_text\":\"%s\",\"attr__href\":\"%s\"}]", "x", href);
	snprintf(want, sizeof(want),
		 ":attr__href=\"%s\"href=\"%.2048s\"nth-child=\"0\"nth-of-type=\"0\"text=\"x\"",
		 href, href);
	expect_chain(json, false, want);
	static char json2[4096], want2[4096];
	snprintf(json2, sizeof(json2), "[{\"$el_text\":\"%s\"}]", text);
	snprintf(want2, sizeof(want2), ":nth-child=\"0\"nth-of-type=\"0\"text=\"%.800s\"", text);
	expect_chain(json2, false, want2);
}

/* Member lengths as the record scan notes them (struct sn_event_row's
 * pmembers) for a compact object; n pairs. */
static uint32_t lengths_of(const char *t, size_t len, uint16_t *out, uint32_t max)
{
	struct sn_jscan sc;
	struct sn_jspan k, v;
	uint32_t n = 0;
	int rc;
	sn_jscan_init(&sc, t, len, NULL);
	assert_int_equal(sn_jscan_enter(&sc), 0);
	while ((rc = sn_jscan_next_key(&sc, &k)) > 0) {
		assert_int_equal(sn_jscan_skip(&sc, &v), 0);
		assert_true(n < max);
		out[2 * n] = (uint16_t)k.len;
		out[2 * n + 1] = (uint16_t)v.len;
		n++;
	}
	assert_int_equal(rc, 0);
	return n;
}

/* What the record scan notes of the two keys (struct sn_elements_hint). */
static void hint_of(const char *t, size_t len, struct sn_elements_hint *h)
{
	struct sn_jscan sc;
	struct sn_jspan k, v;
	uint32_t j = 0;
	memset(h, 0, sizeof(*h));
	sn_jscan_init(&sc, t, len, NULL);
	assert_int_equal(sn_jscan_enter(&sc), 0);
	while (sn_jscan_next_key(&sc, &k) > 0) {
		assert_int_equal(sn_jscan_skip(&sc, &v), 0);
		int w = sn_jspan_str_eq(&k, "$elements", 9)	     ? 0
			: sn_jspan_str_eq(&k, "$elements_chain", 15) ? 1
								     : -1;
		if (w >= 0) {
			h->j[w] = j;
			h->v[w] = v;
			h->n[w]++;
		}
		j++;
	}
}

/* One sink step on props (with the member lengths when compact, and then
 * the scan's hint when hinted), the row's chain chain0 before it: the
 * properties and chain after it are want_*, the properties are one JSON
 * object, and lengths handed on describe them. */
static void sink_step_with(const char *props, const char *chain0, const char *want_props,
			   const char *want_chain, bool compact, bool hinted)
{
	struct sn_event_row row;
	memset(&row, 0, sizeof(row));
	row.properties = (struct sn_str){props, strlen(props)};
	row.elements_chain = (struct sn_str){chain0, strlen(chain0)};
	uint16_t pm[64];
	if (compact) {
		row.npmembers = lengths_of(props, strlen(props), pm, 32);
		row.pmembers = pm;
	}
	/* $session_id, when there, read in place as the scan does */
	const char *sid = strstr(props, "\"$session_id\":\"");
	if (sid) {
		sid += 15;
		row.session_id = (struct sn_str){sid, (size_t)(strchr(sid, '"') - sid)};
	}
	struct sn_buf chain, out, members;
	sn_buf_init(&chain, 1 << 20);
	sn_buf_init(&out, 1 << 20);
	sn_buf_init(&members, 1 << 20);
	struct sn_elements_hint hint;
	hint_of(props, strlen(props), &hint);
	assert_int_equal(
	    sn_ingest_elements(&chain, &out, &members, &row, hinted ? &hint : NULL, NULL), 0);
	char got[1024];
	snprintf(got, sizeof(got), "%.*s", (int)row.properties.len, row.properties.p);
	if (strcmp(got, want_props))
		fail_msg("%s (lengths %d, hint %d)\n  got  %s\n  want %s", props, compact, hinted,
			 got, want_props);
	snprintf(got, sizeof(got), "%.*s", (int)row.elements_chain.len, row.elements_chain.p);
	assert_string_equal(got, want_chain);
	/* Still one JSON object. */
	struct json_object *o = NULL;
	assert_int_equal(sn_json_parse(row.properties.p, row.properties.len, &o, NULL), 0);
	assert_true(json_object_is_type(o, json_type_object));
	json_object_put(o);
	/* The lengths handed on are those of the new text: cut alike when the
	 * scan's hint says where the members are (each key once), else none. */
	if (hinted && hint.n[0] <= 1 && hint.n[1] <= 1 && row.properties.len > 2) {
		uint16_t again[64];
		uint32_t n = lengths_of(row.properties.p, row.properties.len, again, 32);
		assert_non_null(row.pmembers);
		assert_int_equal(row.npmembers, n);
		assert_memory_equal(row.pmembers, again, 4 * (size_t)n);
	} else if (row.properties.p != props) { /* cut by a scan */
		assert_null(row.pmembers);
	}
	/* $session_id moved with the text: the same bytes of the new one. */
	if (sid) {
		const char *nsid = strstr(row.properties.p, "\"$session_id\":\"") + 15;
		assert_ptr_equal(row.session_id.p, nsid);
		assert_int_equal(row.session_id.len, strchr(sid, '"') - sid);
	}
	sn_buf_release(&chain);
	sn_buf_release(&out);
	sn_buf_release(&members);
}

static void sink_step(const char *props, const char *chain0, const char *want_props,
		      const char *want_chain)
{
	sink_step_with(props, chain0, want_props, want_chain, false, false);
	/* (as the scan, no lengths for a text with blanks or escaped keys) */
	bool compact = !strpbrk(props, " \n\\");
	if (compact) {
		sink_step_with(props, chain0, want_props, want_chain, true, false);
		sink_step_with(props, chain0, want_props, want_chain, true, true);
	}
}

static void test_sink_step(void **state)
{
	(void)state;
	const char *el = "[{\"tag_name\":\"a\",\"nth_child\":1}]";
	const char *ch = "a:nth-child=\"1\"nth-of-type=\"0\"";
	char p[512];
	/* First, middle, last and only member. */
	snprintf(p, sizeof(p), "{\"$elements\": %s, \"x\": 1}", el);
	sink_step(p, "", "{\"x\": 1}", ch);
	snprintf(p, sizeof(p), "{\"a\":1,\"$elements\":%s,\"x\":2}", el);
	sink_step(p, "", "{\"a\":1,\"x\":2}", ch);
	snprintf(p, sizeof(p), "{\"a\":1 , \"$elements\":%s }", el);
	sink_step(p, "", "{\"a\":1 }", ch);
	snprintf(p, sizeof(p), "{\"$elements\":%s}", el);
	sink_step(p, "", "{}", ch);
	/* The event's own chain wins; both members go, as in PostHog. */
	snprintf(p, sizeof(p), "{\"$elements_chain\":\"div:\",\"$elements\":%s}", el);
	sink_step(p, "div:", "{}", "div:");
	snprintf(p, sizeof(p), "{\"$elements_chain\":\"div:\",\"$elements\":%s,\"a\":1}", el);
	sink_step(p, "div:", "{\"a\":1}", "div:");
	snprintf(p, sizeof(p), "{\"a\":1,\"$elements_chain\":\"d\",\"$elements\":%s}", el);
	sink_step(p, "d", "{\"a\":1}", "d");
	snprintf(p, sizeof(p), "{\"a\":1,\"$elements\":%s,\"b\":2,\"$elements_chain\":\"d\"}", el);
	sink_step(p, "d", "{\"a\":1,\"b\":2}", "d");
	/* An empty chain does not count: $elements is converted. */
	snprintf(p, sizeof(p), "{\"$elements_chain\":\"\",\"$elements\":%s,\"z\":[1,2]}", el);
	sink_step(p, "", "{\"z\":[1,2]}", ch);
	/* $elements_chain alone: first, middle, last, only. */
	sink_step("{\"$elements_chain\":\"div:\",\"b\":{\"c\":1}}", "div:", "{\"b\":{\"c\":1}}",
		  "div:");
	sink_step("{\"a\":\"x\",\"$elements_chain\":\"div:\",\"b\":2}",
		  "div:", "{\"a\":\"x\",\"b\":2}", "div:");
	sink_step("{\"a\":null,\"$elements_chain\":\"div:\"}", "div:", "{\"a\":null}", "div:");
	sink_step("{\"$elements_chain\":\"div:\"}", "div:", "{}", "div:");
	sink_step("{ \"a\" : 1 ,\n\"$elements_chain\" : \"div:\" , \"b\":2 }",
		  "div:", "{ \"a\" : 1 , \"b\":2 }", "div:");
	/* Not an array: no chain, the member goes as in PostHog. */
	sink_step("{\"$elements\":\"nope\",\"y\":true}", "", "{\"y\":true}", "");
	/* Duplicates: every one goes, the last $elements is converted. */
	snprintf(p, sizeof(p), "{\"$elements\":[],\"a\":1,\"$elements\":%s,\"$elements\":%s}", "[]",
		 el);
	sink_step(p, "", "{\"a\":1}", ch);
	/* An escaped key is the same key. */
	snprintf(p, sizeof(p), "{\"$element\\u0073\":%s}", el);
	sink_step(p, "", "{}", ch);
	sink_step("{\"$elements\\u005fchain\":\"q\",\"k\":1}", "q", "{\"k\":1}", "q");
	/* $session_id, before and after the cut members, moves with the text. */
	sink_step("{\"$session_id\":\"s-1\",\"$elements_chain\":\"c\",\"w\":2}", "c",
		  "{\"$session_id\":\"s-1\",\"w\":2}", "c");
	snprintf(p, sizeof(p),
		 "{\"$elements\":%s,\"$elements_chain\":\"c\",\"$session_id\":\"s-2\"}", el);
	sink_step(p, "c", "{\"$session_id\":\"s-2\"}", "c");
	/* Neither key: untouched. */
	sink_step("{\"$elementsX\":1,\"$elements_chainY\":2}", "",
		  "{\"$elementsX\":1,\"$elements_chainY\":2}", "");
	/* Lengths that do not describe the text: the scan decides, none handed on. */
	struct sn_event_row row;
	memset(&row, 0, sizeof(row));
	const char *t = "{\"a\":1,\"$elements_chain\":\"c\"}";
	uint16_t bad[4] = {3, 2, 17, 3};
	row.properties = (struct sn_str){t, strlen(t)};
	row.pmembers = bad;
	row.npmembers = 2;
	struct sn_buf chain, out, members;
	sn_buf_init(&chain, 1 << 20);
	sn_buf_init(&out, 1 << 20);
	sn_buf_init(&members, 1 << 20);
	assert_int_equal(sn_ingest_elements(&chain, &out, &members, &row, NULL, NULL), 0);
	assert_int_equal(row.properties.len, 7);
	assert_memory_equal(row.properties.p, "{\"a\":1}", 7);
	assert_null(row.pmembers);
	/* More cuts than remembered: the same text, no lengths handed on, and
	 * $session_id left in the old text (which the memtable copies). */
	char many[1024], want[1024];
	size_t ml = (size_t)snprintf(many, sizeof(many), "{\"$session_id\":\"s\"");
	size_t wl2 = (size_t)snprintf(want, sizeof(want), "{\"$session_id\":\"s\"");
	for (int i = 0; i < 12; i++) {
		ml += (size_t)snprintf(many + ml, sizeof(many) - ml,
				       ",\"$elements_chain\":\"c\",\"k%d\":%d", i, i);
		wl2 += (size_t)snprintf(want + wl2, sizeof(want) - wl2, ",\"k%d\":%d", i, i);
	}
	snprintf(many + ml, sizeof(many) - ml, "}");
	snprintf(want + wl2, sizeof(want) - wl2, "}");
	memset(&row, 0, sizeof(row));
	uint16_t pm[64];
	row.properties = (struct sn_str){many, strlen(many)};
	row.npmembers = lengths_of(many, strlen(many), pm, 32);
	row.pmembers = pm;
	row.session_id = (struct sn_str){many + 15, 1};
	assert_int_equal(sn_ingest_elements(&chain, &out, &members, &row, NULL, NULL), 0);
	assert_int_equal(row.properties.len, strlen(want));
	assert_memory_equal(row.properties.p, want, strlen(want));
	assert_null(row.pmembers);
	assert_ptr_equal(row.session_id.p, many + 15);
	/* A hint that does not fit the text (a value elsewhere, a key seen
	 * twice): the scan decides, the same text. */
	const char *t2 = "{\"a\":1,\"$elements_chain\":\"c\",\"b\":\"$elements_chain\"}";
	struct sn_elements_hint h2;
	memset(&row, 0, sizeof(row));
	row.properties = (struct sn_str){t2, strlen(t2)};
	row.npmembers = lengths_of(t2, strlen(t2), pm, 32);
	row.pmembers = pm;
	hint_of(t2, strlen(t2), &h2);
	h2.v[1].p = strstr(t2, "\"$elements_chain\"}") + 18; /* not a value */
	assert_int_equal(sn_ingest_elements(&chain, &out, &members, &row, &h2, NULL), 0);
	assert_int_equal(row.properties.len, strlen("{\"a\":1,\"b\":\"$elements_chain\"}"));
	assert_memory_equal(row.properties.p, "{\"a\":1,\"b\":\"$elements_chain\"}",
			    row.properties.len);
	assert_null(row.pmembers); /* (the scan decided: the writer scans too) */
	memset(&row, 0, sizeof(row));
	row.properties = (struct sn_str){t2, strlen(t2)};
	row.npmembers = lengths_of(t2, strlen(t2), pm, 32);
	row.pmembers = pm;
	hint_of(t2, strlen(t2), &h2);
	h2.n[1] = 2;
	assert_int_equal(sn_ingest_elements(&chain, &out, &members, &row, &h2, NULL), 0);
	assert_memory_equal(row.properties.p, "{\"a\":1,\"b\":\"$elements_chain\"}",
			    row.properties.len);
	/* ... a value that is not the key's (b's) */
	memset(&row, 0, sizeof(row));
	row.properties = (struct sn_str){t2, strlen(t2)};
	row.npmembers = lengths_of(t2, strlen(t2), pm, 32);
	row.pmembers = pm;
	hint_of(t2, strlen(t2), &h2);
	h2.v[1].p = strstr(t2, "\"$elements_chain\"}");
	h2.v[1].len = 17;
	assert_int_equal(sn_ingest_elements(&chain, &out, &members, &row, &h2, NULL), 0);
	assert_memory_equal(row.properties.p, "{\"a\":1,\"b\":\"$elements_chain\"}",
			    row.properties.len);
	/* Not an object: left as it is. */
	row.properties = (struct sn_str){"[1]", 3};
	assert_int_equal(sn_ingest_elements(&chain, &out, &members, &row, NULL, NULL), 0);
	assert_int_equal(row.properties.len, 3);
	sn_buf_release(&chain);
	sn_buf_release(&out);
	sn_buf_release(&members);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_posthog_models), cmocka_unit_test(test_capture_entries),
	    cmocka_unit_test(test_key_order),	   cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_sink_step),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
