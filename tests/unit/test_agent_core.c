/*
 * Unit tests for the agent's configuration, the in-order sample buffer and
 * the shared sample schema validator.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../agent/agent_conf.h"
#include "../../agent/stream.h"
#include "sample.h"

static char tmpdir[] = "/tmp/sno-agent-conf-XXXXXX";

static const char *
write_tmp(const char *name, const char *content, int mode)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	assert_non_null(fp = fopen(path, "w"));
	fputs(content, fp);
	fclose(fp);
	chmod(path, (mode_t)mode);
	return path;
}

/* Loads content as a config; returns the result, err filled. */
static int
load(const char *content, int sampling_only, struct agent_conf *c,
    char err[CONF_ERR_LEN])
{
	const char *path = write_tmp("agent.conf", content, 0600);

	agent_conf_defaults(c);
	return agent_conf_load(c, path, sampling_only, err);
}

static void
conf_full_config_loads(void **state)
{
	char err[CONF_ERR_LEN], conf[1024];
	const char *key = write_tmp("agent.key",
	    "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n", 0640);
	struct agent_conf c;

	(void)state;
	snprintf(conf, sizeof(conf), "[agent]\nrelay_url = https://a.example:"
	    "6443, https://b.example/\nhost_id = web-1\nkey_file = %s\n"
	    "interval_ms = 500\ntop_processes = 50\nsend_cmdline = no\n"
	    "offline_buffer_s = 60\nproxy = http://proxy.example:3128\n", key);
	if (load(conf, 0, &c, err) != 0)
		fail_msg("%s", err);
	assert_int_equal(c.nurls, 2);
	assert_string_equal(c.urls[0], "https://a.example:6443");
	assert_string_equal(c.urls[1], "https://b.example");
	assert_string_equal(c.host_id, "web-1");
	assert_int_equal(c.interval_ms, 500);
	assert_int_equal(c.top_processes, 50);
	assert_int_equal(c.send_cmdline, 0);
	assert_int_equal(c.offline_buffer_s, 60);
	assert_string_equal(c.proxy, "http://proxy.example:3128");
	assert_true(c.have_key);
	assert_int_equal(c.key[0], 0x00);
	assert_int_equal(c.key[31], 0xff);
	agent_conf_free(&c);
}

static void
conf_defaults_for_once(void **state)
{
	char err[CONF_ERR_LEN];
	struct agent_conf c;

	(void)state;
	assert_int_equal(load("[agent]\ntop_processes = 5\n", 1, &c, err), 0);
	assert_int_equal(c.interval_ms, 1000);
	assert_int_equal(c.top_processes, 5);
	assert_int_equal(c.send_cmdline, 1);
	assert_int_equal(c.offline_buffer_s, 300);
	assert_null(c.proxy);	/* the environment decides */
	agent_conf_free(&c);
	/* The same file is not enough to stream. */
	assert_int_equal(load("[agent]\ntop_processes = 5\n", 0, &c, err), -1);
	assert_non_null(strstr(err, "missing required key relay_url"));
	agent_conf_free(&c);
}

static const struct bad_conf {
	const char *text;
	const char *want;	/* expected ":LINE: message" part */
} bad_confs[] = {
	{"[agent]\nbogus = 1\n", ":2: unknown key 'bogus' in [agent]"},
	{"[agent]\ninterval_ms = 1000\n[relay]\nx = 1\n",
	    ":4: unknown section [relay]"},
	{"[agent]\n\ninterval_ms = 10\n",
	    ":3: interval_ms: 10 is out of range"},
	{"[agent]\ntop_processes = many\n", ":2: top_processes: 'many' is not"},
	{"[agent]\nsend_cmdline = maybe\n", ":2: send_cmdline: 'maybe' is not"},
	{"[agent]\nrelay_url = ftp://x\n", ":2: relay_url: 'ftp://x' is not"},
	{"[agent]\nrelay_url = http://example.com\n", ":2: relay_url:"},
	{"[agent]\nhost_id = bad host!\n", ":2: host_id: 'bad host!' is not"},
	{"[agent]\nproxy = proxy.example:3128\n",
	    ":2: proxy: 'proxy.example:3128' is not http(s)://HOST:PORT "
	    "or none"},
	{"[agent]\n\nproxy = socks5://p:1080\n",
	    ":3: proxy: 'socks5://p:1080'"},
	{"[agent]\nproxy = http://p\n", ":2: proxy: 'http://p' is not"},
	{NULL, NULL},
};

