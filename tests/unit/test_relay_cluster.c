/*
 * The [relay] redis, redis_prefix and node_id checks behind --check-config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster.h"

static char err[256];

static int
url(const char *u)
{
	err[0] = '\0';
	return cluster_conf_check(u, "sno", NULL, err, sizeof(err));
}

static void
good_urls(void **state)
{
	(void)state;
	assert_int_equal(cluster_conf_check(NULL, NULL, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(url("redis://127.0.0.1:6379/0"), 0);
	assert_int_equal(url("redis://localhost"), 0);
	assert_int_equal(url("redis://:pw@10.0.0.1:7000/15"), 0);
	assert_int_equal(url("redis://h/"), 0);
}

static void
bad_urls(void **state)
{
	(void)state;
	assert_int_equal(url("http://127.0.0.1:6379"), -1);
	assert_non_null(strstr(err, "redis: 'http://127.0.0.1:6379'"));
	assert_non_null(strstr(err, "redis://"));
	assert_int_equal(url("redis://"), -1);
	assert_non_null(strstr(err, "host"));
	assert_int_equal(url("redis://h:0"), -1);
	assert_int_equal(url("redis://h:65536"), -1);
	assert_int_equal(url("redis://h:12x"), -1);
	assert_non_null(strstr(err, "port"));
	assert_int_equal(url("redis://h/16"), -1);
	assert_int_equal(url("redis://h/a"), -1);
	assert_non_null(strstr(err, "database"));
}

static void
names(void **state)
{
	(void)state;
	assert_int_equal(cluster_conf_check(NULL, "sno.prod-1", "relay_a-6001",
	    err, sizeof(err)), 0);
	assert_int_equal(cluster_conf_check(NULL, "a b", NULL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "redis_prefix"));
	assert_int_equal(cluster_conf_check(NULL, "", NULL, err,
	    sizeof(err)), -1);
	assert_int_equal(cluster_conf_check(NULL, NULL, "x{y}", err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "node_id"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(good_urls),
		cmocka_unit_test(bad_urls),
		cmocka_unit_test(names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
