'use strict';
// The HTTP API under /apps/{id}/, driven by the official `pusher` SDK (and
// hand-signed requests where the SDK refuses): triggers, info, batches,
// channel queries, size limits and signature checks.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const {
  startRelay, stopRelay, connectPusher, connectRaw, sdkFor, subscribe, messages,
  waitMessage, disconnectAll, waitFor, signedRequest, request, eventBarrier,
} = require('./lib');

const MAX = 1048576;
let relay;
let sdk;
const clients = [];

before(async () => {
  relay = await startRelay({ relay: { max_message_bytes: MAX } });
  sdk = sdkFor(relay);
});

after(async () => {
  disconnectAll(clients);
  await stopRelay(relay);
});

async function sub(ch, opts) {
  const c = await connectPusher(relay, opts);
  clients.push(c);
  await subscribe(c, ch);
  return c;
}

async function expectStatus(promise, status) {
  const err = await promise.then(
    (res) => assert.fail(`expected HTTP ${status}, got ${res.status}`),
    (e) => e);
  assert.equal(err.status, status, `expected ${status}: ${err.message} ${err.body}`);
  const body = JSON.parse(err.body);
  assert.equal(typeof body.error, 'string', `error body: ${err.body}`);
  assert.ok(body.error.length > 0);
  return body;
}

function assertErrorBody(r, status) {
  assert.equal(r.status, status, `expected ${status}, got ${r.status}: ${r.body}`);
  assert.ok(r.json && typeof r.json.error === 'string' && r.json.error.length > 0,
    `error body must be JSON {"error":...}: ${r.body}`);
}

test('trigger_to_channel_array_reaches_each_channel', async () => {
  const a = await sub('multi-a');
  const b = await sub('multi-b');
  const c = await sub('multi-c');
  const res = await sdk.trigger(['multi-a', 'multi-b', 'multi-c'], 'fan', { k: 'v' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  for (const [cl, ch] of [[a, 'multi-a'], [b, 'multi-b'], [c, 'multi-c']]) {
    const m = await waitMessage(cl, 'fan', ch, 2000);
    assert.deepEqual(m.data, { k: 'v' });
  }
  await eventBarrier(sdk, 'multi-a', [a]); // a second copy would come before it
  assert.equal(messages(a, 'fan').length, 1);
});

test('trigger_to_100_channels_is_accepted', async () => {
  const chans = Array.from({ length: 100 }, (_, i) => `hundred-${i}`);
  const c = await sub('hundred-99');
  const res = await sdk.trigger(chans, 'h', { ok: 1 });
  assert.equal(res.status, 200);
  await waitMessage(c, 'h', 'hundred-99', 2000);
});

test('trigger_to_more_than_100_channels_is_refused_400', async () => {
  const chans = Array.from({ length: 101 }, (_, i) => `over-${i}`);
  const r = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'x', data: '{}', channels: chans });
  assertErrorBody(r, 400);
});

test('trigger_with_socket_id_excludes_that_connection', async () => {
  const a = await sub('exclusive');
  const b = await sub('exclusive');
  await sdk.trigger('exclusive', 'not-for-a', { n: 1 },
    { socket_id: a.connection.socket_id });
  await waitMessage(b, 'not-for-a', 'exclusive', 2000);
  await sdk.trigger('exclusive', 'for-all', { n: 2 });
  await waitMessage(a, 'for-all', 'exclusive', 2000);
  assert.equal(messages(a, 'not-for-a').length, 0, 'excluded socket received the event');
});

test('trigger_with_info_subscription_count_reports_counts', async () => {
  await sub('counted');
  await sub('counted');
  const res = await sdk.trigger('counted', 'ev', {}, { info: 'subscription_count' });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(),
    { channels: { counted: { subscription_count: 2 } } });
});

test('trigger_with_info_user_count_on_presence_reports_unique_users', async () => {
  const ch = 'presence-info';
  await sub(ch, { user: { user_id: 'x1', user_info: {} } });
  await sub(ch, { user: { user_id: 'x1', user_info: {} } });
  await sub(ch, { user: { user_id: 'x2', user_info: {} } });
  const res = await sdk.trigger(ch, 'ev', {}, { info: 'user_count' });
  assert.deepEqual(await res.json(), { channels: { [ch]: { user_count: 2 } } });
});

