/*
 * /proc/self/mounts (agent/sample_fs.c): the mount points kept, then the
 * sample fragment (sizes stay 0: no statvfs). Input: mounts text.
 */
#include "fuzz.h"
#include "sample_fs.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sample_fs fs;
	struct fz_parts f;
	struct buf out;
	int n;

	if (fz_split(data, size, 1, &f) < 0)
		return 0;
	sample_fs_init(&fs);
	buf_init(&out, 1 << 20);
	n = sample_fs_parse(&fs, f.p[0]);
	fz_check(n >= 0 && n <= FS_MAX, "mount count within FS_MAX");
	for (int i = 0; i < n; i++)
		fz_check(fs.fs[i].mnt[0] == '/', "mount points are absolute");
	if (sample_fs_json(&fs, &out) == 0)
		fz_check_fragment(out.data, out.len, "fs sample fragment");
	buf_free(&out);
	sample_fs_close(&fs);
	fz_free(&f);
	return 0;
}
