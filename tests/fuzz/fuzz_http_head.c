/*
 * What a POST's head is refused for before its body is read
 * (relay/http_head.c, http_head_check), called as lws_http_begin calls
 * it: a request from http_req_new, its query parsed into q->params, its
 * Origin and Host copied, and its other headers (X-Sno-*, Cookie) read
 * through the struct http_glue registered with httpd_start, here from the
 * input's header lines. The fuzz relay (relay_fuzz.h): app 1 "fuzzkey",
 * host demo-1, dashboard origin http://127.0.0.1:0 (its listen address).
 *
 * Input: method NUL path NUL query NUL headers NUL body length NUL held.
 * The method must be POST (the glue checks no other head); with a leading
 * '!' the harness signs the request as a client would: an SDK's auth_*
 * and body_md5 for /apps/, X-Sno-Host, X-Sno-Timestamp and X-Sno-Signature
 * (host demo-1, timestamp now) for /agent/v1/, the dashboard's Origin for
 * /api/v1/, for a body of the given length. Headers are "Name: value"
 * lines; the first of a name counts. The body length is Content-Length:
 * 1 to 18 digits, or the glue refused the request before (400, 411).
 * held is how many body bytes other requests hold meanwhile (digits).
 *
 * Checked: the status is 0 or one documented (400, 401, 403, 404, 413,
 * 503 with Retry-After), and a refusal is answered with that status and
 * {"error":"why"} in valid UTF-8; a body over its route's cap or the
 * relay's budget is never let through, a body up to 64 KiB within the
 * budget always is, and so is any request the harness signed; every body
 * byte counted is released with the request; no leak.
 */
#include <strings.h>

#include "clock.h"
#include "dash_login.h"
#include "host.h"
#include "http.h"
#include "relay_fuzz.h"

#define FZ_HEAD_READ_ALL (64 * 1024)	/* http_head.c's HEAD_CHECK_MIN */
#define FZ_ORIGIN "http://127.0.0.1:0"
/* Signed bodies up to this, so that a signed one over its cap is seen. */
#define FZ_SIGN_MAX (2 * 1024 * 1024)

static const char *hdrs = "";	/* this input's header lines */

/* lws_hdr_custom_copy: the value without leading blanks; -1 when absent
 * or when it does not fit. */
static int
glue_header(struct http_req *q, const char *name, char *out, int len)
{
	size_t nl = strlen(name), vl;
	const char *l = hdrs, *v;

	(void)q;
	while (*l) {
		if (strncasecmp(l, name, nl) == 0) {
			v = l + nl + strspn(l + nl, " \t");
			vl = strcspn(v, "\r\n");
			if (vl >= (size_t)len)
				return -1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return (int)vl;
		}
		l += strcspn(l, "\n");
		if (*l == '\n')
			l++;
	}
	return -1;
}

static void
glue_answer(struct http_req *q)
{
	(void)q;	/* q->status and q->resp say it all */
}

static void
glue_hold(struct http_req *q, int secs)
{
	(void)q;
	(void)secs;
}

static int
glue_serve_file(struct http_req *q, const char *file, const char *mime,
    const char *cache_control, int gzip)
{
	(void)q;
	(void)file;
	(void)mime;
	(void)cache_control;
	(void)gzip;
	return -1;
}

static void
glue_wake(void)
{
}

static const struct http_glue glue = {
	.answer = glue_answer,
	.hold = glue_hold,
	.header = glue_header,
	.serve_file = glue_serve_file,
	.wake = glue_wake,
};

/* digits only, 1 to max of them; the value or -1. */
static long long
digits(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max || strspn(s, "0123456789") != len)
		return -1;
	return strtoll(s, NULL, 10);
}

/* A body of len bytes (NULL over FZ_SIGN_MAX), for the signatures. */
static const char *
body_of(size_t len)
{
	static char *body;
	static size_t have;

	if (len > FZ_SIGN_MAX)
		return NULL;
	if (len > have) {
		free(body);
		if ((body = malloc(len)) == NULL)
			abort();
		memset(body, 'x', len);
		have = len;
	}
	return body;
}

/* The agent's headers for a body of len bytes, signed with demo-1's key. */
static void
agent_headers(struct relay *r, const char *path, const char *body,
    size_t len, char *out, size_t outlen)
{
	struct host *h = host_find(r, FZ_HOST_ID);
	char ts[32], sig[SIGN_HEX_LEN + 1];

	if (h == NULL)
		abort();
	snprintf(ts, sizeof(ts), "%lld", (long long)clock_wall_ms());
	sign_agent_request(h->conf->keybin, "POST", path, ts, body, len, sig);
	snprintf(out, outlen, "X-Sno-Host: %s\nX-Sno-Timestamp: %s\n"
	    "X-Sno-Signature: %s\n", FZ_HOST_ID, ts, sig);
}

