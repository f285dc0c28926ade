/*
 * Signing helpers over libsodium (HMAC-SHA256, constant-time compare,
 * random). Never logs secrets. Pusher's MD5 lives in relay/auth.c, so the
 * agent links no libcrypto.
 */
#ifndef SNO_SIGN_H
#define SNO_SIGN_H

#include <stddef.h>

#define SIGN_HEX_LEN 64	/* hex HMAC-SHA256 without the NUL */

/* Must run once before any other call (sodium_init); 0 or -1. */
int sign_init(void);
/* out gets 64 lowercase hex digits and a NUL. */
void sign_hmac_sha256_hex(const void *key, size_t keylen, const void *msg,
    size_t msglen, char out[SIGN_HEX_LEN + 1]);
/* Same over the concatenation of n parts (avoids building the string). */
void sign_hmac_sha256_hex_parts(const void *key, size_t keylen,
    const char *const *parts, const size_t *lens, int n,
    char out[SIGN_HEX_LEN + 1]);
/* Constant-time comparison of two strings of which b is the secret-derived
 * one; returns 1 when equal (also in length). */
int sign_equal(const char *a, size_t alen, const char *b, size_t blen);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void sign_hex(const unsigned char *p, size_t n, char *out);
/* Decodes exactly n bytes from 2n hex digits; 0 or -EINVAL. */
int sign_unhex(const char *hex, unsigned char *out, size_t n);
/* Fills p with n random bytes; uniform integer below bound. */
void sign_random(void *p, size_t n);
unsigned long sign_random_below(unsigned long bound);

#endif

/*
 * The agent API signature (docs/architecture.md "The agent API"): hex
 * HMAC-SHA256 with the host's 32-byte key over
 *   METHOD "\n" PATH "\n" TIMESTAMP_MS "\n" hex(SHA-256(body))
 * sent as X-Sno-Host, X-Sno-Timestamp (Unix ms) and X-Sno-Signature.
 */
#define SIGN_HOST_KEY_LEN 32
void sign_agent_request(const unsigned char key[SIGN_HOST_KEY_LEN],
    const char *method, const char *path, const char *ts_ms,
    const void *body, size_t bodylen, char out[SIGN_HEX_LEN + 1]);
