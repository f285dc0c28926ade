/*
 * Unit tests for the agent's HTTP client parsers (agent/uplink.c): relay
 * URLs, and answers split at every byte, chunked, 1xx, close-delimited and
 * malformed. The transport itself is tested against a real relay in
 * tests/integration/agent_tls.test.js and agent_stream.test.js.
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

#include "../../agent/uplink.h"

static void
url_splits_scheme_host_port_prefix(void **state)
{
	struct uplink_target t;

	(void)state;
	assert_int_equal(uplink_parse_url("https://relay.example.com:6443",
	    &t), 0);
	assert_true(t.tls);
	assert_false(t.ip);
	assert_string_equal(t.host, "relay.example.com");
	assert_string_equal(t.port, "6443");
	assert_string_equal(t.prefix, "");
	assert_string_equal(t.authority, "relay.example.com:6443");

	assert_int_equal(uplink_parse_url("https://relay.example.com", &t), 0);
	assert_string_equal(t.port, "443");
	assert_string_equal(t.authority, "relay.example.com");

	assert_int_equal(uplink_parse_url("http://127.0.0.1:8080/sno/", &t),
	    0);
	assert_false(t.tls);
	assert_true(t.ip);
	assert_int_equal(t.addrlen, 4);
	assert_memory_equal(t.addr, "\x7f\0\0\x01", 4);
	assert_string_equal(t.prefix, "/sno");

	assert_int_equal(uplink_parse_url("https://[::1]:6443/a/b", &t), 0);
	assert_string_equal(t.host, "::1");
	assert_int_equal(t.addrlen, 16);
	assert_string_equal(t.authority, "[::1]:6443");
	assert_string_equal(t.prefix, "/a/b");
}

static void
url_refuses_what_it_cannot_use(void **state)
{
	static const char *const bad[] = {
		"ftp://relay", "https://", "https://user@relay",
		"https://relay:0", "https://relay:65536", "https://relay:",
		"https://relay:12a", "https://relay/?q=1", "https://relay#f",
		"https://[::1", "https://[::1]x", "https://bad host",
		"https://relay/a b", "relay:6443", "https://:443",
	};
	struct uplink_target t;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (uplink_parse_url(bad[i], &t) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
}

/* Parses a copy of the first n bytes of text. */
static int
parse_n(const char *text, size_t n, int eof, struct uplink_resp *r,
    char *copy)
{
	memcpy(copy, text, n);
	copy[n] = '\0';
	return uplink_parse(copy, n, eof, r);
}

/* Every proper prefix needs more; the whole text gives body. */
static void
check_split(const char *text, const char *body, long status, int close)
{
	size_t len = strlen(text);
	char *copy = malloc(len + 1);
	struct uplink_resp r;

	assert_non_null(copy);
	for (size_t n = 0; n < len; n++) {
		if (parse_n(text, n, 0, &r, copy) != 0)
			fail_msg("complete after %zu of %zu bytes", n, len);
	}
	assert_int_equal(parse_n(text, len, 0, &r, copy), 1);
	assert_int_equal(r.status, status);
	assert_int_equal(r.close, close);
	assert_int_equal(r.body_len, strlen(body));
	assert_memory_equal(copy + r.body_off, body, r.body_len);
	free(copy);
}

static void
answer_with_length_at_every_split(void **state)
{
	(void)state;
	check_split("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "content-length: 15\r\n\r\n{\"stream\":true}", "{\"stream\":true}",
	    200, 0);
	check_split("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n", "", 401, 1);
	check_split("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok",
	    200, 1);
	check_split("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
	    "Content-Length: 2\r\n\r\nok", "ok", 200, 0);
}

static void
chunked_answer_is_decoded_in_place(void **state)
{
	(void)state;
	check_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "4\r\nWiki\r\n5;ext=1\r\npedia\r\nA\r\n in chunks\r\n0\r\n"
	    "Trailer: x\r\n\r\n", "Wikipedia in chunks", 200, 0);
	check_split("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "0\r\n\r\n", "", 200, 0);
}

static void
interim_answers_are_skipped(void **state)
{
	(void)state;
	check_split("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
	    "Content-Length: 3\r\n\r\nyes", "yes", 200, 0);
}

static void
answer_without_length_ends_at_close(void **state)
{
	const char *text = "HTTP/1.1 200 OK\r\n\r\nuntil the end";
	char copy[64];
	struct uplink_resp r;

	(void)state;
	assert_int_equal(parse_n(text, strlen(text), 0, &r, copy), 0);
	assert_int_equal(parse_n(text, strlen(text), 1, &r, copy), 1);
	assert_int_equal(r.close, 1);
	assert_int_equal(r.body_len, strlen("until the end"));
	text = "HTTP/1.1 204 No Content\r\n\r\n";
	assert_int_equal(parse_n(text, strlen(text), 0, &r, copy), 1);
	assert_int_equal(r.body_len, 0);
}

static void
malformed_answers_are_refused(void **state)
{
	static const char *const bad[] = {
		"garbage\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 2x0 OK\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n"
		    "\r\nab",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "2\r\nabcd\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "2\nab\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "fffffffffffffffff\r\n",
	};
	char copy[256];
	struct uplink_resp r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_n(bad[i], strlen(bad[i]), 0, &r, copy) != -EPROTO)
			fail_msg("accepted answer %zu: %s", i, bad[i]);
	}
	/* Garbage is refused before a whole head arrives, too. */
	assert_int_equal(parse_n("SSH-2.0-", 8, 0, &r, copy), -EPROTO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(url_splits_scheme_host_port_prefix),
		cmocka_unit_test(url_refuses_what_it_cannot_use),
		cmocka_unit_test(answer_with_length_at_every_split),
		cmocka_unit_test(chunked_answer_is_decoded_in_place),
		cmocka_unit_test(interim_answers_are_skipped),
		cmocka_unit_test(answer_without_length_ends_at_close),
		cmocka_unit_test(malformed_answers_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
