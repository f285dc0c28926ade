/*
 * The sliced fan-out of channel.c (issue 15) without the loop: real
 * relay_init, pusher_open and channel_subscribe on connections no socket
 * backs; the glue's per-turn call is channel_fanout_turn, made here by hand.
 * What each subscriber would see is read off its send queue.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "channel.h"
#include "config.h"
#include "conn.h"
#include "log.h"
#include "pusher.h"
#include "sendq.h"
#include "sign.h"

#define KEY "testkey"
#define NBIG (2 * FANOUT_BUDGET + FANOUT_BUDGET / 2)	/* 2.5 slices */
#define TURNS_MAX 100

static const char ini[] =
    "[relay]\n"
    "listen = 127.0.0.1:0\n"
    "[app t]\n"
    "id = 7\n"
    "key = " KEY "\n"
    "secret = testsecret\n";

static struct relay_conf conf;
static struct relay r;

static int
setup(void **state)
{
	char err[CONF_ERR_LEN];

	(void)state;
	log_set_level("error");
	if (sign_init() < 0 || relay_conf_load_text(&conf, "test", ini,
	    sizeof(ini) - 1, err) < 0) {
		fprintf(stderr, "config: %s\n", err);
		return -1;
	}
	return relay_init(&r, &conf) < 0 ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	relay_free(&r);
	relay_conf_free(&conf);
	return 0;
}

/* Drops everything queued on c and its place on relay.pending. */
static void
drain(struct conn *c)
{
	struct msg *m;

	while ((m = sendq_pop(&c->q)) != NULL)
		msg_unref(m);
	conn_pending_drop(c);
}

/* n open connections, each subscribed to name (when name is set). */
static struct conn *
open_conns(int n, const char *name)
{
	struct conn *cs = calloc((size_t)n, sizeof(*cs));
	struct sub *s;

	assert_non_null(cs);
	for (int i = 0; i < n; i++) {
		assert_int_equal(pusher_open(&r, &cs[i], KEY, strlen(KEY)), 0);
		drain(&cs[i]);
		if (name)
			assert_int_equal(channel_subscribe(r.apps[0], &cs[i],
			    name, NULL, NULL, &s), 0);
		drain(&cs[i]);
	}
	return cs;
}

static void
close_conns(struct conn *cs, int n)
{
	for (int i = 0; i < n; i++)
		relay_conn_close(&r, &cs[i]);
	free(cs);
}

static struct msg *
event(const char *ch, int i)
{
	char data[32];
	struct msg *m;

	snprintf(data, sizeof(data), "n%d", i);
	m = relay_frame("e", ch, data, strlen(data), 0, NULL);
	assert_non_null(m);
	return m;
}

/* Publishes event i on ch and drops the caller's reference. */
static int
publish(struct channel *ch, int i, const struct conn *except)
{
	struct msg *m = event(ch->name, i);
	int n = channel_publish(ch, m, except);

	msg_unref(m);
	return n;
}

/* The event numbers queued on c, in order, into got; their count. */
static int
events_of(const struct conn *c, int *got, int cap)
{
	int n = 0;

	for (uint32_t k = 0; k < c->q.len; k++) {
		struct msg *m = c->q.ring[(c->q.head + k) % c->q.cap];
		const char *p = strstr((const char *)msg_data(m),
		    "\"data\":\"n");

		assert_non_null(p);
		if (n < cap)
			got[n] = atoi(p + 9);
		n++;
	}
	return n;
}

/* Runs loop turns until the fan-out is done; the turns it took. */
static int
run_turns(void)
{
	int turns = 0;

	while (channel_fanout_turn(&r) && turns < TURNS_MAX)
		turns++;
	assert_true(TAILQ_EMPTY(&r.fanout));
	return turns;
}

static void
small_fanout_goes_out_at_once(void **state)
{
	struct conn *cs = open_conns(10, "small");
	struct channel *ch = channel_find(r.apps[0], "small");
	int got[4];

	(void)state;
	channel_fanout_turn(&r);
	assert_int_equal(publish(ch, 1, &cs[3]), 9);
	assert_true(TAILQ_EMPTY(&r.fanout));
	for (int i = 0; i < 10; i++) {
		int n = events_of(&cs[i], got, 4);

		assert_int_equal(n, i == 3 ? 0 : 1);
		if (n)
			assert_int_equal(got[0], 1);
	}
	close_conns(cs, 10);
}

