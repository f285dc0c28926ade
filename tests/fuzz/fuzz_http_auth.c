/*
 * A signed Pusher HTTP API request (relay/auth.c, PUSHER-PROTOCOL.md 2.2):
 * the query string parsed as lws_http.c hands it over, then checked with
 * its method, path and body against app key "fuzzkey", secret
 * "fuzzsecret" at time 1700000000 (the seeds carry valid signatures).
 * Input: method NUL path NUL query NUL body.
 */
#include <errno.h>

#include "auth.h"
#include "fuzz.h"

#define FZ_NOW 1700000000

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char key[] = "fuzzkey", secret[] = "fuzzsecret", id[] = "1",
	    name[] = "fuzz";
	const struct app_conf a = {.name = name, .id = id, .key = key,
	    .secret = secret};
	struct auth_param p[AUTH_MAX_PARAMS];
	char query[4096], why[512] = "";
	struct fz_parts f;
	int n, r;

	if (fz_split(data, size, 4, &f) < 0)
		return 0;
	/* lws_http.c keeps at most sizeof(q->query) bytes of the query. */
	snprintf(query, sizeof(query), "%s", f.p[2]);
	n = auth_parse_query(query, p, AUTH_MAX_PARAMS);
	fz_check(n == -EINVAL || n == -EILSEQ || (n >= 0 &&
	    n <= AUTH_MAX_PARAMS), "parameter count");
	if (n >= 0) {
		fz_check(auth_params_clean(p, n), "no control byte decoded");
		for (int i = 0; i < n; i++)
			for (const char *k = p[i].key; *k; k++)
				fz_check(*k < 'A' || *k > 'Z',
				    "keys lower-cased");
		r = auth_http_ok(&a, f.p[0], f.p[1], p, n,
		    f.n > 3 ? f.p[3] : NULL, f.len[3], FZ_NOW, why,
		    sizeof(why));
		fz_check(r == 0 || r == -EACCES, "0 or -EACCES");
		fz_check(r == 0 || why[0] != '\0', "a refusal says why");
	}
	fz_free(&f);
	return 0;
}
