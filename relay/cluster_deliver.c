/*
 * Scale-out over Redis: delivering a message that came in on pub/sub to
 * this node's subscribers (docs/scaleout.md, "Publish and order per
 * channel"); the format is cluster_pub.c's. Each message's sequence is
 * checked first (cluster_seq.c): a duplicate is dropped, and what was
 * missed before it is told to the subscribers as a sno:gap event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "cluster.h"
#include "cluster_sync.h"
#include "http.h"
#include "log.h"

/* "<seq> <epoch> <origin> <except> <n>:<app><n>:<event><n>:<channel>
 * <n>:<uid>" then the data; each field is copied into out, NUL-ended. */
static const char *
field(const char *p, const char *end, char *out, size_t outlen)
{
	char *e;
	unsigned long n = strtoul(p, &e, 10);

	if (e == p || e >= end || *e != ':' || n >= outlen ||
	    n > (size_t)(end - e - 1))
		return NULL;
	memcpy(out, e + 1, n);
	out[n] = '\0';
	return e + 1 + n;
}

void
cluster_deliver(const char *p, size_t len)
{
	const char *end = p + len, *sp;
	char except[40], app[256], ev[CHANNEL_NAME_MAX + 1];
	char chname[CHANNEL_NAME_MAX + 1], uid[PRESENCE_MAX_ID + 1];
	char epoch[CSEQ_EPOCH_MAX + 1], key[sizeof(app) + sizeof(chname)];
	struct relay *r = http_relay();
	struct cseq_gap gap;
	struct channel *ch;
	struct cseq *q;
	struct app *a;
	struct msg *m;
	char *e;
	long long seq = strtoll(p, &e, 10);	/* the reply is NUL-ended */
	int kind, n;

	if (cluster_cache_replayed(p, len))
		return;		/* cluster hook: one socket's cache replay */
	if (e == p || *e != ' ' || seq < 1 ||
	    (sp = memchr(e + 1, ' ', (size_t)(end - e - 1))) == NULL ||
	    (size_t)(sp - e - 1) >= sizeof(epoch))
		goto bad;
	memcpy(epoch, e + 1, (size_t)(sp - e - 1));
	epoch[sp - e - 1] = '\0';
	p = sp + 1;
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL)
		goto bad;
	p = sp + 1;	/* origin: not needed */
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL ||
	    (size_t)(sp - p) >= sizeof(except))
		goto bad;
	memcpy(except, p, (size_t)(sp - p));
	except[sp - p] = '\0';
	p = sp + 1;
	if ((p = field(p, end, app, sizeof(app))) == NULL ||
	    (p = field(p, end, ev, sizeof(ev))) == NULL ||
	    (p = field(p, end, chname, sizeof(chname))) == NULL ||
	    (p = field(p, end, uid, sizeof(uid))) == NULL)
		goto bad;
	if (r == NULL || (a = relay_app_by_id(r, app, strlen(app))) == NULL)
		return;
	n = snprintf(key, sizeof(key), "%s:%s", app, chname);
	if ((q = cluster_topic_seq(key, (size_t)n)) != NULL) {
		if (!cseq_message(q, seq, epoch, &gap))
			return;	/* a duplicate */
		cluster_gap_send(a, chname, &gap);
	}
	kind = channel_kind(chname, strlen(chname));
	ch = channel_find(a, chname);
	if (ch && (kind & CH_PRESENCE))
		cluster_presence_seen(a, chname, seq);
	if (kind < 0 || (!ch && !(kind & CH_CACHE)))
		return;
	m = relay_frame(ev, chname, p, (size_t)(end - p), 0,
	    uid[0] ? uid : NULL);
	if (m == NULL)
		return;
	if (ch)
		channel_publish(ch, m, strcmp(except, "-") ?
		    relay_conn_by_socket(r, except) : NULL);
	if (cluster_cache_kept(chname, ev))
		channel_cache_put(a, chname, m, p, (size_t)(end - p));
	msg_unref(m);
	return;
bad:
	log_warn("cluster msg=\"bad message on pub/sub\" len=%zu", len);
}

const char *
cluster_field(const char *p, const char *end, char *out, size_t outlen)
{
	return field(p, end, out, outlen);
}
