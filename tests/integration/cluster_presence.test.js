'use strict';
// Issue 12 (docs/scaleout.md, "Presence"): two relay processes on one
// redis-server keep one presence member list. The same user on both nodes
// is one member with one member_added; member_removed goes out once when
// the user's last connection, on whichever node, leaves;
// subscription_succeeded lists the members of both nodes; the 100-member
// limit holds when joins race on two nodes.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  connectPusher, sdkFor, subscribe, messages, waitMessage, disconnectAll,
  waitFor, startWebhookReceiver,
} = require('./lib');
const { startCluster, barrier: clusterBarrier } = require('./lib/cluster');

let cluster;
let A;
let B;
let sdkA;
let rx;
const clients = [];

function redisCli(...args) {
  return cluster.cli(...args);
}

function client(relay, u) {
  return cluster.client(relay, { user: u });
}

function user(id) {
  return { user_id: id, user_info: { name: `N${id}` } };
}

function succeeded(c, ch) {
  const m = messages(c, 'pusher_internal:subscription_succeeded', ch)[0];
  assert.ok(m, `no subscription_succeeded on ${ch}: ${JSON.stringify(
    messages(c, undefined, ch))}`);
  return m.data.presence;
}

function added(c, ch, id) {
  return messages(c, 'pusher_internal:member_added', ch)
    .filter((m) => m.data.user_id === id);
}

function removed(c, ch, id) {
  return messages(c, 'pusher_internal:member_removed', ch)
    .filter((m) => m.data.user_id === id);
}

// A barrier event published through A reached every client in cs: the
// member events Redis ordered before it have been delivered too.
function barrier(channel, cs) {
  return clusterBarrier(sdkA, channel, cs);
}

before(async () => {
  cluster = await startCluster();
  rx = await startWebhookReceiver();
  const app = { webhook_url: rx.url };
  A = await cluster.node('relay-a', { app });
  B = await cluster.node('relay-b', { app });
  sdkA = sdkFor(A);
});

after(async () => {
  // The 120 and 80 concurrent clients are connected in bulk, not by
  // cluster.client.
  disconnectAll(clients);
  try {
    if (cluster) await cluster.stop();
  } finally {
    if (rx) await rx.close();
  }
});

test('same_user_on_two_nodes_is_one_member_with_one_member_added', async () => {
  const ch = 'presence-same';
  const w = await client(A, user('watcher'));
  await subscribe(w, ch);
  const a = await client(A, user('u1'));
  const b = await client(B, user('u1'));
  await subscribe(a, ch);
  await subscribe(b, ch);
  const pb = succeeded(b, ch);
  assert.equal(pb.count, 2);
  assert.deepEqual([...pb.ids].sort(), ['u1', 'watcher']);
  assert.deepEqual(pb.hash.u1, { name: 'Nu1' });
  await barrier(ch, [w, a, b]);
  assert.equal(added(w, ch, 'u1').length, 1, 'member_added u1 once');
  assert.equal(added(a, ch, 'u1').length, 0, 'the joiner never hears itself');
  assert.equal(Number(redisCli('HLEN', 'sno:{1:presence-same}:u')), 2);

  // The node with the first connection loses it: u1 is still there.
  a.disconnect();
  await waitFor(() => Number(redisCli('HLEN', 'sno:{1:presence-same}:p')) === 2,
    5000, 'the socket on A left in Redis');
  await barrier(ch, [w, b]);
  assert.equal(removed(w, ch, 'u1').length, 0, 'u1 is still on B');

  // The last connection leaves on B: member_removed once, on A.
  b.disconnect();
  await waitMessage(w, 'pusher_internal:member_removed', ch, 5000,
    (m) => m.data.user_id === 'u1');
  await barrier(ch, [w]);
  assert.equal(removed(w, ch, 'u1').length, 1, 'member_removed u1 once');
});

test('subscription_succeeded_lists_members_of_both_nodes', async () => {
  const ch = 'presence-both';
  const cs = [];
  for (let i = 0; i < 6; i++) {
    const c = await client(i % 2 ? B : A, user(`m${i}`));
    await subscribe(c, ch);
    cs.push(c);
  }
  for (const node of [A, B]) {
    const late = await client(node, user(`late-${node.port}`));
    await subscribe(late, ch);
    const p = succeeded(late, ch);
    assert.ok(p.count >= 7, `count ${p.count}`);
    for (let i = 0; i < 6; i++) {
      assert.ok(p.ids.includes(`m${i}`), `m${i} missing from ${p.ids}`);
      assert.deepEqual(p.hash[`m${i}`], { name: `Nm${i}` });
    }
    cs.push(late);
  }
  // m1 (on B) sees every other member join exactly once, across nodes.
  await barrier(ch, cs);
  for (let i = 2; i < 6; i++) assert.equal(added(cs[1], ch, `m${i}`).length, 1);
  disconnectAll(cs);
});

