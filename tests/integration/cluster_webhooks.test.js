'use strict';
// Issue 12 (docs/scaleout.md, "Webhooks across nodes"): with two relay
// nodes on one redis-server, every webhook is sent once for the cluster.
// channel_occupied when the channel's first subscriber on any node comes,
// channel_vacated 3 s after the last one on any node left, and neither when
// a subscriber leaves on A and another comes on B within those 3 s; the
// same hold for member_removed of a user who comes back on the other node;
// a node killed with SIGKILL gives one vacated and one member_removed for
// what only it held; client_event and cache_miss once, from the node that
// saw them; events due together go out in one POST (Pusher's batching).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  subscribe, waitFor, waitMessage, startWebhookReceiver, connectRaw, disconnectAll,
} = require('./lib');
const { startCluster } = require('./lib/cluster');

let cluster;
let rx;
let A;
let B;
const app = {};
const raws = [];

before(async () => {
  rx = await startWebhookReceiver();
  app.webhook_url = rx.url;
  cluster = await startCluster();
  A = await cluster.node('relay-a', { app });
  B = await cluster.node('relay-b', { app });
});

after(async () => {
  disconnectAll(raws);
  if (cluster) await cluster.stop();
  if (rx) await rx.close();
});

function hooks(name, channel, pred = () => true) {
  return rx.accepted().filter((e) => e.name === name && e.channel === channel && pred(e));
}

function waitHook(name, channel, pred, timeoutMs = 10000) {
  return waitFor(() => hooks(name, channel, pred)[0], timeoutMs,
    `webhook ${name} of ${channel} (got ${JSON.stringify(rx.accepted().map((e) =>
      [e.name, e.channel, e.user_id]))})`);
}

function user(id) {
  return { user: { user_id: id, user_info: {} } };
}

let marks = 0;
// Every webhook either node decided before this call has been sent: a
// channel of each node's own is occupied (each node's queue sends in order)
// and, with held, left again, so that held events due earlier were taken
// from Redis (in order of due time) and sent too.
async function settled(held = false) {
  const n = ++marks;
  const ms = [];
  for (const [id, relay] of [['a', A], ['b', B]]) {
    const m = await cluster.client(relay);
    await subscribe(m, `mark-${id}-${n}`);
    ms.push([m, `mark-${id}-${n}`]);
  }
  for (const [, ch] of ms) await waitHook('channel_occupied', ch);
  if (!held) return;
  for (const [m, ch] of ms) m.unsubscribe(ch);
  for (const [, ch] of ms) await waitHook('channel_vacated', ch);
}

// The channel has no subscription on any node in Redis.
function emptyInRedis(ch) {
  return waitFor(() => cluster.cli('EXISTS', `sno:{1:${ch}}:s`) === '0', 5000,
    `${ch} empty in Redis`);
}

test('channel_occupied_once_when_subscribers_join_on_both_nodes', async () => {
  const ch = 'wh-occ';
  const cs = await Promise.all([A, A, A, B, B, B].map((r) => cluster.client(r)));
  await Promise.all(cs.map((c) => subscribe(c, ch)));
  await waitHook('channel_occupied', ch);
  await settled();
  assert.equal(hooks('channel_occupied', ch).length, 1, 'channel_occupied once');
  assert.equal(hooks('channel_vacated', ch).length, 0);
});

test('channel_vacated_once_after_the_last_subscriber_on_either_node_left', async () => {
  const ch = 'wh-vac';
  const a = await cluster.client(A);
  const b = await cluster.client(B);
  await subscribe(a, ch);
  await subscribe(b, ch);
  await waitHook('channel_occupied', ch);
  a.unsubscribe(ch);
  await settled(true); // past 3 s after A's leave: B still holds the channel
  assert.equal(hooks('channel_vacated', ch).length, 0, 'vacated while B subscribes');
  const t0 = Date.now();
  b.unsubscribe(ch);
  const e = await waitHook('channel_vacated', ch);
  assert.ok(e._hook.at - t0 >= 2000, `channel_vacated after ${e._hook.at - t0} ms, want ~3 s`);
  await settled(true);
  assert.equal(hooks('channel_vacated', ch).length, 1, 'channel_vacated once');
  assert.equal(hooks('channel_occupied', ch).length, 1);
});

test('leave_on_A_and_return_on_B_within_the_hold_sends_neither_vacated_nor_occupied',
  async () => {
    const ch = 'wh-flap';
    const a = await cluster.client(A);
    await subscribe(a, ch);
    await waitHook('channel_occupied', ch);
    a.unsubscribe(ch);
    await emptyInRedis(ch);
    const b = await cluster.client(B);
    await subscribe(b, ch);
    await settled(true);
    assert.equal(hooks('channel_vacated', ch).length, 0, 'vacated although it came back');
    assert.equal(hooks('channel_occupied', ch).length, 1, 'occupied again');
  });

