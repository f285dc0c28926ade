'use strict';
// Issue 12 (docs/scaleout.md), publish over Redis: two relay processes on
// one redis-server act as one relay. A publish on either node is delivered
// once to subscribers on both, in the same order; socket_id exclusion and
// client events cross nodes; while Redis is down the HTTP API answers 503
// with Retry-After and websockets stay open; when Redis is back publishes
// flow again without restarting the nodes.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  sdkFor, subscribe, messages, waitMessage, waitFor, signedRequest,
} = require('./lib');
const { startCluster, ready, barrier } = require('./lib/cluster');

let cluster;
let redis;
let A;
let B;
let sdkA;
let sdkB;

// How many nodes SUBSCRIBEd the channel of app 1 on Redis.
function numsub(channel) {
  return Number(cluster.cli('PUBSUB', 'NUMSUB', `sno:c:1:${channel}`).split('\n')[1]);
}

function waitNumsub(channel, n) {
  return waitFor(() => numsub(channel) === n, 5000,
    `${n} nodes subscribed to ${channel} on Redis`);
}

function client(relay, opts) {
  return cluster.client(relay, opts);
}

before(async () => {
  cluster = await startCluster();
  redis = cluster.redis;
  A = await cluster.node('relay-a');
  B = await cluster.node('relay-b');
  sdkA = sdkFor(A);
  sdkB = sdkFor(B);
});

after(() => cluster && cluster.stop());

test('publish_via_A_reaches_subscribers_on_A_and_B_exactly_once', async () => {
  const a = await client(A);
  const b = await client(B);
  await subscribe(a, 'news');
  await subscribe(b, 'news');
  await waitNumsub('news', 2);
  const r = await sdkA.trigger('news', 'story', { n: 1 });
  assert.equal(r.status, 200);
  const ma = await waitMessage(a, 'story', 'news', 5000);
  const mb = await waitMessage(b, 'story', 'news', 5000);
  assert.deepEqual(ma.data, { n: 1 });
  assert.deepEqual(mb.data, { n: 1 });
  await barrier(sdkB, 'news', [a, b]);
  assert.equal(messages(a, 'story', 'news').length, 1);
  assert.equal(messages(b, 'story', 'news').length, 1);
});

test('two_hundred_publishes_alternating_nodes_arrive_in_order_on_both', async () => {
  const a = await client(A);
  const b = await client(B);
  await subscribe(a, 'ticker');
  await subscribe(b, 'ticker');
  await waitNumsub('ticker', 2);
  for (let i = 0; i < 200; i++) {
    const r = await (i % 2 ? sdkB : sdkA).trigger('ticker', 'tick', { i });
    assert.equal(r.status, 200);
  }
  const want = Array.from({ length: 200 }, (_, i) => i);
  for (const c of [a, b]) {
    await waitFor(() => messages(c, 'tick', 'ticker').length >= 200, 10000,
      '200 ticks');
    assert.deepEqual(messages(c, 'tick', 'ticker').map((m) => m.data.i), want);
  }
});

test('socket_id_exclusion_works_for_a_socket_on_the_other_node', async () => {
  const a = await client(A);
  const b = await client(B);
  await subscribe(a, 'excl');
  await subscribe(b, 'excl');
  await waitNumsub('excl', 2);
  await sdkA.trigger('excl', 'not-for-b', { x: 1 }, { socket_id: b.connection.socket_id });
  await waitMessage(a, 'not-for-b', 'excl', 5000);
  await barrier(sdkA, 'excl', [a, b]);
  assert.equal(messages(b, 'not-for-b').length, 0, 'excluded socket got the event');
});

test('client_event_from_a_private_channel_on_A_reaches_B', async () => {
  const a = await client(A);
  const b = await client(B);
  const chA = await subscribe(a, 'private-room');
  await subscribe(b, 'private-room');
  await waitNumsub('private-room', 2);
  assert.ok(chA.trigger('client-typing', { who: 'a' }));
  const m = await waitMessage(b, 'client-typing', 'private-room', 5000);
  assert.deepEqual(m.data, { who: 'a' });
  await barrier(sdkB, 'private-room', [a, b]);
  assert.equal(messages(a, 'client-typing').length, 0, 'client event echoed to sender');
});

test('redis_down_gives_503_retry_after_and_back_delivers_again', async () => {
  const a = await client(A);
  const b = await client(B);
  const chA = await subscribe(a, 'private-outage');
  await subscribe(b, 'private-outage');
  await waitNumsub('private-outage', 2);

  await redis.stop('SIGKILL');
  await waitFor(async () => !(await ready(A)) && !(await ready(B)), 10000,
    'both nodes not ready with redis down');
  const body = { name: 'lost', channels: ['private-outage'], data: '{}' };
  for (const node of [A, B]) {
    const r = await signedRequest(node, 'POST', '/apps/1/events', body);
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    const rb = await signedRequest(node, 'POST', '/apps/1/batch_events',
      { batch: [body] });
    assert.equal(rb.status, 503);
    assert.equal(rb.headers['retry-after'], '1');
  }
  chA.trigger('client-lost', {});
  const err = await waitMessage(a, 'pusher:error', undefined, 5000);
  assert.match(JSON.stringify(err.data), /cluster unavailable/);
  assert.equal(a.connection.state, 'connected');
  assert.equal(b.connection.state, 'connected');

  await redis.start();
  await waitFor(async () => (await ready(A)) && (await ready(B)), 10000,
    'both nodes ready after redis restarted');
  await waitNumsub('private-outage', 2);
  const r = await sdkB.trigger('private-outage', 'back', { ok: true });
  assert.equal(r.status, 200);
  await waitMessage(a, 'back', 'private-outage', 5000);
  await waitMessage(b, 'back', 'private-outage', 5000);
  assert.equal(messages(a, 'lost').length + messages(b, 'lost').length, 0);
  assert.equal(messages(b, 'client-lost').length, 0);
  assert.equal(a.connection.state, 'connected');
  assert.equal(b.connection.state, 'connected');
});
