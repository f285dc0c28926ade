/*
 * Scale-out over Redis: the presence and lease scripts (docs/scaleout.md,
 * "Presence" and "Leases"), and running one (these, or another file's:
 * lua_call) by EVALSHA with a retry as EVAL after NOSCRIPT. Every
 * cross-node presence decision is made in one of these scripts, so it
 * happens once whichever node asks.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "cluster_lua.h"
#include "cluster_seq.h"
#include "cluster_webhook.h"

/*
 * pub(): the next sequence of the channel and a PUBLISH in cluster_pub.c's
 * message format, "<seq> <epoch> <origin> <except> <n>:<app><n>:<event>
 * <n>:<channel>0:<data>". tags(): the channel's key prefix and its
 * per-node key. ARGV[1] is the prefix, ARGV[2] the origin node, always.
 */
#define LUA_COMMON CSEQ_LUA \
    "local P=ARGV[1] local origin=ARGV[2] " \
    "local function tag(app,ch) return P..':{'..app..':'..ch..'}' end " \
    "local function ckey(app,ch) return #app..':'..app..ch end " \
    "local function pub(app,ch,except,ev,data) " \
    " redis.call('PUBLISH',P..':c:'..app..':'..ch," \
    "  seqhead(tag(app,ch)..':m')..' '..origin..' '.." \
    "  except..' '..#app..':'..app..#ev..':'..ev..#ch..':'..ch..'0:'..data)" \
    " end " \
    LUA_HOLD \
    "local function removed(app,ch,uid,except) " \
    " local t=tag(app,ch) " \
    " if redis.call('HINCRBY',t..':u',uid,-1)>0 then return 0 end " \
    " redis.call('HDEL',t..':u',uid) redis.call('HDEL',t..':ui',uid) " \
    " hold('r',app,ch,uid) " \
    " pub(app,ch,except,'pusher_internal:member_removed'," \
    "  '{\"user_id\":'..cjson.encode(uid)..'}') return 1 end " \
    "local function nodedec(inc,app,ch) " \
    " local k=P..':node:'..inc..':ch' " \
    " if redis.call('HINCRBY',k,ckey(app,ch),-1)<=0 then " \
    "  redis.call('HDEL',k,ckey(app,ch)) end end "

/*
 * join: ARGV 3 app, 4 channel, 5 incarnation, 6 socket, 7 user, 8 info
 * ('' for none), 9 limit, 10 the socket member_added skips ('-': none).
 * {-1}: the incarnation has no lease (reaped); {-2}: full; else {added,
 * {user, info, ...} with every member, the channel's last sequence};
 * added is 1 for a new member, 2 for one whose member_removed webhook was
 * still held (neither webhook is sent), else 0.
 */
static const char join_src[] = LUA_COMMON
    "local app,ch,inc,sock,uid,info=ARGV[3],ARGV[4],ARGV[5],ARGV[6],"
    " ARGV[7],ARGV[8] "
    "if not redis.call('ZSCORE',P..':nodes',inc) then return {-1} end "
    "local t=tag(app,ch) local added=0 "
    "local old=redis.call('HGET',t..':p',sock) "
    "if not old then "
    " if redis.call('HEXISTS',t..':u',uid)==0 then "
    "  if redis.call('HLEN',t..':u')>=tonumber(ARGV[9]) then "
    "   return {-2} end "
    "  added=1 redis.call('HSET',t..':ui',uid,info) "
    "  if unhold('r',app,ch,uid)==1 then added=2 end end "
    " redis.call('HINCRBY',t..':u',uid,1) "
    " redis.call('HSET',t..':p',sock,inc..'|'..uid) "
    " redis.call('HINCRBY',P..':node:'..inc..':ch',ckey(app,ch),1) "
    " if added>0 then "
    "  if info=='' then info='null' end "
    "  pub(app,ch,ARGV[10],'pusher_internal:member_added','{\"user_id\":'.."
    "   cjson.encode(uid)..',\"user_info\":'..info..'}') end "
    "else "
    " local oi=string.sub(old,1,string.find(old,'|',1,true)-1) "
    " if oi~=inc then "
    "  redis.call('HSET',t..':p',sock,inc..'|'..uid) nodedec(oi,app,ch) "
    "  redis.call('HINCRBY',P..':node:'..inc..':ch',ckey(app,ch),1) end "
    "end "
    "return {added,redis.call('HGETALL',t..':ui'),"
    " tonumber(redis.call('HGET',t..':m','o') or '0')}";

