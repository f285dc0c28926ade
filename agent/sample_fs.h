/*
 * Filesystem usage: statvfs(3) of every real mounted filesystem, refreshed
 * every FS_PERIOD_MS (usage changes slowly; statvfs may block on NFS).
 * Pseudo filesystems and duplicate mounts of one device are skipped.
 */
#ifndef SNO_SAMPLE_FS_H
#define SNO_SAMPLE_FS_H

#include <stdint.h>

#include "buf.h"
#include "pfile.h"

#define FS_MAX 32
#define FS_PERIOD_MS 10000

struct fs_mount {
	char mnt[256];
	unsigned long long total, used, avail;	/* bytes */
};

struct sample_fs {
	struct pfile mounts;
	char buf[32768];
	struct fs_mount fs[FS_MAX];
	int nfs;
	int64_t last_ms;
	int have;
};

void sample_fs_init(struct sample_fs *f);
/* Opens proc_root/self/mounts; 0 or negative errno. */
int sample_fs_open(struct sample_fs *f, const char *proc_root);
/* Refreshes when FS_PERIOD_MS passed since the last refresh (now_ms). */
int sample_fs_read(struct sample_fs *f, int64_t now_ms);
/*
 * Parses /proc/self/mounts text into the list of mount points to watch
 * (without calling statvfs); returns their count.
 */
int sample_fs_parse(struct sample_fs *f, const char *text);
/*
 * Returns 1 when a filesystem type is not reported: pseudo and read-only
 * image filesystems, and network ones (a hung NFS or CIFS server would
 * leave statvfs, and with it the sampling loop, stuck in the kernel).
 */
int fs_type_skipped(const char *type);
/* Appends "fs":[...]; 0 or negative errno. */
int sample_fs_json(const struct sample_fs *f, struct buf *out);
void sample_fs_close(struct sample_fs *f);

#endif
