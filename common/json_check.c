/* Duplicate keys and NULs in JSON; see json_check.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json_check.h"
#include "swar.h"

#define DUP_SMALL 16	/* objects this small are compared pairwise */

static int
key_cmp(const void *x, const void *y)
{
	const char *const *a = x, *const *b = y;

	return strcmp(*a, *b);
}

/* The duplicate key among the n children of obj, or NULL. */
static const char *
dup_in_object(const cJSON *obj, size_t n)
{
	const cJSON *a, *b;
	const char **keys, *dup = NULL;
	size_t i = 0;

	if (n <= DUP_SMALL) {
		for (a = obj->child; a; a = a->next)
			for (b = a->next; b; b = b->next)
				if (a->string && b->string &&
				    strcmp(a->string, b->string) == 0)
					return a->string;
		return NULL;
	}
	if ((keys = malloc(n * sizeof(*keys))) == NULL)
		return "(out of memory)";
	for (a = obj->child; a; a = a->next)
		keys[i++] = a->string ? a->string : "";
	qsort(keys, n, sizeof(*keys), key_cmp);
	for (i = 1; i < n && !dup; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			dup = keys[i];
	free(keys);
	return dup;
}

const char *
json_dup_key(const cJSON *item)
{
	const cJSON *c;
	const char *dup;
	size_t n = 0;

	if (!cJSON_IsObject(item) && !cJSON_IsArray(item))
		return NULL;
	for (c = item->child; c; c = c->next) {
		n++;
		if ((dup = json_dup_key(c)) != NULL)
			return dup;
	}
	return cJSON_IsObject(item) ? dup_in_object(item, n) : NULL;
}

int
json_has_nul(const char *text, size_t len)
{
	const char *p = text, *end = text + len, *bs;

	if (memchr(text, 0, len) != NULL)
		return 1;
	/* A backslash only starts an escape (JSON has none outside
	 * strings); skipping the escaped byte keeps "\\u0000" (a backslash,
	 * then text) apart from "\u0000". */
	while (end - p >= 2 &&
	    (bs = memchr(p, '\\', (size_t)(end - p) - 1)) != NULL) {
		if (bs[1] == 'u' && end - bs >= 6 &&
		    memcmp(bs + 2, "0000", 4) == 0)
			return 1;
		p = bs + 2;
	}
	return 0;
}

static int
json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

cJSON *
json_parse_exact(const char *text, size_t len, const char **why)
{
	const char *end = NULL, *dummy;
	cJSON *j;
	size_t i;

	if (why == NULL)
		why = &dummy;
	for (i = 0; i < len; i++) {
		while (i + 8 <= len && !swar_below(swar_load(text + i), ' '))
			i += 8;	/* no control character among eight */
		if (i < len && (unsigned char)text[i] < ' ' &&
		    !json_space(text[i])) {
			*why = "a control character outside a string escape";
			return NULL;
		}
	}
	for (i = 0; i < len && json_space(text[i]); i++)
		;
	if (i == len) {
		*why = "no JSON value";
		return NULL;
	}
	if ((j = cJSON_ParseWithLengthOpts(text, len, &end, 0)) == NULL) {
		*why = "not valid JSON";
		return NULL;
	}
	for (; end < text + len; end++)
		if (!json_space(*end)) {
			cJSON_Delete(j);
			*why = "bytes after the JSON value";
			return NULL;
		}
	return j;
}

static const char *
skip_space(const char *p, const char *end)
{
	while (p < end && (unsigned char)*p <= ' ') /* as cJSON skips */
		p++;
	return p;
}

/* The end of the one JSON value at p, or NULL. */
static const char *
value_end(const char *p, const char *end)
{
	const char *vend = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &vend, 0);

	if (v == NULL)
		return NULL;
	cJSON_Delete(v);
	return vend;
}

int
json_array_spans(const char *text, size_t len, const char **at, size_t *n,
    int max)
{
	const char *p = text, *end = text + len, *vend;
	int k = 0;

	/* JSON has no raw control byte but its whitespace (cJSON would
	 * skip any as space); the texts are forwarded to browsers. */
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] < ' ' && !json_space(text[i]))
			return -EINVAL;
	p = skip_space(p, end);
	if (p == end || *p++ != '[')
		return -EINVAL;
	for (;;) {
		p = skip_space(p, end);
		if (k == max || p == end || (vend = value_end(p, end)) == NULL)
			return -EINVAL;
		at[k] = p;
		n[k++] = (size_t)(vend - p);
		p = skip_space(vend, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == ']')
			break;
		return -EINVAL;
	}
	for (p++; p < end; p++)
		if (!json_space(*p))
			return -EINVAL;
	return k;
}

int
json_member_span(const char *text, size_t len, const char *key,
    const char **at, size_t *n)
{
	const char *p = text, *end = text + len, *vend;
	cJSON *k;
	int match;

	p = skip_space(p, end);
	if (p == end || *p++ != '{')
		return -EINVAL;
	if ((p = skip_space(p, end)) < end && *p == '}')
		return 0;
	for (;;) {
		p = skip_space(p, end);
		k = cJSON_ParseWithLengthOpts(p, (size_t)(end - p), &vend, 0);
		if (!cJSON_IsString(k)) {
			cJSON_Delete(k);
			return -EINVAL;
		}
		match = strcmp(k->valuestring, key) == 0;
		cJSON_Delete(k);
		p = skip_space(vend, end);
		if (p == end || *p++ != ':')
			return -EINVAL;
		p = skip_space(p, end);
		if ((vend = value_end(p, end)) == NULL)
			return -EINVAL;
		if (match) {
			*at = p;
			*n = (size_t)(vend - p);
			return 1;
		}
		p = skip_space(vend, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		return p < end && *p == '}' ? 0 : -EINVAL;
	}
}