/* leave: ARGV 3 app, 4 channel, 5 socket. The user id when the user
 * left, else 0. */
static const char leave_src[] = LUA_COMMON
    "local app,ch,sock=ARGV[3],ARGV[4],ARGV[5] "
    "local t=tag(app,ch) local v=redis.call('HGET',t..':p',sock) "
    "if not v then return 0 end "
    "redis.call('HDEL',t..':p',sock) "
    "local bar=string.find(v,'|',1,true) "
    "nodedec(string.sub(v,1,bar-1),app,ch) "
    "local uid=string.sub(v,bar+1) "
    "if removed(app,ch,uid,sock)==1 then return uid end return 0";

/*
 * count: ARGV 3 app, 4 channel, 5 incarnation, 6 this node's subscriptions
 * of the channel. P:{a:c}:s holds them per incarnation, P:app:<a>:ch the
 * channels with any, cluster-wide. -1 when the incarnation has no lease,
 * 1 when the channel became occupied cluster-wide (send channel_occupied),
 * 2 when it became vacated (channel_vacated held), else 0.
 */
static const char count_src[] = LUA_COMMON
    "local app,ch,inc,n=ARGV[3],ARGV[4],ARGV[5],tonumber(ARGV[6]) "
    "if not redis.call('ZSCORE',P..':nodes',inc) then return -1 end "
    "local s=tag(app,ch)..':s' local nk=P..':node:'..inc..':sc' "
    "local was=redis.call('EXISTS',s) "
    "if n>0 then redis.call('HSET',s,inc,n) "
    " redis.call('HSET',nk,ckey(app,ch),1) "
    " redis.call('SADD',P..':app:'..app..':ch',ch) "
    "else redis.call('HDEL',s,inc) redis.call('HDEL',nk,ckey(app,ch)) "
    " if redis.call('HLEN',s)==0 then "
    "  redis.call('SREM',P..':app:'..app..':ch',ch) end end "
    "return occupancy(app,ch,was,redis.call('EXISTS',s))";

/*
 * read: ARGV 3 app, 4 'list' (5 prefix), 'one' (5 channel, 6 'cache' for
 * its last event too), 'users' or 'members' (5 channel). list: {channel,
 * subscriptions, users, ...}; one: {subscriptions, users[, kept message or
 * '', its ms to live]}; users: {user, ...}; members: as join's reply.
 */
static const char read_src[] = LUA_COMMON
    "local app,mode,arg=ARGV[3],ARGV[4],ARGV[5] "
    "local function subs(ch) local n=0 "
    " for _,v in ipairs(redis.call('HVALS',tag(app,ch)..':s')) do "
    "  n=n+tonumber(v) end return n end "
    "if mode=='users' then return redis.call('HKEYS',tag(app,arg)..':u') "
    "end "
    "if mode=='members' then return {0,redis.call('HGETALL',"
    " tag(app,arg)..':ui'),tonumber(redis.call('HGET',tag(app,arg)..':m',"
    " 'o') or '0')} end "
    "if mode=='one' then local k=tag(app,arg)..':k' "
    " if ARGV[6]~='cache' then return {subs(arg),"
    "  redis.call('HLEN',tag(app,arg)..':u')} end "
    " return {subs(arg),redis.call('HLEN',tag(app,arg)..':u'),"
    "  redis.call('GET',k) or '',redis.call('PTTL',k)} end "
    "local out={} "
    "for _,ch in ipairs(redis.call('SMEMBERS',P..':app:'..app..':ch')) do "
    " if string.sub(ch,1,#arg)==arg then "
    "  out[#out+1]=ch out[#out+1]=subs(ch) "
    "  out[#out+1]=redis.call('HLEN',tag(app,ch)..':u') end "
    "end "
    "return out";

