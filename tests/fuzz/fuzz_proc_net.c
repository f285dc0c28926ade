/*
 * /proc/net/dev (agent/sample_net.c): two readings, then the sample
 * fragment. Input: net/dev NUL net/dev. sys_root does not exist, so no
 * interface is found virtual but lo.
 */
#include "fuzz.h"
#include "sample_net.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sample_net n;
	struct fz_parts f;
	struct buf out;

	if (fz_split(data, size, 2, &f) < 0)
		return 0;
	sample_net_init(&n);
	snprintf(n.sys_root, sizeof(n.sys_root), "/nonexistent-sno-fuzz");
	buf_init(&out, 1 << 20);
	if (sample_net_feed(&n, f.p[0], 1.0) == 0 &&
	    sample_net_feed(&n, f.p[1], 1.0) == 0 &&
	    sample_net_json(&n, &out) == 0)
		fz_check_fragment(out.data, out.len, "net sample fragment");
	buf_free(&out);
	sample_net_close(&n);
	fz_free(&f);
	return 0;
}
