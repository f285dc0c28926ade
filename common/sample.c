/*
 * Schema v1 validation of one agent sample (see sample.h and
 * docs/sample-format.md). Uses cJSON; checks required fields and their
 * types, not the plausibility of the numbers.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cJSON.h>

#include "json_check.h"
#include "sample.h"
#include "utf8.h"

int
sample_host_valid(const char *s)
{
	size_t n;

	if (s == NULL || *s == '\0' || *s == '.' || *s == '-')
		return 0;
	for (n = 0; s[n]; n++) {
		char c = s[n];

		if (n >= SAMPLE_HOST_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Returns 1 when item is a number holding an integer in [min, max]. */
static int
sample_is_int(const cJSON *item, double min, double max)
{
	double d;

	if (!cJSON_IsNumber(item))
		return 0;
	d = item->valuedouble;
	return isfinite(d) && d == floor(d) && d >= min && d <= max;
}

/* Looks up a dotted path such as "cpu.n" through nested objects. */
static const cJSON *
sample_get(const cJSON *root, const char *path)
{
	char part[32];
	const char *dot;
	size_t n;

	while (root && (dot = strchr(path, '.')) != NULL) {
		n = (size_t)(dot - path);
		if (n >= sizeof(part))
			return NULL;
		memcpy(part, path, n);
		part[n] = '\0';
		root = cJSON_GetObjectItemCaseSensitive(root, part);
		if (!cJSON_IsObject(root))
			return NULL;
		path = dot + 1;
	}
	return root ? cJSON_GetObjectItemCaseSensitive(root, path) : NULL;
}

/* The integer fields every sample must carry, with their ranges. */
static const struct sample_int_field {
	const char *path;
	double min, max;
} sample_ints[] = {
	{"v", SAMPLE_VERSION, SAMPLE_VERSION},
	{"seq", 1, (double)SAMPLE_SEQ_MAX},
	{"ts_ms", 0, (double)SAMPLE_SEQ_MAX},
	{"dt_ms", 0, 86400000.0},
	{"cpu.n", 1, 1e6},
	{"mem.total", 0, (double)SAMPLE_SEQ_MAX},
	{"mem.used", 0, (double)SAMPLE_SEQ_MAX},
	{"tasks.total", 0, 1e9},
	{NULL, 0, 0},
};

static int
sample_check(const cJSON *root, char *err, size_t errlen)
{
	const struct sample_int_field *f;
	const cJSON *host, *procs, *row;
	const char *dup;

	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "sample is not a JSON object");
		return -EINVAL;
	}
	/* The relay would check the first, a browser keep the last. */
	if ((dup = json_dup_key(root)) != NULL) {
		snprintf(err, errlen, "duplicate key \"%.*s\"",
		    utf8_prec(dup, 64), dup);
		return -EINVAL;
	}
	if (cJSON_GetObjectItemCaseSensitive(root, "relay_ms")) {
		snprintf(err, errlen, "relay_ms: set by the relay, not by a "
		    "sample");
		return -EINVAL;
	}
	for (f = sample_ints; f->path; f++) {
		if (!sample_is_int(sample_get(root, f->path), f->min, f->max)) {
			snprintf(err, errlen, "%s: missing or not an integer "
			    "in range", f->path);
			return -EINVAL;
		}
	}
	host = cJSON_GetObjectItemCaseSensitive(root, "host");
	if (!cJSON_IsString(host) || !sample_host_valid(host->valuestring)) {
		snprintf(err, errlen, "host: missing or not a valid host id");
		return -EINVAL;
	}
	procs = cJSON_GetObjectItemCaseSensitive(root, "procs");
	if (!cJSON_IsArray(procs) ||
	    cJSON_GetArraySize(procs) > SAMPLE_PROCS_MAX) {
		snprintf(err, errlen, "procs: missing, not an array or more "
		    "than %d rows", SAMPLE_PROCS_MAX);
		return -EINVAL;
	}
	cJSON_ArrayForEach(row, procs) {
		if (!cJSON_IsArray(row)) {
			snprintf(err, errlen, "procs: a row is not an array");
			return -EINVAL;
		}
	}
	return 0;
}

/* Returns 1 when [p, end) holds only JSON whitespace (or NULs). */
static int
sample_only_space(const char *p, const char *end)
{
	for (; p && p < end; p++)
		if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' &&
		    *p != '\0')
			return 0;
	return 1;
}

int
sample_validate(const char *json, size_t len, char *err, size_t errlen,
    long long *seq_out, char *host_out, size_t hostlen)
{
	cJSON *root = NULL;
	const cJSON *host;
	const char *end = NULL;
	int r;

	if (len > SAMPLE_MAX_BYTES) {
		snprintf(err, errlen, "sample larger than %d bytes",
		    SAMPLE_MAX_BYTES);
		r = -EMSGSIZE;
		goto out;
	}
	/* The text is forwarded to browsers as it is, and a browser fails a
	 * websocket on the first byte that is not UTF-8. */
	if (!utf8_valid((const unsigned char *)json, len)) {
		snprintf(err, errlen, "sample is not valid UTF-8");
		r = -EINVAL;
		goto out;
	}
	root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	/* A raw NUL would cut a cJSON string; \u0000 is fine (the relay
	 * forwards the sample's own text). */
	if (root == NULL || !sample_only_space(end, json + len) ||
	    memchr(json, 0, (size_t)(end - json)) != NULL) {
		snprintf(err, errlen, "sample is not valid JSON");
		r = -EINVAL;
		goto out;
	}
	if ((r = sample_check(root, err, errlen)) < 0)
		goto out;
	if (seq_out)
		*seq_out = (long long)cJSON_GetObjectItemCaseSensitive(root,
		    "seq")->valuedouble;
	host = cJSON_GetObjectItemCaseSensitive(root, "host");
	if (host_out && hostlen > 0)
		snprintf(host_out, hostlen, "%s", host->valuestring);
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}
