/*
 * Scale-out over Redis: the per-channel sequence check (docs/scaleout.md,
 * "Gaps"). Redis sends one channel's messages in sequence order and never
 * twice, so on a live pub/sub connection `seq == next` is the rule; a
 * higher one means messages were lost (the connection dropped and came
 * back), a lower one a duplicate, and another epoch that the channel's
 * counter started again. No I/O here: the callers send the gaps.
 */
#include <stdio.h>
#include <string.h>

#include "cluster_seq.h"

static void
set_epoch(struct cseq *q, const char *epoch)
{
	snprintf(q->epoch, sizeof(q->epoch), "%s", epoch);
}

/* The epoch moved on (or Redis lost the channel's keys): reset. */
static int
epoch_changed(struct cseq *q, const char *epoch, struct cseq_gap *gap)
{
	if (q->epoch[0] == '\0' || strcmp(q->epoch, epoch) == 0)
		return 0;
	gap->kind = CSEQ_RESET;
	set_epoch(q, epoch);
	return 1;
}

int
cseq_message(struct cseq *q, long long seq, const char *epoch,
    struct cseq_gap *gap)
{
	gap->kind = CSEQ_NONE;
	if (epoch[0] && epoch_changed(q, epoch, gap)) {
		q->next = seq + 1;
		return 1;
	}
	if (epoch[0])
		set_epoch(q, epoch);
	if (q->next == 0 || seq == q->next) {
		q->next = seq + 1;
		return 1;
	}
	if (seq < q->next)
		return 0;
	gap->kind = CSEQ_RANGE;
	gap->from = q->next;
	gap->to = seq - 1;
	q->next = seq + 1;
	return 1;
}

void
cseq_sync(struct cseq *q, long long last, const char *epoch,
    struct cseq_gap *gap)
{
	gap->kind = CSEQ_NONE;
	q->synced = 1;
	q->out = 0;
	if (epoch[0] == '\0' && q->epoch[0]) {
		/* the keys are gone: the counter starts again at 1 */
		gap->kind = CSEQ_RESET;
		q->epoch[0] = '\0';
		q->next = last + 1;
		return;
	}
	if (epoch[0] && epoch_changed(q, epoch, gap)) {
		q->next = last + 1;
		return;
	}
	if (epoch[0])
		set_epoch(q, epoch);
	if (q->next == 0 || last == q->next - 1) {
		q->next = last + 1;
		return;
	}
	if (last < q->next - 1)
		gap->kind = CSEQ_RESET;	/* went back in one epoch */
	else {
		gap->kind = CSEQ_RANGE;
		gap->from = q->next;
		gap->to = last;
	}
	q->next = last + 1;
}

int
cseq_gap_json(const struct cseq_gap *g, char *out, size_t len)
{
	int n;

	if (g->kind == CSEQ_RESET)
		n = snprintf(out, len, "{\"reset\":true}");
	else
		n = snprintf(out, len, "{\"from\":%lld,\"to\":%lld}", g->from,
		    g->to);
	return n < 0 || (size_t)n >= len ? -1 : n;
}
