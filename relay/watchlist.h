/*
 * Watchlists of signed-in connections (watchlist.c): online and offline
 * events for the user ids a signin's user_data lists.
 */
#ifndef SNO_WATCHLIST_H
#define SNO_WATCHLIST_H

#include "conn.h"

#define WATCH_MAX 100		/* ids per watchlist (Pusher's, 4302 past) */

struct cJSON;

/* c just signed in with user_data's "watchlist" (NULL or not an array:
 * none): c watches those users and is told which are online. */
void watchlist_signin(struct conn *c, struct cJSON *list);
/* c watches no one any more (signout, close). */
void watchlist_drop(struct conn *c);
/* uid of a got its first signed-in connection on this node (online 1) or
 * lost its last (0): its watchers are told, or with Redis the cluster
 * decides (cluster_online.c). */
void watchlist_user(struct app *a, const char *uid, int online);
/* uid of a came online or went offline (for the cluster): tell watchers. */
void watchlist_notify(struct app *a, const char *uid, int online);
/* The n ids c watches that are online now (cluster_online.c's answer). */
void watchlist_online_is(struct conn *c, const char *const *ids, int n);
void watchlist_free(void);

#endif