/*
 * lease: ARGV 3 incarnation, 4 'r' refresh (fails when gone) or 'g'
 * register, 5 ttl ms, 6 an incarnation of this node to give up ('-' none:
 * it expires now). Then reaps every expired incarnation: its sockets
 * leave their channels (member_removed once for users that reach 0; its
 * webhook held, as channel_vacated's of channels it leaves empty) and its
 * signed-in users go (offline on P:ctl for those on no other node).
 * {-1} when a refresh found the lease gone, else {0, {app, channel, user,
 * ...}} of the members removed.
 */
static const char lease_src[] = LUA_COMMON
    "local nodes=P..':nodes' local inc=ARGV[3] "
    "local tm=redis.call('TIME') "
    "local now=tonumber(tm[1])*1000+math.floor(tonumber(tm[2])/1000) "
    "if ARGV[4]=='r' and not redis.call('ZSCORE',nodes,inc) then "
    " return {-1} end "
    "redis.call('ZADD',nodes,now+tonumber(ARGV[5]),inc) "
    "if ARGV[6]~='-' then redis.call('ZADD',nodes,'XX',0,ARGV[6]) end "
    "local out={} "
    "for _,d in ipairs(redis.call('ZRANGEBYSCORE',nodes,'-inf',now)) do "
    " local nk=P..':node:'..d..':ch' "
    " for _,ck in ipairs(redis.call('HKEYS',nk)) do "
    "  local n,rest=string.match(ck,'^(%d+):(.*)$') n=tonumber(n) "
    "  local app,ch=string.sub(rest,1,n),string.sub(rest,n+1) "
    "  local pk=tag(app,ch)..':p' local all=redis.call('HGETALL',pk) "
    "  for i=1,#all,2 do "
    "   local v=all[i+1] local bar=string.find(v,'|',1,true) "
    "   if string.sub(v,1,bar-1)==d then "
    "    redis.call('HDEL',pk,all[i]) "
    "    local uid=string.sub(v,bar+1) "
    "    if removed(app,ch,uid,'-')==1 then "
    "     out[#out+1]=app out[#out+1]=ch out[#out+1]=uid end "
    "   end "
    "  end "
    " end "
    " redis.call('DEL',nk) nk=P..':node:'..d..':sc' "
    " for _,ck in ipairs(redis.call('HKEYS',nk)) do "
    "  local n,rest=string.match(ck,'^(%d+):(.*)$') n=tonumber(n) "
    "  local app,ch=string.sub(rest,1,n),string.sub(rest,n+1) "
    "  local s=tag(app,ch)..':s' local was=redis.call('EXISTS',s) "
    "  redis.call('HDEL',s,d) "
    "  if redis.call('HLEN',s)==0 then "
    "   redis.call('SREM',P..':app:'..app..':ch',ch) end "
    "  occupancy(app,ch,was,redis.call('EXISTS',s)) "
    " end "
    " redis.call('DEL',nk) nk=P..':node:'..d..':on' "
    " for _,ck in ipairs(redis.call('HKEYS',nk)) do "
    "  local n,rest=string.match(ck,'^(%d+):(.*)$') n=tonumber(n) "
    "  local app,uid=string.sub(rest,1,n),string.sub(rest,n+1) "
    "  local ok=P..':on:'..app "
    "  if redis.call('HINCRBY',ok,uid,-1)<=0 then "
    "   redis.call('HDEL',ok,uid) "
    "   redis.call('PUBLISH',P..':ctl','offline '..#app..':'..app..uid) "
    "  end "
    " end "
    " redis.call('DEL',nk) redis.call('ZREM',nodes,d) "
    "end "
    "return {0,out}";

