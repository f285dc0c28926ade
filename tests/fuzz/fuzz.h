/*
 * Helpers for the libFuzzer targets in tests/fuzz/ (docs/fuzzing.md).
 *
 * A target whose function takes several texts (two readings of a /proc
 * file, a query and a body) gets them from one input split at NUL bytes:
 * none of those texts can hold a NUL, as every parser reads C strings.
 * fz_check aborts, so that libFuzzer reports the input, when a property
 * the project promises does not hold.
 */
#ifndef SNO_FUZZ_H
#define SNO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "utf8.h"

#define FZ_PARTS_MAX 8

struct fz_parts {
	char *copy;			/* the input, NUL-terminated */
	const char *p[FZ_PARTS_MAX];	/* missing parts are "" */
	size_t len[FZ_PARTS_MAX];
	int n;				/* parts present in the input */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fz_check(cond, what)                                             \
	do {                                                             \
		if (!(cond)) {                                           \
			fprintf(stderr, "fuzz property failed: %s (%s)\n",  \
			    what, #cond);                                \
			abort();                                         \
		}                                                        \
	} while (0)

/*
 * Splits data into at most max parts at NUL bytes (the last part keeps any
 * further NULs). Returns 0, or -1 when out of memory (skip the input).
 */
static inline int
fz_split(const uint8_t *data, size_t size, int max, struct fz_parts *f)
{
	size_t i, start = 0;

	memset(f, 0, sizeof(*f));
	if ((f->copy = malloc(size + 1)) == NULL)
		return -1;
	if (size)
		memcpy(f->copy, data, size);
	f->copy[size] = '\0';
	for (int k = 0; k < FZ_PARTS_MAX; k++)
		f->p[k] = "";
	for (i = 0; i <= size && f->n < max; i++) {
		if (i < size && (f->copy[i] != '\0' || f->n == max - 1))
			continue;
		f->p[f->n] = f->copy + start;
		f->len[f->n] = i - start;
		f->n++;
		start = i + 1;
		if (start > size)
			break;
	}
	return 0;
}

static inline void
fz_free(struct fz_parts *f)
{
	free(f->copy);
	f->copy = NULL;
}

/*
 * The agent's sample fragments ("key":value,...) must read as one JSON
 * object in valid UTF-8: the relay refuses anything else.
 */
static inline void
fz_check_fragment(const char *s, size_t n, const char *what)
{
	char *doc = malloc(n + 3);
	cJSON *j;

	if (doc == NULL)
		return;
	doc[0] = '{';
	memcpy(doc + 1, s, n);
	doc[n + 1] = '}';
	doc[n + 2] = '\0';
	j = cJSON_ParseWithLength(doc, n + 2);
	if (j == NULL)
		fprintf(stderr, "not JSON: %s\n", doc);
	fz_check(j != NULL, what);
	fz_check(utf8_valid((const unsigned char *)doc, n + 2), what);
	cJSON_Delete(j);
	free(doc);
}

#endif
