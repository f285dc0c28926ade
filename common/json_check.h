/*
 * Checks on parsed JSON that cJSON does not make: duplicate keys (cJSON
 * keeps both and its lookups find the first, while a browser's JSON.parse
 * keeps the last, so the relay and a viewer would read different values)
 * and NUL characters (cJSON keeps strings NUL-terminated, so "a\u0000b"
 * would silently become "a").
 */
#ifndef SNO_JSON_CHECK_H
#define SNO_JSON_CHECK_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Returns a key that appears twice in one object anywhere in the tree
 * under item (every object and array is walked; depth is bounded by
 * cJSON's nesting limit), or NULL when all keys are unique. The key is
 * owned by the tree. Out of memory returns "(out of memory)": refuse.
 */
const char *json_dup_key(const cJSON *item);

/*
 * Returns 1 when the JSON text[0..len) holds a NUL character: a raw 0
 * byte or the escape \u0000 (in any string, key or value).
 */
int json_has_nul(const char *text, size_t len);

#endif
