/*
 * test_elements.c — autocapture elements at ingestion (ingest/elements.c):
 * PostHog's elements_chain strings, byte for byte, for the cases PostHog's
 * own tests pin (plugin-server elements-chain.test.ts: elementsToString of
 * Element models, extractElements of capture entries), key order as
 * localeCompare sorts, quote escaping, JavaScript's String() of values, the
 * text and href limits; and the sink's step: the chain is built and
 * $elements leaves the properties, an event's own chain wins, and the
 * properties stay valid JSON wherever the member was.
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

static void sink_step(const char *props, const char *chain0, const char *want_props,
		      const char *want_chain)
{
	struct sn_event_row row;
	memset(&row, 0, sizeof(row));
	row.properties = (struct sn_str){props, strlen(props)};
	row.elements_chain = (struct sn_str){chain0, strlen(chain0)};
	struct sn_buf chain, out;
	sn_buf_init(&chain, 1 << 20);
	sn_buf_init(&out, 1 << 20);
	assert_int_equal(sn_ingest_elements(&chain, &out, &row, NULL), 0);
	char got[1024];
	snprintf(got, sizeof(got), "%.*s", (int)row.properties.len, row.properties.p);
	assert_string_equal(got, want_props);
	snprintf(got, sizeof(got), "%.*s", (int)row.elements_chain.len, row.elements_chain.p);
	assert_string_equal(got, want_chain);
	/* Still one JSON object. */
	struct json_object *o = NULL;
	assert_int_equal(sn_json_parse(row.properties.p, row.properties.len, &o, NULL), 0);
	assert_true(json_object_is_type(o, json_type_object));
	json_object_put(o);
	sn_buf_release(&chain);
	sn_buf_release(&out);
}

static void test_sink_step(void **state)
{
	(void)state;
	const char *el = "[{\"tag_name\":\"a\",\"nth_child\":1}]";
	const char *ch = "a:nth-child=\"1\"nth-of-type=\"0\"";
	char p[512];
	/* First, middle, last and only member. */
	snprintf(p, sizeof(p), "{\"$elements\": %s, \"x\": 1}", el);
	sink_step(p, "", "{ \"x\": 1}", ch);
	snprintf(p, sizeof(p), "{\"a\":1,\"$elements\":%s,\"x\":2}", el);
	sink_step(p, "", "{\"a\":1,\"x\":2}", ch);
	snprintf(p, sizeof(p), "{\"a\":1 , \"$elements\":%s }", el);
	sink_step(p, "", "{\"a\":1  }", ch);
	snprintf(p, sizeof(p), "{\"$elements\":%s}", el);
	sink_step(p, "", "{}", ch);
	/* The event's own chain wins; $elements still goes. */
	snprintf(p, sizeof(p), "{\"$elements_chain\":\"div:\",\"$elements\":%s}", el);
	sink_step(p, "div:", "{\"$elements_chain\":\"div:\"}", "div:");
	/* Not an array: no chain, the member goes as in PostHog. */
	sink_step("{\"$elements\":\"nope\",\"y\":true}", "", "{\"y\":true}", "");
	/* An escaped key is the same key. */
	snprintf(p, sizeof(p), "{\"$element\\u0073\":%s}", el);
	sink_step(p, "", "{}", ch);
	/* No $elements: untouched. */
	sink_step("{\"$elementsX\":1}", "", "{\"$elementsX\":1}", "");
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
