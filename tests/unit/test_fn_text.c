/*
 * test_fn_text.c — the string, URL and JSON functions of fn_text.c as a user
 * sees them: HogQL text in, the TSV row out. Two events are stored: 'a' with
 * a properties object holding a URL, text with punctuation and UTF-8, a
 * nested JSON document and a JSON text held in a string, and 'b' with no
 * properties, so every property reads as NULL there. Expected values come
 * from ClickHouse's documentation and its own tests (00398_url_functions,
 * 00918_json_functions) or were worked out by hand from its source, never
 * computed with the code under test. Errors must be QueryErrors (or
 * NotImplementedErrors for what the executor refuses) naming the function.
 *
 * The test works in its own mkdtemp directory under $SNOUT_TEST_TMP (or
 * /tmp) and removes it at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include "ab_fixture.h"

#include "exec/exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char PROPS_A[] =
    "{\"u\":\"https://user:pw@www.example.com:8080/docs/a?id=42&x=y#frag\","
    "\"s\":\"hello wORLD 3rd-party x_y\",\"e\":\"\",\"t\":\"ünï café\","
    "\"j\": {\"k\": [1, 2.50, {\"z\": \"q\"}], \"b\": true, \"n\": null, \"s\": \"x/y\","
    "\"big\": 18446744073709551615, \"neg\": -3, \"f\": 1e3, \"\\u00e9\": 1},"
    "\"js\":\"{\\\"a\\\": 1, \\\"b\\\": \\\"2\\\"}\"}";

static int setup(void **state)
{
	return ab_setup(state, "test_fn_text", PROPS_A, "Europe/Berlin");
}

/* ---- strings ---------------------------------------------------------------------- */

static void test_ascii_initcap(void **state)
{
	struct fixture *f = *state;
	/* the first byte; 'ü' starts with 0xC3 */
	expect_a(f, "ascii('a'), ascii('234'), ascii(''), ascii(properties.t), ascii(properties.e)",
		 "97\t50\t0\t195\t0");
	expect_b(f, "ascii(properties.s), initcap(properties.s)", "\\N\t\\N");
	/* Words are runs of ASCII letters and digits; the rest of a word is
	 * lowered; bytes above 0x7F split words and stay as they are. */
	expect_a(f, "initcap(properties.s), initcap(properties.t), initcap(''), initcap('John''s')",
		 "Hello World 3rd-Party X_Y\tüNï Café\t\tJohn'S");
	expect_a(f, "initcap('building for fast'), initcap('ABC def')",
		 "Building For Fast\tAbc Def");
	expect_error(f, "ascii(1)", "QueryError", "argument 1 of function ascii");
	expect_error(f, "initcap(1)", "QueryError", "argument 1 of function initcap");
}

static void test_quote_meta_split(void **state)
{
	struct fixture *f = *state;
	/* \0 \ | ( ) ^ $ . [ ] ? * + { : - are escaped; '}' is not */
	expect_a(f,
		 "regexpQuoteMeta('a.b'), regexpQuoteMeta('[x]{1}(y|z)^$?*+:-\\\\'), "
		 "regexpQuoteMeta(''), regexpQuoteMeta('plain text')",
		 "a\\\\.b\t\\\\[x\\\\]\\\\{1}\\\\(y\\\\|z\\\\)\\\\^\\\\$\\\\?\\\\*\\\\+\\\\:\\\\-"
		 "\\\\\\\\\t\tplain text");
	expect_b(f, "regexpQuoteMeta(properties.s)", "\\N");
	/* whitespace and ASCII punctuation split; UTF-8 bytes do not */
	expect_a(f,
		 "splitByNonAlpha('user@domain.com'), splitByNonAlpha(properties.s), "
		 "splitByNonAlpha('  ..  '), splitByNonAlpha(''), splitByNonAlpha(properties.t)",
		 "['user','domain','com']\t['hello','wORLD','3rd','party','x','y']\t[]\t[]\t"
		 "['ünï','café']");
	expect_a(f,
		 "splitByNonAlpha('a b c d', 2), splitByNonAlpha('a b', 0), "
		 "splitByNonAlpha('a,b', -1), toTypeName(splitByNonAlpha('a'))",
		 "['a','b']\t['a','b']\t['a','b']\tArray(String)");
	expect_b(f, "splitByNonAlpha(properties.s)", "[]");
	expect_error(f, "splitByNonAlpha(1)", "QueryError",
		     "argument 1 of function splitByNonAlpha");
	expect_error(f, "splitByNonAlpha('a', 'b')", "QueryError",
		     "argument 2 of function splitByNonAlpha");
}

