'use strict';
// Protocol 7 over the websocket: handshake, pings, public and private
// subscriptions, with real pusher-js and raw ws clients.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, connectRaw, sdkFor, subscribe, messages,
  waitMessage, disconnectAll, waitFor, pongBarrier,
} = require('./lib');

let relay;
let sdk;
const clients = [];

before(async () => {
  relay = await startRelay({ relay: { activity_timeout: 37 } });
  sdk = sdkFor(relay);
});

after(async () => {
  disconnectAll(clients);
  await stopRelay(relay);
});

test('handshake_sends_connection_established_with_socket_id_and_activity_timeout', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  const first = raw.msgs[0];
  assert.equal(first.event, 'pusher:connection_established');
  assert.equal(typeof first.rawData, 'string',
    `data must be a JSON string, got ${JSON.stringify(first.rawData)}`);
  assert.match(first.data.socket_id, /^\d+\.\d+$/);
  assert.equal(first.data.activity_timeout, 37);
});

test('socket_ids_are_unique_per_connection', async () => {
  const a = await connectRaw(relay);
  const b = await connectRaw(relay);
  clients.push(a, b);
  assert.ok(a.socketId && b.socketId);
  assert.notEqual(a.socketId, b.socketId);
});

test('unknown_app_key_gets_error_4001_and_close_4001', async () => {
  const raw = await connectRaw(relay, { key: 'no-such-key' });
  clients.push(raw);
  await waitFor(() => raw.closed, 3000, 'close after unknown key');
  const err = raw.msgs.find((m) => m.event === 'pusher:error');
  assert.ok(err, `expected pusher:error, got ${JSON.stringify(raw.msgs)}`);
  assert.equal(err.data.code, 4001);
  assert.equal(raw.closed.code, 4001);
});

test('pusher_ping_is_answered_with_pusher_pong', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  raw.send({ event: 'pusher:ping', data: {} });
  await waitMessage(raw, 'pusher:pong', undefined, 2000);
});

test('rfc6455_ping_frame_is_answered_with_pong_frame', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  raw.ws.ping(Buffer.from('hello'));
  await waitFor(() => raw.pongs > 0, 2000, 'pong frame');
});

test('pusher_js_connects_and_gets_socket_id', async () => {
  const c = await connectPusher(relay);
  clients.push(c);
  assert.match(c.connection.socket_id, /^\d+\.\d+$/);
});

test('public_subscribe_then_sdk_trigger_is_delivered', async () => {
  const c = await connectPusher(relay);
  clients.push(c);
  const ch = await subscribe(c, 'news');
  assert.ok(messages(c, 'pusher_internal:subscription_succeeded', 'news').length === 1);
  const got = [];
  ch.bind('headline', (d) => got.push(d));
  const res = await sdk.trigger('news', 'headline', { title: 'sno ships', n: 1 });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  await waitFor(() => got.length === 1, 2000, 'headline event');
  assert.deepEqual(got[0], { title: 'sno ships', n: 1 });
});

test('event_data_is_sent_as_string_and_arrives_verbatim', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  raw.send({ event: 'pusher:subscribe', data: { channel: 'verbatim' } });
  await waitMessage(raw, 'pusher_internal:subscription_succeeded', 'verbatim');
  const data = '{"b":2,  "a":"\\u00e9x"}';
  await sdk.trigger('verbatim', 'ev', data);
  const m = await waitMessage(raw, 'ev', 'verbatim');
  assert.equal(m.rawData, data);
});

test('private_channel_authorised_with_sdk_authorizeChannel_subscribes', async () => {
  const c = await connectPusher(relay);
  clients.push(c);
  const ch = await subscribe(c, 'private-orders');
  assert.equal(messages(c, 'pusher:subscription_error', 'private-orders').length, 0,
    JSON.stringify(messages(c, 'pusher:subscription_error')));
  assert.equal(messages(c, 'pusher_internal:subscription_succeeded', 'private-orders').length, 1);
  const got = [];
  ch.bind('order', (d) => got.push(d));
  await sdk.trigger('private-orders', 'order', { id: 7 });
  await waitFor(() => got.length === 1, 2000, 'private event');
  assert.deepEqual(got[0], { id: 7 });
});

