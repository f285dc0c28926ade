'use strict';
// Presence channels: two users on three connections. Members are unique per
// user, member_added goes out for a user's first connection only and
// member_removed after the last one leaves, never to the joiner itself.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, connectRaw, sdkFor, subscribe, messages, waitMessage,
  disconnectAll, waitFor,
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

const U1 = { user_id: 'u1', user_info: { name: 'Ada' } };
const U2 = { user_id: 'u2', user_info: { name: 'Bob' } };

// Trigger a marker event and wait until every client has it: whatever the
// relay queued to them before the marker has then arrived.
async function barrier(channel, cs) {
  const tag = `b${Date.now()}${Math.random()}`;
  await sdk.trigger(channel, 'barrier', { tag });
  for (const c of cs) {
    await waitMessage(c, 'barrier', channel, 2000, (m) => m.data && m.data.tag === tag);
  }
}

function succeeded(c, ch) {
  const m = messages(c, 'pusher_internal:subscription_succeeded', ch)[0];
  assert.ok(m, `no subscription_succeeded on ${ch}: ${JSON.stringify(c.received)}`);
  return m.data.presence;
}

test('presence_two_users_three_connections_members_unique_added_removed_once', async () => {
  const ch = 'presence-room';
  const a1 = await connectPusher(relay, { user: U1 });
  const b = await connectPusher(relay, { user: U2 });
  const a2 = await connectPusher(relay, { user: U1 });
  clients.push(a1, b, a2);

  // u1 joins first: alone in the channel.
  await subscribe(a1, ch);
  let p = succeeded(a1, ch);
  assert.equal(p.count, 1);
  assert.deepEqual(p.ids, ['u1']);
  assert.deepEqual(p.hash, { u1: { name: 'Ada' } });

  // u2 joins: sees both, u1 gets member_added u2 once.
  await subscribe(b, ch);
  p = succeeded(b, ch);
  assert.equal(p.count, 2);
  assert.deepEqual([...p.ids].sort(), ['u1', 'u2']);
  assert.deepEqual(p.hash, { u1: { name: 'Ada' }, u2: { name: 'Bob' } });
  const added = await waitMessage(a1, 'pusher_internal:member_added', ch, 2000);
  assert.equal(added.data.user_id, 'u2');
  assert.deepEqual(added.data.user_info, { name: 'Bob' });

  // u1's second connection joins: counts stay unique, nobody hears of it.
  await subscribe(a2, ch);
  p = succeeded(a2, ch);
  assert.equal(p.count, 2);
  assert.deepEqual([...p.ids].sort(), ['u1', 'u2']);
  await barrier(ch, [a1, b, a2]);
  assert.equal(messages(b, 'pusher_internal:member_added', ch).length, 0,
    'u2 must not hear member_added for a second u1 connection');
  assert.equal(messages(a1, 'pusher_internal:member_added', ch).length, 1);
  assert.equal(messages(b, 'pusher_internal:member_added', ch)
    .filter((m) => m.data.user_id === 'u2').length, 0, 'joiner must not hear itself');
  assert.equal(b.channel(ch).members.count, 2);

  // The HTTP API agrees: two unique users.
  const users = await (await sdk.get({ path: `/channels/${ch}/users` })).json();
  assert.deepEqual(users.users.map((u) => u.id).sort(), ['u1', 'u2']);

  // u1 closes one of two connections: no member_removed.
  a1.disconnect();
  await waitFor(async () => (await (await sdk.get({ path: `/channels/${ch}`,
    params: { info: 'subscription_count' } })).json()).subscription_count === 2,
  3000, 'the relay to see a1 leave');
  await barrier(ch, [b, a2]);
  assert.equal(messages(b, 'pusher_internal:member_removed', ch).length, 0,
    'member_removed must wait for the last u1 connection');
  assert.equal(b.channel(ch).members.count, 2);

  // u1's last connection leaves: member_removed u1 once.
  a2.disconnect();
  const removed = await waitMessage(b, 'pusher_internal:member_removed', ch, 5000);
  assert.equal(removed.data.user_id, 'u1');
  await barrier(ch, [b]); // a second one would come in the same leave, before it
  assert.equal(messages(b, 'pusher_internal:member_removed', ch).length, 1);
  assert.equal(b.channel(ch).members.count, 1);
});

test('presence_numeric_user_id_is_keyed_as_string', async () => {
  const ch = 'presence-numeric';
  const c = await connectPusher(relay, { user: { user_id: 42, user_info: {} } });
  clients.push(c);
  // The SDK serialises channel_data as given; the relay reports string ids.
  await subscribe(c, ch);
  const p = succeeded(c, ch);
  assert.equal(p.count, 1);
  assert.deepEqual(p.ids, ['42']);
  assert.ok(Object.prototype.hasOwnProperty.call(p.hash, '42'));
});

test('presence_without_channel_data_is_refused', async () => {
  // pusher-js itself refuses to send this, so use a raw client.
  const ch = 'presence-nodata';
  const raw = await connectRaw(relay);
  clients.push(raw);
  const { auth } = sdk.authorizeChannel(raw.socketId, ch);
  raw.send({ event: 'pusher:subscribe', data: { channel: ch, auth } });
  await waitFor(() => messages(raw, 'pusher:subscription_error', ch)[0] ||
    messages(raw, 'pusher:error')[0], 2000, 'refusal of presence without channel_data');
  assert.equal(messages(raw, 'pusher_internal:subscription_succeeded', ch).length, 0);
});

test('presence_channel_data_is_verified_as_signed', async () => {
  // Sign one channel_data, send another: refused.
  const ch = 'presence-tamper';
  const raw = await connectRaw(relay);
  clients.push(raw);
  const { auth } = sdk.authorizeChannel(raw.socketId, ch, { user_id: 'honest', user_info: {} });
  raw.send({ event: 'pusher:subscribe', data: { channel: ch, auth,
    channel_data: JSON.stringify({ user_id: 'admin', user_info: {} }) } });
  const m = await waitMessage(raw, 'pusher:subscription_error', ch, 2000);
  assert.equal(m.data.status, 401);
});
