/*
 * The HTTP side of the libwebsockets glue: an lws request becomes a struct
 * http_req (method, path, query, headers, body framing), httpd.c routes it,
 * and its answer is written here with the CORS and cache headers. Also the
 * struct http_glue calls httpd.c makes (answer, hold, header, serve_file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "lws_glue.h"

static int
add_header(struct lws *wsi, const char *name, const char *value,
    unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
	    (const unsigned char *)value, (int)strlen(value), p, end);
}

void
lws_http_answer_ready(struct http_req *q)
{
	struct pss *pss = lws_wsi_user(q->wsi);

	if (pss && pss->rx_held) { /* lws writes nothing while it is held */
		pss->rx_held = 0;
		lws_rx_flow_control(q->wsi, 1);
	}
	lws_callback_on_writable(q->wsi);
}

int
lws_http_pause(struct lws *wsi)
{
	struct pss *pss = lws_wsi_user(wsi);
	struct http_req *q = pss ? pss->req : NULL;

	if (q == NULL || !pss->dispatched || (q->status && !q->parked))
		return 0;
	if (!pss->rx_held) {
		pss->rx_held = 1;
		lws_rx_flow_control(wsi, 0);
	}
	return 1;
}

void
lws_http_hold(struct http_req *q, int secs)
{
	if (secs > 0)
		lws_set_timeout(q->wsi, PENDING_TIMEOUT_USER_OK, secs);
	else
		lws_set_timeout(q->wsi, NO_PENDING_TIMEOUT, 0);
}

/*
 * A header lws does not know (x-sno-*) holding a NUL is as if not given:
 * its C string would stop short of what was signed or sent. The ones lws
 * knows were refused at the head (head_syntax).
 */
int
lws_http_header(struct http_req *q, const char *name, char *out, int len)
{
	int n;

	if (strcmp(name, "cookie:") == 0)
		return lws_hdr_copy(q->wsi, out, len, WSI_TOKEN_HTTP_COOKIE);
	if (strcmp(name, "authorization:") == 0)
		return lws_hdr_copy(q->wsi, out, len,
		    WSI_TOKEN_HTTP_AUTHORIZATION);
	n = lws_hdr_custom_copy(q->wsi, out, len, name, (int)strlen(name));
	return n > 0 && strlen(out) != (size_t)n ? -1 : n;
}

int
lws_http_serve_file(struct http_req *q, const char *file, const char *mime,
    const char *cache_control, int gzip)
{
	unsigned char hb[512], *p = hb, *end = hb + sizeof(hb);
	int n;

	if ((gzip && add_header(q->wsi, "content-encoding:", "gzip", &p,
		end)) ||
	    add_header(q->wsi, "vary:", "Accept-Encoding", &p, end) ||
	    add_header(q->wsi, "cache-control:", cache_control, &p, end) ||
	    add_header(q->wsi, "x-content-type-options:", "nosniff", &p,
		end) ||
	    add_header(q->wsi, "referrer-policy:", "same-origin", &p, end))
		n = -1;
	else {
		q->status = 200;
		n = lws_serve_http_file(q->wsi, file, mime, (const char *)hb,
		    (int)(p - hb));
	}
	if (n < 0 || (n > 0 && lws_http_transaction_completed(q->wsi))) {
		lws_set_timeout(q->wsi, PENDING_TIMEOUT_USER_OK,
		    LWS_TO_KILL_ASYNC);
		return -1;
	}
	if (n > 0)	/* else at LWS_CALLBACK_HTTP_FILE_COMPLETION */
		pipeline_answered(q->wsi);
	return 0;
}

void
lws_http_req_free(struct pss *pss)
{
	http_req_free(pss->req);
	pss->req = NULL;
}

static int
cors_headers(struct http_req *q, unsigned char **p, unsigned char *end)
{
	const char *origin = http_cors_origin(q);

	if (origin == NULL)
		return 0;
	return add_header(q->wsi, "access-control-allow-origin:", origin, p,
		   end) ||
	    add_header(q->wsi, "access-control-allow-methods:",
		"GET, POST, OPTIONS", p, end) ||
	    add_header(q->wsi, "access-control-allow-headers:",
		"Content-Type, X-Requested-With, X-Socket-Id", p, end) ||
	    add_header(q->wsi, "vary:", "Origin", p, end);
}

