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
 * Parses text[0..len) as exactly one JSON value, as a peer sent it: only
 * JSON whitespace (space, tab, LF, CR) may come before or after it, and no
 * control byte other than those three may appear anywhere (JSON has none
 * outside strings, and escapes them inside). cJSON alone stops at the end
 * of the first value and ignores what follows, so "{..} junk" or two
 * objects in one message would pass as the first. Returns the tree, or
 * NULL with *why (when why is not NULL) saying what is wrong.
 */
cJSON *json_parse_exact(const char *text, size_t len, const char **why);

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

/*
 * The texts of a JSON array's elements, as sent (never re-printed: cJSON
 * prints numbers through doubles with 15 digits). Finds at most max
 * elements of the array text[0..len); element i is at[i][0..n[i]).
 * Only JSON whitespace may follow the array, and no control byte but
 * that whitespace may appear anywhere. Returns the count, or -EINVAL
 * when text is not one JSON array of 1 to max values.
 */
int json_array_spans(const char *text, size_t len, const char **at,
    size_t *n, int max);

/*
 * The text of the value of key in the JSON object text[0..len), as sent:
 * 1 with *at, *n set, 0 when the object has no such key, -EINVAL when text
 * is not a JSON object. Finds the first of two equal keys (refuse those
 * first with json_dup_key).
 */
int json_member_span(const char *text, size_t len, const char *key,
    const char **at, size_t *n);

#endif
