/*
 * The fleet view (issue 13): private-fleet-{account} on the metrics app.
 * While it has subscribers every host of the account streams (a host's
 * session is on while its own channel or its account's fleet channel is
 * occupied, same grace and cap); once a second the relay publishes one
 * `summary` event on it, built from one pre-rendered row per host that is
 * kept when the host's sample arrives; the last FLEET_HISTORY summaries of
 * each account are kept for GET /api/v1/fleet/history. lws-free; host.c and
 * dash_api.c drive it.
 */
#ifndef SNO_FLEET_H
#define SNO_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conn.h"

#define FLEET_CHANNEL_PREFIX "private-fleet-"
#define FLEET_HISTORY 60	/* summaries kept per account (1 a second) */
#define FLEET_ROW_MAX 768	/* one host's pre-rendered row */
#define FLEET_PERIOD_MS 1000

struct host;

/* Creates one fleet per account of r's config and links every host to
 * its account's fleet; 0 or -ENOMEM. Called by hosts_init. */
int fleets_init(struct relay *r);
void fleets_free(struct relay *r);
/*
 * After a reload swapped in new hosts and accounts: builds the fleets
 * again, keeping, for each account that stays, its viewers' occupancy and
 * its kept summaries, and for each host that stays its row. 0 or -ENOMEM
 * (then there are no fleets until the next reload).
 */
int fleets_reconf(struct relay *r);
/* The channel of r's i-th fleet (cluster_host.c). */
const char *fleet_channel_of(const struct relay *r, int i);
/* Channel hooks: 1 when channel is a fleet channel of the metrics app
 * (handled: a subscriber starts a session for every host of the account
 * that has none, one past its cap included), else 0. */
int fleet_channel_subscribed(struct app *a, const char *channel);
int fleet_channel_vacated(struct app *a, const char *channel);
/*
 * Folds h's fleet into its occupancy: *occupied becomes 1 while the fleet
 * channel has subscribers; otherwise *vacated_ms (monotonic) becomes the
 * later of the two vacate times.
 */
void fleet_occupancy(const struct host *h, int *occupied,
    int64_t *vacated_ms);
/*
 * h's summary row for other nodes (cluster_host.c, cluster_sample.c):
 * get gives it (0, or -1 without a fleet); put takes one rendered
 * elsewhere when its seq is newer than the row's (else ignores it).
 */
int fleet_row_get(const struct host *h, const char **text, size_t *len);
void fleet_row_put(struct host *h, const char *text, size_t len);
/* h accepted a stamped sample json[0..len): re-renders h's summary row. */
void fleet_sample(struct host *h, const char *json, size_t len);
/* Periodic (every tick): builds, keeps and publishes each due summary. */
void fleets_tick(struct relay *r, int64_t now_ms);
/* {"account":..,"summaries":[...]} with the summaries of account from the
 * last seconds seconds, oldest first (none for an unknown account); 0 or
 * -ENOMEM. */
int fleet_history(struct relay *r, const char *account, int seconds,
    struct buf *out);

#endif