test('triggerBatch_delivers_each_event_to_its_channel', async () => {
  const a = await sub('batch-a');
  const b = await sub('batch-b');
  const res = await sdk.triggerBatch([
    { channel: 'batch-a', name: 'first', data: { i: 1 } },
    { channel: 'batch-b', name: 'second', data: { i: 2 } },
    { channel: 'batch-a', name: 'third', data: { i: 3 } },
  ]);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  assert.deepEqual((await waitMessage(a, 'first', 'batch-a', 2000)).data, { i: 1 });
  assert.deepEqual((await waitMessage(b, 'second', 'batch-b', 2000)).data, { i: 2 });
  assert.deepEqual((await waitMessage(a, 'third', 'batch-a', 2000)).data, { i: 3 });
  const order = messages(a, undefined, 'batch-a').map((m) => m.event)
    .filter((e) => !e.startsWith('pusher'));
  assert.deepEqual(order, ['first', 'third']);
  assert.equal(messages(b, 'first').length, 0);
});

test('get_channels_filters_by_prefix_and_lists_only_occupied', async () => {
  await sub('list-one');
  await sub('list-two');
  await sub('list-two');
  await sdk.trigger('list-ghost', 'nobody', {});
  await sub('other-prefix');
  const res = await sdk.get({ path: '/channels',
    params: { filter_by_prefix: 'list-', info: 'subscription_count' } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(Object.keys(body.channels).sort(), ['list-one', 'list-two']);
  assert.equal(body.channels['list-two'].subscription_count, 2);
  assert.equal(body.channels['list-one'].subscription_count, 1);
});

test('get_channels_presence_prefix_with_user_count', async () => {
  const ch = 'presence-listed';
  await sub(ch, { user: { user_id: 'l1', user_info: {} } });
  await sub(ch, { user: { user_id: 'l2', user_info: {} } });
  await sub(ch, { user: { user_id: 'l2', user_info: {} } });
  const res = await sdk.get({ path: '/channels',
    params: { filter_by_prefix: 'presence-listed', info: 'user_count' } });
  const body = await res.json();
  assert.deepEqual(body, { channels: { [ch]: { user_count: 2 } } });
});

test('get_channels_user_count_without_presence_prefix_is_400', async () => {
  await expectStatus(sdk.get({ path: '/channels', params: { info: 'user_count' } }), 400);
});

test('get_channel_reports_occupied_and_subscription_count', async () => {
  await sub('info-ch');
  await sub('info-ch');
  let res = await sdk.get({ path: '/channels/info-ch',
    params: { info: 'subscription_count' } });
  assert.equal(res.status, 200);
  let body = await res.json();
  assert.equal(body.occupied, true);
  assert.equal(body.subscription_count, 2);
  res = await sdk.get({ path: '/channels/empty-ch', params: { info: 'subscription_count' } });
  body = await res.json();
  assert.equal(body.occupied, false);
  assert.ok(body.subscription_count === undefined || body.subscription_count === 0);
});

test('get_presence_channel_reports_user_count', async () => {
  const ch = 'presence-counted';
  await sub(ch, { user: { user_id: 'c1', user_info: {} } });
  await sub(ch, { user: { user_id: 'c1', user_info: {} } });
  await sub(ch, { user: { user_id: 'c2', user_info: {} } });
  const res = await sdk.get({ path: `/channels/${ch}`, params: { info: 'user_count' } });
  assert.deepEqual(await res.json(), { occupied: true, user_count: 2 });
});

test('get_presence_users_lists_unique_ids', async () => {
  const ch = 'presence-users';
  await sub(ch, { user: { user_id: 'q1', user_info: {} } });
  await sub(ch, { user: { user_id: 'q2', user_info: {} } });
  await sub(ch, { user: { user_id: 'q2', user_info: {} } });
  const res = await sdk.get({ path: `/channels/${ch}/users` });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body.users.map((u) => u.id).sort(), ['q1', 'q2']);
  assert.equal(body.users.length, 2);
});

test('get_users_of_non_presence_channel_is_400', async () => {
  await expectStatus(sdk.get({ path: '/channels/not-presence/users' }), 400);
});

test('event_of_512_kb_is_delivered_intact', async () => {
  const c = await sub('big');
  const blob = crypto.randomBytes(384 * 1024).toString('base64'); // 512 KiB of text
  assert.equal(blob.length, 512 * 1024);
  const res = await sdk.trigger('big', 'blob', { blob });
  assert.equal(res.status, 200);
  const m = await waitMessage(c, 'blob', 'big', 5000);
  assert.equal(m.data.blob.length, blob.length);
  assert.ok(m.data.blob === blob, 'payload changed in transit');
});

test('event_data_over_max_message_bytes_is_refused_413', async () => {
  const c = await sub('too-big');
  const data = 'x'.repeat(MAX + 1);
  await expectStatus(sdk.trigger('too-big', 'huge', data), 413);
  await eventBarrier(sdk, 'too-big', [c]);
  assert.equal(messages(c, 'huge').length, 0);
});

test('wrong_signature_is_refused_401', async () => {
  const bad = sdkFor(relay, { secret: 'not-the-secret' });
  await expectStatus(bad.trigger('news', 'x', {}), 401);
  await expectStatus(bad.get({ path: '/channels' }), 401);
});

test('timestamp_eleven_minutes_old_is_refused_401', async () => {
  const ts = Math.floor(Date.now() / 1000) - 11 * 60;
  const r = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'x', data: '{}', channel: 'news' }, { timestamp: ts });
  assertErrorBody(r, 401);
  // The same request with a current timestamp is fine.
  const ok = await signedRequest(relay, 'POST', '/apps/1/events',
    { name: 'x', data: '{}', channel: 'news' });
  assert.equal(ok.status, 200, ok.body);
});

