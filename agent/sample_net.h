/*
 * Network collector: /proc/net/dev kept open; rates per physical interface
 * (docs/agent.md "Network"). lo and anything under /sys/devices/virtual/net/
 * are skipped. An interface seen for the first time only sets its baseline;
 * one that disappears is forgotten.
 */
#ifndef SNO_SAMPLE_NET_H
#define SNO_SAMPLE_NET_H

#include "buf.h"
#include "pfile.h"

#define NET_IF_MAX 64
#define NET_NAME_MAX 32

struct net_if {
	char name[NET_NAME_MAX];
	unsigned long long rx_bytes, rx_pkts, tx_bytes, tx_pkts, errs, drops;
	int seen;		/* present in the latest read */
	int rates;		/* rates below are valid */
	int skip;		/* lo or virtual: tracked, never sent */
	double rx_Bps, tx_Bps, rx_pps, tx_pps, err_ps, drop_ps;
};

struct sample_net {
	struct pfile dev;
	char sys_root[256];
	char buf[16384];
	struct net_if ifs[NET_IF_MAX];
	int nifs;
};

void sample_net_init(struct sample_net *n);
/* Opens proc_root/net/dev; sys_root is used to skip virtual interfaces. */
int sample_net_open(struct sample_net *n, const char *proc_root,
    const char *sys_root);
int sample_net_read(struct sample_net *n, double dt_s);
/* Parses /proc/net/dev text and derives rates; 0 or negative errno. */
int sample_net_feed(struct sample_net *n, const char *text, double dt_s);
/* Appends "net":[...] (only interfaces with rates); 0 or negative errno. */
int sample_net_json(const struct sample_net *n, struct buf *out);
void sample_net_close(struct sample_net *n);

#endif
