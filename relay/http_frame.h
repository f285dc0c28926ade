/*
 * Where an HTTP/1.1 request's head ends in the bytes a connection sends,
 * found the way libwebsockets 4.1.6 finds it, so that lws_pipeline.c can
 * hand lws one request at a time. Below the glue, without libwebsockets:
 * unit-tested and fuzzed (fuzz_http_frame).
 */
#ifndef SNO_HTTP_FRAME_H
#define SNO_HTTP_FRAME_H

#include <stddef.h>

/* Where the search is: kept across the reads of one head. */
struct http_scan {
	int at_bol;		/* at a line's start, */
	int bol_cr;		/* after a CR there */
};

/* A new head begins. */
void http_scan_reset(struct http_scan *sc);

/*
 * Whether the n bytes at b end the head sc is in (its first empty line,
 * LF or CRLF); *k: the bytes up to and with that end, else n. After an
 * end sc is at a new head's start.
 */
int http_head_end(struct http_scan *sc, const unsigned char *b, size_t n,
    size_t *k);

/*
 * How many of the n bytes at b, read in a head, to hand over at once: up
 * to the head's end, and the bytes after it too when they hold no other
 * whole head (*after: how many of those, else 0). At least 1 when n is.
 */
size_t http_head_take(struct http_scan *sc, const unsigned char *b,
    size_t n, size_t *after);

#endif
