/*
 * The fleet summary (fleet.c): a host's row is rendered from its latest
 * sample (CPU busy = 100 - idle - iowait, network summed, the busiest disk,
 * the top process by CPU), hosts of the account only, offline and
 * never-seen hosts listed with null figures, and the history ring bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "clock.h"
#include "fleet.h"
#include "host.h"

static const char conf_text[] =
    "[relay]\nlisten = 127.0.0.1:1\nmetrics_app = sno\n"
    "[app sno]\nid = sno\nkey = k\nsecret = s\n"
    "[account acme]\n[account other]\n"
    "[host a1]\naccount = acme\nkey = "
    "0000000000000000000000000000000000000000000000000000000000000001\n"
    "[host a2]\naccount = acme\nkey = "
    "0000000000000000000000000000000000000000000000000000000000000002\n"
    "[host o1]\naccount = other\nkey = "
    "0000000000000000000000000000000000000000000000000000000000000003\n";

static const char sample[] =
    "{\"relay_ms\":1,\"v\":1,\"host\":\"a1\",\"seq\":5,\"ts_ms\":1000,"
    "\"dt_ms\":1000,\"cpu\":{\"n\":2,\"pct\":{\"usr\":50.0,\"sys\":10.0,"
    "\"iow\":5.0,\"idle\":35.0}},\"load\":[1.5,1,1],"
    "\"mem\":{\"total\":1000,\"used\":250},"
    "\"net\":[{\"if\":\"eth0\",\"rx_Bps\":100,\"tx_Bps\":7},"
    "{\"if\":\"eth1\",\"rx_Bps\":50,\"tx_Bps\":3}],"
    "\"disk\":[{\"dev\":\"vda\",\"util\":12.5},"
    "{\"dev\":\"vdb\",\"util\":97.0}],"
    "\"tasks\":{\"total\":2},"
    "\"procs_fields\":[\"pid\",\"ppid\",\"user\",\"state\",\"cpu\",\"rss\","
    "\"thr\",\"name\",\"cmd\"],"
    "\"procs\":[[1,0,\"root\",\"S\",3.0,1,1,\"init\",null],"
    "[7,1,\"root\",\"R\",99.5,1,1,\"busy\\\"loop\",null]]}";

static cJSON *
last_summary(struct relay *r, const char *account)
{
	struct buf b;
	cJSON *j, *s;

	buf_init(&b, 1 << 20);
	assert_int_equal(fleet_history(r, account, 60, &b), 0);
	j = cJSON_ParseWithLength(b.data, b.len);
	buf_free(&b);
	assert_non_null(j);
	s = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "summaries"),
	    cJSON_GetArraySize(cJSON_GetObjectItem(j, "summaries")) - 1);
	assert_non_null(s);
	s = cJSON_Duplicate(s, 1);
	cJSON_Delete(j);
	return s;
}

static double
num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItem(o, k);

	assert_true(cJSON_IsNumber(v));
	return v->valuedouble;
}

static void
rows_of_the_account_from_the_latest_sample(void **state)
{
	struct relay_conf c;
	struct relay r;
	char err[CONF_ERR_LEN];
	struct host *h;
	cJSON *s, *hosts, *a1, *a2, *top;

	(void)state;
	assert_int_equal(relay_conf_load_text(&c, "t", conf_text,
	    strlen(conf_text), err), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(relay_init(&r, &c), 0);
	h = host_find(&r, "a1");
	h->last_seq = 5;
	h->last_seen_wall_ms = clock_wall_ms();
	h->streaming = 1;
	fleet_sample(h, sample, strlen(sample));
	fleets_tick(&r, clock_mono_ms() + 1000);
	s = last_summary(&r, "acme");
	hosts = cJSON_GetObjectItem(s, "hosts");
	assert_int_equal(cJSON_GetArraySize(hosts), 2);
	a1 = cJSON_GetArrayItem(hosts, 0);
	a2 = cJSON_GetArrayItem(hosts, 1);
	assert_string_equal(cJSON_GetObjectItem(a1, "id")->valuestring, "a1");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a1, "online")));
	assert_null(cJSON_GetObjectItem(a1, "streaming"));
	assert_null(cJSON_GetObjectItem(a1, "last_seen_ms")); /* online */
	assert_true(num(a1, "seq") == 5);
	assert_true(num(a1, "cpu") == 60.0);	/* 100 - 35 idle - 5 iow */
	assert_true(num(a1, "mem_used") == 250 && num(a1, "mem_total") == 1000);
	assert_true(num(a1, "load1") == 1.5);
	assert_true(num(a1, "net_rx") == 150 && num(a1, "net_tx") == 10);
	assert_true(num(a1, "disk_util") == 97.0);
	top = cJSON_GetObjectItem(a1, "top");
	assert_string_equal(cJSON_GetObjectItem(top, "name")->valuestring,
	    "busy\"loop");
	assert_true(num(top, "cpu") == 99.5);
	/* Never seen: offline, no figures, "streaming": false. */
	assert_string_equal(cJSON_GetObjectItem(a2, "id")->valuestring, "a2");
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(a2, "online")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(a2, "streaming")));
	assert_true(num(a2, "seq") == 0 && num(a2, "last_seen_ms") == 0);
	assert_null(cJSON_GetObjectItem(a2, "cpu"));
	assert_null(cJSON_GetObjectItem(a2, "mem_total"));
	assert_null(cJSON_GetObjectItem(a2, "top"));
	cJSON_Delete(s);
	/* Compact numbers: no needless digits, no nulls. */
	{
		struct buf b;

		buf_init(&b, 1 << 16);
		assert_int_equal(fleet_history(&r, "acme", 60, &b), 0);
		buf_add(&b, "", 1); /* NUL for strstr */
		assert_non_null(strstr(b.data, "\"cpu\":60,"));
		assert_non_null(strstr(b.data, "\"load1\":1.5,"));
		assert_non_null(strstr(b.data, "\"disk_util\":97,"));
		assert_non_null(strstr(b.data, "\"mem_used\":250,"));
		assert_null(strstr(b.data, "null"));
		buf_free(&b);
	}
	/* The other account built nothing: none of its hosts streams. */
	{
		struct buf b;

		buf_init(&b, 1 << 16);
		assert_int_equal(fleet_history(&r, "other", 60, &b), 0);
		assert_non_null(strstr(b.data, "\"summaries\":[]"));
		buf_free(&b);
	}
	relay_free(&r);
	relay_conf_free(&c);
}

