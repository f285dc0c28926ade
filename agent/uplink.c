/*
 * The relay's HTTP transport on libcurl (see uplink.h). One easy handle in
 * one multi handle: uplink_start adds it, uplink_poll runs curl for at most
 * the time the caller can spare, and the finished transfer is removed again
 * while its connection stays in the multi handle's cache for the next
 * request. curl resends a request on a fresh connection when a kept one
 * turns out closed before any answer byte; the pre-request callback signs
 * every attempt anew, as the relay refuses a repeated timestamp (and
 * acknowledges a repeated sample as a duplicate). URL and proxy parsing
 * is in uplink_url.c, the multi loop (uplink_poll) at the end of this file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "buf.h"
#include "clock.h"
#include "sample.h"
#include "uplink.h"

#define UPLINK_CONNECT_MS 10000L	/* resolve, connect, proxy, TLS */
#define UPLINK_URL_MAX 1024
#define UPLINK_CA_DIR "/etc/ssl/certs"	/* c_rehash'd, Debian's */

struct uplink {
	char *const *urls;
	int nurls, cur;
	struct uplink_target t;	/* urls[cur], parsed */
	char host_id[SAMPLE_HOST_MAX + 1];
	unsigned char key[SIGN_HOST_KEY_LEN];
	long long last_ts;
	char *ca_file;		/* NULL: the system CAs */
	char *proxy_conf;	/* `proxy =`, NULL when not set */
	char proxy[UPLINK_PROXY_MAX];	/* for urls[cur]; "" direct */
	char proxy_shown[UPLINK_PROXY_MAX];	/* without the password */
	char route[UPLINK_PROXY_MAX + 64];

	CURLM *multi;
	CURL *easy;
	int global;		/* curl_global_init succeeded */
	int busy;
	struct curl_slist *hdrs, *h_ts, *h_sig;
	char path[128];
	char url[UPLINK_URL_MAX];
	struct buf out, in;	/* the body sent; the answer's body */
	int too_big;		/* the answer did not fit in */
	char errbuf[CURL_ERROR_SIZE];
};

/* The first set, non-empty variable of the list (NULL-terminated). */
static const char *
uplink_env(const char *const *names, const char **which)
{
	const char *v;

	for (; *names; names++) {
		if ((v = getenv(*names)) != NULL && *v) {
			*which = *names;
			return v;
		}
	}
	return NULL;
}

/* Decides the proxy for urls[cur] (u->proxy, "" direct) and u->route. */
static void
uplink_pick_proxy(struct uplink *u)
{
	static const char *const https_env[] = {"https_proxy", "HTTPS_PROXY",
	    "all_proxy", "ALL_PROXY", NULL};
	static const char *const http_env[] = {"http_proxy", "all_proxy",
	    "ALL_PROXY", NULL};
	static const char *const no_env[] = {"no_proxy", "NO_PROXY", NULL};
	const char *p, *from = "proxy", *nfrom, *np;

	u->proxy[0] = '\0';
	if (u->proxy_conf) {
		if (strcmp(u->proxy_conf, "none") == 0) {
			snprintf(u->route, sizeof(u->route), "direct "
			    "(proxy = none)");
			return;
		}
		p = u->proxy_conf;
	} else if ((p = uplink_env(u->t.tls ? https_env : http_env,
	    &from)) == NULL) {
		snprintf(u->route, sizeof(u->route), "direct");
		return;
	} else if ((np = uplink_env(no_env, &nfrom)) != NULL &&
	    uplink_noproxy_match(np, u->t.host)) {
		snprintf(u->route, sizeof(u->route), "direct (%s matches %s)",
		    nfrom, u->t.host);
		return;
	}
	snprintf(u->proxy, sizeof(u->proxy), "%s", p);
	uplink_redact(p, u->proxy_shown, sizeof(u->proxy_shown));
	snprintf(u->route, sizeof(u->route), "proxy %s (from %s)",
	    u->proxy_shown, strcmp(from, "proxy") == 0 ? "proxy =" : from);
}

/* ---- one request ---- */

static size_t
uplink_on_body(char *p, size_t size, size_t n, void *arg)
{
	struct uplink *u = arg;

	if (buf_add(&u->in, p, size * n) < 0) {
		u->too_big = 1;
		return 0;
	}
	return size * n;
}

/* Replaces the text of one header line; 0 or -1 (out of memory). */
static int
uplink_set_header(struct curl_slist *h, const char *name, const char *v)
{
	char line[160], *d;

	snprintf(line, sizeof(line), "%s: %s", name, v);
	if ((d = strdup(line)) == NULL)
		return -1;
	free(h->data);	/* curl frees slist data with free() too */
	h->data = d;
	return 0;
}

/*
 * Called by curl on the connection the request is about to be sent on,
 * for each attempt: stamps and signs it.
 */