/* ---- URLs ------------------------------------------------------------------------- */

static void test_url_codecs(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's 00398_url_functions */
	expect_a(f,
		 "encodeURLComponent('hello world foo+bar'), "
		 "encodeURLComponent('hello world foo+bar#a=b'), encodeURLComponent('')",
		 "hello%20world%20foo%2Bbar\thello%20world%20foo%2Bbar%23a%3Db\t");
	expect_a(f,
		 "decodeURLComponent('%D0%9F'), decodeURLComponent('%D%9'), "
		 "decodeURLComponent('a+b%2Bc'), decodeURLComponent('')",
		 "П\t%D%9\ta+b+c\t");
	/* UTF-8 bytes are escaped one by one, unreserved bytes kept */
	expect_a(f, "encodeURLComponent('é-_.~/'), encodeURLComponent(properties.t)",
		 "%C3%A9-_.~%2F\t%C3%BCn%C3%AF%20caf%C3%A9");
	/* a '%' without two hex digits stays; so do the two bytes after it */
	expect_a(f,
		 "decodeURLComponent('%'), decodeURLComponent('100%'), "
		 "decodeURLComponent('%4'), decodeURLComponent('%%41'), "
		 "decodeURLComponent('%zz%41'), decodeURLComponent('%e9%E9')",
		 "%\t100%\t%4\t%%41\t%zzA\t\xe9\xe9");
	expect_a(f,
		 "decodeURLComponent(encodeURLComponent(properties.u)) = properties.u, "
		 "decodeURLComponent(encodeURLComponent(properties.t)) = properties.t",
		 "1\t1");
	expect_b(f, "encodeURLComponent(properties.u), decodeURLComponent(properties.u)",
		 "\\N\t\\N");
	expect_error(f, "decodeURLComponent(1)", "QueryError",
		     "argument 1 of function decodeURLComponent");
}

static void test_url_parts(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's 00398_url_functions */
	expect_a(f,
		 "netloc('http://paul@www.example.com:80/'), netloc('http://127.0.0.1:443/'), "
		 "netloc('http://127.0.0.1:443'), netloc('svn+ssh://example.ru/?q=hello%20world'), "
		 "netloc('svn+ssh://paul:zozo@example.ru/?q=hello%20world'), "
		 "netloc('//www.example.com'), netloc('www.example.com'), netloc('example.com')",
		 "paul@www.example.com:80\t127.0.0.1:443\t127.0.0.1:443\texample.ru\t"
		 "paul:zozo@example.ru\twww.example.com\twww.example.com\texample.com");
	/* user info runs to the first '/'; a '#' ends it; a restricted byte
	 * in the scheme gives '' */
	expect_a(f, "netloc(properties.u), netloc('http://a.b#c'), netloc('h t://a.b'), netloc('')",
		 "user:pw@www.example.com:8080\ta.b\t\t");
	expect_a(f,
		 "cutWWW('http://www.example.com'), cutWWW('http://www.example.com:1234'), "
		 "cutWWW('http://www.example.com/a/b/c?a=b#d=f'), "
		 "cutWWW('http://paul@www.example.com/a/b/c?a=b#d=f'), "
		 "cutWWW('//paul@www.example.com/a/b/c?a=b#d=f')",
		 "http://example.com\thttp://example.com:1234\thttp://example.com/a/b/c?a=b#d=f\t"
		 "http://paul@example.com/a/b/c?a=b#d=f\t//paul@example.com/a/b/c?a=b#d=f");
	/* only right after "scheme://" and with something after "www."; the
	 * host scan stops at the ':' of "user:pw@" before it sees the '@', so
	 * such a URL keeps its "www." (port() reads no port there either) */
	expect_a(f,
		 "cutWWW('www.example.com'), cutWWW('http://www.'), cutWWW('http:/www.a.b/'), "
		 "cutWWW('x http://www.a.b/'), cutWWW(properties.u), cutWWW('')",
		 "www.example.com\thttp://www.\thttp:/www.a.b/\tx http://www.a.b/\t"
		 "https://user:pw@www.example.com:8080/docs/a?id=42&x=y#frag\t");
	expect_b(f, "netloc(properties.u), cutWWW(properties.u), port(properties.u)",
		 "\\N\t\\N\t\\N");
}

