/*
 * The three calls the relay's state and protocol modules make up into the
 * glue today (docs/fuzzing.md, "Why they cannot be fuzzed yet"), done here
 * as server.c and agent_api.c do them minus libwebsockets: the request is
 * recorded in the connection or the host, and the target drains it. Once
 * the layers of issue 9 are in place these become state the real modules
 * record themselves, and this file goes away.
 */
#include "host.h"
#include "conn.h"
#include "relay_fuzz.h"

struct fz_glue fz_glue;

void
conn_want_write(struct conn *c)
{
	c->dirty = 1;
	fz_glue.writes++;
}

void
conn_close(struct conn *c, int code, const char *reason)
{
	if (c->close_code)
		return;
	c->close_code = code;
	c->close_reason = reason;
	fz_glue.closes++;
}

void
agent_api_wake(struct host *h)
{
	(void)h;
	fz_glue.wakes++;
}