static int
uplink_on_send(void *arg, char *ip, char *lip, int port, int lport)
{
	struct uplink *u = arg;
	char ts[24], sig[SIGN_HEX_LEN + 1];
	long long now = (long long)clock_wall_ms();

	(void)ip, (void)lip, (void)port, (void)lport;
	/* The relay rejects a timestamp <= the last accepted: never repeat. */
	u->last_ts = now > u->last_ts ? now : u->last_ts + 1;
	snprintf(ts, sizeof(ts), "%lld", u->last_ts);
	sign_agent_request(u->key, "POST", u->path, ts, u->out.data ?
	    u->out.data : "", u->out.len, sig);
	if (uplink_set_header(u->h_ts, "X-Sno-Timestamp", ts) < 0 ||
	    uplink_set_header(u->h_sig, "X-Sno-Signature", sig) < 0)
		return CURL_PREREQFUNC_ABORT;
	return CURL_PREREQFUNC_OK;
}

/* The request's headers; the last two are rewritten by uplink_on_send. */
static int
uplink_headers(struct uplink *u)
{
	static const char *const fixed[] = {"Content-Type: application/json",
	    "Expect:", NULL};
	char line[128];
	struct curl_slist *l = NULL, *n;

	curl_slist_free_all(u->hdrs);
	u->hdrs = u->h_ts = u->h_sig = NULL;
	for (int i = 0; fixed[i]; i++) {
		if ((n = curl_slist_append(l, fixed[i])) == NULL)
			goto fail;
		l = n;
	}
	snprintf(line, sizeof(line), "X-Sno-Host: %s", u->host_id);
	if ((n = curl_slist_append(l, line)) == NULL ||
	    (n = curl_slist_append(l = n, "X-Sno-Timestamp: 0")) == NULL ||
	    (n = curl_slist_append(l = n, "X-Sno-Signature: 0")) == NULL)
		goto fail;
	u->hdrs = n;
	for (u->h_ts = n; u->h_ts->next->next; u->h_ts = u->h_ts->next)
		;
	u->h_sig = u->h_ts->next;
	return 0;
fail:
	curl_slist_free_all(l);
	return -ENOMEM;
}

/* The options that stay the same for every request. */
static int
uplink_setup(struct uplink *u)
{
	CURL *e = u->easy;
	CURLcode r = CURLE_OK;

#define SET(opt, v) if (r == CURLE_OK) r = curl_easy_setopt(e, opt, v)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, u->errbuf);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_PROXY_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
	if (u->ca_file) {
		SET(CURLOPT_CAINFO, u->ca_file);
	} else if (access(UPLINK_CA_DIR, X_OK) == 0) {
		/* The system CAs from the hashed directory: OpenSSL reads
		 * the one issuer it looks up instead of parsing the whole
		 * bundle (some 140 certificates, about 1 MiB of heap) into
		 * each connection's store. Verification stays on. */
		SET(CURLOPT_CAINFO, NULL);
		SET(CURLOPT_CAPATH, UPLINK_CA_DIR);
	}
	SET(CURLOPT_CONNECTTIMEOUT_MS, UPLINK_CONNECT_MS);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_USERAGENT, "sno-agent/" SNO_VERSION);
	SET(CURLOPT_WRITEFUNCTION, uplink_on_body);
	SET(CURLOPT_WRITEDATA, u);
	SET(CURLOPT_PREREQFUNCTION, uplink_on_send);
	SET(CURLOPT_PREREQDATA, u);
	/* The proxy is decided here (uplink_pick_proxy), not by curl, and
	 * is always a CONNECT tunnel, for http:// relays too. */
	SET(CURLOPT_NOPROXY, "");
	SET(CURLOPT_HTTPPROXYTUNNEL, 1L);
#undef SET
	return r == CURLE_OK ? 0 : -EINVAL;
}

/* Loads nothing: checks that the file can be read and holds a PEM cert. */
static int
uplink_check_ca(const char *f, char *err, size_t errlen)
{
	char text[4096];
	const char *why = "no certificate in it (format is invalid)";
	size_t n;
	FILE *fp;
	int found = 0;

	if ((fp = fopen(f, "r")) == NULL) {
		snprintf(err, errlen, "cannot load CA certificates from %s: %s",
		    f, strerror(errno));
		return -EINVAL;
	}
	while (!found && (n = fread(text, 1, sizeof(text) - 1, fp)) > 0) {
		text[n] = '\0';
		found = strstr(text, "-----BEGIN CERTIFICATE-----") != NULL;
		/* A marker split across two reads is found in the next. */
		if (!found && n == sizeof(text) - 1 && fseek(fp, -32L,
		    SEEK_CUR) < 0)
			break;
	}
	if (ferror(fp))
		why = strerror(errno);
	fclose(fp);
	if (found)
		return 0;
	snprintf(err, errlen, "cannot load CA certificates from %s: %s", f,
	    why);
	return -EINVAL;
}