/*
 * replay: ARGV 3 app, 4 channel, 5 socket. PUBLISHes on the channel
 * "r <origin> <socket> <n>:<app><n>:<channel>" and the channel's last
 * event as the publish script kept it (nothing when there is none), for
 * cluster_cache.c on the origin node.
 */
static const char replay_src[] = LUA_COMMON
    "local app,ch,sock=ARGV[3],ARGV[4],ARGV[5] "
    "local v=redis.call('GET',tag(app,ch)..':k') or '' "
    "redis.call('PUBLISH',P..':c:'..app..':'..ch,'r '..origin..' '..sock.."
    " ' '..#app..':'..app..#ch..':'..ch..v) return 0";

/*
 * subcount: ARGV 3 app, 4 channel, 5 the count up to which every change
 * is sent. The channel's count on every node summed; when it is not the
 * one last published (m: sc) and, over the limit, the last was published
 * (m: ct, Redis TIME ms) 5 s ago or more, publishes
 * pusher_internal:subscription_count on the channel and returns 0; else 0
 * with nothing to say, or the ms left to wait.
 */
static const char subcount_src[] = LUA_COMMON
    "local app,ch=ARGV[3],ARGV[4] local t=tag(app,ch) local n=0 "
    "for _,v in ipairs(redis.call('HVALS',t..':s')) do n=n+tonumber(v) end "
    "local m=t..':m' local last=redis.call('HMGET',m,'sc','ct') "
    "if n==0 or tonumber(last[1])==n then return 0 end "
    "local tm=redis.call('TIME') "
    "local now=tonumber(tm[1])*1000+math.floor(tonumber(tm[2])/1000) "
    "if n>tonumber(ARGV[5]) and last[2] and now-tonumber(last[2])<5000 "
    " then return 5000-(now-tonumber(last[2])) end "
    "redis.call('HSET',m,'sc',n,'ct',now) "
    "pub(app,ch,'-','pusher_internal:subscription_count',"
    " '{\"subscription_count\":'..n..'}') return 0";

/*
 * online: ARGV 3 app, 4 user, 5 incarnation, 6 1 (the user's first
 * signed-in socket on the node) or -1 (its last gone). P:node:<inc>:on
 * holds the node's users, P:on:<app> user -> nodes; crossing 0 there
 * PUBLISHes "online"/"offline <n>:<app><user>" on P:ctl. -1 when the
 * incarnation has no lease, else 0.
 */
static const char online_src[] = LUA_COMMON
    "local app,uid,inc,d=ARGV[3],ARGV[4],ARGV[5],tonumber(ARGV[6]) "
    "if not redis.call('ZSCORE',P..':nodes',inc) then return -1 end "
    "local nk=P..':node:'..inc..':on' local ck=#app..':'..app..uid "
    "local mine=tonumber(redis.call('HGET',nk,ck) or '0') "
    "if (d>0 and mine>0) or (d<0 and mine==0) then return 0 end "
    "if d>0 then redis.call('HSET',nk,ck,1) else redis.call('HDEL',nk,ck) "
    "end "
    "local ok=P..':on:'..app local n=redis.call('HINCRBY',ok,uid,d) "
    "if n<=0 then redis.call('HDEL',ok,uid) end "
    "if (d>0 and n==1) or (d<0 and n==0) then "
    " redis.call('PUBLISH',P..':ctl',(d>0 and 'online ' or 'offline ').."
    "  #app..':'..app..uid) end "
    "return 0";

static const char hooks_src[] = LUA_COMMON LUA_HOOKS_DUE;

static const char *const srcs[LUA_N] = {
	join_src, leave_src, lease_src, count_src, read_src, replay_src,
	subcount_src, online_src, hooks_src
};
static struct lua_script scripts[LUA_N];