static void test_port(void **state)
{
	struct fixture *f = *state;
	expect_a(f,
		 "port(properties.u), port('http://paul@www.example.com:80/'), "
		 "port('http://a.com:443'), port('http://a.com/'), port('http://a.com'), "
		 "port('a.com:8080'), port('')",
		 "0\t80\t443\t0\t0\t8080\t0");
	/* anything but digits up to '/' gives the default; so does a port
	 * past 65535 or a host getURLHost rejects */
	expect_a(
	    f,
	    "port('http://a.com:80?x'), port('http://a.com:99999/'), "
	    "port('http://a.com:65535/'), port('http://a.com:/'), port('http://localhost:80/'), "
	    "port('http://a.com:8x/', 5)",
	    "0\t0\t65535\t0\t0\t5");
	/* the default; and, as in ClickHouse, digits accumulate onto it */
	expect_a(f,
		 "port('http://a.com/', 8080), port('http://a.com:8/', 1), "
		 "toTypeName(port('x'))",
		 "8080\t18\tUInt64");
	expect_error(f, "port('http://a.b', 70000)", "QueryError", "port");
	expect_error(f, "port('http://a.b', toInt(80))", "QueryError", "must be constant");
	expect_error(f, "port('http://a.b', 'x')", "QueryError", "argument 2 of function port");
	expect_error(f, "port(1)", "QueryError", "argument 1 of function port");
}

static void test_translate_count(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's documentation examples; bytes of from past the end of
	 * to are deleted; UTF-8 bytes are kept */
	expect_a(f,
		 "translate('Hello, World!', 'delor', 'DELOR'), "
		 "translate('clickhouse', 'clickhouse', 'CLICK'), translate('', 'a', 'b'), "
		 "translate(properties.t, 'nc', 'NC'), translate('aab', 'aa', 'xy')",
		 "HELLO, WORLD!\tCLICK\t\tüNï Café\tyyb");
	expect_b(f, "translate(properties.s, 'a', 'b')", "\\N");
	expect_error(f, "translate('a', 'a', 'bc')", "QueryError", "must not be shorter");
	expect_error(f, "translate('a', 'é', 'e')", "QueryError", "ASCII");
	expect_error(f, "translate('a', event, 'e')", "NotImplementedError", "non-constant");
	expect_error(f, "translate(1, 'a', 'b')", "QueryError", "argument 1 of function translate");
	/* non-overlapping, from a 1-based start */
	expect_a(f,
		 "countSubstrings('aaaa', 'aa'), countSubstrings('abc___abc', 'abc', 4), "
		 "countSubstrings('abc', ''), countSubstrings('', 'a'), "
		 "countSubstrings('abcabc', 'abc', 0), countSubstrings('abc', 'c', 4), "
		 "countSubstrings('abc', 'c', 3), countSubstrings(properties.u, '=')",
		 "2\t1\t0\t0\t2\t0\t1\t2");
	expect_b(f, "countSubstrings(properties.u, 'a'), toTypeName(countSubstrings('a', 'a'))",
		 "\\N\tUInt64");
	expect_error(f, "countSubstrings('a', 'a', 'x')", "QueryError",
		     "argument 3 of function countSubstrings");
}

static void test_cut_url_parameter(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's documentation example, parameter by parameter */
	expect_a(f,
		 "cutURLParameter('http://bigmir.net/?a=b&c=d&e=f#g', 'a'), "
		 "cutURLParameter('http://bigmir.net/?a=b&c=d&e=f#g', 'c'), "
		 "cutURLParameter('http://bigmir.net/?a=b&c=d&e=f#g', 'e'), "
		 "cutURLParameter('http://bigmir.net/?a=b&c=d&e=f#g', 'g')",
		 "http://bigmir.net/?c=d&e=f#g\thttp://bigmir.net/?a=b&e=f#g\t"
		 "http://bigmir.net/?a=b&c=d#g\thttp://bigmir.net/?a=b&c=d&e=f#g");
	/* only the first "name=" counts, and only after '?', '#' or '&'; the
	 * last byte of the URL is not searched (today's ClickHouse) */
	expect_a(
	    f,
	    "cutURLParameter('http://a.b/?ba=1&a=2', 'a'), "
	    "cutURLParameter('http://a.b/?a=1&b=2', 'b'), cutURLParameter('http://a.b/#a=1', 'a'), "
	    "cutURLParameter('http://a.b/?x=', 'x'), cutURLParameter('', 'a'), "
	    "cutURLParameter(properties.u, 'id')",
	    "http://a.b/?ba=1&a=2\thttp://a.b/?a=1\thttp://a.b/#\thttp://a.b/?x=\t\t"
	    "https://user:pw@www.example.com:8080/docs/a?x=y#frag");
	expect_b(f, "cutURLParameter(properties.u, 'id')", "\\N");
	expect_error(f, "cutURLParameter('a', event)", "NotImplementedError", "non-constant");
	/* an array of names is cut one after the other (ClickHouse's example) */
	expect_a(f,
		 "cutURLParameter('http://bigmir.net/?a=b&c=d&e=f#g', ['c', 'e']), "
		 "cutURLParameter('http://x/?a=1&b=2', ['b', 'a']), "
		 "cutURLParameter('http://x/?a=1', [])",
		 "http://bigmir.net/?a=b#g\thttp://x/?\thttp://x/?a=1");
	expect_error(f, "cutURLParameter('a', [event])", "NotImplementedError", "non-constant");
	expect_error(f, "cutURLParameter('a', [1])", "QueryError", "array of strings");
}

