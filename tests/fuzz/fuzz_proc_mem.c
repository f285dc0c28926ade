/*
 * /proc/meminfo and /proc/vmstat (agent/sample_mem.c): two readings, then
 * the sample fragment. Input: meminfo NUL vmstat NUL meminfo NUL vmstat.
 */
#include "fuzz.h"
#include "sample_mem.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sample_mem m;
	struct fz_parts f;
	struct buf out;

	if (fz_split(data, size, 4, &f) < 0)
		return 0;
	sample_mem_init(&m);
	buf_init(&out, 1 << 20);
	if (sample_mem_feed(&m, f.p[0], f.n > 1 ? f.p[1] : NULL, 1.0) == 0 &&
	    sample_mem_feed(&m, f.p[2], f.n > 3 ? f.p[3] : NULL, 1.0) == 0 &&
	    sample_mem_json(&m, &out) == 0)
		fz_check_fragment(out.data, out.len, "mem sample fragment");
	buf_free(&out);
	sample_mem_close(&m);
	fz_free(&f);
	return 0;
}
