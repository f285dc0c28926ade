/* What the dashboard API reads from a browser; see dash_parse.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash_parse.h"
#include "json_check.h"

const char *
dash_cookie_token(const char *cookie)
{
	const char *p;

	for (p = cookie; (p = strstr(p, "sno_session=")) != NULL; p += 12) {
		if (p != cookie && p[-1] != ' ' && p[-1] != ';')
			continue;
		p += 12;
		/* Exactly the token: "TOKENx" or "TOKEN,a=1" is not it. */
		if (strspn(p, "0123456789abcdef") != DASH_TOKEN_LEN ||
		    (p[DASH_TOKEN_LEN] != '\0' && p[DASH_TOKEN_LEN] != ';'))
			return NULL;
		return p;
	}
	return NULL;
}

int
dash_login_parse(const char *body, size_t len, cJSON **root,
    const char **user, const char **password)
{
	*root = json_parse_exact(body ? body : "", len, NULL);
	*user = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(*root, "user"));
	*password = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(*root, "password"));
	if (!*user || !*password || strlen(*user) > DASH_USER_MAX ||
	    strlen(*password) > DASH_PASSWORD_MAX ||
	    json_dup_key(*root) != NULL)
		return -EINVAL;
	return 0;
}

int
dash_auth_form(const char *body, size_t len, char form[DASH_FORM_MAX],
    struct auth_param p[AUTH_MAX_PARAMS], const char **socket_id,
    const char **channel)
{
	const char *sid, *ch;
	int n;

	snprintf(form, DASH_FORM_MAX, "%.*s", (int)(len < DASH_FORM_MAX ?
	    len : 0), body ? body : "");
	if ((n = auth_parse_query(form, p, AUTH_MAX_PARAMS)) == -EILSEQ)
		return -EILSEQ;
	sid = auth_param_get(p, n < 0 ? 0 : n, "socket_id");
	ch = auth_param_get(p, n < 0 ? 0 : n, "channel_name");
	if (!sid || !ch || !strchr(sid, '.') ||
	    strspn(sid, "0123456789.") != strlen(sid) ||
	    strlen(sid) > DASH_SOCKET_ID_MAX)
		return -EINVAL;
	*socket_id = sid;
	*channel = ch;
	return 0;
}

int
dash_history_path(const char *p, char *id, size_t cap)
{
	size_t n = strlen(p);

	if (strncmp(p, "/hosts/", 7) != 0 || n <= 15 ||
	    strcmp(p + n - 8, "/history") != 0)
		return -EINVAL;
	snprintf(id, cap, "%.*s", (int)(n - 15), p + 7);
	return 0;
}

int
dash_history_since(const char *since, long long *n)
{
	char *end = NULL;

	*n = 0;
	if (since == NULL)
		return 0;
	if (!*since || (*n = strtoll(since, &end, 10)) < 0 || *end)
		return -EINVAL;
	return 0;
}