static void
history_keeps_at_most_one_minute(void **state)
{
	struct relay_conf c;
	struct relay r;
	char err[CONF_ERR_LEN];
	struct buf b;
	cJSON *j;
	int64_t now = clock_mono_ms();

	(void)state;
	assert_int_equal(relay_conf_load_text(&c, "t", conf_text,
	    strlen(conf_text), err), 0);
	memset(&r, 0, sizeof(r));
	assert_int_equal(relay_init(&r, &c), 0);
	host_find(&r, "a1")->streaming = 1;
	/* One summary per FLEET_PERIOD_MS however often the tick runs. */
	for (int i = 0; i < 4 * (FLEET_HISTORY + 30); i++)
		fleets_tick(&r, now + (int64_t)i * FLEET_PERIOD_MS / 4);
	buf_init(&b, 1 << 22);
	assert_int_equal(fleet_history(&r, "acme", FLEET_HISTORY, &b), 0);
	j = cJSON_ParseWithLength(b.data, b.len);
	assert_non_null(j);
	/* All built within this second of wall time, so all are recent. */
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j,
	    "summaries")), FLEET_HISTORY);
	cJSON_Delete(j);
	buf_free(&b);
	relay_free(&r);
	relay_conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rows_of_the_account_from_the_latest_sample),
		cmocka_unit_test(history_keeps_at_most_one_minute),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
