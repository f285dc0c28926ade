/*
 * Scale-out over Redis: the Lua scripts of presence and leases
 * (cluster_lua.c) and running them on a hiredis async connection.
 */
#ifndef SNO_RELAY_CLUSTER_LUA_H
#define SNO_RELAY_CLUSTER_LUA_H

enum {
	LUA_JOIN, LUA_LEAVE, LUA_LEASE, LUA_COUNT, LUA_READ, LUA_REPLAY,
	LUA_SUBCOUNT, LUA_ONLINE, LUA_HOOKS, LUA_N
};

struct redisAsyncContext;
struct redisReply;

/* reply is NULL when the connection went away before it answered. */
typedef void (*lua_cb)(struct redisReply *reply, void *priv);

/* Computes the scripts' SHA1s; once, before lua_run. */
void	lua_init(void);
/* SCRIPT LOAD of every script (on a new connection). */
void	lua_load_all(struct redisAsyncContext *ac);
/*
 * EVALSHA script with no keys and the nargs strings of args as ARGV (the
 * prefix and the origin node first), again as EVAL after NOSCRIPT; cb
 * gets the reply. 0, or -1 when it could not be sent (cb not called).
 */
int	lua_run(struct redisAsyncContext *ac, int script, int nargs,
	    const char **args, lua_cb cb, void *priv);

#endif