test('member_removed_is_held_and_dropped_when_the_user_returns_on_the_other_node',
  async () => {
    const ch = 'presence-wh-flap';
    const stay = await cluster.client(A, user('stay'));
    await subscribe(stay, ch);
    const u = await cluster.client(A, user('flap'));
    await subscribe(u, ch);
    await waitHook('member_added', ch, (e) => e.user_id === 'flap');
    u.disconnect();
    await waitFor(() => cluster.cli('HEXISTS', `sno:{1:${ch}}:u`, 'flap') === '0', 5000,
      'flap gone in Redis');
    const u2 = await cluster.client(B, user('flap'));
    await subscribe(u2, ch);
    await settled(true);
    assert.equal(hooks('member_removed', ch, (e) => e.user_id === 'flap').length, 0,
      'member_removed although the user came back on B');
    assert.equal(hooks('member_added', ch, (e) => e.user_id === 'flap').length, 1);
    // Gone for good on B: one member_removed, about 3 s later.
    u2.disconnect();
    await waitHook('member_removed', ch, (e) => e.user_id === 'flap');
    await settled(true);
    assert.equal(hooks('member_removed', ch, (e) => e.user_id === 'flap').length, 1);
  });

test('client_event_webhook_once_from_the_node_that_received_it', async () => {
  const ch = 'private-wh-client';
  const a = await cluster.client(A);
  const b = await cluster.client(B);
  const chA = await subscribe(a, ch);
  await subscribe(b, ch);
  await waitFor(() => cluster.cli('PUBSUB', 'NUMSUB', `sno:c:1:${ch}`).endsWith('2'), 5000,
    'both nodes subscribed on Redis');
  chA.trigger('client-note', { n: 1 });
  await waitMessage(b, 'client-note', ch, 5000);
  const e = await waitHook('client_event', ch);
  assert.equal(e.socket_id, a.connection.socket_id);
  assert.equal(e.event, 'client-note');
  await settled();
  assert.equal(hooks('client_event', ch).length, 1, 'client_event once');
});

test('cache_miss_webhook_once_for_one_miss', async () => {
  const ch = 'cache-wh-miss';
  const other = await cluster.client(B);
  await subscribe(other, 'cache-wh-other'); // B runs, with a cache channel of its own
  const raw = await connectRaw(A);
  raws.push(raw);
  raw.send({ event: 'pusher:subscribe', data: { channel: ch } });
  await waitMessage(raw, 'pusher:cache_miss', ch, 5000);
  await waitHook('cache_miss', ch);
  await settled();
  assert.equal(hooks('cache_miss', ch).length, 1, 'cache_miss once');
});

test('events_due_together_go_in_one_post', async () => {
  const names = Array.from({ length: 6 }, (_, i) => `wh-batch-${i}`);
  const c = await cluster.client(A);
  for (const n of names) c.subscribe(n);
  await waitFor(() => names.every((n) => hooks('channel_occupied', n).length), 5000,
    'channel_occupied of every channel');
  const occ = new Set(names.map((n) => hooks('channel_occupied', n)[0]._hook));
  assert.ok(occ.size < names.length, `${names.length} channel_occupied in ${occ.size} POSTs`);
  // Held together in Redis, due together, taken and sent together.
  for (const n of names) c.unsubscribe(n);
  await waitFor(() => names.every((n) => hooks('channel_vacated', n).length), 10000,
    'channel_vacated of every channel');
  const vac = new Set(names.map((n) => hooks('channel_vacated', n)[0]._hook));
  assert.ok(vac.size < names.length, `${names.length} channel_vacated in ${vac.size} POSTs`);
  for (const h of rx.hooks) assert.ok(h.json.events.length <= 20);
});

test('sigkill_node_its_channels_vacated_and_members_removed_once', async () => {
  const C = await cluster.node('relay-c', { app });
  const only = 'wh-kill-only';
  const shared = 'wh-kill-shared';
  const pres = 'presence-wh-kill';
  const w = await cluster.client(A, user('watcher'));
  await subscribe(w, pres);
  await subscribe(w, shared);
  const k = await cluster.client(C, user('killed'));
  for (const ch of [only, shared, pres]) await subscribe(k, ch);
  await waitHook('channel_occupied', only);
  await waitHook('member_added', pres, (e) => e.user_id === 'killed');
  process.kill(C.pid, 'SIGKILL');
  await C.exited;
  k.disconnect(); // no reconnecting to C
  await waitHook('channel_vacated', only, undefined, 20000);
  await waitHook('member_removed', pres, (e) => e.user_id === 'killed', 20000);
  await settled(true);
  assert.equal(hooks('channel_vacated', only).length, 1, 'vacated once');
  assert.equal(hooks('member_removed', pres, (e) => e.user_id === 'killed').length, 1,
    'member_removed once');
  assert.equal(hooks('channel_vacated', shared).length, 0, 'A still holds it');
  assert.equal(hooks('channel_occupied', shared).length, 1);
});