static void
large_fanout_is_sliced_in_order(void **state)
{
	struct conn *cs = open_conns(NBIG, "big");
	struct conn *late, *other;
	struct channel *ch = channel_find(r.apps[0], "big");
	int got[8], turns;

	(void)state;
	channel_fanout_turn(&r);	/* a fresh turn's budget */
	/* The first publish fills this turn's budget; the rest waits. */
	assert_int_equal(publish(ch, 1, NULL), FANOUT_BUDGET);
	assert_int_equal(publish(ch, 2, NULL), 0);
	assert_false(TAILQ_EMPTY(&r.fanout));
	assert_int_equal(events_of(&cs[0], got, 8), 1);
	assert_int_equal(events_of(&cs[NBIG - 1], got, 8), 0);
	/* A subscriber joining mid-slice gets only what comes after. */
	late = open_conns(1, "big");
	other = open_conns(1, "elsewhere");
	assert_int_equal(publish(ch, 3, NULL), 0);
	/* Another channel waits, but channels take turns: it goes out
	 * after one more slice of the big one. */
	assert_int_equal(publish(channel_find(r.apps[0], "elsewhere"), 9,
	    NULL), 0);
	assert_true(channel_fanout_turn(&r));
	assert_int_equal(events_of(&other[0], got, 8), 0);
	assert_true(channel_fanout_turn(&r));
	assert_int_equal(events_of(&cs[NBIG - 1], got, 8), 1);
	assert_int_equal(got[0], 1);
	assert_int_equal(events_of(&other[0], got, 8), 1);
	assert_int_equal(got[0], 9);
	turns = run_turns();
	assert_true(turns >= 1);
	for (int i = 0; i < NBIG; i++) {
		assert_int_equal(events_of(&cs[i], got, 8), 3);
		assert_int_equal(got[0], 1);
		assert_int_equal(got[1], 2);
		assert_int_equal(got[2], 3);
	}
	assert_int_equal(events_of(&late[0], got, 8), 1);
	assert_int_equal(got[0], 3);
	close_conns(late, 1);
	close_conns(other, 1);
	close_conns(cs, NBIG);
}

static void
unsubscribe_and_close_mid_slice(void **state)
{
	struct conn *cs = open_conns(NBIG, "churn");
	struct channel *ch = channel_find(r.apps[0], "churn");
	struct msg *m = event("churn", 1);
	int got[4];

	(void)state;
	channel_fanout_turn(&r);
	assert_int_equal(channel_publish(ch, m, NULL), FANOUT_BUDGET);
	assert_true(m->refs > 1);	/* the pending event holds one */
	/* The cursor's subscriber and its neighbours go away. */
	assert_ptr_equal(ch->cursor->conn, &cs[FANOUT_BUDGET]);
	relay_conn_close(&r, &cs[FANOUT_BUDGET]);
	channel_unsubscribe(channel_sub_of(&cs[FANOUT_BUDGET + 1], "churn"));
	relay_conn_close(&r, &cs[FANOUT_BUDGET + 2]);
	assert_ptr_equal(ch->cursor->conn, &cs[FANOUT_BUDGET + 3]);
	run_turns();
	/* ours and one per queued frame: the pending event let go */
	assert_int_equal(m->refs, 1 + (NBIG - 3));
	for (int i = FANOUT_BUDGET + 3; i < NBIG; i++) {
		assert_int_equal(events_of(&cs[i], got, 4), 1);
		assert_int_equal(got[0], 1);
	}
	/* Every subscriber leaving mid-slice frees the channel and its
	 * pending events. */
	channel_fanout_turn(&r);
	assert_int_equal(channel_publish(ch, m, NULL), FANOUT_BUDGET);
	for (int i = 0; i < NBIG; i++)
		if (cs[i].relay)
			relay_conn_close(&r, &cs[i]);
	assert_null(channel_find(r.apps[0], "churn"));
	assert_true(TAILQ_EMPTY(&r.fanout));
	assert_int_equal(m->refs, 1);
	msg_unref(m);
	free(cs);
}

/* The idle sweep goes max connections a call, on from where it stopped,
 * also when the connection it stopped at closes. */
static void
sweep_goes_in_slices(void **state)
{
	struct conn *cs = open_conns(25, NULL);
	int64_t now = INT64_C(1) << 40;	/* every connection is idle */
	int calls = 0, pinged;

	(void)state;
	assert_int_equal(relay_sweep(&r, now, 10), 1);
	pinged = 0;
	for (int i = 0; i < 25; i++)
		pinged += cs[i].pinged;
	assert_int_equal(pinged, 10);
	assert_non_null(r.sweep_next);
	relay_conn_close(&r, r.sweep_next);	/* where it stopped */
	while (relay_sweep(&r, now, 10) && calls < 10)
		calls++;
	assert_int_equal(calls, 1);
	for (int i = 0; i < 25; i++) {
		if (cs[i].relay == NULL)
			continue;
		assert_int_equal(cs[i].pinged, 1);
		assert_int_equal(cs[i].q.len, 1);	/* one ping each */
	}
	close_conns(cs, 25);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(small_fanout_goes_out_at_once),
		cmocka_unit_test(large_fanout_is_sliced_in_order),
		cmocka_unit_test(unsubscribe_and_close_mid_slice),
		cmocka_unit_test(sweep_goes_in_slices),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
