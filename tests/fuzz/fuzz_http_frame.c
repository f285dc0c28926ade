/*
 * Where a request's head ends (relay/http_frame.c), as lws_pipeline.c
 * reads a connection for libwebsockets: http_head_end and
 * http_head_take over any byte stream in any pieces.
 *
 * Input: one byte, the seed of the piece sizes (1 to 64 bytes), then the
 * stream.
 *
 * Checked: the ends found in pieces are the ends found in one piece;
 * http_head_take hands over at least one byte and at most the piece, the
 * bytes it hands over hold at most one end, and *after counts what comes
 * after that end (0 when none); no byte past the piece is read (ASan).
 */
#include "fuzz.h"
#include "http_frame.h"

#define FZ_ENDS_MAX 4096

static size_t
ends_whole(const unsigned char *b, size_t n, size_t *ends)
{
	struct http_scan sc;
	size_t at = 0, k, m = 0;

	http_scan_reset(&sc);
	while (at < n && m < FZ_ENDS_MAX &&
	    http_head_end(&sc, b + at, n - at, &k)) {
		at += k;
		ends[m++] = at;
	}
	return m;
}

static size_t
piece(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return 1 + (*seed >> 16) % 64;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static size_t whole[FZ_ENDS_MAX], split[FZ_ENDS_MAX];
	struct http_scan sc, before;
	size_t nw, ns = 0, at = 0, len, k, take, after, e, more;
	const unsigned char *b;
	unsigned seed;
	unsigned char *copy;

	if (size < 1)
		return 0;
	seed = data[0];
	size--;
	/* A copy of exactly the stream, so ASan sees a read past it. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size);
	b = copy;
	nw = ends_whole(b, size, whole);
	http_scan_reset(&sc);
	while (at < size && ns < FZ_ENDS_MAX) {
		len = piece(&seed);
		if (len > size - at)
			len = size - at;
		for (size_t off = 0; off < len && ns < FZ_ENDS_MAX;) {
			if (!http_head_end(&sc, b + at + off, len - off, &k))
				break;
			off += k;
			split[ns++] = at + off;
		}
		at += len;
	}
	fz_check(ns == nw, "the same number of ends in pieces");
	for (size_t i = 0; i < nw; i++)
		fz_check(whole[i] == split[i], "the same ends in pieces");
	/* A reader that takes what http_head_take hands over. */
	http_scan_reset(&sc);
	for (at = 0; at < size;) {
		len = piece(&seed);
		if (len > size - at)
			len = size - at;
		before = sc;
		take = http_head_take(&sc, b + at, len, &after);
		fz_check(take >= 1 && take <= len, "takes 1 to the piece");
		fz_check(after < take || after == 0, "after within the take");
		if (http_head_end(&before, b + at, take, &e)) {
			fz_check(!http_head_end(&before, b + at + e, take - e,
			    &more), "at most one end handed over");
			fz_check(after == take - e, "after: the bytes past it");
		} else
			fz_check(after == 0, "no end, nothing after");
		at += take;
	}
	free(copy);
	return 0;
}