static void test_ngram_distance(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's documentation examples (Float32 values) */
	expect_a(f,
		 "ngramDistance('ClickHouse', 'ClickHouse!'), ngramDistance('ClickHouse', 'House')",
		 "0.06666667\t0.5555556");
	/* no 4-grams on either side: 0; on one side only: 1; the order of the
	 * arguments does not matter */
	expect_a(
	    f,
	    "ngramDistance('', ''), ngramDistance('abc', 'abcd'), ngramDistance('aaaa', 'bbbb'), "
	    "ngramDistance('hello world', 'world hello'), ngramDistance('world hello', 'hello "
	    "world'), "
	    "ngramDistance(properties.u, properties.u)",
	    "0\t1\t1\t0.5\t0.5\t0");
	/* over 32 KiB: 1 */
	expect_a(f,
		 "ngramDistance(repeat('a', 40000), repeat('a', 40000)), "
		 "ngramDistance(repeat('a', 32768), repeat('a', 32768))",
		 "1\t0");
	expect_b(f, "ngramDistance(properties.s, 'a')", "\\N");
	expect_error(f, "ngramDistance('a', 1)", "QueryError",
		     "argument 2 of function ngramDistance");
}

/* ---- JSON ------------------------------------------------------------------------- */

static void test_json_valid_type_key(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's 00918_json_functions */
	expect_a(f,
		 "isValidJSON('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}'), "
		 "isValidJSON('not a json'), isValidJSON('\"HX-='), isValidJSON(''), "
		 "isValidJSON(' 1 '), isValidJSON('[1,]'), "
		 "isValidJSON(JSONExtractString(properties, 'js'))",
		 "1\t0\t0\t0\t1\t0\t1");
	expect_a(f,
		 "JSONType('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}'), "
		 "JSONType('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'b')",
		 "Object\tArray");
	expect_a(f,
		 "JSONType(properties, 'j', 'k', 1), JSONType(properties, 'j', 'k', 2), "
		 "JSONType(properties, 'j', 'big'), JSONType(properties, 'j', 'neg'), "
		 "JSONType(properties, 'j', 'f'), JSONType(properties, 'j', 'b'), "
		 "JSONType(properties, 'j', 'n'), JSONType(properties, 'j', 's'), "
		 "JSONType(properties, 'nope'), JSONType('x')",
		 "Int64\tDouble\tUInt64\tInt64\tDouble\tBool\tNull\tString\tNull\tNull");
	expect_a(f,
		 "JSONType('9223372036854775807'), JSONType('9223372036854775808'), "
		 "JSONType('-9223372036854775808'), JSONType('18446744073709551616'), "
		 "JSONType('[]'), JSONType('[1]', -1)",
		 "Int64\tUInt64\tInt64\tDouble\tArray\tInt64");
	/* JSONExtractKey is ClickHouse's JSONKey: the key the last step took */
	expect_a(f,
		 "JSONExtractKey('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 1), "
		 "JSONExtractKey('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 2), "
		 "JSONExtractKey('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', -1), "
		 "JSONExtractKey('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', -2)",
		 "a\tb\tb\ta");
	expect_a(f,
		 "JSONExtractKey(properties, 'j', 'b'), JSONExtractKey(properties, 'j', 'k', 1), "
		 "JSONExtractKey(properties), JSONExtractKey(properties, 'j', -1), "
		 "JSONExtractKey(properties, 'nope'), JSONExtractKey('{\"a\":1}', 3)",
		 "b\t\t\té\t\t");
	expect_b(f,
		 "isValidJSON(properties.js), JSONType(properties.js), "
		 "JSONExtractKey(properties.js, 1)",
		 "\\N\t\\N\t\\N");
	expect_a(f, "JSONType(properties.js, NULL), isValidJSON(NULL)", "\\N\t\\N");
	expect_error(f, "isValidJSON(1)", "QueryError", "argument 1 of function isValidJSON");
	expect_error(f, "JSONType('{}', 1.5)", "QueryError", "argument 2 of function JSONType");
}

