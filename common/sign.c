/* HMAC and constant-time helpers; see sign.h. */
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "sign.h"

int
sign_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

void
sign_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
sign_unhex(const char *hex, unsigned char *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

void
sign_hmac_sha256_hex_parts(const void *key, size_t keylen,
    const char *const *parts, const size_t *lens, int n,
    char out[SIGN_HEX_LEN + 1])
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];

	crypto_auth_hmacsha256_init(&st, key, keylen);
	for (int i = 0; i < n; i++)
		crypto_auth_hmacsha256_update(&st,
		    (const unsigned char *)parts[i], lens[i]);
	crypto_auth_hmacsha256_final(&st, mac);
	sign_hex(mac, sizeof(mac), out);
	sodium_memzero(&st, sizeof(st));
}

void
sign_hmac_sha256_hex(const void *key, size_t keylen, const void *msg,
    size_t msglen, char out[SIGN_HEX_LEN + 1])
{
	const char *parts[1] = {msg};

	sign_hmac_sha256_hex_parts(key, keylen, parts, &msglen, 1, out);
}

int
sign_equal(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return 0;
	return sodium_memcmp(a, b, alen) == 0;
}

void
sign_random(void *p, size_t n)
{
	randombytes_buf(p, n);
}

unsigned long
sign_random_below(unsigned long bound)
{
	return (unsigned long)randombytes_uniform((uint32_t)bound);
}

void
sign_agent_request(const unsigned char key[SIGN_HOST_KEY_LEN],
    const char *method, const char *path, const char *ts_ms,
    const void *body, size_t bodylen, char out[SIGN_HEX_LEN + 1])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	char body_hex[2 * crypto_hash_sha256_BYTES + 1];
	const char *parts[7] = {method, "\n", path, "\n", ts_ms, "\n",
	    body_hex};
	size_t lens[7];

	crypto_hash_sha256(digest, body, bodylen);
	sign_hex(digest, sizeof(digest), body_hex);
	for (int i = 0; i < 7; i++)
		lens[i] = strlen(parts[i]);
	sign_hmac_sha256_hex_parts(key, SIGN_HOST_KEY_LEN, parts, lens, 7, out);
}
