'use strict';
// Issue 12 (docs/scaleout.md "Gaps"), Redis dropping a node's pub/sub
// connection: the node finds out (a closed connection, or a half-open one
// by its heartbeat), subscribes again by itself, and its subscribers get a
// `sno:gap` event for what was published meanwhile. Checked with pusher-js
// clients on two (three) relays over one redis-server, publishing through
// the other node: every event the HTTP API confirmed reaches each client
// in order and once, or a sno:gap arrives in its place; delivery resumes.
// Redis restarted empty: subscribers are told of the reset. A new
// subscriber is answered once the node's SUBSCRIBE took effect, so it gets
// every event published after subscription_succeeded.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { sdkFor, subscribe, messages, waitFor, freePort } = require('./lib');
const { startCluster, ready, barrier } = require('./lib/cluster');

let cluster;
let A;
let B;
let sdkB;

before(async () => {
  cluster = await startCluster();
  A = await cluster.node('relay-a');
  B = await cluster.node('relay-b');
  sdkB = sdkFor(B);
});

after(() => cluster && cluster.stop());

function numsub(channel) {
  return Number(cluster.cli('PUBSUB', 'NUMSUB', `sno:c:1:${channel}`).split('\n')[1]);
}

function waitNumsub(channel, n) {
  return waitFor(() => numsub(channel) === n, 5000,
    `${n} nodes subscribed to ${channel} on Redis`);
}

// Redis's client id of node's pub/sub connection (it names it sno-sub-<node>).
function subId(node) {
  const line = cluster.cli('CLIENT', 'LIST', 'TYPE', 'pubsub').split('\n')
    .find((l) => l.includes(` name=sno-sub-${node} `));
  return line ? line.match(/^id=(\d+)/)[1] : null;
}

// Publishes tick i on channel; true when the API confirmed it (200).
async function tick(sdk, channel, i) {
  try {
    return (await sdk.trigger(channel, 'tick', { i })).status === 200;
  } catch (_) {
    return false;	// 503 while the node's Redis link is down
  }
}

function ticksOf(c, channel) {
  return messages(c, 'tick', channel).map((m) => m.data.i);
}

/*
 * Every tick of acked reached c once and in order, or a sno:gap came in
 * its place (after the ticks before it, before the ticks after it), with
 * gaps at least as long as what was missed. Returns {missed, gaps}.
 */
function checkDelivery(c, channel, acked) {
  const s = messages(c, undefined, channel)
    .filter((m) => m.event === 'tick' || m.event === 'sno:gap');
  const got = ticksOf(c, channel);
  for (let k = 1; k < got.length; k++) {
    assert.ok(got[k] > got[k - 1], `tick ${got[k]} after ${got[k - 1]} (reordered or twice)`);
  }
  const missed = acked.filter((i) => !got.includes(i));
  for (const i of missed) {
    let lo = -1;
    let hi = s.length;
    s.forEach((m, k) => {
      if (m.event !== 'tick') return;
      if (m.data.i < i) lo = k;
      else if (hi === s.length) hi = k;
    });
    assert.ok(s.slice(lo + 1, hi).some((m) => m.event === 'sno:gap'),
      `tick ${i} was confirmed but neither delivered nor covered by a sno:gap`);
  }
  const gaps = s.filter((m) => m.event === 'sno:gap').map((m) => m.data);
  let size = 0;
  for (const g of gaps) {
    if (g.reset === true) { size = Infinity; continue; }
    assert.ok(Number.isInteger(g.from) && Number.isInteger(g.to) && g.to >= g.from,
      `sno:gap data ${JSON.stringify(g)}`);
    size += g.to - g.from + 1;
  }
  assert.ok(size >= missed.length, `gaps of ${size} events for ${missed.length} missed`);
  return { missed, gaps };
}