/* One script run, kept so NOSCRIPT can run it again as EVAL. */
struct lua_run {
	const struct lua_script *s;
	int argc;		/* "EVALSHA" sha, then the caller's */
	const char **argv;
	size_t *lens;
	char *copy;		/* the caller's arguments, one after another */
	lua_cb cb;
	void *priv;
	int eval;
};

static void
sha1_hex(const char *s, char out[41])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL);
	for (unsigned int i = 0; i < n && i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void
lua_script_init(struct lua_script *s, const char *src)
{
	s->src = src;
	sha1_hex(src, s->sha);
}

void
lua_init(void)
{
	for (int i = 0; i < LUA_N; i++)
		lua_script_init(&scripts[i], srcs[i]);
}

void
lua_load_all(redisAsyncContext *ac)
{
	for (int i = 0; i < LUA_N; i++)
		redisAsyncCommand(ac, NULL, NULL, "SCRIPT LOAD %s", srcs[i]);
}

static void
run_free(struct lua_run *r)
{
	free(r->copy);
	free(r->argv);
	free(r->lens);
	free(r);
}

static void	on_reply(redisAsyncContext *ac, void *reply, void *priv);

static int
run_send(redisAsyncContext *ac, struct lua_run *r)
{
	r->argv[0] = r->eval ? "EVAL" : "EVALSHA";
	r->argv[1] = r->eval ? r->s->src : r->s->sha;
	r->lens[0] = strlen(r->argv[0]);
	r->lens[1] = strlen(r->argv[1]);
	return redisAsyncCommandArgv(ac, on_reply, r, r->argc,
	    r->argv, r->lens);
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	redisReply *rep = reply;
	struct lua_run *r = priv;

	if (rep && rep->type == REDIS_REPLY_ERROR && !r->eval &&
	    strncmp(rep->str, "NOSCRIPT", 8) == 0) {
		r->eval = 1;	/* EVAL caches it for the next EVALSHA */
		if (run_send(ac, r) == REDIS_OK)
			return;
		rep = NULL;
	}
	if (r->cb)
		r->cb(rep, r->priv);
	run_free(r);
}

int
lua_call(redisAsyncContext *ac, const struct lua_script *s, int argc,
    const char **argv, const size_t *lens, lua_cb cb, void *priv)
{
	struct lua_run *r;
	size_t total = 0, off = 0;
	int i;

	if (ac == NULL || argc < 1 || argc > INT_MAX - 2 ||
	    (r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	r->s = s;
	r->cb = cb;
	r->priv = priv;
	r->argc = 2 + argc;
	if ((r->argv = calloc((size_t)r->argc, sizeof(char *))) == NULL ||
	    (r->lens = calloc((size_t)r->argc, sizeof(size_t))) == NULL)
		goto fail;
	for (i = 0; i < argc; i++) {
		r->lens[2 + i] = lens ? lens[i] : strlen(argv[i]);
		if (r->lens[2 + i] > SIZE_MAX / 2 - total - 1)
			goto fail;
		total += r->lens[2 + i] + 1;
	}
	if ((r->copy = malloc(total)) == NULL)
		goto fail;
	for (i = 0; i < argc; i++) {
		memcpy(r->copy + off, argv[i], r->lens[2 + i]);
		r->copy[off + r->lens[2 + i]] = '\0';
		r->argv[2 + i] = r->copy + off;
		off += r->lens[2 + i] + 1;
	}
	if (run_send(ac, r) != REDIS_OK)
		goto fail;
	return 0;
fail:
	run_free(r);
	return -1;
}

int
lua_run(redisAsyncContext *ac, int script, int nargs, const char **args,
    lua_cb cb, void *priv)
{
	const char *argv[LUA_RUN_ARGS_MAX + 1];

	if (nargs < 0 || nargs > LUA_RUN_ARGS_MAX)
		return -1;
	argv[0] = "0";	/* no KEYS: see docs/scaleout.md, difference 7 */
	memcpy(argv + 1, args, (size_t)nargs * sizeof(*args));
	return lua_call(ac, &scripts[script], 1 + nargs, argv, NULL, cb,
	    priv);
}
