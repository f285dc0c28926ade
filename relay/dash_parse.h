/*
 * The dashboard API's reading of what a browser sent (dash_api.c answers):
 * the session cookie, the login body, pusher-js's channel-authorization
 * form, and the history path and its "since". Pure string work: no
 * libwebsockets, no state, no I/O, so it can be fuzzed and unit-tested.
 */
#ifndef SNO_DASH_PARSE_H
#define SNO_DASH_PARSE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "auth.h"

#define DASH_TOKEN_LEN 64	/* hex digits of a session token */
#define DASH_USER_MAX 128
#define DASH_PASSWORD_MAX 1024
#define DASH_FORM_MAX 2048	/* a larger authorization form is refused */
#define DASH_SOCKET_ID_MAX 30

/*
 * The session token in a Cookie header value: the first "sno_session="
 * at the start or after ' ' or ';', which must be followed by exactly
 * DASH_TOKEN_LEN lowercase hex digits, then ';' or the end of the header
 * (no other byte: "TOKENx" is not TOKEN). Returns a pointer to them inside
 * cookie (not NUL-terminated at 64), or NULL.
 */
const char *dash_cookie_token(const char *cookie);

/*
 * Parses a login body {"user":"...","password":"..."} of len bytes. On 0,
 * *root must be freed with cJSON_Delete and *user, *password point into it
 * (user at most DASH_USER_MAX bytes, password at most DASH_PASSWORD_MAX,
 * no key twice);
 * -EINVAL otherwise, with *root set as well (maybe NULL) so that the
 * caller can wipe and free it the same way.
 */
int dash_login_parse(const char *body, size_t len, cJSON **root,
    const char **user, const char **password);

/*
 * Parses pusher-js's form "socket_id=...&channel_name=..." (len bytes)
 * into form (copied, decoded in place) and p. On 0, *socket_id is digits
 * with a '.' (at most DASH_SOCKET_ID_MAX) and *channel the decoded name,
 * both inside form; -EILSEQ when a value holds a control byte (a NUL
 * would cut it), -EINVAL otherwise.
 */
int dash_auth_form(const char *body, size_t len, char form[DASH_FORM_MAX],
    struct auth_param p[AUTH_MAX_PARAMS], const char **socket_id,
    const char **channel);

/*
 * The host id in an API path after /api/v1, "/hosts/ID/history", into id
 * (cap bytes). 0, or -EINVAL when p is not such a path.
 */
int dash_history_path(const char *p, char *id, size_t cap);

/* "since" of a history request: NULL or a non-negative integer. 0 or
 * -EINVAL. */
int dash_history_since(const char *since, long long *n);

#endif
