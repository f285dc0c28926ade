/*
 * Scale-out over Redis: the Lua scripts of presence and leases
 * (cluster_lua.c) and running them, or another file's script, on a
 * hiredis async connection by EVALSHA (EVAL after NOSCRIPT).
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

/* A script and its SHA1 (lua_script_init), for lua_call. */
struct lua_script {
	const char *src;	/* static: kept, not copied */
	char sha[41];
};

#define LUA_RUN_ARGS_MAX 64	/* arguments of one lua_run */

/* Computes the scripts' SHA1s; once, before lua_run. */
void	lua_init(void);
/* Fills s with src and its SHA1. */
void	lua_script_init(struct lua_script *s, const char *src);
/* SCRIPT LOAD of every script (on a new connection). */
void	lua_load_all(struct redisAsyncContext *ac);
/*
 * EVALSHA script with no keys and the nargs strings of args as ARGV (the
 * prefix and the origin node first), again as EVAL after NOSCRIPT; cb
 * gets the reply. 0, or -1 when it could not be sent (cb not called).
 */
int	lua_run(struct redisAsyncContext *ac, int script, int nargs,
	    const char **args, lua_cb cb, void *priv);
/*
 * EVALSHA s followed by the argc strings of argv (numkeys, the keys, then
 * the ARGV; lens NULL: each is NUL-terminated), again as EVAL after
 * NOSCRIPT; the arguments are copied, so argv may go once this returns.
 * cb gets the reply. 0, or -1 when it could not be sent (cb not called).
 */
int	lua_call(struct redisAsyncContext *ac, const struct lua_script *s,
	    int argc, const char **argv, const size_t *lens, lua_cb cb,
	    void *priv);

#endif