static void test_json_keys_and_values(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's 00918_json_functions */
	expect_a(
	    f,
	    "JSONExtractKeysAndValues('{\"a\": \"hello\", \"b\": [-100, 200, 300]}', 'String'), "
	    "JSONExtractKeysAndValues('{\"a\": \"hello\", \"b\": \"world\"}', 'String'), "
	    "JSONExtractKeysAndValues('{\"x\": {\"a\": 5, \"b\": 7, \"c\": 11}}', 'x', 'Int8'), "
	    "JSONExtractKeysAndValues('{\"a\": \"hello\", \"b\": \"world\"}', "
	    "'LowCardinality(String)')",
	    "[('a','hello'),('b','[-100,200,300]')]\t[('a','hello'),('b','world')]\t"
	    "[('a',5),('b',7),('c',11)]\t[('a','hello'),('b','world')]");
	expect_a(f,
		 "JSONExtractKeysAndValuesRaw('{\"a\": \"hello\", \"b\": [-100, 200, 300]}', 'a'), "
		 "JSONExtractKeysAndValuesRaw('{\"a\": \"hello\", \"b\": [-100, 200, 300]}', 'b'), "
		 "JSONExtractKeysAndValuesRaw('{\"a\": \"hello\", \"b\": [-100, 200, 300]}'), "
		 "JSONExtractKeysAndValuesRaw('{\"a\": \"hello\", \"b\": [-100, 200, 300], "
		 "\"c\":{\"d\":[121,144]}}', 'c')",
		 "[]\t[]\t[('a','\"hello\"'),('b','[-100,200,300]')]\t[('d','[121,144]')]");
	/* values that do not convert drop their key: out of Int8's range, a
	 * null for a non-Nullable type, a string that is no number */
	expect_a(f,
		 "JSONExtractKeysAndValues(properties, 'j', 'Int8'), "
		 "JSONExtractKeysAndValues(properties, 'j', 'Nullable(UInt64)'), "
		 "JSONExtractKeysAndValues('{\"a\":1,\"b\":2.5,\"c\":\"3e2\",\"d\":null,"
		 "\"e\":[1],\"f\":false}', 'Float64')",
		 "[('b',1),('neg',-3),('é',1)]\t"
		 "[('b',1),('n',NULL),('big',18446744073709551615),('f',1000),('é',1)]\t"
		 "[('a',1),('b',2.5),('c',300),('f',0)]");
	expect_a(
	    f,
	    "JSONExtractKeysAndValues(JSONExtractString(properties, 'js'), 'Int64'), "
	    "JSONExtractKeysAndValues('{\"a\":1.9,\"b\":\"-2.5\",\"c\":true,\"d\":\"x\"}', "
	    "'Int32'), JSONExtractKeysAndValues('{\"a\":0,\"b\":2,\"c\":\"1\",\"d\":\"no\"}', "
	    "'Bool'), JSONExtractKeysAndValues('[1]', 'String'), "
	    "JSONExtractKeysAndValues('not json', 'String')",
	    "[('a',1),('b',2)]\t[('a',1),('b',-2),('c',1)]\t[('a',0),('b',1),('c',1)]\t[]\t[]");
	expect_a(f,
		 "toTypeName(JSONExtractKeysAndValues('{}', 'Int8')), "
		 "toTypeName(JSONExtractKeysAndValues('{}', 'Nullable(Float32)')), "
		 "toTypeName(JSONExtractKeysAndValuesRaw('{}'))",
		 "Array(Tuple(String, Int64))\tArray(Tuple(String, Nullable(Float64)))\t"
		 "Array(Tuple(String, String))");
	expect_a(f,
		 "JSONExtractKeysAndValuesRaw(properties, 'j', 'k', 3), "
		 "JSONExtractKeysAndValuesRaw('{\"a\" : { \"b\" : [ 1 , 2 ] } }')",
		 "[('z','\"q\"')]\t[('a','{\"b\":[1,2]}')]");
	expect_b(f,
		 "JSONExtractKeysAndValues(properties.js, 'String'), "
		 "JSONExtractKeysAndValuesRaw(properties.js)",
		 "[]\t[]");
	expect_error(f, "JSONExtractKeysAndValues('{}', 'Array(Int8)')", "NotImplementedError",
		     "Array(Int8)");
	expect_error(f, "JSONExtractKeysAndValues('{}', event)", "NotImplementedError",
		     "non-constant argument 2");
	expect_error(f, "JSONExtractKeysAndValues('{}')", "QueryError", "JSONExtractKeysAndValues");
	expect_error(f, "JSONExtractKeysAndValuesRaw(1)", "QueryError",
		     "argument 1 of function JSONExtractKeysAndValuesRaw");
}

