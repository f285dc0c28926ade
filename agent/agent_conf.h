/*
 * The agent's configuration: section [agent] of an INI file read through
 * common/conf (one key table), plus the host key from key_file. Errors are
 * "FILE:LINE: message". Never logs or prints the key.
 */
#ifndef SNO_AGENT_CONF_H
#define SNO_AGENT_CONF_H

#include "conf.h"
#include "sign.h"

#define AGENT_URLS_MAX 8

struct agent_conf {
	char *relay_url;	/* comma-separated, tried in turn */
	char *host_id;
	char *key_file;
	char *ca_file;
	char *proxy;		/* NULL: from the environment */
	long interval_ms;
	long top_processes;
	int send_cmdline;
	long offline_buffer_s;
	/* Derived by agent_conf_load. */
	char *urls[AGENT_URLS_MAX];
	int nurls;
	int key_line;		/* line of key_file, for errors */
	unsigned char key[SIGN_HOST_KEY_LEN];
	int have_key;
};

/* Sets every default; must precede _load. */
void agent_conf_defaults(struct agent_conf *c);
/*
 * Parses path into c. With sampling_only, relay_url, host_id and key_file
 * may be absent and the key is not read; otherwise all three are required
 * and the key file must hold exactly 64 hex digits. 0, or -1 with err set
 * to "FILE:LINE: message".
 */
int agent_conf_load(struct agent_conf *c, const char *path, int sampling_only,
    char err[CONF_ERR_LEN]);
/* The same on len bytes of INI text, named name in errors. */
int agent_conf_load_text(struct agent_conf *c, const char *name,
    const char *text, size_t len, int sampling_only, char err[CONF_ERR_LEN]);
/* Frees strings and wipes the key; c can be reused after _defaults. */
void agent_conf_free(struct agent_conf *c);
/* --help-config: every [agent] key, one line each. */
void agent_conf_print_keys(FILE *fp);

#endif
