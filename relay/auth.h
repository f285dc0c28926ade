/*
 * Pusher signatures (docs/pusher-protocol.md): channel authorization,
 * user signin, and signed HTTP API requests. Constant-time comparisons; the
 * strings are verified exactly as received, never re-serialised.
 */
#ifndef SNO_AUTH_H
#define SNO_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* 1 when auth is "KEY:hex(HMAC(secret, socket_id:channel[:channel_data]))". */
int auth_channel_ok(const struct app_conf *a, const char *socket_id,
    const char *channel, const char *channel_data, const char *auth);
/* 1 when auth signs "socket_id::user::user_data". */
int auth_user_ok(const struct app_conf *a, const char *socket_id,
    const char *user_data, const char *auth);

struct auth_param {
	char *key;	/* lower-cased, percent-decoded */
	char *value;	/* percent-decoded */
};

#define AUTH_MAX_PARAMS 32
#define AUTH_WINDOW_S 600

/*
 * Parses a raw query string (without '?') into at most AUTH_MAX_PARAMS
 * decoded pairs, in place (query is modified). Returns the count, -EILSEQ
 * when a name or value holds a control byte (%00 would cut it), or -EINVAL.
 */
int auth_parse_query(char *query, struct auth_param *p, int max);
/* 1 when no name or value of p[0..n) holds a control byte, else 0 (for
 * pairs decoded elsewhere, such as by libwebsockets). */
int auth_params_clean(const struct auth_param *p, int n);
/* Splits an already decoded "key=value" in place, lower-casing the key. */
void auth_param_split(char *kv, struct auth_param *p);
/* The value of key in p, or NULL. */
const char *auth_param_get(const struct auth_param *p, int n, const char *key);
/* out gets 32 lowercase hex digits of MD5(msg) (Pusher's body_md5). */
void auth_md5_hex(const void *msg, size_t len, char out[33]);
/*
 * Checks a signed HTTP API request: auth_key is a's key, auth_version 1.0,
 * auth_timestamp within AUTH_WINDOW_S of now_s, body_md5 matches body when
 * given (required for a non-empty body), and auth_signature signs
 * "METHOD\nPATH\nsorted params". Returns 0, or -EACCES with why set.
 */
int auth_http_ok(const struct app_conf *a, const char *method,
    const char *path, const struct auth_param *p, int n, const char *body,
    size_t bodylen, int64_t now_s, char *why, size_t whylen);

/*
 * The part of auth_http_ok a request's head allows (before its body is
 * read): the three parameters given, the key, the version and the window.
 * A value quoted in why is quoted only when it is UTF-8.
 */
int auth_http_head_ok(const struct app_conf *a, const struct auth_param *p,
    int n, int64_t now_s, char *why, size_t whylen);

#endif