test('a_node_whose_pubsub_connection_is_killed_tells_its_subscribers_the_gap', async () => {
  const a = await cluster.client(A);
  const b = await cluster.client(B);
  await subscribe(a, 'feed');
  await subscribe(b, 'feed');
  await waitNumsub('feed', 2);
  const acked = [];
  let i = 0;
  const burst = async (n) => {
    for (let k = 0; k < n; k++, i++) if (await tick(sdkB, 'feed', i)) acked.push(i);
  };
  await burst(10);
  // The node reconnects within a second, so a kill may cost it nothing; a
  // few rounds make sure it missed something.
  for (let round = 0; round < 3; round++) {
    const id = await waitFor(() => subId('relay-a'), 5000, 'relay-a pub/sub connection');
    cluster.cli('CLIENT', 'KILL', 'ID', id);
    await burst(20);
    await waitFor(() => {
      const now = subId('relay-a');
      return now && now !== id && numsub('feed') === 2;
    }, 10000, 'relay-a subscribed again');
    await burst(10);
    await barrier(sdkB, 'feed', [a, b]);
    const got = ticksOf(a, 'feed');
    if (acked.some((k) => !got.includes(k))) break;
  }
  const ra = checkDelivery(a, 'feed', acked);
  assert.ok(ra.missed.length > 0, 'relay-a missed nothing: the kill was not exercised');
  assert.ok(ra.gaps.length > 0);
  const rb = checkDelivery(b, 'feed', acked);
  assert.equal(rb.missed.length, 0, 'relay-b lost events');
  assert.equal(rb.gaps.length, 0, 'relay-b reported a gap it did not have');
  const got = ticksOf(a, 'feed');
  assert.ok(acked.slice(-10).every((k) => got.includes(k)), 'delivery on relay-a resumed');
});

test('client_kill_type_pubsub_while_publishing_through_B_loses_nothing_silently', async () => {
  const a = await cluster.client(A);
  const b = await cluster.client(B);
  await subscribe(a, 'stream');
  await subscribe(b, 'stream');
  await waitNumsub('stream', 2);
  const acked = [];
  let stop = false;
  const pub = (async () => {
    for (let i = 0; !stop; i++) if (await tick(sdkB, 'stream', i)) acked.push(i);
  })();
  try {
    await waitFor(() => acked.length >= 20, 10000, '20 ticks confirmed');
    const ids = [subId('relay-a'), subId('relay-b')];
    cluster.cli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await waitFor(() => {
      const now = [subId('relay-a'), subId('relay-b')];
      return now[0] && now[1] && now[0] !== ids[0] && now[1] !== ids[1] &&
        numsub('stream') === 2;
    }, 10000, 'both nodes subscribed again');
    const n = acked.length;
    await waitFor(() => acked.length >= n + 20, 10000, 'publishes confirmed again');
  } finally {
    stop = true;
    await pub;
  }
  await barrier(sdkB, 'stream', [a, b]);
  for (const c of [a, b]) {
    checkDelivery(c, 'stream', acked);
    const got = ticksOf(c, 'stream');
    assert.ok(acked.slice(-20).every((k) => got.includes(k)), 'delivery resumed');
  }
});

/*
 * A TCP proxy to Redis for one node, so a test can make that node's pub/sub
 * connection half-open: freezeSubs() stops passing bytes either way on the
 * connections that sent SUBSCRIBE, and leaves their sockets open. With
 * subDelayMs, what such a connection sends reaches Redis that much later
 * (a slow link), its first SUBSCRIBE too.
 */
