/* Pusher signature verification; see auth.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "auth.h"
#include "buf.h"
#include "sign.h"
#include "utf8.h"

static int
auth_check(const struct app_conf *a, const char *const *parts, int n,
    const char *auth)
{
	size_t keylen = strlen(a->key), lens[8];
	char want[SIGN_HEX_LEN + 1];
	const char *sig;

	if (auth == NULL || strncmp(auth, a->key, keylen) != 0 ||
	    auth[keylen] != ':')
		return 0;
	sig = auth + keylen + 1;
	for (int i = 0; i < n; i++)
		lens[i] = strlen(parts[i]);
	sign_hmac_sha256_hex_parts(a->secret, strlen(a->secret), parts, lens, n,
	    want);
	return sign_equal(sig, strlen(sig), want, SIGN_HEX_LEN);
}

int
auth_channel_ok(const struct app_conf *a, const char *socket_id,
    const char *channel, const char *channel_data, const char *auth)
{
	const char *parts[5] = {socket_id, ":", channel, ":", channel_data};

	return auth_check(a, parts, channel_data ? 5 : 3, auth);
}

int
auth_user_ok(const struct app_conf *a, const char *socket_id,
    const char *user_data, const char *auth)
{
	const char *parts[3] = {socket_id, "::user::", user_data};

	return auth_check(a, parts, 3, auth);
}

static int
hexdig(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s in place ('+' is a space, as forms encode it). */
static int
pct_decode(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (*s == '%') {
			int hi = hexdig(s[1]), lo = hi < 0 ? -1 : hexdig(s[2]);

			if (hi < 0 || lo < 0)
				return -EINVAL;
			*w = (char)(hi << 4 | lo);
			s += 2;
		} else
			*w = *s == '+' ? ' ' : *s;
		/* A NUL would cut the value (and sign "a" for "a%00b"); no
		 * control byte is a name or a value anywhere. */
		if ((unsigned char)*w < ' ' || *w == 0x7f)
			return -EILSEQ;
		w++;
	}
	*w = '\0';
	return 0;
}

int
auth_parse_query(char *q, struct auth_param *p, int max)
{
	int n = 0, e;
	char *save = NULL, *tok;

	for (tok = strtok_r(q, "&", &save); tok;
	     tok = strtok_r(NULL, "&", &save)) {
		if (n == max)
			return -EINVAL;
		if ((e = pct_decode(tok)) < 0)
			return e;
		auth_param_split(tok, &p[n++]);
	}
	return n;
}

void
auth_param_split(char *kv, struct auth_param *p)
{
	char *eq = strchr(kv, '=');

	if (eq)
		*eq = '\0';
	p->key = kv;
	p->value = eq ? eq + 1 : kv + strlen(kv);
	for (char *k = p->key; *k; k++)
		if (*k >= 'A' && *k <= 'Z')
			*k = (char)(*k + 32);
}

static int
has_control(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 1;
	return 0;
}

int
auth_params_clean(const struct auth_param *p, int n)
{
	for (int i = 0; i < n; i++)
		if (has_control(p[i].key) || has_control(p[i].value))
			return 0;
	return 1;
}

const char *
auth_param_get(const struct auth_param *p, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (strcmp(p[i].key, key) == 0)
			return p[i].value;
	return NULL;
}

static int
param_cmp(const void *x, const void *y)
{
	const struct auth_param *const *a = x, *const *b = y;

	return strcmp((*a)->key, (*b)->key);
}

void
auth_md5_hex(const void *msg, size_t len, char out[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	EVP_Digest(msg, len, md, &mdlen, EVP_md5(), NULL);
	sign_hex(md, 16, out);
}

/* A peer's value in an error text: as sent when it is UTF-8, else not. */
static const char *
shown(const char *v)
{
	return utf8_valid((const unsigned char *)v, strlen(v)) ? v :
	    "(not UTF-8)";
}

int
auth_http_head_ok(const struct app_conf *a, const struct auth_param *p,
    int n, int64_t now_s, char *why, size_t whylen)
{
	const char *key = auth_param_get(p, n, "auth_key");
	const char *ts = auth_param_get(p, n, "auth_timestamp");
	const char *ver = auth_param_get(p, n, "auth_version");
	char *end;
	long long t;

	if (!key || !ts || !auth_param_get(p, n, "auth_signature")) {
		snprintf(why, whylen, "Missing auth_key, auth_timestamp or "
		    "auth_signature");
		return -EACCES;
	}
	if (strcmp(key, a->key) != 0) {
		snprintf(why, whylen, "Unknown auth_key");
		return -EACCES;
	}
	if (ver && strcmp(ver, "1.0") != 0) {
		snprintf(why, whylen, "Unsupported auth_version %.*s",
		    utf8_prec(shown(ver), 64), shown(ver));
		return -EACCES;
	}
	t = strtoll(ts, &end, 10);
	if (*end != '\0' || end == ts || t <= now_s - AUTH_WINDOW_S ||
	    t >= now_s + AUTH_WINDOW_S) {
		snprintf(why, whylen, "Timestamp expired: auth_timestamp %.*s "
		    "is not within %d s of the server time %lld",
		    utf8_prec(shown(ts), 64), shown(ts), AUTH_WINDOW_S,
		    (long long)now_s);
		return -EACCES;
	}
	return 0;
}

int
auth_http_ok(const struct app_conf *a, const char *method, const char *path,
    const struct auth_param *p, int n, const char *body, size_t bodylen,
    int64_t now_s, char *why, size_t whylen)
{
	const struct auth_param *sorted[AUTH_MAX_PARAMS];
	const char *md5 = auth_param_get(p, n, "body_md5");
	const char *sig = auth_param_get(p, n, "auth_signature");
	char want[SIGN_HEX_LEN + 1], md5_hex[33];
	struct buf s;
	int ns = 0, r = -EACCES;

	buf_init(&s, 64 * 1024);
	if (auth_http_head_ok(a, p, n, now_s, why, whylen) < 0)
		goto out;
	if (bodylen > 0 || md5) {
		auth_md5_hex(body ? body : "", bodylen, md5_hex);
		if (!md5 || strcmp(md5, md5_hex) != 0) {
			snprintf(why, whylen,
			    "body_md5 does not match the body");
			goto out;
		}
	}
	for (int i = 0; i < n; i++)
		if (strcmp(p[i].key, "auth_signature") != 0)
			sorted[ns++] = &p[i];
	qsort(sorted, (size_t)ns, sizeof(*sorted), param_cmp);
	if (buf_printf(&s, "%s\n%s\n", method, path) < 0)
		goto out;
	for (int i = 0; i < ns; i++)
		if (buf_printf(&s, "%s%s=%s", i ? "&" : "", sorted[i]->key,
			sorted[i]->value) < 0)
			goto out;
	sign_hmac_sha256_hex(a->secret, strlen(a->secret), s.data, s.len, want);
	if (!sign_equal(sig, strlen(sig), want, SIGN_HEX_LEN)) {
		snprintf(why, whylen, "Invalid signature: expected HMAC-SHA256 "
		    "hex digest of \"%s\"", s.data);
		goto out;
	}
	r = 0;
out:
	buf_free(&s);
	return r;
}