static void
conf_errors_name_file_and_line(void **state)
{
	char err[CONF_ERR_LEN];
	struct agent_conf c;

	(void)state;
	for (const struct bad_conf *b = bad_confs; b->text; b++) {
		assert_int_equal(load(b->text, 1, &c, err), -1);
		if (strstr(err, b->want) == NULL ||
		    strstr(err, "agent.conf:") == NULL)
			fail_msg("config %s: got '%s', want '%s'", b->text, err,
			    b->want);
		agent_conf_free(&c);
	}
}

static void
conf_bad_key_file_is_refused(void **state)
{
	char err[CONF_ERR_LEN], conf[512];
	const char *key = write_tmp("short.key", "abcd\n", 0600);
	struct agent_conf c;

	(void)state;
	snprintf(conf, sizeof(conf), "[agent]\nrelay_url = https://r\n"
	    "host_id = h\nkey_file = %s\n", key);
	assert_int_equal(load(conf, 0, &c, err), -1);
	assert_non_null(strstr(err, ":4: key_file:"));
	assert_non_null(strstr(err, "64 hex digits"));
	agent_conf_free(&c);
	snprintf(conf, sizeof(conf), "[agent]\nrelay_url = https://r\n"
	    "host_id = h\nkey_file = %s/none\n", tmpdir);
	assert_int_equal(load(conf, 0, &c, err), -1);
	assert_non_null(strstr(err, "cannot open"));
	agent_conf_free(&c);
}

/* ---- the ring ---- */

static void
ring_keeps_order_and_drops_oldest(void **state)
{
	struct stream_ring q;
	char json[32];
	long long seq;
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_int_equal(stream_ring_init(&q, 3), 0);
	for (int i = 1; i <= 5; i++) {
		snprintf(json, sizeof(json), "{\"seq\":%d}", i);
		assert_int_equal(stream_ring_push(&q, i, json, strlen(json)),
		    0);
	}
	assert_int_equal(q.count, 3);
	assert_int_equal(q.dropped, 2);
	stream_ring_at(&q, 0, &seq);
	assert_int_equal(seq, 3);
	assert_int_equal(stream_ring_batch(&q, 60, &b), 3);
	assert_string_equal(b.data, "[{\"seq\":3},{\"seq\":4},{\"seq\":5}]");
	assert_int_equal(stream_ring_batch(&q, 2, &b), 2);
	assert_string_equal(b.data, "[{\"seq\":3},{\"seq\":4}]");
	assert_int_equal(stream_ring_ack(&q, 4), 2);
	assert_int_equal(q.count, 1);
	stream_ring_at(&q, 0, &seq);
	assert_int_equal(seq, 5);
	/* An old ack changes nothing. */
	assert_int_equal(stream_ring_ack(&q, 2), 0);
	stream_ring_drop(&q, 10);
	assert_int_equal(q.count, 0);
	assert_int_equal(stream_ring_batch(&q, 60, &b), 0);
	assert_string_equal(b.data, "[]");
	stream_ring_free(&q);
	buf_free(&b);
}

/* A sample the slot cannot take is refused whole, never counted. */
static void
ring_refuses_a_sample_it_cannot_hold(void **state)
{
	struct stream_ring q;
	size_t big = (size_t)SAMPLE_MAX_BYTES + 1;
	char *json = malloc(big);
	struct buf b;

	(void)state;
	assert_non_null(json);
	memset(json, ' ', big);
	buf_init(&b, 1 << 20);
	assert_int_equal(stream_ring_init(&q, 3), 0);
	assert_int_equal(stream_ring_push(&q, 1, "{\"seq\":1}", 9), 0);
	assert_true(stream_ring_push(&q, 2, json, big) < 0);
	assert_int_equal(q.count, 1);
	assert_int_equal(stream_ring_batch(&q, 60, &b), 1);
	assert_string_equal(b.data, "[{\"seq\":1}]");
	stream_ring_free(&q);
	buf_free(&b);
	free(json);
}

static void
ring_batch_respects_byte_cap(void **state)
{
	struct stream_ring q;
	struct buf b;

	(void)state;
	buf_init(&b, 30);
	stream_ring_init(&q, 10);
	for (int i = 1; i <= 4; i++)
		stream_ring_push(&q, i, "{\"x\":\"0123456789\"}", 18);
	assert_int_equal(stream_ring_batch(&q, 60, &b), 1);
	assert_true(b.len <= 30);
	stream_ring_free(&q);
	buf_free(&b);
}

