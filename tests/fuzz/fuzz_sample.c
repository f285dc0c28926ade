/*
 * Sample validation (common/sample.c), as the relay runs it on every
 * sample an agent posts: the whole input is one sample's JSON.
 */
#include <errno.h>

#include "fuzz.h"
#include "sample.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256] = "", host[SAMPLE_HOST_MAX + 1];
	long long seq = -1;
	int r;

	r = sample_validate((const char *)data, size, err, sizeof(err), &seq,
	    host, sizeof(host));
	if (r == 0) {
		fz_check(seq >= 1 && seq <= SAMPLE_SEQ_MAX, "seq in range");
		fz_check(sample_host_valid(host), "host id valid");
		fz_check(size <= SAMPLE_MAX_BYTES, "size within the cap");
	} else {
		fz_check(r == -EINVAL || r == -EMSGSIZE || r == -ENOMEM,
		    "documented errors only");
		fz_check(strlen(err) < sizeof(err), "reason fits");
	}
	return 0;
}
