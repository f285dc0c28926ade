'use strict';
// Issue 12 (docs/scaleout.md, "Control channel", "Cache channels" and
// "Watchlists"), users and cache channels across relay nodes on one
// redis-server: terminate_connections through either node closes the
// user's signed-in sockets on both (and only them), with a close code
// pusher-js reconnects after; sendToUser (#server-to-user-) reaches the
// user's sockets on both nodes; a cache channel's last event published
// through A is replayed to a subscriber on B, which had no subscriber of it
// before, and is what info=cache reads on B; on a presence-cache channel it
// comes after the member list of both nodes; pusher:cache_miss when there
// is none, never a client event; subscribers joining on B during a burst of
// publishes on A see the events in order and once; a watchlist on A is told
// online and offline of users on either node, once per user, and offline
// once for a user of a node killed with SIGKILL; while Redis is down
// terminate_connections is answered 503 with Retry-After.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  sdkFor, subscribe, messages, waitMessage, waitFor, connectRaw, pongBarrier,
  signedRequest,
} = require('./lib');
const { startCluster, ready, barrier } = require('./lib/cluster');

let cluster;
let A;
let B;
let sdkA;
let sdkB;
const raws = [];

before(async () => {
  cluster = await startCluster();
  A = await cluster.node('relay-a');
  B = await cluster.node('relay-b');
  sdkA = sdkFor(A);
  sdkB = sdkFor(B);
});

after(() => {
  for (const r of raws) r.close();
  return cluster && cluster.stop();
});

// A pusher-js client on node signed in as id, subscribed to its
// #server-to-user- channel.
async function signedIn(node, id) {
  const c = await cluster.client(node, { signinUser: { id, name: `user ${id}` } });
  c.signin();
  await waitMessage(c, 'pusher:signin_success', undefined, 3000);
  await waitMessage(c, 'pusher_internal:subscription_succeeded', `#server-to-user-${id}`, 3000);
  return c;
}

// A raw websocket on node signed in as id (no #server-to-user- channel).
async function rawSignedIn(node, id) {
  const raw = await connectRaw(node);
  raws.push(raw);
  const { auth, user_data: userData } = sdkFor(node).authenticateUser(raw.socketId, { id });
  raw.send({ event: 'pusher:signin', data: { auth, user_data: userData } });
  await waitMessage(raw, 'pusher:signin_success', undefined, 3000);
  return raw;
}

function leftConnected(c) {
  return c.states.some((s) => s.previous === 'connected');
}

test('terminate_connections_via_A_closes_the_users_sockets_on_A_and_B', async () => {
  const onA = await signedIn(A, 'u7');
  const onB = await signedIn(B, 'u7');
  const rawB = await rawSignedIn(B, 'u7');
  const bystander = await signedIn(B, 'u8');
  const oldB = onB.connection.socket_id;

  const res = await sdkA.terminateUserConnections('u7');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});

  await waitFor(() => rawB.closed, 5000, 'raw u7 socket on B closed');
  const code = rawB.closed.code;
  assert.ok(code >= 4100 && code <= 4199, `close code ${code}: pusher-js must reconnect`);
  await waitFor(() => leftConnected(onA) && leftConnected(onB), 5000,
    'u7 pusher-js clients on A and B disconnected');
  await waitFor(() => onB.connection.state === 'connected' &&
    onB.connection.socket_id !== oldB, 10000, 'u7 on B to reconnect');
  assert.equal(bystander.connection.state, 'connected');
  assert.ok(!leftConnected(bystander), 'another user must stay connected');
});

test('terminate_connections_via_B_closes_a_socket_on_A', async () => {
  const rawA = await rawSignedIn(A, 'u9');
  const res = await sdkB.terminateUserConnections('u9');
  assert.equal(res.status, 200);
  await waitFor(() => rawA.closed, 5000, 'raw u9 socket on A closed');
});

test('sendToUser_via_B_reaches_the_user_on_A_and_B_only', async () => {
  const onA = await signedIn(A, 'u1');
  const onB = await signedIn(B, 'u1');
  const other = await signedIn(A, 'u2');
  const got = { a: [], b: [] };
  onA.user.bind('notice', (d) => got.a.push(d));
  onB.user.bind('notice', (d) => got.b.push(d));

  const res = await sdkB.sendToUser('u1', 'notice', { text: 'hello u1' });
  assert.equal(res.status, 200);
  await waitFor(() => got.a.length === 1 && got.b.length === 1, 5000,
    'sendToUser delivered on A and B');
  assert.deepEqual(got.a[0], { text: 'hello u1' });
  assert.deepEqual(got.b[0], { text: 'hello u1' });
  // u2's socket gets its own notice, none of u1's.
  await sdkB.sendToUser('u2', 'notice', { text: 'hello u2' });
  await waitMessage(other, 'notice', '#server-to-user-u2', 5000);
  assert.equal(messages(other, 'notice').length, 1);
  await sdkA.sendToUser('u1', 'after', {}); // a second copy would come before
  await waitMessage(onA, 'after', '#server-to-user-u1', 5000);
  await waitMessage(onB, 'after', '#server-to-user-u1', 5000);
  assert.equal(got.a.length, 1);
  assert.equal(got.b.length, 1);
});

