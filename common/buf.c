/* Capped growable buffer and JSON string escaping. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "swar.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t want, ncap;
	char *p;

	if (n > b->max || b->len > b->max - n)
		return -EMSGSIZE;
	want = b->len + n + 1;
	if (want <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : 256;
	while (ncap < want)
		ncap *= 2;
	if ((p = realloc(b->data, ncap)) == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_add(struct buf *b, const void *p, size_t n)
{
	int r;

	if ((r = buf_reserve(b, n)) < 0)
		return r;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((r = buf_reserve(b, (size_t)n)) < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Nonzero when one of the eight bytes in w must be escaped in a JSON
 * string: a control character, a quote or a backslash. */
static uint64_t
needs_escape(uint64_t w)
{
	return swar_below(w, 0x20) | swar_has(w, '"') | swar_has(w, '\\');
}

int
buf_add_json_escaped(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	int r;

	for (i = 0; i < n; i++) {
		unsigned char c;
		char esc[6];
		size_t elen = 2;

		while (i + 8 <= n && !needs_escape(swar_load(s + i)))
			i += 8;	/* eight plain bytes */
		if (i == n)
			break;
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		if ((r = buf_add(b, s + run, i - run)) < 0)
			return r;
		run = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		}
		if ((r = buf_add(b, esc, elen)) < 0)
			return r;
	}
	return buf_add(b, s + run, n - run);
}

int
buf_add_json_string(struct buf *b, const char *s)
{
	int r;

	if ((r = buf_add(b, "\"", 1)) < 0 ||
	    (r = buf_add_json_escaped(b, s, strlen(s))) < 0)
		return r;
	return buf_add(b, "\"", 1);
}

int
buf_add_json_field(struct buf *b, const char *key, const char *value,
    int first)
{
	int r;

	if ((r = buf_adds(b, first ? "\"" : ",\"")) < 0 ||
	    (r = buf_adds(b, key)) < 0 || (r = buf_adds(b, "\":")) < 0)
		return r;
	return buf_add_json_string(b, value);
}
