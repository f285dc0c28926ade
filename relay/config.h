/*
 * The relay's configuration: [relay] settings and one [app NAME] section per
 * Pusher application. Loaded once at start; never changed while serving.
 */
#ifndef SNO_RELAY_CONFIG_H
#define SNO_RELAY_CONFIG_H

#include "conf.h"

struct app_conf {
	char *name;
	char *id;
	char *key;
	char *secret;
	int client_events;
	char *webhook_url;
	int line;	/* where the section starts, for late errors */
};

struct relay_conf {
	char *listen;
	char *tls_listen;
	char *tls_cert;
	char *tls_key;
	long max_message_bytes;
	long activity_timeout;
	long send_queue_bytes;
	char *allowed_origins;
	char *log_level;
	struct app_conf *apps;
	int napps;
};

/* Loads and validates path; 0, or -1 with err = "FILE:LINE: message". */
int relay_conf_load(struct relay_conf *c, const char *path,
    char err[CONF_ERR_LEN]);
void relay_conf_free(struct relay_conf *c);
/* Splits "host:port" (host may be empty or [v6]); 0 or -EINVAL. */
int relay_conf_addr(const char *s, char *host, size_t hostlen, int *port);
/* Whether origin (may be NULL) is allowed by allowed_origins. */
int relay_conf_origin_ok(const struct relay_conf *c, const char *origin);

#endif