function onChannel(c, ch) {
  return c.received.filter((m) => m.channel === ch).map((m) => m.event);
}

test('cache_event_published_via_A_is_replayed_to_a_new_subscriber_on_B', async () => {
  const name = 'cache-prices';
  await sdkA.trigger(name, 'price', { v: 1 });
  await sdkA.trigger(name, 'price', { v: 2 });
  const b = await cluster.client(B);
  const got = [];
  const ch = b.subscribe(name);
  ch.bind('price', (d) => got.push(d));
  await waitMessage(b, 'price', name, 5000);
  await barrier(sdkA, name, [b]); // a second replay would come before it
  assert.deepEqual(onChannel(b, name).filter((e) => e !== 'barrier'),
    ['pusher_internal:subscription_succeeded', 'price']);
  assert.deepEqual(got, [{ v: 2 }]);
  assert.equal(messages(b, 'pusher:cache_miss').length, 0);

  await sdkA.trigger(name, 'price', { v: 3 });
  await waitFor(() => got.length === 2, 5000, 'live event after the replay');
  assert.deepEqual(got[1], { v: 3 });
  // Kept in Redis no longer than a cache channel's 30 minutes.
  const ttl = Number(cluster.cli('PTTL', `sno:{1:${name}}:k`));
  assert.ok(ttl > 0 && ttl <= 30 * 60 * 1000, `cache ttl ${ttl} ms`);
});