static int
http_write(struct http_req *q, int close)
{
	unsigned char hdr[LWS_PRE + 4096], *start = hdr + LWS_PRE, *p = start;
	unsigned char *end = hdr + sizeof(hdr) - 1, *body;
	struct lws *wsi = q->wsi;
	int n;

	if (lws_add_http_common_headers(wsi, (unsigned)q->status, q->ctype,
		q->resp.len, &p, end) || cors_headers(q, &p, end) ||
	    add_header(wsi, "cache-control:", "no-store", &p, end) ||
	    (close && add_header(wsi, "connection:", "close", &p, end)))
		return -1;
	for (int i = 0; i < q->nhdr; i++)
		if (add_header(wsi, q->hname[i], q->hvalue[i], &p, end))
			return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (q->resp.len) {
		if ((body = malloc(LWS_PRE + q->resp.len)) == NULL)
			return -1;
		memcpy(body + LWS_PRE, q->resp.data, q->resp.len);
		n = lws_write(wsi, body + LWS_PRE, q->resp.len,
		    LWS_WRITE_HTTP_FINAL);
		free(body);
		if (n < (int)q->resp.len)
			return -1;
	}
	return 0;
}

/* Writes pss's answer and ends the transaction; 0, or -1 to close. */
int
lws_http_answer(struct lws *wsi, struct pss *pss)
{
	int n = http_write(pss->req, pss->close_after);

	lws_http_req_free(pss);
	if (n < 0 || pss->close_after || lws_http_transaction_completed(wsi))
		return -1;
	pipeline_answered(wsi);
	return 0;
}

/* lws hands over each query argument already percent-decoded. */
static int
query_params(struct lws *wsi, struct http_req *q)
{
	char *w = q->query;
	int n, len, left = (int)sizeof(q->query);

	for (n = 0;; n++) {
		len = lws_hdr_copy_fragment(wsi, w, left,
		    WSI_TOKEN_HTTP_URI_ARGS, n);
		if (len < 0) /* no such fragment, or one too long */
			return lws_hdr_fragment_length(wsi,
			    WSI_TOKEN_HTTP_URI_ARGS, n) > 0 ? -1 : n;
		if (n == AUTH_MAX_PARAMS)
			return -1;
		auth_param_split(w, &q->params[n]);
		w += len + 1;
		left -= len + 1;
	}
}

static const char *
method_of(struct lws *wsi)
{
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI))
		return "POST";
	if (lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI))
		return "OPTIONS";
	if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI))
		return "GET";
	return NULL;
}

/*
 * How the request says its body is framed: 0 when the relay can read it,
 * else the status to refuse it with (why says what was wrong). One
 * Content-Length of digits only (RFC 9112 6.3: a list or a repeat is how
 * requests are smuggled past a proxy that reads it otherwise); a POST needs
 * one; chunked bodies are not read (lws 4.1 cannot), so they get 411.
 */
static int
body_framing(struct lws *wsi, const char *method, const char **why,
    uint64_t *len)
{
	char cl[32];
	int n;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		*why = "Transfer-Encoding is not supported: send the body "
		    "with Content-Length";
		return 411;
	}
	if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
		1) > 0) {
		*why = "Content-Length is given more than once";
		return 400;
	}
	n = lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH);
	if (n <= 0) {
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) >
		    0 || n < 0) {
			*why = "Content-Length is not a number";
			return 400;
		}
		*why = "a POST needs Content-Length";
		return strcmp(method, "POST") == 0 ? 411 : 0;
	}
	if (n > 18 || strspn(cl, "0123456789") != (size_t)n) {
		*why = "Content-Length is not a number";
		return 400;
	}
	*len = strtoull(cl, NULL, 10);
	return 0;
}

/*
 * Header names a proxy in front may read even when they are written with
 * whitespace before the colon or at the line's start, which RFC 9112 5.1
 * and 2.2 say a server must refuse (400). lws 4.1.6 does not know such a
 * name (lws_parse keeps it as a custom header, "transfer-encoding :"), and
 * has no way to list its custom headers, so the names that decide framing
 * and routing are looked up with the whitespace a client might put there.
 */
static const char *const framing_names[] = {
	"transfer-encoding", "content-length", "host", "connection",
	"upgrade", "expect", "te", "trailer",
};

static int
custom_present(struct lws *wsi, const char *lead, const char *name,
    const char *ws)
{
	char n[64];
	int len = snprintf(n, sizeof(n), "%s%s%s:", lead, name, ws);

	return len > 0 && len < (int)sizeof(n) &&
	    lws_hdr_custom_length(wsi, n, len) >= 0;
}

