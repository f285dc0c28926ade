/*
 * Pusher signatures against the vectors in docs/pusher-protocol.md
 * (key 278d425bdf160c739803, secret 7ad3773142a6692b25b8).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "dash_parse.h"
#include "sign.h"

static struct app_conf app = {
	.name = (char[]){"t"},
	.id = (char[]){"3"},
	.key = (char[]){"278d425bdf160c739803"},
	.secret = (char[]){"7ad3773142a6692b25b8"},
};

static void
private_channel_vector(void **state)
{
	(void)state;
	assert_true(auth_channel_ok(&app, "1234.1234", "private-foobar", NULL,
	    "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba4"
	    "8f5369f135bf843651c3a4"));
	/* one digit off, wrong key, wrong channel, missing colon */
	assert_false(auth_channel_ok(&app, "1234.1234", "private-foobar", NULL,
	    "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba4"
	    "8f5369f135bf843651c3a5"));
	assert_false(auth_channel_ok(&app, "1234.1234", "private-foobar", NULL,
	    "278d425bdf160c739804:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba4"
	    "8f5369f135bf843651c3a4"));
	assert_false(auth_channel_ok(&app, "1234.1234", "private-foobaz", NULL,
	    "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba4"
	    "8f5369f135bf843651c3a4"));
	assert_false(auth_channel_ok(&app, "1234.1234", "private-foobar", NULL,
	    "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba4"
	    "8f5369f135bf843651c3a4"));
	assert_false(auth_channel_ok(&app, "1234.1234", "private-foobar", NULL,
	    NULL));
}

static void
presence_channel_vector(void **state)
{
	(void)state;
	/* The recomputed value (the docs' afaed369... is wrong). */
	assert_true(auth_channel_ok(&app, "1234.1234", "presence-foobar",
	    "{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Channels\"}}",
	    "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d"
	    "8863bba239c03ca481bc80"));
	/* Re-serialised channel_data (a space) must not verify. */
	assert_false(auth_channel_ok(&app, "1234.1234", "presence-foobar",
	    "{\"user_id\": 10,\"user_info\":{\"name\":\"Mr. Channels\"}}",
	    "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d"
	    "8863bba239c03ca481bc80"));
}

/* A private channel whose auth endpoint also returned channel_data (issue
 * 9, defect 3): signed over socket_id:channel:channel_data, recomputed with
 * openssl dgst -sha256 -hmac. */
static void
private_channel_with_channel_data_vector(void **state)
{
	static const char sig[] = "278d425bdf160c739803:496d367857f5416a7f92"
	    "9c50af102f208f65bf5a00dfe4c146ef113eb5f6a5c7";

	(void)state;
	assert_true(auth_channel_ok(&app, "1234.1234", "private-foobar",
	    "{\"user_id\":10}", sig));
	/* Not over the two parts, nor over other channel_data. */
	assert_false(auth_channel_ok(&app, "1234.1234", "private-foobar", NULL,
	    sig));
	assert_false(auth_channel_ok(&app, "1234.1234", "private-foobar",
	    "{\"user_id\":11}", sig));
}

static void
user_signin_vector(void **state)
{
	(void)state;
	assert_true(auth_user_ok(&app, "1234.1234", "{\"id\":\"12345\"}",
	    "278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde"
	    "13337c16ab43aa6de336ba"));
	assert_false(auth_user_ok(&app, "1234.1235", "{\"id\":\"12345\"}",
	    "278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde"
	    "13337c16ab43aa6de336ba"));
}

static const char body[] =
    "{\"name\":\"foo\",\"channels\":[\"project-3\"],"
    "\"data\":\"{\\\"some\\\":\\\"data\\\"}\"}";

static int
check(const char *query, int64_t now, char *why)
{
	char q[512];
	struct auth_param p[AUTH_MAX_PARAMS];
	int n;

	snprintf(q, sizeof(q), "%s", query);
	n = auth_parse_query(q, p, AUTH_MAX_PARAMS);
	assert_true(n > 0);
	return auth_http_ok(&app, "POST", "/apps/3/events", p, n, body,
	    strlen(body), now, why, 1024);
}

static void
http_api_vector(void **state)
{
	char md5[33], why[1024];

	(void)state;
	auth_md5_hex(body, strlen(body), md5);
	assert_string_equal(md5, "ec365a775a4cd0599faeb73354201b6f");
	auth_md5_hex("", 0, md5);
	assert_string_equal(md5, "d41d8cd98f00b204e9800998ecf8427e");
	assert_int_equal(check("auth_key=278d425bdf160c739803&auth_timestamp="
	    "1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb733542"
	    "01b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1"
	    "e7430e47a1f3f457e6c", 1353088179, why), 0);
	/* Upper-case keys and percent-encoding decode to the same string. */
	assert_int_equal(check("AUTH_KEY=278d425bdf160c739803&auth_timestamp="
	    "1353088179&auth_version=1%2E0&body_md5=ec365a775a4cd0599faeb733542"
	    "01b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1"
	    "e7430e47a1f3f457e6c", 1353088179 + 599, why), 0);
}

