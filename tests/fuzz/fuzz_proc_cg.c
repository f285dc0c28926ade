/*
 * cgroup v2 files (agent/sample_cg.c): cpu.max, memory.max, the "0::"
 * line of /proc/self/cgroup, then two readings of cpu.stat,
 * memory.current and memory.stat, then the sample fragment.
 * Input: cpu.max NUL memory.max NUL self/cgroup NUL cpu.stat NUL
 * memory.current NUL memory.stat NUL cpu.stat NUL memory.stat.
 */
#include "fuzz.h"
#include "sample_cg.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sample_cg g;
	char path[512];
	struct fz_parts f;
	struct buf out;

	if (fz_split(data, size, 8, &f) < 0)
		return 0;
	sample_cg_init(&g);
	buf_init(&out, 1 << 20);
	if (cg_parse_cpu_max(f.p[0], &g.cpu_limit) < 0)
		g.cpu_limit = 0;
	if (cg_parse_mem_max(f.p[1], &g.mem_limit) < 0)
		g.mem_limit = 0;
	if (cg_self_path(f.p[2], path, sizeof(path)) == 0)
		fz_check(strchr(path, '\n') == NULL, "one line of cgroup path");
	g.active = 1;
	sample_cg_feed(&g, f.p[3], f.p[4], f.p[5], 1.0);
	sample_cg_feed(&g, f.p[6], f.p[4], f.p[7], 1.0);
	if (sample_cg_json(&g, &out) == 0)
		fz_check_fragment(out.data, out.len, "cg sample fragment");
	buf_free(&out);
	sample_cg_close(&g);
	fz_free(&f);
	return 0;
}