async function redisProxy(redisPort, subDelayMs = 0) {
  const conns = new Set();
  const server = net.createServer((down) => {
    const up = net.connect(redisPort, '127.0.0.1');
    const c = { down, up, sub: false, frozen: false };
    conns.add(c);
    down.on('data', (d) => {
      if (d.toString('latin1').includes('\r\nSUBSCRIBE\r\n')) c.sub = true;
      if (c.frozen) return;
      if (c.sub && subDelayMs) setTimeout(() => up.write(d), subDelayMs);
      else up.write(d);
    });
    up.on('data', (d) => { if (!c.frozen) down.write(d); });
    const end = () => { conns.delete(c); down.destroy(); up.destroy(); };
    for (const s of [down, up]) { s.on('close', end); s.on('error', end); }
  });
  const port = await freePort();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${port}/0`,
    freezeSubs() {
      let n = 0;
      for (const c of conns) if (c.sub && !c.frozen) { c.frozen = true; n++; }
      return n;
    },
    close() {
      for (const c of conns) { c.down.destroy(); c.up.destroy(); }
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

test('a_half_open_pubsub_connection_is_found_by_the_heartbeat_and_the_gap_told', async (t) => {
  const proxy = await redisProxy(cluster.redis.port);
  t.after(() => proxy.close());
  const C = await cluster.node('relay-c', { relay: { redis: proxy.url } });
  const c = await cluster.client(C);
  const b = await cluster.client(B);
  await subscribe(c, 'quiet');
  await subscribe(b, 'quiet');
  await waitNumsub('quiet', 2);
  const id = subId('relay-c');
  assert.equal(proxy.freezeSubs(), 1, 'one pub/sub connection through the proxy');
  const acked = [];
  for (let i = 0; i < 10; i++) if (await tick(sdkB, 'quiet', i)) acked.push(i);
  assert.equal(acked.length, 10);
  // Redis still counts the frozen connection; relay-c has to notice that its
  // heartbeats do not come back, drop it and subscribe on a new one.
  await waitFor(() => {
    const now = subId('relay-c');
    return now && now !== id;
  }, 15000, 'relay-c on a new pub/sub connection');
  await waitFor(() => ready(C), 10000, 'relay-c ready');
  for (let i = 10; i < 15; i++) if (await tick(sdkB, 'quiet', i)) acked.push(i);
  await barrier(sdkB, 'quiet', [c, b]);
  const rc = checkDelivery(c, 'quiet', acked);
  assert.ok(rc.missed.length >= 10, `relay-c missed ${rc.missed.length} of the frozen 10`);
  assert.ok(ticksOf(c, 'quiet').includes(14), 'delivery on relay-c resumed');
  assert.equal(checkDelivery(b, 'quiet', acked).missed.length, 0);
});

test('a_new_subscriber_gets_every_event_published_after_subscription_succeeded', async (t) => {
  // relay-d's SUBSCRIBEs reach Redis 300 ms late: answered before the ack,
  // a subscriber would miss what is published in between.
  const proxy = await redisProxy(cluster.redis.port, 300);
  t.after(() => proxy.close());
  const D = await cluster.node('relay-d', { relay: { redis: proxy.url } });
  const d = await cluster.client(D);
  for (let n = 0; n < 3; n++) {
    const channel = `private-fresh-${n}`;
    await subscribe(d, channel, 5000);
    assert.equal(messages(d, 'pusher:subscription_error', channel).length, 0);
    assert.ok(await tick(sdkB, channel, n));
    await barrier(sdkB, channel, [d]);
    assert.deepEqual(ticksOf(d, channel), [n]);
  }
});

test('redis_restarted_empty_tells_every_subscriber_of_the_reset', async () => {
  const a = await cluster.client(A);
  const b = await cluster.client(B);
  await subscribe(a, 'reborn');
  await subscribe(b, 'reborn');
  await waitNumsub('reborn', 2);
  assert.ok(await tick(sdkB, 'reborn', 0));
  await barrier(sdkB, 'reborn', [a, b]);
  await cluster.redis.stop('SIGKILL');
  await cluster.redis.start();
  await waitFor(async () => (await ready(A)) && (await ready(B)), 15000, 'both nodes ready');
  await waitNumsub('reborn', 2);
  assert.ok(await tick(sdkB, 'reborn', 1));
  await barrier(sdkB, 'reborn', [a, b]);
  for (const c of [a, b]) {
    const s = messages(c, undefined, 'reborn')
      .filter((m) => m.event === 'tick' || m.event === 'sno:gap');
    assert.deepEqual(s.map((m) => (m.event === 'tick' ? m.data.i : m.data)),
      [0, { reset: true }, 1]);
  }
});
