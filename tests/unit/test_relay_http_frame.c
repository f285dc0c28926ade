/*
 * The end of a request's head as libwebsockets 4.1.6 finds it (issue 9,
 * defect 1): relay/http_frame.c, which lws_pipeline.c uses to hand lws
 * one pipelined request at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "http_frame.h"

#define U(s) ((const unsigned char *)(s))

static size_t
end_at(const char *s)
{
	struct http_scan sc;
	size_t k;

	http_scan_reset(&sc);
	return http_head_end(&sc, U(s), strlen(s), &k) ? k : 0;
}

static void
a_head_ends_at_its_first_empty_line(void **state)
{
	(void)state;
	assert_int_equal(end_at("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET"), 27);
	assert_int_equal(end_at("GET / HTTP/1.1\nHost: a\n\nx"), 24);
	assert_int_equal(end_at("GET / HTTP/1.1\r\nHost: a\n\r\n"), 26);
	/* lws skips no empty line before the request line. */
	assert_int_equal(end_at("\r\nGET / HTTP/1.1\r\n\r\n"), 2);
	assert_int_equal(end_at("\nGET"), 1);
	/* No end yet: a lone CR, a CR CR LF, a line's end only. */
	assert_int_equal(end_at("GET / HTTP/1.1\r\nHost: a\r\n"), 0);
	assert_int_equal(end_at("GET / HTTP/1.1\r\n\r\r\nHost: a"), 0);
	assert_int_equal(end_at("GET / HTTP/1.1\r\nX: \r\r\n"), 0);
	assert_int_equal(end_at(""), 0);
}

static void
a_head_in_pieces_ends_where_it_would_whole(void **state)
{
	const char *h = "POST /a HTTP/1.1\r\nHost: a\r\n\r\n{}";
	size_t n = strlen(h), k, got;

	(void)state;
	for (size_t cut = 0; cut <= n; cut++) {
		struct http_scan sc;

		http_scan_reset(&sc);
		if (http_head_end(&sc, U(h), cut, &k))
			got = k;
		else if (http_head_end(&sc, U(h) + cut, n - cut, &k))
			got = cut + k;
		else
			got = 0;
		assert_int_equal(got, 29);
	}
}

static void
take_keeps_back_only_a_whole_next_head(void **state)
{
	const char *one = "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
	char two[256];
	struct http_scan sc;
	size_t after, n = strlen(one);

	(void)state;
	/* A head and its body: all of it, the body counted as after. */
	http_scan_reset(&sc);
	assert_int_equal(http_head_take(&sc, U(one), n, &after), n);
	assert_int_equal(after, 2);
	/* ... and the start of the next head: still all of it. */
	snprintf(two, sizeof(two), "%sPOST /b HTTP/1.1\r\nHo", one);
	http_scan_reset(&sc);
	assert_int_equal(http_head_take(&sc, U(two), strlen(two), &after),
	    strlen(two));
	assert_int_equal(after, strlen(two) - (n - 2));
	/* A whole next head: only the first, nothing after it. */
	snprintf(two, sizeof(two), "%sGET /b HTTP/1.1\r\n\r\n", one);
	http_scan_reset(&sc);
	assert_int_equal(http_head_take(&sc, U(two), strlen(two), &after),
	    n - 2);
	assert_int_equal(after, 0);
	/* Part of a head: all of it, and the search goes on from there. */
	http_scan_reset(&sc);
	assert_int_equal(http_head_take(&sc, U(one), 20, &after), 20);
	assert_int_equal(after, 0);
	assert_int_equal(http_head_take(&sc, U(one) + 20, n - 20, &after),
	    n - 20);
	assert_int_equal(after, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_head_ends_at_its_first_empty_line),
		cmocka_unit_test(a_head_in_pieces_ends_where_it_would_whole),
		cmocka_unit_test(take_keeps_back_only_a_whole_next_head),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