test('info_cache_via_B_gives_the_last_event_published_via_A', async () => {
  const name = 'cache-quiet';
  await sdkA.trigger(name, 'state', { on: true });
  const res = await sdkB.get({ path: `/channels/${name}`, params: { info: 'cache' } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.occupied, false);
  assert.equal(body.cache.data, '{"on":true}');
  assert.ok(body.cache.ttl > 1700 && body.cache.ttl <= 1800, `ttl ${body.cache.ttl} s`);
  const none = await (await sdkB.get({ path: '/channels/cache-never',
    params: { info: 'cache' } })).json();
  assert.deepEqual(none, { occupied: false });
});

test('presence_cache_channel_on_B_lists_every_member_then_replays_the_last_event', async () => {
  const name = 'presence-cache-lobby';
  const ma = await cluster.client(A, { user: { user_id: 'pa' } });
  await subscribe(ma, name);
  await sdkA.trigger(name, 'topic', { t: 1 });
  const mb = await cluster.client(B, { user: { user_id: 'pb' } });
  const ch = mb.subscribe(name);
  await waitMessage(mb, 'topic', name, 5000);
  assert.deepEqual(onChannel(mb, name),
    ['pusher_internal:subscription_succeeded', 'topic']);
  assert.deepEqual(Object.keys(ch.members.members).sort(), ['pa', 'pb']);
  assert.deepEqual(messages(mb, 'topic', name)[0].data, { t: 1 });
});

test('cache_channel_with_nothing_published_gives_cache_miss_on_B', async () => {
  const b = await cluster.client(B);
  b.subscribe('cache-empty');
  await waitMessage(b, 'pusher:cache_miss', 'cache-empty', 5000);
  assert.deepEqual(onChannel(b, 'cache-empty'),
    ['pusher_internal:subscription_succeeded', 'pusher:cache_miss']);
});

test('client_events_on_a_cache_channel_are_not_replayed_on_B', async () => {
  const name = 'private-cache-chat';
  const a = await cluster.client(A);
  const a2 = await cluster.client(A);
  const chA = await subscribe(a, name);
  await subscribe(a2, name);
  chA.trigger('client-typing', { who: 'a' });
  await waitMessage(a2, 'client-typing', name, 5000); // went through Redis
  const b = await cluster.client(B);
  await subscribe(b, name);
  await waitMessage(b, 'pusher:cache_miss', name, 5000);
  assert.equal(messages(b, 'client-typing').length, 0);
});

test('subscribers_joining_on_B_during_a_burst_on_A_get_it_in_order_once', async () => {
  const name = 'cache-burst';
  const N = 120;
  const joiners = [];
  for (let i = 0; i < N; i++) {
    await sdkA.trigger(name, 'tick', { i });
    if (i % 20 === 5) {
      const c = await cluster.client(B);
      c.subscribe(name);
      joiners.push(c);
    }
  }
  await barrier(sdkA, name, joiners);
  for (const c of joiners) {
    const seen = messages(c, 'tick', name).map((m) => m.data.i);
    assert.ok(seen.length > 0, 'each joiner gets the last event at least');
    for (let k = 1; k < seen.length; k++) {
      assert.ok(seen[k] > seen[k - 1], `out of order or twice: ${seen.join(',')}`);
    }
    assert.equal(seen[seen.length - 1], N - 1);
    assert.equal(messages(c, 'pusher:cache_miss').length, 0);
    assert.equal(onChannel(c, name)[0], 'pusher_internal:subscription_succeeded');
  }
});

// A pusher-js client on node signed in as id watching ids; its watchlist
// events are collected in .watch as "name:id,...".
async function watcher(node, id, ids) {
  const c = await cluster.client(node, { signinUser: { id, watchlist: ids } });
  c.watch = [];
  for (const name of ['online', 'offline']) {
    c.user.watchlist.bind(name, (e) => c.watch.push(`${name}:${e.user_ids}`));
  }
  c.signin();
  await waitMessage(c, 'pusher:signin_success', undefined, 3000);
  return c;
}

test('a_watchlist_on_A_follows_users_signing_in_and_out_on_both_nodes', async () => {
  await signedIn(B, 'x1');
  const w = await watcher(A, 'wx', ['x1', 'x2', 'x3']);
  await waitFor(() => w.watch.includes('online:x1'), 5000, 'x1 (on B) online at signin');
  const x2b = await signedIn(B, 'x2');
  await waitFor(() => w.watch.includes('online:x2'), 5000, 'x2 online');
  await subscribe(x2b, 'x2b-room');
  const x2a = await signedIn(A, 'x2'); // on a second node: still one user
  x2b.disconnect();
  // B has handled the close (its count went to Redis before its signout
  // would), so an offline of x2 would come before x3's online.
  await waitFor(async () => !(await (await sdkA.get({ path: '/channels/x2b-room' }))
    .json()).occupied, 5000, 'x2 on B gone');
  await signedIn(B, 'x3');
  await waitFor(() => w.watch.includes('online:x3'), 5000, 'x3 online');
  x2a.disconnect();
  await waitFor(() => w.watch.includes('offline:x2'), 5000, 'x2 offline with its last socket');
  assert.deepEqual(w.watch, ['online:x1', 'online:x2', 'online:x3', 'offline:x2']);
});

test('a_watched_user_of_a_killed_node_goes_offline_once_on_A_and_B', async () => {
  const C = await cluster.node('relay-c');
  await signedIn(C, 'y1');
  const wa = await watcher(A, 'wya', ['y1', 'ym']);
  const wb = await watcher(B, 'wyb', ['y1', 'ym']);
  await waitFor(() => wa.watch.includes('online:y1') && wb.watch.includes('online:y1'),
    5000, 'y1 online on A and B');
  process.kill(C.pid, 'SIGKILL');
  await waitFor(() => wa.watch.includes('offline:y1') && wb.watch.includes('offline:y1'),
    15000, 'y1 offline on A and B once C\'s lease ran out');
  await signedIn(B, 'ym'); // on P:ctl after any second offline of y1
  await waitFor(() => wa.watch.includes('online:ym') && wb.watch.includes('online:ym'),
    5000, 'ym online on A and B');
  assert.deepEqual(wa.watch, ['online:y1', 'offline:y1', 'online:ym']);
  assert.deepEqual(wb.watch, ['online:y1', 'offline:y1', 'online:ym']);
});

test('terminate_connections_with_redis_down_is_503_with_retry_after', async () => {
  await cluster.redis.stop('SIGKILL');
  await waitFor(async () => !(await ready(A)) && !(await ready(B)), 10000,
    'both nodes not ready with redis down');
  for (const node of [A, B]) {
    const r = await signedRequest(node, 'POST', '/apps/1/users/u7/terminate_connections', {});
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
  }
  await cluster.redis.start();
  await waitFor(async () => (await ready(A)) && (await ready(B)), 10000,
    'both nodes ready after redis restarted');
  const raw = await rawSignedIn(A, 'u10');
  await waitFor(async () => (await sdkB.terminateUserConnections('u10')).status === 200,
    10000, 'terminate answered again');
  await waitFor(() => raw.closed, 5000, 'raw u10 socket on A closed after redis came back');
});