static int
whitespace_name(struct lws *wsi)
{
	static const char *const ws[] = {
		" ", "\t", "  ", " \t", "\t ", "\t\t", "   ", "    ",
	};

	for (size_t i = 0; i < sizeof(framing_names) /
	    sizeof(framing_names[0]); i++) {
		for (size_t j = 0; j < sizeof(ws) / sizeof(ws[0]); j++)
			if (custom_present(wsi, "", framing_names[i], ws[j]) ||
			    custom_present(wsi, ws[j], framing_names[i], "") ||
			    custom_present(wsi, ws[j], framing_names[i],
			    ws[j]))
				return 1;
	}
	return 0;
}

/* A NUL in any header lws knows (RFC 9110 5.5: never valid there). */
static int
nul_in_header(struct lws *wsi)
{
	char v[RELAY_HEAD_MAX + 1];
	int n;

	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		if (lws_hdr_total_length(wsi, (enum lws_token_indexes)t) <= 0)
			continue;
		n = lws_hdr_copy(wsi, v, sizeof(v), (enum lws_token_indexes)t);
		if (n > 0 && strlen(v) != (size_t)n)
			return 1;
	}
	return 0;
}

/*
 * What RFC 9112 says a server must refuse in a request's head, and lws
 * 4.1.6 lets through: 0, or the status (why says what was wrong). A
 * version other than 1.0 and 1.1 (505; lws answers it as 1.0), a 1.1
 * request without Host or any request with two (400, RFC 9112 3.2), a
 * framing or routing header written with whitespace around its name (400:
 * a front end that reads "Transfer-Encoding :" frames the body otherwise),
 * a NUL in a value.
 */
static int
head_syntax(struct lws *wsi, const char **why)
{
	char ver[16];
	int n = lws_hdr_copy(wsi, ver, sizeof(ver), WSI_TOKEN_HTTP);

	if (n != 8 || strncmp(ver, "HTTP/1.", 7) != 0 ||
	    (ver[7] != '0' && ver[7] != '1')) {
		if (n == 8 && strncmp(ver, "HTTP/", 5) == 0 &&
		    ver[5] >= '0' && ver[5] <= '9' && ver[6] == '.' &&
		    ver[7] >= '0' && ver[7] <= '9') {
			*why = "only HTTP/1.0 and HTTP/1.1 are supported";
			return 505;
		}
		*why = "the request line's HTTP version is malformed";
		return 400;
	}
	if (whitespace_name(wsi)) {
		*why = "a header name has whitespace before its colon or "
		    "before it";
		return 400;
	}
	if (lws_hdr_fragment_length(wsi, WSI_TOKEN_HOST, 1) > 0 ||
	    lws_hdr_total_length(wsi, WSI_TOKEN_HOST) >
	    lws_hdr_fragment_length(wsi, WSI_TOKEN_HOST, 0)) {
		*why = "Host is given more than once";
		return 400;
	}
	if (ver[7] == '1' && lws_hdr_total_length(wsi, WSI_TOKEN_HOST) <= 0) {
		*why = "an HTTP/1.1 request needs Host";
		return 400;
	}
	if (nul_in_header(wsi)) {
		*why = "a header value holds a NUL";
		return 400;
	}
	return 0;
}

int
lws_http_begin(struct lws *wsi, struct pss *pss, const char *path)
{
	char enc[256];
	const char *method = method_of(wsi), *why, *kind;
	struct http_req *q;
	char ip[64];
	int status;

	lws_http_req_free(pss);
	pss->dispatched = pss->body_done = pss->close_after = 0;
	pss->body_len = pss->body_got = 0;
	pss->chunk_at = 0;
	pss->chunk_len = 0;
	if (method == NULL) {
		lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED,
		    NULL);
		return -1;
	}
	if ((q = pss->req = http_req_new(wsi, method, path)) == NULL)
		return -1;
	q->np = query_params(wsi, q);
	if (lws_hdr_copy(wsi, q->origin, sizeof(q->origin), WSI_TOKEN_ORIGIN) <
	    0)
		q->origin[0] = '\0';
	q->gzip_ok = lws_hdr_copy(wsi, enc, sizeof(enc),
	    WSI_TOKEN_HTTP_ACCEPT_ENCODING) > 0 && http_accepts_gzip(enc);
	if (lws_hdr_copy(wsi, q->host_hdr, sizeof(q->host_hdr),
		WSI_TOKEN_HOST) < 0)
		q->host_hdr[0] = '\0';
	lws_get_peer_simple(wsi, ip, sizeof(ip));
	snprintf(q->peer, sizeof(q->peer), "%s", ip);
	q->tls = lws_is_ssl(wsi);
	kind = "head";
	if ((status = head_syntax(wsi, &why)) == 0) {
		kind = "framing";
		status = body_framing(wsi, q->method, &why, &pss->body_len);
	}
	if (status != 0) {
		/* Answered now and closed: the body's bytes must never be
		 * read as the next request. */
		log_info("http refused=%s peer=%s path=\"%s\" why=\"%s\"",
		    kind, q->peer, q->path, why);
		pss->close_after = 1;
		http_error(q, status, "%s", why);
		lws_http_answer(wsi, pss);
		return -1;
	}
	pipeline_request(wsi, pss->body_len);
	if (strcmp(q->method, "POST") != 0) { /* a body it has is not read */
		pss->dispatched = 1;
		http_dispatch(q);
	} else if (http_head_check(q, pss->body_len) != 0) {
		pss->close_after = 1; /* the body is never read */
		lws_http_answer(wsi, pss);
		return -1;
	}
	return 0;
}

