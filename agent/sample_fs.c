/*
 * Filesystem usage as df(1) shows it: used = (blocks - bfree) * frsize,
 * avail = bavail * frsize. Owns /proc/self/mounts; calls statvfs only every
 * FS_PERIOD_MS, and never on a network filesystem (fs_type_skipped).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "sample_fs.h"

void
sample_fs_init(struct sample_fs *f)
{
	memset(f, 0, sizeof(*f));
	pfile_init(&f->mounts);
}

int
sample_fs_open(struct sample_fs *f, const char *proc_root)
{
	return pfile_open(&f->mounts, proc_root, "self/mounts");
}

void
sample_fs_close(struct sample_fs *f)
{
	pfile_close(&f->mounts);
}

int
fs_type_skipped(const char *type)
{
	static const char *const skip[] = {"proc", "sysfs", "devtmpfs",
	    "devpts", "tmpfs", "cgroup", "cgroup2", "securityfs", "pstore",
	    "bpf", "debugfs", "tracefs", "configfs", "fusectl", "mqueue",
	    "hugetlbfs", "autofs", "binfmt_misc", "rpc_pipefs", "nsfs",
	    "squashfs", "efivarfs", "ramfs", "selinuxfs", "iso9660",
	    "fuse.lxcfs", "fuse.gvfsd-fuse", "fuse.portal", "nfsd", "overlay",
	    "shm", "none",
	    /* network: statvfs can hang for as long as the server does */
	    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "ceph",
	    "glusterfs", "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs",
	    "fuse.rclone", "9p", "afs", "lustre", "gfs2", "ocfs2", "davfs",
	    "fuse.davfs", NULL};

	for (int i = 0; skip[i]; i++)
		if (strcmp(type, skip[i]) == 0)
			return 1;
	return 0;
}

/* Copies a mounts field, decoding \040-style octal escapes. */
static const char *
fs_field(const char *s, char *out, size_t cap)
{
	size_t n = 0;

	while (*s == ' ')
		s++;
	while (*s && *s != ' ' && *s != '\n') {
		char c = *s++;

		if (c == '\\' && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' &&
		    s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
			c = (char)((s[0] - '0') * 64 + (s[1] - '0') * 8 +
			    (s[2] - '0'));
			s += 3;
		}
		if (n + 1 < cap)
			out[n++] = c;
	}
	out[n] = '\0';
	return s;
}

int
sample_fs_parse(struct sample_fs *f, const char *text)
{
	char src[256], mnt[256], type[64];
	const char *line = text, *s;

	f->nfs = 0;
	for (; line && *line; line = pfile_next_line(line)) {
		s = fs_field(line, src, sizeof(src));
		s = fs_field(s, mnt, sizeof(mnt));
		fs_field(s, type, sizeof(type));
		if (strcmp(type, "overlay") == 0 && strcmp(mnt, "/") == 0)
			; /* a container's root */
		else if (mnt[0] != '/' || fs_type_skipped(type))
			continue;
		/* Real filesystems have a device (or a zfs dataset). */
		else if (src[0] != '/' && strcmp(type, "zfs") != 0)
			continue;
		if (f->nfs >= FS_MAX)
			break;
		snprintf(f->fs[f->nfs++].mnt, sizeof(f->fs[0].mnt), "%s", mnt);
	}
	return f->nfs;
}

/* statvfs each mount; drops failures, zero-sized ones and duplicates. */
static void
fs_stat_all(struct sample_fs *f)
{
	dev_t devs[FS_MAX];
	struct statvfs sv;
	struct stat st;
	int i, j, k;

	for (i = j = 0; i < f->nfs; i++) {
		struct fs_mount *m = &f->fs[i];
		int dup = 0;

		if (stat(m->mnt, &st) < 0 || statvfs(m->mnt, &sv) < 0 ||
		    sv.f_blocks == 0)
			continue;
		for (k = 0; k < j; k++)
			dup |= devs[k] == st.st_dev;
		if (dup)
			continue;
		devs[j] = st.st_dev;
		m->total = (unsigned long long)sv.f_blocks * sv.f_frsize;
		m->used = (unsigned long long)(sv.f_blocks - sv.f_bfree) *
		    sv.f_frsize;
		m->avail = (unsigned long long)sv.f_bavail * sv.f_frsize;
		if (i != j)
			f->fs[j] = *m;
		j++;
	}
	f->nfs = j;
}

int
sample_fs_read(struct sample_fs *f, int64_t now_ms)
{
	long n;

	if (f->have && now_ms - f->last_ms < FS_PERIOD_MS)
		return 0;
	if ((n = pfile_read(&f->mounts, f->buf, sizeof(f->buf))) < 0)
		return (int)n;
	sample_fs_parse(f, f->buf);
	fs_stat_all(f);
	f->last_ms = now_ms;
	f->have = 1;
	return 0;
}

int
sample_fs_json(const struct sample_fs *f, struct buf *out)
{
	int r = buf_adds(out, "\"fs\":[");

	for (int i = 0; r == 0 && i < f->nfs; i++) {
		char safe[sizeof(f->fs[0].mnt)];

		pfile_put_text(safe, 0, sizeof(safe), f->fs[i].mnt,
		    strlen(f->fs[i].mnt));
		r = buf_adds(out, i ? ",{\"mnt\":" : "{\"mnt\":");
		if (r == 0)
			r = buf_add_json_string(out, safe);
		if (r == 0)
			r = buf_printf(out, ",\"total\":%llu,\"used\":%llu,"
			    "\"avail\":%llu}", f->fs[i].total, f->fs[i].used,
			    f->fs[i].avail);
	}
	return r ? r : buf_adds(out, "]");
}
