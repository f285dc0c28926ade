/*
 * A growable byte buffer with a hard cap fixed at creation, as curl's bufq:
 * anything a peer can grow is bounded. Always NUL-terminated for convenience.
 */
#ifndef SNO_BUF_H
#define SNO_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;	/* allocated */
	size_t max;	/* hard limit on len */
};

/* Prepares an empty buffer that may grow to max bytes; allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer can be reused after buf_init. */
void buf_free(struct buf *b);
/* Appends n bytes; -EMSGSIZE past the cap, -ENOMEM; 0 on success. */
int buf_add(struct buf *b, const void *p, size_t n);
/* Makes room for n more bytes at once (a text about to be built whose
 * size is known); 0, -EMSGSIZE past the cap, or -ENOMEM. */
int buf_reserve(struct buf *b, size_t n);
int buf_adds(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as JSON string contents (no quotes), escaped per RFC 8259. */
int buf_add_json_escaped(struct buf *b, const char *s, size_t n);
/* Appends "s" with quotes. */
int buf_add_json_string(struct buf *b, const char *s);
/* Appends ,"key":"value" (no comma when first), value JSON-escaped. */
int buf_add_json_field(struct buf *b, const char *key, const char *value,
    int first);
/* Empties the buffer, keeping its storage. */
void buf_reset(struct buf *b);

#endif
