/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF). */
#ifndef SNO_UTF8_H
#define SNO_UTF8_H

#include <stddef.h>

/* Returns 1 when p[0..n) is valid UTF-8. */
int utf8_valid(const unsigned char *p, size_t n);

#endif
