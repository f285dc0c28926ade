/*
 * Shared frames and send rings (sendq.c), and channel names (channel.c):
 * order, the urgent slot, the byte bound, growth, reference counts.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "channel.h"
#include "sendq.h"

static void
ring_keeps_order_and_grows(void **state)
{
	struct msg *m[40];
	struct sendq q;

	(void)state;
	sendq_init(&q, 1 << 20);
	for (int i = 0; i < 40; i++) {
		char text[8];
		int n = snprintf(text, sizeof(text), "%d", i);

		m[i] = msg_from(text, (size_t)n);
		assert_int_equal(sendq_push(&q, m[i], 0), 0);
		assert_int_equal(m[i]->refs, 2);
	}
	assert_int_equal(q.len, 40);
	for (int i = 0; i < 40; i++) {
		struct msg *got = sendq_pop(&q);

		assert_ptr_equal(got, m[i]);
		msg_unref(got);
		assert_int_equal(m[i]->refs, 1);
		msg_unref(m[i]);
	}
	assert_int_equal(q.bytes, 0);
	sendq_free(&q);
}

static void
urgent_goes_first(void **state)
{
	struct msg *a = msg_from("a", 1), *b = msg_from("b", 1);
	struct msg *pong = msg_from("pong", 4);
	struct sendq q;

	(void)state;
	sendq_init(&q, 1024);
	sendq_push(&q, a, 0);
	sendq_push(&q, b, 0);
	sendq_push(&q, pong, 1);
	assert_ptr_equal(sendq_peek(&q), pong);
	msg_unref(sendq_pop(&q));
	assert_ptr_equal(sendq_peek(&q), a);
	sendq_free(&q);
	assert_int_equal(a->refs, 1);
	msg_unref(a);
	msg_unref(b);
	msg_unref(pong);
}

static void
bound_refuses_and_queues_nothing(void **state)
{
	struct msg *big = msg_new(600), *more = msg_new(600);
	struct sendq q;

	(void)state;
	sendq_init(&q, 1000);
	/* One frame larger than the bound still goes to an empty queue. */
	assert_int_equal(sendq_push(&q, big, 0), 0);
	assert_int_equal(sendq_push(&q, more, 0), -ENOBUFS);
	assert_int_equal(q.len, 1);
	assert_int_equal(more->refs, 1);
	sendq_free(&q);
	msg_unref(big);
	msg_unref(more);
}

static void
channel_kinds_by_prefix(void **state)
{
	static const struct {
		const char *name;
		int kind;
	} cases[] = {
		{"orders", CH_PUBLIC},
		{"private-x", CH_PRIVATE},
		{"presence-room", CH_PRESENCE},
		{"private-encrypted-x", CH_PRIVATE | CH_ENCRYPTED},
		{"private-encrypted-cache-x",
		    CH_PRIVATE | CH_ENCRYPTED | CH_CACHE},
		{"presence-cache-x", CH_PRESENCE | CH_CACHE},
		{"cache-x", CH_CACHE},
		{"#server-to-user-42", CH_USER},
		{"a-b_c=d@e,f.g;h", CH_PUBLIC},
		{"#other", -1},
		{"bad name", -1},
		{"", -1},
		{"ü", -1},
	};
	char long_name[CHANNEL_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int k = channel_kind(cases[i].name, strlen(cases[i].name));

		if (k != cases[i].kind)
			print_error("%s: got %d want %d\n", cases[i].name, k,
			    cases[i].kind);
		assert_int_equal(k, cases[i].kind);
	}
	memset(long_name, 'a', sizeof(long_name));
	assert_int_equal(channel_kind(long_name, CHANNEL_NAME_MAX), CH_PUBLIC);
	assert_int_equal(channel_kind(long_name, CHANNEL_NAME_MAX + 1), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ring_keeps_order_and_grows),
		cmocka_unit_test(urgent_goes_first),
		cmocka_unit_test(bound_refuses_and_queues_nothing),
		cmocka_unit_test(channel_kinds_by_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
