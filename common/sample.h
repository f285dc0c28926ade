/*
 * The agent -> relay sample schema, version 1 (docs/sample-format.md).
 * Shared by the agent (limits it must respect) and the relay's validator.
 * It checks shape and types only; it never looks at the signature or at
 * whether seq is newer than the last one accepted (that is the relay's job).
 */
#ifndef SNO_SAMPLE_H
#define SNO_SAMPLE_H

#include <stddef.h>

#define SAMPLE_VERSION 1
#define SAMPLE_MAX_BYTES 65536		/* one sample, minified JSON */
#define SAMPLE_BATCH_MAX 60		/* samples per POST /agent/v1/samples */
#define SAMPLE_BATCH_MAX_BYTES (1024 * 1024) /* one POST body */
#define SAMPLE_HOST_MAX 64		/* host id length, without the NUL */
#define SAMPLE_PROCS_MAX 200		/* rows in "procs" */
#define SAMPLE_SEQ_MAX 9007199254740991LL /* 2^53 - 1: exact in JSON */

/*
 * Returns 1 when s is a valid host id: 1..SAMPLE_HOST_MAX characters from
 * [A-Za-z0-9._-], not starting with '.' or '-'. Never allocates.
 */
int sample_host_valid(const char *s);

/*
 * Checks that json[0..len) is one sample object of schema v1: size at most
 * SAMPLE_MAX_BYTES, v == 1, host a valid host id, seq an integer in
 * 1..SAMPLE_SEQ_MAX, ts_ms and dt_ms non-negative integers, cpu.n integer
 * >= 1, mem.total and mem.used non-negative integers, tasks.total integer,
 * procs an array of arrays. Returns 0 and fills *seq_out and host_out
 * (when not NULL; host_out gets at most hostlen - 1 bytes and a NUL), or
 * -EMSGSIZE (too big: HTTP 413), or -EINVAL (bad JSON or schema: HTTP 400)
 * with a short reason in err. -ENOMEM when cJSON cannot allocate.
 */
int sample_validate(const char *json, size_t len, char *err, size_t errlen,
    long long *seq_out, char *host_out, size_t hostlen);

#endif
