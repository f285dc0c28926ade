/* Shared frames and per-connection send rings; see sendq.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sendq.h"

struct msg *
msg_new(size_t len)
{
	struct msg *m;

	if (len > UINT32_MAX - MSG_PRE - 1)
		return NULL;
	if ((m = malloc(sizeof(*m) + MSG_PRE + len + 1)) == NULL)
		return NULL;
	m->refs = 1;
	m->len = (uint32_t)len;
	m->buf[MSG_PRE + len] = '\0';
	return m;
}

struct msg *
msg_from(const void *p, size_t len)
{
	struct msg *m = msg_new(len);

	if (m)
		memcpy(msg_data(m), p, len);
	return m;
}

void
msg_unref(struct msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

void
sendq_init(struct sendq *q, size_t max)
{
	memset(q, 0, sizeof(*q));
	q->max = max;
}

void
sendq_free(struct sendq *q)
{
	struct msg *m;

	while ((m = sendq_pop(q)) != NULL)
		msg_unref(m);
	free(q->ring);
	q->ring = NULL;
	q->cap = 0;
}

static int
sendq_grow(struct sendq *q)
{
	uint32_t ncap = q->cap ? q->cap * 2 : 8;
	struct msg **r;

	if ((r = malloc(ncap * sizeof(*r))) == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->len; i++)
		r[i] = q->ring[(q->head + i) & (q->cap - 1)];
	free(q->ring);
	q->ring = r;
	q->head = 0;
	q->cap = ncap;
	return 0;
}

int
sendq_push(struct sendq *q, struct msg *m, int urgent)
{
	if (q->bytes + m->len > q->max && q->len > 0)
		return -ENOBUFS;
	if (q->len == q->cap && sendq_grow(q) < 0)
		return -ENOMEM;
	if (urgent) {
		q->head = (q->head - 1) & (q->cap - 1);
		q->ring[q->head] = msg_ref(m);
	} else
		q->ring[(q->head + q->len) & (q->cap - 1)] = msg_ref(m);
	q->len++;
	q->bytes += m->len;
	return 0;
}

struct msg *
sendq_pop(struct sendq *q)
{
	struct msg *m;

	if (q->len == 0)
		return NULL;
	m = q->ring[q->head];
	q->head = (q->head + 1) & (q->cap - 1);
	q->len--;
	q->bytes -= m->len;
	return m;
}