/* Switches to urls[i] for the next request. */
static void
uplink_use(struct uplink *u, int i)
{
	u->cur = i;
	uplink_parse_url(u->urls[i], &u->t);	/* checked in uplink_new */
	uplink_pick_proxy(u);
}

/* ---- the API ---- */

struct uplink *
uplink_new(const struct uplink_opts *o, char *err, size_t errlen)
{
	struct uplink_target t;
	struct uplink *u;
	const char *ca = o->ca_file;
	int tls = 0;

	for (int i = 0; i < o->nurls; i++) {
		if (uplink_parse_url(o->urls[i], &t) < 0) {
			snprintf(err, errlen, "relay_url '%s' is not a "
			    "valid http(s) URL", o->urls[i]);
			return NULL;
		}
		tls |= t.tls;
	}
	if (o->proxy && uplink_proxy_ok(o->proxy) < 0) {
		snprintf(err, errlen, "proxy is not http(s)://HOST:PORT or "
		    "none");
		return NULL;
	}
	if (ca == NULL && (ca = getenv("SSL_CERT_FILE")) != NULL && !*ca)
		ca = NULL;
	if (tls && ca && uplink_check_ca(ca, err, errlen) < 0)
		return NULL;
	if (o->nurls < 1 || (u = calloc(1, sizeof(*u))) == NULL) {
		snprintf(err, errlen, "%s", o->nurls < 1 ? "no relay_url" :
		    "out of memory");
		return NULL;
	}
	u->urls = o->urls;
	u->nurls = o->nurls;
	snprintf(u->host_id, sizeof(u->host_id), "%s", o->host_id);
	memcpy(u->key, o->key, SIGN_HOST_KEY_LEN);
	buf_init(&u->out, SAMPLE_BATCH_MAX_BYTES);
	buf_init(&u->in, UPLINK_RESP_MAX);
	snprintf(err, errlen, "out of memory");
	if ((ca && (u->ca_file = strdup(ca)) == NULL) || (o->proxy &&
	    (u->proxy_conf = strdup(o->proxy)) == NULL))
		goto fail;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "cannot initialise libcurl");
		goto fail;
	}
	u->global = 1;
	if ((u->multi = curl_multi_init()) == NULL ||
	    (u->easy = curl_easy_init()) == NULL)
		goto fail;
	curl_multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 2L);
	if (uplink_setup(u) < 0) {
		snprintf(err, errlen, "libcurl lacks a needed option "
		    "(%s)", curl_version());
		goto fail;
	}
	uplink_use(u, 0);
	return u;
fail:
	uplink_free(u);
	return NULL;
}

void
uplink_free(struct uplink *u)
{
	if (u == NULL)
		return;
	if (u->busy)
		curl_multi_remove_handle(u->multi, u->easy);
	if (u->easy)
		curl_easy_cleanup(u->easy);
	if (u->multi)
		curl_multi_cleanup(u->multi);
	curl_slist_free_all(u->hdrs);
	if (u->global)
		curl_global_cleanup();
	free(u->ca_file);
	free(u->proxy_conf);
	buf_free(&u->out);
	buf_free(&u->in);
	sodium_memzero(u->key, sizeof(u->key));
	free(u);
}

int
uplink_shrink(struct uplink *u, size_t keep)
{
	int n = 0;

	if (u->busy)
		return 0;
	if (u->out.cap > keep) {
		buf_free(&u->out);
		n = 1;
	}
	if (u->in.cap > keep) {
		buf_free(&u->in);
		n = 1;
	}
	return n;
}

int
uplink_busy(const struct uplink *u)
{
	return u->busy;
}

const char *
uplink_url(const struct uplink *u)
{
	return u->urls[u->cur];
}

const char *
uplink_route(const struct uplink *u)
{
	return u->route;
}

int
uplink_start(struct uplink *u, const char *path, const char *body,
    size_t len, long timeout_ms)
{
	CURL *e = u->easy;
	CURLcode r = CURLE_OK;
	int n;

	if (u->busy)
		return -EBUSY;
	if (strlen(path) >= sizeof(u->path))
		return -EINVAL;
	snprintf(u->path, sizeof(u->path), "%s", path);
	n = snprintf(u->url, sizeof(u->url), "%s%s", u->urls[u->cur], path);
	if (n < 0 || (size_t)n >= sizeof(u->url))
		return -EINVAL;
	buf_reset(&u->out);
	buf_reset(&u->in);
	if ((n = buf_add(&u->out, body, len)) < 0 ||
	    (n = uplink_headers(u)) < 0)
		return n;
	u->too_big = 0;
	u->errbuf[0] = '\0';
#define SET(opt, v) if (r == CURLE_OK) r = curl_easy_setopt(e, opt, v)
	SET(CURLOPT_URL, u->url);
	SET(CURLOPT_PROXY, u->proxy);
	SET(CURLOPT_HTTPHEADER, u->hdrs);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	SET(CURLOPT_POSTFIELDS, u->out.data ? u->out.data : "");
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
#undef SET
	if (r != CURLE_OK)
		return r == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
	if (curl_multi_add_handle(u->multi, e) != CURLM_OK)
		return -ENOMEM;
	u->busy = 1;
	return 0;
}

