'use strict';
// Issue 12 (docs/scaleout.md, "Leases and node liveness"): a relay node
// that dies (SIGKILL) has its presence members removed once, by a node
// that survives, within a few seconds; a node paused (SIGSTOP) past its
// lease and then resumed (SIGCONT) registers its sockets again and leaves
// no duplicate member behind.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { execFileSync } = require('node:child_process');
const {
  startRelay, stopRelay, connectPusher, sdkFor, subscribe, messages,
  waitMessage, disconnectAll, waitFor, request, signedRequest, connectRaw,
  rawSubscribe,
} = require('./lib');
const { redisServer } = require('./lib/redis');

let redis;
let A;
let sdkA;
const others = [];
const clients = [];

async function ready(relay) {
  return (await request(relay.port, 'GET', '/readyz')).status === 200;
}

function redisCli(...args) {
  return execFileSync('redis-cli', ['-p', String(redis.port), ...args],
    { encoding: 'utf8', timeout: 5000 }).trim();
}

function hlen(key) {
  return Number(redisCli('HLEN', key));
}

async function node(id) {
  const r = await startRelay({ relay: { redis: redis.url, node_id: id } });
  others.push(r);
  await waitFor(() => ready(r), 5000, `${id} ready`);
  return r;
}

async function client(relay, id) {
  const c = await connectPusher(relay, { user: { user_id: id, user_info: { id } } });
  clients.push(c);
  return c;
}

function count(c, ev, ch, id) {
  return messages(c, ev, ch).filter((m) => m.data.user_id === id).length;
}

async function barrier(channel, cs) {
  const tag = Math.random().toString(36).slice(2);
  await sdkA.trigger(channel, 'barrier', { tag });
  for (const c of cs) {
    await waitMessage(c, 'barrier', channel, 5000, (m) => m.data && m.data.tag === tag);
  }
}

before(async () => {
  redis = await redisServer();
  A = await startRelay({ relay: { redis: redis.url, node_id: 'relay-a' } });
  sdkA = sdkFor(A);
  await waitFor(() => ready(A), 5000, 'A ready');
});

after(async () => {
  disconnectAll(clients);
  for (const r of others) {
    try { process.kill(r.pid, 'SIGCONT'); } catch (_) { /* gone */ }
    if (r.alive()) await stopRelay(r);
    else fs.rmSync(r.dir, { recursive: true, force: true });
  }
  if (A) await stopRelay(A);
  if (redis) await redis.stop();
});

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
  assert.equal(Number(redisCli('ZCARD', 'sno:nodes')), 1, 'only A holds a lease');
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
  assert.equal(Number(redisCli('ZCARD', 'sno:nodes')), 2);
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
    Number(redisCli('ZCARD', 'sno:nodes')) === others.filter((r) => r.alive()).length + 1,
  15000, 't1 removed and D gone from the leases');
  await barrier(ch, [w]);
  assert.equal(count(w, 'pusher_internal:member_removed', ch, 't1'), 1);
  assert.equal(hlen('sno:{1:presence-term}:u'), 1);
  disconnectAll([w]);
});
