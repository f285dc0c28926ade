/*
 * The end of an HTTP/1.1 request's head as libwebsockets 4.1.6 sees it:
 * lws_parse (lib/roles/http/parsers.c) ends a head at its first empty
 * line, LF or CRLF (its "broken peer" case and the lextable's
 * "\x0d\x0a"), with no empty line skipped before the request line. The
 * search is incremental, so a head may come in any pieces. It only finds
 * ends; the head itself is lws's to parse. When this and lws disagree
 * (a header line without a colon, which lws reads into the next line)
 * it finds an end first, so it only ever hands over less.
 */
#include "http_frame.h"

void
http_scan_reset(struct http_scan *sc)
{
	sc->at_bol = 1;
	sc->bol_cr = 0;
}

int
http_head_end(struct http_scan *sc, const unsigned char *b, size_t n,
    size_t *k)
{
	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\n') {
			if (sc->at_bol) {
				http_scan_reset(sc);
				*k = i + 1;
				return 1;
			}
			http_scan_reset(sc);
		} else if (b[i] == '\r' && sc->at_bol && !sc->bol_cr)
			sc->bol_cr = 1;
		else
			sc->at_bol = sc->bol_cr = 0;
	}
	*k = n;
	return 0;
}

/*
 * The bytes after the end are the body (lws reads its Content-Length of
 * them in the same read) and maybe the start of the next head; lws keeps
 * that start and parses it right. Only a whole head kept is mis-read
 * (docs/architecture.md, "What libwebsockets 4.1.6 cannot do").
 */
size_t
http_head_take(struct http_scan *sc, const unsigned char *b, size_t n,
    size_t *after)
{
	struct http_scan rest;
	size_t k, more;

	*after = 0;
	if (!http_head_end(sc, b, n, &k) || k == n)
		return k;
	rest = *sc;
	if (http_head_end(&rest, b + k, n - k, &more))
		return k;
	*after = n - k;
	return n;
}
