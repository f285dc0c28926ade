/*
 * Duplicate keys and NULs in JSON (issue 9, defects 5 and 14): the relay
 * refuses what cJSON and a browser's JSON.parse would read differently.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "json_check.h"

static const char *
dup_of(const char *text, char *out, size_t cap)
{
	cJSON *j = cJSON_Parse(text);
	const char *d;

	assert_non_null(j);
	d = json_dup_key(j);
	snprintf(out, cap, "%s", d ? d : "");
	cJSON_Delete(j);
	return d ? out : NULL;
}

static void
duplicate_keys_are_found_at_any_depth(void **state)
{
	char k[64];

	(void)state;
	assert_null(dup_of("{\"a\":1,\"b\":2}", k, sizeof(k)));
	assert_null(dup_of("[1,{\"a\":1},{\"a\":2}]", k, sizeof(k)));
	assert_null(dup_of("\"x\"", k, sizeof(k)));
	assert_null(dup_of("{\"a\":1,\"A\":1}", k, sizeof(k)));
	assert_string_equal(dup_of("{\"host\":\"H\",\"seq\":1,\"host\":\"G\"}",
	    k, sizeof(k)), "host");
	assert_string_equal(dup_of("{\"cpu\":{\"n\":1,\"n\":2}}", k,
	    sizeof(k)), "n");
	assert_string_equal(dup_of("{\"p\":[[1],{\"x\":[{\"y\":1,\"y\":1}]}]}",
	    k, sizeof(k)), "y");
	assert_string_equal(dup_of("{\"\":1,\"\":2}", k, sizeof(k)), "");
}

static void
duplicate_keys_in_a_large_object(void **state)
{
	struct buf b;
	char k[64];

	(void)state;
	buf_init(&b, 1 << 20);
	buf_adds(&b, "{");
	for (int i = 0; i < 5000; i++)
		buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
	buf_adds(&b, "}");
	assert_null(dup_of(b.data, k, sizeof(k)));
	b.len--;
	b.data[b.len] = '\0';
	buf_adds(&b, ",\"k4321\":0}");
	assert_string_equal(dup_of(b.data, k, sizeof(k)), "k4321");
	buf_free(&b);
}

static void
nul_characters_are_found(void **state)
{
	static const char raw[] = "{\"a\":\"x\0y\"}";

	(void)state;
	assert_true(json_has_nul("\"before\\u0000after\"", 19));
	assert_true(json_has_nul("{\"k\\u0000\":1}", 13));
	assert_true(json_has_nul(raw, sizeof(raw) - 1));
	assert_false(json_has_nul("\"a\\\\u0000\"", 10)); /* \\ then u0000 */
	assert_true(json_has_nul("\"a\\\\\\u0000\"", 12)); /* \\ then \u0000 */
	assert_false(json_has_nul("\"\\u0001\\u00001\"", 8));
	assert_false(json_has_nul("\"\\u000", 6));
	assert_false(json_has_nul("{}", 2));
}

static void
spans_are_the_texts_as_sent(void **state)
{
	static const char arr[] = " [ {\"n\":9007199254740993} ,"
	    "\"a]\",[1,2]]\n";
	static const char obj[] = "{\"name\":\"x\", \"d\\u0061ta\" : "
	    "{\"n\": 1.50} ,\"z\":[]}";
	const char *at[4], *v;
	size_t n[4], vn;

	(void)state;
	assert_int_equal(json_array_spans(arr, sizeof(arr) - 1, at, n, 4), 3);
	assert_int_equal(n[0], 22);
	assert_memory_equal(at[0], "{\"n\":9007199254740993}", 22);
	assert_memory_equal(at[1], "\"a]\"", n[1]);
	assert_memory_equal(at[2], "[1,2]", n[2]);
	assert_int_equal(json_array_spans(arr, sizeof(arr) - 1, at, n, 2),
	    -EINVAL);
	assert_int_equal(json_array_spans("[]", 2, at, n, 4), -EINVAL);
	assert_int_equal(json_array_spans("[1] x", 5, at, n, 4), -EINVAL);
	assert_int_equal(json_array_spans("{}", 2, at, n, 4), -EINVAL);
	assert_int_equal(json_array_spans("[1,]", 4, at, n, 4), -EINVAL);
	assert_int_equal(json_array_spans("[1]\0", 4, at, n, 4), -EINVAL);
	assert_int_equal(json_array_spans("[1,\x01 2]", 7, at, n, 4), -EINVAL);
	assert_int_equal(json_array_spans("[1]\r\n", 5, at, n, 4), 1);

	/* The key is matched unescaped; the value is the text as sent. */
	assert_int_equal(json_member_span(obj, sizeof(obj) - 1, "data", &v,
	    &vn), 1);
	assert_int_equal(vn, 11);
	assert_memory_equal(v, "{\"n\": 1.50}", 11);
	assert_int_equal(json_member_span(obj, sizeof(obj) - 1, "z", &v, &vn),
	    1);
	assert_memory_equal(v, "[]", 2);
	assert_int_equal(json_member_span(obj, sizeof(obj) - 1, "nope", &v,
	    &vn), 0);
	assert_int_equal(json_member_span("{}", 2, "a", &v, &vn), 0);
	assert_int_equal(json_member_span("[1]", 3, "a", &v, &vn), -EINVAL);
	assert_int_equal(json_member_span("{\"a\" 1}", 7, "a", &v, &vn),
	    -EINVAL);
}

/* One JSON value and only JSON whitespace around it (attack finding F5). */
static const struct exact_case {
	const char *text;
	const char *why;	/* NULL: parsed */
} exact_cases[] = {
	{"{\"a\":1}", NULL},
	{" \t\r\n{\"a\":1} \t\r\n", NULL},
	{"[1,2]", NULL},
	{"\"s\"", NULL},
	{"{\"a\":1} garbage", "bytes after the JSON value"},
	{"{\"a\":1}{\"b\":2}", "bytes after the JSON value"},
	{"{\"a\":1},", "bytes after the JSON value"},
	{"1 2", "bytes after the JSON value"},
	{"{\"a\":1}\x0b", "a control character outside a string escape"},
	{"\x01{\"a\":1}", "a control character outside a string escape"},
	{"{\"a\":\"x\x1fy\"}", "a control character outside a string escape"},
	{"", "no JSON value"},
	{" \n", "no JSON value"},
	{"{\"a\":", "not valid JSON"},
};

static void
exact_parse_refuses_bytes_after_the_value(void **state)
{
	const char *why;
	cJSON *j;

	(void)state;
	for (size_t i = 0; i < sizeof(exact_cases) / sizeof(exact_cases[0]);
	    i++) {
		const struct exact_case *k = &exact_cases[i];

		why = NULL;
		j = json_parse_exact(k->text, strlen(k->text), &why);
		if ((j == NULL) != (k->why != NULL) || (k->why && (!why ||
		    strcmp(why, k->why) != 0)))
			fail_msg("case %zu (%s): want %s, got %s", i, k->text,
			    k->why ? k->why : "parsed", why ? why : "parsed");
		cJSON_Delete(j);
	}
	/* A length that stops before a NUL terminator is honoured. */
	j = json_parse_exact("{}xx", 2, NULL);
	assert_non_null(j);
	cJSON_Delete(j);
	assert_null(json_parse_exact("{}\0", 3, NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(duplicate_keys_are_found_at_any_depth),
		cmocka_unit_test(duplicate_keys_in_a_large_object),
		cmocka_unit_test(nul_characters_are_found),
		cmocka_unit_test(spans_are_the_texts_as_sent),
		cmocka_unit_test(exact_parse_refuses_bytes_after_the_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