/* ---- the schema ---- */

#define GOOD "{\"v\":1,\"host\":\"web-1\",\"seq\":7,\"ts_ms\":1,\"dt_ms\":0," \
	"\"cpu\":{\"n\":2},\"mem\":{\"total\":10,\"used\":5}," \
	"\"tasks\":{\"total\":3},\"procs\":[[1,0,\"root\"]]}"

static void
validate_accepts_a_minimal_sample(void **state)
{
	char err[128], host[SAMPLE_HOST_MAX + 1];
	long long seq = 0;

	(void)state;
	assert_int_equal(sample_validate(GOOD, strlen(GOOD), err, sizeof(err),
	    &seq, host, sizeof(host)), 0);
	assert_int_equal(seq, 7);
	assert_string_equal(host, "web-1");
}

static const struct bad_sample {
	const char *from, *to, *why;
} bad_samples[] = {
	{"\"v\":1", "\"v\":2", "v:"},
	{"\"seq\":7", "\"seq\":0", "seq:"},
	{"\"seq\":7", "\"seq\":7.5", "seq:"},
	{"\"seq\":7", "\"seq\":\"7\"", "seq:"},
	{"\"host\":\"web-1\"", "\"host\":\"a b\"", "host:"},
	{"\"host\":\"web-1\"", "\"host\":3", "host:"},
	{"\"n\":2", "\"n\":0", "cpu.n:"},
	{"\"total\":10", "\"total\":-1", "mem.total:"},
	{"\"used\":5", "\"used\":null", "mem.used:"},
	{"\"tasks\":{\"total\":3}", "\"tasks\":3", "tasks.total:"},
	{"[[1,0,\"root\"]]", "[1]", "procs:"},
	{"\"procs\":", "\"procz\":", "procs:"},
	{NULL, NULL, NULL},
};

static void
validate_rejects_bad_fields(void **state)
{
	char err[128], json[1024];
	const char *p;

	(void)state;
	for (const struct bad_sample *b = bad_samples; b->from; b++) {
		p = strstr(GOOD, b->from);
		assert_non_null(p);
		snprintf(json, sizeof(json), "%.*s%s%s", (int)(p - GOOD), GOOD,
		    b->to, p + strlen(b->from));
		assert_int_equal(sample_validate(json, strlen(json), err,
		    sizeof(err), NULL, NULL, 0), -EINVAL);
		if (strncmp(err, b->why, strlen(b->why)) != 0)
			fail_msg("%s: got '%s'", json, err);
	}
	assert_int_equal(sample_validate("[]", 2, err, sizeof(err), NULL, NULL,
	    0), -EINVAL);
	assert_int_equal(sample_validate(GOOD "x", strlen(GOOD) + 1, err,
	    sizeof(err), NULL, NULL, 0), -EINVAL);
	assert_int_equal(sample_validate(GOOD, SAMPLE_MAX_BYTES + 1, err,
	    sizeof(err), NULL, NULL, 0), -EMSGSIZE);
	/* A prefix of a valid sample is not valid. */
	assert_int_equal(sample_validate(GOOD, 20, err, sizeof(err), NULL, NULL,
	    0), -EINVAL);
}

static void
host_ids(void **state)
{
	(void)state;
	assert_true(sample_host_valid("web-1.example_com"));
	assert_false(sample_host_valid(""));
	assert_false(sample_host_valid("-x"));
	assert_false(sample_host_valid("a/b"));
	assert_false(sample_host_valid(
	    "0123456789012345678901234567890123456789"
	    "01234567890123456789012345"));
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conf_full_config_loads),
		cmocka_unit_test(conf_defaults_for_once),
		cmocka_unit_test(conf_errors_name_file_and_line),
		cmocka_unit_test(conf_bad_key_file_is_refused),
		cmocka_unit_test(ring_keeps_order_and_drops_oldest),
		cmocka_unit_test(ring_batch_respects_byte_cap),
		cmocka_unit_test(ring_refuses_a_sample_it_cannot_hold),
		cmocka_unit_test(validate_accepts_a_minimal_sample),
		cmocka_unit_test(validate_rejects_bad_fields),
		cmocka_unit_test(host_ids),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
