'use strict';
// A subscriber that stops reading is cut off once its queue passes
// send_queue_bytes; the other subscribers keep receiving every event, in
// order and on time, and /metrics counts the disconnect.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, connectStalled, sdkFor, subscribe, messages,
  disconnectAll, waitFor, scrapeMetrics, metric,
} = require('./lib');
const { bound } = require('./lib/wait');

const QUEUE = 65536;
const EVENTS = 256;
const SIZE = 16 * 1024;
let relay;
let sdk;
const clients = [];
let stalled;

before(async () => {
  relay = await startRelay({ relay: { send_queue_bytes: QUEUE } });
  sdk = sdkFor(relay);
});

after(async () => {
  disconnectAll(clients);
  if (stalled) stalled.sock.destroy();
  await stopRelay(relay);
});

test('slow_consumer_is_disconnected_and_others_keep_receiving_in_order', async () => {
  const ch = 'firehose';
  const fast = await connectPusher(relay);
  clients.push(fast);
  await subscribe(fast, ch);
  stalled = await connectStalled(relay, ch);

  const before = await scrapeMetrics(relay);
  const cutBefore = metric(before, 'sno_slow_consumer_disconnects_total') || 0;
  let res = await sdk.get({ path: `/channels/${ch}`, params: { info: 'subscription_count' } });
  assert.equal((await res.json()).subscription_count, 2);

  const pad = 'p'.repeat(SIZE);
  const sentAt = [];
  for (let i = 0; i < EVENTS; i++) {
    sentAt.push(Date.now());
    const r = await sdk.trigger(ch, 'tick', { i, pad });
    assert.equal(r.status, 200);
  }
  const lastSent = Date.now();

  await waitFor(() => messages(fast, 'tick', ch).length >= EVENTS, 5000,
    `fast subscriber to get ${EVENTS} events (has ${messages(fast, 'tick', ch).length})`);
  const ticks = messages(fast, 'tick', ch);
  assert.equal(ticks.length, EVENTS);
  assert.deepEqual(ticks.map((m) => m.data.i), Array.from({ length: EVENTS }, (_, i) => i));
  assert.ok(ticks.every((m) => m.data.pad.length === SIZE));
  const lags = ticks.map((m, i) => m.at - sentAt[i]);
  const worst = Math.max(...lags);
  // A stalled peer must not hold the others back: 1 s on a quiet
  // machine, widened by bound() for the ASan build on busy cores.
  assert.ok(worst < bound(1000), `fast subscriber lagged ${worst} ms behind the publisher`);
  assert.ok(ticks[EVENTS - 1].at - lastSent < bound(1000));
  assert.equal(fast.connection.state, 'connected');

  // The stalled one is gone: count drops to 1 and the metric counts it.
  await waitFor(async () => {
    const r = await sdk.get({ path: `/channels/${ch}`, params: { info: 'subscription_count' } });
    return (await r.json()).subscription_count === 1;
  }, 3000, 'stalled subscriber to be dropped');
  const afterM = await scrapeMetrics(relay);
  assert.equal(metric(afterM, 'sno_slow_consumer_disconnects_total'), cutBefore + 1);
  assert.equal(metric(afterM, 'sno_connections'), 1);
  assert.match(relay.logs(), /slow.consumer/i, 'the cut is logged');
  assert.ok(relay.alive());
});
