'use strict';
// Cache channels: the last event is replayed right after
// subscription_succeeded; without one the relay sends pusher:cache_miss.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, connectRaw, sdkFor, subscribe, messages,
  waitMessage, disconnectAll, eventBarrier,
} = require('./lib');

let relay;
let sdk;
const clients = [];

before(async () => {
  relay = await startRelay();
  sdk = sdkFor(relay);
});

after(async () => {
  disconnectAll(clients);
  await stopRelay(relay);
});

function onChannel(c, ch) {
  return c.received.filter((m) => m.channel === ch);
}

test('cache_channel_without_event_sends_cache_miss', async () => {
  const c = await connectPusher(relay);
  clients.push(c);
  const ch = c.subscribe('cache-empty');
  const misses = [];
  ch.bind('pusher:cache_miss', () => misses.push(1));
  const m = await waitMessage(c, 'pusher:cache_miss', 'cache-empty', 2000);
  assert.equal(m.channel, 'cache-empty');
  const seq = onChannel(c, 'cache-empty').map((x) => x.event);
  assert.deepEqual(seq, ['pusher_internal:subscription_succeeded', 'pusher:cache_miss']);
  assert.equal(misses.length, 1);
});

test('cache_channel_replays_last_event_after_subscription_succeeded', async () => {
  const name = 'cache-prices';
  await sdk.trigger(name, 'price', { v: 1 });
  await sdk.trigger(name, 'price', { v: 2 });
  const c = await connectPusher(relay);
  clients.push(c);
  const got = [];
  const ch = c.subscribe(name);
  ch.bind('price', (d) => got.push(d));
  await waitMessage(c, 'price', name, 2000);
  await eventBarrier(sdk, name, [c]); // a second replay would come before it
  const seq = onChannel(c, name).map((x) => x.event).filter((e) => e !== 'barrier');
  assert.deepEqual(seq, ['pusher_internal:subscription_succeeded', 'price']);
  assert.deepEqual(got, [{ v: 2 }]);
  assert.equal(messages(c, 'pusher:cache_miss').length, 0);
  // Live events still flow after the replay.
  await sdk.trigger(name, 'price', { v: 3 });
  await waitMessage(c, 'price', name, 2000, (m) => m.data.v === 3);
});

test('private_cache_channel_replays_last_event', async () => {
  const name = 'private-cache-orders';
  const first = await connectPusher(relay);
  clients.push(first);
  await subscribe(first, name);
  await waitMessage(first, 'pusher:cache_miss', name, 2000);
  await sdk.trigger(name, 'order', { id: 'o-1' });
  await waitMessage(first, 'order', name, 2000);
  const c = await connectPusher(relay);
  clients.push(c);
  c.subscribe(name);
  const m = await waitMessage(c, 'order', name, 2000);
  assert.deepEqual(m.data, { id: 'o-1' });
  assert.deepEqual(onChannel(c, name).map((x) => x.event),
    ['pusher_internal:subscription_succeeded', 'order']);
});

test('presence_cache_channel_replays_last_event', async () => {
  const name = 'presence-cache-lobby';
  await sdk.trigger(name, 'topic', { t: 'hello' });
  const c = await connectPusher(relay, { user: { user_id: 'p1', user_info: {} } });
  clients.push(c);
  c.subscribe(name);
  const m = await waitMessage(c, 'topic', name, 2000);
  assert.deepEqual(m.data, { t: 'hello' });
  assert.deepEqual(onChannel(c, name).map((x) => x.event),
    ['pusher_internal:subscription_succeeded', 'topic']);
});

test('cache_replay_is_byte_exact', async () => {
  const name = 'cache-exact';
  const data = '{"z":1, "a": "\\u00e9"}';
  await sdk.trigger(name, 'raw', data);
  const raw = await connectRaw(relay);
  clients.push(raw);
  raw.send({ event: 'pusher:subscribe', data: { channel: name } });
  const m = await waitMessage(raw, 'raw', name, 2000);
  assert.equal(m.rawData, data);
});

test('public_channel_does_not_replay_or_send_cache_miss', async () => {
  const name = 'plain-no-cache';
  await sdk.trigger(name, 'old', { v: 1 });
  const c = await connectPusher(relay);
  clients.push(c);
  await subscribe(c, name);
  await eventBarrier(sdk, name, [c]); // a replay would come before it
  assert.deepEqual(onChannel(c, name).map((x) => x.event),
    ['pusher_internal:subscription_succeeded', 'barrier']);
});
