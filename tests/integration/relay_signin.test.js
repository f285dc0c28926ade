'use strict';
// User authentication: pusher:signin, #server-to-user-{id} gated to that
// user, SDK sendToUser, and terminateUserConnections with a reconnectable
// close code.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const {
  startRelay, stopRelay, connectPusher, connectRaw, sdkFor, messages, waitMessage,
  disconnectAll, waitFor, pongBarrier,
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

async function signedIn(id) {
  const c = await connectPusher(relay, { signinUser: { id, name: `user ${id}` } });
  clients.push(c);
  c.signin();
  await waitMessage(c, 'pusher:signin_success', undefined, 2000);
  await waitMessage(c, 'pusher_internal:subscription_succeeded', `#server-to-user-${id}`, 2000);
  return c;
}

test('signin_succeeds_and_returns_user_data', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  const { auth, user_data: userData } =
    sdk.authenticateUser(raw.socketId, { id: 'u-raw', name: 'Raw' });
  raw.send({ event: 'pusher:signin', data: { auth, user_data: userData } });
  const m = await waitMessage(raw, 'pusher:signin_success', undefined, 2000);
  const ud = typeof m.data.user_data === 'string' ? m.data.user_data :
    JSON.stringify(m.data.user_data);
  assert.equal(ud, userData, 'user_data must come back as sent');
});

test('signin_with_bad_signature_is_refused', async () => {
  const raw = await connectRaw(relay);
  clients.push(raw);
  const bad = sdkFor(relay, { secret: 'wrong' });
  const { auth, user_data: userData } = bad.authenticateUser(raw.socketId, { id: 'mallory' });
  raw.send({ event: 'pusher:signin', data: { auth, user_data: userData } });
  await waitMessage(raw, 'pusher:error', undefined, 2000);
  assert.equal(messages(raw, 'pusher:signin_success').length, 0);
  raw.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-mallory' } });
  await pongBarrier(raw);
  assert.equal(messages(raw, 'pusher_internal:subscription_succeeded').length, 0);
});

test('signed_in_user_receives_sendToUser', async () => {
  const c = await signedIn('u1');
  const got = [];
  c.user.bind('notice', (d) => got.push(d));
  const res = await sdk.sendToUser('u1', 'notice', { text: 'hello u1' });
  assert.equal(res.status, 200);
  await waitFor(() => got.length === 1, 2000, 'sendToUser delivery');
  assert.deepEqual(got[0], { text: 'hello u1' });
});

test('sendToUser_reaches_every_connection_of_that_user_only', async () => {
  const a = await signedIn('u2');
  const b = await signedIn('u2');
  const other = await signedIn('u3');
  await sdk.sendToUser('u2', 'ping-user', { n: 2 });
  await waitMessage(a, 'ping-user', '#server-to-user-u2', 2000);
  await waitMessage(b, 'ping-user', '#server-to-user-u2', 2000);
  await pongBarrier(other); // queued before the API answered, if at all
  assert.equal(messages(other, 'ping-user').length, 0);
});

test('server_to_user_channel_is_refused_without_signin', async () => {
  await signedIn('u4');
  const raw = await connectRaw(relay);
  clients.push(raw);
  raw.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-u4' } });
  await waitFor(() => raw.msgs.find((m) => m.event === 'pusher:subscription_error' ||
    m.event === 'pusher:error'), 2000, 'refusal');
  await sdk.sendToUser('u4', 'private-note', { secret: true });
  await pongBarrier(raw); // queued before the API answered, if at all
  assert.equal(messages(raw, 'pusher_internal:subscription_succeeded').length, 0);
  assert.equal(messages(raw, 'private-note').length, 0);
});

test('server_to_user_channel_of_another_user_is_refused', async () => {
  const c = await signedIn('u5');
  c.send_event('pusher:subscribe', { channel: '#server-to-user-u6', auth: '' });
  await waitFor(() => messages(c, 'pusher:subscription_error', '#server-to-user-u6')[0] ||
    messages(c, 'pusher:error')[0], 2000, 'refusal');
  await sdk.sendToUser('u6', 'not-yours', {});
  await pongBarrier(c); // queued before the API answered, if at all
  assert.equal(messages(c, 'not-yours').length, 0);
});

test('terminateUserConnections_disconnects_user_and_pusher_js_reconnects', async () => {
  const c = await signedIn('u7');
  const bystander = await signedIn('u8');
  const raw = await connectRaw(relay);
  clients.push(raw);
  const { auth, user_data: userData } = sdk.authenticateUser(raw.socketId, { id: 'u7' });
  raw.send({ event: 'pusher:signin', data: { auth, user_data: userData } });
  await waitMessage(raw, 'pusher:signin_success', undefined, 2000);

  const oldId = c.connection.socket_id;
  const res = await sdk.terminateUserConnections('u7');
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});

  await waitFor(() => raw.closed, 3000, 'raw u7 connection closed');
  const code = raw.closed.code;
  assert.ok(!((code >= 4001 && code <= 4099) || code >= 4300 || code === 4000),
    `close code ${code} makes pusher-js give up or switch to TLS`);

  await waitFor(() => c.states.some((s) => s.previous === 'connected'), 3000,
    'pusher-js u7 to leave connected');
  await waitFor(() => c.connection.state === 'connected' &&
    c.connection.socket_id !== oldId, 8000, 'pusher-js u7 to reconnect');
  assert.equal(bystander.connection.state, 'connected');
  assert.ok(!bystander.states.some((s) => s.previous === 'connected'),
    'other users must stay connected');
});

test('signin_user_data_with_bytes_after_the_json_is_refused', async () => {
  // Signed correctly, but user_data is one object and then more (F5).
  const raw = await connectRaw(relay);
  clients.push(raw);
  const crypto = require('node:crypto');
  const userData = '{"id":"u-tail"} {"id":"other"}';
  const auth = `${relay.app.key}:` + crypto.createHmac('sha256', relay.app.secret)
    .update(`${raw.socketId}::user::${userData}`).digest('hex');
  raw.send({ event: 'pusher:signin', data: { auth, user_data: userData } });
  const e = await waitMessage(raw, 'pusher:error', undefined, 2000);
  assert.match(e.data.message, /user_data is not one JSON object: bytes after the JSON value/);
  raw.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-u-tail' } });
  await pongBarrier(raw);
  assert.equal(messages(raw, 'pusher:signin_success').length, 0);
  assert.equal(messages(raw, 'pusher_internal:subscription_succeeded').length, 0);
});
