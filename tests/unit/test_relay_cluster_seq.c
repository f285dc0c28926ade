/*
 * Issue 12, docs/scaleout.md "Gaps": the per-channel sequence check of a
 * node (relay/cluster_seq.c). In order: delivered; lower: a duplicate,
 * dropped; higher: a gap from..to, then delivered; another epoch, or a
 * sync that finds the counter lower or the keys gone: a reset. The first
 * message or sync of a channel sets what comes next.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster_seq.h"

static void
in_order_and_duplicates(void **state)
{
	struct cseq q = { 0 };
	struct cseq_gap g;

	(void)state;
	/* a fresh channel: the first message after SUBSCRIBE sets next */
	assert_int_equal(cseq_message(&q, 41, "1.5", &g), 1);
	assert_int_equal(g.kind, CSEQ_NONE);
	assert_int_equal(cseq_message(&q, 42, "1.5", &g), 1);
	assert_int_equal(g.kind, CSEQ_NONE);
	assert_int_equal(cseq_message(&q, 42, "1.5", &g), 0);
	assert_int_equal(cseq_message(&q, 7, "1.5", &g), 0);
	assert_int_equal(g.kind, CSEQ_NONE);
	assert_int_equal(q.next, 43);
}

static void
a_higher_seq_is_a_gap(void **state)
{
	struct cseq q = { 0 };
	struct cseq_gap g;

	(void)state;
	cseq_message(&q, 1, "1.5", &g);
	assert_int_equal(cseq_message(&q, 5, "1.5", &g), 1);
	assert_int_equal(g.kind, CSEQ_RANGE);
	assert_int_equal(g.from, 2);
	assert_int_equal(g.to, 4);
	assert_int_equal(cseq_message(&q, 6, "1.5", &g), 1);
	assert_int_equal(g.kind, CSEQ_NONE);
}

static void
another_epoch_is_a_reset(void **state)
{
	struct cseq q = { 0 };
	struct cseq_gap g;

	(void)state;
	cseq_message(&q, 100, "1.5", &g);
	/* Redis restarted empty: seq 1 again, new epoch; delivered */
	assert_int_equal(cseq_message(&q, 1, "9.1", &g), 1);
	assert_int_equal(g.kind, CSEQ_RESET);
	assert_int_equal(cseq_message(&q, 2, "9.1", &g), 1);
	assert_int_equal(g.kind, CSEQ_NONE);
}

static void
sync_sets_next_or_reports_the_gap(void **state)
{
	struct cseq q = { 0 };
	struct cseq_gap g;

	(void)state;
	/* subscribed, no message yet: the sync says where it stands */
	cseq_sync(&q, 10, "1.5", &g);
	assert_int_equal(g.kind, CSEQ_NONE);
	assert_int_equal(q.next, 11);
	assert_int_equal(q.synced, 1);
	/* in step */
	cseq_message(&q, 11, "1.5", &g);
	cseq_sync(&q, 11, "1.5", &g);
	assert_int_equal(g.kind, CSEQ_NONE);
	/* the connection was down while 12..20 went out */
	cseq_sync(&q, 20, "1.5", &g);
	assert_int_equal(g.kind, CSEQ_RANGE);
	assert_int_equal(g.from, 12);
	assert_int_equal(g.to, 20);
	assert_int_equal(cseq_message(&q, 21, "1.5", &g), 1);
	assert_int_equal(g.kind, CSEQ_NONE);
}

static void
sync_finds_the_counter_reset(void **state)
{
	struct cseq q = { 0 };
	struct cseq_gap g;

	(void)state;
	cseq_message(&q, 50, "1.5", &g);
	cseq_sync(&q, 0, "", &g);	/* keys gone */
	assert_int_equal(g.kind, CSEQ_RESET);
	assert_int_equal(q.next, 1);
	assert_int_equal(cseq_message(&q, 1, "9.1", &g), 1);
	assert_int_equal(g.kind, CSEQ_NONE);	/* new epoch adopted */
	cseq_sync(&q, 3, "7.7", &g);	/* lost again and 3 went out */
	assert_int_equal(g.kind, CSEQ_RESET);
	assert_int_equal(q.next, 4);
	cseq_sync(&q, 1, "7.7", &g);	/* lower in one epoch */
	assert_int_equal(g.kind, CSEQ_RESET);
	assert_int_equal(q.next, 2);
	/* a channel never published: nothing to report */
	memset(&q, 0, sizeof(q));
	cseq_sync(&q, 0, "", &g);
	assert_int_equal(g.kind, CSEQ_NONE);
	cseq_sync(&q, 0, "", &g);
	assert_int_equal(g.kind, CSEQ_NONE);
	assert_int_equal(cseq_message(&q, 1, "3.3", &g), 1);
	assert_int_equal(g.kind, CSEQ_NONE);
}

static void
gap_json(void **state)
{
	struct cseq_gap g = { CSEQ_RANGE, 12, 20 };
	char out[64];

	(void)state;
	assert_int_equal(cseq_gap_json(&g, out, sizeof(out)), 19);
	assert_string_equal(out, "{\"from\":12,\"to\":20}");
	g.kind = CSEQ_RESET;
	assert_int_equal(cseq_gap_json(&g, out, sizeof(out)), 14);
	assert_string_equal(out, "{\"reset\":true}");
	assert_int_equal(cseq_gap_json(&g, out, 5), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(in_order_and_duplicates),
		cmocka_unit_test(a_higher_seq_is_a_gap),
		cmocka_unit_test(another_epoch_is_a_reset),
		cmocka_unit_test(sync_sets_next_or_reports_the_gap),
		cmocka_unit_test(sync_finds_the_counter_reset),
		cmocka_unit_test(gap_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