test('private_channel_with_bad_signature_gets_subscription_error', async () => {
  const c = await connectPusher(relay, { authSecret: 'wrong-secret' });
  clients.push(c);
  const ch = c.subscribe('private-vault');
  const errors = [];
  ch.bind('pusher:subscription_error', (e) => errors.push(e));
  const m = await waitMessage(c, 'pusher:subscription_error', 'private-vault', 3000);
  assert.equal(m.data.type, 'AuthError');
  assert.equal(m.data.status, 401);
  assert.equal(typeof m.data.error, 'string');
  assert.ok(m.data.error.length > 0);
  await waitFor(() => errors.length === 1, 1000, 'channel-level subscription_error');
  assert.equal(messages(c, 'pusher_internal:subscription_succeeded', 'private-vault').length, 0);
  // Not subscribed: an event on the channel must not reach it.
  await sdk.trigger('private-vault', 'secret', { x: 1 });
  await pongBarrier(c); // queued before the API answered, if at all
  assert.equal(messages(c, 'secret').length, 0);
  assert.equal(c.connection.state, 'connected');
});

test('private_channel_without_auth_is_refused', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  raw.send({ event: 'pusher:subscribe', data: { channel: 'private-noauth' } });
  await waitFor(() => raw.msgs.find((m) => m.event === 'pusher:subscription_error' ||
    m.event === 'pusher:error'), 2000, 'refusal');
  assert.equal(messages(raw, 'pusher_internal:subscription_succeeded', 'private-noauth').length, 0);
});

test('private_auth_for_another_socket_is_refused', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  const { auth } = sdk.authorizeChannel('1234.5678', 'private-stolen');
  raw.send({ event: 'pusher:subscribe', data: { channel: 'private-stolen', auth } });
  const m = await waitMessage(raw, 'pusher:subscription_error', 'private-stolen', 2000);
  assert.equal(m.data.status, 401);
});

test('private_encrypted_channel_authorised_subscribes', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  const name = 'private-encrypted-box';
  const { auth } = sdk.authorizeChannel(raw.socketId, name);
  raw.send({ event: 'pusher:subscribe', data: { channel: name, auth } });
  await waitMessage(raw, 'pusher_internal:subscription_succeeded', name, 2000);
});

test('private_encrypted_event_from_sdk_is_decrypted_by_pusher_js', async () => {
  // The relay passes the ciphertext through byte for byte; pusher-js
  // decrypts it with the shared_secret from the SDK's authorisation.
  const c = await connectPusher(relay);
  clients.push(c);
  const name = 'private-encrypted-e2e';
  const ch = await subscribe(c, name);
  assert.equal(messages(c, 'pusher_internal:subscription_succeeded', name).length, 1);
  const got = [];
  ch.bind('sealed', (d) => got.push(d));
  await sdk.trigger(name, 'sealed', { secret: 'ok', n: [1, 2, 3] });
  await waitFor(() => got.length === 1, 2000, 'decrypted event');
  assert.deepEqual(got[0], { secret: 'ok', n: [1, 2, 3] });
  const raw = messages(c, 'sealed', name)[0];
  assert.ok(raw.data.ciphertext && raw.data.nonce, 'relay must not alter the ciphertext');
});

test('unsubscribe_stops_delivery', async () => {
  const c = await connectPusher(relay);
  clients.push(c);
  await subscribe(c, 'leaving');
  c.unsubscribe('leaving');
  await pongBarrier(c); // the relay handled the unsubscribe
  await sdk.trigger('leaving', 'after', {});
  await pongBarrier(c);
  assert.equal(messages(c, 'after').length, 0);
});

test('double_subscribe_does_not_duplicate_deliveries', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  raw.send({ event: 'pusher:subscribe', data: { channel: 'twice' } });
  await waitMessage(raw, 'pusher_internal:subscription_succeeded', 'twice');
  raw.send({ event: 'pusher:subscribe', data: { channel: 'twice' } });
  await pongBarrier(raw); // the relay handled the second subscribe
  await sdk.trigger('twice', 'once', {});
  await waitMessage(raw, 'once', 'twice');
  await pongBarrier(raw);
  assert.equal(messages(raw, 'once', 'twice').length, 1);
});
