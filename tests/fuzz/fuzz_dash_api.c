/*
 * What the dashboard API reads from a browser (relay/dash_parse.c, called
 * by dash_api.c): the Cookie header, the login body, pusher-js's
 * authorization form, the history path and its since parameter.
 * Input: cookie NUL login body NUL auth form NUL path NUL since.
 */
#include <strings.h>

#include "dash_parse.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *tok, *user, *pw, *sid, *ch;
	struct auth_param p[AUTH_MAX_PARAMS];
	char form[DASH_FORM_MAX], id[160];
	struct fz_parts f;
	long long since;
	cJSON *root;

	if (fz_split(data, size, 5, &f) < 0)
		return 0;
	if ((tok = dash_cookie_token(f.p[0])) != NULL)
		fz_check(strspn(tok, "0123456789abcdef") == DASH_TOKEN_LEN,
		    "a session token is 64 hex digits");
	if (dash_login_parse(f.p[1], f.len[1], &root, &user, &pw) == 0)
		fz_check(strlen(user) <= DASH_USER_MAX &&
		    strlen(pw) <= DASH_PASSWORD_MAX, "login fields capped");
	cJSON_Delete(root);
	if (dash_auth_form(f.p[2], f.len[2], form, p, &sid, &ch) == 0) {
		fz_check(strlen(sid) <= DASH_SOCKET_ID_MAX &&
		    strchr(sid, '.') != NULL, "socket_id shape");
		for (const char *s = ch; *s; s++)
			fz_check((unsigned char)*s >= ' ' && *s != 0x7f,
			    "no control byte in channel_name");
	}
	if (dash_history_path(f.p[3], id, sizeof(id)) == 0)
		fz_check(strlen(id) < sizeof(id), "host id fits");
	if (dash_history_since(f.len[4] ? f.p[4] : NULL, &since) == 0)
		fz_check(since >= 0, "since not negative");
	fz_free(&f);
	return 0;
}
