'use strict';
// Issue 12 (docs/scaleout.md, "Leases and node liveness"): a relay node
// that dies (SIGKILL) has its presence members removed once, by a node
// that survives, within a few seconds; a node paused (SIGSTOP) past its
// lease and then resumed (SIGCONT) registers its sockets again and leaves
// no duplicate member behind.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  stopRelay, sdkFor, subscribe, messages, disconnectAll, waitFor,
  signedRequest, connectRaw, rawSubscribe,
} = require('./lib');
const { startCluster, barrier: clusterBarrier } = require('./lib/cluster');

let cluster;
let A;
let sdkA;

function hlen(key) {
  return cluster.num('HLEN', key);
}

function node(id) {
  return cluster.node(id);
}

function client(relay, id) {
  return cluster.client(relay, { user: { user_id: id, user_info: { id } } });
}

function count(c, ev, ch, id) {
  return messages(c, ev, ch).filter((m) => m.data.user_id === id).length;
}

function barrier(channel, cs) {
  return clusterBarrier(sdkA, channel, cs);
}

before(async () => {
  cluster = await startCluster();
  A = await cluster.node('relay-a');
  sdkA = sdkFor(A);
});

after(() => cluster && cluster.stop());

test('sigkill_node_its_members_removed_once_by_the_survivor', async () => {
  const ch = 'presence-kill';
  const B = await node('relay-b');
  const w = await client(A, 'watcher');
  await subscribe(w, ch);
  const k1 = await client(B, 'k1');
  const k2 = await client(B, 'k2');
  const sa = await client(A, 'shared');
  const sb = await client(B, 'shared');
  for (const c of [k1, k2, sa, sb]) await subscribe(c, ch);
  await waitFor(() => count(w, 'pusher_internal:member_added', ch, 'k2') === 1,
    5000, 'watcher heard k2 join');
  assert.equal(hlen('sno:{1:presence-kill}:u'), 4);

  process.kill(B.pid, 'SIGKILL');
  await B.exited;
  for (const c of [k1, k2, sb]) c.disconnect(); // no reconnecting to B
  await waitFor(() => count(w, 'pusher_internal:member_removed', ch, 'k1') === 1 &&
    count(w, 'pusher_internal:member_removed', ch, 'k2') === 1, 15000,
  'k1 and k2 removed after the lease expired');
  await barrier(ch, [w, sa]);
  assert.equal(count(w, 'pusher_internal:member_removed', ch, 'k1'), 1);
  assert.equal(count(w, 'pusher_internal:member_removed', ch, 'k2'), 1);
  assert.equal(count(w, 'pusher_internal:member_removed', ch, 'shared'), 0,
    'shared is still on A');
  assert.equal(hlen('sno:{1:presence-kill}:u'), 2);
  assert.equal(hlen('sno:{1:presence-kill}:p'), 2);
  assert.equal(cluster.num('ZCARD', 'sno:nodes'), 1, 'only A holds a lease');
  // The counts of the HTTP API lost B's subscriptions too.
  const r = await signedRequest(A, 'GET', '/apps/1/channels/presence-kill',
    undefined, { params: { info: 'user_count,subscription_count' } });
  assert.deepEqual(r.json, { occupied: true, user_count: 2, subscription_count: 2 });
  // One more lease round of A reaps nothing twice.
  const late = await client(A, 'late');
  await subscribe(late, ch);
  const p = messages(late, 'pusher_internal:subscription_succeeded', ch)[0].data.presence;
  assert.deepEqual([...p.ids].sort(), ['late', 'shared', 'watcher']);
  disconnectAll([w, sa, late]);
});

test('sigstop_past_lease_then_sigcont_leaves_no_duplicate_members', async () => {
  const ch = 'presence-stop';
  const C = await node('relay-c');
  const w = await client(A, 'watcher');
  await subscribe(w, ch);
  const z = await client(C, 'z1');
  await subscribe(z, ch);
  await waitFor(() => count(w, 'pusher_internal:member_added', ch, 'z1') === 1,
    5000, 'watcher heard z1 join');

  process.kill(C.pid, 'SIGSTOP');
  await waitFor(() => count(w, 'pusher_internal:member_removed', ch, 'z1') === 1,
    15000, 'A reaped the paused node');
  assert.equal(hlen('sno:{1:presence-stop}:u'), 1);
  process.kill(C.pid, 'SIGCONT');
  // C finds its lease gone and joins z1 again under a new incarnation.
  await waitFor(() => count(w, 'pusher_internal:member_added', ch, 'z1') === 2,
    15000, 'z1 back after C resumed');
  await barrier(ch, [w, z]);
  assert.equal(hlen('sno:{1:presence-stop}:u'), 2);
  assert.equal(hlen('sno:{1:presence-stop}:p'), 2, 'one entry per socket');
  assert.equal(cluster.num('ZCARD', 'sno:nodes'), 2);
  const late = await client(A, 'late2');
  await subscribe(late, ch);
  const p = messages(late, 'pusher_internal:subscription_succeeded', ch)[0].data.presence;
  assert.deepEqual([...p.ids].sort(), ['late2', 'watcher', 'z1']);
  assert.equal(p.count, 3);

  // z1 leaves: member_removed once more, and nothing of it stays.
  z.disconnect();
  await waitFor(() => count(w, 'pusher_internal:member_removed', ch, 'z1') === 2,
    5000, 'z1 left');
  await barrier(ch, [w, late]);
  assert.equal(count(w, 'pusher_internal:member_removed', ch, 'z1'), 2);
  assert.equal(hlen('sno:{1:presence-stop}:u'), 2);
  disconnectAll([w, late]);
});

test('sigterm_node_its_members_leave_once', async () => {
  const ch = 'presence-term';
  const D = await node('relay-d');
  const w = await client(A, 'watcher');
  await subscribe(w, ch);
  // A raw websocket: pusher-js would keep reconnecting to the stopped node.
  const t = await connectRaw(D);
  const auth = sdkFor(D).authorizeChannel(t.socketId, ch, { user_id: 't1' });
  const r = await rawSubscribe(t, ch, auth);
  assert.equal(r.event, 'pusher_internal:subscription_succeeded');
  await waitFor(() => count(w, 'pusher_internal:member_added', ch, 't1') === 1,
    5000, 'watcher heard t1 join');
  await stopRelay(D); // SIGTERM: D closes t itself
  await waitFor(() => t.closed, 5000, 'D closing the websocket');
  await waitFor(() => count(w, 'pusher_internal:member_removed', ch, 't1') === 1 &&
    cluster.num('ZCARD', 'sno:nodes') === cluster.nodes.filter((r) => r.alive()).length,
  15000, 't1 removed and D gone from the leases');
  await barrier(ch, [w]);
  assert.equal(count(w, 'pusher_internal:member_removed', ch, 't1'), 1);
  assert.equal(hlen('sno:{1:presence-term}:u'), 1);
  disconnectAll([w]);
});