static void test_json_extract_value(void **state)
{
	struct fixture *f = *state;
	/* ClickHouse's 00918_json_functions (String keeps the raw text here:
	 * 200.0 where ClickHouse re-serialises to 200) */
	expect_a(
	    f,
	    "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'a', 'String'), "
	    "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'b', 'Array(Float32)'), "
	    "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'b', 'Array(Int8)'), "
	    "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'b', "
	    "'Array(Nullable(Int8))'), "
	    "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'b', 'Array(UInt8)'), "
	    "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'b', "
	    "'Array(Nullable(UInt8))')",
	    "hello\t[-100,200,300]\t[-100,0,0]\t[-100,NULL,NULL]\t[0,200,0]\t[NULL,200,NULL]");
	expect_a(f,
		 "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'b', 1, 'Int8'), "
		 "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'b', 2, 'Int32'), "
		 "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200.0, 300]}', 'b', 4, "
		 "'Nullable(Int64)'), JSONExtract('{\"passed\": true}', 'passed', 'UInt8'), "
		 "JSONExtract('{\"a\": \"hello\", \"b\": [-100, 200, 300]}', 'b', 'String')",
		 "-100\t200\t\\N\t1\t[-100,200,300]");
	expect_a(
	    f,
	    "JSONExtract(properties, 'j', 'neg', 'Int64'), JSONExtract(properties, 'j', 'neg', "
	    "'UInt64'), JSONExtract(properties, 'j', 'f', 'Float64'), JSONExtract(properties, 'j', "
	    "'s', 'String'), JSONExtract(properties, 'j', 'n', 'Nullable(String)'), "
	    "JSONExtract(properties, 'nope', 'String'), JSONExtract(properties, 'j', 'k', "
	    "'Array(String)'), JSONExtract('{}', 'Int64'), JSONExtract('not json', 'Float64')",
	    "-3\t0\t1000\tx/y\t\\N\t\t['1','2.50','{\"z\":\"q\"}']\t0\t0");
	expect_a(
	    f,
	    "toTypeName(JSONExtract('{}', 'Int8')), toTypeName(JSONExtract('{}', "
	    "'Nullable(String)')), "
	    "toTypeName(JSONExtract('{}', 'Array(UInt32)')), toTypeName(JSONExtract(properties.js, "
	    "'Float32'))",
	    "Int64\tNullable(String)\tArray(UInt64)\tNullable(Float64)");
	expect_b(f,
		 "JSONExtract(properties.js, 'a', 'Int64'), JSONExtract(properties.js, "
		 "'Array(Int64)')",
		 "\\N\t[]");
	expect_error(f, "JSONExtract('{}', 'Tuple(a Int64)')", "NotImplementedError",
		     "Tuple(a Int64)");
	expect_error(f, "JSONExtract('{}', 'a', event)", "NotImplementedError", "non-constant");
	/* JSON_VALUE: JSONPath from '$', members and 0-based elements */
	expect_a(
	    f,
	    "JSON_VALUE('{\"hello\":\"world\"}', '$.hello'), JSON_VALUE('{\"hello\":2}', "
	    "'$.hello'), "
	    "JSON_VALUE('{\"a\":[{\"b\":[1]},{\"b\":5}]}', '$.a[*].b'), "
	    "JSON_VALUE('{\"a\":{\"b\":1}}', '$.a'), JSON_VALUE('{\"a b\":true}', '$.\"a b\"'), "
	    "JSON_VALUE('[1,2]', '$[1]'), JSON_VALUE('{\"a\":null}', '$.a'), "
	    "JSON_VALUE('{\"a\":1}', '$.b'), JSON_VALUE('x', '$')",
	    "world\t2\t5\t\ttrue\t2\tnull\t\t");
	expect_a(f,
		 "JSON_VALUE(properties.j, '$.k[2].z'), JSON_VALUE(properties.j, '$.s'), "
		 "JSON_VALUE(properties.j, '$.k[0]')",
		 "q\tx/y\t1");
	expect_b(f, "JSON_VALUE(properties.j, '$.s')", "\\N");
	expect_error(f, "JSON_VALUE('{}', 'a')", "QueryError", "Unable to parse JSONPath");
	expect_error(f, "JSON_VALUE('{}', '$.a[0 to 2]')", "NotImplementedError", "JSONPath");
	expect_error(f, "JSON_VALUE('{}', event)", "NotImplementedError", "non-constant");
}

