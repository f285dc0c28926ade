/*
 * [agent] configuration: the key table, per-key checks with line numbers,
 * and reading the host key file (64 hex digits = 32 bytes).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "agent_conf.h"
#include "log.h"
#include "sample.h"
#include "uplink.h"

#define AC(f) offsetof(struct agent_conf, f)

static const struct conf_key agent_keys[] = {
	{"relay_url", CONF_STR, 0, 4096, NULL, AC(relay_url),
	    "relay base URLs, comma-separated, tried in turn"},
	{"host_id", CONF_STR, 0, SAMPLE_HOST_MAX, NULL, AC(host_id),
	    "this host's id as the relay knows it"},
	{"key_file", CONF_STR, 0, 1024, NULL, AC(key_file),
	    "file holding the host key (64 hex digits)"},
	{"ca_file", CONF_STR, 0, 1024, NULL, AC(ca_file),
	    "CA bundle for the relay; default system CAs"},
	{"proxy", CONF_STR, 0, UPLINK_PROXY_MAX - 1, NULL, AC(proxy),
	    "http(s)://HOST:PORT, or none; default https_proxy/no_proxy"},
	{"interval_ms", CONF_INT, 100, 60000, "1000", AC(interval_ms),
	    "sampling interval while streaming"},
	{"top_processes", CONF_INT, 0, SAMPLE_PROCS_MAX, "20",
	    AC(top_processes), "process rows per sample"},
	{"send_cmdline", CONF_BOOL, 0, 1, "yes", AC(send_cmdline),
	    "send (scrubbed) command lines"},
	{"offline_buffer_s", CONF_INT, 1, 86400, "300", AC(offline_buffer_s),
	    "seconds of samples kept while the relay is unreachable"},
	{NULL, 0, 0, 0, NULL, 0, NULL},
};

void
agent_conf_defaults(struct agent_conf *c)
{
	memset(c, 0, sizeof(*c));
	conf_defaults(agent_keys, c);
}

void
agent_conf_print_keys(FILE *fp)
{
	conf_print_keys(fp, "agent", agent_keys);
}

void
agent_conf_free(struct agent_conf *c)
{
	conf_free_strings(agent_keys, c);
	for (int i = 0; i < c->nurls; i++)
		free(c->urls[i]);
	c->nurls = 0;
	sodium_memzero(c->key, sizeof(c->key));
	c->have_key = 0;
}

/* https://, or plain http:// to a loopback address (tests, local relay). */
static int
agent_url_ok(const char *u)
{
	struct uplink_target t;

	if (uplink_parse_url(u, &t) < 0)
		return 0;
	return t.tls || strcmp(t.host, "127.0.0.1") == 0 ||
	    strcmp(t.host, "localhost") == 0 || strcmp(t.host, "::1") == 0;
}

/* Splits relay_url on commas into c->urls, trimming blanks and '/'. */
static int
agent_split_urls(struct agent_conf *c, const char *v, char *err)
{
	const char *s = v, *e;
	size_t n;

	for (int i = 0; i < c->nurls; i++)
		free(c->urls[i]);
	c->nurls = 0;
	while (*s) {
		while (*s == ' ' || *s == ',')
			s++;
		for (e = s; *e && *e != ','; e++)
			;
		for (n = (size_t)(e - s); n > 0 && (s[n - 1] == ' ' ||
		    s[n - 1] == '/'); n--)
			;
		if (n > 0) {
			if (c->nurls == AGENT_URLS_MAX) {
				snprintf(err, CONF_ERR_LEN, "relay_url: more "
				    "than %d URLs", AGENT_URLS_MAX);
				return -1;
			}
			if ((c->urls[c->nurls] = strndup(s, n)) == NULL)
				return -1;
			if (!agent_url_ok(c->urls[c->nurls++])) {
				snprintf(err, CONF_ERR_LEN, "relay_url: '%.*s' "
				    "is not https://host[:port][/path] (plain "
				    "http:// only to loopback)", (int)n, s);
				return -1;
			}
		}
		s = e;
	}
	if (c->nurls == 0) {
		snprintf(err, CONF_ERR_LEN, "relay_url: no URL given");
		return -1;
	}
	return 0;
}