static void
http_api_refusals(void **state)
{
	char why[1024];

	(void)state;
	/* 600 s old: outside the window */
	assert_int_equal(check("auth_key=278d425bdf160c739803&auth_timestamp="
	    "1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb733542"
	    "01b6f&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1"
	    "e7430e47a1f3f457e6c", 1353088179 + 600, why), -EACCES);
	assert_non_null(strstr(why, "Timestamp"));
	/* body_md5 of another body */
	assert_int_equal(check("auth_key=278d425bdf160c739803&auth_timestamp="
	    "1353088179&auth_version=1.0&body_md5=99914b932bd37a50b983c5e7c90"
	    "ae93b&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1"
	    "e7430e47a1f3f457e6c", 1353088179, why), -EACCES);
	assert_non_null(strstr(why, "body_md5"));
	/* an extra parameter changes the string to sign */
	assert_int_equal(check("auth_key=278d425bdf160c739803&auth_timestamp="
	    "1353088179&auth_version=1.0&body_md5=ec365a775a4cd0599faeb733542"
	    "01b6f&info=x&auth_signature=da454824c97ba181a32ccc17a72625ba02771f"
	    "50b50e1e7430e47a1f3f457e6c", 1353088179, why), -EACCES);
	assert_non_null(strstr(why, "Invalid signature"));
	/* missing signature */
	assert_int_equal(check("auth_key=278d425bdf160c739803&auth_timestamp="
	    "1353088179", 1353088179, why), -EACCES);
}

/* A value is never cut at a NUL nor holds another control byte. */
static const struct query_case {
	const char *query;
	int want;	/* count, or the error */
} query_cases[] = {
	{"socket_id=1.1&channel_name=private-host-web-1", 2},
	{"a=b%20c+d&e=%C3%A9", 2},
	{"socket_id=1.1&channel_name=private-host-web-1%00x", -EILSEQ},
	{"a=%01", -EILSEQ},
	{"a=%0a", -EILSEQ},
	{"a=%7F", -EILSEQ},
	{"a=\x01", -EILSEQ},
	{"a%00=1", -EILSEQ},
	{"a=%0", -EINVAL},
};

static void
query_values_with_control_bytes_are_refused(void **state)
{
	char q[256];
	struct auth_param p[AUTH_MAX_PARAMS];

	(void)state;
	for (size_t i = 0; i < sizeof(query_cases) / sizeof(query_cases[0]);
	    i++) {
		snprintf(q, sizeof(q), "%s", query_cases[i].query);
		if (auth_parse_query(q, p, AUTH_MAX_PARAMS) !=
		    query_cases[i].want)
			fail_msg("case %zu (%s): want %d", i,
			    query_cases[i].query, query_cases[i].want);
	}
}

#define TOK "0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef"

/* The session token is the whole cookie value, nothing more. */
static const struct cookie_case {
	const char *cookie;
	int found;
} cookie_cases[] = {
	{"sno_session=" TOK, 1},
	{"sno_session=" TOK "; theme=dark", 1},
	{"theme=dark; sno_session=" TOK, 1},
	{"theme=dark;sno_session=" TOK ";x=1", 1},
	{"sno_session=" TOK "x", 0},
	{"sno_session=" TOK "0", 0},
	{"sno_session=" TOK "\x01junk", 0},
	{"sno_session=" TOK ",other=1", 0},
	{"sno_session=" TOK " ;x=1", 0},
	{"xsno_session=" TOK, 0},
};

static void
session_cookie_is_the_exact_token(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cookie_cases) / sizeof(cookie_cases[0]);
	    i++)
		if ((dash_cookie_token(cookie_cases[i].cookie) != NULL) !=
		    cookie_cases[i].found)
			fail_msg("case %zu (%s): want %s", i,
			    cookie_cases[i].cookie,
			    cookie_cases[i].found ? "found" : "refused");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(private_channel_vector),
		cmocka_unit_test(presence_channel_vector),
		cmocka_unit_test(private_channel_with_channel_data_vector),
		cmocka_unit_test(user_signin_vector),
		cmocka_unit_test(http_api_vector),
		cmocka_unit_test(http_api_refusals),
		cmocka_unit_test(query_values_with_control_bytes_are_refused),
		cmocka_unit_test(session_cookie_is_the_exact_token),
	};

	if (sign_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
