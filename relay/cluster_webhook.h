/*
 * Scale-out over Redis: webhooks once cluster-wide (docs/scaleout.md,
 * "Webhooks across nodes"). The scripts that see a transition decide it:
 * count (channel_occupied, channel_vacated), join and leave (member_added,
 * member_removed) and the lease's reaper. channel_vacated and
 * member_removed are held 3 s in a Redis sorted set, and the opposite
 * transition on any node takes them out again; every node pops the due
 * ones (cluster_webhook.c), each entry once, and sends them.
 */
#ifndef SNO_RELAY_CLUSTER_WEBHOOK_H
#define SNO_RELAY_CLUSTER_WEBHOOK_H

#include <stdint.h>

#define CLUSTER_HOOK_HOLD_MS 3000	/* HOOKS: vacated, removed held */
#define CLUSTER_HOOK_STR_(x) #x
#define CLUSTER_HOOK_STR(x) CLUSTER_HOOK_STR_(x)

/*
 * Lua for LUA_COMMON (after tag and ckey). P:wh:held is a zset of
 * "<kind><n>:<app><n>:<channel><user>" (kind 'v' vacated, 'r'
 * member_removed) scored by the Redis time (ms) it is due.
 * occupancy(app, ch, was, now) takes EXISTS of the channel's count hash
 * before and after a change: 1 when it became occupied and nothing was
 * held (send channel_occupied), 2 when it became vacated (held), else 0.
 */
#define LUA_HOLD \
    "local function hkey(kind,app,ch,uid) " \
    " return kind..#app..':'..app..#ch..':'..ch..(uid or '') end " \
    "local function hold(kind,app,ch,uid) local tm=redis.call('TIME') " \
    " redis.call('ZADD',P..':wh:held',tonumber(tm[1])*1000+" \
    "  math.floor(tonumber(tm[2])/1000)+" \
    CLUSTER_HOOK_STR(CLUSTER_HOOK_HOLD_MS) ",hkey(kind,app,ch,uid)) end " \
    "local function unhold(kind,app,ch,uid) " \
    " return redis.call('ZREM',P..':wh:held',hkey(kind,app,ch,uid)) end " \
    "local function occupancy(app,ch,was,now) " \
    " if was==0 and now==1 then " \
    "  if unhold('v',app,ch)==1 then return 0 end return 1 end " \
    " if was==1 and now==0 then hold('v',app,ch) return 2 end " \
    " return 0 end "

/*
 * hooks: ARGV 3 the most entries to take. Removes and returns the due
 * entries: {ms until the next one is due (-1: none), {entry, ...}}.
 */
#define LUA_HOOKS_DUE \
    "local k=P..':wh:held' local tm=redis.call('TIME') " \
    "local now=tonumber(tm[1])*1000+math.floor(tonumber(tm[2])/1000) " \
    "local due=redis.call('ZRANGEBYSCORE',k,'-inf',now,'LIMIT',0," \
    " tonumber(ARGV[3])) " \
    "if #due>0 then redis.call('ZREM',k,unpack(due)) end " \
    "local nx=redis.call('ZRANGE',k,0,0,'WITHSCORES') local wait=-1 " \
    "if #nx>0 then wait=math.max(0,tonumber(nx[2])-now) end " \
    "return {wait,due}"

struct ev_loop;

/* Pops due entries every second, and sooner when one is known to be due
 * sooner; stop ends it. */
void	cluster_webhook_start(struct ev_loop *loop);
void	cluster_webhook_stop(void);
/* Something was held that falls due in about ms: look then. */
void	cluster_webhook_soon(int64_t ms);

#endif
