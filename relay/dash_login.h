/*
 * The dashboard's logins (dash_login.c), for dash_api.c: which login a
 * request carries, logging in and out. "Login" is the dashboard's word for
 * what a cookie stands for; a host's realtime "session" is host.c's.
 */
#ifndef SNO_DASH_LOGIN_H
#define SNO_DASH_LOGIN_H

#include "config.h"
#include "hmap.h"
#include "http.h"

struct login {
	struct hnode node;
	char token[65];
	const struct user_conf *user;
	int64_t expires_ms;	/* monotonic */
	TAILQ_ENTRY(login) entry;
};

/* Starts the password worker once; 0 or a negative errno. */
int dash_login_start(void);
/* The login q's cookie names, or NULL. */
struct login *login_of(struct http_req *q);
/* POST /api/v1/login. */
void login_post(struct http_req *q);
/* POST /api/v1/logout: forgets s (may be NULL), clears the cookie. */
void logout(struct http_req *q, struct login *s);
/* After a reload: logins follow their user into nc, or are dropped. */
void login_reconf(const struct relay_conf *nc);

#endif
