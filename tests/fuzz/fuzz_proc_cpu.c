/*
 * /proc/stat, /proc/loadavg and /proc/uptime (agent/sample_cpu.c): two
 * readings fed as sample_cpu_read feeds them, then the sample fragment.
 * Input: stat NUL loadavg NUL uptime NUL stat.
 */
#include "fuzz.h"
#include "sample_cpu.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sample_cpu c;
	struct fz_parts f;
	struct buf out;

	if (fz_split(data, size, 4, &f) < 0)
		return 0;
	sample_cpu_init(&c);
	buf_init(&out, 1 << 20);
	if (sample_cpu_feed(&c, f.p[0], f.p[1], f.p[2], 1.0) == 0 &&
	    sample_cpu_feed(&c, f.p[3], f.p[1], f.p[2], 1.0) == 0 &&
	    sample_cpu_json(&c, &out) == 0)
		fz_check_fragment(out.data, out.len, "cpu sample fragment");
	buf_free(&out);
	sample_cpu_close(&c);
	fz_free(&f);
	return 0;
}