test('body_md5_mismatch_is_refused_401', async () => {
  const body = JSON.stringify({ name: 'x', data: '{}', channel: 'news' });
  const ts = String(Math.floor(Date.now() / 1000));
  const md5 = crypto.createHash('md5').update('{}').digest('hex');
  const q = `auth_key=demo-key&auth_timestamp=${ts}&auth_version=1.0&body_md5=${md5}`;
  const sig = crypto.createHmac('sha256', 'demo-secret')
    .update(`POST\n/apps/1/events\n${q}`).digest('hex');
  const r = await request(relay.port, 'POST', `/apps/1/events?${q}&auth_signature=${sig}`, body);
  assert.ok(r.status === 401 || r.status === 400, `got ${r.status}: ${r.body}`);
});

test('unsigned_request_is_refused_401', async () => {
  const r = await request(relay.port, 'POST', '/apps/1/events',
    JSON.stringify({ name: 'x', data: '{}', channel: 'news' }));
  assertErrorBody(r, 401);
});

test('hand_signed_get_with_body_md5_of_empty_body_is_accepted', async () => {
  // pusher-http-python sends body_md5 of "" on GET.
  const r = await signedRequest(relay, 'GET', '/apps/1/channels', undefined,
    { params: { body_md5: 'd41d8cd98f00b204e9800998ecf8427e' } });
  assert.equal(r.status, 200, r.body);
  assert.ok(r.json && typeof r.json.channels === 'object');
});

test('percent_encoded_query_values_are_decoded_before_verifying', async () => {
  // pusher-http-php URL-encodes query values (the comma becomes %2C).
  await sub('enc-ch');
  const r = await signedRequest(relay, 'GET', '/apps/1/channels/enc-ch', undefined,
    { params: { info: 'subscription_count,user_count' } });
  // user_count on a non-presence channel may be refused, but never as 401.
  assert.notEqual(r.status, 401, r.body);
});

test('events_from_one_publisher_arrive_in_order', async () => {
  const c = await sub('ordered');
  for (let i = 0; i < 50; i++) await sdk.trigger('ordered', 'seq', { i });
  await waitFor(() => messages(c, 'seq', 'ordered').length === 50, 3000, '50 events');
  assert.deepEqual(messages(c, 'seq', 'ordered').map((m) => m.data.i),
    Array.from({ length: 50 }, (_, i) => i));
});
