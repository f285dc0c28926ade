/*
 * libcurl transport (see uplink.h). One easy handle inside one multi handle:
 * re-adding the same easy handle keeps the connection cache, so requests
 * reuse one kept-alive (HTTP/2 where the relay offers it) TLS connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "buf.h"
#include "clock.h"
#include "sample.h"
#include "uplink.h"

#define UPLINK_RESP_MAX 65536
#define UPLINK_CONNECT_MS 10000L

struct uplink {
	CURLM *multi;
	CURL *easy;
	struct curl_slist *hdrs;
	char *const *urls;
	int nurls, cur;
	char host_id[SAMPLE_HOST_MAX + 1];
	unsigned char key[SIG_HOST_KEY_LEN];
	char *ca_file;
	struct buf body, resp;
	int busy;
	long long last_ts;
	char url[2048];
	char errbuf[CURL_ERROR_SIZE];
};

static size_t
uplink_write(char *p, size_t size, size_t n, void *user)
{
	struct uplink *u = user;

	/* An oversized answer is cut; the JSON parse then fails cleanly. */
	if (buf_add(&u->resp, p, size * n) < 0)
		return 0;
	return size * n;
}

static int
uplink_setup(struct uplink *u)
{
	CURL *e = u->easy;
	int bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_2TLS) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK;
	if (u->ca_file)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, u->ca_file) !=
		    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
	    UPLINK_CONNECT_MS) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_USERAGENT,
	    "sno-agent/" SNO_VERSION) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, uplink_write) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, u) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, u->errbuf) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
	return bad ? -EIO : 0;
}

struct uplink *
uplink_new(const struct uplink_opts *o)
{
	struct uplink *u;

	if (o->nurls < 1 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	u->urls = o->urls;
	u->nurls = o->nurls;
	snprintf(u->host_id, sizeof(u->host_id), "%s", o->host_id);
	memcpy(u->key, o->key, SIG_HOST_KEY_LEN);
	buf_init(&u->body, SAMPLE_BATCH_MAX_BYTES);
	buf_init(&u->resp, UPLINK_RESP_MAX);
	if ((o->ca_file && (u->ca_file = strdup(o->ca_file)) == NULL) ||
	    (u->multi = curl_multi_init()) == NULL ||
	    (u->easy = curl_easy_init()) == NULL || uplink_setup(u) < 0) {
		uplink_free(u);
		return NULL;
	}
	return u;
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
	buf_free(&u->body);
	buf_free(&u->resp);
	free(u->ca_file);
	sodium_memzero(u->key, sizeof(u->key));
	free(u);
	curl_global_cleanup();
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

/* Builds the signed header list for this request. */
static int
uplink_headers(struct uplink *u, const char *path)
{
	char ts[32], sig[SIG_HEX_LEN + 1], line[160];
	long long now = (long long)clock_wall_ms();
	struct curl_slist *h = NULL, *t;
	const char *lines[4];

	/* The relay rejects a timestamp <= the last accepted: never repeat. */
	u->last_ts = now > u->last_ts ? now : u->last_ts + 1;
	snprintf(ts, sizeof(ts), "%lld", u->last_ts);
	sig_agent_request(u->key, "POST", path, ts, u->body.data,
	    u->body.len, sig);
	curl_slist_free_all(u->hdrs);
	u->hdrs = NULL;
	lines[0] = "Content-Type: application/json";
	lines[1] = "Expect:";
	lines[2] = NULL;
	lines[3] = NULL;
	for (int i = 0; i < 2; i++) {
		if ((t = curl_slist_append(h, lines[i])) == NULL)
			goto fail;
		h = t;
	}
	snprintf(line, sizeof(line), "X-Sno-Host: %s", u->host_id);
	if ((t = curl_slist_append(h, line)) == NULL)
		goto fail;
	h = t;
	snprintf(line, sizeof(line), "X-Sno-Timestamp: %s", ts);
	if ((t = curl_slist_append(h, line)) == NULL)
		goto fail;
	h = t;
	snprintf(line, sizeof(line), "X-Sno-Signature: %s", sig);
	if ((t = curl_slist_append(h, line)) == NULL)
		goto fail;
	u->hdrs = t;
	return 0;
fail:
	curl_slist_free_all(h);
	return -ENOMEM;
}

int
uplink_start(struct uplink *u, const char *path, const char *body,
    size_t len, long timeout_ms)
{
	CURL *e = u->easy;
	int r;

	if (u->busy)
		return -EBUSY;
	buf_reset(&u->body);
	buf_reset(&u->resp);
	u->errbuf[0] = '\0';
	if ((r = buf_add(&u->body, body, len)) < 0 ||
	    (r = uplink_headers(u, path)) < 0)
		return r;
	snprintf(u->url, sizeof(u->url), "%s%s", u->urls[u->cur], path);
	if (curl_easy_setopt(e, CURLOPT_URL, u->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, u->body.data) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)u->body.len) !=
	    CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, u->hdrs) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) != CURLE_OK)
		return -EIO;
	if (curl_multi_add_handle(u->multi, e) != CURLM_OK)
		return -EIO;
	u->busy = 1;
	return 0;
}

/* Collects the finished transfer into res; moves on to the next URL. */
static void
uplink_finish(struct uplink *u, CURLcode cc, struct uplink_result *res)
{
	memset(res, 0, sizeof(*res));
	curl_multi_remove_handle(u->multi, u->easy);
	u->busy = 0;
	if (cc == CURLE_OK)
		curl_easy_getinfo(u->easy, CURLINFO_RESPONSE_CODE,
		    &res->status);
	else {
		snprintf(res->error, sizeof(res->error), "%s",
		    u->errbuf[0] ? u->errbuf : curl_easy_strerror(cc));
		u->cur = (u->cur + 1) % u->nurls;
	}
	if (res->status >= 500)
		u->cur = (u->cur + 1) % u->nurls;
	res->body = u->resp.data ? u->resp.data : "";
	res->len = u->resp.len;
}

int
uplink_poll(struct uplink *u, int wait_ms, struct uplink_result *res)
{
	struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
	CURLMsg *m;
	int running, left;

	if (!u->busy) {
		if (wait_ms > 0)
			nanosleep(&ts, NULL);
		return 0;
	}
	if (curl_multi_perform(u->multi, &running) != CURLM_OK)
		return -EIO;
	if (running && curl_multi_poll(u->multi, NULL, 0, wait_ms, NULL) !=
	    CURLM_OK)
		return -EIO;
	if (running && curl_multi_perform(u->multi, &running) != CURLM_OK)
		return -EIO;
	while ((m = curl_multi_info_read(u->multi, &left)) != NULL) {
		if (m->msg == CURLMSG_DONE && m->easy_handle == u->easy) {
			uplink_finish(u, m->data.result, res);
			return 1;
		}
	}
	return 0;
}
