/*
 * Unit tests for what agent/uplink.c decides itself before libcurl takes
 * over: relay URLs, `proxy =` values, no_proxy matching and hiding a
 * proxy's password in logs. HTTP and TLS are libcurl's; the transport is
 * tested against a real relay and real proxies in tests/integration
 * (agent_tls, agent_stream, agent_keepalive, agent_proxy).
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

static void
proxy_values_need_scheme_host_and_port(void **state)
{
	static const char *const good[] = {
		"none", "http://proxy.example.com:3128", "https://10.0.0.1:443",
		"http://[::1]:8080", "http://proxy:3128/",
		"http://u:p@proxy:8080",
	};
	static const char *const bad[] = {
		"", "proxy:3128", "socks5://proxy:1080", "http://proxy",
		"http://[::1]", "http://proxy:3128/path", "http://proxy:0",
		"http://pro xy:1", "ftp://proxy:21", "http://:3128", "None",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (uplink_proxy_ok(good[i]) != 0)
			fail_msg("refused '%s'", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (uplink_proxy_ok(bad[i]) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
}

static void
no_proxy_matches_names_domains_and_addresses(void **state)
{
	(void)state;
	assert_true(uplink_noproxy_match("*", "relay.example.com"));
	assert_true(uplink_noproxy_match("localhost,example.com",
	    "relay.example.com"));
	assert_true(uplink_noproxy_match(".example.com", "relay.example.com"));
	assert_true(uplink_noproxy_match(" example.com ", "example.com"));
	assert_true(uplink_noproxy_match("EXAMPLE.com", "relay.example.COM."));
	assert_false(uplink_noproxy_match("example.com", "badexample.com"));
	assert_false(uplink_noproxy_match("relay.example.com", "example.com"));
	assert_false(uplink_noproxy_match("", "relay"));
	assert_false(uplink_noproxy_match(",, ,", "relay"));
	assert_true(uplink_noproxy_match("10.0.0.0/8,127.0.0.1", "127.0.0.1"));
	assert_true(uplink_noproxy_match("10.0.0.0/8", "10.200.3.4"));
	assert_true(uplink_noproxy_match("192.168.0.0/23", "192.168.1.9"));
	assert_false(uplink_noproxy_match("192.168.0.0/24", "192.168.1.9"));
	assert_false(uplink_noproxy_match("127.0.0.1", "127.0.0.2"));
	/* Names do not match addresses, nor addresses as name suffixes. */
	assert_false(uplink_noproxy_match("0.0.1", "127.0.0.1"));
	assert_false(uplink_noproxy_match("localhost", "127.0.0.1"));
	assert_true(uplink_noproxy_match("::1", "::1"));
	assert_true(uplink_noproxy_match("fd00::/8", "fd12::5"));
	assert_false(uplink_noproxy_match("fd00::/8", "fe80::1"));
	assert_false(uplink_noproxy_match("127.0.0.0/8", "::1"));
}

static void
proxy_password_is_left_out_of_logs(void **state)
{
	char out[128];

	(void)state;
	uplink_redact("http://user:secret@proxy:3128", out, sizeof(out));
	assert_string_equal(out, "http://proxy:3128");
	uplink_redact("http://proxy:3128", out, sizeof(out));
	assert_string_equal(out, "http://proxy:3128");
	uplink_redact("proxy:3128", out, sizeof(out));
	assert_string_equal(out, "proxy:3128");
	uplink_redact("u:p@proxy:3128/x@y", out, sizeof(out));
	assert_string_equal(out, "proxy:3128/x@y");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(url_splits_scheme_host_port_prefix),
		cmocka_unit_test(url_refuses_what_it_cannot_use),
		cmocka_unit_test(proxy_values_need_scheme_host_and_port),
		cmocka_unit_test(no_proxy_matches_names_domains_and_addresses),
		cmocka_unit_test(proxy_password_is_left_out_of_logs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
