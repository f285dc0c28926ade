/*
 * Disk collector: /proc/diskstats kept open; rates per whole disk
 * (docs/agent.md "Disks"). Partitions, loop, ram, zram, sr, fd, dm- and md
 * devices are skipped. Sectors are 512 bytes whatever the device.
 */
#ifndef SNO_SAMPLE_DISK_H
#define SNO_SAMPLE_DISK_H

#include "buf.h"
#include "pfile.h"

#define DISK_MAX 64
#define DISK_NAME_MAX 32

struct disk_dev {
	char name[DISK_NAME_MAX];
	unsigned long long rd, rd_sec, rd_ms, wr, wr_sec, wr_ms, io_ms;
	int seen;		/* 1 this read, -1 baseline kept, 0 new */
	int skip;		/* partition or virtual: tracked, never sent */
	int rates;
	double r_Bps, w_Bps, r_iops, w_iops, util, await_ms;
};

struct sample_disk {
	struct pfile stats;
	char sys_root[256];
	char buf[32768];
	struct disk_dev devs[DISK_MAX];
	int ndevs;
};

void sample_disk_init(struct sample_disk *d);
int sample_disk_open(struct sample_disk *d, const char *proc_root,
    const char *sys_root);
int sample_disk_read(struct sample_disk *d, double dt_s);
/* Parses /proc/diskstats text and derives rates; 0 or negative errno. */
int sample_disk_feed(struct sample_disk *d, const char *text, double dt_s);
/* Returns 1 when name is a partition or a device we do not report. */
int disk_skip_name(const char *sys_root, const char *name);
/* Appends "disk":[...]; 0 or negative errno. */
int sample_disk_json(const struct sample_disk *d, struct buf *out);
void sample_disk_close(struct sample_disk *d);

#endif
