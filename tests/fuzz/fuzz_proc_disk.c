/*
 * /proc/diskstats (agent/sample_disk.c): two readings, then the sample
 * fragment. Input: diskstats NUL diskstats. sys_root does not exist, so
 * partitions are told by name (disk_skip_name's fallback).
 */
#include "fuzz.h"
#include "sample_disk.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sample_disk d;
	struct fz_parts f;
	struct buf out;

	if (fz_split(data, size, 2, &f) < 0)
		return 0;
	sample_disk_init(&d);
	snprintf(d.sys_root, sizeof(d.sys_root), "/nonexistent-sno-fuzz");
	buf_init(&out, 1 << 20);
	if (sample_disk_feed(&d, f.p[0], 1.0) == 0 &&
	    sample_disk_feed(&d, f.p[1], 1.0) == 0 &&
	    sample_disk_json(&d, &out) == 0)
		fz_check_fragment(out.data, out.len, "disk sample fragment");
	buf_free(&out);
	sample_disk_close(&d);
	fz_free(&f);
	return 0;
}
