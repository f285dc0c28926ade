/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF). */
#ifndef SNO_UTF8_H
#define SNO_UTF8_H

#include <stddef.h>

/* Returns 1 when p[0..n) is valid UTF-8. */
int utf8_valid(const unsigned char *p, size_t n);

/*
 * Returns the length of the longest prefix of s[0..n) that is at most max
 * bytes and does not end inside a multi-byte character: cutting text a peer
 * sent there never yields invalid UTF-8 (browsers close a websocket with
 * 1007 on a cut character). Bytes that are not valid UTF-8 are cut as given.
 */
size_t utf8_prefix(const char *s, size_t n, size_t max);

/*
 * The precision for "%.*s" that prints at most max bytes of the
 * NUL-terminated s without cutting a character: use it instead of "%.200s"
 * for anything a peer sent.
 */
int utf8_prec(const char *s, size_t max);

/*
 * Shortens the NUL-terminated s in place when it ends inside a multi-byte
 * character (as snprintf leaves a text it had to cut); returns its length.
 */
size_t utf8_trim(char *s);

#endif
