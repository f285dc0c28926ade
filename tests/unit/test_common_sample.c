/*
 * Sample validation against hostile input (issue 9, defects 7 and 14):
 * integers beyond 2^53 - 1, duplicate keys at any depth, a relay_ms the
 * relay would stamp twice, and raw NULs are refused; \u0000 in a string is
 * fine (the relay forwards the sample's own text); so is a byte that is
 * not UTF-8.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sample.h"

#define GOOD "{\"v\":1,\"host\":\"web-1\",\"seq\":7,\"ts_ms\":1,\"dt_ms\":0," \
	"\"cpu\":{\"n\":2},\"mem\":{\"total\":10,\"used\":5}," \
	"\"tasks\":{\"total\":3},\"procs\":[[1,0,\"root\"]]}"

/* Validates GOOD with from replaced by to; the return, why in err. */
static int
check(const char *from, const char *to, char *err, size_t errlen,
    long long *seq)
{
	char text[1024];
	const char *at = strstr(GOOD, from);
	char host[SAMPLE_HOST_MAX + 1];

	assert_non_null(at);
	snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - GOOD), GOOD, to,
	    at + strlen(from));
	err[0] = '\0';
	return sample_validate(text, strlen(text), err, errlen, seq, host,
	    sizeof(host));
}

static void
integers_beyond_2_53_are_refused(void **state)
{
	static const char *const bad[] = {
		"9007199254740992", "9007199254740993", "1e16",
		"18446744073709551616", "1e400", "-1",
	};
	char err[128];
	long long seq = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char to[64];

		snprintf(to, sizeof(to), "\"seq\":%s", bad[i]);
		assert_int_equal(check("\"seq\":7", to, err, sizeof(err), &seq),
		    -EINVAL);
		assert_non_null(strstr(err, "seq"));
	}
	assert_int_equal(check("\"seq\":7", "\"seq\":9007199254740991", err,
	    sizeof(err), &seq), 0);
	assert_true(seq == 9007199254740991LL);
	assert_int_equal(check("\"total\":10", "\"total\":9007199254740992",
	    err, sizeof(err), &seq), -EINVAL);
}

static void
duplicate_keys_are_refused(void **state)
{
	static const struct {
		const char *from, *to;
	} dups[] = {
		{"\"seq\":7", "\"seq\":7,\"seq\":8"},
		{"\"host\":\"web-1\"", "\"host\":\"web-1\",\"host\":\"web-2\""},
		{"\"n\":2", "\"n\":2,\"n\":3"},
		{"[[1,0,\"root\"]]", "[[1,{\"a\":1,\"a\":2}]]"},
	};
	char err[128];
	long long seq;

	(void)state;
	for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
		assert_int_equal(check(dups[i].from, dups[i].to, err,
		    sizeof(err), &seq), -EINVAL);
		assert_non_null(strstr(err, "duplicate key"));
	}
}

static void
relay_ms_and_raw_nul_are_refused(void **state)
{
	static const char nul[] = "{\"v\":1,\"x\":\"a\0b\"}";
	char err[128], host[SAMPLE_HOST_MAX + 1];
	long long seq;

	(void)state;
	assert_int_equal(check("\"v\":1", "\"relay_ms\":1,\"v\":1", err,
	    sizeof(err), &seq), -EINVAL);
	assert_non_null(strstr(err, "relay_ms"));
	assert_int_equal(sample_validate(nul, sizeof(nul) - 1, err,
	    sizeof(err), &seq, host, sizeof(host)), -EINVAL);
	/* An escaped NUL is kept whole in the forwarded text: accepted. */
	assert_int_equal(check("\"root\"", "\"ro\\u0000ot\"", err, sizeof(err),
	    &seq), 0);
}

/* Found by fuzz_host_samples: a key or value with a byte that is not
 * UTF-8 would reach browsers as it is, and they drop the websocket. */
static void
bytes_that_are_not_utf8_are_refused(void **state)
{
	char err[128];
	long long seq;

	(void)state;
	assert_int_equal(check("\"root\"", "\"r\x97\x8ct\"", err, sizeof(err),
	    &seq), -EINVAL);
	assert_non_null(strstr(err, "UTF-8"));
	assert_int_equal(check("\"root\"", "\"r\xc3\xa9\"", err, sizeof(err),
	    &seq), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(integers_beyond_2_53_are_refused),
		cmocka_unit_test(duplicate_keys_are_refused),
		cmocka_unit_test(relay_ms_and_raw_nul_are_refused),
		cmocka_unit_test(bytes_that_are_not_utf8_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
