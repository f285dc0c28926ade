/*
 * The agent API request signature (common/sign.c, ARCHITECTURE.md "Agent
 * API") as the relay's agent_api.c verifies it: the host key decoded from
 * the key file's hex, the signature recomputed over method, path,
 * X-Sno-Timestamp and body, compared in constant time with X-Sno-Signature.
 * Input: key hex NUL method NUL path NUL timestamp NUL signature NUL body.
 */
#include "fuzz.h"
#include "sign.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char key[SIGN_HOST_KEY_LEN] = {0};
	char want[SIGN_HEX_LEN + 1], hex[2 * SIGN_HOST_KEY_LEN + 1];
	struct fz_parts f;
	static int init;

	if (!init && sign_init() == 0)
		init = 1;
	if (fz_split(data, size, 6, &f) < 0)
		return 0;
	if (f.len[0] == 2 * SIGN_HOST_KEY_LEN &&
	    sign_unhex(f.p[0], key, SIGN_HOST_KEY_LEN) == 0) {
		sign_hex(key, SIGN_HOST_KEY_LEN, hex);
		fz_check(strncasecmp(hex, f.p[0], sizeof(hex) - 1) == 0,
		    "hex round trip");
	}
	sign_agent_request(key, f.p[1], f.p[2], f.p[3], f.p[5], f.len[5], want);
	fz_check(strlen(want) == SIGN_HEX_LEN &&
	    strspn(want, "0123456789abcdef") == SIGN_HEX_LEN, "hex digest");
	(void)sign_equal(f.p[4], f.len[4], want, SIGN_HEX_LEN);
	fz_check(sign_equal(want, SIGN_HEX_LEN, want, SIGN_HEX_LEN),
	    "a digest equals itself");
	fz_free(&f);
	return 0;
}
