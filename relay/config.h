/*
 * The relay's configuration: [relay] settings, one [app NAME] section per
 * Pusher application, and the dashboard's [account NAME], [user NAME] and
 * [host NAME] sections. Loaded at start and again on SIGHUP (reload.c swaps
 * a whole new one in); never changed in place while serving.
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
	int subscription_count;
	char *webhook_url;
	int line;	/* where the section starts, for late errors */
	const char *file;	/* ... and in which file (includes) */
};

struct account_conf {
	char *name;
	char *title;
	int line;
	const char *file;
};

struct user_conf {
	char *name;
	char *account;
	char *password_hash;	/* $argon2id$... (crypto_pwhash_str) */
	int line;
	const char *file;
};

struct host_conf {
	char *name;		/* the host id */
	char *account;
	char *key;		/* 64 hex digits */
	unsigned char keybin[32];
	int line;
	const char *file;
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
	char *web_root;
	char *host_app;	/* [relay] host_app (or its old name
				 * metrics_app) */
	long session_grace_s;
	long max_session_s;
	long history_seconds;
	char *public_url;	/* origins the dashboard is served from */
	char *metrics_token;	/* Bearer token for /metrics, or NULL */
	long max_subscriptions_per_connection;
	long max_body_bytes_in_flight;	/* across all requests */
	long body_timeout_s;		/* a whole request body */
	char *redis;		/* cluster hook: redis:// URL, or NULL */
	char *redis_prefix;
	char *node_id;		/* NULL: host name and listen port */
	char *include;		/* glob of more files, read after this one */
	char **files;		/* every file read, main first */
	int nfiles;
	struct app_conf *apps;
	int napps;
	struct account_conf *accounts;
	int naccounts;
	struct user_conf *users;
	int nusers;
	struct host_conf *hosts;
	int nhosts;
	const struct app_conf *metrics;	/* the app named by host_app */
};

/*
 * Loads and validates path, then the files its [relay] include names (a
 * glob, relative to path's directory, read in sorted order with the same
 * rules; an include inside an included file is an error). 0, or -1 with
 * err = "FILE:LINE: message" naming the file that has the error.
 */
int relay_conf_load(struct relay_conf *c, const char *path,
    char err[CONF_ERR_LEN]);
/* The same on len bytes of INI text, named name in errors. */
int relay_conf_load_text(struct relay_conf *c, const char *name,
    const char *text, size_t len, char err[CONF_ERR_LEN]);
void relay_conf_free(struct relay_conf *c);
/* --help-config: every key of every section kind, one line each. */
void relay_conf_print_keys(FILE *fp);
/* Splits "host:port" (host may be empty or [v6]); 0 or -EINVAL. */
int relay_conf_addr(const char *s, char *host, size_t hostlen, int *port);
/* Lookups by section name; NULL when absent. */
const struct account_conf *relay_conf_account(const struct relay_conf *c,
    const char *name);
const struct host_conf *relay_conf_host(const struct relay_conf *c,
    const char *name);
const struct user_conf *relay_conf_user(const struct relay_conf *c,
    const char *name);
/* Whether origin (may be NULL) is allowed by allowed_origins. */
int relay_conf_origin_ok(const struct relay_conf *c, const char *origin);
/*
 * Whether origin is one the dashboard is served from, for browser-facing
 * POSTs: listed in public_url, or (public_url unset) http://LISTEN and
 * https://TLS_LISTEN when they name an address (a loopback one also as
 * localhost); or listed in allowed_origins when that is not "*". Never
 * judged from the request's Host header.
 */
int relay_conf_public_origin_ok(const struct relay_conf *c,
    const char *origin);

#endif