static int
agent_conf_key(void *user, const char *section, const char *name,
    const char *value, int line, char *err)
{
	struct agent_conf *c = user;
	const struct conf_key *k;

	if (strcmp(section, "agent") != 0) {
		snprintf(err, CONF_ERR_LEN, "unknown section [%s]", section);
		return -1;
	}
	if ((k = conf_find(agent_keys, name)) == NULL) {
		snprintf(err, CONF_ERR_LEN, "unknown key '%s' in [agent]",
		    name);
		return -1;
	}
	if (conf_set(k, c, value, err) < 0)
		return -1;
	if (strcmp(name, "host_id") == 0 && !sample_host_valid(value)) {
		snprintf(err, CONF_ERR_LEN, "host_id: '%s' is not a valid host "
		    "id (letters, digits, '.', '_', '-')", value);
		return -1;
	}
	if (strcmp(name, "relay_url") == 0)
		return agent_split_urls(c, value, err);
	if (strcmp(name, "proxy") == 0 && uplink_proxy_ok(value) < 0) {
		snprintf(err, CONF_ERR_LEN, "proxy: '%.200s' is not "
		    "http(s)://HOST:PORT or none", value);
		return -1;
	}
	if (strcmp(name, "key_file") == 0)
		c->key_line = line;
	return 0;
}

/* Reads and decodes the key file; 0 or -1 with err (without file:line). */
static int
agent_read_key(struct agent_conf *c, char *err)
{
	char text[130];
	struct stat st;
	size_t n;
	FILE *fp;
	int r = -1;

	if ((fp = fopen(c->key_file, "r")) == NULL) {
		snprintf(err, CONF_ERR_LEN, "key_file: cannot open %s: %s",
		    c->key_file, strerror(errno));
		return -1;
	}
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & S_IROTH))
		log_warnx("agent key_file is readable by others file=%s "
		    "fix=\"chmod o-r\"", c->key_file);
	n = fread(text, 1, sizeof(text) - 1, fp);
	text[n] = '\0';
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' ||
	    text[n - 1] == ' '))
		text[--n] = '\0';
	if (n != 2 * SIGN_HOST_KEY_LEN ||
	    sign_unhex(text, c->key, SIGN_HOST_KEY_LEN) < 0)
		snprintf(err, CONF_ERR_LEN, "key_file: %s must hold exactly "
		    "%d hex digits", c->key_file, 2 * SIGN_HOST_KEY_LEN);
	else
		r = 0;
	c->have_key = r == 0;
	sodium_memzero(text, sizeof(text));
	fclose(fp);
	return r;
}

/* The checks after parsing: required keys, then the key file. */
static int
agent_conf_finish(struct agent_conf *c, const char *path, int sampling_only,
    char err[CONF_ERR_LEN])
{
	char msg[CONF_ERR_LEN];
	const char *missing = NULL;

	if (sampling_only)
		return 0;
	if (c->relay_url == NULL)
		missing = "relay_url";
	else if (c->host_id == NULL)
		missing = "host_id";
	else if (c->key_file == NULL)
		missing = "key_file";
	if (missing) {
		snprintf(err, CONF_ERR_LEN, "%s:0: missing required key %s "
		    "in [agent]", path, missing);
		return -1;
	}
	if (agent_read_key(c, msg) < 0) {
		snprintf(err, CONF_ERR_LEN, "%.200s:%d: %.280s", path,
		    c->key_line, msg);
		return -1;
	}
	return 0;
}

int
agent_conf_load(struct agent_conf *c, const char *path, int sampling_only,
    char err[CONF_ERR_LEN])
{
	if (conf_parse(path, agent_conf_key, c, err) < 0)
		return -1;
	return agent_conf_finish(c, path, sampling_only, err);
}

int
agent_conf_load_text(struct agent_conf *c, const char *name,
    const char *text, size_t len, int sampling_only, char err[CONF_ERR_LEN])
{
	if (conf_parse_text(name, text, len, agent_conf_key, c, 0, err) < 0)
		return -1;
	return agent_conf_finish(c, name, sampling_only, err);
}
