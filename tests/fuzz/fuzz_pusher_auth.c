/*
 * Private and presence channel authorization and user sign-in strings
 * (relay/auth.c, PUSHER-PROTOCOL.md 1.5) as pusher:subscribe and
 * pusher:signin carry them, against app key "fuzzkey", secret
 * "fuzzsecret". Input: socket_id NUL channel NUL channel_data NUL auth.
 */
#include "auth.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char key[] = "fuzzkey", secret[] = "fuzzsecret", id[] = "1",
	    name[] = "fuzz";
	const struct app_conf a = {.name = name, .id = id, .key = key,
	    .secret = secret};
	struct fz_parts f;

	if (fz_split(data, size, 4, &f) < 0)
		return 0;
	(void)auth_channel_ok(&a, f.p[0], f.p[1], f.len[2] ? f.p[2] : NULL,
	    f.p[3]);
	(void)auth_user_ok(&a, f.p[0], f.p[2], f.p[3]);
	fz_free(&f);
	return 0;
}