/* ---- toJSONString ----------------------------------------------------------------- */

static void test_to_json_string(void **state)
{
	struct fixture *f = *state;
	/* strings: '"', '\', '/' and control bytes escaped; UTF-8 as it is */
	expect_a(f,
		 "toJSONString('a/b\"c'), toJSONString(properties.t), toJSONString(''), "
		 "toJSONString(concat('x', unhex('01')))",
		 "\"a\\\\/b\\\\\"c\"\t\"ünï café\"\t\"\"\t\"x\\\\u0001\"");
	expect_a(f,
		 "toJSONString(1), toJSONString(-5), toJSONString(1.5), toJSONString(-100.25), "
		 "toJSONString(0.1 + 0.2), toJSONString(1 / 0), toJSONString(NULL), "
		 "toJSONString(true), toJSONString(1 = 1), toJSONString(toBool('false'))",
		 "1\t-5\t1.5\t-100.25\t0.30000000000000004\tnull\tnull\ttrue\t1\tfalse");
	expect_a(f, "toJSONString(length('abc')), toJSONString(18446744073709551615)",
		 "3\t18446744073709551615");
	/* dates and times quoted, in the query's zone (Europe/Berlin here) */
	expect_a(f,
		 "toJSONString(toDate('2024-01-02')), toJSONString(timestamp), "
		 "toJSONString(toTimeZone(timestamp, 'UTC'))",
		 "\"2024-01-02\"\t\"2024-03-01 01:00:01.000000\"\t\"2024-03-01 00:00:01.000000\"");
	/* arrays and tuples as JSON arrays, nested; NULL elements null */
	expect_a(f,
		 "toJSONString([1, 2]), toJSONString(['a', NULL]), toJSONString([[1], [2, 3]]), "
		 "toJSONString(tuple(1, 'x', [2.5])), toJSONString([toDate('2024-01-02')]), "
		 "toJSONString(splitByChar(',', 'a,b/c'))",
		 "[1,2]\t[\"a\",null]\t[[1],[2,3]]\t[1,\"x\",[2.5]]\t[\"2024-01-02\"]\t"
		 "[\"a\",\"b\\\\/c\"]");
	expect_a(f, "toJSONString(JSONExtractKeysAndValues('{\"a\":true,\"b\":0}', 'Bool'))",
		 "[[\"a\",true],[\"b\",false]]");
	expect_a(f, "toJSONString(uuid), toJSONString(properties.missing)",
		 "\"00000000-0000-7000-0000-000000000001\"\tnull");
	expect_b(f, "toJSONString(properties.s), toTypeName(toJSONString(properties.s))",
		 "null\tString");
	expect_error(f, "toJSONString(1, 2)", "QueryError", "toJSONString");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ascii_initcap),
	    cmocka_unit_test(test_quote_meta_split),
	    cmocka_unit_test(test_url_codecs),
	    cmocka_unit_test(test_url_parts),
	    cmocka_unit_test(test_port),
	    cmocka_unit_test(test_translate_count),
	    cmocka_unit_test(test_cut_url_parameter),
	    cmocka_unit_test(test_ngram_distance),
	    cmocka_unit_test(test_json_extract_value),
	    cmocka_unit_test(test_json_valid_type_key),
	    cmocka_unit_test(test_json_keys_and_values),
	    cmocka_unit_test(test_to_json_string),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