/*
 * The last line of defence for a request with a body that lws 4.1.6 parsed
 * from the bytes it kept (its buflist) after the request before it. It
 * then feeds its buflist, the request's own head still first in it, to
 * lws_read_h1() as the body (lws_http_action(), the loop at
 * lib/roles/http/server/server.c lines 1804-1828): Content-Length bytes of
 * the request line come as the body, then BODY_COMPLETION again and again
 * inside that loop (a busy loop deaf to signals), or, when the buflist
 * holds less than Content-Length, the bytes after the head come a second
 * time from the segment the loop freed (a use-after-free). lws_pipeline.c
 * reads a connection one request at a time so that lws never holds a
 * whole head there; this is for input where its end of a head and lws's
 * differ. Such a request is answered 400 with Connection: close and never
 * dispatched with a wrong body: lws_http_body refuses a chunk that begins
 * inside the one before it (without reading it: that is the freed
 * segment) and body bytes beyond Content-Length; lws_http_body_done a
 * second completion in the same loop turn. docs/architecture.md, "What
 * libwebsockets 4.1.6 cannot do", has the whole analysis.
 */
static int
refuse_pipelined(struct lws *wsi, struct pss *pss)
{
	struct http_req *q = pss->req;

	log_info("http refused=pipelined_post peer=%s path=\"%s\"", q->peer,
	    q->path);
	pss->close_after = 1;
	http_error(q, 400, "A request with a body pipelined behind another "
	    "request could not be read: send it after the previous answer");
	lws_http_answer(wsi, pss);
	return -1;
}

int
lws_http_body(struct lws *wsi, struct pss *pss, const void *in, size_t len)
{
	struct http_req *q = pss->req;
	uintptr_t at = (uintptr_t)in;

	if (q == NULL)
		return 0;
	if (pss->body_done || len > pss->body_len - pss->body_got ||
	    (pss->chunk_len && at > pss->chunk_at &&
	    at < pss->chunk_at + pss->chunk_len))
		return refuse_pipelined(wsi, pss);
	pss->chunk_at = at;
	pss->chunk_len = len;
	pss->body_got += len;
	if (http_body_add(q, in, len) != 0) { /* 408, 503: answered */
		pss->close_after = 1;
		lws_http_answer(wsi, pss);
		return -1;
	}
	return 0;
}

/*
 * The body is complete. A POST's handler runs from the next HTTP_WRITEABLE,
 * not here: a second call in the same loop turn is lws's pipelined-POST
 * loop above (refused; so is a GET with a body, which lws reads the same
 * way, though it was dispatched at its head). A repeat in a later turn is
 * the next request arriving before this one is answered (lws_pipeline.c
 * gives lws none of it then; this is for when it did): it is dispatched
 * now, and while it waits (parked) reading pauses until it is answered, so
 * lws does not spin on it (lws writes nothing while reading is paused:
 * lws_http_answer_ready resumes it).
 */
int
lws_http_body_done(struct lws *wsi, struct pss *pss, uint64_t turn)
{
	struct http_req *q = pss->req;

	if (q == NULL)
		return 0;
	if (!pss->body_done) {
		pss->body_done = 1;
		pss->body_turn = turn;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (pss->body_turn == turn && (!pss->dispatched ||
	    strcmp(q->method, "POST") != 0))
		return refuse_pipelined(wsi, pss);
	if (!pss->dispatched) { /* a later turn: the body is the real one */
		pss->dispatched = 1;
		http_dispatch(q);
	}
	if (!q->status && !pss->rx_held) {
		pss->rx_held = 1;
		lws_rx_flow_control(wsi, 0);
	}
	return 0;
}
