/* Duplicate keys and NULs in JSON; see json_check.h. */
#include <stdlib.h>
#include <string.h>

#include "json_check.h"

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
	size_t i;

	if (memchr(text, 0, len) != NULL)
		return 1;
	/* A backslash only starts an escape (JSON has none outside
	 * strings); skipping the escaped byte keeps "\\u0000" (a backslash,
	 * then text) apart from "\u0000". */
	for (i = 0; i + 1 < len; i++) {
		if (text[i] != '\\')
			continue;
		if (text[i + 1] == 'u' && len - i >= 6 &&
		    memcmp(text + i + 2, "0000", 4) == 0)
			return 1;
		i++;
	}
	return 0;
}
