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

/* The JSON string escaping of each byte, one at a time. */
static void
escape_ref(struct buf *b, const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned c = s[i];

		if (c == '"' || c == '\\')
			buf_printf(b, "\\%c", c);
		else if (c == '\n')
			buf_adds(b, "\\n");
		else if (c == '\r')
			buf_adds(b, "\\r");
		else if (c == '\t')
			buf_adds(b, "\\t");
		else if (c == '\b')
			buf_adds(b, "\\b");
		else if (c == '\f')
			buf_adds(b, "\\f");
		else if (c < 0x20)
			buf_printf(b, "\\u%04x", c);
		else
			buf_add(b, s + i, 1);
	}
}

static void
scans_find_a_byte_at_every_offset(void **state)
{
	/* The word-at-a-time scans (control characters, escaping, NULs)
	 * against one byte of interest at each position of 40 plain ones. */
	static const unsigned char odd[] = {0, 1, '\n', 0x1f, '"', '\\',
	    0x7f, 0x80, 0xff, ' '};
	char t[41];
	struct buf got, want;

	(void)state;
	buf_init(&got, 4096);
	buf_init(&want, 4096);
	for (size_t k = 0; k < sizeof(odd); k++) {
		for (size_t at = 0; at < 40; at++) {
			cJSON *j;

			memset(t, 'x', 40);
			t[0] = '"';
			t[39] = '"';
			t[40] = '\0';
			if (at > 0 && at < 39)
				t[at] = (char)odd[k];
			buf_reset(&got);
			buf_reset(&want);
			assert_int_equal(buf_add_json_escaped(&got, t, 40), 0);
			escape_ref(&want, (const unsigned char *)t, 40);
			assert_int_equal(got.len, want.len);
			assert_memory_equal(got.data, want.data, got.len);
			/* A raw control byte inside the string is refused. */
			j = json_parse_exact(t, 40, NULL);
			if (at > 0 && at < 39 && odd[k] < 0x20 &&
			    odd[k] != '\n')
				assert_null(j);
			cJSON_Delete(j);
			assert_int_equal(json_has_nul(t, 40),
			    at > 0 && at < 39 && odd[k] == 0);
		}
	}
	/* An escaped NUL anywhere, and a backslash last. */
	for (size_t at = 1; at + 6 < 40; at++) {
		memset(t, 'x', 40);
		memcpy(t + at, "\\u0000", 6);
		assert_true(json_has_nul(t, 40));
		t[at - 1] = '\\'; /* "\\u0000": a backslash, then text */
		assert_false(json_has_nul(t, 40));
	}
	memset(t, 'x', 40);
	t[39] = '\\';
	assert_false(json_has_nul(t, 40));
	buf_free(&got);
	buf_free(&want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(scans_find_a_byte_at_every_offset),
		cmocka_unit_test(duplicate_keys_are_found_at_any_depth),
		cmocka_unit_test(duplicate_keys_in_a_large_object),
		cmocka_unit_test(nul_characters_are_found),
		cmocka_unit_test(spans_are_the_texts_as_sent),
		cmocka_unit_test(exact_parse_refuses_bytes_after_the_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