test('hundred_member_limit_holds_under_concurrent_joins_on_two_nodes', async () => {
  const ch = 'presence-full';
  const cs = [];
  for (let i = 0; i < 120; i++) {
    cs.push(connectPusher(i % 2 ? B : A, { user: user(`f${i}`) }));
  }
  const conns = await Promise.all(cs);
  clients.push(...conns);
  // All 120 subscribe at once, 60 on each node.
  conns.forEach((c) => c.subscribe(ch));
  await waitFor(() => conns.every((c) =>
    messages(c, 'pusher_internal:subscription_succeeded', ch).length +
    messages(c, 'pusher:subscription_error', ch).length > 0), 20000,
  'every join answered');
  const ok = conns.filter((c) =>
    messages(c, 'pusher_internal:subscription_succeeded', ch).length);
  const full = conns.filter((c) =>
    messages(c, 'pusher:subscription_error', ch).length);
  assert.equal(ok.length, 100, 'exactly 100 joined');
  assert.equal(full.length, 20);
  for (const c of full) {
    assert.equal(messages(c, 'pusher:subscription_error', ch)[0].data.status, 403);
  }
  assert.equal(Number(redisCli('HLEN', 'sno:{1:presence-full}:u')), 100);
  assert.ok(ok.some((c) => c.config.wsPort === A.port));
  assert.ok(ok.some((c) => c.config.wsPort === B.port));
  disconnectAll(conns);
  await waitFor(() => Number(redisCli('HLEN', 'sno:{1:presence-full}:u')) === 0,
    10000, 'every member left in Redis');
});

test('scripts_flushed_from_redis_are_loaded_again', async () => {
  const ch = 'presence-flush';
  redisCli('SCRIPT', 'FLUSH');
  const a = await client(A, user('sf1'));
  await subscribe(a, ch);
  assert.deepEqual(succeeded(a, ch).ids, ['sf1']);
  const b = await client(B, user('sf2'));
  await subscribe(b, ch);
  assert.deepEqual([...succeeded(b, ch).ids].sort(), ['sf1', 'sf2']);
  await waitMessage(a, 'pusher_internal:member_added', ch, 5000,
    (m) => m.data.user_id === 'sf2');
  disconnectAll([a, b]);
});

// Webhooks of one channel and name for user id, from either node.
function hooks(name, ch, id) {
  return rx.events().filter((e) => e.name === name && e.channel === ch &&
    e.user_id === id);
}

test('member_added_and_member_removed_webhooks_once_cluster_wide', async () => {
  const ch = 'presence-hooks';
  const a = await client(A, user('wh1'));
  const b = await client(B, user('wh1'));
  await subscribe(a, ch);
  await subscribe(b, ch);
  // Each node's one webhook worker sends in order of due time: once a
  // marker's hook from each node arrived, so did every earlier one.
  const ma = await client(A, user('mark-a'));
  const mb = await client(B, user('mark-b'));
  await subscribe(ma, ch);
  await subscribe(mb, ch);
  await waitFor(() => hooks('member_added', ch, 'mark-a').length &&
    hooks('member_added', ch, 'mark-b').length, 5000, 'both markers added');
  assert.equal(hooks('member_added', ch, 'wh1').length, 1, 'member_added once');

  a.disconnect();
  b.disconnect();
  await waitFor(() => Number(redisCli('HEXISTS', 'sno:{1:presence-hooks}:u', 'wh1')) === 0,
    5000, 'wh1 gone in Redis');
  ma.disconnect();
  mb.disconnect();
  await waitFor(() => hooks('member_removed', ch, 'mark-a').length &&
    hooks('member_removed', ch, 'mark-b').length, 10000, 'both markers removed');
  assert.equal(hooks('member_removed', ch, 'wh1').length, 1, 'member_removed once');
});

test('every_member_list_is_whole_after_concurrent_joins_on_two_nodes', async () => {
  // Joins racing on two nodes: a member_added that crosses a join's
  // reply must not be lost for the joiner (its list is read again).
  const ch = 'presence-race';
  const n = 80;
  const conns = await Promise.all(Array.from({ length: n }, (_, i) =>
    connectPusher(i % 2 ? B : A, { user: user(`r${i}`) })));
  clients.push(...conns);
  conns.forEach((c) => c.subscribe(ch));
  const counts = () => conns.map((c) => c.channel(ch).members.count);
  await waitFor(() => counts().every((k) => k === n), 20000,
    `every pusher-js client to list ${n} members`).catch((e) => {
    throw new Error(`${e.message}: ${counts().filter((k) => k !== n).length} ` +
      `clients short (${counts().filter((k) => k !== n).join(',')})`);
  });
  await barrier(ch, conns);
  assert.deepEqual(counts(), Array(n).fill(n));
  disconnectAll(conns);
});