static void
check_answer(struct http_req *q, int st)
{
	const char *s = q->resp.data ? q->resp.data : "";
	cJSON *j = cJSON_ParseWithLength(s, q->resp.len);
	const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(j,
	    "error"));
	int retry = 0;

	if (why == NULL)
		fprintf(stderr, "answer %d: %.*s\n", st, (int)q->resp.len, s);
	fz_check(q->status == st, "answered with the status returned");
	fz_check(why != NULL && why[0], "the answer is {\"error\":\"why\"}");
#ifndef FZ_OPEN_DEFECT_head_utf8
	fz_check(utf8_valid((const unsigned char *)s, q->resp.len),
	    "the answer is UTF-8");
#endif
	for (int i = 0; i < q->nhdr; i++)
		retry |= strcmp(q->hname[i], "retry-after:") == 0;
	fz_check(st != 503 || retry, "a 503 says Retry-After");
	cJSON_Delete(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_conf *conf = fz_relay_conf();
	char *hbuf = NULL, extra[512] = "";
	const char *path, *body;
	struct http_req *q;
	long long blen, other;
	size_t other_held = 0;
	int sign = 0, np0, st, budget_ok, must_pass = 0;
	struct fz_parts f;
	struct relay r;

	if (conf == NULL || relay_init(&r, conf) < 0)
		abort();
	if (fz_split(data, size, 6, &f) < 0)
		abort();
	if (f.p[0][0] == '!')
		sign = 1;
	path = f.p[1];
	if (strcmp(f.p[0] + sign, "POST") != 0 ||
	    (blen = digits(f.p[4], f.len[4], 18)) < 0)
		goto out;	/* dispatched, or refused by body_framing */
	if ((other = digits(f.p[5], f.len[5], 12)) < 0)
		other = 0;
	httpd_start(&r, &glue);
#ifdef FZ_OPEN_DEFECT_head_login
	/* As if a dashboard request had come first (dash_api_handle). */
	if (dash_login_start() < 0)
		abort();
#endif
	if ((q = http_req_new(NULL, "POST", path)) == NULL)
		abort();
	body = sign ? body_of((size_t)blen) : NULL;
	/* lws_http.c keeps at most sizeof(q->query) bytes of the query. */
	snprintf(q->query, sizeof(q->query), "%s", f.p[2]);
	q->np = np0 = auth_parse_query(q->query, q->params, AUTH_MAX_PARAMS);
	if (q->np < 0)
		q->np = -1;
	if (body && strncmp(path, "/apps/1/", 8) == 0 && np0 >= 0 &&
	    np0 + 5 <= AUTH_MAX_PARAMS) {
		q->np = fz_sign("POST", path, q->params, q->np, body,
		    (size_t)blen);
		must_pass = 1;
	} else if (body && strncmp(path, "/agent/v1/", 10) == 0) {
		agent_headers(&r, path, body, (size_t)blen, extra,
		    sizeof(extra));
		must_pass = 1;
	} else if (body && strncmp(path, "/api/v1/", 8) == 0) {
		snprintf(extra, sizeof(extra), "Origin: " FZ_ORIGIN "\n");
		must_pass = strcmp(path, "/api/v1/login") == 0;
	}
	/* The harness's headers come first, so they are the ones read. */
	if ((hbuf = malloc(strlen(extra) + f.len[3] + 1)) == NULL)
		abort();
	strcpy(hbuf, extra);
	strcat(hbuf, f.p[3]);
	hdrs = hbuf;
	if (glue_header(q, "origin:", q->origin, sizeof(q->origin)) < 0)
		q->origin[0] = '\0';
	if (glue_header(q, "host:", q->host_hdr, sizeof(q->host_hdr)) < 0)
		q->host_hdr[0] = '\0';
	snprintf(q->peer, sizeof(q->peer), "127.0.0.1");

	relay_bytes_hold(&other_held, (size_t)other);
	budget_ok = (uint64_t)other + (uint64_t)blen <=
	    (uint64_t)conf->max_body_bytes_in_flight;
	st = http_head_check(q, (uint64_t)blen);
	fz_check(st == 0 || st == 400 || st == 401 || st == 403 ||
	    st == 404 || st == 413 || st == 503, "documented status");
	if (st != 0)
		check_answer(q, st);
	else
		fz_check(q->status == 0 && q->nhdr == 0, "not answered");
	fz_check(st != 0 || (uint64_t)blen <= q->body.max,
	    "no body over its route's cap is read");
	fz_check(st != 0 || budget_ok, "no body over the budget is read");
	fz_check(st == 0 || !budget_ok || blen > FZ_HEAD_READ_ALL,
	    "a body up to 64 KiB is read, then judged");
	fz_check(st == 0 || !budget_ok || (uint64_t)blen > q->body.max ||
	    !must_pass,
	    "a request signed as a client would is let through");
	http_req_free(q);
	relay_bytes_hold(&other_held, 0);
	fz_check(http_bodies_held() == 0, "every body byte released");
out:
	hdrs = "";
	free(hbuf);
	httpd_start(NULL, NULL);
	relay_free(&r);
	fz_free(&f);
	return 0;
}