/* Double quotes become single ones: the text goes into a log value. */
static void
uplink_quote_safe(char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\n' || *s == '\r')
			*s = '\'';
}

static void uplink_err(struct uplink_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* res->error, cut to its size. */
static void
uplink_err(struct uplink_result *res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
}

/* Explains a failed transfer in res->error. */
static void
uplink_explain(struct uplink *u, CURLcode rc, struct uplink_result *res)
{
	char via[sizeof(u->proxy_shown) + 16] = "";
	const char *what = u->errbuf[0] ? u->errbuf : curl_easy_strerror(rc);
	const char *h = u->t.host;
	long code = 0, vr = 0;

	curl_easy_getinfo(u->easy, CURLINFO_HTTP_CONNECTCODE, &code);
	curl_easy_getinfo(u->easy, CURLINFO_SSL_VERIFYRESULT, &vr);
	if (u->proxy[0])
		snprintf(via, sizeof(via), " through proxy %s",
		    u->proxy_shown);
	if (u->too_big)
		uplink_err(res, "answer from %s "
		    "larger than %d bytes", h, UPLINK_RESP_MAX);
	else if (code >= 300)
		uplink_err(res, "proxy %s refused the "
		    "tunnel to %s:%s: CONNECT answered %ld", u->proxy_shown, h,
		    u->t.port, code);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION &&
	    (strncmp(what, "SSL certificate problem", 23) == 0 ||
	    (u->errbuf[0] == '\0' && vr != 0)))
		uplink_err(res, "TLS: certificate of "
		    "%s not accepted: not trusted, it does not chain to %s: "
		    "%s%s", h, u->ca_file ? u->ca_file : "the system CAs",
		    what, via);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION)
		uplink_err(res, "TLS: certificate of "
		    "%s not accepted: its names (subjectAltName, else CN) do "
		    "not include %s: %s%s", h, h, what, via);
	else if (rc == CURLE_SSL_CACERT_BADFILE)
		uplink_err(res, "cannot load CA "
		    "certificates from %s: %s", u->ca_file ? u->ca_file :
		    "the system store", what);
	else if (rc == CURLE_SSL_CONNECT_ERROR)
		uplink_err(res, "TLS handshake with %s:%s%s failed: %s", h,
		    u->t.port, via, what);
	else
		uplink_err(res, "%s:%s%s: %s", h, u->t.port, via, what);
	uplink_quote_safe(res->error);
}

/* Fills res from the finished transfer; moves on to the next URL. */
static void
uplink_finish(struct uplink *u, CURLcode rc, struct uplink_result *res)
{
	long status = 0;

	curl_multi_remove_handle(u->multi, u->easy);
	u->busy = 0;
	memset(res, 0, sizeof(*res));
	res->body = "";
	res->url = u->urls[u->cur];
	if (rc == CURLE_OK)
		curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK || status < 100) {
		if (rc == CURLE_OK)
			snprintf(u->errbuf, sizeof(u->errbuf), "no HTTP "
			    "status in the answer");
		uplink_explain(u, rc, res);
		uplink_use(u, (u->cur + 1) % u->nurls);
		return;
	}
	res->status = status;
	if (u->in.data) {	/* buf keeps it NUL-terminated */
		res->body = u->in.data;
		res->len = u->in.len;
	}
	if (status >= 500)
		uplink_use(u, (u->cur + 1) % u->nurls);
}

int
uplink_poll(struct uplink *u, int wait_ms, struct uplink_result *res)
{
	int64_t end = clock_mono_ms() + wait_ms, now;
	struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
	CURLMsg *m;
	int running, left;

	if (!u->busy) {
		if (wait_ms > 0)
			nanosleep(&ts, NULL);
		return 0;
	}
	for (;;) {
		curl_multi_perform(u->multi, &running);
		while ((m = curl_multi_info_read(u->multi, &left)) != NULL) {
			if (m->msg == CURLMSG_DONE && m->easy_handle ==
			    u->easy) {
				uplink_finish(u, m->data.result, res);
				return 1;
			}
		}
		if ((now = clock_mono_ms()) >= end)
			return 0;
		/* Returns early on socket activity; curl's own timers
		 * (happy eyeballs, timeouts) bound the wait as well. */
		curl_multi_poll(u->multi, NULL, 0, (int)(end - now), NULL);
	}
}
